//! ICMPv4 (RFC 792, with RFC 1191 for the Next-Hop MTU): the message view
//! [`Icmpv4Packet`] and the messages we speak, [`Icmpv4Repr`]: Echo and Echo
//! Reply, Destination Unreachable, Time Exceeded.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Identifier / unused          |  Sequence Number / Next-Hop MTU|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Data: echo data, or the offending IP header + 64 bits ...
//! ```
//!
//! The checksum covers the whole ICMP message (no pseudo-header).

use crate::checksum::{self, ChecksumMode};
use crate::field::{read_u16, write_u16};
use crate::ipv4::{Ipv4Packet, Ipv4Repr};
use crate::{Error, Result};

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const UNUSED: usize = 4;
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQNO: usize = 6;
    pub const MTU: usize = 6;
}

/// Length of the fixed ICMP header (type through the second 32-bit word).
pub const HEADER_LEN: usize = 8;

/// Octets of the offending datagram's data that an error should quote after
/// its IP header (RFC 792: "the first 64 bits"; RFC 1122 §3.2.2: at least
/// that); enough for the transport ports. For emitters: parse does not
/// require it (see [`Icmpv4Repr::parse`]).
pub const QUOTED_DATA_MIN: usize = 8;

/// Message types (RFC 792).
pub mod msg_type {
    /// Echo Reply (type 0).
    pub const ECHO_REPLY: u8 = 0;
    /// Destination Unreachable (type 3).
    pub const DST_UNREACHABLE: u8 = 3;
    /// Echo, i.e. echo request (type 8).
    pub const ECHO_REQUEST: u8 = 8;
    /// Time Exceeded (type 11).
    pub const TIME_EXCEEDED: u8 = 11;
}

/// Destination Unreachable codes (RFC 792; 13 from RFC 1812 §5.2.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DstUnreachable {
    /// Code 0: net unreachable.
    NetUnreachable,
    /// Code 1: host unreachable.
    HostUnreachable,
    /// Code 2: protocol unreachable (no handler for the IP protocol).
    ProtoUnreachable,
    /// Code 3: port unreachable (no socket bound to the transport port).
    PortUnreachable,
    /// Fragmentation needed and DF set; carries the Next-Hop MTU (RFC 1191).
    FragRequired,
    /// Code 5: source route failed.
    SrcRouteFailed,
    /// Communication administratively prohibited (RFC 1812).
    AdminProhibited,
    /// Any other code, kept so that the stack can still report it.
    Other(u8),
}

impl From<u8> for DstUnreachable {
    fn from(code: u8) -> Self {
        match code {
            0 => DstUnreachable::NetUnreachable,
            1 => DstUnreachable::HostUnreachable,
            2 => DstUnreachable::ProtoUnreachable,
            3 => DstUnreachable::PortUnreachable,
            4 => DstUnreachable::FragRequired,
            5 => DstUnreachable::SrcRouteFailed,
            13 => DstUnreachable::AdminProhibited,
            other => DstUnreachable::Other(other),
        }
    }
}

impl From<DstUnreachable> for u8 {
    fn from(reason: DstUnreachable) -> u8 {
        match reason {
            DstUnreachable::NetUnreachable => 0,
            DstUnreachable::HostUnreachable => 1,
            DstUnreachable::ProtoUnreachable => 2,
            DstUnreachable::PortUnreachable => 3,
            DstUnreachable::FragRequired => 4,
            DstUnreachable::SrcRouteFailed => 5,
            DstUnreachable::AdminProhibited => 13,
            DstUnreachable::Other(code) => code,
        }
    }
}

/// Time Exceeded codes (RFC 792).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeExceeded {
    /// Code 0: time to live exceeded in transit.
    TtlExpired,
    /// Code 1: fragment reassembly time exceeded.
    FragReassemblyExpired,
}

impl TryFrom<u8> for TimeExceeded {
    type Error = Error;
    fn try_from(code: u8) -> Result<Self> {
        match code {
            0 => Ok(TimeExceeded::TtlExpired),
            1 => Ok(TimeExceeded::FragReassemblyExpired),
            _ => Err(Error::Unsupported),
        }
    }
}

impl From<TimeExceeded> for u8 {
    fn from(reason: TimeExceeded) -> u8 {
        match reason {
            TimeExceeded::TtlExpired => 0,
            TimeExceeded::FragReassemblyExpired => 1,
        }
    }
}

