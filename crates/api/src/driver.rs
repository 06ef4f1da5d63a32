//! The real-time driver: a thread that owns a [`Stack`] and its links.
//!
//! It sleeps until a packet arrives, a timer (stack or link) falls due, or
//! a user call wakes it; it never spins when idle. User threads reach the
//! stack through one mutex and wait for readiness on a condition variable
//! that the driver signals after every round of work.

use sockstack_link::{Frame, LinkConfig, Pipe};
use sockstack_stack::{IfaceId, OutPacket, Stack};
use sockstack_time::Instant;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a blocked caller spins before it sleeps (see [`Shared::wait`]).
const SPIN: Duration = Duration::from_micros(50);

/// What wakes a driver thread.
#[derive(Debug)]
pub enum Event {
    /// A packet arrived on interface `iface`.
    Packet {
        /// The interface it arrived on.
        iface: IfaceId,
        /// The IPv4 datagram.
        data: Vec<u8>,
    },
    /// A user call changed socket state (e.g. queued a datagram).
    Wake,
    /// Stop the driver.
    Shutdown,
}

/// The sending half of a driver's inbox: links and user calls post here.
pub type Inbox = Sender<Event>;

/// Where the driver puts the packets an interface sends.
pub trait Port: Send {
    /// Takes a packet the stack sent out of this port's interface.
    fn send(&mut self, now: Instant, packet: OutPacket);
    /// Moves what is due at `now` (e.g. a link's delayed frames).
    fn poll(&mut self, now: Instant);
    /// When [`Port::poll`] next has work.
    fn poll_at(&self) -> Option<Instant>;
    /// The driver is stopping: release threads and flush what the port
    /// buffers.
    fn shutdown(&mut self) {}
    /// Sends several packets at once (a device may coalesce them into
    /// fewer system calls); the default sends them one by one.
    fn send_batch(&mut self, now: Instant, packets: Vec<OutPacket>) {
        for p in packets {
            self.send(now, p);
        }
    }
}

/// One direction of an in-memory link between two driver threads: the
/// sending driver runs the [`Pipe`] (delay, loss, …) on its own clock and
/// posts each frame into the receiving driver's inbox when it is due;
/// frames carry no time.
pub struct MemoryPort {
    pipe: Pipe,
    peer: Inbox,
    peer_iface: IfaceId,
}

impl MemoryPort {
    /// A link direction with `config`'s impairments into `peer`'s inbox,
    /// arriving on its interface `peer_iface`.
    ///
    /// # Errors
    /// `InvalidInput` for an impossible link configuration.
    pub fn new(config: LinkConfig, peer: Inbox, peer_iface: IfaceId) -> io::Result<MemoryPort> {
        let pipe = Pipe::new(config).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        Ok(MemoryPort { pipe, peer, peer_iface })
    }
}

impl Port for MemoryPort {
    fn send(&mut self, now: Instant, packet: OutPacket) {
        self.pipe.send(now, Frame::new(packet.next_hop, packet.data));
        self.poll(now);
    }

    fn poll(&mut self, now: Instant) {
        while let Some(frame) = self.pipe.recv(now) {
            // A peer that has shut down is a cable unplugged: frames vanish.
            let _ = self.peer.send(Event::Packet { iface: self.peer_iface, data: frame.data });
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        self.pipe.poll_at()
    }
}

/// The state user threads share with the driver.
pub(crate) struct Shared {
    pub stack: Mutex<Stack>,
    /// Signalled when the stack changed and a caller waits (see
    /// [`Shared::wait`]).
    changed: Condvar,
    /// Callers blocked on `changed`: with none, nobody pays for a signal.
    waiting: AtomicUsize,
    /// Bumped by every [`Shared::notify`]: what spinning waiters watch.
    generation: AtomicU64,
    pub inbox: Inbox,
    /// False once the driver has stopped: blocked calls then fail.
    pub alive: AtomicBool,
    /// How this stack's processes turn names into addresses. Outside the
    /// stack lock: a DNS resolver uses the stack's own sockets.
    pub resolver: Mutex<Option<crate::HostResolver>>,
    /// The stack deadline (µs; `u64::MAX`: none) the driver last saw,
    /// stored under the stack lock: a user call that arms an earlier
    /// timer must wake it, a later one need not.
    driver_deadline: AtomicU64,
    epoch: std::time::Instant,
}

impl Shared {
    /// The stack's clock: microseconds since the driver started.
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    pub fn lock(&self) -> MutexGuard<'_, Stack> {
        self.stack.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the callers blocked in [`Shared::wait`], if any.
    pub fn notify(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.changed.notify_all();
        }
    }

