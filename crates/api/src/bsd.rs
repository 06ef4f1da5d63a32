//! The BSD socket interface: one [`Socket`] type, made from a domain, a
//! type and a protocol, with the calls and options of a systems course
//! (and of the socket2 crate): `bind`, `listen`, `accept`, `connect`,
//! `send`, `recv`, `send_to`, `recv_from`, `shutdown`, `close`, and
//! non-blocking mode, no-delay, reuse-address, buffer sizes, keepalive,
//! linger, TTL and timeouts.
//!
//! A configured socket converts into the std-like types
//! ([`crate::TcpListener`], [`crate::TcpStream`], [`crate::UdpSocket`],
//! [`crate::RawSocket`]) and back, as socket2's does.
//!
//! Errors carry the `io::ErrorKind` the matching Linux errno maps to;
//! each call lists its own. Common to all: `NotConnected` once the driver
//! has stopped; `InvalidInput` for a call the socket's type does not
//! have (e.g. `listen` on a datagram socket, `set_nodelay` on a raw one).

use crate::socket::{check_timeout, NetHandle, SocketCore, Want};
use crate::tcp::{set_ttl, wait_connected};
use crate::{RawSocket, TcpListener, TcpStream, UdpSocket};
use sockstack_stack::{SocketHandle, SocketKind};
use sockstack_tcp::Keepalive;
use sockstack_wire::IpProtocol;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The address family (`AF_INET`). IPv6 comes later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Domain {
    /// IPv4 (`AF_INET`).
    Ipv4,
}

/// The socket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// A reliable byte stream (`SOCK_STREAM`): TCP.
    Stream,
    /// Datagrams (`SOCK_DGRAM`): UDP.
    Datagram,
    /// IP packets of one protocol (`SOCK_RAW`), e.g. ICMP.
    Raw,
}

/// An IP protocol number (`IPPROTO_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol(pub u8);

impl Protocol {
    /// `IPPROTO_ICMP`.
    pub const ICMPV4: Protocol = Protocol(1);
    /// `IPPROTO_TCP`.
    pub const TCP: Protocol = Protocol(6);
    /// `IPPROTO_UDP`.
    pub const UDP: Protocol = Protocol(17);
}

impl From<IpProtocol> for Protocol {
    fn from(p: IpProtocol) -> Protocol {
        Protocol(p.into())
    }
}

/// TCP keepalive timing (`TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`).
pub type TcpKeepalive = Keepalive;

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

/// A socket of any type on a real-time stack.
///
/// ```
/// use sockstack_api::{pair, Domain, Socket, Type};
/// use sockstack_link::LinkConfig;
/// use sockstack_stack::ProcessId;
/// use std::net::{Ipv4Addr, SocketAddrV4};
/// use std::time::Duration;
///
/// let (a, b) = pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), LinkConfig::default()).unwrap();
/// let server_addr = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 80);
///
/// let server = Socket::new(&b.handle(ProcessId(1)), Domain::Ipv4, Type::Stream, None).unwrap();
/// server.set_reuse_address(true).unwrap();
/// server.bind(server_addr).unwrap();
/// server.listen(128).unwrap();
///
/// let client = Socket::new(&a.handle(ProcessId(1)), Domain::Ipv4, Type::Stream, None).unwrap();
/// client.set_nodelay(true).unwrap();
/// client.set_linger(Some(Duration::from_secs(1))).unwrap();
/// client.connect(server_addr).unwrap();
///
/// let (conn, peer) = server.accept().unwrap();
/// assert_eq!(peer, client.local_addr().unwrap());
/// client.send(b"hello").unwrap();
/// let mut buf = [0u8; 16];
/// let n = conn.recv(&mut buf).unwrap();
/// assert_eq!(&buf[..n], b"hello");
/// client.close().unwrap(); // waits until the peer acknowledged the FIN
/// assert_eq!(conn.recv(&mut buf).unwrap(), 0); // end of stream
/// ```
pub struct Socket {
    core: SocketCore,
    ty: Type,
    protocol: Protocol,
}

