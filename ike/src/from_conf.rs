//! Conversion from `iked_conf`'s swanctl.conf model to the engine's configuration
//! (enabled by the `conf` cargo feature).
//!
//! Contract: [`convert`] maps every connection the engine can run and reports each setting it
//! cannot honour as a [`ConvertError`] naming the connection (nothing is silently dropped,
//! except transforms the engine's crypto suite does not implement, which are filtered out of
//! proposals as strongSwan does with algorithms no plugin provides; a proposal left without a
//! mandatory algorithm is an error).

use std::net::IpAddr;
use std::sync::Arc;

use iked_conf as conf;

use crate::config::{
    AuthConfig, AuthMethod, ChildConfig, ChildLifetimes, Fragmentation, HwOffload, Identity,
    IkeConfig, IkeSecret, Mode, PubkeyAuth, PubkeyConstraint, SendCert,
};
use crate::proposal::{Proposal, protocol, transform_type};
use crate::ts::TrafficSelector;

/// A setting the engine cannot run.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("connection '{conn}': {what}")]
pub struct ConvertError {
    /// Connection (or secret) name.
    pub conn: String,
    /// What is unsupported.
    pub what: String,
}

fn err(conn: &str, what: impl Into<String>) -> ConvertError {
    ConvertError {
        conn: conn.to_string(),
        what: what.into(),
    }
}

/// Converts connections and IKE secrets.
pub fn convert(config: &conf::Config) -> Result<(Vec<IkeConfig>, Vec<IkeSecret>), ConvertError> {
    let mut conns = Vec::new();
    for c in &config.connections {
        conns.push(connection(c)?);
    }
    let mut secrets = Vec::new();
    for s in config.secrets.ike() {
        let mut ids = Vec::new();
        for id in &s.ids {
            if let Some(i) = identity(&s.name, id)? {
                ids.push(i);
            }
        }
        secrets.push(IkeSecret::new(ids, s.secret.expose().to_vec()));
    }
    Ok((conns, secrets))
}

/// Converts one connection (for callers that keep connections from several sources, such as
/// files and VICI, and convert them one at a time).
pub fn connection(c: &conf::Connection) -> Result<IkeConfig, ConvertError> {
    let name = c.name.as_str();
    let addrs = |list: &[conf::addr::AddrSpec]| -> Result<Vec<IpAddr>, ConvertError> {
        list.iter()
            .map(|a| match a {
                conf::addr::AddrSpec::Addr(ip) => Ok(Some(*ip)),
                conf::addr::AddrSpec::Any => Ok(None),
                other => Err(err(
                    name,
                    format!("address '{other:?}' is not supported yet"),
                )),
            })
            .filter_map(Result::transpose)
            .collect()
    };
    let local_addrs = addrs(&c.local_addrs)?;
    let remote_addrs = addrs(&c.remote_addrs)?;
    let local = auth_round(c, c.local.first())?;
    let remote = auth_round(c, c.remote.first())?;
    if c.local.len() > 1 || c.remote.len() > 1 {
        return Err(err(
            name,
            "multiple authentication rounds are not supported",
        ));
    }
    let proposals = proposals(name, &c.proposals, protocol::IKE)?;
    let mut children = Vec::new();
    for ch in &c.children {
        children.push(Arc::new(child(name, ch, &local_addrs, &remote_addrs)?));
    }
    Ok(IkeConfig {
        name: name.to_string(),
        local_addrs,
        remote_addrs,
        local,
        remote,
        proposals,
        children,
        rekey_time: c.rekey_time,
        over_time: c.over_time,
        rand_time: c.rand_time,
        dpd_delay: c.dpd_delay,
        mobike: c.mobike,
        encap: c.encap,
        fragmentation: match c.fragmentation {
            iked_conf::Fragmentation::Yes | iked_conf::Fragmentation::Force => Fragmentation::Yes,
            iked_conf::Fragmentation::Accept => Fragmentation::Accept,
            iked_conf::Fragmentation::No => Fragmentation::No,
        },
    })
}

/// Converts an authentication round. For `auth = pubkey` (and its constraint forms) the
/// certificate and key files (`certs`, `cacerts`, `pubkeys`) are not read here (this crate does
/// no I/O): the lists stay empty and the daemon fills them from the files.
fn auth_round(
    c: &conf::Connection,
    round: Option<&conf::AuthRound>,
) -> Result<AuthConfig, ConvertError> {
    let conn = c.name.as_str();
    let Some(round) = round else {
        return Ok(AuthConfig {
            method: AuthMethod::Psk,
            id: None,
        });
    };
    let method = match &round.auth {
        conf::AuthMethod::Psk => AuthMethod::Psk,
        conf::AuthMethod::Pubkey { spec } => {
            let constraint =
                PubkeyConstraint::from_spec(spec).map_err(|e| err(conn, e.to_string()))?;
            AuthMethod::Pubkey(Box::new(PubkeyAuth {
                send_cert: match c.send_cert {
                    conf::CertPolicy::IfAsked => SendCert::IfAsked,
                    conf::CertPolicy::Always => SendCert::Always,
                    conf::CertPolicy::Never => SendCert::Never,
                },
                send_certreq: c.send_certreq,
                ..PubkeyAuth::new(constraint)
            }))
        }
        other => {
            return Err(err(
                conn,
                format!("auth = {other} is not supported (psk and pubkey only)"),
            ));
        }
    };
    let id = match &round.id {
        Some(i) => identity(conn, i)?,
        None => None,
    };
    Ok(AuthConfig { method, id })
}

