//! TCP segments: the header of RFC 9293 §3.1 with the options a modern stack
//! negotiates — MSS (RFC 9293 §3.7.1, RFC 6691), Window Scale and Timestamps
//! (RFC 7323), SACK (RFC 2018) — plus sequence-number arithmetic (RFC 9293
//! §3.4). Connection state lives in the stack; this module only reads and
//! writes the bytes.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |       |       |R|E|G|K|H|T|N|N|                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           [Options]                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};

use crate::checksum::{self, ChecksumMode};
use crate::field::{read_u16, read_u32, write_u16, write_u32};
use crate::ipv4::IpProtocol;
use crate::{Error, Ipv4Addr, Result};

// ---------------------------------------------------------------------------
// Sequence numbers
// ---------------------------------------------------------------------------

/// A TCP sequence number: a point in a 2³² circular space (RFC 9293 §3.4).
///
/// Comparisons are modular: `a < b` iff `(a − b) as i32 < 0`, i.e. `b` lies
/// less than 2³¹ ahead of `a` (exactly 2³¹ apart, each is "less" than the
/// other). This is only a consistent order among numbers
/// within 2³¹ of each other, which the window rules guarantee for any two
/// numbers a connection compares. There is deliberately no `Ord`: the
/// relation is not transitive over the whole space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// The signed distance `self − rhs` in sequence space.
    #[inline]
    fn diff(self, rhs: SeqNumber) -> i32 {
        self.0.wrapping_sub(rhs.0) as i32
    }

    /// `self` precedes `rhs` (RFC 9293 §3.4 "<").
    pub fn lt(self, rhs: SeqNumber) -> bool {
        self.diff(rhs) < 0
    }

    /// `self` precedes or equals `rhs` (RFC 9293 §3.4 "=<").
    pub fn le(self, rhs: SeqNumber) -> bool {
        self.diff(rhs) <= 0
    }

    /// `self` follows `rhs` (RFC 9293 §3.4 ">").
    pub fn gt(self, rhs: SeqNumber) -> bool {
        self.diff(rhs) > 0
    }

    /// `self` follows or equals `rhs` (RFC 9293 §3.4 ">=").
    pub fn ge(self, rhs: SeqNumber) -> bool {
        self.diff(rhs) >= 0
    }

    /// The later of the two in sequence space.
    pub fn max(self, rhs: SeqNumber) -> SeqNumber {
        if self.ge(rhs) {
            self
        } else {
            rhs
        }
    }

    /// The earlier of the two in sequence space.
    pub fn min(self, rhs: SeqNumber) -> SeqNumber {
        if self.le(rhs) {
            self
        } else {
            rhs
        }
    }

    /// The distance from `rhs` forward to `self`, if `self ≥ rhs` in
    /// sequence space.
    pub fn checked_sub(self, rhs: SeqNumber) -> Option<usize> {
        let d = self.diff(rhs);
        (d >= 0).then_some(d as usize)
    }
}

impl Add<usize> for SeqNumber {
    type Output = SeqNumber;
    /// Advances by `rhs` octets, wrapping modulo 2³². Offsets are at most a
    /// window (< 2³⁰), so the truncation of `rhs` to 32 bits never matters
    /// in practice and is not checked.
    fn add(self, rhs: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs as u32))
    }
}

impl Sub<usize> for SeqNumber {
    type Output = SeqNumber;
    /// Goes back `rhs` octets, wrapping modulo 2³².
    fn sub(self, rhs: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs as u32))
    }
}

impl AddAssign<usize> for SeqNumber {
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

impl SubAssign<usize> for SeqNumber {
    fn sub_assign(&mut self, rhs: usize) {
        *self = *self - rhs;
    }
}

impl Sub<SeqNumber> for SeqNumber {
    type Output = usize;
    /// The forward distance from `rhs` to `self`, modulo 2³². Never panics;
    /// only meaningful when `self ≥ rhs` in sequence space (otherwise it is
    /// the long way round). Use [`SeqNumber::checked_sub`] when unsure.
    fn sub(self, rhs: SeqNumber) -> usize {
        self.0.wrapping_sub(rhs.0) as usize
    }
}

impl PartialOrd for SeqNumber {
    /// Modular order, as [`SeqNumber::lt`]; see the type's docs.
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

// ---------------------------------------------------------------------------
// Packet view
// ---------------------------------------------------------------------------

pub(crate) mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ_NUM: usize = 4;
    pub const ACK_NUM: usize = 8;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// Control bits, octet 13 (RFC 9293 §3.1; CWR and ECE from RFC 3168 §6.1).
mod flag {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// Length of the header without options (Data Offset 5).
pub const HEADER_LEN: usize = 20;
/// Largest header: Data Offset 15.
pub const MAX_HEADER_LEN: usize = 60;
/// Room for options.
pub const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;

/// A zero-copy view of a TCP segment. The buffer is the IP payload: its
/// length is the segment length used in the pseudo-header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps a buffer without checking; accessors may panic on a short one.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    /// Wraps a buffer after [`TcpPacket::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>> {
        let packet = TcpPacket::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// At least 20 octets (`Truncated`); Data Offset ≥ 5 and the header
    /// within the buffer (`BadLength`).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = self.header_len() as usize;
        if header_len < HEADER_LEN || header_len > len {
            return Err(Error::BadLength);
        }
        Ok(())
    }

    /// Unwraps the view, giving back the buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source Port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination Port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Sequence Number: of the first data octet, or the ISN on a SYN.
    #[inline]
    pub fn seq_number(&self) -> SeqNumber {
        SeqNumber(read_u32(self.buffer.as_ref(), field::SEQ_NUM))
    }

    /// Acknowledgment Number as stored; meaningful only when [`ack`] is set.
    ///
    /// [`ack`]: TcpPacket::ack
    #[inline]
    pub fn ack_number(&self) -> SeqNumber {
        SeqNumber(read_u32(self.buffer.as_ref(), field::ACK_NUM))
    }

    /// Header length in octets (Data Offset × 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    fn flag(&self, bit: u8) -> bool {
        self.buffer.as_ref()[field::FLAGS] & bit != 0
    }

