//! IKE message fragmentation (RFC 7383) for the engine.
//!
//! Contract:
//! - **Receiving.** Each SKF fragment reaches [`Reassembly::add`] only after
//!   `message::decode_datagram` verified and decrypted it, so a forged fragment never occupies
//!   memory. An IKE SA keeps one buffer for the peer's requests and one for its responses.
//!   Like charon (`message.c`, `add_fragment_v2`): duplicates are ignored; a fragment of
//!   another message ID, or one announcing more fragments than the buffer expects, starts over;
//!   one announcing fewer is ignored (RFC 7383 2.6.3). Memory is bounded: at most
//!   [`MAX_FRAGMENTS`] fragments and `max_packet` octets of plaintext (charon bounds
//!   reassembly with its `max_packet` too); exceeding either drops the message. A partial message older than
//!   [`REASSEMBLY_TIMEOUT`] is discarded when the next fragment arrives, and with its SA. When
//!   the last fragment arrives, the plaintexts are concatenated in fragment order and decoded
//!   with `message::assemble`.
//! - **Sending.** [`encode_protected`] seals a message into one SK payload, or, when the peer
//!   announced IKEV2_FRAGMENTATION_SUPPORTED and the datagram would exceed [`Limit`], into SKF
//!   fragments sized with charon's arithmetic (`message.c`, `fragment()`): `fragment_size` is
//!   the whole IP datagram, less the IP (20/40) and UDP (8) headers and the non-ESP marker (4,
//!   when neither port is 500); a fragment's plaintext is that less the IKE header (28), IV,
//!   ICV and SKF header (8), rounded down to the cipher block, less the pad-length octet.
//!   Every fragment gets a fresh IV. Callers retransmit all fragments together.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::message::{self, DecodeError, EncodeError, Fragment, Header, Message, Payload, SkKeys};
use crate::suite::{self, RandomSource};
use crate::time::Timestamp;
use crate::wire::PayloadType;

/// Most fragments accepted (or sent) for one message.
pub(crate) const MAX_FRAGMENTS: u16 = 255;
/// Most plaintext octets accepted for one reassembled message in tests (charon's default
/// `max_packet`); the engine passes its configured `max_packet`.
#[cfg(test)]
pub(crate) const MAX_REASSEMBLED_LEN: usize = 10_000;
/// How long an incomplete message is kept waiting for its other fragments.
pub(crate) const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(30);
/// IKE port: no non-ESP marker on it (RFC 3948 2.2).
const IKE_PORT: u16 = 500;

/// Fragmentation state of one IKE SA.
#[derive(Default)]
pub(crate) struct FragmentState {
    /// The peer sent IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT (we always do).
    pub peer_supported: bool,
    /// The peer's fragmented request being reassembled.
    pub requests: Reassembly,
    /// The peer's fragmented response being reassembled.
    pub responses: Reassembly,
}

/// One reassembly buffer (one message at a time).
#[derive(Default)]
pub(crate) struct Reassembly {
    partial: Option<Partial>,
}

struct Partial {
    header: Header,
    total: u16,
    started: Timestamp,
    plaintext_len: usize,
    /// The SKF Next Payload of fragment 1 and the payloads sent before it, once it arrived.
    first: Option<(PayloadType, Vec<Payload>)>,
    pieces: BTreeMap<u16, Zeroizing<Vec<u8>>>,
}

/// What one fragment did to its reassembly.
#[derive(Debug)]
pub(crate) enum Progress {
    /// Stored; more fragments are needed.
    Waiting { number: u16, total: u16 },
    /// Already had it, or it belongs to an older (smaller) split: ignored.
    Ignored { number: u16 },
    /// The message is complete; `len` is its size as one IKE message (charon logs it).
    Complete {
        message: Box<Message>,
        number: u16,
        total: u16,
        len: usize,
    },
}

