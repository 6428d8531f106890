//! Recognising what an earlier iked instance left in the kernel.
//!
//! **The mark.** Every SA, larval SA (ALLOCSPI) and policy template iked installs carries a
//! reqid from iked's own range, [`REQID_BASE`]`..`[`REQID_END`] (`0x69000000`-`0x6fffffff`,
//! shown by `ip xfrm state`/`ip xfrm policy` as `reqid 1761607681 (0x69000001)`). The reqid was
//! chosen over the alternatives because it is the one attribute that is
//! - kept verbatim by the kernel in SA and policy dumps (`XFRM_MSG_GETSA`/`GETPOLICY` dumps),
//!   so a later process can read it back;
//! - without effect on which packets a policy or SA matches: it only links a policy's template
//!   to the SAs that may serve it, and iked's SAs and templates always carry the same one.
//!   A mark (`XFRMA_MARK`) or interface id would change matching (packets must then carry the
//!   mark), a security context (`XFRMA_SEC_CTX`) makes the kernel do LSM checks on every
//!   packet, and the policy priority changes precedence;
//! - already chosen freely by the IKE daemon: charon numbers reqids from 1 and Libreswan from
//!   16384, and operators writing `ip xfrm` by hand use small numbers or 0, so the range does
//!   not collide with what another tool installs.
//!
//! The engine's own reqids (charon's small numbers, shown by `list-sas`) are mapped into the
//! range by [`ReqidSpace`]: kernel reqid = `REQID_BASE + offset + engine reqid`, where the
//! offset of a new instance lies above every reqid a previous instance left, so that its SAs
//! and the leftovers are never served by the same template.
//!
//! **Contract.** [`find_leftovers`] reads dumps and returns only objects in iked's range: an SA
//! whose reqid is in the range, a policy with at least one template whose every reqid is in
//! the range. Anything else (the operator's hand-made SAs and policies, another daemon's, IKE
//! bypass policies, which have no template) is never returned, so never removed. A policy
//! whose FWD template carries reqid 0 (`policies_fwd_out`) cannot be recognised and stays.

use std::collections::HashSet;

use crate::consts::{XFRM_POLICY_FWD, XFRM_POLICY_IN, XFRM_POLICY_OUT};
use crate::msg::{PolicyId, SaId};
use crate::parse::{PolicyState, SaState};
use crate::types::{IpsecProtocol, PolicyDirection};

/// First reqid of iked's range.
pub const REQID_BASE: u32 = 0x6900_0000;
/// One past the last reqid of iked's range.
pub const REQID_END: u32 = 0x7000_0000;

/// Whether `reqid` lies in iked's range.
pub fn is_ikeds(reqid: u32) -> bool {
    (REQID_BASE..REQID_END).contains(&reqid)
}

/// Maps the engine's reqids (1, 2, ... and the daemon's trap reqids) into iked's kernel range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReqidSpace {
    offset: u32,
}

impl ReqidSpace {
    /// A space whose kernel reqids all lie above `leftovers`' (or from the start of the range
    /// when nothing was left, or when the rest of the range is too small to stay above them:
    /// templates then only prefer the newer SA, as the kernel always does).
    pub fn above(leftovers: &Leftovers) -> Self {
        let offset = leftovers
            .max_reqid
            .map_or(0, |r| r.saturating_sub(REQID_BASE).saturating_add(1));
        // Room for 2^25 engine reqids (children and trap policies) above the offset.
        if offset > REQID_END - REQID_BASE - (1 << 25) {
            return Self::default();
        }
        Self { offset }
    }

    /// The space an earlier instance used ([`ReqidSpace::offset`]), so a hitless restart
    /// maps the children it resumes onto the same kernel reqids; `None` if out of range.
    pub fn with_offset(offset: u32) -> Option<Self> {
        (offset <= REQID_END - REQID_BASE - (1 << 25)).then_some(Self { offset })
    }

    /// Where this space starts above [`REQID_BASE`] (saved for a hitless restart).
    pub fn offset(&self) -> u32 {
        self.offset
    }

    /// The kernel reqid for an engine reqid (0 stays 0: "no reqid").
    pub fn to_kernel(&self, reqid: u32) -> u32 {
        if reqid == 0 {
            return 0;
        }
        REQID_BASE
            .wrapping_add(self.offset)
            .wrapping_add(reqid % (REQID_END - REQID_BASE - self.offset))
    }

    /// The engine reqid of a kernel reqid this space produced, if it is one.
    pub fn from_kernel(&self, reqid: u32) -> Option<u32> {
        let start = REQID_BASE + self.offset;
        if reqid == 0 || !(start..REQID_END).contains(&reqid) {
            return None;
        }
        Some(reqid - start)
    }
}

/// What an earlier instance left: SAs and policies in iked's reqid range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// SAs (including larval ones) with an iked reqid.
    pub sas: Vec<SaId>,
    /// Policies whose templates all carry iked reqids.
    pub policies: Vec<PolicyId>,
    /// The reqids they carry.
    pub reqids: HashSet<u32>,
    /// The highest of them.
    pub max_reqid: Option<u32>,
}

impl Leftovers {
    /// Nothing was left.
    pub fn is_empty(&self) -> bool {
        self.sas.is_empty() && self.policies.is_empty()
    }
}

