//! Fuzz a responder engine (the seed's BFR connection, seeded RNG, virtual time) with arbitrary
//! datagrams. The input is a script of records; each either sends raw bytes, or a valid
//! IKE_SA_INIT request (made once by a BFL initiator) with a few bytes overwritten, or a
//! datagram addressed to the half-open IKE SA that request created (so it passes the SPI
//! lookup: SK/SKF payloads with garbage, duplicated fragments, bogus lengths), or advances time.
//! Kernel requests are answered like a healthy kernel would.
//!
//! Asserts: no panic, and bounded state: never more IKE SAs than records that could carry an
//! IKE_SA_INIT, at most one datagram out per record (replays included) plus one per SA on timer
//! records (retransmissions, NAT keepalives), and no more kernel requests than a real exchange
//! could cause.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use iked_crypto::rng::SeededRandom;
use iked_ike::config::{IkeConfig, IkeSecret, Settings};
use iked_ike::engine::{Engine, KernelEvent, KernelRequest};
use iked_ike::time::Timestamp;
use libfuzzer_sys::fuzz_target;

const BFL: &str = "192.168.50.1:500";
const BFR: &str = "192.168.50.2:500";

struct Seed {
    /// BFR's parsed swanctl.conf (converted per run: secrets are not `Clone`).
    responder: iked_conf::Config,
    sa_init: Vec<u8>,
}

fn parse(text: &str) -> iked_conf::Config {
    iked_conf::load_bytes("seed.conf", text.as_bytes())
        .expect("seed conf parses")
        .config
}

fn convert(config: &iked_conf::Config) -> (Vec<IkeConfig>, Vec<IkeSecret>) {
    iked_ike::from_conf::convert(config).expect("seed conf converts")
}

fn seed() -> &'static Seed {
    static SEED: OnceLock<Seed> = OnceLock::new();
    SEED.get_or_init(|| {
        let (l, ls) = convert(&parse(include_str!("../../../examples/BFL.swanctl.conf")));
        let mut bfl = Engine::new(
            Settings::default(),
            l,
            ls,
            Box::new(SeededRandom::from_u64(1)),
        );
        bfl.initiate(t(0), "BFL-BFR", &["bf-in", "bf-out"])
            .expect("seed initiates");
        let sa_init = bfl.poll_transmit().expect("IKE_SA_INIT request").bytes;
        Seed {
            responder: parse(include_str!("../../../examples/BFR.swanctl.conf")),
            sa_init,
        }
    })
}

fn t(ms: u64) -> Timestamp {
    Timestamp::from_duration(Duration::from_secs(1) + Duration::from_millis(ms))
}

/// Answers kernel requests; returns how many there were.
fn run_kernel(engine: &mut Engine, now: Timestamp, next_spi: &mut u32) -> usize {
    let mut n = 0;
    while let Some(req) = engine.poll_kernel() {
        n += 1;
        let answer = match req {
            KernelRequest::AllocateSpi { id, .. } => {
                *next_spi = next_spi.wrapping_add(1);
                Some(KernelEvent::SpiAllocated { id, spi: *next_spi })
            }
            KernelRequest::AddSa { id, .. } | KernelRequest::AddPolicy { id, .. } => {
                Some(KernelEvent::Installed { id })
            }
            KernelRequest::DeleteSa { .. } | KernelRequest::DeletePolicy { .. } => None,
        };
        if let Some(a) = answer {
            engine.handle_kernel(now, a);
        }
    }
    n
}

