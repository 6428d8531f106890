//! Known-answer tests against strongSwan 5.9.8: the datagrams and key log in
//! `tests/captures/` (see its README; two charons running the seed's BFL/BFR configuration).
//! Our key derivation must reproduce charon's SKEYSEED and SK_* from its g^ir and nonces, our
//! codec must open charon's SK payloads with those keys, our PSK authenticator must accept
//! charon's AUTH payloads, and our responder must answer charon's IKE_SA_INIT requests as
//! charon does (byte for byte for the stateless INVALID_KE_PAYLOAD answer).

mod common;

use common::*;
use iked_ike::config::{Identity, Settings};
use iked_ike::engine::{AuthContext, Authenticator, PskAuthenticator};
use iked_ike::message::{self, Message, Payload, SkKeys};
use iked_ike::suite::{self, Secret};

fn nonce(m: &Message) -> Vec<u8> {
    m.payloads
        .iter()
        .find_map(|p| {
            if let Payload::Nonce(n) = p {
                Some(n.clone())
            } else {
                None
            }
        })
        .unwrap()
}

fn seed_psk() -> Vec<u8> {
    // secrets.ike-BF.secret = 0sv+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL (base64).
    vec![
        191, 227, 100, 197, 143, 75, 45, 155, 240, 143, 138, 130, 11, 106, 63, 128, 106, 214, 12,
        93, 157, 219, 88, 203,
    ]
}

