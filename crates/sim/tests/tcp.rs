//! TCP across the in-memory network: bulk transfers checked byte for byte
//! under every impairment the links offer, in virtual time.

use sockstack_sim::{HostId, LinkConfig, Sim, TcpState, TcpStats};
use sockstack_stack::DropReason;
use sockstack_time::Duration;
use sockstack_wire::Ipv4Addr;
use std::cell::RefCell;
use std::net::{Shutdown, SocketAddrV4};
use std::rc::Rc;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// The byte at stream offset `i`: a pure function of the offset, so both
/// ends generate any chunk independently and the receiver checks every
/// byte without either side holding the whole transfer.
fn pattern_at(offset: usize, out: &mut [u8]) {
    for (j, b) in out.iter_mut().enumerate() {
        let i = (offset + j) as u64;
        // splitmix64 of the word index, one byte of it.
        let mut z = (i / 8).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        *b = z.to_le_bytes()[(i % 8) as usize];
    }
}

fn two_hosts(seed: u64, link: LinkConfig) -> (Sim, HostId, HostId) {
    let mut sim = Sim::new(seed);
    let lan = sim.add_switch("lan", "192.0.2.0/24".parse().unwrap(), link).unwrap();
    let a = sim.add_host("a");
    let b = sim.add_host("b");
    sim.attach(a, lan, A).unwrap();
    sim.attach(b, lan, B).unwrap();
    (sim, a, b)
}

/// What a transfer measured: bytes verified, the virtual time the receiver
/// took from accept to end of stream, both ends' statistics at the end,
/// and the largest window the sender used along the way.
struct Transfer {
    len: usize,
    took: Duration,
    sender: TcpStats,
    receiver: TcpStats,
    /// Largest RFC 6675 pipe (bytes in flight) and send window the sender
    /// showed, sampled after each 64 KiB it wrote.
    peak_pipe: usize,
    peak_snd_wnd: usize,
}

/// Sends `len` pattern bytes from a to b. Panics on the first wrong byte.
fn transfer(sim: &mut Sim, a: HostId, b: HostId, len: usize) -> Transfer {
    let done = Rc::new(RefCell::new(None));
    let d = done.clone();
    let server = sim.spawn(b, "sink", move |p| async move {
        let l = p.tcp_listen(SocketAddrV4::new(B, 5001), 16).unwrap();
        let (s, _) = l.accept().await.unwrap();
        let t0 = p.now();
        let mut buf = vec![0u8; 65536];
        let mut want = vec![0u8; 65536];
        let mut got = 0usize;
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            pattern_at(got, &mut want[..n]);
            assert!(buf[..n] == want[..n], "byte mismatch within [{got}, {})", got + n);
            got += n;
        }
        *d.borrow_mut() = Some((got, p.now() - t0, s.stats().unwrap()));
    });
    let sent = Rc::new(RefCell::new(None));
    let out = sent.clone();
    let source = sim.spawn(a, "source", move |p| async move {
        let s = p.tcp_connect(SocketAddrV4::new(B, 5001)).await.unwrap();
        let mut buf = vec![0u8; 65536];
        let mut sent = 0;
        let (mut peak_pipe, mut peak_snd_wnd) = (0, 0);
        while sent < len {
            let n = (len - sent).min(buf.len());
            pattern_at(sent, &mut buf[..n]);
            s.write_all(&buf[..n]).await.unwrap();
            sent += n;
            let st = s.stats().unwrap();
            peak_pipe = st.pipe.max(peak_pipe);
            peak_snd_wnd = st.snd_wnd.max(peak_snd_wnd);
        }
        s.shutdown(Shutdown::Write).unwrap();
        // Wait for the peer's FIN before exiting.
        let mut rest = Vec::new();
        assert_eq!(s.read_to_end(&mut rest).await.unwrap(), 0);
        *out.borrow_mut() = Some((s.stats().unwrap(), peak_pipe, peak_snd_wnd));
    });
    assert!(sim.run_until_finished(server), "transfer did not complete");
    assert!(sim.run_until_finished(source), "sender did not see the end");
    let (len, took, receiver) = done.borrow_mut().take().expect("server finished");
    let (sender, peak_pipe, peak_snd_wnd) = sent.borrow_mut().take().expect("source finished");
    Transfer { len, took, sender, receiver, peak_pipe, peak_snd_wnd }
}

