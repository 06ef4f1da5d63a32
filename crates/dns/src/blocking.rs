//! The DNS server and resolver on the real-time world's blocking sockets
//! (`sockstack-api`): what `sockstack serve --zone` and `sockstack dig`
//! run over a TUN device. The protocol logic is the same sans-IO
//! [`Authority`] and [`Resolver`] the simulator drives.

use crate::authority::{Authority, Transport};
use crate::record::RType;
use crate::resolver::{Answer, Outgoing, Protocol, ResolveError, Resolver, ResolverConfig};
use sockstack_api::{NetHandle, TcpListener, TcpStream, UdpSocket};
use sockstack_time::Instant;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use crate::server_sim::UDP_PAYLOAD;

/// Idle TCP connections are closed after this long (RFC 7766 §6.2.3).
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Serves `authority` on UDP and TCP port `addr`, on threads of their own,
/// until the stack's driver stops.
pub fn serve(net: &NetHandle, addr: SocketAddrV4, authority: Arc<Authority>) -> io::Result<()> {
    let udp = UdpSocket::bind(net, addr)?;
    let tcp = TcpListener::bind(net, addr, 128)?;
    let a = authority.clone();
    std::thread::Builder::new().name("dns-udp".into()).spawn(move || -> io::Result<()> {
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from) = udp.recv_from(&mut buf)?;
            // Malformed queries get FORMERR or nothing (the authority
            // decides); never a panic.
            if let Some(resp) = a.answer(&buf[..n], Transport::Udp { max_len: UDP_PAYLOAD }) {
                udp.send_to(&resp, from)?;
            }
        }
    })?;
    std::thread::Builder::new().name("dns-tcp".into()).spawn(move || -> io::Result<()> {
        loop {
            let (stream, _) = tcp.accept()?;
            let a = authority.clone();
            let _ = std::thread::Builder::new().name("dns-tcp-conn".into()).spawn(move || serve_tcp(stream, &a));
        }
    })?;
    Ok(())
}

/// RFC 7766: length-prefixed messages, several per connection, answered in
/// order.
fn serve_tcp(mut s: TcpStream, authority: &Authority) -> io::Result<()> {
    s.set_read_timeout(Some(TCP_IDLE))?;
    loop {
        let mut len = [0u8; 2];
        if read_full(&mut s, &mut len).is_err() {
            return s.shutdown(std::net::Shutdown::Write);
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        read_full(&mut s, &mut query)?;
        if let Some(resp) = authority.answer(&query, Transport::Tcp) {
            let mut m = (resp.len() as u16).to_be_bytes().to_vec();
            m.extend_from_slice(&resp);
            s.write_all(&m)?;
        }
    }
}

fn read_full(s: &mut TcpStream, buf: &mut [u8]) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..])? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => got += n,
        }
    }
    Ok(())
}

/// A caching stub resolver on blocking sockets.
pub struct BlockingResolver {
    net: NetHandle,
    resolver: Resolver,
    epoch: std::time::Instant,
}

impl BlockingResolver {
    /// A resolver sending its queries through `net`; `seed` seeds its query IDs
    /// and source ports.
    pub fn new(net: NetHandle, config: ResolverConfig, seed: u64) -> BlockingResolver {
        BlockingResolver { net, resolver: Resolver::new(config, seed), epoch: std::time::Instant::now() }
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    /// The sans-IO resolver inside (its cache, statistics and configuration).
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Looks `name` up, blocking until the answer or the failure.
    pub fn lookup(&mut self, name: &str, rtype: RType) -> Result<Answer, ResolveError> {
        let handle = self.resolver.lookup(self.now(), name, rtype);
        // Sockets of outstanding UDP tries, newest last.
        let mut socks: Vec<UdpSocket> = Vec::new();
        loop {
            if let Some(r) = self.resolver.result(handle) {
                return r;
            }
            while let Some(out) = self.resolver.poll_transmit(self.now()) {
                match out.transport {
                    Protocol::Udp => socks.extend(self.send_udp(&out)),
                    Protocol::Tcp => {
                        // One exchange, bounded by the resolver's TCP timeout
                        // (its timer fails the try if this returns nothing).
                        let timeout = self.resolver.config().tcp_timeout;
                        if let Ok(resp) = self.tcp_exchange(&out, timeout) {
                            let now = self.now();
                            self.resolver.on_response(now, out.server, &resp);
                        }
                    }
                }
            }
            // (`result` hands an outcome over once: take it here.)
            if let Some(r) = self.resolver.result(handle) {
                return r;
            }
            // Wait on the newest socket up to the next timer; look at the
            // older ones without blocking.
            let wait = self
                .resolver
                .poll_at()
                .map(|t| t.saturating_duration_since(self.now()))
                .unwrap_or(Duration::from_millis(100))
                .clamp(Duration::from_millis(1), Duration::from_secs(1));
            let mut buf = vec![0u8; 65536];
            let mut got = false;
            let newest = socks.len().saturating_sub(1);
            for (i, s) in socks.iter_mut().enumerate().rev() {
                let timeout = if i == newest && !got { wait } else { Duration::from_millis(1) };
                let _ = s.set_read_timeout(Some(timeout));
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    let now = self.now();
                    self.resolver.on_response(now, from, &buf[..n]);
                    got = true;
                }
            }
            let now = self.now();
            if self.resolver.poll_at().is_some_and(|t| t <= now) {
                self.resolver.on_timer(now);
            }
            if socks.is_empty() && !got {
                std::thread::sleep(wait);
            }
        }
    }

    fn send_udp(&self, out: &Outgoing) -> Option<UdpSocket> {
        let any = |port| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
        let sock =
            UdpSocket::bind(&self.net, any(out.local_port)).or_else(|_| UdpSocket::bind(&self.net, any(0))).ok()?;
        sock.send_to(&out.bytes, out.server).ok()?;
        Some(sock)
    }

    fn tcp_exchange(&self, out: &Outgoing, timeout: Duration) -> io::Result<Vec<u8>> {
        let mut s = TcpStream::connect_timeout(&self.net, out.server, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        let mut m = (out.bytes.len() as u16).to_be_bytes().to_vec();
        m.extend_from_slice(&out.bytes);
        s.write_all(&m)?;
        let mut len = [0u8; 2];
        read_full(&mut s, &mut len)?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        read_full(&mut s, &mut body)?;
        let _ = s.shutdown(std::net::Shutdown::Write);
        Ok(body)
    }
}

/// A real-time stack's resolver (`Driver::set_resolver`) backed by this
/// crate's stub resolver, its cache shared by every lookup.
pub fn host_resolver(net: NetHandle, config: ResolverConfig, seed: u64) -> sockstack_api::HostResolver {
    let resolver = std::sync::Mutex::new(BlockingResolver::new(net, config, seed));
    Arc::new(move |name: &str| {
        let mut r = resolver.lock().unwrap_or_else(|e| e.into_inner());
        r.lookup(name, RType::A).map(|a| a.ipv4()).map_err(|e| {
            let kind = match e {
                ResolveError::NxDomain | ResolveError::NoData => io::ErrorKind::NotFound,
                ResolveError::Timeout => io::ErrorKind::TimedOut,
                ResolveError::InvalidName => io::ErrorKind::InvalidInput,
                _ => io::ErrorKind::Other,
            };
            io::Error::new(kind, format!("{name}: {e}"))
        })
    })
}
