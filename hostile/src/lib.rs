//! A hostile IKEv2 peer for testing responders (iked, and strongSwan's charon as a control).
//!
//! Contract:
//! - [`peer::Peer`] is a scripted initiator with real key exchange (x25519), prf+, SK
//!   encryption (AES-CBC+HMAC-SHA256, AES-GCM-16) and PSK AUTH from `iked_crypto`; every
//!   message it sends is built byte by byte in [`raw`], so a case can send anything.
//! - [`cases::all`] is the table: each case names the RFC section deciding the answer and the
//!   answer expected ([`case::Expect`]).
//! - [`runner::run_all`] runs the table against one responder, and after each case checks that
//!   a legitimate IKE_SA_INIT + IKE_AUTH + CHILD_SA still completes.
//!
//! No clock is read: waits are counted in socket read time-outs.

pub mod case;
pub mod cases;
pub mod peer;
pub mod raw;
pub mod runner;
