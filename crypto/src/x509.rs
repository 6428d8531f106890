//! X.509 certificates for IKEv2 public-key authentication.
//!
//! Contract:
//! - [`Certificate`] loads one certificate from PEM or DER (`x509-parser`), keeps its DER and
//!   the fields authentication needs; loading never panics and rejects trailing data.
//! - [`verify_chain`] checks an end-entity certificate against trust anchors at a wall-clock
//!   time passed in by the caller (this crate reads no clock): each link's signature, validity
//!   dates, basicConstraints CA on issuers, keyUsage keyCertSign on issuers and
//!   digitalSignature on the end entity (when the extension is present), and the RFC 5280 6.1
//!   path rules IKE needs: `pathLenConstraint` (non-self-issued intermediates below each CA,
//!   trust anchor included), `nameConstraints` of every CA in the path on the subject DN and
//!   the subjectAltName DNS, IP and email names (and emailAddress in the DN) of every
//!   certificate below it, and no critical extension iked does not process, on any certificate
//!   of the path (pinned ones included, as charon refuses to load them). A self-signed end
//!   entity is accepted only when it is pinned (the exact certificate configured for the peer).
//!   No extendedKeyUsage is required (IKE has none; RFC 4945 5.1.3.12).
//! - [`Certificate::matches_identity`] decides whether an IKE identity (type and data as in the
//!   ID payload) names the certificate, the way strongSwan's x509 plugin does: ID_DER_ASN1_DN
//!   against the subject (RDN by RDN, PrintableString case-insensitive, `*` values as
//!   wildcards), ID_FQDN / ID_RFC822_ADDR / ID_IPV4 / ID_IPV6 against subjectAltName, ID_KEY_ID
//!   against the subjectKeyIdentifier or the SHA-1 of the public key.
//! - [`encode_dn`] builds the DER Name for a textual DN (`C=CH, O=x, CN=bfr`), the ID data of
//!   an ID_DER_ASN1_DN identity, as strongSwan's `atodn` does.
//! - Every failure is a [`CertError`] naming the certificate and the cause.
//! - Certificates come from peers: outside tests the module denies the panicking clippy lints
//!   (unwrap, expect, panic, indexing, unchecked arithmetic).
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
use std::net::IpAddr;

use pkcs8::der::{Decode, Reader, SliceReader, asn1::AnyRef};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha1::{Digest, Sha1};
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Name};

use crate::auth::{PublicKey, SignatureScheme};
use crate::error::CryptoError;

/// Why a certificate or chain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The certificate (or PEM around it) could not be parsed.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// `notAfter` is before the wall-clock time.
    #[error("certificate \"{subject}\" expired at {not_after}")]
    Expired {
        /// Subject DN.
        subject: String,
        /// `notAfter`.
        not_after: String,
    },
    /// `notBefore` is after the wall-clock time.
    #[error("certificate \"{subject}\" is not valid before {not_before}")]
    NotYetValid {
        /// Subject DN.
        subject: String,
        /// `notBefore`.
        not_before: String,
    },
    /// No issuer chain ends at a trusted CA.
    #[error("no trusted CA for certificate \"{subject}\" (issuer \"{issuer}\" unknown)")]
    UnknownCa {
        /// Subject DN of the certificate whose issuer was not found.
        subject: String,
        /// Its issuer DN.
        issuer: String,
    },
    /// A self-signed end entity that is not configured as the peer's certificate.
    #[error(
        "self-signed certificate \"{subject}\" is not trusted (not configured as a peer certificate)"
    )]
    SelfSignedNotPinned {
        /// Subject DN.
        subject: String,
    },
    /// An issuer without basicConstraints CA (an end-entity certificate used as a CA).
    #[error("issuer certificate \"{subject}\" is not a CA ({why})")]
    NotCa {
        /// Subject DN of the would-be issuer.
        subject: String,
        /// What its basicConstraints say.
        why: &'static str,
    },
    /// A CA certificate whose keyUsage lacks keyCertSign signed a certificate.
    #[error("CA certificate \"{subject}\" keyUsage does not allow keyCertSign")]
    NoKeyCertSign {
        /// Subject DN of the CA.
        subject: String,
    },
    /// More non-self-issued intermediate CAs below a CA than its pathLenConstraint allows.
    #[error(
        "path length of {intermediates} intermediate CA(s) below \"{subject}\" violates its \
         pathLenConstraint of {path_len}"
    )]
    PathLenExceeded {
        /// Subject DN of the constraining CA.
        subject: String,
        /// Its pathLenConstraint.
        path_len: u32,
        /// Non-self-issued intermediates between it and the end entity.
        intermediates: usize,
    },
    /// A name of a certificate violates the nameConstraints of a CA above it (boxed: four
    /// strings would make every `Result<_, CertError>` twice as large).
    #[error(transparent)]
    NameConstraint(Box<NameConstraintViolation>),
    /// A critical extension iked does not process (RFC 5280 4.2).
    #[error("certificate \"{subject}\" has unsupported critical extension {oid}")]
    UnknownCriticalExtension {
        /// Subject DN.
        subject: String,
        /// The extension's OID, dotted.
        oid: String,
    },
    /// The end entity's keyUsage lacks digitalSignature.
    #[error("certificate \"{subject}\" keyUsage does not allow digitalSignature")]
    KeyUsage {
        /// Subject DN.
        subject: String,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("signature of certificate \"{subject}\" does not verify with the key of \"{issuer}\"")]
    BadSignature {
        /// Subject DN.
        subject: String,
        /// Issuer DN.
        issuer: String,
    },
    /// The public key or signature algorithm is not one iked implements.
    #[error("certificate \"{subject}\": unsupported {what}")]
    Unsupported {
        /// Subject DN.
        subject: String,
        /// What is unsupported ("public key type", "signature algorithm").
        what: &'static str,
    },
    /// The peer's identity does not name the certificate.
    #[error("identity '{id}' does not match certificate \"{subject}\"")]
    IdentityMismatch {
        /// The identity, as text.
        id: String,
        /// Subject DN.
        subject: String,
    },
    /// A DN text could not be encoded.
    #[error("invalid distinguished name '{text}': {why}")]
    InvalidDn {
        /// The text.
        text: String,
        /// Why.
        why: String,
    },
}

