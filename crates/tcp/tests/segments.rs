//! Hand-made segments against one connection: RFC 9293 §3.10.7.4
//! acceptability, RST and SYN handling, RFC 5961 challenge ACKs, PAWS.

mod common;
use common::*;
use sockstack_tcp::{Connection, State, TcpConfig};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{SeqNumber, TcpRepr, TcpTimestamp};
use std::io::ErrorKind;

const D: Duration = Duration::from_millis(10);

/// A segment from `c`'s peer at `rcv_nxt + off`, acknowledging everything.
fn from_peer<'a>(c: &Connection, off: i64, payload: &'a [u8]) -> TcpRepr<'a> {
    TcpRepr {
        src_port: c.remote_addr().port(),
        dst_port: c.local_addr().port(),
        seq_number: SeqNumber(c.rcv_nxt().0.wrapping_add(off as u32)),
        ack_number: Some(c.snd_nxt()),
        window_len: 1000,
        payload,
        ..TcpRepr::default()
    }
}

/// An established pair without timestamps (so hand-made segments need
/// none), A having received nothing yet.
fn pair(cfg_a: TcpConfig) -> Pair {
    let b = cfg(false, true, true);
    Pair::established(&TcpConfig { timestamps: false, ..cfg_a }, &b, D)
}

fn outputs(c: &mut Connection, now: Instant) -> Vec<Seg> {
    drain(c, now)
}

fn read_all(c: &mut Connection) -> Vec<u8> {
    let mut v = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = c.recv(&mut buf) {
        v.extend_from_slice(&buf[..n]);
    }
    v
}

#[test]
fn acceptability_table_nonzero_window() {
    // Unscaled, so the window advertised is the window to the octet.
    let mut p = pair(TcpConfig { window_scale: false, ..TcpConfig::default() });
    let now = p.now;
    let a = &mut p.a;
    let wnd = a.rcv_wnd() as i64;
    assert!(wnd > 1000);
    let dropped = |a: &Connection| a.stats().dropped_segments;

    // len = 0, window > 0: RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND. (A second
    // apart: unacceptable pure ACKs are answered at most twice a second.)
    for (i, (off, ok)) in [(0, true), (wnd - 1, true), (-1, false), (wnd, false)].into_iter().enumerate() {
        let now = now + Duration::from_secs(i as u64);
        let before = dropped(a);
        a.on_segment(now, &from_peer(a, off, b""));
        let out = outputs(a, now);
        if ok {
            assert_eq!(dropped(a), before, "offset {off} acceptable");
            assert!(out.is_empty(), "nothing to answer for offset {off}");
        } else {
            assert_eq!(dropped(a), before + 1, "offset {off} unacceptable");
            assert_eq!(out.len(), 1, "unacceptable → ACK");
            let r = out[0].repr();
            assert_eq!(r.ack_number, Some(a.rcv_nxt()));
            assert_eq!(r.seq_number, a.snd_nxt());
        }
    }

    // An ACK loop breaker (Linux tcp_oow_rate_limited): another
    // unacceptable pure ACK within half a second is dropped unanswered;
    // one with data is answered at once.
    let now = now + Duration::from_secs(3);
    let before = dropped(a);
    a.on_segment(now, &from_peer(a, wnd, b""));
    assert_eq!(dropped(a), before + 1);
    assert!(outputs(a, now).is_empty(), "a second out-of-window pure ACK answered");
    a.on_segment(now, &from_peer(a, wnd, b"data"));
    assert_eq!(outputs(a, now).len(), 1, "out-of-window data → ACK");
    let later = now + Duration::from_millis(500);
    a.on_segment(later, &from_peer(a, wnd, b""));
    assert_eq!(outputs(a, later).len(), 1, "answered again after 500 ms");

    // len > 0, window > 0: either end inside the window.
    // Starts before rcv_nxt, ends inside: the new part is taken.
    a.on_segment(now, &from_peer(a, -2, b"xxhello"));
    assert_eq!(read_all(a), b"hello");
    // Entirely old: dropped with an ACK.
    let before = dropped(a);
    a.on_segment(now, &from_peer(a, -5, b"hello"));
    assert_eq!(dropped(a), before + 1);
    assert_eq!(outputs(a, now).len(), 1);
    // Starts at the last window octet: acceptable, trimmed to the window.
    let wnd = a.rcv_wnd() as i64;
    let before = dropped(a);
    a.on_segment(now, &from_peer(a, wnd - 1, b"ab"));
    assert_eq!(dropped(a), before);
    // Entirely beyond the window.
    a.on_segment(now, &from_peer(a, wnd, b"ab"));
    assert_eq!(dropped(a), before + 1);
    outputs(a, now);
    // Fill the gap: only "a" of "ab" was within the window.
    let gap = vec![b'.'; (wnd - 1) as usize];
    // (the window is smaller than the buffer only by what we hold)
    a.on_segment(now, &from_peer(a, 0, &gap));
    let got = read_all(a);
    assert_eq!(got.len(), wnd as usize);
    assert_eq!(*got.last().unwrap(), b'a');
}

#[test]
fn acceptability_table_zero_window() {
    let small = TcpConfig { rcv_buf: 2000, rcv_buf_max: 2000, window_scale: false, ..TcpConfig::default() };
    let mut p = pair(small);
    let now = p.now;
    let a = &mut p.a;
    a.set_quickack(false);
    // Fill the window exactly: more than a segment's worth, ACKed at once.
    let wnd = a.rcv_wnd();
    a.on_segment(now, &from_peer(a, 0, &vec![1u8; wnd]));
    let out = outputs(a, now);
    assert_eq!(out.last().unwrap().repr().window_len, 0, "zero window advertised");
    assert_eq!(a.rcv_wnd(), 0);
    let d0 = a.stats().dropped_segments;
    // len = 0, window = 0: only SEG.SEQ = RCV.NXT.
    a.on_segment(now, &from_peer(a, 0, b""));
    assert_eq!(a.stats().dropped_segments, d0);
    assert!(outputs(a, now).is_empty());
    a.on_segment(now, &from_peer(a, 1, b""));
    assert_eq!(a.stats().dropped_segments, d0 + 1);
    assert_eq!(outputs(a, now).len(), 1);
    // len > 0, window = 0: not acceptable — but a probe at RCV.NXT gets
    // its ACK processed and an ACK back (the "special allowance").
    let probe = from_peer(a, 0, b"z");
    a.on_segment(now, &probe);
    let out = outputs(a, now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].repr().ack_number, Some(a.rcv_nxt()));
    assert_eq!(a.recv_queue(), wnd, "probe byte not taken");
}

#[test]
fn rst_exact_resets_established_and_discards_data() {
    let mut p = pair(TcpConfig::default());
    let now = p.now;
    let a = &mut p.a;
    a.on_segment(now, &from_peer(a, 0, b"unread"));
    let mut rst = from_peer(a, 0, b"");
    rst.rst = true;
    rst.ack_number = None;
    a.on_segment(now, &rst);
    assert_eq!(a.state(), State::Closed);
    assert_eq!(a.error(), Some(ErrorKind::ConnectionReset));
    let mut buf = [0u8; 16];
    assert_eq!(a.recv(&mut buf).unwrap_err().kind(), ErrorKind::ConnectionReset);
    assert_eq!(a.send(b"x").unwrap_err().kind(), ErrorKind::ConnectionReset);
    assert!(outputs(a, now).is_empty(), "never answer a RST");
    assert!(a.is_closed());
}

