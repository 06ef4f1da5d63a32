//! The connection's timers as plain deadlines (no clock is read here):
//! retransmission (RFC 6298), delayed ACK (RFC 1122 §4.2.3.2), persist
//! (RFC 9293 §3.8.6.1), keepalive (RFC 1122 §4.2.3.6), TIME-WAIT
//! (RFC 9293 §3.10.7.4, 2·MSL) and the Linux FIN-WAIT-2 timeout.

use sockstack_time::Instant;

/// One timer's deadline, or none. Stored as a bare instant with
/// [`Instant::FAR_FUTURE`] for "not armed" (a deadline that far off never
/// fires either), so the earliest of a connection's timers is a plain
/// minimum: it is asked after every segment sent and received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    /// Not armed.
    pub const NEVER: Deadline = Deadline(Instant::FAR_FUTURE);

    /// Armed for `at`.
    #[inline]
    pub const fn at(at: Instant) -> Deadline {
        Deadline(at)
    }

    /// The deadline, if armed.
    #[inline]
    pub fn get(self) -> Option<Instant> {
        (self != Deadline::NEVER).then_some(self.0)
    }

    /// Whether it is armed.
    #[inline]
    pub fn is_armed(self) -> bool {
        self != Deadline::NEVER
    }
}

impl Default for Deadline {
    fn default() -> Deadline {
        Deadline::NEVER
    }
}

impl From<Option<Instant>> for Deadline {
    #[inline]
    fn from(at: Option<Instant>) -> Deadline {
        at.map_or(Deadline::NEVER, Deadline::at)
    }
}

/// The latest instant a timer can be due at.
const LAST: Instant = Instant::from_micros(u64::MAX - 1);

#[derive(Debug, Clone, Default)]
pub struct Timers {
    pub rto: Deadline,
    pub delack: Deadline,
    pub persist: Deadline,
    pub keepalive: Deadline,
    pub time_wait: Deadline,
    pub fin_wait2: Deadline,
    /// RFC 8985 §7 probe timeout (TLP).
    pub tlp: Deadline,
    /// RFC 8985 §6.3 RACK reordering timer.
    pub rack: Deadline,
}

impl Timers {
    /// The earliest armed deadline.
    #[inline]
    pub fn earliest(&self) -> Option<Instant> {
        let min =
            [self.rto, self.delack, self.persist, self.keepalive, self.time_wait, self.fin_wait2, self.tlp, self.rack]
                .into_iter()
                .fold(Deadline::NEVER.0, |m, t| m.min(t.0));
        Deadline(min).get()
    }

    /// Disarms everything (connection closed).
    pub fn clear(&mut self) {
        *self = Timers::default();
    }

    /// Takes a deadline if it is due at `now`.
    #[inline]
    pub fn take_due(slot: &mut Deadline, now: Instant) -> bool {
        // An unarmed slot (`FAR_FUTURE`) is never due: the clock is held
        // just short of it, so one comparison per timer settles it.
        let now = now.min(LAST);
        if slot.0 <= now {
            *slot = Deadline::NEVER;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_and_take_due() {
        let mut t = Timers {
            rto: Deadline::at(Instant::from_secs(3)),
            delack: Deadline::at(Instant::from_secs(1)),
            ..Timers::default()
        };
        assert_eq!(t.earliest(), Some(Instant::from_secs(1)));
        assert!(!Timers::take_due(&mut t.rto, Instant::from_secs(2)));
        assert!(Timers::take_due(&mut t.delack, Instant::from_secs(2)));
        assert!(!t.delack.is_armed());
        assert_eq!(t.earliest(), Some(Instant::from_secs(3)));
        t.clear();
        assert_eq!(t.earliest(), None);
        // Not armed is never due, not even at the end of time.
        assert!(!Timers::take_due(&mut t.rto, Instant::FAR_FUTURE));
    }

    #[test]
    fn deadline_from_option() {
        assert_eq!(Deadline::from(None), Deadline::NEVER);
        assert_eq!(Deadline::from(Some(Instant::from_secs(5))).get(), Some(Instant::from_secs(5)));
        assert_eq!(Deadline::default().get(), None);
    }
}
