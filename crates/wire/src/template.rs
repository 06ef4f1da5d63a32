//! A connection's segment headers from a template (4.4BSD `tcp_template`):
//! the IPv4 and TCP header octets that are the same in every segment of a
//! connection (version, flags, TTL, protocol, addresses, ports, the
//! NOP NOP Timestamps option layout), laid out once together with their
//! checksum sums. A segment then costs one copy of the template, the
//! fields that change (lengths, identification, sequence and
//! acknowledgment numbers, control bits, window, timestamps) and the
//! checksums finished from the stored sums, instead of both headers built
//! field by field and summed whole.
//!
//! Only the common segment fits ([`SegmentTemplate::fits`]): no SYN, no
//! options but Timestamps, no urgent data. Everything else goes through
//! [`emit_tcp_datagram`], both headers built field by field; the two write
//! the same octets.

use crate::checksum::{self, ChecksumMode};
use crate::field::{write_u16, write_u32};
use crate::tcp::{field, kind};
use crate::{IpProtocol, Ipv4Addr, Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr};

const IP_LEN: usize = crate::ipv4::HEADER_LEN;
const TCP_LEN: usize = crate::tcp::HEADER_LEN;
/// The NOP NOP Timestamps block (RFC 7323 Appendix A layout, as
/// `TcpRepr::emit` writes it): its length, and its first four octets.
const TS_BLOCK: usize = 12;
const TS_KINDS: [u8; 4] = [kind::NOP, kind::NOP, kind::TS, 10];

/// The octets every segment of one connection shares (see the module
/// docs), for one TTL and Don't Fragment setting: both headers without
/// options.
#[derive(Debug, Clone)]
pub struct SegmentTemplate {
    /// Both headers, without options.
    bytes: [u8; IP_LEN + TCP_LEN],
    /// Sum (RFC 1071) of the IPv4 header with length, identification and
    /// checksum zero.
    ip_sum: u16,
    /// Sum of the TCP pseudo-header without its length, and of the ports.
    tcp_sum: u16,
    src_port: u16,
    dst_port: u16,
}

