//! Resource records as this crate handles them, and their conversion to and
//! from `simple_dns`'s wire types.

use crate::name::Name;
use domain::base::iana::Class;
use domain::base::name::ParsedName;
use domain::base::rdata::ComposeRecordData;
use domain::base::{CharStr, Name as DName, ParsedRecord, RecordData, Rtype, Serial, Ttl, UnknownRecordData};
use domain::dep::octseq::Octets;
use domain::rdata::{self, AllRecordData, ZoneRecordData};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A record type (RFC 1035 §3.2.2 and later registrations), by number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RType(pub u16);

impl RType {
    /// A: an IPv4 address (RFC 1035).
    pub const A: RType = RType(1);
    /// NS: an authoritative name server (RFC 1035).
    pub const NS: RType = RType(2);
    /// CNAME: the canonical name of an alias (RFC 1035).
    pub const CNAME: RType = RType(5);
    /// SOA: start of a zone of authority (RFC 1035).
    pub const SOA: RType = RType(6);
    /// PTR: a domain name pointer, for reverse lookups (RFC 1035).
    pub const PTR: RType = RType(12);
    /// MX: a mail exchange (RFC 1035).
    pub const MX: RType = RType(15);
    /// TXT: text strings (RFC 1035).
    pub const TXT: RType = RType(16);
    /// AAAA: an IPv6 address (RFC 3596).
    pub const AAAA: RType = RType(28);
    /// SRV: a service location (RFC 2782).
    pub const SRV: RType = RType(33);
    /// OPT: the EDNS(0) pseudo-record (RFC 6891).
    pub const OPT: RType = RType(41);
    /// DS: a delegation signer (RFC 4034), the one type a parent zone
    /// holds at a zone cut; never stored here, only asked.
    pub const DS: RType = RType(43);
    /// AXFR: a zone transfer request (RFC 5936); query type only.
    pub const AXFR: RType = RType(252);
    /// ANY (`*`): every record of the name (RFC 1035, RFC 8482); query type
    /// only.
    pub const ANY: RType = RType(255);

