//! Async sockets for tokio on a real-time [`crate::Driver`]: a TCP
//! listener, a TCP stream implementing [`AsyncRead`] and [`AsyncWrite`]
//! (so hyper, tokio-util codecs, `tokio::io::copy`, … run over it
//! unchanged), and a UDP socket.
//!
//! Every poll function locks the stack (a stream's read or write: only its
//! connection, [`sockstack_stack::TcpConn`]), tries the sans-IO call and,
//! when it says `WouldBlock`, registers the task's waker under that same
//! lock before releasing it: whichever thread next brings data,
//! connections or send room wakes the task, so no wake-up is lost,
//! nothing polls in a loop and no thread is spent per call. No lock is
//! held across an `.await`. A stream read or write that leaves work for
//! the stack (data to transmit, a window update) hands it to the stack
//! at once, or to the thread holding it (see [`crate::Driver`]).
//!
//! The sockets work with any tokio runtime (current-thread or
//! multi-thread); only [`AsyncTcpStream::connect_to`] needs the runtime's
//! blocking pool (name resolution blocks). Dropping a socket closes it, as
//! with the blocking sockets. A future still waiting when its driver stops
//! is not woken; calls made after that fail with `NotConnected`.
//!
//! Each call fails with the `io::ErrorKind` of the blocking call of the
//! same name ([`crate::TcpStream`], [`crate::UdpSocket`]): `AddrInUse`,
//! `ConnectionRefused`, `ConnectionReset`, `BrokenPipe`, … Nothing here
//! times out by itself; wrap a call in `tokio::time::timeout`.

use crate::socket::{split_host_port, NetHandle, SocketCore, Want};
use sockstack_stack::{SocketHandle, Stack};
use sockstack_tcp::{State, TcpStats};
use sockstack_time::Instant;
use sockstack_wire::Ipv4Addr;
use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddrV4};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

fn driver_stopped() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the network driver has stopped")
}

/// Tries `op` under the stack lock; on `WouldBlock`, registers the task
/// for `want` before the lock is released (beside any other task waiting
/// on the socket: the stack wakes them all), and returns `Pending`.
fn poll_op<T>(
    sock: &SocketCore,
    cx: &mut Context<'_>,
    want: Want,
    op: impl FnOnce(&mut Stack, Instant, SocketHandle) -> io::Result<T>,
) -> Poll<io::Result<T>> {
    let r = sock.call_now(|s, now, h| {
        Ok(match op(s, now, h) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !sock.driver_alive() {
                    return Err(driver_stopped());
                }
                want.register(s, h, cx.waker())?;
                Poll::Pending
            }
            r => Poll::Ready(r),
        })
    });
    r.unwrap_or_else(|e| Poll::Ready(Err(e)))
}

/// A listening TCP socket for tokio.
pub struct AsyncTcpListener {
    sock: SocketCore,
}

impl AsyncTcpListener {
    /// Binds `addr` (port 0: ephemeral) and listens with an accept queue
    /// of `backlog` + 1 connections, as Linux's, with `SO_REUSEADDR` (see
    /// [`crate::TcpListener::bind`]). `AddrInUse` when the port is taken,
    /// `AddrNotAvailable` when the address is not this host's.
    pub fn bind(net: &NetHandle, addr: SocketAddrV4, backlog: usize) -> io::Result<AsyncTcpListener> {
        let sock = net.open(|s, owner| Ok(s.tcp_open(owner)))?;
        sock.call(|s, h| {
            s.tcp_set_reuse_address(h, true)?;
            s.bind(h, addr)?;
            s.tcp_listen(h, backlog)
        })?;
        Ok(AsyncTcpListener { sock })
    }

    /// Listens on every address and port no other listener has: see
    /// [`crate::TcpListener::bind_any`].
    pub fn bind_any(net: &NetHandle, backlog: usize) -> io::Result<AsyncTcpListener> {
        let sock = net.open(|s, owner| Ok(s.tcp_open(owner)))?;
        sock.call(|s, h| s.tcp_listen_any(h, backlog))?;
        Ok(AsyncTcpListener { sock })
    }

    /// Waits for the next connection. Several tasks may accept at once.
    pub async fn accept(&self) -> io::Result<(AsyncTcpStream, SocketAddrV4)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection (what [`AsyncTcpListener::accept`] awaits).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(AsyncTcpStream, SocketAddrV4)>> {
        let (h, peer) = ready!(poll_op(&self.sock, cx, Want::Recv, |s, _, h| s.tcp_accept(h)))?;
        Poll::Ready(Ok((AsyncTcpStream { sock: self.sock.adopt(h) }, peer)))
    }

    /// The bound address (with the port chosen for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.sock.call(|s, h| s.local_addr(h))
    }

    /// No-delay for the connections this listener accepts.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.sock.call(|s, h| s.tcp_set_nodelay(h, on))
    }
}

