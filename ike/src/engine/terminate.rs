//! Terminating IKE SAs on command (VICI `terminate`, `ipsec stroke down|down-nb`).
//!
//! Contract:
//! - [`Engine::terminate_ike`] deletes an established SA with an INFORMATIONAL DELETE queued
//!   ahead of its other tasks (it still waits for an exchange already in flight, as charon's
//!   task manager does). A half-open SA is destroyed at once and reported as failed
//!   ([`Event::IkeFailed`]), so whoever waits for it (a trap's pending acquire, an `initiate`
//!   client) learns that it is gone; charon's trap manager clears its pending acquire on the
//!   SA's `IKE_DESTROYING` state change the same way.
//! - [`Engine::terminate_ike_forced`] (VICI `force`, what `stroke down-nb` asks for) removes the
//!   SA, its children and their kernel state now: an established SA's DELETE is sent once,
//!   best-effort (no retransmits, not waiting behind a request the peer no longer answers).

use super::core::Engine;
use super::{DownReason, Event, IkeSaId, LogGroup};
use crate::error::CommandError;
use crate::message::Payload;
use crate::time::Timestamp;
use crate::wire::{ExchangeType, ProtocolId};

impl Engine {
    /// Deletes an IKE SA and its children; a half-open SA is dropped without a DELETE.
    pub fn terminate_ike(&mut self, now: Timestamp, ike: IkeSaId) -> Result<(), CommandError> {
        let sa = self.sas.get_mut(&ike).ok_or(CommandError::UnknownSa)?;
        if sa.phase.is_established() {
            sa.tasks.push_front(super::sa::Task::DeleteIke);
            self.kick(now, ike);
            Ok(())
        } else {
            self.drop_half_open(ike)
        }
    }

    /// Deletes an IKE SA and its children at once, sending its DELETE best-effort.
    pub fn terminate_ike_forced(
        &mut self,
        _now: Timestamp,
        ike: IkeSaId,
    ) -> Result<(), CommandError> {
        let established = self
            .sas
            .get(&ike)
            .ok_or(CommandError::UnknownSa)?
            .phase
            .is_established();
        if !established {
            return self.drop_half_open(ike);
        }
        let mut sa = self.sas.remove(&ike).ok_or(CommandError::UnknownSa)?;
        engine_log!(
            self,
            Some(ike),
            LogGroup::Ike,
            "deleting IKE_SA {} without waiting for the peer",
            sa.log_name()
        );
        self.send_unacknowledged_request(
            &mut sa,
            ExchangeType::INFORMATIONAL,
            vec![Payload::Delete {
                protocol: ProtocolId::IKE,
                spis: vec![],
            }],
        );
        self.destroy(sa, DownReason::Local);
        Ok(())
    }

    /// Destroys a half-open SA, reporting it failed (its SPIs and reserved child SPIs go).
    fn drop_half_open(&mut self, ike: IkeSaId) -> Result<(), CommandError> {
        let sa = self.sas.remove(&ike).ok_or(CommandError::UnknownSa)?;
        engine_log!(
            self,
            Some(ike),
            LogGroup::Ike,
            "destroying half-open IKE_SA {} without notification",
            sa.log_name()
        );
        self.event(Event::IkeFailed {
            sa: ike,
            name: sa.config.name.clone(),
            reason: "terminated".into(),
            peer_silent: false,
        });
        self.destroy(sa, DownReason::Local);
        Ok(())
    }
}
