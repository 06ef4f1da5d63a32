//! The socket API's cost: the same bulk and request/response workloads
//! through sockstack's blocking and tokio sockets (client and server on
//! their own threads or tasks, over one stack's loopback, the driver on a
//! third thread) and through the kernel's `std::net` and `tokio::net` over
//! loopback, in one run. Every byte received is checked.

use crate::pattern;
use crate::tcp::{client_rounds, echo_rounds};
use sockstack_api::{inbox, AsyncTcpListener, AsyncTcpStream, Driver, LockStats, NetHandle, TcpListener, TcpStream};
use sockstack_stack::{InterfaceConfig, ProcessId, Stack, StackConfig};
use sockstack_wire::{Ipv4Addr, Ipv4Cidr};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddrV4};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant as WallClock;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// A stack with one address and no link: client and server talk over its
/// loopback, as the kernel's do over `lo`.
pub fn loopback_driver() -> Driver {
    let config = StackConfig::default();
    let mut stack = Stack::new(config);
    stack.add_interface(InterfaceConfig::new("lo0", Ipv4Cidr::new(HOST, 24).expect("valid")).with_mtu(65535));
    Driver::start(stack, inbox(), Vec::new())
}

fn err(e: io::Error) -> String {
    e.to_string()
}

/// Reads to end of stream, checking every byte against the pattern.
fn drain_checked(mut r: impl Read) -> Result<u64, String> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    loop {
        let n = r.read(&mut buf).map_err(err)?;
        if n == 0 {
            return Ok(got);
        }
        pattern::check(got, &buf[..n])?;
        got += n as u64;
    }
}

fn send_pattern(mut w: impl Write, bytes: u64) -> Result<(), String> {
    let mut sent = 0u64;
    while sent < bytes {
        let n = ((bytes - sent) as usize).min(pattern::PERIOD);
        w.write_all(pattern::slice_at(sent, n)).map_err(err)?;
        sent += n as u64;
    }
    Ok(())
}

/// Bulk through the blocking API: Gbit/s.
pub fn blocking_bulk(bytes: u64) -> Result<f64, String> {
    let driver = loopback_driver();
    let net = driver.handle(ProcessId(1));
    let listener = TcpListener::bind(&net, SocketAddrV4::new(HOST, 0), 16).map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let reader = std::thread::spawn(move || -> Result<u64, String> {
        let (s, _) = listener.accept().map_err(err)?;
        drain_checked(s)
    });
    let start = WallClock::now();
    let mut c = TcpStream::connect(&net, addr).map_err(err)?;
    send_pattern(&mut c, bytes)?;
    c.shutdown(Shutdown::Write).map_err(err)?;
    let got = reader.join().map_err(|_| "reader panicked".to_string())??;
    finish_bulk(got, bytes, start)
}

fn finish_bulk(got: u64, bytes: u64, start: WallClock) -> Result<f64, String> {
    if got != bytes {
        return Err(format!("moved {got} of {bytes} bytes"));
    }
    Ok(got as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e9)
}

/// 64-byte request/response through the blocking API: µs per round trip.
pub fn blocking_rr(rounds: u32) -> Result<f64, String> {
    let driver = loopback_driver();
    let net = driver.handle(ProcessId(1));
    let listener = TcpListener::bind(&net, SocketAddrV4::new(HOST, 0), 16).map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let server = std::thread::spawn(move || -> io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        echo_rounds(&mut s, rounds)
    });
    let mut c = TcpStream::connect(&net, addr).map_err(err)?;
    c.set_nodelay(true).map_err(err)?;
    let us = client_rounds(&mut c, rounds)?;
    server.join().map_err(|_| "server panicked".to_string())?.map_err(err)?;
    Ok(us)
}

/// The kernel's `std::net` over loopback: bulk Gbit/s.
pub fn kernel_blocking_bulk(bytes: u64) -> Result<f64, String> {
    crate::tcp::kernel_bulk(bytes)
}

/// The kernel's `std::net` over loopback: µs per 64-byte round trip.
pub fn kernel_blocking_rr(rounds: u32) -> Result<f64, String> {
    crate::tcp::kernel_rr(rounds)
}

fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().map_err(err)
}

async fn drain_checked_async(mut r: impl AsyncRead + Unpin) -> Result<u64, String> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    loop {
        let n = r.read(&mut buf).await.map_err(err)?;
        if n == 0 {
            return Ok(got);
        }
        pattern::check(got, &buf[..n])?;
        got += n as u64;
    }
}

async fn send_pattern_async(mut w: impl AsyncWrite + Unpin, bytes: u64) -> Result<(), String> {
    let mut sent = 0u64;
    while sent < bytes {
        let n = ((bytes - sent) as usize).min(pattern::PERIOD);
        w.write_all(pattern::slice_at(sent, n)).await.map_err(err)?;
        sent += n as u64;
    }
    w.shutdown().await.map_err(err)
}

async fn echo_rounds_async(mut s: impl AsyncRead + AsyncWrite + Unpin, rounds: u32) -> Result<(), String> {
    let mut buf = [0u8; 64];
    for _ in 0..rounds {
        s.read_exact(&mut buf).await.map_err(err)?;
        s.write_all(&buf).await.map_err(err)?;
    }
    Ok(())
}

async fn client_rounds_async(mut c: impl AsyncRead + AsyncWrite + Unpin, rounds: u32) -> Result<f64, String> {
    let mut buf = [0u8; 64];
    let start = WallClock::now();
    for round in 0..rounds {
        let req = pattern::slice_at(u64::from(round) * 64, 64);
        c.write_all(req).await.map_err(err)?;
        c.read_exact(&mut buf).await.map_err(err)?;
        if buf != req {
            return Err(format!("response {round} corrupted"));
        }
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds))
}

