//! IPv4 reassembly (RFC 791 §3.2, RFC 815): fragments are collected per
//! (source, destination, protocol, identification) until the datagram is
//! whole, within a memory bound and a timeout.
//!
//! Overlapping fragments discard the whole datagram, as Linux has done since
//! 2018 and RFC 5722 requires for IPv6: overlaps only serve to evade
//! filters. An exact duplicate of a fragment already held (a link that
//! duplicates) is ignored instead.

use crate::counters::DropReason;
use sockstack_time::{Duration, Instant};
use sockstack_wire::{Ipv4Addr, Ipv4Repr};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ident: u16,
}

#[derive(Debug)]
struct Flow {
    expires: Instant,
    /// Header of the fragment at offset 0, once seen.
    first_header: Option<Ipv4Repr>,
    /// Payload offset (bytes) → fragment payload.
    pieces: BTreeMap<usize, Vec<u8>>,
    /// Total payload length, known once the last fragment (MF=0) arrived.
    total: Option<usize>,
    received: usize,
}

/// A datagram whose reassembly timed out; if its first fragment had come,
/// the stack owes the source an ICMP time exceeded (RFC 792, RFC 1122
/// §3.3.2).
#[derive(Debug)]
pub struct Expired {
    /// Header of the first fragment (offset 0); `None` if it never came, and
    /// then no ICMP error is owed.
    pub header: Option<Ipv4Repr>,
    /// The first fragment's payload start (for the ICMP message).
    pub first_bytes: Vec<u8>,
}

/// Limits of the reassembler.
#[derive(Debug, Clone, Copy)]
pub struct ReassemblyConfig {
    /// Linux: `ipfrag_time` = 30 s.
    pub timeout: Duration,
    /// Linux: `ipfrag_high_thresh` = 4 MiB.
    pub memory_limit: usize,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig { timeout: Duration::from_secs(30), memory_limit: 4 << 20 }
    }
}

/// Collects IPv4 fragments into datagrams, within a memory bound and a timeout.
#[derive(Debug, Default)]
pub struct Reassembler {
    config: ReassemblyConfig,
    flows: HashMap<FlowKey, Flow>,
    memory: usize,
}

/// Largest payload an IPv4 datagram can carry.
const MAX_PAYLOAD: usize = 65535 - 20;

impl Reassembler {
    /// An empty reassembler with the given limits.
    pub fn new(config: ReassemblyConfig) -> Self {
        Reassembler { config, ..Default::default() }
    }

    /// Datagrams currently being reassembled.
    pub fn flows(&self) -> usize {
        self.flows.len()
    }

    /// Bytes of fragment payload held, kept within the memory limit.
    pub fn memory(&self) -> usize {
        self.memory
    }

    fn discard(&mut self, key: &FlowKey) {
        if let Some(flow) = self.flows.remove(key) {
            self.memory -= flow.pieces.values().map(Vec::len).sum::<usize>();
        }
    }

