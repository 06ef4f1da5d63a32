//! Blocking TCP sockets on a real-time [`crate::Driver`], shaped like
//! `std::net::TcpListener` and `TcpStream`: `Read`/`Write`, timeouts,
//! non-blocking mode, half-close.

use crate::socket::{NetHandle, Socket};
use sockstack_tcp::{State, TcpStats};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddrV4};
use std::time::Duration;

/// A listening TCP socket.
pub struct TcpListener(Socket);

/// A TCP connection.
pub struct TcpStream(Socket);

impl TcpListener {
    /// Binds `addr` (port 0: ephemeral) and listens with an accept queue
    /// of `backlog` (Linux clamps to 4096). `AddrInUse` when the port is
    /// taken, `AddrNotAvailable` when the address is not this host's.
    pub fn bind(net: &NetHandle, addr: SocketAddrV4, backlog: usize) -> io::Result<TcpListener> {
        let sock = net.open(|s, owner| Ok(s.tcp_open(owner)))?;
        sock.call(|s, h| {
            s.bind(h, addr)?;
            s.tcp_listen(h, backlog)
        })?;
        Ok(TcpListener(sock))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.0.call(|s, h| s.local_addr(h))
    }

    /// Waits for a connection (or `WouldBlock` in non-blocking mode).
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddrV4)> {
        let (h, peer) = self.0.blocking(self.0.read_timeout, |s, _, h| s.tcp_accept(h))?;
        Ok((TcpStream(self.0.adopt(h)), peer))
    }

    pub fn set_nonblocking(&mut self, on: bool) {
        self.0.nonblocking = on;
    }

    /// Bounds how long `accept` waits.
    pub fn set_accept_timeout(&mut self, d: Option<Duration>) -> io::Result<()> {
        crate::socket::check_timeout(d)?;
        self.0.read_timeout = d;
        Ok(())
    }

    /// No-delay for the connections this listener accepts.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.0.call(|s, h| s.tcp_set_nodelay(h, on))
    }
}

impl TcpStream {
    /// Connects, waiting for the handshake. `ConnectionRefused` when the
    /// peer answers with RST, `TimedOut` when SYNs go unanswered.
    pub fn connect(net: &NetHandle, remote: SocketAddrV4) -> io::Result<TcpStream> {
        Self::connect_inner(net, remote, None)
    }

    /// Connects to `"name:port"`, trying each address the stack's resolver
    /// gives in turn.
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

    /// Like [`TcpStream::connect`], giving up after `timeout` (`TimedOut`).
    pub fn connect_timeout(net: &NetHandle, remote: SocketAddrV4, timeout: Duration) -> io::Result<TcpStream> {
        crate::socket::check_timeout(Some(timeout))?;
        Self::connect_inner(net, remote, Some(timeout))
    }

    fn connect_inner(net: &NetHandle, remote: SocketAddrV4, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let sock = net.open(|s, owner| Ok(s.tcp_open(owner)))?;
        sock.call_now(|s, now, h| s.tcp_connect(now, h, remote))?;
        sock.wake_driver();
        sock.blocking(timeout, |s, _, h| match s.tcp_connect_status(h) {
            Ok(true) => Ok(()),
            Ok(false) => Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => Err(e),
        })?;
        Ok(TcpStream(sock))
    }

    /// Another handle to the same connection, e.g. for a reader and a
    /// writer thread. The connection closes when the last handle drops.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream(self.0.duplicate()))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.0.call(|s, h| s.local_addr(h))
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddrV4> {
        self.0.call(|s, h| s.peer_addr(h))
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.0.call(|s, h| s.tcp_set_nodelay(h, on))?;
        self.0.wake_driver();
        Ok(())
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        self.0.call(|s, h| s.tcp_nodelay(h))
    }

    pub fn set_read_timeout(&mut self, d: Option<Duration>) -> io::Result<()> {
        crate::socket::check_timeout(d)?;
        self.0.read_timeout = d;
        Ok(())
    }

    pub fn set_write_timeout(&mut self, d: Option<Duration>) -> io::Result<()> {
        crate::socket::check_timeout(d)?;
        self.0.write_timeout = d;
        Ok(())
    }

    pub fn set_nonblocking(&mut self, on: bool) {
        self.0.nonblocking = on;
    }

    /// Half-close (`Write`: FIN after the queued data), stop reading
    /// (`Read`), or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.call_now(|s, now, h| s.tcp_shutdown(now, h, how))?;
        self.0.wake_driver();
        Ok(())
    }

    pub fn state(&self) -> io::Result<State> {
        self.0.call(|s, h| s.tcp_state(h))
    }

    /// srtt, cwnd, retransmits, … (what `ss -ti` shows).
    pub fn stats(&self) -> io::Result<TcpStats> {
        self.0.call(|s, h| s.tcp_stats(h))
    }
}

impl Read for TcpStream {
    /// Waits for data; `Ok(0)` at end of stream; `ConnectionReset` after a
    /// RST; `TimedOut` past the read timeout.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.0.blocking(self.0.read_timeout, |s, _, h| s.tcp_recv(h, buf))?;
        // Reading opened the window; the driver may owe a window update.
        self.0.wake_driver();
        Ok(n)
    }
}

impl Write for TcpStream {
    /// Copies into the send buffer, waiting while it is full; the driver
    /// sends in the background.
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let n = self.0.blocking(self.0.write_timeout, |s, now, h| s.tcp_send(now, h, data))?;
        self.0.wake_driver();
        Ok(n)
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
