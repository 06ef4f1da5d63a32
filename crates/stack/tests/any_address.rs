//! An interface that takes any address (`InterfaceConfig::with_any_address`)
//! and the catch-all sockets on it: the core of a tun2socks stack. Host A
//! (192.0.2.1) routes everything through host B (192.0.2.2), whose
//! interface takes any address: B answers for 198.51.100.0/24 and
//! 203.0.113.0/24 as if they were its own.

use sockstack_stack::{IfaceId, InterfaceConfig, ProcessId, SocketHandle, Stack, StackConfig};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{IpProtocol, Ipv4Addr, Ipv4Cidr};
use std::io::ErrorKind;
use std::net::SocketAddrV4;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const FAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 77);
const P: ProcessId = ProcessId(1);

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

/// A, which sends everything to B; and B, whose interface takes any
/// address when `any`.
fn hosts(any: bool) -> (Stack, Stack) {
    let cidr = |ip| Ipv4Cidr::new(ip, 24).unwrap();
    let mut a = Stack::new(StackConfig { seed: 1, ..StackConfig::default() });
    a.add_interface(InterfaceConfig::new("eth0", cidr(A)));
    a.set_default_gateway(B).unwrap();
    let mut b = Stack::new(StackConfig { seed: 2, ..StackConfig::default() });
    let iface = InterfaceConfig::new("tun0", cidr(B));
    b.add_interface(if any { iface.with_any_address() } else { iface });
    (a, b)
}

/// Moves packets both ways until none moves, a millisecond passing each
/// round (timers run).
fn settle(now: &mut Instant, a: &mut Stack, b: &mut Stack) {
    for _ in 0..50 {
        let moved = carry(*now, a, b) + carry(*now, b, a);
        if moved == 0 {
            return;
        }
        *now += Duration::from_millis(1);
    }
}

/// Runs `from`'s timers and moves its packets to `to`; how many.
fn carry(now: Instant, from: &mut Stack, to: &mut Stack) -> usize {
    from.poll(now);
    let mut moved = 0;
    while let Some(p) = from.dispatch() {
        to.receive(now, IfaceId(0), &p.data);
        moved += 1;
    }
    moved
}

fn read_all(s: &mut Stack, h: SocketHandle) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = s.tcp_recv(h, &mut buf) {
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// SYNs to any address reach the catch-all listener, whose connections
/// have the address the peer asked for as their local address and answer
/// from it; B's own listeners keep their own SYNs. Bytes cross both ways
/// whole.
#[test]
fn the_catch_all_listener_takes_connections_to_any_address() {
    let (mut a, mut b) = hosts(true);
    let mut now = Instant::ZERO;
    let any = b.tcp_open(P);
    b.tcp_listen_any(any, 16).unwrap();
    assert_eq!(b.local_addr(any).unwrap(), sa(Ipv4Addr::UNSPECIFIED, 0));
    let own = b.tcp_open(P);
    b.bind(own, sa(B, 80)).unwrap();
    b.tcp_listen(own, 16).unwrap();
    // To far addresses, and to B's own listener.
    let mut clients = Vec::new();
    for dst in [sa(FAR, 443), sa(Ipv4Addr::new(203, 0, 113, 5), 8080), sa(B, 80), sa(B, 81)] {
        let c = a.tcp_open(P);
        a.tcp_connect(now, c, dst).unwrap();
        clients.push((c, dst));
    }
    settle(&mut now, &mut a, &mut b);
    let mut taken = Vec::new();
    while let Ok((s, peer)) = b.tcp_accept(any) {
        assert_eq!(*peer.ip(), A);
        taken.push((s, b.local_addr(s).unwrap()));
    }
    let asked: Vec<SocketAddrV4> = taken.iter().map(|(_, l)| *l).collect();
    assert_eq!(
        asked,
        [sa(FAR, 443), sa(Ipv4Addr::new(203, 0, 113, 5), 8080), sa(B, 81)],
        "B:80 is not the catch-all's"
    );
    let (mine, _) = b.tcp_accept(own).expect("B's own listener took its SYN");
    assert_eq!(b.local_addr(mine).unwrap(), sa(B, 80));
    // Every client is connected, to the address it asked for.
    for &(c, dst) in &clients {
        assert_eq!(a.peer_addr(c).unwrap(), dst);
    }
    // Data both ways on the first.
    let (c, _) = clients[0];
    let (s, _) = taken[0];
    let up: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let down: Vec<u8> = (0..70_000u32).map(|i| (i % 241) as u8).collect();
    let (mut sent_up, mut sent_down) = (0, 0);
    let (mut got_up, mut got_down) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        sent_up += a.tcp_send(now, c, &up[sent_up..]).unwrap_or(0);
        sent_down += b.tcp_send(now, s, &down[sent_down..]).unwrap_or(0);
        settle(&mut now, &mut a, &mut b);
        got_up.extend(read_all(&mut b, s));
        got_down.extend(read_all(&mut a, c));
        if got_up.len() == up.len() && got_down.len() == down.len() {
            break;
        }
    }
    assert!(got_up == up && got_down == down);
}

