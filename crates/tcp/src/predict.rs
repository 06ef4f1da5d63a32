//! Header prediction (Van Jacobson's, as Linux `tcp_rcv_established` has
//! it): in ESTABLISHED, almost every segment is the next one in order,
//! acknowledges data in flight or nothing new, and carries no SYN, FIN,
//! RST, URG or SACK block. For such a segment, with no loss being
//! repaired, every test of RFC 9293 §3.10.7.4 has one known outcome, so
//! this path goes straight to the work the full path would end up doing:
//! TS.Recent, the ACK (RTT, congestion window, send buffer, RACK, timers,
//! window) and the text. Everything else takes the full path in
//! `input.rs`, which stays the reference: both reach the same state for
//! any segment this path accepts (tested by running transfers each way).

use crate::tcb::Connection;
use crate::State;
use sockstack_time::Instant;
use sockstack_wire::{SeqNumber, TcpRepr};

impl Connection {
    /// Processes `seg` if header prediction holds for it, and returns
    /// whether it did; when it returns false nothing has changed.
    pub(crate) fn on_segment_predicted(&mut self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        let Some(ack) = self.predicted(seg) else { return false };
        self.stats.predicted_segments += 1;
        // (The PAWS test passed in `predicted`.)
        self.update_ts_recent(now, seg);
        self.last_rcv = now;
        self.probes = 0;
        if self.cfg.keepalive.is_some() {
            self.arm_keepalive(now);
        }
        // RFC 9293 §3.10.7.4 fifth step, for an ACK within
        // [SND.UNA, SND.NXT].
        self.tlp_pending = false;
        if self.snd_una.lt(ack) {
            self.predicted_ack(now, seg, ack);
        }
        // RFC 8985 §7.2: every ACK re-arms the probe timeout. (RACK has
        // nothing to judge on an ACK that delivers nothing: `predicted`
        // wants no timer, lost point or retransmission pending there.)
        self.arm_tlp(now);
        // The window update (`predicted` made sure this segment is newer
        // than the one that set the window last).
        self.set_send_window(seg.seq_number, ack, usize::from(seg.window_len) << self.snd_wscale);
        // Seventh step: text, in order and inside the window.
        let len = seg.payload.len();
        if len > 0 {
            self.note_text(now, seg, len);
            let stored = if self.rcv_placed {
                let n = self.rcv_buf.accept_placed(len);
                self.rcv_buf.commit(n);
                n
            } else {
                self.rcv_buf.append(seg.payload)
            };
            self.stats.bytes_received += stored as u64;
            self.rcv_nxt += stored;
            self.delayed_ack(now, stored);
        }
        true
    }

    /// Whether header prediction holds for `seg`: its ACK if so.
    fn predicted(&self, seg: &TcpRepr<'_>) -> Option<SeqNumber> {
        let ack = seg.ack_number?;
        let len = seg.payload.len();
        let flags_plain = !(seg.syn || seg.fin || seg.rst || seg.urg);
        // RFC 7323 §5.3 R1 (PAWS) passes; a segment without the option
        // on a connection that negotiated it takes the full path.
        let ts_ok = match seg.timestamp {
            Some(ts) => self.ts_ok && self.ts_not_older(ts.tsval),
            None => !self.ts_ok,
        };
        // A pure ACK must acknowledge new data (else it may be a duplicate
        // ACK or a window update); data must fit the window we advertised
        // and land where nothing out of order waits.
        let ack_ok = self.snd_una.le(ack) && ack.le(self.snd_nxt) && (len > 0 || self.snd_una.lt(ack));
        let text_ok =
            len == 0 || (!self.closed_by_app && (seg.seq_number + len).le(self.rcv_adv) && self.ooo.is_empty());
        // The segment updates the window. Not a given: an out-of-order
        // segment beyond RCV.NXT may have updated it last (SND.WL1 >
        // SEG.SEQ).
        let predicted = self.cfg.header_prediction
            && self.state == State::Established
            && flags_plain
            && seg.seq_number == self.rcv_nxt
            && seg.sack_ranges[0].is_none()
            && seg.window_len != 0
            && ts_ok
            && ack_ok
            && text_ok
            && self.updates_window(self.snd_una, seg.seq_number, ack)
            && self.ooo_fin.is_none()
            && !self.fin_queued
            && self.tlp_end.is_none()
            && self.rack.is_quiet()
            && self.rec.loss_free(&self.scoreboard, self.outstanding());
        predicted.then_some(ack)
    }

    /// An ACK of new data, with no SACK information and no loss being
    /// repaired: `process_ack`'s work for that case.
    fn predicted_ack(&mut self, now: Instant, seg: &TcpRepr<'_>, ack: SeqNumber) {
        // RFC 6675 pipe with nothing lost or SACKed: what is in flight.
        let flight_before = self.rec.flight(self.outstanding());
        let old_una = self.snd_una;
        // (The scoreboard is empty: nothing to trim.)
        self.ack_new_data(now, seg, ack, flight_before);
        // RFC 8985 §6.2 on a cumulative ACK: nothing SACKed, nothing
        // retransmitted by NextSeg outstanding.
        if self.sack_ok && self.rack.on_cumulative_ack(now, old_una, ack) {
            self.run_rack(now);
        }
    }
}
