#![warn(missing_docs)]
//! Deterministic virtual-time driver.
//!
//! A [`Sim`] runs many hosts — each a sans-IO [`Stack`] — the networks
//! between them, and the processes on them, in one thread. Time is virtual:
//! it jumps to the next event (a packet due out of a link, a stack timer,
//! a process's sleep), so a run takes as long as its computation, not as
//! long as its simulated seconds, and the same seed gives the same run bit
//! for bit.
//!
//! Processes are async tasks. Their sockets ([`UdpSocket`], [`RawSocket`])
//! are futures-based views of the host's stack; a process that finishes
//! exits, and its sockets and ports are freed (`Stack::close_owner`).
//!
//! ```
//! use sockstack_sim::{Sim, LinkConfig};
//! use std::net::SocketAddrV4;
//!
//! let mut sim = Sim::new(1);
//! let lan = sim.add_switch("lan", "192.0.2.0/24".parse().unwrap(), LinkConfig::default()).unwrap();
//! let a = sim.add_host("alice");
//! let b = sim.add_host("bob");
//! let a_ip = sim.attach(a, lan, "192.0.2.1".parse().unwrap()).unwrap();
//! let b_ip = sim.attach(b, lan, "192.0.2.2".parse().unwrap()).unwrap();
//! sim.spawn(b, "echo", move |p| async move {
//!     let sock = p.udp_bind(SocketAddrV4::new(b_ip, 7)).unwrap();
//!     let mut buf = [0u8; 64];
//!     let (n, from) = sock.recv_from(&mut buf).await.unwrap();
//!     sock.send_to(&buf[..n], from).await.unwrap();
//! });
//! let client = sim.spawn(a, "client", move |p| async move {
//!     let sock = p.udp_bind(SocketAddrV4::new(a_ip, 0)).unwrap();
//!     sock.send_to(b"hello", SocketAddrV4::new(b_ip, 7)).await.unwrap();
//!     let mut buf = [0u8; 64];
//!     let (n, _) = sock.recv_from(&mut buf).await.unwrap();
//!     assert_eq!(&buf[..n], b"hello");
//! });
//! sim.run_until_idle();
//! assert!(sim.is_finished(client));
//! ```

mod executor;
pub mod pretty;
mod process;
pub mod resolve;
mod tcp;
mod world;

pub use process::{Process, RawSocket, Sleep, UdpSocket};
pub use resolve::{HostsTable, Resolve};
pub use sockstack_link::LinkConfig;
pub use sockstack_tcp::{State as TcpState, TcpStats};
pub use tcp::{TcpListener, TcpStream};
pub use world::{Direction, HostId, NetId, PacketEvent};

use executor::Executor;
use sockstack_link::{ConfigError, End, Link, Switch};
use sockstack_stack::{IfaceId, InterfaceConfig, ProcessId, Stack, StackConfig};
use sockstack_time::{Duration, Instant};
use sockstack_wire::{Ipv4Addr, Ipv4Cidr};
use std::cell::{Ref, RefCell, RefMut};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::rc::Rc;
use world::{Attachment, Host, Medium, Net, World};

/// A running process of the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcId(usize);

/// The simulation: hosts, networks, processes and virtual time.
pub struct Sim {
    seed: u64,
    world: Rc<RefCell<World>>,
    executor: Executor,
    /// Task id → the host and process id it runs as.
    procs: HashMap<usize, (HostId, ProcessId)>,
    /// Switched networks: their prefix and MTU, for `attach`.
    segments: HashMap<NetId, (Ipv4Cidr, usize)>,
}

fn config_error(e: ConfigError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}

impl Sim {
    /// A new, empty world; `seed` drives every random choice in it.
    pub fn new(seed: u64) -> Sim {
        Sim {
            seed,
            world: Rc::new(RefCell::new(World::new())),
            executor: Executor::new(),
            procs: HashMap::new(),
            segments: HashMap::new(),
        }
    }

    /// Current virtual time.
    pub fn now(&self) -> Instant {
        self.world.borrow().now
    }

    /// Adds a host with a Linux-like stack, seeded from the simulation seed.
    pub fn add_host(&mut self, name: &str) -> HostId {
        let index = self.world.borrow().hosts.len() as u64;
        let seed = self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(index + 1);
        self.add_host_with(name, StackConfig { seed, ..StackConfig::default() })
    }

