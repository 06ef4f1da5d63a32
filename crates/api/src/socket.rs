//! Blocking datagram and raw sockets on a real-time [`Driver`], shaped like
//! `std::net::UdpSocket`: calls wait (up to the read/write timeout), or
//! return `WouldBlock` in non-blocking mode.

use crate::driver::{Driver, Shared};
pub(crate) use sockstack_stack::split_host_port;
use sockstack_stack::{Message, ProcessId, SocketHandle, Stack};
use sockstack_time::Instant;
use sockstack_wire::{IpProtocol, Ipv4Addr};
use std::io;
use std::net::SocketAddrV4;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A process's view of a running stack: sockets opened through it belong
/// to `owner`, and [`NetHandle::exit`] closes them all at once.
#[derive(Clone)]
pub struct NetHandle {
    shared: Arc<Shared>,
    owner: ProcessId,
}

impl Driver {
    /// A handle through which process `owner` opens sockets.
    pub fn handle(&self, owner: ProcessId) -> NetHandle {
        NetHandle { shared: self.shared.clone(), owner }
    }
}

impl NetHandle {
    pub fn owner(&self) -> ProcessId {
        self.owner
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// The addresses of `host`: an IPv4 literal as it is, a name through
    /// the stack's resolver (`NotFound` without one).
    pub fn lookup_host(&self, host: &str) -> io::Result<Vec<Ipv4Addr>> {
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            return Ok(vec![ip]);
        }
        let resolver = self.shared.resolver.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let resolver = resolver
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host}: this stack has no resolver")))?;
        let addrs = resolver(host)?;
        if addrs.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{host}: no IPv4 address")));
        }
        Ok(addrs)
    }

    /// `"name:port"` (or `"a.b.c.d:port"`) to its first address.
    pub fn resolve_target(&self, target: &str) -> io::Result<SocketAddrV4> {
        let (host, port) = split_host_port(target)?;
        Ok(SocketAddrV4::new(self.lookup_host(host)?[0], port))
    }

    /// The process exits: every socket it owns is closed, its ports freed.
    pub fn exit(&self) -> usize {
        let n = self.shared.lock().close_owner(self.owner);
        self.shared.changed.notify_all();
        n
    }

    /// Runs `f` on the stack (configuration, counters).
    pub fn with_stack<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        let r = f(&mut self.shared.lock());
        self.shared.wake_driver();
        r
    }

    pub(crate) fn open(
        &self,
        open: impl FnOnce(&mut Stack, ProcessId) -> io::Result<SocketHandle>,
    ) -> io::Result<Socket> {
        let handle = open(&mut self.shared.lock(), self.owner)?;
        Ok(Socket::new(self.shared.clone(), handle))
    }
}

/// Closes the socket when the last clone of its user handle is dropped.
struct Closer {
    shared: Arc<Shared>,
    handle: SocketHandle,
}

impl Drop for Closer {
    fn drop(&mut self) {
        let _ = self.shared.lock().close(self.handle);
        self.shared.wake_driver();
    }
}

/// What every blocking socket shares.
pub(crate) struct Socket {
    _closer: Arc<Closer>,
    shared: Arc<Shared>,
    handle: SocketHandle,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) nonblocking: bool,
}

pub(crate) fn check_timeout(d: Option<Duration>) -> io::Result<()> {
    // std::net refuses a zero timeout the same way.
    if d == Some(Duration::ZERO) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"));
    }
    Ok(())
}

impl Socket {
    pub(crate) fn handle(&self) -> SocketHandle {
        self.handle
    }

    pub(crate) fn call<T>(&self, f: impl FnOnce(&mut Stack, SocketHandle) -> io::Result<T>) -> io::Result<T> {
        f(&mut self.shared.lock(), self.handle)
    }

    pub(crate) fn call_now<T>(
        &self,
        f: impl FnOnce(&mut Stack, Instant, SocketHandle) -> io::Result<T>,
    ) -> io::Result<T> {
        f(&mut self.shared.lock(), self.shared.now(), self.handle)
    }

    pub(crate) fn wake_driver(&self) {
        self.shared.wake_driver();
    }

    /// False once the driver thread has stopped (nothing will wake a
    /// waiter any more).
    pub(crate) fn driver_alive(&self) -> bool {
        self.shared.alive.load(Ordering::SeqCst)
    }

    /// A socket for another handle of the same stack (an accepted one).
    pub(crate) fn adopt(&self, handle: SocketHandle) -> Socket {
        Socket::new(self.shared.clone(), handle)
    }

    fn new(shared: Arc<Shared>, handle: SocketHandle) -> Socket {
        Socket {
            _closer: Arc::new(Closer { shared: shared.clone(), handle }),
            shared,
            handle,
            read_timeout: None,
            write_timeout: None,
            nonblocking: false,
        }
    }

    /// Another user handle to the same socket (`try_clone`).
    pub(crate) fn duplicate(&self) -> Socket {
        Socket {
            _closer: self._closer.clone(),
            shared: self.shared.clone(),
            handle: self.handle,
            read_timeout: self.read_timeout,
            write_timeout: self.write_timeout,
            nonblocking: self.nonblocking,
        }
    }