#[test]
fn key_derivation_matches_charon() {
    let req = message::decode(&capture("seed-child/01-IKE_SA_INIT-request-0.bin"), None).unwrap();
    let resp = message::decode(&capture("seed-child/02-IKE_SA_INIT-response-0.bin"), None).unwrap();
    let (ni, nr) = (nonce(&req), nonce(&resp));
    let selected = resp
        .payloads
        .iter()
        .find_map(|p| {
            if let Payload::Sa(v) = p {
                Some(v[0].clone())
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(
        selected.describe(),
        "IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519"
    );
    let sel = selected.selected().unwrap();
    let g_ir = Secret::new(logged_key("seed-child", "g^ir"));
    let seed = suite::skeyseed(sel.prf, &ni, &nr, &g_ir).unwrap();
    assert_eq!(seed.expose(), logged_key("seed-child", "SKEYSEED"));
    let keys = suite::derive_ike_keys(&sel, &seed, &ni, &nr, resp.header.spi_i, resp.header.spi_r)
        .unwrap();
    for (ours, name) in [
        (&keys.sk_d, "Sk_d"),
        (&keys.sk_ai, "Sk_ai"),
        (&keys.sk_ar, "Sk_ar"),
        (&keys.sk_ei, "Sk_ei"),
        (&keys.sk_er, "Sk_er"),
        (&keys.sk_pi, "Sk_pi"),
        (&keys.sk_pr, "Sk_pr"),
    ] {
        assert_eq!(ours.expose(), logged_key("seed-child", name), "{name}");
    }
}

#[test]
fn charon_ike_auth_messages_decrypt_and_authenticate() {
    let init_req_bytes = capture("seed-child/01-IKE_SA_INIT-request-0.bin");
    let init_resp_bytes = capture("seed-child/02-IKE_SA_INIT-response-0.bin");
    let req = message::decode(&init_req_bytes, None).unwrap();
    let resp = message::decode(&init_resp_bytes, None).unwrap();
    let sel = iked_ike::proposal::Proposal::parse(
        iked_ike::wire::ProtocolId::IKE,
        "aes128-sha256-x25519",
    )
    .unwrap()
    .selected()
    .unwrap();
    let k = |n| Secret::new(logged_key("seed-child", n));
    let (sk_ei, sk_ai, sk_er, sk_ar, sk_pi, sk_pr) = (
        k("Sk_ei"),
        k("Sk_ai"),
        k("Sk_er"),
        k("Sk_ar"),
        k("Sk_pi"),
        k("Sk_pr"),
    );

    let auth_req = message::decode(
        &capture("seed-child/03-IKE_AUTH-request-1.bin"),
        Some(SkKeys {
            suite: &sel,
            encr: &sk_ei,
            integ: &sk_ai,
        }),
    )
    .unwrap();
    assert_eq!(
        auth_req.summary(),
        "IKE_AUTH request 1 [ IDi N(INIT_CONTACT) IDr AUTH N(USE_TRANSP) SA TSi TSr N(MULT_AUTH) N(EAP_ONLY) N(MSG_ID_SYN_SUP) ]"
    );
    let auth_resp = message::decode(
        &capture("seed-child/04-IKE_AUTH-response-1.bin"),
        Some(SkKeys {
            suite: &sel,
            encr: &sk_er,
            integ: &sk_ar,
        }),
    )
    .unwrap();
    assert_eq!(
        auth_resp.summary(),
        "IKE_AUTH response 1 [ IDr AUTH N(NO_PROP) ]"
    );
    // Wrong direction keys fail integrity.
    assert!(
        message::decode(
            &capture("seed-child/04-IKE_AUTH-response-1.bin"),
            Some(SkKeys {
                suite: &sel,
                encr: &sk_ei,
                integ: &sk_ai
            })
        )
        .is_err()
    );

    let psk = seed_psk();
    let auth_of = |m: &Message| {
        m.payloads
            .iter()
            .find_map(|p| {
                if let Payload::Auth { method, data } = p {
                    Some((*method, data.clone()))
                } else {
                    None
                }
            })
            .unwrap()
    };
    let host1 = Identity::from_text("host1");
    let host2 = Identity::from_text("host2");
    let (method, data) = auth_of(&auth_req);
    let ctx = AuthContext {
        prf: sel.prf,
        init_message: &init_req_bytes,
        peer_nonce: &nonce(&resp),
        sk_p: &sk_pi,
        id: &host1,
    };
    assert!(
        PskAuthenticator::new(&psk)
            .verify(&ctx, method, &data)
            .is_ok(),
        "charon initiator AUTH"
    );
    // Our own AUTH computation gives charon's bytes.
    assert_eq!(PskAuthenticator::new(&psk).build(&ctx).unwrap(), data);
    assert!(
        PskAuthenticator::new(b"wrong")
            .verify(&ctx, method, &data)
            .is_err()
    );
    let (method, data) = auth_of(&auth_resp);
    let ctx = AuthContext {
        prf: sel.prf,
        init_message: &init_resp_bytes,
        peer_nonce: &nonce(&req),
        sk_p: &sk_pr,
        id: &host2,
    };
    assert!(
        PskAuthenticator::new(&psk)
            .verify(&ctx, method, &data)
            .is_ok(),
        "charon responder AUTH"
    );
}

fn bfr_engine(settings: Settings) -> iked_ike::engine::Engine {
    let (r, rs) = seed_config(false);
    iked_ike::engine::Engine::new(settings, vec![r], rs, Box::new(TestRng(3)))
}

#[test]
fn our_responder_answers_charons_ike_sa_init_like_charon() {
    let mut b = bfr_engine(Settings::default());
    let req = capture("seed-child/01-IKE_SA_INIT-request-0.bin");
    b.handle_datagram(
        iked_ike::Timestamp::ZERO,
        BFR.parse().unwrap(),
        BFL.parse().unwrap(),
        &req,
    );
    let out = b.poll_transmit().expect("a response");
    let ours = message::decode(&out.bytes, None).unwrap();
    let charons =
        message::decode(&capture("seed-child/02-IKE_SA_INIT-response-0.bin"), None).unwrap();
    assert_eq!(ours.summary(), charons.summary());
    assert_eq!(out.bytes.len(), 248, "same size as charon's response");
    assert_eq!(ours.header.spi_i, charons.header.spi_i);
}

#[test]
fn invalid_ke_answer_is_byte_identical_to_charons() {
    let mut b = bfr_engine(Settings::default());
    let req = capture("invalid-ke/01-IKE_SA_INIT-request-0.bin");
    b.handle_datagram(
        iked_ike::Timestamp::ZERO,
        BFR.parse().unwrap(),
        BFL.parse().unwrap(),
        &req,
    );
    let out = b.poll_transmit().expect("a response");
    assert_eq!(
        out.bytes,
        capture("invalid-ke/02-IKE_SA_INIT-response-0.bin")
    );
    assert_eq!(b.ike_sa_count(), 0, "no state for the refused request");
    // charon's retry with x25519 is then accepted.
    let retry = capture("invalid-ke/03-IKE_SA_INIT-request-0.bin");
    b.handle_datagram(
        iked_ike::Timestamp::ZERO,
        BFR.parse().unwrap(),
        BFL.parse().unwrap(),
        &retry,
    );
    let out = b.poll_transmit().expect("a response");
    let ours = message::decode(&out.bytes, None).unwrap();
    let charons =
        message::decode(&capture("invalid-ke/04-IKE_SA_INIT-response-0.bin"), None).unwrap();
    assert_eq!(ours.summary(), charons.summary());
    assert_eq!(b.half_open_count(), 1);
}

/// charon's IKE SA rekey (libipsec-tunnel scenario, messages 09/10 protected by the first SA):
/// our SKEYSEED = prf(SK_d(old), g^ir(new) | Ni | Nr) and prf+ with the new SPIs give charon's
/// keys for the new SA.
#[test]
fn ike_rekey_derivation_matches_charon() {
    let s = "libipsec-tunnel";
    let sel = iked_ike::proposal::Proposal::parse(
        iked_ike::wire::ProtocolId::IKE,
        "aes128-sha256-x25519",
    )
    .unwrap()
    .selected()
    .unwrap();
    let k = |n| Secret::new(logged_key_of(s, 0, n));
    let (ei, ai, er, ar) = (k("Sk_ei"), k("Sk_ai"), k("Sk_er"), k("Sk_ar"));
    let req = message::decode(
        &capture(&format!("{s}/09-CREATE_CHILD_SA-request-4.bin")),
        Some(SkKeys {
            suite: &sel,
            encr: &ei,
            integ: &ai,
        }),
    )
    .unwrap();
    let resp = message::decode(
        &capture(&format!("{s}/10-CREATE_CHILD_SA-response-4.bin")),
        Some(SkKeys {
            suite: &sel,
            encr: &er,
            integ: &ar,
        }),
    )
    .unwrap();
    assert_eq!(req.summary(), "CREATE_CHILD_SA request 4 [ SA No KE ]");
    let spi_of = |m: &Message| {
        let p = m
            .payloads
            .iter()
            .find_map(|p| {
                if let Payload::Sa(v) = p {
                    Some(v[0].clone())
                } else {
                    None
                }
            })
            .unwrap();
        u64::from_be_bytes(p.spi.as_slice().try_into().unwrap())
    };
    let (ni, nr) = (nonce(&req), nonce(&resp));
    let g_ir = Secret::new(logged_key_of(s, 1, "g^ir"));
    let seed = suite::skeyseed_rekey(sel.prf, &k("Sk_d"), &g_ir, &ni, &nr).unwrap();
    assert_eq!(seed.expose(), logged_key_of(s, 1, "SKEYSEED"));
    let keys = suite::derive_ike_keys(&sel, &seed, &ni, &nr, spi_of(&req), spi_of(&resp)).unwrap();
    assert_eq!(keys.sk_d.expose(), logged_key_of(s, 1, "Sk_d"));
    assert_eq!(keys.sk_ei.expose(), logged_key_of(s, 1, "Sk_ei"));
    assert_eq!(keys.sk_pr.expose(), logged_key_of(s, 1, "Sk_pr"));
}
