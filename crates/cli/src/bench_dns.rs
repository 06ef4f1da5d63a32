//! `sockstack bench dns`: queries per second answered by sockstack's DNS
//! server, over the in-memory network and over a TUN device, beside
//! dnsmasq answering the same names on the same machine in the same run.
//! The load generator keeps a window of queries outstanding and counts
//! answers whose ID matches.

use crate::netns::Netns;
use sockstack_dns::message::build_query;
use sockstack_dns::{Authority, Name, RType};
use sockstack_sim::{LinkConfig, Sim};
use sockstack_wire::Ipv4Addr;
use std::cell::Cell;
use std::io;
use std::net::{SocketAddrV4, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Queries kept in flight by every load generator.
const WINDOW: usize = 64;

fn names() -> Vec<Name> {
    (0..100).map(|i| Name::parse(&format!("host{i}.bench.test")).expect("valid")).collect()
}

fn zone_hosts() -> Vec<(String, Ipv4Addr)> {
    (0..100).map(|i| (format!("host{i}"), Ipv4Addr::new(203, 0, 113, i as u8))).collect()
}

/// The load generator on kernel sockets (run inside a namespace by
/// `bench dns`): `queries` A queries to `server`, `WINDOW` outstanding.
pub fn kernel_load(server: SocketAddrV4, queries: u32) -> io::Result<f64> {
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    sock.connect(server)?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    let names = names();
    let mut buf = [0u8; 1500];
    let (mut sent, mut answered) = (0u32, 0u32);
    let start = Instant::now();
    while answered < queries {
        while sent < queries && (sent - answered) < WINDOW as u32 {
            let q = build_query(sent as u16, &names[sent as usize % names.len()], RType::A, None);
            sock.send(&q)?;
            sent += 1;
        }
        match sock.recv(&mut buf) {
            Ok(n) if n >= 12 => answered += 1,
            Ok(_) => {}
            // A lost query: count it answered so the window moves, as a
            // load generator's timeout would.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
                answered += (sent - answered).min(1)
            }
            Err(e) => return Err(e),
        }
    }
    Ok(f64::from(queries) / start.elapsed().as_secs_f64())
}

/// sockstack's server and client on two simulated hosts, packets handed
/// across a perfect switch; wall-clock queries per second.
fn in_memory(queries: u32) -> io::Result<f64> {
    let mut sim = Sim::new(1);
    let lan =
        sim.add_switch("lan", "192.0.2.0/24".parse().unwrap(), LinkConfig::default().with_queue_limit(100_000))?;
    let (ns, client) = (sim.add_host("ns"), sim.add_host("client"));
    let ns_ip = sim.attach(ns, lan, Ipv4Addr::new(192, 0, 2, 53))?;
    let client_ip = sim.attach(client, lan, Ipv4Addr::new(192, 0, 2, 10))?;
    let hosts = zone_hosts();
    let hosts: Vec<(&str, Ipv4Addr)> = hosts.iter().map(|(n, a)| (n.as_str(), *a)).collect();
    let authority = Rc::new(
        Authority::from_hosts(&Name::parse("bench.test").expect("valid"), &hosts)
            .map_err(|e| io::Error::other(e.to_string()))?,
    );
    let server = SocketAddrV4::new(ns_ip, 53);
    sim.spawn(ns, "dnsd", move |p| async move {
        let _ = sockstack_dns::serve(p, server, authority).await;
    });
    let answered = Rc::new(Cell::new(0u32));
    let a = answered.clone();
    let load = sim.spawn(client, "load", move |p| async move {
        let sock = p.udp_bind(SocketAddrV4::new(client_ip, 0)).expect("bind");
        let names = names();
        let (mut sent, mut got) = (0u32, 0u32);
        while got < queries {
            while sent < queries && (sent - got) < WINDOW as u32 {
                let q = build_query(sent as u16, &names[sent as usize % names.len()], RType::A, None);
                sock.send_to(&q, server).await.expect("send");
                sent += 1;
            }
            let m = sock.recv_message().await.expect("recv");
            if m.data.len() >= 12 {
                got += 1;
            }
        }
        a.set(got);
    });
    let start = Instant::now();
    sim.run_until_finished(load);
    let secs = start.elapsed().as_secs_f64();
    if answered.get() != queries {
        return Err(io::Error::other("in-memory load did not finish"));
    }
    Ok(f64::from(queries) / secs)
}

