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

use crate::driver::{inbox, BufferPool, Driver, Event, Inbox, Port};
use sockstack_link::pcap::PcapSink;
use sockstack_stack::gso::RxOffload;
use sockstack_stack::{IfaceId, InterfaceConfig, OutPacket, Stack};
use sockstack_time::Instant;
use sockstack_wire::{checksum, IpProtocol, Ipv4Cidr, Ipv4Packet, TcpPacket};
use std::io::{self, IoSlice, IoSliceMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tun_rs::{
    gso_split, DeviceBuilder, InterruptEvent, SyncDevice, VirtioNetHdr, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN,
};

/// `struct virtio_net_hdr` (Linux `include/uapi/linux/virtio_net.h`):
/// flags, gso_type, then hdr_len, gso_size, csum_start and csum_offset as
/// 16-bit fields in the host's byte order (a TUN device's legacy header).
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_F_DATA_VALID: u8 = 2;
const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
const VIRTIO_NET_HDR_GSO_UDP_L4: u8 = 5;
/// Set beside a TCP type when the run carries ECN marks (CWR on its first
/// segment); it changes nothing in how the run is taken.
const VIRTIO_NET_HDR_GSO_ECN: u8 = 0x80;

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
    /// runs of TCP segments of up to 64 KiB in one read, with the checksum
    /// left to the device, and the stack takes such a run as one segment
    /// (as Linux GRO would have merged it; [`Stack::receive_offloaded`]);
    /// and the stack's interface has segmentation offload, so a run of its
    /// TCP segments goes to the kernel in one write, which the kernel takes
    /// as it takes its own (TSO: `VIRTIO_NET_HDR_GSO_TCPV4`).
    pub offload: bool,
    /// The stack takes datagrams for any address the kernel routes into
    /// the device, as a tun2socks stack does
    /// ([`InterfaceConfig::with_any_address`]): route whole networks into
    /// the device, and `TcpListener::bind_any` and `UdpSocket::bind_any`
    /// take what is sent to them.
    pub any_address: bool,
}

/// Counters of the device, shared with the reader thread.
#[derive(Debug, Default)]
pub struct TunStats {
    /// Packets read from the device.
    pub rx_packets: AtomicU64,
    /// Packets written to the device.
    pub tx_packets: AtomicU64,
    /// Packets from the kernel that are not IPv4 (e.g. IPv6 router
    /// solicitations), or frames whose offload header cannot be taken:
    /// counted and dropped.
    pub rx_not_ipv4: AtomicU64,
    /// Runs of TCP segments the kernel packed (offload), posted whole.
    pub rx_tcp_runs: AtomicU64,
    /// Runs of UDP datagrams the kernel packed (offload, `UDP_SEGMENT`),
    /// split into their datagrams.
    pub rx_udp_runs: AtomicU64,
    /// Reads from the device that failed. The reader retries a failure the
    /// kernel recovers from (out of memory or buffers); any other ends it
    /// ([`TunStats::reader_error`]).
    pub rx_errors: AtomicU64,
    /// Why the reader stopped, when a read failed for good.
    reader_error: Mutex<Option<(io::ErrorKind, String)>>,
}

impl TunStats {
    /// The error that stopped the device's reader: the device was deleted
    /// under it, say (the wait for it to be readable fails; a read would
    /// fail with `EBADFD`). Then the interface is down and nothing more
    /// comes in or goes out through it. `None` while the reader runs, and
    /// after an orderly shutdown.
    pub fn reader_error(&self) -> Option<io::Error> {
        let stopped = self.reader_error.lock().unwrap_or_else(|e| e.into_inner());
        stopped.as_ref().map(|(kind, what)| io::Error::new(*kind, what.clone()))
    }

    fn reader_stopped(&self, e: &io::Error) {
        *self.reader_error.lock().unwrap_or_else(|e| e.into_inner()) = Some((e.kind(), e.to_string()));
    }
}

/// Linux `ENOBUFS` (asm-generic/errno.h), which std has no kind for.
const ENOBUFS: i32 = 105;

