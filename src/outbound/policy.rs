//! Which addresses outbound webhook and media requests may reach.
//!
//! Webhook URLs come from API callers, so without a policy anyone with credentials could make
//! the server call its own network (metadata services, admin ports). The policy is checked on
//! the addresses actually connected to: IP-literal hosts before the request (see the client),
//! hostnames after resolution by [`PolicyResolver`], so DNS cannot smuggle a private address in.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Which destinations outbound webhook/media requests may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressPolicy {
    /// Everything (default; local development calls loopback receivers).
    #[default]
    AllowAll,
    /// Public addresses only: no loopback, private, link-local, CGNAT, unspecified, multicast,
    /// broadcast, reserved or documentation ranges, nor IPv4-mapped or NAT64 forms of those.
    PublicOnly,
    /// Loopback and public, but no private/link-local or other non-public ranges (a laptop setup).
    NoPrivate,
    /// This machine only (127.0.0.0/8, ::1): for test suites and sandboxes, which must never
    /// reach out to arbitrary URLs an API client (or a fuzzer) puts in a request. Host names
    /// other than `localhost` are refused before any DNS lookup.
    LoopbackOnly,
}

/// What an address is, as far as the policies care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    Loopback,
    /// Private, unique-local, link-local, CGNAT: someone's internal network.
    Private,
    /// Unspecified, multicast, broadcast, reserved, documentation, benchmarking: never a real peer.
    Special,
}

impl AddressPolicy {
    /// Parses a policy name: `allow-all`, `public-only`, `no-private` or `loopback-only`.
    pub fn parse(s: &str) -> Option<AddressPolicy> {
        match s {
            "allow-all" => Some(AddressPolicy::AllowAll),
            "public-only" => Some(AddressPolicy::PublicOnly),
            "no-private" => Some(AddressPolicy::NoPrivate),
            "loopback-only" => Some(AddressPolicy::LoopbackOnly),
            _ => None,
        }
    }

    /// The policy's name, as [`AddressPolicy::parse`] accepts it.
    pub fn as_str(&self) -> &'static str {
        match self {
            AddressPolicy::AllowAll => "allow-all",
            AddressPolicy::PublicOnly => "public-only",
            AddressPolicy::NoPrivate => "no-private",
            AddressPolicy::LoopbackOnly => "loopback-only",
        }
    }

    /// Whether a host name may be resolved at all (loopback-only allows just `localhost`).
    pub fn allows_host_name(&self, host: &str) -> bool {
        match self {
            AddressPolicy::LoopbackOnly => host.eq_ignore_ascii_case("localhost"),
            _ => true,
        }
    }

    /// Whether the server may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        match self {
            AddressPolicy::AllowAll => true,
            AddressPolicy::PublicOnly => classify(ip) == Class::Public,
            AddressPolicy::NoPrivate => matches!(classify(ip), Class::Public | Class::Loopback),
            AddressPolicy::LoopbackOnly => classify(ip) == Class::Loopback,
        }
    }
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_private() || ip.is_link_local() || (a == 100 && b & 0xc0 == 64) {
        // 10/8, 172.16/12, 192.168/16, 169.254/16, and CGNAT 100.64/10 (a provider's internal net).
        Class::Private
    } else if [
        a == 0,                     // "this network", incl. 0.0.0.0 (which Linux connects to localhost)
        ip.is_multicast(),          // 224/4
        a >= 240,                   // reserved 240/4, incl. broadcast 255.255.255.255
        ip.is_documentation(),      // 192.0.2/24, 198.51.100/24, 203.0.113/24
        (a, b, c) == (192, 0, 0),   // IETF protocol assignments
        a == 198 && b & 0xfe == 18, // benchmarking 198.18/15
    ]
    .contains(&true)
    {
        Class::Special
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    // A v6 socket reaches an IPv4-mapped address over IPv4, so it is whatever its IPv4 part is.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) translates to the embedded IPv4 address: judge that one.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return classify_v4(Ipv4Addr::new(a, b, c, d));
    }
    if ip.is_loopback() {
        Class::Loopback
    } else if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfe80 || s[0] & 0xffc0 == 0xfec0 {
        // Unique-local fc00::/7, link-local fe80::/10, deprecated site-local fec0::/10.
        Class::Private
    } else if [
        s[..6] == [0; 6],                 // ::/96: unspecified, deprecated IPv4-compatible
        ip.is_multicast(),                // ff00::/8
        (s[0], s[1]) == (0x2001, 0x0db8), // documentation 2001:db8::/32
        s[0] & 0xfff0 == 0x3ff0,          // documentation 3fff::/20
        s[..4] == [0x0100, 0, 0, 0],      // discard-only 100::/64
    ]
    .contains(&true)
    {
        Class::Special
    } else {
        Class::Public
    }
}

/// The error of a resolution whose addresses the policy all forbids.
#[derive(Debug, thiserror::Error)]
#[error("address not allowed by policy {policy}: {host} resolves only to forbidden addresses")]
pub struct NotAllowed {
    /// The name that was resolved.
    pub host: String,
    /// The policy that refused it.
    pub policy: &'static str,
}

