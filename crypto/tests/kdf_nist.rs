//! IKEv2 KDF known-answer tests against published NIST SP 800-135 vectors.
//!
//! Contract: every expected value comes from `tests/data/ikev2_kdf_nist.txt`,
//! which records, per vector, the exact source file (repository, path, commit)
//! and test case it was transcribed from:
//! - NIST's ACVP-Server unit test `IKEv2Tests.cs`, case "IKEv2 SHA2-256": all
//!   five SP 800-135 outputs (SKEYSEED, DKM, child DKM without and with PFS,
//!   rekey SKEYSEED) with 256-byte nonces and 384-byte DKMs;
//! - NSS's `ike-sha{256,384,512}-vectors.h`, which carry the NIST CAVS IKEv2 KDF
//!   sample's SKEYSEED, 132-byte DKM and rekey SKEYSEED for SHA-256/384/512.
//!
//! The tests drive the public API the daemon uses: [`skeyseed`], [`prf_plus`],
//! [`skeyseed_rekey`], and the key splits [`IkeKeys::derive`] and
//! [`ChildKeys::derive`] (which must be contiguous slices of the NIST DKMs in
//! RFC 7296 2.14 / 2.17 order). `tests/data/ikev2_kdf_nist_check.py` re-derives
//! the file with Python's `hmac`, as a check of the transcription only.

use std::collections::BTreeMap;

use iked_crypto::SecretBytes;
use iked_crypto::kdf::{ChildKeys, IkeKeys, prf_plus, skeyseed, skeyseed_rekey};
use iked_crypto::registry::{Protocol, parse_proposal};
use iked_crypto::transforms::{EspAlgorithms, IkeSuite, PrfAlg};

/// The vector file, embedded so the test does not depend on the working directory.
const VECTOR_FILE: &str = include_str!("data/ikev2_kdf_nist.txt");

/// Titles of the records in `VECTOR_FILE`, one per source test case.
const ACVP_SHA256: &str = "ACVP-Server IKEv2 SHA2-256";
const NSS_SHA256: &str = "NSS NIST sample SHA-256";
const NSS_SHA384: &str = "NSS NIST sample SHA-384";
const NSS_SHA512: &str = "NSS NIST sample SHA-512";

/// Fields that hold prose (provenance) rather than hex.
const TEXT_FIELDS: [&str; 4] = ["source", "case", "note", "PRF"];

/// Inputs every record must have (CAVS field names).
const INPUT_FIELDS: [&str; 6] = ["Ni", "Nr", "g^ir", "g^ir (new)", "SPIi", "SPIr"];

/// One `[title]` section of the vector file.
struct Record {
    title: String,
    text: BTreeMap<String, String>,
    hex: BTreeMap<String, Vec<u8>>,
}

impl Record {
    /// Hex field `name`; a missing field is a broken vector file, so it fails the
    /// test with the record's name.
    fn bytes(&self, name: &str) -> &[u8] {
        self.hex
            .get(name)
            .unwrap_or_else(|| panic!("[{}] has no field {name:?}", self.title))
    }

    fn secret(&self, name: &str) -> SecretBytes {
        SecretBytes::from_slice(self.bytes(name))
    }

    /// "source; case" for assertion messages, so a failure names the vector.
    fn origin(&self) -> String {
        format!(
            "[{}] {}; {}",
            self.title, self.text["source"], self.text["case"]
        )
    }

    fn prf(&self) -> PrfAlg {
        match self.text["PRF"].as_str() {
            "HMAC-SHA2-256" => PrfAlg::HmacSha256,
            "HMAC-SHA2-384" => PrfAlg::HmacSha384,
            "HMAC-SHA2-512" => PrfAlg::HmacSha512,
            other => panic!("[{}] unknown PRF {other:?}", self.title),
        }
    }

    /// `Ni | Nr`, the nonce part of every seed.
    fn nonces(&self) -> Vec<u8> {
        [self.bytes("Ni"), self.bytes("Nr")].concat()
    }

