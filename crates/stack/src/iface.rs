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
    /// Segmentation offload: `Some(n)` lets TCP send runs of segments as
    /// datagrams of up to `n` octets, past the MTU ([`crate::gso`]).
    pub gso_max_size: Option<usize>,
    /// Takes datagrams for any unicast address as this host's (see
    /// [`InterfaceConfig::with_any_address`]).
    pub any_address: bool,
}

impl InterfaceConfig {
    /// An interface named `name` with address and prefix `cidr` and an MTU of
    /// 1500 (Ethernet).
    pub fn new(name: impl Into<String>, cidr: Ipv4Cidr) -> Self {
        InterfaceConfig { name: name.into(), cidr, mtu: 1500, gso_max_size: None, any_address: false }
    }

    /// The same configuration with an MTU of `mtu` octets.
    pub fn with_mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// The same configuration with segmentation offload (Linux GSO/TSO):
    /// TCP sends a run of back-to-back segments as one datagram of up to
    /// `max_size` octets (at most [`crate::gso::GSO_MAX_SIZE`]), whose
    /// [`crate::OutPacket::gso_size`] says how to split it. The driver
    /// promises to deliver such a datagram whole to a sockstack stack that
    /// is its destination (a virtual wire, as a veth pair carries Linux's
    /// GSO packets), or to split it with [`crate::gso::segment`] first.
    pub fn with_gso(mut self, max_size: usize) -> Self {
        self.gso_max_size = Some(max_size.min(crate::gso::GSO_MAX_SIZE));
        self
    }

    /// The same configuration taking datagrams for any unicast address as
    /// addressed to this host, as a tun2socks device needs (the kernel
    /// routes whole networks into it; smoltcp calls it `any_ip`, gVisor
    /// promiscuous mode). They reach sockets bound to their address, and
    /// what no socket takes reaches the catch-all sockets
    /// ([`crate::Stack::tcp_listen_any`], [`crate::Stack::udp_bind_any`]),
    /// which learn the address each connection or datagram was sent to;
    /// replies go out from that address. Pings to any address are answered.
    pub fn with_any_address(mut self) -> Self {
        self.any_address = true;
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
    /// Largest segmentation-offload datagram, if the interface has offload.
    pub gso_max_size: Option<usize>,
    /// Whether it is up; a down interface neither sends nor receives.
    pub up: bool,
    /// Takes datagrams for any unicast address
    /// ([`InterfaceConfig::with_any_address`]).
    pub any_address: bool,
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
