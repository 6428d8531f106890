//! Plain hashes the IKEv2 engine needs outside the negotiated suite.
//!
//! Contract: [`nat_detection_hash`] is the NAT_DETECTION_SOURCE_IP /
//! NAT_DETECTION_DESTINATION_IP notification data of RFC 7296 2.23:
//! `SHA-1(SPIi | SPIr | IP address | port)` with the address in network byte order
//! (4 or 16 bytes) and the port as 2 bytes big-endian. SHA-1 is mandated there;
//! it is not used for anything security-relevant.

use std::net::IpAddr;

use sha1::{Digest, Sha1};

/// NAT detection notification data (RFC 7296 2.23). `spi_r` is all zero in the
/// IKE_SA_INIT request.
pub fn nat_detection_hash(spi_i: &[u8; 8], spi_r: &[u8; 8], ip: IpAddr, port: u16) -> [u8; 20] {
    let mut hasher = Sha1::new();
    hasher.update(spi_i);
    hasher.update(spi_r);
    match ip {
        IpAddr::V4(v4) => hasher.update(v4.octets()),
        IpAddr::V6(v6) => hasher.update(v6.octets()),
    }
    hasher.update(port.to_be_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values computed independently with Python's hashlib, e.g.
    /// `hashlib.sha1(bytes.fromhex("0102030405060708" "0000000000000000"
    /// "c0000201" "01f4")).hexdigest()`; the IPv6 case hashes 01*8 | 02*8 |
    /// 2001:db8::1 | 4500.
    #[test]
    fn nat_detection_hash_layout() {
        let h = nat_detection_hash(
            &[1, 2, 3, 4, 5, 6, 7, 8],
            &[0; 8],
            "192.0.2.1".parse().unwrap(),
            500,
        );
        assert_eq!(hex::encode(h), EXPECTED_V4);
        let h6 = nat_detection_hash(&[1; 8], &[2; 8], "2001:db8::1".parse().unwrap(), 4500);
        assert_eq!(hex::encode(h6), EXPECTED_V6);
    }

    const EXPECTED_V4: &str = "644b4575455bd6fcc1efe2be8162a9218e448e5f";
    const EXPECTED_V6: &str = "252e224e9669b45987ec5b0c78f78077dcd943d7";
}
