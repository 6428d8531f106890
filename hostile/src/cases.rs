//! The case table. Each row: a name, the RFC section that decides the answer, how the
//! messages are made (an edit of a legitimate message, or a builder of its own) and the
//! answer the RFC asks for. Where the RFC permits several answers and strongSwan's charon
//! picks one, the row asserts charon's and its comment says so.

use crate::case::{Build, Case, Ctx, Expect, Prot, Stage, UNKNOWN, sa_of};
use crate::peer::{Peer, PeerError, Suite, esp_pfs_transforms, esp_transforms};
use crate::raw::{self, Payload, Tf, ex, flag, nt, pt, tf};

use Expect::*;
use Prot::{Plain, Protected};

const INIT_SA: usize = 0;
const INIT_KE: usize = 1;
const INIT_NONCE: usize = 2;
const AUTH_ID: usize = 0;
const AUTH_AUTH: usize = 1;
const AUTH_SA: usize = 2;
const AUTH_TSI: usize = 3;
const AUTH_TSR: usize = 4;
const CHILD_SA: usize = 0;
const CHILD_NONCE: usize = 1;
const CHILD_KE: usize = 2;
const CHILD_TSI: usize = 3;

const SYNTAX_PLAIN: Expect = Notify(nt::INVALID_SYNTAX, Plain);
const SYNTAX: Expect = Notify(nt::INVALID_SYNTAX, Protected);
const NO_PROPOSAL_PLAIN: Expect = Notify(nt::NO_PROPOSAL_CHOSEN, Plain);
/// A KE payload whose data cannot be a public value of its group: INVALID_SYNTAX, or charon's
/// NO_PROPOSAL_CHOSEN (its "applying DH public value failed").
const KE_REFUSED: Expect = OneOf(&[nt::INVALID_SYNTAX, nt::NO_PROPOSAL_CHOSEN], Plain);

fn case(name: &'static str, rfc: &'static str, build: Build, expect: Expect) -> Case {
    Case {
        name,
        rfc,
        suite: Suite::CbcSha256,
        build,
        expect,
    }
}

fn gcm(mut c: Case) -> Case {
    c.suite = Suite::Gcm16;
    c
}

fn unknown_payload(critical: bool) -> Payload {
    let p = Payload::new(UNKNOWN, vec![0xab; 8]);
    if critical { p.critical() } else { p }
}

fn ike_sa(transforms: &[Tf]) -> Payload {
    Payload::new(pt::SA, raw::proposal(1, 1, &[], transforms, true))
}

fn cbc() -> Vec<Tf> {
    Suite::CbcSha256.transforms()
}

fn ts(kind: u8, selectors: &[Vec<u8>]) -> Payload {
    Payload::new(kind, raw::ts_body(selectors.len() as u8, selectors))
}

fn our_ts() -> Vec<u8> {
    raw::ts4(0, [10, 2, 0, 0], [10, 2, 255, 255])
}

