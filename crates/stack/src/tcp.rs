//! Stream sockets (TCP) in the host stack: listeners with a bounded SYN
//! queue and accept queue, SYN cookies when the SYN queue is full (RFC
//! 4987), connections demultiplexed by 4-tuple in O(1), RSTs for segments
//! that belong to nothing (RFC 9293 §3.10.7.1), and the timers and output
//! of every connection. One connection's protocol lives in
//! `sockstack_tcp::Connection`; this module owns where connections live.

use crate::counters::DropReason;
use crate::gso::Run;
use crate::pool::BufferPool;
use crate::socket::{Socket, SocketHandle};
use crate::tcp_conn::{conn_error, ConnSlot, Locked, TcpConn};
use crate::wake::WakerSet;
use crate::{NextHop, OutPacket, Stack};
use slotmap::Key as _;
use sockstack_tcp::{rst_reply, Connection, Initial, Keepalive, State, SynCookies, TcpConfig, TcpStats};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{
    emit_tcp_datagram, tcp_ipv4_header, ChecksumMode, IpProtocol, Ipv4Addr, Ipv4Repr, SegmentTemplate, SeqNumber,
    TcpPacket, TcpRepr,
};
use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, SocketAddrV4};
use std::sync::Arc;
use std::task::Waker;

/// The stream of a socket-table entry, and its TTL.
fn stream_of(e: &mut crate::socket::SocketEntry) -> Option<(&mut Stream, u8)> {
    match &mut e.socket {
        Socket::Tcp(TcpSocket { role: TcpRole::Stream(s), opts, .. }) => Some((s, opts.ttl)),
        _ => None,
    }
}

/// Whether two connections of this stack may be linked, so that segments
/// go straight from one to the other instead of through datagrams on the
/// loopback queue: both are past their handshakes and accepted (a child
/// still in its listener's queues takes the datagram path, which promotes
/// it). The receiver then copies the payload straight out of the sender's
/// send ring; nothing is built or parsed, as nothing could damage it.
/// A connection a user thread holds is not linked now (a later flush
/// tries again): the stack does not wait for user threads.
fn linkable(a: &Stream, b: &Stream) -> bool {
    let ready = |s: &Stream| {
        s.parent.is_none() && s.registered && s.conn.try_get().is_some_and(|c| c.state().is_synchronized())
    };
    ready(a) && ready(b)
}

/// One connection (or TIME-WAIT record) fewer on local port `port`.
fn release_port(users: &mut crate::ports::PortCounts, port: u16) {
    if let Some(n) = users.get_mut(&port) {
        *n -= 1;
        if *n == 0 {
            users.remove(&port);
        }
    }
}

/// Most in-order octets one ACK covers when a batch of segments is received
/// at once: Linux GRO merges at most 64 KiB into one segment, and so into
/// one ACK. A connection that has received more unacknowledged answers at
/// once, keeping the sender's ACK clock running through a long batch.
const MAX_ACK_BATCH: usize = 64 * 1024;

/// Payloads from this size on are checksummed while they are copied into
/// the receive buffer; a shorter one costs less to sum on its own first
/// than the split verification's extra steps.
const DEFER_CHECKSUM_MIN: usize = 256;

pub(crate) use crate::demux::FourTuple;

/// A listening socket.
#[derive(Debug)]
pub(crate) struct Listener {
    pub backlog: usize,
    /// Children still in SYN-RECEIVED (the SYN queue).
    pub embryonic: Vec<SocketHandle>,
    /// Children that completed the handshake, waiting for `accept`.
    pub accept_queue: VecDeque<SocketHandle>,
    /// Waiting for a connection to accept.
    pub wakers: WakerSet,
    /// `listen` picked the port (no `bind` before): it goes when the
    /// socket stops listening, as on Linux (no SOCK_BINDPORT_LOCK).
    pub auto_bound: bool,
    /// When it last answered a SYN with a cookie. An ACK is tested as a
    /// cookie's only while one it sent may still come back, so a listener
    /// that is not flooded offers no cookie for a blind attacker to guess
    /// (Linux `tcp_synq_no_recent_overflow`).
    pub cookie_sent_at: Option<Instant>,
}

impl Listener {
    /// A listener with empty queues.
    fn new(backlog: usize, auto_bound: bool) -> Listener {
        Listener {
            backlog,
            embryonic: Vec::new(),
            accept_queue: VecDeque::new(),
            wakers: WakerSet::default(),
            auto_bound,
            cookie_sent_at: None,
        }
    }
}

/// A connected (or connecting) socket.
pub(crate) struct Stream {
    pub conn: ConnSlot,
    /// The listener that spawned it, until it is accepted.
    pub parent: Option<SocketHandle>,
    /// Closed by its owner; lives on until FIN/TIME-WAIT complete.
    pub orphaned: bool,
    /// Still in the 4-tuple table (false once the connection closed).
    pub registered: bool,
    pub dirty: bool,
    pub timer: Option<Instant>,
    /// Where its datagrams went at the last flush, while the stack's
    /// routes, interfaces and raw sockets are as they were then.
    pub route: RouteCache,
    /// Its segments' headers ([`SegmentTemplate`]), made with its route
    /// (`tcp_refresh_route`, at its first flush) and again if the TTL or
    /// the path's Don't Fragment bit changes.
    pub template: Option<SegmentTemplate>,
}

/// A connection's way out ([`Stack::tcp_egress`], the checksum mode, the
/// offload size), kept between flushes: valid while `epoch` is the
/// stack's `route_epoch`, which every change to interfaces, routes or raw
/// sockets moves on.
#[derive(Clone, Copy)]
pub(crate) struct RouteCache {
    epoch: u64,
    egress: Egress,
    checksum: ChecksumMode,
    gso_max: Option<usize>,
}

impl RouteCache {
    /// Valid for no epoch: worked out at the first flush.
    const NONE: RouteCache =
        RouteCache { epoch: 0, egress: Egress::NoRoute, checksum: ChecksumMode::Verify, gso_max: None };
}

impl Stream {
    fn wake(&mut self) {
        self.conn.wake();
    }
}

pub(crate) enum TcpRole {
    /// Opened, maybe bound; neither listening nor connected.
    Idle,
    /// Boxed, as the stream is: most sockets are streams, and an inline
    /// listener would make every socket-table entry its size.
    Listener(Box<Listener>),
    Stream(Box<Stream>),
}

/// One TCP socket of the socket table.
pub(crate) struct TcpSocket {
    /// The bound address, when `bind` (or `listen`) reserved a port.
    pub bound: Option<SocketAddrV4>,
    /// Options for its connections: shared with the stack's defaults (an
    /// accepted socket's with its listener's) and with its connection,
    /// until an option is set on the socket (copy on write).
    pub config: Arc<TcpConfig>,
    pub role: TcpRole,
    /// Socket options a listener passes to the connections it accepts.
    pub opts: SocketOpts,
}

impl TcpSocket {
    /// Wakes (and forgets) the tasks waiting on this socket.
    pub(crate) fn wake(&mut self) {
        match &mut self.role {
            TcpRole::Idle => {}
            TcpRole::Listener(l) => l.wakers.wake_all(),
            TcpRole::Stream(s) => s.wake(),
        }
    }
}

/// Options of a TCP socket outside the protocol engine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SocketOpts {
    /// Time-to-live of the socket's datagrams (`IP_TTL`).
    pub ttl: u8,
    /// `SO_REUSEADDR`: bind a port that connections still use (e.g. in
    /// TIME-WAIT after a server restart).
    pub reuse_addr: bool,
    /// `SO_LINGER`: `Some(0)` aborts on close (RST); `Some(t)` lets the
    /// closing caller wait up to `t` for the peer to acknowledge all.
    pub linger: Option<Duration>,
}

impl SocketOpts {
    pub fn new(ttl: u8) -> SocketOpts {
        SocketOpts { ttl, reuse_addr: false, linger: None }
    }
}

/// The timer set keeps one entry per connection, re-armed lazily: a
/// deadline that moved later (the RTO pushed back by every ACK) keeps its
/// earlier entry (`old`), which fires once, finds nothing due and re-arms;
/// only an earlier deadline costs a remove and an insert.
fn lazy_deadline(old: Option<Instant>, next: Option<Instant>) -> Option<Instant> {
    match (old, next) {
        (Some(o), Some(n)) if o <= n => old,
        _ => next,
    }
}

/// Whether the timer set's entry `(at, h)` is one its owner still holds:
/// the TIME-WAIT table's deadline under the null handle, else the
/// connection's `timer`.
fn timer_live(
    sockets: &slotmap::SlotMap<SocketHandle, crate::socket::SocketEntry>,
    time_wait: &crate::tcp_time_wait::TimeWaitTable,
    at: Instant,
    h: SocketHandle,
) -> bool {
    if h == SocketHandle::null() {
        return time_wait.armed() == Some(at);
    }
    matches!(sockets.get(h).map(|e| &e.socket),
        Some(Socket::Tcp(TcpSocket { role: TcpRole::Stream(s), .. })) if s.timer == Some(at))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

fn not_found() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "no such socket (closed or never opened)")
}

/// Where a TCP datagram goes ([`Stack::tcp_egress`]).
#[derive(Clone, Copy)]
enum Egress {
    /// To this host's own address.
    Loopback,
    /// Out of a link that is up.
    Link(NextHop),
    /// Nowhere: counted and dropped.
    NoRoute,
}

/// A TCP datagram on its way out: with its offload segment size when it
/// packs a run of segments ([`crate::gso`]), and how many segments it holds.
struct Outgoing {
    data: Vec<u8>,
    gso_size: Option<u16>,
    segments: u64,
}

impl Outgoing {
    fn one(data: Vec<u8>) -> Outgoing {
        Outgoing { data, gso_size: None, segments: 1 }
    }

    /// Completes this datagram as the one `run` packed.
    fn close(&mut self, run: &Run, checksum: ChecksumMode) {
        self.gso_size = run.finish(&mut self.data, checksum);
        self.segments = run.segments() as u64;
    }
}

/// Where TCP datagrams go (a flush's, and the segments no connection
/// owns): the parts of the stack that take them, borrowed apart from the
/// socket table so that a connection being flushed can hand each datagram
/// over as soon as it is built.
struct TcpSink<'a> {
    tx_queue: &'a mut VecDeque<OutPacket>,
    loopback: &'a mut VecDeque<(Vec<u8>, ChecksumMode)>,
    counters: &'a mut crate::counters::Counters,
    tx_queue_len: usize,
    egress: Egress,
    /// How the datagrams were built: `Ignore` only for loopback.
    checksum: ChecksumMode,
}

