//! RACK-TLP loss detection (RFC 8985), used with SACK.
//!
//! RACK (§6) marks a segment lost when a segment *sent after it* has been
//! delivered (cumulatively ACKed or SACKed) and more than one round trip
//! plus a reordering window has passed since it was sent — time-based, so
//! it detects losses that three duplicate ACKs never reveal (the tail of a
//! flight, small windows). TLP (§7) sends a probe (new data, or the last
//! segment again) when a flight goes quiet for about two RTTs, so that the
//! tail's fate is learned from an ACK rather than an RTO.
//!
//! Owns the send times of original transmissions (sequence order, which is
//! also time order; a TLP re-send refreshes the tail's time), the RACK
//! state (`xmit_ts`, `end_seq`, `rtt`), the resulting lost point, and the
//! reordering timer. Retransmissions by NextSeg are recorded apart: one
//! delivered later than the minimum RTT after it was sent was the
//! retransmission's delivery and updates the RACK state (§6.2 step 2; an
//! earlier one is taken for the original's), and one sent before the most
//! recently delivered segment, a round trip plus the reordering window ago,
//! is lost again (§6.2: RACK applies to retransmissions too), so a lost
//! retransmission is repaired without waiting for the RTO.
//!
//! The reordering window adapts to the path (§6.2 steps 3 and 4): zero
//! while no reordering has been seen and a loss is already evident (in
//! recovery, or DupThresh segments' worth SACKed), as dupthresh would
//! judge; min_RTT/4 otherwise, and one more min_RTT/4 for every round trip
//! in which the peer reported a D-SACK (a retransmission that was not
//! needed), back to one after 16 recoveries without one; never above SRTT.

use crate::reassembly::Range;
use crate::sack::Scoreboard;
use sockstack_time::{Duration, Instant};
use sockstack_wire::SeqNumber;
use std::collections::VecDeque;

/// Most send records kept; beyond this, older records merge (bounded memory
/// whatever the window).
const MAX_RECORDS: usize = 4096;

/// RFC 8985 §6.2 step 4: recoveries without a D-SACK after which the
/// reordering window shrinks back to min_RTT/4.
const REO_WND_PERSIST: u8 = 16;

/// Largest reordering-window multiplier (Linux keeps it in a byte too);
/// the window is capped by SRTT long before.
const MAX_REO_WND_MULT: u8 = u8::MAX;

#[derive(Debug, Clone, Copy)]
struct Record {
    start: SeqNumber,
    end: SeqNumber,
    sent: Instant,
}

/// RACK-TLP state of one connection (RFC 8985).
#[derive(Debug, Clone, Default)]
pub struct Rack {
    records: VecDeque<Record>,
    /// RFC 8985 RACK.xmit_ts / RACK.end_seq / RACK.rtt of the most recently
    /// sent segment known delivered; RTTs in microseconds (the clock's
    /// unit), as they are taken on every ACK.
    xmit_ts: Option<Instant>,
    end_seq: SeqNumber,
    rtt_us: u64,
    min_rtt_us: Option<u64>,
    /// Unsacked octets below this are lost.
    pub lost_point: Option<SeqNumber>,
    /// RFC 8985 §6.3 reordering timer.
    pub timer: Option<Instant>,
    /// NextSeg retransmissions not yet delivered, in send order.
    rexmits: VecDeque<Record>,
    /// Retransmissions found lost by `detect`, for NextSeg to send again
    /// (taken by the connection).
    pub lost_rexmits: Vec<Range>,
    /// RFC 8985 RACK.fack: the highest sequence number delivered, by the
    /// cumulative ACK or a SACK block (`None` before the first).
    fack: Option<SeqNumber>,
    /// RFC 8985 RACK.reordering_seen: a segment was delivered after one
    /// sent later (§6.2 step 3).
    pub reordering_seen: bool,
    /// RFC 8985 RACK.reo_wnd_mult, less one (so the default state is 1).
    reo_wnd_steps: u8,
    /// RFC 8985 RACK.reo_wnd_persist.
    reo_wnd_persist: u8,
    /// RFC 8985 RACK.dsack_round: SND.NXT when the last D-SACK grew the
    /// window; one growth per round trip.
    dsack_round: Option<SeqNumber>,
    /// End of the highest retransmission of any kind (NextSeg, rescue,
    /// TLP, after a timeout): octets below it may have been sent twice,
    /// whatever recovery sent them (Linux `TCPCB_EVER_RETRANS`).
    rexmit_end: Option<SeqNumber>,
}

