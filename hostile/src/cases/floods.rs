//! Floods: many requests at once.

use super::common::*;
use crate::case::{Build, Case, Expect, Stage, sa_of};
use crate::peer::Peer;
use crate::raw::{ex, nt, pt};

use Expect::*;

/// Number of IKE_SA_INIT requests in the flood case; the test's strongswan.conf sets
/// `cookie_threshold` below it.
pub const INIT_FLOOD: usize = 400;

pub(super) fn floods() -> Vec<Case> {
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