impl TcpSink<'_> {
    /// Puts a finished datagram on its way (link or loopback), or counts
    /// it dropped: no route, or a full queue.
    #[inline(always)]
    fn send(&mut self, out: Outgoing) {
        let Outgoing { data, gso_size, segments } = out;
        self.counters.tcp_tx += segments;
        match self.egress {
            Egress::Loopback => {
                self.counters.ip_tx += 1;
                self.loopback.push_back((data, self.checksum));
            }
            Egress::Link(hop) => crate::ip::enqueue_or_drop_into(
                self.tx_queue,
                self.counters,
                self.tx_queue_len,
                OutPacket { iface: hop.iface, next_hop: hop.addr, data, gso_size },
            ),
            Egress::NoRoute => self.counters.drop(DropReason::NoRoute),
        }
    }
}

/// What the TIME-WAIT table made of a segment ([`Stack::tcp_input`]).
enum TimeWaitInput {
    /// Its 4-tuple is in TIME-WAIT, which answered it.
    Answered,
    /// A SYN that reopens a 4-tuple in TIME-WAIT, whose SND.NXT this is.
    Reopens(SeqNumber),
    /// No record of its 4-tuple.
    Absent,
}

/// A flush's datagrams under construction, one connection's: what the
/// segment callback of `poll_transmit_burst` works with, gathered so that
/// the callback holds one reference instead of a dozen.
struct StreamOut<'a> {
    sink: TcpSink<'a>,
    pool: &'a mut BufferPool,
    /// The connection's template, made for this TTL (`tcp_transmit`).
    template: &'a SegmentTemplate,
    /// The identification of the last datagram built.
    ident: u16,
    ttl: u8,
    /// The interface's offload size, when it packs runs of segments.
    gso_max: Option<usize>,
    /// The last datagram built, held back while a run of segments may
    /// still be packed into it (offload).
    last: Option<Outgoing>,
    /// With offload, the run `last` packs, once a second segment has come.
    run: Option<Run>,
    /// How many datagrams were built.
    built: usize,
}

impl StreamOut<'_> {
    /// Puts segment `seg` into a datagram: packed into the run being
    /// built, or a new one (the one before it goes out).
    #[inline(always)]
    fn segment(&mut self, seg: &TcpRepr<'_>) {
        let checksum = self.sink.checksum;
        // Each segment takes an identification, packed or not, so a split
        // datagram's pieces carry what they would have.
        self.ident = self.ident.wrapping_add(1);
        if let (Some(max), Some(prev)) = (self.gso_max, self.last.as_mut()) {
            // The run is read back from its first datagram only when a
            // second segment comes.
            if self.run.is_none() {
                self.run = Run::led_by(&prev.data, max);
            }
            if let Some(r) = self.run.as_mut() {
                if r.extend(&mut prev.data, seg) {
                    return;
                }
                prev.close(r, checksum);
                self.run = None;
            }
        }
        if let Some(prev) = self.last.take() {
            self.sink.send(prev);
        }
        stream_datagram(&mut self.last, self.pool, self.template, self.ident, self.ttl, seg, checksum);
        self.built += 1;
    }

    /// Sends the datagram held back, its run closed; the identification
    /// of the last datagram built.
    #[inline(always)]
    fn finish(mut self) -> u16 {
        if let Some(mut prev) = self.last.take() {
            if let Some(r) = self.run.take() {
                prev.close(&r, self.sink.checksum);
            }
            self.sink.send(prev);
        }
        self.ident
    }
}

/// [`tcp_datagram`] for a connection's own segment, built where it is
/// held (`out`): from the connection's template when the segment fits
/// one, the common case. The template also holds the addresses, and
/// whether segments carry Don't Fragment (set with the route,
/// `tcp_refresh_route`).
/// Built in place, not returned: a datagram moved just after its buffer
/// was set up would be copied whole from the stores that set it up, which
/// stalls (no store forwarding to a wider load).
#[inline(always)]
fn stream_datagram(
    out: &mut Option<Outgoing>,
    pool: &mut BufferPool,
    template: &SegmentTemplate,
    ident: u16,
    ttl: u8,
    seg: &TcpRepr<'_>,
    checksum: ChecksumMode,
) {
    let fits = template.fits(seg);
    let len = if fits { template.datagram_len(seg) } else { 20 + seg.buffer_len() };
    let data = &mut out.insert(Outgoing::one(pool.take_to_overwrite(len))).data;
    if fits {
        template.emit(data, seg, ident, checksum);
    } else {
        let (src, dst) = (template.src_addr(), template.dst_addr());
        let ip = tcp_ipv4_header(src, dst, ttl, ident, seg.buffer_len(), template.dont_frag());
        emit_tcp_datagram(data, &ip, seg, checksum);
    }
}

/// A template for connection `c` with `ttl`, keeping the Don't Fragment
/// bit of the one it replaces (`old`), if any. Rare: after the TTL
/// changed (the route's refresh makes the first one).
#[cold]
#[inline(never)]
fn new_template(c: &Connection, old: Option<&SegmentTemplate>, ttl: u8) -> SegmentTemplate {
    let dont_frag = old.is_none_or(|t| t.dont_frag());
    segment_template((c.local_addr(), c.remote_addr()), ttl, dont_frag)
}

/// The segment template of a connection with 4-tuple `(local, remote)`.
fn segment_template((local, remote): FourTuple, ttl: u8, dont_frag: bool) -> SegmentTemplate {
    SegmentTemplate::new(*local.ip(), local.port(), *remote.ip(), remote.port(), ttl, dont_frag)
}

/// Builds the IPv4 datagram carrying `seg` from `src` to `dst`, in a
/// buffer from `pool`, with Don't Fragment (a segment no connection owns:
/// a RST, a cookie SYN-ACK, a TIME-WAIT answer, all short).
pub(crate) fn tcp_datagram(
    pool: &mut BufferPool,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    ttl: u8,
    seg: &TcpRepr<'_>,
    checksum: ChecksumMode,
) -> Vec<u8> {
    // Every octet is written (`emit_tcp_datagram`), so the buffer is not
    // zeroed first (`take_to_overwrite`).
    let mut buf = pool.take_to_overwrite(20 + seg.buffer_len());
    emit_tcp_datagram(&mut buf, &tcp_ipv4_header(src, dst, ttl, ident, seg.buffer_len(), true), seg, checksum);
    buf
}

impl Stack {
    pub(crate) fn tcp_mut(&mut self, h: SocketHandle) -> io::Result<&mut TcpSocket> {
        match self.sockets.get_mut(h).map(|e| &mut e.socket) {
            Some(Socket::Tcp(s)) => Ok(s),
            Some(_) => Err(invalid("not a TCP socket")),
            None => Err(not_found()),
        }
    }

    fn tcp_ref(&self, h: SocketHandle) -> io::Result<&TcpSocket> {
        match self.sockets.get(h).map(|e| &e.socket) {
            Some(Socket::Tcp(s)) => Ok(s),
            Some(_) => Err(invalid("not a TCP socket")),
            None => Err(not_found()),
        }
    }

    /// The stream of a user-held handle (not one its owner closed).
    fn stream_mut(&mut self, h: SocketHandle) -> io::Result<&mut Stream> {
        match &mut self.tcp_mut(h)?.role {
            TcpRole::Stream(s) if !s.orphaned => Ok(s),
            TcpRole::Stream(_) => Err(not_found()),
            _ => Err(io::Error::new(io::ErrorKind::NotConnected, "socket is not connected")),
        }
    }

    fn stream_ref(&self, h: SocketHandle) -> io::Result<&Stream> {
        match &self.tcp_ref(h)?.role {
            TcpRole::Stream(s) if !s.orphaned => Ok(s),
            TcpRole::Stream(_) => Err(not_found()),
            _ => Err(io::Error::new(io::ErrorKind::NotConnected, "socket is not connected")),
        }
    }

