//! In-process test harness: two engines, a simulated network and fake kernels, in virtual
//! time (after quinn-proto's `Pair`).
//!
//! The network delivers datagrams after a fixed latency and can drop, duplicate or delay
//! (reorder) them, either by script (`drop_next`) or at random from a seeded generator. Each
//! fake kernel answers the engine's requests immediately: SPIs are handed out from a counter,
//! SAs and policies are kept in maps, and failures can be injected.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use iked_ike::Timestamp;
use iked_ike::config::{
    AuthConfig, AuthMethod, ChildConfig, ChildLifetimes, HwOffload, Identity, IkeConfig, IkeSecret,
    Mode, Settings,
};
use iked_ike::engine::{
    Direction, Engine, Event, KernelEvent, KernelRequest, PolicyInstall, RandomSource, SaInstall,
};
use iked_ike::proposal::Proposal;
use iked_ike::ts::{TrafficSelector, TsSpec};
use iked_ike::wire::ProtocolId;

/// splitmix64: deterministic, good enough to drive simulations (not for real keys).
pub struct TestRng(pub u64);

impl TestRng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl RandomSource for TestRng {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// A fake kernel: records SAs and policies, allocates SPIs, fails on request.
#[derive(Default)]
pub struct FakeKernel {
    pub next_spi: u32,
    pub sas: BTreeMap<(IpAddr, u32), SaInstall>,
    pub larval: Vec<(IpAddr, u32)>,
    pub policies: Vec<PolicyInstall>,
    /// Fail every AddSa whose direction matches, with this reason (once per entry).
    pub fail_add_sa: Vec<(Direction, String)>,
    pub log: Vec<KernelRequest>,
    /// Carry out requests at once but keep their answers in `deferred` instead of returning
    /// them (a kernel backend that answers later); `Pair::answer_deferred` delivers them.
    pub defer_answers: bool,
    /// Answers kept back while `defer_answers` is set, in request order.
    pub deferred: Vec<KernelEvent>,
    /// Fail the next AddPolicy requests, with these reasons (once per entry).
    pub fail_add_policy: Vec<String>,
}

impl FakeKernel {
    pub fn new(spi_base: u32) -> Self {
        FakeKernel {
            next_spi: spi_base,
            ..Default::default()
        }
    }

    /// Executes one request, returning the answer to feed back, if any (none while
    /// `defer_answers` is set: the answer is kept in `deferred`).
    pub fn apply(&mut self, req: KernelRequest) -> Option<KernelEvent> {
        let answer = self.execute(req);
        if self.defer_answers {
            self.deferred.extend(answer);
            return None;
        }
        answer
    }

    fn execute(&mut self, req: KernelRequest) -> Option<KernelEvent> {
        self.log.push(req.clone());
        match req {
            KernelRequest::AllocateSpi { id, dst, .. } => {
                self.next_spi += 1;
                self.larval.push((dst, self.next_spi));
                Some(KernelEvent::SpiAllocated {
                    id,
                    spi: self.next_spi,
                })
            }
            KernelRequest::AddSa { id, sa } => {
                if let Some(pos) = self
                    .fail_add_sa
                    .iter()
                    .position(|(d, _)| *d == sa.direction)
                {
                    let (_, reason) = self.fail_add_sa.remove(pos);
                    return Some(KernelEvent::InstallFailed { id, reason });
                }
                let key = (sa.dst, sa.spi);
                self.larval.retain(|k| *k != key);
                if self.sas.contains_key(&key) {
                    return Some(KernelEvent::InstallFailed {
                        id,
                        reason: "File exists".into(),
                    });
                }
                self.sas.insert(key, *sa);
                Some(KernelEvent::Installed { id })
            }
            KernelRequest::AddPolicy { id, .. } if !self.fail_add_policy.is_empty() => {
                let reason = self.fail_add_policy.remove(0);
                Some(KernelEvent::InstallFailed { id, reason })
            }
            KernelRequest::AddPolicy { id, policy } => {
                // Identical policies from several CHILD_SAs are refcounted (as charon's
                // kernel-netlink does): each add is recorded, each delete removes one.
                self.policies.push(policy);
                Some(KernelEvent::Installed { id })
            }
            KernelRequest::DeleteSa { dst, spi, .. } => {
                self.sas.remove(&(dst, spi));
                self.larval.retain(|k| *k != (dst, spi));
                None
            }
            KernelRequest::DeletePolicy { policy } => {
                if let Some(pos) = self.policies.iter().position(|p| *p == policy) {
                    self.policies.remove(pos);
                }
                None
            }
        }
    }
}

impl FakeKernel {
    /// Everything the engine asked the kernel to create and never deleted: larval SAs left by
    /// ALLOCSPI, SAs and policies. Empty once every failed or closed SA was cleaned up.
    pub fn leftovers(&self) -> Vec<String> {
        let larval = self
            .larval
            .iter()
            .map(|(dst, spi)| format!("larval SA {dst} spi {spi:08x}"));
        let sas = self
            .sas
            .keys()
            .map(|(dst, spi)| format!("SA {dst} spi {spi:08x}"));
        let policies = self
            .policies
            .iter()
            .map(|p| format!("policy {:?} {} -> {}", p.direction, p.src_ts, p.dst_ts));
        larval.chain(sas).chain(policies).collect()
    }
}

/// One endpoint of the pair.
pub struct Endpoint {
    pub engine: Engine,
    pub kernel: FakeKernel,
    pub addr: SocketAddr,
    pub events: Vec<Event>,
    /// Datagrams received (including duplicates), for assertions.
    pub received: usize,
}

impl Endpoint {
    /// The reason of every `ChildFailed` event so far, in order.
    pub fn child_failures(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::ChildFailed { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }

    /// How many SAs the engine asked its kernel to add.
    pub fn add_sa_count(&self) -> usize {
        self.kernel
            .log
            .iter()
            .filter(|r| matches!(r, KernelRequest::AddSa { .. }))
            .count()
    }

    pub fn logs(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Log { group, message, .. } => Some(format!("[{}] {message}", group.tag())),
                _ => None,
            })
            .collect()
    }

