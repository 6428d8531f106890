//! ICMP type and code in traffic selectors, as strongSwan encodes them: `[icmp/8]` is message
//! type 8 in the high byte of the 16-bit port (RFC 4301 4.4.1.1), 2048 on the wire, and is
//! printed back as `icmp/8` (charon's `traffic_selector_create` and `print_icmp`).

use iked_ike::from_conf;
use iked_ike::message::{Header, Message, Payload, inner_plaintext};
use iked_ike::ts::{TrafficSelector, TsSpec};

const CONF: &str = r#"
connections {
  c1 {
    local_addrs = 192.0.2.1
    remote_addrs = 192.0.2.2
    local {
      auth = psk
    }
    remote {
      auth = psk
    }
    children {
      ch {
        local_ts = 10.1.0.0/16[icmp/8], dynamic[ipv6-icmp/128]
        remote_ts = 10.2.0.0/16[icmp/3-4], 10.3.0.1[udp/8]
        esp_proposals = aes128gcm16-x25519
      }
    }
  }
}
"#;

fn child_ts() -> (Vec<TsSpec>, Vec<TsSpec>) {
    let loaded = iked_conf::load_str("icmp.conf", CONF).expect("config parses");
    let conn = from_conf::connection(&loaded.config.connections[0]).expect("converts");
    let child = conn.children.first().expect("one child");
    (child.local_ts.clone(), child.remote_ts.clone())
}

fn fixed(spec: &TsSpec) -> TrafficSelector {
    match spec {
        TsSpec::Fixed(ts) => *ts,
        other => panic!("expected a fixed selector, got {other:?}"),
    }
}

#[test]
fn icmp_type_goes_into_the_high_byte() {
    let (local, remote) = child_ts();
    let echo = fixed(&local[0]);
    assert_eq!(
        (echo.protocol, echo.start_port, echo.end_port),
        (1, 2048, 2048)
    );
    // `dynamic` keeps the mapped port for when it is resolved.
    assert_eq!(
        local[1],
        TsSpec::Dynamic {
            protocol: 58,
            start_port: 128 << 8,
            end_port: 128 << 8
        }
    );
    let unreachable = fixed(&remote[0]);
    assert_eq!(
        (unreachable.start_port, unreachable.end_port),
        (0x0300, 0x0400)
    );
    // Other protocols' ports are left alone.
    let udp = fixed(&remote[1]);
    assert_eq!((udp.protocol, udp.start_port, udp.end_port), (17, 8, 8));
}

#[test]
fn printed_as_charon_prints_them() {
    let (local, remote) = child_ts();
    assert_eq!(fixed(&local[0]).to_string(), "10.1.0.0/16[icmp/8]");
    assert_eq!(fixed(&remote[0]).to_string(), "10.2.0.0/16[icmp/3-4]");
    assert_eq!(fixed(&remote[1]).to_string(), "10.3.0.1/32[udp/8]");
    // A peer's type/code pair (type 3, code 1: host unreachable) as charon writes it.
    let mut ts = TrafficSelector::parse("10.0.0.0/8[icmp]").unwrap();
    ts.start_port = 0x0301;
    ts.end_port = 0x0301;
    assert_eq!(ts.to_string(), "10.0.0.0/8[icmp/3(1)]");
    // OPAQUE (start 65535, end 0) is not a type range.
    ts.start_port = 65535;
    ts.end_port = 0;
    assert_eq!(ts.to_string(), "10.0.0.0/8[icmp/OPAQUE]");
    // The text form parses back to the same encoding.
    let parsed = TrafficSelector::parse("10.1.0.0/16[icmp/8]").unwrap();
    assert_eq!(parsed, fixed(&local[0]));
    // The configuration's own listing keeps what the operator wrote.
    let loaded = iked_conf::load_str("icmp.conf", CONF).unwrap();
    let conf_ts = &loaded.config.connections[0].children[0].local_ts[0];
    assert_eq!(conf_ts.to_string(), "10.1.0.0/16[icmp/8]");
}

#[test]
fn wire_encoding_carries_type_in_the_high_byte() {
    let (local, _) = child_ts();
    let msg = Message {
        header: Header {
            spi_i: 1,
            spi_r: 2,
            exchange: iked_ike::wire::ExchangeType::IKE_AUTH,
            flags: 0,
            message_id: 1,
        },
        payloads: vec![Payload::TsI(vec![fixed(&local[0])])],
    };
    let (_, bytes) = inner_plaintext(&msg).expect("encodes");
    // TS payload: 4-octet generic header, TS count and 3 reserved, then the selector:
    // type 7 (IPv4), protocol 1, length 16, start port, end port, addresses.
    let ts = &bytes[8..];
    assert_eq!(&ts[..8], &[7, 1, 0, 16, 0x08, 0x00, 0x08, 0x00]);
    assert_eq!(&ts[8..16], &[10, 1, 0, 0, 10, 1, 255, 255]);
}

#[test]
fn type_slash_code_is_refused_as_strongswan_5_9_refuses_it() {
    // charon 5.9's vici `parse_ts` reads the port with strtol and rejects trailing text, so
    // `[icmp/8/0]` does not load there; iked refuses it too rather than guess a meaning.
    let conf = CONF.replace("10.1.0.0/16[icmp/8]", "10.1.0.0/16[icmp/8/0]");
    assert!(iked_conf::load_str("icmp.conf", &conf).is_err());
}
