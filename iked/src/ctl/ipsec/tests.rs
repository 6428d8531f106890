use super::*;

/// ovs-monitor-ipsec's parse of `ipsec status` (StrongSwanHelper.get_active_conns): the token
/// before the first ':' of each stripped line, matched by `(.*)(-in-\d+|-out-\d+|-\d+).*` with
/// a greedy first group; stops at the first empty line. Returns (interface, token) pairs.
fn ovs_parse(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        let parts: Vec<&str> = line.split(':').collect();
        if parts.len() < 2 {
            continue;
        }
        let token = parts[0];
        // Greedy (.*): the last position where one of the alternatives matches.
        let bytes = token.as_bytes();
        let mut found = None;
        for start in (0..token.len()).rev() {
            for alt in ["-in-", "-out-", "-"] {
                if token[start..].starts_with(alt)
                    && bytes.get(start + alt.len()).is_some_and(u8::is_ascii_digit)
                {
                    found = Some(start);
                    break;
                }
            }
            if found.is_some() {
                break;
            }
        }
        if let Some(start) = found {
            out.push((token[..start].to_owned(), token.to_owned()));
        }
    }
    out
}

fn policy(child: &str, mode: &str, l: &str, r: &str) -> Message {
    Message::new().section(
        format!("{child}/{child}"),
        Message::new()
            .kv("child", child)
            .kv("ike", child)
            .kv("mode", mode)
            .list("local-ts", vec![l.to_owned()])
            .list("remote-ts", vec![r.to_owned()]),
    )
}

fn sa(name: &str, id: u32, child_id: u32) -> Message {
    Message::new().section(
        name,
        Message::new()
            .kv("uniqueid", id.to_string())
            .kv("state", "ESTABLISHED")
            .kv("established", "5")
            .kv("local-host", "10.0.0.1")
            .kv("local-id", "10.0.0.1")
            .kv("remote-host", "10.0.0.2")
            .kv("remote-id", "10.0.0.2")
            .section(
                "child-sas",
                Message::new().section(
                    format!("{name}-{child_id}"),
                    Message::new()
                        .kv("name", name)
                        .kv("uniqueid", child_id.to_string())
                        .kv("reqid", "1")
                        .kv("state", "INSTALLED")
                        .kv("mode", "TRANSPORT")
                        .kv("spi-in", "c1a2b3c4")
                        .kv("spi-out", "c5d6e7f8")
                        .list("local-ts", vec!["10.0.0.1/32[udp/4789]".to_owned()])
                        .list("remote-ts", vec!["10.0.0.2/32[udp]".to_owned()]),
                ),
            ),
    )
}

