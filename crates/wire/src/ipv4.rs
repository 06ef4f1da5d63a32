//! IPv4 (RFC 791): the header view [`Ipv4Packet`], its meaning [`Ipv4Repr`],
//! the protocol number [`IpProtocol`], and address prefixes [`Ipv4Cidr`].
//!
//! Header layout, RFC 791 §3.1:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |   DSCP    |ECN|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The TOS octet is read as DSCP + ECN (RFC 2474, RFC 3168). Options are
//! never emitted and, on receive, only checked for structural sanity (as
//! Linux does in effect for options it does not act on): we act on none.

use core::fmt;
use core::str::FromStr;

use crate::checksum::{self, ChecksumMode};
use crate::field::{read_u16, read_u32, write_u16, write_u32};
use crate::{Error, Ipv4Addr, Result};

/// Octet offsets of the fixed header fields (RFC 791 §3.1).
mod field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC_ADDR: usize = 12;
    pub const DST_ADDR: usize = 16;
}

/// Length of the header without options (IHL = 5).
pub const HEADER_LEN: usize = 20;
/// Largest header: IHL = 15.
pub const MAX_HEADER_LEN: usize = 60;

/// Flags (RFC 791 §3.1): bit 0 reserved, DF, MF; then 13 bits of offset.
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// The Protocol field (RFC 791 §3.1; numbers from the IANA registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    /// ICMP, protocol 1 (RFC 792).
    Icmp,
    /// TCP, protocol 6 (RFC 9293).
    Tcp,
    /// UDP, protocol 17 (RFC 768).
    Udp,
    /// Any other protocol number, kept as received.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(value: u8) -> Self {
        match value {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(value: IpProtocol) -> u8 {
        match value {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Unknown(other) => other,
        }
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::Icmp => f.write_str("icmp"),
            IpProtocol::Tcp => f.write_str("tcp"),
            IpProtocol::Udp => f.write_str("udp"),
            IpProtocol::Unknown(n) => write!(f, "proto{n}"),
        }
    }
}

/// An IPv4 address with a prefix length, e.g. `192.168.1.10/24`.
///
/// `address` keeps its host bits: the same type names an interface address
/// (`10.0.0.2/24`) and a route (`10.0.0.0/24`); [`Ipv4Cidr::network`] clears
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    /// The address, host bits included.
    pub address: Ipv4Addr,
    /// Number of leading network bits, 0 to 32.
    pub prefix_len: u8,
}

impl Ipv4Cidr {
    /// `prefix_len` must be at most 32, else `Error::Malformed`.
    pub fn new(address: Ipv4Addr, prefix_len: u8) -> Result<Ipv4Cidr> {
        if prefix_len > 32 {
            return Err(Error::Malformed);
        }
        Ok(Ipv4Cidr { address, prefix_len })
    }

    fn mask_bits(&self) -> u32 {
        // A /0 shifts by 32, which `checked_shl` refuses: the mask is empty.
        u32::MAX.checked_shl(32u32.saturating_sub(self.prefix_len as u32)).unwrap_or(0)
    }

    /// The prefix as a dotted mask, e.g. `255.255.255.0` for a /24 (`0.0.0.0`
    /// for /0).
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask_bits())
    }

    /// The prefix with host bits cleared.
    pub fn network(&self) -> Ipv4Cidr {
        Ipv4Cidr { address: Ipv4Addr::from(u32::from(self.address) & self.mask_bits()), prefix_len: self.prefix_len }
    }

    /// The directed broadcast address (RFC 919): host bits all ones.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.address) | !self.mask_bits())
    }

    /// True when `addr`'s network bits equal the prefix's (a /0 contains every
    /// address).
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        let mask = self.mask_bits();
        u32::from(addr) & mask == u32::from(self.address) & mask
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = Error;

    /// Parses `a.b.c.d/n`; anything else is `Error::Malformed`.
    fn from_str(s: &str) -> Result<Ipv4Cidr> {
        let (addr, len) = s.split_once('/').ok_or(Error::Malformed)?;
        let address = addr.parse::<Ipv4Addr>().map_err(|_| Error::Malformed)?;
        // `u8::from_str` accepts a leading '+'; a prefix length does not.
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Malformed);
        }
        let prefix_len = len.parse::<u8>().map_err(|_| Error::Malformed)?;
        Ipv4Cidr::new(address, prefix_len)
    }
}