/// The objects in iked's range among a dump of SAs and policies (see the module contract).
pub fn find_leftovers(sas: &[SaState], policies: &[PolicyState]) -> Leftovers {
    let mut out = Leftovers::default();
    for sa in sas.iter().filter(|sa| is_ikeds(sa.reqid)) {
        let protocol = match sa.protocol {
            50 => IpsecProtocol::Esp,
            51 => IpsecProtocol::Ah,
            _ => continue,
        };
        out.sas.push(SaId {
            dst: sa.dst,
            spi: sa.spi,
            protocol,
            mark: sa.mark,
        });
        out.reqids.insert(sa.reqid);
    }
    for p in policies {
        if p.template_reqids.is_empty() || !p.template_reqids.iter().all(|r| is_ikeds(*r)) {
            continue;
        }
        let direction = match p.direction {
            XFRM_POLICY_IN => PolicyDirection::In,
            XFRM_POLICY_OUT => PolicyDirection::Out,
            XFRM_POLICY_FWD => PolicyDirection::Fwd,
            _ => continue,
        };
        out.policies.push(PolicyId {
            selector: p.selector,
            direction,
            mark: p.mark,
            if_id: p.if_id,
        });
        out.reqids.extend(p.template_reqids.iter().copied());
    }
    out.max_reqid = out.reqids.iter().copied().max();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::SaCounters;
    use crate::types::{Spi, TrafficSelector};

    fn sa(spi: u32, reqid: u32) -> SaState {
        SaState {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            spi: Spi(spi),
            protocol: 50,
            reqid,
            mode: 0,
            flags: 0,
            replay_window: 0,
            selector: TrafficSelector::default(),
            limits: (0, 0, 0, 0),
            counters: SaCounters::default(),
            offload: None,
            sa_dir: None,
            replay: None,
            mark: None,
            if_id: None,
            set_mark: None,
            encapsulated: false,
        }
    }

    fn policy(direction: u8, reqids: &[u32]) -> PolicyState {
        PolicyState {
            selector: TrafficSelector::host_to_host(
                "10.0.0.1".parse().unwrap(),
                "10.0.0.2".parse().unwrap(),
            ),
            direction,
            priority: 0,
            action: 0,
            index: 0,
            template_reqids: reqids.to_vec(),
            offload: None,
            mark: None,
            if_id: None,
        }
    }

    #[test]
    fn only_objects_in_ikeds_range_are_leftovers() {
        let sas = [
            sa(0xc000_0001, REQID_BASE + 1),
            sa(0xc000_0002, 5),             // the operator's
            sa(0xc000_0003, 0),             // the operator's, no reqid
            sa(0xc000_0004, REQID_END),     // just outside
            sa(0xc000_0005, REQID_END - 1), // last of the range
        ];
        let policies = [
            policy(XFRM_POLICY_OUT, &[REQID_BASE + 1]),
            policy(XFRM_POLICY_IN, &[5]), // the operator's
            policy(XFRM_POLICY_IN, &[]),  // a bypass: no template
            policy(XFRM_POLICY_FWD, &[REQID_BASE + 2, 7]), // mixed: not surely ours
        ];
        let l = find_leftovers(&sas, &policies);
        let spis: Vec<u32> = l.sas.iter().map(|s| s.spi.0).collect();
        assert_eq!(spis, [0xc000_0001, 0xc000_0005]);
        assert_eq!(l.policies.len(), 1);
        assert_eq!(l.policies[0].direction, PolicyDirection::Out);
        assert_eq!(l.max_reqid, Some(REQID_END - 1));
    }

    #[test]
    fn a_new_space_stays_above_the_leftovers_and_round_trips() {
        let l = find_leftovers(&[sa(1, REQID_BASE + 41)], &[]);
        let space = ReqidSpace::above(&l);
        assert_eq!(space.to_kernel(1), REQID_BASE + 43);
        assert_eq!(space.from_kernel(REQID_BASE + 43), Some(1));
        assert_eq!(
            space.from_kernel(REQID_BASE + 41),
            None,
            "a leftover's reqid"
        );
        assert_eq!(space.from_kernel(5), None);
        assert_eq!(space.to_kernel(0), 0);
        let trap = (1 << 24) + 3;
        assert!(is_ikeds(space.to_kernel(trap)));
        assert_eq!(space.from_kernel(space.to_kernel(trap)), Some(trap));
    }

    #[test]
    fn a_handed_over_space_maps_onto_the_same_kernel_reqids() {
        let l = find_leftovers(&[sa(1, REQID_BASE + 41)], &[]);
        let old = ReqidSpace::above(&l);
        let again = ReqidSpace::with_offset(old.offset()).unwrap();
        assert_eq!(again, old);
        assert_eq!(again.to_kernel(7), old.to_kernel(7));
        assert_eq!(ReqidSpace::with_offset(REQID_END - REQID_BASE), None);
    }

    #[test]
    fn a_nearly_full_range_starts_again_at_the_base() {
        let l = find_leftovers(&[sa(1, REQID_END - 10)], &[]);
        assert_eq!(ReqidSpace::above(&l), ReqidSpace::default());
        assert_eq!(ReqidSpace::default().to_kernel(1), REQID_BASE + 1);
        assert!(is_ikeds(ReqidSpace::default().to_kernel(u32::MAX)));
    }
}
