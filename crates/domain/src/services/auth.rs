//! Accounts and sessions: registration, login, refresh-token rotation with reuse detection,
//! logout, password change, and turning a bearer credential into a [`Caller`].

use chrono::Duration;
use serde_json::json;
use tc_store::{RefreshOutcome, RefreshTokenRecord, Scope, UserRecord};
use tracing::{info, instrument, warn};
use uuid::Uuid;

use super::auth_cache::{CacheKey, Cached, Stamp};
use super::{Registration, Services, validate};
use crate::caller::{Caller, Credential};
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::passwords::{self, DUMMY_HASH};
use crate::secrets;
use crate::views::{
    ChangePasswordRequest, LoginRequest, LoginResponse, NewApiKeyView, RefreshRequest,
    RegisterRequest, RegisterResponse, TokenPair, UserView,
};

const BEARER: &str = "Bearer";

fn invalid_credentials() -> DomainError {
    DomainError::new(ErrorCode::InvalidCredentials, "email or password is incorrect")
}

fn token_revoked(reason: &str, message: &str) -> DomainError {
    DomainError::new(ErrorCode::TokenRevoked, message).with_details(json!({ "reason": reason }))
}

/// Masks an email for logs: `ann@example.com` → `a***@example.com`.
pub(crate) fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

impl Services {
    #[instrument(skip_all)]
    pub async fn register(&self, req: RegisterRequest) -> DomainResult<RegisterResponse> {
        let (user, api_key) = self.create_account(req).await?;
        let pair = self.issue_pair(user.id, Uuid::now_v7()).await?;
        Ok(RegisterResponse { user: user.into(), tokens: pair, api_key })
    }

