//! Which credentials a certificate row uses ([`CertCase`]) and the host names they are
//! issued to: the vocabulary shared by the generated PKI ([`crate::certs`]) and the revocation
//! PKI ([`crate::crl_rows`]), kept apart so both depend on it and neither on the other.

use crate::swan_conf::Side;

/// Which credentials a certificate scenario uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertCase {
    /// Self-signed certificates, each pinned by the other host (`remote_cert`).
    SelfSigned,
    /// [`CertCase::SelfSigned`] without any `id`: each side is named by its certificate's
    /// subject, as charon names a side with `certs` and no `id`.
    SelfSignedNoId,
    /// Host certificates signed by one CA that both hosts trust (`ovs-pki`).
    CaSigned,
    /// The initiator's CA-signed certificate expired yesterday.
    Expired,
    /// The initiator's certificate comes from a CA the responder does not trust.
    OtherCa,
    /// The initiator claims `host1` with a CA-signed certificate issued to `intruder`.
    IdMismatch,
    /// Raw public keys (`pubkeys`, each side holding its own and the peer's) and no `id`: each
    /// side is named by its key's ID_KEY_ID (strongSwan's default for such a side).
    RawKeys,
    /// The revocation rows (`crl_rows.rs`): host1 revoked in a CRL in the verifier's
    /// `x509crl/`.
    RevokedCrlFile,
    /// host1 revoked in the CRL at its distribution point, served over HTTP.
    RevokedCrlHttp,
    /// host1 not revoked, the verifier under `revocation = strict` fetches the CRL over HTTP.
    GoodCrlHttpStrict,
    /// host1's distribution point unreachable, the verifier under `revocation = strict`.
    CrlUnreachableStrict,
}

impl CertCase {
    /// Whether each host pins the other's self-signed certificate (`remote.certs`).
    pub fn pins_peer(self) -> bool {
        matches!(self, CertCase::SelfSigned | CertCase::SelfSignedNoId)
    }

    /// Whether the handshake must fail.
    pub fn is_negative(self) -> bool {
        !matches!(
            self,
            CertCase::SelfSigned
                | CertCase::SelfSignedNoId
                | CertCase::CaSigned
                | CertCase::RawKeys
                | CertCase::GoodCrlHttpStrict
        )
    }

    /// Whether the credentials come from the revocation PKI (`crl_rows.rs`).
    pub fn is_revocation(self) -> bool {
        matches!(
            self,
            CertCase::RevokedCrlFile
                | CertCase::RevokedCrlHttp
                | CertCase::GoodCrlHttpStrict
                | CertCase::CrlUnreachableStrict
        )
    }

    /// Whether the verifier runs under `revocation = strict`.
    pub fn is_strict(self) -> bool {
        matches!(
            self,
            CertCase::GoodCrlHttpStrict | CertCase::CrlUnreachableStrict
        )
    }

    /// Words of which at least one must appear in the verifying daemon's log: the cause, named.
    pub fn cause_words(self) -> &'static [&'static str] {
        match self {
            CertCase::SelfSigned
            | CertCase::SelfSignedNoId
            | CertCase::CaSigned
            | CertCase::RawKeys
            | CertCase::GoodCrlHttpStrict => &[],
            CertCase::RevokedCrlFile | CertCase::RevokedCrlHttp => &["was revoked"],
            CertCase::CrlUnreachableStrict => &["is unavailable"],
            CertCase::Expired => &["expired"],
            CertCase::OtherCa => &["unknown CA", "issuer", "no trusted", "not trusted"],
            CertCase::IdMismatch => &["identity", "does not match", "mismatch"],
        }
    }
}

/// The host name (and certificate CN) of a side, as in the seed's OVS section.
pub fn host_name(side: Side) -> &'static str {
    match side {
        Side::Bfl => "host1",
        Side::Bfr => "host2",
    }
}
