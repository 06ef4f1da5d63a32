//! The connection's timers as plain deadlines (no clock is read here):
//! retransmission (RFC 6298), delayed ACK (RFC 1122 §4.2.3.2), persist
//! (RFC 9293 §3.8.6.1), keepalive (RFC 1122 §4.2.3.6), TIME-WAIT
//! (RFC 9293 §3.10.7.4, 2·MSL) and the Linux FIN-WAIT-2 timeout.

use sockstack_time::Instant;

#[derive(Debug, Clone, Default)]
pub struct Timers {
    pub rto: Option<Instant>,
    pub delack: Option<Instant>,
    pub persist: Option<Instant>,
    pub keepalive: Option<Instant>,
    pub time_wait: Option<Instant>,
    pub fin_wait2: Option<Instant>,
    /// RFC 8985 §7 probe timeout (TLP).
    pub tlp: Option<Instant>,
    /// RFC 8985 §6.3 RACK reordering timer.
    pub rack: Option<Instant>,
}

impl Timers {
    /// The earliest armed deadline.
    #[inline]
    pub fn earliest(&self) -> Option<Instant> {
        // A branch-free minimum over plain instants (asked after every
        // flush, so it is on the per-segment path).
        let at = |t: Option<Instant>| t.unwrap_or(Instant::FAR_FUTURE);
        let min =
            [self.rto, self.delack, self.persist, self.keepalive, self.time_wait, self.fin_wait2, self.tlp, self.rack]
                .into_iter()
                .fold(Instant::FAR_FUTURE, |m, t| m.min(at(t)));
        (min != Instant::FAR_FUTURE).then_some(min)
    }

    /// Disarms everything (connection closed).
    pub fn clear(&mut self) {
        *self = Timers::default();
    }

    /// Takes a deadline if it is due at `now`.
    pub fn take_due(slot: &mut Option<Instant>, now: Instant) -> bool {
        match *slot {
            Some(t) if t <= now => {
                *slot = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_and_take_due() {
        let mut t =
            Timers { rto: Some(Instant::from_secs(3)), delack: Some(Instant::from_secs(1)), ..Timers::default() };
        assert_eq!(t.earliest(), Some(Instant::from_secs(1)));
        assert!(!Timers::take_due(&mut t.rto, Instant::from_secs(2)));
        assert!(Timers::take_due(&mut t.delack, Instant::from_secs(2)));
        assert_eq!(t.earliest(), Some(Instant::from_secs(3)));
        t.clear();
        assert_eq!(t.earliest(), None);
    }
}
