//! IPv4 (RFC 791): the output path (route, source selection, header,
//! fragmentation, transmit queue), the input path (validation, local
//! delivery, reassembly) and forwarding between interfaces (RFC 1812).

pub mod fragment;
pub mod input;
pub mod reassembly;

use crate::counters::{Counters, DropReason};
use crate::iface::IfaceId;
use crate::{OutPacket, Stack};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{ChecksumMode, IpProtocol, Ipv4Addr, Ipv4Packet, Ipv4Repr};
use std::collections::VecDeque;
use std::io;

/// How a transport asks IP to send one datagram.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendParams {
    /// The source address, when the socket is bound to one; otherwise the
    /// outgoing interface's address is used (RFC 1122 §3.3.4.3).
    pub src: Option<Ipv4Addr>,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    pub ttl: u8,
    pub dont_frag: bool,
    /// Identification chosen by the sender (header-included raw sockets);
    /// otherwise the stack's counter.
    pub ident: Option<u16>,
}

/// A learned path MTU (RFC 1191), forgotten after ten minutes (§6.3).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PmtuEntry {
    pub mtu: usize,
    pub expires: Instant,
    /// Set from a report below `StackConfig::min_pmtu`: no report lowers
    /// it further, and TCP segments on the path go without Don't Fragment
    /// (Linux's locked MTU metric, `ip_mtu_locked`).
    pub locked: bool,
}

/// RFC 1191 §6.3: try a larger MTU again after this long.
pub(crate) const PMTU_AGING: Duration = Duration::from_secs(600);

/// RFC 791: every host accepts datagrams of 68 bytes unfragmented.
pub(crate) const MIN_MTU: usize = 68;

pub(crate) fn message_too_long(mtu: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("message too long: exceeds the path MTU of {mtu} bytes and DF is set"),
    )
}

impl Stack {
    /// Is `addr` one of this host's unicast addresses?
    pub(crate) fn is_local_unicast(&self, addr: Ipv4Addr) -> bool {
        addr.is_loopback() || self.ifaces.iter().any(|i| i.addr() == addr)
    }

    /// Whether a datagram to `dst` that came in on `iface` (`None`: looped
    /// back) is this host's: one of its addresses, or, on an interface that
    /// takes any address, any unicast address but a loopback one.
    pub(crate) fn takes_address(&self, iface: Option<IfaceId>, dst: Ipv4Addr) -> bool {
        self.is_local_unicast(dst)
            || (iface.and_then(|i| self.ifaces.get(i.0)).is_some_and(|i| i.any_address)
                && !(dst.is_unspecified() || dst.is_loopback() || dst.is_multicast() || self.is_broadcast(dst)))
    }

    /// Whether a raw socket is open for IP protocol `proto` (it is given
    /// every such datagram, which must then carry its real checksums).
    pub(crate) fn raw_watches(&self, proto: IpProtocol) -> bool {
        self.raw_by_protocol.get(&u8::from(proto)).is_some_and(|watchers| !watchers.is_empty())
    }

    /// Is `addr` a broadcast this host listens to?
    pub(crate) fn is_broadcast(&self, addr: Ipv4Addr) -> bool {
        addr.is_broadcast() || self.ifaces.iter().any(|i| i.is_directed_broadcast(addr))
    }

    pub(crate) fn next_ident(&mut self) -> u16 {
        self.next_ident = self.next_ident.wrapping_add(1);
        self.next_ident
    }

    /// The MTU towards `dst` out of `iface`: the interface's, lowered by
    /// what Path MTU Discovery has learned (RFC 1191).
    pub(crate) fn path_mtu(&mut self, now: Instant, iface: IfaceId, dst: Ipv4Addr) -> usize {
        let link = self.ifaces[iface.0].mtu;
        match self.pmtu.get(&dst) {
            Some(e) if e.expires > now => link.min(e.mtu),
            Some(_) => {
                self.pmtu.remove(&dst);
                link
            }
            None => link,
        }
    }

    /// Forgets the path MTUs that aged out, once the first locked one has:
    /// connections on those paths send with Don't Fragment again from
    /// their next flush (a new route epoch).
    pub(crate) fn pmtu_unlock(&mut self, now: Instant) {
        self.pmtu.retain(|_, e| e.expires > now);
        self.pmtu_unlock_at = self.pmtu.values().filter(|e| e.locked).map(|e| e.expires).min();
        self.route_epoch += 1;
    }

    /// Whether the path MTU to `dst` is locked (see [`PmtuEntry::locked`]).
    pub(crate) fn path_mtu_locked(&self, now: Instant, dst: Ipv4Addr) -> bool {
        self.pmtu.get(&dst).is_some_and(|e| e.locked && e.expires > now)
    }

    /// Free slots in the transmit queue.
    fn tx_room(&self) -> usize {
        self.config.tx_queue_len.saturating_sub(self.tx_queue.len())
    }

    /// Sends one datagram: chooses the route and source, writes the IPv4
    /// header, lets the transport fill its part in place (`fill` gets the
    /// final source and destination, which its checksum covers), and
    /// fragments when the datagram exceeds the path MTU and DF is clear.
    ///
    /// A full transmit queue is back-pressure: `WouldBlock`, nothing sent.
    pub(crate) fn ip_send(
        &mut self,
        now: Instant,
        params: SendParams,
        payload_len: usize,
        fill: impl FnOnce(Ipv4Addr, Ipv4Addr, &mut [u8]),
    ) -> io::Result<()> {
        let repr = Ipv4Repr {
            src_addr: params.src.unwrap_or(Ipv4Addr::UNSPECIFIED),
            dst_addr: params.dst,
            next_header: params.protocol,
            payload_len,
            hop_limit: params.ttl,
            ident: params.ident.unwrap_or(0),
            dont_frag: params.dont_frag,
            more_frags: false,
            frag_offset: 0,
            dscp_ecn: 0,
        };
        self.ip_output(now, repr, fill)
    }

