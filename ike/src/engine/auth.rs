//! Authentication of IKE_AUTH messages, and the proof token an established IKE SA needs.
//!
//! Contract: [`AuthVerified`] can only be created by a successful `verify` of an authenticator
//! in this module; the engine builds the established state only from such a token, so no code
//! path can reach "established" without checking the peer's AUTH payload. Failures are
//! reported as [`ProtocolError::AuthFailed`] whatever the cause.

use crate::config::Identity;
use crate::error::ProtocolError;
use crate::suite::{self, Secret};

/// Proof that the peer's AUTH payload verified. Not constructible outside this module.
#[derive(Debug)]
pub struct AuthVerified {
    _sealed: (),
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

/// An authentication method (PSK now; certificates later, in this module).
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
