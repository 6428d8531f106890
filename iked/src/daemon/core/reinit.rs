//! Re-establishing, at start, the tunnels an earlier (crashed) instance left in the kernel.
//!
//! Contract: [`Core::reinitiate_leftovers`] runs once after the configuration is loaded. For
//! every loaded connection the leftover policies belong to (`recovery::owners`: concrete
//! remote address, selectors within a child's), it initiates one IKE SA with the children the
//! leftovers name (the first in IKE_AUTH, the rest by CREATE_CHILD_SA), unless `start_action`
//! already started them. The engine adds INITIAL_CONTACT (no other IKE SA to that peer exists
//! yet), so a peer that kept its IKE SA with the crashed instance destroys it and its children
//! instead of refusing ours as duplicates: charon does so in either role, whereas the
//! unprotected INVALID_IKE_SPI its DPD gets meanwhile is ignored. Attempts are retried per
//! `keyingtries` like `start_action = start`. The leftovers themselves are swept as before.

use iked_ike::engine::Timestamp;

use super::Core;

impl Core {
    /// Initiates towards the peers of an earlier instance's leftovers (module contract).
    pub fn reinitiate_leftovers(&mut self, now: Timestamp) {
        let policies = self.kernel.leftover_policies();
        if policies.is_empty() {
            return;
        }
        let conns: Vec<&iked_conf::Connection> = self.conns.iter().map(|c| &c.conn).collect();
        let owners = super::super::recovery::owners(&policies, &conns);
        if owners.is_empty() {
            tracing::info!(target: "CFG", "the earlier instance's {} policy(ies) belong to no loaded connection that can initiate: only removing them", policies.len());
            return;
        }
        for owner in owners {
            // start_action = start already initiated these children at load.
            let children: Vec<String> = owner
                .children
                .into_iter()
                .filter(|child| {
                    !self.sa_meta.values().any(|m| {
                        m.name == owner.connection
                            && m.auto.as_ref().is_some_and(|a| a.children.contains(child))
                    })
                })
                .collect();
            if children.is_empty() {
                continue;
            }
            let tries = self
                .find_conn(&owner.connection)
                .map_or(1, |c| c.keyingtries);
            tracing::info!(target: "DMN", "re-establishing {} {:?} left by an earlier iked instance (INITIAL_CONTACT makes the peer drop its old IKE SA)", owner.connection, children);
            self.auto_initiate(now, &owner.connection, children, tries);
        }
    }
}
