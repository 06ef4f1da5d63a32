//! A Linux TUN device as a port of the real-time driver: the stack talks to
//! the kernel's own TCP/IP stack and to real tools (ping, curl, socat, dig).
//!
//! The kernel sees the TUN device as an interface with `kernel_addr`; the
//! sockstack stack owns another address on the same network, so the kernel
//! routes packets for it into the device. A reader thread posts every
//! packet the kernel writes into the driver's inbox; the driver writes the
//! stack's packets back. Traffic the stack does not speak (the kernel's
//! IPv6 router solicitations on a fresh interface, say) is counted and
//! dropped.

use crate::driver::{inbox, Driver, Event, Inbox, Port};
use sockstack_link::pcap::PcapSink;
use sockstack_stack::{IfaceId, InterfaceConfig, OutPacket, Stack};
use sockstack_time::Instant;
use sockstack_wire::{checksum, IpProtocol, Ipv4Cidr, Ipv4Packet, TcpPacket};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tun_rs::{DeviceBuilder, InterruptEvent, SyncDevice, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

/// `struct virtio_net_hdr` (Linux `include/uapi/linux/virtio_net.h`):
/// flags, gso_type, then hdr_len, gso_size, csum_start and csum_offset as
/// 16-bit fields in the host's byte order (a TUN device's legacy header).
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;

/// How to bring up a TUN-backed stack.
#[derive(Debug, Clone)]
pub struct TunConfig {
    /// Device name (`ip link` shows it), at most 15 characters.
    pub name: String,
    /// The stack's own address and prefix.
    pub addr: Ipv4Cidr,
    /// The kernel side's address and prefix, configured on the device (the
    /// device is brought up) when given.
    pub kernel_addr: Option<Ipv4Cidr>,
    /// The device's MTU.
    pub mtu: u16,
    /// Use the device's offloads (virtio-net header): the kernel hands over
    /// TCP segments of up to 64 KiB, split here into MTU-sized packets with
    /// one read instead of one read per packet; and the stack's interface
    /// has segmentation offload, so a run of its TCP segments goes to the
    /// kernel in one write, which the kernel takes as it takes its own
    /// (TSO: `VIRTIO_NET_HDR_GSO_TCPV4`).
    pub offload: bool,
}

/// Counters of the device, shared with the reader thread.
#[derive(Debug, Default)]
pub struct TunStats {
    /// Packets read from the device.
    pub rx_packets: AtomicU64,
    /// Packets written to the device.
    pub tx_packets: AtomicU64,
    /// Packets from the kernel that are not IPv4 (e.g. IPv6 router
    /// solicitations): counted and dropped.
    pub rx_not_ipv4: AtomicU64,
}

type SharedPcap = Arc<Mutex<PcapSink>>;

fn wall_clock() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

struct TunPort {
    device: Arc<SyncDevice>,
    /// Offload on: writes carry a virtio-net header.
    offload: bool,
    scratch: Vec<u8>,
    stats: Arc<TunStats>,
    pcap: Option<SharedPcap>,
    interrupt: Arc<InterruptEvent>,
    reader: Option<JoinHandle<()>>,
}

impl Port for TunPort {
    fn send(&mut self, _now: Instant, packet: OutPacket) {
        if let Some(p) = &self.pcap {
            let _ = p.lock().unwrap_or_else(|e| e.into_inner()).record(wall_clock(), &packet.data);
        }
        // With offload on, every write starts with a virtio-net header; a
        // zeroed one says "no segmentation, checksum complete". A run of
        // TCP segments the stack packed (`gso_size`) goes as one write the
        // kernel splits or takes whole. (Batching single writes through
        // tun-rs's GRO table measured slower here than one write per
        // packet.)
        let sent = if self.offload {
            self.scratch.clear();
            self.scratch.resize(VIRTIO_NET_HDR_LEN, 0);
            self.scratch.extend_from_slice(&packet.data);
            if let Some(gso_size) = packet.gso_size {
                tso(&mut self.scratch, gso_size);
            }
            self.device.send(&self.scratch)
        } else {
            self.device.send(&packet.data)
        };
        // A write the kernel refuses (device going down) is a lost packet,
        // as on a real link; TCP recovers, UDP does not.
        if sent.is_ok() {
            self.stats.tx_packets.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn poll(&mut self, _now: Instant) {}

    fn poll_at(&self) -> Option<Instant> {
        None
    }

    fn shutdown(&mut self) {
        let _ = self.interrupt.trigger();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        if let Some(p) = &self.pcap {
            let _ = p.lock().unwrap_or_else(|e| e.into_inner()).flush();
        }
    }
}

/// Turns `frame` (a virtio-net header's room, then a TCP datagram the stack
/// packed with segments of `gso_size` octets) into a TSO write: the header
/// asks the kernel to segment it (`GSO_TCPV4`) and to finish each piece's
/// checksum (`NEEDS_CSUM`, from the TCP header on), so the checksum field
/// holds the pseudo-header's sum, as the kernel's own TSO packets do.
fn tso(frame: &mut [u8], gso_size: u16) {
    let ip = &mut frame[VIRTIO_NET_HDR_LEN..];
    let view = Ipv4Packet::new_unchecked(&ip[..]);
    let (ihl, src, dst) = (usize::from(view.header_len()), view.src_addr(), view.dst_addr());
    let mut tcp = TcpPacket::new_unchecked(&mut ip[ihl..]);
    let thl = usize::from(tcp.header_len());
    let partial = checksum::pseudo_header(&src, &dst, IpProtocol::Tcp.into(), tcp.as_ref().len() as u32);
    tcp.set_checksum(partial);
    let hdr = &mut frame[..VIRTIO_NET_HDR_LEN];
    hdr.fill(0);
    hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    hdr[1] = VIRTIO_NET_HDR_GSO_TCPV4;
    for (at, value) in [(2, ihl + thl), (4, usize::from(gso_size)), (6, ihl), (8, 16)] {
        hdr[at..at + 2].copy_from_slice(&(value as u16).to_ne_bytes());
    }
}

/// Posts one packet from the kernel, or counts it when it is not IPv4.
/// False once the driver is gone.
fn deliver(packet: &[u8], inbox: &Inbox, iface: IfaceId, stats: &TunStats, pcap: &Option<SharedPcap>) -> bool {
    if packet.first().map(|b| b >> 4) != Some(4) {
        stats.rx_not_ipv4.fetch_add(1, Ordering::Relaxed);
        return true;
    }
    stats.rx_packets.fetch_add(1, Ordering::Relaxed);
    if let Some(p) = pcap {
        let _ = p.lock().unwrap_or_else(|e| e.into_inner()).record(wall_clock(), packet);
    }
    inbox.send(Event::Packet { iface, data: packet.to_vec() }).is_ok()
}

/// Reads packets the kernel sends into the device and posts them to the
/// driver, until interrupted. With offload one read may bring a 64 KiB TCP
/// segment, which tun-rs splits into MTU-sized packets (checksums filled
/// in); without, one read is one packet.
fn read_loop(
    device: Arc<SyncDevice>,
    interrupt: Arc<InterruptEvent>,
    inbox: Inbox,
    iface: IfaceId,
    stats: Arc<TunStats>,
    pcap: Option<SharedPcap>,
    offload: bool,
) {
    let mut original = vec![0u8; if offload { VIRTIO_NET_HDR_LEN + 65535 } else { 0 }];
    let mut bufs = vec![vec![0u8; 65535]; if offload { IDEAL_BATCH_SIZE } else { 1 }];
    let mut sizes = vec![0usize; bufs.len()];
    loop {
        let read = if offload {
            device.recv_multiple_intr(&mut original, &mut bufs, &mut sizes, 0, &interrupt)
        } else {
            device.recv_intr(&mut bufs[0], &interrupt).map(|n| {
                sizes[0] = n;
                1
            })
        };
        let n = match read {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted && interrupt.is_trigger() => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A packet the offload code cannot parse is dropped, not fatal.
            Err(e) if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::InvalidInput => {
                stats.rx_not_ipv4.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(_) => return,
        };
        for (buf, &size) in bufs.iter().zip(&sizes).take(n) {
            if !deliver(&buf[..size], &inbox, iface, &stats, &pcap) {
                return;
            }
        }
    }
}

/// A stack on a TUN device, driven by a real-time driver thread.
pub struct TunStack {
    /// The driver that owns the stack.
    pub driver: Driver,
    /// Device counters.
    pub stats: Arc<TunStats>,
}

/// Creates the TUN device (configuring the kernel side when asked), puts
/// `stack` on it as interface 0 with a default route via the kernel's
/// address, and starts the driver. `pcap`: write every packet to a file.
pub fn spawn_tun(mut stack: Stack, config: &TunConfig, pcap: Option<PcapSink>) -> io::Result<TunStack> {
    let mut builder = DeviceBuilder::new().name(config.name.clone()).mtu(config.mtu);
    if config.offload {
        builder = builder.with(|b| {
            b.offload(true);
        });
    }
    if let Some(k) = config.kernel_addr {
        builder = builder.ipv4(k.address, k.prefix_len, None).enable(true);
    }
    let device = Arc::new(builder.build_sync()?);
    let mut iface_config = InterfaceConfig::new(config.name.clone(), config.addr).with_mtu(config.mtu.into());
    if config.offload {
        iface_config = iface_config.with_gso(sockstack_stack::gso::GSO_MAX_SIZE);
    }
    let iface = stack.add_interface(iface_config);
    if let Some(k) = config.kernel_addr {
        stack.set_default_gateway(k.address)?;
    }
    let stats = Arc::new(TunStats::default());
    let pcap = pcap.map(|p| Arc::new(Mutex::new(p)));
    let interrupt = Arc::new(InterruptEvent::new()?);
    let (tx, rx) = inbox();
    let reader = {
        let (device, interrupt, tx, stats, pcap) =
            (device.clone(), interrupt.clone(), tx.clone(), stats.clone(), pcap.clone());
        let offload = config.offload;
        std::thread::Builder::new()
            .name("sockstack-tun-rx".into())
            .spawn(move || read_loop(device, interrupt, tx, iface, stats, pcap, offload))?
    };
    let port = TunPort {
        device,
        offload: config.offload,
        scratch: Vec::new(),
        stats: stats.clone(),
        pcap,
        interrupt,
        reader: Some(reader),
    };
    let driver = Driver::start(stack, (tx, rx), vec![(iface, Box::new(port) as Box<dyn Port>)]);
    Ok(TunStack { driver, stats })
}
