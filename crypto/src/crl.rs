//! X.509 certificate revocation lists and the revocation status of a certificate path.
//!
//! Contract:
//! - [`Crl`] loads one CRL from PEM or DER (`x509-parser`); loading never panics and rejects
//!   trailing data. A CRL iked cannot use completely is refused when it is loaded, naming why:
//!   a delta CRL (deltaCRLIndicator), or one with a critical extension iked does not process
//!   (an issuingDistributionPoint would narrow its scope), as RFC 5280 5.2 requires.
//! - [`link_status`] decides the revocation status of one link of a validated path (a
//!   certificate and the CA that issued it) from the CRLs held, the way strongSwan's
//!   revocation plugin does: only a CRL signed by that issuer (key allowed to sign CRLs) counts;
//!   a listed serial is [`LinkStatus::Revoked`] even in a stale CRL; otherwise the newest
//!   CRL decides `Good` (before its nextUpdate) or `Stale`; without a usable CRL the status is
//!   `Unavailable` when the certificate names a place to get one (CRL distribution point or
//!   OCSP responder) and `NoInfo` when it names none.
//! - [`Policy::accepts`] applies swanctl.conf's `revocation` to the statuses of every link:
//!   `strict` needs each to be good, `ifuri` accepts a certificate that names no source of
//!   revocation information, `relaxed` refuses only a revoked one. Every refusal names the
//!   certificate and the cause. There is no OCSP: a certificate naming only an OCSP responder
//!   is `Unavailable`, so `strict` and `ifuri` refuse it (saying so) and `relaxed` accepts it.
//!
//! Time is an input (Unix seconds); this module reads no clock and does no I/O.
//! CRLs come from the network: outside tests the module denies the panicking clippy lints
//! (unwrap, expect, panic, indexing, unchecked arithmetic).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use std::fmt;

use pkcs8::der::{Decode, Reader, SliceReader, asn1::AnyRef};
use rustls_pki_types::pem::{PemObject, SectionKind};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::x509::{Certificate, strip_leading_zeros};

/// Why a CRL cannot be loaded or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlError {
    /// The CRL (or the PEM around it) could not be parsed.
    #[error("malformed CRL: {0}")]
    Malformed(String),
    /// A delta CRL; iked uses complete CRLs only.
    #[error("CRL of \"{issuer}\" is a delta CRL, which iked does not use")]
    Delta {
        /// Issuer DN.
        issuer: String,
    },
    /// A critical extension iked does not process (RFC 5280 5.2).
    #[error("CRL of \"{issuer}\" has unsupported critical extension {oid}")]
    UnknownCriticalExtension {
        /// Issuer DN.
        issuer: String,
        /// The extension's OID, dotted.
        oid: String,
    },
}

/// One revoked certificate of a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// serialNumber without leading zero bytes.
    pub serial: Vec<u8>,
    /// revocationDate, Unix seconds.
    pub date: i64,
    /// revocationDate as text (`Jan  2 00:00:00 2026 +00:00`).
    pub date_text: String,
    /// reasonCode, as RFC 5280 names it (`keyCompromise`, ...), if present.
    pub reason: Option<String>,
}

/// A parsed certificate revocation list. Equality is by DER.
#[derive(Clone)]
pub struct Crl {
    der: Vec<u8>,
    tbs: Vec<u8>,
    signature_algorithm: Vec<u8>,
    signature: Vec<u8>,
    issuer_der: Vec<u8>,
    issuer: String,
    this_update: i64,
    next_update: Option<i64>,
    /// cRLNumber, big-endian without leading zeros.
    number: Option<Vec<u8>>,
    revoked: Vec<Revoked>,
}

impl PartialEq for Crl {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Crl {}

impl fmt::Debug for Crl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Crl(\"{}\", {} revoked)",
            self.issuer,
            self.revoked.len()
        )
    }
}

const OID_CRL_NUMBER: &str = "2.5.29.20";
const OID_DELTA_CRL_INDICATOR: &str = "2.5.29.27";
const OID_AUTHORITY_KEY_ID: &str = "2.5.29.35";
/// CRL extensions whose criticality iked honours (it reads them, or they narrow nothing).
const KNOWN_CRL_EXTENSIONS: &[&str] = &[OID_CRL_NUMBER, OID_AUTHORITY_KEY_ID];

fn malformed(what: impl fmt::Display) -> CrlError {
    CrlError::Malformed(what.to_string())
}

/// RFC 5280 5.3.1 reason names.
fn reason_name(code: u8) -> String {
    match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => return format!("reason {code}"),
    }
    .to_string()
}

