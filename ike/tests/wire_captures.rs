//! The wire codec against real IKEv2 messages from strongSwan 5.9.8.
//!
//! Every message under `tests/captures/` (see its README.md for how each was produced) must
//! decode, re-encode to the identical bytes, and summarise exactly as the sending charon logged
//! it in the scenario's `charon-summary.txt`. Encrypted messages are checked through their
//! `*.inner.bin` plaintext (decrypted with the logged keys by `lab/decrypt.py`). Field-level
//! tests pin the seed configuration's values (PSK, `aes128-sha256-x25519`, ids host1/host2,
//! the `bf-in` child) as charon put them on the wire.

use std::net::Ipv4Addr;

use iked_ike::wire::{
    self, AddressRange, AttributeValue, ExchangeType, HashAlgorithm, IdType, IdView, NotifyType,
    Payload, PayloadBody, PayloadType, ProtocolId, TrafficSelector, TransformType, WireErrorKind,
    codes::{encr, esn, integ, ke, prf},
};

/// One captured message: file name, bytes, decrypted inner chain if it had an SK/SKF payload.
struct Capture {
    name: &'static str,
    bytes: &'static [u8],
    inner: Option<&'static [u8]>,
}

struct Scenario {
    name: &'static str,
    summary_log: &'static str,
    messages: &'static [Capture],
}

macro_rules! plain {
    ($dir:literal, $file:literal) => {
        Capture {
            name: concat!($dir, "/", $file, ".bin"),
            bytes: include_bytes!(concat!("captures/", $dir, "/", $file, ".bin")),
            inner: None,
        }
    };
}

macro_rules! sealed {
    ($dir:literal, $file:literal) => {
        Capture {
            name: concat!($dir, "/", $file, ".bin"),
            bytes: include_bytes!(concat!("captures/", $dir, "/", $file, ".bin")),
            inner: Some(include_bytes!(concat!(
                "captures/",
                $dir,
                "/",
                $file,
                ".inner.bin"
            ))),
        }
    };
}

macro_rules! scenario {
    ($dir:literal, [$($kind:ident $file:literal),* $(,)?]) => {
        Scenario {
            name: $dir,
            summary_log: include_str!(concat!("captures/", $dir, "/charon-summary.txt")),
            messages: &[$($kind!($dir, $file)),*],
        }
    };
}

fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!(
            "seed-child",
            [
                plain "01-IKE_SA_INIT-request-0",
                plain "02-IKE_SA_INIT-response-0",
                sealed "03-IKE_AUTH-request-1",
                sealed "04-IKE_AUTH-response-1",
                sealed "05-INFORMATIONAL-request-2",
                sealed "06-INFORMATIONAL-response-2",
            ]
        ),
        scenario!(
            "childless",
            [
                plain "01-IKE_SA_INIT-request-0",
                plain "02-IKE_SA_INIT-response-0",
                sealed "03-IKE_AUTH-request-1",
                sealed "04-IKE_AUTH-response-1",
                sealed "05-CREATE_CHILD_SA-request-2",
                sealed "06-CREATE_CHILD_SA-response-2",
                sealed "07-INFORMATIONAL-request-3",
                sealed "08-INFORMATIONAL-response-3",
            ]
        ),
        scenario!(
            "fragmented",
            [
                plain "01-IKE_SA_INIT-request-0",
                plain "02-IKE_SA_INIT-response-0",
                sealed "03-IKE_AUTH-request-1-frag1of3",
                sealed "04-IKE_AUTH-request-1-frag2of3",
                sealed "05-IKE_AUTH-request-1-frag3of3",
                sealed "06-IKE_AUTH-response-1",
                sealed "07-INFORMATIONAL-request-2",
                sealed "08-INFORMATIONAL-response-2",
            ]
        ),
        scenario!(
            "libipsec-tunnel",
            [
                plain "01-IKE_SA_INIT-request-0",
                plain "02-IKE_SA_INIT-response-0",
                sealed "03-IKE_AUTH-request-1",
                sealed "04-IKE_AUTH-response-1",
                sealed "05-CREATE_CHILD_SA-request-2",
                sealed "06-CREATE_CHILD_SA-response-2",
                sealed "07-INFORMATIONAL-request-3",
                sealed "08-INFORMATIONAL-response-3",
                sealed "09-CREATE_CHILD_SA-request-4",
                sealed "10-CREATE_CHILD_SA-response-4",
                sealed "11-INFORMATIONAL-request-5",
                sealed "12-INFORMATIONAL-response-5",
                sealed "13-INFORMATIONAL-request-0",
                sealed "14-INFORMATIONAL-response-0",
            ]
        ),
        scenario!(
            "invalid-ke",
            [
                plain "01-IKE_SA_INIT-request-0",
                plain "02-IKE_SA_INIT-response-0",
                plain "03-IKE_SA_INIT-request-0",
                plain "04-IKE_SA_INIT-response-0",
                sealed "05-IKE_AUTH-request-1",
                sealed "06-IKE_AUTH-response-1",
                sealed "07-INFORMATIONAL-request-2",
                sealed "08-INFORMATIONAL-response-2",
            ]
        ),
    ]
}

