//! The typed, validated configuration the daemon runs from.
//!
//! Contract: a [`Config`] only exists if every value parsed and every rule
//! held; all fields carry strongSwan's defaults where the file was silent
//! (swanctl.opt / `vici_config.c`), so consumers never re-derive defaults.
//! Lifetimes are already completed the way `vici_config.c` does it (IKE
//! `over_time`/`rand_time`, CHILD `life_*`/`rand_*`). Spans point at the
//! section names, so runtime messages can cite the configuration.
//! Secrets are zeroized on drop and never printed.

use std::fmt;
use std::time::Duration;

use iked_crypto::registry::Proposal;
use zeroize::Zeroizing;

use crate::addr::{AddrSpec, TrafficSelector};
use crate::diag::Span;
use crate::identity::Identity;
use crate::values::{IfId, Mark};

/// Everything loaded from swanctl.conf.
#[derive(Debug, Default)]
pub struct Config {
    /// `connections.*`, in file order.
    pub connections: Vec<Connection>,
    /// `secrets.*`.
    pub secrets: Secrets,
    /// `authorities.*`, in file order.
    pub authorities: Vec<Authority>,
}

impl Config {
    /// The connection called `name`.
    pub fn connection(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name == name)
    }
}

/// `version`: strongSwan's 0 means "either"; iked speaks IKEv2 only, so 0
/// behaves like 2 (IKEv1 is rejected when loading).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IkeVersion {
    /// `0`: any version (IKEv2 in practice).
    Any,
    /// `2`: IKEv2.
    V2,
}

/// `fragmentation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fragmentation {
    /// Send fragments if the peer supports them (default).
    Yes,
    /// Accept fragments but never send them.
    Accept,
    /// Neither announce nor send.
    No,
    /// Always fragment (IKEv1 only in strongSwan; like `yes` for IKEv2).
    Force,
}

/// `childless` (RFC 6023).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Childless {
    /// Accept childless initiation, initiate with a CHILD_SA (default).
    Allow,
    /// Initiate childless if the peer supports it.
    Prefer,
    /// Always initiate childless, require it as responder.
    Force,
    /// Never accept childless IKE_SAs.
    Never,
}

/// `unique`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniquePolicy {
    /// Never enforce, even on INITIAL_CONTACT.
    Never,
    /// Replace on INITIAL_CONTACT (default).
    No,
    /// Reject new SAs for an identity that has one.
    Keep,
    /// Delete the old SA when a new one is established.
    Replace,
}

/// `send_cert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertPolicy {
    /// Only when a CERTREQ was received (default).
    IfAsked,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// IKE connection (`connections.<conn>`).
#[derive(Debug)]
pub struct Connection {
    /// Section name.
    pub name: String,
    /// Location of the section name.
    pub span: Span,
    /// `version`.
    pub version: IkeVersion,
    /// `local_addrs` (default `%any`).
    pub local_addrs: Vec<AddrSpec>,
    /// `remote_addrs` (default `%any`).
    pub remote_addrs: Vec<AddrSpec>,
    /// `local_port`; `None` uses the socket's port (500).
    pub local_port: Option<u16>,
    /// `remote_port` (default 500).
    pub remote_port: u16,
    /// `proposals`, expanded (default: strongSwan's default proposals).
    pub proposals: Vec<Proposal>,
    /// `mobike` (default yes).
    pub mobike: bool,
    /// `encap`: force UDP encapsulation (default no).
    pub encap: bool,
    /// `fragmentation` (default yes).
    pub fragmentation: Fragmentation,
    /// `childless` (default allow).
    pub childless: Childless,
    /// `dpd_delay` (default 0: off).
    pub dpd_delay: Duration,
    /// `dpd_timeout` (IKEv1 only in strongSwan; kept for completeness).
    pub dpd_timeout: Duration,
    /// `keyingtries` (default 1; 0 = forever).
    pub keyingtries: u32,
    /// `unique` (default no).
    pub unique: UniquePolicy,
    /// `reauth_time` (default 0: off).
    pub reauth_time: Duration,
    /// `rekey_time` (default 4h, or 0 if only `reauth_time` is set).
    pub rekey_time: Duration,
    /// `over_time` (default 10% of the longer of rekey/reauth time).
    pub over_time: Duration,
    /// `rand_time` (default `min(over_time, base/2)` as in vici_config.c).
    pub rand_time: Duration,
    /// `send_cert` (default ifasked).
    pub send_cert: CertPolicy,
    /// `send_certreq` (default yes).
    pub send_certreq: bool,
    /// `if_id_in` for the IKE_SA's children (default 0).
    pub if_id_in: IfId,
    /// `if_id_out` (default 0).
    pub if_id_out: IfId,
    /// `local*` rounds sorted by `round` then file order (at least one).
    pub local: Vec<AuthRound>,
    /// `remote*` rounds (at least one).
    pub remote: Vec<AuthRound>,
    /// `children.*`, in file order.
    pub children: Vec<Child>,
}