/// A zero-copy view of an ICMPv4 message. The buffer is the IP payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps a buffer without checking; accessors may panic on a short one.
    pub const fn new_unchecked(buffer: T) -> Icmpv4Packet<T> {
        Icmpv4Packet { buffer }
    }

    /// Wraps a buffer after [`Icmpv4Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Icmpv4Packet<T>> {
        let packet = Icmpv4Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Every message we know has the 8-octet header; shorter is `Truncated`.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Unwraps the view, giving back the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Type (octet 0): one of the `msg_type` constants for the messages we
    /// know.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Code (octet 1): its meaning depends on the type (e.g.
    /// [`DstUnreachable`]).
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum as stored (the inverted sum over the whole message).
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Identifier of an Echo or Echo Reply.
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Sequence Number of an Echo or Echo Reply.
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// Next-Hop MTU of a "fragmentation needed" (RFC 1191 §4); zero from
    /// routers that predate RFC 1191.
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::MTU)
    }

    /// Everything after the 8-octet header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// True when the sum over the whole message is all ones.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Sets Type (octet 0).
    pub fn set_msg_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::TYPE] = value;
    }

    /// Sets Code (octet 1).
    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Stores a checksum as given; [`Icmpv4Packet::fill_checksum`] computes it.
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value)
    }

    /// Sets the Identifier of an Echo or Echo Reply.
    pub fn set_echo_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_IDENT, value)
    }

    /// Sets the Sequence Number of an Echo or Echo Reply.
    pub fn set_echo_seq_no(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_SEQNO, value)
    }

    /// Sets the Next-Hop MTU of a "fragmentation needed" (RFC 1191 §4).
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::MTU, value)
    }

    /// Computes and stores the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(self.buffer.as_ref());
        self.set_checksum(!sum);
    }

    /// Mutable access to everything after the 8-octet header.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Icmpv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The ICMPv4 messages sockstack sends and understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Repr<'a> {
    /// Echo (type 8): asks the destination to send back an Echo Reply.
    EchoRequest {
        /// Identifier, to match replies to requests (RFC 792).
        ident: u16,
        /// Sequence Number, to match replies to requests (RFC 792).
        seq_no: u16,
        /// Echo data, to be returned unchanged in the reply.
        data: &'a [u8],
    },
    /// Echo Reply (type 0): the answer to an Echo.
    EchoReply {
        /// Identifier copied from the Echo.
        ident: u16,
        /// Sequence Number copied from the Echo.
        seq_no: u16,
        /// Data copied from the Echo.
        data: &'a [u8],
    },
    /// `header` is the offending datagram's IP header (options dropped);
    /// `data` the octets quoted after it (normally 8 or more, see
    /// [`Icmpv4Repr::parse`]).
    DstUnreachable {
        /// The code: why the datagram could not be delivered.
        reason: DstUnreachable,
        /// Meaningful for `FragRequired` only; parsed as 0 for other codes,
        /// whose second word is "unused" (RFC 792).
        next_hop_mtu: u16,
        /// The offending datagram's IP header (options dropped).
        header: Ipv4Repr,
        /// The octets quoted after the offending datagram's header.
        data: &'a [u8],
    },
    /// Time Exceeded (type 11): a datagram was discarded because its TTL ran
    /// out in transit or its reassembly timed out.
    TimeExceeded {
        /// The code: TTL expired in transit, or fragment reassembly time
        /// exceeded.
        reason: TimeExceeded,
        /// The discarded datagram's IP header (options dropped).
        header: Ipv4Repr,
        /// The octets quoted after the discarded datagram's header.
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parses a message. Unknown types and Time Exceeded codes are
    /// `Unsupported`; with `Verify` a wrong checksum is `BadChecksum`.
    ///
    /// For the error messages the quoted IP header is parsed with
    /// [`Ipv4Repr::parse_quoted`] (its checksum is not checked: routers may
    /// have rewritten fields). The quoted data is returned however short it
    /// is: RFC 1122 §3.2.2 asks for 8 octets, but a datagram with less data
    /// can only be quoted whole, and an error about it still matters (e.g.
    /// for path MTU). Consumers check `data.len()` before reading ports.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Icmpv4Packet<&'a T>,
        checksum: ChecksumMode,
    ) -> Result<Icmpv4Repr<'a>> {
        packet.check_len()?;
        if checksum.verify() && !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        // Borrow the data for 'a from the underlying buffer, not from the
        // view, so the repr may outlive `packet`.
        let buffer: &'a T = packet.buffer;
        let data: &'a [u8] = &buffer.as_ref()[HEADER_LEN..];
        match packet.msg_type() {
            msg_type::ECHO_REQUEST => {
                Ok(Icmpv4Repr::EchoRequest { ident: packet.echo_ident(), seq_no: packet.echo_seq_no(), data })
            }
            msg_type::ECHO_REPLY => {
                Ok(Icmpv4Repr::EchoReply { ident: packet.echo_ident(), seq_no: packet.echo_seq_no(), data })
            }
            msg_type::DST_UNREACHABLE => {
                let reason = DstUnreachable::from(packet.msg_code());
                let (header, data) = parse_quote(data)?;
                let next_hop_mtu = match reason {
                    DstUnreachable::FragRequired => packet.next_hop_mtu(),
                    _ => 0,
                };
                Ok(Icmpv4Repr::DstUnreachable { reason, next_hop_mtu, header, data })
            }
            msg_type::TIME_EXCEEDED => {
                let reason = TimeExceeded::try_from(packet.msg_code())?;
                let (header, data) = parse_quote(data)?;
                Ok(Icmpv4Repr::TimeExceeded { reason, header, data })
            }
            _ => Err(Error::Unsupported),
        }
    }

    /// Octets `emit` writes: the 8-octet header plus echo data, or plus the
    /// 20-octet quoted header and the quoted data.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => HEADER_LEN + data.len(),
            Icmpv4Repr::DstUnreachable { header, data, .. } | Icmpv4Repr::TimeExceeded { header, data, .. } => {
                HEADER_LEN + header.buffer_len() + data.len()
            }
        }
    }

    /// Writes the message and its checksum. The quoted header is emitted by
    /// [`Ipv4Repr::emit`] (20 octets, fresh header checksum). The checksum
    /// covers the whole buffer, so size it to [`Icmpv4Repr::buffer_len`].
    ///
    /// # Panics
    /// If the buffer is shorter than [`Icmpv4Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Icmpv4Packet<&mut T>) {
        match *self {
            Icmpv4Repr::EchoRequest { ident, seq_no, data } | Icmpv4Repr::EchoReply { ident, seq_no, data } => {
                let ty = match self {
                    Icmpv4Repr::EchoRequest { .. } => msg_type::ECHO_REQUEST,
                    _ => msg_type::ECHO_REPLY,
                };
                packet.set_msg_type(ty);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                packet.data_mut()[..data.len()].copy_from_slice(data);
            }
            Icmpv4Repr::DstUnreachable { reason, next_hop_mtu, header, data } => {
                packet.set_msg_type(msg_type::DST_UNREACHABLE);
                packet.set_msg_code(reason.into());
                write_u16(packet.buffer.as_mut(), field::UNUSED, 0);
                packet.set_next_hop_mtu(next_hop_mtu);
                emit_quote(packet.data_mut(), &header, data);
            }
            Icmpv4Repr::TimeExceeded { reason, header, data } => {
                packet.set_msg_type(msg_type::TIME_EXCEEDED);
                packet.set_msg_code(reason.into());
                write_u16(packet.buffer.as_mut(), field::UNUSED, 0);
                packet.set_next_hop_mtu(0);
                emit_quote(packet.data_mut(), &header, data);
            }
        }
        packet.fill_checksum();
    }
}

