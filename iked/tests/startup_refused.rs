//! Start-up with an invalid connection in swanctl.conf (issue 16 §2): as charon with
//! `swanctl --load-all`, iked starts with the valid connections and logs each refused one with
//! its location (file:line:col); only a file that cannot be parsed at all stops the start.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn one_invalid_connection_does_not_stop_the_start() {
    let dir = scratch("startup-refused");
    let good = seed_conf("GOOD", "127.0.0.1", "127.0.0.2", "host1", "host2");
    // One refused by the parser (a bad value), one by the engine (IKE proposals of only
    // algorithms it does not implement).
    let conf = good.replace(
        "connections {\n",
        "connections {\n  BADVALUE {\n    remote_addrs = 127.0.0.9\n    rekey_time = soon\n  }\n  \
         BADPROP {\n    remote_addrs = 127.0.0.8\n    proposals = serpent256-sha256-modp2048\n    \
         children { c { } }\n  }\n",
    );
    let (ike, nat_t) = free_udp_ports();
    let (ike, nat_t) = (ike.to_string(), nat_t.to_string());
    let (child, socket) = start_iked(&dir, &conf, &["--port", &ike, "--port-nat-t", &nat_t], &[]);
    let mut procs = Processes::default();
    procs.add("iked", child);
    let log = || std::fs::read_to_string(dir.join("iked.log")).unwrap_or_default();
    assert!(
        wait_for(&socket, Duration::from_secs(10)),
        "iked did not start:\n{}",
        log()
    );
    let conns = String::from_utf8_lossy(&ikectl(&socket, &["list-conns"]).stdout).into_owned();
    assert!(conns.contains("GOOD: IKEv2"), "{conns}\n{}", log());
    assert!(
        !conns.contains("BADVALUE") && !conns.contains("BADPROP"),
        "{conns}"
    );
    let log = log();
    let conf_path = dir.join("swanctl.conf");
    let at = |line: usize| format!("{}:{line}:", conf_path.display());
    assert!(
        log.contains("loading connection 'BADVALUE' failed:") && log.contains(&at(4)),
        "the parser's refusal, located at rekey_time:\n{log}"
    );
    assert!(
        log.contains("loading connection 'BADPROP' failed:")
            && log.contains(&format!("{}3", at(6))),
        "the engine's refusal, located at the connection:\n{log}"
    );
}

#[test]
fn an_unparsable_file_still_stops_the_start() {
    let dir = scratch("startup-unparsable");
    let (child, _) = start_iked(&dir, "connections { broken {\n", &[], &[]);
    let mut procs = Processes::default();
    procs.add("iked", child);
    let exited = eventually(
        Duration::from_secs(10),
        || matches!(procs.0[0].1.try_wait(), Ok(Some(status)) if !status.success()),
    );
    assert!(
        exited,
        "iked must refuse a file it cannot parse:\n{}",
        std::fs::read_to_string(dir.join("iked.log")).unwrap_or_default()
    );
}
