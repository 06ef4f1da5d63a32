//! The whole host stack under datagrams the fuzzer shapes: two hosts with
//! a listener, an established connection and UDP sockets exchange their
//! real traffic, while the input injects copies of that traffic with
//! fields changed (sequence and acknowledgment numbers, flags, window,
//! options, payload, ports, addresses, fragment fields), checksums made
//! right again (mostly) so that they reach TCP's state machine, ICMP
//! errors quoting real datagrams, the application's calls, and time
//! passing. Whatever comes, no panic (debug assertions are on in fuzz
//! builds), and the stacks keep exchanging.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockstack_stack::{IfaceId, InterfaceConfig, ProcessId, SocketHandle, Stack, StackConfig};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{checksum, Ipv4Addr, Ipv4Cidr};
use std::net::{Shutdown, SocketAddrV4};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const P: ProcessId = ProcessId(1);
const PORT: u16 = 80;
const UDP_PORT: u16 = 53;
/// Datagrams one exchange moves at most (a guard against a loop the
/// stacks keep going, which would itself be a finding: it shows as a
/// timeout).
const MOST: usize = 2000;

/// The input, read from the front; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        taken.to_vec()
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

struct World {
    a: Stack,
    b: Stack,
    now: Instant,
    listener: SocketHandle,
    client: SocketHandle,
    server: Option<SocketHandle>,
    udp_a: SocketHandle,
    udp_b: SocketHandle,
    /// The last datagrams each host sent, templates for what is injected.
    last_a: Vec<Vec<u8>>,
    last_b: Vec<Vec<u8>>,
}

fn host(ip: Ipv4Addr, seed: u64, syn_backlog: usize) -> Stack {
    let mut s = Stack::new(StackConfig { seed, tcp_max_syn_backlog: syn_backlog, ..StackConfig::default() });
    s.add_interface(InterfaceConfig::new("eth0", Ipv4Cidr::new(ip, 24).expect("valid")));
    s
}

impl World {
    fn new(syn_backlog: usize) -> World {
        let mut a = host(A, 1, 256);
        let mut b = host(B, 2, syn_backlog);
        let listener = b.tcp_open(P);
        b.bind(listener, SocketAddrV4::new(B, PORT)).expect("bind");
        b.tcp_listen(listener, 4).expect("listen");
        let udp_a = a.udp_open(P);
        a.bind(udp_a, SocketAddrV4::new(A, UDP_PORT)).expect("bind");
        let udp_b = b.udp_open(P);
        b.bind(udp_b, SocketAddrV4::new(B, UDP_PORT)).expect("bind");
        let client = a.tcp_open(P);
        let now = Instant::from_secs(1);
        let mut w =
            World { a, b, now, listener, client, server: None, udp_a, udp_b, last_a: Vec::new(), last_b: Vec::new() };
        let _ = w.a.tcp_connect(now, client, SocketAddrV4::new(B, PORT));
        w.settle();
        w.server = w.b.tcp_accept(listener).ok().map(|(s, _)| s);
        w
    }

    /// What `from` has to send, handed to the other host; true if anything
    /// moved.
    fn carry(&mut self, a_to_b: bool) -> bool {
        let now = self.now;
        let (from, to, last) = if a_to_b {
            (&mut self.a, &mut self.b, &mut self.last_a)
        } else {
            (&mut self.b, &mut self.a, &mut self.last_b)
        };
        if from.poll_at().is_some_and(|t| t <= now) {
            from.poll(now);
        }
        let mut moved = 0;
        while let Some(p) = from.dispatch() {
            to.receive(now, IfaceId(0), &p.data);
            if last.len() == 8 {
                last.remove(0);
            }
            last.push(p.data.clone());
            from.recycle(p.data);
            moved += 1;
            if moved == MOST {
                break;
            }
        }
        moved > 0
    }

    fn settle(&mut self) {
        for _ in 0..64 {
            let forth = self.carry(true);
            let back = self.carry(false);
            if !forth && !back {
                return;
            }
        }
    }

    /// Time passes: both hosts run what fell due.
    fn wait(&mut self, d: Duration) {
        self.now += d;
        self.settle();
    }
}

/// Sets the IPv4 header checksum of `d` (a 20-octet header).
fn fix_ip(d: &mut [u8]) {
    d[10] = 0;
    d[11] = 0;
    let sum = !checksum::data(&d[..20]);
    d[10..12].copy_from_slice(&sum.to_be_bytes());
}

