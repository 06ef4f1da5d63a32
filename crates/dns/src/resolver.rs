//! The caching stub resolver, as a sans-IO state machine.
//!
//! ```text
//! lookup(now, name, type) -> handle      answers from hosts/cache at once
//! poll_transmit(now) -> Outgoing         a query to send (UDP or TCP)
//! on_response(now, from, bytes)          a datagram / TCP message came back
//! poll_at() ; on_timer(now)              retransmission deadlines
//! result(handle)                         the outcome, once
//! ```
//!
//! - **Hosts first**, then the cache, then the servers.
//! - **Search list** as resolv.conf: a name with at least `ndots` dots is
//!   tried as is first, then with each search domain; one with fewer dots
//!   the other way round; a trailing dot means "as is only". NXDOMAIN or
//!   NODATA moves to the next candidate.
//! - **Retries**: each server gets `tries_per_server` tries, the timeout
//!   doubling from `timeout` (capped by `max_timeout`), then the next
//!   server; SERVFAIL/REFUSED/NOTIMP/FORMERR move to the next server at once,
//!   and so does a referral (RFC 2308 §2.2: a server that does not recurse
//!   for the name), which is neither an answer nor NODATA.
//! - **Anti-spoofing**: every try has a random ID and a random source
//!   port (ChaCha8, seeded); a response is accepted only if its ID is one
//!   of the query's tries, it comes from the server that try went to, and
//!   its question is the one asked. Rejects are counted by reason.
//! - **Truncation**: a TC answer over UDP makes the same server be asked
//!   again over TCP.
//! - **CNAME chains**: followed within a response, and across queries
//!   when a server answers only the first links.
//! - **Cache**: answers for their TTL, NXDOMAIN/NODATA for the SOA's
//!   negative TTL, min(SOA TTL, MINIMUM) (RFC 2308 §5); no SOA, no
//!   negative caching.

use crate::cache::{Cache, CacheHit, Negative};
use crate::hosts::Hosts;
use crate::message::{build_query, parse_response};
use crate::name::{split_labels, Name};
use crate::record::{RData, RType, Record};
use domain::base::iana::{Class, Rcode};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sockstack_time::{Duration, Instant};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4};

/// How the resolver behaves.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// Name servers, tried in order.
    pub servers: Vec<SocketAddrV4>,
    /// Search domains (resolv.conf `search`).
    pub search: Vec<Name>,
    /// resolv.conf `ndots`.
    pub ndots: usize,
    /// The first try's timeout; it doubles on every retry.
    pub timeout: Duration,
    /// Upper bound of a try's timeout as it doubles.
    pub max_timeout: Duration,
    /// Tries of each server before the next one.
    pub tries_per_server: u32,
    /// Timeout of a query over TCP (connection included).
    pub tcp_timeout: Duration,
    /// Consulted before the cache and the servers.
    pub hosts: Hosts,
    /// EDNS(0) buffer size advertised (`None`: no OPT record).
    pub edns_udp_size: Option<u16>,
    /// Most (name, type) entries the cache holds.
    pub cache_capacity: usize,
    /// Longest CNAME chain followed.
    pub max_cname_hops: usize,
    /// Ask over TCP from the start (resolv.conf `options use-vc`, dig
    /// `+tcp`), not only after a truncated UDP answer.
    pub use_tcp: bool,
}

impl Default for ResolverConfig {
    fn default() -> ResolverConfig {
        ResolverConfig {
            servers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(1),
            max_timeout: Duration::from_secs(8),
            tries_per_server: 2,
            tcp_timeout: Duration::from_secs(5),
            hosts: Hosts::new(),
            edns_udp_size: Some(1232),
            cache_capacity: 1024,
            max_cname_hops: 8,
            use_tcp: false,
        }
    }
}

/// A lookup in progress (or finished, until its result is taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryHandle(u64);

/// Transport of an outgoing query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// A UDP datagram (RFC 1035 §4.2.1).
    Udp,
    /// A TCP connection; `bytes` is the message without its two-octet
    /// length prefix, which the driver adds (RFC 7766 §8).
    Tcp,
}

/// A query for the driver to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The name server to send it to.
    pub server: SocketAddrV4,
    /// UDP, or a TCP connection.
    pub transport: Protocol,
    /// The random source port to send from (UDP; a driver that cannot
    /// bind it may use another and loses that much spoofing resistance).
    pub local_port: u16,
    /// The DNS message (without a length prefix).
    pub bytes: Vec<u8>,
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// From the hosts table.
    Hosts,
    /// From the cache.
    Cache,
    /// From a name server.
    Network,
}

