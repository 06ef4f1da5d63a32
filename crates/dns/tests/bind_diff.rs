//! Differential test of the authoritative server against BIND 9: random
//! zones (wildcards, zone cuts with glue, CNAME chains in and out of the
//! zone, empty non-terminals, names below cuts) are served by both, one
//! `named` on loopback with all of them loaded, and random questions must
//! get the same RCODE, AA bit and sections (as sets of records, TTLs
//! included) from both.
//!
//! BIND runs with `minimal-responses no-auth` (no NS records in the
//! authority section of positive answers, as sockstack sends none) and
//! `recursion no`. Questions go over TCP, and one in three over UDP,
//! without EDNS, so that some answers (some zones have large RRsets) are
//! truncated or shed additional data (RFC 2181 §9).
//! The zones give all records of one RRset the same TTL: for a set whose
//! TTLs differ (against RFC 2181 §5.2) sockstack serves the lowest, as
//! §5.2 tells clients to read it, where BIND keeps the first of a run of
//! lines and else the last one loaded (`zone.rs` has its own test).
//!
//! `DNS_DIFF_ZONES` (default 40) zones of `DNS_DIFF_QUERIES` (default 40)
//! questions each, from seed `DNS_DIFF_SEED` (default 1). Without `named`
//! (Debian: bind9) the test is skipped, unless SOCKSTACK_REQUIRE_NETNS is
//! set (as CI sets it): then it fails. `DNS_DIFF_OUT=file` writes every
//! difference there.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sockstack_dns::message::{build_query, parse_response, Response};
use sockstack_dns::{Authority, Name, RType, Record, Transport, Zone};
use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn var(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Labels the generator builds names from: `*` makes wildcards (and, in
/// the middle of a name, wildcards that are empty non-terminals).
const LABELS: [&str; 6] = ["a", "b", "www", "mail", "*", "c"];
/// Labels questions also use: two no zone has, and the owners of the
/// large RRsets some zones have (see `random_zone`).
const ABSENT: [&str; 4] = ["zz", "nope", "bulk", "mxs"];

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.next_u32() as usize % items.len()]
}

/// A relative name of 1 to `max` labels (`@` is the apex).
fn relative(rng: &mut ChaCha8Rng, labels: &[&str], max: u32) -> String {
    let n = 1 + rng.next_u32() % max;
    (0..n).map(|_| *pick(rng, labels)).collect::<Vec<_>>().join(".")
}

/// One random zone's master file, and the relative names it owns.
fn random_zone(rng: &mut ChaCha8Rng, origin: &str) -> String {
    let minimum = 30 + rng.next_u32() % 600;
    let mut lines = vec![
        format!("$ORIGIN {origin}."),
        "$TTL 300".to_string(),
        format!("@ 3600 SOA ns hostmaster 1 7200 3600 1209600 {minimum}"),
        "@ NS ns".to_string(),
        "ns A 192.0.2.53".to_string(),
    ];
    // Owner → the types it has, so that no CNAME meets other data (RFC
    // 1034 §3.6.2; both servers refuse such a zone).
    let mut types: std::collections::HashMap<String, Vec<&str>> = Default::default();
    types.insert("@".into(), vec!["SOA", "NS"]);
    types.insert("ns".into(), vec!["A"]);
    // One TTL an RRset (see the module docs).
    let mut ttls: std::collections::HashMap<(String, &str), u32> = Default::default();
    let records = 4 + rng.next_u32() % 20;
    for i in 0..records {
        let owner = if rng.next_u32() % 8 == 0 { "@".to_string() } else { relative(rng, &LABELS, 3) };
        let target = |rng: &mut ChaCha8Rng| -> String {
            match rng.next_u32() % 5 {
                0 => "x.elsewhere.test.".to_string(),
                1 => "@".to_string(),
                _ => relative(rng, &LABELS[..4], 2),
            }
        };
        let kind = *pick(rng, &["A", "A", "AAAA", "TXT", "MX", "CNAME", "CNAME", "NS"]);
        let rdata = match kind {
            "A" => format!("192.0.2.{}", 1 + rng.next_u32() % 250),
            "AAAA" => format!("2001:db8::{:x}", 1 + rng.next_u32() % 250),
            "TXT" => format!("\"t{i}\""),
            "MX" => format!("{} {}", rng.next_u32() % 50, target(rng)),
            "CNAME" => target(rng),
            _ => {
                // A delegation: never at the apex or at a wildcard (RFC
                // 4592 §4.2); its server below the cut, with glue, or
                // elsewhere.
                if owner == "@" || owner.starts_with('*') {
                    continue;
                }
                if rng.next_u32() % 2 == 0 {
                    let ns = format!("ns.{owner}");
                    lines.push(format!("{ns} A 192.0.2.{}", 1 + rng.next_u32() % 250));
                    types.entry(ns.clone()).or_default().push("A");
                    ns
                } else {
                    target(rng)
                }
            }
        };
        let at = types.entry(owner.clone()).or_default();
        let clash = if kind == "CNAME" { !at.is_empty() } else { at.contains(&"CNAME") };
        if clash {
            continue;
        }
        at.push(kind);
        let fresh = 60 + rng.next_u32() % 600;
        let ttl = *ttls.entry((owner.clone(), kind)).or_insert(fresh);
        lines.push(format!("{owner} {ttl} {kind} {rdata}"));
    }
    // Some zones have answers too large for a UDP response of 512 octets
    // (`bulk`: many addresses) or whose additional data is (`mxs`: many
    // exchanges, each with addresses).
    if rng.next_u32() % 3 == 0 {
        for k in 0..15 + rng.next_u32() % 30 {
            lines.push(format!("bulk 120 A 198.51.100.{}", k + 1));
        }
    }
    if rng.next_u32() % 3 == 0 {
        for k in 0..6 + rng.next_u32() % 10 {
            lines.push(format!("mxs 120 MX {k} mx{k}"));
            for j in 0..1 + rng.next_u32() % 3 {
                lines.push(format!("mx{k} 120 A 203.0.113.{}", 10 * k + j + 1));
            }
        }
    }
    lines.join("\n") + "\n"
}

