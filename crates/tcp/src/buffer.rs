//! Bounded byte buffers between the application and the connection.
//!
//! * [`SendBuffer`]: bytes written by the application and not yet
//!   acknowledged. Offset 0 is the oldest unacknowledged byte (`snd_una`'s
//!   data). Segments borrow contiguous slices of it, so transmission is
//!   zero-copy.
//! * [`RecvBuffer`]: a ring holding bytes received in order but not yet read
//!   (the "readable" prefix) *and* out-of-order bytes written in place past
//!   it, so reassembly needs no second copy and memory stays bounded by the
//!   buffer capacity (which is also what we advertise as window).

use sockstack_wire::checksum;

/// Send-side buffer, bounded by a capacity that may grow (never shrinks
/// below what it holds): a ring whose memory grows with what is written,
/// doubling, up to the capacity, so an idle connection that sent a few
/// octets holds a few dozen.
#[derive(Debug, Clone)]
pub struct SendBuffer {
    storage: Vec<u8>,
    /// Ring index of the oldest unacknowledged byte.
    head: usize,
    /// Bytes held.
    len: usize,
    capacity: usize,
}

/// Smallest ring a write allocates.
const SEND_RING_MIN: usize = 64;

impl SendBuffer {
    /// An empty buffer that accepts up to `capacity` bytes.
    pub fn new(capacity: usize) -> SendBuffer {
        SendBuffer { storage: Vec::new(), head: 0, len: 0, capacity }
    }

    /// Bytes buffered: written by the application and not yet acknowledged.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when every written byte has been acknowledged.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bound, in bytes, on what the buffer holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Room left for [`SendBuffer::write`], in bytes.
    #[inline]
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.len)
    }

    /// Changes the bound; never set below the bytes currently held.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(self.len);
    }

    /// Appends as much of `bytes` as fits; returns how much did.
    #[inline]
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        if n == 0 {
            return 0;
        }
        if self.len + n > self.storage.len() {
            self.grow(self.len + n);
        }
        let start = ring_index(self.head + self.len, self.storage.len());
        ring_write(&mut self.storage, start, &bytes[..n]);
        self.len += n;
        n
    }

    /// Makes the ring at least `needed` bytes long, doubling to amortise,
    /// never past the capacity; what it holds moves to the front.
    #[inline(never)]
    fn grow(&mut self, needed: usize) {
        let size = ring_size(self.storage.len(), needed, SEND_RING_MIN, self.capacity);
        self.storage = regrow(&self.storage, self.head, self.len, size);
        self.head = 0;
    }

    /// Drops `n` acknowledged bytes from the front.
    #[inline]
    pub fn consume(&mut self, n: usize) {
        if n >= self.len {
            // All acknowledged: the next bytes go to the front again, which
            // stays in cache (walking on would not).
            self.head = 0;
            self.len = 0;
        } else {
            self.head = ring_index(self.head + n, self.storage.len());
            self.len -= n;
        }
    }

    /// How many bytes from `offset` lie contiguously in memory (up to the
    /// ring's wrap point, or the end of the data).
    #[inline]
    pub fn contiguous_len(&self, offset: usize) -> usize {
        if offset >= self.len {
            return 0;
        }
        let start = ring_index(self.head + offset, self.storage.len());
        (self.len - offset).min(self.storage.len() - start)
    }

    /// Makes `[offset, offset+len)` contiguous in memory so that
    /// [`SendBuffer::slice`] can borrow it whole: rotates the ring when the
    /// range straddles the wrap point.
    pub fn prepare(&mut self, offset: usize, len: usize) {
        let len = len.min(self.len.saturating_sub(offset));
        if self.contiguous_len(offset) < len {
            self.storage.rotate_left(self.head);
            self.head = 0;
        }
    }

    /// The bytes `[offset, offset+len)`, clamped to what is buffered and
    /// to the ring's wrap point (contiguous after [`SendBuffer::prepare`]).
    #[inline]
    pub fn slice(&self, offset: usize, len: usize) -> &[u8] {
        if offset >= self.len {
            return &[];
        }
        let start = ring_index(self.head + offset, self.storage.len());
        let n = len.min(self.len - offset).min(self.storage.len() - start);
        &self.storage[start..start + n]
    }
}

