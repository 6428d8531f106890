//! From the resolved settings tree to the typed [`Config`], with validation.
//!
//! Contract: every key of a known section is either parsed into the model,
//! or reported: unknown keys and sections are warnings at their location
//! (strongSwan ignores them too), keys strongSwan knows but iked does not
//! implement are warnings saying so, malformed values are errors at the
//! value. All problems are collected; the caller decides whether the result
//! is usable (no errors). Defaults and lifetime completion follow
//! `vici_config.c`. The BlueField packet-offload rules (seed document) are
//! enforced per CHILD_SA with `hw_offload = packet` and reported as warnings
//! with `hw_offload = auto`:
//! - `rekey_bytes` / `life_bytes` are errors (the NIC cannot count bytes);
//! - `rekey_time` (CHILD) and `reauth_time` (IKE) are accepted but ignored
//!   (treated as unset, so strongSwan's defaults apply), with a warning;
//! - ESP proposals must all be AEAD (`default` is not);
//! - `encap = yes` is an error (no UDP encapsulation in packet offload).

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine as _;
use iked_crypto::registry::{self, Proposal, Protocol};

use crate::addr::{AddrSpec, TrafficSelector, parse_addr, parse_ts};
use crate::diag::{Sink, Span};
use crate::identity::parse_identity;
use crate::model::*;
use crate::resolve::Node;
use crate::syntax::RawKey;
use crate::values::{
    IfId, Mark, parse_bool, parse_duration, parse_if_id, parse_mark, parse_port, parse_set_mark,
    parse_u32, parse_volume, split_list,
};

/// Accessor for one resolved section that reports as it reads.
struct Sec<'a, 'n> {
    node: &'n Node<'a>,
    path: String,
}

impl<'a, 'n> Sec<'a, 'n> {
    fn new(node: &'n Node<'a>, path: String) -> Self {
        Self { node, path }
    }

    fn raw(&self, key: &str) -> Option<&'a RawKey> {
        self.node.keys.get(key).copied()
    }

    /// The value of `key` parsed with `parse`; a parse failure is an error
    /// at the value and yields `None`.
    fn get<T>(
        &self,
        sink: &mut Sink,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<(T, &'a RawKey)> {
        let (text, raw) = self.node.value(key)?;
        match parse(text) {
            Ok(v) => Some((v, raw)),
            Err(msg) => {
                sink.error(&raw.value_span, format!("invalid {key}: {msg}"));
                None
            }
        }
    }

    fn value<T>(
        &self,
        sink: &mut Sink,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        self.get(sink, key, parse).map(|(v, _)| v)
    }

    /// A comma separated list, each item parsed with `parse`.
    fn list<T>(
        &self,
        sink: &mut Sink,
        key: &str,
        mut parse: impl FnMut(&str) -> Result<T, String>,
    ) -> Option<(Vec<T>, &'a RawKey)> {
        let (text, raw) = self.node.value(key)?;
        let mut out = Vec::new();
        for item in split_list(text) {
            match parse(item) {
                Ok(v) => out.push(v),
                Err(msg) => sink.error(&raw.value_span, format!("invalid {key}: {msg}")),
            }
        }
        Some((out, raw))
    }

    fn strings(&self, key: &str) -> Vec<String> {
        self.node
            .value(key)
            .map(|(t, _)| split_list(t).into_iter().map(str::to_string).collect())
            .unwrap_or_default()
    }

    fn string(&self, key: &str) -> Option<String> {
        self.node.value(key).map(|(t, _)| t.to_string())
    }

    /// Warns about keys outside `known` and about `unsupported` keys that
    /// are set.
    fn check_keys(&self, sink: &mut Sink, known: &[&str], unsupported: &[&str]) {
        for (k, raw) in &self.node.keys {
            if unsupported.contains(&k.as_str()) {
                if raw.value.is_some() {
                    sink.warning(
                        &raw.key_span,
                        format!("'{k}' in {} is not supported by iked, ignored", self.path),
                    );
                }
            } else if !known.contains(&k.as_str()) {
                sink.warning(
                    &raw.key_span,
                    format!("unknown key '{k}' in {}, ignored", self.path),
                );
            }
        }
    }

    fn unknown_section(&self, sink: &mut Sink, child: &Node<'_>) {
        sink.warning(
            &child.span,
            format!("unknown section '{}' in {}, ignored", child.name, self.path),
        );
    }
}

fn map<T: Copy>(table: &[(&str, T)], what: &str, s: &str) -> Result<T, String> {
    table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(s))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(k, _)| *k).collect();
            format!("'{s}' is not a valid {what} ({})", names.join(", "))
        })
}