/// Big-endian integer bytes without leading zeros (DER adds one before a high bit).
pub(crate) fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b.get(start..).unwrap_or_default()
}

/// The CRL distribution point URIs and the OCSP responder URIs of a certificate.
fn revocation_uris(cert: &X509Certificate<'_>) -> (Vec<String>, Vec<String>) {
    use x509_parser::extensions::{DistributionPointName, ParsedExtension};
    const OID_OCSP: &str = "1.3.6.1.5.5.7.48.1";
    let mut crl = Vec::new();
    let mut ocsp = Vec::new();
    for ext in cert.iter_extensions() {
        match ext.parsed_extension() {
            ParsedExtension::CRLDistributionPoints(points) => {
                for point in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &point.distribution_point
                    {
                        for name in names {
                            if let GeneralName::URI(uri) = name {
                                crl.push((*uri).to_string());
                            }
                        }
                    }
                }
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                for desc in aia.iter() {
                    if desc.access_method.to_id_string() == OID_OCSP
                        && let GeneralName::URI(uri) = &desc.access_location
                    {
                        ocsp.push((*uri).to_string());
                    }
                }
            }
            _ => {}
        }
    }
    (crl, ocsp)
}

/// A name of a certificate that violates the nameConstraints of a CA above it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} of certificate \"{subject}\" violates the name constraints of CA \"{ca}\": {why}")]
pub struct NameConstraintViolation {
    /// Subject DN of the certificate.
    pub subject: String,
    /// The offending name (`DNS:x`, `IP:x`, `email:x`, `DN:x`, ...).
    pub name: String,
    /// Subject DN of the constraining CA.
    pub ca: String,
    /// Why (outside the permitted subtrees, inside an excluded one, form not processed).
    pub why: String,
}

/// One subjectAltName entry iked matches identities against.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AltName {
    Dns(String),
    Email(String),
    Ip(IpAddr),
}

/// A parsed X.509 certificate. Equality is by DER; `Debug` shows the subject.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    tbs: Vec<u8>,
    signature_algorithm: Vec<u8>,
    signature: Vec<u8>,
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
    subject: String,
    issuer: String,
    spki: Vec<u8>,
    subject_public_key: Vec<u8>,
    not_before: i64,
    not_after: i64,
    not_before_text: String,
    not_after_text: String,
    ca: bool,
    /// Whether basicConstraints is present at all (for the error text of a non-CA issuer).
    has_basic_constraints: bool,
    /// basicConstraints pathLenConstraint.
    path_len: Option<u32>,
    /// `(digitalSignature, keyCertSign)` when the keyUsage extension is present.
    key_usage: Option<(bool, bool)>,
    alt_names: Vec<AltName>,
    /// subjectAltName forms iked does not match identities against (`URI`, `otherName`, ...),
    /// kept so a CA constraining such a form can refuse them (RFC 5280 4.2.1.10).
    other_alt_forms: Vec<&'static str>,
    /// emailAddress attributes of the subject DN (subject to rfc822Name constraints).
    subject_emails: Vec<String>,
    name_constraints: Option<NameConstraints>,
    /// OIDs of critical extensions iked does not process.
    unknown_critical: Vec<String>,
    subject_key_id: Option<Vec<u8>>,
    /// serialNumber, big-endian without leading zero bytes (as CRL entries are compared).
    serial: Vec<u8>,
    /// keyUsage cRLSign (true without a keyUsage extension, RFC 5280 4.2.1.3).
    crl_sign: bool,
    /// URIs of the cRLDistributionPoints extension (full names only).
    crl_uris: Vec<String>,
    /// OCSP responder URIs of the authorityInfoAccess extension.
    ocsp_uris: Vec<String>,
}

/// One GeneralSubtree base of a nameConstraints extension.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subtree {
    Dns(String),
    Email(String),
    /// Address and mask of the same length (4 or 16 bytes).
    Ip(Vec<u8>, Vec<u8>),
    /// DER Name.
    Dn(Vec<u8>),
    /// A form iked does not process (named for the error).
    Other(&'static str),
}

/// The nameConstraints extension of a CA certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct NameConstraints {
    permitted: Vec<Subtree>,
    excluded: Vec<Subtree>,
}

/// Extensions whose criticality iked honours: it processes them, or (extendedKeyUsage,
/// certificatePolicies, the key identifiers, CRL/AIA pointers, issuerAltName) they restrict
/// nothing IKE authentication relies on, as in charon's x509 plugin.
const KNOWN_EXTENSIONS: &[&str] = &[
    "2.5.29.14",         // subjectKeyIdentifier
    "2.5.29.15",         // keyUsage
    "2.5.29.17",         // subjectAltName
    "2.5.29.18",         // issuerAltName
    "2.5.29.19",         // basicConstraints
    "2.5.29.30",         // nameConstraints
    "2.5.29.31",         // cRLDistributionPoints
    "2.5.29.32",         // certificatePolicies
    "2.5.29.35",         // authorityKeyIdentifier
    "2.5.29.37",         // extendedKeyUsage
    "1.3.6.1.5.5.7.1.1", // authorityInfoAccess
];

/// emailAddress (PKCS#9), the DN attribute RFC 5280 4.2.1.10 subjects to rfc822Name constraints.
const OID_EMAIL_ADDRESS: &str = "1.2.840.113549.1.9.1";

