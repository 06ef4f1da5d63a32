#![warn(missing_docs)]
//! Packet formats for sockstack: IPv4, ICMPv4, UDP, TCP and the Internet
//! checksum.
//!
//! This crate owns the bytes on the wire and nothing else: no I/O, no clock,
//! no connection state. Each protocol module offers two layers, after the
//! shape of smoltcp's `wire` module:
//!
//! * a zero-copy *view* (`Ipv4Packet<T>`, `TcpPacket<T>`, ...) over any
//!   `T: AsRef<[u8]>`, with field accessors named as in the RFC and setters
//!   when `T: AsMut<[u8]>`. `new_checked` validates lengths once so that every
//!   accessor on the result stays in bounds; `new_unchecked` skips that for
//!   buffers the caller has just sized itself (accessors may then panic on a
//!   short buffer, exactly like slice indexing).
//! * a *representation* (`Ipv4Repr`, `TcpRepr`, ...): the parsed, validated
//!   meaning of a header. `parse` never panics, whatever the bytes; `emit`
//!   writes a header into a buffer of at least `buffer_len()` bytes.
//!
//! ```
//! use sockstack_wire::*;
//!
//! // Emit a UDP datagram inside an IPv4 header, then parse it back.
//! let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
//! let udp = UdpRepr { src_port: 5353, dst_port: 53 };
//! let ip = Ipv4Repr {
//!     src_addr: src,
//!     dst_addr: dst,
//!     next_header: IpProtocol::Udp,
//!     payload_len: udp.header_len() + 5,
//!     hop_limit: 64,
//!     ident: 1,
//!     dont_frag: true,
//!     more_frags: false,
//!     frag_offset: 0,
//!     dscp_ecn: 0,
//! };
//! let mut frame = vec![0u8; ip.buffer_len() + ip.payload_len];
//! let mut packet = Ipv4Packet::new_unchecked(&mut frame[..]);
//! ip.emit(&mut packet, ChecksumMode::Verify);
//! udp.emit(
//!     &mut UdpPacket::new_unchecked(packet.payload_mut()),
//!     &src,
//!     &dst,
//!     5,
//!     |buf| buf.copy_from_slice(b"hello"),
//!     ChecksumMode::Verify,
//! );
//!
//! let packet = Ipv4Packet::new_checked(&frame[..])?;
//! let ip = Ipv4Repr::parse(&packet, ChecksumMode::Verify)?;
//! let datagram = UdpPacket::new_checked(packet.payload())?;
//! let udp = UdpRepr::parse(&datagram, &ip.src_addr, &ip.dst_addr, ChecksumMode::Verify)?;
//! assert_eq!((udp.dst_port, datagram.payload()), (53, &b"hello"[..]));
//! # Ok::<(), Error>(())
//! ```
//!
//! Errors are deliberately coarse ([`Error`]): the stack turns them into drop
//! counters via [`Error::as_str`], it never needs more detail to decide what to
//! do with a bad packet (drop it).

// `deny`, not `forbid`: the AVX2 checksum (`checksum::avx2`) is the one
// module allowed `unsafe`, each use with its proof.
#![deny(unsafe_code)]

use core::fmt;

pub mod checksum;
pub mod icmpv4;
pub mod ipv4;
pub mod tcp;
pub mod template;
pub mod udp;

pub use checksum::ChecksumMode;
pub use icmpv4::{DstUnreachable, Icmpv4Packet, Icmpv4Repr, TimeExceeded};
pub use ipv4::{IpProtocol, Ipv4Cidr, Ipv4Packet, Ipv4Repr};
pub use std::net::Ipv4Addr;
pub use tcp::{SeqNumber, TcpControl, TcpOption, TcpPacket, TcpRepr, TcpTimestamp};
pub use template::{emit_tcp_datagram, tcp_ipv4_header, SegmentTemplate};
pub use udp::{UdpPacket, UdpRepr};

/// Why a packet could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the fixed header (or than the fixed part of
    /// a message) requires.
    Truncated,
    /// The IP version field is not 4.
    BadVersion,
    /// A length field disagrees with the buffer or with another length field.
    BadLength,
    /// The checksum does not verify.
    BadChecksum,
    /// An option is structurally malformed (length byte missing, too short,
    /// running past the header, or wrong for the option's kind).
    BadOption,
    /// Fields are individually well-formed but the combination is not valid
    /// (e.g. port 0 as a destination).
    Malformed,
    /// A well-formed message of a type or code we do not implement.
    Unsupported,
}

impl Error {
    /// Short snake_case name, stable: used as a drop-counter name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Error::Truncated => "truncated",
            Error::BadVersion => "bad_version",
            Error::BadLength => "bad_length",
            Error::BadChecksum => "bad_checksum",
            Error::BadOption => "bad_option",
            Error::Malformed => "malformed",
            Error::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for Error {}

/// The result of parsing: [`Error`] says why a packet was rejected.
pub type Result<T> = core::result::Result<T, Error>;

/// Big-endian field access that never panics on its own: callers guarantee
/// the range (checked views) or accept a panic (unchecked views).
pub(crate) mod field {
    #[inline]
    pub fn read_u16(buf: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([buf[at], buf[at + 1]])
    }

    #[inline]
    pub fn read_u32(buf: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
    }

    #[inline]
    pub fn write_u16(buf: &mut [u8], at: usize, value: u16) {
        buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn write_u32(buf: &mut [u8], at: usize, value: u32) {
        buf[at..at + 4].copy_from_slice(&value.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_snake_case_and_distinct() {
        let all = [
            Error::Truncated,
            Error::BadVersion,
            Error::BadLength,
            Error::BadChecksum,
            Error::BadOption,
            Error::Malformed,
            Error::Unsupported,
        ];
        let names: Vec<_> = all.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            names,
            ["truncated", "bad_version", "bad_length", "bad_checksum", "bad_option", "malformed", "unsupported"]
        );
        assert_eq!(Error::BadChecksum.to_string(), "bad_checksum");
    }
}
