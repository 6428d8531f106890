//! IANA IKEv2 registries as open newtypes.
//!
//! Contract: every code point on the wire is a newtype over its wire integer, so values we do
//! not know survive decoding and re-encoding unchanged (rustls-style "open enums"). Named
//! constants cover the IANA "Internet Key Exchange Version 2 (IKEv2) Parameters" registry entries
//! that strongSwan knows, plus strongSwan's private-use values where charon sends them.
//! `name()` gives the IANA name; `Debug`/`Display` print it, or the number when unknown.
//! Transform ids are plain [`TransformId`]s whose meaning depends on the [`TransformType`];
//! typed views live in the crypto crate's registry.

use core::fmt;

/// Declares an open newtype over a wire integer with named constants.
macro_rules! open_code {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$cmeta:meta])* $konst:ident = $val:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: Self = Self($val); )*

            /// The registry name of this value, or `None` for a value we have no name for.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some(stringify!($konst)), )*
                    _ => None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "({})", self.0),
                }
            }
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                Self(value)
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

open_code! {
    /// Exchange Type (RFC 7296 section 3.1; IANA "IKEv2 Exchange Types").
    ExchangeType(u8) {
        IKE_SA_INIT = 34,
        IKE_AUTH = 35,
        CREATE_CHILD_SA = 36,
        INFORMATIONAL = 37,
        /// RFC 5723.
        IKE_SESSION_RESUME = 38,
        /// RFC 9838 (G-IKEv2).
        GSA_AUTH = 39,
        GSA_REGISTRATION = 40,
        GSA_REKEY = 41,
        GSA_INBAND_REKEY = 42,
        /// RFC 9242.
        IKE_INTERMEDIATE = 43,
        /// RFC 9370.
        IKE_FOLLOWUP_KE = 44,
    }
}

open_code! {
    /// Payload Type (RFC 7296 section 3.2; IANA "IKEv2 Payload Types").
    PayloadType(u8) {
        /// "No Next Payload".
        NONE = 0,
        SECURITY_ASSOCIATION = 33,
        KEY_EXCHANGE = 34,
        ID_INITIATOR = 35,
        ID_RESPONDER = 36,
        CERTIFICATE = 37,
        CERTIFICATE_REQUEST = 38,
        AUTHENTICATION = 39,
        NONCE = 40,
        NOTIFY = 41,
        DELETE = 42,
        VENDOR_ID = 43,
        TS_INITIATOR = 44,
        TS_RESPONDER = 45,
        /// SK, RFC 7296 section 3.14.
        ENCRYPTED = 46,
        CONFIGURATION = 47,
        EAP = 48,
        /// RFC 6467.
        GSPM = 49,
        GROUP_ID = 50,
        GROUP_SECURITY_ASSOCIATION = 51,
        KEY_DOWNLOAD = 52,
        /// SKF, RFC 7383.
        ENCRYPTED_FRAGMENT = 53,
        /// RFC 8019 puzzle solution.
        PUZZLE_SOLUTION = 54,
    }
}

open_code! {
    /// Security Protocol Identifier (RFC 7296 section 3.3.1).
    ProtocolId(u8) {
        /// Used in notifies that concern no particular SA.
        NONE = 0,
        IKE = 1,
        AH = 2,
        ESP = 3,
    }
}

open_code! {
    /// Transform Type (RFC 7296 section 3.3.2; RFC 9370 additional key exchanges).
    TransformType(u8) {
        ENCR = 1,
        PRF = 2,
        INTEG = 3,
        /// "Key Exchange Method", formerly "Diffie-Hellman Group".
        KE = 4,
        /// Extended Sequence Numbers; RFC 9827 renamed it "Sequence Numbers".
        ESN = 5,
        ADDKE1 = 6,
        ADDKE2 = 7,
        ADDKE3 = 8,
        ADDKE4 = 9,
        ADDKE5 = 10,
        ADDKE6 = 11,
        ADDKE7 = 12,
    }
}

/// A transform id; its meaning depends on the [`TransformType`] it appears with.
///
/// The well-known values are in the [`encr`], [`prf`], [`integ`], [`ke`] and [`esn`] modules.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct TransformId(pub u16);