/// The `generating ...` summaries of one side of `charon-summary.txt`, in order.
fn generated(log: &str, side: &str) -> Vec<String> {
    let mut in_side = false;
    let mut out = Vec::new();
    for line in log.lines() {
        if let Some(header) = line.strip_prefix("# ") {
            in_side = header.starts_with(side);
        } else if in_side && let Some(summary) = line.strip_prefix("generating ") {
            out.push(summary.to_owned());
        }
    }
    out
}

fn capture(dir: &str, file: &str) -> &'static Capture {
    let scenarios: &'static [Scenario] = Box::leak(scenarios().into_boxed_slice());
    let scenario = scenarios.iter().find(|s| s.name == dir).unwrap();
    scenario
        .messages
        .iter()
        .find(|c| c.name.ends_with(&format!("/{file}.bin")))
        .unwrap()
}

#[test]
fn every_capture_round_trips_byte_for_byte() {
    for scenario in scenarios() {
        for c in scenario.messages {
            let decoded = wire::decode(c.bytes).unwrap_or_else(|e| panic!("{}: {e}", c.name));
            assert_eq!(
                decoded.message.encode().unwrap(),
                c.bytes,
                "{}: re-encoding differs",
                c.name
            );
            assert_eq!(decoded.message.encoded_len().unwrap(), c.bytes.len());
            if let Some(inner) = c.inner {
                let sk = decoded.sk.as_ref().expect("message has an SK/SKF payload");
                if sk.fragment.is_some() {
                    // A fragment's plaintext is a slice of the whole chain; the summary test
                    // reassembles and decodes it.
                    continue;
                }
                let payloads = wire::decode_inner(sk.first_inner, inner)
                    .unwrap_or_else(|e| panic!("{} inner: {e}", c.name));
                let (first, bytes) = wire::encode_inner(&payloads).unwrap();
                assert_eq!(bytes, inner, "{}: inner re-encoding differs", c.name);
                assert_eq!(first, sk.first_inner, "{}", c.name);
            } else {
                assert!(decoded.sk.is_none(), "{}: unexpected SK payload", c.name);
            }
        }
    }
}

