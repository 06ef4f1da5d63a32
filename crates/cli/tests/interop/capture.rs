//! The TCP segments of a capture, checked one by one against the rules
//! of RFC 9293, RFC 7323 and RFC 2018 (`check_tcp_capture`), and the
//! check's own test, on captures made by hand.

use super::Scratch;
use std::path::Path;
use std::time::Duration;

/// One TCP segment as the capture has it, parsed here (apart from
/// sockstack's own parser, which it checks).
#[derive(Debug)]
struct WireSeg {
    from_sockstack: bool,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    fin: bool,
    rst: bool,
    window: u32,
    /// Octets of data (SYN and FIN not counted).
    data: u32,
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    timestamp: bool,
    sack_blocks: Vec<(u32, u32)>,
    /// Octets of TCP options.
    options: u32,
    payload: Vec<u8>,
}

fn wire_seg(p: &[u8]) -> Option<WireSeg> {
    if p.len() < 20 || p[0] >> 4 != 4 || p[9] != 6 {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]])).min(p.len());
    let t = p.get(ihl..total)?;
    let doff = usize::from(t.get(12)? >> 4) * 4;
    let opts = t.get(20..doff)?;
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let flags = t[13];
    let mut seg = WireSeg {
        from_sockstack: p[12..16] == [192, 0, 2, 2],
        seq: be32(&t[4..8]),
        ack: (flags & 0x10 != 0).then(|| be32(&t[8..12])),
        syn: flags & 0x02 != 0,
        fin: flags & 0x01 != 0,
        rst: flags & 0x04 != 0,
        window: u32::from(u16::from_be_bytes([t[14], t[15]])),
        data: (t.len() - doff) as u32,
        mss: None,
        window_scale: None,
        sack_permitted: false,
        timestamp: false,
        sack_blocks: Vec::new(),
        options: opts.len() as u32,
        payload: t[doff..].to_vec(),
    };
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let len = usize::from(*opts.get(i + 1)?);
                let body = opts.get(i + 2..i + len.max(2))?;
                match kind {
                    2 => seg.mss = Some(u16::from_be_bytes([body[0], body[1]])),
                    3 => seg.window_scale = Some(body[0]),
                    4 => seg.sack_permitted = true,
                    5 => seg.sack_blocks = body.chunks_exact(8).map(|b| (be32(&b[..4]), be32(&b[4..]))).collect(),
                    8 => seg.timestamp = true,
                    _ => {}
                }
                i += len.max(2);
            }
        }
    }
    Some(seg)
}

/// `a` is at or before `b` in sequence space.
fn seq_le(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) >= 0
}

