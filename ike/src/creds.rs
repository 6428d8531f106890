//! Credentials for public-key authentication, and the engine-facing checks on them.
//!
//! Contract: a [`CredentialSet`] is what the daemon loaded from disk or VICI (our private
//! keys, certificates, trusted CAs); it is immutable once handed to the engine. [`our_signer`]
//! picks our certificate chain and the private key matching it; [`trusted_peer_keys`]
//! decides which public keys may verify the peer's AUTH payload: a certificate the peer sent
//! (or one we hold for it) whose chain reaches a trust anchor at the wall-clock time passed
//! in, or a pinned certificate or raw key, and whose identity matches the peer's ID payload.
//! Every refusal is a [`CredError`] naming the cause; the engine logs it and sends only
//! AUTHENTICATION_FAILED.

use std::sync::Arc;

use std::collections::HashMap;

use iked_crypto::auth::{PrivateKey, PublicKey};
use iked_crypto::crl::{self, Crl, LinkStatus, Policy, RevocationError};
use iked_crypto::x509::{self, CertError, Certificate};

use crate::config::{Identity, PubkeyAuth, id_type};

/// Private keys, certificates and trust anchors (strongSwan's `private/`, `x509/`, `x509ca/`).
#[derive(Debug, Default, Clone)]
pub struct CredentialSet {
    /// Our private keys; one is used when its public key matches our certificate.
    pub keys: Vec<Arc<PrivateKey>>,
    /// End-entity and intermediate certificates (ours, peers', intermediates). Peers' are used
    /// when a peer sends none; intermediates help build chains. Not trusted by themselves.
    pub certs: Vec<Certificate>,
    /// Trusted CA certificates (trust anchors).
    pub cas: Vec<Certificate>,
    /// CRLs: loaded (`x509crl/`, VICI `load-cert`) and fetched. Each counts only for
    /// certificates of the CA that signed it.
    pub crls: Vec<Crl>,
    /// CRL URIs of authorities (`authorities.<name>.crl_uris`), by the CA certificate: tried
    /// for every certificate that CA issued, as charon's CDP lookup does.
    pub authority_crl_uris: Vec<(Certificate, Vec<String>)>,
    /// CRL URIs not to ask for again before the given Unix time: fetched (until the CRL's
    /// nextUpdate) or failed recently. Others are asked for when a status is not known.
    pub crl_retry: HashMap<String, i64>,
}

/// Why public-key authentication cannot proceed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredError {
    /// A certificate check failed.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// We have no certificate or raw key configured for our side.
    #[error("no certificate configured for '{0}'")]
    NoLocalCert(String),
    /// No private key matches our certificate.
    #[error("no private key found for \"{0}\"")]
    NoPrivateKey(String),
    /// The peer sent no certificate and we hold none for its identity.
    #[error("no trusted certificate or public key found for '{0}'")]
    NoPeerCredential(String),
    /// A raw public key could not be encoded to derive its key ID.
    #[error("cannot derive the key ID of a public key: {0}")]
    KeyId(String),
    /// The peer's certificate is not one of those configured in `remote.certs`.
    #[error("certificate \"{subject}\" is not the configured peer certificate")]
    NotConfiguredCert {
        /// Subject DN.
        subject: String,
    },
    /// A certificate of the peer's path is revoked, or its status is not what `revocation`
    /// requires.
    #[error(transparent)]
    Revocation(#[from] RevocationError),
    /// The status needs CRLs from these URIs, not fetched yet.
    #[error("waiting for CRLs from {}", .0.join(", "))]
    CrlsNeeded(Vec<String>),
    /// The peer's certificate chain does not end at one of `remote.cacerts`.
    #[error("certificate \"{subject}\" is not issued by a CA configured for this connection")]
    WrongCa {
        /// Subject DN.
        subject: String,
    },
}

/// Our signing material for one connection.
pub struct Signer {
    /// The private key.
    pub key: Arc<PrivateKey>,
    /// Our certificate chain to send (end entity first); empty with a raw key.
    pub chain: Vec<Certificate>,
}

