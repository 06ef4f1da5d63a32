//! Bulk transfers through the harness: clean, lossy, reordering,
//! duplicating, with every option combination.

mod common;
use common::*;
use sockstack_tcp::{CongestionAlgorithm, TcpConfig};
use sockstack_time::Duration;

const D: Duration = Duration::from_millis(5);

fn lossy(percent: u64, seed: u64) -> Filter {
    let mut rng = Rng(seed);
    // Handshake segments are spared so the test is about data recovery.
    Box::new(move |_, n, _| if n > 3 && rng.chance(percent) { Fate::Drop } else { Fate::Deliver })
}

#[test]
fn clean_bulk_transfer_byte_exact() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    let data = pattern(4 << 20);
    let got = transfer(&mut p, &data, Duration::from_secs(60));
    assert!(got == data);
    p.run_for(Duration::from_millis(100));
    let s = p.a.stats();
    assert_eq!(s.retransmits, 0);
    assert_eq!(s.bytes_acked, data.len() as u64);
    assert!(s.cwnd > 100 * s.mss, "slow start grew cwnd: {}", s.cwnd);
}

#[test]
fn bulk_with_5_percent_loss_sack_cubic() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    p.filter = lossy(5, 42);
    let data = pattern(3 << 20);
    let got = transfer(&mut p, &data, Duration::from_secs(300));
    assert!(got == data);
    let s = p.a.stats();
    eprintln!("{} {s:?}", p.now);
    assert!(s.retransmits > 0 && s.fast_retransmits > 0, "{s:?}");
    assert!(s.sack_blocks_received > 0);
    assert!(p.b.stats().out_of_order_segments > 0);
}

#[test]
fn bulk_with_5_percent_loss_no_sack_newreno() {
    let cfg = TcpConfig { congestion: CongestionAlgorithm::NewReno, sack: false, ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    p.filter = lossy(5, 7);
    let data = pattern(2 << 20);
    let got = transfer(&mut p, &data, Duration::from_secs(600));
    assert!(got == data);
    let s = p.a.stats();
    eprintln!("{} {s:?}", p.now);
    assert!(s.fast_retransmits > 0, "{s:?}");
    assert_eq!(s.sack_blocks_received, 0);
}

#[test]
fn bulk_with_loss_no_options_at_all() {
    let cfg = cfg(false, false, false);
    let mut p = Pair::established(&cfg, &cfg, D);
    p.filter = lossy(3, 99);
    let data = pattern(1 << 20);
    let got = transfer(&mut p, &data, Duration::from_secs(600));
    assert!(got == data);
}

#[test]
fn bulk_with_reordering() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    let mut rng = Rng(5);
    p.filter = Box::new(move |_, n, _| {
        if n > 3 && rng.chance(10) {
            Fate::Delay(Duration::from_millis(3 + rng.next() % 8))
        } else {
            Fate::Deliver
        }
    });
    let data = pattern(3 << 20);
    let got = transfer(&mut p, &data, Duration::from_secs(300));
    assert!(got == data);
    assert!(p.b.stats().out_of_order_segments > 0);
}

#[test]
fn bulk_with_duplication() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    let mut rng = Rng(11);
    p.filter = Box::new(move |_, _, _| if rng.chance(10) { Fate::Duplicate } else { Fate::Deliver });
    let data = pattern(3 << 20);
    let got = transfer(&mut p, &data, Duration::from_secs(300));
    assert!(got == data);
}

#[test]
fn bulk_with_loss_reorder_and_duplication_both_ways() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    let mut rng = Rng(2024);
    p.filter = Box::new(move |_, n, _| {
        if n <= 3 {
            return Fate::Deliver;
        }
        match rng.next() % 100 {
            0..=2 => Fate::Drop,
            3..=5 => Fate::Duplicate,
            6..=9 => Fate::Delay(Duration::from_millis(rng.next() % 7)),
            _ => Fate::Deliver,
        }
    });
    // Both directions at once.
    let up = pattern(1 << 20);
    let down: Vec<u8> = pattern(1 << 20).into_iter().rev().collect();
    let (mut su, mut sd) = (0, 0);
    let (mut gu, mut gd) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 65536];
    let deadline = p.now + Duration::from_secs(300);
    while gu.len() < up.len() || gd.len() < down.len() {
        assert!(p.now < deadline);
        su += p.a.send(&up[su..]).unwrap_or(0);
        sd += p.b.send(&down[sd..]).unwrap_or(0);
        while let Ok(n @ 1..) = p.b.recv(&mut buf) {
            gu.extend_from_slice(&buf[..n]);
        }
        while let Ok(n @ 1..) = p.a.recv(&mut buf) {
            gd.extend_from_slice(&buf[..n]);
        }
        p.step();
    }
    assert!(gu == up && gd == down);
}

