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

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::LabError;
use crate::clock::Stopwatch;
use crate::netlab::{Lab, args, run_capture, stop_child, wait_until};
use crate::swan_conf::{Side, SwanctlConf, strongswan_conf};

/// Which IKE implementation a host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Implementation {
    /// Debian's strongSwan 5.9.8 charon, driven by swanctl over its VICI socket.
    StrongSwan,
    /// Our daemon, driven by ikectl.
    Iked,
}

impl Implementation {
    /// Label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Implementation::StrongSwan => "strongSwan 5.9.8",
            Implementation::Iked => "iked",
        }
    }
}

/// Paths of our binaries (built on the host, visible in the VM through the shared root).
#[derive(Debug, Clone)]
pub struct IkedBins {
    pub iked: PathBuf,
    pub ikectl: PathBuf,
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
        vec![
            self.iked.display().to_string(),
            "--config".into(),
            conf.display().to_string(),
            "--vici-socket".into(),
            socket.display().to_string(),
            // charon's levels, as the lab's strongswan.conf sets them for charon
            "--debug".into(),
            "default=1,ike=2,cfg=2,knl=2".into(),
        ]
    }

    fn ctl_args(&self, socket: &Path, rest: &[&str]) -> Vec<String> {
        let mut v = vec!["--uri".to_string(), format!("unix://{}", socket.display())];
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    }
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
    /// Connection name in this host's swanctl.conf (for terminate).
    pub connection: String,
    socket: PathBuf,
    log: PathBuf,
    conf_file: PathBuf,
    strongswan_conf: PathBuf,
    iked: Option<IkedBins>,
    lab: Lab,
    child: Option<Child>,
}

const SWANCTL: &str = "swanctl";
const CHARON: &str = "/usr/lib/ipsec/charon";

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
        let (socket, log) = match implementation {
            Implementation::StrongSwan => (dir.join("charon.vici"), dir.join("charon.log")),
            Implementation::Iked => (dir.join("iked.vici"), dir.join("iked.log")),
        };
        let strongswan_conf_path = dir.join("strongswan.conf");
        std::fs::write(&strongswan_conf_path, strongswan_conf(&socket, &log))
            .map_err(|e| LabError::io(&strongswan_conf_path, e))?;
        let iked = match implementation {
            Implementation::Iked => Some(
                iked.cloned()
                    .ok_or_else(|| LabError::Setup("iked binaries not given".into()))?,
            ),
            Implementation::StrongSwan => None,
        };
        let mut d = Daemon {
            side,
            implementation,
            dir: dir.to_path_buf(),
            connection: conf
                .connection_name()
                .ok_or_else(|| LabError::Setup("no connection in swanctl.conf".into()))?,
            socket,
            log,
            conf_file,
            strongswan_conf: strongswan_conf_path,
            iked,
            lab: lab.clone(),
            child: None,
        };
        d.spawn_process()?;
        Ok(d)
    }

    fn spawn_process(&mut self) -> Result<(), LabError> {
        let _ = std::fs::remove_file(&self.socket);
        let daemon_cmd: Vec<String> = match self.implementation {
            Implementation::StrongSwan => vec![
                "env".into(),
                format!("STRONGSWAN_CONF={}", self.strongswan_conf.display()),
                CHARON.into(),
            ],
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
        // A private /run per daemon: charon's pid file and default sockets live there.
        let script = format!(
            "mount -t tmpfs lab-run /run && exec {}",
            daemon_cmd
                .iter()
                .map(|a| format!("'{a}'"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out_path = self.dir.join(match self.implementation {
            Implementation::StrongSwan => "charon.stdout",
            Implementation::Iked => "iked.log",
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

    /// Waits until the control socket exists and (strongSwan) loads the config with swanctl.
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
        if self.implementation == Implementation::StrongSwan {
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
        self.control("env", &a, secs)
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

    /// Initiates the given children (the first one brings up the IKE SA). strongSwan: one
    /// `swanctl -i --child X` per child, as an operator would; iked: one `ikectl initiate` with
    /// every `--child`. Returns the combined output; `ok` only if every child came up.
    pub fn initiate(&self, children: &[&str]) -> Result<ControlResult, LabError> {
        match self.implementation {
            Implementation::StrongSwan => {
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
            Implementation::StrongSwan => {
                self.swanctl(&["--terminate", "--ike", &name, "--timeout", "30"], 60)
            }
            Implementation::Iked => {
                self.ikectl(&["terminate", "--ike", &name, "--timeout", "30"], 60)
            }
        }
    }

    /// The daemon's own view of its SAs (`swanctl --list-sas` / `ikectl list-sas`).
    pub fn list_sas(&self) -> Result<ControlResult, LabError> {
        match self.implementation {
            Implementation::StrongSwan => self.swanctl(&["--list-sas"], 30),
            Implementation::Iked => self.ikectl(&["list-sas"], 30),
        }
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is still alive.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
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
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}
