//! Traffic limits at the edge: the per-client rate limit (429 with the
//! IETF `RateLimit` headers) and the request deadline (503).
//!
//! Load shedding is not here: whether a request is expensive is only known
//! once it missed the cache, so the service bounds it where it computes a
//! miss (`CatalogService::with_inflight_limit`), and its refusal reaches
//! the edge as an error like any other.
//!
//! # Who is a client
//! The peer's address, or, when the peer is one of the trusted proxies
//! (`CATALOG_TRUSTED_PROXIES`), the first address of `X-Forwarded-For`
//! that is not a trusted proxy, walking from the right (the hops a client
//! cannot forge). IPv6 clients are counted by their /64, which one
//! subscriber usually holds whole. A write bearing a valid token is
//! counted against the token's subject instead, whatever its address.
//!
//! # Headers
//! draft-ietf-httpapi-ratelimit-headers-08 (structured fields), one policy
//! named `default`: `RateLimit-Policy: "default";q=<burst>;w=<seconds to
//! refill the burst>` and `RateLimit: "default";r=<remaining>;t=<seconds
//! until full again>`, on every response of a limited route.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, ResponseError, web};
use catalog_domain::rate_limit::ceil_secs;
use catalog_domain::{Decision, Quota};
use ipnet::IpNet;

use crate::error::ApiError;
use crate::state::{AppState, HttpConfig};

pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// `CATALOG_TRUSTED_PROXIES`: addresses and networks whose
/// `X-Forwarded-For` is believed. Empty (the default): the header is
/// ignored, never trusted blindly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma list of addresses (`10.0.0.7`, `::1`) and networks
    /// (`10.0.0.0/8`); the error names the entry that is neither.
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("'{s}' is not an IP address or network like 10.0.0.0/8"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        let ip = canonical(*ip);
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, as dual-stack sockets
/// report IPv4 peers) as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port or in
/// brackets.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let e = entry.trim();
    e.parse::<IpAddr>()
        .ok()
        .or_else(|| e.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            e.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
        .map(canonical)
}

/// The client's address: the peer, or the first untrusted hop of
/// `X-Forwarded-For` when the peer is a trusted proxy. `None` when the
/// peer is unknown (a Unix socket, a test request).
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = canonical(peer?);
    if trusted.is_empty() || !trusted.contains(&peer) {
        return Some(peer);
    }
    // Every header line, in order, as one list; walk it from the right.
    let hops: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // A malformed entry can only come from the client's side of the
        // chain: the last good hop is the best answer.
        let Some(ip) = forwarded_ip(hop) else { break };
        client = ip;
        if !trusted.contains(&ip) {
            break;
        }
    }
    Some(client)
}

/// The bucket an address is counted in: itself, or its /64 for IPv6.
fn bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("ip:{net}/64")
        }
    }
}

fn is_write(m: &Method) -> bool {
    matches!(
        *m,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The rate limiter's key for a request: `sub:<subject>` for a write with
/// a valid token, `ip:<client>` otherwise.
pub fn client_key(req: &HttpRequest, cfg: &HttpConfig) -> String {
    if is_write(req.method())
        && let Some(sub) = crate::auth::subject(req, cfg.jwt_secret.as_deref())
    {
        return format!("sub:{sub}");
    }
    match client_ip(
        req.peer_addr().map(|a| a.ip()),
        req.headers(),
        &cfg.trusted_proxies,
    ) {
        Some(ip) => bucket(ip),
        None => "ip:unknown".into(),
    }
}

/// Routes under the limit: the API. `/health`, `/metrics`, `/docs` and
/// `/api-docs` are outside it (monitoring and documentation must answer
/// whatever a client does).
fn limited(path: &str) -> bool {
    path.starts_with("/api/")
}

fn policy_header(q: &Quota) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("\"default\";q={};w={}", q.burst, q.window_secs())).ok()
}

fn current_header(d: &Decision) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "\"default\";r={};t={}",
        d.remaining,
        ceil_secs(d.reset)
    ))
    .ok()
}

fn set_headers(headers: &mut HeaderMap, q: &Quota, d: &Decision) {
    if let Some(v) = policy_header(q) {
        headers.insert(RATELIMIT_POLICY, v);
    }
    if let Some(v) = current_header(d) {
        headers.insert(RATELIMIT, v);
    }
}

