//! The daemon applies strongswan.conf's `max_packet`, `cookie_threshold`,
//! `cookie_threshold_ip` and `block_threshold`: a record-only iked on loopback answers (or
//! does not answer) IKE_SA_INIT requests sent from a plain UDP socket.

mod common;

use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

use common::*;
use iked_ike::engine::RandomSource;
use iked_ike::message::{self, Header, Message, Notify, Payload};
use iked_ike::proposal::Proposal;
use iked_ike::suite::KeyExchange;
use iked_ike::wire::{ExchangeType, Flags, NotifyType, ProtocolId};

/// Deterministic bytes; these requests need no secrecy.
struct Counter(u8);

impl RandomSource for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_mul(37).wrapping_add(11);
            *b = self.0;
        }
    }
}

/// An IKE_SA_INIT request the seed's responder accepts, with initiator SPI `spi`, optional
/// COOKIE first, and a Vendor ID of `pad` octets to make it large.
fn sa_init(spi: u64, cookie: Option<&[u8]>, pad: usize) -> Vec<u8> {
    let mut proposal = Proposal::parse(ProtocolId::IKE, "aes128-sha256-x25519").unwrap();
    proposal.number = 1;
    let ke = KeyExchange::generate(31, &mut Counter(1)).unwrap();
    let mut payloads = Vec::new();
    if let Some(c) = cookie {
        payloads.push(Payload::Notify(Notify::new(NotifyType::COOKIE, c.to_vec())));
    }
    payloads.extend([
        Payload::Sa(vec![proposal]),
        Payload::Ke {
            group: 31,
            data: ke.public(),
        },
        Payload::Nonce(vec![0x33; 32]),
        Payload::VendorId(vec![0x5a; pad]),
    ]);
    let msg = Message {
        header: Header {
            spi_i: spi,
            spi_r: 0,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags::INITIATOR,
            message_id: 0,
        },
        payloads,
    };
    message::encode(&msg, None).unwrap()
}

/// What the daemon answered, if anything within `wait`.
fn ask(sock: &UdpSocket, to: u16, bytes: &[u8], wait: Duration) -> Option<Message> {
    sock.send_to(bytes, ("127.0.0.1", to)).unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    let mut buf = vec![0u8; 65536];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Some(message::decode(&buf[..n], None).unwrap())
}

fn negotiated(m: &Option<Message>) -> bool {
    m.as_ref()
        .is_some_and(|m| m.payloads.iter().any(|p| matches!(p, Payload::Sa(_))))
}

fn cookie(m: &Option<Message>) -> Option<Vec<u8>> {
    m.as_ref()?
        .notify(NotifyType::COOKIE)
        .map(|n| n.data.clone())
}

/// Starts the seed's BFL side (127.0.0.1, accepting 127.0.0.2) with `strongswan_conf` on
/// free ports; returns the processes, its IKE port and a socket on 127.0.0.2.
fn responder(dir: &Path, strongswan_conf: &str) -> (Processes, u16, UdpSocket) {
    std::fs::write(dir.join("strongswan.conf"), strongswan_conf).unwrap();
    let lone = start_seed_iked(dir, "BFL-BFR", &[]);
    let sock = UdpSocket::bind("127.0.0.2:0").expect("127.0.0.2 on loopback");
    (lone.procs, lone.ike_port, sock)
}

#[test]
fn max_packet_defaults_to_10000_and_is_configurable() {
    let dir = scratch("max-packet");
    let big = sa_init(0x1111, None, 60_000);
    assert!(big.len() > 60_000);
    {
        let (_procs, port, sock) = responder(&dir, "");
        assert!(
            ask(&sock, port, &big, Duration::from_millis(1500)).is_none(),
            "a 60 KB IKE_SA_INIT is dropped under the default max_packet"
        );
        // The daemon is alive and answers an ordinary request.
        let small = sa_init(0x2222, None, 16);
        assert!(negotiated(&ask(
            &sock,
            port,
            &small,
            Duration::from_secs(5)
        )));
        let log = std::fs::read_to_string(dir.join("iked.log")).unwrap();
        assert!(
            log.contains("exceeds max_packet of 10000 bytes"),
            "drop not logged:\n{log}"
        );
    }
    let dir = scratch("max-packet-65535");
    let (_procs, port, sock) = responder(&dir, "charon {\n  max_packet = 65535\n}\n");
    assert!(
        negotiated(&ask(&sock, port, &big, Duration::from_secs(5))),
        "max_packet = 65535 lets it in; log:\n{}",
        std::fs::read_to_string(dir.join("iked.log")).unwrap_or_default()
    );
}

#[test]
fn cookie_and_block_thresholds_come_from_strongswan_conf() {
    let dir = scratch("dos-keys");
    let (_procs, port, sock) = responder(
        &dir,
        "charon {\n  cookie_threshold = 0\n  cookie_threshold_ip = 1\n  block_threshold = 2\n}\n",
    );
    let wait = Duration::from_secs(5);
    // No half-open SA from this address yet: answered.
    assert!(negotiated(&ask(&sock, port, &sa_init(1, None, 0), wait)));
    // One half-open SA: cookie_threshold_ip = 1 demands a cookie; echoing it is accepted.
    let c = cookie(&ask(&sock, port, &sa_init(2, None, 0), wait)).expect("COOKIE demanded");
    assert!(negotiated(&ask(
        &sock,
        port,
        &sa_init(2, Some(&c), 0),
        wait
    )));
    // Two half-open SAs: block_threshold = 2 ignores the address, cookie or not.
    let c = cookie(&ask(&sock, port, &sa_init(3, None, 0), wait)).expect("COOKIE demanded");
    assert!(
        ask(
            &sock,
            port,
            &sa_init(3, Some(&c), 0),
            Duration::from_millis(1500)
        )
        .is_none(),
        "blocked"
    );
    let log = std::fs::read_to_string(dir.join("iked.log")).unwrap();
    assert!(
        log.contains("per-IP half-open IKE_SA limit of 2 reached"),
        "block not logged:\n{log}"
    );
}
