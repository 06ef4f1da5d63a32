//! SYN cookies (RFC 4987 §3.6): a listener under SYN flood answers with a
//! SYN-ACK whose ISN encodes everything it needs, keeps no state, and
//! rebuilds the connection from the client's ACK.
//!
//! Encoding (the classic Bernstein layout the RFC describes, like Linux's
//! in spirit):
//!
//! ```text
//!  31      27 26  24 23                                  0
//! +----------+------+-------------------------------------+
//! | t mod 32 | MSS  | SipHash(secret; 4-tuple, t, client ISN) |
//! +----------+------+-------------------------------------+
//! ```
//!
//! `t` counts 64-second periods; a cookie is accepted during the period it
//! was issued and the next one (64–128 s of validity). The 3-bit MSS index
//! selects from [`MSS_TABLE`].
//!
//! The other options the SYN offered ride in the SYN-ACK's timestamp, as
//! Linux does (`cookie_init_timestamp`): the low 6 bits of its TSval carry
//! the peer's window scale (4 bits, 15 for none) and SACK-permitted, and
//! the client's ACK echoes them in its TSecr ([`CookieOptions`]). The
//! TSval is the connection's own timestamp clock rounded down to free
//! those bits, so the clock never runs backwards after it. A SYN without
//! timestamps gets a SYN-ACK with the MSS only, and its connection runs
//! without window scaling, SACK or timestamps.

use crate::config::TcpConfig;
use crate::isn::{key_words, siphash24, tuple_bytes};
use crate::tcb::{rcv_wscale_for, ts_clock};
use sockstack_time::{Duration, Instant};
use sockstack_wire::tcp::MAX_WINDOW_SCALE;
use sockstack_wire::{SeqNumber, TcpRepr, TcpTimestamp};
use std::net::SocketAddrV4;

/// MSS values a cookie can carry (3 bits). Chosen like Linux's
/// `msstab` (536, 1300, 1440, 1460) plus intermediate common values.
pub const MSS_TABLE: [u16; 8] = [216, 536, 1024, 1200, 1300, 1400, 1440, 1460];

/// Seconds per time-counter tick.
pub const PERIOD_SECS: u64 = 64;

/// Low bits of a cookie SYN-ACK's TSval that carry the SYN's options.
const TS_OPTION_BITS: u32 = 6;
const TS_OPTION_MASK: u32 = (1 << TS_OPTION_BITS) - 1;
/// The window scale field (4 bits); all ones: no window scaling.
const TS_WSCALE_MASK: u32 = 0xf;
const TS_SACK: u32 = 1 << 4;

/// What a cookie connection negotiated, as its SYN-ACK's TSval recorded
/// it and the client's ACK echoes it (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CookieOptions {
    /// The client's window scale shift, if both sides scale.
    pub window_scale: Option<u8>,
    /// SACK-permitted, offered by both.
    pub sack: bool,
    /// Timestamps, offered by both (the others need them).
    pub timestamps: bool,
}

impl CookieOptions {
    /// The options the SYN `syn` and we (`config`) both offer.
    fn negotiated(syn: &TcpRepr<'_>, config: &TcpConfig) -> CookieOptions {
        let timestamps = config.timestamps && syn.timestamp.is_some();
        CookieOptions {
            // Without timestamps there is nowhere to keep the others.
            window_scale: syn
                .window_scale
                .filter(|_| timestamps && config.window_scale)
                .map(|w| w.min(MAX_WINDOW_SCALE)),
            sack: timestamps && config.sack && syn.sack_permitted,
            timestamps,
        }
    }

    fn bits(self) -> u32 {
        self.window_scale.map_or(TS_WSCALE_MASK, u32::from) | if self.sack { TS_SACK } else { 0 }
    }

    /// The options the ACK completing a cookie handshake echoes in its
    /// TSecr (Linux `cookie_timestamp_decode`); without a timestamp, none.
    /// `None` if they cannot have come from a SYN-ACK of ours under
    /// `config`: a window scale past 14, or an option we do not offer.
    pub fn decode(ack: &TcpRepr<'_>, config: &TcpConfig) -> Option<CookieOptions> {
        let Some(ts) = ack.timestamp.filter(|_| config.timestamps) else {
            return Some(CookieOptions::default());
        };
        let bits = ts.tsecr & TS_OPTION_MASK;
        let sack = bits & TS_SACK != 0;
        let window_scale = match bits & TS_WSCALE_MASK {
            TS_WSCALE_MASK => None,
            w if w <= u32::from(MAX_WINDOW_SCALE) && config.window_scale => Some(w as u8),
            _ => return None,
        };
        if sack && !config.sack {
            return None;
        }
        Some(CookieOptions { window_scale, sack, timestamps: true })
    }
}

/// SYN-cookie encoder and checker, keyed by a secret (RFC 4987 §3.6).
#[derive(Clone)]
pub struct SynCookies {
    k0: u64,
    k1: u64,
}

impl core::fmt::Debug for SynCookies {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SynCookies { .. }")
    }
}

