//! The BSD-style `Socket`: each type end to end, each option doing what it
//! says, and each misuse returning the documented `io::ErrorKind`.

use sockstack_api::{
    pair, Domain, Driver, Interest, NetHandle, Poller, Protocol, RawSocket, Socket, TcpKeepalive, TcpListener,
    TcpStream, Type, UdpSocket,
};
use sockstack_link::LinkConfig;
use sockstack_stack::ProcessId;
use sockstack_tcp::State;
use sockstack_wire::{IpProtocol, Ipv4Addr};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddrV4};
use std::time::Duration;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn nets() -> (Driver, Driver) {
    pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), LinkConfig::default()).unwrap()
}

fn net(d: &Driver) -> NetHandle {
    d.handle(ProcessId(1))
}

fn stream(d: &Driver) -> Socket {
    Socket::new(&net(d), Domain::Ipv4, Type::Stream, None).unwrap()
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()
}

/// RFC 1071: the ones' complement of the ones' complement sum.
fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum >> 16) + (sum & 0xffff);
    }
    !(sum as u16)
}

fn kind<T: std::fmt::Debug>(r: std::io::Result<T>) -> ErrorKind {
    r.unwrap_err().kind()
}

/// A listener on B:`port` and a client on A connected to it; the accepted
/// socket.
fn connected(a: &Driver, b: &Driver, port: u16) -> (Socket, Socket, Socket) {
    let l = stream(b);
    l.bind(SocketAddrV4::new(B, port)).unwrap();
    l.listen(16).unwrap();
    let c = stream(a);
    c.connect(SocketAddrV4::new(B, port)).unwrap();
    let (s, peer) = l.accept().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    (l, c, s)
}

