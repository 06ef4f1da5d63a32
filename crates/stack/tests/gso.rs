//! Segmentation offload (`InterfaceConfig::with_gso`): what leaves an
//! offload interface, split with `gso::segment`, is byte for byte what a
//! plain interface sends; taken whole, it carries a transfer intact. And
//! receive offload (`Stack::receive_offloaded`): runs and partial checksums
//! as a Linux TUN device hands them over are taken whole when they are for
//! the stack, and made into ordinary datagrams when they are not.

use proptest::prelude::*;
use sockstack_stack::gso::{self, RxOffload, GSO_MAX_SIZE};
use sockstack_stack::{DropReason, IfaceId, InterfaceConfig, ProcessId, SocketHandle, Stack, StackConfig};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{
    checksum, ChecksumMode, Error, IpProtocol, Ipv4Addr, Ipv4Cidr, Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr, UdpPacket,
    UdpRepr,
};
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
    /// As the Linux kernel writes into a TUN device with offloads: every
    /// TCP checksum left partial (the pseudo-header's sum only), runs
    /// packed; b takes them with `receive_offloaded`.
    Kernel,
}

/// Leaves the TCP checksum of `datagram` as the kernel hands it to a
/// device that offloads it (`CHECKSUM_PARTIAL`): the pseudo-header's sum.
fn make_partial(datagram: &mut [u8]) {
    let ip = Ipv4Packet::new_checked(&datagram[..]).unwrap();
    let (src, dst, ihl) = (ip.src_addr(), ip.dst_addr(), usize::from(ip.header_len()));
    let proto = ip.next_header();
    let len = (usize::from(ip.total_len()) - ihl) as u32;
    let partial = checksum::pseudo_header(&src, &dst, proto.into(), len);
    match proto {
        IpProtocol::Tcp => TcpPacket::new_unchecked(&mut datagram[ihl..]).set_checksum(partial),
        IpProtocol::Udp => UdpPacket::new_unchecked(&mut datagram[ihl..]).set_checksum(partial),
        other => panic!("no transport checksum to leave partial in {other:?}"),
    }
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
            let gso_size = p.gso_size;
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
            for mut d in pieces {
                self.sent += 1;
                if (self.lose)(self.sent) {
                    continue;
                }
                if self.wire == Wire::Kernel {
                    make_partial(&mut d);
                    let rx = RxOffload { transport_checksum_ok: true, gso_size };
                    self.b.receive_offloaded(now, IfaceId(0), &mut d, rx);
                } else {
                    self.b.receive(now, IfaceId(0), &d);
                }
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
fn kernel_offload_runs_are_taken_whole() {
    let data = pattern(8 << 20);
    let mut plain = World::new(Wire::Plain);
    let mut kernel = World::new(Wire::Kernel);
    assert_eq!(digest(&kernel.transfer(&data, 1 << 20)), digest(&data));
    assert_eq!(digest(&plain.transfer(&data, 1 << 20)), digest(&data));
    assert!(kernel.packed_segments > 20 * kernel.packed, "long runs were packed");
    let (k, p) = (kernel.b.counters(), plain.b.counters());
    assert!(k.tcp_rx * 10 < p.tcp_rx, "segments b handled: {} from runs, {} plain", k.tcp_rx, p.tcp_rx);
    // No partial checksum was taken for a bad one.
    assert_eq!(k.dropped_total(), 0, "b dropped: {:?}", k.drops().collect::<Vec<_>>());
    // The same datagrams through the ordinary way: every partial checksum
    // is wrong there.
    let mut b = host(B, 13, false);
    let mut partial = kernel.a_to_b[kernel.a_to_b.len() / 2].clone();
    b.receive(Instant::ZERO, IfaceId(0), &partial);
    assert_eq!(b.counters().dropped(DropReason::TcpBadChecksum), 1);
    // And with the run's size but no word on the checksum, verified whole.
    b.receive_offloaded(
        Instant::ZERO,
        IfaceId(0),
        &mut partial,
        RxOffload { transport_checksum_ok: false, gso_size: None },
    );
    assert_eq!(b.counters().dropped(DropReason::TcpBadChecksum), 2);
}

/// A router between 203.0.113.0/24 (interface 0) and 192.0.2.0/24
/// (interface 1), forwarding.
fn router() -> Stack {
    let mut r = Stack::new(StackConfig { seed: 21, forwarding: true, ..StackConfig::default() });
    for (name, ip) in [("in0", Ipv4Addr::new(203, 0, 113, 254)), ("out1", Ipv4Addr::new(192, 0, 2, 254))] {
        r.add_interface(InterfaceConfig::new(name, Ipv4Cidr::new(ip, 24).unwrap()).with_mtu(MTU));
    }
    r
}

#[test]
fn offloaded_runs_not_for_the_stack_leave_as_ordinary_datagrams() {
    let mut world = World::new(Wire::Whole);
    world.transfer(&pattern(1 << 20), 1 << 20);
    let (frame, size) = world.first_packed.expect("an offload datagram");
    let expected = gso::segment(&frame, size).unwrap();
    assert!(expected.len() > 1);
    let mut r = router();
    let mut partial = frame.clone();
    make_partial(&mut partial);
    r.receive_offloaded(
        Instant::ZERO,
        IfaceId(0),
        &mut partial,
        RxOffload { transport_checksum_ok: true, gso_size: Some(size) },
    );
    let out: Vec<_> = std::iter::from_fn(|| r.dispatch()).collect();
    assert_eq!(out.len(), expected.len(), "the run left as the datagrams it stands for");
    for (got, want) in out.iter().zip(&expected) {
        assert_eq!(got.gso_size, None);
        assert_eq!(got.iface, IfaceId(1));
        let d = &got.data;
        assert!(d.len() <= MTU && d.len() == want.len());
        // Checksums whole again: both verify.
        let ip = Ipv4Packet::new_checked(&d[..]).unwrap();
        let repr = Ipv4Repr::parse(&ip, ChecksumMode::Verify).expect("IPv4 checksum");
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        TcpRepr::parse(&tcp, &repr.src_addr, &repr.dst_addr, ChecksumMode::Verify).expect("TCP checksum");
        // What a plain interface would have sent, one hop on.
        assert_eq!(d[8], want[8] - 1, "TTL");
        assert_eq!((&d[..8], &d[12..]), (&want[..8], &want[12..]));
    }
    assert_eq!(r.counters().ip_forwarded, expected.len() as u64);
    // A run that cannot be split is counted, never forwarded: a size of
    // zero, and a partial checksum the device did not vouch for.
    let mut bad = partial.clone();
    r.receive_offloaded(
        Instant::ZERO,
        IfaceId(0),
        &mut bad,
        RxOffload { transport_checksum_ok: true, gso_size: Some(0) },
    );
    let mut unvouched = frame.clone();
    make_partial(&mut unvouched);
    r.receive_offloaded(
        Instant::ZERO,
        IfaceId(0),
        &mut unvouched,
        RxOffload { transport_checksum_ok: false, gso_size: Some(size) },
    );
    assert_eq!(r.counters().dropped(DropReason::OffloadMalformed), 2);
    assert!(r.dispatch().is_none());
}

/// A UDP datagram from A to `dst`:7 carrying `body`, checksum partial.
fn partial_udp(dst: Ipv4Addr, body: &[u8]) -> Vec<u8> {
    let udp = UdpRepr { src_port: 5000, dst_port: 7 };
    let ip = Ipv4Repr {
        src_addr: A,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: 8 + body.len(),
        hop_limit: 64,
        ident: 9,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        dscp_ecn: 0,
    };
    let mut buf = vec![0u8; 28 + body.len()];
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), ChecksumMode::Verify);
    let fill = |p: &mut [u8]| p.copy_from_slice(body);
    udp.emit(&mut UdpPacket::new_unchecked(&mut buf[20..]), &A, &dst, body.len(), fill, ChecksumMode::Verify);
    make_partial(&mut buf);
    buf
}

