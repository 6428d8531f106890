//! systemd readiness and watchdog notifications (`sd_notify(3)`), written out because the
//! protocol is one datagram: `READY=1`, `WATCHDOG=1`, `RELOADING=1`, `STOPPING=1`, `STATUS=...`
//! sent to the unix datagram socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the
//! abstract namespace).
//!
//! Contract: without `$NOTIFY_SOCKET` (not started by systemd) every call is a silent no-op;
//! send errors are returned, never panicked on. [`watchdog_interval`] reads `$WATCHDOG_USEC`
//! (honouring `$WATCHDOG_PID`) and returns half of it, the interval systemd recommends.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Sends one notification state string (e.g. `"READY=1\nSTATUS=..."`).
pub fn notify(state: &str) -> std::io::Result<bool> {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let socket = UnixDatagram::unbound()?;
    let target = target.to_string_lossy().into_owned();
    if let Some(abstract_name) = target.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())?;
        socket.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        socket.send_to(state.as_bytes(), &target)?;
    }
    Ok(true)
}

/// Half the watchdog timeout systemd configured for us, if any.
pub fn watchdog_interval() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Environment variables are process-wide; keep everything that touches them in one test.
    #[test]
    fn sends_to_notify_socket_and_reads_watchdog() {
        let dir = std::env::temp_dir().join(format!("iked-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).unwrap();
        unsafe_env_set("NOTIFY_SOCKET", path.to_str().unwrap());
        assert!(notify("READY=1").unwrap());
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        unsafe_env_set("WATCHDOG_USEC", "20000000");
        unsafe_env_set("WATCHDOG_PID", &std::process::id().to_string());
        assert_eq!(watchdog_interval(), Some(Duration::from_secs(10)));
        unsafe_env_set("WATCHDOG_PID", "1");
        assert_eq!(watchdog_interval(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn unsafe_env_set(key: &str, value: &str) {
        // SAFETY: only this test touches these variables, and it runs on one thread.
        unsafe { std::env::set_var(key, value) }
    }
}
