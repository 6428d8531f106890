//! Validation rules, located diagnostics, includes, and hostile input.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use iked_conf::{Errors, HwOffload, Loaded, Severity, load_file, load_str};

/// Minimal BFL-like connection with `child_extra` inside the child and
/// `conn_extra` at connection level.
fn conn(conn_extra: &str, child_extra: &str) -> String {
    format!(
        "connections {{\n  c {{\n    remote_addrs = 192.0.2.2\n{conn_extra}\
         \n    local {{\n      auth = psk\n    }}\n    remote {{\n      auth = psk\n    }}\
         \n    children {{\n      ch {{\n        mode = transport\n{child_extra}\n      }}\n    }}\n  }}\n}}\n"
    )
}

fn errors(text: &str) -> Errors {
    match load_str("test.conf", text) {
        Ok(l) => panic!("unexpectedly loaded, warnings: {:?}", l.warnings),
        Err(e) => e,
    }
}

fn loaded(text: &str) -> Loaded {
    load_str("test.conf", text).unwrap_or_else(|e| panic!("{e}"))
}

/// 1-based (line, column) of the first occurrence of `needle` in `text`.
fn position(text: &str, needle: &str) -> (u32, u32) {
    let offset = text.find(needle).expect("needle in text");
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32 + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() as u32 + 1;
    (line, column)
}

#[test]
fn rekey_bytes_with_packet_offload_is_located() {
    let text = conn(
        "",
        "        hw_offload = packet\n        esp_proposals = aes128gcm16-x25519-esn\n        rekey_bytes = 1g",
    );
    let e = errors(&text);
    let (line, column) = position(&text, "rekey_bytes");
    assert_eq!(e.errors.len(), 1, "{e}");
    assert_eq!(e.errors[0].span.line, line);
    assert_eq!(e.errors[0].span.column, column);
    assert_eq!(&*e.errors[0].span.file, "test.conf");
    let shown = e.errors[0].to_string();
    assert!(
        shown.starts_with(&format!(
            "test.conf:{line}:{column}: rekey_bytes is not supported"
        )),
        "{shown}"
    );
}

#[test]
fn life_bytes_with_packet_offload_is_an_error_but_zero_is_fine() {
    let e = errors(&conn(
        "",
        "        hw_offload = packet\n        esp_proposals = aes128gcm16\n        life_bytes = 100",
    ));
    assert!(
        e.errors[0]
            .message
            .starts_with("life_bytes is not supported"),
        "{e}"
    );
    loaded(&conn(
        "",
        "        hw_offload = packet\n        esp_proposals = aes128gcm16\n        rekey_bytes = 0",
    ));
}

#[test]
fn auto_offload_gets_the_same_rules_as_warnings() {
    let l = loaded(&conn(
        "    encap = yes",
        "        hw_offload = auto\n        rekey_bytes = 1m\n        rekey_time = 10m",
    ));
    let msgs: Vec<String> = l.warnings.iter().map(|w| w.message.clone()).collect();
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("rekey_bytes is not supported")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("encap = yes cannot be used")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("requires AEAD ESP proposals")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.starts_with("rekey_time is ignored")),
        "{msgs:?}"
    );
    let child = &l.config.connections[0].children[0];
    assert_eq!(child.hw_offload, HwOffload::Auto);
    // auto may fall back to no offload, so the values stay in force
    assert_eq!(child.lifetime.rekey_bytes, 1 << 20);
    assert_eq!(child.lifetime.rekey_time, Duration::from_secs(600));
}

#[test]
fn packet_offload_requires_aead_and_no_encap() {
    let text = conn(
        "    encap = yes",
        "        hw_offload = packet\n        esp_proposals = aes128-sha256, aes128gcm16",
    );
    let e = errors(&text);
    let msgs: Vec<String> = e.errors.iter().map(ToString::to_string).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    let (l, c) = position(&text, "yes");
    assert!(
        msgs.iter()
            .any(|m| m.starts_with(&format!("test.conf:{l}:{c}: encap = yes"))),
        "{msgs:?}"
    );
    let (l, c) = position(&text, "aes128-sha256");
    assert!(
        msgs.iter().any(|m| m.starts_with(&format!(
            "test.conf:{l}:{c}: hw_offload = packet requires AEAD"
        )) && m.contains("ESP:AES_CBC_128/HMAC_SHA2_256_128")),
        "{msgs:?}"
    );
    // With no esp_proposals the strongSwan default applies, which is not
    // AEAD-only: located at the hw_offload value.
    let text = conn("", "        hw_offload = packet");
    let e = errors(&text);
    let (l, c) = position(&text, "packet");
    assert_eq!(
        (e.errors[0].span.line, e.errors[0].span.column),
        (l, c),
        "{e}"
    );
}

