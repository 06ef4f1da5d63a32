//! The real-time driver: a thread that owns a [`Stack`] and its links.
//!
//! It sleeps until a packet arrives, a timer (stack or link) falls due, or
//! a user call wakes it; it never spins when idle. User threads reach the
//! stack through one mutex and wait for readiness on a condition variable
//! that the driver signals after every round of work.
//!
//! Stream reads and writes do not queue for that mutex: they copy under
//! their connection's own lock ([`sockstack_stack::TcpConn`]) and only
//! then need the stack, to transmit. If another thread holds it, they
//! leave the connection in `Shared::kick`'s list and go on; whoever holds
//! the stack sends for them before letting go (the holder "combines" the
//! work of the threads that would otherwise sleep on the lock).

use crate::socket::Want;
use sockstack_link::{Frame, LinkConfig, Pipe};
use sockstack_stack::gso::RxOffload;
use sockstack_stack::{IfaceId, OutPacket, SocketHandle, Stack};
use sockstack_time::Instant;
use std::io;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError};
use std::task::{Wake, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a blocked caller spins before it sleeps (see [`Signal::wait`]).
const SPIN: Duration = Duration::from_micros(50);

/// Most times a thread letting go of the stack takes it back to send for
/// streams kicked meanwhile (see [`Shared::release`]).
const MAX_COMBINED_ROUNDS: usize = 8;

/// What wakes a driver thread.
#[derive(Debug)]
pub enum Event {
    /// A packet arrived on interface `iface`.
    Packet {
        /// The interface it arrived on.
        iface: IfaceId,
        /// The IPv4 datagram.
        data: Vec<u8>,
        /// What the device says of it (a TUN device with offloads); the
        /// default for a plain link.
        offload: RxOffload,
        /// Where `data` goes back once the stack has taken it: the pool of
        /// the reader that read into it (a TUN device's large reads), or,
        /// with `None`, the stack's own buffer pool.
        home: Option<Arc<BufferPool>>,
    },
    /// The device behind interface `iface` is gone (a TUN device deleted
    /// under its reader): the interface goes down, so routes through it
    /// stop and nothing more is sent into it.
    LinkDown {
        /// The interface whose device is gone.
        iface: IfaceId,
    },
    /// A user call changed socket state (e.g. queued a datagram).
    Wake,
    /// Stop the driver.
    Shutdown,
}

/// The sending half of a driver's inbox: links and user calls post here.
pub type Inbox = Sender<Event>;

/// Buffers of one size that a device's reader reads into and hands to
/// the driver whole (no copy of a large read), and gets back, their
/// contents left as they were, after the stack has taken them: a buffer
/// back from a large read needs only its tail set before it takes the
/// next, where a fresh one would be zeroed whole.
#[derive(Debug)]
pub struct BufferPool {
    len: usize,
    spare: Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    /// Buffers kept for reuse; more are dropped (they come back only as
    /// fast as the driver takes reads, so a few cover a burst).
    const KEEP: usize = 64;

    /// A pool of buffers `len` octets long.
    pub fn new(len: usize) -> BufferPool {
        BufferPool { len, spare: Mutex::new(Vec::new()) }
    }

    /// A buffer `len` octets long: one given back, or a fresh one.
    pub fn take(&self) -> Vec<u8> {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut buf = spare.unwrap_or_default();
        buf.resize(self.len, 0);
        buf
    }

    /// Takes `buf` back for reuse.
    pub fn give(&self, buf: Vec<u8>) {
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < Self::KEEP && buf.capacity() >= self.len {
            spare.push(buf);
        }
    }
}

/// Where the driver puts the packets an interface sends.
pub trait Port: Send {
    /// Takes a packet the stack sent out of this port's interface, and
    /// gives its buffer back when done with it (a device that wrote it
    /// out), for the stack to build another packet in instead of
    /// allocating; `None` when the buffer went on (an in-memory link).
    fn send(&mut self, now: Instant, packet: OutPacket) -> Option<Vec<u8>>;
    /// Moves what is due at `now` (e.g. a link's delayed frames).
    fn poll(&mut self, now: Instant);
    /// When [`Port::poll`] next has work.
    fn poll_at(&self) -> Option<Instant>;
    /// The driver is stopping: release threads and flush what the port
    /// buffers.
    fn shutdown(&mut self) {}
    /// Sends several packets at once (a device may coalesce them into
    /// fewer system calls), taking every one out of `packets` (which the
    /// driver keeps, so its room is reused turn after turn), and putting
    /// the buffers it is done with in `spent`; the default sends them one
    /// by one.
    fn send_batch(&mut self, now: Instant, packets: &mut Vec<OutPacket>, spent: &mut Vec<Vec<u8>>) {
        spent.extend(packets.drain(..).filter_map(|p| self.send(now, p)));
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
    fn send(&mut self, now: Instant, packet: OutPacket) -> Option<Vec<u8>> {
        self.pipe.send(now, Frame::new(packet.next_hop, packet.data));
        self.poll(now);
        None
    }

    fn poll(&mut self, now: Instant) {
        while let Some(frame) = self.pipe.recv(now) {
            // A peer that has shut down is a cable unplugged: frames vanish.
            let _ = self.peer.send(Event::Packet {
                iface: self.peer_iface,
                home: None,
                data: frame.data,
                offload: RxOffload::default(),
            });
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        self.pipe.poll_at()
    }
}

/// The state user threads share with the driver.
pub(crate) struct Shared {
    stack: Mutex<Stack>,
    /// Streams that owe output the stack has not sent yet (see
    /// [`Shared::kick`]), and whether the list is non-empty.
    kicks: Mutex<Vec<SocketHandle>>,
    kicks_pending: AtomicBool,
    /// How the stack lock is used (see [`LockStats`]).
    lock_stats: LockCounters,
    /// Signalled when the stack changed ([`Shared::notify`]), for a caller
    /// that waits for any change ([`WaitFor::Stack`]). Waiters sleep
    /// without the stack lock, which every holder must release through
    /// [`StackGuard`].
    changed: Arc<Signal>,
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

    /// The stack, locked; released (with the kicks left for it sent)
    /// when the guard goes.
    pub fn lock(&self) -> StackGuard<'_> {
        self.lock_stats.acquired.fetch_add(1, Ordering::Relaxed);
        let guard = self.try_stack().unwrap_or_else(|| {
            self.lock_stats.waited.fetch_add(1, Ordering::Relaxed);
            self.stack.lock().unwrap_or_else(|e| e.into_inner())
        });
        StackGuard { shared: self, guard: Some(guard) }
    }

    /// Streams `handles` owe output, or timers to re-arm, after a read or
    /// write under their own locks. Done at once if the stack is free;
    /// otherwise left to the thread holding it, which does it before it
    /// lets go, so the caller never sleeps on the stack lock.
    pub fn kick(&self, handles: &[SocketHandle]) {
        {
            let mut kicks = self.kicks.lock().unwrap_or_else(|e| e.into_inner());
            kicks.extend_from_slice(handles);
            self.kicks_pending.store(true, Ordering::SeqCst);
        }
        // Pairs with the fence in `release`: either this try sees the
        // holder's unlock, or the holder's check after its unlock sees
        // the list non-empty (Dekker's pattern).
        std::sync::atomic::fence(Ordering::SeqCst);
        self.lock_stats.kicks.fetch_add(1, Ordering::Relaxed);
        match self.try_stack() {
            Some(g) => self.release(g),
            None => {
                self.lock_stats.kicks_left.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The stack, if no other thread holds it (poisoning ignored, as by
    /// [`Shared::lock`]).
    fn try_stack(&self) -> Option<MutexGuard<'_, Stack>> {
        match self.stack.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Sends what the kicked streams owe, under the lock held in `stack`.
    fn run_kicks(&self, stack: &mut Stack) {
        if !self.kicks_pending.load(Ordering::SeqCst) {
            return;
        }
        let kicks = {
            let mut list = self.kicks.lock().unwrap_or_else(|e| e.into_inner());
            self.kicks_pending.store(false, Ordering::SeqCst);
            std::mem::take(&mut *list)
        };
        let now = self.now();
        for h in kicks {
            stack.tcp_kick(now, h);
        }
        self.settle(stack);
    }

    /// Lets go of the stack, after sending for the streams kicked while it
    /// was held; if more were kicked in between, takes it again to send
    /// for them too, unless another thread now holds it (and so will).
    /// A caller does this for others a bounded number of times; what is
    /// kicked after that goes to the driver thread, so that a thread kept
    /// busy by others' kicks gets back to its own work.
    fn release<'a>(&'a self, mut stack: MutexGuard<'a, Stack>) {
        let mut rounds = 0;
        loop {
            self.run_kicks(&mut stack);
            drop(stack);
            std::sync::atomic::fence(Ordering::SeqCst);
            if !self.kicks_pending.load(Ordering::SeqCst) {
                return;
            }
            if rounds == MAX_COMBINED_ROUNDS {
                self.wake_driver();
                return;
            }
            let Some(again) = self.try_stack() else { return };
            stack = again;
            rounds += 1;
        }
    }

    /// Wakes the callers waiting for any change of the stack
    /// ([`WaitFor::Stack`]), if any.
    pub fn notify(&self) {
        self.changed.notify();
    }

    /// Retries `op` under the lock held in `stack` until it stops saying
    /// `WouldBlock` (returned at once when `nonblocking`), waiting in
    /// between for what `wait_for` names, up to `timeout` (then
    /// `TimedOut`). What the call changed is settled before the lock is
    /// released.
    pub fn block_until<'a, T>(
        &'a self,
        mut stack: StackGuard<'a>,
        timeout: Option<Duration>,
        nonblocking: bool,
        wait_for: WaitFor<'_>,
        mut op: impl FnMut(&mut Stack, Instant) -> io::Result<T>,
    ) -> io::Result<T> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        // The signal to wait on and its generation, read once the waker
        // is registered.
        let mut registered = None;
        loop {
            match op(&mut stack, self.now()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && !nonblocking => {}
                r => {
                    self.settle(&mut stack);
                    return r;
                }
            }
            let Some((signal, generation)) = registered.take() else {
                // Registered, then tried once more before sleeping: a
                // change between the try and the registration woke no one.
                registered = Some(wait_for.register(self, &mut stack));
                continue;
            };
            let left = self.time_left(deadline)?;
            drop(stack);
            self.sleep(&signal, generation, left);
            stack = self.lock();
        }
    }

    /// How long a blocked call may still wait for `deadline`; an error
    /// once it has passed, or once the driver has stopped.
    pub fn time_left(&self, deadline: Option<std::time::Instant>) -> io::Result<Option<Duration>> {
        if !self.alive.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "the network driver has stopped"));
        }
        let Some(d) = deadline else { return Ok(None) };
        let left = d.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "operation timed out"));
        }
        Ok(Some(left))
    }

    /// Waits on `signal` (see [`Signal::wait`]), counted in the lock
    /// statistics.
    pub fn sleep(&self, signal: &Signal, generation: u64, timeout: Option<Duration>) {
        signal.wait(generation, timeout);
        self.lock_stats.wakeups.fetch_add(1, Ordering::Relaxed);
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

/// A wake-up that blocked callers wait for: a generation count that
/// every [`Signal::notify`] bumps, and a condition variable for the
/// callers that sleep. The stack's wakers can point at one (it is a
/// [`Wake`]), so that a socket wakes exactly the callers blocked on it.
#[derive(Default)]
pub(crate) struct Signal {
    /// Bumped by every notify: what spinning waiters watch.
    generation: AtomicU64,
    /// Callers asleep on `changed`: with none, nobody pays for a signal.
    waiting: AtomicUsize,
    /// Held while a waiter checks and sleeps, and while a notify signals.
    lock: Mutex<()>,
    changed: Condvar,
}

impl Signal {
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Wakes every caller waiting on this signal.
    pub fn notify(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            // Under the lock: a waiter that saw the old generation is
            // asleep by the time this signal can be sent.
            let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.changed.notify_all();
        }
    }

    /// Returns once the generation is no longer `generation`, or after
    /// `timeout`. Spins first: an answer that comes within microseconds
    /// (a peer on loopback or in memory) is picked up without a sleep and a
    /// wake-up, which cost tens of µs each on a virtual machine. Bounded,
    /// so a waiter with nothing coming sleeps.
    pub fn wait(&self, generation: u64, timeout: Option<Duration>) {
        let spin = timeout.map_or(SPIN, |t| t.min(SPIN));
        let start = std::time::Instant::now();
        while start.elapsed() < spin {
            if self.generation() != generation {
                return;
            }
            std::hint::spin_loop();
        }
        let deadline = timeout.map(|t| start + t);
        let mut g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        // Counted before the check, so a notify after the check signals,
        // and one before it is seen.
        self.waiting.fetch_add(1, Ordering::SeqCst);
        while self.generation() == generation {
            g = match deadline {
                None => self.changed.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    self.changed.wait_timeout(g, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.notify();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.notify();
    }
}

/// The callers blocked on one socket in one direction, with the waker the
/// stack calls for them. Every handle of the socket (clones included)
/// shares it: one waker, registered once however many threads wait,
/// wakes them all.
pub(crate) struct Waiters {
    pub signal: Arc<Signal>,
    pub waker: Waker,
}

impl Default for Waiters {
    fn default() -> Waiters {
        let signal = Arc::new(Signal::default());
        Waiters { waker: Waker::from(signal.clone()), signal }
    }
}

/// What a blocked call waits for.
#[derive(Clone, Copy)]
pub(crate) enum WaitFor<'w> {
    /// Socket `h` able to do what the [`Want`] says (closed counts too),
    /// with the waiters its waker wakes.
    Socket(SocketHandle, Want, &'w Waiters),
    /// Any change of the stack (what no socket's waker tells).
    Stack,
}

impl WaitFor<'_> {
    /// Registers the wake-up under the stack lock; the signal to wait on,
    /// and its generation now.
    fn register(self, shared: &Shared, stack: &mut Stack) -> (Arc<Signal>, u64) {
        let registered = match self {
            WaitFor::Socket(h, want, w) => want.register(stack, h, &w.waker).map(|()| &w.signal),
            WaitFor::Stack => Err(io::ErrorKind::NotFound.into()),
        };
        // No such socket any more: the call's next try says so; until then,
        // any change will do.
        let signal = registered.unwrap_or(&shared.changed).clone();
        let generation = signal.generation();
        (signal, generation)
    }
}

/// How user calls and the driver shared a stack's lock, counted since the
/// driver started: the evidence that streams do not queue for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockStats {
    /// Times a user call or the driver took the stack lock.
    pub acquired: u64,
    /// Of those, times it was held by another thread and the caller slept
    /// or spun until it was free.
    pub waited: u64,
    /// Stream reads and writes that moved bytes under their connection's
    /// own lock and then needed the stack (to transmit, or to send a
    /// window update).
    pub kicks: u64,
    /// Of those, the ones that found the stack held and left the work to
    /// its holder instead of waiting.
    pub kicks_left: u64,
    /// Times a blocked call woke (or its timeout passed) and tried again.
    /// A call blocked on a socket wakes only when that socket changes.
    pub wakeups: u64,
}

#[derive(Default)]
struct LockCounters {
    acquired: AtomicU64,
    waited: AtomicU64,
    kicks: AtomicU64,
    kicks_left: AtomicU64,
    wakeups: AtomicU64,
}

impl LockCounters {
    fn snapshot(&self) -> LockStats {
        LockStats {
            acquired: self.acquired.load(Ordering::Relaxed),
            waited: self.waited.load(Ordering::Relaxed),
            kicks: self.kicks.load(Ordering::Relaxed),
            kicks_left: self.kicks_left.load(Ordering::Relaxed),
            wakeups: self.wakeups.load(Ordering::Relaxed),
        }
    }
}

/// The stack, locked. Dropping it lets go through [`Shared::release`], so
/// that no stream kicked meanwhile is left waiting for the next holder.
pub(crate) struct StackGuard<'a> {
    shared: &'a Shared,
    /// Always `Some` until dropped.
    guard: Option<MutexGuard<'a, Stack>>,
}

