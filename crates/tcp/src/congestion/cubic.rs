//! CUBIC (RFC 9438), Linux's default controller.
//!
//! After a loss the window follows W_cubic(t) = C·(t − K)³ + W_max (§4.2):
//! concave up to the previous maximum W_max at t = K, then convex probing
//! beyond it. A Reno-equivalent estimate W_est (§4.3) keeps CUBIC at least
//! as aggressive as Reno on short-RTT / small-window paths (the
//! "Reno-friendly region"). β = 0.7 (§4.6), fast convergence (§4.7).
//! Windows are kept in segments as f64 internally, as the RFC writes them.

use super::{slow_start, CongestionControl, RtoUndo};
use sockstack_time::{Duration, Instant};

/// RFC 9438 §5: C = 0.4, β_cubic = 0.7.
pub const C: f64 = 0.4;
pub const BETA: f64 = 0.7;

/// CUBIC congestion control (RFC 9438).
#[derive(Debug, Clone)]
pub struct Cubic {
    mss: usize,
    cwnd: usize,
    ssthresh: usize,
    /// Window (segments) just before the last reduction.
    w_max: f64,
    /// Time (s) to get back to W_max.
    k: f64,
    /// Start of the current congestion-avoidance epoch.
    epoch_start: Option<Instant>,
    /// Reno-friendly estimate (segments), §4.3.
    w_est: f64,
    /// cwnd at the epoch start (segments).
    cwnd_epoch: f64,
    /// The state before the last reduction that may be undone (a fast
    /// recovery's, or an episode's first timeout), for
    /// [`CongestionControl::undo`] and [`CongestionControl::undo_timeout`]
    /// (RFC 9438 §4.9: cwnd, ssthresh, W_max, K, the epoch and W_est as
    /// they were).
    prior: Option<Box<Cubic>>,
}

impl Cubic {
    /// A controller with an initial window of `initial_cwnd_segments` segments
    /// of `mss` bytes, in slow start.
    pub fn new(mss: usize, initial_cwnd_segments: u32) -> Cubic {
        let mss = mss.max(1);
        Cubic {
            mss,
            cwnd: mss * initial_cwnd_segments.max(1) as usize,
            ssthresh: usize::MAX,
            w_max: 0.0,
            k: 0.0,
            epoch_start: None,
            w_est: 0.0,
            cwnd_epoch: 0.0,
            prior: None,
        }
    }

    /// Keeps the state now for an undo. Rare (a loss): a box keeps the
    /// controller small the rest of the time. Only the last reduction is
    /// undone: the older state goes first, so the copy does not carry it
    /// along.
    fn save_prior(&mut self) {
        self.prior = None;
        self.prior = Some(Box::new(self.clone()));
    }

    /// RFC 9438 §4.2 eq. 1, in segments; `t` in seconds since the epoch.
    pub fn w_cubic(&self, t: f64) -> f64 {
        C * (t - self.k).powi(3) + self.w_max
    }

    /// K (RFC 9438 §4.2): seconds from the start of the epoch until W_cubic is
    /// back at W_max.
    pub fn k(&self) -> f64 {
        self.k
    }

    /// W_max (RFC 9438 §4.2): the window, in segments, just before the last
    /// reduction.
    pub fn w_max(&self) -> f64 {
        self.w_max
    }

    fn segs(&self) -> f64 {
        self.cwnd as f64 / self.mss as f64
    }

    /// §4.6 multiplicative decrease with §4.7 fast convergence.
    fn reduce(&mut self) {
        let cwnd = self.segs();
        self.w_max = if cwnd < self.w_max { cwnd * (1.0 + BETA) / 2.0 } else { cwnd };
        self.ssthresh = ((cwnd * BETA) as usize * self.mss).max(2 * self.mss);
        self.epoch_start = None;
    }
}

