//! Zones, and the master-file parser (RFC 1035 §5).
//!
//! Supported syntax: `$ORIGIN`, `$TTL` (RFC 2308 §4), `@`, names relative
//! to the origin, parentheses spanning lines, `;` comments, quoted strings
//! with `\X` and `\DDD` escapes, class `IN` (the only one), owner, TTL and
//! class inherited when omitted (a line starting with blanks keeps the
//! previous owner; TTL and class may come in either order), TTLs with BIND
//! units (`1h30m`). Record types: A, AAAA, NS, CNAME, SOA, PTR, MX, TXT,
//! SRV. An owner whose first label is `*` is a wildcard (RFC 4592), which
//! the authority applies; NS records below the apex are zone cuts, and
//! addresses at or below them glue. `$INCLUDE` and `$GENERATE` are not
//! supported.

use crate::name::{split_labels, Name};
use crate::record::{RData, RType, Record};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A parse or consistency error, with the (1-based) line it was found on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneError {
    /// The 1-based line of the error.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ZoneError {}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ZoneError> {
    Err(ZoneError { line, message: message.into() })
}

/// One zone: its origin (apex), its SOA and its records, by owner name.
#[derive(Debug, Clone)]
pub struct Zone {
    origin: Name,
    /// Owner → records, in canonical order (descendants follow their
    /// ancestor), which makes the empty-non-terminal test one range look-up.
    records: BTreeMap<Name, Vec<Record>>,
    /// The zone cuts: owners of NS records below the apex.
    cuts: BTreeSet<Name>,
}

impl Zone {
    /// An empty zone with only its SOA record (whose owner is the origin).
    pub fn new(soa: Record) -> Result<Zone, String> {
        if soa.rtype() != RType::SOA {
            return Err("a zone starts with its SOA record".into());
        }
        let mut records = BTreeMap::new();
        records.insert(soa.name.clone(), vec![soa.clone()]);
        Ok(Zone { origin: soa.name, records, cuts: BTreeSet::new() })
    }

    /// Parses a master file. The origin comes from `$ORIGIN` (or absolute
    /// names); the zone's apex is the owner of its SOA record.
    pub fn parse(text: &str) -> Result<Zone, ZoneError> {
        Zone::parse_with_origin(text, None)
    }

    /// Parses a master file with an initial origin (as a server's
    /// configuration gives one), which `$ORIGIN` may change.
    pub fn parse_with_origin(text: &str, origin: Option<Name>) -> Result<Zone, ZoneError> {
        let records = parse_master(text, origin)?;
        let mut soas = records.iter().filter(|(_, r)| r.rtype() == RType::SOA);
        let Some((_, soa)) = soas.next() else {
            return err(1, "no SOA record");
        };
        if let Some((line, _)) = soas.next() {
            return err(*line, "a second SOA record");
        }
        let mut zone = Zone::new(soa.clone()).expect("an SOA");
        for (line, r) in records {
            if r.rtype() == RType::SOA {
                continue;
            }
            zone.insert(r).map_err(|message| ZoneError { line, message })?;
        }
        Ok(zone)
    }

    /// Adds a record, refusing one outside the zone, a second SOA, or a
    /// CNAME beside other data (RFC 1034 §3.6.2). An identical record is
    /// kept once. All of one RRset's records have one TTL (RFC 2181
    /// §5.2): the lowest any of them was given, as BIND merges them and
    /// as §5.2 tells a client to read a set whose TTLs differ.
    pub fn insert(&mut self, record: Record) -> Result<(), String> {
        if !record.name.is_in(&self.origin) {
            return Err(format!("{} is outside the zone {}", record.name, self.origin));
        }
        if record.rtype() == RType::SOA {
            return Err("a zone has one SOA record".into());
        }
        let at = self.records.entry(record.name.clone()).or_default();
        let cname = record.rtype() == RType::CNAME;
        if at.iter().any(|r| (r.rtype() == RType::CNAME) != cname || (cname && r.data != record.data)) {
            return Err(format!("{}: a CNAME cannot coexist with other data", record.name));
        }
        let ttl = at.iter().filter(|r| r.rtype() == record.rtype()).map(|r| r.ttl).fold(record.ttl, u32::min);
        for r in at.iter_mut().filter(|r| r.rtype() == record.rtype()) {
            r.ttl = ttl;
        }
        if record.rtype() == RType::NS && record.name != self.origin {
            self.cuts.insert(record.name.clone());
        }
        if !at.iter().any(|r| r.data == record.data) {
            at.push(Record { ttl, ..record });
        }
        Ok(())
    }

