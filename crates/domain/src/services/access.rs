//! Every authorisation rule in one place: who may see or change a project, which projects a
//! caller may read, what an unverified account may do, which keys a credential may manage, and
//! which projects a save may land in unasked. Service methods call these before they touch data;
//! the scope and project-restriction checks of a credential itself live on
//! [`Caller`](crate::Caller), which these rules build on.

use tc_store::{ApiKeyRecord, ProjectRecord, Role, Visibility};
use uuid::Uuid;

use super::{EmailVerification, Services};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult, ErrorCode};

/// What a caller wants to do with a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// See it and what is in it: members, and anyone for a `team` project.
    Read,
    /// Change what is in it: members only.
    Write,
}

fn access_denied(message: &str) -> DomainError {
    DomainError::new(ErrorCode::ProjectAccessDenied, message)
}

impl Services {
    /// The live project `id` as `caller` may see it, with the caller's role. Fails with 404 if
    /// the project is missing, deleted, outside an API key's restriction, or private to others;
    /// with 403 if [`Access::Write`] is asked and the caller is not a member.
    pub(crate) async fn project_for(
        &self,
        caller: &Caller,
        id: Uuid,
        access: Access,
    ) -> DomainResult<(ProjectRecord, Option<Role>)> {
        let (project, role) = self.visible_project(caller, id).await?;
        if project.deleted_at.is_some() {
            return Err(DomainError::project_not_found());
        }
        if access == Access::Write && role.is_none() {
            return Err(access_denied("only members of this project may change it"));
        }
        Ok((project, role))
    }

    /// Like [`Self::project_for`] but for owner-only operations; deleted projects are included
    /// when `include_deleted` (only their owner sees them).
    pub(crate) async fn owned_project(
        &self,
        caller: &Caller,
        id: Uuid,
        include_deleted: bool,
    ) -> DomainResult<ProjectRecord> {
        let (project, role) = self.visible_project(caller, id).await?;
        if project.deleted_at.is_some() && !include_deleted {
            return Err(DomainError::project_not_found());
        }
        if project.deleted_at.is_some() && role != Some(Role::Owner) {
            return Err(DomainError::project_not_found());
        }
        if role != Some(Role::Owner) {
            return Err(access_denied("only the project owner may do this"));
        }
        Ok(project)
    }

    /// The project if the caller may know it exists: a member, or anyone for a `team` project,
    /// within an API key's project restriction. Everything else is not found, never forbidden,
    /// so that ids cannot be probed.
    async fn visible_project(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> DomainResult<(ProjectRecord, Option<Role>)> {
        self.require_verified(caller)?;
        if caller.project_restriction().is_some_and(|p| p != id) {
            return Err(DomainError::project_not_found());
        }
        let (project, role) = self
            .store
            .project_with_role(id, caller.user_id)
            .await?
            .ok_or_else(DomainError::project_not_found)?;
        if role.is_none() && project.visibility != Visibility::Team {
            return Err(DomainError::project_not_found());
        }
        Ok((project, role))
    }

    /// The projects the caller may read now, within an API key's project restriction: the
    /// candidate set of every search and report.
    pub(crate) async fn readable_for(&self, caller: &Caller) -> DomainResult<Vec<Uuid>> {
        let mut readable = self.store.readable_project_ids(caller.user_id).await?;
        if let Some(only) = caller.project_restriction() {
            readable.retain(|p| *p == only);
        }
        Ok(readable)
    }

    /// The live projects a save without `project_id` may land in: those the caller owns or
    /// joined by accepting an invitation (a `team` project someone else runs is readable, not a
    /// place to put the caller's notes), or the one an API key is restricted to.
    pub(crate) async fn save_candidates(&self, caller: &Caller) -> DomainResult<Vec<Uuid>> {
        if let Some(project) = caller.project_restriction() {
            return Ok(vec![project]);
        }
        let page = tc_store::Page { before: None, limit: 1000 };
        let projects = self
            .store
            .list_member_projects(caller.user_id, tc_store::ProjectListFilter::Live, page)
            .await?;
        Ok(projects.into_iter().map(|(p, _)| p.id).collect())
    }

    /// With `EMAIL_VERIFICATION=required`, an unverified caller may do nothing but read its own
    /// profile; every other service entry point calls this.
    pub(crate) fn require_verified(&self, caller: &Caller) -> DomainResult<()> {
        if self.settings.email_verification == EmailVerification::Required && !caller.email_verified
        {
            return Err(DomainError::new(
                ErrorCode::EmailNotVerified,
                "verify your email address before using this server",
            ));
        }
        Ok(())
    }

    /// With `EMAIL_VERIFICATION=limited`, unverified accounts may save but not retrieve.
    pub(crate) fn require_may_retrieve(&self, caller: &Caller) -> DomainResult<()> {
        if self.settings.email_verification == EmailVerification::Limited && !caller.email_verified
        {
            return Err(DomainError::new(
                ErrorCode::EmailNotVerified,
                "verify your email address to retrieve context",
            ));
        }
        Ok(())
    }

    /// While addresses are verified at all, only the verified holder of an address may accept
    /// an invitation sent to it (otherwise registering someone else's address would do).
    pub(crate) fn require_may_accept_invitation(&self, caller: &Caller) -> DomainResult<()> {
        if self.settings.email_verification != EmailVerification::Off && !caller.email_verified {
            return Err(DomainError::new(
                ErrorCode::EmailNotVerified,
                "verify your email address to accept invitations",
            ));
        }
        Ok(())
    }

    /// A credential manages (rotates, revokes) only keys no stronger than itself, so that no
    /// path turns a key into a stronger one: a restricted key only keys of its own project
    /// (others are not found, as they are not listed), and a key only keys whose every scope
    /// it has (a write-only key cannot rotate a read+write key into a new read+write key).
    pub(crate) fn require_not_weaker(
        &self,
        caller: &Caller,
        key: &ApiKeyRecord,
    ) -> DomainResult<()> {
        if let Some(restricted) = caller.project_restriction()
            && key.project_id != Some(restricted)
        {
            return Err(DomainError::not_found("API key"));
        }
        for scope in &key.scopes {
            caller.require_scope(*scope)?;
        }
        Ok(())
    }

    /// The owner removes any contributor; a contributor may only leave. `role` is the caller's
    /// role in the project.
    pub(crate) fn require_may_remove_member(
        &self,
        caller: &Caller,
        role: Option<Role>,
        user_id: Uuid,
    ) -> DomainResult<()> {
        if role != Some(Role::Owner) && user_id != caller.user_id {
            return Err(access_denied("only the project owner may remove contributors"));
        }
        Ok(())
    }
}
