//! The zone-file parser and the authoritative server's answers, bytes in,
//! bytes out.

use domain::base::iana::Rcode;
use proptest::prelude::*;
use sockstack_dns::message::{build_query, parse_response};
use sockstack_dns::{Authority, Name, RData, RType, Transport, Zone};
use std::net::{Ipv4Addr, Ipv6Addr};

const ZONE: &str = r#"
; example.com, as an operator would write it
$ORIGIN example.com.
$TTL 1h
@   IN  SOA ns1 hostmaster.example.com. (
            2024010101 ; serial
            7200       ; refresh
            3600       ; retry
            1209600    ; expire
            300 )      ; minimum
        IN  NS      ns1
        IN  NS      ns2.example.net.
        IN  MX      10 mail
        IN  A       192.0.2.1
ns1     IN  A       192.0.2.53
mail    600 IN A    192.0.2.25
        IN  AAAA    2001:db8::25
www     IN  CNAME   web
web     IN  A       192.0.2.80
alias   CNAME       www.example.com.
outside CNAME       www.example.org.
_sip._tcp IN SRV    10 60 5060 sip
sip     IN  A       192.0.2.60
text    IN  TXT     "hello world" "second \"string\"" unquoted
a.b.deep IN A       192.0.2.99
2.0.192.in-addr.arpa. IN PTR web   ; absolute owner
"#;

fn zone() -> Zone {
    // The PTR at an absolute owner outside the origin makes the full
    // zone fail; the realistic zone is everything but that line.
    Zone::parse(&ZONE.replace("2.0.192.in-addr.arpa. IN PTR web   ; absolute owner\n", "")).unwrap()
}

fn n(s: &str) -> Name {
    Name::parse(s).unwrap()
}

#[test]
fn zone_file_parses_every_construct() {
    let z = zone();
    assert_eq!(*z.origin(), n("example.com"));
    let RData::Soa { mname, rname, serial, refresh, retry, expire, minimum } = &z.soa().data else { panic!() };
    assert_eq!((mname, rname), (&n("ns1.example.com"), &n("hostmaster.example.com")));
    assert_eq!((*serial, *refresh, *retry, *expire, *minimum), (2024010101, 7200, 3600, 1209600, 300));
    assert_eq!(z.soa().ttl, 3600, "$TTL 1h");
    let apex = z.records_at(&n("example.com"));
    assert!(apex.iter().any(|r| r.data == RData::Ns(n("ns1.example.com"))), "owner inherited, name relative");
    assert!(apex.iter().any(|r| r.data == RData::Ns(n("ns2.example.net"))), "absolute name");
    assert!(apex.iter().any(|r| r.data == RData::Mx { preference: 10, exchange: n("mail.example.com") }));
    let mail = z.records_at(&n("MAIL.example.com"));
    assert_eq!(mail.len(), 2);
    assert_eq!(mail[0].ttl, 600);
    assert_eq!(mail[1].data, RData::Aaaa("2001:db8::25".parse::<Ipv6Addr>().unwrap()));
    assert_eq!(mail[1].ttl, 3600, "$TTL applies when the TTL is omitted");
    assert_eq!(z.records_at(&n("www.example.com"))[0].data, RData::Cname(n("web.example.com")));
    assert_eq!(
        z.records_at(&n("_sip._tcp.example.com"))[0].data,
        RData::Srv { priority: 10, weight: 60, port: 5060, target: n("sip.example.com") }
    );
    assert_eq!(
        z.records_at(&n("text.example.com"))[0].data,
        RData::Txt(vec![b"hello world".to_vec(), b"second \"string\"".to_vec(), b"unquoted".to_vec()])
    );
    assert!(z.name_exists(&n("b.deep.example.com")), "empty non-terminal");
    assert!(!z.name_exists(&n("nope.example.com")));
}