#[test]
fn bulk_transfer_on_a_clean_link() {
    let (mut sim, a, b) = two_hosts(1, LinkConfig::default().with_latency(Duration::from_millis(1)));
    let t = transfer(&mut sim, a, b, 4 << 20);
    assert_eq!(t.len, 4 << 20);
}

const MIB64: usize = 64 << 20;

/// 100 Mbit/s, 10 ms one way: a realistic path for the impairment tests.
fn path() -> LinkConfig {
    LinkConfig::default().with_bandwidth_bps(100_000_000).with_latency(Duration::from_millis(10)).with_queue_limit(2000)
}

/// 64 MiB a → b, byte-checked; returns what was measured and the
/// simulation, for the receiving stack's counters.
fn transfer_64mib(seed: u64, link: LinkConfig) -> (Transfer, Sim, HostId) {
    let (mut sim, a, b) = two_hosts(seed, link);
    let t = transfer(&mut sim, a, b, MIB64);
    assert_eq!(t.len, MIB64);
    // Whatever the path did, each end counts the stream once: new data
    // sent (retransmissions apart) and data received.
    assert_eq!(t.sender.bytes_sent, MIB64 as u64, "sender {:?}", t.sender);
    assert_eq!(t.receiver.bytes_received, MIB64 as u64, "receiver {:?}", t.receiver);
    (t, sim, b)
}

/// The impairment was there: asserted on what the ends saw, so a link that
/// silently stopped impairing would fail the test.
fn saw_loss(t: &Transfer) {
    // 5% of the ~46,000 data segments are lost on the way; their bytes
    // go again. Half that share is a floor no binomial draw falls under.
    assert!(t.sender.bytes_retrans >= MIB64 as u64 / 40, "retransmitted too little for 5% loss: {:?}", t.sender);
}

fn saw_reordering(t: &Transfer) {
    assert!(t.receiver.out_of_order_segments > 0, "no segment arrived out of order: {:?}", t.receiver);
    // The sender saw it too: octets delivered after octets sent later
    // (RFC 8985 §6.2 step 3).
    assert!(t.sender.reord_seen > 0, "the sender saw no reordering: {:?}", t.sender);
}

fn saw_duplication(t: &Transfer) {
    // More data segments arrived than were ever sent: only copies made on
    // the way can do that.
    assert!(
        t.receiver.data_segs_in > t.sender.data_segs_out,
        "{} data segments in, {} out",
        t.receiver.data_segs_in,
        t.sender.data_segs_out
    );
}

fn saw_corruption(sim: &Sim, b: HostId) {
    // A flipped bit fails the TCP checksum (RFC 9293 §3.1) or, in the
    // IPv4 header, the header checksum; most land in the payload.
    let dropped = sim.stack(b).counters().dropped(DropReason::TcpBadChecksum);
    assert!(dropped > 0, "no segment failed its checksum");
}

#[test]
fn bulk_64mib_under_5_percent_loss() {
    let (t, _, _) = transfer_64mib(11, path().with_loss(0.05));
    saw_loss(&t);
    // A path that only loses never looks reordered: a retransmission's
    // delivery, of whatever kind, is not taken for a late original (RFC
    // 8985 §6.2 step 3 asks for never-retransmitted segments).
    assert_eq!(t.sender.reord_seen, 0, "{:?}", t.sender);
}

#[test]
fn bulk_64mib_under_10_percent_reordering() {
    let (t, _, _) = transfer_64mib(12, path().with_reorder(0.10));
    saw_reordering(&t);
    // Nothing is lost here, so every retransmission is one reordering
    // caused. Once RACK has seen the path reorder, duplicate ACKs and
    // DupThresh SACKed segments no longer count as loss, and D-SACKs widen
    // its reordering window (RFC 8985 §6.2): about 20 KB go twice. (Before
    // either, 5.6 MB did: 8% of the stream.)
    assert!(t.sender.bytes_retrans < MIB64 as u64 / 100, "{:?}", t.sender);
}

