//! ICMP selectors in XFRM policies: the kernel matches the message type in the source port
//! field and the code in the destination port field, so the IKE selector's `type << 8 | code`
//! port is split across both, a zero type or code matching any (charon's kernel-netlink
//! `ts2selector`).

use iked::daemon::kernel::xfrm_selector;
use iked_ike::ts::TrafficSelector;
use iked_xfrm::Port;

fn ts(text: &str, ports: (u16, u16)) -> TrafficSelector {
    let mut t = TrafficSelector::parse(text).expect("selector parses");
    (t.start_port, t.end_port) = ports;
    t
}

#[test]
fn echo_request_is_type_8_any_code() {
    // `[icmp/8]` as configured (2048) and as a peer may send it (the whole type, 0x0800-0x08ff).
    for ports in [(0x0800, 0x0800), (0x0800, 0x08ff)] {
        let src = ts("10.1.0.0/16[icmp]", ports);
        let dst = ts("10.2.0.0/16[icmp]", (0, 65535));
        let sel = xfrm_selector(&src, &dst);
        assert_eq!(sel.proto, 1);
        assert_eq!(sel.sport, Port::exact(8), "ports {ports:x?}");
        assert_eq!(sel.dport, Port::ANY, "ports {ports:x?}");
        // Whichever side carries it.
        let sel = xfrm_selector(&dst, &src);
        assert_eq!((sel.sport, sel.dport), (Port::exact(8), Port::ANY));
    }
}

#[test]
fn type_and_code_are_split() {
    let src = ts("10.1.0.0/16[icmp]", (0x0301, 0x0301));
    let dst = ts("10.2.0.0/16[icmp]", (0, 65535));
    let sel = xfrm_selector(&src, &dst);
    assert_eq!((sel.sport, sel.dport), (Port::exact(3), Port::exact(1)));
    let v6 = ts("2001:db8::/64[ipv6-icmp]", (128 << 8, 128 << 8));
    let any6 = ts("::/0", (0, 65535));
    let sel = xfrm_selector(&v6, &any6);
    assert_eq!(sel.proto, 58);
    assert_eq!((sel.sport, sel.dport), (Port::exact(128), Port::ANY));
}

#[test]
fn any_icmp_and_other_protocols_unchanged() {
    let src = ts("10.1.0.0/16[icmp]", (0, 65535));
    let dst = ts("10.2.0.0/16[icmp]", (0, 65535));
    let sel = xfrm_selector(&src, &dst);
    assert_eq!((sel.sport, sel.dport), (Port::ANY, Port::ANY));
    let src = ts("10.1.0.0/16[udp]", (0, 65535));
    let dst = ts("10.2.0.0/16[udp/4789]", (4789, 4789));
    let sel = xfrm_selector(&src, &dst);
    assert_eq!((sel.sport, sel.dport), (Port::ANY, Port::exact(4789)));
}