fn general_name_form(name: &GeneralName<'_>) -> &'static str {
    match name {
        GeneralName::OtherName(..) => "otherName",
        GeneralName::RFC822Name(_) => "email",
        GeneralName::DNSName(_) => "DNS",
        GeneralName::X400Address(_) => "x400Address",
        GeneralName::DirectoryName(_) => "DN",
        GeneralName::EDIPartyName(_) => "ediPartyName",
        GeneralName::URI(_) => "URI",
        GeneralName::IPAddress(_) => "IP",
        GeneralName::RegisteredID(_) => "registeredID",
        GeneralName::Invalid(..) => "invalid name",
    }
}

fn subtree(name: &GeneralName<'_>) -> Subtree {
    match name {
        GeneralName::DNSName(d) => Subtree::Dns(d.to_ascii_lowercase()),
        GeneralName::RFC822Name(e) => Subtree::Email((*e).to_string()),
        GeneralName::DirectoryName(n) => Subtree::Dn(n.as_raw().to_vec()),
        GeneralName::IPAddress(b) if b.len() == 8 || b.len() == 32 => {
            let (addr, mask) = b.split_at(b.len() / 2);
            Subtree::Ip(addr.to_vec(), mask.to_vec())
        }
        // A malformed iPAddress constraint cannot be evaluated: handled as a form iked does
        // not process, so certificates with IP names below the CA are refused.
        GeneralName::IPAddress(_) => Subtree::Other("IP (malformed constraint)"),
        other => Subtree::Other(general_name_form(other)),
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Certificate(\"{}\")", self.subject)
    }
}

fn malformed(what: impl fmt::Display) -> CertError {
    CertError::Malformed(what.to_string())
}

/// Splits a certificate's outer SEQUENCE into its three raw TLVs (tbs, algorithm, signature).
fn split_certificate(der: &[u8]) -> Result<(&[u8], &[u8]), CertError> {
    let outer = AnyRef::from_der(der).map_err(malformed)?;
    let mut reader = SliceReader::new(outer.value()).map_err(malformed)?;
    let tbs = reader.tlv_bytes().map_err(malformed)?;
    let alg = reader.tlv_bytes().map_err(malformed)?;
    Ok((tbs, alg))
}

impl Certificate {
    /// Loads a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        let (rest, cert) = X509Certificate::from_der(der).map_err(malformed)?;
        if !rest.is_empty() {
            return Err(malformed(format!(
                "{} bytes of trailing data after the certificate",
                rest.len()
            )));
        }
        let (tbs, signature_algorithm) = split_certificate(der)?;
        let subject = cert.subject().to_string();
        let basic_constraints = cert.basic_constraints().map_err(malformed)?;
        let ca = basic_constraints.as_ref().is_some_and(|bc| bc.value.ca);
        let path_len = basic_constraints
            .as_ref()
            .and_then(|bc| bc.value.path_len_constraint);
        let name_constraints = cert.name_constraints().map_err(malformed)?.map(|nc| {
            let list = |trees: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
                trees
                    .iter()
                    .flatten()
                    .map(|t| subtree(&t.base))
                    .collect::<Vec<_>>()
            };
            NameConstraints {
                permitted: list(&nc.value.permitted_subtrees),
                excluded: list(&nc.value.excluded_subtrees),
            }
        });
        let unknown_critical = cert
            .extensions()
            .iter()
            .filter(|e| e.critical)
            .map(|e| e.oid.to_id_string())
            .filter(|oid| !KNOWN_EXTENSIONS.contains(&oid.as_str()))
            .collect();
        let subject_emails = cert
            .subject()
            .iter_attributes()
            .filter(|a| a.attr_type().to_id_string() == OID_EMAIL_ADDRESS)
            .map(|a| String::from_utf8_lossy(a.attr_value().data).into_owned())
            .collect();
        let mut other_alt_forms = Vec::new();
        let key_usage = cert
            .key_usage()
            .map_err(malformed)?
            .map(|ku| (ku.value.digital_signature(), ku.value.key_cert_sign()));
        let mut alt_names = Vec::new();
        if let Some(san) = cert.subject_alternative_name().map_err(malformed)? {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(s) => alt_names.push(AltName::Dns(s.to_string())),
                    GeneralName::RFC822Name(s) => alt_names.push(AltName::Email(s.to_string())),
                    GeneralName::IPAddress(b) => {
                        if let Ok(a) = <[u8; 4]>::try_from(*b) {
                            alt_names.push(AltName::Ip(IpAddr::from(a)));
                        } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                            alt_names.push(AltName::Ip(IpAddr::from(a)));
                        } else {
                            other_alt_forms.push("IP (malformed)");
                        }
                    }
                    other => other_alt_forms.push(general_name_form(other)),
                }
            }
        }
        let subject_key_id = cert
            .iter_extensions()
            .find_map(|e| match e.parsed_extension() {
                x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => {
                    Some(k.0.to_vec())
                }
                _ => None,
            });
        let (crl_uris, ocsp_uris) = revocation_uris(&cert);
        let crl_sign = cert
            .key_usage()
            .map_err(malformed)?
            .is_none_or(|ku| ku.value.crl_sign());
        let validity = cert.validity();
        Ok(Certificate {
            der: der.to_vec(),
            tbs: tbs.to_vec(),
            signature_algorithm: signature_algorithm.to_vec(),
            signature: cert.signature_value.data.to_vec(),
            subject_der: cert.subject().as_raw().to_vec(),
            issuer_der: cert.issuer().as_raw().to_vec(),
            subject,
            issuer: cert.issuer().to_string(),
            spki: cert.public_key().raw.to_vec(),
            subject_public_key: cert.public_key().subject_public_key.data.to_vec(),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            not_before_text: validity.not_before.to_string(),
            not_after_text: validity.not_after.to_string(),
            ca,
            has_basic_constraints: basic_constraints.is_some(),
            path_len,
            key_usage,
            alt_names,
            other_alt_forms,
            subject_emails,
            name_constraints,
            unknown_critical,
            subject_key_id,
            serial: strip_leading_zeros(cert.raw_serial()).to_vec(),
            crl_sign,
            crl_uris,
            ocsp_uris,
        })
    }

    /// Loads the first `CERTIFICATE` of a PEM file.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CertError> {
        let der =
            CertificateDer::from_pem_slice(pem).map_err(|e| malformed(format!("PEM: {e}")))?;
        Self::from_der(der.as_ref())
    }

    /// Loads every `CERTIFICATE` of a PEM file, in order (a chain or a CA bundle).
    pub fn all_from_pem(pem: &[u8]) -> Result<Vec<Self>, CertError> {
        let mut out = Vec::new();
        for der in CertificateDer::pem_slice_iter(pem) {
            let der = der.map_err(|e| malformed(format!("PEM: {e}")))?;
            out.push(Self::from_der(der.as_ref())?);
        }
        if out.is_empty() {
            return Err(malformed("PEM: no CERTIFICATE section"));
        }
        Ok(out)
    }

    /// Loads a certificate file in either encoding (PEM when it has a PEM header).
    pub fn load(bytes: &[u8]) -> Result<Self, CertError> {
        if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            Self::from_pem(bytes)
        } else {
            Self::from_der(bytes)
        }
    }

    /// The DER encoding (the CERT payload's data for encoding 4).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject as text (`C=CH, O=iked test, CN=bfl`).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The issuer as text.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The subject's DER Name (the data of an ID_DER_ASN1_DN identity for this certificate).
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// The issuer's DER Name.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// SHA-1 of the SubjectPublicKeyInfo: the CA key identifier a CERTREQ carries
    /// (RFC 7296 3.7, strongSwan's `KEYID_PUBKEY_INFO_SHA1`).
    pub fn spki_sha1(&self) -> [u8; 20] {
        Sha1::digest(&self.spki).into()
    }

    /// The public key, for verifying AUTH signatures.
    pub fn public_key(&self) -> Result<PublicKey, CertError> {
        PublicKey::from_spki_der(&self.spki).map_err(|_| CertError::Unsupported {
            subject: self.subject.clone(),
            what: "public key type",
        })
    }

    /// Whether basicConstraints says CA.
    pub fn is_ca(&self) -> bool {
        self.ca
    }

    /// Subject equals issuer and the certificate's own key verifies its signature.
    pub fn is_self_signed(&self) -> bool {
        self.subject_der == self.issuer_der && self.verify_signed_by(self).is_ok()
    }

    /// Subject equals issuer (RFC 5280 6.1: self-issued, whatever key signed it).
    pub fn is_self_issued(&self) -> bool {
        self.subject_der == self.issuer_der
    }

    /// serialNumber, big-endian, without leading zero bytes.
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// Whether keyUsage allows cRLSign (true without a keyUsage extension).
    pub fn may_sign_crls(&self) -> bool {
        self.crl_sign
    }

    /// The URIs of the cRLDistributionPoints extension.
    pub fn crl_uris(&self) -> &[String] {
        &self.crl_uris
    }

    /// The OCSP responder URIs of the authorityInfoAccess extension.
    pub fn ocsp_uris(&self) -> &[String] {
        &self.ocsp_uris
    }

    /// Checks that `issuer`'s key made a signature over `tbs` (a CRL's, for instance).
    pub(crate) fn verify_data(
        &self,
        algorithm: &[u8],
        tbs: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        let scheme = SignatureScheme::from_algorithm_identifier(algorithm)?;
        self.public_key()
            .map_err(|_| CryptoError::UnsupportedSignatureAlgorithm)?
            .verify(scheme, tbs, signature)
    }

    /// `notBefore` and `notAfter` as Unix seconds.
    pub fn validity(&self) -> (i64, i64) {
        (self.not_before, self.not_after)
    }

    /// Checks the validity dates at `now` (Unix seconds).
    pub fn check_validity(&self, now: i64) -> Result<(), CertError> {
        if now < self.not_before {
            return Err(CertError::NotYetValid {
                subject: self.subject.clone(),
                not_before: self.not_before_text.clone(),
            });
        }
        if now > self.not_after {
            return Err(CertError::Expired {
                subject: self.subject.clone(),
                not_after: self.not_after_text.clone(),
            });
        }
        Ok(())
    }

    /// Checks that `issuer`'s key made this certificate's signature.
    fn verify_signed_by(&self, issuer: &Certificate) -> Result<(), CertError> {
        let unsupported = |what| CertError::Unsupported {
            subject: self.subject.clone(),
            what,
        };
        let scheme = SignatureScheme::from_algorithm_identifier(&self.signature_algorithm)
            .map_err(|_| unsupported("signature algorithm"))?;
        let key = issuer.public_key()?;
        key.verify(scheme, &self.tbs, &self.signature)
            .map_err(|e| match e {
                CryptoError::UnsupportedSignatureAlgorithm => {
                    unsupported("signature algorithm for the issuer's key")
                }
                _ => CertError::BadSignature {
                    subject: self.subject.clone(),
                    issuer: issuer.subject.clone(),
                },
            })
    }

    /// Whether an IKE identity (ID type and identification data) names this certificate.
    pub fn matches_identity(&self, id_type: u8, data: &[u8]) -> bool {
        match id_type {
            id_type::DER_ASN1_DN => dn_matches(data, &self.subject_der),
            id_type::FQDN => std::str::from_utf8(data).is_ok_and(|want| {
                self.alt_names
                    .iter()
                    .any(|a| matches!(a, AltName::Dns(d) if d.eq_ignore_ascii_case(want)))
            }),
            id_type::RFC822_ADDR => std::str::from_utf8(data).is_ok_and(|want| {
                self.alt_names
                    .iter()
                    .any(|a| matches!(a, AltName::Email(d) if d.eq_ignore_ascii_case(want)))
            }),
            id_type::IPV4_ADDR | id_type::IPV6_ADDR => {
                let ip = <[u8; 4]>::try_from(data)
                    .map(IpAddr::from)
                    .or_else(|_| <[u8; 16]>::try_from(data).map(IpAddr::from));
                ip.is_ok_and(|ip| self.alt_names.contains(&AltName::Ip(ip)))
            }
            id_type::KEY_ID => {
                self.subject_key_id.as_deref() == Some(data)
                    || Sha1::digest(&self.subject_public_key).as_slice() == data
                    || self.spki_sha1() == data
            }
            _ => false,
        }
    }
}

