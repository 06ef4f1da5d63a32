//! The IPv4 input path: validate (RFC 791 §3.1, RFC 1122 §3.2.1), decide
//! between local delivery and forwarding, reassemble fragments, hand the
//! payload to raw sockets and the transport.

use crate::counters::DropReason;
use crate::gso::{self, RxOffload};
use crate::iface::IfaceId;
use crate::rxqueue::Message;
use crate::socket::Socket;
use crate::{OutPacket, Stack};
use sockstack_time::Instant;
use sockstack_wire::{
    checksum, ChecksumMode, DstUnreachable, Error, IpProtocol, Ipv4Packet, Ipv4Repr, TcpPacket, TimeExceeded, UdpPacket,
};
use std::net::SocketAddrV4;

fn ip_drop_reason(e: Error) -> DropReason {
    match e {
        Error::Truncated => DropReason::IpTruncated,
        Error::BadVersion => DropReason::IpBadVersion,
        Error::BadChecksum => DropReason::IpBadChecksum,
        Error::BadOption => DropReason::IpBadOption,
        _ => DropReason::IpBadLength,
    }
}

impl Stack {
    /// A packet arrived on `iface`. Malformed packets are counted and
    /// dropped; nothing here panics on any input.
    pub fn receive(&mut self, now: Instant, iface: IfaceId, packet: &[u8]) {
        self.receive_checked(now, iface, packet, ChecksumMode::Verify);
    }

    /// [`Stack::receive`] with the checksums checked as `checksum` says.
    #[inline]
    fn receive_checked(&mut self, now: Instant, iface: IfaceId, packet: &[u8], checksum: ChecksumMode) {
        self.counters.ip_rx += 1;
        if !self.ifaces.get(iface.0).is_some_and(|i| i.up) {
            return self.counters.drop(DropReason::InterfaceDown);
        }
        self.ip_input(now, Some(iface), packet, checksum);
    }

    /// A datagram from a device with receive offloads (a Linux TUN device
    /// with a virtio-net header), with what the device says of it. One for
    /// this host is taken as it is: a packed TCP run as one segment (the
    /// merged segment Linux GRO hands its TCP), and a checksum the local
    /// kernel left to the device, or the device checked, is not checked
    /// again. Anything else (to be forwarded, a fragment, a protocol a raw
    /// socket watches, a packed run of anything but TCP) first becomes the
    /// datagrams it stands for, which are then received as any other: the
    /// transport checksum completed, a run split ([`gso::segment`]). The
    /// IPv4 header is verified either way.
    pub fn receive_offloaded(&mut self, now: Instant, iface: IfaceId, packet: &mut [u8], offload: RxOffload) {
        if offload == RxOffload::default() {
            return self.receive(now, iface, packet);
        }
        let ip = Ipv4Packet::new_unchecked(&*packet);
        let Ok(repr) = Ipv4Repr::parse(&ip, ChecksumMode::Verify) else {
            // The ordinary path finds the same fault and counts it.
            return self.receive(now, iface, packet);
        };
        let (header_len, len) = (usize::from(ip.header_len()), usize::from(ip.total_len()));
        let fragment = repr.more_frags || repr.frag_offset != 0;
        let proto = repr.next_header;
        let whole = !fragment
            && self.takes_address(Some(iface), repr.dst_addr)
            && !self.raw_watches(proto)
            && match proto {
                IpProtocol::Tcp => true,
                // A packed UDP run is several datagrams: their boundaries
                // are the messages.
                IpProtocol::Udp => offload.gso_size.is_none(),
                _ => false,
            };
        if whole {
            // (The header was verified above.)
            let checksum = if offload.transport_checksum_ok { ChecksumMode::Ignore } else { ChecksumMode::Verify };
            return self.receive_checked(now, iface, packet, checksum);
        }
        if offload.transport_checksum_ok && !fragment {
            // CHECKSUM_PARTIAL made whole, as the kernel does before a
            // datagram leaves by a device that cannot (`skb_checksum_help`);
            // one the device checked comes out the same.
            let (src, dst) = (repr.src_addr, repr.dst_addr);
            let transport = &mut packet[header_len..len];
            match proto {
                IpProtocol::Tcp => {
                    if let Ok(mut t) = TcpPacket::new_checked(transport) {
                        t.fill_checksum(&src, &dst);
                    }
                }
                IpProtocol::Udp => {
                    if let Ok(mut u) = UdpPacket::new_checked(transport) {
                        u.fill_checksum(&src, &dst);
                    }
                }
                _ => {}
            }
        }
        match offload.gso_size {
            None => self.receive(now, iface, packet),
            Some(gso_size) => match gso::segment(&packet[..len], gso_size) {
                Ok(pieces) => {
                    for piece in pieces {
                        self.receive(now, iface, &piece);
                    }
                }
                Err(_) => {
                    self.counters.ip_rx += 1;
                    self.counters.drop(DropReason::OffloadMalformed);
                }
            },
        }
    }