impl Deref for StackGuard<'_> {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        self.guard.as_ref().expect("held until dropped")
    }
}

impl DerefMut for StackGuard<'_> {
    fn deref_mut(&mut self) -> &mut Stack {
        self.guard.as_mut().expect("held until dropped")
    }
}

impl Drop for StackGuard<'_> {
    fn drop(&mut self) {
        if let Some(g) = self.guard.take() {
            self.shared.release(g);
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
            kicks: Mutex::new(Vec::new()),
            kicks_pending: AtomicBool::new(false),
            lock_stats: LockCounters::default(),
            changed: Arc::default(),
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

    /// How the stack lock has been shared so far.
    pub fn lock_stats(&self) -> LockStats {
        self.shared.lock_stats.snapshot()
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
        // However the driver thread ended, no blocked call sleeps on: each
        // wakes, finds the driver stopped and says so.
        self.shared.alive.store(false, Ordering::SeqCst);
        self.shared.lock().wake_all();
        self.shared.notify();
    }
}

/// Most events handled under one lock before the driver lets users in.
const BATCH: usize = 256;

fn run(shared: Arc<Shared>, rx: Receiver<Event>, mut ports: Vec<(IfaceId, Box<dyn Port>)>) {
    let mut pending: Option<Event> = None;
    let mut outgoing = Vec::new();
    // One port's share of `outgoing`, for its `send_batch`, and the rest.
    let (mut mine, mut others) = (Vec::new(), Vec::new());
    // Buffers of packets the ports wrote out, back to the stack's pool at
    // the next turn under the lock.
    let mut spent = Vec::new();
    loop {
        let deadline = {
            let mut stack = shared.lock();
            let now = shared.now();
            for buf in spent.drain(..) {
                stack.recycle(buf);
            }
            // Handle the event that woke us and whatever else is waiting.
            let mut handled = 0;
            while let Some(event) = pending.take().or_else(|| if handled < BATCH { rx.try_recv().ok() } else { None }) {
                handled += 1;
                match event {
                    Event::Packet { iface, mut data, offload, home } => {
                        stack.receive_offloaded(now, iface, &mut data, offload);
                        match home {
                            Some(pool) => pool.give(data),
                            None => stack.recycle(data),
                        }
                    }
                    Event::LinkDown { iface } => {
                        let _ = stack.set_interface_up(iface, false);
                    }
                    Event::Wake => {}
                    Event::Shutdown => {
                        for (_, port) in ports.iter_mut() {
                            port.shutdown();
                        }
                        // Dead first, then the wake-ups, under the stack
                        // lock: a task polled after this finds the driver
                        // stopped; one that registered before is woken.
                        shared.alive.store(false, Ordering::SeqCst);
                        stack.wake_all();
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
                // Split, in order, between vectors kept across turns: no
                // allocation a turn.
                for p in outgoing.drain(..) {
                    if p.iface == *iface {
                        mine.push(p);
                    } else {
                        others.push(p);
                    }
                }
                std::mem::swap(&mut outgoing, &mut others);
                if !mine.is_empty() {
                    port.send_batch(now, &mut mine, &mut spent);
                    mine.clear();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_at_full_length() {
        let pool = BufferPool::new(65535);
        let first = pool.take();
        assert_eq!(first.len(), 65535);
        let at = first.as_ptr();
        // Handed over as a 9,000-octet read, given back as it was.
        let mut read = first;
        read.truncate(9000);
        pool.give(read);
        let again = pool.take();
        assert_eq!((again.as_ptr(), again.len()), (at, 65535), "the same allocation, whole again");
        // Too small for the pool's reads: not kept.
        pool.give(vec![0; 100]);
        assert_eq!(pool.take().capacity(), 65535);
        // At most KEEP kept.
        for _ in 0..BufferPool::KEEP + 10 {
            pool.give(vec![0; 65535]);
        }
        assert_eq!(pool.spare.lock().unwrap().len(), BufferPool::KEEP);
    }

    /// A port that keeps what it is given: the destination of each packet.
    struct Recorder(Arc<Mutex<Vec<std::net::Ipv4Addr>>>);

    impl Port for Recorder {
        fn send(&mut self, _now: Instant, packet: OutPacket) -> Option<Vec<u8>> {
            let dst = sockstack_wire::Ipv4Packet::new_checked(&packet.data[..]).map(|p| p.dst_addr());
            self.0.lock().unwrap().push(dst.expect("an IPv4 datagram"));
            Some(packet.data)
        }
        fn poll(&mut self, _now: Instant) {}
        fn poll_at(&self) -> Option<Instant> {
            None
        }
    }

    #[test]
    fn each_port_gets_its_interfaces_packets_in_order() {
        use crate::{NetHandle, UdpSocket};
        use sockstack_stack::ProcessId;
        use std::net::{Ipv4Addr, SocketAddrV4};
        let mut stack = Stack::new(sockstack_stack::StackConfig::default());
        let cidr = |s: &str| s.parse::<sockstack_wire::Ipv4Cidr>().unwrap();
        let a = stack.add_interface(sockstack_stack::InterfaceConfig::new("a", cidr("192.0.2.1/24")));
        let b = stack.add_interface(sockstack_stack::InterfaceConfig::new("b", cidr("198.51.100.1/24")));
        let (to_a, to_b) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
        let ports: Vec<(IfaceId, Box<dyn Port>)> =
            vec![(a, Box::new(Recorder(to_a.clone()))), (b, Box::new(Recorder(to_b.clone())))];
        let d = Driver::start(stack, crate::inbox(), ports);
        let net: NetHandle = d.handle(ProcessId(1));
        let sock = UdpSocket::bind(&net, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000)).unwrap();
        // Interleaved, in bursts and alone, so that turns carry packets for
        // both ports, for one, and for the other.
        let mut want = (Vec::new(), Vec::new());
        for i in 0..300u16 {
            let on_a = i % 3 != 0;
            let host = |n: u16| 10 + (i % n) as u8;
            let dst = if on_a { Ipv4Addr::new(192, 0, 2, host(7)) } else { Ipv4Addr::new(198, 51, 100, host(5)) };
            sock.send_to(&i.to_be_bytes(), SocketAddrV4::new(dst, 9)).unwrap();
            if on_a {
                want.0.push(dst)
            } else {
                want.1.push(dst)
            }
            if i % 50 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while to_a.lock().unwrap().len() + to_b.lock().unwrap().len() < 300 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(*to_a.lock().unwrap(), want.0, "interface a's datagrams, in order, and only those");
        assert_eq!(*to_b.lock().unwrap(), want.1, "interface b's datagrams, in order, and only those");
    }
}