    /// SK_d as the NIST vectors define it: the first PRF-output-length bytes of DKM.
    fn sk_d(&self) -> SecretBytes {
        SecretBytes::from_slice(&self.bytes("DKM")[..self.prf().output_len()])
    }

    fn spi(&self, name: &str) -> [u8; 8] {
        self.bytes(name)
            .try_into()
            .unwrap_or_else(|_| panic!("[{}] {name} is not 8 bytes", self.title))
    }
}

/// Parses the CAVS-like `key = value` format; panics (failing the test) with the
/// line number on anything malformed, since the file is fixed test data.
fn records() -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    for (index, raw) in VECTOR_FILE.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(title) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push(Record {
                title: title.to_owned(),
                text: BTreeMap::new(),
                hex: BTreeMap::new(),
            });
            continue;
        }
        let (key, value) = line
            .split_once(" = ")
            .unwrap_or_else(|| panic!("line {}: expected `key = value`", index + 1));
        let record = out
            .last_mut()
            .unwrap_or_else(|| panic!("line {}: field before any [record]", index + 1));
        if TEXT_FIELDS.contains(&key) {
            record.text.insert(key.to_owned(), value.to_owned());
        } else {
            let bytes = hex::decode(value)
                .unwrap_or_else(|e| panic!("line {}: {key} is not hex: {e}", index + 1));
            record.hex.insert(key.to_owned(), bytes);
        }
    }
    out
}

fn record(title: &str) -> Record {
    records()
        .into_iter()
        .find(|r| r.title == title)
        .unwrap_or_else(|| panic!("no [{title}] record in tests/data/ikev2_kdf_nist.txt"))
}

/// SKEYSEED, DKM (prf+ over Ni | Nr | SPIi | SPIr) and the rekey SKEYSEED, which
/// every record carries.
fn check_skeyseed_dkm_and_rekey(rec: &Record) {
    let prf = rec.prf();
    let origin = rec.origin();

    let seed = skeyseed(prf, rec.bytes("Ni"), rec.bytes("Nr"), &rec.secret("g^ir"));
    assert_eq!(
        hex::encode(seed.expose()),
        hex::encode(rec.bytes("SKEYSEED")),
        "SKEYSEED, {origin}"
    );

    let dkm_seed = [
        rec.bytes("Ni"),
        rec.bytes("Nr"),
        rec.bytes("SPIi"),
        rec.bytes("SPIr"),
    ]
    .concat();
    let expected_dkm = rec.bytes("DKM");
    let dkm = prf_plus(prf, seed.expose(), &dkm_seed, expected_dkm.len()).unwrap();
    assert_eq!(
        hex::encode(dkm.expose()),
        hex::encode(expected_dkm),
        "DKM ({} bytes), {origin}",
        expected_dkm.len()
    );

    let rekey = skeyseed_rekey(
        prf,
        &rec.sk_d(),
        &rec.secret("g^ir (new)"),
        rec.bytes("Ni"),
        rec.bytes("Nr"),
    );
    assert_eq!(
        hex::encode(rekey.expose()),
        hex::encode(rec.bytes("SKEYSEED(Rekey)")),
        "SKEYSEED(Rekey), {origin}"
    );
}

/// NSS ids 9 and 10 of each hash are the PRF-output-length and 15-byte prefixes of
/// id 8's DKM; prf+ must produce them when asked for exactly that many bytes (one
/// block, and less than one block).
fn check_nss_short_dkm(rec: &Record) {
    let prf = rec.prf();
    let dkm_seed = [
        rec.bytes("Ni"),
        rec.bytes("Nr"),
        rec.bytes("SPIi"),
        rec.bytes("SPIr"),
    ]
    .concat();
    for len in [prf.output_len(), 15] {
        let short = prf_plus(prf, rec.bytes("SKEYSEED"), &dkm_seed, len).unwrap();
        assert_eq!(
            hex::encode(short.expose()),
            hex::encode(&rec.bytes("DKM")[..len]),
            "DKM truncated to {len} bytes, {}",
            rec.origin()
        );
    }
}