    /// `iface` is `None` for packets looped back inside the host.
    /// `checksum` is `Ignore` for loopback datagrams TCP built without
    /// checksums, and for a device's datagram whose transport checksum
    /// needs no check ([`Stack::receive_offloaded`], which verified the
    /// IPv4 header before).
    pub(crate) fn ip_input(&mut self, now: Instant, iface: Option<IfaceId>, packet: &[u8], checksum: ChecksumMode) {
        // `parse` checks the lengths every accessor relies on first.
        let ip = Ipv4Packet::new_unchecked(packet);
        let parsed = Ipv4Repr::parse(&ip, checksum);
        let repr = match &parsed {
            Ok(r) => r,
            Err(e) => return self.counters.drop(ip_drop_reason(*e)),
        };
        // Link padding past the total length is not part of the datagram.
        let packet = &packet[..usize::from(ip.total_len())];
        // RFC 1122 §3.2.1.3: a source that is not a unicast address is
        // discarded silently.
        if repr.src_addr.is_broadcast() || repr.src_addr.is_multicast() || self.is_broadcast(repr.src_addr) {
            return self.counters.drop(DropReason::IpBadSource);
        }
        let dst = repr.dst_addr;
        let broadcast = self.is_broadcast(dst);
        if !broadcast && !self.takes_address(iface, dst) {
            return self.forward(now, iface, repr, packet, ip.payload());
        }
        if repr.more_frags || repr.frag_offset != 0 {
            self.counters.ip_fragments_rx += 1;
            match self.reassembler.add(now, repr, ip.payload()) {
                Err(reason) => self.counters.drop(reason),
                Ok(None) => {}
                Ok(Some((whole, data))) => {
                    self.counters.ip_reassembled += 1;
                    // Raw sockets see the datagram as if it had come whole.
                    let mut rebuilt = vec![0u8; 20 + data.len()];
                    rebuilt[20..].copy_from_slice(&data);
                    whole.emit(&mut Ipv4Packet::new_unchecked(&mut rebuilt[..]), ChecksumMode::Verify);
                    self.deliver_local(now, &whole, &data, &rebuilt, broadcast, checksum);
                }
            }
            return;
        }
        self.deliver_local(now, repr, ip.payload(), packet, broadcast, checksum);
    }

    fn deliver_local(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        payload: &[u8],
        packet: &[u8],
        broadcast: bool,
        checksum: ChecksumMode,
    ) {
        self.counters.ip_delivered += 1;
        let raw_taken = self.raw_input(ip, packet);
        match ip.next_header {
            IpProtocol::Icmp => self.icmp_input(now, ip, payload, broadcast),
            IpProtocol::Udp => self.udp_input(now, ip, payload, broadcast, checksum),
            IpProtocol::Tcp => self.tcp_input(now, ip, payload, broadcast, checksum),
            _ if raw_taken => {}
            _ => {
                self.counters.drop(DropReason::ProtoUnreachable);
                if !broadcast {
                    // RFC 1122 §3.2.2.1: protocol unreachable.
                    self.icmp_error_dst_unreachable(now, ip, payload, DstUnreachable::ProtoUnreachable, 0);
                }
            }
        }
    }

