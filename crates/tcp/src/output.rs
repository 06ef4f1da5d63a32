//! What to send, and when: `poll_transmit` picks at most one segment per
//! call in priority order (RST, SYN/SYN-ACK, retransmission, new data or
//! FIN, zero-window probe, keepalive, pure ACK), applying the sender rules —
//! congestion window and RFC 6675 pipe, the peer's window, Nagle and sender
//! SWS avoidance (RFC 9293 §3.8.6.2.1, RFC 896) — and the receiver's window
//! advertisement rules (RFC 9293 §3.8.6.2.2, RFC 7323 §2.3). Timer expiry
//! (`on_timer`) and the next deadline (`poll_at`) live here too.

use crate::congestion::{CongestionControl, RtoUndo};
use crate::recovery::{Eifel, Frto, Outstanding, RtoRebase};
use crate::tcb::{Connection, PendingRst};
use crate::timers::{Deadline, Timers};
use crate::State;
use sockstack_time::Instant;
use sockstack_wire::{SeqNumber, TcpRepr, TcpTimestamp};

/// A data/FIN segment chosen for transmission.
#[derive(Debug, Clone, Copy)]
struct Plan {
    seq: SeqNumber,
    len: usize,
    fin: bool,
    retransmit: bool,
    /// A tail loss probe (RFC 8985 §7.3).
    tlp: bool,
    /// A rescue retransmission (RFC 6675 NextSeg rule 4).
    rescue: bool,
}

/// Pipe, the room the congestion window leaves, and the segment size: what
/// a retransmission plan is measured against.
type Room = (usize, usize, usize);

impl Connection {
    /// Our timestamp clock: milliseconds plus a per-connection offset.
    pub(crate) fn ts_now(&self, now: Instant) -> u32 {
        crate::tcb::ts_clock(now, self.ts_offset)
    }

    /// Free receive space: the most we could advertise right now.
    pub(crate) fn advertisable_window(&self) -> usize {
        self.rcv_buf.window()
    }

    /// Chooses the window to advertise and records the right edge
    /// (RFC 9293 §3.8.6.2.2, RFC 7323 §2.3, §2.4).
    fn select_window(&mut self) -> u16 {
        let cap = self.rcv_buf.capacity();
        let free = self.advertisable_window();
        let cur = self.rcv_adv.checked_sub(self.rcv_nxt).unwrap_or(0);
        // Receiver SWS avoidance: move the right edge only by at least
        // min(buffer/2, MSS); never move it left, nor past the buffer.
        let threshold = (cap / 2).min(usize::from(self.adv_mss)).max(1);
        let wnd = if free >= cur + threshold { free } else { cur.min(free) };
        // RFC 7323 §2.4: the field holds the window rounded down to the
        // scale's granularity. Rounded up instead, an edge held still
        // moves right by up to 2^shift − 1 on every ACK whose segment
        // length is not a multiple of it, until it lies past the buffer,
        // and data the peer may send there is dropped (Appendix F). What
        // rounding down takes back (a "retraction") stays acceptable:
        // RCV.ADV keeps the furthest edge ever offered, and data up to it
        // is taken as far as the buffer holds it (§2.4's receiver rule).
        let shift = self.rcv_wscale;
        let field = (wnd >> shift).min(65535);
        let wnd = field << shift;
        self.rcv_wnd = wnd;
        let edge = self.rcv_nxt + wnd;
        if self.rcv_adv.lt(edge) {
            self.rcv_adv = edge;
        }
        field as u16
    }

