//! Building queries and reading responses, for the resolver (and tests).

use crate::name::Name;
use crate::record::{RType, Record};
use domain::base::iana::{Class, Opcode, Rcode};
use domain::base::message_builder::MessageBuilder;
use domain::base::{Message, Rtype};

/// A query for `name`/`rtype` (class IN) with ID `id` and RD set; with an
/// OPT record advertising `edns_size` when given (RFC 6891).
pub fn build_query(id: u16, name: &Name, rtype: RType, edns_size: Option<u16>) -> Vec<u8> {
    let mut b = MessageBuilder::new_vec();
    b.header_mut().set_id(id);
    b.header_mut().set_rd(true);
    let mut q = b.question();
    q.push((name.to_wire(), Rtype::from_int(rtype.0), Class::IN)).expect("a question fits");
    let mut add = q.additional();
    if let Some(size) = edns_size {
        add.opt(|o| {
            o.set_udp_payload_size(size);
            Ok(())
        })
        .expect("an OPT record fits");
    }
    add.finish()
}

/// A response, read.
#[derive(Debug, Clone)]
pub struct Response {
    /// The message ID, to match the query's.
    pub id: u16,
    /// The response code (RCODE).
    pub rcode: Rcode,
    /// AA: the answer comes from an authoritative server.
    pub authoritative: bool,
    /// TC: the message was truncated (retry over TCP).
    pub truncated: bool,
    /// The question, if there was exactly one.
    pub question: Option<(Name, RType, Class)>,
    /// The answer section.
    pub answer: Vec<Record>,
    /// The authority section (e.g. the SOA of a negative answer).
    pub authority: Vec<Record>,
    /// The additional section (OPT records excluded).
    pub additional: Vec<Record>,
}

/// Reads a response; `None` if it is not a well-formed response to a
/// standard query (records of other classes, or that this crate cannot
/// represent, are skipped).
pub fn parse_response(bytes: &[u8]) -> Option<Response> {
    let msg = Message::from_slice(bytes).ok()?;
    let h = msg.header();
    if !h.qr() || h.opcode() != Opcode::QUERY {
        return None;
    }
    let question = match msg.sole_question() {
        Ok(q) => Some((Name::from_domain(q.qname()).ok()?, RType(q.qtype().to_int()), q.qclass())),
        Err(_) => None,
    };
    let mut sections: [Vec<Record>; 3] = Default::default();
    let mut section = msg.answer().ok()?;
    for out in &mut sections {
        for rr in &mut section {
            if let Some(r) = Record::from_parsed(rr.ok()?) {
                out.push(r);
            }
        }
        match section.next_section().ok()? {
            Some(next) => section = next,
            None => break,
        }
    }
    let [answer, authority, additional] = sections;
    Some(Response {
        id: h.id(),
        rcode: msg.opt_rcode().rcode(),
        authoritative: h.aa(),
        truncated: h.tc(),
        question,
        answer,
        authority,
        additional,
    })
}
