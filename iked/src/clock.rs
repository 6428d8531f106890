//! The daemon's only clock reads.
//!
//! Contract: protocol code never reads a clock; the daemon reads [`now`] here and passes it in.
//! [`now`] is CLOCK_BOOTTIME (monotonic and counting time spent in suspend, so SA lifetimes
//! expire correctly after a host sleeps), as a [`Duration`] since boot. [`wall_clock_secs`] is
//! the one wall-clock read: human-facing "since" timestamps, and the time the engine checks
//! certificate validity against (never timers).

use std::time::Duration;

/// Monotonic, suspend-aware time since boot.
pub fn now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_BOOTTIME is a clock id every Linux
    // kernel since 2.6.39 supports; clock_gettime writes only into `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        // Unreachable on Linux; a frozen clock is safer than a panic in the event loop.
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Seconds since the Unix epoch, for display and certificate validity (never for timers).
#[allow(clippy::disallowed_methods)]
pub fn wall_clock_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boottime_is_monotonic_and_nonzero() {
        let a = now();
        let b = now();
        assert!(a > Duration::ZERO);
        assert!(b >= a);
    }

    #[test]
    fn wall_clock_is_after_2020() {
        assert!(wall_clock_secs() > 1_577_836_800);
    }
}
