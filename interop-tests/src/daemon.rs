//! One IKE daemon per lab host: strongSwan's charon, or our iked, behind one interface.
//!
//! Contract: a [`Daemon`] owns a directory with its config, control socket, pid file and log;
//! it runs inside its host's network namespace and a private mount namespace whose `/run` is a
//! fresh tmpfs, so two daemons never share a pid file or a default socket. It is stopped (SIGTERM,
//! then SIGKILL) on [`Daemon::stop`] or drop.
//!
//! The iked command lines live in [`IkedBins`] alone, so the lab follows the daemon's CLI by
//! editing one place. They match `iked/src/bin/iked.rs` and `iked/src/ctl/mod.rs` as written:
//! - `iked --config FILE --vici-socket PATH --debug default=1,ike=2,cfg=2,knl=2` runs in the
//!   foreground, logs to stderr, loads `swanctl.conf` at start, creates the VICI socket once ready;
//! - `ikectl --uri unix://PATH initiate --child A --child B --timeout S`,
//!   `ikectl --uri unix://PATH terminate --ike NAME --timeout S`, `ikectl --uri unix://PATH
//!   list-sas` exit 0 on success and print the reason otherwise.

mod libreswan_ctl;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::LabError;
use crate::clock::Stopwatch;
use crate::libreswan;
use crate::netlab::{Lab, args, run_capture, stop_child, wait_until};
use crate::peer_root::{PeerRoot, quote};
use crate::swan_conf::{Side, SwanctlConf, strongswan_conf};

/// Which IKE implementation a host runs: iked, or one of the peer families it is tested
/// against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Implementation {
    /// Debian 12's strongSwan 5.9.8 charon, driven by swanctl over its VICI socket.
    StrongSwan,
    /// Debian 13's strongSwan 6.0 charon and swanctl, chrooted in a trixie root ([`PeerRoot`]).
    StrongSwan6,
    /// Debian 13's Libreswan 5 pluto, driven by whack, chrooted in a trixie root
    /// ([`crate::libreswan`] translates the seed's swanctl.conf).
    Libreswan,
    /// Our daemon, driven by ikectl.
    Iked,
}

impl Implementation {
    /// Label for tables (the versions `scripts/setup-host.sh` installs).
    pub fn label(self) -> &'static str {
        match self {
            Implementation::StrongSwan => "strongSwan 5.9.8",
            Implementation::StrongSwan6 => "strongSwan 6.0.1",
            Implementation::Libreswan => "Libreswan 5.2",
            Implementation::Iked => "iked",
        }
    }

    /// strongSwan's charon, driven by swanctl (either version).
    pub fn is_charon(self) -> bool {
        matches!(
            self,
            Implementation::StrongSwan | Implementation::StrongSwan6
        )
    }

    /// The trixie root this implementation runs from, if any.
    pub fn peer_root(self, lab_dir: &Path) -> Option<PeerRoot> {
        match self {
            Implementation::StrongSwan6 => Some(PeerRoot::new(lab_dir, "strongswan")),
            Implementation::Libreswan => Some(PeerRoot::new(lab_dir, "libreswan")),
            Implementation::StrongSwan | Implementation::Iked => None,
        }
    }

    /// Name of the daemon's log file in its directory.
    fn log_name(self) -> &'static str {
        match self {
            Implementation::StrongSwan | Implementation::StrongSwan6 => "charon.log",
            Implementation::Libreswan => "pluto.log",
            Implementation::Iked => "iked.log",
        }
    }
}

/// Paths of our binaries (built on the host, visible in the VM through the shared root).
#[derive(Debug, Clone)]
pub struct IkedBins {
    pub iked: PathBuf,
    pub ikectl: PathBuf,
    /// A strongswan.conf text whose `charon { }` tuning iked gets (`--strongswan-conf`), for
    /// the scenarios that need one (cookies, DPD); otherwise iked reads the system's file.
    pub tuning: Option<String>,
}

impl IkedBins {
    /// Why iked scenarios cannot run, if a binary is missing.
    pub fn missing(&self) -> Option<String> {
        [&self.iked, &self.ikectl]
            .into_iter()
            .find(|p| !p.is_file())
            .map(|p| format!("{} not built", p.display()))
    }