/// SP 800-135 "IKEv2 SHA2-256" from NIST's ACVP-Server: all five outputs,
/// including both CHILD_SA DKMs (prf+ under SK_d over Ni | Nr and over
/// g^ir (new) | Ni | Nr), with 256-byte nonces (HMAC keys longer than the
/// SHA-256 block) and a 28-byte g^ir.
#[test]
fn acvp_server_ikev2_sha2_256_all_outputs() {
    let rec = record(ACVP_SHA256);
    check_skeyseed_dkm_and_rekey(&rec);

    let prf = rec.prf();
    let sk_d = rec.sk_d();
    let expected_child = rec.bytes("DKM(Child SA)");
    let child = prf_plus(prf, sk_d.expose(), &rec.nonces(), expected_child.len()).unwrap();
    assert_eq!(
        hex::encode(child.expose()),
        hex::encode(expected_child),
        "DKM(Child SA), {}",
        rec.origin()
    );

    let expected_child_dh = rec.bytes("DKM(Child SA D-H)");
    let pfs_seed = [rec.bytes("g^ir (new)"), &rec.nonces()].concat();
    let child_dh = prf_plus(prf, sk_d.expose(), &pfs_seed, expected_child_dh.len()).unwrap();
    assert_eq!(
        hex::encode(child_dh.expose()),
        hex::encode(expected_child_dh),
        "DKM(Child SA D-H), {}",
        rec.origin()
    );
}

/// NIST CAVS IKEv2 KDF sample, SHA-256 (NSS `kIkeSha256ProofVectors` ids 6-10).
#[test]
fn nist_cavs_sample_sha256_via_nss() {
    let rec = record(NSS_SHA256);
    check_skeyseed_dkm_and_rekey(&rec);
    check_nss_short_dkm(&rec);
}

/// NIST CAVS IKEv2 KDF sample, SHA-384 (NSS `kIkeSha384ProofVectors` ids 6-10).
#[test]
fn nist_cavs_sample_sha384_via_nss() {
    let rec = record(NSS_SHA384);
    check_skeyseed_dkm_and_rekey(&rec);
    check_nss_short_dkm(&rec);
}

/// NIST CAVS IKEv2 KDF sample, SHA-512 (NSS `kIkeSha512ProofVectors` ids 6-10).
#[test]
fn nist_cavs_sample_sha512_via_nss() {
    let rec = record(NSS_SHA512);
    check_skeyseed_dkm_and_rekey(&rec);
    check_nss_short_dkm(&rec);
}

/// IKE proposals (strongSwan syntax) whose PRF matches `prf`: one classic suite
/// with integrity keys and one AEAD suite without, so both layouts of 2.14 are
/// checked.
fn ike_proposals_for(prf: PrfAlg) -> [&'static str; 2] {
    match prf {
        PrfAlg::HmacSha256 => [
            "aes128-sha256-prfsha256-ecp256",
            "aes256gcm16-prfsha256-ecp256",
        ],
        PrfAlg::HmacSha384 => [
            "aes256-sha384-prfsha384-ecp384",
            "aes256gcm16-prfsha384-ecp384",
        ],
        PrfAlg::HmacSha512 => [
            "aes256-sha512-prfsha512-ecp521",
            "chacha20poly1305-prfsha512-curve25519",
        ],
        PrfAlg::HmacSha1 => unreachable!("no SHA-1 record in the NIST file"),
    }
}

