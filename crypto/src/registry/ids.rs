//! The identifiers (open newtypes over the IANA "IKEv2 Transform Type N" registries, with
//! strongSwan's names) and the transform and proposal structures made of them: the vocabulary
//! the algorithms in [`crate::transforms`] and [`crate::ke`] are keyed by. Depends on nothing
//! else of the crate.

use std::fmt;

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

    pub(super) fn push(&mut self, t: Transform) {
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
