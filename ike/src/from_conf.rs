//! Conversion from `iked_conf`'s swanctl.conf model to the engine's configuration
//! (enabled by the `conf` cargo feature). This is the only such conversion: the daemon, the
//! benchmark tool and the tests all use it.
//!
//! Contract: [`connection`] maps a connection the engine can run, and [`secret`] an IKE shared
//! secret; every setting the engine cannot honour is a [`ConvertError`] naming the connection
//! (or secret) and the setting, as swanctl.conf spells it below that section. What is *not*
//! an error, on purpose:
//! - `local_addrs`/`remote_addrs` split as charon's `ike_cfg` splits them: single addresses
//!   (which an initiator can use) and subnets/ranges (which only match). `%any4`/`%any6` (and
//!   `0.0.0.0`/`::`) are the whole family as a range, `%any` alone leaves both lists empty
//!   (any address) and next to other entries adds both families. DNS names go to
//!   `local_names`/`remote_names`, which the daemon resolves (a name never resolved matches
//!   nothing, see `resolved.rs`).
//! - `dynamic` traffic selectors stay `dynamic` ([`TsSpec::Dynamic`]): the engine resolves them
//!   per IKE SA to the addresses it actually uses, as charon does.
//! - Transforms `iked_crypto` does not implement are filtered out of proposals (`iked_conf`
//!   warns that they "will not be negotiated"); a proposal that loses every transform of a type
//!   it configured (say its only key exchange group, which would silently drop PFS) or a
//!   mandatory algorithm is dropped, and a list left empty is an error.
//! - `%any` identities are `None` (no constraint); among a secret's owners they are left out,
//!   so a secret owned only by `%any` matches any identities, as in strongSwan.
//! - Subnet and range identities have no IKEv2 ID type; they are kept as their text (an
//!   `ID_FQDN`), which keeps them distinct from every other identity.
//!
//! Certificates and keys named by `auth = pubkey` rounds are not read here (this crate does no
//! I/O): their lists stay empty and the daemon fills them from the swanctl directories.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use iked_conf as conf;
use iked_crypto::crl::Policy as RevocationPolicy;

use crate::config::{
    AddrRange, AuthConfig, AuthMethod, AuthSpecError, ChildConfig, ChildLifetimes, Fragmentation,
    HwOffload, Identity, IkeConfig, IkeSecret, Mode, PubkeyAuth, PubkeyConstraint, SendCert,
    UniquePolicy, id_type,
};
use crate::marks::{ChildMarks, IfIdSpec, MarkSpec, MarkValue};
use crate::proposal::Proposal;
use crate::ts::{TrafficSelector, TsSpec};
use crate::wire::{ProtocolId, TransformType};

/// A setting the engine cannot run, with where it is.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{section}: {setting}: {problem}")]
pub struct ConvertError {
    /// The connection or secret section.
    pub section: Section,
    /// The setting's path below the section, as in swanctl.conf (`remote_addrs`,
    /// `local.auth`, `children.bf-out.mode`, `id`).
    pub setting: String,
    /// What the engine cannot do with it.
    pub problem: Problem,
}

/// The swanctl.conf section a [`ConvertError`] is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Section {
    /// `connections.<name>`.
    Connection(String),
    /// `secrets.<name>` (an `ike*` secret).
    Secret(String),
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Section::Connection(name) => write!(f, "connection '{name}'"),
            Section::Secret(name) => write!(f, "secret '{name}'"),
        }
    }
}

