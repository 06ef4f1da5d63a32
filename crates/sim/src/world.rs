//! The simulated world: hosts (each a [`Stack`]), the media between them
//! (point-to-point [`Link`]s and [`Switch`]es), virtual time and its timers.
//! [`World::pump`] moves packets between stacks and media until nothing
//! more can happen at the current instant.

use sockstack_link::{End, Frame, Link, PortId, Switch};
use sockstack_stack::{IfaceId, Stack};
use sockstack_time::Instant;
use std::collections::BTreeMap;
use std::task::Waker;

/// Names one host of a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(pub usize);

/// Names one network (a point-to-point link or a switched segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetId(pub usize);

/// Where a packet was seen, for tracing and capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Left a host's interface onto a network.
    Transmit,
    /// Arrived from a network at a host's interface.
    Deliver,
}

/// One packet crossing between a host and a network.
#[derive(Debug)]
pub struct PacketEvent<'a> {
    /// Virtual time of the crossing.
    pub at: Instant,
    /// Into the host or out of it.
    pub direction: Direction,
    /// The host's name.
    pub host: &'a str,
    /// The host's interface.
    pub iface: &'a str,
    /// The network (switch) it is attached to.
    pub net: &'a str,
    /// The IPv4 datagram.
    pub packet: &'a [u8],
}

pub(crate) type Tracer = Box<dyn FnMut(&PacketEvent<'_>)>;

pub(crate) struct Host {
    pub name: String,
    pub stack: Stack,
    /// Indexed by `IfaceId`: the network behind each interface.
    pub attachments: Vec<(NetId, Attachment)>,
    /// How this host's processes turn names into addresses.
    pub resolver: Option<std::rc::Rc<dyn crate::resolve::Resolve>>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Attachment {
    P2p(End),
    Port(PortId),
}

pub(crate) enum Medium {
    P2p { link: Box<Link>, ends: [(HostId, IfaceId); 2] },
    Switched { switch: Switch, ports: Vec<(PortId, HostId, IfaceId)> },
}

pub(crate) struct Net {
    pub name: String,
    pub medium: Medium,
}

pub(crate) struct World {
    pub now: Instant,
    pub hosts: Vec<Host>,
    pub nets: Vec<Net>,
    /// Deadline → wakers of sleeping tasks (BTreeMap: deterministic order).
    timers: BTreeMap<(Instant, u64), Waker>,
    next_timer: u64,
    pub tracer: Option<Tracer>,
    pub next_pid: u32,
    /// Packet captures, by network: every packet put on it.
    pub captures: Vec<(NetId, sockstack_link::pcap::PcapSink)>,
}

impl World {
    pub fn new() -> World {
        World {
            now: Instant::ZERO,
            hosts: Vec::new(),
            nets: Vec::new(),
            timers: BTreeMap::new(),
            next_timer: 0,
            tracer: None,
            next_pid: 1,
            captures: Vec::new(),
        }
    }

    pub fn add_timer(&mut self, at: Instant, waker: Waker) -> u64 {
        let id = self.next_timer;
        self.next_timer += 1;
        self.timers.insert((at, id), waker);
        id
    }

    pub fn cancel_timer(&mut self, at: Instant, id: u64) {
        self.timers.remove(&(at, id));
    }

    /// Wakes every timer due at or before `now`.
    pub fn fire_timers(&mut self) {
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            entry.remove().wake();
        }
    }

    /// The next instant at which anything in the world has work.
    pub fn next_event(&self) -> Option<Instant> {
        let timers = self.timers.keys().next().map(|k| k.0);
        let stacks = self.hosts.iter().filter_map(|h| h.stack.poll_at()).min();
        let nets = self
            .nets
            .iter()
            .filter_map(|n| match &n.medium {
                Medium::P2p { link, .. } => link.poll_at(),
                Medium::Switched { switch, .. } => switch.poll_at(),
            })
            .min();
        [timers, stacks, nets].into_iter().flatten().min()
    }

    fn trace(&mut self, direction: Direction, host: HostId, iface: IfaceId, net: NetId, packet: &[u8]) {
        if direction == Direction::Transmit {
            let at = std::time::Duration::from_micros(self.now.total_micros());
            for (_, sink) in self.captures.iter_mut().filter(|(n, _)| *n == net) {
                // A capture that cannot be written must not stop the run.
                let _ = sink.record(at, packet);
            }
        }
        let Some(tracer) = self.tracer.as_mut() else {
            return;
        };
        let h = &self.hosts[host.0];
        let iface_name = h.stack.interface(iface).map(|i| i.name.as_str()).unwrap_or("?");
        tracer(&PacketEvent {
            at: self.now,
            direction,
            host: &h.name,
            iface: iface_name,
            net: &self.nets[net.0].name,
            packet,
        });
    }

    /// Moves packets at the current instant: runs due stack timers, puts
    /// every queued packet on its network, and hands every packet the
    /// networks deliver now to its host. True if anything moved.
    pub fn pump(&mut self) -> bool {
        let now = self.now;
        let mut moved = false;
        for hi in 0..self.hosts.len() {
            if self.hosts[hi].stack.poll_at().is_some_and(|t| t <= now) {
                self.hosts[hi].stack.poll(now);
                moved = true;
            }
            while let Some(out) = self.hosts[hi].stack.dispatch() {
                moved = true;
                let Some(&(net, attachment)) = self.hosts[hi].attachments.get(out.iface.0) else {
                    continue; // an interface with no network: nowhere to go
                };
                self.trace(Direction::Transmit, HostId(hi), out.iface, net, &out.data);
                let frame = Frame::new(out.next_hop, out.data);
                match (&mut self.nets[net.0].medium, attachment) {
                    (Medium::P2p { link, .. }, Attachment::P2p(end)) => {
                        link.send(now, end, frame);
                    }
                    (Medium::Switched { switch, .. }, Attachment::Port(port)) => switch.send(now, port, frame),
                    _ => unreachable!("attachment kind matches its medium"),
                }
            }
        }
        for ni in 0..self.nets.len() {
            loop {
                let delivery = match &mut self.nets[ni].medium {
                    Medium::P2p { link, ends } => [End::A, End::B]
                        .into_iter()
                        .zip(ends.iter())
                        .find_map(|(end, &dst)| link.recv(now, end).map(|f| (dst, f))),
                    Medium::Switched { switch, ports } => {
                        ports.iter().find_map(|&(port, host, iface)| switch.recv(now, port).map(|f| ((host, iface), f)))
                    }
                };
                let Some(((host, iface), frame)) = delivery else {
                    break;
                };
                moved = true;
                self.trace(Direction::Deliver, host, iface, NetId(ni), &frame.data);
                let stack = &mut self.hosts[host.0].stack;
                stack.receive(now, iface, &frame.data);
                stack.recycle(frame.data);
            }
        }
        moved
    }
}