#[test]
fn bulk_64mib_under_2_percent_duplication() {
    let (t, _, _) = transfer_64mib(13, path().with_duplicate(0.02));
    saw_duplication(&t);
}

#[test]
fn bulk_64mib_under_1_percent_corruption() {
    let (_, sim, b) = transfer_64mib(14, path().with_corrupt(0.01));
    saw_corruption(&sim, b);
}

#[test]
fn bulk_64mib_over_200ms_rtt_with_a_large_window() {
    let link = path().with_latency(Duration::from_millis(100));
    let (mut sim, a, b) = two_hosts(15, link);
    let t = transfer(&mut sim, a, b, MIB64);
    assert_eq!(t.len, MIB64);
    eprintln!(
        "took {:?}; peak pipe {}, peak snd_wnd {}, receiver rcv_buf {}",
        t.took, t.peak_pipe, t.peak_snd_wnd, t.receiver.rcv_buf
    );
    // The path holds 100 Mbit/s × 200 ms = 2.5 MB: window scaling
    // (RFC 7323 §2) and auto-tuning must take the window past 1 MiB. The
    // receiver's buffer grew, it offered the window, and the sender filled it.
    const MIB: usize = 1 << 20;
    assert!(t.receiver.rcv_buf >= MIB, "receive buffer {}", t.receiver.rcv_buf);
    assert!(t.peak_snd_wnd >= MIB, "peak send window {}", t.peak_snd_wnd);
    assert!(t.peak_pipe >= MIB, "peak bytes in flight {}", t.peak_pipe);
    // And on average: a window W delivers at most W per RTT, so one never
    // above 1 MiB needs at least (64 MiB / 1 MiB − 1) × 200 ms = 12.6 s
    // (the −1: the first window's RTT is not counted from accept). Line
    // rate alone takes 5.6 s.
    assert!(t.took < Duration::from_millis(12_600), "took {:?}", t.took);
}

#[test]
fn bulk_64mib_under_every_impairment_at_once() {
    let link = path()
        .with_jitter(Duration::from_millis(2))
        .with_loss(0.05)
        .with_reorder(0.10)
        .with_duplicate(0.02)
        .with_corrupt(0.01);
    let (t, sim, b) = transfer_64mib(16, link);
    saw_loss(&t);
    saw_reordering(&t);
    saw_corruption(&sim, b);
    // (Duplicates cannot be told from the segment counts here: losses
    // outnumber them.)
}