    /// The zone's origin (its apex).
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// The zone's SOA record.
    pub fn soa(&self) -> &Record {
        self.records[&self.origin].iter().find(|r| r.rtype() == RType::SOA).expect("a zone has its SOA")
    }

    /// The SOA's MINIMUM field: the TTL of negative answers (RFC 2308 §4).
    pub fn negative_ttl(&self) -> u32 {
        let soa = self.soa();
        match soa.data {
            RData::Soa { minimum, .. } => minimum.min(soa.ttl),
            _ => unreachable!("soa() returns the SOA"),
        }
    }

    /// The records owned by `name`.
    pub fn records_at(&self, name: &Name) -> &[Record] {
        self.records.get(name).map_or(&[], Vec::as_slice)
    }

    /// True if `name` owns records or is an empty non-terminal (a name
    /// with none, but with descendants that have some: RFC 8020 NODATA).
    pub fn name_exists(&self, name: &Name) -> bool {
        self.records.range(name..).next().is_some_and(|(n, _)| n.is_in(name))
    }

    /// The highest zone cut at or above `name` (its ancestors below the
    /// apex, and itself), where a delegation takes over: RFC 1034 §4.3.2
    /// step 3b.
    pub fn cut_above(&self, name: &Name) -> Option<Name> {
        if self.cuts.is_empty() || !name.is_in(&self.origin) {
            return None;
        }
        let labels: Vec<&[u8]> = name.labels().collect();
        // From one label below the apex down to the name itself.
        (self.origin.label_count() + 1..=labels.len()).find_map(|n| {
            let ancestor = Name::from_labels(&labels[labels.len() - n..]).ok()?;
            self.cuts.contains(&ancestor).then_some(ancestor)
        })
    }

    /// Every record, in canonical order of owner.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.records.values().flatten()
    }
}

/// A token of a master file: its text (escapes kept), whether it was
/// quoted.
#[derive(Debug)]
struct Token {
    text: String,
    quoted: bool,
}

/// A logical line: parentheses joined, comments removed.
struct Line {
    number: usize,
    /// Began with a blank: the owner is the previous one.
    blank_owner: bool,
    tokens: Vec<Token>,
}

fn tokenize(text: &str) -> Result<Vec<Line>, ZoneError> {
    let mut lines = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line_no = 1;
    let mut depth = 0usize;
    let mut open_line = 0;
    let mut current: Option<Line> = None;
    let mut at_line_start = true;
    while let Some(c) = chars.next() {
        let cur = current.get_or_insert_with(|| Line {
            number: line_no,
            blank_owner: at_line_start && (c == ' ' || c == '\t'),
            tokens: Vec::new(),
        });
        at_line_start = false;
        match c {
            '\n' => {
                line_no += 1;
                at_line_start = true;
                if depth == 0 {
                    lines.push(current.take().expect("current line"));
                }
            }
            ' ' | '\t' | '\r' => {}
            ';' => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            '(' => {
                if depth == 0 {
                    open_line = line_no;
                }
                depth += 1;
            }
            ')' => {
                if depth == 0 {
                    return err(line_no, "')' without '('");
                }
                depth -= 1;
            }
            '"' => {
                let start = line_no;
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return err(start, "unterminated quoted string"),
                        Some('"') => break,
                        Some('\\') => {
                            s.push('\\');
                            match chars.next() {
                                Some(c) => s.push(c),
                                None => return err(start, "unterminated quoted string"),
                            }
                        }
                        Some(c) => {
                            if c == '\n' {
                                line_no += 1;
                            }
                            s.push(c);
                        }
                    }
                }
                cur.tokens.push(Token { text: s, quoted: true });
            }
            c => {
                let mut s = String::from(c);
                let mut escaped = c == '\\';
                while let Some(&n) = chars.peek() {
                    if !escaped && matches!(n, ' ' | '\t' | '\r' | '\n' | ';' | '(' | ')' | '"') {
                        break;
                    }
                    escaped = !escaped && n == '\\';
                    s.push(n);
                    chars.next();
                }
                cur.tokens.push(Token { text: s, quoted: false });
            }
        }
    }
    if depth > 0 {
        return err(open_line, "'(' without ')'");
    }
    lines.extend(current);
    Ok(lines)
}

/// A TTL: seconds, or BIND units (`1w2d3h4m5s`), at most 2^31 − 1
/// (RFC 2181 §8).
pub fn parse_ttl(s: &str) -> Option<u32> {
    let mut total: u64 = 0;
    let mut num: Option<u64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            num = Some(num.unwrap_or(0).checked_mul(10)?.checked_add(u64::from(d))?);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604800,
            _ => return None,
        };
        total = total.checked_add(num.take()?.checked_mul(unit)?)?;
    }
    if let Some(n) = num {
        total = total.checked_add(n)?;
    } else if s.is_empty() {
        return None;
    }
    u32::try_from(total).ok().filter(|&t| t <= i32::MAX as u32)
}

