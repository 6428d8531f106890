//! Host side: boot the lab VM once and run a command inside it.
//!
//! Contract: [`run_vm`] starts `vng --disable-kvm` (TCG: nested KVM fails on this machine kind)
//! with the 6.12 kernel that `scripts/setup-host.sh` unpacked under `/var/lib/iked-lab`, 2 GiB
//! of memory, the host's root filesystem shared read-only and `out` writable, runs `command`,
//! and returns its exit status and wall time. It kills the VM after `timeout_secs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use crate::LabError;
use crate::clock::Stopwatch;

/// Default lab directory written by `scripts/setup-host.sh`.
pub const LAB_DIR: &str = "/var/lib/iked-lab";

/// The newest `vmlinuz-6.12.*-amd64` under `lab_dir/boot` (or `$IKED_LAB_KERNEL`).
pub fn find_kernel(lab_dir: &Path) -> Result<PathBuf, LabError> {
    if let Some(k) = std::env::var_os("IKED_LAB_KERNEL") {
        return Ok(PathBuf::from(k));
    }
    let boot = lab_dir.join("boot");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&boot)
        .map_err(|e| LabError::io(&boot, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-6.12.") && n.ends_with("-amd64"))
        })
        .collect();
    // Version order, not text order: 6.12.117 is newer than 6.12.9.
    found.sort_by_key(|p| version_key(&p.to_string_lossy()));
    found.pop().ok_or_else(|| {
        LabError::Setup(format!(
            "no vmlinuz-6.12.*-amd64 in {}: run scripts/setup-host.sh",
            boot.display()
        ))
    })
}

/// The numbers in a file name, in order, for version comparison.
fn version_key(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(u64::MAX))
        .collect()
}

/// iproute2 6.15 from the lab directory if present, else the system's `ip`.
pub fn find_ip(lab_dir: &Path) -> PathBuf {
    let lab_ip = lab_dir.join("iproute2/bin/ip");
    if lab_ip.is_file() {
        lab_ip
    } else {
        PathBuf::from("/usr/bin/ip")
    }
}

/// Where the guest console goes.
#[derive(Debug, Clone)]
pub enum Console {
    /// Into a file (the test harness).
    File(PathBuf),
    /// To our stdout/stderr (the demo).
    Inherit,
}

/// One VM boot.
#[derive(Debug, Clone)]
pub struct VmRun {
    pub kernel: PathBuf,
    /// Host directory the guest may write (results, logs).
    pub out: PathBuf,
    /// Command line run in the guest as root.
    pub command: String,
    pub console: Console,
    pub timeout_secs: u64,
}

/// How the VM ended.
#[derive(Debug, Clone)]
pub struct VmOutcome {
    /// Exit code of the guest command as vng reports it (None if killed).
    pub code: Option<i32>,
    /// Host wall time from starting vng to its exit.
    pub secs: f64,
    pub timed_out: bool,
}

/// Boots the VM, runs the command, waits (at most `timeout_secs`).
pub fn run_vm(run: &VmRun) -> Result<VmOutcome, LabError> {
    let mut cmd = Command::new("vng");
    cmd.arg("--disable-kvm")
        .arg("--memory")
        .arg("2G")
        .arg("--run")
        .arg(&run.kernel)
        .arg("--rwdir")
        .arg(&run.out)
        .arg("--exec")
        .arg(&run.command)
        .stdin(Stdio::null());
    match &run.console {
        Console::File(path) => {
            let f = std::fs::File::create(path).map_err(|e| LabError::io(path, e))?;
            let f2 = f.try_clone().map_err(|e| LabError::io(path, e))?;
            cmd.stdout(f).stderr(f2);
        }
        Console::Inherit => {
            cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        }
    }
    let watch = Stopwatch::start();
    let mut child = cmd.spawn().map_err(|e| {
        LabError::Setup(format!("cannot start vng ({e}): run scripts/setup-host.sh"))
    })?;
    for _ in 0..run.timeout_secs * 4 {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| LabError::Setup(format!("vng: {e}")))?
        {
            return Ok(VmOutcome {
                code: status.code(),
                secs: watch.secs(),
                timed_out: false,
            });
        }
        sleep(Duration::from_millis(250));
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(VmOutcome {
        code: None,
        secs: watch.secs(),
        timed_out: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_search_picks_the_newest_amd64_and_ignores_others() {
        let dir = std::env::temp_dir().join(format!("iked-lab-kernel-{}", std::process::id()));
        let boot = dir.join("boot");
        std::fs::create_dir_all(&boot).unwrap();
        for n in [
            "vmlinuz-6.12.9+deb12-amd64",
            "vmlinuz-6.12.10+deb12-cloud-amd64x",
            "config-6.12.99+deb12-amd64",
            "vmlinuz-6.12.117+deb12-amd64",
        ] {
            std::fs::write(boot.join(n), b"").unwrap();
        }
        let k = find_kernel(&dir).unwrap();
        assert_eq!(k.file_name().unwrap(), "vmlinuz-6.12.117+deb12-amd64");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(find_kernel(&dir).is_err());
    }
}