/// A reqwest DNS resolver that drops the addresses the policy forbids, failing with
/// [`NotAllowed`] if none remain.
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    policy: AddressPolicy,
}

impl PolicyResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: AddressPolicy) -> PolicyResolver {
        PolicyResolver { policy }
    }
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port (or the scheme's default) in afterwards.
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved.iter().copied().filter(|a| policy.allows(a.ip())).collect();
            if allowed.len() < resolved.len() {
                tracing::debug!(%host, dropped = resolved.len() - allowed.len(), policy = policy.as_str(),
                    "dropped resolved addresses the policy forbids");
            }
            if allowed.is_empty() {
                return Err(NotAllowed { host, policy: policy.as_str() }.into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const PUBLIC: &[&str] = &[
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "100.63.255.255",
        "100.128.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.167.255.255",
        "198.17.255.255",
        "198.20.0.0",
        "223.255.255.255",
        "2606:4700:4700::1111",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
    ];
    const LOOPBACK: &[&str] = &["127.0.0.1", "127.255.255.254", "::1", "::ffff:127.0.0.1"];
    const PRIVATE: &[&str] = &[
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.255",
        "fc00::1",
        "fd12:3456:789a::1",
        "fe80::1",
        "febf::1",
        "fec0::1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:192.168.0.1",
        "64:ff9b::a00:1",
    ];
    const SPECIAL: &[&str] = &[
        "0.0.0.0",
        "0.1.2.3",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "192.0.0.8",
        "198.18.0.1",
        "::",
        "::a00:1",
        "ff02::1",
        "ff05::2",
        "2001:db8::1",
        "3fff::1",
        "100::1",
        "::ffff:0.0.0.0",
        "::ffff:224.0.0.1",
        "::ffff:255.255.255.255",
        "::ffff:192.0.2.1",
    ];

    #[test]
    fn loopback_only_allows_this_machine_and_nothing_else() {
        let p = AddressPolicy::parse("loopback-only").unwrap();
        assert!(p.allows("127.0.0.1".parse().unwrap()));
        assert!(p.allows("::1".parse().unwrap()));
        assert!(!p.allows("10.0.0.1".parse().unwrap()));
        assert!(!p.allows("93.184.216.34".parse().unwrap()));
        assert!(p.allows_host_name("localhost") && !p.allows_host_name("example.com"));
        assert_eq!(p.as_str(), "loopback-only");
    }

    #[test]
    fn allow_all_allows_every_address() {
        for s in PUBLIC.iter().chain(LOOPBACK).chain(PRIVATE).chain(SPECIAL) {
            assert!(AddressPolicy::AllowAll.allows(ip(s)), "{s}");
        }
    }

    #[test]
    fn public_only_allows_exactly_public_addresses() {
        for s in PUBLIC {
            assert!(AddressPolicy::PublicOnly.allows(ip(s)), "{s} should be allowed");
        }
        for s in LOOPBACK.iter().chain(PRIVATE).chain(SPECIAL) {
            assert!(!AddressPolicy::PublicOnly.allows(ip(s)), "{s} should be refused");
        }
    }

    #[test]
    fn no_private_allows_public_and_loopback_only() {
        for s in PUBLIC.iter().chain(LOOPBACK) {
            assert!(AddressPolicy::NoPrivate.allows(ip(s)), "{s} should be allowed");
        }
        for s in PRIVATE.iter().chain(SPECIAL) {
            assert!(!AddressPolicy::NoPrivate.allows(ip(s)), "{s} should be refused");
        }
    }

    #[test]
    fn parse_accepts_the_four_names_and_round_trips() {
        for p in
            [AddressPolicy::AllowAll, AddressPolicy::PublicOnly, AddressPolicy::NoPrivate, AddressPolicy::LoopbackOnly]
        {
            assert_eq!(AddressPolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(AddressPolicy::parse("public-only"), Some(AddressPolicy::PublicOnly));
        for bad in ["", "Public-Only", "public_only", "allow", "none", " allow-all"] {
            assert_eq!(AddressPolicy::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn default_allows_all_and_deserializes_from_kebab_case() {
        assert_eq!(AddressPolicy::default(), AddressPolicy::AllowAll);
        #[derive(serde::Deserialize)]
        struct File {
            policy: AddressPolicy,
        }
        let f: File = toml::from_str("policy = \"no-private\"").unwrap();
        assert_eq!(f.policy, AddressPolicy::NoPrivate);
    }

    #[tokio::test]
    async fn resolver_refuses_a_name_that_resolves_only_to_forbidden_addresses() {
        let name: Name = "localhost".parse().unwrap();
        let err = match PolicyResolver::new(AddressPolicy::PublicOnly).resolve(name).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        assert!(err.to_string().contains("address not allowed by policy"), "{err}");
        assert!(err.downcast_ref::<NotAllowed>().is_some());
    }

    #[tokio::test]
    async fn resolver_keeps_allowed_addresses() {
        let name: Name = "localhost".parse().unwrap();
        let addrs: Vec<SocketAddr> =
            PolicyResolver::new(AddressPolicy::NoPrivate).resolve(name).await.unwrap().collect();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