impl Socket {
    /// `socket(2)`: opens an unbound socket owned by `net`'s process.
    /// `protocol` may be `None` for streams (TCP) and datagrams (UDP); a
    /// raw socket needs one.
    ///
    /// # Errors
    /// `InvalidInput` for a protocol the type does not carry (a stream
    /// that is not TCP, a datagram socket that is not UDP, a raw socket
    /// without a protocol or with 0 or 255).
    pub fn new(net: &NetHandle, domain: Domain, ty: Type, protocol: Option<Protocol>) -> io::Result<Socket> {
        let Domain::Ipv4 = domain;
        let (protocol, core) = match ty {
            Type::Stream => {
                if protocol.is_some_and(|p| p != Protocol::TCP) {
                    return Err(invalid("a stream socket carries TCP"));
                }
                (Protocol::TCP, net.open(|s, owner| Ok(s.tcp_open(owner)))?)
            }
            Type::Datagram => {
                if protocol.is_some_and(|p| p != Protocol::UDP) {
                    return Err(invalid("a datagram socket carries UDP"));
                }
                (Protocol::UDP, net.open(|s, owner| Ok(s.udp_open(owner)))?)
            }
            Type::Raw => {
                let p = protocol.ok_or_else(|| invalid("a raw socket needs a protocol"))?;
                (p, net.open(|s, owner| s.raw_open(owner, IpProtocol::from(p.0), false))?)
            }
        };
        Ok(Socket { core, ty, protocol })
    }

    /// The socket's domain.
    pub fn domain(&self) -> Domain {
        Domain::Ipv4
    }

