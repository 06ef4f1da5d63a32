//! A blind attacker against a connection (RFC 5961 §1.2): forged segments
//! that carry the right 4-tuple but a sequence number outside the receive
//! window, or an in-window sequence number with an acknowledgment the
//! receiver cannot accept. Whatever their flags, options and payload, the
//! handshake completes, both directions of the transfer complete byte for
//! byte, and the close ends without a reset (RFC 9293 §3.10.7, RFC 5961
//! §3–§5, RFC 7323 §4.3: nothing of an unacceptable segment is taken in,
//! its timestamp included).

mod common;

use common::*;
use proptest::prelude::*;
use sockstack_tcp::{Connection, State, TcpConfig};
use sockstack_time::Duration;
use sockstack_wire::{SeqNumber, TcpRepr, TcpTimestamp};
use std::io::ErrorKind;

/// Far enough from any window or flight a connection here can have
/// (buffers grow to at most a few MiB), and short of half the sequence
/// space, so "before" and "after" keep their meaning.
const FAR: u32 = 1 << 28;

/// What the attacker aims at.
#[derive(Debug, Clone, Copy)]
enum Aim {
    /// The sequence number lies wholly after the receive window.
    After,
    /// The segment (payload included) lies wholly before RCV.NXT.
    Before,
    /// Sequence number at or inside the window (guessed), acknowledgment
    /// beyond SND.NXT.
    AckAhead,
    /// Sequence number inside the window, acknowledgment more than any
    /// window behind SND.UNA.
    AckBehind,
}

/// One forged segment, its fields relative to the target's state.
#[derive(Debug, Clone)]
struct Forged {
    /// Which end receives it: A (true) or B.
    at_a: bool,
    /// Taken before it arrives: the transfer's steps in between.
    after_steps: u8,
    aim: Aim,
    off: u32,
    syn: bool,
    fin: bool,
    rst: bool,
    ack: bool,
    payload: u16,
    window: u16,
    ts: Option<(u32, u32)>,
    sack: Option<(u32, u32)>,
}

fn forged() -> impl Strategy<Value = Forged> {
    let aim = prop_oneof![Just(Aim::After), Just(Aim::Before), Just(Aim::AckAhead), Just(Aim::AckBehind)];
    (
        (any::<bool>(), 0u8..12, aim, 0u32..FAR),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        prop_oneof![Just(0u16), 1u16..1500],
        any::<u16>(),
        proptest::option::weighted(0.7, (any::<u32>(), any::<u32>())),
        proptest::option::weighted(0.3, (any::<u32>(), 1u32..70_000)),
    )
        .prop_map(|((at_a, after_steps, aim, off), (syn, fin, rst, ack), payload, window, ts, sack)| Forged {
            at_a,
            after_steps,
            aim,
            off,
            syn,
            fin,
            rst,
            ack,
            payload,
            window,
            ts,
            sack,
        })
}

/// The forged segment as `c` receives it, claiming to come from its peer.
fn aimed<'a>(c: &Connection, f: &Forged, payload: &'a [u8]) -> TcpRepr<'a> {
    let rcv_nxt = c.rcv_nxt();
    let len = payload.len() + usize::from(f.syn) + usize::from(f.fin);
    let in_window = rcv_nxt + (f.off as usize % c.rcv_wnd().max(1));
    let (seq, ack) = match f.aim {
        Aim::After => (SeqNumber(rcv_nxt.0.wrapping_add(FAR).wrapping_add(f.off)), c.snd_nxt()),
        Aim::Before => {
            (SeqNumber(rcv_nxt.0.wrapping_sub(FAR).wrapping_sub(f.off).wrapping_sub(len as u32)), c.snd_nxt())
        }
        Aim::AckAhead => (in_window, c.snd_nxt() + 1 + f.off as usize),
        Aim::AckBehind => (in_window, SeqNumber(c.snd_una().0.wrapping_sub(FAR).wrapping_sub(f.off))),
    };
    // With a plausible sequence number, a RST exactly at RCV.NXT would be
    // taken (RFC 5961 §3.2): that is not blind. Off by one, it must only
    // draw a challenge ACK.
    let seq = if f.rst && seq == rcv_nxt { seq + 1 } else { seq };
    // An acknowledgment the receiver could act on is never sent blind: a
    // segment without one, aimed at the window, is not forged here either.
    let ack_number = match f.aim {
        Aim::After | Aim::Before => f.ack.then_some(ack),
        Aim::AckAhead | Aim::AckBehind => Some(ack),
    };
    let sack = f.sack.map(|(l, n)| {
        let l = SeqNumber(c.snd_una().0.wrapping_add(l % (2 * FAR)).wrapping_sub(FAR));
        (l, l + n as usize)
    });
    TcpRepr {
        src_port: c.remote_addr().port(),
        dst_port: c.local_addr().port(),
        seq_number: seq,
        ack_number,
        syn: f.syn,
        fin: f.fin,
        rst: f.rst,
        window_len: f.window,
        timestamp: f.ts.map(|(tsval, tsecr)| TcpTimestamp { tsval, tsecr }),
        sack_ranges: [sack, None, None, None],
        payload,
        ..TcpRepr::default()
    }
}

