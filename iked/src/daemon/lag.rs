//! Event-loop latency: how late the daemon's single event loop handles the engine's timers.
//!
//! Contract: [`TimerLag::record`] is called each time the loop runs the engine's timers, with
//! the earliest deadline the engine had announced and the time the loop got to it; the gap is
//! how long a due timer (a rekey, a retransmission, a DPD) waited behind other work (datagrams,
//! kernel events, control requests) or behind the loop's wake-up. The largest gap, their sum and
//! count are kept since start and shown by `stats` (VICI) under `iked` as `timer-lag-max-us`,
//! `timer-lag-mean-us` and `timer-runs`, which `scripts/bench.sh` reads (issue 21 §1).
//! Timers a single run handles after the first wait behind the ones before them; that share
//! is in the run's own time, not here.

use iked_ike::Timestamp;

/// Lateness of the engine's timer handling since the daemon started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TimerLag {
    /// Largest gap seen, in ns.
    pub max_ns: u64,
    /// Sum of the gaps, in ns.
    pub total_ns: u64,
    /// Timer runs that had a due deadline.
    pub runs: u64,
}

impl TimerLag {
    /// Notes one run of the engine's timers: `due` is the deadline the engine announced
    /// (`None` when it had none, e.g. a wake-up for another reason), `handled` when the loop ran them.
    pub fn record(&mut self, due: Option<Timestamp>, handled: Timestamp) {
        let Some(due) = due else { return };
        if due > handled {
            // Woken early (another deadline, or the engine's moved): no timer was due.
            return;
        }
        let gap = u64::try_from(handled.saturating_since(due).as_nanos()).unwrap_or(u64::MAX);
        self.max_ns = self.max_ns.max(gap);
        self.total_ns = self.total_ns.saturating_add(gap);
        self.runs += 1;
    }

    /// The largest gap in µs.
    pub fn max_us(&self) -> u64 {
        self.max_ns / 1000
    }

    /// The mean gap in µs (0 before any run).
    pub fn mean_us(&self) -> u64 {
        self.total_ns.checked_div(self.runs).unwrap_or(0) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_duration(Duration::from_millis(ms))
    }

    #[test]
    fn keeps_the_largest_gap_and_the_mean() {
        let mut lag = TimerLag::default();
        lag.record(Some(at(100)), at(103));
        lag.record(Some(at(200)), at(209));
        lag.record(Some(at(300)), at(300));
        assert_eq!(lag.max_us(), 9_000);
        assert_eq!(lag.runs, 3);
        assert_eq!(lag.mean_us(), 4_000);
    }

    #[test]
    fn early_wake_ups_and_no_deadline_are_not_runs() {
        let mut lag = TimerLag::default();
        lag.record(None, at(5));
        lag.record(Some(at(10)), at(5));
        assert_eq!(lag, TimerLag::default());
        assert_eq!(lag.mean_us(), 0);
    }
}
