//! Fuzz the engine past decryption: a real in-process initiator (BFL) and responder (BFR) from
//! the seed configuration, seeded RNGs and virtual time, are driven to a known point, then fed
//! protected messages whose plaintext payload chains are fuzzed and which are sealed with the
//! IKE SA's real keys, so every input passes the integrity check and reaches the decrypted
//! payload handling of IKE_AUTH, CREATE_CHILD_SA and INFORMATIONAL.
//!
//! The keys: both engines draw from `SeededRandom`, so every run produces the same SPIs, nonces
//! and key-exchange values. Once per process the harness records the initiator's random draws,
//! finds the one that reproduces the KE payload it sent, computes the shared secret with the
//! responder's KE value and derives the IKE SA keys with the engine's public suite functions;
//! it checks them by decrypting the real IKE_AUTH request. Each run then rebuilds the pair and
//! checks it produced exactly the recorded transcript (so the keys still apply).
//!
//! The input: the first byte picks the starting point (even: after IKE_SA_INIT, with BFL's
//! IKE_AUTH request held back, so the fuzzer plays the IKE_AUTH exchange against either side;
//! odd: both sides ESTABLISHED with two CHILD_SAs). Then records `[op, c0, c1, c2, len_lo,
//! len_hi, plaintext...]`; `op % 8` picks: a request to BFR sealed as the initiator (0, 7), a
//! request to BFL sealed as the responder (1), a response to the last request BFL (2) or BFR
//! (3) sent, a command (create, rekey or delete a CHILD_SA, rekey or delete the IKE SA) on
//! either engine (4), delivery of the datagrams the engines queued for each other (5), or
//! virtual time advanced with timers run (6). For sealed messages `c0` picks the exchange,
//! `c1` offsets the Message ID from the one the receiver expects, `c2` is the first inner
//! payload type, and bit 7 of `op` seals an SKF fragment instead (number and total from
//! bits 3-6).
//!
//! Asserts: no panic, and no more IKE SAs than a real run of the records could create.
//!
//! Set `IKED_FUZZ_SEEDS=<dir>` to write seed inputs (the real exchanges' plaintexts, each as a
//! record) to `<dir>` and exit.
#![no_main]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use iked_crypto::rng::{RandomSource, SeededRandom};
use iked_ike::config::Settings;
use iked_ike::engine::{Engine, KernelEvent, KernelRequest};
use iked_ike::message::{self, Header, Payload, SkKeys};
use iked_ike::wire::{ExchangeType, Flags, PayloadType};
use iked_ike::proposal::Selected;
use iked_ike::suite::{self, IkeKeys, KeyExchange};
use iked_ike::time::Timestamp;
use libfuzzer_sys::fuzz_target;

const BFL: &str = "192.168.50.1:500";
const BFR: &str = "192.168.50.2:500";
/// Queued datagrams kept per direction (older ones are dropped, like a lossy network).
const QUEUE: usize = 16;
/// Messages the pump delivers before giving up on quiescence.
const PUMP_LIMIT: usize = 64;

fn t(ms: u64) -> Timestamp {
    Timestamp::from_duration(Duration::from_secs(1) + Duration::from_millis(ms))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("constant address")
}

fn parse(text: &str) -> iked_conf::Config {
    iked_conf::load_bytes("seed.conf", text.as_bytes())
        .expect("seed conf parses")
        .config
}

/// Passes a `SeededRandom` through, keeping a copy of every draw.
struct Recorder {
    inner: SeededRandom,
    draws: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl RandomSource for Recorder {
    fn fill(&mut self, buf: &mut [u8]) {
        self.inner.fill(buf);
        if let Ok(mut d) = self.draws.lock() {
            d.push(buf.to_vec());
        }
    }
}

/// Replays recorded bytes (then zeros).
struct Replay(Vec<u8>, usize);

impl RandomSource for Replay {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.0.get(self.1).copied().unwrap_or(0);
            self.1 += 1;
        }
    }
}

/// The IKE SA's keys as both ends hold them.
struct Keys {
    suite: Selected,
    ike: IkeKeys,
    spi_i: u64,
    spi_r: u64,
}