    const NAMES: [(RType, &'static str); 11] = [
        (RType::A, "A"),
        (RType::NS, "NS"),
        (RType::CNAME, "CNAME"),
        (RType::SOA, "SOA"),
        (RType::PTR, "PTR"),
        (RType::MX, "MX"),
        (RType::TXT, "TXT"),
        (RType::AAAA, "AAAA"),
        (RType::SRV, "SRV"),
        (RType::AXFR, "AXFR"),
        (RType::ANY, "ANY"),
    ];

    /// The mnemonic (`"MX"`), or `TYPEnnn` (RFC 3597) for the others.
    pub fn from_mnemonic(s: &str) -> Option<RType> {
        if let Some(n) = s.get(..4).filter(|p| p.eq_ignore_ascii_case("TYPE")).and_then(|_| s[4..].parse().ok()) {
            return Some(RType(n));
        }
        RType::NAMES.iter().find(|(_, m)| m.eq_ignore_ascii_case(s)).map(|(t, _)| *t)
    }
}

impl fmt::Display for RType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match RType::NAMES.iter().find(|(t, _)| t == self) {
            Some((_, m)) => f.write_str(m),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

impl fmt::Debug for RType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The data of a record (class IN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// The canonical name the owner is an alias of.
    Cname(Name),
    /// A name server authoritative for the owner's zone.
    Ns(Name),
    /// The name the owner points to (reverse lookups).
    Ptr(Name),
    /// A mail exchange for the owner.
    Mx {
        /// Lower is preferred.
        preference: u16,
        /// The mail server's name.
        exchange: Name,
    },
    /// The character-strings (each at most 255 octets).
    Txt(Vec<Vec<u8>>),
    /// A service location (RFC 2782).
    Srv {
        /// Lower is tried first.
        priority: u16,
        /// Relative weight among targets of equal priority.
        weight: u16,
        /// The port the service listens on.
        port: u16,
        /// The host providing the service.
        target: Name,
    },
    /// Start of authority: the zone's parameters (RFC 1035 §3.3.13).
    Soa {
        /// MNAME: the zone's primary name server.
        mname: Name,
        /// RNAME: the mailbox of the person responsible, as a name.
        rname: Name,
        /// SERIAL: the zone's version number.
        serial: u32,
        /// REFRESH: seconds between secondary refreshes.
        refresh: u32,
        /// RETRY: seconds before a failed refresh is retried.
        retry: u32,
        /// EXPIRE: seconds after which a secondary stops answering without a
        /// refresh.
        expire: u32,
        /// MINIMUM: the negative-caching TTL, in seconds (RFC 2308 §4).
        minimum: u32,
    },
    /// Any other type, as raw RDATA (names in it are not decompressed).
    Other {
        /// The record type.
        rtype: RType,
        /// The RDATA as on the wire.
        data: Vec<u8>,
    },
}

impl RData {
    /// The record type this data belongs to.
    pub fn rtype(&self) -> RType {
        match self {
            RData::A(_) => RType::A,
            RData::Aaaa(_) => RType::AAAA,
            RData::Cname(_) => RType::CNAME,
            RData::Ns(_) => RType::NS,
            RData::Ptr(_) => RType::PTR,
            RData::Mx { .. } => RType::MX,
            RData::Txt(_) => RType::TXT,
            RData::Srv { .. } => RType::SRV,
            RData::Soa { .. } => RType::SOA,
            RData::Other { rtype, .. } => *rtype,
        }
    }
}

/// A resource record of class IN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The owner name.
    pub name: Name,
    /// Time to live, in seconds.
    pub ttl: u32,
    /// The record data, which also gives its type.
    pub data: RData,
}

impl Record {
    /// A record of `name` with `ttl` (seconds) and `data`.
    pub fn new(name: Name, ttl: u32, data: RData) -> Record {
        Record { name, ttl, data }
    }

    /// The record type, from its data.
    pub fn rtype(&self) -> RType {
        self.data.rtype()
    }

    /// The record data in `domain`'s form, ready to be put in a message.
    pub(crate) fn wire_data(&self) -> WireData {
        let n = Name::to_wire;
        match &self.data {
            RData::A(a) => ZoneRecordData::A(rdata::A::new(*a)),
            RData::Aaaa(a) => ZoneRecordData::Aaaa(rdata::Aaaa::new(*a)),
            RData::Cname(c) => ZoneRecordData::Cname(rdata::Cname::new(n(c))),
            RData::Ns(c) => ZoneRecordData::Ns(rdata::Ns::new(n(c))),
            RData::Ptr(c) => ZoneRecordData::Ptr(rdata::Ptr::new(n(c))),
            RData::Mx { preference, exchange } => ZoneRecordData::Mx(rdata::Mx::new(*preference, n(exchange))),
            RData::Txt(strings) => {
                let mut b = rdata::rfc1035::TxtBuilder::<Vec<u8>>::new();
                for s in strings {
                    // Each string was checked to be at most 255 octets
                    // (zone parser, from_wire); an overlong one is cut.
                    let cs = CharStr::from_octets(&s[..s.len().min(255)]).expect("at most 255 octets");
                    b.append_charstr(&cs).expect("TXT data fits");
                }
                ZoneRecordData::Txt(
                    b.finish().unwrap_or_else(|_| rdata::Txt::build_from_slice(b"").expect("empty TXT")),
                )
            }
            RData::Srv { priority, weight, port, target } => {
                ZoneRecordData::Srv(rdata::Srv::new(*priority, *weight, *port, n(target)))
            }
            RData::Soa { mname, rname, serial, refresh, retry, expire, minimum } => {
                ZoneRecordData::Soa(rdata::Soa::new(
                    n(mname),
                    n(rname),
                    Serial(*serial),
                    Ttl::from_secs(*refresh),
                    Ttl::from_secs(*retry),
                    Ttl::from_secs(*expire),
                    Ttl::from_secs(*minimum),
                ))
            }
            RData::Other { rtype, data } => ZoneRecordData::Unknown(
                UnknownRecordData::from_octets(Rtype::from_int(rtype.0), data.clone()).expect("RDATA fits"),
            ),
        }
    }

