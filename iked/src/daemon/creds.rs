//! Certificates, trust anchors and private keys, loaded as strongSwan's swanctl loads them.
//!
//! Contract:
//! - [`CredStore::load_dirs`] reads the swanctl credential directories beside `swanctl.conf`
//!   (the directory of the configuration file, as `swanctl --load-creds` uses `SWANCTL_DIR`):
//!   `x509/` (end-entity certificates), `x509ca/` (trust anchors), `pubkey/` (raw public keys),
//!   `private/` (any private key), `rsa/` (RSA only), `ecdsa/` (ECDSA only) and `pkcs8/`
//!   (PKCS#8). Files may be PEM or DER; keys PKCS#1, SEC1 or PKCS#8, encrypted PKCS#8 with the
//!   passphrase of the matching `secrets.private*` / `rsa*` / `ecdsa*` / `pkcs8*` section. A
//!   reload replaces what an earlier directory load brought in and keeps what came over VICI.
//!   A file that cannot be used is an error naming the file and the cause; the other files
//!   still load (as swanctl does), and the caller decides what an error means.
//! - [`conn_credentials`] resolves a connection's `certs` (relative to `x509/`), `cacerts`
//!   (`x509ca/`) and `pubkeys` (`pubkey/`) file names, or absolute paths, into the engine's
//!   [`ec::AuthConfig`] lists.
//! - The VICI credential commands (`load-cert`, `load-key`, `unload-key`, `get-keys`,
//!   `load-authority`, `unload-authority`, `get-authorities`, `list-authorities`,
//!   `clear-creds`, `list-certs`) are answered here with charon's message shapes.
//! - [`CredStore::credential_set`] is what the engine gets after every change. Private keys are
//!   never printed; only their type and key id (SHA-1 of the public key) are.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use iked_conf::KeyFileKind;
use iked_crypto::auth::PrivateKey;
use iked_crypto::crl::Crl;
use iked_crypto::error::CryptoError;
use iked_crypto::x509::{CertError, Certificate, RawPublicKey};
use iked_ike::config as ec;
use iked_ike::creds::CredentialSet;

use crate::vici::Message;
use crate::vici::server::{error_response, success_response};

/// Where a connection, secret or credential came from: a file reload replaces only what an
/// earlier file load brought in, and what came over VICI stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    File,
    Vici,
}

/// Why a credential could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CredProblem {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Cert(#[from] CertError),
    #[error("{0}")]
    Key(#[from] CryptoError),
    #[error(
        "no passphrase for this encrypted key: add secrets {{ {section}-x {{ file = {file}  secret = ... }} }}"
    )]
    NoPassphrase { section: &'static str, file: String },
    #[error("{found} key in the {dir}/ directory, which holds {wanted} keys only")]
    WrongKeyType {
        dir: &'static str,
        wanted: &'static str,
        found: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
}

/// A credential problem and where it came from (a file path, or `vici:<command>`).
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {problem}")]
pub struct CredError {
    pub source_name: String,
    pub problem: CredProblem,
}

impl CredError {
    fn new(source_name: impl fmt::Display, problem: impl Into<CredProblem>) -> Self {
        Self {
            source_name: source_name.to_string(),
            problem: problem.into(),
        }
    }
}

/// A certificate or raw key and where it came from.
#[derive(Clone)]
struct StoredCert {
    cert: Certificate,
    origin: Origin,
    source_name: String,
}

struct StoredKey {
    key: Arc<PrivateKey>,
    /// Its public half, to tell which certificates have their private key loaded.
    public: iked_crypto::auth::PublicKey,
    /// SHA-1 of the public key's SubjectPublicKeyInfo, as [`Certificate::spki_sha1`]: the id
    /// `load-key`, `get-keys` and `unload-key` use.
    id: [u8; 20],
    origin: Origin,
}

struct StoredPubkey {
    key: RawPublicKey,
    origin: Origin,
    source_name: String,
}

/// A named certification authority (`authorities.<name>` or VICI `load-authority`).
struct StoredCrl {
    crl: Crl,
    origin: Origin,
}

struct StoredAuthority {
    name: String,
    cacert: Certificate,
    crl_uris: Vec<String>,
    ocsp_uris: Vec<String>,
    cert_uri_base: Option<String>,
    origin: Origin,
}

/// What a directory load did, for logs and `ikectl load-creds`.
#[derive(Debug, Default)]
pub struct CredReport {
    /// One line per loaded credential, as swanctl prints them.
    pub loaded: Vec<String>,
    pub errors: Vec<CredError>,
}

/// Every credential the daemon holds.
#[derive(Default)]
pub struct CredStore {
    certs: Vec<StoredCert>,
    cas: Vec<StoredCert>,
    keys: Vec<StoredKey>,
    pubkeys: Vec<StoredPubkey>,
    authorities: Vec<StoredAuthority>,
    crls: Vec<StoredCrl>,
}

/// A credential directory of swanctl and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    X509,
    X509Ca,
    X509Crl,
    Pubkey,
    Key(KeyFileKind),
}

const DIRS: [(&str, Dir); 8] = [
    ("x509ca", Dir::X509Ca),
    ("x509", Dir::X509),
    ("x509crl", Dir::X509Crl),
    ("pubkey", Dir::Pubkey),
    ("private", Dir::Key(KeyFileKind::Private)),
    ("rsa", Dir::Key(KeyFileKind::Rsa)),
    ("ecdsa", Dir::Key(KeyFileKind::Ecdsa)),
    ("pkcs8", Dir::Key(KeyFileKind::Pkcs8)),
];

/// swanctl directories iked does not read; files there get one warning each.
const UNSUPPORTED_DIRS: [&str; 5] = ["x509aa", "x509ocsp", "x509ac", "pkcs12", "bliss"];

