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

use iked_crypto::auth::{PrivateKey, PublicKey};
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
    let anchor = x509::verify_chain(end, &intermediates, &anchors, &remote.certs, now)?;
    if let Some(anchor) = anchor
        && !remote.cacerts.is_empty()
        && !remote.cacerts.contains(anchor)
    {
        return Err(CredError::WrongCa {
            subject: end.subject().to_string(),
        });
    }
    Ok(vec![TrustedKey {
        key: end.public_key()?,
        subject: end.subject().to_string(),
    }])
}
