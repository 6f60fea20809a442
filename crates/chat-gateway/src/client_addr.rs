//! Who the client is behind trusted reverse proxies (`--trusted-proxies`):
//! the address the per-address limits count, for sockets (their handshake)
//! and for HTTP uploads alike.

/// The client's address: the TCP peer, unless the peer is one of the
/// trusted proxies (`--trusted-proxies`). Then `X-Forwarded-For` is read from
/// its right end (the entry the nearest proxy added), skipping the trusted
/// proxies' own entries, and the first address that is not a trusted proxy
/// is the client; without a usable `X-Forwarded-For`, `X-Real-IP`. Headers
/// from any other peer are ignored: anyone can write them.
pub(crate) fn client_ip(
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &crate::config::TrustedProxies,
) -> std::net::IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(&peer) {
        return peer;
    }
    let parse = |s: &str| {
        s.trim()
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| ip.to_canonical())
    };
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut leftmost = None;
    for entry in forwarded.iter().rev() {
        let Some(ip) = parse(entry) else {
            // Garbage in the chain: what is left of it is not to be trusted.
            break;
        };
        if !trusted.contains(&ip) {
            return ip;
        }
        leftmost = Some(ip);
    }
    if let Some(ip) = leftmost {
        return ip;
    }
    headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(parse)
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(s: &str) -> crate::config::TrustedProxies {
        let c = <crate::config::Config as clap::Parser>::try_parse_from([
            "seitech-chat",
            "--trusted-proxies",
            s,
        ])
        .unwrap();
        c.trusted_proxies
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let t = trusted("127.0.0.1/32, 10.0.0.0/8");
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-real-ip", "198.51.100.1"),
        ]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("203.0.113.9"));
        assert_eq!(
            client_ip(ip("192.0.2.7"), &h, &t),
            ip("192.0.2.7"),
            "an untrusted peer's headers are ignored"
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), &h, &trusted("")),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_chain_is_read_from_the_nearest_proxy() {
        let t = trusted("127.0.0.1,10.0.0.0/8");
        // The client wrote "1.1.1.1" itself; nginx appended its real address.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.1.2.3")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("203.0.113.9"));
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("203.0.113.9"));
        let h = headers(&[("x-forwarded-for", "garbage, 10.0.0.5")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("10.0.0.5"));
        let h = headers(&[("x-real-ip", "203.0.113.10")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("203.0.113.10"));
        let h = headers(&[("x-real-ip", "nonsense")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("127.0.0.1"));
        assert_eq!(
            client_ip(
                ip("::ffff:127.0.0.1"),
                &headers(&[("x-real-ip", "203.0.113.10")]),
                &t
            ),
            ip("203.0.113.10"),
            "an IPv4-mapped peer is its IPv4 address"
        );
    }
}
