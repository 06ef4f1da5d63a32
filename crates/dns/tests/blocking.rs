//! The DNS server and resolver on the real-time world's blocking sockets,
//! across an in-memory link between two driver threads.

use sockstack_api::pair;
use sockstack_dns::blocking::{serve, BlockingResolver};
use sockstack_dns::{Authority, Name, RType, ResolverConfig};
use sockstack_link::LinkConfig;
use sockstack_stack::ProcessId;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn blocking_resolver_gets_answers_over_udp_and_tcp() {
    let (a, b) = pair(
        "192.0.2.1/24".parse().unwrap(),
        "192.0.2.53/24".parse().unwrap(),
        LinkConfig::default().with_latency(Duration::from_millis(1)),
    )
    .unwrap();
    let hosts = [("alpha", Ipv4Addr::new(192, 0, 2, 1)), ("ns", Ipv4Addr::new(192, 0, 2, 53))];
    let authority = Authority::from_hosts(&Name::parse("test.example").unwrap(), &hosts).unwrap();
    let server = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 53), 53);
    serve(&b.handle(ProcessId(1)), server, Arc::new(authority)).unwrap();
    for use_tcp in [false, true] {
        let config = ResolverConfig { servers: vec![server], use_tcp, ..Default::default() };
        let mut r = BlockingResolver::new(a.handle(ProcessId(1)), config, 3);
        let answer = r.lookup("alpha.test.example", RType::A).unwrap();
        assert_eq!(answer.ipv4(), vec![Ipv4Addr::new(192, 0, 2, 1)], "use_tcp {use_tcp}");
        let e = r.lookup("nope.test.example", RType::A).unwrap_err();
        assert_eq!(e, sockstack_dns::resolver::ResolveError::NxDomain);
    }
}

/// Names everywhere on the blocking API: connect and send_to by
/// "name:port" through the stack's DNS resolver.
#[test]
fn blocking_sockets_connect_and_send_by_name() {
    use sockstack_api::{TcpListener, TcpStream, UdpSocket};
    use std::io::{Read, Write};

    let (a, b) =
        pair("192.0.2.1/24".parse().unwrap(), "192.0.2.53/24".parse().unwrap(), LinkConfig::default()).unwrap();
    let b_ip = Ipv4Addr::new(192, 0, 2, 53);
    let authority = Authority::from_hosts(&Name::parse("test.example").unwrap(), &[("web", b_ip)]).unwrap();
    let dns = SocketAddrV4::new(b_ip, 53);
    serve(&b.handle(ProcessId(1)), dns, Arc::new(authority)).unwrap();
    let config =
        ResolverConfig { servers: vec![dns], search: vec![Name::parse("test.example").unwrap()], ..Default::default() };
    a.set_resolver(sockstack_dns::blocking::host_resolver(a.handle(ProcessId(99)), config, 5));
    let net = a.handle(ProcessId(1));

    let listener = TcpListener::bind(&b.handle(ProcessId(2)), SocketAddrV4::new(b_ip, 80), 4).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"hello by name").unwrap();
    });
    let mut c = TcpStream::connect_to(&net, "web:80").unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hello by name");
    server.join().unwrap();

    let rx = UdpSocket::bind(&b.handle(ProcessId(2)), SocketAddrV4::new(b_ip, 9)).unwrap();
    let tx = UdpSocket::bind(&net, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    tx.send_to_host(&net, b"datagram by name", "web.test.example:9").unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = rx.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"datagram by name");

    assert_eq!(net.lookup_host("nosuch").unwrap_err().kind(), std::io::ErrorKind::NotFound);
    assert_eq!(net.resolve_target("192.0.2.7:5").unwrap(), SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 7), 5));
    assert_eq!(net.resolve_target("web").unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}
