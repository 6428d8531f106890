//! Libreswan's side of [`Daemon`]: pluto's command line and the whack commands that drive it.
//!
//! Contract: pluto runs in the foreground from the trixie root with everything it writes in
//! the daemon's directory (NSS database `nss/`, control socket `run/pluto.ctl`, log
//! `pluto.log`, config `ipsec.conf` / `ipsec.secrets` from [`crate::libreswan`], certificates
//! imported by `nss-import.sh` when the configuration has any); each child of
//! the seed is one conn of that name.
//!
//! Loading: pluto 5 itself forks `addconn --config <ipsec.conf> --autoall` when its event loop
//! starts (`run_server`), which adds every `auto=add` conn, tells pluto to listen and rereads
//! the secrets. The lab used to run its own `addconn --autoall` as soon as the control socket
//! existed; under TCG load pluto's own addconn then ran after it and re-added (replaced) the
//! conns, deleting whatever state they had by then: seen as "deleting IKE SA (waiting for KE
//! to finish)" when `whack --initiate` had already started (issue 19). So
//! [`Daemon::wait_libreswan_loaded`] loads nothing and waits for pluto's own addconn to finish.

use std::path::Path;

use super::{ControlResult, Daemon, NSS_IMPORT, PLUTO, WHACK};
use crate::LabError;
use crate::netlab::wait_until;
use crate::peer_root::quote;

impl Daemon {
    /// The command run chrooted: a fresh NSS database, then pluto in the foreground.
    pub(super) fn pluto_command(&self) -> Vec<String> {
        let d = |name: &str| quote(&self.dir.join(name).display().to_string());
        let script = format!(
            "mkdir -p {nss} {run} && certutil -N -d sql:{nss} --empty-password && \
             {{ [ ! -f {import} ] || sh {import} >{import_log} 2>&1; }} && \
             exec {PLUTO} --nofork --stderrlog --config {conf} --secretsfile {secrets} \
             --nssdir {nss} --rundir {run}",
            nss = d("nss"),
            run = d("run"),
            conf = d("ipsec.conf"),
            secrets = d("ipsec.secrets"),
            import = d(NSS_IMPORT),
            import_log = d("nss-import.log"),
        );
        vec!["sh".into(), "-c".into(), script]
    }

    /// `whack --ctlsocket <socket> <rest>` in pluto's root.
    pub(super) fn whack(&self, rest: &[&str], secs: u64) -> Result<ControlResult, LabError> {
        let mut a = vec![
            WHACK.to_string(),
            "--ctlsocket".into(),
            self.socket.display().to_string(),
        ];
        a.extend(rest.iter().map(|s| s.to_string()));
        self.control_in_root(&a, secs)
    }

    /// Waits until pluto's own start-up `addconn` (see the module docs) has loaded the conns,
    /// listened and read the secrets: it has printed something into pluto's log (`addconn: `
    /// lines) and is no longer running as pluto's child. Nothing may reach pluto before, or
    /// that addconn replaces the conns under it.
    pub(super) fn wait_libreswan_loaded(&self) -> Result<(), LabError> {
        let pluto = self
            .pid()
            .ok_or_else(|| LabError::Setup("pluto is not running".into()))?;
        wait_until(
            &format!(
                "pluto's start-up addconn on {} (log {})",
                self.side.name(),
                self.log.display()
            ),
            120,
            || {
                Ok(self.log_text().contains(ADDCONN_LOG_PREFIX)
                    && live_children_named(Path::new("/proc"), pluto, "addconn").is_empty())
            },
        )
    }

    /// Deletes the child `conn`'s IPsec SA (the conn stays loaded, as a charon child does).
    pub(super) fn libreswan_delete_child(&self, conn: &str) -> Result<ControlResult, LabError> {
        self.whack(&["--name", conn, "--terminate"], 60)
    }

    /// Rekeys the child `conn`, or the IKE SA (named through the first conn, which owns it).
    pub(super) fn libreswan_rekey(&self, conn: Option<&str>) -> Result<ControlResult, LabError> {
        match conn {
            Some(c) => self.whack(&["--name", c, "--rekey-child"], 60),
            None => {
                let first = self.libreswan_conns()?.into_iter().next().ok_or_else(|| {
                    LabError::Setup("ipsec.conf has no conn to rekey the IKE SA with".into())
                })?;
                self.whack(&["--name", &first, "--rekey-ike"], 60)
            }
        }
    }

    /// The child conns of the translated ipsec.conf, in file order.
    fn libreswan_conns(&self) -> Result<Vec<String>, LabError> {
        let path = self.dir.join("ipsec.conf");
        let conf = std::fs::read_to_string(&path).map_err(|e| LabError::io(&path, e))?;
        Ok(conf
            .lines()
            .filter_map(|l| l.strip_prefix("conn "))
            .map(|n| n.trim().to_string())
            .filter(|n| n != "seed-base")
            .collect())
    }

    /// Takes every conn down: the children, then the IKE SA they share.
    pub(super) fn libreswan_down_all(&self) -> Result<ControlResult, LabError> {
        let mut all = ControlResult {
            ok: true,
            output: String::new(),
        };
        for conn in self.libreswan_conns()? {
            let r = self.whack(&["--name", &conn, "--terminate"], 60)?;
            all.ok &= r.ok;
            all.output.push_str(&r.output);
        }
        Ok(all)
    }
}

/// How pluto prefixes the output of the addconn it forked at start-up in its log.
const ADDCONN_LOG_PREFIX: &str = "addconn: ";

/// The pids of the processes under `proc_root` (a `/proc`) whose parent is `ppid` and whose
/// command name is `comm`, zombies excluded (an exited child pluto has not reaped yet is done).
fn live_children_named(proc_root: &Path, ppid: u32, comm: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (name, state, parent) = parse_stat(&stat)?;
            (parent == ppid && name == comm && state != 'Z').then_some(pid)
        })
        .collect()
}

/// Command name, state and parent pid from a `/proc/<pid>/stat` line
/// (`pid (comm) state ppid ...`; the name may itself hold spaces and parentheses).
fn parse_stat(stat: &str) -> Option<(&str, char, u32)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?;
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((name, state, ppid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_name_state_and_parent() {
        assert_eq!(
            parse_stat("4242 (addconn) S 315 4242 315 0 -1"),
            Some(("addconn", 'S', 315))
        );
        assert_eq!(parse_stat("7 (a (b) c) Z 1 7 7"), Some(("a (b) c", 'Z', 1)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn only_live_addconn_children_of_pluto_count() {
        let dir = std::env::temp_dir().join(format!("lsw-proc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (pid, stat) in [
            ("100", "100 (addconn) S 315 100 1 0"),
            ("101", "101 (addconn) Z 315 101 1 0"),
            ("102", "102 (addconn) S 999 102 1 0"),
            ("103", "103 (whack) S 315 103 1 0"),
        ] {
            std::fs::create_dir_all(dir.join(pid)).unwrap();
            std::fs::write(dir.join(pid).join("stat"), stat).unwrap();
        }
        std::fs::create_dir_all(dir.join("self")).unwrap();
        assert_eq!(live_children_named(&dir, 315, "addconn"), [100]);
        std::fs::remove_dir_all(dir.join("100")).unwrap();
        assert!(live_children_named(&dir, 315, "addconn").is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
