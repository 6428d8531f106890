//! Shunt policies: `mode = pass` (bypass) and `mode = drop` children, which are policies
//! without any SA.
//!
//! Contract (as charon's shunt_manager with kernel-netlink):
//! - For each selector pair (outbound orientation) an OUT policy, an IN policy and an inbound
//!   FWD policy are installed, plus an outbound FWD policy with `policies_fwd_out`.
//! - `pass` is `XFRM_POLICY_ALLOW` without templates at the "pass" priority class, `drop` is
//!   `XFRM_POLICY_BLOCK` at the "fallback" class (so that IPsec and trap policies of the same
//!   selectors win over a drop shunt, and a pass shunt wins over them); a manual `priority`
//!   replaces the computed one.
//! - OUT and outbound FWD policies carry `mark_out`/`if_id_out`, IN and inbound FWD policies
//!   `mark_in`/`if_id_in`.
//! - [`crate::XfrmClient::install_shunt`] installs all of them or none: a failure removes the
//!   policies added so far before the error is returned.

use crate::client::XfrmClient;
use crate::error::XfrmError;
use crate::msg::{PolicyAction, PolicyId, PolicySpec};
use crate::priority::{self, PriorityClass};
use crate::types::{Mark, PolicyDirection, TrafficSelector};

/// What a shunt does with the traffic it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShuntKind {
    /// Let it pass in clear text (`mode = pass`).
    Pass,
    /// Drop it (`mode = drop`).
    Drop,
}

/// One shunt child, ready for the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShuntInstall {
    /// Pass or drop.
    pub kind: ShuntKind,
    /// Selector pairs in the outbound orientation (local -> remote).
    pub selectors: Vec<TrafficSelector>,
    /// Manual priority (`priority`), else computed per selector.
    pub priority: Option<u32>,
    /// Mark of the inbound policies (`mark_in`).
    pub mark_in: Option<Mark>,
    /// Mark of the outbound policies (`mark_out`).
    pub mark_out: Option<Mark>,
    /// Interface id of the inbound policies (`if_id_in`).
    pub if_id_in: Option<u32>,
    /// Interface id of the outbound policies (`if_id_out`).
    pub if_id_out: Option<u32>,
    /// Also install an outbound FWD policy (`policies_fwd_out`).
    pub fwd_out: bool,
}

/// The policy specs of a shunt, in installation order.
pub fn shunt_policy_specs(shunt: &ShuntInstall) -> Vec<PolicySpec> {
    let (action, class) = match shunt.kind {
        ShuntKind::Pass => (PolicyAction::Allow, PriorityClass::Pass),
        ShuntKind::Drop => (PolicyAction::Block, PriorityClass::Fallback),
    };
    let spec = |selector: TrafficSelector, direction, inbound: bool| PolicySpec {
        selector,
        direction,
        priority: shunt
            .priority
            .unwrap_or_else(|| priority::priority(&selector, class)),
        action,
        templates: Vec::new(),
        mark: if inbound {
            shunt.mark_in
        } else {
            shunt.mark_out
        },
        if_id: if inbound {
            shunt.if_id_in
        } else {
            shunt.if_id_out
        },
        offload_ifindex: None,
        update: false,
    };
    let mut out = Vec::with_capacity(shunt.selectors.len() * 4);
    for ts in &shunt.selectors {
        out.push(spec(*ts, PolicyDirection::Out, false));
        if shunt.fwd_out {
            out.push(spec(*ts, PolicyDirection::Fwd, false));
        }
        let inbound = ts.reversed();
        out.push(spec(inbound, PolicyDirection::In, true));
        out.push(spec(inbound, PolicyDirection::Fwd, true));
    }
    out
}

impl XfrmClient {
    /// Installs a shunt's policies; all or none. Returns the ids to remove it with
    /// [`XfrmClient::remove_policies`].
    pub fn install_shunt(&mut self, shunt: &ShuntInstall) -> Result<Vec<PolicyId>, XfrmError> {
        let mut installed = Vec::new();
        for spec in shunt_policy_specs(shunt) {
            if let Err(e) = self.add_policy(&spec) {
                if let Err(leftover) = self.remove_policies(&installed) {
                    return Err(XfrmError::RollbackFailed {
                        cause: Box::new(e),
                        leftovers: leftover.to_string(),
                    });
                }
                return Err(e);
            }
            installed.push(spec.id());
        }
        Ok(installed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Port;

    fn vxlan_guard() -> ShuntInstall {
        // NVIDIA's monitor: local_ts = 0.0.0.0/0 [udp/4789], remote_ts dynamic (any).
        let any = "0.0.0.0".parse().unwrap();
        let mut ts = TrafficSelector::host_to_host(any, any);
        ts.src_prefix = 0;
        ts.dst_prefix = 0;
        ShuntInstall {
            kind: ShuntKind::Drop,
            selectors: vec![ts.with_proto(17, Port::exact(4789), Port::ANY)],
            priority: None,
            mark_in: Some(Mark { value: 1, mask: 1 }),
            mark_out: Some(Mark { value: 1, mask: 1 }),
            if_id_in: None,
            if_id_out: None,
            fwd_out: false,
        }
    }

    #[test]
    fn drop_shunt_blocks_in_out_fwd_with_marks_at_fallback_priority() {
        let specs = shunt_policy_specs(&vxlan_guard());
        let dirs: Vec<_> = specs.iter().map(|s| s.direction).collect();
        assert_eq!(
            dirs,
            [
                PolicyDirection::Out,
                PolicyDirection::In,
                PolicyDirection::Fwd
            ]
        );
        for s in &specs {
            assert_eq!(s.action, PolicyAction::Block);
            assert!(s.templates.is_empty());
            assert_eq!(s.mark, Some(Mark { value: 1, mask: 1 }));
            assert_eq!(
                s.priority,
                priority::priority(&s.selector, PriorityClass::Fallback)
            );
        }
        assert_eq!(specs[0].selector.sport, Port::exact(4789));
        assert_eq!(specs[1].selector.dport, Port::exact(4789));
    }

    #[test]
    fn pass_shunt_allows_without_templates_and_splits_marks_by_direction() {
        let mut shunt = vxlan_guard();
        shunt.kind = ShuntKind::Pass;
        shunt.mark_in = Some(Mark {
            value: 0x10,
            mask: 0xff,
        });
        shunt.mark_out = None;
        shunt.if_id_out = Some(7);
        shunt.fwd_out = true;
        shunt.priority = Some(5);
        let specs = shunt_policy_specs(&shunt);
        assert_eq!(specs.len(), 4);
        for s in &specs {
            assert_eq!(s.action, PolicyAction::Allow);
            assert_eq!(s.priority, 5);
            let inbound = s.direction == PolicyDirection::In
                || (s.direction == PolicyDirection::Fwd && s.selector.dport.value == 4789);
            if inbound {
                assert_eq!(s.mark, shunt.mark_in);
                assert_eq!(s.if_id, None);
            } else {
                assert_eq!(s.mark, None);
                assert_eq!(s.if_id, Some(7));
            }
        }
    }
}