/// RFC 8985 §6.2 RACK_sent_after.
fn sent_after(t1: Instant, seq1: SeqNumber, t2: Instant, seq2: SeqNumber) -> bool {
    t1 > t2 || (t1 == t2 && seq1.gt(seq2))
}

impl Rack {
    /// Original transmission of `[start, end)` at `now`.
    #[inline]
    pub fn on_send(&mut self, start: SeqNumber, end: SeqNumber, now: Instant) {
        if self.records.len() >= MAX_RECORDS {
            // Merge the two oldest: the merged record keeps the later time,
            // which only delays (never hastens) a loss verdict.
            if let (Some(a), Some(b)) = (self.records.pop_front(), self.records.pop_front()) {
                self.records.push_front(Record { start: a.start, end: b.end, sent: b.sent });
            }
        }
        self.records.push_back(Record { start, end, sent: now });
    }

    /// NextSeg retransmitted `[start, end)` at `now`.
    pub fn on_retransmit(&mut self, start: SeqNumber, end: SeqNumber, now: Instant) {
        if self.rexmits.len() >= MAX_RECORDS {
            self.rexmits.pop_front();
        }
        self.rexmits.push_back(Record { start, end, sent: now });
    }

    /// A TLP re-sent the tail from `start`: those octets now count as sent
    /// at `now` (RFC 8985 §7.3), as a retransmission. A delivery of them may
    /// be the original's, whose ACK was late: timed from the probe it would
    /// be an RTT too short, and the minimum RTT keeps the shortest for
    /// good. As retransmissions they are timed only when §6.2 step 2's
    /// tests say the probe was what arrived.
    pub fn on_tail_resend(&mut self, start: SeqNumber, now: Instant) {
        let from = self.records.partition_point(|r| r.end.le(start));
        for r in self.records.drain(from..) {
            if self.rexmits.len() >= MAX_RECORDS {
                self.rexmits.pop_front();
            }
            self.rexmits.push_back(Record { sent: now, ..r });
        }
    }

