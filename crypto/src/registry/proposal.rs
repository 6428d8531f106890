//! Proposal strings: strongSwan's keyword table and `proposal_create_from_string()` +
//! `check_proposal()`.

use thiserror::Error;

use super::ids::{
    EncrId, EsnId, IntegId, KeId, PrfId, Proposal, Protocol, Transform, TransformType,
};
use super::support::default_proposals;

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
