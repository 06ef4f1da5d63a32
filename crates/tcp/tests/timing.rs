//! Time-driven behaviour: retransmission timer and Karn's rule, fast
//! retransmit, SACK recovery, persist timer, Nagle, delayed ACKs,
//! keepalive, giving up, auto-tuning.

mod common;
use common::*;
use sockstack_tcp::{CongestionAlgorithm, Connection, Initial, Keepalive, State, TcpConfig};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{SeqNumber, TcpRepr};
use std::io::ErrorKind;

const D: Duration = Duration::from_millis(10);

/// An established pair that has exchanged one byte, so that A knows B's
/// (scaled) window and has an RTT sample: an ACK that changes the window is
/// a window update, not a duplicate (RFC 5681 §2).
fn established_after_one_byte(cfg: &TcpConfig) -> Pair {
    let mut p = Pair::established(cfg, cfg, D);
    p.a.send(b"x").unwrap();
    p.run_for(Duration::from_millis(100));
    let mut one = [0u8; 1];
    assert_eq!(p.b.recv(&mut one).unwrap(), 1);
    p.run_for(Duration::from_millis(100));
    p
}

/// Reads exactly `n` bytes from `c`, which holds them already.
fn recv_exactly(c: &mut Connection, n: usize) -> Vec<u8> {
    let mut got = vec![0u8; n];
    let mut at = 0;
    while at < n {
        at += c.recv(&mut got[at..]).unwrap();
    }
    got
}

fn data_segs(p: &Pair, dir: Dir) -> Vec<(Instant, SeqNumber, usize)> {
    p.log
        .iter()
        .filter(|x| x.1 == dir)
        .filter_map(|(t, _, s)| {
            let r = s.repr();
            (!r.payload.is_empty()).then_some((*t, r.seq_number, r.payload.len()))
        })
        .collect()
}

#[test]
fn rto_backoff_doubles_and_karn_ignores_ambiguous_samples() {
    let cfg = cfg(false, false, false);
    let mut p = Pair::established(&cfg, &cfg, D);
    let srtt0 = p.a.stats().srtt;
    assert_eq!(p.a.stats().rto, Duration::from_millis(200), "rto_min bound");
    // The first three transmissions of the data are lost.
    let mut drops = 0;
    p.filter = Box::new(move |dir, _, r| {
        if dir == Dir::AtoB && !r.payload.is_empty() && drops < 3 {
            drops += 1;
            return Fate::Drop;
        }
        Fate::Deliver
    });
    p.log.clear();
    p.a.send(b"hello").unwrap();
    p.run_until(|p| p.b.recv_queue() == 5, Duration::from_secs(5));
    p.run_for(Duration::from_millis(50));
    let sends: Vec<_> = data_segs(&p, Dir::AtoB).iter().map(|x| x.0).collect();
    assert_eq!(sends.len(), 4);
    let gaps: Vec<u64> = sends.windows(2).map(|w| (w[1] - w[0]).as_millis() as u64).collect();
    assert_eq!(gaps, vec![200, 400, 800], "RFC 6298 §5.5 doubling");
    let s = p.a.stats();
    assert_eq!(s.rto_timeouts, 3);
    assert_eq!(s.retransmits, 3);
    // Karn: the ACK of a retransmitted segment gave no RTT sample (it would
    // be 10+ ms off either way), and the backoff is kept...
    assert_eq!(s.srtt, srtt0);
    assert_eq!(s.rto, Duration::from_millis(1600));
    // ...until a fresh, unambiguous sample.
    p.a.send(b"again").unwrap();
    p.run_until(|p| p.b.recv_queue() == 10, Duration::from_secs(5));
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.a.stats().rto, Duration::from_millis(200));
    assert_ne!(p.a.stats().srtt, srtt0, "new sample taken");
}

/// RFC 5681 §3.1: ssthresh falls once for a timeout, not again when the
/// same data times out again (Linux tcp_enter_loss). Recomputed from the
/// one segment then in flight, it fell to two segments, and the
/// connection crawled back in congestion avoidance from there.
#[test]
fn a_repeated_timeout_holds_ssthresh() {
    let cfg = cfg(false, false, false);
    for congestion in [CongestionAlgorithm::NewReno, CongestionAlgorithm::Cubic] {
        let cfg = TcpConfig { congestion, ..cfg.clone() };
        let mut p = Pair::established(&cfg, &cfg, D);
        transfer(&mut p, &pattern(200_000), Duration::from_secs(5));
        let mss = p.a.mss();
        let lossy = std::rc::Rc::new(std::cell::Cell::new(true));
        let on = lossy.clone();
        p.filter = Box::new(move |dir, _, r| {
            if dir == Dir::AtoB && !r.payload.is_empty() && on.get() {
                return Fate::Drop;
            }
            Fate::Deliver
        });
        let data = pattern(20 * mss);
        p.a.send(&data).unwrap();
        p.run_until(|p| p.a.stats().rto_timeouts == 1, Duration::from_secs(5));
        let first = p.a.stats().ssthresh;
        assert!(first > 2 * mss, "{congestion:?}: {first}");
        p.run_until(|p| p.a.stats().rto_timeouts == 2, Duration::from_secs(5));
        assert_eq!(p.a.stats().ssthresh, first, "{congestion:?}: the second timeout holds it");
        lossy.set(false);
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        p.run_until(
            |p| {
                while let Ok(n @ 1..) = p.b.recv(&mut buf) {
                    got.extend_from_slice(&buf[..n]);
                }
                got.len() == data.len()
            },
            Duration::from_secs(10),
        );
        assert!(got == data);
    }
}

