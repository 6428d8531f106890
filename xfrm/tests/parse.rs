//! The reply/event reader: a real kernel NACK with extended ack (captured, see the fixture's
//! header), hand-laid fixtures for the capped form and for EXPIRE with trailing attributes,
//! builder->parser round trips, and property tests that arbitrary or mutilated input never
//! panics.

use std::net::IpAddr;

use iked_xfrm::consts::*;
use iked_xfrm::msg::{self, PolicyAction, PolicySpec, SaSpec, TemplateSpec};
use iked_xfrm::parse::{self, XfrmEvent};
use iked_xfrm::*;
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/captures/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.split_whitespace())
        .map(|t| u8::from_str_radix(t, 16).unwrap())
        .collect()
}

#[test]
fn kernel_nack_with_extended_ack_gives_errno_and_text() {
    let datagram = fixture("kernel_nack_aead_not_found");
    let msgs: Vec<_> = parse::messages(&datagram)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(msgs.len(), 1);
    let m = msgs[0];
    assert_eq!(m.message_type, NLMSG_ERROR);
    assert_ne!(m.flags & NLM_F_ACK_TLVS, 0);
    let ack = parse::kernel_ack(m.flags, m.payload).unwrap();
    assert_eq!(ack.errno, libc::ENOSYS);
    assert_eq!(
        ack.message.as_deref(),
        Some("Requested AEAD algorithm not found")
    );
    let err = socket::ack_result(&m, XfrmObject::Other("test SA")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("Requested AEAD algorithm not found"),
        "{text}"
    );
    assert!(text.contains("errno 38"), "{text}");
    assert!(text.contains("test SA"), "{text}");
}

fn nlattr(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out
}

