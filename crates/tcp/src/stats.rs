//! Per-connection counters and gauges: what `ss -ti` shows for a Linux
//! socket, plus the drop/challenge counters RFC 5961 asks an implementation
//! to keep.

use crate::State;
use sockstack_time::Duration;

/// Defines [`TcpStats`], gauges first, then counters; [`Counters`], the
/// counters alone, as a connection keeps them; and [`Gauges`], what a
/// snapshot reads from the connection. A field added to either list is
/// in `TcpStats` and in the struct that fills it at once, and `Gauges` is
/// built field by field, so no snapshot can miss one.
macro_rules! tcp_stats {
    (
        gauges { $($(#[$gm:meta])* $gauge:ident: $gty:ty,)* }
        counters { $($(#[$cm:meta])* $counter:ident,)* }
    ) => {
        /// A snapshot of one connection's state and counters.
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct TcpStats {
            $($(#[$gm])* pub $gauge: $gty,)*
            $($(#[$cm])* pub $counter: u64,)*
        }

        /// The counters of [`TcpStats`] as a connection keeps them, without
        /// the gauges [`Connection::stats`](crate::Connection::stats) reads
        /// from the connection for a snapshot (kept, they would cost every
        /// connection some 150 octets).
        #[derive(Debug, Clone, Default)]
        pub(crate) struct Counters {
            $(pub(crate) $counter: u64,)*
        }

        /// The gauges of [`TcpStats`], read from the connection for a
        /// snapshot.
        pub(crate) struct Gauges {
            $(pub(crate) $gauge: $gty,)*
        }

        impl Counters {
            /// A snapshot: these counters with `gauges`.
            pub(crate) fn snapshot(&self, gauges: Gauges) -> TcpStats {
                TcpStats { $($gauge: gauges.$gauge,)* $($counter: self.$counter,)* }
            }
        }
    };
}

tcp_stats! {
    gauges {
        /// Connection state (always `Some` in a snapshot from `Connection::stats`).
        state: Option<State>,
        /// Smoothed RTT and its variation (RFC 6298), zero before a sample.
        srtt: Duration,
        /// RTTVAR, zero before a sample.
        rttvar: Duration,
        /// Current retransmission timeout, backoff included.
        rto: Duration,
        /// Smallest RTT sampled, zero before a sample.
        min_rtt: Duration,
        /// The receiver's RTT estimate, from the echoes of our timestamps in
        /// the data that arrives (Linux `tcpi_rcv_rtt`, what receive buffer
        /// auto-tuning paces itself by), zero before a sample.
        rcv_rtt: Duration,
        /// Bytes.
        cwnd: usize,
        /// Slow-start threshold, bytes (`usize::MAX` until the first loss).
        ssthresh: usize,
        /// Bytes currently estimated in flight (RFC 6675 "pipe").
        pipe: usize,
        /// Peer's window (scaled) and ours as last advertised.
        snd_wnd: usize,
        /// Receive window last advertised, bytes.
        rcv_wnd: usize,
        /// Shift count applied to the peer's advertised windows (RFC 7323 §2).
        snd_wscale: u8,
        /// Shift count applied to the windows we advertise (RFC 7323 §2).
        rcv_wscale: u8,
        /// Effective send MSS, data octets per segment.
        mss: usize,
        /// Receive buffer capacity, bytes.
        rcv_buf: usize,
        /// Send buffer capacity, bytes.
        snd_buf: usize,
        /// Congestion controller's name as `ss -ti` prints it ("cubic", "reno").
        congestion: &'static str,
        /// SACK negotiated on this connection (RFC 2018).
        sack: bool,
        /// Timestamps negotiated on this connection (RFC 7323).
        timestamps: bool,
    }
    counters {
        /// Data bytes sent for the first time (retransmissions not counted).
        bytes_sent,
        /// Data bytes retransmitted.
        bytes_retrans,
        /// Data bytes received in sequence: how far RCV.NXT advanced over data
        /// (Linux `tcpi_bytes_received`). Out-of-order data counts once the gap
        /// before it fills; a copy of data already held never counts again.
        bytes_received,
        /// Data bytes the peer acknowledged cumulatively.
        bytes_acked,
        /// Segments sent, of any kind.
        segs_out,
        /// Segments received, of any kind.
        segs_in,
        /// Segments sent with data.
        data_segs_out,
        /// Segments received with data.
        data_segs_in,
        /// Segments retransmitted, for any reason.
        retransmits,
        /// Retransmissions made during fast recovery.
        fast_retransmits,
        /// Expiries of the retransmission timer (SYN and data).
        rto_timeouts,
        /// Duplicate ACKs received.
        dup_acks,
        /// SACK blocks received and accepted (RFC 2018).
        sack_blocks_received,
        /// Data segments received beyond `rcv_nxt` (out of order).
        out_of_order_segments,
        /// Zero-window probes sent (RFC 9293 §3.8.6.1).
        window_probes,
        /// RFC 8985 §7 tail loss probes sent.
        tail_loss_probes,
        /// Loss episodes detected by RACK's time-based rule (RFC 8985 §6).
        rack_detections,
        /// Initial slow starts that HyStart++ ended before a loss (RFC 9406).
        hystart_exits,
        /// Retransmissions RACK found lost and sent again (RFC 8985 §6.2).
        lost_retransmits,
        /// ACKs that showed reordering: octets delivered after octets sent
        /// later (RFC 8985 §6.2 step 3; Linux `tcpi_reord_seen`).
        reord_seen,
        /// ACKs that reported a duplicate segment with a D-SACK block (RFC
        /// 2883; Linux `TCPDSACKRecv`): a retransmission the peer did not need.
        dsacks_received,
        /// Fast recoveries undone because D-SACKs showed every retransmission
        /// was needless (RFC 3708; Linux `TCPDSACKUndo`).
        dsack_undos,
        /// Timeouts found spurious, by their timestamps (Eifel, RFC 3522) or
        /// by F-RTO (RFC 5682), and undone (RFC 4015; Linux
        /// `TCPSpuriousRTOs`/`TCPLossUndo`).
        spurious_rtos,
        /// Timeouts that found SACKed data at SND.UNA: the receiver had
        /// discarded what it SACKed (RFC 2018 §8; Linux `TCPSACKReneging`).
        sack_reneging,
        /// Keepalive probes sent (RFC 1122 §4.2.3.6).
        keepalive_probes,
        /// Challenge ACKs sent (RFC 5961 §7).
        challenge_acks,
        /// Segments dropped: failed acceptability test, PAWS, bad ACK, ...
        dropped_segments,
        /// Segments dropped by PAWS (RFC 7323 §5), also counted in
        /// `dropped_segments`.
        paws_drops,
        /// RSTs sent.
        rst_sent,
        /// Segments received with RST set.
        rst_received,
        /// ACKs sent because the delayed-ACK timer expired.
        delayed_acks,
        /// Segments taken by header prediction (Linux TCPHPHits + TCPHPAcks).
        predicted_segments,
    }
}
