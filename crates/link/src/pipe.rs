//! One direction of a link: owns the frames in flight, the transmitter's
//! busy time and queue, the seeded random number generator that decides
//! impairments, and the counters that account for every frame offered.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sockstack_time::{Duration, Instant};

use crate::{ConfigError, Frame, LinkConfig};

/// Counters for one pipe. Every frame handed to [`Pipe::send`] ends up in
/// exactly one place, so once the pipe is drained
/// `sent + duplicated == delivered + lost + oversize + queue_full`
/// (while frames are in flight, add [`Pipe::in_flight`] to the right side).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipeStats {
    /// Frames offered to `send`, including ones then dropped.
    pub sent: u64,
    /// Frames handed out by `recv` (duplicates included).
    pub delivered: u64,
    /// Bytes in the delivered frames.
    pub bytes_delivered: u64,
    /// Frames lost on the wire.
    pub lost: u64,
    /// Extra copies created.
    pub duplicated: u64,
    /// Copies held back so later frames could overtake them.
    pub reordered: u64,
    /// Copies with one bit flipped.
    pub corrupted: u64,
    /// Frames larger than the MTU, dropped.
    pub oversize: u64,
    /// Frames tail-dropped because the transmit queue was full.
    pub queue_full: u64,
}

/// What [`Pipe::send`] did with a frame. Corruption and reordering are not
/// reported here (the receiver must discover them); see [`PipeStats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// The frame is in flight and will be delivered at `deliver_at`; if it
    /// was duplicated, the copy arrives at `duplicate_at`.
    InFlight {
        /// When the frame arrives.
        deliver_at: Instant,
        /// When its duplicate arrives, if it was duplicated.
        duplicate_at: Option<Instant>,
    },
    /// Serialised, then lost on the wire.
    Lost,
    /// Larger than the MTU; never transmitted.
    Oversize,
    /// The transmit queue was full; never transmitted.
    QueueFull,
}

/// A frame in flight, ordered so the `BinaryHeap` (a max-heap) pops the
/// earliest delivery first, and among equal times the earliest sent.
#[derive(Debug)]
struct InFlight {
    deliver_at: Instant,
    seq: u64,
    frame: Frame,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for InFlight {}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: smallest (deliver_at, seq) is the heap's maximum.
        (other.deliver_at, other.seq).cmp(&(self.deliver_at, self.seq))
    }
}

/// One direction of a link, with seeded impairments.
///
/// Frames are impaired when sent and become receivable once their delivery
/// time has come; nothing happens between calls, so a driver asks
/// [`poll_at`](Pipe::poll_at) when to come back.
///
/// ```
/// use std::net::Ipv4Addr;
/// use sockstack_link::{Frame, LinkConfig, Pipe};
/// use sockstack_time::{Duration, Instant};
///
/// let config = LinkConfig::default().with_latency(Duration::from_millis(5));
/// let mut pipe = Pipe::new(config).unwrap();
/// let t0 = Instant::ZERO;
/// pipe.send(t0, Frame::new(Ipv4Addr::new(10, 0, 0, 2), vec![0x45; 20]));
///
/// assert_eq!(pipe.poll_at(), Some(t0 + Duration::from_millis(5)));
/// assert!(pipe.recv(t0 + Duration::from_millis(4)).is_none());
/// let frame = pipe.recv(t0 + Duration::from_millis(5)).unwrap();
/// assert_eq!(frame.data.len(), 20);
/// assert!(pipe.is_empty());
/// assert_eq!(pipe.stats().delivered, 1);
/// ```
#[derive(Debug)]
pub struct Pipe {
    config: LinkConfig,
    rng: ChaCha8Rng,
    in_flight: BinaryHeap<InFlight>,
    /// Next sequence number: breaks delivery-time ties in send order.
    next_seq: u64,
    /// Whole microseconds at which the transmitter finishes its last frame…
    tx_free_at: Instant,
    /// …plus this many 1/rate-microsecond units, so that many small frames
    /// at a high rate do not accumulate rounding error.
    tx_carry: u128,
    /// Departure times of frames still waiting for or in serialisation.
    tx_queue: VecDeque<Instant>,
    /// Delivery time of the last frame not deliberately reordered; jitter
    /// is clamped to this so it cannot reorder on its own.
    last_in_order: Instant,
    stats: PipeStats,
}