#[test]
fn zone_file_errors_name_their_line() {
    let e = Zone::parse(ZONE).unwrap_err();
    assert_eq!(e.line, 26, "{e}");
    assert!(e.message.contains("outside the zone"), "{e}");

    let cases = [
        ("$ORIGIN example.com.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\nwww A 300.1.1.1\n", 4, "bad IPv4"),
        ("$ORIGIN example.com.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n\nwww IN BOGUS x\n", 5, "unknown record type"),
        ("$ORIGIN example.com.\n@ 60 SOA ns h (\n 1 2 3\n 4 5\n", 2, "'(' without ')'"),
        ("$ORIGIN example.com.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\nx CH A 192.0.2.1\n", 4, "only IN"),
        ("$TTL 60\nwww A 192.0.2.1\n", 2, "without $ORIGIN"),
        ("$ORIGIN example.com.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\nx MX 10\n", 4, "MX needs 2"),
        ("$ORIGIN example.com.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\nx TXT \"open\n", 4, "unterminated"),
        ("$ORIGIN example.com.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\nx CNAME a\nx A 192.0.2.1\n", 5, "CNAME"),
        ("$ORIGIN example.com.\n$INCLUDE other\n", 2, "unsupported directive"),
        ("$ORIGIN example.com.\nwww 60 A 192.0.2.1\n", 1, "no SOA"),
    ];
    for (text, line, what) in cases {
        let e = Zone::parse(text).unwrap_err();
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.message.contains(what), "{text:?}: {e}");
    }
}

fn authority() -> Authority {
    Authority::new(vec![zone()])
}

const UDP: Transport = Transport::Udp { max_len: 1232 };

fn ask(a: &Authority, name: &str, rtype: RType) -> sockstack_dns::message::Response {
    let q = build_query(0x1234, &n(name), rtype, None);
    let r = parse_response(&a.answer(&q, UDP).expect("an answer")).expect("a response");
    assert_eq!(r.id, 0x1234);
    r
}

#[test]
fn answers_a_with_authority() {
    let r = ask(&authority(), "Web.Example.COM", RType::A);
    assert_eq!(r.rcode, Rcode::NOERROR);
    assert!(r.authoritative);
    assert_eq!(r.question.as_ref().unwrap().0, n("web.example.com"));
    assert_eq!(r.answer.len(), 1);
    assert_eq!(r.answer[0].data, RData::A(Ipv4Addr::new(192, 0, 2, 80)));
    assert!(r.authority.is_empty());
}

#[test]
fn chases_cname_chains_within_the_zone() {
    let r = ask(&authority(), "alias.example.com", RType::A);
    assert_eq!(r.rcode, Rcode::NOERROR);
    let types: Vec<RType> = r.answer.iter().map(|r| r.rtype()).collect();
    assert_eq!(types, [RType::CNAME, RType::CNAME, RType::A]);
    assert_eq!(r.answer[2].name, n("web.example.com"));
    // Out of the zone: the CNAME alone.
    let r = ask(&authority(), "outside.example.com", RType::A);
    assert_eq!(r.answer.len(), 1);
    assert_eq!(r.answer[0].data, RData::Cname(n("www.example.org")));
    assert!(r.authority.is_empty());
}

#[test]
fn nxdomain_and_nodata_carry_the_soa() {
    let a = authority();
    let r = ask(&a, "missing.example.com", RType::A);
    assert_eq!(r.rcode, Rcode::NXDOMAIN);
    assert!(r.authoritative);
    assert!(r.answer.is_empty());
    assert_eq!(r.authority.len(), 1);
    assert_eq!(r.authority[0].rtype(), RType::SOA);
    assert_eq!(r.authority[0].ttl, 300, "min(SOA TTL, MINIMUM)");

    let r = ask(&a, "web.example.com", RType::AAAA);
    assert_eq!(r.rcode, Rcode::NOERROR);
    assert!(r.answer.is_empty());
    assert_eq!(r.authority[0].rtype(), RType::SOA);

    let r = ask(&a, "deep.example.com", RType::A);
    assert_eq!(r.rcode, Rcode::NOERROR, "empty non-terminal is NODATA");
    assert_eq!(r.authority[0].rtype(), RType::SOA);
}

#[test]
fn refuses_names_outside_its_zones() {
    let r = ask(&authority(), "www.example.org", RType::A);
    assert_eq!(r.rcode, Rcode::REFUSED);
    assert!(!r.authoritative);
    assert!(r.answer.is_empty() && r.authority.is_empty());
}

#[test]
fn mx_brings_addresses_in_additional() {
    let r = ask(&authority(), "example.com", RType::MX);
    assert_eq!(r.answer.len(), 1);
    assert_eq!(r.additional.len(), 2, "{:?}", r.additional);
}

/// A zone with wildcards and a delegation, for the tests below.
const CUTS: &str = r#"
$ORIGIN example.net.
$TTL 300
@       SOA ns hostmaster 1 7200 3600 1209600 60
        NS  ns
