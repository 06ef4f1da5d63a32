//! `sockstack bench …`: each workload measured on sockstack and, in the
//! same run, on the Linux kernel (or the baseline the workload compares
//! against), printed side by side with the ratio.

use clap::{Args, Subcommand};
use sockstack_api::{pair, UdpSocket as RtUdpSocket};
use sockstack_bench::pairs::Pairs;
use sockstack_link::LinkConfig;
use sockstack_stack::{InterfaceConfig, ProcessId, Stack, StackConfig};
use sockstack_time::Instant as VInstant;
use sockstack_wire::{checksum, Ipv4Addr};
use std::hint::black_box;
use std::io;
use std::net::{SocketAddrV4, UdpSocket as KernelUdpSocket};
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum Which {
    /// Internet checksum throughput beside memcpy of the same buffers.
    Checksum {
        #[arg(long)]
        json: bool,
    },
    /// TCP bulk throughput, 64-byte request/response latency and
    /// connection set-up rate, for MTU 1500 and 65535: sockstack and
    /// smoltcp engine to engine, the kernel over loopback.
    Tcp {
        #[command(flatten)]
        sizes: BulkRr,
        /// Connections for the set-up rate.
        #[arg(long, default_value_t = 10_000)]
        conns: u32,
        /// Idle connections held open at once, for memory per connection.
        #[arg(long, default_value_t = 100_000)]
        idle: usize,
        /// Pairs of sockstack and smoltcp runs of the bulk and set-up
        /// workloads (request/response always runs 50 shorter pairs); each
        /// figure is the median of its runs, each ratio the median of the
        /// ratios within the pairs.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Bulk TCP over a TUN device, kernel → sockstack and sockstack →
    /// kernel, beside kernel → kernel over a veth pair (needs root; runs in
    /// network namespaces it creates and deletes).
    Tun {
        #[arg(long)]
        json: bool,
        /// Bytes per transfer.
        #[arg(long, default_value_t = 512 << 20)]
        bytes: u64,
    },
    /// DNS queries per second answered by sockstack's server (in-memory
    /// and over TUN) beside dnsmasq, in one run (needs root for TUN).
    Dns {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 200_000)]
        queries: u32,
    },
    /// The DNS load generator `bench dns` runs on kernel sockets inside its
    /// namespace: prints queries per second.
    #[command(hide = true)]
    DnsLoad {
        #[arg(long)]
        server: std::net::SocketAddrV4,
        #[arg(long)]
        queries: u32,
    },
    /// The socket API's cost: bulk throughput and 64-byte
    /// request/response latency through the blocking and the tokio API
    /// (client and server on their own threads), and aggregate throughput
    /// of many concurrent tokio streams; beside the kernel's std::net and
    /// tokio::net over loopback.
    Api {
        #[command(flatten)]
        sizes: BulkRr,
        /// Concurrent streams for the aggregate measurement (its bulk
        /// transfer is split across them).
        #[arg(long, default_value_t = 100)]
        streams: u32,
    },
    /// UDP datagrams per second between two stacks, beside the kernel's
    /// over loopback.
    Udp {
        #[arg(long)]
        json: bool,
        /// Datagrams per measurement.
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        /// Payload bytes per datagram.
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
}

/// The options of the benchmarks that run bulk and request/response
/// workloads.
#[derive(Args)]
pub struct BulkRr {
    #[arg(long)]
    json: bool,
    /// Bytes per bulk transfer.
    #[arg(long, default_value_t = 1 << 30)]
    bytes: u64,
    /// Request/response rounds.
    #[arg(long, default_value_t = 100_000)]
    rounds: u32,
}

pub fn run(which: Which) -> io::Result<()> {
    match which {
        Which::Checksum { json } => bench_checksum(json),
        Which::Udp { json, count, size } => bench_udp(json, count, size),
        Which::Tun { json, bytes } => crate::bench_tun::run(json, bytes),
        Which::Dns { json, queries } => crate::bench_dns::run(json, queries),
        Which::DnsLoad { server, queries } => {
            println!("{:.0}", crate::bench_dns::kernel_load(server, queries)?);
            Ok(())
        }
        Which::Tcp { sizes: BulkRr { json, bytes, rounds }, conns, idle, runs } => {
            bench_tcp(json, bytes, rounds, conns, idle, runs)
        }
        Which::Api { sizes: BulkRr { json, bytes, rounds }, streams } => bench_api(json, bytes, rounds, streams),
    }
}

