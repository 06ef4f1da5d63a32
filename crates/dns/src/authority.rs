//! The authoritative server's logic: a query's bytes in, the response's
//! bytes out (or nothing), no I/O and no state.
//!
//! - the zone with the longest origin containing the name answers, with AA;
//!   a name in no zone gets REFUSED (RFC 1034 §4.3.2: no recursion here);
//! - CNAMEs are chased within the zone (RFC 1034 §4.3.2 step 3a);
//! - zone cuts: NS records below the apex delegate the names at and below
//!   them, which get a referral (RFC 1034 §4.3.2 step 3b): no AA, the
//!   delegation's NS records in the authority section, and their glue (the
//!   addresses of those servers that lie at or below a cut) in the
//!   additional section. Data below a cut is glue, never an answer; only
//!   DS at a cut is the parent's own;
//! - wildcards (RFC 1034 §4.3.3, RFC 4592): a name that does not exist,
//!   whose closest encloser owns a `*` child, is answered from that
//!   child's records under the asked name (a CNAME there is chased, no
//!   data of the type is NODATA); a name that exists, an empty
//!   non-terminal included, is never matched by a wildcard;
//! - NXDOMAIN and NODATA carry the zone's SOA in the authority section,
//!   with TTL min(SOA TTL, MINIMUM), for negative caching (RFC 2308 §3),
//!   but 0 in an NXDOMAIN to an SOA question;
//!   an empty non-terminal is NODATA, not NXDOMAIN (RFC 8020);
//! - MX, SRV and NS answers bring the in-zone addresses of their targets in
//!   the additional section (wildcards apply; ANY answers, and answers
//!   that point to more than 13 names, bring none);
//! - a CNAME loop, or a chain through more than 16 names, is SERVFAIL;
//! - over UDP a response longer than 512 octets, or than the client's EDNS
//!   buffer (RFC 6891 §6.2.5: never below 512) capped by ours, first loses
//!   additional data, whole RRsets from the end, with TC clear (RFC 2181
//!   §9); a referral short of its glue (RFC 9471), or an answer that does
//!   not fit even so, goes out with TC set and no records, which sends the
//!   client to TCP (RFC 7766);
//! - EDNS: a query with OPT gets OPT back with our buffer size; a version
//!   other than 0 gets BADVERS; two OPT records get FORMERR (RFC 6891 §6.1.1);
//! - a message shorter than a header, or a response (QR set), gets nothing;
//!   one whose header reads but whose body does not gets FORMERR; an opcode
//!   other than QUERY gets NOTIMP; AXFR/IXFR get REFUSED.
//!
//! Where the RFCs leave the choice, the answers are BIND 9's, which
//! `tests/bind_diff.rs` checks on random zones. Not implemented: DNSSEC,
//! zone transfers.

use crate::name::{Name, NameError};
use crate::record::{RData, RType, Record};
use crate::zone::Zone;
use domain::base::iana::{Class, Opcode, OptRcode, Rcode};
use domain::base::message_builder::{AdditionalBuilder, MessageBuilder, TreeCompressor};
use domain::base::{Message, Ttl};
use std::net::Ipv4Addr;

/// How the response will travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A UDP datagram; `max_len` is our own limit (the buffer size we
    /// advertise over EDNS). Without EDNS the limit is 512 octets.
    Udp {
        /// Largest response we send over UDP, in octets (clamped to
        /// 512..=65535); the client's EDNS size may lower it further.
        max_len: usize,
    },
    /// A TCP stream (RFC 7766): up to 65535 octets.
    Tcp,
}

/// The classic UDP limit (RFC 1035 §4.2.1).
pub const UDP_LIMIT: usize = 512;
/// The longest CNAME chain followed inside a zone.
const MAX_CHAIN: usize = 16;
/// An answer pointing to more names than this gets no additional data:
/// BIND 9.18's bound on the lookups one question may cost.
const MAX_ADDITIONAL_TARGETS: usize = 13;

/// A set of zones served with authority.
#[derive(Debug, Clone, Default)]
pub struct Authority {
    zones: Vec<Zone>,
}

