//! The compact TIME-WAIT record (`Connection::to_time_wait`,
//! `TimeWait::restore`) behaves exactly as the whole connection it was
//! made from: the same answers, byte for byte, to any segments at any
//! times, the same end (still in TIME-WAIT until the same deadline, or
//! closed), the same verdict on a reopening SYN.

mod common;

use common::*;
use proptest::prelude::*;
use sockstack_tcp::{Connection, State, TcpConfig, TimeWait};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{SeqNumber, TcpRepr, TcpTimestamp};

const D: Duration = Duration::from_millis(5);

/// A pair that exchanged data both ways and closed, A first: A in
/// TIME-WAIT, B closed.
fn closed_pair(cfg: &TcpConfig) -> Pair {
    let mut p = Pair::established(cfg, cfg, D);
    let data = pattern(3000);
    assert_eq!(transfer(&mut p, &data, Duration::from_secs(5)), data);
    p.b.send(b"bye").unwrap();
    let mut buf = [0u8; 8];
    p.run_until(|p| p.a.recv_queue() == 3, Duration::from_secs(1));
    assert_eq!(p.a.recv(&mut buf).unwrap(), 3);
    p.a.close();
    p.run_until(|p| p.b.state() == State::CloseWait, Duration::from_secs(1));
    assert_eq!(p.b.recv(&mut buf).unwrap(), 0);
    p.b.close();
    p.run_until(|p| p.a.state() == State::TimeWait && p.b.is_closed(), Duration::from_secs(1));
    p
}

/// Everything `c` sends now, as octets on the wire.
fn answers(c: &mut Connection, now: Instant) -> Vec<Vec<u8>> {
    let (src, dst) = (*c.local_addr().ip(), *c.remote_addr().ip());
    let mut out = Vec::new();
    while c.poll_transmit(now, |r| out.push(serialize(r, src, dst).bytes)) {}
    out
}

/// One step of a script: time passes, then a segment from B's side
/// arrives, its fields placed around A's sequence space and TS.Recent.
#[derive(Debug, Clone)]
struct Step {
    wait_ms: u64,
    seq: i64,
    ack: Option<i64>,
    syn: bool,
    fin: bool,
    rst: bool,
    payload: usize,
    window: u16,
    ts: Option<(i64, u32)>,
    sack: Option<(i64, i64)>,
}

fn step() -> impl Strategy<Value = Step> {
    let near = prop_oneof![Just(0i64), Just(-1), Just(1), -3i64..3, -70_000i64..70_000, Just(i64::from(i32::MIN))];
    (
        prop_oneof![Just(0u64), 0u64..2_000, 0u64..130_000],
        near.clone(),
        proptest::option::weighted(0.8, near.clone()),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        prop_oneof![Just(0usize), 1usize..4],
        any::<u16>(),
        proptest::option::weighted(0.7, (near.clone(), any::<u32>())),
        proptest::option::weighted(0.2, (near.clone(), 0i64..5000)),
    )
        .prop_map(|(wait_ms, seq, ack, (syn, fin, rst), payload, window, ts, sack)| Step {
            wait_ms,
            seq,
            ack,
            syn: syn && !rst,
            fin,
            rst: rst && !syn,
            payload,
            window,
            ts,
            sack,
        })
}

fn segment<'a>(s: &Step, full: &Connection, ts_recent: u32, payload: &'a [u8]) -> TcpRepr<'a> {
    let at = |base: SeqNumber, d: i64| SeqNumber(base.0.wrapping_add(d as u32));
    let mut r = TcpRepr {
        src_port: B_ADDR.port(),
        dst_port: A_ADDR.port(),
        seq_number: at(full.rcv_nxt(), s.seq),
        ack_number: s.ack.map(|d| at(full.snd_nxt(), d)),
        syn: s.syn,
        fin: s.fin,
        rst: s.rst,
        window_len: s.window,
        timestamp: s.ts.map(|(d, tsecr)| TcpTimestamp { tsval: ts_recent.wrapping_add(d as u32), tsecr }),
        payload: &payload[..s.payload],
        ..TcpRepr::default()
    };
    if let Some((d, len)) = s.sack {
        let start = at(full.snd_nxt(), d);
        r.sack_ranges[0] = Some((start, start + len as usize));
    }
    r
}

