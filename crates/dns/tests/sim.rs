//! End to end in the simulator: a DNS server process on one host, clients
//! on another.

use sockstack_dns::message::{build_query, parse_response};
use sockstack_dns::{serve, Authority, Name, RData, RType, Record, ResolverConfig, SimResolver};
use sockstack_sim::{HostId, LinkConfig, Sim};
use sockstack_time::Duration;
use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const DNS: SocketAddrV4 = SocketAddrV4::new(SERVER, 53);

fn network(seed: u64, link: LinkConfig) -> (Sim, HostId, HostId) {
    let mut sim = Sim::new(seed);
    let lan = sim.add_switch("lan", "192.0.2.0/24".parse().unwrap(), link).unwrap();
    let ns = sim.add_host("ns");
    let client = sim.add_host("client");
    sim.attach(ns, lan, SERVER).unwrap();
    sim.attach(client, lan, CLIENT).unwrap();
    (sim, ns, client)
}

fn n(s: &str) -> Name {
    Name::parse(s).unwrap()
}

/// The network's own names, and a big TXT record.
fn authority() -> Rc<Authority> {
    let hosts: Vec<(String, Ipv4Addr)> =
        (0..20).map(|i| (format!("host{i}"), Ipv4Addr::new(192, 0, 2, 100 + i))).collect();
    let refs: Vec<(&str, Ipv4Addr)> = hosts.iter().map(|(h, a)| (h.as_str(), *a)).collect();
    let mut a = Authority::from_hosts(&n("sim.test"), &refs).unwrap();
    let mut zones = a.zones().to_vec();
    let strings: Vec<Vec<u8>> = (0..12).map(|i| vec![b'a' + i as u8; 200]).collect();
    zones[0].insert(Record::new(n("big.sim.test"), 300, RData::Txt(strings))).unwrap();
    a = Authority::new(zones);
    Rc::new(a)
}

fn start_server(sim: &mut Sim, ns: HostId) {
    let auth = authority();
    sim.spawn(ns, "named", move |p| async move {
        serve(p, DNS, auth).await.unwrap();
    });
}

#[test]
fn names_resolve_over_a_lossy_link_with_retries() {
    let link = LinkConfig::default().with_latency(Duration::from_millis(5)).with_loss(0.2);
    let (mut sim, ns, client) = network(11, link);
    start_server(&mut sim, ns);
    let got = Rc::new(RefCell::new(Vec::new()));
    let stats = Rc::new(RefCell::new(None));
    let (g, s) = (got.clone(), stats.clone());
    let proc = sim.spawn(client, "resolve", move |p| async move {
        let config = ResolverConfig {
            servers: vec![DNS],
            search: vec![n("sim.test")],
            timeout: Duration::from_millis(200),
            tries_per_server: 10,
            ..ResolverConfig::default()
        };
        let r = SimResolver::new(p, config, 99);
        for i in 0..20 {
            let addrs = r.lookup_ipv4(&format!("host{i}")).await.unwrap();
            g.borrow_mut().push(addrs);
        }
        // Reverse too, and a name that does not exist.
        let ptr = r.lookup("105.2.0.192.in-addr.arpa.", RType::PTR).await.unwrap();
        assert_eq!(ptr.records[0].data, RData::Ptr(n("host5.sim.test")));
        let e = r.lookup_ipv4("nobody.sim.test.").await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        *s.borrow_mut() = Some(r.stats());
    });
    assert!(sim.run_until_finished(proc), "the client finished");
    let got = got.borrow();
    for (i, addrs) in got.iter().enumerate() {
        assert_eq!(addrs, &[Ipv4Addr::new(192, 0, 2, 100 + i as u8)]);
    }
    let stats = stats.borrow().clone().unwrap();
    assert!(stats.timeouts > 0, "loss forced retries: {stats:?}");
    assert_eq!(stats.rejected(), 0);
}

#[test]
fn a_large_txt_answer_comes_over_tcp() {
    let link = LinkConfig::default().with_latency(Duration::from_millis(5));
    let (mut sim, ns, client) = network(12, link);
    start_server(&mut sim, ns);
    let done = Rc::new(RefCell::new(false));
    let d = done.clone();
    let proc = sim.spawn(client, "resolve", move |p| async move {
        let config = ResolverConfig { servers: vec![DNS], ..ResolverConfig::default() };
        let r = SimResolver::new(p, config, 5);
        let ans = r.lookup("big.sim.test", RType::TXT).await.unwrap();
        let RData::Txt(strings) = &ans.records[0].data else { panic!() };
        assert_eq!(strings.len(), 12);
        assert!(strings.iter().all(|s| s.len() == 200));
        let stats = r.stats();
        assert_eq!((stats.truncated, stats.tcp_sent), (1, 1), "{stats:?}");
        *d.borrow_mut() = true;
    });
    assert!(sim.run_until_finished(proc));
    assert!(*done.borrow());
}