#[test]
fn blind_rst_in_window_gets_challenge_ack_not_reset() {
    let mut p = pair(TcpConfig::default());
    let now = p.now;
    let a = &mut p.a;
    let mut rst = from_peer(a, 100, b"");
    rst.rst = true;
    a.on_segment(now, &rst);
    assert_eq!(a.state(), State::Established);
    let out = outputs(a, now);
    assert_eq!(out.len(), 1);
    let r = out[0].repr();
    assert!(!r.rst && r.ack_number == Some(a.rcv_nxt()), "challenge ACK");
    assert_eq!(a.stats().challenge_acks, 1);
    // Out of window: silently dropped.
    let mut far = from_peer(a, 1 << 30, b"");
    far.rst = true;
    a.on_segment(now, &far);
    assert_eq!(a.state(), State::Established);
    assert!(outputs(a, now).is_empty());
    // The peer, on receiving the challenge ACK, would answer with an exact RST.
    let mut exact = from_peer(a, 0, b"");
    exact.rst = true;
    a.on_segment(now, &exact);
    assert_eq!(a.state(), State::Closed);
}

#[test]
fn challenge_acks_are_rate_limited() {
    let mut p = pair(TcpConfig { challenge_ack_limit: 3, ..TcpConfig::default() });
    let now = p.now;
    let a = &mut p.a;
    let mut acks = 0;
    for i in 0..10 {
        let mut syn = from_peer(a, 10 + i, b"");
        syn.syn = true;
        a.on_segment(now, &syn);
        acks += outputs(a, now).len();
    }
    assert_eq!(acks, 3);
    assert_eq!(a.state(), State::Established, "SYN never resets");
    // The next second allows more.
    let later = now + Duration::from_secs(1);
    let mut syn = from_peer(a, 10, b"");
    syn.syn = true;
    a.on_segment(later, &syn);
    assert_eq!(outputs(a, later).len(), 1);
    // RFC 5961 §4.2: a SYN outside the window is challenged too, under the
    // same limit: a flood of them gets no more ACKs than one inside.
    let again = later + Duration::from_secs(1);
    let mut acks = 0;
    for i in 0..10 {
        let mut syn = from_peer(a, (1 << 30) + i, b"");
        syn.syn = true;
        a.on_segment(again, &syn);
        acks += outputs(a, again).len();
    }
    assert_eq!(acks, 3);
    assert_eq!(a.state(), State::Established);
}

#[test]
fn ack_checks_rfc5961() {
    let mut p = pair(TcpConfig::default());
    let now = p.now;
    let a = &mut p.a;
    // ACK of something never sent: ACK back, drop (data not taken).
    let mut seg = from_peer(a, 0, b"data");
    seg.ack_number = Some(a.snd_nxt() + 10);
    a.on_segment(now, &seg);
    assert_eq!(a.recv_queue(), 0);
    assert_eq!(outputs(a, now).len(), 1);
    // ACK far below snd_una − max window: challenge ACK.
    let mut seg = from_peer(a, 0, b"data");
    seg.ack_number = Some(a.snd_una() - (1 << 29));
    a.on_segment(now, &seg);
    assert_eq!(a.recv_queue(), 0);
    assert_eq!(a.stats().challenge_acks, 1);
    // A merely old (duplicate) ACK is fine: data accepted.
    let mut seg = from_peer(a, 0, b"data");
    seg.ack_number = Some(a.snd_una() - 1);
    a.on_segment(now, &seg);
    assert_eq!(a.recv_queue(), 4);
    // No ACK bit: dropped.
    let mut seg = from_peer(a, 4, b"more");
    seg.ack_number = None;
    a.on_segment(now, &seg);
    assert_eq!(a.recv_queue(), 4);
}

#[test]
fn rst_in_each_synchronized_state() {
    type Setup = fn(&mut Pair);
    let cases: [(&str, Setup); 7] = [
        ("established", |_| {}),
        ("fin-wait-1", |p| {
            p.filter = Box::new(|_, _, _| Fate::Drop);
            p.a.shutdown_write();
            drain(&mut p.a, p.now);
        }),
        ("fin-wait-2", |p| {
            p.a.shutdown_write();
            p.run_until(|p| p.a.state() == State::FinWait2, Duration::from_secs(1));
        }),
        ("close-wait", |p| {
            p.b.shutdown_write();
            p.run_until(|p| p.a.state() == State::CloseWait, Duration::from_secs(1));
        }),
        ("last-ack", |p| {
            p.b.shutdown_write();
            p.run_until(|p| p.a.state() == State::CloseWait, Duration::from_secs(1));
            p.filter = Box::new(|_, _, _| Fate::Drop);
            p.a.shutdown_write();
            drain(&mut p.a, p.now);
        }),
        ("closing", |p| {
            // FINs cross: A gets B's FIN before the ACK of its own.
            p.a.shutdown_write();
            p.b.shutdown_write();
            drain(&mut p.a, p.now);
            for s in drain(&mut p.b, p.now) {
                p.a.on_segment(p.now, &s.repr());
            }
            drain(&mut p.a, p.now);
            assert_eq!(p.a.state(), State::Closing);
        }),
        ("time-wait", |p| {
            p.a.shutdown_write();
            p.run_until(|p| p.a.state() == State::FinWait2, Duration::from_secs(1));
            p.b.shutdown_write();
            p.run_until(|p| p.a.state() == State::TimeWait, Duration::from_secs(1));
        }),
    ];
    for (name, setup) in cases {
        let mut p = pair(TcpConfig::default());
        setup(&mut p);
        let state = p.a.state();
        let now = p.now;
        let mut rst = from_peer(&p.a, 0, b"");
        rst.rst = true;
        p.a.on_segment(now, &rst);
        assert_eq!(p.a.state(), State::Closed, "{name} ({state})");
        let expect = match state {
            State::Established | State::FinWait1 | State::FinWait2 => Some(ErrorKind::ConnectionReset),
            // Writes may still come: they fail (Linux's EPIPE).
            State::CloseWait => Some(ErrorKind::BrokenPipe),
            _ => None,
        };
        assert_eq!(p.a.error(), expect, "{name}");
    }
}

