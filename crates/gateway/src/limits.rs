//! Rate limits: token buckets keyed by client IP or conversation, and the page-origin
//! allowlist of the visitor WebSocket.
//!
//! The bucket table is bounded: when it is full, buckets that have refilled completely (their
//! client has been quiet) are dropped first, then the oldest.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

/// Refill rate and burst of one kind of bucket.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Most actions at once.
    pub burst: u32,
    /// One more action allowed per this interval.
    pub every: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets by key.
#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    max_keys: usize,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter with `rate`, tracking at most `max_keys` clients.
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        Self { rate, max_keys: max_keys.max(1), buckets: Mutex::new(HashMap::new()) }
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let earned =
            now.duration_since(bucket.updated).as_secs_f64() / self.rate.every.as_secs_f64().max(1e-9);
        bucket.tokens = (bucket.tokens + earned).min(f64::from(self.rate.burst));
        bucket.updated = now;
    }

    /// Takes one token for `key`; `false` when the key has none left.
    pub fn allow(&self, key: &str) -> bool {
        self.allow_at(key, Instant::now())
    }

    fn allow_at(&self, key: &str, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !buckets.contains_key(key) && buckets.len() >= self.max_keys {
            self.evict(&mut buckets, now);
        }
        let bucket = buckets
            .entry(key.to_owned())
            .or_insert(Bucket { tokens: f64::from(self.rate.burst), updated: now });
        self.refill(bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn evict(&self, buckets: &mut HashMap<String, Bucket>, now: Instant) {
        let full = f64::from(self.rate.burst);
        buckets.retain(|_, bucket| {
            let mut copy = *bucket;
            self.refill(&mut copy, now);
            copy.tokens < full
        });
        if buckets.len() >= self.max_keys {
            if let Some(oldest) = buckets.iter().min_by_key(|(_, b)| b.updated).map(|(k, _)| k.clone()) {
                buckets.remove(&oldest);
            }
        }
    }
}

/// A network of addresses (`10.0.0.0/8`, or one address): where trusted proxies are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for IpNetwork {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, prefix) = text.trim().split_once('/').map_or((text.trim(), None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = addr.parse().map_err(|e| format!("{text:?} is not an address or network: {e}"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => {
                p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("{text:?}: bad prefix"))?
            }
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

impl IpNetwork {
    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The proxies trusted when none are configured: loopback and the private ranges, where a
/// reverse proxy or load balancer in front of the server sits.
pub fn default_trusted_proxies() -> Vec<IpNetwork> {
    ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// The client's address. Without `trust_forwarded_for`, the peer. With it, and the peer one of
/// the `trusted_proxies`, the right-most address of `X-Forwarded-For` that is not a trusted
/// proxy: each proxy appends the address it saw, so the entries left of the nearest untrusted
/// one were written by the client and prove nothing. A header that does not parse is ignored.
pub fn client_ip(
    peer: SocketAddr,
    headers: &HeaderMap,
    trust_forwarded_for: bool,
    trusted_proxies: &[IpNetwork],
) -> IpAddr {
    let peer = peer.ip().to_canonical();
    let trusted = |ip: IpAddr| trusted_proxies.iter().any(|n| n.contains(ip));
    if !trust_forwarded_for || !trusted(peer) {
        return peer;
    }
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else { return peer };
        for hop in value.split(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(ip.to_canonical()),
                Err(_) => return peer,
            }
        }
    }
    hops.iter().rev().copied().find(|ip| !trusted(*ip)).or(hops.first().copied()).unwrap_or(peer)
}

