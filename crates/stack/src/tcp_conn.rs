//! A TCP connection behind its own lock, shared between the stack's socket
//! table and the user handles of its socket; or, until a user handle asks
//! for it, the stack's alone, reached with no lock at all ([`ConnSlot`]).
//!
//! The stack reaches a connection only while it holds the whole stack
//! (`&mut Stack`, under the driver's lock in the real-time world). Moving
//! bytes between the application and the connection's buffers needs none
//! of the stack: [`TcpConn::send`] and [`TcpConn::recv`] take only this
//! connection's lock, so the copies of many connections run in parallel on
//! as many cores, as `tcp_sendmsg`/`tcp_recvmsg` do under Linux's
//! per-socket lock. What the stack must then do (transmit the new data, or
//! a window update) is left to a call that holds the stack
//! ([`crate::Stack::tcp_kick`]).
//!
//! The stack's transmit path never waits for a user thread: if one holds
//! the connection, the stack marks it wanted and moves on, and the user
//! call, once it lets go, sees the mark ([`TcpConn::take_wanted`]) and
//! kicks the stack itself (Linux's socket backlog, processed at
//! `release_sock`, plays the same part).
//!
//! The tasks waiting for the connection wait here too: a read or write
//! that cannot go on registers its waker under the connection's lock, and
//! the stack takes the wakers under it after every change it makes, so a
//! wake-up cannot slip between the check and the registration.
//!
//! Two connections of the same stack, both past their handshakes, are
//! linked (see `Stack::tcp_transmit`): each then sends straight into the
//! other's `on_segment`, no datagram built or parsed. [`TcpConn::exchange`]
//! does that from a user thread, under the two connections' locks and
//! without the stack, so the copy from one's send ring into the other's
//! receive ring runs in parallel with the rest of the stack too; the stack
//! is needed afterwards only to re-arm the two connections' timers.
//!
//! Lock order: the stack, then a connection. Two connections are only
//! ever taken together by trying (`try_lock_pair`), never by waiting, and
//! a thread holding a connection's lock waits for no other lock, so no
//! cycle can form.

use crate::socket::SocketHandle;
use crate::wake::WakerSet;
use sockstack_tcp::Connection;
use sockstack_time::Instant;
use std::io;
use std::net::SocketAddrV4;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Poll, Waker};

/// Most send rounds one [`TcpConn::exchange`] runs (each: what one side
/// can send, then the other's answer). Two normally suffice (data, then
/// its ACK and the data the ACK releases); the bound keeps a pair that
/// keeps answering each other from holding their locks for long, as what
/// is left goes out through the stack.
const MAX_EXCHANGE_ROUNDS: usize = 64;

/// A handle on one connection's state; clones share it.
#[derive(Clone)]
pub struct TcpConn(Arc<Cell>);

struct Cell {
    conn: Mutex<Locked>,
    /// The 4-tuple, fixed for the connection's life: read without the lock.
    local: SocketAddrV4,
    remote: SocketAddrV4,
    /// The linked local peer, if any.
    link: Mutex<Option<Link>>,
    /// The stack found the lock held and left this connection's output to
    /// the holder, who kicks the stack once it lets go (see
    /// [`TcpConn::take_wanted`]).
    wanted: AtomicBool,
}

/// A connection's local peer, to which segments go straight.
#[derive(Clone)]
pub(crate) struct Link {
    /// Weak: two linked connections must not keep each other alive.
    peer: Weak<Cell>,
    /// The peer's socket, whose timers the stack re-arms after an
    /// exchange.
    handle: SocketHandle,
    /// Segments exchanged outside the stack, for its counters.
    tally: Arc<AtomicU64>,
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
    rx_wakers: WakerSet,
    tx_wakers: WakerSet,
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
/// `None` when nobody waits, as nearly always on a segment's way in: then
/// nothing is moved out.
#[must_use]
pub(crate) struct Wakers(Option<(WakerSet, WakerSet)>);

impl Wakers {
    #[inline]
    pub(crate) fn wake(self) {
        if let Some((rx, tx)) = self.0 {
            rx.wake();
            tx.wake();
        }
    }
}

impl Locked {
    /// Takes the wakers of the tasks waiting for this connection: it
    /// changed, under this same lock.
    #[inline]
    pub(crate) fn take_wakers(&mut self) -> Wakers {
        if self.rx_wakers.is_empty() && self.tx_wakers.is_empty() {
            return Wakers(None);
        }
        Wakers(Some((self.rx_wakers.take(), self.tx_wakers.take())))
    }

