//! What a case is and how its answer is judged.

use crate::peer::{IkeSa, Peer, PeerError, Suite};
use crate::raw::{Header, Parsed, Payload, ex, nt, pt};

/// The payload type the cases use as "unknown": unassigned by IANA (RFC 7296 3.2 leaves
/// 54-127 unassigned). Here beside the judge, which checks that UNSUPPORTED_CRITICAL_PAYLOAD
/// names it.
pub const UNKNOWN: u8 = 99;

/// What the case starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Nothing: the case's messages start an exchange.
    Fresh,
    /// After a legitimate IKE_SA_INIT (keys known, IKE_AUTH not sent).
    HalfOpen,
    /// After IKE_SA_INIT and IKE_AUTH with one CHILD_SA; next message ID 2.
    Established,
}

/// The state a case's builder works on.
pub struct Ctx<'a> {
    pub peer: &'a mut Peer,
    pub sa: Option<IkeSa>,
    /// A datagram a builder keeps for the judge (the first answer of a retransmitted
    /// request).
    pub stash: Vec<u8>,
}

/// The SA of a HalfOpen/Established case (the runner made it); a function of the field so
/// that the peer stays borrowable beside it.
pub fn sa_of(sa: &mut Option<IkeSa>) -> Result<&mut IkeSa, PeerError> {
    sa.as_mut().ok_or(PeerError::NoAnswer("stage set-up"))
}

impl Ctx<'_> {
    /// Seals `inner` in a request of `exchange` with the next message ID (and counts it).
    pub fn request(&mut self, exchange: u8, inner: &[Payload]) -> Result<Vec<u8>, PeerError> {
        let sa = self
            .sa
            .as_mut()
            .ok_or(PeerError::NoAnswer("stage set-up"))?;
        let h = Peer::header(sa, exchange, sa.next_mid);
        sa.next_mid += 1;
        self.peer.seal(sa, &h, inner)
    }

    /// Sends `bytes` and returns the answer to it (matched by SPI and message ID).
    pub fn ask(&mut self, bytes: &[u8]) -> Result<Parsed, PeerError> {
        self.peer.exchange(self.sa.as_ref(), bytes, "follow-up")
    }
}