    pub(crate) fn tcp_bind(&mut self, h: SocketHandle, addr: SocketAddrV4) -> io::Result<()> {
        let sock = self.tcp_ref(h)?;
        if sock.bound.is_some() || !matches!(sock.role, TcpRole::Idle) {
            return Err(invalid("socket is already bound"));
        }
        let addr = if addr.port() == 0 {
            let ip = *addr.ip();
            let (ports, users) = (&self.tcp_ports, &self.tcp_port_users);
            let port = self
                .ephemeral
                .select(ip, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0), |p| {
                    ports.is_free(SocketAddrV4::new(ip, p)) && !users.contains_key(&p)
                })
                .ok_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no ephemeral port free"))?;
            SocketAddrV4::new(ip, port)
        } else {
            let in_use = !self.tcp_ports.is_free(addr)
                || (self.tcp_port_users.contains_key(&addr.port())
                    && !(sock.opts.reuse_addr && self.tcp_port_reusable(addr.port())));
            if in_use {
                return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("address {addr} is already in use")));
            }
            addr
        };
        self.tcp_ports.insert(addr, h)?;
        self.tcp_mut(h)?.bound = Some(addr);
        Ok(())
    }

    /// `SO_REUSEADDR` on Linux: a port that only connections use (none
    /// binds or listens on it) may be bound again when each of them is in
    /// TIME-WAIT or was itself made with reuse-address. A scan of the
    /// connection table: binds are rare, segments are not.
    fn tcp_port_reusable(&self, port: u16) -> bool {
        self.tcp_conns.iter().filter(|((local, _), _)| local.port() == port).all(|(_, h)| match self.tcp_ref(h) {
            Ok(sock) => {
                sock.opts.reuse_addr
                    || matches!(&sock.role, TcpRole::Stream(s) if s.conn.get().state() == State::TimeWait)
            }
            Err(_) => true,
        })
    }

    /// Sets `SO_REUSEADDR`: a later bind may take a port that only connections
    /// use when each is in TIME-WAIT or was itself made with reuse-address (as
    /// Linux). `InvalidInput` for a socket that is not TCP.
    pub fn tcp_set_reuse_address(&mut self, h: SocketHandle, on: bool) -> io::Result<()> {
        self.tcp_mut(h)?.opts.reuse_addr = on;
        Ok(())
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn tcp_reuse_address(&self, h: SocketHandle) -> io::Result<bool> {
        Ok(self.tcp_ref(h)?.opts.reuse_addr)
    }

    /// `SO_LINGER`. `Some(Duration::ZERO)`: close aborts with a RST and
    /// drops unsent data (RFC 9293 §3.10.5 ABORT).
    pub fn tcp_set_linger(&mut self, h: SocketHandle, linger: Option<Duration>) -> io::Result<()> {
        self.tcp_mut(h)?.opts.linger = linger;
        Ok(())
    }

    /// The `SO_LINGER` setting (`None`: off, the default).
    pub fn tcp_linger(&self, h: SocketHandle) -> io::Result<Option<Duration>> {
        Ok(self.tcp_ref(h)?.opts.linger)
    }

    /// After `close`: true once the peer has acknowledged everything
    /// including the FIN (FIN-WAIT-2, TIME-WAIT, CLOSED, or the socket is
    /// gone) — what a lingering close waits for.
    pub fn tcp_close_finished(&self, h: SocketHandle) -> bool {
        match self.tcp_ref(h).map(|s| &s.role) {
            Ok(TcpRole::Stream(s)) => {
                matches!(s.conn.get().state(), State::FinWait2 | State::TimeWait | State::Closed)
            }
            _ => true,
        }
    }

    /// Send and receive buffer sizes: those future connections start with
    /// (idle or listening socket), or the connection's current ones.
    pub fn tcp_buffer_sizes(&self, h: SocketHandle) -> io::Result<(usize, usize)> {
        let sock = self.tcp_ref(h)?;
        Ok(match &sock.role {
            TcpRole::Stream(s) => {
                let st = s.conn.get().stats();
                (st.rcv_buf, st.snd_buf)
            }
            _ => (sock.config.rcv_buf, sock.config.snd_buf),
        })
    }

    /// Turns a bound socket into a listener (an unbound one gets an
    /// ephemeral port) whose accept queue holds `backlog` + 1 connections,
    /// as Linux's does (`sk_acceptq_is_full`: full only past the backlog;
    /// `listen(0)` takes one). On a listener, sets a new backlog, as Linux
    /// does; what is already queued stays.
    pub fn tcp_listen(&mut self, h: SocketHandle, backlog: usize) -> io::Result<()> {
        let backlog = self.tcp_backlog(backlog);
        let sock = self.tcp_mut(h)?;
        match &mut sock.role {
            TcpRole::Idle => {}
            TcpRole::Listener(l) => {
                l.backlog = backlog;
                return Ok(());
            }
            TcpRole::Stream(_) => return Err(invalid("a connected socket cannot listen")),
        }
        let auto_bound = sock.bound.is_none();
        if auto_bound {
            self.tcp_bind(h, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?;
        }
        self.tcp_mut(h)?.role = TcpRole::Listener(Box::new(Listener::new(backlog, auto_bound)));
        Ok(())
    }

    /// A backlog as Linux clamps it, to somaxconn (4096).
    fn tcp_backlog(&self, backlog: usize) -> usize {
        backlog.min(self.config.tcp_somaxconn)
    }

    /// Listens on every address and port no other listener has: SYNs to
    /// any of them, with an interface that takes any address
    /// ([`crate::InterfaceConfig::with_any_address`]), make connections
    /// whose local address is the one the peer asked for, as Linux's
    /// TPROXY hands a transparent listener (`IP_TRANSPARENT`): the TCP
    /// half of a tun2socks stack, which learns from `local_addr` where to
    /// relay each connection. One such listener a stack; the socket must
    /// be unbound.
    ///
    /// # Errors
    /// `AddrInUse` when another socket holds the role; `InvalidInput` for
    /// a bound, listening or connected socket.
    pub fn tcp_listen_any(&mut self, h: SocketHandle, backlog: usize) -> io::Result<()> {
        if self.tcp_catch_all.is_some() {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, "another socket listens on any address"));
        }
        let backlog = self.tcp_backlog(backlog);
        let sock = self.tcp_mut(h)?;
        if !matches!(sock.role, TcpRole::Idle) || sock.bound.is_some() {
            return Err(invalid("socket is already bound"));
        }
        sock.role = TcpRole::Listener(Box::new(Listener::new(backlog, false)));
        self.tcp_catch_all = Some(h);
        Ok(())
    }

    /// Takes a connection that completed its handshake (`WouldBlock` when
    /// none is waiting). It may already be closed by its peer (CLOSE-WAIT)
    /// or reset, as on Linux.
    pub fn tcp_accept(&mut self, h: SocketHandle) -> io::Result<(SocketHandle, SocketAddrV4)> {
        let owner = self.owner(h)?;
        let TcpRole::Listener(l) = &mut self.tcp_mut(h)?.role else {
            return Err(invalid("socket is not listening"));
        };
        let child = l.accept_queue.pop_front().ok_or_else(|| io::Error::from(io::ErrorKind::WouldBlock))?;
        // Room freed: a child that finished its handshake while the queue
        // was full moves up now.
        self.tcp_promote_waiting(h);
        let entry = self.sockets.get_mut(child).ok_or_else(not_found)?;
        entry.owner = owner;
        let Socket::Tcp(TcpSocket { role: TcpRole::Stream(s), .. }) = &mut entry.socket else {
            return Err(not_found());
        };
        s.parent = None;
        Ok((child, s.conn.remote_addr()))
    }

    /// Starts an active open. Returns at once; the handshake completes in
    /// the background ([`Stack::tcp_connect_status`] tells when).
    pub fn tcp_connect(&mut self, now: Instant, h: SocketHandle, remote: SocketAddrV4) -> io::Result<()> {
        if remote.ip().is_unspecified()
            || remote.port() == 0
            || remote.ip().is_broadcast()
            || remote.ip().is_multicast()
        {
            return Err(invalid("cannot connect to that address"));
        }
        let sock = self.tcp_ref(h)?;
        match sock.role {
            TcpRole::Idle => {}
            // Linux says EISCONN here (`__inet_stream_connect`).
            TcpRole::Listener(_) => {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "a listening socket cannot connect"))
            }
            // Linux `__inet_stream_connect` on a socket that connected
            // before: EALREADY while the handshake runs (`WouldBlock`: call
            // again), the error that ended it if it failed, EISCONN once
            // connected. A loop calling `connect` until it is connected
            // thus learns of a refusal.
            TcpRole::Stream(_) => {
                return Err(match self.tcp_connect_status(h)? {
                    false => io::Error::new(io::ErrorKind::WouldBlock, "the connection is still being made"),
                    true => io::Error::new(io::ErrorKind::AlreadyExists, "socket is already connected"),
                });
            }
        }
        let bound = sock.bound;
        let config = sock.config.clone();
        // Route and source address (RFC 1122 §3.3.4.3).
        let (routed, hop) = self.route_source(*remote.ip())?;
        let src = bound.map(|b| *b.ip()).filter(|ip| !ip.is_unspecified()).unwrap_or(routed);
        let mtu = hop.map_or(65535, |hop| self.path_mtu(now, hop.iface, *remote.ip()));
        let local = match bound {
            Some(b) => SocketAddrV4::new(src, b.port()),
            None => {
                let (ports, conns, time_wait) = (&self.tcp_ports, &self.tcp_conns, &self.tcp_time_wait);
                // RFC 6056 Algorithm 4: a port unique for this 4-tuple.
                let port = self
                    .ephemeral
                    .select(src, remote, |p| {
                        let tuple = (SocketAddrV4::new(src, p), remote);
                        ports.is_free(tuple.0) && !conns.contains(&tuple) && !time_wait.contains(&tuple)
                    })
                    .ok_or_else(|| io::Error::new(io::ErrorKind::AddrNotAvailable, "no ephemeral port free"))?;
                SocketAddrV4::new(src, port)
            }
        };
        if self.tcp_conns.contains(&(local, remote)) || self.tcp_time_wait.contains(&(local, remote)) {
            // Linux (__inet_check_established): EADDRNOTAVAIL.
            return Err(io::Error::new(io::ErrorKind::AddrNotAvailable, "that 4-tuple is in use"));
        }
        let initial = self.isn.initial(now, local, remote);
        let route_mss = mtu.saturating_sub(40).clamp(88, 65495) as u16;
        let mut conn = Connection::connect(now, local, remote, initial, route_mss, config);
        conn.set_memory_budget(self.tcp_memory.clone());
        self.tcp_register(h, (local, remote));
        self.tcp_mut(h)?.role = TcpRole::Stream(Box::new(Stream::new(conn, None)));
        self.tcp_kick(now, h);
        Ok(())
    }

    /// `Ok(true)` once established (or past it), `Ok(false)` while the
    /// handshake runs, the error when it failed (`ConnectionRefused`,
    /// `TimedOut`, …).
    pub fn tcp_connect_status(&self, h: SocketHandle) -> io::Result<bool> {
        let c = self.stream_ref(h)?.conn.get();
        if let Some(kind) = c.error() {
            return Err(conn_error(kind));
        }
        Ok(c.state().is_synchronized() || matches!(c.state(), State::Closed | State::TimeWait))
    }

    /// Queues `data` for sending; returns how much fit in the send buffer
    /// (`WouldBlock` when none did). `BrokenPipe` after shutdown.
    pub fn tcp_send(&mut self, now: Instant, h: SocketHandle, data: &[u8]) -> io::Result<usize> {
        let n = self.stream_mut(h)?.conn.send(data)?;
        self.tcp_kick(now, h);
        Ok(n)
    }

    /// The connection of stream `h`, for moving bytes under its own lock
    /// instead of the stack's (see [`TcpConn`]). From then on the stack
    /// takes that lock too; until then, it reaches the connection with no
    /// lock at all (`ConnSlot`).
    pub fn tcp_conn(&mut self, h: SocketHandle) -> io::Result<TcpConn> {
        self.stream_ref(h)?;
        self.tcp_share(h)
    }

    /// Shares stream `h`'s connection (see [`ConnSlot::share`]) and
    /// returns its handle.
    fn tcp_share(&mut self, h: SocketHandle) -> io::Result<TcpConn> {
        let sock = self.tcp_mut(h)?;
        let not_connected = || io::Error::new(io::ErrorKind::NotConnected, "socket is not connected");
        let TcpRole::Stream(s) = &sock.role else { return Err(not_connected()) };
        if let Some(c) = s.conn.shared() {
            return Ok(c.clone());
        }
        // The slot is moved out to change variant; `Idle` stands in
        // meanwhile (nothing runs in between).
        let TcpRole::Stream(mut s) = std::mem::replace(&mut sock.role, TcpRole::Idle) else {
            return Err(not_connected());
        };
        let (slot, handle) = s.conn.share();
        s.conn = slot;
        sock.role = TcpRole::Stream(s);
        Ok(handle)
    }

    /// Sends what connection `h` owes now: new data written through its
    /// [`TcpConn`], or a window update a read there made due.
    pub fn tcp_kick(&mut self, now: Instant, h: SocketHandle) {
        if self.tcp_dirty.is_empty() {
            // No connection waits (none is marked): `h` goes out at once,
            // without the round trip through the queue.
            self.tcp_flush_from(now, Some(h));
        } else {
            self.tcp_touch(h);
            self.tcp_flush(now);
        }
    }

    /// Reads received bytes; `Ok(0)` at end of stream, `WouldBlock` when
    /// nothing is there yet, `ConnectionReset` after a RST.
    pub fn tcp_recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.stream_mut(h)?.conn.recv(buf)?;
        Ok(self.tcp_after_read(h, read))
    }

    /// [`Stack::tcp_recv`] in place, without a copy: `f` sees received
    /// bytes where they lie in the receive buffer (up to its wrap point;
    /// call again for the rest) and returns how many it took.
    pub fn tcp_recv_with(&mut self, h: SocketHandle, f: impl FnOnce(&[u8]) -> usize) -> io::Result<usize> {
        let read = self.stream_mut(h)?.conn.recv_with(f)?;
        Ok(self.tcp_after_read(h, read))
    }

    /// A read of `n` octets from stream `h`: if it made a window update
    /// due, the connection is flushed with the next batch.
    fn tcp_after_read(&mut self, h: SocketHandle, (n, window_update): (usize, bool)) -> usize {
        if window_update {
            self.tcp_touch(h);
        }
        n
    }

    /// Half-closes (`Write`: FIN after queued data), stops reading
    /// (`Read`), or both; a listener stops listening on `Read` (see
    /// `tcp_stop_listening`). `NotConnected` when the connection is already
    /// over (CLOSED: reset, timed out, or its connect failed; TIME-WAIT),
    /// as on Linux (`inet_shutdown`), though the shutdown still takes.
    pub fn tcp_shutdown(&mut self, now: Instant, h: SocketHandle, how: Shutdown) -> io::Result<()> {
        if self.is_listener(h) {
            return self.tcp_stop_listening(h, how);
        }
        let s = self.stream_mut(h)?;
        let over = matches!(s.conn.get().state(), State::Closed | State::TimeWait);
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            s.conn.lock().shutdown_read();
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            s.conn.lock().shutdown_write();
        }
        // A call blocked on this stream, read or write, learns at once
        // (Linux inet_shutdown: sk_state_change wakes every waiter): a
        // read ends (Ok(0)), a write fails (BrokenPipe).
        s.wake();
        self.tcp_kick(now, h);
        if over {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "the connection is over"));
        }
        Ok(())
    }

    /// The connection's state (`Listen` for a listener, `Closed` for an
    /// idle socket).
    pub fn tcp_state(&self, h: SocketHandle) -> io::Result<State> {
        Ok(match &self.tcp_ref(h)?.role {
            TcpRole::Idle => State::Closed,
            TcpRole::Listener(_) => State::Listen,
            TcpRole::Stream(s) => s.conn.get().state(),
        })
    }

    /// What `ss -ti` shows for this connection.
    pub fn tcp_stats(&self, h: SocketHandle) -> io::Result<TcpStats> {
        Ok(self.stream_ref(h)?.conn.get().stats())
    }

    /// Sets `TCP_NODELAY` (Nagle off) for the connection and future ones of
    /// this socket; `InvalidInput` for a socket that is not TCP.
    pub fn tcp_set_nodelay(&mut self, h: SocketHandle, on: bool) -> io::Result<()> {
        let sock = self.tcp_mut(h)?;
        if sock.config.nodelay != on {
            Arc::make_mut(&mut sock.config).nodelay = on;
        }
        if let TcpRole::Stream(s) = &mut sock.role {
            s.conn.lock().set_nodelay(on);
        }
        self.tcp_touch(h);
        Ok(())
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn tcp_nodelay(&self, h: SocketHandle) -> io::Result<bool> {
        Ok(self.tcp_ref(h)?.config.nodelay)
    }

    /// Sets keepalive (`SO_KEEPALIVE`; `None`: off) for the connection and
    /// future ones of this socket. As on Linux (`TCP_KEEPIDLE`,
    /// `TCP_KEEPINTVL`, `TCP_KEEPCNT`), the idle time and the interval are
    /// at least 1 s and the count at least 1, else `InvalidInput`: the
    /// ACK answering a probe may be held back up to half a second (the
    /// out-of-window ACK rate limit), so faster probing would time out a
    /// live peer.
    pub fn tcp_set_keepalive(&mut self, h: SocketHandle, keepalive: Option<Keepalive>) -> io::Result<()> {
        if let Some(k) = keepalive {
            let second = Duration::from_secs(1);
            if k.idle < second || k.interval < second || k.count == 0 {
                return Err(invalid("keepalive idle time and interval must be at least 1 s, and the count at least 1"));
            }
        }
        let sock = self.tcp_mut(h)?;
        if sock.config.keepalive != keepalive {
            Arc::make_mut(&mut sock.config).keepalive = keepalive;
        }
        if let TcpRole::Stream(s) = &mut sock.role {
            s.conn.lock().set_keepalive(keepalive);
        }
        self.tcp_touch(h);
        Ok(())
    }

    /// The keepalive settings (`None`: off, the default).
    pub fn tcp_keepalive(&self, h: SocketHandle) -> io::Result<Option<Keepalive>> {
        Ok(self.tcp_ref(h)?.config.keepalive)
    }

    /// Buffer sizes of future connections of this socket (before connect
    /// or listen): the initial and the auto-tuning limit.
    pub fn tcp_set_buffer_sizes(
        &mut self,
        h: SocketHandle,
        recv: Option<usize>,
        send: Option<usize>,
    ) -> io::Result<()> {
        let sock = self.tcp_mut(h)?;
        if !matches!(sock.role, TcpRole::Idle | TcpRole::Listener(_)) {
            return Err(invalid("buffer sizes are set before connecting"));
        }
        if recv == Some(0) || send == Some(0) {
            return Err(invalid("buffer size must be positive"));
        }
        let c = &sock.config;
        let same = recv.is_none_or(|r| c.rcv_buf == r && c.rcv_buf_max >= r)
            && send.is_none_or(|s| c.snd_buf == s && c.snd_buf_max >= s);
        if same {
            // Nothing changes: the options stay shared.
            return Ok(());
        }
        let config = Arc::make_mut(&mut sock.config);
        if let Some(r) = recv {
            config.rcv_buf = r;
            config.rcv_buf_max = config.rcv_buf_max.max(r);
        }
        if let Some(s) = send {
            config.snd_buf = s;
            config.snd_buf_max = config.snd_buf_max.max(s);
        }
        Ok(())
    }

    /// Connections that hold a 4-tuple: established ones and every other
    /// state, TIME-WAIT records included.
    pub fn tcp_connection_count(&self) -> usize {
        self.tcp_conns.len() + self.tcp_time_wait.len()
    }

    /// Closed connections waiting out 2·MSL as compact records (no longer
    /// sockets; Linux's `ss -s` "timewait").
    pub fn tcp_time_wait_count(&self) -> usize {
        self.tcp_time_wait.len()
    }

    // ----- input --------------------------------------------------------

    /// RFC 9293 §3.10.7: a segment arrived. Checksum, then the 4-tuple
    /// table (one hash lookup), then a listener, else a RST.
    pub(crate) fn tcp_input(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        payload: &[u8],
        broadcast: bool,
        checksum: ChecksumMode,
    ) {
        // RFC 1122 §4.2.3.10: TCP is never addressed to a broadcast.
        if broadcast {
            return self.counters.drop(DropReason::TcpMalformed);
        }
        let pkt = match TcpPacket::new_checked(payload) {
            Ok(p) => p,
            Err(_) => return self.counters.drop(DropReason::TcpMalformed),
        };
        let bad_sum = |pkt: &TcpPacket<&[u8]>| checksum.verify() && !pkt.verify_checksum(&ip.src_addr, &ip.dst_addr);
        // Parsed first, checksum later: a connection's in-order data is
        // verified as it is copied in (see `tcp_deliver`).
        // Matched by reference: the segment stays where it was parsed.
        let parsed = TcpRepr::parse(&pkt, &ip.src_addr, &ip.dst_addr, ChecksumMode::Ignore);
        let seg = match &parsed {
            Ok(s) => s,
            Err(_) if bad_sum(&pkt) => return self.counters.drop(DropReason::TcpBadChecksum),
            Err(_) => return self.counters.drop(DropReason::TcpMalformed),
        };
        let local = SocketAddrV4::new(ip.dst_addr, seg.dst_port);
        let remote = SocketAddrV4::new(ip.src_addr, seg.src_port);
        let mut existing = self.tcp_conns.get(&(local, remote));
        let deferred =
            checksum.verify() && existing.is_some() && seg.payload.len() >= DEFER_CHECKSUM_MIN && !seg.syn && !seg.rst;
        if !deferred && bad_sum(&pkt) {
            return self.counters.drop(DropReason::TcpBadChecksum);
        }
        let unverified = deferred.then(|| pkt.header_sum(&ip.src_addr, &ip.dst_addr));
        if !deferred {
            self.counters.tcp_rx += 1;
        }
        // The listener for `local` (the catch-all one included), looked up
        // once, and only for a segment no connection takes or a SYN that
        // may reopen one (nothing below changes the listeners).
        let listener = (existing.is_none() || seg.syn)
            .then(|| self.tcp_ports.lookup(local).filter(|&l| self.is_listener(l)).or(self.tcp_catch_all))
            .flatten();
        // The SND.NXT of a TIME-WAIT this SYN reopens.
        let mut reopens = None;
        if let Some(h) = existing.filter(|_| seg.syn && seg.ack_number.is_none() && !seg.rst) {
            // RFC 9293 §3.10.7.4 and RFC 6191: a new SYN may reopen a
            // 4-tuple in TIME-WAIT when its timestamp or sequence number
            // shows it is not an old duplicate, and a listener takes it
            // (else TIME-WAIT answers it, as Linux's TCP_TW_SYN falls
            // through to TCP_TW_ACK).
            let reopen = match self.tcp_ref(h).map(|s| &s.role) {
                Ok(TcpRole::Stream(s)) => {
                    let c = s.conn.get();
                    (c.state() == State::TimeWait && c.time_wait_accepts_syn(seg)).then(|| c.snd_nxt())
                }
                _ => None,
            };
            if let Some(snd_nxt) = reopen.filter(|_| listener.is_some()) {
                self.tcp_forget(h, (local, remote));
                existing = None;
                reopens = Some(snd_nxt);
            }
        }
        if existing.is_none() && reopens.is_none() && !self.tcp_time_wait.is_empty() {
            match self.tcp_time_wait_input(now, (local, remote), seg, listener.is_some()) {
                TimeWaitInput::Answered => {
                    self.rx_clock = self.rx_clock.max(now);
                    return;
                }
                TimeWaitInput::Reopens(snd_nxt) => reopens = Some(snd_nxt),
                TimeWaitInput::Absent => {}
            }
        }
        if let Some(h) = existing {
            self.tcp_deliver(now, h, seg, unverified);
        } else if let Some(l) = listener {
            self.tcp_listen_input(now, l, local, remote, seg, reopens);
        } else {
            self.counters.drop(DropReason::TcpNoSocket);
            self.tcp_reset(local, remote, seg);
        }
        // The touched connection answers when the driver next polls or
        // dispatches, after the rest of the batch this segment came in.
        self.rx_clock = self.rx_clock.max(now);
    }

    fn is_listener(&self, h: SocketHandle) -> bool {
        matches!(self.tcp_ref(h).map(|s| &s.role), Ok(TcpRole::Listener(_)))
    }

    /// Answers a segment that belongs to nothing with a RST.
    #[cold] // rare: kept off the per-segment path (instruction cache)
    fn tcp_reset(&mut self, local: SocketAddrV4, remote: SocketAddrV4, seg: &TcpRepr<'_>) {
        if let Some(rst) = rst_reply(seg) {
            self.tcp_emit(local, remote, &rst, self.config.default_ttl);
        }
    }

    /// Sends one segment that no connection owns (RST, cookie SYN-ACK,
    /// the answer of a TIME-WAIT record), with `ttl`.
    fn tcp_emit(&mut self, local: SocketAddrV4, remote: SocketAddrV4, seg: &TcpRepr<'_>, ttl: u8) {
        let ident = self.next_ident();
        let data = tcp_datagram(&mut self.pool, *local.ip(), *remote.ip(), ident, ttl, seg, ChecksumMode::Verify);
        let egress = self.tcp_egress(*remote.ip());
        let tx_queue_len = self.config.tx_queue_len;
        let Stack { tx_queue, loopback, counters, .. } = self;
        let checksum = ChecksumMode::Verify;
        TcpSink { tx_queue, loopback, counters, tx_queue_len, egress, checksum }.send(Outgoing::one(data));
    }

    /// How to checksum segments to `remote`. A datagram that stays inside
    /// the host cannot be corrupted on the way, so loopback skips TCP and
    /// IP checksums at both ends, as Linux's `lo` device does (it offers
    /// checksum offload, and the receiver trusts it). A raw TCP socket,
    /// which sees these datagrams, still gets correct checksums.
    fn loopback_checksum(&self, remote: Ipv4Addr) -> ChecksumMode {
        if !self.is_local_unicast(remote) {
            return ChecksumMode::Verify;
        }
        if self.raw_watches(IpProtocol::Tcp) {
            ChecksumMode::Verify
        } else {
            ChecksumMode::Ignore
        }
    }

    /// Where TCP datagrams to `dst` go (a connection keeps the answer
    /// between flushes, in its `RouteCache`).
    fn tcp_egress(&self, dst: Ipv4Addr) -> Egress {
        if self.is_local_unicast(dst) {
            return Egress::Loopback;
        }
        match self.routes.lookup(dst) {
            Some(hop) if self.ifaces[hop.iface.0].up => Egress::Link(hop),
            _ => Egress::NoRoute,
        }
    }

    /// Hands `seg` to connection `h`. `unverified`: its checksum is still
    /// to be checked, and this is the sum of its pseudo-header and header.
    fn tcp_deliver(&mut self, now: Instant, h: SocketHandle, seg: &TcpRepr<'_>, unverified: Option<u16>) {
        let Ok(TcpSocket { role: TcpRole::Stream(s), .. }) = self.tcp_mut(h) else {
            return;
        };
        let (ack_now, state, wakers, due, next) = {
            let mut guard = s.conn.lock();
            // Through the guard once: each use of it picks its variant.
            let c: &mut Locked = &mut guard;
            match unverified {
                Some(header_sum) => {
                    if !c.on_segment_unverified(now, seg, header_sum) {
                        drop(guard);
                        return self.counters.drop(DropReason::TcpBadChecksum);
                    }
                }
                None => c.on_segment(now, seg),
            }
            // Most segments leave nothing to send at once (a delayed ACK, an
            // ACK that frees no new data): then the connection is not
            // flushed, only its timer entry moved if the next deadline came
            // earlier.
            let (due, next) = if c.is_closed() { (true, None) } else { c.output_due() };
            (c.rcv_unacked() >= MAX_ACK_BATCH, c.state(), c.take_wakers(), due, next)
        };
        wakers.wake();
        let promoted = s.parent.is_some() && state.is_synchronized() && state != State::SynReceived;
        let parent = s.parent;
        let old_timer = s.timer;
        // Into TIME-WAIT with nothing to send (simultaneous close: the
        // ACK of our FIN in CLOSING): flushed anyway, which moves a closed
        // one to the TIME-WAIT table.
        if due || state == State::TimeWait {
            self.tcp_touch(h);
        } else {
            let new_timer = lazy_deadline(old_timer, next);
            s.timer = new_timer;
            self.tcp_timer_moved(h, old_timer, new_timer);
        }
        if unverified.is_some() {
            // Counted once verified (`tcp_input` counts the others).
            self.counters.tcp_rx += 1;
        }
        if promoted {
            if let Some(p) = parent {
                self.tcp_promote(p, h);
            }
            self.tcp_touch(h);
        }
        if ack_now {
            self.tcp_touch(h);
            self.tcp_flush(now);
        }
    }

    /// Connection `h`'s deadline (the TIME-WAIT table's under the null
    /// handle) moved from `old` to `new`, which its owner already holds:
    /// `new` goes into the timer set, where `old` is left dead
    /// ([`TimerHeap`](crate::timer_heap::TimerHeap)).
    fn tcp_timer_moved(&mut self, h: SocketHandle, old: Option<Instant>, new: Option<Instant>) {
        if old != new {
            if let Some(t) = new {
                self.tcp_timers.push(t, h);
            }
            if old.is_some() {
                self.tcp_timers_purge();
            }
        }
    }

    /// Drops the dead entries at the top of the timer set (and deeper in,
    /// once they pile up), so its top is the stack's next deadline.
    fn tcp_timers_purge(&mut self) {
        let Stack { tcp_timers, sockets, tcp_time_wait, .. } = self;
        let owners = sockets.len() + 1;
        tcp_timers.purge(owners, |at, h| timer_live(sockets, tcp_time_wait, at, h));
    }

    /// A child finished its handshake: from the SYN queue to the accept
    /// queue.
    #[inline(never)] // rare: kept off the per-segment path (instruction cache)
    fn tcp_promote(&mut self, parent: SocketHandle, child: SocketHandle) {
        let Ok(TcpSocket { role: TcpRole::Listener(l), .. }) = self.tcp_mut(parent) else { return };
        if l.accept_queue.len() > l.backlog {
            // Linux ignores the final ACK while the accept queue is full
            // (`tcp_abort_on_overflow` = 0): the child waits in the SYN
            // queue and moves up when `accept` makes room.
            return self.counters.drop(DropReason::TcpListenOverflow);
        }
        if let Some(i) = l.embryonic.iter().position(|&c| c == child) {
            l.embryonic.remove(i);
            l.accept_queue.push_back(child);
            l.wakers.wake_all();
        }
    }

    /// Promotes, oldest first, children that completed their handshake
    /// while the accept queue was full.
    fn tcp_promote_waiting(&mut self, parent: SocketHandle) {
        let Ok(TcpSocket { role: TcpRole::Listener(l), .. }) = self.tcp_ref(parent) else { return };
        let ready: Vec<SocketHandle> = l
            .embryonic
            .iter()
            .copied()
            .filter(|&c| {
                matches!(self.tcp_ref(c).map(|s| &s.role),
                    Ok(TcpRole::Stream(s)) if s.conn.get().state().is_synchronized())
            })
            .collect();
        for child in ready {
            self.tcp_promote(parent, child);
        }
    }

    #[inline(never)] // rare: kept off the per-segment path (instruction cache)
    fn tcp_listen_input(
        &mut self,
        now: Instant,
        lh: SocketHandle,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        seg: &TcpRepr<'_>,
        reopens: Option<SeqNumber>,
    ) {
        // RFC 9293 §3.10.7.2, LISTEN state.
        if seg.rst {
            return;
        }
        let owner = self.sockets[lh].owner;
        let Ok(TcpSocket { role: TcpRole::Listener(l), config, opts, .. }) = self.tcp_mut(lh) else {
            return;
        };
        let (config, opts) = (config.clone(), *opts);
        let (backlog, queued, embryonic) = (l.backlog, l.accept_queue.len(), l.embryonic.len());
        let cookies_out = l.cookie_sent_at.is_some_and(|t| now.saturating_duration_since(t) < SynCookies::LIFETIME);
        let route_mss = self.route_mss(now, *remote.ip());
        if let Some(ack) = seg.ack_number {
            // Not a SYN: the ACK completing a SYN-cookie handshake, or junk.
            let mss = if seg.syn || !cookies_out {
                None
            } else {
                let mss = self.syn_cookies.check(now, local, remote, seg);
                self.counters.tcp_syncookies_failed += u64::from(mss.is_none());
                mss
            };
            let Some(mss) = mss else {
                return self.tcp_reset(local, remote, seg);
            };
            if queued > backlog {
                return self.counters.drop(DropReason::TcpListenOverflow);
            }
            let conn = Connection::from_cookie(
                now,
                local,
                remote,
                seg,
                Initial { iss: ack - 1, ts_offset: self.isn.ts_offset(local, remote) },
                seg.seq_number - 1,
                mss.min(route_mss),
                Arc::clone(&config),
            );
            let Some(conn) = conn else {
                return self.tcp_reset(local, remote, seg);
            };
            self.counters.tcp_syncookies_accepted += 1;
            let child = self.tcp_child(owner, config, opts, conn, lh);
            self.tcp_register(child, (local, remote));
            self.tcp_promote_new(lh, child);
            self.tcp_touch(child);
            return;
        }
        if !seg.syn {
            return; // RFC 9293: anything else in LISTEN is dropped
        }
        // A full accept queue drops the SYN (the client retries), as Linux.
        if queued > backlog {
            return self.counters.drop(DropReason::TcpListenOverflow);
        }
        // The SYN queue holds at most `backlog` (and tcp_max_syn_backlog)
        // requests, as on Linux; beyond that, cookies. Not for a SYN that
        // reopens a TIME-WAIT: its ISN must lie past the old connection's
        // sequence numbers, which a cookie cannot (Linux queues it anyway).
        if reopens.is_none() && embryonic >= backlog.min(self.config.tcp_max_syn_backlog) {
            // RFC 4987 §3.6: the SYN queue is full; answer statelessly.
            let ts_offset = self.isn.ts_offset(local, remote);
            let synack = self.syn_cookies.synack(now, local, remote, seg, route_mss, ts_offset, &config);
            self.counters.tcp_syncookies_sent += 1;
            if let Ok(TcpSocket { role: TcpRole::Listener(l), .. }) = self.tcp_mut(lh) {
                l.cookie_sent_at = Some(now);
            }
            return self.tcp_emit(local, remote, &synack, self.config.default_ttl);
        }
        let mut initial = self.isn.initial(now, local, remote);
        if let Some(old_snd_nxt) = reopens {
            // RFC 1122 §4.2.2.13, RFC 6191 §2: the new ISS lies beyond the
            // old connection's sequence numbers, so none of its duplicates
            // still in flight fits the new one (Linux: tw_snd_nxt + 65537).
            initial.iss = old_snd_nxt + 65537;
        }
        let conn = Connection::accept(now, local, remote, seg, initial, route_mss, Arc::clone(&config));
        let child = self.tcp_child(owner, config, opts, conn, lh);
        self.tcp_register(child, (local, remote));
        if let Ok(TcpSocket { role: TcpRole::Listener(l), .. }) = self.tcp_mut(lh) {
            l.embryonic.push(child);
        }
        self.tcp_touch(child);
    }

    fn tcp_promote_new(&mut self, lh: SocketHandle, child: SocketHandle) {
        if let Ok(TcpSocket { role: TcpRole::Listener(l), .. }) = self.tcp_mut(lh) {
            l.accept_queue.push_back(child);
            l.wakers.wake_all();
        }
    }

    fn tcp_child(
        &mut self,
        owner: crate::ProcessId,
        config: Arc<TcpConfig>,
        opts: SocketOpts,
        mut conn: Connection,
        parent: SocketHandle,
    ) -> SocketHandle {
        conn.set_memory_budget(self.tcp_memory.clone());
        self.sockets.insert(crate::socket::SocketEntry {
            owner,
            socket: Socket::Tcp(TcpSocket {
                bound: None,
                config,
                opts,
                role: TcpRole::Stream(Box::new(Stream::new(conn, Some(parent)))),
            }),
        })
    }

    fn route_mss(&mut self, now: Instant, dst: Ipv4Addr) -> u16 {
        let mtu = if self.is_local_unicast(dst) {
            65535
        } else {
            match self.routes.lookup(dst) {
                Some(hop) => self.path_mtu(now, hop.iface, dst),
                None => 576,
            }
        };
        mtu.saturating_sub(40).clamp(88, 65495) as u16
    }

    fn tcp_register(&mut self, h: SocketHandle, tuple: FourTuple) {
        self.tcp_conns.insert(&tuple, h);
        *self.tcp_port_users.entry(tuple.0.port()).or_insert(0) += 1;
    }

    fn tcp_unregister(&mut self, tuple: FourTuple) {
        if self.tcp_conns.remove(&tuple) {
            release_port(&mut self.tcp_port_users, tuple.0.port());
        }
    }

    // ----- output and timers -------------------------------------------

    /// Marks a connection as having output or timer work now.
    pub(crate) fn tcp_touch(&mut self, h: SocketHandle) {
        if let Ok(TcpSocket { role: TcpRole::Stream(s), .. }) = self.tcp_mut(h) {
            if !s.dirty {
                s.dirty = true;
                self.tcp_dirty.push_back(h);
            }
        }
    }

    /// Runs due connection timers.
    pub(crate) fn tcp_poll_timers(&mut self, now: Instant) {
        while let Some((at, h)) = self.tcp_timers.peek() {
            if at > now {
                break;
            }
            self.tcp_timers.pop();
            if !timer_live(&self.sockets, &self.tcp_time_wait, at, h) {
                // Moved or disarmed since it was set.
                continue;
            }
            if h == SocketHandle::null() {
                self.tcp_time_wait_expire(now);
                continue;
            }
            if let Ok(TcpSocket { role: TcpRole::Stream(s), .. }) = self.tcp_mut(h) {
                s.timer = None;
                // Woken under the lock section that ran the timers.
                let wakers = {
                    let mut c = s.conn.lock();
                    c.on_timer(now);
                    c.take_wakers()
                };
                wakers.wake();
            }
            self.tcp_touch(h);
        }
        self.tcp_flush(now);
    }

    #[inline]
    pub(crate) fn tcp_poll_at(&self) -> Option<Instant> {
        if !self.tcp_dirty.is_empty() {
            return Some(Instant::ZERO);
        }
        self.tcp_timers.peek().map(|(t, _)| t)
    }

    /// Sends what every touched connection owes, as far as the transmit
    /// queue has room; re-arms their timers; retires closed ones.
    pub(crate) fn tcp_flush(&mut self, now: Instant) {
        self.tcp_flush_from(now, None);
    }

    /// [`Stack::tcp_flush`], `first` (not marked) before the marked ones.
    fn tcp_flush_from(&mut self, now: Instant, mut first: Option<SocketHandle>) {
        // A plain load first: the swap (a locked instruction) only when
        // linked connections did exchange segments.
        let tally = &self.tcp_direct_tally;
        if tally.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            let exchanged = tally.swap(0, std::sync::atomic::Ordering::Relaxed);
            self.count_direct(exchanged);
        }
        if self.pmtu_unlock_at.is_some_and(|t| t <= now) {
            self.pmtu_unlock(now);
        }
        while let Some(h) = first.take().or_else(|| self.tcp_dirty.pop_front()) {
            if !self.tcp_transmit(now, h) {
                // The transmit queue is full: this connection and all still
                // waiting try again on the next poll, after the driver has
                // drained it (in order, so none starves).
                self.tcp_dirty.push_front(h);
                break;
            }
        }
    }

    /// One connection's output. False if it stopped for lack of room.
    fn tcp_transmit(&mut self, now: Instant, h: SocketHandle) -> bool {
        let room = self.config.tx_queue_len.min(self.config.tcp_tx_batch.max(1)).saturating_sub(self.tx_queue.len());
        // The cached route, read where it lies; worked out anew (out of
        // line) when routes or interfaces changed.
        let route = match self.tcp_ref(h) {
            Ok(TcpSocket { role: TcpRole::Stream(s), .. }) if s.route.epoch == self.route_epoch => s.route,
            Ok(TcpSocket { role: TcpRole::Stream(_), .. }) => self.tcp_refresh_route(now, h),
            _ => return true,
        };
        let RouteCache { egress, checksum, gso_max, .. } = route;
        // Only loopback skips checksums: only there can the peer be linked.
        let peer = if checksum.verify() { None } else { self.tcp_peer(h) };
        let tx_queue_len = self.config.tx_queue_len;
        // The socket table, the buffer pool and the queues the datagrams
        // go to are borrowed apart: each datagram goes out as soon as it is
        // complete, while the connection is held.
        let Stack { sockets, pool, tx_queue, loopback, counters, .. } = self;
        let sink = TcpSink { tx_queue, loopback, counters, tx_queue_len, egress, checksum };
        let Some((s, ttl)) = sockets.get_mut(h).and_then(stream_of) else {
            return true;
        };
        // A user thread holding either connection kicks the stack again
        // when it lets go: nothing here waits for one.
        let Some((mut guard, mut peer_conn)) = s.conn.try_lock_for_stack(peer.as_ref().map(|(p, _)| p)) else {
            s.dirty = false;
            return true;
        };
        // Through the guard once: each use of it picks its variant.
        let c: &mut Locked = &mut guard;
        let mut blocked = false;
        let mut direct = 0u64;
        if s.template.as_ref().is_none_or(|t| t.ttl() != ttl) {
            s.template = Some(new_template(c, s.template.as_ref(), ttl));
        }
        let Some(template) = s.template.as_ref() else { unreachable!("made just above") };
        let mut out =
            StreamOut { sink, pool, template, ident: self.next_ident, ttl, gso_max, last: None, run: None, built: 0 };
        loop {
            let budget = room.saturating_sub(out.built);
            if budget == 0 {
                blocked = true;
                break;
            }
            let sent = c.poll_transmit_burst(now, budget, |seg| match peer_conn.as_deref_mut() {
                Some(p) => {
                    p.on_segment(now, seg);
                    direct += 1;
                }
                None => out.segment(seg),
            });
            // Short of the budget: drained. At it: more may be due, unless
            // everything is sent (linked, the budget never runs out).
            if sent < budget || c.sent_all() {
                break;
            }
        }
        self.next_ident = out.finish();
        let peer_wakers = peer_conn.as_deref_mut().filter(|_| direct > 0).map(|p| p.take_wakers());
        drop(peer_conn);
        if let Some(w) = peer_wakers {
            w.wake();
        }
        // Still dirty when blocked: the caller keeps it queued.
        s.dirty = blocked;
        let closed = c.is_closed() && !blocked;
        // In TIME-WAIT with nothing left to send: it may leave the socket
        // table for the TIME-WAIT table.
        let time_wait = !blocked && c.state() == State::TimeWait;
        let old_timer = s.timer;
        let mut next = match (closed, blocked) {
            (true, _) => None,
            (false, false) => c.poll_at_drained(),
            // Still dirty, so flushed again as soon as there is room; its
            // timers are worked out then.
            (false, true) => old_timer,
        };
        if let Some(t) = next {
            // Output that is due "now" was just drained; what remains is a
            // timer, strictly later (guards against a busy loop).
            if t <= now && !blocked {
                next = Some(now + Duration::from_micros(1));
            }
        }
        let next = lazy_deadline(old_timer, next);
        s.timer = next;
        // Read only to leave the tables (not on every flush: the copy out
        // of the connection stalls, two narrow stores read back wide).
        let tuple = (closed || time_wait).then(|| (c.local_addr(), c.remote_addr()));
        drop(guard);
        let orphaned = s.orphaned;
        let parent = s.parent;
        if closed {
            s.wake();
        }
        self.tcp_timer_moved(h, old_timer, next);
        if direct > 0 {
            self.count_direct(direct);
        }
        if let Some((_, p)) = peer.filter(|_| direct > 0) {
            // The peer answers (ACKs, data the ACKs release) from this same
            // flush loop, once it reaches the peer's turn.
            self.tcp_touch(p);
        }
        if let Some(tuple) = tuple {
            if closed {
                self.tcp_retire(h, tuple, orphaned, parent);
            }
            if time_wait {
                self.tcp_time_wait_enter(h, tuple, ttl);
            }
        }
        !blocked
    }

    /// Works out connection `h`'s route (egress, checksum mode, offload
    /// size) for the stack's current routes and interfaces, and its
    /// template's Don't Fragment bit for the path (see
    /// `StackConfig::min_pmtu`). Rare: only after a change to them.
    #[cold]
    #[inline(never)]
    fn tcp_refresh_route(&mut self, now: Instant, h: SocketHandle) -> RouteCache {
        let Ok(TcpSocket { role: TcpRole::Stream(s), .. }) = self.tcp_ref(h) else {
            return RouteCache::NONE;
        };
        let remote = s.conn.remote_addr();
        let egress = self.tcp_egress(*remote.ip());
        let route = RouteCache {
            epoch: self.route_epoch,
            egress,
            checksum: self.loopback_checksum(*remote.ip()),
            // Runs are packed on an interface with segmentation offload.
            gso_max: match egress {
                Egress::Link(hop) => self.ifaces[hop.iface.0].gso_max_size,
                Egress::Loopback | Egress::NoRoute => None,
            },
        };
        let dont_frag = !self.path_mtu_locked(now, *remote.ip());
        if let Some((s, ttl)) = self.sockets.get_mut(h).and_then(stream_of) {
            s.route = route;
            if s.template.as_ref().is_none_or(|t| t.dont_frag() != dont_frag) {
                let tuple = (s.conn.local_addr(), s.conn.remote_addr());
                s.template = Some(segment_template(tuple, ttl, dont_frag));
            }
        }
        route
    }

    /// The linked local peer of loopback connection `h` ([`Stack::tcp_link`]).
    #[inline(never)] // loopback only: kept off the per-segment path
    fn tcp_peer(&mut self, h: SocketHandle) -> Option<(TcpConn, SocketHandle)> {
        let Ok(TcpSocket { role: TcpRole::Stream(s), .. }) = self.tcp_ref(h) else {
            return None;
        };
        let (local, remote) = (s.conn.local_addr(), s.conn.remote_addr());
        self.tcp_link(h, local, remote)
    }

    /// The local peer connection `h` (with 4-tuple `local`, `remote`) sends
    /// straight to, linking the two first if they can be: only with
    /// nothing on the loopback queue, which segments sent straight would
    /// overtake. Once linked, they stay so until one of them closes (or a
    /// raw TCP socket opens), so no datagram of theirs is ever queued.
    /// Linked connections are shared (the pair's exchanges run from user
    /// threads, [`TcpConn::exchange`]).
    #[inline(never)] // rare: kept off the per-segment path (instruction cache)
    fn tcp_link(
        &mut self,
        h: SocketHandle,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> Option<(TcpConn, SocketHandle)> {
        let Ok(TcpSocket { role: TcpRole::Stream(s), .. }) = self.tcp_ref(h) else { return None };
        if let Some(linked) = s.conn.linked_with_handle() {
            return Some(linked);
        }
        if !self.loopback.is_empty() {
            return None;
        }
        let p = self.tcp_conns.get(&(remote, local)).filter(|&p| p != h)?;
        let Ok(TcpSocket { role: TcpRole::Stream(peer), .. }) = self.tcp_ref(p) else { return None };
        if !linkable(s, peer) {
            return None;
        }
        let (conn, peer_conn) = (self.tcp_share(h).ok()?, self.tcp_share(p).ok()?);
        conn.link(h, &peer_conn, p, &self.tcp_direct_tally);
        Some((peer_conn, p))
    }

    /// Unlinks every pair of local connections (a raw TCP socket must see
    /// their datagrams).
    pub(crate) fn tcp_unlink_all(&mut self) {
        for (_, e) in self.sockets.iter() {
            if let Socket::Tcp(TcpSocket { role: TcpRole::Stream(s), .. }) = &e.socket {
                s.conn.unlink();
            }
        }
    }

    /// Counts `n` segments handed straight between linked connections as
    /// the datagrams they stand for.
    #[inline(never)] // rare: kept off the per-segment path (instruction cache)
    fn count_direct(&mut self, n: u64) {
        self.counters.tcp_tx += n;
        self.counters.ip_tx += n;
        self.counters.ip_delivered += n;
        self.counters.tcp_rx += n;
    }

    /// A connection in TIME-WAIT that its application closed and nobody
    /// else holds leaves the socket table: its record goes to the
    /// TIME-WAIT table, which keeps its 4-tuple and its local port (RFC
    /// 9293 §3.10.7.4) until 2·MSL is over; with `tcp_max_tw_buckets`
    /// records held already, it closes at once instead, as on Linux. Any
    /// other, or one that still owes something, stays whole.
    #[inline(never)] // rare: kept off the per-segment path (instruction cache)
    fn tcp_time_wait_enter(&mut self, h: SocketHandle, tuple: FourTuple, ttl: u8) {
        let Ok(TcpSocket { role: TcpRole::Stream(s), .. }) = self.tcp_mut(h) else { return };
        if !s.orphaned || s.parent.is_some() || !s.conn.sole_holder() {
            return;
        }
        let Some(tw) = s.conn.get().to_time_wait() else { return };
        s.conn.unlink();
        s.wake();
        let (timer, registered) = (s.timer.take(), s.registered);
        if registered && self.tcp_time_wait.len() >= self.config.tcp_max_tw_buckets {
            self.counters.tcp_tw_overflow += 1;
            self.tcp_unregister(tuple);
        } else if registered && self.tcp_conns.remove(&tuple) {
            // Not `tcp_unregister`: the record keeps the port in use.
            self.tcp_time_wait.insert(&tuple, tw, ttl);
            self.tcp_time_wait_rearm();
        }
        self.sockets.remove(h);
        if timer.is_some() {
            self.tcp_timers_purge();
        }
    }

    /// A segment the connection table had no entry for: if its 4-tuple is
    /// in TIME-WAIT, answered by the connection rebuilt from the record,
    /// which is then recorded again, or dropped once closed (RFC 9293
    /// §3.10.7.4). A SYN that may reopen the 4-tuple (RFC 6191) drops the
    /// record and is left to the listener, when there is one (`listening`).
    #[cold] // rare: kept off the per-segment path (instruction cache)
    fn tcp_time_wait_input(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        seg: &TcpRepr<'_>,
        listening: bool,
    ) -> TimeWaitInput {
        let (mut c, ttl) = match self.tcp_time_wait.get(&tuple) {
            Some((tw, _)) if listening && tw.accepts_syn(seg) => {
                let snd_nxt = tw.snd_nxt();
                self.tcp_time_wait_remove(tuple);
                return TimeWaitInput::Reopens(snd_nxt);
            }
            Some((tw, ttl)) => (tw.restore(tuple.0, tuple.1), ttl),
            None => return TimeWaitInput::Absent,
        };
        c.on_segment(now, seg);
        while c.poll_transmit(now, |r| self.tcp_emit(tuple.0, tuple.1, r, ttl)) {}
        match c.to_time_wait() {
            Some(tw) => self.tcp_time_wait.update(&tuple, tw),
            None => {
                debug_assert!(c.is_closed(), "TIME-WAIT ends only in CLOSED");
                self.tcp_time_wait_remove(tuple);
            }
        }
        TimeWaitInput::Answered
    }

    /// Drops `tuple`'s TIME-WAIT record, freeing its port.
    fn tcp_time_wait_remove(&mut self, tuple: FourTuple) {
        if self.tcp_time_wait.remove(&tuple) {
            release_port(&mut self.tcp_port_users, tuple.0.port());
        }
        self.tcp_time_wait_rearm();
    }

    /// The TIME-WAIT table's timer came up (its entry, under the null
    /// handle, already taken from the timer set): expired records go,
    /// freeing their ports.
    fn tcp_time_wait_expire(&mut self, now: Instant) {
        let Stack { tcp_time_wait, tcp_port_users, .. } = self;
        tcp_time_wait.disarm();
        tcp_time_wait.expire(now, |(local, _)| release_port(tcp_port_users, local.port()));
        self.tcp_time_wait_rearm();
    }

    /// Keeps the TIME-WAIT table's next deadline in the timer set, under
    /// the null handle (no socket's), so the stack's next deadline stays
    /// one look at the set.
    fn tcp_time_wait_rearm(&mut self) {
        if let Some((old, new)) = self.tcp_time_wait.rearm() {
            self.tcp_timer_moved(SocketHandle::null(), old, new);
        }
    }

    /// Drops a connection at once (a TIME-WAIT 4-tuple being reopened).
    #[cold] // rare: kept off the per-segment path (instruction cache)
    fn tcp_forget(&mut self, h: SocketHandle, tuple: FourTuple) {
        let Ok(TcpSocket { role: TcpRole::Stream(s), .. }) = self.tcp_mut(h) else { return };
        let (timer, orphaned, parent) = (s.timer.take(), s.orphaned, s.parent);
        s.dirty = false;
        s.wake();
        self.tcp_dirty.retain(|&d| d != h);
        self.tcp_retire(h, tuple, orphaned, parent);
        if timer.is_some() {
            self.tcp_timers_purge();
        }
    }

    /// An ICMP "fragmentation needed" about a segment of ours, reporting
    /// path MTU `mtu`: the connection sends with the smaller MSS and
    /// resends at once what was too big ([`Connection::on_packet_too_big`]).
    /// Returns whether it was believed (the stack then keeps the path MTU
    /// for the destination).
    pub(crate) fn tcp_packet_too_big(&mut self, header: &Ipv4Repr, data: &[u8], mtu: usize) -> bool {
        let path_mss = mtu.saturating_sub(40).clamp(88, 65495) as u16;
        self.tcp_icmp(header, data, |c, seq| c.on_packet_too_big(seq, path_mss))
    }

    /// Any other ICMP error about a segment of ours
    /// ([`Connection::on_icmp_error`]): an opening connection fails with
    /// `kind`, an established one remembers it.
    pub(crate) fn tcp_icmp_error(&mut self, header: &Ipv4Repr, data: &[u8], kind: io::ErrorKind, fatal: bool) {
        self.tcp_icmp(header, data, |c, seq| c.on_icmp_error(seq, kind, fatal));
    }

    /// Hands an ICMP error to the connection whose segment it quotes in
    /// `data` (its first 8 octets: ports and sequence number). `apply`
    /// judges the sequence number (RFC 5927 §4.1) and returns whether it
    /// believed the error; one about no connection, or not believed, is
    /// counted. Returns whether it was believed.
    fn tcp_icmp(
        &mut self,
        header: &Ipv4Repr,
        data: &[u8],
        apply: impl FnOnce(&mut Connection, SeqNumber) -> bool,
    ) -> bool {
        let (Some(ports), Some(seq)) = (data.get(..4), data.get(4..8)) else {
            self.counters.drop(DropReason::IcmpMalformed);
            return false;
        };
        let local = SocketAddrV4::new(header.src_addr, u16::from_be_bytes([ports[0], ports[1]]));
        let remote = SocketAddrV4::new(header.dst_addr, u16::from_be_bytes([ports[2], ports[3]]));
        let seq = SeqNumber(u32::from_be_bytes([seq[0], seq[1], seq[2], seq[3]]));
        let h = self.tcp_conns.get(&(local, remote));
        let believed = match h.map(|h| self.tcp_mut(h)) {
            Some(Ok(TcpSocket { role: TcpRole::Stream(s), .. })) => {
                let mut c = s.conn.lock();
                let believed = apply(&mut c, seq);
                let wakers = c.take_wakers();
                drop(c);
                wakers.wake();
                believed
            }
            _ => false,
        };
        match h {
            Some(h) if believed => self.tcp_touch(h),
            _ => self.counters.drop(DropReason::IcmpOutOfWindow),
        }
        believed
    }

    /// A connection reached CLOSED: free its 4-tuple; drop the socket if
    /// nobody holds it (orphaned, or an embryonic child of a listener).
    #[inline(never)] // rare: kept off the per-segment path (instruction cache)
    fn tcp_retire(&mut self, h: SocketHandle, tuple: FourTuple, orphaned: bool, parent: Option<SocketHandle>) {
        let registered = matches!(self.tcp_ref(h).map(|s| &s.role), Ok(TcpRole::Stream(s)) if s.registered);
        if registered {
            self.tcp_unregister(tuple);
            if let Ok(TcpSocket { role: TcpRole::Stream(s), .. }) = self.tcp_mut(h) {
                s.registered = false;
                s.conn.unlink();
            }
        }
        let mut drop_socket = orphaned;
        if let Some(p) = parent {
            if let Ok(TcpSocket { role: TcpRole::Listener(l), .. }) = self.tcp_mut(p) {
                // Reset before the handshake finished: it leaves the SYN
                // queue. Already in the accept queue: `accept` returns it
                // and the owner sees the reset, as on Linux.
                if let Some(i) = l.embryonic.iter().position(|&c| c == h) {
                    l.embryonic.swap_remove(i);
                    drop_socket = true;
                }
            } else {
                drop_socket = true;
            }
        }
        if drop_socket {
            self.sockets.remove(h);
        }
    }

    /// `close` of a TCP socket: streams finish (FIN, or RST with unread
    /// data) in the background; listeners reset what they had not handed
    /// out.
    pub(crate) fn tcp_close(&mut self, h: SocketHandle) -> io::Result<()> {
        let sock = self.tcp_mut(h)?;
        let linger = sock.opts.linger;
        if let Some(b) = sock.bound.take() {
            self.tcp_ports.remove(b);
        }
        let sock = self.tcp_mut(h)?;
        match std::mem::replace(&mut sock.role, TcpRole::Idle) {
            TcpRole::Idle => {
                self.sockets.remove(h);
            }
            TcpRole::Listener(l) => {
                self.sockets.remove(h);
                if self.tcp_catch_all == Some(h) {
                    self.tcp_catch_all = None;
                }
                self.tcp_reset_queued(*l);
            }
            TcpRole::Stream(mut s) => {
                if s.orphaned {
                    return Err(not_found());
                }
                if linger == Some(Duration::ZERO) {
                    s.conn.lock().abort();
                } else {
                    s.conn.lock().close();
                }
                s.orphaned = true;
                s.wake();
                self.tcp_mut(h)?.role = TcpRole::Stream(s);
                self.tcp_touch(h);
            }
        }
        Ok(())
    }

    /// Linux: a listener that stops listening (closed, or shut down)
    /// resets the connections still in its queues.
    fn tcp_reset_queued(&mut self, l: Listener) {
        for child in l.embryonic.into_iter().chain(l.accept_queue) {
            if let Ok(TcpSocket { role: TcpRole::Stream(s), .. }) = self.tcp_mut(child) {
                s.conn.lock().abort();
                s.orphaned = true;
                s.parent = None;
            }
            self.tcp_touch(child);
        }
    }

    /// `shutdown` of a listener, as Linux's `inet_shutdown` does it:
    /// `Read` (or `Both`) stops it listening; the connections in its
    /// queues are reset, the threads blocked in `accept` wake and fail
    /// (`InvalidInput`, Linux's EINVAL), and SYNs to its port get RSTs.
    /// A port the application bound stays bound; one `listen` picked is
    /// released. It may listen again. `Write` changes nothing. A server
    /// stops an accept loop running in another thread this way.
    fn tcp_stop_listening(&mut self, h: SocketHandle, how: Shutdown) -> io::Result<()> {
        if how == Shutdown::Write {
            return Ok(());
        }
        let sock = self.tcp_mut(h)?;
        let TcpRole::Listener(mut l) = std::mem::replace(&mut sock.role, TcpRole::Idle) else {
            return Err(invalid("socket is not listening"));
        };
        if l.auto_bound {
            if let Some(b) = sock.bound.take() {
                self.tcp_ports.remove(b);
            }
        }
        if self.tcp_catch_all == Some(h) {
            self.tcp_catch_all = None;
        }
        l.wakers.wake_all();
        self.tcp_reset_queued(*l);
        Ok(())
    }

    /// Readiness of a TCP socket: (readable, writable, error).
    pub(crate) fn tcp_readiness(&self, h: SocketHandle) -> io::Result<(bool, bool, bool)> {
        Ok(match &self.tcp_ref(h)?.role {
            // As Linux's `tcp_poll`: a socket with no connection is
            // writable (a send fails at once); so is a connection whose
            // sending is over (shut down, or closed). While the handshake
            // is on, it is not: writable is how a non-blocking connect
            // says it is done.
            TcpRole::Idle => (false, true, false),
            TcpRole::Listener(l) => (!l.accept_queue.is_empty(), false, false),
            TcpRole::Stream(s) => {
                let c = s.conn.get();
                let err = c.error().is_some();
                let handshake = matches!(c.state(), State::SynSent | State::SynReceived);
                let writable = err || (!handshake && (c.can_send() || c.send_is_shut()));
                (c.can_recv() || c.read_is_shut(), writable, err)
            }
        })
    }

    pub(crate) fn tcp_register_waker(&mut self, h: SocketHandle, waker: &Waker, send: bool) -> io::Result<()> {
        match &mut self.tcp_mut(h)?.role {
            TcpRole::Idle => {}
            TcpRole::Listener(l) => l.wakers.register(waker),
            TcpRole::Stream(s) => s.conn.lock().register(waker, send),
        }
        Ok(())
    }

    pub(crate) fn tcp_local_addr(&self, h: SocketHandle) -> io::Result<SocketAddrV4> {
        let sock = self.tcp_ref(h)?;
        Ok(match &sock.role {
            TcpRole::Stream(s) => s.conn.local_addr(),
            _ => sock.bound.unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
        })
    }

    /// The peer of a connection, as `getpeername` names it: only while
    /// the connection is established or closing. While its SYN is out, and
    /// once it is over (refused, reset, timed out, closed, in TIME-WAIT),
    /// `NotConnected`, as Linux's `inet_getname` says (its socket is in
    /// SYN-SENT or CLOSE then).
    pub(crate) fn tcp_peer_addr(&self, h: SocketHandle) -> io::Result<SocketAddrV4> {
        let s = self.stream_ref(h)?;
        match s.conn.get().state() {
            State::SynSent | State::Closed | State::TimeWait => {
                Err(io::Error::new(io::ErrorKind::NotConnected, "socket is not connected"))
            }
            _ => Ok(s.conn.remote_addr()),
        }
    }

    /// The remote end of a stream's 4-tuple, in any state (the peer it
    /// connects to, or was connected to): what `recvfrom` names as the
    /// sender of stream data, which may still be read after the end.
    pub fn tcp_remote_addr(&self, h: SocketHandle) -> io::Result<SocketAddrV4> {
        Ok(self.stream_ref(h)?.conn.remote_addr())
    }
}

