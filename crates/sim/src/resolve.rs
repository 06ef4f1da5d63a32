//! Name resolution for simulated processes: each host may have a resolver
//! (a hosts table, or the DNS stub resolver of `sockstack-dns`, which
//! implements [`Resolve`]), and processes connect and send to
//! `"name:port"` through it.

use crate::process::Process;
use sockstack_stack::split_host_port;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::pin::Pin;

/// The future a resolver returns.
pub type ResolveFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<Ipv4Addr>>> + 'a>>;

/// Turns names into addresses for the processes of one host.
pub trait Resolve {
    /// The IPv4 addresses of `name` (`NotFound` when it has none).
    fn resolve<'a>(&'a self, name: &'a str) -> ResolveFuture<'a>;
}

/// A static hosts table (names compared without case, a trailing dot
/// ignored).
#[derive(Debug, Clone, Default)]
pub struct HostsTable {
    entries: HashMap<String, Vec<Ipv4Addr>>,
}

fn canonical(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl HostsTable {
    /// An empty table.
    pub fn new() -> HostsTable {
        HostsTable::default()
    }

    /// Adds an address for `name` (a name may have several).
    pub fn insert(&mut self, name: &str, addr: Ipv4Addr) {
        self.entries.entry(canonical(name)).or_default().push(addr);
    }
}

impl Resolve for HostsTable {
    fn resolve<'a>(&'a self, name: &'a str) -> ResolveFuture<'a> {
        let r = self
            .entries
            .get(&canonical(name))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{name}: not in the hosts table")));
        Box::pin(async move { r })
    }
}

impl Process {
    /// The addresses of `host`: an IPv4 literal as it is, a name through
    /// this host's resolver (`NotFound` when it has none or the name does
    /// not exist).
    pub async fn lookup_host(&self, host: &str) -> io::Result<Vec<Ipv4Addr>> {
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            return Ok(vec![ip]);
        }
        let resolver = self
            .resolver()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host}: this host has no resolver")))?;
        let addrs = resolver.resolve(host).await?;
        if addrs.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{host}: no IPv4 address")));
        }
        Ok(addrs)
    }

    /// The first address of `"name:port"`.
    pub async fn resolve_target(&self, target: &str) -> io::Result<SocketAddrV4> {
        let (host, port) = split_host_port(target)?;
        Ok(SocketAddrV4::new(self.lookup_host(host).await?[0], port))
    }

    /// Connects to `"name:port"`, trying each address in turn.
    pub async fn tcp_connect_to(&self, target: &str) -> io::Result<crate::TcpStream> {
        let (host, port) = split_host_port(target)?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for ip in self.lookup_host(host).await? {
            match self.tcp_connect(SocketAddrV4::new(ip, port)).await {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}
