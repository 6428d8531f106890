//! Transform registry: IANA IKEv2 transform identifiers, strongSwan's proposal
//! keywords, and proposal parsing.
//!
//! Contract:
//! - Identifiers are *open* newtypes (`EncrId(u16)`, ...) so values received from
//!   a peer that we do not know survive a round trip; named constants cover the
//!   IANA "IKEv2 Transform Type N" registries.
//! - [`parse_proposal`] parses one entry of a swanctl `proposals`/`esp_proposals`
//!   list exactly as strongSwan's `proposal_create_from_string()` +
//!   `check_proposal()` do (keyword table `proposal_keywords_static.txt`):
//!   tokens separated by `-`; for IKE a missing PRF is derived from the integrity
//!   algorithms and a KE method is mandatory; AEAD and classic ciphers cannot be
//!   mixed; AEAD proposals carry no integrity algorithm; ESP proposals without
//!   `esn`/`noesn` get `NO_EXT_SEQ`; in ESP a KE method is the PFS group for rekeys.
//!   The keyword `default` expands to strongSwan's default proposals restricted to
//!   the algorithms iked implements (what strongSwan does with its loaded plugins).
//! - Keywords that strongSwan knows but iked does not implement still parse (so a
//!   strongSwan configuration loads); [`Proposal::unsupported`] lists them and
//!   [`Transform::is_supported`] lets the engine skip them during negotiation.
//! - `Display` on [`Proposal`] prints strongSwan's log format, e.g.
//!   `IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519`.

use std::fmt;

use thiserror::Error;

/// IKEv2 transform type (RFC 7296 3.3.2, IANA "Transform Type Values").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransformType {
    /// Type 1, ENCR.
    Encryption,
    /// Type 2, PRF.
    Prf,
    /// Type 3, INTEG.
    Integrity,
    /// Type 4, D-H / key exchange method.
    KeyExchange,
    /// Type 5, Extended Sequence Numbers.
    Esn,
}

impl TransformType {
    /// The IANA transform type number.
    pub const fn wire(self) -> u8 {
        match self {
            Self::Encryption => 1,
            Self::Prf => 2,
            Self::Integrity => 3,
            Self::KeyExchange => 4,
            Self::Esn => 5,
        }
    }

    /// Transform type from its wire value; `None` for types iked does not model.
    pub const fn from_wire(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::Encryption),
            2 => Some(Self::Prf),
            3 => Some(Self::Integrity),
            4 => Some(Self::KeyExchange),
            5 => Some(Self::Esn),
            _ => None,
        }
    }
}