impl Stream {
    fn new(conn: Connection, parent: Option<SocketHandle>) -> Stream {
        Stream {
            conn: ConnSlot::new(conn),
            parent,
            orphaned: false,
            registered: true,
            dirty: false,
            timer: None,
            route: RouteCache::NONE,
            template: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockstack_wire::{SeqNumber, TcpTimestamp};

    /// A datagram built in a buffer an earlier, longer packet left full of
    /// other bytes is the same as one built in a zeroed buffer: every octet
    /// of both headers is written, whichever option layout.
    #[test]
    fn datagrams_overwrite_every_octet_of_a_reused_buffer() {
        let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        let ts = Some(TcpTimestamp { tsval: 7, tsecr: 9 });
        let base = TcpRepr {
            src_port: 4000,
            dst_port: 80,
            seq_number: SeqNumber(1),
            ack_number: Some(SeqNumber(2)),
            window_len: 500,
            payload: b"hello, world",
            ..TcpRepr::default()
        };
        let syn = TcpRepr {
            syn: true,
            max_seg_size: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: ts,
            payload: &[],
            ..base
        };
        let sack = [Some((SeqNumber(10), SeqNumber(20))), Some((SeqNumber(30), SeqNumber(40))), None, None];
        let segs = [
            base,
            TcpRepr { timestamp: ts, ..base },
            TcpRepr { timestamp: ts, sack_ranges: sack, ..base },
            TcpRepr { sack_ranges: sack, ..base },
            syn,
        ];
        for seg in &segs {
            for checksum in [ChecksumMode::Verify, ChecksumMode::Ignore] {
                let mut clean = BufferPool::default();
                let want = tcp_datagram(&mut clean, src, dst, 1, 64, seg, checksum);
                let mut dirty = BufferPool::default();
                dirty.give(vec![0xaa; 2000]);
                let got = tcp_datagram(&mut dirty, src, dst, 1, 64, seg, checksum);
                assert_eq!(got, want, "{seg:?} {checksum:?}");
                assert!(got.capacity() >= 2000, "the pool's buffer was reused");
            }
        }
    }
}
