//! Starting children on the connection's IKE SA, as charon does with `reuse_ikesa` (default
//! yes): `start_action = start`, `close_action`/`dpd_action = start` and `keyingtries` go
//! through [`Engine::start_children`].
//!
//! Contract: if an IKE SA of the connection with the configured peer exists that is not being
//! deleted (established in either role, or being set up by us), the children it does not
//! already have, create, or queue are queued on it (created by CREATE_CHILD_SA once it is
//! established, one after the other, as charon's queued `child_create` tasks); otherwise a new
//! IKE SA is initiated carrying the first child in IKE_AUTH and the others after it. So the
//! several `start` children of one connection come up in one IKE SA.

use super::core::{Engine, InitiateOptions};
use super::sa::{Active, ChildState, Phase, Task};
use super::{IkeSaId, LogGroup};
use crate::error::CommandError;
use crate::time::Timestamp;

/// What [`Engine::start_children`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// A new IKE SA was initiated.
    New(IkeSaId),
    /// The children were queued on this existing IKE SA.
    Reused(IkeSaId),
}

impl Started {
    /// The IKE SA carrying the children.
    pub fn id(self) -> IkeSaId {
        match self {
            Started::New(id) | Started::Reused(id) => id,
        }
    }
}

impl Engine {
    /// Whether an established IKE SA of `conn` that we initiated and that is not being deleted
    /// exists.
    pub fn has_established_initiated(&self, conn: &str) -> bool {
        self.sas.values().any(|sa| {
            sa.config.name == conn
                && sa.initiator
                && sa.phase.is_established()
                && !super::contacts::is_deleting(sa)
        })
    }

    /// Whether child `child` of `conn` is up or being created on an IKE SA that is not being
    /// deleted (what `start_action = start` checks before starting it again).
    pub fn child_active(&self, conn: &str, child: &str) -> bool {
        self.sas.values().any(|sa| {
            sa.config.name == conn
                && !super::contacts::is_deleting(sa)
                && (sa.children.iter().any(|c| {
                    c.config.name == child
                        && matches!(c.state, ChildState::Installing | ChildState::Installed)
                }) || sa.queued_children.iter().any(|c| c.name == child)
                    || sa
                        .tasks
                        .iter()
                        .any(|t| matches!(t, Task::CreateChild(c) if c.name == child))
                    || matches!(&sa.outstanding, Some(o)
                        if matches!(&o.active, Active::CreateChild(nc) if nc.config.name == child)))
        })
    }

    /// Starts `children` of `conn` on its existing IKE SA if there is one (module docs), else
    /// on a new one.
    pub fn start_children(
        &mut self,
        now: Timestamp,
        conn: &str,
        children: &[&str],
        options: InitiateOptions,
    ) -> Result<Started, CommandError> {
        let (config, wanted) = self.config_and_children(conn, children)?;
        // The lowest id: the oldest SA, so that repeated starts pick the same one.
        let existing = self
            .sas
            .values()
            .filter(|sa| {
                sa.config.name == conn
                    && ((config.remote_addrs.is_empty() && config.remote_names.is_empty())
                        || config.remote_addrs.contains(&sa.remote.ip())
                        || self.resolved.any_is(&config.remote_names, sa.remote.ip()))
                    && !super::contacts::is_deleting(sa)
                    && (sa.phase.is_established()
                        || (sa.initiator
                            && matches!(
                                sa.phase,
                                Phase::ExpectSaInitResponse(_) | Phase::ExpectAuthResponse(_)
                            )))
            })
            .map(|sa| sa.id)
            .min();
        let Some(id) = existing else {
            return self
                .initiate_with(now, conn, children, options)
                .map(Started::New);
        };
        let Some(sa) = self.sas.get_mut(&id) else {
            return Err(CommandError::UnknownSa);
        };
        let has = |name: &str| {
            sa.children.iter().any(|c| c.config.name == name)
                || sa.queued_children.iter().any(|c| c.name == name)
                || sa
                    .tasks
                    .iter()
                    .any(|t| matches!(t, Task::CreateChild(c) if c.name == name))
                || matches!(&sa.outstanding, Some(o)
                    if matches!(&o.active, Active::CreateChild(nc) if nc.config.name == name))
                || matches!(&sa.phase, Phase::ExpectAuthResponse(st)
                    if st.child.as_ref().is_some_and(|nc| nc.config.name == name))
        };
        let missing: Vec<_> = wanted.into_iter().filter(|c| !has(&c.name)).collect();
        let established = sa.phase.is_established();
        let log_name = sa.log_name();
        let names: Vec<String> = missing.iter().map(|c| c.name.clone()).collect();
        for c in missing {
            if established {
                sa.tasks.push_back(Task::CreateChild(c));
            } else {
                sa.queued_children.push(c);
            }
        }
        if !names.is_empty() {
            engine_log!(
                self,
                Some(id),
                LogGroup::Ike,
                "queueing CHILD_SA(s) {} on IKE_SA {log_name}",
                names.join(", ")
            );
        }
        self.kick(now, id);
        Ok(Started::Reused(id))
    }
}