macro_rules! open_id {
    ($(#[$doc:meta])* $name:ident, $unknown:literal, { $($(#[$cdoc:meta])* $cname:ident = $val:literal => $display:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u16);

        impl $name {
            $($(#[$cdoc])* pub const $cname: Self = Self($val);)*

            /// strongSwan's name for this identifier (its `enum_name_t` table), if known.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some($display),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, concat!($unknown, "_{}"), self.0),
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", self, self.0)
            }
        }
    };
}

open_id!(
    /// Encryption algorithm id (IANA IKEv2 Transform Type 1).
    EncrId, "UNKNOWN_ENCR", {
    /// DES (RFC 2405), never implemented. Names as strongSwan's `encryption_algorithm_names`.
    DES = 2 => "DES_CBC",
    /// 3DES (RFC 2451).
    DES3 = 3 => "3DES_CBC",
    /// CAST.
    CAST = 6 => "CAST_CBC",
    /// Blowfish.
    BLOWFISH = 7 => "BLOWFISH_CBC",
    /// ESP NULL encryption (RFC 2410).
    NULL = 11 => "NULL",
    /// AES-CBC (RFC 3602), key length attribute 128/192/256.
    AES_CBC = 12 => "AES_CBC",
    /// AES-CTR (RFC 5930).
    AES_CTR = 13 => "AES_CTR",
    /// AES-CCM with 8-byte ICV (RFC 5282).
    AES_CCM_8 = 14 => "AES_CCM_8",
    /// AES-CCM with 12-byte ICV.
    AES_CCM_12 = 15 => "AES_CCM_12",
    /// AES-CCM with 16-byte ICV.
    AES_CCM_16 = 16 => "AES_CCM_16",
    /// AES-GCM with 8-byte ICV (RFC 4106 / RFC 5282).
    AES_GCM_8 = 18 => "AES_GCM_8",
    /// AES-GCM with 12-byte ICV.
    AES_GCM_12 = 19 => "AES_GCM_12",
    /// AES-GCM with 16-byte ICV.
    AES_GCM_16 = 20 => "AES_GCM_16",
    /// AES-GMAC, authentication only (RFC 4543).
    NULL_AUTH_AES_GMAC = 21 => "NULL_AES_GMAC",
    /// Camellia-CBC.
    CAMELLIA_CBC = 23 => "CAMELLIA_CBC",
    /// Camellia-CTR.
    CAMELLIA_CTR = 24 => "CAMELLIA_CTR",
    /// Camellia-CCM, 8-byte ICV.
    CAMELLIA_CCM_8 = 25 => "CAMELLIA_CCM_8",
    /// Camellia-CCM, 12-byte ICV.
    CAMELLIA_CCM_12 = 26 => "CAMELLIA_CCM_12",
    /// Camellia-CCM, 16-byte ICV.
    CAMELLIA_CCM_16 = 27 => "CAMELLIA_CCM_16",
    /// ChaCha20-Poly1305 (RFC 7634), no key length attribute.
    CHACHA20_POLY1305 = 28 => "CHACHA20_POLY1305",
    /// Serpent-CBC (strongSwan private use, `ENCR_SERPENT_CBC`).
    SERPENT_CBC = 1026 => "SERPENT_CBC",
    /// Twofish-CBC (strongSwan private use, `ENCR_TWOFISH_CBC`).
    TWOFISH_CBC = 1027 => "TWOFISH_CBC",
});

open_id!(
    /// Pseudo-random function id (IANA IKEv2 Transform Type 2).
    PrfId, "UNKNOWN_PRF", {
    /// HMAC-MD5.
    HMAC_MD5 = 1 => "PRF_HMAC_MD5",
    /// HMAC-SHA1.
    HMAC_SHA1 = 2 => "PRF_HMAC_SHA1",
    /// AES-XCBC-PRF-128 (RFC 4434).
    AES128_XCBC = 4 => "PRF_AES128_XCBC",
    /// HMAC-SHA2-256 (RFC 4868).
    HMAC_SHA2_256 = 5 => "PRF_HMAC_SHA2_256",
    /// HMAC-SHA2-384 (RFC 4868).
    HMAC_SHA2_384 = 6 => "PRF_HMAC_SHA2_384",
    /// HMAC-SHA2-512 (RFC 4868).
    HMAC_SHA2_512 = 7 => "PRF_HMAC_SHA2_512",
    /// AES-CMAC-PRF-128 (RFC 4615).
    AES128_CMAC = 8 => "PRF_AES128_CMAC",
    /// Camellia-XCBC-PRF-128 (strongSwan private use, `PRF_CAMELLIA128_XCBC`).
    CAMELLIA128_XCBC = 1028 => "PRF_CAMELLIA128_XCBC",
});

open_id!(
    /// Integrity algorithm id (IANA IKEv2 Transform Type 3).
    IntegId, "UNKNOWN_INTEG", {
    /// No integrity (used with AEAD ciphers).
    NONE = 0 => "NONE",
    /// HMAC-MD5-96.
    HMAC_MD5_96 = 1 => "HMAC_MD5_96",
    /// HMAC-SHA1-96.
    HMAC_SHA1_96 = 2 => "HMAC_SHA1_96",
    /// AES-XCBC-96.
    AES_XCBC_96 = 5 => "AES_XCBC_96",
    /// HMAC-MD5-128.
    HMAC_MD5_128 = 6 => "HMAC_MD5_128",
    /// HMAC-SHA1-160.
    HMAC_SHA1_160 = 7 => "HMAC_SHA1_160",
    /// AES-CMAC-96.
    AES_CMAC_96 = 8 => "AES_CMAC_96",
    /// AES-128-GMAC.
    AES_128_GMAC = 9 => "AES_128_GMAC",
    /// AES-192-GMAC.
    AES_192_GMAC = 10 => "AES_192_GMAC",
    /// AES-256-GMAC.
    AES_256_GMAC = 11 => "AES_256_GMAC",
    /// HMAC-SHA2-256-128 (RFC 4868).
    HMAC_SHA2_256_128 = 12 => "HMAC_SHA2_256_128",
    /// HMAC-SHA2-384-192 (RFC 4868).
    HMAC_SHA2_384_192 = 13 => "HMAC_SHA2_384_192",
    /// HMAC-SHA2-512-256 (RFC 4868).
    HMAC_SHA2_512_256 = 14 => "HMAC_SHA2_512_256",
    /// HMAC-SHA2-256 truncated to 96 bits, as early Linux kernels did (strongSwan private use,
    /// `AUTH_HMAC_SHA2_256_96`; keywords `sha256_96`, `sha2_256_96`).
    HMAC_SHA2_256_96 = 1026 => "HMAC_SHA2_256_96",
    /// Camellia-XCBC-96 (strongSwan private use, `AUTH_CAMELLIA_XCBC_96`).
    CAMELLIA_XCBC_96 = 1029 => "CAMELLIA_XCBC_96",
});

open_id!(
    /// Key exchange method / Diffie-Hellman group id (IANA IKEv2 Transform Type 4).
    KeId, "UNKNOWN_KE", {
    /// No key exchange (ESP without PFS).
    NONE = 0 => "MODP_NONE",
    /// 768-bit MODP (RFC 2409).
    MODP_768 = 1 => "MODP_768",
    /// 1024-bit MODP (RFC 2409).
    MODP_1024 = 2 => "MODP_1024",
    /// 1536-bit MODP (RFC 3526).
    MODP_1536 = 5 => "MODP_1536",
    /// 2048-bit MODP (RFC 3526).
    MODP_2048 = 14 => "MODP_2048",
    /// 3072-bit MODP (RFC 3526).
    MODP_3072 = 15 => "MODP_3072",
    /// 4096-bit MODP (RFC 3526).
    MODP_4096 = 16 => "MODP_4096",
    /// 6144-bit MODP (RFC 3526).
    MODP_6144 = 17 => "MODP_6144",
    /// 8192-bit MODP (RFC 3526).
    MODP_8192 = 18 => "MODP_8192",
    /// NIST P-256 (RFC 5903).
    ECP_256 = 19 => "ECP_256",
    /// NIST P-384 (RFC 5903).
    ECP_384 = 20 => "ECP_384",
    /// NIST P-521 (RFC 5903).
    ECP_521 = 21 => "ECP_521",
    /// 1024-bit MODP with 160-bit prime order subgroup (RFC 5114).
    MODP_1024_160 = 22 => "MODP_1024_160",
    /// 2048-bit MODP with 224-bit prime order subgroup (RFC 5114).
    MODP_2048_224 = 23 => "MODP_2048_224",
    /// 2048-bit MODP with 256-bit prime order subgroup (RFC 5114).
    MODP_2048_256 = 24 => "MODP_2048_256",
    /// NIST P-192.
    ECP_192 = 25 => "ECP_192",
    /// NIST P-224.
    ECP_224 = 26 => "ECP_224",
    /// brainpoolP224r1 (RFC 6954).
    ECP_224_BP = 27 => "ECP_224_BP",
    /// brainpoolP256r1 (RFC 6954).
    ECP_256_BP = 28 => "ECP_256_BP",
    /// brainpoolP384r1 (RFC 6954).
    ECP_384_BP = 29 => "ECP_384_BP",
    /// brainpoolP512r1 (RFC 6954).
    ECP_512_BP = 30 => "ECP_512_BP",
    /// Curve25519 (RFC 8031).
    CURVE_25519 = 31 => "CURVE_25519",
    /// Curve448 (RFC 8031).
    CURVE_448 = 32 => "CURVE_448",
    /// strongSwan's test-only null group (private use, `MODP_NULL`; keyword `modpnull`).
    MODP_NULL = 1024 => "MODP_NULL",
    /// NTRU, 112-bit strength (strongSwan private use, `NTRU_112_BIT`).
    NTRU_112 = 1030 => "NTRU_112",
    /// NTRU, 128-bit strength (strongSwan private use).
    NTRU_128 = 1031 => "NTRU_128",
    /// NTRU, 192-bit strength (strongSwan private use).
    NTRU_192 = 1032 => "NTRU_192",
    /// NTRU, 256-bit strength (strongSwan private use).
    NTRU_256 = 1033 => "NTRU_256",
});

open_id!(
    /// Extended Sequence Numbers id (IANA IKEv2 Transform Type 5).
    EsnId, "UNKNOWN_ESN", {
    /// No extended sequence numbers.
    NO_ESN = 0 => "NO_EXT_SEQ",
    /// 64-bit extended sequence numbers.
    ESN = 1 => "EXT_SEQ",
});

impl EncrId {
    /// Whether this is a combined-mode (AEAD) cipher (strongSwan
    /// `encryption_algorithm_is_aead`).
    pub const fn is_aead(self) -> bool {
        matches!(
            self,
            Self::AES_CCM_8
                | Self::AES_CCM_12
                | Self::AES_CCM_16
                | Self::AES_GCM_8
                | Self::AES_GCM_12
                | Self::AES_GCM_16
                | Self::NULL_AUTH_AES_GMAC
                | Self::CAMELLIA_CCM_8
                | Self::CAMELLIA_CCM_12
                | Self::CAMELLIA_CCM_16
                | Self::CHACHA20_POLY1305
        )
    }
}

impl IntegId {
    /// The PRF strongSwan derives from this integrity algorithm when an IKE
    /// proposal names none (`integ_prf_map` in strongSwan's `proposal.c`).
    pub const fn implied_prf(self) -> Option<PrfId> {
        match self {
            Self::HMAC_SHA1_96 | Self::HMAC_SHA1_160 => Some(PrfId::HMAC_SHA1),
            Self::HMAC_SHA2_256_128 | Self::HMAC_SHA2_256_96 => Some(PrfId::HMAC_SHA2_256),
            Self::HMAC_SHA2_384_192 => Some(PrfId::HMAC_SHA2_384),
            Self::HMAC_SHA2_512_256 => Some(PrfId::HMAC_SHA2_512),
            Self::HMAC_MD5_96 | Self::HMAC_MD5_128 => Some(PrfId::HMAC_MD5),
            Self::AES_XCBC_96 => Some(PrfId::AES128_XCBC),
            Self::AES_CMAC_96 => Some(PrfId::AES128_CMAC),
            Self::CAMELLIA_XCBC_96 => Some(PrfId::CAMELLIA128_XCBC),
            _ => None,
        }
    }
}

/// Security protocol a proposal is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// The IKE SA itself (protocol id 1).
    Ike,
    /// ESP CHILD_SAs (protocol id 3).
    Esp,
}

impl Protocol {
    /// Protocol id as used in the Proposal substructure (RFC 7296 3.3.1).
    pub const fn wire(self) -> u8 {
        match self {
            Self::Ike => 1,
            Self::Esp => 3,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ike => "IKE",
            Self::Esp => "ESP",
        })
    }
}

