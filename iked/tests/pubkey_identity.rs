//! A connection side with `pubkeys` and no `id` gets strongSwan's identity for it: ID_KEY_ID
//! of the first key, the SHA-1 of its DER SubjectPublicKeyInfo (vici's trusted-pubkey
//! certificate subject, `KEYID_PUBKEY_INFO_SHA1`), for our own ID and for the peer's. The
//! expected key IDs are computed by `openssl` here, independently of iked's code.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use iked::daemon::creds::engine_connection_with_creds;
use iked_ike::config::{Identity, id_type};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crypto/tests/data/certs")
        .join(name)
}

fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write to openssl");
    let out = child.wait_with_output().expect("openssl finishes");
    assert!(out.status.success(), "openssl {args:?} failed");
    out.stdout
}

/// The key ID `openssl` computes for a public key PEM: SHA-1 over its DER SPKI.
fn key_id(pub_pem: &Path) -> Identity {
    let der = openssl(
        &[
            "pkey",
            "-pubin",
            "-in",
            &pub_pem.to_string_lossy(),
            "-outform",
            "DER",
        ],
        b"",
    );
    let digest = openssl(&["dgst", "-sha1", "-binary"], &der);
    assert_eq!(digest.len(), 20);
    Identity {
        kind: id_type::KEY_ID,
        data: digest,
    }
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load(dir: &Path, local: &str, remote: &str) -> iked_ike::config::IkeConfig {
    let conf = format!(
        "connections {{ c {{ remote_addrs = 192.0.2.2\n local {{ auth = pubkey\n {local} }}\n remote {{ auth = pubkey\n {remote} }}\n children {{ ch {{ esp_proposals = aes128gcm16 }} }} }} }}\n"
    );
    let loaded = iked_conf::load_str("swanctl.conf", &conf).expect("config parses");
    engine_connection_with_creds(&loaded.config.connections[0], dir).expect("credentials load")
}

#[test]
fn pubkeys_without_id_name_both_sides_by_key_id() {
    if Command::new("openssl").arg("version").output().is_err() {
        return common::missing_prerequisite("openssl");
    }
    let scratch = Scratch(std::env::temp_dir().join(format!("iked-keyid-{}", std::process::id())));
    let pubdir = scratch.0.join("pubkey");
    std::fs::create_dir_all(&pubdir).unwrap();
    // BFL's public key (RSA) extracted from its private key by openssl; BFR's (P-256) as is.
    let bfl = pubdir.join("bfl.pub.pem");
    let key = fixture("bfl-rsa.key.pem");
    std::fs::write(
        &bfl,
        openssl(&["pkey", "-in", &key.to_string_lossy(), "-pubout"], b""),
    )
    .unwrap();
    let bfr = pubdir.join("bfr.pub.pem");
    std::fs::copy(fixture("bfr-p256.pub.pem"), &bfr).unwrap();
    let (want_local, want_remote) = (key_id(&bfl), key_id(&bfr));
    assert_ne!(want_local, want_remote);

    let ike = load(&scratch.0, "pubkeys = bfl.pub.pem", "pubkeys = bfr.pub.pem");
    assert_eq!(ike.local.id, Some(want_local.clone()));
    assert_eq!(ike.remote.id, Some(want_remote.clone()));

    // The first of several keys names the side.
    let ike = load(
        &scratch.0,
        "pubkeys = bfl.pub.pem",
        "pubkeys = bfr.pub.pem, bfl.pub.pem",
    );
    assert_eq!(ike.remote.id, Some(want_remote));

    // A configured id wins, and an explicit %any stays "any peer".
    let ike = load(
        &scratch.0,
        "pubkeys = bfl.pub.pem\n id = bfl.example",
        "pubkeys = bfr.pub.pem\n id = %any",
    );
    assert_eq!(ike.local.id, Some(Identity::from_text("bfl.example")));
    assert_eq!(ike.remote.id, None);
}

/// Writes `key`'s public half as a DER SubjectPublicKeyInfo file (swanctl's `pubkey/` accepts
/// DER as well as PEM).
fn public_der(key: &str, out: &Path) {
    let pem = std::fs::read(fixture(key)).unwrap();
    let private = iked_crypto::auth::PrivateKey::from_pem(&pem).unwrap();
    std::fs::write(out, private.public_key().spki_der().unwrap()).unwrap();
}

/// Copies `key` into the side's swanctl directory `dir/<sub>/` and loads it with `ikectl
/// load-creds`.
fn load_key(side_dir: &Path, socket: &Path, sub: &str, key: &str) {
    let target = side_dir.join(sub);
    std::fs::create_dir_all(&target).unwrap();
    std::fs::copy(fixture(key), target.join(key)).unwrap();
    let conf = side_dir.join("swanctl.conf");
    let out = common::ikectl(
        socket,
        &["load-creds", "--file", &conf.display().to_string()],
    );
    assert!(
        out.status.success(),
        "load-creds: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn two_ikeds_with_raw_keys_and_no_ids_authenticate() {
    let keys = common::scratch("keyid-keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (bfl_pub, bfr_pub) = (keys.join("bfl.der"), keys.join("bfr.der"));
    public_der("bfl-rsa.key.pem", &bfl_pub);
    public_der("bfr-p256.key.pem", &bfr_pub);
    // The seed's PSK rounds become raw-key rounds without any id.
    let rounds = |me: &str, peer: &str, my_key: &Path, peer_key: &Path| {
        let (me, peer) = (me.to_owned(), peer.to_owned());
        let (my_key, peer_key) = (my_key.display().to_string(), peer_key.display().to_string());
        move |conf: String| {
            conf.replace(
                &format!("      auth = psk\n      id = {me}\n"),
                &format!("      auth = pubkey\n      pubkeys = {my_key}\n"),
            )
            .replace(
                &format!("      auth = psk\n      id = {peer}\n"),
                &format!("      auth = pubkey\n      pubkeys = {peer_key}\n"),
            )
        }
    };
    let bfl_edit = rounds("host1", "host2", &bfl_pub, &bfr_pub);
    let bfr_edit = rounds("host2", "host1", &bfr_pub, &bfl_pub);
    let p = common::loopback_pair(
        "keyid-pair",
        common::Side {
            edit: Some(&bfl_edit),
            ..common::Side::default()
        },
        common::Side {
            edit: Some(&bfr_edit),
            ..common::Side::default()
        },
    );
    load_key(&p.dir.join("bfl"), &p.bfl, "rsa", "bfl-rsa.key.pem");
    load_key(&p.dir.join("bfr"), &p.bfr, "ecdsa", "bfr-p256.key.pem");
    let out = common::ikectl(
        &p.bfl,
        &["initiate", "--child", "bf-out", "--timeout", "10"],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        common::pair_logs(&p.dir)
    );
    for socket in [&p.bfl, &p.bfr] {
        let sas = common::list_sas(socket);
        assert!(sas.contains("ESTABLISHED"), "{sas}");
    }
    // Each authenticated the other under the peer key's ID (the SPKI's SHA-1), printed as
    // charon prints one: hex octets separated by colons.
    let logs = common::pair_logs(&p.dir);
    for der in [&bfl_pub, &bfr_pub] {
        let raw = iked_crypto::x509::RawPublicKey::from_der(&std::fs::read(der).unwrap()).unwrap();
        let hex: Vec<String> = raw
            .key()
            .spki_sha1()
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let hex = hex.join(":");
        assert!(
            logs.contains(&format!("authentication of '{hex}'")),
            "no authentication of {hex}:\n{logs}"
        );
    }
    let _ = std::fs::remove_dir_all(&keys);
}
