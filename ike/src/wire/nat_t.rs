//! RFC 3948 framing on the NAT-T port, for whoever owns the sockets (the daemon, the load
//! generator): IKE messages there carry a 4-octet non-ESP marker, ESP starts with its non-zero
//! SPI, and a single 0xff octet is a NAT keepalive, which goes out unframed.

/// The non-ESP marker in front of IKE messages on the NAT-T port (RFC 3948 2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// The NAT-keepalive payload (RFC 3948 2.3); no IKE message is this short.
pub const NAT_KEEPALIVE: [u8; 1] = [0xff];

/// What a datagram received on the NAT-T port carries.
#[derive(Debug, PartialEq, Eq)]
pub enum NatTPayload<'a> {
    /// An IKE message (marker removed).
    Ike(&'a [u8]),
    /// A NAT keepalive.
    Keepalive,
    /// ESP (the kernel's business).
    Esp,
}

/// Classifies a datagram received on the NAT-T port.
pub fn classify(bytes: &[u8]) -> NatTPayload<'_> {
    if bytes == NAT_KEEPALIVE {
        NatTPayload::Keepalive
    } else if let Some(ike) = bytes.strip_prefix(&NON_ESP_MARKER) {
        NatTPayload::Ike(ike)
    } else {
        NatTPayload::Esp
    }
}

/// The bytes to send on the NAT-T port for an IKE message or a keepalive.
pub fn frame(datagram: &[u8]) -> Vec<u8> {
    if datagram == NAT_KEEPALIVE {
        datagram.to_vec()
    } else {
        [&NON_ESP_MARKER[..], datagram].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_and_framing() {
        assert_eq!(classify(&[0xff]), NatTPayload::Keepalive);
        assert_eq!(classify(&[0, 0, 0, 0, 1, 2]), NatTPayload::Ike(&[1, 2]));
        assert_eq!(classify(&[0xc0, 1, 2, 3, 4]), NatTPayload::Esp);
        assert_eq!(classify(&[0, 0]), NatTPayload::Esp);
        assert_eq!(frame(&[1, 2]), vec![0, 0, 0, 0, 1, 2]);
        assert_eq!(frame(&NAT_KEEPALIVE), NAT_KEEPALIVE.to_vec());
        assert_eq!(classify(&frame(&[9; 28])), NatTPayload::Ike(&[9; 28]));
    }
}