    /// Registers a waker to wake when a receive (`send` false) or a send
    /// may go on (beside any others waiting).
    pub(crate) fn register(&mut self, waker: &Waker, send: bool) {
        if send { &mut self.tx_wakers } else { &mut self.rx_wakers }.register(waker);
    }
}

/// The error a failed connection reports, with the words a socket
/// programmer expects. Out of line: inlined, its match became a jump table
/// that every send took, error or not (a load from the table and an
/// indirect jump, where a test of the `Option` does).
#[cold]
#[inline(never)]
pub(crate) fn conn_error(kind: io::ErrorKind) -> io::Error {
    let what = match kind {
        io::ErrorKind::ConnectionRefused => "connection refused",
        io::ErrorKind::ConnectionReset => "connection reset by peer",
        io::ErrorKind::TimedOut => "connection timed out",
        io::ErrorKind::ConnectionAborted => "connection aborted",
        // From ICMP destination unreachable (or time exceeded).
        io::ErrorKind::HostUnreachable => "no route to host",
        io::ErrorKind::NetworkUnreachable => "network is unreachable",
        _ => "connection failed",
    };
    io::Error::new(kind, what)
}

impl TcpConn {
    fn from_parts(locked: Locked, local: SocketAddrV4, remote: SocketAddrV4) -> TcpConn {
        TcpConn(Arc::new(Cell {
            conn: Mutex::new(locked),
            local,
            remote,
            link: Mutex::new(None),
            wanted: AtomicBool::new(false),
        }))
    }

    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, Locked>> {
        match self.0.conn.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// The stack's way in, which never waits for a user thread: the
    /// connection (with its linked peer, if `peer` is given) locked, or
    /// `None` when a user thread holds either lock. Then both are marked
    /// wanted, and the holder kicks the stack when it lets go: either the
    /// retry here sees the lock free, or the holder's check after its
    /// unlock sees the mark (a fence on each side, Dekker's pattern).
    #[allow(clippy::type_complexity)]
    pub(crate) fn try_lock_for_stack<'a>(
        &'a self,
        peer: Option<&'a TcpConn>,
    ) -> Option<(MutexGuard<'a, Locked>, Option<MutexGuard<'a, Locked>>)> {
        let attempt = || match peer {
            Some(p) => try_lock_pair(self, p).map(|(a, b)| (a, Some(b))),
            None => self.try_lock().map(|a| (a, None)),
        };
        if let Some(g) = attempt() {
            return Some(g);
        }
        for c in std::iter::once(self).chain(peer) {
            c.0.wanted.store(true, Ordering::SeqCst);
        }
        std::sync::atomic::fence(Ordering::SeqCst);
        let g = attempt()?;
        // Doing it now: nobody need kick for it.
        for c in std::iter::once(self).chain(peer) {
            c.0.wanted.store(false, Ordering::Relaxed);
        }
        Some(g)
    }

    /// After a user call let go of this connection's lock: whether the
    /// stack left output of this connection (or of its linked peer) to it,
    /// which the caller must now kick (both, when linked).
    pub fn take_wanted(&self) -> bool {
        std::sync::atomic::fence(Ordering::SeqCst);
        self.0.wanted.load(Ordering::Relaxed) && self.0.wanted.swap(false, Ordering::SeqCst)
    }

