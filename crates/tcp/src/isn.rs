//! Initial sequence numbers (RFC 6528) and the keyed hash behind them,
//! behind SYN cookies and behind the stack's ephemeral ports: SipHash-2-4
//! (Aumasson & Bernstein, 2012), written out here so the crate has no
//! dependency and the hash is fixed across Rust versions (std's
//! `SipHasher` is deprecated and `DefaultHasher`'s algorithm is
//! unspecified).

use sockstack_time::Instant;
use sockstack_wire::SeqNumber;
use std::net::SocketAddrV4;

/// SipHash-2-4 of `data` under the 128-bit key `(k0, k1)` (little-endian
/// halves of the 16-byte key, as in the paper).
pub fn siphash24(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let m = u64::from_le_bytes(b);
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// A 128-bit secret split into SipHash's two key words.
pub(crate) fn key_words(secret: [u8; 16]) -> (u64, u64) {
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&secret[..8]);
    b.copy_from_slice(&secret[8..]);
    (u64::from_le_bytes(a), u64::from_le_bytes(b))
}

/// The connection 4-tuple as hash input (12 octets) plus `extra` (at most
/// 8 octets, checked when compiled): on the stack, as it is made for every
/// connection.
pub(crate) fn tuple_bytes<const N: usize>(local: SocketAddrV4, remote: SocketAddrV4, extra: &[u8; N]) -> TupleBytes {
    const { assert!(N <= 8, "at most 8 octets beside the 4-tuple") };
    let mut b = TupleBytes { octets: [0; 20], len: 12 + N };
    b.octets[..4].copy_from_slice(&local.ip().octets());
    b.octets[4..6].copy_from_slice(&local.port().to_be_bytes());
    b.octets[6..10].copy_from_slice(&remote.ip().octets());
    b.octets[10..12].copy_from_slice(&remote.port().to_be_bytes());
    b.octets[12..b.len].copy_from_slice(extra);
    b
}

/// What [`tuple_bytes`] makes: dereferences to the octets.
pub(crate) struct TupleBytes {
    octets: [u8; 20],
    len: usize,
}

impl std::ops::Deref for TupleBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.octets[..self.len]
    }
}

/// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport,
/// secretkey), M a timer ticking every 4 µs, F SipHash-2-4. Successive
/// connections on the same 4-tuple get increasing ISNs (so old duplicates
/// fall behind), different 4-tuples get unpredictable ones.
#[derive(Clone)]
pub struct IsnGenerator {
    k0: u64,
    k1: u64,
}

impl core::fmt::Debug for IsnGenerator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IsnGenerator { .. }") // never print the secret
    }
}

/// What a connection starts from: its initial send sequence number (RFC
/// 6528) and the offset of its timestamp clock (RFC 7323 §5.4, §7.1).
/// [`IsnGenerator::initial`] keys both on the 4-tuple, so that a 4-tuple
/// used again (after TIME-WAIT) keeps the same offset, and the timestamps
/// of its new SYN pass the old connection's PAWS test and RFC 6191's reuse
/// test at a peer that still holds it in TIME-WAIT (Linux
/// `secure_tcp_ts_off`). A bare ISS gives an offset derived from it, fixed
/// for that connection only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Initial {
    /// The initial send sequence number.
    pub iss: SeqNumber,
    /// Added to the millisecond clock to make the connection's TSval.
    pub ts_offset: u32,
}

impl From<SeqNumber> for Initial {
    fn from(iss: SeqNumber) -> Initial {
        Initial { iss, ts_offset: crate::tcb::ts_offset_for(iss) }
    }
}

impl IsnGenerator {
    /// A generator keyed by `secret` (the SipHash key of F).
    pub fn new(secret: [u8; 16]) -> IsnGenerator {
        let (k0, k1) = key_words(secret);
        IsnGenerator { k0, k1 }
    }

    /// The ISN for a connection from `local` to `remote` at `now`: M + F
    /// (RFC 6528 §3).
    pub fn isn(&self, now: Instant, local: SocketAddrV4, remote: SocketAddrV4) -> SeqNumber {
        self.initial(now, local, remote).iss
    }

    /// The timestamp clock offset of every connection from `local` to
    /// `remote` (see [`Initial`]).
    pub fn ts_offset(&self, local: SocketAddrV4, remote: SocketAddrV4) -> u32 {
        (self.keyed(local, remote) >> 32) as u32
    }

    /// A connection's ISS at `now` and its timestamp clock offset, both
    /// from one keyed hash of the 4-tuple: F is its low half, the offset
    /// its high half (as Linux's `secure_tcp_seq_and_tsoff` had them),
    /// independent of each other as halves of a pseudorandom function.
    pub fn initial(&self, now: Instant, local: SocketAddrV4, remote: SocketAddrV4) -> Initial {
        let m = (now.total_micros() / 4) as u32;
        let h = self.keyed(local, remote);
        Initial { iss: SeqNumber(m.wrapping_add(h as u32)), ts_offset: (h >> 32) as u32 }
    }

    fn keyed(&self, local: SocketAddrV4, remote: SocketAddrV4) -> u64 {
        siphash24(self.k0, self.k1, &tuple_bytes(local, remote, &[]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn siphash_reference_vector() {
        // SipHash paper, Appendix A: key 00..0f, message 00..0e.
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let msg: Vec<u8> = (0..15).collect();
        let (k0, k1) = key_words(key);
        assert_eq!(siphash24(k0, k1, &msg), 0xa129_ca61_49be_45e5);
        // First entry of the reference implementation's vectors.h (empty input).
        assert_eq!(siphash24(k0, k1, &[]), 0x726f_db47_dd0e_0e31);
    }

    #[test]
    fn isn_monotonic_per_tuple_and_keyed() {
        let a = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1234);
        let b = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
        let c = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 81);
        let g = IsnGenerator::new([7; 16]);
        let i1 = g.isn(Instant::from_secs(1), a, b);
        let i2 = g.isn(Instant::from_secs(2), a, b);
        assert_eq!(i2 - i1, 250_000, "4 µs ticks");
        assert_ne!(g.isn(Instant::from_secs(1), a, c), i1);
        assert_ne!(IsnGenerator::new([8; 16]).isn(Instant::from_secs(1), a, b), i1);
        assert_eq!(format!("{g:?}"), "IsnGenerator { .. }");
    }

    /// The timestamp clock offset is the 4-tuple's, whenever its
    /// connection opens, and the same as `initial` gives with the ISS.
    #[test]
    fn ts_offset_per_tuple_and_keyed() {
        let a = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1234);
        let b = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
        let c = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 81);
        let g = IsnGenerator::new([7; 16]);
        let early = g.initial(Instant::from_secs(1), a, b);
        let late = g.initial(Instant::from_secs(90), a, b);
        assert_eq!(early.ts_offset, late.ts_offset);
        assert_eq!(early.ts_offset, g.ts_offset(a, b));
        assert_eq!(early.iss, g.isn(Instant::from_secs(1), a, b));
        assert_ne!(g.ts_offset(a, c), early.ts_offset);
        assert_ne!(IsnGenerator::new([8; 16]).ts_offset(a, b), early.ts_offset);
        // Not the ISS's own bits: a peer that sees the ISS learns nothing
        // of the offset from it.
        assert_ne!(early.ts_offset, early.iss.0);
    }
}