fn has_prefix(name: &str, prefix: &str) -> bool {
    // `get` rather than slicing: the name may have a multi-byte character
    // where the prefix ends.
    name.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// Builds the model from the resolved root. `templates` are top-level
/// sections used only as reference targets.
pub(crate) fn build(root: &Node<'_>, templates: &HashSet<String>, sink: &mut Sink) -> Config {
    build_split(root, templates, sink, None)
}

/// Like [`build`], but when `refused` is given each connection is validated on its own (as
/// charon's `load-conn` does per connection): a connection with errors is left out of the
/// model and its errors go to `refused` under its name instead of into `sink`.
pub(crate) fn build_split(
    root: &Node<'_>,
    templates: &HashSet<String>,
    sink: &mut Sink,
    mut refused: Option<&mut Vec<(String, Vec<crate::Diagnostic>)>>,
) -> Config {
    let mut config = Config::default();
    let top = Sec::new(root, "the top level".into());
    top.check_keys(sink, &[], &[]);
    for (name, node) in &root.sections {
        match name.as_str() {
            "connections" => {
                for (conn_name, conn) in &node.sections {
                    let Some(refused) = refused.as_deref_mut() else {
                        config.connections.push(connection(conn_name, conn, sink));
                        continue;
                    };
                    let mut own = Sink::default();
                    let built = connection(conn_name, conn, &mut own);
                    let (errors, warnings) = own.split();
                    for w in warnings {
                        sink.push(w);
                    }
                    if errors.is_empty() {
                        config.connections.push(built);
                    } else {
                        refused.push((conn_name.clone(), errors));
                    }
                }
                Sec::new(node, "connections".into()).check_keys(sink, &[], &[]);
            }
            "secrets" => config.secrets = secrets(node, sink),
            "authorities" => {
                Sec::new(node, "authorities".into()).check_keys(sink, &[], &[]);
                for (auth_name, auth) in &node.sections {
                    config.authorities.push(authority(auth_name, auth, sink));
                }
            }
            "pools" => sink.warning(
                &node.span,
                "'pools' (virtual IP pools) are not supported by iked, ignored",
            ),
            _ if templates.contains(name) => {}
            _ => top.unknown_section(sink, node),
        }
    }
    config
}

const CONN_KEYS: &[&str] = &[
    "version",
    "local_addrs",
    "remote_addrs",
    "local_port",
    "remote_port",
    "proposals",
    "encap",
    "mobike",
    "dpd_delay",
    "dpd_timeout",
    "fragmentation",
    "childless",
    "send_certreq",
    "send_cert",
    "keyingtries",
    "unique",
    "reauth_time",
    "rekey_time",
    "over_time",
    "rand_time",
    "if_id_in",
    "if_id_out",
];

/// Keys iked does not implement and that change nothing about who may
/// connect or what is protected: a warning when set.
const CONN_UNSUPPORTED: &[&str] = &[
    // IKEv1 only (Aggressive Mode, Mode Config push); version = 1 is refused.
    "aggressive",
    "pull",
    // DSCP of IKE packets, and OCSP requests/responses in IKE.
    "dscp",
    "ocsp",
    "mediation_peer",
];

/// Keys iked does not implement whose absence would change who may connect
/// or what the tunnel protects (iked would silently do something else than
/// strongSwan): a located error when set, with why.
const CONN_REFUSED: &[(&str, &str)] = &[
    (
        "vips",
        "virtual IPs (configuration payloads) are not supported by iked: the tunnel would \
         protect the outer addresses instead of the requested virtual IP",
    ),
    (
        "pools",
        "virtual IP pools are not supported by iked: peers would get no virtual IP and their \
         traffic selectors would not be narrowed to one",
    ),
    (
        "ppk_id",
        "postquantum preshared keys (RFC 8784) are not supported by iked: the keys would be \
         derived without the PPK",
    ),
    (
        "mediated_by",
        "IKEv2 mediation is not supported by iked: it would connect directly instead",
    ),
];

/// Boolean keys refused only when enabled (their default changes nothing).
const CONN_REFUSED_IF_YES: &[(&str, &str)] = &[
    (
        "ppk_required",
        "postquantum preshared keys (RFC 8784) are not supported by iked: peers without a \
         PPK would be accepted",
    ),
    (
        "mediation",
        "IKEv2 mediation is not supported by iked: it cannot act as a mediation server",
    ),
];

/// Reports the keys of `refused` / `refused_if_yes` that are set in `s`.
fn refuse_keys(
    s: &Sec<'_, '_>,
    sink: &mut Sink,
    refused: &[(&str, &str)],
    refused_if_yes: &[(&str, &str)],
) {
    for (key, why) in refused {
        if let Some((v, raw)) = s.node.value(key)
            && !v.trim().is_empty()
        {
            sink.error(&raw.key_span, format!("{key} in {}: {why}", s.path));
        }
    }
    for (key, why) in refused_if_yes {
        if let Some((true, raw)) = s.get(sink, key, parse_bool) {
            sink.error(&raw.key_span, format!("{key} in {}: {why}", s.path));
        }
    }
}

/// All keys `check_keys` must not call unknown, for a refused table.
fn names<'t>(tables: &[&[(&'t str, &str)]]) -> Vec<&'t str> {
    tables
        .iter()
        .flat_map(|t| t.iter().map(|(k, _)| *k))
        .collect()
}