    /// The socket's type.
    pub fn r#type(&self) -> Type {
        self.ty
    }

    /// The socket's protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    fn is_stream(&self) -> bool {
        self.ty == Type::Stream
    }

    fn stream_only(&self, what: &str) -> io::Result<()> {
        if self.is_stream() {
            Ok(())
        } else {
            Err(invalid(&format!("{what} applies to stream sockets")))
        }
    }

    /// `bind(2)`: port 0 picks an ephemeral port (RFC 6056). A raw socket
    /// binds only an address (the port is ignored).
    ///
    /// # Errors
    /// `AddrInUse` when the port is taken (for a stream, also when
    /// connections still use it, unless reuse-address allows it);
    /// `AddrNotAvailable` when the address is not this host's;
    /// `InvalidInput` when already bound.
    pub fn bind(&self, addr: SocketAddrV4) -> io::Result<()> {
        self.core.call(|s, h| s.bind(h, addr))
    }

    /// `listen(2)`: accept connections, with an accept queue that holds
    /// `backlog` + 1 of them, as Linux's does; a backlog past 4096
    /// (somaxconn), or negative (as Linux reads it: unsigned), is 4096.
    /// An unbound socket gets an ephemeral port.
    ///
    /// # Errors
    /// `InvalidInput` on a connected socket or one that is not a stream.
    pub fn listen(&self, backlog: i32) -> io::Result<()> {
        self.stream_only("listen")?;
        let backlog = usize::try_from(backlog).unwrap_or(usize::MAX);
        self.core.call(|s, h| s.tcp_listen(h, backlog))
    }

    /// `accept(2)`: waits for a connection (up to the read timeout). The
    /// new socket inherits no-delay, keepalive, linger, TTL, buffer sizes
    /// and the read and write timeouts (Linux `sk_clone_lock` copies
    /// SO_RCVTIMEO and SO_SNDTIMEO); it is blocking whatever the
    /// listener's mode.
    ///
    /// # Errors
    /// `WouldBlock` in non-blocking mode when none is waiting;
    /// `TimedOut` past the read timeout; `InvalidInput` when not
    /// listening.
    pub fn accept(&self) -> io::Result<(Socket, SocketAddrV4)> {
        self.stream_only("accept")?;
        let (h, peer) = self.core.blocking(self.core.read_timeout(), Want::Recv, |s, _, h| s.tcp_accept(h))?;
        let core = self.core.adopt(h);
        core.set_read_timeout(self.core.read_timeout())?;
        core.set_write_timeout(self.core.write_timeout())?;
        Ok((Socket { core, ty: Type::Stream, protocol: Protocol::TCP }, peer))
    }

    /// `connect(2)`. A stream waits for the handshake (in non-blocking
    /// mode it returns `WouldBlock` at once; wait for writable, then
    /// [`Socket::take_error`] tells how it went). A datagram or raw socket
    /// sets its default peer and receives only from it.
    ///
    /// # Errors
    /// `ConnectionRefused` when the peer answers with RST; `TimedOut` when
    /// SYNs go unanswered or past the write timeout;
    /// `NetworkUnreachable` without a route; the error an ICMP message
    /// about the SYN reports, at once (`ConnectionRefused`,
    /// `HostUnreachable`, `NetworkUnreachable`); `InvalidInput` for an
    /// unspecified, broadcast or multicast address or port 0;
    /// `AlreadyExists` when already connected or listening (EISCONN, as
    /// Linux says for both); called again while a non-blocking connect is
    /// under way, `WouldBlock` (Linux's EALREADY), and once it failed, the
    /// error that ended it;
    /// `AddrNotAvailable` when the 4-tuple is taken (EADDRNOTAVAIL, as
    /// Linux says it).
    pub fn connect(&self, addr: SocketAddrV4) -> io::Result<()> {
        self.connect_inner(addr, self.core.write_timeout())
    }

    /// `connect` that gives up after `timeout` (`TimedOut`).
    ///
    /// # Errors
    /// As [`Socket::connect`]; `InvalidInput` for a zero timeout.
    pub fn connect_timeout(&self, addr: SocketAddrV4, timeout: Duration) -> io::Result<()> {
        check_timeout(Some(timeout))?;
        self.connect_inner(addr, Some(timeout))
    }

    fn connect_inner(&self, addr: SocketAddrV4, timeout: Option<Duration>) -> io::Result<()> {
        if !self.is_stream() {
            return self.core.call(|s, h| s.connect(h, addr));
        }
        match self.core.tcp_connect(addr) {
            Ok(()) => {}
            // A connect still under way (EALREADY): a blocking call waits
            // for it as the first did.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && !self.core.nonblocking() => {}
            Err(e) => return Err(e),
        }
        wait_connected(&self.core, timeout, self.core.nonblocking())
    }

    /// The error that ended a non-blocking connect, or that a connection
    /// met (`SO_ERROR`); for a datagram socket, the ICMP error about what
    /// it sent to its peer, taken (reported once). `None` when there is
    /// none.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        if !self.is_stream() {
            return self.core.call(|s, h| s.datagram_take_error(h));
        }
        match self.core.call(|s, h| s.tcp_connect_status(h)) {
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(None),
            Err(e) => Ok(Some(e)),
        }
    }

    /// `send(2)`: a stream copies into its send buffer (waiting while it
    /// is full) and returns how much it took; a datagram socket sends one
    /// datagram to its peer.
    ///
    /// # Errors
    /// `NotConnected` without a peer; `BrokenPipe` after
    /// `shutdown(Write)` or once a stream is closed; `ConnectionReset`
    /// after a RST; `WouldBlock` (non-blocking) or `TimedOut` (write
    /// timeout) while the buffer or transmit queue is full;
    /// `InvalidInput` for a datagram larger than 65,507 bytes.
    pub fn send(&self, data: &[u8]) -> io::Result<usize> {
        if self.is_stream() {
            return self.core.stream_write(data);
        }
        let peer = self.core.call(|s, h| s.peer_addr(h))?;
        self.send_to(data, peer)
    }

    /// `sendto(2)`: one datagram to `addr`. On a stream the address is
    /// ignored, as Linux does, and this is [`Socket::send`].
    ///
    /// # Errors
    /// As [`Socket::send`]; for datagrams also `ConnectionRefused` when an
    /// earlier datagram drew an ICMP port unreachable.
    pub fn send_to(&self, data: &[u8], addr: SocketAddrV4) -> io::Result<usize> {
        if self.is_stream() {
            return self.send(data);
        }
        // The stack checks for a shutdown on every try: one from another
        // thread ends a send blocked on a full transmit queue.
        self.core.blocking(self.core.write_timeout(), Want::Send, |s, now, h| s.send_to(now, h, data, addr))
    }

    /// `recv(2)`: a stream reads what has arrived (`Ok(0)`: end of
    /// stream); a datagram socket takes one datagram, truncated to `buf`.
    ///
    /// # Errors
    /// `WouldBlock` (non-blocking) or `TimedOut` (read timeout) when
    /// nothing is there; `ConnectionReset` after a RST; `NotConnected` on
    /// a stream that is not connected; `ConnectionRefused` for a pending
    /// ICMP port unreachable (datagrams).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_from(buf).map(|(n, _)| n)
    }

    /// `recvfrom(2)`: like [`Socket::recv`], with the sender (a stream's
    /// peer; a raw socket's source address, port 0).
    ///
    /// # Errors
    /// As [`Socket::recv`].
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)> {
        if self.is_stream() {
            let n = self.core.stream_read(buf)?;
            return Ok((n, self.core.call(|s, h| s.tcp_remote_addr(h))?));
        }
        // The stack checks for a shutdown on every try: one from another
        // thread ends a receive blocked waiting for a datagram.
        self.core.blocking(self.core.read_timeout(), Want::Recv, |s, _, h| s.recv_from(h, buf))
    }

    /// `shutdown(2)`: `Write` sends a FIN after the queued data (streams)
    /// or refuses further sends (`BrokenPipe`); `Read` makes receives
    /// return end of stream; `Both` does both. Calls blocked on the socket
    /// in other threads end at once. On a listener, as on Linux, `Read`
    /// (or `Both`) stops it listening: queued connections are reset and a
    /// blocked `accept` fails (`InvalidInput`); it may listen again.
    ///
    /// # Errors
    /// `NotConnected` when the socket has no peer, or its connection is
    /// over (reset, refused, timed out); the shutdown still takes.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if self.is_stream() {
            return self.core.call_now(|s, now, h| s.tcp_shutdown(now, h, how));
        }
        // Calls blocked on this socket in other threads, and pollers,
        // learn at once.
        self.core.call(|s, h| s.datagram_shutdown(h, how))
    }

    /// `close(2)`. Dropping the socket does the same, without the result.
    /// A stream sends its FIN after the queued data in the background (a
    /// RST if received data was left unread, or with a zero linger time);
    /// with a positive linger time, a blocking socket waits until the
    /// peer has acknowledged everything. Handles made by `try_clone` keep
    /// the socket open until the last one closes.
    ///
    /// # Errors
    /// `TimedOut` when the linger time ran out first (the close goes on
    /// in the background).
    pub fn close(self) -> io::Result<()> {
        self.core.close()
    }

    /// Another handle to the same socket (`dup(2)`); options are shared.
    pub fn try_clone(&self) -> io::Result<Socket> {
        Ok(Socket { core: self.core.duplicate(), ty: self.ty, protocol: self.protocol })
    }

    /// The bound address (`0.0.0.0:0` before `bind` or `connect`).
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.core.call(|s, h| s.local_addr(h))
    }

    /// The peer's address.
    ///
    /// # Errors
    /// `NotConnected` without one.
    pub fn peer_addr(&self) -> io::Result<SocketAddrV4> {
        self.core.call(|s, h| s.peer_addr(h))
    }

    // ----- options ---------------------------------------------------

    /// `O_NONBLOCK`: calls return `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.core.set_nonblocking(on);
        Ok(())
    }

    /// Whether the socket is in non-blocking mode.
    pub fn nonblocking(&self) -> io::Result<bool> {
        Ok(self.core.nonblocking())
    }

    /// `SO_RCVTIMEO`: receives and `accept` wait at most `d` (`None`:
    /// forever), then fail with `TimedOut`.
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.core.set_read_timeout(d)
    }

    /// The receive timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.core.read_timeout())
    }

    /// `SO_SNDTIMEO`: sends and `connect` wait at most `d`.
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration.
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.core.set_write_timeout(d)
    }

    /// The send timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.core.write_timeout())
    }

    /// `TCP_NODELAY`: turns Nagle's algorithm (RFC 896) off.
    ///
    /// # Errors
    /// `InvalidInput` on a socket that is not a stream.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.stream_only("no-delay")?;
        self.core.call(|s, h| s.tcp_set_nodelay(h, on))
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.stream_only("no-delay")?;
        self.core.call(|s, h| s.tcp_nodelay(h))
    }

    /// `SO_REUSEADDR`, set before `bind`. For a stream: the port may be
    /// bound while connections still use it, if each is in TIME-WAIT or
    /// was made with this option too (a restarted server gets its port
    /// back); a socket bound or listening on it still conflicts. A
    /// datagram port is free the moment its socket closes, so there the
    /// option changes nothing; sharing one port between live sockets is
    /// not offered.
    pub fn set_reuse_address(&self, on: bool) -> io::Result<()> {
        if self.is_stream() {
            self.core.call(|s, h| s.tcp_set_reuse_address(h, on))
        } else {
            self.core.state().reuse_address.store(on, Ordering::Relaxed);
            Ok(())
        }
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn reuse_address(&self) -> io::Result<bool> {
        if self.is_stream() {
            self.core.call(|s, h| s.tcp_reuse_address(h))
        } else {
            Ok(self.core.state().reuse_address.load(Ordering::Relaxed))
        }
    }

    /// `SO_RCVBUF`. For a stream, set before `connect` or `listen`: the
    /// receive buffer connections start with (auto-tuning may grow it).
    /// For a datagram or raw socket, the bound of its receive queue.
    ///
    /// # Errors
    /// `InvalidInput` for 0, or on a stream that is already connected.
    pub fn set_recv_buffer_size(&self, bytes: usize) -> io::Result<()> {
        if self.is_stream() {
            self.core.call(|s, h| s.tcp_set_buffer_sizes(h, Some(bytes), None))
        } else {
            self.core.call(|s, h| s.set_recv_buffer_size(h, bytes))
        }
    }

    /// The receive buffer size in bytes.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        if self.is_stream() {
            self.core.call(|s, h| s.tcp_buffer_sizes(h)).map(|(r, _)| r)
        } else {
            self.core.call(|s, h| s.recv_buffer_size(h))
        }
    }

    /// `SO_SNDBUF` of a stream, set before `connect` or `listen`: the send
    /// buffer connections start with (auto-tuning may grow it).
    ///
    /// # Errors
    /// `InvalidInput` for 0, on a connected stream, or on a datagram or
    /// raw socket: their datagrams go straight to the interface's
    /// transmit queue, which pushes back when full.
    pub fn set_send_buffer_size(&self, bytes: usize) -> io::Result<()> {
        self.stream_only("a send buffer")?;
        self.core.call(|s, h| s.tcp_set_buffer_sizes(h, None, Some(bytes)))
    }

    /// The send buffer size in bytes (streams).
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        self.stream_only("a send buffer")?;
        self.core.call(|s, h| s.tcp_buffer_sizes(h)).map(|(_, snd)| snd)
    }

    /// `SO_KEEPALIVE` with Linux's default timing (2 h idle, 75 s
    /// between 9 probes); see [`Socket::set_tcp_keepalive`].
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        self.stream_only("keepalive")?;
        self.core.call(|s, h| s.tcp_set_keepalive(h, on.then(Keepalive::default)))
    }

    /// Whether keepalive probes are on.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.stream_only("keepalive")?;
        self.core.call(|s, h| s.tcp_keepalive(h)).map(|k| k.is_some())
    }

    /// Keepalive on, with this timing.
    ///
    /// # Errors
    /// `InvalidInput` for an idle time or interval under one second or a
    /// zero count (Linux's bounds), or on a socket that is not a stream.
    pub fn set_tcp_keepalive(&self, keepalive: &TcpKeepalive) -> io::Result<()> {
        self.stream_only("keepalive")?;
        // The stack checks the values (at least 1 s, 1 s and 1, as Linux).
        let k = *keepalive;
        self.core.call(|s, h| s.tcp_set_keepalive(h, Some(k)))
    }

    /// `SO_LINGER`: `None`, the default, closes in the background;
    /// `Some(Duration::ZERO)` resets the connection on close, dropping
    /// unsent data; `Some(t)` makes a blocking close wait up to `t` for
    /// the peer to acknowledge everything.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.stream_only("linger")?;
        self.core.call(|s, h| s.tcp_set_linger(h, linger))
    }

    /// The linger setting.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.stream_only("linger")?;
        self.core.call(|s, h| s.tcp_linger(h))
    }

    /// `IP_TTL` of the socket's datagrams (a listener's accepted
    /// connections inherit it).
    ///
    /// # Errors
    /// `InvalidInput` for 0 or above 255.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        set_ttl(&self.core, ttl)
    }

    /// The TTL.
    pub fn ttl(&self) -> io::Result<u32> {
        self.core.call(|s, h| s.ttl(h)).map(u32::from)
    }

    /// `IP_HDRINCL` on a raw socket: sends carry a whole IPv4 datagram.
    ///
    /// # Errors
    /// `InvalidInput` on a socket that is not raw.
    pub fn set_header_included(&self, on: bool) -> io::Result<()> {
        self.core.call(|s, h| s.raw_set_header_included(h, on))
    }

    /// Whether a raw socket's sends carry their own header.
    pub fn header_included(&self) -> io::Result<bool> {
        self.core.call(|s, h| s.raw_header_included(h))
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket").field("type", &self.ty).field("protocol", &self.protocol).finish_non_exhaustive()
    }
}