    /// FIN: no more data from the sender.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flag(flag::FIN)
    }

    /// SYN: synchronize sequence numbers.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flag(flag::SYN)
    }

    /// RST: reset the connection.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flag(flag::RST)
    }

    /// PSH: push function.
    #[inline]
    pub fn psh(&self) -> bool {
        self.flag(flag::PSH)
    }

    /// ACK: the Acknowledgment Number is significant.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flag(flag::ACK)
    }

    /// URG: the Urgent Pointer is significant.
    #[inline]
    pub fn urg(&self) -> bool {
        self.flag(flag::URG)
    }

    /// ECE: ECN-Echo (RFC 3168 §6.1).
    #[inline]
    pub fn ece(&self) -> bool {
        self.flag(flag::ECE)
    }

    /// CWR: Congestion Window Reduced (RFC 3168 §6.1).
    #[inline]
    pub fn cwr(&self) -> bool {
        self.flag(flag::CWR)
    }

    /// Window, unscaled, as on the wire.
    #[inline]
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WIN_SIZE)
    }

    /// Checksum as stored (pseudo-header, header and data; RFC 9293 §3.1).
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Urgent Pointer: offset from the sequence number (valid with URG).
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// The options area, octets 20 up to the header length.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len() as usize]
    }

    /// An iterator over the parsed options.
    #[inline]
    pub fn options_iter(&self) -> TcpOptionsIter<'_> {
        TcpOptionsIter::new(self.options())
    }

    /// Everything after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len() as usize..]
    }

    /// Sequence space the segment occupies: data plus one each for SYN and
    /// FIN (RFC 9293 §3.4).
    #[inline]
    pub fn segment_len(&self) -> usize {
        self.payload().len() + self.syn() as usize + self.fin() as usize
    }

    #[inline]
    fn sum(&self, src: &Ipv4Addr, dst: &Ipv4Addr) -> u16 {
        let data = self.buffer.as_ref();
        checksum::combine(&[
            checksum::pseudo_header(src, dst, IpProtocol::Tcp.into(), data.len() as u32),
            checksum::data(data),
        ])
    }

    /// The RFC 1071 sum of the pseudo-header and the header (options
    /// included), without the payload: a receiver that sums the payload
    /// while copying it combines the two to verify (the payload starts at
    /// a multiple of four octets, so the sums combine as they are).
    #[inline]
    pub fn header_sum(&self, src: &Ipv4Addr, dst: &Ipv4Addr) -> u16 {
        let data = self.buffer.as_ref();
        let header = &data[..usize::from(self.header_len()).min(data.len())];
        checksum::combine(&[
            checksum::pseudo_header(src, dst, IpProtocol::Tcp.into(), data.len() as u32),
            checksum::header(header),
        ])
    }

    /// True when the checksum over pseudo-header and the whole buffer
    /// verifies (RFC 9293 §3.1). Unlike UDP, zero is not special.
    #[inline]
    pub fn verify_checksum(&self, src: &Ipv4Addr, dst: &Ipv4Addr) -> bool {
        self.sum(src, dst) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets Source Port.
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, value)
    }

    /// Sets Destination Port.
    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, value)
    }

    /// Sets Sequence Number.
    #[inline]
    pub fn set_seq_number(&mut self, value: SeqNumber) {
        write_u32(self.buffer.as_mut(), field::SEQ_NUM, value.0)
    }

    /// Sets Acknowledgment Number (the ACK bit is set separately).
    #[inline]
    pub fn set_ack_number(&mut self, value: SeqNumber) {
        write_u32(self.buffer.as_mut(), field::ACK_NUM, value.0)
    }

    /// Sets Data Offset from a length in octets (a multiple of 4, ≤ 60) and
    /// clears the reserved bits beside it.
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        debug_assert!(len % 4 == 0 && len as usize <= MAX_HEADER_LEN);
        self.buffer.as_mut()[field::DATA_OFF] = ((len / 4) & 0x0f) << 4;
    }

    fn set_flag(&mut self, bit: u8, value: bool) {
        let b = &mut self.buffer.as_mut()[field::FLAGS];
        *b = if value { *b | bit } else { *b & !bit };
    }

    /// Clears all eight control bits.
    #[inline]
    pub fn clear_flags(&mut self) {
        self.buffer.as_mut()[field::FLAGS] = 0;
    }

    /// Sets or clears FIN.
    #[inline]
    pub fn set_fin(&mut self, value: bool) {
        self.set_flag(flag::FIN, value)
    }

    /// Sets or clears SYN.
    #[inline]
    pub fn set_syn(&mut self, value: bool) {
        self.set_flag(flag::SYN, value)
    }

    /// Sets or clears RST.
    #[inline]
    pub fn set_rst(&mut self, value: bool) {
        self.set_flag(flag::RST, value)
    }

    /// Sets or clears PSH.
    #[inline]
    pub fn set_psh(&mut self, value: bool) {
        self.set_flag(flag::PSH, value)
    }

    /// Sets or clears ACK.
    #[inline]
    pub fn set_ack(&mut self, value: bool) {
        self.set_flag(flag::ACK, value)
    }

    /// Sets or clears URG.
    #[inline]
    pub fn set_urg(&mut self, value: bool) {
        self.set_flag(flag::URG, value)
    }

    /// Sets or clears ECE (RFC 3168 §6.1).
    #[inline]
    pub fn set_ece(&mut self, value: bool) {
        self.set_flag(flag::ECE, value)
    }

    /// Sets or clears CWR (RFC 3168 §6.1).
    #[inline]
    pub fn set_cwr(&mut self, value: bool) {
        self.set_flag(flag::CWR, value)
    }

    /// Sets Window, unscaled, as on the wire.
    #[inline]
    pub fn set_window_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::WIN_SIZE, value)
    }

    /// Stores a checksum as given; [`TcpPacket::fill_checksum`] computes it.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value)
    }

    /// Sets Urgent Pointer: offset from the sequence number.
    #[inline]
    pub fn set_urgent_at(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT, value)
    }

    /// Mutable options area, octets 20 up to the header length.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Mutable data: everything after the header.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len() as usize;
        &mut self.buffer.as_mut()[start..]
    }

    /// Computes and stores the checksum over the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: &Ipv4Addr, dst: &Ipv4Addr) {
        self.set_checksum(0);
        let sum = self.sum(src, dst);
        self.set_checksum(!sum);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for TcpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/// Option kinds (IANA "TCP Option Kind Numbers").
pub(crate) mod kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WS: u8 = 3;
    pub const SACK_PERM: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TS: u8 = 8;
}

