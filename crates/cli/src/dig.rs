//! `sockstack dig`: look a name up with sockstack's stub resolver and print
//! the answer the way dig does. With `--tun` the query goes over a TUN
//! device to a real server on the kernel side; without, into a small
//! simulated network whose DNS server knows the demo's hosts.

use crate::real::TunArgs;
use sockstack_dns::blocking::BlockingResolver;
use sockstack_dns::resolver::{Answer, ResolveError};
use sockstack_dns::{Authority, Name, RType, ResolverConfig, SimResolver};
use sockstack_sim::{LinkConfig, Sim};
use sockstack_stack::ProcessId;
use sockstack_time::Duration;
use sockstack_wire::Ipv4Addr;
use std::cell::RefCell;
use std::io;
use std::net::SocketAddrV4;
use std::rc::Rc;
use std::sync::Arc;

/// The hosts of the demo network, as the simulated DNS server knows them.
pub const DEMO_HOSTS: [(&str, [u8; 4]); 5] = [
    ("alice", [192, 0, 2, 10]),
    ("bob", [192, 0, 2, 20]),
    ("gw", [192, 0, 2, 1]),
    ("ns", [192, 0, 2, 53]),
    ("carol", [198, 51, 100, 7]),
];

/// What was asked: `NAME [TYPE] [@SERVER]` in any order, as dig takes them.
pub struct Query {
    pub name: String,
    pub rtype: RType,
    pub server: Option<Ipv4Addr>,
}

pub fn parse_args(args: &[String]) -> io::Result<Query> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    let (mut name, mut rtype, mut server) = (None, None, None);
    for a in args {
        if let Some(s) = a.strip_prefix('@') {
            server = Some(s.parse().map_err(|_| bad(format!("{s}: the server must be an IPv4 address")))?);
        } else if let Some(t) = RType::from_mnemonic(a).filter(|_| name.is_some() || a.eq_ignore_ascii_case("any")) {
            rtype = Some(t);
        } else if name.is_none() {
            name = Some(a.clone());
        } else {
            return Err(bad(format!("{a}: unexpected argument")));
        }
    }
    Ok(Query {
        name: name.ok_or_else(|| bad("a name to look up is needed".into()))?,
        rtype: rtype.unwrap_or(RType::A),
        server,
    })
}

/// Prints an answer (or the failure) as dig does.
fn print(q: &Query, server: SocketAddrV4, result: &Result<Answer, ResolveError>, elapsed: std::time::Duration) {
    let status = match result {
        Ok(_) => "NOERROR",
        Err(ResolveError::NxDomain) => "NXDOMAIN",
        Err(ResolveError::NoData) => "NOERROR",
        Err(ResolveError::ServerError(2)) => "SERVFAIL",
        Err(ResolveError::ServerError(5)) => "REFUSED",
        Err(_) => "TIMEOUT",
    };
    println!("; <<>> sockstack dig <<>> {} {} @{}", q.name, q.rtype, server.ip());
    println!(";; ->>HEADER<<- opcode: QUERY, status: {status}");
    println!();
    println!(";; QUESTION SECTION:");
    println!(";{}.\t\tIN\t{}", q.name.trim_end_matches('.'), q.rtype);
    if let Ok(a) = result {
        println!();
        println!(";; ANSWER SECTION:");
        for r in a.cnames.iter().chain(&a.records) {
            println!("{}", r.to_string().replacen(' ', "\t", 4));
        }
    } else if let Err(e) = result {
        println!();
        println!(";; {e}");
    }
    println!();
    println!(";; Query time: {} msec", elapsed.as_millis());
    println!(";; SERVER: {}#{}({})", server.ip(), server.port(), server.ip());
}

/// dig over a TUN device, to a server on the kernel side.
pub fn over_tun(tun: TunArgs, q: Query, tcp: bool) -> io::Result<()> {
    let server = SocketAddrV4::new(q.server.unwrap_or(tun.kernel_addr.address), 53);
    let stack = tun.start()?;
    let config = ResolverConfig { servers: vec![server], use_tcp: tcp, ..Default::default() };
    let mut resolver = BlockingResolver::new(stack.driver.handle(ProcessId(1)), config, u64::from(std::process::id()));
    let t0 = std::time::Instant::now();
    let result = resolver.lookup(&q.name, q.rtype);
    print(&q, server, &result, t0.elapsed());
    result.map(|_| ()).or_else(|e| match e {
        ResolveError::NxDomain | ResolveError::NoData => Ok(()),
        e => Err(io::Error::other(e.to_string())),
    })
}

/// dig in a simulated network: a DNS server on host `ns` (192.0.2.53)
/// serving `demo.` (every demo host, forward and reverse), a client on
/// `alice`, a 5 ms switch between them.
pub fn in_simulation(q: Query) -> io::Result<()> {
    let mut sim = Sim::new(1);
    let lan = sim.add_switch(
        "lan",
        "192.0.2.0/24".parse().unwrap(),
        LinkConfig::default().with_latency(Duration::from_millis(5)),
    )?;
    let ns = sim.add_host("ns");
    let alice = sim.add_host("alice");
    let ns_ip = sim.attach(ns, lan, Ipv4Addr::new(192, 0, 2, 53))?;
    sim.attach(alice, lan, Ipv4Addr::new(192, 0, 2, 10))?;
    let hosts: Vec<(&str, Ipv4Addr)> = DEMO_HOSTS.iter().map(|(n, a)| (*n, Ipv4Addr::from(*a))).collect();
    let origin = Name::parse("demo").map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let authority = Rc::new(
        Authority::from_hosts(&origin, &hosts)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?,
    );
    let server = SocketAddrV4::new(q.server.unwrap_or(ns_ip), 53);
    sim.spawn(ns, "dnsd", move |p| async move {
        let _ = sockstack_dns::serve(p, SocketAddrV4::new(ns_ip, 53), authority).await;
    });
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    let (name, rtype) = (q.name.clone(), q.rtype);
    let client = sim.spawn(alice, "dig", move |p| async move {
        let config = ResolverConfig {
            servers: vec![server],
            search: vec![Name::parse("demo").expect("valid")],
            ..Default::default()
        };
        let r = SimResolver::new(p.clone(), config, 7);
        let t0 = p.now();
        let result = r.lookup(&name, rtype).await;
        *o.borrow_mut() = Some((result, p.now() - t0));
    });
    sim.run_until_finished(client);
    let (result, took) = out.borrow_mut().take().ok_or_else(|| io::Error::other("the lookup did not finish"))?;
    println!(";; (simulated network: server ns.demo 192.0.2.53, client alice.demo; virtual time)");
    print(&q, server, &result, took);
    Ok(())
}

/// Loads a zone file for `serve --zone` and starts answering on port 53.
pub fn serve_zone(net: &sockstack_api::NetHandle, addr: Ipv4Addr, path: &std::path::Path) -> io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let zone = sockstack_dns::Zone::parse(&text)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
    sockstack_dns::blocking::serve(net, SocketAddrV4::new(addr, 53), Arc::new(Authority::new(vec![zone])))
}