#[test]
fn summaries_match_what_the_sending_charon_logged() {
    for scenario in scenarios() {
        let mut initiator = generated(scenario.summary_log, "left").into_iter();
        let mut responder = generated(scenario.summary_log, "right").into_iter();
        let mut reassembly: Option<(String, PayloadType, Vec<u8>)> = None;
        for c in scenario.messages {
            let decoded = wire::decode(c.bytes).unwrap();
            let message = &decoded.message;
            let log = if message.header.is_request() {
                &mut initiator
            } else {
                &mut responder
            };
            // charon logs the whole message before splitting it into EF fragments.
            if let Some((1, _)) = decoded.sk.as_ref().and_then(|s| s.fragment) {
                let whole = log.next().unwrap();
                reassembly = Some((whole, decoded.sk.as_ref().unwrap().first_inner, Vec::new()));
            }
            let expected = log
                .next()
                .unwrap_or_else(|| panic!("{}: no log line", c.name));
            let sk = decoded.sk.as_ref();
            let actual = match (sk, c.inner) {
                (Some(sk), Some(inner)) if sk.fragment.is_none() => {
                    let payloads = wire::decode_inner(sk.first_inner, inner).unwrap();
                    wire::summary(&message.header, &payloads)
                }
                _ => message.summary(),
            };
            assert_eq!(actual, expected, "{}", c.name);
            if let (Some(sk), Some(inner)) = (sk, c.inner)
                && let Some((number, total)) = sk.fragment
            {
                let (whole, first, buf) = reassembly.as_mut().unwrap();
                buf.extend_from_slice(inner);
                if number == total {
                    let payloads = wire::decode_inner(*first, buf).unwrap();
                    assert_eq!(
                        &wire::summary(&message.header, &payloads),
                        whole,
                        "{}",
                        c.name
                    );
                }
            }
        }
        assert!(
            initiator.next().is_none(),
            "{}: unmatched log lines",
            scenario.name
        );
        assert!(
            responder.next().is_none(),
            "{}: unmatched log lines",
            scenario.name
        );
    }
}

#[test]
fn seed_ike_sa_init_request_carries_the_seed_proposal() {
    let c = capture("seed-child", "01-IKE_SA_INIT-request-0");
    let m = wire::Message::decode(c.bytes).unwrap();
    assert_eq!(m.header.exchange, ExchangeType::IKE_SA_INIT);
    assert!(m.header.flags.initiator() && m.header.is_request());
    assert!(m.header.spi_r.is_zero());
    assert_eq!(m.header.message_id, 0);
    assert_eq!(
        c.bytes.len(),
        240,
        "the seed's log shows a 240-byte IKE_SA_INIT request"
    );
    let PayloadBody::SecurityAssociation(sa) = &m.payloads[0].body else {
        panic!("first payload is SA")
    };
    assert_eq!(sa.proposals.len(), 1);
    let p = &sa.proposals[0];
    assert_eq!((p.number, p.protocol, p.spi.len()), (1, ProtocolId::IKE, 0));
    let t: Vec<_> = p
        .transforms
        .iter()
        .map(|t| (t.transform_type, t.id, t.key_length()))
        .collect();
    // aes128-sha256-x25519 as charon expands it.
    assert_eq!(
        t,
        vec![
            (TransformType::ENCR, encr::AES_CBC, Some(128)),
            (TransformType::INTEG, integ::HMAC_SHA2_256_128, None),
            (TransformType::PRF, prf::HMAC_SHA2_256, None),
            (TransformType::KE, ke::CURVE_25519, None),
        ]
    );
    let PayloadBody::KeyExchange(kex) = &m.payloads[1].body else {
        panic!("KE")
    };
    assert_eq!((kex.group, kex.data.len()), (ke::CURVE_25519, 32));
    let PayloadBody::Nonce(nonce) = &m.payloads[2].body else {
        panic!("Ni")
    };
    assert_eq!(nonce.0.len(), 32);
    for natd in [
        NotifyType::NAT_DETECTION_SOURCE_IP,
        NotifyType::NAT_DETECTION_DESTINATION_IP,
    ] {
        assert_eq!(m.notify(natd).unwrap().data.len(), 20, "SHA-1 NAT-D hash");
    }
    assert!(
        m.notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
            .is_some()
    );
    assert!(m.notify(NotifyType::REDIRECT_SUPPORTED).is_some());
    let hashes = m
        .notify(NotifyType::SIGNATURE_HASH_ALGORITHMS)
        .unwrap()
        .signature_hash_algorithms()
        .unwrap();
    assert_eq!(
        hashes,
        vec![
            HashAlgorithm::SHA2_256,
            HashAlgorithm::SHA2_384,
            HashAlgorithm::SHA2_512,
            HashAlgorithm::IDENTITY
        ]
    );
}