/// Over TUN: `sockstack serve --zone` on tun0 and dnsmasq on the kernel
/// side's loopback, both with the same 100 names, loaded from the kernel.
fn over_tun(queries: u32) -> io::Result<(f64, f64)> {
    let exe = std::env::current_exe()?;
    let exe = exe.to_str().ok_or_else(|| io::Error::other("executable path is not UTF-8"))?.to_string();
    let mut ns = Netns::new("dns")?;
    let dir = std::env::temp_dir().join(format!("sockstack-bench-dns-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let zone = dir.join("bench.test.zone");
    let mut text = String::from("$ORIGIN bench.test.\n$TTL 300\n@ IN SOA ns hostmaster 1 7200 3600 1209600 300\n@ IN NS ns\nns IN A 192.0.2.2\n");
    for (n, a) in zone_hosts() {
        text.push_str(&format!("{n} IN A {a}\n"));
    }
    std::fs::write(&zone, text)?;
    let zone_s = zone.to_str().unwrap_or_default().to_string();
    ns.spawn(&[
        &exe,
        "serve",
        "--tun",
        "tun0",
        "--addr",
        "192.0.2.2/24",
        "--kernel-addr",
        "192.0.2.1/24",
        "--zone",
        &zone_s,
    ])?;
    let mut dnsmasq_args = vec![
        "dnsmasq".to_string(),
        "--no-daemon".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--listen-address=127.0.0.1".into(),
        "--bind-interfaces".into(),
        "--port=5353".into(),
    ];
    for (n, a) in zone_hosts() {
        dnsmasq_args.push(format!("--host-record={n}.bench.test,{a}"));
    }
    let argv: Vec<&str> = dnsmasq_args.iter().map(String::as_str).collect();
    ns.spawn(&argv)?;
    // Wait for both to answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let probe = |addr: &str| ns.output(&[&exe, "bench", "dns-load", "--server", addr, "--queries", "1"]).is_ok();
        if probe("192.0.2.2:53") && probe("127.0.0.1:5353") {
            break;
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "DNS servers did not come up"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let measure = |addr: &str| -> io::Result<f64> {
        let q = queries.to_string();
        let out = ns.output(&[&exe, "bench", "dns-load", "--server", addr, "--queries", &q])?;
        out.trim().parse().map_err(|_| io::Error::other(format!("load generator said {out:?}")))
    };
    let sockstack = measure("192.0.2.2:53")?;
    let dnsmasq = measure("127.0.0.1:5353")?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((sockstack, dnsmasq))
}

pub fn run(json: bool, queries: u32) -> io::Result<()> {
    let mem = in_memory(queries)?;
    let (tun, dnsmasq) = over_tun(queries)?;
    let rows = [
        ("sockstack server, in-memory network (engine, one thread)", mem),
        ("sockstack server over TUN, kernel load generator", tun),
        ("dnsmasq on the kernel side, same load generator", dnsmasq),
    ];
    if json {
        for (system, v) in rows {
            println!(
                "{{\"workload\": \"dns_qps\", \"system\": \"{system}\", \"value\": {v:.0}, \"unit\": \"queries/s\"}}"
            );
        }
        return Ok(());
    }
    println!("DNS A queries, {queries} per run, {WINDOW} outstanding");
    for (system, v) in rows {
        println!("{system:<58} {v:>12.0} queries/s   {:>6.2}x of dnsmasq", v / dnsmasq);
    }
    Ok(())
}