/// What the reader does after a failed read.
#[derive(Debug, PartialEq, Eq)]
enum AfterReadError {
    /// Interrupted by a signal: read again.
    Retry,
    /// Out of memory or buffers, or nothing to read after all: the kernel
    /// recovers, so read again after a pause (a tight loop would only
    /// burn the CPU the kernel needs to recover).
    Pause,
    /// Anything else (the device deleted: `EBADFD`): stop.
    Stop,
}

fn after_read_error(e: &io::Error) -> AfterReadError {
    match e.kind() {
        io::ErrorKind::Interrupted => AfterReadError::Retry,
        io::ErrorKind::OutOfMemory | io::ErrorKind::WouldBlock => AfterReadError::Pause,
        _ if e.raw_os_error() == Some(ENOBUFS) => AfterReadError::Pause,
        _ => AfterReadError::Stop,
    }
}

type SharedPcap = Arc<Mutex<PcapSink>>;

fn wall_clock() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

struct TunPort {
    device: Arc<SyncDevice>,
    /// Offload on: writes carry a virtio-net header.
    offload: bool,
    stats: Arc<TunStats>,
    pcap: Option<SharedPcap>,
    interrupt: Arc<InterruptEvent>,
    reader: Option<JoinHandle<()>>,
}

impl Port for TunPort {
    fn send(&mut self, _now: Instant, packet: OutPacket) -> Option<Vec<u8>> {
        if let Some(p) = &self.pcap {
            let _ = p.lock().unwrap_or_else(|e| e.into_inner()).record(wall_clock(), &packet.data);
        }
        // With offload on, every write starts with a virtio-net header; a
        // zeroed one says "no segmentation, checksum complete". A run of
        // TCP segments the stack packed (`gso_size`) goes as one write the
        // kernel splits or takes whole. (Batching single writes through
        // tun-rs's GRO table measured slower here than one write per
        // packet.)
        let mut data = packet.data;
        let sent = if self.offload {
            // The header and the datagram in one write from where each
            // lies (no copy of a 64 KiB run behind a 10-octet header).
            let hdr = match packet.gso_size {
                Some(gso_size) => tso(&mut data, gso_size),
                None => VirtioNetHdr::default(),
            };
            let mut head = [0u8; VIRTIO_NET_HDR_LEN];
            hdr.encode(&mut head).and_then(|()| self.device.send_vectored(&[IoSlice::new(&head), IoSlice::new(&data)]))
        } else {
            self.device.send(&data)
        };
        // A write the kernel refuses (device going down) is a lost packet,
        // as on a real link; TCP recovers, UDP does not.
        if sent.is_ok() {
            self.stats.tx_packets.fetch_add(1, Ordering::Relaxed);
        }
        Some(data)
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

/// The virtio-net header that makes `ip` (a TCP datagram the stack packed
/// with segments of `gso_size` octets) a TSO write: it asks the kernel to
/// segment it (`GSO_TCPV4`) and to finish each piece's checksum
/// (`NEEDS_CSUM`, from the TCP header on), so the checksum field is set
/// to the pseudo-header's sum, as the kernel's own TSO packets have it.
fn tso(ip: &mut [u8], gso_size: u16) -> VirtioNetHdr {
    let view = Ipv4Packet::new_unchecked(&ip[..]);
    let (ihl, src, dst) = (usize::from(view.header_len()), view.src_addr(), view.dst_addr());
    let mut tcp = TcpPacket::new_unchecked(&mut ip[ihl..]);
    let thl = usize::from(tcp.header_len());
    let partial = checksum::pseudo_header(&src, &dst, IpProtocol::Tcp.into(), tcp.as_ref().len() as u32);
    tcp.set_checksum(partial);
    VirtioNetHdr {
        flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
        gso_type: VIRTIO_NET_HDR_GSO_TCPV4,
        hdr_len: (ihl + thl) as u16,
        gso_size,
        csum_start: ihl as u16,
        // The TCP checksum field, from the TCP header on.
        csum_offset: 16,
    }
}

/// How a frame read with offloads on is to be taken, from its virtio-net
/// header.
#[derive(Debug, PartialEq, Eq)]
enum RxFrame {
    /// As it is, with what the header says of it.
    Whole(RxOffload),
    /// A packed UDP run: split here into its datagrams.
    UdpRun,
    /// A kind the stack does not speak (a packed IPv6 TCP run).
    Foreign,
}

/// How to take a frame the kernel wrote, by its header (see the constants
/// above).
fn rx_frame(hdr: &VirtioNetHdr) -> RxFrame {
    // CHECKSUM_PARTIAL (the kernel left the sum to the device) or a sum
    // the device checked: either way none to check here.
    let transport_checksum_ok = hdr.flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID) != 0;
    let gso_size = hdr.gso_size;
    match hdr.gso_type & !VIRTIO_NET_HDR_GSO_ECN {
        VIRTIO_NET_HDR_GSO_NONE => RxFrame::Whole(RxOffload { transport_checksum_ok, gso_size: None }),
        VIRTIO_NET_HDR_GSO_TCPV4 => RxFrame::Whole(RxOffload { transport_checksum_ok, gso_size: Some(gso_size) }),
        VIRTIO_NET_HDR_GSO_UDP_L4 => RxFrame::UdpRun,
        _ => RxFrame::Foreign,
    }
}

/// Splits a packed UDP run (`data`, under header `hdr`) into `bufs` with
/// tun-rs, which fills in each piece's checksum; the number of datagrams.
/// The header's `hdr_len` is not to be trusted (the virtio specification
/// has the device take it as a hint): it is set to what the split needs,
/// the UDP header's end, from `csum_start`, where that header begins.
fn split_udp_run(
    mut hdr: VirtioNetHdr,
    data: &mut [u8],
    bufs: &mut [Vec<u8>],
    sizes: &mut [usize],
) -> io::Result<usize> {
    let udp_end = usize::from(hdr.csum_start) + 8;
    let checksum_end = usize::from(hdr.csum_start) + usize::from(hdr.csum_offset) + 2;
    if hdr.gso_size == 0 || udp_end > data.len() || checksum_end > udp_end {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "inconsistent UDP offload header"));
    }
    hdr.hdr_len = udp_end as u16;
    gso_split(data, hdr, bufs, sizes, 0, false)
}

