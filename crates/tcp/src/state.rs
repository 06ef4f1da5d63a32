//! Connection states, named as in RFC 9293 §3.3.2.

use core::fmt;

/// The state of one connection (RFC 9293 §3.3.2, Figure 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Waiting for a connection request (a passive open).
    Listen,
    /// SYN sent (active open), waiting for a matching SYN-ACK.
    SynSent,
    /// SYN received and SYN-ACK sent, waiting for the ACK of our SYN.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// We closed (FIN sent), waiting for its ACK or the peer's FIN.
    FinWait1,
    /// Our FIN acknowledged, waiting for the peer's FIN.
    FinWait2,
    /// The peer closed (FIN received), waiting for the application to close.
    CloseWait,
    /// Simultaneous close: the peer's FIN arrived before the ACK of ours,
    /// which we are waiting for.
    Closing,
    /// The peer closed first, then we did: waiting for the ACK of our FIN.
    LastAck,
    /// Both FINs acknowledged, waiting 2·MSL so that stray segments die out.
    TimeWait,
    /// No connection.
    Closed,
}

impl State {
    /// RFC 9293 §3.3.2: states after the handshake completed.
    pub fn is_synchronized(self) -> bool {
        !matches!(self, State::Listen | State::SynSent | State::SynReceived | State::Closed)
    }

    /// States in which the peer may still send us data.
    pub fn can_receive_data(self) -> bool {
        matches!(self, State::SynReceived | State::Established | State::FinWait1 | State::FinWait2)
    }

    /// States in which our FIN has been queued (we will not send new data).
    pub fn fin_queued(self) -> bool {
        matches!(self, State::FinWait1 | State::FinWait2 | State::Closing | State::LastAck | State::TimeWait)
    }

    /// Name as `ss` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECV",
            State::Established => "ESTAB",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
            State::Closed => "CLOSED",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synchronized_states() {
        assert!(!State::SynSent.is_synchronized());
        assert!(!State::SynReceived.is_synchronized());
        assert!(State::Established.is_synchronized());
        assert!(State::TimeWait.is_synchronized());
        assert!(State::FinWait2.fin_queued());
        assert!(!State::CloseWait.fin_queued());
        assert_eq!(State::SynReceived.to_string(), "SYN-RECV");
    }
}
