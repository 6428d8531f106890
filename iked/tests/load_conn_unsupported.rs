//! VICI `load-conn` refuses what iked does not implement with the same text `ikectl check`
//! gives for the file (issue 16 §8): the daemon turns the message into swanctl.conf text and
//! runs the same validation, so the located error reads `vici:load-conn:line:col: ...`.
//! Runs unprivileged on loopback (ephemeral ports, record-only kernel).

mod common;

use std::time::Duration;

use common::*;
use iked::vici::client::Client;
use iked::vici::codec::Message;

/// A PSK connection as swanctl sends it, with `edit` applied to it.
fn conn(edit: impl FnOnce(Message, Message, Message, Message) -> Message) -> Message {
    let local = Message::new().kv("auth", "psk").kv("id", "host1");
    let remote = Message::new().kv("auth", "psk").kv("id", "host2");
    let child = Message::new()
        .list("esp_proposals", ["aes128gcm16-x25519-esn"])
        .kv("mode", "transport");
    let base = Message::new()
        .list("local_addrs", ["127.0.0.1"])
        .list("remote_addrs", ["127.0.0.2"])
        .kv("version", "2");
    Message::new().section("U", edit(base, local, remote, child))
}

fn assemble(base: Message, local: Message, remote: Message, child: Message) -> Message {
    base.section("local", local)
        .section("remote", remote)
        .section("children", Message::new().section("c", child))
}

/// The same connection as swanctl.conf text, with `extra` in the section `at`.
fn text(at: &str, extra: &str) -> String {
    let pick = |here: &str| if here == at { extra } else { "" };
    format!(
        "connections {{\n U {{\n  local_addrs = 127.0.0.1\n  remote_addrs = 127.0.0.2\n  \
         version = 2\n  local {{\n   auth = psk\n   id = host1\n{}\n  }}\n  remote {{\n   \
         auth = psk\n   id = host2\n{}\n  }}\n{}\n  children {{\n   c {{\n    esp_proposals = \
         aes128gcm16-x25519-esn\n    mode = transport\n{}\n   }}\n  }}\n }}\n}}\n",
        pick("local"),
        pick("remote"),
        pick("conn"),
        pick("child")
    )
}

#[test]
fn load_conn_refuses_unsupported_settings_like_the_file() {
    let dir = scratch("load-conn-unsupported");
    let (_procs, socket) = start_lone_iked(&dir, "BFL-BFR");
    let mut client = Client::connect(&socket).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();

    type Edit = Box<dyn FnOnce(Message, Message, Message, Message) -> Message>;
    let cases: Vec<(Edit, &str, &str)> = vec![
        (
            Box::new(|b, l, r, c| assemble(b, l.kv("auth", "eap-tls"), r, c)),
            "local",
            "   auth = eap-tls",
        ),
        (
            Box::new(|b, l, r, c| {
                assemble(b, l, r, c).section("remote2", Message::new().kv("auth", "psk"))
            }),
            "conn",
            "  remote2 {\n   auth = psk\n  }",
        ),
        (
            Box::new(|b, l, r, c| assemble(b.list("vips", ["0.0.0.0"]), l, r, c)),
            "conn",
            "  vips = 0.0.0.0",
        ),
        (
            Box::new(|b, l, r, c| assemble(b, l, r, c.kv("updown", "/bin/true"))),
            "child",
            "    updown = /bin/true",
        ),
        (
            Box::new(|b, l, r, c| assemble(b, l, r, c.kv("mode", "iptfs"))),
            "child",
            "    mode = iptfs",
        ),
    ];
    for (edit, at, extra) in cases {
        // What `ikectl check` says for the file (the message after the location).
        let expected = match iked_conf::load_str("file", &text(at, extra)) {
            Ok(_) => panic!("{extra:?} loads from a file"),
            Err(e) => {
                assert_eq!(e.errors.len(), 1, "{e}");
                e.errors[0].message.clone()
            }
        };
        let reply = client.request("load-conn", conn(edit)).unwrap();
        assert_eq!(reply.get_str("success"), Some("no"), "{extra:?}: {reply:?}");
        let errmsg = reply.get_str("errmsg").unwrap_or_default();
        assert!(
            errmsg.starts_with("vici:load-conn:") && errmsg.ends_with(&format!(": {expected}")),
            "{extra:?}: {errmsg:?}, file says {expected:?}"
        );
    }
    // Nothing of it was loaded.
    let listed = String::from_utf8_lossy(&ikectl(&socket, &["list-conns"]).stdout).into_owned();
    assert!(!listed.contains("U: "), "{listed}");
    assert!(listed.contains("BFL-BFR: IKEv2"), "{listed}");
}
