//! Fuzz the kernel-reply reader: any datagram must decode to values or errors, never panic.
//! Run: `cargo +nightly fuzz run parse_reply` from `xfrm/`.
#![no_main]

use iked_xfrm::consts::{NLM_F_ACK_TLVS, NLM_F_CAPPED};
use iked_xfrm::{link, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for msg in parse::messages(data).flatten() {
        let _ = parse::event(&msg);
        let _ = parse::kernel_ack(msg.flags, msg.payload);
        let _ = parse::sa_state(msg.payload);
        let _ = parse::policy_state(msg.payload);
    }
    let _ = parse::sa_state(data);
    let _ = parse::policy_state(data);
    let _ = parse::kernel_ack(NLM_F_CAPPED | NLM_F_ACK_TLVS, data);
    let _ = link::link_events(data);
});
