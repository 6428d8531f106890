//! `iked` as a service: systemd notifications (READY, WATCHDOG), SIGHUP reload, SIGTERM
//! shutdown, and the offline `ikectl check`. Unprivileged, loopback only.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn notifies_systemd_reloads_on_sighup_and_stops_on_sigterm() {
    let dir = scratch("lifecycle");
    let notify_path = dir.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (ike, nat_t) = free_udp_ports();
    let conf_path = dir.join("swanctl.conf");
    std::fs::write(
        &conf_path,
        seed_conf("FIRST", "127.0.0.1", "127.0.0.2", "host1", "host2"),
    )
    .unwrap();
    let socket = dir.join("iked.vici");
    let child = Command::new(env!("CARGO_BIN_EXE_iked"))
        .arg("--config")
        .arg(&conf_path)
        .arg("--vici-socket")
        .arg(&socket)
        .args(["--kernel", "record"])
        .args([
            "--port",
            &ike.to_string(),
            "--port-nat-t",
            &nat_t.to_string(),
        ])
        .env("NOTIFY_SOCKET", &notify_path)
        // 200 ms watchdog: iked must ping every 100 ms.
        .env("WATCHDOG_USEC", "200000")
        .stderr(std::fs::File::create(dir.join("iked.log")).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut procs = Processes::default();
    procs.add("iked", child);

    let mut buf = [0u8; 256];
    let n = recv_retrying(&notify, &mut buf);
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(first.starts_with("READY=1"), "{first}");
    assert!(socket.exists(), "VICI socket exists once READY is sent");
    let mut watchdogs = 0;
    for _ in 0..5 {
        let n = recv_retrying(&notify, &mut buf);
        if &buf[..n] == b"WATCHDOG=1" {
            watchdogs += 1;
        }
    }
    assert!(watchdogs >= 4, "watchdog pings: {watchdogs}");

    // SIGHUP reloads the file without a restart.
    std::fs::write(
        &conf_path,
        seed_conf("SECOND", "127.0.0.1", "127.0.0.2", "host1", "host2"),
    )
    .unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut reloaded = false;
    for _ in 0..50 {
        let out = ikectl(&socket, &["list-conns"]);
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("SECOND: IKEv2") && !text.contains("FIRST:") {
            reloaded = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(reloaded, "SIGHUP did not reload the configuration");

    // SIGTERM: clean exit, socket removed.
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let (_, mut child) = procs.0.pop().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "iked exit status {status:?}");
    assert!(!socket.exists(), "VICI socket removed on shutdown");
}

#[test]
fn ikectl_check_validates_offline() {
    let dir = scratch("check");
    let good = dir.join("good.conf");
    std::fs::write(
        &good,
        seed_conf("BFL-BFR", "192.168.50.1", "192.168.50.2", "host1", "host2"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ikectl"))
        .args(["check", "--file", good.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("BFL-BFR"), "{text}");
    assert!(text.contains("bf-out"), "{text}");
    assert!(
        !text.contains("v+NkxY9LLZvwj4qCC2o"),
        "secrets never printed"
    );

    let bad = dir.join("bad.conf");
    std::fs::write(
        &bad,
        "connections {\n  a {\n    version = 7\n    local_addrs = 1.2.3.4.5\n  }\n}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ikectl"))
        .args(["check", "--file", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let prefix = format!("{}:3:", bad.display());
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().any(|l| l.starts_with(&prefix)), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{}:4:", bad.display()))),
        "every error is listed: {text}"
    );

    // swanctl's spelling of the same tool, through argv[0].
    let link = dir.join("swanctl");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ikectl"), &link).unwrap();
    let out = Command::new(&link).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--load-all"));
    let out = Command::new(&link)
        .args([
            "--list-sas",
            "--uri",
            &format!("unix://{}/none.vici", dir.display()),
        ])
        .output()
        .unwrap();
    // Under swanctl's name, swanctl's status for a daemon it cannot reach: the connect errno
    // (ENOENT here), with its words on stderr.
    assert_eq!(out.status.code(), Some(2), "daemon unreachable");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Error: connecting to 'unix://"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `recv` again when a signal interrupts it (EINTR: the test binary's other test reaps its
/// children meanwhile); a time-out or any other error fails the test.
fn recv_retrying(socket: &UnixDatagram, buf: &mut [u8]) -> usize {
    loop {
        match socket.recv(buf) {
            Ok(n) => return n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("reading the notify socket: {e}"),
        }
    }
}