impl Keys {
    fn of(&self, initiator: bool) -> SkKeys<'_> {
        let (encr, integ) = if initiator {
            (&self.ike.sk_ei, &self.ike.sk_ai)
        } else {
            (&self.ike.sk_er, &self.ike.sk_ar)
        };
        SkKeys {
            suite: &self.suite,
            encr,
            integ,
        }
    }
}

struct Seed {
    bfl: iked_conf::Config,
    bfr: iked_conf::Config,
    keys: Keys,
    /// Every datagram of a run to ESTABLISHED, in order (both directions).
    transcript: Vec<Vec<u8>>,
}

/// One side of the pair.
struct Side {
    engine: Engine,
    addr: SocketAddr,
    next_spi: u32,
    /// Datagrams it sent that the other side has not been given.
    out: VecDeque<Vec<u8>>,
    /// Exchange and Message ID of the last request it sent.
    last_request: Option<(u8, u32)>,
    /// The Message ID of the next request it expects (one past its last response).
    expects: u32,
}

impl Side {
    fn new(config: &iked_conf::Config, seed: u64, addr: SocketAddr, spi_base: u32) -> Side {
        Side::with_rng(
            config,
            Box::new(SeededRandom::from_u64(seed)),
            addr,
            spi_base,
        )
    }

    fn with_rng(
        config: &iked_conf::Config,
        rng: Box<dyn RandomSource + Send>,
        addr: SocketAddr,
        spi_base: u32,
    ) -> Side {
        let (configs, secrets) = iked_ike::from_conf::convert(config).expect("seed conf converts");
        Side {
            engine: Engine::new(Settings::default(), configs, secrets, rng),
            addr,
            next_spi: spi_base,
            out: VecDeque::new(),
            last_request: None,
            expects: 0,
        }
    }

    /// Answers kernel requests like a healthy kernel, then collects datagrams and events.
    /// Returns the datagrams sent in this call.
    fn settle(&mut self, now: Timestamp) -> Vec<Vec<u8>> {
        for _ in 0..64 {
            let Some(req) = self.engine.poll_kernel() else {
                break;
            };
            let answer = match req {
                KernelRequest::AllocateSpi { id, .. } => {
                    self.next_spi = self.next_spi.wrapping_add(1);
                    Some(KernelEvent::SpiAllocated {
                        id,
                        spi: self.next_spi,
                    })
                }
                KernelRequest::AddSa { id, .. } | KernelRequest::AddPolicy { id, .. } => {
                    Some(KernelEvent::Installed { id })
                }
                KernelRequest::DeleteSa { .. } | KernelRequest::DeletePolicy { .. } => None,
            };
            if let Some(a) = answer {
                self.engine.handle_kernel(now, a);
            }
        }
        let mut sent = Vec::new();
        while let Some(out) = self.engine.poll_transmit() {
            if let Ok(h) = message::peek_header(&out.bytes) {
                if h.is_response() {
                    self.expects = self.expects.max(h.message_id.saturating_add(1));
                } else {
                    self.last_request = Some((h.exchange.0, h.message_id));
                }
            }
            if self.out.len() == QUEUE {
                self.out.pop_front();
            }
            self.out.push_back(out.bytes.clone());
            sent.push(out.bytes);
        }
        while self.engine.poll_event().is_some() {}
        sent
    }
}

struct Pair {
    bfl: Side,
    bfr: Side,
    now_ms: u64,
}

impl Pair {
    fn now(&self) -> Timestamp {
        t(self.now_ms)
    }

    /// Hands `bytes` to one side (to BFR if `to_bfr`) as if sent by the other.
    fn deliver(&mut self, to_bfr: bool, bytes: &[u8]) {
        let now = self.now();
        let (to, from) = if to_bfr {
            (&mut self.bfr, self.bfl.addr)
        } else {
            (&mut self.bfl, self.bfr.addr)
        };
        to.engine.handle_datagram(now, to.addr, from, bytes);
        to.settle(now);
    }

    /// Delivers up to `n` queued datagrams in each direction, alternating.
    fn deliver_queued(&mut self, n: usize) -> Vec<Vec<u8>> {
        let mut moved = Vec::new();
        for _ in 0..n {
            let mut any = false;
            if let Some(b) = self.bfl.out.pop_front() {
                self.deliver(true, &b);
                moved.push(b);
                any = true;
            }
            if let Some(b) = self.bfr.out.pop_front() {
                self.deliver(false, &b);
                moved.push(b);
                any = true;
            }
            if !any {
                break;
            }
        }
        moved
    }
}

