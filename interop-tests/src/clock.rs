//! The lab's only clock reads: wall-time measurement of real processes (VM boot, scenarios).
//!
//! The workspace bans clock reads (time is an input to protocol code). The lab is not protocol
//! code: it measures how long real daemons take, so it reads a monotonic clock here and nowhere
//! else. Time-outs elsewhere measure their budget with a [`Stopwatch`] too (a counted sleep
//! loop overruns badly when each poll itself takes a second under TCG).

use std::time::{Duration, Instant};

/// Measures elapsed wall time from its creation.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts measuring now.
    #[allow(clippy::disallowed_methods)] // the lab's one clock read, see the module docs
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// Time since [`Stopwatch::start`].
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }

    /// Seconds since start, for reports.
    pub fn secs(&self) -> f64 {
        self.elapsed().as_secs_f64()
    }
}
