//! Port ownership for one transport protocol: which socket owns which
//! (address, port), the O(1) demultiplexing lookup, and ephemeral port
//! selection per RFC 6056 §3.3.4 (Algorithm 4, "double-hash").

use crate::socket::SocketHandle;
use sockstack_tcp::isn::siphash24;
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Users of each local port, keyed by a per-stack random hash (`ahash`):
/// ports are chosen here, not by peers, and a lookup costs a fraction of
/// SipHash's.
pub(crate) type PortCounts = HashMap<u16, u32, ahash::RandomState>;

/// The (address, port) pairs bound for one protocol.
///
/// A port belongs to one owner at a time: binding `a:p` fails when `a:p` is
/// taken, and, because a wildcard bind covers every local address, when
/// either side is the wildcard `0.0.0.0` and the port is in use at all.
#[derive(Debug, Default)]
pub struct PortTable {
    bound: HashMap<SocketAddrV4, SocketHandle, ahash::RandomState>,
    /// Number of bindings per port, so the wildcard conflict test is O(1).
    per_port: PortCounts,
}

impl PortTable {
    /// Whether `addr` can be bound: its port is unused, or `addr` is a specific
    /// address and neither it nor the wildcard on its port is bound.
    pub fn is_free(&self, addr: SocketAddrV4) -> bool {
        if !self.per_port.contains_key(&addr.port()) {
            return true;
        }
        !addr.ip().is_unspecified()
            && !self.bound.contains_key(&addr)
            && !self.bound.contains_key(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, addr.port()))
    }

    /// Binds `addr` to `handle`; `AddrInUse` if it is not free (see
    /// [`PortTable::is_free`]).
    pub fn insert(&mut self, addr: SocketAddrV4, handle: SocketHandle) -> io::Result<()> {
        if !self.is_free(addr) {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("address {addr} is already in use")));
        }
        self.bound.insert(addr, handle);
        *self.per_port.entry(addr.port()).or_insert(0) += 1;
        Ok(())
    }

    /// Releases `addr`; nothing happens if it was not bound.
    pub fn remove(&mut self, addr: SocketAddrV4) {
        if self.bound.remove(&addr).is_some() {
            if let Some(n) = self.per_port.get_mut(&addr.port()) {
                *n -= 1;
                if *n == 0 {
                    self.per_port.remove(&addr.port());
                }
            }
        }
    }

    /// The socket a datagram for `dst` belongs to: the exact binding first,
    /// then the wildcard one. Two hash lookups, whatever the socket count.
    pub fn lookup(&self, dst: SocketAddrV4) -> Option<SocketHandle> {
        self.bound
            .get(&dst)
            .copied()
            .or_else(|| self.bound.get(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, dst.port())).copied())
    }

    /// Number of bound addresses.
    pub fn len(&self) -> usize {
        self.bound.len()
    }

    /// True when nothing is bound.
    pub fn is_empty(&self) -> bool {
        self.bound.is_empty()
    }
}

/// Size of the perturbation table of Algorithm 4.
const TABLE_LENGTH: usize = 256;

/// Ephemeral port selection, RFC 6056 §3.3.4 (Algorithm 4). Ports for
/// different destinations come from independent, unpredictable sequences,
/// while consecutive connections to one destination do not reuse a port
/// soon. The keys come from the stack's seeded generator, so a simulation
/// run reproduces exactly.
#[derive(Debug, Clone)]
pub struct EphemeralPorts {
    min: u16,
    max: u16,
    table: [u16; TABLE_LENGTH],
    /// The 128-bit SipHash key behind both of RFC 6056's hashes (its
    /// `secret_key1` and `secret_key2`: one key, two inputs).
    key: (u64, u64),
}

impl EphemeralPorts {
    /// `range` is inclusive; Linux's default is 32768..=60999.
    pub fn new(range: (u16, u16), mut random: impl FnMut() -> u64) -> Self {
        let (min, max) = if range.0 <= range.1 { range } else { (range.1, range.0) };
        let min = min.max(1);
        let mut table = [0u16; TABLE_LENGTH];
        for slot in table.iter_mut() {
            *slot = random() as u16;
        }
        EphemeralPorts { min, max: max.max(min), table, key: (random(), random()) }
    }

    /// RFC 6056 §3.3.4's F (`which` 1) and G (`which` 2): one keyed
    /// SipHash-2-4 (the one behind ISNs and SYN cookies) of the local
    /// address and the remote socket, told apart by their first octet, so
    /// the offset and the table index are independent and unpredictable
    /// without the key.
    fn keyed_hash(&self, which: u8, local: Ipv4Addr, remote: SocketAddrV4) -> u64 {
        let mut input = [0u8; 11];
        input[0] = which;
        input[1..5].copy_from_slice(&local.octets());
        input[5..9].copy_from_slice(&remote.ip().octets());
        input[9..].copy_from_slice(&remote.port().to_be_bytes());
        siphash24(self.key.0, self.key.1, &input)
    }

