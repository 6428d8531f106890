//! Proposals and transforms as the engine negotiates them (RFC 7296 3.3).
//!
//! Contract: [`Proposal`] is an ordered set of transforms per type; [`select`] implements
//! strongSwan's selection (the first of *our* proposals, in our order unless the peer's order is
//! preferred, that shares one transform of every type with a peer proposal). Keyword parsing
//! ([`Proposal::parse`]) is `iked_crypto`'s registry; unknown keywords are an error, never
//! ignored. Types and protocols are `wire`'s code points ([`TransformType`], [`ProtocolId`]).
//!
//! Why a proposal type of its own, beside `iked_crypto::registry::Proposal` and
//! `wire::Proposal`: the three mean different things. The registry's is a configured
//! algorithm set, grouped by type, for IKE or ESP only, with no number and no SPI (what
//! `proposals = ...` says). `wire`'s is the substructure as received, with every attribute
//! kept. This one is what the engine negotiates with: the peer's proposal number and SPI
//! (which the answer must echo) and the transforms in the order they were offered, each
//! reduced to type, id and Key Length: the flat list [`select`] intersects type by type.
//! [`Proposal::from_registry`] and `message.rs`'s SA conversion are the two crossings.

use iked_crypto::registry;
use thiserror::Error;

use crate::wire::{self, ProtocolId, TransformType};

// The transform ids the engine names, as the `u16` its [`Transform::id`] holds: `wire`'s code
// points (`wire::codes`), not numbers of their own.

/// Encryption transform ids.
pub mod encr {
    /// AES-CBC (RFC 3602), keyed by the key length attribute.
    pub const AES_CBC: u16 = crate::wire::codes::encr::AES_CBC.0;
    /// AES-GCM with a 16-octet ICV (RFC 4106 / RFC 5282).
    pub const AES_GCM_16: u16 = crate::wire::codes::encr::AES_GCM_16.0;
}
/// PRF transform ids.
pub mod prf {
    /// HMAC-SHA2-256 (RFC 4868).
    pub const HMAC_SHA2_256: u16 = crate::wire::codes::prf::HMAC_SHA2_256.0;
}
/// Integrity transform ids.
pub mod integ {
    /// No integrity (AEAD ciphers).
    pub const NONE: u16 = crate::wire::codes::integ::NONE.0;
    /// HMAC-SHA2-256-128 (RFC 4868).
    pub const HMAC_SHA2_256_128: u16 = crate::wire::codes::integ::HMAC_SHA2_256_128.0;
}
/// Key exchange method ids.
pub mod ke {
    /// No key exchange.
    pub const NONE: u16 = crate::wire::codes::ke::NONE.0;
    /// 256-bit random ECP group (RFC 5903).
    pub const ECP_256: u16 = crate::wire::codes::ke::ECP_256.0;
    /// Curve25519 (RFC 8031).
    pub const CURVE_25519: u16 = crate::wire::codes::ke::CURVE_25519.0;
}
/// Extended sequence number transform ids.
pub mod esn {
    /// No extended sequence numbers.
    pub const NO: u16 = crate::wire::codes::esn::NO_ESN.0;
    /// Extended sequence numbers.
    pub const YES: u16 = crate::wire::codes::esn::ESN.0;
}

/// One transform: type, id and optional key length attribute (in bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transform {
    /// Transform type.
    pub kind: TransformType,
    /// Transform id within its type.
    pub id: u16,
    /// Key length attribute in bits, if present.
    pub key_len: Option<u16>,
}

impl Transform {
    /// Builds a transform without attributes.
    pub const fn new(kind: TransformType, id: u16) -> Self {
        Transform {
            kind,
            id,
            key_len: None,
        }
    }
    /// Builds a transform with a key length attribute.
    pub const fn with_key(kind: TransformType, id: u16, bits: u16) -> Self {
        Transform {
            kind,
            id,
            key_len: Some(bits),
        }
    }
}

/// A proposal: protocol, SPI (empty for an initial IKE proposal) and transforms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Proposal {
    /// Proposal number (1-based, as on the wire).
    pub number: u8,
    /// Protocol.
    pub protocol: ProtocolId,
    /// SPI carried in the proposal (8 octets for IKE rekeys, 4 for ESP, empty otherwise).
    pub spi: Vec<u8>,
    /// Transforms in preference order.
    pub transforms: Vec<Transform>,
}

/// Why a proposal string was rejected.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProposalError {
    /// The string is not a valid strongSwan proposal.
    #[error(transparent)]
    Parse(#[from] registry::ProposalError),
    /// Proposals for this protocol id are not negotiated by the engine.
    #[error("no proposals for protocol {}", .0.0)]
    Protocol(ProtocolId),
}

/// The algorithms a selected proposal stands for, one per type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    /// Encryption transform.
    pub encr: Transform,
    /// PRF id (IKE only; 0 for ESP).
    pub prf: u16,
    /// Integrity id (0 for AEAD).
    pub integ: u16,
    /// Key exchange method (0 if none).
    pub ke: u16,
    /// ESN (ESP only).
    pub esn: bool,
}

