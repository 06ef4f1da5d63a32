//! The authoritative server on a simulated host: UDP and TCP (RFC 7766:
//! two-octet length prefix, several queries per connection, pipelined,
//! answered in order, idle connections closed) in one process.

use crate::authority::{Authority, Transport};
use sockstack_sim::{Process, TcpStream, UdpSocket};
use sockstack_time::Duration;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{Shutdown, SocketAddrV4};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::Poll;

/// The buffer size the server advertises over EDNS, and its UDP limit
/// (the DNS Flag Day 2020 value: no fragmentation on common paths).
pub const UDP_PAYLOAD: usize = 1232;
/// A TCP connection with no query for this long is closed.
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first of two futures to finish.
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

pub(crate) async fn select<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(x) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(x));
        }
        if let Poll::Ready(x) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(x));
        }
        Poll::Pending
    })
    .await
}

/// Serves `authority` on `addr` over UDP and TCP until a socket fails
/// (binding errors come back at once).
pub async fn serve(p: Process, addr: SocketAddrV4, authority: Rc<Authority>) -> io::Result<()> {
    let udp = p.udp_bind(addr)?;
    let listener = p.tcp_listen(addr, 64)?;
    let mut udp_task = pin!(serve_udp(&udp, &authority));
    let mut conns: Vec<Pin<Box<dyn Future<Output = ()>>>> = Vec::new();
    poll_fn(|cx| {
        if let Poll::Ready(r) = udp_task.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        loop {
            let mut accept = pin!(listener.accept());
            match accept.as_mut().poll(cx) {
                Poll::Ready(Ok((stream, _))) => {
                    conns.push(Box::pin(serve_tcp(p.clone(), stream, authority.clone())));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        conns.retain_mut(|c| c.as_mut().poll(cx).is_pending());
        Poll::Pending
    })
    .await
}

async fn serve_udp(sock: &UdpSocket, authority: &Authority) -> io::Result<()> {
    loop {
        let m = sock.recv_message().await?;
        if let Some(resp) = authority.answer(&m.data, Transport::Udp { max_len: UDP_PAYLOAD }) {
            sock.send_to(&resp, m.src).await?;
        }
    }
}

/// One TCP connection: every complete message in the buffer is answered,
/// in order, before reading more.
async fn serve_tcp(p: Process, stream: TcpStream, authority: Rc<Authority>) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 4096];
    loop {
        while buf.len() >= 2 {
            let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
            if buf.len() < 2 + len {
                break;
            }
            if let Some(resp) = authority.answer(&buf[2..2 + len], Transport::Tcp) {
                let mut out = Vec::with_capacity(resp.len() + 2);
                out.extend_from_slice(&(resp.len() as u16).to_be_bytes());
                out.extend_from_slice(&resp);
                if stream.write_all(&out).await.is_err() {
                    return;
                }
            }
            buf.drain(..2 + len);
        }
        match select(stream.read(&mut chunk), p.sleep(TCP_IDLE_TIMEOUT)).await {
            Either::Left(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
    // Give the FIN a moment to go out before the socket is released.
    p.sleep(Duration::from_secs(1)).await;
}
