#![warn(missing_docs)]
//! One host's network stack, sans-IO.
//!
//! A [`Stack`] owns a host's interfaces, routing table, sockets and the
//! IPv4/ICMP/UDP/raw protocol state. It does no I/O and never reads a clock:
//! the driver hands it packets ([`Stack::receive`]), takes the packets it
//! wants sent ([`Stack::dispatch`]), and calls [`Stack::poll`] when
//! [`Stack::poll_at`] says a timer is due. The same code then runs in the
//! deterministic simulator, on a real-time thread over a TUN device, or
//! under an async runtime.
//!
//! Sockets are named by generational [`SocketHandle`]s and owned by a
//! [`ProcessId`]; socket calls return `std::io::Error` with the kinds a
//! socket programmer expects.

pub mod counters;
mod demux;
pub mod gso;
pub mod icmp;
pub mod iface;
pub mod ip;
pub mod ping;
mod pool;
pub mod ports;
pub mod raw;
pub mod route;
pub mod rxqueue;
pub mod socket;
pub mod target;
pub mod tcp;
mod tcp_conn;
mod tcp_time_wait;
mod timer_heap;
pub mod udp;
pub mod wake;

pub use counters::{Counters, DropReason};
pub use iface::{IfaceId, Interface, InterfaceConfig};
pub use ip::reassembly::ReassemblyConfig;
pub use route::{NextHop, Route, RoutingTable};
pub use rxqueue::Message;
pub use socket::{ProcessId, Readiness, SocketHandle, SocketKind};
pub use target::split_host_port;
pub use tcp_conn::TcpConn;

use icmp::TokenBucket;
use ip::reassembly::Reassembler;
use ip::PmtuEntry;
use ports::{EphemeralPorts, PortTable};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use raw::RawSocket;
use slotmap::SlotMap;
use socket::{Socket, SocketEntry};
use sockstack_tcp::{IsnGenerator, SynCookies, TcpConfig};
use sockstack_time::Instant;
use sockstack_wire::{ChecksumMode, IpProtocol, Ipv4Addr, Ipv4Cidr, Ipv4Packet};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddrV4;
use std::task::Waker;
use udp::UdpSocket;

/// Tunables of one stack. `Default` gives Linux-like values.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Seeds every random choice (ephemeral ports, IP identification), so a
    /// simulation reproduces bit for bit.
    pub seed: u64,
    /// Forward datagrams not addressed to us (a router).
    pub forwarding: bool,
    /// TTL of datagrams this host originates (Linux: 64).
    pub default_ttl: u8,
    /// Receive queue bound of datagram sockets, bytes (Linux `rmem_default`).
    pub udp_recv_buffer: usize,
    /// Receive queue bound of raw sockets, bytes.
    pub raw_recv_buffer: usize,
    /// Packets waiting for the link (Linux `txqueuelen`: 1000).
    pub tx_queue_len: usize,
    /// TCP segments built ahead of the link (in the spirit of Linux's TCP
    /// small queues): with this many packets queued, TCP output waits in
    /// its send buffers, and the driver's next [`Stack::dispatch`] on an
    /// empty queue builds the next batch. A packet is then still in cache
    /// when it leaves, and the queue stays short; the bulk benchmark at
    /// MTU 1500 moved about 10% more than with the whole queue.
    pub tcp_tx_batch: usize,
    /// Inclusive ephemeral port range (Linux: 32768–60999).
    pub ephemeral_ports: (u16, u16),
    /// Limits of IPv4 reassembly (timeout, memory).
    pub reassembly: ReassemblyConfig,
    /// ICMP error rate limit: tokens per second and burst.
    pub icmp_rate_per_sec: u32,
    /// Burst size of the ICMP error rate limit, in messages.
    pub icmp_burst: u32,
    /// The lowest path MTU a "fragmentation needed" may set (Linux
    /// `net.ipv4.route.min_pmtu`: 552). A report below it sets this and
    /// locks the path: datagrams to it go without Don't Fragment, for a
    /// router to fragment, and no later report lowers it until it ages
    /// out. A forged report cannot shrink a path to 68-octet datagrams.
    pub min_pmtu: usize,
    /// Defaults of every TCP connection (sockets may override some).
    pub tcp: TcpConfig,
    /// Largest accept backlog (Linux `somaxconn`: 4096).
    pub tcp_somaxconn: usize,
    /// SYN queue bound per listener before SYN cookies, below its backlog.
    /// Not quite Linux's `tcp_max_syn_backlog`, which counts only with
    /// cookies off (with them on, the backlog alone bounds the queue): a
    /// half-open connection here is a whole connection (about 2 KB, where
    /// Linux's request socket is a few hundred octets), so a SYN flood
    /// fills at most this many per listener before cookies take over.
    /// Cookies keep window scaling and SACK only for SYNs with timestamps.
    pub tcp_max_syn_backlog: usize,
    /// Most TIME-WAIT records held at once (Linux `tcp_max_tw_buckets`);
    /// a connection closing past it skips TIME-WAIT, and is counted
    /// (`Counters::tcp_tw_overflow`). A record takes about 300 octets.
    pub tcp_max_tw_buckets: usize,
    /// Octets that receive- and send-buffer auto-tuning may add, over all
    /// of this stack's connections together (Linux `tcp_mem` pressure: at
    /// the limit, buffers stop growing, except to an equal share of it;
    /// see [`sockstack_tcp::MemoryBudget`]). Linux sizes it from the
    /// machine's RAM. A user-space stack shares its process's memory, and
    /// buffers many times larger than the paths need make every octet
    /// copied through them a cache miss: 100 busy streams on one stack
    /// moved about 6 Gbit/s in all without a limit and 11 Gbit/s with
    /// this default of 32 MiB (`sockstack bench api`), which is three
    /// connections at their full auto-tuned size.
    pub tcp_mem_limit: usize,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            seed: 0,
            forwarding: false,
            default_ttl: 64,
            udp_recv_buffer: 212_992,
            raw_recv_buffer: 212_992,
            tx_queue_len: 1000,
            tcp_tx_batch: 64,
            ephemeral_ports: (32768, 60999),
            reassembly: ReassemblyConfig::default(),
            icmp_rate_per_sec: 1000,
            icmp_burst: 50,
            min_pmtu: 552,
            tcp: TcpConfig::default(),
            tcp_somaxconn: 4096,
            tcp_max_syn_backlog: 256,
            tcp_max_tw_buckets: 262_144,
            tcp_mem_limit: 32 << 20,
        }
    }
}

