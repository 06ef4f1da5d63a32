//! Round-trip time estimation and the retransmission timeout (RFC 6298).
//!
//! Owns SRTT, RTTVAR, the computed RTO and its exponential backoff. Which
//! samples are valid (Karn's rule, timestamps) is the connection's decision;
//! this module only folds samples in.

use crate::congestion::RtoUndo;
use sockstack_time::{Duration, Instant};

/// RFC 6298 §2: K = 4, alpha = 1/8, beta = 1/4. Clock granularity G is
/// taken as 1 ms (our timestamp clock).
const K: u64 = 4;
const G_US: u64 = 1000;

/// RTT estimator and retransmission timer value (RFC 6298).
#[derive(Debug, Clone)]
pub struct RttEstimator {
    /// Everything in whole microseconds: integer arithmetic on every ACK,
    /// not `Duration`'s seconds-and-nanoseconds.
    srtt_us: Option<u64>,
    rttvar_us: u64,
    min_rtt_us: Option<u64>,
    latest_us: Option<u64>,
    rto_us: u64,
    backoff: u32,
    rto_min_us: u64,
    rto_max_us: u64,
    /// RFC 4015 §3: SRTT_prev and RTTVAR_prev, kept from the
    /// first timeout of an episode that may prove spurious.
    prior: Option<Prior>,
}