/// The swanctl directory of a configuration file: the directory that holds it; for an
/// ipsec.conf, the `ipsec.d` beside it (its files are named one by one, so that directory only
/// matters for swanctl-style subdirectories someone put there).
pub fn swanctl_dir(config_file: &Path) -> PathBuf {
    if iked_conf::ipsec_conf::is_ipsec_conf(config_file) {
        return iked_conf::ipsec_conf::ipsec_d(config_file);
    }
    match config_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Text of a key id (charon prints them as lowercase hex).
fn hex_id(id: &[u8]) -> String {
    hex::encode(id)
}

fn key_type(key: &PrivateKey) -> &'static str {
    match key {
        PrivateKey::Rsa(_) => "RSA",
        PrivateKey::EcdsaP256(_) | PrivateKey::EcdsaP384(_) | PrivateKey::EcdsaP521(_) => "ECDSA",
        PrivateKey::Ed25519(_) => "ED25519",
    }
}

/// PEM if a PEM header appears anywhere: `openssl ca` and `ovs-pki` put a text dump of the
/// certificate before it.
fn is_pem(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Parses a private key in any format swanctl reads, trying the passphrases in order.
fn parse_key(
    data: &[u8],
    passphrases: &[&[u8]],
    section: &'static str,
    file: &str,
) -> Result<PrivateKey, CredProblem> {
    let parse = |pass: Option<&[u8]>| {
        if is_pem(data) {
            PrivateKey::from_pem_with_passphrase(data, pass)
        } else {
            PrivateKey::from_der_with_passphrase(data, pass)
        }
    };
    match parse(None) {
        Err(CryptoError::PassphraseRequired) => {}
        other => return other.map_err(CredProblem::from),
    }
    if passphrases.is_empty() {
        return Err(CredProblem::NoPassphrase {
            section,
            file: file.to_owned(),
        });
    }
    let mut last = CryptoError::WrongPassphrase;
    for pass in passphrases {
        match parse(Some(pass)) {
            Ok(k) => return Ok(k),
            Err(e) => last = e,
        }
    }
    Err(last.into())
}

/// Parses every certificate of a PEM file (a bundle may hold several) or one DER certificate.
fn parse_certs(data: &[u8]) -> Result<Vec<Certificate>, CertError> {
    if is_pem(data) {
        Certificate::all_from_pem(data)
    } else {
        Certificate::from_der(data).map(|c| vec![c])
    }
}

fn check_key_dir(kind: KeyFileKind, key: &PrivateKey) -> Result<(), CredProblem> {
    let (dir, wanted, ok) = match kind {
        KeyFileKind::Rsa => ("rsa", "RSA", matches!(key, PrivateKey::Rsa(_))),
        KeyFileKind::Ecdsa => (
            "ecdsa",
            "ECDSA",
            matches!(
                key,
                PrivateKey::EcdsaP256(_) | PrivateKey::EcdsaP384(_) | PrivateKey::EcdsaP521(_)
            ),
        ),
        _ => ("", "", true),
    };
    if ok {
        Ok(())
    } else {
        Err(CredProblem::WrongKeyType {
            dir,
            wanted,
            found: key_type(key),
        })
    }
}

fn section_prefix(kind: KeyFileKind) -> &'static str {
    match kind {
        KeyFileKind::Private => "private",
        KeyFileKind::Rsa => "rsa",
        KeyFileKind::Ecdsa => "ecdsa",
        KeyFileKind::Pkcs8 => "pkcs8",
        KeyFileKind::Pkcs12 => "pkcs12",
    }
}

/// Passphrases of `secrets` for a key file: those naming this file first, then those naming
/// no file (swanctl offers them for any file of the directory).
fn passphrases_for<'a>(
    secrets: &'a iked_conf::Secrets,
    kind: KeyFileKind,
    dir: &Path,
    path: &Path,
) -> Vec<&'a [u8]> {
    let names_file = |file: &str| {
        let p = Path::new(file);
        if p.is_absolute() {
            p == path
        } else {
            dir.join(p) == path
        }
    };
    let of_kind = || {
        secrets
            .key_passphrases
            .iter()
            .filter(move |p| p.kind == kind)
    };
    let named = of_kind().filter(|p| p.file.as_deref().is_some_and(names_file));
    let unnamed = of_kind().filter(|p| p.file.is_none());
    named
        .chain(unnamed)
        .filter_map(|p| p.secret.as_ref().map(|s| s.expose()))
        .collect()
}

/// Reads a credential file, refusing anything but a regular file: reading a FIFO blocks until
/// a writer appears, which would freeze the daemon (VICI included) in a reload. The open is
/// non-blocking and the opened file is checked too, in case the path changed in between.
fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let not_regular = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device or socket?), refused",
        )
    };
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    // Sized up front like std::fs::read: no reallocation leaves copies of a key behind.
    let mut data = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut data)?;
    Ok(data)
}

