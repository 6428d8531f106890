//! The scripted initiator: real x25519, prf+, SK encryption (AES-CBC+HMAC-SHA256 or
//! AES-GCM-16) and PSK AUTH from `iked_crypto`, over a UDP socket of its own, with every
//! message built by [`crate::raw`] so that a case can change any byte before it is sent.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use iked_crypto::SecretBytes;
use iked_crypto::auth::{psk_auth, signed_octets};
use iked_crypto::kdf::{IkeKeys, skeyseed};
use iked_crypto::ke::{KeGroup, KeyExchange};
use iked_crypto::registry::{Encr, EncrId, IntegId, PrfId};
use iked_crypto::rng::{RandomSource, SeededRandom};
use iked_crypto::sk::SkCipher;
use iked_crypto::transforms::IkeSuite;

use crate::raw::{self, Header, Parsed, Payload, Tf, ex, flag, nt, pt, tf};

/// Errors of the peer's own exchanges (a legitimate handshake that did not complete).
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("no answer to {0}")]
    NoAnswer(&'static str),
    #[error("unexpected answer to {what}: {summary}")]
    Unexpected { what: &'static str, summary: String },
    #[error("crypto: {0}")]
    Crypto(#[from] iked_crypto::CryptoError),
    #[error("malformed answer: {0}")]
    Parse(#[from] raw::ParseError),
}

/// The IKE suite the peer offers (one proposal, so the answer's choice is known).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// aes128-sha256-x25519.
    CbcSha256,
    /// aes128gcm16-prfsha256-x25519.
    Gcm16,
}

impl Suite {
    pub fn transforms(self) -> Vec<Tf> {
        match self {
            Suite::CbcSha256 => vec![
                (tf::ENCR, tf::ENCR_AES_CBC, Some(128)),
                (tf::PRF, tf::PRF_HMAC_SHA2_256, None),
                (tf::INTEG, tf::AUTH_HMAC_SHA2_256_128, None),
                (tf::DH, tf::DH_CURVE25519, None),
            ],
            Suite::Gcm16 => vec![
                (tf::ENCR, tf::ENCR_AES_GCM_16, Some(128)),
                (tf::PRF, tf::PRF_HMAC_SHA2_256, None),
                (tf::DH, tf::DH_CURVE25519, None),
            ],
        }
    }

    fn ike_suite(self) -> Result<IkeSuite, iked_crypto::CryptoError> {
        match self {
            Suite::CbcSha256 => IkeSuite::new(
                Encr::new(EncrId::AES_CBC, 128),
                Some(IntegId::HMAC_SHA2_256_128),
                PrfId::HMAC_SHA2_256,
            ),
            Suite::Gcm16 => IkeSuite::new(
                Encr::new(EncrId::AES_GCM_16, 128),
                None,
                PrfId::HMAC_SHA2_256,
            ),
        }
    }
}

/// The ESP proposal of a child without PFS (aes128-sha256, no ESN), as charon sends it in
/// IKE_AUTH.
pub fn esp_transforms() -> Vec<Tf> {
    vec![
        (tf::ENCR, tf::ENCR_AES_CBC, Some(128)),
        (tf::INTEG, tf::AUTH_HMAC_SHA2_256_128, None),
        (tf::ESN, 0, None),
    ]
}

/// The same with x25519 (PFS on CREATE_CHILD_SA).
pub fn esp_pfs_transforms() -> Vec<Tf> {
    let mut t = esp_transforms();
    t.insert(2, (tf::DH, tf::DH_CURVE25519, None));
    t
}

/// An established (or half-open) IKE SA's keys and counters, seen from the initiator.
pub struct IkeSa {
    pub suite: Suite,
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub init_request: Vec<u8>,
    pub init_response: Vec<u8>,
    sk_pi: SecretBytes,
    out: SkCipher,
    inn: SkCipher,
    /// Message ID of our next request.
    pub next_mid: u32,
    /// The responder's SPI of the CHILD_SA made in IKE_AUTH, and ours.
    pub child_spi_r: Option<[u8; 4]>,
    pub child_spi_i: [u8; 4],
}

/// The scripted initiator.
pub struct Peer {
    sock: UdpSocket,
    pub target: SocketAddr,
    pub rng: SeededRandom,
    /// The pre-shared key (zeroized when the peer goes).
    pub psk: SecretBytes,
    /// Our identity (ID_FQDN).
    pub id: Vec<u8>,
    /// Adds NAT_DETECTION notifies that match no address to the legitimate IKE_SA_INIT, so
    /// that the responder sees a NAT (charon with kernel-libipsec installs children only
    /// with UDP encapsulation).
    pub fake_nat: bool,
}

/// How long to wait for an answer to a request we expect answered.
pub const ANSWER_WAIT: Duration = Duration::from_secs(3);
const SLICE: Duration = Duration::from_millis(25);

impl Peer {
    /// A peer on a fresh socket bound to `local` (port chosen by the kernel).
    pub fn new(
        local: std::net::IpAddr,
        target: SocketAddr,
        psk: &[u8],
        id: &[u8],
        seed: u64,
    ) -> Result<Self, PeerError> {
        let sock = UdpSocket::bind(SocketAddr::new(local, 0))?;
        sock.set_read_timeout(Some(SLICE))?;
        Ok(Self {
            sock,
            target,
            rng: SeededRandom::from_u64(seed),
            psk: SecretBytes::from_slice(psk),
            id: id.to_vec(),
            fake_nat: false,
        })
    }

    pub fn send(&self, bytes: &[u8]) -> Result<(), PeerError> {
        self.sock.send_to(bytes, self.target)?;
        Ok(())
    }

    /// Every datagram that arrives until `quiet` passes without one (at most `max` of them).
    /// Time is counted in read-timeout slices: no clock is read.
    pub fn collect(&self, quiet: Duration, max: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut idle = Duration::ZERO;
        let mut buf = vec![0u8; 65536];
        while idle < quiet && out.len() < max {
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) if from == self.target => {
                    out.push(buf[..n].to_vec());
                    idle = Duration::ZERO;
                }
                Ok(_) => {}
                Err(_) => idle += SLICE,
            }
        }
        out
    }

    /// The first datagram within `limit` that `want` accepts; others are skipped.
    pub fn wait_for(
        &self,
        limit: Duration,
        mut want: impl FnMut(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let mut waited = Duration::ZERO;
        let mut buf = vec![0u8; 65536];
        while waited < limit {
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) if from == self.target => {
                    if want(&buf[..n]) {
                        return Some(buf[..n].to_vec());
                    }
                }
                Ok(_) => {}
                Err(_) => waited += SLICE,
            }
        }
        None
    }

    pub fn random(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.rng.fill(&mut v);
        v
    }

    /// A random, non-zero SPI.
    pub fn spi(&mut self) -> [u8; 8] {
        let mut s = [0u8; 8];
        self.rng.fill(&mut s);
        s[0] |= 1;
        s
    }

    pub fn key_exchange(&mut self) -> KeyExchange {
        KeyExchange::generate(KeGroup::Curve25519, &mut self.rng)
    }

    /// The payloads of a legitimate IKE_SA_INIT request.
    pub fn init_payloads(suite: Suite, ke: &KeyExchange, ni: &[u8]) -> Vec<Payload> {
        vec![
            Payload::new(pt::SA, raw::proposal(1, 1, &[], &suite.transforms(), true)),
            Payload::new(pt::KE, raw::ke_body(tf::DH_CURVE25519, ke.public_value())),
            Payload::new(pt::NONCE, ni.to_vec()),
        ]
    }

    /// Runs IKE_SA_INIT legitimately (answering a COOKIE request once) and derives the keys.
    pub fn init(&mut self, suite: Suite) -> Result<IkeSa, PeerError> {
        let spi_i = self.spi();
        let ke = self.key_exchange();
        let ni = self.random(32);
        let mut payloads = Self::init_payloads(suite, &ke, &ni);
        payloads.push(raw::notify(nt::FRAGMENTATION_SUPPORTED, &[]));
        if self.fake_nat {
            payloads.push(raw::notify(nt::NAT_DETECTION_SOURCE_IP, &[0x5a; 20]));
            payloads.push(raw::notify(nt::NAT_DETECTION_DESTINATION_IP, &[0xa5; 20]));
        }
        let h = Header::request(spi_i, [0; 8], ex::IKE_SA_INIT, 0);
        let mut request = raw::message(&h, &payloads);
        for _attempt in 0..2 {
            self.send(&request)?;
            let answer = self
                .wait_for(ANSWER_WAIT, |b| b.get(..8) == Some(&spi_i[..]))
                .ok_or(PeerError::NoAnswer("IKE_SA_INIT"))?;
            let (p, _) = raw::parse(&answer)?;
            if let Some(cookie) = p.notify_data(nt::COOKIE) {
                // RFC 7296 2.6: the same request again with the cookie first.
                let mut with = vec![raw::notify(nt::COOKIE, &cookie)];
                with.extend(payloads.iter().cloned());
                request = raw::message(&h, &with);
                continue;
            }
            return self.finish_init(suite, spi_i, &ke, ni, request, answer, &p);
        }
        Err(PeerError::NoAnswer("IKE_SA_INIT after COOKIE"))
    }

    /// Derives the IKE SA from our request and the responder's answer.
    #[allow(clippy::too_many_arguments)]
    pub fn finish_init(
        &mut self,
        suite: Suite,
        spi_i: [u8; 8],
        ke: &KeyExchange,
        ni: Vec<u8>,
        request: Vec<u8>,
        answer: Vec<u8>,
        p: &Parsed,
    ) -> Result<IkeSa, PeerError> {
        let unexpected = |p: &Parsed| PeerError::Unexpected {
            what: "IKE_SA_INIT",
            summary: p.summary(),
        };
        let ke_r = p.payload(pt::KE).ok_or_else(|| unexpected(p))?;
        let nr = p.payload(pt::NONCE).ok_or_else(|| unexpected(p))?.to_vec();
        let public = ke_r.get(4..).ok_or_else(|| unexpected(p))?;
        let shared = ke.shared_secret(public)?;
        let ike = suite.ike_suite()?;
        let seed = skeyseed(ike.prf, &ni, &nr, &shared);
        let keys = IkeKeys::derive(&ike, &seed, &ni, &nr, &spi_i, &p.spi_r)?;
        let out = SkCipher::new(&ike, &keys.sk_ei, &keys.sk_ai)?;
        let inn = SkCipher::new(&ike, &keys.sk_er, &keys.sk_ar)?;
        let mut child_spi_i = [0u8; 4];
        self.rng.fill(&mut child_spi_i);
        child_spi_i[0] |= 0xc0;
        Ok(IkeSa {
            suite,
            spi_i,
            spi_r: p.spi_r,
            ni,
            nr,
            init_request: request,
            init_response: answer,
            sk_pi: keys.sk_pi,
            out,
            inn,
            next_mid: 1,
            child_spi_r: None,
            child_spi_i,
        })
    }

    /// An SK message: `inner_first` and `plaintext` are the inner chain (possibly malformed).
    pub fn seal_raw(
        &mut self,
        sa: &mut IkeSa,
        h: &Header,
        inner_first: u8,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, PeerError> {
        let body_len = sa.out.encrypted_len(plaintext.len());
        let total = 28 + 4 + body_len;
        let mut msg = h.bytes(pt::SK, total);
        msg.push(inner_first);
        msg.push(0);
        msg.extend_from_slice(&((4 + body_len) as u16).to_be_bytes());
        let body = sa.out.encrypt(&msg, plaintext, &mut self.rng)?;
        msg.extend_from_slice(&body);
        Ok(msg)
    }

    /// An SK message carrying `inner`.
    pub fn seal(
        &mut self,
        sa: &mut IkeSa,
        h: &Header,
        inner: &[Payload],
    ) -> Result<Vec<u8>, PeerError> {
        let (first, plain) = raw::chain(inner);
        self.seal_raw(sa, h, first, &plain)
    }

    /// A request header of this SA.
    pub fn header(sa: &IkeSa, exchange: u8, mid: u32) -> Header {
        Header::request(sa.spi_i, sa.spi_r, exchange, mid)
    }

    /// One SKF fragment (RFC 7383 2.5) with the given numbers; `inner_first` belongs in
    /// fragment 1 only (0 elsewhere), as the RFC says.
    pub fn fragment(
        &mut self,
        sa: &mut IkeSa,
        h: &Header,
        inner_first: u8,
        number: u16,
        total: u16,
        part: &[u8],
    ) -> Result<Vec<u8>, PeerError> {
        let body_len = sa.out.encrypted_len(part.len());
        let len = 28 + 8 + body_len;
        let mut msg = h.bytes(pt::SKF, len);
        msg.push(inner_first);
        msg.push(0);
        msg.extend_from_slice(&((8 + body_len) as u16).to_be_bytes());
        msg.extend_from_slice(&number.to_be_bytes());
        msg.extend_from_slice(&total.to_be_bytes());
        let body = sa.out.encrypt(&msg, part, &mut self.rng)?;
        msg.extend_from_slice(&body);
        Ok(msg)
    }

    /// `inner` split into `n` SKF fragments numbered 1..=n of `total` (normally n).
    pub fn fragments(
        &mut self,
        sa: &mut IkeSa,
        h: &Header,
        inner: &[Payload],
        n: usize,
    ) -> Result<Vec<Vec<u8>>, PeerError> {
        let (first, plain) = raw::chain(inner);
        let size = plain.len().div_ceil(n.max(1)).max(1);
        let parts: Vec<&[u8]> = plain.chunks(size).collect();
        let total = parts.len() as u16;
        let mut out = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let first_type = if i == 0 { first } else { pt::NONE };
            out.push(self.fragment(sa, h, first_type, i as u16 + 1, total, part)?);
        }
        Ok(out)
    }

    /// Parses an answer and, if it carries an SK payload, decrypts it with the responder's
    /// keys (an SKF answer is reported undecrypted: our requests never provoke one).
    pub fn open(&self, sa: Option<&IkeSa>, bytes: &[u8]) -> Result<Parsed, raw::ParseError> {
        let (mut p, sealed) = raw::parse(bytes)?;
        if let Some(sealed) = sealed {
            let decrypted = match (sa, sealed.kind) {
                (Some(sa), pt::SK) => sa
                    .inn
                    .decrypt(&bytes[..sealed.body_at], &bytes[sealed.body_at..])
                    .ok(),
                _ => None,
            };
            match decrypted {
                Some(plain) => {
                    let (inner, _) = raw::parse_chain(sealed.inner_first, &plain, 0)?;
                    p.payloads.extend(inner);
                    p.protected = true;
                }
                None => p.undecryptable = true,
            }
        }
        Ok(p)
    }

    /// The IDi body (ID_FQDN).
    pub fn id_body(&self) -> Vec<u8> {
        raw::typed_body(2, &self.id)
    }

    /// PSK AUTH data over `id_body` (RFC 7296 2.15).
    pub fn auth_data(&self, sa: &IkeSa, id_body: &[u8]) -> SecretBytes {
        let prf = match sa.suite.ike_suite() {
            Ok(s) => s.prf,
            Err(_) => return SecretBytes::default(),
        };
        let octets = signed_octets(prf, &sa.init_request, &sa.nr, &sa.sk_pi, id_body);
        psk_auth(prf, self.psk.expose(), &octets)
    }

    /// The traffic selectors the responder's configuration expects: ours 10.2.0.0/16,
    /// its 10.1.0.0/16.
    pub fn ts_payloads() -> Vec<Payload> {
        vec![
            Payload::new(
                pt::TSI,
                raw::ts_body(1, &[raw::ts4(0, [10, 2, 0, 0], [10, 2, 255, 255])]),
            ),
            Payload::new(
                pt::TSR,
                raw::ts_body(1, &[raw::ts4(0, [10, 1, 0, 0], [10, 1, 255, 255])]),
            ),
        ]
    }

    /// The inner payloads of a legitimate IKE_AUTH request with one child.
    pub fn auth_payloads(&self, sa: &IkeSa) -> Vec<Payload> {
        let id = self.id_body();
        let auth = self.auth_data(sa, &id);
        let mut v = vec![
            Payload::new(pt::IDI, id),
            Payload::new(pt::AUTH, raw::typed_body(2, auth.expose())),
            Payload::new(
                pt::SA,
                raw::proposal(1, 3, &sa.child_spi_i, &esp_transforms(), true),
            ),
        ];
        v.extend(Self::ts_payloads());
        v
    }

    /// Sends `request` and returns the first answer with its message ID, parsed.
    pub fn exchange(
        &mut self,
        sa: Option<&IkeSa>,
        request: &[u8],
        what: &'static str,
    ) -> Result<Parsed, PeerError> {
        let mid = request.get(20..24).map(|m| m.to_vec()).unwrap_or_default();
        let spi = request.get(..8).map(|s| s.to_vec()).unwrap_or_default();
        self.send(request)?;
        let answer = self
            .wait_for(ANSWER_WAIT, |b| {
                b.get(..8) == Some(&spi[..])
                    && b.get(20..24) == Some(&mid[..])
                    && b.get(19).is_some_and(|f| f & flag::RESPONSE != 0)
            })
            .ok_or(PeerError::NoAnswer(what))?;
        Ok(self.open(sa, &answer)?)
    }

    /// IKE_SA_INIT then IKE_AUTH with one child; the answer must carry AUTH and the child.
    pub fn establish(&mut self, suite: Suite) -> Result<IkeSa, PeerError> {
        let mut sa = self.init(suite)?;
        let inner = self.auth_payloads(&sa);
        let h = Self::header(&sa, ex::IKE_AUTH, 1);
        let request = self.seal(&mut sa, &h, &inner)?;
        let answer = self.exchange(Some(&sa), &request, "IKE_AUTH")?;
        if !answer.protected || !answer.has(pt::AUTH) || !answer.has(pt::SA) {
            return Err(PeerError::Unexpected {
                what: "IKE_AUTH",
                summary: answer.summary(),
            });
        }
        sa.child_spi_r = answer.payload(pt::SA).and_then(proposal_spi4);
        sa.next_mid = 2;
        Ok(sa)
    }

    /// Deletes the IKE SA (INFORMATIONAL with D(IKE)) and waits for the answer.
    pub fn delete_ike(&mut self, sa: &mut IkeSa) -> Result<Parsed, PeerError> {
        let h = Self::header(sa, ex::INFORMATIONAL, sa.next_mid);
        sa.next_mid += 1;
        let inner = [Payload::new(pt::D, raw::delete_body(1, 0, 0, &[]))];
        let request = self.seal(sa, &h, &inner)?;
        self.exchange(Some(sa), &request, "INFORMATIONAL delete")
    }
}

/// The 4-byte SPI of the first proposal in an SA payload body.
pub fn proposal_spi4(sa_body: &[u8]) -> Option<[u8; 4]> {
    if *sa_body.get(6)? != 4 {
        return None;
    }
    sa_body.get(8..12)?.try_into().ok()
}