ns      A   192.0.2.53
*.w     A   192.0.2.7
        MX  10 mx.w
x.w     TXT "here"
*.v     CNAME target
target  A   192.0.2.8
sub     NS  ns.sub
        NS  ns.example.org.
        A   192.0.2.99
ns.sub  A   192.0.2.54
www.sub A   192.0.2.55
mx      MX  5 www.sub
loop    CNAME loop2
loop2   CNAME loop
"#;

fn cuts() -> Authority {
    Authority::new(vec![Zone::parse(CUTS).unwrap()])
}

/// RFC 4592: a name that does not exist is answered from the wildcard
/// below its closest encloser, under the asked name; a name that exists
/// is not; a wildcard without the type asked is NODATA, and its CNAME is
/// chased. Additional data is looked up the same way.
#[test]
fn wildcards_answer_for_names_that_do_not_exist() {
    let a = cuts();
    let r = ask(&a, "foo.w.example.net", RType::A);
    assert_eq!((r.rcode, r.authoritative), (Rcode::NOERROR, true));
    assert_eq!(r.answer.len(), 1);
    assert_eq!(r.answer[0].name, n("foo.w.example.net"), "synthesized under the asked name");
    assert_eq!(r.answer[0].data, RData::A(Ipv4Addr::new(192, 0, 2, 7)));
    // Two labels down: the closest encloser is still w.
    assert_eq!(ask(&a, "a.b.w.example.net", RType::A).answer.len(), 1);
    // x.w exists: no wildcard for it, NODATA.
    let r = ask(&a, "x.w.example.net", RType::A);
    assert_eq!(r.rcode, Rcode::NOERROR);
    assert!(r.answer.is_empty());
    assert_eq!(r.authority[0].rtype(), RType::SOA);
    // The wildcard has no TXT: NODATA, not NXDOMAIN.
    let r = ask(&a, "foo.w.example.net", RType::TXT);
    assert_eq!(r.rcode, Rcode::NOERROR);
    assert!(r.answer.is_empty());
    // Its MX's target is itself a wildcard match: its address comes along.
    let r = ask(&a, "foo.w.example.net", RType::MX);
    assert_eq!(r.additional.len(), 1);
    assert_eq!(r.additional[0].name, n("mx.w.example.net"));
    // A wildcard CNAME is chased.
    let r = ask(&a, "any.v.example.net", RType::A);
    let types: Vec<RType> = r.answer.iter().map(|r| r.rtype()).collect();
    assert_eq!(types, [RType::CNAME, RType::A]);
    assert_eq!(r.answer[0].name, n("any.v.example.net"));
    // No wildcard below the apex: NXDOMAIN.
    assert_eq!(ask(&a, "none.example.net", RType::A).rcode, Rcode::NXDOMAIN);
}

/// RFC 1034 §4.3.2 step 3b: names at and below a zone cut get a referral
/// (no AA, the cut's NS records, the glue); data below the cut is never
/// an answer (nor additional data); DS at the cut is the parent's.
#[test]
fn names_below_a_zone_cut_get_a_referral() {
    let a = cuts();
    for (name, rtype) in
        [("www.sub.example.net", RType::A), ("sub.example.net", RType::A), ("sub.example.net", RType::NS)]
    {
        let r = ask(&a, name, rtype);
        assert_eq!((r.rcode, r.authoritative), (Rcode::NOERROR, false), "{name}");
        assert!(r.answer.is_empty(), "{name}: occluded data is no answer");
        assert_eq!(r.authority.len(), 2, "{name}");
        assert!(r.authority.iter().all(|r| r.rtype() == RType::NS && r.name == n("sub.example.net")));
        assert_eq!(r.additional.len(), 1, "{name}: the glue");
        assert_eq!(r.additional[0].data, RData::A(Ipv4Addr::new(192, 0, 2, 54)));
    }
    let r = ask(&a, "sub.example.net", RType::DS);
    assert_eq!((r.rcode, r.authoritative), (Rcode::NOERROR, true), "DS at the cut: the parent's NODATA");
    assert_eq!(r.authority[0].rtype(), RType::SOA);
    // An MX whose target lies below the cut: the answer, without the glue.
    let r = ask(&a, "mx.example.net", RType::MX);
    assert_eq!(r.answer.len(), 1);
    assert!(r.additional.is_empty(), "{:?}", r.additional);
}

