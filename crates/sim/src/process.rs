//! What a simulated process sees: its host's stack through async sockets,
//! and virtual time through [`Sleep`].

use crate::world::{HostId, World};
use sockstack_stack::{Message, ProcessId, SocketHandle, Stack};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{IpProtocol, Ipv4Addr};
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddrV4;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A process running on one host of the simulation.
#[derive(Clone)]
pub struct Process {
    world: Rc<RefCell<World>>,
    host: HostId,
    pid: ProcessId,
    name: Rc<str>,
}

impl Process {
    pub(crate) fn new(world: Rc<RefCell<World>>, host: HostId, pid: ProcessId, name: String) -> Process {
        Process { world, host, pid, name: name.into() }
    }

    /// The process id its sockets are owned by.
    pub fn pid(&self) -> ProcessId {
        self.pid
    }

    /// The name it was spawned with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host it runs on.
    pub fn host(&self) -> HostId {
        self.host
    }

    pub(crate) fn world(&self) -> Rc<RefCell<World>> {
        self.world.clone()
    }

    pub(crate) fn resolver(&self) -> Option<Rc<dyn crate::resolve::Resolve>> {
        self.world.borrow().hosts[self.host.0].resolver.clone()
    }

    /// The name of the host it runs on.
    pub fn host_name(&self) -> String {
        self.world.borrow().hosts[self.host.0].name.clone()
    }

    /// Current virtual time.
    pub fn now(&self) -> Instant {
        self.world.borrow().now
    }

    /// Runs `f` on this host's stack (to inspect counters, queues, routes).
    pub fn with_stack<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        f(&mut self.world.borrow_mut().hosts[self.host.0].stack)
    }

    /// Waits `d` of virtual time.
    pub fn sleep(&self, d: Duration) -> Sleep {
        Sleep { world: self.world.clone(), until: self.now() + d, timer: None }
    }

    /// Opens a UDP socket bound to `addr` (port 0: an ephemeral port).
    pub fn udp_bind(&self, addr: SocketAddrV4) -> io::Result<UdpSocket> {
        let sock = self.socket(|s, pid| Ok(s.udp_open(pid)))?;
        sock.stack(|s| s.bind(sock.handle, addr))?;
        Ok(UdpSocket(sock))
    }

    /// Opens a raw socket for `protocol` (e.g. ICMP for ping).
    pub fn raw_socket(&self, protocol: IpProtocol, header_included: bool) -> io::Result<RawSocket> {
        Ok(RawSocket(self.socket(|s, pid| s.raw_open(pid, protocol, header_included))?))
    }

    fn socket(&self, open: impl FnOnce(&mut Stack, ProcessId) -> io::Result<SocketHandle>) -> io::Result<SimSocket> {
        let handle = self.with_stack(|s| open(s, self.pid))?;
        Ok(SimSocket { world: self.world.clone(), host: self.host, handle })
    }
}

/// A future that completes at a virtual instant.
pub struct Sleep {
    world: Rc<RefCell<World>>,
    until: Instant,
    timer: Option<u64>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut w = self.world.borrow_mut();
        if w.now >= self.until {
            return Poll::Ready(());
        }
        let until = self.until;
        if let Some(id) = self.timer {
            w.cancel_timer(until, id);
        }
        let id = w.add_timer(until, cx.waker().clone());
        drop(w);
        self.timer = Some(id);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.timer {
            if let Ok(mut w) = self.world.try_borrow_mut() {
                w.cancel_timer(self.until, id);
            }
        }
    }
}

/// The part every simulated socket shares: a handle into a host's stack.
struct SimSocket {
    world: Rc<RefCell<World>>,
    host: HostId,
    handle: SocketHandle,
}

impl SimSocket {
    fn stack<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        f(&mut self.world.borrow_mut().hosts[self.host.0].stack)
    }

    fn now(&self) -> Instant {
        self.world.borrow().now
    }

    /// Sends, waiting while the transmit queue pushes back.
    async fn send_to(&self, data: &[u8], dst: SocketAddrV4) -> io::Result<usize> {
        poll_fn(|cx| {
            let now = self.now();
            self.stack(|s| match s.send_to(now, self.handle, data, dst) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match s.register_send_waker(self.handle, cx.waker()) {
                        Ok(()) => Poll::Pending,
                        Err(e) => Poll::Ready(Err(e)),
                    }
                }
                r => Poll::Ready(r),
            })
        })
        .await
    }

    /// Receives the next message, waiting while the queue is empty.
    async fn recv_message(&self) -> io::Result<Message> {
        poll_fn(|cx| {
            self.stack(|s| match s.recv_message(self.handle) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match s.register_recv_waker(self.handle, cx.waker()) {
                        Ok(()) => Poll::Pending,
                        Err(e) => Poll::Ready(Err(e)),
                    }
                }
                r => Poll::Ready(r),
            })
        })
        .await
    }

    /// Waits until a receive would not block.
    async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| {
            self.stack(|s| match s.readiness(self.handle) {
                Ok(r) if r.readable => Poll::Ready(Ok(())),
                Ok(_) => match s.register_recv_waker(self.handle, cx.waker()) {
                    Ok(()) => Poll::Pending,
                    Err(e) => Poll::Ready(Err(e)),
                },
                Err(e) => Poll::Ready(Err(e)),
            })
        })
        .await
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)> {
        let m = self.recv_message().await?;
        let n = m.data.len().min(buf.len());
        buf[..n].copy_from_slice(&m.data[..n]);
        Ok((n, m.src))
    }
}