/// Receive-side ring buffer with in-place out-of-order storage.
///
/// Memory is allocated as data arrives, up to the capacity, and kept: an
/// idle connection holds no receive memory, so a stack can keep 100,000 of
/// them, while a busy one does not reallocate once it has grown.
#[derive(Debug, Clone)]
pub struct RecvBuffer {
    /// The ring; its length grows lazily up to `capacity`.
    storage: Vec<u8>,
    /// The bound: what the window may offer.
    capacity: usize,
    /// Index of the first readable byte.
    head: usize,
    /// Readable (in-order) bytes.
    len: usize,
    /// Out-of-order bytes may lie up to this far past the readable end.
    extent: usize,
}

/// `i` wrapped into a ring of `cap` octets, for an `i` under `2 · cap`
/// (an index in the ring plus at most the ring's length): a compare
/// instead of a division on every read and write.
#[inline]
fn ring_index(i: usize, cap: usize) -> usize {
    debug_assert!(i < 2 * cap || cap == 0, "ring index {i} beyond twice the ring ({cap})");
    if i >= cap {
        i - cap
    } else {
        i
    }
}

/// `dst.copy_from_slice(src)`, with the copy of a small message (32 to 64
/// octets, a request or a response) done in place as two overlapping
/// 32-octet moves, instead of a call to `memcpy`, which costs more than
/// the copy at that size (its share of a request/response round trip).
#[inline(always)]
fn copy(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if (32..=64).contains(&n) && dst.len() == n {
        dst[..32].copy_from_slice(&src[..32]);
        dst[n - 32..].copy_from_slice(&src[n - 32..]);
    } else {
        copy_any(dst, src);
    }
}

/// [`copy`] of any other length. Out of line: inlined, the compiler merges
/// it with the fixed-size move before it into one call to `memcpy` (of
/// either length), which is what `copy` avoids. (So does a second size
/// class, whose moves merge with the first's.)
#[inline(never)]
fn copy_any(dst: &mut [u8], src: &[u8]) {
    dst.copy_from_slice(src);
}

/// Copies `bytes` into the ring `storage` from index `start`, going on at
/// the front past its end.
#[inline]
fn ring_write(storage: &mut [u8], start: usize, bytes: &[u8]) {
    let first = bytes.len().min(storage.len() - start);
    copy(&mut storage[start..start + first], &bytes[..first]);
    if bytes.len() > first {
        copy(&mut storage[..bytes.len() - first], &bytes[first..]);
    }
}

/// Fills `out` from the ring `storage` from index `start`, going on at the
/// front past its end.
#[inline]
fn ring_read(storage: &[u8], start: usize, out: &mut [u8]) {
    let first = out.len().min(storage.len() - start);
    copy(&mut out[..first], &storage[start..start + first]);
    if out.len() > first {
        let n = out.len() - first;
        copy(&mut out[first..], &storage[..n]);
    }
}

/// The length a ring of `cap` octets grows to when it must hold `needed`:
/// doubled to amortise, at least `min`, within `capacity` unless `needed`
/// is more.
fn ring_size(cap: usize, needed: usize, min: usize, capacity: usize) -> usize {
    needed.max(cap * 2).max(min).min(capacity).max(needed)
}

/// A ring's storage grown to `size` octets, with the `keep` octets from
/// index `head` on (going on at the front past the end) moved to its front.
fn regrow(storage: &[u8], head: usize, keep: usize, size: usize) -> Vec<u8> {
    let mut grown = vec![0; size];
    if keep > 0 {
        ring_read(storage, head, &mut grown[..keep]);
    }
    grown
}

impl RecvBuffer {
    /// An empty ring bounded by `capacity` bytes; no memory is allocated until
    /// data arrives.
    pub fn new(capacity: usize) -> RecvBuffer {
        RecvBuffer { storage: Vec::new(), capacity, head: 0, len: 0, extent: 0 }
    }

    /// The bound, in bytes: readable plus out-of-order data never exceeds it.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes of memory the ring holds now.
    pub fn allocated(&self) -> usize {
        self.storage.len()
    }

    /// In-order bytes waiting for the application.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no in-order bytes are waiting to be read.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room after the readable bytes: the receive window we may offer.
    pub fn window(&self) -> usize {
        self.capacity - self.len
    }

    /// Makes the ring at least `needed` bytes long (readable bytes plus
    /// out-of-order space), doubling to amortise, never past capacity.
    #[inline]
    fn reserve(&mut self, needed: usize) {
        if needed > self.storage.len() {
            self.grow_storage(needed);
        }
    }