/// An encryption transform: algorithm plus the Key Length attribute (bits), which
/// AES/Camellia require and ChaCha20-Poly1305 must not carry (RFC 7634 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encr {
    /// Algorithm.
    pub id: EncrId,
    /// Key Length attribute in bits, if present.
    pub key_bits: Option<u16>,
}

impl Encr {
    /// Encryption transform with a key length attribute.
    pub const fn new(id: EncrId, key_bits: u16) -> Self {
        Self {
            id,
            key_bits: Some(key_bits),
        }
    }

    /// Encryption transform without a key length attribute.
    pub const fn without_key_length(id: EncrId) -> Self {
        Self { id, key_bits: None }
    }
}

impl fmt::Display for Encr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key_bits {
            Some(bits) => write!(f, "{}_{}", self.id, bits),
            None => write!(f, "{}", self.id),
        }
    }
}

/// One transform of any type, as it appears in a Transform substructure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transform {
    /// Transform type.
    pub kind: TransformType,
    /// Transform id within the type.
    pub id: u16,
    /// Key Length attribute (bits), only meaningful for encryption.
    pub key_bits: Option<u16>,
}

impl Transform {
    /// Whether iked implements this transform (for the IKE SA when `protocol` is
    /// IKE, or can hand it to the kernel for ESP).
    pub fn is_supported(&self, protocol: Protocol) -> bool {
        use crate::transforms::{EncrAlg, EspAlgorithms, IntegAlg, PrfAlg};
        let encr = Encr {
            id: EncrId(self.id),
            key_bits: self.key_bits,
        };
        match (self.kind, protocol) {
            (TransformType::Encryption, Protocol::Ike) => EncrAlg::from_transform(encr).is_ok(),
            // ESP ciphers are run by the kernel: supported if we can name them.
            (TransformType::Encryption, Protocol::Esp) => {
                EspAlgorithms::new(encr, None, None).is_ok()
            }
            (TransformType::Integrity, Protocol::Ike) => {
                IntegAlg::from_id(IntegId(self.id)).is_ok()
            }
            (TransformType::Integrity, Protocol::Esp) => EspAlgorithms::new(
                Encr::new(EncrId::AES_CBC, 128),
                Some(IntegId(self.id)),
                None,
            )
            .is_ok(),
            (TransformType::Prf, Protocol::Ike) => PrfAlg::from_id(PrfId(self.id)).is_ok(),
            (TransformType::Prf, Protocol::Esp) => false,
            (TransformType::KeyExchange, _) => {
                (protocol == Protocol::Esp && self.id == KeId::NONE.0)
                    || crate::ke::KeGroup::from_id(KeId(self.id)).is_ok()
            }
            (TransformType::Esn, Protocol::Esp) => self.id <= 1,
            (TransformType::Esn, Protocol::Ike) => false,
        }
    }
}

/// A proposal: for each transform type, the acceptable algorithms in preference
/// order. Printed in strongSwan's format by `Display`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Proposal {
    /// Protocol.
    pub protocol: Protocol,
    /// Encryption algorithms.
    pub encryption: Vec<Encr>,
    /// Integrity algorithms (empty for AEAD proposals).
    pub integrity: Vec<IntegId>,
    /// PRFs (IKE only).
    pub prf: Vec<PrfId>,
    /// Key exchange methods (IKE: mandatory; ESP: PFS group for rekeying).
    pub ke: Vec<KeId>,
    /// ESN choices (ESP only).
    pub esn: Vec<EsnId>,
}

impl Proposal {
    /// An empty proposal for `protocol`.
    pub const fn empty(protocol: Protocol) -> Self {
        Self {
            protocol,
            encryption: Vec::new(),
            integrity: Vec::new(),
            prf: Vec::new(),
            ke: Vec::new(),
            esn: Vec::new(),
        }
    }

    /// Whether the proposal's encryption algorithms are AEAD (all of them are, or
    /// none: parsing rejects a mix).
    pub fn is_aead(&self) -> bool {
        !self.encryption.is_empty() && self.encryption.iter().all(|e| e.id.is_aead())
    }

