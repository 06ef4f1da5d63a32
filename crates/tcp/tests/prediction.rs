//! Header prediction and burst transmission are optimisations, not
//! behaviours: the same transfers, run with them and without, must put the
//! very same segments on the wire at the very same times, and deliver the
//! same bytes.

mod common;
use common::*;
use sockstack_tcp::{CongestionAlgorithm, Keepalive, TcpConfig};
use sockstack_time::{Duration, Instant};

const D: Duration = Duration::from_millis(5);

/// What a run produced: every segment (time, direction, bytes), the bytes
/// each side read, and how many segments each side predicted.
struct Run {
    log: Vec<(Instant, Dir, Vec<u8>)>,
    got: (Vec<u8>, Vec<u8>),
    predicted: (u64, u64),
    segs_in: (u64, u64),
    /// Zero-window probes sent, both sides.
    window_probes: u64,
}

/// How the applications move bytes: writes of at most `chunk`, and reads
/// of at most `read` octets once every `pace` of virtual time (a slow
/// reader closes the window).
#[derive(Clone, Copy)]
struct App {
    chunk: usize,
    read: usize,
    pace: Duration,
}

const GREEDY: App = App { chunk: usize::MAX, read: usize::MAX, pace: Duration::ZERO };

/// Writes of at most `chunk`, reads of all there is.
const fn writes_of(chunk: usize) -> App {
    App { chunk, ..GREEDY }
}

/// Moves `up` A→B and `down` B→A at once through `filter`, both sides
/// writing and reading as `app` says.
fn exchange(cfg: &TcpConfig, filter: Filter, up: &[u8], down: &[u8], app: App) -> Run {
    let mut p = Pair::established(cfg, cfg, D);
    p.filter = filter;
    let (mut su, mut sd) = (0usize, 0usize);
    let (mut gu, mut gd) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 65536];
    let deadline = p.now + Duration::from_secs(600);
    let mut next_read = p.now;
    while gu.len() < up.len() || gd.len() < down.len() {
        assert!(
            p.now < deadline,
            "stalled: {} of {}, {} of {}; prediction {}; a {:?}; b {:?}",
            gu.len(),
            up.len(),
            gd.len(),
            down.len(),
            cfg.header_prediction,
            p.a.stats(),
            p.b.stats()
        );
        su += p.a.send(&up[su..up.len().min(su.saturating_add(app.chunk))]).unwrap_or(0);
        sd += p.b.send(&down[sd..down.len().min(sd.saturating_add(app.chunk))]).unwrap_or(0);
        let read = buf.len().min(app.read);
        let (mut ru, mut rd) = if p.now >= next_read { (0, 0) } else { (app.read, app.read) };
        if ru == 0 {
            next_read = p.now + app.pace;
        }
        while ru < app.read {
            let Ok(n @ 1..) = p.b.recv(&mut buf[..read.min(app.read - ru)]) else { break };
            gu.extend_from_slice(&buf[..n]);
            ru += n;
        }
        while rd < app.read {
            let Ok(n @ 1..) = p.a.recv(&mut buf[..read.min(app.read - rd)]) else { break };
            gd.extend_from_slice(&buf[..n]);
            rd += n;
        }
        if !p.step() {
            // Nothing in flight or due: the reader's next turn comes.
            p.now = p.now.max(next_read);
        }
    }
    p.run_for(Duration::from_secs(1));
    let (sa, sb) = (p.a.stats(), p.b.stats());
    Run {
        log: p.log.into_iter().map(|(t, d, s)| (t, d, s.bytes)).collect(),
        got: (gu, gd),
        predicted: (sa.predicted_segments, sb.predicted_segments),
        segs_in: (sa.segs_in, sb.segs_in),
        window_probes: sa.window_probes + sb.window_probes,
    }
}

/// Runs the scenario with and without prediction and compares.
fn same_either_way(cfg: TcpConfig, filter: impl Fn() -> Filter, up: &[u8], down: &[u8], app: App) -> Run {
    let on = exchange(&TcpConfig { header_prediction: true, ..cfg.clone() }, filter(), up, down, app);
    let off = exchange(&TcpConfig { header_prediction: false, ..cfg }, filter(), up, down, app);
    assert!(on.got.0 == up && on.got.1 == down, "bytes delivered intact");
    assert_eq!(off.predicted, (0, 0), "off means off");
    assert!(on.predicted.0 > 0 && on.predicted.1 > 0, "prediction taken: {:?}", on.predicted);
    same_segments(&on.log, &off.log, "");
    on
}

