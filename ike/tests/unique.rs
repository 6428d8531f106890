//! INITIAL_CONTACT and `unique` on a responder holding SAs of many initiators (charon's
//! `check_uniqueness`/`has_contact` semantics; see `engine::contacts`), and the identity index
//! behind them staying right across set-up, rekey, delete and replacement.
//!
//! A hub connects one responder engine ("gw", 192.0.2.1 and 2001:db8::1, any peer identity)
//! to client engines, each with its own address and identity (`client-<n>`); delivery is
//! immediate, time advances only when a test says so. A client "restarts" by getting a fresh
//! engine with the same identity: it then holds no SA, so its next IKE_AUTH carries
//! INITIAL_CONTACT, as strongSwan's would.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use iked_ike::Timestamp;
use iked_ike::config::{
    AuthConfig, AuthMethod, Identity, IkeConfig, IkeSecret, Settings, UniquePolicy,
};
use iked_ike::engine::{DownReason, Engine, Event, IkeSaId};
use iked_ike::proposal::Proposal;
use iked_ike::wire::ProtocolId;

const GW4: &str = "192.0.2.1";
const GW6: &str = "2001:db8::1";
const PSK: &[u8] = b"a shared secret for every client";

fn secrets() -> Vec<IkeSecret> {
    // No owner identities: the secret matches every client.
    vec![IkeSecret::new(vec![], PSK.to_vec())]
}

fn gw_config(unique: UniquePolicy) -> IkeConfig {
    IkeConfig {
        name: "gw".into(),
        local_addrs: vec![],
        remote_addrs: vec![],
        local_ranges: vec![],
        remote_ranges: vec![],
        local_names: vec![],
        remote_names: vec![],
        local: AuthConfig {
            method: AuthMethod::Psk,
            id: Some(Identity::from_text("gw.example")),
        },
        remote: AuthConfig {
            method: AuthMethod::Psk,
            id: None,
        },
        proposals: vec![Proposal::parse(ProtocolId::IKE, "aes128-sha256-x25519").unwrap()],
        children: vec![Arc::new(child("c", "0.0.0.0/0", "0.0.0.0/0"))],
        rekey_time: Duration::ZERO,
        over_time: Duration::ZERO,
        rand_time: Duration::ZERO,
        dpd_delay: Duration::ZERO,
        mobike: false,
        encap: false,
        fragmentation: Default::default(),
        unique,
    }
}

/// Client `n`'s address: 10.1.x.y, or 2001:db8:1::n for the IPv6 clients.
fn client_addr(n: u32, v6: bool) -> IpAddr {
    if v6 {
        format!("2001:db8:1::{:x}", n + 1).parse().unwrap()
    } else {
        format!("10.1.{}.{}", n / 250, n % 250 + 1).parse().unwrap()
    }
}

fn client_config(n: u32, v6: bool, unique: UniquePolicy) -> IkeConfig {
    let (gw, any) = if v6 {
        (ip(GW6), "::/0")
    } else {
        (ip(GW4), "0.0.0.0/0")
    };
    IkeConfig {
        name: "to-gw".into(),
        local_addrs: vec![client_addr(n, v6)],
        remote_addrs: vec![gw],
        local: AuthConfig {
            method: AuthMethod::Psk,
            id: Some(Identity::from_text(&format!("client-{n}"))),
        },
        remote: AuthConfig {
            method: AuthMethod::Psk,
            id: Some(Identity::from_text("gw.example")),
        },
        children: vec![Arc::new(child("c", any, any))],
        unique,
        ..gw_config(UniquePolicy::No)
    }
}

struct Client {
    n: u32,
    v6: bool,
    unique: UniquePolicy,
    ep: Endpoint,
    restarts: u64,
}

struct Hub {
    gw: Endpoint,
    clients: Vec<Client>,
    now: Timestamp,
}

fn endpoint(engine: Engine, addr: IpAddr, spi_base: u32) -> Endpoint {
    Endpoint {
        engine,
        kernel: FakeKernel::new(spi_base),
        addr: SocketAddr::new(addr, 500),
        events: vec![],
        received: 0,
    }
}

