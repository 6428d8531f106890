//! INFORMATIONAL rows.

use super::common::*;
use crate::case::{Build, Case, Expect, Prot, Stage, sa_of};
use crate::peer::Peer;
use crate::raw::{self, Payload, ex, flag, nt, pt};

use Build::{Custom, Info};
use Expect::*;
use Prot::Protected;

/// INFORMATIONAL requests.
pub(super) fn informational() -> Vec<Case> {
    [
        info_deletes(),
        info_payloads_and_protection(),
        info_message_ids_and_exchange(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Empty requests and Delete payloads.
fn info_deletes() -> Vec<Case> {
    vec![
        case(
            "info-empty",
            "7296 1.4 (liveness check answered)",
            Info(|_, _, _, _| {}),
            Answer,
        ),
        gcm(case(
            "info-empty-gcm",
            "7296 1.4",
            Info(|_, _, _, _| {}),
            Answer,
        )),
        case(
            "info-delete-ike",
            "7296 1.4.1 (answered, then the SA is gone)",
            Info(|_, _, _, p| p.push(Payload::new(pt::D, raw::delete_body(1, 0, 0, &[])))),
            Judge(|ctx, answers| {
                if !crate::case::responses(answers).iter().any(|p| p.protected) {
                    return Err("delete of the IKE SA not answered".into());
                }
                match alive(ctx)? {
                    false => Ok(()),
                    true => Err("IKE SA still answers after its delete".into()),
                }
            }),
        ),
        case(
            "info-delete-child",
            "7296 1.4.1 (answered with the other half's SPI)",
            Info(|_, sa, _, p| {
                p.push(Payload::new(
                    pt::D,
                    raw::delete_body(3, 4, 1, &sa.child_spi_i),
                ))
            }),
            Judge(|ctx, answers| {
                let want = ctx.sa.as_ref().and_then(|s| s.child_spi_r);
                let ok = crate::case::responses(answers).iter().any(|p| {
                    p.protected
                        && p.payload(pt::D)
                            .is_some_and(|d| d.get(4..8) == want.as_ref().map(|w| &w[..]))
                });
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "expected D(ESP {:02x?}), got {}",
                        want,
                        answers
                            .iter()
                            .map(raw::Parsed::summary)
                            .collect::<Vec<_>>()
                            .join("; ")
                    ))
                }
            }),
        ),
        case(
            "info-delete-child-twice",
            "7296 1.4.1 (deleting a deleted child is no error)",
            Custom(Stage::Established, |ctx| {
                let spi = sa_of(&mut ctx.sa)?.child_spi_i;
                let d = [Payload::new(pt::D, raw::delete_body(3, 4, 1, &spi))];
                let first = ctx.request(ex::INFORMATIONAL, &d)?;
                ctx.ask(&first)?;
                Ok(vec![ctx.request(ex::INFORMATIONAL, &d)?])
            }),
            Answer,
        ),
        case(
            "info-delete-unknown-child",
            "7296 1.4.1 (unknown SPIs ignored)",
            Info(|_, _, _, p| {
                p.push(Payload::new(
                    pt::D,
                    raw::delete_body(3, 4, 1, &[9, 9, 9, 9]),
                ))
            }),
            Answer,
        ),
        case(
            "info-delete-200-unknown-children",
            "7296 1.4.1",
            Info(|_, _, _, p| p.push(Payload::new(pt::D, raw::delete_body(3, 4, 200, &[7; 800])))),
            Answer,
        ),
        case(
            "info-delete-esp-spi-size-8",
            "7296 3.11 (ESP SPIs are 4 octets)",
            Info(|_, _, _, p| p.push(Payload::new(pt::D, raw::delete_body(3, 8, 1, &[1; 8])))),
            SYNTAX,
        ),
        case(
            "info-delete-count-high",
            "7296 3.11 (Num of SPIs beyond the payload)",
            Info(|_, _, _, p| p.push(Payload::new(pt::D, raw::delete_body(3, 4, 5, &[1; 4])))),
            SYNTAX,
        ),
        case(
            "info-delete-count-low",
            "7296 3.11 (SPIs not counted)",
            Info(|_, _, _, p| p.push(Payload::new(pt::D, raw::delete_body(3, 4, 0, &[1; 4])))),
            SYNTAX,
        ),
        case(
            "info-delete-protocol-unknown",
            "7296 3.11",
            Info(|_, _, _, p| p.push(Payload::new(pt::D, raw::delete_body(9, 4, 1, &[1; 4])))),
            SYNTAX,
        ),
        case(
            "info-delete-truncated",
            "7296 3.11 (shorter than its header)",
            Info(|_, _, _, p| p.push(Payload::new(pt::D, vec![3, 4]))),
            SYNTAX,
        ),
    ]
}

