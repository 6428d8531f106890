//! `iked-xfrm`: the Linux kernel side of IPsec for `iked`.
//!
//! This crate installs and removes ESP security associations (SAs) and security policies
//! over netlink XFRM, allocates SPIs, reads SA counters back, and reports kernel events
//! (SA soft/hard expiry, ACQUIRE for traffic without an SA, NAT mapping changes) together
//! with link up/down notifications from rtnetlink. It implements strongSwan's
//! `hw_offload = no | crypto | yes | packet | auto` semantics, deciding the offload mode
//! per CHILD_SA so that an SA and its policies never end up in different modes.
//!
//! Layers, from the bottom:
//! - [`consts`]: UAPI numbers that `netlink-packet-xfrm` 0.5 lacks (`XFRM_OFFLOAD_PACKET`,
//!   `XFRMA_SA_DIR`, extended-ack attributes).
//! - [`msg`]: pure builders that turn typed specs ([`SaSpec`], [`PolicySpec`], ...) into the
//!   exact request bytes (tested byte-for-byte against iproute2 captures).
//! - [`parse`]: a checked reader for kernel replies and events; it never panics and never
//!   trusts a length field.
//! - [`socket`]: a blocking request/ack netlink socket that turns `NLMSG_ERROR` into a typed
//!   [`XfrmError`] carrying the errno and the kernel's extended-ack text.
//! - [`ethtool`], [`link`]: device feature probing (`esp-hw-offload`), interface lookup and
//!   link-state events.
//! - [`client`]: [`XfrmClient`], the API the daemon calls (`alloc_spi`, `install_child`,
//!   `remove_child`, `sa_counters`, IKE bypass policies) and [`EventMonitor`].
//!
//! - [`stale`]: the reqid range that marks what iked installs, and the recognition of what
//!   an earlier instance left (see that module for why the reqid is the mark).
//!
//! Invariants: nothing here flushes or touches SAs/policies outside iked's reqid range
//! ([`stale::REQID_BASE`]..[`stale::REQID_END`]) other than those this client created (a policy
//! in the way of a child's is updated, as charon does); key material lives in zeroizing
//! buffers and is never printed.

pub mod addrs;
pub mod client;
pub mod consts;
pub mod error;
pub mod ethtool;
pub mod link;
pub mod msg;
pub mod parse;
pub mod priority;
pub mod shunt;
pub mod socket;
pub mod stale;
pub mod types;

pub use client::{ChildInstall, ClientOptions, EventMonitor, InstalledChild, XfrmClient};
pub use error::{ParseError, XfrmError, XfrmObject};
pub use link::{LinkEvent, LinkMonitor};
pub use msg::{PolicyAction, PolicyId, PolicySpec, SaId, SaSpec, SpiRequest, TemplateSpec};
pub use parse::{Acquire, Expire, Mapping, PolicyState, SaCounters, SaState, XfrmEvent};
pub use shunt::{ShuntInstall, ShuntKind};
pub use types::*;
