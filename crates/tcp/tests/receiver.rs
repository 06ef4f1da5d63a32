//! The sender against receivers that do what RFC 9293 and RFC 2018 allow,
//! and a well-behaved stack seldom does: withhold ACKs, send them twice,
//! reorder them, shut their window and shrink it under data in flight,
//! and renege on what they SACKed (RFC 2018 §8). The receiver is a model, driven by a
//! random script, standing in for B once the pair is established.
//! Whatever it does, the sender delivers every octet in order and then its
//! FIN, never sends data past any window it was told of, and never stalls:
//! the harness's `drain` checks after every output that a timer runs while
//! anything is outstanding.

mod common;

use common::*;
use proptest::prelude::*;
use sockstack_tcp::{CongestionAlgorithm, Connection, State, TcpConfig};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{SeqNumber, TcpRepr, TcpTimestamp};

/// What the receiver does with the next segment it gets.
#[derive(Debug, Clone, Copy)]
enum Act {
    /// Takes it and acknowledges (in-order data advances RCV.NXT; other
    /// data is held and SACKed).
    Ack,
    /// Takes it, no ACK.
    Withhold,
    /// Takes it and acknowledges twice.
    Twice,
    /// Advertises `window` octets for the next `acks` ACKs (0 shuts it;
    /// below what is in flight shrinks it), then the full window again.
    Window { window: u32, acks: u8 },
    /// Drops everything it holds out of order, SACKed or not.
    Renege,
    /// Takes nothing: the segment is lost on the way.
    Lose,
    /// Takes it and acknowledges, the ACK arriving after later ones.
    Late,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        8 => Just(Act::Ack),
        2 => Just(Act::Withhold),
        1 => Just(Act::Twice),
        1 => (prop_oneof![Just(0u32), 1u32..20_000], 1u8..10).prop_map(|(window, acks)| Act::Window { window, acks }),
        1 => Just(Act::Renege),
        2 => Just(Act::Lose),
        1 => Just(Act::Late),
    ]
}

/// The receiving end: B's sequence state, taken over from the real B.
struct Model {
    local: u16,
    remote: u16,
    rcv_nxt: SeqNumber,
    snd_nxt: SeqNumber,
    wscale: u8,
    full_window: u32,
    /// A smaller window for this many more ACKs.
    small: Option<(u32, u8)>,
    /// Held out of order: (first sequence number, octets), newest last.
    ooo: Vec<(SeqNumber, Vec<u8>)>,
    delivered: Vec<u8>,
    /// Where A's FIN lies, once seen; and whether it was taken in order.
    fin_at: Option<SeqNumber>,
    fin_taken: bool,
    /// Timestamps: our clock's last value and A's TSval to echo.
    ts: Option<(u32, u32)>,
}

impl Model {
    fn take(&mut self, seg: &TcpRepr<'_>) {
        if let (Some((_, recent)), Some(t)) = (self.ts.as_mut(), seg.timestamp) {
            if seg.seq_number.le(self.rcv_nxt) {
                *recent = t.tsval;
            }
        }
        if seg.fin {
            self.fin_at = Some(seg.seq_number + seg.payload.len());
        }
        if !seg.payload.is_empty() {
            self.ooo.push((seg.seq_number, seg.payload.to_vec()));
        }
        // Deliver what is now in order, once.
        loop {
            let before = self.rcv_nxt;
            for (start, data) in &self.ooo {
                let end = *start + data.len();
                if (*start).le(self.rcv_nxt) && end.gt(self.rcv_nxt) {
                    let from = self.rcv_nxt - *start;
                    self.delivered.extend_from_slice(&data[from..]);
                    self.rcv_nxt = end;
                }
            }
            let nxt = self.rcv_nxt;
            self.ooo.retain(|(start, data)| (*start + data.len()).gt(nxt));
            if self.rcv_nxt == before {
                break;
            }
        }
        if !self.fin_taken && self.fin_at == Some(self.rcv_nxt) {
            self.rcv_nxt += 1;
            self.fin_taken = true;
        }
    }

    fn ack(&mut self, now: Instant) -> TcpRepr<'static> {
        let window = match self.small.as_mut() {
            Some((w, n)) => {
                *n -= 1;
                let w = *w;
                if *n == 0 {
                    self.small = None;
                }
                w
            }
            None => self.full_window,
        };
        // SACK blocks, the newest segment's first (RFC 2018 §4), merged
        // with what touches it.
        let mut blocks = [None; 4];
        let room = if self.ts.is_some() { 3 } else { 4 };
        for (slot, (start, data)) in blocks.iter_mut().take(room).zip(self.ooo.iter().rev()) {
            *slot = Some((*start, *start + data.len()));
        }
        let timestamp = self.ts.as_mut().map(|(clock, recent)| {
            *clock = (*clock).max(now.total_millis() as u32);
            TcpTimestamp { tsval: *clock, tsecr: *recent }
        });
        TcpRepr {
            src_port: self.local,
            dst_port: self.remote,
            seq_number: self.snd_nxt,
            ack_number: Some(self.rcv_nxt),
            window_len: (window >> self.wscale).min(65535) as u16,
            sack_ranges: blocks,
            timestamp,
            ..TcpRepr::default()
        }
    }
}