#[test]
fn rekey_and_reauth_time_are_ignored_with_packet_offload() {
    let l = loaded(&conn(
        "    reauth_time = 3h",
        "        hw_offload = packet\n        esp_proposals = aes256gcm16-esn\n        rekey_time = 5m\n        rekey_packets = 1000000",
    ));
    assert_eq!(l.warnings.len(), 2, "{:?}", l.warnings);
    assert!(l.warnings.iter().all(|w| w.severity == Severity::Warning));
    let c = &l.config.connections[0];
    // treated as unset: strongSwan's defaults
    assert_eq!(c.reauth_time, Duration::ZERO);
    assert_eq!(c.rekey_time, Duration::from_secs(4 * 3600));
    let child = &c.children[0];
    assert_eq!(child.lifetime.rekey_time, Duration::from_secs(3600));
    assert_eq!(child.lifetime.rekey_packets, 1_000_000);
    assert_eq!(child.lifetime.life_packets, 1_100_000);
}

#[test]
fn ikev1_is_rejected_clearly() {
    let text = conn("    version = 1", "");
    let e = errors(&text);
    let (l, c) = position(&text, "1\n");
    assert_eq!((e.errors[0].span.line, e.errors[0].span.column), (l, c));
    assert!(
        e.errors[0]
            .message
            .contains("IKEv1 (version = 1) is not supported"),
        "{e}"
    );
}

#[test]
fn unknown_keys_and_sections_warn_with_location() {
    let text = conn("    frobnicate = 1\n    weird { }", "        colour = blue");
    let l = loaded(&text);
    let shown: Vec<String> = l.warnings.iter().map(ToString::to_string).collect();
    let (a, b) = position(&text, "frobnicate");
    assert!(
        shown.contains(&format!(
            "test.conf:{a}:{b}: unknown key 'frobnicate' in connection 'c', ignored"
        )),
        "{shown:?}"
    );
    let (a, b) = position(&text, "colour");
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with(&format!("test.conf:{a}:{b}: unknown key 'colour'"))),
        "{shown:?}"
    );
    let (a, b) = position(&text, "weird");
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with(&format!("test.conf:{a}:{b}: unknown section 'weird'"))),
        "{shown:?}"
    );
}

#[test]
fn all_malformed_values_are_reported_at_once() {
    let text = conn(
        "    dpd_delay = 5x\n    local_addrs = 10.0.0.1/99\n    proposals = aes128-nosuchalg-x25519",
        "        local_ts = 10.0.0.0/8 [udp/nosuchservice]\n        replay_window = lots\n        mode = sideways\n        start_action = maybe\n        mark_in = 1/zz",
    );
    let e = errors(&text);
    let keys = [
        "5x",
        "10.0.0.1/99",
        "aes128-nosuchalg",
        "10.0.0.0/8 [udp",
        "lots",
        "sideways",
        "maybe",
        "1/zz",
    ];
    assert_eq!(e.errors.len(), keys.len(), "{e}");
    for needle in keys {
        let (l, c) = position(&text, needle);
        assert!(
            e.errors
                .iter()
                .any(|d| d.span.line == l && d.span.column == c),
            "no error at {l}:{c} for {needle}: {e}"
        );
    }
}

