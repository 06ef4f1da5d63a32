//! Aggregate tokio throughput of N concurrent streams (for profiling
//! `bench api`): `api_streams <sockstack|kernel> <bytes> <streams>`.
use sockstack_bench::api::{tokio_bulk, System};
fn main() {
    let mut args = std::env::args().skip(1);
    let system = if args.next().as_deref() == Some("kernel") { System::Kernel } else { System::Sockstack };
    let bytes = args.next().and_then(|s| s.parse().ok()).unwrap_or(1 << 30);
    let streams = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    println!("{:.2} Gbit/s", tokio_bulk(system, bytes, streams).expect("transfer"));
}