fn nlmsg(message_type: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
    out.extend_from_slice(&message_type.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&7u32.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn capped_nack_with_message_and_offset() {
    // Layout per include/uapi/linux/netlink.h: int error; struct nlmsghdr msg (capped);
    // then NLMSGERR_ATTR_MSG and NLMSGERR_ATTR_OFFS.
    let mut payload = (-libc::EINVAL).to_ne_bytes().to_vec();
    payload.extend_from_slice(&nlmsg(XFRM_MSG_NEWSA, 5, &[])[..16]);
    payload.extend(nlattr(
        NLMSGERR_ATTR_MSG,
        b"Mismatched SA and offload direction\0",
    ));
    payload.extend(nlattr(NLMSGERR_ATTR_OFFS, &372u32.to_ne_bytes()));
    let ack = parse::kernel_ack(NLM_F_CAPPED | NLM_F_ACK_TLVS, &payload).unwrap();
    assert_eq!(ack.errno, libc::EINVAL);
    assert_eq!(
        ack.message.as_deref(),
        Some("Mismatched SA and offload direction")
    );
    assert_eq!(ack.bad_attribute_offset, Some(372));
    assert_eq!(ack.request_seq, 7);

    // A plain ACK (error 0) has no TLVs and is success.
    let mut ok = 0i32.to_ne_bytes().to_vec();
    ok.extend_from_slice(&nlmsg(XFRM_MSG_NEWSA, 5, &[])[..16]);
    let ack = parse::kernel_ack(NLM_F_CAPPED, &ok).unwrap();
    assert_eq!(ack.errno, 0);
    assert_eq!(ack.message, None);
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sample_sa(direction: SaDirection) -> SaSpec {
    SaSpec {
        src: ip("192.168.50.1"),
        dst: ip("192.168.50.2"),
        spi: Spi(0xc60e98a2),
        protocol: IpsecProtocol::Esp,
        mode: Mode::Transport,
        reqid: 3,
        direction,
        selector: Some(TrafficSelector::host_to_host(
            ip("192.168.50.1"),
            ip("192.168.50.2"),
        )),
        transform: EspTransform::Aead {
            name: "rfc4106(gcm(aes))".into(),
            key: SecretKey::new(vec![9; 20]),
            icv_bits: 128,
        },
        esn: true,
        replay_window: 64,
        lifetimes: Lifetimes {
            soft_packets: Some(5),
            hard_packets: Some(10),
            soft_add_seconds: 3000,
            hard_add_seconds: 3600,
            ..Lifetimes::default()
        },
        mark: Some(Mark {
            value: 0x10,
            mask: 0xff,
        }),
        if_id: Some(4),
        set_mark: None,
        encap: None,
        offload: Some(OffloadRequest {
            ifindex: 5,
            packet: true,
        }),
        set_sa_dir: true,
        update: false,
        acquire_seq: 0,
    }
}

#[test]
fn sa_request_round_trips_through_the_reply_parser() {
    // NEWSA requests and GETSA replies share a layout, so the parser must read back what
    // the builder wrote.
    let spec = sample_sa(SaDirection::In);
    let req = msg::add_sa(&spec).unwrap();
    let m = parse::messages(req.as_bytes()).next().unwrap().unwrap();
    let state = parse::sa_state(m.payload).unwrap();
    assert_eq!(state.spi, spec.spi);
    assert_eq!(state.src, spec.src);
    assert_eq!(state.dst, spec.dst);
    assert_eq!(state.reqid, 3);
    assert_eq!(state.flags, XFRM_STATE_ESN);
    assert_eq!(state.limits, (u64::MAX, u64::MAX, 5, 10));
    assert_eq!(state.sa_dir, Some(XFRM_SA_DIR_IN));
    assert_eq!(state.mark, spec.mark);
    assert_eq!(state.if_id, Some(4));
    let replay = state.replay.unwrap();
    assert_eq!((replay.bmp_len, replay.replay_window), (2, 64));
    let offload = state.offload.unwrap();
    assert_eq!(offload.ifindex, 5);
    assert_eq!(offload.flags, XFRM_OFFLOAD_INBOUND | XFRM_OFFLOAD_PACKET);
    assert_eq!(state.offload_mode(), OffloadMode::Packet);

    // Outbound: strongSwan rules give window 0 with SA_DIR, no INBOUND flag.
    let out = msg::add_sa(&sample_sa(SaDirection::Out)).unwrap();
    let m = parse::messages(out.as_bytes()).next().unwrap().unwrap();
    let state = parse::sa_state(m.payload).unwrap();
    assert_eq!(state.replay.unwrap().replay_window, 0);
    assert_eq!(state.replay.unwrap().bmp_len, 0);
    assert_eq!(state.offload.unwrap().flags, XFRM_OFFLOAD_PACKET);
}

#[test]
fn crypto_offload_and_no_offload_read_back_as_such() {
    let mut spec = sample_sa(SaDirection::Out);
    spec.offload = Some(OffloadRequest {
        ifindex: 5,
        packet: false,
    });
    let req = msg::add_sa(&spec).unwrap();
    let m = parse::messages(req.as_bytes()).next().unwrap().unwrap();
    assert_eq!(
        parse::sa_state(m.payload).unwrap().offload_mode(),
        OffloadMode::Crypto
    );
    spec.offload = None;
    let req = msg::add_sa(&spec).unwrap();
    let m = parse::messages(req.as_bytes()).next().unwrap().unwrap();
    assert_eq!(
        parse::sa_state(m.payload).unwrap().offload_mode(),
        OffloadMode::None
    );
}

#[test]
fn expire_event_with_trailing_mark_and_sa_dir() {
    // struct xfrm_user_expire { struct xfrm_usersa_info state; __u8 hard; } (232 bytes),
    // then XFRMA_MARK and XFRMA_SA_DIR as build_expire() appends them (6.10+).
    let spec = sample_sa(SaDirection::Out);
    let req = msg::add_sa(&spec).unwrap();
    let usersa_info = &req.as_bytes()[16..16 + 224];
    let mut payload = usersa_info.to_vec();
    // counters as the kernel would report them at expiry
    payload[160..168].copy_from_slice(&1234u64.to_ne_bytes());
    payload[168..176].copy_from_slice(&5u64.to_ne_bytes());
    payload.push(0); // soft
    payload.extend_from_slice(&[0; 7]);
    let mut mark = 0x10u32.to_ne_bytes().to_vec();
    mark.extend_from_slice(&0xffu32.to_ne_bytes());
    payload.extend(nlattr(XFRMA_MARK, &mark));
    payload.extend(nlattr(XFRMA_SA_DIR, &[XFRM_SA_DIR_OUT]));
    let datagram = nlmsg(XFRM_MSG_EXPIRE, 0, &payload);
    let events = parse::events(&datagram);
    assert_eq!(events.len(), 1);
    match events[0].as_ref().unwrap() {
        XfrmEvent::Expire(e) => {
            assert!(!e.hard);
            assert_eq!(e.sa.spi, spec.spi);
            assert_eq!(e.sa.dst, spec.dst);
            assert_eq!(e.sa.counters.bytes, 1234);
            assert_eq!(e.sa.counters.packets, 5);
            assert_eq!(e.sa.sa_dir, Some(XFRM_SA_DIR_OUT));
            assert_eq!(e.sa.mark, spec.mark);
        }
        other => panic!("expected EXPIRE, got {other:?}"),
    }
    // The same with hard = 1.
    let mut hard = payload.clone();
    hard[224] = 1;
    let datagram = nlmsg(XFRM_MSG_EXPIRE, 0, &hard);
    assert!(matches!(
        parse::events(&datagram)[0],
        Ok(XfrmEvent::Expire(ref e)) if e.hard
    ));
}

#[test]
fn policy_request_round_trips_and_unknown_attributes_are_skipped() {
    let selector = TrafficSelector::host_to_host(ip("10.0.0.1"), ip("10.0.0.2")).with_proto(
        17,
        Port::ANY,
        Port::exact(4789),
    );
    let spec = PolicySpec {
        selector,
        direction: PolicyDirection::Out,
        priority: 366_911,
        action: PolicyAction::Allow,
        templates: vec![TemplateSpec {
            src: None,
            dst: None,
            spi: Some(Spi(1)),
            protocol: IpsecProtocol::Esp,
            mode: Mode::Transport,
            reqid: 9,
            optional: false,
        }],
        mark: None,
        if_id: None,
        offload_ifindex: Some(3),
        update: false,
    };
    let req = msg::add_policy(&spec);
    let mut bytes = req.as_bytes().to_vec();
    // Append an attribute type no kernel defines yet.
    bytes.extend(nlattr(200, &[1, 2, 3]));
    let len = bytes.len() as u32;
    bytes[0..4].copy_from_slice(&len.to_ne_bytes());
    let m = parse::messages(&bytes).next().unwrap().unwrap();
    let state = parse::policy_state(m.payload).unwrap();
    assert_eq!(state.selector, selector);
    assert_eq!(state.priority, 366_911);
    assert_eq!(state.template_reqids, vec![9]);
    assert_eq!(state.offload.unwrap().flags, XFRM_OFFLOAD_PACKET);
}

#[test]
fn truncated_and_lying_lengths_are_errors_not_panics() {
    let req = msg::add_sa(&sample_sa(SaDirection::In)).unwrap();
    let bytes = req.as_bytes();
    for cut in 0..bytes.len() {
        let _ = parse::messages(&bytes[..cut]).collect::<Vec<_>>();
        let _ = parse::sa_state(&bytes[16.min(cut)..cut]);
    }
    // nlmsg_len larger than the datagram
    let mut lying = bytes.to_vec();
    lying[0..4].copy_from_slice(&10_000u32.to_ne_bytes());
    assert!(matches!(
        parse::messages(&lying).next(),
        Some(Err(ParseError::BadLength { .. }))
    ));
    // nla_len pointing past the end
    let mut attr_lie = bytes[16..].to_vec();
    attr_lie[224..226].copy_from_slice(&5000u16.to_ne_bytes());
    assert!(parse::sa_state(&attr_lie).is_err());
    // echoed request longer than the NACK
    let mut nack = (-libc::EINVAL).to_ne_bytes().to_vec();
    let mut hdr = nlmsg(XFRM_MSG_NEWSA, 5, &[])[..16].to_vec();
    hdr[0..4].copy_from_slice(&4000u32.to_ne_bytes());
    nack.extend(hdr);
    assert!(parse::kernel_ack(NLM_F_ACK_TLVS, &nack).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1200)) {
        for m in parse::messages(&data).flatten() {
            let _ = parse::event(&m);
            let _ = parse::kernel_ack(m.flags, m.payload);
            let _ = parse::sa_state(m.payload);
            let _ = parse::policy_state(m.payload);
        }
        let _ = parse::events(&data);
        let _ = parse::sa_state(&data);
        let _ = parse::policy_state(&data);
        let _ = parse::kernel_ack(NLM_F_ACK_TLVS, &data);
        let _ = parse::kernel_ack(NLM_F_CAPPED | NLM_F_ACK_TLVS, &data);
        let _ = link::link_events(&data);
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        which in 0usize..4,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let mut bytes = match which {
            0 => msg::add_sa(&sample_sa(SaDirection::In)).unwrap().as_bytes().to_vec(),
            1 => msg::add_sa(&sample_sa(SaDirection::Out)).unwrap().as_bytes().to_vec(),
            2 => fixture("kernel_nack_aead_not_found"),
            _ => {
                let mut b = msg::add_sa(&sample_sa(SaDirection::Out)).unwrap().as_bytes().to_vec();
                b[4..6].copy_from_slice(&XFRM_MSG_EXPIRE.to_ne_bytes());
                b
            }
        };
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        for m in parse::messages(&bytes).flatten() {
            let _ = parse::event(&m);
            let _ = parse::kernel_ack(m.flags, m.payload);
            let _ = parse::sa_state(m.payload);
            let _ = parse::policy_state(m.payload);
        }
    }
}

#[test]
fn mapping_event_reports_new_peer_address_and_port() {
    // struct xfrm_user_mapping { struct xfrm_usersa_id id; __u32 reqid;
    //   xfrm_address_t old_saddr, new_saddr; __be16 old_sport, new_sport; } (64 bytes)
    let mut payload = Vec::new();
    let mut daddr = [0u8; 16];
    daddr[..4].copy_from_slice(&[192, 168, 50, 1]);
    payload.extend_from_slice(&daddr);
    payload.extend_from_slice(&0xc1234567u32.to_be_bytes());
    payload.extend_from_slice(&AF_INET.to_ne_bytes());
    payload.push(IPPROTO_ESP);
    payload.push(0);
    payload.extend_from_slice(&9u32.to_ne_bytes());
    let mut old = [0u8; 16];
    old[..4].copy_from_slice(&[198, 51, 100, 7]);
    let mut new = [0u8; 16];
    new[..4].copy_from_slice(&[198, 51, 100, 8]);
    payload.extend_from_slice(&old);
    payload.extend_from_slice(&new);
    payload.extend_from_slice(&4500u16.to_be_bytes());
    payload.extend_from_slice(&31000u16.to_be_bytes());
    assert_eq!(payload.len(), 64);
    let datagram = nlmsg(XFRM_MSG_MAPPING, 0, &payload);
    match parse::events(&datagram).remove(0).unwrap() {
        XfrmEvent::Mapping(m) => {
            assert_eq!(m.spi, Spi(0xc1234567));
            assert_eq!(m.dst, ip("192.168.50.1"));
            assert_eq!(m.reqid, 9);
            assert_eq!(m.old_src, ip("198.51.100.7"));
            assert_eq!(m.new_src, ip("198.51.100.8"));
            assert_eq!((m.old_sport, m.new_sport), (4500, 31000));
        }
        other => panic!("expected MAPPING, got {other:?}"),
    }
}