    /// An ACK arrived. `old_una`/`ack`: the cumulative ACK before and
    /// after; `sacked`: this ACK's accepted SACK ranges; octets below
    /// `high_rxt` may have been retransmitted and are not used. `echo`:
    /// with timestamps, the ACK's TSecr on the millisecond clock the send
    /// times run on (`Instant::total_millis`, the connection's offset
    /// taken off).
    pub fn on_ack(
        &mut self,
        now: Instant,
        old_una: SeqNumber,
        ack: SeqNumber,
        sb: &Scoreboard,
        high_rxt: SeqNumber,
        echo: Option<u32>,
    ) {
        if self.records.is_empty() && self.rexmits.is_empty() {
            // Nothing in flight (a receiver that sends nothing): no segment
            // to find delivered, nothing to update but the lost point.
            self.acked_past_lost_point(ack);
            return;
        }
        // Records are in send order, which is both sequence and time order
        // (a TLP re-send refreshes a suffix), so the most recently sent
        // delivered record is the last one below the cumulative ACK or
        // inside a SACK block: a binary search each, not a scan of the
        // whole flight on every ACK.
        let last_below = |limit: SeqNumber| self.records.partition_point(|r| r.end.le(limit)).checked_sub(1);
        let mut best_index = last_below(ack).filter(|&i| self.records[i].end.gt(old_una));
        for s in sb.ranges() {
            if let Some(i) = last_below(s.end).filter(|&i| s.start.le(self.records[i].start)) {
                best_index = Some(best_index.map_or(i, |b| b.max(i)));
            }
        }
        // Octets below `high_rxt` may have been retransmitted: ambiguous.
        if let Some(b) = best_index.map(|i| self.records[i]).filter(|r| !r.start.lt(high_rxt)) {
            self.delivered(now, b);
        }
        // Delivered retransmissions (§6.2 step 2): with an echo older than
        // the retransmission's timestamp, or sooner than the minimum RTT
        // after it, the delivery was the original's. The echo tells only
        // for the retransmission at the old SND.UNA, the one this ACK's
        // cumulative part answers: a receiver takes TS.Recent only from a
        // segment at its left edge (RFC 7323 §4.3), so a SACKed one above
        // it is answered with an older echo whichever copy arrived.
        let delivered =
            |r: &Record| r.end.le(ack) || sb.ranges().iter().any(|s: &Range| s.start.le(r.start) && r.end.le(s.end));
        let original = |r: &Record| {
            r.start.le(old_una)
                && old_una.lt(r.end)
                && old_una.lt(ack)
                && echo.is_some_and(|e| (e.wrapping_sub(r.sent.total_millis() as u32) as i32) < 0)
        };
        for r in self.rexmits.iter().filter(|r| delivered(r)) {
            let rtt = now.micros_since(r.sent);
            if self.min_rtt_us.is_some_and(|m| rtt >= m)
                && !original(r)
                && self.xmit_ts.is_none_or(|t| sent_after(r.sent, r.end, t, self.end_seq))
            {
                self.xmit_ts = Some(r.sent);
                self.end_seq = r.end;
                self.rtt_us = rtt;
            }
        }
        if !self.rexmits.is_empty() {
            self.rexmits.retain(|r| !delivered(r));
        }
        while self.records.front().is_some_and(|r| r.end.le(ack)) {
            self.records.pop_front();
        }
        self.acked_past_lost_point(ack);
    }

    /// Everything below the lost point is acknowledged: nothing is lost.
    fn acked_past_lost_point(&mut self, ack: SeqNumber) {
        if self.lost_point.is_some_and(|p| p.le(ack)) {
            self.lost_point = None;
        }
    }

    /// RFC 8985 §6.2 steps 1–3 for `b`, the most recently sent original
    /// transmission this ACK delivered.
    fn delivered(&mut self, now: Instant, b: Record) {
        let rtt = now.micros_since(b.sent);
        self.min_rtt_us = Some(self.min_rtt_us.map_or(rtt, |m| m.min(rtt)));
        if self.xmit_ts.is_none_or(|t| sent_after(b.sent, b.end, t, self.end_seq)) {
            self.xmit_ts = Some(b.sent);
            self.end_seq = b.end;
            self.rtt_us = rtt;
        }
    }

    /// No loss found or suspected: no lost point, no reordering timer
    /// running, no NextSeg retransmission outstanding; and nothing that
    /// only the full ACK path forgets ([`Rack::detect_reordering`] a
    /// retransmission's end, [`Rack::update_reo_wnd`] a D-SACK's round),
    /// which header prediction's ACK would otherwise keep until the
    /// sequence numbers wrap past it.
    pub fn is_quiet(&self) -> bool {
        self.lost_point.is_none()
            && self.timer.is_none()
            && self.rexmits.is_empty()
            && self.rexmit_end.is_none()
            && self.dsack_round.is_none()
    }

    /// [`Rack::on_ack`] for a cumulative ACK without SACK blocks, with an
    /// empty scoreboard and no retransmission outstanding (header
    /// prediction): the records it covers are the front of the queue, and
    /// the last of them is the most recently sent one delivered. Nothing
    /// below `old_una` was retransmitted (HighRxt ≤ SND.UNA).
    ///
    /// Returns whether loss detection has anything to judge: a record
    /// still in flight that was sent before the most recently delivered
    /// one. Without one, [`Rack::detect`] would find nothing and set no
    /// timer (the records are in send order), so it need not run.
    pub fn on_cumulative_ack(&mut self, now: Instant, old_una: SeqNumber, ack: SeqNumber) -> bool {
        debug_assert!(self.rexmits.is_empty());
        let mut last = None;
        while let Some(&r) = self.records.front().filter(|r| r.end.le(ack)) {
            last = Some(r);
            self.records.pop_front();
        }
        if let Some(b) = last.filter(|r| r.end.gt(old_una) && !r.start.lt(old_una)) {
            self.delivered(now, b);
        }
        // Nothing above `ack` is SACKed here: it is the highest delivered.
        self.fack = Some(ack);
        self.acked_past_lost_point(ack);
        match (self.xmit_ts, self.records.front()) {
            (Some(t), Some(r)) => sent_after(t, self.end_seq, r.sent, r.end),
            _ => false,
        }
    }