#[test]
fn status_lines_parse_as_ovs_parses_them() {
    let text = render_status(
        &[
            policy(
                "gre0-2",
                "TRANSPORT",
                "10.0.0.1/32[gre]",
                "10.0.0.3/32[gre]",
            ),
            policy(
                "prevent_unencrypted_vxlan",
                "DROP",
                "0.0.0.0/0[udp/4789]",
                "0.0.0.0/0",
            ),
        ],
        &[sa("vxlan0-in-1", 1, 2), sa("vxlan0-out-1", 3, 4)],
        None,
    );
    assert!(!text.contains("\n\n"), "{text}");
    assert!(text.contains("Routed Connections:\n"), "{text}");
    assert!(
        text.contains("Security Associations (2 up, 0 connecting):\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "vxlan0-in-1[1]: ESTABLISHED 5 seconds ago, 10.0.0.1[10.0.0.1]...10.0.0.2[10.0.0.2]\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "vxlan0-in-1{2}:  INSTALLED, TRANSPORT, reqid 1, ESP SPIs: c1a2b3c4_i c5d6e7f8_o\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("vxlan0-in-1{2}:   10.0.0.1/32[udp/4789] === 10.0.0.2/32[udp]\n"),
        "{text}"
    );
    let parsed = ovs_parse(&text);
    let tokens: Vec<&str> = parsed.iter().map(|(_, t)| t.as_str()).collect();
    assert!(tokens.contains(&"gre0-2{0}"), "{parsed:?}");
    assert!(tokens.contains(&"vxlan0-in-1[1]"), "{parsed:?}");
    assert!(tokens.contains(&"vxlan0-out-1{4}"), "{parsed:?}");
    // OVS's greedy group takes the "-in"/"-out" into the interface name, as with charon.
    assert!(parsed.iter().any(|(i, t)| i == "gre0" && t == "gre0-2{0}"));
    assert!(
        parsed
            .iter()
            .any(|(i, t)| i == "vxlan0-in" && t == "vxlan0-in-1[1]")
    );
    // The shunt's name has no "-<digits>": OVS ignores it.
    assert!(!parsed.iter().any(|(_, t)| t.starts_with("prevent")));
    let only = render_status(
        &[],
        &[sa("vxlan0-in-1", 1, 2), sa("x-1", 3, 4)],
        Some("x-1"),
    );
    assert!(!only.contains("vxlan0"), "{only}");
    assert!(render_status(&[], &[], None).ends_with("(0 up, 0 connecting):\n  none\n"));
}

#[test]
fn specifiers_as_stroke() {
    let s = |t: &str| parse_spec(t);
    assert_eq!(
        s("gre0-1").unwrap(),
        Spec {
            name: "gre0-1".into(),
            child: false,
            id: None,
            all: false
        }
    );
    assert_eq!(s("gre0-1{3}").unwrap().id, Some(3));
    assert!(s("gre0-1{3}").unwrap().child);
    assert!(!s("gre0-1[3]").unwrap().child);
    assert!(s("gre0-1{*}").unwrap().all);
    // id 0 (routed entries) and junk are not specifiers.
    assert_eq!(s("gre0-1{0}"), None);
    assert_eq!(s("gre0-1{x}"), None);
    assert_eq!(s("gre0-1{3"), None);
    assert_eq!(s(""), None);
}

#[test]
fn selection_needs_name_and_id() {
    let e = |n: &str, id, child| SaEntry {
        name: n.into(),
        id,
        child,
    };
    let sas = vec![
        e("a-1", 1, false),
        e("a-1", 2, true),
        e("a-1", 3, false),
        e("b-1", 4, true),
    ];
    assert_eq!(
        select(&parse_spec("a-1").unwrap(), &sas),
        [e("a-1", 1, false)]
    );
    assert_eq!(
        select(&parse_spec("a-1[*]").unwrap(), &sas),
        [e("a-1", 1, false), e("a-1", 3, false)]
    );
    assert_eq!(
        select(&parse_spec("a-1{2}").unwrap(), &sas),
        [e("a-1", 2, true)]
    );
    // A stale listing: id 4 now belongs to b-1, so "a-1{4}" selects nothing.
    assert!(select(&parse_spec("a-1{4}").unwrap(), &sas).is_empty());
}

#[test]
fn down_nb_takes_every_ike_sa_of_the_name_and_forces() {
    let e = |name: &str, id, child| SaEntry {
        name: name.into(),
        id,
        child,
    };
    // Two IKE SAs of one connection (crossed ACQUIREs): `down-nb name` takes both.
    let sas = vec![
        e("gre0-1", 1, false),
        e("gre0-1", 2, false),
        e("vx0-1", 3, false),
    ];
    let nb = |s: &str| select(&down_spec(parse_spec(s).unwrap(), false), &sas);
    let blocking = |s: &str| select(&down_spec(parse_spec(s).unwrap(), true), &sas);
    assert_eq!(nb("gre0-1"), [e("gre0-1", 1, false), e("gre0-1", 2, false)]);
    assert_eq!(nb("gre0-1[2]"), [e("gre0-1", 2, false)]);
    assert_eq!(blocking("gre0-1"), [e("gre0-1", 1, false)], "as stroke");
    let forced = terminate_request(&sas[0], false);
    assert_eq!(forced.get_str("force"), Some("yes"));
    assert_eq!(forced.get_str("ike-id"), Some("1"));
    assert_eq!(terminate_request(&sas[0], true).get_str("force"), None);
}

#[test]
fn exit_statuses_without_a_daemon() {
    let env = Env {
        conf: PathBuf::from("/nonexistent/ipsec.conf"),
        uri: "unix:///nonexistent/iked.vici".into(),
    };
    let run = |a: &str| {
        main(
            &a.split_whitespace().map(str::to_owned).collect::<Vec<_>>(),
            &env,
        )
    };
    assert_eq!(run("update"), EXIT_NOT_RUNNING);
    assert_eq!(run("rereadsecrets"), EXIT_NOT_RUNNING);
    assert_eq!(run("status"), EXIT_STATUS_DOWN);
    assert_eq!(run("stroke down-nb gre0-1{2}"), EXIT_STROKE_UNREACHABLE);
    assert_eq!(run("frobnicate"), super::super::EXIT_USAGE);
    assert_eq!(run("stroke down-nb"), super::super::EXIT_USAGE);
}
