//! Blocking TCP on real-time drivers joined by an in-memory link.

use sockstack_api::{pair, Driver, TcpListener, TcpStream};
use sockstack_link::LinkConfig;
use sockstack_stack::ProcessId;
use sockstack_wire::Ipv4Addr;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddrV4};
use std::time::Duration;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn nets(link: LinkConfig) -> (Driver, Driver) {
    pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), link).unwrap()
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()
}

#[test]
fn echo_over_a_lossy_link_is_byte_exact_in_both_directions() {
    let (a, b) = nets(LinkConfig::default().with_latency(Duration::from_millis(1)).with_loss(0.02).with_seed(5));
    let listener = TcpListener::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(B, 7), 8).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().unwrap();
        assert_eq!(*peer.ip(), A);
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            s.write_all(&buf[..n]).unwrap();
        }
        s.shutdown(Shutdown::Write).unwrap();
    });
    let mut c = TcpStream::connect(&a.handle(ProcessId(1)), SocketAddrV4::new(B, 7)).unwrap();
    assert_eq!(c.peer_addr().unwrap(), SocketAddrV4::new(B, 7));
    let sent = data(2 << 20);
    let mut writer = c.try_clone().unwrap();
    let w = std::thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
        sent
    });
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    let sent = w.join().unwrap();
    assert!(got == sent, "echo differs ({} vs {} bytes)", got.len(), sent.len());
    server.join().unwrap();
}

#[test]
fn connecting_to_a_port_without_listener_is_refused() {
    let (a, _b) = nets(LinkConfig::default());
    let e = TcpStream::connect(&a.handle(ProcessId(1)), SocketAddrV4::new(B, 9)).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn connect_timeout_gives_up_when_syns_vanish() {
    let (a, _b) = nets(LinkConfig::default().with_loss(1.0));
    let t0 = std::time::Instant::now();
    let e = TcpStream::connect_timeout(&a.handle(ProcessId(1)), SocketAddrV4::new(B, 9), Duration::from_millis(300))
        .err()
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert!(took >= Duration::from_millis(300), "gave up early: {took:?}");
    // It gives up at the timeout, not when the SYN retransmissions run
    // out (RFC 6298 backoff from 1 s over tcp_syn_retries 6: 1 + 2 + … +
    // 64 = 127 s); a bound that is a correctness bound, not a speed one,
    // with seconds of margin for a loaded machine.
    assert!(took < Duration::from_secs(10), "connect_timeout(300 ms) returned after {took:?}");
}

/// A server restarted while the connection it closed waits in TIME-WAIT
/// binds its port again: listeners have `SO_REUSEADDR`, as std's and
/// tokio's do on Unix. A listener still there keeps the port its own.
#[test]
fn a_restarted_server_binds_its_port_during_time_wait() {
    let (a, b) = nets(LinkConfig::default());
    let addr = SocketAddrV4::new(B, 8080);
    let l = TcpListener::bind(&b.handle(ProcessId(1)), addr, 4).unwrap();
    let mut c = TcpStream::connect(&a.handle(ProcessId(1)), addr).unwrap();
    let (s, _) = l.accept().unwrap();
    // The server closes first: its end waits in TIME-WAIT.
    drop(s);
    let mut buf = [0u8; 1];
    assert_eq!(c.read(&mut buf).unwrap(), 0);
    drop(c);
    drop(l);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while b.with_stack(|s| s.tcp_time_wait_count()) == 0 {
        assert!(std::time::Instant::now() < deadline, "the server's end never reached TIME-WAIT");
        std::thread::sleep(Duration::from_millis(1));
    }
    let again = TcpListener::bind(&b.handle(ProcessId(2)), addr, 4).expect("rebound during TIME-WAIT");
    assert_eq!(
        TcpListener::bind(&b.handle(ProcessId(3)), addr, 4).err().unwrap().kind(),
        ErrorKind::AddrInUse,
        "not while a listener holds it"
    );
    drop(again);
}

#[test]
fn nonblocking_accept_and_read_say_would_block() {
    let (a, b) = nets(LinkConfig::default());
    let l = TcpListener::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(B, 80), 4).unwrap();
    l.set_nonblocking(true).unwrap();
    assert_eq!(l.accept().err().unwrap().kind(), ErrorKind::WouldBlock);
    // A second listener on the same port: AddrInUse.
    assert_eq!(
        TcpListener::bind(&b.handle(ProcessId(2)), SocketAddrV4::new(B, 80), 4).err().unwrap().kind(),
        ErrorKind::AddrInUse
    );
    let mut c = TcpStream::connect(&a.handle(ProcessId(1)), SocketAddrV4::new(B, 80)).unwrap();
    l.set_nonblocking(false).unwrap();
    let (mut s, _) = l.accept().unwrap();
    c.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(c.read(&mut buf).err().unwrap().kind(), ErrorKind::WouldBlock);
    c.set_nonblocking(false).unwrap();
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut req = [0u8; 18];
    s.read_exact(&mut req).unwrap();
    assert_eq!(&req, b"GET / HTTP/1.0\r\n\r\n");
    // Half-close: the server still answers after our FIN.
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(s.read(&mut buf).unwrap(), 0);
    s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").unwrap();
    drop(s);
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    assert_eq!(resp, "HTTP/1.0 200 OK\r\n\r\n");
    let mut c2 = c.try_clone().unwrap();
    c2.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    assert_eq!(c2.read(&mut buf).unwrap(), 0, "still end of stream");
}

