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

/// The client's address: the peer, or with `trust_forwarded_for` the first address of
/// `X-Forwarded-For` (set it only behind a proxy that writes that header).
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trust_forwarded_for: bool) -> IpAddr {
    if trust_forwarded_for {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    peer.ip()
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
        let peer: SocketAddr = "10.0.0.1:5000".parse().expect("addr");
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().expect("header"));
        assert_eq!(client_ip(peer, &headers, false).to_string(), "10.0.0.1");
        assert_eq!(client_ip(peer, &headers, true).to_string(), "203.0.113.7");
    }
}