impl SegmentTemplate {
    /// The template of segments from `src`:`src_port` to `dst`:`dst_port`,
    /// sent with `ttl`, and Don't Fragment as `dont_frag` says (see
    /// [`tcp_ipv4_header`]).
    pub fn new(
        src: Ipv4Addr,
        src_port: u16,
        dst: Ipv4Addr,
        dst_port: u16,
        ttl: u8,
        dont_frag: bool,
    ) -> SegmentTemplate {
        let mut bytes = [0u8; IP_LEN + TCP_LEN];
        // The IPv4 header written by `Ipv4Repr::emit` itself, so the two
        // cannot drift apart; length and identification are filled later.
        let ip = tcp_ipv4_header(src, dst, ttl, 0, 0, dont_frag);
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut bytes[..IP_LEN]), ChecksumMode::Ignore);
        write_u16(&mut bytes[..IP_LEN], 2, 0);
        let tcp = &mut bytes[IP_LEN..];
        write_u16(tcp, field::SRC_PORT, src_port);
        write_u16(tcp, field::DST_PORT, dst_port);
        let ip_sum = checksum::data(&bytes[..IP_LEN]);
        let ports = checksum::data(&bytes[IP_LEN..IP_LEN + 4]);
        let tcp_sum = checksum::combine(&[checksum::pseudo_header(&src, &dst, IpProtocol::Tcp.into(), 0), ports]);
        SegmentTemplate { bytes, ip_sum, tcp_sum, src_port, dst_port }
    }

    /// The TTL the template was made for.
    pub fn ttl(&self) -> u8 {
        self.bytes[8]
    }

    /// The source address its datagrams carry.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.bytes[12], self.bytes[13], self.bytes[14], self.bytes[15])
    }

    /// The destination address its datagrams carry.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.bytes[16], self.bytes[17], self.bytes[18], self.bytes[19])
    }

    /// Whether its segments carry Don't Fragment.
    pub fn dont_frag(&self) -> bool {
        self.bytes[6] & 0x40 != 0
    }

    /// Whether `seg` can be written from this template: its ports, no SYN
    /// (which carries other options), no option but Timestamps, no urgent
    /// pointer.
    #[inline]
    pub fn fits(&self, seg: &TcpRepr<'_>) -> bool {
        seg.src_port == self.src_port
            && seg.dst_port == self.dst_port
            && !seg.syn
            && !seg.urg
            && seg.urgent_pointer == 0
            && seg.max_seg_size.is_none()
            && seg.window_scale.is_none()
            && !seg.sack_permitted
            && seg.sack_ranges[0].is_none()
    }

    /// Octets of the datagram carrying `seg` (which [`Self::fits`]).
    #[inline]
    pub fn datagram_len(&self, seg: &TcpRepr<'_>) -> usize {
        Self::header_len(seg) + seg.payload.len()
    }

    fn header_len(seg: &TcpRepr<'_>) -> usize {
        IP_LEN + TCP_LEN + if seg.timestamp.is_some() { TS_BLOCK } else { 0 }
    }

    /// Writes the datagram carrying `seg` (which [`Self::fits`]) into
    /// `buf`, exactly [`Self::datagram_len`] octets long: the same octets
    /// as `Ipv4Repr::emit` and `TcpRepr::emit` write, checksums as
    /// `checksum` says.
    ///
    /// # Panics
    /// If `buf` is not [`Self::datagram_len`] long.
    #[inline] // every segment sent: inlined into the stack's flush
    pub fn emit(&self, buf: &mut [u8], seg: &TcpRepr<'_>, ident: u16, checksum: ChecksumMode) {
        let head = Self::header_len(seg);
        let total = head + seg.payload.len();
        assert_eq!(buf.len(), total, "SegmentTemplate::emit needs the datagram's length");
        let (header, payload) = buf.split_at_mut(head);
        // A copy of fixed size: moves, not a call to memcpy.
        header[..IP_LEN + TCP_LEN].copy_from_slice(&self.bytes);
        // Lengths fit in 16 bits: a segment is at most one MSS.
        let (total, tcp_len) = (total as u16, (total - IP_LEN) as u16);
        write_u16(header, 2, total);
        write_u16(header, 4, ident);
        let ack = seg.ack_number.unwrap_or_default().0;
        let off_flags = (((head - IP_LEN) as u16 / 4) << 12) | u16::from(seg.flags_byte());
        let tcp = &mut header[IP_LEN..];
        write_u32(tcp, field::SEQ_NUM, seg.seq_number.0);
        write_u32(tcp, field::ACK_NUM, ack);
        write_u16(tcp, field::DATA_OFF, off_flags);
        write_u16(tcp, field::WIN_SIZE, seg.window_len);
        // Options and variable fields summed as values (RFC 1071 §2(B):
        // any grouping of the 16-bit words gives the same sum).
        let mut variable = u64::from(seg.seq_number.0)
            + u64::from(ack)
            + u64::from(off_flags)
            + u64::from(seg.window_len)
            + u64::from(tcp_len);
        if let Some(ts) = seg.timestamp {
            tcp[TCP_LEN..TCP_LEN + 4].copy_from_slice(&TS_KINDS);
            write_u32(tcp, TCP_LEN + 4, ts.tsval);
            write_u32(tcp, TCP_LEN + 8, ts.tsecr);
            variable += 0x0101 + 0x080a + u64::from(ts.tsval) + u64::from(ts.tsecr);
        }
        if !checksum.verify() {
            payload.copy_from_slice(seg.payload);
            return;
        }
        let payload_sum = checksum::copy(payload, seg.payload);
        let ip = checksum::fold(u64::from(self.ip_sum) + u64::from(total) + u64::from(ident));
        write_u16(header, 10, !ip);
        let tcp = checksum::fold(u64::from(self.tcp_sum) + u64::from(payload_sum) + variable);
        write_u16(&mut header[IP_LEN..], field::CHECKSUM, !tcp);
    }
}

/// The IPv4 header of a TCP segment of `tcp_len` octets, as the stack
/// sends every one: no options, and Don't Fragment when `dont_frag` (Path
/// MTU Discovery, RFC 1191: a narrower hop answers with
/// fragmentation-needed and the MSS comes down). The stack clears it only
/// on a path whose MTU a report below its floor has locked, for a router
/// to fragment.
pub fn tcp_ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, ident: u16, tcp_len: usize, dont_frag: bool) -> Ipv4Repr {
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Tcp,
        payload_len: tcp_len,
        hop_limit: ttl,
        ident,
        dont_frag,
        more_frags: false,
        frag_offset: 0,
        dscp_ecn: 0,
    }
}

