//! Blocking TCP sockets on a real-time [`crate::Driver`], shaped like
//! `std::net::TcpListener` and `TcpStream`: `Read`/`Write`, timeouts,
//! non-blocking mode, half-close. Options beyond std's (reuse-address,
//! linger, keepalive, buffer sizes) are set through [`crate::Socket`]
//! before converting it into one of these.
//!
//! Errors are `io::Error`s with the kind a socket programmer expects; each
//! call's `# Errors` section lists them. Two apply to every call and are
//! not repeated: `NotConnected` once the driver has stopped, and
//! `NotFound` on a socket whose stack closed it (its process exited).

use crate::socket::{NetHandle, SocketCore, Want};
use sockstack_tcp::{State, TcpStats};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddrV4};
use std::time::Duration;

/// A listening TCP socket.
///
/// ```
/// use sockstack_api::{pair, TcpListener, TcpStream};
/// use sockstack_link::LinkConfig;
/// use sockstack_stack::ProcessId;
/// use std::io::{Read, Write};
/// use std::net::{Ipv4Addr, SocketAddrV4};
///
/// let (a, b) = pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), LinkConfig::default()).unwrap();
/// let listener = TcpListener::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 7), 16).unwrap();
/// let server = std::thread::spawn(move || {
///     let (mut s, _) = listener.accept().unwrap();
///     let mut buf = [0u8; 5];
///     s.read_exact(&mut buf).unwrap();
///     s.write_all(&buf).unwrap();
/// });
/// let mut c = TcpStream::connect(&a.handle(ProcessId(1)), "192.0.2.2:7".parse().unwrap()).unwrap();
/// c.write_all(b"hello").unwrap();
/// let mut echoed = [0u8; 5];
/// c.read_exact(&mut echoed).unwrap();
/// assert_eq!(&echoed, b"hello");
/// server.join().unwrap();
/// ```
#[derive(Debug)]
pub struct TcpListener(pub(crate) SocketCore);

/// A TCP connection. Implements `Read` and `Write` (also through `&TcpStream`,
/// so a reader and a writer thread can share one).
///
/// Data written is copied into the connection's send buffer and sent by
/// the stack in the background; a write waits only while the buffer is
/// full. Dropping the last handle closes the connection: a FIN after the
/// queued data, or a RST if received data was left unread (as Linux does).
#[derive(Debug)]
pub struct TcpStream(pub(crate) SocketCore);

impl TcpListener {
    /// Binds `addr` (port 0: ephemeral) and listens with an accept queue
    /// of `backlog` + 1 connections, as Linux's (`backlog` at most 4096,
    /// its somaxconn).
    ///
    /// With `SO_REUSEADDR`, as std's and tokio's listeners have it on
    /// Unix: a server restarted while its old connections wait in
    /// TIME-WAIT (or are still closing) binds its port again.
    ///
    /// # Errors
    /// `AddrInUse` when the port is taken (bound, listening, or used by a
    /// connection without reuse-address); `AddrNotAvailable` when the
    /// address is not this host's.
    pub fn bind(net: &NetHandle, addr: SocketAddrV4, backlog: usize) -> io::Result<TcpListener> {
        let sock = net.open(|s, owner| Ok(s.tcp_open(owner)))?;
        sock.call(|s, h| {
            s.tcp_set_reuse_address(h, true)?;
            s.bind(h, addr)?;
            s.tcp_listen(h, backlog)
        })?;
        Ok(TcpListener(sock))
    }

    /// Listens on every address and port no other listener has, on an
    /// interface that takes any address (the TCP half of a tun2socks
    /// stack; see [`sockstack_stack::Stack::tcp_listen_any`]): each
    /// accepted stream's `local_addr` is the address its peer asked for.
    ///
    /// # Errors
    /// `AddrInUse` when another listener of the stack has the role.
    pub fn bind_any(net: &NetHandle, backlog: usize) -> io::Result<TcpListener> {
        let sock = net.open(|s, owner| Ok(s.tcp_open(owner)))?;
        sock.call(|s, h| s.tcp_listen_any(h, backlog))?;
        Ok(TcpListener(sock))
    }

