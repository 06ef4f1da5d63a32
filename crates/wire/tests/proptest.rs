//! Property tests for sockstack-wire: the fast checksum against the
//! reference, incremental updates against recomputation, emit→parse
//! round-trips for every `Repr`, and "no input makes a parser panic".

use proptest::prelude::*;
use sockstack_wire::checksum;
use sockstack_wire::tcp::TcpOptionsIter;
use sockstack_wire::*;

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn protocol() -> impl Strategy<Value = IpProtocol> {
    any::<u8>().prop_map(IpProtocol::from)
}

fn ipv4_repr(max_payload: usize) -> impl Strategy<Value = Ipv4Repr> {
    (
        (addr(), addr(), protocol(), 0..=max_payload),
        (any::<u8>(), any::<u16>(), any::<bool>(), any::<bool>()),
        (0u16..8192, any::<u8>()),
    )
        .prop_map(
            |(
                (src_addr, dst_addr, next_header, payload_len),
                (hop_limit, ident, dont_frag, more_frags),
                (frag_units, dscp_ecn),
            )| Ipv4Repr {
                src_addr,
                dst_addr,
                next_header,
                payload_len,
                hop_limit,
                ident,
                dont_frag,
                more_frags,
                frag_offset: frag_units * 8,
                dscp_ecn,
            },
        )
}

/// Ones'-complement arithmetic has two zeros; 0x0000 and 0xffff are the
/// same number.
fn ones_eq(a: u16, b: u16) -> bool {
    a == b || (a == 0 || a == 0xffff) && (b == 0 || b == 0xffff)
}