/// Encryption algorithm transform ids (IANA "Transform Type 1").
pub mod encr {
    use super::TransformId;
    pub const DES_IV64: TransformId = TransformId(1);
    pub const DES: TransformId = TransformId(2);
    pub const DES3: TransformId = TransformId(3);
    pub const RC5: TransformId = TransformId(4);
    pub const IDEA: TransformId = TransformId(5);
    pub const CAST: TransformId = TransformId(6);
    pub const BLOWFISH: TransformId = TransformId(7);
    pub const THREE_IDEA: TransformId = TransformId(8);
    pub const DES_IV32: TransformId = TransformId(9);
    pub const NULL: TransformId = TransformId(11);
    pub const AES_CBC: TransformId = TransformId(12);
    pub const AES_CTR: TransformId = TransformId(13);
    pub const AES_CCM_8: TransformId = TransformId(14);
    pub const AES_CCM_12: TransformId = TransformId(15);
    pub const AES_CCM_16: TransformId = TransformId(16);
    pub const AES_GCM_8: TransformId = TransformId(18);
    pub const AES_GCM_12: TransformId = TransformId(19);
    pub const AES_GCM_16: TransformId = TransformId(20);
    pub const NULL_AUTH_AES_GMAC: TransformId = TransformId(21);
    pub const CAMELLIA_CBC: TransformId = TransformId(23);
    pub const CAMELLIA_CTR: TransformId = TransformId(24);
    pub const CAMELLIA_CCM_8: TransformId = TransformId(25);
    pub const CAMELLIA_CCM_12: TransformId = TransformId(26);
    pub const CAMELLIA_CCM_16: TransformId = TransformId(27);
    pub const CHACHA20_POLY1305: TransformId = TransformId(28);
}

/// Pseudo-random function transform ids (IANA "Transform Type 2").
pub mod prf {
    use super::TransformId;
    pub const HMAC_MD5: TransformId = TransformId(1);
    pub const HMAC_SHA1: TransformId = TransformId(2);
    pub const HMAC_TIGER: TransformId = TransformId(3);
    pub const AES128_XCBC: TransformId = TransformId(4);
    pub const HMAC_SHA2_256: TransformId = TransformId(5);
    pub const HMAC_SHA2_384: TransformId = TransformId(6);
    pub const HMAC_SHA2_512: TransformId = TransformId(7);
    pub const AES128_CMAC: TransformId = TransformId(8);
}

/// Integrity algorithm transform ids (IANA "Transform Type 3").
pub mod integ {
    use super::TransformId;
    pub const NONE: TransformId = TransformId(0);
    pub const HMAC_MD5_96: TransformId = TransformId(1);
    pub const HMAC_SHA1_96: TransformId = TransformId(2);
    pub const DES_MAC: TransformId = TransformId(3);
    pub const KPDK_MD5: TransformId = TransformId(4);
    pub const AES_XCBC_96: TransformId = TransformId(5);
    pub const HMAC_MD5_128: TransformId = TransformId(6);
    pub const HMAC_SHA1_160: TransformId = TransformId(7);
    pub const AES_CMAC_96: TransformId = TransformId(8);
    pub const AES_128_GMAC: TransformId = TransformId(9);
    pub const AES_192_GMAC: TransformId = TransformId(10);
    pub const AES_256_GMAC: TransformId = TransformId(11);
    pub const HMAC_SHA2_256_128: TransformId = TransformId(12);
    pub const HMAC_SHA2_384_192: TransformId = TransformId(13);
    pub const HMAC_SHA2_512_256: TransformId = TransformId(14);
}

/// Key exchange method transform ids (IANA "Transform Type 4").
pub mod ke {
    use super::TransformId;
    pub const NONE: TransformId = TransformId(0);
    pub const MODP_768: TransformId = TransformId(1);
    pub const MODP_1024: TransformId = TransformId(2);
    pub const MODP_1536: TransformId = TransformId(5);
    pub const MODP_2048: TransformId = TransformId(14);
    pub const MODP_3072: TransformId = TransformId(15);
    pub const MODP_4096: TransformId = TransformId(16);
    pub const MODP_6144: TransformId = TransformId(17);
    pub const MODP_8192: TransformId = TransformId(18);
    pub const ECP_256: TransformId = TransformId(19);
    pub const ECP_384: TransformId = TransformId(20);
    pub const ECP_521: TransformId = TransformId(21);
    pub const MODP_1024_160: TransformId = TransformId(22);
    pub const MODP_2048_224: TransformId = TransformId(23);
    pub const MODP_2048_256: TransformId = TransformId(24);
    pub const ECP_192: TransformId = TransformId(25);
    pub const ECP_224: TransformId = TransformId(26);
    pub const ECP_224_BP: TransformId = TransformId(27);
    pub const ECP_256_BP: TransformId = TransformId(28);
    pub const ECP_384_BP: TransformId = TransformId(29);
    pub const ECP_512_BP: TransformId = TransformId(30);
    pub const CURVE_25519: TransformId = TransformId(31);
    pub const CURVE_448: TransformId = TransformId(32);
    pub const ML_KEM_512: TransformId = TransformId(35);
    pub const ML_KEM_768: TransformId = TransformId(36);
    pub const ML_KEM_1024: TransformId = TransformId(37);
}

