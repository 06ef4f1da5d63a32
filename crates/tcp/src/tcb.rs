//! The transmission control block (RFC 9293 §3.3.1): the [`Connection`]
//! struct, its constructors (active open, passive open, SYN cookie) and the
//! application-facing calls (send, recv, shutdown, close, abort, options,
//! stats). Segment arrival lives in `input.rs`, segment generation and
//! timers in `output.rs`.

use crate::buffer::{RecvBuffer, SendBuffer};
use crate::config::{Keepalive, TcpConfig};
use crate::congestion::{new_controller, CongestionControl, Controller};
use crate::isn::Initial;
use crate::memory::{Charge, MemoryBudget};
use crate::rack::Rack;
use crate::reassembly::Reassembly;
use crate::recovery::{Outstanding, Recovery};
use crate::rtt::RttEstimator;
use crate::sack::Scoreboard;
use crate::stats::TcpStats;
use crate::timers::{Deadline, Timers};
use crate::State;
use sockstack_time::Instant;
use sockstack_wire::tcp::MAX_WINDOW_SCALE;
use sockstack_wire::{SeqNumber, TcpRepr};
use std::io;
use std::net::SocketAddrV4;
use std::sync::Arc;

/// Smallest MSS we accept from a peer (Linux `tcp_min_snd_mss`): a hostile
/// MSS of 1 would otherwise make us send a segment per byte.
pub(crate) const MIN_SND_MSS: usize = 48;
/// RFC 9293 §3.7.1: MSS assumed when the option is absent.
pub(crate) const DEFAULT_MSS: u16 = 536;
/// Timestamps option length on the wire (with its two NOPs).
pub(crate) const TS_OPTION_LEN: usize = 12;
/// Linux TCP_MAX_QUICKACKS: segments ACKed at once after the handshake
/// and after an idle period.
pub(crate) const MAX_QUICK_ACKS: u8 = 16;

/// Linux's DRS receive-buffer auto-tuning state (`tcp_rcv_space_adjust`).
#[derive(Debug, Clone)]
pub(crate) struct Drs {
    /// Bytes delivered to the application since `since`.
    pub copied: usize,
    pub since: Instant,
    /// Largest per-RTT delivery seen.
    pub space: usize,
}

/// A RST a connection owes: its sequence number and its acknowledgment,
/// if any (RFC 9293 §3.10.7.1), and whether it carries our timestamps.
/// The ports are the connection's (a segment reaches a connection by its
/// 4-tuple).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingRst {
    pub(crate) seq: SeqNumber,
    pub(crate) ack: Option<SeqNumber>,
    /// RFC 7323 §3.2: once timestamps are negotiated, a RST SHOULD carry
    /// them. Settled when the RST is queued: by the time it goes out, the
    /// connection it ends is already CLOSED.
    pub(crate) stamped: bool,
}

impl PendingRst {
    /// The RST [`rst_reply`](crate::rst_reply) would answer `seg` with, from
    /// a connection not synchronized (CLOSED, SYN-SENT, SYN-RECEIVED):
    /// without timestamps, none being agreed yet.
    pub(crate) fn reply_to(seg: &TcpRepr<'_>) -> Option<PendingRst> {
        crate::input::rst_reply(seg).map(|r| PendingRst { seq: r.seq_number, ack: r.ack_number, stamped: false })
    }
}

/// One TCP connection. See the crate docs for the calling protocol.
#[derive(Debug)]
pub struct Connection {
    /// Shared with every socket and connection that has the same options
    /// (a stack's defaults, mostly); an option set on this connection gives
    /// it a copy of its own.
    pub(crate) cfg: Arc<TcpConfig>,
    pub(crate) local: SocketAddrV4,
    pub(crate) remote: SocketAddrV4,
    pub(crate) state: State,
    /// Opened by `accept` (a RST in SYN-RECEIVED then just drops it).
    pub(crate) passive: bool,

    // RFC 9293 §3.3.1 send sequence variables. `snd_nxt` is the highest
    // sequence number sent + 1 (Linux's snd_nxt): retransmissions never move
    // it back; what to resend is tracked by `rec`.
    pub(crate) iss: SeqNumber,
    pub(crate) snd_una: SeqNumber,
    pub(crate) snd_nxt: SeqNumber,
    pub(crate) snd_wnd: usize,
    pub(crate) snd_wl1: SeqNumber,
    pub(crate) snd_wl2: SeqNumber,
    pub(crate) max_snd_wnd: usize,
    /// RFC 7323 Snd.Wind.Shift: applied to windows we receive.
    pub(crate) snd_wscale: u8,

    // Receive sequence variables.
    pub(crate) irs: SeqNumber,
    pub(crate) rcv_nxt: SeqNumber,
    /// Window last advertised (bytes) and its right edge `rcv_nxt + rcv_wnd`
    /// at the time; the edge never moves left (RFC 9293 §3.8.6.2.2).
    pub(crate) rcv_wnd: usize,
    pub(crate) rcv_adv: SeqNumber,
    /// RFC 7323 Rcv.Wind.Shift: applied to windows we send.
    pub(crate) rcv_wscale: u8,

    // Negotiated options.
    /// Effective send MSS: data octets per segment with the options every
    /// segment carries (timestamps) already subtracted.
    pub(crate) mss: usize,
    pub(crate) adv_mss: u16,
    pub(crate) route_mss: u16,
    pub(crate) ws_ok: bool,
    pub(crate) sack_ok: bool,
    pub(crate) ts_ok: bool,
    /// RFC 7323 §4.3 TS.Recent, when it was set, Last.ACK.sent.
    pub(crate) ts_recent: u32,
    pub(crate) ts_recent_stamp: Instant,
    pub(crate) last_ack_sent: SeqNumber,
    /// Per-connection offset added to our timestamp clock (RFC 7323 §5.4
    /// recommends randomising it so TSval does not leak uptime).
    pub(crate) ts_offset: u32,
    /// Estimated size of the peer's full segments (Linux rcv_mss).
    pub(crate) rcv_mss: usize,

