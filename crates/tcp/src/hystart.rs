//! HyStart++ (RFC 9406): leaving the initial slow start before it
//! overshoots. Slow start doubles the window every round trip until a loss;
//! on a path with a deep buffer that loss comes only after the queue has
//! filled, and the window then overshoots by up to the whole buffer, which
//! is lost in one burst. HyStart++ watches the minimum RTT of each round:
//! when it rises by a threshold (the queue is building), slow start turns
//! into Conservative Slow Start (a quarter of the growth) for a few rounds,
//! then into congestion avoidance — unless the RTT falls back, which shows
//! the rise was noise, and slow start resumes.
//!
//! Owns the per-round RTT state; the connection feeds it the RTT samples
//! and the ACKs of the initial slow start and applies what it returns.

use sockstack_time::Duration;
use sockstack_wire::SeqNumber;

/// RFC 9406 §4.3 constants.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
const MIN_RTT_DIVISOR: u32 = 8;
const N_RTT_SAMPLE: u32 = 8;
/// Conservative Slow Start grows by a quarter of what slow start would.
pub const CSS_GROWTH_DIVISOR: usize = 4;
const CSS_ROUNDS: u32 = 5;
/// The window, in segments, below which HyStart++ does not run (Linux
/// `hystart_low_window`).
const LOW_WINDOW: usize = 16;

/// Whether HyStart++ watches this ACK: only in the initial slow start
/// (RFC 9406 §4.1: `ssthresh` never set), and, as in Linux, only once the
/// window `cwnd` has reached 16 segments of `mss`. A smaller window cannot
/// overshoot a buffer by much, a round of it rarely yields the
/// `N_RTT_SAMPLE` samples the test needs (the receiver ACKs every second
/// segment), and an application that keeps its flight that small
/// (request and response) would pay for the bookkeeping on every ACK.
#[inline]
pub fn applies(cwnd: usize, ssthresh: usize, mss: usize) -> bool {
    ssthresh == usize::MAX && cwnd >= LOW_WINDOW * mss
}

/// What the window does for this ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    /// Standard slow start: grow by the bytes acknowledged.
    SlowStart,
    /// Conservative Slow Start: grow by a quarter of them.
    Conservative,
    /// CSS ran its rounds: set ssthresh to cwnd, congestion avoidance.
    ExitSlowStart,
}

/// HyStart++ state of one connection (RFC 9406 §4.2).
#[derive(Debug, Clone, Default)]
pub struct HyStart {
    /// The round ends when this is acknowledged (snd_nxt at its start).
    window_end: Option<SeqNumber>,
    last_round_min_rtt: Option<Duration>,
    current_round_min_rtt: Option<Duration>,
    rtt_sample_count: u32,
    /// In CSS: the minimum RTT that triggered it, and rounds spent there.
    css: Option<(Duration, u32)>,
}

impl HyStart {
    /// An RTT sample from an ACK during the initial slow start.
    pub fn on_rtt_sample(&mut self, rtt: Duration) {
        self.current_round_min_rtt = Some(self.current_round_min_rtt.map_or(rtt, |m| m.min(rtt)));
        self.rtt_sample_count += 1;
    }

