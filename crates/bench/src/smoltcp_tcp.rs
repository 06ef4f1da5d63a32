//! The smoltcp baseline for `sockstack bench tcp`: the same TCP workloads
//! as [`crate::tcp`], run on smoltcp 0.14, engine to engine, in one thread.
//!
//! Set-up, chosen to give smoltcp its best figures:
//!
//! * Two [`Interface`]s, 192.0.2.1/24 (client) and 192.0.2.2/24 (server),
//!   `Medium::Ip`, MTU as given. Their devices are the two ends of one
//!   in-memory `Wire`: two packet queues, where a transmit on one end
//!   appends to the other end's receive queue. Packet buffers are recycled
//!   through a spare list, so the wire costs one `memset` and no `malloc`
//!   per packet. Checksums are computed and verified in software (the
//!   default capabilities), as sockstack does on its side.
//! * Each step, each host in turn takes in every packet queued for it,
//!   lets the workload act on its sockets, then sends everything it has:
//!   the event loop of a real application, and it lets a response (or a
//!   freshly opened window) ride on the same segment as the ACK.
//! * Virtual clock: [`Instant`] starts at zero and only moves when a step
//!   moved no packet and the workload did nothing; then it jumps straight
//!   to the earliest deadline either interface reports (`poll_at`), at
//!   least 1 µs on. Time spent is thus smoltcp's own work, and timers
//!   (retransmission, delayed ACK, TIME-WAIT) can never dominate. A run
//!   idle for more than a minute of virtual time is an error (a stall).
//! * Sockets: 256 KiB receive and transmit buffers ([`crate::TCP_BUFFER`],
//!   the size measured best for smoltcp here: 4 MiB buffers were 40%
//!   slower in bulk; window scaling is on for buffers over 64 KiB), Nagle
//!   off, delayed ACK off (with the loop above an ACK still rides on the
//!   response or next request when there is one),
//!   no congestion control (the crate's default without the
//!   `socket-tcp-cubic`/`-reno` features), no TCP timestamps.
//!
//! Every workload checks the bytes it moves against [`crate::pattern`]
//! and returns an `Err` if any is wrong. Connection set-up happens before
//! the clock starts for `bulk` and `rr`; figures are wall-clock.

use crate::pattern;
use smoltcp::iface::{Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::Instant as WallClock;

const CLIENT: usize = 0;
const SERVER: usize = 1;
const ADDRS: [Ipv4Address; 2] = [Ipv4Address::new(192, 0, 2, 1), Ipv4Address::new(192, 0, 2, 2)];
/// Socket buffer size, each direction, each socket.
const BUF: usize = crate::TCP_BUFFER;
/// Virtual time a run may sit idle (no packet, no workload action) before
/// it is declared stalled.
const STALL: Duration = Duration::from_secs(60);
/// First client port; `crr` takes a fresh one per connection.
const EPHEMERAL: u16 = 49152;

/// The link between the two hosts: one receive queue per end.
struct Wire {
    queues: [RefCell<VecDeque<Vec<u8>>>; 2],
    spare: RefCell<Vec<Vec<u8>>>,
    packets: Cell<u64>,
    mtu: usize,
}

/// One end of the wire, as the device of host `me`.
struct Port<'w> {
    wire: &'w Wire,
    me: usize,
}

struct RxToken<'w> {
    wire: &'w Wire,
    packet: Vec<u8>,
}

struct TxToken<'w> {
    wire: &'w Wire,
    to: usize,
}

impl Device for Port<'_> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let packet = self.wire.queues[self.me].borrow_mut().pop_front()?;
        Some((RxToken { wire: self.wire, packet }, TxToken { wire: self.wire, to: 1 - self.me }))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken { wire: self.wire, to: 1 - self.me })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.wire.mtu;
        caps
    }
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.packet);
        self.wire.spare.borrow_mut().push(self.packet);
        r
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = self.wire.spare.borrow_mut().pop().unwrap_or_default();
        packet.clear();
        packet.resize(len, 0);
        let r = f(&mut packet);
        self.wire.queues[self.to].borrow_mut().push_back(packet);
        self.wire.packets.set(self.wire.packets.get() + 1);
        r
    }
}

