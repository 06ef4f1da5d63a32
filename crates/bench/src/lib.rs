//! Benchmark workloads for `sockstack bench`: each workload runs on
//! sockstack and, in the same process, on its baselines (the Linux kernel
//! over loopback, smoltcp engine to engine), so the printed ratios come
//! from one run on one machine.

pub mod api;
pub mod pairs;
pub mod pattern;
pub mod smoltcp_tcp;
pub mod tcp;

/// Socket buffer size, each direction, of both engines in the engine-level
/// TCP workloads (sockstack's and smoltcp's). The in-memory link's
/// bandwidth-delay product is a few segments, so larger buffers add no
/// throughput, only memory: a 4 MiB ring streams every copy through more
/// than the CPU's second-level cache. 256 KiB measured best for both
/// engines (bulk at MTU 1500: smoltcp 17 Gbit/s with 4 MiB, 29 with
/// 256 KiB; sockstack 21 and 25).
pub const TCP_BUFFER: usize = 256 << 10;
