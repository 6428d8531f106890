//! ipsec.conf `auto=route` with `left=%any` (what ovs-monitor-ipsec writes) through the real
//! netlink XFRM backend in a network namespace: iked loads /etc/ipsec.conf-style files, installs
//! trap policies from the source address of the route to the peer, traffic matching them raises
//! ACQUIRE and iked starts the IKE SA; `ipsec update` with the conn gone removes the policies.
//! Needs root and `ip`.

mod common;

use std::os::unix::process::CommandExt as _;
use std::process::Command;
use std::time::Duration;

use common::*;

const CONF: &str = "config setup\n    uniqueids=yes\n\nconn %default\n    keyingtries=%forever\n    \
    type=transport\n    keyexchange=ikev2\n    auto=route\n    ike=aes256gcm16-sha256-modp2048\n    \
    esp=aes256gcm16-modp2048\n\nconn vx0-in-1\n    left=%any\n    right=192.168.51.2\n    \
    authby=psk\n    leftprotoport=udp/4789\n    rightprotoport=udp\n\nconn vx0-out-1\n    \
    left=%any\n    right=192.168.51.2\n    authby=psk\n    leftprotoport=udp\n    \
    rightprotoport=udp/4789\n";

#[test]
fn auto_route_with_left_any_traps_and_acquires() {
    let Some(ns) = Netns::new("R", &["python3"]) else {
        return;
    };
    let sh = |cmd: &str| ns.sh(cmd);
    sh(
        "ip link set lo up && ip link add d0 type veth peer name d1 && \
        ip addr add 192.168.51.1/24 dev d0 && ip link set d0 up && ip link set d1 up",
    );

    let dir = scratch("ipsecconf-trap");
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("ipsec.conf"), CONF).unwrap();
    std::fs::write(
        etc.join("ipsec.secrets"),
        "%any 192.168.51.2 : PSK \"swordfish\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("strongswan.conf"), "").unwrap();
    let socket = dir.join("iked.vici");
    let log = dir.join("iked.log");
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(env!("CARGO_BIN_EXE_iked"))
        .arg("--config")
        .arg(etc.join("ipsec.conf"))
        .arg("--vici-socket")
        .arg(&socket)
        .arg("--strongswan-conf")
        .arg(dir.join("strongswan.conf"))
        .args(["--kernel", "xfrm"])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut procs = Processes::default();
    procs.add("iked", child);
    assert!(
        wait_for(&socket, Duration::from_secs(10)),
        "iked did not start"
    );
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let policies = || {
        let out = Command::new("ip")
            .args(["-n", &ns.0, "xfrm", "policy"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // One trap per conn (merged into one connection), from the route's source address.
    let p = policies();
    assert!(
        p.contains("src 192.168.51.1/32 dst 192.168.51.2/32 proto udp sport 4789")
            && p.contains("src 192.168.51.1/32 dst 192.168.51.2/32 proto udp dport 4789"),
        "trap policies: {p}\n{}",
        read_log()
    );
    // Traffic to the peer's VXLAN port hits vx0-out-1's trap: ACQUIRE, and iked initiates.
    sh(
        "python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
        s.bind(('192.168.51.1', 0)); s.sendto(b'x', ('192.168.51.2', 4789))\" || true",
    );
    assert!(
        eventually(Duration::from_secs(5), || read_log()
            .contains("initiating vx0-in-1/vx0-out-1")),
        "no ACQUIRE handled:\n{}",
        read_log()
    );
    // `ipsec update` with the conns gone takes their trap policies away.
    std::fs::write(etc.join("ipsec.conf"), "config setup\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ikectl"))
        .arg0("ipsec")
        .arg("update")
        .env("IPSEC_CONFDIR", &etc)
        .env("IKED_VICI_URI", format!("unix://{}", socket.display()))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = policies();
    assert!(
        !p.contains("192.168.51.2"),
        "policies left after update: {p}\n{}",
        read_log()
    );
    drop(procs);
}