/// A pair after IKE_SA_INIT (BFL's IKE_AUTH request queued, not delivered), and the datagrams
/// so far.
fn half_open(seed_bfr: &iked_conf::Config, bfl: Side) -> (Pair, Vec<Vec<u8>>) {
    let mut pair = Pair {
        bfl,
        bfr: Side::new(seed_bfr, 2, addr(BFR), 0xc100_0000),
        now_ms: 0,
    };
    let now = pair.now();
    pair.bfl
        .engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .expect("seed initiates");
    pair.bfl.settle(now);
    // IKE_SA_INIT request, then its response; BFL answers with its IKE_AUTH request.
    let mut transcript = pair.deliver_queued(1);
    transcript.extend(pair.bfl.out.iter().cloned());
    (pair, transcript)
}

fn established(pair: &mut Pair) -> Vec<Vec<u8>> {
    let mut moved = Vec::new();
    for _ in 0..PUMP_LIMIT {
        let step = pair.deliver_queued(1);
        if step.is_empty() {
            break;
        }
        moved.extend(step);
    }
    moved
}

fn first_ke_and_nonce(bytes: &[u8]) -> (u16, Vec<u8>, Vec<u8>, Header, Option<Selected>) {
    let msg = message::decode(bytes, None).expect("IKE_SA_INIT decodes");
    let (mut ke, mut nonce, mut sel) = (None, None, None);
    for p in &msg.payloads {
        match p {
            Payload::Ke { group, data } => ke = Some((*group, data.clone())),
            Payload::Nonce(n) => nonce = Some(n.clone()),
            Payload::Sa(v) => sel = v.first().and_then(|p| p.selected()),
            _ => {}
        }
    }
    let (group, ke) = ke.expect("KE payload");
    (group, ke, nonce.expect("nonce"), msg.header, sel)
}

fn seed() -> &'static Seed {
    static SEED: OnceLock<Seed> = OnceLock::new();
    SEED.get_or_init(|| {
        let bfl_conf = parse(include_str!("../../../examples/BFL.swanctl.conf"));
        let bfr_conf = parse(include_str!("../../../examples/BFR.swanctl.conf"));
        let draws = Arc::new(Mutex::new(Vec::new()));
        let recorder = Recorder {
            inner: SeededRandom::from_u64(1),
            draws: draws.clone(),
        };
        let bfl = Side::with_rng(&bfl_conf, Box::new(recorder), addr(BFL), 0xc000_0000);
        let (mut pair, mut transcript) = half_open(&bfr_conf, bfl);
        let (group, ke_i, ni, hdr_i, _) = first_ke_and_nonce(&transcript[0]);
        let (_, ke_r, nr, hdr_r, sel) = first_ke_and_nonce(&transcript[1]);
        let suite = sel.expect("responder chose a proposal");
        // Find the draw(s) that reproduce our KE value.
        let draws = draws.lock().expect("draws").clone();
        let ke = (0..draws.len())
            .find_map(|i| {
                let ke = KeyExchange::generate(group, &mut Replay(draws[i..].concat(), 0)).ok()?;
                (ke.public() == ke_i).then_some(ke)
            })
            .expect("a recorded draw reproduces the KE payload");
        let shared = ke.shared(&ke_r).expect("shared secret");
        let skeyseed = suite::skeyseed(suite.prf, &ni, &nr, &shared).expect("SKEYSEED");
        let ike = suite::derive_ike_keys(&suite, &skeyseed, &ni, &nr, hdr_i.spi_i, hdr_r.spi_r)
            .expect("keys");
        let keys = Keys {
            suite,
            ike,
            spi_i: hdr_i.spi_i,
            spi_r: hdr_r.spi_r,
        };
        message::decode(&transcript[2], Some(keys.of(true))).expect("keys open IKE_AUTH");
        // The queued IKE_AUTH request is already in the transcript; continue past it.
        transcript.truncate(2);
        transcript.extend(established(&mut pair));
        assert!(
            pair.bfl
                .engine
                .ike_sas()
                .iter()
                .all(|s| s.established && s.children.len() == 2),
            "seed pair establishes"
        );
        let seed = Seed {
            bfl: bfl_conf,
            bfr: bfr_conf,
            keys,
            transcript,
        };
        if let Ok(dir) = std::env::var("IKED_FUZZ_SEEDS") {
            write_seeds(&seed, &dir);
            std::process::exit(0);
        }
        seed
    })
}

