//! Projects and their contributors: CRUD, soft delete with a 30-day restore window, purge, and
//! the single access rule every project-scoped operation goes through ([`Services::project_for`]).
//! Contributors join by invitation (`invitations.rs`); here they are listed and removed.
//!
//! Access: members (owner, contributors) read and write; a `team` project may be read by any
//! account on the server; only the owner changes settings, deletes, restores and manages
//! contributors. A project the caller may not see answers 404 (PROJECT_NOT_FOUND) so ids cannot
//! be probed; one the caller sees but may not change answers 403.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tc_store::{
    ProjectListFilter, ProjectRecord, ProjectSettings, Role, Scope, StoreError, Visibility,
};
use tracing::{info, instrument};
use uuid::Uuid;

use super::access::Access;
use super::{Services, validate};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::pagination::{PageParams, Paged};
use crate::views::{
    CreateProjectRequest, MemberView, ProjectView, SettingsInput, UpdateProjectRequest,
};

pub(crate) const RESTORE_WINDOW_DAYS: i64 = 30;
const DEFAULT_EMBEDDING_MODEL: &str = "all-MiniLM-L6-v2";

fn parse_visibility(value: Option<&str>) -> DomainResult<Option<Visibility>> {
    value
        .map(|v| {
            Visibility::parse(v).ok_or_else(|| {
                DomainError::validation("visibility", "`visibility` must be `private` or `team`")
            })
        })
        .transpose()
}

fn apply_settings(
    settings: &mut ProjectSettings,
    input: Option<SettingsInput>,
) -> DomainResult<()> {
    let Some(input) = input else { return Ok(()) };
    if let Some(auto_scan) = input.auto_scan {
        settings.auto_scan = auto_scan;
    }
    if let Some(model) = input.embedding_model {
        settings.embedding_model =
            validate::required_text("settings.embedding_model", Some(&model), 200)?;
    }
    Ok(())
}

