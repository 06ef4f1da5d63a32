//! Blocking datagram and raw sockets on a real-time [`Driver`], shaped like
//! `std::net::UdpSocket`: calls wait (up to the read/write timeout), or
//! return `WouldBlock` in non-blocking mode.

use crate::driver::{Driver, Shared, WaitFor, Waiters};
pub(crate) use sockstack_stack::split_host_port;
use sockstack_stack::{ProcessId, SocketHandle, Stack, TcpConn};
use sockstack_time::Instant;
use sockstack_wire::{IpProtocol, Ipv4Addr};
use std::io;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Poll, Waker};
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
    /// The process this handle opens sockets for.
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
        self.shared.notify();
        n
    }

    /// Runs `f` on the stack (configuration, counters).
    pub fn with_stack<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        self.shared.with_stack(f)
    }

    pub(crate) fn open(
        &self,
        open: impl FnOnce(&mut Stack, ProcessId) -> io::Result<SocketHandle>,
    ) -> io::Result<SocketCore> {
        let handle = open(&mut self.shared.lock(), self.owner)?;
        Ok(SocketCore::new(self.shared.clone(), handle))
    }
}

/// What every user handle of one socket shares: its options, and the
/// close that runs when the last handle is dropped.
pub(crate) struct SocketShared {
    shared: Arc<Shared>,
    handle: SocketHandle,
    nonblocking: AtomicBool,
    /// Nanoseconds; 0 is "no timeout" (a zero timeout is refused).
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
    /// `SO_REUSEADDR` as set on a datagram socket (see
    /// [`crate::Socket::set_reuse_address`]).
    pub(crate) reuse_address: AtomicBool,
    /// Closed explicitly ([`SocketCore::close`]); the drop has nothing left
    /// to do.
    closed: AtomicBool,
    /// A stream's connection, once it has one: reads and writes move bytes
    /// under its own lock, outside the stack's (see [`TcpConn`]).
    tcp: OnceLock<TcpConn>,
    /// The threads blocked until the socket can receive, and send: the
    /// stack wakes them, and only them, when it can.
    rx_waiters: Waiters,
    tx_waiters: Waiters,
}

impl Drop for SocketShared {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Relaxed) {
            let _ = self.let_go().close();
        }
    }
}

impl SocketShared {
    /// Lets go of the connection first, so that the stack holds it alone
    /// when it closes: a closed connection in TIME-WAIT then leaves the
    /// socket table for a compact record at once.
    fn let_go(&mut self) -> &Self {
        drop(self.tcp.take());
        self
    }

    /// Closes the socket. A TCP socket with a positive linger time waits
    /// (unless non-blocking) until the peer has acknowledged everything,
    /// FIN included, or the time runs out; a zero linger time resets.
    fn close(&self) -> io::Result<()> {
        let mut stack = self.shared.lock();
        let linger = stack.tcp_linger(self.handle).ok().flatten();
        let r = stack.close(self.handle);
        self.shared.settle(&mut stack);
        r?;
        let Some(linger) = linger.filter(|d| !d.is_zero() && !self.nonblocking.load(Ordering::Relaxed)) else {
            return Ok(());
        };
        let h = self.handle;
        // No socket wakes for this: any change of the stack does.
        self.shared
            .block_until(stack, Some(linger), false, WaitFor::Stack, |s, _| {
                if s.tcp_close_finished(h) {
                    Ok(())
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                }
            })
            .map_err(|e| match e.kind() {
                // As Linux: the close goes on in the background.
                io::ErrorKind::TimedOut => {
                    io::Error::new(io::ErrorKind::TimedOut, "linger time ran out before the peer acknowledged")
                }
                _ => e,
            })
    }
}

/// What a blocked call (or a waiting task) waits for its socket to be
/// able to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Receive: data, a connection to accept, the end of the stream.
    Recv,
    /// Send: room in a buffer or queue, a finished handshake.
    Send,
}

impl Want {
    /// Registers `waker` with socket `h` for this (the stack keeps every
    /// waker registered, and wakes them all).
    pub(crate) fn register(self, stack: &mut Stack, h: SocketHandle, waker: &Waker) -> io::Result<()> {
        match self {
            Want::Recv => stack.register_recv_waker(h, waker),
            Want::Send => stack.register_send_waker(h, waker),
        }
    }
}

impl SocketShared {
    /// The threads blocked on this socket for `want`.
    fn waiters(&self, want: Want) -> &Waiters {
        match want {
            Want::Recv => &self.rx_waiters,
            Want::Send => &self.tx_waiters,
        }
    }
}

