//! Test hooks into the XFRM backend for hosts whose kernel has no ESP: there no CHILD_SA can
//! be installed, but reserved SPIs (larval SAs) exist, expire and are dumped like any SA, so a
//! test can make the backend treat two of them as an installed CHILD_SA's SAs.

use iked_ike::engine::ChildSaId;

use super::{InstalledEntry, Xfrm};

impl Xfrm {
    /// Makes the backend hold `child` as installed with `sa_in` and `sa_out` (what a
    /// successful install of its reserved SPIs would record), without touching the kernel.
    pub(crate) fn pretend_installed(
        &mut self,
        child: ChildSaId,
        sa_in: iked_xfrm::SaId,
        sa_out: iked_xfrm::SaId,
    ) {
        self.larval.remove(&child);
        // Installing an SPI reserved for another child (a test's choice) ends that reservation.
        for ids in self.larval.values_mut() {
            ids.retain(|id| *id != sa_in && *id != sa_out);
        }
        self.larval.retain(|_, ids| !ids.is_empty());
        let kernel = iked_xfrm::InstalledChild {
            offload: iked_xfrm::OffloadMode::None,
            sa_in_offload: iked_xfrm::OffloadMode::None,
            sa_out_offload: iked_xfrm::OffloadMode::None,
            device: None,
            sa_in,
            sa_out,
            policies: Vec::new(),
            policy_specs: Vec::new(),
            fallback_reasons: Vec::new(),
        };
        let entry = InstalledEntry {
            kernel,
            reqid: child.0,
            kernel_reqid: child.0,
            marks: Default::default(),
            mode: iked_xfrm::Mode::Transport,
            selectors: Vec::new(),
            policies_fwd_out: false,
            owns_policies: true,
        };
        self.installed.insert(child, entry);
    }

    /// SAs in the kernel (reserved ones included).
    pub(crate) fn client_sa_count(&mut self) -> usize {
        self.client.list_sas().map_or(0, |d| d.len())
    }

    /// Dumps taken after an event overflow so far.
    pub(crate) fn resyncs(&self) -> u64 {
        self.resyncs
    }
}