fn connection(name: &str, node: &Node<'_>, sink: &mut Sink) -> Connection {
    let path = format!("connection '{name}'");
    let s = Sec::new(node, path.clone());
    let known: Vec<&str> = CONN_KEYS
        .iter()
        .copied()
        .chain(names(&[CONN_REFUSED, CONN_REFUSED_IF_YES]))
        .collect();
    s.check_keys(sink, &known, CONN_UNSUPPORTED);
    refuse_keys(&s, sink, CONN_REFUSED, CONN_REFUSED_IF_YES);

    let version = ike_version(&s, sink, &path);
    let addrs = |sink: &mut Sink, key| {
        let list = s.list(sink, key, parse_addr).map(|(v, _)| v);
        match list {
            Some(v) if !v.is_empty() => v,
            _ => vec![AddrSpec::Any],
        }
    };
    let local_addrs = addrs(sink, "local_addrs");
    let remote_addrs = addrs(sink, "remote_addrs");
    let proposals = proposals(&s, sink, "proposals", Protocol::Ike);

    let time = |sink: &mut Sink, key| s.get(sink, key, parse_duration);
    let rekey = time(sink, "rekey_time");
    let mut reauth = time(sink, "reauth_time");
    let over = time(sink, "over_time").map(|(v, _)| v);
    let rand = time(sink, "rand_time").map(|(v, _)| v);

    let encap = s.get(sink, "encap", parse_bool);
    let mut children = Vec::new();
    let mut local = Vec::new();
    let mut remote = Vec::new();
    let if_id_in = s
        .value(sink, "if_id_in", parse_if_id)
        .unwrap_or(IfId::Fixed(0));
    let if_id_out = s
        .value(sink, "if_id_out", parse_if_id)
        .unwrap_or(IfId::Fixed(0));
    for (sub_name, sub) in &node.sections {
        if sub_name.eq_ignore_ascii_case("children") {
            Sec::new(sub, format!("{path} children")).check_keys(sink, &[], &[]);
            for (child_name, child_node) in &sub.sections {
                children.push(child(
                    name,
                    child_name,
                    child_node,
                    (if_id_in, if_id_out),
                    sink,
                ));
            }
        } else if has_prefix(sub_name, "local") {
            local.push(auth_round(&path, sub_name, sub, sink));
        } else if has_prefix(sub_name, "remote") {
            remote.push(auth_round(&path, sub_name, sub, sink));
        } else {
            s.unknown_section(sink, sub);
        }
    }
    for (list, default_name) in [(&mut local, "local"), (&mut remote, "remote")] {
        settle_auth_rounds(list, default_name, &path, &node.span, sink);
    }

    ike_offload_lints(&children, encap, &mut reauth, sink);

    let (rekey_time, reauth_time, over_time, rand_time) =
        ike_lifetimes(rekey.map(|r| r.0), reauth.map(|r| r.0), over, rand);

    Connection {
        name: name.to_string(),
        span: node.span.clone(),
        version,
        local_addrs,
        remote_addrs,
        local_port: s.value(sink, "local_port", parse_port),
        remote_port: s.value(sink, "remote_port", parse_port).unwrap_or(500),
        proposals,
        mobike: s.value(sink, "mobike", parse_bool).unwrap_or(true),
        encap: encap.map(|e| e.0).unwrap_or(false),
        fragmentation: s
            .value(sink, "fragmentation", |v| {
                map(
                    &[
                        ("yes", Fragmentation::Yes),
                        ("accept", Fragmentation::Accept),
                        ("no", Fragmentation::No),
                        ("force", Fragmentation::Force),
                    ],
                    "fragmentation",
                    v,
                )
            })
            .unwrap_or(Fragmentation::Yes),
        childless: s
            .value(sink, "childless", |v| {
                map(
                    &[
                        ("allow", Childless::Allow),
                        ("prefer", Childless::Prefer),
                        ("never", Childless::Never),
                        ("force", Childless::Force),
                    ],
                    "childless",
                    v,
                )
            })
            .unwrap_or(Childless::Allow),
        dpd_delay: s
            .value(sink, "dpd_delay", parse_duration)
            .unwrap_or_default(),
        dpd_timeout: s
            .value(sink, "dpd_timeout", parse_duration)
            .unwrap_or_default(),
        keyingtries: s.value(sink, "keyingtries", parse_u32).unwrap_or(1),
        unique: s
            .value(sink, "unique", |v| {
                map(
                    &[
                        ("never", UniquePolicy::Never),
                        ("no", UniquePolicy::No),
                        ("replace", UniquePolicy::Replace),
                        ("keep", UniquePolicy::Keep),
                    ],
                    "unique policy",
                    v,
                )
            })
            .unwrap_or(UniquePolicy::No),
        reauth_time,
        rekey_time,
        over_time,
        rand_time,
        send_cert: s
            .value(sink, "send_cert", |v| {
                map(
                    &[
                        ("ifasked", CertPolicy::IfAsked),
                        ("always", CertPolicy::Always),
                        ("never", CertPolicy::Never),
                    ],
                    "send_cert policy",
                    v,
                )
            })
            .unwrap_or(CertPolicy::IfAsked),
        send_certreq: s.value(sink, "send_certreq", parse_bool).unwrap_or(true),
        if_id_in,
        if_id_out,
        local,
        remote,
        children,
    }
}

/// `version`: 0 (any) or 2; IKEv1 and any other number are errors (then taken as IKEv2).
fn ike_version(s: &Sec<'_, '_>, sink: &mut Sink, path: &str) -> IkeVersion {
    match s.get(sink, "version", parse_u32) {
        None | Some((0, _)) => IkeVersion::Any,
        Some((2, _)) => IkeVersion::V2,
        Some((1, raw)) => {
            sink.error(
                &raw.value_span,
                format!(
                    "{path}: IKEv1 (version = 1) is not supported, iked implements IKEv2 only \
                     (use version = 2)"
                ),
            );
            IkeVersion::V2
        }
        Some((v, raw)) => {
            sink.error(
                &raw.value_span,
                format!("invalid version: {v} (use 2 for IKEv2, or 0)"),
            );
            IkeVersion::V2
        }
    }
}

/// One side's authentication rounds: the default round when none is written (charon's
/// `pubkey`), file order by round number, and an error for each round after the first.
fn settle_auth_rounds(
    list: &mut Vec<AuthRound>,
    default_name: &str,
    path: &str,
    span: &Span,
    sink: &mut Sink,
) {
    if list.is_empty() {
        list.push(AuthRound {
            name: default_name.into(),
            span: span.clone(),
            round: 0,
            auth: AuthMethod::Pubkey {
                spec: "pubkey".into(),
            },
            id: None,
            eap_id: None,
            aaa_id: None,
            certs: Vec::new(),
            cacerts: Vec::new(),
            pubkeys: Vec::new(),
            groups: Vec::new(),
            revocation: Revocation::Relaxed,
        });
    }
    // Stable: equal rounds keep file order (vici_config.c inserts
    // before the first round with a higher number).
    list.sort_by_key(|r| r.round);
    // RFC 4739 multiple authentication: iked authenticates one round
    // per side; accepting the extra rounds and skipping them would let
    // a peer in on the first round alone.
    for extra in list.iter().skip(1) {
        sink.error(
            &extra.span,
            format!(
                "{path}: several {default_name} authentication rounds ('{}' after '{}') are \
                 not supported by iked (RFC 4739 multiple authentication)",
                extra.name,
                list.first()
                    .map(|r| r.name.as_str())
                    .unwrap_or(default_name)
            ),
        );
    }
}