/// The estimator before a timeout (RFC 4015 §3), in microseconds: 32
/// bits reach over an hour (longer saturates), and keep the state small
/// in every connection.
#[derive(Debug, Clone, Copy)]
struct Prior {
    srtt_us: u32,
    rttvar_us: u32,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl RttEstimator {
    /// RFC 6298 §2.1: before any sample, RTO is the initial value.
    pub fn new(rto_initial: Duration, rto_min: Duration, rto_max: Duration) -> RttEstimator {
        let (rto_min_us, rto_max_us) = (micros(rto_min), micros(rto_max));
        RttEstimator {
            srtt_us: None,
            rttvar_us: 0,
            min_rtt_us: None,
            latest_us: None,
            rto_us: micros(rto_initial).clamp(rto_min_us, rto_max_us.max(rto_min_us)),
            backoff: 0,
            rto_min_us,
            rto_max_us,
            prior: None,
        }
    }

    /// Folds in one valid RTT measurement (RFC 6298 §2.2, §2.3) and clears
    /// any backoff (a valid sample means the path answers again).
    pub fn sample(&mut self, rtt: Duration) {
        self.sample_micros(micros(rtt));
    }

    /// [`RttEstimator::sample`] of `r` microseconds.
    pub fn sample_micros(&mut self, r: u64) {
        self.latest_us = Some(r);
        self.min_rtt_us = Some(self.min_rtt_us.map_or(r, |m| m.min(r)));
        let s = match self.srtt_us {
            None => {
                // RFC 6298 §2.2
                self.rttvar_us = r / 2;
                r
            }
            Some(s) => {
                // RFC 6298 §2.3: RTTVAR first, using the old SRTT.
                let err = s.abs_diff(r);
                self.rttvar_us = self.rttvar_us.saturating_mul(3) / 4 + err / 4;
                s.saturating_mul(7) / 8 + r / 8
            }
        };
        self.srtt_us = Some(s);
        self.set_rto(s);
    }

    /// RFC 6298 §2.3, §2.4 (lower bound; Linux uses 200 ms), §2.5 (upper),
    /// from SRTT `s` and the current RTTVAR; a valid sample clears backoff.
    fn set_rto(&mut self, s: u64) {
        let rto = s.saturating_add(G_US.max(self.rttvar_us.saturating_mul(K)));
        self.rto_us = rto.clamp(self.rto_min_us, self.rto_max_us.max(self.rto_min_us));
        self.backoff = 0;
    }

    /// A data segment's retransmission timer expired: the estimate is
    /// kept for an undo as `undo` says (RFC 4015 §3, as the congestion
    /// controller keeps its window), then the timer backs off (RFC 6298
    /// §5.5).
    pub fn on_timeout(&mut self, undo: RtoUndo) {
        match undo {
            RtoUndo::Save => self.save_prior(),
            RtoUndo::Keep => {}
            RtoUndo::Drop => self.forget_prior(),
        }
        self.back_off();
    }

    /// RFC 4015 §3, at a timeout that may prove spurious (before the
    /// window and the timer change):
    /// SRTT_prev = SRTT + 2G, RTTVAR_prev = RTTVAR. Nothing is kept before
    /// the first sample (there is no estimate to return to).
    fn save_prior(&mut self) {
        let narrow = |us: u64| u32::try_from(us).unwrap_or(u32::MAX);
        self.prior = self
            .srtt_us
            .map(|s| Prior { srtt_us: narrow(s.saturating_add(2 * G_US)), rttvar_us: narrow(self.rttvar_us) });
    }

    /// The timeout was not spurious, or cannot be judged: nothing to return to.
    pub fn forget_prior(&mut self) {
        self.prior = None;
    }

    /// RFC 4015 §3, adapting the retransmission timer after a spurious
    /// timeout, with the first sample `r` (microseconds) of data sent after
    /// it: SRTT = max(SRTT_prev, r), RTTVAR = max(RTTVAR_prev, r/2), RTO =
    /// SRTT + max(G, K·RTTVAR). The delay spike that caused the timeout
    /// weighs in at once, not an eighth at a time, so the next spike of its
    /// size does not fire the timer again. Without a prior this is an
    /// ordinary sample.
    pub fn rebase_micros(&mut self, r: u64) {
        let Some(prior) = self.prior.take() else {
            return self.sample_micros(r);
        };
        self.latest_us = Some(r);
        self.min_rtt_us = Some(self.min_rtt_us.map_or(r, |m| m.min(r)));
        let s = u64::from(prior.srtt_us).max(r);
        self.rttvar_us = u64::from(prior.rttvar_us).max(r / 2);
        self.srtt_us = Some(s);
        self.set_rto(s);
    }

    /// RFC 6298 §5.5: the timer expired, back off (double, up to the max).
    pub fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// RFC 6298 §5.7: the SYN (or SYN-ACK) timed out and no sample came
    /// since: data transmission begins with an RTO of at least 3 seconds
    /// (Linux TCP_TIMEOUT_FALLBACK), its backoff cleared.
    pub fn after_syn_timeout(&mut self) {
        if self.srtt_us.is_none() {
            self.rto_us = self.rto_us.max(3_000_000).clamp(self.rto_min_us, self.rto_max_us.max(self.rto_min_us));
            self.backoff = 0;
        }
    }

    /// RTO including backoff, bounded by `rto_max`.
    pub fn rto(&self) -> Duration {
        Duration::from_micros(self.rto_micros())
    }

    /// [`RttEstimator::rto`] in microseconds.
    #[inline]
    pub fn rto_micros(&self) -> u64 {
        let rto = match self.backoff {
            0 => self.rto_us,
            b => self.rto_us.checked_shl(b.min(63)).filter(|r| r >> b.min(63) == self.rto_us).unwrap_or(u64::MAX),
        };
        rto.min(self.rto_max_us)
    }

    /// When a retransmission timer started at `now` expires.
    #[inline]
    pub fn rto_deadline(&self, now: Instant) -> Instant {
        now.add_micros(self.rto_micros())
    }

    /// [`RttEstimator::srtt`] in microseconds.
    pub fn srtt_micros(&self) -> Option<u64> {
        self.srtt_us
    }

    /// RTO without backoff.
    pub fn base_rto(&self) -> Duration {
        Duration::from_micros(self.rto_us)
    }

    /// Consecutive backoffs since the last valid sample (the RTO doubles with
    /// each).
    pub fn backoff(&self) -> u32 {
        self.backoff
    }

    /// SRTT, the smoothed RTT (RFC 6298 §2); `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt_us.map(Duration::from_micros)
    }

    /// RTTVAR, the RTT variation (RFC 6298 §2); zero before the first sample.
    pub fn rttvar(&self) -> Duration {
        Duration::from_micros(self.rttvar_us)
    }