struct Host {
    iface: Interface,
    sockets: SocketSet<'static>,
}

impl Host {
    fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }
}

/// Two hosts, the wire between them, and the virtual clock.
struct Net {
    hosts: [Host; 2],
    wire: Wire,
    now: Instant,
    idle_for: Duration,
}

impl Net {
    fn new(mtu: usize) -> Result<Net, String> {
        if !(576..=65535).contains(&mtu) {
            return Err(format!("MTU {mtu} outside 576..=65535"));
        }
        let wire = Wire { queues: Default::default(), spare: RefCell::new(Vec::new()), packets: Cell::new(0), mtu };
        let now = Instant::ZERO;
        let host = |me: usize| {
            let mut config = Config::new(HardwareAddress::Ip);
            config.random_seed = 0x5eed_0000 + me as u64;
            let mut iface = Interface::new(config, &mut Port { wire: &wire, me }, now);
            iface.update_ip_addrs(|addrs| {
                addrs.push(IpCidr::new(IpAddress::Ipv4(ADDRS[me]), 24)).expect("one address fits");
            });
            Host { iface, sockets: SocketSet::new(Vec::new()) }
        };
        let hosts = [host(CLIENT), host(SERVER)];
        Ok(Net { hosts, wire, now, idle_for: Duration::ZERO })
    }

    /// A TCP socket on host `me`, tuned as described in the module docs.
    fn add_tcp(&mut self, me: usize) -> SocketHandle {
        let mut s = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; BUF]), tcp::SocketBuffer::new(vec![0; BUF]));
        s.set_nagle_enabled(false);
        s.set_ack_delay(None);
        self.hosts[me].sockets.add(s)
    }

    /// One step: each host takes in what is queued for it, lets `app` act
    /// on it (`app` says whether it did anything), then sends what it has.
    /// If nothing at all happened, the clock jumps to the next deadline.
    fn step(&mut self, mut app: impl FnMut(usize, &mut Host) -> Result<bool, String>) -> Result<(), String> {
        let before = self.wire.packets.get();
        let mut acted = false;
        for (me, host) in self.hosts.iter_mut().enumerate() {
            let mut port = Port { wire: &self.wire, me };
            let received = !self.wire.queues[me].borrow().is_empty();
            if received {
                while host.iface.poll_ingress_single(self.now, &mut port, &mut host.sockets)
                    != PollIngressSingleResult::None
                {}
            }
            acted |= app(me, host)?;
            while host.iface.poll_egress(self.now, &mut port, &mut host.sockets) == PollResult::SocketStateChanged {}
            acted |= received;
        }
        if acted || self.wire.packets.get() != before {
            self.idle_for = Duration::ZERO;
            return Ok(());
        }
        let now = self.now;
        let next = self.hosts.iter_mut().filter_map(|h| h.iface.poll_at(now, &h.sockets)).min();
        let Some(next) = next else {
            return Err("smoltcp: both hosts idle with work outstanding".into());
        };
        let next = next.max(now + Duration::from_micros(1));
        self.idle_for += next - now;
        self.now = next;
        if self.idle_for > STALL {
            return Err(format!("smoltcp: stalled (idle for {} of virtual time)", self.idle_for));
        }
        Ok(())
    }

    /// Client socket `c` connects from `local_port` to server socket `s`
    /// listening on `port`; steps until both are established.
    fn connect(&mut self, c: SocketHandle, s: SocketHandle, port: u16, local_port: u16) -> Result<(), String> {
        self.hosts[SERVER].tcp(s).listen(port).map_err(|e| format!("smoltcp listen: {e}"))?;
        let client = &mut self.hosts[CLIENT];
        let remote = (IpAddress::Ipv4(ADDRS[SERVER]), port);
        client
            .sockets
            .get_mut::<tcp::Socket>(c)
            .connect(client.iface.context(), remote, local_port)
            .map_err(|e| format!("smoltcp connect: {e}"))?;
        while !(self.hosts[CLIENT].tcp(c).state() == tcp::State::Established
            && self.hosts[SERVER].tcp(s).state() == tcp::State::Established)
        {
            self.step(|_, _| Ok(false))?;
        }
        Ok(())
    }

    /// A fresh pair of hosts with one established connection on `port`:
    /// (client socket, server socket).
    fn connected(mtu: usize, port: u16) -> Result<(Net, SocketHandle, SocketHandle), String> {
        let mut net = Net::new(mtu)?;
        let c = net.add_tcp(CLIENT);
        let s = net.add_tcp(SERVER);
        net.connect(c, s, port, EPHEMERAL)?;
        Ok((net, c, s))
    }
}