#[test]
fn stream_socket_moves_bytes_exactly_and_half_closes() {
    let (a, b) = nets();
    let (_l, c, s) = connected(&a, &b, 80);
    assert_eq!((c.r#type(), c.protocol(), c.domain()), (Type::Stream, Protocol::TCP, Domain::Ipv4));
    assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
    let payload = data(300_000);
    let writer = {
        let c = c.try_clone().unwrap();
        let payload = payload.clone();
        std::thread::spawn(move || {
            let mut c = c;
            c.write_all(&payload).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut got = Vec::new();
    let mut s2 = s.try_clone().unwrap();
    s2.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert!(got == payload, "stream corrupted");
    // The other direction still works after the client's half-close.
    s.send(b"reply").unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = c.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"reply"[..], SocketAddrV4::new(B, 80)));
    // send_to on a stream ignores the address, as Linux.
    s.send_to(b"x", SocketAddrV4::new(A, 9)).unwrap();
    assert_eq!(c.recv(&mut buf).unwrap(), 1);
}

#[test]
fn datagram_socket_sends_receives_connects_and_shuts_down() {
    let (a, b) = nets();
    let server = Socket::new(&net(&b), Domain::Ipv4, Type::Datagram, Some(Protocol::UDP)).unwrap();
    server.bind(SocketAddrV4::new(B, 53)).unwrap();
    let client = Socket::new(&net(&a), Domain::Ipv4, Type::Datagram, None).unwrap();
    client.bind(SocketAddrV4::new(A, 0)).unwrap();
    client.send_to(b"query", SocketAddrV4::new(B, 53)).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = server.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"query"[..], client.local_addr().unwrap()));
    // Truncation to the buffer, as recvfrom does.
    client.send_to(b"0123456789", SocketAddrV4::new(B, 53)).unwrap();
    let mut small = [0u8; 4];
    assert_eq!(server.recv(&mut small).unwrap(), 4);
    assert_eq!(&small, b"0123");

    client.connect(SocketAddrV4::new(B, 53)).unwrap();
    assert_eq!(client.peer_addr().unwrap(), SocketAddrV4::new(B, 53));
    client.send(b"again").unwrap();
    assert_eq!(server.recv(&mut buf).unwrap(), 5);

    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(kind(client.send(b"no")), ErrorKind::BrokenPipe);
    client.shutdown(Shutdown::Read).unwrap();
    assert_eq!(client.recv(&mut buf).unwrap(), 0, "read side shut: end of stream");
    // Conversion to the std-like type and back keeps the socket.
    let udp: UdpSocket = server.into();
    assert_eq!(udp.local_addr().unwrap(), SocketAddrV4::new(B, 53));
    let back: Socket = udp.into();
    assert_eq!(back.r#type(), Type::Datagram);
}

/// `SO_ERROR` of a connected datagram socket is the ICMP error its last
/// datagram drew (here port unreachable), reported once, as on Linux; a
/// pending error goes before the BrokenPipe of a socket shut for writing.
#[test]
fn a_datagram_sockets_icmp_error_is_taken_once_and_goes_first() {
    let (a, _b) = nets();
    let s = Socket::new(&net(&a), Domain::Ipv4, Type::Datagram, None).unwrap();
    s.connect(SocketAddrV4::new(B, 9)).unwrap();
    let refused = || {
        s.send(b"anyone?").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(e) = s.take_error().unwrap() {
                return e.kind();
            }
            assert!(std::time::Instant::now() < deadline, "no ICMP error came");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    assert_eq!(refused(), ErrorKind::ConnectionRefused);
    assert!(s.take_error().unwrap().is_none(), "taken once");
    s.send(b"again").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    // The in-memory link answers in microseconds; this is ample.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(kind(s.send(b"x")), ErrorKind::ConnectionRefused, "the pending error first");
    assert_eq!(kind(s.send(b"x")), ErrorKind::BrokenPipe);
}

/// `shutdown` of a datagram socket ends the calls other threads have
/// blocked on it, as Linux's does: a receive waiting for a datagram
/// returns 0 (it would otherwise run into its long timeout), and later
/// sends fail with BrokenPipe.
#[test]
fn datagram_shutdown_ends_a_receive_blocked_in_another_thread() {
    let (a, _b) = nets();
    let s = Socket::new(&net(&a), Domain::Ipv4, Type::Datagram, None).unwrap();
    s.connect(SocketAddrV4::new(B, 53)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let blocked = s.try_clone().unwrap();
    let call = std::thread::spawn(move || blocked.recv(&mut [0u8; 16]).map_err(|e| e.kind()));
    // Give the call time to block (it ends the same way if it has not).
    std::thread::sleep(Duration::from_millis(100));
    s.shutdown(Shutdown::Both).unwrap();
    assert_eq!(call.join().unwrap(), Ok(0));
    assert_eq!(kind(s.send(b"no")), ErrorKind::BrokenPipe);
}

#[test]
fn raw_socket_pings_the_peer() {
    let (a, _b) = nets();
    let raw = Socket::new(&net(&a), Domain::Ipv4, Type::Raw, Some(Protocol::ICMPV4)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // ICMP echo request: type 8, code 0, checksum, id 0x1234, seq 1, payload.
    let mut msg = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1, b'p', b'i', b'n', b'g'];
    let sum = internet_checksum(&msg);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    raw.send_to(&msg, SocketAddrV4::new(B, 0)).unwrap();
    let mut buf = [0u8; 128];
    loop {
        let (n, from) = raw.recv_from(&mut buf).unwrap();
        // IP header included on receive; skip our own request if seen.
        let icmp = &buf[20..n];
        if icmp[0] == 0 {
            assert_eq!(*from.ip(), B);
            assert_eq!(&icmp[4..], &msg[4..], "echo reply carries id, seq and payload");
            break;
        }
    }
    assert!(!raw.header_included().unwrap());
    raw.set_header_included(true).unwrap();
    assert!(raw.header_included().unwrap());
    let back: RawSocket = raw.into();
    let again: Socket = back.into();
    assert_eq!((again.r#type(), again.protocol()), (Type::Raw, Protocol::from(IpProtocol::Icmp)));
}

#[test]
fn reuse_address_rebinds_a_port_that_time_wait_holds() {
    let (a, b) = nets();
    let (l, c, s) = connected(&a, &b, 8080);
    drop(l);
    // The server closes first: its end goes to TIME-WAIT on port 8080.
    s.close().unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(c.recv(&mut buf).unwrap(), 0);
    // A lingering close returns once the client's FIN is acknowledged:
    // the server's end is in TIME-WAIT by then.
    c.set_linger(Some(Duration::from_secs(5))).unwrap();
    c.close().unwrap();
    let again = stream(&b);
    assert_eq!(kind(again.bind(SocketAddrV4::new(B, 8080))), ErrorKind::AddrInUse, "TIME-WAIT holds the port");
    assert!(!again.reuse_address().unwrap());
    again.set_reuse_address(true).unwrap();
    assert!(again.reuse_address().unwrap());
    again.bind(SocketAddrV4::new(B, 8080)).unwrap();
    again.listen(4).unwrap();
    // It serves: a new client connects and is accepted.
    let c2 = stream(&a);
    c2.connect(SocketAddrV4::new(B, 8080)).unwrap();
    let (s2, _) = again.accept().unwrap();
    c2.send(b"ok").unwrap();
    assert_eq!(s2.recv(&mut buf).unwrap(), 2);
    // Reuse-address never lets two sockets listen on one port.
    let third = stream(&b);
    third.set_reuse_address(true).unwrap();
    assert_eq!(kind(third.bind(SocketAddrV4::new(B, 8080))), ErrorKind::AddrInUse);
}

#[test]
fn zero_linger_resets_and_the_peer_sees_connection_reset() {
    let (a, b) = nets();
    let (_l, c, s) = connected(&a, &b, 81);
    c.set_linger(Some(Duration::ZERO)).unwrap();
    assert_eq!(c.linger().unwrap(), Some(Duration::ZERO));
    c.send(b"lost?").unwrap();
    c.close().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    // Whatever arrived before the RST is discarded by it (RFC 9293
    // §3.10.7.4), so the read reports the reset.
    let mut r = s.recv(&mut buf);
    while matches!(r, Ok(n) if n > 0) {
        r = s.recv(&mut buf);
    }
    assert_eq!(kind(r), ErrorKind::ConnectionReset);
    assert_eq!(kind(s.send(b"x")), ErrorKind::ConnectionReset);
}

#[test]
fn lingering_close_waits_for_the_ack_or_times_out() {
    let (a, b) = nets();
    // A tiny receive buffer on the server side, not read: the client's
    // data cannot all be acknowledged, so its lingering close runs out.
    let l = stream(&b);
    l.set_recv_buffer_size(2048).unwrap();
    assert_eq!(l.recv_buffer_size().unwrap(), 2048);
    l.bind(SocketAddrV4::new(B, 82)).unwrap();
    l.listen(4).unwrap();
    let c = stream(&a);
    c.set_send_buffer_size(256 * 1024).unwrap();
    assert_eq!(c.send_buffer_size().unwrap(), 256 * 1024);
    c.connect(SocketAddrV4::new(B, 82)).unwrap();
    let (s, _) = l.accept().unwrap();
    let payload = data(100_000);
    let mut sent = 0;
    while sent < payload.len() {
        sent += c.send(&payload[sent..]).unwrap();
    }
    c.set_linger(Some(Duration::from_millis(200))).unwrap();
    assert_eq!(kind(c.close()), ErrorKind::TimedOut);
    // The close went on in the background: every byte, then end of stream.
    let mut got = Vec::new();
    let mut s = s;
    s.read_to_end(&mut got).unwrap();
    assert!(got == payload);

    // With room at the peer, a lingering close returns once the FIN is
    // acknowledged.
    let (_l2, c2, s2) = connected(&a, &b, 83);
    c2.send(&payload[..10_000]).unwrap();
    c2.set_linger(Some(Duration::from_secs(10))).unwrap();
    let keep = c2.try_clone().unwrap();
    c2.close().unwrap(); // another handle is still open: nothing happens
    assert!(keep.peer_addr().is_ok());
    keep.close().unwrap();
    let mut got = Vec::new();
    let mut s2 = s2;
    s2.read_to_end(&mut got).unwrap();
    assert!(got == payload[..10_000]);
}

#[test]
fn options_are_set_read_back_and_inherited() {
    let (a, b) = nets();
    let l = stream(&b);
    l.set_nodelay(true).unwrap();
    l.set_ttl(17).unwrap();
    l.set_keepalive(true).unwrap();
    l.set_read_timeout(Some(Duration::from_secs(7))).unwrap();
    l.set_write_timeout(Some(Duration::from_secs(9))).unwrap();
    let k = TcpKeepalive { idle: Duration::from_secs(30), interval: Duration::from_secs(5), count: 3 };
    l.bind(SocketAddrV4::new(B, 84)).unwrap();
    l.listen(4).unwrap();
    let c = stream(&a);
    assert!(!c.nodelay().unwrap() && !c.keepalive().unwrap());
    c.set_tcp_keepalive(&k).unwrap();
    assert!(c.keepalive().unwrap());
    c.connect(SocketAddrV4::new(B, 84)).unwrap();
    let (s, _) = l.accept().unwrap();
    assert!(s.nodelay().unwrap(), "no-delay is inherited from the listener");
    assert!(s.keepalive().unwrap(), "keepalive is inherited");
    assert_eq!(s.ttl().unwrap(), 17, "TTL is inherited");
    // As Linux copies SO_RCVTIMEO and SO_SNDTIMEO to an accepted socket.
    assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_secs(7)), "read timeout inherited");
    assert_eq!(s.write_timeout().unwrap(), Some(Duration::from_secs(9)), "write timeout inherited");
    assert!(!s.nonblocking().unwrap());
    assert_eq!(c.ttl().unwrap(), 64);
    c.set_ttl(3).unwrap();
    assert_eq!(c.ttl().unwrap(), 3);
    assert_eq!(c.read_timeout().unwrap(), None);
    c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(20)));
    let mut buf = [0u8; 4];
    assert_eq!(kind(c.recv(&mut buf)), ErrorKind::TimedOut);
    c.set_write_timeout(Some(Duration::from_millis(20))).unwrap();
    assert_eq!(c.write_timeout().unwrap(), Some(Duration::from_millis(20)));
    assert!(!c.nonblocking().unwrap());
    c.set_nonblocking(true).unwrap();
    assert!(c.nonblocking().unwrap());
    assert_eq!(kind(c.recv(&mut buf)), ErrorKind::WouldBlock);
    // A connected stream's buffer sizes are those of the connection.
    assert!(s.recv_buffer_size().unwrap() > 0);
    assert_eq!(kind(s.set_recv_buffer_size(4096)), ErrorKind::InvalidInput);

    let u = Socket::new(&net(&a), Domain::Ipv4, Type::Datagram, None).unwrap();
    u.set_recv_buffer_size(1000).unwrap();
    assert_eq!(u.recv_buffer_size().unwrap(), 1000);
    u.set_reuse_address(true).unwrap();
    assert!(u.reuse_address().unwrap());
    u.set_ttl(9).unwrap();
    assert_eq!(u.ttl().unwrap(), 9);
}

#[test]
fn the_ttl_option_reaches_the_wire() {
    let (a, b) = nets();
    // A raw TCP socket on B sees the segments A's stream sends.
    let sniff = Socket::new(&net(&b), Domain::Ipv4, Type::Raw, Some(Protocol::TCP)).unwrap();
    sniff.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let l = stream(&b);
    l.bind(SocketAddrV4::new(B, 85)).unwrap();
    l.listen(4).unwrap();
    let c = stream(&a);
    c.set_ttl(7).unwrap();
    c.connect(SocketAddrV4::new(B, 85)).unwrap();
    let mut buf = [0u8; 1500];
    let n = sniff.recv(&mut buf).unwrap();
    assert!(n >= 40);
    assert_eq!(buf[8], 7, "the SYN left with TTL 7");
}

#[test]
fn non_blocking_connect_completes_through_the_poller_or_reports_refusal() {
    let (a, b) = nets();
    let l = stream(&b);
    l.bind(SocketAddrV4::new(B, 86)).unwrap();
    l.listen(4).unwrap();
    let c = stream(&a);
    c.set_nonblocking(true).unwrap();
    assert_eq!(kind(c.connect(SocketAddrV4::new(B, 86))), ErrorKind::WouldBlock);
    let poller = Poller::new(&net(&a));
    poller.register(&c, 1, Interest::WRITABLE).unwrap();
    let mut events = Vec::new();
    while events.is_empty() {
        poller.wait(&mut events, Some(Duration::from_secs(5))).unwrap();
    }
    assert!(events[0].writable);
    assert!(c.take_error().unwrap().is_none());
    // Connected: a second connect says so (EISCONN).
    assert_eq!(kind(c.connect(SocketAddrV4::new(B, 86))), ErrorKind::AlreadyExists);
    c.send(b"hi").unwrap();
    let (s, _) = l.accept().unwrap();
    let mut buf = [0u8; 2];
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut s = s;
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi");

    let refused = stream(&a);
    refused.set_nonblocking(true).unwrap();
    // The RST may be back before the call returns (Linux's loopback
    // refuses at once, too); otherwise the error comes later.
    match kind(refused.connect(SocketAddrV4::new(B, 1))) {
        ErrorKind::ConnectionRefused => return,
        k => assert_eq!(k, ErrorKind::WouldBlock),
    }
    // Calling connect again until it is done, as some programs do instead
    // of polling (Linux: EALREADY while it runs, then the error): the
    // refusal, not "already connected".
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match kind(refused.connect(SocketAddrV4::new(B, 1))) {
            ErrorKind::WouldBlock => {}
            k => {
                assert_eq!(k, ErrorKind::ConnectionRefused);
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "refusal never reported");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(refused.take_error().unwrap().map(|e| e.kind()), Some(ErrorKind::ConnectionRefused));
}

/// Every kind the issue names, from the call that should produce it.
#[test]
fn misuse_returns_the_expected_error_kinds() {
    let (a, b) = nets();
    let (na, nb) = (net(&a), net(&b));
    let l = TcpListener::bind(&nb, SocketAddrV4::new(B, 90), 4).unwrap();
    // AddrInUse: the port is taken.
    assert_eq!(kind(TcpListener::bind(&nb, SocketAddrV4::new(B, 90), 4)), ErrorKind::AddrInUse);
    let u = UdpSocket::bind(&nb, SocketAddrV4::new(B, 90)).unwrap();
    assert_eq!(kind(UdpSocket::bind(&nb, SocketAddrV4::new(B, 90))), ErrorKind::AddrInUse);
    // AddrNotAvailable: not this host's address.
    assert_eq!(kind(UdpSocket::bind(&na, SocketAddrV4::new(B, 1))), ErrorKind::AddrNotAvailable);
    assert_eq!(kind(stream(&a).bind(SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 1), 1))), ErrorKind::AddrNotAvailable);
    // ConnectionRefused: nobody listens.
    assert_eq!(kind(TcpStream::connect(&na, SocketAddrV4::new(B, 91))), ErrorKind::ConnectionRefused);
    // TimedOut: SYNs to an address nobody answers for.
    assert_eq!(
        kind(TcpStream::connect_timeout(
            &na,
            SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 99), 80),
            Duration::from_millis(50)
        )),
        ErrorKind::TimedOut
    );
    // NotConnected: no peer.
    let lone = UdpSocket::bind(&na, SocketAddrV4::new(A, 0)).unwrap();
    assert_eq!(kind(lone.send(b"x")), ErrorKind::NotConnected);
    assert_eq!(kind(lone.peer_addr()), ErrorKind::NotConnected);
    let fresh = stream(&a);
    assert_eq!(kind(fresh.send(b"x")), ErrorKind::NotConnected);
    assert_eq!(kind(fresh.recv(&mut [0u8; 4])), ErrorKind::NotConnected);
    assert_eq!(kind(fresh.shutdown(Shutdown::Both)), ErrorKind::NotConnected);
    // InvalidInput: calls the type does not have, bad arguments.
    let dgram = Socket::new(&na, Domain::Ipv4, Type::Datagram, None).unwrap();
    assert_eq!(kind(dgram.listen(4)), ErrorKind::InvalidInput);
    assert_eq!(kind(dgram.set_nodelay(true)), ErrorKind::InvalidInput);
    assert_eq!(kind(dgram.set_send_buffer_size(1)), ErrorKind::InvalidInput);
    assert_eq!(kind(Socket::new(&na, Domain::Ipv4, Type::Raw, None)), ErrorKind::InvalidInput);
    assert_eq!(kind(Socket::new(&na, Domain::Ipv4, Type::Stream, Some(Protocol::UDP))), ErrorKind::InvalidInput);
    assert_eq!(kind(lone.set_read_timeout(Some(Duration::ZERO))), ErrorKind::InvalidInput);
    assert_eq!(kind(lone.set_ttl(0)), ErrorKind::InvalidInput);
    assert_eq!(kind(lone.set_ttl(256)), ErrorKind::InvalidInput);
    assert_eq!(kind(lone.send_to(&vec![0u8; 70_000], SocketAddrV4::new(B, 90))), ErrorKind::InvalidInput);
    assert_eq!(kind(TcpStream::connect(&na, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80))), ErrorKind::InvalidInput);
    let k = TcpKeepalive { idle: Duration::ZERO, interval: Duration::from_secs(1), count: 1 };
    assert_eq!(kind(fresh.set_tcp_keepalive(&k)), ErrorKind::InvalidInput);
    let k = TcpKeepalive { idle: Duration::from_secs(1), interval: Duration::from_millis(999), count: 1 };
    assert_eq!(kind(fresh.set_tcp_keepalive(&k)), ErrorKind::InvalidInput, "sub-second interval");
    let k = TcpKeepalive { idle: Duration::from_secs(1), interval: Duration::from_secs(1), count: 0 };
    assert_eq!(kind(fresh.set_tcp_keepalive(&k)), ErrorKind::InvalidInput, "no probes");
    // WouldBlock: non-blocking with nothing to do.
    l.set_nonblocking(true).unwrap();
    assert_eq!(kind(l.accept()), ErrorKind::WouldBlock);
    u.set_nonblocking(true).unwrap();
    assert_eq!(kind(u.recv_from(&mut [0u8; 4])), ErrorKind::WouldBlock);
    // TimedOut: a read timeout runs out.
    u.set_nonblocking(false).unwrap();
    u.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    assert_eq!(kind(u.recv_from(&mut [0u8; 4])), ErrorKind::TimedOut);
    // BrokenPipe: writing after shutdown(Write).
    l.set_nonblocking(false).unwrap();
    let mut c = TcpStream::connect(&na, SocketAddrV4::new(B, 90)).unwrap();
    let _accepted = l.accept().unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(kind(c.write(b"late")), ErrorKind::BrokenPipe);
    // ConnectionReset: the peer closed with unread data (Linux sends RST).
    // BrokenPipe instead where the peer's FIN came first (CLOSE-WAIT: Linux
    // says EPIPE there), and what the peer sent stays readable.
    for close_wait in [false, true] {
        let mut c = TcpStream::connect(&na, SocketAddrV4::new(B, 90)).unwrap();
        let (mut s, _) = l.accept().unwrap();
        if close_wait {
            c.write_all(b"req").unwrap();
            c.shutdown(Shutdown::Write).unwrap();
        }
        s.write_all(b"unread").unwrap();
        let mut one = [0u8; 1];
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.read_exact(&mut one).unwrap();
        drop(c); // five bytes unread: RST
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let want = if close_wait { ErrorKind::BrokenPipe } else { ErrorKind::ConnectionReset };
        loop {
            match s.write(b"more") {
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.kind(), want, "close-wait: {close_wait}");
                    break;
                }
            }
            assert!(std::time::Instant::now() < deadline, "reset never reported");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(s.state().unwrap(), State::Closed);
        if close_wait {
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            assert_eq!(got, b"req", "sent before the FIN: still readable, then end of stream");
        }
    }
}

