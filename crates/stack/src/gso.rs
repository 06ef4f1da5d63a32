//! TCP segmentation offload, as Linux does it between virtual devices
//! (GSO/TSO on a veth pair, GRO on the way in): on an interface configured
//! with [`InterfaceConfig::with_gso`](crate::InterfaceConfig::with_gso), a
//! run of back-to-back segments of one connection leaves as one datagram,
//! one IPv4 and one TCP header over the run's payload. A sockstack stack
//! that receives it takes it as one segment (the merged segment Linux GRO
//! hands its TCP). A driver whose medium carries only MTU-sized datagrams
//! splits it again with [`segment`], into exactly the datagrams the stack
//! would have sent without offload.
//!
//! The connection's state machine is not involved: it sends its segments
//! one by one (RTT samples, RACK, congestion control per segment) and this
//! module only packs them. What it packs are the segments a run of full
//! new data consists of: contiguous, all but the last of one size (the
//! datagram's `gso_size`, Linux `skb_shinfo(skb)->gso_size`), and with
//! headers that differ in nothing but the sequence number.

use sockstack_wire::{
    checksum, ChecksumMode, Error, IpProtocol, Ipv4Packet, Ipv4Repr, SeqNumber, TcpPacket, TcpRepr, TcpTimestamp,
};

/// Largest datagram an offload interface builds: IPv4's total-length
/// limit (RFC 791 §3.1), Linux's `GSO_MAX_SIZE` for IPv4.
pub const GSO_MAX_SIZE: usize = 65535;

/// What a device with receive offloads says of a datagram it hands over:
/// a Linux TUN device's virtio-net header (`skb->ip_summed` and
/// `skb_shinfo(skb)->gso_size` inside the kernel). See
/// [`Stack::receive_offloaded`](crate::Stack::receive_offloaded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxOffload {
    /// The TCP or UDP checksum needs no check here: the sending kernel is
    /// this machine's and left it to the device (`VIRTIO_NET_HDR_F_NEEDS_CSUM`,
    /// `CHECKSUM_PARTIAL`: the field holds only the pseudo-header's sum), or
    /// the device checked it (`VIRTIO_NET_HDR_F_DATA_VALID`). The IPv4
    /// header's checksum is verified all the same.
    pub transport_checksum_ok: bool,
    /// `Some(n)`: a TCP datagram that packs segments of `n` payload octets
    /// under one header (`VIRTIO_NET_HDR_GSO_TCPV4`), as
    /// [`OutPacket::gso_size`](crate::OutPacket::gso_size) on the way out.
    pub gso_size: Option<u16>,
}

/// Offsets into the TCP header (RFC 9293 §3.1).
const TCP_FLAGS: usize = 13;
const FLAG_FIN: u8 = 0x01;
const FLAG_PSH: u8 = 0x08;
const FLAG_CWR: u8 = 0x80;

/// A run being packed into the datagram of its first segment, which was
/// built as it would have been sent alone; the payloads of the segments
/// that continue it are appended to that datagram.
pub(crate) struct Run {
    segments: usize,
    /// The first segment's payload length: every segment but the last has
    /// it, so the datagram splits at these boundaries.
    gso_size: usize,
    last_len: usize,
    next_seq: SeqNumber,
    /// What every later segment must repeat.
    ack: Option<SeqNumber>,
    window_len: u16,
    timestamp: Option<TcpTimestamp>,
    ece: bool,
    /// RFC 1071 sum of the payload packed so far (kept from the first
    /// extension on).
    payload_sum: u16,
    /// False once nothing may follow: the first segment cannot lead a run,
    /// or a segment with PSH (the end of what the application wrote) ended it.
    open: bool,
    /// Largest datagram to build.
    max: usize,
}

impl Run {
    /// A run led by `seg`, packed into datagrams of at most `max` octets.
    pub fn new(seg: &TcpRepr<'_>, max: usize) -> Run {
        let len = seg.payload.len();
        Run {
            segments: 1,
            gso_size: len,
            last_len: len,
            next_seq: seg.seq_number + len,
            ack: seg.ack_number,
            window_len: seg.window_len,
            timestamp: seg.timestamp,
            ece: seg.ece,
            payload_sum: 0,
            // Odd sizes would put later payloads at odd offsets, where their
            // 16-bit words straddle; runs are of even MSS-sized segments.
            // CWR may lead a run (it stays on the first segment only).
            open: len > 0 && len % 2 == 0 && plain(seg) && !seg.psh,
            max,
        }
    }