/// Sequence number transform ids (IANA "Transform Type 5").
pub mod esn {
    use super::TransformId;
    pub const NO_ESN: TransformId = TransformId(0);
    pub const ESN: TransformId = TransformId(1);
}

open_code! {
    /// Transform attribute type (RFC 7296 section 3.3.5), the low 15 bits of the type field.
    TransformAttributeType(u16) {
        KEY_LENGTH = 14,
    }
}

open_code! {
    /// Identification type (RFC 7296 section 3.5; RFC 4595; RFC 7619).
    IdType(u8) {
        ID_IPV4_ADDR = 1,
        ID_FQDN = 2,
        ID_RFC822_ADDR = 3,
        ID_IPV6_ADDR = 5,
        ID_DER_ASN1_DN = 9,
        ID_DER_ASN1_GN = 10,
        ID_KEY_ID = 11,
        ID_FC_NAME = 12,
        ID_NULL = 13,
    }
}

open_code! {
    /// Authentication method (RFC 7296 section 3.8; RFC 4754; RFC 7427; RFC 7619).
    AuthMethod(u8) {
        RSA_DIGITAL_SIGNATURE = 1,
        SHARED_KEY_MESSAGE_INTEGRITY_CODE = 2,
        DSS_DIGITAL_SIGNATURE = 3,
        ECDSA_SHA256_P256 = 9,
        ECDSA_SHA384_P384 = 10,
        ECDSA_SHA512_P521 = 11,
        GENERIC_SECURE_PASSWORD = 12,
        NULL_AUTHENTICATION = 13,
        DIGITAL_SIGNATURE = 14,
    }
}

open_code! {
    /// Certificate encoding (RFC 7296 section 3.6; RFC 7670).
    CertEncoding(u8) {
        PKCS7_WRAPPED_X509 = 1,
        PGP = 2,
        DNS_SIGNED_KEY = 3,
        X509_SIGNATURE = 4,
        KERBEROS_TOKEN = 6,
        CRL = 7,
        ARL = 8,
        SPKI = 9,
        X509_ATTRIBUTE = 10,
        RAW_RSA_KEY = 11,
        HASH_URL_X509_CERT = 12,
        HASH_URL_X509_BUNDLE = 13,
        OCSP_CONTENT = 14,
        RAW_PUBLIC_KEY = 15,
    }
}

open_code! {
    /// Traffic selector type (RFC 7296 section 3.13.1; RFC 4595; RFC 9478).
    TsType(u8) {
        TS_IPV4_ADDR_RANGE = 7,
        TS_IPV6_ADDR_RANGE = 8,
        TS_FC_ADDR_RANGE = 9,
        TS_SECLABEL = 10,
    }
}

open_code! {
    /// Configuration payload type (RFC 7296 section 3.15).
    CfgType(u8) {
        CFG_REQUEST = 1,
        CFG_REPLY = 2,
        CFG_SET = 3,
        CFG_ACK = 4,
    }
}

