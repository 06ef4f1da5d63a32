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
    /// Interface name, e.g. `eth0`.
    pub name: String,
    /// The interface's address and the prefix of its on-link network.
    pub cidr: Ipv4Cidr,
    /// Largest IPv4 datagram the link carries (RFC 791 "MTU").
    pub mtu: usize,
}

impl InterfaceConfig {
    /// An interface named `name` with address and prefix `cidr` and an MTU of
    /// 1500 (Ethernet).
    pub fn new(name: impl Into<String>, cidr: Ipv4Cidr) -> Self {
        InterfaceConfig { name: name.into(), cidr, mtu: 1500 }
    }

    /// The same configuration with an MTU of `mtu` octets.
    pub fn with_mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }
}

/// One interface of a stack.
#[derive(Debug, Clone)]
pub struct Interface {
    /// Its index within the stack.
    pub id: IfaceId,
    /// Interface name, e.g. `eth0`.
    pub name: String,
    /// The interface's address and the prefix of its on-link network.
    pub cidr: Ipv4Cidr,
    /// Largest IPv4 datagram the link carries, in octets (RFC 791 "MTU").
    pub mtu: usize,
    /// Whether it is up; a down interface neither sends nor receives.
    pub up: bool,
}

impl Interface {
    /// The interface's own IPv4 address.
    pub fn addr(&self) -> Ipv4Addr {
        self.cidr.address
    }

    /// True for the directed broadcast of this interface's network.
    pub fn is_directed_broadcast(&self, addr: Ipv4Addr) -> bool {
        self.cidr.prefix_len < 31 && addr == self.cidr.broadcast()
    }
}
