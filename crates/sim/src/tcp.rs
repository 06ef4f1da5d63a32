//! TCP sockets of a simulated process, async: a listener that accepts
//! connections and streams that read and write bytes.

use crate::process::Process;
use crate::world::{HostId, World};
use sockstack_stack::{SocketHandle, Stack};
use sockstack_tcp::{State, TcpStats};
use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddrV4};
use std::rc::Rc;
use std::task::Poll;

struct Handle {
    world: Rc<RefCell<World>>,
    host: HostId,
    handle: SocketHandle,
}

impl Handle {
    fn stack<R>(&self, f: impl FnOnce(&mut Stack, sockstack_time::Instant) -> R) -> R {
        let mut w = self.world.borrow_mut();
        let now = w.now;
        f(&mut w.hosts[self.host.0].stack, now)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Ok(mut w) = self.world.try_borrow_mut() {
            let _ = w.hosts[self.host.0].stack.close(self.handle);
        }
    }
}

/// A listening TCP socket.
pub struct TcpListener(Handle);

/// A TCP connection.
pub struct TcpStream(Handle);

impl Process {
    /// Binds `addr` and listens with an accept queue of `backlog` + 1
    /// connections, as Linux's, with `SO_REUSEADDR` as std's listeners have
    /// it on Unix (a restarted server binds again while its old connections
    /// wait in TIME-WAIT).
    pub fn tcp_listen(&self, addr: SocketAddrV4, backlog: usize) -> io::Result<TcpListener> {
        let h = self.with_stack(|s| s.tcp_open(self.pid()));
        let l = TcpListener(Handle { world: self.world(), host: self.host(), handle: h });
        l.0.stack(|s, _| {
            s.tcp_set_reuse_address(h, true)?;
            s.bind(h, addr)?;
            s.tcp_listen(h, backlog)
        })?;
        Ok(l)
    }

    /// Connects to `remote`, waiting for the handshake.
    pub async fn tcp_connect(&self, remote: SocketAddrV4) -> io::Result<TcpStream> {
        self.connect_inner(None, remote).await
    }

    /// Connects from the local address `local` (bound first) to `remote`.
    pub async fn tcp_connect_from(&self, local: SocketAddrV4, remote: SocketAddrV4) -> io::Result<TcpStream> {
        self.connect_inner(Some(local), remote).await
    }

    async fn connect_inner(&self, local: Option<SocketAddrV4>, remote: SocketAddrV4) -> io::Result<TcpStream> {
        let h = self.with_stack(|s| s.tcp_open(self.pid()));
        let stream = TcpStream(Handle { world: self.world(), host: self.host(), handle: h });
        stream.0.stack(|s, now| {
            if let Some(local) = local {
                s.bind(h, local)?;
            }
            s.tcp_connect(now, h, remote)
        })?;

        poll_fn(|cx| {
            stream.0.stack(|s, _| match s.tcp_connect_status(h) {
                Ok(true) => Poll::Ready(Ok(())),
                Ok(false) => match s.register_send_waker(h, cx.waker()) {
                    Ok(()) => Poll::Pending,
                    Err(e) => Poll::Ready(Err(e)),
                },
                Err(e) => Poll::Ready(Err(e)),
            })
        })
        .await?;
        Ok(stream)
    }
}

impl TcpListener {
    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.0.stack(|s, _| s.local_addr(self.0.handle))
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddrV4)> {
        poll_fn(|cx| {
            self.0.stack(|s, _| match s.tcp_accept(self.0.handle) {
                Ok((h, peer)) => Poll::Ready(Ok((h, peer))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match s.register_recv_waker(self.0.handle, cx.waker()) {
                        Ok(()) => Poll::Pending,
                        Err(e) => Poll::Ready(Err(e)),
                    }
                }
                Err(e) => Poll::Ready(Err(e)),
            })
        })
        .await
        .map(|(h, peer)| (TcpStream(Handle { world: self.0.world.clone(), host: self.0.host, handle: h }), peer))
    }
}

impl TcpStream {
    /// The stack's handle for this socket.
    pub fn handle(&self) -> SocketHandle {
        self.0.handle
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.0.stack(|s, _| s.local_addr(self.0.handle))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddrV4> {
        self.0.stack(|s, _| s.peer_addr(self.0.handle))
    }

    /// The RFC 9293 state.
    pub fn state(&self) -> io::Result<State> {
        self.0.stack(|s, _| s.tcp_state(self.0.handle))
    }

    /// srtt, cwnd, retransmits, … (what `ss -ti` shows).
    pub fn stats(&self) -> io::Result<TcpStats> {
        self.0.stack(|s, _| s.tcp_stats(self.0.handle))
    }

    /// Disables Nagle's algorithm (RFC 896).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.0.stack(|s, _| s.tcp_set_nodelay(self.0.handle, on))
    }

    /// Writes some of `data` into the send buffer, waiting for room.
    pub async fn write(&self, data: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| {
            self.0.stack(|s, now| match s.tcp_send(now, self.0.handle, data) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match s.register_send_waker(self.0.handle, cx.waker()) {
                        Ok(()) => Poll::Pending,
                        Err(e) => Poll::Ready(Err(e)),
                    }
                }
                r => Poll::Ready(r),
            })
        })
        .await
    }

    /// Writes all of `data`.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = self.write(data).await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Reads into `buf`, waiting for data; `Ok(0)` at end of stream.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| {
            self.0.stack(|s, _| match s.tcp_recv(self.0.handle, buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match s.register_recv_waker(self.0.handle, cx.waker()) {
                        Ok(()) => Poll::Pending,
                        Err(e) => Poll::Ready(Err(e)),
                    }
                }
                r => Poll::Ready(r),
            })
        })
        .await
    }

    /// Reads until end of stream.
    pub async fn read_to_end(&self, out: &mut Vec<u8>) -> io::Result<usize> {
        let mut buf = vec![0u8; 64 * 1024];
        let start = out.len();
        loop {
            let n = self.read(&mut buf).await?;
            if n == 0 {
                return Ok(out.len() - start);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Half-close (`Write`: FIN after the queued data), stop reading
    /// (`Read`), or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.stack(|s, now| s.tcp_shutdown(now, self.0.handle, how))
    }
}
