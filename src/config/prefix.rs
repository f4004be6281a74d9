//! An IP prefix (`10.52.12.1/32`, `2001:db8::/64`): parsing, normalisation and display.
//!
//! Parsing follows Python's `ipaddress.ip_network(x)` (strict), which is what upstream
//! validates with: host bits must be zero and a missing length means a host prefix. Two
//! spellings of one network (`10.0.0.1` and `10.0.0.1/32`, or IPv6 in upper case or
//! uncompressed) compare equal and display the same, normalised way.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The IP version of a prefix; also picks the Bird file a prefix belongs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    /// 4 or 6: the label of metrics and the status file (`Display` says `IPv4`).
    pub fn number(self) -> u8 {
        match self {
            IpVersion::V4 => 4,
            IpVersion::V6 => 6,
        }
    }
}

impl fmt::Display for IpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpVersion::V4 => "IPv4",
            IpVersion::V6 => "IPv6",
        })
    }
}

/// A network address with its prefix length, host bits all zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

/// Why a string is not an IP prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefixError {
    /// Not an address, or the length is not a number in range.
    Malformed,
    /// A valid address and length, but bits beyond the length are set (`10.0.0.1/24`).
    HostBitsSet,
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrefixError::Malformed => "not an IP prefix in the form ip/prefixlen",
            PrefixError::HostBitsSet => {
                "host bits are set: the address is not the network address for that length"
            }
        })
    }
}

impl std::error::Error for PrefixError {}

impl IpPrefix {
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    pub fn version(&self) -> IpVersion {
        match self.addr {
            IpAddr::V4(_) => IpVersion::V4,
            IpAddr::V6(_) => IpVersion::V6,
        }
    }

    /// One of the two prefixes holds the other (`10.0.0.0/8` and `10.52.12.1/32`).
    pub fn overlaps(&self, other: &IpPrefix) -> bool {
        let shorter = self.len.min(other.len);
        self.version() == other.version() && masked(self.addr, shorter) == masked(other.addr, shorter)
    }
}

impl FromStr for IpPrefix {
    type Err = PrefixError;

    fn from_str(text: &str) -> Result<Self, PrefixError> {
        let (addr_text, len_text) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| PrefixError::Malformed)?;
        let max_len = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let len = match (len_text, addr) {
            (None, _) => max_len,
            (Some(len), _) if len.bytes().all(|b| b.is_ascii_digit()) => parse_prefix_len(len, max_len)?,
            // Python's ip_network takes an IPv4 netmask or hostmask in place of a length.
            (Some(mask), IpAddr::V4(_)) => length_of_mask(mask)?,
            (Some(_), IpAddr::V6(_)) => return Err(PrefixError::Malformed),
        };
        if masked(addr, len) != addr {
            return Err(PrefixError::HostBitsSet);
        }
        Ok(IpPrefix { addr, len })
    }
}

/// A decimal length of ASCII digits, with no sign and no spaces; leading zeros are
/// fine (`/08`), as Python's `ip_network` takes them.
fn parse_prefix_len(text: &str, max_len: u8) -> Result<u8, PrefixError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PrefixError::Malformed);
    }
    let digits = text.trim_start_matches('0');
    match digits.parse::<u8>() {
        Ok(len) if len <= max_len => Ok(len),
        Err(_) if digits.is_empty() => Ok(0),
        _ => Err(PrefixError::Malformed),
    }
}

/// The length an IPv4 netmask (`255.255.0.0`: ones, then zeros) or, failing that, a
/// hostmask (`0.0.255.255`: zeros, then ones) stands for, as Python reads them.
fn length_of_mask(text: &str) -> Result<u8, PrefixError> {
    let mask = u32::from(text.parse::<Ipv4Addr>().map_err(|_| PrefixError::Malformed)?);
    let ones_then_zeros = |bits: u32| bits.leading_ones() + bits.trailing_zeros() == 32;
    if ones_then_zeros(mask) {
        Ok(mask.leading_ones() as u8)
    } else if ones_then_zeros(!mask) {
        Ok(mask.leading_zeros() as u8)
    } else {
        Err(PrefixError::Malformed)
    }
}

