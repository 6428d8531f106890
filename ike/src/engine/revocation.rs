//! IKE_AUTH exchanges waiting for CRLs.
//!
//! Contract: when the revocation status of the peer's certificate path needs CRLs that were
//! not fetched lately ([`crate::creds::check_revocation`]), the exchange is not answered or
//! failed: its decrypted message is set aside on the SA, a retransmitted request is dropped
//! meanwhile, and [`Event::FetchCrls`] asks the caller to fetch. The caller fetches off its
//! event loop (other SAs proceed), hands the engine new credentials whose `crl_retry` marks
//! every URI it tried (fetched or failed), and calls [`Engine::crls_fetched`]: the waiting
//! exchanges are processed again from their set-aside message, now deciding with what is
//! known. Since tried URIs are not asked for again before their retry time, an exchange waits
//! at most once per URI; a caller that never answers leaves the SA to the half-open timeout.

use super::core::Engine;
use super::core::Fate;
use super::sa::{AwaitingCrls, IkeSa};
use super::*;
use crate::message::Message;

impl Engine {
    /// Sets `msg` aside on `sa` and asks for the CRLs at `uris`.
    /// `request`: `msg` is the peer's request (we respond).
    pub(crate) fn await_crls(
        &mut self,
        sa: &mut IkeSa,
        msg: Message,
        uris: Vec<String>,
        request: bool,
    ) -> Fate {
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Cfg,
            "certificate status needs CRLs from {}, waiting",
            uris.join(", ")
        );
        sa.awaiting_crls = Some(Box::new(AwaitingCrls { msg, request }));
        if !self.crl_waiters.contains(&sa.id) {
            self.crl_waiters.push(sa.id);
        }
        self.event(Event::FetchCrls { sa: sa.id, uris });
        Fate::Keep
    }

    /// The caller finished fetching (credentials already updated): processes every waiting
    /// IKE_AUTH again.
    pub fn crls_fetched(&mut self, now: Timestamp) {
        for id in std::mem::take(&mut self.crl_waiters) {
            let Some(mut sa) = self.sas.remove(&id) else {
                continue;
            };
            let fate = match sa.awaiting_crls.take() {
                Some(w) if w.request => self.respond_auth(now, &mut sa, w.msg),
                Some(w) => self.on_auth_response(now, &mut sa, w.msg),
                None => Fate::Keep,
            };
            self.finish(now, sa, fate);
        }
    }
}
