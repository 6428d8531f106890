//! DNS names of `local_addrs`/`remote_addrs` and the addresses the daemon last resolved them
//! to. The engine never resolves (it is sans-IO): the daemon resolves names off the event loop
//! and hands the results in with [`crate::engine::Engine::set_resolved`].
//!
//! Contract: a name matches exactly the addresses it last resolved to, with the quality of a
//! configured single address (charon's `ike_cfg.c` `match` resolves each host entry and
//! compares it with the candidate); a name never resolved (or whose last resolution failed)
//! matches nothing, so a connection whose only entry is a name never becomes "any address".
//! Names compare case-insensitively, as DNS does.

use std::collections::HashMap;
use std::net::IpAddr;

/// Addresses per DNS name, as last resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    by_name: HashMap<String, Vec<IpAddr>>,
}

impl Resolved {
    /// Records what `name` resolved to (empty: it did not resolve).
    pub fn set(&mut self, name: &str, addrs: Vec<IpAddr>) {
        self.by_name.insert(name.to_ascii_lowercase(), addrs);
    }

    /// The addresses `name` last resolved to (empty when unknown).
    pub fn get(&self, name: &str) -> &[IpAddr] {
        self.by_name
            .get(&name.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// Whether any of `names` resolved to `addr`.
    pub fn any_is(&self, names: &[String], addr: IpAddr) -> bool {
        names.iter().any(|n| self.get(n).contains(&addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_their_last_resolution_only() {
        let mut r = Resolved::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let names = vec!["Peer.Example".to_string()];
        assert!(!r.any_is(&names, a), "unresolved matches nothing");
        r.set("peer.example", vec![a]);
        assert!(r.any_is(&names, a));
        r.set("peer.example", vec![]);
        assert!(
            !r.any_is(&names, a),
            "a failed re-resolution forgets the address"
        );
    }
}
