//! A table of IP networks, read from FireHOL netset text (contract §20's
//! blocklists), asked whether it holds an address.
//!
//! The networks are kept as sorted, merged, inclusive ranges of integers
//! (`u32` for IPv4, `u128` for IPv6), starts and ends in two arrays, and an
//! address is looked up by binary search over the starts: about 17 steps
//! for the 100,000 ranges of a large list, with no allocation. A prefix trie
//! would do as well for lookups, but costs a node per prefix bit and does
//! not merge overlapping lists for free.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// The IPv4-mapped IPv6 block, `::ffff:0:0/96`.
const MAPPED: (u128, u128) = (0xffff_0000_0000, 0xffff_ffff_ffff);

/// The networks of one or more netsets, merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpTable {
    v4: Ranges<u32>,
    v6: Ranges<u128>,
}

impl IpTable {
    /// The table of one netset text (bad lines are skipped; `IpTableBuilder`
    /// tells how many).
    pub fn parse(text: &str) -> IpTable {
        let mut builder = IpTableBuilder::default();
        builder.add_netset(text);
        builder.build()
    }

    /// Whether `ip` is inside a listed network. An IPv4-mapped IPv6
    /// address (`::ffff:a.b.c.d`, how a dual-stack socket reports an IPv4
    /// client) is looked up as the IPv4 address it is.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(v4) => self.v4.contains(u32::from(v4)),
            IpAddr::V6(v6) => self.v6.contains(u128::from(v6)),
        }
    }

    /// How many merged ranges the table holds.
    pub fn ranges(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges() == 0
    }
}

/// What one netset text held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetsetSummary {
    /// Addresses, networks and ranges read.
    pub entries: usize,
    /// Lines that are none of those, nor blank, nor a comment.
    pub skipped: usize,
    /// The number (from 1) of the first skipped line, for the log.
    pub first_skipped: Option<usize>,
}

/// Gathers the entries of several netsets into one table.
#[derive(Debug, Default)]
pub struct IpTableBuilder {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpTableBuilder {
    /// Adds every entry of `text`: one per line, an address (`192.0.2.7`),
    /// a network (`192.0.2.0/24`, `2001:db8::/32`) or a range
    /// (`192.0.2.1-192.0.2.9`, as `iprange` writes them); `#` starts a
    /// comment, on a line of its own or after an entry. Any other line is
    /// skipped and counted.
    pub fn add_netset(&mut self, text: &str) -> NetsetSummary {
        let mut summary = NetsetSummary::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            match entry(line) {
                Some(Entry::V4(lo, hi)) => self.v4.push((lo, hi)),
                Some(Entry::V6(lo, hi)) => self.v6.push((lo, hi)),
                None => {
                    summary.skipped += 1;
                    summary.first_skipped.get_or_insert(number + 1);
                    continue;
                }
            }
            summary.entries += 1;
        }
        summary
    }

    pub fn build(self) -> IpTable {
        IpTable { v4: Ranges::merged(self.v4), v6: Ranges::merged(self.v6) }
    }
}

/// One line's inclusive range, in the family lookups will use.
enum Entry {
    V4(u32, u32),
    V6(u128, u128),
}

impl Entry {
    fn of(lo: IpAddr, hi: IpAddr) -> Option<Entry> {
        match (lo, hi) {
            (IpAddr::V4(lo), IpAddr::V4(hi)) => Some(Entry::V4(lo.into(), hi.into())),
            (IpAddr::V6(lo), IpAddr::V6(hi)) => Some(v6_entry(lo, hi)),
            _ => None,
        }
        .filter(Entry::is_ordered)
    }

    fn is_ordered(&self) -> bool {
        match *self {
            Entry::V4(lo, hi) => lo <= hi,
            Entry::V6(lo, hi) => lo <= hi,
        }
    }
}

/// A range inside `::ffff:0:0/96` is stored as the IPv4 range it maps:
/// lookups of mapped clients are IPv4 lookups, so it would match nothing
/// as IPv6.
fn v6_entry(lo: Ipv6Addr, hi: Ipv6Addr) -> Entry {
    let (lo, hi) = (u128::from(lo), u128::from(hi));
    if lo >= MAPPED.0 && hi <= MAPPED.1 {
        // Inside the /96 the low 32 bits are the IPv4 address.
        Entry::V4(lo as u32, hi as u32)
    } else {
        Entry::V6(lo, hi)
    }
}

