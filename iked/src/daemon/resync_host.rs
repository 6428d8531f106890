//! Tests: an overflow of the XFRM event socket on the host's real kernel (issue 21 §2). A
//! burst of thousands of EXPIREs meets a small receive buffer, the kernel drops what does not
//! fit and the next receive fails with `ENOBUFS`; the backend then dumps the SAD and hands the
//! engine the EXPIRE of every installed SA that is gone, so none is missed. This host's kernel
//! has no ESP, so the burst is of reserved SPIs (larval SAs, which expire after
//! `xfrm_acq_expires` seconds), and two reserved SPIs stand in for an installed CHILD_SA.

use std::sync::Arc;
use std::time::Duration;

use iked_ike::engine::{ChildSaId, KernelEvent};

use crate::daemon::kernel::tests::allocate;
use crate::daemon::kernel::{KernelBackend, Xfrm};

/// Reserved SPIs expiring within about a second: far more than 4 KiB of socket buffer holds.
const BURST: u32 = 3000;

fn acquire_lifetime(secs: &str) {
    std::fs::write("/proc/sys/net/core/xfrm_acq_expires", secs).unwrap();
}

fn sa(spi: u32) -> iked_xfrm::SaId {
    iked_xfrm::SaId {
        // The seed's inbound destination, where `allocate` reserves.
        dst: "192.168.50.1".parse().unwrap(),
        spi: iked_xfrm::Spi(spi),
        protocol: iked_xfrm::IpsecProtocol::Esp,
        mark: None,
    }
}

#[test]
fn an_event_overflow_is_resynchronised_from_a_dump_and_no_expire_is_lost() {
    crate::daemon::kernel::tests_netns(|| {
        acquire_lifetime("60");
        let mut k = Xfrm::open_with_event_buffer(
            Arc::new(tokio::sync::Notify::new()),
            Default::default(),
            Some(4096),
        )
        .unwrap();
        // The CHILD_SA's second SA outlives the test.
        let kept = allocate(&mut k, 1, 1);
        acquire_lifetime("1");
        let burst: Vec<u32> = (0..BURST)
            .map(|i| allocate(&mut k, u64::from(i) + 100, i + 100))
            .collect();
        // Its first SA is one of the burst: the kernel deletes it with a hard EXPIRE that an
        // overflow may drop.
        let lost = burst[BURST as usize / 2];
        k.pretend_installed(ChildSaId(1), sa(lost), sa(kept));

        let mut events = Vec::new();
        // Up to 20 s (the burst expires about 1 s after each reservation).
        for _ in 0..40 {
            std::thread::sleep(Duration::from_millis(500));
            events.extend(k.poll_events());
            let left = k.client_sa_count();
            if left <= 1 && k.resyncs() > 0 {
                break;
            }
        }
        assert!(
            k.resyncs() > 0,
            "the event socket never overflowed ({} events forwarded): the test did not test",
            events.len()
        );
        let for_spi = |spi: u32| {
            events
                .iter()
                .filter(|e| matches!(e, KernelEvent::Expire { spi: s, .. } if *s == spi))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert!(
            for_spi(lost).contains(&KernelEvent::Expire {
                spi: lost,
                dst: sa(lost).dst,
                hard: true
            }),
            "the installed SA's hard EXPIRE was lost: {:?}",
            for_spi(lost)
        );
        assert_eq!(for_spi(kept), vec![], "the SA still held expired nothing");
        // The other reservations' EXPIREs are no CHILD_SA's: the engine never sees them.
        assert!(
            events
                .iter()
                .all(|e| matches!(e, KernelEvent::Expire { spi, .. } if *spi == lost)),
            "only the installed SA's EXPIRE reaches the engine: {} events",
            events.len()
        );
    });
}
