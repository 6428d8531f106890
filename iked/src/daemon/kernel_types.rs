//! The values the kernel backend takes beside the engine's requests: trap policies
//! ([`TrapPolicy`], made by `traps.rs`) and shunts ([`Shunt`], made by `shunts.rs`). Data
//! only, so that the backend (`kernel.rs`) and the modules that make, match or install these
//! values all depend on this leaf and none of them on another for its types.

use std::net::IpAddr;

use iked_ike::marks::ResolvedMarks;
use iked_ike::ts::TsSpec;

/// A trap policy: traffic matching the selectors triggers an ACQUIRE for `reqid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrapPolicy {
    pub reqid: u32,
    pub connection: String,
    pub child: String,
    pub local: IpAddr,
    pub remote: IpAddr,
    pub local_ts: Vec<iked_ike::ts::TrafficSelector>,
    pub remote_ts: Vec<iked_ike::ts::TrafficSelector>,
    pub transport: bool,
    /// The child's marks and interface ids (charon's trap policies carry them too).
    pub marks: iked_ike::marks::ChildMarks,
}

/// One shunt child as installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shunt {
    /// The connection it belongs to.
    pub connection: String,
    /// The child's name.
    pub child: String,
    /// Pass or drop.
    pub kind: iked_xfrm::ShuntKind,
    /// Configured local selectors (for listings, as charon lists the child config).
    pub local_cfg: Vec<TsSpec>,
    /// Configured remote selectors.
    pub remote_cfg: Vec<TsSpec>,
    /// Marks and interface ids.
    pub marks: ResolvedMarks,
    /// `priority` (None: computed).
    pub priority: Option<u32>,
    /// `policies_fwd_out`.
    pub fwd_out: bool,
}
