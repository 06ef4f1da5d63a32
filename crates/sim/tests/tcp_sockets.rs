//! TCP socket semantics in the host stack, as Linux has them: listener
//! queues, SYN cookies under a SYN flood, RST rules, close semantics.

use sockstack_sim::{HostId, LinkConfig, Sim, TcpState};
use sockstack_stack::{DropReason, IfaceId};
use sockstack_time::Duration;
use sockstack_wire::{emit_tcp_datagram, tcp_ipv4_header, ChecksumMode, Ipv4Addr, SeqNumber, TcpRepr};
use std::cell::RefCell;
use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddrV4};
use std::rc::Rc;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn two_hosts() -> (Sim, HostId, HostId) {
    let mut sim = Sim::new(9);
    let lan = sim
        .add_switch(
            "lan",
            "192.0.2.0/24".parse().unwrap(),
            LinkConfig::default().with_latency(Duration::from_millis(1)),
        )
        .unwrap();
    let a = sim.add_host("a");
    let b = sim.add_host("b");
    sim.attach(a, lan, A).unwrap();
    sim.attach(b, lan, B).unwrap();
    (sim, a, b)
}

fn at(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

/// Hands `seg`, from `src`, to host `b`'s stack (B).
fn inject(sim: &mut Sim, b: HostId, src: Ipv4Addr, seg: &TcpRepr<'_>, ident: u16) {
    let ip = tcp_ipv4_header(src, B, 64, ident, seg.buffer_len(), true);
    let mut buf = vec![0u8; 20 + seg.buffer_len()];
    emit_tcp_datagram(&mut buf, &ip, seg, ChecksumMode::Verify);
    let now = sim.now();
    sim.stack_mut(b).receive(now, IfaceId(0), &buf);
}

#[test]
fn syn_cookies_let_a_real_client_in_during_a_syn_flood() {
    let (mut sim, a, b) = two_hosts();
    let result = Rc::new(RefCell::new(None));
    let r = result.clone();
    sim.spawn(b, "server", move |p| async move {
        let l = p.tcp_listen(at(B, 80), 128).unwrap();
        let (s, _) = l.accept().await.unwrap();
        let mut buf = [0u8; 5];
        let n = s.read(&mut buf).await.unwrap();
        *r.borrow_mut() = Some(buf[..n].to_vec());
        s.write_all(b"world").await.unwrap();
    });
    sim.run_for(Duration::from_millis(1));
    // A blind ACK, as a guess at a cookie: a listener that has sent no
    // cookie lately does not test it as one (Linux
    // tcp_synq_no_recent_overflow), and answers with a RST.
    let stranger = Ipv4Addr::new(203, 0, 113, 9);
    let guess = TcpRepr {
        src_port: 999,
        dst_port: 80,
        seq_number: SeqNumber(4242),
        ack_number: Some(SeqNumber(0x0800_1234)),
        window_len: 64240,
        ..TcpRepr::default()
    };
    inject(&mut sim, b, stranger, &guess, 1);
    assert_eq!(sim.stack(b).counters().tcp_syncookies_failed, 0, "not tested as a cookie");
    // The flood: SYNs from addresses where nobody lives, so no SYN-ACK is
    // ever answered; they fill the SYN queue (256 by default).
    let max_syn_backlog = sim.stack(b).config().tcp_max_syn_backlog;
    for i in 0..(max_syn_backlog + 500) {
        let src = Ipv4Addr::new(198, 51, 100, (i % 250) as u8 + 1);
        let seg = TcpRepr {
            src_port: 1024 + i as u16,
            dst_port: 80,
            seq_number: SeqNumber(i as u32 * 7919),
            syn: true,
            window_len: 64240,
            max_seg_size: Some(1460),
            ..TcpRepr::default()
        };
        inject(&mut sim, b, src, &seg, i as u16);
    }
    // Cookies are out now: the same guess is tested, and fails.
    inject(&mut sim, b, stranger, &guess, 2);
    assert_eq!(sim.stack(b).counters().tcp_syncookies_failed, 1);
    let client = sim.spawn(a, "client", |p| async move {
        let s = p.tcp_connect(at(B, 80)).await.expect("connect during the flood");
        s.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        let mut got = 0;
        while got < 5 {
            got += s.read(&mut buf[got..]).await.unwrap();
        }
        assert_eq!(&buf, b"world");
        // The cookie SYN-ACK kept the SYN's options (in its timestamp).
        let st = s.stats().unwrap();
        assert!(st.timestamps && st.sack && st.snd_wscale > 0 && st.rcv_wscale > 0, "{st:?}");
    });
    assert!(sim.run_until_finished(client));
    assert_eq!(result.borrow().as_deref(), Some(&b"hello"[..]));
    let c = sim.stack(b).counters().clone();
    assert!(c.tcp_syncookies_sent >= 500, "{c}");
    assert_eq!(c.tcp_syncookies_accepted, 1);
    assert_eq!(c.tcp_syncookies_failed, 1);
}

#[test]
fn a_syn_to_a_closed_port_gets_rst_and_connect_is_refused() {
    let (mut sim, a, b) = two_hosts();
    let t = sim.spawn(a, "c", |p| async move {
        let e = p.tcp_connect(at(B, 81)).await.err().unwrap();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    });
    assert!(sim.run_until_finished(t));
    assert_eq!(sim.stack(b).counters().dropped(DropReason::TcpNoSocket), 1);
}

#[test]
fn accept_can_return_a_connection_already_in_close_wait() {
    let (mut sim, a, b) = two_hosts();
    let l = Rc::new(RefCell::new(None));
    let l2 = l.clone();
    sim.spawn(b, "listen", move |p| async move {
        *l2.borrow_mut() = Some(p.tcp_listen(at(B, 80), 8).unwrap());
        p.sleep(Duration::from_secs(3600)).await;
    });
    sim.run_for(Duration::from_millis(1));
    let client = sim.spawn(a, "c", |p| async move {
        let s = p.tcp_connect(at(B, 80)).await.unwrap();
        s.write_all(b"bye").await.unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
    });
    sim.run_for(Duration::from_millis(100));
    let server = sim.spawn(b, "late", move |p| async move {
        let listener = l.borrow_mut().take().unwrap();
        let (s, _) = listener.accept().await.unwrap();
        assert_eq!(s.state().unwrap(), TcpState::CloseWait);
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
        let _ = p;
    });
    assert!(sim.run_until_finished(server));
    assert!(sim.run_until_finished(client));
}

#[test]
fn closing_with_unread_data_resets_and_the_reset_discards_unread_data() {
    let (mut sim, a, b) = two_hosts();
    sim.spawn(b, "rude", |p| async move {
        let l = p.tcp_listen(at(B, 80), 8).unwrap();
        let (s, _) = l.accept().await.unwrap();
        s.write_all(b"you will never read this").await.unwrap();
        // Wait until the client's bytes sit unread here, then close.
        p.sleep(Duration::from_millis(50)).await;
        drop(s);
    });
    let client = sim.spawn(a, "c", |p| async move {
        let s = p.tcp_connect(at(B, 80)).await.unwrap();
        s.write_all(b"unread request").await.unwrap();
        // Don't read until the RST has arrived.
        p.sleep(Duration::from_millis(200)).await;
        let mut buf = [0u8; 64];
        let e = s.read(&mut buf).await.expect_err("the RST discards the unread bytes");
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
    });
    assert!(sim.run_until_finished(client));
}

#[test]
fn closing_a_listener_resets_connections_waiting_in_its_accept_queue() {
    let (mut sim, a, b) = two_hosts();
    sim.spawn(b, "quitter", |p| async move {
        let l = p.tcp_listen(at(B, 80), 8).unwrap();
        p.sleep(Duration::from_millis(100)).await;
        drop(l);
    });
    let client = sim.spawn(a, "c", |p| async move {
        let s = p.tcp_connect(at(B, 80)).await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(s.read(&mut buf).await.err().unwrap().kind(), ErrorKind::ConnectionReset);
    });
    assert!(sim.run_until_finished(client));
}

#[test]
fn a_full_accept_queue_drops_syns_until_the_owner_accepts() {
    let (mut sim, a, b) = two_hosts();
    let server = sim.spawn(b, "slow", |p| async move {
        let l = p.tcp_listen(at(B, 80), 2).unwrap();
        p.sleep(Duration::from_millis(500)).await;
        let mut peers = Vec::new();
        for _ in 0..5 {
            let (s, peer) = l.accept().await.unwrap();
            let mut one = [0u8; 1];
            s.read(&mut one).await.unwrap();
            peers.push((peer, one[0]));
        }
        peers.sort_by_key(|p| p.1);
        assert_eq!(peers.iter().map(|p| p.1).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    });
    for i in 0..5u8 {
        sim.spawn(a, "c", move |p| async move {
            let s = p.tcp_connect(at(B, 80)).await.unwrap();
            s.write_all(&[i]).await.unwrap();
            p.sleep(Duration::from_secs(10)).await;
        });
    }
    assert!(sim.run_until_finished(server));
    assert!(sim.stack(b).counters().dropped(DropReason::TcpListenOverflow) > 0);
}

#[test]
fn time_wait_holds_the_4_tuple_for_2msl_then_frees_everything() {
    let (mut sim, a, b) = two_hosts();
    sim.spawn(b, "server", |p| async move {
        let l = p.tcp_listen(at(B, 80), 8).unwrap();
        let (s, _) = l.accept().await.unwrap();
        let mut v = Vec::new();
        s.read_to_end(&mut v).await.unwrap();
        drop(s);
        p.sleep(Duration::from_secs(3600)).await;
    });
    let client = sim.spawn(a, "c", |p| async move {
        let s = p.tcp_connect(at(B, 80)).await.unwrap();
        s.write_all(b"x").await.unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        // Dropped here: the active closer ends in TIME-WAIT.
    });
    assert!(sim.run_until_finished(client));
    sim.run_for(Duration::from_secs(1));
    // The client's side lingers in TIME-WAIT (the server's is closed), no
    // longer a socket but a compact record.
    assert_eq!(sim.stack(a).tcp_connection_count(), 1);
    assert_eq!(sim.stack(a).tcp_time_wait_count(), 1);
    assert_eq!(sim.stack(a).socket_count(), 0);
    sim.run_for(Duration::from_secs(61));
    assert_eq!(sim.stack(a).tcp_connection_count(), 0);
    assert_eq!(sim.stack(a).socket_count(), 0);
}

/// a —(1500)— r1 —(`mtu`)— r2 —(1500)— b, routed both ways; returns the
/// simulator (seeded with `seed`), a, r1 and b.
fn narrow_hop(seed: u64, mtu: usize) -> (Sim, HostId, HostId, HostId) {
    let mut sim = Sim::new(seed);
    let a = sim.add_host("a");
    let r1 = sim.add_router("r1");
    let r2 = sim.add_router("r2");
    let b = sim.add_host("b");
    let wide = LinkConfig::default;
    sim.connect("left", a, "192.0.2.1/24".parse().unwrap(), r1, "192.0.2.254/24".parse().unwrap(), wide()).unwrap();
    let narrow = LinkConfig::default().with_mtu(mtu);
    sim.connect("mid", r1, "203.0.113.1/30".parse().unwrap(), r2, "203.0.113.2/30".parse().unwrap(), narrow).unwrap();
    sim.connect("right", r2, "198.51.100.254/24".parse().unwrap(), b, "198.51.100.1/24".parse().unwrap(), wide())
        .unwrap();
    sim.stack_mut(a).set_default_gateway("192.0.2.254".parse().unwrap()).unwrap();
    sim.stack_mut(r1).set_default_gateway("203.0.113.2".parse().unwrap()).unwrap();
    sim.stack_mut(r2).set_default_gateway("203.0.113.1".parse().unwrap()).unwrap();
    sim.stack_mut(b).set_default_gateway("198.51.100.254".parse().unwrap()).unwrap();
    (sim, a, r1, b)
}

/// `bytes` from a to b:80 (198.51.100.1) over TCP, checked byte for
/// byte; the sender's MSS once all is written must pass `mss_ok`.
fn transfer_across(sim: &mut Sim, a: HostId, b: HostId, bytes: u32, mss_ok: fn(usize) -> bool) {
    let dst = at("198.51.100.1".parse().unwrap(), 80);
    let data: Vec<u8> = (0..bytes).map(|i| (i % 253) as u8).collect();
    let expect = data.clone();
    let server = sim.spawn(b, "sink", move |p| async move {
        let l = p.tcp_listen(dst, 4).unwrap();
        let (s, _) = l.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert!(got == expect, "received {} bytes", got.len());
    });
    sim.spawn(a, "src", move |p| async move {
        let s = p.tcp_connect(dst).await.unwrap();
        s.write_all(&data).await.unwrap();
        let mss = s.stats().unwrap().mss;
        assert!(mss_ok(mss), "mss {mss}");
        s.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
    });
    assert!(sim.run_until_finished(server));
}

#[test]
fn path_mtu_discovery_lowers_the_mss_across_a_narrow_hop() {
    // a —(1500)— r1 —(576)— r2 —(1500)— b: both ends offer MSS 1460;
    // only the middle hop is narrow.
    let (mut sim, a, r, b) = narrow_hop(3, 576);
    transfer_across(&mut sim, a, b, 300_000, |mss| mss <= 536);
    assert!(sim.stack(r).counters().dropped(DropReason::FragNeeded) >= 1);
    assert_eq!(sim.stack(r).counters().ip_fragments_tx, 0);
}

/// A hop narrower than the path-MTU floor (296 octets, below Linux's
/// `min_pmtu` of 552): the sender locks the path at 552 instead of
/// shrinking its segments to 256 octets, sends them without Don't
/// Fragment, and the narrow hop's router fragments them; the receiver
/// reassembles every one, and the bytes arrive whole.
#[test]
fn a_hop_below_the_path_mtu_floor_fragments_locked_segments() {
    let (mut sim, a, r1, b) = narrow_hop(4, 296);
    transfer_across(&mut sim, a, b, 200_000, |mss| (500..=512).contains(&mss));
    let now = sim.now();
    assert_eq!(sim.stack(a).learned_path_mtu(now, "198.51.100.1".parse().unwrap()), Some(552));
    assert!(sim.stack(r1).counters().dropped(DropReason::FragNeeded) >= 1);
    assert!(sim.stack(r1).counters().ip_fragments_tx > 0, "the narrow hop fragments");
}

#[test]
fn a_new_syn_reopens_a_4_tuple_in_time_wait() {
    let (mut sim, a, b) = two_hosts();
    let server = sim.spawn(b, "server", |p| async move {
        let l = p.tcp_listen(at(B, 80), 4).unwrap();
        for round in 0..2u8 {
            let (s, peer) = l.accept().await.unwrap();
            assert_eq!(peer, at(A, 40000));
            s.write_all(&[round]).await.unwrap();
            // The server closes first: its side ends in TIME-WAIT.
            drop(s);
            p.sleep(Duration::from_millis(50)).await;
        }
    });
    let client = sim.spawn(a, "client", |p| async move {
        for round in 0..2u8 {
            let s = p.tcp_connect_from(at(A, 40000), at(B, 80)).await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, vec![round]);
            drop(s);
            p.sleep(Duration::from_millis(100)).await;
        }
    });
    assert!(sim.run_until_finished(client));
    assert!(sim.run_until_finished(server));
}
