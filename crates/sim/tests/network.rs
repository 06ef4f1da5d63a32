//! Integration tests across the in-memory network: hosts, switches,
//! routers and impaired links, driven in virtual time.

use sockstack_sim::{HostId, LinkConfig, Sim};
use sockstack_stack::ping::{echo_request, parse_echo_reply};
use sockstack_stack::DropReason;
use sockstack_time::{Duration, Instant};
use sockstack_wire::{
    ChecksumMode, DstUnreachable, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Addr, Ipv4Packet, Ipv4Repr, TimeExceeded,
    UdpPacket, UdpRepr,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddrV4;
use std::rc::Rc;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

/// Two hosts on one switch with `link`'s impairments.
fn two_hosts(seed: u64, link: LinkConfig) -> (Sim, HostId, HostId) {
    let mut sim = Sim::new(seed);
    let lan = sim.add_switch("lan", "192.0.2.0/24".parse().unwrap(), link).unwrap();
    let a = sim.add_host("a");
    let b = sim.add_host("b");
    sim.attach(a, lan, A).unwrap();
    sim.attach(b, lan, B).unwrap();
    (sim, a, b)
}

/// a — r — b with a router between two prefixes.
fn routed(seed: u64, left: LinkConfig, right: LinkConfig) -> (Sim, HostId, HostId, HostId) {
    let mut sim = Sim::new(seed);
    let a = sim.add_host("a");
    let r = sim.add_router("r");
    let b = sim.add_host("b");
    sim.connect("left", a, "192.0.2.1/24".parse().unwrap(), r, "192.0.2.254/24".parse().unwrap(), left).unwrap();
    sim.connect("right", r, "198.51.100.254/24".parse().unwrap(), b, "198.51.100.1/24".parse().unwrap(), right)
        .unwrap();
    sim.stack_mut(a).set_default_gateway("192.0.2.254".parse().unwrap()).unwrap();
    sim.stack_mut(b).set_default_gateway("198.51.100.254".parse().unwrap()).unwrap();
    (sim, a, r, b)
}

/// The payload of datagram `seq`: its number then a pattern derived from it.
fn pattern(seq: u32, len: usize) -> Vec<u8> {
    let mut v = seq.to_be_bytes().to_vec();
    v.extend((0..len.saturating_sub(4)).map(|i| (seq as usize * 31 + i * 7) as u8));
    v
}

fn check_pattern(data: &[u8]) -> Option<u32> {
    let seq = u32::from_be_bytes(data.get(..4)?.try_into().ok()?);
    (pattern(seq, data.len()) == data).then_some(seq)
}

#[test]
fn udp_echo_on_a_perfect_link_keeps_every_message_intact_and_in_order() {
    let (mut sim, a, b) = two_hosts(1, LinkConfig::default().with_latency(Duration::from_millis(2)));
    sim.spawn(b, "echo", |p| async move {
        let s = p.udp_bind(sa(B, 7)).unwrap();
        loop {
            let m = s.recv_message().await.unwrap();
            s.send_to(&m.data, m.src).await.unwrap();
        }
    });
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let client = sim.spawn(a, "client", move |p| async move {
        let s = p.udp_bind(sa(A, 0)).unwrap();
        for seq in 0..200u32 {
            s.send_to(&pattern(seq, 100 + seq as usize), sa(B, 7)).await.unwrap();
            let m = s.recv_message().await.unwrap();
            assert_eq!(m.src, sa(B, 7));
            g.borrow_mut().push(check_pattern(&m.data).expect("intact"));
        }
    });
    assert!(sim.run_until_finished(client));
    assert_eq!(*got.borrow(), (0..200).collect::<Vec<_>>());
    // 200 round trips of 2 × 2 ms.
    assert_eq!(sim.now(), Instant::from_millis(800));
}

#[test]
fn impaired_link_loses_and_corrupts_but_never_delivers_a_damaged_datagram() {
    let link = LinkConfig::default()
        .with_latency(Duration::from_millis(1))
        .with_jitter(Duration::from_micros(500))
        .with_loss(0.05)
        .with_duplicate(0.05)
        .with_reorder(0.1)
        .with_corrupt(0.05);
    let (mut sim, a, b) = two_hosts(7, link);
    let received = Rc::new(RefCell::new(HashMap::<u32, u32>::new()));
    let r = received.clone();
    sim.spawn(b, "sink", move |p| async move {
        let s = p.udp_bind(sa(B, 9)).unwrap();
        loop {
            let m = s.recv_message().await.unwrap();
            let seq = check_pattern(&m.data).expect("a corrupted datagram reached the application");
            *r.borrow_mut().entry(seq).or_default() += 1;
        }
    });
    let sender = sim.spawn(a, "source", |p| async move {
        let s = p.udp_bind(sa(A, 0)).unwrap();
        for seq in 0..2000u32 {
            s.send_to(&pattern(seq, 200), sa(B, 9)).await.unwrap();
            p.sleep(Duration::from_micros(100)).await;
        }
    });
    assert!(sim.run_until_finished(sender));
    sim.run_until_idle();
    let received = received.borrow();
    let distinct = received.len();
    let duplicates: u32 = received.values().map(|n| n - 1).sum();
    // About 5% lost and 5% corrupted: well over 80% arrive, not all do.
    assert!(distinct > 1600 && distinct < 2000, "distinct {distinct}");
    assert!(duplicates > 20, "duplicates {duplicates}");
    let c = sim.stack(b).counters().clone();
    let caught = c.dropped(DropReason::IpBadChecksum)
        + c.dropped(DropReason::UdpBadChecksum)
        + c.dropped(DropReason::IpBadVersion)
        + c.dropped(DropReason::IpBadLength)
        + c.dropped(DropReason::IpTruncated)
        + c.dropped(DropReason::UdpMalformed)
        + c.dropped(DropReason::UdpNoSocket)
        + c.dropped(DropReason::NotForUs)
        + c.dropped(DropReason::IpBadSource)
        + c.dropped(DropReason::ProtoUnreachable);
    assert!(caught >= 50, "corrupted packets must be caught and counted: {c}");
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    fn run(seed: u64) -> Vec<String> {
        let link = LinkConfig::default().with_latency(Duration::from_millis(1)).with_loss(0.2).with_reorder(0.2);
        let (mut sim, a, b) = two_hosts(seed, link);
        let trace = Rc::new(RefCell::new(Vec::new()));
        let t = trace.clone();
        sim.set_tracer(move |e| t.borrow_mut().push(format!("{} {} {:?} {:?}", e.at, e.host, e.direction, e.packet)));
        sim.spawn(b, "sink", |p| async move {
            let s = p.udp_bind(sa(B, 9)).unwrap();
            loop {
                s.recv_message().await.unwrap();
            }
        });
        sim.spawn(a, "src", |p| async move {
            let s = p.udp_bind(sa(A, 0)).unwrap();
            for i in 0..100u32 {
                s.send_to(&i.to_be_bytes(), sa(B, 9)).await.unwrap();
            }
        });
        sim.run_until_idle();
        let v = trace.borrow().clone();
        v
    }
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn ping_through_a_router_decrements_ttl_and_round_trips() {
    let link = LinkConfig::default().with_latency(Duration::from_millis(5));
    let (mut sim, a, _r, _b) = routed(1, link.clone(), link);
    let dst: Ipv4Addr = "198.51.100.1".parse().unwrap();
    let pinger = sim.spawn(a, "ping", move |p| async move {
        let s = p.raw_socket(IpProtocol::Icmp, false).unwrap();
        let mut buf = [0u8; 1500];
        for seq in 1..=3 {
            let t0 = p.now();
            s.send_to(&echo_request(77, seq, b"hello"), dst).await.unwrap();
            let (n, from) = s.recv_from(&mut buf).await.unwrap();
            let r = parse_echo_reply(&buf[..n]).expect("echo reply");
            assert_eq!((from, r.from, r.ident, r.seq_no, r.ttl), (dst, dst, 77, seq, 63));
            assert_eq!(r.data, b"hello");
            assert_eq!(p.now() - t0, Duration::from_millis(20));
        }
    });
    assert!(sim.run_until_finished(pinger));
}

/// Parses an ICMP error the raw socket received.
fn icmp_of(packet: &[u8]) -> Option<(Ipv4Addr, String)> {
    let ip = Ipv4Packet::new_checked(packet).ok()?;
    let icmp = Icmpv4Packet::new_checked(ip.payload()).ok()?;
    let what = match Icmpv4Repr::parse(&icmp, ChecksumMode::Verify).ok()? {
        Icmpv4Repr::DstUnreachable { reason, next_hop_mtu, .. } => format!("unreachable {reason:?} mtu {next_hop_mtu}"),
        Icmpv4Repr::TimeExceeded { reason, .. } => format!("time exceeded {reason:?}"),
        other => format!("{other:?}"),
    };
    Some((ip.src_addr(), what))
}

#[test]
fn ttl_expiry_at_a_router_returns_time_exceeded() {
    let (mut sim, a, r, _b) = routed(1, LinkConfig::default(), LinkConfig::default());
    let t = sim.spawn(a, "traceroute", |p| async move {
        let icmp = p.raw_socket(IpProtocol::Icmp, false).unwrap();
        let udp = p.udp_bind(sa(A, 0)).unwrap();
        udp.set_ttl(1).unwrap();
        udp.send_to(b"probe", sa("198.51.100.1".parse().unwrap(), 33434)).await.unwrap();
        let mut buf = [0u8; 1500];
        let (n, _) = icmp.recv_from(&mut buf).await.unwrap();
        assert_eq!(
            icmp_of(&buf[..n]),
            Some(("192.0.2.254".parse().unwrap(), format!("time exceeded {:?}", TimeExceeded::TtlExpired)))
        );
        // With TTL 2 the probe reaches b, whose closed port answers.
        udp.set_ttl(2).unwrap();
        udp.send_to(b"probe", sa("198.51.100.1".parse().unwrap(), 33434)).await.unwrap();
        let (n, _) = icmp.recv_from(&mut buf).await.unwrap();
        assert_eq!(
            icmp_of(&buf[..n]),
            Some(("198.51.100.1".parse().unwrap(), format!("unreachable {:?} mtu 0", DstUnreachable::PortUnreachable)))
        );
    });
    assert!(sim.run_until_finished(t));
    assert_eq!(sim.stack(r).counters().dropped(DropReason::TtlExpired), 1);
}

#[test]
fn router_fragments_for_a_narrow_link_and_the_datagram_arrives_whole() {
    let narrow = LinkConfig::default().with_mtu(576);
    let (mut sim, a, r, b) = routed(1, LinkConfig::default(), narrow);
    let dst = SocketAddrV4::new("198.51.100.1".parse().unwrap(), 9);
    let sink = sim.spawn(b, "sink", move |p| async move {
        let s = p.udp_bind(dst).unwrap();
        let m = s.recv_message().await.unwrap();
        assert_eq!(m.data, pattern(42, 1400));
    });
    sim.spawn(a, "src", move |p| async move {
        let s = p.udp_bind(sa(A, 0)).unwrap();
        s.send_to(&pattern(42, 1400), dst).await.unwrap();
    });
    assert!(sim.run_until_finished(sink));
    let rc = sim.stack(r).counters().clone();
    assert_eq!(rc.ip_fragments_tx, 3, "1428 bytes over MTU 576: three fragments");
    assert_eq!(sim.stack(b).counters().ip_reassembled, 1);
}

#[test]
fn df_over_a_narrow_link_gets_frag_needed_and_the_sender_learns_the_path_mtu() {
    let narrow = LinkConfig::default().with_mtu(1000);
    let (mut sim, a, r, b) = routed(1, LinkConfig::default(), narrow);
    let dst = SocketAddrV4::new("198.51.100.1".parse().unwrap(), 9);
    let got = Rc::new(RefCell::new(0usize));
    let g = got.clone();
    sim.spawn(b, "sink", move |p| async move {
        let s = p.udp_bind(dst).unwrap();
        loop {
            let m = s.recv_message().await.unwrap();
            assert_eq!(m.data, pattern(1, 1200));
            *g.borrow_mut() += 1;
        }
    });
    let t = sim.spawn(a, "src", move |p| async move {
        let s = p.udp_bind(sa(A, 0)).unwrap();
        s.set_dont_fragment(true).unwrap();
        s.send_to(&pattern(1, 1200), dst).await.unwrap();
        p.sleep(Duration::from_millis(10)).await;
        // RFC 1191: the router's frag-needed taught us the MTU.
        let now = p.now();
        assert_eq!(p.with_stack(|st| st.learned_path_mtu(now, *dst.ip())), Some(1000));
        let e = s.send_to(&pattern(1, 1200), dst).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        // Without DF the sender now fragments to the learned MTU itself.
        s.set_dont_fragment(false).unwrap();
        s.send_to(&pattern(1, 1200), dst).await.unwrap();
        p.sleep(Duration::from_millis(10)).await;
    });
    assert!(sim.run_until_finished(t));
    assert_eq!(*got.borrow(), 1);
    assert_eq!(sim.stack(r).counters().dropped(DropReason::FragNeeded), 1);
    assert_eq!(sim.stack(r).counters().ip_fragments_tx, 0, "the router never had to fragment");
    assert_eq!(sim.stack(a).counters().ip_fragments_tx, 2);
}

#[test]
fn a_datagram_to_a_closed_port_refuses_a_connected_socket() {
    let (mut sim, a, b) = two_hosts(1, LinkConfig::default());
    let t = sim.spawn(a, "c", |p| async move {
        let s = p.udp_bind(sa(A, 0)).unwrap();
        s.connect(sa(B, 4444)).unwrap();
        s.send(b"x").await.unwrap();
        let mut buf = [0u8; 8];
        let e = s.recv_from(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        // The error is reported once; the socket stays usable.
        s.send(b"y").await.unwrap();
    });
    assert!(sim.run_until_finished(t));
    sim.run_until_idle();
    assert_eq!(sim.stack(b).counters().dropped(DropReason::UdpNoSocket), 2);
}

#[test]
fn a_full_receive_queue_drops_and_counts_instead_of_growing() {
    let (mut sim, a, b) = two_hosts(1, LinkConfig::default());
    let sink = sim.spawn(b, "slow", |p| async move {
        let s = p.udp_bind(sa(B, 9)).unwrap();
        s.set_recv_buffer_size(10 * (100 + 256)).unwrap();
        p.sleep(Duration::from_secs(1)).await;
        assert_eq!(s.queued(), 10);
        let mut seen = Vec::new();
        for _ in 0..10 {
            let m = s.recv_message().await.unwrap();
            seen.push(check_pattern(&m.data).unwrap());
        }
        // The first ten were kept, in order; nothing accepted was lost.
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
    });
    sim.spawn(a, "fast", |p| async move {
        let s = p.udp_bind(sa(A, 0)).unwrap();
        for seq in 0..50 {
            s.send_to(&pattern(seq, 100), sa(B, 9)).await.unwrap();
        }
    });
    assert!(sim.run_until_finished(sink));
    assert_eq!(sim.stack(b).counters().dropped(DropReason::UdpQueueFull), 40);
}

#[test]
fn broadcast_reaches_every_host_on_the_segment_but_not_the_sender() {
    let mut sim = Sim::new(1);
    let lan = sim.add_switch("lan", "192.0.2.0/24".parse().unwrap(), LinkConfig::default()).unwrap();
    let hosts: Vec<HostId> = (1..=4).map(|i| sim.add_host(&format!("h{i}"))).collect();
    for (i, &h) in hosts.iter().enumerate() {
        sim.attach(h, lan, Ipv4Addr::new(192, 0, 2, i as u8 + 1)).unwrap();
    }
    let heard = Rc::new(RefCell::new(Vec::new()));
    for &h in &hosts[1..] {
        let heard = heard.clone();
        sim.spawn(h, "listener", move |p| async move {
            let s = p.udp_bind(sa(Ipv4Addr::UNSPECIFIED, 5353)).unwrap();
            let m = s.recv_message().await.unwrap();
            heard.borrow_mut().push((p.host_name(), m.data, *m.dst.ip()));
        });
    }
    sim.spawn(hosts[0], "announcer", |p| async move {
        let s = p.udp_bind(sa(A, 0)).unwrap();
        s.send_to(b"hello all", sa("192.0.2.255".parse().unwrap(), 5353)).await.unwrap();
    });
    sim.run_until_idle();
    let mut heard = heard.borrow().clone();
    heard.sort();
    assert_eq!(heard.len(), 3);
    for (i, (name, data, dst)) in heard.iter().enumerate() {
        assert_eq!(name, &format!("h{}", i + 2));
        assert_eq!(data, b"hello all");
        assert_eq!(dst, &"192.0.2.255".parse::<Ipv4Addr>().unwrap());
    }
    // No ICMP port unreachable is ever sent about a broadcast.
    for &h in &hosts {
        assert_eq!(sim.stack(h).counters().icmp_tx, 0);
    }
}

#[test]
fn process_exit_frees_its_ports_and_sockets() {
    let (mut sim, a, _b) = two_hosts(1, LinkConfig::default());
    let first = sim.spawn(a, "first", |p| async move {
        let s = p.udp_bind(sa(A, 53)).unwrap();
        std::mem::forget(s); // leaked by the program: the exit must still free it
        let e = p.udp_bind(sa(A, 53)).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    });
    assert!(sim.run_until_finished(first));
    assert_eq!(sim.stack(a).socket_count(), 0);
    let second = sim.spawn(a, "second", |p| async move {
        p.udp_bind(sa(A, 53)).expect("port 53 is free again");
    });
    assert!(sim.run_until_finished(second));
}

/// Builds a whole IPv4+UDP datagram by hand, for header-included sends.
fn handmade_udp(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8], more_frags: bool, ident: u16) -> Vec<u8> {
    let udp = UdpRepr { src_port: src.port(), dst_port: dst.port() };
    let ip = Ipv4Repr {
        src_addr: *src.ip(),
        dst_addr: *dst.ip(),
        next_header: IpProtocol::Udp,
        payload_len: 8 + payload.len(),
        hop_limit: 64,
        ident,
        dont_frag: false,
        more_frags,
        frag_offset: 0,
        dscp_ecn: 0,
    };
    let mut buf = vec![0u8; 20 + 8 + payload.len()];
    udp.emit(
        &mut UdpPacket::new_unchecked(&mut buf[20..]),
        src.ip(),
        dst.ip(),
        payload.len(),
        |p| p.copy_from_slice(payload),
        ChecksumMode::Verify,
    );
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), ChecksumMode::Verify);
    buf
}

