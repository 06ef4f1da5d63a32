#![warn(missing_docs)]
//! The real-time world: a driver thread that owns a stack and its links,
//! and the blocking socket API on top of it.
//!
//! ```
//! use sockstack_api::{pair, UdpSocket};
//! use sockstack_link::LinkConfig;
//! use sockstack_stack::ProcessId;
//! use std::net::{Ipv4Addr, SocketAddrV4};
//!
//! let a_ip = Ipv4Addr::new(192, 0, 2, 1);
//! let b_ip = Ipv4Addr::new(192, 0, 2, 2);
//! let (a, b) = pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), LinkConfig::default()).unwrap();
//! let server = UdpSocket::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(b_ip, 7)).unwrap();
//! let client = UdpSocket::bind(&a.handle(ProcessId(1)), SocketAddrV4::new(a_ip, 0)).unwrap();
//! client.send_to(b"ping", SocketAddrV4::new(b_ip, 7)).unwrap();
//! let mut buf = [0u8; 16];
//! let (n, from) = server.recv_from(&mut buf).unwrap();
//! assert_eq!((&buf[..n], from), (&b"ping"[..], client.local_addr().unwrap()));
//! ```

pub mod asyncio;
pub mod bsd;
pub mod driver;
pub mod message;
pub mod ping;
pub mod poll;
pub mod socket;
pub mod tcp;
pub mod tun;

pub use asyncio::{AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket};
pub use bsd::{Domain, Protocol, Socket, TcpKeepalive, Type};
pub use driver::{inbox, Driver, Event, Inbox, LockStats, MemoryPort, Port};
pub use message::{Delivery, Mailbox, MailboxConfig, Received};
pub use ping::{ping, PingOptions, PingReply, PingStats};
pub use poll::{Interest, PollEvent, Pollable, Poller};
pub use socket::{NetHandle, RawSocket, UdpSocket};
pub use sockstack_stack::split_host_port;

/// Turns a host name into IPv4 addresses for a real-time stack's processes
/// (`Driver::set_resolver`): a hosts table, or sockstack-dns's blocking
/// stub resolver.
pub type HostResolver = std::sync::Arc<dyn Fn(&str) -> std::io::Result<Vec<sockstack_wire::Ipv4Addr>> + Send + Sync>;
pub use tcp::{TcpListener, TcpStream};
pub use tun::{spawn_tun, TunConfig, TunStack, TunStats};

use sockstack_link::LinkConfig;
use sockstack_stack::{InterfaceConfig, Stack, StackConfig};
use sockstack_wire::Ipv4Cidr;
use std::io;

/// Two stacks, each on its own driver thread, joined by an in-memory link
/// with `link`'s impairments (each direction seeded differently).
pub fn pair(a_cidr: Ipv4Cidr, b_cidr: Ipv4Cidr, link: LinkConfig) -> io::Result<(Driver, Driver)> {
    let mut a = Stack::new(StackConfig { seed: link.seed ^ 1, ..StackConfig::default() });
    let mut b = Stack::new(StackConfig { seed: link.seed ^ 2, ..StackConfig::default() });
    let a_if = a.add_interface(InterfaceConfig::new("mem0", a_cidr).with_mtu(link.mtu));
    let b_if = b.add_interface(InterfaceConfig::new("mem0", b_cidr).with_mtu(link.mtu));
    let (a_in, b_in) = (inbox(), inbox());
    let a_to_b = MemoryPort::new(link.clone(), b_in.0.clone(), b_if)?;
    let b_to_a = MemoryPort::new(LinkConfig { seed: link.seed ^ 0x9E37_79B9_7F4A_7C15, ..link }, a_in.0.clone(), a_if)?;
    let a = Driver::start(a, a_in, vec![(a_if, Box::new(a_to_b) as Box<dyn Port>)]);
    let b = Driver::start(b, b_in, vec![(b_if, Box::new(b_to_a) as Box<dyn Port>)]);
    Ok((a, b))
}
