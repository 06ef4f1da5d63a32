//! UDP: whatever parses re-emits (same payload) to a datagram that parses
//! the same and carries the same payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockstack_wire::{ChecksumMode, Ipv4Addr, UdpPacket, UdpRepr};

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = UdpPacket::new_checked(data) else {
        return;
    };
    let Ok(repr) = UdpRepr::parse(&packet, &SRC, &DST, ChecksumMode::Ignore) else {
        return;
    };
    let payload = packet.payload();
    let mut buf = vec![0u8; repr.header_len() + payload.len()];
    repr.emit(
        &mut UdpPacket::new_unchecked(&mut buf[..]),
        &SRC,
        &DST,
        payload.len(),
        |b| b.copy_from_slice(payload),
        ChecksumMode::Verify,
    );
    let again = UdpPacket::new_checked(&buf[..]).expect("emitted datagram is well-formed");
    assert_eq!(again.payload(), payload);
    assert_eq!(UdpRepr::parse(&again, &SRC, &DST, ChecksumMode::Verify), Ok(repr));
});
