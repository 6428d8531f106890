//! The rows every peer family gets, generated from one list instead of copied per peer.
//!
//! Contract: [`peer_rows`] gives a peer family (strongSwan 6, Libreswan 5) a baseline against
//! itself and iked's rows against it: the seed in both roles, child-only then IKE delete by
//! each side, CHILD and IKE rekey by each side under traffic, cookies, DPD for each
//! `dpd_action`, and a `%any` responder on either side; strongSwan 6 also gets the certificate
//! rows and `hw_offload = packet` on both ends. Row ids end in the family's tag
//! (`-strongswan6`, `-libreswan5`).

use crate::certs::CertCase;
use crate::daemon::Implementation;
use crate::swan_conf::Side;

use super::Implementation::{Iked, Libreswan, StrongSwan, StrongSwan6};
use super::{DpdAction, Kind, RekeyTarget, Scenario};

/// Rows for strongSwan 6 only: certificates (Libreswan would need its NSS database and
/// `leftcert=`; its translation refuses `auth = pubkey` by name), and `hw_offload = packet` on
/// both ends, a keyword strongSwan 6 shares with iked.
fn strongswan6_rows(t: &str) -> Vec<Scenario> {
    use Kind::*;
    use Side::Bfl;
    let p = StrongSwan6;
    vec![
        Scenario::new(
            format!("iked-initiates-cert-self-signed-{t}"),
            Cert(CertCase::SelfSigned),
            Iked,
            p,
            Bfl,
        ),
        Scenario::new(
            format!("iked-responds-cert-self-signed-{t}"),
            Cert(CertCase::SelfSigned),
            p,
            Iked,
            Bfl,
        ),
        Scenario::new(
            format!("iked-initiates-cert-ca-{t}"),
            Cert(CertCase::CaSigned),
            Iked,
            p,
            Bfl,
        ),
        Scenario::new(
            format!("iked-responds-cert-ca-{t}"),
            Cert(CertCase::CaSigned),
            p,
            Iked,
            Bfl,
        ),
        Scenario::new(
            format!("iked-cert-expired-{t}"),
            Cert(CertCase::Expired),
            p,
            Iked,
            Bfl,
        ),
        Scenario::new(
            format!("iked-cert-other-ca-{t}"),
            Cert(CertCase::OtherCa),
            p,
            Iked,
            Bfl,
        ),
        Scenario::new(
            format!("iked-cert-id-mismatch-{t}"),
            Cert(CertCase::IdMismatch),
            p,
            Iked,
            Bfl,
        ),
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
    let peer_any = Scenario::new(
        format!("iked-initiates-seed-any-{t}"),
        SeedAny,
        Iked,
        peer,
        Bfl,
    );
    rows.push(if peer == Libreswan {
        peer_any.known_failure(
            "Libreswan 5.2 as a right=%any responder answers the second child's CREATE_CHILD_SA \
             with TS_UNACCEPTABLE: pluto matches it only against the instance of the IKE SA's \
             own conn (bf-out[1]), not against the other %any conn (lab run 2026-12-07); the \
             first child, in IKE_AUTH, is established",
            "TS_UNACCEPTABLE",
        )
    } else {
        peer_any
    });
    if peer == StrongSwan6 {
        rows.extend(strongswan6_rows(t));
    }
    rows
}
