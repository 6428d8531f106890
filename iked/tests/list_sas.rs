//! What `list-sas` says (issue 14 §6), as charon says it: the identities that were
//! authenticated, no entry for a CHILD_SA the peer refused, the key exchange method of a child
//! created or rekeyed with one (`ESP:AES_GCM_16-128/CURVE_25519/ESN`), and after a rekey the
//! kernel's reqid, which the new child inherits, next to its new unique id. Two record-only
//! `iked`s on loopback (127.0.0.1 <-> 127.0.0.2, unprivileged ports).

mod common;

use std::time::Duration;

use common::*;

fn initiate_ok(p: &LoopbackPair, child: &str) {
    bfl_ikectl_ok(p, &["initiate", "--child", child, "--timeout", "30"]);
}

fn json_sas(socket: &std::path::Path) -> String {
    String::from_utf8_lossy(&ikectl(socket, &["--json", "list-sas"]).stdout).into_owned()
}

/// The responder accepts any peer identity (`remote.id = %any`, as a server for many
/// clients): it lists the identity the peer authenticated with, not `%any` or an address.
#[test]
fn identities_are_the_authenticated_ones() {
    let any_peer = |c: String| c.replace("      id = host1\n", "      id = %any\n");
    let conf = seed_conf("BFR-BFL", "127.0.0.2", "127.0.0.1", "host2", "host1");
    assert!(any_peer(conf).contains("id = %any"), "the edit must apply");
    let bfr = Side {
        edit: Some(&any_peer),
        ..Side::default()
    };
    let p = loopback_pair("list-ids", Side::default(), bfr);
    initiate_ok(&p, "bf-out");
    let json = json_sas(&p.bfr);
    assert!(
        json.contains("\"local-id\":\"host2\"") && json.contains("\"remote-id\":\"host1\""),
        "{json}\n{}",
        pair_logs(&p.dir)
    );
    let text = list_sas(&p.bfr);
    assert!(text.contains("  remote 'host1' @ 127.0.0.1["), "{text}");
    assert!(text.contains("  local  'host2' @ 127.0.0.2["), "{text}");
    // The initiator names its peer in its config; the same identities, mirrored.
    let json = json_sas(&p.bfl);
    assert!(
        json.contains("\"local-id\":\"host1\"") && json.contains("\"remote-id\":\"host2\""),
        "{json}"
    );
}

/// A CHILD_SA the peer refused (BFR only takes AES-256-GCM) is not listed at all while the
/// IKE SA lives on; the refusal went to the command that asked for it.
#[test]
fn a_refused_child_is_not_listed() {
    let aes256_only = |c: String| c.replace("aes128gcm128-x25519-esn", "aes256gcm128-x25519-esn");
    let bfr = Side {
        edit: Some(&aes256_only),
        ..Side::default()
    };
    let p = loopback_pair("list-refused", Side::default(), bfr);
    let out = ikectl(
        &p.bfl,
        &["initiate", "--child", "bf-out", "--timeout", "30"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("establishing CHILD_SA 'bf-out' failed: peer sent error notify NO_PROP"),
        "{stderr}"
    );
    for socket in [&p.bfl, &p.bfr] {
        let sas = list_sas(socket);
        assert!(sas.contains(": #1, ESTABLISHED"), "{sas}");
        assert!(!sas.contains("bf-out"), "{sas}");
        assert!(!sas.contains("FAILED"), "{sas}");
        let json = json_sas(socket);
        assert!(json.contains("\"child-sas\":{}"), "{json}");
    }
}

/// The seed's child comes up in IKE_AUTH without a key exchange; rekeyed, it performs X25519,
/// and the listing shows the group and the reqid of the kernel state, which stays that of the
/// first generation while the unique id moves on.
#[test]
fn rekeyed_child_shows_its_group_and_the_kernels_reqid() {
    let p = loopback_pair("list-rekey", Side::default(), Side::default());
    initiate_ok(&p, "bf-out");
    let line = |socket: &std::path::Path| {
        list_sas(socket)
            .lines()
            .find(|l| l.starts_with("  bf-out: #"))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let first = line(&p.bfl);
    assert_eq!(
        first,
        "  bf-out: #1, reqid 1, INSTALLED, TRANSPORT, ESP:AES_GCM_16-128/ESN",
        "{}",
        list_sas(&p.bfl)
    );
    bfl_ikectl_ok(&p, &["rekey", "--child", "bf-out"]);
    // The rekey completes asynchronously; BFL deletes the old child once the new one is in.
    let rekeyed = "  bf-out: #2, reqid 1, INSTALLED, TRANSPORT, ESP:AES_GCM_16-128/CURVE_25519/ESN";
    assert!(
        eventually(Duration::from_secs(10), || line(&p.bfl) == rekeyed
            && list_sas(&p.bfl).matches("  bf-out: #").count() == 1),
        "{}\n{}",
        list_sas(&p.bfl),
        pair_logs(&p.dir)
    );
    // The responder's listing: the same proposal, its own reqid kept across the rekey.
    assert!(
        eventually(Duration::from_secs(10), || {
            let l = line(&p.bfr);
            l.contains(", reqid 1, INSTALLED, TRANSPORT, ESP:AES_GCM_16-128/CURVE_25519/ESN")
                && !l.starts_with("  bf-out: #1,")
        }),
        "{}",
        list_sas(&p.bfr)
    );
    let json = json_sas(&p.bfl);
    assert!(json.contains("\"dh-group\":\"CURVE_25519\""), "{json}");
    assert!(json.contains("\"reqid\":\"1\""), "{json}");
    assert!(json.contains("\"uniqueid\":\"2\""), "{json}");
}