    pub fn has_log(&self, needle: &str) -> bool {
        self.logs().iter().any(|l| l.contains(needle))
    }

    pub fn non_log_events(&self) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| !matches!(e, Event::Log { .. }))
            .collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    A,
    B,
}

struct InFlight {
    at: Timestamp,
    seq: u64,
    to: Side,
    from: SocketAddr,
    dst: SocketAddr,
    bytes: Vec<u8>,
}

/// A port-translating NAT in front of one side (NAPT that keeps the address): datagrams that
/// side sends leave from the public port mapped to their source port, datagrams to a public
/// port reach the mapped private port. Enough for NAT detection, which hashes address and port.
#[derive(Clone, Debug)]
pub struct PortNat {
    pub side: Side,
    /// (private port, public port).
    pub map: Vec<(u16, u16)>,
}

impl PortNat {
    fn outbound(&self, a: SocketAddr) -> SocketAddr {
        match self.map.iter().find(|(private, _)| *private == a.port()) {
            Some((_, public)) => SocketAddr::new(a.ip(), *public),
            None => a,
        }
    }

    fn inbound(&self, a: SocketAddr) -> SocketAddr {
        match self.map.iter().find(|(_, public)| *public == a.port()) {
            Some((private, _)) => SocketAddr::new(a.ip(), *private),
            None => a,
        }
    }
}

/// Network impairments.
#[derive(Clone, Copy, Debug, Default)]
pub struct Impairments {
    pub loss: f64,
    pub duplicate: f64,
    /// Probability of an extra random delay (up to `reorder_window`), reordering datagrams.
    pub reorder: f64,
    pub reorder_window: Duration,
}

pub struct Pair {
    pub a: Endpoint,
    pub b: Endpoint,
    pub now: Timestamp,
    pub latency: Duration,
    pub impair: Impairments,
    net_rng: TestRng,
    in_flight: Vec<InFlight>,
    seq: u64,
    /// Scripted drops: drop the next N datagrams sent by a side.
    pub drop_next: HashMap<&'static str, usize>,
    /// Stop delivering anything to this side (peer gone silent).
    pub blackhole: Option<Side>,
    pub delivered: usize,
    pub dropped: usize,
    /// Every datagram sent, in order, for codec cross-checks.
    pub sent: Vec<Vec<u8>>,
    /// A NAT in front of one side, if any (may be changed between runs: a new mapping).
    pub nat: Option<PortNat>,
    /// NAT keepalives sent, with the time and the (pre-NAT) source and destination.
    pub keepalives: Vec<(Side, Timestamp, SocketAddr, SocketAddr)>,
    /// IKE datagrams sent, with the (pre-NAT) source and destination, in order.
    pub routes: Vec<(Side, SocketAddr, SocketAddr)>,
}

