//! Fuzz the outer message decoder: it must never panic, and whatever it accepts must re-encode
//! to the identical bytes and summarise without panicking.
#![no_main]

use iked_ike::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wire::Header::decode(data);
    if let Ok(decoded) = wire::decode(data) {
        let bytes = decoded.message.encode().expect("a decoded message encodes");
        assert_eq!(bytes, data, "re-encoding differs");
        if let Some(sk) = &decoded.sk {
            assert!(sk.body.end == data.len() && sk.aad().end <= sk.body.start);
        }
        let _ = decoded.message.summary();
    }
});