    /// Picks a port for a socket at `local` talking to `remote`
    /// (`0.0.0.0:0` when the peer is not known yet), for which
    /// `suitable(port)` holds. `None` when every port in the range is taken.
    pub fn select(
        &mut self,
        local: Ipv4Addr,
        remote: SocketAddrV4,
        mut suitable: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        let num_ephemeral = u32::from(self.max - self.min) + 1;
        let offset = self.keyed_hash(1, local, remote);
        let index = (self.keyed_hash(2, local, remote) % TABLE_LENGTH as u64) as usize;
        for _ in 0..num_ephemeral {
            let n = (offset.wrapping_add(u64::from(self.table[index]))) % u64::from(num_ephemeral);
            let port = self.min + n as u16;
            self.table[index] = self.table[index].wrapping_add(1);
            if suitable(port) {
                return Some(port);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotmap::SlotMap;

    fn handles(n: usize) -> Vec<SocketHandle> {
        let mut m: SlotMap<SocketHandle, ()> = SlotMap::with_key();
        (0..n).map(|_| m.insert(())).collect()
    }

    fn sa(a: [u8; 4], p: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(a), p)
    }

    #[test]
    fn a_port_has_one_owner() {
        let h = handles(4);
        let mut t = PortTable::default();
        t.insert(sa([192, 0, 2, 1], 53), h[0]).unwrap();
        let e = t.insert(sa([192, 0, 2, 1], 53), h[1]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        // The wildcard covers the specific address already bound.
        assert_eq!(t.insert(sa([0, 0, 0, 0], 53), h[1]).unwrap_err().kind(), io::ErrorKind::AddrInUse);
        // Another local address may use the same port, as on Linux.
        t.insert(sa([198, 51, 100, 1], 53), h[2]).unwrap();
        // A wildcard bind blocks every specific address.
        t.insert(sa([0, 0, 0, 0], 80), h[3]).unwrap();
        assert_eq!(t.insert(sa([192, 0, 2, 1], 80), h[0]).unwrap_err().kind(), io::ErrorKind::AddrInUse);
        // Demux: exact first, then wildcard.
        assert_eq!(t.lookup(sa([192, 0, 2, 1], 53)), Some(h[0]));
        assert_eq!(t.lookup(sa([198, 51, 100, 1], 53)), Some(h[2]));
        assert_eq!(t.lookup(sa([203, 0, 113, 1], 53)), None);
        assert_eq!(t.lookup(sa([203, 0, 113, 1], 80)), Some(h[3]));
        // Freed on remove.
        t.remove(sa([0, 0, 0, 0], 80));
        t.insert(sa([192, 0, 2, 1], 80), h[0]).unwrap();
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn ephemeral_ports_are_in_range_distinct_and_reproducible() {
        let mk = |seed: u64| {
            let mut x = seed;
            EphemeralPorts::new((32768, 60999), move || {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                x
            })
        };
        let local = Ipv4Addr::new(192, 0, 2, 1);
        let remote = sa([192, 0, 2, 2], 53);
        let mut a = mk(1);
        let mut taken = std::collections::HashSet::new();
        for _ in 0..1000 {
            let p = a.select(local, remote, |p| !taken.contains(&p)).unwrap();
            assert!((32768..=60999).contains(&p));
            assert!(taken.insert(p));
        }
        // Same seed, same sequence; another seed, another sequence.
        let seq = |seed| {
            let mut e = mk(seed);
            (0..8).map(|_| e.select(local, remote, |_| true).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(seq(7), seq(7));
        assert_ne!(seq(7), seq(8));
        // RFC 6056 §3.3.4: to one destination, successive ports follow each
        // other (its table slot counts up), so a port comes round again
        // only after the whole range; another destination starts
        // elsewhere, and its connections leave the first one's run alone.
        let mut e = mk(3);
        let other = sa([198, 51, 100, 7], 443);
        let mut to_remote = Vec::new();
        let mut to_other = Vec::new();
        for _ in 0..4 {
            to_remote.push(e.select(local, remote, |_| true).unwrap());
            to_other.push(e.select(local, other, |_| true).unwrap());
        }
        let next = |p: u16| if p == 60999 { 32768 } else { p + 1 };
        for run in [&to_remote, &to_other] {
            assert!(run.windows(2).all(|w| w[1] == next(w[0])), "{run:?}");
        }
        assert!(to_remote.iter().all(|p| !to_other.contains(p)), "{to_remote:?} {to_other:?}");
        // An exhausted range yields None rather than looping forever.
        let mut small = EphemeralPorts::new((5000, 5003), || 3);
        assert_eq!(small.select(local, remote, |_| false), None);
    }
}