/// What the zone data says about a question.
struct Resolution {
    rcode: Rcode,
    authoritative: bool,
    answer: Vec<Record>,
    authority: Vec<Record>,
    additional: Vec<Record>,
}

impl Resolution {
    fn bare(rcode: Rcode) -> Resolution {
        Resolution { rcode, authoritative: false, answer: Vec::new(), authority: Vec::new(), additional: Vec::new() }
    }
}

impl Authority {
    /// Serves `zones`.
    pub fn new(zones: Vec<Zone>) -> Authority {
        Authority { zones }
    }

    /// Adds a zone to those served.
    pub fn add_zone(&mut self, zone: Zone) {
        self.zones.push(zone);
    }

    /// The zones served, in the order added.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// Zones for a network description: `origin` gets an SOA, an NS
    /// (`ns.<origin>`) and an A record for every named host (a name without
    /// a trailing dot is relative to `origin`); each /24 of the addresses
    /// gets a reverse zone `c.b.a.in-addr.arpa` with a PTR for every host.
    pub fn from_hosts(origin: &Name, hosts: &[(&str, Ipv4Addr)]) -> Result<Authority, NameError> {
        const TTL: u32 = 300;
        let ns = Name::parse("ns")?.join(origin)?;
        let soa = |apex: &Name| -> Result<Record, NameError> {
            Ok(Record::new(
                apex.clone(),
                TTL,
                RData::Soa {
                    mname: ns.clone(),
                    rname: Name::parse("hostmaster")?.join(origin)?,
                    serial: 1,
                    refresh: 3600,
                    retry: 600,
                    expire: 86400,
                    minimum: 60,
                },
            ))
        };
        let zone_with_ns = |apex: &Name| -> Result<Zone, NameError> {
            let mut z = Zone::new(soa(apex)?).expect("an SOA");
            z.insert(Record::new(apex.clone(), TTL, RData::Ns(ns.clone()))).expect("apex is in the zone");
            Ok(z)
        };
        let mut forward = zone_with_ns(origin)?;
        let mut reverse: Vec<Zone> = Vec::new();
        for (host, addr) in hosts {
            let name = if let Some(abs) = host.strip_suffix('.') {
                Name::parse(abs)?
            } else {
                Name::parse(host)?.join(origin)?
            };
            if forward.insert(Record::new(name.clone(), TTL, RData::A(*addr))).is_err() {
                // Outside the origin: only the reverse mapping is served.
            }
            let [a, b, c, _] = addr.octets();
            let apex = Name::parse(&format!("{c}.{b}.{a}.in-addr.arpa"))?;
            let i = match reverse.iter().position(|z| *z.origin() == apex) {
                Some(i) => i,
                None => {
                    reverse.push(zone_with_ns(&apex)?);
                    reverse.len() - 1
                }
            };
            reverse[i]
                .insert(Record::new(Name::reverse_ipv4(*addr), TTL, RData::Ptr(name)))
                .expect("the reverse name is in its /24 zone");
        }
        let mut zones = vec![forward];
        zones.extend(reverse);
        Ok(Authority { zones })
    }

    /// The zone that holds `name`: the one with the longest origin.
    fn zone_for(&self, name: &Name) -> Option<&Zone> {
        self.zones.iter().filter(|z| name.is_in(z.origin())).max_by_key(|z| z.origin().label_count())
    }

