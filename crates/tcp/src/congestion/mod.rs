//! Congestion control: one trait, two algorithms.
//!
//! The connection owns loss *detection* and recovery (RFC 5681 §3.2,
//! RFC 6582, RFC 6675) and tells the controller what happened; the
//! controller owns `cwnd` and `ssthresh` and how they evolve: slow start and
//! congestion avoidance growth, the multiplicative decrease on a loss event,
//! and the collapse to one segment after an RTO. All quantities are bytes.

use core::fmt;
use sockstack_time::{Duration, Instant};

mod cubic;
mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;

use crate::config::CongestionAlgorithm;

/// A congestion controller: owns `cwnd` and `ssthresh` (in bytes) and
/// reacts to the events the connection reports.
pub trait CongestionControl: fmt::Debug + Send {
    /// Name as `ss -ti` prints it ("cubic", "reno").
    fn name(&self) -> &'static str;
    /// Congestion window, bytes.
    fn cwnd(&self) -> usize;
    /// Slow-start threshold, bytes (`usize::MAX` until the first loss).
    fn ssthresh(&self) -> usize;
    /// `acked` new bytes were cumulatively acknowledged outside loss
    /// recovery while the sender was cwnd-limited. `srtt` is the smoothed
    /// RTT (or a default before the first sample).
    fn on_ack(&mut self, now: Instant, acked: usize, srtt: Duration);
    /// A loss was detected by duplicate ACKs / SACK: fast recovery begins
    /// (RFC 5681 §3.2 step 2, RFC 9438 §4.6). `flight` is the data
    /// outstanding when the loss was detected.
    fn on_congestion_event(&mut self, now: Instant, flight: usize);
    /// Fast recovery ended (the recovery point was acknowledged).
    fn on_recovery_exit(&mut self, now: Instant);
    /// The retransmission timer expired (RFC 5681 §3.1 eq. 4, loss window).
    /// `undo` says what becomes of the state kept for an undo. `repeated`:
    /// the recovery a reduction began has not ended (the same data timed
    /// out again, or the timeout came during fast recovery): ssthresh is
    /// held (RFC 5681 §3.1, Linux `tcp_enter_loss`), only the window
    /// falls to the loss window.
    fn on_rto(&mut self, now: Instant, flight: usize, undo: RtoUndo, repeated: bool);
    /// Slow start ends without a loss (HyStart++, RFC 9406 §4.2):
    /// ssthresh = cwnd, congestion avoidance from here.
    fn exit_slow_start(&mut self, now: Instant);
    /// The sender's MSS changed (after the handshake, or PMTU discovery).
    fn set_mss(&mut self, mss: usize);
    /// RFC 5681 §4.1: after an idle period longer than the RTO, restart
    /// from at most `restart_window` (the initial window); ssthresh stays.
    fn restart_after_idle(&mut self, now: Instant, restart_window: usize);
    /// Sending resumes at `now` after `idle` with nothing in flight (the
    /// application had nothing to send): window growth that runs on time
    /// leaves that time out (RFC 9438 §5.8: CUBIC's t excludes
    /// application-limited periods; Linux `bictcp_cwnd_event`,
    /// CA_EVENT_TX_START).
    fn on_idle_end(&mut self, now: Instant, idle: Duration);
    /// The last fast-recovery reduction was spurious: the peer reported
    /// every retransmission of that recovery as a duplicate (RFC 3708).
    /// Back to the state before it (RFC 9438 §4.9), the window no smaller
    /// than now (Linux `tcp_undo_cwnd_reduction`). Nothing happens when
    /// there is nothing to undo.
    fn undo(&mut self);
    /// The last timeout was spurious (RFC 3522): RFC 4015 §3's response.
    /// Back to the state before it (ssthresh; for CUBIC W_max and K too),
    /// but the window at most `cwnd_cap` (FlightSize + min(bytes acked,
    /// IW)), so that the ACKs to come clock the sending out instead of
    /// one burst, and never below the window now; a congestion-avoidance
    /// epoch starts afresh. Nothing happens when there is nothing to undo.
    fn undo_timeout(&mut self, cwnd_cap: usize);
    /// The window at least `min` (F-RTO's return to the conventional
    /// recovery, RFC 5682 §2.1 step 3a, after its new segments took the
    /// window's room).
    fn raise_cwnd(&mut self, min: usize);
}

