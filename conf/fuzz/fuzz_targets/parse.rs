//! Fuzz target: any bytes through the whole loader (lexer, parser,
//! reference resolution, typed validation, summary). Must never panic, and
//! every error must be located inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match iked_conf::load_bytes("fuzz.conf", data) {
        Ok(loaded) => {
            let _ = iked_conf::summary(&loaded.config);
        }
        Err(e) => {
            assert!(!e.errors.is_empty());
            let lines = data.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
            for d in &e.errors {
                assert!(d.span.line >= 1 && d.span.line <= lines && d.span.column >= 1);
            }
        }
    }
});
