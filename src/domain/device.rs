//! What a person recognises a session by (contract §12): a device label
//! from its user agent ("Firefox 133 on Linux") and the network of its
//! address. The pair (label, network) is what "a new device" means for the
//! new-device alert.

use std::net::IpAddr;

use woothee::parser::Parser;

use super::network::network;

/// The label of a user agent that cannot be told.
pub const UNKNOWN_DEVICE: &str = "Unknown device";

/// woothee's word for a part it could not tell.
const UNKNOWN: &str = "UNKNOWN";

/// "Firefox 133 on Linux", "Safari 17 on iPhone", "curl", or
/// [`UNKNOWN_DEVICE`]. Only woothee's own names make it into the label,
/// never text of the user agent, so it is safe to put in a message.
pub fn device_label(user_agent: Option<&str>) -> String {
    let Some(parsed) = user_agent.map(str::trim).filter(|ua| !ua.is_empty()).and_then(|ua| Parser::new().parse(ua))
    else {
        return UNKNOWN_DEVICE.to_string();
    };
    let known = |s: &str| !s.is_empty() && s != UNKNOWN;
    if !known(parsed.name) {
        return UNKNOWN_DEVICE.to_string();
    }
    // woothee names HTTP libraries (curl, wget, …) in `version`.
    if parsed.name == "HTTP Library" {
        return if known(parsed.version) { parsed.version.to_string() } else { UNKNOWN_DEVICE.to_string() };
    }
    let major = parsed.version.split('.').next().filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
    let browser = match major {
        Some(major) => format!("{} {major}", parsed.name),
        None => parsed.name.to_string(),
    };
    if known(parsed.os) { format!("{browser} on {}", parsed.os) } else { browser }
}

/// The network of a stored address in CIDR notation (IPv4 /24, IPv6 /64),
/// or `None` when there is no address (or it does not parse).
pub fn location_hint(ip: Option<&str>) -> Option<String> {
    ip.and_then(|ip| ip.parse::<IpAddr>().ok()).map(|ip| network(ip).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_are_named_with_their_major_version_and_system() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox 133 on Linux"),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                 Version/17.1 Mobile/15E148 Safari/604.1",
                "Safari 17 on iPhone",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36",
                "Chrome 131 on Windows 10",
            ),
            ("curl/8.5.0", "curl"),
        ];
        for (ua, label) in cases {
            assert_eq!(device_label(Some(ua)), label, "{ua}");
        }
    }

    #[test]
    fn what_cannot_be_told_is_an_unknown_device() {
        for ua in [None, Some(""), Some("   "), Some("shop-app/4.2"), Some("\u{0}\u{1}")] {
            assert_eq!(device_label(ua), UNKNOWN_DEVICE, "{ua:?}");
        }
    }

    #[test]
    fn location_hints_are_the_24_and_the_64() {
        assert_eq!(location_hint(Some("203.0.113.9")).as_deref(), Some("203.0.113.0/24"));
        assert_eq!(location_hint(Some("2001:db8:1:2:aaaa::1")).as_deref(), Some("2001:db8:1:2::/64"));
        assert_eq!(location_hint(None), None);
        assert_eq!(location_hint(Some("not an address")), None);
    }
}
