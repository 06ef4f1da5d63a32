//! A tokio chat server on a sockstack stack: every line a client sends is
//! broadcast to the other clients. Three clients on a second stack chat
//! through an in-memory link: `cargo run -p sockstack-api --example chat_tokio`.

use sockstack_api::{pair, AsyncTcpListener, AsyncTcpStream};
use sockstack_link::LinkConfig;
use sockstack_stack::ProcessId;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::broadcast;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let link = LinkConfig::default().with_latency(Duration::from_millis(2));
    let (clients, server) = pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), link)?;
    let addr = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 6667);
    let listener = AsyncTcpListener::bind(&server.handle(ProcessId(1)), addr, 64)?;
    let (tx, _) = broadcast::channel::<(SocketAddrV4, String)>(256);

    // The server: a task per connection, reading lines and forwarding what
    // the others say.
    let server_tx = tx.clone();
    tokio::spawn(async move {
        while let Ok((conn, peer)) = listener.accept().await {
            let tx = server_tx.clone();
            let mut rx = tx.subscribe();
            tokio::spawn(async move {
                let (read, mut write) = tokio::io::split(conn);
                let mut lines = BufReader::new(read).lines();
                loop {
                    tokio::select! {
                        line = lines.next_line() => match line {
                            Ok(Some(l)) => { let _ = tx.send((peer, l)); }
                            _ => break,
                        },
                        msg = rx.recv() => match msg {
                            Ok((from, l)) if from != peer => {
                                if write.write_all(format!("{from}: {l}\n").as_bytes()).await.is_err() { break; }
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        },
                    }
                }
            });
        }
    });

    // Three clients: each says hello, then prints what it hears.
    let net = clients.handle(ProcessId(1));
    let mut tasks = Vec::new();
    for name in ["ada", "brian", "chen"] {
        let conn = AsyncTcpStream::connect(&net, addr).await?;
        tasks.push(tokio::spawn(async move {
            let (read, mut write) = tokio::io::split(conn);
            tokio::time::sleep(Duration::from_millis(50)).await;
            write.write_all(format!("hello from {name}\n").as_bytes()).await?;
            let mut lines = BufReader::new(read).lines();
            for _ in 0..2 {
                if let Ok(Ok(Some(l))) = tokio::time::timeout(Duration::from_secs(2), lines.next_line()).await {
                    println!("{name} hears  {l}");
                }
            }
            Ok::<_, std::io::Error>(())
        }));
    }
    for t in tasks {
        t.await.expect("client task")?;
    }
    Ok(())
}