    /// A run led by the segment in `datagram` (one this stack built): read
    /// back from its headers, so that a flush of a single segment, the
    /// common case of request/response traffic, never sets one up.
    /// `None` only for a datagram that does not parse, which this stack
    /// never builds.
    pub fn led_by(datagram: &[u8], max: usize) -> Option<Run> {
        let ip = Ipv4Packet::new_checked(datagram).ok()?;
        let tcp = TcpPacket::new_checked(&datagram[usize::from(ip.header_len())..]).ok()?;
        let seg = TcpRepr::parse(&tcp, &ip.src_addr(), &ip.dst_addr(), ChecksumMode::Ignore).ok()?;
        Some(Run::new(&seg, max))
    }

    /// Appends `seg`'s payload to `datagram` (the run's, as built so far)
    /// if `seg` continues the run; false if it does not (the caller
    /// finishes the run and starts another with `seg`).
    pub fn extend(&mut self, datagram: &mut Vec<u8>, seg: &TcpRepr<'_>) -> bool {
        let len = seg.payload.len();
        let continues = self.open
            && self.last_len == self.gso_size
            && seg.seq_number == self.next_seq
            && len > 0
            && len <= self.gso_size
            && datagram.len() + len <= self.max
            && plain(seg)
            && !seg.cwr
            && seg.ece == self.ece
            && seg.ack_number == self.ack
            && seg.window_len == self.window_len
            && seg.timestamp == self.timestamp;
        if !continues {
            return false;
        }
        if self.segments == 1 {
            // Grown once to the most it may hold: growing by doubling would
            // copy it again and again, and outgrow what the buffer pool
            // keeps (one fresh allocation, and page faults, per datagram).
            datagram.reserve_exact(self.max - datagram.len());
            self.payload_sum = checksum::data(&datagram[datagram.len() - self.gso_size..]);
        }
        let at = datagram.len();
        datagram.extend_from_slice(seg.payload);
        // Summed while the octets just written are in the first-level
        // cache. Every piece starts at an even offset (even headers, even
        // `gso_size`), so the sums combine (RFC 1071 §2(C)).
        self.payload_sum = checksum::combine(&[self.payload_sum, checksum::data(&datagram[at..])]);
        self.segments += 1;
        self.last_len = len;
        self.next_seq += len;
        if seg.psh {
            self.open = false;
            datagram[20 + TCP_FLAGS] |= FLAG_PSH;
        }
        true
    }

    /// Segments in the run so far.
    pub fn segments(&self) -> usize {
        self.segments
    }

    /// Completes the run's `datagram` (lengths and checksums) and returns
    /// its `gso_size`; `None`, and nothing to do, for a run of one segment:
    /// its datagram is the plain one.
    pub fn finish(&self, datagram: &mut [u8], checksum: ChecksumMode) -> Option<u16> {
        if self.segments == 1 {
            return None;
        }
        let total = datagram.len();
        let mut ip = Ipv4Packet::new_unchecked(&mut datagram[..]);
        ip.set_total_len(total as u16);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        if checksum.verify() {
            ip.fill_checksum();
        }
        let mut tcp = TcpPacket::new_unchecked(&mut datagram[20..]);
        tcp.set_checksum(0);
        if checksum.verify() {
            let sum = checksum::combine(&[tcp.header_sum(&src, &dst), self.payload_sum]);
            tcp.set_checksum(!sum);
        }
        u16::try_from(self.gso_size).ok()
    }
}

/// A segment of data and ACK only: what a run of new data is made of.
fn plain(seg: &TcpRepr<'_>) -> bool {
    seg.ack_number.is_some()
        && !(seg.syn || seg.fin || seg.rst || seg.urg)
        && seg.sack_ranges[0].is_none()
        && seg.max_seg_size.is_none()
        && seg.window_scale.is_none()
        && !seg.sack_permitted
}

