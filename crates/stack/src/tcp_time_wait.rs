//! The TIME-WAIT table: connections their applications closed, waiting
//! out 2·MSL (RFC 9293 §3.10.7.4) as compact records
//! ([`sockstack_tcp::TimeWait`], 128 octets; about 300 with the table's
//! own) instead of whole sockets (about 1.8 KB), as Linux keeps
//! `inet_timewait_sock`s beside its full sockets. A host that opens and
//! closes many connections holds tens of thousands at a time.
//!
//! A record is found by 4-tuple, after the connection table misses; it
//! keeps its local port in use (ephemeral port selection and `bind` see
//! it) until it expires. Expiry goes by a heap of deadlines. A record
//! whose deadline moves later (a retransmitted FIN restarts 2·MSL) keeps
//! its one heap entry, which is pushed back to the new deadline when it
//! comes up, so a flood of segments to one record cannot grow the heap.

use crate::demux::{FourTuple, Key};
use sockstack_tcp::TimeWait;
use sockstack_time::Instant;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// One record, the TTL its segments go out with, and its incarnation
/// (which tells its heap entry from one a removed record left behind).
struct Entry {
    tw: TimeWait,
    ttl: u8,
    incarnation: u64,
}

#[derive(Default)]
pub(crate) struct TimeWaitTable {
    map: HashMap<Key, Entry, ahash::RandomState>,
    /// (deadline, incarnation, 4-tuple), earliest first: one entry per
    /// record at or before its deadline, and entries of removed records
    /// until they come up.
    expiry: BinaryHeap<Reverse<(Instant, u64, Key)>>,
    next_incarnation: u64,
    /// The deadline the stack's timer set holds for this table.
    armed: Option<Instant>,
}

impl TimeWaitTable {
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(crate) fn contains(&self, tuple: &FourTuple) -> bool {
        self.map.contains_key(&Key::new(tuple))
    }

    /// The record of `tuple` and its TTL, to be rebuilt into its
    /// connection.
    pub(crate) fn get(&self, tuple: &FourTuple) -> Option<(&TimeWait, u8)> {
        self.map.get(&Key::new(tuple)).map(|e| (&e.tw, e.ttl))
    }

    /// Adds `tuple`'s record (the connection just reached TIME-WAIT).
    pub(crate) fn insert(&mut self, tuple: &FourTuple, tw: TimeWait, ttl: u8) {
        let key = Key::new(tuple);
        let incarnation = self.next_incarnation;
        self.next_incarnation += 1;
        self.expiry.push(Reverse((tw.deadline(), incarnation, key)));
        self.map.insert(key, Entry { tw, ttl, incarnation });
    }

    /// Replaces `tuple`'s record after a segment changed it. Its heap
    /// entry stays: a later deadline is caught up with when the entry
    /// comes up (see the module docs); an earlier one cannot happen.
    pub(crate) fn update(&mut self, tuple: &FourTuple, tw: TimeWait) {
        if let Some(e) = self.map.get_mut(&Key::new(tuple)) {
            debug_assert!(tw.deadline() >= e.tw.deadline(), "2·MSL only ever restarts");
            e.tw = tw;
        }
    }

    /// Removes `tuple`'s record; true if there was one. Its heap entry
    /// stays until it comes up, unless no record is left.
    pub(crate) fn remove(&mut self, tuple: &FourTuple) -> bool {
        let removed = self.map.remove(&Key::new(tuple)).is_some();
        if self.map.is_empty() {
            self.expiry.clear();
        }
        removed
    }

    /// When [`TimeWaitTable::expire`] may next have work (perhaps only
    /// an entry to move or drop).
    pub(crate) fn poll_at(&self) -> Option<Instant> {
        self.expiry.peek().map(|Reverse((t, _, _))| *t)
    }

    /// The deadline the stack's timer set holds for this table.
    pub(crate) fn armed(&self) -> Option<Instant> {
        self.armed
    }

    /// The timer set's entry for this table fired (and is gone).
    pub(crate) fn disarm(&mut self) {
        self.armed = None;
    }

    /// If [`TimeWaitTable::poll_at`] moved: the deadline the stack's timer
    /// set holds for this table, and the one it should hold now.
    pub(crate) fn rearm(&mut self) -> Option<(Option<Instant>, Option<Instant>)> {
        let next = self.poll_at();
        (next != self.armed).then(|| (std::mem::replace(&mut self.armed, next), next))
    }