impl CongestionControl for Cubic {
    fn name(&self) -> &'static str {
        "cubic"
    }

    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(&mut self, now: Instant, acked: usize, srtt: Duration) {
        let acked = slow_start(&mut self.cwnd, self.ssthresh, acked);
        if acked == 0 || self.cwnd < self.ssthresh {
            return;
        }
        let cwnd = self.segs();
        let epoch = match self.epoch_start {
            Some(e) => e,
            None => {
                // §4.2: new epoch. K from how far we are below W_max.
                self.epoch_start = Some(now);
                self.cwnd_epoch = cwnd;
                self.w_est = cwnd;
                if self.w_max <= cwnd {
                    self.w_max = cwnd;
                    self.k = 0.0;
                } else {
                    self.k = ((self.w_max - cwnd) / C).cbrt();
                }
                now
            }
        };
        let segments_acked = acked as f64 / self.mss as f64;
        let t = (now - epoch).as_secs_f64();
        let rtt = srtt.as_secs_f64();
        // §4.3: Reno-friendly estimate; α = 3(1−β)/(1+β) until W_max, then 1.
        let alpha = if self.w_est >= self.w_max { 1.0 } else { 3.0 * (1.0 - BETA) / (1.0 + BETA) };
        self.w_est += alpha * segments_acked / cwnd;
        let w_cubic = self.w_cubic(t);
        let new = if w_cubic < self.w_est {
            // §4.3 Reno-friendly region.
            self.w_est
        } else {
            // §4.4/§4.5: move toward W_cubic(t + RTT), at most 1.5·cwnd.
            let target = self.w_cubic(t + rtt).clamp(cwnd, 1.5 * cwnd);
            cwnd + (target - cwnd) / cwnd * segments_acked
        };
        if new > cwnd {
            self.cwnd = ((new * self.mss as f64) as usize).max(self.cwnd);
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, _flight: usize) {
        self.save_prior();
        self.reduce();
        self.cwnd = self.ssthresh;
    }

    fn on_recovery_exit(&mut self, _now: Instant) {
        self.cwnd = self.ssthresh;
    }

    fn on_rto(&mut self, _now: Instant, _flight: usize, undo: RtoUndo, repeated: bool) {
        match undo {
            RtoUndo::Save => self.save_prior(),
            RtoUndo::Keep => {}
            RtoUndo::Drop => self.prior = None,
        }
        if !repeated {
            self.reduce();
        }
        self.cwnd = self.mss;
        // §4.8: the first congestion avoidance after a timeout grows from
        // where it begins, K = 0 and W_max its window (so W_max goes: the
        // next epoch takes the window it starts at), not back towards the
        // window before the timeout.
        self.w_max = 0.0;
        self.epoch_start = None;
    }

    fn restart_after_idle(&mut self, _now: Instant, restart_window: usize) {
        self.cwnd = self.cwnd.min(restart_window.max(self.mss));
        // A new epoch starts with the next ACK (Linux bictcp_cwnd_event
        // shifts the epoch; restarting it is the RFC 9438 §4.2 reading).
        self.epoch_start = None;
    }

    #[inline]
    fn on_idle_end(&mut self, now: Instant, idle: Duration) {
        // The epoch moves on by the idle time, never past now.
        if let Some(e) = self.epoch_start {
            self.epoch_start = Some((e + idle).min(now));
        }
    }

    fn exit_slow_start(&mut self, _now: Instant) {
        // The next ACK starts an epoch; with W_max below cwnd it begins at
        // K = 0 from the current window (§4.2).
        self.ssthresh = self.cwnd;
        self.epoch_start = None;
    }

    fn undo(&mut self) {
        if let Some(prior) = self.prior.take() {
            let cwnd = self.cwnd.max(prior.cwnd);
            *self = Cubic { cwnd, mss: self.mss, ..*prior };
        }
    }

    fn undo_timeout(&mut self, cwnd_cap: usize) {
        if let Some(prior) = self.prior.take() {
            let cwnd = prior.cwnd.min(cwnd_cap).max(self.cwnd);
            // The epoch before the timeout would count the stall as growth
            // time (RFC 9438 §4.2's t): a new one starts with the next ACK.
            *self = Cubic { cwnd, mss: self.mss, epoch_start: None, ..*prior };
        }
    }

    fn raise_cwnd(&mut self, min: usize) {
        self.cwnd = self.cwnd.max(min);
    }

    fn set_mss(&mut self, mss: usize) {
        let segs = (self.cwnd / self.mss).max(1);
        self.mss = mss.max(1);
        self.cwnd = segs * self.mss;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    /// Acks one full window per RTT for `rtts` round trips.
    fn run(c: &mut Cubic, start: Instant, rtt: Duration, rtts: u32) -> Instant {
        let mut now = start;
        for _ in 0..rtts {
            let segs = c.cwnd() / MSS;
            for _ in 0..segs {
                c.on_ack(now, MSS, rtt);
            }
            now += rtt;
        }
        now
    }

    #[test]
    fn slow_start_then_beta_reduction() {
        let mut c = Cubic::new(MSS, 10);
        run(&mut c, Instant::ZERO, Duration::from_millis(100), 3);
        assert_eq!(c.cwnd(), 80 * MSS);
        c.on_congestion_event(Instant::ZERO, 80 * MSS);
        assert_eq!(c.cwnd(), 56 * MSS, "β = 0.7");
        assert_eq!(c.w_max(), 80.0);
        // Fast convergence: a second loss below W_max lowers W_max further.
        c.on_congestion_event(Instant::ZERO, 56 * MSS);
        assert!((c.w_max() - 56.0 * 0.85).abs() < 1e-9);
        c.on_rto(Instant::ZERO, 0, RtoUndo::Drop, false);
        assert_eq!(c.cwnd(), MSS);
    }

    /// RFC 9438 §4.8: after a timeout, the first congestion avoidance
    /// grows from where it begins (K = 0, W_max its window), not back up a
    /// concave curve towards the window before the timeout.
    #[test]
    fn after_a_timeout_the_epoch_starts_from_the_window_it_has() {
        let mut c = Cubic::new(MSS, 10);
        c.cwnd = 100 * MSS;
        c.on_rto(Instant::ZERO, 0, RtoUndo::Drop, false);
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, 70 * MSS));
        let rtt = Duration::from_millis(100);
        let mut now = Instant::ZERO;
        while c.cwnd() < c.ssthresh() {
            now += rtt;
            c.on_ack(now, c.cwnd(), rtt);
        }
        now += rtt;
        c.on_ack(now, MSS, rtt);
        assert_eq!(c.k(), 0.0);
        assert!(c.w_max() >= 70.0 && c.w_max() < 71.0, "W_max {}", c.w_max());
    }

    /// RFC 9438 §5.8: t leaves out the time the application had nothing
    /// to send. After ten idle seconds, the window resumes where the curve
    /// was, not ten seconds further along it (where growth would be at its
    /// 1.5× per RTT cap).
    #[test]
    fn idle_time_does_not_count_in_the_epoch() {
        let rtt = Duration::from_millis(100);
        let grow = |idle: Option<Duration>| {
            let mut c = Cubic::new(MSS, 10);
            c.cwnd = 100 * MSS;
            c.on_congestion_event(Instant::ZERO, 100 * MSS);
            c.on_recovery_exit(Instant::ZERO);
            let mut now = run(&mut c, Instant::ZERO, rtt, 2);
            if let Some(idle) = idle {
                now += idle;
                c.on_idle_end(now, idle);
            }
            run(&mut c, now, rtt, 1);
            c.cwnd()
        };
        let (busy, after_idle) = (grow(None), grow(Some(Duration::from_secs(10))));
        assert_eq!(after_idle, busy);
    }

    #[test]
    fn cubic_curve_concave_then_plateau_then_convex() {
        let mut c = Cubic::new(MSS, 10);
        // Put it in congestion avoidance at W_max = 100 segments.
        c.cwnd = 100 * MSS;
        c.on_congestion_event(Instant::ZERO, 100 * MSS);
        assert_eq!(c.cwnd(), 70 * MSS);
        // Long RTT so that the Reno-friendly estimate (≈0.53 segment per
        // RTT) stays below the curve for the whole run.
        let rtt = Duration::from_millis(200);
        let start = Instant::from_secs(10);
        c.on_ack(start, MSS, rtt);
        let k = c.k();
        // K = cbrt(W_max·(1−β)/C) = cbrt(75) ≈ 4.217 s (eq. 2)
        assert!((k - 75f64.cbrt()).abs() < 0.01, "K = {k}");
        let mut samples = Vec::new();
        let mut now = start;
        while now < start + Duration::from_secs(8) {
            now = run(&mut c, now, rtt, 1);
            samples.push(((now - start).as_secs_f64(), c.cwnd() as f64 / MSS as f64));
        }
        // It follows W_cubic(t) closely (within a few segments)...
        for &(t, w) in &samples {
            let expected = c.w_cubic(t);
            assert!((w - expected).abs() < 4.0, "t={t:.2} w={w:.1} W_cubic={expected:.1}");
        }
        // ...growing fast at first, slowly around K (plateau at W_max),
        // fast again after (convex region).
        let at = |t: f64| samples.iter().find(|s| s.0 >= t).unwrap().1;
        let early = at(1.0) - at(0.5);
        let plateau = at(k + 0.25) - at(k - 0.25);
        let late = at(7.5) - at(7.0);
        assert!(early > plateau && late > plateau, "{early} {plateau} {late}");
        assert!((at(k) - 100.0).abs() < 3.0);
    }

    #[test]
    fn reno_friendly_region_on_short_rtt() {
        let mut c = Cubic::new(MSS, 10);
        c.cwnd = 20 * MSS;
        c.on_congestion_event(Instant::ZERO, 20 * MSS);
        assert_eq!(c.cwnd(), 14 * MSS);
        // 1 ms RTT: in 100 RTTs (0.1 s) the cubic curve barely moves from
        // 14 segments (K ≈ 2.47 s), while Reno would add
        // α ≈ 0.53 segment per RTT.
        let rtt = Duration::from_millis(1);
        let end = run(&mut c, Instant::from_secs(1), rtt, 100);
        let w = c.cwnd() as f64 / MSS as f64;
        let cubic_only = c.w_cubic((end - Instant::from_secs(1)).as_secs_f64());
        assert!(cubic_only < 15.0, "{cubic_only}");
        assert!(w > 20.0, "Reno-friendly growth dominates, got {w}");
    }

    #[test]
    fn undo_restores_the_state_before_the_reduction() {
        // RFC 9438 §4.9: a spurious reduction is taken back whole.
        let mut c = Cubic::new(MSS, 10);
        c.cwnd = 100 * MSS;
        c.on_congestion_event(Instant::ZERO, 100 * MSS);
        let rtt = Duration::from_millis(100);
        c.on_ack(Instant::from_secs(1), MSS, rtt);
        let (w_max, k) = (c.w_max(), c.k());
        // The second reduction proves spurious.
        let grown = c.cwnd();
        c.on_congestion_event(Instant::from_secs(2), grown);
        assert!(c.w_max() < w_max && c.cwnd() < grown);
        c.undo();
        assert_eq!((c.cwnd(), c.ssthresh(), c.w_max(), c.k()), (grown, 70 * MSS, w_max, k));
        // Once only.
        c.undo();
        assert_eq!(c.cwnd(), grown);
        // A spurious timeout goes back to the state before it, however
        // many timeouts followed in its episode, the window capped (RFC
        // 4015 §3) and a new epoch to come.
        c.on_congestion_event(Instant::from_secs(3), grown);
        let (ssthresh, w_max, k) = (c.ssthresh(), c.w_max(), c.k());
        c.on_rto(Instant::from_secs(4), 0, RtoUndo::Save, false);
        c.on_rto(Instant::from_secs(5), 0, RtoUndo::Keep, true);
        assert_eq!(c.cwnd(), MSS);
        c.undo_timeout(20 * MSS);
        assert_eq!((c.cwnd(), c.ssthresh(), c.w_max(), c.k()), (20 * MSS, ssthresh, w_max, k));
        assert!(c.epoch_start.is_none());
        // Nothing kept after a timeout no undo can follow.
        c.on_rto(Instant::from_secs(6), 0, RtoUndo::Drop, true);
        c.undo_timeout(20 * MSS);
        assert_eq!(c.cwnd(), MSS);
    }
}