/// A Timestamps option's values (RFC 7323 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpTimestamp {
    /// TSval: the sender's timestamp clock when it sent the segment.
    pub tsval: u32,
    /// TSecr: the most recent TSval received from the peer (valid with ACK).
    pub tsecr: u32,
}

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpOption<'a> {
    /// Kind 0: End of Option List (RFC 9293 §3.2).
    EndOfList,
    /// Kind 1: No-Operation, used to align what follows.
    NoOperation,
    /// Kind 2: Maximum Segment Size (RFC 9293 §3.7.1).
    MaxSegmentSize(u16),
    /// Kind 3: Window Scale shift count (RFC 7323 §2).
    WindowScale(u8),
    /// Kind 4: SACK-Permitted (RFC 2018 §2).
    SackPermitted,
    /// Kind 5: SACK blocks, (left edge, right edge) (RFC 2018 §3); unused
    /// slots are `None`, filled from the front.
    SackRange([Option<(u32, u32)>; 4]),
    /// Kind 8: Timestamps (RFC 7323 §3).
    Timestamp {
        /// TSval: the sender's timestamp clock when it sent the segment.
        tsval: u32,
        /// TSecr: the most recent TSval received from the peer (valid with
        /// ACK).
        tsecr: u32,
    },
    /// Any other kind, with the octets after its length octet.
    Unknown {
        /// The option kind.
        kind: u8,
        /// The option's data: the octets after its length octet.
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Parses the option at the front of `buffer` and returns the rest.
    ///
    /// An empty buffer is `Truncated`. A missing length octet, a length
    /// below 2 or past the buffer, or a length wrong for a known kind
    /// (MSS 4, WS 3, SACK-Permitted 2, SACK 2 + 8n with 1 ≤ n ≤ 4,
    /// Timestamps 10) is `BadOption`.
    pub fn parse(buffer: &'a [u8]) -> Result<(&'a [u8], TcpOption<'a>)> {
        let (kind, data, rest) = split_option(buffer)?;
        let option = match kind {
            kind::END => TcpOption::EndOfList,
            kind::NOP => TcpOption::NoOperation,
            kind::MSS => TcpOption::MaxSegmentSize(read_u16(data, 0)),
            kind::WS => TcpOption::WindowScale(data[0]),
            kind::SACK_PERM => TcpOption::SackPermitted,
            kind::SACK => TcpOption::SackRange(sack_blocks(data)),
            kind::TS => TcpOption::Timestamp { tsval: read_u32(data, 0), tsecr: read_u32(data, 4) },
            _ => TcpOption::Unknown { kind, data },
        };
        Ok((rest, option))
    }

    /// Octets [`TcpOption::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::SackRange(ranges) => 2 + 8 * ranges.iter().flatten().count(),
            TcpOption::Timestamp { .. } => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len().min(253),
        }
    }

    /// Writes the option at the front of `buffer`; returns octets written.
    /// Unknown data longer than a length octet can describe (253) is cut.
    ///
    /// # Panics
    /// If `buffer` is shorter than [`TcpOption::buffer_len`].
    pub fn emit(&self, buffer: &mut [u8]) -> usize {
        let len = self.buffer_len();
        match *self {
            TcpOption::EndOfList => buffer[0] = kind::END,
            TcpOption::NoOperation => buffer[0] = kind::NOP,
            TcpOption::MaxSegmentSize(mss) => {
                buffer[..2].copy_from_slice(&[kind::MSS, 4]);
                write_u16(buffer, 2, mss);
            }
            TcpOption::WindowScale(shift) => {
                buffer[..3].copy_from_slice(&[kind::WS, 3, shift]);
            }
            TcpOption::SackPermitted => buffer[..2].copy_from_slice(&[kind::SACK_PERM, 2]),
            TcpOption::SackRange(ranges) => {
                buffer[..2].copy_from_slice(&[kind::SACK, len as u8]);
                for (i, (left, right)) in ranges.iter().flatten().enumerate() {
                    write_u32(buffer, 2 + 8 * i, *left);
                    write_u32(buffer, 6 + 8 * i, *right);
                }
            }
            TcpOption::Timestamp { tsval, tsecr } => {
                buffer[..2].copy_from_slice(&[kind::TS, 10]);
                write_u32(buffer, 2, tsval);
                write_u32(buffer, 6, tsecr);
            }
            TcpOption::Unknown { kind, data } => {
                buffer[..2].copy_from_slice(&[kind, len as u8]);
                buffer[2..len].copy_from_slice(&data[..len - 2]);
            }
        }
        len
    }
}

/// The option at the front of `buffer`: its kind, its data (the octets
/// after its length octet; none for End of Option List and No-Operation,
/// which have no length octet) and what follows it. The framing and the
/// lengths the known kinds must have are checked here, once for
/// [`TcpOption::parse`] and [`TcpRepr::parse`] (which reads the fields
/// straight from the data, without building a `TcpOption`).
fn split_option(buffer: &[u8]) -> Result<(u8, &[u8], &[u8])> {
    let (&kind, rest) = buffer.split_first().ok_or(Error::Truncated)?;
    if kind == kind::END || kind == kind::NOP {
        return Ok((kind, &[], rest));
    }
    let length = *rest.first().ok_or(Error::BadOption)? as usize;
    if length < 2 || length > buffer.len() {
        return Err(Error::BadOption);
    }
    let fits = match kind {
        kind::MSS => length == 4,
        kind::WS => length == 3,
        kind::SACK_PERM => length == 2,
        kind::SACK => (10..=34).contains(&length) && (length - 2) % 8 == 0,
        kind::TS => length == 10,
        _ => true,
    };
    if !fits {
        return Err(Error::BadOption);
    }
    Ok((kind, &buffer[2..length], &buffer[length..]))
}

/// The (left edge, right edge) blocks of a SACK option's data (a whole
/// number of 8-octet blocks, at most four), filled from the front.
fn sack_blocks(data: &[u8]) -> [Option<(u32, u32)>; 4] {
    let mut ranges = [None; 4];
    for (slot, block) in ranges.iter_mut().zip(data.chunks_exact(8)) {
        *slot = Some((read_u32(block, 0), read_u32(block, 4)));
    }
    ranges
}

