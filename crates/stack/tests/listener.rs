//! A listener under attack: forged segments of every kind, from hosts that
//! never answer, arrive while real clients connect. RFC 4987 (SYN queue,
//! SYN cookies) and RFC 5961 (blind SYN, RST and data) are what keep the
//! real clients in; this checks they do, and that the forged half-open
//! connections leave nothing behind.

use proptest::prelude::*;
use sockstack_stack::{IfaceId, InterfaceConfig, ProcessId, SocketHandle, Stack, StackConfig};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{
    ChecksumMode, IpProtocol, Ipv4Addr, Ipv4Cidr, Ipv4Packet, Ipv4Repr, SeqNumber, TcpPacket, TcpRepr, TcpTimestamp,
};
use std::io::ErrorKind;
use std::net::SocketAddrV4;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const P: ProcessId = ProcessId(1);
const PORT: u16 = 80;

/// One forged segment to the listening port: from spoofed host `src`
/// (192.0.2.10 + `src`, where nobody answers) and port 1000 + `sport`
/// (a few of each, so that forgeries meet the half-open connections
/// earlier ones made), or for `src` 4 from a real client's address and
/// port (a blind attacker who knows the 4-tuple), with these flags,
/// numbers, options and payload.
#[derive(Debug, Clone)]
struct Forged {
    src: u8,
    sport: u16,
    syn: bool,
    ack: bool,
    rst: bool,
    fin: bool,
    seq: u32,
    ack_number: u32,
    window: u16,
    mss: Option<u16>,
    wscale: Option<u8>,
    sack_permitted: bool,
    timestamp: Option<(u32, u32)>,
    payload: usize,
}

fn forged() -> impl Strategy<Value = Forged> {
    (
        (0u8..5, 0u16..4, any::<bool>(), any::<bool>(), prop::bool::weighted(0.15), prop::bool::weighted(0.15)),
        (any::<u32>(), any::<u32>(), any::<u16>()),
        (
            prop::option::of(any::<u16>()),
            prop::option::of(any::<u8>()),
            any::<bool>(),
            prop::option::of(any::<(u32, u32)>()),
            prop_oneof![Just(0usize), 1usize..100],
        ),
    )
        .prop_map(
            |((src, sport, syn, ack, rst, fin), (seq, ack_number, window), (mss, wscale, sack, ts, payload))| Forged {
                src,
                sport,
                syn,
                ack,
                rst,
                fin,
                seq,
                ack_number,
                window,
                mss,
                wscale,
                sack_permitted: sack,
                timestamp: ts,
                payload,
            },
        )
}

impl Forged {
    /// The datagram, given the ports of the real clients so far.
    fn datagram(&self, clients: &[u16]) -> Vec<u8> {
        let (src, src_port) = match clients.get(usize::from(self.sport) % clients.len().max(1)) {
            Some(&port) if self.src == 4 => (A, port),
            _ => (Ipv4Addr::new(192, 0, 2, 10 + self.src % 4), 1000 + self.sport),
        };
        let payload = vec![0x5a; self.payload];
        let seg = TcpRepr {
            src_port,
            dst_port: PORT,
            seq_number: SeqNumber(self.seq),
            ack_number: self.ack.then_some(SeqNumber(self.ack_number)),
            syn: self.syn,
            rst: self.rst,
            fin: self.fin,
            window_len: self.window,
            max_seg_size: self.mss,
            window_scale: self.wscale,
            sack_permitted: self.sack_permitted,
            timestamp: self.timestamp.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr }),
            payload: &payload,
            ..TcpRepr::default()
        };
        let ip = Ipv4Repr {
            src_addr: src,
            dst_addr: B,
            next_header: IpProtocol::Tcp,
            payload_len: seg.buffer_len(),
            hop_limit: 64,
            ident: 1,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            dscp_ecn: 0,
        };
        let mut buf = vec![0u8; 20 + seg.buffer_len()];
        seg.emit(&mut TcpPacket::new_unchecked(&mut buf[20..]), &src, &B, ChecksumMode::Verify);
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..20]), ChecksumMode::Verify);
        buf
    }
}

fn host(ip: Ipv4Addr, seed: u64, syn_backlog: usize) -> Stack {
    let config = StackConfig { seed, tcp_max_syn_backlog: syn_backlog, ..StackConfig::default() };
    let mut s = Stack::new(config);
    s.add_interface(InterfaceConfig::new("eth0", Ipv4Cidr::new(ip, 24).expect("valid")));
    s
}

