//! The byte stream every bulk benchmark moves: a fixed pseudo-random block
//! of prime length repeated, so that both ends produce or check any chunk
//! at any offset with a `memcmp`, and a misplaced byte shows.

use std::sync::OnceLock;

/// A prime, so the period never lines up with buffer or segment sizes.
pub const PERIOD: usize = 65521;

fn block() -> &'static [u8] {
    static BLOCK: OnceLock<Vec<u8>> = OnceLock::new();
    BLOCK.get_or_init(|| {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..PERIOD)
            .map(|_| {
                // xorshift64
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    })
}

/// The block twice over, so any window of up to PERIOD bytes is one
/// contiguous slice.
fn doubled() -> &'static [u8] {
    static DOUBLED: OnceLock<Vec<u8>> = OnceLock::new();
    DOUBLED.get_or_init(|| {
        let b = block();
        let mut v = b.to_vec();
        v.extend_from_slice(b);
        v
    })
}

/// The stream's bytes at `offset`, at most `PERIOD` of them.
pub fn slice_at(offset: u64, len: usize) -> &'static [u8] {
    let start = (offset % PERIOD as u64) as usize;
    &doubled()[start..start + len.min(PERIOD)]
}

/// Fills `out` with the stream's bytes from `offset`.
pub fn fill(mut offset: u64, out: &mut [u8]) {
    for chunk in out.chunks_mut(PERIOD) {
        chunk.copy_from_slice(slice_at(offset, chunk.len()));
        offset += chunk.len() as u64;
    }
}

/// Checks that `data` is the stream's bytes from `offset`.
pub fn check(mut offset: u64, data: &[u8]) -> Result<(), String> {
    for chunk in data.chunks(PERIOD) {
        if chunk != slice_at(offset, chunk.len()) {
            let i = chunk.iter().zip(slice_at(offset, chunk.len())).position(|(a, b)| a != b).unwrap_or(0);
            return Err(format!("byte {} of the stream is wrong", offset + i as u64));
        }
        offset += chunk.len() as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_at_any_offset_agree_and_corruption_is_caught() {
        let mut whole = vec![0u8; 3 * PERIOD + 17];
        fill(0, &mut whole);
        assert_eq!(&whole[PERIOD..PERIOD + 100], &whole[..100]);
        for (off, len) in [(0usize, 10usize), (5, PERIOD), (PERIOD - 3, 9), (2 * PERIOD + 1, PERIOD + 16)] {
            check(off as u64, &whole[off..off + len]).unwrap();
        }
        let mut bad = whole[100..200].to_vec();
        bad[42] ^= 1;
        assert_eq!(check(100, &bad).unwrap_err(), "byte 142 of the stream is wrong");
        // Not a constant stream.
        assert!(whole[..PERIOD].windows(2).filter(|w| w[0] != w[1]).count() > PERIOD / 2);
    }
}