#[test]
fn seed_ike_auth_request_carries_the_bf_in_child() {
    let c = capture("seed-child", "03-IKE_AUTH-request-1");
    let decoded = wire::decode(c.bytes).unwrap();
    assert_eq!(
        c.bytes.len(),
        256,
        "the seed's log shows a 256-byte IKE_AUTH request"
    );
    let sk = decoded.sk.unwrap();
    assert_eq!(sk.first_inner, PayloadType::ID_INITIATOR);
    assert_eq!(sk.payload_offset, 28, "SK directly follows the header");
    assert_eq!(sk.aad(), 0..32, "AAD = IKE header + SK generic header");
    assert_eq!(sk.body, 32..256);
    assert_eq!(sk.integrity_covered(16), 0..240);
    let inner = wire::decode_inner(sk.first_inner, c.inner.unwrap()).unwrap();
    let find = |t: PayloadType| {
        inner
            .iter()
            .find(|p| p.payload_type() == t)
            .map(|p| &p.body)
    };
    let Some(PayloadBody::IdInitiator(idi)) = find(PayloadType::ID_INITIATOR) else {
        panic!("IDi")
    };
    assert_eq!(idi.id_type, IdType::ID_FQDN);
    assert_eq!(idi.view(), IdView::Fqdn("host1"));
    let Some(PayloadBody::IdResponder(idr)) = find(PayloadType::ID_RESPONDER) else {
        panic!("IDr")
    };
    assert_eq!(idr.view(), IdView::Fqdn("host2"));
    let Some(PayloadBody::Auth(auth)) = find(PayloadType::AUTHENTICATION) else {
        panic!("AUTH")
    };
    assert_eq!(
        auth.method,
        wire::AuthMethod::SHARED_KEY_MESSAGE_INTEGRITY_CODE
    );
    assert_eq!(auth.data.len(), 32, "prf HMAC-SHA2-256 output");
    let Some(PayloadBody::SecurityAssociation(sa)) = find(PayloadType::SECURITY_ASSOCIATION) else {
        panic!("SA")
    };
    let p = &sa.proposals[0];
    assert_eq!((p.protocol, p.spi.len()), (ProtocolId::ESP, 4));
    // aes128gcm128-x25519-esn; charon leaves the KE transform out of IKE_AUTH child proposals.
    let t: Vec<_> = p
        .transforms
        .iter()
        .map(|t| (t.transform_type, t.id, t.key_length()))
        .collect();
    assert_eq!(
        t,
        vec![
            (TransformType::ENCR, encr::AES_GCM_16, Some(128)),
            (TransformType::ESN, esn::ESN, None),
        ]
    );
    // bf-in: local 192.168.50.1/24 [udp/4789], remote 192.168.50.2/24 [udp]. In transport mode
    // charon proposes its host addresses instead of the configured subnets (the seed's log shows
    // the resulting "TS 192.168.50.1/32 === 192.168.50.2/32").
    let host = |last: u8| {
        let a = Ipv4Addr::new(192, 168, 50, last);
        AddressRange::V4 { start: a, end: a }
    };
    let Some(PayloadBody::TsInitiator(tsi)) = find(PayloadType::TS_INITIATOR) else {
        panic!("TSi")
    };
    let Some(PayloadBody::TsResponder(tsr)) = find(PayloadType::TS_RESPONDER) else {
        panic!("TSr")
    };
    let TrafficSelector::Ip(tsi) = &tsi.selectors[0] else {
        panic!("IPv4 TSi")
    };
    let TrafficSelector::Ip(tsr) = &tsr.selectors[0] else {
        panic!("IPv4 TSr")
    };
    assert_eq!(
        (tsi.ip_protocol, tsi.start_port, tsi.end_port, tsi.addresses),
        (17, 4789, 4789, host(1))
    );
    assert_eq!(
        (tsr.ip_protocol, tsr.start_port, tsr.end_port, tsr.addresses),
        (17, 0, 65535, host(2))
    );
    let notifies: Vec<NotifyType> = inner
        .iter()
        .filter_map(Payload::as_notify)
        .map(|n| n.notify_type)
        .collect();
    assert_eq!(
        notifies,
        vec![
            NotifyType::INITIAL_CONTACT,
            NotifyType::USE_TRANSPORT_MODE,
            NotifyType::MULTIPLE_AUTH_SUPPORTED,
            NotifyType::EAP_ONLY_AUTHENTICATION,
            NotifyType::IKEV2_MESSAGE_ID_SYNC_SUPPORTED,
        ]
    );
}

