//! A point-to-point link: owns the two pipes (A→B and B→A) and routes a
//! send or receive at either end to the right one.

use sockstack_time::Instant;

use crate::{ConfigError, Frame, LinkConfig, Pipe, SendOutcome};

/// Mixed into the B→A seed so the two directions of a link built from one
/// configuration make independent random choices.
const REVERSE_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// One end of a [`Link`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum End {
    /// The first end.
    A,
    /// The second end.
    B,
}

impl End {
    /// The other end.
    pub fn peer(self) -> End {
        match self {
            End::A => End::B,
            End::B => End::A,
        }
    }
}

/// Two pipes joining ends A and B.
#[derive(Debug)]
pub struct Link {
    a_to_b: Pipe,
    b_to_a: Pipe,
}

impl Link {
    /// A symmetric link: both directions use `config`, seeded differently.
    pub fn new(config: LinkConfig) -> Result<Link, ConfigError> {
        Link::asymmetric(config.clone(), config)
    }

    /// A link whose directions differ (say, a slow uplink). The B→A seed is
    /// still mixed, so equal seeds do not give mirrored impairments.
    pub fn asymmetric(a_to_b: LinkConfig, mut b_to_a: LinkConfig) -> Result<Link, ConfigError> {
        b_to_a.seed ^= REVERSE_SEED;
        Ok(Link { a_to_b: Pipe::new(a_to_b)?, b_to_a: Pipe::new(b_to_a)? })
    }

    /// Sends `frame` from end `from` towards the other end.
    pub fn send(&mut self, now: Instant, from: End, frame: Frame) -> SendOutcome {
        self.pipe_mut(from).send(now, frame)
    }

    /// Receives the next frame due at end `at`.
    pub fn recv(&mut self, now: Instant, at: End) -> Option<Frame> {
        self.pipe_mut(at.peer()).recv(now)
    }

    /// The earliest pending delivery in either direction.
    pub fn poll_at(&self) -> Option<Instant> {
        match (self.a_to_b.poll_at(), self.b_to_a.poll_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True when nothing is in flight in either direction.
    pub fn is_empty(&self) -> bool {
        self.a_to_b.is_empty() && self.b_to_a.is_empty()
    }

    /// The pipe carrying frames sent from `from` (so `pipe(End::A)` is A→B).
    pub fn pipe(&self, from: End) -> &Pipe {
        match from {
            End::A => &self.a_to_b,
            End::B => &self.b_to_a,
        }
    }

    fn pipe_mut(&mut self, from: End) -> &mut Pipe {
        match from {
            End::A => &mut self.a_to_b,
            End::B => &mut self.b_to_a,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockstack_time::Duration;
    use std::net::Ipv4Addr;

    fn f(tag: u8) -> Frame {
        Frame::new(Ipv4Addr::new(192, 168, 1, tag), vec![tag; 32])
    }

    #[test]
    fn each_end_receives_what_the_other_sent() {
        let mut link = Link::new(LinkConfig::new().with_latency(Duration::from_millis(2))).unwrap();
        let t0 = Instant::from_secs(1);
        link.send(t0, End::A, f(1));
        link.send(t0 + Duration::from_millis(1), End::B, f(2));
        assert_eq!(link.poll_at(), Some(t0 + Duration::from_millis(2)));
        assert_eq!(link.recv(t0 + Duration::from_millis(2), End::A), None);
        assert_eq!(link.recv(t0 + Duration::from_millis(2), End::B), Some(f(1)));
        assert_eq!(link.poll_at(), Some(t0 + Duration::from_millis(3)));
        assert_eq!(link.recv(t0 + Duration::from_millis(3), End::A), Some(f(2)));
        assert!(link.is_empty() && link.poll_at().is_none());
        assert_eq!(link.pipe(End::A).stats().delivered, 1);
        assert_eq!(link.pipe(End::B).stats().delivered, 1);
    }

    fn losses(link: &mut Link, from: End) -> Vec<bool> {
        (0..200).map(|_| link.send(Instant::ZERO, from, f(0)) == SendOutcome::Lost).collect()
    }

    #[test]
    fn directions_are_seeded_differently() {
        let config = LinkConfig::new().with_loss(0.5).with_seed(99);
        let mut link = Link::new(config.clone()).unwrap();
        let ab = losses(&mut link, End::A);
        let ba = losses(&mut link, End::B);
        assert_ne!(ab, ba);
        // `new` is `asymmetric` with equal configs: same choices.
        let mut twin = Link::asymmetric(config.clone(), config).unwrap();
        assert_eq!(losses(&mut twin, End::A), ab);
        assert_eq!(losses(&mut twin, End::B), ba);
    }

    #[test]
    fn asymmetric_rates_apply_per_direction() {
        let slow = LinkConfig::new().with_bandwidth_bps(1_000_000);
        let fast = LinkConfig::new().with_bandwidth_bps(100_000_000);
        let mut link = Link::asymmetric(slow, fast).unwrap();
        let big = Frame::new(Ipv4Addr::new(10, 0, 0, 1), vec![0; 1250]);
        let a = link.send(Instant::ZERO, End::A, big.clone());
        let b = link.send(Instant::ZERO, End::B, big);
        let at = |o| match o {
            SendOutcome::InFlight { deliver_at, .. } => deliver_at,
            other => panic!("{other:?}"),
        };
        assert_eq!(at(a), Instant::from_millis(10));
        assert_eq!(at(b), Instant::from_micros(100));
    }

    #[test]
    fn bad_config_is_an_error() {
        assert!(Link::new(LinkConfig::new().with_loss(2.0)).is_err());
        assert!(Link::asymmetric(LinkConfig::new(), LinkConfig::new().with_mtu(0)).is_err());
    }
}
