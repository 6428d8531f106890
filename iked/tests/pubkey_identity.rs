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