/// Checks every segment sockstack sent in the capture at `path` against
/// the rules of RFC 9293, RFC 7323 and RFC 2018, with what the kernel
/// sent as the reference: options as negotiated (MSS, window scale and
/// SACK-permitted on SYNs only, and on a SYN-ACK only if the SYN offered
/// them; timestamps on every segment after the SYN, or none;
/// SACK blocks only if both ends allowed them), data only inside the
/// window the kernel offered (a probe may go one octet past a closed
/// one) and no larger than the kernel's MSS (unless `packed`: runs for
/// the device to cut), no data past its FIN, SACK blocks above the ACK
/// (a D-SACK first block aside), ACKs that never go back and never
/// acknowledge what the kernel did not send, and a right window edge
/// that never moves left (RFC 9293 §3.8.6; RFC 7323 §2.4 allows what
/// scaling rounds off); a RST with SND.NXT or an ACK of the kernel's as
/// its SEQ; and, given `byte` (the octet at each stream offset), every
/// octet of data as the application wrote it, retransmissions included.
/// Returns how many of its segments were checked.
pub fn check_tcp_capture(path: &Path, what: &str, packed: bool, byte: Option<&dyn Fn(usize) -> u8>) -> usize {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(file).unwrap();
    let mut segs = Vec::new();
    while let Some(p) = reader.next_packet() {
        segs.extend(wire_seg(&p.unwrap().data));
    }
    let syn_of = |ours: bool| segs.iter().find(|s: &&WireSeg| s.syn && s.from_sockstack == ours);
    let (Some(s_syn), Some(k_syn)) = (syn_of(true), syn_of(false)) else {
        panic!("{what}: the capture holds no handshake")
    };
    let ts = s_syn.timestamp && k_syn.timestamp;
    let sack = s_syn.sack_permitted && k_syn.sack_permitted;
    let (s_shift, k_shift) = match (s_syn.window_scale, k_syn.window_scale) {
        (Some(s), Some(k)) => (u32::from(s), u32::from(k)),
        _ => (0, 0),
    };
    assert!(s_syn.mss.is_some_and(|m| m <= 1460), "{what}: sockstack's SYN offers MSS {:?}", s_syn.mss);
    // What the kernel sent and offered so far (its right window edge).
    let (mut k_end, mut k_right): (Option<u32>, Option<u32>) = (None, None);
    let (mut s_ack, mut s_right, mut s_fin): (Option<u32>, Option<u32>, Option<u32>) = (None, None, None);
    // How far sockstack's sequence space went (SND.NXT), and the ACKs the
    // kernel sent (a RST answering a segment takes its SEQ from one).
    let mut s_nxt = s_syn.seq.wrapping_add(1);
    let mut k_acks = std::collections::HashSet::new();
    let mut checked = 0;
    for (i, seg) in segs.iter().enumerate() {
        // The failing segment, after the ten before it.
        let at = || {
            let before: Vec<String> = segs[i.saturating_sub(10)..i].iter().map(|s| format!("  {s:?}")).collect();
            format!("{what}: after\n{}\nsegment {i} {seg:?}", before.join("\n"))
        };
        let end = seg.seq.wrapping_add(seg.data + u32::from(seg.syn) + u32::from(seg.fin));
        if !seg.from_sockstack {
            k_end = Some(k_end.map_or(end, |e| if seq_le(e, end) { end } else { e }));
            k_acks.extend(seg.ack);
            if let (Some(ack), false) = (seg.ack, seg.rst) {
                let shift = if seg.syn { 0 } else { k_shift };
                let right = ack.wrapping_add(seg.window << shift);
                k_right = Some(k_right.map_or(right, |r| if seq_le(r, right) { right } else { r }));
            }
            continue;
        }
        checked += 1;
        if !seg.syn {
            assert!(seg.mss.is_none() && seg.window_scale.is_none() && !seg.sack_permitted, "{}: SYN options", at());
        }
        // A SYN offers; a SYN-ACK answers only what the SYN offered
        // (RFC 7323 §2.2, §3.2; RFC 2018 §2).
        if seg.syn && seg.ack.is_some() {
            assert!(!seg.timestamp || k_syn.timestamp, "{}: timestamps not offered", at());
            assert!(seg.window_scale.is_none() || k_syn.window_scale.is_some(), "{}: scaling not offered", at());
            assert!(!seg.sack_permitted || k_syn.sack_permitted, "{}: SACK not offered", at());
        }
        let offer = seg.syn && seg.ack.is_none();
        if !seg.rst && !offer {
            assert_eq!(seg.timestamp, ts, "{}: timestamps negotiated {ts}", at());
        }
        assert!(sack || seg.sack_blocks.is_empty(), "{}: SACK blocks without SACK-permitted", at());
        if seg.rst {
            // RFC 9293 §3.10.4 (ABORT): <SEQ=SND.NXT><CTL=RST>; §3.10.7.1
            // (a segment for no connection): <SEQ=SEG.ACK><CTL=RST>.
            assert!(
                seg.seq == s_nxt || k_acks.contains(&seg.seq),
                "{}: RST SEQ neither SND.NXT {s_nxt} nor an ACK",
                at()
            );
            continue;
        }
        if seq_le(s_nxt, end) {
            s_nxt = end;
        }
        // Every octet sent, first time or again, is the one the
        // application wrote at that place in the stream.
        if let Some(byte) = byte.filter(|_| seg.data > 0) {
            let offset = seg.seq.wrapping_sub(s_syn.seq.wrapping_add(1)) as usize;
            if let Some(j) = (0..seg.payload.len()).find(|&j| seg.payload[j] != byte(offset + j)) {
                panic!("{}: octet {} of the stream is wrong on the wire", at(), offset + j);
            }
        }
        if let Some(ack) = seg.ack {
            let k_end = k_end.unwrap_or_else(|| panic!("{}: an ACK before the kernel sent anything", at()));
            assert!(seq_le(ack, k_end), "{}: acknowledges past what the kernel sent ({k_end})", at());
            // RFC 2018 §4: each block is data received above the ACK and
            // sent by the kernel; RFC 2883: the first may report a
            // duplicate, below the ACK.
            for (j, &(left, right)) in seg.sack_blocks.iter().enumerate() {
                assert!(left != right && seq_le(left, right) && seq_le(right, k_end), "{}: SACK block {j}", at());
                assert!(j == 0 || !seq_le(left, ack), "{}: SACK block {j} at or below the ACK", at());
            }
            if let Some(prev) = s_ack {
                assert!(seq_le(prev, ack), "{}: ACK went back from {prev}", at());
            }
            s_ack = Some(ack);
            let shift = if seg.syn { 0 } else { s_shift };
            let right = ack.wrapping_add(seg.window << shift);
            if let Some(prev) = s_right {
                // Scaling rounds the window down by less than 2^shift.
                let slack = (1u32 << shift) - 1;
                assert!(seq_le(prev, right.wrapping_add(slack)), "{}: window shrank from {prev} to {right}", at());
                if seq_le(prev, right) {
                    s_right = Some(right);
                }
            } else {
                s_right = Some(right);
            }
        }
        if seg.data > 0 {
            // RFC 9293 §3.7.1: data and options fit the MSS the kernel
            // offered (packed runs, with offload, are cut by the device).
            if !packed {
                let mss = u32::from(k_syn.mss.unwrap_or(536));
                assert!(seg.data + seg.options <= mss, "{}: larger than the kernel's MSS {mss}", at());
            }
            let k_right = k_right.unwrap_or_else(|| panic!("{}: data before any window", at()));
            let data_end = seg.seq.wrapping_add(seg.data);
            assert!(seq_le(data_end, k_right.wrapping_add(1)), "{}: data past the window's edge {k_right}", at());
            if let Some(f) = s_fin {
                assert!(seq_le(data_end, f), "{}: data past the FIN at {f}", at());
            }
        }
        if seg.fin {
            s_fin = Some(seg.seq.wrapping_add(seg.data));
        }
    }
    checked
}