/// Why a fragment ended its message's reassembly.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ReassemblyError {
    /// Fragment Number is 0 or above Total Fragments.
    #[error("fragment number {number} of {total} is invalid")]
    BadNumber { number: u16, total: u16 },
    /// More fragments than [`MAX_FRAGMENTS`].
    #[error("fragmented message announces {total} fragments, at most {MAX_FRAGMENTS} accepted")]
    TooManyFragments { total: u16 },
    /// More plaintext than the bound (`max_packet`).
    #[error("fragmented IKE message is larger than max_packet of {max} bytes")]
    TooLarge { max: usize },
    /// The reassembled payload chain does not decode.
    #[error("reassembled message: {0}")]
    Decode(#[from] DecodeError),
}

impl Reassembly {
    /// Adds a verified, decrypted fragment received at `now`, with the default bound.
    #[cfg(test)]
    pub fn add(&mut self, now: Timestamp, f: Fragment) -> Result<Progress, ReassemblyError> {
        self.add_bounded(now, f, MAX_REASSEMBLED_LEN)
    }

    /// Adds a verified, decrypted fragment received at `now`; the message's plaintext may not
    /// exceed `max_len` octets (the engine's `max_packet`).
    pub fn add_bounded(
        &mut self,
        now: Timestamp,
        f: Fragment,
        max_len: usize,
    ) -> Result<Progress, ReassemblyError> {
        let (number, total) = (f.number, f.total);
        if number == 0 || number > total {
            return Err(ReassemblyError::BadNumber { number, total });
        }
        if total > MAX_FRAGMENTS {
            self.partial = None;
            return Err(ReassemblyError::TooManyFragments { total });
        }
        let restart = match &self.partial {
            None => true,
            Some(p) => {
                p.header.message_id != f.header.message_id
                    || total > p.total
                    || now.saturating_since(p.started) > REASSEMBLY_TIMEOUT
            }
        };
        if restart {
            self.partial = Some(Partial {
                header: f.header,
                total,
                started: now,
                plaintext_len: 0,
                first: None,
                pieces: BTreeMap::new(),
            });
        }
        let Some(p) = self.partial.as_mut() else {
            return Ok(Progress::Ignored { number });
        };
        if total < p.total || p.pieces.contains_key(&number) {
            return Ok(Progress::Ignored { number });
        }
        p.plaintext_len = p.plaintext_len.saturating_add(f.plaintext.len());
        if p.plaintext_len > max_len {
            self.partial = None;
            return Err(ReassemblyError::TooLarge { max: max_len });
        }
        if number == 1 {
            p.first = Some((f.first_inner, f.unencrypted));
        }
        p.pieces.insert(number, f.plaintext);
        if p.pieces.len() < usize::from(p.total) {
            return Ok(Progress::Waiting { number, total });
        }
        let Some(p) = self.partial.take() else {
            return Ok(Progress::Ignored { number });
        };
        // All numbers 1..=total are present (distinct, in range, as many as total), so
        // fragment 1 and its first payload type are known.
        let (first_inner, unencrypted) = p.first.unwrap_or((PayloadType::NONE, Vec::new()));
        let mut plaintext = Zeroizing::new(Vec::with_capacity(p.plaintext_len));
        for piece in p.pieces.values() {
            plaintext.extend_from_slice(piece);
        }
        let message = message::assemble(p.header, unencrypted, first_inner, &plaintext)?;
        // charon reports the size of the message as if it had been sent in one SK payload.
        let len = plaintext.len().saturating_add(crate::wire::HEADER_LEN + 4);
        Ok(Progress::Complete {
            message: Box::new(message),
            number,
            total,
            len,
        })
    }

    /// Whether a message is being reassembled.
    #[cfg(test)]
    pub fn is_pending(&self) -> bool {
        self.partial.is_some()
    }
}

/// The Fragment Number of an SKF datagram (its first payload), read without decoding it:
/// used to answer a retransmitted fragmented request only once, on fragment 1 (as charon).
pub(crate) fn skf_number(bytes: &[u8]) -> Option<u16> {
    if PayloadType(*bytes.get(16)?) != PayloadType::ENCRYPTED_FRAGMENT {
        return None;
    }
    let n = bytes.get(32..)?.first_chunk()?;
    Some(u16::from_be_bytes(*n))
}

/// The largest IKE message we send unfragmented on a path (charon's reduced `frag_len`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit {
    max_message: usize,
}

