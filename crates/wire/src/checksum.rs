//! The Internet checksum: RFC 1071 (computation), RFC 1624 (incremental
//! update), and the IPv4 pseudo-header of RFC 768 / RFC 9293 §3.1.
//!
//! Every function here returns a *sum* (the folded 16-bit ones'-complement
//! sum, not inverted) except [`update`]/[`update32`], which work on the stored,
//! inverted checksum field. A header's checksum field is `!sum`; a received
//! header verifies when the sum over it, checksum field included, is `0xffff`.
//!
//! This is the per-byte hot path of the stack, so [`data`] sums eight octets
//! at a time into 64-bit accumulators (end-around carry kept per add). RFC 1071 §2(B) is what makes that legal: the ones'-complement sum is
//! independent of byte order and of word width, so we may add native-endian
//! 64-bit words with end-around carry, fold down to 16 bits, and swap bytes
//! once at the end. [`data_reference`] is the obviously-right byte-pair
//! version the property tests hold it to.
//!
//! On x86-64 CPUs with AVX2, [`data`] and [`copy`] run the vector version
//! in [`avx2`] (32 octets a step); [`data_portable`] and [`copy_portable`]
//! are the word-at-a-time code every other machine runs, kept public so the
//! tests hold both to the reference.

use crate::Ipv4Addr;

#[cfg(target_arch = "x86_64")]
mod avx2;

/// Whether to compute/verify a checksum or leave it alone (e.g. when the
/// device offloads it, or for a parser that must read a partial datagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChecksumMode {
    /// `parse` rejects a wrong checksum with `Error::BadChecksum`; `emit`
    /// computes and writes it.
    #[default]
    Verify,
    /// `parse` does not look at the checksum; `emit` writes zero.
    Ignore,
}

impl ChecksumMode {
    /// True for `Verify`: `parse` checks the checksum and `emit` computes it.
    pub const fn verify(self) -> bool {
        matches!(self, ChecksumMode::Verify)
    }
}

/// Folds a 64-bit ones'-complement accumulator to 16 bits (end-around carry
/// at each step, RFC 1071 §2(C)). A sum of 16- and 32-bit field values
/// folds to the sum of their 16-bit words.
#[inline]
pub const fn fold(mut sum: u64) -> u16 {
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// Ones'-complement 64-bit add: a carry out of bit 63 is added back in.
#[inline(always)]
fn add64(acc: u64, word: u64) -> u64 {
    let (sum, carry) = acc.overflowing_add(word);
    sum + carry as u64
}

/// RFC 1071 sum of `data` as big-endian 16-bit words; an odd trailing byte
/// is padded with a zero byte. Folded, not inverted.
#[inline]
pub fn data(data: &[u8]) -> u16 {
    if data.len() < SHORT {
        // Headers (IPv4, TCP), a small segment: no block to sum, and no
        // lanes to fold.
        let (sum, rest) = short(data);
        return finish(sum, rest);
    }
    data_long(data)
}

/// [`data`] of `SHORT` octets or more: the vector code where the CPU has
/// it, else the portable loop. Out of line, so the short case inlines.
#[inline(never)]
fn data_long(data: &[u8]) -> u16 {
    #[cfg(target_arch = "x86_64")]
    if let Some(sum) = avx2::sum(None, data) {
        return sum;
    }
    data_portable(data)
}

/// Shorter than this, [`data`] and [`copy`] take a plain loop: the
/// portable code's eight lanes and the vector code (one step of which is
/// this long) cost more to set up and fold than they save.
const SHORT: usize = 128;

/// The sum of `bytes`, 16 octets a step into two accumulators (so the
/// carries of the two do not wait on each other), unfolded, and what is
/// left under 16 octets, for [`finish`].
#[inline]
fn short(bytes: &[u8]) -> (u64, &[u8]) {
    let (mut even, mut odd) = (0u64, 0u64);
    let mut pairs = bytes.chunks_exact(16);
    for pair in &mut pairs {
        let (a, b) = pair.split_at(8);
        even = add64(even, u64::from_ne_bytes(a.try_into().unwrap_or([0; 8])));
        odd = add64(odd, u64::from_ne_bytes(b.try_into().unwrap_or([0; 8])));
    }
    (add64(even, odd), pairs.remainder())
}

/// [`data`] without vector instructions: what machines without AVX2 run.
pub fn data_portable(data: &[u8]) -> u16 {
    // Eight independent accumulators, one per word of a 64-octet block, so
    // consecutive adds do not wait on each other's carry (instruction-level
    // parallelism). Eight measured ~25% faster than four on 1500 octets.
    let mut acc = [0u64; 8];
    let mut blocks = data.chunks_exact(64);
    for block in &mut blocks {
        for (lane, word) in acc.iter_mut().zip(block.chunks_exact(8)) {
            // `chunks_exact(8)` guarantees the conversion; the fallback is
            // unreachable and keeps this free of `unwrap`.
            let word = u64::from_ne_bytes(word.try_into().unwrap_or([0; 8]));
            *lane = add64(*lane, word);
        }
    }
    let sum = acc.iter().fold(0, |s, &a| add64(s, a));
    finish(sum, blocks.remainder())
}

/// [`data`] of a fixed-size header whose length is a multiple of four
/// (an IPv4 header, a TCP header with its usual options): unrolled 32-bit
/// adds into a 64-bit accumulator, which cannot overflow, and one fold.
#[inline]
pub fn words<const N: usize>(bytes: &[u8; N]) -> u16 {
    const { assert!(N % 4 == 0, "whole 32-bit words only") };
    let mut sum = 0u64;
    let mut i = 0;
    while i < N {
        sum += u64::from(u32::from_ne_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]));
        i += 4;
    }
    u16::from_be_bytes(fold(sum).to_ne_bytes())
}