    fn daemon_args(&self, conf: &Path, socket: &Path) -> Vec<String> {
        let mut v = vec![
            self.iked.display().to_string(),
            "--config".into(),
            conf.display().to_string(),
            "--vici-socket".into(),
            socket.display().to_string(),
            // charon's levels, as the lab's strongswan.conf sets them for charon
            "--debug".into(),
            "default=1,ike=2,cfg=2,knl=2".into(),
            // A crashed instance's leftovers go 10 s after start (default 30 s), so the crash
            // rows see the kernel clean without waiting half a minute under TCG.
            "--stale-grace".into(),
            "10".into(),
            // Each daemon gets a private /run (tmpfs per start), so the hand-over state of a
            // hitless restart goes next to the config, where the next start finds it.
            "--state-file".into(),
            hand_over_path(conf).display().to_string(),
        ];
        if self.tuning.is_some() {
            v.push("--strongswan-conf".into());
            v.push(tuning_path(conf).display().to_string());
        }
        v
    }

    fn ctl_args(&self, socket: &Path, rest: &[&str]) -> Vec<String> {
        let mut v = vec!["--uri".to_string(), format!("unix://{}", socket.display())];
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    }
}

/// Where iked's tuning file goes: beside its swanctl.conf.
/// The hand-over state file beside a daemon's config.
fn hand_over_path(conf: &Path) -> PathBuf {
    conf.with_file_name("handover.state")
}

fn tuning_path(conf: &Path) -> PathBuf {
    conf.with_file_name("iked-strongswan.conf")
}

/// Outcome of a control command (initiate, terminate, list).
#[derive(Debug, Clone)]
pub struct ControlResult {
    pub ok: bool,
    pub output: String,
}

/// A running IKE daemon on one lab host.
#[derive(Debug)]
pub struct Daemon {
    pub side: Side,
    pub implementation: Implementation,
    pub dir: PathBuf,
    /// Connection name in this host's swanctl.conf (for terminate); empty when the file names
    /// none itself (the OVS rows: a driver writes the connections into `conf.d/`).
    pub connection: String,
    socket: PathBuf,
    log: PathBuf,
    conf_file: PathBuf,
    strongswan_conf: PathBuf,
    iked: Option<IkedBins>,
    /// The trixie root of strongSwan 6 / Libreswan.
    root: Option<PeerRoot>,
    lab: Lab,
    child: Option<Child>,
}

const SWANCTL: &str = "swanctl";
const CHARON: &str = "/usr/lib/ipsec/charon";
/// Libreswan's binaries in the trixie root.
const PLUTO: &str = "/usr/libexec/ipsec/pluto";
const WHACK: &str = "/usr/libexec/ipsec/whack";
/// The script (in the daemon's directory) that imports certificates into pluto's NSS database.
const NSS_IMPORT: &str = "nss-import.sh";

impl Daemon {
    /// Writes the configs into `dir` and starts the daemon process; [`Daemon::wait_ready`]
    /// waits for it, so several daemons can start at once (start-up is slow under TCG).
    pub fn start(
        lab: &Lab,
        side: Side,
        implementation: Implementation,
        dir: &Path,
        conf: &SwanctlConf,
        iked: Option<&IkedBins>,
    ) -> Result<Self, LabError> {
        std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
        let conf_file = dir.join("swanctl.conf");
        conf.write(&conf_file)?;
        let log = dir.join(implementation.log_name());
        let socket = match implementation {
            Implementation::Libreswan => dir.join("run").join("pluto.ctl"),
            Implementation::Iked => dir.join("iked.vici"),
            _ => dir.join("charon.vici"),
        };
        let strongswan_conf_path = dir.join("strongswan.conf");
        std::fs::write(&strongswan_conf_path, strongswan_conf(&socket, &log))
            .map_err(|e| LabError::io(&strongswan_conf_path, e))?;
        if let Some(text) = iked
            .and_then(|b| b.tuning.as_ref())
            .filter(|_| implementation == Implementation::Iked)
        {
            let path = tuning_path(&conf_file);
            std::fs::write(&path, text).map_err(|e| LabError::io(&path, e))?;
        }
        if implementation == Implementation::Libreswan {
            let (ipsec_conf, secrets) = libreswan::translate(conf, &log)?;
            let mut files = vec![("ipsec.conf", ipsec_conf), ("ipsec.secrets", secrets)];
            if let Some(script) = libreswan::nss_script(conf, dir)? {
                files.push((NSS_IMPORT, script));
            }
            for (name, text) in files {
                let path = dir.join(name);
                std::fs::write(&path, text).map_err(|e| LabError::io(&path, e))?;
            }
        }
        let root = implementation.peer_root(&lab.dir);
        if let Some(why) = root.as_ref().and_then(PeerRoot::missing) {
            return Err(LabError::Setup(why));
        }
        let iked = match implementation {
            Implementation::Iked => Some(
                iked.cloned()
                    .ok_or_else(|| LabError::Setup("iked binaries not given".into()))?,
            ),
            _ => None,
        };
        let mut d = Daemon {
            side,
            implementation,
            dir: dir.to_path_buf(),
            connection: conf.connection_name().unwrap_or_default(),
            socket,
            log,
            conf_file,
            strongswan_conf: strongswan_conf_path,
            iked,
            root,
            lab: lab.clone(),
            child: None,
        };
        d.spawn_process()?;
        Ok(d)
    }