/// The packet-offload rules that concern the IKE SA, reported once per connection for its
/// strictest child (packet before auto): no UDP encapsulation, and no reauthentication (ignored
/// with `packet`, which `reauth` then loses).
fn ike_offload_lints(
    children: &[Child],
    encap: Option<(bool, &RawKey)>,
    reauth: &mut Option<(Duration, &RawKey)>,
    sink: &mut Sink,
) {
    let offloaded = children
        .iter()
        .find(|c| c.hw_offload == HwOffload::Packet)
        .or_else(|| children.iter().find(|c| c.hw_offload == HwOffload::Auto));
    if let Some(c) = offloaded
        && let Some(severity) = offload_lint(c.hw_offload)
    {
        if let Some((true, raw)) = encap {
            report(
                sink,
                severity,
                &raw.value_span,
                format!(
                    "encap = yes cannot be used with hw_offload = {} (child '{}'): packet \
                     offload does not support UDP-encapsulated ESP",
                    c.hw_offload, c.name
                ),
            );
        }
        if let Some((r, raw)) = *reauth
            && !r.is_zero()
        {
            sink.warning(
                &raw.key_span,
                format!(
                    "reauth_time is ignored with hw_offload = {} (child '{}')",
                    c.hw_offload, c.name
                ),
            );
            if c.hw_offload == HwOffload::Packet {
                *reauth = None;
            }
        }
    }
}

/// The IKE SA's rekey, reauthentication, overtime and jitter as charon derives them
/// (vici_config.c `config_sn()`): 4 h rekeying when neither is set; overtime 10 % of the longer,
/// jitter at most half the shorter non-zero one.
fn ike_lifetimes(
    rekey: Option<Duration>,
    reauth: Option<Duration>,
    over: Option<Duration>,
    rand: Option<Duration>,
) -> (Duration, Duration, Duration, Duration) {
    let (rekey_time, reauth_time) = match (rekey, reauth) {
        (None, None) => (Duration::from_secs(4 * 3600), Duration::ZERO),
        (r, a) => (r.unwrap_or_default(), a.unwrap_or_default()),
    };
    let over_time = over.unwrap_or_else(|| rekey_time.max(reauth_time) / 10);
    let rand_time = rand.unwrap_or_else(|| {
        let base = if !rekey_time.is_zero() && !reauth_time.is_zero() {
            rekey_time.min(reauth_time)
        } else {
            rekey_time.max(reauth_time)
        };
        over_time.min(base / 2)
    });
    (rekey_time, reauth_time, over_time, rand_time)
}

#[derive(Clone, Copy)]
enum Sev {
    Error,
    Warning,
}

fn report(sink: &mut Sink, sev: Sev, span: &Span, msg: String) {
    match sev {
        Sev::Error => sink.error(span, msg),
        Sev::Warning => sink.warning(span, msg),
    }
}

/// Packet offload rules apply as errors for `packet`, warnings for `auto`.
fn offload_lint(h: HwOffload) -> Option<Sev> {
    match h {
        HwOffload::Packet => Some(Sev::Error),
        HwOffload::Auto => Some(Sev::Warning),
        HwOffload::No | HwOffload::Crypto => None,
    }
}

fn proposals(s: &Sec<'_, '_>, sink: &mut Sink, key: &str, protocol: Protocol) -> Vec<Proposal> {
    let mut out = Vec::new();
    if let Some((text, raw)) = s.node.value(key) {
        for item in split_list(text) {
            // strongSwan 6 names RFC 9370 additional key exchanges ke1_ to
            // ke7_; said here rather than as an unknown algorithm.
            if let Some(ke) = item.split('-').map(str::trim).find(|t| {
                matches!(t.as_bytes(), [k, e, n, b'_', _, ..]
                    if k.eq_ignore_ascii_case(&b'k')
                        && e.eq_ignore_ascii_case(&b'e')
                        && (b'1'..=b'7').contains(n))
            }) {
                sink.error(
                    &raw.value_span,
                    format!(
                        "invalid {key} '{item}': additional key exchanges ('{ke}', RFC 9370) \
                         are not supported by iked"
                    ),
                );
                continue;
            }
            match registry::parse_proposal(item, protocol) {
                Ok(list) => {
                    for p in &list {
                        let unsupported = p.unsupported();
                        if !unsupported.is_empty() && !item.eq_ignore_ascii_case("default") {
                            sink.warning(
                                &raw.value_span,
                                format!(
                                    "{key}: '{item}' contains algorithms iked does not implement; \
                                     they will not be negotiated"
                                ),
                            );
                        }
                    }
                    out.extend(list);
                }
                Err(e) => sink.error(&raw.value_span, format!("invalid {key} '{item}': {e}")),
            }
        }
    }
    if out.is_empty() {
        out = registry::default_proposals(protocol);
    }
    out
}

const AUTH_KEYS: &[&str] = &[
    "auth",
    "id",
    "eap_id",
    "aaa_id",
    "round",
    "certs",
    "cacerts",
    "pubkeys",
    "groups",
    "revocation",
];
/// IKEv1 XAuth only: no effect with IKEv2.
const AUTH_UNSUPPORTED: &[&str] = &["xauth_id"];

/// Constraints on the peer that iked cannot check: ignoring them would let
/// in peers strongSwan refuses.
const AUTH_REFUSED: &[(&str, &str)] = &[
    (
        "cert_policy",
        "certificate policy OIDs are not checked by iked: peers without them would be accepted",
    ),
    (
        "ca_id",
        "ca_id is not supported by iked: peers of any trusted CA would be accepted",
    ),
];