/// What every socket type is built on: a handle into a real-time stack,
/// the calls that reach it under the driver's lock, and the wait for
/// readiness that blocking calls share.
pub(crate) struct SocketCore {
    inner: Arc<SocketShared>,
}

pub(crate) fn check_timeout(d: Option<Duration>) -> io::Result<()> {
    // std::net refuses a zero timeout the same way.
    if d == Some(Duration::ZERO) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"));
    }
    Ok(())
}

fn store_timeout(slot: &AtomicU64, d: Option<Duration>) -> io::Result<()> {
    check_timeout(d)?;
    // Saturate absurdly long timeouts (centuries) rather than wrap.
    let nanos = d.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    slot.store(nanos, Ordering::Relaxed);
    Ok(())
}

fn load_timeout(slot: &AtomicU64) -> Option<Duration> {
    match slot.load(Ordering::Relaxed) {
        0 => None,
        n => Some(Duration::from_nanos(n)),
    }
}

impl std::fmt::Debug for SocketCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket").field("handle", &self.inner.handle).finish()
    }
}

impl SocketCore {
    pub(crate) fn handle(&self) -> SocketHandle {
        self.inner.handle
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Runs `f` on the socket under the stack lock, then settles what it
    /// changed (loopback delivery, waking the driver) before unlocking.
    pub(crate) fn call<T>(&self, f: impl FnOnce(&mut Stack, SocketHandle) -> io::Result<T>) -> io::Result<T> {
        self.call_now(|s, _, h| f(s, h))
    }

    /// Like [`SocketCore::call`], with the stack's clock.
    pub(crate) fn call_now<T>(
        &self,
        f: impl FnOnce(&mut Stack, Instant, SocketHandle) -> io::Result<T>,
    ) -> io::Result<T> {
        let shared = self.shared();
        let mut stack = shared.lock();
        let r = f(&mut stack, shared.now(), self.inner.handle);
        shared.settle(&mut stack);
        r
    }

    /// False once the driver thread has stopped (nothing will wake a
    /// waiter any more).
    pub(crate) fn driver_alive(&self) -> bool {
        self.shared().alive.load(Ordering::SeqCst)
    }

    /// A socket for another handle of the same stack (an accepted one),
    /// with its connection at hand for reads and writes.
    pub(crate) fn adopt(&self, handle: SocketHandle) -> SocketCore {
        let core = SocketCore::new(self.inner.shared.clone(), handle);
        core.tcp_conn();
        core
    }

    /// Starts connecting a stream socket to `remote` (the handshake goes on
    /// in the background), and keeps its connection at hand for reads and
    /// writes.
    pub(crate) fn tcp_connect(&self, remote: SocketAddrV4) -> io::Result<()> {
        let conn = self.call_now(|s, now, h| {
            s.tcp_connect(now, h, remote)?;
            s.tcp_conn(h)
        })?;
        let _ = self.inner.tcp.set(conn);
        Ok(())
    }

    pub(crate) fn new(shared: Arc<Shared>, handle: SocketHandle) -> SocketCore {
        SocketCore {
            inner: Arc::new(SocketShared {
                shared,
                handle,
                nonblocking: AtomicBool::new(false),
                read_timeout: AtomicU64::new(0),
                write_timeout: AtomicU64::new(0),
                reuse_address: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                tcp: OnceLock::new(),
                rx_waiters: Waiters::default(),
                tx_waiters: Waiters::default(),
            }),
        }
    }

    /// Another user handle to the same socket (`try_clone`): options are
    /// shared, as they are between duplicated file descriptors.
    pub(crate) fn duplicate(&self) -> SocketCore {
        SocketCore { inner: self.inner.clone() }
    }

    /// The shared state of this socket's handles.
    pub(crate) fn state(&self) -> &SocketShared {
        &self.inner
    }

    /// `close(2)`: the socket closes when its last handle goes; closing
    /// that one reports what the close did (a lingering close that ran
    /// out of time: `TimedOut`).
    pub(crate) fn close(self) -> io::Result<()> {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.closed.store(true, Ordering::Relaxed);
                inner.let_go().close()
            }
            // Other handles remain: only this one goes.
            Err(_) => Ok(()),
        }
    }

    pub(crate) fn set_nonblocking(&self, on: bool) {
        self.inner.nonblocking.store(on, Ordering::Relaxed);
    }

    pub(crate) fn nonblocking(&self) -> bool {
        self.inner.nonblocking.load(Ordering::Relaxed)
    }

    pub(crate) fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        store_timeout(&self.inner.read_timeout, d)
    }

    pub(crate) fn read_timeout(&self) -> Option<Duration> {
        load_timeout(&self.inner.read_timeout)
    }

    pub(crate) fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        store_timeout(&self.inner.write_timeout, d)
    }

    pub(crate) fn write_timeout(&self) -> Option<Duration> {
        load_timeout(&self.inner.write_timeout)
    }

    /// Retries `op` until it stops saying `WouldBlock`, waiting in between
    /// until the socket can do what `want` says, up to `timeout`. In
    /// non-blocking mode the `WouldBlock` is returned at once.
    pub(crate) fn blocking<T>(
        &self,
        timeout: Option<Duration>,
        want: Want,
        op: impl FnMut(&mut Stack, Instant, SocketHandle) -> io::Result<T>,
    ) -> io::Result<T> {
        self.wait_until(timeout, self.nonblocking(), want, op)
    }

    /// [`SocketCore::blocking`] with the non-blocking choice made by the
    /// caller.
    pub(crate) fn wait_until<T>(
        &self,
        timeout: Option<Duration>,
        nonblocking: bool,
        want: Want,
        mut op: impl FnMut(&mut Stack, Instant, SocketHandle) -> io::Result<T>,
    ) -> io::Result<T> {
        let (shared, h) = (self.shared(), self.inner.handle);
        let wait_for = WaitFor::Socket(h, want, self.inner.waiters(want));
        shared.block_until(shared.lock(), timeout, nonblocking, wait_for, |s, now| op(s, now, h))
    }

    /// A stream read or write that waits under its connection's lock
    /// alone, as a task does: with nothing to do yet, `attempt` registers
    /// the socket's waiters with the connection, and the call sleeps until
    /// the connection wakes them. The stack lock is never taken, so the
    /// thread whose write woke this one is not held up by it. `None`
    /// before the socket has a connection.
    fn stream_wait<T>(
        &self,
        timeout: Option<Duration>,
        want: Want,
        mut attempt: impl FnMut(&Waker) -> Option<Poll<io::Result<T>>>,
    ) -> Option<io::Result<T>> {
        let waiters = self.inner.waiters(want);
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            // Read before the attempt registers: a wake-up after it shows.
            let generation = waiters.signal.generation();
            match attempt(&waiters.waker)? {
                Poll::Ready(r) => return Some(r),
                Poll::Pending if self.nonblocking() => return Some(Err(io::ErrorKind::WouldBlock.into())),
                Poll::Pending => {}
            }
            let left = match self.shared().time_left(deadline) {
                Ok(left) => left,
                Err(e) => return Some(Err(e)),
            };
            self.shared().sleep(&waiters.signal, generation, left);
        }
    }

    pub(crate) fn send_to(&self, data: &[u8], dst: SocketAddrV4) -> io::Result<usize> {
        self.blocking(self.write_timeout(), Want::Send, |s, now, h| s.send_to(now, h, data, dst))
    }

    /// The connection of a stream socket, once it has one (after connect
    /// or accept); cached, so asking costs the stack lock only before.
    pub(crate) fn tcp_conn(&self) -> Option<&TcpConn> {
        if let Some(c) = self.inner.tcp.get() {
            return Some(c);
        }
        let c = self.shared().lock().tcp_conn(self.inner.handle).ok()?;
        Some(self.inner.tcp.get_or_init(|| c))
    }

    /// After a read or write made under the connection's own lock: sends
    /// what the connection owes a linked local peer straight to it, still
    /// outside the stack lock, then lets the stack send the rest and re-arm
    /// the timers of both.
    pub(crate) fn tcp_kick(&self) {
        let h = self.inner.handle;
        match self.tcp_conn().and_then(|c| c.exchange(self.shared().now())) {
            Some(peer) => self.shared().kick(&[h, peer]),
            None => self.shared().kick(&[h]),
        }
    }

    /// A read under the connection's own lock, outside the stack's: the
    /// copy out of the receive buffer runs while other threads use the
    /// stack. `None` when that cannot answer (nothing to read yet, an
    /// error, no connection yet): the caller asks under the stack lock,
    /// which waits, registers wake-ups and words the errors.
    pub(crate) fn try_stream_read(&self, buf: &mut [u8]) -> Option<usize> {
        let c = self.tcp_conn()?;
        let r = c.recv(buf);
        self.after_conn_call(c, matches!(r, Ok((_, true))));
        r.ok().map(|(n, _)| n)
    }

    /// After a call that held the connection's lock (and no longer does):
    /// kicks the stack if the call left it work (`owed`), or if the stack
    /// left work to the call while it held the lock.
    fn after_conn_call(&self, c: &TcpConn, owed: bool) {
        if c.take_wanted() | owed {
            self.tcp_kick();
        }
    }

    /// A task's stream read under the connection's own lock: with nothing
    /// to read, the task waits on the connection. `None` before the socket
    /// has a connection.
    pub(crate) fn poll_stream_read(&self, waker: &Waker, buf: &mut [u8]) -> Option<Poll<io::Result<usize>>> {
        let c = self.tcp_conn()?;
        let r = c.poll_recv(waker, buf);
        self.after_conn_call(c, matches!(r, Poll::Ready(Ok((_, true)))));
        Some(r.map_ok(|(n, _)| n))
    }

    /// A task's stream write under the connection's own lock: with the
    /// send buffer full, the task waits on the connection. `None` before
    /// the socket has a connection.
    pub(crate) fn poll_stream_write(&self, waker: &Waker, data: &[u8]) -> Option<Poll<io::Result<usize>>> {
        let c = self.tcp_conn()?;
        let r = c.poll_send(waker, data);
        self.after_conn_call(c, matches!(r, Poll::Ready(Ok(_))));
        Some(r)
    }

    /// A write under the connection's own lock (see
    /// [`SocketCore::try_stream_read`]); the stack lock is then taken only
    /// to transmit.
    pub(crate) fn try_stream_write(&self, data: &[u8]) -> Option<usize> {
        let c = self.tcp_conn()?;
        let r = c.send(data);
        self.after_conn_call(c, r.is_ok());
        r.ok()
    }

    /// A stream read: waits (up to the read timeout) for data; `Ok(0)` at
    /// end of stream or for an empty `buf`.
    pub(crate) fn stream_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(n) = self.try_stream_read(buf) {
            return Ok(n);
        }
        if let Some(r) = self.stream_wait(self.read_timeout(), Want::Recv, |w| self.poll_stream_read(w, buf)) {
            return r;
        }
        self.blocking(self.read_timeout(), Want::Recv, |s, _, h| s.tcp_recv(h, buf))
    }

    /// A stream write: waits (up to the write timeout) for send-buffer room.
    pub(crate) fn stream_write(&self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if let Some(n) = self.try_stream_write(data) {
            return Ok(n);
        }
        if let Some(r) = self.stream_wait(self.write_timeout(), Want::Send, |w| self.poll_stream_write(w, data)) {
            return r;
        }
        self.blocking(self.write_timeout(), Want::Send, |s, now, h| s.tcp_send(now, h, data))
    }

    pub(crate) fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)> {
        self.blocking(self.read_timeout(), Want::Recv, |s, _, h| s.recv_from(h, buf))
    }
}