/// A packet the stack wants sent: out of `iface`, to the link neighbour
/// `next_hop` (the gateway, or the destination when on-link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutPacket {
    /// Interface to send it out of.
    pub iface: IfaceId,
    /// Link neighbour the packet is for: the gateway, or the destination when
    /// on-link.
    pub next_hop: Ipv4Addr,
    /// The IPv4 datagram, header included.
    pub data: Vec<u8>,
    /// `Some(n)` for a segmentation-offload datagram (only on an interface
    /// configured [`InterfaceConfig::with_gso`]): TCP segments of `n`
    /// payload octets each (the last may be shorter) under one header,
    /// which [`gso::segment`] splits into the datagrams they stand for.
    pub gso_size: Option<u16>,
}

/// One host's network stack. See the crate docs.
pub struct Stack {
    pub(crate) config: StackConfig,
    pub(crate) ifaces: Vec<Interface>,
    pub(crate) routes: RoutingTable,
    pub(crate) forwarding: bool,
    pub(crate) sockets: SlotMap<SocketHandle, SocketEntry>,
    pub(crate) udp_ports: PortTable,
    /// The UDP socket that takes datagrams no other socket does
    /// ([`Stack::udp_bind_any`]).
    pub(crate) udp_catch_all: Option<SocketHandle>,
    /// The listener that takes SYNs no other listener does
    /// ([`Stack::tcp_listen_any`]).
    pub(crate) tcp_catch_all: Option<SocketHandle>,
    pub(crate) tcp_ports: PortTable,
    /// Connections by 4-tuple: O(1) demultiplexing.
    pub(crate) tcp_conns: demux::ConnTable,
    /// Closed connections waiting out 2·MSL, as compact records.
    pub(crate) tcp_time_wait: tcp_time_wait::TimeWaitTable,
    /// Live connections per local port, TIME-WAIT records included (a
    /// bind there is refused).
    pub(crate) tcp_port_users: ports::PortCounts,
    /// The buffer growth all connections share (`tcp_mem_limit`).
    pub(crate) tcp_memory: sockstack_tcp::MemoryBudget,
    /// `config.tcp`, shared by the TCP sockets opened here and their
    /// connections until an option is set on one (accepted sockets share
    /// their listener's).
    pub(crate) tcp_config: std::sync::Arc<sockstack_tcp::TcpConfig>,
    /// Segments linked connections exchanged outside the stack
    /// (`TcpConn::exchange`), not yet in the counters.
    pub(crate) tcp_direct_tally: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Connections with output or timer work due now.
    pub(crate) tcp_dirty: VecDeque<SocketHandle>,
    /// Latest time a packet was received: the time at which output that
    /// `receive` deferred is built, when `dispatch` builds it.
    pub(crate) rx_clock: Instant,
    /// Connection deadlines, earliest first.
    pub(crate) tcp_timers: timer_heap::TimerHeap,
    pub(crate) isn: IsnGenerator,
    pub(crate) syn_cookies: SynCookies,
    pub(crate) raw_by_protocol: HashMap<u8, Vec<SocketHandle>>,
    pub(crate) ephemeral: EphemeralPorts,
    pub(crate) tx_queue: VecDeque<OutPacket>,
    /// Moves on with every change to interfaces, routes or raw sockets:
    /// what a connection worked out about its way out stays valid until
    /// then (`tcp::RouteCache`).
    pub(crate) route_epoch: u64,
    /// Wakers of senders that met a full transmit queue.
    tx_waiters: Vec<Waker>,
    /// Datagrams to this host, and how to check them (`Ignore` for the
    /// segments TCP built without checksums, see `loopback_checksum`).
    pub(crate) loopback: VecDeque<(Vec<u8>, ChecksumMode)>,
    pub(crate) reassembler: Reassembler,
    pub(crate) pmtu: HashMap<Ipv4Addr, PmtuEntry>,
    /// When the first locked path MTU ages out (see `PmtuEntry::locked`).
    pub(crate) pmtu_unlock_at: Option<Instant>,
    pub(crate) icmp_rate: TokenBucket,
    pub(crate) next_ident: u16,
    pub(crate) counters: Counters,
    pub(crate) pool: pool::BufferPool,
}

fn not_found() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "no such socket (closed or never opened)")
}

/// A send on a datagram socket shut down for writing: a pending ICMP
/// error first (Linux `sock_alloc_send_pskb`), else `BrokenPipe`.
pub(crate) fn shut_for_writing(pending: Option<io::ErrorKind>) -> io::Error {
    match pending {
        Some(kind) => udp::unreachable_error(kind),
        None => io::Error::new(io::ErrorKind::BrokenPipe, "socket is shut down for writing"),
    }
}

fn wrong_kind(op: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{op} is not supported by this socket type"))
}

