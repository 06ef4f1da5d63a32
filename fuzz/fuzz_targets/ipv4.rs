//! IPv4: whatever parses re-emits to a header that parses to the same repr
//! (options are dropped on emit, which the repr does not keep anyway).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockstack_wire::{ChecksumMode, Ipv4Packet, Ipv4Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Ipv4Packet::new_checked(data) else {
        return;
    };
    // Ignore the checksum so the fuzzer reaches the option walk.
    let Ok(repr) = Ipv4Repr::parse(&packet, ChecksumMode::Ignore) else {
        return;
    };
    let mut buf = vec![0u8; repr.buffer_len() + repr.payload_len];
    repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), ChecksumMode::Verify);
    buf[repr.buffer_len()..].copy_from_slice(packet.payload());
    let again = Ipv4Packet::new_checked(&buf[..]).expect("emitted header is well-formed");
    assert_eq!(again.payload(), packet.payload());
    assert_eq!(Ipv4Repr::parse(&again, ChecksumMode::Verify), Ok(repr));
});