/// A zero-copy view of an IPv4 header and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checking it. Accessors may panic if the buffer
    /// is shorter than the fields they read; use [`Ipv4Packet::new_checked`]
    /// for anything received.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer after [`Ipv4Packet::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>> {
        let packet = Ipv4Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates what every accessor relies on:
    ///
    /// * at least 20 octets, else `Truncated`;
    /// * version 4, else `BadVersion`;
    /// * IHL ≥ 5 and the header fits the buffer, else `BadLength`;
    /// * header length ≤ Total Length ≤ buffer length, else `BadLength`.
    ///   The buffer may be longer than Total Length (Ethernet pads short
    ///   frames to 60 octets); [`Ipv4Packet::payload`] stops at Total Length.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::BadVersion);
        }
        let header_len = self.header_len() as usize;
        if header_len < HEADER_LEN || header_len > len {
            return Err(Error::BadLength);
        }
        let total_len = self.total_len() as usize;
        if total_len < header_len || total_len > len {
            return Err(Error::BadLength);
        }
        Ok(())
    }

    /// Unwraps the view, giving back the buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version (RFC 791 §3.1): 4.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in octets (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Differentiated Services Code Point (RFC 2474 §3).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// Explicit Congestion Notification (RFC 3168 §5).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// The whole former TOS octet: DSCP << 2 | ECN.
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// Total Length: header plus data, in octets.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::TOTAL_LEN)
    }

    /// Identification, for reassembly.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    fn flags_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLG_OFF)
    }

    /// DF: Don't Fragment.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & FLAG_DF != 0
    }

    /// MF: More Fragments.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_offset() & FLAG_MF != 0
    }

    /// Fragment Offset in *octets* (the field counts 8-octet units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & FRAG_OFFSET_MASK) << 3
    }

    /// Time to Live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol: the next header.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// Header Checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source Address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_u32(self.buffer.as_ref(), field::SRC_ADDR))
    }

    /// Destination Address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_u32(self.buffer.as_ref(), field::DST_ADDR))
    }

    /// The options area: octets 20 up to the header length.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len() as usize]
    }

    /// The data: from the header length up to Total Length (link-layer
    /// padding past Total Length is excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len() as usize..self.total_len() as usize]
    }

    /// True when the ones'-complement sum over the header, checksum included,
    /// is all ones (RFC 791 §3.1, RFC 1071 §1).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let header = &self.buffer.as_ref()[..self.header_len() as usize];
        checksum::header(header) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets Version (the high nibble of octet 0); 4 for IPv4.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (version << 4);
    }

    /// Sets IHL from a length in octets (must be a multiple of 4, ≤ 60).
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        debug_assert!(len % 4 == 0 && len as usize <= MAX_HEADER_LEN);
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) & 0x0f);
    }

    /// Sets the former TOS octet: DSCP << 2 | ECN.
    #[inline]
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = value;
    }

    /// Sets Total Length: header plus data, in octets.
    #[inline]
    pub fn set_total_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::TOTAL_LEN, value)
    }

    /// Sets Identification.
    #[inline]
    pub fn set_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT, value)
    }

    fn set_flags_offset(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::FLG_OFF, value)
    }

    /// Sets or clears DF (Don't Fragment), leaving the other flags and the
    /// offset.
    #[inline]
    pub fn set_dont_frag(&mut self, value: bool) {
        let raw = self.flags_offset() & !FLAG_DF;
        self.set_flags_offset(raw | if value { FLAG_DF } else { 0 });
    }

    /// Sets or clears MF (More Fragments), leaving the other flags and the
    /// offset.
    #[inline]
    pub fn set_more_frags(&mut self, value: bool) {
        let raw = self.flags_offset() & !FLAG_MF;
        self.set_flags_offset(raw | if value { FLAG_MF } else { 0 });
    }

    /// Sets Fragment Offset from a value in octets; it must be a multiple of
    /// 8 (the low three bits cannot be represented and are dropped).
    #[inline]
    pub fn set_frag_offset(&mut self, octets: u16) {
        debug_assert!(octets % 8 == 0, "fragment offset must be a multiple of 8");
        let raw = self.flags_offset() & !FRAG_OFFSET_MASK;
        self.set_flags_offset(raw | (octets >> 3));
    }

    /// Sets Time to Live.
    #[inline]
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    /// Sets Protocol: the next header.
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = value.into();
    }

    /// Stores a Header Checksum as given; [`Ipv4Packet::fill_checksum`]
    /// computes it.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value)
    }

    /// Sets Source Address.
    #[inline]
    pub fn set_src_addr(&mut self, value: Ipv4Addr) {
        write_u32(self.buffer.as_mut(), field::SRC_ADDR, value.into())
    }

    /// Sets Destination Address.
    #[inline]
    pub fn set_dst_addr(&mut self, value: Ipv4Addr) {
        write_u32(self.buffer.as_mut(), field::DST_ADDR, value.into())
    }

    /// Computes the Header Checksum over `header_len` octets and stores it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(&self.buffer.as_ref()[..self.header_len() as usize]);
        self.set_checksum(!sum);
    }

    /// Mutable options area.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Mutable data, header length up to Total Length.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len() as usize, self.total_len() as usize);
        &mut self.buffer.as_mut()[start..end]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// Walks an options area and checks only its structure (RFC 791 §3.1): End
