//! Loss recovery bookkeeping: which outstanding octets are deemed lost, how
//! much is in flight ("pipe"), and what to retransmit next.
//!
//! One model covers the three situations (as Linux does with its
//! sacked/lost/retrans counters):
//! * SACK fast recovery, RFC 6675: losses from the scoreboard's `IsLost`,
//!   `pipe` per §4 SetPipe, retransmissions per NextSeg rules 1 and 3,
//!   `high_rxt` = HighRxt.
//! * NewReno fast recovery without SACK, RFC 6582: the first unacknowledged
//!   segment is lost at entry and after every partial ACK; each duplicate
//!   ACK counts one segment as having left the network (`reno_sacked`,
//!   Linux's "Reno SACK emulation"), which is equivalent to RFC 5681's
//!   window inflation.
//! * After an RTO (RFC 6298 §5.4, RFC 5681 §3.1), everything outstanding
//!   and not SACKed is lost (`rto_lost_point`), and is resent in order as
//!   the (slow-starting) window allows.
//!
//! With SACK, RACK (RFC 8985) judges losses by time beside RFC 6675's
//! count of SACKed segments. Once RACK has seen the path reorder, only
//! RACK judges (`Outstanding::rack_only`): DupThresh SACKed segments above
//! a hole then prove nothing, and neither IsLost, NextSeg rule 3 nor the
//! retransmission of SND.UNA's segment on every partial ACK is used (as
//! Linux, which leaves loss detection to RACK entirely).

use crate::reassembly::Range;
use crate::sack::Scoreboard;
use sockstack_wire::SeqNumber;

/// Retransmissions one recovery can have and still be undone by D-SACKs.
pub const MAX_UNDO_RANGES: usize = 32;

#[derive(Debug, Clone, Default)]
pub struct Recovery {
    /// In fast recovery (RFC 6675 §5 / RFC 6582).
    pub in_recovery: bool,
    /// RFC 6675 RecoveryPoint / RFC 6582 "recover": snd_nxt at entry.
    pub recovery_point: SeqNumber,
    /// Highest retransmitted octet + 1 (RFC 6675 HighRxt).
    pub high_rxt: SeqNumber,
    /// After an RTO: everything below this is lost unless SACKed.
    pub rto_lost_point: Option<SeqNumber>,
    /// RACK (RFC 8985 §6): unSACKed octets below this are lost.
    pub rack_lost_point: Option<SeqNumber>,
    /// Consecutive duplicate ACKs (RFC 5681 §2).
    pub dupacks: u32,
    /// Without SACK: octets known to have left the network by dupacks.
    pub reno_sacked: usize,
    /// RFC 6675 RescueRxt: set to RecoveryPoint by a rescue retransmission,
    /// so there is at most one per recovery.
    pub rescue_rxt: Option<SeqNumber>,
    /// RFC 3708 §3 (Linux `undo_marker`): SND.UNA when the current or
    /// last fast recovery began; D-SACKs for data from there on can show
    /// its retransmissions were not needed. `None` after a timeout or an
    /// undo.
    pub undo_marker: Option<SeqNumber>,
    /// Ranges that recovery retransmitted and the peer has not reported
    /// as duplicates (Linux counts them in `undo_retrans`): when the last
    /// goes, every retransmission was spurious. At most `MAX_UNDO_RANGES`;
    /// past that the recovery is not undone.
    pub undo_ranges: Vec<Range>,
    /// Retransmissions RACK found lost (RFC 8985 §6.2), to send again
    /// ahead of NextSeg's other rules; sorted, disjoint. Below HighRxt,
    /// so SetPipe would count them in flight: `pipe` takes them out.
    pub resend: Vec<Range>,
    /// Eifel detection of a spurious timeout (RFC 3522): where the first
    /// timeout of an episode stands.
    pub eifel: Eifel,
    /// F-RTO (RFC 5682 §3): where the first timeout of an episode stands.
    pub frto: Frto,
    /// RFC 4015 §3: the retransmission timer's adaptation after a
    /// spurious timeout.
    pub rto_rebase: RtoRebase,
}

