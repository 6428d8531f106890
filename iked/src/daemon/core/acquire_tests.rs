//! Tests: kernel ACQUIREs for a trap (`auto=route`) against a recording kernel: one attempt at
//! a time per trap, and a trap whose attempt ended (its IKE SA deleted mid-negotiation, as
//! ovs-monitor-ipsec's `stroke down-nb` does) is acted on again at the next ACQUIRE.

use std::time::Duration;

use iked_ike::engine::{Engine, KernelEvent, Timestamp};

use super::Core;
use crate::daemon::kernel::Recording;

const CONF: &str = "connections { c {\nlocal_addrs = 192.0.2.1\nremote_addrs = 192.0.2.2\n\
    local { auth = psk\nid = a }\nremote { auth = psk\nid = b }\nchildren { ch {\n\
    mode = transport\nesp_proposals = aes128gcm128\nstart_action = trap\n\
    local_ts = dynamic[gre]\nremote_ts = dynamic[gre]\n} } } }\n\
    secrets { ike { id-a = a\nid-b = b\nsecret = 0x0102030405060708 } }\n";

fn core_with_trap(dir: &str) -> (Core, u32) {
    let dir = std::env::temp_dir().join(format!("iked-acq-{dir}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("swanctl.conf");
    std::fs::write(&file, CONF).unwrap();
    let engine = Engine::new(
        Default::default(),
        Vec::new(),
        Vec::new(),
        Box::new(iked_crypto::rng::OsRandom),
    );
    let (tx, _) = tokio::sync::broadcast::channel(16);
    let mut core = Core::new(
        engine,
        Box::new(Recording::new()),
        file.clone(),
        tx,
        Timestamp::ZERO,
        0,
    );
    let report = core.load_file(Timestamp::ZERO, &file, "all");
    assert!(!report.file_failed, "{report:?}");
    // Read once: nothing is loaded from the directory again, so it goes now.
    let _ = std::fs::remove_dir_all(&dir);
    let reqid = core.traps.first().expect("trap installed").reqid;
    (core, reqid)
}

fn at(secs: u64) -> Timestamp {
    Timestamp::ZERO + Duration::from_secs(secs)
}

fn acquire(core: &mut Core, now: Timestamp, reqid: u32) {
    core.handle_kernel_event(now, KernelEvent::Acquire { reqid });
    core.pump_kernel(now);
    core.drain_events(now);
}

fn sa_ids(core: &Core) -> Vec<u32> {
    core.engine.ike_sas().iter().map(|s| s.id.0).collect()
}

#[test]
fn acquires_while_an_attempt_is_pending_start_nothing_more() {
    let (mut core, reqid) = core_with_trap("pending");
    acquire(&mut core, at(1), reqid);
    assert_eq!(sa_ids(&core).len(), 1, "the first ACQUIRE initiates");
    acquire(&mut core, at(2), reqid);
    acquire(&mut core, at(3), reqid);
    assert_eq!(
        sa_ids(&core).len(),
        1,
        "later ACQUIREs wait for the attempt"
    );
}

#[test]
fn a_trap_whose_ike_sa_was_terminated_mid_negotiation_acquires_again() {
    let (mut core, reqid) = core_with_trap("again");
    acquire(&mut core, at(1), reqid);
    let first = sa_ids(&core);
    assert_eq!(first.len(), 1);
    // `stroke down-nb` while the IKE SA is still negotiating: the SA goes.
    let ike = core.engine.ike_sas()[0].id;
    core.engine.terminate_ike_forced(at(2), ike).unwrap();
    core.pump_kernel(at(2));
    core.drain_events(at(2));
    assert!(sa_ids(&core).is_empty());
    // The kernel raises the next ACQUIRE: a new negotiation starts.
    acquire(&mut core, at(3), reqid);
    let second = sa_ids(&core);
    assert_eq!(second.len(), 1, "the trap was not acted on again");
    assert_ne!(second, first);
    // Likewise through the unforced terminate of a half-open SA.
    let ike = core.engine.ike_sas()[0].id;
    core.engine.terminate_ike(at(4), ike).unwrap();
    core.pump_kernel(at(4));
    core.drain_events(at(4));
    acquire(&mut core, at(5), reqid);
    assert_eq!(sa_ids(&core).len(), 1, "the trap was not acted on again");
}
