//! The daemon settings an operator set for charon in `strongswan.conf`.
//!
//! Contract: [`load_file`] / [`load_str`] parse a `strongswan.conf` (same grammar and include
//! rules as swanctl.conf, see [`crate::syntax`]) and return the `charon { }` keys iked honours
//! as typed [`CharonSettings`], each `None` when not set (the caller keeps strongSwan's default).
//! Keys iked accepts but has no use for (table sizes, thread counts, plugins) are ignored
//! silently, as charon ignores unknown keys; charon keys iked does not implement are warnings
//! that name the key's location, so an operator learns which tuning did not carry over.
//! A value that does not parse is a located error, like in swanctl.conf.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::diag::{Diagnostic, Errors, Sink, Span};
use crate::syntax::{self, RawKey, RawSection};
use crate::values;

/// strongSwan's default strongswan.conf location.
pub const DEFAULT_PATH: &str = "/etc/strongswan.conf";

/// The `charon` settings iked applies; `None` = not set (strongSwan's default applies).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CharonSettings {
    /// `retransmit_timeout` (seconds, fractional; default 4.0).
    pub retransmit_timeout: Option<Duration>,
    /// `retransmit_base` (default 1.8).
    pub retransmit_base: Option<f64>,
    /// `retransmit_tries` (default 5).
    pub retransmit_tries: Option<u32>,
    /// `half_open_timeout` (seconds; default 30).
    pub half_open_timeout: Option<Duration>,
    /// `cookie_threshold`: half-open IKE SAs from which COOKIEs are demanded (default 30;
    /// 0 = never).
    pub cookie_threshold: Option<u32>,
    /// `cookie_threshold_ip`: half-open IKE SAs from one source address from which that
    /// address must present COOKIEs (strongSwan 6; default 3; 0 = never).
    pub cookie_threshold_ip: Option<u32>,
    /// `block_threshold`: half-open IKE SAs from one source address from which its
    /// IKE_SA_INIT requests are ignored (default 5; 0 = no limit).
    pub block_threshold: Option<u32>,
    /// `max_packet`: largest IKE message received, in bytes (default 10000); larger datagrams
    /// are discarded.
    pub max_packet: Option<u32>,
    /// `init_limit_half_open`: half-open IKE SAs above which IKE_SA_INIT is dropped (0 = no
    /// limit, the default).
    pub init_limit_half_open: Option<u32>,
    /// `dos_protection` (default yes): `no` turns cookies and the half-open limit off.
    pub dos_protection: Option<bool>,
    /// `keep_alive`: NAT keepalive interval (default 20 s; 0 disables).
    pub keep_alive: Option<Duration>,
    /// `fragment_size`: largest IKE datagram before RFC 7383 fragmentation (default 1280).
    pub fragment_size: Option<u32>,
    /// `port` (default 500).
    pub port: Option<u16>,
    /// `port_nat_t` (default 4500).
    pub port_nat_t: Option<u16>,
    /// `plugins.kernel-netlink.set_proto_port_transport_sa` (default no): transport-mode SAs
    /// carry their selector's protocol and ports (ovs-monitor-ipsec sets it).
    pub set_proto_port_transport_sa: Option<bool>,
}

/// A loaded strongswan.conf and the warnings seen on the way.
#[derive(Debug, Clone)]
pub struct LoadedSettings {
    /// The settings iked applies.
    pub charon: CharonSettings,
    /// Keys iked does not implement, each located.
    pub warnings: Vec<Diagnostic>,
}

/// Keys of `charon { }` that iked accepts without effect: they size or tune charon's own
/// machinery (tables, threads, plugin loading), which iked does not have.
const WITHOUT_EFFECT: &[&str] = &[
    "load_modular",
    "load",
    "threads",
    "ikesa_table_size",
    "ikesa_table_segments",
    "ikesa_hashtable_size",
    "reuse_ikesa",
    "install_routes",
    "install_virtual_ip",
    "retransmit_jitter",
    "retransmit_limit",
    "user",
    "group",
];

/// Sections of `charon { }` that iked ignores: plugin settings, charon's log targets (iked logs
/// to stderr/journald with levels from `--debug`), and charon-specific subsystems.
const IGNORED_SECTIONS: &[&str] = &[
    "plugins",
    "filelog",
    "syslog",
    "start-scripts",
    "stop-scripts",
];

/// Reads and interprets the strongswan.conf at `path`.
pub fn load_file(path: impl AsRef<Path>) -> Result<LoadedSettings, Errors> {
    let path = path.as_ref();
    let mut sink = Sink::default();
    let mut root = RawSection::new("", Span::new(Arc::from(path.to_string_lossy()), 1, 1));
    let ok = syntax::Parser::new(&mut sink).parse_file(path, &mut root);
    finish(ok, &root, sink)
}