    /// RFC 8985 §6.2 step 5 (detect_loss): updates `lost_point` and the
    /// reordering timer. Returns true if new losses were found.
    /// `loss_evident`: the connection is in fast or RTO recovery, or
    /// DupThresh segments' worth is SACKed (see [`Rack::reo_wnd_micros`]).
    pub fn detect(&mut self, now: Instant, sb: &Scoreboard, srtt: Duration, loss_evident: bool) -> bool {
        self.timer = None;
        let Some(xmit_ts) = self.xmit_ts else {
            return false;
        };
        if self.records.is_empty() && self.rexmits.is_empty() {
            return false; // nothing in flight to judge
        }
        let reo_wnd = self.reo_wnd_micros(srtt, loss_evident);
        // How long after its sending a segment is deemed lost.
        let wait = self.rtt_us.saturating_add(reo_wnd);
        let mut found = false;
        for r in &self.records {
            if !sent_after(xmit_ts, self.end_seq, r.sent, r.end) {
                break; // records are in send order
            }
            if self.lost_point.is_some_and(|p| r.end.le(p)) {
                continue;
            }
            let fully_sacked = sb.ranges().iter().any(|s: &Range| s.start.le(r.start) && r.end.le(s.end));
            if fully_sacked {
                continue;
            }
            let deadline = r.sent.add_micros(wait);
            if deadline <= now {
                self.lost_point = Some(self.lost_point.map_or(r.end, |p| p.max(r.end)));
                found = true;
            } else {
                self.timer = Some(self.timer.map_or(deadline, |t| t.min(deadline)));
                break;
            }
        }
        // Retransmissions, by the same rule.
        let end_seq = self.end_seq;
        let mut lost_upto = 0;
        for (i, r) in self.rexmits.iter().enumerate() {
            if !sent_after(xmit_ts, end_seq, r.sent, r.end) {
                break;
            }
            let deadline = r.sent.add_micros(wait);
            if deadline <= now {
                self.lost_rexmits.push(Range { start: r.start, end: r.end });
                self.lost_point = Some(self.lost_point.map_or(r.end, |p| p.max(r.end)));
                lost_upto = i + 1;
                found = true;
            } else {
                self.timer = Some(self.timer.map_or(deadline, |t| t.min(deadline)));
                break;
            }
        }
        self.rexmits.drain(..lost_upto);
        found
    }

    /// RFC 8985 §6.2 step 5 RACK.reo_wnd, in microseconds. Before any
    /// reordering was seen, a loss already evident (`loss_evident`) is
    /// judged at once, as DupThresh would; otherwise min_RTT/4 times the
    /// multiplier D-SACKs raised, at most SRTT.
    pub fn reo_wnd_micros(&self, srtt: Duration, loss_evident: bool) -> u64 {
        if !self.reordering_seen && loss_evident {
            return 0;
        }
        let srtt_us = u64::try_from(srtt.as_micros()).unwrap_or(u64::MAX);
        let mult = u64::from(self.reo_wnd_steps) + 1;
        (self.min_rtt_us.unwrap_or_default() / 4).saturating_mul(mult).min(srtt_us)
    }

