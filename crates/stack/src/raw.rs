//! Raw sockets: opened for one IP protocol number, each receives a copy of
//! every matching packet (IP header included, as on Linux), and sends
//! either a payload under a header the stack builds or, in header-included
//! mode, a whole datagram that the stack validates first.

use crate::rxqueue::RxQueue;
use crate::socket::DatagramShut;
use sockstack_wire::{IpProtocol, Ipv4Addr};

/// State of one raw socket.
#[derive(Debug)]
pub struct RawSocket {
    pub(crate) protocol: IpProtocol,
    /// `IP_HDRINCL`: sends carry their own IPv4 header.
    pub(crate) header_included: bool,
    /// Only packets to this local address, when bound.
    pub(crate) local: Option<Ipv4Addr>,
    /// Only packets from this peer, when connected.
    pub(crate) remote: Option<Ipv4Addr>,
    pub(crate) rx: RxQueue,
    pub(crate) ttl: u8,
    pub(crate) shut: DatagramShut,
}

impl RawSocket {
    pub(crate) fn new(protocol: IpProtocol, header_included: bool, rx_capacity: usize, ttl: u8) -> Self {
        RawSocket {
            protocol,
            header_included,
            local: None,
            remote: None,
            rx: RxQueue::new(rx_capacity),
            ttl,
            shut: DatagramShut::default(),
        }
    }

    /// Whether a packet from `src` to `dst` is for this socket.
    pub(crate) fn accepts(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.local.is_none_or(|l| l == dst) && self.remote.is_none_or(|r| r == src)
    }
}
