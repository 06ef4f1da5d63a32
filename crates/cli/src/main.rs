//! `sockstack`: the command-line tool.

mod bench;
mod bench_dns;
mod bench_tun;
mod demo;
mod dig;
mod http;
mod netns;
mod real;

use clap::{Parser, Subcommand};
use sockstack_wire::{Ipv4Addr, Ipv4Cidr};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "sockstack", version, about = "A userspace TCP/IP stack and network simulator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A small network of named hosts in virtual time: ping over a raw
    /// socket, and a UDP service answering a client, step by step.
    Demo {
        /// Seed of every random choice; the same seed gives the same run.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print the steps only, not every packet.
        #[arg(long)]
        quiet: bool,
        /// Write every packet on the wan link (gw ↔ carol) to this pcap file.
        #[arg(long)]
        pcap: Option<std::path::PathBuf>,
    },
    /// Benchmarks, each beside the Linux kernel's figure from the same run.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
    /// Put a stack on a TUN device and serve: ping, TCP echo (7), TCP
    /// discard (9), UDP echo (7), HTTP/1.1 (80), and DNS (53) for a zone,
    /// until SIGINT/SIGTERM.
    Serve {
        #[command(flatten)]
        tun: real::TunArgs,
        /// Answer DNS on port 53 (UDP and TCP) for this zone file.
        #[arg(long, value_name = "FILE")]
        zone: Option<std::path::PathBuf>,
        /// Half-open connections a listener holds before it answers SYNs
        /// with SYN cookies (Linux tcp_max_syn_backlog, default 256); 0
        /// answers every SYN with a cookie (as tcp_syncookies=2).
        #[arg(long, value_name = "N")]
        syn_backlog: Option<usize>,
        /// Also answer for every address the kernel routes into the
        /// device (`ip route add 203.0.113.0/24 dev tun0`), as a tun2socks
        /// stack does: the same services, from the address asked.
        #[arg(long)]
        any_address: bool,
    },
    /// Look a name up and print the answer as dig does: `NAME [TYPE]
    /// [@SERVER]`. Over a TUN device with --tun (server: the kernel side
    /// unless @SERVER); otherwise in a simulated network whose DNS server
    /// knows the demo's hosts (alice, bob, gw, ns, carol under demo.).
    Dig {
        #[arg(required = true, num_args = 1..=3, help = "NAME [TYPE] [@SERVER]")]
        query: Vec<String>,
        /// Ask over TCP.
        #[arg(long)]
        tcp: bool,
        #[arg(long = "tun", value_name = "NAME", requires_all = ["addr", "kernel_addr"])]
        tun: Option<String>,
        #[arg(long, value_name = "ADDR/PREFIX")]
        addr: Option<Ipv4Cidr>,
        #[arg(long, value_name = "KADDR/PREFIX")]
        kernel_addr: Option<Ipv4Cidr>,
    },
    /// HTTP/1.1 GET from a stack on a TUN device to a server on the kernel
    /// side.
    Fetch {
        #[command(flatten)]
        tun: real::TunArgs,
        #[arg(help = "http://HOST[:PORT]/PATH")]
        url: String,
        /// Write the body here instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Ping over a raw ICMP socket: from a stack on a TUN device to HOST
    /// with --tun; otherwise across an in-memory link between two
    /// real-time stacks (192.0.2.1 → 192.0.2.2).
    Ping {
        /// Address to ping (with --tun).
        host: Option<Ipv4Addr>,
        /// TUN device to create; --addr and --kernel-addr go with it.
        #[arg(long = "tun", value_name = "NAME", requires_all = ["addr", "kernel_addr", "host"])]
        tun: Option<String>,
        #[arg(long, value_name = "ADDR/PREFIX")]
        addr: Option<Ipv4Cidr>,
        #[arg(long, value_name = "KADDR/PREFIX")]
        kernel_addr: Option<Ipv4Cidr>,
        /// Number of echo requests.
        #[arg(short = 'c', long, default_value_t = 4)]
        count: u16,
        /// Seconds between requests.
        #[arg(short = 'i', long, default_value_t = 0.2)]
        interval: f64,
        /// One-way link latency in milliseconds.
        #[arg(long, default_value_t = 5)]
        latency_ms: u64,
        /// Probability that the link loses a packet.
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { seed, quiet, pcap } => demo::run(seed, quiet, pcap.as_deref()),
        Command::Bench { which } => bench::run(which),
        Command::Serve { tun, zone, syn_backlog, any_address } => real::serve(tun, zone, syn_backlog, any_address),
        Command::Dig { query, tcp, tun, addr, kernel_addr } => {
            dig::parse_args(&query).and_then(|q| match (tun, addr, kernel_addr) {
                (Some(name), Some(addr), Some(kernel_addr)) => dig::over_tun(
                    real::TunArgs { name, addr, kernel_addr, mtu: 1500, pcap: None, no_offload: false },
                    q,
                    tcp,
                ),
                _ => dig::in_simulation(q),
            })
        }
        Command::Fetch { tun, url, output } => real::fetch(tun, &url, output),
        Command::Ping { host, tun, addr, kernel_addr, count, interval, latency_ms, loss } => {
            match (tun, addr, kernel_addr, host) {
                (Some(name), Some(addr), Some(kernel_addr), Some(host)) => {
                    let tun = real::TunArgs { name, addr, kernel_addr, mtu: 1500, pcap: None, no_offload: false };
                    ping_tun(tun, host, count, interval)
                }
                _ => ping(count, interval, latency_ms, loss),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockstack: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ping_options(
    count: u16,
    interval: f64,
    timeout: std::time::Duration,
) -> std::io::Result<sockstack_api::PingOptions> {
    if !(0.0..=60.0).contains(&interval) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "interval must be 0..60 s"));
    }
    Ok(sockstack_api::PingOptions {
        count,
        interval: std::time::Duration::from_secs_f64(interval),
        timeout,
        ..sockstack_api::PingOptions::default()
    })
}

/// Pings `dst` and prints what `ping` prints. Fails when no reply came.
fn run_ping(net: &sockstack_api::NetHandle, dst: Ipv4Addr, opts: &sockstack_api::PingOptions) -> std::io::Result<()> {
    let stats = sockstack_api::ping(net, dst, opts, |r| {
        println!(
            "{} bytes from {}: icmp_seq={} ttl={} time={:.3} ms",
            r.bytes,
            r.from,
            r.seq_no,
            r.ttl,
            r.rtt.as_secs_f64() * 1e3
        );
    })?;
    println!("--- {dst} ping statistics ---");
    println!(
        "{} packets transmitted, {} received, {:.0}% packet loss",
        stats.transmitted,
        stats.received,
        stats.loss_percent()
    );
    if stats.rtts.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply"));
    }
    let ms: Vec<f64> = stats.rtts.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    let min = ms.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = ms.iter().cloned().fold(0.0, f64::max);
    let avg = ms.iter().sum::<f64>() / ms.len() as f64;
    println!("rtt min/avg/max = {min:.3}/{avg:.3}/{max:.3} ms");
    Ok(())
}

