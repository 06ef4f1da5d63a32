//! Message passing: whole messages to a destination given by name or
//! address and port — datagrams as they are, or length-delimited frames
//! over a TCP stream — with a bounded queue per destination that pushes
//! back when full, and one bounded inbox for what arrives.
//!
//! A [`Mailbox`] listens on one (address, port) for both kinds: a UDP
//! socket for datagrams and a TCP listener for streams. Every stream
//! message is a frame: a 4-octet big-endian length, then the bytes.
//! Messages to one destination over a stream arrive whole, in order, once;
//! datagrams may be lost or reordered, as UDP's are.

use crate::socket::{NetHandle, UdpSocket};
use crate::tcp::{TcpListener, TcpStream};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// One UDP datagram: unreliable, unordered, at most 65,507 bytes.
    Datagram,
    /// A frame on a TCP connection to the destination: reliable, ordered.
    Stream,
}

/// One message that arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The sender.
    pub from: SocketAddrV4,
    /// How it came: a datagram, or a frame over a stream.
    pub delivery: Delivery,
    /// The message, whole.
    pub data: Vec<u8>,
}

/// Bounds of a mailbox.
#[derive(Debug, Clone, Copy)]
pub struct MailboxConfig {
    /// Messages waiting to be received; a full inbox stops reading streams
    /// (TCP's window then pushes the senders back) and drops datagrams
    /// (counted).
    pub inbox_capacity: usize,
    /// Stream messages queued per destination before `send` blocks and
    /// `try_send` says `WouldBlock`.
    pub per_destination: usize,
    /// Largest stream message accepted, bytes.
    pub max_message: usize,
}

impl Default for MailboxConfig {
    fn default() -> Self {
        MailboxConfig { inbox_capacity: 1024, per_destination: 64, max_message: 16 << 20 }
    }
}

/// The bounded queue of arrived messages.
struct Inbox {
    queue: Mutex<VecDeque<Received>>,
    /// Signalled when a message arrives or room frees up.
    changed: Condvar,
    capacity: usize,
    dropped_datagrams: AtomicU64,
}

impl Inbox {
    /// Waits for room (stream readers: back-pressure reaches the sender
    /// through TCP's window).
    fn push_blocking(&self, m: Received) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        while q.len() >= self.capacity {
            q = self.changed.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        q.push_back(m);
        self.changed.notify_all();
    }

    /// Datagrams cannot be pushed back on: a full inbox drops them.
    fn push_or_drop(&self, m: Received) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= self.capacity {
            self.dropped_datagrams.fetch_add(1, Ordering::Relaxed);
            return;
        }
        q.push_back(m);
        self.changed.notify_all();
    }
}

/// A stream destination: the queue its writer thread drains, and the
/// error that stopped it, if one did.
struct Outbox {
    queue: SyncSender<Vec<u8>>,
    failed: Arc<Mutex<Option<io::ErrorKind>>>,
}

/// A process's mailbox. See the module docs.
pub struct Mailbox {
    net: NetHandle,
    local: SocketAddrV4,
    config: MailboxConfig,
    udp: Arc<UdpSocket>,
    inbox: Arc<Inbox>,
    outboxes: Mutex<HashMap<SocketAddrV4, Outbox>>,
}

fn frame_too_big() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "message larger than the mailbox accepts")
}