/// RFC 4015 §3 (as DragonFly BSD's `TRXT_F_REBASERTO`): a timeout that
/// may prove spurious keeps the estimator it interrupted ([`crate::rtt`]'s
/// prior); once undone, the RTT sample of the first ACK of data sent after
/// the timeout re-initialises the estimator from it (an ACK with no sample
/// ends the wait).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RtoRebase {
    /// Nothing to adapt.
    #[default]
    Off,
    /// SND.MAX when a timeout that may prove spurious fired (inert once
    /// its detectors found it genuine: only an undo makes it due).
    Saved(SeqNumber),
    /// The timeout was spurious: the first ACK beyond this (SND.MAX when
    /// it fired) rebases the estimator with its sample.
    Due(SeqNumber),
}

/// F-RTO, RFC 5682 (Linux `tcp_process_loss`): after a timeout, the ACK
/// of its retransmission is answered with new data instead of further
/// retransmissions, and the ACK after that shows whether the rest of the
/// flight was lost. Works without timestamps, with or without SACK.
///
/// Where this reading is more cautious than §3.1's SACK-enhanced steps,
/// it can only miss a spurious timeout, never call a real loss one: a
/// duplicate ACK ends it in either step (§3.1 would go on in step 2, or
/// count SACKed old data in step 3), and so does an ACK that acknowledges
/// only retransmitted data. A cumulative ACK past the highest octet
/// retransmitted since the timeout is spurious whatever it SACKs (as
/// Linux's `FLAG_ORIG_SACK_ACKED`). Eifel and F-RTO run side by side
/// (with timestamps); either may find the timeout spurious, as in Linux.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Frto {
    /// Not running.
    #[default]
    Off,
    /// Step 1 done (the timeout fired); `recover` is SND.NXT then, the
    /// highest octet sent before it.
    Armed { recover: SeqNumber },
    /// Step 2b: the first ACK advanced SND.UNA short of `recover`; up to
    /// `new` more new segments go, and no retransmission, until the next
    /// ACK decides (step 3, which needs `recover` no more).
    NewData { new: u8 },
}

/// RFC 3522 §3.2 (Linux `retrans_stamp` with `tcp_packet_delayed`): the
/// first retransmission after a timeout carries a timestamp; if the first
/// ACK of new data after it echoes an older one, that ACK answers the
/// original transmission, which was only late, and the timeout was
/// spurious.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Eifel {
    /// No timeout to judge (none, or one that cannot be undone: in fast
    /// recovery, after a path MTU drop, without timestamps).
    #[default]
    Off,
    /// A timeout fired; its first retransmission has not gone yet.
    Armed,
    /// The first retransmission went with this TSval.
    Sent(u32),
}

/// Inputs the computations need from the connection.
#[derive(Debug, Clone, Copy)]
pub struct Outstanding {
    pub snd_una: SeqNumber,
    pub snd_nxt: SeqNumber,
    pub mss: usize,
    pub sack: bool,
    /// Losses are RACK's to judge alone (SACK on, reordering seen).
    pub rack_only: bool,
}

impl Recovery {
    /// `[hole.start, result)` of an unSACKed hole is considered lost.
    fn lost_end(&self, sb: &Scoreboard, hole: Range, o: Outstanding) -> SeqNumber {
        if o.sack
            && !o.rack_only
            && (self.in_recovery || self.rto_lost_point.is_some())
            && sb.is_lost(hole.start, o.mss)
        {
            return hole.end;
        }
        let mut end = hole.start;
        for p in [self.rto_lost_point, self.rack_lost_point].into_iter().flatten() {
            end = end.max(p.min(hole.end));
        }
        if self.in_recovery && hole.start == o.snd_una && !o.rack_only {
            // RFC 6675 §5 step 4.3 / RFC 6582 §3.2 steps 2, 5: the first
            // unacknowledged segment is retransmitted on entry and after
            // each partial ACK.
            end = end.max((o.snd_una + o.mss).min(hole.end));
        }
        end
    }