/// Authentication method of a round (`auth`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// Public key signatures (`pubkey`, `rsa…`, `ecdsa…`, `ike:…`); `spec`
    /// keeps the constraints text (e.g. `rsa-2048-sha256`).
    Pubkey {
        /// The keyword as written.
        spec: String,
    },
    /// Pre-shared key.
    Psk,
    /// EAP, with the method if given (`eap-tls` → `tls`).
    Eap {
        /// EAP method name and constraints after `eap-`, if any.
        method: Option<String>,
    },
    /// IKEv1 XAuth (rejected for IKEv2 use, kept for diagnostics).
    Xauth {
        /// Backend name after `xauth-`, if any.
        backend: Option<String>,
    },
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthMethod::Pubkey { spec } => f.write_str(spec),
            AuthMethod::Psk => f.write_str("psk"),
            AuthMethod::Eap { method: None } => f.write_str("eap"),
            AuthMethod::Eap { method: Some(m) } => write!(f, "eap-{m}"),
            AuthMethod::Xauth { backend: None } => f.write_str("xauth"),
            AuthMethod::Xauth { backend: Some(b) } => write!(f, "xauth-{b}"),
        }
    }
}

/// `revocation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// Fail if the status is unknown.
    Strict,
    /// Fail only if a CRL/OCSP URI exists but checking failed.
    IfUri,
    /// Fail only if revoked (default).
    Relaxed,
}

/// One `local*` or `remote*` section.
#[derive(Clone, Debug)]
pub struct AuthRound {
    /// Section name (`local`, `remote-2`, ...).
    pub name: String,
    /// Location of the section (or of the connection if implicit).
    pub span: Span,
    /// `round` (default 0).
    pub round: u32,
    /// `auth` (default pubkey).
    pub auth: AuthMethod,
    /// `id`; `None` means: local → derived from the certificate or the
    /// address, remote → `%any`.
    pub id: Option<Identity>,
    /// `eap_id`.
    pub eap_id: Option<Identity>,
    /// `aaa_id`.
    pub aaa_id: Option<Identity>,
    /// `certs`: file names (relative to swanctl's x509 dir) or absolute.
    pub certs: Vec<String>,
    /// `cacerts` (relative to x509ca).
    pub cacerts: Vec<String>,
    /// `pubkeys` (relative to pubkey).
    pub pubkeys: Vec<String>,
    /// `groups`.
    pub groups: Vec<Identity>,
    /// `revocation` (default relaxed).
    pub revocation: Revocation,
}

/// `mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Tunnel mode (default).
    Tunnel,
    /// Transport mode.
    Transport,
    /// Mobile IPv6 transport proxy mode.
    TransportProxy,
    /// BEET mode.
    Beet,
    /// Bypass policy (shunt), no SA.
    Pass,
    /// Drop policy (shunt), no SA.
    Drop,
}

impl Mode {
    /// Whether this is a shunt (policy only, no negotiation).
    pub fn is_shunt(self) -> bool {
        matches!(self, Mode::Pass | Mode::Drop)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Tunnel => "tunnel",
            Mode::Transport => "transport",
            Mode::TransportProxy => "transport_proxy",
            Mode::Beet => "beet",
            Mode::Pass => "pass",
            Mode::Drop => "drop",
        })
    }
}