fn read_dir_sorted(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

impl CredStore {
    /// (Re)loads the swanctl credential directories under `dir` and the configuration's
    /// `authorities`, replacing what an earlier directory load brought in.
    pub fn load_dirs(
        &mut self,
        dir: &Path,
        secrets: &iked_conf::Secrets,
        authorities: &[iked_conf::Authority],
    ) -> CredReport {
        self.certs.retain(|c| c.origin != Origin::File);
        self.cas.retain(|c| c.origin != Origin::File);
        self.crls.retain(|c| c.origin != Origin::File);
        self.keys.retain(|k| k.origin != Origin::File);
        self.pubkeys.retain(|k| k.origin != Origin::File);
        self.authorities.retain(|a| a.origin != Origin::File);
        let mut report = CredReport::default();
        for (name, kind) in DIRS {
            let sub = dir.join(name);
            if !sub.is_dir() {
                continue;
            }
            let files = match read_dir_sorted(&sub) {
                Ok(f) => f,
                Err(e) => {
                    report.errors.push(CredError::new(sub.display(), e));
                    continue;
                }
            };
            for path in files {
                match self.load_file(kind, &sub, &path, secrets) {
                    Ok(line) => report.loaded.push(line),
                    Err(problem) => report.errors.push(CredError::new(path.display(), problem)),
                }
            }
        }
        for name in UNSUPPORTED_DIRS {
            let sub = dir.join(name);
            if read_dir_sorted(&sub).is_ok_and(|f| !f.is_empty()) {
                tracing::warn!(target: "CFG", "{}: iked does not load {name} credentials; ignored", sub.display());
            }
        }
        for key in &secrets.key_files {
            match self.load_named_key(key) {
                Ok(line) => report.loaded.push(line),
                Err(problem) => report
                    .errors
                    .push(CredError::new(key.path.display(), problem)),
            }
        }
        for a in authorities {
            match self.load_conf_authority(dir, a) {
                Ok(line) => report.loaded.push(line),
                Err(e) => report.errors.push(e),
            }
        }
        report
    }

    fn load_file(
        &mut self,
        kind: Dir,
        dir: &Path,
        path: &Path,
        secrets: &iked_conf::Secrets,
    ) -> Result<String, CredProblem> {
        let data = zeroize::Zeroizing::new(read_regular(path)?);
        let source_name = path.display().to_string();
        match kind {
            Dir::X509Crl => {
                let crl = Crl::load(&data).map_err(|e| CredProblem::Invalid(e.to_string()))?;
                let issuer = crl.issuer().to_owned();
                self.add_crl(crl, Origin::File);
                Ok(format!("loaded crl of \"{issuer}\" from '{source_name}'"))
            }
            Dir::X509 | Dir::X509Ca => {
                let certs = parse_certs(&data)?;
                let ca = kind == Dir::X509Ca;
                for cert in &certs {
                    if ca && !cert.is_ca() {
                        return Err(CredProblem::Invalid(format!(
                            "certificate '{}' in x509ca/ is not a CA certificate",
                            cert.subject()
                        )));
                    }
                }
                let subjects: Vec<String> = certs.iter().map(|c| c.subject().to_owned()).collect();
                for cert in certs {
                    self.add_cert(cert, ca, Origin::File, &source_name);
                }
                Ok(format!(
                    "loaded certificate{} \"{}\" from '{source_name}'",
                    if subjects.len() > 1 { "s" } else { "" },
                    subjects.join("\", \"")
                ))
            }
            Dir::Pubkey => {
                let key = if is_pem(&data) {
                    RawPublicKey::from_pem(&data)?
                } else {
                    RawPublicKey::from_der(&data)?
                };
                self.pubkeys.retain(|k| k.key != key);
                self.pubkeys.push(StoredPubkey {
                    key,
                    origin: Origin::File,
                    source_name: source_name.clone(),
                });
                Ok(format!("loaded pubkey from '{source_name}'"))
            }
            Dir::Key(kfk) => {
                let passphrases = passphrases_for(secrets, kfk, dir, path);
                let key = parse_key(&data, &passphrases, section_prefix(kfk), &source_name)?;
                check_key_dir(kfk, &key)?;
                let kt = key_type(&key);
                self.add_key(key, Origin::File)?;
                Ok(format!("loaded {kt} key from '{source_name}'"))
            }
        }
    }

    /// A private key file the configuration names (ipsec.secrets `: RSA <file> [passphrase]`).
    fn load_named_key(&mut self, key: &iked_conf::PrivateKeyFile) -> Result<String, CredProblem> {
        let data = zeroize::Zeroizing::new(read_regular(&key.path)?);
        let source_name = key.path.display().to_string();
        let passphrases: Vec<&[u8]> = key.passphrase.iter().map(|p| p.expose()).collect();
        let parsed = parse_key(&data, &passphrases, section_prefix(key.kind), &source_name)?;
        check_key_dir(key.kind, &parsed)?;
        let kt = key_type(&parsed);
        self.add_key(parsed, Origin::File)?;
        Ok(format!("loaded {kt} key from '{source_name}'"))
    }

    fn load_conf_authority(
        &mut self,
        dir: &Path,
        a: &iked_conf::Authority,
    ) -> Result<String, CredError> {
        let file = a.file.as_deref().or(a.cacert.as_deref()).ok_or_else(|| {
            CredError::new(
                format!("authorities.{}", a.name),
                CredProblem::Invalid("neither cacert nor file given".into()),
            )
        })?;
        let path = resolve(&dir.join("x509ca"), file);
        let data = read_regular(&path).map_err(|e| CredError::new(path.display(), e))?;
        let cert = parse_certs(&data)
            .map_err(|e| CredError::new(path.display(), e))?
            .into_iter()
            .next()
            .ok_or_else(|| {
                CredError::new(
                    path.display(),
                    CredProblem::Invalid("no certificate".into()),
                )
            })?;
        let subject = cert.subject().to_owned();
        self.add_authority(StoredAuthority {
            name: a.name.clone(),
            cacert: cert,
            crl_uris: a.crl_uris.clone(),
            ocsp_uris: a.ocsp_uris.clone(),
            cert_uri_base: a.cert_uri_base.clone(),
            origin: Origin::File,
        });
        Ok(format!("loaded authority '{}' \"{subject}\"", a.name))
    }

    fn add_cert(&mut self, cert: Certificate, ca: bool, origin: Origin, source_name: &str) {
        let list = if ca { &mut self.cas } else { &mut self.certs };
        // The same certificate twice (a file and VICI) is kept once, with the newer origin.
        list.retain(|c| c.cert != cert);
        list.push(StoredCert {
            cert,
            origin,
            source_name: source_name.to_owned(),
        });
    }

    fn add_key(&mut self, key: PrivateKey, origin: Origin) -> Result<[u8; 20], CryptoError> {
        let public = key.public_key();
        let id = public.spki_sha1()?;
        self.keys.retain(|k| k.public != public);
        self.keys.push(StoredKey {
            key: Arc::new(key),
            public,
            id,
            origin,
        });
        Ok(id)
    }

    /// Adds a CRL; an identical one loaded before is replaced (its origin may change).
    fn add_crl(&mut self, crl: Crl, origin: Origin) {
        self.crls.retain(|c| c.crl != crl);
        self.crls.push(StoredCrl { crl, origin });
    }

    fn add_authority(&mut self, a: StoredAuthority) {
        self.authorities.retain(|x| x.name != a.name);
        self.authorities.push(a);
    }

    /// The engine's view: keys, end-entity certificates, and trust anchors (`x509ca/` and
    /// authorities).
    pub fn credential_set(&self) -> Arc<CredentialSet> {
        let mut cas: Vec<Certificate> = self.cas.iter().map(|c| c.cert.clone()).collect();
        for a in &self.authorities {
            if !cas.contains(&a.cacert) {
                cas.push(a.cacert.clone());
            }
        }
        Arc::new(CredentialSet {
            keys: self.keys.iter().map(|k| k.key.clone()).collect(),
            certs: self.certs.iter().map(|c| c.cert.clone()).collect(),
            cas,
            crls: self.crls.iter().map(|c| c.crl.clone()).collect(),
            authority_crl_uris: self
                .authorities
                .iter()
                .filter(|a| !a.crl_uris.is_empty())
                .map(|a| (a.cacert.clone(), a.crl_uris.clone()))
                .collect(),
            ..CredentialSet::default()
        })
    }

    /// Whether a private key for `cert` is loaded.
    fn has_private_key(&self, cert: &Certificate) -> bool {
        cert.public_key()
            .is_ok_and(|public| self.keys.iter().any(|k| k.public == public))
    }

    /// How many credentials are loaded (certificates, CAs, keys, raw keys), for `stats`.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.certs.len(),
            self.cas.len() + self.authorities.len(),
            self.keys.len(),
            self.pubkeys.len(),
        )
    }

    // ----- VICI ----------------------------------------------------------------------------

    /// `load-cert`: `type` (X509, X509_CA, PUBKEY), `flag` (NONE, CA), `data` (PEM or DER).
    pub fn vici_load_cert(&mut self, message: &Message) -> Message {
        let Some(data) = value_bytes(message, "data") else {
            return error_response("certificate data missing");
        };
        let kind = message.get_str("type").unwrap_or("X509");
        let flag = message.get_str("flag").unwrap_or("NONE");
        let result = match kind.to_ascii_uppercase().as_str() {
            "X509" | "X509_CA" => parse_certs(data)
                .map_err(CredProblem::from)
                .and_then(|certs| {
                    let ca =
                        kind.eq_ignore_ascii_case("X509_CA") || flag.eq_ignore_ascii_case("CA");
                    let mut subjects = Vec::new();
                    for cert in certs {
                        if ca && !cert.is_ca() {
                            return Err(CredProblem::Invalid(format!(
                                "certificate '{}' loaded with flag CA is not a CA certificate",
                                cert.subject()
                            )));
                        }
                        subjects.push(cert.subject().to_owned());
                        self.add_cert(cert, ca, Origin::Vici, "vici:load-cert");
                    }
                    Ok(subjects.join(", "))
                }),
            "X509_CRL" | "X509CRL" => Crl::load(data)
                .map_err(|e| CredProblem::Invalid(e.to_string()))
                .map(|crl| {
                    let what = format!("crl of \"{}\"", crl.issuer());
                    self.add_crl(crl, Origin::Vici);
                    what
                }),
            "PUBKEY" => {
                let parsed = if is_pem(data) {
                    RawPublicKey::from_pem(data)
                } else {
                    RawPublicKey::from_der(data)
                };
                parsed.map_err(CredProblem::from).map(|key| {
                    self.pubkeys.retain(|k| k.key != key);
                    self.pubkeys.push(StoredPubkey {
                        key,
                        origin: Origin::Vici,
                        source_name: "vici:load-cert".into(),
                    });
                    "raw public key".to_owned()
                })
            }
            other => Err(CredProblem::Invalid(format!(
                "certificate type {other} is not supported (X509, X509_CA, X509_CRL and PUBKEY are)"
            ))),
        };
        match result {
            Ok(what) => {
                tracing::info!(target: "CFG", "vici: loaded certificate {what}");
                success_response()
            }
            Err(problem) => {
                let e = CredError::new("vici:load-cert", problem);
                tracing::error!(target: "CFG", "{e}");
                error_response(format!("parsing {kind} certificate failed: {}", e.problem))
            }
        }
    }

    /// `load-key`: `type` (rsa, ecdsa, ed25519, any), `data` (PEM or DER, unencrypted: swanctl
    /// decrypts before sending). Answers with the key `id`.
    pub fn vici_load_key(&mut self, message: &Message) -> Message {
        let Some(data) = value_bytes(message, "data") else {
            return error_response("private key data missing");
        };
        let kind = message
            .get_str("type")
            .unwrap_or("any")
            .to_ascii_lowercase();
        let key = match parse_key(data, &[], "private", "vici:load-key") {
            Ok(k) => k,
            Err(problem) => {
                let e = CredError::new("vici:load-key", problem);
                tracing::error!(target: "CFG", "{e}");
                return error_response(format!("loading {kind} private key failed: {}", e.problem));
            }
        };
        let dir_kind = match kind.as_str() {
            "rsa" => KeyFileKind::Rsa,
            "ecdsa" => KeyFileKind::Ecdsa,
            _ => KeyFileKind::Private,
        };
        if let Err(problem) = check_key_dir(dir_kind, &key) {
            return error_response(format!("loading {kind} private key failed: {problem}"));
        }
        let kt = key_type(&key);
        let id = match self.add_key(key, Origin::Vici) {
            Ok(id) => id,
            Err(e) => return error_response(format!("loading {kind} private key failed: {e}")),
        };
        tracing::info!(target: "CFG", "vici: loaded {kt} private key {}", hex_id(&id));
        success_response().kv("id", hex_id(&id))
    }

    /// `unload-key`: by `id` as `load-key` and `get-keys` give it.
    pub fn vici_unload_key(&mut self, message: &Message) -> Message {
        let Some(id) = message.get_str("id") else {
            return error_response("key id missing");
        };
        let before = self.keys.len();
        self.keys
            .retain(|k| !hex_id(&k.id).eq_ignore_ascii_case(id));
        if self.keys.len() == before {
            return error_response(format!("key with id '{id}' not found"));
        }
        success_response()
    }

    /// `get-keys`: ids of every loaded private key.
    pub fn vici_get_keys(&self) -> Message {
        Message::new().list(
            "keys",
            self.keys.iter().map(|k| hex_id(&k.id)).collect::<Vec<_>>(),
        )
    }

    /// `load-authority`: `{ <name> = { cacert = <PEM/DER>, crl_uris, ocsp_uris,
    /// cert_uri_base } }`.
    pub fn vici_load_authority(&mut self, message: &Message) -> Message {
        let Some((name, section)) = message.entries().iter().find_map(|(k, v)| match v {
            crate::vici::Item::Section(s) => Some((k.clone(), s)),
            _ => None,
        }) else {
            return error_response("authority section missing");
        };
        let Some(data) = value_bytes(section, "cacert") else {
            return error_response(format!("authority '{name}': cacert missing"));
        };
        let cert = match parse_certs(data).map(|c| c.into_iter().next()) {
            Ok(Some(c)) => c,
            Ok(None) => return error_response(format!("authority '{name}': no certificate")),
            Err(e) => {
                return error_response(format!("authority '{name}': parsing cacert failed: {e}"));
            }
        };
        if !cert.is_ca() {
            return error_response(format!(
                "authority '{name}': certificate '{}' is not a CA certificate",
                cert.subject()
            ));
        }
        tracing::info!(target: "CFG", "vici: loaded authority '{name}' \"{}\"", cert.subject());
        self.add_authority(StoredAuthority {
            name,
            cacert: cert,
            crl_uris: section.get_list("crl_uris"),
            ocsp_uris: section.get_list("ocsp_uris"),
            cert_uri_base: section.get_str("cert_uri_base").map(str::to_owned),
            origin: Origin::Vici,
        });
        success_response()
    }

    /// `unload-authority`: by `name`.
    pub fn vici_unload_authority(&mut self, message: &Message) -> Message {
        let Some(name) = message.get_str("name") else {
            return error_response("authority name missing");
        };
        let before = self.authorities.len();
        self.authorities.retain(|a| a.name != name);
        if self.authorities.len() == before {
            return error_response(format!("authority '{name}' not found for unloading"));
        }
        success_response()
    }

    /// `get-authorities`: names.
    pub fn vici_get_authorities(&self) -> Message {
        Message::new().list(
            "authorities",
            self.authorities
                .iter()
                .map(|a| a.name.clone())
                .collect::<Vec<_>>(),
        )
    }

    /// `list-authorities` events, optionally only `name`.
    pub fn vici_list_authorities(&self, message: &Message) -> Vec<Message> {
        let only = message.get_str("name");
        self.authorities
            .iter()
            .filter(|a| only.is_none_or(|n| n == a.name))
            .map(|a| {
                let mut body = Message::new()
                    .kv("cacert", a.cacert.subject())
                    .list("crl_uris", &a.crl_uris)
                    .list("ocsp_uris", &a.ocsp_uris);
                if let Some(base) = &a.cert_uri_base {
                    body = body.kv("cert_uri_base", base);
                }
                Message::new().section(a.name.clone(), body)
            })
            .collect()
    }

    /// `clear-creds`: forgets what came over VICI (certificates, keys, raw keys); directory
    /// loads and authorities stay, as in charon.
    pub fn vici_clear(&mut self) {
        self.certs.retain(|c| c.origin != Origin::Vici);
        self.cas.retain(|c| c.origin != Origin::Vici);
        self.keys.retain(|k| k.origin != Origin::Vici);
        self.pubkeys.retain(|k| k.origin != Origin::Vici);
        self.crls.retain(|c| c.origin != Origin::Vici);
    }

    /// `list-certs` events (`type` ANY/X509/X509_CA/PUBKEY, `flag` NONE/CA, `subject`), in
    /// charon's shape: `type`, `flag`, `has_privkey`, `data` (DER), plus `subject`,
    /// `not-before`/`not-after` (unix seconds) and `source` for readers that do not parse DER.
    pub fn vici_list_certs(&self, message: &Message) -> Vec<Message> {
        let kind = message
            .get_str("type")
            .unwrap_or("ANY")
            .to_ascii_uppercase();
        let flag = message
            .get_str("flag")
            .unwrap_or("ANY")
            .to_ascii_uppercase();
        let subject = message.get_str("subject");
        let mut out = Vec::new();
        let want_x509 = matches!(kind.as_str(), "ANY" | "X509" | "X509_CA");
        if want_x509 {
            let cas_too = flag == "ANY" || flag == "CA" || kind == "X509_CA";
            let ees_too = (flag == "ANY" || flag == "NONE") && kind != "X509_CA";
            let mut all: Vec<(&StoredCert, bool)> = Vec::new();
            if ees_too {
                all.extend(self.certs.iter().map(|c| (c, false)));
            }
            if cas_too {
                all.extend(self.cas.iter().map(|c| (c, true)));
                // Authorities' certificates are CA certificates too.
            }
            for (c, ca) in all {
                if subject.is_some_and(|s| !c.cert.subject().contains(s)) {
                    continue;
                }
                out.push(cert_event(
                    &c.cert,
                    ca,
                    self.has_private_key(&c.cert),
                    &c.source_name,
                ));
            }
            if cas_too {
                for a in &self.authorities {
                    if self.cas.iter().any(|c| c.cert == a.cacert)
                        || subject.is_some_and(|s| !a.cacert.subject().contains(s))
                    {
                        continue;
                    }
                    let source = format!("authority {}", a.name);
                    out.push(cert_event(&a.cacert, true, false, &source));
                }
            }
        }
        if matches!(kind.as_str(), "ANY" | "PUBKEY") && subject.is_none() {
            for k in &self.pubkeys {
                out.push(
                    Message::new()
                        .kv("type", "PUBKEY")
                        .kv("flag", "NONE")
                        .kv("has_privkey", "no")
                        .kv("data", k.key.spki_der())
                        .kv("source", &k.source_name),
                );
            }
        }
        out
    }
}