/// Why a setting cannot be run.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The connection has no round for one side (`iked_conf` always adds one; a model built
    /// by hand may not).
    #[error("no authentication round")]
    NoAuthRound,
    /// More than one round on one side.
    #[error("multiple authentication rounds are not supported")]
    MultipleAuthRounds,
    /// An `auth` method other than psk and pubkey.
    #[error("'{0}' is not supported (psk and pubkey are)")]
    AuthMethod(String),
    /// A public-key `auth` constraint the engine does not know.
    #[error(transparent)]
    AuthConstraint(#[from] AuthSpecError),
    /// A Distinguished Name that cannot be DER-encoded.
    #[error(transparent)]
    Dn(#[from] iked_crypto::x509::CertError),
    /// A child `mode` other than tunnel and transport.
    #[error("mode {0} is not supported yet (tunnel and transport are)")]
    Mode(String),
    /// No proposal left with algorithms the engine implements.
    #[error("no proposal with algorithms the engine implements")]
    NoProposal,
}

/// A child's marks and interface ids in the engine's terms.
pub fn child_marks(ch: &conf::Child) -> ChildMarks {
    use conf::values::{IfId, MarkValue as M};
    let mark = |m: conf::values::Mark| MarkSpec {
        value: match m.value {
            M::Fixed(0) if m.mask == 0 => MarkValue::None,
            M::Fixed(v) => MarkValue::Fixed(v),
            M::Unique => MarkValue::Unique,
            M::UniqueDir => MarkValue::UniqueDir,
            M::Same => MarkValue::Same,
        },
        mask: m.mask,
    };
    let if_id = |i: IfId| match i {
        IfId::Fixed(0) => IfIdSpec::None,
        IfId::Fixed(v) => IfIdSpec::Fixed(v),
        IfId::Unique => IfIdSpec::Unique,
        IfId::UniqueDir => IfIdSpec::UniqueDir,
    };
    ChildMarks {
        mark_in: mark(ch.mark_in),
        mark_out: mark(ch.mark_out),
        set_mark_in: mark(ch.set_mark_in),
        set_mark_out: mark(ch.set_mark_out),
        if_id_in: if_id(ch.if_id_in),
        if_id_out: if_id(ch.if_id_out),
        mark_in_sa: ch.mark_in_sa,
    }
}

/// Converts all connections and IKE secrets; the first error stops the conversion.
pub fn convert(config: &conf::Config) -> Result<(Vec<IkeConfig>, Vec<IkeSecret>), ConvertError> {
    let conns = config
        .connections
        .iter()
        .map(connection)
        .collect::<Result<_, _>>()?;
    let secrets = config.secrets.ike().map(secret).collect::<Result<_, _>>()?;
    Ok((conns, secrets))
}

/// Converts one IKE shared secret (`secrets.ike*`).
pub fn secret(s: &conf::SharedSecret) -> Result<IkeSecret, ConvertError> {
    let mut ids = Vec::new();
    for id in &s.ids {
        match identity(id) {
            Ok(Some(id)) => ids.push(id),
            Ok(None) => {}
            Err(problem) => {
                return Err(ConvertError {
                    section: Section::Secret(s.name.clone()),
                    setting: "id".into(),
                    problem,
                });
            }
        }
    }
    Ok(IkeSecret::new(ids, s.secret.expose().to_vec()))
}

/// Converts one connection (for callers that keep connections from several sources, such as
/// files and VICI, and convert them one at a time).
pub fn connection(c: &conf::Connection) -> Result<IkeConfig, ConvertError> {
    let at = |setting: String, problem: Problem| ConvertError {
        section: Section::Connection(c.name.clone()),
        setting,
        problem,
    };
    let (local_addrs, local_ranges, local_names) = addrs(&c.local_addrs);
    let (remote_addrs, remote_ranges, remote_names) = addrs(&c.remote_addrs);
    let local = auth_round(c, &c.local, "local").map_err(|(s, p)| at(s, p))?;
    let remote = auth_round(c, &c.remote, "remote").map_err(|(s, p)| at(s, p))?;
    let proposals =
        engine_proposals(&c.proposals, ProtocolId::IKE).map_err(|p| at("proposals".into(), p))?;
    let mut children = Vec::with_capacity(c.children.len());
    for ch in &c.children {
        // Shunts (`mode = pass|drop`) are policies the daemon installs itself; the engine
        // never negotiates them (charon's shunt manager, outside any IKE SA).
        if ch.mode.is_shunt() {
            continue;
        }
        let at_child = |key: &str, p| at(format!("children.{}.{key}", ch.name), p);
        let mode = match ch.mode {
            conf::Mode::Tunnel => Mode::Tunnel,
            conf::Mode::Transport => Mode::Transport,
            other => return Err(at_child("mode", Problem::Mode(other.to_string()))),
        };
        let esp_proposals = engine_proposals(&ch.esp_proposals, ProtocolId::ESP)
            .map_err(|p| at_child("esp_proposals", p))?;
        let l = &ch.lifetime;
        children.push(Arc::new(ChildConfig {
            name: ch.name.clone(),
            local_ts: traffic_selectors(&ch.local_ts),
            remote_ts: traffic_selectors(&ch.remote_ts),
            esp_proposals,
            mode,
            hw_offload: match ch.hw_offload {
                conf::HwOffload::No => HwOffload::No,
                conf::HwOffload::Crypto => HwOffload::Crypto,
                conf::HwOffload::Packet => HwOffload::Packet,
                conf::HwOffload::Auto => HwOffload::Auto,
            },
            policies_fwd_out: ch.policies_fwd_out,
            lifetimes: ChildLifetimes {
                rekey_time: l.rekey_time,
                life_time: l.life_time,
                rand_time: l.rand_time,
                rekey_bytes: l.rekey_bytes,
                life_bytes: l.life_bytes,
                rekey_packets: l.rekey_packets,
                life_packets: l.life_packets,
            },
            marks: child_marks(ch),
        }));
    }
    Ok(IkeConfig {
        name: c.name.clone(),
        local_addrs,
        remote_addrs,
        local_ranges,
        remote_ranges,
        local_names,
        remote_names,
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
            conf::Fragmentation::Yes | conf::Fragmentation::Force => Fragmentation::Yes,
            conf::Fragmentation::Accept => Fragmentation::Accept,
            conf::Fragmentation::No => Fragmentation::No,
        },
        unique: match c.unique {
            conf::UniquePolicy::Never => UniquePolicy::Never,
            conf::UniquePolicy::No => UniquePolicy::No,
            conf::UniquePolicy::Keep => UniquePolicy::Keep,
            conf::UniquePolicy::Replace => UniquePolicy::Replace,
        },
    })
}