/// Notify and unknown payloads, the inner chain and integrity.
fn info_payloads_and_protection() -> Vec<Case> {
    vec![
        case(
            "info-notify-unknown-status",
            "7296 3.10.1 (ignored)",
            Info(|_, _, _, p| p.push(raw::notify(40000, &[1]))),
            Answer,
        ),
        case(
            "info-notify-unknown-error",
            "7296 3.10.1 (unknown error types in a request ignored)",
            Info(|_, _, _, p| p.push(raw::notify(8000, &[]))),
            Answer,
        ),
        case(
            "info-notify-unknown-spi-size-3",
            "7296 3.10.1 (an unknown status type is ignored whatever it carries)",
            Info(|_, _, _, p| {
                p.push(Payload::new(
                    pt::N,
                    raw::notify_body(3, &[1, 2, 3], 40000, &[]),
                ))
            }),
            Answer,
        ),
        case(
            "info-notify-truncated",
            "7296 3.10",
            Info(|_, _, _, p| p.push(Payload::new(pt::N, vec![0]))),
            SYNTAX,
        ),
        case(
            "info-unknown-critical",
            "7296 2.5 (protected UNSUPPORTED_CRITICAL_PAYLOAD; strict)",
            Info(|_, _, _, p| p.push(unknown_payload(true))),
            Notify(nt::UNSUPPORTED_CRITICAL_PAYLOAD, Protected),
        ),
        case(
            "info-unknown-noncritical",
            "7296 2.5",
            Info(|_, _, _, p| p.push(unknown_payload(false))),
            Answer,
        ),
        case(
            "info-inner-length-past-end",
            "7296 2.21.2 (strict)",
            Info(|_, _, _, p| p.push(raw::notify(40000, &[]).with_length(90))),
            SYNTAX,
        ),
        case(
            "info-inner-garbage",
            "7296 2.21.2 (strict)",
            Custom(Stage::Established, |ctx| {
                let sa = sa_of(&mut ctx.sa)?;
                let h = Peer::header(sa, ex::INFORMATIONAL, sa.next_mid);
                Ok(vec![ctx.peer.seal_raw(sa, &h, pt::N, &[0xff; 48])?])
            }),
            SYNTAX,
        ),
        case(
            "info-bad-icv",
            "7296 3.14 (discard silently)",
            Custom(Stage::Established, |ctx| {
                let mut m = ctx.request(ex::INFORMATIONAL, &[])?;
                flip_last(&mut m);
                Ok(vec![m])
            }),
            Judge(|ctx, answers| {
                if !crate::case::responses(answers).is_empty() {
                    return Err("answered a message that fails integrity".into());
                }
                // The message ID was not consumed: the SA answers it now.
                if let Some(sa) = ctx.sa.as_mut() {
                    sa.next_mid -= 1;
                }
                info_then_alive(ctx, answers)
            }),
        ),
    ]
}