impl Pair {
    pub fn new(a: Engine, a_addr: SocketAddr, b: Engine, b_addr: SocketAddr) -> Pair {
        Pair {
            a: Endpoint {
                engine: a,
                kernel: FakeKernel::new(0xc000_0000),
                addr: a_addr,
                events: Vec::new(),
                received: 0,
            },
            b: Endpoint {
                engine: b,
                kernel: FakeKernel::new(0xc800_0000),
                addr: b_addr,
                events: Vec::new(),
                received: 0,
            },
            now: Timestamp::from_nanos(1_000_000_000),
            latency: Duration::from_millis(10),
            impair: Impairments::default(),
            net_rng: TestRng(42),
            in_flight: Vec::new(),
            seq: 0,
            drop_next: HashMap::new(),
            blackhole: None,
            delivered: 0,
            dropped: 0,
            sent: Vec::new(),
            nat: None,
            keepalives: Vec::new(),
            routes: Vec::new(),
        }
    }

    /// Reseeds the network's impairment randomness.
    pub fn set_net_seed(&mut self, seed: u64) {
        self.net_rng = TestRng(seed);
    }

    pub fn side(&mut self, s: Side) -> &mut Endpoint {
        match s {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Drains every output of both engines at the current time (kernel answers are immediate).
    pub fn drain(&mut self) {
        loop {
            let mut progress = false;
            for s in [Side::A, Side::B] {
                let now = self.now;
                loop {
                    let ep = self.side(s);
                    let Some(req) = ep.engine.poll_kernel() else {
                        break;
                    };
                    progress = true;
                    if let Some(ans) = ep.kernel.apply(req) {
                        ep.engine.handle_kernel(now, ans);
                    }
                }
                loop {
                    let ep = self.side(s);
                    let Some(ev) = ep.engine.poll_event() else {
                        break;
                    };
                    ep.events.push(ev);
                }
                loop {
                    let ep = self.side(s);
                    let Some(t) = ep.engine.poll_transmit() else {
                        break;
                    };
                    progress = true;
                    self.send(s, t.local, t.remote, t.bytes);
                }
            }
            if !progress {
                break;
            }
        }
    }

    fn send(&mut self, from: Side, local: SocketAddr, remote: SocketAddr, bytes: Vec<u8>) {
        let to = if from == Side::A { Side::B } else { Side::A };
        if bytes == iked_ike::engine::NAT_KEEPALIVE {
            self.keepalives.push((from, self.now, local, remote));
            return;
        }
        self.routes.push((from, local, remote));
        let (local, remote) = match &self.nat {
            Some(nat) if nat.side == from => (nat.outbound(local), remote),
            Some(nat) if nat.side == to => (local, nat.inbound(remote)),
            _ => (local, remote),
        };
        self.sent.push(bytes.clone());
        let key = if from == Side::A { "a" } else { "b" };
        if let Some(n) = self.drop_next.get_mut(key)
            && *n > 0
        {
            *n -= 1;
            self.dropped += 1;
            return;
        }
        if self.blackhole == Some(to)
            || self.blackhole == Some(from)
            || self.net_rng.unit() < self.impair.loss
        {
            self.dropped += 1;
            return;
        }
        let copies = if self.net_rng.unit() < self.impair.duplicate {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut at = self.now + self.latency;
            if self.net_rng.unit() < self.impair.reorder {
                at += self.impair.reorder_window.mul_f64(self.net_rng.unit());
            }
            self.seq += 1;
            self.in_flight.push(InFlight {
                at,
                seq: self.seq,
                to,
                from: local,
                dst: remote,
                bytes: bytes.clone(),
            });
        }
    }

    /// Runs until nothing is in flight and no timer is due before `limit` from now.
    pub fn run_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            self.drain();
            let next_net = self.in_flight.iter().map(|f| (f.at, f.seq)).min();
            let ta = self.a.engine.poll_timeout();
            let tb = self.b.engine.poll_timeout();
            let next = [next_net.map(|n| n.0), ta, tb].into_iter().flatten().min();
            let Some(next) = next else { break };
            if next > end {
                break;
            }
            if next > self.now {
                self.now = next;
            }
            // Deliver due datagrams in (time, send order).
            self.in_flight.sort_by_key(|f| (f.at, f.seq));
            while self.in_flight.first().is_some_and(|f| f.at <= self.now) {
                let f = self.in_flight.remove(0);
                let now = self.now;
                self.delivered += 1;
                let ep = self.side(f.to);
                ep.received += 1;
                ep.engine.handle_datagram(now, f.dst, f.from, &f.bytes);
                self.drain();
            }
            let now = self.now;
            if self.a.engine.poll_timeout().is_some_and(|t| t <= now) {
                self.a.engine.handle_timeout(now);
            }
            if self.b.engine.poll_timeout().is_some_and(|t| t <= now) {
                self.b.engine.handle_timeout(now);
            }
        }
        self.drain();
    }