    /// RFC 8985 §6.2 step 3 for an ACK that moved the cumulative ACK from
    /// `old_una` to `ack` and carries the SACK blocks `blocks` (those of
    /// them [`crate::sack::valid_blocks`] takes with `snd_nxt`, not yet in
    /// the scoreboard `sb`). Octets delivered below RACK.fack that were
    /// never retransmitted (all at or above `high_rxt`) arrived after
    /// octets sent later: reordering. Returns whether this ACK showed it.
    #[inline]
    pub fn detect_reordering(
        &mut self,
        old_una: SeqNumber,
        ack: SeqNumber,
        blocks: &[Option<(SeqNumber, SeqNumber)>],
        snd_nxt: SeqNumber,
        sb: &Scoreboard,
        high_rxt: SeqNumber,
    ) -> bool {
        let fack = self.fack;
        // Forgotten once acknowledged (sequence numbers wrap).
        self.rexmit_end = self.rexmit_end.filter(|&e| e.gt(old_una));
        let high_rxt = self.rexmit_end.map_or(high_rxt, |e| e.max(high_rxt));
        let (mut highest, mut lowest, mut sacked_below) = (ack, old_una, false);
        // Blocks fill the array from the front: most ACKs carry none.
        if blocks.first().is_some_and(Option::is_some) {
            for (l, r) in crate::sack::valid_blocks(blocks, ack, snd_nxt) {
                highest = highest.max(r);
                lowest = lowest.min(l);
                // A block delivering octets below RACK.fack that the
                // scoreboard did not hold yet.
                sacked_below |= fack.is_some_and(|f| l.lt(f) && !sb.covers(l, r.min(f)));
            }
        }
        self.fack = Some(fack.map_or(highest, |f| f.max(highest)));
        // The cumulative ACK delivered the octets at `old_una`, not SACKed
        // before (else SND.UNA would not have stopped there).
        let cumulative = ack.gt(old_una) && fack.is_some_and(|f| old_una.lt(f));
        // Retransmitted octets may be the retransmission's delivery.
        let reordered = (cumulative || sacked_below) && lowest.ge(high_rxt);
        if reordered {
            self.reordering_seen = true;
        }
        reordered
    }

    /// `[.., end)` was sent again (any retransmission): see
    /// [`Rack::detect_reordering`].
    pub fn on_any_retransmission(&mut self, end: SeqNumber) {
        self.rexmit_end = Some(self.rexmit_end.map_or(end, |e| e.max(end)));
    }

    /// RFC 8985 §6.2 step 4, on every ACK (after SND.UNA moved to
    /// `snd_una`): a D-SACK (`dsack`) grows the reordering window once per
    /// round trip.
    #[inline]
    pub fn update_reo_wnd(&mut self, snd_una: SeqNumber, snd_nxt: SeqNumber, dsack: bool) {
        if self.dsack_round.is_some_and(|r| snd_una.ge(r)) {
            self.dsack_round = None;
        }
        if dsack && self.dsack_round.is_none() {
            self.dsack_round = Some(snd_nxt);
            self.reo_wnd_steps = self.reo_wnd_steps.saturating_add(1).min(MAX_REO_WND_MULT - 1);
            self.reo_wnd_persist = REO_WND_PERSIST;
        }
    }

    /// RFC 8985 §6.2 step 4: fast or RTO recovery ended; after
    /// `REO_WND_PERSIST` such endings without a D-SACK the window is back
    /// to min_RTT/4.
    pub fn on_recovery_exit(&mut self) {
        self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
        if self.reo_wnd_persist == 0 {
            self.reo_wnd_steps = 0;
        }
    }

    /// The timeout proved spurious (RFC 3522, RFC 5682): the ACKs come for
    /// the original transmissions, so its retransmissions' send times say
    /// nothing of what was delivered when (RFC 8985 §6.2 step 2), and the
    /// originals sent before them are not lost for having been sent
    /// earlier. What RACK concluded from a retransmission's supposed
    /// delivery since the timeout goes too: the next delivery of an
    /// original sets RACK.xmit_ts afresh.
    pub fn on_spurious_timeout(&mut self) {
        self.rexmits.clear();
        self.lost_rexmits.clear();
        self.xmit_ts = None;
        self.lost_point = None;
        self.timer = None;
    }