impl Pipe {
    /// Builds a pipe, rejecting an invalid configuration.
    pub fn new(config: LinkConfig) -> Result<Pipe, ConfigError> {
        config.validate()?;
        Ok(Pipe::from_validated(config))
    }

    /// Builds a pipe from a configuration the caller has already validated.
    pub(crate) fn from_validated(config: LinkConfig) -> Pipe {
        Pipe {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            in_flight: BinaryHeap::new(),
            next_seq: 0,
            tx_free_at: Instant::ZERO,
            tx_carry: 0,
            tx_queue: VecDeque::new(),
            last_in_order: Instant::ZERO,
            stats: PipeStats::default(),
        }
    }

    /// The configuration this pipe runs with.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Offers a frame to the pipe at `now`. Never fails: every way a frame
    /// can go missing is counted in [`stats`](Pipe::stats).
    pub fn send(&mut self, now: Instant, frame: Frame) -> SendOutcome {
        self.stats.sent += 1;
        if frame.data.len() > self.config.mtu {
            self.stats.oversize += 1;
            return SendOutcome::Oversize;
        }
        let Some(departure) = self.transmit(now, frame.data.len()) else {
            self.stats.queue_full += 1;
            return SendOutcome::QueueFull;
        };
        // Lost frames still used the transmitter: loss happens on the wire.
        if self.chance(self.config.loss) {
            self.stats.lost += 1;
            return SendOutcome::Lost;
        }
        let base = departure + self.config.latency;
        let duplicate = if self.chance(self.config.duplicate) {
            self.stats.duplicated += 1;
            Some(frame.clone())
        } else {
            None
        };
        let deliver_at = self.launch(base, frame);
        let duplicate_at = duplicate.map(|copy| self.launch(base, copy));
        SendOutcome::InFlight { deliver_at, duplicate_at }
    }

    /// Takes the next frame whose delivery time is at or before `now`, in
    /// delivery-time order (ties in send order).
    pub fn recv(&mut self, now: Instant) -> Option<Frame> {
        if self.in_flight.peek()?.deliver_at > now {
            return None;
        }
        let frame = self.in_flight.pop()?.frame;
        self.stats.delivered += 1;
        self.stats.bytes_delivered += frame.data.len() as u64;
        Some(frame)
    }

    /// The earliest pending delivery time, exactly: `recv` at this instant
    /// returns a frame, and at any earlier instant returns none.
    pub fn poll_at(&self) -> Option<Instant> {
        self.in_flight.peek().map(|f| f.deliver_at)
    }

    /// True when no frame is in flight.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Frames sent but not yet received (including ones not yet due).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Counters of what the pipe did to the frames it carried.
    pub fn stats(&self) -> &PipeStats {
        &self.stats
    }

    /// Puts a frame of `len` bytes on the transmitter; returns when its last
    /// bit leaves, or `None` if the queue is full.
    fn transmit(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let Some(rate) = self.config.bandwidth_bps else {
            return Some(now);
        };
        while self.tx_queue.front().is_some_and(|&d| d <= now) {
            self.tx_queue.pop_front();
        }
        if self.tx_queue.len() >= self.config.queue_limit {
            return None;
        }
        let rate = u128::from(rate);
        let busy_until = ceil_instant(self.tx_free_at, self.tx_carry);
        if now >= busy_until {
            // Idle transmitter: start afresh, forgetting sub-microsecond debt.
            self.tx_free_at = now;
            self.tx_carry = 0;
        }
        // Serialisation time in 1/rate-microsecond units: bits × 10⁶.
        let units = (len as u128) * 8 * 1_000_000 + self.tx_carry;
        let whole = u64::try_from(units / rate).unwrap_or(u64::MAX);
        self.tx_carry = units % rate;
        self.tx_free_at += Duration::from_micros(whole);
        let departure = ceil_instant(self.tx_free_at, self.tx_carry);
        if departure > now {
            self.tx_queue.push_back(departure);
        }
        Some(departure)
    }