/// Splits an error message's data into the offending header and the octets
/// quoted after it (RFC 792).
fn parse_quote(data: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
    let ip = Ipv4Packet::new_unchecked(data);
    let header = Ipv4Repr::parse_quoted(&ip)?;
    Ok((header, &data[ip.header_len() as usize..]))
}

fn emit_quote(buf: &mut [u8], header: &Ipv4Repr, data: &[u8]) {
    let header_len = header.buffer_len();
    header.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..header_len]), ChecksumMode::Verify);
    buf[header_len..header_len + data.len()].copy_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipv4::IpProtocol;
    use crate::Ipv4Addr;

    /// The ICMP part of `ipv4::tests::PING`: echo request, ident 0x1234,
    /// seq 1, 8 data octets; checksum computed independently.
    const ECHO: [u8; 16] =
        [0x08, 0x00, 0x44, 0x27, 0x12, 0x34, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04];

    #[test]
    fn known_echo_request() {
        let p = Icmpv4Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(p.msg_type(), 8);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.checksum(), 0x4427);
        assert_eq!(p.echo_ident(), 0x1234);
        assert_eq!(p.echo_seq_no(), 1);
        assert_eq!(p.data(), &ECHO[8..]);
        assert!(p.verify_checksum());
        let repr = Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
        assert_eq!(repr, Icmpv4Repr::EchoRequest { ident: 0x1234, seq_no: 1, data: &ECHO[8..] });
        assert_eq!(repr.buffer_len(), 16);
        let mut out = [0u8; 16];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, ECHO);

        // The reply differs in type only, so its checksum is 8 << 8 higher.
        let reply = Icmpv4Repr::EchoReply { ident: 0x1234, seq_no: 1, data: &ECHO[8..] };
        reply.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
        assert_eq!(out[0], 0);
        assert_eq!(&out[2..4], &[0x4c, 0x27]);
        assert_eq!(&out[4..], &ECHO[4..]);
    }

    /// An IPv4+UDP datagram's first 28 octets, as a router would quote them.
    fn offending() -> (Ipv4Repr, [u8; 8]) {
        let header = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(10, 9, 9, 9),
            next_header: IpProtocol::Udp,
            payload_len: 1400,
            hop_limit: 1,
            ident: 0xbeef,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            dscp_ecn: 0,
        };
        (header, [0x9c, 0x40, 0x00, 0x35, 0x05, 0x78, 0x12, 0x34])
    }

    #[test]
    fn frag_required_round_trip() {
        let (header, udp) = offending();
        let repr =
            Icmpv4Repr::DstUnreachable { reason: DstUnreachable::FragRequired, next_hop_mtu: 1280, header, data: &udp };
        assert_eq!(repr.buffer_len(), 36);
        let mut buf = [0xaau8; 36];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..2], &[3, 4]);
        assert_eq!(&buf[4..8], &[0, 0, 0x05, 0x00]);
        // The quoted header says Total Length 1420 though only 28 octets are
        // here: that is what a quote looks like.
        assert_eq!(&buf[8..12], &[0x45, 0, 0x05, 0x8c]);
        assert_eq!(&buf[28..], &udp);
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.next_hop_mtu(), 1280);
        assert!(Ipv4Packet::new_checked(p.data()).is_err());
        assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap(), repr);
    }

    #[test]
    fn codes() {
        for code in 0..=255u8 {
            assert_eq!(u8::from(DstUnreachable::from(code)), code);
        }
        assert_eq!(DstUnreachable::from(13), DstUnreachable::AdminProhibited);
        assert_eq!(DstUnreachable::from(3), DstUnreachable::PortUnreachable);
        assert_eq!(TimeExceeded::try_from(1), Ok(TimeExceeded::FragReassemblyExpired));
        assert_eq!(TimeExceeded::try_from(2), Err(Error::Unsupported));
    }

    #[test]
    fn time_exceeded_and_unused_mtu() {
        let (header, udp) = offending();
        let repr = Icmpv4Repr::TimeExceeded { reason: TimeExceeded::TtlExpired, header, data: &udp };
        let mut buf = [0u8; 36];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..2], &[11, 0]);
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap(), repr);

        // Port unreachable: the MTU word is unused and parsed as 0.
        let mut repr =
            Icmpv4Repr::DstUnreachable { reason: DstUnreachable::PortUnreachable, next_hop_mtu: 0, header, data: &udp };
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        buf[7] = 0x55; // junk in "unused"
        let mut p = Icmpv4Packet::new_unchecked(&mut buf[..]);
        p.fill_checksum();
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        let parsed = Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
        assert_eq!(parsed, repr);
        if let Icmpv4Repr::DstUnreachable { next_hop_mtu, .. } = &mut repr {
            *next_hop_mtu = 0x55;
        }
        assert_ne!(parsed, repr);
    }

    #[test]
    fn error_paths() {
        assert_eq!(Icmpv4Packet::new_checked(&ECHO[..7]).unwrap_err(), Error::Truncated);
        let mut b = ECHO;
        b[9] ^= 1;
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap_err(), Error::BadChecksum);
        assert!(Icmpv4Repr::parse(&p, ChecksumMode::Ignore).is_ok());

        // Timestamp request (13): well-formed but not ours.
        let mut b = ECHO;
        b[0] = 13;
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Ignore).unwrap_err(), Error::Unsupported);

        let (header, udp) = offending();
        let repr = Icmpv4Repr::TimeExceeded { reason: TimeExceeded::TtlExpired, header, data: &udp };
        let mut buf = [0u8; 36];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        // Unknown Time Exceeded code.
        let mut b = buf;
        b[1] = 7;
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Ignore).unwrap_err(), Error::Unsupported);
        // Quote shorter than header + 8: accepted, data is what is there.
        let p = Icmpv4Packet::new_checked(&buf[..31]).unwrap();
        match Icmpv4Repr::parse(&p, ChecksumMode::Ignore).unwrap() {
            Icmpv4Repr::TimeExceeded { data, .. } => assert_eq!(data, &udp[..3]),
            other => panic!("{other:?}"),
        }
        // Quote shorter than an IP header.
        let p = Icmpv4Packet::new_checked(&buf[..27]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Ignore).unwrap_err(), Error::Truncated);
        // Quoted header that is not IPv4.
        let mut b = buf;
        b[8] = 0x65;
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Ignore).unwrap_err(), Error::BadVersion);
        // Quoted IHL past the quote.
        let mut b = buf;
        b[8] = 0x4f;
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Ignore).unwrap_err(), Error::BadLength);
        // A quoted header with a stale checksum is still accepted.
        let mut b = buf;
        b[8 + 8] = 0; // TTL
        let mut p = Icmpv4Packet::new_unchecked(&mut b[..]);
        p.fill_checksum();
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert!(Icmpv4Repr::parse(&p, ChecksumMode::Verify).is_ok());
    }
}