/// `IkeKeys::derive` must cut SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr
/// out of the NIST DKM in that order (RFC 7296 2.14). Where a suite needs more
/// than the published DKM (the NSS records give 132 bytes), the overlapping
/// prefix is compared, and it always covers SK_d plus at least one more key.
#[test]
fn ike_key_split_is_the_nist_dkm_in_rfc7296_order() {
    for rec in records() {
        let prf = rec.prf();
        for text in ike_proposals_for(prf) {
            let proposal = &parse_proposal(text, Protocol::Ike).unwrap()[0];
            let suite = IkeSuite::from_proposal(proposal).unwrap();
            assert_eq!(suite.prf, prf, "{text}");
            let keys = IkeKeys::derive(
                &suite,
                &rec.secret("SKEYSEED"),
                rec.bytes("Ni"),
                rec.bytes("Nr"),
                &rec.spi("SPIi"),
                &rec.spi("SPIr"),
            )
            .unwrap();
            let joined = [
                &keys.sk_d,
                &keys.sk_ai,
                &keys.sk_ar,
                &keys.sk_ei,
                &keys.sk_er,
                &keys.sk_pi,
                &keys.sk_pr,
            ]
            .map(SecretBytes::expose)
            .concat();
            assert_eq!(joined.len(), IkeKeys::total_len(&suite), "{text}");
            let dkm = rec.bytes("DKM");
            let overlap = joined.len().min(dkm.len());
            assert!(
                overlap > prf.output_len(),
                "{text}: DKM too short to test the split"
            );
            assert_eq!(
                hex::encode(&joined[..overlap]),
                hex::encode(&dkm[..overlap]),
                "{text} key split, {}",
                rec.origin()
            );
        }
    }
}

/// `ChildKeys::derive` must take the ESP keys from the NIST child DKM in RFC 7296
/// 2.17 order (i->r encryption, i->r integrity, r->i encryption, r->i integrity),
/// with the PFS seed g^ir (new) | Ni | Nr when a new shared secret is given.
#[test]
fn child_keys_are_the_nist_child_dkm_with_and_without_pfs() {
    let rec = record(ACVP_SHA256);
    let prf = rec.prf();
    let sk_d = rec.sk_d();
    let g_ir_new = rec.secret("g^ir (new)");
    for text in [
        "aes256-sha256",
        "aes128-sha512",
        "aes256gcm16",
        "chacha20poly1305",
    ] {
        let esp =
            EspAlgorithms::from_proposal(&parse_proposal(text, Protocol::Esp).unwrap()[0]).unwrap();
        for (pfs, field) in [
            (None, "DKM(Child SA)"),
            (Some(&g_ir_new), "DKM(Child SA D-H)"),
        ] {
            let keys =
                ChildKeys::derive(prf, &sk_d, pfs, rec.bytes("Ni"), rec.bytes("Nr"), &esp).unwrap();
            let joined = [
                &keys.initiator_to_responder.encr,
                &keys.initiator_to_responder.integ,
                &keys.responder_to_initiator.encr,
                &keys.responder_to_initiator.integ,
            ]
            .map(SecretBytes::expose)
            .concat();
            let (encr_len, integ_len) = esp.keymat_lens();
            assert_eq!(joined.len(), 2 * (encr_len + integ_len), "{text}");
            assert_eq!(
                hex::encode(&joined),
                hex::encode(&rec.bytes(field)[..joined.len()]),
                "{text} {field}, {}",
                rec.origin()
            );
        }
    }
}

