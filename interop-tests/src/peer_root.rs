//! Running a peer from a Debian trixie root file system inside a lab host.
//!
//! Contract: strongSwan 6 and Libreswan 5 need trixie's C library, so `scripts/setup-host.sh`
//! builds one trixie root per family under the lab directory (`trixie-strongswan`,
//! `trixie-libreswan`: Debian's packages of the two conflict). [`PeerRoot::wrap`] turns a
//! command line into a shell script that, run in a private mount namespace (the daemon's
//! `unshare -m`, inside its host's network namespace), assembles a root on a tmpfs over `/mnt`:
//! trixie's `/usr`, `/etc` and `/var` bound read-only (the VM's root is read-only anyway), the
//! merged-/usr symlinks, `/proc`, `/sys` and `/dev` of the VM, a fresh `/run` and `/tmp`, and
//! the daemon's own directory bound at the SAME path it has outside, so configs, sockets and
//! logs are named alike on both sides of the chroot; then it execs the command chrooted there.
//! Control commands (swanctl, whack) enter that same mount namespace and root through the
//! daemon's pid with `nsenter` ([`PeerRoot::nsenter_args`]), so they see its `/run`.
//!
//! Nothing is written to the trixie root itself: it stays shareable between scenarios and runs.

use std::path::{Path, PathBuf};

/// Where the assembled root is mounted (in the daemon's private mount namespace only).
const MOUNT_POINT: &str = "/mnt";

/// A trixie root file system built by `scripts/setup-host.sh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRoot {
    pub dir: PathBuf,
}

impl PeerRoot {
    /// The root named `trixie-<family>` under the lab directory.
    pub fn new(lab_dir: &Path, family: &str) -> Self {
        Self {
            dir: lab_dir.join(format!("trixie-{family}")),
        }
    }

    /// Why this root cannot be used, if `setup-host.sh` has not built it completely.
    pub fn missing(&self) -> Option<String> {
        let stamp = self.dir.join(".complete");
        (!stamp.is_file()).then(|| {
            format!(
                "{} not built (no .complete): run scripts/setup-host.sh",
                self.dir.display()
            )
        })
    }

    /// A `sh -c` script that assembles the root (see the module docs), makes `writable` visible
    /// at its own path, and execs `command` chrooted. `writable` must be absolute.
    pub fn wrap(&self, writable: &Path, command: &[String]) -> String {
        let root = quote(&self.dir.display().to_string());
        let m = MOUNT_POINT;
        let dir = quote(&writable.display().to_string());
        let mut s = String::from("set -e\n");
        s.push_str(&format!("mount -t tmpfs lab-peer-root {m}\n"));
        for d in ["usr", "etc", "var"] {
            s.push_str(&format!("mkdir {m}/{d}\nmount --bind {root}/{d} {m}/{d}\n"));
        }
        for l in ["bin", "sbin", "lib", "lib64"] {
            s.push_str(&format!("ln -s usr/{l} {m}/{l}\n"));
        }
        s.push_str(&format!(
            "mkdir -p {m}/proc {m}/sys {m}/dev {m}/run {m}/tmp\n\
             mount -t proc proc {m}/proc\n\
             mount --rbind /sys {m}/sys\n\
             mount --rbind /dev {m}/dev\n\
             mount -t tmpfs lab-run {m}/run\n\
             mount -t tmpfs lab-tmp {m}/tmp\n\
             mkdir -p {m}{dir}\n\
             mount --bind {dir} {m}{dir}\n\
             exec chroot {m} {}\n",
            command
                .iter()
                .map(|a| quote(a))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        s
    }

    /// `nsenter` arguments that run a command in the mount namespace and root of the process
    /// `pid` (a daemon started through [`PeerRoot::wrap`]) and in its network namespace.
    pub fn nsenter_args(pid: u32) -> Vec<String> {
        vec![
            "-t".into(),
            pid.to_string(),
            "-m".into(),
            "-n".into(),
            "-r".into(),
            "-w".into(),
        ]
    }
}

/// Single-quotes `s` for `sh`.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_binds_the_writable_dir_at_its_own_path_and_execs_chrooted() {
        let r = PeerRoot::new(Path::new("/lab"), "strongswan");
        assert_eq!(r.dir, Path::new("/lab/trixie-strongswan"));
        let s = r.wrap(
            Path::new("/out/sc/bfl"),
            &["/usr/lib/ipsec/charon".into(), "it's".into()],
        );
        assert!(s.contains("mount --bind '/lab/trixie-strongswan'/usr /mnt/usr"));
        assert!(s.contains("mkdir -p /mnt/proc /mnt/sys /mnt/dev /mnt/run /mnt/tmp\n"));
        // The writable directory's mount point is made after the tmpfs mounts, so a directory
        // under /tmp or /run (a checkout in /tmp) is not hidden by them.
        assert!(s.contains(
            "mount -t tmpfs lab-tmp /mnt/tmp\nmkdir -p /mnt'/out/sc/bfl'\nmount --bind '/out/sc/bfl' /mnt'/out/sc/bfl'"
        ));
        assert!(s.ends_with("exec chroot /mnt '/usr/lib/ipsec/charon' 'it'\\''s'\n"));
        assert!(s.starts_with("set -e\n"));
    }

    #[test]
    fn missing_root_is_named() {
        let r = PeerRoot::new(Path::new("/nonexistent-lab"), "libreswan");
        assert!(r.missing().unwrap().contains("trixie-libreswan"));
    }
}