struct Row {
    workload: String,
    system: &'static str,
    value: f64,
    unit: &'static str,
}

fn print_rows(json: bool, rows: &[Row], baseline: &str) {
    if json {
        for r in rows {
            println!(
                "{{\"workload\": \"{}\", \"system\": \"{}\", \"value\": {:.3}, \"unit\": \"{}\"}}",
                r.workload, r.system, r.value, r.unit
            );
        }
        return;
    }
    println!("{:<34} {:<22} {:>16} {:>10}", "workload", "system", "value", "ratio");
    for r in rows {
        let base = rows.iter().find(|b| b.workload == r.workload && b.system == baseline).map(|b| b.value);
        let ratio = base.map(|b| format!("{:.2}x", r.value / b)).unwrap_or_default();
        println!("{:<34} {:<22} {:>11.3} {:<4} {:>10}", r.workload, r.system, r.value, r.unit, ratio);
    }
}

/// Repeats `f` over `bytes`-sized work until ~300 ms have passed; GB/s.
fn throughput(bytes: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..10 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_millis(300) {
        for _ in 0..64 {
            f();
        }
        n += 64;
    }
    (n as f64 * bytes as f64) / start.elapsed().as_secs_f64() / 1e9
}

fn bench_checksum(json: bool) -> io::Result<()> {
    let mut rows = Vec::new();
    for size in [64usize, 1500, 65536] {
        let src: Vec<u8> = (0..size).map(|i| (i * 131 + 7) as u8).collect();
        let mut dst = vec![0u8; size];
        let sum = throughput(size, || {
            black_box(checksum::data(black_box(&src)));
        });
        let copy = throughput(size, || {
            black_box(&mut dst).copy_from_slice(black_box(&src));
        });
        // What building a segment costs: the payload copied and summed in
        // one pass (`checksum::copy`), against a copy and then a sum.
        let fused = throughput(size, || {
            black_box(checksum::copy(black_box(&mut dst), black_box(&src)));
        });
        let apart = throughput(size, || {
            black_box(&mut dst).copy_from_slice(black_box(&src));
            black_box(checksum::data(black_box(&dst)));
        });
        // The word-at-a-time code machines without AVX2 run: what the
        // vector version (`checksum::avx2`, unsafe) has to beat.
        let sum_portable = throughput(size, || {
            black_box(checksum::data_portable(black_box(&src)));
        });
        let fused_portable = throughput(size, || {
            black_box(checksum::copy_portable(black_box(&mut dst), black_box(&src)));
        });
        let workload = format!("{size} B buffer");
        rows.push(Row { workload: workload.clone(), system: "sockstack checksum", value: sum, unit: "GB/s" });
        rows.push(Row { workload: workload.clone(), system: "  portable", value: sum_portable, unit: "GB/s" });
        rows.push(Row { workload: workload.clone(), system: "sockstack copy+checksum", value: fused, unit: "GB/s" });
        rows.push(Row { workload: workload.clone(), system: "  portable", value: fused_portable, unit: "GB/s" });
        rows.push(Row { workload: workload.clone(), system: "memcpy, then checksum", value: apart, unit: "GB/s" });
        rows.push(Row { workload, system: "memcpy", value: copy, unit: "GB/s" });
    }
    print_rows(json, &rows, "memcpy");
    Ok(())
}

/// Datagrams sent per window before the receiver acknowledges: keeps every
/// system's receive queue from overflowing, so all count the same work.
const WINDOW: u64 = 64;

