//! Segmentation offload (`InterfaceConfig::with_gso`): what leaves an
//! offload interface, split with `gso::segment`, is byte for byte what a
//! plain interface sends; taken whole, it carries a transfer intact.

use sockstack_stack::gso::{self, GSO_MAX_SIZE};
use sockstack_stack::{IfaceId, InterfaceConfig, ProcessId, SocketHandle, Stack, StackConfig};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{Error, Ipv4Addr, Ipv4Cidr, Ipv4Packet, TcpPacket};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::ErrorKind;
use std::net::SocketAddrV4;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const P: ProcessId = ProcessId(1);
const MTU: usize = 1500;

fn host(ip: Ipv4Addr, seed: u64, gso: bool) -> Stack {
    let mut s = Stack::new(StackConfig { seed, ..StackConfig::default() });
    let mut iface = InterfaceConfig::new("eth0", Ipv4Cidr::new(ip, 24).unwrap()).with_mtu(MTU);
    if gso {
        iface = iface.with_gso(GSO_MAX_SIZE);
    }
    s.add_interface(iface);
    s
}

/// How a's datagrams reach b.
#[derive(Clone, Copy, PartialEq)]
enum Wire {
    /// No offload: every datagram fits the MTU.
    Plain,
    /// Offload, split with `gso::segment` before b gets them.
    Split,
    /// Offload, taken whole by b.
    Whole,
}

struct World {
    a: Stack,
    b: Stack,
    wire: Wire,
    /// Drop a's `n`th datagram when this says so (losses on the wire).
    lose: fn(usize) -> bool,
    sent: usize,
    /// a's end of the last transfer's connection.
    client: Option<SocketHandle>,
    now: Instant,
    /// Every datagram on the wire from a (after any split), and from b.
    a_to_b: Vec<Vec<u8>>,
    b_to_a: Vec<Vec<u8>>,
    /// Offload datagrams a sent, and the segments they packed.
    packed: usize,
    /// The first offload datagram a sent, and its segment size.
    first_packed: Option<(Vec<u8>, u16)>,
    packed_segments: usize,
}

impl World {
    fn new(wire: Wire) -> World {
        let gso = wire != Wire::Plain;
        World {
            a: host(A, 11, gso),
            b: host(B, 12, false),
            wire,
            lose: |_| false,
            sent: 0,
            client: None,
            now: Instant::ZERO,
            a_to_b: Vec::new(),
            b_to_a: Vec::new(),
            packed: 0,
            packed_segments: 0,
            first_packed: None,
        }
    }

    /// Carries everything queued both ways; true if anything moved.
    fn step(&mut self) -> bool {
        let now = self.now;
        let mut moved = false;
        for s in [&mut self.a, &mut self.b] {
            if s.poll_at().is_some_and(|t| t <= now) {
                s.poll(now);
            }
        }
        while let Some(p) = self.a.dispatch() {
            moved = true;
            if let (Some(size), None) = (p.gso_size, &self.first_packed) {
                self.first_packed = Some((p.data.clone(), size));
            }
            let pieces = match (p.gso_size, self.wire) {
                (Some(size), Wire::Split) => {
                    self.packed += 1;
                    let pieces = gso::segment(&p.data, size).expect("a's offload datagram splits");
                    self.packed_segments += pieces.len();
                    pieces
                }
                (Some(size), _) => {
                    assert!(p.data.len() <= GSO_MAX_SIZE);
                    let payload =
                        p.data.len() - 20 - usize::from(TcpPacket::new_checked(&p.data[20..]).unwrap().header_len());
                    self.packed += 1;
                    self.packed_segments += payload.div_ceil(usize::from(size));
                    vec![p.data]
                }
                (None, _) => {
                    assert!(p.data.len() <= MTU, "a datagram without offload fits the MTU");
                    vec![p.data]
                }
            };
            for d in pieces {
                self.sent += 1;
                if (self.lose)(self.sent) {
                    continue;
                }
                self.b.receive(now, IfaceId(0), &d);
                self.a_to_b.push(d);
            }
        }
        while let Some(p) = self.b.dispatch() {
            moved = true;
            assert_eq!(p.gso_size, None, "b has no offload");
            self.a.receive(now, IfaceId(0), &p.data);
            self.b_to_a.push(p.data);
        }
        moved
    }

    fn idle(&mut self) {
        let next = [self.a.poll_at(), self.b.poll_at()].into_iter().flatten().min().expect("a timer is pending");
        self.now = self.now.max(next).max(self.now + Duration::from_micros(1));
    }

    fn connect(&mut self) -> (SocketHandle, SocketHandle) {
        let l = self.b.tcp_open(P);
        self.b.bind(l, SocketAddrV4::new(B, 80)).unwrap();
        self.b.tcp_listen(l, 8).unwrap();
        let c = self.a.tcp_open(P);
        self.a.tcp_connect(self.now, c, SocketAddrV4::new(B, 80)).unwrap();
        loop {
            if let Ok((s, _)) = self.b.tcp_accept(l) {
                return (c, s);
            }
            if !self.step() {
                self.idle();
            }
        }
    }

