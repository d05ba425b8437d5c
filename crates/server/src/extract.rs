//! Request extractors whose rejections answer in our error envelope: [`Json`] and [`Query`]
//! wrap axum's, [`Auth`] authenticates the bearer credential (JWT or API key) and applies the
//! per-credential rate limit.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tc_domain::{Caller, ErrorCode};
use uuid::Uuid;

use crate::error::ApiError;
use crate::middleware::UserSlot;
use crate::state::AppState;

/// A JSON body; malformed JSON answers 400, wrong field types 422, oversized bodies 413.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => {
                ApiError::new(ErrorCode::ValidationFailed, e.body_text())
            }
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::new(ErrorCode::InvalidInput, e.body_text())
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                ErrorCode::InvalidInput,
                "expected a JSON body with `Content-Type: application/json`",
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(
                    ErrorCode::ContextTooLarge,
                    "the request body is larger than this server accepts",
                )
            }
            other => ApiError::new(ErrorCode::InvalidInput, other.body_text()),
        }
    }
}

/// Query parameters; a value of the wrong type answers 400.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(ErrorCode::InvalidInput, rejection.body_text())
    }
}

/// A JSON body that may be absent altogether (an empty body means all defaults).
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_data() { ErrorCode::ValidationFailed } else { ErrorCode::InvalidInput };
        ApiError::new(code, format!("invalid JSON body: {e}"))
    })
}

/// Parses an id from the path; a malformed id is simply an id that does not exist.
pub fn path_id(raw: &str, not_found: fn() -> ApiError) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| not_found())
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        let credential = header
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidCredentials,
                    "authentication required: send `Authorization: Bearer <access token or API key>`",
                )
                .with_reason(if header.is_some() { "malformed_header" } else { "missing" })
            })?;
        let caller = state.services.authenticate(credential).await?;
        if let Some(slot) = parts.extensions.get::<UserSlot>() {
            slot.set(caller.user_id);
        }
        state.limits.check_caller(caller.api_key_id().unwrap_or(caller.user_id)).await?;
        Ok(Auth(caller))
    }
}

impl ApiError {
    fn with_reason(self, reason: &str) -> Self {
        ApiError(self.0.with_details(json!({ "reason": reason })))
    }
}
