//! Bearer authentication for writes: HS256 JWTs signed with
//! `CATALOG_JWT_SECRET`, carrying `sub`, `exp` and a space-separated
//! `scope` that must include `products:write`.
//!
//! Only HS256 is accepted: `alg: none` and every other algorithm fail
//! verification. No secret configured means writes are refused (401), never
//! open.

use actix_web::HttpRequest;
use actix_web::http::header;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The scope writes require.
pub const WRITE_SCOPE: &str = "products:write";

/// Who made an authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[allow(dead_code)]
    exp: u64,
    #[serde(default)]
    scope: Option<serde_json::Value>,
}

fn scopes(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        // Some issuers send scopes as an array.
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Checks the request's bearer token for `scope`.
pub fn authorize(
    req: &HttpRequest,
    secret: Option<&str>,
    scope: &str,
) -> Result<Principal, ApiError> {
    let claims = verified_claims(req, secret)?;
    if !scopes(claims.scope.as_ref()).iter().any(|s| s == scope) {
        return Err(ApiError::Forbidden {
            scope: scope.to_string(),
        });
    }
    Ok(Principal {
        subject: claims.sub,
    })
}

/// The subject of the request's bearer token when the token is valid
/// (signature, algorithm, expiry), whatever its scopes: who the rate
/// limiter counts a write against. An HS256 check costs microseconds.
pub fn subject(req: &HttpRequest, secret: Option<&str>) -> Option<String> {
    verified_claims(req, secret).ok().map(|c| c.sub)
}

/// The claims of a valid bearer token; 401 otherwise.
fn verified_claims(req: &HttpRequest, secret: Option<&str>) -> Result<Claims, ApiError> {
    // An empty key would let anyone sign tokens: treat it as no key.
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return Err(ApiError::Unauthorized {
            detail: "writes are disabled: the server has no CATALOG_JWT_SECRET".into(),
            invalid_token: false,
        });
    };
    let header_value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let token = match header_value {
        None => {
            return Err(ApiError::Unauthorized {
                detail: "a bearer token is required".into(),
                invalid_token: false,
            });
        }
        Some(v) => match v.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
                t.trim()
            }
            _ => {
                return Err(ApiError::Unauthorized {
                    detail: "the Authorization header must be 'Bearer <token>'".into(),
                    invalid_token: true,
                });
            }
        },
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        let why = match e.kind() {
            ErrorKind::ExpiredSignature => "the token has expired",
            ErrorKind::InvalidSignature => "the token's signature is invalid",
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                "the token must be signed with HS256"
            }
            ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim (sub, exp)",
            _ => "the token is malformed or invalid",
        };
        ApiError::Unauthorized {
            detail: why.into(),
            invalid_token: true,
        }
    })?;
    Ok(data.claims)
}

#[derive(Debug, Serialize)]
struct MintClaims<'a> {
    sub: &'a str,
    scope: &'a str,
    iat: u64,
    exp: u64,
}

/// Mints an HS256 token (for `catalog token` and tests).
pub fn mint_token(secret: &str, sub: &str, scope: &str, ttl_secs: u64) -> Result<String, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let claims = MintClaims {
        sub,
        scope,
        iat: now,
        exp: now + ttl_secs,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| e.to_string())
}