/// Converts an identity; `None` for `%any`. `context` (the connection or secret name) only
/// labels the error.
pub fn identity(
    context: &str,
    id: &conf::identity::Identity,
) -> Result<Option<Identity>, ConvertError> {
    let conn = context;
    use conf::identity::Identity as C;
    Ok(Some(match id {
        C::Any => return Ok(None),
        C::Ipv4(a) => Identity::from_addr(IpAddr::V4(*a)),
        C::Ipv6(a) => Identity::from_addr(IpAddr::V6(*a)),
        C::Fqdn(s) => Identity {
            kind: Identity::FQDN,
            data: s.as_bytes().to_vec(),
        },
        C::Email(s) => Identity {
            kind: Identity::RFC822_ADDR,
            data: s.as_bytes().to_vec(),
        },
        C::KeyId(k) => Identity {
            kind: Identity::KEY_ID,
            data: k.clone(),
        },
        C::Dn(rdns) => {
            let pairs: Vec<(&str, &str)> = rdns
                .iter()
                .map(|r| (r.attr.as_str(), r.value.as_str()))
                .collect();
            Identity {
                kind: Identity::DER_ASN1_DN,
                data: iked_crypto::x509::encode_dn(&pairs).map_err(|e| err(conn, e.to_string()))?,
            }
        }
        C::Raw { id_type, data } => Identity {
            kind: *id_type,
            data: data.clone(),
        },
        other => {
            return Err(err(
                conn,
                format!("identity {other:?} is not supported yet"),
            ));
        }
    }))
}

fn proposals(
    conn: &str,
    list: &[iked_crypto::registry::Proposal],
    proto: u8,
) -> Result<Vec<Proposal>, ConvertError> {
    let mut out = Vec::new();
    for p in list {
        let mut transforms = Proposal::from_registry(p, proto).transforms;
        transforms.retain(|t| crate::suite::supports(proto, t));
        let has = |k| transforms.iter().any(|t| t.kind == k);
        let aead = transforms
            .iter()
            .any(|t| t.kind == transform_type::ENCR && crate::suite::is_aead(t.id));
        let complete = has(transform_type::ENCR)
            && (aead || has(transform_type::INTEG))
            && (proto != protocol::IKE || (has(transform_type::PRF) && has(transform_type::KE)));
        if complete {
            let number = u8::try_from(out.len() + 1).unwrap_or(u8::MAX);
            out.push(Proposal {
                number,
                protocol: proto,
                spi: Vec::new(),
                transforms,
            });
        }
    }
    if out.is_empty() {
        return Err(err(
            conn,
            "no proposal with algorithms the engine implements",
        ));
    }
    Ok(out)
}

fn traffic_selector(
    conn: &str,
    ts: &conf::addr::TrafficSelector,
    dynamic: &[IpAddr],
) -> Result<TrafficSelector, ConvertError> {
    let mut out = match &ts.addr {
        conf::addr::TsAddr::Dynamic => match dynamic {
            // `dynamic` is the IKE address; resolved from the configured address for now.
            [one] => TrafficSelector::host(*one),
            _ => {
                return Err(err(
                    conn,
                    "dynamic traffic selectors need exactly one configured address",
                ));
            }
        },
        conf::addr::TsAddr::Subnet(net) => TrafficSelector::subnet(net.addr(), net.prefix_len()),
        conf::addr::TsAddr::Range(a, b) => TrafficSelector {
            protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: *a,
            end: *b,
        },
    };
    out.protocol = ts.protocol;
    (out.start_port, out.end_port) = match ts.ports {
        conf::addr::Ports::Any => (0, 65535),
        conf::addr::Ports::Opaque => (65535, 0),
        conf::addr::Ports::Range(a, b) => (a, b),
    };
    Ok(out)
}

fn child(
    conn: &str,
    c: &conf::Child,
    local: &[IpAddr],
    remote: &[IpAddr],
) -> Result<ChildConfig, ConvertError> {
    let mode = match c.mode {
        conf::Mode::Tunnel => Mode::Tunnel,
        conf::Mode::Transport => Mode::Transport,
        other => {
            return Err(err(
                conn,
                format!("child '{}': mode {other} is not supported yet", c.name),
            ));
        }
    };
    let hw_offload = match c.hw_offload {
        conf::HwOffload::No => HwOffload::No,
        conf::HwOffload::Crypto => HwOffload::Crypto,
        conf::HwOffload::Packet => HwOffload::Packet,
        conf::HwOffload::Auto => HwOffload::Auto,
    };
    let ts = |list: &[conf::addr::TrafficSelector],
              dynamic: &[IpAddr]|
     -> Result<Vec<TrafficSelector>, ConvertError> {
        list.iter()
            .map(|t| traffic_selector(conn, t, dynamic))
            .collect()
    };
    let l = &c.lifetime;
    Ok(ChildConfig {
        name: c.name.clone(),
        local_ts: ts(&c.local_ts, local)?,
        remote_ts: ts(&c.remote_ts, remote)?,
        esp_proposals: proposals(conn, &c.esp_proposals, protocol::ESP)?,
        mode,
        hw_offload,
        policies_fwd_out: c.policies_fwd_out,
        lifetimes: ChildLifetimes {
            rekey_time: l.rekey_time,
            life_time: l.life_time,
            rand_time: l.rand_time,
            rekey_bytes: l.rekey_bytes,
            life_bytes: l.life_bytes,
            rekey_packets: l.rekey_packets,
            life_packets: l.life_packets,
        },
    })
}