/// IKEv2 identification types (RFC 7296 3.5): the one table for the workspace (the
/// swanctl.conf model and the engine use these too).
pub mod id_type {
    /// ID_IPV4_ADDR.
    pub const IPV4_ADDR: u8 = 1;
    /// ID_FQDN.
    pub const FQDN: u8 = 2;
    /// ID_RFC822_ADDR.
    pub const RFC822_ADDR: u8 = 3;
    /// ID_IPV6_ADDR.
    pub const IPV6_ADDR: u8 = 5;
    /// ID_DER_ASN1_DN.
    pub const DER_ASN1_DN: u8 = 9;
    /// ID_DER_ASN1_GN (strongSwan also writes subnets and ranges with these numbers' RFC 4595
    /// ID_FC_NAME family; only the model knows those).
    pub const DER_ASN1_GN: u8 = 10;
    /// ID_KEY_ID.
    pub const KEY_ID: u8 = 11;
}

/// A raw public key configured for a peer (`remote.pubkeys`): a pinned key without a
/// certificate. Equality is by SubjectPublicKeyInfo.
#[derive(Clone)]
pub struct RawPublicKey {
    spki: Vec<u8>,
    key: PublicKey,
}

impl PartialEq for RawPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki == other.spki
    }
}

impl Eq for RawPublicKey {}

