//! Security Association payload: proposals, transforms, attributes (RFC 7296 section 3.3).
//!
//! Contract: decoding checks every length, the "last substructure" markers (0 for the last
//! proposal/transform, 2/3 before it), the declared transform count and the limits
//! [`MAX_PROPOSALS`], [`MAX_TRANSFORMS`], [`MAX_ATTRIBUTES`]. Reserved octets are kept so that
//! re-encoding reproduces the input. Attributes keep their TV/TLV form.

use super::codes::{ProtocolId, TransformAttributeType, TransformId, TransformType};
use super::error::{EncodeError, WireError, WireErrorKind};
use super::reader::{Reader, limit, u8_count, u16_len};

/// Most proposals accepted in one SA payload: Proposal Num is one octet, starting at 1 and
/// incremented by one (RFC 7296 3.3.1), so no legal SA payload has more.
pub const MAX_PROPOSALS: usize = u8::MAX as usize;
/// Most transforms accepted in one proposal: what the one-octet Num Transforms field can
/// declare (RFC 7296 3.3.1), so a legal proposal is never refused (charon takes them all).
pub const MAX_TRANSFORMS: usize = u8::MAX as usize;
/// Most attributes accepted on one transform: as many 4-octet (TV) attributes as a transform's
/// 16-bit length can hold, so the format, not a cap, is the limit.
pub const MAX_ATTRIBUTES: usize = (u16::MAX as usize - 8) / 4;

const PROPOSAL_MORE: u8 = 2;
const TRANSFORM_MORE: u8 = 3;

/// The SA payload body: a list of proposals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityAssociation {
    pub proposals: Vec<Proposal>,
}

/// One proposal substructure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal Num: 1 for the first, incremented by one (RFC 7296 section 3.3.1).
    pub number: u8,
    pub protocol: ProtocolId,
    /// Empty in IKE_SA_INIT, the new IKE SPI (8) when rekeying an IKE SA, 4 octets for ESP/AH.
    pub spi: Vec<u8>,
    pub transforms: Vec<Transform>,
    /// The octet after "last substructure", reserved.
    pub reserved: u8,
}

/// One transform substructure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    pub transform_type: TransformType,
    pub id: TransformId,
    pub attributes: Vec<TransformAttribute>,
    /// The two reserved octets (after "last substructure" and after the type).
    pub reserved: [u8; 2],
}

/// One transform attribute; the AF bit selects the short (TV) or long (TLV) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformAttribute {
    /// The 15-bit attribute type.
    pub attribute_type: TransformAttributeType,
    pub value: AttributeValue,
}

/// An attribute value in its wire form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// AF=1: a 16-bit value in the attribute header.
    Short(u16),
    /// AF=0: a length-prefixed value.
    Long(Vec<u8>),
}

impl Proposal {
    /// A proposal without SPI-specific reserved bits.
    pub fn new(number: u8, protocol: ProtocolId, spi: Vec<u8>, transforms: Vec<Transform>) -> Self {
        Self {
            number,
            protocol,
            spi,
            transforms,
            reserved: 0,
        }
    }

    /// The transforms of one type, in order.
    pub fn transforms_of(&self, transform_type: TransformType) -> impl Iterator<Item = &Transform> {
        self.transforms
            .iter()
            .filter(move |t| t.transform_type == transform_type)
    }
}

impl Transform {
    /// A transform without attributes.
    pub fn new(transform_type: TransformType, id: TransformId) -> Self {
        Self {
            transform_type,
            id,
            attributes: Vec::new(),
            reserved: [0; 2],
        }
    }

    /// A transform with a Key Length attribute (short form), as for AES-CBC/GCM.
    pub fn with_key_length(transform_type: TransformType, id: TransformId, bits: u16) -> Self {
        let mut t = Self::new(transform_type, id);
        t.attributes.push(TransformAttribute {
            attribute_type: TransformAttributeType::KEY_LENGTH,
            value: AttributeValue::Short(bits),
        });
        t
    }

    /// The Key Length attribute, if present in short form.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a.value {
            AttributeValue::Short(v) if a.attribute_type == TransformAttributeType::KEY_LENGTH => {
                Some(v)
            }
            _ => None,
        })
    }
}