/// Checks `data` against the stream at `offset`: the receiving side of
/// `bulk` runs every byte through here.
fn check_stream(offset: u64, data: &[u8]) -> Result<(), String> {
    pattern::check(offset, data).map_err(|e| format!("smoltcp bulk: {e}"))
}

/// Checks that an `rr` message is the one expected for `round`.
fn check_message(what: &str, round: u32, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("smoltcp rr: {what} {round} corrupted"))
    }
}

/// Bulk: `bytes` from client to server; returns Gbit/s of verified goodput (wall clock).
pub fn bulk(mtu: usize, bytes: u64) -> Result<f64, String> {
    bulk_with(mtu, bytes, None)
}

/// [`bulk`], with the client optionally flipping one bit of the stream at
/// `corrupt_at` before handing it to smoltcp (to test the checking).
fn bulk_with(mtu: usize, bytes: u64, corrupt_at: Option<u64>) -> Result<f64, String> {
    let (mut net, c, s) = Net::connected(mtu, 5001)?;
    let (mut sent, mut got) = (0u64, 0u64);
    let mut scratch = Vec::new();
    let start = WallClock::now();
    while got < bytes {
        net.step(|me, host| {
            let mut acted = false;
            if me == CLIENT {
                let sock = host.tcp(c);
                while sent < bytes && sock.can_send() {
                    let len = ((bytes - sent) as usize).min(pattern::PERIOD);
                    let mut chunk = pattern::slice_at(sent, len);
                    if let Some(at) = corrupt_at.filter(|&at| (sent..sent + len as u64).contains(&at)) {
                        scratch.clear();
                        scratch.extend_from_slice(chunk);
                        scratch[(at - sent) as usize] ^= 1;
                        chunk = &scratch;
                    }
                    let n = sock.send_slice(chunk).map_err(|e| format!("smoltcp send: {e}"))?;
                    if n == 0 {
                        break;
                    }
                    sent += n as u64;
                    acted = true;
                }
            } else {
                let sock = host.tcp(s);
                while sock.can_recv() {
                    let n = sock
                        .recv(|data| (data.len(), check_stream(got, data).map(|()| data.len())))
                        .map_err(|e| format!("smoltcp recv: {e}"))??;
                    got += n as u64;
                    acted = true;
                }
                if got < bytes && !sock.may_recv() {
                    return Err(format!("smoltcp bulk: stream ended after {got} of {bytes} bytes"));
                }
            }
            Ok(acted)
        })?;
    }
    let secs = start.elapsed().as_secs_f64();
    if got != bytes {
        return Err(format!("smoltcp bulk: received {got} bytes, {bytes} sent"));
    }
    Ok(got as f64 * 8.0 / secs / 1e9)
}