    // Buffers.
    pub(crate) snd_buf: SendBuffer,
    /// Sequence number of `snd_buf`'s first byte.
    pub(crate) buf_seq: SeqNumber,
    pub(crate) rcv_buf: RecvBuffer,
    pub(crate) ooo: Reassembly,
    /// A FIN seen beyond `rcv_nxt`, at this sequence number.
    pub(crate) ooo_fin: Option<SeqNumber>,
    /// A duplicate range to report in the next ACK (RFC 2883 D-SACK).
    pub(crate) dsack: Option<(SeqNumber, SeqNumber)>,
    /// The application asked for a FIN after the queued data.
    pub(crate) fin_queued: bool,
    /// The peer's FIN was received (in order).
    pub(crate) fin_rcvd: bool,
    /// `close()` was called: no more reads, orphaned semantics.
    pub(crate) closed_by_app: bool,
    /// `shutdown(Read)` was called: the application reads no more.
    pub(crate) read_shut: bool,
    /// The payload of the segment being processed already lies at the
    /// receive buffer's readable end (placed there while its checksum was
    /// verified, [`Connection::on_segment_unverified`]).
    pub(crate) rcv_placed: bool,

    // Timing and loss recovery.
    pub(crate) rtt: RttEstimator,
    /// Karn-safe timed segment: (sequence that must be acked, send time).
    pub(crate) rtt_timing: Option<(SeqNumber, Instant)>,
    /// Our TSval on the latest retransmission, until an echo as new or a
    /// timed segment shows that echoes have caught up: an echo older than
    /// it cannot time an ACK (see `rtt_sample_on_ack`).
    pub(crate) rexmit_tsval: Option<u32>,
    pub(crate) cc: Controller,
    pub(crate) scoreboard: Scoreboard,
    pub(crate) rec: Recovery,
    pub(crate) rack: Rack,
    pub(crate) hystart: crate::hystart::HyStart,
    /// A tail loss probe is due (RFC 8985 §7.3).
    pub(crate) tlp_pending: bool,
    /// The outstanding probe's episode: snd_nxt after it was sent, and
    /// whether it was a retransmission (RFC 8985 TLP.end_seq, §7.4).
    pub(crate) tlp_end: Option<SeqNumber>,
    pub(crate) tlp_retrans: bool,
    pub(crate) timers: Timers,
    /// Consecutive RTO expirations (SYN or data).
    pub(crate) retries: u32,
    /// Unanswered zero-window probes / keepalive probes.
    pub(crate) probes: u32,
    /// Persist-timer backoff exponent: grows per probe, reset only when the
    /// window opens (Linux icsk_backoff in tcp_ack_probe).
    pub(crate) persist_backoff: u32,
    pub(crate) ka_probes: u32,
    pub(crate) syn_retransmitted: bool,
    pub(crate) last_rcv: Instant,
    /// When new data was last sent (RFC 5681 §4.1 idle detection).
    pub(crate) last_data_sent: Instant,

    // Pending output.
    pub(crate) syn_pending: bool,
    pub(crate) ack_pending: bool,
    /// Immediate ACKs owed one per out-of-order or duplicate segment, so
    /// the sender sees one duplicate ACK per segment (RFC 5681 §4.2) even
    /// when several arrive between two `poll_transmit` calls.
    pub(crate) dupacks_owed: u32,
    /// In-order bytes received since our last ACK (delayed ACK accounting).
    pub(crate) unacked_bytes: usize,
    /// A segment shorter than a full one arrived since our last ACK (the
    /// end of a write: Linux ICSK_ACK_PUSHED).
    pub(crate) small_seg_unacked: bool,
    /// Interactive mode (Linux pingpong): we answered received data within
    /// the delayed-ACK time, so ACKs are worth holding for a reply to
    /// carry them. Left when the delayed-ACK timer fires.
    pub(crate) pingpong: bool,
    /// End of the last segment we sent that was shorter than the MSS
    /// (Minshall's Nagle variant: only an unacknowledged *short* segment
    /// holds back the next one).
    pub(crate) snd_sml: SeqNumber,
    /// When in-order data last arrived.
    pub(crate) last_data_rcvd: Option<Instant>,
    /// Segments still to ACK at once (Linux quickack mode): at the start
    /// and after an idle period, while the peer's segment size and the
    /// connection's pattern are unknown, delaying an ACK risks stalling a
    /// sender that cannot send a second segment.
    pub(crate) quick_acks: u8,
    pub(crate) probe_pending: bool,
    /// The persist timer expired with a small non-zero window: send what
    /// fits despite sender SWS avoidance (RFC 9293 §3.8.6.2.1 "override
    /// timeout").
    pub(crate) force_send: bool,
    pub(crate) keepalive_pending: bool,
    /// A RST owed (abort, or the answer to an unacceptable segment), its
    /// numbers only: the segment is built when it goes out (a whole
    /// `TcpRepr` here cost every connection 100 octets).
    pub(crate) rst_pending: Option<PendingRst>,
    /// RFC 5961 §7 rate limit: challenge ACKs sent in the current second.
    pub(crate) challenge_count: u32,
    pub(crate) challenge_since: Instant,
    /// When we last answered an out-of-window pure ACK (see
    /// `ack_out_of_window`).
    pub(crate) last_oow_ack: Option<Instant>,

