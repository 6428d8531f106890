//! Cross-check of the engine's message encoder against `wire`, the independent codec:
//! every datagram the engine sends in a full seed run (IKE_SA_INIT through CHILD rekey, IKE
//! rekey and delete) must decode with `wire::decode`, re-encode to the same bytes, and the
//! unencrypted ones must give the same charon summary.

mod common;

use common::*;
use iked_ike::config::Settings;
use iked_ike::{message, wire};

#[test]
fn every_engine_datagram_decodes_with_the_wire_codec() {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .unwrap();
    p.run();
    let ike = p.a.engine.ike_sas()[0].id;
    let child = p.a.engine.ike_sas()[0].children[0].id;
    let now = p.now;
    p.a.engine.rekey_child(now, child).unwrap();
    p.a.engine.rekey_ike(now, ike).unwrap();
    p.run();
    let ike = p.a.engine.ike_sas()[0].id;
    let now = p.now;
    p.a.engine.terminate_ike(now, ike).unwrap();
    p.run();
    assert!(p.sent.len() >= 16, "{}", p.sent.len());
    let mut plain = 0;
    for bytes in &p.sent {
        let decoded =
            wire::decode(bytes).unwrap_or_else(|e| panic!("wire rejects engine datagram: {e:?}"));
        assert_eq!(
            decoded.message.encode().unwrap(),
            *bytes,
            "wire re-encoding differs"
        );
        if decoded.sk.is_none() {
            plain += 1;
            let ours = message::decode(bytes, None).unwrap();
            assert_eq!(decoded.message.summary(), ours.summary());
        }
    }
    assert_eq!(plain, 2, "IKE_SA_INIT request and response");
}
