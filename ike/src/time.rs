//! Virtual time for the sans-IO engine.
//!
//! Contract: the engine never reads a clock. The daemon supplies a [`Timestamp`] taken from a
//! monotonic, suspend-aware clock (CLOCK_BOOTTIME), tests supply virtual time. Only differences
//! between timestamps are meaningful; the origin is whatever the caller chose.

use std::time::Duration;

/// A monotonic instant, in nanoseconds since a caller-chosen origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The origin of the caller's clock.
    pub const ZERO: Timestamp = Timestamp(0);

    /// Builds a timestamp from nanoseconds since the caller's origin.
    pub const fn from_nanos(nanos: u64) -> Self {
        Timestamp(nanos)
    }

    /// Builds a timestamp from a duration since the caller's origin.
    pub fn from_duration(since_origin: Duration) -> Self {
        Timestamp(u64::try_from(since_origin.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Nanoseconds since the caller's origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time elapsed since `earlier` (zero if `earlier` is later: time never runs backwards here).
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, stopping at the end of time instead of wrapping. The engine's lints
    /// (`arithmetic_side_effects`) cannot see that `+` saturates, so engine code names it.
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        let add = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(add))
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Duration) -> Timestamp {
        self.saturating_add(rhs)
    }
}

impl std::ops::AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let t = Timestamp::from_nanos(u64::MAX - 1);
        assert_eq!(t + Duration::from_secs(1), Timestamp::from_nanos(u64::MAX));
        assert_eq!(
            Timestamp::from_nanos(5).saturating_since(Timestamp::from_nanos(9)),
            Duration::ZERO
        );
        assert_eq!(
            Timestamp::from_duration(Duration::from_secs(2)).saturating_since(Timestamp::ZERO),
            Duration::from_secs(2)
        );
    }
}
