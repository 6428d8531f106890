//! IKEv2 message codec (RFC 7296 section 3; RFC 7383 fragments; RFC 7427, 6023, 5685, 4555
//! code points).
//!
//! Contract, for the engine and everyone else:
//! - **Decoding never panics and never trusts a length field.** Every failure is a
//!   [`WireError`] with the byte offset and a [`WireErrorKind`]. The count limits
//!   ([`MAX_PAYLOADS`], [`sa::MAX_PROPOSALS`], [`sa::MAX_TRANSFORMS`], [`sa::MAX_ATTRIBUTES`],
//!   [`ts::MAX_SELECTORS`], [`payload::MAX_CONFIG_ATTRIBUTES`]) are what the format itself can
//!   carry (a one-octet count field, or the 16-bit lengths), so no legal message is refused;
//!   the work a message can cause is bounded by its size, which the engine bounds with
//!   charon's `max_packet` before decoding.
//! - **Owned representation**: [`Message`] = [`Header`] + `Vec<`[`Payload`]`>`; code points are
//!   open newtypes ([`codes`]) so unknown values round-trip. Unknown payload types are kept
//!   whole; an unknown payload with the critical bit set fails decoding with
//!   [`WireErrorKind::UnsupportedCriticalPayload`] carrying its type (answer
//!   UNSUPPORTED_CRITICAL_PAYLOAD).
//! - **Round trip**: the encoder derives every Next Payload and Length field and writes exactly
//!   the length it reports. `decode(encode(m)) == m` for every message that encodes (except that
//!   an unknown *critical* payload decodes to the error above) and `encode(decode(b)) == b` for
//!   every datagram that decodes: reserved bits and octets are kept as received.
//! - **SK/SKF**: the outer decode leaves the encrypted body opaque and reports its position
//!   ([`SkLocation`]: AAD span, body span). [`decode_inner`] parses the decrypted chain;
//!   [`encode_inner`] + [`encode_sk_message`] build the plaintext and the envelope around a
//!   body of known size. Padding, IVs and ICVs are the crypto crate's job.
//! - [`summary`] renders charon's log line for a message.
//! - [`nat_t`] frames and classifies datagrams on the NAT-T port (RFC 3948).
//! - `registry.rs` converts transforms and proposals to and from `iked_crypto::registry`.
//! - No I/O, no clock, no secrets: the codec sees only public protocol data (key material never
//!   passes through it; the decrypted plaintext buffer belongs to the caller).
//! - Outside tests the whole codec denies the panicking clippy lints (unwrap, expect, panic,
//!   indexing, unchecked arithmetic): lengths are added with checked or saturating arithmetic
//!   and bytes are read with `get`.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod codes;
mod error;
mod header;
pub mod id;
mod message;
pub mod nat_t;
pub mod payload;
mod reader;
mod registry;
pub mod sa;
mod summary;
pub mod ts;

pub use codes::{
    AuthMethod, CertEncoding, CfgType, ConfigAttributeType, ExchangeType, HashAlgorithm, IdType,
    NotifyType, PayloadType, ProtocolId, TransformAttributeType, TransformId, TransformType,
    TsType,
};
pub use error::{EncodeError, WireError, WireErrorKind};
pub use header::{Flags, HEADER_LEN, Header, IkeSpi, RawHeader};
pub use id::{IdView, Identification};
pub use message::{
    Decoded, MAX_PAYLOADS, Message, SkEnvelope, SkLocation, decode, decode_inner, encode_inner,
    encode_sk_message, encode_sk_message_with_body,
};
pub use payload::{
    Auth, Certificate, CertificateRequest, ConfigAttribute, Configuration, Delete, Eap, Encrypted,
    EncryptedFragment, KeyExchange, Nonce, Notify, Payload, PayloadBody, UnknownPayload, VendorId,
};
pub use sa::{AttributeValue, Proposal, SecurityAssociation, Transform, TransformAttribute};
pub use summary::{notify_short_name, summary};
pub use ts::{AddressRange, IpTrafficSelector, TrafficSelector, TrafficSelectors};
