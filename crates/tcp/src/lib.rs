#![warn(missing_docs)]
//! TCP for sockstack: one connection as a pure sans-IO state machine
//! (RFC 9293), plus the pieces a listener needs (ISNs, SYN cookies, RSTs
//! for stray segments).
//!
//! No I/O, no clock, no threads: segments and time go in, segments and
//! timer deadlines come out. The standard of behaviour is Linux's TCP.
//!
//! # Interface
//!
//! ```text
//! Connection::connect(now, local, remote, iss, route_mss, &cfg)   active open → SYN-SENT
//! Connection::accept(now, local, remote, &syn, iss, route_mss, &cfg)  passive → SYN-RECEIVED
//! Connection::from_cookie(now, local, remote, &ack, iss, irs, mss, &cfg)  → ESTABLISHED
//! conn.on_segment(now, &repr)          a segment for this 4-tuple arrived
//! conn.poll_transmit(now, |repr| ..)   emit ≤ 1 due segment; loop until false
//! conn.poll_at()                       next deadline (≤ the last `now` = immediately)
//! conn.on_timer(now)                   run due timers (poll_transmit also does)
//! conn.send(&[u8]) / recv(&mut [u8])   io::Result, WouldBlock when not ready
//! conn.shutdown_write() / close() / abort()
//! conn.state(), is_closed(), can_recv(), can_send(), recv_queue(), send_queue(),
//! local_addr(), remote_addr(), error(), set_nodelay(), set_keepalive(), stats(),
//! set_path_mss() (PMTUD), time_wait_accepts_syn(), snd_una()/snd_nxt()/rcv_nxt()/rcv_wnd()
//! conn.to_time_wait() / tw.restore(local, remote)   a closed TIME-WAIT connection, compact
//! IsnGenerator::new(secret).isn(now, local, remote)               RFC 6528
//! SynCookies::new(secret).{cookie_isn, check, synack}              RFC 4987
//! rst_reply(&seg)                       RFC 9293 §3.10.7.1 answer for stray segments
//! ```
//!
//! `cfg` is anything `Into<Arc<TcpConfig>>`: a `&TcpConfig` or a
//! `TcpConfig` the connection owns alone, or an `Arc<TcpConfig>` it shares
//! (as the stack passes the options its sockets have in common); an option
//! set on the connection later copies it then.
//!
//! ## Driving a connection
//!
//! * Hand every segment matching the 4-tuple to [`Connection::on_segment`]
//!   (checksum already verified). It never panics, whatever the segment.
//! * After input, after application calls and whenever
//!   [`Connection::poll_at`] is reached, call [`Connection::poll_transmit`]
//!   in a loop until it returns `false`. Each call hands at most one
//!   [`TcpRepr`] to the closure; its payload borrows the send buffer
//!   (zero-copy) — write it into a packet inside the closure. Addresses
//!   are `local_addr()` → `remote_addr()`.
//! * `poll_at()` returns `None` once closed with nothing to send, and an
//!   instant not after the last `now` seen when output is pending now.
//! * Drop the connection when [`Connection::is_closed`] (after draining
//!   `poll_transmit`, which may still owe a RST). TIME-WAIT is kept inside
//!   the connection for `TcpConfig::time_wait` (2·MSL); once the
//!   application has closed it, [`Connection::to_time_wait`] shrinks it
//!   to a [`TimeWait`] record, which rebuilds the connection for a segment
//!   that arrives meanwhile ([`TimeWait::restore`]).
//!
//! ## What the stack (listener) does
//!
//! * Segments for no connection: answer with [`rst_reply`] unless they
//!   carry RST (RFC 9293 §3.10.7.1); for a listener, a segment with ACK
//!   gets a RST (unless it is a valid SYN-cookie ACK), a RST is dropped, a
//!   SYN creates a connection with [`Connection::accept`] using an ISN from
//!   [`IsnGenerator`] (RFC 6528), or — when the SYN queue is full — a
//!   stateless SYN-ACK from [`SynCookies::synack`], later validated with
//!   [`SynCookies::check`] and turned into [`Connection::from_cookie`].
//! * Accept-queue semantics (a connection is "accepted" when it reaches
//!   ESTABLISHED), backlog limits, port reuse while in TIME-WAIT, and
//!   route MSS (MTU − 40) are the stack's.
//!
//! ## Semantics worth knowing
//!
//! * `send` in SYN-SENT/SYN-RECEIVED queues data for after the handshake
//!   (RFC 9293 §3.10.2). `recv` returns `Ok(0)` at EOF, `ConnectionReset`
//!   after a RST (unread data discarded; after the peer's FIN, a RST
//!   leaves what it sent readable, then EOF), `WouldBlock` when empty.
//! * `close` follows Linux: unread data (or data arriving later) → RST
//!   (RFC 2525 §2.17); otherwise FIN after queued data. `abort` sends RST.
//!   In TIME-WAIT neither changes anything: the close is over.
//! * Urgent data is delivered inline as ordinary data; the pointer is
//!   ignored (RFC 6093).
//! * ECN (RFC 3168) is not negotiated: ECE/CWR are never set and ignored.
//!
//! # Standards implemented
//!
//! RFC 9293 (state machine, acceptability, RST rules, SWS avoidance both
//! sides, Nagle), RFC 1122 §4.2.3.2 (delayed ACK) and §4.2.3.6
//! (keepalive), RFC 5961 (challenge ACKs, rate-limited), RFC 7323 (window
//! scale, timestamps, PAWS), RFC 6298 (RTO, Karn, backoff), RFC 5681 and
//! RFC 6582 (NewReno, idle restart), RFC 9438 (CUBIC), RFC 2018 / 2883 /
//! 6675 (SACK, D-SACK generation, SACK loss recovery), RFC 8985 (RACK-TLP),
//! RFC 3708 (D-SACK undo of a spurious fast recovery), RFC 3522, RFC 5682
//! and RFC 4015 (a spurious timeout found by its timestamps, Eifel, or by
//! the ACKs of new data sent after it, F-RTO, undone, and the
//! retransmission timer re-initialised from the next RTT sample),
//! RFC 9406 (HyStart++), RFC 6928 (IW10), RFC 1191 (PMTU decrease), RFC 6528 (ISNs), RFC 4987
//! (SYN cookies), RFC 6191 (TIME-WAIT reuse test).
//!
//! # Modules
//!
//! `tcb` (the connection and its application calls), `input` (segment
//! arrival, RFC 9293 §3.10.7), `output` (what to send, timers),
//! `recovery` (loss bookkeeping: pipe, NextSeg), `sack` (sender
//! scoreboard), `rack` (RACK-TLP, RFC 8985), `reassembly` (out-of-order
//! ranges, SACK blocks we send), `time_wait` (the compact TIME-WAIT record),
//! `buffer` (send/receive rings), `rtt` (RFC 6298), `congestion` (trait,
//! NewReno, CUBIC), `timers`, `isn` (SipHash-2-4, RFC 6528), `syncookie`
//! (RFC 4987), `config`, `state`, `stats`.

#![forbid(unsafe_code)]

pub mod buffer;
pub mod config;
pub mod congestion;
pub mod hystart;
mod input;
pub mod isn;
pub mod memory;
mod output;
mod predict;
pub mod rack;
pub mod reassembly;
mod recovery;
pub mod rtt;
pub mod sack;
pub mod state;
pub mod stats;
pub mod syncookie;
mod tcb;
mod time_wait;
mod timers;

pub use config::{CongestionAlgorithm, Keepalive, TcpConfig};
pub use input::rst_reply;
pub use isn::{Initial, IsnGenerator};
pub use memory::MemoryBudget;
pub use sockstack_wire::{SeqNumber, TcpRepr};
pub use state::State;
pub use stats::TcpStats;
pub use syncookie::SynCookies;
pub use tcb::Connection;
pub use time_wait::TimeWait;