/// Interprets strongswan.conf text; `name` is used in locations (includes must be absolute).
pub fn load_str(name: &str, text: &str) -> Result<LoadedSettings, Errors> {
    let mut sink = Sink::default();
    let mut root = RawSection::new("", Span::new(Arc::from(name), 1, 1));
    let ok = syntax::Parser::new(&mut sink).parse_text(name, text.as_bytes(), &mut root);
    finish(ok, &root, sink)
}

fn finish(parsed: bool, root: &RawSection, mut sink: Sink) -> Result<LoadedSettings, Errors> {
    let charon = if parsed {
        root.sections
            .get("charon")
            .map(|section| interpret(section, &mut sink))
            .unwrap_or_default()
    } else {
        CharonSettings::default()
    };
    let failed = !parsed || sink.has_errors();
    let (errors, warnings) = sink.split();
    if failed {
        Err(Errors { errors, warnings })
    } else {
        Ok(LoadedSettings { charon, warnings })
    }
}

fn interpret(section: &RawSection, sink: &mut Sink) -> CharonSettings {
    let mut out = CharonSettings::default();
    for (name, key) in &section.keys {
        // `key =` with nothing after it clears the value: strongSwan's default applies.
        let Some(value) = key.value.as_deref() else {
            continue;
        };
        match name.as_str() {
            "retransmit_timeout" => {
                out.retransmit_timeout = parsed(sink, name, key, value, parse_seconds)
            }
            "retransmit_base" => out.retransmit_base = parsed(sink, name, key, value, parse_base),
            "retransmit_tries" => {
                out.retransmit_tries = parsed(sink, name, key, value, values::parse_u32)
            }
            "half_open_timeout" => {
                out.half_open_timeout = parsed(sink, name, key, value, parse_whole_seconds)
            }
            "cookie_threshold" => {
                out.cookie_threshold = parsed(sink, name, key, value, values::parse_u32)
            }
            "cookie_threshold_ip" => {
                out.cookie_threshold_ip = parsed(sink, name, key, value, values::parse_u32)
            }
            "block_threshold" => {
                out.block_threshold = parsed(sink, name, key, value, values::parse_u32)
            }
            "max_packet" => out.max_packet = parsed(sink, name, key, value, values::parse_u32),
            "init_limit_half_open" => {
                out.init_limit_half_open = parsed(sink, name, key, value, values::parse_u32)
            }
            "dos_protection" => {
                out.dos_protection = parsed(sink, name, key, value, values::parse_bool)
            }
            "keep_alive" => out.keep_alive = parsed(sink, name, key, value, values::parse_duration),
            "fragment_size" => {
                out.fragment_size = parsed(sink, name, key, value, values::parse_u32)
            }
            "port" => out.port = parsed(sink, name, key, value, values::parse_port),
            "port_nat_t" => out.port_nat_t = parsed(sink, name, key, value, values::parse_port),
            known if WITHOUT_EFFECT.contains(&known) => {}
            other => not_implemented(sink, key, other),
        }
    }
    if let Some(knl) = section
        .sections
        .get("plugins")
        .and_then(|p| p.sections.get("kernel-netlink"))
        && let Some(key) = knl.keys.get("set_proto_port_transport_sa")
        && let Some(value) = key.value.as_deref()
    {
        // The only plugin setting iked applies; the rest of `plugins { }` (for instance
        // kernel-netlink's xfrm_ack_expires, which the OVS monitor writes) stays ignored.
        out.set_proto_port_transport_sa = parsed(
            sink,
            "plugins.kernel-netlink.set_proto_port_transport_sa",
            key,
            value,
            values::parse_bool,
        );
    }
    for (name, sub) in &section.sections {
        // Debian's stock files list every section with its keys commented out: only a section
        // that sets something is worth a warning.
        if !IGNORED_SECTIONS.contains(&name.as_str()) && sets_anything(sub) {
            sink.warning(
                &sub.span,
                format!("charon.{name} is not implemented by iked; ignored"),
            );
        }
    }
    out
}

/// Parses one value, reporting a failure as a located error (the setting keeps its default).
fn parsed<T>(
    sink: &mut Sink,
    name: &str,
    key: &RawKey,
    value: &str,
    parse: fn(&str) -> Result<T, String>,
) -> Option<T> {
    match parse(value) {
        Ok(v) => Some(v),
        Err(why) => {
            sink.error(&key.value_span, format!("invalid charon.{name}: {why}"));
            None
        }
    }
}

fn sets_anything(section: &RawSection) -> bool {
    section.keys.values().any(|k| k.value.is_some()) || section.sections.values().any(sets_anything)
}

fn not_implemented(sink: &mut Sink, key: &RawKey, name: &str) {
    sink.warning(
        &key.key_span,
        format!("charon.{name} is not implemented by iked; ignored"),
    );
}

/// charon reads `retransmit_timeout` as a double number of seconds.
fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("'{s}' is not a usable number of seconds"))
}

