//! Round-trip time estimation and the retransmission timeout (RFC 6298).
//!
//! Owns SRTT, RTTVAR, the computed RTO and its exponential backoff. Which
//! samples are valid (Karn's rule, timestamps) is the connection's decision;
//! this module only folds samples in.

use sockstack_time::Duration;

/// RFC 6298 §2: K = 4, alpha = 1/8, beta = 1/4. Clock granularity G is
/// taken as 1 ms (our timestamp clock).
const K: u64 = 4;
const G_US: u64 = 1000;

/// RTT estimator and retransmission timer value (RFC 6298).
#[derive(Debug, Clone)]
pub struct RttEstimator {
    /// SRTT and RTTVAR in whole microseconds: integer arithmetic on every
    /// ACK, not `Duration`'s seconds-and-nanoseconds.
    srtt_us: Option<u64>,
    rttvar_us: u64,
    min_rtt: Option<Duration>,
    latest: Option<Duration>,
    rto: Duration,
    backoff: u32,
    rto_min: Duration,
    rto_max: Duration,
}

impl RttEstimator {
    /// RFC 6298 §2.1: before any sample, RTO is the initial value.
    pub fn new(rto_initial: Duration, rto_min: Duration, rto_max: Duration) -> RttEstimator {
        RttEstimator {
            srtt_us: None,
            rttvar_us: 0,
            min_rtt: None,
            latest: None,
            rto: rto_initial.clamp(rto_min, rto_max),
            backoff: 0,
            rto_min,
            rto_max,
        }
    }

    /// Folds in one valid RTT measurement (RFC 6298 §2.2, §2.3) and clears
    /// any backoff (a valid sample means the path answers again).
    pub fn sample(&mut self, rtt: Duration) {
        self.latest = Some(rtt);
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        let r = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
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
        // RFC 6298 §2.3, §2.4 (lower bound; Linux uses 200 ms), §2.5 (upper).
        let rto = s.saturating_add(G_US.max(self.rttvar_us.saturating_mul(K)));
        self.rto = Duration::from_micros(rto).clamp(self.rto_min, self.rto_max);
        self.backoff = 0;
    }

    /// RFC 6298 §5.5: the timer expired, back off (double, up to the max).
    pub fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// RTO including backoff, bounded by `rto_max`.
    pub fn rto(&self) -> Duration {
        let mut rto = self.rto;
        for _ in 0..self.backoff.min(32) {
            rto = rto.saturating_mul(2);
            if rto >= self.rto_max {
                return self.rto_max;
            }
        }
        rto.min(self.rto_max)
    }

    /// RTO without backoff.
    pub fn base_rto(&self) -> Duration {
        self.rto
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
        self.min_rtt
    }

    /// The most recent RTT sample; `None` before the first.
    pub fn latest(&self) -> Option<Duration> {
        self.latest
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
        e.sample(Duration::from_millis(1));
        assert_eq!(e.rto(), Duration::from_millis(200), "a valid sample clears backoff");
    }
}