    /// Gives every raw socket of the packet's protocol a copy (whole
    /// datagram, header included). True if any socket took one.
    fn raw_input(&mut self, ip: &Ipv4Repr, packet: &[u8]) -> bool {
        // No raw socket at all (the common case): not even a lookup.
        !self.raw_by_protocol.is_empty() && self.raw_deliver(ip, packet)
    }

    #[inline(never)] // rare: kept off the per-segment path (instruction cache)
    fn raw_deliver(&mut self, ip: &Ipv4Repr, packet: &[u8]) -> bool {
        let Some(handles) = self.raw_by_protocol.get(&u8::from(ip.next_header)) else {
            return false;
        };
        let mut taken = false;
        for &h in handles {
            let Some(Socket::Raw(sock)) = self.sockets.get_mut(h).map(|e| &mut e.socket) else {
                continue;
            };
            if !sock.accepts(ip.src_addr, ip.dst_addr) {
                continue;
            }
            taken = true;
            let message = Message {
                src: SocketAddrV4::new(ip.src_addr, 0),
                dst: SocketAddrV4::new(ip.dst_addr, 0),
                data: packet.to_vec(),
            };
            match sock.rx.push(message) {
                Ok(()) => self.counters.raw_rx += 1,
                Err(_) => self.counters.drop(DropReason::RawQueueFull),
            }
        }
        taken
    }

    /// RFC 1812 §5.2: forward a datagram that is not ours, decrementing
    /// TTL, answering with ICMP where the RFC asks for it.
    fn forward(&mut self, now: Instant, in_iface: Option<IfaceId>, ip: &Ipv4Repr, packet: &[u8], payload: &[u8]) {
        if !self.forwarding || in_iface.is_none() {
            return self.counters.drop(DropReason::NotForUs);
        }
        // RFC 1812 §5.3.1: TTL expires here → time exceeded (code 0).
        if ip.hop_limit <= 1 {
            self.counters.drop(DropReason::TtlExpired);
            return self.icmp_error_time_exceeded(now, ip, payload, TimeExceeded::TtlExpired);
        }
        let Some(hop) = self.routes.lookup(ip.dst_addr) else {
            self.counters.drop(DropReason::NoRoute);
            return self.icmp_error_dst_unreachable(now, ip, payload, DstUnreachable::NetUnreachable, 0);
        };
        let out = &self.ifaces[hop.iface.0];
        if !out.up {
            return self.counters.drop(DropReason::InterfaceDown);
        }
        let mtu = out.mtu;
        let mut data = packet.to_vec();
        let forwarded = Ipv4Repr { hop_limit: ip.hop_limit - 1, ..*ip };
        {
            // RFC 1624: patch the checksum for the TTL change instead of
            // recomputing the header sum.
            let mut p = Ipv4Packet::new_unchecked(&mut data[..]);
            let old_word = u16::from_be_bytes([ip.hop_limit, u8::from(ip.next_header)]);
            let new_word = u16::from_be_bytes([forwarded.hop_limit, u8::from(ip.next_header)]);
            let sum = checksum::update(p.checksum(), old_word, new_word);
            p.set_ttl(forwarded.hop_limit);
            p.set_checksum(sum);
        }
        self.counters.ip_forwarded += 1;
        if data.len() <= mtu {
            return self.enqueue_or_drop(OutPacket { iface: hop.iface, next_hop: hop.addr, data, gso_size: None });
        }
        if ip.dont_frag {
            // RFC 1191 §4: fragmentation needed, with the next-hop MTU.
            self.counters.drop(DropReason::FragNeeded);
            return self.icmp_error_dst_unreachable(now, ip, payload, DstUnreachable::FragRequired, mtu as u16);
        }
        let header_len = data.len() - payload.len();
        match crate::ip::fragment::fragment(&forwarded, &data[header_len..], mtu) {
            Some(fragments) => {
                self.counters.ip_fragments_tx += fragments.len() as u64;
                for f in fragments {
                    self.enqueue_or_drop(OutPacket { iface: hop.iface, next_hop: hop.addr, data: f, gso_size: None });
                }
            }
            None => self.counters.drop(DropReason::FragNeeded),
        }
    }
}
