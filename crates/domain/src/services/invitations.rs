//! Invitations: the only way into someone else's project, and, while sign-up is by invitation,
//! into the server.
//!
//! A project owner invites an email address; nothing is granted until the account holding that
//! address accepts. An invitation that is pending counts nowhere (not in access checks, project
//! lists, searches or the project a save without `project_id` is sent to), because a membership
//! forced on someone captured their saves. The answer to an invitation is the same whether an
//! account has the address or not, so inviting cannot be used to learn who is registered; an
//! account created later with the address finds the invitation waiting.
//!
//! Sign-up invitations are an operator's (`teamcontext user invite EMAIL`): a single-use token
//! for one address, stored hashed, that `REGISTRATION=invite` requires at registration.

use chrono::{Duration, Utc};
use tc_store::{
    InvitationRecord, MemberRecord, Role, Scope, SignupInvitationRecord, StoreError, UserRecord,
};
use tracing::{info, instrument};
use uuid::Uuid;

use super::{Services, mask_email, validate};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::secrets;
use crate::views::{AddContributorRequest, InvitationView, ProjectView, SignupInvitation};

/// How long an operator's sign-up invitation stays usable.
pub const SIGNUP_INVITATION_DAYS: i64 = 7;

fn invitation_not_found() -> DomainError {
    DomainError::new(ErrorCode::ResourceNotFound, "invitation not found")
}