/// `line` (comment and blanks removed) as a range, or `None` when it is
/// not an address, a network or a range.
fn entry(line: &str) -> Option<Entry> {
    if line.contains(char::is_whitespace) {
        return None;
    }
    if let Some((lo, hi)) = line.split_once('-') {
        return Entry::of(lo.parse().ok()?, hi.parse().ok()?);
    }
    if line.contains('/') {
        // Host bits set (`192.0.2.7/24`) name the network they belong to.
        let net: IpNet = line.parse().ok()?;
        return Entry::of(net.network(), net.broadcast());
    }
    let ip: IpAddr = line.parse().ok()?;
    Entry::of(ip, ip)
}

/// What `Ranges` stores: an unsigned integer that can step to the next.
trait Point: Copy + Ord + Default + std::fmt::Debug {
    fn next(self) -> Option<Self>;
}

impl Point for u32 {
    fn next(self) -> Option<u32> {
        self.checked_add(1)
    }
}

impl Point for u128 {
    fn next(self) -> Option<u128> {
        self.checked_add(1)
    }
}

/// Disjoint, non-adjacent inclusive ranges, sorted: `starts[i]..=ends[i]`.
/// Two arrays rather than one of pairs: the binary search reads only the
/// starts, so twice as many of them fit in a cache line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Ranges<T> {
    starts: Vec<T>,
    ends: Vec<T>,
}

impl<T: Point> Ranges<T> {
    /// Sorts `ranges` and merges those that overlap or touch.
    fn merged(mut ranges: Vec<(T, T)>) -> Ranges<T> {
        ranges.sort_unstable();
        let mut out: Ranges<T> =
            Ranges { starts: Vec::with_capacity(ranges.len()), ends: Vec::with_capacity(ranges.len()) };
        for (lo, hi) in ranges {
            match out.ends.last_mut() {
                // `last.next()` is None at the family's last address: all
                // that follows is inside already.
                Some(last) if last.next().is_none_or(|after| lo <= after) => *last = (*last).max(hi),
                _ => {
                    out.starts.push(lo);
                    out.ends.push(hi);
                }
            }
        }
        out.starts.shrink_to_fit();
        out.ends.shrink_to_fit();
        out
    }

    fn contains(&self, x: T) -> bool {
        // The ranges starting at or before `x`; only the last can hold it.
        let i = self.starts.partition_point(|&s| s <= x);
        i > 0 && self.ends[i - 1] >= x
    }

