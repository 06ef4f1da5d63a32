#![warn(missing_docs)]
//! Links between sockstack stacks, sans-IO.
//!
//! This crate owns everything between one stack's transmit and another's
//! receive: [`Pipe`] (one direction, with MTU, rate, delay and seeded
//! impairments), [`Link`] (two pipes, point to point) and [`Switch`] (a
//! shared segment that forwards by next-hop address). Nothing here reads a
//! clock, spawns a thread or does I/O: every call is handed the current
//! [`Instant`](sockstack_time::Instant), and all randomness comes from a
//! ChaCha8 generator seeded by the [`LinkConfig`], so a run is reproducible.
//!
//! Frames are whole IPv4 datagrams. There is no ARP, so each [`Frame`]
//! carries the next-hop address the sending stack chose; the switch uses it
//! the way an Ethernet switch uses a destination MAC.

#![forbid(unsafe_code)]

use std::net::Ipv4Addr;

mod config;
mod link;
pub mod pcap;
mod pipe;
mod switch;

pub use config::{ConfigError, LinkConfig};
pub use link::{End, Link};
pub use pipe::{Pipe, PipeStats, SendOutcome};
pub use switch::{PortId, Switch, SwitchStats};

/// One frame on a link: an IPv4 datagram and the next hop it is meant for
/// (the route's gateway, or the destination itself when on-link).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The IPv4 address of the neighbour the frame is for (static ARP).
    pub next_hop: Ipv4Addr,
    /// The IPv4 datagram.
    pub data: Vec<u8>,
}

impl Frame {
    /// A frame carrying `data` to `next_hop`.
    pub fn new(next_hop: Ipv4Addr, data: Vec<u8>) -> Frame {
        Frame { next_hop, data }
    }
}