mod no_panics {
    use super::*;
    use proptest::prelude::*;

    /// One call of the BSD interface, with arguments from a small set so
    /// that sequences meet each other (same ports, same sockets).
    #[derive(Debug, Clone)]
    enum Call {
        Open(u8),
        Bind(usize, u8, u16),
        Listen(usize, i32),
        Accept(usize),
        Connect(usize, u8, u16),
        Send(usize, u16),
        SendTo(usize, u8, u16),
        Recv(usize),
        Shutdown(usize, u8),
        Close(usize),
        Nonblocking(usize, bool),
        Option(usize, u8, u32),
    }

    fn call() -> impl Strategy<Value = Call> {
        let s = 0usize..4;
        let ip = 0u8..3;
        let port = prop_oneof![Just(0u16), Just(7), Just(8)];
        prop_oneof![
            (0u8..3).prop_map(Call::Open),
            (s.clone(), ip.clone(), port.clone()).prop_map(|(s, i, p)| Call::Bind(s, i, p)),
            (s.clone(), -1i32..3).prop_map(|(s, b)| Call::Listen(s, b)),
            s.clone().prop_map(Call::Accept),
            (s.clone(), ip.clone(), port.clone()).prop_map(|(s, i, p)| Call::Connect(s, i, p)),
            (s.clone(), prop_oneof![Just(0u16), Just(10), Just(2000), Just(65_535)])
                .prop_map(|(s, n)| Call::Send(s, n)),
            (s.clone(), ip, port).prop_map(|(s, i, p)| Call::SendTo(s, i, p)),
            s.clone().prop_map(Call::Recv),
            (s.clone(), 0u8..3).prop_map(|(s, h)| Call::Shutdown(s, h)),
            s.clone().prop_map(Call::Close),
            (s.clone(), any::<bool>()).prop_map(|(s, b)| Call::Nonblocking(s, b)),
            (s, 0u8..10, prop_oneof![Just(0u32), Just(1), Just(300), Just(70_000)])
                .prop_map(|(s, o, v)| Call::Option(s, o, v)),
        ]
    }

