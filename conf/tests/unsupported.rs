//! What iked does not implement says so at load, located (issue 16 §8): every
//! swanctl.conf setting of strongSwan's `swanctl.opt` that iked does not
//! implement is either refused (it changes who may connect or what is
//! protected, or iked would silently do something else) or warned about (it
//! changes neither), each naming `file:line:column`.

use iked_conf::{Diagnostic, Severity, load_str};

/// Where each case puts its text in [`config`].
#[derive(Clone, Copy, Debug)]
enum At {
    Top,
    Conn,
    Local,
    Remote,
    Child,
}

/// One connection with PSK rounds and one transport child; `extra` goes
/// into the place `at` names.
fn config(at: At, extra: &str) -> String {
    let pick = |here: At| {
        if std::mem::discriminant(&here) == std::mem::discriminant(&at) {
            extra
        } else {
            ""
        }
    };
    format!(
        "{top}\nconnections {{\n  c {{\n    remote_addrs = 192.0.2.2\n    local {{\n      \
         auth = psk\n{local}\n    }}\n    remote {{\n      auth = psk\n{remote}\n    }}\n{conn}\n    \
         children {{\n      ch {{\n        mode = transport\n{child}\n      }}\n    }}\n  }}\n}}\n",
        top = pick(At::Top),
        conn = pick(At::Conn),
        local = pick(At::Local),
        remote = pick(At::Remote),
        child = pick(At::Child),
    )
}

/// 1-based (line, column) of `mark`, searched from the first `anchor`.
fn position(text: &str, anchor: &str, mark: &str) -> (u32, u32) {
    let start = text.find(anchor).expect("anchor in text");
    let offset = start + text[start..].find(mark).expect("mark after anchor");
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32 + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() as u32 + 1;
    (line, column)
}

