//! charon's one-line message summary, e.g.
//! `IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) N(HASH_ALG) N(REDIR_SUP) ]`.
//!
//! Contract: [`summary`] renders exactly what strongSwan's `message.c` `get_string()` prints for
//! the same header and payload list, using the name tables compiled into Debian's strongSwan
//! 5.9.8 `libcharon.so`/`libstrongswan.so` (read from the binaries' relocated enum tables, so
//! they are the peer's own spelling): payload short names (`IDi`, `TSr`, `E` for SK, `EF(n/t)`
//! for SKF), notify short names (`N(INIT_CONTACT)`), `CP` attribute lists (`CPRQ(ADDR DNS)`),
//! EAP code/method (`EAP/REQ/ID`), unknown payloads as `UNKN(type)`, unknown values as `(n)`.
//! charon logs a received protected message after decryption, so to reproduce its
//! "parsed ..." line pass the decrypted inner payloads (plus any unencrypted ones).

use core::fmt::Write;

use super::codes::{ConfigAttributeType, ExchangeType, NotifyType, PayloadType};
use super::header::Header;
use super::message::Message;
use super::payload::{Payload, PayloadBody};

/// The summary charon logs for a message with these payloads.
pub fn summary(header: &Header, payloads: &[Payload]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{} {} {} [",
        exchange_name(header.exchange),
        if header.is_request() {
            "request"
        } else {
            "response"
        },
        header.message_id
    );
    for p in payloads {
        out.push(' ');
        push_payload(&mut out, p);
    }
    out.push_str(" ]");
    out
}

impl Message {
    /// charon's summary of this message as it stands (an undecrypted SK shows as `E`).
    pub fn summary(&self) -> String {
        summary(&self.header, &self.payloads)
    }
}

fn push_payload(out: &mut String, p: &Payload) {
    match &p.body {
        PayloadBody::Unknown(u) => {
            let _ = write!(out, "UNKN({})", u.payload_type.0);
        }
        PayloadBody::Notify(n) => {
            out.push_str("N(");
            push_name(
                out,
                notify_short_name(n.notify_type),
                n.notify_type.0.into(),
            );
            if n.notify_type == NotifyType::MS_NOTIFY_STATUS
                && let Ok(status) = <[u8; 4]>::try_from(n.data.as_slice())
            {
                let _ = write!(out, "({})", i32::from_be_bytes(status));
            }
            out.push(')');
        }
        PayloadBody::Eap(eap) => {
            out.push_str("EAP/");
            let code = eap.code().unwrap_or(0);
            push_name(out, eap_code_short_name(code), code.into());
            let (method, vendor) = eap.method();
            if method != 0 {
                if vendor != 0 {
                    let _ = write!(out, "/{}-{}", method as i32, vendor as i32);
                } else {
                    out.push('/');
                    push_name(out, eap_type_short_name(method), method as i64);
                }
            }
        }
        PayloadBody::Configuration(cp) => {
            out.push_str("CP");
            let prefix = match cp.cfg_type.0 {
                1 => "RQ(",
                2 => "RP(",
                3 => "S(",
                4 => "A(",
                _ => "(",
            };
            for (i, a) in cp.attributes.iter().enumerate() {
                out.push_str(if i == 0 { prefix } else { " " });
                push_name(
                    out,
                    config_attribute_short_name(a.attribute_type),
                    a.attribute_type.0.into(),
                );
            }
            if !cp.attributes.is_empty() {
                out.push(')');
            }
        }
        PayloadBody::EncryptedFragment(f) => {
            let _ = write!(out, "EF({}/{})", f.number, f.total);
        }
        body => {
            let t = body.payload_type();
            push_name(out, payload_short_name(t), t.0.into());
        }
    }
}

/// strongSwan's `%N` prints `(value)` for values missing from a name table.
fn push_name(out: &mut String, name: Option<&str>, value: i64) {
    match name {
        Some(name) => out.push_str(name),
        None => {
            let _ = write!(out, "({value})");
        }
    }
}

fn exchange_name(exchange: ExchangeType) -> String {
    let name = match exchange.0 {
        2 => "ID_PROT",
        3 => "AUTH_ONLY",
        4 => "AGGRESSIVE",
        5 => "INFORMATIONAL_V1",
        6 => "TRANSACTION",
        32 => "QUICK_MODE",
        33 => "NEW_GROUP_MODE",
        34 => "IKE_SA_INIT",
        35 => "IKE_AUTH",
        36 => "CREATE_CHILD_SA",
        37 => "INFORMATIONAL",
        38 => "IKE_SESSION_RESUME",
        240 => "ME_CONNECT",
        255 => "EXCHANGE_TYPE_UNDEFINED",
        other => return format!("({other})"),
    };
    name.to_owned()
}