/// Unescapes a character-string's text (`\X`, `\DDD`).
fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match &b[i + 1..] {
            [x, y, z, ..] if x.is_ascii_digit() && y.is_ascii_digit() && z.is_ascii_digit() => {
                let v = u32::from(x - b'0') * 100 + u32::from(y - b'0') * 10 + u32::from(z - b'0');
                out.push(u8::try_from(v).ok()?);
                i += 4;
            }
            [x, ..] if !x.is_ascii_digit() => {
                out.push(*x);
                i += 2;
            }
            _ => return None,
        }
    }
    Some(out)
}

struct Parser {
    origin: Option<Name>,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    last_owner: Option<Name>,
}

impl Parser {
    /// A name in a master file: `@`, absolute (trailing dot) or relative
    /// to the origin.
    fn name(&self, line: usize, tok: &Token) -> Result<Name, ZoneError> {
        if tok.quoted {
            return err(line, format!("a name cannot be quoted: \"{}\"", tok.text));
        }
        let origin = || match &self.origin {
            Some(o) => Ok(o.clone()),
            None => err(line, format!("relative name {} without $ORIGIN", tok.text)),
        };
        if tok.text == "@" {
            return origin();
        }
        if tok.text == "." {
            return Ok(Name::root());
        }
        let (labels, absolute) =
            split_labels(&tok.text).map_err(|e| ZoneError { line, message: format!("{}: {e}", tok.text) })?;
        let relative =
            Name::from_labels(&labels).map_err(|e| ZoneError { line, message: format!("{}: {e}", tok.text) })?;
        if absolute {
            Ok(relative)
        } else {
            relative.join(&origin()?).map_err(|e| ZoneError { line, message: format!("{}: {e}", tok.text) })
        }
    }

    fn line(&mut self, line: Line) -> Result<Option<Record>, ZoneError> {
        let n = line.number;
        let mut toks = line.tokens.iter().peekable();
        let Some(&first) = toks.peek() else {
            return Ok(None);
        };
        if !first.quoted && first.text.starts_with('$') && !line.blank_owner {
            let directive = first.text.to_ascii_uppercase();
            toks.next();
            let arg = toks.next();
            let res = match (directive.as_str(), arg) {
                ("$ORIGIN", Some(arg)) => {
                    let name = self.name(n, arg)?;
                    if !arg.text.ends_with('.') && self.origin.is_none() {
                        return err(n, "$ORIGIN must be absolute");
                    }
                    self.origin = Some(name);
                    Ok(None)
                }
                ("$TTL", Some(arg)) => {
                    let ttl = parse_ttl(&arg.text)
                        .ok_or_else(|| ZoneError { line: n, message: format!("bad TTL {}", arg.text) })?;
                    self.default_ttl = Some(ttl);
                    Ok(None)
                }
                ("$ORIGIN" | "$TTL", None) => err(n, format!("{directive} needs an argument")),
                _ => err(n, format!("unsupported directive {}", first.text)),
            };
            if let Some(extra) = toks.next() {
                return err(n, format!("unexpected {} after {directive}", extra.text));
            }
            return res;
        }

        let owner = if line.blank_owner {
            match &self.last_owner {
                Some(o) => o.clone(),
                None => return err(n, "no previous owner name to inherit"),
            }
        } else {
            let tok = toks.next().expect("peeked");
            self.name(n, tok)?
        };

        // [ttl] [class] or [class] [ttl], then the type.
        let mut ttl = None;
        let mut class_seen = false;
        let rtype = loop {
            let Some(tok) = toks.next() else {
                return err(n, "missing record type");
            };
            let t = tok.text.as_str();
            if !tok.quoted && ttl.is_none() && t.starts_with(|c: char| c.is_ascii_digit()) {
                ttl = Some(parse_ttl(t).ok_or_else(|| ZoneError { line: n, message: format!("bad TTL {t}") })?);
            } else if !tok.quoted && !class_seen && t.eq_ignore_ascii_case("IN") {
                class_seen = true;
            } else if !tok.quoted
                && !class_seen
                && ["CH", "HS", "CS", "NONE", "ANY"].iter().any(|c| c.eq_ignore_ascii_case(t))
            {
                return err(n, format!("class {t} is not supported (only IN)"));
            } else {
                match RType::from_mnemonic(t).filter(|_| !tok.quoted) {
                    Some(rtype) => break rtype,
                    None => return err(n, format!("unknown record type {t}")),
                }
            }
        };
        let rest: Vec<&Token> = toks.collect();
        let data = self.rdata(n, rtype, &rest)?;
        let ttl = match ttl {
            Some(t) => {
                self.last_ttl = Some(t);
                t
            }
            None => match (self.default_ttl, self.last_ttl, &data) {
                (Some(t), _, _) | (None, Some(t), _) => t,
                (None, None, RData::Soa { minimum, .. }) => *minimum,
                (None, None, _) => return err(n, "no TTL and no $TTL"),
            },
        };
        if let RData::Soa { minimum, .. } = data {
            // RFC 1035: the SOA minimum is the default for later records.
            if self.default_ttl.is_none() && self.last_ttl.is_none() {
                self.last_ttl = Some(minimum);
            }
        }
        self.last_owner = Some(owner.clone());
        Ok(Some(Record::new(owner, ttl, data)))
    }

