//! What the case tables share: how a row is made, the payload positions of the legitimate
//! messages the edits change, the common expectations, and the builders and judges that
//! several tables use.

use crate::case::{Build, Case, Ctx, Expect, Prot, UNKNOWN, sa_of};
use crate::peer::{Peer, PeerError, Suite, esp_pfs_transforms};
use crate::raw::{self, Payload, Tf, ex, flag, nt, pt, tf};

use Expect::*;
use Prot::{Plain, Protected};

pub(super) const INIT_SA: usize = 0;
pub(super) const INIT_KE: usize = 1;
pub(super) const INIT_NONCE: usize = 2;
pub(super) const AUTH_ID: usize = 0;
pub(super) const AUTH_AUTH: usize = 1;
pub(super) const AUTH_SA: usize = 2;
pub(super) const AUTH_TSI: usize = 3;
pub(super) const AUTH_TSR: usize = 4;
pub(super) const CHILD_SA: usize = 0;
pub(super) const CHILD_NONCE: usize = 1;
pub(super) const CHILD_KE: usize = 2;
pub(super) const CHILD_TSI: usize = 3;

pub(super) const SYNTAX_PLAIN: Expect = Notify(nt::INVALID_SYNTAX, Plain);
pub(super) const SYNTAX: Expect = Notify(nt::INVALID_SYNTAX, Protected);
pub(super) const NO_PROPOSAL_PLAIN: Expect = Notify(nt::NO_PROPOSAL_CHOSEN, Plain);
/// A KE payload whose data cannot be a public value of its group: INVALID_SYNTAX, or charon's
/// NO_PROPOSAL_CHOSEN (its "applying DH public value failed").
pub(super) const KE_REFUSED: Expect = OneOf(&[nt::INVALID_SYNTAX, nt::NO_PROPOSAL_CHOSEN], Plain);

pub(super) fn case(name: &'static str, rfc: &'static str, build: Build, expect: Expect) -> Case {
    Case {
        name,
        rfc,
        suite: Suite::CbcSha256,
        build,
        expect,
    }
}

pub(super) fn gcm(mut c: Case) -> Case {
    c.suite = Suite::Gcm16;
    c
}

pub(super) fn unknown_payload(critical: bool) -> Payload {
    let p = Payload::new(UNKNOWN, vec![0xab; 8]);
    if critical { p.critical() } else { p }
}

pub(super) fn ike_sa(transforms: &[Tf]) -> Payload {
    Payload::new(pt::SA, raw::proposal(1, 1, &[], transforms, true))
}

pub(super) fn cbc() -> Vec<Tf> {
    Suite::CbcSha256.transforms()
}

pub(super) fn ts(kind: u8, selectors: &[Vec<u8>]) -> Payload {
    Payload::new(kind, raw::ts_body(selectors.len() as u8, selectors))
}

pub(super) fn our_ts() -> Vec<u8> {
    raw::ts4(0, [10, 2, 0, 0], [10, 2, 255, 255])
}

/// Replaces IDi and recomputes AUTH over it, so that only the identity is wrong.
pub(super) fn set_id(peer: &mut Peer, sa: &crate::peer::IkeSa, p: &mut [Payload], body: Vec<u8>) {
    let auth = peer.auth_data(sa, &body);
    p[AUTH_ID] = Payload::new(pt::IDI, body);
    p[AUTH_AUTH] = Payload::new(pt::AUTH, raw::typed_body(2, auth.expose()));
}

/// The inner payloads of a CREATE_CHILD_SA request for a new PFS child.
pub fn child_payloads(peer: &mut Peer) -> Vec<Payload> {
    let ke = peer.key_exchange();
    let mut spi = [0u8; 4];
    spi.copy_from_slice(&peer.random(4));
    spi[0] |= 0xc0;
    let mut v = vec![
        Payload::new(
            pt::SA,
            raw::proposal(1, 3, &spi, &esp_pfs_transforms(), true),
        ),
        Payload::new(pt::NONCE, peer.random(32)),
        Payload::new(pt::KE, raw::ke_body(tf::DH_CURVE25519, ke.public_value())),
    ];
    v.extend(Peer::ts_payloads());
    v
}

pub(super) fn flip_last(b: &mut [u8]) {
    if let Some(x) = b.last_mut() {
        *x ^= 0x01;
    }
}