    fn addr(i: u8, port: u16) -> SocketAddrV4 {
        let ip = match i {
            0 => A,
            1 => B,
            _ => Ipv4Addr::UNSPECIFIED,
        };
        SocketAddrV4::new(ip, port)
    }

    /// The kinds the documentation names; anything else is a bug.
    const DOCUMENTED: &[ErrorKind] = &[
        ErrorKind::AddrInUse,
        ErrorKind::AddrNotAvailable,
        ErrorKind::ConnectionRefused,
        ErrorKind::ConnectionReset,
        ErrorKind::NotConnected,
        ErrorKind::BrokenPipe,
        ErrorKind::InvalidInput,
        ErrorKind::WouldBlock,
        ErrorKind::TimedOut,
        ErrorKind::AlreadyExists,
        ErrorKind::NetworkUnreachable,
        ErrorKind::HostUnreachable,
    ];

    fn check<T>(r: std::io::Result<T>) -> Result<(), TestCaseError> {
        if let Err(e) = r {
            prop_assert!(DOCUMENTED.contains(&e.kind()), "undocumented error kind {:?}: {e}", e.kind());
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn any_sequence_of_calls_returns_documented_errors_and_never_panics(calls in proptest::collection::vec(call(), 1..40)) {
            let (a, b) = nets();
            let nets = [net(&a), net(&b)];
            let mut socks: Vec<Option<Socket>> = Vec::new();
            for c in calls {
                let get = |socks: &Vec<Option<Socket>>, i: usize| socks.get(i).and_then(|s| s.as_ref()).map(|s| s.try_clone().unwrap());
                match c {
                    Call::Open(t) => {
                        let ty = [Type::Stream, Type::Datagram, Type::Raw][usize::from(t)];
                        let proto = (ty == Type::Raw).then_some(Protocol::ICMPV4);
                        let s = Socket::new(&nets[socks.len() % 2], Domain::Ipv4, ty, proto).unwrap();
                        // Bounded waits: blocking paths run, but end.
                        s.set_read_timeout(Some(Duration::from_millis(2))).unwrap();
                        s.set_write_timeout(Some(Duration::from_millis(2))).unwrap();
                        socks.push(Some(s));
                    }
                    Call::Bind(i, ip, p) => if let Some(s) = get(&socks, i) { check(s.bind(addr(ip, p)))? },
                    Call::Listen(i, n) => if let Some(s) = get(&socks, i) { check(s.listen(n))? },
                    Call::Accept(i) => if let Some(s) = get(&socks, i) {
                        if let Ok((c, _)) = s.accept() { socks.push(Some(c)) } else { check(s.accept().map(|_| ()))? }
                    },
                    Call::Connect(i, ip, p) => if let Some(s) = get(&socks, i) { check(s.connect(addr(ip, p)))? },
                    Call::Send(i, n) => if let Some(s) = get(&socks, i) { check(s.send(&vec![7u8; usize::from(n)]))? },
                    Call::SendTo(i, ip, p) => if let Some(s) = get(&socks, i) { check(s.send_to(b"datagram", addr(ip, p)))? },
                    Call::Recv(i) => if let Some(s) = get(&socks, i) { check(s.recv_from(&mut [0u8; 512]))? },
                    Call::Shutdown(i, h) => if let Some(s) = get(&socks, i) {
                        check(s.shutdown([Shutdown::Read, Shutdown::Write, Shutdown::Both][usize::from(h)]))?
                    },
                    Call::Close(i) => if let Some(slot) = socks.get_mut(i) {
                        if let Some(s) = slot.take() { check(s.close())? }
                    },
                    Call::Nonblocking(i, on) => if let Some(s) = get(&socks, i) { check(s.set_nonblocking(on))? },
                    Call::Option(i, o, v) => if let Some(s) = get(&socks, i) {
                        let d = Some(Duration::from_millis(u64::from(v % 3)));
                        match o {
                            0 => check(s.set_nodelay(v > 0))?,
                            1 => check(s.set_reuse_address(v > 0))?,
                            2 => check(s.set_recv_buffer_size(v as usize))?,
                            3 => check(s.set_send_buffer_size(v as usize))?,
                            4 => check(s.set_keepalive(v > 0))?,
                            5 => check(s.set_linger(d.filter(|_| v != 1)))?,
                            6 => check(s.set_ttl(v))?,
                            7 => check(s.set_read_timeout(d))?,
                            8 => check(s.set_write_timeout(d))?,
                            _ => check(s.take_error())?,
                        }
                    },
                }
            }
            for s in socks.into_iter().flatten() {
                check(s.close())?;
            }
        }
    }
}

/// A driver whose one stack has an address and no link: its sockets talk to
/// each other, connection to connection.
fn one_stack() -> Driver {
    let mut stack = sockstack_stack::Stack::new(sockstack_stack::StackConfig::default());
    let cidr = sockstack_wire::Ipv4Cidr::new(A, 24).unwrap();
    stack.add_interface(sockstack_stack::InterfaceConfig::new("lo0", cidr).with_mtu(65535));
    Driver::start(stack, sockstack_api::inbox(), Vec::new())
}

#[test]
fn connections_of_one_stack_exchange_bytes_exactly_close_and_reset() {
    let d = one_stack();
    let n = net(&d);
    let l = TcpListener::bind(&n, SocketAddrV4::new(A, 7), 16).unwrap();
    // An echo server: each connection's bytes back, then end of stream.
    let server = std::thread::spawn(move || {
        let mut echoes = Vec::new();
        for _ in 0..4 {
            let (mut s, _) = l.accept().unwrap();
            echoes.push(std::thread::spawn(move || {
                let mut got = Vec::new();
                s.read_to_end(&mut got).unwrap();
                s.write_all(&got).unwrap();
                s.shutdown(Shutdown::Write).unwrap();
            }));
        }
        for e in echoes {
            e.join().unwrap();
        }
        l
    });
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let n = n.clone();
            std::thread::spawn(move || {
                let payload = data(700_000 + i * 1_000);
                let mut c = TcpStream::connect(&n, SocketAddrV4::new(A, 7)).unwrap();
                let writer = {
                    let mut c = c.try_clone().unwrap();
                    let payload = payload.clone();
                    std::thread::spawn(move || {
                        c.write_all(&payload).unwrap();
                        c.shutdown(Shutdown::Write).unwrap();
                    })
                };
                let mut back = Vec::new();
                c.read_to_end(&mut back).unwrap();
                writer.join().unwrap();
                assert!(back == payload, "echo {i} corrupted");
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let l = server.join().unwrap();

    // Closing with unread data resets the connection (Linux): the local peer
    // sees ConnectionReset.
    let mut c = TcpStream::connect(&n, SocketAddrV4::new(A, 7)).unwrap();
    let (s, _) = l.accept().unwrap();
    c.write_all(b"never read").unwrap();
    let mut one = [0u8; 1];
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut s_read = s.try_clone().unwrap();
    assert_eq!(s_read.read(&mut one).unwrap(), 1, "the data arrived");
    drop(s_read);
    drop(s);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(kind(c.read(&mut one)), ErrorKind::ConnectionReset);
}

/// A connection from `d`'s host to itself on `port`: (client, server).
fn local_connection(d: &Driver, port: u16) -> (TcpStream, TcpStream) {
    let n = net(d);
    let l = TcpListener::bind(&n, SocketAddrV4::new(A, port), 4).unwrap();
    let c = TcpStream::connect(&n, SocketAddrV4::new(A, port)).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

#[test]
fn a_write_made_while_another_thread_holds_the_stack_is_sent_when_it_lets_go() {
    let d = one_stack();
    let (c, s) = local_connection(&d, 9);
    let before = d.lock_stats();
    let payload = data(3000);
    // Another thread holds the stack while the write runs: the write copies
    // under the connection's own lock and must return without waiting for
    // the stack; the holder sends the data when it lets go. Nothing else
    // would: an idle connection has no timer armed.
    let (holding_tx, holding_rx) = std::sync::mpsc::channel();
    let (written_tx, written_rx) = std::sync::mpsc::channel::<usize>();
    let writer = {
        let mut c = c.try_clone().unwrap();
        let payload = payload.clone();
        std::thread::spawn(move || {
            holding_rx.recv().unwrap();
            written_tx.send(c.write(&payload).unwrap()).unwrap();
        })
    };
    let written = d.with_stack(|_| {
        holding_tx.send(()).unwrap();
        written_rx.recv_timeout(Duration::from_secs(10))
    });
    writer.join().unwrap();
    assert_eq!(written, Ok(payload.len()), "the write waited for the stack lock");
    let after = d.lock_stats();
    assert!(after.kicks_left > before.kicks_left, "the write left its transmission to the holder: {after:?}");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = vec![0u8; payload.len()];
    (&s).read_exact(&mut got).unwrap();
    assert!(got == payload, "the bytes arrived intact");
    drop(c);
}

#[test]
fn local_connections_exchange_bytes_while_another_thread_holds_the_stack_and_a_raw_socket_sees_them() {
    let d = one_stack();
    let n = net(&d);
    let (c, s) = local_connection(&d, 10);
    // A first exchange, once both are established and accepted, links the
    // two connections: segments then go straight from one to the other.
    let mut five = [0u8; 5];
    (&c).write_all(b"hello").unwrap();
    (&s).read_exact(&mut five).unwrap();
    (&s).write_all(b"world").unwrap();
    (&c).read_exact(&mut five).unwrap();
    assert_eq!(&five, b"world");

    // Linked connections move bytes under their own two locks: a write and
    // the read of it at the other end complete while another thread holds
    // the stack. (Less than the initial send buffer, so that no ACK, which
    // could wait for a timer, is needed for the write to finish.)
    let payload = data(12_000);
    let (holding_tx, holding_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let moved = {
        let (c, s, payload) = (c.try_clone().unwrap(), s.try_clone().unwrap(), payload.clone());
        std::thread::spawn(move || {
            holding_rx.recv().unwrap();
            (&c).write_all(&payload).unwrap();
            let mut got = vec![0u8; payload.len()];
            (&s).read_exact(&mut got).unwrap();
            done_tx.send(got == payload).unwrap();
        })
    };
    let outcome = d.with_stack(|_| {
        holding_tx.send(()).unwrap();
        done_rx.recv_timeout(Duration::from_secs(10))
    });
    assert_eq!(outcome, Ok(true), "the bytes did not cross, intact, while the stack was held");
    moved.join().unwrap();

    // A raw TCP socket must see every segment: the pair stops handing them
    // over directly once one is open.
    let raw = RawSocket::open(&n, IpProtocol::Tcp, false).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (&c).write_all(&payload).unwrap();
    let mut got = vec![0u8; payload.len()];
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (&s).read_exact(&mut got).unwrap();
    assert!(got == payload, "the bytes arrived intact");
    // Every payload octet went by in a datagram the raw socket saw.
    let from_port = c.local_addr().unwrap().port();
    let (mut seen, mut buf) = (0, vec![0u8; 70_000]);
    while seen < payload.len() {
        let (len, _) = raw.recv_from(&mut buf).expect("a datagram of the transfer");
        let ip = sockstack_wire::Ipv4Packet::new_checked(&buf[..len]).unwrap();
        let tcp = sockstack_wire::TcpPacket::new_checked(ip.payload()).unwrap();
        if tcp.src_port() == from_port {
            seen += tcp.payload().len();
        }
    }
    assert_eq!(seen, payload.len());
}

/// A stream in TIME-WAIT (it shut down first and read the peer's end)
/// becomes a compact record as soon as it is dropped: the handle lets go
/// of the connection before the stack closes it.
#[test]
fn a_stream_closed_in_time_wait_leaves_a_record_not_a_socket() {
    let (a, b) = nets();
    let (na, nb) = (net(&a), net(&b));
    let l = TcpListener::bind(&nb, SocketAddrV4::new(B, 8081), 4).unwrap();
    let mut c = TcpStream::connect(&na, SocketAddrV4::new(B, 8081)).unwrap();
    let (mut s, _) = l.accept().unwrap();
    let mut buf = [0u8; 4];
    c.write_all(b"hi").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    s.read_exact(&mut buf[..2]).unwrap();
    assert_eq!(s.read(&mut buf).unwrap(), 0);
    drop(s);
    assert_eq!(c.read(&mut buf).unwrap(), 0);
    let counts = || na.with_stack(|st| (st.tcp_time_wait_count(), st.socket_count()));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while c.state().unwrap() != State::TimeWait {
        assert!(std::time::Instant::now() < deadline, "never reached TIME-WAIT");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(counts(), (0, 1), "in TIME-WAIT and still open: a socket");
    drop(c);
    assert_eq!(counts(), (1, 0), "closed: a record");
}
