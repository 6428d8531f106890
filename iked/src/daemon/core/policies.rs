//! The core's side of shunts and of connections waiting for their local address: which
//! policies go with a connection that is replaced or unloaded, and when a waiting connection
//! may start (see `super::super::shunts` and `super::super::addrs` for the contracts).

use super::{Core, Timestamp};

impl Core {
    /// The host's addresses changed: connections that were waiting for a local address and
    /// have one now run their `start_action = start`.
    pub fn addresses_changed(&mut self, now: Timestamp) {
        let names: Vec<String> = self
            .conns
            .iter()
            .filter(|c| self.waiting.contains(&c.conn.name))
            .map(|c| c.conn.name.clone())
            .collect();
        for name in names {
            let ready = self
                .find_conn(&name)
                .is_some_and(|c| self.waiting_for(c).is_empty());
            if ready {
                tracing::info!(target: "CFG", "connection '{name}': its local address appeared");
                self.apply_start_actions(now, Some(&name));
            }
        }
    }

    /// Makes connections wait for their local addresses from now on (the daemon calls it).
    pub fn check_local_addresses(&mut self) {
        self.check_addrs = true;
    }

    /// The local addresses `conn` waits for (none unless checking is on).
    pub(super) fn waiting_for(&self, conn: &iked_conf::Connection) -> Vec<std::net::IpAddr> {
        if !self.check_addrs {
            return Vec::new();
        }
        super::super::addrs::waiting_for(conn, &super::super::addrs::is_local)
    }

    /// Removes the trap and shunt policies of connection `conn`.
    pub(super) fn drop_policies_of(&mut self, conn: &str) {
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.traps)
            .into_iter()
            .partition(|t| t.connection == conn);
        self.traps = keep;
        for t in &gone {
            self.kernel.uninstall_trap(t);
        }
        self.shunts.uninstall_conn(self.kernel.as_mut(), conn);
    }
}
