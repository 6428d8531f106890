//! IKE_SA_INIT rows.

use super::common::*;
use crate::case::{Build, Case, Expect, Prot, Stage};
use crate::peer::Suite;
use crate::raw::{self, Payload, Tf, ex, flag, nt, pt, tf};

use Build::{Init, InitBytes};
use Expect::*;
use Prot::Plain;

/// IKE_SA_INIT requests.
pub(super) fn ike_sa_init() -> Vec<Case> {
    [
        init_header(),
        init_exchange_and_length(),
        init_payload_chain(),
        init_payload_presence(),
        init_sa_structure(),
        init_sa_transforms(),
        init_sa_choice(),
        init_ke_and_nonce(),
        init_notify_and_retransmission(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The fixed header: SPIs, flags and version.
fn init_header() -> Vec<Case> {
    vec![
        // ---- header
        case("init-legit", "7296 1.2", Init(|_, _, _| {}), InitAnswer),
        case(
            "init-legit-gcm",
            "7296 1.2, 5282",
            Init(|_, _, p| p[INIT_SA] = ike_sa(&Suite::Gcm16.transforms())),
            InitAnswer,
        ),
        case(
            "init-spi-i-zero",
            "7296 3.1 (SPI MUST NOT be zero)",
            Init(|_, h, _| h.spi_i = [0; 8]),
            Silence,
        ),
        case(
            "init-spi-r-nonzero",
            "7296 3.1 (SPIr MUST be zero in IKE_SA_INIT); charon: no such SA",
            Init(|_, h, _| h.spi_r = [7; 8]),
            Silence,
        ),
        case(
            "init-no-initiator-flag",
            "7296 3.1 (I flag of the original initiator)",
            Init(|_, h, _| h.flags = 0),
            Silence,
        ),
        case(
            "init-response-flag",
            "7296 2.21 (never answer a response)",
            Init(|_, h, _| h.flags = flag::INITIATOR | flag::RESPONSE),
            Silence,
        ),
        case(
            "init-version-flag",
            "7296 3.1 (V flag MUST be ignored)",
            Init(|_, h, _| h.flags = flag::INITIATOR | flag::VERSION),
            InitAnswer,
        ),
        case(
            "init-major-3",
            "7296 2.5 (higher major: INVALID_MAJOR_VERSION)",
            Init(|_, h, _| h.version = 0x30),
            Notify(nt::INVALID_MAJOR_VERSION, Plain),
        ),
        case(
            "init-major-15",
            "7296 2.5",
            Init(|_, h, _| h.version = 0xf0),
            Notify(nt::INVALID_MAJOR_VERSION, Plain),
        ),
        case(
            "init-major-1",
            "7296 2.5 (IKEv1 header: not ours)",
            Init(|_, h, _| h.version = 0x10),
            SilenceOr(nt::INVALID_MAJOR_VERSION),
        ),
        case(
            "init-major-0",
            "7296 2.5",
            Init(|_, h, _| h.version = 0x00),
            SilenceOr(nt::INVALID_MAJOR_VERSION),
        ),
        case(
            "init-minor-1",
            "7296 3.1 (minor version MUST be ignored)",
            Init(|_, h, _| h.version = 0x21),
            InitAnswer,
        ),
        case(
            "init-minor-15",
            "7296 3.1",
            Init(|_, h, _| h.version = 0x2f),
            InitAnswer,
        ),
    ]
}

/// The exchange type, message ID and length fields, and truncated messages.
fn init_exchange_and_length() -> Vec<Case> {
    vec![
        case(
            "init-exchange-0",
            "7296 3.1 (reserved exchange type)",
            Init(|_, h, _| h.exchange = 0),
            Silence,
        ),
        case(
            "init-exchange-99",
            "7296 3.1 (unassigned exchange type)",
            Init(|_, h, _| h.exchange = 99),
            Silence,
        ),
        case(
            "init-exchange-240",
            "7296 3.1 (private use)",
            Init(|_, h, _| h.exchange = 240),
            Silence,
        ),
        case(
            "init-exchange-ikev1-main",
            "7296 3.1",
            Init(|_, h, _| h.exchange = 2),
            Silence,
        ),
        case(
            "init-as-ike-auth",
            "7296 3.1 (IKE_AUTH for no SA)",
            Init(|_, h, _| h.exchange = ex::IKE_AUTH),
            Silence,
        ),
        case(
            "init-as-create-child",
            "7296 3.1 (CREATE_CHILD_SA for no SA)",
            Init(|_, h, _| h.exchange = ex::CREATE_CHILD_SA),
            Silence,
        ),
        case(
            "init-as-informational",
            "7296 3.1 (INFORMATIONAL for no SA)",
            Init(|_, h, _| h.exchange = ex::INFORMATIONAL),
            Silence,
        ),
        case(
            "init-mid-1",
            "7296 2.2 (IKE_SA_INIT is message 0); charon ignores other IDs",
            Init(|_, h, _| h.mid = 1),
            Silence,
        ),
        case(
            "init-mid-max",
            "7296 2.2",
            Init(|_, h, _| h.mid = u32::MAX),
            Silence,
        ),
        case(
            "init-length-short",
            "7296 3.1 (Length of the whole message)",
            Init(|_, h, _| h.length = Some(60)),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "init-length-long",
            "7296 3.1",
            Init(|_, h, _| h.length = Some(4000)),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "init-length-zero",
            "7296 3.1",
            Init(|_, h, _| h.length = Some(0)),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "init-length-max",
            "7296 3.1",
            Init(|_, h, _| h.length = Some(u32::MAX)),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "init-truncated-header",
            "7296 3.1 (shorter than a header)",
            InitBytes(|b| b.truncate(20)),
            Silence,
        ),
        case(
            "init-one-byte",
            "7296 3.1",
            InitBytes(|b| b.truncate(1)),
            Silence,
        ),
        case(
            "init-header-only",
            "7296 3.1, 2.21.1 (SA, KE, Ni missing); charon: INVALID_SYNTAX",
            InitBytes(|b| {
                b.truncate(28);
                b[16] = 0;
                b[24..28].copy_from_slice(&28u32.to_be_bytes());
            }),
            SYNTAX_PLAIN,
        ),
        case(
            "init-truncated-body",
            "7296 3.2 (payload past the end)",
            InitBytes(|b| {
                let n = b.len() - 10;
                b.truncate(n);
                b[24..28].copy_from_slice(&(n as u32).to_be_bytes());
            }),
            SYNTAX_PLAIN,
        ),
        case(
            "init-trailing-garbage",
            "7296 3.2 (bytes after the last payload)",
            InitBytes(|b| {
                b.extend_from_slice(&[0xee; 13]);
                let n = b.len() as u32;
                b[24..28].copy_from_slice(&n.to_be_bytes());
            }),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
    ]
}

/// The generic payload header chain: next payload, critical bit, payload lengths.
fn init_payload_chain() -> Vec<Case> {
    vec![
        // ---- payload chain
        case(
            "init-chain-runs-off",
            "7296 3.2 (last Next Payload names a payload that is not there)",
            Init(|_, _, p| {
                let last = p.len() - 1;
                p[last].next = Some(pt::SA);
            }),
            SYNTAX_PLAIN,
        ),
        case(
            "init-chain-next-loops-to-sk",
            "7296 3.14 (SK named but absent)",
            Init(|_, _, p| {
                let last = p.len() - 1;
                p[last].next = Some(pt::SK);
            }),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "init-unknown-noncritical",
            "7296 2.5 (skip unknown non-critical payloads)",
            Init(|_, _, p| p.push(unknown_payload(false))),
            InitAnswer,
        ),
        case(
            "init-unknown-noncritical-first",
            "7296 2.5",
            Init(|_, _, p| p.insert(0, unknown_payload(false))),
            InitAnswer,
        ),
        case(
            "init-unknown-critical",
            "7296 2.5 (critical: UNSUPPORTED_CRITICAL_PAYLOAD)",
            Init(|_, _, p| p.push(unknown_payload(true))),
            Notify(nt::UNSUPPORTED_CRITICAL_PAYLOAD, Plain),
        ),
        case(
            "init-unknown-critical-first",
            "7296 2.5",
            Init(|_, _, p| p.insert(0, unknown_payload(true))),
            Notify(nt::UNSUPPORTED_CRITICAL_PAYLOAD, Plain),
        ),
        case(
            "init-known-with-critical-bit",
            "7296 2.5 (critical bit on a known payload is fine)",
            Init(|_, _, p| p[INIT_NONCE].critical = true),
            InitAnswer,
        ),
        case(
            "init-reserved-flags-in-generic-header",
            "7296 3.2 (RESERVED MUST be ignored)",
            InitBytes(|b| b[29] = 0x7f),
            InitAnswer,
        ),
        case(
            "init-sa-length-zero",
            "7296 3.2 (Payload Length below 4)",
            Init(|_, _, p| p[INIT_SA].length = Some(0)),
            SYNTAX_PLAIN,
        ),
        case(
            "init-sa-length-3",
            "7296 3.2",
            Init(|_, _, p| p[INIT_SA].length = Some(3)),
            SYNTAX_PLAIN,
        ),
        case(
            "init-sa-length-4",
            "7296 3.3 (SA without a proposal header)",
            Init(|_, _, p| p[INIT_SA].length = Some(4)),
            SYNTAX_PLAIN,
        ),
        case(
            "init-nonce-length-past-end",
            "7296 3.2",
            Init(|_, _, p| p[INIT_NONCE].length = Some(400)),
            SYNTAX_PLAIN,
        ),
        case(
            "init-ke-length-short-by-4",
            "7296 3.2 (the chain shifts into the KE data)",
            Init(|_, _, p| {
                let n = p[INIT_KE].body.len() as u16;
                p[INIT_KE].length = Some(n);
            }),
            SYNTAX_PLAIN,
        ),
        case(
            "init-ke-length-long-by-4",
            "7296 3.2",
            Init(|_, _, p| {
                let n = p[INIT_KE].body.len() as u16 + 8;
                p[INIT_KE].length = Some(n);
            }),
            SYNTAX_PLAIN,
        ),
    ]
}

/// Missing, repeated and misplaced payloads.
fn init_payload_presence() -> Vec<Case> {
    vec![
        case(
            "init-missing-sa",
            "7296 1.2 (SA, KE, Ni required); charon: INVALID_SYNTAX",
            Init(|_, _, p| {
                p.remove(INIT_SA);
            }),
            SYNTAX_PLAIN,
        ),
        case(
            "init-missing-ke",
            "7296 1.2",
            Init(|_, _, p| {
                p.remove(INIT_KE);
            }),
            SYNTAX_PLAIN,
        ),
        case(
            "init-missing-nonce",
            "7296 1.2",
            Init(|_, _, p| {
                p.remove(INIT_NONCE);
            }),
            SYNTAX_PLAIN,
        ),
        case(
            "init-two-sa",
            "7296 1.2 (one SA payload)",
            Init(|_, _, p| {
                let x = p[INIT_SA].clone();
                p.insert(0, x);
            }),
            SYNTAX_PLAIN,
        ),
        case(
            "init-two-ke",
            "7296 1.2",
            Init(|_, _, p| {
                let x = p[INIT_KE].clone();
                p.insert(1, x);
            }),
            SYNTAX_PLAIN,
        ),
        case(
            "init-two-nonces",
            "7296 1.2",
            Init(|_, _, p| {
                let x = p[INIT_NONCE].clone();
                p.push(x);
            }),
            SYNTAX_PLAIN,
        ),
        case(
            "init-skf",
            "7383 2.5 (fragments only in protected exchanges)",
            InitBytes(|b| {
                // An SKF payload in place of the whole chain.
                b.truncate(28);
                b[16] = pt::SKF;
                b.extend_from_slice(&[pt::SA, 0, 0, 40, 0, 1, 0, 1]);
                b.extend_from_slice(&[0x55; 32]);
                let n = b.len() as u32;
                b[24..28].copy_from_slice(&n.to_be_bytes());
            }),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "init-sk",
            "7296 3.14 (no keys yet)",
            InitBytes(|b| {
                b.truncate(28);
                b[16] = pt::SK;
                b.extend_from_slice(&[pt::SA, 0, 0, 52]);
                b.extend_from_slice(&[0x55; 48]);
                let n = b.len() as u32;
                b[24..28].copy_from_slice(&n.to_be_bytes());
            }),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
    ]
}

/// The SA payload's structure: proposal and transform headers, attributes, protocol and SPI.
fn init_sa_structure() -> Vec<Case> {
    vec![
        // ---- SA
        case(
            "init-sa-no-proposals",
            "7296 3.3, 2.21.1 (nothing acceptable)",
            Init(|_, _, p| p[INIT_SA] = Payload::new(pt::SA, vec![])),
            OneOf(&[nt::NO_PROPOSAL_CHOSEN, nt::INVALID_SYNTAX], Plain),
        ),
        case(
            "init-sa-proposal-length-zero",
            "7296 3.3.1",
            Init(|_, _, p| p[INIT_SA].body[2..4].copy_from_slice(&[0, 0])),
            SYNTAX_PLAIN,
        ),
        case(
            "init-sa-proposal-length-past-end",
            "7296 3.3.1",
            Init(|_, _, p| p[INIT_SA].body[2..4].copy_from_slice(&[0x10, 0])),
            SYNTAX_PLAIN,
        ),
        case(
            "init-sa-transform-length-3",
            "7296 3.3.2",
            Init(|_, _, p| p[INIT_SA].body[8 + 2..8 + 4].copy_from_slice(&[0, 3])),
            SYNTAX_PLAIN,
        ),
        case(
            "init-sa-transform-length-past-end",
            "7296 3.3.2",
            Init(|_, _, p| p[INIT_SA].body[8 + 2..8 + 4].copy_from_slice(&[2, 0])),
            SYNTAX_PLAIN,
        ),
        case(
            "init-sa-transform-count-high",
            "7296 3.3.1 (Num Transforms)",
            Init(|_, _, p| p[INIT_SA].body[7] = 9),
            SYNTAX_PLAIN,
        ),
        case(
            "init-sa-transform-count-zero",
            "7296 3.3.1",
            Init(|_, _, p| p[INIT_SA].body[7] = 0),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "init-sa-attribute-truncated",
            "7296 3.3.5",
            Init(|_, _, p| {
                // ENCR's Key Length attribute cut to two bytes.
                let b = &mut p[INIT_SA].body;
                b[8 + 2..8 + 4].copy_from_slice(&[0, 10]);
                let n = (b.len() - 2) as u16;
                b[2..4].copy_from_slice(&n.to_be_bytes());
                b.remove(8 + 10);
                b.remove(8 + 10);
            }),
            SYNTAX_PLAIN,
        ),
        case(
            "init-sa-protocol-esp",
            "7296 3.3.1 (IKE SA needs protocol IKE)",
            Init(|_, _, p| {
                p[INIT_SA] = Payload::new(pt::SA, raw::proposal(1, 3, &[], &cbc(), true))
            }),
            OneOf(&[nt::NO_PROPOSAL_CHOSEN, nt::INVALID_SYNTAX], Plain),
        ),
        case(
            "init-sa-protocol-zero",
            "7296 3.3.1",
            Init(|_, _, p| {
                p[INIT_SA] = Payload::new(pt::SA, raw::proposal(1, 0, &[], &cbc(), true))
            }),
            OneOf(&[nt::NO_PROPOSAL_CHOSEN, nt::INVALID_SYNTAX], Plain),
        ),
        case(
            "init-sa-spi-size-3",
            "7296 3.3.1 (IKE SPI size 0 or 8)",
            Init(|_, _, p| {
                p[INIT_SA] = Payload::new(pt::SA, raw::proposal(1, 1, &[1, 2, 3], &cbc(), true))
            }),
            SYNTAX_PLAIN,
        ),
        case(
            "init-sa-spi-size-past-end",
            "7296 3.3.1",
            Init(|_, _, p| p[INIT_SA].body[6] = 200),
            SYNTAX_PLAIN,
        ),
    ]
}

/// Missing and unknown transforms and key lengths.
fn init_sa_transforms() -> Vec<Case> {
    vec![
        case(
            "init-sa-no-dh",
            "7296 3.3.3 (KE method required by config)",
            Init(|_, _, p| p[INIT_SA] = ike_sa(&cbc()[..3])),
            NO_PROPOSAL_PLAIN,
        ),
        case(
            "init-sa-no-prf",
            "7296 3.3.3 (PRF mandatory for IKE)",
            Init(|_, _, p| {
                let mut t = cbc();
                t.remove(1);
                p[INIT_SA] = ike_sa(&t);
            }),
            NO_PROPOSAL_PLAIN,
        ),
        case(
            "init-sa-no-encr",
            "7296 3.3.3",
            Init(|_, _, p| p[INIT_SA] = ike_sa(&cbc()[1..])),
            NO_PROPOSAL_PLAIN,
        ),
        case(
            "init-sa-no-integ",
            "7296 3.3.3 (a classic cipher needs integrity)",
            Init(|_, _, p| {
                let mut t = cbc();
                t.remove(2);
                p[INIT_SA] = ike_sa(&t);
            }),
            NO_PROPOSAL_PLAIN,
        ),
        case(
            "init-sa-unknown-encr",
            "7296 3.3.6",
            Init(|_, _, p| {
                let mut t = cbc();
                t[0] = (tf::ENCR, 999, None);
                p[INIT_SA] = ike_sa(&t);
            }),
            NO_PROPOSAL_PLAIN,
        ),
        case(
            "init-sa-aes-without-key-length",
            "7296 3.3.5, 3602 (AES needs Key Length)",
            Init(|_, _, p| {
                let mut t = cbc();
                t[0].2 = None;
                p[INIT_SA] = ike_sa(&t);
            }),
            NO_PROPOSAL_PLAIN,
        ),
        case(
            "init-sa-aes-key-length-100",
            "7296 3.3.5",
            Init(|_, _, p| {
                let mut t = cbc();
                t[0].2 = Some(100);
                p[INIT_SA] = ike_sa(&t);
            }),
            NO_PROPOSAL_PLAIN,
        ),
        case(
            "init-sa-unknown-transform-type",
            "7296 3.3.6 (unknown type: proposal unacceptable)",
            Init(|_, _, p| {
                let mut t = cbc();
                t.push((200, 1, None));
                p[INIT_SA] = ike_sa(&t);
            }),
            NO_PROPOSAL_PLAIN,
        ),
        case(
            "init-sa-gcm-with-integ",
            "7296 3.3.3, 5282 8 (AEAD with integrity is unacceptable)",
            Init(|_, _, p| {
                let mut t = Suite::Gcm16.transforms();
                t.push((tf::INTEG, tf::AUTH_HMAC_SHA2_256_128, None));
                p[INIT_SA] = ike_sa(&t);
            }),
            NO_PROPOSAL_PLAIN,
        ),
    ]
}

/// Proposal choice and very large SA payloads.
fn init_sa_choice() -> Vec<Case> {
    vec![
        case(
            "init-sa-second-proposal-good",
            "7296 3.3 (the responder picks an acceptable proposal)",
            Init(|_, _, p| {
                let mut body = raw::proposal(
                    1,
                    1,
                    &[],
                    &[
                        (tf::ENCR, 999, None),
                        (tf::PRF, 5, None),
                        (tf::DH, 31, None),
                    ],
                    false,
                );
                body.extend(raw::proposal(2, 1, &[], &cbc(), true));
                p[INIT_SA] = Payload::new(pt::SA, body);
            }),
            InitAnswer,
        ),
        case(
            "init-sa-proposal-number-zero",
            "7296 3.3.1 (first proposal is number 1); charon: INVALID_SYNTAX",
            Init(|_, _, p| p[INIT_SA].body[4] = 0),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "init-sa-100-proposals",
            "7296 3.3 (no limit on proposals)",
            Init(|_, _, p| {
                let mut body = Vec::new();
                for i in 1..=100u8 {
                    body.extend(raw::proposal(
                        i,
                        1,
                        &[],
                        &[
                            (tf::ENCR, 999, None),
                            (tf::PRF, 5, None),
                            (tf::DH, 31, None),
                        ],
                        false,
                    ));
                }
                body.extend(raw::proposal(101, 1, &[], &cbc(), true));
                p[INIT_SA] = Payload::new(pt::SA, body);
            }),
            InitAnswer,
        ),
        case(
            "init-sa-200-transforms",
            "7296 3.3 (no limit on transforms; strict)",
            Init(|_, _, p| {
                let mut t: Vec<Tf> = (0..200).map(|i| (tf::ENCR, 1000 + i, None)).collect();
                t.extend(cbc());
                p[INIT_SA] = Payload::new(pt::SA, raw::proposal(1, 1, &[], &t, true));
            }),
            InitAnswer,
        ),
        case(
            "init-sa-duplicate-transforms",
            "7296 3.3.6",
            Init(|_, _, p| {
                let mut t = cbc();
                t.extend(cbc());
                p[INIT_SA] = ike_sa(&t);
            }),
            InitAnswer,
        ),
    ]
}

/// The KE payload's group and data, and the nonce's length.
fn init_ke_and_nonce() -> Vec<Case> {
    vec![
        // ---- KE
        case(
            "init-ke-group-ecp256",
            "7296 1.2, 3.10.1 (INVALID_KE_PAYLOAD names the group wanted)",
            Init(|_, _, p| {
                p[INIT_KE] = Payload::new(pt::KE, raw::ke_body(tf::DH_ECP_256, &[4; 64]))
            }),
            Judge(|_, a| invalid_ke_31(a)),
        ),
        case(
            "init-ke-group-modp2048",
            "7296 1.2",
            Init(|_, _, p| {
                p[INIT_KE] = Payload::new(pt::KE, raw::ke_body(tf::DH_MODP_2048, &[9; 256]))
            }),
            Judge(|_, a| invalid_ke_31(a)),
        ),
        case(
            "init-ke-group-unknown",
            "7296 1.2",
            Init(|_, _, p| p[INIT_KE] = Payload::new(pt::KE, raw::ke_body(999, &[9; 32]))),
            Judge(|_, a| invalid_ke_31(a)),
        ),
        case(
            "init-ke-31-bytes",
            "8031 2 (x25519 public value is 32 octets); charon: NO_PROPOSAL_CHOSEN",
            Init(|_, _, p| p[INIT_KE].body.truncate(4 + 31)),
            KE_REFUSED,
        ),
        case(
            "init-ke-64-bytes",
            "8031 2",
            Init(|_, _, p| p[INIT_KE].body.extend_from_slice(&[1; 32])),
            KE_REFUSED,
        ),
        case(
            "init-ke-no-data",
            "8031 2",
            Init(|_, _, p| p[INIT_KE].body.truncate(4)),
            KE_REFUSED,
        ),
        case(
            "init-ke-2-bytes",
            "7296 3.4 (shorter than its header)",
            Init(|_, _, p| p[INIT_KE].body.truncate(2)),
            SYNTAX_PLAIN,
        ),
        case(
            "init-ke-all-zero-point",
            "8031 2 (all-zero shared secret MUST be refused); charon: NO_PROPOSAL_CHOSEN",
            Init(|_, _, p| p[INIT_KE] = Payload::new(pt::KE, raw::ke_body(31, &[0; 32]))),
            OneOf(&[nt::INVALID_SYNTAX, nt::NO_PROPOSAL_CHOSEN], Plain),
        ),
        case(
            "init-ke-reserved-set",
            "7296 3.4 (RESERVED MUST be ignored)",
            Init(|_, _, p| {
                p[INIT_KE].body[2] = 0xff;
                p[INIT_KE].body[3] = 0xff;
            }),
            InitAnswer,
        ),
        // ---- Nonce
        case(
            "init-nonce-15",
            "7296 2.10, 3.9 (16..256 octets)",
            Init(|_, _, p| p[INIT_NONCE].body.truncate(15)),
            SYNTAX_PLAIN,
        ),
        case(
            "init-nonce-empty",
            "7296 3.9",
            Init(|_, _, p| p[INIT_NONCE].body.clear()),
            SYNTAX_PLAIN,
        ),
        case(
            "init-nonce-16",
            "7296 3.9",
            Init(|_, _, p| p[INIT_NONCE].body.truncate(16)),
            InitAnswer,
        ),
        case(
            "init-nonce-256",
            "7296 3.9",
            Init(|_, _, p| p[INIT_NONCE].body.resize(256, 7)),
            InitAnswer,
        ),
        case(
            "init-nonce-257",
            "7296 3.9",
            Init(|_, _, p| p[INIT_NONCE].body.resize(257, 7)),
            SYNTAX_PLAIN,
        ),
        case(
            "init-nonce-2000",
            "7296 3.9",
            Init(|_, _, p| p[INIT_NONCE].body.resize(2000, 7)),
            SYNTAX_PLAIN,
        ),
    ]
}

/// Notify payloads in the request, and a retransmitted request.
fn init_notify_and_retransmission() -> Vec<Case> {
    vec![
        // ---- Notify
        case(
            "init-notify-unknown-status",
            "7296 3.10.1 (unknown status types ignored)",
            Init(|_, _, p| p.push(raw::notify(40000, &[1, 2, 3]))),
            InitAnswer,
        ),
        case(
            "init-notify-unknown-error",
            "7296 3.10.1 (unknown error types in a request ignored)",
            Init(|_, _, p| p.push(raw::notify(8000, &[]))),
            InitAnswer,
        ),
        case(
            "init-notify-unknown-spi-size-3",
            "7296 3.10.1 (an unknown status type is ignored whatever it carries)",
            Init(|_, _, p| {
                p.push(Payload::new(
                    pt::N,
                    raw::notify_body(1, &[1, 2, 3], 40000, &[]),
                ))
            }),
            InitAnswer,
        ),
        case(
            "init-notify-spi-past-end",
            "7296 3.10",
            Init(|_, _, p| p.push(Payload::new(pt::N, vec![0, 200, 0x9c, 0x40]))),
            SYNTAX_PLAIN,
        ),
        case(
            "init-notify-truncated",
            "7296 3.10 (shorter than its header)",
            Init(|_, _, p| p.push(Payload::new(pt::N, vec![0, 0]))),
            SYNTAX_PLAIN,
        ),
        case(
            "init-cookie-unsolicited",
            "7296 2.6 (a cookie not asked for is ignored)",
            Init(|_, _, p| p.insert(0, raw::notify(nt::COOKIE, &[5; 16]))),
            InitAnswer,
        ),
        case(
            "init-cookie-65",
            "7296 2.6 (cookies are 1..64 octets); charon: INVALID_SYNTAX",
            Init(|_, _, p| p.insert(0, raw::notify(nt::COOKIE, &[5; 65]))),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "init-nat-detection-5-bytes",
            "7296 2.23 (SHA-1 digest, 20 octets)",
            Init(|_, _, p| p.push(raw::notify(16388, &[1; 5]))),
            SYNTAX_PLAIN,
        ),
        case(
            "init-vendor-id-2000",
            "7296 3.12 (vendor IDs of any length)",
            Init(|_, _, p| p.push(Payload::new(pt::V, vec![0x42; 2000]))),
            InitAnswer,
        ),
        case(
            "init-certreq",
            "7296 3.7 (CERTREQ may come in IKE_SA_INIT)",
            Init(|_, _, p| p.push(Payload::new(pt::CERTREQ, vec![4; 21]))),
            InitAnswer,
        ),
        case(
            "init-certreq-empty",
            "7296 3.7 (Cert Encoding missing)",
            Init(|_, _, p| p.push(Payload::new(pt::CERTREQ, vec![]))),
            SYNTAX_PLAIN,
        ),
        // ---- retransmission
        case(
            "init-retransmitted",
            "7296 2.1 (same request: the same response)",
            Build::Custom(Stage::Fresh, |ctx| {
                let req = init_request(ctx.peer);
                again(ctx, req)
            }),
            Retransmit,
        ),
    ]
}

fn invalid_ke_31(answers: &[raw::Parsed]) -> Result<(), String> {
    let ok = answers.iter().any(|p| {
        p.is_response()
            && !p.protected
            && p.notify_data(nt::INVALID_KE_PAYLOAD).as_deref() == Some(&[0, 31][..])
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected INVALID_KE_PAYLOAD(31), got {}",
            answers
                .iter()
                .map(raw::Parsed::summary)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    }
}
