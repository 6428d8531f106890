//! The bundled examples: the BlueField guide's BFL/BFR configuration (seed
//! document, verbatim) and an ovs-monitor-ipsec style configuration.

use std::path::PathBuf;
use std::time::Duration;

use iked_conf::addr::{Ports, TsAddr};
use iked_conf::identity::Identity;
use iked_conf::{HwOffload, Mode, load_file, summary};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

#[test]
fn seed_bfl_parses_and_validates() {
    let loaded = load_file(example("BFL.swanctl.conf")).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let config = &loaded.config;
    assert_eq!(config.connections.len(), 1);
    let conn = config.connection("BFL-BFR").unwrap();
    assert_eq!(conn.local_addrs[0].to_string(), "192.168.50.1");
    assert_eq!(conn.remote_addrs[0].to_string(), "192.168.50.2");
    assert_eq!(conn.local[0].id, Some(Identity::Fqdn("host1".into())));
    assert_eq!(conn.remote[0].id, Some(Identity::Fqdn("host2".into())));
    assert!(!conn.mobike);
    // reauth_time = 0 is explicit, so strongSwan's vici_config.c leaves
    // rekey_time at 0 too (the 4h default applies only if neither is set).
    assert_eq!(conn.reauth_time, Duration::ZERO);
    assert_eq!(conn.rekey_time, Duration::ZERO);
    assert_eq!(conn.proposals.len(), 1);
    assert_eq!(
        conn.proposals[0].to_string(),
        "IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519"
    );
    let names: Vec<_> = conn.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["bf-out", "bf-in"]);
    for child in &conn.children {
        assert_eq!(child.mode, Mode::Transport);
        assert_eq!(child.hw_offload, HwOffload::Packet);
        assert!(child.policies_fwd_out);
        assert!(child.esp_proposals.iter().all(|p| p.is_aead()));
        assert_eq!(child.replay_window, 32);
        assert_eq!(child.lifetime.rekey_time, Duration::from_secs(3600));
    }
    let out = &conn.children[0];
    assert_eq!(out.remote_ts[0].protocol, 17);
    assert_eq!(out.remote_ts[0].ports, Ports::Range(4789, 4789));
    assert_eq!(
        out.remote_ts[0].addr,
        TsAddr::Subnet("192.168.50.0/24".parse().unwrap())
    );
    assert_eq!(out.local_ts[0].ports, Ports::Any);

    let psk: Vec<_> = config.secrets.ike().collect();
    assert_eq!(psk.len(), 1);
    assert_eq!(
        psk[0].ids,
        [
            Identity::Fqdn("host1".into()),
            Identity::Fqdn("host2".into())
        ]
    );
    assert_eq!(psk[0].secret.expose().len(), 24);
    assert!(!format!("{:?}", psk[0]).contains("v+Nkx"));
}

#[test]
fn seed_summary_shows_children_selectors_mode_and_offload() {
    let loaded = load_file(example("BFL.swanctl.conf")).unwrap();
    let text = summary(&loaded.config);
    println!("{text}");
    for needle in [
        "BFL-BFR",
        "child bf-out: 192.168.50.0/24[udp] === 192.168.50.0/24[udp/4789]",
        "child bf-in: 192.168.50.0/24[udp/4789] === 192.168.50.0/24[udp]",
        "mode transport, hw_offload = packet",
        "auth psk, id host1",
        "auth psk, id host2",
        "ESP:AES_GCM_16_128/CURVE_25519/EXT_SEQ",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(!text.contains("v+Nkx"), "summary leaks the secret");
}

#[test]
fn bfr_mirrors_bfl() {
    let bfl = load_file(example("BFL.swanctl.conf")).unwrap().config;
    let bfr = load_file(example("BFR.swanctl.conf")).unwrap().config;
    let (l, r) = (&bfl.connections[0], &bfr.connections[0]);
    assert_eq!(l.local_addrs, r.remote_addrs);
    assert_eq!(l.remote_addrs, r.local_addrs);
    assert_eq!(l.local[0].id, r.remote[0].id);
    assert_eq!(l.remote[0].id, r.local[0].id);
    // What BFL sends to the peer's VXLAN port, BFR receives on its own.
    let bfl_out = &l.children[0];
    let bfr_in = r.children.iter().find(|c| c.name == "bf-in").unwrap();
    assert_eq!(bfl_out.remote_ts, bfr_in.local_ts);
    assert_eq!(bfl_out.local_ts, bfr_in.remote_ts);
    assert_eq!(
        bfl.secrets.ike().next().unwrap().secret.expose(),
        bfr.secrets.ike().next().unwrap().secret.expose()
    );
}

#[test]
fn ovs_style_applies_templates() {
    let loaded = load_file(example("ovs-style.swanctl.conf")).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let config = &loaded.config;
    println!("{}", summary(config));
    let names: Vec<_> = config.connections.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["shunts", "vxlanp0-1", "genevep1-3"]);

    let shunts = config.connection("shunts").unwrap();
    assert_eq!(shunts.children.len(), 4);
    for c in &shunts.children {
        assert_eq!(c.mode, Mode::Drop);
        assert!(c.start_action.trap);
        assert!(c.mark_in.is_set());
    }
    let vx = shunts
        .children
        .iter()
        .find(|c| c.name == "prevent_unencrypted_vxlan")
        .unwrap();
    assert_eq!(vx.local_ts[0].to_string(), "0.0.0.0/0[udp/4789]");

    let vxlan = config.connection("vxlanp0-1").unwrap();
    // inherited from conn-defaults
    assert_eq!(vxlan.unique, iked_conf::UniquePolicy::Replace);
    assert_eq!(vxlan.reauth_time, Duration::ZERO);
    assert_eq!(
        vxlan.proposals[0].to_string(),
        "IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519"
    );
    assert_eq!(vxlan.local_addrs[0].to_string(), "0.0.0.0/0");
    for c in &vxlan.children {
        // inherited from child-defaults
        assert_eq!(c.mode, Mode::Transport);
        assert!(c.policies_fwd_out);
        assert!(c.start_action.start);
        assert_eq!(
            c.esp_proposals[0].to_string(),
            "ESP:AES_GCM_16_256/MODP_2048/EXT_SEQ"
        );
    }
    assert_eq!(
        vxlan.children[0].local_ts[0].to_string(),
        "192.168.50.1/32[udp/4789]"
    );
    let geneve = config.connection("genevep1-3").unwrap();
    assert_eq!(geneve.local[0].certs, ["/etc/swanctl/x509/host1-cert.pem"]);
    assert_eq!(
        config.authorities[0].cacert.as_deref(),
        Some("/etc/swanctl/x509ca/cacert.pem")
    );
    assert_eq!(config.secrets.ike().count(), 1);
}
