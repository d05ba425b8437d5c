//! Accounts: registration, login and tokens, password reset and address verification by mail,
//! the user, API keys, sign-up invitations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tc_store::{ApiKeyRecord, Scope, UserRecord};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RegisterRequest {
    pub email: Option<String>,
    pub password: Option<String>,
    pub name: Option<String>,
    /// Required while the server registers by invitation (`REGISTRATION=invite`): the token an
    /// administrator created with `teamcontext user invite EMAIL`.
    pub invitation_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: Option<String>,
    pub new_password: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ForgotPasswordRequest {
    pub email: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    /// The token from the reset mail.
    pub token: Option<String>,
    pub new_password: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct VerifyEmailRequest {
    /// The token from the verification mail.
    pub token: Option<String>,
}

/// An answer that only says what happened, for a person to read.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageResponse {
    pub message: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateApiKeyRequest {
    pub name: Option<String>,
    /// Defaults to `["read", "write"]`.
    #[schema(value_type = Option<Vec<String>>, example = json!(["read"]))]
    pub scopes: Option<Vec<String>>,
    /// Restrict the key to one project.
    pub project_id: Option<Uuid>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RotateApiKeyRequest {
    /// The key to rotate; defaults to the calling key, or with a JWT to the oldest key.
    pub key_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub is_active: bool,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            name: u.name,
            is_active: u.is_active,
            email_verified: u.email_verified,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub project_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// Set when the key was rotated: it works until then.
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRecord> for ApiKeyView {
    fn from(k: ApiKeyRecord) -> Self {
        ApiKeyView {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes,
            project_id: k.project_id,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
        }
    }
}

/// A key as created: the only time `key` is ever shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewApiKeyView {
    #[serde(flatten)]
    pub api_key: ApiKeyView,
    /// The secret key. Store it now: it cannot be shown again.
    pub key: String,
}

impl NewApiKeyView {
    pub fn new(k: ApiKeyRecord, key: String) -> Self {
        NewApiKeyView { api_key: k.into(), key }
    }
}

/// A rotated key: the new key (shown this once) and until when the old one still works.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RotatedApiKeyView {
    #[serde(flatten)]
    pub api_key: ApiKeyView,
    /// The new secret key, shown this once.
    pub key: String,
    pub previous_id: Uuid,
    /// The old key keeps working until this time.
    pub previous_expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegisterResponse {
    pub user: UserView,
    #[serde(flatten)]
    pub tokens: TokenPair,
    /// A first API key for MCP clients, shown this once.
    pub api_key: NewApiKeyView,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoginResponse {
    #[serde(flatten)]
    pub tokens: TokenPair,
    pub user: UserView,
}

/// An operator's invitation to register, with its token (shown once).
#[derive(Debug, Clone, Serialize)]
pub struct SignupInvitation {
    pub email: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}
