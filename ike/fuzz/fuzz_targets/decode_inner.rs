//! Fuzz the decrypted-payload-chain decoder. The first byte picks the first payload type (the
//! SK payload's Next Payload field); the rest is the plaintext.
#![no_main]

use iked_ike::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, plaintext)) = data.split_first() else {
        return;
    };
    if let Ok(payloads) = wire::decode_inner(wire::PayloadType(first), plaintext) {
        let (first_again, bytes) = wire::encode_inner(&payloads).expect("decoded chain encodes");
        assert_eq!(bytes, plaintext, "re-encoding differs");
        if !payloads.is_empty() {
            assert_eq!(first_again.0, first);
        }
    }
});