    /// An ACK of new data during the initial slow start: cumulative ACK
    /// `ack`, with `snd_nxt` the end of what is sent. Returns how the
    /// window grows for it.
    #[inline]
    pub fn on_ack(&mut self, ack: SeqNumber, snd_nxt: SeqNumber) -> Growth {
        // §4.2: a new round begins when the previous one is acknowledged.
        if self.window_end.is_none_or(|end| ack.ge(end)) {
            self.window_end = Some(snd_nxt);
            if self.current_round_min_rtt.is_some() {
                self.last_round_min_rtt = self.current_round_min_rtt;
            }
            self.current_round_min_rtt = None;
            self.rtt_sample_count = 0;
            if let Some((baseline, rounds)) = self.css {
                if rounds + 1 >= CSS_ROUNDS {
                    return Growth::ExitSlowStart;
                }
                self.css = Some((baseline, rounds + 1));
            }
        }
        let enough = self.rtt_sample_count >= N_RTT_SAMPLE;
        match (self.css, self.current_round_min_rtt, self.last_round_min_rtt) {
            (None, Some(current), Some(last)) if enough => {
                let thresh = (last / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH);
                if current >= last + thresh {
                    self.css = Some((current, 0));
                    return Growth::Conservative;
                }
                Growth::SlowStart
            }
            (None, _, _) => Growth::SlowStart,
            (Some((baseline, _)), Some(current), _) if enough && current < baseline => {
                // §4.2: the RTT fell back below the baseline: a spurious
                // exit, resume slow start.
                self.css = None;
                Growth::SlowStart
            }
            (Some(_), _, _) => Growth::Conservative,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// One round of `n` ACKs with RTT `rtt`, round `r` of a flight where
    /// each round sends 100 octets per ACK; returns the growths.
    fn round(h: &mut HyStart, r: u32, n: u32, rtt: Duration) -> Vec<Growth> {
        (0..n)
            .map(|i| {
                h.on_rtt_sample(rtt);
                let ack = SeqNumber(r * 10_000 + i * 100 + 1);
                h.on_ack(ack, SeqNumber((r + 1) * 10_000))
            })
            .collect()
    }

    #[test]
    fn rising_rtt_enters_css_then_congestion_avoidance() {
        let mut h = HyStart::default();
        // Rounds at 20 ms: slow start.
        for r in 0..3 {
            assert!(round(&mut h, r, 10, ms(20)).iter().all(|g| *g == Growth::SlowStart));
        }
        // The queue builds: 20 ms + max(4 ms, 20/8 ms) = 24 ms is the
        // threshold; after 8 samples at 25 ms, CSS.
        let g = round(&mut h, 3, 10, ms(25));
        assert_eq!(g[..8], [Growth::SlowStart; 8]);
        assert_eq!(g[8], Growth::Conservative);
        // CSS lasts CSS_ROUNDS rounds, then ssthresh = cwnd.
        let mut exits = 0;
        for r in 4..10 {
            exits += round(&mut h, r, 10, ms(26)).iter().filter(|g| **g == Growth::ExitSlowStart).count();
            if exits > 0 {
                break;
            }
        }
        assert_eq!(exits, 1);
    }

    #[test]
    fn rtt_falling_back_resumes_slow_start() {
        let mut h = HyStart::default();
        round(&mut h, 0, 10, ms(20));
        let g = round(&mut h, 1, 10, ms(30));
        assert_eq!(*g.last().unwrap(), Growth::Conservative);
        // Next round the RTT is back under the 30 ms baseline.
        let g = round(&mut h, 2, 10, ms(21));
        assert_eq!(g[..7], [Growth::Conservative; 7]);
        assert_eq!(*g.last().unwrap(), Growth::SlowStart);
    }

    #[test]
    fn runs_in_the_initial_slow_start_from_sixteen_segments() {
        let mss = 1460;
        assert!(!applies(10 * mss, usize::MAX, mss), "initial window: too small");
        assert!(!applies(16 * mss - 1, usize::MAX, mss));
        assert!(applies(16 * mss, usize::MAX, mss));
        assert!(applies(1000 * mss, usize::MAX, mss));
        assert!(!applies(1000 * mss, 500 * mss, mss), "ssthresh set: not the initial slow start");
    }

    #[test]
    fn small_rtt_noise_stays_in_slow_start() {
        // 100 µs path: the threshold is at least 4 ms, so jitter of a few
        // hundred microseconds is not a queue.
        let mut h = HyStart::default();
        for r in 0..20 {
            let rtt = Duration::from_micros(100 + u64::from(r % 3) * 300);
            assert!(round(&mut h, r, 10, rtt).iter().all(|g| *g == Growth::SlowStart));
        }
    }
}
