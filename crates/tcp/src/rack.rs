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

use crate::reassembly::Range;
use crate::sack::Scoreboard;
use sockstack_time::{Duration, Instant};
use sockstack_wire::SeqNumber;
use std::collections::VecDeque;

/// Most send records kept; beyond this, older records merge (bounded memory
/// whatever the window).
const MAX_RECORDS: usize = 4096;

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

    /// A TLP re-sent the tail `[start, end)`: those octets now count as
    /// sent at `now` (RFC 8985 §7.3).
    pub fn on_tail_resend(&mut self, start: SeqNumber, now: Instant) {
        for r in self.records.iter_mut().rev() {
            if r.end.le(start) {
                break;
            }
            r.sent = now;
        }
    }

    /// An ACK arrived. `old_una`/`ack`: the cumulative ACK before and
    /// after; `sacked`: this ACK's accepted SACK ranges; octets below
    /// `high_rxt` may have been retransmitted and are not used.
    pub fn on_ack(&mut self, now: Instant, old_una: SeqNumber, ack: SeqNumber, sb: &Scoreboard, high_rxt: SeqNumber) {
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
        // Delivered retransmissions (§6.2 step 2): sooner than the minimum
        // RTT after the retransmission, the delivery was the original's.
        let delivered =
            |r: &Record| r.end.le(ack) || sb.ranges().iter().any(|s: &Range| s.start.le(r.start) && r.end.le(s.end));
        for r in self.rexmits.iter().filter(|r| delivered(r)) {
            let rtt = now.micros_since(r.sent);
            if self.min_rtt_us.is_some_and(|m| rtt >= m)
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
    /// running, no NextSeg retransmission outstanding.
    pub fn is_quiet(&self) -> bool {
        self.lost_point.is_none() && self.timer.is_none() && self.rexmits.is_empty()
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
        self.acked_past_lost_point(ack);
        match (self.xmit_ts, self.records.front()) {
            (Some(t), Some(r)) => sent_after(t, self.end_seq, r.sent, r.end),
            _ => false,
        }
    }

    /// RFC 8985 §6.2 step 5 (detect_loss): updates `lost_point` and the
    /// reordering timer. Returns true if new losses were found.
    pub fn detect(&mut self, now: Instant, sb: &Scoreboard, srtt: Duration) -> bool {
        self.timer = None;
        let Some(xmit_ts) = self.xmit_ts else {
            return false;
        };
        if self.records.is_empty() && self.rexmits.is_empty() {
            return false; // nothing in flight to judge
        }
        // §6.2: reo_wnd = min_rtt / 4, at most SRTT.
        let srtt_us = u64::try_from(srtt.as_micros()).unwrap_or(u64::MAX);
        let reo_wnd = (self.min_rtt_us.unwrap_or_default() / 4).min(srtt_us);
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

    #[test]
    fn later_delivery_marks_earlier_lost_after_rtt_plus_reo_wnd() {
        let mut rack = Rack::default();
        for i in 0..4u32 {
            rack.on_send(s(i * 100), s(i * 100 + 100), ms(i as u64));
        }
        // Segment 3 (sent at 3 ms) is SACKed at 43 ms; 0..3 missing.
        let mut sb = Scoreboard::new();
        sb.update(&[Some((s(300), s(400)))], s(0), s(400));
        rack.on_ack(ms(43), s(0), s(0), &sb, s(0));
        let srtt = Duration::from_millis(40);
        // rtt 40 ms, reo_wnd 10 ms: segment 0 lost at 50, 1 at 51, 2 at 52.
        assert!(!rack.detect(ms(43), &sb, srtt));
        assert_eq!(rack.timer, Some(ms(50)));
        assert!(rack.detect(ms(51), &sb, srtt));
        assert_eq!(rack.lost_point, Some(s(200)));
        assert_eq!(rack.timer, Some(ms(52)));
        assert!(rack.detect(ms(52), &sb, srtt));
        assert_eq!(rack.lost_point, Some(s(300)));
        assert_eq!(rack.timer, None);
        // The cumulative ACK passes the lost point: forgotten.
        rack.on_ack(ms(60), s(0), s(400), &Scoreboard::new(), s(0));
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
        rack.on_ack(ms(50), s(0), s(0), &sb, s(200));
        assert!(!rack.detect(ms(500), &sb, Duration::from_millis(40)));
    }

    #[test]
    fn tail_resend_refreshes_time() {
        let mut rack = Rack::default();
        rack.on_send(s(0), s(100), ms(0));
        rack.on_send(s(100), s(200), ms(0));
        rack.on_tail_resend(s(100), ms(80));
        let mut sb = Scoreboard::new();
        sb.update(&[Some((s(100), s(200)))], s(0), s(200));
        rack.on_ack(ms(100), s(0), s(0), &sb, s(0));
        // rtt measured from the probe: 20 ms; segment 0 sent before it.
        assert!(rack.detect(ms(100), &sb, Duration::from_millis(20)));
        assert_eq!(rack.lost_point, Some(s(100)));
    }
}