/// Reads what `c` has, into `got`; true at the end of the stream.
fn read(c: &mut Connection, got: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match c.recv(&mut buf) {
            Ok(0) => return true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => return false,
        }
    }
}

/// A transfer both ways, then a close (A first), with the attack landing
/// throughout: each forged segment after its number of steps.
struct Run {
    p: Pair,
    attack: std::vec::IntoIter<Forged>,
    next: Option<Forged>,
    steps: u32,
}

impl Run {
    /// One step of the pair, and the next forged segment if it is due.
    /// False once nothing is left to do, attack included.
    fn step(&mut self) -> bool {
        if let Some(f) = self.next.as_ref().filter(|f| self.steps >= u32::from(f.after_steps)) {
            let junk = vec![0xa5; usize::from(f.payload)];
            let target = if f.at_a { &mut self.p.a } else { &mut self.p.b };
            let seg = aimed(target, f, &junk);
            target.on_segment(self.p.now, &seg);
            self.steps = 0;
            self.next = self.attack.next();
        }
        if self.p.step() {
            self.steps += 1;
            true
        } else {
            // Idle: the rest of the attack comes at once.
            self.steps = u32::MAX;
            self.next.is_some()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_blind_attacker_cannot_corrupt_or_break_a_connection(
        ts in any::<bool>(),
        sack in any::<bool>(),
        loss in prop_oneof![Just(0u64), 1u64..4],
        attack in prop::collection::vec(forged(), 1..80),
    ) {
        let cfg = TcpConfig { challenge_ack_limit: 1_000_000, ..cfg(ts, sack, true) };
        let mut p = Pair::established(&cfg, &cfg, Duration::from_millis(10));
        p.filter = faults(Rng(0x5eed ^ loss), 0, loss, 0, 0, Duration::ZERO);
        let mut attack = attack.into_iter();
        let next = attack.next();
        let mut run = Run { p, attack, next, steps: 0 };
        let (ab, ba) = (pattern(1 << 20), pattern(300_000).into_iter().rev().collect::<Vec<_>>());
        let (mut sent_ab, mut sent_ba) = (0, 0);
        let (mut got_ab, mut got_ba) = (Vec::new(), Vec::new());
        let (mut eof_a, mut eof_b) = (false, false);
        let deadline = run.p.now + Duration::from_secs(600);
        loop {
            let p = &mut run.p;
            prop_assert!(p.now <= deadline, "stalled: {} of {}, {} of {}", got_ab.len(), ab.len(), got_ba.len(), ba.len());
            sent_ab += p.a.send(&ab[sent_ab..]).unwrap_or(0);
            sent_ba += p.b.send(&ba[sent_ba..]).unwrap_or(0);
            // Each end closes once all it had to send is queued, A first.
            if sent_ab == ab.len() && got_ba.len() == ba.len() && p.a.state() == State::Established {
                p.a.close();
            }
            if !eof_b && read(&mut p.b, &mut got_ab) {
                eof_b = true;
                p.b.close();
            }
            eof_a = eof_a || read(&mut p.a, &mut got_ba);
            if !run.step() {
                break;
            }
        }
        let p = &run.p;
        prop_assert!(got_ab == ab, "A to B: {} of {} octets, not the ones sent", got_ab.len(), ab.len());
        prop_assert!(got_ba == ba, "B to A: {} of {} octets, not the ones sent", got_ba.len(), ba.len());
        prop_assert!(eof_a && eof_b, "end of stream: A {}, B {}", eof_a, eof_b);
        // A waited out TIME-WAIT, B closed on the last ACK; no reset.
        prop_assert!(p.a.is_closed() && p.b.is_closed(), "A {:?}, B {:?}", p.a.state(), p.b.state());
        prop_assert_eq!(p.a.error(), None);
        prop_assert_eq!(p.b.error(), None);
    }
}

/// A forged segment for the handshake. At A (SYN-SENT), it acknowledges
/// something other than A's SYN, whatever else it carries: a SYN without
/// an ACK is left out, since RFC 9293 takes it as a simultaneous open
/// (any blind attacker who knows the 4-tuple can break an opening
/// connection that way, on Linux too). At B (SYN-RECEIVED), it is aimed as
/// in [`forged`], without a SYN inside the window, which RFC 9293 and
/// Linux (`tcp_check_req`) both answer by dropping the embryonic
/// connection.
fn forged_in_handshake() -> impl Strategy<Value = (bool, Forged)> {
    (any::<bool>(), forged()).prop_map(|(step_first, mut f)| {
        if !f.at_a && matches!(f.aim, Aim::AckAhead | Aim::AckBehind) {
            f.syn = false;
        }
        (step_first, f)
    })
}

/// [`aimed`] for A in SYN-SENT: any sequence number, an ACK ahead of
/// SND.NXT or at or behind ISS.
fn aimed_at_syn_sent<'a>(c: &Connection, f: &Forged, payload: &'a [u8]) -> TcpRepr<'a> {
    let ack = match f.aim {
        Aim::After | Aim::AckAhead => c.snd_nxt() + 1 + f.off as usize,
        Aim::Before | Aim::AckBehind => SeqNumber(ISS_A.0.wrapping_sub(f.off)),
    };
    TcpRepr { seq_number: SeqNumber(f.off.wrapping_mul(2_654_435_761)), ack_number: Some(ack), ..aimed(c, f, payload) }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_blind_attacker_cannot_break_the_handshake(
        ts in any::<bool>(),
        sack in any::<bool>(),
        loss in prop_oneof![Just(0u64), 10u64..40],
        attack in prop::collection::vec(forged_in_handshake(), 1..40),
    ) {
        let cfg = TcpConfig { challenge_ack_limit: 1_000_000, ..cfg(ts, sack, true) };
        let mut p = Pair::new(&cfg, &cfg, Duration::from_millis(10));
        p.filter = faults(Rng(0xfeed ^ loss), 0, loss, 0, 0, Duration::ZERO);
        for (step_first, f) in &attack {
            if *step_first {
                p.step();
            }
            let junk = vec![0x3c; usize::from(f.payload)];
            if f.at_a && p.a.state() == State::SynSent {
                let seg = aimed_at_syn_sent(&p.a, f, &junk);
                p.a.on_segment(p.now, &seg);
            } else if !f.at_a && p.b.state() == State::SynReceived {
                let seg = aimed(&p.b, f, &junk);
                p.b.on_segment(p.now, &seg);
            }
        }
        p.filter = Box::new(|_, _, _| Fate::Deliver);
        p.run_until(
            |p| p.a.state() == State::Established && p.b.state() == State::Established || p.a.is_closed() || p.b.is_closed(),
            Duration::from_secs(120),
        );
        if (p.a.state(), p.b.state()) != (State::Established, State::Established) {
            // Only loss may stop a handshake: one end ran out of SYN or
            // SYN-ACK retransmissions. Never a reset.
            prop_assert!(loss > 0, "A {:?} {:?}, B {:?} {:?}", p.a.state(), p.a.error(), p.b.state(), p.b.error());
            for c in [&p.a, &p.b] {
                prop_assert!(c.state() == State::Established || c.error() == Some(ErrorKind::TimedOut), "{:?} {:?}", c.state(), c.error());
            }
            return Ok(());
        }
        let (ab, ba) = (pattern(40_000), pattern(7_000));
        let (mut sent_ab, mut sent_ba) = (0, 0);
        let (mut got_ab, mut got_ba) = (Vec::new(), Vec::new());
        p.run_until(
            |p| {
                sent_ab += p.a.send(&ab[sent_ab..]).unwrap_or(0);
                sent_ba += p.b.send(&ba[sent_ba..]).unwrap_or(0);
                read(&mut p.b, &mut got_ab);
                read(&mut p.a, &mut got_ba);
                got_ab.len() >= ab.len() && got_ba.len() >= ba.len()
            },
            Duration::from_secs(60),
        );
        prop_assert!(got_ab == ab && got_ba == ba, "the streams differ from what was sent");
    }
}
