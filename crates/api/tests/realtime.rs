//! The real-time driver and the blocking API over an in-memory link
//! between two driver threads.

use sockstack_api::{pair, ping, PingOptions, RawSocket, UdpSocket};
use sockstack_link::LinkConfig;
use sockstack_stack::{DropReason, ProcessId};
use sockstack_wire::{IpProtocol, Ipv4Addr};
use std::io::ErrorKind;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn nets(link: LinkConfig) -> (sockstack_api::Driver, sockstack_api::Driver) {
    pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), link).unwrap()
}

#[test]
fn blocking_udp_echo_across_threads_is_byte_exact() {
    let (a, b) = nets(LinkConfig::default().with_latency(Duration::from_millis(1)));
    let server = UdpSocket::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(B, 7)).unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        for _ in 0..100 {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(&buf[..n], from).unwrap();
        }
    });
    let client = UdpSocket::bind(&a.handle(ProcessId(1)), SocketAddrV4::new(A, 0)).unwrap();
    client.connect(SocketAddrV4::new(B, 7)).unwrap();
    let mut buf = vec![0u8; 65536];
    for i in 0..100usize {
        // Sizes up to 8000 bytes: the larger ones are fragmented.
        let msg: Vec<u8> = (0..i * 80).map(|j| (i * 13 + j) as u8).collect();
        client.send(&msg).unwrap();
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], &msg[..]);
    }
    echo.join().unwrap();
}

#[test]
fn read_timeout_and_nonblocking_mode_behave_like_std() {
    let (a, _b) = nets(LinkConfig::default());
    let s = UdpSocket::bind(&a.handle(ProcessId(1)), SocketAddrV4::new(A, 0)).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(s.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(), ErrorKind::InvalidInput);
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let t0 = Instant::now();
    assert_eq!(s.recv_from(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
    assert!(t0.elapsed() >= Duration::from_millis(50));
    s.set_nonblocking(true).unwrap();
    assert_eq!(s.recv_from(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
}

#[test]
fn ping_over_a_lossy_link_counts_replies_and_losses() {
    let (a, _b) = nets(LinkConfig::default().with_latency(Duration::from_millis(2)).with_loss(0.3).with_seed(11));
    let opts = PingOptions {
        count: 20,
        interval: Duration::from_millis(5),
        timeout: Duration::from_millis(100),
        ..PingOptions::default()
    };
    let mut seen = Vec::new();
    let stats = ping(&a.handle(ProcessId(1)), B, &opts, |r| {
        assert_eq!((r.from, r.ttl, r.bytes), (B, 64, 64));
        assert!(r.rtt >= Duration::from_millis(4), "two 2 ms hops: {:?}", r.rtt);
        seen.push(r.seq_no);
    })
    .unwrap();
    assert_eq!(stats.transmitted, 20);
    assert_eq!(stats.received as usize, seen.len());
    // Each round trip survives with probability 0.49: some, not all.
    assert!(stats.received > 2 && stats.received < 20, "{stats:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn raw_icmp_socket_sees_the_echo_reply_the_peer_stack_sent() {
    let (a, b) = nets(LinkConfig::default());
    let raw = RawSocket::open(&a.handle(ProcessId(1)), IpProtocol::Icmp, false).unwrap();
    raw.send_to(&sockstack_stack::ping::echo_request(9, 1, b"hi"), B).unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = raw.recv_from(&mut buf).unwrap();
    let reply = sockstack_stack::ping::parse_echo_reply(&buf[..n]).unwrap();
    assert_eq!((from, reply.ident, reply.seq_no, reply.data.as_slice()), (B, 9, 1, &b"hi"[..]));
    assert_eq!(b.with_stack(|s| s.counters().icmp_echo_replied), 1);
}

#[test]
fn process_exit_closes_its_sockets_and_the_dropped_driver_fails_blocked_calls() {
    let (a, b) = nets(LinkConfig::default());
    let proc7 = b.handle(ProcessId(7));
    let _s1 = UdpSocket::bind(&proc7, SocketAddrV4::new(B, 53)).unwrap();
    let _s2 = UdpSocket::bind(&proc7, SocketAddrV4::new(B, 54)).unwrap();
    assert_eq!(
        UdpSocket::bind(&b.handle(ProcessId(8)), SocketAddrV4::new(B, 53)).err().unwrap().kind(),
        ErrorKind::AddrInUse
    );
    assert_eq!(proc7.exit(), 2);
    let s = UdpSocket::bind(&b.handle(ProcessId(8)), SocketAddrV4::new(B, 53)).unwrap();
    // A datagram to the closed port 54 is answered with port unreachable.
    let c = UdpSocket::bind(&a.handle(ProcessId(1)), SocketAddrV4::new(A, 0)).unwrap();
    c.send_to(b"x", SocketAddrV4::new(B, 54)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.with_stack(|s| s.counters().dropped(DropReason::UdpNoSocket)) == 0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    // Dropping the driver wakes a blocked receiver with an error.
    let blocked = std::thread::spawn(move || {
        let mut buf = [0u8; 8];
        s.recv_from(&mut buf).unwrap_err().kind()
    });
    std::thread::sleep(Duration::from_millis(50));
    drop(b);
    assert_eq!(blocked.join().unwrap(), ErrorKind::NotConnected);
}