    /// The bound address (with the port chosen for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.0.call(|s, h| s.local_addr(h))
    }

    /// Waits for a connection that completed its handshake. The returned
    /// stream is blocking, with no timeouts, whatever the listener's mode.
    ///
    /// # Errors
    /// `WouldBlock` in non-blocking mode when none is waiting; `TimedOut`
    /// past the accept timeout.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddrV4)> {
        let (h, peer) = self.0.blocking(self.0.read_timeout(), Want::Recv, |s, _, h| s.tcp_accept(h))?;
        Ok((TcpStream(self.0.adopt(h)), peer))
    }

    /// An endless iterator over accepted connections (`accept` in a loop).
    pub fn incoming(&self) -> impl Iterator<Item = io::Result<TcpStream>> + '_ {
        std::iter::repeat_with(move || self.accept().map(|(s, _)| s))
    }

    /// In non-blocking mode `accept` returns `WouldBlock` instead of
    /// waiting (use a [`crate::Poller`] to learn when to call it).
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.0.set_nonblocking(on);
        Ok(())
    }

    /// Bounds how long `accept` waits (`None`: forever), as `SO_RCVTIMEO`
    /// does on Linux.
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration.
    pub fn set_accept_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.0.set_read_timeout(d)
    }

    /// No-delay for the connections this listener accepts.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.0.call(|s, h| s.tcp_set_nodelay(h, on))
    }

    /// TTL of the connections this listener accepts.
    ///
    /// # Errors
    /// `InvalidInput` for 0 or above 255.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        set_ttl(&self.0, ttl)
    }

    /// The TTL accepted connections get.
    pub fn ttl(&self) -> io::Result<u32> {
        self.0.call(|s, h| s.ttl(h)).map(u32::from)
    }
}

pub(crate) fn set_ttl(sock: &SocketCore, ttl: u32) -> io::Result<()> {
    let ttl = u8::try_from(ttl).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "TTL above 255"))?;
    sock.call(|s, h| s.set_ttl(h, ttl))
}

/// Waits for a started connect to finish (or fail).
pub(crate) fn wait_connected(sock: &SocketCore, timeout: Option<Duration>, nonblocking: bool) -> io::Result<()> {
    sock.wait_until(timeout, nonblocking, Want::Send, |s, _, h| match s.tcp_connect_status(h) {
        Ok(true) => Ok(()),
        Ok(false) => Err(io::ErrorKind::WouldBlock.into()),
        Err(e) => Err(e),
    })
}

impl TcpStream {
    /// Connects, waiting for the handshake.
    ///
    /// # Errors
    /// `ConnectionRefused` when the peer answers with RST; `TimedOut` when
    /// SYNs go unanswered (after the retries, about two minutes, as
    /// Linux); `NetworkUnreachable` without a route; the error an ICMP
    /// message about the SYN reports, at once (`ConnectionRefused` for
    /// port unreachable, as from a firewall's REJECT, `HostUnreachable`,
    /// `NetworkUnreachable`); `InvalidInput` for an
    /// unspecified, broadcast or multicast address or port 0;
    /// `AddrNotAvailable` when no ephemeral port is free.
    pub fn connect(net: &NetHandle, remote: SocketAddrV4) -> io::Result<TcpStream> {
        Self::connect_inner(net, remote, None)
    }