    fn link_slot(&self) -> MutexGuard<'_, Option<Link>> {
        self.0.link.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Links this connection (socket `handle`) and `peer` (socket
    /// `peer_handle`), both ways.
    pub(crate) fn link(&self, handle: SocketHandle, peer: &TcpConn, peer_handle: SocketHandle, tally: &Arc<AtomicU64>) {
        *self.link_slot() = Some(Link { peer: Arc::downgrade(&peer.0), handle: peer_handle, tally: tally.clone() });
        *peer.link_slot() = Some(Link { peer: Arc::downgrade(&self.0), handle, tally: tally.clone() });
    }

    /// Undoes [`TcpConn::link`], both ways.
    pub(crate) fn unlink(&self) {
        let link = self.link_slot().take();
        if let Some(peer) = link.and_then(|l| l.peer.upgrade()) {
            *TcpConn(peer).link_slot() = None;
        }
    }

    /// The linked peer and its socket, if any.
    pub(crate) fn linked_with_handle(&self) -> Option<(TcpConn, SocketHandle)> {
        self.link_slot().as_ref().and_then(|l| Some((TcpConn(l.peer.upgrade()?), l.handle)))
    }

    /// Sends what this connection and its linked peer owe each other,
    /// straight into each other, until neither has more (or a bound on
    /// rounds is reached), under their two locks only; if another thread
    /// holds either, sends nothing (the stack does it, or leaves it to
    /// that thread). Returns the peer's socket, whose timers (with this
    /// one's) the stack must now re-arm; `None` without a link, when
    /// everything is left to the stack.
    pub fn exchange(&self, now: Instant) -> Option<SocketHandle> {
        let link = self.link_slot().clone()?;
        let peer = TcpConn(link.peer.upgrade()?);
        // Never waits: with either held, the caller's kick leaves the
        // exchange to the stack, which leaves it to the holder in turn.
        let Some((mut a, mut b)) = try_lock_pair(self, &peer) else {
            return Some(link.handle);
        };
        let mut segments = 0u64;
        for _ in 0..MAX_EXCHANGE_ROUNDS {
            let before = segments;
            a.poll_transmit_burst(now, usize::MAX, |seg| {
                b.on_segment(now, seg);
                segments += 1;
            });
            b.poll_transmit_burst(now, usize::MAX, |seg| {
                a.on_segment(now, seg);
                segments += 1;
            });
            if segments == before {
                break;
            }
        }
        let wakers = (a.take_wakers(), b.take_wakers());
        drop((a, b));
        // The caller kicks both: any work the stack left to us is done then.
        self.take_wanted();
        peer.take_wanted();
        wakers.0.wake();
        wakers.1.wake();
        link.tally.fetch_add(segments, Ordering::Relaxed);
        Some(link.handle)
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

    /// Copies as much of `data` as fits into the send buffer, under this
    /// connection's lock only. The stack must then transmit it
    /// ([`crate::Stack::tcp_kick`]). Errors as [`crate::Stack::tcp_send`].
    pub fn send(&self, data: &[u8]) -> io::Result<usize> {
        Self::send_locked(&mut self.lock(), data)
    }

    #[inline]
    pub(crate) fn send_locked(c: &mut Locked, data: &[u8]) -> io::Result<usize> {
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
        Self::recv_locked(&mut self.lock(), |c| c.recv(buf))
    }

    /// [`TcpConn::recv`] without a copy (see [`Connection::recv_with`]).
    pub fn recv_with(&self, f: impl FnOnce(&[u8]) -> usize) -> io::Result<(usize, bool)> {
        Self::recv_locked(&mut self.lock(), |c| c.recv_with(f))
    }

    /// A read (`read`) under the lock held in `c`, with whether it made a
    /// window update due; end-of-file after `shutdown(Read)`.
    #[inline]
    pub(crate) fn recv_locked(
        c: &mut Locked,
        read: impl FnOnce(&mut Connection) -> io::Result<usize>,
    ) -> io::Result<(usize, bool)> {
        if c.read_is_shut() {
            return Ok((0, false));
        }
        let n = read(c)?;
        Ok((n, n > 0 && c.ack_owed()))
    }

    /// [`TcpConn::recv`] for a task: with nothing to read yet, registers
    /// `waker` to run when that changes, and is `Pending`.
    pub fn poll_recv(&self, waker: &Waker, buf: &mut [u8]) -> Poll<io::Result<(usize, bool)>> {
        let mut c = self.lock();
        let r = Self::recv_locked(&mut c, |c| c.recv(buf));
        Self::ready_or_wait(&mut c, r, waker, false)
    }

    /// [`TcpConn::send`] for a task: with the send buffer full, registers
    /// `waker` to run when room is made, and is `Pending`.
    pub fn poll_send(&self, waker: &Waker, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut c = self.lock();
        let r = Self::send_locked(&mut c, data);
        Self::ready_or_wait(&mut c, r, waker, true)
    }

    /// A call's result for a task: `WouldBlock` registers `waker` (for a
    /// send or a receive) under the lock the call held, and is `Pending`.
    fn ready_or_wait<T>(c: &mut Locked, r: io::Result<T>, waker: &Waker, send: bool) -> Poll<io::Result<T>> {
        match r {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.register(waker, send);
                Poll::Pending
            }
            r => Poll::Ready(r),
        }
    }
}

/// The stack's hold on one connection. The connection itself while no
/// user handle shares it: the stack, which holds `&mut Stack`, then
/// reaches it with no lock taken, and a program that drives a stack
/// itself (one thread, as `sockstack bench tcp` and an embedded user do)
/// pays no locked instruction per access. A [`TcpConn`] once a user
/// handle asks for one ([`ConnSlot::share`]: the blocking and async APIs
/// do at `connect` and `accept`) or a local peer links to it; sharing is
/// one way.
///
/// The owned connection lies inside the slot, not behind a box of its
/// own: the slot is itself held boxed (in the socket's `Stream`), and a
/// second box cost every connection an allocation and a copy of itself,
/// and every access one more pointer to follow.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ConnSlot {
    Own(Owned),
    Shared(TcpConn),
}

/// A connection the stack alone holds: what a [`Cell`] holds, without
/// the locks and atomics that sharing needs.
pub(crate) struct Owned {
    locked: Locked,
    local: SocketAddrV4,
    remote: SocketAddrV4,
}

/// A connection the stack may change: [`ConnSlot::lock`].
pub(crate) enum ConnGuard<'a> {
    Own(&'a mut Locked),
    Shared(MutexGuard<'a, Locked>),
}

/// A connection the stack reads: [`ConnSlot::get`].
pub(crate) enum ConnRef<'a> {
    Own(&'a Locked),
    Shared(MutexGuard<'a, Locked>),
}

impl Deref for ConnGuard<'_> {
    type Target = Locked;
    fn deref(&self) -> &Locked {
        match self {
            ConnGuard::Own(c) => c,
            ConnGuard::Shared(g) => g,
        }
    }
}

impl DerefMut for ConnGuard<'_> {
    fn deref_mut(&mut self) -> &mut Locked {
        match self {
            ConnGuard::Own(c) => c,
            ConnGuard::Shared(g) => g,
        }
    }
}

impl Deref for ConnRef<'_> {
    type Target = Locked;
    fn deref(&self) -> &Locked {
        match self {
            ConnRef::Own(c) => c,
            ConnRef::Shared(g) => g,
        }
    }
}