impl Stack {
    /// A stack with no interfaces, routes or sockets. Every random choice
    /// (ephemeral ports, ISN and SYN-cookie secrets, IP identification) is
    /// drawn from `config.seed`.
    pub fn new(config: StackConfig) -> Stack {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let ephemeral = EphemeralPorts::new(config.ephemeral_ports, || rng.next_u64());
        let mut secret = || {
            let mut k = [0u8; 16];
            rng.fill_bytes(&mut k);
            k
        };
        let isn = IsnGenerator::new(secret());
        let syn_cookies = SynCookies::new(secret());
        Stack {
            forwarding: config.forwarding,
            ifaces: Vec::new(),
            routes: RoutingTable::default(),
            sockets: SlotMap::with_key(),
            udp_ports: PortTable::default(),
            udp_catch_all: None,
            tcp_catch_all: None,
            tcp_ports: PortTable::default(),
            tcp_conns: demux::ConnTable::default(),
            tcp_time_wait: Default::default(),
            tcp_port_users: Default::default(),
            tcp_memory: sockstack_tcp::MemoryBudget::new(config.tcp_mem_limit),
            tcp_config: std::sync::Arc::new(config.tcp.clone()),
            tcp_direct_tally: Default::default(),
            tcp_dirty: VecDeque::new(),
            rx_clock: Instant::ZERO,
            tcp_timers: timer_heap::TimerHeap::default(),
            isn,
            syn_cookies,
            raw_by_protocol: HashMap::new(),
            ephemeral,
            tx_queue: VecDeque::new(),
            route_epoch: 1,
            tx_waiters: Vec::new(),
            loopback: VecDeque::new(),
            reassembler: Reassembler::new(config.reassembly),
            pmtu: HashMap::new(),
            pmtu_unlock_at: None,
            icmp_rate: TokenBucket::new(config.icmp_rate_per_sec, config.icmp_burst),
            next_ident: rng.next_u32() as u16,
            counters: Counters::default(),
            pool: pool::BufferPool::default(),
            config,
        }
    }

    // ----- interfaces and routes -------------------------------------

    /// Adds an interface and the on-link route for its network.
    pub fn add_interface(&mut self, config: InterfaceConfig) -> IfaceId {
        let id = IfaceId(self.ifaces.len());
        self.route_epoch += 1;
        self.routes.add(Route { dest: config.cidr.network(), gateway: None, iface: id });
        self.ifaces.push(Interface {
            id,
            name: config.name,
            cidr: config.cidr,
            mtu: config.mtu,
            gso_max_size: config.gso_max_size,
            up: true,
            any_address: config.any_address,
        });
        id
    }

    /// Every interface, in the order added (indexed by [`IfaceId`]).
    pub fn interfaces(&self) -> &[Interface] {
        &self.ifaces
    }

    /// The interface `id`; `None` if there is no such interface.
    pub fn interface(&self, id: IfaceId) -> Option<&Interface> {
        self.ifaces.get(id.0)
    }

    /// Brings an interface up or down; a down interface neither sends nor
    /// receives.
    pub fn set_interface_up(&mut self, id: IfaceId, up: bool) -> io::Result<()> {
        let iface =
            self.ifaces.get_mut(id.0).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such interface"))?;
        iface.up = up;
        self.route_epoch += 1;
        Ok(())
    }

    /// Makes an interface take datagrams for any unicast address, or stop
    /// ([`InterfaceConfig::with_any_address`]).
    pub fn set_interface_any_address(&mut self, id: IfaceId, on: bool) -> io::Result<()> {
        let iface =
            self.ifaces.get_mut(id.0).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such interface"))?;
        iface.any_address = on;
        Ok(())
    }

