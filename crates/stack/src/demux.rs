//! The connection table: TCP connections by 4-tuple, the lookup every
//! arriving segment makes (RFC 9293 §3.10.7) before anything else.
//!
//! The table is a hash map with a per-stack random key (`ahash`), so a
//! peer that picks its addresses and ports cannot aim them at one bucket.
//! The 4-tuple is packed into two words before it is hashed: two hasher
//! rounds per lookup instead of the six (a length prefix and the octets of
//! each address, each port) that hashing the `SocketAddrV4`s field by
//! field would take.
//!
//! In front of the map sits the connection found last (4.3BSD's
//! `tcp_last_inpcb`): segments come in runs of one connection (a bulk
//! transfer, a request and its response), and a hit costs one compare of
//! the packed tuple instead of the hash and the probe.

use crate::socket::SocketHandle;
use std::cell::Cell;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

/// A connection's 4-tuple: (local, remote).
pub(crate) type FourTuple = (SocketAddrV4, SocketAddrV4);

/// A 4-tuple as the table keys it: both addresses in one word, both
/// ports in another. Packing is one-to-one, so equal keys are equal tuples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    addrs: u64,
    ports: u32,
}

impl Key {
    #[inline]
    pub(crate) fn new((local, remote): &FourTuple) -> Key {
        Key {
            addrs: u64::from(local.ip().to_bits()) << 32 | u64::from(remote.ip().to_bits()),
            ports: u32::from(local.port()) << 16 | u32::from(remote.port()),
        }
    }

    pub(crate) fn tuple(self) -> FourTuple {
        let addr = |bits: u64| Ipv4Addr::from_bits(bits as u32);
        let port = |bits: u32| bits as u16;
        (
            SocketAddrV4::new(addr(self.addrs >> 32), port(self.ports >> 16)),
            SocketAddrV4::new(addr(self.addrs), port(self.ports)),
        )
    }
}

/// Connections by 4-tuple: O(1) demultiplexing.
#[derive(Default)]
pub(crate) struct ConnTable {
    map: HashMap<Key, SocketHandle, ahash::RandomState>,
    /// The entry `get` found last; always one the map holds.
    last: Cell<Option<(Key, SocketHandle)>>,
}

impl ConnTable {
    #[inline]
    pub(crate) fn get(&self, tuple: &FourTuple) -> Option<SocketHandle> {
        let key = Key::new(tuple);
        match self.last.get() {
            Some((k, h)) if k == key => Some(h),
            _ => self.get_hashed(key),
        }
    }

    fn get_hashed(&self, key: Key) -> Option<SocketHandle> {
        let h = self.map.get(&key).copied();
        if let Some(h) = h {
            self.last.set(Some((key, h)));
        }
        h
    }

    pub(crate) fn contains(&self, tuple: &FourTuple) -> bool {
        self.map.contains_key(&Key::new(tuple))
    }

    pub(crate) fn insert(&mut self, tuple: &FourTuple, h: SocketHandle) {
        let key = Key::new(tuple);
        self.map.insert(key, h);
        self.forget(key);
    }

    /// True if `tuple` was there.
    pub(crate) fn remove(&mut self, tuple: &FourTuple) -> bool {
        let key = Key::new(tuple);
        self.forget(key);
        self.map.remove(&key).is_some()
    }

    /// Drops the last-found entry if it is `key`'s, which is changing.
    fn forget(&self, key: Key) {
        if self.last.get().is_some_and(|(k, _)| k == key) {
            self.last.set(None);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (FourTuple, SocketHandle)> + '_ {
        self.map.iter().map(|(k, &h)| (k.tuple(), h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotmap::KeyData;

    fn tuple(a: [u8; 4], ap: u16, b: [u8; 4], bp: u16) -> FourTuple {
        (SocketAddrV4::new(Ipv4Addr::from(a), ap), SocketAddrV4::new(Ipv4Addr::from(b), bp))
    }

    #[test]
    fn packing_round_trips_and_keeps_tuples_apart() {
        let t = tuple([192, 0, 2, 1], 49152, [198, 51, 100, 7], 443);
        assert_eq!(Key::new(&t).tuple(), t);
        // Swapping ends, or an address for a port, is another connection.
        let swapped = (t.1, t.0);
        assert_ne!(Key::new(&t), Key::new(&swapped));
        let mut table = ConnTable::default();
        let (h1, h2) = (SocketHandle::from(KeyData::from_ffi(1)), SocketHandle::from(KeyData::from_ffi(2)));
        table.insert(&t, h1);
        table.insert(&swapped, h2);
        assert_eq!(table.get(&t), Some(h1));
        assert_eq!(table.get(&swapped), Some(h2));
        assert_eq!(table.get(&tuple([192, 0, 2, 1], 49153, [198, 51, 100, 7], 443)), None);
        assert_eq!(table.iter().filter(|(k, _)| *k == t).count(), 1);
        assert!(table.remove(&t));
        assert!(!table.remove(&t));
        assert!(!table.contains(&t));
        assert_eq!(table.len(), 1);
    }

    /// The last-found entry never outlives its tuple's entry in the map,
    /// nor answers for a tuple that was removed and added again.
    #[test]
    fn the_last_found_entry_follows_the_map() {
        let t = tuple([192, 0, 2, 1], 49152, [198, 51, 100, 7], 443);
        let other = tuple([192, 0, 2, 1], 49153, [198, 51, 100, 7], 443);
        let (h1, h2) = (SocketHandle::from(KeyData::from_ffi(1)), SocketHandle::from(KeyData::from_ffi(2)));
        let mut table = ConnTable::default();
        table.insert(&t, h1);
        table.insert(&other, h2);
        assert_eq!(table.get(&t), Some(h1));
        assert_eq!(table.get(&t), Some(h1), "from the last-found entry");
        assert_eq!(table.get(&other), Some(h2));
        assert_eq!(table.get(&t), Some(h1));
        assert!(table.remove(&t));
        assert_eq!(table.get(&t), None);
        table.insert(&t, h2);
        assert_eq!(table.get(&t), Some(h2));
        table.insert(&t, h1);
        assert_eq!(table.get(&t), Some(h1), "a replaced entry is not answered from the old one");
    }
}
