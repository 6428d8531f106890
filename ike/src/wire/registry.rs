//! Adapter between wire transforms and the crypto crate's typed registry
//! (`iked_crypto::registry`).
//!
//! Contract: the wire keeps every transform as received; this module gives the registry's view
//! of the ones it models and builds wire proposals from registry proposals in strongSwan's
//! transform order (ENCR, INTEG, PRF, KE, ESN). A transform with any attribute other than a
//! short-form Key Length has no registry view: RFC 7296 section 3.3.6 makes a transform with
//! an unrecognised attribute unacceptable, so the engine must skip it.

use iked_crypto::registry;

use super::codes::{ProtocolId, TransformAttributeType, TransformId, TransformType};
use super::sa::{AttributeValue, Proposal, Transform};

impl ProtocolId {
    /// The registry protocol, for IKE and ESP.
    pub fn to_registry(self) -> Option<registry::Protocol> {
        match self {
            Self::IKE => Some(registry::Protocol::Ike),
            Self::ESP => Some(registry::Protocol::Esp),
            _ => None,
        }
    }

    pub fn from_registry(protocol: registry::Protocol) -> Self {
        Self(protocol.wire())
    }
}

impl Transform {
    /// The registry's view, or `None` for transform types it does not model and for transforms
    /// with attributes other than one short-form Key Length.
    pub fn to_registry(&self) -> Option<registry::Transform> {
        let kind = registry::TransformType::from_wire(self.transform_type.0)?;
        let mut key_bits = None;
        for attribute in &self.attributes {
            match attribute.value {
                AttributeValue::Short(bits)
                    if attribute.attribute_type == TransformAttributeType::KEY_LENGTH
                        && key_bits.is_none() =>
                {
                    key_bits = Some(bits);
                }
                _ => return None,
            }
        }
        Some(registry::Transform {
            kind,
            id: self.id.0,
            key_bits,
        })
    }

    /// The wire form of a registry transform (Key Length as a short attribute).
    pub fn from_registry(transform: &registry::Transform) -> Self {
        let transform_type = TransformType(transform.kind.wire());
        let id = TransformId(transform.id);
        match transform.key_bits {
            Some(bits) => Self::with_key_length(transform_type, id, bits),
            None => Self::new(transform_type, id),
        }
    }
}

impl Proposal {
    /// A wire proposal from a registry proposal, transforms in strongSwan's order.
    ///
    /// `include_ke` is false for the child proposal in IKE_AUTH, which carries no key
    /// exchange (RFC 7296 section 1.2); charon leaves the KE transforms out there.
    pub fn from_registry(
        number: u8,
        spi: Vec<u8>,
        proposal: &registry::Proposal,
        include_ke: bool,
    ) -> Self {
        let mut transforms = Vec::new();
        for encr in &proposal.encryption {
            let id = TransformId(encr.id.0);
            transforms.push(match encr.key_bits {
                Some(bits) => Transform::with_key_length(TransformType::ENCR, id, bits),
                None => Transform::new(TransformType::ENCR, id),
            });
        }
        for integ in &proposal.integrity {
            transforms.push(Transform::new(TransformType::INTEG, TransformId(integ.0)));
        }
        for prf in &proposal.prf {
            transforms.push(Transform::new(TransformType::PRF, TransformId(prf.0)));
        }
        if include_ke {
            for ke in &proposal.ke {
                transforms.push(Transform::new(TransformType::KE, TransformId(ke.0)));
            }
        }
        for esn in &proposal.esn {
            transforms.push(Transform::new(TransformType::ESN, TransformId(esn.0)));
        }
        Self::new(
            number,
            ProtocolId::from_registry(proposal.protocol),
            spi,
            transforms,
        )
    }

    /// The registry views of this proposal's transforms, in wire order; `None` entries are
    /// transforms the engine cannot select.
    pub fn registry_transforms(&self) -> impl Iterator<Item = Option<registry::Transform>> + '_ {
        self.transforms.iter().map(Transform::to_registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::codes::{encr, esn, integ, ke, prf};

    #[test]
    fn seed_proposals_build_the_transforms_charon_sends() {
        // The transform lists are the ones in tests/captures/seed-child (IKE_SA_INIT request
        // and the bf-in child proposal of the IKE_AUTH request).
        let ike = registry::parse_proposal("aes128-sha256-x25519", registry::Protocol::Ike)
            .expect("seed IKE proposal parses");
        let wire = Proposal::from_registry(1, Vec::new(), &ike[0], true);
        let got: Vec<_> = wire
            .transforms
            .iter()
            .map(|t| (t.transform_type, t.id, t.key_length()))
            .collect();
        assert_eq!(
            got,
            vec![
                (TransformType::ENCR, encr::AES_CBC, Some(128)),
                (TransformType::INTEG, integ::HMAC_SHA2_256_128, None),
                (TransformType::PRF, prf::HMAC_SHA2_256, None),
                (TransformType::KE, ke::CURVE_25519, None),
            ]
        );
        let esp = registry::parse_proposal("aes128gcm128-x25519-esn", registry::Protocol::Esp)
            .expect("seed ESP proposal parses");
        let child = Proposal::from_registry(1, vec![1, 2, 3, 4], &esp[0], false);
        let got: Vec<_> = child
            .transforms
            .iter()
            .map(|t| (t.transform_type, t.id, t.key_length()))
            .collect();
        assert_eq!(
            got,
            vec![
                (TransformType::ENCR, encr::AES_GCM_16, Some(128)),
                (TransformType::ESN, esn::ESN, None),
            ]
        );
        for t in &wire.transforms {
            let r = t.to_registry().expect("modelled transform");
            assert_eq!(&Transform::from_registry(&r), t);
        }
    }

    #[test]
    fn unknown_attributes_and_types_have_no_registry_view() {
        let mut t = Transform::with_key_length(TransformType::ENCR, encr::AES_CBC, 128);
        t.attributes.push(crate::wire::TransformAttribute {
            attribute_type: TransformAttributeType(99),
            value: AttributeValue::Short(1),
        });
        assert!(t.to_registry().is_none());
        assert!(
            Transform::new(TransformType::ADDKE1, ke::ML_KEM_768)
                .to_registry()
                .is_none()
        );
    }
}