/// A record: `[op, c0, c1, c2, len_lo, len_hi, plaintext...]`.
fn record(op: u8, c: [u8; 3], plaintext: &[u8]) -> Vec<u8> {
    let len = u16::try_from(plaintext.len()).expect("short plaintext");
    let mut r = vec![op, c[0], c[1], c[2]];
    r.extend_from_slice(&len.to_le_bytes());
    r.extend_from_slice(plaintext);
    r
}

/// Writes one seed per real protected message (its plaintext replayed as the matching
/// record), plus seeds that run a command first (rekeys, deletes) on the established pair.
fn write_seeds(seed: &Seed, dir: &str) {
    std::fs::create_dir_all(dir).expect("seed dir");
    let mut n = 0;
    let mut put = |bytes: Vec<u8>| {
        std::fs::write(format!("{dir}/seed-{n:02}"), bytes).expect("write seed");
        n += 1;
    };
    let mut messages = seed.transcript[2..].to_vec();
    // Commands on the established pair, run to completion, for their messages too.
    for (side, action) in [(0u8, 0u8), (0, 1), (0, 2), (0, 3), (1, 1), (1, 3), (0, 4)] {
        let mut pair = fresh(seed, true);
        command(&mut pair, side, action, 0);
        messages.extend(established(&mut pair));
    }
    for bytes in messages {
        let Ok(h) = message::peek_header(&bytes) else {
            continue;
        };
        let from_initiator = h.flags & Flags::INITIATOR != 0;
        let Ok(msg) = message::decode(&bytes, Some(seed.keys.of(from_initiator))) else {
            continue; // another IKE SA's keys (after an IKE rekey)
        };
        let Ok((first, plain)) = message::inner_plaintext(&msg) else {
            continue;
        };
        let c0 = h.exchange.0.wrapping_sub(ExchangeType::IKE_AUTH.0);
        let op = match (from_initiator, h.is_response()) {
            (true, false) => 0,
            (false, false) => 1,
            (false, true) => 2,
            (true, true) => 3,
        };
        let phase = u8::from(h.exchange != ExchangeType::IKE_AUTH);
        let mut input = vec![phase];
        if op >= 2 && phase == 1 {
            // A response needs a request outstanding: start the matching command.
            input.extend(record(4, [u8::from(op == 3), 0, 0], &[]));
        }
        input.extend(record(op, [c0, 0, first.0], &plain));
        put(input);
    }
}

/// A fresh pair at the starting point, checked against the recorded transcript.
fn fresh(seed: &Seed, established_start: bool) -> Pair {
    let bfl = Side::new(&seed.bfl, 1, addr(BFL), 0xc000_0000);
    let (mut pair, mut transcript) = half_open(&seed.bfr, bfl);
    assert_eq!(
        transcript[..2],
        seed.transcript[..2],
        "the pair is deterministic"
    );
    if established_start {
        transcript.truncate(2);
        transcript.extend(established(&mut pair));
        assert!(transcript == seed.transcript, "the pair is deterministic");
    }
    pair
}

/// Runs command `action` on BFL (`side` even) or BFR; `arg` picks the child.
fn command(pair: &mut Pair, side: u8, action: u8, arg: u8) {
    let now = pair.now();
    let s = if side % 2 == 0 {
        &mut pair.bfl
    } else {
        &mut pair.bfr
    };
    let sas = s.engine.ike_sas();
    let Some(sa) = sas.first() else { return };
    let child = sa
        .children
        .get(usize::from(arg) % sa.children.len().max(1))
        .map(|c| c.id);
    let _ = match (action % 5, child) {
        (0, _) => s
            .engine
            .create_child(now, sa.id, if arg % 2 == 0 { "bf-in" } else { "bf-out" }),
        (1, Some(c)) => s.engine.rekey_child(now, c),
        (2, _) => s.engine.rekey_ike(now, sa.id),
        (3, Some(c)) => s.engine.terminate_child(now, c),
        (4, _) => s.engine.terminate_ike(now, sa.id),
        _ => Ok(()),
    };
    s.settle(now);
}