    /// A record read from a message; `None` for another class, OPT, or a
    /// record whose data does not parse.
    pub(crate) fn from_parsed<Octs: Octets + ?Sized>(rr: ParsedRecord<'_, Octs>) -> Option<Record> {
        if rr.class() != Class::IN {
            return None;
        }
        let rr = rr.to_record::<AllRecordData<Octs::Range<'_>, ParsedName<Octs::Range<'_>>>>().ok()??;
        let name = Name::from_domain(rr.owner()).ok()?;
        let n = |n: &ParsedName<_>| Name::from_domain(n).ok();
        let data = match rr.data() {
            AllRecordData::A(a) => RData::A(a.addr()),
            AllRecordData::Aaaa(a) => RData::Aaaa(a.addr()),
            AllRecordData::Cname(c) => RData::Cname(n(c.cname())?),
            AllRecordData::Ns(c) => RData::Ns(n(c.nsdname())?),
            AllRecordData::Ptr(c) => RData::Ptr(n(c.ptrdname())?),
            AllRecordData::Mx(m) => RData::Mx { preference: m.preference(), exchange: n(m.exchange())? },
            AllRecordData::Srv(s) => {
                RData::Srv { priority: s.priority(), weight: s.weight(), port: s.port(), target: n(s.target())? }
            }
            AllRecordData::Soa(s) => RData::Soa {
                mname: n(s.mname())?,
                rname: n(s.rname())?,
                serial: s.serial().into_int(),
                refresh: s.refresh().as_secs(),
                retry: s.retry().as_secs(),
                expire: s.expire().as_secs(),
                minimum: s.minimum().as_secs(),
            },
            AllRecordData::Txt(t) => RData::Txt(t.iter().map(<[u8]>::to_vec).collect()),
            AllRecordData::Opt(_) => return None,
            other => {
                let mut data = Vec::new();
                other.compose_rdata(&mut data).ok()?;
                RData::Other { rtype: RType(other.rtype().to_int()), data }
            }
        };
        Some(Record { name, ttl: rr.ttl().as_secs(), data })
    }
}

/// Record data as `domain` composes it.
pub(crate) type WireData = ZoneRecordData<Vec<u8>, DName<Vec<u8>>>;

impl fmt::Display for Record {
    /// Master-file form: `owner ttl IN TYPE rdata`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}. {} IN {} ", self.name, self.ttl, self.rtype())?;
        match &self.data {
            RData::A(a) => write!(f, "{a}"),
            RData::Aaaa(a) => write!(f, "{a}"),
            RData::Cname(n) | RData::Ns(n) | RData::Ptr(n) => write!(f, "{n}."),
            RData::Mx { preference, exchange } => write!(f, "{preference} {exchange}."),
            RData::Txt(strings) => {
                for (i, s) in strings.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    f.write_str("\"")?;
                    for &b in s {
                        match b {
                            b'"' | b'\\' => write!(f, "\\{}", b as char)?,
                            0x20..=0x7e => write!(f, "{}", b as char)?,
                            _ => write!(f, "\\{b:03}")?,
                        }
                    }
                    f.write_str("\"")?;
                }
                Ok(())
            }
            RData::Srv { priority, weight, port, target } => write!(f, "{priority} {weight} {port} {target}."),
            RData::Soa { mname, rname, serial, refresh, retry, expire, minimum } => {
                write!(f, "{mname}. {rname}. {serial} {refresh} {retry} {expire} {minimum}")
            }
            RData::Other { data, .. } => {
                write!(f, "\\# {}", data.len())?;
                for b in data {
                    write!(f, " {b:02x}")?;
                }
                Ok(())
            }
        }
    }
}
