//! One-line, tcpdump-like descriptions of IPv4 packets, for traces.

use sockstack_wire::{
    ChecksumMode, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr, UdpPacket,
};

/// Describes `packet` as tcpdump would, in one line; never panics on
/// malformed input (it says what is wrong instead).
pub fn describe(packet: &[u8]) -> String {
    let ip = match Ipv4Packet::new_checked(packet) {
        Ok(p) => p,
        Err(e) => return format!("malformed IPv4 ({e}), {} bytes", packet.len()),
    };
    let repr = match Ipv4Repr::parse(&ip, ChecksumMode::Ignore) {
        Ok(r) => r,
        Err(e) => return format!("malformed IPv4 ({e})"),
    };
    let frag = if repr.more_frags || repr.frag_offset != 0 {
        format!(" frag id={} off={}{}", repr.ident, repr.frag_offset, if repr.more_frags { "+" } else { "" })
    } else {
        String::new()
    };
    let (src, dst) = (repr.src_addr, repr.dst_addr);
    let ttl = repr.hop_limit;
    if repr.frag_offset != 0 {
        return format!("{src} > {dst}: {:?}{frag} ttl {ttl}, length {}", repr.next_header, repr.payload_len);
    }
    let payload = ip.payload();
    match repr.next_header {
        // A first fragment holds the UDP header but not the whole datagram.
        IpProtocol::Udp if repr.more_frags && payload.len() >= 8 => format!(
            "{src}.{} > {dst}.{}: UDP, length {}{frag} ttl {ttl}",
            u16::from_be_bytes([payload[0], payload[1]]),
            u16::from_be_bytes([payload[2], payload[3]]),
            u16::from_be_bytes([payload[4], payload[5]]).saturating_sub(8),
        ),
        IpProtocol::Udp => match UdpPacket::new_checked(payload) {
            Ok(u) => format!(
                "{src}.{} > {dst}.{}: UDP, length {}{frag} ttl {ttl}",
                u.src_port(),
                u.dst_port(),
                u.payload().len()
            ),
            Err(e) => format!("{src} > {dst}: UDP malformed ({e})"),
        },
        IpProtocol::Icmp => {
            let what = match Icmpv4Packet::new_checked(payload).and_then(|p| {
                Icmpv4Repr::parse(&p, ChecksumMode::Ignore).map(|r| match r {
                    Icmpv4Repr::EchoRequest { ident, seq_no, data } => {
                        format!("echo request, id {ident}, seq {seq_no}, length {}", data.len() + 8)
                    }
                    Icmpv4Repr::EchoReply { ident, seq_no, data } => {
                        format!("echo reply, id {ident}, seq {seq_no}, length {}", data.len() + 8)
                    }
                    Icmpv4Repr::DstUnreachable { reason, header, next_hop_mtu, data } => {
                        let mtu = if next_hop_mtu != 0 { format!(", mtu {next_hop_mtu}") } else { String::new() };
                        let port = match data {
                            [_, _, hi, lo, ..] if header.next_header == IpProtocol::Udp => {
                                format!(" udp port {}", u16::from_be_bytes([*hi, *lo]))
                            }
                            _ => String::new(),
                        };
                        format!("{}{port} unreachable ({reason:?}{mtu})", header.dst_addr)
                    }
                    Icmpv4Repr::TimeExceeded { reason, .. } => format!("time exceeded: {reason:?}"),
                })
            }) {
                Ok(s) => s,
                Err(e) => format!("unparsed ({e})"),
            };
            format!("{src} > {dst}: ICMP {what}{frag} ttl {ttl}")
        }
        IpProtocol::Tcp => match TcpPacket::new_checked(payload) {
            Err(e) => format!("{src} > {dst}: TCP malformed ({e})"),
            Ok(p) => match TcpRepr::parse(&p, &src, &dst, ChecksumMode::Ignore) {
                Ok(t) => {
                    let mut flags = String::new();
                    for (on, c) in [(t.syn, 'S'), (t.fin, 'F'), (t.rst, 'R'), (t.psh, 'P')] {
                        if on {
                            flags.push(c);
                        }
                    }
                    if t.ack_number.is_some() {
                        flags.push('.');
                    }
                    let mut opts = Vec::new();
                    if let Some(m) = t.max_seg_size {
                        opts.push(format!("mss {m}"));
                    }
                    if t.sack_permitted {
                        opts.push("sackOK".to_string());
                    }
                    if let Some(ts) = t.timestamp {
                        opts.push(format!("TS val {} ecr {}", ts.tsval, ts.tsecr));
                    }
                    if let Some(w) = t.window_scale {
                        opts.push(format!("wscale {w}"));
                    }
                    let sacks: Vec<String> =
                        t.sack_ranges.iter().flatten().map(|(l, r)| format!("{{{}:{}}}", l.0, r.0)).collect();
                    if !sacks.is_empty() {
                        opts.push(format!("sack {}", sacks.join("")));
                    }
                    let ack = t.ack_number.map(|a| format!(", ack {}", a.0)).unwrap_or_default();
                    let opts = if opts.is_empty() { String::new() } else { format!(", options [{}]", opts.join(",")) };
                    format!(
                        "{src}.{} > {dst}.{}: Flags [{flags}], seq {}{ack}, win {}{opts}, length {}{frag} ttl {ttl}",
                        t.src_port,
                        t.dst_port,
                        t.seq_number.0,
                        t.window_len,
                        t.payload.len()
                    )
                }
                Err(e) => format!("{src} > {dst}: TCP malformed ({e})"),
            },
        },
        other => format!("{src} > {dst}: {other:?}, length {}{frag} ttl {ttl}", repr.payload_len),
    }
}