/// Which stack a tokio workload runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    /// sockstack's sockets on a real-time driver.
    Sockstack,
    /// The kernel's sockets over loopback.
    Kernel,
}

/// A tokio listener of either system, so that one workload drives both.
enum Listener {
    Sockstack(AsyncTcpListener),
    Kernel(tokio::net::TcpListener),
}

/// A tokio stream of either system.
enum Stream {
    Sockstack(AsyncTcpStream),
    Kernel(tokio::net::TcpStream),
}

impl Listener {
    async fn bind(system: System, net: &NetHandle) -> Result<(Listener, SocketAddrV4), String> {
        match system {
            System::Sockstack => {
                let l = AsyncTcpListener::bind(net, SocketAddrV4::new(HOST, 0), 1024).map_err(err)?;
                let addr = l.local_addr().map_err(err)?;
                Ok((Listener::Sockstack(l), addr))
            }
            System::Kernel => {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(err)?;
                match l.local_addr().map_err(err)? {
                    std::net::SocketAddr::V4(addr) => Ok((Listener::Kernel(l), addr)),
                    other => Err(format!("loopback listener on {other}")),
                }
            }
        }
    }

    async fn accept(&self) -> Result<Stream, String> {
        Ok(match self {
            Listener::Sockstack(l) => Stream::Sockstack(l.accept().await.map_err(err)?.0),
            Listener::Kernel(l) => Stream::Kernel(l.accept().await.map_err(err)?.0),
        })
    }
}

impl Stream {
    async fn connect(system: System, net: &NetHandle, addr: SocketAddrV4) -> Result<Stream, String> {
        Ok(match system {
            System::Sockstack => Stream::Sockstack(AsyncTcpStream::connect(net, addr).await.map_err(err)?),
            System::Kernel => Stream::Kernel(tokio::net::TcpStream::connect(addr).await.map_err(err)?),
        })
    }

    fn set_nodelay(&self) -> Result<(), String> {
        match self {
            Stream::Sockstack(s) => s.set_nodelay(true),
            Stream::Kernel(s) => s.set_nodelay(true),
        }
        .map_err(err)
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Sockstack(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Kernel(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Sockstack(s) => Pin::new(s).poll_write(cx, data),
            Stream::Kernel(s) => Pin::new(s).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Sockstack(s) => Pin::new(s).poll_flush(cx),
            Stream::Kernel(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Sockstack(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Kernel(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// `streams` concurrent connections, each moving `bytes / streams`,
/// through tokio with `workers` worker threads: aggregate Gbit/s. One
/// stream is the plain bulk test; one worker is the run in which no two
/// threads can contend for the stack's lock.
pub fn tokio_bulk(system: System, bytes: u64, streams: u32, workers: usize) -> Result<f64, String> {
    tokio_bulk_locking(system, bytes, streams, workers).map(|(gbps, _)| gbps)
}

/// [`tokio_bulk`], with how sockstack's stack lock was shared during the
/// run (for the kernel: the unused driver's, all zero).
pub fn tokio_bulk_locking(
    system: System,
    bytes: u64,
    streams: u32,
    workers: usize,
) -> Result<(f64, LockStats), String> {
    let rt = runtime(workers)?;
    let driver = loopback_driver();
    let net = driver.handle(ProcessId(1));
    let per = bytes / u64::from(streams);
    let gbps = rt.block_on(async move {
        let start = WallClock::now();
        let (listener, addr) = Listener::bind(system, &net).await?;
        let server = tokio::spawn(async move {
            let mut readers = Vec::new();
            for _ in 0..streams {
                let s = listener.accept().await?;
                readers.push(tokio::spawn(drain_checked_async(s)));
            }
            Ok::<_, String>(readers)
        });
        let mut writers = Vec::new();
        for _ in 0..streams {
            let net = net.clone();
            writers.push(tokio::spawn(async move {
                let c = Stream::connect(system, &net, addr).await?;
                send_pattern_async(c, per).await
            }));
        }
        collect(server.await.map_err(|e| e.to_string())??, writers, per, start).await
    })?;
    Ok((gbps, driver.lock_stats()))
}

type Task<T> = tokio::task::JoinHandle<Result<T, String>>;

async fn collect(readers: Vec<Task<u64>>, writers: Vec<Task<()>>, per: u64, start: WallClock) -> Result<f64, String> {
    for w in writers {
        w.await.map_err(|e| e.to_string())??;
    }
    let mut total = 0;
    for r in readers {
        let got = r.await.map_err(|e| e.to_string())??;
        if got != per {
            return Err(format!("a stream moved {got} of {per} bytes"));
        }
        total += got;
    }
    Ok(total as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e9)
}

/// 64-byte request/response through tokio: µs per round trip.
pub fn tokio_rr(system: System, rounds: u32) -> Result<f64, String> {
    let rt = runtime(2)?;
    let driver = loopback_driver();
    let net = driver.handle(ProcessId(1));
    rt.block_on(async move {
        let (listener, addr) = Listener::bind(system, &net).await?;
        let server = tokio::spawn(async move {
            let s = listener.accept().await?;
            s.set_nodelay()?;
            echo_rounds_async(s, rounds).await
        });
        let c = Stream::connect(system, &net, addr).await?;
        c.set_nodelay()?;
        let us = client_rounds_async(c, rounds).await?;
        server.await.map_err(|e| e.to_string())??;
        Ok(us)
    })
}
