//! One Open vSwitch instance per lab host (Debian's `openvswitch-switch`: `ovsdb-server` and
//! `ovs-vswitchd` on the kernel datapath).
//!
//! Contract: [`Switch::start`] creates a fresh database from the installed schema under the
//! host's directory and starts both daemons inside the host's network namespace, each with its
//! pid file, control sockets and log in that directory (`OVS_RUNDIR`, `OVS_DBDIR`,
//! `OVS_LOGDIR`), so the two hosts' instances share nothing but the kernel module; the
//! `ovs-system` datapath and the VXLAN device live in the namespace. [`Switch::vsctl`] runs
//! `ovs-vsctl` against this instance only. [`Switch::stop`] (also on drop) asks
//! `ovs-vswitchd` to exit and remove its datapath, then stops both by pid.

use std::path::{Path, PathBuf};

use crate::LabError;
use crate::netlab::{Lab, args, run_capture, run_ok, signal, wait_until};
use crate::swan_conf::Side;

/// The OVSDB schema Debian installs.
const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// A running OVS instance in one host's namespace.
#[derive(Debug)]
pub struct Switch {
    pub side: Side,
    dir: PathBuf,
    lab: Lab,
    running: bool,
}

impl Switch {
    /// Whether Open vSwitch is installed (a reason when it is not).
    pub fn missing() -> Option<String> {
        ["ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovsdb-tool"]
            .into_iter()
            .find(|tool| {
                !["/usr/sbin", "/usr/bin"]
                    .iter()
                    .any(|d| Path::new(d).join(tool).is_file())
            })
            .map(|tool| {
                format!("{tool} not installed (openvswitch-switch; run scripts/setup-host.sh)")
            })
            .or_else(|| (!Path::new(SCHEMA).is_file()).then(|| format!("{SCHEMA} missing")))
    }

    fn env(&self) -> Vec<String> {
        vec![
            format!("OVS_RUNDIR={}", self.dir.join("run").display()),
            format!("OVS_DBDIR={}", self.dir.join("db").display()),
            format!("OVS_LOGDIR={}", self.dir.join("log").display()),
            format!("OVS_SYSCONFDIR={}", self.dir.display()),
        ]
    }

    /// `env OVS_*=... program args` inside the host's namespace, as `ip` arguments.
    fn in_ns(&self, program: &str, rest: &[String]) -> Vec<String> {
        let mut v = vec!["env".to_string()];
        v.extend(self.env());
        v.push(program.to_string());
        v.extend_from_slice(rest);
        self.lab.in_ns(self.side, &v)
    }

    fn run_in_ns(&self, program: &str, rest: &[String], secs: u64) -> Result<String, LabError> {
        run_ok(
            &self.lab.ip.to_string_lossy(),
            &self.in_ns(program, rest),
            secs,
        )
    }

    /// `unix:PATH` of this instance's ovsdb-server.
    pub fn db_sock(&self) -> String {
        format!("unix:{}", self.dir.join("run").join("db.sock").display())
    }

    /// Creates the database and starts both daemons in `side`'s namespace.
    pub fn start(lab: &Lab, side: Side, dir: &Path) -> Result<Self, LabError> {
        for sub in ["run", "db", "log"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| LabError::io(&d, e))?;
        }
        // The kernel datapath; VXLAN ports load their own module on demand.
        run_ok("modprobe", &args(&["openvswitch"]), 60)?;
        let mut sw = Switch {
            side,
            dir: dir.to_path_buf(),
            lab: lab.clone(),
            running: false,
        };
        let db = dir.join("db").join("conf.db");
        run_ok(
            "ovsdb-tool",
            &args(&["create", &db.to_string_lossy(), SCHEMA]),
            60,
        )?;
        let run = dir.join("run");
        let log = dir.join("log");
        sw.running = true;
        sw.run_in_ns(
            "ovsdb-server",
            &[
                db.display().to_string(),
                format!("--remote=p{}", sw.db_sock()),
                format!("--pidfile={}", run.join("ovsdb-server.pid").display()),
                format!("--unixctl={}", run.join("ovsdb-server.ctl").display()),
                format!("--log-file={}", log.join("ovsdb-server.log").display()),
                "--detach".into(),
            ],
            60,
        )?;
        sw.vsctl(&["--no-wait", "init"])?;
        sw.run_in_ns(
            "ovs-vswitchd",
            &[
                sw.db_sock(),
                format!("--pidfile={}", run.join("ovs-vswitchd.pid").display()),
                format!("--unixctl={}", run.join("ovs-vswitchd.ctl").display()),
                format!("--log-file={}", log.join("ovs-vswitchd.log").display()),
                "--detach".into(),
            ],
            120,
        )?;
        Ok(sw)
    }

    /// `ovs-vsctl ARGS` against this instance; stdout.
    pub fn vsctl(&self, rest: &[&str]) -> Result<String, LabError> {
        let mut a = vec![format!("--db={}", self.db_sock()), "--timeout=60".into()];
        a.extend(rest.iter().map(|s| s.to_string()));
        self.run_in_ns("ovs-vsctl", &a, 90)
    }

    /// The seed's bridge `ovs-br` with `overlay` (CIDR) on its internal port, up.
    pub fn add_bridge(&self, overlay: &str) -> Result<(), LabError> {
        self.vsctl(&["add-br", "ovs-br"])?;
        let ip = self.lab.ip.to_string_lossy().into_owned();
        let n = self.side.name();
        wait_until("ovs-br to appear", 60, || {
            Ok(
                run_capture(&ip, &args(&["-n", n, "link", "show", "ovs-br"]), 20)?
                    .status
                    .success(),
            )
        })?;
        run_ok(
            &ip,
            &args(&["-n", n, "addr", "add", overlay, "dev", "ovs-br"]),
            20,
        )?;
        run_ok(&ip, &args(&["-n", n, "link", "set", "ovs-br", "up"]), 20)?;
        Ok(())
    }

    fn pid(&self, name: &str) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("run").join(format!("{name}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Stops both daemons (ovs-vswitchd removes its datapath first).
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let ctl = self.dir.join("run").join("ovs-vswitchd.ctl");
        let _ = run_capture(
            "ovs-appctl",
            &args(&["-t", &ctl.to_string_lossy(), "exit", "--cleanup"]),
            30,
        );
        for name in ["ovs-vswitchd", "ovsdb-server"] {
            if let Some(pid) = self.pid(name) {
                signal(pid, "TERM");
            }
        }
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.stop();
    }
}