/// Once the peer's FIN is in, everything it sent is: a RST then ends the
/// connection but takes none of it away. In CLOSE-WAIT (an HTTP/1.0
/// client whose server answered, closed, and reset the request's tail
/// that came after), the answer stays readable, then end of stream, as
/// on Linux; a write fails with `BrokenPipe` (Linux's EPIPE).
#[test]
fn a_rst_after_the_peers_fin_leaves_what_it_sent_readable() {
    let mut p = pair(TcpConfig::default());
    let now = p.now;
    let a = &mut p.a;
    let mut answer = from_peer(a, 0, b"the whole answer");
    answer.fin = true;
    a.on_segment(now, &answer);
    assert_eq!(a.state(), State::CloseWait);
    let mut rst = from_peer(a, 0, b"");
    rst.rst = true;
    a.on_segment(now, &rst);
    assert_eq!(a.state(), State::Closed);
    assert_eq!(a.error(), Some(ErrorKind::BrokenPipe));
    assert_eq!(read_all(a), b"the whole answer");
    let mut buf = [0u8; 4];
    assert_eq!(a.recv(&mut buf).unwrap(), 0, "then end of stream");
    assert_eq!(a.send(b"more").unwrap_err().kind(), ErrorKind::BrokenPipe);
    assert!(outputs(a, now).is_empty(), "never answer a RST");
}

#[test]
fn rst_in_syn_received() {
    let cfg = TcpConfig::default();
    let p = Pair::new(&cfg, &cfg, D);
    let mut b = p.b;
    let now = p.now;
    drain(&mut b, now);
    assert_eq!(b.state(), State::SynReceived);
    // Not exact: challenge, stays.
    let mut rst = from_peer(&b, 5, b"");
    rst.rst = true;
    rst.ack_number = None;
    b.on_segment(now, &rst);
    assert_eq!(b.state(), State::SynReceived);
    let mut rst = from_peer(&b, 0, b"");
    rst.rst = true;
    rst.ack_number = None;
    b.on_segment(now, &rst);
    assert!(b.is_closed());
}

#[test]
fn bad_ack_in_syn_received_gets_rst() {
    let cfg = cfg(false, false, false);
    let p = Pair::new(&cfg, &cfg, D);
    let mut b = p.b;
    let now = p.now;
    drain(&mut b, now);
    let mut seg = from_peer(&b, 0, b"");
    seg.ack_number = Some(b.snd_nxt() + 1000);
    b.on_segment(now, &seg);
    let out = drain(&mut b, now);
    assert_eq!(out.len(), 1);
    let r = out[0].repr();
    assert!(r.rst && r.seq_number == b.snd_nxt() + 1000);
    assert_eq!(b.state(), State::SynReceived);
}

/// An established pair with timestamps, A having taken TS.Recent from
/// B's data; and B's last timestamp.
fn with_ts_recent() -> (Pair, TcpTimestamp) {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    p.b.send(b"first").unwrap();
    p.run_for(Duration::from_millis(100));
    let mut buf = [0u8; 16];
    assert_eq!(p.a.recv(&mut buf).unwrap(), 5);
    let ts = p.last_timestamp(Dir::BtoA).unwrap();
    (p, ts)
}

#[test]
fn paws_drops_old_timestamp() {
    let (mut p, ts) = with_ts_recent();
    let now = p.now;
    let a = &mut p.a;
    let mut old = from_peer(a, 0, b"stale");
    old.timestamp = Some(TcpTimestamp { tsval: ts.tsval.wrapping_sub(10), tsecr: 0 });
    a.on_segment(now, &old);
    assert_eq!(a.recv_queue(), 0, "PAWS rejected it");
    assert_eq!(a.stats().paws_drops, 1);
    assert_eq!(drain(a, now).len(), 1, "answered with an ACK");
    let mut fresh = from_peer(a, 0, b"fresh");
    fresh.timestamp = Some(TcpTimestamp { tsval: ts.tsval.wrapping_add(1), tsecr: 0 });
    a.on_segment(now, &fresh);
    assert_eq!(a.recv_queue(), 5);
}

/// RFC 7323 §4.3 with Linux's order (tcp_ack, FLAG_UPDATE_TS_RECENT): a
/// segment in the window but dropped for its RST, SYN or ACK does not set
/// TS.Recent. Were it taken, a far-ahead TSval from a blind attacker
/// would make PAWS drop the real peer's segments from then on.
#[test]
fn a_segment_dropped_for_its_ack_leaves_ts_recent_alone() {
    let (mut p, ts) = with_ts_recent();
    let mut buf = [0u8; 16];
    let ahead = TcpTimestamp { tsval: ts.tsval.wrapping_add(1 << 30), tsecr: 0 };
    let now = p.now;
    let mut forged = [
        // Acknowledges what was never sent (RFC 9293 §3.10.7.4).
        TcpRepr { ack_number: Some(p.a.snd_nxt() + 1000), ..from_peer(&p.a, 0, b"junk") },
        // Acknowledges what is older than any window (RFC 5961 §5.2).
        TcpRepr { ack_number: Some(p.a.snd_una() - (1 << 30)), ..from_peer(&p.a, 0, b"junk") },
        // RST and SYN in the window: challenged (RFC 5961 §3.2, §4).
        TcpRepr { rst: true, ..from_peer(&p.a, 1, b"") },
        TcpRepr { syn: true, ..from_peer(&p.a, 0, b"") },
        // No ACK at all.
        TcpRepr { ack_number: None, ..from_peer(&p.a, 0, b"junk") },
    ];
    for f in forged.iter_mut() {
        f.timestamp = Some(ahead);
        p.a.on_segment(now, f);
        assert_eq!(p.a.recv_queue(), 0, "{f:?} was taken in");
        let answers = drain(&mut p.a, now);
        assert!(
            answers.iter().all(|s| s.repr().timestamp.unwrap().tsecr == ts.tsval),
            "the answer echoes the peer's TSval, not the forged one"
        );
    }
    // The real peer's next segment passes PAWS.
    p.b.send(b"second").unwrap();
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.a.recv(&mut buf).unwrap(), 6);
    assert_eq!(&buf[..6], b"second");
    assert_eq!(p.a.stats().paws_drops, 0);
}

#[test]
fn urgent_data_is_delivered_inline() {
    let mut p = pair(TcpConfig::default());
    let now = p.now;
    let a = &mut p.a;
    let mut seg = from_peer(a, 0, b"abcdef");
    seg.urg = true;
    seg.urgent_pointer = 3;
    a.on_segment(now, &seg);
    a.on_segment(now, &from_peer(a, 0, b"ghi"));
    assert_eq!(read_all(a), b"abcdefghi");
}

/// URG with an urgent pointer past the end of the segment (the urgent
/// data goes on into later segments, RFC 9293 §3.8.5), at the field's
/// limit, or zero (meaningless, RFC 6093 §4): the octets are data like
/// any other, delivered once and in order.
#[test]
fn urgent_pointer_past_the_segment_leaves_the_stream_intact() {
    for up in [7, 1000, u16::MAX, 0] {
        let mut p = pair(TcpConfig::default());
        let now = p.now;
        let a = &mut p.a;
        let start = a.rcv_nxt();
        let mut seg = from_peer(a, 0, b"abcdef");
        seg.urg = true;
        seg.urgent_pointer = up;
        a.on_segment(now, &seg);
        assert_eq!(a.rcv_nxt(), start + 6, "urgent pointer {up}");
        a.on_segment(now, &from_peer(a, 0, b"ghi"));
        // The urgent data the pointer announced, still arriving.
        let mut seg = from_peer(a, 0, b"jkl");
        seg.urg = true;
        seg.urgent_pointer = up.saturating_sub(9);
        a.on_segment(now, &seg);
        assert_eq!(read_all(a), b"abcdefghijkl", "urgent pointer {up}");
        assert_eq!(a.rcv_nxt(), start + 12);
        assert_eq!(a.stats().bytes_received, 12);
        let acks = outputs(a, now + Duration::from_millis(500));
        assert_eq!(acks.last().and_then(|s| s.repr().ack_number), Some(start + 12), "urgent pointer {up}");
    }
}

