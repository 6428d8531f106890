//! CREATE_CHILD_SA rows (CHILD_SA and IKE SA rekeys included).

use super::common::*;
use crate::case::{Build, Case, Expect, Prot, Stage};
use crate::peer::{PeerError, esp_pfs_transforms, esp_transforms};
use crate::raw::{self, Payload, ex, nt, pt, tf};

use Build::{Child, Custom};
use Expect::*;
use Prot::Protected;

/// CREATE_CHILD_SA requests.
pub(super) fn create_child_sa() -> Vec<Case> {
    [
        child_ke_nonce_and_ts(),
        child_rekeys_and_protection(),
        ike_rekeys(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// New CHILD_SAs: KE, nonce, SA and traffic selectors.
fn child_ke_nonce_and_ts() -> Vec<Case> {
    vec![
        case(
            "child-legit",
            "7296 1.3.1",
            Child(|_, _, _, _| {}),
            Judge(|_, a| child_made(a)),
        ),
        gcm(case(
            "child-legit-gcm",
            "7296 1.3.1",
            Child(|_, _, _, _| {}),
            Judge(|_, a| child_made(a)),
        )),
        case(
            "child-without-ke",
            "7296 1.3.1 (PFS configured: KE required); charon: INVALID_KE_PAYLOAD",
            Child(|_, _, _, p| {
                p.remove(CHILD_KE);
            }),
            OneOf(&[nt::INVALID_KE_PAYLOAD, nt::NO_PROPOSAL_CHOSEN], Protected),
        ),
        case(
            "child-proposal-without-dh",
            "7296 1.3.1 (PFS configured, none offered)",
            Child(|peer, _, _, p| {
                let spi = peer.random(4);
                p.remove(CHILD_KE);
                p[CHILD_SA] =
                    Payload::new(pt::SA, raw::proposal(1, 3, &spi, &esp_transforms(), true));
            }),
            Notify(nt::NO_PROPOSAL_CHOSEN, Protected),
        ),
        case(
            "child-ke-wrong-group",
            "7296 1.3.1 (INVALID_KE_PAYLOAD names the group)",
            Child(|_, _, _, p| {
                p[CHILD_KE] = Payload::new(pt::KE, raw::ke_body(tf::DH_ECP_256, &[4; 64]))
            }),
            Judge(|_, a| {
                if crate::case::responses(a).iter().any(|p| {
                    p.protected
                        && p.notify_data(nt::INVALID_KE_PAYLOAD).as_deref() == Some(&[0, 31][..])
                }) {
                    Ok(())
                } else {
                    Err(format!(
                        "expected INVALID_KE_PAYLOAD(31), got {}",
                        a.iter()
                            .map(raw::Parsed::summary)
                            .collect::<Vec<_>>()
                            .join("; ")
                    ))
                }
            }),
        ),
        case(
            "child-ke-short",
            "8031 2; charon: NO_PROPOSAL_CHOSEN",
            Child(|_, _, _, p| p[CHILD_KE].body.truncate(20)),
            OneOf(&[nt::INVALID_SYNTAX, nt::NO_PROPOSAL_CHOSEN], Protected),
        ),
        case(
            "child-missing-nonce",
            "7296 1.3.1 (Ni required)",
            Child(|_, _, _, p| {
                p.remove(CHILD_NONCE);
            }),
            SYNTAX,
        ),
        case(
            "child-nonce-8",
            "7296 2.10",
            Child(|_, _, _, p| p[CHILD_NONCE].body.truncate(8)),
            SYNTAX,
        ),
        case(
            "child-missing-sa",
            "7296 1.3.1 (SA required)",
            Child(|_, _, _, p| {
                p.remove(CHILD_SA);
            }),
            OneOf(&[nt::INVALID_SYNTAX, nt::NO_PROPOSAL_CHOSEN], Protected),
        ),
        case(
            "child-missing-ts",
            "7296 1.3.1 (TSi, TSr required for a child)",
            Child(|_, _, _, p| {
                p.truncate(3);
            }),
            OneOf(CHILD_REFUSED, Protected),
        ),
        case(
            "child-ts-outside",
            "7296 2.9",
            Child(|_, _, _, p| {
                p[CHILD_TSI] = ts(pt::TSI, &[raw::ts4(0, [10, 9, 0, 0], [10, 9, 255, 255])])
            }),
            Notify(nt::TS_UNACCEPTABLE, Protected),
        ),
        case(
            "child-ts-200-selectors",
            "7296 3.13 (no cap on selectors; strict)",
            Child(|_, _, _, p| {
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
                p[CHILD_TSI] = Payload::new(pt::TSI, raw::ts_body(200, &sels));
            }),
            Judge(|_, a| child_made(a)),
        ),
    ]
}

/// CHILD_SA rekeys, unknown payloads, integrity and retransmission.
fn child_rekeys_and_protection() -> Vec<Case> {
    vec![
        case(
            "child-spi-size-0",
            "7296 3.3.1",
            Child(|_, _, _, p| {
                p[CHILD_SA] = Payload::new(
                    pt::SA,
                    raw::proposal(1, 3, &[], &esp_pfs_transforms(), true),
                )
            }),
            OneOf(&[nt::INVALID_SYNTAX, nt::NO_PROPOSAL_CHOSEN], Protected),
        ),
        case(
            "child-rekey-unknown-spi",
            "7296 1.3.3, 3.10.1 (CHILD_SA_NOT_FOUND)",
            Child(|_, _, _, p| {
                p.insert(
                    0,
                    Payload::new(pt::N, raw::notify_body(3, &[9, 9, 9, 9], nt::REKEY_SA, &[])),
                )
            }),
            Notify(nt::CHILD_SA_NOT_FOUND, Protected),
        ),
        case(
            "child-rekey-known-spi",
            "7296 1.3.3",
            Child(|_, sa, _, p| {
                p.insert(
                    0,
                    Payload::new(
                        pt::N,
                        raw::notify_body(3, &sa.child_spi_i, nt::REKEY_SA, &[]),
                    ),
                )
            }),
            Judge(|_, a| child_made(a)),
        ),
        case(
            "child-rekey-spi-size-8",
            "7296 3.10 (ESP SPI in REKEY_SA is 4 octets)",
            Child(|_, _, _, p| {
                p.insert(
                    0,
                    Payload::new(pt::N, raw::notify_body(3, &[9; 8], nt::REKEY_SA, &[])),
                )
            }),
            OneOf(&[nt::INVALID_SYNTAX, nt::CHILD_SA_NOT_FOUND], Protected),
        ),
        case(
            "child-rekey-protocol-ike",
            "7296 1.3.3 (REKEY_SA names an ESP SA)",
            Child(|_, _, _, p| {
                p.insert(
                    0,
                    Payload::new(pt::N, raw::notify_body(1, &[9; 8], nt::REKEY_SA, &[])),
                )
            }),
            OneOf(&[nt::INVALID_SYNTAX, nt::CHILD_SA_NOT_FOUND], Protected),
        ),
        case(
            "child-unknown-critical",
            "7296 2.5 (strict)",
            Child(|_, _, _, p| p.push(unknown_payload(true))),
            Notify(nt::UNSUPPORTED_CRITICAL_PAYLOAD, Protected),
        ),
        case(
            "child-unknown-noncritical",
            "7296 2.5",
            Child(|_, _, _, p| p.push(unknown_payload(false))),
            Judge(|_, a| child_made(a)),
        ),
        case(
            "child-bad-icv",
            "7296 3.14",
            Custom(Stage::Established, |ctx| {
                let inner = child_payloads(ctx.peer);
                let mut m = ctx.request(ex::CREATE_CHILD_SA, &inner)?;
                flip_last(&mut m);
                Ok(vec![m])
            }),
            Silence,
        ),
        case(
            "child-retransmitted",
            "7296 2.1",
            Custom(Stage::Established, |ctx| {
                let inner = child_payloads(ctx.peer);
                let m = ctx.request(ex::CREATE_CHILD_SA, &inner)?;
                again(ctx, m)
            }),
            Retransmit,
        ),
    ]
}

/// IKE SA rekeys and many CHILD_SAs in a row.
fn ike_rekeys() -> Vec<Case> {
    vec![
        case(
            "ike-rekey-legit",
            "7296 1.3.2 (new IKE SA: SA, Nr, KEr)",
            Custom(Stage::Established, |ctx| {
                let spi = ctx.peer.spi();
                let ke = ctx.peer.key_exchange();
                let inner = [
                    Payload::new(pt::SA, raw::proposal(1, 1, &spi, &cbc(), true)),
                    Payload::new(pt::NONCE, ctx.peer.random(32)),
                    Payload::new(pt::KE, raw::ke_body(31, ke.public_value())),
                ];
                Ok(vec![ctx.request(ex::CREATE_CHILD_SA, &inner)?])
            }),
            Judge(|_, a| child_made(a)),
        ),
        case(
            "ike-rekey-spi-size-4",
            "7296 1.3.2, 3.3.1 (new IKE SPI is 8 octets)",
            Custom(Stage::Established, |ctx| {
                let ke = ctx.peer.key_exchange();
                let inner = [
                    Payload::new(pt::SA, raw::proposal(1, 1, &[1, 2, 3, 4], &cbc(), true)),
                    Payload::new(pt::NONCE, ctx.peer.random(32)),
                    Payload::new(pt::KE, raw::ke_body(31, ke.public_value())),
                ];
                Ok(vec![ctx.request(ex::CREATE_CHILD_SA, &inner)?])
            }),
            OneOf(&[nt::INVALID_SYNTAX, nt::NO_PROPOSAL_CHOSEN], Protected),
        ),
        case(
            "ike-rekey-without-ke",
            "7296 1.3.2 (KE required)",
            Custom(Stage::Established, |ctx| {
                let spi = ctx.peer.spi();
                let inner = [
                    Payload::new(pt::SA, raw::proposal(1, 1, &spi, &cbc(), true)),
                    Payload::new(pt::NONCE, ctx.peer.random(32)),
                ];
                Ok(vec![ctx.request(ex::CREATE_CHILD_SA, &inner)?])
            }),
            OneOf(
                &[
                    nt::INVALID_SYNTAX,
                    nt::INVALID_KE_PAYLOAD,
                    nt::NO_PROPOSAL_CHOSEN,
                ],
                Protected,
            ),
        ),
        case(
            "child-50-in-a-row",
            "7296 1.3.1 (many children: each answered)",
            Custom(Stage::Established, |ctx| {
                for _ in 0..49 {
                    let inner = child_payloads(ctx.peer);
                    let m = ctx.request(ex::CREATE_CHILD_SA, &inner)?;
                    let a = ctx.ask(&m)?;
                    if !a.has(pt::SA) {
                        return Err(PeerError::Unexpected {
                            what: "CREATE_CHILD_SA",
                            summary: a.summary(),
                        });
                    }
                }
                let inner = child_payloads(ctx.peer);
                Ok(vec![ctx.request(ex::CREATE_CHILD_SA, &inner)?])
            }),
            Judge(|_, a| child_made(a)),
        ),
    ]
}
