//! Message IDs are 32 bits and never wrap (RFC 7296 2.2: an IKE SA MUST be closed or rekeyed
//! before they would). With none left for a request, ours or the peer's, the SA is closed at
//! the next timeout: no Delete can be sent for it, and no later request could be accepted.

use super::core::TimerKey;
use super::sa::IkeSa;
use super::{DownReason, Engine, IkeSaId, LogGroup};
use crate::time::Timestamp;

/// Why an IKE SA whose message IDs are used up went down.
const MESSAGE_IDS_EXHAUSTED: &str = "message IDs exhausted";

impl Engine {
    /// Called instead of using an ID that would wrap: closes `sa` at the next timeout.
    pub(crate) fn message_ids_exhausted(&mut self, sa: &IkeSa) {
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Ike,
            "{} used all message IDs, closing it",
            sa.log_name()
        );
        self.timers
            .schedule(TimerKey::MessageIdsExhausted(sa.id), Timestamp::ZERO);
    }

    /// [`TimerKey::MessageIdsExhausted`] fired.
    pub(crate) fn close_exhausted(&mut self, id: IkeSaId) {
        if let Some(sa) = self.sas.remove(&id) {
            self.destroy(sa, DownReason::Failed(MESSAGE_IDS_EXHAUSTED.into()));
        }
    }
}
