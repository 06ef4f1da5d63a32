//! The readiness poller: one thread watching many non-blocking sockets.

use sockstack_api::{pair, Domain, Interest, PollEvent, Poller, Socket, TcpListener, TcpStream, Type, UdpSocket};
use sockstack_link::LinkConfig;
use sockstack_stack::ProcessId;
use std::collections::{BTreeSet, HashMap};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

#[test]
fn one_thread_watches_a_thousand_udp_sockets() {
    let (a, b) = pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), LinkConfig::default()).unwrap();
    let net = b.handle(ProcessId(1));
    let poller = Poller::new(&net);
    let mut socks = Vec::new();
    for i in 0..1000u16 {
        let s = UdpSocket::bind(&net, SocketAddrV4::new(B, 10_000 + i)).unwrap();
        s.set_nonblocking(true).unwrap();
        poller.register(&s, usize::from(i), Interest::READABLE).unwrap();
        socks.push(s);
    }
    let mut events = Vec::new();
    // Nothing has arrived: a wait times out with no events.
    assert_eq!(poller.wait(&mut events, Some(Duration::from_millis(50))).unwrap(), 0);
    let chosen: BTreeSet<u16> = (0..100).map(|i| (i * 37 + 11) % 1000).collect();
    let tx = UdpSocket::bind(&a.handle(ProcessId(1)), SocketAddrV4::new(A, 0)).unwrap();
    for &i in &chosen {
        tx.send_to(&i.to_be_bytes(), SocketAddrV4::new(B, 10_000 + i)).unwrap();
    }
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 16];
    while seen.len() < chosen.len() && Instant::now() < deadline {
        poller.wait(&mut events, Some(Duration::from_millis(500))).unwrap();
        for e in &events {
            assert!(e.readable && !e.writable);
            let (n, _) = socks[e.token].recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], &(e.token as u16).to_be_bytes());
            seen.insert(e.token as u16);
            // Drained: the next wait must not report it again.
            assert_eq!(socks[e.token].recv_from(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        }
    }
    assert_eq!(seen, chosen);
    assert_eq!(poller.wait(&mut events, Some(Duration::from_millis(50))).unwrap(), 0, "level-triggered, but drained");
    assert_eq!(poller.register(&socks[0], 0, Interest::READABLE).unwrap_err().kind(), ErrorKind::AlreadyExists);
    poller.deregister(0).unwrap();
    assert_eq!(poller.deregister(0).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn a_non_blocking_echo_server_on_one_thread() {
    let (a, b) = pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), LinkConfig::default()).unwrap();
    let net = b.handle(ProcessId(1));
    const CLIENTS: usize = 50;
    // Listening before any client connects.
    let listener = TcpListener::bind(&net, SocketAddrV4::new(B, 7), 128).unwrap();
    listener.set_nonblocking(true).unwrap();
    let server = std::thread::spawn(move || {
        let poller = Poller::new(&net);
        poller.register(&listener, usize::MAX, Interest::READABLE).unwrap();
        let mut conns: HashMap<usize, TcpStream> = HashMap::new();
        let (mut next, mut finished) = (0usize, 0usize);
        let mut events: Vec<PollEvent> = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while finished < CLIENTS {
            poller.wait(&mut events, Some(Duration::from_secs(10))).unwrap();
            assert!(!events.is_empty(), "server stalled");
            for e in events.clone() {
                if e.token == usize::MAX {
                    while let Ok((s, _)) = listener.accept() {
                        s.set_nonblocking(true).unwrap();
                        poller.register(&s, next, Interest::READABLE).unwrap();
                        conns.insert(next, s);
                        next += 1;
                    }
                    continue;
                }
                let Some(s) = conns.get_mut(&e.token) else { continue };
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => {
                            s.shutdown(std::net::Shutdown::Write).unwrap();
                            poller.deregister(e.token).unwrap();
                            conns.remove(&e.token);
                            finished += 1;
                            break;
                        }
                        // Small messages: the send buffer always has room.
                        Ok(n) => s.write_all(&buf[..n]).unwrap(),
                        Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                        Err(err) => panic!("{err}"),
                    }
                }
            }
        }
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let net = a.handle(ProcessId(1));
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&net, SocketAddrV4::new(B, 7)).unwrap();
                let msg: Vec<u8> = (0..2000).map(|j| (i * 7 + j) as u8).collect();
                s.write_all(&msg).unwrap();
                s.shutdown(std::net::Shutdown::Write).unwrap();
                let mut back = Vec::new();
                s.read_to_end(&mut back).unwrap();
                assert_eq!(back, msg, "client {i}");
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
}

/// A poller loop stopped by shutting its datagram socket down from another
/// thread: the shutdown makes the socket readable (a receive returns 0 at
/// once), so the waiting poller wakes and sees it, as epoll does on Linux.
#[test]
fn a_datagram_shutdown_wakes_the_poller() {
    let (a, _b) =
        pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), LinkConfig::default()).unwrap();
    let net = a.handle(ProcessId(1));
    let s = Socket::new(&net, Domain::Ipv4, Type::Datagram, None).unwrap();
    s.connect(SocketAddrV4::new(B, 53)).unwrap();
    s.set_nonblocking(true).unwrap();
    let poller = Poller::new(&net);
    poller.register(&s, 7, Interest::READABLE).unwrap();
    let mut events = Vec::new();
    assert_eq!(poller.wait(&mut events, Some(Duration::from_millis(50))).unwrap(), 0, "nothing to read yet");
    let other = s.try_clone().unwrap();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        other.shutdown(std::net::Shutdown::Read).unwrap();
    });
    // Long enough that a missed wake-up fails the test, not the clock.
    let n = poller.wait(&mut events, Some(Duration::from_secs(20))).unwrap();
    stopper.join().unwrap();
    assert_eq!(n, 1, "the shutdown must wake the poller");
    assert_eq!((events[0].token, events[0].readable), (7, true));
    assert_eq!(s.recv(&mut [0u8; 8]).unwrap(), 0, "end of stream, not WouldBlock");
    // Level-triggered: still readable.
    assert_eq!(poller.wait(&mut events, Some(Duration::from_millis(50))).unwrap(), 1);
}
