//! The generator's only clock reads.
//!
//! The workspace bans clock reads because protocol code takes time as an input. This tool is
//! not protocol code: it measures how fast a real responder answers, so it reads a monotonic
//! clock here and nowhere else, and hands the engine [`Timestamp`]s derived from it.

use std::time::{Duration, Instant};

use iked_ike::Timestamp;

/// A monotonic clock whose origin is its creation.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    /// Starts the clock now.
    #[allow(clippy::disallowed_methods)] // the generator's one clock read, see the module docs
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// Time since [`Clock::start`].
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }

    /// The engine's timestamp for now.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_duration(self.elapsed())
    }

    /// The tokio instant of an engine timestamp (for sleeping until an engine deadline).
    pub fn instant_of(&self, t: Timestamp) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.0 + Duration::from_nanos(t.as_nanos()))
    }
}
