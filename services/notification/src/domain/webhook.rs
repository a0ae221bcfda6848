//! Webhook endpoints: which URLs may be called (SSRF), their secrets, and
//! the Standard Webhooks signature.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use ipnet::IpNet;
use rand::RngCore as _;
use reqwest::Url;
use sha2::Sha256;

/// The longest endpoint URL.
pub const MAX_URL_CHARS: usize = 2_000;
/// The prefix of a secret (Standard Webhooks).
const SECRET_PREFIX: &str = "whsec_";

/// Where webhooks may go: HTTPS to public addresses, unless the operator
/// allows plain HTTP or some networks.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Whether `http://` URLs are accepted.
    pub allow_http: bool,
    /// Networks allowed although not public (a lab, the tests).
    pub allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// Checks a URL's form: absolute, `https` (or allowed `http`), a host,
    /// no credentials.
    pub fn check_url(&self, raw: &str) -> Result<Url, String> {
        if raw.chars().count() > MAX_URL_CHARS {
            return Err(format!("must be at most {MAX_URL_CHARS} characters"));
        }
        let url = Url::parse(raw).map_err(|e| format!("is not a URL: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err("must be https://".into()),
            other => return Err(format!("must be https://, not {other}://")),
        }
        if url.host().is_none() {
            return Err("has no host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".into());
        }
        if let Some(ip) = literal_ip(&url) {
            self.check_ip(ip)?;
        }
        Ok(url)
    }

    /// Refuses addresses that are not public, unless allowed.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        if self.allowed.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match forbidden(ip) {
            Some(why) => Err(format!("{ip} is a {why} address")),
            None => Ok(()),
        }
    }

    /// Resolves the URL's host and checks every address it has (a name with
    /// one private address is refused). The answer does not say what the
    /// name resolved to, or whether it resolved: callers must not learn the
    /// internal network's names through it.
    pub async fn check_resolved(&self, url: &Url) -> Result<(), String> {
        if let Some(ip) = literal_ip(url) {
            return self.check_ip(ip);
        }
        let host = url.host_str().ok_or("has no host")?;
        let port = url.port_or_known_default().unwrap_or(443);
        let refused = || format!("{host} must resolve to public addresses only");
        let addresses: Vec<IpAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| refused())?
            .map(|a| a.ip())
            .collect();
        if addresses.is_empty() || addresses.into_iter().any(|ip| self.check_ip(ip).is_err()) {
            return Err(refused());
        }
        Ok(())
    }
}

/// The URL's host when it is an IP address.
pub fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// Why an address is not a public one, if it is not.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local (cloud metadata)")
            } else if o[0] == 100 && (64..128).contains(&o[1]) {
                Some("shared (carrier-grade NAT)")
            } else if v4.is_unspecified() || o[0] == 0 {
                Some("unspecified")
            } else if v4.is_broadcast() || v4.is_multicast() || o[0] >= 240 {
                Some("broadcast, multicast or reserved")
            } else if v4.is_documentation() || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) {
                Some("documentation or benchmarking")
            } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
                Some("protocol assignment")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if first & 0xfe00 == 0xfc00 {
                Some("unique local (private)")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if first == 0x2001 && v6.segments()[1] == 0x0db8 {
                Some("documentation")
            } else if first == 0x0064 && v6.segments()[1] == 0xff9b {
                Some("NAT64 (may reach private IPv4)")
            } else {
                None
            }
        }
    }
}

/// A new endpoint secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut key = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The `webhook-signature` header value for a message (`v1,` and the
/// base64 HMAC-SHA256 of `id.timestamp.body` under the secret's key).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> anyhow::Result<String> {
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn only_public_addresses_pass_unless_a_network_is_allowed() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::",
        ] {
            assert!(forbidden(ip(bad)).is_some(), "{bad} must be refused");
        }
        for good in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(forbidden(ip(good)).is_none(), "{good} is public");
        }
        let lab = AddressPolicy {
            allow_http: true,
            allowed: vec!["127.0.0.0/8".parse().expect("net")],
        };
        assert!(lab.check_ip(ip("127.0.0.1")).is_ok());
        assert!(lab.check_ip(ip("10.0.0.1")).is_err());
    }

    #[test]
    fn urls_must_be_https_with_a_host_and_no_credentials() {
        let strict = AddressPolicy::default();
        assert!(strict.check_url("https://hooks.example.com/in").is_ok());
        for bad in [
            "http://hooks.example.com/in",
            "ftp://hooks.example.com/in",
            "https://user:pw@hooks.example.com/",
            "https://127.0.0.1/in",
            "https://[::1]:8443/in",
            "https://169.254.169.254/latest/meta-data",
            "not a url",
        ] {
            assert!(strict.check_url(bad).is_err(), "{bad} must be refused");
        }
        assert!(
            strict
                .check_url(&format!("https://a.example/{}", "x".repeat(2_000)))
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused() {
        let strict = AddressPolicy::default();
        let url = strict.check_url("https://localhost/in").expect("form");
        assert!(strict.check_resolved(&url).await.is_err());
    }

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let signature =
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body).expect("sign");
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(new_secret().starts_with("whsec_"));
    }
}
