//! A non-blocking echo server on one thread, driven by the readiness
//! poller, serving 100 clients on another stack:
//! `cargo run -p sockstack-api --example echo_poller`.

use sockstack_api::{pair, Interest, PollEvent, Poller, TcpListener, TcpStream};
use sockstack_link::LinkConfig;
use sockstack_stack::ProcessId;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

const CLIENTS: usize = 100;
const LISTENER: usize = usize::MAX;

fn main() -> std::io::Result<()> {
    let link = LinkConfig::default().with_latency(Duration::from_millis(1));
    let (client_stack, server_stack) = pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), link)?;
    let addr = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 7);
    let net = server_stack.handle(ProcessId(1));
    let listener = TcpListener::bind(&net, addr, 256)?;
    listener.set_nonblocking(true)?;
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let poller = Poller::new(&net);
        poller.register(&listener, LISTENER, Interest::READABLE)?;
        let mut conns: HashMap<usize, TcpStream> = HashMap::new();
        let (mut next, mut served) = (0usize, 0usize);
        let mut events: Vec<PollEvent> = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while served < CLIENTS {
            poller.wait(&mut events, None)?;
            for e in events.clone() {
                if e.token == LISTENER {
                    // Take every connection waiting in the accept queue.
                    while let Ok((s, _)) = listener.accept() {
                        s.set_nonblocking(true).unwrap();
                        poller.register(&s, next, Interest::READABLE)?;
                        conns.insert(next, s);
                        next += 1;
                    }
                    continue;
                }
                let Some(s) = conns.get_mut(&e.token) else { continue };
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => {
                            s.shutdown(std::net::Shutdown::Write)?;
                            poller.deregister(e.token)?;
                            conns.remove(&e.token);
                            served += 1;
                            break;
                        }
                        // The messages are small: the send buffer has room.
                        Ok(n) => s.write_all(&buf[..n])?,
                        Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                        Err(err) => return Err(err),
                    }
                }
            }
        }
        println!("server: one thread served {served} connections");
        Ok(())
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let net = client_stack.handle(ProcessId(1));
            std::thread::spawn(move || -> std::io::Result<bool> {
                let mut s = TcpStream::connect(&net, addr)?;
                let msg = format!("hello from client {i}").into_bytes();
                s.write_all(&msg)?;
                s.shutdown(std::net::Shutdown::Write)?;
                let mut back = Vec::new();
                s.read_to_end(&mut back)?;
                Ok(back == msg)
            })
        })
        .collect();
    let ok = clients.into_iter().map(|c| c.join()).filter(|r| matches!(r, Ok(Ok(true)))).count();
    server.join().expect("server thread")?;
    println!("clients: {ok} of {CLIENTS} got their own bytes back");
    Ok(())
}
