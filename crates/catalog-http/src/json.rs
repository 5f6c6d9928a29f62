//! Mapping of JSON body extraction failures to problem responses: oversized
//! bodies are 413, unparsable JSON 400, well-formed JSON of the wrong shape
//! 422 naming the field.

use actix_web::error::JsonPayloadError;

use crate::error::ApiError;

pub fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge
        }
        JsonPayloadError::ContentType => {
            ApiError::UnsupportedMediaType("request bodies must be application/json".into())
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            let mut v = catalog_domain::ValidationErrors::new();
            v.push("body", e.to_string());
            ApiError::Validation(v)
        }
        other => ApiError::BadRequest(format!("malformed JSON body: {other}")),
    }
}
