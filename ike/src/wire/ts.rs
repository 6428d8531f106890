//! Traffic Selector payloads TSi/TSr (RFC 7296 section 3.13).
//!
//! Contract: IPv4 and IPv6 address-range selectors decode to typed addresses with their IP
//! protocol and port range; selectors of other types (Fibre Channel, security labels) keep their
//! bytes so they round-trip. The declared selector count must match, each selector length must
//! be exact for its type, and at most [`MAX_SELECTORS`] are accepted. No semantic checks
//! (start <= end) happen here: narrowing belongs to the engine.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::codes::TsType;
use super::error::{EncodeError, WireError, WireErrorKind};
use super::reader::{Reader, limit, u16_len};

/// Most selectors accepted in one TS payload: what the one-octet Number of TSs field can
/// declare (RFC 7296 3.13), so a legal TS payload is never refused.
pub const MAX_SELECTORS: usize = u8::MAX as usize;

/// The body of a TSi or TSr payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrafficSelectors {
    pub selectors: Vec<TrafficSelector>,
    /// The three reserved octets after the selector count.
    pub reserved: [u8; 3],
}

/// One traffic selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficSelector {
    /// TS_IPV4_ADDR_RANGE or TS_IPV6_ADDR_RANGE.
    Ip(IpTrafficSelector),
    /// Any other selector type, kept as received.
    Other {
        ts_type: TsType,
        /// The octet after the type (IP protocol for address ranges, reserved for labels).
        second_octet: u8,
        /// Everything after the 4-octet selector header.
        data: Vec<u8>,
    },
}

/// An address-range selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpTrafficSelector {
    /// IP protocol number; 0 means any.
    pub ip_protocol: u8,
    pub start_port: u16,
    pub end_port: u16,
    pub addresses: AddressRange,
}

/// The inclusive address range of a selector; the variant decides the TS type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRange {
    V4 { start: Ipv4Addr, end: Ipv4Addr },
    V6 { start: Ipv6Addr, end: Ipv6Addr },
}

impl IpTrafficSelector {
    /// Ports 0..=65535 and any protocol for the whole range.
    pub fn any_protocol(addresses: AddressRange) -> Self {
        Self {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            addresses,
        }
    }

    pub fn ts_type(&self) -> TsType {
        match self.addresses {
            AddressRange::V4 { .. } => TsType::TS_IPV4_ADDR_RANGE,
            AddressRange::V6 { .. } => TsType::TS_IPV6_ADDR_RANGE,
        }
    }
}

impl TrafficSelector {
    pub fn ts_type(&self) -> TsType {
        match self {
            Self::Ip(ip) => ip.ts_type(),
            Self::Other { ts_type, .. } => *ts_type,
        }
    }

    fn encoded_len(&self) -> Result<usize, EncodeError> {
        let len = match self {
            Self::Ip(ip) => match ip.addresses {
                AddressRange::V4 { .. } => 16,
                AddressRange::V6 { .. } => 40,
            },
            Self::Other { ts_type, data, .. } => {
                if matches!(
                    *ts_type,
                    TsType::TS_IPV4_ADDR_RANGE | TsType::TS_IPV6_ADDR_RANGE
                ) {
                    return Err(EncodeError::Invalid {
                        field: "traffic selector",
                        reason: "address ranges must use TrafficSelector::Ip",
                    });
                }
                data.len().saturating_add(4)
            }
        };
        u16_len("traffic selector", len)?;
        Ok(len)
    }
}