fn bench_udp(json: bool, count: u64, size: usize) -> io::Result<()> {
    if size == 0 || size > 1472 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "size must be 1..=1472 (one unfragmented datagram)"));
    }
    let count = count.max(WINDOW);
    let workload = format!("udp {size} B, window {WINDOW}");
    let engine = udp_engine(count, size)?;
    let threads = udp_realtime(count.min(200_000), size)?;
    let kernel = udp_kernel(count, size)?;
    let rows = [
        Row { workload: workload.clone(), system: "sockstack engine", value: engine, unit: "dgram/s" },
        Row { workload: workload.clone(), system: "sockstack threads", value: threads, unit: "dgram/s" },
        Row { workload, system: "kernel", value: kernel, unit: "dgram/s" },
    ];
    print_rows(json, &rows, "kernel");
    Ok(())
}

/// Two stacks driven in one thread, packets handed straight across.
fn udp_engine(count: u64, size: usize) -> io::Result<f64> {
    let a_ip = Ipv4Addr::new(192, 0, 2, 1);
    let b_ip = Ipv4Addr::new(192, 0, 2, 2);
    let mut a = Stack::new(StackConfig { seed: 1, ..StackConfig::default() });
    let mut b = Stack::new(StackConfig { seed: 2, ..StackConfig::default() });
    let a_if = a.add_interface(InterfaceConfig::new("a0", "192.0.2.1/24".parse().unwrap()));
    let b_if = b.add_interface(InterfaceConfig::new("b0", "192.0.2.2/24".parse().unwrap()));
    let client = a.udp_open(ProcessId(1));
    a.bind(client, SocketAddrV4::new(a_ip, 5000))?;
    let server = b.udp_open(ProcessId(1));
    b.bind(server, SocketAddrV4::new(b_ip, 5001))?;
    let payload = vec![0x5au8; size];
    let server_addr = SocketAddrV4::new(b_ip, 5001);
    let client_addr = SocketAddrV4::new(a_ip, 5000);
    let now = VInstant::ZERO;
    let mut received = 0u64;
    let start = Instant::now();
    while received < count {
        for _ in 0..WINDOW {
            a.send_to(now, client, &payload, server_addr)?;
        }
        while let Some(p) = a.dispatch() {
            b.receive(now, b_if, &p.data);
        }
        let mut got = 0;
        while let Ok(m) = b.recv_message(server) {
            got += 1;
            black_box(m);
        }
        if got != WINDOW {
            return Err(io::Error::other(format!("engine lost datagrams: {got} of {WINDOW}")));
        }
        received += got;
        b.send_to(now, server, b"ack", client_addr)?;
        while let Some(p) = b.dispatch() {
            a.receive(now, a_if, &p.data);
        }
        a.recv_message(client)?;
    }
    Ok(received as f64 / start.elapsed().as_secs_f64())
}

/// A connected datagram socket, so that one windowed protocol runs on
/// sockstack's real-time sockets and on the kernel's alike.
trait Connected: Send + 'static {
    fn send(&self, data: &[u8]) -> io::Result<usize>;
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize>;
}

impl Connected for KernelUdpSocket {
    fn send(&self, data: &[u8]) -> io::Result<usize> {
        KernelUdpSocket::send(self, data)
    }
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        KernelUdpSocket::recv(self, buf)
    }
}

impl Connected for RtUdpSocket {
    fn send(&self, data: &[u8]) -> io::Result<usize> {
        RtUdpSocket::send(self, data)
    }
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        RtUdpSocket::recv(self, buf)
    }
}

/// `count` datagrams of `size` bytes from client to server, the server
/// acknowledging every window; datagrams per second.
fn windowed(client: impl Connected, server: impl Connected, count: u64, size: usize) -> io::Result<f64> {
    let payload = vec![0x5au8; size];
    let server_thread = std::thread::spawn(move || -> io::Result<()> {
        let mut buf = vec![0u8; 2048];
        let mut received = 0u64;
        while received < count {
            for _ in 0..WINDOW {
                server.recv(&mut buf)?;
            }
            received += WINDOW;
            server.send(b"ack")?;
        }
        Ok(())
    });
    let mut buf = [0u8; 16];
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < count {
        for _ in 0..WINDOW {
            client.send(&payload)?;
        }
        sent += WINDOW;
        client.recv(&mut buf)?;
    }
    let rate = sent as f64 / start.elapsed().as_secs_f64();
    server_thread.join().map_err(|_| io::Error::other("server thread panicked"))??;
    Ok(rate)
}

