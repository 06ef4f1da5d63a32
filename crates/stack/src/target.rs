//! Naming a destination as `"host:port"`: what every socket API that
//! accepts names (connect, send_to, the message API) splits first.

use std::io;

/// Splits `"host:port"`; the host may be a name or an IPv4 literal.
pub fn split_host_port(target: &str) -> io::Result<(&str, u16)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("{target}: expected name:port"));
    let (host, port) = target.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_splits() {
        assert_eq!(split_host_port("carol.demo:8080").unwrap(), ("carol.demo", 8080));
        assert_eq!(split_host_port("192.0.2.1:53").unwrap(), ("192.0.2.1", 53));
        assert!(split_host_port("carol.demo").is_err());
        assert!(split_host_port(":80").is_err());
        assert!(split_host_port("a:port").is_err());
        assert!(split_host_port("a:70000").is_err());
    }
}