#[test]
fn sequence_space_wraps() {
    // B's ISS is just below 2^32: B→A data crosses the wrap.
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    let data = pattern(100_000);
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while got.len() < data.len() {
        sent += p.b.send(&data[sent..]).unwrap_or(0);
        while let Ok(n @ 1..) = p.a.recv(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        assert!(p.step());
    }
    assert!(got == data);
}

/// RFC 1191 §6.4, RFC 5927 §4.1: a "fragmentation needed" is believed only
/// for a sequence number in flight; then the flight, too big for the path
/// and lost there, is resent at once in smaller segments, and the transfer
/// goes on without a retransmission timeout or a smaller window.
#[test]
fn packet_too_big_resends_the_flight_at_once_in_smaller_segments() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    let data = pattern(300_000);
    // A flight of full segments, which a narrower hop drops.
    let (mut got, sent, flight) = warm_then_lose_a_flight(&mut p, &data, 100_000);
    assert!(flight.len() > 4 && flight.iter().all(|s| s.repr().payload.len() == p.a.mss()), "{}", flight.len());
    let (una, nxt, mss, cwnd) = (p.a.snd_una(), p.a.snd_nxt(), p.a.mss(), p.a.stats().cwnd);
    // Forged or stale: SND.NXT itself, or below SND.UNA.
    assert!(!p.a.on_packet_too_big(nxt, 1000));
    assert!(!p.a.on_packet_too_big(una - 1, 1000));
    assert_eq!(p.a.mss(), mss);
    assert!(drain(&mut p.a, p.now).is_empty(), "nothing resent for a report not believed");
    // The router dropped the whole flight and said why.
    assert!(p.a.on_packet_too_big(una + mss, 1000));
    assert_eq!(p.a.mss(), 1000 - 12);
    assert_eq!(p.a.stats().cwnd / p.a.mss(), cwnd / mss, "the window keeps its segment count");
    let resent = drain(&mut p.a, p.now);
    assert!(!resent.is_empty(), "resent at once");
    assert_eq!(resent[0].repr().seq_number, una, "from the first octet in flight");
    assert!(resent.iter().all(|s| s.repr().payload.len() <= 988));
    // Only what is sent from now on arrives.
    for s in resent {
        p.in_flight.push((p.now + D, 0, Dir::AtoB, s));
    }
    let mut buf = vec![0u8; 65536];
    let mut sent_total = sent;
    let deadline = p.now + Duration::from_secs(10);
    while got.len() < data.len() {
        assert!(p.now < deadline, "stalled at {} of {}", got.len(), data.len());
        if sent_total < data.len() {
            sent_total += p.a.send(&data[sent_total..]).unwrap_or(0);
        }
        while let Ok(n @ 1..) = p.b.recv(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        p.step();
    }
    assert!(got == data);
    assert_eq!(p.a.stats().rto_timeouts, 0, "no retransmission timeout");
}

#[test]
fn path_mss_reduction_mid_transfer() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    let data = pattern(200_000);
    p.a.send(&data[..10_000]).unwrap();
    p.run_for(Duration::from_millis(50));
    p.a.set_path_mss(1000);
    assert_eq!(p.a.mss(), 1000 - 12);
    p.a.set_path_mss(1400);
    assert_eq!(p.a.mss(), 988, "never grows");
    p.log.clear();
    let mut got = vec![0u8; 0];
    let mut buf = vec![0u8; 65536];
    while let Ok(n @ 1..) = p.b.recv(&mut buf) {
        got.extend_from_slice(&buf[..n]);
    }
    got.extend(transfer(&mut p, &data[10_000..], Duration::from_secs(10)));
    assert!(got == data);
    assert!(p.segs(Dir::AtoB).iter().all(|s| s.repr().payload.len() <= 988));
}