/// URG on a retransmission that overlaps what arrived, on a whole
/// duplicate, and on an out-of-order segment: each octet is delivered
/// once, where its sequence number puts it.
#[test]
fn urgent_retransmitted_or_out_of_order_leaves_the_stream_intact() {
    let mut p = pair(TcpConfig::default());
    let now = p.now;
    let a = &mut p.a;
    let start = a.rcv_nxt();
    let urgent = |mut seg: TcpRepr<'static>, up: u16| {
        seg.urg = true;
        seg.urgent_pointer = up;
        seg
    };
    a.on_segment(now, &from_peer(a, 0, b"abcdef"));
    // Retransmitted from "d" on, now marked urgent, and carrying "ghi" too.
    a.on_segment(now, &urgent(from_peer(a, -3, b"defghi"), 4));
    assert_eq!(a.rcv_nxt(), start + 9);
    // A whole copy of what arrived, urgent: nothing new.
    a.on_segment(now, &urgent(from_peer(a, -9, b"abcdefghi"), 9));
    assert_eq!(a.rcv_nxt(), start + 9);
    assert_eq!(read_all(a), b"abcdefghi");
    // Urgent and out of order: held until the gap before it fills.
    a.on_segment(now, &urgent(from_peer(a, 3, b"mnop"), 2));
    assert_eq!(a.rcv_nxt(), start + 9);
    assert_eq!(read_all(a), b"");
    // The gap, overlapping the held segment, itself urgent.
    a.on_segment(now, &urgent(from_peer(a, 0, b"jklmn"), 1));
    assert_eq!(a.rcv_nxt(), start + 16);
    assert_eq!(read_all(a), b"jklmnop");
    assert_eq!(a.stats().bytes_received, 16, "each octet counted once");
}

#[test]
fn close_with_unread_data_sends_rst() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    p.b.send(b"you will not read this").unwrap();
    p.run_for(Duration::from_millis(100));
    assert!(p.a.recv_queue() > 0);
    p.a.close();
    let out = drain(&mut p.a, p.now);
    assert_eq!(out.len(), 1);
    assert!(out[0].repr().rst);
    assert!(p.a.is_closed());
    assert_eq!(p.a.error(), None);
    p.b.on_segment(p.now, &out[0].repr());
    assert_eq!(p.b.error(), Some(ErrorKind::ConnectionReset));
}

/// RFC 7323 §2.4, Appendix F: with window scaling, the window is
/// advertised in units of 2^shift, and segments (1448 octets here, shift
/// 5) do not end on those units. An edge rounded up on every ACK crept
/// right by a few octets each time while the application read nothing,
/// until the window promised more than the buffer held, and the data sent
/// there was dropped. The window offered must always fit the buffer: a
/// sender that fills it then finds a zero window, with every octet it
/// sent taken.
#[test]
fn a_scaled_window_never_promises_more_than_the_buffer_holds() {
    let buf = 1 << 20;
    let b_cfg = TcpConfig { rcv_buf: buf, rcv_buf_max: buf, ..TcpConfig::default() };
    let a_cfg = TcpConfig { nodelay: true, ..TcpConfig::default() };
    let mut p = Pair::established(&a_cfg, &b_cfg, D);
    assert_eq!(p.b.stats().rcv_wscale, 5);
    let data = pattern(2 * buf);
    let mut sent = 0;
    let deadline = p.now + Duration::from_secs(600);
    while p.now < deadline {
        // Writes of 1000 octets, each its own segment: ACKs cover any
        // number of them, so the edge rarely falls on a unit of 32.
        let end = (sent + 1000).min(data.len());
        sent += p.a.send(&data[sent..end]).unwrap_or(0);
        p.step();
        // The right edge B last offered, against where its buffer ends.
        if let Some(last) = p.segs(Dir::BtoA).last() {
            let r = last.repr();
            let edge = r.ack_number.unwrap() + (usize::from(r.window_len) << 5);
            let end = p.b.rcv_nxt() + (buf - p.b.recv_queue());
            assert!(edge.le(end), "edge {edge:?} past the buffer's end {end:?}");
        }
        if p.b.recv_queue() + 1460 > buf && p.a.stats().snd_wnd == 0 {
            break;
        }
    }
    // Full, but for less than a segment, which receiver SWS avoidance
    // (RFC 9293 §3.8.6.2.2) does not offer.
    assert!(buf - p.b.recv_queue() < 1460, "the buffer fills: {} free", buf - p.b.recv_queue());
    assert_eq!(p.a.stats().snd_wnd, 0, "and the sender sees it shut");
    // Nothing the sender sent past what the buffer took was lost: once the
    // reader reads, the rest of the stream arrives whole.
    let mut got = Vec::new();
    let mut rbuf = vec![0u8; 65536];
    let deadline = p.now + Duration::from_secs(120);
    while got.len() < data.len() {
        assert!(p.now < deadline, "stalled at {}", got.len());
        sent += p.a.send(&data[sent..]).unwrap_or(0);
        while let Ok(n @ 1..) = p.b.recv(&mut rbuf) {
            got.extend_from_slice(&rbuf[..n]);
        }
        p.step();
    }
    assert!(got == data);
}

/// Timestamps tick in milliseconds: on a path under a millisecond most
/// echoes come back in the tick they left, which says "under a
/// millisecond", not zero. Taken as a zero RTT, such a sample switched
/// off the receive buffer's growth until the next one of a millisecond
/// came, which then grew it by all that was read in between.
#[test]
fn a_sub_millisecond_echo_does_not_zero_the_receivers_rtt() {
    let b_cfg = TcpConfig { rcv_buf: 65536, rcv_buf_max: 4 << 20, ..TcpConfig::default() };
    let mut p = Pair::established(&TcpConfig::default(), &b_cfg, Duration::from_micros(150));
    let data = pattern(4 << 20);
    let (mut sent, mut got, mut measured) = (0, 0, false);
    let mut rbuf = vec![0u8; 65536];
    while got < data.len() {
        sent += p.a.send(&data[sent..]).unwrap_or(0);
        while let Ok(n @ 1..) = p.b.recv(&mut rbuf) {
            got += n;
        }
        p.step();
        let rcv_rtt = p.b.stats().rcv_rtt;
        assert!(!measured || rcv_rtt > Duration::ZERO, "the receiver's RTT went back to zero");
        measured |= rcv_rtt > Duration::ZERO;
    }
    assert!(measured, "a millisecond tick came in four MiB");
    assert!(p.b.stats().rcv_buf > 65536, "the receive buffer grew");
}