    /// Nothing SACKed, nothing deemed lost, nothing retransmitted beyond
    /// snd_una: the state of a loss-free connection, where pipe is simply
    /// what is outstanding and no segment is lost (the scans below would
    /// find one hole and no loss).
    pub fn loss_free(&self, sb: &Scoreboard, o: Outstanding) -> bool {
        sb.is_empty()
            && self.resend.is_empty()
            && !self.in_recovery
            && self.rto_lost_point.is_none()
            && self.rack_lost_point.is_none()
            && self.high_rxt.le(o.snd_una)
    }

    /// [`Recovery::pipe`] when [`Recovery::loss_free`] holds: what is in
    /// flight (less the Reno emulation's SACKed octets).
    pub fn flight(&self, o: Outstanding) -> usize {
        o.snd_nxt.checked_sub(o.snd_una).unwrap_or(0).saturating_sub(self.reno_sacked)
    }

    /// RFC 6675 §4 SetPipe (with the Reno emulation subtracted).
    pub fn pipe(&self, sb: &Scoreboard, o: Outstanding) -> usize {
        if self.loss_free(sb, o) {
            return self.flight(o);
        }
        let mut pipe = 0usize;
        let rxt_end = self.high_rxt.max(o.snd_una);
        for hole in sb.holes(o.snd_una, o.snd_nxt) {
            let lost_end = self.lost_end(sb, hole, o);
            pipe += hole.end - lost_end;
            // Retransmitted octets are in flight again.
            let r_end = rxt_end.min(hole.end);
            if r_end.gt(hole.start) {
                pipe += r_end - hole.start;
            }
        }
        pipe.saturating_sub(self.reno_sacked).saturating_sub(self.resend_owed(sb, o))
    }

    /// NextSeg rule 1: the first lost, not yet retransmitted range at or
    /// above HighRxt, as (start, length).
    pub fn next_lost(&self, sb: &Scoreboard, o: Outstanding) -> Option<(SeqNumber, usize)> {
        if self.loss_free(sb, o) {
            return None;
        }
        let from = self.high_rxt.max(o.snd_una);
        for hole in sb.holes(from, o.snd_nxt) {
            let lost_end = self.lost_end(sb, hole, o);
            if hole.start.lt(lost_end) {
                return Some((hole.start, lost_end - hole.start));
            }
        }
        None
    }

    /// NextSeg rule 3 (SACK recovery only): an unSACKed range above HighRxt
    /// and below the highest SACKed octet, even if not yet deemed lost.
    pub fn next_rule3(&self, sb: &Scoreboard, o: Outstanding) -> Option<(SeqNumber, usize)> {
        if !(o.sack && self.in_recovery) || o.rack_only {
            return None;
        }
        let highest = sb.highest()?;
        let from = self.high_rxt.max(o.snd_una);
        sb.holes(from, highest.min(o.snd_nxt)).next().map(|h| (h.start, h.end - h.start))
    }

    /// Adds `[start, end)` to the ranges to send again.
    pub fn add_resend(&mut self, r: Range) {
        crate::reassembly::insert_sorted(&mut self.resend, r);
    }

    /// `[start, end)` was (re)transmitted or acknowledged: nothing of it is
    /// owed again.
    pub fn clear_resend(&mut self, start: SeqNumber, end: SeqNumber) {
        let mut out = Vec::with_capacity(self.resend.len());
        for r in self.resend.drain(..) {
            if r.end.le(start) || end.le(r.start) {
                out.push(r);
                continue;
            }
            if r.start.lt(start) {
                out.push(Range { start: r.start, end: start });
            }
            if end.lt(r.end) {
                out.push(Range { start: end, end: r.end });
            }
        }
        self.resend = out;
    }

    /// The unSACKed, unacknowledged pieces of the lost retransmissions.
    fn resend_holes<'a>(&'a self, sb: &'a Scoreboard, o: Outstanding) -> impl Iterator<Item = Range> + 'a {
        self.resend.iter().flat_map(move |r| sb.holes(r.start.max(o.snd_una), r.end))
    }

