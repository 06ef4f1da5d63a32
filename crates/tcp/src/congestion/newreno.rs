//! NewReno's window arithmetic (RFC 5681 §3.1, RFC 6582 §3.2): slow start,
//! additive increase of one SMSS per cwnd of data acknowledged, halving on
//! loss. The recovery episode itself (partial ACKs) is driven by the
//! connection.

use super::{half_flight, slow_start, CongestionControl, RtoUndo};
use sockstack_time::{Duration, Instant};

/// NewReno congestion control (RFC 5681, RFC 6582).
#[derive(Debug, Clone)]
pub struct NewReno {
    mss: usize,
    cwnd: usize,
    ssthresh: usize,
    /// Bytes acknowledged toward the next one-SMSS increase (RFC 5681 §3.1,
    /// the byte-counting form of "cwnd += SMSS*SMSS/cwnd").
    bytes_acked: usize,
    /// (cwnd, ssthresh) before the last reduction that may be undone (a
    /// fast recovery's, or an episode's first timeout), for
    /// [`CongestionControl::undo`] and [`CongestionControl::undo_timeout`].
    prior: Option<(usize, usize)>,
}

impl NewReno {
    /// A controller with an initial window of `initial_cwnd_segments` segments
    /// of `mss` bytes, in slow start.
    pub fn new(mss: usize, initial_cwnd_segments: u32) -> NewReno {
        let mss = mss.max(1);
        NewReno {
            mss,
            cwnd: mss * initial_cwnd_segments.max(1) as usize,
            ssthresh: usize::MAX,
            bytes_acked: 0,
            prior: None,
        }
    }
}

