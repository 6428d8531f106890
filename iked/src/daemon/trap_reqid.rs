//! Tests: a CHILD_SA negotiated for a trap installs under the trap's reqid (charon's child_sa
//! reuses it), so the policies keep the trap's template reqid while the child holds the
//! slots, and get the trap back when it goes (`trap_slots::reqid`).

use crate::daemon::kernel::{KernelBackend, TrapPolicy};
use crate::daemon::policy_share::tests::kernel::{has_esp, install, kernel_state, open, remove};

fn trap() -> TrapPolicy {
    let ts = |s: &str| iked_ike::ts::TrafficSelector::parse(s).unwrap();
    TrapPolicy {
        reqid: 1 << 24,
        connection: "c".into(),
        child: "ch".into(),
        local: "192.168.50.1".parse().unwrap(),
        remote: "192.168.50.2".parse().unwrap(),
        local_ts: vec![ts("192.168.50.1/32[udp]")],
        remote_ts: vec![ts("192.168.50.2/32[udp/4789]")],
        transport: true,
        marks: Default::default(),
    }
}

#[test]
#[ignore = "needs a kernel with ESP (the lab VM): `<iked lib test binary> --ignored trap_reqid`"]
fn a_child_over_a_trap_installs_under_the_traps_reqid() {
    crate::daemon::kernel::tests_netns(|| {
        let mut k = open();
        if !has_esp(&mut k) {
            return;
        }
        k.install_trap(&trap()).unwrap();
        let (trap_policies, trap_reqids, _) = kernel_state();
        assert_eq!(trap_reqids.len(), 1, "{trap_reqids:?}");
        assert!(install(&mut k, 1), "the child installs over the trap");
        let (policies, reqids, sas) = kernel_state();
        assert_eq!(policies, trap_policies, "the child holds the trap's slots");
        assert_eq!(reqids, trap_reqids, "the policies keep the trap's reqid");
        assert_eq!(sas, 2);
        let mut c = iked_xfrm::XfrmClient::new().unwrap();
        let sa_reqids: Vec<u32> = c.list_sas().unwrap().iter().map(|s| s.reqid).collect();
        assert!(
            sa_reqids.iter().all(|r| *r == trap_reqids[0]),
            "the child's SAs carry the trap's reqid: {sa_reqids:?} vs {trap_reqids:?}"
        );
        remove(&mut k, 1);
        assert_eq!(
            kernel_state(),
            (trap_policies, trap_reqids, 0),
            "the trap is back"
        );
    });
}
