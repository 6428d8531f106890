//! The case table. Each row: a name, the RFC section that decides the answer, how the
//! messages are made (an edit of a legitimate message, or a builder of its own) and the
//! answer the RFC asks for. Where the RFC permits several answers and strongSwan's charon
//! picks one, the row asserts charon's and its comment says so.

mod auth;
mod child;
mod common;
mod floods;
mod informational;
mod init;

use crate::case::Case;

pub use common::{child_payloads, init_request};
pub use floods::INIT_FLOOD;

/// Every row.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(init::ike_sa_init());
    v.extend(auth::ike_auth());
    v.extend(informational::informational());
    v.extend(child::create_child_sa());
    v.extend(floods::floods());
    v
}
