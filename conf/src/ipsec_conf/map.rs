//! ipsec.conf sections onto the swanctl.conf settings tree, so that one builder validates both.
//!
//! Contract: each `conn` (other than `%default` and those with `auto=ignore`) becomes
//! `connections.<name>` with one child of the same name, as charon's stroke plugin builds a
//! peer and a child config per conn; `ca` sections become `authorities`. Keys resolve as
//! starter does: the conn's own keys, over those of its `also=` sections (in order, recursively),
//! over `conn %default`. Every key is either mapped (the swanctl key gets the ipsec.conf key's
//! location, so the builder's errors point into ipsec.conf), or is a located error: unknown
//! keys, IKEv1-only keys and features iked lacks (iked would otherwise silently do something
//! else than charon). A handful of keys that change nothing about what is protected are
//! warnings. `left` is always the local side (starter swaps sides when `right` is a local
//! address; iked does not).

use std::path::Path;

use indexmap::IndexMap;

use super::parse::{Kind, Kv, Section};
use crate::diag::{Sink, Span};
use crate::syntax::{RawKey, RawSection};

/// Keys of `config setup` that iked accepts and ignores (logging, IKEv1 daemon, CRL cache).
const SETUP_IGNORED: &[&str] = &[
    "charondebug",
    "cachecrls",
    "charonstart",
    "plutostart",
    "plutodebug",
    "strictcrlpolicy",
];

/// Conn keys that change nothing about who may connect or what is protected: warnings.
const CONN_IGNORED: &[&str] = &[
    "leftfirewall",
    "rightfirewall",
    "lefthostaccess",
    "righthostaccess",
    "rightsendcert",
    "leftallowany",
    "rightallowany",
    "sha256_96",
    "ikedscp",
    "tfc",
    "rekeyfuzz",
];

/// Conn keys starter knows that iked refuses, with why.
const CONN_REFUSED: &[(&str, &str)] = &[
    (
        "aggressive",
        "IKEv1 Aggressive Mode is not supported by iked (IKEv2 only)",
    ),
    ("xauth", "XAuth is IKEv1 only; iked speaks IKEv2 only"),
    (
        "xauth_identity",
        "XAuth is IKEv1 only; iked speaks IKEv2 only",
    ),
    (
        "modeconfig",
        "Mode Config is IKEv1 only; iked speaks IKEv2 only",
    ),
    (
        "pfs",
        "'pfs' is an IKEv1 setting; in IKEv2 add a DH group to 'esp='",
    ),
    ("ah", "AH is not supported by iked (ESP only)"),
    ("leftupdown", "updown scripts are not supported by iked"),
    ("rightupdown", "updown scripts are not supported by iked"),
    ("leftsourceip", "virtual IPs are not supported by iked"),
    ("rightsourceip", "virtual IPs are not supported by iked"),
    (
        "leftdns",
        "configuration payloads are not supported by iked",
    ),
    (
        "rightdns",
        "configuration payloads are not supported by iked",
    ),
    (
        "leftgroups",
        "group membership checks are not supported by iked",
    ),
    (
        "rightgroups",
        "group membership checks are not supported by iked",
    ),
    (
        "leftauth2",
        "second authentication rounds are not supported by iked",
    ),
    (
        "rightauth2",
        "second authentication rounds are not supported by iked",
    ),
    ("eap_identity", "EAP is not supported by iked"),
    ("aaa_identity", "EAP is not supported by iked"),
    ("mediation", "mediation is not supported by iked"),
    ("mediated_by", "mediation is not supported by iked"),
    (
        "leftsigkey",
        "raw public keys in ipsec.conf are not supported by iked",
    ),
    (
        "rightsigkey",
        "raw public keys in ipsec.conf are not supported by iked",
    ),
    (
        "leftrsasigkey",
        "raw public keys in ipsec.conf are not supported by iked",
    ),
    (
        "rightrsasigkey",
        "raw public keys in ipsec.conf are not supported by iked",
    ),
    (
        "leftcert2",
        "second authentication rounds are not supported by iked",
    ),
    (
        "rightcert2",
        "second authentication rounds are not supported by iked",
    ),
    (
        "leftca2",
        "second authentication rounds are not supported by iked",
    ),
    (
        "rightca2",
        "second authentication rounds are not supported by iked",
    ),
    (
        "leftid2",
        "second authentication rounds are not supported by iked",
    ),
    (
        "rightid2",
        "second authentication rounds are not supported by iked",
    ),
    (
        "ppk_id",
        "post-quantum preshared keys are not supported by iked",
    ),
];

