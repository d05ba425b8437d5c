//! Dashboard sessions: signing in and registering from the browser, turning the session
//! cookie into a [`Caller`], the CSRF token bound to each session, and signing out (here or
//! everywhere). The cookie's token is an opaque secret; the store keeps its SHA-256 only.
//! A session gives its user's full rights, like an access token, but only the dashboard
//! accepts it: `/api/v1` and `/mcp` take bearer credentials alone.

use chrono::Duration;
use tc_store::{UserRecord, WebSessionRecord};
use tracing::{info, instrument};
use uuid::Uuid;

use super::Services;
use super::auth::mask_email;
use crate::caller::{Caller, Credential};
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::secrets;
use crate::views::{LoginRequest, NewApiKeyView, RegisterRequest};

/// A session's last use is written at most this often: a page load is not a write.
const TOUCH_EVERY_SECS: i64 = 60;

/// A session just opened: the token goes into the cookie, and nowhere else.
#[derive(Debug)]
pub struct OpenedWebSession {
    pub token: String,
    pub user: UserRecord,
    /// Present after a registration: the account's first API key, shown once.
    pub api_key: Option<NewApiKeyView>,
}

/// The caller behind a session cookie, with what the pages need about them.
#[derive(Debug, Clone)]
pub struct WebCaller {
    pub caller: Caller,
    pub session_id: Uuid,
    pub user: UserRecord,
    /// The token every form and htmx request of this session must carry.
    pub csrf: String,
}

/// The CSRF token of the session whose cookie token is `token`: derived from the token, so it
/// needs no storage, and unguessable to a page that cannot read the (HttpOnly) cookie.
pub fn csrf_token(token: &str) -> String {
    secrets::sha256_hex(&format!("csrf\0{token}"))
}

fn session_over(reason: &str) -> DomainError {
    DomainError::new(ErrorCode::TokenExpired, format!("the session {reason}: sign in again"))
        .with_details(serde_json::json!({ "reason": reason }))
}

impl Services {
    /// Token lifetimes and account policy (the dashboard shows the registration form that
    /// applies, and sets its cookie's lifetime from them).
    pub fn auth_settings(&self) -> &crate::AuthSettings {
        &self.settings
    }

    /// Signs in with email and password and opens a dashboard session.
    #[instrument(skip_all)]
    pub async fn open_web_session(&self, req: LoginRequest) -> DomainResult<OpenedWebSession> {
        let user = self.check_password(req).await?;
        let token = self.insert_web_session(user.id).await?;
        Ok(OpenedWebSession { token, user, api_key: None })
    }

    /// Registers an account (under the server's registration policy) and opens its first
    /// dashboard session.
    #[instrument(skip_all)]
    pub async fn register_web(&self, req: RegisterRequest) -> DomainResult<OpenedWebSession> {
        let (user, api_key) = self.create_account(req).await?;
        let token = self.insert_web_session(user.id).await?;
        info!(email = %mask_email(&user.email), "registered from the dashboard");
        Ok(OpenedWebSession { token, user, api_key: Some(api_key) })
    }

    async fn insert_web_session(&self, user_id: Uuid) -> DomainResult<String> {
        let now = self.now();
        let token = secrets::new_opaque_token();
        self.store
            .insert_web_session(&WebSessionRecord {
                id: Uuid::now_v7(),
                user_id,
                hash: secrets::sha256_hex(&token),
                created_at: now,
                last_seen_at: now,
                expires_at: now + Duration::seconds(self.settings.web_session_max_secs),
                revoked_at: None,
            })
            .await?;
        Ok(token)
    }

    /// The caller whose session cookie holds `token`. Fails with TOKEN_EXPIRED (details.reason
    /// `unknown | revoked | expired | idle | account_deactivated`) when the session is over.
    pub async fn web_caller(&self, token: &str) -> DomainResult<WebCaller> {
        let now = self.now();
        let Some(session) = self.store.web_session(&secrets::sha256_hex(token)).await? else {
            return Err(session_over("unknown"));
        };
        if session.revoked_at.is_some() {
            return Err(session_over("revoked"));
        }
        if session.expires_at <= now {
            return Err(session_over("expired"));
        }
        if now - session.last_seen_at > Duration::seconds(self.settings.web_session_idle_secs) {
            return Err(session_over("idle"));
        }
        let user = self.store.user_by_id(session.user_id).await?;
        let Some(user) = user.filter(|u| u.is_active) else {
            return Err(session_over("account_deactivated"));
        };
        if now - session.last_seen_at > Duration::seconds(TOUCH_EVERY_SECS) {
            self.store.touch_web_session(session.id, now).await?;
        }
        Ok(WebCaller {
            caller: Caller {
                user_id: user.id,
                email_verified: user.email_verified,
                credential: Credential::AccessToken,
            },
            session_id: session.id,
            user,
            csrf: csrf_token(token),
        })
    }

    /// Ends one dashboard session.
    pub async fn close_web_session(&self, session_id: Uuid) -> DomainResult<()> {
        Ok(self.store.revoke_web_session(session_id, self.now()).await?)
    }

    /// Signs the user out everywhere: every dashboard session and every refresh token (API
    /// clients signed in with a password). API keys keep working: revoking them is the user's
    /// call, key by key.
    pub async fn sign_out_everywhere(&self, caller: &Caller) -> DomainResult<()> {
        caller.require_unrestricted()?;
        let now = self.now();
        self.store.revoke_user_web_sessions(caller.user_id, now).await?;
        self.store.revoke_user_refresh_tokens(caller.user_id, now).await?;
        info!(user_id = %caller.user_id, "signed out everywhere");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_bound_to_the_session_token() {
        assert_eq!(csrf_token("a"), csrf_token("a"));
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_ne!(csrf_token("a"), secrets::sha256_hex("a"));
    }
}
