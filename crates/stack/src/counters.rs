//! Counters: what the stack received, sent, forwarded, and what it dropped
//! and why. Every packet the stack refuses is counted under exactly one
//! [`DropReason`]; nothing is dropped silently.

use core::fmt;

macro_rules! drop_reasons {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// Why a packet (or datagram) was discarded.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum DropReason {
            $(#[doc = $doc] $variant,)*
        }

        impl DropReason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)*];

            /// A short snake_case name, as printed in counter tables.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(DropReason::$variant => $name,)*
                }
            }
        }
    };
}

drop_reasons! {
    IpTruncated => "ip_truncated", "Shorter than an IPv4 header or its total length.";
    IpBadVersion => "ip_bad_version", "Version field is not 4.";
    IpBadLength => "ip_bad_length", "IHL or total length inconsistent.";
    IpBadChecksum => "ip_bad_checksum", "IPv4 header checksum mismatch.";
    IpBadOption => "ip_bad_option", "IPv4 options structurally invalid.";
    IpBadSource => "ip_bad_source", "Source is broadcast, multicast or unspecified (RFC 1122 §3.2.1.3).";
    NotForUs => "not_for_us", "Destination is not ours and forwarding is off.";
    NoRoute => "no_route", "No route to the destination.";
    TtlExpired => "ttl_expired", "TTL reached zero while forwarding.";
    FragNeeded => "frag_needed", "Larger than the next hop's MTU with DF set.";
    FragOverlap => "frag_overlap", "Overlapping IPv4 fragments; the datagram is discarded.";
    FragInvalid => "frag_invalid", "Fragment beyond 65535 bytes or inconsistent with its siblings.";
    FragTimeout => "frag_timeout", "Reassembly did not complete in time.";
    FragMemory => "frag_memory", "Reassembly memory limit reached.";
    IcmpMalformed => "icmp_malformed", "ICMP message truncated or inconsistent.";
    IcmpBadChecksum => "icmp_bad_checksum", "ICMP checksum mismatch.";
    IcmpUnsupported => "icmp_unsupported", "ICMP type the stack does not act on (still given to raw sockets).";
    IcmpRateLimited => "icmp_rate_limited", "ICMP error not sent: rate limit (RFC 1812 §4.3.2.8).";
    IcmpOutOfWindow => "icmp_out_of_window", "ICMP error quoting a TCP segment no connection has in flight (RFC 5927 §4.1; Linux OutOfWindowIcmps).";
    UdpMalformed => "udp_malformed", "UDP header truncated or inconsistent.";
    UdpBadChecksum => "udp_bad_checksum", "UDP checksum mismatch.";
    UdpNoSocket => "udp_no_socket", "No UDP socket bound to the destination port.";
    UdpQueueFull => "udp_queue_full", "The socket's receive queue was full.";
    RawQueueFull => "raw_queue_full", "A raw socket's receive queue was full.";
    ProtoUnreachable => "proto_unreachable", "No handler or raw socket for the IP protocol.";
    TcpMalformed => "tcp_malformed", "TCP header truncated or inconsistent, or sent to a broadcast.";
    TcpBadChecksum => "tcp_bad_checksum", "TCP checksum mismatch.";
    TcpNoSocket => "tcp_no_socket", "No connection or listener for the segment (answered with RST).";
    TcpListenOverflow => "tcp_listen_overflow", "A listener's accept queue was full.";
    TxQueueFull => "tx_queue_full", "The interface's transmit queue was full.";
    InterfaceDown => "interface_down", "Received on, or routed to, an interface that is down.";
    OffloadMalformed => "offload_malformed", "A device's offload data does not fit its datagram (a packed run that cannot be split).";
}