/// Runs A against the model until it has `data`, or `limit` passes.
fn run(cfg: &TcpConfig, script: &[Act], loss_free_after: usize, data: &[u8]) -> Result<(), String> {
    const D: Duration = Duration::from_millis(10);
    let mut p = Pair::established(cfg, cfg, D);
    let b = p.b.stats();
    let last_b_ts = p.last_timestamp(Dir::BtoA);
    let mut m = Model {
        local: B_ADDR.port(),
        remote: A_ADDR.port(),
        rcv_nxt: p.b.rcv_nxt(),
        snd_nxt: p.b.snd_nxt(),
        wscale: b.rcv_wscale,
        full_window: 256 * 1024,
        small: None,
        ooo: Vec::new(),
        delivered: Vec::new(),
        fin_at: None,
        fin_taken: false,
        ts: last_b_ts.map(|t| (t.tsval, t.tsecr)),
    };
    let a: &mut Connection = &mut p.a;
    // The furthest right edge of the window A was ever told of (RFC 9293
    // §3.8.6.2.1: new data never goes past the window).
    let mut edge = a.snd_una() + a.stats().snd_wnd;
    let mut now = p.now;
    let start = now;
    // In flight: (arrives at, towards the model?, segment).
    let mut wire: Vec<(Instant, bool, Seg)> = Vec::new();
    let (mut sent, mut n) = (0, 0usize);
    let (src, dst) = (*B_ADDR.ip(), *A_ADDR.ip());
    // Until everything arrived, the FIN too, and A knows it did.
    while m.delivered.len() < data.len() || !m.fin_taken || a.state() != State::FinWait2 {
        if now - start > Duration::from_secs(1200) || a.is_closed() {
            return Err(format!("{} of {} octets by {now}: {:?}", m.delivered.len(), data.len(), a.stats()));
        }
        if sent < data.len() {
            sent += a.send(&data[sent..]).unwrap_or(0);
            if sent == data.len() {
                a.shutdown_write();
            }
        }
        for s in drain(a, now) {
            let r = s.repr();
            if (r.seq_number + r.payload.len()).gt(edge) {
                return Err(format!(
                    "{} octets at {} past the window's edge {}",
                    r.payload.len(),
                    r.seq_number.0,
                    edge.0
                ));
            }
            wire.push((now + D, true, s));
        }
        let next = wire.iter().map(|w| w.0).chain(a.poll_at()).min().ok_or("nothing pending")?;
        now = now.max(next);
        let (due, rest): (Vec<_>, Vec<_>) = wire.into_iter().partition(|w| w.0 <= now);
        wire = rest;
        for (_, to_model, seg) in due {
            if !to_model {
                let r = seg.repr();
                let right = r.ack_number.expect("an ACK") + (usize::from(r.window_len) << m.wscale);
                if right.gt(edge) {
                    edge = right;
                }
                a.on_segment(now, &r);
                continue;
            }
            // The script runs for its segments' worth, or a minute.
            let act = if n >= loss_free_after || now - start > Duration::from_secs(60) {
                Act::Ack
            } else {
                script[n % script.len()]
            };
            n += 1;
            if let Act::Lose = act {
                continue;
            }
            m.take(&seg.repr());
            let acks = match act {
                Act::Withhold => 0,
                Act::Twice => 2,
                Act::Window { window, acks } => {
                    m.small = Some((window, acks));
                    1
                }
                Act::Renege => {
                    m.ooo.clear();
                    1
                }
                _ => 1,
            };
            let delay = if let Act::Late = act { D * 6 } else { D };
            for _ in 0..acks {
                wire.push((now + delay, false, serialize(&m.ack(now), src, dst)));
            }
        }
        a.on_timer(now);
    }
    if m.delivered != data {
        return Err("the octets differ from those sent".into());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_octet_arrives_whatever_the_receiver_does(
        ts in any::<bool>(),
        sack in any::<bool>(),
        reno in any::<bool>(),
        script in prop::collection::vec(act(), 1..60),
        misbehaving in 50usize..2000,
    ) {
        let data = pattern(400_000);
        // After `misbehaving` segments, or a minute, the receiver behaves,
        // so a script that keeps its window shut still ends.
        let congestion = if reno { CongestionAlgorithm::NewReno } else { CongestionAlgorithm::Cubic };
        let r = run(&TcpConfig { congestion, ..cfg(ts, sack, true) }, &script, misbehaving, &data);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}