fn cert_event(cert: &Certificate, ca: bool, has_privkey: bool, source: &str) -> Message {
    Message::new()
        .kv("type", "X509")
        .kv("flag", if ca { "CA" } else { "NONE" })
        .kv("has_privkey", if has_privkey { "yes" } else { "no" })
        .kv("data", cert.der())
        .kv("subject", cert.subject())
        .kv("not-before", cert.validity().0.to_string())
        .kv("not-after", cert.validity().1.to_string())
        .kv("source", source)
}

fn value_bytes<'a>(message: &'a Message, key: &str) -> Option<&'a [u8]> {
    match message.get(key)? {
        crate::vici::Item::Value(v) if !v.is_empty() => Some(v),
        _ => None,
    }
}

/// A file name of the configuration: absolute as given, else relative to `dir`.
fn resolve(dir: &Path, name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        p.to_owned()
    } else {
        dir.join(p)
    }
}

/// Whether a `certs`/`cacerts`/`pubkeys` entry is the credential itself rather than a file
/// name: the stock swanctl's `load-conn` sends file contents as PEM.
fn is_inline_pem(entry: &str) -> bool {
    entry.trim_start().starts_with("-----BEGIN")
}

fn read_certs(dir: &Path, name: &str) -> Result<Vec<Certificate>, CredError> {
    if is_inline_pem(name) {
        return parse_certs(name.as_bytes()).map_err(|e| CredError::new("vici:load-conn", e));
    }
    let path = resolve(dir, name);
    let data = read_regular(&path).map_err(|e| CredError::new(path.display(), e))?;
    parse_certs(&data).map_err(|e| CredError::new(path.display(), e))
}

