//! The shared rate limiter against a real Redis: one limit across two
//! instances sharing a prefix, keys that expire, and the fail-open rule
//! (Redis unreachable: the in-process limit holds, and no request fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use catalog_cache_memory::GovernorLimiter;
use catalog_cache_redis::RedisRateLimiter;
use catalog_cache_redis::rate_limit::RedisLimiterSettings;
use catalog_domain::{FailOpen, Quota, RateLimiter};
use catalog_http::{AppState, HttpConfig};
use common::{Prefix, TestApp, admin, uncached_service};
use deadpool_redis::redis;

fn quota(s: &str) -> Quota {
    Quota::parse(s).unwrap().unwrap()
}

fn limiter(url: &str, prefix: &str, q: Quota, timeout: Duration) -> RedisRateLimiter {
    RedisRateLimiter::new(
        RedisLimiterSettings {
            url: url.to_string(),
            prefix: prefix.to_string(),
            timeout,
            pool_size: 4,
        },
        q,
    )
    .unwrap()
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn the_redis_limit_holds_across_instances() {
    let Some(p) = Prefix::shared() else { return };
    // One request a minute, four at once: nothing refills during the test.
    let q = quota("1/m,burst=4");
    let timeout = Duration::from_secs(1);
    let a = limiter(&p.url, &p.prefix, q, timeout);
    let b = limiter(&p.url, &p.prefix, q, timeout);
    let mut remaining = Vec::new();
    for l in [&a, &b, &a, &b] {
        let d = l.check("ip:192.0.2.1").await.unwrap();
        assert!(d.allowed);
        remaining.push(d.remaining);
    }
    assert_eq!(remaining, [3, 2, 1, 0], "one budget for both instances");
    for l in [&a, &b] {
        let d = l.check("ip:192.0.2.1").await.unwrap();
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert!(
            d.retry_after > Duration::from_secs(50) && d.retry_after <= Duration::from_secs(60),
            "{:?}",
            d.retry_after
        );
        assert!(d.reset > Duration::from_secs(200) && d.reset <= Duration::from_secs(240));
    }
    // Another client has its own budget.
    assert!(b.check("ip:192.0.2.2").await.unwrap().allowed);
    // Keys live under the deployment's prefix and expire when the bucket
    // would be full again.
    let mut keys = p.keys();
    keys.sort();
    assert_eq!(
        keys,
        [
            format!("{}:rl:ip:192.0.2.1", p.prefix),
            format!("{}:rl:ip:192.0.2.2", p.prefix)
        ]
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query(&mut admin(&p.url).unwrap())
        .unwrap();
    assert!(ttl > 200_000 && ttl <= 241_000, "PTTL {ttl}");
}

#[tokio::test]
async fn redis_and_governor_count_alike() {
    let Some(p) = Prefix::shared() else { return };
    let q = quota("1/m,burst=3");
    let redis = limiter(&p.url, &p.prefix, q, Duration::from_secs(1));
    let local = GovernorLimiter::new(q);
    for _ in 0..5 {
        let (r, l) = (
            redis.check("sub:alice").await.unwrap(),
            local.check("sub:alice").await.unwrap(),
        );
        assert_eq!((r.allowed, r.remaining), (l.allowed, l.remaining));
        // Same standing, to within the time between the two checks.
        let close = |x: Duration, y: Duration| x.abs_diff(y) < Duration::from_secs(1);
        assert!(close(r.reset, l.reset), "{:?} vs {:?}", r.reset, l.reset);
        assert!(close(r.retry_after, l.retry_after));
    }
}

#[tokio::test]
async fn an_unreachable_redis_falls_back_to_the_in_process_limit() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let q = quota("1/m,burst=2");
    let dead = limiter(&url, "catalog_rl_test", q, Duration::from_millis(50));
    let t = Instant::now();
    assert!(dead.check("ip:192.0.2.1").await.is_err());
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "bounded by the timeout"
    );
    let limiter = FailOpen::new(Arc::new(dead), Arc::new(GovernorLimiter::new(q)));
    let t = Instant::now();
    let allowed: Vec<bool> =
        futures::future::join_all((0..3).map(|_| limiter.check("ip:192.0.2.1")))
            .await
            .into_iter()
            .map(|d| d.expect("never an error").allowed)
            .collect();
    assert_eq!(
        allowed.iter().filter(|a| **a).count(),
        2,
        "the local limit holds"
    );
    assert!(limiter.check("ip:192.0.2.2").await.unwrap().allowed);
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(limiter.failures() >= 1);

    // Through the app: answers and 429s as usual, never a 5xx.
    let dead = self::limiter(&url, "catalog_rl_test", q, Duration::from_millis(50));
    let state = AppState::new(
        uncached_service().await,
        HttpConfig {
            rate_limiter: Some(Arc::new(FailOpen::new(
                Arc::new(dead),
                Arc::new(GovernorLimiter::new(q)),
            ))),
            ..HttpConfig::default()
        },
    );
    let app = TestApp::with_state(state).await;
    let statuses: Vec<u16> = {
        let mut s = Vec::new();
        for _ in 0..3 {
            s.push(app.get("/api/v1/products/1").await.status.as_u16());
        }
        s
    };
    assert_eq!(statuses, [200, 200, 429]);
}