/// Traffic counters of one stack.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// IPv4 datagrams received on an interface (before any check).
    pub ip_rx: u64,
    /// IPv4 datagrams sent: queued for a link or looped back, each fragment
    /// counted.
    pub ip_tx: u64,
    /// Datagrams addressed to this host and handed to a protocol (after
    /// reassembly).
    pub ip_delivered: u64,
    /// Datagrams forwarded to another host (as a router).
    pub ip_forwarded: u64,
    /// Fragments received for this host.
    pub ip_fragments_rx: u64,
    /// Datagrams reassembled from fragments.
    pub ip_reassembled: u64,
    /// Fragments sent (a datagram larger than the path MTU, DF clear).
    pub ip_fragments_tx: u64,
    /// Valid ICMP messages received.
    pub icmp_rx: u64,
    /// ICMP messages sent by the stack itself (echo replies and errors).
    pub icmp_tx: u64,
    /// Echo requests answered with an Echo Reply.
    pub icmp_echo_replied: u64,
    /// Valid TCP segments received.
    pub tcp_rx: u64,
    /// TCP segments sent.
    pub tcp_tx: u64,
    /// SYN-ACKs sent with a SYN cookie, because a listener's SYN queue was full
    /// (RFC 4987 §3.6).
    pub tcp_syncookies_sent: u64,
    /// Connections established from a valid SYN-cookie ACK.
    pub tcp_syncookies_accepted: u64,
    /// ACKs to a listener that had sent cookies lately, tested as cookie
    /// ACKs and found wrong (Linux `SyncookiesFailed`). A listener that
    /// sent none lately tests none.
    pub tcp_syncookies_failed: u64,
    /// Closed connections that went straight to CLOSED instead of
    /// TIME-WAIT because `tcp_max_tw_buckets` records were held (Linux
    /// `TCPTimeWaitOverflow`).
    pub tcp_tw_overflow: u64,
    /// Valid UDP datagrams received.
    pub udp_rx: u64,
    /// UDP datagrams sent.
    pub udp_tx: u64,
    /// Datagrams queued on raw sockets (one per socket that took a copy).
    pub raw_rx: u64,
    /// Datagrams sent from raw sockets.
    pub raw_tx: u64,
    drops: [u64; DropReason::ALL.len()],
}

impl Counters {
    pub(crate) fn drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }

    /// How many packets were dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// All drops, across reasons.
    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// The non-zero drop counters, by reason.
    pub fn drops(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.dropped(r))).filter(|&(_, n)| n > 0)
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ip rx {} tx {} delivered {} forwarded {} | icmp rx {} tx {} | tcp rx {} tx {} | udp rx {} tx {} | raw rx {} tx {}",
            self.ip_rx,
            self.ip_tx,
            self.ip_delivered,
            self.ip_forwarded,
            self.icmp_rx,
            self.icmp_tx,
            self.tcp_rx,
            self.tcp_tx,
            self.udp_rx,
            self.udp_tx,
            self.raw_rx,
            self.raw_tx
        )?;
        // Rare events, shown once they happen.
        if self.tcp_syncookies_sent > 0 {
            write!(
                f,
                " | tcp syncookies sent {} accepted {} failed {}",
                self.tcp_syncookies_sent, self.tcp_syncookies_accepted, self.tcp_syncookies_failed
            )?;
        }
        if self.tcp_tw_overflow > 0 {
            write!(f, " | tcp tw_overflow {}", self.tcp_tw_overflow)?;
        }
        for (reason, n) in self.drops() {
            write!(f, " | drop {}={}", reason.as_str(), n)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_counted_by_reason() {
        let mut c = Counters::default();
        c.drop(DropReason::UdpNoSocket);
        c.drop(DropReason::UdpNoSocket);
        c.drop(DropReason::IpBadChecksum);
        assert_eq!(c.dropped(DropReason::UdpNoSocket), 2);
        assert_eq!(c.dropped(DropReason::IpBadChecksum), 1);
        assert_eq!(c.dropped(DropReason::NoRoute), 0);
        assert_eq!(c.dropped_total(), 3);
        let shown = c.to_string();
        assert!(shown.contains("udp_no_socket=2"), "{shown}");
        assert!(!shown.contains("syncookies") && !shown.contains("tw_overflow"), "{shown}");
        c.tcp_syncookies_sent = 3;
        c.tcp_syncookies_accepted = 2;
        c.tcp_tw_overflow = 1;
        let shown = c.to_string();
        assert!(shown.contains("tcp syncookies sent 3 accepted 2 failed 0 | tcp tw_overflow 1"), "{shown}");
        // Every reason has a distinct name.
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::ALL.len());
    }
}
