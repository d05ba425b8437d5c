//! Outgoing mail. The services decide what to send (a password-reset link, an address
//! verification) and hand a [`Mail`] to the [`Mailer`] the server configured (SMTP); the domain
//! never speaks a mail protocol itself. Without a mailer, the features that need mail answer
//! `MAIL_NOT_CONFIGURED` and the operator's CLI paths remain.

use async_trait::async_trait;

/// One plain-text message to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Delivers mail. An error says why delivery failed, for the log (never for the requester:
/// whether an address gets mail must not be observable).
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: Mail) -> Result<(), String>;
}
