//! Upstream Open vSwitch's `ovs-monitor-ipsec` (Debian bookworm's `openvswitch-ipsec` 3.1,
//! unpacked by `scripts/setup-host.sh`), run unmodified with `--ike-daemon=strongswan` on one
//! lab host, with iked as the only IKE daemon.
//!
//! Contract:
//! - [`Monitor::start`] runs the monitor's script with the system `python3` (Open vSwitch's
//!   `ovs` package from `openvswitch-switch`) inside the host's network namespace, against the
//!   host's own ovsdb-server, with `--root-prefix` = the host's [`Root`]: the monitor then writes
//!   `<root>/etc/ipsec.conf`, `ipsec.secrets` and `strongswan.d/ovs.conf`, and runs
//!   `<root>/usr/sbin/ipsec` (a symlink to `ikectl`, so the `ipsec` it runs is ours) and
//!   `<root>/sbin/ip`. `ipsec` finds the files through `IPSEC_CONFDIR` and the host's iked
//!   through `IKED_VICI_URI`, both in the monitor's environment (its children inherit it); `PATH`
//!   starts with `<root>/usr/sbin` so no other `ipsec` can be picked. The unixctl socket lives in
//!   the host's run directory (`OVS_RUNDIR`). Nothing else differs from a host: no charon runs.
//! - [`Monitor::tunnels_show`] asks the running monitor (`ovs-appctl tunnels/show`); its main
//!   loop answers only between passes, so an answer also means a refresh in progress (its
//!   `ipsec update`, `rereadsecrets`, `status` and `stroke down-nb` calls) has finished.
//! - [`Monitor::stop`] (also on drop) sends SIGTERM, which ends the monitor without its
//!   `exit` cleanup: a restart of the process, not a removal of its tunnels.
//! - [`Root::ipsec`] runs the same `ipsec` with the same environment, for the scenario's checks.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::LabError;
use crate::netlab::{Lab, run_capture, stop_child, wait_until};
use crate::swan_conf::Side;

/// The unpacked monitor, relative to the lab directory.
const SCRIPT: &str = "openvswitch-ipsec/usr/share/openvswitch/scripts/ovs-monitor-ipsec";
const PYTHON: &str = "/usr/bin/python3";

/// The monitor's script under `lab_dir`.
pub fn script(lab_dir: &Path) -> PathBuf {
    lab_dir.join(SCRIPT)
}

/// Why the upstream monitor cannot run here, if it cannot.
pub fn missing(lab_dir: &Path) -> Option<String> {
    let script = script(lab_dir);
    if !script.is_file() {
        return Some(format!(
            "{} missing (openvswitch-ipsec, unpacked by scripts/setup-host.sh)",
            script.display()
        ));
    }
    let ovs_python = Command::new(PYTHON)
        .args(["-c", "import ovs.db.idl, ovs.daemon, ovs.unixctl.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!ovs_python).then(|| {
        "python3 cannot import Open vSwitch's `ovs` package (python3-openvswitch)".to_string()
    })
}

/// One host's `--root-prefix`: `etc/` (the monitor's files), `usr/sbin/ipsec` (ikectl) and
/// `sbin/ip`.
#[derive(Debug, Clone)]
pub struct Root {
    pub dir: PathBuf,
    /// `unix://` URI of the host's iked.
    pub vici_uri: String,
}

