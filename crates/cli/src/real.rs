//! Commands on a real network: a sockstack stack on a Linux TUN device,
//! talking to the kernel's own stack and to real tools.
//!
//! `serve` answers ping and runs TCP echo (7), TCP discard (9), UDP echo
//! (7) and HTTP/1.1 (80) until SIGINT or SIGTERM; `fetch` is an HTTP GET
//! from the sockstack side; `ping` pings from it.

use crate::http;
use clap::Args;
use sockstack_api::{spawn_tun, NetHandle, Socket, TcpListener, TcpStream, TunConfig, TunStack, UdpSocket};
use sockstack_link::pcap::PcapSink;
use sockstack_stack::{ProcessId, Stack, StackConfig};
use sockstack_wire::{Ipv4Addr, Ipv4Cidr};
use std::io::{self, Read, Write};
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where the stack sits: a TUN device and the two addresses.
#[derive(Args, Debug, Clone)]
pub struct TunArgs {
    /// TUN device to create (e.g. tun0).
    #[arg(long = "tun", value_name = "NAME")]
    pub name: String,
    /// The sockstack stack's address, with prefix (e.g. 192.0.2.2/24).
    #[arg(long, value_name = "ADDR/PREFIX")]
    pub addr: Ipv4Cidr,
    /// The kernel side's address on the device, with prefix (e.g.
    /// 192.0.2.1/24); sockstack configures it and brings the device up.
    #[arg(long, value_name = "KADDR/PREFIX")]
    pub kernel_addr: Ipv4Cidr,
    /// Device MTU.
    #[arg(long, default_value_t = 1500)]
    pub mtu: u16,
    /// Write every packet on the device to this pcap file.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Turn the device's offloads off (virtio-net header, GSO/GRO): one
    /// system call per packet.
    #[arg(long)]
    pub no_offload: bool,
}

impl TunArgs {
    pub fn start(&self) -> io::Result<TunStack> {
        self.start_with(StackConfig::default())
    }

    /// [`TunArgs::start`] with a stack configured as `config` (its seed
    /// aside).
    pub fn start_with(&self, config: StackConfig) -> io::Result<TunStack> {
        self.spawn(config, false)
    }

    /// [`TunArgs::start_with`]; `any_address`: the interface takes every
    /// address routed into the device ([`TunConfig::any_address`]).
    fn spawn(&self, config: StackConfig, any_address: bool) -> io::Result<TunStack> {
        if self.addr.network() != self.kernel_addr.network() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "--addr and --kernel-addr must share a network"));
        }
        if self.addr.address == self.kernel_addr.address {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "--addr and --kernel-addr must differ"));
        }
        let pcap = self.pcap.as_ref().map(PcapSink::create).transpose()?;
        let seed = u64::from(std::process::id()) ^ 0x5eed;
        let stack = Stack::new(StackConfig { seed, ..config });
        let config = TunConfig {
            name: self.name.clone(),
            addr: self.addr,
            kernel_addr: Some(self.kernel_addr),
            mtu: self.mtu,
            offload: !self.no_offload,
            any_address,
        };
        spawn_tun(stack, &config, pcap)
    }
}

/// Waits for SIGINT or SIGTERM, or for the device to go away under the
/// stack (deleted with `ip link del`): then its reader's error.
fn wait_for_signal(tun: &TunStack) -> io::Result<Option<io::Error>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    while !stop.load(Ordering::Relaxed) {
        if let Some(e) = tun.stats.reader_error() {
            return Ok(Some(e));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(None)
}

/// Runs `f` on its own thread; a service thread that fails logs and ends.
fn spawn_service(name: &'static str, f: impl FnOnce() -> io::Result<()> + Send + 'static) {
    let _ = std::thread::Builder::new().name(name.into()).spawn(move || {
        if let Err(e) = f() {
            // The driver stopping ends every service; that is not news.
            if e.kind() != io::ErrorKind::NotConnected {
                eprintln!("sockstack serve: {name}: {e}");
            }
        }
    });
}

/// Accepts connections forever, one thread each.
fn accept_loop(listener: TcpListener, handle: fn(TcpStream) -> io::Result<()>) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept()?;
        let _ = std::thread::Builder::new().name("conn".into()).spawn(move || {
            let _ = handle(stream);
        });
    }
}

fn echo(mut s: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return s.shutdown(std::net::Shutdown::Write);
        }
        s.write_all(&buf[..n])?;
    }
}

fn discard(mut s: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    while s.read(&mut buf)? > 0 {}
    s.shutdown(std::net::Shutdown::Write)
}