    /// The output path shared by transports and header-included raw
    /// sockets. `repr` may describe a fragment (raw sockets may send
    /// those); an unspecified source or a zero identification is filled in.
    pub(crate) fn ip_output(
        &mut self,
        now: Instant,
        mut repr: Ipv4Repr,
        fill: impl FnOnce(Ipv4Addr, Ipv4Addr, &mut [u8]),
    ) -> io::Result<()> {
        let dst = repr.dst_addr;
        if dst.is_unspecified() || dst.is_multicast() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("cannot send to {dst}")));
        }
        let total = 20 + repr.payload_len;
        if total > usize::from(u16::MAX) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "datagram exceeds 65535 bytes"));
        }
        let bound_src = (!repr.src_addr.is_unspecified()).then_some(repr.src_addr);
        let hop = if self.is_local_unicast(dst) { None } else { Some(self.route_output(dst, bound_src)?) };
        repr.src_addr = match (bound_src, hop) {
            (Some(src), _) => src,
            (None, Some(hop)) => self.ifaces[hop.iface.0].addr(),
            // To ourselves: from the address we send to (RFC 1122 §3.3.6).
            (None, None) => dst,
        };
        if repr.ident == 0 {
            repr.ident = self.next_ident();
        }
        let mut buf = self.pool.take(total);
        fill(repr.src_addr, dst, &mut buf[20..]);
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), ChecksumMode::Verify);
        let Some(hop) = hop else {
            // A datagram to ourselves loops back inside the host and never
            // reaches a link.
            self.counters.ip_tx += 1;
            self.loopback.push_back((buf, ChecksumMode::Verify));
            return Ok(());
        };
        let mtu = self.path_mtu(now, hop.iface, dst);
        if total <= mtu {
            if self.tx_room() == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.enqueue(OutPacket { iface: hop.iface, next_hop: hop.addr, data: buf, gso_size: None });
            return Ok(());
        }
        if repr.dont_frag {
            return Err(message_too_long(mtu));
        }
        let fragments = fragment::fragment(&repr, &buf[20..], mtu).ok_or_else(|| message_too_long(mtu))?;
        // All fragments or none: a datagram with a missing fragment is lost.
        if self.tx_room() < fragments.len() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.counters.ip_fragments_tx += fragments.len() as u64;
        for data in fragments {
            self.enqueue(OutPacket { iface: hop.iface, next_hop: hop.addr, data, gso_size: None });
        }
        Ok(())
    }

    /// Chooses the way out for a locally generated datagram.
    fn route_output(&self, dst: Ipv4Addr, src: Option<Ipv4Addr>) -> io::Result<crate::route::NextHop> {
        let hop = if dst.is_broadcast() {
            // The limited broadcast leaves by the interface of the bound
            // source address, or the first interface (RFC 1122 §3.3.6).
            let iface = src
                .and_then(|s| self.ifaces.iter().find(|i| i.addr() == s))
                .or_else(|| self.ifaces.first())
                .ok_or_else(|| io::Error::new(io::ErrorKind::NetworkUnreachable, "no interface"))?;
            crate::route::NextHop { iface: iface.id, addr: dst }
        } else {
            self.routes
                .lookup(dst)
                .ok_or_else(|| io::Error::new(io::ErrorKind::NetworkUnreachable, format!("no route to {dst}")))?
        };
        if !self.ifaces[hop.iface.0].up {
            return Err(io::Error::new(io::ErrorKind::NetworkDown, "interface is down"));
        }
        Ok(hop)
    }

    pub(crate) fn enqueue(&mut self, packet: OutPacket) {
        enqueue_into(&mut self.tx_queue, &mut self.counters, packet);
    }

    /// Enqueues a packet that nobody can be pushed back on (forwarded, or
    /// an ICMP message): when the queue is full it is dropped and counted.
    pub(crate) fn enqueue_or_drop(&mut self, packet: OutPacket) {
        let tx_queue_len = self.config.tx_queue_len;
        enqueue_or_drop_into(&mut self.tx_queue, &mut self.counters, tx_queue_len, packet);
    }
}

/// [`Stack::enqueue`] on the transmit queue and counters alone.
#[inline(always)]
fn enqueue_into(tx_queue: &mut VecDeque<OutPacket>, counters: &mut Counters, packet: OutPacket) {
    counters.ip_tx += 1;
    tx_queue.push_back(packet);
}

/// [`Stack::enqueue_or_drop`] on the transmit queue (of at most
/// `tx_queue_len` packets) and counters alone, for a caller that holds
/// other parts of the stack borrowed meanwhile (a TCP flush).
#[inline(always)]
pub(crate) fn enqueue_or_drop_into(
    tx_queue: &mut VecDeque<OutPacket>,
    counters: &mut Counters,
    tx_queue_len: usize,
    packet: OutPacket,
) {
    if tx_queue.len() >= tx_queue_len {
        counters.drop(DropReason::TxQueueFull);
    } else {
        enqueue_into(tx_queue, counters, packet);
    }
}