/// Counts each API request against its client's limit: over it, a 429
/// problem with `Retry-After`; either way the `RateLimit` headers.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let limiter = state
        .as_ref()
        .and_then(|s| s.config.rate_limiter.clone())
        .filter(|_| limited(req.path()));
    let (Some(state), Some(limiter)) = (state, limiter) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let key = client_key(req.request(), &state.config);
    let quota = limiter.quota();
    let decision = match limiter.check(&key).await {
        Ok(d) => d,
        // Only a shared limiter without its fallback can fail (the binary
        // always wraps it): let the request through, as the cache would.
        Err(e) => {
            tracing::debug!(error = %e, "rate limiter failed; request let through");
            return Ok(next.call(req).await?.map_into_boxed_body());
        }
    };
    if !decision.allowed {
        let retry_after_secs = ceil_secs(decision.retry_after).max(1);
        tracing::debug!(%key, retry_after_secs, "rate limited");
        let mut res = ApiError::RateLimited { retry_after_secs }.error_response();
        set_headers(res.headers_mut(), &quota, &decision);
        return Ok(req.into_response(res));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    set_headers(res.headers_mut(), &quota, &decision);
    Ok(res)
}

/// Bounds a read by `CATALOG_REQUEST_TIMEOUT`: past it, a 503 problem with
/// `Retry-After: 1`, and the handler's future is dropped, which cancels
/// its work (queries, cache calls) at their next await. Wraps resources,
/// not the app (see `app::with_deadline`).
///
/// Writes are exempt: a write dropped after its transaction committed but
/// before the cache was invalidated would leave stale cached reads, and a
/// client told 503 for a write that happened. Writes are bounded by the
/// database's statement and pool timeouts instead.
pub async fn deadline(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.config.request_timeout)
        .filter(|_| matches!(*req.method(), Method::GET | Method::HEAD));
    let Some(limit) = limit else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let http_req = req.request().clone();
    match actix_web::rt::time::timeout(limit, next.call(req)).await {
        Ok(res) => Ok(res?.map_into_boxed_body()),
        Err(_) => {
            let timeout_ms = limit.as_millis();
            tracing::warn!(
                timeout_ms,
                "request exceeded the deadline; its work was dropped"
            );
            let res = ApiError::Timeout { timeout_ms }.error_response();
            Ok(ServiceResponse::new(http_req, res))
        }
    }
}

/// The default bound on a request (`CATALOG_REQUEST_TIMEOUT`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append(X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn trusted_proxies_parse_addresses_and_networks() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7,::1,fd00::/8").unwrap();
        assert!(t.contains(&ip("10.1.2.3")));
        assert!(t.contains(&ip("192.168.1.7")));
        assert!(!t.contains(&ip("192.168.1.8")));
        assert!(t.contains(&ip("::1")));
        assert!(t.contains(&ip("::ffff:10.0.0.1")), "v4-mapped");
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
    }

    #[test]
    fn forwarded_for_is_walked_from_the_right_past_trusted_hops() {
        let t = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let peer = Some(ip("10.0.0.1"));
        // The client forged the first entry; the proxies appended the rest.
        let h = headers(&["6.6.6.6, 203.0.113.5", "10.0.0.2"]);
        assert_eq!(client_ip(peer, &h, &t), Some(ip("203.0.113.5")));
        // Every hop trusted: the leftmost.
        let h = headers(&["10.0.0.9, 10.0.0.2"]);
        assert_eq!(client_ip(peer, &h, &t), Some(ip("10.0.0.9")));
        // Garbage on the client's side: the last good hop.
        let h = headers(&["nonsense, 10.0.0.3"]);
        assert_eq!(client_ip(peer, &h, &t), Some(ip("10.0.0.3")));
        // Ports and brackets.
        let h = headers(&["[2001:db8::1]:4711"]);
        assert_eq!(client_ip(peer, &h, &t), Some(ip("2001:db8::1")));
        // No header: the proxy itself.
        assert_eq!(client_ip(peer, &HeaderMap::new(), &t), peer);
        // An untrusted peer's header is ignored.
        let h = headers(&["203.0.113.5"]);
        assert_eq!(
            client_ip(Some(ip("198.51.100.1")), &h, &t),
            Some(ip("198.51.100.1"))
        );
        // Nobody trusted: ignored too.
        let none = TrustedProxies::default();
        assert_eq!(client_ip(peer, &h, &none), peer);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(bucket(ip("2001:db8:1:2:aaaa::1")), "ip:2001:db8:1:2::/64");
        assert_eq!(bucket(ip("2001:db8:1:2:bbbb::9")), "ip:2001:db8:1:2::/64");
        assert_eq!(bucket(ip("192.0.2.1")), "ip:192.0.2.1");
    }

    #[test]
    fn only_the_api_is_limited() {
        assert!(limited("/api/v1/products"));
        assert!(limited("/api/v1/products/7"));
        for p in [
            "/health",
            "/metrics",
            "/docs/",
            "/api-docs/openapi.json",
            "/",
        ] {
            assert!(!limited(p), "{p}");
        }
    }
}