/// Message IDs, header fields, cleartext and fragmented requests.
fn info_message_ids_and_exchange() -> Vec<Case> {
    vec![
        case(
            "info-retransmitted",
            "7296 2.1 (same request: the same response)",
            Custom(Stage::Established, |ctx| {
                let m = ctx.request(ex::INFORMATIONAL, &[])?;
                again(ctx, m)
            }),
            Retransmit,
        ),
        case(
            "info-old-mid",
            "7296 2.3 (older than the last answered: drop)",
            Custom(Stage::Established, |ctx| {
                let a = ctx.request(ex::INFORMATIONAL, &[])?;
                ctx.ask(&a)?;
                let b = ctx.request(ex::INFORMATIONAL, &[])?;
                ctx.ask(&b)?;
                Ok(vec![a])
            }),
            Silence,
        ),
        case(
            "info-mid-future",
            "7296 2.3 (beyond the window of 1)",
            Info(|_, _, h, _| h.mid += 1),
            Silence,
        ),
        case(
            "info-mid-far-future",
            "7296 2.3",
            Info(|_, _, h, _| h.mid += 1000),
            Silence,
        ),
        case(
            "info-mid-max",
            "7296 2.3",
            Info(|_, _, h, _| h.mid = u32::MAX),
            Silence,
        ),
        case(
            "info-mid-future-then-alive",
            "7296 2.3 (a dropped future ID does not move the window)",
            Custom(Stage::Established, |ctx| {
                let sa = sa_of(&mut ctx.sa)?;
                let h = Peer::header(sa, ex::INFORMATIONAL, sa.next_mid + 5);
                Ok(vec![ctx.peer.seal(sa, &h, &[])?])
            }),
            Judge(info_then_alive),
        ),
        case(
            "info-response-flag",
            "7296 2.21 (a response to nothing we sent)",
            Info(|_, _, h, _| h.flags |= flag::RESPONSE),
            Silence,
        ),
        case(
            "info-unknown-spi-r",
            "7296 2.21.4",
            Info(|_, _, h, _| h.spi_r = [0x33; 8]),
            SilenceOr(nt::INVALID_IKE_SPI),
        ),
        case(
            "info-exchange-unknown",
            "7296 3.1 (unknown exchange type on an SA)",
            Info(|_, _, h, _| h.exchange = 99),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "info-as-ike-sa-init",
            "7296 2.2 (IKE_SA_INIT on an established SA)",
            Info(|_, _, h, _| h.exchange = ex::IKE_SA_INIT),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "info-as-ike-auth-again",
            "7296 1.2 (a second IKE_AUTH)",
            Custom(Stage::Established, |ctx| {
                let inner = {
                    let sa = sa_of(&mut ctx.sa)?;
                    ctx.peer.auth_payloads(sa)
                };
                Ok(vec![ctx.request(ex::IKE_AUTH, &inner)?])
            }),
            Refused,
        ),
        case(
            "info-cleartext-delete",
            "7296 1.4 (INFORMATIONAL is protected; a clear delete does nothing)",
            Custom(Stage::Established, |ctx| {
                let sa = sa_of(&mut ctx.sa)?;
                let h = Peer::header(sa, ex::INFORMATIONAL, sa.next_mid);
                Ok(vec![raw::message(
                    &h,
                    &[Payload::new(pt::D, raw::delete_body(1, 0, 0, &[]))],
                )])
            }),
            Judge(|ctx, answers| {
                if crate::case::responses(answers)
                    .iter()
                    .any(|p| error_free(p))
                {
                    return Err("a cleartext delete was answered".into());
                }
                info_then_alive(ctx, answers)
            }),
        ),
        case(
            "info-cleartext-empty",
            "7296 1.4 (INFORMATIONAL is protected)",
            Custom(Stage::Established, |ctx| {
                let sa = sa_of(&mut ctx.sa)?;
                let h = Peer::header(sa, ex::INFORMATIONAL, sa.next_mid);
                Ok(vec![raw::message(&h, &[])])
            }),
            SilenceOr(nt::INVALID_SYNTAX),
        ),
        case(
            "info-fragmented",
            "7383 2.5 (fragments in any protected exchange)",
            Custom(Stage::Established, |ctx| {
                let sa = sa_of(&mut ctx.sa)?;
                let h = Peer::header(sa, ex::INFORMATIONAL, sa.next_mid);
                sa.next_mid += 1;
                let inner = [raw::notify(40000, &[3; 40]), raw::notify(40001, &[4; 40])];
                ctx.peer.fragments(sa, &h, &inner, 2)
            }),
            Answer,
        ),
    ]
}