fn start_services(net: &NetHandle, addr: Ipv4Addr) -> io::Result<()> {
    let at = |port| SocketAddrV4::new(addr, port);
    let echo_l = TcpListener::bind(net, at(7), 1024)?;
    let discard_l = TcpListener::bind(net, at(9), 1024)?;
    let http_l = TcpListener::bind(net, at(80), 1024)?;
    let udp = UdpSocket::bind(net, at(7))?;
    spawn_service("tcp-echo", move || accept_loop(echo_l, echo));
    spawn_service("tcp-discard", move || accept_loop(discard_l, discard));
    spawn_service("http", move || accept_loop(http_l, http::serve_connection));
    spawn_service("udp-echo", move || {
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from) = udp.recv_from(&mut buf)?;
            udp.send_to(&buf[..n], from)?;
        }
    });
    Ok(())
}

/// A connection the catch-all listener took, served as the port it was
/// going to is: echo, discard or HTTP; any other is reset at once (linger
/// zero), as near as a catch-all listener comes to a refused connection.
fn by_port(stream: TcpStream) -> io::Result<()> {
    match stream.local_addr()?.port() {
        7 => echo(stream),
        9 => discard(stream),
        80 => http::serve_connection(stream),
        _ => Socket::from(stream).set_linger(Some(Duration::ZERO)),
    }
}

/// The services for addresses that are not the stack's own (`serve
/// --any-address`): one catch-all listener hands each connection to the
/// service of the port it was going to ([`by_port`]), and one catch-all
/// UDP socket echoes on port 7, from the address asked.
fn start_any_address_services(net: &NetHandle) -> io::Result<()> {
    let listener = TcpListener::bind_any(net, 1024)?;
    let udp = UdpSocket::bind_any(net)?;
    spawn_service("any-tcp", move || accept_loop(listener, by_port));
    spawn_service("any-udp", move || {
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from, to) = udp.recv_msg(&mut buf)?;
            if to.port() == 7 {
                udp.send_from(&buf[..n], to, from)?;
            }
        }
    });
    Ok(())
}

pub fn serve(args: TunArgs, zone: Option<PathBuf>, syn_backlog: Option<usize>, any_address: bool) -> io::Result<()> {
    let mut config = StackConfig::default();
    if let Some(n) = syn_backlog {
        config.tcp_max_syn_backlog = n;
    }
    let tun = args.spawn(config, any_address)?;
    let net = tun.driver.handle(ProcessId(1));
    start_services(&net, args.addr.address)?;
    if any_address {
        start_any_address_services(&net)?;
    }
    if let Some(zone) = &zone {
        crate::dig::serve_zone(&net, args.addr.address, zone)?;
    }
    eprintln!(
        "sockstack serve: {} on {} (kernel side {}): ping, tcp echo 7, discard 9, udp echo 7, http 80{}{}; Ctrl-C stops",
        args.addr,
        args.name,
        args.kernel_addr,
        if zone.is_some() { ", dns 53" } else { "" },
        if any_address { "; at any address routed into the device too" } else { "" }
    );
    let gone = wait_for_signal(&tun)?;
    let counters = tun.driver.with_stack(|s| s.counters().to_string());
    let not_ipv4 = tun.stats.rx_not_ipv4.load(Ordering::Relaxed);
    let tcp_runs = tun.stats.rx_tcp_runs.load(Ordering::Relaxed);
    let udp_runs = tun.stats.rx_udp_runs.load(Ordering::Relaxed);
    let read_errors = tun.stats.rx_errors.load(Ordering::Relaxed);
    drop(tun); // stops the driver, ends the services, flushes the pcap
    eprintln!(
        "sockstack serve: stopped; {counters} | packed runs from the kernel: TCP taken whole {tcp_runs}, \
         UDP split {udp_runs} | dropped non-IPv4 from the kernel: {not_ipv4} | failed reads: {read_errors}"
    );
    match gone {
        Some(e) => Err(io::Error::new(e.kind(), format!("the TUN device {} is gone: {e}", args.name))),
        None => Ok(()),
    }
}

pub fn fetch(args: TunArgs, url: &str, output: Option<PathBuf>) -> io::Result<()> {
    let url = http::parse_url(url)?;
    let host: Ipv4Addr = url.host.parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: an IPv4 address is needed (no resolver yet)", url.host),
        )
    })?;
    let tun = args.start()?;
    let net = tun.driver.handle(ProcessId(1));
    let stream = TcpStream::connect_timeout(&net, SocketAddrV4::new(host, url.port), Duration::from_secs(10))?;
    let (status, len) = match &output {
        Some(path) => http::get(stream, &url, &mut io::BufWriter::new(std::fs::File::create(path)?))?,
        None => http::get(stream, &url, &mut io::stdout().lock())?,
    };
    eprintln!("sockstack fetch: HTTP {status}, {len} bytes");
    if !(200..300).contains(&status) {
        return Err(io::Error::other(format!("HTTP status {status}")));
    }
    Ok(())
}