    /// iked on `side` reading `config` as it stands (the upstream OVS rows: an ipsec.conf that
    /// Open vSwitch's monitor writes), instead of a swanctl.conf written here. Not waited for.
    pub fn start_iked_reading(
        lab: &Lab,
        side: Side,
        dir: &Path,
        config: &Path,
        iked: &IkedBins,
    ) -> Result<Self, LabError> {
        std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
        let implementation = Implementation::Iked;
        let mut d = Daemon {
            side,
            implementation,
            dir: dir.to_path_buf(),
            connection: String::new(),
            socket: dir.join("iked.vici"),
            log: dir.join(implementation.log_name()),
            conf_file: config.to_path_buf(),
            strongswan_conf: dir.join("strongswan.conf"),
            iked: Some(IkedBins {
                tuning: None,
                ..iked.clone()
            }),
            root: None,
            lab: lab.clone(),
            child: None,
        };
        d.spawn_process()?;
        Ok(d)
    }

    fn spawn_process(&mut self) -> Result<(), LabError> {
        let _ = std::fs::remove_file(&self.socket);
        let daemon_cmd: Vec<String> = match self.implementation {
            Implementation::StrongSwan | Implementation::StrongSwan6 => vec![
                "env".into(),
                format!("STRONGSWAN_CONF={}", self.strongswan_conf.display()),
                CHARON.into(),
            ],
            Implementation::Libreswan => self.pluto_command(),
            Implementation::Iked => {
                let bins = self
                    .iked
                    .as_ref()
                    .ok_or_else(|| LabError::Setup("no iked".into()))?;
                let mut v = vec!["env".to_string(), "RUST_LOG=debug".to_string()];
                v.extend(bins.daemon_args(&self.conf_file, &self.socket));
                v
            }
        };
        // A private /run per daemon: charon's pid file and default sockets live there. The
        // trixie peers get a whole private root (with its own /run) instead.
        let script = match &self.root {
            Some(root) => root.wrap(&self.dir, &daemon_cmd),
            None => format!(
                "mount -t tmpfs lab-run /run && exec {}",
                daemon_cmd
                    .iter()
                    .map(|a| quote(a))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        };
        let out_path = self.dir.join(match self.implementation {
            Implementation::Iked => "iked.log",
            _ => "daemon.stdout",
        });
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out_path)
            .map_err(|e| LabError::io(&out_path, e))?;
        let err = out.try_clone().map_err(|e| LabError::io(&out_path, e))?;
        let child = Command::new(&self.lab.ip)
            .args(
                self.lab
                    .in_ns(self.side, &args(&["unshare", "-m", "sh", "-c", &script])),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| LabError::Setup(format!("cannot start {:?}: {e}", self.implementation)))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the control socket exists and loads the config: strongSwan with swanctl;
    /// Libreswan loads its own, waited for by [`Daemon::wait_libreswan_loaded`].
    pub fn wait_ready(&mut self) -> Result<(), LabError> {
        let socket = self.socket.clone();
        let waited = wait_until(
            &format!(
                "{} control socket {}",
                self.implementation.label(),
                socket.display()
            ),
            90,
            || {
                if !self.is_running() {
                    return Err(LabError::Check(format!(
                        "{} on {} exited during start-up (log kept in {})",
                        self.implementation.label(),
                        self.side.name(),
                        self.dir.display()
                    )));
                }
                Ok(socket.exists())
            },
        );
        waited?;
        if self.implementation == Implementation::Libreswan {
            self.wait_libreswan_loaded()?;
        }
        if self.implementation.is_charon() {
            self.swanctl(
                &[
                    "--load-all",
                    "--file",
                    &self.conf_file.display().to_string(),
                ],
                60,
            )
            .and_then(|r| {
                if r.ok {
                    Ok(())
                } else {
                    Err(LabError::Setup(format!("swanctl --load-all: {}", r.output)))
                }
            })?;
        }
        Ok(())
    }

    fn swanctl(&self, rest: &[&str], secs: u64) -> Result<ControlResult, LabError> {
        // swanctl takes the command first, then its options (`--uri` after the command).
        // SWANCTL_DIR: credentials (x509/, private/, ...) beside this host's swanctl.conf.
        let mut a: Vec<String> = vec![
            format!("STRONGSWAN_CONF={}", self.strongswan_conf.display()),
            format!("SWANCTL_DIR={}", self.dir.display()),
        ];
        a.push(SWANCTL.into());
        a.push(rest[0].to_string());
        a.push("--uri".into());
        a.push(format!("unix://{}", self.socket.display()));
        a.extend(rest[1..].iter().map(|s| s.to_string()));
        let mut env = vec!["env".to_string()];
        env.extend(a);
        self.control_in_root(&env, secs)
    }

    /// Runs a control command: in the daemon's trixie root when it has one (same mount
    /// namespace, `/run` and network namespace, through `nsenter`), else on the VM's root.
    fn control_in_root(&self, command: &[String], secs: u64) -> Result<ControlResult, LabError> {
        let (program, rest) = command
            .split_first()
            .ok_or_else(|| LabError::Setup("empty control command".into()))?;
        match (&self.root, &self.child) {
            (Some(_), Some(child)) => {
                let mut a = PeerRoot::nsenter_args(child.id());
                a.extend(command.iter().cloned());
                self.control("nsenter", &a, secs)
            }
            (Some(_), None) => Err(LabError::Setup(format!(
                "{} on {} is not running",
                self.implementation.label(),
                self.side.name()
            ))),
            (None, _) => self.control(program, rest, secs),
        }
    }

    /// Runs a control command and appends it, its status, duration and output to
    /// `control.log` in the daemon's directory (kept with the logs of a failed scenario).
    fn control(&self, program: &str, a: &[String], secs: u64) -> Result<ControlResult, LabError> {
        let watch = Stopwatch::start();
        let out = run_capture(program, a, secs)?;
        let result = ControlResult {
            ok: out.status.success(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        };
        let entry = format!(
            "$ {program} {}\n# {} after {:.1} s\n{}\n",
            a.join(" "),
            out.status,
            watch.secs(),
            result.output
        );
        let path = self.dir.join("control.log");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            let _ = std::io::Write::write_all(&mut f, entry.as_bytes());
        }
        Ok(result)
    }

    fn ikectl(&self, rest: &[&str], secs: u64) -> Result<ControlResult, LabError> {
        let bins = self
            .iked
            .as_ref()
            .ok_or_else(|| LabError::Setup("no iked".into()))?;
        self.control(
            &bins.ikectl.to_string_lossy(),
            &bins.ctl_args(&self.socket, rest),
            secs,
        )
    }

    /// The `--uri` of the daemon's control socket.
    pub fn vici_uri(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The host's swanctl.conf.
    pub fn conf_file(&self) -> &Path {
        &self.conf_file
    }

    /// What iked.service's ExecStartPost runs after a start: `ikectl load-all --file` (charon's
    /// [`Daemon::wait_ready`] already ran `swanctl --load-all`). A failed load is returned,
    /// not an error: the unit ignores it too (`-`).
    pub fn exec_start_post(&self) -> Result<Option<ControlResult>, LabError> {
        match self.implementation {
            Implementation::StrongSwan
            | Implementation::StrongSwan6
            | Implementation::Libreswan => Ok(None),
            Implementation::Iked => {
                let file = self.conf_file.display().to_string();
                self.ikectl(&["load-all", "--file", &file], 60).map(Some)
            }
        }
    }

    /// Initiates the given children (the first one brings up the IKE SA). strongSwan: one
    /// `swanctl -i --child X` per child, as an operator would; iked: one `ikectl initiate` with
    /// every `--child`. Returns the combined output; `ok` only if every child came up.
    pub fn initiate(&self, children: &[&str]) -> Result<ControlResult, LabError> {
        match self.implementation {
            Implementation::Libreswan => {
                let mut all = ControlResult {
                    ok: true,
                    output: String::new(),
                };
                for child in children {
                    let r = self.whack(&["--name", child, "--initiate"], 90)?;
                    all.ok &= r.ok;
                    all.output.push_str(&r.output);
                }
                Ok(all)
            }
            Implementation::StrongSwan | Implementation::StrongSwan6 => {
                let mut all = ControlResult {
                    ok: true,
                    output: String::new(),
                };
                for child in children {
                    let r =
                        self.swanctl(&["--initiate", "--child", child, "--timeout", "60"], 90)?;
                    all.ok &= r.ok;
                    all.output.push_str(&r.output);
                }
                Ok(all)
            }
            Implementation::Iked => {
                let mut rest = vec!["initiate"];
                for c in children {
                    rest.push("--child");
                    rest.push(c);
                }
                rest.extend(["--timeout", "30"]);
                self.ikectl(&rest, 45)
            }
        }
    }

    /// Deletes the IKE SA (and with it every CHILD_SA).
    pub fn terminate(&self) -> Result<ControlResult, LabError> {
        let name = self.connection.clone();
        match self.implementation {
            Implementation::StrongSwan | Implementation::StrongSwan6 => {
                self.swanctl(&["--terminate", "--ike", &name, "--timeout", "30"], 60)
            }
            Implementation::Iked => {
                self.ikectl(&["terminate", "--ike", &name, "--timeout", "30"], 60)
            }
            // Libreswan has no connection named after the IKE SA: each child is a conn, and
            // taking down the conns takes down the IKE SA they share.
            Implementation::Libreswan => self.libreswan_down_all(),
        }
    }

    /// Rekeys the CHILD_SA `child`, or the IKE SA when `None`. charon's and iked's commands
    /// only start the exchange; the scenario watches the kernels and SA lists for its end.
    pub fn rekey(&self, child: Option<&str>) -> Result<ControlResult, LabError> {
        let name = self.connection.clone();
        let (flag, which) = match child {
            Some(c) => ("--child", c),
            None => ("--ike", name.as_str()),
        };
        match self.implementation {
            Implementation::StrongSwan | Implementation::StrongSwan6 => {
                self.swanctl(&["--rekey", flag, which], 60)
            }
            Implementation::Iked => self.ikectl(&["rekey", flag, which], 60),
            Implementation::Libreswan => self.libreswan_rekey(child),
        }
    }

    /// Deletes one CHILD_SA, keeping the IKE SA.
    pub fn terminate_child(&self, child: &str) -> Result<ControlResult, LabError> {
        match self.implementation {
            Implementation::StrongSwan | Implementation::StrongSwan6 => {
                self.swanctl(&["--terminate", "--child", child, "--timeout", "30"], 60)
            }
            Implementation::Iked => {
                self.ikectl(&["terminate", "--child", child, "--timeout", "30"], 60)
            }
            Implementation::Libreswan => self.libreswan_delete_child(child),
        }
    }

    /// The daemon's own view of its SAs (`swanctl --list-sas` / `ikectl list-sas`).
    pub fn list_sas(&self) -> Result<ControlResult, LabError> {
        match self.implementation {
            Implementation::StrongSwan | Implementation::StrongSwan6 => {
                self.swanctl(&["--list-sas"], 30)
            }
            Implementation::Libreswan => self.whack(&["--showstates"], 30),
            Implementation::Iked => self.ikectl(&["list-sas"], 30),
        }
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The daemon's process id (the chrooted peers exec into theirs: it is the daemon's own).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still alive.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends SIGTERM without waiting, so that several daemons stop at the same moment;
    /// [`Daemon::stop`] then waits for this one.
    pub fn signal_stop(&self) {
        if let Some(c) = &self.child {
            crate::netlab::signal(c.id(), "TERM");
        }
    }

    /// Stops the daemon (SIGTERM, then SIGKILL after 5 s).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, "TERM", 5000);
        }
    }