/// Two real-time stacks on driver threads, client and server on two more.
fn udp_realtime(count: u64, size: usize) -> io::Result<f64> {
    let (a, b) = pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), LinkConfig::default())?;
    let server_addr = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 5001);
    let client_addr = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 5000);
    let server = RtUdpSocket::bind(&b.handle(ProcessId(1)), server_addr)?;
    let client = RtUdpSocket::bind(&a.handle(ProcessId(1)), client_addr)?;
    server.connect(client_addr)?;
    client.connect(server_addr)?;
    windowed(client, server, count, size)
}

/// The kernel: std::net over loopback, the same windowed protocol.
fn udp_kernel(count: u64, size: usize) -> io::Result<f64> {
    let server = KernelUdpSocket::bind("127.0.0.1:0")?;
    let client = KernelUdpSocket::bind("127.0.0.1:0")?;
    server.connect(client.local_addr()?)?;
    client.connect(server.local_addr()?)?;
    windowed(client, server, count, size)
}

/// Request/response runs in `RR_PAIRS` pairs of short runs instead of a
/// few long ones ([`Pairs`] says why): the two engines differ by less
/// than this VM drifts between long runs.
const RR_PAIRS: u32 = 50;

fn bench_tcp(json: bool, bytes: u64, rounds: u32, conns: u32, idle: usize, runs: usize) -> io::Result<()> {
    use sockstack_bench::{smoltcp_tcp, tcp};
    let fail = |what: &str, e: String| io::Error::other(format!("{what}: {e}"));
    // The kernel runs over loopback (MTU 65536) once; its figure stands
    // beside both MTU rows.
    let k_bulk = tcp::kernel_bulk(bytes).map_err(|e| fail("kernel bulk", e))?;
    let k_rr = tcp::kernel_rr(rounds).map_err(|e| fail("kernel rr", e))?;
    let k_crr = tcp::kernel_crr(conns).map_err(|e| fail("kernel crr", e))?;
    // `rounds` in all for each engine, in `RR_PAIRS` pairs of runs.
    let rr_pairs = RR_PAIRS.min(rounds.max(1));
    let rr_chunk = rounds.max(1) / rr_pairs;
    let mut rows: Vec<TcpRow> = Vec::new();
    for mtu in [1500usize, 65535] {
        let bulk = Pairs::run(runs, || tcp::sockstack_bulk(mtu, bytes), || smoltcp_tcp::bulk(mtu, bytes))
            .map_err(|e| fail("bulk", e))?;
        // The same link without segmentation offload: every segment its own
        // datagram, as smoltcp sends them (text table only; the JSON rows
        // keep the three systems), paired with smoltcp runs of its
        // own.
        let plain = Pairs::run(runs, || tcp::sockstack_bulk_with(mtu, bytes, false), || smoltcp_tcp::bulk(mtu, bytes))
            .map_err(|e| fail("bulk", e))?;
        let rr = Pairs::run(rr_pairs as usize, || tcp::sockstack_rr(mtu, rr_chunk), || smoltcp_tcp::rr(mtu, rr_chunk))
            .map_err(|e| fail("rr", e))?;
        let crr = Pairs::run(runs, || tcp::sockstack_crr(mtu, conns), || smoltcp_tcp::crr(mtu, conns))
            .map_err(|e| fail("crr", e))?;
        for (workload, unit, p, k) in [
            ("bulk", "Gbit/s", &bulk, k_bulk),
            ("bulk, no offload", "Gbit/s", &plain, k_bulk),
            ("rr", "us", &rr, k_rr),
            ("crr", "conn/s", &crr, k_crr),
        ] {
            let (s, m) = (p.sockstack_median(), p.smoltcp_median());
            // Ratios as speed-ups (above 1: sockstack better); for latency
            // lower is better.
            let vs_smoltcp = if workload == "rr" { p.ratio_median(|s, m| m / s) } else { p.ratio_median(|s, m| s / m) };
            rows.push(TcpRow { workload, mtu, unit, sockstack: s, smoltcp: m, kernel: k, vs_smoltcp });
        }
    }
    let many =
        if idle > 0 { Some(tcp::many_connections(idle).map_err(|e| fail("idle connections", e))?) } else { None };
    if json {
        if let Some(m) = many {
            println!(
                "{{\"workload\": \"idle\", \"system\": \"sockstack\", \"connections\": {}, \"value\": {:.0}, \"unit\": \"bytes/connection\"}}",
                m.established, m.bytes_per_idle_end
            );
        }
        for r in rows.iter().filter(|r| !r.workload.contains(',')) {
            for (system, value) in [("sockstack", r.sockstack), ("smoltcp", r.smoltcp), ("kernel", r.kernel)] {
                println!(
                    "{{\"workload\": \"{}\", \"system\": \"{system}\", \"mtu\": {}, \"value\": {value:.3}, \"unit\": \"{}\"}}",
                    r.workload, r.mtu, r.unit
                );
            }
        }
        return Ok(());
    }
    println!(
        "TCP, {} MiB bulk, {rounds} rounds of 64 B request/response, {conns} connections; \
         sockstack and smoltcp engine to engine in one thread, the kernel over loopback (MTU 65536)",
        bytes >> 20
    );
    println!(
        "(sockstack and smoltcp run in pairs, each going first in every other pair: bulk (with and without \
         offload, each with smoltcp runs of its own) and crr {runs} pairs of whole runs, rr {rr_pairs} pairs \
         of {rr_chunk} rounds each; a figure is the median of its runs, \"vs smoltcp\" the median of the \
         ratios within each pair)"
    );
    println!(
        "{:<16} {:>6} {:>8} {:>12} {:>12} {:>12} {:>13} {:>13}",
        "work", "mtu", "unit", "sockstack", "smoltcp", "kernel", "vs smoltcp", "vs kernel"
    );
    for r in &rows {
        // For latency lower is better: print ratios as speed-ups.
        let vs_k = if r.workload == "rr" { r.kernel / r.sockstack } else { r.sockstack / r.kernel };
        println!(
            "{:<16} {:>6} {:>8} {:>12.3} {:>12.3} {:>12.3} {:>12.2}x {:>12.2}x",
            r.workload, r.mtu, r.unit, r.sockstack, r.smoltcp, r.kernel, r.vs_smoltcp, vs_k
        );
    }
    println!("(ratios > 1 mean sockstack is better: more throughput, lower latency, more connections)");
    println!(
        "(bulk: the link has segmentation offload, as a veth pair does: runs of segments cross as one \
         datagram of up to 64 KiB; \"no offload\": every segment its own datagram of at most the MTU)"
    );
    if let Some(m) = many {
        println!(
            "idle: {} connections established on one stack in {:.2} s, each byte-checked; {:.0} bytes resident per idle connection end",
            m.established, m.setup_secs, m.bytes_per_idle_end
        );
    }
    Ok(())
}

