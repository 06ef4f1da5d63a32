//! The out-of-order queue (RFC 9293 §3.10.7.4 "seventh, process the segment
//! text": segments beyond `rcv_nxt` are held until the gap fills) and the
//! SACK blocks that describe it (RFC 2018 §4).
//!
//! The bytes themselves live in place in the [`RecvBuffer`]; this module
//! only tracks which sequence ranges past `rcv_nxt` are filled, bounded to
//! [`MAX_RANGES`] ranges (a hostile peer cannot make us allocate without
//! limit: once full, new disjoint ranges are dropped, as Linux prunes its
//! ofo queue). It also remembers the order in which blocks were last
//! touched, because RFC 2018 §4 wants the block holding the most recent
//! segment first.
//!
//! [`RecvBuffer`]: crate::buffer::RecvBuffer

use sockstack_wire::SeqNumber;

/// Most disjoint out-of-order ranges kept.
pub const MAX_RANGES: usize = 32;

/// A half-open sequence range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First sequence number in the range.
    pub start: SeqNumber,
    /// Sequence number just past the range.
    pub end: SeqNumber,
}

/// Removes from `ranges` (sorted, disjoint) every range overlapping or
/// adjacent to `new`, calling `absorbed` for each, and returns their union
/// with `new`; [`insert_sorted`] then puts it back. Shared by the receiver's
/// out-of-order queue and the sender's SACK scoreboard.
pub(crate) fn absorb(ranges: &mut Vec<Range>, mut new: Range, mut absorbed: impl FnMut(Range)) -> Range {
    let mut i = 0;
    while i < ranges.len() {
        let r = ranges[i];
        if r.end.ge(new.start) && r.start.le(new.end) {
            new.start = new.start.min(r.start);
            new.end = new.end.max(r.end);
            ranges.remove(i);
            absorbed(r);
        } else {
            i += 1;
        }
    }
    new
}

/// Inserts `new` (disjoint from every range) keeping `ranges` sorted.
pub(crate) fn insert_sorted(ranges: &mut Vec<Range>, new: Range) {
    let pos = ranges.iter().position(|r| new.start.lt(r.start)).unwrap_or(ranges.len());
    ranges.insert(pos, new);
}

/// Out-of-order ranges above `rcv_nxt`, sorted and disjoint, plus SACK
/// recency.
#[derive(Debug, Clone, Default)]
pub struct Reassembly {
    ranges: Vec<Range>,
    /// Start of ranges in most-recently-updated-first order (RFC 2018 §4).
    recent: Vec<SeqNumber>,
}

impl Reassembly {
    /// An empty queue.
    pub fn new() -> Reassembly {
        Reassembly::default()
    }

    /// True when nothing is queued out of order.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The queued ranges, in sequence order.
    pub fn ranges(&self) -> &[Range] {
        &self.ranges
    }

    /// Records `[start, end)` as received (caller has stored the bytes).
    /// Returns false if it had to be refused because the queue is full.
    pub fn insert(&mut self, start: SeqNumber, end: SeqNumber) -> bool {
        if !start.lt(end) {
            return true;
        }
        // Merge with every overlapping or adjacent range.
        let mut merged_any = false;
        let recent = &mut self.recent;
        let new = absorb(&mut self.ranges, Range { start, end }, |r| {
            recent.retain(|s| *s != r.start);
            merged_any = true;
        });
        if !merged_any && self.ranges.len() >= MAX_RANGES {
            return false;
        }
        insert_sorted(&mut self.ranges, new);
        self.recent.insert(0, new.start);
        true
    }

    /// `rcv_nxt` advanced to `rcv_nxt`: returns how far it can advance
    /// further because queued data now follows it contiguously, and forgets
    /// everything below the new edge.
    pub fn advance(&mut self, rcv_nxt: SeqNumber) -> usize {
        let mut edge = rcv_nxt;
        while let Some(first) = self.ranges.first().copied() {
            if first.start.gt(edge) {
                break;
            }
            edge = edge.max(first.end);
            self.ranges.remove(0);
            self.recent.retain(|s| *s != first.start);
        }
        edge - rcv_nxt
    }

    /// Number of bytes queued out of order.
    pub fn queued_bytes(&self) -> usize {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }

    /// The end of the highest out-of-order range, if any.
    pub fn highest(&self) -> Option<SeqNumber> {
        self.ranges.last().map(|r| r.end)
    }

    /// SACK blocks to send, most recently updated first (RFC 2018 §4).
    pub fn sack_blocks(&self) -> [Option<(SeqNumber, SeqNumber)>; 4] {
        let mut out = [None; 4];
        for (slot, start) in out.iter_mut().zip(self.recent.iter()) {
            if let Some(r) = self.ranges.iter().find(|r| r.start == *start) {
                *slot = Some((r.start, r.end));
            }
        }
        out
    }

    /// Forgets every queued range.
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    #[test]
    fn merges_and_orders_blocks_by_recency() {
        let mut r = Reassembly::new();
        r.insert(s(200), s(300));
        r.insert(s(400), s(500));
        r.insert(s(600), s(700));
        let b = r.sack_blocks();
        assert_eq!(b[0], Some((s(600), s(700))));
        assert_eq!(b[2], Some((s(200), s(300))));
        // Filling 300..400 merges two blocks; the merged one becomes first.
        r.insert(s(300), s(400));
        let b = r.sack_blocks();
        assert_eq!(b[0], Some((s(200), s(500))));
        assert_eq!(b[1], Some((s(600), s(700))));
        assert_eq!(b[2], None);
        assert_eq!(r.queued_bytes(), 400);
        assert_eq!(r.advance(s(100)), 0);
        assert_eq!(r.advance(s(200)), 300);
        assert_eq!(r.ranges().len(), 1);
        assert_eq!(r.advance(s(650)), 50, "partially covered range");
        assert!(r.is_empty());
    }

    #[test]
    fn bounded_number_of_ranges() {
        let mut r = Reassembly::new();
        for i in 0..MAX_RANGES as u32 {
            assert!(r.insert(s(i * 10 + 1), s(i * 10 + 5)));
        }
        assert!(!r.insert(s(10_000), s(10_001)), "full");
        assert!(r.insert(s(5), s(11)), "merging is always allowed");
    }

    #[test]
    fn wraps_around_sequence_space() {
        let mut r = Reassembly::new();
        r.insert(s(u32::MAX - 10), s(5));
        assert_eq!(r.advance(s(u32::MAX - 20)), 0);
        assert_eq!(r.advance(s(u32::MAX - 10)), 16);
    }
}
