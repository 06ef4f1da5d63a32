//! The messages a ping program exchanges over a raw ICMP socket (RFC 792
//! echo request / echo reply). The stack itself answers echo requests; this
//! module is for the *sending* side, shared by every driver's `ping`.

use sockstack_wire::{ChecksumMode, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Addr, Ipv4Packet, Ipv4Repr};

/// An ICMP echo request (no IP header: a raw ICMP socket adds it).
pub fn echo_request(ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
    let repr = Icmpv4Repr::EchoRequest { ident, seq_no, data };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
    buf
}

/// An echo reply as a raw socket received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoReply {
    /// Source of the reply: the host that answered.
    pub from: Ipv4Addr,
    /// Identifier, as in the request.
    pub ident: u16,
    /// Sequence Number, as in the request.
    pub seq_no: u16,
    /// TTL of the reply as it arrived.
    pub ttl: u8,
    /// The reply's echo data (normally the request's).
    pub data: Vec<u8>,
}

/// Parses a datagram from a raw ICMP socket (IP header included) as an
/// echo reply; `None` for anything else, including corrupt packets.
pub fn parse_echo_reply(packet: &[u8]) -> Option<EchoReply> {
    let ip = Ipv4Packet::new_checked(packet).ok()?;
    let ip_repr = Ipv4Repr::parse(&ip, ChecksumMode::Verify).ok()?;
    if ip_repr.next_header != IpProtocol::Icmp {
        return None;
    }
    let icmp = Icmpv4Packet::new_checked(ip.payload()).ok()?;
    match Icmpv4Repr::parse(&icmp, ChecksumMode::Verify).ok()? {
        Icmpv4Repr::EchoReply { ident, seq_no, data } => {
            Some(EchoReply { from: ip_repr.src_addr, ident, seq_no, ttl: ip_repr.hop_limit, data: data.to_vec() })
        }
        _ => None,
    }
}
