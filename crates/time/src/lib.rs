#![warn(missing_docs)]
//! Explicit time for sockstack's sans-IO core.
//!
//! The protocol engines (`wire`, `tcp`, `stack`) never read a clock: every
//! call that depends on time is handed an [`Instant`]. The simulator advances
//! a virtual one; the real-time driver derives one from `std::time::Instant`.
//! Keeping the type our own (microseconds since an arbitrary epoch) makes
//! virtual time and real time interchangeable and runs reproducible.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};
pub use core::time::Duration;

/// A point in time, in microseconds since an arbitrary epoch chosen by the
/// driver. Ordered, copyable, and free of any clock.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    micros: u64,
}

impl Instant {
    /// The epoch: virtual time starts here.
    pub const ZERO: Instant = Instant { micros: 0 };
    /// A time that is never reached; useful as "no deadline" in `min` folds.
    pub const FAR_FUTURE: Instant = Instant { micros: u64::MAX };

    /// `micros` microseconds after the epoch.
    #[inline]
    pub const fn from_micros(micros: u64) -> Instant {
        Instant { micros }
    }

    /// `millis` milliseconds after the epoch (saturating).
    #[inline]
    pub const fn from_millis(millis: u64) -> Instant {
        Instant { micros: millis.saturating_mul(1000) }
    }

    /// `secs` seconds after the epoch (saturating).
    #[inline]
    pub const fn from_secs(secs: u64) -> Instant {
        Instant { micros: secs.saturating_mul(1_000_000) }
    }

    /// `micros` microseconds later, saturating at [`Instant::FAR_FUTURE`]:
    /// [`Instant`] `+` [`Duration`] for a span already in microseconds,
    /// without `Duration`'s seconds-and-nanoseconds conversions.
    #[inline]
    pub const fn add_micros(self, micros: u64) -> Instant {
        Instant { micros: self.micros.saturating_add(micros) }
    }

    /// Microseconds elapsed since `earlier`, zero if `earlier` is later:
    /// [`Instant::saturating_duration_since`] without building a
    /// [`Duration`].
    #[inline]
    pub const fn micros_since(self, earlier: Instant) -> u64 {
        self.micros.saturating_sub(earlier.micros)
    }

    /// Microseconds since the epoch.
    #[inline]
    pub const fn total_micros(self) -> u64 {
        self.micros
    }

    /// Whole milliseconds since the epoch.
    #[inline]
    pub const fn total_millis(self) -> u64 {
        self.micros / 1000
    }

    /// Time elapsed since `earlier`, or zero if `earlier` is later.
    #[inline]
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.micros.saturating_sub(earlier.micros))
    }

    /// `self + d`, or `None` on overflow.
    #[inline]
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        let d = u64::try_from(d.as_micros()).ok()?;
        self.micros.checked_add(d).map(Instant::from_micros)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::FAR_FUTURE`] rather than overflowing.
    #[inline]
    fn add(self, d: Duration) -> Instant {
        self.checked_add(d).unwrap_or(Instant::FAR_FUTURE)
    }
}

impl AddAssign<Duration> for Instant {
    #[inline]
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero when `rhs` is later.
    #[inline]
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    #[inline]
    fn sub(self, d: Duration) -> Instant {
        let d = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Instant::from_micros(self.micros.saturating_sub(d))
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Instant {
    /// Seconds with microsecond precision: `12.000345s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.micros / 1_000_000, self.micros % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(1500);
        assert_eq!(t + Duration::from_millis(500), Instant::from_secs(2));
        assert_eq!(t - Instant::from_secs(2), Duration::ZERO);
        assert_eq!(Instant::from_secs(2) - t, Duration::from_millis(500));
        assert_eq!(Instant::FAR_FUTURE + Duration::from_secs(1), Instant::FAR_FUTURE);
        assert_eq!(t - Duration::from_secs(10), Instant::ZERO);
        assert_eq!(format!("{t}"), "1.500000s");
        assert_eq!(t.add_micros(500_000), t + Duration::from_millis(500));
        assert_eq!(Instant::FAR_FUTURE.add_micros(1), Instant::FAR_FUTURE);
        assert_eq!((t.micros_since(Instant::from_secs(1)), Instant::ZERO.micros_since(t)), (500_000, 0));
    }
}