    fn len(&self) -> usize {
        self.starts.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    /// The first and last address of each of the table's IPv4 ranges.
    fn v4_ranges(t: &IpTable) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        t.v4.starts.iter().zip(&t.v4.ends).map(|(&s, &e)| (Ipv4Addr::from(s), Ipv4Addr::from(e))).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn a_network_holds_its_first_and_last_address_and_nothing_beside() {
        let t = IpTable::parse("192.0.2.0/24\n");
        assert!(t.contains(ip("192.0.2.0")));
        assert!(t.contains(ip("192.0.2.255")));
        assert!(t.contains(ip("192.0.2.77")));
        assert!(!t.contains(ip("192.0.1.255")));
        assert!(!t.contains(ip("192.0.3.0")));
    }

    #[test]
    fn a_bare_address_is_a_network_of_one() {
        let t = IpTable::parse("203.0.113.9\n2001:db8::7\n");
        assert!(t.contains(ip("203.0.113.9")));
        assert!(!t.contains(ip("203.0.113.8")) && !t.contains(ip("203.0.113.10")));
        assert!(t.contains(ip("2001:db8::7")));
        assert!(!t.contains(ip("2001:db8::6")) && !t.contains(ip("2001:db8::8")));
        assert_eq!(t.ranges(), 2);
    }

    #[test]
    fn comments_blank_lines_and_bad_lines_are_told_apart() {
        let text = "# FireHOL level1\n#\n\n   \n10.0.0.0/8 # private\n\t192.0.2.1\t\nnot an address\n\
                    300.1.2.3\n10.0.0.0/33\n1.2.3.4 5.6.7.8\n192.0.2.9-192.0.2.1\n1.2.3.4-::1\n;comment\n";
        let mut builder = IpTableBuilder::default();
        let summary = builder.add_netset(text);
        let t = builder.build();
        assert_eq!(summary, NetsetSummary { entries: 2, skipped: 7, first_skipped: Some(7) });
        assert!(t.contains(ip("10.200.3.4")) && t.contains(ip("192.0.2.1")));
        assert_eq!(t.ranges(), 2);
    }

    #[test]
    fn windows_line_ends_and_host_bits_are_read() {
        let t = IpTable::parse("198.51.100.77/24\r\n2001:db8:1::5/48\r\n");
        assert_eq!(v4_ranges(&t), [(v4("198.51.100.0"), v4("198.51.100.255"))]);
        assert!(t.contains(ip("2001:db8:1:ffff::1")));
        assert!(!t.contains(ip("2001:db8:2::")));
    }

    #[test]
    fn overlapping_nested_and_adjacent_networks_merge() {
        let t = IpTable::parse(
            "10.0.0.0/24\n10.0.0.128/25\n10.0.1.0/24\n10.0.0.5\n10.0.3.0/24\n10.0.2.200-10.0.3.10\n10.0.9.9\n",
        );
        assert_eq!(
            v4_ranges(&t),
            [
                (v4("10.0.0.0"), v4("10.0.1.255")),
                (v4("10.0.2.200"), v4("10.0.3.255")),
                (v4("10.0.9.9"), v4("10.0.9.9"))
            ]
        );
        assert!(!t.contains(ip("10.0.2.199")));
        assert!(t.contains(ip("10.0.2.200")));
    }

    #[test]
    fn the_edges_of_the_address_space_are_held() {
        let t = IpTable::parse("0.0.0.0/8\n255.255.255.0/24\n255.255.255.255\n::/128\nffff:ffff::/32\n");
        assert!(t.contains(ip("0.0.0.0")) && t.contains(ip("0.255.255.255")) && !t.contains(ip("1.0.0.0")));
        assert!(t.contains(ip("255.255.255.255")) && !t.contains(ip("255.255.254.255")));
        assert_eq!(v4_ranges(&t).len(), 2);
        assert!(t.contains(ip("::")) && !t.contains(ip("::2")));
        assert!(t.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        let everything = IpTable::parse("0.0.0.0/0\n1.2.3.4\n");
        assert!(everything.contains(ip("255.255.255.255")) && everything.ranges() == 1);
    }

    #[test]
    fn ipv4_and_ipv6_are_separate_families() {
        let t = IpTable::parse("2001:db8::/32\n");
        assert!(t.contains(ip("2001:db8:ffff::1")));
        assert!(!t.contains(ip("32.1.13.184")), "the IPv4 address with the same leading bits");
        let t = IpTable::parse("0.0.0.0/0\n");
        assert!(!t.contains(ip("2001:db8::1")));
    }

    #[test]
    fn a_mapped_client_is_looked_up_as_ipv4_and_a_mapped_entry_stored_as_ipv4() {
        let t = IpTable::parse("203.0.113.0/24\n::ffff:198.51.100.0/120\n");
        assert!(t.contains(ip("::ffff:203.0.113.9")));
        assert!(!t.contains(ip("::ffff:203.0.114.9")));
        assert!(t.contains(ip("198.51.100.20")));
        assert!(t.contains(ip("::ffff:198.51.100.20")));
        assert_eq!(v4_ranges(&t).len(), 2);
    }

    #[test]
    fn several_netsets_merge_into_one_table() {
        let mut builder = IpTableBuilder::default();
        let a = builder.add_netset("192.0.2.0/25\n2001:db8::/64\n");
        let b = builder.add_netset("192.0.2.128/25\n198.51.100.1\n");
        let t = builder.build();
        assert_eq!((a.entries, b.entries), (2, 2));
        assert_eq!(v4_ranges(&t), [(v4("192.0.2.0"), v4("192.0.2.255")), (v4("198.51.100.1"), v4("198.51.100.1"))]);
        assert!(t.contains(ip("2001:db8::1")));
        assert_eq!(t.ranges(), 3);
    }

    #[test]
    fn an_empty_table_holds_nothing() {
        let t = IpTable::default();
        assert!(t.is_empty());
        assert!(!t.contains(ip("0.0.0.0")) && !t.contains(ip("::")));
        assert_eq!(IpTable::parse("# nothing\n"), t);
    }

    #[test]
    fn lookups_agree_with_a_linear_scan() {
        // Pseudo-random networks from a fixed seed (no rand needed).
        let mut seed: u32 = 0x9e37_79b9;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let nets: Vec<ipnet::Ipv4Net> =
            (0..500).map(|_| ipnet::Ipv4Net::new(Ipv4Addr::from(next()), (next() % 17 + 16) as u8).unwrap()).collect();
        let text: String = nets.iter().map(|n| format!("{n}\n")).collect();
        let t = IpTable::parse(&text);
        for _ in 0..20_000 {
            let probe = Ipv4Addr::from(next());
            let expected = nets.iter().any(|n| n.contains(&probe));
            assert_eq!(t.contains(IpAddr::V4(probe)), expected, "{probe}");
        }
    }
}
