//! Network interfaces of one host: an address with its prefix, an MTU, and
//! whether it is up. The stack sends a packet out of an interface by handing
//! it, with its next hop, to whatever link the driver attached there.

use sockstack_wire::{Ipv4Addr, Ipv4Cidr};

/// Index of an interface within its stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfaceId(pub usize);

/// How an interface is configured.
#[derive(Debug, Clone)]
pub struct InterfaceConfig {
    pub name: String,
    /// The interface's address and the prefix of its on-link network.
    pub cidr: Ipv4Cidr,
    /// Largest IPv4 datagram the link carries (RFC 791 "MTU").
    pub mtu: usize,
}

impl InterfaceConfig {
    pub fn new(name: impl Into<String>, cidr: Ipv4Cidr) -> Self {
        InterfaceConfig { name: name.into(), cidr, mtu: 1500 }
    }

    pub fn with_mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }
}

/// One interface of a stack.
#[derive(Debug, Clone)]
pub struct Interface {
    pub id: IfaceId,
    pub name: String,
    pub cidr: Ipv4Cidr,
    pub mtu: usize,
    pub up: bool,
}

impl Interface {
    pub fn addr(&self) -> Ipv4Addr {
        self.cidr.address
    }

    /// True for the directed broadcast of this interface's network.
    pub fn is_directed_broadcast(&self, addr: Ipv4Addr) -> bool {
        self.cidr.prefix_len < 31 && addr == self.cidr.broadcast()
    }
}
