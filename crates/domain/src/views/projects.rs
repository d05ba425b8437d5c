//! Projects, their settings, members and invitations.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tc_store::{
    InvitationRecord, MemberRecord, ProjectRecord, ProjectSettings, Role, UserRecord, Visibility,
};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SettingsInput {
    pub auto_scan: Option<bool>,
    pub embedding_model: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateProjectRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `private` (default) or `team`.
    pub visibility: Option<String>,
    pub settings: Option<SettingsInput>,
}

/// Every field is optional; absent fields keep their value.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateProjectRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<String>,
    pub settings: Option<SettingsInput>,
}

/// Exactly one of `email` or `user_id`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AddContributorRequest {
    pub email: Option<String>,
    pub user_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct SettingsView {
    pub auto_scan: bool,
    pub embedding_model: String,
}

impl From<ProjectSettings> for SettingsView {
    fn from(s: ProjectSettings) -> Self {
        SettingsView { auto_scan: s.auto_scan, embedding_model: s.embedding_model }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct ProjectView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub settings: SettingsView,
    pub owner_id: Uuid,
    /// The caller's role, or null for a reader of a team project.
    pub role: Option<Role>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set while the project is in the 30-day restore window.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl ProjectView {
    pub fn new(p: ProjectRecord, role: Option<Role>) -> Self {
        ProjectView {
            id: p.id,
            name: p.name,
            description: p.description,
            visibility: p.visibility,
            settings: p.settings.into(),
            owner_id: p.owner_id,
            role,
            created_at: p.created_at,
            updated_at: p.updated_at,
            deleted_at: p.deleted_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub added_at: DateTime<Utc>,
}

impl MemberView {
    pub fn new(m: MemberRecord, u: UserRecord) -> Self {
        MemberView {
            user_id: u.id,
            email: u.email,
            name: u.name,
            role: m.role,
            added_at: m.added_at,
        }
    }
}

/// Where an invitation stands; only pending ones are kept, so it is the one value today, named
/// so that clients can match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
}

/// An invitation to contribute to a project: to its owner, the address invited; to the
/// invited person, who invited them where.
#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct InvitationView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub project_name: String,
    /// The address invited (lower-cased).
    pub email: String,
    pub role: Role,
    /// `pending` until accepted or declined (neither is kept).
    pub status: InvitationStatus,
    pub invited_by: Option<InviterView>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema, JsonSchema)]
pub struct InviterView {
    pub id: Uuid,
    pub name: String,
    pub email: String,
}

impl InvitationView {
    pub fn new(i: InvitationRecord, project_name: &str, inviter: Option<&UserRecord>) -> Self {
        InvitationView {
            id: i.id,
            project_id: i.project_id,
            project_name: project_name.to_string(),
            email: i.email,
            role: i.role,
            status: InvitationStatus::Pending,
            invited_by: inviter.map(|u| InviterView {
                id: u.id,
                name: u.name.clone(),
                email: u.email.clone(),
            }),
            created_at: i.created_at,
        }
    }
}
