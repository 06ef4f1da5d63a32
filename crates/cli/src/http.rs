//! A small HTTP/1.1 server and client on sockstack's blocking TCP sockets:
//! enough for `sockstack serve` (an index page and `/bytes/N`, keep-alive)
//! and `sockstack fetch` (GET, Content-Length or chunked bodies) to talk to
//! curl and python's http.server.

use sockstack_api::TcpStream;
use std::io::{self, BufRead, BufReader, Read, Write};

/// Byte `i` of every `/bytes/N` body: a pure function of the offset, so a
/// test regenerates and compares the body byte for byte.
pub fn body_byte(i: u64) -> u8 {
    (i % BODY_PERIOD) as u8
}

/// The body pattern repeats every this many octets.
const BODY_PERIOD: u64 = 251;

/// Octets of `/bytes/N` written per call.
const BODY_CHUNK: usize = 64 * 1024;

/// One chunk of the body pattern and one period more: the octets from any
/// offset on are a slice of it, copied, where working out each octet (a
/// division) held the server to about 300 MB/s, below what the stack
/// sends through a TUN device.
fn body_tile() -> Vec<u8> {
    (0..BODY_CHUNK as u64 + BODY_PERIOD).map(body_byte).collect()
}

/// The `len` body octets from offset `at` (`len` at most [`BODY_CHUNK`]).
fn body_at(tile: &[u8], at: u64, len: usize) -> &[u8] {
    let start = (at % BODY_PERIOD) as usize;
    &tile[start..start + len]
}

const INDEX: &str = "<!doctype html>\n<html><head><title>sockstack</title></head>\n<body><h1>sockstack</h1>\n<p>Served by a userspace TCP/IP stack over a TUN device.</p>\n<p>Try <a href=\"/bytes/1024\">/bytes/1024</a>.</p>\n</body></html>\n";

/// A parsed request head.
struct Request {
    method: String,
    path: String,
    keep_alive: bool,
}

/// Reads one request head; `Ok(None)` at a clean end of stream.
fn read_request(r: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "malformed request line"));
    };
    // HTTP/1.1 keeps the connection unless told otherwise; 1.0 closes.
    let mut keep_alive = version == "HTTP/1.1";
    let mut total = line.len();
    loop {
        let mut h = String::new();
        let n = r.read_line(&mut h)?;
        total += n;
        if n == 0 || total > 64 * 1024 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "truncated or oversized request head"));
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.trim().eq_ignore_ascii_case("connection") {
                let v = value.trim().to_ascii_lowercase();
                keep_alive = v.contains("keep-alive") || (keep_alive && !v.contains("close"));
            }
        }
    }
    Ok(Some(Request { method: method.to_string(), path: path.to_string(), keep_alive }))
}

fn respond(w: &mut impl Write, status: &str, content_type: &str, len: u64, keep_alive: bool) -> io::Result<()> {
    let conn = if keep_alive { "keep-alive" } else { "close" };
    write!(
        w,
        "HTTP/1.1 {status}\r\nServer: sockstack\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\nConnection: {conn}\r\n\r\n"
    )
}

