//! Raw public keys (`pubkeys`) without `id`: each side names itself, and expects the peer, by
//! the key's ID_KEY_ID (SHA-1 of the DER SubjectPublicKeyInfo), as charon does for such a
//! configuration; authentication then succeeds between two sides set up that way, and fails
//! when the key ID a side expects is another key's. Keys: `crypto/tests/data/certs`.

mod common;

use std::sync::Arc;

use common::*;
use iked_crypto::auth::PrivateKey;
use iked_crypto::x509::RawPublicKey;
use iked_ike::config::{
    AuthMethod, Identity, IkeConfig, PubkeyAuth, PubkeyConstraint, SendCert, Settings, id_type,
};
use iked_ike::creds::{CredentialSet, identity_from_pubkeys};
use iked_ike::engine::{Engine, Event};

fn private(name: &str) -> Arc<PrivateKey> {
    let path = format!(
        "{}/../crypto/tests/data/certs/{name}.key.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    let pem = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Arc::new(PrivateKey::from_pem(&pem).unwrap())
}

fn raw(key: &PrivateKey) -> RawPublicKey {
    RawPublicKey::from_der(&key.public_key().spki_der().unwrap()).unwrap()
}

fn pubkey_auth(keys: Vec<RawPublicKey>) -> PubkeyAuth {
    let mut auth = PubkeyAuth::new(PubkeyConstraint::from_spec("pubkey").unwrap());
    auth.pubkeys = keys;
    auth.send_cert = SendCert::Never;
    auth
}

/// `local.pubkeys = ours`, `remote.pubkeys = peer's`, no `id` on either side. The remote
/// identity is derived as the daemon does when loading the connection; the local one is left
/// to the engine.
fn configure(conn: &mut IkeConfig, ours: &PrivateKey, peer: &PrivateKey, expect: Option<Identity>) {
    let remote = pubkey_auth(vec![raw(peer)]);
    conn.remote.id = expect.or_else(|| identity_from_pubkeys(&remote).unwrap());
    conn.remote.method = AuthMethod::Pubkey(Box::new(remote));
    conn.local.method = AuthMethod::Pubkey(Box::new(pubkey_auth(vec![raw(ours)])));
    conn.local.id = None;
}

fn run(b_expects: Option<Identity>) -> (Pair, Identity, Identity) {
    let (ka, kb) = (private("bfl-rsa"), private("bfr-p256"));
    let (mut l, _) = seed_config(true);
    let (mut r, _) = seed_config(false);
    configure(&mut l, &ka, &kb, None);
    configure(&mut r, &kb, &ka, b_expects);
    let id_a = identity_from_pubkeys(&pubkey_auth(vec![raw(&ka)]))
        .unwrap()
        .unwrap();
    let id_b = identity_from_pubkeys(&pubkey_auth(vec![raw(&kb)]))
        .unwrap()
        .unwrap();
    let mut ea = Engine::new(Settings::default(), vec![l], vec![], Box::new(TestRng(1)));
    let mut eb = Engine::new(Settings::default(), vec![r], vec![], Box::new(TestRng(2)));
    for (e, k) in [(&mut ea, ka), (&mut eb, kb)] {
        e.set_credentials(Arc::new(CredentialSet {
            keys: vec![k],
            ..CredentialSet::default()
        }));
        e.set_wall_clock(1_798_761_600);
    }
    let mut p = Pair::new(ea, BFL.parse().unwrap(), eb, BFR.parse().unwrap());
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    (p, id_a, id_b)
}

#[test]
fn key_id_is_sha1_of_the_subject_public_key_info() {
    let key = private("bfr-p256");
    let id = identity_from_pubkeys(&pubkey_auth(vec![raw(&key)]))
        .unwrap()
        .unwrap();
    assert_eq!(id.kind, id_type::KEY_ID);
    assert_eq!(id.data, key.public_key().spki_sha1().unwrap().to_vec());
    // The first key names the side, as charon takes the first trusted-pubkey certificate.
    let other = private("p384");
    let two = identity_from_pubkeys(&pubkey_auth(vec![raw(&key), raw(&other)])).unwrap();
    assert_eq!(two, Some(id));
    assert_eq!(identity_from_pubkeys(&pubkey_auth(vec![])).unwrap(), None);
}

#[test]
fn key_ids_print_as_charon_prints_them() {
    // A SHA-1 sized key ID is always hex, octets separated by colons (charon's `%#B`) ...
    let digest = Identity {
        kind: id_type::KEY_ID,
        data: (0u8..20).collect(),
    };
    assert_eq!(
        digest.to_string(),
        "00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11:12:13"
    );
    // ... even when its octets happen to be printable.
    let text20 = Identity {
        kind: id_type::KEY_ID,
        data: b"abcdefghijklmnopqrst".to_vec(),
    };
    assert!(text20.to_string().starts_with("61:62:63"));
    // Another printable key ID is shown as text, a binary one as hex.
    let text = Identity {
        kind: id_type::KEY_ID,
        data: b"my key".to_vec(),
    };
    assert_eq!(text.to_string(), "my key");
    let binary = Identity {
        kind: id_type::KEY_ID,
        data: vec![0xde, 0xad, 0x00],
    };
    assert_eq!(binary.to_string(), "de:ad:00");
}

#[test]
fn both_sides_with_raw_keys_and_no_id_authenticate_by_key_id() {
    let (p, id_a, id_b) = run(None);
    for (name, ep) in [("A", &p.a), ("B", &p.b)] {
        assert!(
            ep.events.iter().any(|e| matches!(e, Event::IkeUp { .. })),
            "{name} not up: {:#?}",
            ep.logs()
        );
    }
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    // Each side authenticated the other under its key ID, not its address.
    let a_auth = format!("authentication of '{id_a}'");
    let b_auth = format!("authentication of '{id_b}'");
    assert!(p.b.has_log(&a_auth), "{:#?}", p.b.logs());
    assert!(p.a.has_log(&b_auth), "{:#?}", p.a.logs());
    assert!(!p.b.has_log("authentication of '192.168.50.1'"));
}

#[test]
fn another_keys_id_is_refused() {
    let wrong = identity_from_pubkeys(&pubkey_auth(vec![raw(&private("p384"))])).unwrap();
    let (p, id_a, _) = run(wrong);
    // B finds no connection for A's key ID (its only one expects the other key's).
    assert!(
        p.b.has_log(&format!("no matching peer config for '{id_a}'")),
        "{:#?}",
        p.b.logs()
    );
    assert!(
        !p.b.events.iter().any(|e| matches!(e, Event::IkeUp { .. })),
        "B accepted a peer whose key ID it does not expect: {:#?}",
        p.b.logs()
    );
    assert_eq!(p.a.engine.ike_sa_count() + p.b.engine.ike_sa_count(), 0);
    assert_eq!(p.b.kernel.leftovers(), Vec::<String>::new());
}