    /// Adds one fragment. Returns the reassembled header (offset 0, MF
    /// clear, the full payload length) and payload once complete.
    pub fn add(
        &mut self,
        now: Instant,
        header: &Ipv4Repr,
        payload: &[u8],
    ) -> Result<Option<(Ipv4Repr, Vec<u8>)>, DropReason> {
        let key = FlowKey {
            src: header.src_addr,
            dst: header.dst_addr,
            protocol: header.next_header.into(),
            ident: header.ident,
        };
        let offset = usize::from(header.frag_offset);
        let end = offset + payload.len();
        // RFC 791: every fragment but the last carries a multiple of 8 bytes.
        if end > MAX_PAYLOAD || (header.more_frags && payload.len() % 8 != 0) || payload.is_empty() {
            self.discard(&key);
            return Err(DropReason::FragInvalid);
        }
        if self.memory + payload.len() > self.config.memory_limit {
            self.evict_oldest_until(self.config.memory_limit - payload.len().min(self.config.memory_limit));
            if self.memory + payload.len() > self.config.memory_limit {
                return Err(DropReason::FragMemory);
            }
        }
        let timeout = self.config.timeout;
        let flow = self.flows.entry(key).or_insert_with(|| Flow {
            expires: now + timeout,
            first_header: None,
            pieces: BTreeMap::new(),
            total: None,
            received: 0,
        });
        // The last fragment fixes the length; a second, different one, or
        // a piece beyond it, makes the datagram inconsistent.
        let inconsistent = match (header.more_frags, flow.total) {
            (false, Some(total)) => total != end,
            (false, None) => flow.pieces.range(..).next_back().is_some_and(|(o, p)| o + p.len() > end),
            (true, Some(total)) => end > total,
            (true, None) => false,
        };
        if inconsistent {
            self.discard(&key);
            return Err(DropReason::FragInvalid);
        }
        // Overlap test against the neighbours in offset order.
        if let Some(existing) = flow.pieces.get(&offset) {
            if existing.as_slice() == payload {
                return Ok(None); // exact duplicate
            }
            self.discard(&key);
            return Err(DropReason::FragOverlap);
        }
        let before = flow.pieces.range(..offset).next_back().map(|(o, p)| o + p.len());
        let after = flow.pieces.range(offset..).next().map(|(o, _)| *o);
        if before.is_some_and(|b_end| b_end > offset) || after.is_some_and(|a| a < end) {
            self.discard(&key);
            return Err(DropReason::FragOverlap);
        }
        if !header.more_frags {
            flow.total = Some(end);
        }
        if offset == 0 {
            flow.first_header = Some(*header);
        }
        flow.pieces.insert(offset, payload.to_vec());
        flow.received += payload.len();
        self.memory += payload.len();
        if flow.total != Some(flow.received) {
            return Ok(None);
        }
        // Pieces do not overlap and add up to the total: they tile it.
        let flow = self.flows.remove(&key).expect("flow present");
        self.memory -= flow.received;
        let mut data = Vec::with_capacity(flow.received);
        for piece in flow.pieces.values() {
            data.extend_from_slice(piece);
        }
        let mut whole = flow.first_header.expect("offset 0 present when complete");
        whole.more_frags = false;
        whole.frag_offset = 0;
        whole.payload_len = data.len();
        Ok(Some((whole, data)))
    }

    fn evict_oldest_until(&mut self, target: usize) {
        while self.memory > target {
            let Some(oldest) = self.flows.iter().min_by_key(|(_, f)| f.expires).map(|(k, _)| *k) else {
                break;
            };
            self.discard(&oldest);
        }
    }

    /// Removes timed-out datagrams.
    pub fn expire(&mut self, now: Instant) -> Vec<Expired> {
        if self.flows.is_empty() {
            return Vec::new();
        }
        let due: Vec<FlowKey> = self.flows.iter().filter(|(_, f)| f.expires <= now).map(|(k, _)| *k).collect();
        let mut out = Vec::with_capacity(due.len());
        for key in due {
            let flow = &self.flows[&key];
            let first_bytes = flow.pieces.get(&0).map(|p| p[..p.len().min(8)].to_vec()).unwrap_or_default();
            out.push(Expired { header: flow.first_header, first_bytes });
            self.discard(&key);
        }
        out
    }