impl Services {
    /// Invites `email` (or the account `user_id`) to contribute to the project (owner only).
    /// The answer does not depend on whether the address has an account.
    #[instrument(skip_all, fields(user_id = %caller.user_id, project_id = %id))]
    pub async fn add_contributor(
        &self,
        caller: &Caller,
        id: Uuid,
        req: AddContributorRequest,
    ) -> DomainResult<InvitationView> {
        caller.require_scope(Scope::Write)?;
        caller.require_unrestricted()?;
        let project = self.owned_project(caller, id, false).await?;
        let email = match (req.email.as_deref(), req.user_id) {
            (Some(email), None) => validate::email(Some(email))?.to_lowercase(),
            (None, Some(user_id)) => self
                .store
                .user_by_id(user_id)
                .await?
                .filter(|u| u.is_active)
                .ok_or_else(|| DomainError::not_found("user"))?
                .email
                .to_lowercase(),
            (None, None) => return Err(DomainError::missing("email")),
            (Some(_), Some(_)) => {
                return Err(DomainError::validation(
                    "email",
                    "give `email` or `user_id`, not both",
                ));
            }
        };
        // The owner sees the member list anyway, so saying that someone is a member already
        // reveals nothing new.
        let members = self.store.list_members(id).await?;
        if members.iter().any(|(_, u)| u.email.eq_ignore_ascii_case(&email)) {
            return Err(DomainError::new(
                ErrorCode::Conflict,
                "that address belongs to a member of this project already",
            ));
        }
        let invitation = InvitationRecord {
            id: Uuid::now_v7(),
            project_id: id,
            email,
            role: Role::Contributor,
            invited_by: caller.user_id,
            created_at: self.now(),
        };
        match self.store.insert_invitation(&invitation).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                return Err(DomainError::new(
                    ErrorCode::Conflict,
                    "that address has a pending invitation to this project already",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        info!(invitation_id = %invitation.id, email = %mask_email(&invitation.email), "contributor invited");
        let inviter = self.store.user_by_id(caller.user_id).await?;
        Ok(InvitationView::new(invitation, &project.name, inviter.as_ref()))
    }

    /// A project's pending invitations (owner only).
    pub async fn list_project_invitations(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> DomainResult<Vec<InvitationView>> {
        caller.require_scope(Scope::Read)?;
        let project = self.owned_project(caller, id, false).await?;
        let invitations = self.store.list_project_invitations(id).await?;
        let mut views = Vec::with_capacity(invitations.len());
        for invitation in invitations {
            let inviter = self.store.user_by_id(invitation.invited_by).await?;
            views.push(InvitationView::new(invitation, &project.name, inviter.as_ref()));
        }
        Ok(views)
    }

    /// Withdraws a pending invitation (owner only).
    #[instrument(skip_all, fields(user_id = %caller.user_id, project_id = %id))]
    pub async fn revoke_invitation(
        &self,
        caller: &Caller,
        id: Uuid,
        invitation_id: Uuid,
    ) -> DomainResult<()> {
        caller.require_scope(Scope::Write)?;
        self.owned_project(caller, id, false).await?;
        match self.store.invitation_by_id(invitation_id).await? {
            Some(i) if i.project_id == id => {}
            _ => return Err(invitation_not_found()),
        }
        self.store.delete_invitation(invitation_id).await.map_err(|e| match e {
            StoreError::NotFound => invitation_not_found(),
            other => other.into(),
        })
    }

    /// The invitations waiting for the caller's address, into live projects.
    pub async fn my_invitations(&self, caller: &Caller) -> DomainResult<Vec<InvitationView>> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Read)?;
        let me = self.invitee(caller).await?;
        let pending = self.store.list_invitations_for(&me.email).await?;
        let mut views = Vec::with_capacity(pending.len());
        for (invitation, project) in pending {
            let inviter = self.store.user_by_id(invitation.invited_by).await?;
            views.push(InvitationView::new(invitation, &project.name, inviter.as_ref()));
        }
        Ok(views)
    }

    /// Accepts an invitation addressed to the caller: from now on the caller is a contributor.
    #[instrument(skip_all, fields(user_id = %caller.user_id, invitation_id = %invitation_id))]
    pub async fn accept_invitation(
        &self,
        caller: &Caller,
        invitation_id: Uuid,
    ) -> DomainResult<ProjectView> {
        let invitation = self.my_invitation(caller, invitation_id).await?;
        self.require_may_accept_invitation(caller)?;
        let (project, _) = self
            .store
            .project_with_role(invitation.project_id, caller.user_id)
            .await?
            .filter(|(p, _)| p.deleted_at.is_none())
            .ok_or_else(invitation_not_found)?;
        let member = MemberRecord {
            project_id: invitation.project_id,
            user_id: caller.user_id,
            role: invitation.role,
            added_at: self.now(),
        };
        self.store.accept_invitation(invitation_id, &member).await.map_err(|e| match e {
            StoreError::NotFound => invitation_not_found(),
            other => other.into(),
        })?;
        info!(project_id = %project.id, "invitation accepted");
        let role =
            self.store.project_with_role(project.id, caller.user_id).await?.and_then(|r| r.1);
        Ok(ProjectView::new(project, role))
    }

    /// Declines an invitation addressed to the caller; the owner may invite again.
    #[instrument(skip_all, fields(user_id = %caller.user_id, invitation_id = %invitation_id))]
    pub async fn decline_invitation(
        &self,
        caller: &Caller,
        invitation_id: Uuid,
    ) -> DomainResult<()> {
        self.my_invitation(caller, invitation_id).await?;
        self.store.delete_invitation(invitation_id).await.map_err(|e| match e {
            StoreError::NotFound => invitation_not_found(),
            other => other.into(),
        })?;
        info!("invitation declined");
        Ok(())
    }

    /// The caller's account, for acting on its own invitations (with a credential that may
    /// manage the account: not a key restricted to one project).
    async fn invitee(&self, caller: &Caller) -> DomainResult<UserRecord> {
        caller.require_unrestricted()?;
        self.store.user_by_id(caller.user_id).await?.ok_or_else(|| DomainError::not_found("user"))
    }

    /// An invitation addressed to the caller; any other is not found.
    async fn my_invitation(
        &self,
        caller: &Caller,
        invitation_id: Uuid,
    ) -> DomainResult<InvitationRecord> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Write)?;
        let me = self.invitee(caller).await?;
        match self.store.invitation_by_id(invitation_id).await? {
            Some(i) if i.email.eq_ignore_ascii_case(&me.email) => Ok(i),
            _ => Err(invitation_not_found()),
        }
    }

    /// An operator's invitation to register (`teamcontext user invite`): the token to hand to
    /// the person, shown once.
    pub async fn admin_invite_signup(&self, email: &str) -> DomainResult<SignupInvitation> {
        let email = validate::email(Some(email))?.to_lowercase();
        let token = format!("tci_{}", secrets::new_opaque_token());
        let now = self.now();
        let invitation = SignupInvitationRecord {
            id: Uuid::now_v7(),
            email: email.clone(),
            token_hash: secrets::sha256_hex(&token),
            created_at: now,
            expires_at: now + Duration::days(SIGNUP_INVITATION_DAYS),
            used_at: None,
        };
        self.store.insert_signup_invitation(&invitation).await?;
        info!(email = %mask_email(&email), "sign-up invitation created");
        Ok(SignupInvitation { email, token, expires_at: invitation.expires_at })
    }

    /// Spends a sign-up invitation for `email`, or says why it cannot be spent.
    pub(crate) async fn use_signup_invitation(
        &self,
        email: &str,
        token: Option<&str>,
    ) -> DomainResult<()> {
        let refused = |message: &str| {
            DomainError::new(ErrorCode::InsufficientPermissions, message.to_string())
                .with_details(serde_json::json!({ "registration": "invite" }))
        };
        let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(refused(
                "this server registers by invitation: ask an administrator for one and send its \
                 `invitation_token`",
            ));
        };
        let now: chrono::DateTime<Utc> = self.now();
        let found = self.store.signup_invitation_by_hash(&secrets::sha256_hex(token)).await?;
        let invitation = match found {
            Some(i)
                if i.email.eq_ignore_ascii_case(email)
                    && i.used_at.is_none()
                    && i.expires_at > now =>
            {
                i
            }
            _ => {
                return Err(refused(
                    "the invitation is unknown, used, expired or for another address",
                ));
            }
        };
        if !self.store.use_signup_invitation(invitation.id, now).await? {
            return Err(refused("the invitation is unknown, used, expired or for another address"));
        }
        Ok(())
    }
}
