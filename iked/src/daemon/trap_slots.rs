//! Trap policies and the policies of the CHILD_SAs they bring up share kernel slots.
//!
//! Contract: the kernel keys a policy by selector, direction, mark and interface id, not by
//! priority or template, so a CHILD_SA negotiated for a trap (`auto=route`, `start_action =
//! trap`) wants exactly the slots its trap holds, as in charon's kernel-netlink, where both
//! are users of one kernel policy. The rules, applied by `kernel::Xfrm`:
//! - a CHILD_SA installs over the trap's slots (UPDPOLICY) instead of failing with EEXIST
//!   ([`taken_over`]), under the trap's reqid ([`reqid`]); when its install fails, the trap's
//!   policies are put back;
//! - a CHILD_SA removed while its trap is still wanted gives the slots back to the trap
//!   ([`restore`]), so the next packet raises an ACQUIRE instead of leaving in clear text;
//!   while another CHILD_SA for the same traffic is installed (crossed initiations), the slots
//!   go to that one instead ([`heirs`]);
//! - a trap uninstalled (its connection unloaded) while a CHILD_SA holds its slots leaves them
//!   to the CHILD_SA, and a trap installed over a CHILD_SA's slots only records them
//!   ([`not_held`]): the SA's policies stay in force until the SA goes (ipsec.conf's
//!   `ipsec update`/`restart` keep SAs, as charon).

use std::collections::{HashMap, HashSet};

use iked_xfrm::{PolicyId, PolicySpec, XfrmClient, XfrmError};

/// The trap policies (all traps' specs) that occupy one of `ids`.
pub fn taken_over(traps: &HashMap<u32, Vec<PolicySpec>>, ids: &[PolicyId]) -> Vec<PolicySpec> {
    traps
        .values()
        .flatten()
        .filter(|spec| ids.contains(&spec.id()))
        .cloned()
        .collect()
}

/// The kernel reqid a CHILD_SA taking over `trap`'s slots installs under: the trap's, as
/// charon's child_sa reuses its trap's reqid. The kernel then finds the child's outbound SA
/// through the trap policy's template even before the policies are updated, a new SA replaces
/// the larval state the trap's ACQUIRE left (instead of leaving it to block further ACQUIREs
/// for `xfrm_acq_expires`), and when two CHILD_SAs for the same trap are installed (crossed
/// ACQUIREs), both live under one reqid and the policies select the newest of them.
pub fn reqid(trap: &[PolicySpec]) -> Option<u32> {
    trap.iter()
        .flat_map(|spec| spec.templates.iter())
        .map(|t| t.reqid)
        .find(|r| *r != 0)
}

/// Who takes back the slots `ids` of a CHILD_SA that goes: another CHILD_SA holding some of
/// them (a duplicate of crossed initiations; `others` are the policies of the installed ones
/// that own theirs), else the trap (empty: nobody, the policies go).
pub fn heirs<'a>(
    others: impl IntoIterator<Item = &'a [PolicySpec]>,
    traps: &HashMap<u32, Vec<PolicySpec>>,
    ids: &[PolicyId],
) -> Vec<PolicySpec> {
    for specs in others {
        let held: Vec<PolicySpec> = specs
            .iter()
            .filter(|s| ids.contains(&s.id()))
            .cloned()
            .collect();
        if !held.is_empty() {
            return held;
        }
    }
    taken_over(traps, ids)
}

/// Puts `specs` (trap policies) back into their slots, replacing what holds them.
pub fn restore(client: &mut XfrmClient, specs: &[PolicySpec]) -> Result<(), XfrmError> {
    let mut first = None;
    for spec in specs {
        let mut spec = spec.clone();
        spec.update = true;
        if let Err(e) = client.add_policy(&spec) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// The ids of `specs` that no CHILD_SA holds (`held`).
pub fn not_held(specs: &[PolicySpec], held: &HashSet<PolicyId>) -> Vec<PolicyId> {
    specs
        .iter()
        .map(PolicySpec::id)
        .filter(|id| !held.contains(id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use iked_xfrm::{PolicyAction, PolicyDirection, TrafficSelector};

    fn spec(last: u8, direction: PolicyDirection, reqid: u32) -> PolicySpec {
        let a = std::net::IpAddr::from([192, 168, 51, 1]);
        let b = std::net::IpAddr::from([192, 168, 51, last]);
        let mut selector = TrafficSelector::host_to_host(a, b);
        selector.proto = 47;
        PolicySpec {
            selector,
            direction,
            priority: 1,
            action: PolicyAction::Allow,
            templates: vec![iked_xfrm::TemplateSpec {
                src: None,
                dst: None,
                spi: None,
                protocol: iked_xfrm::IpsecProtocol::Esp,
                mode: iked_xfrm::Mode::Transport,
                reqid,
                optional: false,
            }],
            mark: None,
            if_id: None,
            offload_ifindex: None,
            update: false,
        }
    }

    #[test]
    fn a_child_takes_over_exactly_its_traps_slots() {
        let traps = HashMap::from([
            (
                1,
                vec![
                    spec(2, PolicyDirection::Out, 1),
                    spec(2, PolicyDirection::In, 1),
                ],
            ),
            (2, vec![spec(3, PolicyDirection::Out, 2)]),
        ]);
        // The child's slots: the same selectors with its own template (another SPI, priority).
        let mut child = spec(2, PolicyDirection::Out, 1);
        child.priority = 7;
        let ids = [child.id(), spec(2, PolicyDirection::In, 9).id()];
        let taken = taken_over(&traps, &ids);
        assert_eq!(taken.len(), 2);
        assert!(taken.iter().all(|s| s.templates[0].reqid == 1));
        assert!(taken_over(&traps, &[spec(4, PolicyDirection::Out, 1).id()]).is_empty());
    }

    #[test]
    fn a_duplicate_child_inherits_before_the_trap() {
        let traps = HashMap::from([(1, vec![spec(2, PolicyDirection::Out, 1)])]);
        let ids = [spec(2, PolicyDirection::Out, 5).id()];
        let other = vec![
            spec(2, PolicyDirection::Out, 6),
            spec(9, PolicyDirection::In, 6),
        ];
        let unrelated = vec![spec(7, PolicyDirection::Out, 7)];
        let h = heirs([unrelated.as_slice(), other.as_slice()], &traps, &ids);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].templates[0].reqid, 6);
        let h = heirs([unrelated.as_slice()], &traps, &ids);
        assert_eq!(h[0].templates[0].reqid, 1);
    }

    #[test]
    fn a_child_for_a_trap_takes_the_traps_reqid() {
        let trap = [
            spec(2, PolicyDirection::Out, 41),
            spec(2, PolicyDirection::In, 41),
        ];
        assert_eq!(reqid(&trap), Some(41));
        assert_eq!(reqid(&[]), None);
    }

    #[test]
    fn held_slots_are_left_to_the_child() {
        let specs = [
            spec(2, PolicyDirection::Out, 1),
            spec(2, PolicyDirection::In, 1),
        ];
        let held = HashSet::from([specs[0].id()]);
        assert_eq!(not_held(&specs, &held), vec![specs[1].id()]);
        assert_eq!(not_held(&specs, &HashSet::new()).len(), 2);
    }
}