fn parse_auth(v: &str) -> Result<AuthMethod, String> {
    if v.starts_with("ike:")
        || v.starts_with("pubkey")
        || v.starts_with("rsa")
        || v.starts_with("ecdsa")
    {
        return Ok(AuthMethod::Pubkey {
            spec: v.to_string(),
        });
    }
    if v.eq_ignore_ascii_case("psk") {
        return Ok(AuthMethod::Psk);
    }
    if has_prefix(v, "xauth") {
        return Ok(AuthMethod::Xauth {
            backend: v.split_once('-').map(|(_, b)| b.to_string()),
        });
    }
    if has_prefix(v, "eap") {
        return Ok(AuthMethod::Eap {
            method: v
                .get(3..)
                .and_then(|m| m.strip_prefix('-'))
                .map(str::to_string),
        });
    }
    Err(format!(
        "'{v}' is not an authentication method (pubkey, rsa, ecdsa, psk, eap[-method])"
    ))
}

fn auth_round(conn_path: &str, name: &str, node: &Node<'_>, sink: &mut Sink) -> AuthRound {
    let s = Sec::new(node, format!("{conn_path} {name}"));
    let known: Vec<&str> = AUTH_KEYS
        .iter()
        .copied()
        .chain(names(&[AUTH_REFUSED]))
        .collect();
    s.check_keys(sink, &known, AUTH_UNSUPPORTED);
    refuse_keys(&s, sink, AUTH_REFUSED, &[]);
    for sub in node.sections.values() {
        let cert_section = has_prefix(&sub.name, "cert") || has_prefix(&sub.name, "cacert");
        if cert_section && has_prefix(name, "remote") {
            // A remote certificate section pins what the peer may present;
            // skipping it would accept any certificate of a trusted CA.
            sink.error(
                &sub.span,
                format!(
                    "certificate section '{}' in {} (token handles) is not supported by iked; \
                     use certs/cacerts with files",
                    sub.name, s.path
                ),
            );
        } else if cert_section {
            sink.warning(
                &sub.span,
                format!(
                    "certificate section '{}' (token/file handles) is not supported by iked, ignored",
                    sub.name
                ),
            );
        } else {
            s.unknown_section(sink, sub);
        }
    }
    let auth = match s.get(sink, "auth", parse_auth) {
        Some((a @ AuthMethod::Xauth { .. }, raw)) => {
            sink.error(&raw.value_span, "invalid auth: XAuth exists only in IKEv1");
            a
        }
        Some((a @ AuthMethod::Eap { .. }, raw)) => {
            // Refused, not warned: without EAP the round would authenticate
            // (or accept the peer) by other means than configured.
            sink.error(
                &raw.value_span,
                format!(
                    "invalid auth in {}: EAP authentication is not supported by iked \
                     (use pubkey or psk)",
                    s.path
                ),
            );
            a
        }
        Some((a, _)) => a,
        None => AuthMethod::Pubkey {
            spec: "pubkey".into(),
        },
    };
    let id = s.value(sink, "id", parse_identity);
    if let Some((_, raw)) = s.node.value("id").filter(|(v, _)| {
        let lower = v.to_ascii_lowercase();
        lower.starts_with("ipv4:") && !v[5..].starts_with('#')
            || lower.starts_with("ipv6:") && !v[5..].starts_with('#')
    }) {
        sink.warning(
            &raw.value_span,
            "an ipv4:/ipv6: prefix uses the text verbatim, which is not a valid address \
             identity; drop the prefix (or use ipv4:#hex)",
        );
    }
    let groups = s
        .list(sink, "groups", parse_identity)
        .map(|(v, _)| v)
        .unwrap_or_default();
    AuthRound {
        name: name.to_string(),
        span: node.span.clone(),
        round: s.value(sink, "round", parse_u32).unwrap_or(0),
        auth,
        id,
        eap_id: s.value(sink, "eap_id", parse_identity),
        aaa_id: s.value(sink, "aaa_id", parse_identity),
        certs: s.strings("certs"),
        cacerts: s.strings("cacerts"),
        pubkeys: s.strings("pubkeys"),
        groups,
        revocation: s
            .value(sink, "revocation", |v| {
                map(
                    &[
                        ("strict", Revocation::Strict),
                        ("ifuri", Revocation::IfUri),
                        ("relaxed", Revocation::Relaxed),
                    ],
                    "revocation policy",
                    v,
                )
            })
            .unwrap_or(Revocation::Relaxed),
    }
}

const CHILD_KEYS: &[&str] = &[
    "ah_proposals",
    "esp_proposals",
    "local_ts",
    "remote_ts",
    "rekey_time",
    "life_time",
    "rand_time",
    "rekey_bytes",
    "life_bytes",
    "rand_bytes",
    "rekey_packets",
    "life_packets",
    "rand_packets",
    "mode",
    "policies",
    "policies_fwd_out",
    "dpd_action",
    "start_action",
    "close_action",
    "inactivity",
    "reqid",
    "priority",
    "interface",
    "mark_in",
    "mark_out",
    "replay_window",
    "hw_offload",
    "if_id_in",
    "if_id_out",
    "set_mark_in",
    "set_mark_out",
    "mark_in_sa",
    "ipcomp",
    "updown",
    "label",
    "tfc_padding",
];
const CHILD_UNSUPPORTED: &[&str] = &[
    // Only passed to the updown script, which is refused.
    "hostaccess",
    "sha256_96",
    "copy_df",
    "copy_ecn",
    "copy_dscp",
    // Only used with `label`, which is refused.
    "label_mode",
    "per_cpu_sas",
];