    fn rdata(&self, n: usize, rtype: RType, toks: &[&Token]) -> Result<RData, ZoneError> {
        let want = |count: usize| -> Result<(), ZoneError> {
            match toks.len().cmp(&count) {
                std::cmp::Ordering::Less => err(n, format!("{rtype} needs {count} fields, got {}", toks.len())),
                std::cmp::Ordering::Greater => err(n, format!("unexpected {} after {rtype} data", toks[count].text)),
                std::cmp::Ordering::Equal => Ok(()),
            }
        };
        let num = |i: usize| -> Result<u16, ZoneError> {
            toks[i].text.parse().map_err(|_| ZoneError { line: n, message: format!("bad number {}", toks[i].text) })
        };
        let ttl_field = |i: usize| -> Result<u32, ZoneError> {
            parse_ttl(&toks[i].text)
                .ok_or_else(|| ZoneError { line: n, message: format!("bad value {}", toks[i].text) })
        };
        Ok(match rtype {
            RType::A => {
                want(1)?;
                RData::A(
                    toks[0]
                        .text
                        .parse::<Ipv4Addr>()
                        .map_err(|_| ZoneError { line: n, message: format!("bad IPv4 address {}", toks[0].text) })?,
                )
            }
            RType::AAAA => {
                want(1)?;
                RData::Aaaa(
                    toks[0]
                        .text
                        .parse::<Ipv6Addr>()
                        .map_err(|_| ZoneError { line: n, message: format!("bad IPv6 address {}", toks[0].text) })?,
                )
            }
            RType::NS => {
                want(1)?;
                RData::Ns(self.name(n, toks[0])?)
            }
            RType::CNAME => {
                want(1)?;
                RData::Cname(self.name(n, toks[0])?)
            }
            RType::PTR => {
                want(1)?;
                RData::Ptr(self.name(n, toks[0])?)
            }
            RType::MX => {
                want(2)?;
                RData::Mx { preference: num(0)?, exchange: self.name(n, toks[1])? }
            }
            RType::SRV => {
                want(4)?;
                RData::Srv { priority: num(0)?, weight: num(1)?, port: num(2)?, target: self.name(n, toks[3])? }
            }
            RType::SOA => {
                want(7)?;
                let serial = toks[2]
                    .text
                    .parse()
                    .map_err(|_| ZoneError { line: n, message: format!("bad serial {}", toks[2].text) })?;
                RData::Soa {
                    mname: self.name(n, toks[0])?,
                    rname: self.name(n, toks[1])?,
                    serial,
                    refresh: ttl_field(3)?,
                    retry: ttl_field(4)?,
                    expire: ttl_field(5)?,
                    minimum: ttl_field(6)?,
                }
            }
            RType::TXT => {
                if toks.is_empty() {
                    return err(n, "TXT needs at least one string");
                }
                let mut strings = Vec::new();
                for t in toks {
                    let s = unescape(&t.text)
                        .ok_or_else(|| ZoneError { line: n, message: format!("bad escape in {}", t.text) })?;
                    if s.len() > 255 {
                        return err(n, "a TXT string is longer than 255 octets");
                    }
                    strings.push(s);
                }
                RData::Txt(strings)
            }
            other => return err(n, format!("record type {other} is not supported in zone files")),
        })
    }
}

/// Parses the records of a master file, each with its line number.
fn parse_master(text: &str, origin: Option<Name>) -> Result<Vec<(usize, Record)>, ZoneError> {
    let mut p = Parser { origin, default_ttl: None, last_ttl: None, last_owner: None };
    let mut out = Vec::new();
    for line in tokenize(text)? {
        let n = line.number;
        if let Some(r) = p.line(line)? {
            out.push((n, r));
        }
    }
    Ok(out)
}
