//! Shunts: children with `mode = pass` or `mode = drop`, installed as bypass or drop policies
//! without any IKE negotiation (charon's shunt manager).
//!
//! Contract:
//! - A shunt is installed by `start_action = trap` (at load, as charon's vici_config runs its
//!   start actions) or by VICI `install`; `start_action = none` installs nothing until
//!   `install`; `start_action = start` does not apply to a shunt (there is nothing to
//!   negotiate) and is ignored with a warning.
//! - Selectors are resolved as charon's shunt manager resolves them: `dynamic` stands for any
//!   address of both families (`0.0.0.0/0` and `::/0`), and every local/remote pair of the same
//!   family whose protocols do not contradict each other gets policies.
//! - Marks and interface ids are the child's (`%unique` has no CHILD_SA to be unique for: as in
//!   charon, the configured value is used as is, 0xffffffff).
//! - [`ShuntTable`] knows what it installed: `uninstall_child` (VICI `uninstall`),
//!   `uninstall_conn` (the connection was unloaded or replaced) and the backend's `remove_all`
//!   (shutdown) remove them again; installing an installed shunt again changes nothing.
//! - A connection made only of shunts ([`is_shunt_only`]) never reaches the IKE engine and
//!   needs neither addresses nor credentials.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use iked_ike::marks::{IfIdSpec, MarkValue};
use iked_ike::ts::{TrafficSelector, TsSpec};

use super::kernel::{KernelBackend, xfrm_selector};
pub use super::kernel_types::Shunt;
use crate::vici::Message;

/// Whether `conn` has children and all of them are shunts.
pub fn is_shunt_only(conn: &iked_conf::Connection) -> bool {
    !conn.children.is_empty() && conn.children.iter().all(|c| c.mode.is_shunt())
}

/// The shunt a child describes, or `None` for a child that is not a shunt.
pub fn from_config(conn: &iked_conf::Connection, child: &iked_conf::Child) -> Option<Shunt> {
    let kind = match child.mode {
        iked_conf::Mode::Pass => iked_xfrm::ShuntKind::Pass,
        iked_conf::Mode::Drop => iked_xfrm::ShuntKind::Drop,
        _ => return None,
    };
    let mut marks = iked_ike::from_conf::child_marks(child);
    // No CHILD_SA, nothing to be unique for: charon installs the configured value as is.
    for m in [&mut marks.mark_in, &mut marks.mark_out] {
        if matches!(m.value, MarkValue::Unique | MarkValue::UniqueDir) {
            m.value = MarkValue::Fixed(u32::MAX);
        }
    }
    for i in [&mut marks.if_id_in, &mut marks.if_id_out] {
        if matches!(i, IfIdSpec::Unique | IfIdSpec::UniqueDir) {
            *i = IfIdSpec::Fixed(u32::MAX);
        }
    }
    Some(Shunt {
        connection: conn.name.clone(),
        child: child.name.clone(),
        kind,
        local_cfg: iked_ike::from_conf::traffic_selectors(&child.local_ts),
        remote_cfg: iked_ike::from_conf::traffic_selectors(&child.remote_ts),
        marks: marks.resolve(&mut || u32::MAX, &mut || u32::MAX),
        priority: (child.priority != 0).then_some(child.priority),
        fwd_out: child.policies_fwd_out,
    })
}

/// `dynamic` as charon's shunt manager resolves it: both families' "any".
fn resolve_any(list: &[TsSpec]) -> Vec<TrafficSelector> {
    let mut out = Vec::new();
    for host in [
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    ] {
        for spec in list {
            let ts = spec.resolve(host);
            // A fixed selector resolves to itself for both hosts.
            if !out.contains(&ts) {
                out.push(ts);
            }
        }
    }
    out
}

impl Shunt {
    /// The selector pairs (local, remote) that get policies.
    pub fn pairs(&self) -> Vec<(TrafficSelector, TrafficSelector)> {
        let local = resolve_any(&self.local_cfg);
        let remote = resolve_any(&self.remote_cfg);
        let mut out = Vec::new();
        for l in &local {
            for r in &remote {
                if l.start.is_ipv4() != r.start.is_ipv4() {
                    continue;
                }
                if l.protocol != 0 && r.protocol != 0 && l.protocol != r.protocol {
                    continue;
                }
                out.push((*l, *r));
            }
        }
        out
    }

    /// What `iked_xfrm` installs for it.
    pub fn xfrm(&self) -> iked_xfrm::ShuntInstall {
        use super::marks::xfrm_mark;
        iked_xfrm::ShuntInstall {
            kind: self.kind,
            selectors: self
                .pairs()
                .iter()
                .map(|(l, r)| xfrm_selector(l, r))
                .collect(),
            priority: self.priority,
            mark_in: xfrm_mark(self.marks.mark_in),
            mark_out: xfrm_mark(self.marks.mark_out),
            if_id_in: self.marks.if_id_in,
            if_id_out: self.marks.if_id_out,
            fwd_out: self.fwd_out,
        }
    }

    /// `DROP` or `PASS`, as charon names the mode.
    pub fn mode_name(&self) -> &'static str {
        match self.kind {
            iked_xfrm::ShuntKind::Pass => "PASS",
            iked_xfrm::ShuntKind::Drop => "DROP",
        }
    }

    /// One line for logs and the record-only backend.
    pub fn describe(&self) -> String {
        let pairs: Vec<String> = self
            .pairs()
            .iter()
            .map(|(l, r)| format!("{l} === {r}"))
            .collect();
        let mut line = format!(
            "{} shunt {}/{}: {}",
            self.mode_name().to_ascii_lowercase(),
            self.connection,
            self.child,
            pairs.join(", ")
        );
        for (key, value) in super::marks::listing(&self.marks) {
            line.push_str(&format!(" {key} {value}"));
        }
        line
    }
}