fn client_engine(n: u32, v6: bool, unique: UniquePolicy, restarts: u64) -> Engine {
    Engine::new(
        Settings::default(),
        vec![client_config(n, v6, unique)],
        secrets(),
        Box::new(TestRng(1000 + u64::from(n) * 7919 + restarts * 104_729)),
    )
}

impl Hub {
    fn new(unique: UniquePolicy) -> Hub {
        let settings = Settings {
            // Clients set up one SA at a time each, but many clients may be in flight.
            cookie_threshold: 100_000,
            ..Settings::default()
        };
        let gw = Engine::new(
            settings,
            vec![gw_config(unique)],
            secrets(),
            Box::new(TestRng(7)),
        );
        Hub {
            gw: endpoint(gw, ip(GW4), 0x4000_0000),
            clients: vec![],
            now: Timestamp::from_nanos(1_000_000_000),
        }
    }

    /// Adds a client (default `unique = no`); returns its index.
    fn add_client(&mut self, v6: bool) -> usize {
        self.add_client_with(v6, UniquePolicy::No)
    }

    fn add_client_with(&mut self, v6: bool, unique: UniquePolicy) -> usize {
        let n = self.clients.len() as u32;
        let engine = client_engine(n, v6, unique, 0);
        self.clients.push(Client {
            n,
            v6,
            unique,
            ep: endpoint(engine, client_addr(n, v6), 0x1000_0000 + n * 0x1000),
            restarts: 0,
        });
        self.clients.len() - 1
    }

    /// The client loses all state (its kernel too) and comes back with the same identity.
    fn restart(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.restarts += 1;
        c.ep = endpoint(
            client_engine(c.n, c.v6, c.unique, c.restarts),
            client_addr(c.n, c.v6),
            0x1000_0000 + c.n * 0x1000 + (c.restarts as u32) * 0x100,
        );
    }

    fn initiate(&mut self, i: usize) -> IkeSaId {
        let now = self.now;
        let id = self.clients[i]
            .ep
            .engine
            .initiate(now, "to-gw", &["c"])
            .unwrap();
        self.pump();
        id
    }

    /// Moves every output until all engines are quiet.
    fn pump(&mut self) {
        while self.step() {}
    }

    /// One round: collects every engine's outputs, then delivers the datagrams. Returns
    /// whether anything was sent.
    fn step(&mut self) -> bool {
        let now = self.now;
        {
            let mut wire: Vec<(SocketAddr, SocketAddr, Vec<u8>)> = vec![];
            let eps =
                std::iter::once(&mut self.gw).chain(self.clients.iter_mut().map(|c| &mut c.ep));
            for ep in eps {
                while let Some(req) = ep.engine.poll_kernel() {
                    if let Some(ans) = ep.kernel.apply(req) {
                        ep.engine.handle_kernel(now, ans);
                    }
                }
                while let Some(e) = ep.engine.poll_event() {
                    ep.events.push(e);
                }
                while let Some(t) = ep.engine.poll_transmit() {
                    wire.push((t.local, t.remote, t.bytes));
                }
            }
            if wire.is_empty() {
                return false;
            }
            for (from, to, bytes) in wire {
                if to.ip() == ip(GW4) || to.ip() == ip(GW6) {
                    self.gw.received += 1;
                    self.gw.engine.handle_datagram(now, to, from, &bytes);
                } else if let Some(c) = self.clients.iter_mut().find(|c| c.ep.addr.ip() == to.ip())
                {
                    c.ep.received += 1;
                    c.ep.engine.handle_datagram(now, to, from, &bytes);
                }
            }
        }
        true
    }

    /// Advances time by `d`, running every timer due on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = std::iter::once(&mut self.gw)
                .chain(self.clients.iter_mut().map(|c| &mut c.ep))
                .filter_map(|ep| ep.engine.poll_timeout())
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    for ep in std::iter::once(&mut self.gw)
                        .chain(self.clients.iter_mut().map(|c| &mut c.ep))
                    {
                        if ep.engine.poll_timeout().is_some_and(|t| t <= now) {
                            ep.engine.handle_timeout(now);
                        }
                    }
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    /// The gateway's established SAs with client `i` (by the client's address).
    fn gw_sas_of(&self, i: usize) -> Vec<IkeSaId> {
        let addr = self.clients[i].ep.addr.ip();
        self.gw
            .engine
            .ike_sas()
            .into_iter()
            .filter(|s| s.established && s.remote.ip() == addr)
            .map(|s| s.id)
            .collect()
    }

