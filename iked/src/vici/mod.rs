//! strongSwan's VICI control protocol: the codec, a server transport for the daemon and a
//! blocking client for `ikectl`.

pub mod client;
pub mod codec;
pub mod server;

pub use codec::{Item, Message, Packet};
