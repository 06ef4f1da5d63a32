//! Per-connection counters and gauges: what `ss -ti` shows for a Linux
//! socket, plus the drop/challenge counters RFC 5961 asks an implementation
//! to keep.

use crate::State;
use sockstack_time::Duration;

/// A snapshot of one connection's state and counters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TcpStats {
    pub state: Option<State>,
    /// Smoothed RTT and its variation (RFC 6298), zero before a sample.
    pub srtt: Duration,
    pub rttvar: Duration,
    pub rto: Duration,
    pub min_rtt: Duration,
    /// Bytes.
    pub cwnd: usize,
    pub ssthresh: usize,
    /// Bytes currently estimated in flight (RFC 6675 "pipe").
    pub pipe: usize,
    pub bytes_sent: u64,
    pub bytes_retrans: u64,
    pub bytes_received: u64,
    pub bytes_acked: u64,
    pub segs_out: u64,
    pub segs_in: u64,
    pub data_segs_out: u64,
    pub data_segs_in: u64,
    pub retransmits: u64,
    pub fast_retransmits: u64,
    pub rto_timeouts: u64,
    pub dup_acks: u64,
    pub sack_blocks_received: u64,
    pub out_of_order_segments: u64,
    pub window_probes: u64,
    /// RFC 8985 §7 tail loss probes sent.
    pub tail_loss_probes: u64,
    /// Loss episodes detected by RACK's time-based rule (RFC 8985 §6).
    pub rack_detections: u64,
    pub keepalive_probes: u64,
    pub challenge_acks: u64,
    /// Segments dropped: failed acceptability test, PAWS, bad ACK, ...
    pub dropped_segments: u64,
    pub paws_drops: u64,
    pub rst_sent: u64,
    pub rst_received: u64,
    pub delayed_acks: u64,
    /// Peer's window (scaled) and ours as last advertised.
    pub snd_wnd: usize,
    pub rcv_wnd: usize,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub mss: usize,
    pub rcv_buf: usize,
    pub snd_buf: usize,
    pub congestion: &'static str,
    pub sack: bool,
    pub timestamps: bool,
}