/// RFC 1122 §4.2.3.2: an ACK at least for every second full-sized
/// segment, also once the sender's segments are smaller than the largest
/// seen (its path MTU fell, SACK blocks took option space): two of 1380
/// octets after ones of 1460 draw the ACK, not three.
#[test]
fn every_second_segment_is_acked_when_segments_shrink() {
    let mut p = pair(TcpConfig::default());
    let now = p.now;
    let a = &mut p.a;
    // Past the quick ACKs of the connection's start.
    for _ in 0..20 {
        a.on_segment(now, &from_peer(a, 0, &[0u8; 1460]));
        outputs(a, now);
    }
    let acks: Vec<usize> = (0..6)
        .map(|_| {
            a.on_segment(now, &from_peer(a, 0, &[0u8; 1380]));
            outputs(a, now).len()
        })
        .collect();
    assert_eq!(acks, [0, 1, 0, 1, 0, 1]);
}

/// RFC 2883 §4.1.2: data that arrives again while it waits out of order
/// is reported as a duplicate, the D-SACK block first and the range that
/// holds it next, so that the sender can tell its retransmission was
/// needless (and undo what it cost).
#[test]
fn a_duplicate_of_out_of_order_data_is_reported_with_dsack() {
    let mut p = pair(TcpConfig::default());
    let now = p.now;
    let a = &mut p.a;
    let base = a.rcv_nxt();
    a.on_segment(now, &from_peer(a, 1000, &[3u8; 1000]));
    let first = outputs(a, now);
    assert_eq!(first.len(), 1);
    let r = first[0].repr();
    assert_eq!((r.sack_ranges[0], r.sack_ranges[1]), (Some((base + 1000, base + 2000)), None));
    // Part of it again, with a little more.
    a.on_segment(now, &from_peer(a, 1500, &[3u8; 1000]));
    let again = outputs(a, now);
    assert_eq!(again.len(), 1);
    let r = again[0].repr();
    assert_eq!(r.sack_ranges[0], Some((base + 1500, base + 2000)), "the duplicate part");
    assert_eq!(r.sack_ranges[1], Some((base + 1000, base + 2500)), "the range holding it");
}

/// A read that opens a shut window owes the peer an ACK only when the
/// window it will offer has moved: by the step receiver SWS avoidance
/// moves it (RFC 9293 §3.8.6.2.2, min(buffer/2, MSS)), else the ACK would
/// still say zero, and a sender might count it as a duplicate.
#[test]
fn a_window_update_after_a_read_offers_a_window() {
    let small = TcpConfig { rcv_buf: 8000, rcv_buf_max: 8000, window_scale: false, ..TcpConfig::default() };
    let mut p = pair(small);
    let now = p.now;
    let a = &mut p.a;
    // Segments of 1448 octets, as a peer with timestamps sends them: the
    // largest seen (RCV.MSS) stays under our MSS of 1460.
    let mut left = a.rcv_wnd();
    while left > 0 {
        let n = left.min(1448);
        a.on_segment(now, &from_peer(a, 0, &vec![1u8; n]));
        left -= n;
    }
    let out = outputs(a, now);
    assert_eq!(out.last().unwrap().repr().window_len, 0);
    // 1448 octets read: less than the MSS (1460) the edge moves by.
    let mut buf = vec![0u8; 1448];
    assert_eq!(a.recv(&mut buf).unwrap(), 1448);
    let windows: Vec<u16> = outputs(a, now).iter().map(|s| s.repr().window_len).collect();
    assert!(windows.is_empty(), "an ACK that offers nothing: {windows:?}");
    let mut buf = vec![0u8; 100];
    assert_eq!(a.recv(&mut buf).unwrap(), 100);
    let out = outputs(a, now);
    assert_eq!(out.len(), 1, "now the window moves");
    assert!(usize::from(out[0].repr().window_len) >= 1460);
}

/// A segment at RCV.NXT is copied into the receive ring as its checksum
/// is summed, before it is known good. Not while data waits out of order
/// past RCV.NXT: a repacketised retransmission that covers both and then
/// fails its checksum would have overwritten octets already held (and
/// SACKed), which the segment filling the gap would then have committed.
#[test]
fn a_bad_segment_over_out_of_order_data_leaves_it_intact() {
    let mut p = pair(TcpConfig::default());
    let now = p.now;
    let a = &mut p.a;
    a.on_segment(now, &from_peer(a, 1000, &[2u8; 1000]));
    outputs(a, now);
    let bad = from_peer(a, 0, &[9u8; 1448]);
    assert!(!a.on_segment_unverified(now, &bad, 0x1234), "the wrong checksum is caught");
    a.on_segment(now, &from_peer(a, 0, &[1u8; 1000]));
    assert_eq!(read_all(a), [[1u8; 1000], [2u8; 1000]].concat());
}

/// Unread means readable: data held out of order does not make `close`
/// reset the connection (Linux `__tcp_close` counts the receive queue
/// only); a FIN goes. If the gap before it fills, that data arrives after
/// the close, and resets the connection then.
#[test]
fn close_with_only_out_of_order_data_sends_fin() {
    let mut p = pair(TcpConfig::default());
    let now = p.now;
    let a = &mut p.a;
    a.on_segment(now, &from_peer(a, 100, b"held out of order"));
    outputs(a, now);
    assert_eq!(a.recv_queue(), 0);
    a.close();
    let out = outputs(a, now);
    assert_eq!(out.len(), 1);
    assert!(out[0].repr().fin && !out[0].repr().rst, "{:?}", out[0].repr());
    assert_eq!(a.state(), State::FinWait1);
    a.on_segment(now, &from_peer(a, 0, &[1u8; 100]));
    let out = outputs(a, now);
    assert!(out.iter().any(|s| s.repr().rst), "the gap filled after the close: reset");
    assert!(a.is_closed());
}

/// A connection already in TIME-WAIT stays there when the application
/// closes its socket or aborts it, unread data or not: its close is over
/// (Linux has handed it to a TIME-WAIT socket by then). Before, a close
/// with the peer's last data unread sent a RST and ended TIME-WAIT at once.
#[test]
fn close_or_abort_in_time_wait_leaves_it_as_it_is() {
    for abort in [false, true] {
        let cfg = TcpConfig { time_wait: Duration::from_secs(7), ..TcpConfig::default() };
        let mut p = Pair::established(&cfg, &cfg, D);
        p.a.shutdown_write();
        p.run_until(|p| p.b.state() == State::CloseWait, Duration::from_secs(1));
        p.b.send(b"never read").unwrap();
        p.b.close();
        p.run_until(|p| p.a.state() == State::TimeWait, Duration::from_secs(1));
        assert!(p.a.recv_queue() > 0);
        if abort {
            p.a.abort();
        } else {
            p.a.close();
        }
        assert_eq!(p.a.state(), State::TimeWait, "abort: {abort}");
        assert!(drain(&mut p.a, p.now).iter().all(|s| !s.repr().rst), "abort: {abort}");
        let start = p.now;
        p.run_until(|p| p.a.is_closed(), Duration::from_secs(10));
        assert!(p.now - start >= Duration::from_secs(7) - D * 2, "abort: {abort}: {:?}", p.now - start);
        assert_eq!(p.b.error(), None, "abort: {abort}");
    }
}

