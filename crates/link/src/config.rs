//! Link configuration: what a direction of a link does to the frames it
//! carries (MTU, rate, delay, and seeded impairments), and the validation
//! that turns a bad configuration into an error at construction time rather
//! than a surprise mid-run.

use core::fmt;
use sockstack_time::Duration;

/// How one direction of a link behaves. `Default` is a perfect link:
/// 1500-byte MTU, infinite rate, zero delay, no impairments.
///
/// Probabilities are per frame and must lie in `[0, 1]`; [`Pipe::new`]
/// (and the other constructors) reject anything else.
///
/// [`Pipe::new`]: crate::Pipe::new
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Largest frame (whole IPv4 datagram) the link carries; larger ones are
    /// dropped and counted as `oversize`.
    pub mtu: usize,
    /// Transmit rate. `None` means frames take no time to serialise.
    pub bandwidth_bps: Option<u64>,
    /// Propagation delay added to every frame.
    pub latency: Duration,
    /// Uniform extra delay in `[0, jitter)` per frame. Jitter alone never
    /// reorders: a jittered frame is never delivered before its predecessor.
    pub jitter: Duration,
    /// Probability a frame is lost on the wire (after using the transmitter).
    pub loss: f64,
    /// Probability a frame is delivered twice.
    pub duplicate: f64,
    /// Probability a frame is held back by the reorder delay, letting later
    /// frames overtake it.
    pub reorder: f64,
    /// How long a reordered frame is held back; `None` means
    /// 2 × `latency` + 1 ms (see [`LinkConfig::effective_reorder_delay`]).
    pub reorder_delay: Option<Duration>,
    /// Probability one random bit of a frame is flipped.
    pub corrupt: f64,
    /// Most frames waiting for (or in) serialisation; more are tail-dropped
    /// and counted as `queue_full`. Only matters with a finite bandwidth.
    pub queue_limit: usize,
    /// Seed for the link's random number generator.
    pub seed: u64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            mtu: 1500,
            bandwidth_bps: None,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: None,
            corrupt: 0.0,
            queue_limit: 1000,
            seed: 0,
        }
    }
}

impl LinkConfig {
    /// A perfect link (same as `Default`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Largest frame the link carries, in octets.
    pub fn with_mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// Serialisation rate in bits per second (frames queue behind each other).
    pub fn with_bandwidth_bps(mut self, bps: u64) -> Self {
        self.bandwidth_bps = Some(bps);
        self
    }

    /// One-way propagation delay.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Random extra delay, uniform in `[0, jitter]`, per frame.
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Probability that a frame is lost.
    pub fn with_loss(mut self, p: f64) -> Self {
        self.loss = p;
        self
    }

    /// Probability that a frame is delivered twice.
    pub fn with_duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }

    /// Probability that a frame is held back and delivered after later ones.
    pub fn with_reorder(mut self, p: f64) -> Self {
        self.reorder = p;
        self
    }

    /// How long a reordered frame is held back.
    pub fn with_reorder_delay(mut self, delay: Duration) -> Self {
        self.reorder_delay = Some(delay);
        self
    }

    /// Probability that a frame has a bit flipped on the way.
    pub fn with_corrupt(mut self, p: f64) -> Self {
        self.corrupt = p;
        self
    }

    /// Frames the sending queue holds before it drops (tail drop).
    pub fn with_queue_limit(mut self, frames: usize) -> Self {
        self.queue_limit = frames;
        self
    }

    /// Seed of the impairments' random generator (runs reproduce).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The hold-back applied to reordered frames. The default of
    /// 2 × latency + 1 ms is long enough that a frame sent shortly after
    /// actually overtakes the held one.
    pub fn effective_reorder_delay(&self) -> Duration {
        self.reorder_delay.unwrap_or_else(|| self.latency.saturating_mul(2).saturating_add(Duration::from_millis(1)))
    }

    /// Checks every field; constructors call this so a pipe never runs with
    /// a configuration it cannot honour.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in
            [("loss", self.loss), ("duplicate", self.duplicate), ("reorder", self.reorder), ("corrupt", self.corrupt)]
        {
            // `contains` is false for NaN, which is what we want.
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::Probability { name, value });
            }
        }
        if self.mtu == 0 {
            return Err(ConfigError::ZeroMtu);
        }
        if self.bandwidth_bps == Some(0) {
            return Err(ConfigError::ZeroBandwidth);
        }
        if self.queue_limit == 0 {
            return Err(ConfigError::ZeroQueueLimit);
        }
        Ok(())
    }
}

/// Why a [`LinkConfig`] was rejected.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigError {
    /// A probability field is NaN or outside `[0, 1]`.
    Probability {
        /// The field.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// `mtu` is zero: the link could carry nothing.
    ZeroMtu,
    /// `bandwidth_bps` is `Some(0)`: frames would never finish serialising.
    ZeroBandwidth,
    /// `queue_limit` is zero: with a finite rate every frame would be dropped.
    ZeroQueueLimit,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Probability { name, value } => {
                write!(f, "link {name} probability {value} is not in [0, 1]")
            }
            ConfigError::ZeroMtu => f.write_str("link mtu must be at least 1 byte"),
            ConfigError::ZeroBandwidth => f.write_str("link bandwidth must be positive (use None for unlimited)"),
            ConfigError::ZeroQueueLimit => f.write_str("link queue limit must be at least 1 frame"),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_perfect_and_valid() {
        let c = LinkConfig::default();
        assert_eq!(c.mtu, 1500);
        assert_eq!(c.queue_limit, 1000);
        assert_eq!(c.bandwidth_bps, None);
        assert_eq!((c.loss, c.duplicate, c.reorder, c.corrupt), (0.0, 0.0, 0.0, 0.0));
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn rejects_bad_probabilities_and_zeroes() {
        let bad = [
            LinkConfig::new().with_loss(1.5),
            LinkConfig::new().with_duplicate(-0.1),
            LinkConfig::new().with_reorder(f64::NAN),
            LinkConfig::new().with_corrupt(f64::INFINITY),
        ];
        for c in bad {
            assert!(matches!(c.validate(), Err(ConfigError::Probability { .. })), "{c:?}");
        }
        assert_eq!(LinkConfig::new().with_mtu(0).validate(), Err(ConfigError::ZeroMtu));
        assert_eq!(LinkConfig::new().with_bandwidth_bps(0).validate(), Err(ConfigError::ZeroBandwidth));
        assert_eq!(LinkConfig::new().with_queue_limit(0).validate(), Err(ConfigError::ZeroQueueLimit));
        // The edges of the range are fine.
        assert_eq!(LinkConfig::new().with_loss(1.0).with_corrupt(0.0).validate(), Ok(()));
        assert!(!ConfigError::ZeroMtu.to_string().is_empty());
    }

    #[test]
    fn reorder_delay_defaults_from_latency() {
        let c = LinkConfig::new().with_latency(Duration::from_millis(10));
        assert_eq!(c.effective_reorder_delay(), Duration::from_millis(21));
        let c = c.with_reorder_delay(Duration::from_millis(3));
        assert_eq!(c.effective_reorder_delay(), Duration::from_millis(3));
    }
}