    /// All transforms, in strongSwan's type order (ENCR, INTEG, PRF, KE, ESN) and
    /// in preference order within a type.
    pub fn transforms(&self) -> Vec<Transform> {
        let encr = self.encryption.iter().map(|e| Transform {
            kind: TransformType::Encryption,
            id: e.id.0,
            key_bits: e.key_bits,
        });
        let simple = |kind, id| Transform {
            kind,
            id,
            key_bits: None,
        };
        encr.chain(
            self.integrity
                .iter()
                .map(|i| simple(TransformType::Integrity, i.0)),
        )
        .chain(self.prf.iter().map(|p| simple(TransformType::Prf, p.0)))
        .chain(
            self.ke
                .iter()
                .map(|k| simple(TransformType::KeyExchange, k.0)),
        )
        .chain(self.esn.iter().map(|e| simple(TransformType::Esn, e.0)))
        .collect()
    }

    /// Builds a proposal from transforms (e.g. as received in an SA payload),
    /// keeping their order within each type.
    pub fn from_transforms(protocol: Protocol, transforms: &[Transform]) -> Self {
        let mut proposal = Self::empty(protocol);
        for t in transforms {
            proposal.push(*t);
        }
        proposal
    }

    /// Transforms in this proposal that iked cannot use.
    pub fn unsupported(&self) -> Vec<Transform> {
        self.transforms()
            .into_iter()
            .filter(|t| !t.is_supported(self.protocol))
            .collect()
    }

    fn push(&mut self, t: Transform) {
        match t.kind {
            TransformType::Encryption => self.encryption.push(Encr {
                id: EncrId(t.id),
                key_bits: t.key_bits,
            }),
            TransformType::Prf => self.prf.push(PrfId(t.id)),
            TransformType::Integrity => self.integrity.push(IntegId(t.id)),
            TransformType::KeyExchange => self.ke.push(KeId(t.id)),
            TransformType::Esn => self.esn.push(EsnId(t.id)),
        }
    }
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.protocol)?;
        let mut first = true;
        let mut item = |f: &mut fmt::Formatter<'_>, text: &dyn fmt::Display| {
            let sep = if first { "" } else { "/" };
            first = false;
            write!(f, "{sep}{text}")
        };
        for e in &self.encryption {
            item(f, e)?;
        }
        for i in &self.integrity {
            item(f, i)?;
        }
        for p in &self.prf {
            item(f, p)?;
        }
        for k in &self.ke {
            item(f, k)?;
        }
        for e in &self.esn {
            item(f, e)?;
        }
        Ok(())
    }
}

/// Why a proposal string was rejected. Messages follow strongSwan's log lines.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProposalError {
    /// A token is not in the keyword table.
    #[error("algorithm '{0}' not recognized")]
    UnknownKeyword(String),
    /// The string holds no algorithm at all.
    #[error("empty proposal")]
    Empty,
    /// IKE proposal without PRF and without an integrity algorithm to derive it from.
    #[error("a PRF algorithm is mandatory in IKE proposals")]
    MissingPrf,
    /// IKE proposal without a key exchange method.
    #[error("a DH group is mandatory in IKE proposals")]
    MissingKe,
    /// No encryption algorithm.
    #[error("an encryption algorithm is mandatory in {0} proposals")]
    MissingEncryption(Protocol),
    /// AEAD and classic ciphers in one proposal.
    #[error(
        "classic and combined-mode (AEAD) encryption algorithms can't be contained in the same {0} proposal"
    )]
    MixedAead(Protocol),
    /// Classic cipher in IKE without an integrity algorithm.
    #[error(
        "an integrity algorithm is mandatory in {0} proposals with classic (non-AEAD) encryption algorithms"
    )]
    MissingIntegrity(Protocol),
}

/// A keyword table entry: what a token adds to a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyword {
    /// Transform type.
    pub kind: TransformType,
    /// Transform id.
    pub id: u16,
    /// Key size in bits (0 = no Key Length attribute).
    pub key_bits: u16,
}

const fn kw(kind: TransformType, id: u16, key_bits: u16) -> Keyword {
    Keyword { kind, id, key_bits }
}

