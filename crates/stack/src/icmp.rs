//! ICMPv4 (RFC 792) as the host stack speaks it: answering echo requests,
//! acting on destination unreachable and time exceeded (reporting them to
//! the socket concerned, learning path MTUs per RFC 1191), and generating
//! error messages under the rules of RFC 1122 §3.2.2 and a rate limit.

use crate::counters::DropReason;
use crate::ip::{PmtuEntry, SendParams, MIN_MTU, PMTU_AGING};
use crate::socket::Socket;
use crate::Stack;
use sockstack_time::{Duration, Instant};
use sockstack_wire::{
    ChecksumMode, DstUnreachable, Error, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Addr, Ipv4Repr, TimeExceeded,
};
use std::io;
use std::net::SocketAddrV4;

/// RFC 1812 §4.3.2.3: an ICMP error carries as much of the offending
/// datagram as fits in 576 bytes.
const ICMP_ERROR_MAX: usize = 576;

/// A token bucket limiting ICMP errors (RFC 1812 §4.3.2.8; Linux:
/// `icmp_msgs_per_sec` = 1000, `icmp_msgs_burst` = 50).
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate_per_sec: u32,
    burst: u32,
    tokens: u32,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        TokenBucket { rate_per_sec, burst, tokens: burst, last: Instant::ZERO }
    }

    pub fn take(&mut self, now: Instant) -> bool {
        if self.rate_per_sec > 0 {
            let per_token = Duration::from_micros(1_000_000 / u64::from(self.rate_per_sec.max(1)));
            let earned = (now - self.last).as_micros() / per_token.as_micros().max(1);
            if earned > 0 {
                self.tokens = (u128::from(self.tokens) + earned).min(u128::from(self.burst)) as u32;
                self.last = now;
            }
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// ICMP types that are errors (never answered with an error, RFC 1122
/// §3.2.2): destination unreachable, source quench, redirect, time
/// exceeded, parameter problem.
fn is_icmp_error_type(t: u8) -> bool {
    matches!(t, 3 | 4 | 5 | 11 | 12)
}

impl Stack {
    #[inline(never)] // another protocol's: kept off TCP's per-segment path (instruction cache)
    pub(crate) fn icmp_input(&mut self, now: Instant, ip: &Ipv4Repr, payload: &[u8], broadcast: bool) {
        let icmp = match Icmpv4Packet::new_checked(payload) {
            Ok(p) => p,
            Err(_) => return self.counters.drop(DropReason::IcmpMalformed),
        };
        let repr = match Icmpv4Repr::parse(&icmp, ChecksumMode::Verify) {
            Ok(r) => r,
            Err(Error::BadChecksum) => return self.counters.drop(DropReason::IcmpBadChecksum),
            Err(Error::Unsupported) => return self.counters.drop(DropReason::IcmpUnsupported),
            Err(_) => return self.counters.drop(DropReason::IcmpMalformed),
        };
        self.counters.icmp_rx += 1;
        match repr {
            Icmpv4Repr::EchoRequest { ident, seq_no, data } => {
                // Linux ignores broadcast pings (icmp_echo_ignore_broadcasts),
                // as RFC 1122 §3.2.2.6 permits.
                if broadcast {
                    return;
                }
                let reply = Icmpv4Repr::EchoReply { ident, seq_no, data };
                let params = SendParams {
                    src: Some(ip.dst_addr),
                    dst: ip.src_addr,
                    protocol: IpProtocol::Icmp,
                    ttl: self.config.default_ttl,
                    dont_frag: false,
                    ident: None,
                };
                if self.icmp_send(now, params, &reply) {
                    self.counters.icmp_echo_replied += 1;
                }
            }
            Icmpv4Repr::EchoReply { .. } => {} // for raw sockets (ping)
            Icmpv4Repr::DstUnreachable { reason, next_hop_mtu, header, data } => {
                if reason == DstUnreachable::FragRequired {
                    let reported = reported_mtu(&header, next_hop_mtu);
                    // About a TCP segment: believed only when it quotes one
                    // that is in flight (RFC 5927 §4.1), so that a blind
                    // attacker cannot shrink a path's MTU. Its MSS comes
                    // down no further than the floor allows.
                    let floored = reported.max(self.config.min_pmtu);
                    if header.next_header != IpProtocol::Tcp || self.tcp_packet_too_big(&header, data, floored) {
                        self.learn_path_mtu(now, header.dst_addr, reported);
                    }
                }

                let kind = match reason {
                    DstUnreachable::PortUnreachable | DstUnreachable::ProtoUnreachable => {
                        Some(io::ErrorKind::ConnectionRefused)
                    }
                    DstUnreachable::NetUnreachable => Some(io::ErrorKind::NetworkUnreachable),
                    DstUnreachable::HostUnreachable
                    | DstUnreachable::SrcRouteFailed
                    | DstUnreachable::AdminProhibited => Some(io::ErrorKind::HostUnreachable),
                    _ => None,
                };
                // RFC 1122 §4.2.3.9: port and protocol unreachable are the
                // hard errors; the others may pass as routes change.
                let fatal = matches!(reason, DstUnreachable::PortUnreachable | DstUnreachable::ProtoUnreachable);
                if let Some(kind) = kind {
                    self.report_to_transport(&header, data, kind, fatal);
                }
            }
            Icmpv4Repr::TimeExceeded { header, data, .. } => {
                self.report_to_transport(&header, data, io::ErrorKind::HostUnreachable, false);
            }
        }
    }

    /// RFC 1191 §6.1: lower the path MTU to `reported`, the one a router
    /// reported. Never raise it: a "too big" only ever lowers it (RFC 1191
    /// §6.3; Linux `__ip_rt_update_pmtu`); aging raises it again. A report
    /// no lower than the MTU in use (the outgoing interface's, or what was
    /// learned) is bogus, and not kept. A report below the floor
    /// (`StackConfig::min_pmtu`) sets the floor, or what is in use if
    /// lower, and locks the path: fragmented by routers from then on, and
    /// deaf to further reports until the entry ages out.
    fn learn_path_mtu(&mut self, now: Instant, dst: Ipv4Addr, reported: usize) {
        if self.path_mtu_locked(now, dst) {
            return;
        }
        let link = self.routes.lookup(dst).map(|hop| self.ifaces[hop.iface.0].mtu);
        let in_use = link.into_iter().chain(self.learned_path_mtu(now, dst)).min();
        let floor = self.config.min_pmtu;
        let (mtu, locked) =
            if reported < floor { (in_use.map_or(floor, |m| m.min(floor)), true) } else { (reported, false) };
        if !locked && in_use.is_some_and(|m| m <= mtu) {
            return;
        }
        let expires = now + PMTU_AGING;
        self.pmtu.insert(dst, PmtuEntry { mtu, expires, locked });
        if locked {
            // Connections on the path send without DF from their next
            // flush, until it ages out (`Stack::pmtu_unlock`).
            self.route_epoch += 1;
            self.pmtu_unlock_at = Some(self.pmtu_unlock_at.map_or(expires, |t| t.min(expires)));
        }
    }

    /// An ICMP error about a datagram of ours, for the transport that sent
    /// it: to the TCP connection whose segment it quotes (see
    /// `tcp_icmp_error`); to a UDP socket only when it is connected to the
    /// peer concerned (RFC 1122 §4.1.3.3, as on Linux without IP_RECVERR).
    fn report_to_transport(&mut self, header: &Ipv4Repr, data: &[u8], kind: io::ErrorKind, fatal: bool) {
        if header.next_header == IpProtocol::Tcp {
            return self.tcp_icmp_error(header, data, kind, fatal);
        }
        if header.next_header != IpProtocol::Udp || data.len() < 4 {
            return;
        }
        let src_port = u16::from_be_bytes([data[0], data[1]]);
        let dst_port = u16::from_be_bytes([data[2], data[3]]);
        let local = SocketAddrV4::new(header.src_addr, src_port);
        let remote = SocketAddrV4::new(header.dst_addr, dst_port);
        let Some(h) = self.udp_ports.lookup(local) else {
            return;
        };
        if let Some(Socket::Udp(sock)) = self.sockets.get_mut(h).map(|e| &mut e.socket) {
            if sock.remote == Some(remote) {
                sock.pending_error = Some(kind);
                sock.rx.wake();
            }
        }
    }

    /// Sends an ICMP message; false if it could not be queued.
    fn icmp_send(&mut self, now: Instant, params: SendParams, repr: &Icmpv4Repr) -> bool {
        let sent = self.ip_send(now, params, repr.buffer_len(), |_, _, buf| {
            repr.emit(&mut Icmpv4Packet::new_unchecked(buf));
        });
        match sent {
            Ok(()) => {
                self.counters.icmp_tx += 1;
                true
            }
            Err(_) => {
                self.counters.drop(DropReason::TxQueueFull);
                false
            }
        }
    }

    /// Whether an error may be sent about `ip` at all (RFC 1122 §3.2.2).
    fn may_send_icmp_error(&self, ip: &Ipv4Repr, payload: &[u8]) -> bool {
        // Not about a non-initial fragment.
        if ip.frag_offset != 0 {
            return false;
        }
        // Not to a source that is not a unicast address.
        let src = ip.src_addr;
        if src.is_unspecified() || src.is_broadcast() || src.is_multicast() || self.is_broadcast(src) {
            return false;
        }
        // Not about an ICMP error.
        if ip.next_header == IpProtocol::Icmp && payload.first().is_some_and(|&t| is_icmp_error_type(t)) {
            return false;
        }
        true
    }

    /// Sends an ICMP error about the datagram `ip`, of which `payload` is
    /// the part after the IP header that is at hand.
    fn icmp_error(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        payload: &[u8],
        build: impl FnOnce(Ipv4Repr, &[u8]) -> Icmpv4Repr<'_>,
    ) {
        if !self.may_send_icmp_error(ip, payload) {
            return;
        }
        if !self.icmp_rate.take(now) {
            return self.counters.drop(DropReason::IcmpRateLimited);
        }
        let room = ICMP_ERROR_MAX - 20 - 8 - 20;
        let data = &payload[..payload.len().min(room)];
        // The error comes from the address the datagram was sent to when
        // it is ours; from the outgoing interface when we are a router.
        let src = self.is_local_unicast(ip.dst_addr).then_some(ip.dst_addr);
        let repr = build(*ip, data);
        let params = SendParams {
            src,
            dst: ip.src_addr,
            protocol: IpProtocol::Icmp,
            ttl: self.config.default_ttl,
            dont_frag: false,
            ident: None,
        };
        self.icmp_send(now, params, &repr);
    }

    pub(crate) fn icmp_error_dst_unreachable(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        payload: &[u8],
        reason: DstUnreachable,
        next_hop_mtu: u16,
    ) {
        self.icmp_error(now, ip, payload, |header, data| Icmpv4Repr::DstUnreachable {
            reason,
            next_hop_mtu,
            header,
            data,
        });
    }

    pub(crate) fn icmp_error_time_exceeded(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        payload: &[u8],
        reason: TimeExceeded,
    ) {
        self.icmp_error(now, ip, payload, |header, data| Icmpv4Repr::TimeExceeded { reason, header, data });
    }

    pub(crate) fn icmp_port_unreachable(&mut self, now: Instant, ip: &Ipv4Repr, payload: &[u8]) {
        self.icmp_error_dst_unreachable(now, ip, payload, DstUnreachable::PortUnreachable, 0);
    }
}

/// The path MTU a "fragmentation needed" reports for the datagram
/// `header` quotes: its next-hop MTU field; from routers predating RFC 1191,
/// which send 0, the plateau below the datagram's size (RFC 1191 §5).
/// Never below 68 (RFC 791).
fn reported_mtu(header: &Ipv4Repr, next_hop_mtu: u16) -> usize {
    let original = header.payload_len + 20;
    if next_hop_mtu == 0 {
        const PLATEAUS: [usize; 10] = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];
        PLATEAUS.iter().copied().find(|&p| p < original).unwrap_or(MIN_MTU)
    } else {
        usize::from(next_hop_mtu)
    }
    .max(MIN_MTU)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_limits_bursts_and_refills() {
        let mut b = TokenBucket::new(1000, 50);
        let t = Instant::from_secs(1);
        assert_eq!((0..100).filter(|_| b.take(t)).count(), 50);
        // One token per millisecond comes back.
        assert!(b.take(t + Duration::from_millis(1)));
        assert!(!b.take(t + Duration::from_millis(1)));
        assert_eq!((0..100).filter(|_| b.take(t + Duration::from_secs(10))).count(), 50);
    }
}