    /// How many of the gateway's IKE_AUTH requests carried INITIAL_CONTACT.
    fn initial_contacts_received(&self) -> usize {
        self.gw
            .logs()
            .iter()
            .filter(|l| l.contains("parsed IKE_AUTH request") && l.contains("N(INIT_CONTACT)"))
            .count()
    }

    fn gw_down(&self, sa: IkeSaId) -> Option<&DownReason> {
        self.gw.events.iter().find_map(|e| match e {
            Event::IkeDown { sa: s, reason } if *s == sa => Some(reason),
            _ => None,
        })
    }
}

/// The up SAs of one client engine.
fn client_sas(c: &Client) -> Vec<IkeSaId> {
    c.ep.engine
        .ike_sas()
        .into_iter()
        .filter(|s| s.established)
        .map(|s| s.id)
        .collect()
}

#[test]
fn initial_contact_replaces_the_same_identity_pair_only() {
    let mut hub = Hub::new(UniquePolicy::No);
    let a = hub.add_client(false);
    let b = hub.add_client(false);
    hub.initiate(a);
    hub.initiate(a);
    hub.initiate(b);
    // Only each client's first SA names INITIAL_CONTACT; under `unique = no` the second SA of
    // client a is simply another SA.
    assert_eq!(hub.initial_contacts_received(), 2);
    let old_a = hub.gw_sas_of(a);
    let kept_b = hub.gw_sas_of(b);
    assert_eq!((old_a.len(), kept_b.len()), (2, 1));
    assert_eq!(hub.gw.kernel.sas.len(), 6, "two ESP SAs per IKE SA");
    assert_eq!(hub.gw.engine.contact_index_len(), 3);

    hub.restart(a);
    hub.initiate(a);
    assert_eq!(hub.initial_contacts_received(), 3);
    let new_a = hub.gw_sas_of(a);
    assert_eq!(new_a.len(), 1);
    assert!(!old_a.contains(&new_a[0]));
    for old in &old_a {
        assert_eq!(hub.gw_down(*old), Some(&DownReason::Replaced), "SA {old:?}");
    }
    assert_eq!(hub.gw_sas_of(b), kept_b, "another identity's SA stays");
    assert!(hub.gw.has_log("received INITIAL_CONTACT"));
    // The replaced SAs' kernel state is gone: ESP SAs of two IKE SAs remain.
    assert_eq!(hub.gw.kernel.sas.len(), 4);
    assert_eq!(hub.gw.engine.ike_sa_count(), 2);
    assert_eq!(hub.gw.engine.contact_index_len(), 2);
    // No DELETE went to the restarted client: it has only its new SA, and b is untouched.
    assert_eq!(client_sas(&hub.clients[a]).len(), 1);
    assert_eq!(client_sas(&hub.clients[b]).len(), 1);
}

#[test]
fn initial_contact_of_the_other_address_family_leaves_sas_alone() {
    let mut hub = Hub::new(UniquePolicy::No);
    // Clients 0 and 1 share nothing but... give client 1 the identity of client 0 over IPv6.
    let v4 = hub.add_client(false);
    hub.initiate(v4);
    let v6 = hub.add_client(true);
    // The identity of client 0 over IPv6 (charon keys its table by address family too).
    hub.clients[v6].n = 0;
    hub.restart(v6);
    hub.initiate(v6);
    assert_eq!(hub.initial_contacts_received(), 2);
    assert_eq!(hub.gw_sas_of(v4).len(), 1, "the IPv4 SA survives");
    assert_eq!(hub.gw.engine.ike_sa_count(), 2);
    // The same identity over IPv4 again does replace the IPv4 SA.
    hub.restart(v4);
    hub.initiate(v4);
    assert_eq!(hub.gw_sas_of(v4).len(), 1);
    assert_eq!(hub.gw.engine.ike_sa_count(), 2);
    assert_eq!(hub.gw.engine.contact_index_len(), 2);
}