/// Conn keys mapped below.
const CONN_KEYS: &[&str] = &[
    "also",
    "auto",
    "type",
    "left",
    "right",
    "leftid",
    "rightid",
    "leftcert",
    "rightcert",
    "leftca",
    "rightca",
    "leftauth",
    "rightauth",
    "authby",
    "leftsubnet",
    "rightsubnet",
    "leftprotoport",
    "rightprotoport",
    "leftsendcert",
    "leftikeport",
    "rightikeport",
    "ike",
    "esp",
    "keyexchange",
    "mark",
    "mark_in",
    "mark_out",
    "if_id_in",
    "if_id_out",
    "keyingtries",
    "ikelifetime",
    "lifetime",
    "keylife",
    "margintime",
    "rekeymargin",
    "rekey",
    "reauth",
    "dpddelay",
    "dpdtimeout",
    "dpdaction",
    "closeaction",
    "inactivity",
    "mobike",
    "fragmentation",
    "forceencaps",
    "reqid",
    "replay_window",
    "installpolicy",
    "compress",
    "hw_offload",
    "lifebytes",
    "lifepackets",
];

/// Keys of `ca` sections.
const CA_KEYS: &[&str] = &[
    "also",
    "auto",
    "cacert",
    "crluri",
    "crluri1",
    "crluri2",
    "ocspuri",
    "ocspuri1",
    "ocspuri2",
    "certuribase",
];

/// Builds the swanctl settings tree for `sections` into `root`. `ipsec_d` is the `ipsec.d`
/// directory relative certificate names resolve against (`certs/`, `cacerts/`).
pub(crate) fn map(sections: &[Section], ipsec_d: &Path, root: &mut RawSection, sink: &mut Sink) {
    let setup = sections.iter().find(|s| s.kind == Kind::Setup);
    // ipsec.conf(5): uniqueids defaults to yes, with or without a `config setup` section.
    let unique = match setup {
        Some(s) => check_setup(s, sink),
        None => default_unique(&root.span),
    };
    let defaults = sections
        .iter()
        .find(|s| s.kind == Kind::Conn && s.name == "%default");
    let ca_defaults = sections
        .iter()
        .find(|s| s.kind == Kind::Ca && s.name == "%default");
    for section in sections {
        if section.name == "%default" {
            continue;
        }
        match section.kind {
            Kind::Setup => {}
            Kind::Conn => {
                let keys = effective(section, sections, defaults, sink);
                if keys.get("auto").is_some_and(|k| k.value == "ignore") {
                    continue;
                }
                let mut conn = Conn {
                    name: &section.name,
                    span: &section.span,
                    keys: &keys,
                    ipsec_d,
                    sink,
                };
                let built = conn.build(&unique);
                add_conn(section_mut(root, &["connections"], &section.span), built);
            }
            Kind::Ca => {
                let keys = effective(section, sections, ca_defaults, sink);
                if keys.get("auto").is_some_and(|k| k.value == "ignore") {
                    continue;
                }
                if let Some(auth) = ca(section, &keys, ipsec_d, sink) {
                    section_mut(root, &["authorities"], &section.span)
                        .sections
                        .insert(section.name.clone(), auth);
                }
            }
        }
    }
}

/// Adds a conn the way charon's stroke plugin does: a conn whose IKE side (addresses,
/// proposals, authentication, timers: everything but the child) equals an earlier one's adds
/// its child to that connection ("added child to existing configuration"), so one IKE SA
/// carries both, as the `-in-`/`-out-` pair ovs-monitor-ipsec writes per VXLAN tunnel needs.
fn add_conn(connections: &mut RawSection, conn: RawSection) {
    let same_ike = |existing: &RawSection| {
        values(existing) == values(&conn)
            && ["local", "remote"].iter().all(|side| {
                existing.sections.get(*side).map(values) == conn.sections.get(*side).map(values)
            })
    };
    if let Some(existing) = connections.sections.values_mut().find(|e| same_ike(e))
        && let Some(children) = conn.sections.get("children")
    {
        let into = existing
            .sections
            .entry("children".into())
            .or_insert_with(|| RawSection::new("children", conn.span.clone()));
        for (name, child) in &children.sections {
            into.sections.insert(name.clone(), child.clone());
        }
        return;
    }
    connections.sections.insert(conn.name.clone(), conn);
}

