//! `sockstack`: the command-line tool.

mod bench;
mod demo;

use clap::{Parser, Subcommand};
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
    /// Ping across an in-memory link between two real-time stacks
    /// (192.0.2.1 → 192.0.2.2), each on its own driver thread.
    Ping {
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
        Command::Ping { count, interval, latency_ms, loss } => ping(count, interval, latency_ms, loss),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockstack: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ping(count: u16, interval: f64, latency_ms: u64, loss: f64) -> std::io::Result<()> {
    use sockstack_api::{pair, ping, PingOptions};
    use sockstack_link::LinkConfig;
    use sockstack_stack::ProcessId;
    use std::time::Duration;

    if !(0.0..=60.0).contains(&interval) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "interval must be 0..60 s"));
    }
    let link = LinkConfig::default()
        .with_latency(Duration::from_millis(latency_ms))
        .with_loss(loss)
        .with_seed(std::process::id().into());
    let (a, _b) = pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), link)?;
    let dst = "192.0.2.2".parse().unwrap();
    let opts = PingOptions {
        count,
        interval: Duration::from_secs_f64(interval),
        timeout: Duration::from_millis(4 * latency_ms + 500),
        ..PingOptions::default()
    };
    println!(
        "PING {dst} {} data bytes (raw ICMP socket on 192.0.2.1, link latency {latency_ms} ms, loss {loss})",
        opts.payload_len
    );
    let stats = ping(&a.handle(ProcessId(1)), dst, &opts, |r| {
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
    if !stats.rtts.is_empty() {
        let ms: Vec<f64> = stats.rtts.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        let min = ms.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = ms.iter().cloned().fold(0.0, f64::max);
        let avg = ms.iter().sum::<f64>() / ms.len() as f64;
        println!("rtt min/avg/max = {min:.3}/{avg:.3}/{max:.3} ms");
    }
    Ok(())
}
