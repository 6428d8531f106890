//! Kernel and teardown log lines in charon's words.
//!
//! Contract: pure functions from the engine's kernel requests and down reasons to the text the
//! daemon logs, using the names charon's `kernel-netlink` plugin and `ike_sa`/`child_sa` logs
//! use (`adding SAD entry with SPI c1a2b3c4 and reqid {1}`, `AES_GCM_16`, `TRANSPORT`,
//! `adding policy 10.0.0.1/32 === 10.0.0.2/32 out`), never Rust `Debug` output. A caller that
//! needs one line per request gets the details charon spreads over several lines in
//! parentheses.
// Peer-derived data passes here (kernel requests carry the SPIs, selectors and algorithms peers
// negotiated): outside tests the module denies the panicking lints, as the datagram path does
// (DEVELOPING.md, "Lints").
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use iked_crypto::registry::{EncrId, IntegId};
use iked_ike::config::{HwOffload, Mode};
use iked_ike::engine::{Direction, DownReason, PolicyInstall, SaInstall};

/// charon's `ipsec_mode_names`.
pub fn mode(m: Mode) -> &'static str {
    match m {
        Mode::Tunnel => "TUNNEL",
        Mode::Transport => "TRANSPORT",
    }
}

/// The `hw_offload` keyword as swanctl.conf spells it.
pub fn offload(h: HwOffload) -> &'static str {
    match h {
        HwOffload::No => "no",
        HwOffload::Crypto => "crypto",
        HwOffload::Packet => "packet",
        HwOffload::Auto => "auto",
    }
}

/// charon's `policy_dir_names`.
pub fn direction(d: Direction) -> &'static str {
    match d {
        Direction::In => "in",
        Direction::Out => "out",
        Direction::Fwd => "fwd",
    }
}

/// One line for an SA install: charon's `adding SAD entry ...` and its `using ...` details.
pub fn add_sa(sa: &SaInstall) -> String {
    let encr = EncrId(sa.encr.id);
    let key = sa
        .encr
        .key_len
        .map_or_else(String::new, |bits| format!(" with key size {bits}"));
    let integ = if sa.integ == 0 {
        String::new()
    } else {
        format!(", integrity algorithm {}", IntegId(sa.integ))
    };
    let encap = sa.encap.map_or_else(String::new, |(s, d)| {
        format!(", UDP encapsulation {s} -> {d}")
    });
    format!(
        "adding SAD entry with SPI {:08x} and reqid {{{}}} ({} {} -> {}, {}, encryption algorithm \
         {encr}{key}{integ}, {}, replay window of {} packets, hw_offload {}{encap})",
        sa.spi,
        sa.reqid,
        direction(sa.direction),
        sa.src,
        sa.dst,
        mode(sa.mode),
        if sa.esn { "ESN" } else { "no ESN" },
        sa.replay_window,
        offload(sa.hw_offload),
    )
}

/// charon's `adding policy <src> === <dst> <dir>`, with the template.
pub fn add_policy(p: &PolicyInstall) -> String {
    format!(
        "adding policy {} === {} {} (reqid {{{}}}, {} {} -> {})",
        p.src_ts,
        p.dst_ts,
        direction(p.direction),
        p.reqid,
        mode(p.mode),
        p.tmpl_src,
        p.tmpl_dst
    )
}

/// Why an SA went down, in the words of charon's logs.
pub fn down(reason: &DownReason) -> String {
    match reason {
        DownReason::Local => "deleted locally".into(),
        DownReason::Peer => "deleted by the peer".into(),
        DownReason::Rekeyed => "rekeyed".into(),
        DownReason::Timeout => "peer did not respond, retransmits exhausted".into(),
        DownReason::Expired => "hard lifetime expired".into(),
        DownReason::Failed(why) => format!("failed: {why}"),
        DownReason::Replaced => {
            "replaced by a new IKE_SA of the same peer (INITIAL_CONTACT)".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iked_ike::engine::{ChildSaId, KernelLifetimes};
    use iked_ike::proposal::Transform;
    use iked_ike::ts::TrafficSelector;

    fn sa() -> SaInstall {
        SaInstall {
            child: ChildSaId(1),
            reqid: 1,
            direction: Direction::In,
            src: "192.168.50.2".parse().unwrap(),
            dst: "192.168.50.1".parse().unwrap(),
            spi: 0xc1a2b3c4,
            encr: Transform {
                kind: iked_ike::wire::TransformType::ENCR,
                id: 20,
                key_len: Some(128),
            },
            encr_key: Default::default(),
            integ: 0,
            integ_key: Default::default(),
            esn: true,
            replay_window: 32,
            mode: Mode::Transport,
            local_ts: vec![],
            remote_ts: vec![],
            lifetimes: KernelLifetimes::default(),
            hw_offload: HwOffload::Packet,
            encap: None,
            marks: Default::default(),
        }
    }

    #[test]
    fn sa_lines_use_charons_names_not_debug_text() {
        let line = add_sa(&sa());
        assert_eq!(
            line,
            "adding SAD entry with SPI c1a2b3c4 and reqid {1} (in 192.168.50.2 -> 192.168.50.1, \
             TRANSPORT, encryption algorithm AES_GCM_16 with key size 128, ESN, replay window \
             of 32 packets, hw_offload packet)"
        );
        let mut cbc = sa();
        cbc.encr = Transform {
            kind: iked_ike::wire::TransformType::ENCR,
            id: 12,
            key_len: Some(256),
        };
        cbc.integ = 12;
        cbc.esn = false;
        cbc.mode = Mode::Tunnel;
        cbc.hw_offload = HwOffload::No;
        cbc.encap = Some((4500, 4500));
        let line = add_sa(&cbc);
        assert!(
            line.contains(
                "TUNNEL, encryption algorithm AES_CBC with key size 256, integrity algorithm \
                 HMAC_SHA2_256_128, no ESN"
            ) && line.ends_with("hw_offload no, UDP encapsulation 4500 -> 4500)"),
            "{line}"
        );
        for bad in ["Some(", "None", "Packet", "Transport"] {
            assert!(!add_sa(&sa()).contains(bad), "{bad}");
        }
    }

    #[test]
    fn policy_and_down_lines() {
        let p = PolicyInstall {
            child: ChildSaId(1),
            reqid: 1,
            direction: Direction::Out,
            src_ts: TrafficSelector::parse("192.168.50.1/32[udp/4789]").unwrap(),
            dst_ts: TrafficSelector::parse("192.168.50.2/32").unwrap(),
            tmpl_src: "192.168.50.1".parse().unwrap(),
            tmpl_dst: "192.168.50.2".parse().unwrap(),
            mode: Mode::Transport,
            hw_offload: HwOffload::No,
        };
        let line = add_policy(&p);
        assert!(line.starts_with("adding policy 192.168.50.1/32[udp/4789] === 192.168.50.2/32 out (reqid {1}, TRANSPORT"), "{line}");
        assert_eq!(down(&DownReason::Peer), "deleted by the peer");
        assert_eq!(down(&DownReason::Failed("x".into())), "failed: x");
    }
}