#[test]
fn defaults_are_strongswans() {
    let l = loaded("connections { x { children { y { } } } }\n");
    let c = &l.config.connections[0];
    assert_eq!(c.rekey_time, Duration::from_secs(4 * 3600));
    assert_eq!(c.over_time, Duration::from_secs(1440));
    assert_eq!(c.rand_time, Duration::from_secs(1440));
    assert_eq!(c.remote_port, 500);
    assert!(c.mobike);
    assert_eq!(c.keyingtries, 1);
    assert_eq!(c.local[0].auth.to_string(), "pubkey");
    assert!(!c.proposals.is_empty());
    let y = &c.children[0];
    assert_eq!(y.mode, iked_conf::Mode::Tunnel);
    assert_eq!(y.hw_offload, HwOffload::No);
    assert!(y.policies);
    assert_eq!(y.replay_window, 32);
    assert_eq!(y.lifetime.rekey_time, Duration::from_secs(3600));
    assert_eq!(y.lifetime.life_time, Duration::from_secs(3960));
    assert_eq!(y.lifetime.rand_time, Duration::from_secs(360));
    assert_eq!(y.local_ts[0].to_string(), "dynamic");
    assert!(!y.esp_proposals.is_empty());
}

#[test]
fn later_definitions_merge_and_empty_values_restore_defaults() {
    let l = loaded(
        "t { mobike = no\n dpd_delay = 30s }\nconnections { a : t { dpd_delay =\n } }\nconnections { a { keyingtries = 3 } }\n",
    );
    let a = &l.config.connections[0];
    assert!(!a.mobike, "inherited from t");
    assert_eq!(
        a.dpd_delay,
        Duration::ZERO,
        "empty value hides the template's"
    );
    assert_eq!(a.keyingtries, 3, "second definition merged");
}

#[test]
fn auth_rounds_sorted_by_round() {
    // Rounds are sorted by `round` as vici_config.c does; the one sorted
    // second is the extra round iked refuses (RFC 4739), located there.
    let text = "connections { c {\n local-b { auth = psk\n round = 2 }\n local-a { auth = pubkey\n round = 1\n id = C=CH, O=strongSwan, CN=moon }\n } }\n";
    let e = errors(text);
    assert_eq!(e.errors.len(), 1, "{e}");
    assert_eq!(
        (e.errors[0].span.line, e.errors[0].span.column),
        position(text, "local-b")
    );
    assert!(
        e.errors[0]
            .message
            .contains("several local authentication rounds ('local-b' after 'local-a')"),
        "{e}"
    );
}

// ---- hostile input ------------------------------------------------------

fn first_error(text: &[u8]) -> String {
    match iked_conf::load_bytes("bad.conf", text) {
        Ok(_) => panic!("loaded"),
        Err(e) => e.errors[0].to_string(),
    }
}

#[test]
fn truncated_seed_is_located() {
    let seed = include_str!("../../examples/BFL.swanctl.conf");
    let cut = &seed[..seed.len() - 2]; // drop the final "}\n"
    let err = first_error(cut.as_bytes());
    // end of file is on the line after the last newline
    let eof_line = cut.matches('\n').count() + 1;
    assert!(
        err.starts_with(&format!("bad.conf:{eof_line}:1: unexpected end of file"))
            && err.contains("section 'secrets' opened at"),
        "{err}"
    );
    // cut in the middle of a quoted string
    let err = first_error(b"a = \"never closed\n\n");
    assert!(
        err.starts_with("bad.conf:1:5: unterminated quoted string"),
        "{err}"
    );
}

#[test]
fn unbalanced_braces() {
    assert!(first_error(b"a { }\n}\n").starts_with("bad.conf:2:1: unexpected '}'"));
    assert!(first_error(b"a { b {\n}\n").starts_with("bad.conf:3:1: unexpected end of file"));
}

#[test]
fn binary_garbage() {
    let garbage: Vec<u8> = (0u8..=255).cycle().take(4096).collect();
    let err = first_error(&garbage);
    assert!(err.starts_with("bad.conf:1:"), "{err}");
    let err = first_error(b"a = \xff\xfe\n");
    assert!(
        err.starts_with("bad.conf:1:5: value is not valid UTF-8"),
        "{err}"
    );
}

#[test]
fn deep_nesting_and_huge_values() {
    let deep = "a {\n".repeat(100_000);
    assert!(first_error(deep.as_bytes()).contains("nested more than 64 levels"));
    let huge = format!(
        "connections {{ c {{ remote_addrs = {} }} }}\n",
        "x".repeat(1 << 20)
    );
    assert!(first_error(huge.as_bytes()).starts_with("bad.conf:1:34: value too long"));
    // long but allowed values fail validation, located, without panicking
    let long = format!(
        "connections {{ c {{ remote_addrs = {} }} }}\n",
        "1.".repeat(30_000)
    );
    assert!(first_error(long.as_bytes()).starts_with("bad.conf:1:34: invalid remote_addrs"));
}