impl Drop for SimSocket {
    fn drop(&mut self) {
        if let Ok(mut w) = self.world.try_borrow_mut() {
            let _ = w.hosts[self.host.0].stack.close(self.handle);
        }
    }
}

/// A UDP socket of a simulated process.
pub struct UdpSocket(SimSocket);

impl UdpSocket {
    /// The stack's handle for this socket.
    pub fn handle(&self) -> SocketHandle {
        self.0.handle
    }

    /// The bound address (with the port chosen for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        self.0.stack(|s| s.local_addr(self.0.handle))
    }

    /// The connected peer (`NotConnected` without one).
    pub fn peer_addr(&self) -> io::Result<SocketAddrV4> {
        self.0.stack(|s| s.peer_addr(self.0.handle))
    }

    /// Sets the default peer: `send` goes there and only its datagrams are
    /// received (`InvalidInput` for the unspecified address or port 0).
    pub fn connect(&self, remote: SocketAddrV4) -> io::Result<()> {
        self.0.stack(|s| s.connect(self.0.handle, remote))
    }

    /// Sends one datagram; completes once the stack has queued it.
    pub async fn send_to(&self, data: &[u8], dst: SocketAddrV4) -> io::Result<usize> {
        self.0.send_to(data, dst).await
    }

    /// Sends one datagram to `"name:port"`, resolved through `p`'s host.
    pub async fn send_to_host(&self, p: &Process, data: &[u8], target: &str) -> io::Result<usize> {
        let dst = p.resolve_target(target).await?;
        self.0.send_to(data, dst).await
    }

    /// Sends to the connected peer.
    pub async fn send(&self, data: &[u8]) -> io::Result<usize> {
        let peer = self.peer_addr()?;
        self.0.send_to(data, peer).await
    }

    /// Receives one datagram (truncated to `buf`), and its sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)> {
        self.0.recv_from(buf).await
    }

    /// Receives one whole datagram with its addresses.
    pub async fn recv_message(&self) -> io::Result<Message> {
        self.0.recv_message().await
    }

    /// Waits until a datagram (or an error) is waiting.
    pub async fn readable(&self) -> io::Result<()> {
        self.0.readable().await
    }

    /// Datagrams waiting in this socket's receive queue.
    pub fn queued(&self) -> usize {
        self.0.stack(|s| s.recv_queue_len(self.0.handle)).unwrap_or(0)
    }

    /// Bounds the receive queue in bytes (`SO_RCVBUF`; `InvalidInput` for 0).
    pub fn set_recv_buffer_size(&self, bytes: usize) -> io::Result<()> {
        self.0.stack(|s| s.set_recv_buffer_size(self.0.handle, bytes))
    }

    /// TTL of the datagrams this socket sends.
    pub fn set_ttl(&self, ttl: u8) -> io::Result<()> {
        self.0.stack(|s| s.set_ttl(self.0.handle, ttl))
    }

    /// Sets DF: datagrams over the path MTU fail instead of fragmenting.
    pub fn set_dont_fragment(&self, on: bool) -> io::Result<()> {
        self.0.stack(|s| s.set_dont_fragment(self.0.handle, on))
    }
}

/// A raw IP socket of a simulated process.
pub struct RawSocket(SimSocket);

impl RawSocket {
    /// The stack's handle for this socket.
    pub fn handle(&self) -> SocketHandle {
        self.0.handle
    }

    /// Sends `payload` to `dst` under an IP header the stack builds (or,
    /// in header-included mode, a whole datagram).
    pub async fn send_to(&self, payload: &[u8], dst: Ipv4Addr) -> io::Result<usize> {
        self.0.send_to(payload, SocketAddrV4::new(dst, 0)).await
    }

    /// Receives one datagram, IP header included, and its source.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, Ipv4Addr)> {
        let (n, src) = self.0.recv_from(buf).await?;
        Ok((n, *src.ip()))
    }

    /// Datagrams waiting in the receive queue.
    pub fn queued(&self) -> usize {
        self.0.stack(|s| s.recv_queue_len(self.0.handle)).unwrap_or(0)
    }

    /// Waits until a datagram is waiting.
    pub async fn readable(&self) -> io::Result<()> {
        self.0.readable().await
    }
}
