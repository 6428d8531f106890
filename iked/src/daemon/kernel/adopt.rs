//! Hitless restart, kernel side: taking over the SAs and policies an earlier iked handed over.
//!
//! Contract: [`Xfrm::adopt_children`] runs once at start, after the engine resumed the saved
//! IKE SAs and before anything new is installed. It switches the reqid space to the earlier
//! instance's (so the resumed children's engine reqids map onto the kernel reqids they carry),
//! then, per resumed CHILD_SA, rebuilds the install it was made with (from the engine's
//! description, without keys), derives the SA and policy ids from it exactly as an install
//! would, and checks the kernel: both SAs must exist with that reqid. An adopted child is then
//! this backend's as if it had installed it (rekeys move its policies, deletes remove it,
//! `remove_all` removes it), its policies are owned by the client and its SAs are taken out
//! of the stale sweep. A child that cannot be adopted is returned with the reason; the caller
//! deletes it with the peer, and its leftovers are swept as after a crash.

use iked_ike::engine::{AdoptedChild, ChildSaId};
use iked_xfrm::{IpsecProtocol, OffloadMode, SaId};

use super::{Batch, InstalledEntry, Xfrm, build_child_install};

impl Xfrm {
    /// Adopts the resumed children's kernel state (module contract).
    pub(super) fn adopt_children(
        &mut self,
        offset: u32,
        children: &[AdoptedChild],
    ) -> Vec<(ChildSaId, String)> {
        match iked_xfrm::stale::ReqidSpace::with_offset(offset) {
            Some(space) => self.reqids = space,
            None => {
                return children
                    .iter()
                    .map(|c| (c.child, format!("saved reqid offset {offset} out of range")))
                    .collect();
            }
        }
        let mut failed = Vec::new();
        for c in children {
            if let Err(e) = self.adopt_one(c) {
                failed.push((c.child, e));
            }
        }
        failed
    }

    /// Whether kernel reqid `reqid` is one of this instance's trap reqids.
    fn is_trap_reqid(&self, reqid: u32) -> bool {
        self.reqids
            .from_kernel(reqid)
            .is_some_and(|r| r >= crate::daemon::core::TRAP_REQID_BASE)
    }

    fn adopt_one(&mut self, c: &AdoptedChild) -> Result<(), String> {
        let batch = Batch {
            ids: Vec::new(),
            sa_in: Some(c.sa_in.clone()),
            sa_out: Some(c.sa_out.clone()),
            policies: c.policies.clone(),
        };
        let mut spec = build_child_install(c.child, &batch)?;
        let engine_reqid = spec.reqid;
        let marks = self.marks.resolve(engine_reqid, &c.sa_out.marks);
        super::super::marks::apply(&mut spec, &marks);
        spec.reqid = self.reqids.to_kernel(engine_reqid);
        spec.proto_port_transport_sa = self.proto_port_transport_sa;
        let sa_in = SaId {
            dst: spec.local,
            spi: spec.spi_in,
            protocol: IpsecProtocol::Esp,
            mark: spec.mark_in,
        };
        let sa_out = SaId {
            dst: spec.remote,
            spi: spec.spi_out,
            protocol: IpsecProtocol::Esp,
            mark: spec.mark_out,
        };
        let mut modes = [OffloadMode::None; 2];
        let mut device = None;
        for (i, id) in [&sa_in, &sa_out].into_iter().enumerate() {
            let state = self.client.get_sa(id).map_err(|e| {
                format!(
                    "SA {:08x} to {} is not in the kernel: {e}",
                    id.spi.0, id.dst
                )
            })?;
            // A CHILD_SA negotiated for a trap runs under the trap's reqid (`trap_slots`).
            if i == 0 && state.reqid != spec.reqid && self.is_trap_reqid(state.reqid) {
                spec.reqid = state.reqid;
            }
            if state.reqid != spec.reqid {
                return Err(format!(
                    "SA {:08x} carries reqid {} instead of {}",
                    id.spi.0, state.reqid, spec.reqid
                ));
            }
            modes[i] = state.offload_mode();
            if let Some(o) = state.offload {
                let index = u32::try_from(o.ifindex).unwrap_or(0);
                device = Some((index, format!("ifindex {index}")));
            }
        }
        let mode = modes[0];
        let ifindex = device.as_ref().and_then(|(i, _)| i32::try_from(*i).ok());
        let policy_specs = if c.policies.is_empty() {
            Vec::new()
        } else {
            iked_xfrm::client::child_policy_specs(&spec, mode, ifindex)
        };
        let policies: Vec<_> = policy_specs.iter().map(|p| p.id()).collect();
        for id in &policies {
            self.client.adopt_policy(*id);
        }
        let owns_policies = !policies.is_empty();
        let kernel = iked_xfrm::InstalledChild {
            offload: mode,
            sa_in_offload: modes[0],
            sa_out_offload: modes[1],
            device,
            sa_in,
            sa_out,
            policies,
            policy_specs,
            fallback_reasons: Vec::new(),
        };
        let mut entry = InstalledEntry::new(kernel, &spec);
        entry.reqid = engine_reqid;
        entry.owns_policies = owns_policies;
        if let Some(sweep) = self.sweep.as_mut() {
            sweep.keep(&[sa_in, sa_out]);
        }
        tracing::info!(target: "KNL", "CHILD_SA {{{}}} adopted from the earlier iked (SPIs {:08x}_i {:08x}_o, reqid {})", c.child.0, sa_in.spi.0, sa_out.spi.0, spec.reqid);
        self.installed.insert(c.child, entry);
        Ok(())
    }
}
