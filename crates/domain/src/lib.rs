//! TeamContext's domain: the types clients see, the rules for validating them, and the services
//! that REST handlers and MCP tools both call. Nothing here knows about HTTP or
//! SQL; storage is reached only through [`tc_store::Store`], time only through [`Clock`].

pub mod caller;
pub mod clock;
pub mod error;
pub mod jwt;
pub mod mail;
pub mod metrics;
pub mod pagination;
pub mod passwords;
pub mod sealing;
pub mod secrets;
pub mod services;
pub mod shared;
pub mod stories;
pub mod views;
pub mod words;

pub use caller::{Caller, Credential};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{DomainError, DomainResult, ErrorCode};
pub use mail::{Mail, Mailer};
pub use services::{
    AuthSettings, EmailVerification, OpenedWebSession, Services, WebCaller, csrf_token,
};
pub use shared::SharedState;