/// Sets the transport checksum (TCP or UDP) of the datagram in `d`.
fn fix_transport(d: &mut [u8]) {
    let (proto, at) = match d[9] {
        6 => (6u8, 16),
        17 => (17u8, 6),
        1 => {
            // ICMP: no pseudo-header.
            if d.len() >= 24 {
                d[22] = 0;
                d[23] = 0;
                let sum = !checksum::data(&d[20..]);
                d[22..24].copy_from_slice(&sum.to_be_bytes());
            }
            return;
        }
        _ => return,
    };
    if d.len() < 20 + at + 2 {
        return;
    }
    d[20 + at] = 0;
    d[20 + at + 1] = 0;
    let src = Ipv4Addr::new(d[12], d[13], d[14], d[15]);
    let dst = Ipv4Addr::new(d[16], d[17], d[18], d[19]);
    let pseudo = checksum::pseudo_header(&src, &dst, proto, (d.len() - 20) as u32);
    let sum = !checksum::combine(&[pseudo, checksum::data(&d[20..])]);
    d[20 + at..20 + at + 2].copy_from_slice(&sum.to_be_bytes());
}

fn add32(d: &mut [u8], at: usize, delta: u32) {
    let v = u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]]).wrapping_add(delta);
    d[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// A copy of one of `templates` with fields changed as `input` says.
fn mutate(templates: &[Vec<u8>], input: &mut Input<'_>) -> Option<Vec<u8>> {
    let pick = usize::from(input.u8());
    let mut d = templates.get(pick % templates.len().max(1))?.clone();
    if d.len() < 40 || d[0] != 0x45 {
        return None;
    }
    let tcp = d[9] == 6;
    for _ in 0..1 + input.u8() % 4 {
        match input.u8() % 14 {
            0 if tcp => add32(&mut d, 24, input.u32()),
            // Small steps around the acknowledgment number matter most.
            1 if tcp => add32(&mut d, 28, u32::from(input.u8()).wrapping_sub(128)),
            2 if tcp => add32(&mut d, 28, input.u32()),
            3 if tcp => d[33] = input.u8(),
            4 if tcp => {
                let w = input.u16();
                d[34..36].copy_from_slice(&w.to_be_bytes());
            }
            5 if tcp => d[32] = (d[32] & 0x0f) | (input.u8() << 4),
            6 => {
                // An option (or header) octet.
                let at = 20 + usize::from(input.u8()) % (d.len() - 20);
                d[at] = input.u8();
            }
            7 => {
                let keep = 40 + usize::from(input.u16()) % (d.len() - 39);
                d.truncate(keep);
            }
            8 => {
                let n = usize::from(input.u8());
                let more = input.bytes(n);
                d.extend_from_slice(&more);
            }
            9 => {
                // Ports: the listener's, the other end's, or any.
                let at = 20 + 2 * usize::from(input.u8() & 1);
                let port = match input.u8() % 3 {
                    0 => PORT,
                    1 => input.u16(),
                    _ => UDP_PORT,
                };
                d[at..at + 2].copy_from_slice(&port.to_be_bytes());
            }
            10 => {
                // Fragment fields: MF, DF, offset.
                let f = input.u16();
                d[6..8].copy_from_slice(&f.to_be_bytes());
            }
            11 => d[8] = input.u8(),                                           // TTL
            12 => d[15] = input.u8(),                                          // another source host on the network
            _ if tcp => d[36..38].copy_from_slice(&input.u16().to_be_bytes()), // urgent pointer
            _ => d[1] = input.u8(),
        }
    }
    let len = d.len().min(65535) as u16;
    d.truncate(usize::from(len));
    d[2..4].copy_from_slice(&len.to_be_bytes());
    // Mostly right checksums: the state machine is the target; now and
    // then a wrong one, which must be dropped.
    if input.u8() % 16 != 0 {
        fix_transport(&mut d);
    }
    fix_ip(&mut d);
    Some(d)
}

/// An ICMP error from a router to the host that sent `quoted`: frag-needed
/// with an MTU, or another unreachable, quoting its header and 8 octets.
fn icmp_error(quoted: &[u8], input: &mut Input<'_>) -> Option<Vec<u8>> {
    if quoted.len() < 28 {
        return None;
    }
    let (kind, code) = match input.u8() % 4 {
        0 => (3u8, 4u8),
        1 => (3, 3),
        2 => (3, 1),
        _ => (11, 0),
    };
    let mtu = input.u16();
    let mut d = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 198, 51, 100, 1];
    d.extend_from_slice(&quoted[12..16]); // back to the quoted datagram's source
    d.extend_from_slice(&[kind, code, 0, 0, 0, 0]);
    d.extend_from_slice(&mtu.to_be_bytes());
    d.extend_from_slice(&quoted[..28]);
    let len = d.len() as u16;
    d[2..4].copy_from_slice(&len.to_be_bytes());
    fix_transport(&mut d);
    fix_ip(&mut d);
    Some(d)
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    // A full SYN queue answers with SYN cookies: now and then, from the
    // start.
    let backlog = if input.u8() % 4 == 0 { 0 } else { 256 };
    let mut w = World::new(backlog);
    let mut buf = vec![0u8; 70_000];
    let mut steps = 0;
    while !input.done() && steps < 256 {
        steps += 1;
        match input.u8() % 16 {
            // Injected into B, from what A sent (or into A, from B's).
            0..=4 => {
                if let Some(d) = mutate(&w.last_a, &mut input) {
                    w.b.receive(w.now, IfaceId(0), &d);
                }
                w.settle();
            }
            5 | 6 => {
                if let Some(d) = mutate(&w.last_b, &mut input) {
                    w.a.receive(w.now, IfaceId(0), &d);
                }
                w.settle();
            }
            7 => {
                let to_a = input.u8() & 1 == 0;
                let quoted = if to_a { w.last_a.last() } else { w.last_b.last() }.cloned();
                if let Some(d) = quoted.and_then(|q| icmp_error(&q, &mut input)) {
                    let host = if to_a { &mut w.a } else { &mut w.b };
                    host.receive(w.now, IfaceId(0), &d);
                }
                w.settle();
            }
            8 => {
                let n = usize::from(input.u16()) % 70_000;
                let _ = w.a.tcp_send(w.now, w.client, &buf[..n]);
                w.settle();
            }
            9 => {
                if let Some(s) = w.server {
                    let n = usize::from(input.u16()) % 70_000;
                    let _ = w.b.tcp_send(w.now, s, &buf[..n]);
                }
                w.settle();
            }
            10 => {
                let _ = w.a.tcp_recv(w.client, &mut buf);
                if let Some(s) = w.server {
                    let _ = w.b.tcp_recv(s, &mut buf);
                }
                if let Ok((s, _)) = w.b.tcp_accept(w.listener) {
                    w.server = Some(s);
                }
                w.settle();
            }
            11 => {
                let how = match input.u8() % 3 {
                    0 => Shutdown::Read,
                    1 => Shutdown::Write,
                    _ => Shutdown::Both,
                };
                let on_a = input.u8() & 1 == 0;
                match (on_a, w.server) {
                    (true, _) => drop(w.a.tcp_shutdown(w.now, w.client, how)),
                    (false, Some(s)) => drop(w.b.tcp_shutdown(w.now, s, how)),
                    _ => {}
                }
                w.settle();
            }
            12 => {
                // Close an end; A opens a fresh connection in its place.
                if input.u8() & 1 == 0 {
                    let _ = w.a.close(w.client);
                    w.client = w.a.tcp_open(P);
                    let _ = w.a.tcp_connect(w.now, w.client, SocketAddrV4::new(B, PORT));
                } else if let Some(s) = w.server.take() {
                    let _ = w.b.close(s);
                }
                w.settle();
            }
            13 => {
                let n = usize::from(input.u16()) % 9000;
                let _ = w.a.send_to(w.now, w.udp_a, &buf[..n], SocketAddrV4::new(B, UDP_PORT));
                w.settle();
                let _ = w.b.recv_from(w.udp_b, &mut buf);
            }
            _ => {
                let ms = if input.u8() & 1 == 0 { u64::from(input.u8()) } else { u64::from(input.u16()) * 10 };
                w.wait(Duration::from_millis(ms));
            }
        }
    }
    // Whatever happened, time still runs out the timers without a panic.
    for _ in 0..8 {
        w.wait(Duration::from_secs(30));
    }
});