impl Services {
    #[instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn create_project(
        &self,
        caller: &Caller,
        req: CreateProjectRequest,
    ) -> DomainResult<ProjectView> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Write)?;
        caller.require_unrestricted()?;
        let name = validate::required_text("name", req.name.as_deref(), 200)?;
        let description =
            validate::optional_text("description", req.description.as_deref(), 10_000)?;
        let visibility =
            parse_visibility(req.visibility.as_deref())?.unwrap_or(Visibility::Private);
        let mut settings = ProjectSettings {
            auto_scan: false,
            embedding_model: DEFAULT_EMBEDDING_MODEL.to_string(),
        };
        apply_settings(&mut settings, req.settings)?;
        let now = self.now();
        let project = ProjectRecord {
            id: Uuid::now_v7(),
            name,
            description,
            owner_id: caller.user_id,
            visibility,
            settings,
            deleted_at: None,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_project(&project).await?;
        self.embed_description(project.id, &project.description).await;
        info!(project_id = %project.id, "project created");
        Ok(ProjectView::new(project, Some(Role::Owner)))
    }

    /// Projects the caller owns or contributes to, newest first. With `deleted`, the caller's own
    /// soft-deleted projects that can still be restored.
    pub async fn list_projects(
        &self,
        caller: &Caller,
        deleted: bool,
        params: &PageParams,
    ) -> DomainResult<Paged<ProjectView>> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Read)?;
        let page = params.to_page()?;
        let filter =
            if deleted { ProjectListFilter::DeletedOwned } else { ProjectListFilter::Live };
        // A key restricted to one project lists that project alone, looked up directly: a page
        // of the user's projects filtered afterwards could miss it.
        if let Some(only) = caller.project_restriction() {
            let found = self.store.project_with_role(only, caller.user_id).await?;
            let listed = found.and_then(|(p, role)| {
                let wanted = if deleted { role == Some(Role::Owner) } else { role.is_some() };
                (wanted && p.deleted_at.is_some() == deleted).then(|| ProjectView::new(p, role))
            });
            return Ok(Paged { items: listed.into_iter().collect(), next_cursor: None });
        }
        let rows = self.store.list_member_projects(caller.user_id, filter, page).await?;
        Ok(Paged::from_rows(rows, page, |(p, _)| p.id, |(p, role)| ProjectView::new(p, Some(role))))
    }

    pub async fn get_project(&self, caller: &Caller, id: Uuid) -> DomainResult<ProjectView> {
        caller.require_scope(Scope::Read)?;
        let (project, role) = self.project_for(caller, id, Access::Read).await?;
        Ok(ProjectView::new(project, role))
    }

    #[instrument(skip_all, fields(user_id = %caller.user_id, project_id = %id))]
    pub async fn update_project(
        &self,
        caller: &Caller,
        id: Uuid,
        req: UpdateProjectRequest,
    ) -> DomainResult<ProjectView> {
        caller.require_scope(Scope::Write)?;
        let mut project = self.owned_project(caller, id, false).await?;
        if req.name.is_some() {
            project.name = validate::required_text("name", req.name.as_deref(), 200)?;
        }
        if req.description.is_some() {
            project.description =
                validate::optional_text("description", req.description.as_deref(), 10_000)?;
        }
        if let Some(visibility) = parse_visibility(req.visibility.as_deref())? {
            project.visibility = visibility;
        }
        apply_settings(&mut project.settings, req.settings)?;
        project.updated_at = self.now();
        self.store.update_project(&project).await?;
        if req.description.is_some() {
            self.embed_description(project.id, &project.description).await;
        }
        Ok(ProjectView::new(project, Some(Role::Owner)))
    }

    /// Soft-deletes: the project disappears for everyone at once and can be restored by its
    /// owner for [`RESTORE_WINDOW_DAYS`] days, after which a purge removes it for good.
    #[instrument(skip_all, fields(user_id = %caller.user_id, project_id = %id))]
    pub async fn delete_project(&self, caller: &Caller, id: Uuid) -> DomainResult<()> {
        caller.require_scope(Scope::Write)?;
        self.owned_project(caller, id, false).await?;
        let now = self.now();
        self.store.set_project_deleted(id, Some(now), now).await?;
        info!("project soft-deleted");
        Ok(())
    }

    #[instrument(skip_all, fields(user_id = %caller.user_id, project_id = %id))]
    pub async fn restore_project(&self, caller: &Caller, id: Uuid) -> DomainResult<ProjectView> {
        caller.require_scope(Scope::Write)?;
        let mut project = self.owned_project(caller, id, true).await?;
        let now = self.now();
        if let Some(deleted_at) = project.deleted_at {
            if deleted_at + Duration::days(RESTORE_WINDOW_DAYS) <= now {
                return Err(DomainError::new(
                    ErrorCode::ProjectNotFound,
                    format!("the {RESTORE_WINDOW_DAYS}-day restore window has passed"),
                )
                .with_details(json!({ "deleted_at": deleted_at })));
            }
            self.store.set_project_deleted(id, None, now).await?;
            project.deleted_at = None;
            project.updated_at = now;
        }
        Ok(ProjectView::new(project, Some(Role::Owner)))
    }

    /// Removes for good the projects whose restore window has passed; returns how many.
    pub async fn purge_expired_projects(&self) -> DomainResult<u64> {
        let cutoff: DateTime<Utc> = self.now() - Duration::days(RESTORE_WINDOW_DAYS);
        let purged = self.store.purge_deleted_projects(cutoff).await?;
        if purged > 0 {
            info!(purged, "purged projects past their restore window");
        }
        Ok(purged)
    }

    pub async fn list_contributors(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> DomainResult<Vec<MemberView>> {
        caller.require_scope(Scope::Read)?;
        self.project_for(caller, id, Access::Read).await?;
        let members = self.store.list_members(id).await?;
        Ok(members.into_iter().map(|(m, u)| MemberView::new(m, u)).collect())
    }

    /// The owner removes a contributor, or a contributor leaves. Takes effect on the removed
    /// user's next request, since every access check reads membership from the store.
    #[instrument(skip_all, fields(user_id = %caller.user_id, project_id = %id))]
    pub async fn remove_contributor(
        &self,
        caller: &Caller,
        id: Uuid,
        user_id: Uuid,
    ) -> DomainResult<()> {
        caller.require_scope(Scope::Write)?;
        let (project, role) = self.project_for(caller, id, Access::Write).await?;
        self.require_may_remove_member(caller, role, user_id)?;
        if user_id == project.owner_id {
            return Err(DomainError::validation(
                "user_id",
                "the owner cannot be removed from a project",
            ));
        }
        self.store.delete_member(id, user_id).await.map_err(|e| match e {
            StoreError::NotFound => DomainError::not_found("contributor"),
            other => other.into(),
        })?;
        info!(contributor_id = %user_id, "contributor removed");
        Ok(())
    }
}
