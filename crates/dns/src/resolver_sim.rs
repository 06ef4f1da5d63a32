//! The resolver on a simulated host: drives [`Resolver`] over UDP
//! sockets (one per try, bound to the random port it chose) and TCP
//! connections for truncated answers.

use crate::record::RType;
use crate::resolver::{Answer, Protocol, ResolveError, Resolver, ResolverConfig, ResolverStats};
use sockstack_sim::{Process, UdpSocket};
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4};
use std::pin::Pin;
use std::task::Poll;

enum Event {
    Timer,
    Datagram(UdpSocket, io::Result<(SocketAddrV4, Vec<u8>)>),
    Stream(SocketAddrV4, io::Result<Vec<u8>>),
}

type Task = Pin<Box<dyn Future<Output = Event>>>;

/// A caching stub resolver for a simulated process.
pub struct SimResolver {
    p: Process,
    resolver: RefCell<Resolver>,
}

fn recv(sock: UdpSocket) -> Task {
    Box::pin(async move {
        let r = sock.recv_message().await.map(|m| (m.src, m.data));
        Event::Datagram(sock, r)
    })
}

async fn read_exact(s: &sockstack_sim::TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut out = vec![0u8; n];
    let mut got = 0;
    while got < n {
        let k = s.read(&mut out[got..]).await?;
        if k == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got += k;
    }
    Ok(out)
}

fn tcp_exchange(p: Process, server: SocketAddrV4, query: Vec<u8>) -> Task {
    Box::pin(async move {
        let r = async {
            let s = p.tcp_connect(server).await?;
            let mut m = (query.len() as u16).to_be_bytes().to_vec();
            m.extend_from_slice(&query);
            s.write_all(&m).await?;
            let len = read_exact(&s, 2).await?;
            let body = read_exact(&s, usize::from(u16::from_be_bytes([len[0], len[1]]))).await?;
            let _ = s.shutdown(Shutdown::Write);
            Ok(body)
        }
        .await;
        Event::Stream(server, r)
    })
}

/// A host's resolver for its processes' `lookup_host` and
/// `tcp_connect_to` (`Sim::set_resolver`).
impl sockstack_sim::Resolve for SimResolver {
    fn resolve<'a>(&'a self, name: &'a str) -> sockstack_sim::resolve::ResolveFuture<'a> {
        Box::pin(self.lookup_ipv4(name))
    }
}

impl SimResolver {
    /// A resolver whose queries process `p` sends; `seed` seeds its query IDs
    /// and source ports.
    pub fn new(p: Process, config: ResolverConfig, seed: u64) -> SimResolver {
        SimResolver { p, resolver: RefCell::new(Resolver::new(config, seed)) }
    }

    /// A copy of the counters so far.
    pub fn stats(&self) -> ResolverStats {
        self.resolver.borrow().stats().clone()
    }

    /// Runs `f` on the sans-IO resolver (to inspect its cache, say).
    pub fn with_resolver<R>(&self, f: impl FnOnce(&mut Resolver) -> R) -> R {
        f(&mut self.resolver.borrow_mut())
    }

    /// Looks `name` up, driving the network until the answer (or the
    /// failure) is known.
    pub async fn lookup(&self, name: &str, rtype: RType) -> Result<Answer, ResolveError> {
        let handle = self.resolver.borrow_mut().lookup(self.p.now(), name, rtype);
        let mut tasks: Vec<Task> = Vec::new();
        loop {
            if let Some(r) = self.resolver.borrow_mut().result(handle) {
                return r;
            }
            loop {
                let out = self.resolver.borrow_mut().poll_transmit(self.p.now());
                let Some(out) = out else { break };
                match out.transport {
                    Protocol::Udp => {
                        let any = |port| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
                        let sock = self.p.udp_bind(any(out.local_port)).or_else(|_| self.p.udp_bind(any(0)));
                        // A socket that cannot be had or used is a lost
                        // datagram: the retransmission timer covers it.
                        if let Ok(sock) = sock {
                            if sock.send_to(&out.bytes, out.server).await.is_ok() {
                                tasks.push(recv(sock));
                            }
                        }
                    }
                    Protocol::Tcp => tasks.push(tcp_exchange(self.p.clone(), out.server, out.bytes)),
                }
            }
            let now = self.p.now();
            let mut sleep = self.resolver.borrow().poll_at().map(|d| self.p.sleep(d - now));
            let event = poll_fn(|cx| {
                if let Some(s) = sleep.as_mut() {
                    if Pin::new(s).poll(cx).is_ready() {
                        return Poll::Ready(Event::Timer);
                    }
                }
                for i in 0..tasks.len() {
                    if let Poll::Ready(ev) = tasks[i].as_mut().poll(cx) {
                        drop(tasks.swap_remove(i));
                        return Poll::Ready(ev);
                    }
                }
                Poll::Pending
            })
            .await;
            drop(sleep);
            let now = self.p.now();
            let mut r = self.resolver.borrow_mut();
            match event {
                Event::Timer => r.on_timer(now),
                Event::Datagram(sock, Ok((from, data))) => {
                    r.on_response(now, from, &data);
                    tasks.push(recv(sock));
                }
                Event::Stream(server, Ok(data)) => r.on_response(now, server, &data),
                // A failed socket or connection: the timer covers it.
                Event::Datagram(_, Err(_)) | Event::Stream(_, Err(_)) => {}
            }
        }
    }

    /// The IPv4 addresses of `name`.
    pub async fn lookup_ipv4(&self, name: &str) -> io::Result<Vec<Ipv4Addr>> {
        match self.lookup(name, RType::A).await {
            Ok(a) => Ok(a.ipv4()),
            Err(e) => {
                let kind = match e {
                    ResolveError::NxDomain | ResolveError::NoData => io::ErrorKind::NotFound,
                    ResolveError::Timeout => io::ErrorKind::TimedOut,
                    ResolveError::InvalidName => io::ErrorKind::InvalidInput,
                    _ => io::ErrorKind::Other,
                };
                Err(io::Error::new(kind, e))
            }
        }
    }
}
