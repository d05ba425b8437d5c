//! How errors leave the server: every failure becomes SPEC §4's envelope
//! `{"error": {code, message, details, request_id}}` with the code's status. Internal causes
//! ride in a response extension to the request middleware, which logs them; clients see only a
//! generic message. Responses that did not come from [`ApiError`] (axum's 405, an unmatched
//! route) are converted by [`envelope_for_status`] so that nothing answers outside the envelope.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use tc_domain::{DomainError, ErrorCode};
use utoipa::ToSchema;

use crate::request_id;

#[derive(Debug)]
pub struct ApiError(pub DomainError);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError(DomainError::new(code, message))
    }
}

/// The body of every error response (the OpenAPI document's `default` response).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorObject {
    /// A stable, machine-readable code such as `INVALID_INPUT` or `PROJECT_NOT_FOUND`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// More about it (`field`, `reason`, `retry_after_secs`, …); empty when there is nothing.
    pub details: Map<String, Value>,
    /// Equals the `X-Request-Id` header; quote it when reporting a problem.
    pub request_id: String,
}

/// What the request middleware logs about an error response.
#[derive(Debug, Clone)]
pub struct ErrorLog {
    pub code: &'static str,
    pub internal: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let internal = self.0.cause_chain();
        let DomainError { code, message, details, .. } = self.0;
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after =
            details.as_ref().and_then(|d| d.get("retry_after_secs")).and_then(Value::as_u64);
        let details = match details {
            Some(Value::Object(map)) => map,
            Some(other) => Map::from_iter([("value".to_string(), other)]),
            None => Map::new(),
        };
        let body = ErrorResponse {
            error: ErrorObject {
                code: code.as_str().into(),
                message,
                details,
                request_id: request_id::current(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(ErrorLog { code: code.as_str(), internal });
        response
    }
}

/// Marks an error status whose body is the answer itself (health's 503 carries the health
/// report), so the middleware does not replace it with an envelope.
#[derive(Debug, Clone, Copy)]
pub struct OwnBody;

/// An envelope for an error response produced outside our handlers, keeping useful headers.
pub fn envelope_for_status(original: &Response) -> Response {
    let status = original.status();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (ErrorCode::ResourceNotFound, "no such route".to_string()),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            "method not allowed on this route (the Allow header lists the methods it accepts)"
                .to_string(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            (ErrorCode::ContextTooLarge, "the request body is too large".to_string())
        }
        s if s.is_client_error() => {
            (ErrorCode::InvalidInput, s.canonical_reason().unwrap_or("bad request").to_string())
        }
        _ => (ErrorCode::InternalServerError, "an internal error occurred".to_string()),
    };
    let mut response = ApiError::new(code, message).into_response();
    *response.status_mut() = status;
    // axum adds `Allow` to a 405 outside this middleware, so only Retry-After needs carrying.
    for name in [header::RETRY_AFTER] {
        if let Some(v) = original.headers().get(&name) {
            response.headers_mut().insert(name, v.clone());
        }
    }
    response
}