/// What a timeout does with the state a controller keeps for an undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtoUndo {
    /// The first timeout of an episode that Eifel detection (RFC 3522) or
    /// F-RTO (RFC 5682) may find spurious: the state before it is kept.
    Save,
    /// A later timeout of that episode: the state before the first stays.
    Keep,
    /// A timeout no undo can follow: the kept state goes.
    Drop,
}

/// The controller a connection runs: one of the algorithms behind the
/// trait, held inline and called without dynamic dispatch (the window is
/// read for every segment planned; a call through a vtable cannot be
/// inlined, and a box costs an allocation per connection).
#[derive(Debug)]
pub enum Controller {
    /// RFC 9438, the default.
    Cubic(Cubic),
    /// RFC 5681 with RFC 6582.
    NewReno(NewReno),
}

/// Forwards a trait method to the algorithm held.
macro_rules! delegate {
    ($self:ident, $c:ident => $call:expr) => {
        match $self {
            Controller::Cubic($c) => $call,
            Controller::NewReno($c) => $call,
        }
    };
}

impl CongestionControl for Controller {
    fn name(&self) -> &'static str {
        delegate!(self, c => c.name())
    }
    #[inline]
    fn cwnd(&self) -> usize {
        delegate!(self, c => c.cwnd())
    }
    #[inline]
    fn ssthresh(&self) -> usize {
        delegate!(self, c => c.ssthresh())
    }
    fn on_ack(&mut self, now: Instant, acked: usize, srtt: Duration) {
        delegate!(self, c => c.on_ack(now, acked, srtt))
    }
    fn on_congestion_event(&mut self, now: Instant, flight: usize) {
        delegate!(self, c => c.on_congestion_event(now, flight))
    }
    fn on_recovery_exit(&mut self, now: Instant) {
        delegate!(self, c => c.on_recovery_exit(now))
    }
    fn on_rto(&mut self, now: Instant, flight: usize, undo: RtoUndo, repeated: bool) {
        delegate!(self, c => c.on_rto(now, flight, undo, repeated))
    }
    fn exit_slow_start(&mut self, now: Instant) {
        delegate!(self, c => c.exit_slow_start(now))
    }
    fn set_mss(&mut self, mss: usize) {
        delegate!(self, c => c.set_mss(mss))
    }
    fn restart_after_idle(&mut self, now: Instant, restart_window: usize) {
        delegate!(self, c => c.restart_after_idle(now, restart_window))
    }
    #[inline]
    fn on_idle_end(&mut self, now: Instant, idle: Duration) {
        delegate!(self, c => c.on_idle_end(now, idle))
    }
    fn undo(&mut self) {
        delegate!(self, c => c.undo())
    }
    fn undo_timeout(&mut self, cwnd_cap: usize) {
        delegate!(self, c => c.undo_timeout(cwnd_cap))
    }
    fn raise_cwnd(&mut self, min: usize) {
        delegate!(self, c => c.raise_cwnd(min))
    }
}

/// Builds the controller chosen in the configuration.
pub fn new_controller(algorithm: CongestionAlgorithm, mss: usize, initial_cwnd_segments: u32) -> Controller {
    match algorithm {
        CongestionAlgorithm::Cubic => Controller::Cubic(Cubic::new(mss, initial_cwnd_segments)),
        CongestionAlgorithm::NewReno => Controller::NewReno(NewReno::new(mss, initial_cwnd_segments)),
    }
}

/// RFC 5681 §3.1 slow start with RFC 3465 byte counting, Linux style:
/// grow by the bytes acked but not past ssthresh; returns what is left of
/// `acked` for congestion avoidance.
pub(crate) fn slow_start(cwnd: &mut usize, ssthresh: usize, acked: usize) -> usize {
    if *cwnd >= ssthresh {
        return acked;
    }
    let inc = acked.min(ssthresh - *cwnd);
    *cwnd += inc;
    acked - inc
}

/// RFC 5681 §3.1 eq. 3: after a loss, ssthresh = max(FlightSize / 2, 2·SMSS).
pub(crate) fn half_flight(flight: usize, mss: usize) -> usize {
    (flight / 2).max(2 * mss)
}
