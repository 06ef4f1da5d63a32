//! The bounded receive queue every destination socket has. It is bounded in
//! bytes (like `SO_RCVBUF`), each message charged a fixed overhead so that
//! empty datagrams cannot grow it without limit either. A full queue
//! refuses the message; the caller counts the drop.

use crate::wake::WakerSet;
use std::collections::VecDeque;
use std::net::SocketAddrV4;
use std::task::Waker;

/// Bytes charged per queued message on top of its payload, so that a flood
/// of empty datagrams is bounded too (Linux charges the skb's truesize).
pub const PER_MESSAGE_OVERHEAD: usize = 256;

/// One received message and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The sender's address (port 0 on a raw socket).
    pub src: SocketAddrV4,
    /// The local address it was sent to.
    pub dst: SocketAddrV4,
    /// The payload (for a raw socket, the whole IPv4 datagram).
    pub data: Vec<u8>,
}

/// A socket's receive queue of messages, bounded in bytes, with the waker of a
/// task waiting on it.
#[derive(Debug)]
pub struct RxQueue {
    messages: VecDeque<Message>,
    used: usize,
    capacity: usize,
    wakers: WakerSet,
}

impl RxQueue {
    /// An empty queue bounded by `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        RxQueue { messages: VecDeque::new(), used: 0, capacity, wakers: WakerSet::default() }
    }

    fn cost(m: &Message) -> usize {
        m.data.len() + PER_MESSAGE_OVERHEAD
    }

    /// Queues `m`, or gives it back when it does not fit.
    pub fn push(&mut self, m: Message) -> Result<(), Message> {
        let cost = Self::cost(&m);
        if self.used + cost > self.capacity {
            return Err(m);
        }
        self.used += cost;
        self.messages.push_back(m);
        self.wake();
        Ok(())
    }

    /// Takes the oldest message; `None` when empty.
    pub fn pop(&mut self) -> Option<Message> {
        let m = self.messages.pop_front()?;
        self.used -= Self::cost(&m);
        Some(m)
    }

    /// The oldest message, left in place; `None` when empty.
    pub fn peek(&self) -> Option<&Message> {
        self.messages.front()
    }

    /// Number of messages queued.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// True when no message is queued.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Bytes charged for the queued messages: payloads plus
    /// [`PER_MESSAGE_OVERHEAD`] each.
    pub fn bytes_used(&self) -> usize {
        self.used
    }

    /// The bound, in bytes (`SO_RCVBUF`).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes the bound; messages already queued stay.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
    }

    /// Remembers `waker` to be woken when a message arrives (beside any
    /// others waiting).
    pub fn register_waker(&mut self, waker: &Waker) {
        self.wakers.register(waker);
    }

    /// Wakes and forgets the registered wakers.
    pub fn wake(&mut self) {
        self.wakers.wake_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn msg(n: usize) -> Message {
        let a = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 9);
        Message { src: a, dst: a, data: vec![7; n] }
    }

    #[test]
    fn bounded_in_bytes_including_overhead() {
        let mut q = RxQueue::new(2 * (100 + PER_MESSAGE_OVERHEAD));
        q.push(msg(100)).unwrap();
        q.push(msg(100)).unwrap();
        assert_eq!(q.push(msg(1)).unwrap_err().data.len(), 1);
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop().unwrap().data.len(), 100);
        q.push(msg(0)).unwrap();
        assert_eq!(q.bytes_used(), 100 + 2 * PER_MESSAGE_OVERHEAD);
        // Empty datagrams are bounded too.
        let mut q = RxQueue::new(10 * PER_MESSAGE_OVERHEAD);
        let accepted = (0..100).filter(|_| q.push(msg(0)).is_ok()).count();
        assert_eq!(accepted, 10);
    }
}
