//! A connection in TIME-WAIT that its application has closed, held in a
//! record of 128 octets instead of a whole [`Connection`] of 1.4 KB
//! (Linux's `inet_timewait_sock`, 4.4BSD-derived stacks' `tcptw`).
//!
//! TIME-WAIT (RFC 9293 §3.10.7.4) keeps a closed connection's 4-tuple for
//! 2·MSL so that old duplicates die and a lost last ACK is sent again.
//! Both ends have sent everything and the application has gone, so what
//! the state needs is small: the sequence space and the window last
//! advertised (acceptability, the ACK it answers with), the timestamps
//! (PAWS, RFC 7323 §5; TS.Recent for a reopening SYN, RFC 6191), the
//! RFC 5961 challenge-ACK and out-of-window ACK rate limits, and the
//! deadline. A host with many short connections holds tens of thousands
//! of them at a time.
//!
//! A segment for a 4-tuple in TIME-WAIT is handled by the connection
//! itself, rebuilt from the record ([`TimeWait::restore`]) and recorded
//! again afterwards ([`Connection::to_time_wait`]): the state has one
//! implementation, the connection's, and the record holds exactly what
//! that implementation reads there.

use crate::config::TcpConfig;
use crate::isn::Initial;
use crate::tcb::Connection;
use crate::timers::Deadline;
use crate::State;
use sockstack_time::{Duration, Instant};
use sockstack_wire::{SeqNumber, TcpRepr};
use std::net::SocketAddrV4;
use std::sync::Arc;

/// A closed connection in TIME-WAIT (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWait {
    /// SND.NXT, everything (our FIN included) acknowledged: SND.UNA too.
    snd_nxt: SeqNumber,
    snd_wl1: SeqNumber,
    snd_wl2: SeqNumber,
    rcv_nxt: SeqNumber,
    /// Right edge of the window last advertised.
    rcv_adv: SeqNumber,
    last_ack_sent: SeqNumber,
    ts_recent: u32,
    ts_offset: u32,
    snd_wnd: u32,
    max_snd_wnd: u32,
    rcv_wnd: u32,
    /// The receive buffer's bound, which the advertised window follows.
    rcv_buf: u32,
    challenge_count: u32,
    challenge_ack_limit: u32,
    ts_recent_stamp: Instant,
    challenge_since: Instant,
    last_oow_ack: Option<Instant>,
    /// When 2·MSL is over.
    deadline: Instant,
    /// 2·MSL, for a restart (a retransmitted FIN).
    time_wait: Duration,
    last_now: Instant,
    adv_mss: u16,
    snd_wscale: u8,
    rcv_wscale: u8,
    ws_ok: bool,
    sack_ok: bool,
    ts_ok: bool,
}

/// RFC 6191 §2 and RFC 1122 §4.2.2.13, as Linux
/// `tcp_timewait_state_process`: may `syn` (no ACK, no RST) reopen a
/// 4-tuple in TIME-WAIT? Yes if it is provably newer than the old
/// incarnation: a higher timestamp, or without timestamps a sequence
/// number beyond RCV.NXT.
pub(crate) fn syn_reopens(ts_ok: bool, ts_recent: u32, rcv_nxt: SeqNumber, syn: &TcpRepr<'_>) -> bool {
    if !syn.syn || syn.rst || syn.ack_number.is_some() {
        return false;
    }
    match (ts_ok, syn.timestamp) {
        (true, Some(ts)) => (ts.tsval.wrapping_sub(ts_recent) as i32) > 0,
        _ => syn.seq_number.gt(rcv_nxt),
    }
}

impl Connection {
    /// This connection as a [`TimeWait`] record, if it is in TIME-WAIT with
    /// nothing left in it: closed by the application, both FINs
    /// exchanged and acknowledged, buffers empty, nothing owed to the
    /// peer (a caller sends what [`Connection::poll_transmit`] has first).
    /// `None` otherwise; the connection then stays whole.
    pub fn to_time_wait(&self) -> Option<TimeWait> {
        let idle = self.state == State::TimeWait
            && self.closed_by_app
            && self.fin_queued
            && self.fin_rcvd
            && self.error.is_none()
            && self.snd_una == self.snd_nxt
            && self.buf_seq + 1 == self.snd_nxt
            && self.snd_buf.is_empty()
            && self.rcv_buf.is_empty()
            && self.ooo.is_empty()
            && self.ooo_fin.is_none()
            && self.dsack.is_none()
            && self.rst_pending.is_none()
            && !(self.ack_pending || self.dupacks_owed > 0 || self.probe_pending || self.keepalive_pending)
            && !(self.syn_pending || self.tlp_pending);
        let deadline = self.timers.time_wait.get();
        let fit = |n: usize| u32::try_from(n).ok();
        Some(TimeWait {
            snd_nxt: self.snd_nxt,
            snd_wl1: self.snd_wl1,
            snd_wl2: self.snd_wl2,
            rcv_nxt: self.rcv_nxt,
            rcv_adv: self.rcv_adv,
            last_ack_sent: self.last_ack_sent,
            ts_recent: self.ts_recent,
            ts_offset: self.ts_offset,
            snd_wnd: fit(self.snd_wnd)?,
            max_snd_wnd: fit(self.max_snd_wnd)?,
            rcv_wnd: fit(self.rcv_wnd)?,
            rcv_buf: fit(self.rcv_buf.capacity())?,
            challenge_count: self.challenge_count,
            challenge_ack_limit: self.cfg.challenge_ack_limit,
            ts_recent_stamp: self.ts_recent_stamp,
            challenge_since: self.challenge_since,
            last_oow_ack: self.last_oow_ack,
            deadline: deadline.filter(|_| idle)?,
            time_wait: self.cfg.time_wait,
            last_now: self.last_now,
            adv_mss: self.adv_mss,
            snd_wscale: self.snd_wscale,
            rcv_wscale: self.rcv_wscale,
            ws_ok: self.ws_ok,
            sack_ok: self.sack_ok,
            ts_ok: self.ts_ok,
        })
    }