/// [`data`] of a protocol header: unrolled ([`words`]) for the usual
/// lengths, 20 octets (IPv4, or TCP without options) and 32 (TCP with
/// NOP NOP Timestamps).
#[inline]
pub fn header(bytes: &[u8]) -> u16 {
    if let Ok(h) = <&[u8; 20]>::try_from(bytes) {
        words(h)
    } else if let Ok(h) = <&[u8; 32]>::try_from(bytes) {
        words(h)
    } else {
        data(bytes)
    }
}

/// Adds `rest` (what follows the blocks, under 64 octets) to the blocks'
/// 64-bit `sum`, and folds.
#[inline]
fn finish(mut sum: u64, rest: &[u8]) -> u16 {
    let mut words = rest.chunks_exact(8);
    for word in &mut words {
        sum = add64(sum, u64::from_ne_bytes(word.try_into().unwrap_or([0; 8])));
    }
    // At most 7 bytes remain: a 32-bit word, a 16-bit word, a last byte.
    // Each is added where it sits within its 16-bit words (the folded sum
    // does not care which 16-bit lane of the accumulator it lands in), and
    // an odd last byte is the first (high) half of a zero-padded word, as
    // RFC 1071 requires.
    let mut rest = words.remainder();
    if let Some((w, r)) = rest.split_first_chunk::<4>() {
        sum = add64(sum, u64::from(u32::from_ne_bytes(*w)));
        rest = r;
    }
    if let Some((w, r)) = rest.split_first_chunk::<2>() {
        sum = add64(sum, u64::from(u16::from_ne_bytes(*w)));
        rest = r;
    }
    if let Some(&last) = rest.first() {
        sum = add64(sum, u64::from(u16::from_ne_bytes([last, 0])));
    }

    // We summed native-endian words. Writing the folded sum back in native
    // order gives the bytes of the big-endian sum (RFC 1071 §2(B)).
    u16::from_be_bytes(fold(sum).to_ne_bytes())
}

/// Copies `src` into `dst` (which must be as long) and returns the RFC 1071
/// sum of the bytes, in one pass: each word is added as it goes by, so a
/// segment's payload is read once to build it and sum it (Linux
/// `csum_partial_copy_nocheck`). The same sum as [`data`] of `src`.
///
/// # Panics
/// If `dst` and `src` differ in length (a caller bug).
#[inline]
pub fn copy(dst: &mut [u8], src: &[u8]) -> u16 {
    assert_eq!(dst.len(), src.len(), "checksum::copy needs equal lengths");
    if src.len() < SHORT {
        return copy_short(dst, src);
    }
    copy_long(dst, src)
}

