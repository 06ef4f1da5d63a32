//! ICMPv4: whatever parses re-emits to a message that parses the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockstack_wire::{ChecksumMode, Icmpv4Packet, Icmpv4Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Icmpv4Packet::new_checked(data) else {
        return;
    };
    let Ok(repr) = Icmpv4Repr::parse(&packet, ChecksumMode::Ignore) else {
        return;
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
    let again = Icmpv4Packet::new_checked(&buf[..]).expect("emitted message is well-formed");
    assert_eq!(Icmpv4Repr::parse(&again, ChecksumMode::Verify), Ok(repr));
});