    /// Releases the stack lock until the stack changes (or `timeout`
    /// passes), then takes it again. The caller re-checks its condition.
    pub fn wait<'a>(&'a self, stack: MutexGuard<'a, Stack>, timeout: Option<Duration>) -> MutexGuard<'a, Stack> {
        // Spin first, without the lock: an answer that comes within
        // microseconds (a peer on loopback or in memory) is picked up
        // without a sleep and a wake-up, which cost tens of µs each on a
        // virtual machine. Bounded, so a waiter with nothing coming sleeps.
        let generation = self.generation.load(Ordering::SeqCst);
        drop(stack);
        let spin = timeout.map_or(SPIN, |t| t.min(SPIN));
        let start = std::time::Instant::now();
        while start.elapsed() < spin {
            if self.generation.load(Ordering::SeqCst) != generation {
                return self.lock();
            }
            std::hint::spin_loop();
        }
        let stack = self.lock();
        if self.generation.load(Ordering::SeqCst) != generation {
            return stack;
        }
        let timeout = timeout.map(|t| t.saturating_sub(start.elapsed()));
        // Counted under the lock, so a change made after it is seen by
        // the signalling side, and one made before it was seen by the
        // caller's check.
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let stack = match timeout {
            None => self.changed.wait(stack).unwrap_or_else(|e| e.into_inner()),
            Some(t) => self.changed.wait_timeout(stack, t).unwrap_or_else(|e| e.into_inner()).0,
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        stack
    }

    /// Retries `op` under the lock held in `stack` until it stops saying
    /// `WouldBlock` (returned at once when `nonblocking`), waiting for the
    /// stack to change in between, up to `timeout` (then `TimedOut`).
    /// What the call changed is settled before the lock is released.
    pub fn block_until<'a, T>(
        &'a self,
        mut stack: MutexGuard<'a, Stack>,
        timeout: Option<Duration>,
        nonblocking: bool,
        mut op: impl FnMut(&mut Stack, Instant) -> io::Result<T>,
    ) -> io::Result<T> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            match op(&mut stack, self.now()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && !nonblocking => {}
                r => {
                    self.settle(&mut stack);
                    return r;
                }
            }
            if !self.alive.load(Ordering::SeqCst) {
                return Err(io::Error::new(io::ErrorKind::NotConnected, "the network driver has stopped"));
            }
            let left = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "operation timed out"));
                    }
                    Some(left)
                }
            };
            stack = self.wait(stack, left);
        }
    }

    /// Runs `f` on the stack, then settles what it changed.
    pub fn with_stack<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        let mut stack = self.lock();
        let r = f(&mut stack);
        self.settle(&mut stack);
        r
    }

    /// Tells the driver that socket state changed.
    pub fn wake_driver(&self) {
        let _ = self.inbox.send(Event::Wake);
    }

    /// Ends a user call, under the same lock: what the call sent to this
    /// host's own addresses is delivered now, in the caller's thread (as
    /// the kernel runs loopback receive in the sender's context), and
    /// blocked callers are told. The driver is woken only for work a
    /// sleeping driver would miss: packets for a link, or a timer earlier
    /// than the one it sleeps towards.
    pub fn settle(&self, stack: &mut Stack) {
        let now = self.now();
        if stack.poll_at().is_some_and(|t| t <= now) {
            stack.poll(now);
        }
        // Always: the call may have changed another local socket directly
        // (a segment handed straight to a connection of this stack), with
        // no loopback packet for `poll` to deliver.
        self.notify();
        let due = stack.poll_at().map_or(u64::MAX, |t| t.total_micros());
        if stack.pending_tx() > 0 || due < self.driver_deadline.load(Ordering::Acquire) {
            self.wake_driver();
        }
    }
}