/// `hw_offload` (strongSwan 5.9.10+ values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HwOffload {
    /// No offload (default).
    No,
    /// Crypto offload, fail if unsupported (`crypto`, legacy `yes`).
    Crypto,
    /// Full packet offload, fail if unsupported.
    Packet,
    /// Packet offload if possible, else crypto, else none.
    Auto,
}

impl fmt::Display for HwOffload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HwOffload::No => "no",
            HwOffload::Crypto => "crypto",
            HwOffload::Packet => "packet",
            HwOffload::Auto => "auto",
        })
    }
}

/// `start_action` / `close_action` / `dpd_action` (flags: trap and start
/// may be combined as `trap|start`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Action {
    /// Install a trap policy.
    pub trap: bool,
    /// Initiate (or restart).
    pub start: bool,
}

impl Action {
    /// No action (`none` / `clear`).
    pub const NONE: Action = Action {
        trap: false,
        start: false,
    };
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.trap, self.start) {
            (false, false) => "none",
            (true, false) => "trap",
            (false, true) => "start",
            (true, true) => "trap|start",
        })
    }
}

/// CHILD_SA lifetimes, completed like `check_lifetimes()` in vici_config.c.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildLifetime {
    /// `rekey_time` (default 1h).
    pub rekey_time: Duration,
    /// `life_time` (default rekey_time + 10%).
    pub life_time: Duration,
    /// `rand_time` (default life_time - rekey_time).
    pub rand_time: Duration,
    /// `rekey_bytes` (default 0: off).
    pub rekey_bytes: u64,
    /// `life_bytes` (default rekey_bytes + 10%).
    pub life_bytes: u64,
    /// `rand_bytes` (default life_bytes - rekey_bytes).
    pub rand_bytes: u64,
    /// `rekey_packets` (default 0: off).
    pub rekey_packets: u64,
    /// `life_packets` (default rekey_packets + 10%).
    pub life_packets: u64,
    /// `rand_packets` (default life_packets - rekey_packets).
    pub rand_packets: u64,
}

/// CHILD_SA configuration (`connections.<conn>.children.<child>`).
#[derive(Debug)]
pub struct Child {
    /// Section name.
    pub name: String,
    /// Location of the section name.
    pub span: Span,
    /// `local_ts` (default `dynamic`).
    pub local_ts: Vec<TrafficSelector>,
    /// `remote_ts` (default `dynamic`).
    pub remote_ts: Vec<TrafficSelector>,
    /// `esp_proposals`, expanded (default: strongSwan's ESP defaults).
    pub esp_proposals: Vec<Proposal>,
    /// `mode` (default tunnel).
    pub mode: Mode,
    /// `policies` (default yes).
    pub policies: bool,
    /// `policies_fwd_out` (default no).
    pub policies_fwd_out: bool,
    /// `hw_offload` (default no).
    pub hw_offload: HwOffload,
    /// `start_action` (default none).
    pub start_action: Action,
    /// `close_action` (default none).
    pub close_action: Action,
    /// `dpd_action` (default clear = none).
    pub dpd_action: Action,
    /// Lifetimes.
    pub lifetime: ChildLifetime,
    /// `replay_window` (default 32).
    pub replay_window: u32,
    /// `reqid` (default 0: allocate).
    pub reqid: u32,
    /// `priority` (default 0: computed).
    pub priority: u32,
    /// `interface`.
    pub interface: Option<String>,
    /// `mark_in` (default none).
    pub mark_in: Mark,
    /// `mark_out` (default none).
    pub mark_out: Mark,
    /// `if_id_in` (default: the connection's).
    pub if_id_in: IfId,
    /// `if_id_out` (default: the connection's).
    pub if_id_out: IfId,
    /// `set_mark_in`: output mark the inbound SA sets (default none; `%same` is `mark_in`).
    pub set_mark_in: Mark,
    /// `set_mark_out`: output mark the outbound SA sets (`%same` is `mark_out`).
    pub set_mark_out: Mark,
    /// `mark_in_sa`: the inbound SA matches on `mark_in` too (default no).
    pub mark_in_sa: bool,
    /// `inactivity` (default 0: off).
    pub inactivity: Duration,
}

