//! Which address a request comes from, when proxies may stand in between.
//!
//! The address feeds the per-address sign-in limit and the audit log, so a client must not be
//! able to choose it. `X-Forwarded-For` is believed only when the connection comes from a
//! configured trusted proxy, and then read from the right: each proxy appends the address it
//! saw, so the rightmost entry that is not one of our own proxies is the first hop nobody we
//! trust vouched for beyond. Anything that does not parse as an IP address ends the walk and the
//! peer address is used, so a header like `not-an-ip <script>` never becomes an "address".

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IP network in CIDR notation (`10.0.0.0/8`, `::1/128`, or a bare address for one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network = canonical(addr.parse::<IpAddr>().map_err(|_| {
            format!("`{s}` is not an IP address or network (write e.g. `10.0.0.0/8` or `::1`)")
        })?);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The client's address: the peer's, or, when the peer is a trusted proxy, the rightmost
/// `X-Forwarded-For` entry that is not itself a trusted proxy. `forwarded_for` holds the header
/// values in the order they arrived (several headers count as one comma-separated list).
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: &[&str], trusted: &[Cidr]) -> Option<IpAddr> {
    let peer = peer.map(canonical)?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for entry in forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let Some(ip) = parse_entry(entry) else {
            return Some(peer);
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sock) = entry.parse::<std::net::SocketAddr>() {
        return Some(canonical(sock.ip()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().expect("cidr")).collect()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    #[test]
    fn networks_parse_and_contain() {
        let n: Cidr = "10.0.0.0/8".parse().expect("cidr");
        assert!(n.contains("10.200.1.1".parse().expect("ip")));
        assert!(!n.contains("11.0.0.1".parse().expect("ip")));
        let host: Cidr = "::1".parse().expect("cidr");
        assert!(host.contains("::1".parse().expect("ip")));
        let all: Cidr = "0.0.0.0/0".parse().expect("cidr");
        assert!(all.contains("203.0.113.9".parse().expect("ip")));
        let mapped: Cidr = "127.0.0.1/32".parse().expect("cidr");
        assert!(mapped.contains("::ffff:127.0.0.1".parse().expect("ip")));
        for bad in ["10.0.0.0/33", "::/129", "localhost", "10.0.0.0/x", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_direct_client_cannot_choose_its_address() {
        let trusted = nets(&["127.0.0.1/32"]);
        assert_eq!(
            client_ip(ip("198.51.100.7"), &["1.2.3.4"], &trusted),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        // The client wrote "6.6.6.6" itself; our proxies appended what they saw.
        let xff = ["6.6.6.6, 203.0.113.5", "10.1.1.1"];
        assert_eq!(
            client_ip(ip("127.0.0.1"), &xff, &trusted),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn garbage_in_the_header_falls_back_to_the_peer() {
        let trusted = nets(&["127.0.0.1"]);
        for xff in ["not-an-ip <script>", "203.0.113.5, evil\n", ""] {
            assert_eq!(
                client_ip(ip("127.0.0.1"), &[xff], &trusted),
                ip("127.0.0.1"),
                "{xff:?}"
            );
        }
        assert_eq!(
            client_ip(ip("127.0.0.1"), &["[2001:db8::1]:443"], &trusted),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn all_trusted_hops_give_the_leftmost() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &["10.0.0.2, 10.0.0.3"], &trusted),
            ip("10.0.0.2")
        );
    }
}
