//! Known-answer tests from published sources for key exchange and KDF. Each test
//! names its source. (HMAC RFC 4231/4868, AES-CBC RFC 3602, GCM, ChaCha20-Poly1305
//! RFC 8439 and the CAVS-format IKEv2 KDF sample live beside the code in
//! `src/transforms.rs`, `src/sk.rs` and `src/kdf.rs`.)

use iked_crypto::ke::{KeGroup, KeyExchange};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// RFC 7748 6.1: X25519 Diffie-Hellman between Alice and Bob.
#[test]
fn rfc7748_6_1_x25519() {
    let alice = KeyExchange::from_private_bytes(
        KeGroup::Curve25519,
        &h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
    )
    .unwrap();
    let bob = KeyExchange::from_private_bytes(
        KeGroup::Curve25519,
        &h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
    )
    .unwrap();
    assert_eq!(
        alice.public_value(),
        h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    assert_eq!(
        bob.public_value(),
        h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    );
    let shared = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(
        alice.shared_secret(bob.public_value()).unwrap().expose(),
        shared
    );
    assert_eq!(
        bob.shared_secret(alice.public_value()).unwrap().expose(),
        shared
    );
}

/// RFC 5903 8.1: 256-bit random ECP group (group 19); KE data is x | y and the
/// shared secret is the x coordinate (RFC 5903 7).
#[test]
fn rfc5903_8_1_ecp256() {
    let i = KeyExchange::from_private_bytes(
        KeGroup::Ecp256,
        &h("C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433"),
    )
    .unwrap();
    let r = KeyExchange::from_private_bytes(
        KeGroup::Ecp256,
        &h("C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53"),
    )
    .unwrap();
    assert_eq!(
        i.public_value(),
        h(
            "DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180 \
           5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3"
        )
    );
    assert_eq!(
        r.public_value(),
        h(
            "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63 \
           56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB"
        )
    );
    let girx = h("D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE");
    assert_eq!(i.shared_secret(r.public_value()).unwrap().expose(), girx);
    assert_eq!(r.shared_secret(i.public_value()).unwrap().expose(), girx);
}

/// RFC 5903 8.2: 384-bit random ECP group (group 20).
#[test]
fn rfc5903_8_2_ecp384() {
    let i = KeyExchange::from_private_bytes(
        KeGroup::Ecp384,
        &h(
            "099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655 \
            E35B5380 41E649EE 3FAEF896 783AB194",
        ),
    )
    .unwrap();
    let r = KeyExchange::from_private_bytes(
        KeGroup::Ecp384,
        &h(
            "41CB0779 B4BDB85D 47846725 FBEC3C94 30FAB46C C8DC5060 855CC9BD A0AA2942 \
            E0308312 916B8ED2 960E4BD5 5A7448FC",
        ),
    )
    .unwrap();
    assert_eq!(
        i.public_value(),
        h(
            "667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6 \
           DE3AC808 ACB4BDB4 C88732AE E95F41AA \
           9482ED1F C0EEB9CA FC498462 5CCFC23F 65032149 E0E144AD A0241815 35A0F38E \
           EB9FCFF3 C2C947DA E69B4C63 4573A81C"
        )
    );
    let girx = h(
        "11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4 \
                  D6031355 69B9E9D0 9CF5D4A2 70F59746",
    );
    assert_eq!(i.shared_secret(r.public_value()).unwrap().expose(), girx);
    assert_eq!(r.shared_secret(i.public_value()).unwrap().expose(), girx);
}

/// MODP-2048 (RFC 3526 group 14) with tiny exponents, whose results are easy to
/// state exactly: 2^5 mod p = 32 and (2^3)^5 = 2^15 (both far below p), checking
/// the left-padding to 256 bytes that RFC 7296 2.14 requires.
#[test]
fn rfc3526_group14_small_exponents() {
    let a = KeyExchange::from_private_bytes(KeGroup::Modp2048, &[5]).unwrap();
    let mut expected = vec![0u8; 256];
    expected[255] = 32;
    assert_eq!(a.public_value(), expected);
    let b = KeyExchange::from_private_bytes(KeGroup::Modp2048, &[3]).unwrap();
    let shared = a.shared_secret(b.public_value()).unwrap();
    let mut expected = vec![0u8; 256];
    expected[254] = 0x80;
    assert_eq!(shared.expose(), expected);
}

/// Full-size exponents for groups 14/15/16, against Python's built-in `pow()`
/// over the RFC 3526 primes as printed by OpenSSL 3.0's named groups
/// (`tests/data/modp_check.py`). Outputs are compared by SHA-256 to keep the
/// test readable: a = 01..40, b = 41..80 (64-byte big-endian exponents).
#[test]
fn rfc3526_groups_full_exponents_match_python() {
    use sha2::{Digest, Sha256};
    let a: Vec<u8> = (1..=0x40).collect();
    let b: Vec<u8> = (0x41..=0x80).collect();
    let cases = [
        (
            KeGroup::Modp2048,
            "5141ed60d422816c251a9a61f4dc090fc6161ec870357a0af29fb84a0bb34e5e",
            "9413d3bfb3e5d8ee5ffd18d06b8460beddf411588c90cb1fedf4e995c5847429",
        ),
        (
            KeGroup::Modp3072,
            "077dffd743a6dda7e2400cb20075f1619d72d9eb8c6fb5d0c2af92940f79bddc",
            "52ab179f5c6078c769b239bf21afa47323817bc2340f04a0bd610943fe08c526",
        ),
        (
            KeGroup::Modp4096,
            "0439872574dafc9b300359ea0dd742c3976ccf9fa56883bdb8268462adedf8cf",
            "87b605a4430a403eb2e6163f874e2ee1bbac77357ca172d106f757a96cea5857",
        ),
    ];
    for (group, public_hash, shared_hash) in cases {
        let ours = KeyExchange::from_private_bytes(group, &a).unwrap();
        let peer = KeyExchange::from_private_bytes(group, &b).unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(ours.public_value())),
            public_hash,
            "{group:?}"
        );
        let shared = ours.shared_secret(peer.public_value()).unwrap();
        assert_eq!(shared.len(), group.public_len());
        assert_eq!(
            hex::encode(Sha256::digest(shared.expose())),
            shared_hash,
            "{group:?}"
        );
    }
}