/// of Option List (0) ends it, No Operation (1) is one octet, and every other
/// option carries a length octet counting itself and the type, so ≥ 2, that
/// must not run past the header. Contents are not interpreted.
fn check_options(mut options: &[u8]) -> Result<()> {
    while let Some(&kind) = options.first() {
        match kind {
            0 => break,
            1 => options = &options[1..],
            _ => {
                let len = *options.get(1).ok_or(Error::BadOption)? as usize;
                if len < 2 || len > options.len() {
                    return Err(Error::BadOption);
                }
                options = &options[len..];
            }
        }
    }
    Ok(())
}

/// The meaning of an IPv4 header (options are not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source Address.
    pub src_addr: Ipv4Addr,
    /// Destination Address.
    pub dst_addr: Ipv4Addr,
    /// Protocol: what the payload carries.
    pub next_header: IpProtocol,
    /// Octets of data after the header (Total Length − header length).
    pub payload_len: usize,
    /// Time to Live (named after its IPv6 successor, as smoltcp does).
    pub hop_limit: u8,
    /// Identification: the same for every fragment of one datagram.
    pub ident: u16,
    /// DF: the datagram must not be fragmented.
    pub dont_frag: bool,
    /// MF: more fragments of the datagram follow this one.
    pub more_frags: bool,
    /// Fragment offset in octets (a multiple of 8).
    pub frag_offset: u16,
    /// The former TOS octet: DSCP << 2 | ECN.
    pub dscp_ecn: u8,
}