/// A running real-time driver. Dropping it stops the thread.
pub struct Driver {
    pub(crate) shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Creates an inbox for a driver that is not started yet, so that links to
/// it can be built first.
pub fn inbox() -> (Inbox, Receiver<Event>) {
    mpsc::channel()
}

impl Driver {
    /// Starts a thread that owns `stack` and drives it with the packets
    /// posted to `rx`, sending through `ports` (indexed by interface).
    pub fn start(stack: Stack, inbox: (Inbox, Receiver<Event>), ports: Vec<(IfaceId, Box<dyn Port>)>) -> Driver {
        let (tx, rx) = inbox;
        let shared = Arc::new(Shared {
            stack: Mutex::new(stack),
            changed: Condvar::new(),
            waiting: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            inbox: tx,
            alive: AtomicBool::new(true),
            resolver: Mutex::new(None),
            driver_deadline: AtomicU64::new(u64::MAX),
            epoch: std::time::Instant::now(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("sockstack-driver".into())
            .spawn(move || run(s, rx, ports))
            .expect("spawn driver thread");
        Driver { shared, thread: Some(thread) }
    }

    /// Runs `f` on the stack under the driver's lock (configuration,
    /// counters), then lets the driver act on any change.
    pub fn with_stack<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        self.shared.with_stack(f)
    }

    /// The stack's clock (microseconds since the driver started).
    pub fn now(&self) -> Instant {
        self.shared.now()
    }

    /// Gives the stack's processes a resolver for `lookup_host`,
    /// `TcpStream::connect_to` and `UdpSocket::send_to_host`.
    pub fn set_resolver(&self, resolver: crate::HostResolver) {
        *self.shared.resolver.lock().unwrap_or_else(|e| e.into_inner()) = Some(resolver);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.shared.inbox.send(Event::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.changed.notify_all();
    }
}

/// Most events handled under one lock before the driver lets users in.
const BATCH: usize = 256;

fn run(shared: Arc<Shared>, rx: Receiver<Event>, mut ports: Vec<(IfaceId, Box<dyn Port>)>) {
    let mut pending: Option<Event> = None;
    let mut outgoing = Vec::new();
    loop {
        let deadline = {
            let mut stack = shared.lock();
            let now = shared.now();
            // Handle the event that woke us and whatever else is waiting.
            let mut handled = 0;
            while let Some(event) = pending.take().or_else(|| if handled < BATCH { rx.try_recv().ok() } else { None }) {
                handled += 1;
                match event {
                    Event::Packet { iface, data } => {
                        stack.receive(now, iface, &data);
                        stack.recycle(data);
                    }
                    Event::Wake => {}
                    Event::Shutdown => {
                        for (_, port) in ports.iter_mut() {
                            port.shutdown();
                        }
                        shared.alive.store(false, Ordering::SeqCst);
                        shared.notify();
                        return;
                    }
                }
            }
            if stack.poll_at().is_some_and(|t| t <= now) {
                stack.poll(now);
            }
            // Take the packets under the lock; write them after releasing
            // it, so that sockets are not held up by device system calls.
            outgoing.extend(std::iter::from_fn(|| stack.dispatch()));
            let stack_at = stack.poll_at();
            shared.driver_deadline.store(stack_at.map_or(u64::MAX, |t| t.total_micros()), Ordering::Release);
            drop(stack);
            shared.notify();
            for (iface, port) in ports.iter_mut() {
                let (mine, rest): (Vec<OutPacket>, Vec<OutPacket>) =
                    outgoing.drain(..).partition(|p| p.iface == *iface);
                outgoing = rest;
                if !mine.is_empty() {
                    port.send_batch(now, mine);
                }
            }
            // Packets for an interface with no port have nowhere to go.
            outgoing.clear();
            for (_, port) in ports.iter_mut() {
                port.poll(now);
            }
            let ports_at = ports.iter().filter_map(|(_, p)| p.poll_at()).min();
            [stack_at, ports_at].into_iter().flatten().min()
        };
        // Sleep until the next deadline or event; with neither, block.
        let event = match deadline {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => {
                let wait = t.saturating_duration_since(shared.now());
                if wait.is_zero() {
                    continue;
                }
                rx.recv_timeout(wait.max(Duration::from_micros(50)))
            }
        };
        match event {
            Ok(e) => pending = Some(e),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