    // Receive-buffer auto-tuning.
    pub(crate) drs: Drs,
    /// The receiver's RTT estimate from echoed timestamps, microseconds.
    pub(crate) rcv_rtt_us: Option<u64>,
    /// Buffer growth charged to the stack's memory budget.
    pub(crate) mem: Charge,

    pub(crate) error: Option<io::ErrorKind>,
    /// The last ICMP error about this synchronized connection (Linux
    /// `sk_err_soft`): not fatal by itself (RFC 1122 §4.2.3.9, RFC 5461),
    /// it is what a timeout reports instead of `TimedOut`. Forgotten when
    /// an ACK shows the path works.
    pub(crate) soft_error: Option<io::ErrorKind>,
    pub(crate) stats: crate::stats::Counters,
    /// The latest `now` we were handed (for calls that take none).
    pub(crate) last_now: Instant,
}

/// The window-scale shift that lets a buffer of `max` bytes be advertised
/// (RFC 7323 §2.3), at most 14.
fn wscale_for(max: usize) -> u8 {
    let mut shift = 0;
    while shift < MAX_WINDOW_SCALE && (max >> shift) > 65535 {
        shift += 1;
    }
    shift
}

/// A connection's constructors take their configuration as anything
/// that becomes an `Arc<TcpConfig>`: an `Arc` shared with other
/// connections (as a stack passes the options its sockets have in common:
/// one copy for all, not some 200 octets each), a `TcpConfig`, or a
/// `&TcpConfig`, which is copied.
impl From<&TcpConfig> for Arc<TcpConfig> {
    fn from(cfg: &TcpConfig) -> Arc<TcpConfig> {
        Arc::new(cfg.clone())
    }
}

/// Our window scale shift under `cfg` (RFC 7323 §2.3): the smallest that
/// lets the largest receive buffer be advertised; 0 without the option.
pub(crate) fn rcv_wscale_for(cfg: &TcpConfig) -> u8 {
    if cfg.window_scale {
        wscale_for(cfg.rcv_buf_max.max(cfg.rcv_buf.max(1)))
    } else {
        0
    }
}

/// RFC 7323 §5.4: a connection's timestamp clock starts at an offset of
/// its own. Without one keyed on its 4-tuple ([`crate::isn::Initial`]),
/// it is derived from the ISS (itself keyed, RFC 6528).
pub(crate) fn ts_offset_for(iss: SeqNumber) -> u32 {
    iss.0.wrapping_mul(0x9e37_79b9).rotate_left(11)
}

/// The timestamp clock (milliseconds) of a connection with `offset`.
pub(crate) fn ts_clock(now: Instant, offset: u32) -> u32 {
    (now.total_millis() as u32).wrapping_add(offset)
}

impl Connection {
    pub(crate) fn new(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        initial: Initial,
        route_mss: u16,
        cfg: Arc<TcpConfig>,
        state: State,
    ) -> Connection {
        let Initial { iss, ts_offset } = initial;
        let adv_mss = cfg.mss.min(route_mss).max(MIN_SND_MSS as u16);
        let rcv_buf_size = cfg.rcv_buf.max(1);
        let rcv_wscale = rcv_wscale_for(&cfg);
        let mss = usize::from(DEFAULT_MSS.min(route_mss)).max(MIN_SND_MSS);
        Connection {
            local,
            remote,
            state,
            passive: false,
            iss,
            snd_una: iss,
            snd_nxt: iss + 1,
            snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: iss,
            max_snd_wnd: 0,
            snd_wscale: 0,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            rcv_wnd: 0,
            rcv_adv: SeqNumber(0),
            rcv_wscale,
            mss,
            adv_mss,
            route_mss,
            ws_ok: false,
            sack_ok: false,
            ts_ok: false,
            ts_recent: 0,
            ts_recent_stamp: now,
            last_ack_sent: SeqNumber(0),
            ts_offset,
            rcv_mss: usize::from(adv_mss.min(DEFAULT_MSS)),
            snd_buf: SendBuffer::new(cfg.snd_buf.max(1)),
            buf_seq: iss + 1,
            rcv_buf: RecvBuffer::new(rcv_buf_size),
            ooo: Reassembly::new(),
            ooo_fin: None,
            dsack: None,
            fin_queued: false,
            fin_rcvd: false,
            closed_by_app: false,
            read_shut: false,
            rcv_placed: false,
            rtt: RttEstimator::new(cfg.rto_initial, cfg.rto_min, cfg.rto_max),
            rtt_timing: None,
            rexmit_tsval: None,
            cc: new_controller(cfg.congestion, mss, cfg.initial_cwnd),
            scoreboard: Scoreboard::new(),
            rec: Recovery::default(),
            rack: Rack::default(),
            hystart: crate::hystart::HyStart::default(),
            tlp_pending: false,
            tlp_end: None,
            tlp_retrans: false,
            timers: Timers::default(),
            retries: 0,
            probes: 0,
            persist_backoff: 0,

            ka_probes: 0,
            syn_retransmitted: false,
            last_rcv: now,
            last_data_sent: now,
            syn_pending: true,
            ack_pending: false,
            dupacks_owed: 0,
            unacked_bytes: 0,
            small_seg_unacked: false,
            pingpong: false,
            last_data_rcvd: None,
            quick_acks: 0,
            snd_sml: iss,
            probe_pending: false,
            force_send: false,
            keepalive_pending: false,
            rst_pending: None,
            challenge_count: 0,
            challenge_since: now,
            last_oow_ack: None,
            drs: Drs { copied: 0, since: now, space: 0 },
            rcv_rtt_us: None,
            mem: Charge::default(),
            error: None,
            soft_error: None,
            stats: crate::stats::Counters::default(),
            last_now: now,
            cfg,
        }
    }

