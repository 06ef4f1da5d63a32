//! The receiver against senders that do what RFC 9293 allows, and a
//! well-behaved stack seldom does: segments cut anywhere, sent out of
//! order, again with other boundaries overlapping what arrived, tiny ones
//! that scatter the out-of-order queue, past the window, old duplicates by
//! their timestamps (PAWS), FIN before the
//! data ahead of it has come. The sender is a model, driven by a random
//! script, standing in for A once the pair is established. Whatever it
//! does, B's application reads exactly the stream, then its end; and B's
//! ACKs stay sane: never backwards, never past what was sent, SACK blocks
//! only over octets that were sent.

mod common;

use common::*;
use proptest::prelude::*;
use sockstack_tcp::TcpConfig;
use sockstack_time::Duration;
use sockstack_wire::{TcpRepr, TcpTimestamp};

/// Where the model's next segment starts, relative to what B acknowledged.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// At B's acknowledgment (the next octets B wants), `len` long.
    Next { len: u16 },
    /// `ahead` octets past it (out of order), `len` long.
    Ahead { ahead: u32, len: u16 },
    /// `back` octets before it (a retransmission overlapping what B has,
    /// with other boundaries), `len` long.
    Back { back: u16, len: u16 },
    /// At B's acknowledgment, but an old duplicate by its timestamp (RFC
    /// 7323 §5: PAWS drops it; without timestamps, it is new data).
    Stale { len: u16 },
}

fn cut() -> impl Strategy<Value = Cut> {
    let len = prop_oneof![Just(1u16), 1u16..64, 1u16..1460, Just(1460u16)];
    prop_oneof![
        4 => len.clone().prop_map(|len| Cut::Next { len }),
        3 => (prop_oneof![1u32..3000, 1u32..200_000], len.clone()).prop_map(|(ahead, len)| Cut::Ahead { ahead, len }),
        2 => (1u16..3000, len.clone()).prop_map(|(back, len)| Cut::Back { back, len }),
        1 => len.prop_map(|len| Cut::Stale { len }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_receiver_reads_exactly_the_stream_whatever_the_sender_does(
        ts in any::<bool>(),
        sack in any::<bool>(),
        script in prop::collection::vec(cut(), 1..80),
    ) {
        const D: Duration = Duration::from_millis(10);
        let cfg = TcpConfig { rcv_buf: 64 * 1024, rcv_buf_max: 64 * 1024, ..cfg(ts, sack, true) };
        let mut p = Pair::established(&cfg, &cfg, D);
        let data = pattern(150_000);
        // A's sequence state, taken over by the model.
        let iss = p.a.snd_nxt();
        let (b_port, a_port) = (B_ADDR.port(), A_ADDR.port());
        let mut a_ts = p.last_timestamp(Dir::AtoB).map(|t| t.tsval);
        let mut b_tsval = 0;
        let mut now = p.now;
        let (mut acked, mut got, mut eof) = (iss, Vec::new(), false);
        let mut highest_sent = iss;
        let mut buf = vec![0u8; 65536];
        for i in 0..200_000usize {
            if eof {
                break;
            }
            prop_assert!(i < 199_999, "not done: {} of {} read", got.len(), data.len());
            // Every fourth segment is the one B waits for, so the stream
            // always moves.
            let c = if i % 4 == 3 { Cut::Next { len: 1460 } } else { script[i % script.len()] };
            let at = acked - iss;
            let (off, len) = match c {
                Cut::Next { len } | Cut::Stale { len } => (at, usize::from(len)),
                Cut::Ahead { ahead, len } => (at + ahead as usize, usize::from(len)),
                Cut::Back { back, len } => (at.saturating_sub(usize::from(back)), usize::from(len)),
            };
            let off = off.min(data.len());
            let end = (off + len).min(data.len());
            let seq = iss + off;
            let fin = end == data.len();
            let seg = TcpRepr {
                src_port: a_port,
                dst_port: b_port,
                seq_number: seq,
                ack_number: Some(p.b.snd_nxt()),
                window_len: 1000,
                fin,
                timestamp: a_ts.map(|v| {
                    if let Cut::Stale { .. } = c {
                        return TcpTimestamp { tsval: v.wrapping_sub(1000), tsecr: b_tsval };
                    }
                    a_ts = Some(v + 1);
                    TcpTimestamp { tsval: v + 1, tsecr: b_tsval }
                }),
                payload: &data[off..end],
                ..TcpRepr::default()
            };
            // What B may acknowledge: not what PAWS must drop.
            let stale = matches!(c, Cut::Stale { .. }) && a_ts.is_some();
            let sent_end = seq + (end - off) + usize::from(fin);
            if sent_end.gt(highest_sent) && !stale {
                highest_sent = sent_end;
            }
            p.b.on_segment(now, &seg);
            now += Duration::from_micros(100);
            p.b.on_timer(now);
            // B's answers: sane.
            for s in drain(&mut p.b, now) {
                let r = s.repr();
                if let Some(t) = r.timestamp {
                    b_tsval = t.tsval;
                }
                let ack = r.ack_number.expect("B always acknowledges");
                prop_assert!(ack.ge(acked), "ACK went back from {} to {}", acked.0, ack.0);
                prop_assert!(ack.le(highest_sent), "ACK {} past what was sent ({})", ack.0, highest_sent.0);
                acked = ack;
                for &(left, right) in r.sack_ranges.iter().flatten() {
                    prop_assert!(
                        left.lt(right) && right.le(highest_sent),
                        "SACK block {}..{} over nothing sent",
                        left.0,
                        right.0
                    );
                }
            }
            // B's application reads as it goes.
            loop {
                match p.b.recv(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
        prop_assert!(got == data, "read {} octets, not the stream", got.len());
        prop_assert_eq!(acked, iss + data.len() + 1, "the FIN is acknowledged");
    }
}