/// `addr` with every bit beyond the first `len` cleared.
fn masked(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

impl fmt::Display for IpPrefix {
    /// Always with the length; IPv6 in lower case and compressed (RFC 5952).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> IpPrefix {
        text.parse().expect(text)
    }

    #[test]
    fn a_bare_address_is_a_host_prefix() {
        assert_eq!(p("10.0.0.1"), p("10.0.0.1/32"));
        assert_eq!(p("10.0.0.1").to_string(), "10.0.0.1/32");
        assert_eq!(p("2001:db8::5").to_string(), "2001:db8::5/128");
    }

    #[test]
    fn ipv6_spellings_normalise_to_one_form() {
        assert_eq!(p("2001:DB8::1/128"), p("2001:db8:0:0:0:0:0:1/128"));
        assert_eq!(p("2001:0DB8:0000::0001/128").to_string(), "2001:db8::1/128");
    }

    #[test]
    fn networks_of_any_length_are_accepted_like_upstream() {
        assert_eq!(p("10.0.0.0/24").prefix_len(), 24);
        assert_eq!(p("2001:db8::/64").version(), IpVersion::V6);
        assert_eq!(p("0.0.0.0/0").to_string(), "0.0.0.0/0");
    }

    #[test]
    fn every_form_pythons_ip_network_takes_is_taken() {
        // (as written, as the Bird file has it): what `ipaddress.ip_network` answers.
        let cases = [
            ("10.0.0.0/255.0.0.0", "10.0.0.0/8"),
            ("10.0.0.0/0.255.255.255", "10.0.0.0/8"),
            ("10.52.12.1/255.255.255.255", "10.52.12.1/32"),
            ("0.0.0.0/0.0.0.0", "0.0.0.0/0"),
            ("10.0.0.0/08", "10.0.0.0/8"),
            ("10.0.0.1/032", "10.0.0.1/32"),
            ("2001:db8::/032", "2001:db8::/32"),
        ];
        for (written, normal) in cases {
            assert_eq!(p(written).to_string(), normal, "{written}");
        }
        assert_eq!("10.0.0.0/0.0.0.0".parse::<IpPrefix>(), Err(PrefixError::HostBitsSet), "/0, as Python");
    }

    #[test]
    fn host_bits_are_rejected() {
        assert_eq!("10.0.0.1/24".parse::<IpPrefix>(), Err(PrefixError::HostBitsSet));
        assert_eq!("2001:db8::5/64".parse::<IpPrefix>(), Err(PrefixError::HostBitsSet));
    }

    #[test]
    fn prefixes_overlap_when_one_holds_the_other() {
        let p = |text: &str| text.parse::<IpPrefix>().unwrap();
        // (a, b, overlap)
        let cases = [
            ("10.0.0.0/8", "10.52.12.1/32", true),
            ("10.52.12.1/32", "10.0.0.0/8", true),
            ("10.52.12.1/32", "10.52.12.1/32", true),
            ("10.52.12.1/32", "10.52.12.2/32", false),
            ("10.52.12.0/24", "10.52.13.0/24", false),
            ("0.0.0.0/0", "192.0.2.1/32", true),
            ("fd00::/8", "fd12::1/128", true),
            ("::/0", "10.0.0.0/8", false),
        ];
        for (a, b, overlap) in cases {
            assert_eq!(p(a).overlaps(&p(b)), overlap, "{a} {b}");
        }
    }

    #[test]
    fn malformed_text_is_rejected() {
        for bad in [
            "",
            "10.0.0.300/32",
            "10.0.0.1/33",
            "10.0.0.1/",
            "10.0.0.1/+3",
            "10.0.0.0/255.0.255.0",
            "10.0.0.0/ 8",
            "2001:db8::/ffff::",
            "10.0.0.1/3 ",
            " 10.0.0.1",
            "010.0.0.1",
            "::1/129",
            "foo",
            "10.0.0.1/32/1",
        ] {
            assert_eq!(bad.parse::<IpPrefix>(), Err(PrefixError::Malformed), "{bad:?}");
        }
    }
}
