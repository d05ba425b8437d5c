//! Who is asking. Every service method takes a [`Caller`]: there is no way to reach project data
//! without an identity, and the credential's limits (API key scopes, project restriction) travel
//! with it so every front door enforces them the same way.

use tc_store::Scope;
use uuid::Uuid;

use crate::error::{DomainError, DomainResult, ErrorCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A JWT access token from a login: full rights of the user.
    AccessToken,
    /// An API key with its scopes and optional single-project restriction.
    ApiKey { key_id: Uuid, scopes: Vec<Scope>, project_id: Option<Uuid> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Uuid,
    pub email_verified: bool,
    pub credential: Credential,
}

impl Caller {
    pub fn has_scope(&self, scope: Scope) -> bool {
        match &self.credential {
            Credential::AccessToken => true,
            Credential::ApiKey { scopes, .. } => scopes.contains(&scope),
        }
    }

    /// Fails with 403 INSUFFICIENT_PERMISSIONS unless the credential carries `scope`.
    pub fn require_scope(&self, scope: Scope) -> DomainResult<()> {
        if self.has_scope(scope) {
            return Ok(());
        }
        Err(DomainError::new(
            ErrorCode::InsufficientPermissions,
            format!("this API key lacks the `{}` scope", scope.as_str()),
        )
        .with_details(serde_json::json!({ "required_scope": scope.as_str() })))
    }

    /// The project an API key is restricted to, if any.
    pub fn project_restriction(&self) -> Option<Uuid> {
        match &self.credential {
            Credential::ApiKey { project_id, .. } => *project_id,
            Credential::AccessToken => None,
        }
    }

    /// Fails unless the credential may act beyond a single project (create projects, manage
    /// keys for other projects).
    pub fn require_unrestricted(&self) -> DomainResult<()> {
        match self.project_restriction() {
            None => Ok(()),
            Some(_) => Err(DomainError::new(
                ErrorCode::InsufficientPermissions,
                "this API key is restricted to one project",
            )),
        }
    }

    pub fn api_key_id(&self) -> Option<Uuid> {
        match &self.credential {
            Credential::ApiKey { key_id, .. } => Some(*key_id),
            Credential::AccessToken => None,
        }
    }
}
