//! Short human-readable rendering of a [`Config`] for `ikectl check`.
//!
//! Contract: one block per connection (addresses, ports, version, IKE
//! proposals, each auth round's method and identity) and, indented under
//! it, one block per child (selectors in strongSwan's notation, ESP
//! proposals, mode, offload, lifetimes that differ from "off"). Secrets are
//! counted, never shown. The format is for humans; do not parse it.

use std::fmt::Write as _;

use crate::addr::AddrSpec;
use crate::model::{AuthRound, Child, Config, Connection, IkeVersion, Revocation};

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn round(r: &AuthRound, local: bool) -> String {
    let id = match &r.id {
        Some(id) => id.to_string(),
        None if local => "(from certificate or address)".into(),
        None => "%any".into(),
    };
    let mut s = format!("{}: auth {}, id {}", r.name, r.auth, id);
    if !r.certs.is_empty() {
        let _ = write!(s, ", certs {}", r.certs.join(", "));
    }
    if !r.cacerts.is_empty() {
        let _ = write!(s, ", cacerts {}", r.cacerts.join(", "));
    }
    if !r.pubkeys.is_empty() {
        let _ = write!(s, ", pubkeys {}", r.pubkeys.join(", "));
    }
    // What the policy does in iked, which checks CRLs only (no OCSP): said here so that
    // `ikectl check` shows it is not more permissive than written.
    match r.revocation {
        Revocation::Strict => s.push_str(
            ", revocation strict (every certificate needs a current CRL; no OCSP, so one \
             naming only an OCSP responder is refused)",
        ),
        Revocation::IfUri => s.push_str(
            ", revocation ifuri (a certificate naming a CRL or OCSP URI needs a current CRL; \
             no OCSP, so one naming only an OCSP responder is refused)",
        ),
        Revocation::Relaxed => {}
    }
    s
}

fn addrs(a: &[AddrSpec]) -> String {
    join(a)
}

fn connection(out: &mut String, c: &Connection) {
    let version = match c.version {
        IkeVersion::Any => "IKEv2 (version 0)",
        IkeVersion::V2 => "IKEv2",
    };
    let _ = writeln!(out, "{}: {}", c.name, version);
    let _ = writeln!(
        out,
        "  local  {}[{}]  remote {}[{}]",
        addrs(&c.local_addrs),
        c.local_port
            .map_or_else(|| "500".to_string(), |p| p.to_string()),
        addrs(&c.remote_addrs),
        c.remote_port
    );
    for r in &c.local {
        let _ = writeln!(out, "  {}", round(r, true));
    }
    for r in &c.remote {
        let _ = writeln!(out, "  {}", round(r, false));
    }
    let _ = writeln!(out, "  proposals: {}", join(&c.proposals));
    let _ = writeln!(
        out,
        "  rekey {}s, reauth {}s, over {}s, rand {}s, mobike {}, encap {}, dpd {}s",
        c.rekey_time.as_secs(),
        c.reauth_time.as_secs(),
        c.over_time.as_secs(),
        c.rand_time.as_secs(),
        if c.mobike { "yes" } else { "no" },
        if c.encap { "yes" } else { "no" },
        c.dpd_delay.as_secs()
    );
    for child in &c.children {
        self::child(out, child);
    }
}

fn child(out: &mut String, c: &Child) {
    let _ = writeln!(
        out,
        "  child {}: {} === {}",
        c.name,
        join(&c.local_ts),
        join(&c.remote_ts)
    );
    let _ = writeln!(
        out,
        "    mode {}, hw_offload = {}, policies {}{}, start {}, close {}, dpd {}",
        c.mode,
        c.hw_offload,
        if c.policies { "yes" } else { "no" },
        if c.policies_fwd_out {
            " (+fwd out)"
        } else {
            ""
        },
        c.start_action,
        c.close_action,
        c.dpd_action
    );
    if !c.mode.is_shunt() {
        let _ = writeln!(out, "    esp_proposals: {}", join(&c.esp_proposals));
        let l = &c.lifetime;
        let _ = write!(
            out,
            "    rekey {}s (life {}s, rand {}s)",
            l.rekey_time.as_secs(),
            l.life_time.as_secs(),
            l.rand_time.as_secs()
        );
        if l.rekey_packets != 0 || l.life_packets != 0 {
            let _ = write!(
                out,
                ", {} packets (life {})",
                l.rekey_packets, l.life_packets
            );
        }
        if l.rekey_bytes != 0 || l.life_bytes != 0 {
            let _ = write!(out, ", {} bytes (life {})", l.rekey_bytes, l.life_bytes);
        }
        let _ = writeln!(out, ", replay window {}", c.replay_window);
    }
    if c.mark_in.is_set() || c.mark_out.is_set() {
        let _ = writeln!(out, "    mark in {} out {}", c.mark_in, c.mark_out);
    }
    if let Some(i) = &c.interface {
        let _ = writeln!(out, "    interface {i}");
    }
}

/// Renders the summary.
pub fn summary(config: &Config) -> String {
    let mut out = String::new();
    for c in &config.connections {
        connection(&mut out, c);
    }
    let ike = config.secrets.ike().count();
    let _ = writeln!(
        out,
        "secrets: {} IKE, {} other shared, {} key passphrases; authorities: {}",
        ike,
        config.secrets.shared.len() - ike,
        config.secrets.key_passphrases.len(),
        config.authorities.len()
    );
    out
}