/// Splits an offload datagram (IPv4 carrying TCP, `gso_size` payload
/// octets per segment) into the datagrams it packs, as Linux's software
/// GSO does for a device without offload: each with its own sequence
/// number, IP identification (the first's plus its index), lengths and
/// checksums; PSH and FIN only on the last, CWR only on the first.
///
/// A datagram whose checksums do not verify, that is not TCP, is a
/// fragment, has SYN, RST or URG and more than one segment's payload, or a
/// `gso_size` of zero is an error, never a panic.
pub fn segment(datagram: &[u8], gso_size: u16) -> Result<Vec<Vec<u8>>, Error> {
    let gso_size = usize::from(gso_size);
    if gso_size == 0 {
        return Err(Error::Malformed);
    }
    let ip = Ipv4Packet::new_checked(datagram)?;
    let repr = Ipv4Repr::parse(&ip, ChecksumMode::Verify)?;
    if repr.next_header != IpProtocol::Tcp || repr.more_frags || repr.frag_offset != 0 || ip.header_len() != 20 {
        return Err(Error::Unsupported);
    }
    let tcp = TcpPacket::new_checked(ip.payload())?;
    let seg = TcpRepr::parse(&tcp, &repr.src_addr, &repr.dst_addr, ChecksumMode::Verify)?;
    let header_len = usize::from(tcp.header_len());
    let header = &ip.payload()[..header_len];
    let payload = tcp.payload();
    let count = payload.len().div_ceil(gso_size).max(1);
    // No run packs these: their flags belong to one segment's octets.
    if count > 1 && (seg.syn || seg.rst || seg.urg) {
        return Err(Error::Unsupported);
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let chunk = payload.get(i * gso_size..).map_or(&[][..], |p| &p[..p.len().min(gso_size)]);
        let mut buf = vec![0u8; 20 + header_len + chunk.len()];
        let piece =
            Ipv4Repr { ident: repr.ident.wrapping_add(i as u16), payload_len: header_len + chunk.len(), ..repr };
        piece.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), ChecksumMode::Verify);
        buf[20..20 + header_len].copy_from_slice(header);
        buf[20 + header_len..].copy_from_slice(chunk);
        let flags = &mut buf[20 + TCP_FLAGS];
        if i + 1 < count {
            *flags &= !(FLAG_PSH | FLAG_FIN);
        }
        if i > 0 {
            *flags &= !FLAG_CWR;
        }
        let mut seg = TcpPacket::new_unchecked(&mut buf[20..]);
        seg.set_seq_number(tcp.seq_number() + i * gso_size);
        seg.fill_checksum(&repr.src_addr, &repr.dst_addr);
        out.push(buf);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::BufferPool;
    use crate::tcp::tcp_datagram;
    use sockstack_wire::{Ipv4Addr, TcpTimestamp};

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    const MSS: usize = 1448;

    fn seg(seq: u32, payload: &[u8]) -> TcpRepr<'_> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq_number: SeqNumber(seq),
            ack_number: Some(SeqNumber(77)),
            syn: false,
            fin: false,
            rst: false,
            psh: false,
            urg: false,
            ece: false,
            cwr: false,
            window_len: 512,
            urgent_pointer: 0,
            max_seg_size: None,
            window_scale: None,
            sack_permitted: false,
            sack_ranges: [None; 4],
            timestamp: Some(TcpTimestamp { tsval: 5, tsecr: 9 }),
            payload,
        }
    }

    fn datagram(s: &TcpRepr<'_>, ident: u16) -> Vec<u8> {
        tcp_datagram(&mut BufferPool::default(), SRC, DST, ident, 64, s, ChecksumMode::Verify)
    }

    #[test]
    fn a_run_packs_and_splits_back_into_its_datagrams() {
        let data: Vec<u8> = (0..5 * MSS + 301).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut segs: Vec<TcpRepr<'_>> =
            data.chunks(MSS).enumerate().map(|(i, p)| seg(1000 + (i * MSS) as u32, p)).collect();
        // The last one ends the write (PSH), and the first may carry CWR.
        segs.last_mut().unwrap().psh = true;
        segs[0].cwr = true;
        let singles: Vec<Vec<u8>> = segs.iter().enumerate().map(|(i, s)| datagram(s, 300 + i as u16)).collect();
        // The run read back from its first datagram, as the stack starts it.
        let mut run = Run::led_by(&singles[0], GSO_MAX_SIZE).unwrap();
        let mut packed = singles[0].clone();
        for s in &segs[1..] {
            assert!(run.extend(&mut packed, s));
        }
        assert_eq!(run.segments(), segs.len());
        assert_eq!(run.finish(&mut packed, ChecksumMode::Verify), Some(MSS as u16));
        // A valid datagram on its own: one segment with all the payload.
        let ip = Ipv4Packet::new_checked(&packed[..]).unwrap();
        let ip_repr = Ipv4Repr::parse(&ip, ChecksumMode::Verify).unwrap();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        let whole = TcpRepr::parse(&tcp, &SRC, &DST, ChecksumMode::Verify).unwrap();
        assert_eq!((ip_repr.ident, whole.seq_number, whole.payload), (300, SeqNumber(1000), &data[..]));
        assert!(whole.psh && whole.cwr);
        // Split, it is exactly the datagrams the segments make alone.
        assert_eq!(segment(&packed, MSS as u16).unwrap(), singles);
        // One segment alone is left as it was built.
        let mut one = singles[0].clone();
        assert_eq!(Run::new(&segs[0], GSO_MAX_SIZE).finish(&mut one, ChecksumMode::Verify), None);
        assert_eq!(one, singles[0]);
    }

    #[test]
    fn only_a_plain_continuing_segment_extends_a_run() {
        let data = vec![0x5au8; 4 * MSS];
        let lead = seg(0, &data[..MSS]);
        let next = || seg(MSS as u32, &data[MSS..2 * MSS]);
        let frame = || (Run::new(&lead, GSO_MAX_SIZE), datagram(&lead, 1));
        let (mut r, mut d) = frame();
        assert!(r.extend(&mut d, &next()), "the plain continuation extends");
        let refused: Vec<(&str, TcpRepr<'_>)> = vec![
            ("a gap", seg(MSS as u32 + 1, &data[..MSS])),
            ("an overlap", seg(MSS as u32 - 2, &data[..MSS])),
            ("longer than the first", seg(MSS as u32, &data[..MSS + 2])),
            ("no payload", seg(MSS as u32, &[])),
            ("FIN", TcpRepr { fin: true, ..next() }),
            ("SYN", TcpRepr { syn: true, ..next() }),
            ("RST", TcpRepr { rst: true, ..next() }),
            ("URG", TcpRepr { urg: true, urgent_pointer: 3, ..next() }),
            ("CWR after the first", TcpRepr { cwr: true, ..next() }),
            ("another ECE", TcpRepr { ece: true, ..next() }),
            ("another ACK", TcpRepr { ack_number: Some(SeqNumber(78)), ..next() }),
            ("no ACK", TcpRepr { ack_number: None, ..next() }),
            ("another window", TcpRepr { window_len: 511, ..next() }),
            ("another timestamp", TcpRepr { timestamp: Some(TcpTimestamp { tsval: 6, tsecr: 9 }), ..next() }),
            (
                "a SACK block",
                TcpRepr { sack_ranges: [Some((SeqNumber(9), SeqNumber(19))), None, None, None], ..next() },
            ),
        ];
        for (why, s) in &refused {
            let (mut r, mut d) = frame();
            let before = d.clone();
            assert!(!r.extend(&mut d, s), "extended by a segment with {why}");
            assert_eq!((r.segments(), &d), (1, &before));
        }
        // Nothing follows a short segment, or one with PSH.
        let (mut r, mut d) = frame();
        assert!(r.extend(&mut d, &seg(MSS as u32, &data[..100])));
        assert!(!r.extend(&mut d, &seg(MSS as u32 + 100, &data[..100])), "after a short segment");
        let (mut r, mut d) = frame();
        assert!(r.extend(&mut d, &TcpRepr { psh: true, ..next() }));
        assert!(!r.extend(&mut d, &seg(2 * MSS as u32, &data[..MSS])), "after PSH");
        // A lead that cannot start a run: pushed, odd-sized, or with FIN.
        for lead in [TcpRepr { psh: true, ..lead }, seg(0, &data[..MSS - 1]), TcpRepr { fin: true, ..lead }] {
            let (mut r, mut d) = (Run::new(&lead, GSO_MAX_SIZE), datagram(&lead, 1));
            let follow = seg(lead.payload.len() as u32, &data[..lead.payload.len()]);
            assert!(!r.extend(&mut d, &follow));
        }
        // No larger than the interface allows.
        let (mut r, mut d) = (Run::new(&lead, 20 + 32 + 2 * MSS), datagram(&lead, 1));
        assert!(r.extend(&mut d, &next()));
        assert!(!r.extend(&mut d, &seg(2 * MSS as u32, &data[..MSS])), "past the size limit");
    }
}