fn parse_action(v: &str) -> Result<Action, String> {
    match v.to_ascii_lowercase().as_str() {
        "start" | "restart" => Ok(Action {
            trap: false,
            start: true,
        }),
        "route" | "trap" => Ok(Action {
            trap: true,
            start: false,
        }),
        "none" | "clear" => Ok(Action::NONE),
        other => {
            let mut action = Action::NONE;
            for flag in other.split('|') {
                match flag.trim() {
                    "trap" => action.trap = true,
                    "start" => action.start = true,
                    "none" => {}
                    _ => {
                        return Err(format!(
                            "'{v}' is not an action (none, trap, start, trap|start)"
                        ));
                    }
                }
            }
            Ok(action)
        }
    }
}

/// Child keys naming features iked lacks: an error where ignoring them would change what the
/// SA protects or lets through, a warning for IPComp (only compression is lost).
fn refuse_child_features(s: &Sec<'_, '_>, sink: &mut Sink, path: &str) {
    if let Some((v, raw)) = s.node.value("updown")
        && !v.trim().is_empty()
    {
        // The script usually opens firewall rules or routes for the
        // tunnel; loading the child without running it would silently
        // change what passes.
        sink.error(
            &raw.key_span,
            format!("updown in {path}: updown scripts are not supported by iked"),
        );
    }
    if let Some((v, raw)) = s.node.value("label")
        && !v.trim().is_empty()
    {
        // The label selects which traffic the SA carries; without it the SA would carry all
        // traffic of the selectors.
        sink.error(
            &raw.key_span,
            format!("label in {path}: security labels are not supported by iked"),
        );
    }
    if let Some((v, raw)) = s.node.value("tfc_padding")
        && !matches!(v.trim(), "" | "0")
    {
        // Traffic flow confidentiality the operator asked for would silently be missing.
        sink.error(
            &raw.key_span,
            format!("tfc_padding in {path}: TFC padding is not supported by iked"),
        );
    }
    if let Some((_, raw)) = s.node.value("ah_proposals") {
        sink.error(
            &raw.key_span,
            "AH (ah_proposals) is not supported by iked; use esp_proposals",
        );
    }
    if let Some((true, raw)) = s.get(sink, "ipcomp", parse_bool) {
        sink.warning(&raw.key_span, "IPComp is not supported by iked, ignored");
    }
}

/// `hw_offload`, with NVIDIA's older spelling `full` taken as `packet` (and said so).
fn child_hw_offload<'a>(
    s: &Sec<'a, '_>,
    sink: &mut Sink,
    path: &str,
) -> Option<(HwOffload, &'a RawKey)> {
    let hw_offload_raw = s.get(sink, "hw_offload", |v| {
        map(
            &[
                ("no", HwOffload::No),
                ("yes", HwOffload::Crypto),
                ("crypto", HwOffload::Crypto),
                ("packet", HwOffload::Packet),
                ("auto", HwOffload::Auto),
                // NVIDIA's BlueField strongSwan (BF-5.9.0) and its OVS monitor spell packet
                // offload `full`; 5.9.10bf and later say `packet`.
                ("full", HwOffload::Packet),
            ],
            "hw_offload value",
            v,
        )
    });
    if let Some((HwOffload::Packet, raw)) = &hw_offload_raw
        && s.node
            .value("hw_offload")
            .is_some_and(|(v, _)| v.trim().eq_ignore_ascii_case("full"))
    {
        sink.warning(
            &raw.value_span,
            format!(
                "hw_offload = full in {path} is NVIDIA's older name for packet offload, taken as \
                 hw_offload = packet (the current spelling)"
            ),
        );
    }
    hw_offload_raw
}

/// `check_lifetimes()` of vici_config.c, including its use of doubles
/// (so `life_time = 66m` gives `rekey_time = 3599s`, as in strongSwan).
fn complete(
    rekey: Option<u64>,
    life: Option<u64>,
    rand: Option<u64>,
    default_rekey: u64,
) -> (u64, u64, u64) {
    let rekey = rekey.unwrap_or_else(|| match life {
        Some(l) => (l as f64 / 1.1) as u64,
        None => default_rekey,
    });
    let life = life.unwrap_or((rekey as f64 * 1.1) as u64);
    let rand = rand.unwrap_or(life - life.min(rekey));
    (rekey, life, rand)
}