    /// Everything is being retransmitted anyway (RTO).
    pub fn on_rto(&mut self) {
        self.timer = None;
        self.lost_point = None;
        self.rexmits.clear();
        self.lost_rexmits.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    /// A retransmission's end and a D-SACK's round are forgotten by the
    /// full ACK path only; until they are, header prediction (which asks
    /// `is_quiet`) leaves the ACKs to it.
    #[test]
    fn quiet_only_once_the_full_path_has_forgotten() {
        let mut rack = Rack::default();
        assert!(rack.is_quiet());
        rack.on_any_retransmission(s(200));
        assert!(!rack.is_quiet());
        let sb = Scoreboard::new();
        // The ACK that covers it, then the one after.
        rack.detect_reordering(s(0), s(200), &[], s(300), &sb, s(200));
        assert!(!rack.is_quiet(), "SND.UNA before this ACK was below the end");
        rack.detect_reordering(s(200), s(300), &[], s(300), &sb, s(300));
        assert!(rack.is_quiet());
        rack.update_reo_wnd(s(300), s(500), true);
        assert!(!rack.is_quiet());
        rack.update_reo_wnd(s(400), s(500), false);
        assert!(!rack.is_quiet(), "the round ends at SND.NXT of the D-SACK");
        rack.update_reo_wnd(s(500), s(500), false);
        assert!(rack.is_quiet());
    }

    /// A late ACK of the original tail, just after a TLP re-sent it: not
    /// a 2 ms round trip (RFC 8985 §6.2 step 2, Linux tcp_rack_advance).
    #[test]
    fn a_late_ack_of_a_probed_tail_leaves_the_minimum_rtt() {
        let mut rack = Rack::default();
        let sb = Scoreboard::new();
        rack.on_send(s(0), s(100), ms(0));
        rack.on_ack(ms(50), s(0), s(100), &sb, s(0), None);
        assert_eq!(rack.min_rtt_us, Some(50_000));
        rack.on_send(s(100), s(200), ms(60));
        rack.on_send(s(200), s(300), ms(60));
        rack.on_tail_resend(s(200), ms(200));
        rack.on_ack(ms(202), s(100), s(300), &sb, s(100), None);
        assert_eq!(rack.min_rtt_us, Some(50_000));
        assert!(rack.records.is_empty() && rack.rexmits.is_empty());
    }

    #[test]
    fn later_delivery_marks_earlier_lost_after_rtt_plus_reo_wnd() {
        let mut rack = Rack::default();
        for i in 0..4u32 {
            rack.on_send(s(i * 100), s(i * 100 + 100), ms(i as u64));
        }
        // Segment 3 (sent at 3 ms) is SACKed at 43 ms; 0..3 missing.
        let mut sb = Scoreboard::new();
        sb.update(&[Some((s(300), s(400)))], s(0), s(400));
        rack.on_ack(ms(43), s(0), s(0), &sb, s(0), None);
        let srtt = Duration::from_millis(40);
        // rtt 40 ms, reo_wnd 10 ms: segment 0 lost at 50, 1 at 51, 2 at 52.
        assert!(!rack.detect(ms(43), &sb, srtt, false));
        assert_eq!(rack.timer, Some(ms(50)));
        assert!(rack.detect(ms(51), &sb, srtt, false));
        assert_eq!(rack.lost_point, Some(s(200)));
        assert_eq!(rack.timer, Some(ms(52)));
        assert!(rack.detect(ms(52), &sb, srtt, false));
        assert_eq!(rack.lost_point, Some(s(300)));
        assert_eq!(rack.timer, None);
        // The cumulative ACK passes the lost point: forgotten.
        rack.on_ack(ms(60), s(0), s(400), &Scoreboard::new(), s(0), None);
        assert_eq!(rack.lost_point, None);
    }

    #[test]
    fn retransmitted_octets_do_not_advance_rack() {
        let mut rack = Rack::default();
        rack.on_send(s(0), s(100), ms(0));
        rack.on_send(s(100), s(200), ms(1));
        let mut sb = Scoreboard::new();
        sb.update(&[Some((s(100), s(200)))], s(0), s(200));
        // high_rxt 200: everything may have been retransmitted.
        rack.on_ack(ms(50), s(0), s(0), &sb, s(200), None);
        assert!(!rack.detect(ms(500), &sb, Duration::from_millis(40), false));
    }

    #[test]
    fn a_retransmission_echoing_an_older_timestamp_was_not_what_arrived() {
        // §6.2 step 2. Segment 0 is sent at 0 ms and again at 100 ms;
        // segment 1 goes at 1 ms. At 150 ms an ACK covers segment 0,
        // 50 ms after the retransmission (above min_RTT, 40 ms).
        let ack_at = |echo: Option<u32>| {
            let (mut rack, _) = fourth_sacked();
            rack.on_retransmit(s(0), s(100), ms(100));
            rack.on_ack(ms(150), s(0), s(100), &Scoreboard::new(), s(100), echo);
            rack.xmit_ts
        };
        // Echoing the original's timestamp: the original arrived, and the
        // most recent delivery is still segment 3's (sent at 3 ms).
        assert_eq!(ack_at(Some(0)), Some(ms(3)));
        // Echoing the retransmission's: it arrived, sent at 100 ms.
        assert_eq!(ack_at(Some(100)), Some(ms(100)));
        // Without timestamps, the RTT alone decides: above min_RTT, the
        // retransmission's.
        assert_eq!(ack_at(None), Some(ms(100)));

        // A retransmission SACKed above SND.UNA comes back with the echo
        // of the segment at the receiver's left edge, older whichever copy
        // arrived: the RTT decides there too.
        let (mut rack, _) = fourth_sacked();
        rack.on_retransmit(s(100), s(200), ms(100));
        let mut sb = Scoreboard::new();
        sb.update(&[Some((s(100), s(200)))], s(0), s(400));
        rack.on_ack(ms(150), s(0), s(0), &sb, s(200), Some(0));
        assert_eq!(rack.xmit_ts, Some(ms(100)));
    }

    #[test]
    fn tail_resend_refreshes_time() {
        let mut rack = Rack::default();
        // A first delivery gives the minimum RTT (15 ms), which a
        // retransmission's delivery is held to (§6.2 step 2).
        rack.on_send(s(0), s(100), ms(0));
        rack.on_ack(ms(15), s(0), s(100), &Scoreboard::new(), s(0), None);
        rack.on_send(s(100), s(200), ms(20));
        rack.on_send(s(200), s(300), ms(20));
        rack.on_tail_resend(s(200), ms(100));
        let mut sb = Scoreboard::new();
        sb.update(&[Some((s(200), s(300)))], s(100), s(300));
        rack.on_ack(ms(120), s(100), s(100), &sb, s(100), None);
        // rtt measured from the probe: 20 ms; segment 1 sent before it.
        assert!(rack.detect(ms(120), &sb, Duration::from_millis(20), false));
        assert_eq!(rack.lost_point, Some(s(200)));
    }

    /// Sends `n` segments of 100 octets, one every millisecond from 0.
    fn flight(n: u32) -> Rack {
        let mut rack = Rack::default();
        for i in 0..n {
            rack.on_send(s(i * 100), s(i * 100 + 100), ms(u64::from(i)));
        }
        rack
    }

    /// [`flight`] of four whose last segment is SACKed at 43 ms, 40 ms
    /// after it was sent: RACK's RTT and min_RTT are 40 ms.
    fn fourth_sacked() -> (Rack, Scoreboard) {
        let mut rack = flight(4);
        let mut sb = Scoreboard::new();
        sb.update(&[Some((s(300), s(400)))], s(0), s(400));
        rack.on_ack(ms(43), s(0), s(0), &sb, s(0), None);
        (rack, sb)
    }

    fn blocks(b: &[(u32, u32)]) -> Vec<Option<(SeqNumber, SeqNumber)>> {
        b.iter().map(|&(l, r)| Some((s(l), s(r)))).collect()
    }

    #[test]
    fn a_late_original_below_fack_is_reordering_and_a_retransmission_is_not() {
        // §6.2 step 3. Segment 0 is late: 1 and 2 are SACKed first.
        let mut rack = flight(3);
        let mut sb = Scoreboard::new();
        assert!(!rack.detect_reordering(s(0), s(0), &blocks(&[(100, 300)]), s(300), &sb, s(0)));
        sb.update(&[Some((s(100), s(300)))], s(0), s(300));
        assert!(!rack.reordering_seen);
        // Then the cumulative ACK covers it, never retransmitted: it
        // arrived after segments sent later.
        assert!(rack.detect_reordering(s(0), s(300), &[], s(300), &sb, s(0)));
        assert!(rack.reordering_seen);

        // The same, but segment 0 was retransmitted (HighRxt 100): its
        // delivery may be the retransmission's. Not reordering.
        let mut rack = flight(3);
        let mut sb = Scoreboard::new();
        rack.detect_reordering(s(0), s(0), &blocks(&[(100, 300)]), s(300), &sb, s(0));
        sb.update(&[Some((s(100), s(300)))], s(0), s(300));
        assert!(!rack.detect_reordering(s(0), s(300), &[], s(300), &sb, s(100)));
        assert!(!rack.reordering_seen);
    }

    #[test]
    fn a_sack_block_filling_below_fack_is_reordering_and_a_repeated_one_is_not() {
        let mut rack = flight(4);
        let mut sb = Scoreboard::new();
        rack.detect_reordering(s(0), s(0), &blocks(&[(300, 400)]), s(400), &sb, s(0));
        sb.update(&[Some((s(300), s(400)))], s(0), s(400));
        // The same block again tells nothing new.
        assert!(!rack.detect_reordering(s(0), s(0), &blocks(&[(300, 400)]), s(400), &sb, s(0)));
        // Segment 1 SACKed after segment 3: delivered out of send order.
        assert!(rack.detect_reordering(s(0), s(0), &blocks(&[(100, 200), (300, 400)]), s(400), &sb, s(0)));
    }

    #[test]
    fn reo_wnd_is_zero_for_an_evident_loss_until_reordering_is_seen() {
        // §6.2 step 5's RACK.reo_wnd: min_RTT 40 ms.
        let (mut rack, sb) = fourth_sacked();
        let srtt = Duration::from_millis(40);
        assert_eq!(rack.reo_wnd_micros(srtt, false), 10_000);
        assert_eq!(rack.reo_wnd_micros(srtt, true), 0);
        // With the loss evident, every segment sent before segment 3, a
        // round trip ago, is lost at once.
        assert!(rack.detect(ms(43), &sb, srtt, true));
        assert_eq!(rack.lost_point, Some(s(300)));
        rack.reordering_seen = true;
        assert_eq!(rack.reo_wnd_micros(srtt, true), 10_000);
    }

    #[test]
    fn d_sacks_widen_the_window_once_per_round_and_16_quiet_recoveries_reset_it() {
        // §6.2 step 4.
        let (mut rack, _) = fourth_sacked();
        let srtt = Duration::from_millis(100);
        assert_eq!(rack.reo_wnd_micros(srtt, false), 10_000);
        rack.update_reo_wnd(s(0), s(400), true);
        assert_eq!(rack.reo_wnd_micros(srtt, false), 20_000);
        // A second D-SACK in the same round trip (SND.UNA below 400).
        rack.update_reo_wnd(s(100), s(500), true);
        assert_eq!(rack.reo_wnd_micros(srtt, false), 20_000);
        // The round is over once SND.UNA reaches the SND.NXT it began at.
        rack.update_reo_wnd(s(400), s(600), true);
        assert_eq!(rack.reo_wnd_micros(srtt, false), 30_000);
        // Never above SRTT.
        assert_eq!(rack.reo_wnd_micros(Duration::from_millis(25), false), 25_000);
        for _ in 0..15 {
            rack.on_recovery_exit();
        }
        assert_eq!(rack.reo_wnd_micros(srtt, false), 30_000);
        rack.on_recovery_exit();
        assert_eq!(rack.reo_wnd_micros(srtt, false), 10_000);
    }
}