    /// The first piece of a lost retransmission still owed, as (start,
    /// length).
    pub fn next_resend(&self, sb: &Scoreboard, o: Outstanding) -> Option<(SeqNumber, usize)> {
        self.resend_holes(sb, o).next().map(|h| (h.start, h.end - h.start))
    }

    /// Octets of lost retransmissions still owed (not SACKed): not in flight.
    fn resend_owed(&self, sb: &Scoreboard, o: Outstanding) -> usize {
        self.resend_holes(sb, o).map(|h| h.end - h.start).sum()
    }

    /// NextSeg rule 4 (RFC 6675 §4): when rules 1–3 find nothing and no new
    /// data can go, one "rescue" retransmission per recovery of the
    /// segment that ends at the highest outstanding unSACKed octet, so a
    /// loss at the end of the window with nothing left to send does not
    /// wait for the retransmission timer.
    pub fn rescue(&self, sb: &Scoreboard, o: Outstanding) -> Option<(SeqNumber, usize)> {
        if !(o.sack && self.in_recovery) || self.rescue_rxt.is_some_and(|r| o.snd_una.le(r)) {
            return None;
        }
        let last = sb.holes(o.snd_una, o.snd_nxt).last()?;
        // Already retransmitted: RACK watches that copy; sending it yet
        // again would only duplicate it.
        if last.end.le(self.high_rxt) {
            return None;
        }
        let len = (last.end - last.start).min(o.mss);
        Some((last.end - len, len))
    }

    /// `[start, end)` was retransmitted: one more range a D-SACK must
    /// report before the recovery can be undone (RFC 3708 §3).
    pub fn note_retransmission(&mut self, start: SeqNumber, end: SeqNumber) {
        if self.undo_marker.is_none() {
            return;
        }
        if self.undo_ranges.len() >= MAX_UNDO_RANGES {
            // Too many to follow: this recovery stays.
            self.undo_marker = None;
            self.undo_ranges.clear();
            return;
        }
        self.undo_ranges.push(Range { start, end });
    }

    /// The peer reported `[start, end)` as a duplicate: the retransmissions
    /// it overlaps were needless. True when that was the last of them, so
    /// the recovery is to be undone (its marker is gone then). One report
    /// stands for one copy: a range sent three times (the original lost,
    /// its first retransmission deemed lost too and sent again) draws one
    /// D-SACK for the copy too many, and still owes one before the
    /// recovery may be called needless (Linux counts copies,
    /// `undo_retrans`).
    pub fn dsack_undoes(&mut self, start: SeqNumber, end: SeqNumber) -> bool {
        let Some(marker) = self.undo_marker else { return false };
        if self.undo_ranges.is_empty() || start.lt(marker) {
            return false;
        }
        let mut reported: Vec<Range> = Vec::new();
        self.undo_ranges.retain(|&r| {
            let this_copy = r.start.lt(end) && start.lt(r.end) && !reported.contains(&r);
            if this_copy {
                reported.push(r);
            }
            !this_copy
        });
        if !self.undo_ranges.is_empty() {
            return false;
        }
        self.undo_marker = None;
        true
    }

    /// No timeout is judged spurious any more (an undo happened, or the
    /// flight was resent for another reason): both detectors stop.
    pub fn stop_timeout_detectors(&mut self) {
        self.eifel = Eifel::Off;
        self.frto = Frto::Off;
        // A rebase already due stays: it belongs to an undo.
        if let RtoRebase::Saved(_) = self.rto_rebase {
            self.rto_rebase = RtoRebase::Off;
        }
    }