/// Our certificate (the first of `local.certs`, intermediates after it) and the private key
/// matching it; without certificates, the private key of our first raw public key
/// (`local.pubkeys`), sent with no CERT payload.
pub fn our_signer(
    creds: &CredentialSet,
    local: &PubkeyAuth,
    id: &Identity,
) -> Result<Signer, CredError> {
    if local.certs.is_empty()
        && let Some(raw) = local.pubkeys.first()
    {
        let key = creds
            .keys
            .iter()
            .find(|k| k.public_key() == *raw.key())
            .cloned()
            .ok_or_else(|| CredError::NoPrivateKey(id.to_string()))?;
        return Ok(Signer { key, chain: vec![] });
    }
    let cert = local
        .certs
        .first()
        .ok_or_else(|| CredError::NoLocalCert(id.to_string()))?;
    let public = cert.public_key()?;
    let key = creds
        .keys
        .iter()
        .find(|k| k.public_key() == public)
        .cloned()
        .ok_or_else(|| CredError::NoPrivateKey(cert.subject().to_string()))?;
    let mut chain = local.certs.clone();
    // Add intermediates we know, so the peer can build the chain: walk issuers among our
    // certificates until a self-issued one or a trust anchor.
    while let Some(last) = chain.last() {
        let next = creds.certs.iter().find(|c| {
            c.is_ca()
                && c.subject_der() == last.issuer_der()
                && !chain.contains(c)
                && !c.is_self_signed()
        });
        match next {
            Some(c) => chain.push(c.clone()),
            None => break,
        }
    }
    Ok(Signer { key, chain })
}

/// Our identity when `local.id` is not configured: the certificate's subject DN (strongSwan).
pub fn identity_from_cert(cert: &Certificate) -> Identity {
    Identity {
        kind: id_type::DER_ASN1_DN,
        data: cert.subject_der().to_vec(),
    }
}

/// The identity strongSwan gives a side configured with `pubkeys` and no `id`: the first
/// key's ID_KEY_ID, the SHA-1 of its DER SubjectPublicKeyInfo (vici takes the identity from
/// the trusted-pubkey certificate's subject, which `pubkey_cert` builds from the key's
/// `KEYID_PUBKEY_INFO_SHA1` fingerprint). `None` when the side has no raw key.
pub fn identity_from_pubkeys(auth: &PubkeyAuth) -> Result<Option<Identity>, CredError> {
    let Some(raw) = auth.pubkeys.first() else {
        return Ok(None);
    };
    let key_id = raw
        .key()
        .spki_sha1()
        .map_err(|e| CredError::KeyId(e.to_string()))?;
    Ok(Some(Identity {
        kind: id_type::KEY_ID,
        data: key_id.to_vec(),
    }))
}

/// A public key the peer's AUTH may verify with, and what vouches for it (for logs).
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The key.
    pub key: PublicKey,
    /// `"C=CH, O=x, CN=bfr"` (a certificate's subject) or `"raw public key"`.
    pub subject: String,
}