    /// Adds a host whose stack uses `config` (buffer sizes, TCP options, …).
    pub fn add_host_with(&mut self, name: &str, config: StackConfig) -> HostId {
        let mut w = self.world.borrow_mut();
        w.hosts.push(Host {
            name: name.to_string(),
            stack: Stack::new(config),
            attachments: Vec::new(),
            resolver: None,
        });
        HostId(w.hosts.len() - 1)
    }

    /// A host acting as a router: forwarding on.
    pub fn add_router(&mut self, name: &str) -> HostId {
        let h = self.add_host(name);
        self.stack_mut(h).set_forwarding(true);
        h
    }

    /// The name a host was added with.
    pub fn host_name(&self, host: HostId) -> String {
        self.world.borrow().hosts[host.0].name.clone()
    }

    /// Finds a host by name.
    pub fn host(&self, name: &str) -> Option<HostId> {
        self.world.borrow().hosts.iter().position(|h| h.name == name).map(HostId)
    }

    /// A switched network segment for `cidr` (many hosts, one broadcast
    /// domain).
    pub fn add_switch(&mut self, name: &str, cidr: Ipv4Cidr, config: LinkConfig) -> io::Result<NetId> {
        let seed = self.derived_seed(&config);
        let mtu = config.mtu;
        let mut switch = Switch::new(LinkConfig { seed, ..config }).map_err(config_error)?;
        switch.set_broadcast(cidr.broadcast());
        let mut w = self.world.borrow_mut();
        let net = NetId(w.nets.len());
        w.nets.push(Net { name: name.to_string(), medium: Medium::Switched { switch, ports: Vec::new() } });
        self.segments.insert(net, (cidr.network(), mtu));
        Ok(net)
    }

    fn derived_seed(&self, config: &LinkConfig) -> u64 {
        let n = self.world.borrow().nets.len() as u64;
        config.seed ^ self.seed.rotate_left(17) ^ (n + 1).wrapping_mul(0xA24B_AED4_963E_E407)
    }

