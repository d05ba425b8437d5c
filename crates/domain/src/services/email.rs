//! Mail to an account's own address: the password reset (`/auth/forgot-password`,
//! `/auth/reset-password`) and the address verification (`/auth/verify-email`,
//! `/auth/resend-verification`, and a mail after registration). Each mail carries a single-use
//! token, stored hashed, and a link to the server's page that spends it.
//!
//! Whether an address has an account must not be observable: a reset request answers at once
//! and the same way for any address, and the lookup and the mail happen afterwards.

use std::sync::Arc;

use chrono::Duration;
use serde_json::json;
use tc_store::{EmailTokenPurpose, EmailTokenRecord, Store, UserRecord};
use tracing::{info, instrument, warn};
use uuid::Uuid;

use super::{EmailVerification, Services, mask_email, validate};
use crate::clock::Clock;
use crate::views::{
    ForgotPasswordRequest, MessageResponse, ResetPasswordRequest, UserView, VerifyEmailRequest,
};
use crate::{Caller, DomainError, DomainResult, ErrorCode, Mail, Mailer, passwords, secrets};

/// How long a password-reset link works.
pub const RESET_TOKEN_TTL_MINUTES: i64 = 60;
/// How long an address-verification link works.
pub const VERIFY_TOKEN_TTL_HOURS: i64 = 48;
/// An account is sent at most one mail of each kind this often, whoever asks.
pub const MAIL_INTERVAL_SECS: i64 = 60;

/// What every reset request is told, whether or not the address has an account.
const RESET_REQUESTED: &str = "if an account uses this address, a link to reset its password is on \
     its way (it works for 60 minutes)";

/// Where mail goes out and what its links point at.
#[derive(Clone)]
pub struct MailSettings {
    pub mailer: Arc<dyn Mailer>,
    /// The server's address as its users reach it (`PUBLIC_URL`), without a trailing slash.
    pub public_url: String,
}

impl Services {
    /// Enables mail: password resets and address verification.
    pub fn with_mail(mut self, mailer: Arc<dyn Mailer>, public_url: &str) -> Self {
        self.mail =
            Some(MailSettings { mailer, public_url: public_url.trim_end_matches('/').to_string() });
        self
    }

    fn postman(&self) -> DomainResult<Postman> {
        let mail = self.mail.clone().ok_or_else(|| {
            DomainError::new(
                ErrorCode::MailNotConfigured,
                "this server sends no mail (SMTP_URL is not set): ask its operator, who can \
                 reset a password with `teamcontext user reset-password` and verify an address \
                 with `teamcontext user verify-email`",
            )
        })?;
        Ok(Postman { store: self.store.clone(), clock: self.clock.clone(), mail })
    }

    /// Starts a password reset for `email`. Answers at once, the same for every well-formed
    /// address; an active account with that address is mailed a link (at most one a minute).
    #[instrument(skip_all)]
    pub async fn forgot_password(
        &self,
        req: ForgotPasswordRequest,
    ) -> DomainResult<MessageResponse> {
        let email = validate::email(req.email.as_deref())?;
        let postman = self.postman()?;
        tokio::spawn(async move { postman.send_reset(email).await });
        Ok(MessageResponse { message: RESET_REQUESTED.into() })
    }

    /// Sets a new password with the token from a reset mail, and signs out every session. The
    /// token works once; an older reset link of the same account stops working with it.
    #[instrument(skip_all)]
    pub async fn reset_password(&self, req: ResetPasswordRequest) -> DomainResult<MessageResponse> {
        let token = required_token(req.token.as_deref())?;
        let password = req.new_password.ok_or_else(|| DomainError::missing("new_password"))?;
        // Before the token is spent, so that a refused password does not cost the link.
        passwords::validate_password("new_password", &password)?;
        let spent = self
            .store
            .consume_email_token(
                EmailTokenPurpose::ResetPassword,
                &secrets::sha256_hex(token),
                self.now(),
            )
            .await?
            .ok_or_else(|| invalid_token("reset"))?;
        self.set_password(spent.user_id, password).await?;
        info!(user_id = %spent.user_id, "password reset by mail");
        Ok(MessageResponse {
            message:
                "the password is changed and every session signed out: sign in with the new one"
                    .into(),
        })
    }