/// `half_open_timeout` is an integer number of seconds in charon (no unit suffix).
fn parse_whole_seconds(s: &str) -> Result<Duration, String> {
    values::parse_u32(s).map(|n| Duration::from_secs(u64::from(n)))
}

/// The retransmission backoff factor; below 1 the timeouts would shrink.
fn parse_base(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(b) if b.is_finite() && b >= 1.0 => Ok(b),
        _ => Err(format!("'{s}' is not a factor >= 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_charon_tuning_and_warns_about_what_iked_lacks() {
        let text = "charon {\n  retransmit_timeout = 0.5\n  retransmit_base = 1.2\n  \
                    retransmit_tries = 2\n  dos_protection = no\n  ikesa_table_size = 16384\n  \
                    make_before_break = yes\n  plugins {\n    kernel-netlink { fwmark = 1 }\n  }\n  \
                    filelog { x { default = 1 } }\n  tls { suites = x }\n}\nswanctl { load = pem }\n";
        let loaded = load_str("strongswan.conf", text).unwrap();
        assert_eq!(
            loaded.charon,
            CharonSettings {
                retransmit_timeout: Some(Duration::from_millis(500)),
                retransmit_base: Some(1.2),
                retransmit_tries: Some(2),
                dos_protection: Some(false),
                ..CharonSettings::default()
            }
        );
        let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "strongswan.conf:7:3: charon.make_before_break is not implemented by iked; ignored",
                "strongswan.conf:12:3: charon.tls is not implemented by iked; ignored",
            ]
        );
    }

    #[test]
    fn reads_set_proto_port_transport_sa_as_the_ovs_monitor_writes_it() {
        // /etc/strongswan.d/ovs.conf of ovs-monitor-ipsec.
        let text = "charon {\n  plugins {\n    kernel-netlink {\n      \
                    set_proto_port_transport_sa = yes\n      xfrm_ack_expires = 10\n    }\n    \
                    gcm { load = yes }\n  }\n  load_modular = yes\n}\n";
        let loaded = load_str("ovs.conf", text).unwrap();
        assert_eq!(loaded.charon.set_proto_port_transport_sa, Some(true));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let bad = "charon { plugins { kernel-netlink { set_proto_port_transport_sa = maybe } } }";
        let err = load_str("ovs.conf", bad).unwrap_err();
        assert!(
            err.errors[0]
                .to_string()
                .contains("invalid charon.plugins.kernel-netlink.set_proto_port_transport_sa"),
            "{:?}",
            err.errors
        );
    }

    #[test]
    fn a_bad_value_is_a_located_error() {
        let err = load_str(
            "s.conf",
            "charon {\n  retransmit_base = 0.5\n  port = 70000\n}\n",
        )
        .unwrap_err();
        let errors: Vec<String> = err.errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("s.conf:2:21: invalid charon.retransmit_base: '0.5'"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("s.conf:3:10: invalid charon.port"),
            "{errors:?}"
        );
    }

    #[test]
    fn reads_the_dos_keys_and_max_packet() {
        let text = "charon {\n  cookie_threshold = 0\n  cookie_threshold_ip = 7\n  \
                    block_threshold = 0\n  max_packet = 65535\n}\n";
        let loaded = load_str("strongswan.conf", text).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(
            loaded.charon,
            CharonSettings {
                cookie_threshold: Some(0),
                cookie_threshold_ip: Some(7),
                block_threshold: Some(0),
                max_packet: Some(65535),
                ..CharonSettings::default()
            }
        );
        let err = load_str("s.conf", "charon {\n  max_packet = big\n}\n").unwrap_err();
        assert!(
            err.errors[0]
                .to_string()
                .starts_with("s.conf:2:16: invalid charon.max_packet"),
            "{:?}",
            err.errors
        );
    }

    #[test]
    fn an_empty_value_keeps_the_default() {
        let loaded = load_str("s.conf", "charon {\n  retransmit_tries =\n}\n").unwrap();
        assert_eq!(loaded.charon, CharonSettings::default());
    }

    #[test]
    fn debians_stock_file_with_its_includes_loads_without_warnings() {
        let dir = std::env::temp_dir().join(format!("iked-sconf-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("strongswan.d/charon")).unwrap();
        // The shape of Debian 12's /etc/strongswan.conf and one of its included files.
        std::fs::write(
            dir.join("strongswan.conf"),
            "charon {\n\tload_modular = yes\n\tplugins {\n\t\tinclude strongswan.d/charon/*.conf\n\t}\n}\n\ninclude strongswan.d/*.conf\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("strongswan.d/charon.conf"),
            "charon {\n    # retransmit_tries = 5\n    retransmit_tries = 3\n    crypto_test {\n        # on_add = no\n    }\n}\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("strongswan.d/charon/aes.conf"),
            "aes {\n    load = yes\n}\n",
        )
        .unwrap();
        let loaded = load_file(dir.join("strongswan.conf")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(loaded.charon.retransmit_tries, Some(3));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }
}