/// Looks a token up in strongSwan's keyword table
/// (`src/libstrongswan/crypto/proposal/proposal_keywords_static.txt`), including the
/// tokens that name strongSwan's private-use algorithms (serpent, twofish, camellia-XCBC,
/// sha256_96, NTRU): they are recognized, and reported as unsupported like any algorithm
/// iked does not implement, rather than as unknown words. The post-quantum methods of
/// strongSwan 6 belong to multiple key exchanges (RFC 9370), which iked does not do.
pub fn lookup_keyword(token: &str) -> Option<Keyword> {
    use TransformType::{Encryption as E, Esn as N, Integrity as I, KeyExchange as K, Prf as P};
    let e = |id: EncrId, bits| Some(kw(E, id.0, bits));
    // AES/Camellia families: <name><bits><mode><icv> with ICV aliases in bits.
    let keyword = match token {
        "null" => e(EncrId::NULL, 0),
        "des" => e(EncrId::DES, 0),
        "3des" => e(EncrId::DES3, 0),
        "aes" | "aes128" => e(EncrId::AES_CBC, 128),
        "aes192" => e(EncrId::AES_CBC, 192),
        "aes256" => e(EncrId::AES_CBC, 256),
        "chacha20poly1305" => e(EncrId::CHACHA20_POLY1305, 0),
        // strongSwan's compat keyword sends a (non-standard) 256-bit key length.
        "chacha20poly1305compat" => e(EncrId::CHACHA20_POLY1305, 256),
        "blowfish" | "blowfish128" => e(EncrId::BLOWFISH, 128),
        "blowfish192" => e(EncrId::BLOWFISH, 192),
        "blowfish256" => e(EncrId::BLOWFISH, 256),
        "camellia" | "camellia128" => e(EncrId::CAMELLIA_CBC, 128),
        "camellia192" => e(EncrId::CAMELLIA_CBC, 192),
        "camellia256" => e(EncrId::CAMELLIA_CBC, 256),
        "cast128" => e(EncrId::CAST, 128),
        "serpent" | "serpent128" => e(EncrId::SERPENT_CBC, 128),
        "serpent192" => e(EncrId::SERPENT_CBC, 192),
        "serpent256" => e(EncrId::SERPENT_CBC, 256),
        "twofish" | "twofish128" => e(EncrId::TWOFISH_CBC, 128),
        "twofish192" => e(EncrId::TWOFISH_CBC, 192),
        "twofish256" => e(EncrId::TWOFISH_CBC, 256),
        "sha" | "sha1" => Some(kw(I, IntegId::HMAC_SHA1_96.0, 0)),
        "sha1_160" => Some(kw(I, IntegId::HMAC_SHA1_160.0, 0)),
        "sha256" | "sha2_256" => Some(kw(I, IntegId::HMAC_SHA2_256_128.0, 0)),
        "sha256_96" | "sha2_256_96" => Some(kw(I, IntegId::HMAC_SHA2_256_96.0, 0)),
        "sha384" | "sha2_384" => Some(kw(I, IntegId::HMAC_SHA2_384_192.0, 0)),
        "sha512" | "sha2_512" => Some(kw(I, IntegId::HMAC_SHA2_512_256.0, 0)),
        "md5" => Some(kw(I, IntegId::HMAC_MD5_96.0, 0)),
        "md5_128" => Some(kw(I, IntegId::HMAC_MD5_128.0, 0)),
        "aesxcbc" => Some(kw(I, IntegId::AES_XCBC_96.0, 0)),
        "camelliaxcbc" => Some(kw(I, IntegId::CAMELLIA_XCBC_96.0, 0)),
        "aescmac" => Some(kw(I, IntegId::AES_CMAC_96.0, 0)),
        "prfsha1" => Some(kw(P, PrfId::HMAC_SHA1.0, 0)),
        "prfsha256" => Some(kw(P, PrfId::HMAC_SHA2_256.0, 0)),
        "prfsha384" => Some(kw(P, PrfId::HMAC_SHA2_384.0, 0)),
        "prfsha512" => Some(kw(P, PrfId::HMAC_SHA2_512.0, 0)),
        "prfmd5" => Some(kw(P, PrfId::HMAC_MD5.0, 0)),
        "prfaesxcbc" => Some(kw(P, PrfId::AES128_XCBC.0, 0)),
        "prfcamelliaxcbc" => Some(kw(P, PrfId::CAMELLIA128_XCBC.0, 0)),
        "prfaescmac" => Some(kw(P, PrfId::AES128_CMAC.0, 0)),
        "none" | "modpnone" => Some(kw(K, KeId::NONE.0, 0)),
        "modpnull" => Some(kw(K, KeId::MODP_NULL.0, 0)),
        "ntru112" => Some(kw(K, KeId::NTRU_112.0, 0)),
        "ntru128" => Some(kw(K, KeId::NTRU_128.0, 0)),
        "ntru192" => Some(kw(K, KeId::NTRU_192.0, 0)),
        "ntru256" => Some(kw(K, KeId::NTRU_256.0, 0)),
        "modp768" => Some(kw(K, KeId::MODP_768.0, 0)),
        "modp1024" => Some(kw(K, KeId::MODP_1024.0, 0)),
        "modp1536" => Some(kw(K, KeId::MODP_1536.0, 0)),
        "modp2048" => Some(kw(K, KeId::MODP_2048.0, 0)),
        "modp3072" => Some(kw(K, KeId::MODP_3072.0, 0)),
        "modp4096" => Some(kw(K, KeId::MODP_4096.0, 0)),
        "modp6144" => Some(kw(K, KeId::MODP_6144.0, 0)),
        "modp8192" => Some(kw(K, KeId::MODP_8192.0, 0)),
        "ecp192" => Some(kw(K, KeId::ECP_192.0, 0)),
        "ecp224" => Some(kw(K, KeId::ECP_224.0, 0)),
        "ecp256" => Some(kw(K, KeId::ECP_256.0, 0)),
        "ecp384" => Some(kw(K, KeId::ECP_384.0, 0)),
        "ecp521" => Some(kw(K, KeId::ECP_521.0, 0)),
        "modp1024s160" => Some(kw(K, KeId::MODP_1024_160.0, 0)),
        "modp2048s224" => Some(kw(K, KeId::MODP_2048_224.0, 0)),
        "modp2048s256" => Some(kw(K, KeId::MODP_2048_256.0, 0)),
        "ecp224bp" => Some(kw(K, KeId::ECP_224_BP.0, 0)),
        "ecp256bp" => Some(kw(K, KeId::ECP_256_BP.0, 0)),
        "ecp384bp" => Some(kw(K, KeId::ECP_384_BP.0, 0)),
        "ecp512bp" => Some(kw(K, KeId::ECP_512_BP.0, 0)),
        "curve25519" | "x25519" => Some(kw(K, KeId::CURVE_25519.0, 0)),
        "curve448" | "x448" => Some(kw(K, KeId::CURVE_448.0, 0)),
        "noesn" => Some(kw(N, EsnId::NO_ESN.0, 0)),
        "esn" => Some(kw(N, EsnId::ESN.0, 0)),
        _ => None,
    };
    keyword.or_else(|| lookup_block_cipher_mode(token))
}

/// `aes128ctr`, `aes256gcm16`, `aes128gcm128`, `aes192ccm8`, `camellia256ccm96`,
/// `aes128gmac`, ...: the regular part of strongSwan's table.
fn lookup_block_cipher_mode(token: &str) -> Option<Keyword> {
    let (family, rest) = if let Some(rest) = token.strip_prefix("aes") {
        ("aes", rest)
    } else if let Some(rest) = token.strip_prefix("camellia") {
        ("camellia", rest)
    } else {
        return None;
    };
    let bits: u16 = match rest.get(..3)? {
        "128" => 128,
        "192" => 192,
        "256" => 256,
        _ => return None,
    };
    let mode = &rest[3..];
    let aes = family == "aes";
    // ICV suffix in bytes or bits; a bare mode means the 16-byte ICV.
    let icv = |suffix: &str| match suffix {
        "8" | "64" => Some(8u8),
        "12" | "96" => Some(12),
        "16" | "128" => Some(16),
        _ => None,
    };
    let id = if mode == "ctr" {
        if aes {
            EncrId::AES_CTR
        } else {
            EncrId::CAMELLIA_CTR
        }
    } else if mode == "gmac" && aes {
        EncrId::NULL_AUTH_AES_GMAC
    } else if let Some(suffix) = mode.strip_prefix("gcm").filter(|_| aes) {
        let size = if suffix.is_empty() { 16 } else { icv(suffix)? };
        match size {
            8 => EncrId::AES_GCM_8,
            12 => EncrId::AES_GCM_12,
            _ => EncrId::AES_GCM_16,
        }
    } else if let Some(suffix) = mode.strip_prefix("ccm") {
        // strongSwan lists a bare `camelliaNNNccm` only for AES.
        if suffix.is_empty() && !aes {
            return None;
        }
        let size = if suffix.is_empty() { 16 } else { icv(suffix)? };
        match (aes, size) {
            (true, 8) => EncrId::AES_CCM_8,
            (true, 12) => EncrId::AES_CCM_12,
            (true, _) => EncrId::AES_CCM_16,
            (false, 8) => EncrId::CAMELLIA_CCM_8,
            (false, 12) => EncrId::CAMELLIA_CCM_12,
            (false, _) => EncrId::CAMELLIA_CCM_16,
        }
    } else {
        return None;
    };
    Some(kw(TransformType::Encryption, id.0, bits))
}

