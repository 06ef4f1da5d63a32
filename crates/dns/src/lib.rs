#![warn(missing_docs)]
//! DNS for sockstack: an authoritative server and a caching stub
//! resolver, each a sans-IO core (bytes and explicit [`Instant`]s in, bytes
//! and deadlines out) with a thin driver for the simulator.
//!
//! | module | what |
//! | --- | --- |
//! | [`name`] | [`Name`]: case-insensitive, 63/255-octet limits |
//! | [`record`] | [`Record`], [`RData`], [`RType`] and their wire conversions |
//! | [`zone`] | [`Zone`] and the RFC 1035 §5 master-file parser |
//! | [`authority`] | [`Authority::answer`]: query bytes → response bytes |
//! | [`hosts`], [`cache`] | the hosts table; the TTL / negative cache |
//! | [`resolver`] | [`Resolver`]: the stub resolver state machine |
//! | [`message`] | building queries and reading responses |
//! | [`server_sim`], [`resolver_sim`] | [`serve`] and [`SimResolver`] on simulated hosts |
//!
//! # Wire format: `domain`
//!
//! Messages are parsed and composed with NLnet Labs' `domain` crate (0.12,
//! default features off, `std` only); the protocol logic (zone lookup,
//! CNAME chasing, negative answers, truncation, retries, caching,
//! anti-spoofing) is ours. `domain` was chosen over `hickory-proto` for
//! weight (hickory's mandatory `idna`/`url`/`tracing` dependencies pull in
//! the ICU4X normalisation crates; `domain` adds four: `octseq`, `jiff`,
//! `hashbrown` and a proc-macro on the `syn` the workspace already builds)
//! and over `simple-dns` for correctness: `simple-dns` is built for mDNS
//! (it reads the top bit of a question's class as the unicast-response
//! flag and of a record's as cache-flush), rejects unknown QTYPEs and
//! classes as parse errors, and in 0.13 reads the EDNS version from the
//! wrong octet of the OPT TTL (so a query with the DO bit looks like
//! EDNS version 128). `domain` is strict where the RFCs are (compression
//! pointers only backwards, name and label limits, section counts, one
//! OPT), keeps unknown types as opaque data, and compresses names when
//! composing.
//!
//! [`Instant`]: sockstack_time::Instant
pub mod name;
pub mod record;

pub use name::{Name, NameError};
pub use record::{RData, RType, Record};
pub mod authority;
pub mod zone;

pub use authority::{Authority, Transport};
pub use zone::{Zone, ZoneError};
pub mod cache;
pub mod hosts;
pub mod message;

pub use hosts::Hosts;
pub mod resolver;

pub use resolver::{
    Answer, Outgoing, Protocol, QueryHandle, ResolveError, Resolver, ResolverConfig, ResolverStats, Source,
};
pub mod blocking;
pub mod resolver_sim;
pub mod server_sim;

pub use resolver_sim::SimResolver;
pub use server_sim::serve;