#[test]
fn delete_and_invalid_ke_notify_decode_to_their_fields() {
    let c = capture("seed-child", "05-INFORMATIONAL-request-2");
    let sk = wire::decode(c.bytes).unwrap().sk.unwrap();
    let inner = wire::decode_inner(sk.first_inner, c.inner.unwrap()).unwrap();
    assert_eq!(inner.len(), 1);
    assert_eq!(inner[0].body, PayloadBody::Delete(wire::Delete::ike()));

    let c = capture("libipsec-tunnel", "07-INFORMATIONAL-request-3");
    let sk = wire::decode(c.bytes).unwrap().sk.unwrap();
    let inner = wire::decode_inner(sk.first_inner, c.inner.unwrap()).unwrap();
    let PayloadBody::Delete(d) = &inner[0].body else {
        panic!("D")
    };
    assert_eq!(
        (d.protocol, d.spi_size, d.spis.len()),
        (ProtocolId::ESP, 4, 1)
    );

    let c = capture("invalid-ke", "02-IKE_SA_INIT-response-0");
    let m = wire::Message::decode(c.bytes).unwrap();
    assert!(
        m.header.spi_r.is_zero(),
        "INVALID_KE_PAYLOAD is sent without a responder SPI"
    );
    let n = m.notify(NotifyType::INVALID_KE_PAYLOAD).unwrap();
    assert_eq!(
        n.data,
        ke::CURVE_25519.0.to_be_bytes(),
        "the group the responder wants"
    );

    let c = capture("invalid-ke", "01-IKE_SA_INIT-request-0");
    let m = wire::Message::decode(c.bytes).unwrap();
    let PayloadBody::KeyExchange(kex) = &m.payloads[1].body else {
        panic!("KE")
    };
    assert_eq!((kex.group, kex.data.len()), (ke::MODP_2048, 256));
}

#[test]
fn fragments_report_their_numbers_and_rebuild_the_envelope() {
    for (i, file) in [
        "03-IKE_AUTH-request-1-frag1of3",
        "04-IKE_AUTH-request-1-frag2of3",
        "05-IKE_AUTH-request-1-frag3of3",
    ]
    .iter()
    .enumerate()
    {
        let c = capture("fragmented", file);
        let decoded = wire::decode(c.bytes).unwrap();
        let sk = decoded.sk.unwrap();
        let number = i as u16 + 1;
        assert_eq!(sk.fragment, Some((number, 3)));
        assert_eq!(
            sk.aad(),
            0..36,
            "AAD includes the fragment number and total"
        );
        let expected_first = if number == 1 {
            PayloadType::ID_INITIATOR
        } else {
            PayloadType::NONE
        };
        assert_eq!(sk.first_inner, expected_first);
        let (rebuilt, loc) = wire::encode_sk_message_with_body(
            &decoded.message.header,
            &[],
            sk.first_inner,
            sk.fragment,
            &c.bytes[sk.body.clone()],
        )
        .unwrap();
        assert_eq!(rebuilt, c.bytes);
        assert_eq!(loc, sk);
    }
}

