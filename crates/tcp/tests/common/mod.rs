//! Test harness: two `Connection`s wired back to back through queues with
//! a deterministic per-segment fate (deliver, drop, duplicate, delay), and
//! helpers to feed one connection hand-made segments. Every segment goes
//! through the wire crate's emit and parse, checksum included.
#![allow(dead_code)]

use sockstack_tcp::{Connection, State, TcpConfig};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{ChecksumMode, Ipv4Addr, SeqNumber, TcpPacket, TcpRepr, TcpTimestamp};
use std::net::SocketAddrV4;

pub const A_ADDR: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
pub const B_ADDR: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
pub const ISS_A: SeqNumber = SeqNumber(1_000);
pub const ISS_B: SeqNumber = SeqNumber(u32::MAX - 5_000); // wraps during transfers

/// A segment as bytes on the wire.
#[derive(Clone, Debug)]
pub struct Seg {
    pub bytes: Vec<u8>,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

impl Seg {
    pub fn repr(&self) -> TcpRepr<'_> {
        let p = TcpPacket::new_checked(&self.bytes[..]).expect("well-formed");
        TcpRepr::parse(&p, &self.src, &self.dst, ChecksumMode::Verify).expect("parses")
    }
}

pub fn serialize(r: &TcpRepr<'_>, src: Ipv4Addr, dst: Ipv4Addr) -> Seg {
    let mut bytes = vec![0u8; r.buffer_len()];
    let mut p = TcpPacket::new_unchecked(&mut bytes[..]);
    r.emit(&mut p, &src, &dst, ChecksumMode::Verify);
    Seg { bytes, src, dst }
}

