//! Authentication of IKE_AUTH messages, and the proof token an established IKE SA needs.
//!
//! Contract: [`AuthVerified`] can only be created by a successful verification in this module
//! (a PSK MIC, or a signature by a key the caller established as trusted); the engine builds
//! the established state only from such a token, so no code path can reach "established"
//! without checking the peer's AUTH payload. PSK failures are [`ProtocolError::AuthFailed`];
//! signature failures are [`ProtocolError::PubkeyAuth`] naming the cause (both become
//! AUTHENTICATION_FAILED on the wire).
//!
//! Signature method choice (strongSwan's `pubkey_authenticator`): RFC 7427 (method 14) when
//! the peer announced SIGNATURE_HASH_ALGORITHMS, with the key type's default scheme (RSA
//! PKCS#1 v1.5 or, under an `rsa/pss` constraint, PSS; ECDSA with the curve's hash; Ed25519)
//! whose hash the peer supports; otherwise the classic methods 1 (RSA, SHA-1) and 9/10/11
//! (ECDSA). Ed25519 has no classic method.

use iked_crypto::auth::{self as sig, AuthMethod as SigMethod, PrivateKey, SignatureScheme};

use crate::config::{Identity, PubkeyConstraint};
use crate::creds::TrustedKey;
use crate::error::ProtocolError;
use crate::suite::{self, RandomSource, Secret};

/// Proof that the peer's AUTH payload verified. Not constructible outside this module.
#[derive(Debug)]
pub struct AuthVerified {
    _sealed: (),
}

impl AuthVerified {
    /// The proof for an IKE SA resumed from a state snapshot (`engine/snapshot`): its peer
    /// was authenticated by the process that wrote the snapshot, which only root can write.
    pub(crate) fn restored() -> AuthVerified {
        AuthVerified { _sealed: () }
    }
}

/// Inputs to AUTH computation (RFC 7296 2.15), from the point of view of the signer.
pub struct AuthContext<'a> {
    /// Negotiated PRF.
    pub prf: u16,
    /// The signer's IKE_SA_INIT message as sent (RealMessage1 or RealMessage2).
    pub init_message: &'a [u8],
    /// The other side's nonce (NonceRData for the initiator, NonceIData for the responder).
    pub peer_nonce: &'a [u8],
    /// SK_pi (initiator signs) or SK_pr (responder signs).
    pub sk_p: &'a Secret,
    /// The signer's identity.
    pub id: &'a Identity,
}

impl AuthContext<'_> {
    fn signed_octets(&self) -> Result<(Secret, Vec<u8>), ProtocolError> {
        // MACedIDFor = prf(SK_p, IDType | RESERVED | Identification Data).
        let mut id_body = vec![self.id.kind, 0, 0, 0];
        id_body.extend_from_slice(&self.id.data);
        let maced = suite::prf(self.prf, self.sk_p.expose(), &[&id_body])?;
        Ok((maced, id_body))
    }
}

impl AuthContext<'_> {
    /// The complete signed octets: `RealMessage | Nonce | MACedIDFor`.
    fn octets(&self) -> Result<Vec<u8>, ProtocolError> {
        let (maced, _) = self.signed_octets()?;
        Ok([self.init_message, self.peer_nonce, maced.expose()].concat())
    }
}

