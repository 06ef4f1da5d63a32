//! TIME-WAIT in the host stack: a connection its application closed
//! leaves the socket table for a compact record that keeps the 4-tuple and
//! the port for 2·MSL, answers what arrives for it as the connection
//! would, and goes when 2·MSL is over, a RST ends it, or a newer SYN
//! reopens the 4-tuple.

use sockstack_stack::{IfaceId, InterfaceConfig, ProcessId, SocketHandle, Stack, StackConfig};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{
    emit_tcp_datagram, tcp_ipv4_header, ChecksumMode, Ipv4Addr, Ipv4Cidr, Ipv4Packet, SeqNumber, TcpPacket, TcpRepr,
};
use std::io::ErrorKind;
use std::net::SocketAddrV4;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const P: ProcessId = ProcessId(1);
const MSL2: Duration = Duration::from_secs(60);

fn host(ip: Ipv4Addr, config: StackConfig) -> Stack {
    let mut s = Stack::new(config);
    s.add_interface(InterfaceConfig::new("eth0", Ipv4Cidr::new(ip, 24).unwrap()));
    s
}

/// The TCP segments of the datagrams `from` sends, each handed to `to`
/// unless `keep` says no; returns them (sequence number, flags).
fn carry(now: Instant, from: &mut Stack, to: &mut Stack, mut keep: impl FnMut(&TcpRepr<'_>) -> bool) -> Vec<Seen> {
    let mut seen = Vec::new();
    from.poll(now);
    while let Some(p) = from.dispatch() {
        let ip = Ipv4Packet::new_checked(&p.data[..]).unwrap();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        let r = TcpRepr::parse(&tcp, &ip.src_addr(), &ip.dst_addr(), ChecksumMode::Verify).unwrap();
        seen.push(Seen { seq: r.seq_number, ack: r.ack_number, fin: r.fin, rst: r.rst, syn: r.syn });
        if keep(&r) {
            to.receive(now, IfaceId(0), &p.data);
        }
    }
    seen
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    seq: SeqNumber,
    ack: Option<SeqNumber>,
    fin: bool,
    rst: bool,
    syn: bool,
}

/// Both ways until quiet.
fn settle(now: Instant, a: &mut Stack, b: &mut Stack) {
    while !(carry(now, a, b, |_| true).is_empty() & carry(now, b, a, |_| true).is_empty()) {}
}

/// Opens a connection from `a` to `b`'s listener `l` (from `from`, or an
/// ephemeral port), carries a byte each way: (client, server).
fn open(
    now: Instant,
    a: &mut Stack,
    b: &mut Stack,
    l: SocketHandle,
    from: Option<u16>,
) -> (SocketHandle, SocketHandle) {
    let c = a.tcp_open(P);
    if let Some(port) = from {
        a.bind(c, SocketAddrV4::new(A, port)).unwrap();
    }
    a.tcp_connect(now, c, SocketAddrV4::new(B, 80)).unwrap();
    settle(now, a, b);
    let (s, _) = b.tcp_accept(l).unwrap();
    a.tcp_send(now, c, b"q").unwrap();
    settle(now, a, b);
    b.tcp_send(now, s, b"r").unwrap();
    settle(now, a, b);
    let mut one = [0u8; 1];
    assert_eq!(b.tcp_recv(s, &mut one).unwrap(), 1);
    assert_eq!(a.tcp_recv(c, &mut one).unwrap(), 1);
    (c, s)
}

/// `a` closes first (its end goes to TIME-WAIT), then `b`; `drop_last_ack`
/// loses `a`'s ACK of `b`'s FIN. Returns `b`'s FIN.
fn close(
    now: Instant,
    a: &mut Stack,
    b: &mut Stack,
    (c, s): (SocketHandle, SocketHandle),
    drop_last_ack: bool,
) -> Seen {
    a.close(c).unwrap();
    settle(now, a, b);
    let mut one = [0u8; 1];
    assert_eq!(b.tcp_recv(s, &mut one).unwrap(), 0);
    b.close(s).unwrap();
    let fin = carry(now, b, a, |_| true).into_iter().find(|x| x.fin).expect("b's FIN");
    carry(now, a, b, |_| !drop_last_ack);
    fin
}

fn pair() -> (Stack, Stack, SocketHandle) {
    let a = host(A, StackConfig { ephemeral_ports: (40000, 40009), ..StackConfig::default() });
    let mut b = host(B, StackConfig::default());
    let l = b.tcp_open(P);
    b.bind(l, SocketAddrV4::new(B, 80)).unwrap();
    b.tcp_listen(l, 64).unwrap();
    (a, b, l)
}

#[test]
fn closed_connections_become_records_that_hold_their_tuples_for_2msl() {
    let (mut a, mut b, l) = pair();
    let now = Instant::from_secs(1);
    for _ in 0..10 {
        let conn = open(now, &mut a, &mut b, l, None);
        close(now, &mut a, &mut b, conn, false);
    }
    // No socket left on A, ten records: each holds its 4-tuple, so all ten
    // ephemeral ports to B:80 are taken.
    assert_eq!(a.socket_count(), 0);
    assert_eq!(a.tcp_time_wait_count(), 10);
    assert_eq!(a.tcp_connection_count(), 10);
    let c = a.tcp_open(P);
    assert_eq!(a.tcp_connect(now, c, SocketAddrV4::new(B, 80)).unwrap_err().kind(), ErrorKind::AddrNotAvailable);
    // A bind to a port a record holds: refused, unless SO_REUSEADDR.
    assert_eq!(a.bind(c, SocketAddrV4::new(A, 40003)).unwrap_err().kind(), ErrorKind::AddrInUse);
    a.tcp_set_reuse_address(c, true).unwrap();
    a.bind(c, SocketAddrV4::new(A, 40003)).unwrap();
    // ... and then connecting on the 4-tuple a record holds is refused.
    // (EADDRNOTAVAIL, as Linux says it.)
    assert_eq!(a.tcp_connect(now, c, SocketAddrV4::new(B, 80)).unwrap_err().kind(), ErrorKind::AddrNotAvailable);
    a.close(c).unwrap();
    // Just before 2·MSL: all there. After: all gone, ports free again.
    a.poll(now + MSL2 - Duration::from_millis(1));
    assert_eq!(a.tcp_time_wait_count(), 10);
    assert!(a.poll_at().is_some_and(|t| t <= now + MSL2));
    a.poll(now + MSL2);
    assert_eq!(a.tcp_time_wait_count(), 0);
    assert_eq!(a.tcp_connection_count(), 0);
    assert_eq!(a.poll_at(), None, "nothing left to wake for");
    let later = now + MSL2;
    let conn = open(later, &mut a, &mut b, l, None);
    close(later, &mut a, &mut b, conn, false);
    assert_eq!(a.tcp_time_wait_count(), 1);
}

#[test]
fn a_record_acks_a_retransmitted_fin_and_restarts_2msl() {
    let (mut a, mut b, l) = pair();
    let now = Instant::from_secs(1);
    let conn = open(now, &mut a, &mut b, l, None);
    close(now, &mut a, &mut b, conn, true);
    assert_eq!(a.tcp_time_wait_count(), 1);
    assert_eq!(b.tcp_connection_count(), 1, "B in LAST-ACK: its FIN's ACK was lost");
    // B retransmits its FIN on its RTO; the record answers with the ACK.
    let rto = b.poll_at().expect("B's retransmission timer");
    assert!(rto < now + Duration::from_secs(5));
    let fin = carry(rto, &mut b, &mut a, |_| true);
    assert!(fin.iter().any(|x| x.fin), "{fin:?}");
    let ack = carry(rto, &mut a, &mut b, |_| true);
    assert_eq!(ack.len(), 1);
    assert_eq!(ack[0].ack, Some(fin[0].seq + 1));
    settle(rto, &mut a, &mut b);
    assert_eq!(b.tcp_connection_count(), 0, "B closed");
    // 2·MSL runs from the retransmitted FIN.
    a.poll(now + MSL2);
    assert_eq!(a.tcp_time_wait_count(), 1);
    a.poll(rto + MSL2);
    assert_eq!(a.tcp_time_wait_count(), 0);
}

/// A datagram from B:80 to `to`, carrying `seg`.
fn from_b(to: SocketAddrV4, seg: TcpRepr<'_>) -> Vec<u8> {
    let seg = TcpRepr { src_port: 80, dst_port: to.port(), ..seg };
    let mut buf = vec![0u8; 20 + seg.buffer_len()];
    let ip = tcp_ipv4_header(B, *to.ip(), 64, 1, seg.buffer_len(), true);
    emit_tcp_datagram(&mut buf, &ip, &seg, ChecksumMode::Verify);
    buf
}

/// Stacks `a` and `b` after a connection from `a`'s port `port` to `b`
/// closed at `now`, `a` first: `a` holds its record. Also the client's
/// address and `b`'s FIN.
fn with_record(now: Instant, port: u16) -> (Stack, Stack, SocketAddrV4, Seen) {
    let (mut a, mut b, l) = pair();
    let conn = open(now, &mut a, &mut b, l, Some(port));
    let fin = close(now, &mut a, &mut b, conn, false);
    assert_eq!(a.tcp_time_wait_count(), 1);
    (a, b, SocketAddrV4::new(A, port), fin)
}

#[test]
fn a_rst_ends_a_record_and_a_newer_syn_reopens_its_tuple() {
    let now = Instant::from_secs(1);
    let (mut a, mut b, client, fin) = with_record(now, 40005);
    let rcv_nxt = fin.seq + 1;
    // An old SYN (no timestamp, sequence number not past RCV.NXT) is only
    // challenged: the record stays.
    let syn = TcpRepr { seq_number: rcv_nxt - 10, syn: true, window_len: 1000, ..TcpRepr::default() };
    a.receive(now, IfaceId(0), &from_b(client, syn));
    let answer = carry(now, &mut a, &mut b, |_| false);
    assert!(matches!(answer[..], [Seen { ack: Some(x), rst: false, syn: false, .. }] if x == rcv_nxt), "{answer:?}");
    assert_eq!(a.tcp_time_wait_count(), 1);
    // A newer SYN, which could reopen the 4-tuple, but nothing listens on
    // A's port: the record stays and answers it, as Linux's TIME-WAIT does
    // (TCP_TW_SYN falls through to TCP_TW_ACK), not with a RST.
    let newer = TcpRepr { seq_number: rcv_nxt + 100_000, ..syn };
    a.receive(now, IfaceId(0), &from_b(client, newer));
    let answer = carry(now, &mut a, &mut b, |_| false);
    assert!(matches!(answer[..], [Seen { ack: Some(x), rst: false, syn: false, .. }] if x == rcv_nxt), "{answer:?}");
    assert_eq!(a.tcp_time_wait_count(), 1);
    // A RST inside the window but not at RCV.NXT: a challenge ACK
    // (RFC 5961 §3.2); at RCV.NXT exactly: the record is gone.
    let rst = TcpRepr { seq_number: rcv_nxt + 1, rst: true, ..TcpRepr::default() };
    a.receive(now, IfaceId(0), &from_b(client, rst));
    assert_eq!(carry(now, &mut a, &mut b, |_| false).len(), 1);
    assert_eq!(a.tcp_time_wait_count(), 1);
    a.receive(now, IfaceId(0), &from_b(client, TcpRepr { seq_number: rcv_nxt, ..rst }));
    assert!(carry(now, &mut a, &mut b, |_| false).is_empty());
    assert_eq!(a.tcp_time_wait_count(), 0);
    assert_eq!(a.tcp_connection_count(), 0);
    assert_eq!(a.poll_at(), None);

    // The same 4-tuple again, through a listener on A this time: B
    // connects to it (B closes first, so B's end waits in TIME-WAIT), then
    // reconnects with a newer SYN, which the record lets through.
    let (mut a, mut b) = (b, a);
    let la = b.tcp_open(P);
    b.bind(la, SocketAddrV4::new(A, 7)).unwrap();
    b.tcp_listen(la, 4).unwrap();
    let dial = |a: &mut Stack, b: &mut Stack, now: Instant| {
        let c = a.tcp_open(P);
        a.tcp_set_reuse_address(c, true).unwrap();
        a.bind(c, SocketAddrV4::new(B, 5555)).unwrap();
        a.tcp_connect(now, c, SocketAddrV4::new(A, 7)).unwrap();
        settle(now, a, b);
        let (s, _) = b.tcp_accept(la).unwrap();
        (s, c)
    };
    let (s, c) = dial(&mut a, &mut b, now);
    // The server (on B here, `b` the stack at A) closes first.
    b.close(s).unwrap();
    let old_fin = carry(now, &mut b, &mut a, |_| true).into_iter().find(|x| x.fin).expect("the server's FIN");
    settle(now, &mut a, &mut b);
    a.close(c).unwrap();
    settle(now, &mut a, &mut b);
    assert_eq!(b.tcp_time_wait_count(), 1);
    let later = now + Duration::from_secs(1);
    let c2 = a.tcp_open(P);
    a.tcp_set_reuse_address(c2, true).unwrap();
    a.bind(c2, SocketAddrV4::new(B, 5555)).unwrap();
    a.tcp_connect(later, c2, SocketAddrV4::new(A, 7)).unwrap();
    carry(later, &mut a, &mut b, |_| true);
    let synack = carry(later, &mut b, &mut a, |_| true);
    // RFC 1122 §4.2.2.13, RFC 6191: the new connection's ISS lies past
    // everything the old one sent (Linux: its SND.NXT + 65537), not where
    // the ISN clock happens to be (a second later: 250,000 further on).
    let old_snd_nxt = old_fin.seq + 1;
    assert!(matches!(synack[..], [Seen { syn: true, seq, .. }] if seq == old_snd_nxt + 65537), "{synack:?}");
    settle(later, &mut a, &mut b);
    let (s2, _) = b.tcp_accept(la).unwrap();
    assert_eq!(b.tcp_time_wait_count(), 0, "the newer SYN took the 4-tuple over");
    assert_eq!(b.tcp_connection_count(), 1);
    b.tcp_send(later, s2, b"again").unwrap();
    settle(later, &mut a, &mut b);
}

/// A 4-tuple used again keeps its timestamp clock: the offset is keyed on
/// the 4-tuple (RFC 7323 §5.4; Linux `secure_tcp_ts_off`), not drawn per
/// connection, so each new SYN's TSval is newer than the TS.Recent of the
/// TIME-WAIT it meets at the server, and reopens it (RFC 6191). With an
/// offset of its own per connection, half of them would be older, and be
/// answered as old duplicates instead.
#[test]
fn a_four_tuple_used_again_keeps_its_timestamp_clock() {
    let mut client = host(B, StackConfig::default());
    let mut server = host(A, StackConfig::default());
    let l = server.tcp_open(P);
    server.bind(l, SocketAddrV4::new(A, 7)).unwrap();
    server.tcp_listen(l, 4).unwrap();
    let mut now = Instant::from_secs(1);
    for round in 0..8 {
        let c = client.tcp_open(P);
        client.tcp_set_reuse_address(c, true).unwrap();
        client.bind(c, SocketAddrV4::new(B, 5555)).unwrap();
        client.tcp_connect(now, c, SocketAddrV4::new(A, 7)).unwrap();
        settle(now, &mut client, &mut server);
        let (s, _) = server.tcp_accept(l).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(server.tcp_time_wait_count(), 0, "round {round}: the SYN reopened the 4-tuple");
        // The server closes first: its end waits in TIME-WAIT.
        server.close(s).unwrap();
        settle(now, &mut client, &mut server);
        client.close(c).unwrap();
        settle(now, &mut client, &mut server);
        assert_eq!(server.tcp_time_wait_count(), 1);
        now += Duration::from_millis(300);
    }
}

/// A connection the application has not closed stays a socket in
/// TIME-WAIT (its owner can still ask about it); closed later, it becomes
/// a record then.
#[test]
fn an_open_socket_in_time_wait_becomes_a_record_when_closed() {
    let (mut a, mut b, l) = pair();
    let now = Instant::from_secs(1);
    let (c, s) = open(now, &mut a, &mut b, l, None);
    a.tcp_shutdown(now, c, std::net::Shutdown::Write).unwrap();
    settle(now, &mut a, &mut b);
    b.close(s).unwrap();
    settle(now, &mut a, &mut b);
    assert_eq!(a.tcp_state(c).unwrap(), sockstack_tcp::State::TimeWait);
    assert_eq!((a.tcp_time_wait_count(), a.socket_count()), (0, 1));
    let mut one = [0u8; 1];
    assert_eq!(a.tcp_recv(c, &mut one).unwrap(), 0);
    a.close(c).unwrap();
    a.poll(now);
    assert_eq!((a.tcp_time_wait_count(), a.socket_count()), (1, 0));
    assert_eq!(a.tcp_state(c).unwrap_err().kind(), ErrorKind::NotFound);
}

/// Past `tcp_max_tw_buckets` records, a closing connection skips
/// TIME-WAIT (as Linux's "time wait bucket table overflow"), counted, and
/// its port is free at once.
#[test]
fn records_past_the_bound_are_not_kept() {
    let mut a =
        host(A, StackConfig { ephemeral_ports: (40000, 40004), tcp_max_tw_buckets: 3, ..StackConfig::default() });
    let (_, mut b, l) = pair();
    let now = Instant::from_secs(1);
    for _ in 0..5 {
        let conn = open(now, &mut a, &mut b, l, None);
        close(now, &mut a, &mut b, conn, false);
    }
    assert_eq!(a.tcp_time_wait_count(), 3);
    assert_eq!(a.counters().tcp_tw_overflow, 2);
    assert_eq!(a.socket_count(), 0);
    // Two of the five ports are free again: two more connections open.
    for _ in 0..2 {
        let (c, _) = open(now, &mut a, &mut b, l, None);
        assert_eq!(a.tcp_state(c).unwrap(), sockstack_tcp::State::Established);
    }
    let c = a.tcp_open(P);
    assert_eq!(a.tcp_connect(now, c, SocketAddrV4::new(B, 80)).unwrap_err().kind(), ErrorKind::AddrNotAvailable);
}

/// Simultaneous close (RFC 9293 §3.6 Figure 13): both ends pass through
/// CLOSING to TIME-WAIT, and both become records.
#[test]
fn both_ends_of_a_simultaneous_close_become_records() {
    let (mut a, mut b, l) = pair();
    let now = Instant::from_secs(1);
    let (c, s) = open(now, &mut a, &mut b, l, None);
    // Both FINs are queued before either crosses: each end gets the
    // other's FIN in FIN-WAIT-1 (to CLOSING), then the ACK of its own.
    a.close(c).unwrap();
    b.close(s).unwrap();
    settle(now, &mut a, &mut b);
    assert_eq!((a.tcp_time_wait_count(), b.tcp_time_wait_count()), (1, 1));
    assert_eq!((a.socket_count(), b.socket_count()), (0, 1), "b keeps only its listener");
}

mod any_segments {
    use super::*;
    use proptest::prelude::*;
    use sockstack_wire::TcpTimestamp;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever arrives for a record, at whatever times: no panic, at
        /// most the one record, its port held exactly while it lives, and
        /// every answer a well-formed segment for the peer.
        #[test]
        fn a_record_takes_any_segments(
            script in proptest::collection::vec(
                (0u64..90_000, any::<u32>(), proptest::option::of(any::<u32>()), any::<u8>(), any::<u16>(),
                 proptest::option::of((any::<u32>(), any::<u32>())), 0usize..3),
                1..40,
            ),
            near in proptest::collection::vec(-3i32..3, 40),
        ) {
            let t0 = Instant::from_secs(1);
            let (mut a, mut b, client, fin) = with_record(t0, 40007);
            let mut now = t0;
            for (i, &(wait_ms, seq, ack, flags, window, ts, payload)) in script.iter().enumerate() {
                now += Duration::from_millis(wait_ms);
                a.poll(now);
                // Half the segments aim near the record's sequence space.
                let seq = if i % 2 == 0 { SeqNumber(fin.seq.0.wrapping_add(1).wrapping_add(near[i] as u32)) } else { SeqNumber(seq) };
                let data = [7u8; 2];
                let seg = TcpRepr {
                    seq_number: seq,
                    ack_number: ack.map(SeqNumber),
                    syn: flags & 1 != 0,
                    fin: flags & 2 != 0,
                    rst: flags & 4 != 0,
                    psh: flags & 8 != 0,
                    window_len: window,
                    timestamp: ts.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr }),
                    payload: &data[..payload],
                    ..TcpRepr::default()
                };
                a.receive(now, IfaceId(0), &from_b(client, seg));
                for answer in carry(now, &mut a, &mut b, |_| false) {
                    prop_assert!(!answer.syn, "a record never opens: {answer:?}");
                }
                let held = a.tcp_time_wait_count();
                prop_assert!(held <= 1);
                // The port is held exactly while the record lives.
                let probe = a.tcp_open(P);
                let bound = a.bind(probe, SocketAddrV4::new(A, 40007));
                prop_assert_eq!(bound.is_err(), held == 1, "record {} bind {:?}", held, bound);
                a.close(probe).unwrap();
            }
            a.poll(now + MSL2 * 2);
            prop_assert_eq!(a.tcp_time_wait_count(), 0);
            prop_assert_eq!(a.poll_at(), None);
        }
    }
}