#[test]
fn unique_replace_deletes_the_older_sa_of_the_pair() {
    let mut hub = Hub::new(UniquePolicy::Replace);
    let a = hub.add_client(false);
    let b = hub.add_client(false);
    let first = hub.initiate(a);
    hub.initiate(b);
    let gw_first = hub.gw_sas_of(a);
    // A second SA of the same client carries no INITIAL_CONTACT (the client holds one).
    let second = hub.initiate(a);
    assert_eq!(hub.initial_contacts_received(), 2);
    assert!(hub.gw.has_log("due to uniqueness policy"));
    let gw_now = hub.gw_sas_of(a);
    assert_eq!(gw_now.len(), 1);
    assert_ne!(gw_now, gw_first);
    // Deleted with a Delete payload the client acted on (not silently destroyed).
    assert_eq!(hub.gw_down(gw_first[0]), Some(&DownReason::Local));
    assert_eq!(client_sas(&hub.clients[a]), vec![second]);
    assert!(
        hub.clients[a]
            .ep
            .events
            .iter()
            .any(|e| matches!(e, Event::IkeDown { sa, reason: DownReason::Peer } if *sa == first))
    );
    assert_eq!(hub.gw_sas_of(b).len(), 1, "another identity's SA stays");
    assert_eq!(hub.gw.engine.contact_index_len(), 2);
    assert_eq!(hub.gw.kernel.sas.len(), 4);
}

#[test]
fn unique_keep_refuses_a_second_sa_but_initial_contact_still_replaces() {
    let mut hub = Hub::new(UniquePolicy::Keep);
    let a = hub.add_client(false);
    hub.initiate(a);
    let kept = hub.gw_sas_of(a);
    let refused = hub.initiate(a);
    assert!(
        hub.gw
            .has_log("cancelling IKE_SA setup due to uniqueness policy")
    );
    assert_eq!(hub.gw_sas_of(a), kept, "the existing SA is kept");
    assert_eq!(hub.gw.engine.ike_sa_count(), 1, "the refused SA is gone");
    let failed = hub.clients[a].ep.events.iter().any(|e| {
        matches!(e, Event::IkeFailed { sa, reason, .. } if *sa == refused
            && reason.contains("AUTH_FAILED"))
    });
    assert!(failed, "{:?}", hub.clients[a].ep.non_log_events());
    assert_eq!(client_sas(&hub.clients[a]).len(), 1);
    assert_eq!(hub.gw.engine.contact_index_len(), 1);
    assert_eq!(hub.gw.engine.half_open_count(), 0);
    // A restarted client's INITIAL_CONTACT replaces even under `keep` (as in charon).
    hub.restart(a);
    hub.initiate(a);
    let now = hub.gw_sas_of(a);
    assert_eq!(now.len(), 1);
    assert_ne!(now, kept);
    assert_eq!(hub.gw.engine.contact_index_len(), 1);
    assert_eq!(hub.gw.kernel.sas.len(), 2);
}

#[test]
fn unique_never_ignores_initial_contact_and_never_sends_it() {
    let mut hub = Hub::new(UniquePolicy::Never);
    let a = hub.add_client(false);
    hub.initiate(a);
    hub.restart(a);
    hub.initiate(a);
    assert_eq!(hub.initial_contacts_received(), 2);
    assert_eq!(hub.gw_sas_of(a).len(), 2, "never: the stale SA is kept");
    assert!(!hub.gw.has_log("received INITIAL_CONTACT"));
    // An initiator configured with `unique = never` sends no INITIAL_CONTACT at all.
    let quiet = hub.add_client_with(false, UniquePolicy::Never);
    hub.initiate(quiet);
    assert_eq!(hub.gw_sas_of(quiet).len(), 1);
    assert_eq!(hub.initial_contacts_received(), 2);
    assert_eq!(hub.gw.engine.contact_index_len(), 3);
}

#[test]
fn unique_no_keeps_duplicates_without_initial_contact() {
    let mut hub = Hub::new(UniquePolicy::No);
    let a = hub.add_client(false);
    for _ in 0..3 {
        hub.initiate(a);
    }
    assert_eq!(hub.initial_contacts_received(), 1);
    assert_eq!(hub.gw_sas_of(a).len(), 3);
    assert_eq!(client_sas(&hub.clients[a]).len(), 3);
    assert_eq!(hub.gw.engine.contact_index_len(), 3);
}

