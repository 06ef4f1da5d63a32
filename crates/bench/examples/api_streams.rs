//! Aggregate tokio throughput of N concurrent streams (for profiling
//! `bench api`): `api_streams <sockstack|kernel> <bytes> <streams> [workers]`.
use sockstack_bench::api::{tokio_bulk, System};
fn main() {
    let mut args = std::env::args().skip(1);
    let system = if args.next().as_deref() == Some("kernel") { System::Kernel } else { System::Sockstack };
    let bytes = args.next().and_then(|s| s.parse().ok()).unwrap_or(1 << 30);
    let streams = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let workers = args.next().and_then(|s| s.parse().ok()).unwrap_or(2);
    println!("{:.2} Gbit/s", tokio_bulk(system, bytes, streams, workers).expect("transfer"));
}
