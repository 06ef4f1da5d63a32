//! Packet capture: every packet that crosses a link, written as a pcap
//! file that tcpdump, tshark and Wireshark read. Packets are bare IPv4
//! datagrams, so the file's link type is LINKTYPE_RAW (101).

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The file under the pcap writer, shared so that [`PcapSink::flush`] can
/// reach it (the writer owns what it writes to).
#[derive(Clone)]
struct SharedFile(Arc<Mutex<BufWriter<File>>>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

/// A pcap file being written.
pub struct PcapSink {
    writer: PcapWriter<SharedFile>,
    file: SharedFile,
    packets: u64,
}

fn to_io(e: pcap_file::PcapError) -> io::Error {
    io::Error::other(e.to_string())
}

impl PcapSink {
    /// Creates (truncates) `path` and writes the file header.
    pub fn create(path: impl AsRef<Path>) -> io::Result<PcapSink> {
        let file = SharedFile(Arc::new(Mutex::new(BufWriter::new(File::create(path)?))));
        let header = PcapHeader { datalink: DataLink::RAW, snaplen: 65535, ..PcapHeader::default() };
        let writer = PcapWriter::with_header(file.clone(), header).map_err(to_io)?;
        Ok(PcapSink { writer, file, packets: 0 })
    }

    /// Records one IPv4 datagram seen at `at` (since the Unix epoch for
    /// real time; since the simulation's start for virtual time).
    pub fn record(&mut self, at: Duration, packet: &[u8]) -> io::Result<()> {
        let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        self.writer.write_packet(&PcapPacket::new(at, len, packet)).map_err(to_io)?;
        self.packets += 1;
        Ok(())
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Writes buffered packets to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for PcapSink {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    #[test]
    fn writes_a_readable_raw_ip_capture() {
        let path = std::env::temp_dir().join(format!("sockstack-pcap-{}.pcap", std::process::id()));
        {
            let mut sink = PcapSink::create(&path).unwrap();
            sink.record(Duration::from_millis(1500), &[0x45, 0, 0, 20, 1, 2, 3]).unwrap();
            sink.record(Duration::from_millis(1501), &[0x45; 40]).unwrap();
            assert_eq!(sink.packets(), 2);
        }
        let mut reader = PcapReader::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.header().datalink, DataLink::RAW);
        let first = reader.next_packet().unwrap().unwrap();
        assert_eq!(first.timestamp, Duration::from_millis(1500));
        assert_eq!(&first.data[..], &[0x45, 0, 0, 20, 1, 2, 3]);
        let second = reader.next_packet().unwrap().unwrap();
        assert_eq!(second.data.len(), 40);
        assert!(reader.next_packet().is_none());
        std::fs::remove_file(&path).unwrap();
    }
}
