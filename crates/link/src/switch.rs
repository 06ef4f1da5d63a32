//! A shared segment for more than two hosts: owns the table of which port
//! holds which IPv4 address (static "ARP", as a learning Ethernet switch
//! would end up with), one egress [`Pipe`] per port, and the forwarding
//! decision for each frame by its next hop.
//!
//! The switch is output-queued: a frame is impaired, delayed and rate
//! limited once, by the pipe of the port it leaves on. The sender's own
//! uplink is not modelled separately, so impairments apply once per copy.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use sockstack_time::Instant;

use crate::{ConfigError, Frame, LinkConfig, Pipe, PipeStats};

/// A port on a [`Switch`], handed out by [`Switch::add_port`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(usize);

impl PortId {
    /// The port's index, in the order ports were added.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A snapshot of a switch's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwitchStats {
    /// Frames whose next hop no port owns (and which are not broadcast).
    pub no_port: u64,
    /// Broadcast frames flooded (counted once per frame; the copies show up
    /// in each egress port's `sent`).
    pub flooded: u64,
    /// Frames addressed to a host on the port they came from, which a switch
    /// does not send back out that port.
    pub hairpin: u64,
    /// Sends from a `PortId` this switch did not issue.
    pub invalid_port: u64,
    /// Per-port egress pipe statistics, indexed by [`PortId::index`].
    pub ports: Vec<PipeStats>,
}

struct Port {
    egress: Pipe,
}

/// A switch forwarding frames between ports by next-hop IPv4 address.
pub struct Switch {
    config: LinkConfig,
    ports: Vec<Port>,
    owners: BTreeMap<Ipv4Addr, PortId>,
    broadcast: Option<Ipv4Addr>,
    no_port: u64,
    flooded: u64,
    hairpin: u64,
    invalid_port: u64,
}

impl core::fmt::Debug for Switch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Switch")
            .field("ports", &self.ports.len())
            .field("owners", &self.owners)
            .field("broadcast", &self.broadcast)
            .finish_non_exhaustive()
    }
}

impl Switch {
    /// A switch with no ports; each port added gets an egress pipe with
    /// `config`, seeded from `config.seed` and the port's index.
    pub fn new(config: LinkConfig) -> Result<Switch, ConfigError> {
        config.validate()?;
        Ok(Switch {
            config,
            ports: Vec::new(),
            owners: BTreeMap::new(),
            broadcast: None,
            no_port: 0,
            flooded: 0,
            hairpin: 0,
            invalid_port: 0,
        })
    }

