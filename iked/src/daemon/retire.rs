//! What a reload closes: the SAs that `start_action = start` of a connection brought up, when
//! the connection is unloaded or replaced by a changed definition (a new PSK written by
//! ovs-monitor-ipsec comes with a new connection version, so the old one is unloaded).
//!
//! Contract (charon's VICI `clear_start_actions`): for each IKE SA the engine reports stale
//! ([`iked_ike::engine::StaleSa`]), the CHILD_SAs whose name is a `start` child of the previous
//! definition are closed; if that leaves the IKE SA without children (or it had none), the
//! IKE SA is closed instead, with all of them. Children started by hand stay, as in charon.

use std::collections::{HashMap, HashSet};
use std::fmt;

use iked_ike::engine::{ChildSaId, IkeSaId, StaleSa};

/// The `start_action = start` children of each connection, by connection name.
pub type StartChildren = HashMap<String, HashSet<String>>;

/// Collects [`StartChildren`] from the loaded connections (before a reload replaces them).
pub fn start_children<'a>(conns: impl Iterator<Item = &'a iked_conf::Connection>) -> StartChildren {
    conns
        .map(|c| {
            let names = c
                .children
                .iter()
                .filter(|ch| ch.start_action.start)
                .map(|ch| ch.name.clone())
                .collect();
            (c.name.clone(), names)
        })
        .collect()
}

/// One closing step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retire {
    /// Delete the IKE SA and its children.
    Ike { id: IkeSaId, name: String },
    /// Delete one CHILD_SA.
    Child { id: ChildSaId, name: String },
}

impl fmt::Display for Retire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Retire::Ike { id, name } => {
                write!(
                    f,
                    "closing IKE_SA '{name}' #{} of a replaced connection",
                    id.0
                )
            }
            Retire::Child { id, name } => {
                write!(
                    f,
                    "closing CHILD_SA '{name}' #{} of a replaced connection",
                    id.0
                )
            }
        }
    }
}

/// The steps for `stale` SAs (module contract).
pub fn plan(stale: Vec<StaleSa>, old_start: &StartChildren) -> Vec<Retire> {
    let mut out = Vec::new();
    for sa in stale {
        let Some(start) = old_start.get(&sa.name) else {
            // Not loaded from a file before this reload (a VICI connection): leave it.
            continue;
        };
        let (started, others): (Vec<_>, Vec<_>) = sa
            .children
            .iter()
            .partition(|(_, name)| start.contains(name));
        if others.is_empty() && (!started.is_empty() || !start.is_empty()) {
            out.push(Retire::Ike {
                id: sa.id,
                name: sa.name,
            });
        } else {
            out.extend(started.into_iter().map(|(id, name)| Retire::Child {
                id: *id,
                name: name.clone(),
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stale(id: u32, name: &str, children: &[(u32, &str)]) -> StaleSa {
        StaleSa {
            id: IkeSaId(id),
            name: name.into(),
            children: children
                .iter()
                .map(|(c, n)| (ChildSaId(*c), (*n).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn started_children_go_with_their_ike_sa_and_others_stay() {
        let mut old = StartChildren::new();
        old.insert("vx-1".into(), ["in".to_owned(), "out".to_owned()].into());
        old.insert("manual".into(), HashSet::new());
        let steps = plan(
            vec![
                stale(1, "vx-1", &[(1, "in"), (2, "out")]),
                stale(2, "vx-1", &[(3, "in"), (4, "by-hand")]),
                stale(3, "manual", &[(5, "x")]),
                stale(4, "vici-only", &[(6, "y")]),
            ],
            &old,
        );
        assert_eq!(
            steps,
            vec![
                Retire::Ike {
                    id: IkeSaId(1),
                    name: "vx-1".into()
                },
                Retire::Child {
                    id: ChildSaId(3),
                    name: "in".into()
                },
            ]
        );
    }
}