// ---- includes -----------------------------------------------------------

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("iked-conf-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn default_layout_includes_conf_d_in_order() {
    let dir = TempDir::new("confd");
    let main = dir.write(
        "swanctl.conf",
        "# like strongSwan's default file\ninclude conf.d/*.conf\nconnections { b { version = 2 } }\n",
    );
    dir.write("conf.d/20-b.conf", "connections { b { mobike = no } }\n");
    dir.write(
        "conf.d/10-a.conf",
        "defaults { dpd_delay = 10s }\nconnections { a : defaults { } }\n",
    );
    dir.write("conf.d/ignored.txt", "this is not included {{{\n");
    let l = load_file(&main).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = l
        .config
        .connections
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(l.config.connections[0].dpd_delay, Duration::from_secs(10));
    assert!(!l.config.connections[1].mobike);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn include_inside_a_section_and_quoted_pattern() {
    let dir = TempDir::new("nested");
    let main = dir.write(
        "main.conf",
        "connections {\n  include \"conns dir/*.conf\"\n}\n",
    );
    dir.write("conns dir/x.conf", "x { remote_addrs = 192.0.2.9 }\n");
    let l = load_file(&main).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.config.connections[0].name, "x");
}

#[test]
fn include_errors_are_located_in_the_included_file() {
    let dir = TempDir::new("locate");
    let main = dir.write("main.conf", "include sub.conf\n");
    dir.write("sub.conf", "\n\nconnections { c { mobike = perhaps } }\n");
    let e = load_file(&main).unwrap_err();
    let sub = dir.path().join("sub.conf");
    assert_eq!(
        e.errors[0].to_string(),
        format!(
            "{}:3:28: invalid mobike: 'perhaps' is not a boolean (yes/no)",
            sub.display()
        )
    );
}

#[test]
fn include_loops_are_located_errors() {
    let dir = TempDir::new("loop");
    let a = dir.write("a.conf", "x = 1\ninclude b.conf\n");
    dir.write("b.conf", "\ninclude a.conf\n");
    let e = load_file(&a).unwrap_err();
    let b = dir.path().join("b.conf");
    assert!(
        e.errors[0]
            .to_string()
            .starts_with(&format!("{}:2:1: include loop", b.display())),
        "{e}"
    );
    let selfref = dir.write("self.conf", "include *.conf\n");
    assert!(
        load_file(&selfref).unwrap_err().errors[0]
            .message
            .starts_with("include loop")
    );
}

#[test]
fn missing_include_is_a_warning_missing_file_an_error() {
    let dir = TempDir::new("missing");
    let main = dir.write("main.conf", "include conf.d/*.conf\n");
    let l = load_file(&main).unwrap();
    assert!(
        l.warnings[0].message.starts_with("no files found matching"),
        "{:?}",
        l.warnings
    );
    let e = load_file(dir.path().join("nope.conf")).unwrap_err();
    assert!(e.errors[0].message.starts_with("cannot read"), "{e}");
}

// ---- secrets, authorities, identities -------------------------------------

#[test]
fn secrets_sections_and_encodings() {
    let text = "secrets {\n\
        ike-1 {\n id-a = fqdn:host1\n id-b = 192.0.2.1\n id = C=CH, CN=peer\n secret = \"a secret with  spaces\"\n }\n\
        ike-hex { secret = 0x00ff10 }\n\
        ike-b64 { id = @@user@example.org\n secret = 0sAAECAw== }\n\
        eap-alice { id = alice\n secret = pw }\n\
        private-1 { file = key.pem\n secret = pass }\n\
        rsa-old { file = old.der }\n\
        token-x { handle = 01 }\n\
        }\n";
    let l = loaded(text);
    let ike: Vec<_> = l.config.secrets.ike().collect();
    assert_eq!(ike.len(), 3);
    assert_eq!(ike[0].ids.len(), 3);
    assert_eq!(ike[0].ids[0].to_string(), "host1");
    assert_eq!(ike[0].ids[1].to_string(), "192.0.2.1");
    assert_eq!(ike[0].secret.expose(), b"a secret with  spaces");
    assert_eq!(ike[1].secret.expose(), [0, 255, 16]);
    assert!(ike[1].ids.is_empty(), "no id: any peer");
    assert_eq!(ike[2].secret.expose(), [0, 1, 2, 3]);
    assert_eq!(l.config.secrets.shared.len(), 4);
    let keys = &l.config.secrets.key_passphrases;
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].file.as_deref(), Some("key.pem"));
    assert_eq!(keys[0].secret.as_ref().unwrap().expose(), b"pass");
    assert!(keys[1].secret.is_none());
    assert_eq!(l.warnings.len(), 1, "token warning: {:?}", l.warnings);
    assert!(!format!("{:?}", l.config.secrets).contains("pass\""));
}