/// A section's own keys and values, without locations.
fn values(section: &RawSection) -> std::collections::BTreeMap<&str, Option<&str>> {
    section
        .keys
        .iter()
        .map(|(k, v)| (k.as_str(), v.value.as_deref()))
        .collect()
}

fn section_mut<'r>(root: &'r mut RawSection, path: &[&str], span: &Span) -> &'r mut RawSection {
    let mut s = root;
    for part in path {
        s = s
            .sections
            .entry((*part).to_string())
            .or_insert_with(|| RawSection::new(*part, span.clone()));
    }
    s
}

/// `uniqueids` into swanctl's `unique`; the other setup keys are checked.
fn check_setup(setup: &Section, sink: &mut Sink) -> Kv {
    let mut unique = None;
    for kv in &setup.keys {
        match kv.key.as_str() {
            "uniqueids" => {
                let value = match kv.value.as_str() {
                    // ipsec.conf(5): yes (the default) replaces old SAs of the same identity.
                    "yes" | "replace" => "replace",
                    "no" => "no",
                    "never" => "never",
                    "keep" => "keep",
                    other => {
                        sink.error(
                            &kv.value_span,
                            format!("invalid uniqueids '{other}' (yes, no, never, replace, keep)"),
                        );
                        continue;
                    }
                };
                unique = Some(Kv {
                    value: value.into(),
                    ..kv.clone()
                });
            }
            k if SETUP_IGNORED.contains(&k) => sink.warning(
                &kv.key_span,
                format!("'{k}' in config setup has no meaning for iked, ignored"),
            ),
            k => sink.error(
                &kv.key_span,
                format!("unknown or unsupported keyword '{k}' in config setup"),
            ),
        }
    }
    unique.unwrap_or_else(|| default_unique(&setup.span))
}

/// `uniqueids=yes`, located at `span`.
fn default_unique(span: &Span) -> Kv {
    Kv {
        key: "uniqueids".into(),
        key_span: span.clone(),
        value: "replace".into(),
        value_span: span.clone(),
    }
}

/// A section's keys after `also=` and `%default`: later wins.
fn effective(
    section: &Section,
    all: &[Section],
    defaults: Option<&Section>,
    sink: &mut Sink,
) -> IndexMap<String, Kv> {
    let mut out = IndexMap::new();
    if let Some(d) = defaults {
        for kv in &d.keys {
            out.insert(kv.key.clone(), kv.clone());
        }
    }
    let mut chain = vec![section.name.clone()];
    merge_also(section, all, &mut chain, &mut out, sink);
    out.shift_remove("also");
    out
}

fn merge_also(
    section: &Section,
    all: &[Section],
    chain: &mut Vec<String>,
    out: &mut IndexMap<String, Kv>,
    sink: &mut Sink,
) {
    for kv in &section.keys {
        if kv.key != "also" {
            continue;
        }
        for name in kv.value.split_whitespace() {
            if chain.iter().any(|c| c == name) || chain.len() > 32 {
                sink.error(
                    &kv.value_span,
                    format!("also={name}: sections include each other"),
                );
                continue;
            }
            let Some(target) = all
                .iter()
                .find(|s| s.kind == section.kind && s.name == name && name != "%default")
            else {
                sink.error(&kv.value_span, format!("also={name}: no such section"));
                continue;
            };
            chain.push(name.to_owned());
            merge_also(target, all, chain, out, sink);
            chain.pop();
        }
    }
    for kv in &section.keys {
        if kv.key != "also" {
            out.insert(kv.key.clone(), kv.clone());
        }
    }
}

