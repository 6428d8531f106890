//! Shunts through the real netlink XFRM backend, in a network namespace on the host (policies
//! need no ESP support in the kernel): NVIDIA's ovs-monitor-ipsec guard (a shunt-only
//! connection with a marked drop child, `start_action = trap`) and a pass shunt are installed
//! at start as charon installs them; marked tunnel traffic is refused by the kernel while
//! unmarked traffic leaves; `list-pols` shows them as charon does; a reload without the guard
//! removes its policies; SIGTERM removes the rest.
//! Needs root, `ip` and python3 (for a socket with SO_MARK); fails under CI=true without them.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const GUARD: &str = "
  shunts {
    children {
      prevent_unencrypted_vxlan {
        local_ts = 0.0.0.0/0 [udp/4789]
        mark_in = 0x1/0x1
        mark_out = 0x1/0x1
        mode = drop
        start_action = trap
      }
    }
  }";

const BYPASS: &str = "
  lan {
    children {
      lan-bypass {
        local_ts = 192.168.50.0/24
        remote_ts = 192.168.50.0/24
        mode = pass
        start_action = trap
      }
      not-yet {
        local_ts = 10.9.0.0/16
        mode = drop
      }
    }
  }";

fn config(with_guard: bool) -> String {
    format!(
        "connections {{{}{}\n}}\n",
        if with_guard { GUARD } else { "" },
        BYPASS
    )
}

/// Sends one UDP datagram from 192.168.50.1:4789 with firewall mark `mark`; true if the
/// kernel let it out, false if an XFRM policy refused it (EPERM).
fn send_marked(ns: &str, mark: u32) -> bool {
    let script = format!(
        "import socket, errno\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.SOL_SOCKET, 36, {mark})\n\
         s.bind(('192.168.50.1', 4789))\n\
         try:\n    s.sendto(b'x', ('192.168.50.2', 4789)); print('sent')\n\
         except PermissionError:\n    print('blocked')\n"
    );
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("sent") || text.contains("blocked"),
        "python: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.contains("sent")
}

fn policies(ns: &str) -> String {
    let out = Command::new("ip")
        .args(["-n", ns, "xfrm", "policy"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn drop_and_pass_shunts_reach_the_kernel_and_leave_with_their_connection() {
    let Some(ns) = Netns::new("H", &["python3"]) else {
        return;
    };
    let ok = Command::new("ip")
        .args(["netns", "exec", &ns.0, "sh", "-c"])
        .arg(
            "ip link set lo up && ip link add d0 type veth peer name d1 && \
             ip addr add 192.168.50.1/24 dev d0 && ip link set d0 up && ip link set d1 up",
        )
        .status()
        .unwrap()
        .success();
    assert!(ok, "namespace set-up");
    // Without any policy both datagrams leave: the refusal below is the shunt's doing.
    assert!(send_marked(&ns.0, 1) && send_marked(&ns.0, 0));

    let dir = scratch("shunts");
    let conf_path = dir.join("swanctl.conf");
    std::fs::write(&conf_path, config(true)).unwrap();
    let strongswan_conf = dir.join("strongswan.conf");
    std::fs::write(&strongswan_conf, "").unwrap();
    let socket = dir.join("iked.vici");
    let log = dir.join("iked.log");
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(env!("CARGO_BIN_EXE_iked"))
        .arg("--config")
        .arg(&conf_path)
        .arg("--vici-socket")
        .arg(&socket)
        .arg("--strongswan-conf")
        .arg(&strongswan_conf)
        .args(["--kernel", "xfrm", "--port", "0", "--port-nat-t", "0"])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut procs = Processes::default();
    procs.add("iked", child);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait_for(&socket, Duration::from_secs(10)),
        "iked did not start:\n{}",
        read_log()
    );

    // charon's shunt manager: OUT, IN and FWD, blocking, marked; the pass shunt allows
    // without a template; the `start_action = none` shunt is not installed.
    let installed = policies(&ns.0);
    let blocks = installed.matches("action block").count();
    assert_eq!(
        blocks,
        3,
        "guard: out, in, fwd\n{installed}\n{}",
        read_log()
    );
    assert_eq!(
        installed.matches("mark 0x1/0x1").count(),
        3,
        "every guard policy is marked\n{installed}"
    );
    assert!(installed.contains("proto udp sport 4789"), "{installed}");
    assert!(installed.contains("proto udp dport 4789"), "{installed}");
    assert!(
        !installed.contains("tmpl"),
        "shunts have no template\n{installed}"
    );
    assert!(
        installed.contains("src 192.168.50.0/24 dst 192.168.50.0/24"),
        "pass shunt\n{installed}"
    );
    assert!(
        !installed.contains("10.9.0.0"),
        "none: not installed\n{installed}"
    );

    // The pass shunt covers the LAN, and its priority class (pass) is above the drop
    // shunt's (fallback), so even marked tunnel traffic to a LAN peer leaves.
    let pass_prio_wins = send_marked(&ns.0, 1);
    assert!(
        pass_prio_wins,
        "the pass shunt (priority class pass) wins over the drop shunt (fallback) for the LAN"
    );

    let listed = String::from_utf8_lossy(&ikectl(&socket, &["list-pols"]).stdout).into_owned();
    assert!(
        listed.contains("shunts/prevent_unencrypted_vxlan, DROP")
            && listed.contains("lan/lan-bypass, PASS"),
        "{listed}"
    );

    // A reload that narrows the pass shunt to another host replaces its policies; the guard
    // alone decides now: marked tunnel traffic is dropped, unmarked traffic leaves, as the OVS
    // monitor's ipsec_skb_mark intends.
    let narrower = config(true).replace(
        "remote_ts = 192.168.50.0/24",
        "remote_ts = 192.168.50.100/32",
    );
    std::fs::write(&conf_path, narrower).unwrap();
    let out = ikectl(
        &socket,
        &["load-all", "--file", conf_path.to_str().unwrap()],
    );
    assert!(out.status.success(), "{:?}\n{}", out, read_log());
    assert!(
        !send_marked(&ns.0, 1),
        "marked VXLAN traffic must be dropped\n{}\n{}",
        policies(&ns.0),
        read_log()
    );
    assert!(send_marked(&ns.0, 0), "unmarked traffic must leave");
    let after = policies(&ns.0);
    assert!(
        after.contains("192.168.50.100/32")
            && !after.contains("src 192.168.50.0/24 dst 192.168.50.0/24"),
        "the replaced connection's shunt was replaced\n{after}"
    );

    // A reload without the guard connection removes its policies (charon's unload).
    std::fs::write(&conf_path, config(false)).unwrap();
    let out = ikectl(
        &socket,
        &["load-all", "--file", conf_path.to_str().unwrap()],
    );
    assert!(out.status.success(), "{:?}", out);
    let after = policies(&ns.0);
    assert_eq!(after.matches("action block").count(), 0, "{after}");
    assert!(send_marked(&ns.0, 1), "no guard, nothing dropped");

    // SIGTERM: nothing of ours is left.
    drop(procs);
    let left = policies(&ns.0);
    assert!(
        left.trim().is_empty(),
        "policies left after SIGTERM: {left}\n{}",
        read_log()
    );
}
