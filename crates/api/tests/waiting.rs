//! Blocked calls wait on their own socket: traffic on other sockets does
//! not wake them, and every thread blocked on one socket is served.

use sockstack_api::{Driver, NetHandle, TcpListener, TcpStream, UdpSocket};
use sockstack_stack::ProcessId;
use sockstack_wire::Ipv4Addr;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn one_stack() -> Driver {
    let mut stack = sockstack_stack::Stack::new(sockstack_stack::StackConfig::default());
    let cidr = sockstack_wire::Ipv4Cidr::new(A, 24).unwrap();
    stack.add_interface(sockstack_stack::InterfaceConfig::new("lo0", cidr).with_mtu(65535));
    Driver::start(stack, sockstack_api::inbox(), Vec::new())
}

fn net(d: &Driver) -> NetHandle {
    d.handle(ProcessId(1))
}

fn sa(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(A, port)
}

/// Retries a non-blocking call until it stops saying `WouldBlock`.
fn spin<T>(mut f: impl FnMut() -> std::io::Result<T>) -> T {
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn calls_blocked_on_quiet_sockets_sleep_through_traffic_on_others() {
    let d = one_stack();
    let n = net(&d);
    let quiet: Vec<Arc<UdpSocket>> = (0..4).map(|i| Arc::new(UdpSocket::bind(&n, sa(7100 + i)).unwrap())).collect();
    let blocked: Vec<_> = quiet
        .iter()
        .map(|u| {
            let u = u.clone();
            u.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                let (k, _) = u.recv_from(&mut buf).unwrap();
                buf[..k].to_vec()
            })
        })
        .collect();
    // Long enough for all four to be asleep, past their spin.
    std::thread::sleep(Duration::from_millis(200));
    let before = d.lock_stats().wakeups;
    // 3000 datagrams between two non-blocking sockets: no call of theirs
    // blocks, and every one changes the stack.
    let tx = UdpSocket::bind(&n, sa(7200)).unwrap();
    let rx = UdpSocket::bind(&n, sa(7201)).unwrap();
    tx.set_nonblocking(true).unwrap();
    rx.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    for i in 0..3000u32 {
        spin(|| tx.send_to(&i.to_be_bytes(), sa(7201)));
        let (k, from) = spin(|| rx.recv_from(&mut buf));
        assert_eq!((&buf[..k], from), (&i.to_be_bytes()[..], sa(7200)));
    }
    let woke = d.lock_stats().wakeups - before;
    for i in 0..4u16 {
        spin(|| tx.send_to(format!("release {i}").as_bytes(), sa(7100 + i)));
    }
    for (i, t) in blocked.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), format!("release {i}").into_bytes());
    }
    assert_eq!(woke, 0, "calls blocked on quiet sockets woke {woke} times for traffic elsewhere");
}

#[test]
fn every_thread_blocked_on_one_socket_is_served() {
    let d = one_stack();
    let n = net(&d);
    // Three threads in recv_from on one UDP socket.
    let u = Arc::new(UdpSocket::bind(&n, sa(7300)).unwrap());
    u.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let u = u.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                let (k, _) = u.recv_from(&mut buf).unwrap();
                buf[..k].to_vec()
            })
        })
        .collect();
    // Three threads in accept on one listener.
    let l = Arc::new(TcpListener::bind(&n, sa(7301), 8).unwrap());
    l.set_accept_timeout(Some(Duration::from_secs(30))).unwrap();
    let acceptors: Vec<_> = (0..3)
        .map(|_| {
            let l = l.clone();
            std::thread::spawn(move || {
                let (mut s, _) = l.accept().unwrap();
                let mut one = [0u8; 1];
                s.read_exact(&mut one).unwrap();
                one[0]
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let tx = UdpSocket::bind(&n, sa(7302)).unwrap();
    for i in 0..3u8 {
        tx.send_to(&[b'a' + i], sa(7300)).unwrap();
    }
    let mut clients = Vec::new();
    for i in 0..3u8 {
        let mut c = TcpStream::connect(&n, sa(7301)).unwrap();
        c.write_all(&[b'x' + i]).unwrap();
        clients.push(c);
    }
    let mut got: Vec<Vec<u8>> = readers.into_iter().map(|t| t.join().unwrap()).collect();
    got.sort();
    assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    let mut accepted: Vec<u8> = acceptors.into_iter().map(|t| t.join().unwrap()).collect();
    accepted.sort();
    assert_eq!(accepted, b"xyz");
}