impl SynCookies {
    /// How long a cookie is valid at most: the rest of the period it was
    /// issued in, and the next.
    pub const LIFETIME: Duration = Duration::from_secs(2 * PERIOD_SECS);

    /// A cookie generator keyed by `secret` (the SipHash key).
    pub fn new(secret: [u8; 16]) -> SynCookies {
        let (k0, k1) = key_words(secret);
        SynCookies { k0, k1 }
    }

    fn counter(now: Instant) -> u32 {
        (now.total_micros() / 1_000_000 / PERIOD_SECS) as u32
    }

    fn hash(&self, local: SocketAddrV4, remote: SocketAddrV4, t: u32, client_isn: u32) -> u32 {
        let mut extra = [0u8; 8];
        extra[..4].copy_from_slice(&t.to_be_bytes());
        extra[4..].copy_from_slice(&client_isn.to_be_bytes());
        siphash24(self.k0, self.k1, &tuple_bytes(local, remote, &extra)) as u32 & 0x00ff_ffff
    }

    /// Index of the largest table MSS not above `mss` (0 if all are).
    pub fn mss_index(mss: u16) -> usize {
        MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0)
    }

    /// The ISN for our SYN-ACK answering a SYN with sequence `client_isn`
    /// and MSS option `mss` (use 536 when absent, RFC 9293 §3.7.1).
    pub fn cookie_isn(
        &self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        client_isn: SeqNumber,
        mss: u16,
    ) -> SeqNumber {
        let t = Self::counter(now);
        let idx = Self::mss_index(mss) as u32;
        SeqNumber(((t % 32) << 27) | (idx << 24) | self.hash(local, remote, t, client_isn.0))
    }

    /// Validates the ACK completing a cookie handshake; returns the MSS it
    /// encodes. The ACK must have ACK set and neither SYN nor RST; its
    /// acknowledgment is cookie + 1 and its sequence client ISN + 1.
    pub fn check(
        &self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        ack_of_synack: &TcpRepr<'_>,
    ) -> Option<u16> {
        if ack_of_synack.syn || ack_of_synack.rst {
            return None;
        }
        let cookie = ack_of_synack.ack_number?.0.wrapping_sub(1);
        let client_isn = ack_of_synack.seq_number.0.wrapping_sub(1);
        let now_t = Self::counter(now);
        let t5 = cookie >> 27;
        let idx = ((cookie >> 24) & 0x7) as usize;
        [now_t, now_t.wrapping_sub(1)]
            .into_iter()
            .filter(|t| t % 32 == t5)
            .any(|t| self.hash(local, remote, t, client_isn) == cookie & 0x00ff_ffff)
            .then(|| MSS_TABLE[idx])
    }

    /// The stateless SYN-ACK answering `syn`: the cookie as its ISN, our
    /// MSS (clamped by `route_mss`), and, when the SYN has timestamps, the
    /// options both sides offer, recorded in its TSval (see module docs).
    /// `ts_offset` is the timestamp clock offset the connection will run
    /// with ([`crate::Initial`]): the one any connection of this 4-tuple
    /// has, cookie or not, so that the peer sees one clock.
    #[allow(clippy::too_many_arguments)]
    pub fn synack(
        &self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr<'_>,
        route_mss: u16,
        ts_offset: u32,
        config: &TcpConfig,
    ) -> TcpRepr<'static> {
        let peer_mss = syn.max_seg_size.unwrap_or(536);
        let cookie = self.cookie_isn(now, local, remote, syn.seq_number, peer_mss);
        let opts = CookieOptions::negotiated(syn, config);
        let timestamp = syn.timestamp.filter(|_| opts.timestamps).map(|theirs| {
            // The connection's clock, rounded down to free the low bits:
            // never ahead of what it stamps next.
            let clock = ts_clock(now, ts_offset);
            let mut tsval = (clock & !TS_OPTION_MASK) | opts.bits();
            if (tsval.wrapping_sub(clock) as i32) > 0 {
                tsval = tsval.wrapping_sub(1 << TS_OPTION_BITS);
            }
            TcpTimestamp { tsval, tsecr: theirs.tsval }
        });
        TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq_number: cookie,
            ack_number: Some(syn.seq_number + 1),
            syn: true,
            window_len: config.rcv_buf.min(65535) as u16,
            max_seg_size: Some(config.mss.min(route_mss)),
            window_scale: opts.window_scale.map(|_| rcv_wscale_for(config)),
            sack_permitted: opts.sack,
            timestamp,
            ..TcpRepr::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn addrs() -> (SocketAddrV4, SocketAddrV4) {
        (SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80), SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 40000))
    }

    fn ack(cookie: SeqNumber, client_isn: u32) -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq_number: SeqNumber(client_isn.wrapping_add(1)),
            ack_number: Some(cookie + 1),
            ..TcpRepr::default()
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let (l, r) = addrs();
        let sc = SynCookies::new([3; 16]);
        let t0 = Instant::from_secs(1000);
        let c = sc.cookie_isn(t0, l, r, SeqNumber(u32::MAX), 1460);
        assert_eq!(sc.check(t0, l, r, &ack(c, u32::MAX)), Some(1460));
        // Still valid in the next period, not the one after.
        assert_eq!(sc.check(t0 + sockstack_time::Duration::from_secs(64), l, r, &ack(c, u32::MAX)), Some(1460));
        assert_eq!(sc.check(t0 + sockstack_time::Duration::from_secs(200), l, r, &ack(c, u32::MAX)), None);
        // Wrong client ISN, wrong tuple, wrong secret, forged bits.
        assert_eq!(sc.check(t0, l, r, &ack(c, 5)), None);
        assert_eq!(sc.check(t0, r, l, &ack(c, u32::MAX)), None);
        assert_eq!(SynCookies::new([4; 16]).check(t0, l, r, &ack(c, u32::MAX)), None);
        assert_eq!(sc.check(t0, l, r, &ack(SeqNumber(c.0 ^ 1), u32::MAX)), None);
        let mut syn_ack = ack(c, u32::MAX);
        syn_ack.syn = true;
        assert_eq!(sc.check(t0, l, r, &syn_ack), None);
    }

    #[test]
    fn mss_encoding() {
        let (l, r) = addrs();
        let sc = SynCookies::new([3; 16]);
        let now = Instant::from_secs(5);
        for (mss, expect) in [(1460, 1460), (1400, 1400), (9000, 1460), (1000, 536), (100, 216)] {
            let c = sc.cookie_isn(now, l, r, SeqNumber(77), mss);
            assert_eq!(sc.check(now, l, r, &ack(c, 77)), Some(expect), "mss {mss}");
        }
    }

    /// A client's SYN (ISN 9, MSS 1460) with these options.
    fn syn(window_scale: Option<u8>, sack_permitted: bool, timestamp: Option<TcpTimestamp>) -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq_number: SeqNumber(9),
            syn: true,
            max_seg_size: Some(1460),
            window_scale,
            sack_permitted,
            timestamp,
            ..TcpRepr::default()
        }
    }

    #[test]
    fn synack_without_timestamps_offers_only_mss() {
        let (l, r) = addrs();
        let sc = SynCookies::new([3; 16]);
        let syn = syn(Some(7), true, None);
        let sa = sc.synack(Instant::ZERO, l, r, &syn, 1400, 0, &TcpConfig::default());
        assert_eq!(sa.ack_number, Some(SeqNumber(10)));
        assert_eq!(sa.max_seg_size, Some(1400));
        assert!(sa.window_scale.is_none() && !sa.sack_permitted && sa.timestamp.is_none());
        assert_eq!(sc.check(Instant::ZERO, l, r, &ack(sa.seq_number, 9)), Some(1460));
        assert_eq!(
            CookieOptions::decode(&ack(sa.seq_number, 9), &TcpConfig::default()),
            Some(CookieOptions::default())
        );
    }

    /// Linux's layout: the options ride in the TSval's low 6 bits, which
    /// the client echoes; the TSval never runs ahead of the connection's
    /// own clock.
    #[test]
    fn options_ride_in_the_timestamp() {
        let (l, r) = addrs();
        let sc = SynCookies::new([3; 16]);
        let config = TcpConfig::default();
        for (ws, sack) in [(Some(7), true), (Some(0), false), (Some(14), true), (None, true), (Some(20), false)] {
            for ms in [0u64, 1, 63, 64, 100_000, 4_294_967_295] {
                let now = Instant::from_millis(ms);
                let syn = syn(ws, sack, Some(TcpTimestamp { tsval: 555, tsecr: 0 }));
                let offset = 0x8765_4321;
                let sa = sc.synack(now, l, r, &syn, 1460, offset, &config);
                let ts = sa.timestamp.expect("timestamps");
                assert_eq!(ts.tsecr, 555);
                let clock = ts_clock(now, offset);
                assert!(clock.wrapping_sub(ts.tsval) < 64, "{} behind {clock}", ts.tsval);
                assert_eq!(sa.window_scale, ws.map(|_| rcv_wscale_for(&config)));
                assert_eq!(sa.sack_permitted, sack);
                let mut a = ack(sa.seq_number, 9);
                a.timestamp = Some(TcpTimestamp { tsval: 556, tsecr: ts.tsval });
                let got = CookieOptions::decode(&a, &config).expect("ours");
                let want = CookieOptions { window_scale: ws.map(|w| w.min(14)), sack, timestamps: true };
                assert_eq!(got, want);
            }
        }
        // A TSecr claiming what we do not offer is not ours.
        let mut a = ack(SeqNumber(1), 9);
        a.timestamp = Some(TcpTimestamp { tsval: 1, tsecr: 0x10 | 7 });
        assert!(CookieOptions::decode(&a, &TcpConfig { sack: false, ..TcpConfig::default() }).is_none());
        assert!(CookieOptions::decode(&a, &TcpConfig { window_scale: false, ..TcpConfig::default() }).is_none());
    }
}