    fn resolve(&self, qname: &Name, qtype: RType) -> Resolution {
        let Some(zone) = self.zone_for(qname) else {
            return Resolution::bare(Rcode::REFUSED);
        };
        let mut res = Resolution::bare(Rcode::NOERROR);
        res.authoritative = true;
        let mut name = qname.clone();
        for _ in 0..MAX_CHAIN {
            // RFC 1034 §4.3.2 step 3b: a delegation on the way down to the
            // name. DS at the cut itself is the parent's data (RFC 4035
            // §3.1.4.1), so it is answered here.
            if let Some(cut) = zone.cut_above(&name).filter(|cut| !(qtype == RType::DS && *cut == name)) {
                let ns: Vec<Record> =
                    zone.records_at(&cut).iter().filter(|r| r.rtype() == RType::NS).cloned().collect();
                res.additional = glue(zone, &ns);
                res.authority = ns;
                // AA describes the first owner in the answer (RFC 1035
                // §4.1.1): with a CNAME of ours before it, it stays.
                res.authoritative = !res.answer.is_empty();
                return res;
            }
            // Step 3a: the name itself; else step 3c: a wildcard.
            let (owner_records, exists) = if zone.name_exists(&name) {
                (zone.records_at(&name), true)
            } else {
                match wildcard_for(zone, &name) {
                    Some(source) => (zone.records_at(&source), true),
                    None => (&[][..], false),
                }
            };
            let at = |r: &Record| Record { name: name.clone(), ..r.clone() };
            let matching: Vec<Record> =
                owner_records.iter().filter(|r| qtype == RType::ANY || r.rtype() == qtype).map(at).collect();
            if !matching.is_empty() {
                // ANY gets no additional data, as from BIND (RFC 8482
                // asks for small ANY answers).
                if qtype != RType::ANY {
                    res.additional = addresses_for(zone, &matching);
                }
                res.answer.extend(matching);
                return res;
            }
            if let Some(cname) = owner_records.iter().find(|r| r.rtype() == RType::CNAME).map(at) {
                let RData::Cname(target) = &cname.data else { unreachable!("a CNAME record") };
                let target = target.clone();
                res.answer.push(cname);
                if res.answer.iter().any(|r| r.name == target) {
                    // A loop (RFC 1034 §3.6.2 forbids them): the chain so
                    // far, and a server failure, as from BIND.
                    res.rcode = Rcode::SERVFAIL;
                    return res;
                }
                if !target.is_in(zone.origin()) {
                    // Out of the zone: the resolver goes on from here.
                    return res;
                }
                name = target;
                continue;
            }
            if !exists {
                res.rcode = Rcode::NXDOMAIN;
            }
            let mut soa = zone.soa().clone();
            // NXDOMAIN to an SOA question carries the SOA with TTL 0, as
            // BIND sends it: a stub that finds a name's zone by asking for
            // its SOA must not cache this one as the answer.
            soa.ttl = if qtype == RType::SOA && !exists { 0 } else { zone.negative_ttl() };
            res.authority.push(soa);
            return res;
        }
        // A chain longer than we follow: a failure, as for a loop.
        res.rcode = Rcode::SERVFAIL;
        res
    }

    /// Answers one query message. `None` when nothing must be sent back:
    /// input shorter than a DNS header, or a message that is itself a
    /// response.
    pub fn answer(&self, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let msg = Message::from_slice(query).ok()?;
        let header = msg.header();
        if header.qr() {
            return None;
        }
        let Some(checked) = check_query(msg) else {
            return Some(error_response(msg, Rcode::FORMERR));
        };
        let edns = checked.edns;
        if header.opcode() != Opcode::QUERY {
            return Some(build(msg, &Resolution::bare(Rcode::NOTIMP), edns, None, transport).unwrap_or_default());
        }
        if let Some(e) = edns {
            if e.version != 0 {
                return build(msg, &Resolution::bare(Rcode::NOERROR), edns, Some(OptRcode::BADVERS), transport);
            }
        }
        let other_class = checked.qclass != Class::IN && checked.qclass != Class::ANY;
        let transfer = checked.qtype == RType::AXFR || checked.qtype == RType(251);
        let res = if other_class || transfer {
            Resolution::bare(Rcode::REFUSED)
        } else {
            self.resolve(&checked.qname, checked.qtype)
        };
        match build(msg, &res, edns, None, transport) {
            Some(bytes) => Some(bytes),
            // Too long even for TCP: a server failure.
            None => build(msg, &Resolution::bare(Rcode::SERVFAIL), edns, None, transport),
        }
    }
}

/// The wildcard that answers for `name`, which does not exist: `*` below
/// its closest encloser (the longest ancestor that exists, the apex at
/// worst), if the zone has that name (RFC 4592 §3.3.1).
fn wildcard_for(zone: &Zone, name: &Name) -> Option<Name> {
    let mut ancestor = name.parent()?;
    while !zone.name_exists(&ancestor) {
        if ancestor == *zone.origin() {
            break;
        }
        ancestor = ancestor.parent()?;
    }
    let source = Name::from_labels(std::iter::once(&b"*"[..]).chain(ancestor.labels())).ok()?;
    zone.name_exists(&source).then_some(source)
}