    /// Forget everything (connection (re)synchronised or all data acked).
    pub fn reset(&mut self, snd_una: SeqNumber) {
        *self = Recovery { recovery_point: snd_una, high_rxt: snd_una, ..Recovery::default() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    fn o(una: u32, nxt: u32, sack: bool) -> Outstanding {
        Outstanding { snd_una: s(una), snd_nxt: s(nxt), mss: 100, sack, rack_only: false }
    }

    #[test]
    fn pipe_without_loss_is_unsacked_outstanding() {
        let r = Recovery::default();
        let mut sb = Scoreboard::new();
        assert_eq!(r.pipe(&sb, o(0, 1000, true)), 1000);
        sb.update(&[Some((s(100), s(200)))], s(0), s(1000));
        assert_eq!(r.pipe(&sb, o(0, 1000, true)), 900);
    }

    #[test]
    fn sack_recovery_two_holes() {
        // 0..1000 sent; holes 0..100 and 300..400, everything else SACKed.
        let mut sb = Scoreboard::new();
        sb.update(&[Some((s(100), s(300))), Some((s(400), s(1000)))], s(0), s(1000));
        let mut r = Recovery { in_recovery: true, recovery_point: s(1000), ..Recovery::default() };
        let out = o(0, 1000, true);
        // Both holes lost (>2 MSS SACKed above each): pipe 0.
        assert_eq!(r.pipe(&sb, out), 0);
        assert_eq!(r.next_lost(&sb, out), Some((s(0), 100)));
        r.high_rxt = s(100);
        assert_eq!(r.pipe(&sb, out), 100, "retransmission in flight");
        assert_eq!(r.next_lost(&sb, out), Some((s(300), 100)));
        r.high_rxt = s(400);
        assert_eq!(r.next_lost(&sb, out), None);
        assert_eq!(r.pipe(&sb, out), 200);
    }

    #[test]
    fn reno_first_segment_and_rto() {
        let sb = Scoreboard::new();
        let mut r = Recovery { in_recovery: true, reno_sacked: 300, ..Recovery::default() };
        let out = o(0, 1000, false);
        assert_eq!(r.next_lost(&sb, out), Some((s(0), 100)));
        // 1000 outstanding − 100 lost − 300 left the network
        assert_eq!(r.pipe(&sb, out), 600);
        let r2 = Recovery { rto_lost_point: Some(s(1000)), ..Recovery::default() };
        assert_eq!(r2.pipe(&sb, out), 0);
        assert_eq!(r2.next_lost(&sb, out), Some((s(0), 1000)));
        r.in_recovery = false;
        assert_eq!(r.next_rule3(&sb, out), None);
    }

    /// RFC 3708 §3: every retransmission must be reported as needless
    /// before the recovery is undone; a range sent again twice needs two
    /// reports, and one report covers every distinct range it spans.
    #[test]
    fn a_dsack_answers_for_one_copy_of_each_range() {
        let mut r = Recovery { undo_marker: Some(s(0)), ..Recovery::default() };
        r.note_retransmission(s(100), s(200));
        r.note_retransmission(s(100), s(200));
        assert!(!r.dsack_undoes(s(100), s(200)), "one copy of two reported");
        assert!(r.dsack_undoes(s(100), s(200)));
        r.undo_marker = Some(s(0));
        r.note_retransmission(s(100), s(200));
        r.note_retransmission(s(200), s(300));
        assert!(r.dsack_undoes(s(100), s(300)), "one report spanning both");
    }

    #[test]
    fn rescue_retransmission_once_per_recovery() {
        // 0..1000 outstanding; 100..900 SACKed; 0..100 retransmitted; the
        // tail 900..1000 is unSACKed but not deemed lost (nothing above it).
        let mut sb = Scoreboard::new();
        sb.update(&[Some((s(100), s(900)))], s(0), s(1000));
        let out = o(0, 1000, true);
        let mut r = Recovery { in_recovery: true, recovery_point: s(1000), high_rxt: s(100), ..Recovery::default() };
        assert_eq!(r.next_lost(&sb, out), None);
        assert_eq!(r.rescue(&sb, out), Some((s(900), 100)), "RFC 6675 NextSeg rule 4");
        r.rescue_rxt = Some(r.recovery_point);
        assert_eq!(r.rescue(&sb, out), None, "one rescue per recovery");
        // A tail already retransmitted is left to RACK.
        let r = Recovery { in_recovery: true, recovery_point: s(1000), high_rxt: s(1000), ..Recovery::default() };
        assert_eq!(r.rescue(&sb, out), None);
        // Not in recovery: no rescue.
        assert_eq!(Recovery::default().rescue(&sb, out), None);
    }
}
