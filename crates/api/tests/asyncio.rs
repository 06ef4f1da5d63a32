//! Async (tokio) sockets on real-time drivers joined by an in-memory link.

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sockstack_api::{pair, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, Driver};
use sockstack_link::LinkConfig;
use sockstack_stack::ProcessId;
use sockstack_wire::Ipv4Addr;
use std::convert::Infallible;
use std::io::ErrorKind;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn nets() -> (Driver, Driver) {
    pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), LinkConfig::default()).unwrap()
}

fn data(len: usize, salt: usize) -> Vec<u8> {
    (0..len).map(|i| ((i ^ salt.wrapping_mul(0x9E37)).wrapping_mul(2654435761) >> 13) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_serves_a_mebibyte_to_a_hyper_client_across_two_stacks() {
    let (a, b) = nets();
    let body = Bytes::from(data(1 << 20, 7));
    let listener = AsyncTcpListener::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(B, 80), 16).unwrap();
    let served = body.clone();
    let server = tokio::spawn(async move {
        let (conn, peer) = listener.accept().await.unwrap();
        assert_eq!(*peer.ip(), A);
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let served = served.clone();
            async move {
                assert_eq!(req.uri().path(), "/big");
                Ok::<_, Infallible>(Response::new(Full::new(served)))
            }
        });
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(conn), service).await.unwrap();
    });

    let stream = AsyncTcpStream::connect(&a.handle(ProcessId(1)), SocketAddrV4::new(B, 80)).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    let client_conn = tokio::spawn(conn);
    let req = Request::get("/big").header(hyper::header::HOST, "192.0.2.2").body(Empty::<Bytes>::new()).unwrap();
    let resp = timeout(Duration::from_secs(20), sender.send_request(req)).await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let got = timeout(Duration::from_secs(20), resp.into_body().collect()).await.unwrap().unwrap().to_bytes();
    assert_eq!(got.len(), body.len());
    assert!(got == body, "the body differs");
    // Closing the client ends the server's connection.
    drop(sender);
    timeout(Duration::from_secs(10), client_conn).await.unwrap().unwrap().unwrap();
    timeout(Duration::from_secs(10), server).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echo_server_handles_a_thousand_concurrent_connections() {
    const CONNS: usize = 1000;
    const LEN: usize = 4096;
    let (a, b) = nets();
    let listener = AsyncTcpListener::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(B, 7), 1024).unwrap();
    let server = tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                loop {
                    let n = conn.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break conn.shutdown().await.unwrap();
                    }
                    conn.write_all(&buf[..n]).await.unwrap();
                }
            });
        }
    });
    let net = a.handle(ProcessId(1));
    let t0 = std::time::Instant::now();
    let clients: Vec<_> = (0..CONNS)
        .map(|i| {
            let net = net.clone();
            tokio::spawn(async move {
                let mut s = AsyncTcpStream::connect(&net, SocketAddrV4::new(B, 7)).await.unwrap();
                let sent = data(LEN, i);
                let (mut r, mut w) = tokio::io::split(&mut s);
                let mut got = vec![0u8; LEN];
                let (wrote, read) = tokio::join!(w.write_all(&sent), r.read_exact(&mut got));
                wrote.unwrap();
                read.unwrap_or_else(|e| panic!("connection {i}: {e}"));
                assert!(got == sent, "connection {i}: the echo differs");
                // Everything read: half-close; the server's FIN follows.
                // (Reading before closing matters: a RST that reaches a
                // connection in TIME-WAIT discards data still unread in
                // it, a stack behaviour this test does not cover.)
                s.shutdown().await.unwrap();
                assert_eq!(s.read(&mut got).await.unwrap(), 0, "connection {i}: more than was sent");
            })
        })
        .collect();
    for c in clients {
        timeout(Duration::from_secs(60), c).await.expect("echo timed out").unwrap();
    }
    eprintln!("{CONNS} concurrent echo connections of {LEN} bytes: {:?}", t0.elapsed());
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_round_trip_and_concurrent_receivers() {
    let (a, b) = nets();
    let server = AsyncUdpSocket::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(B, 7)).unwrap();
    let client = AsyncUdpSocket::bind(&a.handle(ProcessId(1)), SocketAddrV4::new(A, 0)).unwrap();
    let echo = tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        server.send_to(&buf[..n], from).await.unwrap();
        from
    });
    // The receive waits first: the datagram wakes it.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let msg = data(1200, 3);
    assert_eq!(client.send_to(&msg, SocketAddrV4::new(B, 7)).await.unwrap(), msg.len());
    let mut buf = [0u8; 2048];
    let (n, from) = timeout(Duration::from_secs(5), client.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!((&buf[..n], from), (&msg[..], SocketAddrV4::new(B, 7)));
    assert_eq!(echo.await.unwrap(), client.local_addr().unwrap());

    // Two tasks wait on one socket; two datagrams wake both.
    let shared = Arc::new(AsyncUdpSocket::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(B, 9)).unwrap());
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let s = shared.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 16];
                let (n, _) = s.recv_from(&mut buf).await.unwrap();
                buf[..n].to_vec()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    client.send_to(b"one", SocketAddrV4::new(B, 9)).await.unwrap();
    client.send_to(b"two", SocketAddrV4::new(B, 9)).await.unwrap();
    let mut got = Vec::new();
    for w in waiters {
        got.push(timeout(Duration::from_secs(5), w).await.expect("a receiver was not woken").unwrap());
    }
    got.sort();
    assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_and_connect_report_error_kinds() {
    let (a, b) = nets();
    let (an, bn) = (a.handle(ProcessId(1)), b.handle(ProcessId(1)));
    // Nobody listens on port 9: the peer's RST refuses the connection.
    let e = timeout(Duration::from_secs(5), AsyncTcpStream::connect(&an, SocketAddrV4::new(B, 9)))
        .await
        .unwrap()
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);

    let l = AsyncTcpListener::bind(&bn, SocketAddrV4::new(B, 80), 4).unwrap();
    assert_eq!(l.local_addr().unwrap(), SocketAddrV4::new(B, 80));
    assert_eq!(AsyncTcpListener::bind(&bn, SocketAddrV4::new(B, 80), 4).err().unwrap().kind(), ErrorKind::AddrInUse);
    assert_eq!(
        AsyncTcpListener::bind(&bn, SocketAddrV4::new(A, 80), 4).err().unwrap().kind(),
        ErrorKind::AddrNotAvailable
    );
    assert_eq!(AsyncUdpSocket::bind(&bn, SocketAddrV4::new(A, 7)).err().unwrap().kind(), ErrorKind::AddrNotAvailable);

    // Two tasks accept on one listener: both get a connection.
    let l = Arc::new(l);
    let acceptors: Vec<_> = (0..2)
        .map(|_| {
            let l = l.clone();
            tokio::spawn(async move { l.accept().await.unwrap() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let c1 = AsyncTcpStream::connect_to(&an, "192.0.2.2:80").await.unwrap();
    let c2 = AsyncTcpStream::connect(&an, SocketAddrV4::new(B, 80)).await.unwrap();
    c1.set_nodelay(true).unwrap();
    assert!(c1.nodelay().unwrap());
    let mut peers = Vec::new();
    for t in acceptors {
        let (s, peer) = timeout(Duration::from_secs(5), t).await.expect("an acceptor was not woken").unwrap();
        assert_eq!(s.peer_addr().unwrap(), peer);
        assert_eq!(s.local_addr().unwrap(), SocketAddrV4::new(B, 80));
        peers.push(peer);
    }
    peers.sort();
    let mut mine = vec![c1.local_addr().unwrap(), c2.local_addr().unwrap()];
    mine.sort();
    assert_eq!(peers, mine);

    // Names need a resolver (run on the blocking pool); a target needs a port.
    assert_eq!(AsyncTcpStream::connect_to(&an, "web:80").await.err().unwrap().kind(), ErrorKind::NotFound);
    assert_eq!(AsyncTcpStream::connect_to(&an, "web").await.err().unwrap().kind(), ErrorKind::InvalidInput);
    a.set_resolver(Arc::new(|name: &str| match name {
        "web" => Ok(vec![B]),
        _ => Err(std::io::Error::new(ErrorKind::NotFound, "no such name")),
    }));
    let c3 = AsyncTcpStream::connect_to(&an, "web:80").await.unwrap();
    assert_eq!(c3.peer_addr().unwrap(), SocketAddrV4::new(B, 80));
    assert_eq!(AsyncTcpStream::connect_to(&an, "nosuch:80").await.err().unwrap().kind(), ErrorKind::NotFound);

    // Dropping the listener closes it: connections are refused again.
    drop(l);
    let e = AsyncTcpStream::connect(&an, SocketAddrV4::new(B, 80)).await.err().unwrap();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);

    // Once the driver has stopped, a call that would wait fails instead.
    drop(b);
    let e = AsyncTcpListener::bind(&bn, SocketAddrV4::new(B, 81), 4).unwrap().accept().await.err().unwrap();
    assert_eq!(e.kind(), ErrorKind::NotConnected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_connections_on_two_workers_echo_every_byte() {
    // Client and server on one stack: each pair hands segments straight
    // over, from whichever worker runs a call, while the other worker and
    // the driver use the stack and the same connections.
    const CONNS: usize = 200;
    const LEN: usize = 300_000;
    let mut stack = sockstack_stack::Stack::new(sockstack_stack::StackConfig::default());
    stack.add_interface(sockstack_stack::InterfaceConfig::new("lo0", "192.0.2.1/24".parse().unwrap()).with_mtu(65535));
    let d = Driver::start(stack, sockstack_api::inbox(), Vec::new());
    let net = d.handle(ProcessId(1));
    let listener = AsyncTcpListener::bind(&net, SocketAddrV4::new(A, 7), 1024).unwrap();
    let server = tokio::spawn(async move {
        loop {
            let (conn, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let (mut r, mut w) = tokio::io::split(conn);
                tokio::io::copy(&mut r, &mut w).await.unwrap();
                w.shutdown().await.unwrap();
            });
        }
    });
    let clients: Vec<_> = (0..CONNS)
        .map(|i| {
            let net = net.clone();
            tokio::spawn(async move {
                let s = AsyncTcpStream::connect(&net, SocketAddrV4::new(A, 7)).await.unwrap();
                let sent = data(LEN, i);
                let (mut r, mut w) = tokio::io::split(s);
                let writer = async {
                    w.write_all(&sent).await.unwrap();
                    w.shutdown().await.unwrap();
                };
                let mut got = Vec::with_capacity(LEN);
                let (_, read) = tokio::join!(writer, r.read_to_end(&mut got));
                read.unwrap_or_else(|e| panic!("connection {i}: {e}"));
                assert!(got == sent, "connection {i}: the echo differs ({} of {LEN} bytes)", got.len());
            })
        })
        .collect();
    for c in clients {
        timeout(Duration::from_secs(120), c).await.expect("echo timed out").unwrap();
    }
    server.abort();
    let stats = d.lock_stats();
    assert!(stats.kicks >= CONNS as u64, "reads and writes went through the connections' own locks: {stats:?}");
}

/// A task waiting on a socket when its driver stops is woken and gets the
/// driver-stopped error, not left pending for ever: a read on a TCP
/// stream, an accept on a listener, a UDP receive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_tasks_wake_when_the_driver_stops() {
    let (a, b) = nets();
    let listener = AsyncTcpListener::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(B, 80), 16).unwrap();
    let idle = AsyncTcpListener::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(B, 81), 16).unwrap();
    let udp = AsyncUdpSocket::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(B, 53)).unwrap();
    let client = AsyncTcpStream::connect(&a.handle(ProcessId(1)), SocketAddrV4::new(B, 80)).await.unwrap();
    let (mut server, _) = listener.accept().await.unwrap();
    let read = tokio::spawn(async move {
        let mut buf = [0u8; 16];
        server.read(&mut buf).await
    });
    let accept = tokio::spawn(async move { idle.accept().await.map(|_| ()) });
    let recv = tokio::spawn(async move {
        let mut buf = [0u8; 16];
        udp.recv_from(&mut buf).await.map(|_| ())
    });
    // All three are parked on their wakers now.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!read.is_finished() && !accept.is_finished() && !recv.is_finished());
    drop(b);
    let read = timeout(Duration::from_secs(5), read).await.expect("read woken").unwrap();
    assert_eq!(read.unwrap_err().kind(), ErrorKind::NotConnected);
    let accept = timeout(Duration::from_secs(5), accept).await.expect("accept woken").unwrap();
    assert_eq!(accept.unwrap_err().kind(), ErrorKind::NotConnected);
    let recv = timeout(Duration::from_secs(5), recv).await.expect("recv woken").unwrap();
    assert_eq!(recv.unwrap_err().kind(), ErrorKind::NotConnected);
    drop((client, a));
}