#[test]
fn data_after_close_gets_rst() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    p.a.close();
    late_data_is_reset(&mut p);
}

/// Once A's FIN is out and acknowledged, data B sends resets the
/// connection: A closes, and B (in CLOSE-WAIT) learns of it: its writes
/// fail (Linux's EPIPE there).
fn late_data_is_reset(p: &mut Pair) {
    p.run_until(|p| p.a.state() == State::FinWait2, Duration::from_secs(1));
    p.b.send(b"late").unwrap();
    p.run_until(|p| p.a.is_closed(), Duration::from_secs(1));
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.b.error(), Some(ErrorKind::BrokenPipe));
    assert_eq!(p.b.send(b"more").unwrap_err().kind(), ErrorKind::BrokenPipe);
}

/// Linux (`tcp_rcv_state_process` on RCV_SHUTDOWN), RFC 1122 §4.2.2.13:
/// once an end has shut down both ways and sent its FIN, new data from
/// its peer can never be read, and resets the connection, so the sender
/// learns it was lost. Shut for reading only, while ESTABLISHED, the
/// connection takes data as before.
#[test]
fn data_after_shutdown_both_ways_gets_rst() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    p.a.shutdown_read();
    p.b.send(b"still taken").unwrap();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.a.state(), State::Established);
    assert!(p.b.error().is_none(), "read shut alone: the data is taken");
    p.a.shutdown_write();
    late_data_is_reset(&mut p);
}

#[test]
fn abort_sends_rst() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    p.a.abort();
    let out = drain(&mut p.a, p.now);
    assert!(out.len() == 1 && out[0].repr().rst);
    assert_eq!(out[0].repr().seq_number, p.a.snd_nxt());
    // RFC 7323 §3.2: with timestamps agreed, a RST carries them too,
    // echoing the peer's latest (though the connection is CLOSED by the
    // time it goes out).
    let ts = out[0].repr().timestamp.expect("the RST carries timestamps");
    assert_eq!(Some(ts.tsecr), p.last_timestamp(Dir::BtoA).map(|t| t.tsval));
    p.b.on_segment(p.now, &out[0].repr());
    assert_eq!(p.b.state(), State::Closed);
    assert_eq!(p.b.error(), Some(ErrorKind::ConnectionReset));

    // Without timestamps, none.
    let cfg = TcpConfig { timestamps: false, ..TcpConfig::default() };
    let mut p = Pair::established(&cfg, &cfg, D);
    p.a.abort();
    let out = drain(&mut p.a, p.now);
    assert!(out.len() == 1 && out[0].repr().rst && out[0].repr().timestamp.is_none());
}

#[test]
fn closed_connection_answers_with_rst() {
    let cfg = TcpConfig::default();
    let mut p = Pair::established(&cfg, &cfg, D);
    p.a.abort();
    drain(&mut p.a, p.now);
    let seg = from_peer(&p.a, 0, b"hello?");
    p.a.on_segment(p.now, &seg);
    let out = drain(&mut p.a, p.now);
    assert!(out.len() == 1 && out[0].repr().rst);
    assert_eq!(out[0].repr().seq_number, seg.ack_number.unwrap());
    // From the connection's ports to the segment's sender.
    assert_eq!((out[0].repr().src_port, out[0].repr().dst_port), (seg.dst_port, seg.src_port));
    // A CLOSED connection has no timestamps to agree on (RFC 9293
    // §3.10.7.1 builds the reply from the segment alone).
    assert!(out[0].repr().timestamp.is_none());
}

#[test]
fn hostile_segments_never_panic() {
    let mut rng = Rng(0xdead_beef);
    let (mut total_in, mut total_closed) = (0, 0);
    for round in 0..20 {
        let mut p = pair(TcpConfig { timestamps: round % 2 == 0, ..TcpConfig::default() });
        if round % 3 == 0 {
            p.a.send(&pattern(50_000)).unwrap();
            drain(&mut p.a, p.now);
        }
        let mut now = p.now;
        for _ in 0..5_000 {
            let base = from_peer(&p.a, 0, b"");
            let payload = vec![0x55; (rng.next() % 3000) as usize];
            let mut blocks = [None; 4];
            for b in blocks.iter_mut().take((rng.next() % 5) as usize) {
                let l = p.a.snd_una().0.wrapping_add((rng.next() % 100_000) as u32).wrapping_sub(50_000);
                *b = Some((SeqNumber(l), SeqNumber(l.wrapping_add((rng.next() % 70_000) as u32))));
            }
            let pick = |r: u64, near: SeqNumber| match r % 8 {
                0 => SeqNumber(r as u32),
                1 => near,
                _ => SeqNumber(near.0.wrapping_add((r % 200_000) as u32).wrapping_sub(100_000)),
            };
            let flight = (p.a.snd_nxt() - p.a.snd_una()) as u64;
            let r = rng.next();
            let ack = match r % 3 {
                0 => p.a.snd_una() + (r % (flight + 1)) as usize,
                _ => pick(r, p.a.snd_una()),
            };
            let seg = TcpRepr {
                seq_number: pick(rng.next(), base.seq_number),
                ack_number: (rng.next() % 5 != 0).then_some(ack),
                syn: rng.chance(5),
                fin: rng.chance(5),
                rst: rng.chance(1),

                urg: rng.chance(5),
                psh: rng.chance(50),
                window_len: rng.next() as u16,
                urgent_pointer: rng.next() as u16,
                max_seg_size: rng.chance(5).then(|| rng.next() as u16),
                window_scale: rng.chance(5).then(|| (rng.next() % 15) as u8),
                sack_permitted: rng.chance(5),
                sack_ranges: blocks,
                timestamp: rng.chance(50).then(|| TcpTimestamp { tsval: rng.next() as u32, tsecr: rng.next() as u32 }),
                payload: &payload,
                ..base
            };
            p.a.on_segment(now, &seg);
            now += Duration::from_millis(rng.next() % 50);
            drain(&mut p.a, now);
            let mut buf = [0u8; 1024];
            let _ = p.a.recv(&mut buf);
            if p.a.is_closed() {
                break;
            }
        }
        total_in += p.a.stats().bytes_received;
        total_closed += u64::from(p.a.is_closed());
    }
    // The fuzz reached deep: data was accepted and some connections reset.
    eprintln!("{total_in} {total_closed}");
    assert!(total_in > 100_000 && total_closed > 0);
}