#[test]
fn partial_udp_checksums_are_taken_and_completed_for_raw_sockets() {
    let rx = RxOffload { transport_checksum_ok: true, gso_size: None };
    let mut b = host(B, 14, false);
    let u = b.udp_open(P);
    b.bind(u, SocketAddrV4::new(B, 7)).unwrap();
    let mut d = partial_udp(B, b"left to the device");
    b.receive_offloaded(Instant::ZERO, IfaceId(0), &mut d, rx);
    let mut buf = [0u8; 64];
    let (n, from) =
        b.recv_from(u, &mut buf).unwrap_or_else(|e| panic!("{e}: {:?}", b.counters().drops().collect::<Vec<_>>()));
    assert_eq!((&buf[..n], from), (&b"left to the device"[..], SocketAddrV4::new(A, 5000)));
    // A raw UDP socket sees the datagram with its checksum made whole.
    let raw = b.raw_open(P, IpProtocol::Udp, false).unwrap();
    let mut d = partial_udp(B, b"seen raw");
    b.receive_offloaded(Instant::ZERO, IfaceId(0), &mut d, rx);
    let mut buf = [0u8; 128];
    let (n, _) = b.recv_from(raw, &mut buf).expect("the raw socket's copy");
    let ip = Ipv4Packet::new_checked(&buf[..n]).unwrap();
    let dgram = UdpPacket::new_checked(ip.payload()).unwrap();
    UdpRepr::parse(&dgram, &A, &B, ChecksumMode::Verify).expect("a whole UDP checksum");
    assert_eq!(b.recv_from(u, &mut buf).unwrap().0, 8);
    assert_eq!(b.counters().dropped_total(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Whatever a device says of whatever datagram, the stack never
    /// panics and counts each it was handed.
    #[test]
    fn arbitrary_offloaded_datagrams_never_panic(
        proto in prop::sample::select(vec![6u8, 17, 1]),
        body in prop::collection::vec(any::<u8>(), 0..3000),
        to_us in any::<bool>(),
        ok in any::<bool>(),
        gso_size in proptest::option::of(0u16..1600),
    ) {
        let mut r = router();
        let u = r.udp_open(P);
        let us = Ipv4Addr::new(203, 0, 113, 254);
        r.bind(u, SocketAddrV4::new(us, 7)).unwrap();
        let ip = Ipv4Repr {
            src_addr: Ipv4Addr::new(203, 0, 113, 9),
            dst_addr: if to_us { us } else { B },
            next_header: proto.into(),
            payload_len: body.len(),
            hop_limit: 64,
            ident: 1,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            dscp_ecn: 0,
        };
        let mut buf = vec![0u8; 20 + body.len()];
        buf[20..].copy_from_slice(&body);
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), ChecksumMode::Verify);
        r.receive_offloaded(Instant::ZERO, IfaceId(0), &mut buf, RxOffload { transport_checksum_ok: ok, gso_size });
        r.poll(Instant::from_secs(1));
        while r.dispatch().is_some() {}
        prop_assert!(r.counters().ip_rx >= 1);
    }
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
