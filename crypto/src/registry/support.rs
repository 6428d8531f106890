//! What iked implements of the registry: whether a transform can be used (asking
//! [`crate::transforms`] and [`crate::ke`], the one place that knows), and strongSwan's default
//! proposals restricted to it.

use super::ids::{
    Encr, EncrId, EsnId, IntegId, KeId, PrfId, Proposal, Protocol, Transform, TransformType,
};

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

impl Proposal {
    /// Transforms in this proposal that iked cannot use.
    pub fn unsupported(&self) -> Vec<Transform> {
        self.transforms()
            .into_iter()
            .filter(|t| !t.is_supported(self.protocol))
            .collect()
    }
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