/// `buf` less `start` octets in front and `cut` at the end (clamped): every
/// length and every alignment of a sub-slice, as the checksum loops see it.
fn sub_slice(buf: &[u8], start: usize, cut: usize) -> &[u8] {
    let start = start.min(buf.len());
    let end = buf.len().saturating_sub(cut).max(start);
    &buf[start..end]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    // ---- checksum ----------------------------------------------------------

    #[test]
    fn checksum_matches_reference(buf in proptest::collection::vec(any::<u8>(), 0..3000),
                                  start in 0usize..9, cut in 0usize..9) {
        // Every length and every alignment of the sub-slice, past several
        // of the vector loop's 128-octet steps and every tail length.
        let slice = sub_slice(&buf, start, cut);
        prop_assert_eq!(checksum::data(slice), checksum::data_reference(slice));
        prop_assert_eq!(checksum::data_portable(slice), checksum::data_reference(slice));
    }

    #[test]
    fn checksum_of_whole_words_matches_reference(a in any::<[u8; 20]>(), b in any::<[u8; 32]>(), c in any::<[u8; 60]>()) {
        // The unrolled header sums: an IPv4 header, a TCP header with
        // timestamps, the longest TCP header.
        prop_assert_eq!(checksum::words(&a), checksum::data_reference(&a));
        prop_assert_eq!(checksum::words(&b), checksum::data_reference(&b));
        prop_assert_eq!(checksum::words(&c), checksum::data_reference(&c));
        for h in [&a[..], &b[..], &c[..], &c[..33]] {
            prop_assert_eq!(checksum::header(h), checksum::data_reference(h));
        }
    }

    #[test]
    fn checksum_copy_copies_and_sums(buf in proptest::collection::vec(any::<u8>(), 0..3000),
                                     start in 0usize..9, cut in 0usize..9) {
        // Every length and alignment: the copy is exact, the sum is `data`'s,
        // for the vector version (where the CPU has one) and the portable one.
        let slice = sub_slice(&buf, start, cut);
        for copy in [checksum::copy, checksum::copy_portable] {
            let mut out = vec![0xa5u8; slice.len() + 3];
            let sum = copy(&mut out[1..1 + slice.len()], slice);
            prop_assert_eq!(&out[1..1 + slice.len()], slice);
            prop_assert_eq!((out[0], out[slice.len() + 1]), (0xa5, 0xa5));
            prop_assert!(ones_eq(sum, checksum::data_reference(slice)));
        }
    }

    #[test]
    fn checksum_of_pieces_combines(buf in proptest::collection::vec(any::<u8>(), 0..300),
                                   split in 0usize..150) {
        // RFC 1071 §2(C): partial sums over even-length pieces combine.
        let split = (split * 2).min(buf.len() & !1);
        let (a, b) = buf.split_at(split);
        prop_assert!(ones_eq(
            checksum::combine(&[checksum::data(a), checksum::data(b)]),
            checksum::data(&buf)
        ));
    }

    #[test]
    fn incremental_update_equals_recompute(
        words in proptest::collection::vec(any::<u16>(), 2..40),
        at in any::<prop::sample::Index>(),
        new_word in any::<u16>(),
    ) {
        let bytes = |w: &[u16]| w.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
        let i = at.index(words.len());
        let old_checksum = !checksum::data(&bytes(&words));
        let mut changed = words.clone();
        let old_word = changed[i];
        changed[i] = new_word;
        let full = !checksum::data(&bytes(&changed));
        let incremental = checksum::update(old_checksum, old_word, new_word);
        prop_assert!(ones_eq(incremental, full), "{incremental:#x} vs {full:#x}");
        // Unless the data is all zeros, eqn. 3 gives exactly the recomputed
        // value, not merely an equivalent one.
        if changed.iter().any(|&w| w != 0) {
            prop_assert_eq!(incremental, full);
        }
    }

    #[test]
    fn incremental_update32_equals_recompute(
        words in proptest::collection::vec(any::<u16>(), 2..40),
        at in any::<prop::sample::Index>(),
        new in any::<u32>(),
    ) {
        let bytes = |w: &[u16]| w.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
        let i = at.index(words.len() - 1);
        let old_checksum = !checksum::data(&bytes(&words));
        let old = (words[i] as u32) << 16 | words[i + 1] as u32;
        let mut changed = words.clone();
        changed[i] = (new >> 16) as u16;
        changed[i + 1] = new as u16;
        let full = !checksum::data(&bytes(&changed));
        let incremental = checksum::update32(old_checksum, old, new);
        prop_assert!(ones_eq(incremental, full));
        if changed.iter().any(|&w| w != 0) {
            prop_assert_eq!(incremental, full);
        }
    }

    #[test]
    fn rewriting_an_address_keeps_header_valid(repr in ipv4_repr(0), new in addr()) {
        // The NAT case RFC 1624 exists for: patch a field and the stored
        // checksum, and the header still verifies.
        let mut buf = [0u8; 20];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), ChecksumMode::Verify);
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        let c = checksum::update32(p.checksum(), p.src_addr().into(), new.into());
        p.set_src_addr(new);
        p.set_checksum(c);
        prop_assert!(p.verify_checksum());
    }

    // ---- round trips -----------------------------------------------------

    #[test]
    fn ipv4_round_trip(repr in ipv4_repr(300), fill in any::<u8>()) {
        let mut buf = vec![fill; repr.buffer_len() + repr.payload_len];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), ChecksumMode::Verify);
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(p.payload().len(), repr.payload_len);
        prop_assert_eq!(Ipv4Repr::parse(&p, ChecksumMode::Verify).unwrap(), repr);
    }

    #[test]
    fn icmp_echo_round_trip(request in any::<bool>(), ident in any::<u16>(), seq_no in any::<u16>(),
                            data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let repr = if request {
            Icmpv4Repr::EchoRequest { ident, seq_no, data: &data }
        } else {
            Icmpv4Repr::EchoReply { ident, seq_no, data: &data }
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap(), repr);
    }

    #[test]
    fn icmp_error_round_trip(kind in 0u8..3, code in any::<u8>(), mtu in any::<u16>(),
                             header in ipv4_repr(65000),
                             data in proptest::collection::vec(any::<u8>(), 0..100)) {
        let repr = match kind {
            0 => Icmpv4Repr::TimeExceeded {
                reason: if code & 1 == 0 { TimeExceeded::TtlExpired } else { TimeExceeded::FragReassemblyExpired },
                header,
                data: &data,
            },
            1 => Icmpv4Repr::DstUnreachable {
                reason: DstUnreachable::FragRequired, next_hop_mtu: mtu, header, data: &data,
            },
            _ => {
                let reason = DstUnreachable::from(code);
                let next_hop_mtu = if reason == DstUnreachable::FragRequired { mtu } else { 0 };
                Icmpv4Repr::DstUnreachable { reason, next_hop_mtu, header, data: &data }
            }
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Verify).unwrap(), repr);
    }

    #[test]
    fn udp_round_trip(src_port in any::<u16>(), dst_port in 1u16.., src in addr(), dst in addr(),
                      payload in proptest::collection::vec(any::<u8>(), 0..300), verify in any::<bool>()) {
        let repr = UdpRepr { src_port, dst_port };
        let mode = if verify { ChecksumMode::Verify } else { ChecksumMode::Ignore };
        let mut buf = vec![0xa5u8; repr.header_len() + payload.len()];
        repr.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), &src, &dst, payload.len(),
                  |b| b.copy_from_slice(&payload), mode);
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(p.payload(), &payload[..]);
        prop_assert_eq!(p.checksum() == 0, !verify);
        prop_assert!(p.verify_checksum(&src, &dst));
        prop_assert_eq!(UdpRepr::parse(&p, &src, &dst, ChecksumMode::Verify).unwrap(), repr);
    }

    #[test]
    fn udp_checksum_detects_single_byte_change(
        src in addr(), dst in addr(),
        payload in proptest::collection::vec(any::<u8>(), 1..100),
        at in any::<prop::sample::Index>(), delta in 1u8..,
    ) {
        let repr = UdpRepr { src_port: 1, dst_port: 2 };
        let mut buf = vec![0u8; 8 + payload.len()];
        repr.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), &src, &dst, payload.len(),
                  |b| b.copy_from_slice(&payload), ChecksumMode::Verify);
        let i = 8 + at.index(payload.len());
        buf[i] = buf[i].wrapping_add(delta);
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(UdpRepr::parse(&p, &src, &dst, ChecksumMode::Verify), Err(Error::BadChecksum));
    }

    #[test]
    fn tcp_round_trip(
        ports in (1u16.., 1u16..),
        seq in any::<u32>(), ack in proptest::option::of(any::<u32>()),
        flags in any::<[bool; 7]>(),
        window_len in any::<u16>(), urgent_pointer in any::<u16>(),
        syn_opts in (proptest::option::of(any::<u16>()), proptest::option::of(0u8..=14), any::<bool>()),
        sacks in proptest::collection::vec(any::<(u32, u32)>(), 0..=4),
        timestamp in proptest::option::of(any::<(u32, u32)>()),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        src in addr(), dst in addr(),
    ) {
        let [syn, fin, rst, psh, urg, ece, cwr] = flags;
        let mut sack_ranges = [None; 4];
        for (slot, &(l, r)) in sack_ranges.iter_mut().zip(&sacks) {
            *slot = Some((SeqNumber(l), SeqNumber(r)));
        }
        // MSS, WS and SACK-Permitted mean something only on a SYN, and
        // parse ignores them elsewhere.
        let (mss, ws, sp) = if syn { syn_opts } else { (None, None, false) };
        let repr = TcpRepr {
            src_port: ports.0, dst_port: ports.1,
            seq_number: SeqNumber(seq), ack_number: ack.map(SeqNumber),
            syn, fin, rst, psh, urg, ece, cwr,
            window_len, urgent_pointer,
            max_seg_size: mss, window_scale: ws, sack_permitted: sp,
            sack_ranges,
            timestamp: timestamp.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr }),
            payload: &payload,
        };
        prop_assert!(repr.header_len() <= 60 && repr.header_len() % 4 == 0);
        let mut buf = vec![0x5au8; repr.buffer_len()];
        repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), &src, &dst, ChecksumMode::Verify);
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum(&src, &dst));
        prop_assert_eq!(p.header_len() as usize, repr.header_len());
        let parsed = TcpRepr::parse(&p, &src, &dst, ChecksumMode::Verify).unwrap();

        // SACK blocks beyond the room left by the other options are dropped
        // from the end; compute the room independently of the emitter.
        let other = mss.map_or(0, |_| 4)
            + if timestamp.is_some() { 12 } else if sp { 4 } else { 0 }
            + ws.map_or(0, |_| 4);
        let room = (40 - other - 4) / 8;
        let mut expected = repr;
        for slot in expected.sack_ranges.iter_mut().skip(room) {
            *slot = None;
        }
        prop_assert_eq!(parsed, expected);
        prop_assert_eq!(parsed.segment_len(), payload.len() + syn as usize + fin as usize);

        // The in-place emitter writes the same bytes, whether it sums the
        // payload itself or is handed the sum by the fill.
        let mut buf2 = vec![0u8; repr.buffer_len()];
        repr.emit_with(&mut TcpPacket::new_unchecked(&mut buf2[..]), &src, &dst, payload.len(),
                       |b| { b.copy_from_slice(&payload); None }, ChecksumMode::Verify);
        prop_assert_eq!(&buf, &buf2);
        let mut buf3 = vec![0u8; repr.buffer_len()];
        repr.emit_with(&mut TcpPacket::new_unchecked(&mut buf3[..]), &src, &dst, payload.len(),
                       |b| Some(checksum::copy(b, &payload)), ChecksumMode::Verify);
        prop_assert_eq!(&buf, &buf3);
    }

    /// `TcpRepr::parse` reads options in its own loop (not through
    /// `TcpOption`): for any options area, it fails exactly when the
    /// option iterator meets a malformed option, and otherwise holds what
    /// the options say, read through `TcpOptionsIter`.
    #[test]
    fn tcp_repr_reads_options_as_the_option_iterator_does(
        words in proptest::collection::vec(
            prop_oneof![
                // Known kinds with right and wrong lengths, NOPs, End.
                (0u8..=8, 0u8..=12, any::<[u8; 2]>()).prop_map(|(k, l, d)| [k, l, d[0], d[1]]),
                any::<[u8; 4]>(),
            ],
            0..=10,
        ),
        syn in any::<bool>(),
    ) {
        let options: Vec<u8> = words.concat();
        let mut buf = vec![0u8; 20 + options.len()];
        buf[..4].copy_from_slice(&[0, 1, 0, 2]);
        buf[12] = (((20 + options.len()) / 4) as u8) << 4;
        buf[13] = if syn { 0x02 } else { 0x10 };
        buf[20..].copy_from_slice(&options);
        let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        let parsed = TcpRepr::parse(&p, &src, &dst, ChecksumMode::Ignore);

        let mut expected = (None, None, false, [None; 4], None);
        let mut failed = false;
        for option in TcpOptionsIter::new(&options) {
            match option {
                Err(_) => failed = true,
                Ok(TcpOption::MaxSegmentSize(m)) if syn => expected.0 = Some(m),
                Ok(TcpOption::WindowScale(w)) if syn => expected.1 = Some(w.min(14)),
                Ok(TcpOption::SackPermitted) if syn => expected.2 = true,
                Ok(TcpOption::SackRange(r)) => expected.3 = r.map(|b| b.map(|(l, r)| (SeqNumber(l), SeqNumber(r)))),
                Ok(TcpOption::Timestamp { tsval, tsecr }) => expected.4 = Some(TcpTimestamp { tsval, tsecr }),
                Ok(_) => {}
            }
        }
        match parsed {
            Err(e) => prop_assert!(failed, "{:?} rejected: {:?}", options, e),
            Ok(r) => {
                prop_assert!(!failed, "{:?} accepted", options);
                prop_assert_eq!(
                    (r.max_seg_size, r.window_scale, r.sack_permitted, r.sack_ranges, r.timestamp),
                    expected
                );
            }
        }
    }

    #[test]
    fn tcp_option_round_trip(kind in 0u8..8, a in any::<u32>(), b in any::<u32>(),
                             n in 1usize..=4, data in proptest::collection::vec(any::<u8>(), 0..38)) {
        let mut ranges = [None; 4];
        for (i, slot) in ranges.iter_mut().enumerate().take(n) {
            *slot = Some((a.wrapping_add(i as u32), b ^ i as u32));
        }
        // Unknown kinds: anything not known, e.g. 30..=253.
        let unknown_kind = 30 + (a % 224) as u8;
        let option = match kind {
            0 => TcpOption::EndOfList,
            1 => TcpOption::NoOperation,
            2 => TcpOption::MaxSegmentSize(a as u16),
            3 => TcpOption::WindowScale(a as u8),
            4 => TcpOption::SackPermitted,
            5 => TcpOption::SackRange(ranges),
            6 => TcpOption::Timestamp { tsval: a, tsecr: b },
            _ => TcpOption::Unknown { kind: unknown_kind, data: &data },
        };
        let mut buf = [0u8; 64];
        let len = option.emit(&mut buf);
        prop_assert_eq!(len, option.buffer_len());
        let (rest, parsed) = TcpOption::parse(&buf[..len]).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(parsed, option);
    }

    #[test]
    fn seq_number_arithmetic(a in any::<u32>(), n in 0usize..(1 << 31)) {
        let a = SeqNumber(a);
        let b = a + n;
        prop_assert_eq!(b - a, n);
        prop_assert_eq!(b.checked_sub(a), Some(n));
        prop_assert_eq!(b - n, a);
        prop_assert!(a.le(b) && b.ge(a));
        prop_assert_eq!(a.lt(b), n != 0);
        prop_assert_eq!(a < b, a.lt(b));
        prop_assert_eq!(a.max(b), b);
        prop_assert_eq!(a.min(b), a);
        if n != 0 {
            prop_assert_eq!(a.checked_sub(b), None);
            prop_assert!(b > a);
        }
    }

    #[test]
    fn cidr_display_parses_back(a in addr(), len in 0u8..=32, other in addr()) {
        let c = Ipv4Cidr::new(a, len).unwrap();
        prop_assert_eq!(c.to_string().parse::<Ipv4Cidr>().unwrap(), c);
        prop_assert!(c.contains(a));
        prop_assert!(c.contains(c.network().address));
        prop_assert!(c.contains(c.broadcast()));
        // `contains` agrees with the mask arithmetic done by hand.
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        prop_assert_eq!(c.contains(other), u32::from(other) & mask == u32::from(a) & mask);
        prop_assert_eq!(u32::from(c.netmask()), mask);
    }

    // ---- no panics on any input -------------------------------------------

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120),
                                   src in addr(), dst in addr()) {
        exercise_all(&bytes, &src, &dst);
    }

    #[test]
    fn mutated_packets_never_panic(which in 0usize..4, flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
                                   cut in 0usize..80) {
        // Random bytes rarely get past the length checks; corrupting valid
        // packets reaches the deeper paths (options, quoted headers).
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(10, 0, 0, 2);
        let mut bytes = sample_packet(which, &src, &dst);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let end = bytes.len().saturating_sub(cut);
        exercise_all(&bytes[..end], &src, &dst);
    }

    #[test]
    fn cidr_from_arbitrary_str_never_panics(s in "\\PC{0,24}") {
        let _ = s.parse::<Ipv4Cidr>();
    }
}

