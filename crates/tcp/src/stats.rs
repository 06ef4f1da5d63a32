//! Per-connection counters and gauges: what `ss -ti` shows for a Linux
//! socket, plus the drop/challenge counters RFC 5961 asks an implementation
//! to keep.

use crate::State;
use sockstack_time::Duration;

/// A snapshot of one connection's state and counters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TcpStats {
    /// Connection state (always `Some` in a snapshot from `Connection::stats`).
    pub state: Option<State>,
    /// Smoothed RTT and its variation (RFC 6298), zero before a sample.
    pub srtt: Duration,
    /// RTTVAR, zero before a sample.
    pub rttvar: Duration,
    /// Current retransmission timeout, backoff included.
    pub rto: Duration,
    /// Smallest RTT sampled, zero before a sample.
    pub min_rtt: Duration,
    /// Bytes.
    pub cwnd: usize,
    /// Slow-start threshold, bytes (`usize::MAX` until the first loss).
    pub ssthresh: usize,
    /// Bytes currently estimated in flight (RFC 6675 "pipe").
    pub pipe: usize,
    /// Data bytes sent for the first time (retransmissions not counted).
    pub bytes_sent: u64,
    /// Data bytes retransmitted.
    pub bytes_retrans: u64,
    /// Data bytes received in sequence: how far RCV.NXT advanced over data
    /// (Linux `tcpi_bytes_received`). Out-of-order data counts once the gap
    /// before it fills; a copy of data already held never counts again.
    pub bytes_received: u64,
    /// Data bytes the peer acknowledged cumulatively.
    pub bytes_acked: u64,
    /// Segments sent, of any kind.
    pub segs_out: u64,
    /// Segments received, of any kind.
    pub segs_in: u64,
    /// Segments sent with data.
    pub data_segs_out: u64,
    /// Segments received with data.
    pub data_segs_in: u64,
    /// Segments retransmitted, for any reason.
    pub retransmits: u64,
    /// Retransmissions made during fast recovery.
    pub fast_retransmits: u64,
    /// Expiries of the retransmission timer (SYN and data).
    pub rto_timeouts: u64,
    /// Duplicate ACKs received.
    pub dup_acks: u64,
    /// SACK blocks received and accepted (RFC 2018).
    pub sack_blocks_received: u64,
    /// Data segments received beyond `rcv_nxt` (out of order).
    pub out_of_order_segments: u64,
    /// Zero-window probes sent (RFC 9293 §3.8.6.1).
    pub window_probes: u64,
    /// RFC 8985 §7 tail loss probes sent.
    pub tail_loss_probes: u64,
    /// Loss episodes detected by RACK's time-based rule (RFC 8985 §6).
    pub rack_detections: u64,
    /// Initial slow starts that HyStart++ ended before a loss (RFC 9406).
    pub hystart_exits: u64,
    /// Retransmissions RACK found lost and sent again (RFC 8985 §6.2).
    pub lost_retransmits: u64,
    /// ACKs that showed reordering: octets delivered after octets sent
    /// later (RFC 8985 §6.2 step 3; Linux `tcpi_reord_seen`).
    pub reord_seen: u64,
    /// ACKs that reported a duplicate segment with a D-SACK block (RFC
    /// 2883; Linux `TCPDSACKRecv`): a retransmission the peer did not need.
    pub dsacks_received: u64,
    /// Fast recoveries undone because D-SACKs showed every retransmission
    /// was needless (RFC 3708; Linux `TCPDSACKUndo`).
    pub dsack_undos: u64,
    /// Timeouts found spurious, by their timestamps (Eifel, RFC 3522) or
    /// by F-RTO (RFC 5682), and undone (RFC 4015; Linux
    /// `TCPSpuriousRTOs`/`TCPLossUndo`).
    pub spurious_rtos: u64,
    /// Timeouts that found SACKed data at SND.UNA: the receiver had
    /// discarded what it SACKed (RFC 2018 §8; Linux `TCPSACKReneging`).
    pub sack_reneging: u64,
    /// Keepalive probes sent (RFC 1122 §4.2.3.6).
    pub keepalive_probes: u64,
    /// Challenge ACKs sent (RFC 5961 §7).
    pub challenge_acks: u64,
    /// Segments dropped: failed acceptability test, PAWS, bad ACK, ...
    pub dropped_segments: u64,
    /// Segments dropped by PAWS (RFC 7323 §5), also counted in
    /// `dropped_segments`.
    pub paws_drops: u64,
    /// RSTs sent.
    pub rst_sent: u64,
    /// Segments received with RST set.
    pub rst_received: u64,
    /// ACKs sent because the delayed-ACK timer expired.
    pub delayed_acks: u64,
    /// Segments taken by header prediction (Linux TCPHPHits + TCPHPAcks).
    pub predicted_segments: u64,
    /// Peer's window (scaled) and ours as last advertised.
    pub snd_wnd: usize,
    /// Receive window last advertised, bytes.
    pub rcv_wnd: usize,
    /// Shift count applied to the peer's advertised windows (RFC 7323 §2).
    pub snd_wscale: u8,
    /// Shift count applied to the windows we advertise (RFC 7323 §2).
    pub rcv_wscale: u8,
    /// Effective send MSS, data octets per segment.
    pub mss: usize,
    /// Receive buffer capacity, bytes.
    pub rcv_buf: usize,
    /// Send buffer capacity, bytes.
    pub snd_buf: usize,
    /// Congestion controller's name as `ss -ti` prints it ("cubic", "reno").
    pub congestion: &'static str,
    /// SACK negotiated on this connection (RFC 2018).
    pub sack: bool,
    /// Timestamps negotiated on this connection (RFC 7323).
    pub timestamps: bool,
}