/// The names MX, SRV or NS records point to, each once, in the order the
/// records come (their addresses are left out from the end when a UDP
/// response has no room).
fn targets(records: &[Record]) -> Vec<&Name> {
    let mut out: Vec<&Name> = Vec::new();
    for r in records {
        let target = match &r.data {
            RData::Mx { exchange, .. } => exchange,
            RData::Srv { target, .. } => target,
            RData::Ns(n) => n,
            _ => continue,
        };
        if !out.contains(&target) {
            out.push(target);
        }
    }
    out
}

/// The A records among `records`, then the AAAA ones: each RRset whole
/// and together, so that additional data can be cut between RRsets.
fn addresses(records: &[Record]) -> impl Iterator<Item = &Record> {
    let of = move |t: RType| records.iter().filter(move |r| r.rtype() == t);
    of(RType::A).chain(of(RType::AAAA))
}

/// RFC 1034 §4.3.2 step 6: the A and AAAA records of the names an MX, SRV
/// or NS answer points to, looked up as a question would be (a wildcard
/// answers for a name that does not exist), where the zone has them with
/// authority (not below a zone cut).
fn addresses_for(zone: &Zone, answer: &[Record]) -> Vec<Record> {
    let mut out = Vec::new();
    let targets = targets(answer);
    if targets.len() > MAX_ADDITIONAL_TARGETS {
        return out;
    }
    for t in targets {
        if !t.is_in(zone.origin()) || zone.cut_above(t).is_some() {
            continue;
        }
        if zone.name_exists(t) {
            out.extend(addresses(zone.records_at(t)).cloned());
        } else if let Some(source) = wildcard_for(zone, t) {
            out.extend(addresses(zone.records_at(&source)).map(|r| Record { name: t.clone(), ..r.clone() }));
        }
    }
    out
}

/// A referral's additional data: the glue, the addresses of its name
/// servers that lie at or below a zone cut (this one or another), which
/// only this referral can give. Servers with authoritative addresses
/// elsewhere in the zone are left to the resolver to ask for, as BIND
/// leaves them.
fn glue(zone: &Zone, ns: &[Record]) -> Vec<Record> {
    targets(ns)
        .into_iter()
        .filter(|t| t.is_in(zone.origin()) && zone.cut_above(t).is_some())
        .flat_map(|t| addresses(zone.records_at(t)))
        .cloned()
        .collect()
}

#[derive(Clone, Copy)]
struct Edns {
    udp_size: u16,
    version: u8,
}

struct CheckedQuery {
    qname: Name,
    qtype: RType,
    qclass: Class,
    edns: Option<Edns>,
}

/// Parses and checks the whole query: exactly one question, every record
/// well-formed, at most one OPT (owned by the root).
fn check_query(msg: &Message<[u8]>) -> Option<CheckedQuery> {
    let q = msg.sole_question().ok()?;
    let qname = Name::from_domain(q.qname()).ok()?;
    let mut section = msg.answer().ok()?;
    let mut opts = 0;
    let mut edns = None;
    loop {
        for rr in &mut section {
            let rr = rr.ok()?;
            if rr.rtype() == domain::base::Rtype::OPT {
                opts += 1;
                if !rr.owner().is_root() {
                    return None;
                }
            }
        }
        match section.next_section().ok()? {
            Some(next) => section = next,
            None => break,
        }
    }
    if opts > 1 {
        return None;
    }
    if opts == 1 {
        let opt = msg.opt()?;
        edns = Some(Edns { udp_size: opt.udp_payload_size(), version: opt.version() });
    }
    Some(CheckedQuery { qname, qtype: RType(q.qtype().to_int()), qclass: q.qclass(), edns })
}

