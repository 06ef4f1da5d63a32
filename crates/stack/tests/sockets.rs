//! The socket table and the host stack, driven by hand: two stacks whose
//! packets are handed across directly, explicit time.

use proptest::prelude::*;
use sockstack_stack::{DropReason, InterfaceConfig, ProcessId, SocketHandle, Stack, StackConfig};
use sockstack_time::Instant;
use sockstack_wire::{IpProtocol, Ipv4Addr};
use std::io::ErrorKind;
use std::net::SocketAddrV4;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const P: ProcessId = ProcessId(1);

fn host(ip: Ipv4Addr, config: StackConfig) -> Stack {
    let mut s = Stack::new(config);
    s.add_interface(InterfaceConfig::new("eth0", sockstack_wire::Ipv4Cidr::new(ip, 24).unwrap()));
    s
}

/// Moves every queued packet from `from` to `to`; returns how many.
fn carry(now: Instant, from: &mut Stack, to: &mut Stack) -> usize {
    let mut n = 0;
    while let Some(p) = from.dispatch() {
        to.receive(now, sockstack_stack::IfaceId(0), &p.data);
        n += 1;
    }
    n
}

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

#[test]
fn misuse_returns_the_error_kind_a_socket_programmer_expects() {
    let mut s = host(A, StackConfig::default());
    let now = Instant::ZERO;
    let u = s.udp_open(P);
    // Not this host's address.
    assert_eq!(s.bind(u, sa(B, 53)).unwrap_err().kind(), ErrorKind::AddrNotAvailable);
    s.bind(u, sa(A, 53)).unwrap();
    // Bound twice.
    assert_eq!(s.bind(u, sa(A, 54)).unwrap_err().kind(), ErrorKind::InvalidInput);
    // Port taken.
    let v = s.udp_open(ProcessId(2));
    assert_eq!(s.bind(v, sa(A, 53)).unwrap_err().kind(), ErrorKind::AddrInUse);
    assert_eq!(s.bind(v, sa(Ipv4Addr::UNSPECIFIED, 53)).unwrap_err().kind(), ErrorKind::AddrInUse);
    // Not connected.
    assert_eq!(s.send(now, u, b"x").unwrap_err().kind(), ErrorKind::NotConnected);
    assert_eq!(s.peer_addr(u).unwrap_err().kind(), ErrorKind::NotConnected);
    // Nothing to read yet.
    let mut buf = [0u8; 8];
    assert_eq!(s.recv_from(u, &mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    // Bad arguments.
    assert_eq!(s.send_to(now, u, b"x", sa(B, 0)).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(s.connect(u, sa(Ipv4Addr::UNSPECIFIED, 7)).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(s.set_ttl(u, 0).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(s.set_recv_buffer_size(u, 0).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(s.send_to(now, u, &vec![0; 70_000], sa(B, 7)).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(s.raw_open(P, IpProtocol::Unknown(0), false).unwrap_err().kind(), ErrorKind::InvalidInput);
    // No route.
    assert_eq!(
        s.send_to(now, u, b"x", sa(Ipv4Addr::new(203, 0, 113, 1), 7)).unwrap_err().kind(),
        ErrorKind::NetworkUnreachable
    );
    // A closed handle is gone, and never aliases a new socket.
    s.close(u).unwrap();
    assert_eq!(s.close(u).unwrap_err().kind(), ErrorKind::NotFound);
    let w = s.udp_open(P);
    assert_ne!(u, w);
    assert_eq!(s.local_addr(u).unwrap_err().kind(), ErrorKind::NotFound);
    // Closing freed the port.
    s.bind(v, sa(A, 53)).unwrap();
}

#[test]
fn ephemeral_ports_run_out_with_addr_in_use() {
    let mut s = host(A, StackConfig { ephemeral_ports: (40000, 40009), ..StackConfig::default() });
    let mut ports = Vec::new();
    for _ in 0..10 {
        let h = s.udp_open(P);
        s.bind(h, sa(A, 0)).unwrap();
        ports.push(s.local_addr(h).unwrap().port());
    }
    ports.sort();
    assert_eq!(ports, (40000..40010).collect::<Vec<_>>());
    let h = s.udp_open(P);
    assert_eq!(s.bind(h, sa(A, 0)).unwrap_err().kind(), ErrorKind::AddrInUse);
}

#[test]
fn a_full_transmit_queue_pushes_back_and_recovers() {
    let mut s = host(A, StackConfig { tx_queue_len: 4, ..StackConfig::default() });
    let now = Instant::ZERO;
    let u = s.udp_open(P);
    for _ in 0..4 {
        s.send_to(now, u, b"x", sa(B, 9)).unwrap();
    }
    assert!(!s.readiness(u).unwrap().writable);
    assert_eq!(s.send_to(now, u, b"x", sa(B, 9)).unwrap_err().kind(), ErrorKind::WouldBlock);
    // A datagram needing three fragments does not fit in one free slot:
    // all fragments or none.
    s.dispatch().unwrap();
    assert_eq!(s.send_to(now, u, &[0u8; 4000], sa(B, 9)).unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(s.pending_tx(), 3);
    s.send_to(now, u, b"x", sa(B, 9)).unwrap();
    // Nothing was counted as dropped: back-pressure is not loss.
    assert_eq!(s.counters().dropped_total(), 0);
}

#[test]
fn sending_to_ourselves_loops_back_without_a_link() {
    let mut s = host(A, StackConfig::default());
    let now = Instant::ZERO;
    let server = s.udp_open(P);
    s.bind(server, sa(A, 7)).unwrap();
    let client = s.udp_open(P);
    s.send_to(now, client, b"self", sa(A, 7)).unwrap();
    s.send_to(now, client, b"lo", sa(Ipv4Addr::LOCALHOST, 7)).unwrap();
    assert_eq!(s.pending_tx(), 0, "nothing goes to a link");
    assert_eq!(s.poll_at(), Some(Instant::ZERO));
    s.poll(now);
    let m = s.recv_message(server).unwrap();
    assert_eq!((m.data.as_slice(), *m.src.ip()), (&b"self"[..], A));
    // 127.0.0.1 is ours too, but the socket is bound to A only.
    assert_eq!(s.recv_message(server).unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(s.counters().dropped(DropReason::UdpNoSocket), 1);
}

#[test]
fn icmp_errors_are_rate_limited() {
    let mut a = host(A, StackConfig::default());
    let mut b = host(B, StackConfig { icmp_rate_per_sec: 10, icmp_burst: 5, ..StackConfig::default() });
    let now = Instant::from_secs(1);
    let u = a.udp_open(P);
    for _ in 0..20 {
        a.send_to(now, u, b"x", sa(B, 9)).unwrap();
    }
    carry(now, &mut a, &mut b);
    assert_eq!(b.counters().icmp_tx, 5);
    assert_eq!(b.counters().dropped(DropReason::IcmpRateLimited), 15);
    // 100 ms later one more token per 100 ms has come back.
    let later = now + std::time::Duration::from_millis(200);
    a.send_to(later, u, b"x", sa(B, 9)).unwrap();
    a.send_to(later, u, b"x", sa(B, 9)).unwrap();
    a.send_to(later, u, b"x", sa(B, 9)).unwrap();
    carry(later, &mut a, &mut b);
    assert_eq!(b.counters().icmp_tx, 7);
}

#[test]
fn message_boundaries_are_kept_and_long_datagrams_truncate_like_recvfrom() {
    let mut a = host(A, StackConfig::default());
    let mut b = host(B, StackConfig::default());
    let now = Instant::ZERO;
    let tx = a.udp_open(P);
    let rx = b.udp_open(P);
    b.bind(rx, sa(B, 9)).unwrap();
    for msg in [&b"one"[..], b"", b"three!", &[9u8; 3000]] {
        a.send_to(now, tx, msg, sa(B, 9)).unwrap();
    }
    carry(now, &mut a, &mut b);
    let mut buf = [0u8; 5];
    assert_eq!(b.recv_from(rx, &mut buf).unwrap().0, 3);
    assert_eq!(&buf[..3], b"one");
    assert_eq!(b.recv_from(rx, &mut buf).unwrap().0, 0);
    assert_eq!(b.peek_len(rx).unwrap(), 6);
    assert_eq!(b.recv_from(rx, &mut buf).unwrap().0, 5, "the rest of a long datagram is discarded");
    assert_eq!(b.recv_message(rx).unwrap().data, vec![9u8; 3000]);
}

#[test]
fn close_owner_closes_every_socket_of_a_process_only() {
    let mut s = host(A, StackConfig::default());
    let mine: Vec<_> = (0..5).map(|_| s.udp_open(ProcessId(7))).collect();
    let theirs = s.udp_open(ProcessId(8));
    s.bind(mine[0], sa(A, 1000)).unwrap();
    s.raw_open(ProcessId(7), IpProtocol::Icmp, false).unwrap();
    assert_eq!(s.close_owner(ProcessId(7)), 6);
    assert_eq!(s.socket_count(), 1);
    assert_eq!(s.owner(theirs).unwrap(), ProcessId(8));
    s.bind(theirs, sa(A, 1000)).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes from a link never panic the stack, and every
    /// packet is accounted for: delivered, forwarded, or counted as a drop.
    #[test]
    fn arbitrary_packets_never_panic(packets in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 1..20)) {
        let mut s = host(B, StackConfig { forwarding: true, ..StackConfig::default() });
        let u = s.udp_open(P);
        s.bind(u, sa(B, 9)).unwrap();
        s.raw_open(P, IpProtocol::Icmp, false).unwrap();
        for p in &packets {
            s.receive(Instant::ZERO, sockstack_stack::IfaceId(0), p);
        }
        s.poll(Instant::from_secs(60));
        let c = s.counters();
        prop_assert_eq!(c.ip_rx, packets.len() as u64);
        prop_assert!(c.ip_delivered + c.ip_forwarded + c.ip_fragments_rx + c.dropped_total() >= c.ip_rx);
    }

    /// Valid IPv4 headers with random transport bytes, so the parsers
    /// past the IP layer are reached too.
    #[test]
    fn arbitrary_transport_payloads_never_panic(proto in prop::sample::select(vec![1u8, 17, 6, 89]), body in prop::collection::vec(any::<u8>(), 0..200), mf in any::<bool>(), off in 0u16..64) {
        let mut s = host(B, StackConfig::default());
        let u = s.udp_open(P);
        s.bind(u, sa(B, 9)).unwrap();
        let repr = sockstack_wire::Ipv4Repr {
            src_addr: A, dst_addr: B, next_header: proto.into(), payload_len: body.len(),
            hop_limit: 64, ident: 1, dont_frag: false, more_frags: mf, frag_offset: off * 8, dscp_ecn: 0,
        };
        let mut buf = vec![0u8; 20 + body.len()];
        buf[20..].copy_from_slice(&body);
        repr.emit(&mut sockstack_wire::Ipv4Packet::new_unchecked(&mut buf[..]), sockstack_wire::ChecksumMode::Verify);
        s.receive(Instant::ZERO, sockstack_stack::IfaceId(0), &buf);
        s.poll(Instant::from_secs(31));
        while s.dispatch().is_some() {}
        prop_assert_eq!(s.counters().ip_rx, 1);
    }
}

/// Carries `from`'s packets, all pure ACKs, to `to`; returns their ACK
/// numbers.
fn carry_acks(now: Instant, from: &mut Stack, to: &mut Stack) -> Vec<u32> {
    let mut acks = Vec::new();
    while let Some(p) = from.dispatch() {
        let ip = sockstack_wire::Ipv4Packet::new_checked(&p.data[..]).unwrap();
        let tcp = sockstack_wire::TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(tcp.payload().is_empty(), "the receiver sends nothing but ACKs");
        acks.push(tcp.ack_number().0);
        to.receive(now, sockstack_stack::IfaceId(0), &p.data);
    }
    acks
}

#[test]
fn a_batch_of_segments_is_answered_by_one_ack_of_at_most_64_kib() {
    let mut config = StackConfig::default();
    config.tcp.initial_cwnd = 100;
    config.tcp.snd_buf = 1 << 20;
    config.tcp.rcv_buf = 1 << 20;
    let (mut a, mut b) = (host(A, config.clone()), host(B, config));
    let now = Instant::ZERO;
    let (c, s) = connected(&mut a, &mut b);

    // Ten full segments (1448 octets of data beside the timestamps) arrive
    // together: one ACK covers them all.
    let data: Vec<u8> = (0..400_000u32).map(|i| (i * 31 % 251) as u8).collect();
    assert_eq!(a.tcp_send(now, c, &data[..14_480]).unwrap(), 14_480);
    assert_eq!(carry(now, &mut a, &mut b), 10);
    let acks = carry_acks(now, &mut b, &mut a);
    assert_eq!(acks.len(), 1, "one ACK for the batch");
    let first = acks[0];

    // Larger batches: an ACK at least every 64 KiB (GRO's largest merge),
    // never one per pair of segments.
    let total = data.len() - 14_480;
    let (mut sent, mut now) = (0, now);
    let (mut segments, mut acks_n, mut prev, mut widest) = (0, 0, first, 0);
    while (prev.wrapping_sub(first) as usize) < total {
        assert!(now < Instant::from_secs(10), "stalled");
        sent += a.tcp_send(now, c, &data[14_480 + sent..]).unwrap_or(0);
        let moved = carry(now, &mut a, &mut b);
        segments += moved;
        if moved == 0 {
            // A short tail waits for the delayed-ACK timer.
            now = [a.poll_at(), b.poll_at()].into_iter().flatten().min().unwrap().max(now);
            a.poll(now);
            b.poll(now);
        }
        for ack in carry_acks(now, &mut b, &mut a) {
            let covered = ack.wrapping_sub(prev) as usize;
            assert!(covered > 0 && covered <= 64 * 1024 + 1448, "one ACK covers {covered} octets");
            widest = widest.max(covered);
            acks_n += 1;
            prev = ack;
        }
    }
    assert!(widest > 32 * 1448, "ACKs cover whole batches (widest {widest})");
    assert!(acks_n * 10 < segments, "{acks_n} ACKs for {segments} segments");
    let mut got = vec![0u8; data.len()];
    let mut n = 0;
    while n < got.len() {
        n += b.tcp_recv(s, &mut got[n..]).unwrap();
    }
    assert_eq!(got, data);
}

/// Runs `conns` bulk transfers of `bytes` each from one stack to another,
/// byte-checked; returns the peak buffer growth charged on each side.
fn bulk_growth(tcp_mem_limit: usize, conns: usize, bytes: usize) -> (usize, usize) {
    let mut config = StackConfig { tcp_mem_limit, ..StackConfig::default() };
    config.tcp.snd_buf_max = 4 << 20;
    config.tcp.rcv_buf_max = 6 << 20;
    let (mut a, mut b) = (host(A, config.clone()), host(B, config));
    let mut now = Instant::ZERO;
    let l = b.tcp_open(P);
    b.bind(l, sa(B, 80)).unwrap();
    b.tcp_listen(l, 64).unwrap();
    let clients: Vec<_> = (0..conns)
        .map(|_| {
            let c = a.tcp_open(P);
            a.tcp_connect(now, c, sa(B, 80)).unwrap();
            c
        })
        .collect();
    while carry(now, &mut a, &mut b) + carry(now, &mut b, &mut a) > 0 {}
    let servers: Vec<_> = (0..conns).map(|_| b.tcp_accept(l).unwrap().0).collect();
    let data: Vec<u8> = (0..bytes as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let (mut sent, mut got) = (vec![0; conns], vec![Vec::new(); conns]);
    let mut buf = vec![0u8; 1 << 20];
    let (mut peak_a, mut peak_b) = (0, 0);
    while got.iter().any(|g| g.len() < bytes) {
        assert!(now < Instant::from_secs(60), "stalled");
        for i in 0..conns {
            sent[i] += a.tcp_send(now, clients[i], &data[sent[i]..]).unwrap_or(0);
        }
        let moved = carry(now, &mut a, &mut b) + carry(now, &mut b, &mut a);
        for i in 0..conns {
            while let Ok(n) = b.tcp_recv(servers[i], &mut buf) {
                got[i].extend_from_slice(&buf[..n]);
            }
        }
        peak_a = peak_a.max(a.tcp_memory_used());
        peak_b = peak_b.max(b.tcp_memory_used());
        // Each step takes a millisecond: round trips take time, which
        // receive-buffer auto-tuning measures.
        now += sockstack_time::Duration::from_millis(1);
        if moved == 0 {
            now = [a.poll_at(), b.poll_at()].into_iter().flatten().min().unwrap().max(now);
        }
        a.poll(now);
        b.poll(now);
    }
    for g in &got {
        assert!(g == &data, "every stream arrives intact");
    }
    (peak_a, peak_b)
}

#[test]
fn buffer_auto_tuning_shares_one_memory_budget() {
    // Unbounded, eight transfers grow their buffers to well over 4 MiB in
    // all; the budget holds them within twice its limit (the share rule).
    let limit = 2 << 20;
    let (free_a, free_b) = bulk_growth(usize::MAX, 8, 4 << 20);
    assert!(free_a + free_b > 4 * limit, "unbounded growth {free_a} + {free_b}");
    let (a, b) = bulk_growth(limit, 8, 4 << 20);
    assert!(a > 0 && b > 0, "buffers still grow");
    assert!(a <= 2 * limit && b <= 2 * limit, "growth {a} / {b} over the budget");
}

/// Moves `data` over a TCP connection from this host to itself; returns
/// what arrived.
/// A connection from this host to itself on `port`: (client, server).
fn loopback_pair(s: &mut Stack, port: u16) -> (SocketHandle, SocketHandle) {
    let now = Instant::ZERO;
    let l = s.tcp_open(P);
    s.bind(l, sa(A, port)).unwrap();
    s.tcp_listen(l, 8).unwrap();
    let c = s.tcp_open(P);
    s.tcp_connect(now, c, sa(A, port)).unwrap();
    s.poll(now);
    let (srv, _) = s.tcp_accept(l).unwrap();
    (c, srv)
}

/// Moves `data` from `c` to `srv` (a loopback pair); returns what arrived.
fn loopback_send(s: &mut Stack, c: SocketHandle, srv: SocketHandle, data: &[u8]) -> Vec<u8> {
    let now = Instant::ZERO;
    let (mut sent, mut got) = (0, Vec::new());
    let mut buf = vec![0u8; 65536];
    while got.len() < data.len() {
        sent += s.tcp_send(now, c, &data[sent..]).unwrap_or(0);
        s.poll(now);
        while let Ok(n) = s.tcp_recv(srv, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        s.poll(now);
    }
    assert_eq!(s.pending_tx(), 0, "nothing goes to a link");
    got
}

#[test]
fn loopback_tcp_skips_checksums_unless_a_raw_socket_watches() {
    let mut s = host(A, StackConfig::default());
    let data: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(40_503) >> 7) as u8).collect();
    // Built and accepted without checksums (as Linux's lo offloads them),
    // then handed straight between the two connections.
    let (c, srv) = loopback_pair(&mut s, 7000);
    let before = s.counters().tcp_rx;
    assert_eq!(loopback_send(&mut s, c, srv, &data), data);
    assert_eq!(s.counters().dropped_total(), 0);
    // At least one segment per largest local MSS (MTU 65535 less headers).
    let segments = s.counters().tcp_rx - before;
    assert!(segments as usize >= data.len().div_ceil(65_495), "{segments} segments counted");

    // A raw TCP socket sees every looped-back segment, with checksums a
    // receiver can verify: also those of a pair that handed segments
    // straight to each other before it opened.
    let raw = s.raw_open(P, IpProtocol::Tcp, false).unwrap();
    assert_eq!(loopback_send(&mut s, c, srv, &data), data);
    let mut seen = 0;
    while let Ok(m) = s.recv_message(raw) {
        let ip = sockstack_wire::Ipv4Packet::new_checked(&m.data[..]).unwrap();
        let ip_repr = sockstack_wire::Ipv4Repr::parse(&ip, sockstack_wire::ChecksumMode::Verify).unwrap();
        let tcp = sockstack_wire::TcpPacket::new_checked(ip.payload()).unwrap();
        sockstack_wire::TcpRepr::parse(
            &tcp,
            &ip_repr.src_addr,
            &ip_repr.dst_addr,
            sockstack_wire::ChecksumMode::Verify,
        )
        .expect("a valid TCP checksum");
        seen += 1;
    }
    assert!(seen >= data.len().div_ceil(65_495), "the raw socket saw {seen} segments");
}

#[test]
fn a_connection_follows_its_interface_going_down_and_up() {
    // A connection remembers its way out between flushes; taking the
    // interface down must still stop its segments at once, and bringing
    // it up must let the retransmission through.
    let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
    let (c, s) = connected(&mut a, &mut b);
    // No Nagle: each write is sent at once, acknowledged or not.
    a.tcp_set_nodelay(c, true).unwrap();
    let mut now = Instant::ZERO;
    assert_eq!(a.tcp_send(now, c, b"before").unwrap(), 6);
    assert_eq!(carry(now, &mut a, &mut b), 1);
    let mut buf = [0u8; 16];
    assert_eq!(b.tcp_recv(s, &mut buf).unwrap(), 6);

    a.set_interface_up(sockstack_stack::IfaceId(0), false).unwrap();
    assert_eq!(a.tcp_send(now, c, b"during").unwrap(), 6);
    assert!(a.dispatch().is_none(), "nothing leaves by a down interface");
    assert!(a.counters().dropped(DropReason::NoRoute) >= 1);

    a.set_interface_up(sockstack_stack::IfaceId(0), true).unwrap();
    let mut got = Vec::new();
    for _ in 0..100 {
        if let Some(t) = a.poll_at() {
            now = now.max(t);
        }
        a.poll(now);
        carry(now, &mut a, &mut b);
        carry(now, &mut b, &mut a);
        while let Ok(n) = b.tcp_recv(s, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == 6 {
            break;
        }
    }
    assert_eq!(got, b"during", "retransmitted once the interface is up");
}

/// An established connection a → b on port 80 (client, server).
fn connected(a: &mut Stack, b: &mut Stack) -> (SocketHandle, SocketHandle) {
    let now = Instant::ZERO;
    let l = b.tcp_open(P);
    b.bind(l, sa(B, 80)).unwrap();
    b.tcp_listen(l, 8).unwrap();
    let c = a.tcp_open(P);
    a.tcp_connect(now, c, sa(B, 80)).unwrap();
    while carry(now, a, b) + carry(now, b, a) > 0 {}
    let (s, _) = b.tcp_accept(l).unwrap();
    (c, s)
}

/// A connection's segments carry its TTL, and a new one from the next
/// segment on (the segment template is made anew for it), with the
/// addresses and ports they had.
#[test]
fn a_connection_sends_with_the_ttl_set_last() {
    let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
    let (c, _) = connected(&mut a, &mut b);
    a.tcp_set_nodelay(c, true).unwrap();
    let now = Instant::ZERO;
    let sent = |a: &mut Stack| {
        let p = a.dispatch().expect("a segment");
        let ip = sockstack_wire::Ipv4Packet::new_checked(&p.data[..]).unwrap();
        let tcp = sockstack_wire::TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(tcp.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
        (ip.ttl(), ip.src_addr(), ip.dst_addr(), tcp.src_port(), tcp.dst_port())
    };
    a.tcp_send(now, c, b"x").unwrap();
    let (ttl, src, dst, sport, dport) = sent(&mut a);
    assert_eq!((ttl, src, dst, dport), (64, A, B, 80));
    a.set_ttl(c, 9).unwrap();
    a.tcp_send(now, c, b"y").unwrap();
    assert_eq!(sent(&mut a), (9, A, B, sport, 80));
}

#[test]
fn damaged_in_order_data_is_dropped_before_it_changes_anything() {
    // In-order data is checksummed as it is copied into the receive
    // buffer (from 256 octets; shorter payloads before delivery): a
    // damaged segment must still be caught, counted and leave no trace,
    // wherever the damage is (payload, header or options).
    for len in [1000, 100] {
        damaged_segment_leaves_no_trace(len);
    }
}

fn damaged_segment_leaves_no_trace(len: usize) {
    let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
    let (c, s) = connected(&mut a, &mut b);
    let now = Instant::ZERO;
    let data: Vec<u8> = (0..len as u32).map(|i| (i * 7 + 3) as u8).collect();
    assert_eq!(a.tcp_send(now, c, &data).unwrap(), len);
    let p = a.dispatch().expect("one data segment");
    assert!(a.dispatch().is_none());
    let tcp_at = 20;
    for (at, what) in [
        (p.data.len() - 1, "last payload byte"),
        (tcp_at + 40, "first payload byte"),
        (tcp_at + 14, "window"),
        (tcp_at + 24, "timestamp option"),
    ] {
        let mut bad = p.data.clone();
        bad[at] ^= 0x40;
        let before = b.counters().dropped(DropReason::TcpBadChecksum);
        b.receive(now, sockstack_stack::IfaceId(0), &bad);
        assert_eq!(b.counters().dropped(DropReason::TcpBadChecksum), before + 1, "{what} damage caught");
        let mut buf = [0u8; 2000];
        assert_eq!(b.tcp_recv(s, &mut buf).unwrap_err().kind(), ErrorKind::WouldBlock, "{what}: nothing read");
        assert!(b.dispatch().is_none(), "{what}: nothing answered");
    }
    // The undamaged segment is then accepted, byte for byte.
    b.receive(now, sockstack_stack::IfaceId(0), &p.data);
    let mut buf = [0u8; 2000];
    assert_eq!(b.tcp_recv(s, &mut buf).unwrap(), len);
    assert_eq!(&buf[..len], &data[..]);
}

#[test]
fn received_bytes_are_read_in_place() {
    let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
    let (c, s) = connected(&mut a, &mut b);
    let now = Instant::ZERO;
    assert_eq!(b.tcp_recv_with(s, |_| unreachable!("nothing yet")).unwrap_err().kind(), ErrorKind::WouldBlock);
    let data: Vec<u8> = (0..50_000u32).map(|i| (i * 13 + 1) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    while got.len() < data.len() {
        sent += a.tcp_send(now, c, &data[sent..]).unwrap_or(0);
        carry(now, &mut a, &mut b);
        carry(now, &mut b, &mut a);
        // Take at most 1000 bytes per call: the rest stays for the next.
        while let Ok(n) = b.tcp_recv_with(s, |d| {
            let n = d.len().min(1000);
            got.extend_from_slice(&d[..n]);
            n
        }) {
            assert!(n > 0 && n <= 1000);
        }
    }
    assert_eq!(got, data);
    a.tcp_shutdown(now, c, std::net::Shutdown::Write).unwrap();
    carry(now, &mut a, &mut b);
    assert_eq!(b.tcp_recv_with(s, |_| unreachable!("end of stream")).unwrap(), 0);
}

#[test]
fn tcp_builds_one_batch_of_segments_ahead_of_the_link() {
    let mut config = StackConfig::default();
    config.tcp.initial_cwnd = 100;
    config.tcp_tx_batch = 8;
    let (mut a, mut b) = (host(A, config.clone()), host(B, config));
    let (c, s) = connected(&mut a, &mut b);
    let now = Instant::ZERO;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 29 + 5) as u8).collect();
    assert_eq!(a.tcp_send(now, c, &data).unwrap(), data.len());
    assert_eq!(a.pending_tx(), 8, "one batch built, the rest waits in the send buffer");
    // Draining the queue builds the next batch: everything arrives.
    let mut got = vec![0u8; data.len()];
    let mut n = 0;
    while n < data.len() {
        assert!(carry(now, &mut a, &mut b) + carry(now, &mut b, &mut a) > 0, "stalled at {n}");
        while n < data.len() {
            match b.tcp_recv(s, &mut got[n..]) {
                Ok(k) => n += k,
                Err(_) => break,
            }
        }
    }
    assert_eq!(got, data);
}

/// An ICMP destination unreachable (`reason`) from a router at
/// 192.0.2.254 to A about the datagram `quoted` (A's own), whose TCP
/// sequence number is replaced by `seq` when given (a forgery); `mtu` is
/// the next-hop MTU of a "fragmentation needed".
fn unreachable(quoted: &[u8], seq: Option<u32>, reason: sockstack_wire::DstUnreachable, mtu: u16) -> Vec<u8> {
    icmp_error(quoted, 3, reason.into(), u32::from(mtu), 8, seq)
}

fn frag_needed(quoted: &[u8], seq: Option<u32>, mtu: u16) -> Vec<u8> {
    unreachable(quoted, seq, sockstack_wire::DstUnreachable::FragRequired, mtu)
}

/// A firewall that rejects with ICMP port unreachable (iptables' default
/// REJECT) fails `connect` at once with ConnectionRefused, as on Linux,
/// instead of after a minute of SYN retransmissions; the port is free
/// again. The same message quoting another sequence number is ignored.
#[test]
fn port_unreachable_about_the_syn_refuses_the_connection() {
    let mut a = host(A, StackConfig::default());
    let now = Instant::ZERO;
    let c = a.tcp_open(P);
    a.tcp_connect(now, c, sa(B, 80)).unwrap();
    let syn = a.dispatch().expect("the SYN").data.to_vec();
    let port = a.local_addr(c).unwrap().port();
    let iss = u32::from_be_bytes(syn[24..28].try_into().unwrap());
    let refused = |seq| unreachable(&syn, seq, sockstack_wire::DstUnreachable::PortUnreachable, 0);
    a.receive(now, sockstack_stack::IfaceId(0), &refused(Some(iss.wrapping_add(1))));
    assert_eq!(a.counters().dropped(DropReason::IcmpOutOfWindow), 1);
    assert!(matches!(a.tcp_connect_status(c), Ok(false)), "still connecting");
    a.receive(now, sockstack_stack::IfaceId(0), &refused(None));
    a.poll(now);
    assert_eq!(a.tcp_connect_status(c).unwrap_err().kind(), ErrorKind::ConnectionRefused);
    assert!(a.dispatch().is_none(), "no more SYNs");
    a.close(c).unwrap();
    let again = a.tcp_open(P);
    a.bind(again, sa(A, port)).expect("the port is free");
}

/// A connected to B, with 20,000 octets sent as full-sized segments that
/// were taken off A's link (a narrower hop dropped them): the stacks, the
/// two ends, the data and the dropped datagrams.
fn full_segments_in_flight() -> (Stack, Stack, SocketHandle, SocketHandle, Vec<u8>, Vec<Vec<u8>>) {
    let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
    let (c, s) = connected(&mut a, &mut b);
    let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(a.tcp_send(Instant::ZERO, c, &data).unwrap(), data.len());
    let dropped: Vec<Vec<u8>> = std::iter::from_fn(|| a.dispatch().map(|p| p.data.to_vec())).collect();
    assert!(dropped.len() > 2 && dropped.iter().all(|d| d.len() == 1500), "full-sized segments");
    (a, b, c, s, data, dropped)
}

/// Lets 10 ms pass at a time, both stacks' timers running and their
/// packets crossing, until stream `s` on B has read `len` octets (a
/// minute at most); what it read.
fn receive_all(a: &mut Stack, b: &mut Stack, s: SocketHandle, len: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut t = Instant::ZERO;
    while got.len() < len && t < Instant::from_secs(60) {
        while let Ok(n @ 1..) = b.tcp_recv(s, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        t += sockstack_time::Duration::from_millis(10);
        a.poll(t);
        b.poll(t);
        while carry(t, a, b) + carry(t, b, a) > 0 {}
    }
    got
}

/// RFC 5927 §4.1: a "fragmentation needed" about a TCP connection is
/// believed only if it quotes a sequence number in flight. A forged one
/// (right 4-tuple, any other sequence number) changes neither the path
/// MTU nor the connection's MSS, and is counted; the genuine one lowers
/// both, and the segments the hop dropped are resent at once, smaller.
#[test]
fn frag_needed_is_believed_only_for_a_segment_in_flight() {
    let (mut a, mut b, c, s, data, dropped) = full_segments_in_flight();
    let now = Instant::ZERO;
    let mss = a.tcp_stats(c).unwrap().mss;
    let first_seq = u32::from_be_bytes(dropped[0][24..28].try_into().unwrap());
    for forged in [first_seq.wrapping_sub(1), first_seq.wrapping_add(data.len() as u32), first_seq ^ 0x8000_0000] {
        a.receive(now, sockstack_stack::IfaceId(0), &frag_needed(&dropped[0], Some(forged), 1000));
    }
    assert_eq!(a.counters().dropped(DropReason::IcmpOutOfWindow), 3);
    assert_eq!(a.learned_path_mtu(now, B), None);
    assert_eq!(a.tcp_stats(c).unwrap().mss, mss);
    assert!(a.dispatch().is_none(), "nothing resent for a forgery");
    // Genuine, but no lower than the link's MTU: a bogus report, not kept.
    for mtu in [1500, 9000] {
        a.receive(now, sockstack_stack::IfaceId(0), &frag_needed(&dropped[1], None, mtu));
    }
    assert_eq!(a.learned_path_mtu(now, B), None);
    assert_eq!(a.tcp_stats(c).unwrap().mss, mss);
    assert!(a.dispatch().is_none(), "nothing resent for a report that lowers nothing");
    // The genuine report, about the second segment.
    a.receive(now, sockstack_stack::IfaceId(0), &frag_needed(&dropped[1], None, 1000));
    assert_eq!(a.learned_path_mtu(now, B), Some(1000));
    assert!(a.tcp_stats(c).unwrap().mss < mss);
    a.poll(now);
    let resent: Vec<Vec<u8>> = std::iter::from_fn(|| a.dispatch().map(|p| p.data.to_vec())).collect();
    assert!(!resent.is_empty() && resent.iter().all(|d| d.len() <= 1000), "resent at once, to fit");
    for p in &resent {
        b.receive(now, sockstack_stack::IfaceId(0), p);
    }
    // The rest follows; everything arrives, in order.
    assert!(receive_all(&mut a, &mut b, s, data.len()) == data);
    assert_eq!(a.tcp_stats(c).unwrap().rto_timeouts, 0);
    // A later report of a larger MTU does not raise what was learned.
    a.receive(now, sockstack_stack::IfaceId(0), &frag_needed(&dropped[1], None, 1200));
    assert_eq!(a.learned_path_mtu(now, B), Some(1000));
}

/// A socket that connects to its own address and port meets itself in a
/// simultaneous open (RFC 9293 §3.5 Figure 8), as on Linux: it is
/// established, and reads what it writes.
#[test]
fn a_socket_connected_to_itself_reads_what_it_writes() {
    let mut s = host(A, StackConfig::default());
    let c = s.tcp_open(P);
    s.bind(c, sa(A, 5000)).unwrap();
    let mut now = Instant::ZERO;
    s.tcp_connect(now, c, sa(A, 5000)).unwrap();
    let settle = |s: &mut Stack, now: &mut Instant| {
        for _ in 0..20 {
            s.poll(*now);
            while s.dispatch().is_some() {}
            *now += sockstack_time::Duration::from_millis(10);
        }
    };
    settle(&mut s, &mut now);
    assert!(s.tcp_connect_status(c).unwrap());
    assert_eq!(s.peer_addr(c).unwrap(), sa(A, 5000));
    assert_eq!(s.tcp_send(now, c, b"hello me").unwrap(), 8);
    settle(&mut s, &mut now);
    let mut buf = [0u8; 16];
    assert_eq!(s.tcp_recv(c, &mut buf).unwrap(), 8);
    assert_eq!(&buf[..8], b"hello me");
}

/// The accept queue holds `backlog` + 1 connections, as Linux's
/// (`sk_acceptq_is_full`): with backlog 1, two clients get in and a third
/// client's SYNs are dropped. `listen` on a listener sets a new backlog,
/// as on Linux: the third gets in once the queue is longer.
#[test]
fn the_accept_queue_holds_backlog_plus_one_and_listen_again_sets_a_new_backlog() {
    let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
    let l = b.tcp_open(P);
    b.bind(l, sa(B, 80)).unwrap();
    b.tcp_listen(l, 1).unwrap();
    let mut now = Instant::ZERO;
    let run = |a: &mut Stack, b: &mut Stack, now: &mut Instant, secs: u64| {
        for _ in 0..secs * 10 {
            a.poll(*now);
            b.poll(*now);
            while carry(*now, a, b) + carry(*now, b, a) > 0 {}
            *now += sockstack_time::Duration::from_millis(100);
        }
    };
    let clients = [a.tcp_open(P), a.tcp_open(P), a.tcp_open(P)];
    for &c in &clients {
        a.tcp_connect(now, c, sa(B, 80)).unwrap();
        run(&mut a, &mut b, &mut now, 1);
    }
    run(&mut a, &mut b, &mut now, 2);
    assert!(a.tcp_connect_status(clients[0]).unwrap() && a.tcp_connect_status(clients[1]).unwrap());
    assert!(!a.tcp_connect_status(clients[2]).unwrap(), "the full accept queue drops its SYNs");
    b.tcp_listen(l, 4).unwrap();
    run(&mut a, &mut b, &mut now, 8);
    assert!(a.tcp_connect_status(clients[2]).unwrap());
    let mut peers: Vec<_> = (0..3).map(|_| b.tcp_accept(l).unwrap().1).collect();
    peers.sort();
    let mut want: Vec<_> = clients.iter().map(|&c| a.local_addr(c).unwrap()).collect();
    want.sort();
    assert_eq!(peers, want);
}

/// An ICMP error of type `kind` and code `code` from 192.0.2.254 to the
/// sender of `quoted` (a datagram it sent), quoting its IP header and the
/// first `tcp_octets` octets after it, with the TCP sequence number
/// replaced by `seq` when given; `word` is the message's second word (the
/// next-hop MTU of a "fragmentation needed"). Any type and code, and a
/// quote cut anywhere: what a router, or an attacker, may send.
fn icmp_error(quoted: &[u8], kind: u8, code: u8, word: u32, tcp_octets: usize, seq: Option<u32>) -> Vec<u8> {
    use sockstack_wire::{ChecksumMode, Ipv4Packet, Ipv4Repr};
    let ip = Ipv4Repr::parse(&Ipv4Packet::new_unchecked(quoted), ChecksumMode::Verify).unwrap();
    let mut quote = quoted[..20 + tcp_octets.min(quoted.len() - 20)].to_vec();
    if let Some(seq) = seq.filter(|_| quote.len() >= 28) {
        quote[24..28].copy_from_slice(&seq.to_be_bytes());
    }
    let mut icmp = vec![kind, code, 0, 0];
    icmp.extend_from_slice(&word.to_be_bytes());
    icmp.extend_from_slice(&quote);
    let sum = !sockstack_wire::checksum::data(&icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let outer = Ipv4Repr {
        src_addr: Ipv4Addr::new(192, 0, 2, 254),
        dst_addr: ip.src_addr,
        next_header: IpProtocol::Icmp,
        payload_len: icmp.len(),
        hop_limit: 64,
        ident: 7,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        dscp_ecn: 0,
    };
    let mut buf = vec![0u8; 20];
    outer.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), ChecksumMode::Verify);
    buf.extend_from_slice(&icmp);
    buf
}

/// One ICMP error of the storm below: its type, code, second word, how
/// much TCP header it quotes, a forged sequence number or the quoted
/// segment's own, whether it goes to the client (else the server), and
/// which of that end's last segments it quotes.
type IcmpEvent = (u8, u8, u32, usize, Option<u32>, bool, usize);

fn icmp_event() -> impl Strategy<Value = IcmpEvent> {
    (
        // Destination unreachable most of the time (it is what TCP acts
        // on), then source quench, redirect, time exceeded, parameter
        // problem.
        prop::sample::select(vec![3u8, 3, 3, 3, 4, 5, 11, 12]),
        0u8..16,
        prop_oneof![Just(0u32), 0u32..2000, any::<u32>()],
        prop_oneof![Just(8usize), 0usize..=40],
        prop::option::of(any::<u32>()),
        any::<bool>(),
        0usize..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// RFC 1122 §4.2.3.9 and RFC 5461: every ICMP error is soft for an
    /// established connection, and RFC 5927 §4.1: one quoting a sequence
    /// number out of flight is ignored. So a storm of them, genuine
    /// (quoting a segment in flight) or forged (any type, code, next-hop
    /// MTU, sequence number, quote cut anywhere), to either end of a
    /// transfer both ways never panics, never fails the connection, and
    /// every octet arrives in order; at worst a believed "fragmentation
    /// needed" makes the segments smaller.
    #[test]
    fn icmp_errors_never_break_an_established_transfer(events in prop::collection::vec(icmp_event(), 1..40), spacing in 1u64..8) {
        use std::collections::VecDeque;
        let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
        let (c, s) = connected(&mut a, &mut b);
        let up: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let down: Vec<u8> = (0..100_000u32).map(|i| (i * 13 + 5) as u8).collect();
        let (mut up_sent, mut down_sent) = (0, 0);
        let (mut up_got, mut down_got) = (Vec::new(), Vec::new());
        // The last segments each end sent, for the errors to quote.
        let (mut from_a, mut from_b) = (VecDeque::new(), VecDeque::new());
        let mut events = events.into_iter();
        let mut buf = vec![0u8; 8192];
        let mut now = Instant::ZERO;
        let mut step = 0u64;
        while up_got.len() < up.len() || down_got.len() < down.len() {
            prop_assert!(now < Instant::from_secs(300), "stalled: up {} down {}", up_got.len(), down_got.len());
            up_sent += a.tcp_send(now, c, &up[up_sent..]).unwrap_or(0);
            down_sent += b.tcp_send(now, s, &down[down_sent..]).unwrap_or(0);
            a.poll(now);
            b.poll(now);
            // A link of four datagrams a millisecond each way; now and
            // then, after a datagram, an error to one end.
            for _ in 0..4 {
                if let Some(p) = a.dispatch() {
                    from_a.push_front(p.data.to_vec());
                    from_a.truncate(8);
                    b.receive(now, sockstack_stack::IfaceId(0), &p.data);
                }
                if let Some(p) = b.dispatch() {
                    from_b.push_front(p.data.to_vec());
                    from_b.truncate(8);
                    a.receive(now, sockstack_stack::IfaceId(0), &p.data);
                }
                step += 1;
                if step % spacing == 0 {
                    if let Some((kind, code, word, quote, seq, to_a, which)) = events.next() {
                        let (sent, to) = if to_a { (&from_a, &mut a) } else { (&from_b, &mut b) };
                        if let Some(q) = sent.get(which.min(sent.len().saturating_sub(1))) {
                            to.receive(now, sockstack_stack::IfaceId(0), &icmp_error(q, kind, code, word, quote, seq));
                        }
                    }
                }
            }
            while let Ok(n @ 1..) = b.tcp_recv(s, &mut buf) {
                up_got.extend_from_slice(&buf[..n]);
            }
            while let Ok(n @ 1..) = a.tcp_recv(c, &mut buf) {
                down_got.extend_from_slice(&buf[..n]);
            }
            now += sockstack_time::Duration::from_millis(1);
        }
        for (stack, peer) in [(&a, B), (&b, A)] {
            prop_assert!(stack.learned_path_mtu(now, peer).is_none_or(|m| (68..1500).contains(&m)), "learned a bogus path MTU");
        }
        prop_assert!(up_got == up, "upload corrupted");
        prop_assert!(down_got == down, "download corrupted");
        for (stack, h) in [(&a, c), (&b, s)] {
            let stats = stack.tcp_stats(h).unwrap();
            prop_assert_eq!(stats.state, Some(sockstack_tcp::State::Established));
        }
    }
}

/// Counts its wakes.
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// `shutdown`, either way, wakes every task waiting on the stream (Linux
/// `inet_shutdown` calls `sk_state_change`, which wakes all waiters): a
/// read waiting for data ends with Ok(0) after `Read`; a write waiting for
/// room fails with BrokenPipe after `Write`, and must not sleep until
/// some ACK happens to come.
#[test]
fn shutdown_wakes_the_tasks_waiting_on_the_stream() {
    use std::net::Shutdown;
    use std::sync::{atomic::Ordering, Arc};
    for how in [Shutdown::Read, Shutdown::Write, Shutdown::Both] {
        let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
        let (c, _s) = connected(&mut a, &mut b);
        let now = Instant::ZERO;
        // A writer waits for room in a full send buffer; a reader for data.
        while a.tcp_send(now, c, &[7u8; 65536]).is_ok_and(|n| n > 0) {}
        let (rx, tx) = (Arc::new(CountingWaker(0.into())), Arc::new(CountingWaker(0.into())));
        a.register_recv_waker(c, &rx.clone().into()).unwrap();
        a.register_send_waker(c, &tx.clone().into()).unwrap();
        a.tcp_shutdown(now, c, how).unwrap();
        assert_eq!(rx.0.load(Ordering::SeqCst), 1, "{how:?}: the reader is woken");
        assert_eq!(tx.0.load(Ordering::SeqCst), 1, "{how:?}: the writer is woken");
        let mut buf = [0u8; 8];
        if how != Shutdown::Write {
            assert_eq!(a.tcp_recv(c, &mut buf).unwrap(), 0, "{how:?}: the read ends");
        }
        if how != Shutdown::Read {
            assert_eq!(a.tcp_send(now, c, b"x").unwrap_err().kind(), ErrorKind::BrokenPipe, "{how:?}");
        }
    }
}

/// As on Linux (`inet_shutdown`), `shutdown` of a connection that is over
/// (reset, or its connect refused) is `NotConnected`; of a live one, Ok.
/// `connect` on a listener is `AlreadyExists` (Linux: EISCONN).
#[test]
fn shutdown_of_a_connection_that_is_over_is_not_connected() {
    use std::net::Shutdown;
    let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
    let now = Instant::ZERO;
    // Refused: nobody listens on port 81.
    let refused = a.tcp_open(P);
    a.tcp_connect(now, refused, sa(B, 81)).unwrap();
    while carry(now, &mut a, &mut b) + carry(now, &mut b, &mut a) > 0 {}
    assert_eq!(a.tcp_connect_status(refused).unwrap_err().kind(), ErrorKind::ConnectionRefused);
    assert_eq!(a.tcp_shutdown(now, refused, Shutdown::Write).unwrap_err().kind(), ErrorKind::NotConnected);
    // Live, then reset by its peer.
    let (c, s) = connected(&mut a, &mut b);
    a.tcp_shutdown(now, c, Shutdown::Read).unwrap();
    b.tcp_set_linger(s, Some(sockstack_time::Duration::ZERO)).unwrap();
    b.close(s).unwrap();
    while carry(now, &mut a, &mut b) + carry(now, &mut b, &mut a) > 0 {}
    assert_eq!(a.tcp_shutdown(now, c, Shutdown::Both).unwrap_err().kind(), ErrorKind::NotConnected);
    // A listener cannot connect.
    let l = b.tcp_open(P);
    b.bind(l, sa(B, 90)).unwrap();
    b.tcp_listen(l, 4).unwrap();
    assert_eq!(b.tcp_connect(now, l, sa(A, 80)).unwrap_err().kind(), ErrorKind::AlreadyExists);
}

/// `shutdown` of a datagram socket lives in the stack: every receive and
/// send sees it, and so does `readiness` (a poller learns of it), and the
/// tasks waiting on the socket are woken. Only a connected socket may be
/// shut down, as on Linux.
#[test]
fn datagram_shutdown_is_seen_by_receives_sends_and_readiness() {
    use std::net::Shutdown;
    use std::sync::{atomic::Ordering, Arc};
    let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
    let now = Instant::ZERO;
    for how in [Shutdown::Read, Shutdown::Write, Shutdown::Both] {
        let (u, srv) = (a.udp_open(P), b.udp_open(P));
        b.bind(srv, sa(B, 9)).unwrap();
        assert_eq!(a.datagram_shutdown(u, how).unwrap_err().kind(), ErrorKind::NotConnected, "{how:?}");
        a.connect(u, sa(B, 9)).unwrap();
        a.send(now, u, b"before").unwrap();
        carry(now, &mut a, &mut b);
        b.connect(srv, a.local_addr(u).unwrap()).unwrap();
        b.send(now, srv, b"queued").unwrap();
        carry(now, &mut b, &mut a);
        let waiter = Arc::new(CountingWaker(0.into()));
        a.register_recv_waker(u, &waiter.clone().into()).unwrap();
        a.datagram_shutdown(u, how).unwrap();
        assert_eq!(waiter.0.load(Ordering::SeqCst), 1, "{how:?}: the waiting receive is woken");
        let ready = a.readiness(u).unwrap();
        let mut buf = [0u8; 16];
        if how == Shutdown::Write {
            // Reading goes on as before.
            assert_eq!(a.recv_from(u, &mut buf).unwrap(), (6, sa(B, 9)));
            assert_eq!(a.recv_from(u, &mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        } else {
            assert!(ready.readable, "{how:?}: a receive would not block");
            // End of stream at once, every time, from the peer.
            for _ in 0..2 {
                assert_eq!(a.recv_from(u, &mut buf).unwrap(), (0, sa(B, 9)), "{how:?}");
            }
            assert_eq!(a.peek_len(u).unwrap(), 0);
        }
        if how == Shutdown::Read {
            assert_eq!(a.send(now, u, b"after").unwrap(), 5, "sending goes on as before");
            assert_eq!(carry(now, &mut a, &mut b), 1);
        } else {
            assert!(ready.writable, "{how:?}: a send would not block");
            assert_eq!(a.send(now, u, b"after").unwrap_err().kind(), ErrorKind::BrokenPipe, "{how:?}");
            assert_eq!(carry(now, &mut a, &mut b), 0);
        }
        a.close(u).unwrap();
        b.close(srv).unwrap();
    }
}

/// A connected UDP socket hears only its peer; to anyone else its port
/// has no socket, so the datagram draws a port unreachable (RFC 1122
/// §4.1.3.1), as on Linux, and the sender's connected socket learns of
/// it (`ConnectionRefused`). The peer is still heard.
#[test]
fn a_connected_udp_socket_refuses_strangers_with_port_unreachable() {
    let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
    let now = Instant::ZERO;
    let (peer, stranger, srv) = (a.udp_open(P), a.udp_open(P), b.udp_open(P));
    a.bind(peer, sa(A, 1000)).unwrap();
    b.bind(srv, sa(B, 9)).unwrap();
    b.connect(srv, sa(A, 1000)).unwrap();
    a.connect(stranger, sa(B, 9)).unwrap();
    a.send(now, stranger, b"knock").unwrap();
    carry(now, &mut a, &mut b);
    let mut buf = [0u8; 16];
    assert_eq!(b.recv_from(srv, &mut buf).unwrap_err().kind(), ErrorKind::WouldBlock, "not delivered");
    assert_eq!(carry(now, &mut b, &mut a), 1, "a port unreachable goes back");
    assert_eq!(a.send(now, stranger, b"again").unwrap_err().kind(), ErrorKind::ConnectionRefused);
    a.send_to(now, peer, b"hello", sa(B, 9)).unwrap();
    carry(now, &mut a, &mut b);
    assert_eq!(b.recv_from(srv, &mut buf).unwrap(), (5, sa(A, 1000)));
    assert_eq!(&buf[..5], b"hello");
}

/// `connect` of a UDP socket not bound to an address fixes its local
/// address to the source its route gives (RFC 1122 §3.3.4.3), as Linux's
/// `ip4_datagram_connect` does: `local_addr` names it (the way programs
/// learn their outward address), and it keeps its port. Without a route
/// there is no connect.
#[test]
fn udp_connect_fixes_the_local_address_from_the_route() {
    let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
    let now = Instant::ZERO;
    let u = a.udp_open(P);
    a.bind(u, sa(Ipv4Addr::UNSPECIFIED, 7000)).unwrap();
    assert_eq!(a.local_addr(u).unwrap(), sa(Ipv4Addr::UNSPECIFIED, 7000));
    a.connect(u, sa(B, 9)).unwrap();
    assert_eq!(a.local_addr(u).unwrap(), sa(A, 7000));
    // Unbound: the ephemeral port it gets, on the routed address.
    let e = a.udp_open(P);
    a.connect(e, sa(B, 9)).unwrap();
    assert_eq!(*a.local_addr(e).unwrap().ip(), A);
    // To one of our own addresses: that address.
    let own = a.udp_open(P);
    a.connect(own, sa(A, 9)).unwrap();
    assert_eq!(*a.local_addr(own).unwrap().ip(), A);
    // A reply to the fixed address reaches it.
    let srv = b.udp_open(P);
    b.bind(srv, sa(B, 9)).unwrap();
    a.send(now, u, b"ping").unwrap();
    carry(now, &mut a, &mut b);
    let mut buf = [0u8; 8];
    let (n, from) = b.recv_from(srv, &mut buf).unwrap();
    assert_eq!((n, from), (4, sa(A, 7000)));
    b.send_to(now, srv, b"pong", from).unwrap();
    carry(now, &mut b, &mut a);
    assert_eq!(a.recv_from(u, &mut buf).unwrap(), (4, sa(B, 9)));
    // No route: refused, and the socket stays unbound.
    let lost = a.udp_open(P);
    let far = sa(Ipv4Addr::new(203, 0, 113, 9), 9);
    assert_eq!(a.connect(lost, far).unwrap_err().kind(), ErrorKind::NetworkUnreachable);
    assert_eq!(a.peer_addr(lost).unwrap_err().kind(), ErrorKind::NotConnected);
}

/// `peer_addr` of a stream names the peer only while the connection is
/// established or closing; while its SYN is out and once it is over,
/// `NotConnected`, as Linux's getpeername. `tcp_remote_addr` names the
/// 4-tuple's remote end in any state.
#[test]
fn stream_peer_addr_follows_the_connection() {
    let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
    let now = Instant::ZERO;
    let c = a.tcp_open(P);
    assert_eq!(a.peer_addr(c).unwrap_err().kind(), ErrorKind::NotConnected, "not connected");
    a.tcp_connect(now, c, sa(B, 81)).unwrap();
    assert_eq!(a.peer_addr(c).unwrap_err().kind(), ErrorKind::NotConnected, "SYN-SENT");
    assert_eq!(a.tcp_remote_addr(c).unwrap(), sa(B, 81));
    // Nobody listens on 81: refused, and over.
    while carry(now, &mut a, &mut b) + carry(now, &mut b, &mut a) > 0 {}
    assert_eq!(a.tcp_send(now, c, b"x").unwrap_err().kind(), ErrorKind::ConnectionRefused);
    assert_eq!(a.peer_addr(c).unwrap_err().kind(), ErrorKind::NotConnected, "refused");
    let (c, s) = connected(&mut a, &mut b);
    assert_eq!(a.peer_addr(c).unwrap(), sa(B, 80));
    assert_eq!(b.peer_addr(s).unwrap(), a.local_addr(c).unwrap());
    // The peer closes: CLOSE-WAIT still names it.
    b.tcp_shutdown(now, s, std::net::Shutdown::Write).unwrap();
    while carry(now, &mut b, &mut a) + carry(now, &mut a, &mut b) > 0 {}
    assert_eq!(a.tcp_state(c).unwrap(), sockstack_tcp::State::CloseWait);
    assert_eq!(a.peer_addr(c).unwrap(), sa(B, 80));
    // This end closes too: the one that closed first waits in TIME-WAIT.
    a.tcp_shutdown(now, c, std::net::Shutdown::Write).unwrap();
    while carry(now, &mut a, &mut b) + carry(now, &mut b, &mut a) > 0 {}
    assert_eq!(b.tcp_state(s).unwrap(), sockstack_tcp::State::TimeWait);
    assert_eq!(b.peer_addr(s).unwrap_err().kind(), ErrorKind::NotConnected, "TIME-WAIT");
    assert_eq!(b.tcp_remote_addr(s).unwrap(), a.local_addr(c).unwrap());
}

/// Stream readiness as Linux's `tcp_poll` reports it: a socket with no
/// connection is writable (a send fails at once), one whose handshake is
/// on is not (writable is how a non-blocking connect says it is done),
/// and one shut down for writing is writable even with its send buffer
/// full, since a send fails at once: a poller waiting to write wakes.
#[test]
fn stream_readiness_follows_tcp_poll() {
    let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
    let now = Instant::ZERO;
    let fresh = a.tcp_open(P);
    let r = a.readiness(fresh).unwrap();
    assert!(!r.readable && r.writable && !r.error, "no connection: {r:?}");
    let connecting = a.tcp_open(P);
    a.tcp_connect(now, connecting, sa(B, 80)).unwrap();
    let r = a.readiness(connecting).unwrap();
    assert!(!r.readable && !r.writable && !r.error, "SYN-SENT: {r:?}");
    let (c, _s) = connected(&mut a, &mut b);
    while a.tcp_send(now, c, &[7u8; 65536]).is_ok_and(|n| n > 0) {}
    let r = a.readiness(c).unwrap();
    assert!(!r.writable, "the send buffer is full: {r:?}");
    a.tcp_shutdown(now, c, std::net::Shutdown::Write).unwrap();
    let r = a.readiness(c).unwrap();
    assert!(r.writable && !r.error, "shut for writing: {r:?}");
    assert_eq!(a.tcp_send(now, c, b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
}

/// `connect` of a raw socket fixes its local address as UDP's does (Linux
/// `ip4_datagram_connect` serves both): the route's source address, which
/// `local_addr` then names; a socket bound to an address keeps it; no
/// route, no connect. The echo reply to the fixed address reaches it.
#[test]
fn raw_connect_fixes_the_local_address_from_the_route() {
    let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
    let now = Instant::ZERO;
    let r = a.raw_open(P, IpProtocol::Icmp, false).unwrap();
    assert_eq!(a.local_addr(r).unwrap(), sa(Ipv4Addr::UNSPECIFIED, 0));
    a.connect(r, sa(B, 0)).unwrap();
    assert_eq!(a.local_addr(r).unwrap(), sa(A, 0));
    assert_eq!(a.peer_addr(r).unwrap(), sa(B, 0));
    a.send(now, r, &sockstack_stack::ping::echo_request(7, 1, b"hi")).unwrap();
    carry(now, &mut a, &mut b);
    carry(now, &mut b, &mut a);
    let mut buf = [0u8; 64];
    let (n, from) = a.recv_from(r, &mut buf).unwrap();
    assert_eq!(from, sa(B, 0));
    // As on Linux, a raw IPv4 socket reads the IP header too.
    assert_eq!(buf[20], 0, "an echo reply");
    assert_eq!(&buf[n - 2..n], b"hi");
    // Bound to an address: connect keeps it.
    let bound = a.raw_open(P, IpProtocol::Icmp, false).unwrap();
    a.bind(bound, sa(Ipv4Addr::LOCALHOST, 0)).unwrap();
    a.connect(bound, sa(B, 0)).unwrap();
    assert_eq!(a.local_addr(bound).unwrap(), sa(Ipv4Addr::LOCALHOST, 0));
    // No route: refused, and the socket stays unbound and unconnected.
    let lost = a.raw_open(P, IpProtocol::Icmp, false).unwrap();
    let far = sa(Ipv4Addr::new(203, 0, 113, 9), 0);
    assert_eq!(a.connect(lost, far).unwrap_err().kind(), ErrorKind::NetworkUnreachable);
    assert_eq!(a.local_addr(lost).unwrap(), sa(Ipv4Addr::UNSPECIFIED, 0));
    assert_eq!(a.peer_addr(lost).unwrap_err().kind(), ErrorKind::NotConnected);
}

/// Don't Fragment, from a datagram's flags octet.
fn df(datagram: &[u8]) -> bool {
    datagram[6] & 0x40 != 0
}

/// A "fragmentation needed" below the floor (`StackConfig::min_pmtu`, 552
/// as Linux's `net.ipv4.route.min_pmtu`) cannot shrink a path to 68
/// octets: the path MTU becomes the floor, and is locked. The MSS comes
/// down only to fit 552 octets; the segments go without Don't Fragment,
/// for the narrow hop to fragment; a later report lowers nothing; when
/// the entry ages out, DF comes back. A report about a UDP datagram,
/// which nothing can check, is floored the same way.
#[test]
fn frag_needed_below_the_floor_locks_the_path_at_the_floor() {
    let (mut a, mut b, c, s, data, dropped) = full_segments_in_flight();
    let now = Instant::ZERO;
    assert!(dropped.iter().all(|d| df(d)), "DF set");
    a.receive(now, sockstack_stack::IfaceId(0), &frag_needed(&dropped[1], None, 68));
    assert_eq!(a.learned_path_mtu(now, B), Some(552));
    let mss = a.tcp_stats(c).unwrap().mss;
    assert!((500..=512).contains(&mss), "mss {mss}");
    a.poll(now);
    let resent: Vec<Vec<u8>> = std::iter::from_fn(|| a.dispatch().map(|p| p.data.to_vec())).collect();
    assert!(!resent.is_empty() && resent.iter().all(|d| d.len() <= 552 && !df(d)), "resent to fit, without DF");
    // Locked: a lower report changes nothing.
    a.receive(now, sockstack_stack::IfaceId(0), &frag_needed(&resent[0], None, 300));
    assert_eq!(a.learned_path_mtu(now, B), Some(552));
    assert_eq!(a.tcp_stats(c).unwrap().mss, mss);
    for p in &resent {
        b.receive(now, sockstack_stack::IfaceId(0), p);
    }
    assert!(receive_all(&mut a, &mut b, s, data.len()) == data);
    // Ten minutes on (RFC 1191 §6.3), the lock is gone and DF is back.
    let later = Instant::from_secs(601);
    assert_eq!(a.learned_path_mtu(later, B), None);
    a.tcp_send(later, c, b"more").unwrap();
    let segment = a.dispatch().expect("the new data").data.to_vec();
    assert!(df(&segment), "DF once the lock aged out");
    // About a UDP datagram: floored and locked too.
    let u = a.udp_open(P);
    a.send_to(later, u, &[7u8; 1000], sa(Ipv4Addr::new(192, 0, 2, 3), 9)).unwrap();
    let udp = a.dispatch().expect("the datagram").data.to_vec();
    a.receive(later, sockstack_stack::IfaceId(0), &frag_needed(&udp, None, 68));
    assert_eq!(a.learned_path_mtu(later, Ipv4Addr::new(192, 0, 2, 3)), Some(552));
}

/// Sockets share the stack's TCP options, and a listener's children its
/// own, until an option is set on one: then that socket and its
/// connection have options of their own, and no other socket changes.
#[test]
fn an_option_set_on_one_socket_leaves_the_others_as_they_were() {
    let (mut a, mut b) = (host(A, StackConfig::default()), host(B, StackConfig::default()));
    let now = Instant::ZERO;
    let l = b.tcp_open(P);
    b.bind(l, sa(B, 80)).unwrap();
    b.tcp_set_nodelay(l, true).unwrap();
    b.tcp_listen(l, 8).unwrap();
    let (c1, c2) = (a.tcp_open(P), a.tcp_open(P));
    a.tcp_connect(now, c1, sa(B, 80)).unwrap();
    a.tcp_connect(now, c2, sa(B, 80)).unwrap();
    while carry(now, &mut a, &mut b) + carry(now, &mut b, &mut a) > 0 {}
    let (s1, _) = b.tcp_accept(l).unwrap();
    let (s2, _) = b.tcp_accept(l).unwrap();

    // Nagle (RFC 896): a second short write waits while the first is
    // unacknowledged, unless no-delay is set on that connection.
    let writes_out = |st: &mut Stack, h: SocketHandle| {
        st.tcp_send(now, h, b"a").unwrap();
        st.tcp_send(now, h, b"b").unwrap();
        std::iter::from_fn(|| st.dispatch()).count()
    };
    a.tcp_set_nodelay(c1, true).unwrap();
    assert!(a.tcp_nodelay(c1).unwrap());
    assert!(!a.tcp_nodelay(c2).unwrap(), "set on c1 only");
    assert_eq!(writes_out(&mut a, c1), 2, "no-delay: both writes go at once");
    assert_eq!(writes_out(&mut a, c2), 1, "Nagle: the second write waits");

    // The children have the listener's options; one changed leaves the
    // other and the listener as they were.
    assert!(b.tcp_nodelay(s1).unwrap() && b.tcp_nodelay(s2).unwrap());
    b.tcp_set_nodelay(s1, false).unwrap();
    assert!(!b.tcp_nodelay(s1).unwrap());
    assert!(b.tcp_nodelay(s2).unwrap() && b.tcp_nodelay(l).unwrap());
    assert_eq!(writes_out(&mut b, s1), 1, "Nagle on s1 again");
    assert_eq!(writes_out(&mut b, s2), 2, "s2 keeps no-delay");

    // Buffer sizes set on the listener reach the connections it accepts
    // from then on, not those it accepted before.
    let default_rcv = StackConfig::default().tcp.rcv_buf;
    assert_eq!(b.tcp_stats(s1).unwrap().rcv_buf, default_rcv);
    b.tcp_set_buffer_sizes(l, Some(8192), Some(65536)).unwrap();
    let c3 = a.tcp_open(P);
    a.tcp_connect(now, c3, sa(B, 80)).unwrap();
    while carry(now, &mut a, &mut b) + carry(now, &mut b, &mut a) > 0 {}
    let (s3, _) = b.tcp_accept(l).unwrap();
    let st3 = b.tcp_stats(s3).unwrap();
    assert_eq!((st3.rcv_buf, st3.snd_buf), (8192, 65536));
    assert!(b.tcp_nodelay(s3).unwrap(), "the listener's no-delay still holds");
    for s in [s1, s2] {
        assert_eq!(b.tcp_stats(s).unwrap().rcv_buf, default_rcv, "accepted before: unchanged");
    }
    assert_eq!(a.tcp_stats(c3).unwrap().rcv_buf, default_rcv, "the other stack: unchanged");
}