impl fmt::Debug for RawPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawPublicKey({:?})", self.key)
    }
}

impl RawPublicKey {
    /// Loads a DER SubjectPublicKeyInfo.
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        let key = PublicKey::from_spki_der(der)?;
        Ok(RawPublicKey {
            spki: der.to_vec(),
            key,
        })
    }

    /// Loads a `PUBLIC KEY` PEM.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CryptoError> {
        let spki = rustls_pki_types::SubjectPublicKeyInfoDer::from_pem_slice(pem)
            .map_err(|e| CryptoError::InvalidKey(format!("PEM: {e}")))?;
        Self::from_der(spki.as_ref())
    }

    /// The key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// Whether a certificate carries this key.
    pub fn matches(&self, cert: &Certificate) -> bool {
        cert.spki == self.spki
    }
}

/// Verifies `end` for use at `now` (Unix seconds): either it is one of `pinned` (then only
/// its dates, keyUsage and critical extensions are checked), or a chain through
/// `intermediates` (any order, untrusted) reaches one of `anchors`, every link passing the
/// RFC 5280 checks of the module contract. Returns the trust anchor used (`None` if pinned).
pub fn verify_chain<'a>(
    end: &Certificate,
    intermediates: &[Certificate],
    anchors: &'a [Certificate],
    pinned: &[Certificate],
    now: i64,
) -> Result<Option<&'a Certificate>, CertError> {
    verify_path(end, intermediates, anchors, pinned, now).map(|(anchor, _)| anchor)
}