#[test]
fn broken_secrets_are_errors() {
    let e = errors("secrets {\n ike-a { secret = 0xnothex }\n ike-b { id = x }\n}\n");
    let shown: Vec<String> = e.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "test.conf:2:19: invalid secret: '0x' secret is not valid hex",
            "test.conf:3:2: secret 'ike-b' has no 'secret' value",
        ]
    );
}

#[test]
fn authorities_and_auth_round_lists() {
    let l = loaded(
        "authorities { ca { cacert = ca.pem\n crl_uris = http://a/crl, file:///b.crl } }\n\
         connections { c {\n local { certs = a.pem, b.pem\n id = fqdn:moon.example }\n\
         remote { auth = ecdsa-256-sha384\n cacerts = ca.pem\n id = %any\n revocation = strict } } }\n",
    );
    let a = &l.config.authorities[0];
    assert_eq!(a.crl_uris, ["http://a/crl", "file:///b.crl"]);
    let c = &l.config.connections[0];
    assert_eq!(c.local[0].certs, ["a.pem", "b.pem"]);
    assert_eq!(c.remote[0].auth.to_string(), "ecdsa-256-sha384");
    assert_eq!(c.remote[0].id, Some(iked_conf::identity::Identity::Any));
    assert_eq!(c.remote[0].revocation, iked_conf::Revocation::Strict);
}

/// `ikectl check` (the summary) says what `strict`/`ifuri` do in iked, which has no OCSP.
#[test]
fn summary_says_what_revocation_does_without_ocsp() {
    let text = |policy: &str| {
        let l = loaded(&format!(
            "connections {{ c {{ remote {{ auth = pubkey\n cacerts = ca.pem\n revocation = {policy} }} }} }}\n"
        ));
        iked_conf::summary(&l.config)
    };
    let strict = text("strict");
    assert!(
        strict.contains(
            "revocation strict (every certificate needs a current CRL; no OCSP, so one naming \
             only an OCSP responder is refused)"
        ),
        "{strict}"
    );
    let ifuri = text("ifuri");
    assert!(
        ifuri.contains(
            "revocation ifuri (a certificate naming a CRL or OCSP URI needs a current CRL; no \
             OCSP, so one naming only an OCSP responder is refused)"
        ),
        "{ifuri}"
    );
    assert!(!text("relaxed").contains("revocation"));
}

#[test]
fn addresses_and_selectors_in_context() {
    let l = loaded(
        "connections { c {\n local_addrs = 10.0.0.1, 10.0.1.0/24, 10.0.2.1-10.0.2.9\n\
         remote_addrs = vpn.example.org, %any6\n local_port = 4500\n\
         children { s {\n local_ts = 10.0.0.0/16, dynamic[tcp/http]\n\
         remote_ts = 0.0.0.0/0[udp/vxlan], ::/0 [udp/1000-2000]\n\
         mark_in = %unique\n if_id_out = 42\n } } } }\n",
    );
    let c = &l.config.connections[0];
    let shown: Vec<String> = c.local_addrs.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["10.0.0.1", "10.0.1.0/24", "10.0.2.1-10.0.2.9"]);
    let shown: Vec<String> = c.remote_addrs.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["vpn.example.org", "%any6"]);
    assert_eq!(c.local_port, Some(4500));
    let s = &c.children[0];
    let ts: Vec<String> = s
        .local_ts
        .iter()
        .chain(&s.remote_ts)
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        ts,
        [
            "10.0.0.0/16",
            "dynamic[tcp/80]",
            "0.0.0.0/0[udp/4789]",
            "::/0[udp/1000-2000]"
        ]
    );
    assert_eq!(s.if_id_out, iked_conf::values::IfId::Fixed(42));
}