/// The two logs hold the same segments, byte for byte, at the same times.
fn same_segments(on: &[(Instant, Dir, Vec<u8>)], off: &[(Instant, Dir, Vec<u8>)], context: &str) {
    for (i, ((t1, d1, b1), (t2, d2, b2))) in on.iter().zip(off).enumerate() {
        let first = b1.iter().zip(b2).position(|(x, y)| x != y);
        assert!(
            (t1, d1, b1.len(), first) == (t2, d2, b2.len(), None),
            "{context}: segment {i} differs: {t1} {d1:?} {} B against {t2} {d2:?} {} B, first differing octet {first:?}",
            b1.len(),
            b2.len()
        );
    }
    assert_eq!(on.len(), off.len(), "{context}: as many segments either way");
}

/// The same faults for each run of a scenario (the handshake spared).
fn faulty(seed: u64, drop: u64, dup: u64, delay: u64) -> impl Fn() -> Filter {
    move || faults(Rng(seed), 3, drop, dup, delay, Duration::from_millis(9))
}

#[test]
fn clean_bulk_is_nearly_all_predicted() {
    let data = pattern(2 << 20);
    let run = same_either_way(TcpConfig::default(), faulty(1, 0, 0, 0), &data, &[], GREEDY);
    // B's input is A's data: all in order, all predicted but the first.
    // A's is B's ACKs (one per batch the harness delivers): those of new
    // data are predicted, window updates and the handshake's are not.
    assert!(run.predicted.1 + 2 >= run.segs_in.1, "{:?} of {:?}", run.predicted, run.segs_in);
    assert!(run.predicted.0 * 2 >= run.segs_in.0, "{:?} of {:?}", run.predicted, run.segs_in);
}

#[test]
fn loss_reordering_and_duplication_both_ways() {
    let up = pattern(1 << 20);
    let down: Vec<u8> = pattern(700_000).into_iter().rev().collect();
    same_either_way(TcpConfig::default(), faulty(2024, 3, 3, 4), &up, &down, GREEDY);
}

#[test]
fn request_response_in_small_writes() {
    let up = pattern(200_000);
    let down: Vec<u8> = pattern(150_000).into_iter().rev().collect();
    let cfg = TcpConfig { nodelay: true, ..TcpConfig::default() };
    same_either_way(cfg.clone(), faulty(7, 0, 0, 0), &up, &down, writes_of(100));
    same_either_way(cfg, faulty(8, 2, 1, 2), &up, &down, writes_of(100));
    // Nagle and delayed ACKs in play.
    same_either_way(TcpConfig::default(), faulty(9, 1, 0, 1), &up, &down, writes_of(300));
}

#[test]
fn without_sack_timestamps_or_window_scaling() {
    let up = pattern(600_000);
    let down = pattern(100_000);
    let newreno = TcpConfig { congestion: CongestionAlgorithm::NewReno, sack: false, ..TcpConfig::default() };
    same_either_way(newreno, faulty(3, 4, 0, 2), &up, &down, GREEDY);
    same_either_way(cfg(false, false, false), faulty(4, 3, 2, 3), &up, &down, GREEDY);
    same_either_way(cfg(false, true, true), faulty(5, 3, 2, 3), &up, &down, writes_of(5000));
}