fn ca(
    section: &Section,
    keys: &IndexMap<String, Kv>,
    ipsec_d: &Path,
    sink: &mut Sink,
) -> Option<RawSection> {
    let mut out = RawSection::new(section.name.clone(), section.span.clone());
    let mut crl = Vec::new();
    let mut ocsp = Vec::new();
    for kv in keys.values() {
        match kv.key.as_str() {
            "cacert" => set(
                &mut out,
                "cacert",
                resolve_path(&kv.value, &ipsec_d.join("cacerts")),
                kv,
            ),
            "crluri" | "crluri1" | "crluri2" => crl.push(kv),
            "ocspuri" | "ocspuri1" | "ocspuri2" => ocsp.push(kv),
            "certuribase" => set(&mut out, "cert_uri_base", kv.value.clone(), kv),
            "auto" if matches!(kv.value.as_str(), "add" | "ignore") => {}
            "auto" => sink.error(&kv.value_span, "auto in a ca section is add or ignore"),
            k if !CA_KEYS.contains(&k) => sink.error(
                &kv.key_span,
                format!("unknown or unsupported keyword '{k}' in ca section"),
            ),
            _ => {}
        }
    }
    for (list, key) in [(crl, "crl_uris"), (ocsp, "ocsp_uris")] {
        if let Some(first) = list.first() {
            let joined: Vec<&str> = list.iter().map(|k| k.value.as_str()).collect();
            set(&mut out, key, joined.join(","), first);
        }
    }
    if !out.keys.contains_key("cacert") {
        sink.error(&section.span, format!("ca {} has no cacert", section.name));
        return None;
    }
    Some(out)
}

/// Relative certificate/key names are relative to their ipsec.d subdirectory, as in stroke.
pub(crate) fn resolve_path(value: &str, dir: &Path) -> String {
    if Path::new(value).is_absolute() {
        value.to_owned()
    } else {
        dir.join(value).to_string_lossy().into_owned()
    }
}

fn set(section: &mut RawSection, key: &str, value: String, at: &Kv) {
    section.keys.insert(
        key.to_owned(),
        RawKey {
            key_span: at.key_span.clone(),
            value: Some(value),
            value_span: at.value_span.clone(),
        },
    );
}

/// One conn being mapped.
struct Conn<'a> {
    name: &'a str,
    span: &'a Span,
    keys: &'a IndexMap<String, Kv>,
    ipsec_d: &'a Path,
    sink: &'a mut Sink,
}

