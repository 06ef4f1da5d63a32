//! The sender's SACK scoreboard (RFC 6675 §3): which octets above
//! `snd_una` the peer reported holding (RFC 2018 §3), and the RFC 6675
//! `IsLost` predicate over it. Bounded: at most [`MAX_BLOCKS`] disjoint
//! ranges are tracked (the peer reports at most 4 per ACK; a hostile peer
//! fragmenting the space further only loses SACK precision, never memory).

use crate::reassembly::Range;
use sockstack_wire::SeqNumber;

/// Most disjoint SACKed ranges remembered.
pub const MAX_BLOCKS: usize = 64;
/// RFC 6675 §2 DupThresh.
pub const DUP_THRESH: usize = 3;

/// The SACK scoreboard of one connection: sorted, disjoint SACKed ranges above
/// `snd_una`.
#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    ranges: Vec<Range>,
}

impl Scoreboard {
    /// An empty scoreboard.
    pub fn new() -> Scoreboard {
        Scoreboard::default()
    }

    /// The SACKed ranges, in sequence order.
    pub fn ranges(&self) -> &[Range] {
        &self.ranges
    }

    /// True when nothing above `snd_una` is SACKed.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Forgets every SACKed range.
    pub fn clear(&mut self) {
        self.ranges.clear();
    }

    /// Applies the SACK blocks of one ACK. Blocks not within
    /// `(snd_una, snd_max]` are ignored (RFC 2018 §3 says the receiver only
    /// reports data it holds above the cumulative ACK; anything else is a
    /// D-SACK or bogus). Returns (blocks accepted, newly SACKed octets).
    pub fn update(
        &mut self,
        blocks: &[Option<(SeqNumber, SeqNumber)>],
        snd_una: SeqNumber,
        snd_max: SeqNumber,
    ) -> (usize, usize) {
        let before = self.sacked_bytes();
        let mut accepted = 0;
        for (left, right) in valid_blocks(blocks, snd_una, snd_max) {
            accepted += 1;
            self.insert(Range { start: left, end: right });
        }
        (accepted, self.sacked_bytes().saturating_sub(before))
    }

    /// Whether every octet of `[start, end)` is SACKed already (an empty
    /// range is).
    pub fn covers(&self, start: SeqNumber, end: SeqNumber) -> bool {
        // Ranges are disjoint and not adjacent: one must hold it all.
        !start.lt(end) || self.ranges.iter().any(|r| r.start.le(start) && end.le(r.end))
    }

    fn insert(&mut self, new: Range) {
        let new = crate::reassembly::absorb(&mut self.ranges, new, |_| {});
        if self.ranges.len() >= MAX_BLOCKS {
            // Forget the highest range: losing information only makes us
            // retransmit more conservatively.
            self.ranges.pop();
        }
        crate::reassembly::insert_sorted(&mut self.ranges, new);
    }

    /// The cumulative ACK moved to `snd_una`: forget what it covers.
    pub fn advance(&mut self, snd_una: SeqNumber) {
        self.ranges.retain(|r| r.end.gt(snd_una));
        if let Some(first) = self.ranges.first_mut() {
            first.start = first.start.max(snd_una);
        }
    }

    /// Octets SACKed in total, over all ranges.
    pub fn sacked_bytes(&self) -> usize {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }

    /// Highest SACKed octet + 1.
    pub fn highest(&self) -> Option<SeqNumber> {
        self.ranges.last().map(|r| r.end)
    }

    /// True when the octet `seq` lies in a SACKed range.
    pub fn is_sacked(&self, seq: SeqNumber) -> bool {
        self.ranges.iter().any(|r| r.start.le(seq) && seq.lt(r.end))
    }

    /// RFC 6675 §4 IsLost(seq): DupThresh discontiguous SACKed ranges above
    /// `seq`, or more than (DupThresh − 1)·SMSS SACKed octets above it.
    pub fn is_lost(&self, seq: SeqNumber, mss: usize) -> bool {
        let mut blocks = 0;
        let mut bytes = 0;
        for r in self.ranges.iter().rev() {
            if r.end.le(seq) {
                break;
            }
            blocks += 1;
            bytes += r.end - r.start.max(seq + 1);
        }
        blocks >= DUP_THRESH || bytes > (DUP_THRESH - 1) * mss
    }

    /// The unSACKed holes in `[from, to)`, in order.
    /// An iterator, not a vector: the sender asks for holes on every
    /// segment it plans, so this must not allocate.
    pub fn holes(&self, from: SeqNumber, to: SeqNumber) -> impl Iterator<Item = Range> + '_ {
        let mut cur = from;
        let mut ranges = self.ranges.iter();
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            for r in ranges.by_ref() {
                if r.end.le(cur) {
                    continue;
                }
                if r.start.ge(to) {
                    break;
                }
                let hole = cur.lt(r.start).then_some(Range { start: cur, end: r.start });
                cur = cur.max(r.end);
                if hole.is_some() {
                    return hole;
                }
            }
            done = true;
            cur.lt(to).then_some(Range { start: cur, end: to })
        })
    }
}