    /// Connects to `"name:port"` (or `"a.b.c.d:port"`), trying each
    /// address the stack's resolver gives in turn.
    ///
    /// # Errors
    /// `InvalidInput` for a malformed target; `NotFound` when the name has
    /// no address (or the stack has no resolver); otherwise the last
    /// address's error, as [`TcpStream::connect`].
    pub fn connect_to(net: &NetHandle, target: &str) -> io::Result<TcpStream> {
        let (host, port) = sockstack_stack::split_host_port(target)?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for ip in net.lookup_host(host)? {
            match Self::connect(net, SocketAddrV4::new(ip, port)) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Like [`TcpStream::connect`], giving up after `timeout`.
    ///
    /// # Errors
    /// As [`TcpStream::connect`]; `TimedOut` when `timeout` runs out;
    /// `InvalidInput` for a zero timeout.
    pub fn connect_timeout(net: &NetHandle, remote: SocketAddrV4, timeout: Duration) -> io::Result<TcpStream> {
        crate::socket::check_timeout(Some(timeout))?;
        Self::connect_inner(net, remote, Some(timeout))
    }

    fn connect_inner(net: &NetHandle, remote: SocketAddrV4, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let sock = net.open(|s, owner| Ok(s.tcp_open(owner)))?;
        sock.tcp_connect(remote)?;
        wait_connected(&sock, timeout, false)?;
        Ok(TcpStream(sock))
    }

    /// Another handle to the same connection, e.g. for a reader and a
    /// writer thread. Options (timeouts, non-blocking) are shared between
    /// the handles; the connection closes when the last one drops.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream(self.0.duplicate()))
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.0.call(|s, h| s.local_addr(h))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddrV4> {
        self.0.call(|s, h| s.peer_addr(h))
    }

    /// Disables Nagle's algorithm (RFC 896): small writes go out at once.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.0.call(|s, h| s.tcp_set_nodelay(h, on))
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.0.call(|s, h| s.tcp_nodelay(h))
    }

    crate::socket::blocking_mode_methods!();

    /// TTL of this connection's datagrams.
    ///
    /// # Errors
    /// `InvalidInput` for 0 or above 255.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        set_ttl(&self.0, ttl)
    }

    /// TTL of this connection's datagrams.
    pub fn ttl(&self) -> io::Result<u32> {
        self.0.call(|s, h| s.ttl(h)).map(u32::from)
    }

    /// Half-close (`Write`: FIN after the queued data), stop reading
    /// (`Read`: reads return end of stream), or both.
    ///
    /// # Errors
    /// `NotConnected` when the connection is over (reset, refused, timed
    /// out, or in TIME-WAIT), as on Linux; the shutdown still takes.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.call_now(|s, now, h| s.tcp_shutdown(now, h, how))
    }

    /// The RFC 9293 state (`Established`, `CloseWait`, …).
    pub fn state(&self) -> io::Result<State> {
        self.0.call(|s, h| s.tcp_state(h))
    }

    /// srtt, cwnd, retransmits, … (what `ss -ti` shows).
    pub fn stats(&self) -> io::Result<TcpStats> {
        self.0.call(|s, h| s.tcp_stats(h))
    }
}

/// Reads wait for data (up to the read timeout).
///
/// # Errors
/// `Ok(0)` is end of stream. `ConnectionReset` after a RST (unread data
/// is discarded); `TimedOut` past the read timeout, or once the
/// connection gave up retransmitting (then, as on Linux, the ICMP error
/// that came before, if one did: `HostUnreachable`, `NetworkUnreachable`,
/// `ConnectionRefused`); `WouldBlock` in non-blocking mode when nothing
/// is there.
impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.stream_read(buf)
    }
}

/// As for `TcpStream`: a shared reference reads too.
impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.stream_read(buf)
    }
}

/// Writes copy into the send buffer, waiting while it is full; the stack
/// sends in the background. `flush` has nothing to do.
///
/// # Errors
/// `BrokenPipe` after `shutdown(Write)` or once the connection is closed;
/// `ConnectionReset` after a RST; `TimedOut` past the write timeout, or
/// once the connection gave up (or the ICMP error before, as for
/// reads); `WouldBlock` in non-blocking mode when the buffer is full.
impl Write for TcpStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.stream_write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// As for `TcpStream`: a shared reference writes too.
impl Write for &TcpStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.stream_write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl crate::poll::Pollable for TcpListener {
    fn socket_handle(&self) -> sockstack_stack::SocketHandle {
        self.0.handle()
    }
}

impl crate::poll::Pollable for TcpStream {
    fn socket_handle(&self) -> sockstack_stack::SocketHandle {
        self.0.handle()
    }
}
