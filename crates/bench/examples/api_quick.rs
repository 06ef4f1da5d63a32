use sockstack_bench::api::*;
fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let bytes: u64 = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(256 << 20);
    let streams: u32 = std::env::args().nth(3).map(|s| s.parse().unwrap()).unwrap_or(100);
    let rounds = 20000;
    match mode.as_str() {
        "s" => {
            println!("tokio bulk x{streams} sockstack {:.2}", tokio_bulk(System::Sockstack, bytes, streams).unwrap())
        }
        "k" => println!("tokio bulk x{streams} kernel {:.2}", tokio_bulk(System::Kernel, bytes, streams).unwrap()),
        _ => {
            println!(
                "blocking bulk sockstack {:.2} kernel {:.2}",
                blocking_bulk(bytes).unwrap(),
                kernel_blocking_bulk(bytes).unwrap()
            );
            println!(
                "blocking rr sockstack {:.2} kernel {:.2}",
                blocking_rr(rounds).unwrap(),
                kernel_blocking_rr(rounds).unwrap()
            );
            println!(
                "tokio bulk sockstack {:.2} kernel {:.2}",
                tokio_bulk(System::Sockstack, bytes, 1).unwrap(),
                tokio_bulk(System::Kernel, bytes, 1).unwrap()
            );
            println!(
                "tokio bulk x100 sockstack {:.2} kernel {:.2}",
                tokio_bulk(System::Sockstack, bytes, 100).unwrap(),
                tokio_bulk(System::Kernel, bytes, 100).unwrap()
            );
            println!(
                "tokio rr sockstack {:.2} kernel {:.2}",
                tokio_rr(System::Sockstack, rounds).unwrap(),
                tokio_rr(System::Kernel, rounds).unwrap()
            );
        }
    }
}