    /// Header for a segment from us, with ACK and window when appropriate
    /// and the options every segment carries (timestamps, SACK blocks).
    fn header(&mut self, now: Instant, seq: SeqNumber, with_ack: bool) -> TcpRepr<'static> {
        let mut r = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq_number: seq,
            ..TcpRepr::default()
        };
        if with_ack {
            r.ack_number = Some(self.rcv_nxt);
            r.window_len = self.select_window();
            self.last_ack_sent = self.rcv_nxt;
            self.ack_pending = false;
            self.unacked_bytes = 0;
            self.small_seg_unacked = false;
            self.timers.delack = Deadline::NEVER;
            if self.sack_ok && (self.dsack.is_some() || !self.ooo.is_empty()) {
                let blocks = self.ooo.sack_blocks();
                match self.dsack.take() {
                    // RFC 2883 §4: the D-SACK block goes first, then the
                    // usual blocks.
                    Some(d) => {
                        r.sack_ranges[0] = Some(d);
                        r.sack_ranges[1..].copy_from_slice(&blocks[..3]);
                    }
                    None => r.sack_ranges = blocks,
                }
            }
        }
        if self.ts_ok {
            r.timestamp = Some(TcpTimestamp { tsval: self.ts_now(now), tsecr: self.ts_recent });
        }
        r
    }

    /// Option octets beyond the timestamps that a segment would carry now
    /// (SACK blocks), which reduce the room for data (RFC 6691).
    #[inline]
    fn extra_option_len(&self) -> usize {
        if !self.sack_ok || (self.ooo.is_empty() && self.dsack.is_none()) {
            return 0;
        }
        let blocks = self.ooo.sack_blocks().iter().flatten().count().min(3) + usize::from(self.dsack.is_some());
        let room = if self.ts_ok { 3 } else { 4 };
        4 + 8 * blocks.min(room)
    }

    fn syn_segment(&mut self, now: Instant) -> TcpRepr<'static> {
        let synack = self.state == State::SynReceived;
        let mut r = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq_number: self.iss,
            syn: true,
            // RFC 7323 §2.2: the window in a SYN is never scaled.
            window_len: self.advertisable_window().min(65535) as u16,
            max_seg_size: Some(self.adv_mss),
            ..TcpRepr::default()
        };
        if synack {
            r.ack_number = Some(self.rcv_nxt);
            self.last_ack_sent = self.rcv_nxt;
            self.rcv_adv = self.rcv_nxt + usize::from(r.window_len);
            self.rcv_wnd = usize::from(r.window_len);
            self.ack_pending = false;
        }
        if self.ws_ok {
            r.window_scale = Some(self.rcv_wscale);
        }
        r.sack_permitted = self.sack_ok;
        if self.ts_ok {
            r.timestamp =
                Some(TcpTimestamp { tsval: self.ts_now(now), tsecr: if synack { self.ts_recent } else { 0 } });
        }
        r
    }

    /// End of the data the application queued (the FIN's sequence number
    /// if one is queued).
    fn data_end(&self) -> SeqNumber {
        self.buf_seq + self.snd_buf.len()
    }

    /// Everything queued is sent, the FIN too if one is queued.
    fn all_sent(&self) -> bool {
        self.snd_nxt == self.data_end() + usize::from(self.fin_queued)
    }

    /// Queued octets not yet sent (SND.NXT to the end of the data).
    pub(crate) fn unsent(&self) -> usize {
        self.data_end().checked_sub(self.snd_nxt).unwrap_or(0)
    }

    /// The right edge of the send window the peer offered: SND.UNA +
    /// SND.WND.
    #[inline]
    pub(crate) fn snd_wnd_edge(&self) -> SeqNumber {
        self.snd_una + self.snd_wnd
    }

    /// Room the peer's window leaves past SND.NXT (SND.UNA + SND.WND − SND.NXT).
    fn wnd_room(&self) -> usize {
        self.snd_wnd_edge().checked_sub(self.snd_nxt).unwrap_or(0)
    }

    /// Nothing owed but data: no RST, ACK, duplicate ACK, window or
    /// keepalive probe, or tail loss probe waiting to go first.
    fn nothing_else_owed(&self) -> bool {
        self.rst_pending.is_none()
            && !(self.ack_pending || self.dupacks_owed > 0 || self.probe_pending || self.keepalive_pending)
            && !self.tlp_pending
    }

    /// RFC 8985 §7.3: the probe is one new segment if the receive window
    /// allows (regardless of cwnd and Nagle), else the last segment sent.
    fn plan_tlp(&self) -> Option<Plan> {
        let mss = self.mss.saturating_sub(self.extra_option_len()).max(1);
        let data_end = self.data_end();
        let fin_seq = self.fin_queued.then_some(data_end);
        let (unsent, wnd_room) = (self.unsent(), self.wnd_room());
        if unsent > 0 && wnd_room > 0 {
            let len = unsent.min(mss).min(wnd_room);
            return Some(Plan {
                seq: self.snd_nxt,
                len,
                fin: fin_seq.is_some() && len == unsent,
                retransmit: false,
                tlp: true,
                rescue: false,
            });
        }
        let sent_end = data_end.min(self.snd_nxt);
        let len = sent_end.checked_sub(self.snd_una).unwrap_or(0).min(mss);
        let fin = fin_seq.is_some_and(|f| f.lt(self.snd_nxt));
        (len > 0 || fin).then_some(Plan { seq: sent_end - len, len, fin, retransmit: true, tlp: true, rescue: false })
    }

    /// A tail loss probe may be scheduled (RFC 8985 §7.2 conditions).
    fn tlp_allowed(&self) -> bool {
        self.sack_ok
            && self.state.is_synchronized()
            && self.snd_una != self.snd_nxt
            && !self.rec.in_recovery
            && self.rec.rto_lost_point.is_none()
            && self.tlp_end.is_none()
            && self.rtt.srtt().is_some()
    }

    /// RFC 8985 §7.2: PTO = 2·SRTT, plus the worst-case delayed ACK when a
    /// single segment is in flight; no later than the RTO would fire (the
    /// probe then goes at that time, instead of the timeout: see
    /// `on_timer`).
    #[inline]
    pub(crate) fn arm_tlp(&mut self, now: Instant) {
        self.timers.tlp = Deadline::NEVER;
        if !self.tlp_allowed() {
            return;
        }
        // In microseconds: this runs for every segment sent and ACK taken.
        let srtt = self.rtt.srtt_micros().unwrap_or_default();
        let mut pto = srtt.saturating_mul(2);
        if self.snd_nxt - self.snd_una <= self.mss {
            pto = pto.saturating_add(200_000);
        }
        let at = now.add_micros(pto.max(10_000));
        self.timers.tlp = Deadline::at(self.timers.rto.get().map_or(at, |rto| at.min(rto)));
    }

    /// Picks the next data/FIN segment, if the sender rules allow one now.
    /// Inlined where the segment is sent: a `Plan` returned from another
    /// function comes back through memory, field by field, and is then
    /// copied whole, which stalls on the stores it reads (no forwarding).
    #[inline(always)]
    fn plan(&self) -> Option<Plan> {
        let o = self.outstanding();
        let loss_free = self.rec.loss_free(&self.scoreboard, o);
        if !self.tlp_pending && loss_free && self.all_sent() {
            return None;
        }
        self.plan_full(o, loss_free)
    }

    /// Whether [`Connection::plan`] would pick a segment, for a caller that
    /// only asks.
    #[inline]
    fn plan_due(&self) -> bool {
        !self.nothing_to_plan() && self.plan_full_due()
    }

    /// The common answer of the planner, asked after every segment
    /// received, settled before its set-up: everything sent, no probe due,
    /// nothing lost, SACKed or owed again.
    #[inline]
    fn nothing_to_plan(&self) -> bool {
        !self.tlp_pending && self.all_sent() && self.rec.loss_free(&self.scoreboard, self.outstanding())
    }

    /// [`Connection::plan_due`] past the quick answer, out of line.
    #[inline(never)]
    fn plan_full_due(&self) -> bool {
        let o = self.outstanding();
        self.plan_full(o, self.rec.loss_free(&self.scoreboard, o)).is_some()
    }

    /// [`Connection::plan`] past its quick answer: the sender rules in full.
    /// `loss_free`: nothing lost, SACKed or owed again (the common case),
    /// where pipe is what is in flight and no retransmission rule can pick
    /// anything.
    #[inline(always)]
    fn plan_full(&self, o: Outstanding, loss_free: bool) -> Option<Plan> {
        if !self.state.is_synchronized() {
            return None;
        }
        if self.tlp_pending {
            if let Some(p) = self.plan_tlp() {
                return Some(p);
            }
        }
        // Everything sent as well: no rule can pick a segment (the common
        // answer, asked after every segment sent).
        if loss_free && self.all_sent() {
            return None;
        }
        let data_end = self.data_end();
        let mss = self.mss.saturating_sub(self.extra_option_len()).max(1);
        let fin_seq = self.fin_queued.then_some(data_end);
        let pipe = if loss_free { self.rec.flight(o) } else { self.pipe() };
        let cwnd_room = self.cc.cwnd().saturating_sub(pipe);
        let room = (pipe, cwnd_room, mss);

        if !loss_free {
            // F-RTO step 2b (RFC 5682 §3.1), while a timeout's flight counts
            // as lost: new data, not retransmissions, until the next ACK
            // shows whether it was.
            // When none can go after all (the window shrank), the
            // conventional recovery takes over (`send_plan` ends F-RTO).
            if let Frto::NewData { new } = self.rec.frto {
                if new == 0 {
                    return None;
                }
                let len = self.unsent().min(mss).min(self.wnd_room());
                if len > 0 {
                    return Some(Plan {
                        seq: self.snd_nxt,
                        len,
                        fin: false,
                        retransmit: false,
                        tlp: false,
                        rescue: false,
                    });
                }
            }
            // Retransmission: first what RACK found lost after
            // retransmitting it (RFC 8985 §6.2), then NextSeg rule 1 (lost
            // data), in order.
            let rule1 = self.rec.next_resend(&self.scoreboard, o).or_else(|| self.rec.next_lost(&self.scoreboard, o));
            if let Some((start, max)) = rule1 {
                return self.plan_rexmit(room, start, max);
            }
        }

        // New data (NextSeg rule 2) or a FIN.
        let unsent = self.unsent();
        let fin_unsent = fin_seq.is_some_and(|f| self.snd_nxt.le(f));
        let wnd_room = self.wnd_room();
        let len = unsent.min(mss).min(wnd_room);
        let idle = self.snd_una == self.snd_nxt;
        let cwnd_ok = pipe == 0 || cwnd_room >= len.max(1);
        if len > 0 && cwnd_ok {
            let all = len == unsent;
            // RFC 896 as refined by Minshall (and Linux tcp_minshall_check):
            // a short segment waits only while an earlier short segment is
            // unacknowledged, not behind full-sized ones, so the tail of a
            // write does not wait for a delayed ACK of full segments.
            let short_unacked = self.snd_sml.gt(self.snd_una);
            let nagle_ok = self.cfg.nodelay || idle || !short_unacked || (all && fin_unsent);
            let send = len >= mss || self.force_send || (all && nagle_ok) || (len >= self.max_snd_wnd / 2 && nagle_ok);

            if send {
                let fin = fin_unsent && all;
                return Some(Plan { seq: self.snd_nxt, len, fin, retransmit: false, tlp: false, rescue: false });
            }
        } else if unsent == 0 && fin_unsent && wnd_room > 0 {
            // A lone FIN takes one sequence number of the window (RFC 9293
            // §3.10.7.4 would drop it at a shut one); behind a shut window
            // it waits, and the persist timer probes (as Linux's
            // `tcp_snd_wnd_test`).
            return Some(Plan { seq: self.snd_nxt, len: 0, fin: true, retransmit: false, tlp: false, rescue: false });
        }
        self.plan_beyond_new_data(room, o, unsent > 0)
    }

    /// [`Connection::plan_full`] when rule 2 picked nothing: NextSeg rule 3,
    /// and with nothing new to send, rule 4 (the rescue). Out of line:
    /// only repair and window-limited senders get here.
    #[inline(never)]
    fn plan_beyond_new_data(&self, room: Room, o: Outstanding, unsent: bool) -> Option<Plan> {
        if let Some((start, max)) = self.rec.next_rule3(&self.scoreboard, o) {
            return self.plan_rexmit(room, start, max);
        }
        if unsent {
            // Sender window-limited: rule 2 failed, and so did rule 3.
            return None;
        }
        // Nothing new to send: RFC 6675 NextSeg rule 4.
        self.rec
            .rescue(&self.scoreboard, o)
            .and_then(|(start, max)| self.plan_rexmit(room, start, max).map(|p| Plan { rescue: true, ..p }))
    }

    /// A retransmission of at most `max` octets from `start`, if the
    /// congestion window has room for it (`room`: pipe, the room cwnd
    /// leaves, the segment size).
    fn plan_rexmit(&self, (pipe, cwnd_room, mss): Room, start: SeqNumber, max: usize) -> Option<Plan> {
        if pipe > 0 && cwnd_room < mss.min(max) {
            return None;
        }
        let data_end = self.data_end();
        let len = max.min(mss).min(data_end.checked_sub(start).unwrap_or(0));
        let fin = self.fin_queued && start + len == data_end && data_end.lt(self.snd_nxt);
        (len > 0 || fin).then_some(Plan { seq: start, len, fin, retransmit: true, tlp: false, rescue: false })
    }

    /// [`Connection::poll_transmit`] until it has nothing more or `max`
    /// segments went out; returns how many did. The segments, their order
    /// and every side effect are those of that many single calls. A run of
    /// full-sized new segments (bulk data, nothing lost, nothing else owed)
    /// costs less this way: after the run's first segment, the timers
    /// (already run at this instant) and the general sender rules are not
    /// worked through again for each segment (Linux plans a GSO burst
    /// once, too).
    pub fn poll_transmit_burst(&mut self, now: Instant, max: usize, mut emit: impl FnMut(&TcpRepr<'_>)) -> usize {
        let mut sent = 0;
        while sent < max && self.poll_transmit(now, &mut emit) {
            sent += 1;
            // A full segment unsent first: it rules out every
            // request/response flush before the longer test.
            if self.unsent() >= self.mss && self.run_may_follow() {
                while sent < max {
                    let Some(p) = self.next_in_run() else { break };
                    // As `poll_transmit` after `plan`, at its own clock.
                    self.force_send = false;
                    self.send_plan(self.last_now, &p, &mut emit);
                    sent += 1;
                }
            }
            if self.sent_all() {
                break;
            }
        }
        sent
    }

    /// Whether a run of full-sized new segments may go on straight after
    /// a segment `poll_transmit` sent: no RST, ACK, probe or FIN to go
    /// first or ride along, nothing lost (so no retransmission rule
    /// applies), no SACK blocks shortening a segment. Sending new data
    /// changes none of this, so it holds for the whole run. No timer can
    /// come due in it either: those a segment arms lie in the future.
    fn run_may_follow(&self) -> bool {
        self.nothing_else_owed()
            && !self.fin_queued
            && matches!(self.state, State::Established | State::CloseWait)
            && self.extra_option_len() == 0
            && self.rec.loss_free(&self.scoreboard, self.outstanding())
    }

    /// The next segment of a run (see [`Connection::run_may_follow`]): a
    /// full segment's worth of data unsent, in the send window and the
    /// congestion window, and contiguous in the send ring. Then `plan`
    /// would pick exactly this (the new-data rule; a full segment passes
    /// Nagle). `None` leaves the decision to `poll_transmit`.
    fn next_in_run(&self) -> Option<Plan> {
        let mss = self.mss.max(1);
        let pipe = self.rec.flight(self.outstanding());
        let cwnd_ok = pipe == 0 || self.cc.cwnd().saturating_sub(pipe) >= mss;
        let offset = self.snd_nxt.checked_sub(self.buf_seq).unwrap_or(0);
        let full = self.unsent() >= mss && self.wnd_room() >= mss && self.snd_buf.contiguous_len(offset) >= mss;
        (full && cwnd_ok).then_some(Plan {
            seq: self.snd_nxt,
            len: mss,
            fin: false,
            retransmit: false,
            tlp: false,
            rescue: false,
        })
    }

    /// Emits at most one segment that is due now — RST, SYN/SYN-ACK,
    /// retransmission, data, FIN, window probe, keepalive or ACK — through
    /// `emit`, and returns whether it did. Call until it returns false.
    /// Also runs any due timers first (so calling `on_timer` separately is
    /// optional). The `TcpRepr` passed to `emit` borrows the send buffer.
    pub fn poll_transmit(&mut self, now: Instant, emit: impl FnOnce(&TcpRepr<'_>)) -> bool {
        // `on_timer` keeps the clock from running backwards (see
        // `on_segment`): our timestamps stay monotonic.
        self.on_timer(now);
        let now = self.last_now;
        if let Some(PendingRst { seq, ack, stamped }) = self.rst_pending.take() {
            let mut rst = TcpRepr {
                src_port: self.local.port(),
                dst_port: self.remote.port(),
                seq_number: seq,
                ack_number: ack,
                rst: true,
                ..TcpRepr::default()
            };
            if stamped {
                rst.timestamp = Some(TcpTimestamp { tsval: self.ts_now(now), tsecr: self.ts_recent });
            }
            self.stats.rst_sent += 1;
            self.stats.segs_out += 1;
            emit(&rst);
            return true;
        }
        match self.state {
            State::Closed | State::Listen => return false,
            State::SynSent | State::SynReceived => {
                if self.syn_pending {
                    self.syn_pending = false;
                    let r = self.syn_segment(now);
                    if self.rtt_timing.is_none() && !self.syn_retransmitted {
                        self.rtt_timing = Some((self.iss + 1, now));
                    }
                    if !self.timers.rto.is_armed() {
                        self.timers.rto = Deadline::at(self.rtt.rto_deadline(now));
                    }
                    self.stats.segs_out += 1;
                    emit(&r);
                    return true;
                }
                if self.state == State::SynSent {
                    // Nothing but the SYN can be sent before the peer's
                    // SYN arrives.
                    self.ack_pending = false;
                    self.dupacks_owed = 0;
                }
                if self.state == State::SynReceived && self.ack_pending {
                    let r = self.header(now, self.snd_nxt, true);
                    self.stats.segs_out += 1;
                    emit(&r);
                    return true;
                }
                return false;
            }
            _ => {}
        }

        if self.dupacks_owed > 0 {
            self.dupacks_owed -= 1;
            let r = self.header(now, self.snd_nxt, true);
            self.stats.segs_out += 1;
            emit(&r);
            return true;
        }
        if let Some(p) = self.plan() {
            self.force_send = false;
            return self.send_plan(now, &p, emit);
        }
        self.maybe_arm_persist(now);

        // An ACK owed goes before a probe: the probe's old sequence number
        // makes the peer drop it after answering (RFC 9293 §3.10.7.4), ACK
        // field unread, so it cannot stand in for the ACK. (Two ends whose
        // keepalive timers fire together would otherwise each answer the
        // other's probe with a probe, and time each other out.)
        if self.ack_pending {
            let r = self.header(now, self.snd_nxt, true);
            self.stats.segs_out += 1;
            emit(&r);
            return true;
        }
        if self.probe_pending || self.keepalive_pending {
            // Linux tcp_xmit_probe_skb: an ACK with an old sequence number
            // (snd_una − 1) that the peer must answer with an ACK carrying
            // its current window.
            if self.probe_pending {
                self.stats.window_probes += 1;
            } else {
                self.stats.keepalive_probes += 1;
            }
            self.probe_pending = false;
            self.keepalive_pending = false;
            let r = self.header(now, self.snd_una - 1, true);
            self.stats.segs_out += 1;
            emit(&r);
            return true;
        }
        false
    }

    fn send_plan(&mut self, now: Instant, plan: &Plan, emit: impl FnOnce(&TcpRepr<'_>)) -> bool {
        // Taken apart field by field: a whole copy of the plan just stored
        // would stall on those stores (see `plan`).
        let Plan { seq, mut len, mut fin, retransmit, tlp, rescue } = *plan;
        // A segment never straddles the send ring's wrap point: it ends
        // there, and the next one starts at the ring's front. One short
        // segment per ring's worth of data costs less than rotating the
        // ring (a copy of everything buffered) to make the range contiguous.
        let offset = seq.checked_sub(self.buf_seq).unwrap_or(0);
        let contiguous = self.snd_buf.contiguous_len(offset);
        if len > contiguous && contiguous > 0 {
            len = contiguous;
            fin = false;
        }
        if fin && !retransmit && self.snd_wnd_edge().le(seq + len) {
            // A new FIN rides with the last data only if the window has
            // room for its sequence number too: past the edge the peer
            // would trim it off (RFC 9293 §3.10.7.4), and an abort's RST,
            // which goes at the edge then, would not match what was sent.
            // It follows alone once the window opens (Linux
            // `tcp_snd_wnd_test` counts it in the segment's end).
            fin = false;
        }
        let end = seq + len + usize::from(fin);
        if tlp {
            self.tlp_pending = false;
            self.tlp_retrans = retransmit;
            self.stats.tail_loss_probes += 1;
        }
        if retransmit {
            self.stats.retransmits += 1;
            self.stats.bytes_retrans += len as u64;
            if matches!(self.rec.frto, Frto::NewData { .. }) {
                // F-RTO's premise (one retransmission since the timeout)
                // no longer holds.
                self.rec.frto = Frto::Off;
            }
            self.rack.on_any_retransmission(end);
            // Karn (RFC 6298 §3): no timing across a retransmission.
            self.rtt_timing = None;
            if self.ts_ok {
                let tsval = self.ts_now(now);
                self.rexmit_tsval = Some(tsval);
                if self.rec.eifel == Eifel::Armed {
                    // RFC 3522 §3.2: the timeout's first retransmission.
                    self.rec.eifel = Eifel::Sent(tsval);
                }
            }
            if !tlp {
                // For D-SACK undo (RFC 3708), while the recovery's marker
                // stands (a timeout clears it); a probe has its own episode.
                self.rec.note_retransmission(seq, end);
            }
            if tlp {
                // HighRxt is NextSeg's, not the probe's.
                self.rack.on_tail_resend(seq, now);
            } else if rescue {
                // RFC 6675 NextSeg rule 4: RescueRxt = RecoveryPoint; HighRxt
                // MUST NOT be updated.
                self.rec.rescue_rxt = Some(self.rec.recovery_point);
            } else {
                if self.rec.in_recovery {
                    self.stats.fast_retransmits += 1;
                }
                self.rec.high_rxt = self.rec.high_rxt.max(end);
                self.rec.clear_resend(seq, end);
                self.rack.on_retransmit(seq, end, now);
            }
        } else {
            if len > 0 && self.snd_una == self.snd_nxt {
                let idle = now.micros_since(self.last_data_sent);
                if idle > self.rtt.rto_micros() {
                    // RFC 5681 §4.1 (Linux tcp_slow_start_after_idle): after
                    // an idle period longer than the RTO, the ACK clock is
                    // gone.
                    let iw = self.cfg.initial_cwnd.max(1) as usize * self.mss;
                    self.cc.restart_after_idle(now, iw);
                } else {
                    self.cc.on_idle_end(now, sockstack_time::Duration::from_micros(idle));
                }
            }
            if len > 0 && len < self.mss.saturating_sub(self.extra_option_len()) {
                self.snd_sml = seq + len;
            }
            if len > 0 {
                self.last_data_sent = now;
                // Linux tcp_event_data_sent: a reply within the delayed-ACK
                // time of the data it answers marks the connection
                // interactive.
                if self.last_data_rcvd.is_some_and(|t| now.micros_since(t) < self.cfg.delack_micros()) {
                    self.pingpong = true;
                }
            }
            if self.rtt_timing.is_none() && len > 0 {
                self.rtt_timing = Some((end, now));
            }
            if end.gt(self.snd_nxt) {
                self.rack.on_send(seq, end, now);
            }
            self.snd_nxt = self.snd_nxt.max(end);
            self.stats.bytes_sent += len as u64;
            if let Frto::NewData { new } = self.rec.frto {
                self.rec.frto = Frto::NewData { new: new.saturating_sub(1) };
            }
        }
        if len > 0 {
            self.stats.data_segs_out += 1;
        }
        self.stats.segs_out += 1;
        // RFC 6298 §5.1: start the timer if it is not running; after a
        // probe, restart it (RFC 8985 §7.3).
        if !self.timers.rto.is_armed() || tlp {
            self.timers.rto = Deadline::at(self.rtt.rto_deadline(now));
        }
        if tlp {
            self.tlp_end = Some(self.snd_nxt);
            self.timers.tlp = Deadline::NEVER;
        } else if !retransmit {
            self.arm_tlp(now);
        }
        self.timers.persist = Deadline::NEVER;
        let mut r = self.header(now, seq, true);
        r.fin = fin;
        // PSH on the segment that empties what the application wrote.
        r.psh = len > 0 && offset + len == self.snd_buf.len();
        r.payload = self.snd_buf.slice(offset, len);
        emit(&r);
        true
    }

    /// RFC 9293 §3.8.6.1: with data to send but none allowed out (zero
    /// window, or a window too small for sender SWS avoidance) and nothing
    /// in flight to elicit ACKs, the persist timer probes the window — or,
    /// for a small open window, overrides SWS avoidance (Linux
    /// `tcp_check_probe_timer` / `tcp_write_wakeup`).
    #[inline]
    fn needs_persist(&self) -> bool {
        self.state.is_synchronized()
            && (self.unsent() > 0 || (self.fin_queued && self.snd_nxt == self.data_end()))
            && self.snd_una == self.snd_nxt
            && !self.timers.persist.is_armed()
            && !self.timers.rto.is_armed()
    }

    fn maybe_arm_persist(&mut self, now: Instant) {
        if self.needs_persist() {
            self.timers.persist = Deadline::at(now + self.persist_interval());
        }
    }

    fn persist_interval(&self) -> sockstack_time::Duration {
        let mut d = self.rtt.base_rto();
        for _ in 0..self.persist_backoff.min(20) {
            d = d.saturating_mul(2);
        }
        d.min(self.cfg.rto_max)
    }

    /// Runs the timers that are due at `now`.
    pub fn on_timer(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        let now = self.last_now;
        if Timers::take_due(&mut self.timers.time_wait, now) {
            // RFC 9293 §3.10.8: 2·MSL elapsed.
            self.enter_closed(None);
            return;
        }
        if Timers::take_due(&mut self.timers.fin_wait2, now) {
            self.enter_closed(None);
            return;
        }
        if Timers::take_due(&mut self.timers.tlp, now) && self.tlp_allowed() {
            self.tlp_pending = self.plan_tlp().is_some();
            // RFC 8985 §7.2: a probe due when the RTO is (its PTO clamped
            // to the RTO's time) goes instead of the timeout, which sending
            // it re-arms (§7.3).
            if self.tlp_pending && self.timers.rto.get().is_some_and(|rto| rto <= now) {
                self.timers.rto = Deadline::at(self.rtt.rto_deadline(now));
            }
        }
        if Timers::take_due(&mut self.timers.rto, now) {
            self.on_rto(now);
        }
        if Timers::take_due(&mut self.timers.rack, now) {
            self.run_rack(now);
        }
        if Timers::take_due(&mut self.timers.delack, now) {
            self.stats.delayed_acks += 1;
            self.ack_pending = true;
            // No reply came in time: not interactive after all.
            self.pingpong = false;
        }
        if Timers::take_due(&mut self.timers.persist, now) {
            self.probes += 1;
            if self.probes > self.cfg.retries {
                self.enter_closed(Some(self.timeout_error()));
                return;
            }
            if self.snd_wnd == 0 {
                // RFC 9293 §3.8.6.1 keeps a probed connection open while
                // the peer answers; Linux (`tcp_probe_timer`) makes an
                // exception of orphans.
                if self.closed_by_app && self.persist_backoff >= self.cfg.orphan_retries {
                    self.queue_rst();
                    self.reset_by_peer(Some(self.timeout_error()));
                    return;
                }
                self.probe_pending = true;
                self.persist_backoff += 1;
                self.timers.persist = Deadline::at(now + self.persist_interval());
            } else {
                self.force_send = true;
            }
        }
        if Timers::take_due(&mut self.timers.keepalive, now) {
            self.on_keepalive(now);
        }
    }

    fn on_keepalive(&mut self, now: Instant) {
        let Some(ka) = self.cfg.keepalive else {
            return;
        };
        if !matches!(self.state, State::Established | State::CloseWait | State::FinWait2) {
            return;
        }
        let idle = now.saturating_duration_since(self.last_rcv);
        // Linux tcp_keepalive_timer: a connection with data in flight or
        // waiting to be sent (behind a zero window, which the persist
        // timer probes) is alive without keepalive.
        if idle < ka.idle || self.snd_una != self.snd_nxt || !self.all_sent() {
            // Traffic since: wait for the rest of the idle period.
            self.timers.keepalive = Deadline::at(self.last_rcv.max(now) + ka.idle.max(ka.interval));
            if idle < ka.idle {
                self.timers.keepalive = Deadline::at(self.last_rcv + ka.idle);
            }
            return;
        }
        if self.ka_probes >= ka.count {
            // Linux tcp_keepalive_timer: reset and report ETIMEDOUT.
            self.queue_rst();
            self.reset_by_peer(Some(self.timeout_error()));
            return;
        }
        self.ka_probes += 1;
        self.keepalive_pending = true;
        self.timers.keepalive = Deadline::at(now + ka.interval);
    }

    /// RFC 6298 §5.4–5.7: the retransmission timer expired.
    fn on_rto(&mut self, now: Instant) {
        match self.state {
            State::SynSent | State::SynReceived => {
                self.retries += 1;
                let limit = if self.state == State::SynSent { self.cfg.syn_retries } else { self.cfg.synack_retries };
                if self.retries > limit {
                    self.enter_closed(Some(self.timeout_error()));
                    return;
                }
                self.rtt.back_off();
                self.rtt_timing = None;
                self.syn_retransmitted = true;
                self.syn_pending = true;
                self.stats.rto_timeouts += 1;
            }
            State::Closed | State::Listen | State::TimeWait => {}
            _ => {
                if self.snd_una == self.snd_nxt {
                    return;
                }
                self.retries += 1;
                // An orphan gives up sooner (Linux `tcp_write_timeout`).
                let limit =
                    if self.closed_by_app { self.cfg.orphan_retries.min(self.cfg.retries) } else { self.cfg.retries };
                if self.retries > limit {
                    self.enter_closed(Some(self.timeout_error()));
                    return;
                }
                self.stats.rto_timeouts += 1;
                // RFC 5681 §3.1: a timeout of data a timeout already
                // resent (no ACK of new data since), or one during fast
                // recovery, holds ssthresh (Linux tcp_enter_loss).
                let repeated = self.retries > 1 || self.rec.in_recovery || self.rec.rto_lost_point.is_some();
                let (eifel, frto, undo) = self.spurious_rto_detection();
                let flight = self.pipe();
                self.cc.on_rto(now, flight, undo, repeated);
                self.rtt.on_timeout(undo);
                // RFC 4015 §3: which ACK may re-base the estimator, once the
                // timeout is undone.
                let rebase = match undo {
                    RtoUndo::Save => RtoRebase::Saved(self.snd_nxt),
                    RtoUndo::Keep => match self.rec.rto_rebase {
                        saved @ RtoRebase::Saved(_) => saved,
                        _ => RtoRebase::Off,
                    },
                    RtoUndo::Drop => RtoRebase::Off,
                };
                // RFC 2018 §8: the receiver may discard data it SACKed
                // (Linux does, pruning its out-of-order queue under memory
                // pressure), and the segment at the left edge MUST be
                // resent after a timeout, SACKed or not. SACKed data at
                // SND.UNA shows it did: what it SACKed is forgotten, and
                // everything outstanding is resent (Linux
                // `tcp_timeout_mark_lost`).
                if self.scoreboard.ranges().first().is_some_and(|r| r.start.le(self.snd_una)) {
                    self.stats.sack_reneging += 1;
                    self.scoreboard.clear();
                }
                self.resend_whole_flight();
                self.rec.eifel = eifel;
                self.rec.frto = frto;
                self.rec.rto_rebase = rebase;
            }
        }
    }

    /// Where the two detectors of a spurious timeout stand after this one,
    /// and what the controller keeps for an undo. Only the first timeout
    /// of an episode outside fast recovery (whose own retransmissions came
    /// first) can be judged; later ones of the episode keep Eifel's
    /// verdict pending and end F-RTO (RFC 5682 §3.1 step 1: a recurring
    /// timeout goes on with the conventional recovery).
    ///
    /// Eifel (RFC 3522) needs timestamps, and compares with the episode's
    /// first retransmission (Linux `retrans_stamp`): a tail loss probe's,
    /// if one is still out. F-RTO needs none, but a probe that resent the
    /// tail already broke its premise (that nothing was retransmitted
    /// since the flight went), so it is not run then.
    fn spurious_rto_detection(&self) -> (Eifel, Frto, RtoUndo) {
        // (HighRxt above SND.UNA: a retransmission from before is still
        // out, and an ACK of it would prove nothing.)
        let fresh = !self.rec.in_recovery && self.rec.rto_lost_point.is_none() && self.rec.high_rxt.le(self.snd_una);
        if !fresh {
            return match self.rec.eifel {
                Eifel::Off => (Eifel::Off, Frto::Off, RtoUndo::Drop),
                pending => (pending, Frto::Off, RtoUndo::Keep),
            };
        }
        let probe_out = self.tlp_end.is_some() && self.tlp_retrans;
        let eifel = match (self.ts_ok, probe_out, self.rexmit_tsval) {
            (false, _, _) | (true, true, None) => Eifel::Off,
            (true, true, Some(probe)) => Eifel::Sent(probe),
            (true, false, _) => Eifel::Armed,
        };
        let frto = if probe_out { Frto::Off } else { Frto::Armed { recover: self.snd_nxt } };
        let undo = if eifel == Eifel::Off && frto == Frto::Off { RtoUndo::Drop } else { RtoUndo::Save };
        (eifel, frto, undo)
    }

    /// Everything outstanding and not SACKed counts as lost and is resent
    /// in order, as the congestion window allows (RFC 5681 §3.1 after a
    /// timeout; also after a path MTU drop). No RTT sample across it
    /// (Karn), no tail loss probe, no fast recovery under way.
    pub(crate) fn resend_whole_flight(&mut self) {
        self.rtt_timing = None;
        self.rec.in_recovery = false;
        self.rec.reno_sacked = 0;
        self.rec.dupacks = 0;
        self.rec.recovery_point = self.snd_nxt;
        self.rec.rto_lost_point = Some(self.snd_nxt);
        self.rec.high_rxt = self.snd_una;
        // A timeout's reduction is not undone by D-SACKs here; only the
        // timeout itself may set up an Eifel or F-RTO undo (`on_rto`).
        self.rec.undo_marker = None;
        self.rec.stop_timeout_detectors();
        self.rec.undo_ranges.clear();
        self.rec.resend.clear();
        self.rack.on_rto();
        self.rec.rack_lost_point = None;
        self.timers.rack = Deadline::NEVER;
        self.timers.tlp = Deadline::NEVER;
        self.tlp_pending = false;
        self.tlp_end = None;
    }

    /// Earliest instant at which `poll_transmit` / `on_timer` has work:
    /// a time not after the latest `now` seen means "immediately". `None`
    /// when closed with nothing to send.
    pub fn poll_at(&self) -> Option<Instant> {
        if self.rst_pending.is_some() {
            return Some(self.last_now);
        }
        if matches!(self.state, State::Closed | State::Listen) {
            return None;
        }
        let immediate = self.ack_pending
            || self.dupacks_owed > 0
            || self.probe_pending
            || self.keepalive_pending
            || (self.syn_pending && !self.state.is_synchronized())
            || self.plan_due();
        if immediate {
            return Some(self.last_now);
        }
        // The persist timer is armed lazily by poll_transmit.
        if self.needs_persist() {
            return Some(self.last_now);
        }
        self.timers.earliest()
    }

    /// Whether `poll_transmit` has something to send now (or a due timer
    /// to run), as [`Connection::poll_at`] reports it, and if not, the next
    /// deadline. A stack asks after feeding a segment in: with nothing due,
    /// the connection need not be flushed, only its timer entry moved.
    #[inline]
    pub fn output_due(&self) -> (bool, Option<Instant>) {
        match self.poll_at() {
            Some(t) if t <= self.last_now => (true, None),
            next => (false, next),
        }
    }

    /// After [`Connection::poll_transmit`] sent a segment: whether the next
    /// call would certainly send nothing (everything sent, nothing lost,
    /// no ACK, probe or RST owed), so a caller draining the output can stop
    /// without asking once more. In request/response every flush sends one
    /// segment, and the asking costs as much as planning it. False does
    /// not mean that more is due.
    #[inline]
    pub fn sent_all(&self) -> bool {
        self.state.is_synchronized()
            && self.nothing_else_owed()
            && self.all_sent()
            && self.rec.loss_free(&self.scoreboard, self.outstanding())
    }

    /// [`Connection::poll_at`] for a caller that has just drained
    /// [`Connection::poll_transmit`] (its last call returned false, or
    /// [`Connection::sent_all`] held after it):
    /// nothing is due at once then, so only the timers remain, and the
    /// segment planning `poll_at` would repeat is skipped.
    #[inline]
    pub fn poll_at_drained(&self) -> Option<Instant> {
        let next = if matches!(self.state, State::Closed | State::Listen) { None } else { self.timers.earliest() };
        debug_assert_eq!(next, self.poll_at(), "poll_at_drained called with output still due");
        next
    }
}
