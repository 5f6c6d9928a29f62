//! Keyset cursors: an opaque, integrity-checked token carrying a listing's
//! filters, sort, page size and the last row's sort key.
//!
//! Format: `base64url(json) "." base64url(hmac_sha256(key, json)[..16])`.
//! The MAC makes altered, truncated or made-up cursors detectable; the key is
//! shared by every instance of a deployment so a cursor issued by one is
//! honoured by all.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::query::{PageSize, ProductFilter, SortKey, SortValue};

const VERSION: u8 = 1;
const TAG_BYTES: usize = 16;
/// Cursors longer than this are refused before any decoding work.
const MAX_CURSOR_LEN: usize = 4096;

/// The HMAC key cursors are signed with.
#[derive(Clone)]
pub struct CursorKey(Vec<u8>);

impl CursorKey {
    pub fn new(key: &[u8]) -> Self {
        Self(key.to_vec())
    }

    /// `base64url(payload) "." base64url(tag)`: a token any instance with
    /// this key can verify.
    pub fn sign(&self, payload: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(payload);
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])
        )
    }

    /// The payload of a token made by [`CursorKey::sign`]; `None` when it
    /// was altered, truncated or signed with another key.
    pub fn verify(&self, token: &str) -> Option<Vec<u8>> {
        if token.is_empty() || token.len() > MAX_CURSOR_LEN {
            return None;
        }
        let (body, tag) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(body).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if tag.len() != TAG_BYTES {
            return None;
        }
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_truncated_left(&tag).ok()?;
        Some(payload)
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
        }
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

/// A decoded cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "v")]
    pub version: u8,
    #[serde(rename = "f")]
    pub filter: ProductFilter,
    #[serde(rename = "s")]
    pub sort: Vec<SortKey>,
    #[serde(rename = "l")]
    pub limit: PageSize,
    /// The last returned row's values for each sort key.
    #[serde(rename = "k")]
    pub after: Vec<SortValue>,
}

impl Cursor {
    pub fn new(
        filter: ProductFilter,
        sort: Vec<SortKey>,
        limit: PageSize,
        after: Vec<SortValue>,
    ) -> Self {
        Self {
            version: VERSION,
            filter,
            sort,
            limit,
            after,
        }
    }

    /// The token. Plain data always serializes; should it ever fail, the
    /// error is returned rather than an empty payload signed as a cursor.
    pub fn encode(&self, key: &CursorKey) -> Result<String, serde_json::Error> {
        let json = serde_json::to_vec(self)?;
        Ok(key.sign(&json))
    }

    /// Verifies and decodes; the error message is safe to show to clients.
    pub fn decode(token: &str, key: &CursorKey) -> Result<Cursor, String> {
        let invalid = || {
            "is not a valid cursor (altered, truncated or not issued by this service)".to_string()
        };
        let json = key.verify(token).ok_or_else(invalid)?;
        let cursor: Cursor = serde_json::from_slice(&json).map_err(|_| invalid())?;
        let well_formed = cursor.version == VERSION
            && !cursor.sort.is_empty()
            && cursor.sort.len() == cursor.after.len()
            && cursor
                .sort
                .iter()
                .zip(&cursor.after)
                .all(|(k, v)| v.fits(k.field));
        if well_formed {
            Ok(cursor)
        } else {
            Err(invalid())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{SearchQuery, SortField};

    fn sample() -> Cursor {
        let filter = ProductFilter {
            categories: vec![crate::product::Label::compared("Books").unwrap()],
            search: Some(SearchQuery::parse("red shoe").unwrap()),
            ..ProductFilter::default()
        };
        Cursor::new(
            filter,
            vec![
                SortKey {
                    field: SortField::Price,
                    descending: true,
                },
                SortKey::ID,
            ],
            PageSize::DEFAULT,
            vec![SortValue::Int(1999), SortValue::Int(42)],
        )
    }

    #[test]
    fn round_trip() {
        let key = CursorKey::new(b"k");
        let c = sample();
        assert_eq!(Cursor::decode(&c.encode(&key).unwrap(), &key), Ok(c));
    }

    #[test]
    fn tampering_is_detected() {
        let key = CursorKey::new(b"k");
        let token = sample().encode(&key).unwrap();
        // Truncated.
        assert!(Cursor::decode(&token[..token.len() - 1], &key).is_err());
        assert!(Cursor::decode(&token[..10], &key).is_err());
        // A flipped character anywhere.
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            if altered != token {
                assert!(Cursor::decode(&altered, &key).is_err(), "position {i}");
            }
        }
        // Made up, or signed with another key.
        assert!(Cursor::decode("hello", &key).is_err());
        assert!(
            Cursor::decode(&sample().encode(&CursorKey::new(b"other")).unwrap(), &key).is_err()
        );
    }

    #[test]
    fn mismatched_key_types_are_refused() {
        let key = CursorKey::new(b"k");
        let mut c = sample();
        c.after = vec![SortValue::Text("x".into()), SortValue::Int(1)];
        assert!(Cursor::decode(&c.encode(&key).unwrap(), &key).is_err());
    }
}