impl SecurityAssociation {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let mut proposals = Vec::new();
        let mut more = !r.is_empty();
        if !more {
            return Err(r.error(WireErrorKind::CountMismatch {
                what: "SA proposals",
                declared: 1,
                found: 0,
            }));
        }
        while more {
            if proposals.len() >= MAX_PROPOSALS {
                return Err(r.error(WireErrorKind::LimitExceeded {
                    what: "proposals",
                    limit: MAX_PROPOSALS,
                }));
            }
            let start = r.offset();
            let last = r.u8("proposal last-substructure")?;
            let reserved = r.u8("proposal reserved")?;
            let length = usize::from(r.u16("proposal length")?);
            if length < 8 {
                return Err(WireError::new(
                    start.saturating_add(2),
                    WireErrorKind::LengthTooShort {
                        what: "proposal",
                        length,
                        minimum: 8,
                    },
                ));
            }
            let mut body = r.sub(length.saturating_sub(4), "proposal")?;
            more = match last {
                PROPOSAL_MORE => true,
                0 => false,
                other => {
                    return Err(WireError::new(
                        start,
                        WireErrorKind::InvalidValue {
                            field: "proposal last-substructure",
                            value: u64::from(other),
                        },
                    ));
                }
            };
            if more == r.is_empty() {
                // The marker must agree with whether bytes follow in the SA payload.
                return Err(WireError::new(
                    start,
                    WireErrorKind::InvalidValue {
                        field: "proposal last-substructure",
                        value: u64::from(last),
                    },
                ));
            }
            proposals.push(Proposal::decode(&mut body, reserved)?);
        }
        Ok(Self { proposals })
    }

    pub(crate) fn body_len(&self) -> Result<usize, EncodeError> {
        if self.proposals.is_empty() {
            return Err(EncodeError::Invalid {
                field: "SA payload",
                reason: "needs at least one proposal",
            });
        }
        limit("proposals", self.proposals.len(), MAX_PROPOSALS)?;
        let mut total = 0usize;
        for p in &self.proposals {
            total = p.encoded_len()?.saturating_add(total);
        }
        Ok(total)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        let count = self.proposals.len();
        for (i, p) in self.proposals.iter().enumerate() {
            p.write(i.saturating_add(1) == count, out);
        }
    }
}

impl Proposal {
    fn decode(r: &mut Reader<'_>, reserved: u8) -> Result<Self, WireError> {
        let number = r.u8("proposal number")?;
        let protocol = ProtocolId(r.u8("protocol id")?);
        let spi_size = usize::from(r.u8("SPI size")?);
        let count_offset = r.offset();
        let declared = usize::from(r.u8("number of transforms")?);
        let spi = r.bytes(spi_size, "proposal SPI")?.to_vec();
        let mut transforms = Vec::new();
        while !r.is_empty() {
            if transforms.len() >= MAX_TRANSFORMS {
                return Err(r.error(WireErrorKind::LimitExceeded {
                    what: "transforms in a proposal",
                    limit: MAX_TRANSFORMS,
                }));
            }
            let start = r.offset();
            let last = r.u8("transform last-substructure")?;
            let reserved0 = r.u8("transform reserved")?;
            let length = usize::from(r.u16("transform length")?);
            if length < 8 {
                return Err(WireError::new(
                    start.saturating_add(2),
                    WireErrorKind::LengthTooShort {
                        what: "transform",
                        length,
                        minimum: 8,
                    },
                ));
            }
            let mut body = r.sub(length.saturating_sub(4), "transform")?;
            let marker_ok = match last {
                TRANSFORM_MORE => !r.is_empty(),
                0 => r.is_empty(),
                _ => false,
            };
            if !marker_ok {
                return Err(WireError::new(
                    start,
                    WireErrorKind::InvalidValue {
                        field: "transform last-substructure",
                        value: u64::from(last),
                    },
                ));
            }
            transforms.push(Transform::decode(&mut body, reserved0)?);
        }
        if transforms.len() != declared {
            return Err(WireError::new(
                count_offset,
                WireErrorKind::CountMismatch {
                    what: "transforms",
                    declared,
                    found: transforms.len(),
                },
            ));
        }
        Ok(Self {
            number,
            protocol,
            spi,
            transforms,
            reserved,
        })
    }

