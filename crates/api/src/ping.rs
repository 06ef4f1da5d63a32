//! `ping` on a real-time stack, over a raw ICMP socket: echo requests out,
//! echo replies matched by identifier and sequence number, round-trip times
//! measured on the stack's clock.

use crate::socket::{NetHandle, RawSocket};
use sockstack_stack::ping::{echo_request, parse_echo_reply};
use sockstack_wire::{IpProtocol, Ipv4Addr};
use std::io;
use std::time::{Duration, Instant};

/// One answered echo request.
#[derive(Debug, Clone, PartialEq)]
pub struct PingReply {
    /// Who answered.
    pub from: Ipv4Addr,
    /// The echo sequence number.
    pub seq_no: u16,
    /// The reply's TTL.
    pub ttl: u8,
    /// ICMP bytes in the reply.
    pub bytes: usize,
    /// Round-trip time.
    pub rtt: Duration,
}

/// The summary ping prints at the end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PingStats {
    /// Echo requests sent.
    pub transmitted: u32,
    /// Echo replies received.
    pub received: u32,
    /// Each reply's round-trip time.
    pub rtts: Vec<Duration>,
}

impl PingStats {
    /// Requests without a reply, in percent.
    pub fn loss_percent(&self) -> f64 {
        if self.transmitted == 0 {
            return 0.0;
        }
        100.0 * f64::from(self.transmitted - self.received) / f64::from(self.transmitted)
    }
}

/// Options of a ping run (Linux `ping` defaults: 56 data bytes, 1 s apart).
#[derive(Debug, Clone)]
pub struct PingOptions {
    /// Echo requests to send.
    pub count: u16,
    /// Time between requests.
    pub interval: Duration,
    /// How long to wait for each reply.
    pub timeout: Duration,
    /// Payload bytes per request.
    pub payload_len: usize,
    /// ICMP identifier of this run.
    pub ident: u16,
}

impl Default for PingOptions {
    fn default() -> Self {
        PingOptions {
            count: 4,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            payload_len: 56,
            ident: 0x5ca1,
        }
    }
}

/// Pings `dst`, calling `on_reply` for each reply as it arrives.
pub fn ping(
    net: &NetHandle,
    dst: Ipv4Addr,
    opts: &PingOptions,
    mut on_reply: impl FnMut(&PingReply),
) -> io::Result<PingStats> {
    let sock = RawSocket::open(net, IpProtocol::Icmp, false)?;
    let mut stats = PingStats::default();
    let payload: Vec<u8> = (0..opts.payload_len).map(|i| i as u8).collect();
    let mut buf = vec![0u8; 65536];
    for seq in 1..=opts.count {
        let sent_at = Instant::now();
        sock.send_to(&echo_request(opts.ident, seq, &payload), dst)?;
        stats.transmitted += 1;
        let deadline = sent_at + opts.timeout;
        // Wait for our reply, skipping other ICMP traffic the socket sees.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            sock.set_read_timeout(Some(left))?;
            let n = match sock.recv_from(&mut buf) {
                Ok((n, _)) => n,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => break,
                Err(e) => return Err(e),
            };
            let Some(reply) = parse_echo_reply(&buf[..n]) else {
                continue;
            };
            if reply.ident != opts.ident || reply.seq_no != seq || reply.from != dst || reply.data != payload {
                continue;
            }
            let r = PingReply {
                from: reply.from,
                seq_no: seq,
                ttl: reply.ttl,
                bytes: reply.data.len() + 8,
                rtt: sent_at.elapsed(),
            };
            stats.received += 1;
            stats.rtts.push(r.rtt);
            on_reply(&r);
            break;
        }
        if seq != opts.count {
            std::thread::sleep(opts.interval.saturating_sub(sent_at.elapsed()));
        }
    }
    Ok(stats)
}