/// Timeouts and non-blocking mode, the same on every blocking socket type
/// (the tuple struct's field 0 is its `SocketCore`).
macro_rules! blocking_mode_methods {
    () => {
        /// Waits at most `d` in receive calls (`None`: forever). A wait
        /// that runs out fails with `TimedOut`.
        ///
        /// # Errors
        /// `InvalidInput` for a zero duration (as `std::net`).
        pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
            self.0.set_read_timeout(d)
        }

        /// Waits at most `d` in send calls while there is no room (send
        /// buffer or transmit queue full); then `TimedOut`.
        ///
        /// # Errors
        /// `InvalidInput` for a zero duration.
        pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
            self.0.set_write_timeout(d)
        }

        /// The receive timeout (`None`: calls wait forever).
        pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
            Ok(self.0.read_timeout())
        }

        /// The send timeout (`None`: calls wait forever).
        pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
            Ok(self.0.write_timeout())
        }

        /// In non-blocking mode calls return `WouldBlock` instead of
        /// waiting. Shared with the handles `try_clone` made.
        pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
            self.0.set_nonblocking(on);
            Ok(())
        }
    };
}
pub(crate) use blocking_mode_methods;

macro_rules! common_socket_methods {
    () => {
        blocking_mode_methods!();

        /// Time-to-live of the datagrams this socket sends (`IP_TTL`).
        ///
        /// # Errors
        /// `InvalidInput` for 0.
        pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
            let ttl = u8::try_from(ttl).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "TTL above 255"))?;
            self.0.call(|s, h| s.set_ttl(h, ttl))
        }

        /// Time-to-live of the datagrams this socket sends.
        pub fn ttl(&self) -> io::Result<u32> {
            self.0.call(|s, h| s.ttl(h)).map(u32::from)
        }

        /// Datagrams waiting in the receive queue.
        pub fn queued(&self) -> io::Result<usize> {
            self.0.call(|s, h| s.recv_queue_len(h))
        }

        /// Bounds the receive queue to `bytes` of datagrams (`SO_RCVBUF`);
        /// datagrams beyond it are dropped and counted.
        ///
        /// # Errors
        /// `InvalidInput` for 0.
        pub fn set_recv_buffer_size(&self, bytes: usize) -> io::Result<()> {
            self.0.call(|s, h| s.set_recv_buffer_size(h, bytes))
        }

        /// The receive queue's bound in bytes.
        pub fn recv_buffer_size(&self) -> io::Result<usize> {
            self.0.call(|s, h| s.recv_buffer_size(h))
        }
    };
}

