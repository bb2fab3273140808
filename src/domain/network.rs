//! The networks a client address belongs to. One IPv6 client owns a whole
//! /64 (it can pick any address inside it), so counting IPv6 addresses one
//! by one would count nothing; a home or office IPv4 network is about a /24.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The client as rate limits count it (contract §7): an IPv4 address, or
/// an IPv6 client's /64.
pub fn client_key(ip: IpAddr) -> IpNet {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpNet::V4(Ipv4Net::new_assert(v4, 32)),
        IpAddr::V6(v6) => IpNet::V6(Ipv6Net::new_assert(v6, 64).trunc()),
    }
}

/// The network a client is on (contract §4 grace, §12 `location_hint`,
/// §14.1): IPv4 /24, IPv6 /64.
pub fn network(ip: IpAddr) -> IpNet {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpNet::V4(Ipv4Net::new_assert(v4, 24).trunc()),
        IpAddr::V6(v6) => IpNet::V6(Ipv6Net::new_assert(v6, 64).trunc()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_clients_count_alone_and_ipv6_clients_by_their_64() {
        assert_eq!(client_key(ip("203.0.113.9")).to_string(), "203.0.113.9/32");
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")).to_string(), "2001:db8:1:2::/64");
        assert_eq!(client_key(ip("2001:db8:1:2:ffff::9")), client_key(ip("2001:db8:1:2::1")));
        assert_eq!(client_key(ip("::ffff:203.0.113.9")).to_string(), "203.0.113.9/32", "a mapped IPv4 is IPv4");
    }

    #[test]
    fn networks_are_the_24_and_the_64() {
        assert_eq!(network(ip("203.0.113.9")).to_string(), "203.0.113.0/24");
        assert_eq!(network(ip("2001:db8:1:2:aaaa::1")).to_string(), "2001:db8:1:2::/64");
    }
}