/// A successful lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The name that answered (after search-list expansion).
    pub name: Name,
    /// The end of the CNAME chain (`name` itself without one).
    pub canonical_name: Name,
    /// The CNAME records followed, in order.
    pub cnames: Vec<Record>,
    /// The records of the asked type, owned by `canonical_name`.
    pub records: Vec<Record>,
    /// Seconds this answer may be used for (the smallest TTL); 0 from hosts.
    pub ttl: u32,
    /// Where the answer came from.
    pub source: Source,
}

impl Answer {
    /// The IPv4 addresses among the records (those of A records).
    pub fn ipv4(&self) -> Vec<Ipv4Addr> {
        self.records.iter().filter_map(|r| if let RData::A(a) = r.data { Some(a) } else { None }).collect()
    }

    /// The IPv6 addresses among the records (those of AAAA records).
    pub fn ipv6(&self) -> Vec<Ipv6Addr> {
        self.records.iter().filter_map(|r| if let RData::Aaaa(a) = r.data { Some(a) } else { None }).collect()
    }
}

/// Why a lookup failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// The name is not a valid domain name.
    InvalidName,
    /// No candidate name exists.
    NxDomain,
    /// A name exists but has no record of the type.
    NoData,
    /// No server answered in time.
    Timeout,
    /// Every server answered with an error code (the last one's).
    ServerError(u8),
    /// Every server answered with a referral (RFC 2308 §2.2: NS records
    /// and no SOA, no answer): none recursed for the name.
    Referral,
    /// The CNAME chain is longer than `max_cname_hops`.
    CnameChainTooLong,
    /// No name server is configured.
    NoServers,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::InvalidName => f.write_str("invalid name"),
            ResolveError::NxDomain => f.write_str("no such domain"),
            ResolveError::NoData => f.write_str("no record of that type"),
            ResolveError::Timeout => f.write_str("no answer from any server"),
            ResolveError::ServerError(rc) => write!(f, "server error (rcode {rc})"),
            ResolveError::Referral => f.write_str("referred elsewhere by every server (no recursion)"),
            ResolveError::CnameChainTooLong => f.write_str("CNAME chain too long"),
            ResolveError::NoServers => f.write_str("no name server configured"),
        }
    }
}

impl std::error::Error for ResolveError {}

/// Counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolverStats {
    /// Queries sent over UDP.
    pub udp_sent: u64,
    /// Queries sent over TCP.
    pub tcp_sent: u64,
    /// Tries that timed out.
    pub timeouts: u64,
    /// Responses with TC set (truncated).
    pub truncated: u64,
    /// Referrals (the server does not recurse for the name): the next
    /// server is asked.
    pub referrals: u64,
    /// Lookups answered from the hosts table.
    pub hosts_hits: u64,
    /// Lookups answered from the cache (positive or negative).
    pub cache_hits: u64,
    /// Responses whose ID matched no try in flight.
    pub rejected_id: u64,
    /// Responses with a known ID from another address than the server.
    pub rejected_server: u64,
    /// Responses whose question was not the one asked.
    pub rejected_question: u64,
    /// Datagrams that are not a readable response.
    pub rejected_malformed: u64,
}

