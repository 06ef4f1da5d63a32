//! Initial sequence numbers as the stack chooses them (RFC 6528 §3):
//! ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a
//! timer ticking every 4 µs, F a keyed hash. Read off the SYNs and
//! SYN-ACKs the stack sends, so a stack that wired in a constant, a clock
//! alone or one key for every host fails here.

use sockstack_stack::{IfaceId, InterfaceConfig, ProcessId, SocketHandle, Stack, StackConfig};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{ChecksumMode, Ipv4Addr, Ipv4Cidr, Ipv4Packet, SeqNumber, TcpPacket, TcpRepr};
use std::net::SocketAddrV4;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const P: ProcessId = ProcessId(1);

fn host(ip: Ipv4Addr, seed: u64) -> Stack {
    let mut s = Stack::new(StackConfig { seed, ..StackConfig::default() });
    s.add_interface(InterfaceConfig::new("eth0", Ipv4Cidr::new(ip, 24).unwrap()));
    s
}

/// A TCP segment a stack sent: what the tests read of it, and the datagram.
struct Sent {
    src_port: u16,
    syn: bool,
    ack: bool,
    seq: SeqNumber,
    datagram: Vec<u8>,
}

/// The TCP segments `s` sends at `now`.
fn sent(s: &mut Stack, now: Instant) -> Vec<Sent> {
    s.poll(now);
    let mut out = Vec::new();
    while let Some(p) = s.dispatch() {
        let ip = Ipv4Packet::new_checked(&p.data[..]).unwrap();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        let r = TcpRepr::parse(&tcp, &ip.src_addr(), &ip.dst_addr(), ChecksumMode::Verify).unwrap();
        let (src_port, syn, ack, seq) = (r.src_port, r.syn, r.ack_number.is_some(), r.seq_number);
        out.push(Sent { src_port, syn, ack, seq, datagram: p.data.clone() });
    }
    out
}

/// Connects from `A:port` to `B:dport` at `now`: the socket and the ISS
/// its SYN carries (the SYN goes nowhere).
fn syn_iss(a: &mut Stack, now: Instant, port: u16, dport: u16) -> (SocketHandle, SeqNumber) {
    let c = a.tcp_open(P);
    a.bind(c, SocketAddrV4::new(A, port)).unwrap();
    a.tcp_connect(now, c, SocketAddrV4::new(B, dport)).unwrap();
    let segs = sent(a, now);
    assert_eq!(segs.len(), 1, "one SYN");
    let syn = &segs[0];
    assert!(syn.syn && !syn.ack && syn.src_port == port);
    (c, syn.seq)
}

/// Closes `c`, still in SYN-SENT: nothing is sent, the stack forgets it
/// (RFC 9293 §3.10.4) and its port is free again.
fn close(a: &mut Stack, now: Instant, c: SocketHandle) {
    a.close(c).unwrap();
    assert!(sent(a, now).is_empty());
}

#[test]
fn iss_differs_per_4_tuple_and_advances_with_a_4_us_clock() {
    let mut a = host(A, 1);
    let t0 = Instant::from_secs(10);
    // Three 4-tuples opened at the same instant: M is the same for all,
    // so only F, keyed by the 4-tuple, can tell them apart.
    let (c, iss1) = syn_iss(&mut a, t0, 40001, 80);
    close(&mut a, t0, c);
    let (c, iss2) = syn_iss(&mut a, t0, 40002, 80);
    close(&mut a, t0, c);
    let (c, iss3) = syn_iss(&mut a, t0, 40001, 443);
    close(&mut a, t0, c);
    assert!(iss1 != iss2 && iss1 != iss3 && iss2 != iss3, "{iss1:?} {iss2:?} {iss3:?}");
    // The first 4-tuple again, later: same F, so the ISS moved by M
    // alone, one per 4 µs. (Successive incarnations of a 4-tuple get
    // increasing ISNs, RFC 6528 §3, whatever F is.)
    let t1 = t0 + Duration::from_secs(1);
    let (c, again) = syn_iss(&mut a, t1, 40001, 80);
    assert_eq!(again.0.wrapping_sub(iss1.0), 1_000_000 / 4, "1 s later: {iss1:?} then {again:?}");
    close(&mut a, t1, c);
    let t2 = t1 + Duration::from_millis(4);
    let (_, later) = syn_iss(&mut a, t2, 40001, 80);
    assert_eq!(later.0.wrapping_sub(again.0), 4_000 / 4, "4 ms later: {again:?} then {later:?}");

    // The key is the host's own: another stack (another seed, as two
    // machines have different secrets) picks another ISS for the same
    // 4-tuple at the same instant.
    let mut other = host(A, 2);
    let (_, theirs) = syn_iss(&mut other, t0, 40001, 80);
    assert_ne!(theirs, iss1, "two hosts share F");
}

#[test]
fn a_listener_picks_a_different_iss_for_each_client() {
    let (mut a, mut b) = (host(A, 1), host(B, 3));
    let l = b.tcp_open(P);
    b.bind(l, SocketAddrV4::new(B, 80)).unwrap();
    b.tcp_listen(l, 8).unwrap();
    let now = Instant::from_secs(10);
    // Two clients' SYNs reach the listener at the same instant; its
    // SYN-ACKs carry the ISS it chose for each (RFC 9293 §3.10.7.2).
    let mut syns = Vec::new();
    for port in [40001, 40002] {
        let c = a.tcp_open(P);
        a.bind(c, SocketAddrV4::new(A, port)).unwrap();
        a.tcp_connect(now, c, SocketAddrV4::new(B, 80)).unwrap();
        syns.extend(sent(&mut a, now));
    }
    for syn in &syns {
        b.receive(now, IfaceId(0), &syn.datagram);
    }
    let synacks: Vec<SeqNumber> = sent(&mut b, now).into_iter().filter(|s| s.syn && s.ack).map(|s| s.seq).collect();
    assert_eq!(synacks.len(), 2, "a SYN-ACK per client");
    assert_ne!(synacks[0], synacks[1], "the same ISS for two 4-tuples");
}