impl Ipv4Repr {
    /// Parses and validates a header: lengths (as [`Ipv4Packet::check_len`],
    /// even on an unchecked view), the checksum when `checksum` is `Verify`,
    /// and the structure of any options (`BadOption`). Never panics.
    #[inline]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Ipv4Packet<&T>, checksum: ChecksumMode) -> Result<Ipv4Repr> {
        packet.check_len()?;
        Self::parse_header(packet, checksum)
    }

    /// Parses the header of a datagram of which only a prefix is at hand,
    /// as quoted in an ICMP error (RFC 792): Total Length may exceed the
    /// buffer, but the header itself must be complete. The checksum is not
    /// verified (routers may have rewritten fields since; RFC 1812 §4.3.2.3).
    pub fn parse_quoted<T: AsRef<[u8]> + ?Sized>(packet: &Ipv4Packet<&T>) -> Result<Ipv4Repr> {
        let len = packet.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if packet.version() != 4 {
            return Err(Error::BadVersion);
        }
        let header_len = packet.header_len() as usize;
        if header_len < HEADER_LEN || header_len > len {
            return Err(Error::BadLength);
        }
        if (packet.total_len() as usize) < header_len {
            return Err(Error::BadLength);
        }
        Self::parse_header(packet, ChecksumMode::Ignore)
    }

    /// Common tail of the parsers: the header (not necessarily the payload)
    /// is known to be in bounds.
    #[inline]
    fn parse_header<T: AsRef<[u8]> + ?Sized>(packet: &Ipv4Packet<&T>, checksum: ChecksumMode) -> Result<Ipv4Repr> {
        if checksum.verify() && !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        check_options(packet.options())?;
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.total_len() as usize - packet.header_len() as usize,
            hop_limit: packet.ttl(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
            dscp_ecn: packet.dscp_ecn(),
        })
    }

    /// The emitted header is always 20 octets: we send no options.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-octet header (IHL 5) into the first 20 octets of `packet`
    /// and, with `ChecksumMode::Verify`, its checksum (zero with `Ignore`,
    /// for checksum offload). The payload is not touched.
    ///
    /// Total Length is `20 + payload_len`, saturating at 65535: callers size
    /// datagrams from the MTU, so larger never reaches here.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Ipv4Repr::buffer_len`].
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Ipv4Packet<&mut T>, checksum: ChecksumMode) {
        // Built whole and stored with one copy (every datagram sent passes
        // here): RFC 791 §3.1 layout, no options.
        let total = u16::try_from(HEADER_LEN.saturating_add(self.payload_len)).unwrap_or(u16::MAX);
        let flags = if self.dont_frag { FLAG_DF } else { 0 } | if self.more_frags { FLAG_MF } else { 0 };
        let flags_offset = flags | ((self.frag_offset & !7) >> 3);
        let mut h = [0u8; HEADER_LEN];
        h[field::VER_IHL] = 0x40 | (HEADER_LEN / 4) as u8;
        h[field::DSCP_ECN] = self.dscp_ecn;
        write_u16(&mut h, field::TOTAL_LEN, total);
        write_u16(&mut h, field::IDENT, self.ident);
        write_u16(&mut h, field::FLG_OFF, flags_offset);
        h[field::TTL] = self.hop_limit;
        h[field::PROTOCOL] = self.next_header.into();
        write_u32(&mut h, field::SRC_ADDR, self.src_addr.into());
        write_u32(&mut h, field::DST_ADDR, self.dst_addr.into());
        if checksum.verify() {
            let sum = checksum::words(&h);
            write_u16(&mut h, field::CHECKSUM, !sum);
        }
        packet.buffer.as_mut()[..HEADER_LEN].copy_from_slice(&h);
    }

    /// Limited broadcast or the directed broadcast of `cidr`.
    pub fn is_broadcast_for(addr: Ipv4Addr, cidr: &Ipv4Cidr) -> bool {
        addr.is_broadcast() || (cidr.prefix_len < 31 && addr == cidr.broadcast())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ICMP echo request laid out as `ping -c1 -s 8 192.168.1.1` from
    /// 192.168.1.100 sends it: IPv4 header, 8-octet ICMP header, 8 octets of
    /// data. Both checksums were computed independently of this crate.
    pub(crate) const PING: [u8; 36] = [
        0x45, 0x00, 0x00, 0x24, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x01, 0x9a, 0xdd, 0xc0, 0xa8, 0x01, 0x64, 0xc0, 0xa8,
        0x01, 0x01, // IPv4
        0x08, 0x00, 0x44, 0x27, 0x12, 0x34, 0x00, 0x01, // ICMP echo request
        0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04,
    ];

    fn ping() -> Vec<u8> {
        PING.to_vec()
    }

    #[test]
    fn known_header_fields() {
        let bytes = ping();
        let p = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp(), 0);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.total_len(), 36);
        assert_eq!(p.ident(), 0x1c46);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.next_header(), IpProtocol::Icmp);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 1, 100));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 1, 1));
        assert_eq!(p.options(), &[] as &[u8]);
        assert_eq!(p.payload(), &PING[20..]);
        assert_eq!(p.checksum(), 0x9add);
        assert!(p.verify_checksum());

        let repr = Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
        assert_eq!(
            repr,
            Ipv4Repr {
                src_addr: Ipv4Addr::new(192, 168, 1, 100),
                dst_addr: Ipv4Addr::new(192, 168, 1, 1),
                next_header: IpProtocol::Icmp,
                payload_len: 16,
                hop_limit: 64,
                ident: 0x1c46,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
                dscp_ecn: 0,
            }
        );

        let mut out = [0xa5u8; 36];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut out[..]), ChecksumMode::Verify);
        assert_eq!(&out[..20], &bytes[..20]);
    }

    #[test]
    fn dscp_ecn_and_fragments() {
        let mut bytes = ping();
        let mut p = Ipv4Packet::new_unchecked(&mut bytes[..]);
        p.set_dscp_ecn((46 << 2) | 0b11); // EF, CE
        p.set_dont_frag(false);
        p.set_more_frags(true);
        p.set_frag_offset(1480);
        assert_eq!(p.dscp(), 46);
        assert_eq!(p.ecn(), 3);
        assert!(!p.dont_frag());
        assert!(p.more_frags());
        assert_eq!(p.frag_offset(), 1480);
        assert_eq!(&p.as_ref()[6..8], &[0x20, 0xb9]); // MF | 185
        p.set_dont_frag(true);
        assert_eq!(p.frag_offset(), 1480);
        assert!(p.more_frags());
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
    }

    #[test]
    fn link_padding_is_excluded() {
        let mut bytes = ping();
        bytes.extend_from_slice(&[0; 10]);
        let p = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.payload().len(), 16);
        let repr = Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
        assert_eq!(repr.payload_len, 16);
    }

    #[test]
    fn error_paths() {
        let good = ping();
        assert_eq!(Ipv4Packet::new_checked(&good[..19]).unwrap_err(), Error::Truncated);

        let mut b = good.clone();
        b[0] = 0x65;
        assert_eq!(Ipv4Packet::new_checked(&b[..]).unwrap_err(), Error::BadVersion);

        let mut b = good.clone();
        b[0] = 0x44; // IHL 4
        assert_eq!(Ipv4Packet::new_checked(&b[..]).unwrap_err(), Error::BadLength);

        let mut b = good.clone();
        b[0] = 0x4f; // IHL 15 = 60 octets > 36
        assert_eq!(Ipv4Packet::new_checked(&b[..]).unwrap_err(), Error::BadLength);

        let mut b = good.clone();
        b[3] = 37; // total length past the buffer
        assert_eq!(Ipv4Packet::new_checked(&b[..]).unwrap_err(), Error::BadLength);

        let mut b = good.clone();
        b[3] = 19; // total length inside the header
        assert_eq!(Ipv4Packet::new_checked(&b[..]).unwrap_err(), Error::BadLength);

        let mut b = good.clone();
        b[8] = 63; // TTL changed, checksum stale
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap_err(), Error::BadChecksum);
        assert!(Ipv4Repr::parse(&p, ChecksumMode::Ignore).is_ok());

        // parse re-checks lengths on an unchecked view instead of panicking.
        let p = Ipv4Packet::new_unchecked(&good[..10]);
        assert_eq!(Ipv4Repr::parse(&p, ChecksumMode::Ignore).unwrap_err(), Error::Truncated);
    }

    /// Builds the ping with an options area and a fresh checksum.
    fn with_options(options: &[u8]) -> Vec<u8> {
        assert_eq!(options.len() % 4, 0);
        let mut b = PING[..20].to_vec();
        b.extend_from_slice(options);
        b.extend_from_slice(&PING[20..]);
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_header_len(20 + options.len() as u8);
        p.set_total_len((PING.len() + options.len()) as u16);
        p.fill_checksum();
        b
    }

    #[test]
    fn options_are_skipped_structurally() {
        // Record Route (7) with room for one address, then NOP, EOL: fine.
        let b = with_options(&[7, 7, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.options().len(), 12);
        assert_eq!(p.payload(), &PING[20..]);
        let repr = Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
        assert_eq!(repr.payload_len, 16);

        // An unknown option type (0x99) with a sane length is skipped.
        let b = with_options(&[0x99, 4, 0xff, 0xff]);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(Ipv4Repr::parse(&p, ChecksumMode::Verify).is_ok());

        // Length running past the header.
        let b = with_options(&[0x99, 5, 0, 0]);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap_err(), Error::BadOption);
        // Length below 2 (would loop forever if accepted).
        let b = with_options(&[0x99, 1, 0, 0]);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap_err(), Error::BadOption);
        // Length octet missing.
        let b = with_options(&[1, 1, 1, 0x99]);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap_err(), Error::BadOption);
        // Anything after End of Option List is padding, not looked at.
        let b = with_options(&[0, 0x99, 0x99, 0x99]);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(Ipv4Repr::parse(&p, ChecksumMode::Verify).is_ok());
    }

    #[test]
    fn emit_ignore_leaves_zero_checksum() {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(10, 0, 0, 2),
            next_header: IpProtocol::Unknown(253),
            payload_len: 0,
            hop_limit: 1,
            ident: 7,
            dont_frag: false,
            more_frags: true,
            frag_offset: 8,
            dscp_ecn: 0xff,
        };
        let mut buf = [0xffu8; 20];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), ChecksumMode::Ignore);
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.checksum(), 0);
        assert_eq!(Ipv4Repr::parse(&p, ChecksumMode::Ignore).unwrap(), repr);
        assert_eq!(Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap_err(), Error::BadChecksum);
        // The reserved flag bit is cleared even though the buffer was 0xff.
        assert_eq!(buf[6] & 0x80, 0);
    }

    #[test]
    fn protocol_numbers() {
        for n in 0..=255u8 {
            assert_eq!(u8::from(IpProtocol::from(n)), n);
        }
        assert_eq!(IpProtocol::from(1), IpProtocol::Icmp);
        assert_eq!(IpProtocol::from(6), IpProtocol::Tcp);
        assert_eq!(IpProtocol::from(17), IpProtocol::Udp);
        assert_eq!(IpProtocol::from(47), IpProtocol::Unknown(47));
    }

    #[test]
    fn cidr() {
        let c: Ipv4Cidr = "192.168.1.77/24".parse().unwrap();
        assert_eq!(c.address, Ipv4Addr::new(192, 168, 1, 77));
        assert_eq!(c.prefix_len, 24);
        assert_eq!(c.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(c.network().to_string(), "192.168.1.0/24");
        assert_eq!(c.broadcast(), Ipv4Addr::new(192, 168, 1, 255));
        assert!(c.contains(Ipv4Addr::new(192, 168, 1, 1)));
        assert!(!c.contains(Ipv4Addr::new(192, 168, 2, 1)));
        assert_eq!(c.to_string(), "192.168.1.77/24");

        let all = Ipv4Cidr::new(Ipv4Addr::new(1, 2, 3, 4), 0).unwrap();
        assert_eq!(all.netmask(), Ipv4Addr::UNSPECIFIED);
        assert!(all.contains(Ipv4Addr::new(255, 1, 1, 1)));
        assert_eq!(all.broadcast(), Ipv4Addr::BROADCAST);
        assert_eq!(all.network().address, Ipv4Addr::UNSPECIFIED);

        let host = Ipv4Cidr::new(Ipv4Addr::new(10, 1, 2, 3), 32).unwrap();
        assert_eq!(host.netmask(), Ipv4Addr::BROADCAST);
        assert!(host.contains(Ipv4Addr::new(10, 1, 2, 3)));
        assert!(!host.contains(Ipv4Addr::new(10, 1, 2, 4)));
        assert_eq!(host.broadcast(), Ipv4Addr::new(10, 1, 2, 3));

        let c: Ipv4Cidr = "10.0.0.0/9".parse().unwrap();
        assert_eq!(c.netmask(), Ipv4Addr::new(255, 128, 0, 0));
        assert!(c.contains(Ipv4Addr::new(10, 127, 255, 255)));
        assert!(!c.contains(Ipv4Addr::new(10, 128, 0, 0)));

        assert_eq!(Ipv4Cidr::new(Ipv4Addr::LOCALHOST, 33), Err(Error::Malformed));
        for bad in ["10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "10.0.0/8", "10.0.0.0/+8", "x/8", "10.0.0.0/-1"] {
            assert_eq!(bad.parse::<Ipv4Cidr>(), Err(Error::Malformed), "{bad}");
        }
        assert!(Ipv4Repr::is_broadcast_for(Ipv4Addr::new(192, 168, 1, 255), &"192.168.1.7/24".parse().unwrap()));
        assert!(Ipv4Repr::is_broadcast_for(Ipv4Addr::BROADCAST, &"192.168.1.7/24".parse().unwrap()));
        assert!(!Ipv4Repr::is_broadcast_for(Ipv4Addr::new(192, 168, 1, 254), &"192.168.1.7/24".parse().unwrap()));
    }
}
