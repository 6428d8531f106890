//! IKEv2 key derivation (RFC 7296 2.13, 2.14, 2.17, 2.18).
//!
//! Contract: pure functions over secrets; every output is a [`SecretBytes`].
//! - [`prf_plus`]: `T1 | T2 | ...` with `Tn = prf(K, Tn-1 | S | n)`, at most 255
//!   blocks.
//! - [`skeyseed`]: `prf(Ni | Nr, g^ir)`; [`skeyseed_rekey`]:
//!   `prf(SK_d(old), g^ir(new) | Ni | Nr)` with the *old* IKE SA's PRF (2.18).
//! - [`IkeKeys::derive`]: `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
//!   = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)`, where for AEAD ciphers SK_a* are
//!   empty and SK_e* include the 4-byte salt (RFC 5282 7.1, RFC 7634 2).
//! - [`ChildKeys::derive`]: `KEYMAT = prf+(SK_d, [g^ir(new) |] Ni | Nr)` split in
//!   RFC 7296 2.17 order: initiator->responder encryption then integrity key, then
//!   responder->initiator.
//!
//! Nonces and SPIs are passed as the raw bytes from the wire; the caller orders
//! them by IKE role (initiator first), never by "us/peer".

use crate::error::CryptoError;
use crate::secret::SecretBytes;
use crate::transforms::{EspAlgorithms, IkeSuite, PrfAlg};

/// `prf+(key, seed)` truncated to `len` bytes.
pub fn prf_plus(
    prf: PrfAlg,
    key: &[u8],
    seed: &[u8],
    len: usize,
) -> Result<SecretBytes, CryptoError> {
    let block = prf.output_len();
    if len > 255 * block {
        return Err(CryptoError::PrfPlusTooLong(len));
    }
    let mut out = SecretBytes::zeroed(len);
    let mut previous = SecretBytes::default();
    let mut filled = 0;
    let mut counter: u8 = 1;
    while filled < len {
        let t = prf.compute(key, &[previous.expose(), seed, &[counter]]);
        let take = (len - filled).min(block);
        out.expose_mut()[filled..filled + take].copy_from_slice(&t.expose()[..take]);
        filled += take;
        previous = t;
        // Cannot overflow: len <= 255 blocks was checked above.
        counter = counter.wrapping_add(1);
    }
    Ok(out)
}

/// `SKEYSEED = prf(Ni | Nr, g^ir)` (RFC 7296 2.14). HMAC PRFs take the whole
/// nonce concatenation as key.
pub fn skeyseed(prf: PrfAlg, ni: &[u8], nr: &[u8], g_ir: &SecretBytes) -> SecretBytes {
    let mut key = SecretBytes::zeroed(ni.len() + nr.len());
    key.expose_mut()[..ni.len()].copy_from_slice(ni);
    key.expose_mut()[ni.len()..].copy_from_slice(nr);
    prf.compute(key.expose(), &[g_ir.expose()])
}

/// `SKEYSEED = prf(SK_d(old), g^ir(new) | Ni | Nr)` for an IKE SA rekey (RFC 7296
/// 2.18). `old_prf` is the PRF of the IKE SA being rekeyed; `g_ir_new` is `None`
/// only for the (non-compliant) rekey without KE, which RFC 7296 forbids but we
/// still model as an empty g^ir to keep the function total.
pub fn skeyseed_rekey(
    old_prf: PrfAlg,
    old_sk_d: &SecretBytes,
    g_ir_new: &SecretBytes,
    ni: &[u8],
    nr: &[u8],
) -> SecretBytes {
    old_prf.compute(old_sk_d.expose(), &[g_ir_new.expose(), ni, nr])
}