impl Crl {
    /// Loads a DER CRL.
    pub fn from_der(der: &[u8]) -> Result<Self, CrlError> {
        let (rest, crl) = CertificateRevocationList::from_der(der).map_err(malformed)?;
        if !rest.is_empty() {
            return Err(malformed(format!(
                "{} bytes of trailing data after the CRL",
                rest.len()
            )));
        }
        let outer = AnyRef::from_der(der).map_err(malformed)?;
        let mut reader = SliceReader::new(outer.value()).map_err(malformed)?;
        let tbs = reader.tlv_bytes().map_err(malformed)?;
        let alg = reader.tlv_bytes().map_err(malformed)?;
        let issuer = crl.issuer().to_string();
        let mut number = None;
        for ext in crl.extensions() {
            let oid = ext.oid.to_id_string();
            if oid == OID_DELTA_CRL_INDICATOR {
                return Err(CrlError::Delta { issuer });
            }
            if oid == OID_CRL_NUMBER {
                number = crl
                    .crl_number()
                    .map(|n| strip_leading_zeros(&n.to_bytes_be()).to_vec());
            }
            if ext.critical && !KNOWN_CRL_EXTENSIONS.contains(&oid.as_str()) {
                return Err(CrlError::UnknownCriticalExtension { issuer, oid });
            }
        }
        let mut revoked = Vec::with_capacity(crl.tbs_cert_list.revoked_certificates.len());
        for entry in crl.iter_revoked_certificates() {
            // An entry's critical extension (certificateIssuer of an indirect CRL) would
            // change whose certificate it names: such a CRL is not one iked can read.
            if let Some(ext) = entry.extensions().iter().find(|e| {
                e.critical && !matches!(e.oid.to_id_string().as_str(), "2.5.29.21" | "2.5.29.24")
            }) {
                return Err(CrlError::UnknownCriticalExtension {
                    issuer,
                    oid: ext.oid.to_id_string(),
                });
            }
            revoked.push(Revoked {
                serial: strip_leading_zeros(entry.raw_serial()).to_vec(),
                date: entry.revocation_date.timestamp(),
                date_text: entry.revocation_date.to_string(),
                reason: entry.reason_code().map(|(_, r)| reason_name(r.0)),
            });
        }
        Ok(Self {
            der: der.to_vec(),
            tbs: tbs.to_vec(),
            signature_algorithm: alg.to_vec(),
            signature: crl.signature_value.data.to_vec(),
            issuer_der: crl.issuer().as_raw().to_vec(),
            issuer,
            this_update: crl.last_update().timestamp(),
            next_update: crl.next_update().map(|t| t.timestamp()),
            number,
            revoked,
        })
    }

    /// Loads a PEM (`-----BEGIN X509 CRL-----`) CRL.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CrlError> {
        for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
            let (kind, der) = item.map_err(|e| malformed(format!("PEM: {e}")))?;
            if kind == SectionKind::Crl {
                return Self::from_der(&der);
            }
        }
        Err(malformed("no X509 CRL PEM block"))
    }

    /// Loads PEM or DER, as swanctl's `x509crl/` directory holds either.
    pub fn load(bytes: &[u8]) -> Result<Self, CrlError> {
        if bytes.starts_with(b"-----") || bytes.windows(10).any(|w| w == b"-----BEGIN") {
            Self::from_pem(bytes)
        } else {
            Self::from_der(bytes)
        }
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Issuer DN as text.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Issuer DN, DER.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    /// thisUpdate, Unix seconds.
    pub fn this_update(&self) -> i64 {
        self.this_update
    }

    /// nextUpdate, Unix seconds (RFC 5280 requires it; a CRL without one never goes stale).
    pub fn next_update(&self) -> Option<i64> {
        self.next_update
    }

    /// The revoked certificates.
    pub fn revoked(&self) -> &[Revoked] {
        &self.revoked
    }

    /// Whether the CRL is still current at `now` (before its nextUpdate).
    pub fn is_current(&self, now: i64) -> bool {
        self.next_update.is_none_or(|n| now < n)
    }

    /// Whether this CRL supersedes `other` (same issuer): a higher cRLNumber, or without
    /// numbers a later thisUpdate (strongSwan's `crl_is_newer`).
    pub fn is_newer_than(&self, other: &Crl) -> bool {
        match (&self.number, &other.number) {
            (Some(a), Some(b)) => (a.len(), a) > (b.len(), b),
            _ => self.this_update > other.this_update,
        }
    }

    /// Whether `issuer` signed this CRL: its subject is the CRL's issuer, its keyUsage allows
    /// cRLSign and its key verifies the signature.
    pub fn is_signed_by(&self, issuer: &Certificate) -> bool {
        issuer.subject_der() == self.issuer_der
            && issuer.may_sign_crls()
            && issuer
                .verify_data(&self.signature_algorithm, &self.tbs, &self.signature)
                .is_ok()
    }

    /// The entry revoking `cert`, if any (the caller checks that the CRL is `cert`'s issuer's).
    pub fn revocation_of(&self, cert: &Certificate) -> Option<&Revoked> {
        self.revoked.iter().find(|r| r.serial == cert.serial())
    }
}