struct TcpRow {
    workload: &'static str,
    mtu: usize,
    unit: &'static str,
    sockstack: f64,
    smoltcp: f64,
    kernel: f64,
    /// The median of the per-pair ratios (see [`Pairs`]), as a speed-up.
    vs_smoltcp: f64,
}

fn bench_api(json: bool, bytes: u64, rounds: u32, streams: u32) -> io::Result<()> {
    use sockstack_bench::api::{self, System};
    let fail = |what: &str, e: String| io::Error::other(format!("{what}: {e}"));
    let streams = streams.max(2);
    // (workload, api, streams, unit, sockstack, kernel)
    let mut rows: Vec<(&str, &str, u32, &str, f64, f64)> = Vec::new();
    let s = api::blocking_bulk(bytes).map_err(|e| fail("blocking bulk", e))?;
    let k = api::kernel_blocking_bulk(bytes).map_err(|e| fail("kernel blocking bulk", e))?;
    rows.push(("bulk", "blocking", 1, "Gbit/s", s, k));
    let s = api::blocking_rr(rounds).map_err(|e| fail("blocking rr", e))?;
    let k = api::kernel_blocking_rr(rounds).map_err(|e| fail("kernel blocking rr", e))?;
    rows.push(("rr", "blocking", 1, "us", s, k));
    // The many-streams run once more on a one-worker runtime, where no two
    // threads can contend for the stack lock: what the lock costs.
    let mut lock = None;
    for (n, workers, api) in [(1, 2, "tokio"), (streams, 2, "tokio"), (streams, 1, "tokio-1w")] {
        let (s, stats) =
            api::tokio_bulk_locking(System::Sockstack, bytes, n, workers).map_err(|e| fail("tokio bulk", e))?;
        if n == streams && workers == 2 {
            lock = Some(stats);
        }
        let k = api::tokio_bulk(System::Kernel, bytes, n, workers).map_err(|e| fail("kernel tokio bulk", e))?;
        rows.push(("bulk", api, n, "Gbit/s", s, k));
    }
    let s = api::tokio_rr(System::Sockstack, rounds).map_err(|e| fail("tokio rr", e))?;
    let k = api::tokio_rr(System::Kernel, rounds).map_err(|e| fail("kernel tokio rr", e))?;
    rows.push(("rr", "tokio", 1, "us", s, k));
    if json {
        for (workload, api, n, unit, s, k) in &rows {
            for (system, value) in [("sockstack", s), ("kernel", k)] {
                println!(
                    "{{\"workload\": \"{workload}\", \"api\": \"{api}\", \"streams\": {n}, \"system\": \"{system}\", \"value\": {value:.3}, \"unit\": \"{unit}\"}}"
                );
            }
        }
        return Ok(());
    }
    println!(
        "socket API, {} MiB bulk, {rounds} rounds of 64 B request/response; client and server on their own \
         threads (tokio: 2 workers, tokio-1w: 1); sockstack over one stack's loopback (driver on a third thread), \
         the kernel over loopback",
        bytes >> 20
    );
    println!(
        "{:<6} {:<9} {:>7} {:>8} {:>12} {:>12} {:>11}",
        "work", "api", "streams", "unit", "sockstack", "kernel", "vs kernel"
    );
    for (workload, api, n, unit, s, k) in &rows {
        // Lower latency is better: print the ratio as a speed-up.
        let ratio = if *workload == "rr" { k / s } else { s / k };
        println!("{workload:<6} {api:<9} {n:>7} {unit:>8} {s:>12.3} {k:>12.3} {ratio:>10.2}x");
    }
    println!("(ratios > 1 mean sockstack is better)");
    let one = rows.iter().find(|r| r.1 == "tokio" && r.0 == "bulk" && r.2 == 1);
    let many = rows.iter().find(|r| r.1 == "tokio" && r.0 == "bulk" && r.2 == streams);
    if let (Some(one), Some(many)) = (one, many) {
        println!(
            "tokio aggregate, {streams} streams vs 1: sockstack {:.2}x, kernel {:.2}x",
            many.4 / one.4,
            many.5 / one.5
        );
    }
    if let (Some(two), Some(single)) = (many, rows.iter().find(|r| r.1 == "tokio-1w")) {
        println!(
            "{streams} streams on 2 workers vs 1 worker: sockstack {:.2}x, kernel {:.2}x",
            two.4 / single.4,
            two.5 / single.5
        );
    }
    if let Some(l) = lock {
        let pct = |part: u64, all: u64| 100.0 * part as f64 / all.max(1) as f64;
        println!(
            "stack lock, {streams} streams on 2 workers: taken {} times, {:.1}% of them after waiting; \
             {} stream reads/writes then needed the stack, {:.1}% of them found it held and left the work \
             to its holder",
            l.acquired,
            pct(l.waited, l.acquired),
            l.kicks,
            pct(l.kicks_left, l.kicks)
        );
    }
    Ok(())
}
