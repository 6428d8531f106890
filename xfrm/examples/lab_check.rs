//! Lab check for a kernel with ESP (the 6.12 lab VM), run as root:
//! `cargo run -p iked-xfrm --example lab_check` (or the built binary inside `vng`).
//!
//! Builds two network namespaces joined by a veth pair (p0l 192.168.50.1/24, p0r
//! 192.168.50.2/24, the seed's BFL/BFR addresses, existing only inside the namespaces),
//! installs the seed's transport-mode AES-GCM-16 + ESN child for VXLAN (`udp/4789`) on both
//! sides, shows it carries traffic, reads counters, provokes a soft packet-limit EXPIRE,
//! and checks the offload modes on veth: `packet` must fail with the kernel's reason and
//! leave nothing behind, `auto` must fall back to `none`, `crypto` must fail naming the
//! missing feature. Prints one line per check and exits non-zero if any failed.

use std::net::{IpAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use iked_xfrm::client::{ChildInstall, InstalledChild, child_policy_specs};
use iked_xfrm::msg::SaId;
use iked_xfrm::parse::XfrmEvent;
use iked_xfrm::*;

const LEFT: &str = "xfrmlab-l";
const RIGHT: &str = "xfrmlab-r";

fn sh(cmd: &str) -> Result<()> {
    let status = Command::new("sh").arg("-c").arg(cmd).status()?;
    if !status.success() {
        bail!("command failed: {cmd}");
    }
    Ok(())
}

/// Run `f` on a thread that has joined network namespace `ns`; sockets created there stay
/// in that namespace wherever they are used afterwards.
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || -> Result<T> {
        let file = std::fs::File::open(&path).with_context(|| path.clone())?;
        // SAFETY: setns on an open netns fd only changes this thread's network namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            bail!("setns {path}: {}", std::io::Error::last_os_error());
        }
        f()
    })
    .join()
    .map_err(|_| anyhow!("namespace thread panicked"))?
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn aead(byte: u8) -> EspTransform {
    EspTransform::Aead {
        name: "rfc4106(gcm(aes))".into(),
        key: SecretKey::new(vec![byte; 20]),
        icv_bits: 128,
    }
}

/// The seed's VXLAN child from one side's point of view.
fn child(local: &str, remote: &str, spi_in: Spi, spi_out: Spi, vxlan_local: bool) -> ChildInstall {
    let (l, r) = (ip(local), ip(remote));
    let (sport, dport) = if vxlan_local {
        (Port::exact(4789), Port::ANY)
    } else {
        (Port::ANY, Port::exact(4789))
    };
    ChildInstall {
        local: l,
        remote: r,
        mode: Mode::Transport,
        protocol: IpsecProtocol::Esp,
        reqid: 1,
        spi_in,
        spi_in_allocated: true,
        spi_out,
        // Keys: left's outbound = right's inbound.
        transform_in: aead(if vxlan_local { 0xa1 } else { 0xb2 }),
        transform_out: aead(if vxlan_local { 0xb2 } else { 0xa1 }),
        esn: true,
        replay_window: 32,
        lifetimes_in: Lifetimes::default(),
        lifetimes_out: Lifetimes {
            soft_packets: Some(3),
            hard_packets: Some(1000),
            ..Lifetimes::default()
        },
        selectors: vec![TrafficSelector::host_to_host(l, r).with_proto(17, sport, dport)],
        priority: None,
        policies_fwd_out: true,
        mark_in: None,
        mark_out: None,
        if_id_in: None,
        if_id_out: None,
        set_mark_in: None,
        set_mark_out: None,
        mark_in_sa: false,
        nat_t_ports: None,
        hw_offload: HwOffload::No,
        offload_device: None,
        acquire_seq: 0,
        proto_port_transport_sa: false,
    }
}

struct Report {
    failures: usize,
}

impl Report {
    fn check(&mut self, name: &str, result: Result<String>) {
        match result {
            Ok(detail) => println!("PASS {name}: {detail}"),
            Err(e) => {
                self.failures += 1;
                println!("FAIL {name}: {e:#}");
            }
        }
    }
}