/// A record as compared: owner in lower case, type, TTL and data.
fn key(r: &Record) -> String {
    format!("{} {} {:?} {:?}", r.name.to_lowercase(), r.ttl, r.rtype(), r.data).to_lowercase()
}

fn section(records: &[Record]) -> Vec<String> {
    let mut v: Vec<String> = records.iter().map(key).collect();
    v.sort();
    v.dedup();
    v
}

/// What is compared of a response: all of it, but of a truncated one
/// (which sends the client to TCP) only its header: which records a
/// server leaves in one is its own choice.
fn digest(r: &Response) -> String {
    let header = format!("rcode {} aa {} tc {}", r.rcode, r.authoritative, r.truncated);
    if r.truncated {
        return header;
    }
    format!(
        "{header}\n  answer {:#?}\n  authority {:#?}\n  additional {:#?}",
        section(&r.answer),
        section(&r.authority),
        section(&r.additional)
    )
}

/// `named`, serving the zone files in `dir`, on a loopback port; killed
/// when dropped. Questions go over one TCP connection (RFC 7766 §6.2.1),
/// made again if `named` closes it.
struct Named {
    child: Child,
    addr: SocketAddr,
    conn: RefCell<Option<TcpStream>>,
}

impl Drop for Named {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `named` binary: on the PATH, or where Debian puts it (/usr/sbin
/// is not on every user's PATH).
fn named_binary() -> Option<&'static str> {
    ["named", "/usr/sbin/named"].into_iter().find(|b| Command::new(b).arg("-v").output().is_ok())
}

/// A loopback port free for both TCP and UDP, below the ephemeral range
/// (where this test's own connections leave TIME-WAITs behind).
fn free_port(rng: &mut ChaCha8Rng) -> u16 {
    loop {
        let port = 20_000 + (rng.next_u32() % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn start_named(named: &str, dir: &Path, zones: &[String]) -> Named {
    // Ports drawn apart from the seed's questions, which stay the same.
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(std::process::id()));
    // The port may still be taken between the check and named's bind: then
    // named does not come up, and another port is tried.
    for _ in 0..5 {
        if let Some(n) = try_start_named(named, dir, zones, free_port(&mut rng)) {
            return n;
        }
    }
    let log = std::fs::read_to_string(dir.join("named.log")).unwrap_or_default();
    panic!("named did not come up:\n{log}");
}

fn try_start_named(named: &str, dir: &Path, zones: &[String], port: u16) -> Option<Named> {
    let mut conf = format!(
        "options {{
    directory \"{d}\";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    minimal-responses no-auth;
    pid-file none;
    session-keyfile none;
    managed-keys-directory \"{d}\";
    check-names primary ignore;
    check-integrity no;
    dnssec-validation no;
    notify no;
}};
controls {{ }};
",
        d = dir.display()
    );
    for z in zones {
        conf += &format!("zone \"{z}\" {{ type primary; file \"{}\"; }};\n", dir.join(format!("{z}.zone")).display());
    }
    std::fs::write(dir.join("named.conf"), conf).unwrap();
    let log = std::fs::File::create(dir.join("named.log")).unwrap();
    let child = Command::new(named)
        .args(["-g", "-c"])
        .arg(dir.join("named.conf"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("named runs");
    let named = Named { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), conn: RefCell::new(None) };
    // Up once it answers for the last zone.
    let deadline = Instant::now() + Duration::from_secs(30);
    let probe = Name::parse(zones.last().unwrap()).unwrap();
    while ask_named(&named, &build_query(1, &probe, RType::SOA, None)).is_none_or(|r| r.answer.is_empty()) {
        let log = std::fs::read_to_string(dir.join("named.log")).unwrap_or_default();
        if Instant::now() > deadline || log.contains("address in use") {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(named)
}

/// One question to `named` over UDP (no EDNS: answers of at most 512
/// octets).
fn ask_named_udp(named: &Named, query: &[u8]) -> Option<Response> {
    let s = UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.send_to(query, named.addr).ok()?;
    let mut buf = [0u8; 65535];
    let n = s.recv(&mut buf).ok()?;
    parse_response(&buf[..n])
}

/// One question to `named` over TCP (RFC 7766 framing), on the open
/// connection, or on a new one if that fails.
fn ask_named(named: &Named, query: &[u8]) -> Option<Response> {
    let exchange = |s: &mut TcpStream| -> std::io::Result<Vec<u8>> {
        let mut framed = (query.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(query);
        s.write_all(&framed)?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len)?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut body)?;
        Ok(body)
    };
    let mut conn = named.conn.borrow_mut();
    if let Some(body) = conn.as_mut().and_then(|s| exchange(s).ok()) {
        return parse_response(&body);
    }
    let mut s = TcpStream::connect_timeout(&named.addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let body = exchange(&mut s).ok()?;
    *conn = Some(s);
    parse_response(&body)
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sockstack-bind-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn answers_as_bind_does() {
    let Some(binary) = named_binary() else {
        assert!(std::env::var_os("SOCKSTACK_REQUIRE_NETNS").is_none(), "named (Debian: bind9) is not installed");
        eprintln!("skipped: named (Debian: bind9) is not installed");
        return;
    };
    let seed = var("DNS_DIFF_SEED", 1);
    let (zone_count, queries) = (var("DNS_DIFF_ZONES", 40), var("DNS_DIFF_QUERIES", 40));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dir = scratch();
    let mut origins = Vec::new();
    let mut texts = Vec::new();
    let mut ours = Authority::default();
    for i in 0..zone_count {
        let origin = format!("z{i}.test");
        let text = random_zone(&mut rng, &origin);
        std::fs::write(dir.join(format!("{origin}.zone")), &text).unwrap();
        ours.add_zone(Zone::parse(&text).unwrap_or_else(|e| panic!("zone {origin}: {e}\n{text}")));
        origins.push(origin);
        texts.push(text);
    }
    let named = start_named(binary, &dir, &origins);
    let types =
        [RType::A, RType::AAAA, RType::TXT, RType::MX, RType::NS, RType::CNAME, RType::SOA, RType::ANY, RType::DS];
    let mut labels: Vec<&str> = LABELS.to_vec();
    labels.extend(ABSENT);
    let mut failures = Vec::new();
    for (origin, text) in origins.iter().zip(&texts) {
        for _ in 0..queries {
            let qname = match rng.next_u32() % 6 {
                0 => origin.clone(),
                _ => format!("{}.{origin}", relative(&mut rng, &labels, 4)),
            };
            let qtype = *pick(&mut rng, &types);
            let query = build_query(7, &Name::parse(&qname).unwrap(), qtype, None);
            // One question in three over UDP, where 512 octets is the limit.
            let udp = rng.next_u32() % 3 == 0;
            let (theirs, transport) = if udp {
                (ask_named_udp(&named, &query), Transport::Udp { max_len: 1232 })
            } else {
                (ask_named(&named, &query), Transport::Tcp)
            };
            let theirs = theirs.unwrap_or_else(|| panic!("named gave no answer to {qname}"));
            let mine = parse_response(&ours.answer(&query, transport).expect("an answer")).expect("a response");
            let (a, b) = (digest(&mine), digest(&theirs));
            if a != b {
                let over = if udp { "UDP" } else { "TCP" };
                failures.push(format!("{qname} {qtype:?} over {over}\nsockstack: {a}\nbind: {b}\nzone:\n{text}"));
            }
        }
    }
    drop(named);
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(path) = std::env::var_os("DNS_DIFF_OUT") {
        std::fs::write(path, failures.join("\n\n")).unwrap();
    }
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {} answers differ; the first:\n{}",
        failures.len(),
        zone_count * queries,
        failures[0]
    );
}
