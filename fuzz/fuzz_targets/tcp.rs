//! TCP: whatever parses re-emits to a segment that parses to the same repr.
//!
//! One allowed difference: a parsed segment can hold more SACK blocks than
//! fit beside its other options in our layout (a peer may pack them without
//! NOPs); the emitter drops the excess from the end, so compare the blocks
//! that were kept as a prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockstack_wire::{ChecksumMode, Ipv4Addr, TcpPacket, TcpRepr};

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = TcpPacket::new_checked(data) else {
        return;
    };
    let Ok(repr) = TcpRepr::parse(&packet, &SRC, &DST, ChecksumMode::Ignore) else {
        return;
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), &SRC, &DST, ChecksumMode::Verify);
    let again = TcpPacket::new_checked(&buf[..]).expect("emitted segment is well-formed");
    let reparsed = TcpRepr::parse(&again, &SRC, &DST, ChecksumMode::Verify).expect("emitted segment parses");

    let kept = reparsed.sack_ranges.iter().flatten().count();
    assert_eq!(reparsed.sack_ranges[..kept], repr.sack_ranges[..kept]);
    let mut expected = repr;
    expected.sack_ranges = reparsed.sack_ranges;
    assert_eq!(reparsed, expected);
});
