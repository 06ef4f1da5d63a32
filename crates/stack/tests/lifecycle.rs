//! Nothing leaks: whatever two hosts' applications (or a client and a
//! server on one host, over its loopback) do with TCP sockets
//! (connect to a listener or to a closed port, accept or not, send, read or
//! not, shut down, close, abort, close the listener with connections still
//! queued), and whatever the link does to their segments (loss, a
//! partition), once every handle is closed and the timers have run out,
//! both stacks are back where they started: no socket, no connection, no
//! TIME-WAIT record, no buffer memory, every port free again. And on the
//! way, every octet read is the next one its peer wrote on that
//! connection.

use proptest::prelude::*;
use sockstack_stack::{IfaceId, InterfaceConfig, ProcessId, SocketHandle, Stack, StackConfig};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{Ipv4Addr, Ipv4Cidr};
use std::collections::{BTreeSet, HashMap};
use std::net::{Shutdown, SocketAddrV4};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const P: ProcessId = ProcessId(1);
/// The server's listening port; `CLOSED_PORT` has no listener.
const PORT: u16 = 80;
const CLOSED_PORT: u16 = 81;

#[derive(Debug, Clone)]
enum Op {
    /// A opens a socket and connects, to the listener or to a closed port.
    Connect {
        closed_port: bool,
    },
    /// B accepts a queued connection, if there is one.
    Accept,
    Send {
        at_a: bool,
        i: usize,
        len: usize,
    },
    Recv {
        at_a: bool,
        i: usize,
    },
    ShutdownWrite {
        at_a: bool,
        i: usize,
    },
    Close {
        at_a: bool,
        i: usize,
    },
    /// Linger zero, then close: a RST instead of a FIN.
    Abort {
        at_a: bool,
        i: usize,
    },
    /// B closes its listener (resetting what its accept queue holds), or
    /// opens a new one when it has none.
    ToggleListener,
    /// The link drops everything, or carries again.
    TogglePartition,
    Wait {
        ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let side = (any::<bool>(), 0usize..8);
    prop_oneof![
        4 => prop_oneof![4 => Just(false), 1 => Just(true)].prop_map(|c| Op::Connect { closed_port: c }),
        4 => Just(Op::Accept),
        6 => (side.clone(), 1usize..300_000).prop_map(|((at_a, i), len)| Op::Send { at_a, i, len }),
        4 => side.clone().prop_map(|(at_a, i)| Op::Recv { at_a, i }),
        1 => side.clone().prop_map(|(at_a, i)| Op::ShutdownWrite { at_a, i }),
        2 => side.clone().prop_map(|(at_a, i)| Op::Close { at_a, i }),
        1 => side.prop_map(|(at_a, i)| Op::Abort { at_a, i }),
        1 => Just(Op::ToggleListener),
        1 => Just(Op::TogglePartition),
        3 => prop_oneof![0u64..50, 0u64..5_000].prop_map(|ms| Op::Wait { ms }),
    ]
}

struct World {
    a: Stack,
    b: Stack,
    /// Client and server on one stack (A), over its loopback: B idles.
    loopback: bool,
    /// The server's address: B's, or A's own on loopback.
    server: Ipv4Addr,
    now: Instant,
    /// Per hundred packets, how many the link loses.
    loss: u64,
    partitioned: bool,
    rng: u64,
    /// Open handles: A's streams, B's accepted streams, B's listener.
    a_socks: Vec<SocketHandle>,
    b_socks: Vec<SocketHandle>,
    listener: Option<SocketHandle>,
    /// Every local port A's connections were given.
    a_ports: BTreeSet<u16>,
    /// Octets written and read so far on each connection, each way, keyed
    /// by the connection's port at A.
    written: HashMap<(u16, bool), usize>,
    read: HashMap<(u16, bool), usize>,
    /// Ports given to more than one connection: their octets go unchecked.
    ambiguous: BTreeSet<u16>,
}

/// Octet `i` of what is written from A (`from_a`) or B on the connection
/// with A's port `port`: a different stream on each, so octets delivered
/// on the wrong connection, or out of order, are caught.
fn octet(port: u16, from_a: bool, i: usize) -> u8 {
    let x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (u64::from(port) << 1 | u64::from(from_a));
    (x >> 29) as u8 ^ (x >> 47) as u8
}

fn host(ip: Ipv4Addr, seed: u64) -> Stack {
    let config = StackConfig { seed, tcp_max_syn_backlog: 4, ..StackConfig::default() };
    let mut s = Stack::new(config);
    s.add_interface(InterfaceConfig::new("eth0", Ipv4Cidr::new(ip, 24).expect("valid")));
    s
}

impl World {
    /// The stack of the client side (`at_a`) or of the server side.
    fn side(&mut self, at_a: bool) -> &mut Stack {
        if at_a || self.loopback {
            &mut self.a
        } else {
            &mut self.b
        }
    }

