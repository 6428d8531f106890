//! IKE_AUTH rows, SKF (RFC 7383) included.

use super::common::*;
use crate::case::{Build, Case, Expect, Prot, Stage, sa_of};
use crate::peer::{Peer, Suite, esp_pfs_transforms, esp_transforms};
use crate::raw::{self, Payload, ex, flag, nt, pt};

use Build::{Auth, Custom};
use Expect::*;
use Prot::Protected;

/// IKE_AUTH requests.
pub(super) fn ike_auth() -> Vec<Case> {
    [
        auth_authentication(),
        auth_identities_and_certs(),
        auth_child_proposals(),
        auth_traffic_selectors(),
        auth_inner_payloads(),
        auth_protection(),
        auth_header_and_retransmission(),
        auth_fragments(),
        auth_fragment_numbering(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The AUTH payload and which payloads the request carries.
fn auth_authentication() -> Vec<Case> {
    vec![
        case("auth-legit", "7296 1.2", Auth(|_, _, _, _| {}), Established),
        gcm(case(
            "auth-legit-gcm",
            "7296 1.2, 5282",
            Auth(|_, _, _, _| {}),
            Established,
        )),
        case(
            "auth-wrong-psk",
            "7296 2.15, 2.21.2 (AUTHENTICATION_FAILED)",
            Auth(|_, _, _, p| p[AUTH_AUTH].body[10] ^= 1),
            Notify(nt::AUTHENTICATION_FAILED, Protected),
        ),
        gcm(case(
            "auth-wrong-psk-gcm",
            "7296 2.15, 2.21.2",
            Auth(|_, _, _, p| p[AUTH_AUTH].body[10] ^= 1),
            Notify(nt::AUTHENTICATION_FAILED, Protected),
        )),
        case(
            "auth-auth-truncated",
            "7296 2.15",
            Auth(|_, _, _, p| p[AUTH_AUTH].body.truncate(12)),
            Notify(nt::AUTHENTICATION_FAILED, Protected),
        ),
        case(
            "auth-auth-no-data",
            "7296 2.15",
            Auth(|_, _, _, p| p[AUTH_AUTH].body.truncate(4)),
            Notify(nt::AUTHENTICATION_FAILED, Protected),
        ),
        case(
            "auth-auth-method-unknown",
            "7296 3.8",
            Auth(|_, _, _, p| p[AUTH_AUTH].body[0] = 99),
            Notify(nt::AUTHENTICATION_FAILED, Protected),
        ),
        case(
            "auth-auth-method-rsa",
            "7296 3.8 (method the config does not allow)",
            Auth(|_, _, _, p| p[AUTH_AUTH].body[0] = 1),
            Notify(nt::AUTHENTICATION_FAILED, Protected),
        ),
        case(
            "auth-auth-header-only",
            "7296 3.8 (shorter than its header)",
            Auth(|_, _, _, p| p[AUTH_AUTH].body.truncate(2)),
            SYNTAX,
        ),
        case(
            "auth-missing-auth",
            "7296 2.16 (no AUTH means EAP, not configured)",
            Auth(|_, _, _, p| {
                p.remove(AUTH_AUTH);
            }),
            Notify(nt::AUTHENTICATION_FAILED, Protected),
        ),
        case(
            "auth-missing-idi",
            "7296 1.2 (IDi required)",
            Auth(|_, _, _, p| {
                p.remove(AUTH_ID);
            }),
            SYNTAX,
        ),
        case(
            "auth-two-idi",
            "7296 1.2",
            Auth(|_, _, _, p| {
                let x = p[AUTH_ID].clone();
                p.insert(0, x);
            }),
            SYNTAX,
        ),
        case(
            "auth-two-auth",
            "7296 1.2",
            Auth(|_, _, _, p| {
                let x = p[AUTH_AUTH].clone();
                p.insert(1, x);
            }),
            SYNTAX,
        ),
    ]
}

/// Identities, certificates and certificate requests.
fn auth_identities_and_certs() -> Vec<Case> {
    vec![
        case(
            "auth-unknown-identity",
            "7296 2.15 (no config for this ID)",
            Auth(|peer, sa, _, p| set_id(peer, sa, p, raw::typed_body(2, b"nobody"))),
            Notify(nt::AUTHENTICATION_FAILED, Protected),
        ),
        case(
            "auth-id-type-unknown",
            "7296 3.5",
            Auth(|peer, sa, _, p| set_id(peer, sa, p, raw::typed_body(99, b"peer"))),
            Notify(nt::AUTHENTICATION_FAILED, Protected),
        ),
        case(
            "auth-id-ipv4-3-bytes",
            "7296 3.5 (ID_IPV4_ADDR is 4 octets)",
            Auth(|peer, sa, _, p| set_id(peer, sa, p, raw::typed_body(1, &[127, 0, 0]))),
            OneOf(&[nt::AUTHENTICATION_FAILED, nt::INVALID_SYNTAX], Protected),
        ),
        case(
            "auth-id-empty-data",
            "7296 3.5",
            Auth(|peer, sa, _, p| set_id(peer, sa, p, raw::typed_body(2, b""))),
            OneOf(&[nt::AUTHENTICATION_FAILED, nt::INVALID_SYNTAX], Protected),
        ),
        case(
            "auth-id-header-only",
            "7296 3.5 (shorter than its header)",
            Auth(|_, _, _, p| p[AUTH_ID].body.truncate(2)),
            SYNTAX,
        ),
        case(
            "auth-id-long",
            "7296 3.5 (a 4000-octet FQDN: no match, no crash)",
            Auth(|peer, sa, _, p| set_id(peer, sa, p, raw::typed_body(2, &[b'a'; 4000]))),
            Notify(nt::AUTHENTICATION_FAILED, Protected),
        ),
        case(
            "auth-idr-unknown",
            "7296 3.5 (IDr names nobody here)",
            Auth(|_, _, _, p| {
                p.insert(
                    1,
                    Payload::new(pt::IDR, raw::typed_body(2, b"someone-else")),
                )
            }),
            Notify(nt::AUTHENTICATION_FAILED, Protected),
        ),
        case(
            "auth-cert-garbage",
            "7296 3.6 (certificates are not used with PSK); charon ignores them",
            Auth(|_, _, _, p| {
                p.insert(
                    1,
                    Payload::new(pt::CERT, [&[4u8][..], &[0x30; 40]].concat()),
                )
            }),
            Established,
        ),
        case(
            "auth-cert-unknown-encoding",
            "7296 3.6",
            Auth(|_, _, _, p| p.insert(1, Payload::new(pt::CERT, vec![99, 1, 2, 3]))),
            Established,
        ),
        case(
            "auth-cert-empty",
            "7296 3.6 (Cert Encoding missing)",
            Auth(|_, _, _, p| p.insert(1, Payload::new(pt::CERT, vec![]))),
            SYNTAX,
        ),
        case(
            "auth-certreq-unknown-ca",
            "7296 3.7 (a CA we do not know is no error)",
            Auth(|_, _, _, p| {
                p.insert(
                    1,
                    Payload::new(pt::CERTREQ, [&[4u8][..], &[0x3c; 20]].concat()),
                )
            }),
            Established,
        ),
    ]
}

/// The first CHILD_SA's proposals.
fn auth_child_proposals() -> Vec<Case> {
    vec![
        case(
            "auth-child-no-proposals",
            "7296 1.2 (child refused, IKE SA stands)",
            Auth(|_, _, _, p| p[AUTH_SA].body.clear()),
            ChildRefused(&[nt::NO_PROPOSAL_CHOSEN, nt::INVALID_SYNTAX]),
        ),
        case(
            "auth-child-protocol-ike",
            "7296 3.3.1",
            Auth(|_, sa, _, p| {
                p[AUTH_SA] = Payload::new(
                    pt::SA,
                    raw::proposal(1, 1, &sa.child_spi_i, &esp_transforms(), true),
                )
            }),
            ChildRefused(CHILD_REFUSED),
        ),
        case(
            "auth-child-unknown-encr",
            "7296 3.3.6",
            Auth(|_, sa, _, p| {
                let mut t = esp_transforms();
                t[0].1 = 999;
                p[AUTH_SA] = Payload::new(pt::SA, raw::proposal(1, 3, &sa.child_spi_i, &t, true));
            }),
            EstablishedRefusing(&[nt::NO_PROPOSAL_CHOSEN]),
        ),
        case(
            "auth-child-spi-size-0",
            "7296 3.3.1 (ESP SPI is 4 octets)",
            Auth(|_, _, _, p| {
                p[AUTH_SA] = Payload::new(pt::SA, raw::proposal(1, 3, &[], &esp_transforms(), true))
            }),
            OneOf(&[nt::INVALID_SYNTAX, nt::NO_PROPOSAL_CHOSEN], Protected),
        ),
        case(
            "auth-child-spi-size-8",
            "7296 3.3.1",
            Auth(|_, _, _, p| {
                p[AUTH_SA] = Payload::new(
                    pt::SA,
                    raw::proposal(1, 3, &[1; 8], &esp_transforms(), true),
                )
            }),
            OneOf(&[nt::INVALID_SYNTAX, nt::NO_PROPOSAL_CHOSEN], Protected),
        ),
        case(
            "auth-child-transform-length-bad",
            "7296 3.3.2",
            Auth(|_, _, _, p| p[AUTH_SA].body[12 + 3] = 200),
            SYNTAX,
        ),
        case(
            "auth-child-with-dh",
            "7296 1.2 (a KE method in IKE_AUTH's child proposal is ignored)",
            Auth(|_, sa, _, p| {
                p[AUTH_SA] = Payload::new(
                    pt::SA,
                    raw::proposal(1, 3, &sa.child_spi_i, &esp_pfs_transforms(), true),
                )
            }),
            Established,
        ),
    ]
}

/// The first CHILD_SA's traffic selectors.
fn auth_traffic_selectors() -> Vec<Case> {
    vec![
        case(
            "auth-ts-count-zero",
            "7296 3.13 (no selectors: TS_UNACCEPTABLE)",
            Auth(|_, _, _, p| p[AUTH_TSI] = Payload::new(pt::TSI, raw::ts_body(0, &[]))),
            ChildRefused(CHILD_REFUSED),
        ),
        case(
            "auth-ts-count-high",
            "7296 3.13 (Number of TSs larger than the payload)",
            Auth(|_, _, _, p| p[AUTH_TSI].body[0] = 3),
            SYNTAX,
        ),
        case(
            "auth-ts-count-low",
            "7296 3.13 (trailing selector not counted)",
            Auth(|_, _, _, p| {
                p[AUTH_TSI] = Payload::new(pt::TSI, raw::ts_body(1, &[our_ts(), our_ts()]))
            }),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "auth-ts-selector-length-12",
            "7296 3.13.1 (IPv4 selector is 16 octets)",
            Auth(|_, _, _, p| p[AUTH_TSI].body[4 + 3] = 12),
            SYNTAX,
        ),
        case(
            "auth-ts-selector-length-past-end",
            "7296 3.13.1",
            Auth(|_, _, _, p| p[AUTH_TSI].body[4 + 3] = 200),
            SYNTAX,
        ),
        case(
            "auth-ts-start-after-end",
            "7296 3.13.1 (empty range)",
            Auth(|_, _, _, p| {
                p[AUTH_TSI] = ts(pt::TSI, &[raw::ts4(0, [10, 2, 255, 255], [10, 2, 0, 0])])
            }),
            ChildRefused(CHILD_REFUSED),
        ),
        case(
            "auth-ts-port-start-after-end",
            "7296 3.13.1",
            Auth(|_, _, _, p| {
                let mut s = our_ts();
                s[4..8].copy_from_slice(&[0x10, 0, 0, 1]);
                p[AUTH_TSI] = ts(pt::TSI, &[s]);
            }),
            ChildRefused(CHILD_REFUSED),
        ),
        case(
            "auth-ts-type-unknown",
            "7296 3.13.1",
            Auth(|_, _, _, p| {
                let mut s = our_ts();
                s[0] = 99;
                p[AUTH_TSI] = ts(pt::TSI, &[s]);
            }),
            OneOf(&[nt::INVALID_SYNTAX, nt::TS_UNACCEPTABLE], Protected),
        ),
        case(
            "auth-ts-ipv6-16-octets",
            "7296 3.13.1 (IPv6 selector is 40 octets)",
            Auth(|_, _, _, p| {
                let mut s = our_ts();
                s[0] = 8;
                p[AUTH_TSI] = ts(pt::TSI, &[s]);
            }),
            SYNTAX,
        ),
        case(
            "auth-ts-outside-config",
            "7296 2.9 (TS_UNACCEPTABLE)",
            Auth(|_, _, _, p| {
                p[AUTH_TSI] = ts(pt::TSI, &[raw::ts4(0, [10, 9, 0, 0], [10, 9, 255, 255])])
            }),
            EstablishedRefusing(&[nt::TS_UNACCEPTABLE]),
        ),
        case(
            "auth-ts-missing-tsr",
            "7296 1.2 (SA, TSi, TSr together)",
            Auth(|_, _, _, p| {
                p.remove(AUTH_TSR);
            }),
            Refused,
        ),
        case(
            "auth-ts-200-selectors",
            "7296 3.13 (no cap on selectors; strict)",
            Auth(|_, _, _, p| {
                let mut sels: Vec<Vec<u8>> = (0..199u32)
                    .map(|i| {
                        raw::ts4(
                            17,
                            [172, 16, (i >> 8) as u8, i as u8],
                            [172, 16, (i >> 8) as u8, i as u8],
                        )
                    })
                    .collect();
                sels.push(our_ts());
                p[AUTH_TSI] = Payload::new(pt::TSI, raw::ts_body(200, &sels));
            }),
            Established,
        ),
    ]
}

/// The payload chain inside SK.
fn auth_inner_payloads() -> Vec<Case> {
    vec![
        case(
            "auth-unknown-critical",
            "7296 2.5 (UNSUPPORTED_CRITICAL_PAYLOAD, protected; strict)",
            Auth(|_, _, _, p| p.push(unknown_payload(true))),
            Notify(nt::UNSUPPORTED_CRITICAL_PAYLOAD, Protected),
        ),
        case(
            "auth-unknown-noncritical",
            "7296 2.5",
            Auth(|_, _, _, p| p.push(unknown_payload(false))),
            Established,
        ),
        case(
            "auth-inner-length-past-end",
            "7296 2.21.2 (protected INVALID_SYNTAX; strict)",
            Auth(|_, _, _, p| p[AUTH_TSR].length = Some(300)),
            SYNTAX,
        ),
        case(
            "auth-inner-length-zero",
            "7296 2.21.2 (strict)",
            Auth(|_, _, _, p| p[AUTH_SA].length = Some(0)),
            SYNTAX,
        ),
        case(
            "auth-inner-chain-runs-off",
            "7296 2.21.2 (strict)",
            Auth(|_, _, _, p| p[AUTH_TSR].next = Some(pt::N)),
            SYNTAX,
        ),
        case(
            "auth-inner-empty",
            "7296 2.21.2 (an SK payload with nothing in it)",
            Custom(Stage::HalfOpen, |ctx| {
                let sa = sa_of(&mut ctx.sa)?;
                let h = Peer::header(sa, ex::IKE_AUTH, 1);
                Ok(vec![ctx.peer.seal_raw(sa, &h, pt::NONE, &[])?])
            }),
            SYNTAX,
        ),
        case(
            "auth-inner-garbage",
            "7296 2.21.2 (strict)",
            Custom(Stage::HalfOpen, |ctx| {
                let sa = sa_of(&mut ctx.sa)?;
                let h = Peer::header(sa, ex::IKE_AUTH, 1);
                Ok(vec![ctx.peer.seal_raw(sa, &h, pt::IDI, &[0xff; 64])?])
            }),
            SYNTAX,
        ),
    ]
}

/// The SK payload's integrity, encryption and framing.
fn auth_protection() -> Vec<Case> {
    vec![
        case(
            "auth-bad-icv",
            "7296 3.14 (integrity failure: discard silently)",
            Custom(Stage::HalfOpen, |ctx| {
                let mut m = ike_auth_sealed(ctx)?;
                flip_last(&mut m);
                Ok(vec![m])
            }),
            Silence,
        ),
        gcm(case(
            "auth-bad-icv-gcm",
            "7296 3.14, 5282",
            Custom(Stage::HalfOpen, |ctx| {
                let mut m = ike_auth_sealed(ctx)?;
                flip_last(&mut m);
                Ok(vec![m])
            }),
            Silence,
        )),
        case(
            "auth-bad-ciphertext",
            "7296 3.14",
            Custom(Stage::HalfOpen, |ctx| {
                let mut m = ike_auth_sealed(ctx)?;
                if let Some(b) = m.get_mut(60) {
                    *b ^= 0x80;
                }
                Ok(vec![m])
            }),
            Silence,
        ),
        case(
            "auth-header-tampered",
            "7296 3.14 (the header is authenticated)",
            Custom(Stage::HalfOpen, |ctx| {
                let mut m = ike_auth_sealed(ctx)?;
                m[19] |= flag::VERSION;
                Ok(vec![m])
            }),
            Silence,
        ),
        case(
            "auth-sk-truncated",
            "7296 3.14 (shorter than IV and ICV)",
            Custom(Stage::HalfOpen, |ctx| {
                let mut m = ike_auth_sealed(ctx)?;
                m.truncate(28 + 4 + 8);
                m[30..32].copy_from_slice(&12u16.to_be_bytes());
                m[24..28].copy_from_slice(&40u32.to_be_bytes());
                Ok(vec![m])
            }),
            Silence,
        ),
        case(
            "auth-sk-length-wrong",
            "7296 3.14",
            Custom(Stage::HalfOpen, |ctx| {
                let mut m = ike_auth_sealed(ctx)?;
                m[30..32].copy_from_slice(&9000u16.to_be_bytes());
                Ok(vec![m])
            }),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "auth-cleartext",
            "7296 1.2 (IKE_AUTH is always encrypted)",
            Custom(Stage::HalfOpen, |ctx| {
                let sa = sa_of(&mut ctx.sa)?;
                let inner = ctx.peer.auth_payloads(sa);
                Ok(vec![raw::message(
                    &Peer::header(sa, ex::IKE_AUTH, 1),
                    &inner,
                )])
            }),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "auth-plain-notify-before-sk",
            "7296 3.14 (payloads outside SK in IKE_AUTH)",
            Custom(Stage::HalfOpen, |ctx| {
                let sa = sa_of(&mut ctx.sa)?;
                let inner = ctx.peer.auth_payloads(sa);
                let (first, plain) = raw::chain(&inner);
                let h = Peer::header(sa, ex::IKE_AUTH, 1);
                let sealed = ctx.peer.seal_raw(sa, &h, first, &plain)?;
                // Rebuild with N before SK; the SK body no longer authenticates, so either way
                // the message is dropped or refused.
                let mut m = sealed[..28].to_vec();
                m[16] = pt::N;
                let n = raw::notify_body(0, &[], 40000, &[]);
                m.extend_from_slice(&[pt::SK, 0, 0, (4 + n.len()) as u8]);
                m.extend_from_slice(&n);
                m.extend_from_slice(&sealed[28..]);
                let len = m.len() as u32;
                m[24..28].copy_from_slice(&len.to_be_bytes());
                Ok(vec![m])
            }),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
    ]
}

/// Header fields of IKE_AUTH, exchanges out of order, retransmission and replay.
fn auth_header_and_retransmission() -> Vec<Case> {
    vec![
        case(
            "auth-unknown-spi-r",
            "7296 2.21.4 (no such SA: drop or INVALID_IKE_SPI)",
            Auth(|_, _, h, _| h.spi_r = [0x11; 8]),
            SilenceOr(nt::INVALID_IKE_SPI),
        ),
        case(
            "auth-unknown-spi-i",
            "7296 2.21.4",
            Auth(|_, _, h, _| h.spi_i = [0x22; 8]),
            SilenceOr(nt::INVALID_IKE_SPI),
        ),
        case(
            "auth-mid-2",
            "7296 2.3 (outside the window: drop)",
            Auth(|_, _, h, _| h.mid = 2),
            Silence,
        ),
        case(
            "auth-mid-max",
            "7296 2.3",
            Auth(|_, _, h, _| h.mid = u32::MAX),
            Silence,
        ),
        case(
            "auth-response-flag",
            "7296 2.21 (a response to nothing we sent)",
            Auth(|_, _, h, _| h.flags |= flag::RESPONSE),
            Silence,
        ),
        case(
            "auth-no-initiator-flag",
            "7296 3.1 (wrong role: no such SA)",
            Auth(|_, _, h, _| h.flags = 0),
            Silence,
        ),
        case(
            "auth-major-3",
            "7296 2.5",
            Auth(|_, _, h, _| h.version = 0x30),
            SilenceOr(nt::INVALID_MAJOR_VERSION),
        ),
        case(
            "auth-as-create-child",
            "7296 1.3 (CREATE_CHILD_SA before IKE_AUTH)",
            Auth(|_, _, h, _| h.exchange = ex::CREATE_CHILD_SA),
            Refused,
        ),
        case(
            "auth-as-informational",
            "7296 1.4 (INFORMATIONAL before IKE_AUTH)",
            Auth(|_, _, h, _| h.exchange = ex::INFORMATIONAL),
            Refused,
        ),
        case(
            "auth-create-child-before-auth",
            "7296 1.3 (a well-formed CREATE_CHILD_SA before IKE_AUTH)",
            Custom(Stage::HalfOpen, |ctx| {
                let inner = child_payloads(ctx.peer);
                let sa = sa_of(&mut ctx.sa)?;
                let h = Peer::header(sa, ex::CREATE_CHILD_SA, 1);
                Ok(vec![ctx.peer.seal(sa, &h, &inner)?])
            }),
            Refused,
        ),
        case(
            "auth-retransmitted",
            "7296 2.1 (same request: the same response)",
            Custom(Stage::HalfOpen, |ctx| {
                let m = ike_auth_sealed(ctx)?;
                again(ctx, m)
            }),
            Retransmit,
        ),
        case(
            "auth-replayed-on-new-sa",
            "7296 3.14 (keys of another SA)",
            Custom(Stage::HalfOpen, |ctx| {
                let mut m = ike_auth_sealed(ctx)?;
                // Same bytes under the SPI of a fresh half-open SA: its keys differ.
                let other = ctx.peer.init(Suite::CbcSha256)?;
                m[..8].copy_from_slice(&other.spi_i);
                m[8..16].copy_from_slice(&other.spi_r);
                ctx.sa = Some(other);
                Ok(vec![m])
            }),
            Silence,
        ),
    ]
}

/// SKF (RFC 7383) on IKE_AUTH: reassembly.
fn auth_fragments() -> Vec<Case> {
    vec![
        // ---- SKF (RFC 7383) on IKE_AUTH
        case(
            "skf-three-fragments",
            "7383 2.5",
            Custom(Stage::HalfOpen, |ctx| {
                skf(ctx, 3, &[(0, 1, 3), (1, 2, 3), (2, 3, 3)])
            }),
            Established,
        ),
        gcm(case(
            "skf-three-fragments-gcm",
            "7383 2.5",
            Custom(Stage::HalfOpen, |ctx| {
                skf(ctx, 3, &[(0, 1, 3), (1, 2, 3), (2, 3, 3)])
            }),
            Established,
        )),
        case(
            "skf-one-of-one",
            "7383 2.5",
            Custom(Stage::HalfOpen, |ctx| skf(ctx, 1, &[(0, 1, 1)])),
            Established,
        ),
        case(
            "skf-reordered",
            "7383 2.6 (any order)",
            Custom(Stage::HalfOpen, |ctx| {
                skf(ctx, 3, &[(2, 3, 3), (0, 1, 3), (1, 2, 3)])
            }),
            Established,
        ),
        case(
            "skf-duplicate-fragment",
            "7383 2.6 (duplicates discarded)",
            Custom(Stage::HalfOpen, |ctx| {
                skf(ctx, 3, &[(0, 1, 3), (0, 1, 3), (1, 2, 3), (2, 3, 3)])
            }),
            Established,
        ),
        case(
            "skf-missing-fragment",
            "7383 2.6 (incomplete: no answer)",
            Custom(Stage::HalfOpen, |ctx| skf(ctx, 3, &[(0, 1, 3), (2, 3, 3)])),
            Silence,
        ),
    ]
}

/// SKF (RFC 7383) on IKE_AUTH: fragment numbers, totals and integrity.
fn auth_fragment_numbering() -> Vec<Case> {
    vec![
        case(
            "skf-total-zero",
            "7383 2.5 (Total Fragments 0 is invalid)",
            Custom(Stage::HalfOpen, |ctx| skf(ctx, 1, &[(0, 1, 0)])),
            Silence,
        ),
        case(
            "skf-number-zero",
            "7383 2.5 (Fragment Number starts at 1)",
            Custom(Stage::HalfOpen, |ctx| skf(ctx, 2, &[(0, 0, 2), (1, 2, 2)])),
            Silence,
        ),
        case(
            "skf-number-above-total",
            "7383 2.6",
            Custom(Stage::HalfOpen, |ctx| {
                skf(ctx, 3, &[(0, 1, 3), (1, 2, 3), (2, 4, 3)])
            }),
            Silence,
        ),
        case(
            "skf-mixed-totals",
            "7383 2.6.1 (a smaller total is discarded)",
            Custom(Stage::HalfOpen, |ctx| {
                skf(ctx, 3, &[(0, 1, 4), (1, 2, 4), (2, 3, 3)])
            }),
            Silence,
        ),
        case(
            "skf-total-grows",
            "7383 2.6.1 (a larger total restarts reassembly)",
            Custom(Stage::HalfOpen, |ctx| {
                skf(ctx, 3, &[(0, 1, 2), (1, 2, 3), (2, 3, 3)])
            }),
            Silence,
        ),
        case(
            "skf-2000-total",
            "7383 2.6 (an implementation limit: never reassembled)",
            Custom(Stage::HalfOpen, |ctx| {
                skf(ctx, 3, &[(0, 1, 2000), (1, 2, 2000), (2, 3, 2000)])
            }),
            Silence,
        ),
        case(
            "skf-bad-icv",
            "7383 2.6 (fragment failing integrity discarded)",
            Custom(Stage::HalfOpen, |ctx| {
                let mut f = skf(ctx, 3, &[(0, 1, 3), (1, 2, 3), (2, 3, 3)])?;
                flip_last(&mut f[1]);
                Ok(f)
            }),
            Silence,
        ),
        case(
            "skf-numbers-tampered",
            "7383 2.5 (Fragment Number and Total are authenticated)",
            Custom(Stage::HalfOpen, |ctx| {
                let mut f = skf(ctx, 2, &[(0, 1, 2), (1, 2, 2)])?;
                f[1][33] = 1; // claims to be fragment 1 again
                Ok(f)
            }),
            Silence,
        ),
        case(
            "skf-first-next-payload-zero",
            "7383 2.5 (a first fragment naming no payload; charon drops the set)",
            Custom(Stage::HalfOpen, |ctx| {
                let sa = sa_of(&mut ctx.sa)?;
                let inner = ctx.peer.auth_payloads(sa);
                let (_, plain) = raw::chain(&inner);
                let h = Peer::header(sa, ex::IKE_AUTH, 1);
                let half = plain.len() / 2;
                Ok(vec![
                    ctx.peer.fragment(sa, &h, pt::NONE, 1, 2, &plain[..half])?,
                    ctx.peer.fragment(sa, &h, pt::NONE, 2, 2, &plain[half..])?,
                ])
            }),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "skf-then-sk",
            "7383 2.6 (an unfragmented copy completes the exchange)",
            Custom(Stage::HalfOpen, |ctx| {
                let mut v = skf(ctx, 2, &[(0, 1, 2)])?;
                v.push(ike_auth_sealed(ctx)?);
                Ok(v)
            }),
            Established,
        ),
        case(
            "skf-garbage-reassembled",
            "7383 2.6, 7296 2.21.2 (reassembles to a malformed chain)",
            Custom(Stage::HalfOpen, |ctx| {
                let sa = sa_of(&mut ctx.sa)?;
                let h = Peer::header(sa, ex::IKE_AUTH, 1);
                Ok(vec![
                    ctx.peer.fragment(sa, &h, pt::IDI, 1, 2, &[0xff; 40])?,
                    ctx.peer.fragment(sa, &h, pt::NONE, 2, 2, &[0xff; 40])?,
                ])
            }),
            SYNTAX,
        ),
    ]
}
