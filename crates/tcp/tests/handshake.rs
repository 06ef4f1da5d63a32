//! Opening and closing: RFC 9293 §3.5 and §3.6 scenarios.

mod common;
use common::*;
use sockstack_tcp::{Connection, State, TcpConfig};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{SeqNumber, TcpRepr};
use std::io::ErrorKind;

const D: Duration = Duration::from_millis(10);

#[test]
fn three_way_handshake_both_roles_and_options() {
    let cfg = TcpConfig::default();
    let mut p = Pair::new(&cfg, &cfg, D);
    assert_eq!(p.a.state(), State::SynSent);
    assert_eq!(p.b.state(), State::SynReceived);
    let syn = p.log.is_empty();
    assert!(syn);
    p.run_until(|p| p.a.state() == State::Established && p.b.state() == State::Established, Duration::from_secs(1));
    // SYN-ACK from B carries SYN+ACK and the negotiated options.
    let synack = p.segs(Dir::BtoA)[0].repr();
    assert!(synack.syn && synack.ack_number == Some(ISS_A + 1));
    assert_eq!(synack.seq_number, ISS_B);
    assert_eq!(synack.max_seg_size, Some(1460));
    assert!(synack.sack_permitted && synack.timestamp.is_some() && synack.window_scale.is_some());
    // Third segment: a pure ACK from A.
    let ack = p.segs(Dir::AtoB)[0].repr();
    assert!(!ack.syn && ack.ack_number == Some(ISS_B + 1) && ack.seq_number == ISS_A + 1);
    let s = p.a.stats();
    assert!(s.sack && s.timestamps);
    assert_eq!(s.mss, 1460 - 12, "timestamps take 12 octets of each segment");
    // The harness hands A's SYN to B instantly; the SYN-ACK takes 10 ms.
    assert_eq!(s.srtt, Duration::from_millis(10));
    // B measured SYN-ACK → ACK: 20 ms.
    assert_eq!(p.b.stats().srtt, Duration::from_millis(20));
    assert_eq!(s.rcv_wscale, p.b.stats().snd_wscale);
}

#[test]
fn options_not_used_unless_both_offer() {
    let mut p = Pair::established(&cfg(true, true, true), &cfg(false, false, false), D);
    let s = p.a.stats();
    assert!(!s.sack && !s.timestamps);
    assert_eq!((s.snd_wscale, s.rcv_wscale), (0, 0));
    assert_eq!(s.mss, 1460);
    let data = pattern(300_000);
    let got = transfer(&mut p, &data, Duration::from_secs(30));
    assert_eq!(got, data);
}

#[test]
fn mss_clamped_to_route_and_peer() {
    let now = Instant::ZERO;
    let mut a = Connection::connect(now, A_ADDR, B_ADDR, ISS_A, 1200, TcpConfig::default());
    let syn = drain(&mut a, now);
    assert_eq!(syn[0].repr().max_seg_size, Some(1200), "route MSS clamps what we advertise");
    let b_cfg = TcpConfig { mss: 1000, ..TcpConfig::default() };
    let mut b = Connection::accept(now, B_ADDR, A_ADDR, &syn[0].repr(), ISS_B, 1460, &b_cfg);
    let synack = drain(&mut b, now);
    assert_eq!(synack[0].repr().max_seg_size, Some(1000));
    assert_eq!(b.mss(), 1200 - 12);
    a.on_segment(now, &synack[0].repr());
    assert_eq!(a.mss(), 1000 - 12);
    // No MSS option at all: 536 (RFC 9293 §3.7.1).
    let mut raw = syn[0].repr();
    raw.max_seg_size = None;
    raw.timestamp = None;
    let b2 = Connection::accept(now, B_ADDR, A_ADDR, &raw, ISS_B, 1460, TcpConfig::default());
    assert_eq!(b2.mss(), 536);
}