impl ResolverStats {
    /// All responses rejected as possibly spoofed.
    pub fn rejected(&self) -> u64 {
        self.rejected_id + self.rejected_server + self.rejected_question
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Attempt {
    id: u16,
    server: SocketAddrV4,
    tcp: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A try is to be sent.
    Ready,
    Waiting {
        deadline: Instant,
    },
}

#[derive(Debug)]
struct Query {
    rtype: RType,
    /// Candidates not tried yet.
    candidates: VecDeque<Name>,
    /// The candidate being resolved.
    name: Name,
    /// The name asked now (after CNAMEs).
    current: Name,
    chain: Vec<Record>,
    server: usize,
    tries: u32,
    tcp: bool,
    state: State,
    /// Tries for the current question: their answers are acceptable.
    attempts: Vec<Attempt>,
    /// The failure to report if every candidate fails.
    failure: Option<ResolveError>,
}

/// The caching stub resolver: a sans-IO state machine (see the module docs).
pub struct Resolver {
    config: ResolverConfig,
    rng: ChaCha8Rng,
    cache: Cache,
    queries: BTreeMap<QueryHandle, Query>,
    results: HashMap<QueryHandle, Result<Answer, ResolveError>>,
    next_handle: u64,
    stats: ResolverStats,
}

fn negative_ttl(authority: &[Record]) -> Option<u32> {
    authority.iter().find_map(|r| match r.data {
        RData::Soa { minimum, .. } => Some(minimum.min(r.ttl)),
        _ => None,
    })
}

impl Resolver {
    /// A resolver configured by `config`; `seed` seeds the random query IDs and
    /// source ports.
    pub fn new(config: ResolverConfig, seed: u64) -> Resolver {
        let cache = Cache::new(config.cache_capacity);
        Resolver {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            cache,
            queries: BTreeMap::new(),
            results: HashMap::new(),
            next_handle: 0,
            stats: ResolverStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ResolverConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> &ResolverStats {
        &self.stats
    }

    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Starts a lookup of `name` (presentation format; relative names go
    /// through the search list). Hosts-table and cache answers are ready
    /// at once.
    pub fn lookup(&mut self, now: Instant, name: &str, rtype: RType) -> QueryHandle {
        let handle = QueryHandle(self.next_handle);
        self.next_handle += 1;
        let candidates = match self.candidates(name) {
            Some(c) if !c.is_empty() => c,
            _ => {
                self.results.insert(handle, Err(ResolveError::InvalidName));
                return handle;
            }
        };
        if rtype == RType::A || rtype == RType::AAAA {
            for cand in &candidates {
                let records: Vec<Record> = self
                    .config
                    .hosts
                    .lookup(cand)
                    .into_iter()
                    .filter_map(|a| match (a, rtype) {
                        (IpAddr::V4(a), RType::A) => Some(RData::A(a)),
                        (IpAddr::V6(a), RType::AAAA) => Some(RData::Aaaa(a)),
                        _ => None,
                    })
                    .map(|d| Record::new(cand.clone(), 0, d))
                    .collect();
                if !records.is_empty() {
                    self.stats.hosts_hits += 1;
                    let answer = Answer {
                        name: cand.clone(),
                        canonical_name: cand.clone(),
                        cnames: Vec::new(),
                        records,
                        ttl: 0,
                        source: Source::Hosts,
                    };
                    self.results.insert(handle, Ok(answer));
                    return handle;
                }
            }
        }
        let q = Query {
            rtype,
            candidates: candidates.into(),
            name: Name::root(),
            current: Name::root(),
            chain: Vec::new(),
            server: 0,
            tries: 0,
            tcp: self.config.use_tcp,
            state: State::Ready,
            attempts: Vec::new(),
            failure: None,
        };
        self.queries.insert(handle, q);
        self.next_candidate(now, handle);
        handle
    }

    /// The names to try for `text`, in order.
    fn candidates(&self, text: &str) -> Option<Vec<Name>> {
        let (labels, absolute) = split_labels(text).ok()?;
        let as_is = Name::from_labels(&labels).ok()?;
        if absolute || self.config.search.is_empty() {
            return Some(vec![as_is]);
        }
        let searched = self.config.search.iter().filter_map(|s| as_is.join(s).ok());
        let dots = labels.len().saturating_sub(1);
        Some(if dots >= self.config.ndots {
            std::iter::once(as_is.clone()).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(as_is.clone())).collect()
        })
    }

    /// The outcome of a lookup, once it is known; taken (a second call
    /// returns `None`).
    pub fn result(&mut self, handle: QueryHandle) -> Option<Result<Answer, ResolveError>> {
        self.results.remove(&handle)
    }

    /// True while the lookup waits on the network.
    pub fn is_pending(&self, handle: QueryHandle) -> bool {
        self.queries.contains_key(&handle)
    }

    fn finish(&mut self, handle: QueryHandle, result: Result<Answer, ResolveError>) {
        self.queries.remove(&handle);
        self.results.insert(handle, result);
    }

    /// Moves to the next candidate name (or fails the lookup).
    fn next_candidate(&mut self, now: Instant, handle: QueryHandle) {
        let Some(q) = self.queries.get_mut(&handle) else { return };
        let Some(cand) = q.candidates.pop_front() else {
            let err = q.failure.clone().unwrap_or(ResolveError::NxDomain);
            self.finish(handle, Err(err));
            return;
        };
        q.name = cand.clone();
        q.chain.clear();
        self.ask(now, handle, cand);
    }

    /// Asks about `name` (a candidate or a CNAME target): from the cache,
    /// or from the first server.
    fn ask(&mut self, now: Instant, handle: QueryHandle, name: Name) {
        let Some(q) = self.queries.get_mut(&handle) else { return };
        q.current = name.clone();
        q.attempts.clear();
        q.server = 0;
        q.tries = 0;
        q.tcp = self.config.use_tcp;
        q.state = State::Ready;
        let rtype = q.rtype;
        match self.cache.get(now, &name, rtype) {
            Some(CacheHit::Positive { records, canonical, .. }) => {
                self.stats.cache_hits += 1;
                self.complete(handle, records, canonical, Source::Cache);
            }
            Some(CacheHit::Negative { kind, .. }) => {
                self.stats.cache_hits += 1;
                self.candidate_failed(now, handle, kind);
            }
            None if self.config.servers.is_empty() => self.finish(handle, Err(ResolveError::NoServers)),
            None => {}
        }
    }

    /// `records` (CNAMEs then answers) answer the current name.
    fn complete(&mut self, handle: QueryHandle, records: Vec<Record>, canonical: Name, source: Source) {
        let Some(q) = self.queries.get_mut(&handle) else { return };
        let mut cnames = std::mem::take(&mut q.chain);
        let (more, answers): (Vec<Record>, Vec<Record>) =
            records.into_iter().partition(|r| r.rtype() == RType::CNAME && q.rtype != RType::CNAME);
        cnames.extend(more);
        let ttl = cnames.iter().chain(&answers).map(|r| r.ttl).min().unwrap_or(0);
        let answer = Answer { name: q.name.clone(), canonical_name: canonical, cnames, records: answers, ttl, source };
        self.finish(handle, Ok(answer));
    }

    fn candidate_failed(&mut self, now: Instant, handle: QueryHandle, kind: Negative) {
        let Some(q) = self.queries.get_mut(&handle) else { return };
        let err = match kind {
            Negative::NxDomain => ResolveError::NxDomain,
            Negative::NoData => ResolveError::NoData,
        };
        // NODATA (the name exists) is the more useful report.
        if q.failure != Some(ResolveError::NoData) {
            q.failure = Some(err);
        }
        self.next_candidate(now, handle);
    }

    /// The next query to send, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Outgoing> {
        let (&handle, q) = self.queries.iter_mut().find(|(_, q)| q.state == State::Ready)?;
        let server = *self.config.servers.get(q.server)?;
        let id = self.rng.next_u32() as u16;
        let local_port = 1024 + (self.rng.next_u32() % (65536 - 1024)) as u16;
        let bytes = build_query(id, &q.current, q.rtype, self.config.edns_udp_size);
        let timeout = if q.tcp {
            self.stats.tcp_sent += 1;
            self.config.tcp_timeout
        } else {
            self.stats.udp_sent += 1;
            let backoff = self.config.timeout.saturating_mul(1u32.checked_shl(q.tries).unwrap_or(u32::MAX));
            backoff.min(self.config.max_timeout)
        };
        q.state = State::Waiting { deadline: now + timeout };
        q.attempts.push(Attempt { id, server, tcp: q.tcp });
        let _ = handle;
        Some(Outgoing { server, transport: if q.tcp { Protocol::Tcp } else { Protocol::Udp }, local_port, bytes })
    }

    /// When `on_timer` should next be called (after `poll_transmit` has
    /// returned `None`).
    pub fn poll_at(&self) -> Option<Instant> {
        self.queries
            .values()
            .filter_map(|q| match q.state {
                State::Waiting { deadline } => Some(deadline),
                State::Ready => None,
            })
            .min()
    }

    /// Retransmissions and failovers whose time has come.
    pub fn on_timer(&mut self, now: Instant) {
        let due: Vec<QueryHandle> = self
            .queries
            .iter()
            .filter(|(_, q)| matches!(q.state, State::Waiting { deadline } if deadline <= now))
            .map(|(h, _)| *h)
            .collect();
        for h in due {
            self.stats.timeouts += 1;
            let q = self.queries.get_mut(&h).expect("due query");
            q.tries += 1;
            if q.tries >= self.config.tries_per_server.max(1) {
                self.next_server(h, None);
            } else {
                q.state = State::Ready;
            }
        }
    }

    /// Gives up on the current server (after its tries, or an error code).
    /// The current server failed the query (`failure`: why, if it
    /// answered at all): the next one is asked; past the last, the query
    /// ends.
    fn next_server(&mut self, handle: QueryHandle, failure: Option<ResolveError>) {
        let Some(q) = self.queries.get_mut(&handle) else { return };
        q.server += 1;
        q.tries = 0;
        q.tcp = self.config.use_tcp;
        q.state = State::Ready;
        if q.server >= self.config.servers.len() {
            // A name an earlier search candidate already proved absent
            // (NXDOMAIN/NODATA) is reported as such, not as the later
            // candidate's server error (glibc does the same).
            let err = match (q.failure.clone(), failure) {
                (Some(earlier), Some(_)) => earlier,
                (_, Some(failure)) => failure,
                (_, None) => ResolveError::Timeout,
            };
            self.finish(handle, Err(err));
        }
    }

    /// A response arrived from `from` (over UDP, or a TCP message without
    /// its length prefix).
    pub fn on_response(&mut self, now: Instant, from: SocketAddrV4, bytes: &[u8]) {
        let Some(resp) = parse_response(bytes) else {
            self.stats.rejected_malformed += 1;
            return;
        };
        let found =
            self.queries.iter().find_map(|(h, q)| q.attempts.iter().find(|a| a.id == resp.id).map(|a| (*h, *a)));
        let Some((handle, attempt)) = found else {
            self.stats.rejected_id += 1;
            return;
        };
        if attempt.server != from {
            self.stats.rejected_server += 1;
            return;
        }
        let q = self.queries.get_mut(&handle).expect("found above");
        match &resp.question {
            Some((name, rtype, class)) if *name == q.current && *rtype == q.rtype && *class == Class::IN => {}
            _ => {
                self.stats.rejected_question += 1;
                return;
            }
        }
        if resp.truncated {
            self.stats.truncated += 1;
            if !attempt.tcp {
                q.tcp = true;
                q.state = State::Ready;
                return;
            }
        }
        if resp.rcode != Rcode::NOERROR && resp.rcode != Rcode::NXDOMAIN {
            self.next_server(handle, Some(ResolveError::ServerError(resp.rcode.to_int())));
            return;
        }
        // Follow the chain inside the response.
        let rtype = q.rtype;
        let mut name = q.current.clone();
        let mut links = Vec::new();
        let mut answers = Vec::new();
        for _ in 0..=self.config.max_cname_hops {
            answers = resp.answer.iter().filter(|r| r.name == name && r.rtype() == rtype).cloned().collect();
            if !answers.is_empty() || rtype == RType::CNAME {
                break;
            }
            match resp.answer.iter().find(|r| r.name == name && r.rtype() == RType::CNAME) {
                Some(c) if !links.contains(c) => {
                    let RData::Cname(target) = &c.data else { unreachable!("a CNAME") };
                    name = target.clone();
                    links.push(c.clone());
                }
                _ => break,
            }
        }
        if q.chain.len() + links.len() > self.config.max_cname_hops {
            self.finish(handle, Err(ResolveError::CnameChainTooLong));
            return;
        }
        let current = q.current.clone();
        if !answers.is_empty() {
            let records: Vec<Record> = links.into_iter().chain(answers).collect();
            self.cache.insert_positive(now, &current, rtype, records.clone(), name.clone());
            let q = self.queries.get(&handle).expect("still there");
            if !q.chain.is_empty() {
                let all: Vec<Record> = q.chain.iter().cloned().chain(records.iter().cloned()).collect();
                let first = q.name.clone();
                self.cache.insert_positive(now, &first, rtype, all, name.clone());
            }
            self.complete(handle, records, name, Source::Network);
            return;
        }
        let soa_ttl = negative_ttl(&resp.authority);
        // RFC 2308 §2.2: NS records and no SOA beside no answer is a
        // referral, not NODATA: this server does not recurse for the name
        // (an authoritative server of a parent zone), so the next is asked.
        let referral = resp.rcode == Rcode::NOERROR
            && links.is_empty()
            && soa_ttl.is_none()
            && resp.authority.iter().any(|r| r.rtype() == RType::NS);
        if referral {
            self.stats.referrals += 1;
            self.next_server(handle, Some(ResolveError::Referral));
            return;
        }
        if resp.rcode == Rcode::NXDOMAIN {
            if let Some(ttl) = soa_ttl {
                self.cache.insert_negative(now, &name, rtype, Negative::NxDomain, ttl);
            }
            self.candidate_failed(now, handle, Negative::NxDomain);
            return;
        }
        if !links.is_empty() && soa_ttl.is_none() {
            // The server gave the first links only: ask for the target.
            q.chain.extend(links);
            self.ask(now, handle, name);
            return;
        }
        if let Some(ttl) = soa_ttl {
            self.cache.insert_negative(now, &name, rtype, Negative::NoData, ttl);
        }
        self.candidate_failed(now, handle, Negative::NoData);
    }
}
