//! Marks, output marks and interface ids on the netlink bytes, and shunt policies: which
//! object carries which attribute, as charon's child_sa.c and kernel_netlink_ipsec.c set them.
//!
//! Each request is decoded with the crate's own reply parser (a NEWSA/NEWPOLICY request has
//! the layout of the kernel's answer) and its attributes are walked byte by byte.

use std::net::IpAddr;

use iked_xfrm::client::{ChildInstall, child_policy_specs, child_sa_specs};
use iked_xfrm::consts::{XFRMA_IF_ID, XFRMA_MARK, XFRMA_SET_MARK, XFRMA_SET_MARK_MASK};
use iked_xfrm::msg;
use iked_xfrm::shunt::shunt_policy_specs;
use iked_xfrm::*;

const NLMSG_HDR: usize = 16;
const USERSA_INFO: usize = 224;
const USERPOLICY_INFO: usize = 168;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `(type, value)` of each netlink attribute after the fixed header.
fn attrs(bytes: &[u8], fixed: usize) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = &bytes[NLMSG_HDR + fixed..];
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]);
        assert!(len >= 4 && len <= rest.len(), "attribute length {len}");
        out.push((kind, rest[4..len].to_vec()));
        let step = (len.div_ceil(4) * 4).min(rest.len());
        rest = &rest[step..];
    }
    out
}

fn attr(list: &[(u16, Vec<u8>)], kind: u16) -> Option<Vec<u8>> {
    list.iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, v)| v.clone())
}