impl ConnSlot {
    pub(crate) fn new(conn: Connection) -> ConnSlot {
        let (local, remote) = (conn.local_addr(), conn.remote_addr());
        let locked = Locked { conn, rx_wakers: WakerSet::default(), tx_wakers: WakerSet::default() };
        ConnSlot::Own(Owned { locked, local, remote })
    }

    /// The connection shared: a handle for user threads on it (after
    /// which the stack takes its lock too), and this slot's new self.
    pub(crate) fn share(self) -> (ConnSlot, TcpConn) {
        let conn = match self {
            ConnSlot::Shared(c) => c,
            ConnSlot::Own(o) => {
                let Owned { locked, local, remote } = o;
                TcpConn::from_parts(locked, local, remote)
            }
        };
        (ConnSlot::Shared(conn.clone()), conn)
    }

    /// Whether nothing but this slot holds the connection: no user handle
    /// (a linked peer holds it weakly, which does not count).
    pub(crate) fn sole_holder(&self) -> bool {
        match self {
            ConnSlot::Own(_) => true,
            ConnSlot::Shared(c) => Arc::strong_count(&c.0) == 1,
        }
    }

    /// The handle user threads share, if it exists yet.
    pub(crate) fn shared(&self) -> Option<&TcpConn> {
        match self {
            ConnSlot::Own(_) => None,
            ConnSlot::Shared(c) => Some(c),
        }
    }

