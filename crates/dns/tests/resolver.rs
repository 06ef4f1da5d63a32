//! The sans-IO resolver driven by hand, with explicit time; real answers
//! come from an `Authority`.

use sockstack_dns::message::{build_query, parse_response};
use sockstack_dns::{
    Authority, Hosts, Name, Outgoing, Protocol, RType, ResolveError, Resolver, ResolverConfig, Source, Transport, Zone,
};
use sockstack_time::{Duration, Instant};
use std::net::{Ipv4Addr, SocketAddrV4};

const S1: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 53), 53);
const S2: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 53), 53);

fn zone_a() -> Zone {
    let mut text = String::from(
        "$ORIGIN example.com.\n$TTL 300\n@ SOA ns h 1 7200 3600 1209600 60\n@ NS ns\nns A 192.0.2.53\n\
         www 120 A 192.0.2.80\nalias CNAME www\nelsewhere CNAME host.example.net.\n",
    );
    for i in 0..40 {
        text.push_str(&format!("big A 10.0.0.{i}\n"));
    }
    Zone::parse(&text).unwrap()
}

fn zone_b() -> Zone {
    Zone::parse("$ORIGIN example.net.\n$TTL 300\n@ SOA ns h 1 2 3 4 30\nhost A 203.0.113.9\n").unwrap()
}

fn authority() -> Authority {
    Authority::new(vec![zone_a(), zone_b()])
}

fn config() -> ResolverConfig {
    ResolverConfig { servers: vec![S1, S2], ..ResolverConfig::default() }
}

fn n(s: &str) -> Name {
    Name::parse(s).unwrap()
}

/// Answers `out` the way the server would, for its transport.
fn serve(a: &Authority, out: &Outgoing) -> Vec<u8> {
    let transport = match out.transport {
        Protocol::Udp => Transport::Udp { max_len: 1232 },
        Protocol::Tcp => Transport::Tcp,
    };
    a.answer(&out.bytes, transport).unwrap()
}

#[test]
fn retries_with_backoff_then_fails_over_to_the_second_server() {
    let a = authority();
    let mut r = Resolver::new(config(), 1);
    let t0 = Instant::from_secs(100);
    let h = r.lookup(t0, "www.example.com", RType::A);
    let first = r.poll_transmit(t0).unwrap();
    assert_eq!(first.server, S1);
    assert!(r.poll_transmit(t0).is_none());
    assert_eq!(r.poll_at(), Some(t0 + Duration::from_secs(1)));
    // First timeout: the same server again, waiting twice as long.
    let t1 = t0 + Duration::from_secs(1);
    r.on_timer(t1);
    let second = r.poll_transmit(t1).unwrap();
    assert_eq!(second.server, S1);
    assert_ne!(parse_id(&first.bytes), parse_id(&second.bytes), "a new ID per try");
    assert_ne!(first.local_port, second.local_port, "a new port per try");
    assert_eq!(r.poll_at(), Some(t1 + Duration::from_secs(2)));
    // Second timeout: failover.
    let t2 = t1 + Duration::from_secs(2);
    r.on_timer(t2);
    let third = r.poll_transmit(t2).unwrap();
    assert_eq!(third.server, S2);
    assert_eq!(r.poll_at(), Some(t2 + Duration::from_secs(1)));
    r.on_response(t2, S2, &serve(&a, &third));
    let ans = r.result(h).unwrap().unwrap();
    assert_eq!(ans.ipv4(), [Ipv4Addr::new(192, 0, 2, 80)]);
    assert_eq!(ans.source, Source::Network);
    assert_eq!(r.stats().timeouts, 2);
    assert_eq!(r.stats().udp_sent, 3);
}

#[test]
fn every_server_silent_is_a_timeout() {
    let mut r = Resolver::new(config(), 2);
    let mut now = Instant::ZERO;
    let h = r.lookup(now, "www.example.com", RType::A);
    let mut sent = 0;
    while r.result(h).is_none() {
        while r.poll_transmit(now).is_some() {
            sent += 1;
        }
        now = r.poll_at().unwrap();
        r.on_timer(now);
    }
    assert_eq!(sent, 4);
    assert_eq!(now, Instant::from_secs(6), "1 + 2 per server");
    let h = r.lookup(now, "www.example.com", RType::A);
    assert!(r.poll_transmit(now).is_some());
    let _ = h;
}

