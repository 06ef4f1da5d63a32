//! Socket identity and ownership: the generational handle that names a
//! socket, the process that owns it, and the readiness a poller sees.

use crate::raw::RawSocket;
use crate::tcp::TcpSocket;
use crate::udp::UdpSocket;

slotmap::new_key_type! {
    /// Names one socket of one stack. Generational: a handle to a closed
    /// socket never aliases a newer one.
    pub struct SocketHandle;
}

/// The process a socket belongs to, set by the embedding program. When the
/// process exits, [`crate::Stack::close_owner`] frees all its sockets and
/// ports at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ProcessId(pub u32);

/// The protocol family of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// A TCP socket (`SOCK_STREAM`).
    Stream,
    /// A UDP socket (`SOCK_DGRAM`).
    Datagram,
    /// A raw IP socket for one protocol (`SOCK_RAW`).
    Raw,
}

/// What a socket is ready for, as epoll reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Readiness {
    /// A receive would not block (data or a pending error is there).
    pub readable: bool,
    /// A send would not block.
    pub writable: bool,
    /// An asynchronous error (e.g. ICMP port unreachable) is pending.
    pub error: bool,
}

/// What `shutdown(2)` has closed of a datagram socket (a stream's
/// connection keeps its own). Kept in the stack, not by the caller, so
/// that every receive and send sees it, and so does `readiness`: a
/// poller learns of a shutdown made from another thread.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DatagramShut {
    /// Receives end at once, with an empty datagram (end of stream).
    pub(crate) read: bool,
    /// Sends are refused (`BrokenPipe`).
    pub(crate) write: bool,
}

// TCP sockets are the many (100,000 connections on one stack); boxing them
// would add an allocation and a pointer chase to each, to save bytes on the
// few datagram sockets.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Socket {
    Tcp(TcpSocket),
    Udp(UdpSocket),
    Raw(RawSocket),
}

pub(crate) struct SocketEntry {
    pub owner: ProcessId,
    pub socket: Socket,
}

impl SocketEntry {
    /// A TCP connection its owner closed, finishing in the background.
    pub fn is_orphaned(&self) -> bool {
        matches!(&self.socket, Socket::Tcp(t) if matches!(&t.role, crate::tcp::TcpRole::Stream(s) if s.orphaned))
    }

    pub fn kind(&self) -> SocketKind {
        match self.socket {
            Socket::Tcp(_) => SocketKind::Stream,
            Socket::Udp(_) => SocketKind::Datagram,
            Socket::Raw(_) => SocketKind::Raw,
        }
    }
}

#[cfg(test)]
mod size_tests {
    /// Every socket is one entry of the socket table, so the entry is as
    /// large as its largest kind: a TCP socket boxes its listener or
    /// stream to stay no larger than a UDP one (see ARCHITECTURE.md, "What
    /// an idle connection costs").
    #[test]
    fn a_tcp_socket_is_no_larger_than_a_udp_one_in_the_table() {
        use std::mem::size_of;
        let (tcp, udp) = (size_of::<crate::tcp::TcpSocket>(), size_of::<crate::udp::UdpSocket>());
        assert!(tcp <= udp, "TcpSocket {tcp} octets, UdpSocket {udp}");
        let entry = size_of::<super::SocketEntry>();
        assert!(entry <= udp + 16, "SocketEntry {entry} octets, UdpSocket {udp}");
    }
}
