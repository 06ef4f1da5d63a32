//! A readiness poller, as epoll is to file descriptors: register sockets
//! of one real-time stack with a token and an interest, then wait for
//! readable / writable / error events with a timeout. One thread serves
//! thousands of non-blocking sockets.
//!
//! Events are level-triggered: a socket that is still readable is reported
//! again by the next `wait`. Under the hood each registered socket hands
//! the stack a waker that marks its token ready, so a `wait` looks only at
//! sockets that changed, not at every registered one.

use crate::driver::Shared;
use crate::socket::NetHandle;
use sockstack_stack::SocketHandle;
use std::collections::{BTreeSet, HashMap};
use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

/// What a registration waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest {
    /// Wait for (or: the socket is) readable: data, a connection to accept, end of stream.
    pub readable: bool,
    /// Wait for writable: room to send, or a finished connect.
    pub writable: bool,
}

impl Interest {
    /// Readable only.
    pub const READABLE: Interest = Interest { readable: true, writable: false };
    /// Writable only.
    pub const WRITABLE: Interest = Interest { readable: false, writable: true };
    /// Readable and writable.
    pub const BOTH: Interest = Interest { readable: true, writable: true };
}

/// One readiness event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollEvent {
    /// The token the socket was registered with.
    pub token: usize,
    /// The socket is readable: data, a connection to accept, end of stream.
    pub readable: bool,
    /// The socket is writable: room to send, or a finished connect.
    pub writable: bool,
    /// An asynchronous error is pending (e.g. a reset).
    pub error: bool,
}

/// A socket that can be registered.
pub trait Pollable {
    /// The stack socket behind it.
    fn socket_handle(&self) -> SocketHandle;
}

/// Tokens that may be ready, shared with the wakers.
struct Ready {
    tokens: Mutex<BTreeSet<usize>>,
    changed: Condvar,
}

struct TokenWaker {
    token: usize,
    ready: Arc<Ready>,
}

impl Wake for TokenWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.tokens.lock().unwrap_or_else(|e| e.into_inner()).insert(self.token);
        self.ready.changed.notify_all();
    }
}

/// See the module docs.
pub struct Poller {
    shared: Arc<Shared>,
    ready: Arc<Ready>,
    registrations: Mutex<HashMap<usize, (SocketHandle, Interest, Waker)>>,
}

impl Poller {
    /// A poller for the sockets of `net`'s stack.
    pub fn new(net: &NetHandle) -> Poller {
        Poller {
            shared: net.shared(),
            ready: Arc::new(Ready { tokens: Mutex::new(BTreeSet::new()), changed: Condvar::new() }),
            registrations: Mutex::new(HashMap::new()),
        }
    }

    /// Watches `socket` under `token`. `AlreadyExists` if the token is
    /// taken; `NotFound` for a closed socket.
    pub fn register(&self, socket: &impl Pollable, token: usize, interest: Interest) -> io::Result<()> {
        let h = socket.socket_handle();
        self.shared.lock().readiness(h)?;
        let mut regs = self.registrations.lock().unwrap_or_else(|e| e.into_inner());
        if regs.contains_key(&token) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("token {token} is registered")));
        }
        let waker = Waker::from(Arc::new(TokenWaker { token, ready: self.ready.clone() }));
        regs.insert(token, (h, interest, waker));
        drop(regs);
        // Look at it on the next wait: it may be ready already.
        self.ready.tokens.lock().unwrap_or_else(|e| e.into_inner()).insert(token);
        Ok(())
    }

    /// Stops watching `token`.
    pub fn deregister(&self, token: usize) -> io::Result<()> {
        let removed = self.registrations.lock().unwrap_or_else(|e| e.into_inner()).remove(&token);
        self.ready.tokens.lock().unwrap_or_else(|e| e.into_inner()).remove(&token);
        removed.map(|_| ()).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "token not registered"))
    }

    /// Waits until at least one registered socket is ready (or `timeout`
    /// passes: then no events), filling `events`. Returns how many.
    pub fn wait(&self, events: &mut Vec<PollEvent>, timeout: Option<Duration>) -> io::Result<usize> {
        events.clear();
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let candidates: Vec<usize> =
                std::mem::take(&mut *self.ready.tokens.lock().unwrap_or_else(|e| e.into_inner())).into_iter().collect();
            if !candidates.is_empty() {
                let regs = self.registrations.lock().unwrap_or_else(|e| e.into_inner());
                let mut stack = self.shared.lock();
                for token in candidates {
                    let Some((h, interest, waker)) = regs.get(&token) else { continue };
                    let Ok(r) = stack.readiness(*h) else {
                        // Closed under us: report it as an error once.
                        events.push(PollEvent { token, readable: false, writable: false, error: true });
                        continue;
                    };
                    let readable = interest.readable && r.readable;
                    let writable = interest.writable && r.writable;
                    if readable || writable || r.error {
                        events.push(PollEvent { token, readable, writable, error: r.error });
                        // Level-triggered: look again next time.
                        self.ready.tokens.lock().unwrap_or_else(|e| e.into_inner()).insert(token);
                    }
                    // Registered under the stack lock, so a change between
                    // the check and here still wakes us.
                    if interest.readable && !readable {
                        let _ = stack.register_recv_waker(*h, waker);
                    }
                    if interest.writable && !writable {
                        let _ = stack.register_send_waker(*h, waker);
                    }
                }
            }
            if !events.is_empty() {
                return Ok(events.len());
            }
            let tokens = self.ready.tokens.lock().unwrap_or_else(|e| e.into_inner());
            if !tokens.is_empty() {
                continue;
            }
            match deadline {
                None => drop(self.ready.changed.wait(tokens).unwrap_or_else(|e| e.into_inner())),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(0);
                    }
                    drop(self.ready.changed.wait_timeout(tokens, left).unwrap_or_else(|e| e.into_inner()));
                }
            }
        }
    }
}