/// Reads are [`Socket::recv`].
impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv(buf)
    }
}

/// Writes are [`Socket::send`].
impl Write for Socket {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.send(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl crate::poll::Pollable for Socket {
    fn socket_handle(&self) -> SocketHandle {
        self.core.handle()
    }
}

/// Which type a stack socket is, for conversions back into a [`Socket`].
fn socket_type(kind: SocketKind) -> (Type, Protocol) {
    match kind {
        SocketKind::Stream => (Type::Stream, Protocol::TCP),
        SocketKind::Datagram => (Type::Datagram, Protocol::UDP),
        SocketKind::Raw => (Type::Raw, Protocol(0)),
    }
}

macro_rules! conversions {
    ($($ty:ident),*) => {$(
        /// Uses the socket as this type (it should be of the matching
        /// type; calls the socket does not have fail with `InvalidInput`).
        impl From<Socket> for $ty {
            fn from(s: Socket) -> $ty {
                $ty(s.core)
            }
        }

        impl From<$ty> for Socket {
            fn from(s: $ty) -> Socket {
                let kind = s.0.call(|st, h| st.kind(h)).unwrap_or(SocketKind::Stream);
                let (ty, mut protocol) = socket_type(kind);
                if ty == Type::Raw {
                    protocol = s.0.call(|st, h| st.raw_protocol(h)).map(Protocol::from).unwrap_or(protocol);
                }
                Socket { core: s.0, ty, protocol }
            }
        }
    )*};
}

conversions!(TcpListener, TcpStream, UdpSocket, RawSocket);