#[test]
fn simultaneous_open() {
    let cfg = TcpConfig::default();
    let now = Instant::from_secs(1);
    let mut a = Connection::connect(now, A_ADDR, B_ADDR, ISS_A, 1460, &cfg);
    let mut b = Connection::connect(now, B_ADDR, A_ADDR, ISS_B, 1460, &cfg);
    let syn_a = drain(&mut a, now);
    let syn_b = drain(&mut b, now);
    // The SYNs cross.
    a.on_segment(now, &syn_b[0].repr());
    b.on_segment(now, &syn_a[0].repr());
    assert_eq!(a.state(), State::SynReceived);
    assert_eq!(b.state(), State::SynReceived);
    let sa_a = drain(&mut a, now);
    let sa_b = drain(&mut b, now);
    assert_eq!(sa_a.len(), 1);
    let r = sa_a[0].repr();
    assert!(r.syn && r.ack_number == Some(ISS_B + 1) && r.seq_number == ISS_A);
    a.on_segment(now, &sa_b[0].repr());
    b.on_segment(now, &sa_a[0].repr());
    assert_eq!(a.state(), State::Established);
    assert_eq!(b.state(), State::Established);
    // RFC 7323 §2.2: the window of a SYN-ACK is not scaled, though each
    // end takes the crossing SYN-ACK as the ACK of its own SYN.
    for (c, synack) in [(&a, &sa_b[0]), (&b, &sa_a[0])] {
        let s = c.stats();
        assert!(s.snd_wscale > 0, "window scaling agreed");
        assert_eq!(s.snd_wnd, usize::from(synack.repr().window_len));
    }
    // And data flows.
    a.send(b"hello").unwrap();
    let segs = drain(&mut a, now);
    for s in &segs {
        b.on_segment(now, &s.repr());
    }
    let mut buf = [0u8; 16];
    assert_eq!(b.recv(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
}

#[test]
fn normal_close_and_time_wait_lasts_2msl() {
    let cfg = TcpConfig { time_wait: Duration::from_secs(7), ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    p.a.close();
    assert_eq!(p.a.state(), State::FinWait1);
    p.run_until(|p| p.b.state() == State::CloseWait && p.a.state() == State::FinWait2, Duration::from_secs(1));
    let mut buf = [0u8; 8];
    assert_eq!(p.b.recv(&mut buf).unwrap(), 0, "EOF");
    p.b.close();
    assert_eq!(p.b.state(), State::LastAck);
    p.run_until(|p| p.a.state() == State::TimeWait, Duration::from_secs(1));
    let tw_start = p.now;
    p.run_until(|p| p.a.is_closed(), Duration::from_secs(10));
    let lasted = p.now - tw_start;
    assert!(lasted >= Duration::from_secs(7) && lasted < Duration::from_secs(7) + D * 2, "{lasted:?}");
    assert!(p.a.error().is_none() && p.b.error().is_none());
}

#[test]
fn time_wait_reacks_retransmitted_fin_and_restarts() {
    let cfg = TcpConfig { time_wait: Duration::from_secs(60), ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    p.a.close();
    p.run_until(|p| p.b.state() == State::CloseWait, Duration::from_secs(1));
    p.b.close();
    // Drop A's last ACK: B retransmits its FIN after an RTO.
    let mut dropped = false;
    p.filter = Box::new(move |dir, _, r| {
        if dir == Dir::AtoB && !dropped && r.ack_number.is_some() && !r.fin {
            dropped = true;
            return Fate::Drop;
        }
        Fate::Deliver
    });
    p.run_until(|p| p.b.is_closed(), Duration::from_secs(5));
    assert_eq!(p.a.state(), State::TimeWait);
    assert!(p.b.stats().retransmits >= 1);
}

#[test]
fn simultaneous_close() {
    let cfg = TcpConfig { time_wait: Duration::from_secs(2), ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    p.a.close();
    p.b.close();
    p.step(); // both FINs in flight, crossing
    p.run_until(|p| p.a.state() != State::FinWait1 && p.b.state() != State::FinWait1, Duration::from_secs(1));
    assert_eq!(p.a.state(), State::Closing);
    assert_eq!(p.b.state(), State::Closing);
    p.run_until(|p| p.a.state() == State::TimeWait && p.b.state() == State::TimeWait, Duration::from_secs(1));
    p.run_until(|p| p.a.is_closed() && p.b.is_closed(), Duration::from_secs(3));
}

#[test]
fn half_close_data_still_flows_other_way() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    p.a.send(b"request").unwrap();
    p.a.shutdown_write();
    assert!(p.a.send(b"more").unwrap_err().kind() == ErrorKind::BrokenPipe);
    p.run_until(|p| p.b.state() == State::CloseWait && p.a.state() == State::FinWait2, Duration::from_secs(1));
    let mut buf = [0u8; 64];
    assert_eq!(p.b.recv(&mut buf).unwrap(), 7);
    assert_eq!(p.b.recv(&mut buf).unwrap(), 0);
    assert_eq!(p.a.state(), State::FinWait2);
    // B keeps sending for a while after A's FIN.
    let reply = pattern(100_000);
    let mut sent = 0;
    let mut got = Vec::new();
    while got.len() < reply.len() {
        if sent < reply.len() {
            sent += p.b.send(&reply[sent..]).unwrap_or(0);
        }
        while let Ok(n) = p.a.recv(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert!(p.step());
    }
    assert_eq!(got, reply);
    p.b.close();
    p.run_until(|p| p.a.state() == State::TimeWait && p.b.is_closed(), Duration::from_secs(1));
    assert_eq!(p.a.recv(&mut buf).unwrap(), 0);
}

#[test]
fn rst_in_syn_sent_is_connection_refused() {
    let now = Instant::ZERO;
    let mut a = Connection::connect(now, A_ADDR, B_ADDR, ISS_A, 1460, TcpConfig::default());
    let syn = drain(&mut a, now);
    // A closed port answers per RFC 9293 §3.10.7.1.
    let rst = sockstack_tcp::rst_reply(&syn[0].repr()).unwrap();
    let rst = serialize(&rst, *B_ADDR.ip(), *A_ADDR.ip());
    // A RST without an acceptable ACK is ignored first.
    let mut bogus = rst.repr();
    bogus.ack_number = Some(ISS_A + 100);
    a.on_segment(now, &bogus);
    assert_eq!(a.state(), State::SynSent);
    assert!(drain(&mut a, now).is_empty(), "no RST in answer to a RST");
    a.on_segment(now, &rst.repr());
    assert_eq!(a.state(), State::Closed);
    assert_eq!(a.error(), Some(ErrorKind::ConnectionRefused));
    assert_eq!(a.send(b"x").unwrap_err().kind(), ErrorKind::ConnectionRefused);
    assert!(a.is_closed());
}

/// RFC 1122 §4.2.3.9, RFC 5927 §4.1, Linux `tcp_v4_err`: an ICMP error
/// quoting our SYN ends the connection attempt at once with its error;
/// one quoting any other sequence number is not believed.
#[test]
fn icmp_error_about_the_syn_fails_the_connect() {
    let now = Instant::ZERO;
    for (kind, fatal) in [(ErrorKind::ConnectionRefused, true), (ErrorKind::HostUnreachable, false)] {
        let mut a = Connection::connect(now, A_ADDR, B_ADDR, ISS_A, 1460, TcpConfig::default());
        drain(&mut a, now);
        for forged in [ISS_A + 1, ISS_A - 1, SeqNumber(ISS_A.0 ^ 0x8000_0000)] {
            assert!(!a.on_icmp_error(forged, kind, fatal));
        }
        assert_eq!(a.state(), State::SynSent);
        assert!(a.on_icmp_error(ISS_A, kind, fatal));
        assert_eq!((a.state(), a.error()), (State::Closed, Some(kind)));
        assert!(drain(&mut a, now).is_empty(), "nothing more is sent");
    }
}

/// A passive opening connection is dropped only by a hard error (port or
/// protocol unreachable) about its SYN-ACK (Linux `tcp_req_err`); a soft
/// one (host unreachable, perhaps a passing routing problem) leaves it to
/// its retransmissions, and is what it reports if they run out.
#[test]
fn icmp_error_about_the_syn_ack() {
    let now = Instant::ZERO;
    let cfg = TcpConfig { synack_retries: 2, ..TcpConfig::default() };
    let mut p = Pair::new(&cfg, &cfg, D);
    drain(&mut p.b, now);
    assert!(p.b.on_icmp_error(ISS_B, ErrorKind::HostUnreachable, false));
    assert_eq!(p.b.state(), State::SynReceived);
    let mut t = now;
    while let Some(next) = p.b.poll_at() {
        t = t.max(next);
        p.b.on_timer(t);
        drain(&mut p.b, t);
    }
    assert_eq!(p.b.error(), Some(ErrorKind::HostUnreachable));
    let mut p = Pair::new(&cfg, &cfg, D);
    drain(&mut p.b, now);
    assert!(p.b.on_icmp_error(ISS_B, ErrorKind::ConnectionRefused, true));
    assert_eq!((p.b.state(), p.b.error()), (State::Closed, Some(ErrorKind::ConnectionRefused)));
}

/// RFC 1122 §4.2.3.9, RFC 5461 §4.1: an established connection outlives
/// ICMP errors (the route may come back); if it does time out, it reports
/// the last one instead of `TimedOut`, unless an ACK came in between.
#[test]
fn icmp_errors_are_soft_once_established() {
    let cfg = TcpConfig { retries: 3, ..TcpConfig::default() };
    for acked_since in [false, true] {
        let mut p = Pair::established(&cfg, &cfg, D);
        p.a.send(&pattern(5000)).unwrap();
        drain(&mut p.a, p.now);
        let una = p.a.snd_una();
        assert!(!p.a.on_icmp_error(p.a.snd_nxt(), ErrorKind::HostUnreachable, false), "not in flight");
        assert!(p.a.on_icmp_error(una, ErrorKind::ConnectionRefused, true));
        assert_eq!(p.a.state(), State::Established, "even a hard error is soft here");
        if acked_since {
            let ack = TcpRepr {
                src_port: B_ADDR.port(),
                dst_port: A_ADDR.port(),
                seq_number: p.a.rcv_nxt(),
                ack_number: Some(una + 1000),
                window_len: 1000,
                timestamp: p.last_timestamp(Dir::BtoA),
                ..TcpRepr::default()
            };
            p.a.on_segment(p.now, &ack);
            assert_eq!(p.a.snd_una(), una + 1000);
        }
        // The peer is gone: every retransmission goes unanswered.
        let mut t = p.now;
        while !p.a.is_closed() {
            t = p.a.poll_at().expect("a timer runs").max(t);
            p.a.on_timer(t);
            drain(&mut p.a, t);
        }
        let expected = if acked_since { ErrorKind::TimedOut } else { ErrorKind::ConnectionRefused };
        assert_eq!(p.a.error(), Some(expected));
    }
}

/// A FIN takes a sequence number of the window: behind a shut window it
/// waits, the persist timer probing, and goes out once the window opens
/// (as Linux's `tcp_snd_wnd_test`). So a half-closed connection whose
/// peer does not read for longer than the retransmissions would last
/// (`retries`) stays open while the peer answers the probes, and the
/// peer sees the end of the stream right after it reads.
#[test]
fn a_fin_waits_for_a_shut_window() {
    let b_cfg = TcpConfig { rcv_buf: 4096, rcv_buf_max: 4096, ..TcpConfig::default() };
    let mut p = Pair::established(&TcpConfig { retries: 4, ..TcpConfig::default() }, &b_cfg, D);
    assert_eq!(p.a.send(&pattern(4096)).unwrap(), 4096);
    p.run_for(Duration::from_secs(1));
    p.a.shutdown_write();
    p.log.clear();
    p.run_for(Duration::from_secs(1800));
    assert_eq!((p.a.state(), p.a.error()), (State::FinWait1, None));
    assert!(p.segs(Dir::AtoB).iter().all(|s| !s.repr().fin), "no FIN into a shut window");
    assert!(p.a.stats().window_probes > 4 && p.a.stats().retransmits == 0);
    let mut buf = vec![0u8; 8192];
    assert_eq!(p.b.recv(&mut buf).unwrap(), 4096);
    p.run_until(|p| p.b.state() == State::CloseWait, Duration::from_millis(100));
    assert_eq!(p.b.recv(&mut buf).unwrap(), 0, "end of stream");
}

/// RFC 9293 §3.10.7.4 would drop a FIN at a shut window (it occupies a
/// sequence number); Linux takes a bare one (`tcp_data_queue`), since it
/// needs no room and some stacks send it regardless. So does sockstack.
#[test]
fn a_bare_fin_is_taken_at_a_shut_window() {
    let b_cfg = TcpConfig { rcv_buf: 4096, rcv_buf_max: 4096, ..TcpConfig::default() };
    let mut p = Pair::established(&TcpConfig::default(), &b_cfg, D);
    assert_eq!(p.a.send(&pattern(4096)).unwrap(), 4096);
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.b.rcv_wnd(), 0);
    let fin = TcpRepr {
        src_port: A_ADDR.port(),
        dst_port: B_ADDR.port(),
        seq_number: p.b.rcv_nxt(),
        ack_number: Some(p.b.snd_nxt()),
        fin: true,
        window_len: 1000,
        timestamp: p.last_timestamp(Dir::AtoB),
        ..TcpRepr::default()
    };
    p.b.on_segment(p.now, &fin);
    assert_eq!(p.b.state(), State::CloseWait);
    let mut buf = vec![0u8; 8192];
    assert_eq!(p.b.recv(&mut buf).unwrap(), 4096);
    assert_eq!(p.b.recv(&mut buf).unwrap(), 0);
    // Text at a shut window is still dropped, and a FIN riding on it too.
    let mut p = Pair::established(&TcpConfig::default(), &b_cfg, D);
    assert_eq!(p.a.send(&pattern(4096)).unwrap(), 4096);
    p.run_for(Duration::from_secs(1));
    let text = TcpRepr {
        payload: b"more",
        timestamp: p.last_timestamp(Dir::AtoB),
        seq_number: p.b.rcv_nxt(),
        ack_number: Some(p.b.snd_nxt()),
        ..fin
    };
    p.b.on_segment(p.now, &text);
    assert_eq!((p.b.state(), p.b.recv_queue()), (State::Established, 4096));
}

#[test]
fn syn_sent_bad_ack_gets_rst() {
    let now = Instant::ZERO;
    let mut a = Connection::connect(now, A_ADDR, B_ADDR, ISS_A, 1460, TcpConfig::default());
    drain(&mut a, now);
    let bad = sockstack_wire::TcpRepr {
        src_port: 80,
        dst_port: 40000,
        seq_number: SeqNumber(5),
        ack_number: Some(ISS_A + 77),
        syn: true,
        ..Default::default()
    };
    a.on_segment(now, &bad);
    assert_eq!(a.state(), State::SynSent);
    let out = drain(&mut a, now);
    assert_eq!(out.len(), 1);
    let r = out[0].repr();
    assert!(r.rst && r.seq_number == ISS_A + 77);
}

#[test]
fn syn_retransmission_backoff_and_timeout() {
    let cfg = TcpConfig { syn_retries: 3, ..TcpConfig::default() };
    let mut now = Instant::ZERO;
    let mut a = Connection::connect(now, A_ADDR, B_ADDR, ISS_A, 1460, &cfg);
    let mut times = Vec::new();
    loop {
        let out = drain(&mut a, now);
        for s in &out {
            assert!(s.repr().syn);
            times.push(now);
        }
        match a.poll_at() {
            Some(t) => now = t.max(now),
            None => break,
        }
        a.on_timer(now);
        if a.is_closed() {
            break;
        }
    }
    let secs: Vec<u64> = times.iter().map(|t| t.total_millis()).collect();
    assert_eq!(secs, vec![0, 1000, 3000, 7000]);
    assert_eq!(a.error(), Some(ErrorKind::TimedOut));
    assert_eq!(now, Instant::from_secs(15));
}

#[test]
fn lost_synack_is_retransmitted_and_iw_is_one_segment() {
    let cfg = TcpConfig::default();
    let mut p = Pair::new(&cfg, &cfg, D);
    p.filter = drop_first(|dir, r| dir == Dir::BtoA && r.syn);
    p.run_until(|p| p.a.state() == State::Established && p.b.state() == State::Established, Duration::from_secs(5));
    // A retransmitted its SYN (B's SYN-ACK lost), B answered the repeated
    // SYN with its SYN-ACK again.
    // (The harness logs from the first SYN's answer on.)
    assert_eq!(p.segs(Dir::AtoB).iter().filter(|s| s.repr().syn).count(), 1);
    assert!(p.segs(Dir::BtoA).iter().filter(|s| s.repr().syn).count() >= 2);
    assert_eq!(p.a.stats().cwnd, p.a.mss(), "RFC 5681 §3.1: IW = 1 after a lost SYN");
}

/// RFC 6298 §5.7: after the SYN timed out, with no RTT sample (Karn's
/// rule, no timestamps), data transmission begins with an RTO of 3 s, not
/// the backed-off 2 s of the handshake.
#[test]
fn after_a_syn_timeout_data_starts_with_a_three_second_rto() {
    let cfg = cfg(false, true, true);
    let mut p = Pair::new(&cfg, &cfg, D);
    p.filter = drop_first(|dir, r| dir == Dir::BtoA && r.syn);
    p.run_until(|p| p.a.state() == State::Established, Duration::from_secs(5));
    let s = p.a.stats();
    assert_eq!(s.srtt, Duration::ZERO, "no sample: {s:?}");
    assert_eq!(s.rto, Duration::from_secs(3));
}

/// The handshake's last ACK is lost, and the client sends nothing more:
/// the server's retransmitted SYN-ACK reaches a client already
/// ESTABLISHED, which must answer it with an ACK (RFC 9293 §3.10.7.4: an
/// unacceptable segment draws an ACK; RFC 5961 §4: a SYN in a
/// synchronized state, a challenge ACK), so the server gets in too.
#[test]
fn a_lost_final_ack_is_repaired_by_the_syn_ack_retransmission() {
    let cfg = TcpConfig::default();
    let mut p = Pair::new(&cfg, &cfg, D);
    p.filter = drop_first(|dir, r| dir == Dir::AtoB && !r.syn && r.payload.is_empty());
    p.run_until(|p| p.a.state() == State::Established && p.b.state() == State::Established, Duration::from_secs(5));
    assert!(p.segs(Dir::BtoA).iter().filter(|s| s.repr().syn).count() >= 2, "the SYN-ACK was sent again");
}

#[test]
fn time_wait_accepts_only_newer_syn() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    p.a.close();
    p.run_until(|p| p.b.state() == State::CloseWait, Duration::from_secs(1));
    p.b.close();
    p.run_until(|p| p.a.state() == State::TimeWait, Duration::from_secs(1));
    // A new SYN from B's side (same 4-tuple) reaching A in TIME-WAIT.
    let ts = p.last_timestamp(Dir::BtoA).unwrap();
    let mut syn = sockstack_wire::TcpRepr {
        src_port: 80,
        dst_port: 40000,
        seq_number: p.a.rcv_nxt() + 100_000,
        syn: true,
        timestamp: Some(sockstack_wire::TcpTimestamp { tsval: ts.tsval + 1000, tsecr: 0 }),
        ..Default::default()
    };
    assert!(p.a.time_wait_accepts_syn(&syn));
    syn.timestamp = Some(sockstack_wire::TcpTimestamp { tsval: ts.tsval - 1, tsecr: 0 });
    assert!(!p.a.time_wait_accepts_syn(&syn), "older timestamp: an old duplicate");
    // In TIME-WAIT the connection itself only challenges it.
    syn.timestamp = None;
    syn.seq_number = p.a.rcv_nxt();
    let before = p.a.stats().challenge_acks;
    p.a.on_segment(p.now, &syn);
    assert_eq!(p.a.state(), State::TimeWait);
    assert_eq!(p.a.stats().challenge_acks, before + 1);
    assert!(!p.b.time_wait_accepts_syn(&syn), "not in TIME-WAIT");
}

#[test]
fn out_of_order_fin_waits_for_the_gap() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    let now = p.now;
    p.a.send(b"hello world").unwrap();
    p.a.shutdown_write();
    let out = drain(&mut p.a, now);
    assert_eq!(out.len(), 1);
    let r = out[0].repr();
    assert!(r.fin && r.payload == b"hello world");
    // Split it: "world"+FIN arrives before "hello ".
    let first = TcpRepr { fin: false, payload: &r.payload[..6], ..r };
    let second = TcpRepr { seq_number: r.seq_number + 6, payload: &r.payload[6..], ..r };
    p.b.on_segment(now, &second);
    assert_eq!(p.b.state(), State::Established, "FIN beyond a gap waits");
    let mut buf = [0u8; 32];
    assert_eq!(p.b.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    let dup = drain(&mut p.b, now);
    assert_eq!(dup[0].repr().ack_number, Some(r.seq_number), "immediate duplicate ACK");
    p.b.on_segment(now, &first);
    assert_eq!(p.b.state(), State::CloseWait);
    assert_eq!(p.b.recv(&mut buf).unwrap(), 11);
    assert_eq!(p.b.recv(&mut buf).unwrap(), 0);
    let acks = drain(&mut p.b, now);
    assert_eq!(acks.last().unwrap().repr().ack_number, Some(r.seq_number + 12), "FIN acknowledged at once");
}

#[test]
fn shutdown_before_established_sends_fin_after_handshake() {
    let cfg = TcpConfig::default();
    let mut p = Pair::new(&cfg, &cfg, D);
    p.a.send(b"early").unwrap();
    p.a.shutdown_write();
    assert_eq!(p.a.state(), State::SynSent);
    p.run_until(|p| p.b.state() == State::CloseWait, Duration::from_secs(1));
    let mut buf = [0u8; 8];
    assert_eq!(p.b.recv(&mut buf).unwrap(), 5);
    assert_eq!(p.b.recv(&mut buf).unwrap(), 0);
    p.run_until(|p| p.a.state() == State::FinWait2, Duration::from_secs(1));
}

#[test]
fn close_in_syn_sent_just_goes_away() {
    let now = Instant::ZERO;
    let mut a = Connection::connect(now, A_ADDR, B_ADDR, ISS_A, 1460, TcpConfig::default());
    drain(&mut a, now);
    a.close();
    assert!(a.is_closed());
    assert!(drain(&mut a, now).is_empty());
    assert_eq!(a.poll_at(), None);
}

#[test]
fn fin_wait_2_times_out_after_close() {
    let cfg = TcpConfig { fin_wait2_timeout: Duration::from_secs(3), ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    p.a.close();
    p.run_until(|p| p.a.state() == State::FinWait2, Duration::from_secs(1));
    let t = p.now;
    // B never closes.
    p.run_until(|p| p.a.is_closed(), Duration::from_secs(5));
    assert!(p.now - t >= Duration::from_secs(3) - D);
    // Half-closed (shutdown, not close) connections wait forever, as in Linux.
    let mut p = Pair::established(&cfg, &cfg, D);
    p.a.shutdown_write();
    p.run_until(|p| p.a.state() == State::FinWait2, Duration::from_secs(1));
    assert_eq!(p.a.poll_at(), None);
}

/// A RST reaching TIME-WAIT (here: answering a duplicate ACK after the
/// peer has gone) ends the connection but leaves received data readable.
#[test]
fn rst_in_time_wait_keeps_unread_data() {
    let cfg = TcpConfig { time_wait: Duration::from_secs(60), ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    p.a.shutdown_write();
    p.run_until(|p| p.b.state() == State::CloseWait, Duration::from_secs(1));
    assert_eq!(p.b.send(b"reply the app has not read").unwrap(), 26);
    p.b.close();
    p.run_until(|p| p.a.state() == State::TimeWait, Duration::from_secs(1));
    // The peer is gone; a RST for something A sends arrives.
    let rst = sockstack_wire::TcpRepr {
        src_port: 80,
        dst_port: 40000,
        seq_number: p.a.rcv_nxt(),
        rst: true,
        ..Default::default()
    };
    p.a.on_segment(p.now, &rst);
    assert!(p.a.is_closed());
    assert_eq!(p.a.error(), None);
    let mut buf = [0u8; 64];
    assert_eq!(p.a.recv(&mut buf).unwrap(), 26);
    assert_eq!(&buf[..26], b"reply the app has not read");
    assert_eq!(p.a.recv(&mut buf).unwrap(), 0, "then end of stream");
}