/// charon's `REDUCE_FRAG_LEN`: subtract, but never below 1.
fn reduce(len: usize, amount: usize) -> usize {
    len.saturating_sub(amount).max(1)
}

impl Limit {
    /// `fragment_size` (0 = 576 for IPv4, 1280 for IPv6) between `local` and `remote`.
    pub fn new(fragment_size: usize, local: SocketAddr, remote: SocketAddr) -> Self {
        let v4 = local.is_ipv4();
        let datagram = match fragment_size {
            0 if v4 => 576,
            0 => 1280,
            n => n,
        };
        let mut len = reduce(datagram, if v4 { 20 } else { 40 });
        len = reduce(len, 8);
        if local.port() != IKE_PORT && remote.port() != IKE_PORT {
            len = reduce(len, 4);
        }
        Limit { max_message: len }
    }

    /// Largest IKE message sent whole.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// Plaintext octets carried by one fragment under `suite`.
    pub fn fragment_plaintext(&self, sizes: suite::EncrSizes) -> usize {
        let mut len = reduce(self.max_message, crate::wire::HEADER_LEN);
        len = reduce(len, sizes.iv);
        len = reduce(len, sizes.icv);
        len = reduce(len, 8);
        // Down to a whole number of cipher blocks (a block size of 0 means none).
        len = len.saturating_sub(len.checked_rem(sizes.block).unwrap_or(0));
        reduce(len, 1)
    }
}

/// A protected message ready to send.
pub(crate) struct Sealed {
    /// One datagram, or the fragments in order.
    pub datagrams: Vec<Vec<u8>>,
    /// Size of the message as one SK payload (what charon logs when splitting).
    pub message_len: usize,
}

