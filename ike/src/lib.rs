//! Sans-IO IKEv2 protocol engine.

pub mod wire;
