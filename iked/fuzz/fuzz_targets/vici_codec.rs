//! Fuzz the VICI codec as the server meets it: a 4-byte transport header then a segment body.
//! Asserts no panic, that an accepted segment length is within `MAX_SEGMENT`, and that every
//! packet the decoder accepts encodes again and decodes to the same packet.
#![no_main]

// The daemon's own source file, compiled here (see Cargo.toml).
#[path = "../../src/vici/codec.rs"]
#[allow(dead_code)]
mod codec;

use codec::MAX_SEGMENT;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(header) = data.get(..4) {
        let header: [u8; 4] = header.try_into().expect("four bytes");
        if let Ok(len) = codec::segment_len(header) {
            assert!(len <= MAX_SEGMENT);
        }
    }
    let body = data.get(4..).unwrap_or_default();
    if let Ok(packet) = codec::decode_packet(body) {
        let bytes = codec::encode_packet(&packet).expect("a decoded packet encodes");
        let again = codec::decode_packet(&bytes[4..]).expect("an encoded packet decodes");
        assert_eq!(again, packet, "round trip changed the packet");
    }
    // The message layer on its own (command bodies after the name).
    if let Ok(message) = codec::Message::decode(data) {
        let mut out = Vec::new();
        message.encode(&mut out).expect("a decoded message encodes");
        assert_eq!(codec::Message::decode(&out), Ok(message));
    }
});