/// A TCP connection for tokio: [`AsyncRead`] and [`AsyncWrite`].
///
/// `poll_write` copies into the socket's send buffer and returns at once
/// (waiting only while the buffer is full); the driver thread sends in
/// the background, so `poll_flush` has nothing to do. `poll_shutdown` is a
/// half-close: a FIN after the queued data, while reading goes on. Reads
/// return end of stream (`Ok` with nothing filled) after the peer's FIN
/// and `ConnectionReset` after its RST. Dropping the stream closes the
/// connection (orderly, after the queued data).
///
/// One task at a time reads and one writes (`tokio::io::split` gives a
/// reader and a writer half).
///
/// ```
/// use sockstack_api::{pair, AsyncTcpListener, AsyncTcpStream};
/// use sockstack_link::LinkConfig;
/// use sockstack_stack::ProcessId;
/// use std::net::{Ipv4Addr, SocketAddrV4};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let (a, b) = pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), LinkConfig::default()).unwrap();
/// let (client_net, server_net) = (a.handle(ProcessId(1)), b.handle(ProcessId(1)));
/// let addr = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 7);
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     // An echo server on b: one connection, until the client's FIN.
///     let listener = AsyncTcpListener::bind(&server_net, addr, 16).unwrap();
///     let server = tokio::spawn(async move {
///         let (mut conn, _peer) = listener.accept().await.unwrap();
///         let mut buf = [0u8; 1024];
///         loop {
///             let n = conn.read(&mut buf).await.unwrap();
///             if n == 0 {
///                 break conn.shutdown().await.unwrap();
///             }
///             conn.write_all(&buf[..n]).await.unwrap();
///         }
///     });
///     // A client on a.
///     let mut stream = AsyncTcpStream::connect(&client_net, addr).await.unwrap();
///     stream.write_all(b"hello").await.unwrap();
///     stream.shutdown().await.unwrap(); // FIN; the read side stays open
///     let mut echoed = Vec::new();
///     stream.read_to_end(&mut echoed).await.unwrap();
///     assert_eq!(echoed, b"hello");
///     server.await.unwrap();
/// });
/// ```
pub struct AsyncTcpStream {
    sock: SocketCore,
}

impl AsyncTcpStream {
    /// Connects, waiting for the handshake. `ConnectionRefused` when the
    /// peer answers with RST (or an ICMP port unreachable comes back),
    /// `HostUnreachable` or `NetworkUnreachable` from other ICMP errors
    /// about the SYN, `TimedOut` when SYNs go unanswered (wrap in
    /// `tokio::time::timeout` to give up sooner; dropping the future
    /// closes the socket).
    pub async fn connect(net: &NetHandle, remote: SocketAddrV4) -> io::Result<AsyncTcpStream> {
        let sock = net.open(|s, owner| Ok(s.tcp_open(owner)))?;
        sock.tcp_connect(remote)?;
        poll_fn(|cx| {
            poll_op(&sock, cx, Want::Send, |s, _, h| match s.tcp_connect_status(h) {
                Ok(true) => Ok(()),
                Ok(false) => Err(io::ErrorKind::WouldBlock.into()),
                Err(e) => Err(e),
            })
        })
        .await?;
        Ok(AsyncTcpStream { sock })
    }