fuzz_target!(|data: &[u8]| {
    let seed = seed();
    let (configs, secrets) = convert(&seed.responder);
    let mut engine = Engine::new(
        Settings::default(),
        configs,
        secrets,
        Box::new(SeededRandom::from_u64(2)),
    );
    let (bfr, bfl): (SocketAddr, SocketAddr) = (BFR.parse().unwrap(), BFL.parse().unwrap());
    let mut now_ms = 0u64;
    let mut next_spi = 0xc000_0000u32;
    // The responder SPI of the last IKE SA our mutated IKE_SA_INIT created.
    let mut target: Option<(u64, u64)> = None;
    // Records that could create an IKE SA: mutated IKE_SA_INITs and raw datagrams.
    let (mut creating_records, mut records, mut timer_records) = (0usize, 0usize, 0usize);
    let (mut transmits, mut kernel, mut max_sas) = (0usize, 0usize, 0usize);
    let mut rest = data;
    while let [op, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (arg, next) = tail.split_at(len);
        rest = next;
        records += 1;
        let now = t(now_ms);
        match op % 4 {
            0 => {
                creating_records += 1;
                engine.handle_datagram(now, bfr, bfl, arg);
            }
            1 => {
                // The valid IKE_SA_INIT with (offset, value) pairs overwritten.
                let mut bytes = seed.sa_init.clone();
                for pair in arg.chunks_exact(2) {
                    let at = usize::from(pair[0]) % bytes.len();
                    bytes[at] = pair[1];
                }
                creating_records += 1;
                engine.handle_datagram(now, bfr, bfl, &bytes);
            }
            2 => {
                // A header addressed to the last half-open SA, then arbitrary payloads: the
                // first three octets pick the first payload type, exchange and message ID.
                if let Some((spi_i, spi_r)) = target {
                    let (control, payloads) = arg.split_at(arg.len().min(3));
                    let pick = |i: usize, default: u8| control.get(i).copied().unwrap_or(default);
                    let mut bytes = Vec::with_capacity(28 + payloads.len());
                    bytes.extend_from_slice(&spi_i.to_be_bytes());
                    bytes.extend_from_slice(&spi_r.to_be_bytes());
                    bytes.extend_from_slice(&[pick(0, 46), 0x20, 34 + pick(1, 1) % 4, 0x08]);
                    bytes.extend_from_slice(&u32::from(pick(2, 1) % 4).to_be_bytes());
                    let total = u32::try_from(28 + payloads.len()).unwrap_or(u32::MAX);
                    bytes.extend_from_slice(&total.to_be_bytes());
                    bytes.extend_from_slice(payloads);
                    engine.handle_datagram(now, bfr, bfl, &bytes);
                }
            }
            _ => {
                // Advance virtual time by up to ~65 s and run the timers.
                timer_records += 1;
                let step = arg
                    .iter()
                    .take(2)
                    .fold(0u64, |a, b| a * 256 + u64::from(*b));
                now_ms += step;
                let now = t(now_ms);
                if engine.poll_timeout().is_some_and(|due| due <= now) {
                    engine.handle_timeout(now);
                }
            }
        }
        let now = t(now_ms);
        kernel += run_kernel(&mut engine, now, &mut next_spi);
        while let Some(out) = engine.poll_transmit() {
            transmits += 1;
            // Learn the responder SPI from our IKE_SA_INIT answer (a response, from us).
            if out.bytes.len() >= 28 && out.bytes[18] == 34 && out.bytes[19] & 0x20 != 0 {
                let spi = |r: std::ops::Range<usize>| {
                    u64::from_be_bytes(out.bytes[r].try_into().unwrap_or([0; 8]))
                };
                if spi(8..16) != 0 {
                    target = Some((spi(0..8), spi(8..16)));
                }
            }
        }
        while engine.poll_event().is_some() {}
        let sas = engine.ike_sas().len();
        assert!(
            sas <= creating_records,
            "{sas} IKE SAs from {creating_records} IKE_SA_INIT-capable records"
        );
        max_sas = max_sas.max(sas);
    }
    // One answer per datagram at most (fragments aside, which a half-open SA never sends),
    // plus, per timer record, at most one timer-driven datagram (retransmission, NAT
    // keepalive) for each SA that existed.
    assert!(
        transmits <= records + timer_records * (max_sas + 1),
        "{transmits} datagrams out for {records} records"
    );
    assert!(
        kernel <= 16 * (max_sas + 1) * records.max(1),
        "{kernel} kernel requests"
    );
});