fn child(
    conn: &str,
    name: &str,
    node: &Node<'_>,
    conn_if_ids: (IfId, IfId),
    sink: &mut Sink,
) -> Child {
    let path = format!("child '{name}' of connection '{conn}'");
    let s = Sec::new(node, path.clone());
    s.check_keys(sink, CHILD_KEYS, CHILD_UNSUPPORTED);
    for sub in node.sections.values() {
        s.unknown_section(sink, sub);
    }
    refuse_child_features(&s, sink, &path);

    let hw_offload_raw = child_hw_offload(&s, sink, &path);
    let hw_offload = hw_offload_raw.map(|h| h.0).unwrap_or(HwOffload::No);
    let lint = offload_lint(hw_offload);

    let ts = |sink: &mut Sink, key| match s.list(sink, key, parse_ts) {
        Some((v, _)) if !v.is_empty() => v,
        _ => vec![TrafficSelector::dynamic()],
    };
    let local_ts = ts(sink, "local_ts");
    let remote_ts = ts(sink, "remote_ts");
    let esp_proposals = proposals(&s, sink, "esp_proposals", Protocol::Esp);

    let mode = s.get(sink, "mode", |v| {
        if v.trim().eq_ignore_ascii_case("iptfs") {
            return Err("IP-TFS (RFC 9347, strongSwan 6) is not supported by iked".into());
        }
        map(
            &[
                ("tunnel", Mode::Tunnel),
                ("transport", Mode::Transport),
                ("transport_proxy", Mode::TransportProxy),
                ("beet", Mode::Beet),
                ("pass", Mode::Pass),
                ("drop", Mode::Drop),
            ],
            "mode",
            v,
        )
    });
    if let Some((m @ (Mode::Beet | Mode::TransportProxy), raw)) = mode {
        sink.warning(
            &raw.value_span,
            format!("mode {m} is not supported by iked yet"),
        );
    }
    let mode = mode.map(|m| m.0).unwrap_or(Mode::Tunnel);

    let secs = |sink: &mut Sink, key| s.get(sink, key, parse_duration);
    let vol = |sink: &mut Sink, key| s.get(sink, key, parse_volume);
    let mut rekey_time = secs(sink, "rekey_time");
    let life_time = secs(sink, "life_time");
    let rand_time = secs(sink, "rand_time");
    let rekey_bytes = vol(sink, "rekey_bytes");
    let life_bytes = vol(sink, "life_bytes");
    let rand_bytes = vol(sink, "rand_bytes");
    let rekey_packets = vol(sink, "rekey_packets");
    let life_packets = vol(sink, "life_packets");
    let rand_packets = vol(sink, "rand_packets");

    if let Some(sev) = lint {
        for (key, v) in [("rekey_bytes", &rekey_bytes), ("life_bytes", &life_bytes)] {
            if let Some((n, raw)) = v
                && *n != 0
            {
                report(
                    sink,
                    sev,
                    &raw.key_span,
                    format!(
                        "{key} is not supported with hw_offload = {hw_offload}: the device \
                         cannot count bytes (use rekey_packets)"
                    ),
                );
            }
        }
        if let Some((_, raw)) = rekey_time {
            sink.warning(
                &raw.key_span,
                format!("rekey_time is ignored with hw_offload = {hw_offload} (use rekey_packets)"),
            );
            if hw_offload == HwOffload::Packet {
                rekey_time = None;
            }
        }
        let non_aead: Vec<String> = esp_proposals
            .iter()
            .filter(|p| !p.is_aead())
            .map(|p| p.to_string())
            .collect();
        if !non_aead.is_empty() {
            let span = s
                .raw("esp_proposals")
                .filter(|r| r.value.is_some())
                .map(|r| r.value_span.clone())
                .or_else(|| hw_offload_raw.map(|h| h.1.value_span.clone()))
                .unwrap_or_else(|| node.span.clone());
            report(
                sink,
                sev,
                &span,
                format!(
                    "hw_offload = {hw_offload} requires AEAD ESP proposals only (e.g. \
                     aes128gcm16-x25519-esn), but {} {} not AEAD",
                    non_aead.join(", "),
                    if non_aead.len() == 1 { "is" } else { "are" }
                ),
            );
        }
    }

    let as_secs = |d: Option<(Duration, &RawKey)>| d.map(|(d, _)| d.as_secs());
    let as_n = |d: Option<(u64, &RawKey)>| d.map(|(n, _)| n);
    let (rt, lt, nt) = complete(
        as_secs(rekey_time),
        as_secs(life_time),
        as_secs(rand_time),
        3600,
    );
    let (rb, lb, nb) = complete(as_n(rekey_bytes), as_n(life_bytes), as_n(rand_bytes), 0);
    let (rp, lp, np) = complete(
        as_n(rekey_packets),
        as_n(life_packets),
        as_n(rand_packets),
        0,
    );

    let action = |sink: &mut Sink, key| s.value(sink, key, parse_action).unwrap_or(Action::NONE);
    Child {
        name: name.to_string(),
        span: node.span.clone(),
        local_ts,
        remote_ts,
        esp_proposals,
        mode,
        policies: s.value(sink, "policies", parse_bool).unwrap_or(true),
        policies_fwd_out: s
            .value(sink, "policies_fwd_out", parse_bool)
            .unwrap_or(false),
        hw_offload,
        start_action: action(sink, "start_action"),
        close_action: action(sink, "close_action"),
        dpd_action: action(sink, "dpd_action"),
        lifetime: ChildLifetime {
            rekey_time: Duration::from_secs(rt),
            life_time: Duration::from_secs(lt),
            rand_time: Duration::from_secs(nt),
            rekey_bytes: rb,
            life_bytes: lb,
            rand_bytes: nb,
            rekey_packets: rp,
            life_packets: lp,
            rand_packets: np,
        },
        replay_window: s.value(sink, "replay_window", parse_u32).unwrap_or(32),
        reqid: s.value(sink, "reqid", parse_u32).unwrap_or(0),
        priority: s.value(sink, "priority", parse_u32).unwrap_or(0),
        interface: s.string("interface"),
        mark_in: s.value(sink, "mark_in", parse_mark).unwrap_or(Mark::NONE),
        mark_out: s.value(sink, "mark_out", parse_mark).unwrap_or(Mark::NONE),
        if_id_in: s
            .value(sink, "if_id_in", parse_if_id)
            .unwrap_or(conn_if_ids.0),
        if_id_out: s
            .value(sink, "if_id_out", parse_if_id)
            .unwrap_or(conn_if_ids.1),
        set_mark_in: s
            .value(sink, "set_mark_in", parse_set_mark)
            .unwrap_or(Mark::NONE),
        set_mark_out: s
            .value(sink, "set_mark_out", parse_set_mark)
            .unwrap_or(Mark::NONE),
        mark_in_sa: s.value(sink, "mark_in_sa", parse_bool).unwrap_or(false),
        inactivity: s
            .value(sink, "inactivity", parse_duration)
            .unwrap_or_default(),
    }
}

/// swanctl's secret encoding: `0x` hex, `0s` base64, else the text.
pub(crate) fn decode_secret(v: &str) -> Result<Vec<u8>, String> {
    if let Some(h) = v.strip_prefix("0x") {
        hex::decode(h).map_err(|_| "'0x' secret is not valid hex".to_string())
    } else if let Some(b) = v.strip_prefix("0s") {
        base64::engine::general_purpose::STANDARD
            .decode(b)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b))
            .map_err(|_| "'0s' secret is not valid base64".to_string())
    } else {
        Ok(v.as_bytes().to_vec())
    }
}