    /// [`RecvBuffer::reserve`]'s growth, once per doubling.
    #[inline(never)]
    fn grow_storage(&mut self, needed: usize) {
        let cap = self.storage.len();
        let keep = (self.len + self.extent).min(cap);
        self.storage = regrow(&self.storage, self.head, keep, ring_size(cap, needed, 4096, self.capacity));
        self.head = 0;
    }

    /// Writes `bytes` at `offset` past the readable end (0 = the next
    /// in-order byte) without making them readable. Bytes past the capacity
    /// are dropped; returns how many were stored.
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) -> usize {
        let (start, n) = self.claim(offset, bytes.len());
        ring_write(&mut self.storage, start, &bytes[..n]);
        n
    }

    /// Appends `bytes` at the readable end and makes them readable: what
    /// [`RecvBuffer::write_at`] at offset 0 and then
    /// [`RecvBuffer::commit`] do, in one step (the in-order segment of
    /// header prediction). Returns how many fit.
    #[inline] // every in-order segment: inlined into header prediction
    pub fn append(&mut self, bytes: &[u8]) -> usize {
        let (start, n) = self.claim(0, bytes.len());
        ring_write(&mut self.storage, start, &bytes[..n]);
        self.commit(n);
        n
    }

    /// Room for `len` bytes at `offset` past the readable end, recorded as
    /// written: (ring index of the first, how many fit).
    fn claim(&mut self, offset: usize, len: usize) -> (usize, usize) {
        if self.capacity == 0 || offset >= self.window() {
            return (0, 0);
        }
        let n = len.min(self.window() - offset);
        self.reserve(self.len + offset + n);
        self.extent = self.extent.max(offset + n);
        (ring_index(self.head + self.len + offset, self.storage.len()), n)
    }

    /// Copies `bytes` to where the next in-order bytes go, without
    /// recording them, and returns their RFC 1071 sum, computed in the same
    /// pass ([`checksum::copy`]). `None` (nothing copied) unless all fit
    /// in the window. Once the sum checks out, [`RecvBuffer::accept_placed`]
    /// records them; until then they are free space like any other.
    pub fn place(&mut self, bytes: &[u8]) -> Option<u16> {
        let n = bytes.len();
        if n == 0 || n > self.window() {
            return None;
        }
        self.reserve(self.len + n);
        let cap = self.storage.len();
        let start = ring_index(self.head + self.len, cap);
        let first = n.min(cap - start);
        let a = checksum::copy(&mut self.storage[start..start + first], &bytes[..first]);
        let b = checksum::copy(&mut self.storage[..n - first], &bytes[first..]);
        // RFC 1071 §2(B): a piece that starts at an odd offset of the
        // payload sums byte-swapped.
        let b = if first % 2 == 1 { b.swap_bytes() } else { b };
        Some(checksum::combine(&[a, b]))
    }

    /// Records `n` bytes that [`RecvBuffer::place`] put at the readable end
    /// as written there, as [`RecvBuffer::write_at`] at offset 0 would
    /// (without copying them again). Returns how many were recorded.
    pub fn accept_placed(&mut self, n: usize) -> usize {
        self.claim(0, n).1
    }

    /// Makes `n` more bytes (previously written with `write_at`) readable.
    pub fn commit(&mut self, n: usize) {
        let n = n.min(self.storage.len() - self.len);
        self.len += n;
        self.extent = self.extent.saturating_sub(n);
    }

    /// Copies readable bytes into `buf`, consuming them.
    #[inline] // every read: inlined into the stack's `tcp_recv`
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.len);
        if n == 0 {
            return 0;
        }
        ring_read(&self.storage, self.head, &mut buf[..n]);
        self.consume(n);
        n
    }

    /// Reads in place: `f` sees the readable bytes up to the ring's wrap
    /// point (the rest come on the next call) and returns how many it
    /// took, which are consumed. Returns that count (0 if nothing is
    /// readable; `f` is then not called).
    pub fn read_with(&mut self, f: impl FnOnce(&[u8]) -> usize) -> usize {
        if self.len == 0 {
            return 0;
        }
        let first = self.len.min(self.storage.len() - self.head);
        let n = f(&self.storage[self.head..self.head + first]).min(first);
        self.consume(n);
        n
    }

    fn consume(&mut self, n: usize) {
        self.head = ring_index(self.head + n, self.storage.len());
        self.len -= n;
        if self.len == 0 && self.extent == 0 {
            // Empty: the next bytes go to the front again, where the ring
            // was written last, still in cache, instead of walking on
            // through all of a large ring's cold memory.
            self.head = 0;
        }
    }

    /// Raises the capacity (auto-tuning). Readable and out-of-order bytes
    /// stay where they are; the ring grows when data needs the room.
    pub fn grow(&mut self, capacity: usize, _keep: usize) {
        self.capacity = self.capacity.max(capacity);
    }

    /// Discards everything (RST received).
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.extent = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The in-place copy of small messages writes exactly what
    /// `copy_from_slice` writes, at every length either side of its cases.
    #[test]
    fn small_copies_match_copy_from_slice() {
        let src: Vec<u8> = (0..80u8).map(|i| i.wrapping_mul(37).wrapping_add(1)).collect();
        for n in 0..=80 {
            let mut got = vec![0xee; n];
            copy(&mut got, &src[..n]);
            assert_eq!(got, &src[..n], "length {n}");
        }
    }

    #[test]
    fn send_buffer_bounded_and_contiguous() {
        let mut b = SendBuffer::new(8);
        assert_eq!(b.write(b"abcdef"), 6);
        assert_eq!(b.write(b"ghij"), 2);
        assert_eq!(b.free(), 0);
        b.consume(5);
        assert_eq!(b.write(b"klmno"), 5);
        // "fgh" + "klmno" likely wraps; prepare makes any range contiguous.
        b.prepare(0, 8);
        assert_eq!(b.slice(0, 8), b"fghklmno");
        assert_eq!(b.slice(6, 10), b"no");
        assert_eq!(b.slice(9, 1), b"");
        b.set_capacity(2);
        assert_eq!(b.capacity(), 8, "never below what it holds");
    }

    #[test]
    fn send_buffer_matches_a_plain_queue() {
        // Random writes and acknowledgments against a VecDeque model: the
        // ring grows while wrapped, wraps, and starts over when emptied;
        // every slice and contiguous length must agree with the model.
        let mut b = SendBuffer::new(1000);
        let mut model = std::collections::VecDeque::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % m as u64) as usize
        };
        let mut byte = 0u8;
        for round in 0..5_000 {
            if round == 2_500 {
                b.set_capacity(3000);
            }
            let len = next(300);
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    byte = byte.wrapping_add(1);
                    byte
                })
                .collect();
            let n = b.write(&data);
            assert_eq!(n, len.min(b.capacity() - model.len()));
            model.extend(&data[..n]);
            byte = byte.wrapping_sub((len - n) as u8);
            let acked = next(model.len() + 1);
            b.consume(acked);
            model.drain(..acked);
            assert_eq!(b.len(), model.len());
            let (front, back) = model.as_slices();
            let all: Vec<u8> = front.iter().chain(back).copied().collect();
            let offset = next(all.len() + 2);
            let want = next(400);
            let got = b.slice(offset, want);
            assert_eq!(got.len(), b.contiguous_len(offset).min(want));
            let end = (offset + got.len()).min(all.len());
            assert_eq!(got, &all[offset.min(all.len())..end]);
            if offset < all.len() {
                assert!(!got.is_empty() || want == 0, "a slice inside the data is never empty");
            }
        }
    }

    #[test]
    fn recv_buffer_out_of_order_in_place() {
        let mut r = RecvBuffer::new(8);
        assert_eq!(r.write_at(3, b"def"), 3);
        assert_eq!(r.write_at(0, b"abc"), 3);
        r.commit(6);
        assert_eq!(r.window(), 2);
        let mut out = [0; 4];
        assert_eq!(r.read(&mut out), 4);
        assert_eq!(&out, b"abcd");
        // wraps around the end of storage
        assert_eq!(r.write_at(0, b"ghijklmn"), 6);
        r.commit(6);
        let mut out = [0; 16];
        assert_eq!(r.read(&mut out), 8);
        assert_eq!(&out[..8], b"efghijkl");
        assert_eq!(r.write_at(9, b"x"), 0, "past capacity");
    }

    #[test]
    fn recv_buffer_grows_keeping_data() {
        let mut r = RecvBuffer::new(6);
        r.write_at(0, b"ab");
        r.commit(2);
        let mut out = [0; 1];
        r.read(&mut out);
        r.write_at(0, b"cd");
        r.commit(2);
        r.write_at(1, b"z");
        r.grow(16, 2);
        assert_eq!(r.capacity(), 16);
        // The ring itself grows only when data needs the room.
        assert_eq!(r.write_at(5, b"0123456789"), 8);
        assert_eq!(r.allocated(), 16);
        r.commit(2);
        let mut out = [0; 8];
        assert_eq!(r.read(&mut out), 5);
        assert_eq!(&out[..5], b"bcd\0z");
    }

    #[test]
    fn recv_buffer_allocates_only_when_data_arrives() {
        let mut r = RecvBuffer::new(1 << 20);
        assert_eq!((r.allocated(), r.window()), (0, 1 << 20));
        // Out of order first, far out: the ring grows to hold it, and
        // keeps it across a later growth.
        assert_eq!(r.write_at(10_000, b"later"), 5);
        let a = r.allocated();
        assert!((10_005..=32_768).contains(&a), "{a}");
        let early = vec![7u8; 10_000];
        assert_eq!(r.write_at(0, &early), 10_000);
        r.commit(10_005);
        let mut out = vec![0u8; 20_000];
        assert_eq!(r.read(&mut out), 10_005);
        assert_eq!(&out[10_000..10_005], b"later");
        assert!(out[..10_000].iter().all(|&b| b == 7));
    }

    #[test]
    fn recv_buffer_places_and_sums_across_the_wrap() {
        // A ring of 8 KiB with its readable end at index 4001 (odd): a
        // 5000-byte payload wraps after an odd first piece (4191 bytes),
        // whose successor's sum must be swapped.
        let mut r = RecvBuffer::new(8192);
        let mut sink = vec![0u8; 8192];
        assert_eq!(r.write_at(0, &[1u8; 8192]), 8192);
        r.commit(8192);
        assert_eq!(r.read(&mut sink), 8192);
        assert_eq!(r.write_at(0, &[2u8; 4001]), 4001);
        r.commit(4001);
        assert_eq!(r.read(&mut sink[..4000]), 4000);
        assert_eq!((r.head, r.len()), (4000, 1));
        let payload: Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let sum = r.place(&payload).expect("fits the window");
        assert_eq!(sum, checksum::data(&payload), "the same sum as a separate pass");
        assert_eq!(r.len(), 1, "placed bytes are not readable yet");
        assert_eq!(r.accept_placed(payload.len()), 5000);
        r.commit(5000);
        let mut got = vec![0u8; 5001];
        assert_eq!(r.read(&mut got), 5001);
        assert_eq!(got[0], 2);
        assert_eq!(&got[1..], &payload[..]);
        // Too long for the window: nothing placed.
        assert_eq!(r.place(&vec![0u8; 8193]), None);
    }

    #[test]
    fn recv_buffer_appends_across_the_wrap_up_to_the_window() {
        let mut r = RecvBuffer::new(8192);
        let mut sink = vec![0u8; 8192];
        assert_eq!(r.append(&[1u8; 6000]), 6000);
        assert_eq!(r.read(&mut sink[..5999]), 5999);
        // Readable end at index 6000 of 8192: 3000 bytes wrap after 2192.
        let payload: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
        assert_eq!(r.append(&payload), 3000);
        assert_eq!(r.len(), 3001, "appended bytes are readable at once");
        // Only the window's worth of a longer one fits.
        assert_eq!(r.append(&vec![9u8; 8192]), 8192 - 3001);
        let mut got = vec![0u8; 8192];
        assert_eq!(r.read(&mut got), 8192);
        assert_eq!(got[0], 1);
        assert_eq!(&got[1..3001], &payload[..]);
        assert!(got[3001..].iter().all(|&b| b == 9));
    }

    #[test]
    fn recv_buffer_reads_in_place_and_starts_over_when_empty() {
        let mut r = RecvBuffer::new(4096);
        assert_eq!(r.read_with(|_| unreachable!("nothing to read")), 0);
        r.write_at(0, b"hello world");
        r.commit(11);
        assert_eq!(
            r.read_with(|d| {
                assert_eq!(d, b"hello world");
                5
            }),
            5
        );
        let mut rest = [0u8; 6];
        assert_eq!(r.read(&mut rest), 6);
        assert_eq!(&rest, b" world");
        // Empty: the next bytes go to the front of the ring again.
        assert_eq!(r.head, 0);
        r.write_at(0, b"again");
        r.commit(5);
        assert_eq!(r.read_with(|d| d.len()), 5);
    }
}
