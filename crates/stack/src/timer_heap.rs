//! The stack's TCP timer set: one deadline per connection that has one
//! (and one for the TIME-WAIT table, under the null handle), earliest
//! first, so the stack's next deadline is one look.
//!
//! A binary min-heap with lazy deletion, as the TIME-WAIT table keeps its
//! own expiries: arming a deadline is a push, and a deadline its owner no
//! longer holds (moved earlier, disarmed, its socket gone) stays where it
//! is until it comes to the top, where the stack drops it ([`TimerHeap::
//! purge`]). Which entries are live is the owner's to say: the heap only
//! orders them. Compared with an ordered set, a connection's arm and
//! disarm cost a few dozen instructions instead of a tree's node walks,
//! insertions and rebalancing, and no allocation per entry.

use crate::socket::SocketHandle;
use sockstack_time::Instant;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Deadlines of the stack's TCP timers, earliest on top.
#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Reverse<(Instant, SocketHandle)>>,
}

impl TimerHeap {
    /// Arms a deadline `at` for `h`.
    #[inline]
    pub fn push(&mut self, at: Instant, h: SocketHandle) {
        self.heap.push(Reverse((at, h)));
    }

    /// The earliest entry, live or not.
    #[inline]
    pub fn peek(&self) -> Option<(Instant, SocketHandle)> {
        self.heap.peek().map(|&Reverse(e)| e)
    }

    /// Takes the earliest entry.
    #[inline]
    pub fn pop(&mut self) -> Option<(Instant, SocketHandle)> {
        self.heap.pop().map(|Reverse(e)| e)
    }

    /// Drops entries from the top until one is `live` (or none is left):
    /// after a deadline was moved or disarmed, the earliest entry is again
    /// one that its owner holds. When dead entries have piled up deeper
    /// in (more than twice `owners` plus a margin, `owners` being how many
    /// could hold one), keeps only the live ones, so the heap stays in
    /// proportion to the connections.
    pub fn purge(&mut self, owners: usize, mut live: impl FnMut(Instant, SocketHandle) -> bool) {
        while let Some(&Reverse((at, h))) = self.heap.peek() {
            if live(at, h) {
                break;
            }
            self.heap.pop();
        }
        if self.heap.len() > 64 + 2 * owners {
            self.heap.retain(|&Reverse((at, h))| live(at, h));
        }
    }

    /// Entries held, dead ones included.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotmap::SlotMap;
    use std::collections::HashMap;

    fn handles(n: usize) -> Vec<SocketHandle> {
        let mut m: SlotMap<SocketHandle, ()> = SlotMap::with_key();
        (0..n).map(|_| m.insert(())).collect()
    }

    #[test]
    fn earliest_first_and_dead_entries_dropped_at_the_top() {
        let h = handles(3);
        let t = Instant::from_secs;
        let mut heap = TimerHeap::default();
        // What each owner holds now.
        let mut holds: HashMap<SocketHandle, Instant> = HashMap::new();
        for (i, &x) in h.iter().enumerate() {
            heap.push(t(10 + i as u64), x);
            holds.insert(x, t(10 + i as u64));
        }
        assert_eq!(heap.peek(), Some((t(10), h[0])));
        // h[0] moves later: a new entry, and the old one is dead.
        heap.push(t(20), h[0]);
        holds.insert(h[0], t(20));
        let live = |holds: &HashMap<SocketHandle, Instant>, at, x| holds.get(&x) == Some(&at);
        heap.purge(3, |at, x| live(&holds, at, x));
        assert_eq!(heap.peek(), Some((t(11), h[1])));
        // h[1] disarmed, h[2] gone: only h[0]'s later deadline is left.
        holds.remove(&h[1]);
        holds.remove(&h[2]);
        heap.purge(3, |at, x| live(&holds, at, x));
        assert_eq!(heap.peek(), Some((t(20), h[0])));
        assert_eq!(heap.pop(), Some((t(20), h[0])));
        holds.remove(&h[0]);
        heap.purge(3, |at, x| live(&holds, at, x));
        assert_eq!(heap.peek(), None);
    }

    #[test]
    fn dead_entries_deeper_in_are_dropped_once_they_pile_up() {
        let h = handles(2);
        let mut heap = TimerHeap::default();
        // h[0] holds an early deadline; h[1] re-arms earlier and earlier
        // beneath it, leaving a dead entry each time.
        heap.push(Instant::from_secs(1), h[0]);
        let mut last = Instant::from_secs(1_000_000);
        for i in 0..1000u64 {
            last = Instant::from_secs(1_000_000 - i);
            heap.push(last, h[1]);
        }
        let live =
            |at: Instant, x: SocketHandle| (x == h[0] && at == Instant::from_secs(1)) || (x == h[1] && at == last);
        heap.purge(2, live);
        assert_eq!(heap.len(), 2, "only the two live deadlines are kept");
        assert_eq!(heap.pop(), Some((Instant::from_secs(1), h[0])));
        assert_eq!(heap.pop(), Some((last, h[1])));
    }
}