#[test]
fn receiver_sack_blocks_most_recent_first() {
    let mut p = pair(TcpConfig::default());
    let now = p.now;
    let a = &mut p.a;
    let last_sack = |a: &mut Connection| {
        let out = drain(a, now);
        assert_eq!(out.len(), 1, "immediate ACK for out-of-order data");
        let r = out[0].repr();
        assert_eq!(r.ack_number, Some(a.rcv_nxt()));
        r.sack_ranges
            .iter()
            .flatten()
            .map(|(l, r)| (l.0.wrapping_sub(a.rcv_nxt().0), r.0.wrapping_sub(a.rcv_nxt().0)))
            .collect::<Vec<_>>()
    };
    a.on_segment(now, &from_peer(a, 100, &[1; 100]));
    assert_eq!(last_sack(a), vec![(100, 200)]);
    a.on_segment(now, &from_peer(a, 300, &[1; 100]));
    assert_eq!(last_sack(a), vec![(300, 400), (100, 200)]);
    a.on_segment(now, &from_peer(a, 500, &[1; 100]));
    assert_eq!(last_sack(a), vec![(500, 600), (300, 400), (100, 200)]);
    // Extending an old block makes it the most recent.
    a.on_segment(now, &from_peer(a, 200, &[1; 50]));
    assert_eq!(last_sack(a), vec![(100, 250), (500, 600), (300, 400)]);
    // Filling the front: blocks below rcv_nxt disappear.
    a.on_segment(now, &from_peer(a, 0, &[1; 100]));
    assert_eq!(last_sack(a), vec![(250, 350), (50, 150)]);
}

#[test]
fn receiver_sws_avoidance_and_window_update_on_read() {
    let small = TcpConfig { rcv_buf: 8000, rcv_buf_max: 8000, window_scale: false, ..TcpConfig::default() };
    let mut p = pair(small);
    let now = p.now;
    let a = &mut p.a;
    a.on_segment(now, &from_peer(a, 0, &[7; 8000]));
    let out = drain(a, now + Duration::from_millis(40));
    assert_eq!(out.last().unwrap().repr().window_len, 0);
    let mut buf = [0u8; 1500];
    // A small read does not reopen the window (no tiny windows, RFC 9293
    // §3.8.6.2.2) and triggers no update.
    a.recv(&mut buf[..100]).unwrap();
    assert!(drain(a, now).is_empty());
    a.on_segment(now, &from_peer(a, 0, b""));
    a.on_segment(now, &from_peer(a, 1, b"")); // unacceptable → ACK shows window
    let out = drain(a, now);
    assert_eq!(out[0].repr().window_len, 0, "still closed after a 100-byte read");
    // Reading a full MSS worth sends a window update at once.
    a.recv(&mut buf[..1400]).unwrap();
    let out = drain(a, now);
    assert_eq!(out.len(), 1, "window update");
    assert_eq!(out[0].repr().window_len, 1500);
    // The right edge never moves left, even if the buffer fills again.
    let edge = a.rcv_nxt() + a.rcv_wnd();
    a.on_segment(now, &from_peer(a, 0, &[7; 1000]));
    let out = drain(a, now + Duration::from_millis(40));
    let r = out.last().unwrap().repr();
    assert_eq!(r.ack_number.unwrap() + r.window_len as usize, edge);
}

#[test]
fn duplicate_data_is_reported_with_dsack() {
    let mut p = pair(TcpConfig::default());
    let now = p.now;
    let a = &mut p.a;
    a.on_segment(now, &from_peer(a, 0, b"0123456789"));
    drain(a, now + Duration::from_millis(40));
    let start = a.rcv_nxt() - 10;
    // An entirely duplicate segment (unacceptable → ACK) ...
    a.on_segment(now, &from_peer(a, -10, b"0123456789"));
    let out = drain(a, now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].repr().sack_ranges[0], Some((start, start + 10)));
    // ... and a partially duplicate one.
    a.on_segment(now, &from_peer(a, -4, b"6789abc"));
    let out = drain(a, now);
    assert_eq!(out[0].repr().sack_ranges[0], Some((start + 6, start + 10)));
    // Only once.
    a.on_segment(now, &from_peer(a, 50, b"x"));
    let out = drain(a, now);
    let r = out[0].repr();
    assert_eq!(r.sack_ranges[0], Some((a.rcv_nxt() + 50, a.rcv_nxt() + 51)));
    assert_eq!(r.sack_ranges[1], None);
    assert_eq!(read_all(a), b"0123456789abc");
}

#[test]
fn timestamps_never_run_backwards_whatever_clock_the_caller_read() {
    // Threads sharing a connection may pass clock readings out of order:
    // TSval must still not decrease, or the peer's PAWS drops the segment.
    let no_nagle = TcpConfig { nodelay: true, ..TcpConfig::default() };
    let mut p = Pair::established(&no_nagle, &TcpConfig::default(), D);
    let later = p.now + Duration::from_millis(300);
    p.a.send(b"first").unwrap();
    let first = outputs(&mut p.a, later);
    p.a.send(b"second").unwrap();
    let second = outputs(&mut p.a, p.now);
    let tsval = |segs: &[Seg]| segs.last().and_then(|s| s.repr().timestamp).map(|t| t.tsval).unwrap();
    assert!(second.iter().any(|s| !s.repr().payload.is_empty()), "the second write went out");
    assert!(tsval(&second).wrapping_sub(tsval(&first)) as i32 >= 0, "TSval went backwards");
    // And the peer takes both.
    for s in first.iter().chain(&second) {
        p.b.on_segment(later, &s.repr());
    }
    assert_eq!(read_all(&mut p.b), b"firstsecond");
}

/// Like [`from_peer`], acknowledging `ack` and offering `window` octets
/// (no window scaling in these pairs).
fn from_peer_acking<'a>(c: &Connection, off: i64, payload: &'a [u8], ack: SeqNumber, window: usize) -> TcpRepr<'a> {
    TcpRepr { ack_number: Some(ack), window_len: u16::try_from(window).unwrap(), ..from_peer(c, off, payload) }
}

/// An established pair without timestamps (or window scaling, so that
/// hand-made windows are taken as written), A with two full segments
/// sent and unacknowledged; SND.UNA before them, and the MSS.
fn two_segments_in_flight() -> (Pair, SeqNumber, usize) {
    let c = TcpConfig { timestamps: false, ..cfg(false, true, false) };
    let mut p = Pair::established(&c, &c, D);
    let (now, una, mss) = (p.now, p.a.snd_una(), 1460);
    p.a.send(&[7u8; 2 * 1460]).unwrap();
    assert_eq!(outputs(&mut p.a, now).iter().map(|s| s.repr().payload.len()).collect::<Vec<_>>(), [mss, mss]);
    (p, una, mss)
}