open_code! {
    /// Configuration attribute type (RFC 7296 section 3.15.1 and later RFCs), 15 bits.
    ConfigAttributeType(u16) {
        INTERNAL_IP4_ADDRESS = 1,
        INTERNAL_IP4_NETMASK = 2,
        INTERNAL_IP4_DNS = 3,
        INTERNAL_IP4_NBNS = 4,
        INTERNAL_ADDRESS_EXPIRY = 5,
        INTERNAL_IP4_DHCP = 6,
        APPLICATION_VERSION = 7,
        INTERNAL_IP6_ADDRESS = 8,
        INTERNAL_IP6_NETMASK = 9,
        INTERNAL_IP6_DNS = 10,
        INTERNAL_IP6_NBNS = 11,
        INTERNAL_IP6_DHCP = 12,
        INTERNAL_IP4_SUBNET = 13,
        SUPPORTED_ATTRIBUTES = 14,
        INTERNAL_IP6_SUBNET = 15,
        MIP6_HOME_PREFIX = 16,
        INTERNAL_IP6_LINK = 17,
        INTERNAL_IP6_PREFIX = 18,
        HOME_AGENT_ADDRESS = 19,
        P_CSCF_IP4_ADDRESS = 20,
        P_CSCF_IP6_ADDRESS = 21,
        FTT_KAT = 22,
        EXTERNAL_SOURCE_IP4_NAT_INFO = 23,
        TIMEOUT_PERIOD_FOR_LIVENESS_CHECK = 24,
        INTERNAL_DNS_DOMAIN = 25,
        INTERNAL_DNSSEC_TA = 26,
        ENCDNS_IP4 = 27,
        ENCDNS_IP6 = 28,
        ENCDNS_DIGEST_INFO = 29,
    }
}

open_code! {
    /// Hash algorithm for RFC 7427 signatures (the SIGNATURE_HASH_ALGORITHMS notify data).
    HashAlgorithm(u16) {
        SHA1 = 1,
        SHA2_256 = 2,
        SHA2_384 = 3,
        SHA2_512 = 4,
        IDENTITY = 5,
        STREEBOG_256 = 6,
        STREEBOG_512 = 7,
    }
}

open_code! {
    /// Notify Message Type (RFC 7296 section 3.10.1 and later RFCs; strongSwan private use).
    ///
    /// Values below 16384 are errors; 16384 and above are status types.
    NotifyType(u16) {
        UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        INVALID_IKE_SPI = 4,
        INVALID_MAJOR_VERSION = 5,
        INVALID_SYNTAX = 7,
        INVALID_MESSAGE_ID = 9,
        INVALID_SPI = 11,
        NO_PROPOSAL_CHOSEN = 14,
        INVALID_KE_PAYLOAD = 17,
        AUTHENTICATION_FAILED = 24,
        SINGLE_PAIR_REQUIRED = 34,
        NO_ADDITIONAL_SAS = 35,
        INTERNAL_ADDRESS_FAILURE = 36,
        FAILED_CP_REQUIRED = 37,
        TS_UNACCEPTABLE = 38,
        INVALID_SELECTORS = 39,
        UNACCEPTABLE_ADDRESSES = 40,
        UNEXPECTED_NAT_DETECTED = 41,
        USE_ASSIGNED_HOA = 42,
        TEMPORARY_FAILURE = 43,
        CHILD_SA_NOT_FOUND = 44,
        INVALID_GROUP_ID = 45,
        AUTHORIZATION_FAILED = 46,
        STATE_NOT_FOUND = 47,
        TS_MAX_QUEUE = 48,
        /// strongSwan private use (mediation).
        ME_CONNECT_FAILED = 8192,
        /// Microsoft private use.
        MS_NOTIFY_STATUS = 12345,
        INITIAL_CONTACT = 16384,
        SET_WINDOW_SIZE = 16385,
        ADDITIONAL_TS_POSSIBLE = 16386,
        IPCOMP_SUPPORTED = 16387,
        NAT_DETECTION_SOURCE_IP = 16388,
        NAT_DETECTION_DESTINATION_IP = 16389,
        COOKIE = 16390,
        USE_TRANSPORT_MODE = 16391,
        HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        REKEY_SA = 16393,
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        NON_FIRST_FRAGMENTS_ALSO = 16395,
        /// RFC 4555.
        MOBIKE_SUPPORTED = 16396,
        ADDITIONAL_IP4_ADDRESS = 16397,
        ADDITIONAL_IP6_ADDRESS = 16398,
        NO_ADDITIONAL_ADDRESSES = 16399,
        UPDATE_SA_ADDRESSES = 16400,
        COOKIE2 = 16401,
        NO_NATS_ALLOWED = 16402,
        /// RFC 4478.
        AUTH_LIFETIME = 16403,
        /// RFC 4739.
        MULTIPLE_AUTH_SUPPORTED = 16404,
        ANOTHER_AUTH_FOLLOWS = 16405,
        /// RFC 5685.
        REDIRECT_SUPPORTED = 16406,
        REDIRECT = 16407,
        REDIRECTED_FROM = 16408,
        TICKET_LT_OPAQUE = 16409,
        TICKET_REQUEST = 16410,
        TICKET_ACK = 16411,
        TICKET_NACK = 16412,
        TICKET_OPAQUE = 16413,
        LINK_ID = 16414,
        USE_WESP_MODE = 16415,
        ROHC_SUPPORTED = 16416,
        /// RFC 5998.
        EAP_ONLY_AUTHENTICATION = 16417,
        /// RFC 6023.
        CHILDLESS_IKEV2_SUPPORTED = 16418,
        QUICK_CRASH_DETECTION = 16419,
        /// RFC 6311.
        IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420,
        IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED = 16421,
        IKEV2_MESSAGE_ID_SYNC = 16422,
        IPSEC_REPLAY_COUNTER_SYNC = 16423,
        SECURE_PASSWORD_METHODS = 16424,
        PSK_PERSIST = 16425,
        PSK_CONFIRM = 16426,
        ERX_SUPPORTED = 16427,
        IFOM_CAPABILITY = 16428,
        SENDER_REQUEST_ID = 16429,
        /// RFC 7383.
        IKEV2_FRAGMENTATION_SUPPORTED = 16430,
        /// RFC 7427.
        SIGNATURE_HASH_ALGORITHMS = 16431,
        CLONE_IKE_SA_SUPPORTED = 16432,
        CLONE_IKE_SA = 16433,
        PUZZLE = 16434,
        /// RFC 8784.
        USE_PPK = 16435,
        PPK_IDENTITY = 16436,
        NO_PPK_AUTH = 16437,
        /// RFC 9242.
        INTERMEDIATE_EXCHANGE_SUPPORTED = 16438,
        IP4_ALLOWED = 16439,
        IP6_ALLOWED = 16440,
        /// RFC 9370.
        ADDITIONAL_KEY_EXCHANGE = 16441,
        USE_AGGFRAG = 16442,
        SUPPORTED_AUTH_METHODS = 16443,
        SA_RESOURCE_INFO = 16444,
        USE_PPK_INT = 16445,
        PPK_IDENTITY_KEY = 16446,
        /// IKEv1 INITIAL-CONTACT, which strongSwan also knows.
        INITIAL_CONTACT_IKEV1 = 24578,
        DPD_R_U_THERE = 36136,
        DPD_R_U_THERE_ACK = 36137,
        UNITY_LOAD_BALANCE = 40501,
        /// strongSwan private use.
        USE_BEET_MODE = 40961,
        ME_MEDIATION = 40962,
        ME_ENDPOINT = 40963,
        ME_CALLBACK = 40964,
        ME_CONNECTID = 40965,
        ME_CONNECTKEY = 40966,
        ME_CONNECTAUTH = 40967,
        ME_RESPONSE = 40968,
        RADIUS_ATTRIBUTE = 40969,
    }
}