    /// Retries `op` until it stops saying `WouldBlock`, waiting for the
    /// driver's signal in between, up to `timeout`.
    pub(crate) fn blocking<T>(
        &self,
        timeout: Option<Duration>,
        mut op: impl FnMut(&mut Stack, Instant, SocketHandle) -> io::Result<T>,
    ) -> io::Result<T> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut stack = self.shared.lock();
        loop {
            match op(&mut stack, self.shared.now(), self.handle) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && !self.nonblocking => {}
                r => return r,
            }
            if !self.shared.alive.load(Ordering::SeqCst) {
                return Err(io::Error::new(io::ErrorKind::NotConnected, "the network driver has stopped"));
            }
            stack = match deadline {
                None => self.shared.changed.wait(stack).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "operation timed out"));
                    }
                    self.shared.changed.wait_timeout(stack, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
    }

    fn send_to(&self, data: &[u8], dst: SocketAddrV4) -> io::Result<usize> {
        let n = self.blocking(self.write_timeout, |s, now, h| s.send_to(now, h, data, dst))?;
        self.shared.wake_driver();
        Ok(n)
    }

    fn recv_message(&self) -> io::Result<Message> {
        self.blocking(self.read_timeout, |s, _, h| s.recv_message(h))
    }

    fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)> {
        let m = self.recv_message()?;
        let n = m.data.len().min(buf.len());
        buf[..n].copy_from_slice(&m.data[..n]);
        Ok((n, m.src))
    }
}

macro_rules! common_socket_methods {
    () => {
        /// Waits at most `d` in receive calls (`None`: forever). A wait
        /// that runs out fails with `TimedOut`; zero is `InvalidInput`.
        pub fn set_read_timeout(&mut self, d: Option<Duration>) -> io::Result<()> {
            check_timeout(d)?;
            self.0.read_timeout = d;
            Ok(())
        }

        /// Waits at most `d` in send calls while the transmit queue is full.
        pub fn set_write_timeout(&mut self, d: Option<Duration>) -> io::Result<()> {
            check_timeout(d)?;
            self.0.write_timeout = d;
            Ok(())
        }

        pub fn read_timeout(&self) -> Option<Duration> {
            self.0.read_timeout
        }

        /// In non-blocking mode calls return `WouldBlock` instead of waiting.
        pub fn set_nonblocking(&mut self, on: bool) {
            self.0.nonblocking = on;
        }

        pub fn set_ttl(&self, ttl: u8) -> io::Result<()> {
            self.0.call(|s, h| s.set_ttl(h, ttl))
        }

        pub fn ttl(&self) -> io::Result<u8> {
            self.0.call(|s, h| s.ttl(h))
        }

        /// Datagrams waiting in the receive queue.
        pub fn queued(&self) -> io::Result<usize> {
            self.0.call(|s, h| s.recv_queue_len(h))
        }

        pub fn set_recv_buffer_size(&self, bytes: usize) -> io::Result<()> {
            self.0.call(|s, h| s.set_recv_buffer_size(h, bytes))
        }
    };
}

/// A UDP socket on a real-time stack.
pub struct UdpSocket(Socket);

impl UdpSocket {
    /// Opens a socket bound to `addr` (port 0: ephemeral). `AddrInUse` if
    /// the port is taken, `AddrNotAvailable` if the address is not local.
    pub fn bind(net: &NetHandle, addr: SocketAddrV4) -> io::Result<UdpSocket> {
        let sock = net.open(|s, owner| Ok(s.udp_open(owner)))?;
        sock.call(|s, h| s.bind(h, addr))?;
        Ok(UdpSocket(sock))
    }

    common_socket_methods!();

    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.0.call(|s, h| s.local_addr(h))
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddrV4> {
        self.0.call(|s, h| s.peer_addr(h))
    }

    pub fn connect(&self, remote: SocketAddrV4) -> io::Result<()> {
        self.0.call(|s, h| s.connect(h, remote))
    }

    /// Sends one datagram; returns once the stack has queued it.
    pub fn send_to(&self, data: &[u8], dst: SocketAddrV4) -> io::Result<usize> {
        self.0.send_to(data, dst)
    }

    /// Sends one datagram to `"name:port"`, resolved through the stack's
    /// resolver.
    pub fn send_to_host(&self, net: &NetHandle, data: &[u8], target: &str) -> io::Result<usize> {
        let dst = net.resolve_target(target)?;
        self.0.send_to(data, dst)
    }

    /// Sends to the connected peer (`NotConnected` without one).
    pub fn send(&self, data: &[u8]) -> io::Result<usize> {
        let peer = self.peer_addr()?;
        self.0.send_to(data, peer)
    }

    /// Receives one datagram, truncated to `buf`, and its sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)> {
        self.0.recv_from(buf)
    }

    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv_from(buf).map(|(n, _)| n)
    }

    /// Sets DF on this socket's datagrams (no fragmentation).
    pub fn set_dont_fragment(&self, on: bool) -> io::Result<()> {
        self.0.call(|s, h| s.set_dont_fragment(h, on))
    }
}

/// A raw IP socket on a real-time stack.
pub struct RawSocket(Socket);

impl RawSocket {
    /// Opens a raw socket for `protocol`; with `header_included`, sends
    /// carry a whole IPv4 datagram.
    pub fn open(net: &NetHandle, protocol: IpProtocol, header_included: bool) -> io::Result<RawSocket> {
        Ok(RawSocket(net.open(|s, owner| s.raw_open(owner, protocol, header_included))?))
    }

    common_socket_methods!();

    /// Sends `payload` under a stack-built header to `dst` (or, in
    /// header-included mode, the whole datagram `payload`).
    pub fn send_to(&self, payload: &[u8], dst: Ipv4Addr) -> io::Result<usize> {
        self.0.send_to(payload, SocketAddrV4::new(dst, 0))
    }

    /// Receives one datagram, IP header included, and its source.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, Ipv4Addr)> {
        self.0.recv_from(buf).map(|(n, a)| (n, *a.ip()))
    }
}

impl crate::poll::Pollable for UdpSocket {
    fn socket_handle(&self) -> SocketHandle {
        self.0.handle
    }
}

impl crate::poll::Pollable for RawSocket {
    fn socket_handle(&self) -> SocketHandle {
        self.0.handle
    }
}