/// A secret value: zeroized on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The secret bytes. Do not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// Kind of shared secret section (`secrets.ike*`, `eap*`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedSecretKind {
    /// `ike*`: IKE pre-shared key.
    Ike,
    /// `eap*` / `xauth*`: EAP or XAuth password.
    Eap,
    /// `ntlm*`: NT hash for EAP-MSCHAPv2.
    Ntlm,
    /// `ppk*`: post-quantum preshared key (RFC 8784).
    Ppk,
}

/// A shared secret and the identities it belongs to.
#[derive(Debug)]
pub struct SharedSecret {
    /// Section name.
    pub name: String,
    /// Location of the section name.
    pub span: Span,
    /// Kind.
    pub kind: SharedSecretKind,
    /// `id*` values; empty means any identity.
    pub ids: Vec<Identity>,
    /// `secret`, decoded (`0x` hex, `0s` base64, else the text).
    pub secret: SecretBytes,
}

/// Kind of private key container a passphrase is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFileKind {
    /// `private*` (swanctl `private/` dir).
    Private,
    /// `rsa*` (`rsa/`).
    Rsa,
    /// `ecdsa*` (`ecdsa/`).
    Ecdsa,
    /// `pkcs8*` (`pkcs8/`).
    Pkcs8,
    /// `pkcs12*` (`pkcs12/`).
    Pkcs12,
}

/// Passphrase of an encrypted private key file.
#[derive(Debug)]
pub struct KeyPassphrase {
    /// Section name.
    pub name: String,
    /// Location of the section name.
    pub span: Span,
    /// Which directory the file lives in.
    pub kind: KeyFileKind,
    /// `file`.
    pub file: Option<String>,
    /// `secret`.
    pub secret: Option<SecretBytes>,
}

/// `secrets`.
#[derive(Debug, Default)]
pub struct Secrets {
    /// `ike*`, `eap*`, `xauth*`, `ntlm*`, `ppk*` sections.
    pub shared: Vec<SharedSecret>,
    /// `private*`, `rsa*`, `ecdsa*`, `pkcs8*`, `pkcs12*` sections.
    pub key_passphrases: Vec<KeyPassphrase>,
    /// Private key files named one by one (ipsec.secrets `: RSA <file>`); swanctl.conf has
    /// none (its keys come from the credential directories).
    pub key_files: Vec<PrivateKeyFile>,
}

/// A private key file named in the configuration (ipsec.secrets `RSA`/`ECDSA`/`PKCS8`).
#[derive(Debug)]
pub struct PrivateKeyFile {
    /// Where it is named.
    pub span: Span,
    /// `RSA` → [`KeyFileKind::Rsa`], `ECDSA` → `Ecdsa`, `PKCS8` → `Pkcs8`.
    pub kind: KeyFileKind,
    /// Absolute path of the key file.
    pub path: std::path::PathBuf,
    /// Passphrase of an encrypted key.
    pub passphrase: Option<SecretBytes>,
}

impl Secrets {
    /// IKE pre-shared keys only.
    pub fn ike(&self) -> impl Iterator<Item = &SharedSecret> {
        self.shared
            .iter()
            .filter(|s| s.kind == SharedSecretKind::Ike)
    }
}

/// `authorities.<name>`.
#[derive(Debug)]
pub struct Authority {
    /// Section name.
    pub name: String,
    /// Location.
    pub span: Span,
    /// `cacert`.
    pub cacert: Option<String>,
    /// `file` (newer alias of cacert with a path).
    pub file: Option<String>,
    /// `crl_uris`.
    pub crl_uris: Vec<String>,
    /// `ocsp_uris`.
    pub ocsp_uris: Vec<String>,
    /// `cert_uri_base`.
    pub cert_uri_base: Option<String>,
}