/// Without a catch-all listener, a SYN to any address is refused with a
/// RST from that address; on an interface that does not take any address,
/// it is not B's at all (B does not forward: dropped).
#[test]
fn any_address_without_a_listener_refuses_and_without_the_interface_is_not_ours() {
    let (mut a, mut b) = hosts(true);
    let mut now = Instant::ZERO;
    let c = a.tcp_open(P);
    a.tcp_connect(now, c, sa(FAR, 443)).unwrap();
    settle(&mut now, &mut a, &mut b);
    assert_eq!(a.tcp_connect_status(c).unwrap_err().kind(), ErrorKind::ConnectionRefused);

    let (mut a, mut b) = hosts(false);
    let any = b.tcp_open(P);
    b.tcp_listen_any(any, 16).unwrap();
    let c = a.tcp_open(P);
    a.tcp_connect(now, c, sa(FAR, 443)).unwrap();
    settle(&mut now, &mut a, &mut b);
    assert_eq!(b.tcp_accept(any).unwrap_err().kind(), ErrorKind::WouldBlock);
    assert!(matches!(a.tcp_connect_status(c), Ok(false)), "still connecting");
}

/// The catch-all UDP socket hears datagrams to any address and port no
/// other socket takes, learns where each was sent, and answers from
/// there; misuse fails as it should.
#[test]
fn the_catch_all_udp_socket_answers_from_where_it_was_asked() {
    let (mut a, mut b) = hosts(true);
    let mut now = Instant::ZERO;
    let any = b.udp_open(P);
    b.udp_bind_any(any).unwrap();
    let own = b.udp_open(P);
    b.bind(own, sa(B, 53)).unwrap();
    let u = a.udp_open(P);
    a.send_to(now, u, b"ping", sa(FAR, 5300)).unwrap();
    a.send_to(now, u, b"own", sa(B, 53)).unwrap();
    settle(&mut now, &mut a, &mut b);
    let m = b.recv_message(any).unwrap();
    assert_eq!((m.dst, &m.data[..]), (sa(FAR, 5300), &b"ping"[..]));
    assert_eq!(*m.src.ip(), A);
    assert_eq!(b.recv_message(any).unwrap_err().kind(), ErrorKind::WouldBlock, "B:53 is not the catch-all's");
    assert_eq!(&b.recv_message(own).unwrap().data[..], b"own");
    b.udp_send_from(now, any, b"pong", m.dst, m.src).unwrap();
    settle(&mut now, &mut a, &mut b);
    let mut buf = [0u8; 16];
    assert_eq!(a.recv_from(u, &mut buf).unwrap(), (4, sa(FAR, 5300)));
    assert_eq!(&buf[..4], b"pong");
    // Misuse.
    let kind = |r: std::io::Result<usize>| r.unwrap_err().kind();
    assert_eq!(kind(b.send_to(now, any, b"x", m.src)), ErrorKind::InvalidInput, "no source named");
    assert_eq!(kind(b.udp_send_from(now, own, b"x", m.dst, m.src)), ErrorKind::InvalidInput, "not the catch-all");
    assert_eq!(kind(b.udp_send_from(now, any, b"x", sa(FAR, 0), m.src)), ErrorKind::InvalidInput);
    let second = b.udp_open(P);
    assert_eq!(b.udp_bind_any(second).unwrap_err().kind(), ErrorKind::AddrInUse);
    assert_eq!(b.udp_bind_any(own).unwrap_err().kind(), ErrorKind::AddrInUse);
    b.close(any).unwrap();
    b.udp_bind_any(second).unwrap();
    assert_eq!(b.bind(second, sa(B, 54)).unwrap_err().kind(), ErrorKind::InvalidInput);
    let t = b.tcp_open(P);
    b.bind(t, sa(B, 9)).unwrap();
    assert_eq!(b.tcp_listen_any(t, 4).unwrap_err().kind(), ErrorKind::InvalidInput, "bound");
}

/// Pings to any address are answered from it.
#[test]
fn pings_to_any_address_are_answered() {
    let (mut a, mut b) = hosts(true);
    let mut now = Instant::ZERO;
    let r = a.raw_open(P, IpProtocol::Icmp, false).unwrap();
    a.send_to(now, r, &sockstack_stack::ping::echo_request(9, 1, b"hi"), sa(FAR, 0)).unwrap();
    settle(&mut now, &mut a, &mut b);
    let mut buf = [0u8; 64];
    let (n, from) = a.recv_from(r, &mut buf).unwrap();
    assert_eq!(from, sa(FAR, 0));
    assert_eq!(buf[20], 0, "an echo reply");
    assert_eq!(&buf[n - 2..n], b"hi");
}