/// A UDP socket on a real-time stack.
#[derive(Debug)]
pub struct UdpSocket(pub(crate) SocketCore);

impl UdpSocket {
    /// Opens a socket bound to `addr` (port 0: ephemeral). `AddrInUse` if
    /// the port is taken, `AddrNotAvailable` if the address is not local.
    pub fn bind(net: &NetHandle, addr: SocketAddrV4) -> io::Result<UdpSocket> {
        let sock = net.open(|s, owner| Ok(s.udp_open(owner)))?;
        sock.call(|s, h| s.bind(h, addr))?;
        Ok(UdpSocket(sock))
    }

    /// Opens the socket that takes every datagram no other socket takes,
    /// to any address and port, on an interface that takes any address
    /// (the UDP half of a tun2socks stack; see
    /// [`sockstack_stack::Stack::udp_bind_any`]): [`UdpSocket::recv_msg`]
    /// tells where each was sent, [`UdpSocket::send_from`] answers from
    /// there.
    ///
    /// # Errors
    /// `AddrInUse` when another socket of the stack has the role.
    pub fn bind_any(net: &NetHandle) -> io::Result<UdpSocket> {
        let sock = net.open(|s, owner| Ok(s.udp_open(owner)))?;
        sock.call(|s, h| s.udp_bind_any(h))?;
        Ok(UdpSocket(sock))
    }