    /// Active open (RFC 9293 §3.10.1): SYN-SENT with the SYN queued.
    /// `route_mss` is the MSS the route's MTU allows (MTU − 40).
    pub fn connect(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: impl Into<Initial>,
        route_mss: u16,
        config: impl Into<Arc<TcpConfig>>,
    ) -> Connection {
        let mut c = Connection::new(now, local, remote, iss.into(), route_mss, config.into(), State::SynSent);
        c.ws_ok = c.cfg.window_scale;
        c.sack_ok = c.cfg.sack;
        c.ts_ok = c.cfg.timestamps;
        c
    }

    /// Passive open: a listener received `syn` (a SYN without ACK/RST,
    /// already matched to this 4-tuple). Returns a connection in
    /// SYN-RECEIVED with its SYN-ACK queued (RFC 9293 §3.10.7.2).
    pub fn accept(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr<'_>,
        iss: impl Into<Initial>,
        route_mss: u16,
        config: impl Into<Arc<TcpConfig>>,
    ) -> Connection {
        let initial = iss.into();
        let iss = initial.iss;
        let mut c = Connection::new(now, local, remote, initial, route_mss, config.into(), State::SynReceived);
        c.passive = true;
        c.stats.segs_in += 1;
        c.take_syn_options(now, syn);
        c.irs = syn.seq_number;
        c.rcv_nxt = syn.seq_number + 1;
        c.rcv_adv = c.rcv_nxt;
        // RFC 7323 §2.2: the window of a SYN is never scaled.
        c.snd_wnd = usize::from(syn.window_len);
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = syn.seq_number;
        c.snd_wl2 = iss;
        c
    }

    /// The connection a valid SYN-cookie ACK completes (RFC 4987 §3.6):
    /// `iss` is the cookie, `irs` the client's ISN, `mss` the one the
    /// cookie encodes. With timestamps, the options the SYN offered come
    /// back in the ACK's TSecr ([`crate::syncookie::CookieOptions`]);
    /// `None` if what it claims cannot have come from our SYN-ACK.
    #[allow(clippy::too_many_arguments)]
    pub fn from_cookie(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        ack_seg: &TcpRepr<'_>,
        iss: impl Into<Initial>,
        irs: SeqNumber,
        mss: u16,
        config: impl Into<Arc<TcpConfig>>,
    ) -> Option<Connection> {
        let config = config.into();
        let opts = crate::syncookie::CookieOptions::decode(ack_seg, &config)?;
        let initial = iss.into();
        let iss = initial.iss;
        let mut c = Connection::new(now, local, remote, initial, mss, config, State::Established);
        c.passive = true;
        c.syn_pending = false;
        c.ws_ok = opts.window_scale.is_some();
        c.snd_wscale = opts.window_scale.unwrap_or(0);
        if !c.ws_ok {
            c.rcv_wscale = 0;
        }
        c.sack_ok = opts.sack;
        c.ts_ok = opts.timestamps;
        if let Some(ts) = ack_seg.timestamp.filter(|_| c.ts_ok) {
            c.ts_recent = ts.tsval;
            c.ts_recent_stamp = now;
        }
        c.irs = irs;
        c.rcv_nxt = irs + 1;
        c.last_ack_sent = c.rcv_nxt;
        // The window our SYN-ACK offered (never scaled, RFC 7323 §2.2).
        c.rcv_adv = c.rcv_nxt + usize::from(c.cfg.rcv_buf.min(65535) as u16);
        c.rcv_wnd = c.rcv_adv - c.rcv_nxt;
        c.snd_una = iss + 1;
        c.snd_nxt = iss + 1;
        c.snd_wnd = usize::from(ack_seg.window_len) << c.snd_wscale;
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = ack_seg.seq_number;
        c.snd_wl2 = iss + 1;
        c.mss = c.data_mss(usize::from(mss));
        c.rec.reset(c.snd_una);
        c.cc = new_controller(c.cfg.congestion, c.mss, c.cfg.initial_cwnd);
        c.arm_keepalive(now);
        if !ack_seg.payload.is_empty() || ack_seg.fin {
            c.on_segment(now, ack_seg);
        } else {
            c.stats.segs_in += 1;
        }
        Some(c)
    }

    /// Reads MSS / window scale / SACK-permitted / timestamps from the
    /// peer's SYN or SYN-ACK (RFC 9293 §3.7.1, RFC 7323 §2.2, §3.2,
    /// RFC 2018 §2). An option is used only if both sides offered it.
    pub(crate) fn take_syn_options(&mut self, now: Instant, syn: &TcpRepr<'_>) {
        let peer_mss = usize::from(syn.max_seg_size.unwrap_or(DEFAULT_MSS));
        self.ws_ok = self.cfg.window_scale && syn.window_scale.is_some();
        if self.ws_ok {
            self.snd_wscale = syn.window_scale.unwrap_or(0).min(MAX_WINDOW_SCALE);
        } else {
            self.snd_wscale = 0;
            self.rcv_wscale = 0;
        }
        self.sack_ok = self.cfg.sack && syn.sack_permitted;
        self.ts_ok = self.cfg.timestamps && syn.timestamp.is_some();
        if let Some(ts) = syn.timestamp {
            self.ts_recent = ts.tsval;
            self.ts_recent_stamp = now;
        }
        self.mss = self.data_mss(peer_mss.min(usize::from(self.route_mss)));
    }

    /// Data octets a segment carries under an MSS of `mss` (RFC 6691: the
    /// MSS counts no options, so the timestamp option comes out of it),
    /// never below `MIN_SND_MSS` less that option.
    fn data_mss(&self, mss: usize) -> usize {
        let opts = if self.ts_ok { TS_OPTION_LEN } else { 0 };
        mss.max(MIN_SND_MSS).saturating_sub(opts).max(MIN_SND_MSS - TS_OPTION_LEN)
    }

