//! Operator actions on accounts, used by the `teamcontext user …` admin commands: activate or
//! deactivate, mark an email verified, set a password. They act by email and need no caller
//! because only someone with access to the server's data can run them.

use tracing::info;

use super::Services;
use super::mask_email;
use crate::error::{DomainError, DomainResult};
use crate::passwords;
use crate::views::UserView;

impl Services {
    async fn user_by_email_or_404(&self, email: &str) -> DomainResult<tc_store::UserRecord> {
        self.store.user_by_email(email.trim()).await?.ok_or_else(|| DomainError::not_found("user"))
    }

    /// Deactivation stops the account's API keys and access tokens on their next use and
    /// revokes its refresh tokens and dashboard sessions.
    pub async fn admin_set_active(&self, email: &str, active: bool) -> DomainResult<UserView> {
        let mut user = self.user_by_email_or_404(email).await?;
        let now = self.now();
        self.store.set_user_active(user.id, active, now).await?;
        self.credentials_changed().await;
        if !active {
            self.store.revoke_user_refresh_tokens(user.id, now).await?;
            self.store.revoke_user_web_sessions(user.id, now).await?;
        }
        info!(email = %mask_email(email), active, "account activation changed");
        user.is_active = active;
        user.updated_at = now;
        Ok(user.into())
    }

    pub async fn admin_verify_email(&self, email: &str) -> DomainResult<UserView> {
        let mut user = self.user_by_email_or_404(email).await?;
        let now = self.now();
        self.store.set_user_email_verified(user.id, true, now).await?;
        self.credentials_changed().await;
        user.email_verified = true;
        user.updated_at = now;
        Ok(user.into())
    }

    /// A password reset: sets the password and signs out every session.
    pub async fn admin_reset_password(&self, email: &str, password: String) -> DomainResult<()> {
        passwords::validate_password("password", &password)?;
        let user = self.user_by_email_or_404(email).await?;
        self.set_password(user.id, password).await
    }
}