fn parse_id(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[0], bytes[1]])
}

/// Runs a lookup against `a` at `now`, answering every query.
fn resolve(
    r: &mut Resolver,
    a: &Authority,
    now: Instant,
    name: &str,
    rtype: RType,
) -> Result<sockstack_dns::Answer, ResolveError> {
    let h = r.lookup(now, name, rtype);
    loop {
        if let Some(res) = r.result(h) {
            return res;
        }
        let out = r.poll_transmit(now).expect("a query to send");
        r.on_response(now, out.server, &serve(a, &out));
    }
}

#[test]
fn cache_hits_within_ttl_and_misses_after() {
    let a = authority();
    let mut r = Resolver::new(config(), 3);
    let t0 = Instant::from_secs(10);
    let first = resolve(&mut r, &a, t0, "www.example.com", RType::A).unwrap();
    assert_eq!(first.ttl, 120);
    let t1 = t0 + Duration::from_secs(100);
    let h = r.lookup(t1, "www.example.com", RType::A);
    let hit = r.result(h).expect("answered from the cache at once").unwrap();
    assert_eq!(hit.source, Source::Cache);
    assert_eq!(hit.records[0].ttl, 20, "TTL counts down");
    assert!(r.poll_transmit(t1).is_none());
    let t2 = t0 + Duration::from_secs(121);
    let h = r.lookup(t2, "www.example.com", RType::A);
    assert!(r.result(h).is_none());
    assert!(r.poll_transmit(t2).is_some(), "expired: asked again");
}

#[test]
fn negative_answers_are_cached_for_the_soa_minimum() {
    let a = authority();
    let mut r = Resolver::new(config(), 4);
    let t0 = Instant::ZERO;
    assert_eq!(resolve(&mut r, &a, t0, "nope.example.com", RType::A), Err(ResolveError::NxDomain));
    assert_eq!(resolve(&mut r, &a, t0, "www.example.com", RType::AAAA), Err(ResolveError::NoData));
    let t1 = t0 + Duration::from_secs(59);
    let h = r.lookup(t1, "nope.example.com", RType::A);
    assert_eq!(r.result(h), Some(Err(ResolveError::NxDomain)));
    let h = r.lookup(t1, "nope.example.com", RType::MX);
    assert_eq!(r.result(h), Some(Err(ResolveError::NxDomain)), "NXDOMAIN covers every type");
    let h = r.lookup(t1, "www.example.com", RType::AAAA);
    assert_eq!(r.result(h), Some(Err(ResolveError::NoData)));
    assert!(r.poll_transmit(t1).is_none());
    let t2 = t0 + Duration::from_secs(60);
    let h = r.lookup(t2, "nope.example.com", RType::A);
    assert!(r.result(h).is_none());
    assert!(r.poll_transmit(t2).is_some(), "SOA minimum 60 s elapsed");
}

#[test]
fn spoofed_answers_are_rejected_and_counted() {
    let a = authority();
    let mut r = Resolver::new(config(), 5);
    let now = Instant::ZERO;
    let h = r.lookup(now, "www.example.com", RType::A);
    let out = r.poll_transmit(now).unwrap();
    let genuine = serve(&a, &out);
    // Wrong ID.
    let mut wrong_id = genuine.clone();
    wrong_id[0] ^= 0x55;
    r.on_response(now, S1, &wrong_id);
    // Right ID, wrong source.
    r.on_response(now, SocketAddrV4::new(Ipv4Addr::new(6, 6, 6, 6), 53), &genuine);
    r.on_response(now, SocketAddrV4::new(*S1.ip(), 5353), &genuine);
    // Right ID and source, another question.
    let other =
        a.answer(&build_query(parse_id(&out.bytes), &n("ns.example.com"), RType::A, None), Transport::Tcp).unwrap();
    r.on_response(now, S1, &other);
    // Garbage.
    r.on_response(now, S1, b"\x00\x01garbage");
    assert!(r.result(h).is_none(), "nothing accepted");
    let s = r.stats().clone();
    assert_eq!((s.rejected_id, s.rejected_server, s.rejected_question, s.rejected_malformed), (1, 2, 1, 1));
    assert_eq!(s.rejected(), 4);
    r.on_response(now, S1, &genuine);
    assert_eq!(r.result(h).unwrap().unwrap().ipv4(), [Ipv4Addr::new(192, 0, 2, 80)]);
    // A late duplicate matches nothing any more.
    r.on_response(now, S1, &genuine);
    assert_eq!(r.stats().rejected_id, 2);
}