/// Bursts of eight segments whose last two are lost once each: the tail
/// loss probe's timer, re-armed by every ACK of the burst's head, decides
/// when the tail is repaired.
fn tail_losses(prediction: bool) -> (Vec<(Instant, Dir, Vec<u8>)>, u64) {
    let cfg = TcpConfig { header_prediction: prediction, ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    transfer(&mut p, &pattern(50_000), Duration::from_secs(5));
    p.run_for(Duration::from_millis(300));
    let mss = p.a.mss();
    let base = p.a.snd_nxt();
    let mut dropped = Vec::new();
    p.filter = Box::new(move |dir, _, r| {
        let slot = (r.seq_number - base) / mss;
        if dir == Dir::AtoB && !r.payload.is_empty() && slot % 8 >= 6 && !dropped.contains(&r.seq_number) {
            dropped.push(r.seq_number);
            return Fate::Drop;
        }
        Fate::Deliver
    });
    p.log.clear();
    for _ in 0..6 {
        let data = pattern(8 * mss);
        assert!(transfer(&mut p, &data, Duration::from_secs(5)) == data);
        p.run_for(Duration::from_millis(300));
    }
    let log = p.log.into_iter().map(|(t, d, s)| (t, d, s.bytes)).collect();
    (log, p.a.stats().tail_loss_probes)
}

#[test]
fn tail_loss_probes_fire_at_the_same_times() {
    let (on, probes) = tail_losses(true);
    let (off, _) = tail_losses(false);
    assert!(probes >= 6, "a probe per burst: {probes}");
    same_segments(&on, &off, "tail losses");
}

#[test]
fn slow_readers_small_windows_and_keepalive() {
    // Receive buffers of 8 KiB read 3000 octets every 250 ms: the window
    // closes for longer than the RTO, so the sender probes it (persist),
    // and opens again (window updates), with keepalive on.
    let cfg = TcpConfig {
        rcv_buf: 8192,
        rcv_buf_max: 8192,
        keepalive: Some(Keepalive { idle: Duration::from_secs(1), interval: Duration::from_secs(1), count: 5 }),
        ..TcpConfig::default()
    };
    let up = pattern(100_000);
    let down: Vec<u8> = pattern(40_000).into_iter().rev().collect();
    let slow = App { chunk: usize::MAX, read: 3000, pace: Duration::from_millis(250) };
    let run = same_either_way(cfg.clone(), faulty(11, 0, 0, 0), &up, &down, slow);
    same_either_way(cfg, faulty(12, 2, 1, 2), &up, &down, slow);
    assert!(run.window_probes > 0, "the window closed");
}

/// Many small exchanges, each with its own mix of faults, options, buffer
/// sizes, congestion control, keepalive and application pace. (A sweep
/// like this one found a divergence, which this one catches too: an
/// in-order segment that must not update the send window, because an
/// out-of-order one beyond it did last.)
#[test]
fn random_mixes_of_faults_options_and_pace() {
    random_mixes(5000..6000, |c, seed, filter, up, down, app| {
        let run = |header_prediction| {
            let cfg = TcpConfig { header_prediction, ..c.clone() };
            exchange(&cfg, filter(), up, down, app)
        };
        let (on, off) = (run(true), run(false));
        assert!(on.got.0 == up && on.got.1 == down, "seed {seed}: bytes delivered intact");
        same_segments(&on.log, &off.log, &format!("seed {seed}"));
    });
}

/// `poll_transmit_burst` (what the stack calls) against one
/// `poll_transmit` call per segment.
#[test]
fn bursts_send_what_single_calls_send() {
    random_mixes(7000..7600, |c, seed, filter, up, down, app| {
        let run = |burst: bool| {
            BURST.with(|b| b.set(burst));
            let r = exchange(c, filter(), up, down, app);
            BURST.with(|b| b.set(true));
            r
        };
        let (on, off) = (run(true), run(false));
        assert!(on.got.0 == up && on.got.1 == down, "seed {seed}: bytes delivered intact");
        same_segments(&on.log, &off.log, &format!("seed {seed}"));
    });
}

/// Runs `check` on random transfers: faults, options, buffer sizes,
/// congestion control and application pace drawn from each seed.
fn random_mixes(seeds: std::ops::Range<u64>, check: impl Fn(&TcpConfig, u64, &dyn Fn() -> Filter, &[u8], &[u8], App)) {
    for seed in seeds {
        let mut r = Rng(seed);
        let mut chance = |n: u64| r.next() % n;
        let (drop, dup, delay) = (chance(8), chance(5), chance(12));
        let mut c = TcpConfig {
            nodelay: chance(2) == 0,
            timestamps: chance(4) != 0,
            sack: chance(4) != 0,
            window_scale: chance(4) != 0,
            ..TcpConfig::default()
        };
        if chance(3) == 0 {
            c.rcv_buf = 4096 + chance(30_000) as usize;
            c.rcv_buf_max = c.rcv_buf;
        }
        if chance(3) == 0 {
            c.congestion = CongestionAlgorithm::NewReno;
        }
        if chance(4) == 0 {
            c.keepalive = Some(Keepalive { idle: Duration::from_secs(1), interval: Duration::from_secs(1), count: 9 });
        }
        let app = match chance(3) {
            0 => GREEDY,
            1 => writes_of(300 + chance(3000) as usize),
            _ => App {
                chunk: 300 + chance(9000) as usize,
                read: 500 + chance(8000) as usize,
                pace: Duration::from_millis(chance(300)),
            },
        };
        let up = pattern(1 + chance(150_000) as usize);
        let down: Vec<u8> = pattern(1 + chance(80_000) as usize).into_iter().rev().collect();
        check(&c, seed, &faulty(seed, drop, dup, delay), &up, &down, app);
    }
}
