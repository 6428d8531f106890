//! The engine's log records printed as charon prints them, and the filter that tells the
//! engine which groups anyone prints (so it builds no text nobody reads). Pure functions of the
//! tracing subscriber; nothing here knows the core.
// Peer-derived data passes here (engine log text quotes what peers sent): outside tests the
// module denies the panicking lints, as the datagram path does (DEVELOPING.md, "Lints").
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use iked_ike::engine::{LogGroup, LogGroups};

/// Prints an engine record through tracing: the group's target at its charon level.
/// [`printed_engine_groups`] asks about the same targets and levels.
pub(super) fn trace_engine_log(group: LogGroup, ike: &str, id: u64, message: &str) {
    match group {
        LogGroup::Ike => tracing::info!(target: "IKE", ike, ike_id = id, "{message}"),
        LogGroup::Enc => tracing::debug!(target: "ENC", ike, ike_id = id, "{message}"),
        LogGroup::Net => tracing::debug!(target: "NET", ike, ike_id = id, "{message}"),
        LogGroup::Cfg => tracing::info!(target: "CFG", ike, ike_id = id, "{message}"),
        LogGroup::Chd => tracing::info!(target: "CHD", ike, ike_id = id, "{message}"),
        LogGroup::Knl => tracing::info!(target: "KNL", ike, ike_id = id, "{message}"),
    }
}

/// The engine groups whose records [`trace_engine_log`] would print with the current tracing
/// subscriber (its per-subsystem levels); none without a subscriber.
pub(super) fn printed_engine_groups() -> LogGroups {
    use tracing::{Level, enabled};
    let mut groups = LogGroups::NONE;
    groups.set(LogGroup::Ike, enabled!(target: "IKE", Level::INFO));
    groups.set(LogGroup::Enc, enabled!(target: "ENC", Level::DEBUG));
    groups.set(LogGroup::Net, enabled!(target: "NET", Level::DEBUG));
    groups.set(LogGroup::Cfg, enabled!(target: "CFG", Level::INFO));
    groups.set(LogGroup::Chd, enabled!(target: "CHD", Level::INFO));
    groups.set(LogGroup::Knl, enabled!(target: "KNL", Level::INFO));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filter the daemon gives the engine matches what `trace_engine_log` prints, for
    /// several level settings (the CharonLayer decides, as in the daemon).
    #[test]
    fn engine_log_filter_follows_the_printed_levels() {
        use tracing_subscriber::layer::SubscriberExt;
        let cases = [
            ("", "IKE CFG CHD KNL"),
            ("ike=2", "IKE CFG CHD KNL"),
            ("enc=2,ike=-1", "ENC CFG CHD KNL"),
            ("default=2", "IKE ENC NET CFG CHD KNL"),
            ("default=0", ""),
        ];
        for (spec, expected) in cases {
            let mut levels = crate::log::Levels::default();
            levels.apply(spec).unwrap();
            let control = crate::log::LogControl::default();
            control.set_levels(levels);
            let (tx, mut rx) = tokio::sync::mpsc::channel(16);
            let layer = crate::log::CharonLayer::new(&control, Some(tx));
            let subscriber = tracing_subscriber::registry().with(layer);
            let filter = tracing::subscriber::with_default(subscriber, || {
                for group in LogGroup::ALL {
                    trace_engine_log(group, "conn", 1, "text");
                }
                printed_engine_groups()
            });
            let mut printed = Vec::new();
            while let Ok(record) = rx.try_recv() {
                printed.push(record.group.tag());
            }
            assert_eq!(printed.join(" "), expected, "printed with {spec:?}");
            let tags: Vec<&str> = filter.iter().map(LogGroup::tag).collect();
            assert_eq!(tags.join(" "), expected, "filter with {spec:?}");
        }
        // No subscriber prints nothing.
        let no_subscriber = tracing::subscriber::NoSubscriber::default();
        let none = tracing::subscriber::with_default(no_subscriber, printed_engine_groups);
        assert_eq!(none, LogGroups::NONE);
    }
}