thread_local! {
    /// Whether [`drain`] sends in bursts (`poll_transmit_burst`, as the
    /// stack does) rather than one `poll_transmit` call per segment: the
    /// same segments either way, which `prediction.rs` checks.
    pub static BURST: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Everything `c` wants to send now. Drained, it has nothing more to do
/// before a later instant (else a stack would spin on it).
pub fn drain(c: &mut Connection, now: Instant) -> Vec<Seg> {
    let out = drain_all(c, now);
    if let Some(t) = c.poll_at() {
        assert!(t > now, "drained at {now}, yet due at {t} ({:?})", c.state());
    }
    // And it is not stuck: while it has anything to send or unacknowledged,
    // a timer runs (retransmission, probe or loss detection).
    if c.state().is_synchronized() && (c.snd_una() != c.snd_nxt() || c.send_queue() > 0) {
        assert!(c.poll_at().is_some(), "{} octets held, no timer ({:?})", c.send_queue(), c.stats());
    }
    out
}

fn drain_all(c: &mut Connection, now: Instant) -> Vec<Seg> {
    let (src, dst) = (*c.local_addr().ip(), *c.remote_addr().ip());
    let mut out = Vec::new();
    if BURST.with(|b| b.get()) {
        // In bursts of varying length, so runs are cut at many points
        // (and the first is not one segment long, so a burst's own stop
        // after its first segment is exercised).
        let budget_after = |sent: usize| 1 + (sent * 7 + 3) % 50;
        let mut budget = budget_after(0);
        loop {
            let sent = c.poll_transmit_burst(now, budget, |r| out.push(serialize(r, src, dst)));
            if sent < budget {
                // A burst stops early also when `sent_all` says nothing
                // more is due: one more call must then send nothing.
                let mut late = None;
                assert!(
                    !c.poll_transmit(now, |r| late = Some(serialize(r, src, dst))),
                    "a burst stopped before {late:?}"
                );
                return out;
            }
            assert!(out.len() < 100_000, "poll_transmit_burst never runs dry");
            budget = budget_after(out.len());
        }
    }
    let mut guard = 0;
    // Every drain also checks `sent_all`, which lets a stack skip the
    // last call: when it holds, that call must indeed send nothing.
    let mut sent_all = false;
    while c.poll_transmit(now, |r| out.push(serialize(r, src, dst))) {
        assert!(!sent_all, "sent_all held, yet another segment was due: {:?}", out.last());
        sent_all = c.sent_all();
        guard += 1;
        assert!(guard < 100_000, "poll_transmit never returns false");
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    AtoB,
    BtoA,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Deliver,
    Drop,
    Duplicate,
    /// Deliver after this much extra delay (reordering).
    Delay(Duration),
}

pub type Filter = Box<dyn FnMut(Dir, u64, &TcpRepr<'_>) -> Fate>;

/// Drops the first segment `matches` picks; delivers everything else.
pub fn drop_first(mut matches: impl FnMut(Dir, &TcpRepr<'_>) -> bool + 'static) -> Filter {
    let mut dropped = false;
    Box::new(move |dir, _, r| {
        if !dropped && matches(dir, r) {
            dropped = true;
            return Fate::Drop;
        }
        Fate::Deliver
    })
}

/// Random faults both ways, drawn from `rng`: after the first `spare`
/// segments (the handshake), of every hundred `drop` are lost, `dup`
/// duplicated and `delay` held back by up to `max_delay` (reordered).
pub fn faults(mut rng: Rng, spare: u64, drop: u64, dup: u64, delay: u64, max_delay: Duration) -> Filter {
    let max_delay = max_delay.as_micros().max(1) as u64;
    Box::new(move |_, n, _| {
        if n <= spare {
            return Fate::Deliver;
        }
        let x = rng.next() % 100;
        if x < drop {
            Fate::Drop
        } else if x < drop + dup {
            Fate::Duplicate
        } else if x < drop + dup + delay {
            Fate::Delay(Duration::from_micros(rng.next() % max_delay))
        } else {
            Fate::Deliver
        }
    })
}

pub struct Pair {
    pub now: Instant,
    pub a: Connection,
    pub b: Connection,
    /// (deliver at, tie-break counter, direction, segment)
    pub in_flight: Vec<(Instant, u64, Dir, Seg)>,
    pub delay: Duration,
    pub filter: Filter,
    pub counter: u64,
    /// Every segment emitted, with its time and direction.
    pub log: Vec<(Instant, Dir, Seg)>,
    pub record: bool,
    /// Checked on every segment carried.
    pub window_rule: WindowRule,
}

/// A segment in one line, for TCP_TRACE.
fn brief(r: &TcpRepr<'_>) -> String {
    let flags: String = [(r.syn, 'S'), (r.fin, 'F'), (r.rst, 'R')].iter().filter(|f| f.0).map(|f| f.1).collect();
    let (seq, len, ack, win) = (r.seq_number, r.payload.len(), r.ack_number, r.window_len);
    format!("seq {seq:?} len {len} ack {ack:?} win {win} {flags} sack {:?}", r.sack_ranges)
}

/// What every segment must keep, checked by the harness on each one it
/// carries, whatever the faults: no data past the right edge of the
/// window the peer offered its sender, as the segments that reached the
/// sender said (one octet past, for a probe; RFC 9293 §3.8.6,
/// §3.10.7.4), nor a FIN at or past it; no data past the sender's FIN;
/// ACKs that never go back
/// and never acknowledge what the peer did not send; SACK blocks inside
/// what the peer sent, all but a D-SACK first one above the ACK (RFC
/// 2018 §4, RFC 2883).
#[derive(Default)]
pub struct WindowRule {
    /// Per direction (0: A to B, 1: B to A), its SYN's window scale,
    /// once the harness saw the SYN.
    syn_ws: [Option<Option<u8>>; 2],
    /// Per direction, the right edge its sender was offered.
    edge: [Option<SeqNumber>; 2],
    /// Per direction, how far its sender's sequence space went.
    sent_end: [Option<SeqNumber>; 2],
    /// Per direction, the last ACK sent, and where the FIN sits.
    last_ack: [Option<SeqNumber>; 2],
    fin_at: [Option<SeqNumber>; 2],
    /// Every segment of both ends went through the harness (a test that
    /// feeds one a segment by hand clears it): ACKs and SACK blocks are
    /// then checked against what the peer sent.
    pub complete: bool,
    /// Named in a failure (a stress test's seed).
    pub context: String,
}

impl WindowRule {
    fn index(dir: Dir) -> usize {
        match dir {
            Dir::AtoB => 0,
            Dir::BtoA => 1,
        }
    }

    /// A segment sent in `dir`: its SYN options noted, the rest checked.
    pub fn on_send(&mut self, dir: Dir, r: &TcpRepr<'_>) -> Result<(), String> {
        let (i, j) = (Self::index(dir), 1 - Self::index(dir));
        if r.syn {
            self.syn_ws[i] = Some(r.window_scale);
        }
        if r.rst {
            return Ok(());
        }
        let (seq, len) = (r.seq_number, r.payload.len());
        let data_end = seq + len;
        advance(&mut self.sent_end[i], seg_end(r));
        if let Some(ack) = r.ack_number {
            if self.last_ack[i].is_some_and(|l| ack.lt(l)) {
                return Err(format!("{dir:?}: ACK {ack:?} went back from {:?}", self.last_ack[i]));
            }
            self.last_ack[i] = Some(ack);
            // (Tests may hand a connection segments the harness never
            // carried: what the peer sent is known only when it saw it.)
            let peer_end = self.sent_end[j].filter(|_| self.complete);
            if let Some(e) = peer_end.filter(|&e| e.lt(ack)) {
                return Err(format!("{dir:?}: ACK {ack:?} past what the peer sent ({e:?})"));
            }
            for (k, &(left, right)) in r.sack_ranges.iter().flatten().enumerate() {
                let past = peer_end.is_some_and(|e| e.lt(right));
                if !left.lt(right) || past || (k > 0 && left.le(ack)) {
                    return Err(format!("{dir:?}: SACK block {k} {left:?}..{right:?} (ACK {ack:?})"));
                }
            }
        }
        if len > 0 {
            if let Some(f) = self.fin_at[i].filter(|&f| f.lt(data_end)) {
                return Err(format!("{dir:?}: data {seq:?} + {len} past the FIN at {f:?}"));
            }
            if let Some(edge) = self.edge[i].filter(|&e| (e + 1).lt(data_end)) {
                return Err(format!("{dir:?}: data {seq:?} + {len} ends past the edge {edge:?} the peer offered"));
            }
        }
        if r.fin {
            // The FIN takes a sequence number of the window too.
            if let Some(edge) = self.edge[i].filter(|&e| e.le(data_end)) {
                return Err(format!("{dir:?}: FIN at {data_end:?} at or past the edge {edge:?} the peer offered"));
            }
            self.fin_at[i] = Some(data_end);
        }
        Ok(())
    }

    /// A segment that went in `dir` reached its receiver, and offers it
    /// a window for its own sending.
    pub fn on_deliver(&mut self, dir: Dir, r: &TcpRepr<'_>) {
        // It was sent, whether or not the harness saw it go (a test may
        // put segments in flight by hand).
        if !r.rst {
            advance(&mut self.sent_end[Self::index(dir)], seg_end(r));
        }
        let (Some(ack), false) = (r.ack_number, r.rst) else { return };
        // Scaling once both SYNs offered it (RFC 7323 §2.2); a SYN's own
        // window never scaled. Unknown SYNs: not checked.
        let shift = match self.syn_ws {
            [Some(a), Some(b)] => match (a, b) {
                (Some(_), Some(_)) if !r.syn => self.syn_ws[Self::index(dir)].flatten().unwrap_or(0).min(14),
                _ => 0,
            },
            _ => return,
        };
        let right = ack + (usize::from(r.window_len) << shift);
        let j = 1 - Self::index(dir);
        advance(&mut self.edge[j], right);
    }
}

/// Where a segment's sequence space ends (its SYN and FIN count).
fn seg_end(r: &TcpRepr<'_>) -> SeqNumber {
    r.seq_number + r.payload.len() + usize::from(r.syn) + usize::from(r.fin)
}

/// Moves `slot` on to `to`, if that is further in sequence space.
fn advance(slot: &mut Option<SeqNumber>, to: SeqNumber) {
    if slot.is_none_or(|s| s.lt(to)) {
        *slot = Some(to);
    }
}

/// A simple deterministic PRNG (xorshift64*) for loss patterns.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 1000 < percent * 10
    }
}

impl Pair {
    /// A connects to B; B is created from A's SYN by `accept`. Nothing is
    /// exchanged beyond the SYN.
    pub fn new(cfg_a: &TcpConfig, cfg_b: &TcpConfig, delay: Duration) -> Pair {
        Pair::new_with_mss(cfg_a, cfg_b, delay, 1460)
    }

    /// Like [`Pair::new`], over a route whose MSS is `route_mss`.
    #[allow(dead_code)]
    pub fn new_with_mss(cfg_a: &TcpConfig, cfg_b: &TcpConfig, delay: Duration, route_mss: u16) -> Pair {
        let now = Instant::from_secs(1);
        let mut a = Connection::connect(now, A_ADDR, B_ADDR, ISS_A, route_mss, cfg_a);
        let syn = drain(&mut a, now);
        assert_eq!(syn.len(), 1);
        let b = Connection::accept(now, B_ADDR, A_ADDR, &syn[0].repr(), ISS_B, route_mss, cfg_b);
        let mut p = Pair::of(now, a, b, delay);
        p.window_rule.on_send(Dir::AtoB, &syn[0].repr()).unwrap();
        p
    }

    /// Connections `a` and `b` at `now`, joined by a path of `delay`
    /// that delivers everything, every segment logged.
    fn of(now: Instant, a: Connection, b: Connection, delay: Duration) -> Pair {
        Pair {
            now,
            a,
            b,
            in_flight: Vec::new(),
            delay,
            filter: Box::new(|_, _, _| Fate::Deliver),
            counter: 0,
            log: Vec::new(),
            record: true,
            window_rule: WindowRule { complete: true, ..WindowRule::default() },
        }
    }

    /// Both ends open actively (RFC 9293 §3.5 Figure 8); nothing is
    /// exchanged yet, not even the SYNs.
    #[allow(dead_code)]
    pub fn simultaneous(cfg_a: &TcpConfig, cfg_b: &TcpConfig, delay: Duration) -> Pair {
        let now = Instant::from_secs(1);
        let a = Connection::connect(now, A_ADDR, B_ADDR, ISS_A, 1460, cfg_a);
        let b = Connection::connect(now, B_ADDR, A_ADDR, ISS_B, 1460, cfg_b);
        Pair::of(now, a, b, delay)
    }

    /// Established both ways.
    pub fn established(cfg_a: &TcpConfig, cfg_b: &TcpConfig, delay: Duration) -> Pair {
        let mut p = Pair::new(cfg_a, cfg_b, delay);
        p.run_until(|p| p.a.state() == State::Established && p.b.state() == State::Established, Duration::from_secs(5));
        p
    }

    fn transmit(&mut self) {
        for dir in [Dir::AtoB, Dir::BtoA] {
            let segs = match dir {
                Dir::AtoB => drain(&mut self.a, self.now),
                Dir::BtoA => drain(&mut self.b, self.now),
            };
            for s in segs {
                if std::env::var("TCP_TRACE").is_ok() {
                    eprintln!("{} send {dir:?} {}", self.now, brief(&s.repr()));
                }
                if let Err(e) = self.window_rule.on_send(dir, &s.repr()) {
                    panic!("{} at {}: {e}", self.window_rule.context, self.now);
                }
                self.counter += 1;
                if self.record {
                    self.log.push((self.now, dir, s.clone()));
                }
                let fate = (self.filter)(dir, self.counter, &s.repr());
                let at = self.now + self.delay;
                match fate {
                    Fate::Deliver => self.in_flight.push((at, self.counter, dir, s)),
                    Fate::Drop => {}
                    Fate::Duplicate => {
                        self.in_flight.push((at, self.counter, dir, s.clone()));
                        self.in_flight.push((at + Duration::from_micros(1), self.counter, dir, s));
                    }
                    Fate::Delay(d) => self.in_flight.push((at + d, self.counter, dir, s)),
                }
            }
        }
    }

    /// Advances to the next event (delivery or timer) and handles it.
    /// Returns false if nothing at all is pending.
    pub fn step(&mut self) -> bool {
        self.transmit();
        let next_delivery = self.in_flight.iter().map(|x| (x.0, x.1)).min();
        let timers = [self.a.poll_at(), self.b.poll_at()].into_iter().flatten().min();
        let next = match (next_delivery.map(|x| x.0), timers) {
            (Some(d), Some(t)) => d.min(t),
            (Some(d), None) => d,
            (None, Some(t)) => t,
            (None, None) => return false,
        };
        self.now = self.now.max(next);
        // Deliver everything due, in order.
        loop {
            let idx = self
                .in_flight
                .iter()
                .enumerate()
                .filter(|(_, x)| x.0 <= self.now)
                .min_by_key(|(_, x)| (x.0, x.1))
                .map(|(i, _)| i);
            let Some(i) = idx else { break };
            let (_, _, dir, seg) = self.in_flight.remove(i);
            let r = seg.repr();
            if std::env::var("TCP_TRACE").is_ok() {
                eprintln!("{} deliver {dir:?} {}", self.now, brief(&r));
            }
            self.window_rule.on_deliver(dir, &r);
            match dir {
                Dir::AtoB => self.b.on_segment(self.now, &r),
                Dir::BtoA => self.a.on_segment(self.now, &r),
            }
        }
        self.a.on_timer(self.now);
        self.b.on_timer(self.now);
        self.transmit();
        true
    }

    /// Steps until `cond` holds; panics after `limit` of virtual time.
    pub fn run_until(&mut self, mut cond: impl FnMut(&mut Pair) -> bool, limit: Duration) {
        let deadline = self.now + limit;
        while !cond(self) {
            assert!(
                self.now <= deadline,
                "condition not reached by {} (a {:?}, b {:?})",
                self.now,
                self.a.state(),
                self.b.state()
            );
            if !self.step() {
                assert!(cond(self), "nothing left to do and condition false");
                return;
            }
        }
    }

    /// Steps for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            if !self.step() {
                break;
            }
        }
    }

    /// The timestamp option of the last segment logged going `dir`.
    pub fn last_timestamp(&self, dir: Dir) -> Option<TcpTimestamp> {
        self.log.iter().rev().find(|x| x.1 == dir).and_then(|x| x.2.repr().timestamp)
    }

    pub fn segs(&self, dir: Dir) -> Vec<&Seg> {
        self.log.iter().filter(|x| x.1 == dir).map(|x| &x.2).collect()
    }
}