    /// Sends `data` from a to b, writing in pieces of `chunk` octets, and
    /// returns what b read.
    fn transfer(&mut self, data: &[u8], chunk: usize) -> Vec<u8> {
        let (c, s) = self.connect();
        self.client = Some(c);
        let (mut sent, mut got) = (0, Vec::with_capacity(data.len()));
        let mut buf = vec![0u8; 100_000];
        while got.len() < data.len() {
            while sent < data.len() {
                let end = (sent + chunk).min(data.len());
                match self.a.tcp_send(self.now, c, &data[sent..end]) {
                    Ok(n) => sent += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("send: {e}"),
                }
            }
            let moved = self.step();
            let mut read = false;
            loop {
                match self.b.tcp_recv(s, &mut buf) {
                    Ok(0) => panic!("early end of stream"),
                    Ok(n) => {
                        got.extend_from_slice(&buf[..n]);
                        read = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("recv: {e}"),
                }
            }
            if !moved && !read {
                self.idle();
            }
        }
        got
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + (i >> 11) * 7 + 3) as u8).collect()
}

fn digest(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

#[test]
fn offload_datagrams_split_into_what_a_plain_interface_sends() {
    // Writes of odd sizes, so runs end on short segments and PSH too.
    for chunk in [1 << 20, 10_000, 3_001] {
        let data = pattern(3 << 20);
        let mut plain = World::new(Wire::Plain);
        let mut split = World::new(Wire::Split);
        assert_eq!(digest(&plain.transfer(&data, chunk)), digest(&data));
        assert_eq!(digest(&split.transfer(&data, chunk)), digest(&data));
        assert!(
            split.packed > 10 && split.packed_segments > 4 * split.packed,
            "offload packed runs: {} datagrams of {} segments",
            split.packed,
            split.packed_segments
        );
        assert_eq!(plain.a_to_b.len(), split.a_to_b.len(), "as many datagrams on the wire (writes of {chunk})");
        for (i, (p, s)) in plain.a_to_b.iter().zip(&split.a_to_b).enumerate() {
            assert!(p == s, "datagram {i} differs (writes of {chunk})");
        }
        assert!(plain.b_to_a == split.b_to_a, "b answers the same");
    }
}

#[test]
fn offload_datagrams_are_taken_whole() {
    let data = pattern(8 << 20);
    let mut plain = World::new(Wire::Plain);
    let mut whole = World::new(Wire::Whole);
    assert_eq!(digest(&whole.transfer(&data, 1 << 20)), digest(&data));
    assert_eq!(digest(&plain.transfer(&data, 1 << 20)), digest(&data));
    assert!(whole.a_to_b.iter().any(|d| d.len() > MTU), "datagrams past the MTU crossed");
    assert!(whole.packed_segments > 20 * whole.packed, "long runs were packed");
    // b took each datagram as one segment, so it had far fewer to handle.
    let (w, p) = (whole.b.counters(), plain.b.counters());
    assert!(w.tcp_rx * 10 < p.tcp_rx, "segments b handled: {} whole, {} plain", w.tcp_rx, p.tcp_rx);
    // a counts the segments it sent, packed or not.
    assert!(whole.a.counters().tcp_tx >= whole.packed_segments as u64);
    assert!(whole.a.counters().ip_tx < whole.a.counters().tcp_tx);
}

#[test]
fn lost_offload_datagrams_are_recovered() {
    // Every eleventh datagram lost, packed runs and all: b sees holes of
    // up to 45 segments, SACKs them, and a's retransmissions (packed too,
    // where they run) fill them.
    let data = pattern(6 << 20);
    let mut world = World { lose: |n| n % 11 == 5, ..World::new(Wire::Whole) };
    assert_eq!(digest(&world.transfer(&data, 1 << 20)), digest(&data));
    assert!(world.packed > 10, "runs were packed: {}", world.packed);
    let stats = world.a.tcp_stats(world.client.unwrap()).unwrap();
    assert!(stats.retransmits > 0 && world.sent > world.a_to_b.len());
}

#[test]
fn splitting_refuses_what_is_not_an_offload_datagram() {
    let mut world = World::new(Wire::Whole);
    world.transfer(&pattern(1 << 20), 1 << 20);
    let (frame, size) = world.first_packed.expect("an offload datagram");
    assert!(frame.len() > MTU);
    let pieces = gso::segment(&frame, size).unwrap();
    assert!(pieces.len() > 1 && pieces.iter().all(|d| d.len() <= MTU));
    assert_eq!(gso::segment(&frame, 0), Err(Error::Malformed));
    assert!(gso::segment(&frame[..30], size).is_err(), "truncated");
    assert!(gso::segment(&[], size).is_err());
    let mut damaged = frame.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x40;
    assert_eq!(gso::segment(&damaged, size), Err(Error::BadChecksum));
    let mut syn = frame.clone();
    let mut tcp = TcpPacket::new_unchecked(&mut syn[20..]);
    tcp.set_syn(true);
    tcp.fill_checksum(&A, &B);
    assert_eq!(gso::segment(&syn, size), Err(Error::Unsupported), "SYN with more than a segment");
    let mut udp = frame.clone();
    let mut ip = Ipv4Packet::new_unchecked(&mut udp[..]);
    ip.set_next_header(sockstack_wire::IpProtocol::Udp);
    ip.fill_checksum();
    assert_eq!(gso::segment(&udp, size), Err(Error::Unsupported));
    // Garbage of every short length: an error, never a panic.
    for len in 0..80 {
        let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 69) as u8).collect();
        assert!(gso::segment(&junk, size).is_err());
    }
}