/// The shunts this daemon installed.
#[derive(Debug, Default)]
pub struct ShuntTable {
    installed: Vec<Shunt>,
}

impl ShuntTable {
    /// Installs `shunt` (nothing if a shunt of that connection and child is installed).
    pub fn install(&mut self, kernel: &mut dyn KernelBackend, shunt: Shunt) -> Result<(), String> {
        if self
            .installed
            .iter()
            .any(|s| s.connection == shunt.connection && s.child == shunt.child)
        {
            tracing::info!(target: "CFG", "shunt {} policy '{}' already installed", shunt.mode_name(), shunt.child);
            return Ok(());
        }
        kernel.install_shunt(&shunt)?;
        tracing::info!(target: "CFG", "installed {}", shunt.describe());
        self.installed.push(shunt);
        Ok(())
    }

    fn remove(&mut self, kernel: &mut dyn KernelBackend, keep: impl Fn(&Shunt) -> bool) -> usize {
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.installed)
            .into_iter()
            .partition(|s| !keep(s));
        self.installed = kept;
        for s in &gone {
            kernel.uninstall_shunt(s);
            tracing::info!(target: "CFG", "uninstalled {} shunt {}/{}", s.mode_name(), s.connection, s.child);
        }
        gone.len()
    }

    /// Removes the shunts named `child` (VICI `uninstall`); whether there was one.
    pub fn uninstall_child(&mut self, kernel: &mut dyn KernelBackend, child: &str) -> bool {
        self.remove(kernel, |s| s.child != child) > 0
    }

    /// Removes every shunt of `conn` (unloaded or replaced).
    pub fn uninstall_conn(&mut self, kernel: &mut dyn KernelBackend, conn: &str) {
        self.remove(kernel, |s| s.connection != conn);
    }

    /// Forgets every shunt (the backend's `remove_all` took them out of the kernel).
    pub fn clear(&mut self) {
        self.installed.clear();
    }

    /// `list-policy` events for `list-policies` with `drop`/`pass`, as charon raises them:
    /// a section `<conn>/<child>` with `child`, `ike`, `mode`, `local-ts`, `remote-ts` (the
    /// configured selectors, `dynamic` included).
    pub fn listing(&self, drop: bool, pass: bool, child: Option<&str>) -> Vec<(String, Message)> {
        self.installed
            .iter()
            .filter(|s| child.is_none_or(|c| c == s.child))
            .filter(|s| match s.kind {
                iked_xfrm::ShuntKind::Drop => drop,
                iked_xfrm::ShuntKind::Pass => pass,
            })
            .map(|s| {
                let ts = |l: &[TsSpec]| l.iter().map(ToString::to_string).collect::<Vec<_>>();
                (
                    format!("{}/{}", s.connection, s.child),
                    Message::new()
                        .kv("child", s.child.as_str())
                        .kv("ike", s.connection.as_str())
                        .kv("mode", s.mode_name())
                        .list("local-ts", ts(&s.local_cfg))
                        .list("remote-ts", ts(&s.remote_cfg)),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> iked_conf::Config {
        iked_conf::load_str("test.conf", text).unwrap().config
    }

    const OVS_GUARD: &str = "connections { shunts { children { prevent_unencrypted_vxlan {
        local_ts = 0.0.0.0/0 [udp/4789]
        mark_in = 0x1/0x1
        mark_out = 0x1/0x1
        mode = drop
        start_action = trap
    } } } }";

    #[test]
    fn nvidia_monitor_guard_pairs_with_ipv4_any_only() {
        let config = load(OVS_GUARD);
        let conn = &config.connections[0];
        assert!(is_shunt_only(conn));
        let shunt = from_config(conn, &conn.children[0]).unwrap();
        let pairs = shunt.pairs();
        assert_eq!(
            pairs.len(),
            1,
            "the IPv6 any has no IPv4 partner: {pairs:?}"
        );
        let x = shunt.xfrm();
        assert_eq!(x.kind, iked_xfrm::ShuntKind::Drop);
        assert_eq!(x.selectors[0].proto, 17);
        assert_eq!(x.selectors[0].sport, iked_xfrm::Port::exact(4789));
        assert_eq!(
            (x.selectors[0].src_prefix, x.selectors[0].dst_prefix),
            (0, 0)
        );
        assert_eq!(x.mark_in, Some(iked_xfrm::Mark { value: 1, mask: 1 }));
        assert_eq!(x.mark_out, x.mark_in);
    }

    #[test]
    fn dynamic_on_both_sides_covers_both_families_and_protocols_must_agree() {
        let config = load(
            "connections { c { children {
                p {
                    mode = pass
                    remote_ts = 10.0.0.0/8[tcp],10.0.0.0/8[udp]
                    local_ts = 0.0.0.0/0[udp]
                }
                d {
                    mode = drop
                }
            } } }",
        );
        let conn = &config.connections[0];
        let pass = from_config(conn, &conn.children[0]).unwrap();
        assert_eq!(pass.pairs().len(), 1, "tcp contradicts udp");
        let drop = from_config(conn, &conn.children[1]).unwrap();
        assert_eq!(drop.pairs().len(), 2, "0.0.0.0/0 and ::/0 with each other");
    }
}
