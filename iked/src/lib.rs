//! `iked`: the IKEv2 daemon's I/O shell and its control tool.
//!
//! This crate is the only one in the workspace that does I/O: UDP sockets, the clock, netlink
//! (through `iked_xfrm`) and the VICI control socket. Protocol logic lives in `iked_ike`.
//! Modules: [`clock`] (the only clock reads), [`log`] (charon-style subsystem logging),
//! [`notify`] (systemd), [`vici`] (control protocol), [`daemon`] (event loop and core),
//! [`ctl`] (`ikectl`/`swanctl` front end).

pub mod clock;
pub mod ctl;
pub mod daemon;
pub mod log;
pub mod notify;
pub mod vici;