impl TrafficSelectors {
    pub fn new(selectors: Vec<TrafficSelector>) -> Self {
        Self {
            selectors,
            reserved: [0; 3],
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let count_offset = r.offset();
        let declared = usize::from(r.u8("number of TSs")?);
        let reserved = r.array::<3>("TS reserved")?;
        let mut selectors = Vec::new();
        while !r.is_empty() {
            if selectors.len() >= MAX_SELECTORS {
                return Err(r.error(WireErrorKind::LimitExceeded {
                    what: "traffic selectors",
                    limit: MAX_SELECTORS,
                }));
            }
            selectors.push(decode_selector(r)?);
        }
        if selectors.len() != declared {
            return Err(WireError::new(
                count_offset,
                WireErrorKind::CountMismatch {
                    what: "traffic selectors",
                    declared,
                    found: selectors.len(),
                },
            ));
        }
        Ok(Self {
            selectors,
            reserved,
        })
    }

    pub(crate) fn body_len(&self) -> Result<usize, EncodeError> {
        limit("traffic selectors", self.selectors.len(), MAX_SELECTORS)?;
        let mut len = 4;
        for ts in &self.selectors {
            len = ts.encoded_len()?.saturating_add(len);
        }
        Ok(len)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.push(self.selectors.len() as u8);
        out.extend_from_slice(&self.reserved);
        for ts in &self.selectors {
            match ts {
                TrafficSelector::Ip(ip) => {
                    let (len, start, end): (u16, &[u8], &[u8]);
                    let (v4s, v4e, v6s, v6e);
                    match &ip.addresses {
                        AddressRange::V4 { start: s, end: e } => {
                            v4s = s.octets();
                            v4e = e.octets();
                            (len, start, end) = (16, &v4s, &v4e);
                        }
                        AddressRange::V6 { start: s, end: e } => {
                            v6s = s.octets();
                            v6e = e.octets();
                            (len, start, end) = (40, &v6s, &v6e);
                        }
                    }
                    out.push(ip.ts_type().0);
                    out.push(ip.ip_protocol);
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(&ip.start_port.to_be_bytes());
                    out.extend_from_slice(&ip.end_port.to_be_bytes());
                    out.extend_from_slice(start);
                    out.extend_from_slice(end);
                }
                TrafficSelector::Other {
                    ts_type,
                    second_octet,
                    data,
                } => {
                    out.push(ts_type.0);
                    out.push(*second_octet);
                    out.extend_from_slice(&((data.len().saturating_add(4)) as u16).to_be_bytes());
                    out.extend_from_slice(data);
                }
            }
        }
    }
}

fn decode_selector(r: &mut Reader<'_>) -> Result<TrafficSelector, WireError> {
    let start = r.offset();
    let ts_type = TsType(r.u8("TS type")?);
    let second_octet = r.u8("IP protocol")?;
    let length = usize::from(r.u16("selector length")?);
    let expected = match ts_type {
        TsType::TS_IPV4_ADDR_RANGE => Some(16),
        TsType::TS_IPV6_ADDR_RANGE => Some(40),
        _ => None,
    };
    if let Some(expected) = expected
        && length != expected
    {
        return Err(WireError::new(
            start.saturating_add(2),
            WireErrorKind::InvalidValue {
                field: "address range selector length",
                value: length as u64,
            },
        ));
    }
    if length < 4 {
        return Err(WireError::new(
            start.saturating_add(2),
            WireErrorKind::LengthTooShort {
                what: "traffic selector",
                length,
                minimum: 4,
            },
        ));
    }
    let mut body = r.sub(length.saturating_sub(4), "traffic selector")?;
    Ok(match ts_type {
        TsType::TS_IPV4_ADDR_RANGE => {
            let start_port = body.u16("start port")?;
            let end_port = body.u16("end port")?;
            let s = Ipv4Addr::from(body.array::<4>("start address")?);
            let e = Ipv4Addr::from(body.array::<4>("end address")?);
            TrafficSelector::Ip(IpTrafficSelector {
                ip_protocol: second_octet,
                start_port,
                end_port,
                addresses: AddressRange::V4 { start: s, end: e },
            })
        }
        TsType::TS_IPV6_ADDR_RANGE => {
            let start_port = body.u16("start port")?;
            let end_port = body.u16("end port")?;
            let s = Ipv6Addr::from(body.array::<16>("start address")?);
            let e = Ipv6Addr::from(body.array::<16>("end address")?);
            TrafficSelector::Ip(IpTrafficSelector {
                ip_protocol: second_octet,
                start_port,
                end_port,
                addresses: AddressRange::V6 { start: s, end: e },
            })
        }
        _ => TrafficSelector::Other {
            ts_type,
            second_octet,
            data: body.rest().to_vec(),
        },
    })
}