    /// Marks the address verified with the token from a verification mail.
    #[instrument(skip_all)]
    pub async fn verify_email(&self, req: VerifyEmailRequest) -> DomainResult<UserView> {
        let token = required_token(req.token.as_deref())?;
        let now = self.now();
        let spent = self
            .store
            .consume_email_token(EmailTokenPurpose::VerifyEmail, &secrets::sha256_hex(token), now)
            .await?
            .ok_or_else(|| invalid_token("verification"))?;
        let mut user = self
            .store
            .user_by_id(spent.user_id)
            .await?
            // The token proves the address it was sent to, not whatever the account uses now.
            .filter(|u| u.email.eq_ignore_ascii_case(&spent.email))
            .ok_or_else(|| invalid_token("verification"))?;
        if !user.email_verified {
            self.store.set_user_email_verified(user.id, true, now).await?;
            self.credentials_changed().await;
            user.email_verified = true;
            user.updated_at = now;
        }
        info!(user_id = %user.id, "address verified by mail");
        Ok(user.into())
    }

    /// Mails the caller a new verification link.
    #[instrument(skip_all)]
    pub async fn resend_verification(&self, caller: &Caller) -> DomainResult<MessageResponse> {
        let user = self.me_record(caller).await?;
        if user.email_verified {
            return Err(DomainError::new(ErrorCode::Conflict, "this address is verified already")
                .with_details(json!({ "email_verified": true })));
        }
        let postman = self.postman()?;
        if let Some(wait) = postman.wait_before(user.id, EmailTokenPurpose::VerifyEmail).await? {
            return Err(DomainError::new(
                ErrorCode::RateLimitExceeded,
                "a verification mail was sent less than a minute ago",
            )
            .with_details(json!({ "retry_after_secs": wait })));
        }
        let address = mask_email(&user.email);
        tokio::spawn(async move { postman.send_verification(user).await });
        Ok(MessageResponse { message: format!("a verification link is on its way to {address}") })
    }

    /// After a registration: mails the new account a verification link, when addresses are
    /// verified at all and mail is configured. The registration never waits for it.
    pub(crate) fn verify_after_registration(&self, user: &UserRecord) {
        if self.settings.email_verification == EmailVerification::Off {
            return;
        }
        if let Ok(postman) = self.postman() {
            let user = user.clone();
            tokio::spawn(async move { postman.send_verification(user).await });
        }
    }
}

fn required_token(token: Option<&str>) -> DomainResult<&str> {
    token.map(str::trim).filter(|t| !t.is_empty()).ok_or_else(|| DomainError::missing("token"))
}

fn invalid_token(kind: &str) -> DomainError {
    DomainError::new(
        ErrorCode::InvalidInput,
        format!("this {kind} link is unknown, used or expired: ask for a new one"),
    )
    .with_details(json!({ "field": "token" }))
}

/// What a background mail needs of the services, owned so that it outlives the request.
struct Postman {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    mail: MailSettings,
}

impl Postman {
    /// Seconds until the account may be sent another mail of this kind, if it must wait.
    async fn wait_before(
        &self,
        user_id: Uuid,
        purpose: EmailTokenPurpose,
    ) -> DomainResult<Option<u64>> {
        let last = self.store.latest_email_token_at(user_id, purpose).await?;
        let now = self.clock.now_millis();
        Ok(last
            .map(|at| at + Duration::seconds(MAIL_INTERVAL_SECS))
            .filter(|next| *next > now)
            .map(|next| u64::try_from((next - now).num_seconds()).unwrap_or(0).max(1)))
    }