    /// Smallest RTT sampled so far; `None` before the first sample.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt_us.map(Duration::from_micros)
    }

    /// The most recent RTT sample; `None` before the first.
    pub fn latest(&self) -> Option<Duration> {
        self.latest_us.map(Duration::from_micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est() -> RttEstimator {
        RttEstimator::new(Duration::from_secs(1), Duration::from_millis(200), Duration::from_secs(120))
    }

    #[test]
    fn first_and_subsequent_samples() {
        let mut e = est();
        assert_eq!(e.rto(), Duration::from_secs(1));
        e.sample(Duration::from_millis(100));
        assert_eq!(e.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(e.rttvar(), Duration::from_millis(50));
        // 100 + 4*50 = 300 ms
        assert_eq!(e.rto(), Duration::from_millis(300));
        e.sample(Duration::from_millis(200));
        // rttvar = 3/4*50 + 1/4*100 = 62.5; srtt = 87.5 + 25 = 112.5
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(362_500));
    }

    /// RFC 4015 §3: after a spurious timeout, the first sample of new data
    /// re-initialises the estimator from what it was before the timeout
    /// (SRTT + 2G) or the sample, whichever is larger.
    #[test]
    fn a_spurious_timeout_rebases_on_the_prior_estimate() {
        let mut e = est();
        e.sample(Duration::from_millis(100));
        // srtt 100 ms, rttvar 50 ms.
        e.on_timeout(RtoUndo::Save);
        // A sample of the spike itself folds in as usual...
        e.sample(Duration::from_millis(900));
        assert_eq!(e.srtt(), Some(Duration::from_micros(200_000)));
        // ...and the new data's sample, smaller than the prior, restores it.
        e.rebase_micros(60_000);
        assert_eq!(e.srtt(), Some(Duration::from_millis(102)), "SRTT_prev = SRTT + 2G");
        assert_eq!(e.rttvar(), Duration::from_millis(50), "RTTVAR_prev");
        assert_eq!(e.rto(), Duration::from_millis(302), "no backoff left");
        assert_eq!(e.latest(), Some(Duration::from_millis(60)));
        // Once only: later samples fold in.
        e.rebase_micros(60_000);
        assert_eq!(e.rttvar(), Duration::from_micros(37_500 + 10_500));

        // A sample above the prior takes over whole; a later timeout of
        // the episode keeps the prior of its first.
        let mut e = est();
        e.sample(Duration::from_millis(100));
        e.on_timeout(RtoUndo::Save);
        e.sample(Duration::from_millis(900));
        e.on_timeout(RtoUndo::Keep);
        assert_eq!(e.backoff(), 1);
        e.rebase_micros(400_000);
        assert_eq!(e.srtt(), Some(Duration::from_millis(400)));
        assert_eq!(e.rttvar(), Duration::from_millis(200));
        assert_eq!(e.rto(), Duration::from_millis(1200));

        // A prior forgotten (the timeout was genuine): an ordinary sample.
        let mut e = est();
        e.sample(Duration::from_millis(100));
        e.on_timeout(RtoUndo::Save);
        e.on_timeout(RtoUndo::Drop);
        e.rebase_micros(400_000);
        assert_eq!(e.srtt(), Some(Duration::from_micros(137_500)));
    }

    #[test]
    fn rto_bounds_and_backoff() {
        let mut e = est();
        e.sample(Duration::from_millis(1));
        assert_eq!(e.rto(), Duration::from_millis(200), "rto_min");
        e.back_off();
        assert_eq!(e.rto(), Duration::from_millis(400));
        e.back_off();
        assert_eq!(e.rto(), Duration::from_millis(800));
        for _ in 0..40 {
            e.back_off();
        }
        assert_eq!(e.rto(), Duration::from_secs(120), "rto_max");
        for _ in 0..100 {
            e.back_off();
        }
        assert_eq!(e.rto(), Duration::from_secs(120), "a shift past 64 bits is still rto_max");
        let now = Instant::from_secs(5);
        assert_eq!(e.rto_deadline(now), now + Duration::from_secs(120));
        e.sample(Duration::from_millis(1));
        assert_eq!(e.rto(), Duration::from_millis(200), "a valid sample clears backoff");
    }
}