/// A response with only a header: the query's ID, opcode and RD, and
/// `rcode` (for a query whose body cannot be read).
fn error_response(msg: &Message<[u8]>, rcode: Rcode) -> Vec<u8> {
    let mut b = MessageBuilder::new_vec();
    let h = b.header_mut();
    h.set_id(msg.header().id());
    h.set_qr(true);
    h.set_opcode(msg.header().opcode());
    h.set_rd(msg.header().rd());
    h.set_rcode(rcode);
    b.finish()
}

/// Builds the response, truncating for UDP. `None` if it cannot be built
/// within 65535 octets.
fn build(
    query: &Message<[u8]>,
    res: &Resolution,
    edns: Option<Edns>,
    ext_rcode: Option<OptRcode>,
    transport: Transport,
) -> Option<Vec<u8>> {
    let (limit, our_size) = match transport {
        Transport::Tcp => (usize::from(u16::MAX), 4096u16),
        Transport::Udp { max_len } => {
            let ours = max_len.clamp(UDP_LIMIT, usize::from(u16::MAX));
            let limit = match edns {
                Some(e) => usize::from(e.udp_size).clamp(UDP_LIMIT, ours),
                None => UDP_LIMIT,
            };
            (limit, ours as u16)
        }
    };
    let edns_size = edns.map(|_| our_size);
    let full = compose(query, res, res.additional.len(), edns_size, ext_rcode, false).ok()?;
    if full.len() <= limit {
        return Some(full);
    }
    // RFC 2181 §9: additional data that does not fit is left out, whole
    // RRsets from the end, and TC stays clear: the answer is complete
    // without it. A referral's glue is the exception (RFC 9471 §3): a
    // referral without it may be useless, so it is truncated instead.
    let referral = !res.authoritative && res.answer.is_empty() && res.authority.iter().any(|r| r.rtype() == RType::NS);
    if !referral {
        for keep in rrset_ends(&res.additional).into_iter().rev() {
            let trimmed = compose(query, res, keep, edns_size, ext_rcode, false).ok()?;
            if trimmed.len() <= limit {
                return Some(trimmed);
            }
        }
    }
    if transport == Transport::Tcp {
        return None;
    }
    // The answer itself does not fit: none of it, with TC, and the client
    // asks again over TCP.
    compose(query, res, 0, edns_size, ext_rcode, true).ok()
}

/// Where each RRset of `records` ends (records of one owner and type
/// are together), from the empty prefix on: the lengths a section may be
/// cut to without splitting an RRset.
fn rrset_ends(records: &[Record]) -> Vec<usize> {
    let mut ends = vec![0];
    for i in 1..=records.len() {
        let last = i == records.len();
        if last || (records[i].name != records[i - 1].name || records[i].rtype() != records[i - 1].rtype()) {
            ends.push(i);
        }
    }
    ends.pop(); // the whole section, already tried
    ends
}

/// The response's octets: `res` with only its first `additional` records
/// of additional data, or with no records at all and TC when `truncated`.
fn compose(
    query: &Message<[u8]>,
    res: &Resolution,
    additional_len: usize,
    edns_size: Option<u16>,
    ext_rcode: Option<OptRcode>,
    truncated: bool,
) -> Result<Vec<u8>, domain::base::message_builder::PushError> {
    let builder = MessageBuilder::from_target(TreeCompressor::new(Vec::new())).expect("an empty Vec has room");
    let mut answer = builder.start_answer(query, res.rcode)?;
    answer.header_mut().set_aa(res.authoritative);
    answer.header_mut().set_tc(truncated);
    let push = |r: &Record| (r.name.to_wire(), Class::IN, Ttl::from_secs(r.ttl), r.wire_data());
    if !truncated {
        for r in &res.answer {
            answer.push(push(r))?;
        }
    }
    let mut authority = answer.authority();
    if !truncated {
        for r in &res.authority {
            authority.push(push(r))?;
        }
    }
    let mut additional: AdditionalBuilder<_> = authority.additional();
    if !truncated {
        for r in &res.additional[..additional_len] {
            additional.push(push(r))?;
        }
    }
    if let Some(size) = edns_size {
        additional.opt(|opt| {
            opt.set_udp_payload_size(size);
            if let Some(rc) = ext_rcode {
                opt.set_rcode(rc);
            }
            Ok(())
        })?;
    }
    Ok(additional.finish().into_target())
}