/// A valid packet of each kind (IPv4 with options, ICMP error, UDP, TCP SYN).
fn sample_packet(which: usize, src: &Ipv4Addr, dst: &Ipv4Addr) -> Vec<u8> {
    match which {
        0 => {
            let mut b = vec![
                0x47, 0, 0, 32, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 7, 7, 4, 0, 0, 0, 0, 1, 0xaa, 0xbb,
                0xcc, 0xdd,
            ];
            Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
            b
        }
        1 => {
            let header = Ipv4Repr {
                src_addr: *src,
                dst_addr: *dst,
                next_header: IpProtocol::Udp,
                payload_len: 100,
                hop_limit: 1,
                ident: 0,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
                dscp_ecn: 0,
            };
            let data = [1, 2, 3, 4, 5, 6, 7, 8, 9];
            let repr = Icmpv4Repr::DstUnreachable {
                reason: DstUnreachable::FragRequired,
                next_hop_mtu: 1400,
                header,
                data: &data,
            };
            let mut b = vec![0; repr.buffer_len()];
            repr.emit(&mut Icmpv4Packet::new_unchecked(&mut b[..]));
            b
        }
        2 => {
            let mut b = vec![0; 12];
            UdpRepr { src_port: 9, dst_port: 7 }.emit(
                &mut UdpPacket::new_unchecked(&mut b[..]),
                src,
                dst,
                4,
                |p| p.copy_from_slice(b"ping"),
                ChecksumMode::Verify,
            );
            b
        }
        _ => {
            let repr = TcpRepr {
                src_port: 1234,
                dst_port: 80,
                seq_number: SeqNumber(1),
                syn: true,
                max_seg_size: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamp: Some(TcpTimestamp { tsval: 1, tsecr: 0 }),
                sack_ranges: [Some((SeqNumber(1), SeqNumber(2))), None, None, None],
                payload: b"data",
                ..TcpRepr::default()
            };
            let mut b = vec![0; repr.buffer_len()];
            repr.emit(&mut TcpPacket::new_unchecked(&mut b[..]), src, dst, ChecksumMode::Verify);
            b
        }
    }
}