/// An IPv4 datagram holding a TCP segment, for the capture check's own
/// tests (checksums left zero: the check does not read them).
fn handmade_tcp(
    from_sockstack: bool,
    seq: u32,
    ack: Option<u32>,
    flags: u8,
    window: u16,
    opts: &[u8],
    data: usize,
) -> Vec<u8> {
    let (src, dst) = if from_sockstack { ([192, 0, 2, 2], [192, 0, 2, 1]) } else { ([192, 0, 2, 1], [192, 0, 2, 2]) };
    let tcp_len = 20 + opts.len() + data;
    let total = (20 + tcp_len) as u16;
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend(src);
    p.extend(dst);
    p.extend(7000u16.to_be_bytes());
    p.extend(7001u16.to_be_bytes());
    p.extend(seq.to_be_bytes());
    p.extend(ack.unwrap_or(0).to_be_bytes());
    p.push((((20 + opts.len()) / 4) << 4) as u8);
    p.push(flags | if ack.is_some() { 0x10 } else { 0 });
    p.extend(window.to_be_bytes());
    p.extend([0, 0, 0, 0]);
    p.extend(opts);
    p.resize(usize::from(total), 0xab);
    p
}

/// A capture of a handshake (MSS only: no scaling, SACK or timestamps)
/// and then `after`; checked (data octets against `byte`, if given).
fn check_handmade(after: &[Vec<u8>], byte: Option<&dyn Fn(usize) -> u8>) -> usize {
    let scratch = Scratch::new(&format!("capture-check-{}", after.len()));
    let path = scratch.path("handmade.pcap");
    let mss = [2, 4, 0x05, 0xb4];
    let mut sink = sockstack_link::pcap::PcapSink::create(&path).unwrap();
    let mut packets = vec![
        handmade_tcp(true, 1000, None, 0x02, 65535, &mss, 0),
        handmade_tcp(false, 5000, Some(1001), 0x02, 1000, &mss, 0),
        handmade_tcp(true, 1001, Some(5001), 0, 65535, &[], 0),
    ];
    packets.extend(after.iter().cloned());
    for p in &packets {
        sink.record(Duration::ZERO, p).unwrap();
    }
    drop(sink);
    check_tcp_capture(&path, "handmade", false, byte)
}

/// The capture check passes what keeps the rules and catches what
/// breaks them: data past the window the peer offered, an option that
/// belongs on SYNs only, an octet that is not the application's, and a
/// RST with a made-up SEQ.
#[test]
fn the_capture_check_catches_what_breaks_the_rules() {
    let data = |seq: u32, len: usize| handmade_tcp(true, seq, Some(5001), 0x18, 65535, &[], len);
    let written = |_: usize| 0xab;
    // 1,000 octets inside the kernel's window of 1,000: fine.
    assert_eq!(check_handmade(&[data(1001, 1000)], Some(&written)), 3);
    let fails = |after: Vec<Vec<u8>>, byte: Option<&dyn Fn(usize) -> u8>, why: &str| {
        let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_handmade(&after, byte))).unwrap_err();
        let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains(why), "expected {why:?}: {msg}");
    };
    fails(vec![data(1001, 1002)], None, "past the window");
    fails(vec![handmade_tcp(true, 1001, Some(5001), 0x10, 65535, &[2, 4, 0x05, 0xb4], 0)], None, "SYN options");
    fails(vec![data(1001, 10)], Some(&|i| if i == 7 { 0 } else { 0xab }), "octet 7 of the stream is wrong");
    fails(vec![handmade_tcp(true, 1500, Some(5001), 0x04, 0, &[], 0)], None, "RST SEQ");
}