/// Splits an address list into single addresses, ranges and DNS names (see the module
/// contract).
fn addrs(list: &[conf::addr::AddrSpec]) -> (Vec<IpAddr>, Vec<AddrRange>, Vec<String>) {
    use conf::addr::AddrSpec as A;
    let mut hosts = Vec::with_capacity(list.len());
    let mut ranges = Vec::new();
    let mut names = Vec::new();
    let mut any = false;
    for a in list {
        match a {
            // charon reads `0.0.0.0` and `::` as `%any4`/`%any6`.
            A::Addr(ip) if ip.is_unspecified() => ranges.push(AddrRange::family(ip.is_ipv4())),
            A::Addr(ip) => hosts.push(*ip),
            A::Any => any = true,
            A::AnyV4 => ranges.push(AddrRange::family(true)),
            A::AnyV6 => ranges.push(AddrRange::family(false)),
            A::Subnet(net) => ranges.push(AddrRange::subnet(net.addr(), net.prefix_len())),
            A::Range(from, to) => ranges.push(AddrRange {
                start: *from,
                end: *to,
            }),
            // Resolved by the daemon; unresolved, a name matches nothing (never "any").
            A::Fqdn(name) => names.push(name.clone()),
        }
    }
    // `%any` next to other entries still matches any address of both families; alone it is
    // the engine's empty lists.
    if any && !(hosts.is_empty() && ranges.is_empty() && names.is_empty()) {
        ranges.push(AddrRange::family(true));
        ranges.push(AddrRange::family(false));
    }
    (hosts, ranges, names)
}

