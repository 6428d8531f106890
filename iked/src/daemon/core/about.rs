//! What the daemon says about its host and its time: the `version` reply (uname) and charon's
//! uptime and date texts, which `ikectl` prints too. Pure functions; nothing here knows the core.

use crate::vici::Message;

/// The `version` reply, charon-shaped: `sysname`, `release` and `machine` come from
/// uname(2) as in charon's vici_query.c (the compile-time architecture name differs from the
/// kernel's, e.g. `x86` for `i686`).
pub fn version_message() -> Message {
    let (sysname, release, machine) = uname().unwrap_or_else(|| {
        (
            read_trimmed("/proc/sys/kernel/ostype"),
            read_trimmed("/proc/sys/kernel/osrelease"),
            std::env::consts::ARCH.to_owned(),
        )
    });
    Message::new()
        .kv("daemon", "iked")
        .kv("version", env!("CARGO_PKG_VERSION"))
        .kv("sysname", sysname)
        .kv("release", release)
        .kv("machine", machine)
}

pub(super) fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// uname(2)'s sysname, release and machine.
pub(super) fn uname() -> Option<(String, String, String)> {
    // SAFETY: utsname is plain old data (arrays of c_char); all zeroes is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname for the duration of the call.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let field = |f: &[libc::c_char]| {
        // The kernel NUL-terminates each field; stop at the first NUL or the array's end.
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Some((field(&u.sysname), field(&u.release), field(&u.machine)))
}

/// charon's uptime text: `5 minutes`, `2 hours`, `3 days`.
pub fn format_uptime(secs: u64) -> String {
    let (value, unit) = if secs >= 86_400 * 2 {
        (secs / 86_400, "days")
    } else if secs >= 3_600 * 2 {
        (secs / 3_600, "hours")
    } else if secs >= 60 * 2 {
        (secs / 60, "minutes")
    } else {
        (secs, "seconds")
    };
    format!("{value} {unit}")
}

/// `Nov 28 00:10:00 2026`-style UTC time (charon prints local time; UTC keeps us free of
/// time zone databases).
pub fn format_unix_time(secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), valid for all dates after 1970.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{} {:02} {:02}:{:02}:{:02} {}",
        MONTHS[(m - 1) as usize],
        d,
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        y
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats() {
        assert_eq!(format_uptime(59), "59 seconds");
        assert_eq!(format_uptime(600), "10 minutes");
        assert_eq!(format_uptime(3 * 86_400), "3 days");
        // 2026-11-28 00:10:00 UTC.
        assert_eq!(format_unix_time(1_795_824_600), "Nov 28 00:10:00 2026");
        assert_eq!(format_unix_time(0), "Jan 01 00:00:00 1970");
    }
}
