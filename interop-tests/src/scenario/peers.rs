//! The rows every peer family gets, generated from one list instead of copied per peer.
//!
//! Contract: [`peer_rows`] gives a peer family (strongSwan 6, Libreswan 5) a baseline against
//! itself and iked's rows against it: the seed in both roles, child-only then IKE delete by
//! each side, CHILD and IKE rekey by each side under traffic, cookies, DPD for each
//! `dpd_action`, a `%any` responder on either side, the certificate rows (self-signed and
//! CA-signed in both roles, three refusals), and crash, stop and hitless restart of iked in
//! one set-up per role (issue 17); strongSwan 6 also gets `hw_offload = packet` on
//! both ends. Row ids end in the family's tag
//! (`-strongswan6`, `-libreswan5`).

use crate::certs::CertCase;
use crate::daemon::Implementation;
use crate::swan_conf::Side;

use super::Implementation::{Iked, Libreswan, StrongSwan, StrongSwan6};
use super::{DpdAction, Kind, RekeyTarget, Scenario};

/// Certificate rows (issue 19): self-signed (pinned) and CA-signed (`ovs-pki`) in both roles,
/// then the refusals (expired, other CA, wrong identity) with iked verifying the peer's faulty
/// certificate. Libreswan gets them through its NSS database (`libreswan/certs.rs`).
fn cert_rows(t: &str, p: Implementation) -> Vec<Scenario> {
    use Side::Bfl;
    let row = |name: &str, case: CertCase, init: Implementation, resp: Implementation| {
        Scenario::new(format!("{name}-{t}"), Kind::Cert(case), init, resp, Bfl)
    };
    vec![
        row(
            "iked-initiates-cert-self-signed",
            CertCase::SelfSigned,
            Iked,
            p,
        ),
        row(
            "iked-responds-cert-self-signed",
            CertCase::SelfSigned,
            p,
            Iked,
        ),
        row("iked-initiates-cert-ca", CertCase::CaSigned, Iked, p),
        row("iked-responds-cert-ca", CertCase::CaSigned, p, Iked),
        row("iked-cert-expired", CertCase::Expired, p, Iked),
        row("iked-cert-other-ca", CertCase::OtherCa, p, Iked),
        row("iked-cert-id-mismatch", CertCase::IdMismatch, p, Iked),
    ]
}

/// Rows for strongSwan 6 only: `hw_offload = packet` on both ends, a keyword strongSwan 6
/// shares with iked (Libreswan's `nic-offload=packet` is not translated).
fn strongswan6_rows(t: &str) -> Vec<Scenario> {
    use Kind::*;
    use Side::Bfl;
    let p = StrongSwan6;
    vec![
        Scenario::new(
            format!("iked-packet-offload-both-{t}"),
            PacketOffloadBoth,
            Iked,
            p,
            Bfl,
        ),
        Scenario::new(
            format!("iked-responds-packet-offload-both-{t}"),
            PacketOffloadBoth,
            p,
            Iked,
            Bfl,
        ),
    ]
}

/// The short name of a peer family in row ids.
fn peer_tag(peer: Implementation) -> &'static str {
    match peer {
        StrongSwan => "strongswan5",
        StrongSwan6 => "strongswan6",
        Libreswan => "libreswan5",
        Iked => "iked",
    }
}

/// The rows every trixie peer family gets: a baseline of the peer against itself, then iked
/// against it in both roles (see the README's section on the peers).
pub fn peer_rows(peer: Implementation) -> Vec<Scenario> {
    use Kind::*;
    use Side::{Bfl, Bfr};
    let t = peer_tag(peer);
    let mut rows = vec![
        Scenario::new(format!("baseline-seed-{t}"), Seed, peer, peer, Bfl),
        Scenario::new(format!("iked-initiates-seed-{t}"), Seed, Iked, peer, Bfl),
        Scenario::new(format!("iked-responds-seed-{t}"), Seed, peer, Iked, Bfl),
        Scenario::new(
            format!("iked-delete-child-by-iked-{t}"),
            DeleteChild(Bfl),
            Iked,
            peer,
            Bfl,
        ),
        Scenario::new(
            format!("iked-delete-child-by-peer-{t}"),
            DeleteChild(Bfr),
            Iked,
            peer,
            Bfl,
        ),
        Scenario::new(format!("iked-cookie-{t}"), Cookie, peer, Iked, Bfl),
        Scenario::new(
            format!("iked-dpd-clear-{t}"),
            Dpd(DpdAction::Clear),
            Iked,
            peer,
            Bfl,
        ),
        Scenario::new(
            format!("iked-dpd-trap-{t}"),
            Dpd(DpdAction::Trap),
            Iked,
            peer,
            Bfl,
        ),
        Scenario::new(
            format!("iked-dpd-restart-{t}"),
            Dpd(DpdAction::Restart),
            Iked,
            peer,
            Bfl,
        ),
        Scenario::new(
            format!("iked-rekey-child-by-iked-{t}"),
            Rekey(Bfl, RekeyTarget::Child),
            Iked,
            peer,
            Bfl,
        ),
        Scenario::new(
            format!("iked-rekey-child-by-peer-{t}"),
            Rekey(Bfr, RekeyTarget::Child),
            Iked,
            peer,
            Bfl,
        ),
        Scenario::new(
            format!("iked-rekey-ike-by-iked-{t}"),
            Rekey(Bfl, RekeyTarget::Ike),
            Iked,
            peer,
            Bfl,
        ),
        Scenario::new(
            format!("iked-rekey-ike-by-peer-{t}"),
            Rekey(Bfr, RekeyTarget::Ike),
            Iked,
            peer,
            Bfl,
        ),
    ];
    // A responder (either one) with `remote_addrs = %any` and `dynamic` selectors.
    rows.push(Scenario::new(
        format!("iked-responds-seed-any-{t}"),
        SeedAny,
        peer,
        Iked,
        Bfl,
    ));
    // Libreswan's `right=%any` side gets `rightsubnet=0.0.0.0/0` from the translation, without
    // which pluto 5.2 answered the second child's CREATE_CHILD_SA with TS_UNACCEPTABLE
    // (`libreswan.rs`).
    rows.push(Scenario::new(
        format!("iked-initiates-seed-any-{t}"),
        SeedAny,
        Iked,
        peer,
        Bfl,
    ));
    rows.extend(cert_rows(t, peer));
    // Issue 17 against this peer, both roles, one set-up each: crash, stop and hitless restart
    // in sequence (`restart_seq.rs`), not one row per step (CI time).
    rows.push(Scenario::new(
        format!("iked-initiates-restarts-{t}"),
        RestartSequence,
        Iked,
        peer,
        Bfl,
    ));
    // Libreswan initiates the seed here too (its start-up race is handled by `wait_libreswan_loaded`).
    rows.push(Scenario::new(
        format!("iked-responds-restarts-{t}"),
        RestartSequence,
        peer,
        Iked,
        Bfl,
    ));
    if peer == StrongSwan6 {
        rows.extend(strongswan6_rows(t));
    }
    rows
}