/// Shorter reads are copied out of the read buffer into one their size;
/// a longer one (a run of segments, most of a transfer's octets) is
/// posted in the buffer it was read into, and the next read takes one
/// from the pool. Half the buffer: a buffer back from a read of `n`
/// octets has its other `FRAME_LEN - n` set before its next read, which
/// costs less than a copy of `n` only from about here on.
const HANDOFF_MIN: usize = FRAME_LEN / 2;

/// The largest datagram a read brings (after the virtio-net header).
const FRAME_LEN: usize = 65535;

/// The device's reader thread: what it posts to and counts in.
struct Reader {
    device: Arc<SyncDevice>,
    interrupt: Arc<InterruptEvent>,
    inbox: Inbox,
    iface: IfaceId,
    stats: Arc<TunStats>,
    pcap: Option<SharedPcap>,
    /// Reads carry a virtio-net header.
    offload: bool,
    /// Read buffers handed to the driver come back here.
    pool: Arc<BufferPool>,
}

impl Reader {
    /// Reads packets the kernel sends into the device and posts them to
    /// the driver, until interrupted. With offload one read may bring a
    /// run of TCP segments of up to 64 KiB, posted whole (the stack takes
    /// it as one segment), or of UDP datagrams, split here; without, one
    /// read is one packet.
    fn run(self) {
        let mut frame = self.pool.take();
        let mut head = [0u8; VIRTIO_NET_HDR_LEN];
        // Made the first time a packed UDP run comes (most devices never
        // see one).
        let mut udp_bufs: Vec<Vec<u8>> = Vec::new();
        let mut udp_sizes: Vec<usize> = Vec::new();
        loop {
            // With offload, the header into its own array and the datagram
            // into the buffer, which can then be posted as it is.
            let read = if self.offload {
                let mut parts = [IoSliceMut::new(&mut head), IoSliceMut::new(&mut frame)];
                self.device.recv_vectored_intr(&mut parts, &self.interrupt)
            } else {
                self.device.recv_intr(&mut frame, &self.interrupt)
            };
            let n = match read {
                Ok(n) => n,
                // Shut down: whatever the read says.
                Err(_) if self.interrupt.is_trigger() => return,
                Err(e) => match after_read_error(&e) {
                    AfterReadError::Retry => continue,
                    AfterReadError::Pause => {
                        self.stats.rx_errors.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(1));
                        continue;
                    }
                    AfterReadError::Stop => {
                        // Not silently: the error is kept for the owner,
                        // and the interface goes down.
                        self.stats.rx_errors.fetch_add(1, Ordering::Relaxed);
                        self.stats.reader_stopped(&e);
                        let _ = self.inbox.send(Event::LinkDown { iface: self.iface });
                        return;
                    }
                },
            };
            if !self.offload {
                if !self.deliver(&mut frame, n, RxOffload::default()) {
                    return;
                }
                continue;
            }
            if n <= VIRTIO_NET_HDR_LEN {
                // A frame without a datagram: nothing the stack could take.
                self.not_ipv4();
                continue;
            }
            let len = n - VIRTIO_NET_HDR_LEN;
            let Ok(hdr) = VirtioNetHdr::decode(&head) else {
                self.not_ipv4();
                continue;
            };
            let alive = match rx_frame(&hdr) {
                RxFrame::Whole(rx) => {
                    if rx.gso_size.is_some() {
                        self.stats.rx_tcp_runs.fetch_add(1, Ordering::Relaxed);
                    }
                    self.deliver(&mut frame, len, rx)
                }
                RxFrame::UdpRun => {
                    if udp_bufs.is_empty() {
                        udp_bufs = vec![vec![0u8; FRAME_LEN]; IDEAL_BATCH_SIZE];
                        udp_sizes = vec![0; IDEAL_BATCH_SIZE];
                    }
                    match split_udp_run(hdr, &mut frame[..len], &mut udp_bufs, &mut udp_sizes) {
                        Ok(k) => {
                            self.stats.rx_udp_runs.fetch_add(1, Ordering::Relaxed);
                            udp_bufs
                                .iter_mut()
                                .zip(&udp_sizes)
                                .take(k)
                                .all(|(buf, &size)| self.deliver(buf, size, RxOffload::default()))
                        }
                        // A run that cannot be split is dropped, not fatal.
                        Err(_) => {
                            self.not_ipv4();
                            true
                        }
                    }
                }
                RxFrame::Foreign => {
                    self.not_ipv4();
                    true
                }
            };
            if !alive {
                return;
            }
        }
    }

    /// Counts a frame that carried no IPv4 datagram the stack could take
    /// (`TunStats::rx_not_ipv4`).
    fn not_ipv4(&self) {
        self.stats.rx_not_ipv4.fetch_add(1, Ordering::Relaxed);
    }

    /// Posts the packet in the first `len` octets of `buf`, or counts it
    /// when it is not IPv4. A long one goes in `buf` itself, which is
    /// replaced from the pool. False once the driver is gone.
    fn deliver(&self, buf: &mut Vec<u8>, len: usize, offload: RxOffload) -> bool {
        let packet = &buf[..len];
        if packet.first().map(|b| b >> 4) != Some(4) {
            self.not_ipv4();
            return true;
        }
        self.stats.rx_packets.fetch_add(1, Ordering::Relaxed);
        if let Some(p) = &self.pcap {
            let _ = p.lock().unwrap_or_else(|e| e.into_inner()).record(wall_clock(), packet);
        }
        let (data, home) = if len < HANDOFF_MIN {
            (packet.to_vec(), None)
        } else {
            let mut data = std::mem::replace(buf, self.pool.take());
            data.truncate(len);
            (data, Some(self.pool.clone()))
        };
        self.inbox.send(Event::Packet { iface: self.iface, data, offload, home }).is_ok()
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
    if config.any_address {
        iface_config = iface_config.with_any_address();
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
        let reader = Reader {
            device,
            interrupt,
            inbox: tx,
            iface,
            stats,
            pcap,
            offload: config.offload,
            pool: Arc::new(BufferPool::new(FRAME_LEN)),
        };
        std::thread::Builder::new().name("sockstack-tun-rx".into()).spawn(move || reader.run())?
    };
    let port = TunPort { device, offload: config.offload, stats: stats.clone(), pcap, interrupt, reader: Some(reader) };
    let driver = Driver::start(stack, (tx, rx), vec![(iface, Box::new(port) as Box<dyn Port>)]);
    Ok(TunStack { driver, stats })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(flags: u8, gso_type: u8, gso_size: u16, csum_start: u16, csum_offset: u16) -> VirtioNetHdr {
        VirtioNetHdr { flags, gso_type, hdr_len: 0, gso_size, csum_start, csum_offset }
    }

    #[test]
    fn frames_are_taken_as_their_virtio_header_says() {
        let whole = |ok, gso_size| RxFrame::Whole(RxOffload { transport_checksum_ok: ok, gso_size });
        let partial = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        assert_eq!(rx_frame(&header(0, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 0)), whole(false, None));
        assert_eq!(rx_frame(&header(partial, VIRTIO_NET_HDR_GSO_NONE, 0, 20, 16)), whole(true, None));
        assert_eq!(rx_frame(&header(VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 0)), whole(true, None));
        assert_eq!(rx_frame(&header(partial, VIRTIO_NET_HDR_GSO_TCPV4, 1448, 20, 16)), whole(true, Some(1448)));
        let ecn = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
        assert_eq!(rx_frame(&header(partial, ecn, 1448, 20, 16)), whole(true, Some(1448)));
        assert_eq!(rx_frame(&header(partial, VIRTIO_NET_HDR_GSO_UDP_L4, 1000, 20, 6)), RxFrame::UdpRun);
        // VIRTIO_NET_HDR_GSO_TCPV6: IPv6, which the stack does not speak.
        assert_eq!(rx_frame(&header(partial, 4, 1428, 40, 16)), RxFrame::Foreign);
    }

    #[test]
    fn read_errors_are_retried_paused_on_or_stop_the_reader() {
        let os = io::Error::from_raw_os_error;
        assert_eq!(after_read_error(&io::ErrorKind::Interrupted.into()), AfterReadError::Retry);
        // ENOMEM, ENOBUFS, EAGAIN: the kernel recovers.
        assert_eq!(after_read_error(&os(12)), AfterReadError::Pause);
        assert_eq!(after_read_error(&os(ENOBUFS)), AfterReadError::Pause);
        assert_eq!(after_read_error(&os(11)), AfterReadError::Pause);
        // EBADFD (the device deleted), EIO, EFAULT: for good.
        for errno in [77, 5, 14] {
            assert_eq!(after_read_error(&os(errno)), AfterReadError::Stop, "errno {errno}");
        }
        let stats = TunStats::default();
        assert!(stats.reader_error().is_none());
        stats.reader_stopped(&os(77));
        let e = stats.reader_error().expect("kept");
        assert!(e.to_string().contains("bad state"), "{e}");
    }

    #[test]
    fn udp_runs_with_inconsistent_headers_are_refused() {
        let mut bufs = vec![vec![0u8; 2048]; 4];
        let mut sizes = vec![0; 4];
        // A 20-octet IPv4 header, a UDP header, 3000 octets of data.
        let mut data = vec![0u8; 20 + 8 + 3000];
        let udp = VIRTIO_NET_HDR_GSO_UDP_L4;
        let partial = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        let zero_size = header(partial, udp, 0, 20, 6);
        assert!(split_udp_run(zero_size, &mut data, &mut bufs, &mut sizes).is_err());
        let past_the_end = header(partial, udp, 1000, 4000, 6);
        assert!(split_udp_run(past_the_end, &mut data, &mut bufs, &mut sizes).is_err());
        let checksum_outside = header(partial, udp, 1000, 20, 16);
        assert!(split_udp_run(checksum_outside, &mut data, &mut bufs, &mut sizes).is_err());
        assert!(split_udp_run(header(partial, udp, 1000, 20, 6), &mut [], &mut bufs, &mut sizes).is_err());
        // A consistent header over octets that are no datagram: whatever
        // the split makes of them, it returns.
        let _ = split_udp_run(header(partial, udp, 1000, 20, 6), &mut data, &mut bufs, &mut sizes);
    }
}
