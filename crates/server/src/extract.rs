//! Request extractors whose rejections answer in our error envelope: [`Json`] and [`Query`]
//! wrap axum's, [`Id`] and [`Ids`] read the ids of a path as the 404 of what they name, [`Auth`] authenticates the bearer credential (JWT or API key) and applies the
//! per-credential rate limit.

use std::marker::PhantomData;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tc_domain::{Caller, DomainError, ErrorCode};
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

/// What an id in a path names, and the 404 an unknown one answers. A malformed id is simply an
/// id that does not exist, so it answers the same.
pub trait Resource {
    fn not_found() -> DomainError;
}

macro_rules! resources {
    ($($(#[$doc:meta])* $name:ident => $not_found:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl Resource for $name {
            fn not_found() -> DomainError {
                $not_found
            }
        }
    )*};
}

/// The resources paths name.
pub mod resource {
    use tc_domain::{DomainError, ErrorCode};

    use super::Resource;

    resources! {
        Project => DomainError::project_not_found();
        Context => DomainError::new(ErrorCode::ContextNotFound, "context not found");
        ApiKey => DomainError::not_found("API key");
        Job => DomainError::not_found("job");
        Invitation => DomainError::not_found("invitation");
        /// A project member, by user id.
        Contributor => DomainError::not_found("contributor");
        ChatSession => DomainError::not_found("chat session");
        Task => DomainError::not_found("task");
        /// A Jira story draft.
        StoryDraft => DomainError::not_found("story draft");
        /// An MCP server registered for the agent.
        McpServer => DomainError::not_found("MCP server");
        /// A chat turn under way.
        Run => DomainError::not_found("run");
    }
}

fn parse_id<R: Resource>(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError(R::not_found()))
}

/// The id of a path with one parameter, naming an `R`.
#[derive(Debug)]
pub struct Id<R>(pub Uuid, pub PhantomData<R>);

impl<S: Send + Sync, R: Resource> FromRequestParts<S> for Id<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError(R::not_found()))?;
        Ok(Id(parse_id::<R>(&raw)?, PhantomData))
    }
}

/// The two ids of a nested path (`/projects/{id}/contributors/{user_id}`): an `A`, then a `B`.
#[derive(Debug)]
pub struct Ids<A, B>(pub Uuid, pub Uuid, pub PhantomData<(A, B)>);

impl<S: Send + Sync, A: Resource, B: Resource> FromRequestParts<S> for Ids<A, B> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((a, b)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError(A::not_found()))?;
        Ok(Ids(parse_id::<A>(&a)?, parse_id::<B>(&b)?, PhantomData))
    }
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