#[test]
fn header_included_raw_send_is_validated_and_delivered() {
    let (mut sim, a, b) = two_hosts(1, LinkConfig::default());
    let sink = sim.spawn(b, "sink", |p| async move {
        let s = p.udp_bind(sa(B, 9)).unwrap();
        let m = s.recv_message().await.unwrap();
        assert_eq!((m.src, m.data.as_slice()), (sa(A, 1234), &b"handmade"[..]));
    });
    sim.spawn(a, "raw", |p| async move {
        let s = p.raw_socket(IpProtocol::Udp, true).unwrap();
        let good = handmade_udp(sa(A, 1234), sa(B, 9), b"handmade", false, 0);
        // A header that lies about its length is refused.
        let mut bad = good.clone();
        bad.truncate(good.len() - 1);
        assert_eq!(s.send_to(&bad, B).await.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        // A source address that is not ours is refused.
        let spoofed = handmade_udp(sa(Ipv4Addr::new(203, 0, 113, 5), 1), sa(B, 9), b"x", false, 0);
        assert_eq!(s.send_to(&spoofed, B).await.unwrap_err().kind(), io::ErrorKind::AddrNotAvailable);
        assert_eq!(s.send_to(&good, B).await.unwrap(), good.len());
    });
    assert!(sim.run_until_finished(sink));
}

#[test]
fn an_incomplete_datagram_times_out_with_icmp_time_exceeded() {
    let (mut sim, a, b) = two_hosts(1, LinkConfig::default());
    let t = sim.spawn(a, "frag", |p| async move {
        let icmp = p.raw_socket(IpProtocol::Icmp, false).unwrap();
        let raw = p.raw_socket(IpProtocol::Udp, true).unwrap();
        // A first fragment (MF set) whose rest never comes.
        let first = handmade_udp(sa(A, 1), sa(B, 9), &[7u8; 64], true, 999);
        raw.send_to(&first, B).await.unwrap();
        let t0 = p.now();
        let mut buf = [0u8; 1500];
        let (n, _) = icmp.recv_from(&mut buf).await.unwrap();
        assert_eq!(icmp_of(&buf[..n]), Some((B, format!("time exceeded {:?}", TimeExceeded::FragReassemblyExpired))));
        assert_eq!(p.now() - t0, Duration::from_secs(30));
    });
    assert!(sim.run_until_finished(t));
    assert_eq!(sim.stack(b).counters().dropped(DropReason::FragTimeout), 1);
}

#[test]
fn unknown_protocol_gets_protocol_unreachable_unless_a_raw_socket_wants_it() {
    let (mut sim, a, b) = two_hosts(1, LinkConfig::default());
    let listener = sim.spawn(b, "ospf", |p| async move {
        let s = p.raw_socket(IpProtocol::Unknown(89), false).unwrap();
        let mut buf = [0u8; 1500];
        let (n, from) = s.recv_from(&mut buf).await.unwrap();
        assert_eq!(from, A);
        assert_eq!(&buf[20..n], b"hello ospf");
    });
    let t = sim.spawn(a, "sender", |p| async move {
        let icmp = p.raw_socket(IpProtocol::Icmp, false).unwrap();
        let s = p.raw_socket(IpProtocol::Unknown(89), false).unwrap();
        s.send_to(b"hello ospf", B).await.unwrap();
        let s2 = p.raw_socket(IpProtocol::Unknown(200), false).unwrap();
        s2.send_to(b"nobody home", B).await.unwrap();
        let mut buf = [0u8; 1500];
        let (n, _) = icmp.recv_from(&mut buf).await.unwrap();
        assert_eq!(icmp_of(&buf[..n]), Some((B, format!("unreachable {:?} mtu 0", DstUnreachable::ProtoUnreachable))));
    });
    assert!(sim.run_until_finished(listener));
    assert!(sim.run_until_finished(t));
}
