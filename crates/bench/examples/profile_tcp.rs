//! One sockstack TCP workload alone, for profilers:
//! `cargo run --release -p sockstack-bench --example profile_tcp -- bulk 1500 1073741824`
//! then `perf record` / `valgrind --tool=callgrind` on the binary.

use sockstack_bench::pairs::Pairs;
use sockstack_bench::{smoltcp_tcp, tcp};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let workload = args.get(1).map(String::as_str).unwrap_or("bulk");
    let mtu: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1500);
    let n: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(256 << 20);
    let result = match workload {
        "bulk" => tcp::sockstack_bulk(mtu, n).map(|v| format!("{v:.3} Gbit/s")),
        "bulk-nogso" => tcp::sockstack_bulk_with(mtu, n, false).map(|v| format!("{v:.3} Gbit/s")),
        "rr" => tcp::sockstack_rr(mtu, n as u32).map(|v| format!("{v:.3} us")),
        "crr" => tcp::sockstack_crr(mtu, n as u32).map(|v| format!("{v:.0} conn/s")),
        // The smoltcp baseline of the same workloads, for side-by-side profiles.
        "smoltcp-bulk" => smoltcp_tcp::bulk(mtu, n).map(|v| format!("{v:.3} Gbit/s")),
        "smoltcp-rr" => smoltcp_tcp::rr(mtu, n as u32).map(|v| format!("{v:.3} us")),
        "smoltcp-crr" => smoltcp_tcp::crr(mtu, n as u32).map(|v| format!("{v:.0} conn/s")),
        // Both engines' rr in 100 short alternating runs of `n` rounds:
        // the median of the per-pair ratios moves less with the machine's
        // speed than one long run of each.
        "rr-paired" => rr_paired(mtu, n as u32),
        other => Err(format!("unknown workload {other}")),
    };
    match result {
        Ok(v) => println!("{workload} mtu {mtu}: {v}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

/// smoltcp's round trip over sockstack's, pair by pair (above 1: sockstack
/// is faster), and both engines' median round trips.
fn rr_paired(mtu: usize, rounds: u32) -> Result<String, String> {
    let p = Pairs::run(100, || tcp::sockstack_rr(mtu, rounds), || smoltcp_tcp::rr(mtu, rounds))?;
    Ok(format!(
        "sockstack {:.3} us, smoltcp {:.3} us, ratio {:.3}",
        p.sockstack_median(),
        p.smoltcp_median(),
        p.ratio_median(|s, m| m / s)
    ))
}