impl NotifyType {
    /// Error types occupy 0..16384 (RFC 7296 section 3.10.1).
    pub const fn is_error(self) -> bool {
        self.0 < 16384
    }
}

impl PayloadType {
    /// Whether this codec parses the payload's body (IKEv2 payloads 33..=48 and 53).
    ///
    /// Others, including the G-IKEv2 payloads, are kept as
    /// [`UnknownPayload`](super::UnknownPayload)s.
    pub const fn is_known(self) -> bool {
        matches!(self.0, 33..=48 | 53)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_codes_name_known_values_and_keep_unknown_ones() {
        assert_eq!(NotifyType(16388), NotifyType::NAT_DETECTION_SOURCE_IP);
        assert_eq!(
            NotifyType::NAT_DETECTION_SOURCE_IP.name(),
            Some("NAT_DETECTION_SOURCE_IP")
        );
        assert_eq!(NotifyType(60000).name(), None);
        assert_eq!(format!("{:?}", NotifyType(60000)), "NotifyType(60000)");
        assert_eq!(ExchangeType::IKE_AUTH.to_string(), "IKE_AUTH");
        assert_eq!(ExchangeType(99).to_string(), "(99)");
        assert!(NotifyType::NO_PROPOSAL_CHOSEN.is_error());
        assert!(!NotifyType::COOKIE.is_error());
        assert!(PayloadType::ENCRYPTED_FRAGMENT.is_known());
        assert!(!PayloadType::GSPM.is_known());
    }
}