fn nothing_left(client: &mut XfrmClient, c: &ChildInstall) -> Result<()> {
    for (dst, spi) in [(c.local, c.spi_in), (c.remote, c.spi_out)] {
        let id = SaId {
            dst,
            spi,
            protocol: IpsecProtocol::Esp,
            mark: None,
        };
        match client.get_sa(&id) {
            Err(e) if e.is_not_found() => {}
            Ok(_) => bail!("SA {spi} left behind"),
            Err(e) => bail!("GETSA {spi}: {e}"),
        }
    }
    for p in child_policy_specs(c, OffloadMode::None, None) {
        match client.get_policy(&p.id()) {
            Err(e) if e.is_not_found() => {}
            Ok(_) => bail!("{} policy left behind", p.direction),
            Err(e) => bail!("GETPOLICY: {e}"),
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let _ = sh(&format!(
        "ip netns del {LEFT} 2>/dev/null; ip netns del {RIGHT} 2>/dev/null"
    ));
    sh(&format!(
        "ip netns add {LEFT} && ip netns add {RIGHT} \
         && ip link add p0l netns {LEFT} type veth peer name p0r netns {RIGHT} \
         && ip -n {LEFT} addr add 192.168.50.1/24 dev p0l && ip -n {LEFT} link set p0l up \
         && ip -n {RIGHT} addr add 192.168.50.2/24 dev p0r && ip -n {RIGHT} link set p0r up \
         && ip -n {LEFT} link set lo up && ip -n {RIGHT} link set lo up"
    ))?;
    // Everything for the left side runs on a thread inside LEFT, because device lookups
    // (interface of the local address, ethtool) happen in the calling thread's namespace.
    let result = in_ns(LEFT, run);
    let _ = sh(&format!("ip netns del {LEFT}; ip netns del {RIGHT}"));
    let failures = result?;
    if failures > 0 {
        bail!("{failures} check(s) failed");
    }
    println!("all lab checks passed");
    Ok(())
}

fn run() -> Result<usize> {
    let mut report = Report { failures: 0 };
    println!(
        "kernel SA_DIR support: {}",
        iked_xfrm::client::kernel_supports_sa_dir()
    );
    let mut left = XfrmClient::new()?;
    let mut right = in_ns(RIGHT, || Ok(XfrmClient::new()?))?;
    let mut left_events = EventMonitor::new()?;
    left_events.set_timeout(Some(Duration::from_secs(3)))?;

    // ALLOCSPI on both sides, then UPDSA through install_child.
    let (l, r) = (ip("192.168.50.1"), ip("192.168.50.2"));
    let left_in = left.alloc_spi(r, l, IpsecProtocol::Esp, 1)?;
    let right_in = right.alloc_spi(l, r, IpsecProtocol::Esp, 1)?;
    report.check("ALLOCSPI", Ok(format!("left {left_in}, right {right_in}")));

    let left_child = child("192.168.50.1", "192.168.50.2", left_in, right_in, false);
    let right_child = child("192.168.50.2", "192.168.50.1", right_in, left_in, true);
    let installed_left = left.install_child(&left_child);
    let installed_right = right.install_child(&right_child);
    let (installed_left, installed_right) = match (installed_left, installed_right) {
        (Ok(a), Ok(b)) => {
            report.check(
                "install hw_offload=no",
                Ok(format!(
                    "left {} policies, SAs in={} out={}; right SAs in={} out={}",
                    a.policies.len(),
                    a.sa_in_offload,
                    a.sa_out_offload,
                    b.sa_in_offload,
                    b.sa_out_offload
                )),
            );
            (a, b)
        }
        (a, b) => {
            report.check(
                "install hw_offload=no",
                Err(anyhow!("left {:?} right {:?}", a.err(), b.err())),
            );
            return Ok(report.failures);
        }
    };

    // Traffic: VXLAN-port datagrams from left to right.
    let receiver = in_ns(RIGHT, || {
        let s = UdpSocket::bind("192.168.50.2:4789")?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        Ok(s)
    })?;
    let sender = UdpSocket::bind("192.168.50.1:0")?;
    const DATAGRAMS: u64 = 5;
    let traffic = (|| -> Result<String> {
        let mut got = 0;
        for i in 0..DATAGRAMS {
            // First packet may hit neighbour resolution; retry sends until received.
            sender.send_to(format!("vxlan {i}").as_bytes(), "192.168.50.2:4789")?;
            let mut buf = [0u8; 64];
            if receiver.recv_from(&mut buf).is_ok() {
                got += 1;
            }
        }
        if got == 0 {
            bail!("no datagram arrived");
        }
        Ok(format!("{got}/{DATAGRAMS} datagrams delivered through ESP"))
    })();
    report.check("traffic", traffic);

    let counters = (|| -> Result<String> {
        let out = left.sa_counters(&installed_left.sa_out)?;
        let inn = right.sa_counters(&installed_right.sa_in)?;
        if out.packets == 0 || inn.packets == 0 {
            bail!("counters did not move: left out {out:?}, right in {inn:?}");
        }
        if inn.packets > out.packets {
            bail!("right decrypted more than left encrypted");
        }
        let esn = right.get_sa(&installed_right.sa_in)?.replay;
        Ok(format!(
            "left out SA {} packets / {} bytes; right in SA {} packets / {} bytes; right replay {:?}",
            out.packets, out.bytes, inn.packets, inn.bytes, esn
        ))
    })();
    report.check("counters", counters);

    let expire = (|| -> Result<String> {
        for _ in 0..10 {
            for e in left_events.next_events()? {
                if let XfrmEvent::Expire(x) = e
                    && x.sa.spi == installed_left.sa_out.spi
                    && !x.hard
                {
                    return Ok(format!(
                        "soft EXPIRE for SA {} after {} packets (soft limit 3)",
                        x.sa.spi, x.sa.counters.packets
                    ));
                }
            }
        }
        bail!("no soft EXPIRE seen")
    })();
    report.check("soft packet-limit EXPIRE", expire);

    // Hard packet limit: a second child on udp/4790 whose outbound SA dies after 2 packets.
    let hard = (|| -> Result<String> {
        let mut hc = child(
            "192.168.50.1",
            "192.168.50.2",
            Spi(0xc0000501),
            Spi(0xc0000502),
            false,
        );
        hc.spi_in_allocated = false;
        hc.reqid = 2;
        hc.selectors =
            vec![TrafficSelector::host_to_host(l, r).with_proto(17, Port::ANY, Port::exact(4790))];
        hc.lifetimes_out = Lifetimes {
            soft_packets: Some(1),
            hard_packets: Some(2),
            ..Lifetimes::default()
        };
        let installed = left.install_child(&hc)?;
        for i in 0..3 {
            // Delivery is not checked: the peer has no SA for this child.
            let _ = sender.send_to(format!("hard {i}").as_bytes(), "192.168.50.2:4790");
        }
        let mut saw_hard = false;
        for _ in 0..10 {
            for e in left_events.next_events()? {
                if let XfrmEvent::Expire(x) = e
                    && x.sa.spi == installed.sa_out.spi
                    && x.hard
                {
                    saw_hard = true;
                }
            }
            if saw_hard {
                break;
            }
        }
        if !saw_hard {
            bail!("no hard EXPIRE seen");
        }
        let gone = matches!(left.get_sa(&installed.sa_out), Err(ref e) if e.is_not_found());
        left.remove_child(&installed)?;
        if !gone {
            bail!("SA still present after hard EXPIRE");
        }
        Ok(format!(
            "hard EXPIRE for SA {} (hard limit 2); the kernel had deleted it",
            installed.sa_out.spi
        ))
    })();
    report.check("hard packet-limit EXPIRE", hard);

    // Rekey both sides in place (new SPIs and keys, same policies), then retire the old SAs.
    let rekey = (|| -> Result<(InstalledChild, InstalledChild, String)> {
        let new_left_in = left.alloc_spi(r, l, IpsecProtocol::Esp, 1)?;
        let new_right_in = right.alloc_spi(l, r, IpsecProtocol::Esp, 1)?;
        let mut lc = child(
            "192.168.50.1",
            "192.168.50.2",
            new_left_in,
            new_right_in,
            false,
        );
        let mut rc = child(
            "192.168.50.2",
            "192.168.50.1",
            new_right_in,
            new_left_in,
            true,
        );
        lc.transform_out = aead(0xc3);
        rc.transform_in = aead(0xc3);
        lc.transform_in = aead(0xd4);
        rc.transform_out = aead(0xd4);
        let nl = left.rekey_child(&installed_left, &lc)?;
        let nr = right.rekey_child(&installed_right, &rc)?;
        let mut got = 0;
        for i in 0..3 {
            sender.send_to(format!("after rekey {i}").as_bytes(), "192.168.50.2:4789")?;
            let mut buf = [0u8; 64];
            if receiver.recv_from(&mut buf).is_ok() {
                got += 1;
            }
        }
        let out = left.sa_counters(&nl.sa_out)?;
        let inn = right.sa_counters(&nr.sa_in)?;
        if got == 0 || out.packets == 0 || inn.packets == 0 {
            bail!("new SAs carry no traffic: got {got}, out {out:?}, in {inn:?}");
        }
        left.remove_sas(&[installed_left.sa_in, installed_left.sa_out])?;
        right.remove_sas(&[installed_right.sa_in, installed_right.sa_out])?;
        let detail = format!(
            "new SPIs left in {} out {}; {got}/3 datagrams over the new SAs ({} out / {} in packets); old SAs removed",
            nl.sa_in.spi, nl.sa_out.spi, out.packets, inn.packets
        );
        Ok((nl, nr, detail))
    })();
    let (installed_left, installed_right) = match rekey {
        Ok((nl, nr, detail)) => {
            report.check("rekey_child", Ok(detail));
            (nl, nr)
        }
        Err(e) => {
            report.check("rekey_child", Err(e));
            (installed_left, installed_right)
        }
    };

    let removed = left
        .remove_child(&installed_left)
        .and_then(|()| right.remove_child(&installed_right));
    report.check(
        "remove_child",
        removed
            .map_err(anyhow::Error::from)
            .and_then(|()| nothing_left(&mut left, &left_child))
            .and_then(|()| {
                for id in [&installed_left.sa_in, &installed_left.sa_out] {
                    match left.get_sa(id) {
                        Err(e) if e.is_not_found() => {}
                        other => bail!("SA {} still there: {other:?}", id.spi),
                    }
                }
                Ok(())
            })
            .map(|()| "SAs and policies gone".to_string()),
    );

    // Offload modes on a veth (no xfrmdev_ops, esp-hw-offload off [fixed]).
    let mut fresh = child(
        "192.168.50.1",
        "192.168.50.2",
        Spi(0xc0000301),
        Spi(0xc0000302),
        false,
    );
    fresh.spi_in_allocated = false;

    let mut packet = fresh.clone();
    packet.hw_offload = HwOffload::Packet;
    let packet_result = match left.install_child(&packet) {
        Ok(c) => {
            let _ = left.remove_child(&c);
            Err(anyhow!(
                "packet offload on veth unexpectedly succeeded: {c:?}"
            ))
        }
        Err(e) => nothing_left(&mut left, &packet)
            .map(|()| format!("refused: {e}; nothing left installed")),
    };
    report.check("hw_offload=packet on veth fails", packet_result);

    let mut auto = fresh.clone();
    auto.hw_offload = HwOffload::Auto;
    let auto_result = match left.install_child(&auto) {
        Ok(c) => {
            let detail = describe_auto(&c);
            left.remove_child(&c)?;
            if c.offload == OffloadMode::None {
                Ok(detail)
            } else {
                Err(anyhow!("auto settled on {} on veth: {detail}", c.offload))
            }
        }
        Err(e) => Err(anyhow!("auto must not fail for lack of offload: {e}")),
    };
    report.check("hw_offload=auto on veth falls back", auto_result);

    let mut crypto = fresh.clone();
    crypto.hw_offload = HwOffload::Crypto;
    let crypto_result = match left.install_child(&crypto) {
        Ok(c) => {
            let _ = left.remove_child(&c);
            Err(anyhow!("crypto offload on veth unexpectedly succeeded"))
        }
        Err(e) if e.to_string().contains("esp-hw-offload") => {
            nothing_left(&mut left, &crypto).map(|()| format!("refused: {e}"))
        }
        Err(e) => Err(anyhow!("wrong reason: {e}")),
    };
    report.check(
        "hw_offload=crypto on veth fails naming the feature",
        crypto_result,
    );

    let bypass = {
        let index = link::ifindex("p0l")?;
        match left.install_ike_bypass(index, consts::AF_INET, &[500, 4500]) {
            Ok(ids) => {
                let n = ids.len();
                left.remove_policies(&ids)?;
                Ok(format!(
                    "{n} bypass policies accepted (kernel without policy offload checks?)"
                ))
            }
            Err(e) => Ok(format!("refused as expected on veth: {e}")),
        }
    };
    report.check("IKE bypass on offload device", bypass);

    Ok(report.failures)
}

fn describe_auto(c: &InstalledChild) -> String {
    format!(
        "settled on {} (SAs in={} out={}); fell back because: {}",
        c.offload,
        c.sa_in_offload,
        c.sa_out_offload,
        c.fallback_reasons.join(" | ")
    )
}