/// Converts the single authentication round of one side (`side` is `local` or `remote`);
/// errors come with the setting's path.
fn auth_round(
    c: &conf::Connection,
    rounds: &[conf::AuthRound],
    side: &str,
) -> Result<AuthConfig, (String, Problem)> {
    let round = match rounds {
        [] => return Err((side.to_string(), Problem::NoAuthRound)),
        [one] => one,
        [_, second, ..] => return Err((second.name.clone(), Problem::MultipleAuthRounds)),
    };
    let setting = |key: &str| format!("{}.{key}", round.name);
    let method = match &round.auth {
        conf::AuthMethod::Psk => AuthMethod::Psk,
        conf::AuthMethod::Pubkey { spec } => {
            let constraint =
                PubkeyConstraint::from_spec(spec).map_err(|e| (setting("auth"), e.into()))?;
            AuthMethod::Pubkey(Box::new(PubkeyAuth {
                send_cert: match c.send_cert {
                    conf::CertPolicy::IfAsked => SendCert::IfAsked,
                    conf::CertPolicy::Always => SendCert::Always,
                    conf::CertPolicy::Never => SendCert::Never,
                },
                send_certreq: c.send_certreq,
                revocation: match round.revocation {
                    conf::Revocation::Strict => RevocationPolicy::Strict,
                    conf::Revocation::IfUri => RevocationPolicy::IfUri,
                    conf::Revocation::Relaxed => RevocationPolicy::Relaxed,
                },
                ..PubkeyAuth::new(constraint)
            }))
        }
        other => {
            return Err((setting("auth"), Problem::AuthMethod(other.to_string())));
        }
    };
    let id = match &round.id {
        Some(i) => identity(i).map_err(|p| (setting("id"), p))?,
        None => None,
    };
    Ok(AuthConfig { method, id })
}

/// Converts an identity; `None` for `%any`.
pub fn identity(id: &conf::identity::Identity) -> Result<Option<Identity>, Problem> {
    use conf::identity::Identity as C;
    Ok(Some(match id {
        C::Any => return Ok(None),
        C::Ipv4(a) => Identity::from_addr(IpAddr::V4(*a)),
        C::Ipv6(a) => Identity::from_addr(IpAddr::V6(*a)),
        C::Fqdn(s) => Identity {
            kind: id_type::FQDN,
            data: s.as_bytes().to_vec(),
        },
        C::Email(s) => Identity {
            kind: id_type::RFC822_ADDR,
            data: s.as_bytes().to_vec(),
        },
        C::KeyId(k) => Identity {
            kind: id_type::KEY_ID,
            data: k.clone(),
        },
        // Encoded from the parsed RDNs (not re-parsed from text), so a value holding a comma
        // (`/O=a,b/CN=x`) stays one attribute.
        C::Dn(rdns) => {
            let pairs: Vec<(&str, &str)> = rdns
                .iter()
                .map(|r| (r.attr.as_str(), r.value.as_str()))
                .collect();
            Identity {
                kind: id_type::DER_ASN1_DN,
                data: iked_crypto::x509::encode_dn(&pairs)?,
            }
        }
        // IKEv2 has no subnet or range ID type (those are IKEv1's); the text keeps the
        // identity distinct from every address and name until the engine can match by them.
        other @ (C::Subnet(_) | C::Range(..)) => Identity {
            kind: id_type::FQDN,
            data: other.to_string().into_bytes(),
        },
        C::Raw { id_type, data } => Identity {
            kind: *id_type,
            data: data.clone(),
        },
    }))
}