/// As on Linux, `shutdown` from another thread ends calls blocked on the
/// stream: a read waiting for data returns Ok(0) after `Read`; a write
/// waiting for room in a full send buffer (the peer reads nothing) fails
/// with BrokenPipe after `Write`.
#[test]
fn shutdown_from_another_thread_ends_blocked_calls() {
    let (a, b) = nets(LinkConfig::default());
    let l = TcpListener::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(B, 80), 4).unwrap();
    for how in [Shutdown::Read, Shutdown::Write] {
        let c = TcpStream::connect(&a.handle(ProcessId(1)), SocketAddrV4::new(B, 80)).unwrap();
        let (_s, _) = l.accept().unwrap();
        let mut blocked = c.try_clone().unwrap();
        let call = std::thread::spawn(move || match how {
            Shutdown::Read => blocked.read(&mut [0u8; 16]).map_err(|e| e.kind()),
            _ => blocked.write_all(&vec![1u8; 64 << 20]).map(|()| 0).map_err(|e| e.kind()),
        });
        // Give the call time to block (it ends the same way if it has not).
        std::thread::sleep(Duration::from_millis(100));
        c.shutdown(how).unwrap();
        let expected = if how == Shutdown::Read { Ok(0) } else { Err(ErrorKind::BrokenPipe) };
        assert_eq!(call.join().unwrap(), expected, "{how:?}");
    }
}

/// As on Linux, `shutdown(Read)` of a listener stops it listening: a
/// connection waiting in its queue is reset, a thread blocked in `accept`
/// wakes and fails (`InvalidInput`, EINVAL), and connects are refused;
/// the port stays bound (it was bound explicitly), and the socket may
/// listen again. A server stops an accept loop this way.
#[test]
fn shutdown_of_a_listener_ends_a_blocked_accept() {
    use sockstack_api::{Domain, Socket, Type};
    let (a, b) = nets(LinkConfig::default());
    let (na, nb) = (a.handle(ProcessId(1)), b.handle(ProcessId(1)));
    let l = Socket::new(&nb, Domain::Ipv4, Type::Stream, None).unwrap();
    l.bind(SocketAddrV4::new(B, 80)).unwrap();
    l.listen(4).unwrap();
    // A connection waits in the accept queue: it is reset.
    let mut queued = TcpStream::connect(&na, SocketAddrV4::new(B, 80)).unwrap();
    l.shutdown(Shutdown::Read).unwrap();
    assert_eq!(queued.read(&mut [0u8; 8]).unwrap_err().kind(), ErrorKind::ConnectionReset);
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::InvalidInput);
    // A thread blocked in accept wakes and fails.
    l.listen(4).unwrap();
    let blocked = l.try_clone().unwrap();
    let accepting = std::thread::spawn(move || blocked.accept().map(|_| ()).map_err(|e| e.kind()));
    // Give the call time to block (it ends the same way if it has not).
    std::thread::sleep(Duration::from_millis(100));
    l.shutdown(Shutdown::Both).unwrap();
    assert_eq!(accepting.join().unwrap(), Err(ErrorKind::InvalidInput));
    // Not listening: connects are refused; the port stays bound.
    let e = TcpStream::connect(&na, SocketAddrV4::new(B, 80)).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    let other = Socket::new(&nb, Domain::Ipv4, Type::Stream, None).unwrap();
    assert_eq!(other.bind(SocketAddrV4::new(B, 80)).unwrap_err().kind(), ErrorKind::AddrInUse);
    // It may listen again.
    l.listen(4).unwrap();
    let _c = TcpStream::connect(&na, SocketAddrV4::new(B, 80)).unwrap();
    l.accept().unwrap();
}