/// Whether a page origin may open the visitor WebSocket: any origin when the allowlist is
/// empty, otherwise an exact match (`https://shop.example`). Requests without an `Origin`
/// header are not from a browser page and are allowed.
pub fn origin_allowed(allowlist: &[String], headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else { return true };
    allowlist.is_empty()
        || origin.to_str().is_ok_and(|origin| allowlist.iter().any(|a| a.eq_ignore_ascii_case(origin)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills() {
        let limiter = RateLimiter::new(Rate { burst: 3, every: Duration::from_secs(1) }, 100);
        let start = Instant::now();
        assert!((0..3).all(|_| limiter.allow_at("a", start)));
        assert!(!limiter.allow_at("a", start), "the burst is spent");
        assert!(limiter.allow_at("b", start), "other keys have their own bucket");
        assert!(limiter.allow_at("a", start + Duration::from_millis(1_100)), "one token back after a second");
        assert!(!limiter.allow_at("a", start + Duration::from_millis(1_200)));
    }

    #[test]
    fn the_table_stays_bounded() {
        let limiter = RateLimiter::new(Rate { burst: 2, every: Duration::from_secs(60) }, 10);
        let now = Instant::now();
        for i in 0..1_000 {
            limiter.allow_at(&format!("ip{i}"), now);
        }
        assert!(limiter.buckets.lock().expect("lock").len() <= 10);
    }

    #[test]
    fn origins_match_exactly() {
        let mut headers = HeaderMap::new();
        assert!(origin_allowed(&["https://shop.example".into()], &headers), "no Origin: not a browser page");
        headers.insert(axum::http::header::ORIGIN, "https://shop.example".parse().expect("header"));
        assert!(origin_allowed(&["https://shop.example".into()], &headers));
        assert!(origin_allowed(&[], &headers), "an empty allowlist allows every origin");
        headers.insert(axum::http::header::ORIGIN, "https://shop.example.evil.test".parse().expect("header"));
        assert!(!origin_allowed(&["https://shop.example".into()], &headers));
    }

    #[test]
    fn forwarded_for_is_used_only_when_trusted() {
        let proxies = default_trusted_proxies();
        let peer: SocketAddr = "10.0.0.1:5000".parse().expect("addr");
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().expect("header"));
        assert_eq!(client_ip(peer, &headers, false, &proxies).to_string(), "10.0.0.1");
        assert_eq!(client_ip(peer, &headers, true, &proxies).to_string(), "203.0.113.7");
    }

    #[test]
    fn the_entries_a_client_writes_into_forwarded_for_are_not_believed() {
        let proxies = default_trusted_proxies();
        let nginx: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        // The client wrote the first entry; the proxy appended the address it saw.
        let seen: Vec<String> = (0..40)
            .map(|n| {
                let mut headers = HeaderMap::new();
                let forwarded = format!("198.51.100.{n}, 203.0.113.7");
                headers.insert("x-forwarded-for", forwarded.parse().expect("header"));
                client_ip(nginx, &headers, true, &proxies).to_string()
            })
            .collect();
        assert!(seen.iter().all(|ip| ip == "203.0.113.7"), "{seen:?}");
        // Two proxies: the right-most untrusted hop is the client.
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.1.1.1, 203.0.113.7, 10.1.2.3".parse().expect("header"));
        assert_eq!(client_ip(nginx, &headers, true, &proxies).to_string(), "203.0.113.7");
        // A peer that is no proxy of ours cannot speak for anyone else.
        let stranger: SocketAddr = "192.0.2.50:5000".parse().expect("addr");
        assert_eq!(client_ip(stranger, &headers, true, &proxies).to_string(), "192.0.2.50");
        // Garbage in the header: the peer.
        headers.insert("x-forwarded-for", "1.1.1.1, not-an-ip".parse().expect("header"));
        assert_eq!(client_ip(nginx, &headers, true, &proxies).to_string(), "127.0.0.1");
        // A configured list replaces the default.
        let only: Vec<IpNetwork> = vec!["127.0.0.1".parse().expect("net")];
        headers.insert("x-forwarded-for", "203.0.113.7, 10.1.2.3".parse().expect("header"));
        assert_eq!(client_ip(nginx, &headers, true, &only).to_string(), "10.1.2.3");
    }

    #[test]
    fn networks_parse_and_contain_their_addresses() {
        let net: IpNetwork = "172.16.0.0/12".parse().expect("net");
        assert!(net.contains("172.31.255.1".parse().expect("ip")));
        assert!(!net.contains("172.32.0.1".parse().expect("ip")));
        let v6: IpNetwork = "fc00::/7".parse().expect("net");
        assert!(v6.contains("fd12::1".parse().expect("ip")));
        let one: IpNetwork = "::ffff:10.0.0.1".parse().expect("mapped");
        assert!(one.contains("10.0.0.1".parse().expect("ip")));
        assert!("10.0.0.0/33".parse::<IpNetwork>().is_err());
        assert!("nowhere".parse::<IpNetwork>().is_err());
    }
}