#[test]
fn ike_rekey_moves_the_sa_to_a_new_id_in_the_index() {
    let mut hub = Hub::new(UniquePolicy::No);
    let a = hub.add_client(false);
    let b = hub.add_client(false);
    hub.initiate(a);
    hub.initiate(b);
    let before = hub.gw_sas_of(a);
    // The client rekeys; then the gateway rekeys client b's SA.
    let ca = client_sas(&hub.clients[a])[0];
    let now = hub.now;
    hub.clients[a].ep.engine.rekey_ike(now, ca).unwrap();
    hub.pump();
    let gb = hub.gw_sas_of(b)[0];
    hub.gw.engine.rekey_ike(now, gb).unwrap();
    hub.pump();
    let after = hub.gw_sas_of(a);
    assert_eq!(after.len(), 1);
    assert_ne!(after, before, "the rekeyed SA has a new id");
    assert_ne!(hub.gw_sas_of(b), vec![gb]);
    assert!(hub.gw.events.iter().any(
        |e| matches!(e, Event::IkeRekeyed { old, new } if *old == before[0] && *new == after[0])
    ));
    // The old SAs were deleted: only the successors are indexed, on both ends.
    assert_eq!(hub.gw.engine.ike_sa_count(), 2);
    assert_eq!(hub.gw.engine.contact_index_len(), 2);
    assert_eq!(hub.clients[a].ep.engine.contact_index_len(), 1);
    // The client's successor still counts as contact: a further SA has no INITIAL_CONTACT.
    hub.initiate(a);
    assert_eq!(hub.initial_contacts_received(), 2);
    assert_eq!(hub.gw_sas_of(a).len(), 2);
    // INITIAL_CONTACT finds the successors through the index and replaces them.
    hub.restart(a);
    hub.initiate(a);
    let replaced = hub.gw_sas_of(a);
    assert_eq!(replaced.len(), 1);
    assert!(!after.contains(&replaced[0]));
    assert_eq!(hub.gw_down(after[0]), Some(&DownReason::Replaced));
    assert_eq!(hub.gw.engine.contact_index_len(), 2);
    assert_eq!(hub.gw.kernel.sas.len(), 4);
}

#[test]
fn rekeyed_sa_waiting_for_its_delete_is_replaced_by_initial_contact_too() {
    let mut hub = Hub::new(UniquePolicy::No);
    let a = hub.add_client(false);
    hub.initiate(a);
    let ca = client_sas(&hub.clients[a])[0];
    let now = hub.now;
    hub.clients[a].ep.engine.rekey_ike(now, ca).unwrap();
    // Round 1 takes the rekey request to the gateway, round 2 its answer to the client, which
    // then wants to delete the old SA; the client dies before that delete leaves.
    assert!(hub.step());
    assert!(hub.step());
    hub.restart(a);
    assert_eq!(
        hub.gw.engine.ike_sa_count(),
        2,
        "old SA (rekeyed) and its successor"
    );
    assert_eq!(hub.gw.engine.contact_index_len(), 2);
    hub.initiate(a);
    assert_eq!(hub.gw_sas_of(a).len(), 1);
    assert_eq!(
        hub.gw.engine.ike_sa_count(),
        1,
        "both the old and the rekeyed SA went"
    );
    assert_eq!(hub.gw.engine.contact_index_len(), 1);
    assert_eq!(hub.gw.kernel.sas.len(), 2);
}