fn secrets(node: &Node<'_>, sink: &mut Sink) -> Secrets {
    let mut out = Secrets::default();
    let top = Sec::new(node, "secrets".into());
    top.check_keys(sink, &[], &[]);
    for (name, sub) in &node.sections {
        let shared = [
            ("ike", SharedSecretKind::Ike),
            ("eap", SharedSecretKind::Eap),
            ("xauth", SharedSecretKind::Eap),
            ("ntlm", SharedSecretKind::Ntlm),
            ("ppk", SharedSecretKind::Ppk),
        ]
        .into_iter()
        .find(|(p, _)| has_prefix(name, p));
        let keyfile = [
            ("private", KeyFileKind::Private),
            ("rsa", KeyFileKind::Rsa),
            ("ecdsa", KeyFileKind::Ecdsa),
            ("pkcs8", KeyFileKind::Pkcs8),
            ("pkcs12", KeyFileKind::Pkcs12),
        ]
        .into_iter()
        .find(|(p, _)| has_prefix(name, p));
        let s = Sec::new(sub, format!("secret '{name}'"));
        for child in sub.sections.values() {
            s.unknown_section(sink, child);
        }
        if let Some((_, kind)) = shared {
            for (k, raw) in &sub.keys {
                if k != "secret" && !has_prefix(k, "id") {
                    sink.warning(
                        &raw.key_span,
                        format!("unknown key '{k}' in secret '{name}', ignored"),
                    );
                }
            }
            let mut ids = Vec::new();
            for (k, raw) in &sub.keys {
                if has_prefix(k, "id")
                    && let Some(v) = &raw.value
                {
                    match parse_identity(v) {
                        Ok(id) => ids.push(id),
                        Err(m) => sink.error(&raw.value_span, format!("invalid {k}: {m}")),
                    }
                }
            }
            let Some((secret, _)) = s.get(sink, "secret", decode_secret) else {
                if s.node.value("secret").is_none() {
                    sink.error(&sub.span, format!("secret '{name}' has no 'secret' value"));
                }
                continue;
            };
            if secret.is_empty() {
                sink.error(&sub.span, format!("secret '{name}' is empty"));
            }
            out.shared.push(SharedSecret {
                name: name.clone(),
                span: sub.span.clone(),
                kind,
                ids,
                secret: SecretBytes::new(secret),
            });
        } else if let Some((_, kind)) = keyfile {
            s.check_keys(sink, &["file", "secret"], &[]);
            out.key_passphrases.push(KeyPassphrase {
                name: name.clone(),
                span: sub.span.clone(),
                kind,
                file: s.string("file"),
                secret: s
                    .node
                    .value("secret")
                    .map(|(v, _)| SecretBytes::new(v.as_bytes().to_vec())),
            });
        } else if has_prefix(name, "token") {
            sink.warning(
                &sub.span,
                format!("secret '{name}': PKCS#11 tokens are not supported by iked, ignored"),
            );
        } else {
            top.unknown_section(sink, sub);
        }
    }
    out
}

fn authority(name: &str, node: &Node<'_>, sink: &mut Sink) -> Authority {
    let s = Sec::new(node, format!("authority '{name}'"));
    s.check_keys(
        sink,
        &["cacert", "file", "crl_uris", "ocsp_uris", "cert_uri_base"],
        &["handle", "slot", "module"],
    );
    for sub in node.sections.values() {
        s.unknown_section(sink, sub);
    }
    Authority {
        name: name.to_string(),
        span: node.span.clone(),
        cacert: s.string("cacert"),
        file: s.string("file"),
        crl_uris: s.strings("crl_uris"),
        ocsp_uris: s.strings("ocsp_uris"),
        cert_uri_base: s.string("cert_uri_base"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_complete_like_strongswan() {
        assert_eq!(complete(None, None, None, 3600), (3600, 3960, 360));
        assert_eq!(complete(Some(600), None, None, 3600), (600, 660, 60));
        // 3960 / 1.1 in doubles is 3599.99…, truncated like C does.
        assert_eq!(complete(None, Some(3960), None, 3600), (3599, 3960, 361));
        assert_eq!(complete(None, None, None, 0), (0, 0, 0));
        assert_eq!(complete(Some(100), Some(50), None, 0), (100, 50, 0));
    }

    #[test]
    fn actions() {
        assert_eq!(
            parse_action("trap").unwrap(),
            Action {
                trap: true,
                start: false
            }
        );
        assert_eq!(
            parse_action("restart").unwrap(),
            Action {
                trap: false,
                start: true
            }
        );
        assert_eq!(
            parse_action("trap|start").unwrap(),
            Action {
                trap: true,
                start: true
            }
        );
        assert_eq!(parse_action("clear").unwrap(), Action::NONE);
        assert!(parse_action("bogus").is_err());
    }

    #[test]
    fn auth_methods() {
        assert_eq!(parse_auth("psk"), Ok(AuthMethod::Psk));
        assert_eq!(
            parse_auth("rsa-2048"),
            Ok(AuthMethod::Pubkey {
                spec: "rsa-2048".into()
            })
        );
        assert_eq!(
            parse_auth("eap-tls"),
            Ok(AuthMethod::Eap {
                method: Some("tls".into())
            })
        );
        assert_eq!(parse_auth("eap"), Ok(AuthMethod::Eap { method: None }));
        assert!(parse_auth("password").is_err());
    }

    #[test]
    fn secrets_decode() {
        assert_eq!(decode_secret("0x0102").unwrap(), [1, 2]);
        assert_eq!(decode_secret("0sAQI=").unwrap(), [1, 2]);
        assert_eq!(decode_secret("0sAQI").unwrap(), [1, 2]);
        assert_eq!(decode_secret("plain").unwrap(), b"plain");
        assert!(decode_secret("0xzz").is_err());
        assert!(decode_secret("0s!!").is_err());
    }
}