/// Serves requests on one connection until the client closes it.
pub fn serve_connection(stream: TcpStream) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(16 * 1024, stream);
    while let Some(req) = read_request(&mut reader)? {
        let head = req.method == "HEAD";
        if req.method != "GET" && !head {
            respond(&mut writer, "405 Method Not Allowed", "text/plain", 0, false)?;
            break;
        }
        if req.path == "/" || req.path == "/index.html" {
            respond(&mut writer, "200 OK", "text/html", INDEX.len() as u64, req.keep_alive)?;
            if !head {
                writer.write_all(INDEX.as_bytes())?;
            }
        } else if let Some(n) = req.path.strip_prefix("/bytes/").and_then(|n| n.parse::<u64>().ok()) {
            respond(&mut writer, "200 OK", "application/octet-stream", n, req.keep_alive)?;
            if !head {
                let tile = body_tile();
                let mut sent = 0u64;
                while sent < n {
                    let k = (n - sent).min(BODY_CHUNK as u64) as usize;
                    writer.write_all(body_at(&tile, sent, k))?;
                    sent += k as u64;
                }
            }
        } else {
            let body = b"not found\n";
            respond(&mut writer, "404 Not Found", "text/plain", body.len() as u64, req.keep_alive)?;
            if !head {
                writer.write_all(body)?;
            }
        }
        if !req.keep_alive {
            break;
        }
    }
    writer.shutdown(std::net::Shutdown::Write)?;
    // Drain what the client still sends so that closing does not reset.
    let mut sink = [0u8; 4096];
    while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
    Ok(())
}

/// An `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    pub path: String,
}

pub fn parse_url(url: &str) -> io::Result<Url> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("not an http:// URL: {url}"));
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Url { host: host.to_string(), port, path: path.to_string() })
}

/// Sends a GET and streams the body into `out`. Returns the status code
/// and the body length.
pub fn get(stream: TcpStream, url: &Url, out: &mut impl Write) -> io::Result<(u16, u64)> {
    let mut writer = stream.try_clone()?;
    write!(
        writer,
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: sockstack-fetch\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path, url.host
    )?;
    let mut r = BufReader::with_capacity(64 * 1024, stream);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {line:?}")))?;
    let (mut length, mut chunked) = (None, false);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "response head cut short"));
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            let name = name.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<u64>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") && value.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            }
        }
    }
    let mut total = 0u64;
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let size = u64::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                break;
            }
            total += io::copy(&mut (&mut r).take(size), out)?;
            let mut crlf = String::new();
            r.read_line(&mut crlf)?;
        }
    } else if let Some(n) = length {
        total = io::copy(&mut (&mut r).take(n), out)?;
        if total != n {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("body cut short: {total} of {n} bytes")));
        }
    } else {
        total = io::copy(&mut r, out)?;
    }
    out.flush()?;
    Ok((status, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_chunks_are_the_pattern_at_their_offset() {
        let tile = body_tile();
        for at in [0u64, 1, 250, 251, 252, 65_536, 7 * 65_536 + 13, u64::from(u32::MAX) + 9] {
            for len in [0, 1, 250, 251, 1000, BODY_CHUNK] {
                let want: Vec<u8> = (at..at + len as u64).map(body_byte).collect();
                assert_eq!(body_at(&tile, at, len), &want[..], "{len} octets at {at}");
            }
        }
    }

    #[test]
    fn urls_parse() {
        assert_eq!(
            parse_url("http://192.0.2.1:8000/files/a.bin").unwrap(),
            Url { host: "192.0.2.1".into(), port: 8000, path: "/files/a.bin".into() }
        );
        assert_eq!(parse_url("http://h").unwrap(), Url { host: "h".into(), port: 80, path: "/".into() });
        assert!(parse_url("https://h/").is_err());
        assert!(parse_url("http://:80/").is_err());
        assert!(parse_url("http://h:x/").is_err());
    }

    #[test]
    fn request_heads_parse_with_keep_alive_rules() {
        let mut r = &b"GET /bytes/5 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.0\r\n\r\n"[..];
        let a = read_request(&mut r).unwrap().unwrap();
        assert_eq!((a.method.as_str(), a.path.as_str(), a.keep_alive), ("GET", "/bytes/5", true));
        let b = read_request(&mut r).unwrap().unwrap();
        assert!(!b.keep_alive);
        assert!(read_request(&mut r).unwrap().is_none());
        let mut bad = &b"NONSENSE\r\n\r\n"[..];
        assert!(read_request(&mut bad).is_err());
        let mut close = &b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"[..];
        assert!(!read_request(&mut close).unwrap().unwrap().keep_alive);
    }
}