    /// Removes every record whose 2·MSL is over at `now`, handing each
    /// one's 4-tuple to `expired`.
    pub(crate) fn expire(&mut self, now: Instant, mut expired: impl FnMut(FourTuple)) {
        while let Some(&Reverse((at, incarnation, key))) = self.expiry.peek() {
            if at > now {
                break;
            }
            self.expiry.pop();
            let Some(e) = self.map.get(&key).filter(|e| e.incarnation == incarnation) else {
                // Its record was removed (a RST, a reopening SYN).
                continue;
            };
            let deadline = e.tw.deadline();
            if deadline <= now {
                self.map.remove(&key);
                expired(key.tuple());
            } else {
                // Restarted meanwhile.
                self.expiry.push(Reverse((deadline, incarnation, key)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockstack_tcp::{Connection, TcpConfig, TcpRepr};
    use sockstack_time::Duration;
    use sockstack_wire::SeqNumber;
    use std::net::{Ipv4Addr, SocketAddrV4};

    const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 40000);
    const REMOTE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 80);

    /// Every segment `from` sends now, into `to` (none carries data).
    fn carry(now: Instant, from: &mut Connection, to: &mut Connection) -> bool {
        let mut segs = Vec::new();
        while from.poll_transmit(now, |r| segs.push(TcpRepr { payload: &[], ..*r })) {}
        segs.iter().for_each(|s| to.on_segment(now, s));
        !segs.is_empty()
    }

    /// The record of a connection opened and closed (actively) at `now`.
    fn record(now: Instant) -> TimeWait {
        let cfg = TcpConfig::default();
        let mut a = Connection::connect(now, LOCAL, REMOTE, SeqNumber(1), 1460, &cfg);
        let mut syn = None;
        a.poll_transmit(now, |r| syn = Some(TcpRepr { payload: &[], ..*r }));
        let mut b = Connection::accept(now, REMOTE, LOCAL, &syn.unwrap(), SeqNumber(9000), 1460, &cfg);
        let settle = |a: &mut Connection, b: &mut Connection| while carry(now, b, a) | carry(now, a, b) {};
        settle(&mut a, &mut b);
        a.close();
        settle(&mut a, &mut b);
        b.close();
        settle(&mut a, &mut b);
        a.to_time_wait().expect("in TIME-WAIT")
    }

    fn tuple(port: u16) -> FourTuple {
        (SocketAddrV4::new(*LOCAL.ip(), port), REMOTE)
    }

    #[test]
    fn a_restarted_record_keeps_one_heap_entry_and_expires_late() {
        let t0 = Instant::from_secs(1);
        let (first, later) = (record(t0), record(t0 + Duration::from_secs(30)));
        let mut table = TimeWaitTable::default();
        table.insert(&tuple(1), first.clone(), 64);
        // A flood of restarts: the heap does not grow.
        for _ in 0..1000 {
            table.update(&tuple(1), later.clone());
        }
        assert_eq!(table.expiry.len(), 1);
        let mut gone = Vec::new();
        table.expire(first.deadline(), |t| gone.push(t));
        assert!(gone.is_empty(), "restarted: not due at the first deadline");
        assert_eq!(table.poll_at(), Some(later.deadline()));
        table.expire(later.deadline(), |t| gone.push(t));
        assert_eq!(gone, [tuple(1)]);
        assert!(table.is_empty() && table.expiry.is_empty());
    }

    #[test]
    fn a_removed_record_leaves_nothing_that_expires_its_successor() {
        let t0 = Instant::from_secs(1);
        let (first, later) = (record(t0), record(t0 + Duration::from_secs(30)));
        let mut table = TimeWaitTable::default();
        table.insert(&tuple(2), later.clone(), 64);
        table.insert(&tuple(1), first.clone(), 64);
        assert!(table.remove(&tuple(1)));
        assert!(!table.remove(&tuple(1)));
        // A new incarnation of the same 4-tuple, due later.
        table.insert(&tuple(1), later.clone(), 64);
        let mut gone = Vec::new();
        table.expire(first.deadline(), |t| gone.push(t));
        assert!(gone.is_empty(), "the old incarnation's entry does not expire the new one");
        assert_eq!(table.len(), 2);
        table.expire(later.deadline(), |t| gone.push(t));
        gone.sort();
        assert_eq!(gone, [tuple(1), tuple(2)]);
        // The table's timer follows its earliest entry.
        assert_eq!(table.rearm(), None, "never armed, nothing due");
        table.insert(&tuple(3), first.clone(), 64);
        assert_eq!(table.rearm(), Some((None, Some(first.deadline()))));
        assert_eq!(table.rearm(), None);
    }
}