/// The key(s) that may verify the peer's AUTH: from the first certificate the peer sent
/// (`received[0]` is its end entity, the rest intermediates), else from a certificate we hold
/// that names `peer_id`, else the pinned raw keys. `now` is the wall clock in Unix seconds.
pub fn trusted_peer_keys(
    creds: &CredentialSet,
    remote: &PubkeyAuth,
    peer_id: &Identity,
    received: &[Certificate],
    now: i64,
) -> Result<Vec<TrustedKey>, CredError> {
    let names_peer = |c: &&Certificate| c.matches_identity(peer_id.kind, &peer_id.data);
    let end = match received.first() {
        Some(c) => Some(c),
        // A pinned certificate may be CA:TRUE (`openssl req -x509` makes them so); certificates
        // merely held are looked up only among end entities.
        None => remote
            .certs
            .iter()
            .find(names_peer)
            .or_else(|| creds.certs.iter().filter(|c| !c.is_ca()).find(names_peer)),
    };
    let Some(end) = end else {
        if remote.pubkeys.is_empty() {
            return Err(CredError::NoPeerCredential(peer_id.to_string()));
        }
        return Ok(remote
            .pubkeys
            .iter()
            .map(|k| TrustedKey {
                key: k.key().clone(),
                subject: "raw public key".to_string(),
            })
            .collect());
    };
    if !end.matches_identity(peer_id.kind, &peer_id.data) {
        return Err(CertError::IdentityMismatch {
            id: peer_id.to_string(),
            subject: end.subject().to_string(),
        }
        .into());
    }
    if !remote.certs.is_empty() && !remote.certs.contains(end) {
        return Err(CredError::NotConfiguredCert {
            subject: end.subject().to_string(),
        });
    }
    let intermediates: Vec<Certificate> = received
        .iter()
        .skip(1)
        .chain(creds.certs.iter().filter(|c| c.is_ca()))
        .cloned()
        .collect();
    // Anchors: the global CAs plus the connection's own (strongSwan loads `cacerts` as CAs).
    let anchors: Vec<Certificate> = creds.cas.iter().chain(&remote.cacerts).cloned().collect();
    let (anchor, path) = x509::verify_path(end, &intermediates, &anchors, &remote.certs, now)?;
    if let Some(anchor) = anchor
        && !remote.cacerts.is_empty()
        && !remote.cacerts.contains(anchor)
    {
        return Err(CredError::WrongCa {
            subject: end.subject().to_string(),
        });
    }
    check_revocation(creds, remote.revocation, &path, now)?;
    Ok(vec![TrustedKey {
        key: end.public_key()?,
        subject: end.subject().to_string(),
    }])
}

/// Only URIs iked can fetch are asked for (strongSwan's fetchers also do LDAP and file).
fn fetchable(uri: &str) -> bool {
    uri.get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
}

/// The revocation status of every link of a validated `path` (end entity first, anchor last)
/// under `policy`, as strongSwan's revocation plugin decides it per link: a revoked certificate
/// is refused under every policy; a link whose status is not known and whose CRL URIs
/// (the certificate's distribution points, then its CA's `authorities` URIs) were not tried
/// lately yields [`CredError::CrlsNeeded`], so the caller fetches them and checks again.
pub fn check_revocation(
    creds: &CredentialSet,
    policy: Policy,
    path: &[&Certificate],
    now: i64,
) -> Result<(), CredError> {
    let mut needed: Vec<String> = Vec::new();
    let mut statuses = Vec::new();
    for link in path.windows(2) {
        let [subject, issuer] = link else {
            continue;
        };
        let mut status = crl::link_status(subject, issuer, &creds.crls, now);
        if let LinkStatus::Revoked(_) = status {
            // Refused under every policy (accepts() says why).
            policy.accepts(subject, &status)?;
        }
        let from_ca: Vec<&String> = creds
            .authority_crl_uris
            .iter()
            .filter(|(ca, _)| ca == *issuer)
            .flat_map(|(_, uris)| uris.iter())
            .collect();
        if status == LinkStatus::NoInfo && !from_ca.is_empty() {
            // The CA names where its CRL is: information should exist (charon: FAILED).
            status = LinkStatus::Unavailable;
        }
        if matches!(status, LinkStatus::Unavailable | LinkStatus::Stale { .. }) {
            for uri in subject.crl_uris().iter().chain(from_ca) {
                if fetchable(uri)
                    && creds.crl_retry.get(uri).is_none_or(|&t| now >= t)
                    && !needed.contains(uri)
                {
                    needed.push(uri.clone());
                }
            }
        }
        statuses.push((*subject, status));
    }
    if !needed.is_empty() {
        return Err(CredError::CrlsNeeded(needed));
    }
    for (subject, status) in statuses {
        policy.accepts(subject, &status)?;
    }
    Ok(())
}