/// TS.Recent as B's last segment to A carried it.
fn last_tsval(p: &Pair) -> u32 {
    p.last_timestamp(Dir::BtoA).map_or(0, |t| t.tsval)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn the_record_answers_as_the_connection_would(
        (ts, sack, ws) in (any::<bool>(), any::<bool>(), any::<bool>()),
        time_wait_s in 1u64..120,
        limit in prop_oneof![Just(1000u32), 0u32..3],
        script in proptest::collection::vec(step(), 1..24),
    ) {
        let cfg = TcpConfig {
            time_wait: Duration::from_secs(time_wait_s),
            challenge_ack_limit: limit,
            ..common::cfg(ts, sack, ws)
        };
        let mut p = closed_pair(&cfg);
        let ts_recent = last_tsval(&p);
        let mut now = p.now;
        let mut full = std::mem::replace(&mut p.a, Connection::connect(now, A_ADDR, B_ADDR, ISS_A, 1460, &cfg));
        let mut record: Option<TimeWait> = full.to_time_wait();
        prop_assert!(record.is_some(), "a closed connection in TIME-WAIT compacts");
        let payload = [0x5a_u8; 3];
        for s in &script {
            now += Duration::from_millis(s.wait_ms);
            // 2·MSL may be over: the connection's timer and the record's
            // deadline agree on it.
            full.on_timer(now);
            if let Some(tw) = record.as_ref().filter(|tw| tw.deadline() <= now) {
                prop_assert!(full.is_closed(), "record ended at {:?}", tw.deadline());
                record = None;
            }
            let Some(tw) = record.take() else {
                prop_assert!(full.is_closed());
                break;
            };
            prop_assert!(!full.is_closed());
            let seg = segment(s, &full, ts_recent, &payload);
            prop_assert_eq!(full.time_wait_accepts_syn(&seg), tw.accepts_syn(&seg));
            full.on_segment(now, &seg);
            let want = answers(&mut full, now);
            let mut rebuilt = tw.restore(A_ADDR, B_ADDR);
            rebuilt.on_segment(now, &seg);
            let got = answers(&mut rebuilt, now);
            prop_assert_eq!(&got, &want, "answers to {:?}", seg);
            prop_assert_eq!(rebuilt.state(), full.state());
            record = rebuilt.to_time_wait();
            match full.state() {
                State::TimeWait => {
                    let tw = record.as_ref();
                    prop_assert!(tw.is_some(), "still TIME-WAIT: still compact");
                    prop_assert_eq!(tw.map(TimeWait::deadline), full.poll_at());
                    prop_assert_eq!(&full.to_time_wait(), &record, "the same record either way");
                }
                state => {
                    prop_assert_eq!(state, State::Closed);
                    prop_assert!(record.is_none());
                }
            }
        }
    }
}

/// The record of a connection that has sent data is small, and restoring
/// it gives back the TIME-WAIT the connection was in.
#[test]
fn a_record_is_small_and_round_trips() {
    let p = closed_pair(&TcpConfig::default());
    let tw = p.a.to_time_wait().expect("compact");
    assert!(std::mem::size_of::<TimeWait>() <= 128, "{} octets", std::mem::size_of::<TimeWait>());
    assert!(std::mem::size_of::<Connection>() > 8 * std::mem::size_of::<TimeWait>());
    let c = tw.restore(A_ADDR, B_ADDR);
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!((c.snd_nxt(), c.rcv_nxt()), (p.a.snd_nxt(), p.a.rcv_nxt()));
    assert_eq!(c.to_time_wait(), Some(tw.clone()));
    assert_eq!(Some(tw.deadline()), p.a.poll_at());
    // Still owing an ACK, or not yet closed by the application: stays whole.
    let mut q = Pair::established(&TcpConfig::default(), &TcpConfig::default(), D);
    q.a.shutdown_write();
    q.run_until(|q| q.b.state() == State::CloseWait, Duration::from_secs(1));
    q.b.close();
    q.run_until(|q| q.a.state() == State::TimeWait, Duration::from_secs(1));
    assert!(q.a.to_time_wait().is_none(), "the application has not closed it");
    q.a.close();
    let now = q.now;
    assert!(answers(&mut q.a, now).is_empty());
    assert!(q.a.to_time_wait().is_some());
    // The retransmitted FIN of a peer whose ACK was lost: the record
    // answers with the ACK and restarts 2·MSL.
    let fin = TcpRepr {
        src_port: B_ADDR.port(),
        dst_port: A_ADDR.port(),
        seq_number: p.a.rcv_nxt() - 1,
        ack_number: Some(p.a.snd_nxt()),
        fin: true,
        window_len: 1000,
        timestamp: Some(TcpTimestamp { tsval: last_tsval(&p), tsecr: 0 }),
        ..TcpRepr::default()
    };
    let later = p.now + Duration::from_secs(10);
    let mut c = tw.restore(A_ADDR, B_ADDR);
    c.on_segment(later, &fin);
    let out = answers(&mut c, later);
    assert_eq!(out.len(), 1);
    let ack = Seg { bytes: out[0].clone(), src: *A_ADDR.ip(), dst: *B_ADDR.ip() };
    assert_eq!(ack.repr().ack_number, Some(p.a.rcv_nxt()));
    let again = c.to_time_wait().expect("still TIME-WAIT");
    assert_eq!(again.deadline(), later + TcpConfig::default().time_wait);
    // An exact RST ends it.
    let mut c = again.restore(A_ADDR, B_ADDR);
    c.on_segment(later, &TcpRepr { rst: true, seq_number: p.a.rcv_nxt(), ack_number: None, fin: false, ..fin });
    assert!(c.is_closed() && c.to_time_wait().is_none());
}