    common_socket_methods!();

    /// The bound address (with the port chosen for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.0.call(|s, h| s.local_addr(h))
    }

    /// The connected peer.
    ///
    /// # Errors
    /// `NotConnected` without one.
    pub fn peer_addr(&self) -> io::Result<SocketAddrV4> {
        self.0.call(|s, h| s.peer_addr(h))
    }

    /// Sends one datagram from `src` to `dst`, from the socket bound to
    /// any address ([`UdpSocket::bind_any`]).
    ///
    /// # Errors
    /// `InvalidInput` on any other socket.
    pub fn send_from(&self, data: &[u8], src: SocketAddrV4, dst: SocketAddrV4) -> io::Result<usize> {
        self.0.blocking(self.0.write_timeout(), Want::Send, |s, now, h| s.udp_send_from(now, h, data, src, dst))
    }

    /// Receives one datagram, truncated to `buf`: its length, its sender,
    /// and the address it was sent to (what the socket bound to any
    /// address answers from).
    pub fn recv_msg(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4, SocketAddrV4)> {
        self.0.blocking(self.0.read_timeout(), Want::Recv, |s, _, h| s.recv_from_to(h, buf))
    }

    /// Sets the default peer: `send` goes there and only its datagrams
    /// are received. Binds an ephemeral port if unbound.
    ///
    /// # Errors
    /// `InvalidInput` for the unspecified address or port 0.
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

    /// Receives one datagram, truncated to `buf`.
    ///
    /// # Errors
    /// As [`UdpSocket::recv_from`].
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv_from(buf).map(|(n, _)| n)
    }

    /// Sets DF on this socket's datagrams (no fragmentation).
    pub fn set_dont_fragment(&self, on: bool) -> io::Result<()> {
        self.0.call(|s, h| s.set_dont_fragment(h, on))
    }
}

/// A raw IP socket on a real-time stack.
#[derive(Debug)]
pub struct RawSocket(pub(crate) SocketCore);

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
        self.0.handle()
    }
}

impl crate::poll::Pollable for RawSocket {
    fn socket_handle(&self) -> SocketHandle {
        self.0.handle()
    }
}
