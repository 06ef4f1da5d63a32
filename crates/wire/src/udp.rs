//! UDP (RFC 768): the datagram view [`UdpPacket`] and its header meaning
//! [`UdpRepr`].
//!
//! ```text
//!  0      7 8     15 16    23 24    31
//! +--------+--------+--------+--------+
//! |     Source      |   Destination   |
//! |      Port       |      Port       |
//! +--------+--------+--------+--------+
//! |     Length      |    Checksum     |
//! +--------+--------+--------+--------+
//! |          data octets ...
//! ```
//!
//! The checksum covers the IPv4 pseudo-header, the UDP header and the data.
//! Over IPv4 a transmitted checksum of zero means "none computed" (RFC 768),
//! so a computed zero is sent as `0xffff`, its ones'-complement twin.

use crate::checksum::{self, ChecksumMode};
use crate::field::{read_u16, write_u16};
use crate::ipv4::IpProtocol;
use crate::{Error, Ipv4Addr, Result};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

/// A zero-copy view of a UDP datagram. The buffer is the IP payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps a buffer without checking; accessors may panic on a short one.
    pub const fn new_unchecked(buffer: T) -> UdpPacket<T> {
        UdpPacket { buffer }
    }

    /// Wraps a buffer after [`UdpPacket::check_len`].
    pub fn new_checked(buffer: T) -> Result<UdpPacket<T>> {
        let packet = UdpPacket::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// At least 8 octets (`Truncated`), and 8 ≤ Length ≤ buffer length
    /// (`BadLength`). A buffer longer than Length is accepted; the excess is
    /// not part of the datagram.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let field_len = self.len() as usize;
        if field_len < HEADER_LEN || field_len > len {
            return Err(Error::BadLength);
        }
        Ok(())
    }

    /// Unwraps the view, giving back the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source Port; zero when no reply is expected (RFC 768).
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination Port.
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length: header plus data, in octets.
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// True when the Length field says there is no data (not whether the
    /// buffer is empty).
    pub fn is_empty(&self) -> bool {
        self.len() as usize <= HEADER_LEN
    }

    /// Checksum as stored; zero means none was computed (RFC 768).
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The data: octets 8 up to Length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.len() as usize]
    }

    /// The sum of pseudo-header, header and data up to Length.
    fn sum(&self, src: &Ipv4Addr, dst: &Ipv4Addr) -> u16 {
        let len = self.len();
        checksum::combine(&[
            checksum::pseudo_header(src, dst, IpProtocol::Udp.into(), len as u32),
            checksum::data(&self.buffer.as_ref()[..len as usize]),
        ])
    }

    /// True when the checksum verifies, or is zero ("none", RFC 768).
    pub fn verify_checksum(&self, src: &Ipv4Addr, dst: &Ipv4Addr) -> bool {
        self.checksum() == 0 || self.sum(src, dst) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets Source Port.
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, value)
    }

    /// Sets Destination Port.
    pub fn set_dst_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, value)
    }

    /// Sets Length: header plus data, in octets.
    pub fn set_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, value)
    }

    /// Stores a checksum as given (zero: none); [`UdpPacket::fill_checksum`]
    /// computes it.
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value)
    }

    /// Computes and stores the checksum over the Length octets. A computed
    /// zero is stored as `0xffff`: zero on the wire means "no checksum".
    pub fn fill_checksum(&mut self, src: &Ipv4Addr, dst: &Ipv4Addr) {
        self.set_checksum(0);
        let checksum = !self.sum(src, dst);
        self.set_checksum(if checksum == 0 { 0xffff } else { checksum });
    }

    /// Mutable data, octets 8 up to Length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for UdpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The meaning of a UDP header; the data stays in the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source Port; zero when no reply is expected (RFC 768).
    pub src_port: u16,
    /// Destination Port (never zero in a parsed header).
    pub dst_port: u16,
}