/// The seven IKE SA keys. No `Debug`: the fields are secrets.
pub struct IkeKeys {
    /// SK_d, for CHILD_SA KEYMAT and IKE rekeying.
    pub sk_d: SecretBytes,
    /// SK_ai, integrity key initiator->responder (empty for AEAD).
    pub sk_ai: SecretBytes,
    /// SK_ar, integrity key responder->initiator (empty for AEAD).
    pub sk_ar: SecretBytes,
    /// SK_ei, encryption key (plus salt for AEAD) initiator->responder.
    pub sk_ei: SecretBytes,
    /// SK_er, encryption key (plus salt for AEAD) responder->initiator.
    pub sk_er: SecretBytes,
    /// SK_pi, for the initiator's AUTH.
    pub sk_pi: SecretBytes,
    /// SK_pr, for the responder's AUTH.
    pub sk_pr: SecretBytes,
}

impl IkeKeys {
    /// Total bytes of `prf+` output the suite needs.
    pub fn total_len(suite: &IkeSuite) -> usize {
        3 * suite.prf.output_len() + 2 * suite.integ_key_len() + 2 * suite.encr.keymat_len()
    }

    /// Derives the key set from SKEYSEED (RFC 7296 2.14).
    pub fn derive(
        suite: &IkeSuite,
        skeyseed: &SecretBytes,
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
    ) -> Result<Self, CryptoError> {
        let seed = [ni, nr, spi_i, spi_r].concat();
        let keymat = prf_plus(suite.prf, skeyseed.expose(), &seed, Self::total_len(suite))?;
        let mut rest = keymat.expose();
        let mut take = |len: usize| {
            let (head, tail) = rest.split_at(len);
            rest = tail;
            SecretBytes::from_slice(head)
        };
        let (prf_len, integ_len, encr_len) = (
            suite.prf.output_len(),
            suite.integ_key_len(),
            suite.encr.keymat_len(),
        );
        Ok(Self {
            sk_d: take(prf_len),
            sk_ai: take(integ_len),
            sk_ar: take(integ_len),
            sk_ei: take(encr_len),
            sk_er: take(encr_len),
            sk_pi: take(prf_len),
            sk_pr: take(prf_len),
        })
    }
}

/// Keys of one direction of an ESP SA, in the layout the kernel wants
/// (encryption key with salt appended; integrity key, empty for AEAD).
pub struct EspKeys {
    /// Encryption key (incl. salt/nonce for GCM, ChaCha20-Poly1305, CTR).
    pub encr: SecretBytes,
    /// Integrity key (empty for AEAD).
    pub integ: SecretBytes,
}

/// Keys of a CHILD_SA pair.
pub struct ChildKeys {
    /// For the SA carrying initiator->responder traffic (the responder's inbound SA).
    pub initiator_to_responder: EspKeys,
    /// For the SA carrying responder->initiator traffic (the initiator's inbound SA).
    pub responder_to_initiator: EspKeys,
}