    fn encoded_len(&self) -> Result<usize, EncodeError> {
        u8_count("SPI octets", self.spi.len())?;
        limit(
            "transforms in a proposal",
            self.transforms.len(),
            MAX_TRANSFORMS,
        )?;
        let mut len = self.spi.len().saturating_add(8);
        for t in &self.transforms {
            len = t.encoded_len()?.saturating_add(len);
        }
        u16_len("proposal", len)?;
        Ok(len)
    }

    fn write(&self, last: bool, out: &mut Vec<u8>) {
        // Lengths and counts were checked by encoded_len(); the casts cannot truncate.
        let len = self.encoded_len().unwrap_or_default();
        out.push(if last { 0 } else { PROPOSAL_MORE });
        out.push(self.reserved);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.push(self.number);
        out.push(self.protocol.0);
        out.push(self.spi.len() as u8);
        out.push(self.transforms.len() as u8);
        out.extend_from_slice(&self.spi);
        let count = self.transforms.len();
        for (i, t) in self.transforms.iter().enumerate() {
            t.write(i.saturating_add(1) == count, out);
        }
    }
}

impl Transform {
    fn decode(r: &mut Reader<'_>, reserved0: u8) -> Result<Self, WireError> {
        let transform_type = TransformType(r.u8("transform type")?);
        let reserved1 = r.u8("transform reserved")?;
        let id = TransformId(r.u16("transform id")?);
        let mut attributes = Vec::new();
        while !r.is_empty() {
            if attributes.len() >= MAX_ATTRIBUTES {
                return Err(r.error(WireErrorKind::LimitExceeded {
                    what: "attributes on a transform",
                    limit: MAX_ATTRIBUTES,
                }));
            }
            let kind = r.u16("attribute type")?;
            let attribute_type = TransformAttributeType(kind & 0x7fff);
            let value = if kind & 0x8000 != 0 {
                AttributeValue::Short(r.u16("attribute value")?)
            } else {
                let len = usize::from(r.u16("attribute length")?);
                AttributeValue::Long(r.bytes(len, "attribute value")?.to_vec())
            };
            attributes.push(TransformAttribute {
                attribute_type,
                value,
            });
        }
        Ok(Self {
            transform_type,
            id,
            attributes,
            reserved: [reserved0, reserved1],
        })
    }

    fn encoded_len(&self) -> Result<usize, EncodeError> {
        limit(
            "attributes on a transform",
            self.attributes.len(),
            MAX_ATTRIBUTES,
        )?;
        let mut len = 8usize;
        for a in &self.attributes {
            if a.attribute_type.0 > 0x7fff {
                return Err(EncodeError::Invalid {
                    field: "transform attribute type",
                    reason: "must fit in 15 bits",
                });
            }
            let attribute = match &a.value {
                AttributeValue::Short(_) => 4,
                AttributeValue::Long(v) => {
                    usize::from(u16_len("attribute value", v.len())?).saturating_add(4)
                }
            };
            len = attribute.saturating_add(len);
        }
        u16_len("transform", len)?;
        Ok(len)
    }

    fn write(&self, last: bool, out: &mut Vec<u8>) {
        let len = self.encoded_len().unwrap_or_default();
        out.push(if last { 0 } else { TRANSFORM_MORE });
        out.push(self.reserved[0]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.push(self.transform_type.0);
        out.push(self.reserved[1]);
        out.extend_from_slice(&self.id.0.to_be_bytes());
        for a in &self.attributes {
            match &a.value {
                AttributeValue::Short(v) => {
                    out.extend_from_slice(&(a.attribute_type.0 | 0x8000).to_be_bytes());
                    out.extend_from_slice(&v.to_be_bytes());
                }
                AttributeValue::Long(v) => {
                    out.extend_from_slice(&a.attribute_type.0.to_be_bytes());
                    out.extend_from_slice(&(v.len() as u16).to_be_bytes());
                    out.extend_from_slice(v);
                }
            }
        }
    }
}