    /// The earliest reassembly deadline, when [`Reassembler::expire`] has work;
    /// `None` when nothing is held.
    #[inline]
    pub fn poll_at(&self) -> Option<Instant> {
        if self.flows.is_empty() {
            return None;
        }
        self.flows.values().map(|f| f.expires).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockstack_wire::IpProtocol;

    fn header(offset: u16, more: bool, len: usize, ident: u16) -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 1),
            dst_addr: Ipv4Addr::new(192, 0, 2, 2),
            next_header: IpProtocol::Udp,
            payload_len: len,
            hop_limit: 64,
            ident,
            dont_frag: false,
            more_frags: more,
            frag_offset: offset,
            dscp_ecn: 0,
        }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn reassembles_out_of_order_with_duplicates() {
        let mut r = Reassembler::default();
        let d = data(3000);
        let t = Instant::ZERO;
        assert_eq!(r.add(t, &header(2000, false, 1000, 1), &d[2000..]).unwrap(), None);
        assert_eq!(r.add(t, &header(1000, true, 1000, 1), &d[1000..2000]).unwrap(), None);
        // A duplicate is harmless.
        assert_eq!(r.add(t, &header(1000, true, 1000, 1), &d[1000..2000]).unwrap(), None);
        let (h, got) = r.add(t, &header(0, true, 1000, 1), &d[..1000]).unwrap().unwrap();
        assert_eq!(got, d);
        assert_eq!(h.payload_len, 3000);
        assert!(!h.more_frags);
        assert_eq!(h.frag_offset, 0);
        assert_eq!(r.flows(), 0);
        assert_eq!(r.memory(), 0);
    }

    #[test]
    fn overlap_discards_the_datagram() {
        let mut r = Reassembler::default();
        let d = data(3000);
        let t = Instant::ZERO;
        r.add(t, &header(0, true, 1000, 2), &d[..1000]).unwrap();
        assert_eq!(r.add(t, &header(992, true, 1000, 2), &d[992..1992]), Err(DropReason::FragOverlap));
        assert_eq!(r.flows(), 0);
        assert_eq!(r.memory(), 0);
        // Same offset, different bytes: also an overlap.
        r.add(t, &header(0, true, 8, 3), &[1; 8]).unwrap();
        assert_eq!(r.add(t, &header(0, true, 8, 3), &[2; 8]), Err(DropReason::FragOverlap));
    }

    #[test]
    fn inconsistent_fragments_are_rejected() {
        let mut r = Reassembler::default();
        let t = Instant::ZERO;
        // Not a multiple of 8 while more fragments follow.
        assert_eq!(r.add(t, &header(0, true, 7, 4), &[0; 7]), Err(DropReason::FragInvalid));
        // Beyond 65535 bytes.
        assert_eq!(r.add(t, &header(65528, false, 16, 5), &[0; 16]), Err(DropReason::FragInvalid));
        // Two different ends.
        r.add(t, &header(8, false, 8, 6), &[0; 8]).unwrap();
        assert_eq!(r.add(t, &header(8, false, 16, 6), &[0; 16]), Err(DropReason::FragInvalid));
        // A piece past the known end.
        r.add(t, &header(8, false, 8, 7), &[0; 8]).unwrap();
        assert_eq!(r.add(t, &header(16, true, 8, 7), &[0; 8]), Err(DropReason::FragInvalid));
    }

    #[test]
    fn times_out_and_reports_first_fragment() {
        let mut r = Reassembler::default();
        let d = data(16);
        r.add(Instant::ZERO, &header(0, true, 8, 9), &d[..8]).unwrap();
        assert_eq!(r.poll_at(), Some(Instant::from_secs(30)));
        assert!(r.expire(Instant::from_secs(29)).is_empty());
        let expired = r.expire(Instant::from_secs(30));
        assert_eq!(expired.len(), 1);
        assert!(expired[0].header.is_some());
        assert_eq!(expired[0].first_bytes, &d[..8]);
        assert_eq!(r.flows(), 0);
        assert_eq!(r.memory(), 0);
    }

    #[test]
    fn memory_is_bounded() {
        let mut r = Reassembler::new(ReassemblyConfig { timeout: Duration::from_secs(30), memory_limit: 4096 });
        for ident in 0..100u16 {
            let _ = r.add(Instant::from_millis(u64::from(ident)), &header(0, true, 1024, ident), &[0; 1024]);
            assert!(r.memory() <= 4096);
        }
        assert!(r.flows() <= 4);
        // A complete datagram still gets through under pressure.
        r.add(Instant::from_secs(1), &header(0, true, 1024, 500), &[1; 1024]).unwrap();
        let done = r.add(Instant::from_secs(1), &header(1024, false, 10, 500), &[2; 10]).unwrap();
        assert_eq!(done.unwrap().1.len(), 1034);
    }
}
