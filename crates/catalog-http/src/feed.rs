//! `GET /api/v1/products/changes`: the public change feed.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use catalog_domain::ValidationErrors;
use catalog_domain::changes::FeedOp;
use catalog_domain::feed::{DEFAULT_FEED_LIMIT, MAX_FEED_LIMIT, MAX_FEED_WAIT, Since};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::params::from_query;
use crate::state::AppState;

/// The feed's query parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// Where to continue: a `next_since` from an earlier answer. Absent:
    /// from the oldest change kept; `now`: only changes from now on.
    #[serde(default)]
    #[param(value_type = Option<String>, max_length = 512, example = "now")]
    pub since: Vec<String>,
    /// Changes per page, 1–1000 (default 100).
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Vec<String>,
    /// Seconds to wait for a change when there is none yet (long poll),
    /// 0–30 (default 0: answer at once). The answer comes as soon as a
    /// change is there.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 0, maximum = 30)]
    pub wait: Vec<String>,
}

fn one_number(
    errors: &mut ValidationErrors,
    name: &str,
    values: &[String],
    max: u32,
) -> Option<u32> {
    match values {
        [] => None,
        [v] => match v.parse::<u32>() {
            Ok(n) if n <= max => Some(n),
            _ => {
                errors.push(
                    name,
                    format!(
                        "must be an integer from {} to {max}",
                        u32::from(name == "limit")
                    ),
                );
                None
            }
        },
        _ => {
            errors.push(name, "must be given at most once");
            None
        }
    }
}

/// One change in the feed.
#[derive(Serialize, ToSchema)]
#[schema(as = Change)]
pub struct ChangeDoc {
    /// The change's sequence number, as a string (64-bit, increasing with
    /// commit order for any one product).
    #[schema(example = "1042")]
    pub seq: String,
    /// `upsert`: created or changed (`product` is its new state);
    /// `delete`: deleted (`product` is null).
    #[schema(example = "upsert")]
    pub op: String,
    #[schema(example = 17)]
    pub id: i64,
    /// The product after the change; null for a delete.
    #[schema(value_type = Option<crate::docs::ProductDoc>)]
    pub product: Option<serde_json::Value>,
    /// When the change was written (RFC 3339, UTC).
    #[schema(example = "2026-12-03T16:35:37.357Z")]
    pub at: String,
}

/// A page of the change feed.
#[derive(Serialize, ToSchema)]
#[schema(as = ChangeList)]
pub struct ChangeListDoc {
    pub items: Vec<ChangeDoc>,
    /// Send as `since` to read on: every change exactly once, in order.
    pub next_since: String,
}

/// The change log as a feed, in commit order (per product).
///
/// Follow `next_since` from page to page: a consumer sees every create,
/// update and delete exactly once, with no gap, even while writers run.
/// An empty page still carries `next_since` (keep it: it may have moved).
/// Entries older than `CATALOG_CHANGE_LOG_RETENTION` are pruned: a `since`
/// from before them is a 410, and the consumer starts again from an export.
#[utoipa::path(
    get, path = "/api/v1/products/changes", tag = "products",
    params(FeedParams),
    responses(
        (status = 200, description = "Changes after `since` (possibly none)", body = ChangeListDoc),
        (status = 410, description = "`since` is older than the log's retention: re-export, then follow from `since=now`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`since` is malformed or tampered with, or `limit`/`wait` out of range", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 501, description = "This deployment's storage keeps no change log", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_changes(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params: FeedParams = from_query(req.query_string())?;
    let mut errors = ValidationErrors::new();
    let limit = one_number(&mut errors, "limit", &params.limit, MAX_FEED_LIMIT);
    if limit == Some(0) {
        errors.push(
            "limit",
            format!("must be an integer from 1 to {MAX_FEED_LIMIT}"),
        );
    }
    let wait = one_number(
        &mut errors,
        "wait",
        &params.wait,
        MAX_FEED_WAIT.as_secs() as u32,
    );
    let since = match params.since.as_slice() {
        [] => None,
        [s] if s.len() <= 512 => Some(s.as_str()),
        [_] => {
            errors.push(
                "since",
                "is not a position issued by this service's change feed",
            );
            None
        }
        _ => {
            errors.push("since", "must be given at most once");
            None
        }
    };
    let (limit, wait) = errors.into_result((limit, wait))?;
    let page = state
        .service
        .changes(
            Since::parse(since),
            limit.unwrap_or(DEFAULT_FEED_LIMIT),
            Duration::from_secs(u64::from(wait.unwrap_or(0))),
        )
        .await?;
    let items = page
        .entries
        .into_iter()
        .map(|e| {
            Ok(ChangeDoc {
                seq: e.seq.to_string(),
                op: match e.op {
                    FeedOp::Upsert => "upsert".into(),
                    FeedOp::Delete => "delete".into(),
                },
                id: e.id.get(),
                product: e
                    .product
                    .map(serde_json::to_value)
                    .transpose()
                    .map_err(|e| ApiError::Internal(Box::new(e)))?,
                at: e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(ChangeListDoc {
            items,
            next_since: page.next_since,
        }))
}
