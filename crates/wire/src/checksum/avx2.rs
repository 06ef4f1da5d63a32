//! The RFC 1071 sum (and the copy-and-sum of [`super::copy`]) with x86-64
//! AVX2 vector instructions, used when the CPU has them (checked at run
//! time, once, by the standard library's cached feature detection).
//!
//! Why vectors: the portable loop adds one 64-bit word per instruction and
//! stores 8 octets at a time; a segment's payload is summed (and copied)
//! on both sides of every connection, and was a third of bulk transfer's
//! time. Here each step moves 32 octets, and the sum needs no carry chain:
//! every 32-bit word is split into its two 16-bit halves, each added into a
//! 32-bit lane. RFC 1071 §2(B) makes that legal (the ones'-complement sum
//! does not care which 16-bit words are added in which order or lane), and
//! the lanes are widened and added with end-around carry only at the end.
//! `sockstack bench checksum` prints this beside the portable version.
//!
//! The only `unsafe` in the wire crate lives here; each block says why it
//! is sound.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_add_epi64, _mm256_and_si256, _mm256_castsi256_si128, _mm256_cvtepu32_epi64,
    _mm256_extracti128_si256, _mm256_loadu_si256, _mm256_set1_epi32, _mm256_setzero_si256, _mm256_srli_epi32,
    _mm256_storeu_si256,
};

/// Octets in one vector register.
const VECTOR: usize = 32;

/// Octets per step of the main loop: four vectors.
pub(super) const BLOCK: usize = 4 * VECTOR;

/// Steps per round between widenings. A 32-bit lane of one accumulator
/// takes two 16-bit halves per step (at most `2 · 0xffff`); after 4,096
/// steps the four accumulators' lanes added together stay below
/// `4 · 8,192 · 0xffff < 2³¹`, so nothing is lost before they are widened.
const ROUND: usize = 4096;

/// The sum of `src`, copied into `dst` on the way when `dst` is given
/// (then exactly as long). `None` when the CPU has no AVX2: the caller
/// falls back to the portable code.
#[inline]
pub(super) fn sum(dst: Option<&mut [u8]>, src: &[u8]) -> Option<u16> {
    if !std::is_x86_feature_detected!("avx2") {
        return None;
    }
    // SAFETY: `sum_avx2` is only unsafe to call because it is compiled for
    // AVX2 (`target_feature`); the CPU was just found to have AVX2.
    Some(unsafe { sum_avx2(dst, src) })
}

#[target_feature(enable = "avx2")]
fn sum_avx2(mut dst: Option<&mut [u8]>, src: &[u8]) -> u16 {
    if let Some(d) = &dst {
        assert_eq!(d.len(), src.len(), "checksum::copy needs equal lengths");
    }
    let low_half = _mm256_set1_epi32(0xffff);
    let mut total = 0u64;
    let mut done = 0;
    loop {
        let steps = ((src.len() - done) / BLOCK).min(ROUND);
        let tail = steps < ROUND;
        let [mut a0, mut a1, mut a2, mut a3] = [_mm256_setzero_si256(); 4];
        for i in 0..steps {
            let at = done + i * BLOCK;
            // SAFETY: `at + BLOCK <= src.len()` (`steps` whole blocks fit
            // in what is left after `done`), so the four 32-octet loads
            // read inside `src`; `loadu` has no alignment requirement.
            let v = unsafe {
                let s = src.as_ptr().add(at).cast::<__m256i>();
                [
                    _mm256_loadu_si256(s),
                    _mm256_loadu_si256(s.add(1)),
                    _mm256_loadu_si256(s.add(2)),
                    _mm256_loadu_si256(s.add(3)),
                ]
            };
            if let Some(d) = dst.as_deref_mut() {
                // SAFETY: `d` is as long as `src` (asserted above), so the
                // four stores write inside `d`; `storeu` needs no alignment.
                unsafe {
                    let d = d.as_mut_ptr().add(at).cast::<__m256i>();
                    _mm256_storeu_si256(d, v[0]);
                    _mm256_storeu_si256(d.add(1), v[1]);
                    _mm256_storeu_si256(d.add(2), v[2]);
                    _mm256_storeu_si256(d.add(3), v[3]);
                }
            }
            // Low and high 16-bit halves of each 32-bit word, into
            // separate accumulators so no add waits on the one before.
            a0 = _mm256_add_epi32(a0, _mm256_and_si256(v[0], low_half));
            a1 = _mm256_add_epi32(a1, _mm256_srli_epi32(v[0], 16));
            a2 = _mm256_add_epi32(a2, _mm256_and_si256(v[1], low_half));
            a3 = _mm256_add_epi32(a3, _mm256_srli_epi32(v[1], 16));
            a0 = _mm256_add_epi32(a0, _mm256_and_si256(v[2], low_half));
            a1 = _mm256_add_epi32(a1, _mm256_srli_epi32(v[2], 16));
            a2 = _mm256_add_epi32(a2, _mm256_and_si256(v[3], low_half));
            a3 = _mm256_add_epi32(a3, _mm256_srli_epi32(v[3], 16));
        }
        done += steps * BLOCK;
        if tail {
            // Up to three whole vectors after the last block (the lanes
            // gain at most three more halves each: still far from 2³²).
            while src.len() - done >= VECTOR {
                // SAFETY: `done + VECTOR <= src.len()`: the load reads
                // inside `src`.
                let v = unsafe { _mm256_loadu_si256(src.as_ptr().add(done).cast::<__m256i>()) };
                if let Some(d) = dst.as_deref_mut() {
                    // SAFETY: `d` is as long as `src`: the store writes
                    // inside `d`.
                    unsafe { _mm256_storeu_si256(d.as_mut_ptr().add(done).cast::<__m256i>(), v) };
                }
                a0 = _mm256_add_epi32(a0, _mm256_and_si256(v, low_half));
                a1 = _mm256_add_epi32(a1, _mm256_srli_epi32(v, 16));
                done += VECTOR;
            }
        }
        // Eight 32-bit lanes, widened to 64 bits and added: exact.
        let lanes = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
        let wide = _mm256_add_epi64(
            _mm256_cvtepu32_epi64(_mm256_castsi256_si128(lanes)),
            _mm256_cvtepu32_epi64(_mm256_extracti128_si256(lanes, 1)),
        );
        let mut words = [0u64; 4];
        // SAFETY: `words` is 32 octets, the size of one vector.
        unsafe { _mm256_storeu_si256(words.as_mut_ptr().cast(), wide) };
        // Each word is below 2³⁴ and `total` grows by under 2³⁶ a round:
        // a plain add cannot overflow for any slice that fits in memory.
        total += words.iter().sum::<u64>();
        if tail {
            break;
        }
    }
    // Under one vector left: the portable word loop, as for a header.
    let rest = &src[done..];
    if let Some(d) = dst {
        d[done..].copy_from_slice(rest);
    }
    super::finish(total, rest)
}