/// What client `i` sends, and reads back.
fn greeting(i: usize) -> Vec<u8> {
    format!("hello from client {i}").into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// While forged segments of any kind reach the listener (SYNs with any
    /// options, which fill its SYN queue or draw cookies; ACKs guessing a
    /// cookie or completing a half-open connection; RSTs, FINs and data
    /// to them), every real client gets in and is echoed byte for byte,
    /// and no forgery becomes a connection. Once the half-open
    /// connections have timed out, the listener holds nothing: no
    /// connection, no buffer memory, no timer; closed, no socket either.
    #[test]
    fn forged_segments_never_keep_real_clients_out(
        attack in prop::collection::vec(forged(), 0..300),
        clients in 1usize..6,
        backlog in 1usize..6,
        syn_backlog in 0usize..8,
        per_step in 1usize..8,
        gap in 1usize..10,
    ) {
        let mut a = host(A, 1, 16);
        let mut b = host(B, 2, syn_backlog);
        let l = b.tcp_open(P);
        b.bind(l, SocketAddrV4::new(B, PORT)).unwrap();
        b.tcp_listen(l, backlog).unwrap();
        let mut now = Instant::ZERO;
        let mut client: Vec<SocketHandle> = Vec::new();
        let mut echoed = vec![Vec::new(); clients];
        let mut sent = vec![false; clients];
        let mut served: Vec<(SocketHandle, Vec<u8>)> = Vec::new();
        let mut forgeries = attack.iter();
        let mut buf = [0u8; 256];
        let mut step = 0;
        // Until every client is echoed and the attack is over; client `i`
        // comes at step `i * gap`, in the thick of it.
        while echoed.iter().enumerate().any(|(i, e)| *e != greeting(i)) || forgeries.len() > 0 {
            prop_assert!(now < Instant::from_secs(200), "clients still out: {:?}", echoed);
            step += 1;
            if client.len() < clients && step >= client.len() * gap {
                let c = a.tcp_open(P);
                a.tcp_connect(now, c, SocketAddrV4::new(B, PORT)).unwrap();
                client.push(c);
            }
            let ports: Vec<u16> = client.iter().map(|&c| a.local_addr(c).unwrap().port()).collect();
            for f in forgeries.by_ref().take(per_step) {
                b.receive(now, IfaceId(0), &f.datagram(&ports));
            }
            a.poll(now);
            b.poll(now);
            loop {
                let mut moved = false;
                while let Some(p) = a.dispatch() {
                    b.receive(now, IfaceId(0), &p.data);
                    moved = true;
                }
                // What goes to the spoofed hosts is lost: nobody is there.
                while let Some(p) = b.dispatch() {
                    let dst = Ipv4Packet::new_checked(&p.data[..]).unwrap().dst_addr();
                    if dst == A {
                        a.receive(now, IfaceId(0), &p.data);
                    }
                    moved = true;
                }
                // The server accepts whatever is there and echoes it.
                loop {
                    match b.tcp_accept(l) {
                        Ok((s, peer)) => {
                            prop_assert_eq!(*peer.ip(), A, "a forgery was accepted");
                            served.push((s, Vec::new()));
                            moved = true;
                        }
                        Err(e) => {
                            prop_assert_eq!(e.kind(), ErrorKind::WouldBlock);
                            break;
                        }
                    }
                }
                for (s, got) in &mut served {
                    while let Ok(n @ 1..) = b.tcp_recv(*s, &mut buf) {
                        got.extend_from_slice(&buf[..n]);
                        prop_assert_eq!(b.tcp_send(now, *s, &buf[..n]).unwrap(), n);
                        moved = true;
                    }
                }
                for (i, &c) in client.iter().enumerate() {
                    if !sent[i] && a.tcp_connect_status(c).unwrap() {
                        prop_assert_eq!(a.tcp_send(now, c, &greeting(i)).unwrap(), greeting(i).len());
                        sent[i] = true;
                        moved = true;
                    }
                    while let Ok(n @ 1..) = a.tcp_recv(c, &mut buf) {
                        echoed[i].extend_from_slice(&buf[..n]);
                    }
                }
                if !moved {
                    break;
                }
            }
            now += Duration::from_millis(10);
        }
        prop_assert_eq!(served.len(), clients, "one connection per client");
        // The real connections close; the half-open forgeries time out.
        for &c in &client {
            a.close(c).unwrap();
        }
        for (s, _) in &served {
            b.close(*s).unwrap();
        }
        let end = now + Duration::from_secs(300);
        while now < end {
            a.poll(now);
            b.poll(now);
            while let Some(p) = a.dispatch() {
                b.receive(now, IfaceId(0), &p.data);
            }
            while let Some(p) = b.dispatch() {
                if Ipv4Packet::new_checked(&p.data[..]).unwrap().dst_addr() == A {
                    a.receive(now, IfaceId(0), &p.data);
                }
            }
            now += Duration::from_millis(100);
        }
        prop_assert_eq!(b.tcp_connection_count(), 0, "half-open connections left");
        prop_assert_eq!(b.tcp_memory_used(), 0);
        prop_assert_eq!(b.poll_at(), None, "a timer left");
        b.close(l).unwrap();
        prop_assert_eq!(b.socket_count(), 0);
    }
}
