//! Marks, output marks and interface ids of a negotiated CHILD_SA, end to end through two
//! record-only `iked`s on loopback: what each SA would carry in the kernel (the record lines:
//! the outbound SA `mark_out`, the inbound SA no mark without `mark_in_sa`, each its own
//! output mark and interface id), `%unique` resolved to a value shared by both directions and
//! kept across a rekey, `%same` copying it, and `list-sas` showing them with charon's keys.

mod common;

use common::*;

const MARKED: &str = "        hw_offload = packet\n\
        mark_in = %unique\n\
        mark_out = %unique\n\
        set_mark_in = %same/0xffff\n\
        set_mark_out = 0x500\n\
        if_id_in = 42\n\
        if_id_out = 43\n";

fn marked(conf: String) -> String {
    conf.replace("        hw_offload = packet\n", MARKED)
}

fn add_sa_lines(log: &str, direction: &str) -> Vec<String> {
    log.lines()
        // charon's wording: "adding SAD entry with SPI .. and reqid {..} (out a -> b, ..)".
        .filter(|l| {
            l.contains("RECORD-ONLY (nothing installed): adding SAD entry")
                && l.contains(&format!("({direction} "))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn marks_and_interface_ids_reach_the_sas_and_the_listing() {
    let conf = seed_conf("BFL-BFR", "127.0.0.1", "127.0.0.2", "host1", "host2");
    assert!(
        marked(conf).contains("mark_in = %unique"),
        "the edit must apply"
    );
    let bfl = Side {
        edit: Some(&marked),
        ..Side::default()
    };
    let p = loopback_pair("marks", bfl, Side::default());
    bfl_ikectl_ok(&p, &["initiate", "--child", "bf-out", "--timeout", "30"]);

    let log = std::fs::read_to_string(p.dir.join("bfl/iked.log")).unwrap();
    let out = add_sa_lines(&log, "out");
    let inb = add_sa_lines(&log, "in");
    assert_eq!((out.len(), inb.len()), (1, 1), "{}", pair_logs(&p.dir));
    // %unique: the first unique mark is 1, shared by both directions (not %unique-dir).
    assert!(
        out[0].ends_with(" mark 0x1/0xffffffff output-mark 0x500/0xffffffff if_id 0x2b"),
        "{}",
        out[0]
    );
    assert!(
        inb[0].ends_with(" output-mark 0x1/0xffff if_id 0x2a"),
        "inbound SA: no mark without mark_in_sa, %same copies mark_in: {}",
        inb[0]
    );

    let json =
        String::from_utf8_lossy(&ikectl(&p.bfl, &["--json", "list-sas"]).stdout).into_owned();
    for kv in [
        "\"mark-in\":\"00000001\"",
        "\"mark-out\":\"00000001\"",
        "\"if-id-in\":\"0000002a\"",
        "\"if-id-out\":\"0000002b\"",
    ] {
        assert!(json.contains(kv), "{kv} in {json}");
    }
    assert!(
        !json.contains("mark-mask-in"),
        "an all-ones mask is not listed: {json}"
    );
    // The peer configured none.
    let peer =
        String::from_utf8_lossy(&ikectl(&p.bfr, &["--json", "list-sas"]).stdout).into_owned();
    assert!(
        !peer.contains("mark-in") && !peer.contains("if-id"),
        "{peer}"
    );

    // A rekey keeps the reqid, and so the unique values.
    bfl_ikectl_ok(&p, &["rekey", "--child", "bf-out"]);
    let rekeyed = eventually(std::time::Duration::from_secs(10), || {
        let log = std::fs::read_to_string(p.dir.join("bfl/iked.log")).unwrap_or_default();
        add_sa_lines(&log, "out").len() == 2
    });
    let log = std::fs::read_to_string(p.dir.join("bfl/iked.log")).unwrap();
    assert!(rekeyed, "no rekey:\n{log}");
    let out = add_sa_lines(&log, "out");
    assert!(out[1].contains(" mark 0x1/0xffffffff "), "{}", out[1]);
}