/// Seals `plaintext` as a message of the IKE SA (as the initiator if `as_initiator`).
fn seal(
    keys: &Keys,
    header: Header,
    op: u8,
    first: u8,
    plaintext: &[u8],
    as_initiator: bool,
) -> Option<Vec<u8>> {
    let fragment = (op & 0x80 != 0).then(|| {
        let number = u16::from((op >> 3) & 3) + 1;
        let total = u16::from((op >> 5) & 3) + 1;
        (number, total)
    });
    let mut iv = SeededRandom::from_u64(9);
    message::seal(
        &header,
        PayloadType(first),
        fragment,
        plaintext,
        &keys.of(as_initiator),
        &mut iv,
    )
    .ok()
}

fn exchange_of(c0: u8) -> u8 {
    if c0 & 0x80 != 0 {
        c0 & 0x7f
    } else {
        ExchangeType::IKE_AUTH.0 + c0 % 3
    }
}

fn mid_offset(base: u32, c1: u8) -> u32 {
    if c1 == 0xff {
        u32::MAX
    } else {
        base.wrapping_add(u32::from(c1))
    }
}

fuzz_target!(|data: &[u8]| {
    let seed = seed();
    let Some((&phase, mut rest)) = data.split_first() else {
        return;
    };
    let mut pair = fresh(seed, phase % 2 == 1);
    let keys = &seed.keys;
    let mut records = 0usize;
    while let [op, c0, c1, c2, l0, l1, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*l0, *l1])).min(tail.len());
        let (plaintext, next) = tail.split_at(len);
        rest = next;
        records += 1;
        let (op, c0, c1, c2) = (*op, *c0, *c1, *c2);
        let header = |exchange: u8, flags: u8, message_id: u32| Header {
            spi_i: keys.spi_i,
            spi_r: keys.spi_r,
            exchange: ExchangeType(exchange),
            flags,
            message_id,
        };
        match op % 8 {
            0 | 7 => {
                let h = header(
                    exchange_of(c0),
                    Flags::INITIATOR,
                    mid_offset(pair.bfr.expects, c1),
                );
                if let Some(b) = seal(keys, h, op, c2, plaintext, true) {
                    pair.deliver(true, &b);
                }
            }
            1 => {
                let h = header(exchange_of(c0), 0, mid_offset(pair.bfl.expects, c1));
                if let Some(b) = seal(keys, h, op, c2, plaintext, false) {
                    pair.deliver(false, &b);
                }
            }
            2 | 3 => {
                let to_bfl = op % 8 == 2;
                let asked = if to_bfl {
                    pair.bfl.last_request
                } else {
                    pair.bfr.last_request
                };
                let (exchange, mid) = asked.unwrap_or((exchange_of(c0), 0));
                let f = Flags::RESPONSE | if to_bfl { 0 } else { Flags::INITIATOR };
                let h = header(exchange, f, mid_offset(mid, c1));
                if let Some(b) = seal(keys, h, op, c2, plaintext, !to_bfl) {
                    pair.deliver(!to_bfl, &b);
                }
            }
            4 => command(&mut pair, c0, c1, c2),
            5 => {
                pair.deliver_queued(usize::from(c0 % 8) + 1);
            }
            _ => {
                pair.now_ms += u64::from(u16::from_le_bytes([c0, c1])) * (u64::from(c2 % 8) + 1);
                let now = pair.now();
                for s in [&mut pair.bfl, &mut pair.bfr] {
                    if s.engine.poll_timeout().is_some_and(|due| due <= now) {
                        s.engine.handle_timeout(now);
                    }
                    s.settle(now);
                }
            }
        }
        // A rekey (command or fuzzed CREATE_CHILD_SA) adds at most one IKE SA per record.
        for s in [&pair.bfl, &pair.bfr] {
            let n = s.engine.ike_sa_count();
            assert!(n <= records + 1, "{n} IKE SAs after {records} records");
        }
    }
});