/// The revocation status of one link of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStatus {
    /// Not listed in a current CRL of the issuer, valid until the given nextUpdate.
    Good {
        /// nextUpdate of the CRL that decided (None: no nextUpdate).
        until: Option<i64>,
    },
    /// Listed in a CRL of the issuer.
    Revoked(Revoked),
    /// Not listed, but the newest CRL held is past its nextUpdate.
    Stale {
        /// That nextUpdate.
        since: i64,
    },
    /// No usable CRL, although the certificate names where to get one (CRL distribution
    /// points or an OCSP responder).
    Unavailable,
    /// No CRL held and the certificate names no source of revocation information.
    NoInfo,
}

/// The status of `subject` (issued by `issuer`) from the CRLs held, at `now`.
pub fn link_status(
    subject: &Certificate,
    issuer: &Certificate,
    crls: &[Crl],
    now: i64,
) -> LinkStatus {
    let mut best: Option<&Crl> = None;
    for crl in crls
        .iter()
        .filter(|c| c.issuer_der() == subject.issuer_der() && c.is_signed_by(issuer))
    {
        // Revoked counts even in a stale CRL (strongSwan does the same).
        if let Some(entry) = crl.revocation_of(subject) {
            return LinkStatus::Revoked(entry.clone());
        }
        if best.is_none_or(|b| crl.is_newer_than(b)) {
            best = Some(crl);
        }
    }
    match best {
        Some(crl) if crl.is_current(now) => LinkStatus::Good {
            until: crl.next_update(),
        },
        Some(crl) => LinkStatus::Stale {
            since: crl.next_update().unwrap_or(crl.this_update()),
        },
        None if subject.crl_uris().is_empty() && subject.ocsp_uris().is_empty() => {
            LinkStatus::NoInfo
        }
        None => LinkStatus::Unavailable,
    }
}

/// swanctl.conf's `revocation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Fail unless every certificate is known not to be revoked.
    Strict,
    /// Fail when revocation information should exist (a URI) but is not available.
    IfUri,
    /// Fail only for a revoked certificate.
    #[default]
    Relaxed,
}

/// Why a path was refused on revocation grounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    /// A certificate of the path is revoked.
    #[error("certificate \"{subject}\" was revoked on {date}, reason: {reason}")]
    Revoked {
        /// Subject DN.
        subject: String,
        /// revocationDate, as text.
        date: String,
        /// The reason, or `unspecified`.
        reason: String,
    },
    /// The policy requires a status that is not available.
    #[error(
        "revocation status of certificate \"{subject}\" is {status}, but {policy} requires {needed}"
    )]
    Unknown {
        /// Subject DN.
        subject: String,
        /// What is known ("unavailable", "stale", "without revocation information").
        status: &'static str,
        /// `revocation = strict|ifuri`.
        policy: &'static str,
        /// What the policy needs.
        needed: &'static str,
    },
}

impl Policy {
    /// Applies the policy to one link's status.
    pub fn accepts(
        self,
        subject: &Certificate,
        status: &LinkStatus,
    ) -> Result<(), RevocationError> {
        let unknown = |status: &'static str| {
            let (policy, needed) = match self {
                Policy::Strict => ("revocation = strict", "a current CRL"),
                _ => (
                    "revocation = ifuri",
                    "a current CRL for a certificate with a CRL or OCSP URI",
                ),
            };
            Err(RevocationError::Unknown {
                subject: subject.subject().to_string(),
                status,
                policy,
                needed,
            })
        };
        match (status, self) {
            (LinkStatus::Revoked(r), _) => Err(RevocationError::Revoked {
                subject: subject.subject().to_string(),
                date: r.date_text.clone(),
                reason: r.reason.clone().unwrap_or_else(|| "unspecified".into()),
            }),
            (LinkStatus::Good { .. }, _) | (_, Policy::Relaxed) => Ok(()),
            (LinkStatus::NoInfo, Policy::IfUri) => Ok(()),
            (LinkStatus::NoInfo, Policy::Strict) => unknown("without revocation information"),
            (LinkStatus::Stale { .. }, _) => unknown("stale (CRL past its nextUpdate)"),
            // iked checks CRLs only: a certificate that names nothing but an OCSP responder
            // has no status it could get, and is refused like one whose CRL is unreachable
            // (charon with an unreachable responder), never accepted.
            (LinkStatus::Unavailable, _)
                if subject.crl_uris().is_empty() && !subject.ocsp_uris().is_empty() =>
            {
                unknown("unavailable (it names only an OCSP responder; iked does not do OCSP)")
            }
            (LinkStatus::Unavailable, _) => unknown("unavailable"),
        }
    }
}