    /// Starts the stopped daemon again without waiting ([`Daemon::wait_ready`] does), so that
    /// several can start at the same moment.
    pub fn respawn(&mut self) -> Result<(), LabError> {
        self.stop();
        self.spawn_process()
    }

    /// Stops and starts the daemon again with the same config (an operator's restart).
    pub fn restart(&mut self) -> Result<(), LabError> {
        self.stop();
        self.spawn_process()?;
        self.wait_ready()
    }

    /// A hitless restart as `iked.service` does it: SIGUSR2 (iked hands its IKE SAs over in
    /// its state file and exits, the kernel SAs stay), then a new process. Returns when the
    /// old process is gone; [`Daemon::wait_ready`] waits for the new one.
    pub fn hand_over_and_respawn(&mut self) -> Result<(), LabError> {
        self.hand_over();
        self.spawn_process()
    }

    /// SIGUSR2 only: iked writes its hand-over state and exits (10 s at most, then SIGKILL).
    pub fn hand_over(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, "USR2", 10_000);
        }
    }

    /// Where iked writes its hand-over state (see [`Daemon::hand_over_and_respawn`]).
    pub fn hand_over_file(&self) -> PathBuf {
        hand_over_path(&self.conf_file)
    }

    /// Kills the daemon with SIGKILL (a crash: nothing is cleaned up) and starts it again.
    pub fn crash_and_restart(&mut self) -> Result<(), LabError> {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, "KILL", 5000);
        }
        self.spawn_process()?;
        self.wait_ready()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}