    /// Delivers the answers `s`'s kernel kept back (`FakeKernel::defer_answers`), in order,
    /// at the current time, and drains both engines. Answers to requests this causes are kept
    /// back again while deferral is on.
    pub fn answer_deferred(&mut self, s: Side) {
        let now = self.now;
        let answers = std::mem::take(&mut self.side(s).kernel.deferred);
        for answer in answers {
            self.side(s).engine.handle_kernel(now, answer);
            self.drain();
        }
    }

    /// Runs until idle with a default horizon (enough for all retransmissions).
    pub fn run(&mut self) {
        self.run_for(Duration::from_secs(30));
    }
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn ts(s: &str) -> TrafficSelector {
    TrafficSelector::parse(s).unwrap()
}

/// A transport-mode child; `local`/`remote` are selectors or `dynamic[...]`.
pub fn child(name: &str, local: &str, remote: &str) -> ChildConfig {
    ChildConfig {
        name: name.into(),
        local_ts: vec![TsSpec::parse(local).unwrap()],
        remote_ts: vec![TsSpec::parse(remote).unwrap()],
        esp_proposals: vec![Proposal::parse(ProtocolId::ESP, "aes128gcm128-x25519-esn").unwrap()],
        mode: Mode::Transport,
        hw_offload: HwOffload::Packet,
        policies_fwd_out: true,
        lifetimes: ChildLifetimes::default(),
        marks: Default::default(),
    }
}

/// The seed's BFL (left) or BFR (right) connection, built by hand to mirror
/// examples/BFL.swanctl.conf and examples/BFR.swanctl.conf.
pub fn seed_config(left: bool) -> (IkeConfig, Vec<IkeSecret>) {
    let (me, peer, my_id, peer_id) = if left {
        ("192.168.50.1", "192.168.50.2", "host1", "host2")
    } else {
        ("192.168.50.2", "192.168.50.1", "host2", "host1")
    };
    let children = vec![
        child(
            "bf-out",
            &format!("{me}/24 [udp]"),
            &format!("{peer}/24 [udp/4789]"),
        ),
        child(
            "bf-in",
            &format!("{me}/24 [udp/4789]"),
            &format!("{peer}/24 [udp]"),
        ),
    ];
    let conn = IkeConfig {
        name: "BFL-BFR".into(),
        local_addrs: vec![ip(me)],
        remote_addrs: vec![ip(peer)],
        local_ranges: vec![],
        remote_ranges: vec![],
        local_names: vec![],
        remote_names: vec![],
        local: AuthConfig {
            method: AuthMethod::Psk,
            id: Some(Identity::from_text(my_id)),
        },
        remote: AuthConfig {
            method: AuthMethod::Psk,
            id: Some(Identity::from_text(peer_id)),
        },
        proposals: vec![Proposal::parse(ProtocolId::IKE, "aes128-sha256-x25519").unwrap()],
        children: children.into_iter().map(Arc::new).collect(),
        rekey_time: Duration::from_secs(4 * 3600),
        over_time: Duration::from_secs(1440),
        rand_time: Duration::from_secs(1440),
        dpd_delay: Duration::ZERO,
        mobike: false,
        encap: false,
        fragmentation: Default::default(),
        unique: Default::default(),
    };
    // The seed's secret is base64 ("0s" prefix): v+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL.
    let secret = vec![
        191, 227, 100, 197, 143, 75, 45, 155, 240, 143, 138, 130, 11, 106, 63, 128, 106, 214, 12,
        93, 157, 219, 88, 203,
    ];
    let secrets = vec![IkeSecret::new(
        vec![Identity::from_text("host1"), Identity::from_text("host2")],
        secret,
    )];
    (conn, secrets)
}

pub const BFL: &str = "192.168.50.1:500";
pub const BFR: &str = "192.168.50.2:500";

/// A pair running the seed configuration: A = BFL (initiator), B = BFR.
pub fn seed_pair(settings: Settings) -> Pair {
    seed_pair_with(settings, |_, _| {})
}

pub fn seed_pair_with(settings: Settings, tweak: impl Fn(bool, &mut IkeConfig)) -> Pair {
    let (mut l, ls) = seed_config(true);
    let (mut r, rs) = seed_config(false);
    tweak(true, &mut l);
    tweak(false, &mut r);
    let a = Engine::new(settings.clone(), vec![l], ls, Box::new(TestRng(1)));
    let b = Engine::new(settings, vec![r], rs, Box::new(TestRng(2)));
    Pair::new(a, BFL.parse().unwrap(), b, BFR.parse().unwrap())
}

/// The IKE_SA_INIT request the seed's initiator (BFL) sends, from an engine seeded with
/// `seed` (so its SPI and nonce differ per seed): raw bytes for tests that need a half-open SA
/// on a responder, or a valid request to alter.
pub fn seed_sa_init_request(seed: u64) -> Vec<u8> {
    let (l, ls) = seed_config(true);
    let mut e = Engine::new(Settings::default(), vec![l], ls, Box::new(TestRng(seed)));
    e.initiate(Timestamp::from_nanos(1), "BFL-BFR", &["bf-in"])
        .expect("seed connection");
    e.poll_transmit().expect("IKE_SA_INIT request").bytes
}

/// Asserts that every SA in `a`'s kernel has a twin in `b`'s with the same SPI, addresses,
/// algorithm and keys (A's outbound is B's inbound and vice versa). Returns the pair count.
pub fn assert_kernels_match(a: &FakeKernel, b: &FakeKernel) -> usize {
    assert_eq!(a.sas.len(), b.sas.len(), "SA count differs");
    for (key, sa) in &a.sas {
        let twin = b
            .sas
            .get(key)
            .unwrap_or_else(|| panic!("no twin for SA {:08x}", key.1));
        assert_eq!((twin.src, twin.dst, twin.spi), (sa.src, sa.dst, sa.spi));
        assert_ne!(twin.direction, sa.direction);
        assert_eq!(twin.encr, sa.encr);
        assert_eq!(
            twin.encr_key, sa.encr_key,
            "encryption keys differ for SPI {:08x}",
            sa.spi
        );
        assert_eq!(twin.integ_key, sa.integ_key);
        assert_eq!(twin.esn, sa.esn);
    }
    a.sas.len()
}

/// A seed pair (default settings) on which BFL has initiated the IKE SA with `children` and
/// the exchanges have run to quiescence.
pub fn established_seed_pair(children: &[&str]) -> Pair {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", children).unwrap();
    p.run();
    p
}

/// How many CHILD_SAs came up at this end (`ChildUp` events).
pub fn children_up(ep: &Endpoint) -> usize {
    ep.events
        .iter()
        .filter(|e| matches!(e, Event::ChildUp { .. }))
        .count()
}

/// One seed pair run with both children under `impair` (network seed `seed`) for 400 s of
/// simulated time. Whatever the impairments did, both ends must agree on the children that
/// came up and hold matching kernel state (never half a child); returns how many came up.
pub fn impaired_seed_run(settings: Settings, seed: u64, impair: Impairments) -> usize {
    let mut p = seed_pair(settings);
    p.set_net_seed(seed);
    p.impair = impair;
    let now = p.now;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .unwrap();
    p.run_for(Duration::from_secs(400));
    let (up_a, up_b) = (children_up(&p.a), children_up(&p.b));
    assert_eq!(up_a, up_b, "seed {seed}");
    assert_eq!(
        assert_kernels_match(&p.a.kernel, &p.b.kernel),
        2 * up_a,
        "seed {seed}"
    );
    up_a
}

/// A file under `tests/captures/` (strongSwan 5.9.8 datagrams and key logs; see its README).
pub fn capture(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/captures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// `name = hex` of the first IKE SA in a capture's `ike-keys.txt` (charon's key log).
pub fn logged_key(scenario: &str, name: &str) -> Vec<u8> {
    logged_key_of(scenario, 0, name)
}

/// `name = hex` of the `index`-th IKE SA block (`SPIi=...` line onwards) of `ike-keys.txt`.
pub fn logged_key_of(scenario: &str, index: usize, name: &str) -> Vec<u8> {
    let text = String::from_utf8(capture(&format!("{scenario}/ike-keys.txt"))).unwrap();
    let block = text.split("SPIi=").nth(index + 1).unwrap();
    let value = block
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{name} = ")))
        .unwrap();
    hex::decode(value.trim()).unwrap()
}