    fn side_ref(&self, at_a: bool) -> &Stack {
        if at_a || self.loopback {
            &self.a
        } else {
            &self.b
        }
    }

    fn lost(&mut self) -> bool {
        // xorshift64*: the loss pattern is part of the case.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.partitioned || self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) % 100 < self.loss
    }

    /// Runs due timers and carries packets both ways until nothing moves.
    fn settle(&mut self) {
        if self.loopback {
            // Loopback traffic is handled within `poll`: poll until
            // nothing is due.
            for _ in 0..10_000 {
                self.a.poll(self.now);
                assert!(self.a.dispatch().is_none(), "nothing leaves by the link");
                if self.a.poll_at().is_none_or(|t| t > self.now) {
                    return;
                }
            }
            panic!("loopback still busy after 10,000 polls at {}", self.now);
        }
        for _ in 0..10_000 {
            let now = self.now;
            self.a.poll(now);
            self.b.poll(now);
            let mut moved = false;
            while let Some(p) = self.a.dispatch() {
                moved = true;
                if !self.lost() {
                    self.b.receive(now, IfaceId(0), &p.data);
                }
            }
            while let Some(p) = self.b.dispatch() {
                moved = true;
                if !self.lost() {
                    self.a.receive(now, IfaceId(0), &p.data);
                }
            }
            if !moved {
                // Settled: nothing is due before a later instant (a
                // driver would spin otherwise).
                for s in [&self.a, &self.b] {
                    if let Some(t) = s.poll_at() {
                        assert!(t > now, "settled at {now}, yet due at {t}");
                    }
                }
                return;
            }
        }
        panic!("packets still moving after 10,000 rounds at {}", self.now);
    }

    /// Lets `d` of time pass, timers running as they come due.
    fn wait(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.settle();
            let next = [self.a.poll_at(), self.b.poll_at()].into_iter().flatten().min();
            match next {
                Some(t) if t <= end => self.now = self.now.max(t).max(self.now + Duration::from_micros(1)),
                _ => break,
            }
        }
        self.now = self.now.max(end);
        self.settle();
    }

    fn pick(&self, at_a: bool, i: usize) -> Option<SocketHandle> {
        let v = if at_a { &self.a_socks } else { &self.b_socks };
        (!v.is_empty()).then(|| v[i % v.len()])
    }

    /// The connection's port at A: A's own, or the peer's for B.
    fn a_port(&self, at_a: bool, h: SocketHandle) -> Option<u16> {
        if at_a {
            self.a.local_addr(h).ok().map(|a| a.port())
        } else {
            self.side_ref(false).peer_addr(h).ok().map(|a| a.port())
        }
    }

    fn forget(&mut self, at_a: bool, h: SocketHandle) {
        let v = if at_a { &mut self.a_socks } else { &mut self.b_socks };
        v.retain(|&x| x != h);
    }

    fn listen(&mut self) {
        let server = self.server;
        let b = self.side(false);
        let l = b.tcp_open(P);
        // As servers do: connections the last listener accepted may still
        // hold the port (Linux's rule too).
        b.tcp_set_reuse_address(l, true).expect("SO_REUSEADDR");
        b.bind(l, SocketAddrV4::new(server, PORT)).expect("the listening port is free");
        b.tcp_listen(l, 3).expect("listen");
        self.listener = Some(l);
    }

