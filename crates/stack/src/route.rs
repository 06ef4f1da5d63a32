//! The routing table: longest-prefix match over destination prefixes, each
//! route naming an interface and, when the destination is not on-link, a
//! gateway (RFC 1812 §5.2.4.3).

use crate::iface::IfaceId;
use sockstack_wire::{Ipv4Addr, Ipv4Cidr};

/// One entry of the routing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Destinations this route covers. `0.0.0.0/0` is the default route.
    pub dest: Ipv4Cidr,
    /// Next hop when the destination is not on-link.
    pub gateway: Option<Ipv4Addr>,
    /// Interface the route leaves by.
    pub iface: IfaceId,
}

/// The chosen way out for one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    /// Interface to send out of.
    pub iface: IfaceId,
    /// The address the link must deliver the packet to: the gateway, or the
    /// destination itself when on-link.
    pub addr: Ipv4Addr,
}

/// Routes kept sorted by prefix length, longest first, so the first match
/// is the longest-prefix match. Hosts have a handful of routes; a scan of a
/// short sorted vector beats a trie here.
#[derive(Debug, Clone, Default)]
pub struct RoutingTable {
    routes: Vec<Route>,
}

impl RoutingTable {
    /// Adds `route`, host bits of its prefix cleared, replacing any route for
    /// the same prefix.
    pub fn add(&mut self, route: Route) {
        let route = Route { dest: route.dest.network(), ..route };
        self.routes.retain(|r| r.dest != route.dest);
        let at = self.routes.partition_point(|r| r.dest.prefix_len >= route.dest.prefix_len);
        self.routes.insert(at, route);
    }

    /// Removes the route for exactly `dest`; true if there was one.
    pub fn remove(&mut self, dest: Ipv4Cidr) -> bool {
        let dest = dest.network();
        let before = self.routes.len();
        self.routes.retain(|r| r.dest != dest);
        self.routes.len() != before
    }

    /// The routes, longest prefix first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Longest-prefix match for `dst`.
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<NextHop> {
        self.routes
            .iter()
            .find(|r| r.dest.contains(dst))
            .map(|r| NextHop { iface: r.iface, addr: r.gateway.unwrap_or(dst) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_and_default_catches_the_rest() {
        let mut t = RoutingTable::default();
        let gw = Ipv4Addr::new(192, 0, 2, 1);
        t.add(Route { dest: cidr("0.0.0.0/0"), gateway: Some(gw), iface: IfaceId(0) });
        t.add(Route { dest: cidr("192.0.2.0/24"), gateway: None, iface: IfaceId(0) });
        t.add(Route { dest: cidr("198.51.100.0/24"), gateway: None, iface: IfaceId(1) });
        t.add(Route {
            dest: cidr("198.51.100.128/25"),
            gateway: Some(Ipv4Addr::new(198, 51, 100, 1)),
            iface: IfaceId(1),
        });
        let on_link = Ipv4Addr::new(192, 0, 2, 77);
        assert_eq!(t.lookup(on_link), Some(NextHop { iface: IfaceId(0), addr: on_link }));
        let far = Ipv4Addr::new(203, 0, 113, 9);
        assert_eq!(t.lookup(far), Some(NextHop { iface: IfaceId(0), addr: gw }));
        assert_eq!(
            t.lookup(Ipv4Addr::new(198, 51, 100, 200)),
            Some(NextHop { iface: IfaceId(1), addr: Ipv4Addr::new(198, 51, 100, 1) })
        );
        let short = Ipv4Addr::new(198, 51, 100, 5);
        assert_eq!(t.lookup(short), Some(NextHop { iface: IfaceId(1), addr: short }));
        assert!(t.remove(cidr("0.0.0.0/0")));
        assert_eq!(t.lookup(far), None);
    }

    #[test]
    fn re_adding_a_prefix_replaces_it() {
        let mut t = RoutingTable::default();
        t.add(Route { dest: cidr("192.0.2.0/24"), gateway: None, iface: IfaceId(0) });
        t.add(Route { dest: cidr("192.0.2.9/24"), gateway: None, iface: IfaceId(3) });
        assert_eq!(t.routes().len(), 1);
        assert_eq!(t.lookup(Ipv4Addr::new(192, 0, 2, 1)).unwrap().iface, IfaceId(3));
    }
}