/// Request/response: `rounds` of a 64-byte request and 64-byte response on one connection; returns mean µs per round trip (wall clock).
pub fn rr(mtu: usize, rounds: u32) -> Result<f64, String> {
    const LEN: usize = 64;
    let (mut net, c, s) = Net::connected(mtu, 5002)?;
    let request = |round: u32| pattern::slice_at(u64::from(round) * LEN as u64, LEN);
    let mut buf = [0u8; LEN];
    // Where round `round` is: 0 = client to send, 1 = request in flight,
    // 2 = response in flight.
    let (mut round, mut phase) = (0u32, 0u8);
    let start = WallClock::now();
    while round < rounds {
        net.step(|me, host| {
            let mut acted = false;
            if me == CLIENT {
                let sock = host.tcp(c);
                if phase == 2 && sock.recv_queue() >= LEN {
                    recv_exact(sock, &mut buf)?;
                    check_message("response", round, &buf, request(round))?;
                    round += 1;
                    phase = 0;
                    acted = true;
                }
                if phase == 0 && round < rounds {
                    send_all(sock, request(round))?;
                    phase = 1;
                    acted = true;
                }
            } else {
                let sock = host.tcp(s);
                if phase == 1 && sock.recv_queue() >= LEN {
                    recv_exact(sock, &mut buf)?;
                    check_message("request", round, &buf, request(round))?;
                    send_all(sock, &buf)?;
                    phase = 2;
                    acted = true;
                }
            }
            Ok(acted)
        })?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds))
}

fn recv_exact(sock: &mut tcp::Socket, buf: &mut [u8]) -> Result<(), String> {
    match sock.recv_slice(buf) {
        Ok(n) if n == buf.len() => Ok(()),
        Ok(n) => Err(format!("smoltcp: short read ({n} of {})", buf.len())),
        Err(e) => Err(format!("smoltcp recv: {e}")),
    }
}

fn send_all(sock: &mut tcp::Socket, data: &[u8]) -> Result<(), String> {
    match sock.send_slice(data) {
        Ok(n) if n == data.len() => Ok(()),
        Ok(n) => Err(format!("smoltcp: short send ({n} of {})", data.len())),
        Err(e) => Err(format!("smoltcp send: {e}")),
    }
}