impl Conn<'_> {
    fn get(&self, key: &str) -> Option<&Kv> {
        self.keys.get(key).filter(|k| !k.value.is_empty())
    }

    fn build(&mut self, unique: &Kv) -> RawSection {
        let mut conn = RawSection::new(self.name, self.span.clone());
        let mut child = RawSection::new(self.name, self.span.clone());
        let mut local = RawSection::new("local", self.span.clone());
        let mut remote = RawSection::new("remote", self.span.clone());
        self.check_keys();
        set(&mut conn, "unique", unique.value.clone(), unique);
        self.version(&mut conn);
        self.addresses(&mut conn, &mut remote);
        self.auth(&mut local, &mut remote);
        self.proposals(&mut conn, &mut child);
        self.child_mode(&mut child);
        self.selectors(&mut child);
        self.lifetimes(&mut conn, &mut child);
        self.misc(&mut conn, &mut child);
        conn.sections.insert("local".into(), local);
        conn.sections.insert("remote".into(), remote);
        let mut children = RawSection::new("children", self.span.clone());
        children.sections.insert(self.name.to_owned(), child);
        conn.sections.insert("children".into(), children);
        conn
    }

    fn check_keys(&mut self) {
        for kv in self.keys.values() {
            let k = kv.key.as_str();
            if let Some((_, why)) = CONN_REFUSED.iter().find(|(r, _)| *r == k) {
                // An explicit "no" of an unsupported feature asks for nothing.
                if !matches!(kv.value.as_str(), "no" | "") {
                    self.sink.error(&kv.key_span, format!("{k}: {why}"));
                }
            } else if CONN_IGNORED.contains(&k) {
                self.sink.warning(
                    &kv.key_span,
                    format!("'{k}' is not supported by iked, ignored"),
                );
            } else if !CONN_KEYS.contains(&k) {
                self.sink.error(
                    &kv.key_span,
                    format!("unknown or unsupported keyword '{k}' in conn {}", self.name),
                );
            }
        }
    }

    fn version(&mut self, conn: &mut RawSection) {
        let Some(kv) = self.get("keyexchange").cloned() else {
            // stroke's default `ike` is "either", IKEv2 when initiating.
            return;
        };
        match kv.value.as_str() {
            "ikev2" => set(conn, "version", "2".into(), &kv),
            "ike" => set(conn, "version", "0".into(), &kv),
            "ikev1" => self.sink.error(
                &kv.value_span,
                "keyexchange=ikev1: IKEv1 is not supported by iked (IKEv2 only)",
            ),
            other => self.sink.error(
                &kv.value_span,
                format!("invalid keyexchange '{other}' (ikev2, ike)"),
            ),
        }
    }

    fn addresses(&mut self, conn: &mut RawSection, remote: &mut RawSection) {
        for (key, target) in [("left", "local_addrs"), ("right", "remote_addrs")] {
            let Some(kv) = self.get(key).cloned() else {
                continue;
            };
            // `%defaultroute` means %any in charon 5.
            let value = kv
                .value
                .split(',')
                .map(|a| match a.trim() {
                    "%defaultroute" => "%any",
                    other => other,
                })
                .collect::<Vec<_>>()
                .join(",");
            set(conn, target, value, &kv);
        }
        for (key, target) in [
            ("leftikeport", "local_port"),
            ("rightikeport", "remote_port"),
        ] {
            if let Some(kv) = self.get(key).cloned() {
                set(conn, target, kv.value.clone(), &kv);
            }
        }
        // stroke: without rightid, the remote identity is the right address when it is one.
        if self.get("rightid").is_none()
            && let Some(kv) = self.get("right").cloned()
            && !kv.value.contains(',')
            && kv.value.parse::<std::net::IpAddr>().is_ok()
            && self.get("rightcert").is_none()
        {
            set(remote, "id", kv.value.clone(), &kv);
        }
    }

    fn auth(&mut self, local: &mut RawSection, remote: &mut RawSection) {
        let authby = self.get("authby").cloned();
        let by = match authby.as_ref().map(|k| k.value.as_str()) {
            None => Some("pubkey"),
            Some("psk" | "secret") => Some("psk"),
            Some("pubkey" | "rsasig" | "rsa" | "ecdsasig" | "ecdsa") => Some("pubkey"),
            // `never`: this end never negotiates (shunts); nothing to set.
            Some("never") => None,
            Some(other) => {
                if let Some(kv) = &authby {
                    let why = if other.contains("xauth") {
                        "XAuth is IKEv1 only; iked speaks IKEv2 only".to_owned()
                    } else {
                        format!("invalid authby '{other}' (psk, secret, pubkey, rsasig, ecdsasig)")
                    };
                    self.sink.error(&kv.value_span, why);
                }
                None
            }
        };
        for (side, round) in [("left", &mut *local), ("right", &mut *remote)] {
            let auth_key = format!("{side}auth");
            if let Some(kv) = self.get(&auth_key).cloned() {
                set(round, "auth", kv.value.clone(), &kv);
            } else if let Some(by) = by {
                let at = authby.clone().unwrap_or_else(|| self.at_conn());
                set(round, "auth", by.into(), &at);
            }
            if let Some(kv) = self.get(&format!("{side}id")).cloned() {
                set(round, "id", kv.value.clone(), &kv);
            }
            if let Some(kv) = self.get(&format!("{side}cert")).cloned() {
                let path = resolve_path(&kv.value, &self.ipsec_d.join("certs"));
                set(round, "certs", path, &kv);
            }
        }
        for (side, other, round) in [
            ("left", "right", &mut *local),
            ("right", "left", &mut *remote),
        ] {
            let Some(kv) = self.get(&format!("{side}ca")).cloned() else {
                continue;
            };
            let value = if kv.value == "%same" {
                match self.get(&format!("{other}ca")) {
                    Some(o) if o.value != "%same" => o.value.clone(),
                    _ => {
                        self.sink.error(
                            &kv.value_span,
                            format!("{side}ca=%same but {other}ca names no CA"),
                        );
                        continue;
                    }
                }
            } else {
                kv.value.clone()
            };
            // charon also takes a DN here; iked's model pins CAs by certificate file.
            if value.contains('=') && !value.contains('/') {
                self.sink.error(
                    &kv.value_span,
                    format!(
                        "{side}ca as a distinguished name is not supported by iked: name the CA \
                         certificate file"
                    ),
                );
                continue;
            }
            let path = resolve_path(&value, &self.ipsec_d.join("cacerts"));
            set(round, "cacerts", path, &kv);
        }
    }

    fn at_conn(&self) -> Kv {
        Kv {
            key: String::new(),
            key_span: self.span.clone(),
            value: String::new(),
            value_span: self.span.clone(),
        }
    }

    /// `ike=`/`esp=`: comma-separated; without a trailing `!` charon appends its defaults.
    fn proposals(&mut self, conn: &mut RawSection, child: &mut RawSection) {
        for (key, section, target) in [
            ("ike", &mut *conn, "proposals"),
            ("esp", &mut *child, "esp_proposals"),
        ] {
            let Some(kv) = self.get(key).cloned() else {
                continue;
            };
            let (list, strict) = match kv.value.trim_end().strip_suffix('!') {
                Some(l) => (l, true),
                None => (kv.value.as_str(), false),
            };
            let mut items: Vec<&str> = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            if !strict {
                items.push("default");
            }
            set(section, target, items.join(","), &kv);
        }
    }

    fn child_mode(&mut self, child: &mut RawSection) {
        if let Some(kv) = self.get("type").cloned() {
            let mode = match kv.value.as_str() {
                "tunnel" => "tunnel",
                "transport" => "transport",
                "transport_proxy" => "transport_proxy",
                "beet" => "beet",
                "pass" | "passthrough" => "pass",
                "drop" => "drop",
                other => {
                    self.sink.error(
                        &kv.value_span,
                        format!(
                            "invalid type '{other}' (tunnel, transport, transport_proxy, beet, \
                             pass, drop)"
                        ),
                    );
                    "tunnel"
                }
            };
            set(child, "mode", mode.into(), &kv);
        }
        if let Some(kv) = self.get("auto").cloned() {
            let action = match kv.value.as_str() {
                "route" => Some("trap"),
                "start" => Some("start"),
                "add" => None,
                other => {
                    self.sink.error(
                        &kv.value_span,
                        format!("invalid auto '{other}' (route, start, add, ignore)"),
                    );
                    None
                }
            };
            // Shunts are installed on load with start_action trap, as charon's shunt manager.
            let shunt = child
                .keys
                .get("mode")
                .and_then(|k| k.value.as_deref())
                .is_some_and(|m| m == "pass" || m == "drop");
            if shunt && kv.value != "ignore" {
                set(child, "start_action", "trap".into(), &kv);
            } else if let Some(a) = action {
                set(child, "start_action", a.into(), &kv);
            }
        }
    }

    /// `leftsubnet`/`leftprotoport` into `local_ts` (and right into `remote_ts`): without a
    /// subnet the selector is the IKE address (`dynamic`), or, for shunts, any address.
    fn selectors(&mut self, child: &mut RawSection) {
        let shunt = child
            .keys
            .get("mode")
            .and_then(|k| k.value.as_deref())
            .is_some_and(|m| m == "pass" || m == "drop");
        for (side, target) in [("left", "local_ts"), ("right", "remote_ts")] {
            let subnet = self.get(&format!("{side}subnet")).cloned();
            let protoport = self.get(&format!("{side}protoport")).cloned();
            if subnet.is_none() && protoport.is_none() && !shunt {
                continue;
            }
            let suffix = protoport
                .as_ref()
                .map(|p| format!("[{}]", p.value))
                .unwrap_or_default();
            let nets: Vec<String> = match &subnet {
                Some(s) => s.value.split(',').map(|n| n.trim().to_owned()).collect(),
                None if shunt => vec!["0.0.0.0/0".into(), "::/0".into()],
                None => vec!["dynamic".into()],
            };
            let value = nets
                .iter()
                .map(|n| format!("{n}{suffix}"))
                .collect::<Vec<_>>()
                .join(",");
            let at = protoport.or(subnet).unwrap_or_else(|| self.at_conn());
            set(child, target, value, &at);
        }
    }

    fn lifetimes(&mut self, conn: &mut RawSection, child: &mut RawSection) {
        let margin = self
            .get("margintime")
            .or_else(|| self.get("rekeymargin"))
            .cloned();
        let margin_secs = margin.as_ref().and_then(|m| secs(&m.value, self.sink, m));
        if let Some(kv) = self.get("ikelifetime").cloned()
            && let Some(life) = secs(&kv.value, self.sink, &kv)
        {
            // charon: rekey (or reauth) margintime before the lifetime, over_time the margin.
            let m = margin_secs.unwrap_or(540).min(life);
            let reauth = self.get("reauth").is_some_and(|r| r.value == "yes");
            let key = if reauth { "reauth_time" } else { "rekey_time" };
            set(conn, key, format!("{}s", life - m), &kv);
            set(conn, "over_time", format!("{m}s"), &kv);
        }
        if let Some(kv) = self
            .get("lifetime")
            .or_else(|| self.get("keylife"))
            .cloned()
            && let Some(life) = secs(&kv.value, self.sink, &kv)
        {
            let m = margin_secs.unwrap_or(540).min(life);
            set(child, "life_time", format!("{life}s"), &kv);
            set(child, "rekey_time", format!("{}s", life - m), &kv);
        }
        for (key, life_key) in [("lifebytes", "life_bytes"), ("lifepackets", "life_packets")] {
            if let Some(kv) = self.get(key).cloned() {
                set(child, life_key, kv.value.clone(), &kv);
            }
        }
        if let Some(kv) = self.get("rekey").cloned()
            && kv.value == "no"
        {
            self.sink.error(
                &kv.value_span,
                "rekey=no is not supported by iked (SAs are always rekeyed before they expire)",
            );
        }
    }

    fn misc(&mut self, conn: &mut RawSection, child: &mut RawSection) {
        let keys: Vec<Kv> = self.keys.values().cloned().collect();
        for kv in &keys {
            if kv.value.is_empty() {
                continue;
            }
            let v = kv.value.clone();
            match kv.key.as_str() {
                "keyingtries" => {
                    let n = if v == "%forever" { "0".into() } else { v };
                    set(conn, "keyingtries", n, kv);
                }
                "mark" => {
                    set(child, "mark_in", v.clone(), kv);
                    set(child, "mark_out", v, kv);
                }
                "mark_in" | "mark_out" | "if_id_in" | "if_id_out" | "reqid" | "replay_window"
                | "hw_offload" => set(child, &kv.key, v, kv),
                "inactivity" => set(child, "inactivity", v, kv),
                "installpolicy" => set(child, "policies", v, kv),
                "dpddelay" => set(conn, "dpd_delay", v, kv),
                "dpdtimeout" => set(conn, "dpd_timeout", v, kv),
                "dpdaction" | "closeaction" => {
                    let target = if kv.key == "dpdaction" {
                        "dpd_action"
                    } else {
                        "close_action"
                    };
                    let action = match v.as_str() {
                        "none" | "clear" => "none",
                        "hold" => "trap",
                        "restart" => "start",
                        other => {
                            self.sink.error(
                                &kv.value_span,
                                format!(
                                    "invalid {} '{other}' (none, clear, hold, restart)",
                                    kv.key
                                ),
                            );
                            continue;
                        }
                    };
                    set(child, target, action.into(), kv);
                }
                "mobike" => set(conn, "mobike", v, kv),
                "fragmentation" => set(conn, "fragmentation", v, kv),
                "forceencaps" => set(conn, "encap", v, kv),
                "compress" if v != "no" => self.sink.error(
                    &kv.value_span,
                    "IPComp (compress=yes) is not supported by iked",
                ),
                "reauth" if v == "yes" && self.get("ikelifetime").is_none() => {
                    self.sink.warning(
                        &kv.key_span,
                        "reauth=yes: iked rekeys the IKE SA instead of reauthenticating it \
                         (set ikelifetime to reauthenticate)",
                    );
                }
                _ => {}
            }
        }
        if let Some(kv) = self.get("leftsendcert").cloned() {
            let value = match kv.value.as_str() {
                "always" | "yes" => "always",
                "never" | "no" => "never",
                _ => "ifasked",
            };
            set(conn, "send_cert", value.into(), &kv);
        }
    }
}

/// ipsec.conf time values: a number with an optional `s`, `m`, `h` or `d` suffix.
fn secs(v: &str, sink: &mut Sink, at: &Kv) -> Option<u64> {
    let (num, mult) = [('s', 1), ('m', 60), ('h', 3600), ('d', 86400)]
        .iter()
        .find_map(|(suffix, mult)| v.strip_suffix(*suffix).map(|n| (n, *mult)))
        .unwrap_or((v, 1));
    match num.parse::<u64>() {
        Ok(n) => n.checked_mul(mult),
        Err(_) => {
            sink.error(&at.value_span, format!("invalid time '{v}' for {}", at.key));
            None
        }
    }
}