/// The blocks of an ACK that report data held above the cumulative ACK
/// `snd_una` and within what was sent (`snd_max`): the ones
/// [`Scoreboard::update`] takes (RFC 2018 §3; a block outside is a D-SACK
/// or bogus).
pub fn valid_blocks(
    blocks: &[Option<(SeqNumber, SeqNumber)>],
    snd_una: SeqNumber,
    snd_max: SeqNumber,
) -> impl Iterator<Item = (SeqNumber, SeqNumber)> + '_ {
    blocks.iter().flatten().copied().filter(move |&(l, r)| l.lt(r) && l.ge(snd_una) && r.le(snd_max))
}

/// The duplicate segment an ACK with cumulative ACK `ack` reports with its
/// first SACK block, if that block is a D-SACK (RFC 2883 §4): it lies
/// below the cumulative ACK, or inside the second block. `snd_max`: the
/// highest sequence sent (a block past it reports nothing of ours).
pub fn dsack(
    blocks: &[Option<(SeqNumber, SeqNumber)>],
    ack: SeqNumber,
    snd_max: SeqNumber,
) -> Option<(SeqNumber, SeqNumber)> {
    let (l0, r0) = blocks.first().copied().flatten()?;
    let inside_second = || blocks.get(1).copied().flatten().is_some_and(|(l1, r1)| l1.le(l0) && r0.le(r1));
    (l0.lt(r0) && r0.le(snd_max) && (l0.lt(ack) || inside_second())).then_some((l0, r0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    #[test]
    fn update_ignores_bogus_blocks_and_merges() {
        let mut sb = Scoreboard::new();
        let blocks = [
            Some((s(2000), s(3000))),
            Some((s(500), s(900))),   // below snd_una: D-SACK, ignored
            Some((s(9000), s(9500))), // beyond snd_max: bogus
            Some((s(3000), s(4000))),
        ];
        assert_eq!(sb.update(&blocks, s(1000), s(5000)), (2, 2000));
        assert_eq!(sb.ranges().len(), 1);
        assert_eq!(sb.update(&blocks, s(1000), s(5000)), (2, 0), "nothing new");
        sb.advance(s(2500));
        assert_eq!(sb.sacked_bytes(), 1500);
        assert!(sb.is_sacked(s(2500)));
        assert!(!sb.is_sacked(s(4000)));
    }

    #[test]
    fn is_lost_by_bytes_or_blocks() {
        let mss = 100;
        let mut sb = Scoreboard::new();
        sb.update(&[Some((s(200), s(400)))], s(0), s(1000));
        assert!(!sb.is_lost(s(0), mss), "200 octets = 2 MSS, not more");
        sb.update(&[Some((s(400), s(401)))], s(0), s(1000));
        assert!(sb.is_lost(s(0), mss), "more than 2 MSS above");
        let mut sb = Scoreboard::new();
        for i in 0..3 {
            sb.update(&[Some((s(200 + i * 100), s(210 + i * 100)))], s(0), s(1000));
        }
        assert!(sb.is_lost(s(0), mss), "three discontiguous blocks");
        assert!(!sb.is_lost(s(250), mss));
    }

    #[test]
    fn holes_between_blocks() {
        let mut sb = Scoreboard::new();
        sb.update(&[Some((s(200), s(300))), Some((s(400), s(500)))], s(100), s(600));
        let h: Vec<Range> = sb.holes(s(100), s(600)).collect();
        assert_eq!(
            h,
            vec![
                Range { start: s(100), end: s(200) },
                Range { start: s(300), end: s(400) },
                Range { start: s(500), end: s(600) },
            ]
        );
    }

    #[test]
    fn d_sack_blocks_are_told_apart() {
        let b = |v: &[(u32, u32)]| {
            let mut a = [None; 4];
            for (i, &(l, r)) in v.iter().enumerate() {
                a[i] = Some((s(l), s(r)));
            }
            a
        };
        // RFC 2883 §4.1.1: a duplicate below the cumulative ACK.
        assert_eq!(dsack(&b(&[(100, 200)]), s(300), s(500)), Some((s(100), s(200))));
        // §4.1.2: inside the second block.
        assert_eq!(dsack(&b(&[(350, 400), (300, 450)]), s(200), s(500)), Some((s(350), s(400))));
        // Ordinary blocks; one beyond what was sent; an empty one.
        assert!(dsack(&b(&[(300, 400), (100, 200)]), s(100), s(500)).is_none());
        assert!(dsack(&b(&[(300, 400)]), s(200), s(500)).is_none());
        assert!(dsack(&b(&[(100, 600)]), s(300), s(500)).is_none());
        assert!(dsack(&b(&[(100, 100)]), s(300), s(500)).is_none());
        assert!(dsack(&b(&[]), s(300), s(500)).is_none());
        // The ones the scoreboard takes.
        let valid: Vec<_> = valid_blocks(&b(&[(100, 200), (300, 400), (450, 600)]), s(200), s(500)).collect();
        assert_eq!(valid, vec![(s(300), s(400))]);
    }

    #[test]
    fn covers_asks_for_every_octet() {
        let mut sb = Scoreboard::new();
        sb.update(&[Some((s(100), s(200))), Some((s(300), s(400)))], s(0), s(500));
        assert!(sb.covers(s(100), s(200)) && sb.covers(s(120), s(180)) && sb.covers(s(50), s(50)));
        assert!(!sb.covers(s(100), s(300)) && !sb.covers(s(250), s(260)) && !sb.covers(s(90), s(150)));
    }
}