fn u32s(v: &[u8]) -> Vec<u32> {
    v.chunks_exact(4)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn child() -> ChildInstall {
    let local = ip("10.1.0.1");
    let remote = ip("10.1.0.2");
    ChildInstall {
        local,
        remote,
        mode: Mode::Tunnel,
        protocol: IpsecProtocol::Esp,
        reqid: 7,
        spi_in: Spi(0xc0000011),
        spi_in_allocated: false,
        spi_out: Spi(0xc0000012),
        transform_in: EspTransform::Aead {
            name: "rfc4106(gcm(aes))".into(),
            key: SecretKey::new(vec![0x11; 20]),
            icv_bits: 128,
        },
        transform_out: EspTransform::Aead {
            name: "rfc4106(gcm(aes))".into(),
            key: SecretKey::new(vec![0x22; 20]),
            icv_bits: 128,
        },
        esn: false,
        replay_window: 32,
        proto_port_transport_sa: false,
        lifetimes_in: Lifetimes::default(),
        lifetimes_out: Lifetimes::default(),
        selectors: vec![TrafficSelector::host_to_host(
            ip("192.168.10.0"),
            ip("192.168.20.0"),
        )],
        priority: None,
        policies_fwd_out: true,
        mark_in: Some(Mark {
            value: 0x10,
            mask: 0xff,
        }),
        mark_out: Some(Mark {
            value: 0x20,
            mask: 0xffff_ffff,
        }),
        if_id_in: Some(42),
        if_id_out: Some(43),
        set_mark_in: Some(Mark {
            value: 0x100,
            mask: 0xf00,
        }),
        set_mark_out: None,
        mark_in_sa: false,
        nat_t_ports: None,
        hw_offload: HwOffload::No,
        offload_device: None,
        acquire_seq: 0,
    }
}

#[test]
fn outbound_sa_has_mark_out_inbound_sa_has_no_mark_unless_mark_in_sa() {
    let c = child();
    let (sa_in, sa_out) = child_sa_specs(&c, OffloadMode::None, None, false, false);
    let out = msg::add_sa(&sa_out).unwrap();
    let a = attrs(out.as_bytes(), USERSA_INFO);
    assert_eq!(u32s(&attr(&a, XFRMA_MARK).unwrap()), [0x20, 0xffff_ffff]);
    assert_eq!(u32s(&attr(&a, XFRMA_IF_ID).unwrap()), [43]);
    assert!(attr(&a, XFRMA_SET_MARK).is_none(), "no set_mark_out");

    let inb = msg::add_sa(&sa_in).unwrap();
    let a = attrs(inb.as_bytes(), USERSA_INFO);
    assert!(
        attr(&a, XFRMA_MARK).is_none(),
        "charon: mark_in only with mark_in_sa"
    );
    assert_eq!(u32s(&attr(&a, XFRMA_IF_ID).unwrap()), [42]);
    assert_eq!(u32s(&attr(&a, XFRMA_SET_MARK).unwrap()), [0x100]);
    assert_eq!(u32s(&attr(&a, XFRMA_SET_MARK_MASK).unwrap()), [0xf00]);
    // The parser reads the same back.
    let state = iked_xfrm::parse::sa_state(&inb.as_bytes()[NLMSG_HDR..]).unwrap();
    assert_eq!(state.if_id, Some(42));
    assert_eq!(
        state.set_mark,
        Some(Mark {
            value: 0x100,
            mask: 0xf00
        })
    );

    let mut c = child();
    c.mark_in_sa = true;
    let (sa_in, _) = child_sa_specs(&c, OffloadMode::None, None, false, false);
    let a = attrs(msg::add_sa(&sa_in).unwrap().as_bytes(), USERSA_INFO);
    assert_eq!(u32s(&attr(&a, XFRMA_MARK).unwrap()), [0x10, 0xff]);
}

#[test]
fn policies_take_the_mark_and_if_id_of_their_direction() {
    let c = child();
    let policies = child_policy_specs(&c, OffloadMode::None, None);
    assert_eq!(policies.len(), 4, "in, out, fwd in, fwd out");
    for p in &policies {
        let bytes = msg::add_policy(p);
        let a = attrs(bytes.as_bytes(), USERPOLICY_INFO);
        let state = iked_xfrm::parse::policy_state(&bytes.as_bytes()[NLMSG_HDR..]).unwrap();
        // The outbound FWD policy has the local selector as its source.
        let outbound = p.selector.src == ip("192.168.10.0");
        let (mark, if_id) = if outbound {
            ([0x20, 0xffff_ffff], 43)
        } else {
            ([0x10, 0xff], 42)
        };
        assert_eq!(u32s(&attr(&a, XFRMA_MARK).unwrap()), mark, "{p:?}");
        assert_eq!(u32s(&attr(&a, XFRMA_IF_ID).unwrap()), [if_id], "{p:?}");
        assert_eq!(state.if_id, Some(if_id));
        assert!(
            attr(&a, XFRMA_SET_MARK).is_none(),
            "policies carry no output mark"
        );
    }
}

#[test]
fn drop_shunt_requests_block_without_templates_with_marks() {
    let any = ip("0.0.0.0");
    let mut ts =
        TrafficSelector::host_to_host(any, any).with_proto(17, Port::exact(4789), Port::ANY);
    ts.src_prefix = 0;
    ts.dst_prefix = 0;
    let shunt = ShuntInstall {
        kind: ShuntKind::Drop,
        selectors: vec![ts],
        priority: None,
        mark_in: Some(Mark { value: 1, mask: 1 }),
        mark_out: Some(Mark { value: 1, mask: 1 }),
        if_id_in: None,
        if_id_out: None,
        fwd_out: false,
    };
    let specs = shunt_policy_specs(&shunt);
    assert_eq!(specs.len(), 3);
    for p in &specs {
        let bytes = msg::add_policy(p);
        let state = iked_xfrm::parse::policy_state(&bytes.as_bytes()[NLMSG_HDR..]).unwrap();
        assert_eq!(state.action, 1, "XFRM_POLICY_BLOCK");
        assert!(state.template_reqids.is_empty(), "no template");
        assert_eq!(state.mark, Some(Mark { value: 1, mask: 1 }));
        assert_eq!(state.if_id, None);
        assert_eq!(state.selector.proto, 17);
        // charon's get_priority for POLICY_PRIORITY_FALLBACK: 3 * 200000 - 256 (proto)
        // - 4 * 16 (one exact port) - 1.
        assert_eq!(state.priority, 600_000 - 256 - 64 - 1);
    }
    let pass = ShuntInstall {
        kind: ShuntKind::Pass,
        ..shunt
    };
    for p in shunt_policy_specs(&pass) {
        let bytes = msg::add_policy(&p);
        let state = iked_xfrm::parse::policy_state(&bytes.as_bytes()[NLMSG_HDR..]).unwrap();
        assert_eq!(state.action, 0, "XFRM_POLICY_ALLOW");
        assert!(state.template_reqids.is_empty());
        assert_eq!(state.priority, 200_000 - 256 - 64 - 1);
    }
}