/// Iterates over an options area, yielding each option; stops after End of
/// Option List (which it does not yield) or after the first error (which it
/// does).
#[derive(Debug, Clone)]
pub struct TcpOptionsIter<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptionsIter<'a> {
    /// An iterator over the options area `options` (octets 20 up to the header
    /// length).
    pub fn new(options: &'a [u8]) -> TcpOptionsIter<'a> {
        TcpOptionsIter { rest: options }
    }
}

impl<'a> Iterator for TcpOptionsIter<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match TcpOption::parse(self.rest) {
            Ok((_, TcpOption::EndOfList)) => {
                self.rest = &[];
                None
            }
            Ok((rest, option)) => {
                self.rest = rest;
                Some(Ok(option))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Representation
// ---------------------------------------------------------------------------

/// The mutually exclusive control bits that consume sequence space or end a
/// connection, for code that wants one value rather than three flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TcpControl {
    /// No SYN, FIN or RST.
    #[default]
    None,
    /// SYN: synchronize sequence numbers (takes one sequence number).
    Syn,
    /// FIN: no more data from the sender (takes one sequence number).
    Fin,
    /// RST: reset the connection.
    Rst,
}

impl TcpControl {
    /// Sequence space the control bit itself takes (RFC 9293 §3.4).
    pub const fn sequence_len(self) -> usize {
        match self {
            TcpControl::Syn | TcpControl::Fin => 1,
            TcpControl::None | TcpControl::Rst => 0,
        }
    }
}

/// Largest shift count a receiver honours (RFC 7323 §2.3).
pub const MAX_WINDOW_SCALE: u8 = 14;