/// Bulk transfer A→B of `data`, with B reading as it goes; returns what B
/// read and the time it took.
pub fn transfer(p: &mut Pair, data: &[u8], limit: Duration) -> Vec<u8> {
    let mut sent = 0;
    let mut got = Vec::with_capacity(data.len());
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = p.now + limit;
    while got.len() < data.len() {
        assert!(
            p.now <= deadline,
            "transfer stalled at {} of {} bytes (a {:?} b {:?}) stats a={:?}",
            got.len(),
            data.len(),
            p.a.state(),
            p.b.state(),
            p.a.stats()
        );
        if sent < data.len() {
            if let Ok(n) = p.a.send(&data[sent..]) {
                sent += n;
            }
        }
        loop {
            match p.b.recv(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        if got.len() >= data.len() {
            break;
        }
        if !p.step() {
            panic!("nothing pending with {} of {} bytes delivered", got.len(), data.len());
        }
    }
    got
}

/// A's first `warm` octets of `data` moved to B (and read), nothing left
/// in flight; then as much of the rest as A takes, sent at once and lost
/// on the way (the segments are returned, not delivered). Returns what B
/// read, how much of `data` A has taken, and the lost flight.
pub fn warm_then_lose_a_flight(p: &mut Pair, data: &[u8], warm: usize) -> (Vec<u8>, usize, Vec<Seg>) {
    let got = transfer(p, &data[..warm], Duration::from_secs(10));
    p.run_until(|p| p.a.snd_una() == p.a.snd_nxt(), Duration::from_secs(1));
    let sent = warm + p.a.send(&data[warm..]).unwrap();
    let flight = drain(&mut p.a, p.now);
    (got, sent, flight)
}

pub fn pattern(len: usize) -> Vec<u8> {
    let mut r = Rng(0x1234_5678);
    (0..len).map(|_| r.next() as u8).collect()
}

/// A config with timestamps/SACK/WS toggled.
pub fn cfg(ts: bool, sack: bool, ws: bool) -> TcpConfig {
    TcpConfig { timestamps: ts, sack, window_scale: ws, ..TcpConfig::default() }
}
