//! The daemon's log in cause order and in charon's words (issue 18 §8), between two
//! record-only iked on loopback: on the responder the authentication line comes before the
//! `add sa`/`add policy` lines it allowed, kernel lines name algorithms, modes and offload as
//! charon does (no Rust `Debug` text such as `Some(128)` or `None`), "established" is logged
//! once per SA, and the teardown line names the child and says who deleted it.

mod common;

use std::time::Duration;

use common::*;

fn log(p: &LoopbackPair, side: &str) -> Vec<String> {
    std::fs::read_to_string(p.dir.join(side).join("iked.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn position(lines: &[String], needle: &str) -> Option<usize> {
    lines.iter().position(|l| l.contains(needle))
}

#[test]
fn responder_logs_in_cause_order_and_charons_words() {
    let p = loopback_pair("log-order", Side::default(), Side::default());
    bfl_ikectl_ok(&p, &["initiate", "--child", "bf-out", "--timeout", "20"]);
    let bfr = log(&p, "bfr");
    let text = bfr.join("\n");
    let auth = position(
        &bfr,
        "authentication of 'host1' with pre-shared key successful",
    )
    .unwrap_or_else(|| panic!("no authentication line:\n{text}"));
    let add_sa = position(&bfr, "adding SAD entry with SPI")
        .unwrap_or_else(|| panic!("no SA line:\n{text}"));
    let add_policy =
        position(&bfr, "adding policy ").unwrap_or_else(|| panic!("no policy line:\n{text}"));
    assert!(
        auth < add_sa && auth < add_policy,
        "not in cause order:\n{text}"
    );
    // The IKE_SA came up before its child was installed, and says so once.
    let established: Vec<usize> = bfr
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("IKE_SA BFR-BFL[1] established between"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(established.len(), 1, "{text}");
    assert_eq!(
        bfr.iter()
            .filter(|l| l.contains("CHILD_SA bf-out{1} established with SPIs"))
            .count(),
        1,
        "{text}"
    );
    let sa_line = &bfr[add_sa];
    assert!(
        sa_line.contains("reqid {1}")
            && sa_line.contains("TRANSPORT")
            && sa_line.contains("encryption algorithm AES_GCM_16 with key size 128")
            && sa_line.contains("hw_offload packet"),
        "{sa_line}"
    );
    for line in bfr
        .iter()
        .filter(|l| l.contains("KNL") || l.contains("CHD"))
    {
        for debug in ["Some(", "None", "Transport", "Tunnel"] {
            assert!(!line.contains(debug), "Debug text in {line:?}");
        }
    }
    // Teardown by BFL: BFR names the child and the cause.
    bfl_ikectl_ok(&p, &["terminate", "--ike", "BFL-BFR", "--timeout", "20"]);
    let down = eventually(Duration::from_secs(5), || {
        log(&p, "bfr")
            .iter()
            .any(|l| l.contains("CHILD_SA bf-out{1} down: deleted by the peer"))
    });
    assert!(down, "{}", log(&p, "bfr").join("\n"));
    let bfr = log(&p, "bfr");
    assert!(
        bfr.iter()
            .any(|l| l.contains("IKE_SA BFR-BFL[1] down: deleted by the peer")),
        "{}",
        bfr.join("\n")
    );
    assert!(
        !bfr.iter()
            .any(|l| l.contains("?{") || l.contains("down: Peer"))
    );
}
