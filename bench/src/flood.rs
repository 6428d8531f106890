//! Spoofed IKE_SA_INIT flood: requests from addresses nobody answers for, as a DoS attacker
//! sends them, alongside the legitimate load.
//!
//! One real IKE_SA_INIT request is built by an engine (so the responder must do full work for
//! each: a fresh key exchange, unless it demands cookies); each copy gets a new initiator SPI
//! and a source address drawn from `--flood-subnet`, and leaves through a raw IPv4 socket
//! (`IPPROTO_RAW`, so we write the IP and UDP headers). Answers go to addresses that exist
//! nowhere: the benchmark script routes the subnet towards the generator's network namespace,
//! which does not forward, so they die there. Needs CAP_NET_RAW; IPv4 only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use iked_ike::Timestamp;
use iked_ike::config::{IkeConfig, IkeSecret, Settings};
use iked_ike::engine::{Engine, InitiateOptions};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// IPPROTO_RAW: send-only raw socket with caller-built IP headers (raw(7)).
const IPPROTO_RAW: i32 = 255;

/// A running flood; stops when dropped.
pub struct Flood {
    sent: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Flood {
    /// Packets handed to the kernel so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A genuine IKE_SA_INIT request for `conn` (its bytes, SPI at offset 0).
pub fn template(conn: &IkeConfig, secrets: &[IkeSecret], local: IpAddr) -> Result<Vec<u8>> {
    let secrets = secrets
        .iter()
        .map(|s| IkeSecret::new(s.ids.clone(), s.secret.to_vec()))
        .collect();
    let mut engine = Engine::new(
        Settings::default(),
        vec![conn.clone()],
        secrets,
        Box::new(iked_crypto::rng::OsRandom),
    );
    engine
        .initiate_with(
            Timestamp::ZERO,
            &conn.name,
            &[],
            InitiateOptions {
                local_addr: Some(local),
                ..InitiateOptions::default()
            },
        )
        .context("building the flood's IKE_SA_INIT")?;
    Ok(engine
        .poll_transmit()
        .context("the engine sent no IKE_SA_INIT")?
        .bytes)
}

/// Parses `a.b.c.d/len`.
fn parse_subnet(text: &str) -> Result<(u32, u32)> {
    let (addr, len) = text
        .split_once('/')
        .with_context(|| format!("--flood-subnet {text:?}: expected a.b.c.d/len"))?;
    let addr: Ipv4Addr = addr
        .parse()
        .with_context(|| format!("--flood-subnet {text:?}: bad address"))?;
    let len: u32 = len
        .parse()
        .ok()
        .filter(|l| (8..=30).contains(l))
        .with_context(|| format!("--flood-subnet {text:?}: prefix length must be 8..=30"))?;
    let host_bits = 32 - len;
    Ok((u32::from(addr) & !((1u32 << host_bits) - 1), host_bits))
}

/// Starts sending `rate` spoofed requests per second to `responder`.
pub fn start(template: Vec<u8>, subnet: &str, responder: SocketAddr, rate: u32) -> Result<Flood> {
    let (base, host_bits) = parse_subnet(subnet)?;
    let IpAddr::V4(dst) = responder.ip() else {
        bail!("the flood is IPv4 only; the responder is {responder}");
    };
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_RAW)))
        .context("opening a raw socket for the flood (needs CAP_NET_RAW)")?;
    socket.set_nonblocking(true)?;
    let target = SockAddr::from(SocketAddr::new(IpAddr::V4(dst), 0));
    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    // Bursts every 10 ms keep the rate smooth without a timer per packet.
    let per_tick = rate.div_ceil(100).max(1);
    let task = tokio::spawn(async move {
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(rate);
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let mut packet = build_packet(&template, Ipv4Addr::UNSPECIFIED, dst, responder.port());
        loop {
            tick.tick().await;
            for _ in 0..per_tick {
                // Spoofed packets need no secrecy, only distinct SPIs and sources: splitmix64.
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^= z >> 31;
                let host = (z as u32) & ((1u32 << host_bits) - 1);
                let src = Ipv4Addr::from(base | host.max(1));
                packet[12..16].copy_from_slice(&src.octets());
                packet[28..36].copy_from_slice(&z.to_be_bytes());
                if socket.send_to(&packet, &target).is_ok() {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    Ok(Flood { sent, task })
}

/// IPv4 + UDP headers around `payload`. The kernel fills in the IP checksum and id (raw(7));
/// a zero UDP checksum means "none" over IPv4 (RFC 768).
fn build_packet(payload: &[u8], src: Ipv4Addr, dst: Ipv4Addr, port: u16) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&500u16.to_be_bytes());
    p.extend_from_slice(&port.to_be_bytes());
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_parsing_masks_the_host_part() {
        assert_eq!(
            parse_subnet("10.99.1.2/16").unwrap(),
            (u32::from(Ipv4Addr::new(10, 99, 0, 0)), 16)
        );
        assert!(parse_subnet("10.99.0.0").is_err());
        assert!(parse_subnet("10.99.0.0/31").is_err());
    }

    #[test]
    fn packet_headers_frame_the_payload() {
        let p = build_packet(
            &[1, 2, 3],
            Ipv4Addr::new(10, 99, 0, 7),
            Ipv4Addr::new(10, 0, 0, 1),
            500,
        );
        assert_eq!(p.len(), 31);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), 31);
        assert_eq!(&p[12..16], &[10, 99, 0, 7]);
        assert_eq!(&p[16..20], &[10, 0, 0, 1]);
        assert_eq!(u16::from_be_bytes([p[24], p[25]]), 11);
        assert_eq!(&p[28..], &[1, 2, 3]);
    }
}