    /// Puts `host` on the switched network `net` with address `addr`.
    /// Returns the new interface.
    pub fn attach(&mut self, host: HostId, net: NetId, addr: Ipv4Addr) -> io::Result<Ipv4Addr> {
        let (cidr, mtu) = *self
            .segments
            .get(&net)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a switched network"))?;
        if !cidr.contains(addr) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{addr} is not in {cidr}")));
        }
        let mut w = self.world.borrow_mut();
        let w = &mut *w;
        let Medium::Switched { switch, ports } = &mut w.nets[net.0].medium else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a switched network"));
        };
        let port = switch.add_port(vec![addr]);
        let h = &mut w.hosts[host.0];
        let name = format!("eth{}", h.attachments.len());
        let iface = h.stack.add_interface(
            InterfaceConfig::new(name, Ipv4Cidr::new(addr, cidr.prefix_len).expect("valid prefix")).with_mtu(mtu),
        );
        h.attachments.push((net, Attachment::Port(port)));
        ports.push((port, host, iface));
        Ok(addr)
    }

    /// A point-to-point link between `a` and `b`, with the given addresses
    /// (`a_cidr` and `b_cidr` share a prefix).
    pub fn connect(
        &mut self,
        name: &str,
        a: HostId,
        a_cidr: Ipv4Cidr,
        b: HostId,
        b_cidr: Ipv4Cidr,
        config: LinkConfig,
    ) -> io::Result<NetId> {
        let seed = self.derived_seed(&config);
        let mtu = config.mtu;
        let link = Link::new(LinkConfig { seed, ..config }).map_err(config_error)?;
        let mut w = self.world.borrow_mut();
        let net = NetId(w.nets.len());
        let mut ends = [(a, IfaceId(0)); 2];
        for (i, (host, cidr, end)) in [(a, a_cidr, End::A), (b, b_cidr, End::B)].into_iter().enumerate() {
            let h = &mut w.hosts[host.0];
            let name = format!("eth{}", h.attachments.len());
            let iface = h.stack.add_interface(InterfaceConfig::new(name, cidr).with_mtu(mtu));
            h.attachments.push((net, Attachment::P2p(end)));
            ends[i] = (host, iface);
        }
        w.nets.push(Net { name: name.to_string(), medium: Medium::P2p { link: Box::new(link), ends } });
        Ok(net)
    }

    /// A process identity on `host` that runs no task of its own: for
    /// services the host itself provides, such as its stub resolver.
    pub fn system_process(&mut self, host: HostId, name: &str) -> Process {
        let pid = {
            let mut w = self.world.borrow_mut();
            let pid = ProcessId(w.next_pid);
            w.next_pid += 1;
            pid
        };
        Process::new(self.world.clone(), host, pid, name.to_string())
    }

    /// Gives `host` a resolver: its processes' `lookup_host`,
    /// `tcp_connect_to` and `send_to_host` go through it.
    pub fn set_resolver(&mut self, host: HostId, resolver: Rc<dyn Resolve>) {
        self.world.borrow_mut().hosts[host.0].resolver = Some(resolver);
    }

    /// The stack of `host`, to configure or inspect it.
    pub fn stack(&self, host: HostId) -> Ref<'_, Stack> {
        Ref::map(self.world.borrow(), |w| &w.hosts[host.0].stack)
    }

    /// A host's stack, to configure it or read its counters.
    pub fn stack_mut(&self, host: HostId) -> RefMut<'_, Stack> {
        RefMut::map(self.world.borrow_mut(), |w| &mut w.hosts[host.0].stack)
    }

    /// Writes every packet put on `net` to a pcap file at `path` (virtual
    /// time as timestamps), readable by tcpdump and tshark.
    pub fn capture(&mut self, net: NetId, path: impl AsRef<std::path::Path>) -> io::Result<()> {
        let sink = sockstack_link::pcap::PcapSink::create(path)?;
        self.world.borrow_mut().captures.push((net, sink));
        Ok(())
    }

    /// Flushes packet captures to their files.
    pub fn flush_captures(&mut self) -> io::Result<()> {
        for (_, sink) in self.world.borrow_mut().captures.iter_mut() {
            sink.flush()?;
        }
        Ok(())
    }

    /// Calls `tracer` for every packet that leaves or reaches a host.
    pub fn set_tracer(&mut self, tracer: impl FnMut(&PacketEvent<'_>) + 'static) {
        self.world.borrow_mut().tracer = Some(Box::new(tracer));
    }

    /// Starts a process named `name` on `host`. `f` receives the process's
    /// handle and returns its body; when the body finishes the process
    /// exits and its sockets are closed.
    pub fn spawn<F, Fut>(&mut self, host: HostId, name: &str, f: F) -> ProcId
    where
        F: FnOnce(Process) -> Fut,
        Fut: Future<Output = ()> + 'static,
    {
        let pid = {
            let mut w = self.world.borrow_mut();
            let pid = ProcessId(w.next_pid);
            w.next_pid += 1;
            pid
        };
        let process = Process::new(self.world.clone(), host, pid, name.to_string());
        let id = self.executor.spawn(Box::pin(f(process)));
        self.procs.insert(id, (host, pid));
        ProcId(id)
    }

    /// Whether process `p` has returned.
    pub fn is_finished(&self, p: ProcId) -> bool {
        self.executor.is_done(p.0)
    }

    /// Processes still running.
    pub fn live_processes(&self) -> usize {
        self.executor.live()
    }

    /// Runs everything that can happen at the current instant.
    fn settle(&mut self) {
        loop {
            for id in self.executor.run_ready() {
                if let Some((host, pid)) = self.procs.remove(&id) {
                    self.world.borrow_mut().hosts[host.0].stack.close_owner(pid);
                }
            }
            let moved = self.world.borrow_mut().pump();
            if !moved && !self.executor.has_ready() {
                break;
            }
        }
    }

    /// Runs until `deadline` (virtual), or until nothing is left to happen.
    /// Returns the time reached.
    pub fn run_until(&mut self, deadline: Instant) -> Instant {
        loop {
            self.settle();
            let next = self.world.borrow().next_event();
            let mut w = self.world.borrow_mut();
            match next {
                Some(t) if t <= deadline => {
                    w.now = w.now.max(t);
                    w.fire_timers();
                }
                _ => {
                    if deadline != Instant::FAR_FUTURE {
                        w.now = w.now.max(deadline);
                    }
                    return w.now;
                }
            }
        }
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) -> Instant {
        let deadline = self.now() + d;
        self.run_until(deadline)
    }

    /// Runs until no packet, timer or process can make progress.
    pub fn run_until_idle(&mut self) -> Instant {
        self.run_until(Instant::FAR_FUTURE)
    }

    /// Runs until process `p` has finished (or nothing can progress).
    /// True if it finished.
    pub fn run_until_finished(&mut self, p: ProcId) -> bool {
        loop {
            self.settle();
            if self.is_finished(p) {
                return true;
            }
            let next = self.world.borrow().next_event();
            let Some(t) = next else { return false };
            let mut w = self.world.borrow_mut();
            w.now = w.now.max(t);
            w.fire_timers();
        }
    }
}