/// `ss -ti` for both ends of an 8 MiB transfer, read while both are still
/// ESTABLISHED: the receiver once it has read every byte, the sender once
/// the receiver's one-byte reply (which acknowledges everything) is in.
#[test]
fn statistics_after_a_byte_checked_transfer() {
    const N: usize = 8 << 20;
    let (mut sim, a, b) = two_hosts(18, path());
    let stats = Rc::new(RefCell::new((None, None)));
    let (out_b, out_a) = (stats.clone(), stats.clone());
    let sink = sim.spawn(b, "sink", move |p| async move {
        let l = p.tcp_listen(SocketAddrV4::new(B, 5001), 16).unwrap();
        let (s, _) = l.accept().await.unwrap();
        let (mut buf, mut want) = (vec![0u8; 65536], vec![0u8; 65536]);
        let mut got = 0;
        while got < N {
            let n = s.read(&mut buf[..(N - got).min(65536)]).await.unwrap();
            assert!(n > 0, "end of stream after {got} bytes");
            pattern_at(got, &mut want[..n]);
            assert!(buf[..n] == want[..n], "byte mismatch within [{got}, {})", got + n);
            got += n;
        }
        out_b.borrow_mut().1 = Some(s.stats().unwrap());
        s.write_all(b"k").await.unwrap();
        let mut rest = Vec::new();
        assert_eq!(s.read_to_end(&mut rest).await.unwrap(), 0);
    });
    sim.spawn(a, "source", move |p| async move {
        let s = p.tcp_connect(SocketAddrV4::new(B, 5001)).await.unwrap();
        let mut buf = vec![0u8; N];
        pattern_at(0, &mut buf);
        s.write_all(&buf).await.unwrap();
        let mut k = [0u8; 1];
        assert_eq!(s.read(&mut k).await.unwrap(), 1);
        out_a.borrow_mut().0 = Some(s.stats().unwrap());
        s.shutdown(Shutdown::Write).unwrap();
    });
    assert!(sim.run_until_finished(sink));
    let (sender, receiver) = stats.borrow_mut().clone();
    let (sender, receiver) = (sender.expect("sender's stats"), receiver.expect("receiver's stats"));
    eprintln!("sender {sender:?}\nreceiver {receiver:?}");
    assert_eq!(sender.state, Some(TcpState::Established));
    assert_eq!(receiver.state, Some(TcpState::Established));
    // Every byte sent once as new data (a clean path), all acknowledged;
    // the receiver stored exactly what it read.
    assert_eq!(sender.bytes_sent, N as u64);
    assert_eq!(sender.bytes_acked, N as u64);
    assert_eq!(receiver.bytes_received, N as u64);
    assert_eq!(sender.bytes_received, 1);
    // RTT (RFC 6298): 20 ms of propagation both ways is the floor; the
    // queue at 100 Mbit/s makes samples differ, so RTTVAR is not zero; and
    // the RTO the sender uses is computed from both (§2.3, §2.4's 200 ms
    // floor; no backoff on a clean path).
    assert!(sender.min_rtt >= Duration::from_millis(20), "{sender:?}");
    assert!(sender.srtt >= sender.min_rtt, "{sender:?}");
    assert!(sender.rttvar > Duration::ZERO, "{sender:?}");
    let rto = sender.srtt + (4 * sender.rttvar).max(Duration::from_millis(1));
    assert_eq!(sender.rto, rto.max(Duration::from_millis(200)), "{sender:?}");
}

#[test]
fn goodput_under_1_percent_loss_stays_a_sane_fraction_of_loss_free() {
    // 20 Mbit/s, 10 ms RTT. The Mathis et al. bound for 1% random loss,
    // MSS/RTT · 1.22/√p ≈ 14 Mbit/s, sits below the link rate: a sane
    // sender reaches a good share of it.
    let link = LinkConfig::default()
        .with_bandwidth_bps(20_000_000)
        .with_latency(Duration::from_millis(5))
        .with_queue_limit(500);
    let len = 8 << 20;
    let (mut sim, a, b) = two_hosts(17, link.clone());
    let clean = transfer(&mut sim, a, b, len).took;
    let (mut sim, a, b) = two_hosts(17, link.with_loss(0.01));
    let lossy = transfer(&mut sim, a, b, len).took;
    let mbps = |d: Duration| len as f64 * 8.0 / d.as_secs_f64() / 1e6;
    let (clean_rate, lossy_rate) = (mbps(clean), mbps(lossy));
    let mathis = 1448.0 * 8.0 / 0.010 * 1.22 / 0.01f64.sqrt() / 1e6;
    eprintln!("goodput: loss-free {clean_rate:.1} Mbit/s, 1% loss {lossy_rate:.1} Mbit/s, Mathis bound {mathis:.1}");
    assert!(clean_rate > 15.0, "loss-free goodput {clean_rate:.1} Mbit/s on a 20 Mbit/s link");
    assert!(
        lossy_rate > 0.5 * mathis && lossy_rate / clean_rate > 0.35,
        "1% loss: {lossy_rate:.1} Mbit/s vs {clean_rate:.1} loss-free (Mathis bound {mathis:.1})"
    );
}

