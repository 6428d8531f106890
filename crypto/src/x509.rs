//! X.509 certificates for IKEv2 public-key authentication.
//!
//! Contract:
//! - [`Certificate`] loads one certificate from PEM or DER (`x509-parser`), keeps its DER and
//!   the fields authentication needs; loading never panics and rejects trailing data.
//! - [`verify_chain`] checks an end-entity certificate against trust anchors at a wall-clock
//!   time passed in by the caller (this crate reads no clock): each link's signature, validity
//!   dates, basicConstraints CA on issuers, keyUsage keyCertSign on issuers and
//!   digitalSignature on the end entity (when the extension is present). A self-signed end
//!   entity is accepted only when it is pinned (the exact certificate configured for the peer).
//! - [`Certificate::matches_identity`] decides whether an IKE identity (type and data as in the
//!   ID payload) names the certificate, the way strongSwan's x509 plugin does: ID_DER_ASN1_DN
//!   against the subject (RDN by RDN, PrintableString case-insensitive, `*` values as
//!   wildcards), ID_FQDN / ID_RFC822_ADDR / ID_IPV4 / ID_IPV6 against subjectAltName, ID_KEY_ID
//!   against the subjectKeyIdentifier or the SHA-1 of the public key.
//! - [`encode_dn`] builds the DER Name for a textual DN (`C=CH, O=x, CN=bfr`), the ID data of
//!   an ID_DER_ASN1_DN identity, as strongSwan's `atodn` does.
//! - Every failure is a [`CertError`] naming the certificate and the cause.

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
    /// An issuer without basicConstraints CA (or without keyCertSign).
    #[error("issuer certificate \"{subject}\" is not a CA")]
    NotCa {
        /// Subject DN of the would-be issuer.
        subject: String,
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
    /// `(digitalSignature, keyCertSign)` when the keyUsage extension is present.
    key_usage: Option<(bool, bool)>,
    alt_names: Vec<AltName>,
    subject_key_id: Option<Vec<u8>>,
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
        let ca = cert
            .basic_constraints()
            .map_err(malformed)?
            .is_some_and(|bc| bc.value.ca);
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
                        }
                    }
                    _ => {}
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
            key_usage,
            alt_names,
            subject_key_id,
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
/// its dates and keyUsage are checked), or a chain through `intermediates` (any order,
/// untrusted) reaches one of `anchors`. Returns the trust anchor used (`None` if pinned).
pub fn verify_chain<'a>(
    end: &Certificate,
    intermediates: &[Certificate],
    anchors: &'a [Certificate],
    pinned: &[Certificate],
    now: i64,
) -> Result<Option<&'a Certificate>, CertError> {
    end.check_validity(now)?;
    if let Some((false, _)) = end.key_usage {
        return Err(CertError::KeyUsage {
            subject: end.subject.clone(),
        });
    }
    if pinned.contains(end) {
        return Ok(None);
    }
    // The end entity is an anchor itself (a CA certificate used directly): trusted as pinned.
    if let Some(anchor) = anchors.iter().find(|a| *a == end) {
        return Ok(Some(anchor));
    }
    // RFC 5280 path limit is not an issue at IKE scale; 8 links bound a malicious loop.
    const MAX_DEPTH: usize = 8;
    let mut current = end;
    for _ in 0..MAX_DEPTH {
        let mut last_error = None;
        for anchor in anchors
            .iter()
            .filter(|a| a.subject_der == current.issuer_der)
        {
            match check_issuer(current, anchor, now) {
                Ok(()) => return Ok(Some(anchor)),
                Err(e) => last_error = Some(e),
            }
        }
        let mut next = None;
        for cand in intermediates
            .iter()
            .filter(|c| c.subject_der == current.issuer_der && *c != current)
        {
            match check_issuer(current, cand, now) {
                Ok(()) => {
                    next = Some(cand);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        match next {
            Some(n) => current = n,
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
    Err(CertError::UnknownCa {
        subject: current.subject.clone(),
        issuer: current.issuer.clone(),
    })
}

/// One link: `issuer` is a currently valid CA that signed `cert`.
fn check_issuer(cert: &Certificate, issuer: &Certificate, now: i64) -> Result<(), CertError> {
    let not_ca = || CertError::NotCa {
        subject: issuer.subject.clone(),
    };
    if !issuer.ca {
        return Err(not_ca());
    }
    if let Some((_, false)) = issuer.key_usage {
        return Err(not_ca());
    }
    cert.verify_signed_by(issuer)?;
    issuer.check_validity(now)
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
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
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
    for arc in std::iter::once(first * 40 + second).chain(rest.iter().copied()) {
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