/// `payload_type_short_names` for IKEv2 payloads.
fn payload_short_name(t: PayloadType) -> Option<&'static str> {
    Some(match t.0 {
        0 => "--",
        33 => "SA",
        34 => "KE",
        35 => "IDi",
        36 => "IDr",
        37 => "CERT",
        38 => "CERTREQ",
        39 => "AUTH",
        40 => "No",
        41 => "N",
        42 => "D",
        43 => "V",
        44 => "TSi",
        45 => "TSr",
        46 => "E",
        47 => "CP",
        48 => "EAP",
        49 => "GSPM",
        50 => "IDg",
        51 => "GSA",
        52 => "KD",
        53 => "EF",
        _ => return None,
    })
}

/// `notify_type_short_names` of strongSwan 5.9.8.
pub fn notify_short_name(t: NotifyType) -> Option<&'static str> {
    Some(match t.0 {
        1 => "CRIT",
        4 => "INVAL_IKE_SPI",
        5 => "INVAL_MAJOR",
        7 => "INVAL_SYN",
        9 => "INVAL_MID",
        11 => "INVAL_SPI",
        13 => "ATTR_UNSUP",
        14 => "NO_PROP",
        16 => "PLD_MAL",
        17 => "INVAL_KE",
        18 => "INVAL_ID",
        19 => "INVAL_CERTEN",
        20 => "INVAL_CERT",
        21 => "CERT_UNSUP",
        22 => "INVAL_CA",
        23 => "INVAL_HASH",
        24 => "AUTH_FAILED",
        34 => "SINGLE_PAIR",
        35 => "NO_ADD_SAS",
        36 => "INT_ADDR_FAIL",
        37 => "FAIL_CP_REQ",
        38 => "TS_UNACCEPT",
        39 => "INVAL_SEL",
        40 => "UNACCEPT_ADDR",
        41 => "UNEXPECT_NAT",
        42 => "ASSIGNED_HoA",
        43 => "TEMP_FAIL",
        44 => "NO_CHILD_SA",
        8192 => "ME_CONN_FAIL",
        12345 => "MS_STATUS",
        16384 => "INIT_CONTACT",
        16385 => "SET_WINSIZE",
        16386 => "ADD_TS_POSS",
        16387 => "IPCOMP_SUP",
        16388 => "NATD_S_IP",
        16389 => "NATD_D_IP",
        16390 => "COOKIE",
        16391 => "USE_TRANSP",
        16392 => "HTTP_CERT_LOOK",
        16393 => "REKEY_SA",
        16394 => "ESP_TFC_PAD_N",
        16395 => "NON_FIRST_FRAG",
        16396 => "MOBIKE_SUP",
        16397 => "ADD_4_ADDR",
        16398 => "ADD_6_ADDR",
        16399 => "NO_ADD_ADDR",
        16400 => "UPD_SA_ADDR",
        16401 => "COOKIE2",
        16402 => "NO_NATS",
        16403 => "AUTH_LFT",
        16404 => "MULT_AUTH",
        16405 => "AUTH_FOLLOWS",
        16406 => "REDIR_SUP",
        16407 => "REDIR",
        16408 => "REDIR_FROM",
        16409 => "TKT_LT_OPAK",
        16410 => "TKT_REQ",
        16411 => "TKT_ACK",
        16412 => "TKT_NACK",
        16413 => "TKT_OPAK",
        16414 => "LINK_ID",
        16415 => "WESP_MODE",
        16416 => "ROHC_SUP",
        16417 => "EAP_ONLY",
        16418 => "CHDLESS_SUP",
        16419 => "CRASH_DET",
        16420 => "MSG_ID_SYN_SUP",
        16421 => "RPL_CTR_SYN_SUP",
        16422 => "MSG_ID_SYN",
        16423 => "RPL_CTR_SYN",
        16424 => "SEC_PASSWD",
        16425 => "PSK_PST",
        16426 => "PSK_CFM",
        16427 => "ERX_SUP",
        16428 => "IFOM_CAP",
        16429 => "SENDER_REQ_ID",
        16430 => "FRAG_SUP",
        16431 => "HASH_ALG",
        16435 => "USE_PPK",
        16436 => "PPK_ID",
        16437 => "NO_PPK",
        24578 => "INITIAL_CONTACT",
        36136 => "DPD",
        36137 => "DPD_ACK",
        40501 => "UNITY_LB",
        40961 => "BEET_MODE",
        40962 => "ME_MED",
        40963 => "ME_EP",
        40964 => "ME_CB",
        40965 => "ME_CID",
        40966 => "ME_CKEY",
        40967 => "ME_CAUTH",
        40968 => "ME_R",
        40969 => "RADIUS",
        _ => return None,
    })
}