/// The engine's proposals for a configured list: unimplemented transforms filtered out,
/// proposals left incomplete dropped (see the module contract).
fn engine_proposals(
    list: &[iked_crypto::registry::Proposal],
    proto: ProtocolId,
) -> Result<Vec<Proposal>, Problem> {
    let mut out = Vec::with_capacity(list.len());
    for p in list {
        let configured = Proposal::from_registry(p, proto).transforms;
        let mut transforms = configured.clone();
        transforms.retain(|t| crate::suite::supports(proto, t));
        let has = |k| transforms.iter().any(|t| t.kind == k);
        // A type the configuration asked for must keep a transform: a proposal that lost its
        // only KE group would otherwise be negotiated without PFS.
        let kept_every_type = configured.iter().all(|t| has(t.kind));
        let aead = transforms
            .iter()
            .any(|t| t.kind == TransformType::ENCR && crate::suite::is_aead(t.id));
        let complete = has(TransformType::ENCR)
            && (aead || has(TransformType::INTEG))
            && (proto != ProtocolId::IKE || (has(TransformType::PRF) && has(TransformType::KE)));
        if kept_every_type && complete {
            // The engine renumbers proposals when it sends them; numbered here for callers
            // that print them.
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
        return Err(Problem::NoProposal);
    }
    Ok(out)
}

/// Converts one side's selectors; `dynamic` stays symbolic, for the engine to resolve per IKE
/// SA.
pub fn traffic_selectors(list: &[conf::addr::TrafficSelector]) -> Vec<TsSpec> {
    list.iter()
        .map(|ts| {
            let (start_port, end_port) = match ts.ports {
                conf::addr::Ports::Any => (0, 65535),
                conf::addr::Ports::Opaque => (65535, 0),
                // `[icmp/8]` names a message type: shifted into the type byte as charon does.
                conf::addr::Ports::Range(a, b) => (
                    crate::ts::config_port(ts.protocol, a),
                    crate::ts::config_port(ts.protocol, b),
                ),
            };
            let addrs = match &ts.addr {
                conf::addr::TsAddr::Dynamic => {
                    return TsSpec::Dynamic {
                        protocol: ts.protocol,
                        start_port,
                        end_port,
                    };
                }
                conf::addr::TsAddr::Subnet(net) => {
                    TrafficSelector::subnet(net.addr(), net.prefix_len())
                }
                conf::addr::TsAddr::Range(a, b) => TrafficSelector {
                    start: *a,
                    end: *b,
                    ..TrafficSelector::host(*a)
                },
            };
            TsSpec::Fixed(TrafficSelector {
                protocol: ts.protocol,
                start_port,
                end_port,
                ..addrs
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::find_psk;

    /// The seed's BFL side (NVIDIA BlueField IPsec guide, swanctl.conf example).
    const SEED: &str = include_str!("../../examples/BFL.swanctl.conf");

    /// A small PSK connection `c1` with one child `ch`; tests edit it with `replace`.
    const BASE: &str = r#"
connections {
  c1 {
    local_addrs = 192.0.2.1
    remote_addrs = 192.0.2.2
    local {
      auth = psk
      id = a.example
    }
    remote {
      auth = psk
      id = b.example
    }
    children {
      ch {
        local_ts = 10.1.0.0/16
        remote_ts = 10.2.0.0/16
        esp_proposals = aes128gcm16-x25519
      }
    }
    proposals = aes128-sha256-x25519
  }
}
"#;

    fn load(text: &str) -> conf::Config {
        iked_conf::load_str("test.conf", text)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .config
    }

    fn base_with(from: &str, to: &str) -> conf::Config {
        assert!(BASE.contains(from), "{from}");
        load(&BASE.replace(from, to))
    }

    fn convert_err(config: &conf::Config) -> ConvertError {
        connection(&config.connections[0]).unwrap_err()
    }

    fn ts(text: &str) -> TsSpec {
        TsSpec::parse(text).unwrap()
    }

    #[test]
    fn seed_converts_for_the_engine() {
        let (conns, secrets) = convert(&load(SEED)).unwrap();
        let conn = &conns[0];
        assert_eq!(conn.name, "BFL-BFR");
        assert_eq!(
            conn.local_addrs,
            vec!["192.168.50.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(conn.local.id, Some(Identity::from_text("host1")));
        assert_eq!(conn.local.method, AuthMethod::Psk);
        // aes128-sha256-x25519 as the engine parses it itself.
        let expected = Proposal::parse(ProtocolId::IKE, "aes128-sha256-x25519").unwrap();
        let mut got = conn.proposals[0].transforms.clone();
        let mut want = expected.transforms.clone();
        got.sort_by_key(|t| (t.kind, t.id));
        want.sort_by_key(|t| (t.kind, t.id));
        assert_eq!(got, want);
        let child = &conn.children[0];
        assert_eq!(child.mode, Mode::Transport);
        assert_eq!(child.hw_offload, HwOffload::Packet);
        assert!(child.policies_fwd_out);
        assert_eq!(child.local_ts, vec![ts("192.168.50.0/24[udp]")]);
        assert_eq!(child.remote_ts, vec![ts("192.168.50.0/24[udp/4789]")]);
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].ids.len(), 2);
        let psk = find_psk(
            &secrets,
            &Identity::from_text("host1"),
            &Identity::from_text("host2"),
        );
        assert!(psk.is_some_and(|k| !k.is_empty()));
    }

    #[test]
    fn dynamic_selectors_stay_dynamic_for_the_engine() {
        let config = load(
            &BASE
                .replace(
                    "local_addrs = 192.0.2.1",
                    "local_addrs = 192.0.2.1, 192.0.2.9",
                )
                .replace("remote_addrs = 192.0.2.2", "remote_addrs = %any")
                .replace("local_ts = 10.1.0.0/16", "local_ts = dynamic[udp/4789]")
                .replace(
                    "remote_ts = 10.2.0.0/16",
                    "remote_ts = dynamic, 10.2.0.0/16",
                ),
        );
        let conn = connection(&config.connections[0]).unwrap();
        assert!(conn.remote_addrs.is_empty() && conn.remote_ranges.is_empty());
        let child = &conn.children[0];
        // Not the first local address: the engine resolves `dynamic` per IKE SA.
        assert_eq!(
            child.local_ts,
            vec![TsSpec::Dynamic {
                protocol: 17,
                start_port: 4789,
                end_port: 4789
            }]
        );
        assert_eq!(child.local_ts[0].to_string(), "dynamic[udp/4789]");
        assert_eq!(child.remote_ts, vec![TsSpec::DYNAMIC, ts("10.2.0.0/16")]);
    }

    #[test]
    fn address_lists_split_into_hosts_and_ranges() {
        let addr = |s: &str| s.parse::<IpAddr>().unwrap();
        let range = |a: &str, b: &str| AddrRange {
            start: addr(a),
            end: addr(b),
        };
        let cases: &[(&str, Vec<IpAddr>, Vec<AddrRange>)] = &[
            ("%any", vec![], vec![]),
            (
                "%any4, %any6",
                vec![],
                vec![AddrRange::family(true), AddrRange::family(false)],
            ),
            ("0.0.0.0/0", vec![], vec![AddrRange::family(true)]),
            ("::/0", vec![], vec![AddrRange::family(false)]),
            ("0.0.0.0", vec![], vec![AddrRange::family(true)]),
            (
                "10.0.0.0/8, 192.0.2.7",
                vec![addr("192.0.2.7")],
                vec![range("10.0.0.0", "10.255.255.255")],
            ),
            (
                "10.0.0.1-10.0.0.9",
                vec![],
                vec![range("10.0.0.1", "10.0.0.9")],
            ),
            (
                "192.0.2.7, %any",
                vec![addr("192.0.2.7")],
                vec![AddrRange::family(true), AddrRange::family(false)],
            ),
        ];
        for (spec, hosts, ranges) in cases {
            let config = base_with(
                "remote_addrs = 192.0.2.2",
                &format!("remote_addrs = {spec}"),
            );
            let conn = connection(&config.connections[0]).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&conn.remote_addrs, hosts, "{spec}");
            assert_eq!(&conn.remote_ranges, ranges, "{spec}");
        }
        // Matched as charon's ike_cfg matches: exact beats subnet beats any; a family range
        // does not match the other family.
        let config = base_with(
            "remote_addrs = 192.0.2.2",
            "remote_addrs = 10.0.0.0/8, 192.0.2.7, %any6",
        );
        let conn = connection(&config.connections[0]).unwrap();
        let me = addr("192.0.2.1");
        let r = crate::resolved::Resolved::default();
        assert_eq!(conn.addr_match(me, addr("192.0.2.7"), &r), Some(129 + 129));
        assert_eq!(conn.addr_match(me, addr("10.1.2.3"), &r), Some(129 + 9));
        assert_eq!(conn.addr_match(me, addr("2001:db8::1"), &r), Some(129 + 1));
        assert_eq!(conn.addr_match(me, addr("192.0.2.8"), &r), None);
        assert_eq!(
            conn.addr_match(addr("192.0.2.99"), addr("192.0.2.7"), &r),
            None
        );
    }

    #[test]
    fn dns_names_match_what_they_resolved_to_and_never_any() {
        let addr = |s: &str| s.parse::<IpAddr>().unwrap();
        let config = base_with(
            "remote_addrs = 192.0.2.2",
            "remote_addrs = Peer.Example, 10.0.0.0/8",
        );
        let conn = connection(&config.connections[0]).unwrap();
        assert_eq!(conn.remote_names, vec!["Peer.Example".to_string()]);
        assert!(conn.remote_addrs.is_empty());
        let me = addr("192.0.2.1");
        let mut r = crate::resolved::Resolved::default();
        // Unresolved: the name matches nothing, the subnet still does.
        assert_eq!(conn.addr_match(me, addr("198.51.100.7"), &r), None);
        assert_eq!(conn.addr_match(me, addr("10.0.0.1"), &r), Some(129 + 9));
        // Resolved: its address is an exact match, as charon's resolved host entry.
        r.set("peer.example", vec![addr("198.51.100.7")]);
        assert_eq!(
            conn.addr_match(me, addr("198.51.100.7"), &r),
            Some(129 + 129)
        );
        assert_eq!(conn.addr_match(me, addr("198.51.100.8"), &r), None);

        // A name alone is not "any address" while unresolved.
        let config = base_with("remote_addrs = 192.0.2.2", "remote_addrs = peer.example");
        let conn = connection(&config.connections[0]).unwrap();
        let empty = crate::resolved::Resolved::default();
        assert_eq!(conn.addr_match(me, addr("198.51.100.7"), &empty), None);
    }

    #[test]
    fn dn_identities_are_der_encoded_from_their_attributes() {
        let config = base_with("id = a.example", "id = \"C=CH, O=iked test, CN=bfl\"");
        let conn = connection(&config.connections[0]).unwrap();
        let id = conn.local.id.unwrap();
        assert_eq!(id.kind, id_type::DER_ASN1_DN);
        assert_eq!(
            id.data,
            iked_crypto::x509::dn_from_text("C=CH, O=iked test, CN=bfl").unwrap()
        );
        assert_eq!(id.to_string(), "C=CH, O=iked test, CN=bfl");

        // OpenSSL style with a comma inside a value: still two attributes.
        let config = base_with("id = b.example", "id = \"/O=a,b/CN=x\"");
        let conn = connection(&config.connections[0]).unwrap();
        let id = conn.remote.id.unwrap();
        assert_eq!(id.kind, id_type::DER_ASN1_DN);
        assert_eq!(
            id.data,
            iked_crypto::x509::encode_dn(&[("O", "a,b"), ("CN", "x")]).unwrap()
        );
    }

    #[test]
    fn subnet_and_range_identities_are_kept_as_text() {
        for text in ["10.0.0.0/24", "10.0.0.1-10.0.0.9"] {
            let config = base_with("id = b.example", &format!("id = {text}"));
            let conn = connection(&config.connections[0]).unwrap();
            assert_eq!(
                conn.remote.id,
                Some(Identity {
                    kind: id_type::FQDN,
                    data: text.as_bytes().to_vec(),
                })
            );
        }
        // `%any` is no constraint.
        let config = base_with("id = b.example", "id = %any");
        assert_eq!(connection(&config.connections[0]).unwrap().remote.id, None);
    }

    #[test]
    fn secret_owned_by_any_matches_any_identity() {
        let text =
            format!("{BASE}secrets {{\n  ike-any {{\n    id = %any\n    secret = abc\n  }}\n}}\n");
        let (_, secrets) = convert(&load(&text)).unwrap();
        assert!(secrets[0].ids.is_empty());
        let psk = find_psk(
            &secrets,
            &Identity::from_text("a.example"),
            &Identity::from_text("anyone.example"),
        );
        assert_eq!(psk, Some(&b"abc"[..]));
    }

    #[test]
    fn missing_or_extra_auth_rounds_name_the_side() {
        let mut config = load(BASE);
        config.connections[0].local.clear();
        let e = convert_err(&config);
        assert_eq!(
            (e.setting.as_str(), &e.problem),
            ("local", &Problem::NoAuthRound)
        );
        assert_eq!(
            e.to_string(),
            "connection 'c1': local: no authentication round"
        );

        // iked_conf refuses a second round at load; the model can still
        // carry one, so the engine refuses it too.
        let mut config = load(BASE);
        let mut second = config.connections[0].remote[0].clone();
        second.name = "remote-2".into();
        config.connections[0].remote.push(second);
        let e = convert_err(&config);
        assert_eq!(
            (e.setting.as_str(), &e.problem),
            ("remote-2", &Problem::MultipleAuthRounds)
        );
    }

    #[test]
    fn unsupported_auth_and_mode_name_the_setting() {
        // iked_conf refuses EAP at load; the model can still carry it.
        let mut eap = load(BASE);
        eap.connections[0].remote[0].auth = conf::AuthMethod::Eap {
            method: Some("tls".into()),
        };
        let e = convert_err(&eap);
        assert_eq!(e.setting, "remote.auth");
        assert!(matches!(e.problem, Problem::AuthMethod(_)), "{e}");

        let constraint = base_with(
            "auth = psk\n      id = a.example",
            "auth = rsa-foo\n      id = a.example",
        );
        let e = convert_err(&constraint);
        assert_eq!(e.setting, "local.auth");
        assert!(matches!(e.problem, Problem::AuthConstraint(_)), "{e}");

        let beet = base_with("esp_proposals = aes128gcm16-x25519", "mode = beet");
        let e = convert_err(&beet);
        assert_eq!(e.setting, "children.ch.mode");
        assert_eq!(
            e.to_string(),
            "connection 'c1': children.ch.mode: mode beet is not supported yet (tunnel and transport are)"
        );
    }

    #[test]
    fn shunt_children_never_reach_the_engine_and_marks_do() {
        for mode in ["pass", "drop"] {
            let shunt = base_with(
                "esp_proposals = aes128gcm16-x25519",
                &format!("mode = {mode}"),
            );
            let conn = connection(&shunt.connections[0]).unwrap();
            assert!(conn.children.is_empty(), "{mode}: {:?}", conn.children);
        }
        let marked = base_with(
            "esp_proposals = aes128gcm16-x25519",
            "esp_proposals = aes128gcm16-x25519\n      mark_in = 0x10/0xff\n      \
             mark_out = %unique\n      set_mark_out = %same\n      if_id_in = 7\n      \
             if_id_out = %unique-dir\n      mark_in_sa = yes",
        );
        let conn = connection(&marked.connections[0]).unwrap();
        let m = conn.children[0].marks;
        use crate::marks::{IfIdSpec, MarkSpec, MarkValue};
        assert_eq!(
            m.mark_in,
            MarkSpec {
                value: MarkValue::Fixed(0x10),
                mask: 0xff
            }
        );
        assert_eq!(m.mark_out.value, MarkValue::Unique);
        assert_eq!(m.set_mark_out.value, MarkValue::Same);
        assert_eq!(m.set_mark_in.value, MarkValue::None);
        assert_eq!(
            (m.if_id_in, m.if_id_out),
            (IfIdSpec::Fixed(7), IfIdSpec::UniqueDir)
        );
        assert!(m.mark_in_sa);
    }

    #[test]
    fn unimplemented_transforms_are_filtered_without_dropping_pfs() {
        let config = base_with(
            "esp_proposals = aes128gcm16-x25519",
            "esp_proposals = aes128gcm16-ecp521-x25519, aes256gcm16-ecp521, aes128gcm16",
        );
        let conn = connection(&config.connections[0]).unwrap();
        let esp = &conn.children[0].esp_proposals;
        // The first keeps x25519; the second lost its only group and is dropped rather than
        // offered without PFS; the third never asked for one.
        assert_eq!(esp.len(), 2, "{esp:?}");
        assert_eq!(esp[0].ke_methods(), vec![31]);
        assert_eq!(esp[1].ke_methods(), Vec::<u16>::new());
        assert_eq!((esp[0].number, esp[1].number), (1, 2));

        let none = base_with(
            "esp_proposals = aes128gcm16-x25519",
            "esp_proposals = aes128gcm16-ecp521",
        );
        let e = convert_err(&none);
        assert_eq!(
            (e.setting.as_str(), &e.problem),
            ("children.ch.esp_proposals", &Problem::NoProposal)
        );
        let ike = base_with(
            "proposals = aes128-sha256-x25519",
            "proposals = aes128-sha256-curve448",
        );
        let e = convert_err(&ike);
        assert_eq!(
            (e.setting.as_str(), &e.problem),
            ("proposals", &Problem::NoProposal)
        );
    }
}