/// Empty INFORMATIONAL on the SA, answered: the SA is alive.
/// Whether the SA still answers an empty INFORMATIONAL. Only a protected answer counts: an
/// unprotected INVALID_IKE_SPI (RFC 7296 2.21.4, what iked sends for an SA it no longer
/// knows) says the SA is gone.
pub(super) fn alive(ctx: &mut Ctx<'_>) -> Result<bool, String> {
    let req = ctx
        .request(ex::INFORMATIONAL, &[])
        .map_err(|e| e.to_string())?;
    Ok(ctx.ask(&req).is_ok_and(|answer| answer.protected))
}

pub(super) fn ike_auth_sealed(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, PeerError> {
    let sa = sa_of(&mut ctx.sa)?;
    let inner = ctx.peer.auth_payloads(sa);
    let h = Peer::header(sa, ex::IKE_AUTH, 1);
    ctx.peer.seal(sa, &h, &inner)
}

/// The IKE_AUTH request split into SKF fragments, numbered and totalled as `plan` says:
/// (index of the real part, number, total, next-payload override).
pub(super) fn skf(
    ctx: &mut Ctx<'_>,
    parts: usize,
    plan: &[(usize, u16, u16)],
) -> Result<Vec<Vec<u8>>, PeerError> {
    let sa = sa_of(&mut ctx.sa)?;
    let inner = ctx.peer.auth_payloads(sa);
    let (first, plain) = raw::chain(&inner);
    let size = plain.len().div_ceil(parts);
    let chunks: Vec<Vec<u8>> = plain.chunks(size).map(<[u8]>::to_vec).collect();
    let h = Peer::header(sa, ex::IKE_AUTH, 1);
    let mut out = Vec::new();
    for &(idx, number, total) in plan {
        let part = chunks.get(idx).cloned().unwrap_or_default();
        let next = if idx == 0 { first } else { pt::NONE };
        out.push(ctx.peer.fragment(sa, &h, next, number, total, &part)?);
    }
    Ok(out)
}

/// Sends `m`, keeps its answer for the judge, and returns `m` again: a retransmission
/// after the first answer, as a peer that lost it would send.
pub(super) fn again(ctx: &mut Ctx<'_>, m: Vec<u8>) -> Result<Vec<Vec<u8>>, PeerError> {
    ctx.peer.send(&m)?;
    let spi = m.get(..8).map(<[u8]>::to_vec).unwrap_or_default();
    ctx.stash = ctx
        .peer
        .wait_for(crate::peer::ANSWER_WAIT, |b| {
            b.get(..8) == Some(&spi[..]) && b.get(19).is_some_and(|f| f & flag::RESPONSE != 0)
        })
        .ok_or(PeerError::NoAnswer("the first copy"))?;
    Ok(vec![m])
}

pub(super) fn info_then_alive(ctx: &mut Ctx<'_>, _answers: &[raw::Parsed]) -> Result<(), String> {
    if alive(ctx)? {
        Ok(())
    } else {
        Err("the IKE SA no longer answers".into())
    }
}

/// A legitimate IKE_SA_INIT request's bytes.
pub fn init_request(peer: &mut Peer) -> Vec<u8> {
    let spi = peer.spi();
    let ke = peer.key_exchange();
    let ni = peer.random(32);
    let mut p = Peer::init_payloads(Suite::CbcSha256, &ke, &ni);
    p.push(raw::notify(nt::FRAGMENTATION_SUPPORTED, &[]));
    raw::message(&raw::Header::request(spi, [0; 8], ex::IKE_SA_INIT, 0), &p)
}

pub(super) const CHILD_REFUSED: &[u16] = &[
    nt::NO_PROPOSAL_CHOSEN,
    nt::TS_UNACCEPTABLE,
    nt::INVALID_SYNTAX,
];

pub(super) fn error_free(p: &raw::Parsed) -> bool {
    p.notifies().iter().all(|t| !nt::is_error(*t))
}

pub(super) fn child_made(answers: &[raw::Parsed]) -> Result<(), String> {
    if crate::case::responses(answers)
        .iter()
        .any(|p| p.protected && p.has(pt::SA) && p.has(pt::NONCE) && error_free(p))
    {
        Ok(())
    } else {
        Err(format!(
            "expected a new SA (SA, Nr), got {}",
            answers
                .iter()
                .map(raw::Parsed::summary)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    }
}
