//! Sans-IO IKEv2 protocol engine.
//!
//! The crate takes datagrams, kernel results and timestamps in, and hands back datagrams to
//! send, abstract kernel requests, events and the next deadline; it never performs I/O or reads
//! a clock. Start at [`engine::Engine`].

pub mod wire;

pub mod config;
pub mod creds;
pub mod engine;
pub mod error;
#[cfg(feature = "conf")]
pub mod from_conf;
pub mod marks;
pub mod message;
pub mod proposal;
pub mod resolved;
pub mod suite;
pub mod time;
pub mod timer;
pub mod ts;

pub use time::Timestamp;

// Lets unit tests include the integration tests' harness (`tests/common`), which names the
// crate `iked_ike`, to drive engines whose IKE SAs a test manipulates from inside the crate.
#[cfg(test)]
extern crate self as iked_ike;