/// Seals `msg` under `keys`: one SK datagram, or SKF fragments when `limit` is given (the peer
/// supports fragmentation) and the whole message would exceed it. Each fragment draws its own
/// IV from `iv_source` (see `suite::seal`).
pub(crate) fn encode_protected(
    msg: &Message,
    keys: &SkKeys<'_>,
    limit: Option<Limit>,
    iv_source: &mut dyn RandomSource,
) -> Result<Sealed, EncodeError> {
    let sizes = suite::sizes(keys.suite)?;
    let (first_inner, plaintext) = message::inner_plaintext(msg)?;
    let plaintext = Zeroizing::new(plaintext);
    let message_len = message::sealed_datagram_len(keys.suite, plaintext.len(), false)?;
    let Some(limit) = limit.filter(|l| message_len > l.max_message()) else {
        let datagram = message::seal(&msg.header, first_inner, None, &plaintext, keys, iv_source)?;
        return Ok(Sealed {
            datagrams: vec![datagram],
            message_len,
        });
    };
    let chunk = limit.fragment_plaintext(sizes);
    let total = u16::try_from(plaintext.len().div_ceil(chunk))
        .ok()
        .filter(|t| *t <= MAX_FRAGMENTS)
        .ok_or(EncodeError::Wire(crate::wire::EncodeError::TooMany {
            what: "fragments",
            count: plaintext.len().div_ceil(chunk),
            max: usize::from(MAX_FRAGMENTS),
        }))?;
    let mut datagrams = Vec::with_capacity(usize::from(total));
    for (number, piece) in (1..=total).zip(plaintext.chunks(chunk)) {
        let first = if number == 1 {
            first_inner
        } else {
            PayloadType::NONE
        };
        datagrams.push(message::seal(
            &msg.header,
            first,
            Some((number, total)),
            piece,
            keys,
            iv_source,
        )?);
    }
    Ok(Sealed {
        datagrams,
        message_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Identity;
    use crate::message::{Datagram, Notify, decode_datagram};
    use crate::proposal::Proposal;
    use crate::suite::Secret;
    use crate::wire::ProtocolId;
    use crate::wire::{ExchangeType, Flags, NotifyType};

    fn suite(text: &str) -> crate::proposal::Selected {
        Proposal::parse(ProtocolId::IKE, text)
            .unwrap()
            .selected()
            .unwrap()
    }

    fn big_message(notifies: usize) -> Message {
        let mut payloads = vec![Payload::IdI(Identity::from_text("bfl.example"))];
        for i in 0..notifies {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::INITIAL_CONTACT,
                vec![u8::try_from(i % 251).unwrap(); 100],
            )));
        }
        Message {
            header: Header {
                spi_i: 0x1122,
                spi_r: 0x3344,
                exchange: ExchangeType::IKE_AUTH,
                flags: Flags::INITIATOR,
                message_id: 1,
            },
            payloads,
        }
    }

    fn iv_source() -> iked_crypto::rng::SeededRandom {
        iked_crypto::rng::SeededRandom::from_u64(3)
    }

    #[test]
    fn limit_follows_charons_arithmetic() {
        let v4 = |p: u16| SocketAddr::from(([192, 168, 50, 1], p));
        let v6 = SocketAddr::from(([0xfd00, 0, 0, 0, 0, 0, 0, 1], 500));
        // 1280 - 20 (IPv4) - 8 (UDP).
        assert_eq!(Limit::new(1280, v4(500), v4(500)).max_message(), 1252);
        // Both on 4500: the 4-octet non-ESP marker too.
        assert_eq!(Limit::new(1280, v4(4500), v4(4500)).max_message(), 1248);
        // IPv6 header is 40; 0 selects the family default (576 for IPv4).
        assert_eq!(Limit::new(1280, v6, v6).max_message(), 1232);
        assert_eq!(Limit::new(0, v4(500), v4(500)).max_message(), 548);
        let cbc = suite::sizes(&suite("aes128-sha256-x25519")).unwrap();
        let gcm = suite::sizes(&suite("aes128gcm16-prfsha256-x25519")).unwrap();
        // 1252 - 28 - 16 (IV) - 16 (ICV) - 8 = 1184, a multiple of 16, minus 1.
        assert_eq!(
            Limit::new(1280, v4(500), v4(500)).fragment_plaintext(cbc),
            1183
        );
        // 1252 - 28 - 8 - 16 - 8 = 1192 (block 1), minus 1.
        assert_eq!(
            Limit::new(1280, v4(500), v4(500)).fragment_plaintext(gcm),
            1191
        );
        // charon's captured run used fragment_size = 180: 180-28-28-16-16-8 = 84 -> 80 - 1.
        assert_eq!(
            Limit::new(180, v4(500), v4(500)).fragment_plaintext(cbc),
            79
        );
        // Never zero, however small the setting.
        assert_eq!(Limit::new(1, v4(500), v4(500)).fragment_plaintext(cbc), 1);
    }

    fn split_and_open(
        text: &str,
        notifies: usize,
        fragment_size: usize,
    ) -> (Message, Vec<Fragment>) {
        let sel = suite(text);
        let sizes = suite::sizes(&sel).unwrap();
        let ek = Secret::new(vec![7; sizes.key]);
        let ak = Secret::new(vec![9; if sizes.aead { 0 } else { 32 }]);
        let keys = SkKeys {
            suite: &sel,
            encr: &ek,
            integ: &ak,
        };
        let msg = big_message(notifies);
        let addr = SocketAddr::from(([192, 168, 50, 1], 500));
        let limit = Limit::new(fragment_size, addr, addr);
        let sealed = encode_protected(&msg, &keys, Some(limit), &mut iv_source()).unwrap();
        let mut fragments = Vec::new();
        for d in &sealed.datagrams {
            assert!(
                d.len() <= limit.max_message(),
                "{} > {}",
                d.len(),
                limit.max_message()
            );
            match decode_datagram(d, Some(SkKeys { ..keys })).unwrap() {
                Datagram::Fragment(f) => fragments.push(f),
                // Sent whole: only when it fits, and then it is the only datagram.
                Datagram::Message(m) => {
                    assert_eq!(m, msg);
                    assert_eq!(sealed.datagrams.len(), 1);
                }
            }
        }
        (msg, fragments)
    }

    #[test]
    fn small_messages_are_not_fragmented() {
        let (_, fragments) = split_and_open("aes128-sha256-x25519", 2, 1280);
        assert!(fragments.is_empty());
    }

    #[test]
    fn large_message_splits_and_reassembles_in_any_order() {
        for text in ["aes128-sha256-x25519", "aes256gcm16-prfsha256-x25519"] {
            let (msg, mut fragments) = split_and_open(text, 40, 1280);
            let total = fragments.len();
            assert!(total >= 3, "{text}: {total}");
            assert!(fragments.iter().all(|f| usize::from(f.total) == total));
            // Reverse order, with a duplicate of the last-sent fragment in the middle.
            fragments.reverse();
            let mut r = Reassembly::default();
            let t0 = Timestamp::from_duration(Duration::from_secs(1));
            let mut done = None;
            let n = fragments.len();
            for (i, f) in fragments.into_iter().enumerate() {
                if i == 1 {
                    let dup = Fragment {
                        header: f.header,
                        number: 1 + u16::try_from(n - 1).unwrap(),
                        total: f.total,
                        first_inner: PayloadType::NONE,
                        unencrypted: Vec::new(),
                        plaintext: Zeroizing::new(vec![0xee; 3]),
                    };
                    assert!(matches!(r.add(t0, dup).unwrap(), Progress::Ignored { .. }));
                }
                match r.add(t0, f).unwrap() {
                    Progress::Complete { message, .. } => done = Some(*message),
                    Progress::Waiting { .. } => assert!(r.is_pending()),
                    Progress::Ignored { .. } => panic!("nothing else is a duplicate"),
                }
            }
            assert_eq!(done.unwrap(), msg, "{text}");
            assert!(!r.is_pending());
        }
    }

    #[test]
    fn new_message_id_larger_total_and_timeout_restart_reassembly() {
        let (_, fragments) = split_and_open("aes128-sha256-x25519", 40, 1280);
        let t0 = Timestamp::from_duration(Duration::from_secs(1));
        let mut r = Reassembly::default();
        let mut it = fragments.into_iter();
        let first = it.next().unwrap();
        let rest: Vec<Fragment> = it.collect();
        // A stray fragment of message ID 7 is replaced by message 1's.
        let stray = Fragment {
            header: Header {
                message_id: 7,
                ..first.header
            },
            number: 1,
            total: 2,
            first_inner: PayloadType::ID_INITIATOR,
            unencrypted: Vec::new(),
            plaintext: Zeroizing::new(vec![1, 2, 3]),
        };
        assert!(matches!(
            r.add(t0, stray).unwrap(),
            Progress::Waiting { .. }
        ));
        assert!(matches!(
            r.add(t0, first).unwrap(),
            Progress::Waiting { number: 1, .. }
        ));
        // After the timeout the partial message is gone: the rest alone cannot complete it.
        let late = t0 + REASSEMBLY_TIMEOUT + Duration::from_secs(1);
        let mut last = None;
        for f in rest {
            last = Some(r.add(late, f).unwrap());
        }
        assert!(matches!(last, Some(Progress::Waiting { .. })), "{last:?}");
    }

    #[test]
    fn bounds_are_enforced() {
        let header = big_message(0).header;
        let frag = |number, total, len| Fragment {
            header,
            number,
            total,
            first_inner: PayloadType::ID_INITIATOR,
            unencrypted: Vec::new(),
            plaintext: Zeroizing::new(vec![0; len]),
        };
        let t0 = Timestamp::from_duration(Duration::from_secs(1));
        let mut r = Reassembly::default();
        assert_eq!(
            r.add(t0, frag(0, 2, 1)).unwrap_err(),
            ReassemblyError::BadNumber {
                number: 0,
                total: 2
            }
        );
        assert_eq!(
            r.add(t0, frag(3, 2, 1)).unwrap_err(),
            ReassemblyError::BadNumber {
                number: 3,
                total: 2
            }
        );
        assert_eq!(
            r.add(t0, frag(1, MAX_FRAGMENTS + 1, 1)).unwrap_err(),
            ReassemblyError::TooManyFragments {
                total: MAX_FRAGMENTS + 1
            }
        );
        for n in 1..=9 {
            assert!(matches!(
                r.add(t0, frag(n, 20, 1000)).unwrap(),
                Progress::Waiting { .. }
            ));
        }
        assert_eq!(
            r.add(t0, frag(10, 20, 1001)).unwrap_err(),
            ReassemblyError::TooLarge {
                max: MAX_REASSEMBLED_LEN
            }
        );
        assert!(!r.is_pending(), "an oversized message is dropped");
        // A fragment of an older, smaller split is ignored.
        assert!(matches!(
            r.add(t0, frag(1, 3, 10)).unwrap(),
            Progress::Waiting { .. }
        ));
        assert!(matches!(
            r.add(t0, frag(2, 2, 10)).unwrap(),
            Progress::Ignored { number: 2 }
        ));
    }

    #[test]
    fn skf_number_reads_only_skf_datagrams() {
        let mut d = vec![0u8; 40];
        d[16] = 53;
        d[33] = 2;
        assert_eq!(skf_number(&d), Some(2));
        d[16] = 46;
        assert_eq!(skf_number(&d), None);
        assert_eq!(skf_number(&d[..20]), None);
    }

    fn capture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/captures/fragmented/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn logged_key(name: &str) -> Secret {
        let text = String::from_utf8(capture("ike-keys.txt")).unwrap();
        let value = text
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(&format!("{name} = ")))
            .unwrap();
        Secret::new(hex::decode(value).unwrap())
    }

    /// charon (`fragment_size = 180`) split its IKE_AUTH request into three SKF datagrams of
    /// 148, 148 and 116 octets. Reassembling them (in any order, with a duplicate) gives its
    /// message; splitting that message again with the same setting gives the same layout: the
    /// same lengths, byte-identical headers up to each IV, and the same plaintext slices.
    #[test]
    fn charons_fragments_reassemble_and_our_split_matches_its_layout() {
        let sel = suite("aes128-sha256-x25519");
        let (ek, ak) = (logged_key("Sk_ei"), logged_key("Sk_ai"));
        let keys = SkKeys {
            suite: &sel,
            encr: &ek,
            integ: &ak,
        };
        let names = [
            "03-IKE_AUTH-request-1-frag1of3",
            "04-IKE_AUTH-request-1-frag2of3",
            "05-IKE_AUTH-request-1-frag3of3",
        ];
        let theirs: Vec<Vec<u8>> = names.iter().map(|n| capture(&format!("{n}.bin"))).collect();
        let open = |d: &[u8]| match decode_datagram(d, Some(SkKeys { ..keys })).unwrap() {
            Datagram::Fragment(f) => f,
            Datagram::Message(_) => panic!("a fragment"),
        };
        let mut r = Reassembly::default();
        let t0 = Timestamp::from_duration(Duration::from_secs(1));
        let mut whole = None;
        for i in [2, 0, 2, 1] {
            if let Progress::Complete { message, len, .. } = r.add(t0, open(&theirs[i])).unwrap() {
                // As charon reports it: IKE header, SK header and the inner payloads.
                let inner: usize = names
                    .iter()
                    .map(|n| capture(&format!("{n}.inner.bin")).len())
                    .sum();
                assert_eq!(len, 28 + 4 + inner);
                whole = Some(*message);
            }
        }
        let whole = whole.expect("complete after all three");
        assert_eq!(
            whole.summary(),
            "IKE_AUTH request 1 [ IDi N(INIT_CONTACT) IDr AUTH N(USE_TRANSP) SA TSi TSr N(MULT_AUTH) N(EAP_ONLY) N(MSG_ID_SYN_SUP) ]"
        );
        let addr = SocketAddr::from(([192, 168, 50, 1], 500));
        let ours = encode_protected(
            &whole,
            &keys,
            Some(Limit::new(180, addr, addr)),
            &mut iv_source(),
        )
        .unwrap();
        assert_eq!(ours.message_len, 256);
        let lens = |v: &[Vec<u8>]| v.iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(lens(&ours.datagrams), lens(&theirs));
        for ((mine, charon), name) in ours.datagrams.iter().zip(&theirs).zip(names) {
            // IKE header and SKF header (next payload, length, number, total) are identical.
            assert_eq!(mine[..36], charon[..36], "{name}");
            assert_eq!(*open(mine).plaintext, capture(&format!("{name}.inner.bin")));
        }
    }
}
