//! [`StoreError`], what can go wrong in storage, and [`error_chain`], the one-line form of an
//! error and its causes that logs and operator messages use.

/// What can go wrong in storage, stripped of driver detail.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; `constraint` names it (for example `users.email`).
    #[error("conflict on {constraint}")]
    Conflict { constraint: &'static str },
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// Anything else: connection lost, disk full, corrupt file. For logs only: `message` says
    /// what was being done, `source` is the driver's error with its own causes.
    #[error("database error: {message}")]
    Database {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl StoreError {
    /// A database error with no underlying error to keep.
    pub fn database(message: impl Into<String>) -> Self {
        StoreError::Database { message: message.into(), source: None }
    }

    /// A database error caused by `source` (a driver's error), kept as the `source()` chain.
    pub fn driver(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Database { message: message.into(), source: Some(Box::new(source)) }
    }
}

/// An error and its causes, each once, for a log line or an operator's message: a failed
/// connection's own message ("error performing TLS handshake") hides the reason an operator
/// needs ("invalid peer certificate: UnknownIssuer").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}

pub type StoreResult<T> = Result<T, StoreError>;
