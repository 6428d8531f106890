//! The VICI socket's resource bounds (`iked/src/vici/server.rs`): a `log` subscriber that never
//! reads is disconnected instead of growing the daemon; at most `MAX_CLIENTS` connections are
//! served at once; message bodies are read as they arrive; `ikectl` gives up on a daemon that
//! accepts and never answers. Runs unprivileged on loopback (record-only kernel).

mod common;

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use iked::vici::codec::{self, Packet};
use iked::vici::server::{EVENT_BACKLOG, MAX_CLIENTS};

/// One record-only iked on free loopback ports: (processes, VICI socket, IKE port, pid).
fn start_daemon(tag: &str) -> (Processes, std::path::PathBuf, u16, u32) {
    // `received packet` lines (NET, level 2) are the log events the tests count.
    let lone = start_seed_iked(&scratch(tag), "BFL-BFR", &["--debug", "default=1,net=2"]);
    (lone.procs, lone.socket, lone.ike_port, lone.pid)
}

/// Resident set size of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

fn send_packet(s: &mut UnixStream, packet: &Packet) {
    s.write_all(&codec::encode_packet(packet).unwrap()).unwrap();
}

fn read_packet(s: &mut UnixStream) -> std::io::Result<Packet> {
    let mut header = [0u8; 4];
    s.read_exact(&mut header)?;
    let len = codec::segment_len(header).map_err(std::io::Error::other)?;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    codec::decode_packet(&body).map_err(std::io::Error::other)
}

/// Reads until the daemon closes the connection; false if it is still open after `limit`
/// of silence.
fn closed_by_daemon(s: &mut UnixStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// An IKE_SA_INIT-shaped datagram whose payload chain is garbage: each one is dropped by the
/// daemon with a log line, the cheapest way for a peer to make log events.
fn forged_datagram(i: u32) -> Vec<u8> {
    let mut d = Vec::with_capacity(64);
    d.extend_from_slice(&(u64::from(i) + 1).to_be_bytes()); // initiator SPI
    d.extend_from_slice(&[0; 8]); // responder SPI
    d.extend_from_slice(&[33, 0x20, 34, 0x08]); // SA payload next, v2.0, IKE_SA_INIT, I flag
    d.extend_from_slice(&0u32.to_be_bytes()); // message ID
    d.extend_from_slice(&64u32.to_be_bytes()); // length
    d.extend_from_slice(&[0, 0, 0, 200]); // an SA payload claiming 200 bytes
    d.resize(64, 0xa5);
    d
}

#[test]
fn a_log_subscriber_that_never_reads_is_disconnected() {
    let (_procs, socket, ike, pid) = start_daemon("vici-stalled-log");
    let mut stalled = UnixStream::connect(&socket).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    send_packet(&mut stalled, &Packet::EventRegister("log".into()));
    assert!(matches!(
        read_packet(&mut stalled).unwrap(),
        Packet::EventConfirm
    ));

    // A second subscriber that reads shows that the forged datagrams do make log events.
    let mut reader = UnixStream::connect(&socket).unwrap();
    reader
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    send_packet(&mut reader, &Packet::EventRegister("log".into()));
    assert!(matches!(
        read_packet(&mut reader).unwrap(),
        Packet::EventConfirm
    ));

    let rss_before = rss_kib(pid);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Far more events than the unix socket's buffer and the backlog hold together.
    let forged = 40 * EVENT_BACKLOG as u32;
    let mut seen = 0usize;
    for i in 0..forged {
        udp.send_to(&forged_datagram(i), ("127.0.0.1", ike))
            .unwrap();
        if i % 64 == 0 {
            // Keep the reading subscriber drained, and pace the sender so the daemon's
            // receive buffer is not what drops the datagrams.
            reader
                .set_read_timeout(Some(Duration::from_millis(1)))
                .unwrap();
            while let Ok(Packet::Event { .. }) = read_packet(&mut reader) {
                seen += 1;
            }
        }
    }
    reader
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    while let Ok(Packet::Event { .. }) = read_packet(&mut reader) {
        seen += 1;
    }
    assert!(
        seen > 4 * EVENT_BACKLOG,
        "the forged datagrams made only {seen} log events"
    );
    assert!(
        closed_by_daemon(&mut stalled, Duration::from_secs(10)),
        "the daemon kept a subscriber that left {seen} log events unread"
    );
    let grown = rss_kib(pid).saturating_sub(rss_before);
    assert!(
        grown < 16 * 1024,
        "iked grew by {grown} KiB while a subscriber did not read"
    );
    // Everyone else is still served.
    let out = ikectl(&socket, &["list-conns"]);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn connections_past_the_limit_are_closed_and_bodies_are_read_as_they_arrive() {
    let (_procs, socket, _ike, pid) = start_daemon("vici-many-clients");
    let rss_before = rss_kib(pid);
    // Every client announces the largest segment and sends part of it, then stalls.
    let header = (codec::MAX_SEGMENT as u32).to_be_bytes();
    let part = vec![0u8; 128 * 1024];
    let mut held = Vec::new();
    for _ in 0..MAX_CLIENTS {
        let mut s = UnixStream::connect(&socket).unwrap();
        s.write_all(&header).unwrap();
        s.write_all(&part).unwrap();
        held.push(s);
    }
    // Served clients stay open: the daemon is waiting for the rest of their segments.
    let mut probe = held.pop().unwrap();
    assert!(
        !closed_by_daemon(&mut probe, Duration::from_millis(300)),
        "a client within the limit was closed"
    );
    held.push(probe);
    // One more is closed at once.
    let mut extra = UnixStream::connect(&socket).unwrap();
    assert!(
        closed_by_daemon(&mut extra, Duration::from_secs(5)),
        "connection {} was served past the limit of {MAX_CLIENTS}",
        MAX_CLIENTS + 1
    );
    // 64 announced segments of 512 KiB would be 32 MiB if allocated at their announced size;
    // read as they arrive they hold what was sent (8 MiB).
    let grown = rss_kib(pid).saturating_sub(rss_before);
    assert!(
        grown < 20 * 1024,
        "iked grew by {grown} KiB for {MAX_CLIENTS} stalled clients"
    );
    // Freed slots are served again.
    drop(held);
    assert!(
        eventually(Duration::from_secs(10), || ikectl(&socket, &["list-conns"])
            .status
            .success()),
        "ikectl not served after the stalled clients left"
    );
}

/// A socket that accepts and never answers, on a thread; returns its path.
fn silent_daemon(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("silent.vici");
    let listener = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for s in listener.incoming().flatten() {
            open.push(s);
        }
    });
    path
}

#[test]
fn ikectl_gives_up_on_a_daemon_that_never_answers() {
    let dir = scratch("vici-silent");
    let path = silent_daemon(&dir);
    let uri = format!("unix://{}", path.display());
    for args in [
        vec!["list-sas"],
        vec!["list-conns"],
        vec!["stats"],
        vec!["initiate", "--child", "bf-in"],
        vec!["terminate", "--ike", "BFL-BFR"],
        vec!["log"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ikectl"))
            .args(["--uri", &uri, "--reply-timeout", "1"])
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Bounded: an ikectl that hangs fails the test instead of hanging it.
        let done = eventually(Duration::from_secs(10), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        if !done {
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(done, "{args:?}: ikectl still waiting after 10 s");
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.contains("no answer from the daemon") && stderr.contains("within 1s"),
            "{args:?}: {stderr}"
        );
    }
}
