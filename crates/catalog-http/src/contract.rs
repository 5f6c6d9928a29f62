//! What every route of the OpenAPI document shares, added in one place so
//! no handler can forget it: the headers every response carries, the
//! conditional-GET headers and 304 of the cacheable reads, the 429 of the
//! rate limiter and the 503 of an unavailable or overloaded database, and
//! `additionalProperties: false` on the write bodies (unknown members are a
//! 422, see [`crate::body`]), and `If-Match`'s syntax.
//!
//! The additions are written as JSON, the document's own language, and
//! merged into the typed document; the annotations on the handlers keep
//! what is particular to each route.

use serde_json::{Map, Value, json};
use utoipa::openapi::OpenApi;

use crate::conditional::IF_MATCH_PATTERN;

/// The `Modify` that adds the shared parts (see the module docs).
pub struct Contract;

impl utoipa::Modify for Contract {
    fn modify(&self, openapi: &mut OpenApi) {
        // The round trip cannot fail on a document utoipa itself built; if
        // it ever did, the document is left as the annotations made it (the
        // drift test and schemathesis would then show what is missing).
        let Ok(mut doc) = serde_json::to_value(&*openapi) else {
            return;
        };
        amend(&mut doc);
        if let Ok(amended) = serde_json::from_value(doc) {
            *openapi = amended;
        }
    }
}

/// Headers on every response (see `crate::middleware::observe`).
fn common_headers() -> Value {
    json!({
        "X-Request-Id": {
            "description": "The client's X-Request-Id when it sent a short printable one, else a fresh UUID.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 128}
        },
        "X-Process-Time": {
            "description": "Server time in milliseconds, e.g. `0.420`.",
            "schema": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"}
        },
        "Server-Timing": {
            "description": "`app;dur=<X-Process-Time>`.",
            "schema": {"type": "string", "pattern": "^app;dur=[0-9]+(\\.[0-9]+)?$"}
        }
    })
}

/// Headers of a cacheable GET's 200 and 304 (see `crate::conditional`).
fn cache_headers() -> Value {
    json!({
        "ETag": {
            "description": "Strong entity tag of this representation; a compressed body's tag carries the coding (`\"…-gzip\"`), and a 304 carries the tag the 200 would have carried.",
            "schema": {"type": "string", "pattern": "^\"[!#-~]*\"$"}
        },
        "X-Cache": {
            "description": "Whether the body came from the cache.",
            "schema": {"type": "string", "enum": ["HIT", "MISS"]}
        },
        "Cache-Control": {
            "description": "`no-cache`: store, but revalidate with the ETag.",
            "schema": {"type": "string", "enum": ["no-cache"]}
        }
    })
}

/// `If-None-Match` on the cacheable GETs.
fn if_none_match() -> Value {
    json!({
        "name": "If-None-Match",
        "in": "header",
        "required": false,
        "description": "Entity tags the client holds (weak comparison; `*` or a comma list). A current one gives 304 with no body; anything else is ignored.",
        "schema": {"type": "string"}
    })
}

/// 429 and 503: the shared responses every rate-limited, database-backed
/// route references.
fn shared_responses() -> Value {
    let retry_after = json!({
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0}
    });
    json!({
        "TooManyRequests": {
            "description": "Rate limited (`CATALOG_RATE_LIMIT`, per client; writes per token subject). Retry after `Retry-After` seconds.",
            "headers": {
                "Retry-After": retry_after,
                "RateLimit": {
                    "description": "The remaining quota (IETF httpapi RateLimit header draft).",
                    "schema": {"type": "string"}
                },
                "RateLimit-Policy": {
                    "description": "The quota policy (IETF httpapi RateLimit header draft).",
                    "schema": {"type": "string"}
                }
            },
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        },
        "ServiceUnavailable": {
            "description": "Retrying shortly can succeed: the database is unavailable, overloaded or too slow (pool wait or statement timeout), the server is shedding load or past the request deadline, or it is shutting down.",
            "headers": {"Retry-After": retry_after},
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        }
    })
}

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

fn amend(doc: &mut Value) {
    let Some(root) = doc.as_object_mut() else {
        return;
    };
    if let Some(paths) = root.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let api = path.starts_with("/api/");
            for method in METHODS {
                if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                    amend_operation(op, api);
                }
            }
        }
    }
    let components = root
        .entry("components")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(components) = components else {
        return;
    };
    if let (Some(responses), Value::Object(shared)) = (
        components
            .entry("responses")
            .or_insert_with(|| json!({}))
            .as_object_mut(),
        shared_responses(),
    ) {
        responses.extend(shared);
        for response in responses.values_mut() {
            let headers = response
                .as_object_mut()
                .map(|r| r.entry("headers").or_insert_with(|| json!({})));
            if let (Some(Value::Object(headers)), Value::Object(common)) =
                (headers, common_headers())
            {
                for (k, v) in common {
                    headers.entry(k).or_insert(v);
                }
            }
        }
    }
    if let Some(schemas) = components.get_mut("schemas").and_then(Value::as_object_mut) {
        for body in ["ProductInput", "ProductPatch"] {
            if let Some(schema) = schemas.get_mut(body).and_then(Value::as_object_mut) {
                schema.insert("additionalProperties".into(), Value::Bool(false));
            }
        }
    }
}

fn amend_operation(op: &mut Map<String, Value>, api: bool) {
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for param in params.iter_mut() {
            let is_if_match = param["name"] == "If-Match";
            let Some(schema) = param.get_mut("schema").and_then(Value::as_object_mut) else {
                continue;
            };
            // An optional parameter is absent or a value; `null` is no
            // value a query string or header can carry (utoipa makes
            // `Option<String>` headers nullable).
            if let Some(Value::Array(types)) = schema.get_mut("type") {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    schema.insert("type".into(), only);
                }
            }
            // If-Match's syntax is the parser's own constant.
            if is_if_match {
                schema.insert("pattern".into(), IF_MATCH_PATTERN.into());
            }
        }
    }
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    if api {
        for (status, name) in [("429", "TooManyRequests"), ("503", "ServiceUnavailable")] {
            responses
                .entry(status)
                .or_insert_with(|| json!({"$ref": format!("#/components/responses/{name}")}));
        }
    }
    let cacheable = responses.contains_key("304");
    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else {
            continue; // a $ref: its component carries what it needs
        };
        let headers = response
            .entry("headers")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        let Some(headers) = headers else {
            continue;
        };
        let mut add = |more: Value| {
            if let Value::Object(more) = more {
                for (k, v) in more {
                    headers.entry(k).or_insert(v);
                }
            }
        };
        add(common_headers());
        if cacheable && (status == "200" || status == "304") {
            add(cache_headers());
        }
    }
    if cacheable {
        let params = op
            .entry("parameters")
            .or_insert_with(|| json!([]))
            .as_array_mut();
        if let Some(params) = params {
            params.push(if_none_match());
        }
    }
}