/// Fills a public-key round's certificate lists from its `certs` (in `x509/`), `cacerts`
/// (`x509ca/`) and `pubkeys` (`pubkey/`) under the swanctl directory `dir`. A PSK round needs
/// no files; one that names some is refused, so a typo cannot silently drop a pinning.
pub fn conn_credentials(
    auth: &mut ec::AuthConfig,
    round: &iked_conf::AuthRound,
    dir: &Path,
) -> Result<(), CredError> {
    let ec::AuthConfig { method, id } = auth;
    let ec::AuthMethod::Pubkey(auth) = method else {
        if round.certs.is_empty() && round.cacerts.is_empty() && round.pubkeys.is_empty() {
            return Ok(());
        }
        return Err(CredError::new(
            &round.name,
            CredProblem::Invalid(format!(
                "certs/cacerts/pubkeys need auth = pubkey (is {})",
                round.auth
            )),
        ));
    };
    for name in &round.certs {
        auth.certs.extend(read_certs(&dir.join("x509"), name)?);
    }
    for name in &round.cacerts {
        auth.cacerts.extend(read_certs(&dir.join("x509ca"), name)?);
    }
    for name in &round.pubkeys {
        if is_inline_pem(name) {
            let key = RawPublicKey::from_pem(name.as_bytes())
                .map_err(|e| CredError::new("vici:load-conn", e))?;
            auth.pubkeys.push(key);
            continue;
        }
        let path = resolve(&dir.join("pubkey"), name);
        let data = read_regular(&path).map_err(|e| CredError::new(path.display(), e))?;
        let key = if is_pem(&data) {
            RawPublicKey::from_pem(&data)
        } else {
            RawPublicKey::from_der(&data)
        }
        .map_err(|e| CredError::new(path.display(), e))?;
        auth.pubkeys.push(key);
    }
    // charon's identity for a side with no `id` (an explicit `%any` is kept): its first
    // certificate's subject (vici sets it from the subject cert), else its first raw key's key
    // ID; for the ID we send and for matching the peer's.
    if round.id.is_none() && id.is_none() {
        *id = match auth.certs.first() {
            Some(cert) => Some(iked_ike::creds::identity_from_cert(cert)),
            None => iked_ike::creds::identity_from_pubkeys(auth)
                .map_err(|e| CredError::new(&round.name, CredProblem::Invalid(e.to_string())))?,
        };
    }
    Ok(())
}

