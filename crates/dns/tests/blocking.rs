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
