//! A blocking echo server and client on two sockstack stacks joined by an
//! in-memory link with 5 ms latency and 1% loss, each on its own driver
//! thread: `cargo run -p sockstack-api --example echo_blocking`.

use sockstack_api::{pair, TcpListener, TcpStream};
use sockstack_link::LinkConfig;
use sockstack_stack::ProcessId;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

fn main() -> std::io::Result<()> {
    let link = LinkConfig::default().with_latency(Duration::from_millis(5)).with_loss(0.01).with_seed(7);
    let (client_stack, server_stack) = pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), link)?;
    let server_addr = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 7);

    // The server: one thread per connection, echo until end of stream.
    let listener = TcpListener::bind(&server_stack.handle(ProcessId(1)), server_addr, 16)?;
    std::thread::spawn(move || {
        while let Ok((mut conn, peer)) = listener.accept() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                let mut total = 0;
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            total += n;
                            if conn.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = conn.shutdown(std::net::Shutdown::Write);
                println!("server: echoed {total} bytes to {peer}");
            });
        }
    });

    // The client: send 1 MiB, read it all back, compare.
    let t0 = Instant::now();
    let mut conn = TcpStream::connect(&client_stack.handle(ProcessId(1)), server_addr)?;
    println!("client: connected {} → {}", conn.local_addr()?, conn.peer_addr()?);
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut writer = conn.try_clone()?;
    let sent = data.clone();
    let w = std::thread::spawn(move || -> std::io::Result<()> {
        writer.write_all(&sent)?;
        writer.shutdown(std::net::Shutdown::Write)
    });
    let mut echoed = Vec::new();
    conn.read_to_end(&mut echoed)?;
    w.join().expect("writer")?;
    let stats = conn.stats()?;
    println!(
        "client: {} bytes back in {:?}, {}; srtt {:?}, retransmits {}",
        echoed.len(),
        t0.elapsed(),
        if echoed == data { "identical" } else { "DIFFERENT" },
        stats.srtt,
        stats.retransmits
    );
    Ok(())
}
