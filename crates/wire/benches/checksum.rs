//! Throughput of the Internet checksum beside a plain `copy_from_slice` of
//! the same buffer: the copy is the floor any per-byte pass over a packet
//! pays, so the ratio says how close `checksum::data` is to memory speed.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sockstack_wire::checksum;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("checksum");
    // A minimum frame, an Ethernet MTU, and the largest IPv4 datagram.
    for size in [64usize, 1500, 64 * 1024] {
        // Deterministic non-trivial content; the checksum does not branch on
        // data, but zeros could flatter a future implementation that does.
        let buf: Vec<u8> = (0..size).map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8).collect();
        let mut dst = vec![0u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group
            .bench_with_input(BenchmarkId::new("data", size), &buf, |b, buf| b.iter(|| checksum::data(black_box(buf))));
        group.bench_with_input(BenchmarkId::new("copy", size), &buf, |b, buf| {
            b.iter(|| {
                dst.copy_from_slice(black_box(buf));
                black_box(&dst);
            })
        });
        // Unaligned start: packets sit at odd offsets inside frames.
        group.bench_with_input(BenchmarkId::new("data_offset1", size), &buf, |b, buf| {
            b.iter(|| checksum::data(black_box(&buf[1..])))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