/// (where, text, token the diagnostic points at, words of its message)
type Case = (At, &'static str, &'static str, &'static str);

/// Refused: each must fail the load with exactly one error, at the token.
const REFUSED: &[Case] = &[
    (At::Conn, "    version = 1", "1", "IKEv1"),
    (
        At::Local,
        "      auth = eap-tls",
        "eap-tls",
        "EAP authentication is not supported",
    ),
    (
        At::Remote,
        "      auth = eap-mschapv2",
        "eap-mschapv2",
        "EAP authentication is not supported",
    ),
    (
        At::Remote,
        "      auth = eap",
        "eap",
        "EAP authentication is not supported",
    ),
    (At::Local, "      auth = xauth", "xauth", "XAuth"),
    (At::Remote, "      auth = xauth-pam", "xauth-pam", "XAuth"),
    (
        At::Conn,
        "    local2 {\n      auth = psk\n    }",
        "local2",
        "several local authentication rounds",
    ),
    (
        At::Conn,
        "    remote-second {\n      auth = pubkey\n    }",
        "remote-second",
        "several remote authentication rounds",
    ),
    (
        At::Child,
        "        ah_proposals = sha256",
        "ah_proposals",
        "AH (ah_proposals) is not supported",
    ),
    (
        At::Child,
        "        esp_proposals = aes128gcm16-x25519-ke1_mlkem768",
        "aes128gcm16",
        "additional key exchanges ('ke1_mlkem768', RFC 9370)",
    ),
    (
        At::Conn,
        "    proposals = aes128-sha256-x25519-KE3_ecp256",
        "aes128",
        "additional key exchanges ('KE3_ecp256', RFC 9370)",
    ),
    (
        At::Child,
        "        mode = iptfs",
        "iptfs",
        "IP-TFS (RFC 9347",
    ),
    (At::Conn, "    vips = 0.0.0.0", "vips", "virtual IPs"),
    (At::Conn, "    pools = p1", "pools", "virtual IP pools"),
    (
        At::Child,
        "        updown = /usr/lib/ipsec/_updown iptables",
        "updown",
        "updown scripts are not supported",
    ),
    (At::Conn, "    ppk_id = ppk1", "ppk_id", "RFC 8784"),
    (
        At::Conn,
        "    ppk_required = yes",
        "ppk_required",
        "RFC 8784",
    ),
    (
        At::Conn,
        "    mediated_by = med",
        "mediated_by",
        "mediation is not supported",
    ),
    (
        At::Conn,
        "    mediation = yes",
        "mediation",
        "mediation server",
    ),
    (
        At::Remote,
        "      cert_policy = 1.3.6.1.4.1.36906.1",
        "cert_policy",
        "certificate policy OIDs",
    ),
    (
        At::Remote,
        "      ca_id = CN=ca",
        "ca_id",
        "ca_id is not supported",
    ),
    (
        At::Remote,
        "      cert1 {\n        handle = 0102\n      }",
        "cert1",
        "certificate section 'cert1'",
    ),
    (
        At::Remote,
        "      cacert-hsm {\n        handle = 0102\n      }",
        "cacert-hsm",
        "certificate section 'cacert-hsm'",
    ),
    (
        At::Child,
        "        label = system_u:object_r:ipsec_spd_t:s0",
        "label",
        "security labels",
    ),
    (
        At::Child,
        "        tfc_padding = mtu",
        "tfc_padding",
        "TFC padding",
    ),
];

/// Warned about: the configuration loads, with this warning at the token.
const WARNED: &[Case] = &[
    (
        At::Conn,
        "    aggressive = yes",
        "aggressive",
        "'aggressive' in connection 'c' is not supported",
    ),
    (
        At::Conn,
        "    pull = no",
        "pull",
        "'pull' in connection 'c' is not supported",
    ),
    (
        At::Conn,
        "    dscp = 101110",
        "dscp",
        "'dscp' in connection 'c' is not supported",
    ),
    (
        At::Conn,
        "    mediation_peer = peer",
        "mediation_peer",
        "is not supported",
    ),
    (
        At::Local,
        "      xauth_id = bob",
        "xauth_id",
        "'xauth_id' in connection 'c' local is not supported",
    ),
    (
        At::Local,
        "      cert1 {\n        handle = 0102\n      }",
        "cert1",
        "certificate section 'cert1'",
    ),
    (
        At::Child,
        "        hostaccess = yes",
        "hostaccess",
        "'hostaccess' in child 'ch'",
    ),
    (
        At::Child,
        "        ipcomp = yes",
        "ipcomp",
        "IPComp is not supported",
    ),
    (
        At::Child,
        "        copy_dscp = yes",
        "copy_dscp",
        "'copy_dscp' in child 'ch'",
    ),
    (
        At::Child,
        "        per_cpu_sas = yes",
        "per_cpu_sas",
        "'per_cpu_sas' in child 'ch'",
    ),
    (
        At::Child,
        "        iptfs_packet_size = 1400",
        "iptfs_packet_size",
        "unknown key 'iptfs_packet_size'",
    ),
    (
        At::Top,
        "pools {\n  p1 {\n    addrs = 10.3.0.0/24\n  }\n}",
        "pools",
        "'pools' (virtual IP pools) are not supported",
    ),
];

fn show(ds: &[Diagnostic]) -> String {
    ds.iter().map(|d| format!("\n  {d}")).collect()
}

#[test]
fn the_base_configuration_loads_cleanly() {
    // Otherwise the cases below would not be about their own setting.
    let loaded = load_str("t.conf", &config(At::Conn, "")).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{}", show(&loaded.warnings));
}

#[test]
fn refused_settings_are_located_errors() {
    for &(at, extra, token, words) in REFUSED {
        let text = config(at, extra);
        let e = match load_str("t.conf", &text) {
            Ok(l) => panic!("{extra:?} loaded, warnings:{}", show(&l.warnings)),
            Err(e) => e,
        };
        assert_eq!(e.errors.len(), 1, "{extra:?}:{}", show(&e.errors));
        let d = &e.errors[0];
        assert_eq!(d.severity, Severity::Error);
        assert!(d.message.contains(words), "{extra:?}: {d}");
        let (line, column) = position(&text, extra, token);
        assert_eq!(
            (&*d.span.file, d.span.line, d.span.column),
            ("t.conf", line, column),
            "{extra:?}: {d}"
        );
    }
}

#[test]
fn settings_without_effect_on_security_are_located_warnings() {
    for &(at, extra, token, words) in WARNED {
        let text = config(at, extra);
        let loaded = load_str("t.conf", &text)
            .unwrap_or_else(|e| panic!("{extra:?} refused:{}", show(&e.errors)));
        assert_eq!(
            loaded.warnings.len(),
            1,
            "{extra:?}:{}",
            show(&loaded.warnings)
        );
        let d = &loaded.warnings[0];
        assert!(d.message.contains(words), "{extra:?}: {d}");
        let (line, column) = position(&text, extra, token);
        assert_eq!(
            (&*d.span.file, d.span.line, d.span.column),
            ("t.conf", line, column),
            "{extra:?}: {d}"
        );
    }
}

#[test]
fn defaults_of_refused_switches_load() {
    // Spelling out strongSwan's default of a refused switch changes nothing.
    for (at, extra) in [
        (At::Conn, "    ppk_required = no"),
        (At::Conn, "    mediation = no"),
        (At::Conn, "    version = 2"),
        (At::Conn, "    vips ="),
        (At::Child, "        mode = tunnel"),
        (At::Child, "        tfc_padding = 0"),
    ] {
        let loaded = load_str("t.conf", &config(at, extra))
            .unwrap_or_else(|e| panic!("{extra:?} refused:{}", show(&e.errors)));
        assert!(
            loaded.warnings.is_empty(),
            "{extra:?}:{}",
            show(&loaded.warnings)
        );
    }
}

#[test]
fn refusals_reach_connections_through_templates() {
    // A refused key in a template is reported at the template's line for
    // each connection that inherits it, naming the connection.
    let text = "defaults {\n  vips = 0.0.0.0\n}\nconnections {\n  a : defaults {\n    \
                remote_addrs = 192.0.2.2\n  }\n  b : defaults {\n    remote_addrs = 192.0.2.3\n  }\n}\n";
    let e = load_str("t.conf", text).expect_err("vips in a template is refused");
    let located: Vec<(u32, u32)> = e
        .errors
        .iter()
        .map(|d| (d.span.line, d.span.column))
        .collect();
    assert_eq!(located, [(2, 3), (2, 3)], "{}", show(&e.errors));
    assert!(
        e.errors[0].message.contains("connection 'a'"),
        "{}",
        show(&e.errors)
    );
    assert!(
        e.errors[1].message.contains("connection 'b'"),
        "{}",
        show(&e.errors)
    );
}