/// Picks the AUTH method and scheme for our key. `peer_hashes` is the peer's
/// SIGNATURE_HASH_ALGORITHMS list (`None` when it sent none).
pub fn choose_signature(
    key: &PrivateKey,
    constraint: &PubkeyConstraint,
    peer_hashes: Option<&[u16]>,
) -> Result<(u8, SignatureScheme), ProtocolError> {
    use SignatureScheme as S;
    let Some(hashes) = peer_hashes else {
        let method = match key {
            PrivateKey::Rsa(_) => SigMethod::RSA,
            PrivateKey::EcdsaP256(_) => SigMethod::ECDSA_SHA256_P256,
            PrivateKey::EcdsaP384(_) => SigMethod::ECDSA_SHA384_P384,
            PrivateKey::EcdsaP521(_) => SigMethod::ECDSA_SHA512_P521,
            PrivateKey::Ed25519(_) => {
                return Err(ProtocolError::PubkeyAuth(
                    "Ed25519 needs RFC 7427 signature authentication, which the peer did not \
                     announce (no SIGNATURE_HASH_ALGORITHMS)"
                        .into(),
                ));
            }
        };
        // Method 1 is RSA PKCS#1 v1.5 with SHA-1 (RFC 7296 3.8, as charon does it).
        let scheme = match key {
            PrivateKey::Rsa(_) => S::RsaPkcs1Sha1,
            _ => key.default_scheme(),
        };
        return Ok((method.0, scheme));
    };
    let candidates: &[SignatureScheme] = match key {
        PrivateKey::Rsa(_) if constraint.rsa_pss => {
            &[S::RsaPssSha256, S::RsaPssSha384, S::RsaPssSha512]
        }
        PrivateKey::Rsa(_) => &[S::RsaPkcs1Sha256, S::RsaPkcs1Sha384, S::RsaPkcs1Sha512],
        PrivateKey::EcdsaP256(_) => &[S::EcdsaP256Sha256],
        PrivateKey::EcdsaP384(_) => &[S::EcdsaP384Sha384],
        PrivateKey::EcdsaP521(_) => &[S::EcdsaP521Sha512],
        PrivateKey::Ed25519(_) => &[S::Ed25519],
    };
    candidates
        .iter()
        .find(|s| hashes.contains(&s.hash_algorithm_id()))
        .map(|s| (SigMethod::DIGITAL_SIGNATURE.0, *s))
        .ok_or_else(|| {
            ProtocolError::PubkeyAuth(format!(
                "no signature scheme for our {key:?} key uses a hash the peer supports ({hashes:?})"
            ))
        })
}