    /// Applies per-copy impairments (corruption, jitter, reordering) and
    /// puts the copy in flight; returns its delivery time.
    fn launch(&mut self, base: Instant, mut frame: Frame) -> Instant {
        if !frame.data.is_empty() && self.chance(self.config.corrupt) {
            let len = frame.data.len() as u64;
            // `len` is at least 1 and the index is below it.
            let byte = (self.rng.next_u64() % len) as usize;
            let bit = self.rng.next_u32() % 8;
            if let Some(b) = frame.data.get_mut(byte) {
                *b ^= 1 << bit;
            }
            self.stats.corrupted += 1;
        }
        let jitter = self.config.jitter;
        let mut deliver_at = base;
        if !jitter.is_zero() {
            let max = u64::try_from(jitter.as_micros()).unwrap_or(u64::MAX);
            let extra = (self.unit() * max as f64) as u64;
            deliver_at += Duration::from_micros(extra.min(max));
        }
        if self.chance(self.config.reorder) {
            // Held back and not clamped, and it does not move the in-order
            // watermark, so frames sent after it may overtake it.
            self.stats.reordered += 1;
            deliver_at += self.config.effective_reorder_delay();
        } else {
            deliver_at = deliver_at.max(self.last_in_order);
            self.last_in_order = deliver_at;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight.push(InFlight { deliver_at, seq, frame });
        deliver_at
    }

    /// A uniform float in `[0, 1)` from the top 53 bits of the generator.
    fn unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`. Draws nothing when the answer is certain,
    /// so a perfect link consumes no randomness.
    fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.unit() < p
        }
    }
}

/// `whole` plus one microsecond if there is a fractional part.
fn ceil_instant(whole: Instant, carry: u128) -> Instant {
    if carry > 0 {
        whole + Duration::from_micros(1)
    } else {
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const HOP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn frame(i: u32, len: usize) -> Frame {
        let mut data = vec![0u8; len];
        for (k, b) in data.iter_mut().enumerate() {
            *b = (k as u32).wrapping_add(i.wrapping_mul(31)) as u8;
        }
        if len >= 4 {
            data[..4].copy_from_slice(&i.to_be_bytes());
        }
        Frame::new(HOP, data)
    }

    fn id(f: &Frame) -> u32 {
        u32::from_be_bytes([f.data[0], f.data[1], f.data[2], f.data[3]])
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Receives everything, stepping time through `poll_at`; returns
    /// (receive time, frame) pairs.
    fn drain(pipe: &mut Pipe) -> Vec<(Instant, Frame)> {
        let mut out = Vec::new();
        while let Some(t) = pipe.poll_at() {
            while let Some(f) = pipe.recv(t) {
                out.push((t, f));
            }
        }
        out
    }

    fn assert_accounting(s: &PipeStats, in_flight: usize) {
        assert_eq!(s.sent + s.duplicated, s.delivered + s.lost + s.oversize + s.queue_full + in_flight as u64, "{s:?}");
    }

    #[test]
    fn perfect_link_delivers_unchanged_in_order_at_latency() {
        let mut pipe = Pipe::new(LinkConfig::new().with_latency(ms(7))).unwrap();
        let mut sent = Vec::new();
        for i in 0..100u32 {
            let now = Instant::from_micros(u64::from(i) * 300);
            let f = frame(i, 20 + i as usize);
            sent.push((now + ms(7), f.clone()));
            let out = pipe.send(now, f);
            assert_eq!(out, SendOutcome::InFlight { deliver_at: now + ms(7), duplicate_at: None });
        }
        let got = drain(&mut pipe);
        assert_eq!(got, sent);
        let s = pipe.stats();
        assert_eq!((s.sent, s.delivered), (100, 100));
        assert_eq!(s.bytes_delivered, sent.iter().map(|(_, f)| f.data.len() as u64).sum::<u64>());
        assert_eq!(s.lost + s.duplicated + s.reordered + s.corrupted, 0);
        assert!(pipe.is_empty());
    }

    #[test]
    fn zero_length_frame_is_carried_without_panic() {
        let config =
            LinkConfig::new().with_bandwidth_bps(1000).with_corrupt(1.0).with_jitter(ms(1)).with_duplicate(1.0);
        let mut pipe = Pipe::new(config).unwrap();
        pipe.send(Instant::ZERO, Frame::new(HOP, Vec::new()));
        let got = drain(&mut pipe);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|(_, f)| f.data.is_empty()));
        assert_eq!(pipe.stats().corrupted, 0);
    }

    #[test]
    fn bandwidth_spaces_frames_by_serialisation_time() {
        // 1250 bytes = 10 000 bits = 10 ms at 1 Mbit/s.
        let config = LinkConfig::new().with_bandwidth_bps(1_000_000).with_latency(ms(2));
        let mut pipe = Pipe::new(config).unwrap();
        for i in 0..10 {
            pipe.send(Instant::ZERO, frame(i, 1250));
        }
        let got = drain(&mut pipe);
        let times: Vec<_> = got.iter().map(|(t, _)| *t).collect();
        let want: Vec<_> = (1..=10).map(|k| Instant::ZERO + ms(2 + 10 * k)).collect();
        assert_eq!(times, want);
        assert_eq!(got.iter().map(|(_, f)| id(f)).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn idle_transmitter_starts_at_now() {
        let mut pipe = Pipe::new(LinkConfig::new().with_bandwidth_bps(1_000_000)).unwrap();
        pipe.send(Instant::ZERO, frame(0, 1250));
        // Long after the first frame left, the second is not delayed by it.
        let out = pipe.send(Instant::from_secs(1), frame(1, 1250));
        assert_eq!(out, SendOutcome::InFlight { deliver_at: Instant::from_secs(1) + ms(10), duplicate_at: None });
    }

    #[test]
    fn fractional_serialisation_does_not_accumulate_rounding() {
        // 1 byte at 3 Mbit/s is 2.67 µs; 3000 of them must take 8 ms, not 9.
        let mut pipe = Pipe::new(LinkConfig::new().with_bandwidth_bps(3_000_000).with_queue_limit(10_000)).unwrap();
        let mut last = Instant::ZERO;
        for i in 0..3000 {
            if let SendOutcome::InFlight { deliver_at, .. } = pipe.send(Instant::ZERO, frame(i, 1)) {
                assert!(deliver_at >= last);
                last = deliver_at;
            }
        }
        assert_eq!(last, Instant::ZERO + ms(8));
    }

    #[test]
    fn queue_limit_tail_drops_and_counts() {
        let config = LinkConfig::new().with_bandwidth_bps(1_000_000).with_queue_limit(4);
        let mut pipe = Pipe::new(config).unwrap();
        let outs: Vec<_> = (0..10).map(|i| pipe.send(Instant::ZERO, frame(i, 1250))).collect();
        assert!(outs[..4].iter().all(|o| matches!(o, SendOutcome::InFlight { .. })));
        assert!(outs[4..].iter().all(|o| *o == SendOutcome::QueueFull));
        assert_eq!(pipe.stats().queue_full, 6);
        // Once the first frame has left (10 ms), there is room for one more.
        assert_eq!(
            pipe.send(Instant::ZERO + ms(10), frame(10, 1250)),
            SendOutcome::InFlight { deliver_at: Instant::ZERO + ms(50), duplicate_at: None }
        );
        assert_eq!(pipe.send(Instant::ZERO + ms(10), frame(11, 1250)), SendOutcome::QueueFull);
        let ids: Vec<_> = drain(&mut pipe).iter().map(|(_, f)| id(f)).collect();
        assert_eq!(ids, vec![0, 1, 2, 3, 10]);
        assert_accounting(pipe.stats(), 0);
    }

    #[test]
    fn oversize_frames_are_dropped_and_counted() {
        let mut pipe = Pipe::new(LinkConfig::new().with_mtu(576)).unwrap();
        assert_eq!(pipe.send(Instant::ZERO, frame(0, 577)), SendOutcome::Oversize);
        assert!(matches!(pipe.send(Instant::ZERO, frame(1, 576)), SendOutcome::InFlight { .. }));
        assert_eq!(pipe.stats().oversize, 1);
        let got = drain(&mut pipe);
        assert_eq!(got.len(), 1);
        assert_eq!(id(&got[0].1), 1);
        assert_accounting(pipe.stats(), 0);
    }

    #[test]
    fn loss_rate_is_binomially_plausible_and_stats_add_up() {
        let config = LinkConfig::new()
            .with_loss(0.3)
            .with_duplicate(0.05)
            .with_corrupt(0.05)
            .with_reorder(0.05)
            .with_jitter(ms(1))
            .with_seed(42);
        let mut pipe = Pipe::new(config).unwrap();
        let n = 10_000u64;
        for i in 0..n {
            pipe.send(Instant::from_micros(i * 100), frame(i as u32, 64));
            if i == n / 2 {
                assert_accounting(pipe.stats(), pipe.in_flight());
            }
        }
        let delivered = drain(&mut pipe).len() as u64;
        let s = pipe.stats().clone();
        // Mean 3000, sd ≈ 45.8; ±5 sd is wide enough never to flake.
        assert!((2771..=3229).contains(&s.lost), "lost {}", s.lost);
        // Duplicates are drawn only for surviving frames: mean 350, sd ≈ 18.
        assert!((260..=440).contains(&s.duplicated), "dup {}", s.duplicated);
        assert!(s.corrupted > 0 && s.reordered > 0);
        assert_eq!(delivered, s.delivered);
        assert_eq!(s.sent, n);
        assert_accounting(&s, 0);
    }

    fn trace(seed: u64) -> Vec<(Instant, Frame)> {
        let config = LinkConfig::new()
            .with_latency(ms(3))
            .with_jitter(ms(2))
            .with_loss(0.1)
            .with_duplicate(0.1)
            .with_reorder(0.1)
            .with_corrupt(0.1)
            .with_bandwidth_bps(10_000_000)
            .with_seed(seed);
        let mut pipe = Pipe::new(config).unwrap();
        let mut out = Vec::new();
        for i in 0..500u32 {
            let now = Instant::from_micros(u64::from(i) * 250);
            pipe.send(now, frame(i, 100 + (i as usize % 50)));
            while let Some(f) = pipe.recv(now) {
                out.push((now, f));
            }
        }
        out.extend(drain(&mut pipe));
        out
    }

    #[test]
    fn same_seed_same_run_different_seed_different_run() {
        let a = trace(7);
        assert_eq!(a, trace(7));
        assert_ne!(a, trace(8));
    }

    #[test]
    fn corruption_flips_exactly_one_bit() {
        let mut pipe = Pipe::new(LinkConfig::new().with_corrupt(1.0).with_seed(3)).unwrap();
        let originals: Vec<_> = (0..200).map(|i| frame(i, 1 + i as usize % 60)).collect();
        for f in &originals {
            pipe.send(Instant::ZERO, f.clone());
        }
        let got = drain(&mut pipe);
        assert_eq!(got.len(), originals.len());
        let mut positions = std::collections::BTreeSet::new();
        for ((_, g), o) in got.iter().zip(&originals) {
            assert_eq!(g.next_hop, o.next_hop);
            assert_eq!(g.data.len(), o.data.len());
            let flipped: u32 = g.data.iter().zip(&o.data).map(|(a, b)| (a ^ b).count_ones()).sum();
            assert_eq!(flipped, 1);
            let byte = g.data.iter().zip(&o.data).position(|(a, b)| a != b).unwrap();
            positions.insert((byte, (g.data[byte] ^ o.data[byte]).trailing_zeros()));
        }
        // Both the byte and the bit are random, not always the same spot.
        assert!(positions.len() > 50);
        assert_eq!(pipe.stats().corrupted, 200);
    }

    fn delivery_ids(config: LinkConfig) -> (Vec<u32>, PipeStats) {
        let mut pipe = Pipe::new(config).unwrap();
        for i in 0..1000u32 {
            pipe.send(Instant::from_micros(u64::from(i) * 100), frame(i, 40));
        }
        let ids = drain(&mut pipe).iter().map(|(_, f)| id(f)).collect();
        (ids, pipe.stats().clone())
    }

    fn inversions(ids: &[u32]) -> usize {
        ids.windows(2).filter(|w| w[1] < w[0]).count()
    }

    #[test]
    fn jitter_alone_never_reorders() {
        // Jitter (5 ms) far exceeds the frame spacing (0.1 ms).
        let (ids, stats) = delivery_ids(LinkConfig::new().with_jitter(ms(5)).with_seed(1));
        assert_eq!(ids, (0..1000).collect::<Vec<_>>());
        assert_eq!(stats.reordered, 0);
    }

    #[test]
    fn jitter_varies_delay_within_bound() {
        let mut pipe = Pipe::new(LinkConfig::new().with_jitter(ms(5)).with_seed(9)).unwrap();
        let mut delays = std::collections::BTreeSet::new();
        for i in 0..50u64 {
            // Widely spaced so the in-order clamp never bites.
            let now = Instant::from_secs(i);
            if let SendOutcome::InFlight { deliver_at, .. } = pipe.send(now, frame(0, 10)) {
                let d = deliver_at - now;
                assert!(d < ms(5));
                delays.insert(d);
            }
        }
        assert!(delays.len() > 40);
    }

    #[test]
    fn reorder_produces_out_of_order_deliveries() {
        let (ids, stats) =
            delivery_ids(LinkConfig::new().with_latency(ms(1)).with_jitter(ms(1)).with_reorder(0.1).with_seed(1));
        assert!(inversions(&ids) > 20, "{}", inversions(&ids));
        assert!(stats.reordered > 50);
        // Nothing lost or invented: every frame arrives once.
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn duplicates_arrive_twice() {
        let mut pipe = Pipe::new(LinkConfig::new().with_duplicate(1.0)).unwrap();
        let out = pipe.send(Instant::ZERO, frame(5, 30));
        assert_eq!(out, SendOutcome::InFlight { deliver_at: Instant::ZERO, duplicate_at: Some(Instant::ZERO) });
        let got = drain(&mut pipe);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], got[1]);
        assert_accounting(pipe.stats(), 0);
    }

    #[test]
    fn total_loss_loses_everything() {
        let mut pipe = Pipe::new(LinkConfig::new().with_loss(1.0)).unwrap();
        for i in 0..10 {
            assert_eq!(pipe.send(Instant::ZERO, frame(i, 10)), SendOutcome::Lost);
        }
        assert!(pipe.is_empty() && pipe.poll_at().is_none());
        assert_eq!(pipe.stats().lost, 10);
    }

    #[test]
    fn poll_at_is_exact() {
        let config = LinkConfig::new().with_latency(ms(3)).with_jitter(ms(2)).with_reorder(0.2).with_seed(11);
        let mut pipe = Pipe::new(config).unwrap();
        for i in 0..200u32 {
            pipe.send(Instant::from_micros(u64::from(i) * 37), frame(i, 10));
        }
        let mut last = Instant::ZERO;
        while let Some(t) = pipe.poll_at() {
            assert!(t >= last);
            if t > Instant::ZERO {
                assert!(pipe.recv(t - Duration::from_micros(1)).is_none());
            }
            assert_eq!(pipe.poll_at(), Some(t));
            assert!(pipe.recv(t).is_some());
            last = t;
        }
        assert_eq!(pipe.stats().delivered, 200);
    }

    #[test]
    fn ties_are_delivered_in_send_order() {
        let mut pipe = Pipe::new(LinkConfig::new().with_latency(ms(1))).unwrap();
        for i in 0..50 {
            pipe.send(Instant::ZERO, frame(i, 8));
        }
        let ids: Vec<_> = drain(&mut pipe).iter().map(|(_, f)| id(f)).collect();
        assert_eq!(ids, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn extreme_values_do_not_panic() {
        let config = LinkConfig::new()
            .with_bandwidth_bps(1)
            .with_latency(Duration::MAX)
            .with_jitter(Duration::MAX)
            .with_reorder(0.5)
            .with_mtu(usize::MAX);
        let mut pipe = Pipe::new(config).unwrap();
        for i in 0..5 {
            pipe.send(Instant::FAR_FUTURE, frame(i, 1500));
        }
        assert_eq!(pipe.poll_at(), Some(Instant::FAR_FUTURE));
        assert_eq!(drain(&mut pipe).len(), 5);
    }
}