#[test]
fn gives_up_after_retries_with_timed_out() {
    let cfg = TcpConfig { retries: 4, ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    p.filter = Box::new(|dir, _, _| if dir == Dir::AtoB { Fate::Drop } else { Fate::Deliver });
    p.a.send(b"into the void").unwrap();
    let start = p.now;
    p.run_until(|p| p.a.is_closed(), Duration::from_secs(60));
    assert_eq!(p.a.error(), Some(ErrorKind::TimedOut));
    // A tail loss probe first, at the RTO's time (its PTO, 2·SRTT plus the
    // delayed-ACK allowance, lies past the RTO: RFC 8985 §7.2), which
    // re-arms the RTO; then four timeouts, the last of which gives up.
    let s = p.a.stats();
    assert_eq!((s.tail_loss_probes, s.rto_timeouts, s.retransmits), (1, 4, 5), "{s:?}");
    // 200 (the probe) + 200 + 400 + 800 + 1600 + 3200 ms
    assert_eq!(p.now - start, Duration::from_millis(6400));
    let mut buf = [0u8; 4];
    assert_eq!(p.a.recv(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
}

#[test]
fn fast_retransmit_after_three_dupacks() {
    let cfg = TcpConfig { sack: false, timestamps: false, nodelay: true, ..TcpConfig::default() };
    let mut p = established_after_one_byte(&cfg);
    let now = p.now;
    let mss = p.a.mss();
    p.a.send(&pattern(8 * mss)).unwrap();
    let out = drain(&mut p.a, now);
    assert_eq!(out.len(), 8);
    let una = p.a.snd_una();
    // Segment 0 is lost; B receives 1..: each produces a duplicate ACK.
    for s in &out[1..] {
        p.b.on_segment(now, &s.repr());
    }
    let dupacks = drain(&mut p.b, now);
    assert_eq!(dupacks.len(), 7, "one immediate ACK per out-of-order segment");
    for (i, d) in dupacks.iter().enumerate() {
        assert_eq!(d.repr().ack_number, Some(una));
        p.a.on_segment(now, &d.repr());
        let re = drain(&mut p.a, now);
        if i < 2 {
            assert!(re.is_empty(), "no retransmission after {} dupacks", i + 1);
        } else if i == 2 {
            assert_eq!(re.len(), 1, "fast retransmit on the third");
            assert_eq!(re[0].repr().seq_number, una);
            assert_eq!(re[0].repr().payload.len(), mss);
            p.b.on_segment(now, &re[0].repr());
        }
    }
    let s = p.a.stats();
    assert_eq!(s.fast_retransmits, 1);
    assert_eq!(s.rto_timeouts, 0);
    assert_eq!(s.dup_acks, 7);
    assert_eq!(p.b.recv_queue(), 8 * mss);
}

/// The connection runs the controller its config names, CUBIC by default:
/// the first loss of a flight of ten sets ssthresh to cwnd·β_cubic, β_cubic
/// = 0.7 (RFC 9438 §4.6, with cwnd for flight_size as Linux has it), where
/// NewReno takes FlightSize/2 (RFC 5681 §3.2 (4), RFC 6582 §3.2).
#[test]
fn a_loss_reduces_the_window_as_the_configured_controller_does() {
    let cubic = TcpConfig::default();
    let reno = TcpConfig { congestion: CongestionAlgorithm::NewReno, ..TcpConfig::default() };
    assert_eq!(cubic.congestion, CongestionAlgorithm::Cubic, "CUBIC is the default");
    for (cfg, name) in [(cubic, "cubic"), (reno, "reno")] {
        let mut p = established_after_one_byte(&cfg);
        let (now, mss) = (p.now, p.a.mss());
        assert_eq!(p.a.stats().congestion, name);
        assert_eq!(p.a.stats().ssthresh, usize::MAX, "{name}: no loss yet");
        p.a.send(&pattern(10 * mss)).unwrap();
        let out = drain(&mut p.a, now);
        assert_eq!(out.len(), 10, "{name}: the initial window (RFC 6928)");
        // Segment 0 is lost; each later one draws a duplicate ACK (each
        // SACKing one segment more), all back one RTT after the sending.
        let mut dupacks = Vec::new();
        for s in &out[1..] {
            p.b.on_segment(now + D, &s.repr());
            dupacks.extend(drain(&mut p.b, now + D));
        }
        let now = now + 2 * D;
        let mut reduced = None;
        for (i, d) in dupacks.iter().enumerate() {
            let before = p.a.stats();
            let flight = p.a.snd_nxt() - p.a.snd_una();
            p.a.on_segment(now, &d.repr());
            drain(&mut p.a, now);
            if p.a.stats().ssthresh != before.ssthresh {
                reduced = Some((i, before.cwnd, flight));
                break;
            }
        }
        let (i, cwnd, flight) = reduced.unwrap_or_else(|| panic!("{name}: no reduction on {} dupacks", dupacks.len()));
        assert_eq!(i, 2, "{name}: the third duplicate ACK starts recovery");
        assert_eq!((cwnd, flight), (10 * mss, 10 * mss), "{name}: a full initial window in flight");
        let ssthresh = p.a.stats().ssthresh;
        let want = match name {
            // β_cubic · cwnd, in whole segments.
            "cubic" => (cwnd / mss * 7 / 10) * mss,
            _ => flight / 2,
        };
        assert_eq!(ssthresh, want, "{name}: ssthresh after a loss with cwnd {cwnd}, FlightSize {flight}");
        // The stream is still delivered whole (the segments above went by
        // hand: the harness takes over from here).
        p.now = now;
        p.window_rule.complete = false;
        p.run_until(|p| p.b.recv_queue() == 10 * mss, Duration::from_secs(5));
        assert!(recv_exactly(&mut p.b, 10 * mss) == pattern(10 * mss), "{name}: stream differs");
    }
}

/// A flight of ten from A whose first segment reaches B last, handed over
/// by hand: B's ACKs for segments 1..9 (each SACKing one more) and then the
/// cumulative one, for A to take one RTT after `now`.
fn acks_for_a_flight_with_its_first_late(p: &mut Pair, now: Instant) -> Vec<Seg> {
    let (out, mut acks) = a_flight_without_its_first(p, now);
    p.b.on_segment(now + D, &out[0].repr());
    acks.extend(drain(&mut p.b, now + D));
    acks
}

/// A flight of ten from A whose first segment B never gets: the flight,
/// and B's duplicate ACKs for segments 1..9 (each SACKing one more), for A
/// to take one RTT after `now`.
fn a_flight_without_its_first(p: &mut Pair, now: Instant) -> (Vec<Seg>, Vec<Seg>) {
    let mss = p.a.mss();
    p.a.send(&pattern(10 * mss)).unwrap();
    let out = drain(&mut p.a, now);
    assert_eq!(out.len(), 10);
    let mut dupacks = Vec::new();
    for s in &out[1..] {
        p.b.on_segment(now + D, &s.repr());
        dupacks.extend(drain(&mut p.b, now + D));
    }
    (out, dupacks)
}

/// RFC 8985 §6.2 steps 3–5. Until the path is seen to reorder, three
/// duplicate ACKs start a fast retransmission at once (RFC 6675, and
/// RACK's reordering window is zero for an evident loss); once a late
/// original has shown reordering, duplicate ACKs prove nothing and RACK
/// waits a round trip plus its reordering window before it calls a
/// segment lost, which repairs a real loss all the same.
#[test]
fn once_reordering_is_seen_duplicate_acks_no_longer_start_recovery() {
    let cfg = TcpConfig { nodelay: true, ..TcpConfig::default() };
    let mut p = established_after_one_byte(&cfg);
    let mss = p.a.mss();
    let srtt = p.a.stats().srtt;

    // Reordering: segment 0 arrives after 1..9. A takes only the first
    // two duplicate ACKs (two SACKed segments: no loss evident yet), then
    // the cumulative ACK.
    let now = p.now;
    let acks = acks_for_a_flight_with_its_first_late(&mut p, now);
    assert_eq!(acks.len(), 10, "an ACK for every segment (out of order, then the gap filled)");
    for a in acks[..2].iter().chain(&acks[9..]) {
        p.a.on_segment(now + 2 * D, &a.repr());
        assert!(drain(&mut p.a, now + 2 * D).iter().all(|s| s.repr().payload.is_empty()));
    }
    let st = p.a.stats();
    assert_eq!(st.reord_seen, 1, "{st:?}");
    assert_eq!((st.retransmits, st.fast_retransmits), (0, 0), "{st:?}");
    assert!(recv_exactly(&mut p.b, 10 * mss) == pattern(10 * mss));

    // Now segment 0 of the next flight is lost. All nine duplicate ACKs
    // come in: no retransmission yet.
    let now = now + 3 * D;
    p.a.on_timer(now);
    drain(&mut p.a, now);
    let (out, dupacks) = a_flight_without_its_first(&mut p, now);
    let arrive = now + 2 * D;
    for a in &dupacks {
        p.a.on_segment(arrive, &a.repr());
        assert!(drain(&mut p.a, arrive).is_empty(), "a retransmission on a duplicate ACK");
    }
    assert_eq!(p.a.stats().retransmits, 0);
    // RACK's timer: segment 0 was sent before segment 9, which was
    // delivered; it is lost a round trip plus min_RTT/4 after it was sent.
    let due = p.a.poll_at().expect("RACK's reordering timer runs");
    assert!(due > arrive && due <= now + 2 * D + srtt, "due {due}, the flight sent at {now}");
    p.a.on_timer(due);
    let resent = drain(&mut p.a, due);
    assert_eq!(resent.len(), 1, "segment 0 again");
    assert_eq!(resent[0].repr().seq_number, out[0].repr().seq_number);
    assert!(p.a.stats().rack_detections >= 1);
    // B takes it and the stream is whole.
    p.b.on_segment(due + D, &resent[0].repr());
    assert!(recv_exactly(&mut p.b, 10 * mss) == pattern(10 * mss));
}

/// RFC 3708 §3: a fast retransmission whose original was only late comes
/// back as a D-SACK, and the window reduction it caused is undone (RFC
/// 9438 §4.9, Linux `tcp_try_undo_dsack`); a real loss keeps its
/// reduction.
#[test]
fn a_d_sack_for_every_retransmission_undoes_the_reduction() {
    let cfg = TcpConfig { nodelay: true, ..TcpConfig::default() };
    for late in [true, false] {
        let mut p = established_after_one_byte(&cfg);
        let (now, mss) = (p.now, p.a.mss());
        let before = p.a.stats();
        // Segments 1..9 reach B first: nine duplicate ACKs, the third of
        // which starts a fast retransmission of segment 0.
        let (out, dupacks) = a_flight_without_its_first(&mut p, now);
        let mut resent = Vec::new();
        for a in &dupacks {
            p.a.on_segment(now + 2 * D, &a.repr());
            resent.extend(drain(&mut p.a, now + 2 * D).into_iter().filter(|s| !s.repr().payload.is_empty()));
        }
        // Segment 0, and RFC 6675's rescue retransmission of the highest
        // segment not SACKed when recovery began (segment 9).
        let offsets: Vec<_> = resent.iter().map(|s| s.repr().seq_number - out[0].repr().seq_number).collect();
        assert_eq!(offsets, vec![0, 9 * mss], "late {late}");
        let reduced = p.a.stats();
        assert_eq!(reduced.ssthresh, 7 * mss, "late {late}: β_cubic");
        // B gets the retransmissions (after the late original, if it is
        // only late): each one B holds already it reports with a D-SACK
        // block.
        let t = now + 3 * D;
        let mut acks = Vec::new();
        for s in out[..1].iter().filter(|_| late).chain(&resent) {
            p.b.on_segment(t, &s.repr());
            acks.extend(drain(&mut p.b, t));
        }
        for a in &acks {
            p.a.on_segment(t + D, &a.repr());
            drain(&mut p.a, t + D);
        }
        let after = p.a.stats();
        if late {
            // Both retransmissions were needless: undone.
            assert_eq!((after.dsacks_received, after.dsack_undos), (2, 1), "{after:?}");
            assert_eq!(after.ssthresh, before.ssthresh, "back in slow start");
            assert!(after.cwnd >= before.cwnd, "{after:?}");
        } else {
            // Segment 0 was lost: its retransmission was needed, though
            // the rescue was not. The reduction stands.
            assert_eq!((after.dsacks_received, after.dsack_undos), (1, 0), "{after:?}");
            assert_eq!(after.ssthresh, 7 * mss);
        }
        assert!(recv_exactly(&mut p.b, 10 * mss) == pattern(10 * mss), "late {late}");
    }
}

#[test]
fn sack_recovery_repairs_multiple_holes_in_one_rtt() {
    let cfg = TcpConfig { nodelay: true, ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    let mss = p.a.mss();
    let base = p.a.snd_nxt();
    let lost: Vec<SeqNumber> = [2, 5, 8].iter().map(|i| base + i * mss).collect();
    let lost2 = lost.clone();
    let mut dropped = Vec::new();
    p.filter = Box::new(move |dir, _, r| {
        if dir == Dir::AtoB && lost2.contains(&r.seq_number) && !dropped.contains(&r.seq_number) {
            dropped.push(r.seq_number);
            return Fate::Drop;
        }
        Fate::Deliver
    });
    p.log.clear();
    let data = pattern(10 * mss);
    let got = transfer(&mut p, &data, Duration::from_secs(2));
    assert!(got == data);
    let segs = data_segs(&p, Dir::AtoB);
    let rexmits: Vec<_> = segs.iter().skip(10).collect();
    assert_eq!(rexmits.len(), 3, "{rexmits:?}");
    let seqs: Vec<_> = rexmits.iter().map(|x| x.1).collect();
    assert_eq!(seqs, lost);
    // All three within one RTT (20 ms) of the first retransmission.
    assert!(rexmits[2].0 - rexmits[0].0 < Duration::from_millis(20), "{rexmits:?}");
    let s = p.a.stats();
    assert_eq!(s.rto_timeouts, 0);
    assert_eq!(s.fast_retransmits, 3);
}

#[test]
fn zero_window_probe_and_reopen() {
    let b_cfg = TcpConfig { rcv_buf: 4096, rcv_buf_max: 4096, ..TcpConfig::default() };
    let mut p = Pair::established(&TcpConfig::default(), &b_cfg, D);
    let data = pattern(40_000);
    let n = p.a.send(&data).unwrap();
    // Linux tcp_sndbuf_expand: room for two initial windows of 10 MSS.
    assert_eq!(n, 2 * 10 * p.a.mss(), "send buffer at establishment");
    let mut sent = n;
    // B does not read: the window closes, A probes with growing intervals.
    p.log.clear();
    p.run_for(Duration::from_secs(5));

    assert_eq!(p.b.recv_queue(), 4096);
    let probes: Vec<Instant> = p
        .log
        .iter()
        .filter(|x| x.1 == Dir::AtoB && x.2.repr().payload.is_empty() && x.2.repr().seq_number == p.a.snd_una() - 1)
        .map(|x| x.0)
        .collect();
    assert!(probes.len() >= 3, "{probes:?}");
    let gaps: Vec<_> = probes.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.windows(2).all(|g| g[1] >= g[0] * 2 - Duration::from_millis(1)), "backoff {gaps:?}");
    assert!(p.a.stats().window_probes >= 3);
    assert_eq!(p.a.state(), State::Established);
    // The application reads: the window reopens and the rest arrives.
    let mut got = Vec::new();
    let mut buf = [0u8; 1000];
    let deadline = p.now + Duration::from_secs(60);
    while got.len() < data.len() {
        sent += p.a.send(&data[sent..]).unwrap_or(0);
        while let Ok(n @ 1..) = p.b.recv(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        assert!(p.now < deadline);
        p.step();
    }
    assert!(got == data);
}

/// RFC 9293 §3.8.6.1: a connection whose peer answers its window probes
/// stays open, however long the window stays shut. Not an orphan (Linux
/// `tcp_probe_timer`): once its application has closed it, with data
/// nobody will now read past that window, it is reset after
/// `orphan_retries` probes, so a peer cannot pin it for ever.
#[test]
fn an_orphan_behind_a_shut_window_is_reset_after_orphan_retries_probes() {
    let cfg = TcpConfig { orphan_retries: 4, ..TcpConfig::default() };
    let b_cfg = TcpConfig { rcv_buf: 4096, rcv_buf_max: 4096, ..TcpConfig::default() };
    for orphan in [false, true] {
        let mut p = Pair::established(&cfg, &b_cfg, D);
        p.a.send(&pattern(20_000)).unwrap();
        // B does not read: the window shuts.
        p.run_for(Duration::from_secs(2));
        assert_eq!(p.b.recv_queue(), 4096);
        if orphan {
            p.a.close();
        }
        p.run_for(Duration::from_secs(3600));
        let probes = p.a.stats().window_probes;
        if orphan {
            assert_eq!((p.a.state(), p.a.error()), (State::Closed, Some(ErrorKind::TimedOut)));
            assert_eq!(probes, 4);
            assert_eq!(p.b.error(), Some(ErrorKind::ConnectionReset), "the peer was told");
        } else {
            assert_eq!(p.a.state(), State::Established);
            assert!(probes > 20, "{probes} probes in an hour");
        }
    }
}

/// An orphan also gives up retransmitting sooner (Linux
/// `tcp_write_timeout`): after `orphan_retries` timeouts, not `retries`.
#[test]
fn an_orphan_gives_up_after_orphan_retries_timeouts() {
    let cfg = TcpConfig { retries: 10, orphan_retries: 3, ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    p.filter = Box::new(|dir, _, _| if dir == Dir::AtoB { Fate::Drop } else { Fate::Deliver });
    p.a.send(b"into the void").unwrap();
    p.a.close();
    p.run_until(|p| p.a.is_closed(), Duration::from_secs(600));
    assert_eq!(p.a.error(), Some(ErrorKind::TimedOut));
    assert_eq!(p.a.stats().rto_timeouts, 3);
}

#[test]
fn nagle_coalesces_small_writes_and_nodelay_does_not() {
    for nodelay in [false, true] {
        let cfg = TcpConfig { nodelay, ..TcpConfig::default() };
        let mut p = Pair::established(&cfg, &cfg, D);
        // Delayed ACKs (past the quick-ACK start) are what Nagle waits on.
        p.b.set_quickack(false);
        p.log.clear();
        for _ in 0..6 {
            p.a.send(b"0123456789").unwrap();
            p.step(); // a poll round between writes (no time passes if none due)
        }
        p.run_until(|p| p.b.recv_queue() == 60, Duration::from_secs(1));
        let segs = data_segs(&p, Dir::AtoB);
        if nodelay {
            assert_eq!(segs.len(), 6, "one segment per write");
        } else {
            // The first goes out at once; the rest wait for its ACK and
            // leave as one segment.
            assert!(segs.len() < 6, "{segs:?}");
            assert_eq!(segs[0].2, 10);
            assert!(segs[1].2 > 10);
        }
    }
}

#[test]
fn nagle_unit_level() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    let now = p.now;
    p.a.send(b"a").unwrap();
    assert_eq!(drain(&mut p.a, now).len(), 1, "idle connection: sent at once");
    p.a.send(b"b").unwrap();
    p.a.send(b"c").unwrap();
    assert!(drain(&mut p.a, now).is_empty(), "unacked data outstanding: held");
    p.a.set_nodelay(true);
    let out = drain(&mut p.a, now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].repr().payload, b"bc");
}

#[test]
fn delayed_ack_timer_and_every_second_full_segment() {
    for delack_ms in [40u64, 200] {
        let cfg = TcpConfig { delayed_ack: Duration::from_millis(delack_ms), ..TcpConfig::default() };
        let mut p = Pair::established(&cfg, &cfg, D);
        // Past the quick-ACK start (Linux quickack mode), into delayed ACKs.
        p.b.set_quickack(false);
        let now = p.now;
        let mss = p.a.mss();
        // One small segment: no immediate ACK; the ACK comes at the bound.
        p.a.send(b"ping").unwrap();
        let seg = drain(&mut p.a, now);
        p.b.on_segment(now, &seg[0].repr());
        assert!(drain(&mut p.b, now).is_empty());
        assert_eq!(p.b.poll_at(), Some(now + Duration::from_millis(delack_ms)));
        assert!(drain(&mut p.b, now + Duration::from_millis(delack_ms - 1)).is_empty());
        let later = now + Duration::from_millis(delack_ms);
        let acks = drain(&mut p.b, later);
        assert_eq!(acks.len(), 1);
        assert_eq!(acks[0].repr().ack_number, Some(p.a.snd_nxt()));
        assert_eq!(p.b.stats().delayed_acks, 1);
        p.a.on_segment(later, &acks[0].repr());
        // Two full-sized segments: the second is ACKed at once.
        p.a.send(&pattern(4 * mss)).unwrap();
        let segs = drain(&mut p.a, later);
        assert_eq!(segs.len(), 4);
        p.b.on_segment(later, &segs[0].repr());
        assert!(drain(&mut p.b, later).is_empty(), "first full segment: delayed");
        p.b.on_segment(later, &segs[1].repr());
        let acks = drain(&mut p.b, later);
        assert_eq!(acks.len(), 1, "second full segment: immediate");
        assert_eq!(acks[0].repr().ack_number, Some(segs[1].repr().seq_number + mss));
        p.b.on_segment(later, &segs[2].repr());
        assert!(drain(&mut p.b, later).is_empty());
        p.b.on_segment(later, &segs[3].repr());
        assert_eq!(drain(&mut p.b, later).len(), 1);
    }
}

#[test]
fn delayed_ack_bounded_by_rfc1122() {
    let cfg = TcpConfig { delayed_ack: Duration::from_secs(2), ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    p.b.set_quickack(false);
    let now = p.now;
    p.a.send(b"x").unwrap();
    let seg = drain(&mut p.a, now);
    p.b.on_segment(now, &seg[0].repr());
    assert_eq!(p.b.poll_at(), Some(now + Duration::from_millis(500)));
}

#[test]
fn keepalive_probes_then_times_out() {
    let ka = Keepalive { idle: Duration::from_secs(10), interval: Duration::from_secs(1), count: 3 };
    let cfg = TcpConfig { keepalive: Some(ka), ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &TcpConfig::default(), D);
    // Peer answers: the connection stays up through several idle periods.
    p.run_until(|p| p.a.stats().keepalive_probes >= 3 && p.in_flight.is_empty(), Duration::from_secs(35));
    assert_eq!(p.a.state(), State::Established);
    assert!(p.now >= Instant::from_secs(31), "first probe only after 10 s idle");
    // Peer vanishes.
    p.filter = Box::new(|dir, _, _| if dir == Dir::BtoA { Fate::Drop } else { Fate::Deliver });
    p.log.clear();
    p.run_until(|p| p.a.is_closed(), Duration::from_secs(30));
    assert_eq!(p.a.error(), Some(ErrorKind::TimedOut));
    let sent: Vec<_> = p.segs(Dir::AtoB).iter().map(|s| s.repr().rst).collect();
    assert_eq!(sent.iter().filter(|r| !**r).count(), 3, "three unanswered probes");
    assert!(*sent.last().unwrap(), "then a RST");
}

#[test]
fn keepalive_holds_off_while_data_waits_for_a_zero_window() {
    // B never reads: A's data waits behind a zero window for a minute,
    // probed by the persist timer; keepalive (10 s idle) sends nothing and
    // never resets the connection, as on Linux.
    let ka = Keepalive { idle: Duration::from_secs(10), interval: Duration::from_secs(1), count: 3 };
    let cfg = TcpConfig { keepalive: Some(ka), ..TcpConfig::default() };
    let b_cfg = TcpConfig { rcv_buf: 4096, rcv_buf_max: 4096, ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &b_cfg, D);
    p.a.send(&pattern(20_000)).unwrap();
    p.run_for(Duration::from_secs(60));
    let s = p.a.stats();
    assert_eq!(p.a.state(), State::Established);
    assert!(s.window_probes >= 5, "{s:?}");
    assert_eq!(s.keepalive_probes, 0, "{s:?}");
    assert_eq!(p.b.recv_queue(), 4096);
}

#[test]
fn keepalive_on_both_ends_keeps_an_idle_connection_up() {
    // Both ends probe. A's probe reaches B just as B's own timer fires
    // (both went idle one delay apart): B must answer it with a real ACK,
    // not with its own probe (which A drops unread, RFC 9293 §3.10.7.4),
    // or A, allowed one unanswered probe, times out.
    let ka = Keepalive { idle: Duration::from_secs(10), interval: Duration::from_secs(1), count: 1 };
    let cfg = TcpConfig { keepalive: Some(ka), ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    p.run_for(Duration::from_secs(120));
    assert_eq!((p.a.state(), p.b.state()), (State::Established, State::Established));
    let (sa, sb) = (p.a.stats(), p.b.stats());
    assert!(sa.keepalive_probes >= 10 && sb.keepalive_probes >= 10, "{sa:?} {sb:?}");
}

#[test]
fn keepalive_off_by_default() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    p.log.clear();
    assert_eq!(p.a.poll_at(), None);
    p.run_for(Duration::from_secs(10_000));
    assert!(p.log.is_empty());
}

#[test]
fn receive_buffer_autotunes_and_send_buffer_grows() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, Duration::from_millis(20));
    let before_r = p.b.stats().rcv_buf;
    let before_s = p.a.stats().snd_buf;
    let data = pattern(8 << 20);
    let got = transfer(&mut p, &data, Duration::from_secs(60));
    assert!(got == data);
    let after_r = p.b.stats().rcv_buf;
    let after_s = p.a.stats().snd_buf;
    assert!(after_r > before_r, "{before_r} -> {after_r}");
    assert!(after_r <= cfg.rcv_buf_max);
    assert!(after_s > before_s, "{before_s} -> {after_s}");
}

#[test]
fn send_buffer_bounded() {
    let cfg = TcpConfig { snd_buf: 10_000, snd_buf_max: 10_000, ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    assert_eq!(p.a.send(&pattern(50_000)).unwrap(), 10_000);
    assert_eq!(p.a.send(b"x").unwrap_err().kind(), ErrorKind::WouldBlock);
    assert!(!p.a.can_send());
    p.run_for(Duration::from_millis(100));
    assert!(p.a.can_send());
    assert_eq!(p.a.send_queue(), 0);
}

#[test]
fn recv_would_block_then_eof() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    let mut buf = [0u8; 8];
    assert_eq!(p.b.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    assert!(!p.b.can_recv());
    p.a.send(b"bye").unwrap();
    p.a.close();
    p.run_for(Duration::from_millis(100));
    assert!(p.b.can_recv());
    assert_eq!(p.b.recv(&mut buf).unwrap(), 3);
    assert_eq!(p.b.recv(&mut buf).unwrap(), 0);
}

#[test]
fn send_in_syn_sent_is_queued() {
    let cfg = TcpConfig::default();
    let mut p = Pair::new(&cfg, &cfg, D);
    p.a.send(b"early").unwrap();
    p.run_until(|p| p.b.recv_queue() == 5, Duration::from_secs(1));
}

/// A SYN-cookie handshake (RFC 4987 §3.6), then a transfer each way. With
/// timestamps, the options the SYN offered survive the stateless SYN-ACK
/// in its TSval (as on Linux): the connection scales its windows past
/// 64 KiB and uses SACK. Without them, it runs with neither.
#[test]
fn syn_cookie_handshake() {
    use sockstack_tcp::SynCookies;
    let cookies = SynCookies::new([9; 16]);
    for client_cfg in [TcpConfig::default(), cfg(false, true, true)] {
        let cfg = TcpConfig::default();
        let now = Instant::from_secs(100);
        let mut client = Connection::connect(now, A_ADDR, B_ADDR, ISS_A, 1460, &client_cfg);
        let syn = drain(&mut client, now);
        // The server's timestamp clock offset for this 4-tuple: the
        // cookie's SYN-ACK and the connection it completes stamp with it.
        let ts_offset = 0x1234_5678;
        let synack = cookies.synack(now, B_ADDR, A_ADDR, &syn[0].repr(), 1460, ts_offset, &cfg);
        let synack = serialize(&synack, *B_ADDR.ip(), *A_ADDR.ip());
        client.on_segment(now, &synack.repr());
        assert_eq!(client.state(), State::Established);
        client.send(b"GET /").unwrap();
        let out = drain(&mut client, now);
        // The ACK carries the data (piggybacked) or precedes it.
        let first = out[0].repr();
        let mss = cookies.check(now, B_ADDR, A_ADDR, &first).expect("valid cookie");
        assert_eq!(mss, 1460);
        let iss = Initial { iss: first.ack_number.unwrap() - 1, ts_offset };
        let mut server = Connection::from_cookie(now, B_ADDR, A_ADDR, &first, iss, first.seq_number - 1, mss, &cfg)
            .expect("options");
        for s in &out[1..] {
            server.on_segment(now, &s.repr());
        }
        assert_eq!(server.state(), State::Established);
        let mut buf = [0u8; 16];
        assert_eq!(server.recv(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"GET /");
        let with_options = client_cfg.timestamps;
        for st in [client.stats(), server.stats()] {
            assert_eq!((st.sack, st.timestamps), (with_options, with_options));
            assert_eq!(st.snd_wscale > 0, with_options, "{st:?}");
        }
        // A forged ACK is refused.
        let forged = TcpRepr { ack_number: Some(first.ack_number.unwrap() + 1), ..first };
        assert!(cookies.check(now, B_ADDR, A_ADDR, &forged).is_none());
        // Both ways, byte for byte, over a 50 ms path; with scaling the
        // window opens past 64 KiB.
        let mut p = Pair::new(&client_cfg, &cfg, Duration::from_millis(25));
        (p.a, p.b, p.now) = (client, server, now);
        let data = pattern(2 << 20);
        let mut peak = 0;
        let mut got = Vec::new();
        let mut sent = 0;
        let mut rbuf = vec![0u8; 65536];
        while got.len() < data.len() {
            assert!(p.now < now + Duration::from_secs(60), "stalled at {}", got.len());
            sent += p.a.send(&data[sent..]).unwrap_or(0);
            while let Ok(n @ 1..) = p.b.recv(&mut rbuf) {
                got.extend_from_slice(&rbuf[..n]);
            }
            peak = peak.max(p.a.stats().snd_wnd);
            p.step();
        }
        assert!(got == data);
        assert_eq!(peak > 65535, with_options, "peak window {peak}");
    }
}

#[test]
fn newreno_partial_ack_retransmits_next_hole_without_rto() {
    let cfg = TcpConfig {
        sack: false,
        nodelay: true,
        congestion: sockstack_tcp::CongestionAlgorithm::NewReno,
        ..TcpConfig::default()
    };
    let mut p = established_after_one_byte(&cfg);
    let mss = p.a.mss();
    let base = p.a.snd_nxt();
    let lost: Vec<SeqNumber> = [1, 6].iter().map(|i| base + i * mss).collect();
    let lost2 = lost.clone();
    let mut dropped = Vec::new();
    p.filter = Box::new(move |dir, _, r| {
        if dir == Dir::AtoB && lost2.contains(&r.seq_number) && !dropped.contains(&r.seq_number) {
            dropped.push(r.seq_number);
            return Fate::Drop;
        }
        Fate::Deliver
    });
    p.log.clear();
    let data = pattern(10 * mss);
    let got = transfer(&mut p, &data, Duration::from_secs(2));
    assert!(got == data);
    let rexmits: Vec<_> = data_segs(&p, Dir::AtoB).into_iter().skip(10).map(|x| x.1).collect();
    assert_eq!(rexmits, lost, "first hole on 3 dupacks, second on the partial ACK");
    let s = p.a.stats();
    assert_eq!(s.rto_timeouts, 0);
    assert_eq!(s.fast_retransmits, 2);
    // One window reduction for the whole episode (RFC 6582 §3.2).
    // FlightSize at the third dupack: segments 1..10 (segment 0 was acked).
    assert_eq!(s.ssthresh, 9 * mss / 2, "halved once, not twice");
}

#[test]
fn cwnd_restarts_after_idle() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    let data = pattern(2 << 20);
    transfer(&mut p, &data, Duration::from_secs(30));
    p.run_for(Duration::from_millis(100));
    let mss = p.a.mss();
    assert!(p.a.stats().cwnd > 20 * mss);
    // Idle for longer than the RTO, then one small write.
    assert_eq!(p.a.poll_at(), None, "nothing scheduled while idle");
    p.now += Duration::from_secs(2);
    p.a.send(b"after a pause").unwrap();
    p.step();
    assert_eq!(p.a.stats().cwnd, 10 * mss, "RFC 5681 §4.1 restart window");
}

#[test]
fn tail_loss_probe_and_rack_repair_tail_without_rto() {
    let cfg = TcpConfig { nodelay: true, ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    // Warm up the RTT estimate.
    let warm = pattern(20_000);
    transfer(&mut p, &warm, Duration::from_secs(1));
    p.run_for(Duration::from_millis(100));
    let mss = p.a.mss();
    let base = p.a.snd_nxt();
    // The last two of eight segments are lost: no dupacks can reveal that.
    let lost: Vec<SeqNumber> = [6, 7].iter().map(|i| base + i * mss).collect();
    let lost2 = lost.clone();
    let mut dropped = Vec::new();
    p.filter = Box::new(move |dir, _, r| {
        if dir == Dir::AtoB && lost2.contains(&r.seq_number) && !dropped.contains(&r.seq_number) {
            dropped.push(r.seq_number);
            return Fate::Drop;
        }
        Fate::Deliver
    });
    p.log.clear();
    let start = p.now;
    let data = pattern(8 * mss);
    let got = transfer(&mut p, &data, Duration::from_secs(2));
    assert!(got == data);
    let took = p.now - start;
    let s = p.a.stats();
    assert_eq!(s.rto_timeouts, 0, "{s:?}");
    assert_eq!(s.tail_loss_probes, 1);
    assert!(s.rack_detections >= 1, "segment 6 found lost by RACK after the probe's SACK");
    // PTO ≈ 2·SRTT (40 ms), then one more RTT: well under the 200 ms RTO.
    assert!(took < Duration::from_millis(150), "{took:?}");
    let rexmits: Vec<_> = data_segs(&p, Dir::AtoB).into_iter().skip(8).map(|x| x.1).collect();
    assert_eq!(rexmits, vec![lost[1], lost[0]], "probe re-sends the last segment, RACK the other");
}

/// An established no-delay pair whose estimates `warm` octets warmed,
/// then quiet for 100 ms.
fn warmed_nodelay(warm: usize) -> Pair {
    let cfg = TcpConfig { nodelay: true, ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    transfer(&mut p, &pattern(warm), Duration::from_secs(5));
    p.run_for(Duration::from_millis(100));
    p
}

/// RFC 8985 §7.2: PTO = min(PTO, time to the RTO). With one segment in
/// flight the PTO (2·SRTT plus the worst-case delayed ACK, 240 ms here)
/// lies past the RTO (its 200 ms floor): the probe goes at the RTO's
/// time, instead of the timeout, which would have collapsed the window.
#[test]
fn a_probe_due_after_the_rto_goes_at_its_time_instead() {
    let mut p = warmed_nodelay(20_000);
    let cwnd = p.a.stats().cwnd;
    let base = p.a.snd_nxt();
    let mut dropped = false;
    p.filter = Box::new(move |dir, _, r| {
        if dir == Dir::AtoB && r.seq_number == base && !r.payload.is_empty() && !dropped {
            dropped = true;
            return Fate::Drop;
        }
        Fate::Deliver
    });
    let start = p.now;
    let data = pattern(100);
    let got = transfer(&mut p, &data, Duration::from_secs(2));
    assert!(got == data);
    let s = p.a.stats();
    assert_eq!(s.tail_loss_probes, 1, "{s:?}");
    assert_eq!(s.rto_timeouts, 0, "{s:?}");
    assert!(s.cwnd >= cwnd / 2, "no collapse to one segment: {} of {cwnd}", s.cwnd);
    assert!(p.now - start < Duration::from_millis(300), "{:?}", p.now - start);
}

/// RFC 8985 §7.4.2: an ACK that reaches a probe's end and goes no
/// further may be the original's. When the ACK of a tail is late (held up
/// 15 ms, past the 20 ms PTO of this 10 ms path), the probe was needless:
/// its copy draws a D-SACK, and the window stays as it was. Before, the
/// late ACK alone was taken for the probe's and cut the window.
#[test]
fn a_late_ack_at_a_probes_end_cuts_no_window() {
    let mut p = warmed_nodelay(200_000);
    let (cwnd, mss) = (p.a.stats().cwnd, p.a.mss());
    let tail = p.a.snd_nxt() + 4 * mss;
    // The ACK of the whole tail is held up; everything else flows.
    let mut held = false;
    p.filter = Box::new(move |dir, _, r| {
        if dir == Dir::BtoA && r.ack_number == Some(tail) && !held {
            held = true;
            return Fate::Delay(Duration::from_millis(15));
        }
        Fate::Deliver
    });
    let data = pattern(4 * mss);
    let got = transfer(&mut p, &data, Duration::from_secs(2));
    assert!(got == data);
    p.run_for(Duration::from_millis(200));
    let s = p.a.stats();
    assert_eq!(s.tail_loss_probes, 1, "{s:?}");
    assert!(s.dsacks_received >= 1, "{s:?}");
    assert_eq!(s.rto_timeouts, 0, "{s:?}");
    assert!(s.cwnd >= cwnd, "the window was cut: {} from {cwnd}", s.cwnd);
}

#[test]
fn minshall_nagle_sends_a_short_tail_behind_full_segments() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    let now = p.now;
    let mss = p.a.mss();
    // One full segment and a short tail: the tail does not wait for the
    // full segment's (delayed) ACK.
    p.a.send(&pattern(mss + 100)).unwrap();
    let out = drain(&mut p.a, now);
    assert_eq!(out.iter().map(|s| s.repr().payload.len()).collect::<Vec<_>>(), vec![mss, 100]);
    // Another short write waits while that short segment is unacked.
    p.a.send(b"more").unwrap();
    assert!(drain(&mut p.a, now).is_empty(), "a short segment is outstanding: held");
}

#[test]
fn draining_a_short_segment_acks_at_once_unless_interactive() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    p.b.set_quickack(false);
    // Let B advertise its whole window first (the SYN's window is
    // smaller, and reading would then update it anyway).
    let mut buf = [0u8; 64];
    p.a.send(b"x").unwrap();
    p.run_until(|p| p.b.recv_queue() == 1, Duration::from_secs(1));
    p.b.recv(&mut buf).unwrap();
    p.run_for(Duration::from_millis(500));
    let now = p.now;
    // Bulk-style: B only reads. Reading the short tail that emptied the
    // buffer owes the sender its ACK now, not after the delayed-ACK time.
    p.a.send(b"tail of a write").unwrap();
    let seg = drain(&mut p.a, now);
    p.b.on_segment(now, &seg[0].repr());
    assert!(drain(&mut p.b, now).is_empty(), "before the read: delayed");
    assert_eq!(p.b.recv(&mut buf).unwrap(), 15);
    let acks = drain(&mut p.b, now);
    assert_eq!(acks.len(), 1, "the read drained the buffer: ACK now");
    assert_eq!(acks[0].repr().ack_number, Some(p.a.snd_nxt()));
    p.a.on_segment(now, &acks[0].repr());

    // Interactive: B answers within the delayed-ACK time, so it becomes
    // "pingpong"; from then on a read does not force a bare ACK, the
    // answer carries it.
    p.a.send(b"request").unwrap();
    let req = drain(&mut p.a, now);
    p.b.on_segment(now, &req[0].repr());
    p.b.recv(&mut buf).unwrap();
    drain(&mut p.b, now);
    p.b.send(b"reply").unwrap();
    let reply = drain(&mut p.b, now);
    p.a.on_segment(now, &reply[0].repr());
    p.a.send(b"request 2").unwrap();
    let req2 = drain(&mut p.a, now);
    p.b.on_segment(now, &req2[0].repr());
    p.b.recv(&mut buf).unwrap();
    assert!(drain(&mut p.b, now).is_empty(), "interactive: the ACK waits for the reply");
    p.b.send(b"reply 2").unwrap();
    let out = drain(&mut p.b, now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].repr().payload, b"reply 2");
    assert_eq!(out[0].repr().ack_number, Some(p.a.snd_nxt()), "the reply carries the ACK");
}

#[test]
fn one_segment_buffers_at_a_64k_mtu_do_not_stall_on_delayed_acks() {
    // 64 KiB buffers with a 65,483-octet MSS (loopback), the send buffer
    // starting at the default 16 KiB: a flight held below two full
    // segments by the send buffer, or a short tail held by Nagle behind a
    // full segment, waits for a receiver that ACKs every second full
    // segment, for the delayed-ACK time.
    let cfg = TcpConfig { snd_buf_max: 65536, rcv_buf: 65536, rcv_buf_max: 65536, ..TcpConfig::default() };
    let mut p = Pair::new_with_mss(&cfg, &cfg, Duration::from_millis(1), 65495);
    let data = pattern(4 << 20);
    let start = p.now;
    let got = transfer(&mut p, &data, Duration::from_secs(60));
    assert!(got == data);
    let took = p.now - start;
    // No round waited for the delayed-ACK timer.
    assert_eq!(p.b.stats().delayed_acks, 0, "took {took:?}");
}

#[test]
fn quickack_after_the_handshake_and_after_idle() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    // Segments go by hand here, past the harness.
    p.window_rule.complete = false;
    let now = p.now;
    // Linux quickack mode: the first segments are ACKed at once, whatever
    // their size, while the peer's pattern is unknown.
    p.a.send(b"first").unwrap();
    let seg = drain(&mut p.a, now);
    p.b.on_segment(now, &seg[0].repr());
    let acks = drain(&mut p.b, now);
    assert_eq!(acks.len(), 1, "ACKed at once after the handshake");
    p.a.on_segment(now, &acks[0].repr());
    // Out of quickack mode, a lone small segment waits for the timer.
    p.b.set_quickack(false);
    p.a.send(b"second").unwrap();
    let seg = drain(&mut p.a, now);
    p.b.on_segment(now, &seg[0].repr());
    assert!(drain(&mut p.b, now).is_empty(), "delayed");
    // After more than an RTO of silence, quickack mode again.
    p.run_for(Duration::from_millis(500));
    let now = p.now + Duration::from_secs(3);
    p.a.send(b"after idle").unwrap();
    let seg = drain(&mut p.a, now);
    p.b.on_segment(now, &seg[0].repr());
    assert_eq!(drain(&mut p.b, now).len(), 1, "ACKed at once after idle");
}

#[test]
fn a_lost_retransmission_is_repaired_without_waiting_for_the_rto() {
    let cfg = TcpConfig { nodelay: true, ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    let mss = p.a.mss();
    let first = p.a.snd_nxt();
    let mut drops = 0;
    // The first data segment is lost, and so is its first retransmission.
    p.filter = Box::new(move |dir, _, r| {
        if dir == Dir::AtoB && r.seq_number == first && !r.payload.is_empty() && drops < 2 {
            drops += 1;
            return Fate::Drop;
        }
        Fate::Deliver
    });
    let data = pattern(60 * mss);
    let got = transfer(&mut p, &data, Duration::from_secs(5));
    assert!(got == data);
    let s = p.a.stats();
    // RFC 8985 §6.2: segments sent after the retransmission are SACKed,
    // so RACK finds it lost a round trip later and NextSeg sends it again.
    assert_eq!(s.rto_timeouts, 0, "{s:?}");
    assert!(s.lost_retransmits >= 1, "{s:?}");
}

/// RFC 2018 §8: a receiver may discard data it has SACKed (Linux prunes
/// its out-of-order queue under memory pressure). Here it SACKed part of a
/// flight the network lost entirely. The sender must not count on the
/// SACK: at the timeout it finds SACKed data at SND.UNA, forgets what was
/// SACKed, and resends it all (Linux `tcp_timeout_mark_lost`). Before, it
/// waited for ever, with no timer left running.
#[test]
fn a_receiver_that_reneges_on_its_sacks_still_gets_everything() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    let data = pattern(200_000);
    // A flight the network loses entirely...
    let (mut got, mut sent, flight) = warm_then_lose_a_flight(&mut p, &data, 50_000);
    assert!(flight.len() > 4);
    let (una, mss) = (p.a.snd_una(), p.a.mss());
    // ...part of which the receiver SACKs, then no longer holds.
    let sack = TcpRepr {
        src_port: B_ADDR.port(),
        dst_port: A_ADDR.port(),
        seq_number: p.b.snd_nxt(),
        ack_number: Some(una),
        window_len: 1000,
        timestamp: p.last_timestamp(Dir::BtoA),
        sack_ranges: [Some((una + mss, una + 3 * mss)), None, None, None],
        ..TcpRepr::default()
    };
    p.a.on_segment(p.now, &sack);
    let mut buf = vec![0u8; 65536];
    let deadline = p.now + Duration::from_secs(60);
    while got.len() < data.len() {
        assert!(p.now < deadline && p.a.poll_at().is_some(), "stalled at {} of {}", got.len(), data.len());
        sent += p.a.send(&data[sent..]).unwrap_or(0);
        while let Ok(n @ 1..) = p.b.recv(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        p.step();
    }
    assert!(got == data);
    assert!(p.a.stats().sack_reneging >= 1);
}

/// RFC 7323 §4.1 lets an echoed timestamp time an ACK of retransmitted
/// data, but not an echo older than the retransmission: when the ACKs of
/// data the receiver holds are lost, the sender retransmits, the receiver
/// answers the duplicate with the TS.Recent it had (from the original),
/// and that echo would time the ACK loss, seconds, not the path. Such a
/// sample is skipped, so the estimate stays the path's.
#[test]
fn an_echo_older_than_the_retransmission_does_not_time_it() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    let _ = transfer(&mut p, &pattern(100_000), Duration::from_secs(5));
    let srtt = p.a.stats().srtt;
    assert!(srtt < Duration::from_millis(100), "{srtt:?}");
    // B gets everything; all its ACKs are lost for three seconds, while A
    // times out and retransmits.
    p.a.send(&pattern(20_000)).unwrap();
    let until = p.now + Duration::from_secs(3);
    p.filter = Box::new(move |dir, _, _| if dir == Dir::BtoA { Fate::Drop } else { Fate::Deliver });
    p.run_until(|p| p.now >= until, Duration::from_secs(5));
    assert!(p.a.stats().rto_timeouts >= 2 && p.b.recv_queue() >= 20_000);
    p.filter = Box::new(|_, _, _| Fate::Deliver);
    p.run_until(|p| p.a.snd_una() == p.a.snd_nxt(), Duration::from_secs(30));
    let after = p.a.stats().srtt;
    assert!(after < Duration::from_millis(200), "srtt {after:?} (was {srtt:?}): the ACK loss was timed");
}

/// Hands `segs`, which A sent and a test drained by hand, to B at `at`,
/// and B's answers to A a hop later, for the pair to carry on from there.
fn hand_over(p: &mut Pair, segs: &[Seg], at: Instant) {
    for s in segs {
        p.b.on_segment(at, &s.repr());
        for a in drain(&mut p.b, at) {
            p.a.on_segment(at + D, &a.repr());
        }
    }
    p.window_rule.complete = false;
    p.now = p.now.max(at + D);
}

/// Runs `c`'s timers (a tail loss probe's first), nothing answering,
/// until its retransmission timer fires: when it did, and the data segment
/// it resent.
fn until_the_timeout(c: &mut Connection) -> (Instant, Seg) {
    loop {
        let t = c.poll_at().expect("a timer runs");
        c.on_timer(t);
        let sent = drain(c, t);
        if c.stats().rto_timeouts > 0 {
            let rexmit = sent.into_iter().find(|s| !s.repr().payload.is_empty());
            return (t, rexmit.expect("the timeout resends the first segment"));
        }
    }
}

/// A pair past slow start (a window of many segments, then quiet), and a
/// flight of ten segments A has just sent: A's statistics before it, the
/// flight, and B's ACKs for it, held back (a delay spike), if `delivered`
/// (else B never got it).
fn warm_then_a_flight_of_ten(cfg: &TcpConfig, delivered: bool) -> (Pair, sockstack_tcp::TcpStats, Vec<Seg>, Vec<Seg>) {
    let mut p = established_after_one_byte(cfg);
    let warm = pattern(400_000);
    assert!(transfer(&mut p, &warm, Duration::from_secs(10)) == warm);
    p.run_until(|p| p.a.snd_una() == p.a.snd_nxt(), Duration::from_secs(5));
    p.run_for(Duration::from_millis(300));
    let (now, mss) = (p.now, p.a.mss());
    let before = p.a.stats();
    assert!(before.cwnd >= 30 * mss, "{before:?}");
    p.a.send(&pattern(10 * mss)).unwrap();
    let out = drain(&mut p.a, now);
    assert_eq!(out.len(), 10);
    let mut acks = Vec::new();
    if delivered {
        for s in &out {
            p.b.on_segment(now + D, &s.repr());
            acks.extend(drain(&mut p.b, now + D));
        }
        assert!(!acks.is_empty());
    }
    (p, before, out, acks)
}

/// RFC 3522 §3.2 with RFC 4015 §3: a flight whose ACKs come only after
/// the retransmission timer fired. The first ACK echoes the timestamp of
/// an original transmission, older than the retransmission's: the timeout
/// was spurious, its window reduction is undone, and nothing else of the
/// flight is resent. When the originals were lost, the ACK echoes the
/// retransmission, and the reduction stands.
#[test]
fn a_timeout_whose_originals_arrive_is_undone_by_their_timestamps() {
    let cfg = TcpConfig { nodelay: true, ..TcpConfig::default() };
    for late in [true, false] {
        // B's ACKs for the originals, held back, if B got them.
        let (mut p, before, out, mut acks) = warm_then_a_flight_of_ten(&cfg, late);
        let mss = p.a.mss();
        // A's timers run (the tail loss probe first) until the timeout.
        let (t, rto_rexmit) = until_the_timeout(&mut p.a);
        assert_eq!(rto_rexmit.repr().seq_number, out[0].repr().seq_number);
        let reduced = p.a.stats();
        assert_eq!(reduced.cwnd, mss, "{reduced:?}");
        let t = t + D;
        if !late {
            // Only the retransmission gets through: B's ACK echoes it.
            p.b.on_segment(t, &rto_rexmit.repr());
            acks.extend(drain(&mut p.b, t));
        }
        let mut resent = Vec::new();
        for (i, a) in acks.iter().enumerate() {
            p.a.on_segment(t + D, &a.repr());
            resent.extend(drain(&mut p.a, t + D).into_iter().filter(|s| !s.repr().payload.is_empty()));
            if late && i == 0 {
                // RFC 4015 §3: ssthresh as before the timeout, the window
                // no more than FlightSize + IW (no burst).
                let st = p.a.stats();
                let flight = p.a.snd_nxt() - p.a.snd_una();
                assert_eq!(st.ssthresh, before.ssthresh, "{st:?}");
                assert!(st.cwnd > mss && st.cwnd <= flight + 10 * mss && st.cwnd < before.cwnd, "{st:?}");
            }
        }
        let after = p.a.stats();
        if late {
            assert_eq!(after.spurious_rtos, 1, "{after:?}");
            assert_eq!(after.ssthresh, before.ssthresh, "back in slow start: {after:?}");
            let offs: Vec<_> = resent.iter().map(|s| (s.repr().seq_number - out[0].repr().seq_number) / mss).collect();
            assert!(resent.is_empty(), "the flight was delivered: nothing to resend, got {offs:?} {after:?}");
            assert_eq!(p.a.snd_una(), p.a.snd_nxt());
            assert!(recv_exactly(&mut p.b, 10 * mss) == pattern(10 * mss));
        } else {
            assert_eq!(after.spurious_rtos, 0, "{after:?}");
            assert!(after.ssthresh < before.ssthresh && after.cwnd < before.cwnd, "{after:?}");
            // The rest of the flight follows, as the slow-starting window allows.
            assert!(resent.first().is_some_and(|s| s.repr().seq_number == out[1].repr().seq_number));
        }
    }
}

/// RFC 4015 §3, adapting the retransmission timer: after a timeout found
/// spurious, the first RTT sample of data sent after it re-initialises the
/// estimator, SRTT = max(SRTT before the timeout + 2G, sample) and RTTVAR
/// = max(RTTVAR before, sample / 2), so a path whose delay jumped does not
/// fire the timer again while SRTT creeps up an eighth at a time. The
/// estimator before the timeout is what comes back: the backed-off RTO
/// does not stay. A timeout that was genuine leaves the next sample an
/// ordinary one (RFC 6298 §2.3).
#[test]
fn a_spurious_timeout_rebases_the_retransmission_timer_on_the_next_sample() {
    let cfg = TcpConfig { nodelay: true, ..TcpConfig::default() };
    for spurious in [true, false] {
        // B gets the flight (or, when the timeout is genuine, only its
        // retransmission); its ACKs come after the timeout.
        let (mut p, before, _, mut acks) = warm_then_a_flight_of_ten(&cfg, spurious);
        let mss = p.a.mss();
        let (t, rexmit) = until_the_timeout(&mut p.a);
        assert!(p.a.stats().rto > before.rto, "backed off");
        let mut t = t + D;
        // The retransmission gets through: B's answer echoes it, a sample
        // of data sent before the timeout, which must fold in as usual.
        p.b.on_segment(t, &rexmit.repr());
        let answer = drain(&mut p.b, t);
        assert!(!answer.is_empty());
        if spurious {
            // After the first late ACK, which shows the timeout spurious.
            acks.splice(1..1, answer);
        } else {
            acks.extend(answer);
        }
        t += D;
        for a in &acks {
            p.a.on_segment(t, &a.repr());
            drain(&mut p.a, t);
        }
        assert_eq!(p.a.stats().spurious_rtos, u64::from(spurious));
        if !spurious {
            // The rest of the flight, resent, is delivered and acknowledged.
            t += Duration::from_millis(50);
            let rest = drain(&mut p.a, t);
            hand_over(&mut p, &rest, t);
            p.run_until(|p| p.a.snd_una() == p.a.snd_nxt(), Duration::from_secs(5));
            t = p.now + Duration::from_millis(50);
        }
        let est = p.a.stats();
        // New data, timed at 50 ms (Karn's timing: the first new segment).
        let m = Duration::from_millis(50);
        p.a.send(&pattern(2 * mss)).unwrap();
        let new = drain(&mut p.a, t);
        assert_eq!(new.len(), 2);
        let mut new_acks = Vec::new();
        for s in &new {
            p.b.on_segment(t + m / 2, &s.repr());
            new_acks.extend(drain(&mut p.b, t + m / 2));
        }
        p.window_rule.complete = false;
        p.a.on_segment(t + m, &new_acks[0].repr());
        let after = p.a.stats();
        if spurious {
            let srtt = (before.srtt + Duration::from_millis(2)).max(m);
            let rttvar = before.rttvar.max(m / 2);
            assert!(before.srtt + Duration::from_millis(2) < m, "{before:?}");
            assert_eq!((after.srtt, after.rttvar), (srtt, rttvar), "{before:?} {after:?}");
            assert_eq!(after.rto, (srtt + 4 * rttvar).max(cfg.rto_min), "{after:?}");
        } else {
            // RFC 6298 §2.3: RTTVAR from the old SRTT, then SRTT.
            let (s, v) = (est.srtt.as_micros() as u64, est.rttvar.as_micros() as u64);
            let r = m.as_micros() as u64;
            let rttvar = Duration::from_micros(v * 3 / 4 + s.abs_diff(r) / 4);
            let srtt = Duration::from_micros(s * 7 / 8 + r / 8);
            assert_eq!((after.srtt, after.rttvar), (srtt, rttvar), "{est:?} {after:?}");
        }
    }
}

/// RFC 3522's comparison is with the episode's first retransmission (Linux
/// `retrans_stamp`): here a tail loss probe that repaired a lost last
/// segment. The timeout that follows (every ACK lost) resends a segment B
/// holds; B answers with the probe's timestamp, older than the timeout's
/// retransmission but not than the probe: the timeout stands.
#[test]
fn a_timeout_after_a_probe_that_repaired_the_tail_is_not_undone() {
    let cfg = TcpConfig { nodelay: true, ..TcpConfig::default() };
    let mut p = established_after_one_byte(&cfg);
    let (now, mss) = (p.now, p.a.mss());
    let before = p.a.stats();
    p.a.send(&pattern(10 * mss)).unwrap();
    let out = drain(&mut p.a, now);
    assert_eq!(out.len(), 10);
    // B gets all but the last segment; its ACKs are lost.
    for s in &out[..9] {
        p.b.on_segment(now + D, &s.repr());
        drain(&mut p.b, now + D);
    }
    // A's probe resends the last segment; B takes it, and that ACK is lost too.
    let pto = p.a.poll_at().expect("the probe timer runs");
    p.a.on_timer(pto);
    let probe: Vec<_> = drain(&mut p.a, pto).into_iter().filter(|s| !s.repr().payload.is_empty()).collect();
    assert_eq!(probe.len(), 1);
    assert_eq!(probe[0].repr().seq_number, out[9].repr().seq_number);
    p.b.on_segment(pto + D, &probe[0].repr());
    drain(&mut p.b, pto + D);
    assert!(recv_exactly(&mut p.b, 10 * mss) == pattern(10 * mss));
    // The timeout resends segment 0, which B holds already.
    let (t, rexmit) = until_the_timeout(&mut p.a);
    assert_eq!(rexmit.repr().seq_number, out[0].repr().seq_number);
    p.b.on_segment(t + D, &rexmit.repr());
    for a in drain(&mut p.b, t + D) {
        p.a.on_segment(t + 2 * D, &a.repr());
        drain(&mut p.a, t + 2 * D);
    }
    let after = p.a.stats();
    assert_eq!(p.a.snd_una(), p.a.snd_nxt(), "{after:?}");
    assert_eq!(after.spurious_rtos, 0, "{after:?}");
    assert!(after.ssthresh < before.ssthresh && after.cwnd < before.cwnd, "{after:?}");
}

/// After a spurious timeout is undone there is no go-back-N resend for
/// RFC 6582's guard to protect: a segment of that flight found lost by
/// the ACKs that follow starts a fast recovery (with its window
/// reduction), as any loss would.
#[test]
fn a_loss_in_a_flight_whose_timeout_was_undone_starts_a_fast_recovery() {
    let cfg = TcpConfig { nodelay: true, ..TcpConfig::default() };
    let mut p = established_after_one_byte(&cfg);
    let (now, mss) = (p.now, p.a.mss());
    p.a.send(&pattern(10 * mss)).unwrap();
    let out = drain(&mut p.a, now);
    assert_eq!(out.len(), 10);
    // Segment 2 is lost; B's ACKs for the others are held back.
    let mut acks = Vec::new();
    for s in out.iter().enumerate().filter(|(i, _)| *i != 2).map(|(_, s)| s) {
        p.b.on_segment(now + D, &s.repr());
        acks.extend(drain(&mut p.b, now + D));
    }
    // A's probe and its timeout go unanswered.
    let (t, _) = until_the_timeout(&mut p.a);
    let mut resent = Vec::new();
    for a in &acks {
        p.a.on_segment(t + D, &a.repr());
        resent.extend(drain(&mut p.a, t + D).into_iter().filter(|s| !s.repr().payload.is_empty()));
    }
    let st = p.a.stats();
    assert_eq!(st.spurious_rtos, 1, "{st:?}");
    assert_eq!(st.fast_retransmits, 1, "{st:?}");
    assert!(st.ssthresh < usize::MAX, "the loss reduced the window: {st:?}");
    assert_eq!(resent.first().map(|s| s.repr().seq_number), Some(out[2].repr().seq_number));
    p.b.on_segment(t + 2 * D, &resent[0].repr());
    assert!(recv_exactly(&mut p.b, 10 * mss) == pattern(10 * mss));
}

/// F-RTO (RFC 5682 §3.1), without timestamps. After the timeout's
/// retransmission is acknowledged, two new segments go instead of more
/// retransmissions; if the next ACK acknowledges data the timeout did not
/// resend, the rest of the flight was not lost: the timeout is undone
/// (RFC 4015 §3). If it is a duplicate ACK instead, the loss was real and
/// the conventional recovery resends the flight, without waiting for a
/// second timeout (with SACK or without).
#[test]
fn f_rto_tells_a_spurious_timeout_from_a_real_one_without_timestamps() {
    for (late, sack) in [(true, true), (false, true), (true, false), (false, false)] {
        let cfg = TcpConfig { nodelay: true, ..cfg(false, sack, true) };
        let mut p = established_after_one_byte(&cfg);
        let (now, mss) = (p.now, p.a.mss());
        let before = p.a.stats();
        assert!(!before.timestamps);
        // Ten segments go (the initial window); four wait.
        p.a.send(&pattern(14 * mss)).unwrap();
        let out = drain(&mut p.a, now);
        assert_eq!(out.len(), 10);
        let seq = |s: &Seg| s.repr().seq_number - out[0].repr().seq_number;
        // B's ACKs for the flight, held back, if B got it.
        let mut acks = Vec::new();
        if late {
            for s in &out {
                p.b.on_segment(now + D, &s.repr());
                acks.extend(drain(&mut p.b, now + D));
            }
        }
        // The probe (a new segment) and the timeout go unanswered.
        let (t, rexmit) = until_the_timeout(&mut p.a);
        assert_eq!(seq(&rexmit), 0);
        let new_before = p.a.snd_nxt();
        let t = t + D;
        if !late {
            // Only the retransmission gets through.
            p.b.on_segment(t, &rexmit.repr());
            acks.extend(drain(&mut p.b, t));
        }
        // Step 2: the first ACK advances SND.UNA short of the flight's end:
        // two new segments answer it, and no retransmission.
        p.a.on_segment(t + D, &acks[0].repr());
        let step2 = drain(&mut p.a, t + D);
        let data: Vec<_> = step2.iter().filter(|s| !s.repr().payload.is_empty()).collect();
        assert_eq!(data.len(), 2, "late {late}, sack {sack}");
        assert!(data.iter().all(|s| s.repr().seq_number.ge(new_before)), "new data, late {late}");
        let t = t + 2 * D;
        let data: Vec<Seg> = data.into_iter().cloned().collect();
        let next = if late {
            // Step 3: the next ACK of the flight acknowledges data never
            // resent.
            acks[1].clone()
        } else {
            // Step 3: B holds a hole; the new segments bring a duplicate ACK.
            let mut dup = Vec::new();
            for s in &data {
                p.b.on_segment(t, &s.repr());
                dup.extend(drain(&mut p.b, t));
            }
            dup.remove(0)
        };
        p.a.on_segment(t + D, &next.repr());
        let after_step3: Vec<_> = drain(&mut p.a, t + D).into_iter().filter(|s| !s.repr().payload.is_empty()).collect();
        let st = p.a.stats();
        if late {
            assert_eq!(st.spurious_rtos, 1, "sack {sack}: {st:?}");
            assert_eq!(st.ssthresh, before.ssthresh, "{st:?}");
            assert!(after_step3.iter().all(|s| s.repr().seq_number.ge(new_before)), "nothing resent: {st:?}");
        } else {
            assert_eq!(st.spurious_rtos, 0, "sack {sack}: {st:?}");
            assert!(st.ssthresh < before.ssthresh, "{st:?}");
            assert_eq!(after_step3.first().map(seq), Some(mss), "sack {sack}: the flight resent from segment 1");
        }
        // Either way the stream completes whole, once what A sent in the
        // steps reaches B (and the rest of B's ACKs, A).
        let sent_in_steps: Vec<Seg> = if late { data.into_iter().chain(after_step3).collect() } else { after_step3 };
        hand_over(&mut p, &sent_in_steps, t + 2 * D);
        if late {
            for a in &acks[2..] {
                p.a.on_segment(t + 3 * D, &a.repr());
            }
        }
        p.run_until(|p| p.b.recv_queue() >= 14 * mss && p.a.snd_una() == p.a.snd_nxt(), Duration::from_secs(30));
        assert!(recv_exactly(&mut p.b, 14 * mss) == pattern(14 * mss), "late {late}, sack {sack}");
        assert_eq!(p.a.stats().rto_timeouts, 1, "late {late}, sack {sack}: no second timeout");
    }
}

/// RFC 4015 §3's timer adaptation after an undo by F-RTO (no
/// timestamps): the first ACK of the new data sent in F-RTO's step 2b, the
/// first data sent after the timeout, re-initialises the estimator with
/// its sample (timed by Karn's rule), from the estimate before the
/// timeout.
#[test]
fn an_undo_by_f_rto_rebases_the_retransmission_timer_too() {
    for sack in [true, false] {
        let cfg = TcpConfig { nodelay: true, ..cfg(false, sack, true) };
        let mut p = established_after_one_byte(&cfg);
        let now = p.now;
        let mss = p.a.mss();
        let before = p.a.stats();
        p.a.send(&pattern(14 * mss)).unwrap();
        let out = drain(&mut p.a, now);
        assert_eq!(out.len(), 10);
        // B gets the flight; its ACKs are held back past the timeout.
        let mut acks = Vec::new();
        for s in &out {
            p.b.on_segment(now + D, &s.repr());
            acks.extend(drain(&mut p.b, now + D));
        }
        // The tail loss probe (a new segment), if any, and the timeout go
        // unanswered; the probe reaches B with the new segments below.
        let mut probe = Vec::new();
        let t = loop {
            let t = p.a.poll_at().expect("a timer runs");
            p.a.on_timer(t);
            let sent = drain(&mut p.a, t);
            if p.a.stats().rto_timeouts > 0 {
                break t;
            }
            probe.extend(sent.into_iter().filter(|s| !s.repr().payload.is_empty()));
        };
        // (RFC 8985 §7: a probe needs SACK.)
        assert_eq!(probe.len(), usize::from(sack), "sack {sack}: one probe");
        // Step 2b: two new segments, sent (and timed) at t + D.
        p.a.on_segment(t + D, &acks[0].repr());
        let new: Vec<Seg> = drain(&mut p.a, t + D).into_iter().filter(|s| !s.repr().payload.is_empty()).collect();
        assert_eq!(new.len(), 2, "sack {sack}");
        // Step 3: the next ACK of the flight shows the timeout spurious.
        p.a.on_segment(t + 2 * D, &acks[1].repr());
        assert_eq!(p.a.stats().spurious_rtos, 1, "sack {sack}");
        assert_eq!((p.a.stats().srtt, p.a.stats().rttvar), (before.srtt, before.rttvar), "no sample yet");
        // B takes the new segments late; the ACK of both comes back 100 ms
        // after they went.
        let m = Duration::from_millis(100);
        let mut answer = Vec::new();
        for s in probe.iter().chain(&new) {
            p.b.on_segment(t + D + m / 2, &s.repr());
            answer.extend(drain(&mut p.b, t + D + m / 2));
        }
        let top = answer.iter().max_by_key(|a| a.repr().ack_number.map(|n| n - new[0].repr().seq_number)).unwrap();
        p.window_rule.complete = false;
        p.a.on_segment(t + D + m, &top.repr());
        let after = p.a.stats();
        let srtt = (before.srtt + Duration::from_millis(2)).max(m);
        let rttvar = before.rttvar.max(m / 2);
        assert!(before.srtt + Duration::from_millis(2) < m, "{before:?}");
        assert_eq!((after.srtt, after.rttvar), (srtt, rttvar), "sack {sack}: {before:?} {after:?}");
    }
}

/// F-RTO needs new data to send in its step 2b: with none, the ACK of the
/// timeout's retransmission is followed by the conventional recovery at
/// once (RFC 5682 §2.1), not by a wait for the next timeout. (Without
/// SACK, so that no tail loss probe resends the tail first, which would
/// keep F-RTO from starting at all.)
#[test]
fn f_rto_without_new_data_goes_on_with_the_conventional_recovery() {
    let cfg = TcpConfig { nodelay: true, ..cfg(false, false, true) };
    let mut p = established_after_one_byte(&cfg);
    let (now, mss) = (p.now, p.a.mss());
    p.a.send(&pattern(10 * mss)).unwrap();
    let out = drain(&mut p.a, now);
    assert_eq!(out.len(), 10);
    // Everything but the first segment is lost; the timeout resends it.
    let (t, rexmit) = until_the_timeout(&mut p.a);
    p.b.on_segment(t + D, &rexmit.repr());
    let acks = drain(&mut p.b, t + D);
    p.a.on_segment(t + 2 * D, &acks[0].repr());
    let next: Vec<_> = drain(&mut p.a, t + 2 * D).into_iter().filter(|s| !s.repr().payload.is_empty()).collect();
    assert!(!next.is_empty() && next.iter().all(|s| s.repr().seq_number.lt(p.a.snd_nxt())), "retransmissions");
    assert_eq!(next[0].repr().seq_number, out[1].repr().seq_number);
    hand_over(&mut p, &next, t + 3 * D);
    p.run_until(|p| p.a.snd_una() == p.a.snd_nxt(), Duration::from_secs(30));
    assert!(recv_exactly(&mut p.b, 10 * mss) == pattern(10 * mss));
    assert_eq!(p.a.stats().rto_timeouts, 1);
}
