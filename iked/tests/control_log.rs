//! The engine builds log text only for groups the daemon prints, except while a VICI client
//! waits on `initiate`/`terminate`: its `control-log` stream carries every group whatever the
//! levels. The daemons here run with `default=1,ike=2`, so `[ENC]` and `[NET]` (level 2) are
//! never printed, yet `ikectl` must still stream them.

mod common;

use common::*;

#[test]
fn control_log_streams_groups_the_daemon_does_not_print() {
    let p = loopback_pair("ctl-log", Side::default(), Side::default());
    let stdout = bfl_ikectl_ok(&p, &["initiate", "--child", "bf-out", "--timeout", "30"]);
    for line in [
        "[IKE] initiating IKE_SA BFL-BFR[1] to 127.0.0.2",
        "[ENC] generating IKE_SA_INIT request 0",
        "[NET] sending packet: from 127.0.0.1",
        "[ENC] parsed IKE_AUTH response 1",
    ] {
        assert!(stdout.contains(line), "no {line:?} in\n{stdout}");
    }
    // The daemon itself still prints neither group at these levels.
    let logs = pair_logs(&p.dir);
    assert!(
        !logs.contains("[ENC] generating") && !logs.contains("[NET] sending packet"),
        "{logs}"
    );

    let stdout = bfl_ikectl_ok(&p, &["terminate", "--ike", "BFL-BFR", "--timeout", "30"]);
    assert!(
        stdout.contains("[ENC] generating INFORMATIONAL request"),
        "{stdout}"
    );
}