    /// A new account and its first API key (shown this once), under the server's registration
    /// policy: what the API's and the dashboard's registrations share.
    pub(super) async fn create_account(
        &self,
        req: RegisterRequest,
    ) -> DomainResult<(UserRecord, NewApiKeyView)> {
        let email = validate::email(req.email.as_deref())?;
        let password = req.password.ok_or_else(|| DomainError::missing("password"))?;
        passwords::validate_password("password", &password)?;
        let name = validate::required_text("name", req.name.as_deref(), 100)?;
        if self.settings.registration == Registration::Closed {
            return Err(DomainError::new(
                ErrorCode::InsufficientPermissions,
                "registration is closed on this server: ask its administrator for an account",
            )
            .with_details(json!({ "registration": "closed" })));
        }
        if self.store.user_by_email(&email).await?.is_some() {
            return Err(email_taken());
        }
        // After the address check, so that a taken address never spends an invitation.
        if self.settings.registration == Registration::Invite {
            self.use_signup_invitation(&email, req.invitation_token.as_deref()).await?;
        }
        let now = self.now();
        let user = UserRecord {
            id: Uuid::now_v7(),
            email,
            name,
            password_hash: passwords::hash_password(password).await?,
            is_active: true,
            email_verified: false,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_user(&user).await.map_err(|e| match DomainError::from(e) {
            // Two registrations of one address racing: the unique index decides.
            err if err.code == ErrorCode::Conflict => email_taken(),
            err => err,
        })?;
        info!(user_id = %user.id, email = %mask_email(&user.email), "user registered");
        self.verify_after_registration(&user);
        let api_key = self
            .insert_new_key(user.id, "default".into(), vec![Scope::Read, Scope::Write], None)
            .await?;
        Ok((user, api_key))
    }

    #[instrument(skip_all)]
    pub async fn login(&self, req: LoginRequest) -> DomainResult<LoginResponse> {
        let user = self.check_password(req).await?;
        let pair = self.issue_pair(user.id, Uuid::now_v7()).await?;
        Ok(LoginResponse { tokens: pair, user: user.into() })
    }

    /// The active account these credentials open, or INVALID_CREDENTIALS whatever is wrong.
    pub(super) async fn check_password(&self, req: LoginRequest) -> DomainResult<UserRecord> {
        let email = req.email.ok_or_else(|| DomainError::missing("email"))?;
        let password = req.password.ok_or_else(|| DomainError::missing("password"))?;
        let user = self.store.user_by_email(email.trim()).await?;
        // Verify against a dummy hash when the account is unknown, so response time does not
        // reveal which emails are registered.
        let hash = user.as_ref().map_or(DUMMY_HASH.to_string(), |u| u.password_hash.clone());
        let matches = passwords::verify_password(password, hash).await?;
        match user {
            Some(u) if matches && u.is_active => Ok(u),
            _ => Err(invalid_credentials()),
        }
    }

    /// Spends a refresh token for a new pair. Of concurrent uses the first wins; a spent token
    /// shown again after the reuse window revokes its whole family (it was probably stolen).
    #[instrument(skip_all)]
    pub async fn refresh(&self, req: RefreshRequest) -> DomainResult<TokenPair> {
        let token = req.refresh_token.ok_or_else(|| DomainError::missing("refresh_token"))?;
        let now = self.now();
        let hash = secrets::sha256_hex(&token);
        match self.store.consume_refresh_token(&hash, now).await? {
            RefreshOutcome::Consumed(record) => {
                let user = self.store.user_by_id(record.user_id).await?;
                if !user.is_some_and(|u| u.is_active) {
                    self.store.revoke_refresh_family(record.family_id, now).await?;
                    return Err(token_revoked("account_deactivated", "the account is deactivated"));
                }
                let pair = self.issue_pair(record.user_id, record.family_id).await?;
                // A logout or password change that revoked the family between spending the old
                // token and storing the new one would miss the new one: look at the old token
                // again, and if it was revoked meanwhile, revoke the new one too.
                if let RefreshOutcome::Rejected(spent) =
                    self.store.consume_refresh_token(&hash, now).await?
                    && spent.revoked_at.is_some()
                {
                    self.store.revoke_refresh_family(record.family_id, self.now()).await?;
                    return Err(token_revoked("revoked", "the refresh token has been revoked"));
                }
                Ok(pair)
            }
            RefreshOutcome::Unknown => {
                Err(token_revoked("unknown", "the refresh token is not valid"))
            }
            RefreshOutcome::Rejected(record) => Err(self.rejected_refresh(record, now).await?),
        }
    }

    async fn rejected_refresh(
        &self,
        record: RefreshTokenRecord,
        now: chrono::DateTime<chrono::Utc>,
    ) -> DomainResult<DomainError> {
        if record.revoked_at.is_some() {
            return Ok(token_revoked("revoked", "the refresh token has been revoked"));
        }
        if let Some(used_at) = record.used_at {
            if now - used_at > Duration::seconds(self.settings.refresh_reuse_window_secs) {
                warn!(user_id = %record.user_id, family_id = %record.family_id,
                      "refresh token reused after its window: revoking the family");
                self.store.revoke_refresh_family(record.family_id, now).await?;
                return Ok(token_revoked(
                    "reuse_detected",
                    "the refresh token was already used; all sessions from that login are revoked",
                ));
            }
            return Ok(token_revoked("already_used", "the refresh token was already used"));
        }
        Ok(DomainError::new(ErrorCode::TokenExpired, "the refresh token has expired"))
    }

    /// Revokes the family of the given refresh token. Unknown tokens are accepted silently:
    /// logging out must not reveal whether a token existed.
    #[instrument(skip_all)]
    pub async fn logout(&self, req: RefreshRequest) -> DomainResult<()> {
        let token = req.refresh_token.ok_or_else(|| DomainError::missing("refresh_token"))?;
        let now = self.now();
        let hash = secrets::sha256_hex(&token);
        let family = match self.store.consume_refresh_token(&hash, now).await? {
            RefreshOutcome::Consumed(r) | RefreshOutcome::Rejected(r) => Some(r.family_id),
            RefreshOutcome::Unknown => None,
        };
        if let Some(family_id) = family {
            self.store.revoke_refresh_family(family_id, now).await?;
        }
        Ok(())
    }

    async fn issue_pair(&self, user_id: Uuid, family_id: Uuid) -> DomainResult<TokenPair> {
        let now = self.now();
        let refresh_token = secrets::new_opaque_token();
        self.store
            .insert_refresh_token(&RefreshTokenRecord {
                id: Uuid::now_v7(),
                user_id,
                family_id,
                hash: secrets::sha256_hex(&refresh_token),
                created_at: now,
                expires_at: now + Duration::seconds(self.settings.refresh_token_ttl_secs),
                used_at: None,
                revoked_at: None,
            })
            .await?;
        Ok(TokenPair {
            access_token: self.jwt.issue(user_id, now, self.settings.access_token_ttl_secs)?,
            refresh_token,
            token_type: BEARER,
            expires_in: self.settings.access_token_ttl_secs,
        })
    }

    /// Turns an `Authorization: Bearer` credential (JWT or `tc_` API key) into a [`Caller`].
    /// Revocation, expiry and deactivation are checked against the store on every call, so
    /// they take effect on the next request on every replica.
    pub async fn authenticate(&self, credential: &str) -> DomainResult<Caller> {
        let now = self.now();
        let caller = if secrets::looks_like_api_key(credential) {
            let invalid = |reason: &str, message: &str| {
                DomainError::new(ErrorCode::InvalidApiKey, message)
                    .with_details(json!({ "reason": reason }))
            };
            let Some((key, user)) =
                self.api_key_with_owner(secrets::sha256_hex(credential)).await?
            else {
                return Err(invalid("unknown", "the API key is not valid"));
            };
            if let Some(revoked_at) = key.revoked_at {
                return Err(DomainError::new(
                    ErrorCode::InvalidApiKey,
                    "the API key has been revoked",
                )
                .with_details(json!({ "reason": "revoked", "revoked_at": revoked_at })));
            }
            if let Some(expires_at) = key.expires_at
                && expires_at <= now
            {
                return Err(DomainError::new(ErrorCode::InvalidApiKey, "the API key has expired")
                    .with_details(json!({ "reason": "expired", "expired_at": expires_at })));
            }
            if !user.is_active {
                return Err(invalid("account_deactivated", "the account is deactivated"));
            }
            self.record_key_use(key.id, now);
            Caller {
                user_id: user.id,
                email_verified: user.email_verified,
                credential: Credential::ApiKey {
                    key_id: key.id,
                    scopes: key.scopes,
                    project_id: key.project_id,
                },
            }
        } else {
            let claims = self.jwt.verify(credential, now)?;
            let user = self.user_for_token(claims.sub).await?;
            let Some(user) = user.filter(|u| u.is_active) else {
                return Err(token_revoked("account_deactivated", "the account is deactivated"));
            };
            Caller {
                user_id: user.id,
                email_verified: user.email_verified,
                credential: Credential::AccessToken,
            }
        };
        Ok(caller)
    }

    /// The key with this hash and its owner, from the authentication cache when possible.
    async fn api_key_with_owner(
        &self,
        hash: String,
    ) -> DomainResult<Option<(tc_store::ApiKeyRecord, UserRecord)>> {
        let stamp = self.cache_stamp().await;
        let cache_key = CacheKey::KeyHash(hash.clone());
        if let Some(stamp) = stamp
            && let Some(Cached::ApiKey(found)) = self.auth_cache.get(&cache_key, stamp.shared)
        {
            return Ok(Some(*found));
        }
        let found = self.store.api_key_by_hash(&hash).await?;
        if let (Some(pair), Some(stamp)) = (&found, stamp) {
            self.auth_cache.put(cache_key, Cached::ApiKey(Box::new(pair.clone())), stamp);
        }
        Ok(found)
    }

    /// The subject of an access token, from the authentication cache when possible.
    async fn user_for_token(&self, user_id: Uuid) -> DomainResult<Option<UserRecord>> {
        let stamp = self.cache_stamp().await;
        let cache_key = CacheKey::User(user_id);
        if let Some(stamp) = stamp
            && let Some(Cached::User(user)) = self.auth_cache.get(&cache_key, stamp.shared)
        {
            return Ok(Some(*user));
        }
        let user = self.store.user_by_id(user_id).await?;
        if let (Some(u), Some(stamp)) = (&user, stamp) {
            self.auth_cache.put(cache_key, Cached::User(Box::new(u.clone())), stamp);
        }
        Ok(user)
    }

    /// The generations a cached credential must carry to be used now, read before the lookup;
    /// `None` when the cache is off or the shared generation cannot be read (then the database
    /// decides, which is always right).
    async fn cache_stamp(&self) -> Option<Stamp> {
        if !self.auth_cache.enabled() {
            return None;
        }
        let local = self.auth_cache.generation();
        let shared = match &self.shared {
            None => 0,
            Some(shared) => shared.credential_generation().await?,
        };
        Some(Stamp { local, shared })
    }

    /// Called after any change that can invalidate a credential, so that it takes effect on the
    /// next request, here and (with shared state) on every other replica.
    pub(crate) async fn credentials_changed(&self) {
        self.auth_cache.invalidate();
        if let Some(shared) = &self.shared
            && !shared.bump_credential_generation().await
        {
            tracing::warn!(
                "shared state unreachable: other replicas may accept a changed credential until their AUTH_CACHE_TTL_MS passes"
            );
        }
    }

    /// Changes the caller's password after checking the current one, and signs out every
    /// session (all refresh tokens and dashboard sessions). API keys are left alone: rotating them is the user's call.
    #[instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn change_password(
        &self,
        caller: &Caller,
        req: ChangePasswordRequest,
    ) -> DomainResult<()> {
        caller.require_unrestricted()?;
        caller.require_scope(Scope::Write)?;
        let current =
            req.current_password.ok_or_else(|| DomainError::missing("current_password"))?;
        let new = req.new_password.ok_or_else(|| DomainError::missing("new_password"))?;
        passwords::validate_password("new_password", &new)?;
        let user = self.me_record(caller).await?;
        if !passwords::verify_password(current, user.password_hash).await? {
            return Err(invalid_credentials());
        }
        self.set_password(user.id, new).await
    }

    pub(crate) async fn set_password(&self, user_id: Uuid, password: String) -> DomainResult<()> {
        let hash = passwords::hash_password(password).await?;
        let now = self.now();
        self.store.update_user_password(user_id, &hash, now).await?;
        self.store.revoke_user_refresh_tokens(user_id, now).await?;
        self.store.revoke_user_web_sessions(user_id, now).await?;
        Ok(())
    }

    pub async fn me(&self, caller: &Caller) -> DomainResult<UserView> {
        Ok(self.me_record(caller).await?.into())
    }

    pub(super) async fn me_record(&self, caller: &Caller) -> DomainResult<UserRecord> {
        self.store.user_by_id(caller.user_id).await?.ok_or_else(|| DomainError::not_found("user"))
    }
}

fn email_taken() -> DomainError {
    DomainError::new(ErrorCode::Conflict, "an account with this email already exists")
        .with_details(json!({ "field": "email" }))
}

#[cfg(test)]
mod tests {
    use super::mask_email;

    #[test]
    fn masks_emails() {
        assert_eq!(mask_email("ann@example.com"), "a***@example.com");
        assert_eq!(mask_email("nonsense"), "***");
    }
}
