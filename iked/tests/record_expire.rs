//! The record-only kernel raises soft and hard EXPIREs by the CHILD_SA's lifetimes, as the
//! real kernel does (issue 21 §1), so held SAs rekey in record mode through the same path:
//! two record-only `iked`s on loopback, the initiator's child with short lifetimes.

mod common;

use std::time::Duration;

use common::*;

fn with_child_lifetimes(lifetimes: &'static str) -> impl Fn(String) -> String {
    // Without packet offload: there, as in charon, time lifetimes are ignored.
    move |conf: String| conf.replace("        hw_offload = packet\n", lifetimes)
}

fn child_spis(socket: &std::path::Path) -> Vec<String> {
    let json =
        String::from_utf8_lossy(&ikectl(socket, &["--json", "list-sas"]).stdout).into_owned();
    json.split("\"spi-in\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_owned))
        .collect()
}

#[test]
fn soft_expire_by_time_rekeys_the_child_sa() {
    let edit = with_child_lifetimes(
        "        rekey_time = 3s\n        rand_time = 0\n        life_time = 60s\n",
    );
    let bfl = Side {
        edit: Some(&edit),
        ..Side::default()
    };
    let p = loopback_pair("rec-soft", bfl, Side::default());
    bfl_ikectl_ok(&p, &["initiate", "--child", "bf-out", "--timeout", "30"]);
    let first = child_spis(&p.bfl);
    assert_eq!(first.len(), 1, "{first:?}\n{}", pair_logs(&p.dir));
    let rekeyed = eventually(Duration::from_secs(20), || {
        let now = child_spis(&p.bfl);
        now.len() == 1 && now != first
    });
    let log = std::fs::read_to_string(p.dir.join("bfl/iked.log")).unwrap_or_default();
    assert!(
        rekeyed,
        "the CHILD_SA was not replaced after its soft lifetime: {:?}\n{}",
        child_spis(&p.bfl),
        pair_logs(&p.dir)
    );
    assert!(log.contains("rekeying CHILD_SA"), "{}", pair_logs(&p.dir));
    assert!(
        !log.contains("hard expire"),
        "only the soft lifetime was reached: {}",
        pair_logs(&p.dir)
    );
}

#[test]
fn hard_expire_by_time_deletes_the_child_sa() {
    let edit = with_child_lifetimes(
        "        rekey_time = 0\n        rand_time = 0\n        life_time = 3s\n",
    );
    let bfl = Side {
        edit: Some(&edit),
        ..Side::default()
    };
    let p = loopback_pair("rec-hard", bfl, Side::default());
    bfl_ikectl_ok(&p, &["initiate", "--child", "bf-out", "--timeout", "30"]);
    assert_eq!(child_spis(&p.bfl).len(), 1, "{}", pair_logs(&p.dir));
    let gone = eventually(Duration::from_secs(20), || {
        child_spis(&p.bfl).is_empty() && child_spis(&p.bfr).is_empty()
    });
    let log = std::fs::read_to_string(p.dir.join("bfl/iked.log")).unwrap_or_default();
    assert!(
        gone,
        "the CHILD_SA outlived its hard lifetime\n{}",
        pair_logs(&p.dir)
    );
    assert!(
        log.contains("hard expire of CHILD_SA"),
        "{}",
        pair_logs(&p.dir)
    );
}