/// A CNAME loop is a server failure, with the chain up to the loop (as
/// BIND answers); NXDOMAIN to an SOA question carries the SOA with TTL 0.
#[test]
fn cname_loops_fail_and_soa_nxdomain_has_ttl_zero() {
    let a = cuts();
    let r = ask(&a, "loop.example.net", RType::A);
    assert_eq!(r.rcode, Rcode::SERVFAIL);
    assert_eq!(r.answer.len(), 2);
    let r = ask(&a, "none.example.net", RType::SOA);
    assert_eq!(r.rcode, Rcode::NXDOMAIN);
    assert_eq!(r.authority[0].ttl, 0);
    assert_eq!(ask(&a, "none.example.net", RType::A).authority[0].ttl, 60);
}

/// RFC 2181 §5.2: one RRset, one TTL, the lowest it was given.
#[test]
fn an_rrset_gets_one_ttl_the_lowest() {
    let z = Zone::parse(
        "$ORIGIN t.
@ 60 SOA ns h 1 2 3 4 5
a 300 A 192.0.2.1
b 1 A 192.0.2.9
a 100 A 192.0.2.2
a 900 TXT x
",
    )
    .unwrap();
    let ttls: Vec<(RType, u32)> = z.records_at(&n("a.t")).iter().map(|r| (r.rtype(), r.ttl)).collect();
    assert_eq!(ttls, [(RType::A, 100), (RType::A, 100), (RType::TXT, 900)]);
}

fn big_authority() -> Authority {
    let mut text = String::from("$ORIGIN big.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n");
    for i in 0..40 {
        text.push_str(&format!("many A 10.0.0.{i}\n"));
    }
    Authority::new(vec![Zone::parse(&text).unwrap()])
}

#[test]
fn udp_answers_beyond_512_octets_are_truncated_unless_edns_allows() {
    let a = big_authority();
    let q = build_query(7, &n("many.big.test"), RType::A, None);
    let bytes = a.answer(&q, UDP).unwrap();
    assert!(bytes.len() <= 512);
    let r = parse_response(&bytes).unwrap();
    assert!(r.truncated);
    assert!(r.answer.is_empty());

    let bytes = a.answer(&q, Transport::Tcp).unwrap();
    assert!(bytes.len() > 512);
    let r = parse_response(&bytes).unwrap();
    assert!(!r.truncated);
    assert_eq!(r.answer.len(), 40);

    let q = build_query(8, &n("many.big.test"), RType::A, Some(4096));
    let r = parse_response(&a.answer(&q, UDP).unwrap()).unwrap();
    assert!(!r.truncated);
    assert_eq!(r.answer.len(), 40);

    // A client buffer below 512 counts as 512; ours caps theirs.
    let q = build_query(9, &n("many.big.test"), RType::A, Some(600));
    assert!(parse_response(&a.answer(&q, UDP).unwrap()).unwrap().truncated);
    let q = build_query(9, &n("many.big.test"), RType::A, Some(4096));
    assert!(parse_response(&a.answer(&q, Transport::Udp { max_len: 512 }).unwrap()).unwrap().truncated);
}

/// RFC 2181 §9: additional data that does not fit is left out, whole
/// RRsets from the end, with TC clear (the answer is whole without it);
/// a referral whose glue does not fit is truncated instead (RFC 9471).
#[test]
fn udp_drops_additional_data_before_truncating() {
    let mut text = String::from("$ORIGIN mx.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n");
    for i in 0..12 {
        text.push_str(&format!("@ MX {i} ex{i}\n"));
        for j in 0..3 {
            text.push_str(&format!("ex{i} A 10.0.{i}.{j}\n"));
        }
        text.push_str(&format!("sub NS ns{i}.sub\nns{i}.sub A 10.1.{i}.1\nns{i}.sub A 10.1.{i}.2\n"));
    }
    let a = Authority::new(vec![Zone::parse(&text).unwrap()]);
    let q = build_query(7, &n("mx.test"), RType::MX, None);
    let bytes = a.answer(&q, UDP).unwrap();
    assert!(bytes.len() <= 512);
    let r = parse_response(&bytes).unwrap();
    assert!(!r.truncated, "TC stays clear");
    assert_eq!(r.answer.len(), 12, "the answer whole");
    let full = parse_response(&a.answer(&q, Transport::Tcp).unwrap()).unwrap();
    assert_eq!(full.additional.len(), 36);
    assert!(r.additional.len() < 36 && r.additional.len() % 3 == 0, "whole RRsets: {}", r.additional.len());
    assert_eq!(r.additional[..], full.additional[..r.additional.len()], "the first ones kept");
    // The referral to sub needs its 24 glue records: truncated.
    let q = build_query(8, &n("www.sub.mx.test"), RType::A, None);
    let r = parse_response(&a.answer(&q, UDP).unwrap()).unwrap();
    assert!(r.truncated);
    let r = parse_response(&a.answer(&q, Transport::Tcp).unwrap()).unwrap();
    assert_eq!((r.authority.len(), r.additional.len()), (12, 24));
}