impl Proposal {
    /// Parses one strongSwan proposal string (`aes128-sha256-x25519`,
    /// `aes128gcm128-x25519-esn`) for `protocol` with `iked_crypto`'s keyword registry, which
    /// also completes it as strongSwan does (PRF implied by the integrity algorithm, no ESN by
    /// default). For the keyword `default`, the first of strongSwan's default proposals.
    pub fn parse(protocol: ProtocolId, text: &str) -> Result<Proposal, ProposalError> {
        let registry_protocol = protocol
            .to_registry()
            .ok_or(ProposalError::Protocol(protocol))?;
        let parsed = registry::parse_proposal(text, registry_protocol)?;
        let first = parsed.first().ok_or(registry::ProposalError::Empty)?;
        Ok(Self::from_registry(first, protocol))
    }

    /// The engine's form of a proposal parsed by `iked_crypto`'s registry (transforms in its
    /// order: encryption, integrity, PRF, key exchange, ESN).
    pub fn from_registry(p: &registry::Proposal, protocol: ProtocolId) -> Proposal {
        Proposal {
            number: 1,
            protocol,
            spi: Vec::new(),
            transforms: p
                .transforms()
                .into_iter()
                .map(|t| Transform {
                    kind: TransformType(t.kind.wire()),
                    id: t.id,
                    key_len: t.key_bits,
                })
                .collect(),
        }
    }

    /// Transforms of one type, in preference order.
    pub fn of_kind(&self, kind: TransformType) -> impl Iterator<Item = &Transform> {
        self.transforms.iter().filter(move |t| t.kind == kind)
    }

    /// The key exchange methods this proposal offers.
    pub fn ke_methods(&self) -> Vec<u16> {
        self.of_kind(TransformType::KE).map(|t| t.id).collect()
    }

    /// A copy without key exchange transforms (strongSwan strips KE from the CHILD_SA
    /// proposal carried in IKE_AUTH, where no key exchange takes place).
    pub fn without_ke(&self) -> Proposal {
        let mut p = self.clone();
        p.transforms.retain(|t| t.kind != TransformType::KE);
        p
    }

    /// Reduces a single-choice proposal to the algorithms it stands for.
    pub fn selected(&self) -> Option<Selected> {
        let encr = *self.of_kind(TransformType::ENCR).next()?;
        let first = |k| self.of_kind(k).next().map(|t| t.id);
        Some(Selected {
            encr,
            prf: first(TransformType::PRF).unwrap_or(0),
            integ: first(TransformType::INTEG).unwrap_or(integ::NONE),
            ke: first(TransformType::KE).unwrap_or(ke::NONE),
            esn: first(TransformType::ESN) == Some(esn::YES),
        })
    }

    /// strongSwan-style name of a selected proposal, e.g.
    /// `IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519`.
    pub fn describe(&self) -> String {
        let proto = match self.protocol {
            ProtocolId::IKE => "IKE",
            ProtocolId::ESP => "ESP",
            ProtocolId::AH => "AH",
            _ => "?",
        };
        let names: Vec<String> = self.transforms.iter().map(transform_name).collect();
        format!("{proto}:{}", names.join("/"))
    }
}

fn transform_name(t: &Transform) -> String {
    use TransformType as tt;
    let bits = t.key_len.map(|b| format!("_{b}")).unwrap_or_default();
    match (t.kind, t.id) {
        (tt::ENCR, encr::AES_CBC) => format!("AES_CBC{bits}"),
        (tt::ENCR, encr::AES_GCM_16) => format!("AES_GCM_16{bits}"),
        (tt::PRF, prf::HMAC_SHA2_256) => "PRF_HMAC_SHA2_256".into(),
        (tt::INTEG, integ::HMAC_SHA2_256_128) => "HMAC_SHA2_256_128".into(),
        (tt::KE, ke::CURVE_25519) => "CURVE_25519".into(),
        (tt::KE, ke::ECP_256) => "ECP_256".into(),
        (tt::ESN, esn::YES) => "EXT_SEQ".into(),
        (tt::ESN, esn::NO) => "NO_EXT_SEQ".into(),
        (kind, id) => format!("T{}:{id}", kind.0),
    }
}

/// Selects a proposal, strongSwan style: for each of `ours` in order, the first of `theirs`
/// offering a transform of every type ours has. The result carries the peer's proposal number
/// and SPI and exactly one transform per type. With `ke_required`, the result also has a key
/// exchange method when ours lists one (used for the KE-bearing exchanges).
pub fn select(ours: &[Proposal], theirs: &[Proposal]) -> Option<Proposal> {
    for mine in ours {
        for peer in theirs.iter().filter(|p| p.protocol == mine.protocol) {
            if let Some(p) = intersect(mine, peer) {
                return Some(p);
            }
        }
    }
    None
}

