//! Who the client is when calls come through proxies: the peer address,
//! unless the peer is a trusted proxy (the gateway, Envoy), in which case
//! the last address in `X-Forwarded-For` that is not one of our proxies.

use std::net::IpAddr;

use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed: addresses, or the
/// networks they come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Trusts `proxies`.
    pub fn new(proxies: impl IntoIterator<Item = IpNet>) -> Self {
        Self(proxies.into_iter().collect())
    }

    /// Whether `address` is one of the proxies. An IPv4 address written as
    /// IPv6 (`::ffff:10.0.0.1`, from a dual-stack listener) is the same.
    pub fn contains(&self, address: &IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client of a call from `peer` carrying the `X-Forwarded-For`
    /// values `forwarded` (header or metadata, possibly comma-separated).
    pub fn client<'a>(&self, peer: IpAddr, forwarded: impl IntoIterator<Item = &'a str>) -> IpAddr {
        if !self.contains(&peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = forwarded
            .into_iter()
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        // Walk back past our own proxies to the first untrusted hop.
        hops.iter()
            .rev()
            .find(|a| !self.contains(a))
            .copied()
            .unwrap_or(peer)
    }

    /// The client of a gRPC call (its `x-forwarded-for` metadata).
    pub fn grpc_client<T>(&self, request: &tonic::Request<T>) -> Option<IpAddr> {
        let peer = request.remote_addr()?.ip();
        let forwarded = request
            .metadata()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Some(self.client(peer, forwarded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxy = ip("10.0.0.1");
        let trusted = TrustedProxies::new([proxy.into()]);
        assert_eq!(TrustedProxies::default().client(proxy, ["1.2.3.4"]), proxy);
        assert_eq!(trusted.client(proxy, ["1.2.3.4, 10.0.0.1"]), ip("1.2.3.4"));
        assert_eq!(trusted.client(proxy, ["9.9.9.9, 1.2.3.4"]), ip("1.2.3.4"));
        assert_eq!(trusted.client(proxy, ["garbage"]), proxy);
        assert_eq!(trusted.client(ip("5.5.5.5"), ["1.2.3.4"]), ip("5.5.5.5"));
    }

    #[test]
    fn a_network_trusts_every_address_in_it() {
        let pods = TrustedProxies::new(["10.244.0.0/16".parse::<IpNet>().expect("net")]);
        assert_eq!(pods.client(ip("10.244.3.7"), ["1.2.3.4"]), ip("1.2.3.4"));
        assert_eq!(
            pods.client(ip("::ffff:10.244.3.7"), ["1.2.3.4, 10.244.9.9"]),
            ip("1.2.3.4")
        );
        assert_eq!(pods.client(ip("10.245.0.1"), ["1.2.3.4"]), ip("10.245.0.1"));
    }
}
