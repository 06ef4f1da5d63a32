//! DNS authoritative server: any bytes, over UDP or TCP, never panic; a
//! UDP answer stays within the limit; input shorter than a header gets
//! no answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockstack_dns::{Authority, Name, Transport};
use std::net::Ipv4Addr;
use std::sync::OnceLock;

fn authority() -> &'static Authority {
    static A: OnceLock<Authority> = OnceLock::new();
    A.get_or_init(|| {
        let hosts = [("alice", Ipv4Addr::new(192, 0, 2, 1)), ("bob", Ipv4Addr::new(192, 0, 2, 2))];
        Authority::from_hosts(&Name::parse("sim.test").unwrap(), &hosts).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let a = authority();
    let udp = a.answer(data, Transport::Udp { max_len: 1232 });
    if data.len() < 12 {
        assert!(udp.is_none());
    }
    if let Some(r) = udp {
        assert!(r.len() <= 1232);
    }
    let _ = a.answer(data, Transport::Tcp);
});