impl CongestionControl for NewReno {
    fn name(&self) -> &'static str {
        "reno"
    }

    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(&mut self, _now: Instant, acked: usize, _srtt: Duration) {
        let rest = slow_start(&mut self.cwnd, self.ssthresh, acked);
        if rest == 0 || self.cwnd < self.ssthresh {
            return;
        }
        // Congestion avoidance: one SMSS per cwnd's worth of ACKed bytes.
        self.bytes_acked += rest;
        while self.bytes_acked >= self.cwnd {
            self.bytes_acked -= self.cwnd;
            self.cwnd += self.mss;
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, flight: usize) {
        self.prior = Some((self.cwnd, self.ssthresh));
        self.ssthresh = half_flight(flight, self.mss);
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
    }

    fn on_recovery_exit(&mut self, _now: Instant) {
        // RFC 6582 §3.2 step 3 (full ACK): deflate to ssthresh.
        self.cwnd = self.ssthresh;
    }

    fn on_rto(&mut self, _now: Instant, flight: usize, undo: RtoUndo, repeated: bool) {
        match undo {
            RtoUndo::Save => self.prior = Some((self.cwnd, self.ssthresh)),
            RtoUndo::Keep => {}
            RtoUndo::Drop => self.prior = None,
        }
        if !repeated {
            self.ssthresh = half_flight(flight, self.mss);
        }
        self.cwnd = self.mss; // RFC 5681 §3.1: LW = 1 segment
        self.bytes_acked = 0;
    }

    fn on_idle_end(&mut self, _now: Instant, _idle: Duration) {
        // Growth by ACKs, not by time: nothing to leave out.
    }

    fn restart_after_idle(&mut self, _now: Instant, restart_window: usize) {
        self.cwnd = self.cwnd.min(restart_window.max(self.mss));
        self.bytes_acked = 0;
    }

    fn exit_slow_start(&mut self, _now: Instant) {
        self.ssthresh = self.cwnd;
        self.bytes_acked = 0;
    }

    fn undo(&mut self) {
        if let Some((cwnd, ssthresh)) = self.prior.take() {
            self.cwnd = self.cwnd.max(cwnd);
            self.ssthresh = self.ssthresh.max(ssthresh);
            self.bytes_acked = 0;
        }
    }

    fn undo_timeout(&mut self, cwnd_cap: usize) {
        if let Some((cwnd, ssthresh)) = self.prior.take() {
            self.cwnd = cwnd.min(cwnd_cap).max(self.cwnd);
            self.ssthresh = ssthresh;
            self.bytes_acked = 0;
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
    const RTT: Duration = Duration::from_millis(100);

    #[test]
    fn slow_start_doubles_per_rtt() {
        let mut r = NewReno::new(MSS, 10);
        assert_eq!(r.cwnd(), 10 * MSS);
        // One RTT: every segment of the window acknowledged.
        for _ in 0..10 {
            r.on_ack(Instant::ZERO, MSS, RTT);
        }
        assert_eq!(r.cwnd(), 20 * MSS);
    }

    #[test]
    fn congestion_avoidance_one_mss_per_rtt() {
        let mut r = NewReno::new(MSS, 10);
        r.on_congestion_event(Instant::ZERO, 40 * MSS);
        assert_eq!(r.ssthresh(), 20 * MSS);
        assert_eq!(r.cwnd(), 20 * MSS);
        for _ in 0..20 {
            r.on_ack(Instant::ZERO, MSS, RTT);
        }
        assert_eq!(r.cwnd(), 21 * MSS);
        for _ in 0..10 {
            r.on_ack(Instant::ZERO, MSS, RTT);
        }
        assert_eq!(r.cwnd(), 21 * MSS, "not yet a full window");
    }

    #[test]
    fn loss_reactions() {
        let mut r = NewReno::new(MSS, 10);
        r.on_congestion_event(Instant::ZERO, 3 * MSS);
        assert_eq!(r.ssthresh(), 2 * MSS, "floor of 2 SMSS");
        r.on_recovery_exit(Instant::ZERO);
        assert_eq!(r.cwnd(), 2 * MSS);
        r.on_rto(Instant::ZERO, 30 * MSS, RtoUndo::Drop, false);
        assert_eq!(r.cwnd(), MSS);
        assert_eq!(r.ssthresh(), 15 * MSS);
        // slow start again up to ssthresh, then linear
        for _ in 0..14 {
            r.on_ack(Instant::ZERO, MSS, RTT);
        }
        assert_eq!(r.cwnd(), 15 * MSS);
        r.on_ack(Instant::ZERO, MSS, RTT);
        assert_eq!(r.cwnd(), 15 * MSS);
    }

    #[test]
    fn undo_restores_window_and_threshold() {
        let mut c = NewReno::new(1000, 10);
        c.on_congestion_event(Instant::ZERO, 10_000);
        assert_eq!((c.cwnd(), c.ssthresh()), (5000, 5000));
        c.undo();
        assert_eq!((c.cwnd(), c.ssthresh()), (10_000, usize::MAX), "back in slow start");
        // A spurious timeout goes back to the state before it, however
        // many timeouts followed in its episode, the window capped (RFC
        // 4015 §3); one no undo can follow leaves nothing to undo.
        c.on_congestion_event(Instant::ZERO, 10_000);
        c.on_rto(Instant::ZERO, 5_000, RtoUndo::Save, false);
        c.on_rto(Instant::ZERO, 1_000, RtoUndo::Keep, true);
        assert_eq!((c.cwnd(), c.ssthresh()), (1000, 2500), "the second timeout holds ssthresh");
        c.undo_timeout(3_000);
        assert_eq!((c.cwnd(), c.ssthresh()), (3000, 5000), "ssthresh from before, cwnd capped");
        c.on_rto(Instant::ZERO, 3_000, RtoUndo::Save, false);
        c.undo_timeout(100_000);
        assert_eq!((c.cwnd(), c.ssthresh()), (3000, 5000), "no more than before the timeout");
        c.on_rto(Instant::ZERO, 3_000, RtoUndo::Save, false);
        c.on_rto(Instant::ZERO, 1_000, RtoUndo::Drop, true);
        c.undo_timeout(100_000);
        assert_eq!(c.cwnd(), 1000, "nothing kept to undo");
    }
}