/// Replaces IDi and recomputes AUTH over it, so that only the identity is wrong.
fn set_id(peer: &mut Peer, sa: &crate::peer::IkeSa, p: &mut [Payload], body: Vec<u8>) {
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

fn flip_last(b: &mut [u8]) {
    if let Some(x) = b.last_mut() {
        *x ^= 0x01;
    }
}

/// Empty INFORMATIONAL on the SA, answered: the SA is alive.
/// Whether the SA still answers an empty INFORMATIONAL. Only a protected answer counts: an
/// unprotected INVALID_IKE_SPI (RFC 7296 2.21.4, what iked sends for an SA it no longer
/// knows) says the SA is gone.
fn alive(ctx: &mut Ctx<'_>) -> Result<bool, String> {
    let req = ctx
        .request(ex::INFORMATIONAL, &[])
        .map_err(|e| e.to_string())?;
    Ok(ctx.ask(&req).is_ok_and(|answer| answer.protected))
}

fn ike_auth_sealed(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, PeerError> {
    let sa = sa_of(&mut ctx.sa)?;
    let inner = ctx.peer.auth_payloads(sa);
    let h = Peer::header(sa, ex::IKE_AUTH, 1);
    ctx.peer.seal(sa, &h, &inner)
}

/// The IKE_AUTH request split into SKF fragments, numbered and totalled as `plan` says:
/// (index of the real part, number, total, next-payload override).
fn skf(
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
fn again(ctx: &mut Ctx<'_>, m: Vec<u8>) -> Result<Vec<Vec<u8>>, PeerError> {
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

fn info_then_alive(ctx: &mut Ctx<'_>, _answers: &[raw::Parsed]) -> Result<(), String> {
    if alive(ctx)? {
        Ok(())
    } else {
        Err("the IKE SA no longer answers".into())
    }
}

/// Every row.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(ike_sa_init());
    v.extend(ike_auth());
    v.extend(informational());
    v.extend(create_child_sa());
    v.extend(floods());
    v
}

fn ike_sa_init() -> Vec<Case> {
    use Build::{Init, InitBytes};
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

/// A legitimate IKE_SA_INIT request's bytes.
pub fn init_request(peer: &mut Peer) -> Vec<u8> {
    let spi = peer.spi();
    let ke = peer.key_exchange();
    let ni = peer.random(32);
    let mut p = Peer::init_payloads(Suite::CbcSha256, &ke, &ni);
    p.push(raw::notify(nt::FRAGMENTATION_SUPPORTED, &[]));
    raw::message(&raw::Header::request(spi, [0; 8], ex::IKE_SA_INIT, 0), &p)
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

const CHILD_REFUSED: &[u16] = &[
    nt::NO_PROPOSAL_CHOSEN,
    nt::TS_UNACCEPTABLE,
    nt::INVALID_SYNTAX,
];

fn ike_auth() -> Vec<Case> {
    use Build::{Auth, Custom};
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

fn informational() -> Vec<Case> {
    use Build::{Custom, Info};
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

fn error_free(p: &raw::Parsed) -> bool {
    p.notifies().iter().all(|t| !nt::is_error(*t))
}

fn create_child_sa() -> Vec<Case> {
    use Build::{Child, Custom};
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

fn child_made(answers: &[raw::Parsed]) -> Result<(), String> {
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

/// Number of IKE_SA_INIT requests in the flood case; the test's strongswan.conf sets
/// `cookie_threshold` below it.
pub const INIT_FLOOD: usize = 400;

fn floods() -> Vec<Case> {
    use Build::Custom;
    vec![
        case(
            "flood-junk",
            "7296 2.21.4 (unknown SPIs: nothing answered)",
            Custom(Stage::Fresh, |ctx| {
                Ok((0..1000)
                    .map(|i| {
                        let mut b = ctx.peer.random(28 + (i % 200));
                        b[17] = 0x20;
                        b[8] |= 1;
                        b
                    })
                    .collect())
            }),
            Silence,
        ),
        case(
            "flood-bad-icv",
            "7296 3.14 (300 forged IKE_AUTH: all dropped)",
            Custom(Stage::HalfOpen, |ctx| {
                let m = ike_auth_sealed(ctx)?;
                Ok((0..300u16)
                    .map(|i| {
                        let mut x = m.clone();
                        let n = x.len();
                        x[n - 1 - usize::from(i % 8)] ^= (i >> 3) as u8 | 1;
                        x
                    })
                    .collect())
            }),
            Silence,
        ),
        case(
            "flood-fragment-sets",
            "7383 2.6 (300 incomplete fragment sets: none answered)",
            Custom(Stage::HalfOpen, |ctx| {
                let sa = sa_of(&mut ctx.sa)?;
                let mut out = Vec::new();
                for i in 0..300u16 {
                    let h = Peer::header(sa, ex::IKE_AUTH, 1);
                    out.push(
                        ctx.peer
                            .fragment(sa, &h, pt::IDI, 1 + i % 4, 5, &[0x41; 600])?,
                    );
                }
                Ok(out)
            }),
            Silence,
        ),
        case(
            "flood-informational",
            "7296 1.4 (200 liveness checks in a row, each answered)",
            Custom(Stage::Established, |ctx| {
                for _ in 0..199 {
                    let m = ctx.request(ex::INFORMATIONAL, &[])?;
                    ctx.ask(&m)?;
                }
                Ok(vec![ctx.request(ex::INFORMATIONAL, &[])?])
            }),
            Answer,
        ),
        case(
            "flood-init",
            "7296 2.6 (past cookie_threshold half-open SAs, COOKIE is asked)",
            Custom(Stage::Fresh, |ctx| {
                Ok((0..INIT_FLOOD).map(|_| init_request(ctx.peer)).collect())
            }),
            Judge(|_, answers| {
                let resp = crate::case::responses(answers);
                let cookies = resp
                    .iter()
                    .filter(|p| p.notifies().contains(&nt::COOKIE))
                    .count();
                let inits = resp.iter().filter(|p| p.has(pt::KE)).count();
                if cookies == 0 {
                    return Err(format!(
                        "no COOKIE among {} answers ({inits} IKE_SA_INIT answers)",
                        resp.len()
                    ));
                }
                if cookies + inits != resp.len() {
                    return Err(format!(
                        "{} answers neither COOKIE nor IKE_SA_INIT",
                        resp.len() - cookies - inits
                    ));
                }
                Ok(())
            }),
        ),
    ]
}