/// Builds our signature AUTH data.
pub fn sign(
    ctx: &AuthContext<'_>,
    key: &PrivateKey,
    method: u8,
    scheme: SignatureScheme,
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, ProtocolError> {
    let octets = ctx.octets()?;
    sig::sign_auth(key, SigMethod(method), scheme, &octets, rng)
        .map_err(|e| ProtocolError::PubkeyAuth(format!("signing our AUTH payload failed: {e}")))
}

/// Verifies the peer's signature AUTH data with one of `keys` (already established as
/// trusted for the peer's identity) and checks the scheme against the `auth` constraint.
/// Returns the proof, the scheme and the subject of the key that verified.
pub fn verify_signature(
    ctx: &AuthContext<'_>,
    keys: &[TrustedKey],
    constraint: &PubkeyConstraint,
    method: u8,
    data: &[u8],
) -> Result<(AuthVerified, SignatureScheme, String), ProtocolError> {
    let method = SigMethod(method);
    if !matches!(
        method,
        SigMethod::RSA
            | SigMethod::ECDSA_SHA256_P256
            | SigMethod::ECDSA_SHA384_P384
            | SigMethod::ECDSA_SHA512_P521
            | SigMethod::DIGITAL_SIGNATURE
    ) {
        return Err(ProtocolError::PubkeyAuth(format!(
            "peer used AUTH method {}, but public key authentication is configured",
            method.0
        )));
    }
    let octets = ctx.octets()?;
    let mut last = None;
    for key in keys {
        match sig::verify_auth(&key.key, method, data, &octets) {
            Ok(scheme) if constraint.allows(scheme) => {
                return Ok((AuthVerified { _sealed: () }, scheme, key.subject.clone()));
            }
            Ok(scheme) => {
                return Err(ProtocolError::PubkeyAuth(format!(
                    "signature scheme {scheme:?} of \"{}\" not allowed by auth = {}",
                    key.subject, constraint.spec
                )));
            }
            Err(e) => last = Some((e, &key.subject)),
        }
    }
    Err(ProtocolError::PubkeyAuth(match last {
        Some((e, subject)) => format!("signature of \"{subject}\" does not verify: {e}"),
        None => "no trusted public key for the peer".into(),
    }))
}

/// An authentication method (PSK; signatures use the functions above).
pub trait Authenticator {
    /// AUTH method number on the wire.
    fn method(&self) -> u8;
    /// Builds our AUTH data.
    fn build(&self, ctx: &AuthContext<'_>) -> Result<Vec<u8>, ProtocolError>;
    /// Verifies the peer's AUTH data; the only way to obtain an [`AuthVerified`].
    fn verify(
        &self,
        ctx: &AuthContext<'_>,
        method: u8,
        data: &[u8],
    ) -> Result<AuthVerified, ProtocolError>;
}

/// Shared-key message integrity code (AUTH method 2).
pub struct PskAuthenticator<'a> {
    psk: &'a [u8],
}

impl<'a> PskAuthenticator<'a> {
    /// AUTH method number for a shared key MIC.
    pub const METHOD: u8 = 2;

    /// Authenticator for one pre-shared key.
    pub fn new(psk: &'a [u8]) -> Self {
        PskAuthenticator { psk }
    }

    fn compute(&self, ctx: &AuthContext<'_>) -> Result<Secret, ProtocolError> {
        let (maced, _) = ctx.signed_octets()?;
        Ok(suite::psk_auth(
            ctx.prf,
            self.psk,
            &[ctx.init_message, ctx.peer_nonce, maced.expose()],
        )?)
    }
}

impl Authenticator for PskAuthenticator<'_> {
    fn method(&self) -> u8 {
        Self::METHOD
    }

    fn build(&self, ctx: &AuthContext<'_>) -> Result<Vec<u8>, ProtocolError> {
        Ok(self.compute(ctx)?.expose().to_vec())
    }

    fn verify(
        &self,
        ctx: &AuthContext<'_>,
        method: u8,
        data: &[u8],
    ) -> Result<AuthVerified, ProtocolError> {
        if method != Self::METHOD {
            return Err(ProtocolError::AuthFailed);
        }
        let expected = self.compute(ctx).map_err(|_| ProtocolError::AuthFailed)?;
        if suite::ct_eq(expected.expose(), data) {
            Ok(AuthVerified { _sealed: () })
        } else {
            Err(ProtocolError::AuthFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proposal::prf;
    use iked_crypto::rng::SeededRandom;

    fn test_key(name: &str) -> PrivateKey {
        let path = format!(
            "{}/../crypto/tests/data/certs/{name}.key.pem",
            env!("CARGO_MANIFEST_DIR")
        );
        PrivateKey::from_pem(&std::fs::read(path).unwrap()).unwrap()
    }

    fn trusted(key: &PrivateKey) -> Vec<TrustedKey> {
        vec![TrustedKey {
            key: key.public_key(),
            subject: "CN=test".into(),
        }]
    }

    /// Without the peer's SIGNATURE_HASH_ALGORITHMS the classic methods are used (RFC 7296
    /// method 1 for RSA, RFC 4754 methods 9/10 for ECDSA); Ed25519 has none.
    #[test]
    fn classic_methods_without_hash_announcement_sign_and_verify() {
        let sk = Secret::new(vec![7; 32]);
        let id = Identity::from_text("C=CH, CN=test");
        let ctx = AuthContext {
            prf: prf::HMAC_SHA2_256,
            init_message: b"msg1",
            peer_nonce: b"nonce",
            sk_p: &sk,
            id: &id,
        };
        let any = PubkeyConstraint::default();
        let mut rng = SeededRandom::from_u64(3);
        for (name, want_method, want_scheme) in [
            ("bfl-rsa", 1, SignatureScheme::RsaPkcs1Sha1),
            ("bfr-p256", 9, SignatureScheme::EcdsaP256Sha256),
            ("p384", 10, SignatureScheme::EcdsaP384Sha384),
        ] {
            let key = test_key(name);
            let (method, scheme) = choose_signature(&key, &any, None).unwrap();
            assert_eq!((method, scheme), (want_method, want_scheme), "{name}");
            let data = sign(&ctx, &key, method, scheme, &mut rng).unwrap();
            let (_, got, _) = verify_signature(&ctx, &trusted(&key), &any, method, &data).unwrap();
            assert_eq!(got, want_scheme);
            // Another ID changes the signed octets.
            let other = Identity::from_text("C=CH, CN=other");
            let ctx2 = AuthContext { id: &other, ..ctx };
            assert!(matches!(
                verify_signature(&ctx2, &trusted(&key), &any, method, &data),
                Err(ProtocolError::PubkeyAuth(_))
            ));
        }
        assert!(choose_signature(&test_key("ed25519"), &any, None).is_err());
    }

    #[test]
    fn rfc7427_scheme_follows_key_constraint_and_peer_hashes() {
        let rsa = test_key("bfl-rsa");
        let any = PubkeyConstraint::default();
        let pss = PubkeyConstraint::from_spec("rsa/pss").unwrap();
        assert_eq!(
            choose_signature(&rsa, &any, Some(&[2, 3, 4])).unwrap(),
            (14, SignatureScheme::RsaPkcs1Sha256)
        );
        assert_eq!(
            choose_signature(&rsa, &any, Some(&[4])).unwrap(),
            (14, SignatureScheme::RsaPkcs1Sha512)
        );
        assert_eq!(
            choose_signature(&rsa, &pss, Some(&[2])).unwrap(),
            (14, SignatureScheme::RsaPssSha256)
        );
        assert_eq!(
            choose_signature(&test_key("ed25519"), &any, Some(&[2, 5])).unwrap(),
            (14, SignatureScheme::Ed25519)
        );
        // The peer supports no hash our P-384 key can use.
        assert!(choose_signature(&test_key("p384"), &any, Some(&[2])).is_err());
        // PSS-only constraint refuses PKCS#1 v1.5; `ecdsa` refuses RSA.
        assert!(pss.allows(SignatureScheme::RsaPssSha384));
        assert!(!pss.allows(SignatureScheme::RsaPkcs1Sha256));
        let ecdsa = PubkeyConstraint::from_spec("ecdsa-sha256").unwrap();
        assert!(ecdsa.allows(SignatureScheme::EcdsaP256Sha256));
        assert!(!ecdsa.allows(SignatureScheme::RsaPkcs1Sha256));
        assert!(
            PubkeyConstraint::from_spec("ike:rsa/pss-sha256")
                .unwrap()
                .rsa_pss
        );
        assert!(PubkeyConstraint::from_spec("dsa").is_err());
    }

    #[test]
    fn psk_verifies_only_with_the_same_key_and_inputs() {
        let sk = Secret::new(vec![4; 32]);
        let id = Identity::from_text("host1");
        let ctx = AuthContext {
            prf: prf::HMAC_SHA2_256,
            init_message: b"msg1",
            peer_nonce: b"nonce",
            sk_p: &sk,
            id: &id,
        };
        let data = PskAuthenticator::new(b"secret").build(&ctx).unwrap();
        assert!(
            PskAuthenticator::new(b"secret")
                .verify(&ctx, 2, &data)
                .is_ok()
        );
        assert!(
            PskAuthenticator::new(b"other")
                .verify(&ctx, 2, &data)
                .is_err()
        );
        assert!(
            PskAuthenticator::new(b"secret")
                .verify(&ctx, 1, &data)
                .is_err()
        );
        let other_id = Identity::from_text("host2");
        let ctx2 = AuthContext {
            id: &other_id,
            ..ctx
        };
        assert!(
            PskAuthenticator::new(b"secret")
                .verify(&ctx2, 2, &data)
                .is_err()
        );
    }
}