#[test]
fn sk_envelope_layout_matches_charons_messages() {
    let c = capture("libipsec-tunnel", "05-CREATE_CHILD_SA-request-2");
    let decoded = wire::decode(c.bytes).unwrap();
    let sk = decoded.sk.unwrap();
    let (zeroed, loc) = wire::encode_sk_message(
        &decoded.message.header,
        &[],
        wire::SkEnvelope {
            first_inner: sk.first_inner,
            fragment: None,
            body_len: sk.body.len(),
        },
    )
    .unwrap();
    assert_eq!(loc, sk);
    assert_eq!(
        zeroed[..loc.body.start],
        c.bytes[..sk.body.start],
        "header + SK header"
    );
    assert!(zeroed[loc.body.clone()].iter().all(|b| *b == 0));
}

#[test]
fn truncated_and_corrupted_captures_fail_cleanly() {
    for scenario in scenarios() {
        for c in scenario.messages {
            for len in 0..c.bytes.len() {
                assert!(
                    wire::decode(&c.bytes[..len]).is_err(),
                    "{} cut at {len}",
                    c.name
                );
            }
            let mut copy = c.bytes.to_vec();
            for i in 0..copy.len() {
                for flip in [0x01u8, 0x80, 0xff] {
                    copy[i] ^= flip;
                    // Whatever decodes must re-encode to the same bytes.
                    if let Ok(m) = wire::Message::decode(&copy) {
                        assert_eq!(m.encode().unwrap(), copy, "{} byte {i} ^ {flip:#x}", c.name);
                    }
                    copy[i] ^= flip;
                }
            }
            if let Some(inner) = c.inner {
                let first = wire::decode(c.bytes).unwrap().sk.unwrap().first_inner;
                let mut copy = inner.to_vec();
                for i in 0..copy.len() {
                    copy[i] ^= 0x5a;
                    if let Ok(p) = wire::decode_inner(first, &copy) {
                        assert_eq!(wire::encode_inner(&p).unwrap().1, copy);
                    }
                    copy[i] ^= 0x5a;
                }
            }
        }
    }
}

#[test]
fn unknown_critical_payload_is_reported_with_its_type() {
    let c = capture("seed-child", "01-IKE_SA_INIT-request-0");
    let mut m = wire::Message::decode(c.bytes).unwrap();
    let unknown = wire::UnknownPayload {
        payload_type: PayloadType(200),
        data: vec![1, 2, 3],
    };
    m.payloads.push(Payload {
        critical: false,
        reserved: 0,
        body: PayloadBody::Unknown(unknown.clone()),
    });
    let bytes = m.encode().unwrap();
    assert_eq!(
        wire::Message::decode(&bytes).unwrap(),
        m,
        "non-critical: kept"
    );
    m.payloads.last_mut().unwrap().critical = true;
    let bytes = m.encode().unwrap();
    let err = wire::decode(&bytes).unwrap_err();
    assert_eq!(
        err.kind,
        WireErrorKind::UnsupportedCriticalPayload {
            payload_type: PayloadType(200)
        }
    );
    assert_eq!(err.unsupported_critical_payload(), Some(PayloadType(200)));
    assert_eq!(
        err.offset,
        c.bytes.len(),
        "the unknown payload starts where the capture ended"
    );
}

#[test]
fn transform_attributes_keep_their_form() {
    let c = capture("libipsec-tunnel", "09-CREATE_CHILD_SA-request-4");
    let sk = wire::decode(c.bytes).unwrap().sk.unwrap();
    let inner = wire::decode_inner(sk.first_inner, c.inner.unwrap()).unwrap();
    let PayloadBody::SecurityAssociation(sa) = &inner[0].body else {
        panic!("SA first in an IKE rekey")
    };
    let p = &sa.proposals[0];
    assert_eq!(
        (p.protocol, p.spi.len()),
        (ProtocolId::IKE, 8),
        "new IKE SPI"
    );
    let encr = p.transforms_of(TransformType::ENCR).next().unwrap();
    assert_eq!(encr.attributes[0].value, AttributeValue::Short(128));
}