    async fn send_reset(self, email: String) {
        let user = match self.store.user_by_email(&email).await {
            Ok(Some(user)) if user.is_active => user,
            Ok(_) => {
                info!(email = %mask_email(&email), "password reset asked for an address with no active account");
                return;
            }
            Err(e) => {
                warn!(error = %e, "password reset: the account lookup failed");
                return;
            }
        };
        // Whoever asks is told the same, so a request within the interval is dropped silently.
        match self.wait_before(user.id, EmailTokenPurpose::ResetPassword).await {
            Ok(None) => {}
            Ok(Some(_)) => {
                info!(user_id = %user.id, "reset mail not sent: one was sent less than a minute ago");
                return;
            }
            Err(e) => {
                warn!(error = %e, "reset mail not sent: the store did not answer");
                return;
            }
        }
        let ttl = Duration::minutes(RESET_TOKEN_TTL_MINUTES);
        let Some(token) = self.issue(&user, EmailTokenPurpose::ResetPassword, ttl).await else {
            return;
        };
        let link = format!("{}/reset-password?token={token}", self.mail.public_url);
        let body = format!(
            "Someone, hopefully you, asked to reset the password of the TeamContext account \
             {email} on {server}.\n\n\
             Choose a new password here within {RESET_TOKEN_TTL_MINUTES} minutes:\n\n{link}\n\n\
             (or send the token to the API: POST /api/v1/auth/reset-password with \
             {{\"token\": \"{token}\", \"new_password\": \"…\"}})\n\n\
             Every session of the account is signed out when the password changes; API keys \
             keep working.\n\n\
             If you did not ask, ignore this mail: the password stays as it is.\n",
            email = user.email,
            server = self.mail.public_url,
        );
        self.deliver(&user, "Reset your TeamContext password", body).await;
    }

    async fn send_verification(self, user: UserRecord) {
        let ttl = Duration::hours(VERIFY_TOKEN_TTL_HOURS);
        let Some(token) = self.issue(&user, EmailTokenPurpose::VerifyEmail, ttl).await else {
            return;
        };
        let link = format!("{}/verify-email?token={token}", self.mail.public_url);
        let body = format!(
            "Welcome to TeamContext on {server}, {name}.\n\n\
             Confirm that {email} is your address within {VERIFY_TOKEN_TTL_HOURS} hours:\n\n\
             {link}\n\n\
             (or send the token to the API: POST /api/v1/auth/verify-email with \
             {{\"token\": \"{token}\"}})\n\n\
             If you did not create this account, ignore this mail.\n",
            server = self.mail.public_url,
            name = user.name,
            email = user.email,
        );
        self.deliver(&user, "Confirm your address for TeamContext", body).await;
    }

    /// Stores a new token of `purpose` for the user and returns it (`None`, logged, if the
    /// store refused it). The callers decide about the once-a-minute limit: a reset request
    /// drops silently, a resend answers 429, a new account has had no mail yet.
    async fn issue(
        &self,
        user: &UserRecord,
        purpose: EmailTokenPurpose,
        ttl: Duration,
    ) -> Option<String> {
        let token = secrets::new_opaque_token();
        let now = self.clock.now_millis();
        let record = EmailTokenRecord {
            id: Uuid::now_v7(),
            user_id: user.id,
            purpose,
            email: user.email.to_lowercase(),
            token_hash: secrets::sha256_hex(&token),
            created_at: now,
            expires_at: now + ttl,
            used_at: None,
        };
        if let Err(e) = self.store.insert_email_token(&record).await {
            warn!(error = %e, "mail not sent: the token could not be stored");
            return None;
        }
        Some(token)
    }

    async fn deliver(&self, user: &UserRecord, subject: &str, body: String) {
        let mail = Mail { to: user.email.clone(), subject: subject.into(), body };
        match self.mail.mailer.send(mail).await {
            Ok(()) => {
                info!(user_id = %user.id, email = %mask_email(&user.email), subject, "mail sent")
            }
            Err(e) => warn!(user_id = %user.id, error = %e, subject, "mail could not be sent"),
        }
    }
}
