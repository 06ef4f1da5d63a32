//! A TCP connection behind its own lock, shared between the stack's socket
//! table and the user handles of its socket.
//!
//! The stack reaches a connection only while it holds the whole stack
//! (`&mut Stack`, under the driver's lock in the real-time world). Moving
//! bytes between the application and the connection's buffers needs none
//! of the stack: [`TcpConn::send`] and [`TcpConn::recv`] take only this
//! connection's lock, so the copies of many connections run in parallel on
//! as many cores, as `tcp_sendmsg`/`tcp_recvmsg` do under Linux's
//! per-socket lock. What the stack must then do (transmit the new data, or
//! a window update) is left to a call that holds the stack, which takes
//! the connection's lock in turn.
//!
//! The tasks waiting for the connection wait here too: a read or write
//! that cannot go on registers its waker under the connection's lock, and
//! the stack takes the wakers under it after every change it makes, so a
//! wake-up cannot slip between the check and the registration.
//!
//! Lock order: the stack, then a connection, then (only on the direct
//! hand-over between two local connections) its peer. A user thread holds
//! one connection's lock at a time and takes no other lock while it does,
//! so no cycle can form.

use sockstack_tcp::Connection;
use std::io;
use std::net::SocketAddrV4;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

/// A handle on one connection's state; clones share it.
#[derive(Clone)]
pub struct TcpConn(Arc<Cell>);

struct Cell {
    conn: Mutex<Locked>,
    /// The 4-tuple, fixed for the connection's life: read without the lock.
    local: SocketAddrV4,
    remote: SocketAddrV4,
    /// `shutdown(Read)`: receives return end-of-file.
    read_shut: AtomicBool,
}

impl std::fmt::Debug for TcpConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpConn").field("local", &self.0.local).field("remote", &self.0.remote).finish()
    }
}

/// What the connection's lock guards: the protocol state, and the tasks
/// waiting for it to change. Dereferences to the [`Connection`].
pub(crate) struct Locked {
    conn: Connection,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
}

impl Deref for Locked {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl DerefMut for Locked {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// The tasks taken from a connection to be woken once its lock is
/// released (a waker may run code; tokio's only schedules).
#[must_use]
pub(crate) struct Wakers {
    rx: Option<Waker>,
    tx: Option<Waker>,
}

impl Wakers {
    pub(crate) fn wake(self) {
        if let Some(w) = self.rx {
            w.wake();
        }
        if let Some(w) = self.tx {
            w.wake();
        }
    }
}

impl Locked {
    /// Takes the wakers of the tasks waiting for this connection: it
    /// changed, under this same lock.
    pub(crate) fn take_wakers(&mut self) -> Wakers {
        Wakers { rx: self.rx_waker.take(), tx: self.tx_waker.take() }
    }

    /// Registers the task to wake when a receive (`send` false) or a send
    /// may go on.
    pub(crate) fn register(&mut self, waker: &Waker, send: bool) {
        let slot = if send { &mut self.tx_waker } else { &mut self.rx_waker };
        match slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }
}

/// The error a failed connection reports, with the words a socket
/// programmer expects.
pub(crate) fn conn_error(kind: io::ErrorKind) -> io::Error {
    let what = match kind {
        io::ErrorKind::ConnectionRefused => "connection refused",
        io::ErrorKind::ConnectionReset => "connection reset by peer",
        io::ErrorKind::TimedOut => "connection timed out",
        io::ErrorKind::ConnectionAborted => "connection aborted",
        _ => "connection failed",
    };
    io::Error::new(kind, what)
}

impl TcpConn {
    pub(crate) fn new(conn: Connection) -> TcpConn {
        let (local, remote) = (conn.local_addr(), conn.remote_addr());
        let locked = Locked { conn, rx_waker: None, tx_waker: None };
        TcpConn(Arc::new(Cell { conn: Mutex::new(locked), local, remote, read_shut: AtomicBool::new(false) }))
    }

    /// The connection, locked. A thread that panicked while holding it left
    /// a connection whose every method still keeps its invariants (none
    /// unwinds half-way through a buffer update), so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Locked> {
        self.0.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn local_addr(&self) -> SocketAddrV4 {
        self.0.local
    }

    pub(crate) fn remote_addr(&self) -> SocketAddrV4 {
        self.0.remote
    }

    /// Wakes the tasks waiting for this connection: it changed.
    pub(crate) fn wake(&self) {
        let wakers = self.lock().take_wakers();
        wakers.wake();
    }

    pub(crate) fn shut_read(&self) {
        self.0.read_shut.store(true, Ordering::Release);
    }

    pub(crate) fn read_shut(&self) -> bool {
        self.0.read_shut.load(Ordering::Acquire)
    }

    /// Copies as much of `data` as fits into the send buffer, under this
    /// connection's lock only. The stack must then transmit it
    /// ([`crate::Stack::tcp_kick`]). Errors as [`crate::Stack::tcp_send`].
    pub fn send(&self, data: &[u8]) -> io::Result<usize> {
        let mut c = self.lock();
        if let Some(kind) = c.error() {
            return Err(conn_error(kind));
        }
        c.send(data)
    }

    /// Reads received bytes under this connection's lock only; with the
    /// count, whether the read opened the window far enough that the peer
    /// must hear of it now (then [`crate::Stack::tcp_kick`]). Results as
    /// [`crate::Stack::tcp_recv`].
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        let mut c = self.lock();
        Self::recv_locked(&mut c, self.read_shut(), buf)
    }

    fn recv_locked(c: &mut Locked, read_shut: bool, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        if read_shut {
            return Ok((0, false));
        }
        let n = c.recv(buf)?;
        Ok((n, n > 0 && c.ack_owed()))
    }

    /// [`TcpConn::recv`] for a task: with nothing to read yet, registers
    /// `waker` to run when that changes, and is `Pending`.
    pub fn poll_recv(&self, waker: &Waker, buf: &mut [u8]) -> Poll<io::Result<(usize, bool)>> {
        let mut c = self.lock();
        match Self::recv_locked(&mut c, self.read_shut(), buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.register(waker, false);
                Poll::Pending
            }
            r => Poll::Ready(r),
        }
    }

    /// [`TcpConn::send`] for a task: with the send buffer full, registers
    /// `waker` to run when room is made, and is `Pending`.
    pub fn poll_send(&self, waker: &Waker, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut c = self.lock();
        if let Some(kind) = c.error() {
            return Poll::Ready(Err(conn_error(kind)));
        }
        match c.send(data) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.register(waker, true);
                Poll::Pending
            }
            r => Poll::Ready(r),
        }
    }
}