impl UdpRepr {
    /// Validates lengths (as [`UdpPacket::check_len`]), with `Verify` the
    /// checksum (`BadChecksum`), and a destination port of zero (`Malformed`:
    /// nothing can listen there). A source port of zero is legal ("no reply
    /// expected", RFC 768). Never panics.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &UdpPacket<&T>,
        src_addr: &Ipv4Addr,
        dst_addr: &Ipv4Addr,
        checksum: ChecksumMode,
    ) -> Result<UdpRepr> {
        packet.check_len()?;
        // Checksum first: a corrupted port should count as corruption.
        if checksum.verify() && !packet.verify_checksum(src_addr, dst_addr) {
            return Err(Error::BadChecksum);
        }
        if packet.dst_port() == 0 {
            return Err(Error::Malformed);
        }
        Ok(UdpRepr { src_port: packet.src_port(), dst_port: packet.dst_port() })
    }

    /// Octets of the UDP header: always 8.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus `payload_len` octets.
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Writes ports and Length (`8 + payload_len`, saturating at 65535) and
    /// zeroes the checksum.
    ///
    /// # Panics
    /// If the buffer is shorter than 8 octets.
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut UdpPacket<&mut T>,
        payload_len: usize,
    ) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        let len = HEADER_LEN.saturating_add(payload_len);
        packet.set_len(u16::try_from(len).unwrap_or(u16::MAX));
        packet.set_checksum(0);
    }

    /// Zero-copy emit: writes the header, hands `emit_payload` the
    /// `payload_len` data octets to fill in place, then computes the checksum
    /// (`Verify`) or leaves it zero, meaning "none" (`Ignore`).
    ///
    /// # Panics
    /// If the buffer is shorter than `8 + payload_len` octets.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut UdpPacket<&mut T>,
        src_addr: &Ipv4Addr,
        dst_addr: &Ipv4Addr,
        payload_len: usize,
        emit_payload: impl FnOnce(&mut [u8]),
        checksum: ChecksumMode,
    ) {
        self.emit_header(packet, payload_len);
        emit_payload(packet.payload_mut());
        if checksum.verify() {
            packet.fill_checksum(src_addr, dst_addr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 100);
    const DST: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);

    /// A DNS-sized query stub, 192.168.1.100:53000 -> 8.8.8.8:53, "hello".
    /// Checksum computed independently of this crate.
    const DGRAM: [u8; 13] = [0xcf, 0x08, 0x00, 0x35, 0x00, 0x0d, 0x1a, 0xa8, b'h', b'e', b'l', b'l', b'o'];

    #[test]
    fn known_datagram() {
        let p = UdpPacket::new_checked(&DGRAM[..]).unwrap();
        assert_eq!(p.src_port(), 53000);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.len(), 13);
        assert!(!p.is_empty());
        assert_eq!(p.checksum(), 0x1aa8);
        assert_eq!(p.payload(), b"hello");
        assert!(p.verify_checksum(&SRC, &DST));
        assert!(!p.verify_checksum(&SRC, &Ipv4Addr::new(8, 8, 4, 4)));
        let repr = UdpRepr::parse(&p, &SRC, &DST, ChecksumMode::Verify).unwrap();
        assert_eq!(repr, UdpRepr { src_port: 53000, dst_port: 53 });

        let mut out = [0u8; 13];
        repr.emit(
            &mut UdpPacket::new_unchecked(&mut out[..]),
            &SRC,
            &DST,
            5,
            |buf| buf.copy_from_slice(b"hello"),
            ChecksumMode::Verify,
        );
        assert_eq!(out, DGRAM);
    }

    #[test]
    fn zero_checksum_means_none() {
        let mut b = DGRAM;
        b[6] = 0;
        b[7] = 0;
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(&SRC, &DST));
        assert!(UdpRepr::parse(&p, &SRC, &DST, ChecksumMode::Verify).is_ok());

        let mut out = [0xffu8; 13];
        UdpRepr { src_port: 53000, dst_port: 53 }.emit(
            &mut UdpPacket::new_unchecked(&mut out[..]),
            &SRC,
            &DST,
            5,
            |buf| buf.copy_from_slice(b"hello"),
            ChecksumMode::Ignore,
        );
        assert_eq!(&out[6..8], &[0, 0]);
    }

    #[test]
    fn computed_zero_is_sent_as_ffff() {
        // Choose the payload word so the sum comes out 0xffff, i.e. the
        // checksum would be 0: start from checksum 0 with an empty payload
        // and add a word equal to the current checksum.
        let repr = UdpRepr { src_port: 1, dst_port: 2 };
        let mut buf = [0u8; 10];
        let mut p = UdpPacket::new_unchecked(&mut buf[..]);
        repr.emit_header(&mut p, 2);
        p.fill_checksum(&SRC, &DST);
        let c = p.checksum();
        p.payload_mut().copy_from_slice(&c.to_be_bytes());
        p.fill_checksum(&SRC, &DST);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(&SRC, &DST));
    }

    #[test]
    fn error_paths() {
        assert_eq!(UdpPacket::new_checked(&DGRAM[..7]).unwrap_err(), Error::Truncated);
        // Length field past the buffer.
        assert_eq!(UdpPacket::new_checked(&DGRAM[..12]).unwrap_err(), Error::BadLength);
        let mut b = DGRAM;
        b[5] = 7;
        assert_eq!(UdpPacket::new_checked(&b[..]).unwrap_err(), Error::BadLength);

        // Buffer longer than Length: the excess is not data.
        let mut long = DGRAM.to_vec();
        long.extend_from_slice(b"xx");
        let p = UdpPacket::new_checked(&long[..]).unwrap();
        assert_eq!(p.payload(), b"hello");
        assert!(p.verify_checksum(&SRC, &DST));

        let mut b = DGRAM;
        b[8] = b'j';
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(UdpRepr::parse(&p, &SRC, &DST, ChecksumMode::Verify).unwrap_err(), Error::BadChecksum);
        assert!(UdpRepr::parse(&p, &SRC, &DST, ChecksumMode::Ignore).is_ok());

        let mut b = DGRAM;
        b[2] = 0;
        b[3] = 0;
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(UdpRepr::parse(&p, &SRC, &DST, ChecksumMode::Ignore).unwrap_err(), Error::Malformed);

        let p = UdpPacket::new_unchecked(&DGRAM[..3]);
        assert_eq!(UdpRepr::parse(&p, &SRC, &DST, ChecksumMode::Ignore).unwrap_err(), Error::Truncated);
    }
}
