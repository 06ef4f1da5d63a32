//! Message passing between two real-time stacks: datagrams and stream
//! frames to "name:port", bounded queues, back-pressure.

use sockstack_api::{pair, Delivery, Driver, HostResolver, Mailbox, MailboxConfig};
use sockstack_link::LinkConfig;
use sockstack_stack::ProcessId;
use sockstack_wire::Ipv4Addr;
use std::io::ErrorKind;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// Two stacks whose processes know each other as "alpha" and "beta".
fn nets() -> (Driver, Driver) {
    let (a, b) = pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), LinkConfig::default()).unwrap();
    let hosts: HostResolver = Arc::new(|name: &str| match name {
        "alpha" => Ok(vec![A]),
        "beta" => Ok(vec![B]),
        _ => Err(std::io::Error::new(ErrorKind::NotFound, format!("{name}: unknown host"))),
    });
    a.set_resolver(hosts.clone());
    b.set_resolver(hosts);
    (a, b)
}

fn message(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j * 7) as u8).collect()
}

#[test]
fn datagrams_and_stream_frames_arrive_whole_by_name() {
    let (a, b) = nets();
    let alpha = Mailbox::bind(&a.handle(ProcessId(1)), SocketAddrV4::new(A, 4000), MailboxConfig::default()).unwrap();
    let beta = Mailbox::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(B, 4000), MailboxConfig::default()).unwrap();
    alpha.send("beta:4000", Delivery::Datagram, b"one datagram").unwrap();
    let m = beta.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!((m.delivery, m.data.as_slice(), m.from), (Delivery::Datagram, &b"one datagram"[..], alpha.local_addr()));
    // Stream frames: whole, in order, sizes from 0 to 100 KiB.
    let sizes: Vec<usize> = (0..60).map(|i| (i * 1733) % 100_000).collect();
    let sender = std::thread::spawn(move || {
        for (i, &len) in sizes.iter().enumerate() {
            alpha.send("beta:4000", Delivery::Stream, &message(i, len)).unwrap();
        }
        alpha
    });
    for i in 0..60 {
        let m = beta.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(m.delivery, Delivery::Stream);
        assert_eq!(m.data, message(i, (i * 1733) % 100_000), "message {i}");
    }
    let alpha = sender.join().unwrap();
    // Errors a caller can act on.
    assert_eq!(alpha.send("gamma:1", Delivery::Datagram, b"x").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(alpha.send("beta", Delivery::Datagram, b"x").unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(
        alpha.send("beta:4000", Delivery::Datagram, &vec![0; 70_000]).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn a_full_destination_queue_pushes_back_and_nothing_accepted_is_lost() {
    let (a, b) = nets();
    let small = MailboxConfig { inbox_capacity: 1, per_destination: 2, ..MailboxConfig::default() };
    let alpha = Mailbox::bind(&a.handle(ProcessId(1)), SocketAddrV4::new(A, 0), small).unwrap();
    let beta = Mailbox::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(B, 5000), small).unwrap();
    // beta does not read: its inbox fills, TCP's window closes, the
    // writer stalls, and alpha's queue to beta fills up.
    let mut accepted = 0usize;
    let mut pushed_back = false;
    for i in 0..200 {
        match alpha.try_send("beta:5000", Delivery::Stream, &message(i, 256 * 1024)) {
            Ok(()) => accepted += 1,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                pushed_back = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(pushed_back, "200 × 256 KiB accepted without back-pressure");
    assert!(accepted < 200);
    // Every accepted message arrives, whole and in order.
    for i in 0..accepted {
        let m = beta.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(m.data, message(i, 256 * 1024), "message {i}");
    }
    assert!(beta.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn a_refused_destination_is_reported() {
    let (a, _b) = nets();
    let alpha = Mailbox::bind(&a.handle(ProcessId(1)), SocketAddrV4::new(A, 0), MailboxConfig::default()).unwrap();
    // Nothing listens on beta:6000: the first send is queued (or, if the
    // refusal is back already, fails), the connection is refused, and a
    // later send reports it.
    let mut err = alpha.send("beta:6000", Delivery::Stream, b"hello?").err().map(|e| e.kind());
    for _ in 0..100 {
        if err.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        if let Err(e) = alpha.send("beta:6000", Delivery::Stream, b"again") {
            err = Some(e.kind());
            break;
        }
    }
    assert_eq!(err, Some(ErrorKind::ConnectionRefused));
}
