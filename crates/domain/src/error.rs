//! The error every service returns: a stable [`ErrorCode`] from the spec's table, a message
//! written for the person reading it, and optional structured details. Unexpected failures
//! (storage, hashing) become [`ErrorCode::InternalServerError`] or [`ErrorCode::DatabaseError`]
//! whose client-facing message is generic; the real cause travels as the error's `source()`
//! chain, for the log.

use std::sync::Arc;

use serde_json::Value;
use tc_store::StoreError;

/// The codes of SPEC §4. The HTTP status for each is part of the contract, so it lives here too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidCredentials,
    InvalidApiKey,
    TokenExpired,
    TokenRevoked,
    EmailNotVerified,
    InsufficientPermissions,
    ProjectAccessDenied,
    RateLimitExceeded,
    /// Malformed input (400).
    InvalidInput,
    /// Well-formed input that fails validation (422).
    ValidationFailed,
    MissingRequiredField,
    ContextTooLarge,
    ResourceNotFound,
    ProjectNotFound,
    ContextNotFound,
    Conflict,
    MethodNotAllowed,
    InternalServerError,
    DatabaseError,
    EmbeddingGenerationFailed,
    /// A feature that needs outgoing mail, on a server without `SMTP_URL` (503).
    MailNotConfigured,
    /// Jira or Confluence could not be reached or answered wrongly (502).
    JiraConnectionFailed,
    /// Jira or Confluence refused the connection's credentials (401).
    JiraAuthExpired,
    /// Jira or Confluence kept answering 429 (429).
    JiraRateLimit,
    /// A registered MCP server could not be reached or did not speak MCP (502).
    McpServerFailed,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidCredentials => "INVALID_CREDENTIALS",
            ErrorCode::InvalidApiKey => "INVALID_API_KEY",
            ErrorCode::TokenExpired => "TOKEN_EXPIRED",
            ErrorCode::TokenRevoked => "TOKEN_REVOKED",
            ErrorCode::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            ErrorCode::InsufficientPermissions => "INSUFFICIENT_PERMISSIONS",
            ErrorCode::ProjectAccessDenied => "PROJECT_ACCESS_DENIED",
            ErrorCode::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
            ErrorCode::InvalidInput | ErrorCode::ValidationFailed | ErrorCode::MethodNotAllowed => {
                "INVALID_INPUT"
            }
            ErrorCode::MissingRequiredField => "MISSING_REQUIRED_FIELD",
            ErrorCode::ContextTooLarge => "CONTEXT_TOO_LARGE",
            ErrorCode::ResourceNotFound => "RESOURCE_NOT_FOUND",
            ErrorCode::ProjectNotFound => "PROJECT_NOT_FOUND",
            ErrorCode::ContextNotFound => "CONTEXT_NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::InternalServerError => "INTERNAL_SERVER_ERROR",
            ErrorCode::DatabaseError => "DATABASE_ERROR",
            ErrorCode::EmbeddingGenerationFailed => "EMBEDDING_GENERATION_FAILED",
            ErrorCode::MailNotConfigured => "MAIL_NOT_CONFIGURED",
            ErrorCode::JiraConnectionFailed => "JIRA_CONNECTION_FAILED",
            ErrorCode::JiraAuthExpired => "JIRA_AUTH_EXPIRED",
            ErrorCode::JiraRateLimit => "JIRA_RATE_LIMIT",
            ErrorCode::McpServerFailed => "MCP_SERVER_FAILED",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidCredentials
            | ErrorCode::InvalidApiKey
            | ErrorCode::TokenExpired
            | ErrorCode::TokenRevoked
            | ErrorCode::JiraAuthExpired => 401,
            ErrorCode::EmailNotVerified
            | ErrorCode::InsufficientPermissions
            | ErrorCode::ProjectAccessDenied => 403,
            ErrorCode::RateLimitExceeded | ErrorCode::JiraRateLimit => 429,
            ErrorCode::InvalidInput | ErrorCode::MissingRequiredField => 400,
            ErrorCode::ValidationFailed => 422,
            ErrorCode::ContextTooLarge => 413,
            ErrorCode::ResourceNotFound
            | ErrorCode::ProjectNotFound
            | ErrorCode::ContextNotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::InternalServerError
            | ErrorCode::DatabaseError
            | ErrorCode::EmbeddingGenerationFailed => 500,
            ErrorCode::MailNotConfigured => 503,
            ErrorCode::JiraConnectionFailed | ErrorCode::McpServerFailed => 502,
        }
    }
}

/// The cause of an error, kept for the log.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct DomainError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
    /// What caused an internal error, with its own causes: for the log only, never sent to a
    /// client.
    #[source]
    pub cause: Option<Cause>,
}

pub type DomainResult<T> = Result<T, DomainError>;

impl DomainError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        DomainError { code, message: message.into(), details: None, cause: None }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    /// A field that was present but failed validation (422), naming the field.
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message)
            .with_details(serde_json::json!({ "field": field }))
    }

    pub fn missing(field: &str) -> Self {
        Self::new(ErrorCode::MissingRequiredField, format!("`{field}` is required"))
            .with_details(serde_json::json!({ "field": field }))
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::ResourceNotFound, format!("{what} not found"))
    }

    pub fn project_not_found() -> Self {
        Self::new(ErrorCode::ProjectNotFound, "project not found")
    }

    /// A 500 caused by `cause`: an error, or a message saying what went wrong.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::new(ErrorCode::InternalServerError, "an internal error occurred")
            .caused_by(Arc::from(cause.into()))
    }

    pub fn caused_by(mut self, cause: Cause) -> Self {
        self.cause = Some(cause);
        self
    }

    /// The cause and its own causes in one line ("a: b: c"), for the log.
    pub fn cause_chain(&self) -> Option<String> {
        let cause: &(dyn std::error::Error + 'static) = self.cause.as_deref()?;
        Some(tc_store::error_chain(cause))
    }
}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { constraint } => {
                DomainError::new(ErrorCode::Conflict, "that already exists")
                    .with_details(serde_json::json!({ "constraint": constraint }))
            }
            StoreError::NotFound => DomainError::not_found("resource"),
            e @ StoreError::Database { .. } => {
                DomainError::new(ErrorCode::DatabaseError, "a database error occurred")
                    .caused_by(Arc::new(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    /// A driver's error survives two conversions as a `source()` chain: the log line names the
    /// root cause, and the client's message names none of it.
    #[test]
    fn a_database_failure_keeps_its_causes_for_the_log() {
        let io = std::io::Error::other("disk I/O error");
        let e = DomainError::from(StoreError::driver("SQLite", io));
        assert_eq!(e.code, ErrorCode::DatabaseError);
        assert_eq!(e.message, "a database error occurred");
        let store = e.source().expect("the store error is the source");
        assert_eq!(store.to_string(), "database error: SQLite");
        assert_eq!(
            store.source().expect("and the driver's below it").to_string(),
            "disk I/O error"
        );
        assert_eq!(e.cause_chain().unwrap(), "database error: SQLite: disk I/O error");

        let plain = DomainError::internal("upload task failed");
        assert_eq!(plain.cause_chain().unwrap(), "upload task failed");
        assert!(DomainError::not_found("job").cause_chain().is_none());
    }
}
