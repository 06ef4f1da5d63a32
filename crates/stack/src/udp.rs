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
    /// The catch-all socket ([`Stack::udp_bind_any`]).
    pub(crate) any: bool,
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
            any: false,
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
        let handle = self.udp_ports.lookup(dst).or(self.udp_catch_all);
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
        if sock.any {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a socket bound to any address names its source (send_from) and has no peer",
            ));
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
        check_datagram(dst, data.len())?;
        let local = self.udp_autobind(handle, dst)?;
        let sock = self.udp_mut(handle)?;
        if let Some(kind) = sock.pending_error.take() {
            return Err(unreachable_error(kind));
        }
        let (ttl, dont_frag) = (sock.ttl, sock.dont_frag);
        self.udp_emit(now, (ttl, dont_frag), local, dst, data)
    }

    /// Takes every UDP datagram no other socket takes, to any address and
    /// port, with an interface that takes any address
    /// ([`crate::InterfaceConfig::with_any_address`]): the UDP half of a
    /// tun2socks stack. [`Stack::recv_message`] tells where each was sent;
    /// [`Stack::udp_send_from`] answers from there. One such socket a
    /// stack; the socket must be unbound.
    ///
    /// # Errors
    /// `AddrInUse` when another socket holds the role; `InvalidInput` for
    /// a bound or connected socket.
    pub fn udp_bind_any(&mut self, handle: SocketHandle) -> io::Result<()> {
        if self.udp_catch_all.is_some() {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, "another socket is bound to any address"));
        }
        let sock = self.udp_mut(handle)?;
        if sock.local.is_some() || sock.remote.is_some() || sock.any {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "socket is already bound"));
        }
        sock.any = true;
        self.udp_catch_all = Some(handle);
        Ok(())
    }

    /// Sends one datagram from `src`, any address and port, to `dst`: the
    /// answer of the socket bound to any address ([`Stack::udp_bind_any`])
    /// to a datagram that was sent to `src`.
    ///
    /// # Errors
    /// `InvalidInput` on any other socket, or for a zero source port or an
    /// unspecified source address; otherwise as [`Stack::send_to`].
    pub fn udp_send_from(
        &mut self,
        now: Instant,
        handle: SocketHandle,
        data: &[u8],
        src: SocketAddrV4,
        dst: SocketAddrV4,
    ) -> io::Result<usize> {
        let sock = self.udp_mut(handle)?;
        if !sock.any {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "send_from needs a socket bound to any address"));
        }
        if src.port() == 0 || src.ip().is_unspecified() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "source address or port unspecified"));
        }
        if sock.shut.write {
            return Err(crate::shut_for_writing(None));
        }
        let (ttl, dont_frag) = (sock.ttl, sock.dont_frag);
        check_datagram(dst, data.len())?;
        self.udp_emit(now, (ttl, dont_frag), src, dst, data)
    }

    /// Builds and queues one datagram from `local` (an unspecified address
    /// takes the route's) to `dst`.
    fn udp_emit(
        &mut self,
        now: Instant,
        (ttl, dont_frag): (u8, bool),
        local: SocketAddrV4,
        dst: SocketAddrV4,
        data: &[u8],
    ) -> io::Result<usize> {
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

/// What any UDP send refuses before anything else: destination port 0,
/// and more data than the 16-bit length field counts.
fn check_datagram(dst: SocketAddrV4, len: usize) -> io::Result<()> {
    if dst.port() == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "destination port 0"));
    }
    if len > usize::from(u16::MAX) - 8 - 20 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "message too long for a UDP datagram"));
    }
    Ok(())
}