fn ping_tun(tun: real::TunArgs, dst: Ipv4Addr, count: u16, interval: f64) -> std::io::Result<()> {
    let opts = ping_options(count, interval, std::time::Duration::from_secs(2))?;
    let stack = tun.start()?;
    println!("PING {dst} {} data bytes (raw ICMP socket on {}, device {})", opts.payload_len, tun.addr, tun.name);
    run_ping(&stack.driver.handle(sockstack_stack::ProcessId(1)), dst, &opts)
}

fn ping(count: u16, interval: f64, latency_ms: u64, loss: f64) -> std::io::Result<()> {
    use sockstack_api::pair;
    use sockstack_link::LinkConfig;
    use std::time::Duration;

    let link = LinkConfig::default()
        .with_latency(Duration::from_millis(latency_ms))
        .with_loss(loss)
        .with_seed(std::process::id().into());
    let (a, _b) = pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), link)?;
    let dst = "192.0.2.2".parse().unwrap();
    let opts = ping_options(count, interval, Duration::from_millis(4 * latency_ms + 500))?;
    println!(
        "PING {dst} {} data bytes (raw ICMP socket on 192.0.2.1, link latency {latency_ms} ms, loss {loss})",
        opts.payload_len
    );
    run_ping(&a.handle(sockstack_stack::ProcessId(1)), dst, &opts)
}