    /// Attaches a host interface with `addresses`. An address already owned
    /// by another port moves here (the latest claim wins, as a gratuitous
    /// ARP would make it).
    pub fn add_port(&mut self, addresses: Vec<Ipv4Addr>) -> PortId {
        let id = PortId(self.ports.len());
        let mut config = self.config.clone();
        // Multiply by an odd constant so neighbouring ports get seeds that
        // differ in many bits, not just the low ones.
        config.seed ^= (id.0 as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.ports.push(Port { egress: Pipe::from_validated(config) });
        for addr in addresses {
            self.owners.insert(addr, id);
        }
        id
    }

    /// Gives `port` another address. Returns false (and changes nothing) if
    /// `port` is not on this switch.
    pub fn add_address(&mut self, port: PortId, addr: Ipv4Addr) -> bool {
        if port.0 >= self.ports.len() {
            return false;
        }
        self.owners.insert(addr, port);
        true
    }

    /// Sets the segment's directed broadcast address (e.g. 10.0.0.255 for
    /// 10.0.0.0/24), flooded like 255.255.255.255. Replaces any earlier one.
    pub fn set_broadcast(&mut self, addr: Ipv4Addr) {
        self.broadcast = Some(addr);
    }

    /// The port owning `addr`, if any.
    pub fn port_of(&self, addr: Ipv4Addr) -> Option<PortId> {
        self.owners.get(&addr).copied()
    }

    /// Ports attached so far.
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// Forwards `frame`, which arrived on `from`, to the port owning its next
    /// hop, or floods it to every other port if it is a broadcast. Anything
    /// else is dropped and counted.
    pub fn send(&mut self, now: Instant, from: PortId, frame: Frame) {
        if from.0 >= self.ports.len() {
            self.invalid_port += 1;
            return;
        }
        let hop = frame.next_hop;
        if hop == Ipv4Addr::BROADCAST || Some(hop) == self.broadcast {
            self.flooded += 1;
            for (i, port) in self.ports.iter_mut().enumerate() {
                if i != from.0 {
                    port.egress.send(now, frame.clone());
                }
            }
            return;
        }
        match self.owners.get(&hop) {
            None => self.no_port += 1,
            Some(&to) if to == from => self.hairpin += 1,
            Some(&to) => {
                if let Some(port) = self.ports.get_mut(to.0) {
                    port.egress.send(now, frame);
                }
            }
        }
    }

    /// Receives the next frame due at `port` (none for an unknown port).
    pub fn recv(&mut self, now: Instant, port: PortId) -> Option<Frame> {
        self.ports.get_mut(port.0)?.egress.recv(now)
    }

    /// The earliest pending delivery on any port.
    pub fn poll_at(&self) -> Option<Instant> {
        self.ports.iter().filter_map(|p| p.egress.poll_at()).min()
    }

    /// The egress pipe of `port`.
    pub fn pipe(&self, port: PortId) -> Option<&Pipe> {
        self.ports.get(port.0).map(|p| &p.egress)
    }

    /// Counters summed over the switch's ports.
    pub fn stats(&self) -> SwitchStats {
        SwitchStats {
            no_port: self.no_port,
            flooded: self.flooded,
            hairpin: self.hairpin,
            invalid_port: self.invalid_port,
            ports: self.ports.iter().map(|p| p.egress.stats().clone()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockstack_time::Duration;

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, last)
    }

    fn frame(hop: Ipv4Addr, tag: u8) -> Frame {
        Frame::new(hop, vec![0x45, tag, 0, 20])
    }

    /// Three hosts: .1, .2 and .3 (which also owns .30).
    fn three() -> (Switch, [PortId; 3]) {
        let mut sw = Switch::new(LinkConfig::new().with_latency(Duration::from_millis(1))).unwrap();
        let a = sw.add_port(vec![ip(1)]);
        let b = sw.add_port(vec![ip(2)]);
        let c = sw.add_port(vec![ip(3)]);
        assert!(sw.add_address(c, ip(30)));
        (sw, [a, b, c])
    }

    fn drain(sw: &mut Switch, port: PortId) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(f) = sw.recv(Instant::FAR_FUTURE, port) {
            out.push(f);
        }
        out
    }

    #[test]
    fn delivers_by_next_hop() {
        let (mut sw, [a, b, c]) = three();
        let t = Instant::from_millis(5);
        sw.send(t, a, frame(ip(2), 1));
        sw.send(t, a, frame(ip(30), 2));
        sw.send(t, b, frame(ip(1), 3));
        assert_eq!(sw.poll_at(), Some(t + Duration::from_millis(1)));
        assert_eq!(sw.recv(t, b), None);
        assert_eq!(drain(&mut sw, a), vec![frame(ip(1), 3)]);
        assert_eq!(drain(&mut sw, b), vec![frame(ip(2), 1)]);
        assert_eq!(drain(&mut sw, c), vec![frame(ip(30), 2)]);
        assert_eq!(sw.poll_at(), None);
        let s = sw.stats();
        assert_eq!((s.no_port, s.flooded, s.hairpin), (0, 0, 0));
        assert_eq!(s.ports.iter().map(|p| p.delivered).collect::<Vec<_>>(), vec![1, 1, 1]);
    }

    #[test]
    fn floods_broadcast_to_all_but_sender() {
        let (mut sw, [a, b, c]) = three();
        sw.send(Instant::ZERO, b, frame(Ipv4Addr::BROADCAST, 7));
        assert_eq!(drain(&mut sw, a), vec![frame(Ipv4Addr::BROADCAST, 7)]);
        assert_eq!(drain(&mut sw, b), vec![]);
        assert_eq!(drain(&mut sw, c), vec![frame(Ipv4Addr::BROADCAST, 7)]);
        // A directed broadcast floods only once it is declared.
        let directed = ip(255);
        sw.send(Instant::ZERO, a, frame(directed, 8));
        assert_eq!(sw.stats().no_port, 1);
        sw.set_broadcast(directed);
        sw.send(Instant::ZERO, a, frame(directed, 9));
        assert_eq!(drain(&mut sw, a), vec![]);
        assert_eq!(drain(&mut sw, b), vec![frame(directed, 9)]);
        assert_eq!(drain(&mut sw, c), vec![frame(directed, 9)]);
        assert_eq!(sw.stats().flooded, 2);
    }

    #[test]
    fn counts_unknown_hops_hairpins_and_bad_ports() {
        let (mut sw, [a, b, c]) = three();
        sw.send(Instant::ZERO, a, frame(ip(99), 1));
        sw.send(Instant::ZERO, a, frame(ip(1), 2));
        let mut other = Switch::new(LinkConfig::new()).unwrap();
        let stranger = (0..4).map(|_| other.add_port(vec![])).last().unwrap();
        sw.send(Instant::ZERO, stranger, frame(ip(1), 3));
        assert_eq!(sw.recv(Instant::ZERO, stranger), None);
        assert!(!sw.add_address(stranger, ip(4)));
        assert!(sw.pipe(stranger).is_none());
        let s = sw.stats();
        assert_eq!((s.no_port, s.hairpin, s.invalid_port), (1, 1, 1));
        for p in [a, b, c] {
            assert!(drain(&mut sw, p).is_empty());
        }
        assert!(s.ports.iter().all(|p| p.sent == 0));
    }

    #[test]
    fn address_claims_move_between_ports() {
        let (mut sw, [a, b, _]) = three();
        assert_eq!(sw.port_of(ip(2)), Some(b));
        sw.add_address(a, ip(2));
        assert_eq!(sw.port_of(ip(2)), Some(a));
        assert_eq!(sw.port_count(), 3);
    }

    #[test]
    fn ports_are_seeded_differently_and_reproducibly() {
        let run = |seed| {
            let mut sw = Switch::new(LinkConfig::new().with_loss(0.5).with_seed(seed)).unwrap();
            let ports: Vec<_> = (1..=4).map(|i| sw.add_port(vec![ip(i)])).collect();
            for k in 0..200u8 {
                sw.send(Instant::ZERO, ports[0], frame(Ipv4Addr::BROADCAST, k));
            }
            ports[1..].iter().map(|&p| drain(&mut sw, p)).collect::<Vec<_>>()
        };
        let first = run(5);
        assert_eq!(first, run(5));
        assert_ne!(first, run(6));
        // Each port made its own loss choices.
        assert_ne!(first[0], first[1]);
        assert_ne!(first[1], first[2]);
    }

    #[test]
    fn bad_config_is_an_error() {
        assert!(Switch::new(LinkConfig::new().with_duplicate(-1.0)).is_err());
    }
}