    /// For the stack, when a SYN arrives for a 4-tuple whose connection is
    /// in TIME-WAIT: may the old incarnation be dropped and a new one
    /// accepted? See [`TimeWait::accepts_syn`].
    pub fn time_wait_accepts_syn(&self, syn: &TcpRepr<'_>) -> bool {
        self.state == State::TimeWait && syn_reopens(self.ts_ok, self.ts_recent, self.rcv_nxt, syn)
    }
}

impl TimeWait {
    /// When TIME-WAIT ends (2·MSL after it began, or after the last
    /// retransmitted FIN).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The connection's SND.NXT (past its FIN): a connection that reopens
    /// the 4-tuple starts beyond it (RFC 1122 §4.2.2.13).
    pub fn snd_nxt(&self) -> SeqNumber {
        self.snd_nxt
    }

    /// A new SYN may reopen the 4-tuple when it is provably not an old
    /// duplicate: its timestamp is newer than TS.Recent (RFC 6191 §2) or,
    /// without timestamps, its sequence number lies beyond RCV.NXT
    /// (RFC 1122 §4.2.2.13), as Linux `tcp_timewait_state_process`.
    pub fn accepts_syn(&self, syn: &TcpRepr<'_>) -> bool {
        syn_reopens(self.ts_ok, self.ts_recent, self.rcv_nxt, syn)
    }

    /// The connection this record was made from, as far as TIME-WAIT
    /// reads it: feed it the segment, send what it answers, then take
    /// the record again ([`Connection::to_time_wait`]; `None` once a RST
    /// or the end of 2·MSL closed it).
    pub fn restore(&self, local: SocketAddrV4, remote: SocketAddrV4) -> Connection {
        let cfg = TcpConfig {
            time_wait: self.time_wait,
            challenge_ack_limit: self.challenge_ack_limit,
            rcv_buf: self.rcv_buf as usize,
            rcv_buf_max: self.rcv_buf as usize,
            ..TcpConfig::default()
        };
        let initial = Initial { iss: self.snd_nxt - 2, ts_offset: self.ts_offset };
        let mut c =
            Connection::new(self.last_now, local, remote, initial, self.adv_mss, Arc::new(cfg), State::TimeWait);
        c.syn_pending = false;
        c.snd_una = self.snd_nxt;
        c.snd_nxt = self.snd_nxt;
        c.buf_seq = self.snd_nxt - 1;
        c.snd_wnd = self.snd_wnd as usize;
        c.snd_wl1 = self.snd_wl1;
        c.snd_wl2 = self.snd_wl2;
        c.max_snd_wnd = self.max_snd_wnd as usize;
        c.snd_wscale = self.snd_wscale;
        c.rcv_nxt = self.rcv_nxt;
        c.irs = self.rcv_nxt - 2;
        c.rcv_adv = self.rcv_adv;
        c.rcv_wnd = self.rcv_wnd as usize;
        c.rcv_wscale = self.rcv_wscale;
        c.adv_mss = self.adv_mss;
        c.ws_ok = self.ws_ok;
        c.sack_ok = self.sack_ok;
        c.ts_ok = self.ts_ok;
        c.ts_recent = self.ts_recent;
        c.ts_recent_stamp = self.ts_recent_stamp;
        c.last_ack_sent = self.last_ack_sent;
        c.fin_queued = true;
        c.fin_rcvd = true;
        c.closed_by_app = true;
        c.challenge_count = self.challenge_count;
        c.challenge_since = self.challenge_since;
        c.last_oow_ack = self.last_oow_ack;
        c.timers.time_wait = Deadline::at(self.deadline);
        c
    }
}
