//! Segment arrival: RFC 9293 §3.10.7 "SEGMENT ARRIVES", step by step, with
//! the RFC 7323 PAWS check, the RFC 5961 defences (challenge ACKs for
//! in-window RSTs and SYNs and for old ACKs), RFC 5681 duplicate-ACK
//! counting and the entry into fast recovery (RFC 6582 / RFC 6675).

use crate::congestion::CongestionControl;
use crate::hystart::{Growth, CSS_GROWTH_DIVISOR};
use crate::recovery::{Eifel, Frto, RtoRebase};
use crate::tcb::{Connection, PendingRst, MAX_QUICK_ACKS};
use crate::timers::Deadline;
use crate::State;
use sockstack_time::{Duration, Instant};
use sockstack_wire::{checksum, SeqNumber, TcpRepr};
use std::io;

/// RFC 7323 §5.5: TS.Recent is invalid after 24 days of idleness.
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

/// Least time between two ACKs answering out-of-window pure ACKs (Linux's
/// `tcp_invalid_ratelimit` default).
const OOW_ACK_INTERVAL: Duration = Duration::from_millis(500);

/// The RST answering a segment that has no business here (RFC 9293
/// §3.10.7.1, the CLOSED-state rule, also used for a bad ACK in SYN-SENT
/// and SYN-RECEIVED): `<SEQ=SEG.ACK><CTL=RST>` if the segment had ACK,
/// else `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`. Never answers a RST.
///
/// The stack uses this for segments that match no connection or listener.
pub fn rst_reply(seg: &TcpRepr<'_>) -> Option<TcpRepr<'static>> {
    if seg.rst {
        return None;
    }
    let mut r = TcpRepr { src_port: seg.dst_port, dst_port: seg.src_port, rst: true, ..TcpRepr::default() };
    match seg.ack_number {
        Some(ack) => r.seq_number = ack,
        None => {
            r.seq_number = SeqNumber(0);
            r.ack_number = Some(seg.seq_number + seg.segment_len());
        }
    }
    Some(r)
}

impl Connection {
    /// A segment for this connection arrived (checksum verified, 4-tuple
    /// matched by the stack). Never panics; bad segments are dropped or
    /// answered as the RFCs say and counted in [`Connection::stats`].
    pub fn on_segment(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        // Time never runs backwards for a connection, whatever clock reading
        // its caller took (threads sharing it may read it in any order):
        // timestamps, RTT samples and timers all see the latest.
        self.last_now = self.last_now.max(now);
        let now = self.last_now;
        self.stats.segs_in += 1;
        if !seg.payload.is_empty() {
            self.stats.data_segs_in += 1;
        }
        if self.on_segment_predicted(now, seg) {
            return;
        }
        if seg.rst {
            self.stats.rst_received += 1;
        }
        match self.state {
            // RFC 9293 §3.10.7.1
            State::Closed => {
                self.stats.dropped_segments += 1;
                if self.rst_pending.is_none() {
                    self.rst_pending = PendingRst::reply_to(seg);
                }
            }
            // A Connection is never LISTEN; listeners belong to the stack.
            State::Listen => self.stats.dropped_segments += 1,
            State::SynSent => self.on_segment_syn_sent(now, seg),
            _ => self.on_segment_synchronized(now, seg, self.snd_wscale),
        }
    }

    /// [`Connection::on_segment`] for a segment whose checksum is not
    /// verified yet: `header_sum` is the RFC 1071 sum of its pseudo-header
    /// and header (`TcpPacket::header_sum`). A payload that will land in
    /// order is summed while it is copied into the receive buffer, one pass
    /// over it instead of two (Linux `skb_copy_and_csum_datagram` does the
    /// same at `recvmsg`); any other is summed first. A wrong checksum
    /// (RFC 9293 §3.1) drops the segment before it changes anything:
    /// false then, and the caller counts it.
    pub fn on_segment_unverified(&mut self, now: Instant, seg: &TcpRepr<'_>, header_sum: u16) -> bool {
        let placed = self.place_in_order(seg);
        let payload_sum = placed.unwrap_or_else(|| checksum::data(seg.payload));
        if checksum::combine(&[header_sum, payload_sum]) != 0xffff {
            return false;
        }
        self.rcv_placed = placed.is_some();
        self.on_segment(now, seg);
        self.rcv_placed = false;
        true
    }

    /// Copies the payload of a segment that will be stored whole at
    /// `rcv_nxt` into the receive buffer (not yet readable) and returns its
    /// sum; `None` for any other segment. Not while data waits out of
    /// order: its octets lie in the same ring, past the readable end, and
    /// a segment that overlaps them and then fails its checksum (or any
    /// later test) would have overwritten them.
    fn place_in_order(&mut self, seg: &TcpRepr<'_>) -> Option<u16> {
        let len = seg.payload.len();
        let in_order = len > 0
            && !seg.syn
            && self.state.can_receive_data()
            && !self.discards_new_data()
            && self.ooo.is_empty()
            && seg.seq_number == self.rcv_nxt
            && (seg.seq_number + len).le(self.rcv_adv);
        if in_order {
            self.rcv_buf.place(seg.payload)
        } else {
            None
        }
    }

    fn drop_seg(&mut self) {
        self.stats.dropped_segments += 1;
    }

    /// RFC 9293 §3.10.7.3.
    fn on_segment_syn_sent(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        // First, check the ACK bit.
        let mut ack_ok = false;
        if let Some(ack) = seg.ack_number {
            if ack.le(self.iss) || ack.gt(self.snd_nxt) {
                if !seg.rst {
                    self.rst_pending = PendingRst::reply_to(seg);
                }
                return self.drop_seg();
            }
            ack_ok = ack.ge(self.snd_una);
        }
        // Second, the RST bit: only with an acceptable ACK (RFC 5961 §3.2
        // leaves SYN-SENT to this rule).
        if seg.rst {
            if ack_ok {
                self.reset_by_peer(Some(io::ErrorKind::ConnectionRefused));
            } else {
                self.drop_seg();
            }
            return;
        }
        // Fourth, the SYN bit.
        if !seg.syn {
            return self.drop_seg();
        }
        self.take_syn_options(now, seg);
        self.irs = seg.seq_number;
        self.rcv_nxt = seg.seq_number + 1;
        self.rcv_adv = self.rcv_nxt;
        // RFC 7323 §2.2: a SYN's window is not scaled.
        self.snd_wnd = usize::from(seg.window_len);
        self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
        self.snd_wl1 = seg.seq_number;
        match seg.ack_number {
            Some(ack) if ack_ok => {
                self.snd_una = ack;
                self.snd_wl2 = ack;
                self.rtt_sample_on_ack(now, ack, seg);
                self.timers.rto = Deadline::NEVER;
                self.syn_pending = false;
                self.establish(now);
                self.ack_pending = true;
                // Data on a SYN-ACK is processed from step six on.
                if !seg.payload.is_empty() || seg.fin {
                    self.process_text_and_fin(now, seg);
                }
            }
            _ => {
                // Simultaneous open (RFC 9293 §3.5 Figure 8): SYN-RECEIVED,
                // answer with SYN-ACK (our SYN again, now acknowledging
                // theirs). Any data is dropped and will be retransmitted.
                self.state = State::SynReceived;
                self.syn_pending = true;
                self.snd_wl2 = self.snd_una;
            }
        }
    }

    /// RFC 9293 §3.10.7.4, states SYN-RECEIVED through TIME-WAIT.
    /// `wscale`: the shift of the window `seg` offers (the peer's, but
    /// none for a SYN's window, RFC 7323 §2.2).
    fn on_segment_synchronized(&mut self, now: Instant, seg: &TcpRepr<'_>, wscale: u8) {
        // Simultaneous open (RFC 9293 §3.5 Figure 8): the peer's SYN-ACK
        // reaches us in SYN-RECEIVED. Its SYN is the one we already
        // acknowledged, so it is entirely "old" by the acceptability test;
        // treat it as the ACK it carries, as Linux does
        // (tcp_validate_incoming).
        if self.state == State::SynReceived
            && !self.passive
            && seg.syn
            && !seg.rst
            && seg.ack_number == Some(self.snd_nxt)
            && seg.seq_number + 1 == self.rcv_nxt
        {
            let mut rest = *seg;
            rest.syn = false;
            rest.seq_number = self.rcv_nxt;
            // Still a SYN's window, which is never scaled (RFC 7323 §2.2;
            // Linux scales it here, in tcp_rcv_state_process).
            return self.on_segment_synchronized(now, &rest, 0);
        }
        let seg_len = seg.segment_len();

        // A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost.
        // (Linux tcp_check_req.) Answer with the SYN-ACK again.
        if self.state == State::SynReceived
            && seg.syn
            && seg.ack_number.is_none()
            && !seg.rst
            && seg.seq_number == self.irs
        {
            self.syn_pending = true;
            return;
        }

        // RFC 7323 §5.3 R1: PAWS, before the sequence check. A segment
        // without the option is taken, as Linux takes it, against §3.2's
        // SHOULD drop: stacks that leave it off some segments (keepalives,
        // a SYN-cookie server's data) exist, and dropping theirs stalls
        // the connection, where taking it loses only PAWS for that segment.
        if self.ts_ok && !seg.rst {
            if let Some(ts) = seg.timestamp {
                if !self.ts_not_older(ts.tsval) {
                    if now.saturating_duration_since(self.ts_recent_stamp) > PAWS_IDLE {
                        // R1 exception: TS.Recent too old to be trusted.
                        self.ts_recent = ts.tsval;
                        self.ts_recent_stamp = now;
                    } else {
                        self.stats.paws_drops += 1;
                        self.drop_seg();
                        self.ack_out_of_window(now, seg);
                        return;
                    }
                }
            }
        }

        // First: sequence number check (RFC 9293 §3.10.7.4 table).
        let rcv_wnd = self.rcv_adv.checked_sub(self.rcv_nxt).unwrap_or(0);
        let mut zero_window_data = false;
        if !self.acceptable(seg.seq_number, seg_len, rcv_wnd) {
            if rcv_wnd == 0 && seg.seq_number == self.rcv_nxt && !seg.rst && !seg.syn {
                // "special allowance should be made to accept valid ACKs,
                // URGs, and RSTs": process the ACK, drop the text. A bare
                // FIN is taken too, as Linux does (`tcp_data_queue`): it
                // needs no room, and some stacks send one into a shut
                // window again and again.
                zero_window_data = !(seg.fin && seg.payload.is_empty());
            } else {
                if !seg.rst {
                    // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
                    self.ack_out_of_window(now, seg);
                    // (A SYN's challenge ACK reports no duplicate: it may
                    // not go at all, rate-limited, as Linux's does not.)
                    if !seg.syn && !seg.payload.is_empty() && seg.seq_number.lt(self.rcv_nxt) {
                        let end = (seg.seq_number + seg.payload.len()).min(self.rcv_nxt);
                        self.note_dsack(seg.seq_number, end);
                    }
                    if self.state == State::TimeWait && seg.fin {
                        // A retransmitted FIN: our last ACK was lost.
                        self.timers.time_wait = Deadline::at(now + self.cfg.time_wait);
                    }
                }
                return self.drop_seg();
            }
        }

        // Second: RST (RFC 5961 §3.2).
        if seg.rst {
            if seg.seq_number != self.rcv_nxt {
                // In window but not exact: maybe blind. Challenge.
                self.challenge_ack(now);
                return self.drop_seg();
            }
            match self.state {
                State::SynReceived if self.passive => {
                    // Back to LISTEN: for us, the embryonic connection dies.
                    self.reset_by_peer(Some(io::ErrorKind::ConnectionReset));
                }
                State::SynReceived => {
                    self.reset_by_peer(Some(io::ErrorKind::ConnectionRefused));
                }
                State::Established | State::FinWait1 | State::FinWait2 => {
                    self.reset_by_peer(Some(io::ErrorKind::ConnectionReset));
                }
                // The peer's FIN has arrived: everything it sent is in. The
                // RST ends the connection but takes no data away: what the
                // application has not read yet stays readable, then end of
                // stream, as on Linux, whose reads take what is queued, and
                // then the FIN, before they look at the error. In
                // CLOSE-WAIT the application may still write: that fails,
                // with Linux's error there (EPIPE).
                State::CloseWait | State::Closing | State::LastAck | State::TimeWait => {
                    let writes_fail = (self.state == State::CloseWait).then_some(io::ErrorKind::BrokenPipe);
                    self.snd_buf.consume(self.snd_buf.len());
                    self.enter_closed(writes_fail);
                }
                _ => self.reset_by_peer(None),
            }
            return;
        }

        // Fourth: SYN in a synchronised state (RFC 5961 §4, adopted by RFC
        // 9293): challenge ACK, drop.
        if seg.syn {
            self.challenge_ack(now);
            return self.drop_seg();
        }

        // Fifth: the ACK field.
        let Some(ack) = seg.ack_number else {
            return self.drop_seg();
        };
        if self.state == State::SynReceived {
            if self.snd_una.lt(ack) && ack.le(self.snd_nxt) {
                self.snd_wnd = usize::from(seg.window_len) << wscale;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seg.seq_number;
                self.snd_wl2 = ack;
                self.syn_pending = false;
                self.timers.rto = Deadline::NEVER;
                self.rtt_sample_on_ack(now, ack, seg);
                self.snd_una = ack;
                self.buf_seq = self.buf_seq.max(ack);
                self.establish(now);
            } else {
                // <SEQ=SEG.ACK><CTL=RST>
                self.rst_pending = PendingRst::reply_to(seg);
                return self.drop_seg();
            }
        }
        if ack.gt(self.snd_nxt) {
            // Acknowledges something not yet sent: ACK and drop.
            self.ack_out_of_window(now, seg);
            return self.drop_seg();
        }
        // RFC 5961 §5.2: too old an ACK is suspicious.
        let oldest = self.snd_una - self.max_snd_wnd.min(1 << 30);
        if ack.lt(oldest) {
            self.challenge_ack(now);
            return self.drop_seg();
        }
        // RFC 7323 §4.3 takes TS.Recent from any segment that passed the
        // sequence check; as Linux (tcp_ack, FLAG_UPDATE_TS_RECENT), only
        // once its RST, SYN and ACK passed too. Otherwise a blind
        // attacker who guessed a sequence number in the window, but not
        // the acknowledgment, could plant a TS.Recent far ahead, and PAWS
        // would then drop every segment of the real peer.
        self.update_ts_recent(now, seg);
        self.last_rcv = now;
        self.probes = 0;
        if self.cfg.keepalive.is_some() {
            self.arm_keepalive(now);
        }
        self.process_ack(now, seg, ack, wscale);
        if self.state == State::Closed {
            return;
        }

        // Sixth: URG. Urgent data is delivered inline as ordinary data
        // (RFC 6093 §6: new applications should not rely on it); the
        // pointer is ignored.
        // Seventh and eighth: text and FIN.
        if zero_window_data {
            self.ack_pending = true;
            self.drop_seg();
            return;
        }
        self.process_text_and_fin(now, seg);
    }

    /// RFC 7323 §5.3 R1: `tsval` is not older than TS.Recent (PAWS).
    pub(crate) fn ts_not_older(&self, tsval: u32) -> bool {
        (tsval.wrapping_sub(self.ts_recent) as i32) >= 0
    }

    /// RFC 7323 §4.3: TS.Recent from an acceptable segment covering
    /// Last.ACK.sent.
    pub(crate) fn update_ts_recent(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        if let Some(ts) = seg.timestamp {
            if self.ts_ok && self.ts_not_older(ts.tsval) && seg.seq_number.le(self.last_ack_sent) {
                self.ts_recent = ts.tsval;
                self.ts_recent_stamp = now;
            }
        }
    }

    /// RFC 9293 §3.10.7.4 fifth step: a segment updates the send window
    /// if it is newer than the one that set it last (SND.WL1, SND.WL2),
    /// or, as Linux's `tcp_may_update_window` has it, if it acknowledges
    /// new data (`una`: SND.UNA before it). The peer's ACKs only grow, so
    /// such a segment was sent after every ACK taken so far, its window
    /// too; but a retransmission of old data has an old SEG.SEQ. Taken as
    /// stale, a window it closes would stay open, its right edge sliding
    /// on with the ACK, and data would go out past the peer's edge.
    ///
    /// An ACK below SND.UNA updates nothing, however new its SEG.SEQ
    /// ("If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be
    /// updated"; Linux's `tcp_ack` leaves old ACKs at `old_ack`): once a
    /// retransmission set SND.WL1 back, a delayed segment sent before it
    /// would pass the SND.WL1 test with the window of an older ACK.
    pub(crate) fn updates_window(&self, una: SeqNumber, seq: SeqNumber, ack: SeqNumber) -> bool {
        if ack.lt(una) {
            return false;
        }
        una.lt(ack) || self.snd_wl1.lt(seq) || (self.snd_wl1 == seq && self.snd_wl2.le(ack))
    }

    /// The window update itself; an open window ends zero-window probing.
    pub(crate) fn set_send_window(&mut self, seq: SeqNumber, ack: SeqNumber, wnd: usize) {
        self.snd_wnd = wnd;
        self.max_snd_wnd = self.max_snd_wnd.max(wnd);
        self.snd_wl1 = seq;
        self.snd_wl2 = ack;
        if wnd > 0 {
            self.timers.persist = Deadline::NEVER;
            self.probe_pending = false;
            self.persist_backoff = 0;
        }
    }

    /// In-window text of `len` octets arrived: the receiver's MSS estimate
    /// and its RTT sample from the echoed timestamp (for buffer
    /// auto-tuning).
    pub(crate) fn note_text(&mut self, now: Instant, seg: &TcpRepr<'_>, len: usize) {
        self.rcv_mss = self.rcv_mss.max(len.min(usize::from(self.adv_mss)));
        if let Some(ts) = seg.timestamp.filter(|_| self.ts_ok) {
            // A timestamp ticks once a millisecond: an echo of this tick
            // says "under a millisecond", not zero, and a zero estimate
            // would stop the receive buffer's growth (Linux
            // tcp_rcv_rtt_measure_ts skips it too).
            if let Some(r) = self.ts_rtt_micros(now, ts.tsecr).filter(|&r| r > 0) {
                self.rcv_rtt_us = Some(r);
            }
        }
    }

    /// RFC 9293 §3.10.7.4 acceptability table.
    fn acceptable(&self, seq: SeqNumber, len: usize, wnd: usize) -> bool {
        let in_wnd = |s: SeqNumber| self.rcv_nxt.le(s) && s.lt(self.rcv_nxt + wnd);
        match (len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => in_wnd(seq),
            (_, 0) => false,
            (_, _) => in_wnd(seq) || in_wnd(seq + (len - 1)),
        }
    }

    /// The ACK owed to a segment dropped as outside the window or as old
    /// (PAWS): at once for a segment with data or a FIN, as a challenge
    /// ACK for a SYN, at most one per `OOW_ACK_INTERVAL` for a pure ACK
    /// (Linux `tcp_oow_rate_limited`).
    /// Two ends that each find the other's ACKs unacceptable would
    /// otherwise answer each other's ACKs for ever.
    fn ack_out_of_window(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        // RFC 5961 §4.2: a SYN gets a challenge ACK wherever it lies, under
        // the challenge ACKs' rate limit (§7), as one in the window does
        // (Linux tcp_validate_incoming, syn_challenge).
        if seg.syn {
            return self.challenge_ack(now);
        }
        if !seg.payload.is_empty() || seg.fin {
            self.ack_pending = true;
            return;
        }
        if self.last_oow_ack.is_none_or(|t| now.saturating_duration_since(t) >= OOW_ACK_INTERVAL) {
            self.last_oow_ack = Some(now);
            self.ack_pending = true;
        }
    }

    /// RFC 5961 §7: send a challenge ACK, at most `challenge_ack_limit` a
    /// second.
    fn challenge_ack(&mut self, now: Instant) {
        if now.saturating_duration_since(self.challenge_since) >= Duration::from_secs(1) {
            self.challenge_since = now;
            self.challenge_count = 0;
        }
        if self.challenge_count < self.cfg.challenge_ack_limit {
            self.challenge_count += 1;
            self.stats.challenge_acks += 1;
            self.ack_pending = true;
        }
    }

    /// RTT sample for an ACK of new data: the Karn-safe timed segment if it
    /// is covered (RFC 6298 §3), else the timestamp echo (RFC 7323 §4.1).
    fn rtt_sample_on_ack(&mut self, now: Instant, ack: SeqNumber, seg: &TcpRepr<'_>) {
        // RFC 4015 §3: the first ACK of data sent after a spurious timeout
        // re-initialises the estimator with its sample; an ACK that gives
        // none (Karn's rule) ends the wait too, so a rebase never lingers
        // to fire much later.
        let rebase = match self.rec.rto_rebase {
            RtoRebase::Due(snd_max) if ack.gt(snd_max) => {
                self.rec.rto_rebase = RtoRebase::Off;
                true
            }
            _ => false,
        };
        // In microseconds, the clock's unit: one sample per ACK.
        let mut sample = None;
        if let Some((_, sent)) = self.rtt_timing.filter(|(seq, _)| ack.ge(*seq)) {
            self.rtt_timing = None;
            // A segment first sent after the latest retransmission is
            // acknowledged: every echo from now on is newer than it.
            self.rexmit_tsval = None;
            sample = Some(now.micros_since(sent));
        } else if let Some(ts) = seg.timestamp.filter(|_| self.ts_ok) {
            // RFC 7323 §4.1 times a retransmission by its echo (Karn's
            // rule does not apply), but an echo older than our latest
            // retransmission answers an earlier transmission whose ACK was
            // lost (the receiver held data we retransmitted, and echoed
            // the TS.Recent of before): it would time ACK loss, not the
            // path, and drive the RTO up to its ceiling under heavy loss.
            let stale = self.rexmit_tsval.is_some_and(|r| (ts.tsecr.wrapping_sub(r) as i32) < 0);
            if !stale {
                // Echoes only grow (TS.Recent does): none is stale again
                // until the next retransmission.
                self.rexmit_tsval = None;
                sample = self.ts_rtt_micros(now, ts.tsecr);
            }
        }
        match sample {
            Some(rtt) if rebase => self.rtt.rebase_micros(rtt),
            Some(rtt) => self.rtt.sample_micros(rtt),
            None if rebase => self.rtt.forget_prior(),
            None => {}
        }
        if let Some(rtt) = sample {
            if self.hystart_watches() {
                self.hystart.on_rtt_sample(Duration::from_micros(rtt));
            }
        }
    }

    /// Whether HyStart++ watches the ACKs ([`crate::hystart::applies`]).
    fn hystart_watches(&self) -> bool {
        self.cfg.hystart && crate::hystart::applies(self.cc.cwnd(), self.cc.ssthresh(), self.mss)
    }

    /// Round trip from an echoed TSval, in microseconds, if plausible (a
    /// hostile echo from the future or the distant past is ignored).
    fn ts_rtt_micros(&self, now: Instant, tsecr: u32) -> Option<u64> {
        if tsecr == 0 {
            return None;
        }
        let d = self.ts_now(now).wrapping_sub(tsecr) as i32;
        let max = self.cfg.rto_max.as_millis() as i32;
        (0..=max).contains(&d).then(|| d as u64 * 1000)
    }

    /// Fifth step for an acceptable ACK in a synchronised state (`wscale`
    /// as for [`Connection::on_segment_synchronized`]).
    fn process_ack(&mut self, now: Instant, seg: &TcpRepr<'_>, ack: SeqNumber, wscale: u8) {
        let wnd = usize::from(seg.window_len) << wscale;
        // What was in flight, for congestion control on new data acked
        // (before this ACK's SACK blocks change the scoreboard).
        let flight_before = if self.snd_una.lt(ack) { self.pipe() } else { 0 };
        let old_una = self.snd_una;
        let high_rxt_before = self.rec.high_rxt.max(old_una);
        self.tlp_pending = false;

        // SACK information (RFC 2018 §3, RFC 6675 §5).
        let mut newly_sacked = 0;
        let mut dsack = false;
        if self.sack_ok {
            // RFC 8985 §6.2 step 3, before the blocks enter the scoreboard.
            // Octets below RescueRxt's may be the rescue's delivery.
            let high_rxt = self.rec.rescue_rxt.map_or(high_rxt_before, |r| r.max(high_rxt_before));
            if self.rack.detect_reordering(old_una, ack, &seg.sack_ranges, self.snd_nxt, &self.scoreboard, high_rxt) {
                self.stats.reord_seen += 1;
            }
            if seg.sack_ranges[0].is_some() {
                if let Some((start, end)) = crate::sack::dsack(&seg.sack_ranges, ack, self.snd_nxt) {
                    dsack = true;
                    self.stats.dsacks_received += 1;
                    self.on_dsack(start, end);
                }
                // Blocks count above SND.UNA, not above an older ACK's
                // number: an ACK overtaken by a later one reports octets
                // that are acknowledged already (Linux
                // tcp_is_sackblock_valid).
                let una = if ack.lt(self.snd_una) { self.snd_una } else { ack };
                let (n, bytes) = self.scoreboard.update(&seg.sack_ranges, una, self.snd_nxt);
                self.stats.sack_blocks_received += n as u64;
                newly_sacked = bytes;
            }
        }

        let dupack = ack == self.snd_una
            && self.snd_nxt.gt(self.snd_una)
            && seg.payload.is_empty()
            && !seg.fin
            && (wnd == self.snd_wnd || newly_sacked > 0);
        if self.rec.frto != Frto::Off {
            self.frto_on_ack(ack, dupack);
        }
        if self.snd_una.lt(ack) {
            if self.rec.eifel != Eifel::Off {
                self.eifel_detect(seg, ack);
            }
            self.ack_new_data(now, seg, ack, flight_before);
        } else if dupack {
            // RFC 5681 §2 duplicate ACK (RFC 6675 counts ACKs carrying new
            // SACK information too).
            self.on_dupack(now);
        }
        if self.sack_ok && newly_sacked > 0 {
            self.maybe_enter_recovery_sack(now);
        }
        if self.sack_ok {
            // RFC 8985 §6.2: RACK on every ACK (step 4: the reordering
            // window, which D-SACKs widen).
            let echo = self.tsecr(seg).map(|e| e.wrapping_sub(self.ts_offset));
            self.rack.on_ack(now, old_una, ack, &self.scoreboard, high_rxt_before, echo);
            self.rack.update_reo_wnd(self.snd_una, self.snd_nxt, dsack);
            self.run_rack(now);
        }
        self.on_tlp_ack(now, seg, old_una, ack, dsack);
        self.arm_tlp(now);

        if self.updates_window(old_una, seg.seq_number, ack) {
            self.set_send_window(seg.seq_number, ack, wnd);
        }

        // State transitions on our FIN being acknowledged.
        let fin_acked = self.fin_queued && self.snd_una == self.buf_seq + self.snd_buf.len() + 1;
        if fin_acked {
            match self.state {
                State::FinWait1 => {
                    self.state = State::FinWait2;
                    if self.closed_by_app {
                        self.timers.fin_wait2 = Deadline::at(now + self.cfg.fin_wait2_timeout);
                    }
                }
                State::Closing => self.enter_time_wait(now),
                State::LastAck => self.enter_closed(None),
                _ => {}
            }
        }
    }

    /// SND.UNA < `ack`: RTT sample, SND.UNA advanced, acknowledged data
    /// dropped from the send buffer, the scoreboard trimmed, recovery and
    /// window bookkeeping, the retransmission timer, send-buffer growth.
    /// `flight_before` is what was in flight before this ACK.
    pub(crate) fn ack_new_data(&mut self, now: Instant, seg: &TcpRepr<'_>, ack: SeqNumber, flight_before: usize) {
        self.rtt_sample_on_ack(now, ack, seg);
        let acked = ack - self.snd_una;
        self.snd_una = ack;
        // Drop acknowledged data from the send buffer (the SYN and FIN
        // occupy sequence space but no buffer).
        let upto = ack.min(self.buf_seq + self.snd_buf.len());
        if let Some(n) = upto.checked_sub(self.buf_seq) {
            self.snd_buf.consume(n);
            self.stats.bytes_acked += n as u64;
            self.buf_seq = upto;
        }
        self.scoreboard.advance(ack);
        self.retries = 0;
        self.soft_error = None;
        self.on_new_ack(now, acked, flight_before);
        // RFC 6298 §5.2, §5.3.
        self.timers.rto =
            if self.snd_una == self.snd_nxt { Deadline::NEVER } else { Deadline::at(self.rtt.rto_deadline(now)) };
        // Send buffer grows with cwnd.
        self.expand_snd_buf();
    }

    /// New data acknowledged: recovery bookkeeping and window growth.
    fn on_new_ack(&mut self, now: Instant, acked: usize, flight_before: usize) {
        self.rec.dupacks = 0;
        if self.rec.in_recovery {
            if self.snd_una.ge(self.rec.recovery_point) {
                // RFC 6582 §3.2 step 3 / RFC 6675 §5: full ACK, done.
                self.rec.in_recovery = false;
                self.rec.reno_sacked = 0;
                self.cc.on_recovery_exit(now);
                self.rack.on_recovery_exit();
            } else if !self.sack_ok {
                // RFC 6582 §3.2 step 5, partial ACK: the hole at the new
                // snd_una is lost too; the segments that produced dupacks
                // were acknowledged (Linux tcp_remove_reno_sacks).
                let left = acked.saturating_sub(self.mss);
                self.rec.reno_sacked = self.rec.reno_sacked.saturating_sub(left);
            }
        } else {
            // Built only where the window grows (not on most ACKs).
            let srtt_us = self.rtt.srtt_micros();
            let srtt = || Duration::from_micros(srtt_us.unwrap_or(100_000));
            // Grow only when the window was actually the limit (RFC 7661,
            // Linux tcp_is_cwnd_limited).
            let cwnd = self.cc.cwnd();
            let limited =
                if cwnd < self.cc.ssthresh() { 2 * flight_before >= cwnd } else { flight_before + self.mss >= cwnd };
            let growth = if self.hystart_watches() {
                self.hystart.on_ack(self.snd_una, self.snd_nxt)
            } else {
                Growth::SlowStart
            };
            match growth {
                Growth::ExitSlowStart => {
                    self.stats.hystart_exits += 1;
                    self.cc.exit_slow_start(now);
                }
                _ if !limited => {}
                Growth::SlowStart => self.cc.on_ack(now, acked, srtt()),
                // RFC 9406 §4.2: cwnd += acked / CSS_GROWTH_DIVISOR.
                Growth::Conservative => self.cc.on_ack(now, (acked / CSS_GROWTH_DIVISOR).max(1), srtt()),
            }
        }
        if let Some(p) = self.rec.rto_lost_point {
            if self.snd_una.ge(p) {
                // RTO recovery is over (RFC 8985 §6.2 step 4 counts it).
                self.rec.rto_lost_point = None;
                self.rack.on_recovery_exit();
            }
        }
        if self.rec.high_rxt.lt(self.snd_una) {
            self.rec.high_rxt = self.snd_una;
        }
        let una = self.snd_una;
        self.rec.resend.retain(|r| r.end.gt(una));
    }

    fn on_dupack(&mut self, now: Instant) {
        self.rec.dupacks += 1;
        self.stats.dup_acks += 1;
        if self.rec.in_recovery {
            if !self.sack_ok {
                // Each further dupack: one more segment left the network.
                let cap = (self.snd_nxt - self.snd_una).saturating_sub(self.mss);
                self.rec.reno_sacked = (self.rec.reno_sacked + self.mss).min(cap);
            }
            return;
        }
        // Once the path has been seen to reorder, RACK alone starts
        // recovery (see `recovery`): duplicate ACKs are what reordering
        // makes too.
        if self.rec.dupacks as usize >= crate::sack::DUP_THRESH && !self.rack_only() {
            self.enter_recovery(now);
        }
    }

    /// RFC 8985 §6.2 step 5 / §6.3: time-based loss detection; a new loss
    /// starts fast recovery like three duplicate ACKs would.
    pub(crate) fn run_rack(&mut self, now: Instant) {
        let srtt = self.rtt.srtt().unwrap_or(self.cfg.rto_initial);
        // RFC 8985 §6.2 step 5 (RACK.reo_wnd): in fast or RTO recovery, or
        // with DupThresh segments SACKed (RFC 6675 IsLost's "more than
        // (DupThresh - 1) * SMSS bytes"), the loss is evident.
        let loss_evident = self.rec.in_recovery
            || self.rec.rto_lost_point.is_some()
            || self.scoreboard.sacked_bytes() > (crate::sack::DUP_THRESH - 1) * self.mss;
        let found = self.rack.detect(now, &self.scoreboard, srtt, loss_evident);
        self.rec.rack_lost_point = self.rack.lost_point;
        for r in std::mem::take(&mut self.rack.lost_rexmits) {
            // A retransmission was lost: NextSeg sends that range again
            // (and pipe stops counting it as in flight).
            self.stats.lost_retransmits += 1;
            self.rec.add_resend(r);
        }
        self.timers.rack = Deadline::from(self.rack.timer);
        if found && !self.rec.in_recovery && self.rec.rto_lost_point.is_none() {
            self.stats.rack_detections += 1;
            self.enter_recovery(now);
        }
    }

    /// RFC 8985 §7.4.2: what the ACKs say of a tail loss probe's episode.
    /// A probe of new data, or one a D-SACK shows needless (both copies
    /// arrived), ends it. So does a duplicate ACK without SACK blocks at
    /// its end (the second copy's). An ACK that takes SND.UNA past its end
    /// without either means the probe repaired a loss: reduce the window
    /// once. An ACK just to its end says nothing yet: it is the first
    /// copy's, whichever that was, and the episode waits (Linux
    /// `tcp_process_tlp_ack`).
    fn on_tlp_ack(&mut self, now: Instant, seg: &TcpRepr<'_>, old_una: SeqNumber, ack: SeqNumber, dsack: bool) {
        let Some(end) = self.tlp_end else {
            return;
        };
        if ack.lt(end) {
            return;
        }
        if !self.tlp_retrans || dsack {
            self.tlp_end = None;
            return;
        }
        if ack == end {
            let bare_dupack = ack == old_una && seg.payload.is_empty() && seg.sack_ranges[0].is_none();
            if bare_dupack {
                self.tlp_end = None;
            }
            return;
        }
        self.tlp_end = None;
        if old_una.lt(ack) && !self.rec.in_recovery {
            let flight = old_una.max(end) - old_una;
            self.cc.on_congestion_event(now, flight.max(self.mss));
            self.cc.on_recovery_exit(now);
        }
    }

    /// The peer reported `[start, end)` twice (a D-SACK block). Within the
    /// last fast recovery's data, the retransmissions it overlaps were
    /// needless (RFC 3708 §3); when all of them are, the window reduction
    /// was spurious and is undone (Linux `tcp_try_undo_dsack`), and a
    /// recovery still under way ends there: there is nothing to repair.
    fn on_dsack(&mut self, start: SeqNumber, end: SeqNumber) {
        if !self.rec.dsack_undoes(start, end) {
            return;
        }
        self.cc.undo();
        self.stats.dsack_undos += 1;
        if self.rec.in_recovery {
            self.rec.in_recovery = false;
            self.rec.reno_sacked = 0;
            self.rack.on_recovery_exit();
        }
    }

    /// RFC 3522 §3.2, on the first ACK of new data after a timeout: an
    /// echo older than the timestamp of the timeout's first retransmission
    /// answers an original transmission, which was late, not lost (or
    /// whose ACKs were): RFC 4015 §3's response follows
    /// (`undo_spurious_timeout`). The backed-off RTO stays until the next
    /// RTT sample (RFC 6298 §5.7; the echo is not one, see
    /// `rtt_sample_on_ack`), and the first sample of data sent after the
    /// timeout re-initialises the estimator (RFC 4015 §3, `RtoRebase`).
    fn eifel_detect(&mut self, seg: &TcpRepr<'_>, ack: SeqNumber) {
        let Eifel::Sent(rexmit_tsval) = std::mem::take(&mut self.rec.eifel) else {
            return;
        };
        if self.tsecr(seg).is_some_and(|e| (e.wrapping_sub(rexmit_tsval) as i32) < 0) {
            self.undo_spurious_timeout(ack);
        }
    }

    /// The TSecr of `seg`, when timestamps are on and it echoes one (zero:
    /// nothing to echo yet).
    fn tsecr(&self, seg: &TcpRepr<'_>) -> Option<u32> {
        seg.timestamp.filter(|ts| self.ts_ok && ts.tsecr != 0).map(|ts| ts.tsecr)
    }

    /// F-RTO, RFC 5682 §3.1 steps 2 and 3, on an ACK that advances
    /// SND.UNA to `ack` or is a duplicate (`dupack`); other ACKs (a window
    /// update, data) change nothing.
    fn frto_on_ack(&mut self, ack: SeqNumber, dupack: bool) {
        let advanced = self.snd_una.lt(ack);
        match self.rec.frto {
            Frto::Off => {}
            Frto::Armed { recover } => {
                if !advanced {
                    // Step 2a: a duplicate ACK; the conventional recovery.
                    if dupack {
                        self.rec.frto = Frto::Off;
                    }
                } else if ack.ge(recover) {
                    // Step 2a: everything sent before the timeout is
                    // acknowledged; nothing is left to decide.
                    self.rec.frto = Frto::Off;
                } else if self.unsent() > 0 && self.snd_wnd_edge().gt(self.snd_nxt) {
                    // Step 2b: up to two new segments.
                    self.rec.frto = Frto::NewData { new: 2 };
                } else {
                    // Nothing new to send (or no window for it): the
                    // conventional recovery (§3.1 step 2b, last case).
                    self.rec.frto = Frto::Off;
                }
            }
            Frto::NewData { .. } => {
                if advanced && ack.gt(self.rec.high_rxt) {
                    // Step 3b: data never retransmitted after the timeout
                    // (above HighRxt) is acknowledged: it was not lost.
                    self.undo_spurious_timeout(ack);
                } else if advanced || dupack {
                    // Step 3a: the loss was real (or only retransmitted
                    // data was acknowledged, which proves nothing). The
                    // conventional recovery goes on, with room in the
                    // window for it past the new segments still out
                    // (RFC 5682 §2.1 step 3a: up to 3·SMSS).
                    self.rec.frto = Frto::Off;
                    let room = (self.pipe() + self.mss).min(3 * self.mss);
                    self.cc.raise_cwnd(room);
                }
            }
        }
    }

    /// RFC 4015 §3's response to a timeout found spurious (by Eifel or
    /// F-RTO) on an ACK up to `ack`: the reduction undone with the window
    /// capped at FlightSize + min(bytes acked, IW) against a burst
    /// (`CongestionControl::undo_timeout`), and what the timeout deemed
    /// lost no longer is (the originals are delivered or on their way),
    /// so new data goes next instead of a resend of the whole flight.
    fn undo_spurious_timeout(&mut self, ack: SeqNumber) {
        self.stats.spurious_rtos += 1;
        let rebase = self.rec.rto_rebase;
        self.rec.stop_timeout_detectors();
        if let RtoRebase::Saved(snd_max) = rebase {
            self.rec.rto_rebase = RtoRebase::Due(snd_max);
        }
        let iw = self.cfg.initial_cwnd.max(1) as usize * self.mss;
        let acked = ack - self.snd_una;
        self.cc.undo_timeout((self.snd_nxt - ack) + acked.min(iw));
        // RACK may have taken an original's ACK for the retransmission's
        // delivery (without timestamps it cannot tell once the ACK comes
        // later than min_RTT) and called everything sent before it lost.
        self.rack.on_spurious_timeout();
        if self.rec.rto_lost_point.take().is_some() {
            self.rack.on_recovery_exit();
        }
        // No go-back-N resend to guard against (RFC 6582 §3.2 step 2):
        // a loss found in this flight starts a fast recovery.
        self.rec.recovery_point = self.snd_una;
        self.rec.rack_lost_point = None;
        self.timers.rack = Deadline::NEVER;
    }

    fn maybe_enter_recovery_sack(&mut self, now: Instant) {
        if !self.rec.in_recovery
            && self.rec.rto_lost_point.is_none()
            && !self.rack_only()
            && self.scoreboard.is_lost(self.snd_una, self.mss)
        {
            self.enter_recovery(now);
        }
    }

    /// Losses are RACK's alone to judge: SACK is on and RACK has seen the
    /// path reorder (RFC 8985 §6.2 step 3).
    pub(crate) fn rack_only(&self) -> bool {
        self.sack_ok && self.rack.reordering_seen
    }

    /// RFC 5681 §3.2 steps 2–3 / RFC 6582 §3.2 / RFC 6675 §5.
    fn enter_recovery(&mut self, now: Instant) {
        if self.rec.rto_lost_point.is_some() {
            return; // already repairing after a timeout
        }
        // RFC 6582 §3.2 step 2: don't start a new recovery for losses from
        // before the last one ended (avoids multiple reductions).
        if self.rec.recovery_point.gt(self.snd_una) && !self.rec.in_recovery {
            return;
        }
        let flight = self.snd_nxt - self.snd_una;
        self.cc.on_congestion_event(now, flight);
        self.rec.in_recovery = true;
        self.rec.recovery_point = self.snd_nxt;
        self.rec.high_rxt = self.snd_una;
        self.rec.undo_marker = Some(self.snd_una);
        self.rec.undo_ranges.clear();
        if !self.sack_ok {
            let cap = flight.saturating_sub(self.mss);
            self.rec.reno_sacked = (self.rec.dupacks as usize * self.mss).min(cap);
        }
        // Karn: timing across a retransmission is ambiguous.
        self.rtt_timing = None;
        // Recovery supersedes any tail loss probe (RFC 8985 §7).
        self.tlp_pending = false;
        self.tlp_end = None;
        self.timers.tlp = Deadline::NEVER;
    }

    /// Seventh (text) and eighth (FIN) steps of RFC 9293 §3.10.7.4.
    pub(crate) fn process_text_and_fin(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let mut seq = seg.seq_number + usize::from(seg.syn);
        let mut payload = seg.payload;
        let mut fin = seg.fin;
        if !payload.is_empty() && !self.state.can_receive_data() {
            // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: "This should not
            // occur since a FIN has been received" — ignore the text.
            payload = &[];
            fin = false;
        }
        if !payload.is_empty() && self.discards_new_data() && (seq + payload.len()).gt(self.rcv_nxt) {
            // Linux: new data (not a copy of what came before) after
            // close(), or a shutdown both ways, means nobody will read it;
            // the connection is reset (RFC 9293 §3.10.4 allows it).
            self.queue_rst();
            self.reset_by_peer(None);
            return;
        }
        // Trim what is already received (left) ...
        if let Some(dup) = self.rcv_nxt.checked_sub(seq) {
            if dup > 0 {
                if dup >= payload.len() {
                    if dup > payload.len() {
                        fin = false; // the FIN was already received too
                    }
                    payload = &[];
                } else {
                    payload = &payload[dup..];
                }
                // Duplicate data: ACK at once (RFC 5681 §4.2), reporting
                // it with a D-SACK block (RFC 2883 §4).
                if !seg.payload.is_empty() {
                    let dup_end = (seq + seg.payload.len()).min(self.rcv_nxt);
                    self.note_dsack(seq, dup_end);
                    self.owe_dupack();
                }
                seq = self.rcv_nxt;
            }
        }
        // ... and what lies beyond the advertised window (right).
        let right = self.rcv_adv.max(self.rcv_nxt);
        if let Some(room) = right.checked_sub(seq) {
            if payload.len() > room {
                payload = &payload[..room];
                fin = false;
            }
        } else {
            payload = &[];
            fin = false;
        }

        if !payload.is_empty() {
            self.note_text(now, seg, payload.len());
            let offset = seq - self.rcv_nxt;
            let stored = if self.rcv_placed && offset == 0 && payload.len() == seg.payload.len() {
                // Already copied, while its checksum was verified.
                self.rcv_buf.accept_placed(payload.len())
            } else {
                self.rcv_buf.write_at(offset, payload)
            };
            if stored < payload.len() {
                fin = false;
            }
            if offset == 0 {
                let had_ooo = !self.ooo.is_empty();
                self.rcv_nxt += stored;
                let more = self.ooo.advance(self.rcv_nxt);
                self.rcv_buf.commit(stored + more);
                self.rcv_nxt += more;
                // Counted as RCV.NXT advances (Linux tcpi_bytes_received,
                // RFC 4898 tcpEStatsAppHCThruOctetsReceived): out-of-order
                // data when the gap before it fills, so a copy of it that
                // arrives again (a spurious retransmission, a duplicate)
                // is not counted twice.
                self.stats.bytes_received += (stored + more) as u64;
                if had_ooo {
                    // Filling a gap: ACK immediately (RFC 5681 §4.2).
                    self.ack_pending = true;
                } else {
                    self.delayed_ack(now, stored);
                }
            } else {
                self.stats.out_of_order_segments += 1;
                let end = seq + stored;
                // RFC 2883 §4.1.2: octets held out of order already came
                // twice; reported as a D-SACK block (the range holding
                // them follows it, as the most recently updated), so a
                // sender can tell a needless retransmission (Linux
                // tcp_data_queue_ofo).
                let dup = self.ooo.ranges().iter().find(|r| r.start.lt(end) && seq.lt(r.end));
                if let Some(r) = dup {
                    let (start, end) = (r.start.max(seq), r.end.min(end));
                    self.note_dsack(start, end);
                }
                self.ooo.insert(seq, end);
                // Out of order: immediate (duplicate) ACK with SACK
                // (RFC 5681 §4.2, RFC 2018 §4).
                self.owe_dupack();
            }
        }

        // Eighth: FIN.
        if fin {
            let fin_seq = seq + payload.len();
            if fin_seq == self.rcv_nxt {
                self.receive_fin(now);
            } else if fin_seq.gt(self.rcv_nxt) {
                // A FIN past a gap waits for the gap to fill; once the
                // peer's FIN is in, there is no gap, only a bogus FIN.
                if !self.fin_rcvd {
                    self.ooo_fin = Some(fin_seq);
                }
                self.ack_pending = true;
            }
        }
        if let Some(f) = self.ooo_fin {
            if f == self.rcv_nxt && !self.fin_rcvd {
                self.ooo_fin = None;
                self.receive_fin(now);
            }
        }
    }

    /// RFC 2883 §4: the next ACK reports `[start, end)` (already received)
    /// as its first SACK block, so the sender can tell a spurious
    /// retransmission (Linux tcp_dsack, on by default).
    fn note_dsack(&mut self, start: SeqNumber, end: SeqNumber) {
        if self.sack_ok && start.lt(end) {
            self.dsack = Some((start, end));
        }
    }

    fn owe_dupack(&mut self) {
        // Bounded: a flood of duplicates earns at most this many ACKs per
        // poll round.
        self.dupacks_owed = (self.dupacks_owed + 1).min(64);
    }

    /// RFC 1122 §4.2.3.2: ACK at least every second full-sized segment,
    /// otherwise within the delayed-ACK timeout.
    pub(crate) fn delayed_ack(&mut self, now: Instant, bytes: usize) {
        self.unacked_bytes += bytes;
        // Linux tcp_event_data_recv: data after more than an RTO of
        // silence starts a new exchange whose pattern is unknown.
        if self.last_data_rcvd.is_some_and(|t| now.micros_since(t) > self.rtt.rto_micros()) {
            self.quick_acks = MAX_QUICK_ACKS;
        }
        self.last_data_rcvd = Some(now);
        if self.quick_acks > 0 && !self.pingpong {
            self.quick_acks -= 1;
            self.ack_pending = true;
            return;
        }
        if bytes < self.rcv_mss {
            self.small_seg_unacked = true;
        }
        // RFC 1122 §4.2.3.2: an ACK for at least every second full-sized
        // segment. Counted as more than one segment's worth unacknowledged
        // (Linux __tcp_ack_snd_check): RCV.MSS is the largest segment seen,
        // and two of a sender whose segments have since become smaller (a
        // lower path MTU, SACK blocks taking option space) must draw the
        // ACK all the same.
        if self.unacked_bytes > self.rcv_mss {
            self.ack_pending = true;
        } else if !self.timers.delack.is_armed() {
            self.timers.delack = Deadline::at(now.add_micros(self.cfg.delack_micros()));
        }
    }

    fn receive_fin(&mut self, now: Instant) {
        if self.fin_rcvd {
            return;
        }
        self.fin_rcvd = true;
        self.rcv_nxt += 1;
        self.ack_pending = true;
        match self.state {
            State::SynReceived | State::Established => self.state = State::CloseWait,
            State::FinWait1 => {
                let fin_acked = self.snd_una == self.buf_seq + self.snd_buf.len() + 1;
                if fin_acked {
                    self.enter_time_wait(now);
                } else {
                    self.state = State::Closing; // simultaneous close
                }
            }
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    pub(crate) fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        let keep_ack = self.ack_pending;
        self.timers.clear();
        self.ack_pending = keep_ack;
        self.timers.time_wait = Deadline::at(now + self.cfg.time_wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rst_reply_forms() {
        let with_ack = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq_number: SeqNumber(100),
            ack_number: Some(SeqNumber(555)),
            payload: b"abc",
            ..TcpRepr::default()
        };
        let r = rst_reply(&with_ack).unwrap();
        assert_eq!((r.src_port, r.dst_port), (2, 1));
        assert_eq!(r.seq_number, SeqNumber(555));
        assert_eq!(r.ack_number, None);
        let syn = TcpRepr { syn: true, fin: true, ack_number: None, ..with_ack };
        let r = rst_reply(&syn).unwrap();
        assert_eq!(r.seq_number, SeqNumber(0));
        assert_eq!(r.ack_number, Some(SeqNumber(105)), "3 data + SYN + FIN");
        let rst = TcpRepr { rst: true, ..with_ack };
        assert!(rst_reply(&rst).is_none(), "never answer a RST");
    }
}