#[test]
fn tcp_carries_several_pipelined_queries_per_connection() {
    let (mut sim, ns, client) = network(13, LinkConfig::default().with_latency(Duration::from_millis(1)));
    start_server(&mut sim, ns);
    let answers = Rc::new(RefCell::new(Vec::new()));
    let a = answers.clone();
    let proc = sim.spawn(client, "pipeline", move |p| async move {
        let s = p.tcp_connect(DNS).await.unwrap();
        let mut out = Vec::new();
        for (id, name) in [(1u16, "host1.sim.test"), (2, "host2.sim.test"), (3, "missing.sim.test")] {
            let q = build_query(id, &n(name), RType::A, None);
            out.extend_from_slice(&(q.len() as u16).to_be_bytes());
            out.extend_from_slice(&q);
        }
        s.write_all(&out).await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 2048];
        while a.borrow().len() < 3 {
            let k = s.read(&mut chunk).await.unwrap();
            assert!(k > 0, "connection closed early");
            buf.extend_from_slice(&chunk[..k]);
            while buf.len() >= 2 {
                let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
                if buf.len() < 2 + len {
                    break;
                }
                let r = parse_response(&buf[2..2 + len]).unwrap();
                a.borrow_mut().push((r.id, r.rcode.to_int(), r.answer.len()));
                buf.drain(..2 + len);
            }
        }
    });
    assert!(sim.run_until_finished(proc));
    assert_eq!(*answers.borrow(), [(1, 0, 1), (2, 0, 1), (3, 3, 0)]);
}

/// Names everywhere: processes connect and send to "name:port" through
/// their host's resolver, a DNS stub resolver asking a server in the
/// network, or a static hosts table.
#[test]
fn processes_connect_and_send_by_name() {
    use sockstack_sim::{HostsTable, LinkConfig, Sim};
    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::rc::Rc;

    let mut sim = Sim::new(5);
    let lan = sim.add_switch("lan", "192.0.2.0/24".parse().unwrap(), LinkConfig::default()).unwrap();
    let (ns, web, client, offline) =
        (sim.add_host("ns"), sim.add_host("web"), sim.add_host("client"), sim.add_host("offline"));
    let ns_ip = sim.attach(ns, lan, Ipv4Addr::new(192, 0, 2, 53)).unwrap();
    let web_ip = sim.attach(web, lan, Ipv4Addr::new(192, 0, 2, 80)).unwrap();
    sim.attach(client, lan, Ipv4Addr::new(192, 0, 2, 10)).unwrap();
    sim.attach(offline, lan, Ipv4Addr::new(192, 0, 2, 11)).unwrap();
    let origin = sockstack_dns::Name::parse("example.test").unwrap();
    let authority = Rc::new(sockstack_dns::Authority::from_hosts(&origin, &[("web", web_ip), ("ns", ns_ip)]).unwrap());
    sim.spawn(ns, "dnsd", move |p| async move {
        let _ = sockstack_dns::serve(p, SocketAddrV4::new(ns_ip, 53), authority).await;
    });
    let config = sockstack_dns::ResolverConfig {
        servers: vec![SocketAddrV4::new(ns_ip, 53)],
        search: vec![origin],
        ..Default::default()
    };
    let resolver_process = sim.system_process(client, "resolver");
    sim.set_resolver(client, Rc::new(sockstack_dns::SimResolver::new(resolver_process, config, 1)));
    let mut hosts = HostsTable::new();
    hosts.insert("web.example.test", web_ip);
    sim.set_resolver(offline, Rc::new(hosts));

    sim.spawn(web, "server", move |p| async move {
        let l = p.tcp_listen(SocketAddrV4::new(web_ip, 80), 8).unwrap();
        let udp = p.udp_bind(SocketAddrV4::new(web_ip, 9)).unwrap();
        for _ in 0..2 {
            let (s, _) = l.accept().await.unwrap();
            s.write_all(b"hello by name").await.unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let m = udp.recv_message().await.unwrap();
        assert_eq!(m.data, b"datagram by name");
    });
    let c = sim.spawn(client, "c", |p| async move {
        // Through DNS, with the search domain.
        let s = p.tcp_connect_to("web:80").await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello by name");
        let u = p.udp_bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        u.send_to_host(&p, b"datagram by name", "web.example.test:9").await.unwrap();
        let e = p.tcp_connect_to("nosuch:80").await.err().unwrap();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    });
    let o = sim.spawn(offline, "o", |p| async move {
        // Through the hosts table.
        let s = p.tcp_connect_to("web.example.test:80").await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello by name");
        assert_eq!(p.lookup_host("web").await.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    });
    assert!(sim.run_until_finished(c));
    assert!(sim.run_until_finished(o));
}