impl Root {
    /// Lays out the root under `dir` with an empty `etc/ipsec.conf` (what iked starts from).
    pub fn create(dir: &Path, ikectl: &Path, ip: &Path, vici_uri: &str) -> Result<Root, LabError> {
        for sub in ["etc/strongswan.d", "usr/sbin", "sbin"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| LabError::io(&d, e))?;
        }
        for (target, link) in [(ikectl, "usr/sbin/ipsec"), (ip, "sbin/ip")] {
            let link = dir.join(link);
            if !link.exists() {
                std::os::unix::fs::symlink(target, &link).map_err(|e| LabError::io(&link, e))?;
            }
        }
        let conf = dir.join("etc/ipsec.conf");
        std::fs::write(&conf, "").map_err(|e| LabError::io(&conf, e))?;
        Ok(Root {
            dir: dir.to_path_buf(),
            vici_uri: vici_uri.to_owned(),
        })
    }

    /// The ipsec.conf iked reads and the monitor writes.
    pub fn ipsec_conf(&self) -> PathBuf {
        self.dir.join("etc/ipsec.conf")
    }

    /// The environment of the monitor and of every `ipsec` it runs.
    fn env(&self) -> Vec<String> {
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
        vec![
            format!("IPSEC_CONFDIR={}", self.dir.join("etc").display()),
            format!("IKED_VICI_URI={}", self.vici_uri),
            format!(
                "PATH={}:{}:{path}",
                self.dir.join("usr/sbin").display(),
                self.dir.join("sbin").display()
            ),
        ]
    }

    /// `ipsec ARGS` as the monitor runs it: (exit status, stdout + stderr).
    pub fn ipsec(&self, rest: &[&str]) -> Result<(Option<i32>, String), LabError> {
        let mut a = self.env();
        a.push(self.dir.join("usr/sbin/ipsec").display().to_string());
        a.extend(rest.iter().map(|s| s.to_string()));
        let out = run_capture("env", &a, 60)?;
        Ok((
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ))
    }
}

/// A running monitor.
#[derive(Debug)]
pub struct Monitor {
    child: Option<Child>,
    run_dir: PathBuf,
}

impl Monitor {
    /// Starts the monitor on `side` against the ovsdb-server at `db` (`unix:PATH`); its log and
    /// output go to `log_dir`, its unixctl socket to `run_dir`.
    pub fn start(
        lab: &Lab,
        side: Side,
        root: &Root,
        db: &str,
        run_dir: &Path,
        log_dir: &Path,
    ) -> Result<Monitor, LabError> {
        for d in [run_dir, log_dir] {
            std::fs::create_dir_all(d).map_err(|e| LabError::io(d, e))?;
        }
        let mut cmd = vec!["env".to_string()];
        cmd.extend(root.env());
        cmd.push(format!("OVS_RUNDIR={}", run_dir.display()));
        cmd.push(format!("OVS_LOGDIR={}", log_dir.display()));
        cmd.extend([
            PYTHON.to_string(),
            script(&lab.dir).display().to_string(),
            format!("--root-prefix={}", root.dir.display()),
            "--ike-daemon=strongswan".into(),
            format!(
                "--log-file={}",
                log_dir.join("ovs-monitor-ipsec.log").display()
            ),
            "-vconsole:off".into(),
            db.to_owned(),
        ]);
        let out_path = log_dir.join("ovs-monitor-ipsec.out");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out_path)
            .map_err(|e| LabError::io(&out_path, e))?;
        let err = out.try_clone().map_err(|e| LabError::io(&out_path, e))?;
        let child = Command::new(&lab.ip)
            .args(lab.in_ns(side, &cmd))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| LabError::Setup(format!("cannot start ovs-monitor-ipsec: {e}")))?;
        Ok(Monitor {
            child: Some(child),
            run_dir: run_dir.to_path_buf(),
        })
    }

    /// The unixctl socket of the running monitor (`ovs-monitor-ipsec.<pid>.ctl`).
    fn ctl(&self) -> Option<PathBuf> {
        let pid = self.child.as_ref()?.id();
        Some(self.run_dir.join(format!("ovs-monitor-ipsec.{pid}.ctl")))
    }

    /// `ovs-appctl tunnels/show`, once the monitor answers (see the module contract).
    pub fn tunnels_show(&mut self) -> Result<String, LabError> {
        let ctl = self
            .ctl()
            .ok_or_else(|| LabError::Setup("ovs-monitor-ipsec is not running".into()))?;
        let child = &mut self.child;
        wait_until("ovs-monitor-ipsec's control socket", 60, || {
            if let Some(c) = child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(LabError::Check(format!(
                    "ovs-monitor-ipsec exited ({status}) before answering"
                )));
            }
            Ok(ctl.exists())
        })?;
        let out = run_capture(
            "ovs-appctl",
            &[
                "--timeout=60".into(),
                "-t".into(),
                ctl.display().to_string(),
                "tunnels/show".into(),
            ],
            70,
        )?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(text)
        } else {
            Err(LabError::Check(format!(
                "ovs-appctl tunnels/show: {}{}",
                text,
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    /// Ends the monitor with SIGTERM (no `exit` cleanup).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, "TERM", 5000);
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop();
    }
}
