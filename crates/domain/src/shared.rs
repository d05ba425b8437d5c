//! State shared by every replica of a deployment, when one is configured (Redis, `REDIS_URL`).
//! The service layer sees it only through [`SharedState`]; without it a single node keeps
//! everything in process, as before.

/// What replicas must agree on beyond the database.
///
/// Implementations answer quickly or not at all: `None`/`false` means the shared state is
/// unavailable right now, and callers fall back to something that is still correct on this
/// replica (the database, for credentials).
#[async_trait::async_trait]
pub trait SharedState: Send + Sync + std::fmt::Debug {
    /// The deployment-wide credential generation: it changes whenever any replica revokes a
    /// key, deactivates an account or changes anything else a cached credential could outlive.
    async fn credential_generation(&self) -> Option<u64>;
    /// Moves the credential generation on, so that every replica stops trusting what it has
    /// cached; false when the shared state could not be reached.
    async fn bump_credential_generation(&self) -> bool;
}