/// [`verify_chain`], also returning the validated path: the end entity first, then each
/// intermediate, the trust anchor last (just the end entity when it is pinned or an anchor).
/// Revocation is checked over its links.
pub fn verify_path<'a, 'b>(
    end: &'b Certificate,
    intermediates: &'b [Certificate],
    anchors: &'a [Certificate],
    pinned: &[Certificate],
    now: i64,
) -> Result<(Option<&'a Certificate>, Vec<&'b Certificate>), CertError>
where
    'a: 'b,
{
    end.check_validity(now)?;
    if let Some((false, _)) = end.key_usage {
        return Err(CertError::KeyUsage {
            subject: end.subject.clone(),
        });
    }
    check_critical_extensions(end)?;
    if pinned.contains(end) {
        return Ok((None, vec![end]));
    }
    // The end entity is an anchor itself (a CA certificate used directly): trusted as pinned.
    if let Some(anchor) = anchors.iter().find(|a| *a == end) {
        return Ok((Some(anchor), vec![end]));
    }
    // RFC 5280 sets no path limit; 8 links are far beyond IKE deployments and bound a
    // malicious loop.
    const MAX_DEPTH: usize = 8;
    // The path so far, end entity first; each issuer is checked against all of it.
    let mut path: Vec<&Certificate> = vec![end];
    for _ in 0..MAX_DEPTH {
        let Some(&current) = path.last() else {
            break;
        };
        let mut last_error = None;
        for anchor in anchors
            .iter()
            .filter(|a| a.subject_der == current.issuer_der)
        {
            match check_candidate(&path, anchor, now) {
                Ok(()) => {
                    let mut full = path;
                    full.push(anchor);
                    return Ok((Some(anchor), full));
                }
                Err(e) => last_error = Some(e),
            }
        }
        let mut next = None;
        for cand in intermediates
            .iter()
            .filter(|c| c.subject_der == current.issuer_der && !path.contains(c))
        {
            match check_candidate(&path, cand, now) {
                Ok(()) => {
                    next = Some(cand);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        match next {
            Some(n) => path.push(n),
            None => {
                if let Some(e) = last_error {
                    return Err(e);
                }
                if std::ptr::eq(current, end) && end.is_self_signed() {
                    return Err(CertError::SelfSignedNotPinned {
                        subject: end.subject.clone(),
                    });
                }
                return Err(CertError::UnknownCa {
                    subject: current.subject.clone(),
                    issuer: current.issuer.clone(),
                });
            }
        }
    }
    let last = path.last().copied().unwrap_or(end);
    Err(CertError::UnknownCa {
        subject: last.subject.clone(),
        issuer: last.issuer.clone(),
    })
}

/// Whether `issuer` may be the next certificate of `path` (end entity first, the certificate
/// it must have signed last): the link itself, then the constraints `issuer` puts on every
/// certificate below it (RFC 5280 6.1.3, 6.1.4).
fn check_candidate(path: &[&Certificate], issuer: &Certificate, now: i64) -> Result<(), CertError> {
    let Some(&cert) = path.last() else {
        return Ok(());
    };
    check_issuer(cert, issuer, now)?;
    check_critical_extensions(issuer)?;
    // 6.1.4 (l), (m): pathLenConstraint counts the non-self-issued intermediates below.
    if let Some(path_len) = issuer.path_len {
        let intermediates = path.iter().skip(1).filter(|c| !c.is_self_issued()).count();
        if intermediates > path_len as usize {
            return Err(CertError::PathLenExceeded {
                subject: issuer.subject.clone(),
                path_len,
                intermediates,
            });
        }
    }
    // 6.1.3 (b), (c): the end entity always, intermediates unless self-issued.
    for (i, below) in path.iter().enumerate() {
        if i == 0 || !below.is_self_issued() {
            check_name_constraints(issuer, below)?;
        }
    }
    Ok(())
}

/// One link: `issuer` is a currently valid CA that signed `cert`.
fn check_issuer(cert: &Certificate, issuer: &Certificate, now: i64) -> Result<(), CertError> {
    if !issuer.ca {
        return Err(CertError::NotCa {
            subject: issuer.subject.clone(),
            why: if issuer.has_basic_constraints {
                "basicConstraints CA:FALSE"
            } else {
                "no basicConstraints extension"
            },
        });
    }
    if let Some((_, false)) = issuer.key_usage {
        return Err(CertError::NoKeyCertSign {
            subject: issuer.subject.clone(),
        });
    }
    cert.verify_signed_by(issuer)?;
    issuer.check_validity(now)
}

fn check_critical_extensions(cert: &Certificate) -> Result<(), CertError> {
    match cert.unknown_critical.first() {
        Some(oid) => Err(CertError::UnknownCriticalExtension {
            subject: cert.subject.clone(),
            oid: oid.clone(),
        }),
        None => Ok(()),
    }
}

/// A name of a certificate, as nameConstraints see it.
enum ConstrainedName<'a> {
    Dn(&'a [u8]),
    Dns(&'a str),
    Email(&'a str),
    Ip(IpAddr),
    Other(&'static str),
}

impl ConstrainedName<'_> {
    fn describe(&self) -> String {
        match self {
            Self::Dn(der) => format!("DN:{}", dn_to_text(der).unwrap_or_default()),
            Self::Dns(d) => format!("DNS:{d}"),
            Self::Email(e) => format!("email:{e}"),
            Self::Ip(ip) => format!("IP:{ip}"),
            Self::Other(form) => format!("subjectAltName of form {form}"),
        }
    }

    /// `Some(matches)` when `tree` is of this name's form, `None` otherwise.
    fn within(&self, tree: &Subtree) -> Option<bool> {
        match (self, tree) {
            (Self::Dn(der), Subtree::Dn(base)) => Some(dn_within(der, base)),
            (Self::Dns(name), Subtree::Dns(base)) => Some(dns_within(name, base)),
            (Self::Email(addr), Subtree::Email(base)) => Some(email_within(addr, base)),
            (Self::Ip(ip), Subtree::Ip(addr, mask)) => Some(ip_within(*ip, addr, mask)),
            (Self::Ip(_), Subtree::Other(form)) if form.starts_with("IP") => Some(false),
            (Self::Other(a), Subtree::Other(b)) => (a == b).then_some(false),
            _ => None,
        }
    }
}

fn describe_subtree(tree: &Subtree) -> String {
    match tree {
        Subtree::Dns(d) => format!("DNS:{d}"),
        Subtree::Email(e) => format!("email:{e}"),
        Subtree::Ip(addr, mask) => format!("IP:{}/{}", ip_text(addr), ip_text(mask)),
        Subtree::Dn(der) => format!("DN:{}", dn_to_text(der).unwrap_or_default()),
        Subtree::Other(form) => form.to_string(),
    }
}

/// An address or mask of an iPAddress constraint as text (both are 4 or 16 bytes).
fn ip_text(b: &[u8]) -> String {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        IpAddr::from(a).to_string()
    } else if let Ok(a) = <[u8; 16]>::try_from(b) {
        IpAddr::from(a).to_string()
    } else {
        String::new()
    }
}

/// RFC 5280 4.2.1.10 for every name of `cert` against `ca`'s nameConstraints: no name within
/// an excluded subtree; for each form the CA permits, every name of that form within one of
/// its permitted subtrees. A form iked does not process that the CA constrains refuses the
/// certificate (the RFC's "process the constraint or reject").
fn check_name_constraints(ca: &Certificate, cert: &Certificate) -> Result<(), CertError> {
    let Some(nc) = &ca.name_constraints else {
        return Ok(());
    };
    let mut names = Vec::new();
    // An empty subject (SAN-only certificates) has no DN to constrain.
    if X509Name::from_der(&cert.subject_der).is_ok_and(|(_, n)| n.iter().next().is_some()) {
        names.push(ConstrainedName::Dn(&cert.subject_der));
    }
    for alt in &cert.alt_names {
        names.push(match alt {
            AltName::Dns(d) => ConstrainedName::Dns(d),
            AltName::Email(e) => ConstrainedName::Email(e),
            AltName::Ip(ip) => ConstrainedName::Ip(*ip),
        });
    }
    names.extend(
        cert.subject_emails
            .iter()
            .map(|e| ConstrainedName::Email(e)),
    );
    names.extend(
        cert.other_alt_forms
            .iter()
            .map(|f| ConstrainedName::Other(f)),
    );
    let violation = |name: &ConstrainedName<'_>, why: String| {
        CertError::NameConstraint(Box::new(NameConstraintViolation {
            subject: cert.subject.clone(),
            name: name.describe(),
            ca: ca.subject.clone(),
            why,
        }))
    };
    for name in &names {
        if let Some(Subtree::Other(form)) = nc
            .permitted
            .iter()
            .chain(&nc.excluded)
            .find(|t| matches!(t, Subtree::Other(_)) && name.within(t).is_some())
        {
            return Err(violation(
                name,
                format!("the CA constrains the {form} form, which iked does not process"),
            ));
        }
        if let Some(tree) = nc.excluded.iter().find(|t| name.within(t) == Some(true)) {
            return Err(violation(
                name,
                format!("within excluded subtree {}", describe_subtree(tree)),
            ));
        }
        let mut same_form = nc
            .permitted
            .iter()
            .filter_map(|t| name.within(t))
            .peekable();
        if same_form.peek().is_some() && !same_form.any(|m| m) {
            return Err(violation(name, "not within any permitted subtree".into()));
        }
    }
    Ok(())
}

/// dNSName: the base itself or any name with more labels on the left; a leading `.` (not in
/// RFC 5280, but common) means subdomains only; the empty base matches every name.
fn dns_within(name: &str, base: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let base = base.trim_end_matches('.');
    if base.is_empty() {
        return true;
    }
    if base.starts_with('.') {
        return name.ends_with(base);
    }
    name == base
        || name
            .strip_suffix(base)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// rfc822Name: `user@host` one mailbox, `host` every mailbox on that host, `.domain` every
/// mailbox on hosts below it. Host parts compare case-insensitively, local parts exactly.
fn email_within(addr: &str, base: &str) -> bool {
    let Some((local, host)) = addr.rsplit_once('@') else {
        return false;
    };
    match base.rsplit_once('@') {
        Some((base_local, base_host)) => {
            local == base_local && host.eq_ignore_ascii_case(base_host)
        }
        None if base.starts_with('.') => host
            .len()
            .checked_sub(base.len())
            .and_then(|i| host.get(i..))
            .is_some_and(|tail| tail.eq_ignore_ascii_case(base)),
        None => host.eq_ignore_ascii_case(base),
    }
}

/// iPAddress: same family, and equal under the constraint's mask.
fn ip_within(ip: IpAddr, addr: &[u8], mask: &[u8]) -> bool {
    let octets = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    octets.len() == addr.len()
        && octets
            .iter()
            .zip(addr)
            .zip(mask)
            .all(|((o, a), m)| o & m == a & m)
}

/// An attribute value as text when it is one of the string types (RFC 5280 7.1 compares
/// those after case folding whatever their type: PrintableString from openssl, UTF8String
/// from most other tools).
fn attr_text<'a>(v: &'a x509_parser::der_parser::asn1_rs::Any<'_>) -> Option<&'a str> {
    if matches!(
        v.tag(),
        Tag::PrintableString
            | Tag::Utf8String
            | Tag::Ia5String
            | Tag::T61String
            | Tag::VisibleString
    ) {
        std::str::from_utf8(v.data).ok()
    } else {
        None
    }
}

/// directoryName: the base's RDNs are the first RDNs of the subject, compared as RFC 5280 7.1
/// asks (string values case-insensitively, as caseIgnoreMatch does for ASCII).
fn dn_within(subject: &[u8], base: &[u8]) -> bool {
    let (Ok((_, subject)), Ok((_, base))) = (X509Name::from_der(subject), X509Name::from_der(base))
    else {
        return false;
    };
    let subject: Vec<_> = subject.iter().collect();
    let base: Vec<_> = base.iter().collect();
    base.len() <= subject.len()
        && base.iter().zip(&subject).all(|(b, s)| {
            let (b, s): (Vec<_>, Vec<_>) = (b.iter().collect(), s.iter().collect());
            b.len() == s.len()
                && b.iter().zip(&s).all(|(x, y)| {
                    x.attr_type() == y.attr_type() && {
                        let (xv, yv) = (x.attr_value(), y.attr_value());
                        match (attr_text(xv), attr_text(yv)) {
                            (Some(a), Some(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
                            _ => xv.data == yv.data,
                        }
                    }
                })
        })
}

// ----- Distinguished names -------------------------------------------------------------------

/// DN attribute keywords strongSwan's `atodn` knows, with their OIDs (dotted) and whether
/// the value is an IA5String (else PrintableString, or UTF8String when not printable).
const DN_ATTRIBUTES: &[(&str, &str, bool)] = &[
    ("CN", "2.5.4.3", false),
    ("S", "2.5.4.4", false),
    ("SN", "2.5.4.4", false),
    ("SERIALNUMBER", "2.5.4.5", false),
    ("C", "2.5.4.6", false),
    ("L", "2.5.4.7", false),
    ("ST", "2.5.4.8", false),
    ("STREET", "2.5.4.9", false),
    ("O", "2.5.4.10", false),
    ("OU", "2.5.4.11", false),
    ("T", "2.5.4.12", false),
    ("TITLE", "2.5.4.12", false),
    ("D", "2.5.4.13", false),
    ("DESCRIPTION", "2.5.4.13", false),
    ("POSTALCODE", "2.5.4.17", false),
    ("N", "2.5.4.41", false),
    ("NAME", "2.5.4.41", false),
    ("G", "2.5.4.42", false),
    ("GN", "2.5.4.42", false),
    ("I", "2.5.4.43", false),
    ("INITIALS", "2.5.4.43", false),
    ("ID", "2.5.4.45", false),
    ("DNQ", "2.5.4.46", false),
    ("DNQUALIFIER", "2.5.4.46", false),
    ("PSEUDONYM", "2.5.4.65", false),
    ("E", "1.2.840.113549.1.9.1", true),
    ("EMAIL", "1.2.840.113549.1.9.1", true),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1", true),
    ("UN", "1.2.840.113549.1.9.2", true),
    ("UNSTRUCTUREDNAME", "1.2.840.113549.1.9.2", true),
    ("UID", "0.9.2342.19200300.100.1.1", false),
    ("DC", "0.9.2342.19200300.100.1.25", true),
    ("TCGID", "1.3.6.1.4.1.2312.16.1.2", false),
];

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

fn encode_oid(dotted: &str) -> Option<Vec<u8>> {
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(|a| a.parse().ok())
        .collect::<Option<_>>()?;
    let (&first, rest) = arcs.split_first()?;
    let (&second, rest) = rest.split_first()?;
    if first > 2 || (first < 2 && second > 39) {
        return None;
    }
    let mut body = Vec::new();
    let first_arc = first.checked_mul(40)?.checked_add(second)?;
    for arc in std::iter::once(first_arc).chain(rest.iter().copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut v = arc >> 7;
        while v > 0 {
            groups.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        body.extend(groups.iter().rev());
    }
    Some(der_tlv(0x06, &body))
}

fn is_printable_string(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

/// Encodes a DN given as `(attribute, value)` pairs (`("CN", "bfr")`, or a dotted OID as the
/// attribute) into a DER Name, one attribute per RDN, in the given order.
pub fn encode_dn<S: AsRef<str>>(rdns: &[(S, S)]) -> Result<Vec<u8>, CertError> {
    let text = || {
        rdns.iter()
            .map(|(a, v)| format!("{}={}", a.as_ref(), v.as_ref()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let invalid = |why: String| CertError::InvalidDn { text: text(), why };
    if rdns.is_empty() {
        return Err(invalid("empty".into()));
    }
    let mut seq = Vec::new();
    for (attr, value) in rdns {
        let (attr, value) = (attr.as_ref().trim(), value.as_ref().trim());
        let upper = attr.to_ascii_uppercase();
        let (oid, ia5) = match DN_ATTRIBUTES.iter().find(|(k, _, _)| *k == upper) {
            Some((_, oid, ia5)) => (encode_oid(oid), *ia5),
            None => (encode_oid(attr), false),
        };
        let oid = oid.ok_or_else(|| invalid(format!("unknown attribute '{attr}'")))?;
        let tag = if ia5 {
            0x16
        } else if is_printable_string(value) {
            0x13
        } else {
            0x0c
        };
        let atv = der_tlv(0x30, &[oid, der_tlv(tag, value.as_bytes())].concat());
        seq.extend(der_tlv(0x31, &atv));
    }
    Ok(der_tlv(0x30, &seq))
}

/// Parses DN text in LDAP style (`C=CH, O=x, CN=bfr`) or OpenSSL style (`/C=CH/O=x/CN=bfr`)
/// and encodes it with [`encode_dn`].
pub fn dn_from_text(text: &str) -> Result<Vec<u8>, CertError> {
    let (sep, body) = match text.strip_prefix('/') {
        Some(rest) => ('/', rest),
        None => (',', text),
    };
    let mut rdns = Vec::new();
    for part in body.split(sep).map(str::trim).filter(|p| !p.is_empty()) {
        let (attr, value) = part.split_once('=').ok_or_else(|| CertError::InvalidDn {
            text: text.to_string(),
            why: format!("'{part}' is not an ATTR=value pair"),
        })?;
        rdns.push((attr.trim(), value.trim()));
    }
    encode_dn(&rdns).map_err(|e| match e {
        CertError::InvalidDn { why, .. } => CertError::InvalidDn {
            text: text.to_string(),
            why,
        },
        other => other,
    })
}

/// Renders a DER Name as text (`C=CH, O=x, CN=bfr`); `None` if it does not parse.
pub fn dn_to_text(der: &[u8]) -> Option<String> {
    match X509Name::from_der(der) {
        Ok(([], name)) => Some(name.to_string()),
        _ => None,
    }
}

/// strongSwan's DN comparison: same attributes in the same order; PrintableString values
/// case-insensitively (when both are PrintableString), others byte for byte; a `*` value in
/// `wanted` matches any value. Both are DER Names.
pub fn dn_matches(wanted: &[u8], subject: &[u8]) -> bool {
    let (Ok((wr, w)), Ok((sr, s))) = (X509Name::from_der(wanted), X509Name::from_der(subject))
    else {
        return false;
    };
    if !wr.is_empty() || !sr.is_empty() {
        return false;
    }
    let w: Vec<_> = w.iter_attributes().collect();
    let s: Vec<_> = s.iter_attributes().collect();
    w.len() == s.len()
        && w.iter().zip(&s).all(|(a, b)| {
            if a.attr_type() != b.attr_type() {
                return false;
            }
            let (av, bv) = (a.attr_value(), b.attr_value());
            let (ad, bd) = (av.data, bv.data);
            ad == b"*"
                || if av.tag() == Tag::PrintableString && bv.tag() == Tag::PrintableString {
                    ad.eq_ignore_ascii_case(bd)
                } else {
                    ad == bd
                }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_text_round_trips_and_matches_with_case_and_wildcards() {
        let der = dn_from_text("C=CH, O=iked test, CN=bfl").unwrap();
        assert_eq!(dn_to_text(&der).unwrap(), "C=CH, O=iked test, CN=bfl");
        assert_eq!(dn_from_text("/C=CH/O=iked test/CN=bfl").unwrap(), der);
        let upper = dn_from_text("C=CH, O=IKED TEST, CN=BFL").unwrap();
        assert!(dn_matches(&upper, &der));
        assert!(dn_matches(
            &dn_from_text("C=CH, O=iked test, CN=*").unwrap(),
            &der
        ));
        assert!(!dn_matches(
            &dn_from_text("C=CH, O=iked test, CN=bfr").unwrap(),
            &der
        ));
        assert!(!dn_matches(
            &dn_from_text("O=iked test, CN=bfl").unwrap(),
            &der
        ));
        assert!(matches!(
            dn_from_text("CN=x, NOPE=y"),
            Err(CertError::InvalidDn { .. })
        ));
        assert!(dn_from_text("").is_err());
    }

    /// RFC 5280 4.2.1.10 forms of each name type.
    #[test]
    fn name_constraint_forms() {
        assert!(dns_within("host.example.org", "example.org"));
        assert!(dns_within("EXAMPLE.org.", "example.org"));
        assert!(!dns_within("badexample.org", "example.org"));
        assert!(dns_within("a.example.org", ".example.org"));
        assert!(!dns_within("example.org", ".example.org"));
        assert!(dns_within("anything", ""));
        assert!(email_within("bfl@example.org", "bfl@EXAMPLE.org"));
        assert!(!email_within("BFL@example.org", "bfl@example.org"));
        assert!(email_within("bfl@Example.Org", "example.org"));
        assert!(!email_within("bfl@sub.example.org", "example.org"));
        assert!(email_within("bfl@sub.example.org", ".example.org"));
        assert!(!email_within("bfl@example.org", ".example.org"));
        assert!(!email_within("no-at-sign", "example.org"));
        let net = [10, 1, 0, 0];
        let mask = [255, 255, 0, 0];
        assert!(ip_within("10.1.2.3".parse().unwrap(), &net, &mask));
        assert!(!ip_within("10.2.0.1".parse().unwrap(), &net, &mask));
        assert!(!ip_within("::ffff:10.1.2.3".parse().unwrap(), &net, &mask));
        let base = dn_from_text("C=CH, O=iked test").unwrap();
        assert!(dn_within(
            &dn_from_text("C=CH, O=IKED TEST, CN=x").unwrap(),
            &base
        ));
        assert!(dn_within(&base, &base));
        assert!(!dn_within(&dn_from_text("C=CH, CN=x").unwrap(), &base));
        assert!(!dn_within(&dn_from_text("C=CH").unwrap(), &base));
    }

    #[test]
    fn oid_encoding_matches_der() {
        // 2.5.4.3 (CN) and 1.2.840.113549.1.9.1 (emailAddress), RFC 5280 appendix A.
        assert_eq!(
            encode_oid("2.5.4.3").unwrap(),
            [0x06, 0x03, 0x55, 0x04, 0x03]
        );
        assert_eq!(
            encode_oid("1.2.840.113549.1.9.1").unwrap(),
            [
                0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01
            ]
        );
        assert!(encode_oid("3.1").is_none());
        assert!(encode_oid("1").is_none());
    }
}
