//! The rows the store keeps, as plain Rust values. These are storage records, not API views:
//! they carry hashes and internal fields that `tc-domain` never hands to a client.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: Uuid,
    /// As the user typed it; uniqueness is case-insensitive.
    pub email: String,
    pub name: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    pub is_active: bool,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// The first characters of the key, shown in lists so a user can tell keys apart.
    pub prefix: String,
    /// Lower-case hex SHA-256 of the whole key.
    pub hash: String,
    pub scopes: Vec<Scope>,
    pub project_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    /// All tokens descended from one login share a family; reuse revokes the family.
    pub family_id: Uuid,
    pub hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Only members see it.
    Private,
    /// Every account on the server may read it; only members may write.
    Team,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Team => "team",
        }
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "private" => Some(Visibility::Private),
            "team" => Some(Visibility::Team),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Contributor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Contributor => "contributor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "contributor" => Some(Role::Contributor),
            _ => None,
        }
    }
}

/// Per-project settings, stored as JSON so new settings need no migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSettings {
    pub auto_scan: bool,
    pub embedding_model: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProjectRecord {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub owner_id: Uuid,
    pub visibility: Visibility,
    pub settings: ProjectSettings,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which of a user's projects a list returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectListFilter {
    /// Live projects the user owns or contributes to.
    Live,
    /// Soft-deleted projects the user owns (candidates for restore).
    DeletedOwned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub project_id: Uuid,
    pub user_id: Uuid,
    pub role: Role,
    pub added_at: DateTime<Utc>,
}