impl Mailbox {
    /// Listens for datagrams and streams on `addr` (port 0: ephemeral, the
    /// same port for both).
    pub fn bind(net: &NetHandle, addr: SocketAddrV4, config: MailboxConfig) -> io::Result<Mailbox> {
        if config.inbox_capacity == 0 || config.per_destination == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "queue bounds must be positive"));
        }
        let udp = UdpSocket::bind(net, addr)?;
        let local = udp.local_addr()?;
        let listener = TcpListener::bind(net, SocketAddrV4::new(*addr.ip(), local.port()), 128)?;
        let inbox = Arc::new(Inbox {
            queue: Mutex::new(VecDeque::new()),
            changed: Condvar::new(),
            capacity: config.inbox_capacity,
            dropped_datagrams: AtomicU64::new(0),
        });
        let udp = Arc::new(udp);
        {
            let (udp, inbox) = (udp.clone(), inbox.clone());
            std::thread::Builder::new().name("mailbox-udp".into()).spawn(move || {
                let mut buf = vec![0u8; 65536];
                // Ends when the stack's driver stops.
                while let Ok((n, from)) = udp.recv_from(&mut buf) {
                    inbox.push_or_drop(Received { from, delivery: Delivery::Datagram, data: buf[..n].to_vec() });
                }
            })?;
        }
        {
            let inbox = inbox.clone();
            let max = config.max_message;
            std::thread::Builder::new().name("mailbox-accept".into()).spawn(move || {
                while let Ok((stream, from)) = listener.accept() {
                    let inbox = inbox.clone();
                    let _ = std::thread::Builder::new()
                        .name("mailbox-read".into())
                        .spawn(move || read_frames(stream, from, &inbox, max));
                }
            })?;
        }
        Ok(Mailbox { net: net.clone(), local, config, udp, inbox, outboxes: Mutex::new(HashMap::new()) })
    }

    /// Where this mailbox receives.
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    /// Sends one message to `dest` (`"name:port"` or `"a.b.c.d:port"`),
    /// waiting while the destination's queue is full.
    pub fn send(&self, dest: &str, delivery: Delivery, data: &[u8]) -> io::Result<()> {
        self.send_inner(dest, delivery, data, true)
    }

    /// Like [`Mailbox::send`], but `WouldBlock` instead of waiting when the
    /// destination's queue is full.
    pub fn try_send(&self, dest: &str, delivery: Delivery, data: &[u8]) -> io::Result<()> {
        self.send_inner(dest, delivery, data, false)
    }

    fn send_inner(&self, dest: &str, delivery: Delivery, data: &[u8], wait: bool) -> io::Result<()> {
        let to = self.net.resolve_target(dest)?;
        match delivery {
            Delivery::Datagram => {
                if data.len() > 65507 {
                    return Err(frame_too_big());
                }
                self.udp.send_to(data, to).map(|_| ())
            }
            Delivery::Stream => {
                if data.len() > self.config.max_message {
                    return Err(frame_too_big());
                }
                let queue = self.outbox(to)?;
                let result = if wait {
                    queue.send(data.to_vec()).map_err(|_| io::ErrorKind::BrokenPipe.into())
                } else {
                    queue.try_send(data.to_vec()).map_err(|e| match e {
                        TrySendError::Full(_) => io::ErrorKind::WouldBlock.into(),
                        TrySendError::Disconnected(_) => io::Error::from(io::ErrorKind::BrokenPipe),
                    })
                };
                result.map_err(|e: io::Error| self.outbox_error(to).map(io::Error::from).unwrap_or(e))
            }
        }
    }

    /// The queue to `to`, starting its writer on first use; a destination
    /// whose connection failed reports that failure once, then starts over.
    fn outbox(&self, to: SocketAddrV4) -> io::Result<SyncSender<Vec<u8>>> {
        let mut boxes = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = boxes.get(&to) {
            let failed = b.failed.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(kind) = failed {
                boxes.remove(&to);
                return Err(io::Error::new(kind, format!("messages to {to} failed")));
            }
            return Ok(b.queue.clone());
        }
        let (tx, rx) = sync_channel::<Vec<u8>>(self.config.per_destination);
        let failed = Arc::new(Mutex::new(None));
        let (net, f) = (self.net.clone(), failed.clone());
        std::thread::Builder::new().name("mailbox-write".into()).spawn(move || {
            let result = (|| -> io::Result<()> {
                let mut s = TcpStream::connect(&net, to)?;
                while let Ok(m) = rx.recv() {
                    s.write_all(&(m.len() as u32).to_be_bytes())?;
                    s.write_all(&m)?;
                }
                s.shutdown(std::net::Shutdown::Write)
            })();
            if let Err(e) = result {
                *f.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.kind());
            }
        })?;
        boxes.insert(to, Outbox { queue: tx.clone(), failed });
        Ok(tx)
    }

    fn outbox_error(&self, to: SocketAddrV4) -> Option<io::ErrorKind> {
        let boxes = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
        let b = boxes.get(&to)?;
        let kind = *b.failed.lock().unwrap_or_else(|e| e.into_inner());
        kind
    }

    /// Waits for the next message.
    pub fn recv(&self) -> io::Result<Received> {
        self.recv_until(None)
    }

    /// Waits at most `timeout` (`TimedOut` after).
    pub fn recv_timeout(&self, timeout: Duration) -> io::Result<Received> {
        self.recv_until(Some(Instant::now() + timeout))
    }

    fn recv_until(&self, deadline: Option<Instant>) -> io::Result<Received> {
        let mut q = self.inbox.queue.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(m) = q.pop_front() {
                self.inbox.changed.notify_all();
                return Ok(m);
            }
            q = match deadline {
                None => self.inbox.changed.wait(q).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "no message"));
                    }
                    self.inbox.changed.wait_timeout(q, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
    }

    /// Messages waiting in the inbox.
    pub fn queued(&self) -> usize {
        self.inbox.queue.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Datagrams dropped because the inbox was full.
    pub fn dropped_datagrams(&self) -> u64 {
        self.inbox.dropped_datagrams.load(Ordering::Relaxed)
    }
}

/// Reads frames from one connection into the inbox until it closes. A
/// frame over the bound ends the connection (the sender broke the rules).
fn read_frames(mut s: TcpStream, from: SocketAddrV4, inbox: &Inbox, max: usize) {
    loop {
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).is_err() {
            return;
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > max {
            return;
        }
        let mut data = vec![0u8; len];
        if s.read_exact(&mut data).is_err() {
            return;
        }
        inbox.push_blocking(Received { from, delivery: Delivery::Stream, data });
    }
}