#[test]
fn cname_chains_are_followed_across_queries() {
    let a = authority();
    let mut r = Resolver::new(config(), 6);
    let now = Instant::ZERO;
    let h = r.lookup(now, "elsewhere.example.com", RType::A);
    let q1 = r.poll_transmit(now).unwrap();
    let resp1 = parse_response(&serve(&a, &q1)).unwrap();
    assert_eq!(resp1.answer.len(), 1, "the server gives the CNAME only");
    r.on_response(now, q1.server, &serve(&a, &q1));
    let q2 = r.poll_transmit(now).expect("a second query for the target");
    assert_eq!(
        parse_response(&a.answer(&q2.bytes, Transport::Tcp).unwrap()).unwrap().question.unwrap().0,
        n("host.example.net")
    );
    r.on_response(now, q2.server, &serve(&a, &q2));
    let ans = r.result(h).unwrap().unwrap();
    assert_eq!(ans.name, n("elsewhere.example.com"));
    assert_eq!(ans.canonical_name, n("host.example.net"));
    assert_eq!(ans.cnames.len(), 1);
    assert_eq!(ans.ipv4(), [Ipv4Addr::new(203, 0, 113, 9)]);
    // The whole chain is cached under the first name.
    let h = r.lookup(now, "elsewhere.example.com", RType::A);
    let cached = r.result(h).unwrap().unwrap();
    assert_eq!(cached.source, Source::Cache);
    assert_eq!(cached.canonical_name, n("host.example.net"));
    // Within one response (in-zone chain).
    let ans = resolve(&mut r, &a, now, "alias.example.com", RType::A).unwrap();
    assert_eq!(ans.canonical_name, n("www.example.com"));
    assert_eq!(ans.cnames.len(), 1);
}

#[test]
fn search_domains_follow_ndots() {
    let a = authority();
    let cfg = ResolverConfig { search: vec![n("example.net"), n("example.com")], ..config() };
    let mut r = Resolver::new(cfg, 7);
    let now = Instant::ZERO;
    // No dot (< ndots 1): search list first; www.example.net is NXDOMAIN.
    let h = r.lookup(now, "www", RType::A);
    let mut asked = Vec::new();
    while r.result(h).is_none() {
        let out = r.poll_transmit(now).unwrap();
        asked.push(parse_response(&a.answer(&out.bytes, Transport::Tcp).unwrap()).unwrap().question.unwrap().0);
        r.on_response(now, out.server, &serve(&a, &out));
    }
    assert_eq!(asked, [n("www.example.net"), n("www.example.com")]);
    // One dot (>= ndots): as is first ("host.example" does not exist,
    // refused by the server: it has no such zone → next server → error),
    // so use a name that exists as is.
    let ans = resolve(&mut r, &a, now, "host.example.net", RType::A).unwrap();
    assert_eq!(ans.name, n("host.example.net"));
    // Trailing dot: as is only.
    assert_eq!(resolve(&mut r, &a, now, "nothing.example.com.", RType::A), Err(ResolveError::NxDomain));
    let h = r.lookup(now, "www.", RType::A);
    assert!(r.result(h).is_none());
    let out = r.poll_transmit(now).unwrap();
    assert_eq!(parse_response(&a.answer(&out.bytes, Transport::Tcp).unwrap()).unwrap().question.unwrap().0, n("www"));
}