impl ChildKeys {
    /// `KEYMAT = prf+(SK_d, Ni | Nr)`, or `prf+(SK_d, g^ir(new) | Ni | Nr)` with
    /// PFS, split in RFC 7296 2.17 order. `ni`/`nr` are the nonces of the exchange
    /// that created the CHILD_SA (IKE_SA_INIT's for the first one).
    pub fn derive(
        prf: PrfAlg,
        sk_d: &SecretBytes,
        g_ir_new: Option<&SecretBytes>,
        ni: &[u8],
        nr: &[u8],
        esp: &EspAlgorithms,
    ) -> Result<Self, CryptoError> {
        let (encr_len, integ_len) = esp.keymat_lens();
        let seed = match g_ir_new {
            Some(g) => [g.expose(), ni, nr].concat(),
            None => [ni, nr].concat(),
        };
        let keymat = prf_plus(prf, sk_d.expose(), &seed, 2 * (encr_len + integ_len))?;
        let mut rest = keymat.expose();
        let mut take = |len: usize| {
            let (head, tail) = rest.split_at(len);
            rest = tail;
            SecretBytes::from_slice(head)
        };
        let initiator_to_responder = EspKeys {
            encr: take(encr_len),
            integ: take(integ_len),
        };
        let responder_to_initiator = EspKeys {
            encr: take(encr_len),
            integ: take(integ_len),
        };
        Ok(Self {
            initiator_to_responder,
            responder_to_initiator,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Encr, EncrId, IntegId, PrfId};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// Libreswan's IKEv2 CAVS sample (programs/cavp ikev2 test driver comment,
    /// `libreswan-ikev2-cavs ... -l 132 -h 2`), which is in the NIST SP 800-135
    /// CAVS IKEv2 KDF format: PRF HMAC-SHA1, 132-byte DKM. It checks SKEYSEED,
    /// prf+ for the IKE SA, CHILD_SA KEYMAT with and without PFS, and the rekey
    /// SKEYSEED in one go.
    #[test]
    fn cavs_ikev2_kdf_sha1_sample() {
        let prf = PrfAlg::HmacSha1;
        let g_ir = SecretBytes::new(h(
            "4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52",
        ));
        let g_ir_new = SecretBytes::new(h(
            "863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330",
        ));
        let ni = h("32b50d5f4a3763f3");
        let nr = h("9206a04b26564cb1");
        let spi_i = h("34c9e7c188868785");
        let spi_r = h("3ff77d760d2b2199");

        let seed = skeyseed(prf, &ni, &nr, &g_ir);
        assert_eq!(
            hex::encode(seed.expose()),
            "a9a7b222b59f8f48645f28a1db5b5f5d7479cba7"
        );
        let dkm = prf_plus(
            prf,
            seed.expose(),
            &[&ni[..], &nr, &spi_i, &spi_r].concat(),
            132,
        )
        .unwrap();
        assert_eq!(
            hex::encode(dkm.expose()),
            "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002a2a63080e514a062\
             768b76606f9fa5e992204fc5a670bde3f10d6b027113936a5c55b648a194ae587b0088d52204b702\
             c979fa280870d2ed41efa9c549fd11198af1670b143d384bd275c5f594cf266b05ebadca855e4249\
             520a441a81157435a7a56cc4"
        );
        let sk_d = SecretBytes::from_slice(&dkm.expose()[..20]);
        let child = prf_plus(prf, sk_d.expose(), &[&ni[..], &nr].concat(), 132).unwrap();
        assert_eq!(
            hex::encode(child.expose()),
            "8059e3ee8810e6c3a91bc8bcd2a7a41151b8d0e6ae239c7b38093ad85ef4c5811a8e7b5d1cdabd95\
             60b2d5e092d1f24e2d4b85eccdf0ad0dc9abd94b51ee71814ca6dbc8bb51b6309f5b9545c7eb35cf\
             5580b1e521a8fe20754a2d883ba0c2cf285f524aea6545b33106bc03e614296d319d41d4b50b3f51\
             0b1c0a22f3e664994d234cb4"
        );
        let child_dh = prf_plus(
            prf,
            sk_d.expose(),
            &[g_ir_new.expose(), &ni, &nr].concat(),
            132,
        )
        .unwrap();
        assert_eq!(
            hex::encode(child_dh.expose()),
            "bb43244c1860ad65ee1e211ffe8bb3661750c8f89cb9f547df7f4fa61d37301628190e38c66232ea\
             b4b3ab14c400a5197dd3730ed4820a8a10394d51e1c0400052f63ebd36b0e7ef53aaed31eba4a508\
             0d7d4b5666023a8bbb5ffb7857240f9a05884d1b7d2f933708450b7b3288f1fc863ab49fa901227c\
             ffc06e27899c7054d56fd74c"
        );
        assert_eq!(
            hex::encode(skeyseed_rekey(prf, &sk_d, &g_ir_new, &ni, &nr).expose()),
            "63e81194946ebd05df7df5ebf5d8750056bf1f1d"
        );
    }

    #[test]
    fn prf_plus_limits_and_prefix_property() {
        let prf = PrfAlg::HmacSha256;
        assert_eq!(
            prf_plus(prf, b"k", b"s", 255 * 32 + 1).map(|_| ()),
            Err(CryptoError::PrfPlusTooLong(255 * 32 + 1))
        );
        let long = prf_plus(prf, b"k", b"s", 255 * 32).unwrap();
        let short = prf_plus(prf, b"k", b"s", 45).unwrap();
        assert_eq!(&long.expose()[..45], short.expose());
        // T1 = prf(K, S | 0x01).
        assert_eq!(
            &long.expose()[..32],
            prf.compute(b"k", &[b"s", &[1]]).expose()
        );
        assert!(prf_plus(prf, b"k", b"s", 0).unwrap().is_empty());
    }

    #[test]
    fn ike_key_split_sizes_cbc_and_aead() {
        let seed = SecretBytes::from_slice(&[7; 32]);
        let cbc = IkeSuite::new(
            Encr::new(EncrId::AES_CBC, 128),
            Some(IntegId::HMAC_SHA2_256_128),
            PrfId::HMAC_SHA2_256,
        )
        .unwrap();
        let k = IkeKeys::derive(&cbc, &seed, b"ni", b"nr", &[1; 8], &[2; 8]).unwrap();
        let lens = [
            &k.sk_d, &k.sk_ai, &k.sk_ar, &k.sk_ei, &k.sk_er, &k.sk_pi, &k.sk_pr,
        ]
        .map(SecretBytes::len);
        assert_eq!(lens, [32, 32, 32, 16, 16, 32, 32]);
        // The split is contiguous prf+ output in RFC 7296 2.14 order.
        let all = prf_plus(
            PrfAlg::HmacSha256,
            seed.expose(),
            &[&b"ni"[..], b"nr", &[1; 8], &[2; 8]].concat(),
            192,
        )
        .unwrap();
        assert_eq!(&all.expose()[64..96], k.sk_ar.expose());
        assert_eq!(&all.expose()[160..192], k.sk_pr.expose());

        let gcm = IkeSuite::new(
            Encr::new(EncrId::AES_GCM_16, 256),
            None,
            PrfId::HMAC_SHA2_384,
        )
        .unwrap();
        let k = IkeKeys::derive(&gcm, &seed, b"ni", b"nr", &[1; 8], &[2; 8]).unwrap();
        let lens = [
            &k.sk_d, &k.sk_ai, &k.sk_ar, &k.sk_ei, &k.sk_er, &k.sk_pi, &k.sk_pr,
        ]
        .map(SecretBytes::len);
        assert_eq!(lens, [48, 0, 0, 36, 36, 48, 48]);
    }

    #[test]
    fn child_keys_follow_rfc7296_2_17_order() {
        let sk_d = SecretBytes::from_slice(&[3; 32]);
        let esp = EspAlgorithms::new(
            Encr::new(EncrId::AES_CBC, 128),
            Some(IntegId::HMAC_SHA2_256_128),
            None,
        )
        .unwrap();
        let keys = ChildKeys::derive(PrfAlg::HmacSha256, &sk_d, None, b"Ni", b"Nr", &esp).unwrap();
        let keymat = prf_plus(PrfAlg::HmacSha256, sk_d.expose(), b"NiNr", 96).unwrap();
        let k = keymat.expose();
        assert_eq!(keys.initiator_to_responder.encr.expose(), &k[..16]);
        assert_eq!(keys.initiator_to_responder.integ.expose(), &k[16..48]);
        assert_eq!(keys.responder_to_initiator.encr.expose(), &k[48..64]);
        assert_eq!(keys.responder_to_initiator.integ.expose(), &k[64..96]);

        let g = SecretBytes::from_slice(b"shared");
        let gcm = EspAlgorithms::new(Encr::new(EncrId::AES_GCM_16, 128), None, None).unwrap();
        let pfs =
            ChildKeys::derive(PrfAlg::HmacSha256, &sk_d, Some(&g), b"Ni", b"Nr", &gcm).unwrap();
        let keymat = prf_plus(PrfAlg::HmacSha256, sk_d.expose(), b"sharedNiNr", 40).unwrap();
        assert_eq!(
            pfs.initiator_to_responder.encr.expose(),
            &keymat.expose()[..20]
        );
        assert_eq!(
            pfs.responder_to_initiator.encr.expose(),
            &keymat.expose()[20..]
        );
        assert!(pfs.initiator_to_responder.integ.is_empty());
    }
}