pub type InitEdit = fn(&mut Peer, &mut Header, &mut Vec<Payload>);
pub type SealedEdit = fn(&mut Peer, &IkeSa, &mut Header, &mut Vec<Payload>);
pub type Custom = fn(&mut Ctx<'_>) -> Result<Vec<Vec<u8>>, PeerError>;
pub type Judge = fn(&mut Ctx<'_>, &[Parsed]) -> Result<(), String>;

/// How a case makes its messages.
#[derive(Clone, Copy)]
pub enum Build {
    /// A legitimate IKE_SA_INIT request (SA, KE, Ni, N(FRAGMENTATION_SUPPORTED)) edited.
    Init(InitEdit),
    /// The same request, then its bytes edited.
    InitBytes(fn(&mut Vec<u8>)),
    /// A legitimate IKE_AUTH request (IDi, AUTH, SA, TSi, TSr) on a half-open SA, edited
    /// before sealing.
    Auth(SealedEdit),
    /// An INFORMATIONAL request (empty) on an established SA, edited before sealing.
    Info(SealedEdit),
    /// A CREATE_CHILD_SA request for a new PFS child (SA, Ni, KEi, TSi, TSr), edited before
    /// sealing.
    Child(SealedEdit),
    /// Anything else, from the given stage.
    Custom(Stage, Custom),
}

impl Build {
    pub fn stage(&self) -> Stage {
        match self {
            Build::Init(_) | Build::InitBytes(_) => Stage::Fresh,
            Build::Auth(_) => Stage::HalfOpen,
            Build::Info(_) | Build::Child(_) => Stage::Established,
            Build::Custom(s, _) => *s,
        }
    }
}

/// Whether a notify must come inside the SK payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prot {
    Plain,
    Protected,
}

/// The RFC's answer.
#[derive(Clone, Copy)]
pub enum Expect {
    /// No response within the quiet time (the RFC says drop).
    Silence,
    /// A response carrying this notify, in or out of the SK payload as said.
    Notify(u16, Prot),
    /// A response carrying one of these notifies (several answers are RFC-permitted).
    OneOf(&'static [u16], Prot),
    /// Dropped, or answered with this notify: both RFC-permitted for a message that cannot be
    /// authenticated.
    SilenceOr(u16),
    /// An IKE_SA_INIT response with SA, KE and Nonce.
    InitAnswer,
    /// A protected response without error notifies.
    Answer,
    /// An IKE_AUTH response with AUTH, and the CHILD_SA (SA, TSi, TSr).
    Established,
    /// An IKE_AUTH response with AUTH whose CHILD_SA was refused with one of these notifies
    /// (RFC 7296 1.2: the IKE SA stands).
    EstablishedRefusing(&'static [u16]),
    /// The answer is byte for byte the one in [`Ctx::stash`] (the responder retransmits its
    /// cached response, RFC 7296 2.1).
    Retransmit,
    /// An IKE_AUTH whose CHILD_SA part is unacceptable: the child refused with one of these
    /// notifies while the IKE SA stands (RFC 7296 1.2), or, where the RFC's formats make the
    /// request malformed, the whole request refused with a protected INVALID_SYNTAX (charon).
    ChildRefused(&'static [u16]),
    /// Not processed: silence, or an error notify; never an SA.
    Refused,
    /// A judge of its own.
    Judge(Judge),
}

/// One row of the table.
#[derive(Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    pub rfc: &'static str,
    pub suite: Suite,
    pub build: Build,
    pub expect: Expect,
}

/// The responses (R flag set) among `answers`.
pub fn responses(answers: &[Parsed]) -> Vec<&Parsed> {
    answers.iter().filter(|p| p.is_response()).collect()
}

fn describe(answers: &[Parsed]) -> String {
    if answers.is_empty() {
        return "silence".into();
    }
    answers
        .iter()
        .map(Parsed::summary)
        .collect::<Vec<_>>()
        .join("; ")
}

fn error_notifies(p: &Parsed) -> Vec<u16> {
    p.notifies()
        .into_iter()
        .filter(|t| nt::is_error(*t))
        .collect()
}

fn prot_ok(p: &Parsed, prot: Prot) -> bool {
    match prot {
        Prot::Plain => !p.protected,
        Prot::Protected => p.protected,
    }
}

/// Judges the answers; `Err` says what came instead.
pub fn judge(expect: Expect, ctx: &mut Ctx<'_>, answers: &[Parsed]) -> Result<(), String> {
    let resp = responses(answers);
    let got = || describe(answers);
    let one_notify = |types: &[u16], prot: Prot| {
        if resp
            .iter()
            .any(|p| prot_ok(p, prot) && p.notifies().iter().any(|t| types.contains(t)))
        {
            Ok(())
        } else {
            let want: Vec<String> = types.iter().map(|t| nt::name(*t)).collect();
            Err(format!(
                "expected {} {:?}, got {}",
                want.join("|"),
                prot,
                got()
            ))
        }
    };
    match expect {
        Expect::Silence => {
            if resp.is_empty() {
                Ok(())
            } else {
                Err(format!("expected silence, got {}", got()))
            }
        }
        Expect::Notify(t, prot) => {
            one_notify(&[t], prot)?;
            if t == nt::UNSUPPORTED_CRITICAL_PAYLOAD {
                // RFC 7296 3.10.1: the data is the one-octet payload type.
                let ok = resp
                    .iter()
                    .any(|p| p.notify_data(t).as_deref() == Some(&[UNKNOWN][..]));
                if !ok {
                    return Err(format!(
                        "UNSUPPORTED_CRITICAL_PAYLOAD without the type: {}",
                        got()
                    ));
                }
            }
            Ok(())
        }
        Expect::OneOf(types, prot) => one_notify(types, prot),
        Expect::SilenceOr(t) => {
            if resp.is_empty() || resp.iter().all(|p| p.notifies().contains(&t)) {
                Ok(())
            } else {
                Err(format!(
                    "expected silence or {}, got {}",
                    nt::name(t),
                    got()
                ))
            }
        }
        Expect::InitAnswer => {
            if resp.iter().any(|p| {
                p.exchange == ex::IKE_SA_INIT
                    && p.has(pt::SA)
                    && p.has(pt::KE)
                    && p.has(pt::NONCE)
                    && error_notifies(p).is_empty()
            }) {
                Ok(())
            } else {
                Err(format!("expected an IKE_SA_INIT answer, got {}", got()))
            }
        }
        Expect::Answer => {
            if resp
                .iter()
                .any(|p| p.protected && error_notifies(p).is_empty())
            {
                Ok(())
            } else {
                Err(format!("expected a protected answer, got {}", got()))
            }
        }
        Expect::Established => {
            if resp.iter().any(|p| {
                p.protected
                    && p.has(pt::AUTH)
                    && p.has(pt::SA)
                    && p.has(pt::TSI)
                    && p.has(pt::TSR)
                    && error_notifies(p).is_empty()
            }) {
                Ok(())
            } else {
                Err(format!("expected IKE SA and CHILD_SA, got {}", got()))
            }
        }
        Expect::EstablishedRefusing(types) => {
            if resp.iter().any(|p| {
                p.protected
                    && p.has(pt::AUTH)
                    && !p.has(pt::SA)
                    && p.notifies().iter().any(|t| types.contains(t))
            }) {
                Ok(())
            } else {
                let want: Vec<String> = types.iter().map(|t| nt::name(*t)).collect();
                Err(format!(
                    "expected IKE SA with the child refused ({}), got {}",
                    want.join("|"),
                    got()
                ))
            }
        }
        Expect::Retransmit => {
            // RFC 7296 2.1: the cached response again, so the bytes are identical.
            if !ctx.stash.is_empty() && resp.iter().any(|p| p.bytes == ctx.stash) {
                Ok(())
            } else {
                Err(format!("expected the first answer again, got {}", got()))
            }
        }
        Expect::ChildRefused(types) => {
            let refused = judge(Expect::EstablishedRefusing(types), ctx, answers);
            if refused.is_ok() || one_notify(&[nt::INVALID_SYNTAX], Prot::Protected).is_ok() {
                Ok(())
            } else {
                refused
            }
        }
        Expect::Refused => {
            if resp
                .iter()
                .all(|p| !p.has(pt::SA) && !error_notifies(p).is_empty())
            {
                Ok(())
            } else {
                Err(format!("expected no processing, got {}", got()))
            }
        }
        Expect::Judge(f) => f(ctx, answers),
    }
}