    /// The connection, to change (locked when shared: waits for a user
    /// thread holding it, as [`TcpConn::lock`]).
    #[inline]
    pub(crate) fn lock(&mut self) -> ConnGuard<'_> {
        match self {
            ConnSlot::Own(o) => ConnGuard::Own(&mut o.locked),
            ConnSlot::Shared(c) => ConnGuard::Shared(c.lock()),
        }
    }

    /// The connection, to read.
    #[inline]
    pub(crate) fn get(&self) -> ConnRef<'_> {
        match self {
            ConnSlot::Own(o) => ConnRef::Own(&o.locked),
            ConnSlot::Shared(c) => ConnRef::Shared(c.lock()),
        }
    }

    /// [`ConnSlot::get`] without waiting: `None` while a user thread holds
    /// the connection.
    pub(crate) fn try_get(&self) -> Option<ConnRef<'_>> {
        match self {
            ConnSlot::Own(o) => Some(ConnRef::Own(&o.locked)),
            ConnSlot::Shared(c) => c.try_lock().map(ConnRef::Shared),
        }
    }

    /// [`TcpConn::try_lock_for_stack`]: never waits for a user thread.
    #[inline]
    #[allow(clippy::type_complexity)]
    pub(crate) fn try_lock_for_stack<'a>(
        &'a mut self,
        peer: Option<&'a TcpConn>,
    ) -> Option<(ConnGuard<'a>, Option<MutexGuard<'a, Locked>>)> {
        match self {
            ConnSlot::Shared(c) => c.try_lock_for_stack(peer).map(|(a, b)| (ConnGuard::Shared(a), b)),
            ConnSlot::Own(o) => match peer {
                None => Some((ConnGuard::Own(&mut o.locked), None)),
                Some(p) => p.try_lock_for_stack(None).map(|(b, _)| (ConnGuard::Own(&mut o.locked), Some(b))),
            },
        }
    }

    pub(crate) fn local_addr(&self) -> SocketAddrV4 {
        match self {
            ConnSlot::Own(o) => o.local,
            ConnSlot::Shared(c) => c.local_addr(),
        }
    }

    pub(crate) fn remote_addr(&self) -> SocketAddrV4 {
        match self {
            ConnSlot::Own(o) => o.remote,
            ConnSlot::Shared(c) => c.remote_addr(),
        }
    }

    /// Wakes the tasks waiting for this connection: it changed.
    pub(crate) fn wake(&mut self) {
        self.lock().take_wakers().wake();
    }

    /// [`TcpConn::send`].
    #[inline]
    pub(crate) fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        TcpConn::send_locked(&mut self.lock(), data)
    }

    /// [`TcpConn::recv`].
    #[inline]
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        TcpConn::recv_locked(&mut self.lock(), |c| c.recv(buf))
    }

    /// [`TcpConn::recv_with`].
    pub(crate) fn recv_with(&mut self, f: impl FnOnce(&[u8]) -> usize) -> io::Result<(usize, bool)> {
        TcpConn::recv_locked(&mut self.lock(), |c| c.recv_with(f))
    }

    /// The linked peer and its socket, if any (only a shared connection is
    /// ever linked).
    pub(crate) fn linked_with_handle(&self) -> Option<(TcpConn, SocketHandle)> {
        match self {
            ConnSlot::Own(_) => None,
            ConnSlot::Shared(c) => c.linked_with_handle(),
        }
    }

    /// [`TcpConn::unlink`].
    pub(crate) fn unlink(&self) {
        if let ConnSlot::Shared(c) = self {
            c.unlink();
        }
    }
}