#[test]
fn multibyte_names_do_not_break_prefix_checks() {
    // "ik" followed by a two-byte character: the 3-byte prefix check must
    // not slice inside it.
    let l = loaded("secrets { ikä { secret = x } }\nconnections { c { locä { } } }\n");
    assert_eq!(l.warnings.len(), 2, "{:?}", l.warnings);
}

#[test]
fn unsupported_features_warn_or_fail_explicitly() {
    // The full table is in tests/unsupported.rs.
    let l = loaded(&conn("    dscp = 101110", "        hostaccess = yes"));
    let msgs: Vec<&str> = l.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        msgs.iter()
            .any(|m| m.contains("'dscp' in connection 'c' is not supported")),
        "{msgs:?}"
    );
    assert!(msgs.iter().any(|m| m.contains("'hostaccess'")), "{msgs:?}");
    let e = errors(&conn("    vips = 0.0.0.0", "        updown = /bin/true"));
    assert_eq!(e.errors.len(), 2, "{e}");
    let e = errors(&conn("", "        ah_proposals = sha256"));
    assert!(
        e.errors[0]
            .message
            .starts_with("AH (ah_proposals) is not supported")
    );
}

#[test]
fn seed_with_encap_gets_one_error_per_connection() {
    let seed = include_str!("../../examples/BFL.swanctl.conf");
    let text = seed.replace("mobike = no\n", "mobike = no\nencap = yes\n");
    let e = errors(&text);
    let (l, c) = position(&text, "yes\nreauth");
    assert_eq!(e.errors.len(), 1, "{e}");
    assert_eq!((e.errors[0].span.line, e.errors[0].span.column), (l, c));
    assert!(e.errors[0].message.contains("child 'bf-out'"), "{e}");
}

#[test]
fn structured_settings_validate_like_text() {
    let mut b = iked_conf::SettingsBuilder::new("vici");
    b.set(
        &["connections", "v"],
        "remote_addrs",
        "192.0.2.7, 192.0.2.8",
    )
    .set(&["connections", "v", "local"], "auth", "psk")
    .set(
        &["connections", "v", "children", "c"],
        "esp_proposals",
        "aes256gcm16-esn",
    )
    .set(
        &["connections", "v", "children", "c"],
        "hw_offload",
        "packet",
    );
    let l = b.load().unwrap_or_else(|e| panic!("{e}"));
    let v = &l.config.connections[0];
    assert_eq!(v.remote_addrs.len(), 2);
    assert_eq!(v.children[0].hw_offload, HwOffload::Packet);

    let mut b = iked_conf::SettingsBuilder::new("vici");
    b.set(&["connections", "v"], "mobike", "perhaps")
        .set(&["connections", "v", "children", "c"], "rekey_bytes", "1g")
        .set(
            &["connections", "v", "children", "c"],
            "hw_offload",
            "packet",
        );
    let e = b.load().unwrap_err();
    let shown: Vec<String> = e.errors.iter().map(ToString::to_string).collect();
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with("vici:1:1: invalid mobike")),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with("vici:2:1: rekey_bytes is not supported")),
        "{shown:?}"
    );
}

#[test]
fn references_into_an_ancestor_are_errors_not_exponential() {
    // Found by cargo-fuzz: a template whose subsections inherit from the
    // template itself expanded exponentially (2 branches per level).
    let text = "x {\n  p : x { }\n  q : x { }\n}\nconnections { c : x { } }\n";
    let e = errors(text);
    let shown: Vec<String> = e.errors.iter().map(ToString::to_string).collect();
    assert!(
        shown.contains(
            &"test.conf:2:7: section 'x.p' cannot reference 'x', which contains it".to_string()
        ),
        "{shown:?}"
    );
    let seed = include_bytes!("data/fuzz-regression-ancestor-reference-1.conf");
    assert!(iked_conf::load_bytes("fuzz", seed).is_err());
}
