//! The resolver's cache: answers by (name, type), kept for their TTL;
//! negative answers (NXDOMAIN, NODATA) kept for the SOA's negative TTL
//! (RFC 2308 §5). Bounded: when full, the entry closest to expiry goes.

use crate::name::Name;
use crate::record::{RType, Record};
use sockstack_time::{Duration, Instant};
use std::collections::HashMap;

/// Longest a positive answer is kept (RFC 8767 suggests a cap; BIND uses a week).
pub const MAX_TTL: u32 = 86_400;
/// Longest a negative answer is kept (RFC 2308 §5: one to three hours).
pub const MAX_NEGATIVE_TTL: u32 = 10_800;

/// A negative answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negative {
    /// The name does not exist.
    NxDomain,
    /// The name exists but has no records of the type.
    NoData,
}

#[derive(Debug, Clone)]
enum Entry {
    /// The records answering, CNAMEs of the chain first, with the
    /// canonical name.
    Positive {
        records: Vec<Record>,
        canonical: Name,
    },
    Negative(Negative),
}

/// What the cache holds for a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheHit {
    /// Records (the CNAME chain, then the answers) with TTLs lowered by the
    /// time they spent in the cache, and the canonical name.
    Positive {
        /// The CNAME chain, then the answer records.
        records: Vec<Record>,
        /// The end of the CNAME chain: the owner of the answer records.
        canonical: Name,
        /// Seconds left before the entry expires.
        ttl: u32,
    },
    /// A cached negative answer (RFC 2308).
    Negative {
        /// NXDOMAIN or NODATA.
        kind: Negative,
        /// Seconds left before the entry expires.
        ttl: u32,
    },
}

/// Cached answers by (name, type), bounded in entries.
#[derive(Debug, Clone)]
pub struct Cache {
    entries: HashMap<(Name, RType), (Instant, Instant, Entry)>,
    capacity: usize,
}

impl Cache {
    /// An empty cache holding at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Cache {
        Cache { entries: HashMap::new(), capacity: capacity.max(1) }
    }

    /// Entries held, expired ones not yet evicted included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn put(&mut self, now: Instant, name: &Name, rtype: RType, ttl: u32, entry: Entry) {
        if ttl == 0 {
            return;
        }
        let key = (name.clone(), rtype);
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.entries.retain(|_, (_, expires, _)| *expires > now);
            if self.entries.len() >= self.capacity {
                if let Some(k) = self.entries.iter().min_by_key(|(_, (_, e, _))| *e).map(|(k, _)| k.clone()) {
                    self.entries.remove(&k);
                }
            }
        }
        let expires = now + Duration::from_secs(u64::from(ttl));
        self.entries.insert(key, (now, expires, entry));
    }

    /// Caches an answer: `records` are the CNAME chain then the answer
    /// RRset; the TTL is the smallest of theirs (capped).
    pub fn insert_positive(&mut self, now: Instant, name: &Name, rtype: RType, records: Vec<Record>, canonical: Name) {
        let ttl = records.iter().map(|r| r.ttl).min().unwrap_or(0).min(MAX_TTL);
        self.put(now, name, rtype, ttl, Entry::Positive { records, canonical });
    }

    /// Caches a negative answer for `ttl` seconds (capped).
    pub fn insert_negative(&mut self, now: Instant, name: &Name, rtype: RType, kind: Negative, ttl: u32) {
        self.put(now, name, rtype, ttl.min(MAX_NEGATIVE_TTL), Entry::Negative(kind));
        if kind == Negative::NxDomain {
            // RFC 2308 §5: NXDOMAIN is about the name, whatever the type.
            self.put(now, name, RType::ANY, ttl.min(MAX_NEGATIVE_TTL), Entry::Negative(kind));
        }
    }

    /// The live entry for a question, if any; expired entries go.
    pub fn get(&mut self, now: Instant, name: &Name, rtype: RType) -> Option<CacheHit> {
        let key = (name.clone(), rtype);
        let hit = match self.entries.get(&key) {
            Some((_, expires, _)) if *expires <= now => None,
            Some((stored, expires, entry)) => {
                let left = u32::try_from((*expires - now).as_secs()).unwrap_or(u32::MAX);
                let aged = u32::try_from((now - *stored).as_secs()).unwrap_or(u32::MAX);
                Some(match entry {
                    Entry::Positive { records, canonical } => CacheHit::Positive {
                        records: records
                            .iter()
                            .map(|r| Record { ttl: r.ttl.saturating_sub(aged), ..r.clone() })
                            .collect(),
                        canonical: canonical.clone(),
                        ttl: left,
                    },
                    Entry::Negative(kind) => CacheHit::Negative { kind: *kind, ttl: left },
                })
            }
            None => return self.get_nxdomain(now, name, rtype),
        };
        if hit.is_none() {
            self.entries.remove(&key);
            return self.get_nxdomain(now, name, rtype);
        }
        hit
    }

    fn get_nxdomain(&mut self, now: Instant, name: &Name, rtype: RType) -> Option<CacheHit> {
        if rtype == RType::ANY {
            return None;
        }
        match self.get(now, name, RType::ANY) {
            Some(hit @ CacheHit::Negative { kind: Negative::NxDomain, .. }) => Some(hit),
            _ => None,
        }
    }
}