/// Parses one proposal string (one element of a swanctl `proposals` or
/// `esp_proposals` list) as strongSwan does. Returns several proposals only for
/// the keyword `default` (strongSwan's AEAD proposal first, then the classic one,
/// as `vici_config.c` inserts them); otherwise exactly one.
pub fn parse_proposal(text: &str, protocol: Protocol) -> Result<Vec<Proposal>, ProposalError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("default") {
        return Ok(default_proposals(protocol));
    }
    let mut proposal = Proposal::empty(protocol);
    let mut any = false;
    // strongSwan tokenizes on '-' and trims spaces; empty tokens are skipped.
    for token in text.split('-').map(str::trim).filter(|t| !t.is_empty()) {
        let keyword =
            lookup_keyword(token).ok_or_else(|| ProposalError::UnknownKeyword(token.to_owned()))?;
        proposal.push(Transform {
            kind: keyword.kind,
            id: keyword.id,
            key_bits: (keyword.key_bits != 0).then_some(keyword.key_bits),
        });
        any = true;
    }
    if !any {
        return Err(ProposalError::Empty);
    }
    check_proposal(&mut proposal)?;
    Ok(vec![proposal])
}

/// strongSwan's `check_proposal()`: completes and validates a parsed proposal.
fn check_proposal(p: &mut Proposal) -> Result<(), ProposalError> {
    match p.protocol {
        Protocol::Ike => {
            if p.prf.is_empty() {
                p.prf = p.integrity.iter().filter_map(|i| i.implied_prf()).collect();
            }
            if p.prf.is_empty() {
                return Err(ProposalError::MissingPrf);
            }
            p.ke.retain(|k| *k != KeId::NONE);
            if p.ke.is_empty() {
                return Err(ProposalError::MissingKe);
            }
        }
        Protocol::Esp => p.prf.clear(),
    }
    if p.encryption.is_empty() {
        return Err(ProposalError::MissingEncryption(p.protocol));
    }
    let any_aead = p.encryption.iter().any(|e| e.id.is_aead());
    let all_aead = p.encryption.iter().all(|e| e.id.is_aead());
    if any_aead && !all_aead {
        return Err(ProposalError::MixedAead(p.protocol));
    }
    if all_aead {
        // With AEAD ciphers integrity algorithms MUST NOT be proposed.
        p.integrity.clear();
    } else if p.protocol == Protocol::Ike && p.integrity.is_empty() {
        return Err(ProposalError::MissingIntegrity(p.protocol));
    }
    if p.protocol == Protocol::Esp && p.esn.is_empty() {
        p.esn.push(EsnId::NO_ESN);
    }
    Ok(())
}

/// strongSwan's default proposals (`proposal_create_default_aead()` then
/// `proposal_create_default()` in `proposal.c`, as `vici_config.c` inserts them for `default`
/// or an unset `proposals`/`esp_proposals`), restricted to the algorithms iked implements:
/// exactly what strongSwan produces when only those plugins are loaded. strongSwan adds the
/// algorithms of each type in rounds (at least 128-bit strength first); within a round its
/// order is the plugins' registration order, for which this uses the order of its source.
///
/// IKE, AEAD: AES_GCM_16, AES_CCM_16, CAMELLIA_CCM_16 (128/192/256 each), CHACHA20_POLY1305,
/// then the 12- and 8-byte ICV variants; classic: AES_CBC, AES_CTR, CAMELLIA_CBC,
/// CAMELLIA_CTR (128/192/256 each), then 3DES, with HMAC_SHA2_256/384/512 then AES_XCBC_96,
/// AES_CMAC_96, HMAC_SHA1_96. Both: PRF SHA2_256/384/512, AES128_XCBC, AES128_CMAC, then
/// SHA1; KE ECP_256/384/521, the Brainpool curves, CURVE_25519, CURVE_448, then MODP
/// 3072/4096/6144/8192, then MODP_2048.
///
/// ESP (since strongSwan 5.9.0): AES_GCM_16 128/192/256 first, then AES_CBC 128/192/256 with
/// HMAC_SHA2_256/384/512, HMAC_SHA1_96 and AES_XCBC_96; both without ESN.
pub fn default_proposals(protocol: Protocol) -> Vec<Proposal> {
    let sizes = |id| [128, 192, 256].map(|bits| Encr::new(id, bits));
    let proposals = match protocol {
        Protocol::Ike => {
            let prf = vec![
                PrfId::HMAC_SHA2_256,
                PrfId::HMAC_SHA2_384,
                PrfId::HMAC_SHA2_512,
                PrfId::AES128_XCBC,
                PrfId::AES128_CMAC,
                PrfId::HMAC_SHA1,
            ];
            let ke = vec![
                KeId::ECP_256,
                KeId::ECP_384,
                KeId::ECP_521,
                KeId::ECP_256_BP,
                KeId::ECP_384_BP,
                KeId::ECP_512_BP,
                KeId::CURVE_25519,
                KeId::CURVE_448,
                KeId::MODP_3072,
                KeId::MODP_4096,
                KeId::MODP_6144,
                KeId::MODP_8192,
                KeId::MODP_2048,
            ];
            let mut aead_encr = Vec::new();
            for id in [
                EncrId::AES_GCM_16,
                EncrId::AES_CCM_16,
                EncrId::CAMELLIA_CCM_16,
            ] {
                aead_encr.extend(sizes(id));
            }
            aead_encr.push(Encr::without_key_length(EncrId::CHACHA20_POLY1305));
            for id in [
                EncrId::AES_GCM_12,
                EncrId::AES_GCM_8,
                EncrId::AES_CCM_12,
                EncrId::AES_CCM_8,
                EncrId::CAMELLIA_CCM_12,
                EncrId::CAMELLIA_CCM_8,
            ] {
                aead_encr.extend(sizes(id));
            }
            let mut classic_encr = Vec::new();
            for id in [
                EncrId::AES_CBC,
                EncrId::AES_CTR,
                EncrId::CAMELLIA_CBC,
                EncrId::CAMELLIA_CTR,
            ] {
                classic_encr.extend(sizes(id));
            }
            classic_encr.push(Encr::without_key_length(EncrId::DES3));
            let aead = Proposal {
                encryption: aead_encr,
                prf: prf.clone(),
                ke: ke.clone(),
                ..Proposal::empty(Protocol::Ike)
            };
            let classic = Proposal {
                encryption: classic_encr,
                integrity: vec![
                    IntegId::HMAC_SHA2_256_128,
                    IntegId::HMAC_SHA2_384_192,
                    IntegId::HMAC_SHA2_512_256,
                    IntegId::AES_XCBC_96,
                    IntegId::AES_CMAC_96,
                    IntegId::HMAC_SHA1_96,
                ],
                prf,
                ke,
                ..Proposal::empty(Protocol::Ike)
            };
            vec![aead, classic]
        }
        Protocol::Esp => vec![
            Proposal {
                encryption: sizes(EncrId::AES_GCM_16).to_vec(),
                esn: vec![EsnId::NO_ESN],
                ..Proposal::empty(Protocol::Esp)
            },
            Proposal {
                encryption: sizes(EncrId::AES_CBC).to_vec(),
                integrity: vec![
                    IntegId::HMAC_SHA2_256_128,
                    IntegId::HMAC_SHA2_384_192,
                    IntegId::HMAC_SHA2_512_256,
                    IntegId::HMAC_SHA1_96,
                    IntegId::AES_XCBC_96,
                ],
                esn: vec![EsnId::NO_ESN],
                ..Proposal::empty(Protocol::Esp)
            },
        ],
    };
    proposals
        .into_iter()
        .map(|p| Proposal::from_transforms(protocol, &supported_transforms(&p)))
        // A proposal left without a cipher (a build without any of its algorithms) is not one.
        .filter(|p| !p.encryption.is_empty())
        .collect()
}

