//! Libreswan's side of [`Daemon`]: pluto's command line and the whack commands that drive it.
//!
//! Contract: pluto runs in the foreground from the trixie root with everything it writes in
//! the daemon's directory (NSS database `nss/`, control socket `run/pluto.ctl`, log
//! `pluto.log`, config `ipsec.conf` / `ipsec.secrets` from [`crate::libreswan`], certificates
//! imported by `nss-import.sh` when the configuration has any); each child of
//! the seed is one conn of that name, loaded with `addconn` once the control socket exists.

use super::{ADDCONN, ControlResult, Daemon, NSS_IMPORT, PLUTO, WHACK};
use crate::LabError;
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

    /// Loads every `auto=add` conn of the translated ipsec.conf into the running pluto.
    pub(super) fn load_libreswan_conns(&self) -> Result<(), LabError> {
        let a = vec![
            ADDCONN.to_string(),
            "--config".into(),
            self.dir.join("ipsec.conf").display().to_string(),
            "--ctlsocket".into(),
            self.socket.display().to_string(),
            "--autoall".into(),
        ];
        let r = self.control_in_root(&a, 60)?;
        if r.ok {
            Ok(())
        } else {
            Err(LabError::Setup(format!("addconn --autoall: {}", r.output)))
        }
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
