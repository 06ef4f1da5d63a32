//! Benchmark workloads for `sockstack bench`: each workload runs on
//! sockstack and, in the same process, on its baselines (the Linux kernel
//! over loopback, smoltcp engine to engine), so the printed ratios come
//! from one run on one machine.

pub mod api;
pub mod pattern;
pub mod smoltcp_tcp;
pub mod tcp;