/// RFC 9293 §3.10.7.4 fifth step, as Linux's `tcp_may_update_window`
/// reads it: a segment that acknowledges new data updates the send
/// window even when its sequence number is older than that of the segment
/// that set the window last (SND.WL1). A retransmission of old data
/// carries the peer's current ACK and window; taken as stale, the window
/// it closes stays open, and its right edge slides on with the ACK, so
/// new data goes out past the edge the peer offered. (The interop
/// capture check caught this against the kernel.)
#[test]
fn a_retransmission_that_acks_new_data_updates_the_window() {
    let (mut p, una, mss) = two_segments_in_flight();
    let now = p.now;
    let a = &mut p.a;
    // The peer's pure ACK, sent after 100 octets of its own that are
    // still on their way (SND.WL1 = RCV.NXT + 100): one segment
    // acknowledged, one more allowed, so the edge is where A's data ends.
    let ack = from_peer_acking(a, 100, &[], una + mss, mss);
    a.on_segment(now, &ack);
    a.send(&[8u8; 5000]).unwrap();
    assert!(outputs(a, now).iter().all(|s| s.repr().payload.is_empty()), "the window is full");
    // Then the peer sends those 100 octets again (an older SEG.SEQ),
    // acknowledging the rest of A's data and closing its window.
    let rexmit = from_peer_acking(a, 0, &[5u8; 100], una + 2 * mss, 0);
    a.on_segment(now, &rexmit);
    for s in outputs(a, now) {
        let r = s.repr();
        assert!(r.payload.is_empty(), "data past the closed window: seq {:?} len {}", r.seq_number, r.payload.len());
    }
    assert_eq!(read_all(a), vec![5u8; 100]);
}

/// An ACK below SND.UNA updates no window, whatever its SEG.SEQ (RFC 9293
/// §3.10.7.4: "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should
/// be updated"). The peer sent two segments and the first was lost; its
/// retransmission, carrying a newer ACK and a smaller window, arrives
/// first and sets SND.WL1 back to its SEG.SEQ; then the delayed second
/// segment, with its older ACK and larger window, passes the SND.WL1
/// test. Taken, its window would let data go past the peer's edge. (The
/// harness's window rule found this in a stress sweep.)
#[test]
fn an_old_ack_updates_no_window() {
    let (mut p, una, mss) = two_segments_in_flight();
    let now = p.now;
    let a = &mut p.a;
    // The peer's second segment (sent first, delivered last): it
    // acknowledged one segment of A's and offered a large window.
    let second = from_peer_acking(a, 100, &[6u8; 100], una + mss, 20 * mss);
    // Its retransmitted first: both of A's segments acknowledged, room
    // for one more.
    let first = from_peer_acking(a, 0, &[5u8; 100], una + 2 * mss, mss);
    a.on_segment(now, &first);
    a.send(&[8u8; 20 * 1460]).unwrap();
    let edge = una + 3 * mss;
    let out = outputs(a, now);
    assert!(out.iter().any(|s| !s.repr().payload.is_empty()), "the one segment the window allows goes");
    a.on_segment(now, &second);
    for s in out.into_iter().chain(outputs(a, now)) {
        let r = s.repr();
        let end = r.seq_number + r.payload.len();
        assert!(end.le(edge), "data to {end:?}, past the edge {edge:?} the peer offered");
    }
    assert_eq!(read_all(a), [[5u8; 100], [6u8; 100]].concat());
}

/// SACK blocks count above SND.UNA, not above the ACK that carries them:
/// an ACK overtaken by a later one (the network reordered the two)
/// reports octets that are acknowledged already. Taken, they would stand
/// in the scoreboard as SACKed octets below SND.UNA until the next new
/// ACK, and make RACK count loss as evident (Linux
/// `tcp_is_sackblock_valid` drops them).
#[test]
fn sack_blocks_of_an_old_ack_below_snd_una_are_ignored() {
    let c = TcpConfig { timestamps: false, ..cfg(false, true, false) };
    let mut p = Pair::established(&c, &c, D);
    let (now, una, mss) = (p.now, p.a.snd_una(), 1460);
    p.a.send(&[7u8; 4 * 1460]).unwrap();
    assert_eq!(outputs(&mut p.a, now).len(), 4);
    let a = &mut p.a;
    // The peer's later ACK first: three segments acknowledged.
    a.on_segment(now, &from_peer_acking(a, 0, &[], una + 3 * mss, 20 * mss));
    let blocks = a.stats().sack_blocks_received;
    // Then its earlier one: the first segment acknowledged, the third
    // SACKed (the second had not arrived yet).
    let mut old = from_peer_acking(a, 0, &[], una + mss, 20 * mss);
    old.sack_ranges[0] = Some((una + 2 * mss, una + 3 * mss));
    a.on_segment(now, &old);
    assert_eq!(a.stats().sack_blocks_received, blocks, "a block below SND.UNA is not taken");
    assert_eq!(a.snd_una(), una + 3 * mss);
    // A block above SND.UNA in an old ACK still counts.
    let mut old = from_peer_acking(a, 0, &[], una + mss, 20 * mss);
    old.sack_ranges[0] = Some((una + 2 * mss, una + 3 * mss));
    old.sack_ranges[1] = Some((una + 3 * mss + 100, una + 3 * mss + 200));
    a.on_segment(now, &old);
    assert_eq!(a.stats().sack_blocks_received, blocks + 1);
}

/// A RST goes where the peer takes it: RFC 9293 §3.10.4 sends ABORT's at
/// SND.NXT, but past the edge of the peer's window (here the peer shut it
/// with A's data still unacknowledged) the peer drops such a RST (RFC
/// 5961 §3.2) and waits on for ever. As Linux's `tcp_acceptable_seq`, it
/// goes at the window's edge then.
#[test]
fn an_abort_past_a_shut_window_resets_at_its_edge() {
    let (mut p, una, _) = two_segments_in_flight();
    let now = p.now;
    let a = &mut p.a;
    // The peer shuts its window, acknowledging nothing.
    let shut = from_peer_acking(a, 0, &[], una, 0);
    a.on_segment(now, &shut);
    a.abort();
    let out = outputs(a, now);
    let rst = out.iter().map(Seg::repr).find(|r| r.rst).expect("a RST");
    assert_eq!(rst.seq_number, una, "at the window's edge, not SND.NXT {:?}", a.snd_nxt());
}

/// A FIN takes a sequence number of the window too (Linux's
/// `tcp_snd_wnd_test` counts it): when the last data fills the peer's
/// window exactly, it goes without the FIN, and the FIN follows alone
/// once the window opens. Sent past the edge, the peer would trim it off
/// (RFC 9293 §3.10.7.4), and an abort would then put its RST at the edge,
/// short of what was sent. (The capture check caught this against the
/// kernel's tiny receive buffer.)
#[test]
fn a_fin_waits_for_room_in_the_window() {
    let (mut p, una, mss) = two_segments_in_flight();
    let now = p.now;
    let a = &mut p.a;
    // Both segments acknowledged; room for exactly 100 octets more.
    let sent = una + 2 * mss;
    a.on_segment(now, &from_peer_acking(a, 0, &[], sent, 100));
    a.send(&[9u8; 100]).unwrap();
    a.close();
    let out = outputs(a, now);
    assert_eq!(out.len(), 1);
    let r = out[0].repr();
    assert_eq!((r.payload.len(), r.fin), (100, false), "the data fills the window, and the FIN stays");
    // The peer takes the data and opens its window: the FIN, alone.
    a.on_segment(now, &from_peer_acking(a, 0, &[], sent + 100, 1000));
    let out = outputs(a, now);
    assert_eq!(out.len(), 1);
    let r = out[0].repr();
    assert!(r.fin && r.payload.is_empty(), "{r:?}");
    assert_eq!(r.seq_number, sent + 100);
}