/// Connection set-up rate: `n` times connect + accept + exchange nothing + close (both sides) until both sockets are closed/time-wait-free for reuse; returns connections per second (wall clock).
///
/// The client actively closes; the server closes on seeing its FIN. A
/// connection counts as done when the server's socket is CLOSED (final ACK
/// in) and the client's is in TIME-WAIT. The client reuses one socket:
/// `connect` resets a TIME-WAIT socket, which is safe because each
/// connection uses a fresh local port (49152 upwards, wrapping at 65535),
/// so no old 4-tuple is ever revived. The server keeps a pool of two
/// sockets, as an accept loop would: a smoltcp listener *becomes* the
/// connection, so the moment one is accepted the other starts listening
/// on the port, ready for the next SYN while this connection closes.
pub fn crr(mtu: usize, n: u32) -> Result<f64, String> {
    const PORT: u16 = 5003;
    let mut net = Net::new(mtu)?;
    let c = net.add_tcp(CLIENT);
    let pool = [net.add_tcp(SERVER), net.add_tcp(SERVER)];
    net.hosts[SERVER].tcp(pool[0]).listen(PORT).map_err(|e| format!("smoltcp listen: {e}"))?;
    let remote = (IpAddress::Ipv4(ADDRS[SERVER]), PORT);
    let local_port = |i: u32| EPHEMERAL + (i % u32::from(u16::MAX - EPHEMERAL + 1)) as u16;
    let mut done = 0u32;
    // Client: connecting (and not yet closed) for connection `done`?
    let mut connecting = false;
    // Server: index into `pool` of the listener, and of the accepted
    // connection (if any); whether that connection has closed.
    let (mut listener, mut accepted, mut server_closed) = (0usize, None::<usize>, false);
    let start = WallClock::now();
    while done < n {
        net.step(|me, host| {
            let mut acted = false;
            if me == CLIENT {
                let state = host.tcp(c).state();
                if connecting && state == tcp::State::Established {
                    host.tcp(c).close();
                    connecting = false;
                    acted = true;
                } else if !connecting && server_closed && state == tcp::State::TimeWait {
                    done += 1;
                    server_closed = false;
                    acted = true;
                }
                let idle = matches!(host.tcp(c).state(), tcp::State::Closed | tcp::State::TimeWait);
                if !connecting && !server_closed && accepted.is_none() && idle && done < n {
                    let (sock, cx) = (host.sockets.get_mut::<tcp::Socket>(c), host.iface.context());
                    sock.connect(cx, remote, local_port(done)).map_err(|e| format!("smoltcp connect: {e}"))?;
                    connecting = true;
                    acted = true;
                }
            } else {
                // Accepted once past the handshake; the client's FIN may
                // already have come with its final ACK (then CLOSE-WAIT).
                let state = host.tcp(pool[listener]).state();
                if accepted.is_none() && matches!(state, tcp::State::Established | tcp::State::CloseWait) {
                    let sock = host.tcp(pool[listener]);
                    let peer = sock.remote_endpoint().map(|e| e.port);
                    if peer != Some(local_port(done)) {
                        return Err(format!("smoltcp crr: accepted port {peer:?}, expected {}", local_port(done)));
                    }
                    accepted = Some(listener);
                    listener = 1 - listener;
                    host.tcp(pool[listener]).listen(PORT).map_err(|e| format!("smoltcp listen: {e}"))?;
                    acted = true;
                }
                if let Some(a) = accepted {
                    let sock = host.tcp(pool[a]);
                    if sock.can_recv() {
                        return Err("smoltcp crr: unexpected data".into());
                    }
                    if sock.state() == tcp::State::CloseWait {
                        sock.close();
                        acted = true;
                    } else if sock.state() == tcp::State::Closed {
                        accepted = None;
                        server_closed = true;
                        acted = true;
                    }
                }
            }
            Ok(acted)
        })?;
    }
    Ok(f64::from(n) / start.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_moves_verified_data_at_both_mtus() {
        for mtu in [1500, 65535] {
            assert!(bulk(mtu, 4 << 20).unwrap() > 0.0);
        }
    }

    #[test]
    fn bulk_of_odd_size_and_tiny_mtu() {
        assert!(bulk(576, 100_003).unwrap() > 0.0);
    }

    #[test]
    fn rr_round_trips() {
        for mtu in [1500, 65535] {
            assert!(rr(mtu, 100).unwrap() > 0.0);
        }
    }

    #[test]
    fn crr_connects_and_closes() {
        assert!(crr(1500, 50).unwrap() > 0.0);
    }

    #[test]
    fn corruption_is_caught() {
        let mut data = pattern::slice_at(1000, 5000).to_vec();
        check_stream(1000, &data).unwrap();
        data[1234] ^= 0x80;
        assert!(check_stream(1000, &data).is_err());
        assert!(check_message("response", 7, &data[..64], &data[1..65]).is_err());
        // End to end: a bit flipped before smoltcp carries it is reported.
        let err = bulk_with(1500, 1 << 20, Some(777_777)).unwrap_err();
        assert!(err.contains("777777"), "{err}");
    }

    #[test]
    fn bad_mtu_is_an_error() {
        assert!(bulk(100, 1000).is_err());
    }

    /// The figures `sockstack bench tcp` reports, printed:
    /// `cargo test --release -p sockstack-bench -- --ignored smoltcp_figures --nocapture`.
    #[test]
    #[ignore]
    fn smoltcp_figures() {
        println!("bulk 1500   {:.2} Gbit/s", bulk(1500, 256 << 20).unwrap());
        println!("bulk 65535  {:.2} Gbit/s", bulk(65535, 256 << 20).unwrap());
        println!("rr 1500     {:.2} us", rr(1500, 20000).unwrap());
        println!("crr 1500    {:.0} conn/s", crr(1500, 2000).unwrap());
    }
}