#[test]
fn index_matches_the_sa_table_over_many_sas() {
    let mut hub = Hub::new(UniquePolicy::No);
    let clients = 200;
    for n in 0..clients {
        hub.add_client(n % 10 == 9);
    }
    let mut rng = TestRng(99);
    let check = |hub: &Hub, step: &str| {
        let gw = hub.gw.engine.ike_sas();
        let up = gw.iter().filter(|s| s.established).count();
        assert_eq!(
            gw.len(),
            up,
            "{step}: nothing half-open or rekeyed left over"
        );
        assert_eq!(hub.gw.engine.contact_index_len(), up, "{step}");
        for (i, c) in hub.clients.iter().enumerate() {
            let mine = client_sas(c).len();
            assert_eq!(c.ep.engine.contact_index_len(), mine, "{step}: client {i}");
            assert_eq!(
                hub.gw_sas_of(i).len(),
                mine,
                "{step}: client {i} vs gateway"
            );
        }
    };
    // Round 1: every client one SA (each with INITIAL_CONTACT), a third of them a second.
    for i in 0..clients {
        hub.initiate(i);
    }
    for i in (0..clients).step_by(3) {
        hub.initiate(i);
    }
    assert_eq!(hub.initial_contacts_received(), clients);
    check(&hub, "set-up");
    // Round 2: a random mix of restarts (INITIAL_CONTACT), rekeys from either end, and
    // deletes from either end.
    for _ in 0..400 {
        let i = (rng.next_u64() % clients as u64) as usize;
        let now = hub.now;
        match rng.next_u64() % 5 {
            0 => {
                hub.restart(i);
                hub.initiate(i);
            }
            1 => {
                if let Some(sa) = client_sas(&hub.clients[i]).first().copied() {
                    hub.clients[i].ep.engine.rekey_ike(now, sa).unwrap();
                }
            }
            2 => {
                if let Some(sa) = hub.gw_sas_of(i).last().copied() {
                    hub.gw.engine.rekey_ike(now, sa).unwrap();
                }
            }
            3 => {
                if let Some(sa) = client_sas(&hub.clients[i]).last().copied() {
                    hub.clients[i].ep.engine.terminate_ike(now, sa).unwrap();
                }
            }
            _ => {
                if let Some(sa) = hub.gw_sas_of(i).first().copied() {
                    hub.gw.engine.terminate_ike(now, sa).unwrap();
                }
            }
        }
        hub.pump();
        hub.advance(Duration::from_millis(100));
    }
    check(&hub, "after the mix");
    // Deleting everything from the gateway empties the index.
    let now = hub.now;
    for sa in hub.gw.engine.ike_sas() {
        hub.gw.engine.terminate_ike(now, sa.id).unwrap();
    }
    hub.pump();
    assert_eq!(hub.gw.engine.ike_sa_count(), 0);
    assert_eq!(hub.gw.engine.contact_index_len(), 0);
    assert!(hub.gw.kernel.sas.is_empty());
    check(&hub, "all deleted");
}

/// Two connections of one client to the gateway under the same identities (upstream OVS's GRE
/// and VXLAN tunnels between two hosts), set up at the same moment: only the first IKE_AUTH
/// request may carry INITIAL_CONTACT, or the gateway destroys the first SA as soon as the second
/// authenticates, and both must end up established there.
#[test]
fn sibling_connections_set_up_at_once_send_one_initial_contact() {
    let mut hub = Hub::new(UniquePolicy::No);
    let a = hub.add_client(false);
    let second = IkeConfig {
        name: "to-gw-2".into(),
        ..client_config(0, false, UniquePolicy::Replace)
    };
    let first = IkeConfig {
        unique: UniquePolicy::Replace,
        ..client_config(0, false, UniquePolicy::Replace)
    };
    hub.clients[a].ep.engine = Engine::new(
        Settings::default(),
        vec![first, second],
        secrets(),
        Box::new(TestRng(4242)),
    );
    let now = hub.now;
    let engine = &mut hub.clients[a].ep.engine;
    let one = engine.initiate(now, "to-gw", &["c"]).unwrap();
    let two = engine.initiate(now, "to-gw-2", &["c"]).unwrap();
    hub.pump();
    assert_eq!(hub.initial_contacts_received(), 1);
    assert_eq!(hub.gw_sas_of(a).len(), 2, "{:#?}", hub.gw.logs());
    assert!(!hub.gw.has_log("received INITIAL_CONTACT"));
    let up = client_sas(&hub.clients[a]);
    assert!(up.contains(&one) && up.contains(&two), "{up:?}");
    // Nothing stays pending: a later restart of the client sends INITIAL_CONTACT again.
    hub.restart(a);
    hub.initiate(a);
    assert_eq!(hub.initial_contacts_received(), 2);
}