fn intersect(mine: &Proposal, peer: &Proposal) -> Option<Proposal> {
    // RFC 7296 3.3.6: a proposal with a transform type we do not understand is unacceptable
    // as a whole (as charon answers), not read without it.
    let known = [
        TransformType::ENCR,
        TransformType::INTEG,
        TransformType::PRF,
        TransformType::KE,
        TransformType::ESN,
    ];
    if peer.transforms.iter().any(|t| !known.contains(&t.kind)) {
        return None;
    }
    let mut kinds: Vec<TransformType> = mine.transforms.iter().map(|t| t.kind).collect();
    kinds.dedup();
    let mut peer_kinds: Vec<TransformType> = peer.transforms.iter().map(|t| t.kind).collect();
    peer_kinds.dedup();
    let mut chosen = Vec::new();
    for kind in [
        TransformType::ENCR,
        TransformType::INTEG,
        TransformType::PRF,
        TransformType::KE,
        TransformType::ESN,
    ] {
        let my_has = kinds.contains(&kind);
        let peer_has = peer_kinds.contains(&kind);
        match (my_has, peer_has) {
            (false, false) => continue,
            // A type only one side lists: acceptable only when it is "none" (KE in IKE_AUTH).
            (true, false) | (false, true) => {
                // KE may legitimately be absent on one side (no key exchange in IKE_AUTH);
                // whether the exchange needs one is the caller's decision.
                if kind == TransformType::KE {
                    continue;
                }
                let list = if my_has { mine } else { peer };
                if list.of_kind(kind).all(|t| t.id == 0) {
                    continue;
                }
                return None;
            }
            (true, true) => {
                let t = mine
                    .of_kind(kind)
                    .find(|m| peer.of_kind(kind).any(|p| p == *m))?;
                chosen.push(*t);
            }
        }
    }
    Some(Proposal {
        number: peer.number,
        protocol: peer.protocol,
        spi: peer.spi.clone(),
        transforms: chosen,
    })
}

/// The SA payload's proposal as the engine negotiates with it: each transform reduced to
/// type, id and Key Length (see the module doc for why this is a type of its own).
impl From<wire::Proposal> for Proposal {
    fn from(prop: wire::Proposal) -> Self {
        Proposal {
            number: prop.number,
            protocol: prop.protocol,
            transforms: prop
                .transforms
                .iter()
                .map(|t| Transform {
                    kind: t.transform_type,
                    id: t.id.0,
                    key_len: t.key_length(),
                })
                .collect(),
            spi: prop.spi,
        }
    }
}

impl From<&Proposal> for wire::Proposal {
    fn from(prop: &Proposal) -> Self {
        let transforms = prop
            .transforms
            .iter()
            .map(|t| {
                let (kind, id) = (t.kind, wire::TransformId(t.id));
                match t.key_len {
                    Some(bits) => wire::Transform::with_key_length(kind, id, bits),
                    None => wire::Transform::new(kind, id),
                }
            })
            .collect();
        wire::Proposal::new(prop.number, prop.protocol, prop.spi.clone(), transforms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_proposals() {
        let ike = Proposal::parse(ProtocolId::IKE, "aes128-sha256-x25519").unwrap();
        assert_eq!(
            ike.describe(),
            "IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519"
        );
        let esp = Proposal::parse(ProtocolId::ESP, "aes128gcm128-x25519-esn").unwrap();
        assert_eq!(esp.describe(), "ESP:AES_GCM_16_128/CURVE_25519/EXT_SEQ");
        assert!(matches!(
            Proposal::parse(ProtocolId::IKE, "aes128-sha257-x25519"),
            Err(ProposalError::Parse(registry::ProposalError::UnknownKeyword(k))) if k == "sha257"
        ));
        assert!(Proposal::parse(ProtocolId::IKE, "aes128-sha256").is_err());
    }

    #[test]
    fn selection_follows_our_preference_and_requires_every_type() {
        let ours = vec![
            Proposal::parse(ProtocolId::IKE, "aes256-sha256-x25519").unwrap(),
            Proposal::parse(ProtocolId::IKE, "aes128-sha256-x25519").unwrap(),
        ];
        let mut theirs = Proposal::parse(ProtocolId::IKE, "aes128-sha256-ecp256-x25519").unwrap();
        theirs.number = 3;
        let s = select(&ours, &[theirs]).unwrap();
        assert_eq!(s.number, 3);
        assert_eq!(s.selected().unwrap().encr.key_len, Some(128));
        assert_eq!(s.selected().unwrap().ke, ke::CURVE_25519);
        let only_ecp = Proposal::parse(ProtocolId::IKE, "aes128-sha256-ecp256").unwrap();
        assert!(select(&ours, &[only_ecp]).is_none());
    }

    #[test]
    fn esp_without_ke_matches_a_pfs_proposal_in_ike_auth() {
        let ours = vec![Proposal::parse(ProtocolId::ESP, "aes128gcm128-x25519-esn").unwrap()];
        let theirs = ours[0].without_ke();
        let s = select(&ours, &[theirs]).unwrap().selected().unwrap();
        assert_eq!(s.ke, ke::NONE);
        assert!(s.esn);
    }
}
