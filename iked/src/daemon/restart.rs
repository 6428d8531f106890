//! The restart step of the event loop (SIGUSR2, `systemctl restart`): let the exchanges in
//! flight settle, then hand the idle IKE SAs over to the next iked through the state file.
//!
//! Contract: [`hand_over`] runs the loop a little longer (at most [`SETTLE`]) so that SAs
//! busy with an exchange can finish, then writes what is idle with `handover::write` and
//! returns; the caller exits without DELETEs and leaves the kernel as it is. The file format
//! and its checks live in `handover.rs`, which knows nothing of the loop.

use std::path::Path;

use super::core::Core;
use super::handover;

/// How long a hand-over waits for exchanges in flight before saving what is idle.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// SIGUSR2: lets exchanges in flight finish (bounded by [`SETTLE`]), writes the state and
/// returns; the caller exits without DELETEs and leaves the kernel as it is.
pub async fn hand_over(
    core: &mut Core,
    sockets: &super::net::Sockets,
    datagrams: &mut tokio::sync::mpsc::Receiver<super::net::Received>,
    path: &Path,
) {
    tracing::info!(target: "DMN", "handing over to the next iked (restart): keeping the kernel SAs");
    let _ = crate::notify::notify("STOPPING=1");
    let until = crate::clock::now() + SETTLE;
    let (snapshot, offset, daemon) = loop {
        let (snapshot, offset, daemon) = core.hand_over_snapshot(super::now());
        if snapshot.skipped.is_empty() || crate::clock::now() >= until {
            break (snapshot, offset, daemon);
        }
        tokio::select! {
            Some(d) = datagrams.recv() => {
                core.engine_mut().handle_datagram(super::now(), d.local, d.remote, &d.bytes);
            }
            _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {
                core.engine_mut().handle_timeout(super::now());
            }
        }
        super::flush(core, sockets).await;
    };
    for (id, why) in &snapshot.skipped {
        tracing::warn!(target: "DMN", "hand-over: IKE_SA [{}] not handed over ({why}); the next iked recovers it cleanly", id.0);
    }
    let bytes = handover::encode(offset, &daemon, &snapshot.bytes);
    match handover::write(path, &bytes) {
        Ok(()) => tracing::info!(
            target: "DMN",
            "handed {} IKE_SA(s) over in {} ({} bytes, mode 0600)",
            snapshot.saved.len(),
            path.display(),
            bytes.len()
        ),
        Err(e) => tracing::error!(
            target: "DMN",
            "writing the hand-over state {} failed: {e}; the next iked recovers cleanly",
            path.display()
        ),
    }
}