/// `configuration_attribute_type_short_names` of strongSwan 5.9.8.
fn config_attribute_short_name(t: ConfigAttributeType) -> Option<&'static str> {
    Some(match t.0 {
        1 => "ADDR",
        2 => "MASK",
        3 => "DNS",
        4 => "NBNS",
        5 => "EXP",
        6 => "DHCP",
        7 => "VER",
        8 => "ADDR6",
        9 => "MASK6",
        10 => "DNS6",
        11 => "NBNS6",
        12 => "DHCP6",
        13 => "SUBNET",
        14 => "SUP",
        15 => "SUBNET6",
        16 => "MIP6HPFX",
        17 => "LINK6",
        18 => "PFX6",
        19 => "HOA",
        20 => "PCSCF4",
        21 => "PCSCF6",
        22 => "FTTKAT",
        23 => "EXTSRC4",
        24 => "DPD",
        25 => "DOMAIN",
        26 => "TA",
        16520 => "X_TYPE",
        16521 => "X_USER",
        16522 => "X_PWD",
        16523 => "X_CODE",
        16524 => "X_MSG",
        16525 => "X_CHALL",
        16526 => "X_DOMAIN",
        16527 => "X_STATUS",
        16528 => "X_PIN",
        16529 => "X_ANSWER",
        23456 => "SRV",
        23457 => "SRV6",
        28672 => "U_BANNER",
        28673 => "U_SAVEPWD",
        28674 => "U_DEFDOM",
        28675 => "U_SPLITDNS",
        28676 => "U_SPLITINC",
        28677 => "U_NATTPORT",
        28678 => "U_LOCALLAN",
        28679 => "U_PFS",
        28680 => "U_FWTYPE",
        28681 => "U_BKPSRV",
        28682 => "U_DDNSHOST",
        _ => return None,
    })
}

/// `eap_code_short_names` of strongSwan 5.9.8.
fn eap_code_short_name(code: u8) -> Option<&'static str> {
    Some(match code {
        1 => "REQ",
        2 => "RES",
        3 => "SUCC",
        4 => "FAIL",
        _ => return None,
    })
}

/// `eap_type_short_names` of strongSwan 5.9.8.
fn eap_type_short_name(t: u32) -> Option<&'static str> {
    Some(match t {
        1 => "ID",
        2 => "NTF",
        3 => "NAK",
        4 => "MD5",
        5 => "OTP",
        6 => "GTC",
        13 => "TLS",
        18 => "SIM",
        21 => "TTLS",
        23 => "AKA",
        25 => "PEAP",
        26 => "MSCHAPV2",
        33 => "MSTLV",
        38 => "TNC",
        54 => "PT",
        254 => "EXP",
        255 => "XP",
        256 => "RAD",
        257 => "DYN",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::codes::CfgType;
    use crate::wire::header::{Flags, IkeSpi};
    use crate::wire::payload::{
        ConfigAttribute, Configuration, Eap, EncryptedFragment, Notify, UnknownPayload,
    };

    fn header(exchange: ExchangeType, response: bool, mid: u32) -> Header {
        Header::new(
            IkeSpi(1),
            IkeSpi(2),
            exchange,
            Flags::new(true, response),
            mid,
        )
    }

    #[test]
    fn renders_the_special_cases_like_charon() {
        let cp = Configuration {
            cfg_type: CfgType::CFG_REQUEST,
            attributes: [1u16, 3, 25, 99]
                .iter()
                .map(|t| ConfigAttribute {
                    reserved_bit: false,
                    attribute_type: ConfigAttributeType(*t),
                    value: Vec::new(),
                })
                .collect(),
            reserved: [0; 3],
        };
        let payloads: Vec<Payload> = vec![
            cp.into(),
            Eap(vec![1, 7, 0, 5, 1]).into(),
            Eap(vec![3, 7, 0, 4]).into(),
            Notify::new(NotifyType::MS_NOTIFY_STATUS, 7u32.to_be_bytes().to_vec()).into(),
            Notify::new(NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED, Vec::new()).into(),
            UnknownPayload {
                payload_type: PayloadType(200),
                data: Vec::new(),
            }
            .into(),
            EncryptedFragment {
                first_inner: PayloadType::NONE,
                number: 2,
                total: 3,
                data: Vec::new(),
            }
            .into(),
        ];
        assert_eq!(
            summary(&header(ExchangeType::IKE_AUTH, false, 1), &payloads),
            "IKE_AUTH request 1 [ CPRQ(ADDR DNS DOMAIN (99)) EAP/REQ/ID EAP/SUCC \
             N(MS_STATUS(7)) N((16438)) UNKN(200) EF(2/3) ]"
        );
        assert_eq!(
            summary(&header(ExchangeType(43), true, 7), &[]),
            "(43) response 7 [ ]"
        );
    }
}