/// [`copy`] of a small segment's payload: 16 octets a step, as `short`
/// sums them, each word stored as it is added. One pass: a copy first and
/// a sum of what it wrote would read back words a vector copy has just
/// stored, which stalls on store forwarding. Out of line, where the
/// compiler keeps the loop as written instead of turning its stores into
/// a `memcpy` call.
#[inline(never)]
fn copy_short(dst: &mut [u8], src: &[u8]) -> u16 {
    let (mut even, mut odd) = (0u64, 0u64);
    let mut to = dst.chunks_exact_mut(16);
    let mut from = src.chunks_exact(16);
    for (d, s) in (&mut to).zip(&mut from) {
        let a: [u8; 8] = s[..8].try_into().unwrap_or([0; 8]);
        let b: [u8; 8] = s[8..].try_into().unwrap_or([0; 8]);
        d[..8].copy_from_slice(&a);
        d[8..].copy_from_slice(&b);
        even = add64(even, u64::from_ne_bytes(a));
        odd = add64(odd, u64::from_ne_bytes(b));
    }
    let rest = from.remainder();
    if !rest.is_empty() {
        to.into_remainder().copy_from_slice(rest);
    }
    finish(add64(even, odd), rest)
}

/// [`copy`] of `SHORT` octets or more (see [`data_long`]).
#[inline(never)]
fn copy_long(dst: &mut [u8], src: &[u8]) -> u16 {
    #[cfg(target_arch = "x86_64")]
    if let Some(sum) = avx2::sum(Some(&mut *dst), src) {
        return sum;
    }
    copy_portable(dst, src)
}

/// [`copy`] without vector instructions: what machines without AVX2 run.
///
/// # Panics
/// If `dst` and `src` differ in length (a caller bug).
pub fn copy_portable(dst: &mut [u8], src: &[u8]) -> u16 {
    assert_eq!(dst.len(), src.len(), "checksum::copy needs equal lengths");
    // As in `data`: eight accumulators, one per word of a 64-octet block.
    let mut acc = [0u64; 8];
    let mut to = dst.chunks_exact_mut(64);
    let mut from = src.chunks_exact(64);
    for (d, s) in (&mut to).zip(&mut from) {
        for ((lane, dw), sw) in acc.iter_mut().zip(d.chunks_exact_mut(8)).zip(s.chunks_exact(8)) {
            let bytes: [u8; 8] = sw.try_into().unwrap_or([0; 8]);
            dw.copy_from_slice(&bytes);
            *lane = add64(*lane, u64::from_ne_bytes(bytes));
        }
    }
    let rest = from.remainder();
    to.into_remainder().copy_from_slice(rest);
    finish(acc.iter().fold(0, |s, &a| add64(s, a)), rest)
}

/// Byte-pair reference implementation of [`data`]: slow, obviously right.
/// Kept public so tests (ours and other crates') can check against it.
pub fn data_reference(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    for pair in data.chunks(2) {
        let hi = pair[0] as u64;
        let lo = pair.get(1).copied().unwrap_or(0) as u64;
        sum += (hi << 8) | lo;
    }
    fold(sum)
}

/// Ones'-complement sum of partial sums (RFC 1071 §2(C): sums of disjoint
/// even-length pieces combine by ones'-complement addition).
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| s as u64).sum())
}

/// Sum of the IPv4 pseudo-header that TCP (RFC 9293 §3.1) and UDP (RFC 768)
/// prefix to their checksum: source, destination, zero, protocol, length.
#[inline]
pub fn pseudo_header(src: &Ipv4Addr, dst: &Ipv4Addr, protocol: u8, length: u32) -> u16 {
    let s = u32::from(*src) as u64;
    let d = u32::from(*dst) as u64;
    fold(
        (s >> 16)
            + (s & 0xffff)
            + (d >> 16)
            + (d & 0xffff)
            + protocol as u64
            + (length >> 16) as u64
            + (length & 0xffff) as u64,
    )
}

/// RFC 1624 eqn. 3 incremental update of a stored (inverted) checksum field
/// when one 16-bit word of the covered data changes from `old_word` to
/// `new_word`: `HC' = ~(~HC + ~m + m')`.
///
/// Eqn. 3 rather than the eqn. 2 of RFC 1141 because it never yields `0xffff`
/// (-0) from a non-zero sum, the bug RFC 1624 §3 describes.
pub fn update(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    !combine(&[!old_checksum, !old_word, new_word])
}

