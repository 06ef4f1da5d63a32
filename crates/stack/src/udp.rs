//! Datagram sockets (UDP, RFC 768): their state, and the stack's UDP input
//! and output paths. Message boundaries are kept: one send is one datagram,
//! one receive returns one datagram.

use crate::counters::DropReason;
use crate::rxqueue::{Message, RxQueue};
use crate::socket::{DatagramShut, Socket, SocketHandle};
use crate::Stack;
use sockstack_time::Instant;
use sockstack_wire::{ChecksumMode, Ipv4Addr, Ipv4Repr, UdpPacket, UdpRepr};
use std::io;
use std::net::SocketAddrV4;

/// State of one UDP socket.
#[derive(Debug)]
pub struct UdpSocket {
    pub(crate) local: Option<SocketAddrV4>,
    pub(crate) remote: Option<SocketAddrV4>,
    pub(crate) rx: RxQueue,
    /// An asynchronous error to report on the next call (ICMP errors on a
    /// connected socket, RFC 1122 §4.1.3.3).
    pub(crate) pending_error: Option<io::ErrorKind>,
    pub(crate) ttl: u8,
    pub(crate) dont_frag: bool,
    pub(crate) shut: DatagramShut,
}

impl UdpSocket {
    pub(crate) fn new(rx_capacity: usize, ttl: u8) -> Self {
        UdpSocket {
            local: None,
            remote: None,
            rx: RxQueue::new(rx_capacity),
            pending_error: None,
            ttl,
            dont_frag: false,
            shut: DatagramShut::default(),
        }
    }
}

pub(crate) fn unreachable_error(kind: io::ErrorKind) -> io::Error {
    let what = match kind {
        io::ErrorKind::ConnectionRefused => "connection refused (ICMP port unreachable)",
        io::ErrorKind::HostUnreachable => "host unreachable (ICMP)",
        io::ErrorKind::NetworkUnreachable => "network unreachable (ICMP)",
        _ => "asynchronous socket error",
    };
    io::Error::new(kind, what)
}

impl Stack {
    /// RFC 768 input: checksum (as `checksum` says: `Ignore` when the
    /// device vouched for it, [`Stack::receive_offloaded`]), then
    /// demultiplex by destination (address, port) with one or two hash
    /// lookups.
    #[inline(never)] // another protocol's: kept off TCP's per-segment path (instruction cache)
    pub(crate) fn udp_input(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        payload: &[u8],
        to_broadcast: bool,
        checksum: ChecksumMode,
    ) {
        let udp = match UdpPacket::new_checked(payload) {
            Ok(p) => p,
            Err(_) => return self.counters.drop(DropReason::UdpMalformed),
        };
        let repr = match UdpRepr::parse(&udp, &ip.src_addr, &ip.dst_addr, checksum) {
            Ok(r) => r,
            Err(sockstack_wire::Error::BadChecksum) => return self.counters.drop(DropReason::UdpBadChecksum),
            Err(_) => return self.counters.drop(DropReason::UdpMalformed),
        };
        self.counters.udp_rx += 1;
        let src = SocketAddrV4::new(ip.src_addr, repr.src_port);
        let dst = SocketAddrV4::new(ip.dst_addr, repr.dst_port);
        let handle = self.udp_ports.lookup(dst);
        let Some(Socket::Udp(sock)) = handle.and_then(|h| self.sockets.get_mut(h)).map(|e| &mut e.socket) else {
            self.counters.drop(DropReason::UdpNoSocket);
            // RFC 1122 §4.1.3.1: port unreachable, but never for broadcasts.
            if !to_broadcast {
                self.icmp_port_unreachable(now, ip, payload);
            }
            return;
        };
        // A connected socket only hears from its peer: for anyone else the
        // port has no socket, and says so as above (Linux `__udp4_lib_rcv`
        // finds no socket for such a datagram either).
        if sock.remote.is_some_and(|remote| remote != src) {
            self.counters.drop(DropReason::UdpNoSocket);
            if !to_broadcast {
                self.icmp_port_unreachable(now, ip, payload);
            }
            return;
        }
        let message = Message { src, dst, data: udp.payload().to_vec() };
        if sock.rx.push(message).is_err() {
            self.counters.drop(DropReason::UdpQueueFull);
        }
    }

    /// Binds `handle` to an ephemeral port when it has none (`connect` and
    /// `send_to` on an unbound socket do this, as in BSD).
    pub(crate) fn udp_autobind(&mut self, handle: SocketHandle, remote: SocketAddrV4) -> io::Result<SocketAddrV4> {
        let sock = self.udp_mut(handle)?;
        if let Some(local) = sock.local {
            return Ok(local);
        }
        let local_ip = Ipv4Addr::UNSPECIFIED;
        let ports = &self.udp_ports;
        let port = self
            .ephemeral
            .select(local_ip, remote, |p| ports.is_free(SocketAddrV4::new(local_ip, p)))
            .ok_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no ephemeral port free"))?;
        let local = SocketAddrV4::new(local_ip, port);
        self.udp_ports.insert(local, handle)?;
        self.udp_mut(handle)?.local = Some(local);
        Ok(local)
    }

    pub(crate) fn udp_send_datagram(
        &mut self,
        now: Instant,
        handle: SocketHandle,
        data: &[u8],
        dst: SocketAddrV4,
    ) -> io::Result<usize> {
        if dst.port() == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "destination port 0"));
        }
        // The UDP length field is 16 bits.
        if data.len() > usize::from(u16::MAX) - 8 - 20 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "message too long for a UDP datagram"));
        }
        let local = self.udp_autobind(handle, dst)?;
        let sock = self.udp_mut(handle)?;
        if let Some(kind) = sock.pending_error.take() {
            return Err(unreachable_error(kind));
        }
        let (ttl, dont_frag) = (sock.ttl, sock.dont_frag);
        let repr = UdpRepr { src_port: local.port(), dst_port: dst.port() };
        let src_ip = (!local.ip().is_unspecified()).then_some(*local.ip());
        self.ip_send(
            now,
            crate::ip::SendParams {
                src: src_ip,
                dst: *dst.ip(),
                protocol: sockstack_wire::IpProtocol::Udp,
                ttl,
                dont_frag,
                ident: None,
            },
            8 + data.len(),
            |src, dst, buf| {
                let mut pkt = UdpPacket::new_unchecked(buf);
                repr.emit(&mut pkt, &src, &dst, data.len(), |p| p.copy_from_slice(data), ChecksumMode::Verify);
            },
        )?;
        self.counters.udp_tx += 1;
        Ok(data.len())
    }
}