/// The catch-all sockets through tokio: B's interface takes any address;
/// A sends everything to B. A connection to an address B does not own is
/// accepted with that address as its local one, and a datagram to another
/// is answered from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_all_sockets_answer_for_any_address() {
    let (a, b) = nets();
    a.with_stack(|s| s.set_default_gateway(B)).unwrap();
    b.with_stack(|s| s.set_interface_any_address(sockstack_stack::IfaceId(0), true)).unwrap();
    let far = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 77), 443);
    let listener = AsyncTcpListener::bind_any(&b.handle(ProcessId(1)), 16).unwrap();
    let server = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let asked = conn.local_addr().unwrap();
        let mut got = vec![0u8; 100_000];
        conn.read_exact(&mut got).await.unwrap();
        conn.write_all(asked.to_string().as_bytes()).await.unwrap();
        conn.shutdown().await.unwrap();
        got
    });
    let mut stream = AsyncTcpStream::connect(&a.handle(ProcessId(1)), far).await.unwrap();
    let sent = data(100_000, 3);
    stream.write_all(&sent).await.unwrap();
    let mut answer = String::new();
    timeout(Duration::from_secs(10), stream.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert_eq!(answer, "198.51.100.77:443");
    assert!(timeout(Duration::from_secs(10), server).await.unwrap().unwrap() == sent);

    let udp = AsyncUdpSocket::bind_any(&b.handle(ProcessId(1))).unwrap();
    let client = AsyncUdpSocket::bind(&a.handle(ProcessId(1)), SocketAddrV4::new(A, 0)).unwrap();
    let dns = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 53), 53);
    client.send_to(b"query", dns).await.unwrap();
    let mut buf = [0u8; 64];
    let (n, from, to) = timeout(Duration::from_secs(10), udp.recv_msg(&mut buf)).await.unwrap().unwrap();
    assert_eq!((&buf[..n], to), (&b"query"[..], dns));
    udp.send_from(b"answer", to, from).await.unwrap();
    let (n, from) = timeout(Duration::from_secs(10), client.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!((&buf[..n], from), (&b"answer"[..], dns));
}