/// Both connections locked, without waiting: `None` if either is held.
fn try_lock_pair<'a>(a: &'a TcpConn, b: &'a TcpConn) -> Option<(MutexGuard<'a, Locked>, MutexGuard<'a, Locked>)> {
    // Order does not matter when nothing waits.
    let ga = a.try_lock()?;
    Some((ga, b.try_lock()?))
}

#[cfg(test)]
mod tests {
    use crate::{InterfaceConfig, ProcessId, SocketHandle, Stack, StackConfig};
    use sockstack_time::Instant;
    use sockstack_wire::{Ipv4Addr, Ipv4Cidr};
    use std::io;
    use std::net::SocketAddrV4;
    use std::sync::mpsc;
    use std::time::Duration;

    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    /// A stack with one interface, at `addr`.
    fn host(addr: Ipv4Addr) -> Stack {
        let mut s = Stack::new(StackConfig::default());
        s.add_interface(InterfaceConfig::new("eth0", Ipv4Cidr::new(addr, 24).unwrap()));
        s
    }

    /// A stack with a connection to itself: (stack, client, server).
    fn local_pair() -> (Stack, SocketHandle, SocketHandle) {
        let now = Instant::ZERO;
        let mut s = host(A);
        let l = s.tcp_open(ProcessId(1));
        s.bind(l, SocketAddrV4::new(A, 80)).unwrap();
        s.tcp_listen(l, 4).unwrap();
        let c = s.tcp_open(ProcessId(1));
        s.tcp_connect(now, c, SocketAddrV4::new(A, 80)).unwrap();
        s.poll(now);
        let (srv, _) = s.tcp_accept(l).unwrap();
        (s, c, srv)
    }

    /// Whether stream `h`'s connection is shared (locked on every access).
    fn shared(s: &Stack, h: SocketHandle) -> bool {
        match s.sockets.get(h).map(|e| &e.socket) {
            Some(crate::socket::Socket::Tcp(crate::tcp::TcpSocket {
                role: crate::tcp::TcpRole::Stream(st), ..
            })) => st.conn.shared().is_some(),
            _ => panic!("no stream"),
        }
    }

    fn carry(now: Instant, from: &mut Stack, to: &mut Stack) -> usize {
        let mut n = 0;
        while let Some(p) = from.dispatch() {
            to.receive(now, crate::IfaceId(0), &p.data);
            n += 1;
        }
        n
    }

    #[test]
    fn the_stack_owns_a_connection_until_a_handle_shares_it_and_nothing_is_lost_in_between() {
        let now = Instant::ZERO;
        let b_addr = Ipv4Addr::new(192, 0, 2, 2);
        let (mut a, mut b) = (host(A), host(b_addr));
        let l = b.tcp_open(ProcessId(1));
        b.bind(l, SocketAddrV4::new(b_addr, 80)).unwrap();
        b.tcp_listen(l, 4).unwrap();
        let c = a.tcp_open(ProcessId(1));
        a.tcp_connect(now, c, SocketAddrV4::new(b_addr, 80)).unwrap();
        while carry(now, &mut a, &mut b) + carry(now, &mut b, &mut a) > 0 {}
        let (srv, _) = b.tcp_accept(l).unwrap();
        // Driven through the stacks alone: no handle, no lock.
        assert_eq!(a.tcp_send(now, c, b"own").unwrap(), 3);
        while carry(now, &mut a, &mut b) + carry(now, &mut b, &mut a) > 0 {}
        assert!(!shared(&a, c) && !shared(&b, srv), "shared with no handle asked for");
        b.tcp_shutdown(now, srv, std::net::Shutdown::Read).unwrap();
        // Shared mid-stream: state, buffered bytes and shutdown carry over.
        let (conn, peer) = (a.tcp_conn(c).unwrap(), b.tcp_conn(srv).unwrap());
        assert!(shared(&a, c) && shared(&b, srv));
        assert_eq!(peer.recv(&mut [0u8; 8]).unwrap().0, 0, "shutdown(Read) lost in sharing");
        assert_eq!(conn.send(b"shared").unwrap(), 6);
        a.tcp_kick(now, c);
        while carry(now, &mut a, &mut b) + carry(now, &mut b, &mut a) > 0 {}
        let mut buf = [0u8; 16];
        let n = peer.lock().recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ownshared");
        assert_eq!(b.tcp_stats(srv).unwrap().bytes_received, 9);
        // And the stack's own calls go on, now under the lock.
        assert_eq!(b.tcp_send(now, srv, b"back").unwrap(), 4);
        while carry(now, &mut a, &mut b) + carry(now, &mut b, &mut a) > 0 {}
        assert_eq!(conn.recv(&mut buf).unwrap().0, 4);
        assert_eq!(&buf[..4], b"back");
    }

