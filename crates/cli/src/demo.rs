//! `sockstack demo`: a small network of named hosts in virtual time.
//!
//! ```text
//!   alice 192.0.2.10 ─┐                                    
//!   bob   192.0.2.20 ─┼─ lan 192.0.2.0/24 ─ gw ─ wan 198.51.100.0/24 ─ carol 198.51.100.7
//!   gw    192.0.2.1  ─┘      (switch, 1 ms)      (point-to-point, 10 ms)
//! ```

use sockstack_dns::{Authority, Name, ResolverConfig, SimResolver};
use sockstack_sim::pretty::describe;
use sockstack_sim::{Direction, LinkConfig, Process, Sim};
use sockstack_stack::ping::{echo_request, parse_echo_reply};
use sockstack_time::Duration;
use sockstack_wire::{IpProtocol, Ipv4Addr};
use std::cell::Cell;
use std::io;
use std::net::SocketAddrV4;
use std::rc::Rc;

fn say(p: &Process, what: impl AsRef<str>) {
    println!("[{}] {} (pid {}, {}): {}", p.now(), p.host_name(), p.pid().0, p.name(), what.as_ref());
}

fn step(title: &str) {
    println!();
    println!("── {title}");
}

pub fn run(seed: u64, quiet: bool, pcap: Option<&std::path::Path>) -> io::Result<()> {
    let mut sim = Sim::new(seed);
    let lan = sim.add_switch(
        "lan",
        "192.0.2.0/24".parse().unwrap(),
        LinkConfig::default().with_latency(Duration::from_millis(1)),
    )?;
    let alice = sim.add_host("alice");
    let bob = sim.add_host("bob");
    let gw = sim.add_router("gw");
    let carol = sim.add_host("carol");
    let ns = sim.add_host("ns");
    let alice_ip = sim.attach(alice, lan, Ipv4Addr::new(192, 0, 2, 10))?;
    let bob_ip = sim.attach(bob, lan, Ipv4Addr::new(192, 0, 2, 20))?;
    let gw_lan = sim.attach(gw, lan, Ipv4Addr::new(192, 0, 2, 1))?;
    let ns_ip = sim.attach(ns, lan, Ipv4Addr::new(192, 0, 2, 53))?;
    let wan = sim.connect(
        "wan",
        gw,
        "198.51.100.1/24".parse().unwrap(),
        carol,
        "198.51.100.7/24".parse().unwrap(),
        LinkConfig::default().with_latency(Duration::from_millis(10)).with_bandwidth_bps(100_000_000),
    )?;
    let carol_ip = Ipv4Addr::new(198, 51, 100, 7);
    if let Some(path) = pcap {
        sim.capture(wan, path)?;
    }
    for h in [alice, bob] {
        sim.stack_mut(h).set_default_gateway(gw_lan)?;
    }
    sim.stack_mut(carol).set_default_gateway(Ipv4Addr::new(198, 51, 100, 1))?;
    sim.stack_mut(ns).set_default_gateway(gw_lan)?;

    println!("sockstack demo: five hosts in virtual time (seed {seed})");
    println!();
    println!("  alice 192.0.2.10 ─┐");
    println!("  bob   192.0.2.20 ─┤");
    println!("  ns    192.0.2.53 ─┼─ lan 192.0.2.0/24 ─ gw (router) ─ wan 198.51.100.0/24 ─ carol 198.51.100.7");
    println!("  gw    192.0.2.1  ─┘      switch, 1 ms            point-to-point, 10 ms, 100 Mbit/s");
    println!();
    // The DNS: ns serves the zone demo. (every host, forward and reverse);
    // every other host resolves names through it.
    let hosts = [("alice", alice_ip), ("bob", bob_ip), ("gw", gw_lan), ("ns", ns_ip), ("carol", carol_ip)];
    let origin = Name::parse("demo").map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let authority = Authority::from_hosts(&origin, &hosts)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    println!("DNS: ns serves the zone demo. on port 53; the other hosts resolve through it:");
    for (name, ip) in hosts {
        println!("  {name}.demo. IN A {ip}");
    }
    let authority = Rc::new(authority);
    sim.spawn(ns, "dnsd", move |p| async move {
        let _ = sockstack_dns::serve(p, SocketAddrV4::new(ns_ip, 53), authority).await;
    });
    for (i, h) in [alice, bob, gw, carol].into_iter().enumerate() {
        let p = sim.system_process(h, "resolver");
        let config = ResolverConfig {
            servers: vec![SocketAddrV4::new(ns_ip, 53)],
            search: vec![origin.clone()],
            ..ResolverConfig::default()
        };
        sim.set_resolver(h, Rc::new(SimResolver::new(p, config, seed ^ i as u64)));
    }
    // Packets are printed while `tracing` is on (the bulk of a TCP transfer
    // is not).
    let tracing = Rc::new(Cell::new(true));
    {
        let tracing = tracing.clone();
        sim.set_tracer(move |e| {
            let line = describe(e.packet);
            // While paused, connection set-up and tear-down still show.
            let control = ["Flags [S", "Flags [F", "Flags [R"].iter().any(|f| line.contains(f));
            if quiet || !(tracing.get() || control) {
                return;
            }
            let arrow = match e.direction {
                Direction::Transmit => "→",
                Direction::Deliver => "←",
            };
            println!("      [{}] {} {} {} {}: {}", e.at, e.host, e.iface, arrow, e.net, line);
        });
    }

    // 1. ping over a raw ICMP socket, through the router.
    step("1. alice pings carol over a raw ICMP socket (through gw)");
    let pinger = sim.spawn(alice, "ping", move |p| async move {
        let sock = p.raw_socket(IpProtocol::Icmp, false).expect("raw socket");
        say(&p, "opened a raw socket for IP protocol 1 (ICMP)");
        let mut buf = vec![0u8; 2048];
        let carol_ip = p.lookup_host("carol").await.expect("resolve carol")[0];
        say(&p, format!("resolved carol → {carol_ip} (asked ns.demo)"));
        for seq in 1..=3u16 {
            let sent = p.now();
            sock.send_to(&echo_request(0x5ca1, seq, b"sockstack ping"), carol_ip).await.expect("send");
            say(&p, format!("sent echo request seq={seq} to carol ({carol_ip})"));
            loop {
                sock.readable().await.expect("readable");
                let waiting = sock.queued();
                let (n, _) = sock.recv_from(&mut buf).await.expect("recv");
                if let Some(r) = parse_echo_reply(&buf[..n]).filter(|r| r.ident == 0x5ca1 && r.seq_no == seq) {
                    say(
                        &p,
                        format!(
                            "echo reply from {} seq={} ttl={} time={:.1} ms (waited in the raw socket's queue, {} datagram(s))",
                            r.from,
                            r.seq_no,
                            r.ttl,
                            (p.now() - sent).as_secs_f64() * 1e3,
                            waiting
                        ),
                    );
                    break;
                }
            }
            p.sleep(Duration::from_millis(100)).await;
        }
    });
    if !sim.run_until_finished(pinger) {
        return Err(io::Error::other("ping did not finish"));
    }

    // 2. a UDP service on carol, a client on bob.
    step("2. bob asks carol's UDP daytime service (port 13)");
    let service = sim.spawn(carol, "daytimed", move |p| async move {
        let sock = p.udp_bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 13)).expect("bind 13");
        say(&p, format!("UDP socket bound to {}; waiting on its receive queue", sock.local_addr().unwrap()));
        loop {
            if sock.readable().await.is_err() {
                return;
            }
            say(&p, format!("receive queue of {} holds {} datagram(s)", sock.local_addr().unwrap(), sock.queued()));
            let m = sock.recv_message().await.expect("recv");
            say(&p, format!("datagram from {} to {}: {:?}", m.src, m.dst, String::from_utf8_lossy(&m.data)));
            if m.data == b"quit" {
                say(&p, "exiting; the stack frees port 13");
                return;
            }
            let answer = format!("virtual time is {}", p.now());
            sock.send_to(answer.as_bytes(), m.src).await.expect("reply");
            say(&p, format!("answered {}", m.src));
        }
    });
    let client = sim.spawn(bob, "daytime", move |p| async move {
        let sock = p.udp_bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
        say(&p, format!("UDP socket bound to ephemeral port {} (RFC 6056)", sock.local_addr().unwrap()));
        let server = p.resolve_target("carol.demo:13").await.expect("resolve carol.demo");
        say(&p, format!("resolved carol.demo:13 → {server}"));
        sock.send_to(b"what time is it?", server).await.expect("send");
        say(&p, format!("sent 16 bytes to {server}"));
        let m = sock.recv_message().await.expect("answer");
        say(&p, format!("answer from {}: {:?}", m.src, String::from_utf8_lossy(&m.data)));
    });
    sim.run_until_finished(client);

    // 3. a port has one owner.
    step("3. a port has one owner at a time");
    let squatter = sim.spawn(carol, "squatter", move |p| async move {
        match p.udp_bind(SocketAddrV4::new(carol_ip, 13)) {
            Err(e) => say(&p, format!("bind {carol_ip}:13 → {:?}: {e}", e.kind())),
            Ok(_) => say(&p, "bind succeeded (unexpected)"),
        }
    });
    sim.run_until_finished(squatter);
    let quitter = sim.spawn(bob, "quit", move |p| async move {
        let sock = p.udp_bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
        sock.send_to(b"quit", SocketAddrV4::new(carol_ip, 13)).await.expect("send");
    });
    sim.run_until_finished(quitter);
    sim.run_until_finished(service);
    let rebinder = sim.spawn(carol, "squatter", move |p| async move {
        match p.udp_bind(SocketAddrV4::new(carol_ip, 13)) {
            Ok(s) => {
                say(&p, format!("bind {} succeeded: the port was freed when daytimed exited", s.local_addr().unwrap()))
            }
            Err(e) => say(&p, format!("bind failed: {e}")),
        }
    });
    sim.run_until_finished(rebinder);

    // 4. a closed port answers with ICMP port unreachable.
    step("4. a datagram to a closed port: ICMP port unreachable, ConnectionRefused");
    let refused = sim.spawn(alice, "probe", move |p| async move {
        let sock = p.udp_bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
        let closed = SocketAddrV4::new(carol_ip, 9999);
        sock.connect(closed).expect("connect");
        sock.send(b"anyone?").await.expect("send");
        say(&p, format!("connected socket sent to {closed}"));
        let mut buf = [0u8; 64];
        match sock.recv_from(&mut buf).await {
            Err(e) => say(&p, format!("recv → {:?}: {e}", e.kind())),
            Ok(_) => say(&p, "got an answer (unexpected)"),
        }
    });
    sim.run_until_finished(refused);

    // 5. fragmentation and reassembly.
    step("5. a 4000-byte datagram: fragmented by alice, reassembled by carol");
    let sink = sim.spawn(carol, "sink", move |p| async move {
        let sock = p.udp_bind(SocketAddrV4::new(carol_ip, 9)).expect("bind");
        let m = sock.recv_message().await.expect("recv");
        let ok = m.data.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8);
        say(
            &p,
            format!(
                "received {} bytes in one datagram from {}, content {}",
                m.data.len(),
                m.src,
                if ok { "intact" } else { "CORRUPT" }
            ),
        );
    });
    let big = sim.spawn(alice, "bigsend", move |p| async move {
        let sock = p.udp_bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
        let data: Vec<u8> = (0..4000).map(|i| (i % 251) as u8).collect();
        sock.send_to(&data, SocketAddrV4::new(carol_ip, 9)).await.expect("send");
        say(&p, "sent 4000 bytes; the link MTU is 1500, so IP sends three fragments");
    });
    sim.run_until_finished(big);
    sim.run_until_finished(sink);
    sim.run_until_idle();

    // 6. a TCP transfer through the router.
    step("6. bob downloads 1 MiB from carol over TCP (through gw; wan 100 Mbit/s, 10 ms)");
    let server = sim.spawn(carol, "filed", move |p| async move {
        let l = p.tcp_listen(SocketAddrV4::new(carol_ip, 8080), 16).expect("listen");
        say(&p, format!("TCP listener on {} (backlog 16)", l.local_addr().unwrap()));
        let (s, peer) = l.accept().await.expect("accept");
        say(&p, format!("accepted {peer} from the accept queue; state {}", s.state().unwrap().as_str()));
        let file: Vec<u8> = (0..1u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
        s.write_all(&file).await.expect("write");
        say(&p, "queued 1 MiB in the send buffer; closing (FIN after the data)");
    });
    let show = tracing.clone();
    let client = sim.spawn(bob, "fetch", move |p| async move {
        let s = p.tcp_connect_to("carol:8080").await.expect("connect");
        say(
            &p,
            format!(
                "connected {} → {}; state {}",
                s.local_addr().unwrap(),
                s.peer_addr().unwrap(),
                s.state().unwrap().as_str()
            ),
        );
        let t0 = p.now();
        let mut buf = vec![0u8; 64 * 1024];
        let (mut got, mut ok) = (0u32, true);
        let mut first = true;
        loop {
            let n = s.read(&mut buf).await.expect("read");
            if first {
                // Enough packets shown: the rest of the transfer runs quietly.
                first = false;
                if show.get() {
                    println!("      … (tracing paused during the transfer)");
                }
                show.set(false);
            }
            if n == 0 {
                break;
            }
            for (i, &b) in buf[..n].iter().enumerate() {
                ok &= b == ((got + i as u32).wrapping_mul(2654435761) >> 24) as u8;
            }
            got += n as u32;
        }
        let secs = (p.now() - t0).as_secs_f64();
        let st = s.stats().unwrap();
        say(
            &p,
            format!(
                "end of stream after {got} bytes in {:.1} ms ({:.1} Mbit/s), content {}",
                secs * 1e3,
                f64::from(got) * 8.0 / secs / 1e6,
                if ok { "intact" } else { "CORRUPT" }
            ),
        );
        say(
            &p,
            format!(
                "tcp_info: state {}, srtt {:?}, rto {:?}, cwnd {} B, mss {}, segments in {}",
                st.state.map(|s| s.as_str()).unwrap_or("?"),
                st.srtt,
                st.rto,
                st.cwnd,
                st.mss,
                st.segs_in
            ),
        );
    });
    sim.run_until_finished(client);
    sim.run_until_finished(server);
    // Runs until nothing is left: the active closer's TIME-WAIT lasts
    // 2·MSL = 60 s of virtual time.
    sim.run_until_idle();

    sim.flush_captures()?;
    if let Some(path) = pcap {
        println!();
        println!("wan packets written to {} (tcpdump -nr {} reads it)", path.display(), path.display());
    }

    step("counters");
    for (name, h) in [("alice", alice), ("bob", bob), ("gw", gw), ("ns", ns), ("carol", carol)] {
        println!("  {name:<6} {}", sim.stack(h).counters());
    }
    println!();
    println!("virtual time elapsed: {}", sim.now());
    Ok(())
}
