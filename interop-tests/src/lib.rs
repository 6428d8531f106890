//! The iked lab: real kernels, real peers, asserted from outside the daemons.
//!
//! Layout of one run (see `tests/lab_vm.rs` and `scripts/demo.sh`):
//! - on the host, [`vm`] boots virtme-ng VMs under TCG (two at once, each with a share of the
//!   rows: [`shard`]) with the 6.12 kernel that `scripts/setup-host.sh` unpacked (the host
//!   kernel has no ESP), sharing the host's root filesystem read-only and an output directory
//!   read-write;
//! - inside each, the `lab-runner` binary of this crate runs its [`scenario`]s: each builds two
//!   network namespaces `bfl` and `bfr` joined by a veth pair named `p0` on both ends, with the
//!   seed's 192.168.50.1/24 and .2/24 ([`netlab`]), starts one IKE daemon per namespace
//!   ([`daemon`]: strongSwan's charon in its own mount namespace, or our iked), drives them, and
//!   asserts on `ip xfrm state` / `ip xfrm policy` ([`xfrm_text`]), on tcpdump captures, and on
//!   datagrams delivered through the tunnel ([`checks`]);
//! - results go to `results.json` and a table ([`report`]) in the output directory, with both
//!   daemons' logs kept for every failed scenario.
//!
//! Nothing here sends traffic outside the namespaces it creates.

pub mod cert_case;
pub mod certs;
pub mod checks;
pub mod clock;
pub mod crl_rows;
pub mod daemon;
pub mod libreswan;
pub mod netlab;
pub mod ovs;
pub mod peer_root;
pub mod report;
pub mod scenario;
pub mod shard;
pub mod swan_conf;
pub mod vm;
pub mod xfrm_text;

use std::path::Path;

/// Everything that can go wrong while running the lab. A [`LabError::Check`] is a failed
/// assertion about the daemons (the scenario fails); the other variants are lab trouble (the
/// scenario fails too, with the cause in the table).
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {output}")]
    Command {
        command: String,
        status: String,
        output: String,
    },
    #[error("timed out after {secs} s waiting for {what}")]
    Timeout { what: String, secs: u64 },
    #[error("{0}")]
    Check(String),
    #[error("{0}")]
    Setup(String),
}

impl LabError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        LabError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Fails the current check with a formatted message.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::LabError::Check(format!($($fmt)+)));
        }
    };
}