/// Runs every parser over `bytes`, and every accessor over whatever
/// `new_checked` accepts. Any panic fails the calling property.
fn exercise_all(bytes: &[u8], src: &Ipv4Addr, dst: &Ipv4Addr) {
    for mode in [ChecksumMode::Verify, ChecksumMode::Ignore] {
        let _ = Ipv4Repr::parse(&Ipv4Packet::new_unchecked(bytes), mode);
        let _ = Icmpv4Repr::parse(&Icmpv4Packet::new_unchecked(bytes), mode);
        let _ = UdpRepr::parse(&UdpPacket::new_unchecked(bytes), src, dst, mode);
        let _ = TcpRepr::parse(&TcpPacket::new_unchecked(bytes), src, dst, mode);
    }
    let _ = Ipv4Repr::parse_quoted(&Ipv4Packet::new_unchecked(bytes));
    if let Ok(p) = Ipv4Packet::new_checked(bytes) {
        let _ = (p.version(), p.header_len(), p.dscp(), p.ecn(), p.total_len(), p.ident());
        let _ = (p.dont_frag(), p.more_frags(), p.frag_offset(), p.ttl(), p.next_header());
        let _ = (p.checksum(), p.src_addr(), p.dst_addr(), p.options(), p.payload());
        let _ = p.verify_checksum();
        // A parsed header re-emits and re-parses to the same value.
        if let Ok(repr) = Ipv4Repr::parse(&p, ChecksumMode::Ignore) {
            let mut buf = vec![0u8; repr.buffer_len() + repr.payload_len];
            repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), ChecksumMode::Verify);
            let again = Ipv4Repr::parse(&Ipv4Packet::new_checked(&buf[..]).unwrap(), ChecksumMode::Verify);
            assert_eq!(again, Ok(repr));
        }
    }
    if let Ok(p) = Icmpv4Packet::new_checked(bytes) {
        let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.echo_ident(), p.echo_seq_no());
        let _ = (p.next_hop_mtu(), p.data(), p.verify_checksum());
        if let Ok(repr) = Icmpv4Repr::parse(&p, ChecksumMode::Ignore) {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
            let again = Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&buf[..]).unwrap(), ChecksumMode::Verify);
            assert_eq!(again, Ok(repr));
        }
    }
    if let Ok(p) = UdpPacket::new_checked(bytes) {
        let _ = (p.src_port(), p.dst_port(), p.len(), p.checksum(), p.payload());
        let _ = p.verify_checksum(src, dst);
    }
    if let Ok(p) = TcpPacket::new_checked(bytes) {
        let _ = (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number(), p.header_len());
        let _ = (p.syn(), p.fin(), p.rst(), p.psh(), p.ack(), p.urg(), p.ece(), p.cwr());
        let _ = (p.window_len(), p.checksum(), p.urgent_at(), p.options(), p.payload());
        let _ = (p.segment_len(), p.verify_checksum(src, dst));
        let _ = p.options_iter().count();
        if let Ok(repr) = TcpRepr::parse(&p, src, dst, ChecksumMode::Ignore) {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), src, dst, ChecksumMode::Verify);
            let again =
                TcpRepr::parse(&TcpPacket::new_checked(&buf[..]).unwrap(), src, dst, ChecksumMode::Verify).unwrap();
            // A peer may pack more SACK blocks than fit beside its other
            // options in our aligned layout; the emitter keeps a prefix.
            let kept = again.sack_ranges.iter().flatten().count();
            assert_eq!(again.sack_ranges[..kept], repr.sack_ranges[..kept]);
            let mut expected = repr;
            expected.sack_ranges = again.sack_ranges;
            assert_eq!(again, expected);
        }
    }
    let _ = TcpOptionsIter::new(bytes).count();
    let _ = TcpOption::parse(bytes);
}
