//! The client address of a request: the TCP peer, or, when the peer is a configured trusted
//! proxy (`COSTLINE_TRUSTED_PROXIES`), the nearest untrusted hop of `X-Forwarded-For`.
//!
//! Without the setting the header is ignored: anyone can send it, and believing it would let a
//! client choose the address its rate limits and audit records are kept under.

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `COSTLINE_TRUSTED_PROXIES` entry that is neither an address nor a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("COSTLINE_TRUSTED_PROXIES: {0:?} is not an IP address or CIDR block: list the proxies' addresses, comma-separated, e.g. 10.0.0.0/8,192.0.2.10")]
pub struct TrustedProxiesError(pub String);

impl FromStr for TrustedProxies {
    type Err = TrustedProxiesError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| TrustedProxiesError(entry.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }
}

impl TrustedProxies {
    /// Whether no proxy is trusted (the header is never read).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client behind `peer`: `peer` itself unless it is trusted; then, walking
    /// `X-Forwarded-For` from the right (the hop nearest to us), the first address that is not
    /// a trusted proxy. An unreadable hop stops the walk at the last trusted one.
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let mut client = peer;
        if !self.trusts(&client) {
            return client;
        }
        let hops = forwarded_for
            .iter()
            .flat_map(|h| h.split(','))
            .map(str::trim)
            .rev();
        for hop in hops {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.trusts(&ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }
}

/// The client address of a request (see the module documentation).
pub(crate) fn of_request(parts: &Parts, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())?;
    if trusted.is_empty() {
        return Some(peer);
    }
    let headers: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    Some(trusted.client(peer, &headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_header_is_believed_only_from_a_trusted_proxy() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("10.0.0.5"), &["203.0.113.9"]),
            ip("10.0.0.5")
        );
        let trusted: TrustedProxies = "10.0.0.0/8, 192.0.2.10".parse().unwrap();
        assert_eq!(
            trusted.client(ip("198.51.100.1"), &["203.0.113.9"]),
            ip("198.51.100.1"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &["203.0.113.9"]),
            ip("203.0.113.9")
        );
        // A client cannot hide behind a forged left part: the nearest untrusted hop counts.
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &["1.2.3.4, 203.0.113.9", "192.0.2.10"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &["garbage, 10.1.1.1"]),
            ip("10.1.1.1"),
            "an unreadable hop stops the walk at the last trusted one"
        );
        assert_eq!(trusted.client(ip("10.0.0.5"), &[]), ip("10.0.0.5"));
    }

    #[test]
    fn bad_entries_are_named() {
        let err = "10.0.0.0/8,proxy.internal"
            .parse::<TrustedProxies>()
            .unwrap_err();
        assert!(err.to_string().contains("proxy.internal"), "{err}");
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
    }
}
