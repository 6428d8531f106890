//! Policy priorities computed as strongSwan's kernel-netlink plugin does (`get_priority` in
//! `kernel_netlink_ipsec.c`), so that our policies interleave with a co-existing charon's
//! and with operators' expectations: more specific selectors get lower (= stronger) values.
//!
//! ```text
//! prio = base - (prefixlen_s + prefixlen_d) * 512 - (proto ? 256 : 0)
//!             - (sport_mask_bits + dport_mask_bits) * 4 - (ifindex ? 2 : 0)
//!             - (class != Routed ? 1 : 0)
//! base = 200000 (Pass) | 400000 (Default, Routed) | 600000 (Fallback)
//! ```

use crate::types::TrafficSelector;

/// strongSwan's `PRIO_BASE`.
pub const PRIO_BASE: u32 = 200_000;

/// strongSwan's `policy_priority_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PriorityClass {
    /// Pass/bypass policies (`POLICY_PRIORITY_PASS`).
    Pass,
    /// Ordinary IPsec policies (`POLICY_PRIORITY_DEFAULT`).
    #[default]
    Default,
    /// Trap policies installed by `start_action = trap` (`POLICY_PRIORITY_ROUTED`).
    Routed,
    /// Fallback drop policies (`POLICY_PRIORITY_FALLBACK`).
    Fallback,
}

/// Leading one bits of a port mask (strongSwan's `port_mask_bits`).
fn port_mask_bits(mask: u16) -> u32 {
    mask.leading_ones()
}

/// The priority strongSwan would give a policy with this selector and class.
pub fn priority(selector: &TrafficSelector, class: PriorityClass) -> u32 {
    let base = match class {
        PriorityClass::Pass => PRIO_BASE,
        PriorityClass::Default | PriorityClass::Routed => PRIO_BASE * 2,
        PriorityClass::Fallback => PRIO_BASE * 3,
    };
    let prefixes = u32::from(selector.src_prefix) + u32::from(selector.dst_prefix);
    let mut prio = base - prefixes * 512;
    if selector.proto != 0 {
        prio -= 256;
    }
    prio -= (port_mask_bits(selector.sport.mask) + port_mask_bits(selector.dport.mask)) * 4;
    if selector.ifindex != 0 {
        prio -= 2;
    }
    if class != PriorityClass::Routed {
        prio -= 1;
    }
    prio
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Port;

    #[test]
    fn host_udp_dport_matches_strongswan_worked_example() {
        // shared/reference/xfrm-offload.md §2.7: host/32 <-> host/32, UDP, dport 4789 only,
        // DEFAULT class: 400000 - 32768 - 256 - 64 - 1 = 366911... with 64 = 16 bits * 4.
        let ts = TrafficSelector::host_to_host(
            "192.168.50.1".parse().unwrap(),
            "192.168.50.2".parse().unwrap(),
        )
        .with_proto(17, Port::ANY, Port::exact(4789));
        assert_eq!(priority(&ts, PriorityClass::Default), 366_911);
        assert_eq!(priority(&ts, PriorityClass::Routed), 366_912);
    }

    #[test]
    fn wider_selectors_get_weaker_priorities() {
        let host =
            TrafficSelector::host_to_host("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let mut subnet = host;
        subnet.dst_prefix = 24;
        assert!(
            priority(&host, PriorityClass::Default) < priority(&subnet, PriorityClass::Default)
        );
        let mut pinned = host;
        pinned.ifindex = 3;
        assert_eq!(
            priority(&host, PriorityClass::Default) - priority(&pinned, PriorityClass::Default),
            2
        );
        assert!(priority(&host, PriorityClass::Pass) < priority(&host, PriorityClass::Fallback));
    }
}