    fn apply(&mut self, op: &Op) {
        let now = self.now;
        match *op {
            Op::Connect { closed_port } => {
                let c = self.a.tcp_open(P);
                let port = if closed_port { CLOSED_PORT } else { PORT };
                self.a.tcp_connect(now, c, SocketAddrV4::new(self.server, port)).expect("connect starts");
                let port = self.a.local_addr(c).expect("bound").port();
                // A port may serve several connections whose peers differ
                // (RFC 6056), or one 4-tuple again once it is free: then
                // which connection an octet belongs to is not known here.
                if !self.a_ports.insert(port) {
                    self.ambiguous.insert(port);
                }
                self.a_socks.push(c);
            }
            Op::Accept => {
                if let Some(l) = self.listener {
                    if let Ok((s, _)) = self.side(false).tcp_accept(l) {
                        self.b_socks.push(s);
                    }
                }
            }
            Op::Send { at_a, i, len } => {
                if let Some((h, port)) = self.pick(at_a, i).and_then(|h| Some((h, self.a_port(at_a, h)?))) {
                    let from = *self.written.get(&(port, at_a)).unwrap_or(&0);
                    let data: Vec<u8> = (from..from + len).map(|i| octet(port, at_a, i)).collect();
                    let s = self.side(at_a);
                    // Refused (not connected, shut down, reset) or partial: both fine.
                    if let Ok(n) = s.tcp_send(now, h, &data) {
                        *self.written.entry((port, at_a)).or_default() += n;
                    }
                }
            }
            Op::Recv { at_a, i } => {
                if let Some((h, port)) = self.pick(at_a, i).and_then(|h| Some((h, self.a_port(at_a, h)?))) {
                    // The fields apart (not `side`): the tallies are used too.
                    let s = if at_a || self.loopback { &mut self.a } else { &mut self.b };
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = s.tcp_recv(h, &mut buf) {
                        if self.ambiguous.contains(&port) {
                            continue;
                        }
                        // What this end reads, the other end wrote.
                        let from = self.read.entry((port, !at_a)).or_default();
                        let written = *self.written.get(&(port, !at_a)).unwrap_or(&0);
                        assert!(*from + n <= written, "read {} octets, {written} written", *from + n);
                        for (k, &b) in buf[..n].iter().enumerate() {
                            assert_eq!(b, octet(port, !at_a, *from + k), "octet {} on port {port}", *from + k);
                        }
                        *from += n;
                    }
                }
            }
            Op::ShutdownWrite { at_a, i } => {
                if let Some(h) = self.pick(at_a, i) {
                    let s = self.side(at_a);
                    let _ = s.tcp_shutdown(now, h, Shutdown::Write);
                }
            }
            Op::Close { at_a, i } | Op::Abort { at_a, i } => {
                if let Some(h) = self.pick(at_a, i) {
                    let s = self.side(at_a);
                    if matches!(op, Op::Abort { .. }) {
                        s.tcp_set_linger(h, Some(Duration::ZERO)).expect("a stream takes SO_LINGER");
                    }
                    s.close(h).expect("an open handle closes");
                    self.forget(at_a, h);
                }
            }
            Op::ToggleListener => match self.listener.take() {
                Some(l) => self.side(false).close(l).expect("the listener closes"),
                None => self.listen(),
            },
            Op::TogglePartition => self.partitioned = !self.partitioned,
            Op::Wait { ms } => self.wait(Duration::from_millis(ms)),
        }
        self.settle();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_socket_connection_and_port_is_released(
        loss in prop_oneof![Just(0u64), 1u64..20],
        seed in any::<u64>(),
        loopback in prop::bool::weighted(0.25),
        ops in prop::collection::vec(op(), 1..100),
    ) {
        let mut w = World {
            a: host(A, seed),
            b: host(B, !seed),
            loopback,
            server: if loopback { A } else { B },
            now: Instant::from_secs(1),
            loss,
            partitioned: false,
            rng: seed | 1,
            a_socks: Vec::new(),
            b_socks: Vec::new(),
            listener: None,
            a_ports: BTreeSet::new(),
            written: HashMap::new(),
            read: HashMap::new(),
            ambiguous: BTreeSet::new(),
        };
        w.listen();
        for op in &ops {
            w.apply(op);
        }
        // Every application lets go; the link heals.
        w.partitioned = false;
        for h in std::mem::take(&mut w.a_socks) {
            w.a.close(h).expect("close");
        }
        for h in std::mem::take(&mut w.b_socks) {
            w.side(false).close(h).expect("close");
        }
        if let Some(l) = w.listener.take() {
            w.side(false).close(l).expect("close");
        }
        // Long enough for every retransmission to give up, every
        // FIN-WAIT-2 and TIME-WAIT to end.
        w.wait(Duration::from_secs(4 * 3600));
        for (name, s) in [("A", &w.a), ("B", &w.b)] {
            prop_assert_eq!(s.socket_count(), 0, "{} keeps sockets", name);
            prop_assert_eq!(s.tcp_connection_count(), 0, "{} keeps connections", name);
            prop_assert_eq!(s.tcp_time_wait_count(), 0, "{} keeps TIME-WAIT records", name);
            prop_assert_eq!(s.tcp_memory_used(), 0, "{} keeps buffer memory", name);
            prop_assert_eq!(s.poll_at(), None, "{} keeps a timer", name);
        }
        // Every port is free again, without SO_REUSEADDR.
        let server = w.server;
        let b = w.side(false);
        let l = b.tcp_open(P);
        prop_assert!(b.bind(l, SocketAddrV4::new(server, PORT)).is_ok(), "the listening port is still taken");
        for port in &w.a_ports {
            let h = w.a.tcp_open(P);
            prop_assert!(w.a.bind(h, SocketAddrV4::new(A, *port)).is_ok(), "A's port {} is still taken", port);
        }
    }
}
