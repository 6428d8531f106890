//! An `include` of a FIFO (issue 16 §2): `ikectl check` returns at once with the located
//! error instead of hanging, and a SIGHUP reload of such a file leaves the daemon answering
//! VICI (it froze before, blocked opening the FIFO). A connection's `certs` naming a FIFO is
//! refused the same way. Unprivileged, loopback, record-only kernel.

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

/// Runs ikectl with `args`; kills it and fails the test if it takes more than 10 s.
fn ikectl_promptly(args: &[&str]) -> (Option<i32>, String) {
    // One file per call: the tests of this file run in parallel threads of one process.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir();
    let out_path = dir.join(format!("iked-fifo-ikectl-{}-{n}.out", std::process::id()));
    let out = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ikectl"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    // Time is read here only to bound a test, not by the code under test.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let text = std::fs::read_to_string(&out_path).unwrap_or_default();
            let _ = std::fs::remove_file(&out_path);
            return (status.code(), text);
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&out_path);
            panic!("ikectl {args:?} did not return within 10 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ikectl_check_refuses_a_fifo_include_promptly() {
    let dir = scratch("fifo-check");
    let fifo = dir.join("fifo.conf");
    mkfifo(&fifo);
    let main = dir.join("swanctl.conf");
    std::fs::write(&main, "connections {\n}\ninclude fifo.conf\n").unwrap();
    let (code, text) = ikectl_promptly(&["check", "--file", main.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!("{}:3:1: ", main.display())) && text.contains("FIFO"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sighup_with_a_fifo_include_keeps_the_daemon_answering() {
    let dir = scratch("fifo-hup");
    let (procs, socket) = start_lone_iked(&dir, "FIRST");
    let pid = procs.pid("iked");
    let fifo = dir.join("fifo.conf");
    mkfifo(&fifo);
    let conf = dir.join("swanctl.conf");
    let good = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        format!("{}include fifo.conf\n", good.replace("FIRST", "SECOND")),
    )
    .unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    // The reload fails with the located error and changes nothing; VICI keeps answering.
    let uri = format!("unix://{}", socket.display());
    let refused = eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(dir.join("iked.log"))
            .unwrap_or_default()
            .contains("FIFO")
    });
    let (code, text) = ikectl_promptly(&["--uri", &uri, "--reply-timeout", "5", "list-conns"]);
    assert!(
        refused,
        "no FIFO error logged: {}",
        std::fs::read_to_string(dir.join("iked.log")).unwrap_or_default()
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("FIRST: IKEv2") && !text.contains("SECOND"),
        "{text}"
    );

    // A connection whose certs name a FIFO: load-all fails, promptly, naming the file.
    let cert_fifo = dir.join("cert.pem");
    mkfifo(&cert_fifo);
    let other = dir.join("other.conf");
    std::fs::write(
        &other,
        good.replace("FIRST", "THIRD").replace(
            "auth = psk\n      id = host1",
            &format!(
                "auth = pubkey\n      id = host1\n      certs = {}",
                cert_fifo.display()
            ),
        ),
    )
    .unwrap();
    let (code, text) = ikectl_promptly(&[
        "--uri",
        &uri,
        "--reply-timeout",
        "5",
        "load-all",
        "--file",
        other.to_str().unwrap(),
    ]);
    assert_ne!(code, Some(0), "{text}");
    assert!(
        text.contains("cert.pem") && text.contains("not a regular file"),
        "{text}"
    );
    let (code, text) = ikectl_promptly(&["--uri", &uri, "--reply-timeout", "5", "stats"]);
    assert_eq!(code, Some(0), "{text}");
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
}
