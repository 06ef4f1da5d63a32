//! Tunables of a connection. `Default` gives Linux's values (net.ipv4.tcp_*
//! sysctls and socket defaults), so behaviour matches what `ss -ti` on a
//! stock kernel would show.

use sockstack_time::Duration;

/// Which congestion controller a connection runs (see [`crate::congestion`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CongestionAlgorithm {
    /// RFC 9438 CUBIC, Linux's default.
    #[default]
    Cubic,
    /// RFC 5681 / RFC 6582 NewReno.
    NewReno,
}

/// Keepalive parameters (RFC 1122 §4.2.3.6): probe after `idle` without
/// traffic, then every `interval`, give up after `count` unanswered probes.
/// Linux takes at least 1 s for both (the stack's `tcp_set_keepalive` too):
/// the peer answers an out-of-window probe at most every 500 ms, so
/// probing faster would time out a live peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Time without traffic before the first probe (`TCP_KEEPIDLE`).
    pub idle: Duration,
    /// Time between unanswered probes (`TCP_KEEPINTVL`).
    pub interval: Duration,
    /// Unanswered probes after which the connection is reset with `TimedOut`
    /// (`TCP_KEEPCNT`).
    pub count: u32,
}

impl Default for Keepalive {
    /// Linux: tcp_keepalive_time 7200 s, intvl 75 s, probes 9.
    fn default() -> Keepalive {
        Keepalive { idle: Duration::from_secs(7200), interval: Duration::from_secs(75), count: 9 }
    }
}

/// Per-connection configuration. Copied into the connection at open.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpConfig {
    /// Upper bound of the MSS we advertise (`TCP_MAXSEG`); the route's MSS
    /// (MTU − 40) clamps it further (RFC 9293 §3.7.1). The default sets no
    /// bound of its own, as on Linux.
    pub mss: u16,
    /// Initial receive buffer, in bytes (Linux `tcp_rmem[1]`); auto-tuning
    /// grows it up to `rcv_buf_max`.
    pub rcv_buf: usize,
    /// Ceiling of receive-buffer auto-tuning, in bytes (`tcp_rmem[2]`).
    pub rcv_buf_max: usize,
    /// Initial send buffer, in bytes (`tcp_wmem[1]`); it grows with the
    /// congestion window up to `snd_buf_max`.
    pub snd_buf: usize,
    /// Ceiling of send-buffer growth, in bytes (`tcp_wmem[2]`).
    pub snd_buf_max: usize,
    /// Disable Nagle (TCP_NODELAY).
    pub nodelay: bool,
    /// Opt-in keepalive (SO_KEEPALIVE).
    pub keepalive: Option<Keepalive>,
    /// TIME-WAIT duration, 2·MSL (Linux: fixed 60 s).
    pub time_wait: Duration,
    /// FIN-WAIT-2 timeout for connections closed with `close()` (tcp_fin_timeout).
    pub fin_wait2_timeout: Duration,
    /// Lower bound of the RTO (RFC 6298 §2.4; Linux TCP_RTO_MIN 200 ms;
    /// TCP_RTO_MAX 120 s and TCP_TIMEOUT_INIT 1 s are the defaults below).
    pub rto_min: Duration,
    /// Upper bound of the RTO, backoff included (RFC 6298 §2.5).
    pub rto_max: Duration,
    /// RTO before the first RTT sample (RFC 6298 §2.1).
    pub rto_initial: Duration,
    /// Delayed-ACK timeout (Linux TCP_DELACK_MIN 40 ms); clamped to the
    /// RFC 1122 §4.2.3.2 bound of 500 ms.
    pub delayed_ack: Duration,
    /// Congestion controller (CUBIC by default, as on Linux).
    pub congestion: CongestionAlgorithm,
    /// Offer/accept SACK (RFC 2018).
    pub sack: bool,
    /// Offer/accept the Timestamps option (RFC 7323 §3).
    pub timestamps: bool,
    /// Offer/accept the Window Scale option (RFC 7323 §2).
    pub window_scale: bool,
    /// HyStart++ (RFC 9406) in the initial slow start (Linux: on for CUBIC).
    pub hystart: bool,
    /// SYN retransmissions before giving up (tcp_syn_retries 6).
    pub syn_retries: u32,
    /// SYN-ACK retransmissions (tcp_synack_retries 5).
    pub synack_retries: u32,
    /// Data retransmissions before giving up (tcp_retries2 15).
    pub retries: u32,
    /// For a connection its application has closed (an orphan): data
    /// retransmissions before giving up, and zero-window probes, however
    /// answered, before it is reset (Linux tcp_orphan_retries, whose 0
    /// means 8). Nobody will read what an orphan holds, and a peer that
    /// keeps its window shut must not pin it for ever.
    pub orphan_retries: u32,
    /// Initial congestion window in segments (RFC 6928: 10).
    pub initial_cwnd: u32,
    /// Challenge ACKs allowed per second (RFC 5961 §7; Linux
    /// tcp_challenge_ack_limit).
    pub challenge_ack_limit: u32,
    /// Header prediction (Linux `tcp_rcv_established`'s fast path): the
    /// common in-order segment skips the tests whose outcome is known.
    /// Off, every segment takes the full RFC 9293 §3.10.7.4 path, with
    /// the same result; for tests and for comparison.
    pub header_prediction: bool,
}

impl Default for TcpConfig {
    fn default() -> TcpConfig {
        TcpConfig {
            mss: 65495,
            rcv_buf: 128 * 1024,
            rcv_buf_max: 6 * 1024 * 1024,
            snd_buf: 16 * 1024,
            snd_buf_max: 4 * 1024 * 1024,
            nodelay: false,
            keepalive: None,
            time_wait: Duration::from_secs(60),
            fin_wait2_timeout: Duration::from_secs(60),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(120),
            rto_initial: Duration::from_secs(1),
            delayed_ack: Duration::from_millis(40),
            congestion: CongestionAlgorithm::Cubic,
            sack: true,
            timestamps: true,
            window_scale: true,
            hystart: true,
            syn_retries: 6,
            synack_retries: 5,
            retries: 15,
            orphan_retries: 8,
            initial_cwnd: 10,
            challenge_ack_limit: 1000,
            header_prediction: true,
        }
    }
}

impl TcpConfig {
    /// The delayed-ACK timeout actually used, in microseconds (the clock's
    /// unit): never above RFC 1122's 500 ms, so the conversion cannot
    /// truncate.
    #[inline]
    pub(crate) fn delack_micros(&self) -> u64 {
        self.delayed_ack.min(Duration::from_millis(500)).as_micros() as u64
    }
}
