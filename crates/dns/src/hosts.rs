//! A hosts table (`/etc/hosts` format): `address name [aliases...]`, `#`
//! comments. Lines that do not parse are skipped, as the C library does.

use crate::name::Name;
use std::net::IpAddr;

/// A hosts table: names and their addresses, in file order.
#[derive(Debug, Clone, Default)]
pub struct Hosts {
    entries: Vec<(Name, IpAddr)>,
}

impl Hosts {
    /// An empty table.
    pub fn new() -> Hosts {
        Hosts::default()
    }

    /// Parses hosts-file text.
    pub fn parse(text: &str) -> Hosts {
        let mut hosts = Hosts::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut fields = line.split_whitespace();
            let Some(addr) = fields.next().and_then(|a| a.parse::<IpAddr>().ok()) else {
                continue;
            };
            for name in fields {
                if let Ok(name) = Name::parse(name) {
                    hosts.insert(name, addr);
                }
            }
        }
        hosts
    }

    /// Adds `addr` for `name` (a name may have several); a pair already present
    /// is not added twice.
    pub fn insert(&mut self, name: Name, addr: IpAddr) {
        if !self.entries.contains(&(name.clone(), addr)) {
            self.entries.push((name, addr));
        }
    }

    /// The addresses of `name`, in file order.
    pub fn lookup(&self, name: &Name) -> Vec<IpAddr> {
        self.entries.iter().filter(|(n, _)| n == name).map(|(_, a)| *a).collect()
    }

    /// True when the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_aliases_and_comments() {
        let h = Hosts::parse(
            "# comment\n127.0.0.1 localhost\n192.0.2.5  db db.lan # the database\nbogus line\n::1 localhost\n",
        );
        let db: Vec<IpAddr> = vec!["192.0.2.5".parse().unwrap()];
        assert_eq!(h.lookup(&Name::parse("DB.lan").unwrap()), db);
        assert_eq!(h.lookup(&Name::parse("db").unwrap()), db);
        assert_eq!(h.lookup(&Name::parse("localhost").unwrap()).len(), 2);
        assert!(h.lookup(&Name::parse("bogus").unwrap()).is_empty());
    }
}