/// [`update`] for a 32-bit field (an address, a sequence number): the two
/// 16-bit halves change together.
pub fn update32(old_checksum: u16, old: u32, new: u32) -> u16 {
    !combine(&[!old_checksum, !(old >> 16) as u16, !(old as u16), (new >> 16) as u16, new as u16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: words 0001 f203 f4f5 f6f7 sum to ddf2 (after the
        // end-around carry of 2).
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(data(&bytes), 0xddf2);
        assert_eq!(data_reference(&bytes), 0xddf2);
        // The same words split into partial sums combine to the same total.
        assert_eq!(combine(&[data(&bytes[..4]), data(&bytes[4..])]), 0xddf2);
    }

    #[test]
    fn odd_trailing_byte_is_high_half() {
        assert_eq!(data(&[0xab]), 0xab00);
        assert_eq!(data(&[0x01, 0x02, 0x03]), 0x0402);
        // 9 bytes: one full 8-byte word plus a padded tail.
        let nine = [0, 0, 0, 0, 0, 0, 0, 0, 0x12];
        assert_eq!(data(&nine), 0x1200);
        assert_eq!(data(&[]), 0);
    }

    #[test]
    fn carries_fold_correctly() {
        // 64 KiB of 0xff sums to 0xffff (negative zero), never 0.
        let buf = vec![0xffu8; 65536];
        assert_eq!(data(&buf), 0xffff);
        let buf = vec![0xffu8; 65535];
        assert_eq!(data(&buf), data_reference(&buf));
        assert_eq!(data(&buf), 0xffff - 0xff); // last word is ff00
    }

    #[test]
    fn long_buffers_lose_no_carry() {
        // All-ones words fill the vector lanes fastest. 2 MiB and a bit
        // crosses the vector loop's widening round (512 KiB) four times
        // and ends in a tail shorter than its step; without the rounds,
        // lanes would overflow past 1 MiB.
        for len in [(2 << 20) + 77, (1 << 19) + 128, 1 << 19] {
            let ones = vec![0xffu8; len];
            let mut out = vec![0u8; len];
            assert_eq!(data(&ones), data_reference(&ones), "{len} octets of ff");
            assert_eq!(copy(&mut out, &ones), data_reference(&ones), "{len} octets of ff, copied");
            assert_eq!(out, ones);
            let mixed: Vec<u8> = (0..len).map(|i| (i * 131 + (i >> 9)) as u8).collect();
            assert_eq!(data(&mixed), data_reference(&mixed));
            assert_eq!(data_portable(&mixed), data_reference(&mixed));
            assert_eq!(copy(&mut out, &mixed), data_reference(&mixed));
            assert_eq!(out, mixed);
        }
    }

    #[test]
    fn known_ipv4_header() {
        // A classic example header (checksum field zeroed): 4500 0073 0000
        // 4000 4011 0000 c0a8 0001 c0a8 00c7 -> checksum b861.
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        assert_eq!(!data(&hdr), 0xb861);
    }

    #[test]
    fn pseudo_header_matches_byte_layout() {
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(192, 168, 200, 254);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&[0, 6, 0x05, 0xdc]);
        assert_eq!(pseudo_header(&src, &dst, 6, 1500), data_reference(&bytes));
        // Lengths above 16 bits (never on the wire for IPv4, but the type
        // allows it) still fold in.
        assert_eq!(pseudo_header(&src, &dst, 6, 0x1_0000 + 1500), combine(&[data_reference(&bytes), 1]));
    }

    #[test]
    fn incremental_ttl_decrement() {
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        let old_word = u16::from_be_bytes([hdr[8], hdr[9]]);
        hdr[8] -= 1;
        let new_word = u16::from_be_bytes([hdr[8], hdr[9]]);
        let updated = update(0xb861, old_word, new_word);
        hdr[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(updated, !data(&hdr));
        assert_eq!(updated, 0xb961);
    }

    #[test]
    fn mode_default_is_verify() {
        assert!(ChecksumMode::default().verify());
        assert!(!ChecksumMode::Ignore.verify());
    }
}
