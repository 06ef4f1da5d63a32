//! The connection table: TCP connections by 4-tuple, the lookup every
//! arriving segment makes (RFC 9293 §3.10.7) before anything else.
//!
//! The table is a hash map with a per-stack random key (`ahash`), so a
//! peer that picks its addresses and ports cannot aim them at one bucket.
//! The 4-tuple is packed into two words before it is hashed: two hasher
//! rounds per lookup instead of the six (a length prefix and the octets of
//! each address, each port) that hashing the `SocketAddrV4`s field by
//! field would take.

use crate::socket::SocketHandle;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

/// A connection's 4-tuple: (local, remote).
pub(crate) type FourTuple = (SocketAddrV4, SocketAddrV4);

/// A 4-tuple as the table keys it: both addresses in one word, both
/// ports in another. Packing is one-to-one, so equal keys are equal tuples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    addrs: u64,
    ports: u32,
}

impl Key {
    #[inline]
    fn new((local, remote): &FourTuple) -> Key {
        Key {
            addrs: u64::from(local.ip().to_bits()) << 32 | u64::from(remote.ip().to_bits()),
            ports: u32::from(local.port()) << 16 | u32::from(remote.port()),
        }
    }

    fn tuple(self) -> FourTuple {
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
}

impl ConnTable {
    #[inline]
    pub(crate) fn get(&self, tuple: &FourTuple) -> Option<SocketHandle> {
        self.map.get(&Key::new(tuple)).copied()
    }

    pub(crate) fn contains(&self, tuple: &FourTuple) -> bool {
        self.map.contains_key(&Key::new(tuple))
    }

    pub(crate) fn insert(&mut self, tuple: &FourTuple, h: SocketHandle) {
        self.map.insert(Key::new(tuple), h);
    }

    /// True if `tuple` was there.
    pub(crate) fn remove(&mut self, tuple: &FourTuple) -> bool {
        self.map.remove(&Key::new(tuple)).is_some()
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
}
