//! IPv4 fragmentation on send (RFC 791 §3.2, "Fragmentation and
//! Reassembly"; RFC 1812 §5.2.6 when forwarding).

use sockstack_wire::{ChecksumMode, Ipv4Packet, Ipv4Repr};

/// Splits a datagram into fragments of at most `mtu` bytes each.
///
/// `header` describes the datagram being split; it may itself be a fragment
/// (a router splitting further), so offsets are relative to its
/// `frag_offset`, and MF stays set on the last piece if it was set on the
/// original (RFC 791: "the more-fragments flag is copied"). Options are not
/// copied since sockstack emits none. `None` when the MTU cannot carry even
/// eight bytes of payload.
pub fn fragment(header: &Ipv4Repr, payload: &[u8], mtu: usize) -> Option<Vec<Vec<u8>>> {
    let header_len = 20;
    // Every fragment but the last carries a multiple of eight bytes.
    let chunk = (mtu.checked_sub(header_len)? / 8) * 8;
    if chunk == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(payload.len().div_ceil(chunk));
    let mut offset = 0;
    while offset < payload.len() {
        let end = (offset + chunk).min(payload.len());
        let last = end == payload.len();
        let piece = Ipv4Repr {
            payload_len: end - offset,
            more_frags: !last || header.more_frags,
            frag_offset: header.frag_offset + offset as u16,
            ..*header
        };
        let mut buf = vec![0u8; header_len + piece.payload_len];
        buf[header_len..].copy_from_slice(&payload[offset..end]);
        piece.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), ChecksumMode::Verify);
        out.push(buf);
        offset = end;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::reassembly::Reassembler;
    use sockstack_time::Instant;
    use sockstack_wire::{IpProtocol, Ipv4Addr};

    fn header(len: usize) -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 1),
            dst_addr: Ipv4Addr::new(198, 51, 100, 1),
            next_header: IpProtocol::Udp,
            payload_len: len,
            hop_limit: 64,
            ident: 42,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
            dscp_ecn: 0,
        }
    }

    #[test]
    fn fragments_fit_the_mtu_and_reassemble() {
        let payload: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
        let frags = fragment(&header(payload.len()), &payload, 1500).unwrap();
        assert_eq!(frags.len(), 3);
        let mut r = Reassembler::default();
        let mut done = None;
        for (i, f) in frags.iter().enumerate().rev() {
            assert!(f.len() <= 1500);
            let p = Ipv4Packet::new_checked(&f[..]).unwrap();
            assert!(p.verify_checksum());
            let h = Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap();
            assert_eq!(h.more_frags, i != 2);
            assert_eq!(usize::from(h.frag_offset), i * 1480);
            done = r.add(Instant::ZERO, &h, p.payload()).unwrap();
        }
        assert_eq!(done.unwrap().1, payload);
    }

    #[test]
    fn refragmenting_a_fragment_keeps_mf_and_offsets() {
        let mut h = header(1480);
        h.more_frags = true;
        h.frag_offset = 1480;
        let frags = fragment(&h, &[9u8; 1480], 576).unwrap();
        let parsed: Vec<Ipv4Repr> = frags
            .iter()
            .map(|f| Ipv4Repr::parse(&Ipv4Packet::new_checked(&f[..]).unwrap(), ChecksumMode::Verify).unwrap())
            .collect();
        assert!(parsed.iter().all(|p| p.more_frags));
        assert_eq!(parsed[0].frag_offset, 1480);
        assert_eq!(parsed[1].frag_offset, 1480 + 552);
        assert_eq!(parsed.iter().map(|p| p.payload_len).sum::<usize>(), 1480);
    }

    #[test]
    fn tiny_mtu_is_refused() {
        assert!(fragment(&header(100), &[0; 100], 27).is_none());
        assert!(fragment(&header(100), &[0; 100], 10).is_none());
        assert_eq!(fragment(&header(100), &[0; 100], 28).unwrap().len(), 13);
    }
}