/// An answer pointing to more than 13 names gets no additional data
/// (BIND 9.18's bound on the lookups one question costs); 13 still do,
/// in the order of the answer's records.
#[test]
fn additional_data_is_bounded() {
    let mut text = String::from("$ORIGIN many.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n");
    for n in [13, 14] {
        for k in 0..n {
            text.push_str(&format!("m{n} MX {k} x{n}-{k}\nx{n}-{k} A 10.0.{n}.{k}\n"));
        }
    }
    let a = Authority::new(vec![Zone::parse(&text).unwrap()]);
    let r = parse_response(&a.answer(&build_query(1, &n("m13.many.test"), RType::MX, None), Transport::Tcp).unwrap())
        .unwrap();
    let names: Vec<Name> = r.additional.iter().map(|r| r.name.clone()).collect();
    let expected: Vec<Name> = (0..13).map(|k| n(&format!("x13-{k}.many.test"))).collect();
    assert_eq!(names, expected);
    let r = parse_response(&a.answer(&build_query(2, &n("m14.many.test"), RType::MX, None), Transport::Tcp).unwrap())
        .unwrap();
    assert_eq!((r.answer.len(), r.additional.len()), (14, 0));
}

#[test]
fn garbage_with_a_header_gets_formerr_and_short_input_nothing() {
    let a = authority();
    let mut q = build_query(0xbeef, &n("web.example.com"), RType::A, None);
    q.truncate(q.len() - 3);
    let bytes = a.answer(&q, UDP).expect("FORMERR");
    assert_eq!(&bytes[..2], &[0xbe, 0xef]);
    assert_eq!(bytes[2] & 0x80, 0x80, "QR");
    assert_eq!(bytes[3] & 0x0f, 1, "FORMERR");

    let garbage = [0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff];
    let bytes = a.answer(&garbage, UDP).expect("FORMERR");
    assert_eq!(bytes[3] & 0x0f, 1);

    assert_eq!(a.answer(&[0u8; 11], UDP), None);
    assert_eq!(a.answer(&[], UDP), None);
    // A response is never answered.
    let resp = a.answer(&build_query(1, &n("web.example.com"), RType::A, None), UDP).unwrap();
    assert_eq!(a.answer(&resp, UDP), None);
}

#[test]
fn from_hosts_serves_forward_and_reverse() {
    let hosts = [("alice", Ipv4Addr::new(192, 0, 2, 1)), ("bob", Ipv4Addr::new(198, 51, 100, 7))];
    let a = Authority::from_hosts(&n("sim.test"), &hosts).unwrap();
    let r = ask(&a, "bob.sim.test", RType::A);
    assert_eq!(r.answer[0].data, RData::A(Ipv4Addr::new(198, 51, 100, 7)));
    let r = ask(&a, "1.2.0.192.in-addr.arpa", RType::PTR);
    assert_eq!(r.answer[0].data, RData::Ptr(n("alice.sim.test")));
    assert!(r.authoritative);
    let r = ask(&a, "9.2.0.192.in-addr.arpa", RType::PTR);
    assert_eq!(r.rcode, Rcode::NXDOMAIN);
    assert_eq!(ask(&a, "sim.test", RType::SOA).answer.len(), 1);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let a = authority();
        let _ = a.answer(&bytes, UDP);
        let _ = a.answer(&bytes, Transport::Tcp);
    }

    #[test]
    fn mutated_queries_never_panic(i in 0usize..64, v in any::<u8>(), cut in 0usize..64) {
        let a = authority();
        let mut q = build_query(1, &n("alias.example.com"), RType::A, Some(1232));
        let len = q.len();
        q[i % len] = v;
        q.truncate(len - cut % len);
        if let Some(r) = a.answer(&q, UDP) {
            prop_assert!(r.len() <= 1232);
        }
    }
}