/// The daemon's own chain: g^ir -> SKEYSEED -> IkeKeys (its SK_d) -> rekey
/// SKEYSEED and first CHILD_SA keys, with nothing taken from the expected values
/// except the final comparison.
#[test]
fn derivation_chain_from_g_ir_reaches_nist_rekey_and_child_outputs() {
    for rec in records() {
        let prf = rec.prf();
        let suite = IkeSuite::from_proposal(
            &parse_proposal(ike_proposals_for(prf)[0], Protocol::Ike).unwrap()[0],
        )
        .unwrap();
        let seed = skeyseed(prf, rec.bytes("Ni"), rec.bytes("Nr"), &rec.secret("g^ir"));
        let keys = IkeKeys::derive(
            &suite,
            &seed,
            rec.bytes("Ni"),
            rec.bytes("Nr"),
            &rec.spi("SPIi"),
            &rec.spi("SPIr"),
        )
        .unwrap();
        let rekey = skeyseed_rekey(
            prf,
            &keys.sk_d,
            &rec.secret("g^ir (new)"),
            rec.bytes("Ni"),
            rec.bytes("Nr"),
        );
        assert_eq!(
            hex::encode(rekey.expose()),
            hex::encode(rec.bytes("SKEYSEED(Rekey)")),
            "SKEYSEED(Rekey) via IkeKeys::derive, {}",
            rec.origin()
        );
        if let Some(expected) = rec.hex.get("DKM(Child SA)") {
            let esp = EspAlgorithms::from_proposal(
                &parse_proposal("aes256-sha256", Protocol::Esp).unwrap()[0],
            )
            .unwrap();
            let child = ChildKeys::derive(
                prf,
                &keys.sk_d,
                None,
                rec.bytes("Ni"),
                rec.bytes("Nr"),
                &esp,
            )
            .unwrap();
            assert_eq!(
                hex::encode(child.initiator_to_responder.encr.expose()),
                hex::encode(&expected[..32]),
                "first CHILD_SA i->r key via IkeKeys::derive, {}",
                rec.origin()
            );
        }
    }
}

/// The vectors are sensitive to the role ordering the API documents (initiator
/// first, and g^ir (new) before the nonces): swapping either gives a different
/// result, so a caller or implementation that orders by "us/peer" would fail the
/// tests above rather than pass by symmetry.
#[test]
fn vectors_distinguish_initiator_first_ordering() {
    for rec in records() {
        let prf = rec.prf();
        let swapped = skeyseed(prf, rec.bytes("Nr"), rec.bytes("Ni"), &rec.secret("g^ir"));
        assert_ne!(swapped.expose(), rec.bytes("SKEYSEED"), "{}", rec.title);
        // Nonces before the new shared secret: the order RFC 7296 2.18 does not use.
        let misordered = prf.compute(
            rec.sk_d().expose(),
            &[rec.bytes("Ni"), rec.bytes("Nr"), rec.bytes("g^ir (new)")],
        );
        assert_ne!(
            misordered.expose(),
            rec.bytes("SKEYSEED(Rekey)"),
            "{}",
            rec.title
        );
    }
}

/// Guards the data file itself: the four records exist, carry their provenance
/// and every input, and output lengths agree with the PRF (so a truncated or
/// mis-pasted file fails here with a clear message).
#[test]
fn vector_file_is_complete() {
    let all = records();
    let titles: Vec<&str> = all.iter().map(|r| r.title.as_str()).collect();
    assert_eq!(titles, [ACVP_SHA256, NSS_SHA256, NSS_SHA384, NSS_SHA512]);
    for rec in &all {
        for field in ["source", "case", "PRF"] {
            assert!(rec.text.contains_key(field), "[{}] {field}", rec.title);
        }
        for field in INPUT_FIELDS {
            assert!(!rec.bytes(field).is_empty(), "[{}] {field}", rec.title);
        }
        let prf_len = rec.prf().output_len();
        assert_eq!(rec.bytes("SKEYSEED").len(), prf_len, "[{}]", rec.title);
        assert_eq!(
            rec.bytes("SKEYSEED(Rekey)").len(),
            prf_len,
            "[{}]",
            rec.title
        );
        assert_eq!(rec.bytes("SPIi").len(), 8, "[{}]", rec.title);
        assert_eq!(rec.bytes("SPIr").len(), 8, "[{}]", rec.title);
        assert!(rec.bytes("DKM").len() >= 132, "[{}]", rec.title);
    }
    let acvp = record(ACVP_SHA256);
    assert_eq!(acvp.bytes("DKM").len(), 384);
    assert_eq!(acvp.bytes("DKM(Child SA)").len(), 384);
    assert_eq!(acvp.bytes("DKM(Child SA D-H)").len(), 384);
}