    /// `seq` lies in flight, SND.UNA ≤ seq < SND.NXT: what an ICMP error
    /// must quote to be believed (RFC 5927 §4.1).
    fn in_flight(&self, seq: SeqNumber) -> bool {
        self.snd_una.le(seq) && seq.lt(self.snd_nxt)
    }

    /// The handshake completed (RFC 9293 §3.10.7.3 / §3.10.7.4 fifth).
    pub(crate) fn establish(&mut self, now: Instant) {
        self.state = State::Established;
        self.retries = 0;
        // RFC 5681 §3.1: if the SYN or SYN-ACK was retransmitted, the
        // initial window is one segment.
        let iw = if self.syn_retransmitted { 1 } else { self.cfg.initial_cwnd };
        if self.syn_retransmitted {
            self.rtt.after_syn_timeout();
        }
        self.cc = new_controller(self.cfg.congestion, self.mss, iw);
        self.hystart = crate::hystart::HyStart::default();
        self.quick_acks = MAX_QUICK_ACKS;
        // Linux tcp_init_buffer_space → tcp_sndbuf_expand: room for two
        // initial windows as far as the memory budget allows, and for two
        // full segments whatever it says, so that the first flight is not
        // held to less than two segments by the send buffer (a peer
        // delaying its ACK for the second full segment would stall it for
        // the delayed-ACK timeout).
        let need = (2 * self.mss).clamp(self.cfg.snd_buf, self.snd_buf_max());
        let cap = self.snd_buf.capacity();
        if need > cap {
            self.mem.force(need - cap);
            self.snd_buf.set_capacity(need);
        }
        self.expand_snd_buf();
        self.rec.reset(self.snd_una);
        self.arm_keepalive(now);
        if self.fin_queued {
            self.state = State::FinWait1;
        }
    }

    pub(crate) fn arm_keepalive(&mut self, now: Instant) {
        self.timers.keepalive = Deadline::from(self.cfg.keepalive.map(|k| now + k.idle));
        self.ka_probes = 0;
    }

    /// Drops everything and enters CLOSED, recording `error` for the
    /// application.
    pub(crate) fn enter_closed(&mut self, error: Option<io::ErrorKind>) {
        self.state = State::Closed;
        if error.is_some() {
            self.error = error;
        }
        self.timers.clear();
        self.syn_pending = false;
        self.ack_pending = false;
        self.dupacks_owed = 0;
        self.probe_pending = false;
        self.keepalive_pending = false;
        self.tlp_pending = false;
    }

    /// RFC 9293 §3.10.7.4 / RFC 5961 §3.2 "connection reset": buffers are
    /// flushed, so unread data is lost and `recv` reports the reset.
    pub(crate) fn reset_by_peer(&mut self, error: Option<io::ErrorKind>) {
        self.rcv_buf.clear();
        self.ooo.clear();
        self.snd_buf.consume(self.snd_buf.len());
        self.enter_closed(error);
    }

    /// Queues a RST (abort, close with unread data).
    pub(crate) fn queue_rst(&mut self) {
        // RFC 9293 §3.10.4 (ABORT): <SEQ=SND.NXT><CTL=RST>. But when
        // SND.NXT lies past the peer's window (it shut the window with
        // our data still unacknowledged), such a RST is outside that
        // window, the peer drops it (RFC 5961 §3.2) and waits on for
        // ever. As Linux's `tcp_acceptable_seq`: the window's edge then.
        let edge = self.snd_wnd_edge();
        let seq = if self.snd_nxt.le(edge) { self.snd_nxt } else { edge };
        let stamped = self.ts_ok && self.state.is_synchronized();
        self.rst_pending = Some(PendingRst { seq, ack: Some(self.rcv_nxt), stamped });
    }

    // -----------------------------------------------------------------
    // Application interface
    // -----------------------------------------------------------------