#[test]
fn three_percent_loss_on_a_fast_short_path_is_repaired_by_rack_not_timeouts() {
    // 1 Gbit/s, 100 µs RTT: a retransmission timeout (at least 200 ms)
    // costs two thousand round trips, so recovery must find lost segments,
    // lost retransmissions included, itself (SACK, RACK, TLP).
    let link = |loss| {
        LinkConfig::default()
            .with_bandwidth_bps(1_000_000_000)
            .with_latency(Duration::from_micros(50))
            .with_queue_limit(1000)
            .with_loss(loss)
    };
    let len = 16 << 20;
    let (mut sim, a, b) = two_hosts(17, link(0.0));
    let (clean, clean_time) = sender_stats(&mut sim, a, b, len);
    let (mut sim, a, b) = two_hosts(17, link(0.03));
    let (lossy, lossy_time) = sender_stats(&mut sim, a, b, len);
    let mbps = |d: Duration| len as f64 * 8.0 / d.as_secs_f64() / 1e6;
    eprintln!(
        "goodput: loss-free {:.0} Mbit/s ({} RTOs), 3% loss {:.0} Mbit/s ({} RTOs, {} lost retransmissions repaired)",
        mbps(clean_time),
        clean.rto_timeouts,
        mbps(lossy_time),
        lossy.rto_timeouts,
        lossy.lost_retransmits
    );
    // The slow-start overshoot into the 1000-packet queue loses hundreds
    // of segments at once: repaired without a timeout, at line rate.
    assert_eq!(clean.rto_timeouts, 0, "{clean:?}");
    assert!(mbps(clean_time) > 800.0);
    // About 360 segments and as many ACKs lost: a timeout only where a
    // whole small flight and its probe vanish.
    assert!(lossy.lost_retransmits > 0 && lossy.rto_timeouts <= 3, "{lossy:?}");
    assert!(mbps(lossy_time) > 100.0);
}

/// Sends `len` bytes a → b; returns the sender's statistics and the
/// virtual time the receiver took from accept to end of stream.
fn sender_stats(sim: &mut Sim, a: HostId, b: HostId, len: usize) -> (TcpStats, Duration) {
    let stats = Rc::new(RefCell::new(None));
    let out = stats.clone();
    let took = Rc::new(RefCell::new(Duration::ZERO));
    let t = took.clone();
    let sink = sim.spawn(b, "sink", move |p| async move {
        let l = p.tcp_listen(SocketAddrV4::new(B, 5001), 16).unwrap();
        let (s, _) = l.accept().await.unwrap();
        let t0 = p.now();
        let mut buf = vec![0u8; 65536];
        let mut got = 0;
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            assert!(buf[..n].iter().all(|&b| b == 7));
            got += n;
        }
        assert_eq!(got, len);
        *t.borrow_mut() = p.now() - t0;
    });
    sim.spawn(a, "source", move |p| async move {
        let s = p.tcp_connect(SocketAddrV4::new(B, 5001)).await.unwrap();
        s.write_all(&vec![7u8; len]).await.unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        *out.borrow_mut() = Some(s.stats().unwrap());
    });
    assert!(sim.run_until_finished(sink));
    sim.run_for(Duration::from_secs(1));
    let s = stats.borrow().clone().expect("sender finished");
    let took = *took.borrow();
    (s, took)
}

#[test]
fn hystart_leaves_slow_start_before_the_buffer_overflows() {
    // 20 Mbit/s, 20 ms RTT, a 500-packet buffer (300 ms of queue): slow
    // start alone doubles the window until the buffer overflows and loses
    // hundreds of segments at once; HyStart++ (RFC 9406) sees the RTT rise
    // and moves to congestion avoidance first.
    let link = LinkConfig::default()
        .with_bandwidth_bps(20_000_000)
        .with_latency(Duration::from_millis(10))
        .with_queue_limit(500);
    let (mut sim, a, b) = two_hosts(3, link.clone());
    let (with, _) = sender_stats(&mut sim, a, b, 8 << 20);
    assert_eq!(with.hystart_exits, 1, "{with:?}");
    let mut config = sockstack_stack::StackConfig::default();
    config.tcp.hystart = false;
    let mut sim = Sim::new(3);
    let lan = sim.add_switch("lan", "192.0.2.0/24".parse().unwrap(), link).unwrap();
    let (a, b) = (sim.add_host_with("a", config.clone()), sim.add_host_with("b", config));
    sim.attach(a, lan, A).unwrap();
    sim.attach(b, lan, B).unwrap();
    let (without, _) = sender_stats(&mut sim, a, b, 8 << 20);
    eprintln!("retransmitted: {} octets with HyStart++, {} without", with.bytes_retrans, without.bytes_retrans);
    assert!(with.bytes_retrans * 4 < without.bytes_retrans.max(1), "with {with:?}\nwithout {without:?}");
}
