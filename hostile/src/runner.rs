//! Runs the table against one responder: each case from its stage, its answer judged, then a
//! legitimate IKE_SA_INIT + IKE_AUTH + CHILD_SA (and its delete) from another address to show
//! the responder still serves peers.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::case::{Build, Case, Ctx, Stage, judge, sa_of};
use crate::cases::{child_payloads, init_request};
use crate::peer::{Peer, PeerError, Suite};
use crate::raw::{self, Header, Parsed, ex, nt};

/// The responder under test and the addresses the peer sends from.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    /// Source address of the cases.
    pub case_from: IpAddr,
    /// Source address of the legitimate handshake after each case.
    pub legit_from: IpAddr,
    pub psk: iked_crypto::SecretBytes,
    /// Our identity (ID_FQDN) as the responder's configuration names it.
    pub id: Vec<u8>,
    /// How long without a datagram counts as silence.
    pub quiet: Duration,
    /// The peer pretends to be behind a NAT (see [`Peer::fake_nat`]).
    pub fake_nat: bool,
}

/// One case's result.
#[derive(Debug)]
pub struct Outcome {
    pub name: &'static str,
    pub rfc: &'static str,
    pub verdict: Result<(), String>,
}

fn err(e: PeerError) -> String {
    format!("peer: {e}")
}

fn messages(case: &Case, ctx: &mut Ctx<'_>) -> Result<Vec<Vec<u8>>, PeerError> {
    match case.build {
        Build::Init(edit) => {
            let spi = ctx.peer.spi();
            let ke = ctx.peer.key_exchange();
            let ni = ctx.peer.random(32);
            let mut p = Peer::init_payloads(case.suite, &ke, &ni);
            p.push(raw::notify(nt::FRAGMENTATION_SUPPORTED, &[]));
            let mut h = Header::request(spi, [0; 8], ex::IKE_SA_INIT, 0);
            edit(ctx.peer, &mut h, &mut p);
            Ok(vec![raw::message(&h, &p)])
        }
        Build::InitBytes(edit) => {
            let mut b = init_request(ctx.peer);
            edit(&mut b);
            Ok(vec![b])
        }
        Build::Auth(edit) => {
            let sa = sa_of(&mut ctx.sa)?;
            let mut p = ctx.peer.auth_payloads(sa);
            let mut h = Peer::header(sa, ex::IKE_AUTH, 1);
            edit(ctx.peer, sa, &mut h, &mut p);
            Ok(vec![ctx.peer.seal(sa, &h, &p)?])
        }
        Build::Info(edit) | Build::Child(edit) => {
            let exchange = match case.build {
                Build::Info(_) => ex::INFORMATIONAL,
                _ => ex::CREATE_CHILD_SA,
            };
            let mut p = match case.build {
                Build::Info(_) => Vec::new(),
                _ => child_payloads(ctx.peer),
            };
            let sa = sa_of(&mut ctx.sa)?;
            let mut h = Peer::header(sa, exchange, sa.next_mid);
            sa.next_mid += 1;
            edit(ctx.peer, sa, &mut h, &mut p);
            Ok(vec![ctx.peer.seal(sa, &h, &p)?])
        }
        Build::Custom(_, f) => f(ctx),
    }
}

/// Runs one case and judges its answers.
pub fn run_case(case: &Case, t: &Target, seed: u64) -> Result<(), String> {
    let mut peer = Peer::new(t.case_from, t.addr, t.psk.expose(), &t.id, seed).map_err(err)?;
    peer.fake_nat = t.fake_nat;
    let sa = match case.build.stage() {
        Stage::Fresh => None,
        Stage::HalfOpen => Some(peer.init(case.suite).map_err(err)?),
        Stage::Established => Some(peer.establish(case.suite).map_err(err)?),
    };
    let mut ctx = Ctx {
        peer: &mut peer,
        sa,
        stash: Vec::new(),
    };
    let msgs = messages(case, &mut ctx).map_err(err)?;
    for (i, m) in msgs.iter().enumerate() {
        ctx.peer.send(m).map_err(err)?;
        // Floods are paced a little so that the responder's socket buffer, not its logic,
        // is not what drops them.
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let answers: Vec<Parsed> = ctx
        .peer
        .collect(t.quiet, 10_000)
        .iter()
        .filter_map(|b| ctx.peer.open(ctx.sa.as_ref(), b).ok())
        .collect();
    judge(case.expect, &mut ctx, &answers)
}

/// A legitimate IKE_SA_INIT + IKE_AUTH + CHILD_SA, then its delete.
pub fn legit(t: &Target, seed: u64) -> Result<(), String> {
    let mut peer = Peer::new(t.legit_from, t.addr, t.psk.expose(), &t.id, seed).map_err(err)?;
    peer.fake_nat = t.fake_nat;
    let mut sa = peer.establish(Suite::CbcSha256).map_err(err)?;
    if sa.child_spi_r.is_none() {
        return Err("legitimate IKE_AUTH: no CHILD_SA SPI in the answer".into());
    }
    let answer = peer.delete_ike(&mut sa).map_err(err)?;
    if !answer.protected {
        return Err(format!("delete answered unprotected: {}", answer.summary()));
    }
    Ok(())
}

/// Runs `cases` in order; after each, the legitimate handshake and `health` (the caller's
/// checks of the process: alive, no panic, memory) must pass, else the case fails with why.
pub fn run_all(
    cases: &[Case],
    t: &Target,
    seed: u64,
    mut health: impl FnMut() -> Result<(), String>,
    mut progress: impl FnMut(&Outcome),
) -> Vec<Outcome> {
    let mut out = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let base = seed.wrapping_add(i as u64 * 2);
        let mut verdict = run_case(case, t, base);
        if let Err(e) = legit(t, base + 1) {
            verdict = Err(format!(
                "{}; afterwards a legitimate peer failed: {e}",
                verdict.err().unwrap_or_else(|| "answer ok".into())
            ));
        }
        if let Err(e) = health() {
            verdict = Err(format!(
                "{}; responder unhealthy: {e}",
                verdict.err().unwrap_or_else(|| "answer ok".into())
            ));
        }
        let o = Outcome {
            name: case.name,
            rfc: case.rfc,
            verdict,
        };
        progress(&o);
        out.push(o);
    }
    out
}