#[test]
fn the_hosts_table_comes_first() {
    let cfg = ResolverConfig { hosts: Hosts::parse("10.9.9.9 www.example.com www\n"), ..config() };
    let mut r = Resolver::new(cfg, 8);
    let h = r.lookup(Instant::ZERO, "www.example.com", RType::A);
    let ans = r.result(h).unwrap().unwrap();
    assert_eq!(ans.source, Source::Hosts);
    assert_eq!(ans.ipv4(), [Ipv4Addr::new(10, 9, 9, 9)]);
    assert!(r.poll_transmit(Instant::ZERO).is_none(), "no query sent");
    assert_eq!(r.stats().hosts_hits, 1);
}

#[test]
fn a_truncated_udp_answer_is_retried_over_tcp() {
    let a = authority();
    let mut r = Resolver::new(ResolverConfig { edns_udp_size: None, ..config() }, 9);
    let now = Instant::ZERO;
    let h = r.lookup(now, "big.example.com", RType::A);
    let udp = r.poll_transmit(now).unwrap();
    assert_eq!(udp.transport, Protocol::Udp);
    let tc = serve(&a, &udp);
    assert!(parse_response(&tc).unwrap().truncated);
    r.on_response(now, S1, &tc);
    assert!(r.result(h).is_none());
    let tcp = r.poll_transmit(now).unwrap();
    assert_eq!(tcp.transport, Protocol::Tcp);
    assert_eq!(tcp.server, S1);
    r.on_response(now, S1, &serve(&a, &tcp));
    assert_eq!(r.result(h).unwrap().unwrap().ipv4().len(), 40);
    assert_eq!(r.stats().truncated, 1);
    assert_eq!(r.stats().tcp_sent, 1);
}

#[test]
fn refused_moves_to_the_next_server_then_fails() {
    let a = authority();
    let mut r = Resolver::new(config(), 10);
    let res = resolve(&mut r, &a, Instant::ZERO, "www.example.org", RType::A);
    assert_eq!(res, Err(ResolveError::ServerError(5)));
    assert_eq!(r.stats().udp_sent, 2);
}

/// RFC 2308 §2.2: a response with NS records and no SOA beside no answer
/// is a referral, not NODATA. A server that refers (authoritative for a
/// parent zone only) does not recurse: the next server is asked, and
/// nothing is cached negative. Every server referring fails the lookup
/// as such.
#[test]
fn a_referral_asks_the_next_server() {
    let parent = Authority::new(vec![Zone::parse(
        "$ORIGIN example.com.\n$TTL 300\n@ SOA ns h 1 2 3 4 60\n@ NS ns\nns A 192.0.2.53\n\
         sub NS ns.sub\nns.sub A 192.0.2.54\n",
    )
    .unwrap()]);
    let child = Authority::new(vec![Zone::parse(
        "$ORIGIN sub.example.com.\n$TTL 300\n@ SOA ns h 1 2 3 4 60\n@ NS ns\nns A 192.0.2.54\nwww A 192.0.2.99\n",
    )
    .unwrap()]);
    let mut r = Resolver::new(config(), 9);
    let now = Instant::from_secs(1);
    let h = r.lookup(now, "www.sub.example.com", RType::A);
    let first = r.poll_transmit(now).unwrap();
    assert_eq!(first.server, S1);
    r.on_response(now, S1, &serve(&parent, &first));
    assert!(r.result(h).is_none(), "a referral is no answer");
    assert_eq!(r.stats().referrals, 1);
    let second = r.poll_transmit(now).unwrap();
    assert_eq!(second.server, S2);
    r.on_response(now, S2, &serve(&child, &second));
    assert_eq!(r.result(h).unwrap().unwrap().ipv4(), [Ipv4Addr::new(192, 0, 2, 99)]);
    // Both servers refer: the lookup fails as a referral, not NODATA.
    assert_eq!(resolve(&mut r, &parent, now, "other.sub.example.com.", RType::A), Err(ResolveError::Referral));
}