/// The meaning of a TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpRepr<'a> {
    /// Source Port (never zero in a parsed segment).
    pub src_port: u16,
    /// Destination Port (never zero in a parsed segment).
    pub dst_port: u16,
    /// Sequence Number: of the first data octet, or the ISN on a SYN.
    pub seq_number: SeqNumber,
    /// `Some` iff the ACK bit is set.
    pub ack_number: Option<SeqNumber>,
    /// SYN: synchronize sequence numbers.
    pub syn: bool,
    /// FIN: no more data from the sender.
    pub fin: bool,
    /// RST: reset the connection.
    pub rst: bool,
    /// PSH: push function.
    pub psh: bool,
    /// URG: the urgent pointer is significant.
    pub urg: bool,
    /// ECE: ECN-Echo (RFC 3168 §6.1).
    pub ece: bool,
    /// CWR: Congestion Window Reduced (RFC 3168 §6.1).
    pub cwr: bool,
    /// Window as on the wire, before scaling.
    pub window_len: u16,
    /// Urgent Pointer: offset from the sequence number (meaningful with URG).
    pub urgent_pointer: u16,
    /// MSS option; parsed only on SYN segments (RFC 9293 §3.7.1).
    pub max_seg_size: Option<u16>,
    /// Window Scale shift; parsed only on SYN segments and capped at 14
    /// (RFC 7323 §2.2, §2.3).
    pub window_scale: Option<u8>,
    /// SACK-Permitted; parsed only on SYN segments (RFC 2018 §2).
    pub sack_permitted: bool,
    /// SACK blocks (left edge, right edge), filled from the front.
    pub sack_ranges: [Option<(SeqNumber, SeqNumber)>; 4],
    /// Timestamps option (RFC 7323 §3), if present.
    pub timestamp: Option<TcpTimestamp>,
    /// The segment's data, after the header.
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// The control bits as the header's flags octet (RFC 9293 §3.1, RFC
    /// 3168 §6.1); ACK is set iff there is an acknowledgment number.
    #[inline]
    pub(crate) fn flags_byte(&self) -> u8 {
        let bit = |on: bool, flag: u8| if on { flag } else { 0 };
        bit(self.fin, flag::FIN)
            | bit(self.syn, flag::SYN)
            | bit(self.rst, flag::RST)
            | bit(self.psh, flag::PSH)
            | bit(self.ack_number.is_some(), flag::ACK)
            | bit(self.urg, flag::URG)
            | bit(self.ece, flag::ECE)
            | bit(self.cwr, flag::CWR)
    }

    /// Parses a segment. Errors: lengths as [`TcpPacket::check_len`];
    /// `BadChecksum` with `Verify`; `Malformed` for port 0 at either end;
    /// `BadOption` for a malformed option (see [`TcpOption::parse`]).
    /// Unknown options are skipped. MSS, Window Scale and SACK-Permitted are
    /// ignored on segments without SYN, where they have no meaning.
    /// Combinations of control bits are not judged here: that is the
    /// connection's business (RFC 9293 §3.10.7).
    #[inline]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src_addr: &Ipv4Addr,
        dst_addr: &Ipv4Addr,
        checksum: ChecksumMode,
    ) -> Result<TcpRepr<'a>> {
        packet.check_len()?;
        if checksum.verify() && !packet.verify_checksum(src_addr, dst_addr) {
            return Err(Error::BadChecksum);
        }
        if packet.src_port() == 0 || packet.dst_port() == 0 {
            return Err(Error::Malformed);
        }
        let buffer: &'a T = packet.buffer;
        let buffer: &'a [u8] = buffer.as_ref();
        let header_len = packet.header_len() as usize;
        let syn = packet.syn();

        // Built where it is returned (the `Result`), then completed: a
        // segment built apart and then moved into the `Result` was copied
        // field by field.
        let mut parsed = Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack().then(|| packet.ack_number()),
            syn,
            fin: packet.fin(),
            rst: packet.rst(),
            psh: packet.psh(),
            urg: packet.urg(),
            ece: packet.ece(),
            cwr: packet.cwr(),
            window_len: packet.window_len(),
            urgent_pointer: packet.urgent_at(),
            max_seg_size: None,
            window_scale: None,
            sack_permitted: false,
            sack_ranges: [None; 4],
            timestamp: None,
            payload: &buffer[header_len..],
        });
        let Ok(repr) = &mut parsed else { unreachable!("built just above") };
        let options = &buffer[HEADER_LEN..header_len];
        // RFC 7323 Appendix A: the layout nearly every segment of a
        // connection carries, NOP NOP Timestamps, read at fixed offsets
        // (Linux tcp_parse_aligned_timestamp) instead of walking the list.
        if let [kind::NOP, kind::NOP, kind::TS, 10, ts @ ..] = options {
            if ts.len() == 8 {
                let tsval = u32::from_be_bytes([ts[0], ts[1], ts[2], ts[3]]);
                let tsecr = u32::from_be_bytes([ts[4], ts[5], ts[6], ts[7]]);
                repr.timestamp = Some(TcpTimestamp { tsval, tsecr });
                return parsed;
            }
        }
        // Any other layout (a SYN's, SACK blocks): option by option, up to
        // End of Option List; the first malformed one fails the segment.
        let mut rest = options;
        while !rest.is_empty() {
            let (kind, data, tail) = split_option(rest)?;
            rest = tail;
            match kind {
                kind::END => break,
                kind::MSS if syn => repr.max_seg_size = Some(read_u16(data, 0)),
                kind::WS if syn => repr.window_scale = Some(data[0].min(MAX_WINDOW_SCALE)),
                kind::SACK_PERM if syn => repr.sack_permitted = true,
                kind::SACK => {
                    repr.sack_ranges = sack_blocks(data).map(|r| r.map(|(l, r)| (SeqNumber(l), SeqNumber(r))))
                }
                kind::TS => repr.timestamp = Some(TcpTimestamp { tsval: read_u32(data, 0), tsecr: read_u32(data, 4) }),
                _ => {}
            }
        }
        parsed
    }

    /// The single control bit, if any: RST over SYN over FIN when a parsed
    /// segment carries several.
    pub fn control(&self) -> TcpControl {
        if self.rst {
            TcpControl::Rst
        } else if self.syn {
            TcpControl::Syn
        } else if self.fin {
            TcpControl::Fin
        } else {
            TcpControl::None
        }
    }

    /// Sets SYN, FIN and RST from one control value.
    pub fn set_control(&mut self, control: TcpControl) {
        self.syn = control == TcpControl::Syn;
        self.fin = control == TcpControl::Fin;
        self.rst = control == TcpControl::Rst;
    }

    /// Sequence space the segment occupies: data plus SYN plus FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len() + self.syn as usize + self.fin as usize
    }

    /// Octets of options other than SACK blocks, and how many SACK blocks
    /// fit beside them in the 40-octet options area.
    ///
    /// Layout, as Linux writes it (`tcp_options_write`), so every option
    /// after the MSS is 4-aligned: `MSS`, then `SACK-Permitted Timestamps`
    /// or `NOP NOP Timestamps` or `NOP NOP SACK-Permitted`, then `NOP WS`,
    /// then `NOP NOP SACK`. Those before SACK total at most 20 octets, so
    /// they always fit; SACK blocks past the room left are dropped from the
    /// end (RFC 2018 §4: the first block must be the most recent, so the
    /// front is what matters). With Timestamps that leaves 3 blocks.
    #[inline]
    fn options_layout(&self) -> (usize, usize) {
        // Nearly every segment of a connection: Timestamps alone, or no
        // option at all (asked three times for every segment built).
        if self.max_seg_size.is_none() && self.window_scale.is_none() && self.sack_ranges[0].is_none() {
            let len = if self.timestamp.is_some() {
                12
            } else if self.sack_permitted {
                4
            } else {
                0
            };
            return (len, 0);
        }
        self.options_layout_full()
    }

    /// [`TcpRepr::options_layout`] for any mix of options.
    fn options_layout_full(&self) -> (usize, usize) {
        let mut len = 0;
        if self.max_seg_size.is_some() {
            len += 4;
        }
        if self.timestamp.is_some() {
            len += 12;
        } else if self.sack_permitted {
            len += 4;
        }
        if self.window_scale.is_some() {
            len += 4;
        }
        // Blocks fill the array from the front: most segments have none.
        let wanted = if self.sack_ranges[0].is_none() { 0 } else { self.sack_ranges.iter().flatten().count() };
        let room = MAX_OPTIONS_LEN.saturating_sub(len + 4) / 8;
        (len, wanted.min(room))
    }

    /// Header length in octets: 20 plus options (already 4-aligned), ≤ 60.
    #[inline]
    pub fn header_len(&self) -> usize {
        self.layout().0
    }

    /// Header length and the number of SACK blocks that fit.
    #[inline]
    fn layout(&self) -> (usize, usize) {
        let (len, sacks) = self.options_layout();
        let sack_len = if sacks > 0 { 4 + 8 * sacks } else { 0 };
        (HEADER_LEN + len + sack_len, sacks)
    }

    /// Header plus payload.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes header, options, payload and (with `Verify`) checksum.
    /// The checksum covers `buffer_len()` octets: size the buffer to exactly
    /// that, as the receiver will checksum the whole IP payload.
    ///
    /// Options are written exactly as the repr holds them, SYN or not; it is
    /// the caller's job to offer MSS/WS/SACK-Permitted only on SYN.
    ///
    /// # Panics
    /// If the buffer is shorter than [`TcpRepr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut TcpPacket<&mut T>,
        src_addr: &Ipv4Addr,
        dst_addr: &Ipv4Addr,
        checksum: ChecksumMode,
    ) {
        let payload = self.payload;
        let fill = |buf: &mut [u8]| match checksum {
            ChecksumMode::Verify => Some(checksum::copy(buf, payload)),
            ChecksumMode::Ignore => {
                buf.copy_from_slice(payload);
                None
            }
        };
        self.emit_with(packet, src_addr, dst_addr, payload.len(), fill, checksum)
    }

    /// Zero-copy emit: as [`TcpRepr::emit`] but `self.payload` is ignored;
    /// `fill` is handed the `payload_len` octets after the header to write
    /// in place (e.g. straight from a send buffer), then the checksum is
    /// computed over header plus those octets. `fill` may return the RFC
    /// 1071 sum of what it wrote (see [`checksum::copy`]), which spares the
    /// checksum a second pass over the payload.
    ///
    /// # Panics
    /// If the buffer is shorter than `header_len() + payload_len`.
    pub fn emit_with<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut TcpPacket<&mut T>,
        src_addr: &Ipv4Addr,
        dst_addr: &Ipv4Addr,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]) -> Option<u16>,
        checksum: ChecksumMode,
    ) {
        let (header_len, sacks) = self.layout();
        // The fixed header (RFC 9293 §3.1) built whole and stored with one
        // copy, checksum zero until it is known.
        let mut h = [0u8; HEADER_LEN];
        write_u16(&mut h, field::SRC_PORT, self.src_port);
        write_u16(&mut h, field::DST_PORT, self.dst_port);
        write_u32(&mut h, field::SEQ_NUM, self.seq_number.0);
        write_u32(&mut h, field::ACK_NUM, self.ack_number.unwrap_or_default().0);
        h[field::DATA_OFF] = ((header_len / 4) as u8 & 0x0f) << 4;
        h[field::FLAGS] = self.flags_byte();
        write_u16(&mut h, field::WIN_SIZE, self.window_len);
        write_u16(&mut h, field::URGENT, self.urgent_pointer);
        packet.buffer.as_mut()[..HEADER_LEN].copy_from_slice(&h);
        self.emit_options(packet.options_mut(), sacks);

        let buffer = packet.buffer.as_mut();
        let end = header_len + payload_len;
        let payload_sum = fill(&mut buffer[header_len..end]);
        if checksum.verify() {
            // The payload starts at a multiple of four octets, so its sum
            // combines with the header's (RFC 1071 §2(C)).
            let payload_sum = payload_sum.unwrap_or_else(|| checksum::data(&buffer[header_len..end]));
            let sum = checksum::combine(&[
                checksum::pseudo_header(src_addr, dst_addr, IpProtocol::Tcp.into(), end as u32),
                checksum::header(&buffer[..header_len]),
                payload_sum,
            ]);
            write_u16(buffer, field::CHECKSUM, !sum);
        }
    }

    /// Writes the options area laid out by [`TcpRepr::options_layout`],
    /// which left room for `sacks` SACK blocks.
    #[inline]
    fn emit_options(&self, mut buf: &mut [u8], sacks: usize) {
        // The option block of nearly every segment of a connection: NOP,
        // NOP, Timestamps (RFC 7323 Appendix A layout), written at once.
        if let (Some(ts), None, None, false, 0) =
            (self.timestamp, self.max_seg_size, self.window_scale, self.sack_permitted, sacks)
        {
            if let Some(block) = buf.get_mut(..12) {
                block[..4].copy_from_slice(&[kind::NOP, kind::NOP, kind::TS, 10]);
                write_u32(block, 4, ts.tsval);
                write_u32(block, 8, ts.tsecr);
                if buf.len() > 12 {
                    buf[12..].fill(kind::END);
                }
                return;
            }
        }
        let mut put = |option: TcpOption<'_>| {
            let n = option.emit(buf);
            buf = &mut core::mem::take(&mut buf)[n..];
        };
        if let Some(mss) = self.max_seg_size {
            put(TcpOption::MaxSegmentSize(mss));
        }
        match (self.timestamp, self.sack_permitted) {
            (Some(ts), sack_permitted) => {
                if sack_permitted {
                    put(TcpOption::SackPermitted);
                } else {
                    put(TcpOption::NoOperation);
                    put(TcpOption::NoOperation);
                }
                put(TcpOption::Timestamp { tsval: ts.tsval, tsecr: ts.tsecr });
            }
            (None, true) => {
                put(TcpOption::NoOperation);
                put(TcpOption::NoOperation);
                put(TcpOption::SackPermitted);
            }
            (None, false) => {}
        }
        if let Some(shift) = self.window_scale {
            put(TcpOption::NoOperation);
            put(TcpOption::WindowScale(shift));
        }
        if sacks > 0 {
            let mut ranges = [None; 4];
            for (slot, (l, r)) in ranges.iter_mut().zip(self.sack_ranges.iter().flatten()).take(sacks) {
                *slot = Some((l.0, r.0));
            }
            put(TcpOption::NoOperation);
            put(TcpOption::NoOperation);
            put(TcpOption::SackRange(ranges));
        }
        // Our layout is 4-aligned already; anything left is End of List.
        buf.fill(kind::END);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 100);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);

    /// A SYN as Linux sends it: 192.168.1.100:40000 -> 192.168.1.1:80,
    /// options `MSS 1460, SACK-Permitted, Timestamps, NOP, WS 7` (20
    /// octets). Checksum computed independently of this crate.
    const SYN: [u8; 40] = [
        0x9c, 0x40, 0x00, 0x50, 0x1c, 0x46, 0x2f, 0x3a, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x0a, 0xaf,
        0x00, 0x00, // header
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
        0x04, 0x02, // SACK-Permitted
        0x08, 0x0a, 0x00, 0x12, 0xd6, 0x87, 0x00, 0x00, 0x00, 0x00, // TS
        0x01, // NOP
        0x03, 0x03, 0x07, // WS 7
    ];

    fn syn_repr() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq_number: SeqNumber(0x1c46_2f3a),
            ack_number: None,
            syn: true,
            window_len: 64240,
            max_seg_size: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some(TcpTimestamp { tsval: 0x0012_d687, tsecr: 0 }),
            ..TcpRepr::default()
        }
    }

    #[test]
    fn known_syn() {
        let p = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!(p.src_port(), 40000);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.seq_number(), SeqNumber(0x1c46_2f3a));
        assert_eq!(p.ack_number(), SeqNumber(0));
        assert_eq!(p.header_len(), 40);
        assert!(p.syn());
        assert!(!p.ack() && !p.fin() && !p.rst() && !p.psh());
        assert!(!p.urg() && !p.ece() && !p.cwr());
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.checksum(), 0x0aaf);
        assert_eq!(p.urgent_at(), 0);
        assert_eq!(p.options(), &SYN[20..]);
        assert_eq!(p.payload(), &[] as &[u8]);
        assert_eq!(p.segment_len(), 1);
        assert!(p.verify_checksum(&SRC, &DST));
        let options: Vec<_> = p.options_iter().collect::<Result<_>>().unwrap();
        assert_eq!(
            options,
            [
                TcpOption::MaxSegmentSize(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamp { tsval: 0x0012_d687, tsecr: 0 },
                TcpOption::NoOperation,
                TcpOption::WindowScale(7),
            ]
        );

        let repr = TcpRepr::parse(&p, &SRC, &DST, ChecksumMode::Verify).unwrap();
        assert_eq!(repr, syn_repr());
        assert_eq!(repr.control(), TcpControl::Syn);
        assert_eq!(repr.segment_len(), 1);

        // Our option layout is Linux's, so re-emitting is byte-identical.
        assert_eq!(repr.header_len(), 40);
        let mut out = [0u8; 40];
        repr.emit(&mut TcpPacket::new_unchecked(&mut out[..]), &SRC, &DST, ChecksumMode::Verify);
        assert_eq!(out, SYN);
    }

    #[test]
    fn aligned_timestamps_fast_path_matches_the_general_parser() {
        // NOP NOP TS (the aligned layout, read at fixed offsets) and
        // TS NOP NOP (walked by the iterator) carry the same values.
        let ts = [0x08, 0x0a, 0, 0, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef];
        let mut parsed = Vec::new();
        for options in [[&[1u8, 1][..], &ts[..]].concat(), [&ts[..], &[1u8, 1][..]].concat()] {
            let mut b = [0u8; 32 + 5];
            b[..20].copy_from_slice(&SYN[..20]);
            b[20..32].copy_from_slice(&options);
            b[32..].copy_from_slice(b"hello");
            let mut p = TcpPacket::new_unchecked(&mut b[..]);
            p.set_header_len(32);
            p.set_syn(false);
            p.set_ack(true);
            p.fill_checksum(&SRC, &DST);
            let p = TcpPacket::new_checked(&b[..]).unwrap();
            let repr = TcpRepr::parse(&p, &SRC, &DST, ChecksumMode::Verify).unwrap();
            assert_eq!(repr.payload, b"hello");
            parsed.push(TcpRepr { payload: &[], ..repr });
        }
        assert_eq!(parsed[0].timestamp, Some(TcpTimestamp { tsval: 0x1234, tsecr: 0xdead_beef }));
        assert_eq!(parsed[0], parsed[1]);
    }

    #[test]
    fn syn_only_options_ignored_without_syn() {
        let mut b = SYN;
        let mut p = TcpPacket::new_unchecked(&mut b[..]);
        p.set_syn(false);
        p.set_ack(true);
        p.fill_checksum(&SRC, &DST);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        let repr = TcpRepr::parse(&p, &SRC, &DST, ChecksumMode::Verify).unwrap();
        assert_eq!(repr.max_seg_size, None);
        assert_eq!(repr.window_scale, None);
        assert!(!repr.sack_permitted);
        assert_eq!(repr.ack_number, Some(SeqNumber(0)));
        assert!(repr.timestamp.is_some(), "timestamps are valid on any segment");
    }

    #[test]
    fn window_scale_capped_at_14() {
        let mut b = SYN;
        b[39] = 15;
        let mut p = TcpPacket::new_unchecked(&mut b[..]);
        p.fill_checksum(&SRC, &DST);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        let repr = TcpRepr::parse(&p, &SRC, &DST, ChecksumMode::Verify).unwrap();
        assert_eq!(repr.window_scale, Some(14));
    }

    #[test]
    fn ack_with_timestamps_and_sack() {
        let repr = TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq_number: SeqNumber(1000),
            ack_number: Some(SeqNumber(0xffff_fff0)),
            psh: true,
            ece: true,
            cwr: true,
            urg: true,
            urgent_pointer: 3,
            window_len: 512,
            sack_ranges: [Some((SeqNumber(10), SeqNumber(20))), Some((SeqNumber(30), SeqNumber(40))), None, None],
            timestamp: Some(TcpTimestamp { tsval: 7, tsecr: 9 }),
            payload: b"abc",
            ..TcpRepr::default()
        };
        assert_eq!(repr.header_len(), 20 + 12 + 4 + 16);
        let mut buf = vec![0xeeu8; repr.buffer_len()];
        repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), &DST, &SRC, ChecksumMode::Verify);
        assert_eq!(buf[12], 13 << 4);
        assert_eq!(buf[13], 0x80 | 0x40 | 0x20 | 0x10 | 0x08);
        assert_eq!(
            &buf[20..52],
            &[
                1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, // NOP NOP TS
                1, 1, 5, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 40 // NOP NOP SACK
            ]
        );
        assert_eq!(&buf[52..], b"abc");
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(p.segment_len(), 3);
        assert_eq!(TcpRepr::parse(&p, &DST, &SRC, ChecksumMode::Verify).unwrap(), repr);
        // Same bytes through the in-place path.
        let mut buf2 = vec![0u8; repr.buffer_len()];
        repr.emit_with(
            &mut TcpPacket::new_unchecked(&mut buf2[..]),
            &DST,
            &SRC,
            3,
            |b| {
                b.copy_from_slice(b"abc");
                None
            },
            ChecksumMode::Verify,
        );
        assert_eq!(buf, buf2);
    }

    #[test]
    fn sack_blocks_dropped_to_fit() {
        let block = |n: u32| Some((SeqNumber(n), SeqNumber(n + 1)));
        let mut repr = TcpRepr {
            src_port: 1,
            dst_port: 2,
            ack_number: Some(SeqNumber(1)),
            sack_ranges: [block(100), block(200), block(300), block(400)],
            ..TcpRepr::default()
        };
        // Alone, four blocks fit: 4 + 32 = 36 octets.
        assert_eq!(repr.header_len(), 56);
        // With timestamps only three do (RFC 2018 §3).
        repr.timestamp = Some(TcpTimestamp::default());
        assert_eq!(repr.header_len(), 20 + 12 + 4 + 24);
        // Everything at once (not a real segment): two remain.
        repr.max_seg_size = Some(536);
        repr.window_scale = Some(0);
        repr.sack_permitted = true;
        repr.syn = true;
        assert_eq!(repr.header_len(), 20 + 4 + 12 + 4 + 4 + 16);
        assert!(repr.header_len() <= MAX_HEADER_LEN);
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), &SRC, &DST, ChecksumMode::Verify);
        let parsed =
            TcpRepr::parse(&TcpPacket::new_checked(&buf[..]).unwrap(), &SRC, &DST, ChecksumMode::Verify).unwrap();
        // The first (most recent) blocks survive.
        assert_eq!(parsed.sack_ranges, [block(100), block(200), None, None]);
    }

    #[test]
    fn options_parse_each_kind_and_errors() {
        assert_eq!(TcpOption::parse(&[]), Err(Error::Truncated));
        assert_eq!(TcpOption::parse(&[0, 9]), Ok((&[9u8][..], TcpOption::EndOfList)));
        assert_eq!(TcpOption::parse(&[1]), Ok((&[][..], TcpOption::NoOperation)));
        assert_eq!(TcpOption::parse(&[2, 4, 0x02, 0x18, 7]), Ok((&[7u8][..], TcpOption::MaxSegmentSize(536))));
        assert_eq!(
            TcpOption::parse(&[30, 4, 0xaa, 0xbb]),
            Ok((&[][..], TcpOption::Unknown { kind: 30, data: &[0xaa, 0xbb] }))
        );
        assert_eq!(
            TcpOption::parse(&[5, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
            Ok((&[][..], TcpOption::SackRange([Some((1, 2)), None, None, None])))
        );
        for bad in [
            &[2][..],                            // length octet missing
            &[30, 1],                            // length < 2
            &[30, 0],                            // length 0 would loop
            &[30, 5, 0, 0],                      // past the end
            &[2, 3, 0],                          // MSS with wrong length
            &[3, 4, 0, 0],                       // WS with wrong length
            &[4, 3, 0],                          // SACK-Permitted with wrong length
            &[8, 9, 0, 0, 0, 0, 0, 0, 0],        // TS with wrong length
            &[5, 2],                             // SACK with no block
            &[5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0], // SACK not a multiple of 8
        ] {
            assert_eq!(TcpOption::parse(bad), Err(Error::BadOption), "{bad:?}");
        }
        // 5 SACK blocks cannot fit in a real header and are rejected.
        let mut five = vec![5u8, 42];
        five.extend_from_slice(&[0; 40]);
        assert_eq!(TcpOption::parse(&five), Err(Error::BadOption));
    }

    #[test]
    fn option_emit_round_trips() {
        let options = [
            TcpOption::EndOfList,
            TcpOption::NoOperation,
            TcpOption::MaxSegmentSize(1460),
            TcpOption::WindowScale(14),
            TcpOption::SackPermitted,
            TcpOption::SackRange([Some((1, 2)), Some((3, 4)), Some((5, 6)), None]),
            TcpOption::Timestamp { tsval: 1, tsecr: 2 },
            TcpOption::Unknown { kind: 254, data: &[1, 2, 3] },
        ];
        for option in options {
            let mut buf = [0xffu8; 40];
            let n = option.emit(&mut buf);
            assert_eq!(n, option.buffer_len());
            let (rest, parsed) = TcpOption::parse(&buf[..n]).unwrap();
            assert!(rest.is_empty());
            assert_eq!(parsed, option);
        }
    }

    #[test]
    fn packet_error_paths() {
        assert_eq!(TcpPacket::new_checked(&SYN[..19]).unwrap_err(), Error::Truncated);
        let mut b = SYN;
        b[12] = 0x40; // data offset 4
        assert_eq!(TcpPacket::new_checked(&b[..]).unwrap_err(), Error::BadLength);
        b[12] = 0xb0; // data offset 11 = 44 > 40
        assert_eq!(TcpPacket::new_checked(&b[..]).unwrap_err(), Error::BadLength);
        let p = TcpPacket::new_unchecked(&SYN[..30]);
        assert_eq!(TcpRepr::parse(&p, &SRC, &DST, ChecksumMode::Ignore).unwrap_err(), Error::BadLength);

        let p = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, &SRC, &Ipv4Addr::new(192, 168, 1, 2), ChecksumMode::Verify).unwrap_err(),
            Error::BadChecksum,
            "pseudo-header addresses are covered"
        );

        for at in [0, 2] {
            let mut b = SYN;
            b[at] = 0;
            b[at + 1] = 0;
            let p = TcpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(TcpRepr::parse(&p, &SRC, &DST, ChecksumMode::Ignore).unwrap_err(), Error::Malformed);
        }

        let mut b = SYN;
        b[36] = 30; // the NOP becomes an unknown kind whose length 4 covers WS
        b[37] = 4;
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        let repr = TcpRepr::parse(&p, &SRC, &DST, ChecksumMode::Ignore).unwrap();
        assert_eq!(repr.window_scale, None, "unknown option skipped by its length");
        b[37] = 5; // now it runs past the header
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p, &SRC, &DST, ChecksumMode::Ignore).unwrap_err(), Error::BadOption);
    }

    #[test]
    fn end_of_list_stops_option_parsing() {
        let mut b = SYN;
        b[36] = 0; // EOL where the NOP was: WS is padding now
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.options_iter().count(), 3);
        let repr = TcpRepr::parse(&p, &SRC, &DST, ChecksumMode::Ignore).unwrap();
        assert_eq!(repr.window_scale, None);
        assert_eq!(repr.max_seg_size, Some(1460));
    }

    #[test]
    fn seq_number_arithmetic() {
        let a = SeqNumber(u32::MAX - 1);
        let b = a + 4;
        assert_eq!(b, SeqNumber(2));
        assert_eq!(b - 4, a);
        assert_eq!(b - a, 4);
        assert_eq!(b.checked_sub(a), Some(4));
        assert_eq!(a.checked_sub(b), None);
        assert_eq!(a - b, (u32::MAX - 3) as usize, "the long way round");
        assert!(a.lt(b) && a.le(b) && b.gt(a) && b.ge(a));
        assert!(a < b);
        assert_eq!(a.partial_cmp(&b), Some(Ordering::Less));
        assert_eq!(a.partial_cmp(&SeqNumber(a.0)), Some(Ordering::Equal));
        assert_eq!(b.partial_cmp(&a), Some(Ordering::Greater));
        assert!(!a.lt(a) && a.le(a) && a.ge(a));
        assert_eq!(a.max(b), b);
        assert_eq!(b.min(a), a);
        let mut c = a;
        c += 2;
        assert_eq!(c, SeqNumber(0));
        c -= 1;
        assert_eq!(c, SeqNumber(u32::MAX));
        assert_eq!(SeqNumber(42).to_string(), "42");
        // Exactly 2^31 apart each precedes the other: the one point where
        // the modular order is not antisymmetric (as in BSD and smoltcp).
        assert!(SeqNumber(0).lt(SeqNumber(1 << 31)));
        assert!(SeqNumber(1 << 31).lt(SeqNumber(0)));
    }

    #[test]
    fn control() {
        let mut r = syn_repr();
        r.set_control(TcpControl::Fin);
        assert!(r.fin && !r.syn && !r.rst);
        assert_eq!(r.control(), TcpControl::Fin);
        assert_eq!(TcpControl::Fin.sequence_len(), 1);
        assert_eq!(TcpControl::Rst.sequence_len(), 0);
        r.rst = true;
        assert_eq!(r.control(), TcpControl::Rst);
    }
}