    /// Connects to `"name:port"` (or `"a.b.c.d:port"`), trying each
    /// address the stack's resolver gives in turn. The resolver blocks, so
    /// it runs on tokio's blocking pool.
    pub async fn connect_to(net: &NetHandle, target: &str) -> io::Result<AsyncTcpStream> {
        let (host, port) = split_host_port(target)?;
        let ips = match host.parse::<Ipv4Addr>() {
            Ok(ip) => vec![ip],
            Err(_) => {
                let (net, host) = (net.clone(), host.to_owned());
                tokio::task::spawn_blocking(move || net.lookup_host(&host)).await.map_err(io::Error::other)??
            }
        };
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"));
        for ip in ips {
            match Self::connect(net, SocketAddrV4::new(ip, port)).await {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The bound address (with the port chosen for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.sock.call(|s, h| s.local_addr(h))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddrV4> {
        self.sock.call(|s, h| s.peer_addr(h))
    }

    /// Disables Nagle's algorithm (RFC 896): small writes go out at once.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.sock.call(|s, h| s.tcp_set_nodelay(h, on))
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock.call(|s, h| s.tcp_nodelay(h))
    }

    /// The RFC 9293 state (`Established`, `CloseWait`, …).
    pub fn state(&self) -> io::Result<State> {
        self.sock.call(|s, h| s.tcp_state(h))
    }

    /// srtt, cwnd, retransmits, … (what `ss -ti` shows).
    pub fn stats(&self) -> io::Result<TcpStats> {
        self.sock.call(|s, h| s.tcp_stats(h))
    }
}

impl AsyncRead for AsyncTcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let dst = buf.initialize_unfilled();
        // Under the connection's own lock, not the stack's.
        let n = match self.sock.poll_stream_read(cx.waker(), dst) {
            Some(Poll::Pending) if !self.sock.driver_alive() => return Poll::Ready(Err(driver_stopped())),
            Some(r) => ready!(r)?,
            None => ready!(poll_op(&self.sock, cx, Want::Recv, |s, _, h| s.tcp_recv(h, dst)))?,
        };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for AsyncTcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // Under the connection's own lock; the stack is needed only to
        // transmit.
        match self.sock.poll_stream_write(cx.waker(), data) {
            Some(Poll::Pending) if !self.sock.driver_alive() => Poll::Ready(Err(driver_stopped())),
            Some(r) => r,
            None => poll_op(&self.sock, cx, Want::Send, |s, now, h| s.tcp_send(now, h, data)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Half-close: FIN after the queued data; reading goes on.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sock.call_now(|s, now, h| s.tcp_shutdown(now, h, Shutdown::Write))?;
        Poll::Ready(Ok(()))
    }
}

/// A UDP socket for tokio. Several tasks may send and receive on it at
/// once (e.g. through an `Arc`).
pub struct AsyncUdpSocket {
    sock: SocketCore,
}

impl AsyncUdpSocket {
    /// Opens a socket bound to `addr` (port 0: ephemeral). `AddrInUse` if
    /// the port is taken, `AddrNotAvailable` if the address is not local.
    pub fn bind(net: &NetHandle, addr: SocketAddrV4) -> io::Result<AsyncUdpSocket> {
        let sock = net.open(|s, owner| Ok(s.udp_open(owner)))?;
        sock.call(|s, h| s.bind(h, addr))?;
        Ok(AsyncUdpSocket { sock })
    }

    /// The socket that takes every datagram no other socket takes: see
    /// [`crate::UdpSocket::bind_any`].
    pub fn bind_any(net: &NetHandle) -> io::Result<AsyncUdpSocket> {
        let sock = net.open(|s, owner| Ok(s.udp_open(owner)))?;
        sock.call(|s, h| s.udp_bind_any(h))?;
        Ok(AsyncUdpSocket { sock })
    }

    /// Sends one datagram from `src` to `dst`, from the socket bound to
    /// any address ([`AsyncUdpSocket::bind_any`]); `InvalidInput` on any
    /// other.
    pub async fn send_from(&self, data: &[u8], src: SocketAddrV4, dst: SocketAddrV4) -> io::Result<usize> {
        poll_fn(|cx| poll_op(&self.sock, cx, Want::Send, |s, now, h| s.udp_send_from(now, h, data, src, dst))).await
    }

    /// Receives one datagram, truncated to `buf`: its length, its sender,
    /// and the address it was sent to.
    pub async fn recv_msg(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4, SocketAddrV4)> {
        poll_fn(|cx| poll_op(&self.sock, cx, Want::Recv, |s, _, h| s.recv_from_to(h, buf))).await
    }

    /// The bound address (with the port chosen for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.sock.call(|s, h| s.local_addr(h))
    }

    /// The connected peer.
    ///
    /// # Errors
    /// `NotConnected` without one.
    pub fn peer_addr(&self) -> io::Result<SocketAddrV4> {
        self.sock.call(|s, h| s.peer_addr(h))
    }

    /// Sets the default destination (and filters what is received).
    pub fn connect(&self, remote: SocketAddrV4) -> io::Result<()> {
        self.sock.call(|s, h| s.connect(h, remote))
    }

    /// Sends one datagram, waiting while the stack's transmit queue is
    /// full; returns once the stack has queued it.
    pub async fn send_to(&self, data: &[u8], dst: SocketAddrV4) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send_to(cx, data, dst)).await
    }

    /// Sends to the connected peer (`NotConnected` without one).
    pub async fn send(&self, data: &[u8]) -> io::Result<usize> {
        let peer = self.peer_addr()?;
        self.send_to(data, peer).await
    }

    /// Polls to send one datagram (what [`AsyncUdpSocket::send_to`] awaits).
    pub fn poll_send_to(&self, cx: &mut Context<'_>, data: &[u8], dst: SocketAddrV4) -> Poll<io::Result<usize>> {
        let n = ready!(poll_op(&self.sock, cx, Want::Send, |s, now, h| s.send_to(now, h, data, dst)))?;
        Poll::Ready(Ok(n))
    }

    /// Receives one datagram, truncated to `buf`, and its sender; a
    /// pending ICMP error (e.g. `ConnectionRefused`) is reported first.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Receives one datagram from the connected peer, truncated to `buf`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_from(buf).await.map(|(n, _)| n)
    }

    /// Polls to receive one datagram (what [`AsyncUdpSocket::recv_from`]
    /// awaits).
    pub fn poll_recv_from(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<(usize, SocketAddrV4)>> {
        poll_op(&self.sock, cx, Want::Recv, |s, _, h| s.recv_from(h, buf))
    }
}
