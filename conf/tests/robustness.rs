//! Property tests: the parser never panics and always locates its errors,
//! on random bytes and on random mutations of the seed configuration.

use iked_conf::{Errors, load_bytes, load_str};
use proptest::prelude::*;

const SEED: &str = include_str!("../../examples/BFL.swanctl.conf");
const OVS: &str = include_str!("../../examples/ovs-style.swanctl.conf");

/// Every diagnostic points into the input: file name as given, line within
/// the text (or the line just after a trailing newline), column >= 1.
fn assert_located(e: &Errors, input: &[u8]) {
    assert!(!e.errors.is_empty());
    let lines = input.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
    for d in e.errors.iter().chain(e.warnings.iter()) {
        assert_eq!(&*d.span.file, "fuzz.conf", "{d}");
        assert!(
            d.span.line >= 1 && d.span.line <= lines,
            "{d} (input has {lines} lines)"
        );
        assert!(d.span.column >= 1, "{d}");
        assert!(
            d.to_string()
                .starts_with(&format!("fuzz.conf:{}:{}: ", d.span.line, d.span.column))
        );
    }
}

fn check(input: &[u8]) {
    match load_bytes("fuzz.conf", input) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                assert!(w.span.line >= 1 && w.span.column >= 1);
            }
            let _ = iked_conf::summary(&loaded.config);
        }
        Err(e) => assert_located(&e, input),
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, u8),
    Delete(usize),
    Replace(usize, u8),
    Truncate(usize),
    DuplicateLine(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(b"{}=#\":,.\n\t \\[]/-0x".to_vec());
    let byte = prop_oneof![interesting, any::<u8>()];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(p, b)| Mutation::Insert(p, b)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), byte).prop_map(|(p, b)| Mutation::Replace(p, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::DuplicateLine),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        let len = bytes.len();
        match *m {
            Mutation::Insert(p, b) => bytes.insert(p % (len + 1), b),
            Mutation::Delete(p) => {
                bytes.remove(p % len);
            }
            Mutation::Replace(p, b) => bytes[p % len] = b,
            Mutation::Truncate(p) => bytes.truncate(p % len),
            Mutation::DuplicateLine(p) => {
                let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
                let i = p % lines.len();
                let mut out = Vec::new();
                for (n, l) in lines.iter().enumerate() {
                    out.extend_from_slice(l);
                    out.push(b'\n');
                    if n == i {
                        out.extend_from_slice(l);
                        out.push(b'\n');
                    }
                }
                bytes = out;
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(&input);
    }

    #[test]
    fn random_settings_text_never_panics(
        input in prop::collection::vec(
            prop::sample::select(b"ab{}=#\":,. \n\t\\include0x/[]".to_vec()), 0..512)
    ) {
        check(&input);
    }

    #[test]
    fn mutated_seed_never_panics(mutations in prop::collection::vec(mutation(), 1..8)) {
        check(&apply(SEED, &mutations));
        check(&apply(OVS, &mutations));
    }

    /// A value's whitespace-separated parts are joined by one space, and a
    /// quoted value is kept byte for byte (strongSwan's settings parser).
    #[test]
    fn values_round_trip(
        words in prop::collection::vec("[A-Za-z0-9_./%-]{1,12}", 1..6),
        gaps in prop::collection::vec(" {1,3}|\t", 5),
        quoted in "[ A-Za-z0-9,;:=#{}]{0,30}",
    ) {
        let mut value = String::new();
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                value.push_str(&gaps[i - 1]);
            }
            value.push_str(w);
        }
        let text = format!(
            "authorities {{\n  a {{\n    crl_uris = {value}\n    cert_uri_base = \"{quoted}\"\n  }}\n}}\n"
        );
        let loaded = load_str("fuzz.conf", &text).unwrap();
        let a = &loaded.config.authorities[0];
        prop_assert_eq!(a.crl_uris.clone(), vec![words.join(" ")]);
        prop_assert_eq!(a.cert_uri_base.clone(), Some(quoted));
    }
}