    #[test]
    fn linked_connections_exchange_without_the_stack_until_a_raw_socket_opens() {
        let now = Instant::ZERO;
        let (mut s, c, srv) = local_pair();
        let (conn, peer) = (s.tcp_conn(c).unwrap(), s.tcp_conn(srv).unwrap());
        // Sends through the stack link the two, once nothing of theirs is
        // left on the loopback queue.
        for _ in 0..2 {
            assert_eq!(s.tcp_send(now, c, b"ab").unwrap(), 2);
            s.poll(now);
            assert_eq!(peer.recv(&mut [0u8; 2]).unwrap().0, 2);
        }
        // Then bytes cross with no stack at all.
        assert_eq!(conn.send(b"cd").unwrap(), 2);
        assert_eq!(conn.exchange(now), Some(srv), "linked");
        let mut buf = [0u8; 2];
        assert_eq!(peer.recv(&mut buf).unwrap().0, 2);
        assert_eq!(&buf, b"cd");
        // A raw TCP socket must see every datagram: no more exchanges.
        s.raw_open(ProcessId(1), sockstack_wire::IpProtocol::Tcp, false).unwrap();
        assert_eq!(conn.send(b"ef").unwrap(), 2);
        assert_eq!(conn.exchange(now), None, "unlinked");
        assert_eq!(peer.recv(&mut buf).map_err(|e| e.kind()), Err(io::ErrorKind::WouldBlock));
        s.tcp_kick(now, c);
        s.poll(now);
        assert_eq!(peer.recv(&mut buf).unwrap().0, 2);
        assert_eq!(&buf, b"ef");
    }

    #[test]
    fn the_stack_never_waits_for_a_held_connection_and_the_holder_is_told_to_kick() {
        let now = Instant::ZERO;
        let (mut s, c, srv) = local_pair();
        let conn = s.tcp_conn(c).unwrap();
        assert_eq!(conn.send(b"held").unwrap(), 4);
        // A user thread holds the connection while the stack is asked to
        // send: the stack must go on without it, not wait.
        let held = conn.lock();
        let (done_tx, done_rx) = mpsc::channel();
        let stack = std::thread::spawn(move || {
            s.tcp_kick(now, c);
            let mut buf = [0u8; 8];
            let early = s.tcp_recv(srv, &mut buf).map_err(|e| e.kind());
            done_tx.send(early).unwrap();
            s
        });
        let early = done_rx.recv_timeout(Duration::from_secs(10));
        drop(held);
        let mut s = stack.join().unwrap();
        assert_eq!(early, Ok(Err(io::ErrorKind::WouldBlock)), "the stack waited, or sent through a held lock");
        // The holder, once it lets go, learns that it owes the stack a kick.
        assert!(conn.take_wanted(), "the stack's skipped output was not handed to the holder");
        assert!(!conn.take_wanted(), "told once");
        s.tcp_kick(now, c);
        let mut buf = [0u8; 8];
        assert_eq!(s.tcp_recv(srv, &mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"held");
    }
}