/// The engine connection of `conn` with its certificate files read from the swanctl
/// directory `dir`.
pub fn engine_connection_with_creds(
    conn: &iked_conf::Connection,
    dir: &Path,
) -> Result<ec::IkeConfig, String> {
    // Located like the parser's errors, so an operator finds the connection in the file.
    let mut ike =
        super::config::engine_connection(conn).map_err(|e| format!("{}: {e}", conn.span))?;
    // A connection made only of shunts never authenticates anyone (charon loads it without
    // credentials too).
    if super::shunts::is_shunt_only(conn) {
        return Ok(ike);
    }
    let located = |e: CredError| format!("{}: connection '{}': {e}", conn.span, conn.name);
    if let Some(round) = conn.local.first() {
        conn_credentials(&mut ike.local, round, dir).map_err(located)?;
    }
    if let Some(round) = conn.remote.first() {
        conn_credentials(&mut ike.remote, round, dir).map_err(located)?;
    }
    Ok(ike)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// certlib's fixtures (`crypto/tests/data/certs/make.sh`).
    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crypto/tests/data/certs")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// A scratch swanctl directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("iked-creds-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
        fn put(&self, rel: &str, fixture_name: &str) -> PathBuf {
            self.put_bytes(rel, &fixture(fixture_name))
        }
        fn put_bytes(&self, rel: &str, data: &[u8]) -> PathBuf {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, data).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn secrets(text: &str) -> iked_conf::Secrets {
        iked_conf::load_str("test", text).unwrap().config.secrets
    }

    #[test]
    fn swanctl_directories_load_in_every_format() {
        let s = Scratch::new("formats");
        s.put("x509/bfl.pem", "bfl-rsa.pem");
        s.put("x509/bfr.der", "bfr-p256.der");
        s.put("x509ca/ca.pem", "ca-rsa.pem");
        s.put("rsa/bfl.pem", "bfl-rsa.key.pem"); // PKCS#1 PEM
        s.put("ecdsa/bfr.der", "bfr-p256.key.der"); // SEC1 DER
        s.put("pubkey/bfr.pem", "bfr-p256.pub.pem");
        s.put("pkcs8/p384.pem", "p384.key.pem");
        // As `openssl ca` and `ovs-pki sign` write them: a text dump, then the PEM block.
        let mut dumped = b"Certificate:\n    Data:\n        Version: 3 (0x2)\n".to_vec();
        dumped.extend(fixture("int-p256.pem"));
        s.put_bytes("x509ca/int.pem", &dumped);
        let mut store = CredStore::default();
        let report = store.load_dirs(&s.0, &secrets(""), &[]);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.loaded.len(), 8, "{:?}", report.loaded);
        assert!(
            report
                .loaded
                .iter()
                .any(|l| l.contains("RSA key") && l.contains("rsa/bfl.pem"))
        );
        assert_eq!(store.counts(), (2, 2, 3, 1));
        let set = store.credential_set();
        assert_eq!(set.certs.len(), 2);
        assert_eq!(set.cas.len(), 2);
        assert_eq!(set.keys.len(), 3);
        let bfl = Certificate::from_pem(&fixture("bfl-rsa.pem")).unwrap();
        assert!(store.has_private_key(&bfl));
        // A reload replaces what the directories brought in (here: one file less).
        std::fs::remove_file(s.0.join("pkcs8/p384.pem")).unwrap();
        let report = store.load_dirs(&s.0, &secrets(""), &[]);
        assert!(report.errors.is_empty());
        assert_eq!(store.counts(), (2, 2, 2, 1));
    }

    #[test]
    fn encrypted_keys_take_the_passphrase_of_their_secrets_section() {
        let s = Scratch::new("pass");
        s.put("pkcs8/bfr.pem", "bfr-p256.enc.pem");
        let mut store = CredStore::default();
        let report = store.load_dirs(&s.0, &secrets(""), &[]);
        assert_eq!(report.errors.len(), 1);
        let e = report.errors[0].to_string();
        assert!(
            e.contains("pkcs8/bfr.pem") && e.contains("no passphrase"),
            "{e}"
        );

        let wrong = "secrets { pkcs8-bfr { file = bfr.pem\n secret = \"wrong\" } }";
        let report = store.load_dirs(&s.0, &secrets(wrong), &[]);
        let e = report.errors[0].to_string();
        assert!(
            e.contains("pkcs8/bfr.pem") && e.contains("wrong passphrase"),
            "{e}"
        );
        assert_eq!(store.counts().2, 0);

        let right = "secrets { pkcs8-bfr { file = bfr.pem\n secret = \"correct horse\" } }";
        let report = store.load_dirs(&s.0, &secrets(right), &[]);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(store.counts().2, 1);
    }

    #[test]
    fn bad_files_are_named_with_their_cause_and_the_rest_loads() {
        let s = Scratch::new("bad");
        s.put_bytes(
            "x509/garbage.pem",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        s.put("x509/ok.pem", "bfl-rsa.pem");
        s.put("ecdsa/rsa-key.pem", "bfl-rsa.key.pem");
        s.put("x509ca/not-a-ca.pem", "bfl-rsa.pem");
        let mut store = CredStore::default();
        let report = store.load_dirs(&s.0, &secrets(""), &[]);
        let text: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(text.iter().any(|e| e.contains("x509/garbage.pem")));
        assert!(
            text.iter()
                .any(|e| e.contains("ecdsa/rsa-key.pem") && e.contains("RSA key in the ecdsa/"))
        );
        assert!(
            text.iter()
                .any(|e| e.contains("not-a-ca.pem") && e.contains("not a CA"))
        );
        assert_eq!(store.counts(), (1, 0, 0, 0));
    }

    #[test]
    fn connection_files_resolve_relative_and_absolute() {
        let s = Scratch::new("conn");
        s.put("x509/bfl.pem", "bfl-rsa.pem");
        let abs = s.put("elsewhere/ca.pem", "ca-rsa.pem");
        s.put("pubkey/bfr.pem", "bfr-p256.pub.pem");
        let text = format!(
            "connections {{ c {{ remote_addrs = 192.0.2.1\n local {{ auth = pubkey\n certs = bfl.pem }}\n remote {{ auth = pubkey\n cacerts = {}\n pubkeys = bfr.pem }} }} }}",
            abs.display()
        );
        let loaded = iked_conf::load_str("test", &text).unwrap();
        let conn = &loaded.config.connections[0];
        let pubkey = || ec::AuthConfig {
            method: ec::AuthMethod::Pubkey(Box::default()),
            id: None,
        };
        let lists = |a: &ec::AuthConfig| match &a.method {
            ec::AuthMethod::Pubkey(p) => (p.certs.clone(), p.cacerts.len(), p.pubkeys.len()),
            ec::AuthMethod::Psk => panic!("not pubkey"),
        };
        let mut local = pubkey();
        conn_credentials(&mut local, &conn.local[0], &s.0).unwrap();
        let (certs, _, _) = lists(&local);
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0].subject(), "C=CH, O=iked test, CN=bfl");
        let mut remote = pubkey();
        conn_credentials(&mut remote, &conn.remote[0], &s.0).unwrap();
        let (certs, cacerts, pubkeys) = lists(&remote);
        assert_eq!((certs.len(), cacerts, pubkeys), (0, 1, 1));

        std::fs::remove_file(s.0.join("x509/bfl.pem")).unwrap();
        let e = conn_credentials(&mut pubkey(), &conn.local[0], &s.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("x509/bfl.pem"), "{e}");
        // A PSK round naming certificate files is refused rather than ignored.
        let mut psk = ec::AuthConfig {
            method: ec::AuthMethod::Psk,
            id: None,
        };
        assert!(conn_credentials(&mut psk, &conn.remote[0], &s.0).is_err());
    }

    /// charon (vici) gives a side with `certs` and no `id` its certificate's subject: the ID
    /// we send, and the only ID the peer may present; an explicit `%any` stays any.
    #[test]
    fn certs_without_id_name_the_side_by_the_certificate_subject() {
        let s = Scratch::new("certid");
        s.put("x509/bfl.pem", "bfl-rsa.pem");
        s.put("x509/bfr.pem", "bfr-p256.pem");
        let conf = |remote_id: &str| {
            format!(
                "connections {{ c {{ remote_addrs = 192.0.2.1\n local {{ auth = pubkey\n certs = bfl.pem }}\n remote {{ auth = pubkey\n certs = bfr.pem\n {remote_id} }} }} }}"
            )
        };
        let loaded = iked_conf::load_str("test", &conf("")).unwrap();
        let conn = engine_connection_with_creds(&loaded.config.connections[0], &s.0).unwrap();
        let dn = |id: &Option<ec::Identity>| {
            let id = id.as_ref().expect("an identity");
            assert_eq!(id.kind, ec::id_type::DER_ASN1_DN);
            id.to_string()
        };
        assert_eq!(dn(&conn.local.id), "C=CH, O=iked test, CN=bfl");
        assert_eq!(dn(&conn.remote.id), "C=CH, O=iked test, CN=bfr");
        let loaded = iked_conf::load_str("test", &conf("id = %any")).unwrap();
        let conn = engine_connection_with_creds(&loaded.config.connections[0], &s.0).unwrap();
        assert_eq!(conn.remote.id, None);
    }

    #[test]
    fn connections_get_their_pubkey_settings_and_files() {
        let s = Scratch::new("engine");
        s.put("x509/bfl.pem", "bfl-rsa.pem");
        s.put("x509/bfr.pem", "bfr-p256.pem");
        let text = "connections { c { remote_addrs = 192.0.2.1\n send_cert = always\n \
            local { auth = rsa\n certs = bfl.pem\n id = \"C=CH, O=iked test, CN=bfl\" }\n \
            remote { auth = ike:ecdsa-sha256\n certs = bfr.pem\n id = bfr.example.org } } }";
        let loaded = iked_conf::load_str("test", text).unwrap();
        let conn = engine_connection_with_creds(&loaded.config.connections[0], &s.0).unwrap();
        let ec::AuthMethod::Pubkey(local) = &conn.local.method else {
            panic!("local is not pubkey");
        };
        assert_eq!(local.send_cert, ec::SendCert::Always);
        assert_eq!(local.constraint.spec, "rsa");
        assert_eq!(local.certs.len(), 1);
        let ec::AuthMethod::Pubkey(remote) = &conn.remote.method else {
            panic!("remote is not pubkey");
        };
        assert!(remote.send_certreq);
        assert_eq!(remote.certs[0].subject(), "C=CH, O=iked test, CN=bfr");
        assert_eq!(
            conn.local.id.as_ref().map(ToString::to_string).as_deref(),
            Some("C=CH, O=iked test, CN=bfl")
        );
        // A missing file makes the connection fail with the file named.
        std::fs::remove_file(s.0.join("x509/bfr.pem")).unwrap();
        let e = engine_connection_with_creds(&loaded.config.connections[0], &s.0).unwrap_err();
        assert!(
            e.contains("connection 'c'") && e.contains("x509/bfr.pem"),
            "{e}"
        );
    }

    #[test]
    fn vici_load_cert_takes_crls_and_clear_creds_drops_them() {
        use rcgen::{
            CertificateParams, CertificateRevocationListParams, IsCa, Issuer, KeyIdMethod, KeyPair,
            KeyUsagePurpose, SerialNumber, date_time_ymd,
        };
        let mut ca = CertificateParams::default();
        ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let crl = CertificateRevocationListParams {
            this_update: date_time_ymd(2026, 1, 1),
            next_update: date_time_ymd(2036, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![],
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&Issuer::from_params(&ca, &key))
        .unwrap();
        let mut store = CredStore::default();
        for data in [crl.der().to_vec(), crl.pem().unwrap().into_bytes()] {
            let r = store.vici_load_cert(
                &Message::new()
                    .kv("type", "X509_CRL")
                    .kv("flag", "NONE")
                    .kv("data", data),
            );
            assert_eq!(r.get_str("success"), Some("yes"), "{r:?}");
        }
        // The same CRL twice is held once.
        assert_eq!(store.credential_set().crls.len(), 1);
        let r = store.vici_load_cert(&Message::new().kv("type", "X509_CRL").kv("data", b"garbage"));
        assert_eq!(r.get_str("success"), Some("no"));
        assert!(
            r.get_str("errmsg").unwrap().contains("malformed CRL"),
            "{r:?}"
        );
        store.vici_clear();
        assert!(store.credential_set().crls.is_empty());
    }

    #[test]
    fn vici_commands_load_list_and_clear() {
        let mut store = CredStore::default();
        let r = store.vici_load_cert(
            &Message::new()
                .kv("type", "X509")
                .kv("flag", "NONE")
                .kv("data", fixture("bfr-p256.der")),
        );
        assert_eq!(r.get_str("success"), Some("yes"), "{r:?}");
        let r = store.vici_load_key(
            &Message::new()
                .kv("type", "ecdsa")
                .kv("data", fixture("bfr-p256.key.der")),
        );
        assert_eq!(r.get_str("success"), Some("yes"), "{r:?}");
        let id = r.get_str("id").unwrap().to_owned();
        let bfr = Certificate::from_der(&fixture("bfr-p256.der")).unwrap();
        assert_eq!(id, hex::encode(bfr.spki_sha1()));
        assert_eq!(store.vici_get_keys().get_list("keys"), vec![id.clone()]);
        // An RSA key announced as ecdsa is refused.
        let r = store.vici_load_key(
            &Message::new()
                .kv("type", "ecdsa")
                .kv("data", fixture("bfl-rsa.key.der")),
        );
        assert_eq!(r.get_str("success"), Some("no"));
        // A CA flag on an end-entity certificate is refused.
        let r = store.vici_load_cert(
            &Message::new()
                .kv("type", "X509")
                .kv("flag", "CA")
                .kv("data", fixture("bfl-rsa.pem")),
        );
        assert_eq!(r.get_str("success"), Some("no"));
        assert!(r.get_str("errmsg").unwrap().contains("not a CA"));
        let r = store.vici_load_authority(
            &Message::new().section("root", Message::new().kv("cacert", fixture("ca-rsa.pem"))),
        );
        assert_eq!(r.get_str("success"), Some("yes"), "{r:?}");
        assert_eq!(
            store.vici_get_authorities().get_list("authorities"),
            vec!["root"]
        );

        let events = store.vici_list_certs(&Message::new());
        assert_eq!(events.len(), 2);
        let ee = &events[0];
        assert_eq!(ee.get_str("flag"), Some("NONE"));
        assert_eq!(ee.get_str("has_privkey"), Some("yes"));
        assert_eq!(ee.get_str("subject"), Some("C=CH, O=iked test, CN=bfr"));
        assert_eq!(events[1].get_str("flag"), Some("CA"));
        assert_eq!(
            store
                .vici_list_certs(&Message::new().kv("flag", "CA"))
                .len(),
            1
        );
        assert_eq!(store.credential_set().cas.len(), 1);

        store.vici_clear();
        assert_eq!(
            store.counts(),
            (0, 1, 0, 0),
            "authorities survive clear-creds"
        );
        let r = store.vici_unload_authority(&Message::new().kv("name", "root"));
        assert_eq!(r.get_str("success"), Some("yes"));
        assert_eq!(store.counts(), (0, 0, 0, 0));
        let r = store.vici_unload_key(&Message::new().kv("id", id));
        assert_eq!(r.get_str("success"), Some("no"));
    }
}