    /// Adds a route to `dest` via `gateway` (`None`: on-link) out of `iface`,
    /// replacing any route for the same prefix. `InvalidInput` if there is no
    /// such interface.
    pub fn add_route(&mut self, dest: Ipv4Cidr, gateway: Option<Ipv4Addr>, iface: IfaceId) -> io::Result<()> {
        if iface.0 >= self.ifaces.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no such interface"));
        }
        self.routes.add(Route { dest, gateway, iface });
        self.route_epoch += 1;
        Ok(())
    }

    /// The default route via `gateway`, out of the interface on whose
    /// network the gateway is.
    pub fn set_default_gateway(&mut self, gateway: Ipv4Addr) -> io::Result<()> {
        let hop = self.routes.lookup(gateway).filter(|h| h.addr == gateway).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NetworkUnreachable, format!("gateway {gateway} is not on-link"))
        })?;
        self.add_route(Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 0).expect("valid"), Some(gateway), hop.iface)
    }

    /// The routing table.
    pub fn routes(&self) -> &RoutingTable {
        &self.routes
    }

    /// Turns forwarding of datagrams not addressed to this host (acting as a
    /// router) on or off.
    pub fn set_forwarding(&mut self, on: bool) {
        self.forwarding = on;
    }

    /// Traffic and drop counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The configuration the stack was created with (`set_forwarding` does not
    /// change it).
    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    /// Octets of buffer growth TCP auto-tuning has taken, of the
    /// `tcp_mem_limit` all connections share.
    pub fn tcp_memory_used(&self) -> usize {
        self.tcp_memory.used()
    }

    /// The path MTU learned for `dst`, if any (RFC 1191).
    pub fn learned_path_mtu(&self, now: Instant, dst: Ipv4Addr) -> Option<usize> {
        self.pmtu.get(&dst).filter(|e| e.expires > now).map(|e| e.mtu)
    }

    // ----- the driver's side ----------------------------------------

    /// The next packet to put on a link, if any. Taking packets frees
    /// transmit-queue room and wakes senders that were pushed back.
    ///
    /// TCP's answers to received segments (ACKs, and the data those ACKs
    /// release) are built here, or by [`Stack::poll`], not by
    /// [`Stack::receive`]: a batch of segments received together is
    /// answered once, with one cumulative ACK, as GRO makes Linux do.
    /// Connections are asked for more only once the queue is empty, so a
    /// sender held back by a full queue refills it in one batch, not one
    /// packet per call.
    #[inline]
    pub fn dispatch(&mut self) -> Option<OutPacket> {
        if self.tx_queue.is_empty() && !self.tcp_dirty.is_empty() {
            self.tcp_flush(self.rx_clock);
        }
        let p = self.tx_queue.pop_front()?;
        if !self.tx_waiters.is_empty() {
            for w in self.tx_waiters.drain(..) {
                w.wake();
            }
        }
        Some(p)
    }

    /// Hands back a packet buffer the driver is done with (one it got from
    /// [`Stack::dispatch`] or passed to [`Stack::receive`]), so the next
    /// packet reuses it instead of allocating.
    #[inline]
    pub fn recycle(&mut self, buffer: Vec<u8>) {
        self.pool.give(buffer);
    }

    /// Packets waiting for a link (not counting TCP output that
    /// [`Stack::dispatch`] or [`Stack::poll`] has yet to build).
    pub fn pending_tx(&self) -> usize {
        self.tx_queue.len()
    }

    /// Runs what is due at `now`: loopback delivery, TCP output and
    /// timers, reassembly timeouts.
    pub fn poll(&mut self, now: Instant) {
        // Loopback packets are received in batches, like a link's; the
        // answers to one batch (built by the flush) may loop back again.
        while !self.loopback.is_empty() {
            while let Some((packet, checksum)) = self.loopback.pop_front() {
                self.ip_input(now, None, &packet, checksum);
                self.pool.give(packet);
            }
            self.tcp_flush(now);
        }
        self.tcp_poll_timers(now);
        for expired in self.reassembler.expire(now) {
            self.counters.drop(DropReason::FragTimeout);
            // RFC 1122 §3.3.2: time exceeded (code 1) if fragment zero came.
            if let Some(header) = expired.header {
                self.icmp_error_time_exceeded(
                    now,
                    &header,
                    &expired.first_bytes,
                    sockstack_wire::TimeExceeded::FragReassemblyExpired,
                );
            }
        }
    }

    /// When [`Stack::poll`] next has work: `Some(Instant::ZERO)` means now.
    #[inline]
    pub fn poll_at(&self) -> Option<Instant> {
        if !self.loopback.is_empty() {
            return Some(Instant::ZERO);
        }
        // Asked by a driver around every batch: a plain minimum of the two.
        match (self.reassembler.poll_at(), self.tcp_poll_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ----- sockets: opening, binding, closing -------------------------

    /// Opens an unbound stream (TCP) socket owned by `owner`.
    pub fn tcp_open(&mut self, owner: ProcessId) -> SocketHandle {
        let sock = tcp::TcpSocket {
            bound: None,
            config: std::sync::Arc::clone(&self.tcp_config),
            role: tcp::TcpRole::Idle,
            opts: tcp::SocketOpts::new(self.config.default_ttl),
        };
        self.sockets.insert(SocketEntry { owner, socket: Socket::Tcp(sock) })
    }

    /// Opens an unbound datagram (UDP) socket owned by `owner`.
    pub fn udp_open(&mut self, owner: ProcessId) -> SocketHandle {
        let sock = UdpSocket::new(self.config.udp_recv_buffer, self.config.default_ttl);
        self.sockets.insert(SocketEntry { owner, socket: Socket::Udp(sock) })
    }

    /// Opens a raw socket for IP protocol `protocol`. With
    /// `header_included`, sends carry a whole IPv4 datagram (`IP_HDRINCL`).
    pub fn raw_open(
        &mut self,
        owner: ProcessId,
        protocol: IpProtocol,
        header_included: bool,
    ) -> io::Result<SocketHandle> {
        if u8::from(protocol) == 0 || u8::from(protocol) == 255 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "raw sockets need a concrete protocol number"));
        }
        let sock = RawSocket::new(protocol, header_included, self.config.raw_recv_buffer, self.config.default_ttl);
        let h = self.sockets.insert(SocketEntry { owner, socket: Socket::Raw(sock) });
        self.raw_by_protocol.entry(protocol.into()).or_default().push(h);
        // A raw TCP socket must see loopback datagrams with checksums.
        self.route_epoch += 1;
        if protocol == IpProtocol::Tcp {
            // It must see every TCP datagram: local connections stop
            // handing segments to each other.
            self.tcp_unlink_all();
        }
        Ok(h)
    }

    pub(crate) fn udp_mut(&mut self, h: SocketHandle) -> io::Result<&mut UdpSocket> {
        match self.sockets.get_mut(h).map(|e| &mut e.socket) {
            Some(Socket::Udp(s)) => Ok(s),
            Some(_) => Err(wrong_kind("this call")),
            None => Err(not_found()),
        }
    }

    fn check_local_addr(&self, ip: Ipv4Addr) -> io::Result<()> {
        if ip.is_unspecified() || self.is_local_unicast(ip) || self.is_broadcast(ip) {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::AddrNotAvailable, format!("{ip} is not an address of this host")))
        }
    }

    /// Binds to a local (address, port). Port 0 picks an ephemeral port
    /// (RFC 6056). Errors: `AddrInUse` when taken, `AddrNotAvailable` when
    /// the address is not this host's, `InvalidInput` when already bound.
    pub fn bind(&mut self, h: SocketHandle, addr: SocketAddrV4) -> io::Result<()> {
        self.check_local_addr(*addr.ip())?;
        match self.sockets.get_mut(h).map(|e| &mut e.socket) {
            None => Err(not_found()),
            Some(Socket::Tcp(_)) => self.tcp_bind(h, addr),
            Some(Socket::Raw(sock)) => {
                sock.local = (!addr.ip().is_unspecified()).then_some(*addr.ip());
                Ok(())
            }
            Some(Socket::Udp(sock)) => {
                if sock.local.is_some() || sock.any {
                    return Err(io::Error::new(io::ErrorKind::InvalidInput, "socket is already bound"));
                }
                let addr = if addr.port() == 0 {
                    let ports = &self.udp_ports;
                    let ip = *addr.ip();
                    let port = self
                        .ephemeral
                        .select(ip, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0), |p| {
                            ports.is_free(SocketAddrV4::new(ip, p))
                        })
                        .ok_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no ephemeral port free"))?;
                    SocketAddrV4::new(ip, port)
                } else {
                    addr
                };
                self.udp_ports.insert(addr, h)?;
                self.udp_mut(h)?.local = Some(addr);
                Ok(())
            }
        }
    }

    /// Sets the default peer: sends without an address go there and only
    /// its datagrams are received. Binds an ephemeral port if unbound.
    pub fn connect(&mut self, h: SocketHandle, remote: SocketAddrV4) -> io::Result<()> {
        if remote.ip().is_unspecified() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot connect to the unspecified address"));
        }
        match self.sockets.get_mut(h).map(|e| &mut e.socket) {
            None => Err(not_found()),
            Some(Socket::Tcp(_)) => Err(wrong_kind("connect without a time (use tcp_connect)")),
            Some(Socket::Raw(_)) => {
                // As UDP's below: a socket not bound to an address takes
                // the route's source address, which `local_addr` names and
                // which alone it then hears (Linux `ip4_datagram_connect`,
                // shared by raw and UDP sockets). No route: no connect.
                let (src, _) = self.route_source(*remote.ip())?;
                let Some(Socket::Raw(sock)) = self.sockets.get_mut(h).map(|e| &mut e.socket) else {
                    return Err(not_found());
                };
                sock.local.get_or_insert(src);
                sock.remote = Some(*remote.ip());
                Ok(())
            }
            Some(Socket::Udp(_)) => {
                if remote.port() == 0 {
                    return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot connect to port 0"));
                }
                // The local address becomes the source address the route
                // to the peer gives (RFC 1122 §3.3.4.3), unless the socket
                // is bound to one: `local_addr` then names it, and only
                // datagrams to it are heard, as Linux's
                // `ip4_datagram_connect` has it. No route: no connect.
                let (src, _) = self.route_source(*remote.ip())?;
                let local = self.udp_autobind(h, remote)?;
                if local.ip().is_unspecified() {
                    // The wildcard held the port alone: the move cannot
                    // collide.
                    let fixed = SocketAddrV4::new(src, local.port());
                    self.udp_ports.remove(local);
                    self.udp_ports.insert(fixed, h)?;
                    self.udp_mut(h)?.local = Some(fixed);
                }
                let sock = self.udp_mut(h)?;
                sock.remote = Some(remote);
                sock.pending_error = None;
                Ok(())
            }
        }
    }

    /// The source address for datagrams to `dst` from a socket not bound
    /// to an address (RFC 1122 §3.3.4.3), and the next hop: `dst` itself
    /// and no hop when it is ours, else the address of the interface its
    /// route leaves by. `NetworkUnreachable` when there is no route.
    pub(crate) fn route_source(&self, dst: Ipv4Addr) -> io::Result<(Ipv4Addr, Option<route::NextHop>)> {
        if self.is_local_unicast(dst) {
            return Ok((dst, None));
        }
        let hop = self
            .routes
            .lookup(dst)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NetworkUnreachable, format!("no route to {dst}")))?;
        Ok((self.ifaces[hop.iface.0].addr(), Some(hop)))
    }

    /// Closes a socket and frees its port at once.
    pub fn close(&mut self, h: SocketHandle) -> io::Result<()> {
        if let Some(Socket::Tcp(_)) = self.sockets.get(h).map(|e| &e.socket) {
            return self.tcp_close(h);
        }
        let entry = self.sockets.remove(h).ok_or_else(not_found)?;
        match entry.socket {
            Socket::Tcp(_) => {}
            Socket::Udp(mut s) => {
                if let Some(local) = s.local {
                    self.udp_ports.remove(local);
                }
                if s.any {
                    self.udp_catch_all = None;
                }
                s.rx.wake();
            }
            Socket::Raw(mut s) => {
                if let Some(v) = self.raw_by_protocol.get_mut(&u8::from(s.protocol)) {
                    v.retain(|&x| x != h);
                }
                self.route_epoch += 1;
                s.rx.wake();
            }
        }
        Ok(())
    }

    /// Closes every socket of `owner` (the process exited). Returns how many.
    pub fn close_owner(&mut self, owner: ProcessId) -> usize {
        // Orphaned TCP connections finishing their close belong to nobody.
        let handles: Vec<SocketHandle> =
            self.sockets.iter().filter(|(_, e)| e.owner == owner && !e.is_orphaned()).map(|(h, _)| h).collect();
        for &h in &handles {
            let _ = self.close(h);
        }
        handles.len()
    }

    /// The process that owns socket `h`; `NotFound` if the handle is closed or
    /// unknown.
    pub fn owner(&self, h: SocketHandle) -> io::Result<ProcessId> {
        self.sockets.get(h).map(|e| e.owner).ok_or_else(not_found)
    }

    /// The protocol family of socket `h`; `NotFound` if the handle is closed or
    /// unknown.
    pub fn kind(&self, h: SocketHandle) -> io::Result<SocketKind> {
        self.sockets.get(h).map(|e| e.kind()).ok_or_else(not_found)
    }

    /// Number of open sockets.
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// The local address of socket `h`: `0.0.0.0:0` while unbound, port 0 for a
    /// raw socket; `NotFound` if the handle is closed or unknown.
    pub fn local_addr(&self, h: SocketHandle) -> io::Result<SocketAddrV4> {
        match self.sockets.get(h).map(|e| &e.socket) {
            None => Err(not_found()),
            Some(Socket::Tcp(_)) => self.tcp_local_addr(h),
            Some(Socket::Udp(s)) => Ok(s.local.unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))),
            Some(Socket::Raw(s)) => Ok(SocketAddrV4::new(s.local.unwrap_or(Ipv4Addr::UNSPECIFIED), 0)),
        }
    }

    /// The connected peer; `NotConnected` when there is none.
    pub fn peer_addr(&self, h: SocketHandle) -> io::Result<SocketAddrV4> {
        let remote = match self.sockets.get(h).map(|e| &e.socket) {
            None => return Err(not_found()),
            Some(Socket::Tcp(_)) => return self.tcp_peer_addr(h),
            Some(Socket::Udp(s)) => s.remote,
            Some(Socket::Raw(s)) => s.remote.map(|ip| SocketAddrV4::new(ip, 0)),
        };
        remote.ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "socket is not connected"))
    }

    // ----- sockets: options -----------------------------------------

    /// Sets the TTL of the socket's outgoing datagrams (`IP_TTL`);
    /// `InvalidInput` for 0.
    pub fn set_ttl(&mut self, h: SocketHandle, ttl: u8) -> io::Result<()> {
        if ttl == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "TTL must be at least 1"));
        }
        match self.sockets.get_mut(h).map(|e| &mut e.socket) {
            None => Err(not_found()),
            Some(Socket::Tcp(s)) => {
                s.opts.ttl = ttl;
                Ok(())
            }
            Some(Socket::Udp(s)) => {
                s.ttl = ttl;
                Ok(())
            }
            Some(Socket::Raw(s)) => {
                s.ttl = ttl;
                Ok(())
            }
        }
    }

    /// The TTL of the socket's outgoing datagrams (`IP_TTL`).
    pub fn ttl(&self, h: SocketHandle) -> io::Result<u8> {
        match self.sockets.get(h).map(|e| &e.socket) {
            None => Err(not_found()),
            Some(Socket::Tcp(s)) => Ok(s.opts.ttl),
            Some(Socket::Udp(s)) => Ok(s.ttl),
            Some(Socket::Raw(s)) => Ok(s.ttl),
        }
    }

    fn raw_ref(&self, h: SocketHandle, op: &str) -> io::Result<&RawSocket> {
        match self.sockets.get(h).map(|e| &e.socket) {
            Some(Socket::Raw(s)) => Ok(s),
            Some(_) => Err(wrong_kind(op)),
            None => Err(not_found()),
        }
    }

    /// `IP_HDRINCL` on a raw socket: sends carry a whole IPv4 datagram.
    pub fn raw_set_header_included(&mut self, h: SocketHandle, on: bool) -> io::Result<()> {
        match self.sockets.get_mut(h).map(|e| &mut e.socket) {
            Some(Socket::Raw(s)) => {
                s.header_included = on;
                Ok(())
            }
            Some(_) => Err(wrong_kind("IP_HDRINCL")),
            None => Err(not_found()),
        }
    }

    /// The IP protocol a raw socket carries.
    pub fn raw_protocol(&self, h: SocketHandle) -> io::Result<IpProtocol> {
        self.raw_ref(h, "a raw protocol").map(|s| s.protocol)
    }

    /// Whether a raw socket's sends carry their own IPv4 header.
    pub fn raw_header_included(&self, h: SocketHandle) -> io::Result<bool> {
        self.raw_ref(h, "IP_HDRINCL").map(|s| s.header_included)
    }

    /// `IP_MTU_DISCOVER`-like: set DF on this socket's datagrams, so that
    /// a datagram over the path MTU fails instead of being fragmented.
    pub fn set_dont_fragment(&mut self, h: SocketHandle, on: bool) -> io::Result<()> {
        self.udp_mut(h)?.dont_frag = on;
        Ok(())
    }

    /// Bound of the receive queue in bytes (`SO_RCVBUF`).
    pub fn set_recv_buffer_size(&mut self, h: SocketHandle, bytes: usize) -> io::Result<()> {
        if bytes == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "buffer size must be positive"));
        }
        self.rx_queue_mut(h)?.set_capacity(bytes);
        Ok(())
    }

    /// Bound of the receive queue in bytes (`SO_RCVBUF`); `InvalidInput` for a
    /// TCP socket.
    pub fn recv_buffer_size(&mut self, h: SocketHandle) -> io::Result<usize> {
        Ok(self.rx_queue_mut(h)?.capacity())
    }

    fn rx_queue_mut(&mut self, h: SocketHandle) -> io::Result<&mut rxqueue::RxQueue> {
        match self.sockets.get_mut(h).map(|e| &mut e.socket) {
            None => Err(not_found()),
            Some(Socket::Tcp(_)) => Err(wrong_kind("a message queue")),
            Some(Socket::Udp(s)) => Ok(&mut s.rx),
            Some(Socket::Raw(s)) => Ok(&mut s.rx),
        }
    }

    fn datagram_shut(&self, h: SocketHandle) -> Option<socket::DatagramShut> {
        match self.sockets.get(h).map(|e| &e.socket) {
            Some(Socket::Udp(s)) => Some(s.shut),
            Some(Socket::Raw(s)) => Some(s.shut),
            _ => None,
        }
    }

    // ----- sockets: data --------------------------------------------

    /// Sends one datagram to `dst`. For a raw socket the port is ignored;
    /// in header-included mode `data` is a whole IPv4 datagram and `dst`
    /// is ignored. Returns `WouldBlock` when the transmit queue is full.
    /// After [`Stack::datagram_shutdown`] for writing, `BrokenPipe`
    /// (after a pending ICMP error, which goes first, as on Linux).
    pub fn send_to(&mut self, now: Instant, h: SocketHandle, data: &[u8], dst: SocketAddrV4) -> io::Result<usize> {
        match self.sockets.get_mut(h).map(|e| &mut e.socket) {
            None => Err(not_found()),
            Some(Socket::Tcp(_)) => Err(wrong_kind("send_to (use tcp_send)")),
            Some(Socket::Udp(s)) if s.shut.write => Err(shut_for_writing(s.pending_error.take())),
            Some(Socket::Raw(s)) if s.shut.write => Err(shut_for_writing(None)),
            Some(Socket::Udp(_)) => self.udp_send_datagram(now, h, data, dst),
            Some(Socket::Raw(_)) => self.raw_send(now, h, data, *dst.ip()),
        }
    }

    /// Sends to the connected peer; `NotConnected` when there is none.
    pub fn send(&mut self, now: Instant, h: SocketHandle, data: &[u8]) -> io::Result<usize> {
        let peer = self.peer_addr(h)?;
        self.send_to(now, h, data, peer)
    }

    /// Takes the next datagram: copies up to `buf.len()` bytes (the rest of
    /// a longer datagram is discarded, as `recvfrom` does) and returns the
    /// count and the sender. `WouldBlock` when the queue is empty; a pending
    /// ICMP error is reported first.
    pub fn recv_from(&mut self, h: SocketHandle, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)> {
        self.recv_from_to(h, buf).map(|(n, src, _)| (n, src))
    }

    /// Like [`Stack::recv_from`], also returning the address the datagram
    /// was sent to (what a socket bound to any address answers from).
    pub fn recv_from_to(&mut self, h: SocketHandle, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4, SocketAddrV4)> {
        let m = self.recv_message(h)?;
        let n = m.data.len().min(buf.len());
        buf[..n].copy_from_slice(&m.data[..n]);
        Ok((n, m.src, m.dst))
    }

    /// Like [`Stack::recv_from`], handing over the whole message. After
    /// [`Stack::datagram_shutdown`] for reading, an empty message from
    /// the peer at once, every time (end of stream, as BSD has it).
    pub fn recv_message(&mut self, h: SocketHandle) -> io::Result<Message> {
        let queue = match self.sockets.get_mut(h).map(|e| &mut e.socket) {
            None => return Err(not_found()),
            Some(Socket::Tcp(_)) => return Err(wrong_kind("recv_from (use tcp_recv)")),
            Some(Socket::Udp(s)) if s.shut.read => {
                let unspecified = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
                let (src, dst) = (s.remote.unwrap_or(unspecified), s.local.unwrap_or(unspecified));
                return Ok(Message { src, dst, data: Vec::new() });
            }
            Some(Socket::Raw(s)) if s.shut.read => {
                let (src, dst) = (s.remote.unwrap_or(Ipv4Addr::UNSPECIFIED), s.local.unwrap_or(Ipv4Addr::UNSPECIFIED));
                return Ok(Message {
                    src: SocketAddrV4::new(src, 0),
                    dst: SocketAddrV4::new(dst, 0),
                    data: Vec::new(),
                });
            }
            Some(Socket::Udp(s)) => {
                if let Some(kind) = s.pending_error.take() {
                    return Err(udp::unreachable_error(kind));
                }
                &mut s.rx
            }
            Some(Socket::Raw(s)) => &mut s.rx,
        };
        queue.pop().ok_or_else(|| io::ErrorKind::WouldBlock.into())
    }

    /// `shutdown(2)` of a datagram socket: after `Read`, receives return
    /// an empty datagram at once (end of stream); after `Write`, sends
    /// fail with `BrokenPipe`. Calls blocked on the socket are woken, and
    /// a poller sees it readable. As on Linux, only a connected socket
    /// may be shut down: `NotConnected` otherwise (and nothing changes).
    pub fn datagram_shutdown(&mut self, h: SocketHandle, how: std::net::Shutdown) -> io::Result<()> {
        self.peer_addr(h)?;
        let shut = match self.sockets.get_mut(h).map(|e| &mut e.socket) {
            None => return Err(not_found()),
            Some(Socket::Tcp(_)) => return Err(wrong_kind("datagram_shutdown (use tcp_shutdown)")),
            Some(Socket::Udp(s)) => &mut s.shut,
            Some(Socket::Raw(s)) => &mut s.shut,
        };
        use std::net::Shutdown;
        shut.read |= matches!(how, Shutdown::Read | Shutdown::Both);
        shut.write |= matches!(how, Shutdown::Write | Shutdown::Both);
        // Linux `inet_shutdown` wakes every waiter.
        self.wake_waiters(h)
    }

    /// Takes a datagram socket's pending error (`SO_ERROR`): an ICMP
    /// error about what a connected UDP socket sent (RFC 1122 §4.1.3.3),
    /// reported once, by this or by the next send or receive. `None` for
    /// a raw socket; `InvalidInput` for a TCP one.
    pub fn datagram_take_error(&mut self, h: SocketHandle) -> io::Result<Option<io::Error>> {
        match self.sockets.get_mut(h).map(|e| &mut e.socket) {
            None => Err(not_found()),
            Some(Socket::Tcp(_)) => Err(wrong_kind("datagram_take_error (a stream reports its error on its calls)")),
            Some(Socket::Udp(s)) => Ok(s.pending_error.take().map(udp::unreachable_error)),
            Some(Socket::Raw(_)) => Ok(None),
        }
    }

    /// Length of the next datagram without taking it (0 once shut down
    /// for reading, as a receive would return).
    pub fn peek_len(&mut self, h: SocketHandle) -> io::Result<usize> {
        if self.datagram_shut(h).is_some_and(|s| s.read) {
            return Ok(0);
        }
        self.rx_queue_mut(h)?.peek().map(|m| m.data.len()).ok_or_else(|| io::ErrorKind::WouldBlock.into())
    }

    /// Datagrams waiting in the socket's receive queue.
    pub fn recv_queue_len(&mut self, h: SocketHandle) -> io::Result<usize> {
        Ok(self.rx_queue_mut(h)?.len())
    }

    /// What the socket is ready for.
    pub fn readiness(&self, h: SocketHandle) -> io::Result<Readiness> {
        let writable = self.tx_queue.len() < self.config.tx_queue_len;
        match self.sockets.get(h).map(|e| &e.socket) {
            None => Err(not_found()),
            Some(Socket::Tcp(_)) => {
                let (readable, writable, error) = self.tcp_readiness(h)?;
                Ok(Readiness { readable, writable, error })
            }
            // A socket shut down does not block either way: receives end
            // at once, sends fail at once.
            Some(Socket::Udp(s)) => Ok(Readiness {
                readable: !s.rx.is_empty() || s.pending_error.is_some() || s.shut.read,
                writable: writable || s.shut.write,
                error: s.pending_error.is_some(),
            }),
            Some(Socket::Raw(s)) => Ok(Readiness {
                readable: !s.rx.is_empty() || s.shut.read,
                writable: writable || s.shut.write,
                error: false,
            }),
        }
    }

    /// Wakes every task waiting on any socket of this stack (to receive,
    /// send or accept), forgetting their wakers: a driver that stops calls
    /// it, so that each task polls once more and learns so instead of
    /// waiting for ever.
    pub fn wake_all(&mut self) {
        for (_, entry) in self.sockets.iter_mut() {
            match &mut entry.socket {
                Socket::Tcp(s) => s.wake(),
                Socket::Udp(s) => s.rx.wake(),
                Socket::Raw(s) => s.rx.wake(),
            }
        }
        for w in self.tx_waiters.drain(..) {
            w.wake();
        }
    }

    /// Wakes every task waiting on socket `h` (to receive, send or
    /// accept), forgetting their wakers: for a change made outside the
    /// stack that ends their wait, such as a datagram socket's `shutdown`
    /// (Linux `inet_shutdown` wakes every waiter).
    pub fn wake_waiters(&mut self, h: SocketHandle) -> io::Result<()> {
        match self.sockets.get_mut(h).map(|e| &mut e.socket) {
            None => return Err(not_found()),
            Some(Socket::Tcp(s)) => s.wake(),
            Some(Socket::Udp(s)) => s.rx.wake(),
            Some(Socket::Raw(s)) => s.rx.wake(),
        }
        // Datagram senders wait for the transmit queue, stack-wide.
        for w in self.tx_waiters.drain(..) {
            w.wake();
        }
        Ok(())
    }

    /// Wakes `waker` when the socket becomes readable (or closes; for a
    /// listener, when a connection is ready to accept).
    pub fn register_recv_waker(&mut self, h: SocketHandle, waker: &Waker) -> io::Result<()> {
        if let Some(Socket::Tcp(_)) = self.sockets.get(h).map(|e| &e.socket) {
            return self.tcp_register_waker(h, waker, false);
        }
        self.rx_queue_mut(h)?.register_waker(waker);
        Ok(())
    }

    /// Wakes `waker` when a send on `h` may succeed again: the transmit
    /// queue has room (datagrams), the send buffer has room or the
    /// handshake finished (streams).
    pub fn register_send_waker(&mut self, h: SocketHandle, waker: &Waker) -> io::Result<()> {
        match self.sockets.get(h).map(|e| &e.socket) {
            None => Err(not_found()),
            Some(Socket::Tcp(_)) => self.tcp_register_waker(h, waker, true),
            Some(_) => {
                if !self.tx_waiters.iter().any(|w| w.will_wake(waker)) {
                    self.tx_waiters.push(waker.clone());
                }
                Ok(())
            }
        }
    }

    fn raw_send(&mut self, now: Instant, h: SocketHandle, data: &[u8], dst: Ipv4Addr) -> io::Result<usize> {
        let Some(Socket::Raw(sock)) = self.sockets.get(h).map(|e| &e.socket) else {
            return Err(not_found());
        };
        let (protocol, ttl, local, hdrincl) = (sock.protocol, sock.ttl, sock.local, sock.header_included);
        if !hdrincl {
            let dst = if dst.is_unspecified() {
                sock.remote.ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no destination"))?
            } else {
                dst
            };
            self.ip_send(
                now,
                ip::SendParams { src: local, dst, protocol, ttl, dont_frag: false, ident: None },
                data.len(),
                |_, _, buf| buf.copy_from_slice(data),
            )?;
            self.counters.raw_tx += 1;
            return Ok(data.len());
        }
        // IP_HDRINCL: the caller's header is validated and sent as it is
        // (fragments included, as tools like traceroute and fragroute need);
        // like Linux, the stack fills a zero source and identification and
        // always the checksum. IP options in the caller's header are not
        // carried.
        let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("invalid IPv4 header: {why}"));
        let pkt = Ipv4Packet::new_checked(data).map_err(|e| invalid(e.as_str()))?;
        if usize::from(pkt.total_len()) != data.len() {
            return Err(invalid("total length differs from the buffer"));
        }
        let repr = sockstack_wire::Ipv4Repr::parse(&pkt, ChecksumMode::Ignore).map_err(|e| invalid(e.as_str()))?;
        if repr.hop_limit == 0 {
            return Err(invalid("TTL 0"));
        }
        if !repr.src_addr.is_unspecified() {
            self.check_local_addr(repr.src_addr)?;
        }
        let payload = pkt.payload();
        self.ip_output(now, repr, |_, _, buf| buf.copy_from_slice(payload))?;
        self.counters.raw_tx += 1;
        Ok(data.len())
    }
}