/// Writes the datagram carrying any segment `seg` under IPv4 header `ip`
/// (a [`tcp_ipv4_header`] for `seg.buffer_len()` octets) into `buf`, which
/// is exactly `20 + seg.buffer_len()` long: both headers built field by
/// field ([`TcpRepr::emit`], with the payload copied and summed in one
/// pass, and [`Ipv4Repr::emit`]). Every octet is written, so `buf` need
/// not be zeroed first.
///
/// # Panics
/// If `buf` is shorter than the datagram.
pub fn emit_tcp_datagram(buf: &mut [u8], ip: &Ipv4Repr, seg: &TcpRepr<'_>, checksum: ChecksumMode) {
    seg.emit(&mut TcpPacket::new_unchecked(&mut buf[IP_LEN..]), &ip.src_addr, &ip.dst_addr, checksum);
    ip.emit(&mut Ipv4Packet::new_unchecked(buf), checksum);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SeqNumber, TcpTimestamp};
    use proptest::prelude::*;

    /// The datagram the general path writes for `seg`.
    fn generic(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ip: (u8, bool),
        ident: u16,
        seg: &TcpRepr<'_>,
        mode: ChecksumMode,
    ) -> Vec<u8> {
        let mut buf = vec![0xa5; 20 + seg.buffer_len()];
        emit_tcp_datagram(&mut buf, &tcp_ipv4_header(src, dst, ip.0, ident, seg.buffer_len(), ip.1), seg, mode);
        buf
    }

    proptest! {
        /// Byte for byte what `Ipv4Repr::emit` and `TcpRepr::emit` write,
        /// with and without checksums and timestamps, whatever the fields.
        #[test]
        fn writes_what_the_generic_emit_writes(
            src in any::<u32>(), dst in any::<u32>(), ports in any::<(u16, u16)>(), ttl in any::<u8>(),
            ident in any::<u16>(), seq in any::<u32>(), ack in proptest::option::of(any::<u32>()),
            flags in any::<(bool, bool, bool, bool, bool)>(), window in any::<u16>(),
            ts in proptest::option::of(any::<(u32, u32)>()), payload in proptest::collection::vec(any::<u8>(), 0..300),
            verify in any::<bool>(), df in any::<bool>(),
        ) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let seg = TcpRepr {
                src_port: ports.0,
                dst_port: ports.1,
                seq_number: SeqNumber(seq),
                ack_number: ack.map(SeqNumber),
                fin: flags.0,
                rst: flags.1,
                psh: flags.2,
                ece: flags.3,
                cwr: flags.4,
                window_len: window,
                timestamp: ts.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr }),
                payload: &payload,
                ..TcpRepr::default()
            };
            let mode = if verify { ChecksumMode::Verify } else { ChecksumMode::Ignore };
            let t = SegmentTemplate::new(src, ports.0, dst, ports.1, ttl, df);
            prop_assert!(t.fits(&seg));
            prop_assert_eq!((t.ttl(), t.dont_frag()), (ttl, df));
            prop_assert_eq!((t.src_addr(), t.dst_addr()), (src, dst));
            let mut buf = vec![0x5a; t.datagram_len(&seg)];
            t.emit(&mut buf, &seg, ident, mode);
            prop_assert_eq!(buf, generic(src, dst, (ttl, df), ident, &seg, mode));
        }
    }

    #[test]
    fn segments_with_other_options_or_urgent_data_do_not_fit() {
        let (a, b) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        let t = SegmentTemplate::new(a, 40000, b, 80, 64, true);
        let plain = TcpRepr { src_port: 40000, dst_port: 80, ack_number: Some(SeqNumber(1)), ..TcpRepr::default() };
        assert!(t.fits(&plain));
        let sack = [Some((SeqNumber(5), SeqNumber(9))), None, None, None];
        for seg in [
            TcpRepr { syn: true, ..plain },
            TcpRepr { max_seg_size: Some(1460), ..plain },
            TcpRepr { window_scale: Some(7), ..plain },
            TcpRepr { sack_permitted: true, ..plain },
            TcpRepr { sack_ranges: sack, ..plain },
            TcpRepr { urg: true, urgent_pointer: 3, ..plain },
            TcpRepr { urgent_pointer: 3, ..plain },
            TcpRepr { src_port: 40001, ..plain },
            TcpRepr { dst_port: 81, ..plain },
        ] {
            assert!(!t.fits(&seg), "{seg:?}");
        }
    }
}
