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
//!
//! Layout, each file depending only on those after it: `proposal` (parsing), `support` (what
//! iked implements, asking [`crate::transforms`] and [`crate::ke`]), `ids` (the identifiers and
//! structures, which the algorithm modules import directly, so no import runs back up).

pub(crate) mod ids;
mod proposal;
mod support;

pub use ids::{
    Encr, EncrId, EsnId, IntegId, KeId, PrfId, Proposal, Protocol, Transform, TransformType,
};
pub use proposal::{Keyword, ProposalError, lookup_keyword, parse_proposal};
pub use support::default_proposals;

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
