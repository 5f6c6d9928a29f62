//! The public change feed's use case: positions as opaque, signed tokens
//! (`since` / `next_since`), pages, and long polling.

use std::time::Duration;

use crate::changes::{FeedEntry, FeedPosition, FeedRead, FeedStart};
use crate::cursor::CursorKey;
use crate::error::{CatalogError, ValidationErrors};
use crate::service::CatalogService;

/// Entries per page: 1 to 1,000, 100 by default.
pub const MAX_FEED_LIMIT: u32 = 1_000;
pub const DEFAULT_FEED_LIMIT: u32 = 100;
/// The longest long poll.
pub const MAX_FEED_WAIT: Duration = Duration::from_secs(30);

const TOKEN_PREFIX: &[u8] = b"feed1:";

/// Where a feed request starts: a token from `next_since`, or a start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    Token(String),
    Start(FeedStart),
}

impl Since {
    /// `since` as the request gave it: absent is the oldest change kept,
    /// `now` the head.
    pub fn parse(raw: Option<&str>) -> Self {
        match raw {
            None | Some("") => Since::Start(FeedStart::Oldest),
            Some("now") => Since::Start(FeedStart::Now),
            Some(token) => Since::Token(token.to_string()),
        }
    }
}

/// The token of a position.
pub fn encode_position(position: &FeedPosition, key: &CursorKey) -> String {
    let hi = position
        .hi
        .map_or_else(|| "-".to_string(), |h| h.to_string());
    let payload = format!(
        "{}{}:{hi}:{}:{}",
        String::from_utf8_lossy(TOKEN_PREFIX),
        position.lo,
        position.after,
        position.delivered
    );
    key.sign(payload.as_bytes())
}

/// The position of a token; the error names `since`.
pub fn decode_position(token: &str, key: &CursorKey) -> Result<FeedPosition, ValidationErrors> {
    let invalid = || {
        ValidationErrors::single(
            "since",
            "is not a position issued by this service's change feed (altered, truncated or \
             made up); use a next_since value, leave since out, or send since=now",
        )
    };
    let payload = key.verify(token).ok_or_else(invalid)?;
    let rest = payload.strip_prefix(TOKEN_PREFIX).ok_or_else(invalid)?;
    let text = std::str::from_utf8(rest).map_err(|_| invalid())?;
    let parts: Vec<&str> = text.split(':').collect();
    let [lo, hi, after, delivered] = parts.as_slice() else {
        return Err(invalid());
    };
    Ok(FeedPosition {
        lo: lo.parse().map_err(|_| invalid())?,
        hi: match *hi {
            "-" => None,
            h => Some(h.parse().map_err(|_| invalid())?),
        },
        after: after.parse().map_err(|_| invalid())?,
        delivered: delivered.parse().map_err(|_| invalid())?,
    })
}

/// One page of the feed and where the next starts.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    pub entries: Vec<FeedEntry>,
    pub next_since: String,
}

impl CatalogService {
    /// The changes after `since`, up to `limit`; when there are none and
    /// `wait` is not zero, polls until one arrives or `wait` has passed
    /// (never cached: every call reads the log).
    pub async fn changes(
        &self,
        since: Since,
        limit: u32,
        wait: Duration,
    ) -> Result<FeedPage, CatalogError> {
        let feed = self
            .store
            .change_feed()
            .ok_or(CatalogError::FeedUnsupported)?;
        let key = self.cursor_key();
        let mut position = match since {
            Since::Token(token) => decode_position(&token, key)?,
            Since::Start(start) => feed
                .feed_start(start)
                .await
                .map_err(CatalogError::Storage)?,
        };
        let limit = limit.clamp(1, MAX_FEED_LIMIT);
        let deadline = tokio::time::Instant::now() + wait.min(MAX_FEED_WAIT);
        let mut pause = Duration::from_millis(25);
        let mut entries = Vec::new();
        loop {
            // A read within a window (`hi` set) that comes back short has
            // finished that window: the next window may hold more, so read
            // on at once. A read of a fresh window that comes back short has
            // everything committed below the current horizon.
            let fresh = position.hi.is_none();
            let want = limit - entries.len() as u32;
            match feed
                .feed_read(position, want)
                .await
                .map_err(CatalogError::Storage)?
            {
                FeedRead::Expired => return Err(CatalogError::FeedExpired),
                FeedRead::Page { entries: got, next } => {
                    position = next;
                    let short = (got.len() as u32) < want;
                    entries.extend(got);
                    if entries.len() as u32 >= limit || (short && !fresh) {
                        if entries.len() as u32 >= limit {
                            break;
                        }
                        continue;
                    }
                    let now = tokio::time::Instant::now();
                    if !entries.is_empty() || now >= deadline {
                        break;
                    }
                    // Nothing yet: poll again shortly (25 ms, doubling up to
                    // 250 ms), until the wait is over.
                    tokio::time::sleep(pause.min(deadline - now)).await;
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
            }
        }
        Ok(FeedPage {
            entries,
            next_since: encode_position(&position, key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_tampering_is_refused() {
        let key = CursorKey::new(b"k");
        for p in [
            FeedPosition::default(),
            FeedPosition {
                lo: 7_000_000_123,
                hi: Some(7_000_000_200),
                after: 42,
                delivered: 99,
            },
        ] {
            let t = encode_position(&p, &key);
            assert_eq!(decode_position(&t, &key).unwrap(), p);
            assert!(decode_position(&t, &CursorKey::new(b"other")).is_err());
            let mut bytes = t.clone().into_bytes();
            bytes[2] ^= 1;
            assert!(decode_position(&String::from_utf8_lossy(&bytes), &key).is_err());
            assert!(decode_position(&t[..t.len() - 1], &key).is_err());
        }
        // A list cursor is not a feed position.
        assert!(decode_position(&key.sign(b"{\"v\":1}"), &key).is_err());
        let e = decode_position("garbage", &key).unwrap_err();
        assert_eq!(e.errors()[0].field, "since");
    }

    #[test]
    fn since_parses() {
        assert_eq!(Since::parse(None), Since::Start(FeedStart::Oldest));
        assert_eq!(Since::parse(Some("now")), Since::Start(FeedStart::Now));
        assert_eq!(Since::parse(Some("x.y")), Since::Token("x.y".into()));
    }
}