/// The transforms of `p` that iked implements, in order.
fn supported_transforms(p: &Proposal) -> Vec<Transform> {
    p.transforms()
        .into_iter()
        .filter(|t| t.is_supported(p.protocol))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str, protocol: Protocol) -> Proposal {
        let mut v = parse_proposal(text, protocol).unwrap();
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn ike_cbc_sha256_x25519_implies_prf() {
        let p = one("aes128-sha256-x25519", Protocol::Ike);
        assert_eq!(
            p.to_string(),
            "IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519"
        );
        assert!(!p.is_aead());
    }

    #[test]
    fn esp_gcm_with_esn() {
        let p = one("aes128gcm128-x25519-esn", Protocol::Esp);
        assert_eq!(p.to_string(), "ESP:AES_GCM_16_128/CURVE_25519/EXT_SEQ");
        assert!(p.is_aead());
        assert_eq!(p.ke, vec![KeId::CURVE_25519]);
    }

    #[test]
    fn esp_without_esn_keyword_means_no_esn() {
        let p = one("aes128gcm16", Protocol::Esp);
        assert_eq!(p.to_string(), "ESP:AES_GCM_16_128/NO_EXT_SEQ");
    }

    #[test]
    fn ike_aead_with_explicit_prf() {
        let p = one("aes128gcm16-prfsha256-ecp256", Protocol::Ike);
        assert_eq!(
            p.to_string(),
            "IKE:AES_GCM_16_128/PRF_HMAC_SHA2_256/ECP_256"
        );
        let p = one("chacha20poly1305-prfsha256-x25519", Protocol::Ike);
        assert_eq!(
            p.to_string(),
            "IKE:CHACHA20_POLY1305/PRF_HMAC_SHA2_256/CURVE_25519"
        );
        assert_eq!(p.encryption[0].key_bits, None);
    }

    #[test]
    fn several_algorithms_of_one_type_keep_order() {
        let p = one("aes256-aes128-sha384-sha256-ecp384-modp3072", Protocol::Ike);
        assert_eq!(
            p.to_string(),
            "IKE:AES_CBC_256/AES_CBC_128/HMAC_SHA2_384_192/HMAC_SHA2_256_128/\
             PRF_HMAC_SHA2_384/PRF_HMAC_SHA2_256/ECP_384/MODP_3072"
        );
    }

    #[test]
    fn aead_drops_integrity() {
        let p = one("aes256gcm16-sha256-x25519", Protocol::Ike);
        assert!(p.integrity.is_empty());
        assert_eq!(p.prf, vec![PrfId::HMAC_SHA2_256]);
    }

    #[test]
    fn gcm_icv_aliases() {
        for (kw, id) in [
            ("aes128gcm8", EncrId::AES_GCM_8),
            ("aes128gcm64", EncrId::AES_GCM_8),
            ("aes192gcm12", EncrId::AES_GCM_12),
            ("aes256gcm96", EncrId::AES_GCM_12),
            ("aes256gcm16", EncrId::AES_GCM_16),
            ("aes256gcm128", EncrId::AES_GCM_16),
            ("aes256gcm", EncrId::AES_GCM_16),
        ] {
            let k = lookup_keyword(kw).unwrap();
            assert_eq!(EncrId(k.id), id, "{kw}");
        }
        assert_eq!(lookup_keyword("aes128gcm32"), None);
        assert_eq!(lookup_keyword("camellia128gcm16"), None);
        assert_eq!(lookup_keyword("camellia128ccm"), None);
        assert!(lookup_keyword("aes128ccm").is_some());
    }

    #[test]
    fn errors_match_strongswan_checks() {
        assert_eq!(
            parse_proposal("aes128-sha256-foo", Protocol::Ike),
            Err(ProposalError::UnknownKeyword("foo".into()))
        );
        assert_eq!(
            parse_proposal("aes128gcm16-x25519", Protocol::Ike),
            Err(ProposalError::MissingPrf)
        );
        assert_eq!(
            parse_proposal("aes128-sha256", Protocol::Ike),
            Err(ProposalError::MissingKe)
        );
        assert_eq!(
            parse_proposal("aes128-prfsha256-x25519", Protocol::Ike),
            Err(ProposalError::MissingIntegrity(Protocol::Ike))
        );
        assert_eq!(
            parse_proposal("aes128-aes128gcm16-sha256-x25519", Protocol::Ike),
            Err(ProposalError::MixedAead(Protocol::Ike))
        );
        assert_eq!(
            parse_proposal("sha256", Protocol::Esp),
            Err(ProposalError::MissingEncryption(Protocol::Esp))
        );
        assert_eq!(parse_proposal("", Protocol::Esp), Err(ProposalError::Empty));
        assert_eq!(
            parse_proposal("--", Protocol::Esp),
            Err(ProposalError::Empty)
        );
    }

    #[test]
    fn esp_cbc_without_integrity_is_accepted_like_strongswan() {
        // strongSwan only insists on integrity for IKE; the kernel rejects it later.
        let p = one("aes128", Protocol::Esp);
        assert_eq!(p.to_string(), "ESP:AES_CBC_128/NO_EXT_SEQ");
    }

    #[test]
    fn ike_drops_ke_none_and_esp_keeps_it() {
        let p = one("aes128-sha256-none-ecp256", Protocol::Ike);
        assert_eq!(p.ke, vec![KeId::ECP_256]);
        let p = one("aes128-sha256-modpnone", Protocol::Esp);
        assert_eq!(p.ke, vec![KeId::NONE]);
        assert!(p.prf.is_empty());
    }

    #[test]
    fn esp_removes_prf() {
        let p = one("aes128-sha256-prfsha256", Protocol::Esp);
        assert!(p.prf.is_empty());
    }

    #[test]
    fn default_expands_for_both_protocols() {
        let ike = parse_proposal("default", Protocol::Ike).unwrap();
        assert_eq!(ike.len(), 2);
        assert!(ike[0].is_aead());
        assert!(!ike[1].is_aead());
        assert_eq!(ike[1].encryption[0], Encr::new(EncrId::AES_CBC, 128));
        assert!(ike[0].ke.contains(&KeId::CURVE_25519));
        assert!(ike.iter().all(|p| p.unsupported().is_empty()));
        assert_eq!(
            ike[0].to_string(),
            "IKE:AES_GCM_16_128/AES_GCM_16_192/AES_GCM_16_256/CHACHA20_POLY1305/\
             AES_GCM_12_128/AES_GCM_12_192/AES_GCM_12_256/AES_GCM_8_128/AES_GCM_8_192/\
             AES_GCM_8_256/PRF_HMAC_SHA2_256/PRF_HMAC_SHA2_384/PRF_HMAC_SHA2_512/PRF_HMAC_SHA1/\
             ECP_256/ECP_384/CURVE_25519/MODP_3072/MODP_4096/MODP_2048"
        );
        // strongSwan 5.9+: an AES-GCM proposal before the classic one for ESP too.
        let esp = parse_proposal("default", Protocol::Esp).unwrap();
        assert_eq!(esp.len(), 2);
        assert!(esp.iter().all(|p| p.unsupported().is_empty()));
        assert_eq!(
            esp[0].to_string(),
            "ESP:AES_GCM_16_128/AES_GCM_16_192/AES_GCM_16_256/NO_EXT_SEQ"
        );
        assert_eq!(
            esp[1].to_string(),
            "ESP:AES_CBC_128/AES_CBC_192/AES_CBC_256/HMAC_SHA2_256_128/HMAC_SHA2_384_192/\
             HMAC_SHA2_512_256/HMAC_SHA1_96/AES_XCBC_96/NO_EXT_SEQ"
        );
    }

    #[test]
    fn unsupported_algorithms_parse_but_are_flagged() {
        let p = one("3des-md5-modp1024", Protocol::Ike);
        let unsupported = p.unsupported();
        assert!(unsupported.contains(&Transform {
            kind: TransformType::Encryption,
            id: EncrId::DES3.0,
            key_bits: None
        }));
        assert!(
            unsupported
                .iter()
                .any(|t| t.kind == TransformType::KeyExchange && t.id == KeId::MODP_1024.0)
        );
        assert!(
            one("aes128-sha256-x25519", Protocol::Ike)
                .unsupported()
                .is_empty()
        );
        // ESP runs in the kernel: AES-CTR and SHA1 are fine there, 3DES is not mapped.
        assert!(
            one("aes128ctr-sha1", Protocol::Esp)
                .unsupported()
                .is_empty()
        );
        assert_eq!(one("3des-sha1", Protocol::Esp).unsupported().len(), 1);
        // ...but the IKE SA itself only runs what this crate implements: AES-CTR
        // and HMAC-SHA1-96 are out, the implied PRF_HMAC_SHA1 is in.
        let ike = one("aes128ctr-sha1-x25519", Protocol::Ike);
        assert_eq!(ike.prf, vec![PrfId::HMAC_SHA1]);
        assert_eq!(ike.unsupported().len(), 2);
    }

    #[test]
    fn private_use_keywords_are_recognized_and_named_as_strongswan() {
        // strongSwan's keyword table lists these; they parse, and only the ones the kernel
        // can run for ESP are usable.
        let esp = one("aes128-sha256_96", Protocol::Esp);
        assert_eq!(esp.integrity, vec![IntegId::HMAC_SHA2_256_96]);
        assert_eq!(
            esp.to_string(),
            "ESP:AES_CBC_128/HMAC_SHA2_256_96/NO_EXT_SEQ"
        );
        assert!(esp.unsupported().is_empty());
        assert_eq!(
            one("aes128-sha2_256_96", Protocol::Esp).integrity,
            vec![IntegId::HMAC_SHA2_256_96]
        );
        let ike = one("aes128-sha256_96-modp2048", Protocol::Ike);
        assert_eq!(ike.prf, vec![PrfId::HMAC_SHA2_256]);
        for token in [
            "serpent256-sha256-modp2048",
            "twofish-sha256-modp2048",
            "aes128-camelliaxcbc-modp2048",
            "aes128-sha256-prfcamelliaxcbc-modp2048",
            "aes128-sha256-modpnull",
            "aes128-sha256-ntru128",
        ] {
            let p = one(token, Protocol::Ike);
            assert!(!p.unsupported().is_empty(), "{token}: {p}");
        }
        assert_eq!(
            one("3des-sha1", Protocol::Esp).to_string(),
            "ESP:3DES_CBC/HMAC_SHA1_96/NO_EXT_SEQ"
        );
        assert_eq!(
            one("twofish256-sha256", Protocol::Esp).to_string(),
            "ESP:TWOFISH_CBC_256/HMAC_SHA2_256_128/NO_EXT_SEQ"
        );
    }

    #[test]
    fn transforms_round_trip() {
        let p = one("aes256-sha512-prfsha384-ecp384-modp4096", Protocol::Ike);
        let q = Proposal::from_transforms(Protocol::Ike, &p.transforms());
        assert_eq!(p, q);
    }

    #[test]
    fn unknown_ids_display() {
        assert_eq!(EncrId(999).to_string(), "UNKNOWN_ENCR_999");
        assert_eq!(format!("{:?}", KeId::CURVE_25519), "CURVE_25519(31)");
    }
}