    /// Copies as much of `data` as fits into the send buffer.
    ///
    /// Allowed in SYN-SENT / SYN-RECEIVED: the data is queued and goes out
    /// once the handshake completes (RFC 9293 §3.10.2). Errors: the
    /// recorded error (ConnectionReset, ConnectionRefused, TimedOut);
    /// BrokenPipe after `shutdown_write`/`close` or once closed;
    /// WouldBlock when the buffer is full.
    #[inline]
    pub fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        if self.fin_queued || self.closed_by_app {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        match self.state {
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {}
            State::Listen => return Err(io::ErrorKind::NotConnected.into()),
            _ => return Err(io::ErrorKind::BrokenPipe.into()),
        }
        if data.is_empty() {
            return Ok(0);
        }
        match self.snd_buf.write(data) {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    /// An ACK is owed now (e.g. a window update after a read): the next
    /// [`Connection::poll_transmit`] sends one.
    #[inline]
    pub fn ack_owed(&self) -> bool {
        self.ack_pending
    }

    /// In-order octets received since our last ACK: what the next ACK
    /// will cover.
    #[inline]
    pub fn rcv_unacked(&self) -> usize {
        self.unacked_bytes
    }

    /// Reads in-order data. `Ok(0)` is end of stream (the peer's FIN was
    /// received and everything before it read). Errors: ConnectionReset
    /// (or the recorded error) once reset — unread data is discarded;
    /// WouldBlock when nothing is available yet; NotConnected after a local
    /// abort.
    #[inline]
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.rcv_buf.is_empty() && !buf.is_empty() {
            let before = self.advertisable_window();
            let n = self.rcv_buf.read(buf);
            self.after_read(n, before);
            return Ok(n);
        }
        self.recv_nothing(buf.is_empty())
    }

    /// [`Connection::recv`] without a copy: `f` sees received bytes where
    /// they lie in the receive buffer (up to its wrap point; call again for
    /// the rest) and returns how many it took. The same results otherwise:
    /// `Ok(0)` at end of stream, `WouldBlock`, the connection's error.
    pub fn recv_with(&mut self, f: impl FnOnce(&[u8]) -> usize) -> io::Result<usize> {
        if !self.rcv_buf.is_empty() {
            let before = self.advertisable_window();
            let n = self.rcv_buf.read_with(f);
            self.after_read(n, before);
            return Ok(n);
        }
        self.recv_nothing(false)
    }

    /// What a read finds with no byte for it (`empty`: the caller asked
    /// for none): end of stream once the peer's FIN is in, whatever ended
    /// the connection after it (Linux `tcp_recvmsg` looks at SOCK_DONE
    /// before the error), else the connection's error.
    fn recv_nothing(&self, empty: bool) -> io::Result<usize> {
        if self.fin_rcvd {
            return Ok(0);
        }
        if let Some(e) = self.error {
            return Err(e.into());
        }
        match self.state {
            State::Closed | State::Listen => Err(io::ErrorKind::NotConnected.into()),
            _ if empty => Ok(0),
            _ => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Window update and auto-tuning after the application read `n` bytes.
    #[inline]
    fn after_read(&mut self, n: usize, window_before: usize) {
        self.drs_account(n);
        // Linux tcp_cleanup_rbuf: if the window we could now offer is at
        // least twice what the peer currently sees, tell it right away
        // (otherwise a sender stalled on a small window waits for a probe).
        if !self.state.can_receive_data() {
            return;
        }
        let seen = self.rcv_adv.checked_sub(self.rcv_nxt).unwrap_or(0);
        let now_wnd = self.advertisable_window();
        // The step `select_window` moves the edge by (receiver SWS
        // avoidance): an ACK owed for less would still offer the old edge.
        let step = usize::from(self.adv_mss).min(self.rcv_buf.capacity() / 2).max(1);
        if now_wnd > window_before && now_wnd >= 2 * seen.max(1) && now_wnd - seen >= step {
            self.ack_pending = true;
        }
        // Linux tcp_cleanup_rbuf, for a delayed ACK still owed: more than
        // a full segment is unacknowledged (a sender held to one segment in
        // flight by its buffer would otherwise wait out the timer), or this
        // read drained the buffer after a short segment, on a connection
        // that is not interactive (the sender's Nagle test waits for this
        // ACK before it sends its next short segment, while no reply is
        // coming to carry it).
        if self.unacked_bytes > 0
            && (self.unacked_bytes > self.rcv_mss
                || (self.small_seg_unacked && self.rcv_buf.is_empty() && !self.pingpong))
        {
            self.ack_pending = true;
        }
    }

    /// Linux `tcp_sndbuf_expand`: the send buffer grows to two congestion
    /// windows, within the configured bounds, as far as the memory budget
    /// allows (Linux too stops under `tcp_mem` pressure).
    pub(crate) fn expand_snd_buf(&mut self) {
        let want = (2 * self.cc.cwnd()).clamp(self.cfg.snd_buf, self.snd_buf_max());
        let cap = self.snd_buf.capacity();
        if want > cap && self.mem.grow(want - cap) {
            self.snd_buf.set_capacity(want);
        }
    }

    /// Ceiling of send-buffer growth (never below the initial size).
    fn snd_buf_max(&self) -> usize {
        self.cfg.snd_buf_max.max(self.cfg.snd_buf)
    }

    /// Charges this connection's buffer growth to `budget`, shared with
    /// the other connections of a stack (see [`MemoryBudget`]); growth so
    /// far is charged too.
    pub fn set_memory_budget(&mut self, budget: MemoryBudget) {
        self.mem.attach(budget);
    }

    /// Linux DRS (`tcp_rcv_space_adjust`): once per RTT, if the application
    /// consumed more than ever before in one RTT, grow the receive buffer
    /// to twice that (the sender's window must cover ~2 RTTs of data to
    /// keep the pipe full while it learns of our growth), up to the max.
    fn drs_account(&mut self, n: usize) {
        self.drs.copied += n;
        let now = self.last_now;
        // In microseconds, the clock's unit: this runs on every read.
        let rtt = self.rcv_rtt_us.or(self.rtt.srtt_micros()).unwrap_or(0);
        if rtt == 0 || now.micros_since(self.drs.since) < rtt {
            return;
        }
        let copied = self.drs.copied;
        self.drs.copied = 0;
        self.drs.since = now;
        if copied <= self.drs.space {
            return;
        }
        self.drs.space = copied;
        let target = (2 * copied).min(self.cfg.rcv_buf_max);
        if target > self.rcv_buf.capacity() && self.mem.grow(target - self.rcv_buf.capacity()) {
            let keep = self.ooo.highest().and_then(|h| h.checked_sub(self.rcv_nxt)).unwrap_or(0);
            self.rcv_buf.grow(target, keep);
        }
    }

    /// `shutdown(Read)`: the application reads no more. Reads are the
    /// socket layer's to refuse; here it decides what new data means once
    /// this end has sent its FIN too (see [`Connection::discards_new_data`]).
    pub fn shutdown_read(&mut self) {
        self.read_shut = true;
    }

    /// Whether `shutdown(Read)` was called: reads end at once.
    #[inline]
    pub fn read_is_shut(&self) -> bool {
        self.read_shut
    }

    /// Whether new data from the peer can never be read, so that its
    /// arrival resets the connection, as on Linux: after `close()`, or
    /// after `shutdown` both ways once our FIN is out (FIN-WAIT-1/2; Linux
    /// `tcp_rcv_state_process` on RCV_SHUTDOWN, which RFC 1122 §4.2.2.13
    /// and 4.4BSD also do). The sender learns its data was lost.
    #[inline]
    pub(crate) fn discards_new_data(&self) -> bool {
        self.closed_by_app || (self.read_shut && matches!(self.state, State::FinWait1 | State::FinWait2))
    }

    /// Half-close (RFC 9293 §3.10.4): a FIN follows the queued data; the
    /// other direction keeps working.
    pub fn shutdown_write(&mut self) {
        if self.fin_queued {
            return;
        }
        match self.state {
            State::SynSent | State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// Linux `close()`: with unread received data, or data arriving later,
    /// the connection is reset (RFC 2525 §2.17, RFC 9293 §3.10.4 note);
    /// otherwise a FIN follows the queued data. In SYN-SENT the connection
    /// just goes away. Unread means readable: data held out of order
    /// does not count (Linux `__tcp_close` looks at the receive queue
    /// only), though it resets the connection if the gap before it fills.
    /// A connection in TIME-WAIT stays there, unread data or not: its
    /// close is over (Linux handed it to a TIME-WAIT socket, and
    /// `__tcp_close` finds the one the application holds CLOSED).
    pub fn close(&mut self) {
        self.closed_by_app = true;
        match self.state {
            State::Closed | State::Listen | State::TimeWait => {}
            State::SynSent => self.enter_closed(None),
            _ if !self.rcv_buf.is_empty() => {
                self.queue_rst();
                self.reset_by_peer(None);
            }
            _ => {
                self.shutdown_write();
                if self.state == State::FinWait2 {
                    self.timers.fin_wait2 = Deadline::at(self.last_now + self.cfg.fin_wait2_timeout);
                }
            }
        }
    }

    /// Aborts (RFC 9293 §3.10.5): RST now (unless nothing was ever
    /// synchronised), buffers dropped, CLOSED. TIME-WAIT is left to run
    /// its 2·MSL, as `close` leaves it (Linux: a close with a zero linger
    /// time of a socket whose connection is in TIME-WAIT).
    pub fn abort(&mut self) {
        self.closed_by_app = true;
        match self.state {
            State::TimeWait => return,
            State::Closed | State::Listen | State::SynSent => {}
            _ => self.queue_rst(),
        }
        self.reset_by_peer(None);
    }

    /// Current state (RFC 9293 §3.3.2).
    #[inline]
    pub fn state(&self) -> State {
        self.state
    }

    /// CLOSED with nothing left to send: the stack may drop it.
    #[inline]
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed && self.rst_pending.is_none()
    }

    /// Data (or EOF, or an error) is available to `recv`.
    pub fn can_recv(&self) -> bool {
        !self.rcv_buf.is_empty() || self.fin_rcvd || self.error.is_some()
    }

    /// Sending is over: shut down (FIN queued or sent), closed by the
    /// application, or the connection closed. A `send` fails at once.
    pub fn send_is_shut(&self) -> bool {
        self.fin_queued
            || self.closed_by_app
            || !matches!(self.state, State::SynSent | State::SynReceived | State::Established | State::CloseWait)
    }

    /// `send` would accept data now.
    pub fn can_send(&self) -> bool {
        !self.send_is_shut() && self.snd_buf.free() > 0
    }

    /// Bytes waiting to be read.
    pub fn recv_queue(&self) -> usize {
        self.rcv_buf.len()
    }

    /// Bytes queued and not yet acknowledged.
    pub fn send_queue(&self) -> usize {
        self.snd_buf.len()
    }

    /// Our end of the 4-tuple.
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    /// The peer's end of the 4-tuple.
    pub fn remote_addr(&self) -> SocketAddrV4 {
        self.remote
    }

    /// Why the connection failed, if it did: ConnectionRefused (RST in
    /// SYN-SENT), ConnectionReset, TimedOut (retries exhausted), or the
    /// ICMP error that ended it or that preceded the timeout.
    pub fn error(&self) -> Option<io::ErrorKind> {
        self.error
    }

    /// Disables (`true`) or enables Nagle's algorithm (`TCP_NODELAY`; RFC 1122
    /// §4.2.3.4).
    pub fn set_nodelay(&mut self, nodelay: bool) {
        if self.cfg.nodelay != nodelay {
            Arc::make_mut(&mut self.cfg).nodelay = nodelay;
        }
    }

    /// Linux `TCP_QUICKACK`: `true` ACKs the next segments at once (as
    /// after the handshake), `false` leaves that mode, so ACKs are
    /// delayed by the RFC 1122 rules from the next segment on.
    pub fn set_quickack(&mut self, on: bool) {
        self.quick_acks = if on { MAX_QUICK_ACKS } else { 0 };
    }

    /// Sets keepalive (`SO_KEEPALIVE`; `None` turns it off); on a synchronized
    /// connection the idle timer restarts now.
    pub fn set_keepalive(&mut self, keepalive: Option<Keepalive>) {
        if self.cfg.keepalive != keepalive {
            Arc::make_mut(&mut self.cfg).keepalive = keepalive;
        }
        if self.state.is_synchronized() {
            self.arm_keepalive(self.last_now);
        }
    }

    /// RFC 9293 §3.3.1 variables, for diagnostics and tests.
    pub fn snd_una(&self) -> SeqNumber {
        self.snd_una
    }

    /// Highest sequence number sent + 1.
    pub fn snd_nxt(&self) -> SeqNumber {
        self.snd_nxt
    }

    /// RCV.NXT: the next sequence number expected from the peer.
    pub fn rcv_nxt(&self) -> SeqNumber {
        self.rcv_nxt
    }

    /// The receive window last advertised, in bytes.
    pub fn rcv_wnd(&self) -> usize {
        self.rcv_wnd
    }

    /// Path MTU discovery (RFC 1191 §6.4, Linux `tcp_mtu_reduced`): the
    /// stack learned a smaller path MSS (MTU − 40) from an ICMP "fragmentation
    /// needed". Future segments, retransmissions included, use the smaller
    /// size; the congestion window keeps its segment count. Never grows
    /// the MSS and never goes below 48 octets.
    pub fn set_path_mss(&mut self, path_mss: u16) {
        let new = self.data_mss(usize::from(path_mss));
        if new < self.mss {
            self.mss = new;
            self.route_mss = path_mss.max(MIN_SND_MSS as u16);
            self.cc.set_mss(new);
        }
    }

    /// An ICMP "fragmentation needed" quoted one of our segments, with
    /// sequence number `seq`, and reported a path MSS of `path_mss`
    /// (RFC 1191 §6.2). Believed only if `seq` is in flight (RFC 5927
    /// §4.1, as Linux `tcp_v4_err`): returns false, and
    /// changes nothing, otherwise. Believed, the MSS drops
    /// ([`Connection::set_path_mss`]), and what is in flight, sent in
    /// segments the path cannot carry, is resent at once in smaller ones
    /// (RFC 1191 §6.4; unless a repair is already under way, which goes
    /// on in the smaller size) without waiting for the retransmission
    /// timer: it counts as lost, the congestion window keeps its segment
    /// count (no congestion was signalled, only the unit changed; Linux
    /// `tcp_simple_retransmit`).
    pub fn on_packet_too_big(&mut self, seq: SeqNumber, path_mss: u16) -> bool {
        if !self.in_flight(seq) {
            return false;
        }
        let before = self.mss;
        self.set_path_mss(path_mss);
        // Already repairing (after a timeout, or in fast recovery): the
        // repair goes on, in segments of the new size.
        let repairing = self.rec.rto_lost_point.is_some() || self.rec.in_recovery;
        if self.mss < before {
            // Segments of the old size were retransmitted: undoing a
            // timeout would bring back a window counted in them.
            self.rec.stop_timeout_detectors();
            if self.state.is_synchronized() && !repairing {
                self.resend_whole_flight();
            }
        }
        true
    }

    /// An ICMP error other than "fragmentation needed" (destination
    /// unreachable, time exceeded) quoted one of our segments, with
    /// sequence number `seq`; `kind` is what the application would see,
    /// `fatal` says the peer host answered that nothing there speaks TCP
    /// on that port (port or protocol unreachable). Believed only if `seq`
    /// is in flight (RFC 5927 §4.1): returns false, changing nothing,
    /// otherwise. Believed, it ends an opening connection (`connect`
    /// fails at once, as on Linux), a passive one only when fatal; a
    /// synchronized connection carries on, and reports `kind` should it
    /// time out (RFC 1122 §4.2.3.9, RFC 5461 §4.1; Linux `tcp_v4_err`).
    pub fn on_icmp_error(&mut self, seq: SeqNumber, kind: io::ErrorKind, fatal: bool) -> bool {
        if !self.in_flight(seq) {
            return false;
        }
        match self.state {
            State::SynSent => self.enter_closed(Some(kind)),
            State::SynReceived if !self.passive || fatal => self.enter_closed(Some(kind)),
            _ => self.soft_error = Some(kind),
        }
        true
    }

    /// What a connection that timed out reports: the last ICMP error
    /// about it, else `TimedOut` (Linux `tcp_write_err`).
    pub(crate) fn timeout_error(&self) -> io::ErrorKind {
        self.soft_error.unwrap_or(io::ErrorKind::TimedOut)
    }

    /// Effective send MSS in data octets.
    pub fn mss(&self) -> usize {
        self.mss
    }

    pub(crate) fn outstanding(&self) -> Outstanding {
        Outstanding {
            snd_una: self.snd_una,
            snd_nxt: self.snd_nxt,
            mss: self.mss,
            sack: self.sack_ok,
            rack_only: self.rack_only(),
        }
    }

    /// RFC 6675 pipe: bytes estimated in the network.
    pub(crate) fn pipe(&self) -> usize {
        self.rec.pipe(&self.scoreboard, self.outstanding())
    }

    /// A snapshot of counters and gauges (`ss -ti`).
    pub fn stats(&self) -> TcpStats {
        self.stats.snapshot(crate::stats::Gauges {
            state: Some(self.state),
            srtt: self.rtt.srtt().unwrap_or_default(),
            rttvar: self.rtt.rttvar(),
            rto: self.rtt.rto(),
            min_rtt: self.rtt.min_rtt().unwrap_or_default(),
            rcv_rtt: self.rcv_rtt_us.map_or(sockstack_time::Duration::ZERO, sockstack_time::Duration::from_micros),
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            pipe: self.pipe(),
            snd_wnd: self.snd_wnd,
            rcv_wnd: self.rcv_wnd,
            snd_wscale: self.snd_wscale,
            rcv_wscale: self.rcv_wscale,
            mss: self.mss,
            rcv_buf: self.rcv_buf.capacity(),
            snd_buf: self.snd_buf.capacity(),
            congestion: self.cc.name(),
            sack: self.sack_ok,
            timestamps: self.ts_ok,
        })
    }
}

#[cfg(test)]
mod size_tests {
    /// What every connection costs, kept in check: its options are shared,
    /// it keeps counters and not the gauges of a snapshot, and a RST it
    /// owes is its numbers (ARCHITECTURE.md, "What an idle connection
    /// costs"). It was 1,432 octets on x86-64 when this was written, 1,888
    /// before those; growing it past the bound should be a decision.
    #[test]
    fn a_connection_stays_small() {
        let size = std::mem::size_of::<super::Connection>();
        assert!(size <= 1536, "Connection is {size} octets");
    }
}
