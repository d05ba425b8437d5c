//! A user's own language model (seed 003's per-user LLM configuration): an OpenAI-compatible
//! endpoint, model and credentials (API key, extra headers such as a gateway's cookie) that
//! their AI calls use instead of the server's. The credentials are sealed at rest with the
//! encryption key, bound to the user; the endpoint is a URL a user typed, so it is reached
//! through the outbound rule. A "test connection" asks the model for one short answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tc_llm::{ChatModel, ChatRequest, Message, OpenAiCompatible, OpenAiSettings};
use tc_store::{Scope, SecretRecord, UserLlmRecord};
use uuid::Uuid;

use super::sources::clip;
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult};
use crate::sealing::{Sealed, Sealer};
use crate::services::Services;
use crate::views::{LlmSettingsRequest, LlmSettingsView, LlmTestView};

/// The sealed secret's kind (part of its associated data).
const CREDENTIALS: &str = "llm_credentials";
const MAX_URL: usize = 2048;
const MAX_MODEL: usize = 200;
const MAX_SECRET: usize = 8192;
const MAX_HEADERS: usize = 20;
/// Longest a connection test waits.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What is sealed: everything that authenticates.
#[derive(Default, Serialize, Deserialize)]
struct Credentials {
    api_key: Option<String>,
    headers: BTreeMap<String, String>,
}

fn open(sealer: &Sealer, record: &UserLlmRecord) -> Option<Credentials> {
    let c = &record.credentials;
    let sealed = Sealed { key_version: c.key_version, bytes: c.sealed.clone() };
    let plain = sealer.open(record.user_id, CREDENTIALS, &sealed).ok()?;
    serde_json::from_str(&plain).ok()
}

fn required(value: Option<String>, field: &str, max: usize) -> DomainResult<String> {
    let value = value.map(|v| v.trim().to_string()).unwrap_or_default();
    if value.is_empty() {
        return Err(DomainError::missing(field));
    }
    if value.len() > max || value.chars().any(char::is_control) {
        return Err(DomainError::validation(
            field,
            format!("`{field}` must be at most {max} printable characters"),
        ));
    }
    Ok(value)
}

fn valid_headers(headers: BTreeMap<String, String>) -> DomainResult<BTreeMap<String, String>> {
    let bad = |m: String| DomainError::validation("headers", m);
    if headers.len() > MAX_HEADERS {
        return Err(bad(format!("at most {MAX_HEADERS} headers")));
    }
    for (name, value) in &headers {
        let token = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token || name.eq_ignore_ascii_case("content-type") || name.eq_ignore_ascii_case("host")
        {
            return Err(bad(format!("{name:?} is not a header this server may send")));
        }
        if value.len() > MAX_SECRET || value.chars().any(char::is_control) {
            return Err(bad(format!("the value of {name:?} is too long or not printable")));
        }
    }
    Ok(headers)
}

impl Services {
    /// The model `user_id`'s AI calls use: their own when they set one (and its credentials
    /// open), else the server's.
    pub(crate) async fn model_for(&self, user_id: Uuid) -> Option<Arc<dyn ChatModel>> {
        let own = self.store.user_llm(user_id).await.ok().flatten();
        self.model_of(user_id, own)
    }

    /// The model for a user whose own settings (if any) are `own`.
    fn model_of(&self, user_id: Uuid, own: Option<UserLlmRecord>) -> Option<Arc<dyn ChatModel>> {
        let server = self.ai.model.clone();
        let Some(record) = own else { return server };
        let (Ok(sealer), Ok(allow)) = (self.sealer(), self.outbound()) else { return server };
        let Some(credentials) = open(sealer, &record) else {
            tracing::warn!(%user_id, "a user's language model credentials cannot be opened; using the server's");
            return server;
        };
        let settings = OpenAiSettings {
            base_url: record.base_url,
            api_key: credentials.api_key,
            model: record.model,
            extra_headers: credentials.headers.into_iter().collect(),
            read_timeout: self.ai.timeout,
        };
        match OpenAiCompatible::new(settings, Some(allow)) {
            Ok(model) => Some(Arc::new(model)),
            Err(e) => {
                tracing::warn!(%user_id, error = %e, "a user's language model cannot be used; using the server's");
                server
            }
        }
    }

    /// `GET /ai/llm-settings`.
    pub async fn llm_settings(&self, caller: &Caller) -> DomainResult<LlmSettingsView> {
        self.require_account_credential(caller, Scope::Read)?;
        let record = self.store.user_llm(caller.user_id).await?;
        Ok(self.llm_view(record.as_ref()))
    }

    fn llm_view(&self, record: Option<&UserLlmRecord>) -> LlmSettingsView {
        match record {
            Some(r) => {
                let credentials = self.sealer().ok().and_then(|s| open(s, r)).unwrap_or_default();
                LlmSettingsView {
                    source: "user".into(),
                    model: Some(r.model.clone()),
                    base_url: Some(r.base_url.clone()),
                    has_api_key: credentials.api_key.is_some(),
                    header_names: credentials.headers.into_keys().collect(),
                    tested_at: r.tested_at,
                    test_error: r.test_error.clone(),
                    updated_at: Some(r.updated_at),
                }
            }
            None => LlmSettingsView {
                source: if self.ai.model.is_some() { "server" } else { "none" }.into(),
                model: self.ai.model.as_ref().map(|m| m.model().to_string()),
                base_url: None,
                has_api_key: false,
                header_names: Vec::new(),
                tested_at: None,
                test_error: None,
                updated_at: None,
            },
        }
    }

    /// `PUT /ai/llm-settings`: sets the caller's own model, replacing the one they had.
    pub async fn set_llm_settings(
        &self,
        caller: &Caller,
        req: LlmSettingsRequest,
    ) -> DomainResult<LlmSettingsView> {
        self.require_account_credential(caller, Scope::Write)?;
        let base_url = required(req.base_url, "base_url", MAX_URL)?;
        let model = required(req.model, "model", MAX_MODEL)?;
        let api_key = match req.api_key {
            Some(key) => Some(required(Some(key), "api_key", MAX_SECRET)?),
            None => None,
        };
        let headers = valid_headers(req.headers.unwrap_or_default())?;
        let parsed = tc_outbound::check_http_url("`base_url`", &base_url, self.outbound()?)
            .map_err(|e| DomainError::validation("base_url", e.0))?;
        if !parsed.username().is_empty() || parsed.query().is_some() || parsed.fragment().is_some()
        {
            return Err(DomainError::validation(
                "base_url",
                "`base_url` must have no credentials, query or fragment",
            ));
        }
        let credentials = serde_json::to_string(&Credentials { api_key, headers })
            .map_err(DomainError::internal)?;
        let sealed = self.sealer()?.seal(caller.user_id, CREDENTIALS, &credentials);
        let now = self.now();
        let record = UserLlmRecord {
            user_id: caller.user_id,
            base_url: base_url.trim_end_matches('/').to_string(),
            model,
            credentials: SecretRecord {
                kind: CREDENTIALS.into(),
                key_version: sealed.key_version,
                sealed: sealed.bytes,
            },
            tested_at: None,
            test_error: None,
            created_at: now,
            updated_at: now,
        };
        self.store.put_user_llm(&record).await?;
        Ok(self.llm_view(Some(&record)))
    }

    /// `DELETE /ai/llm-settings`: back to the server's model.
    pub async fn delete_llm_settings(&self, caller: &Caller) -> DomainResult<()> {
        self.require_account_credential(caller, Scope::Write)?;
        if !self.store.delete_user_llm(caller.user_id).await? {
            return Err(DomainError::not_found("language model settings"));
        }
        Ok(())
    }

    /// `POST /ai/llm-settings/test`: asks the model the caller's calls use for a one-word
    /// answer; the outcome of testing their own model is recorded.
    pub async fn test_llm_settings(&self, caller: &Caller) -> DomainResult<LlmTestView> {
        self.require_account_credential(caller, Scope::Write)?;
        let own = self.store.user_llm(caller.user_id).await?;
        let has_own = own.is_some();
        let Some(model) = self.model_of(caller.user_id, own) else {
            return Err(DomainError::invalid(
                "no language model is configured: set one with PUT /api/v1/ai/llm-settings",
            ));
        };
        let request = ChatRequest {
            messages: vec![Message::user("Reply with the single word OK.")],
            tools: Vec::new(),
            max_tokens: Some(8),
            temperature: Some(0.0),
        };
        let started = Instant::now();
        let answer = tokio::time::timeout(TEST_TIMEOUT, tc_llm::complete(model.as_ref(), &request))
            .await
            .unwrap_or_else(|_| Err(tc_llm::LlmError::TimedOut("the test".into())));
        let latency_ms = started.elapsed().as_millis() as u64;
        let (reply, error) = match answer {
            Ok(done) => (Some(clip(done.text.trim(), 200)), None),
            Err(e) => (None, Some(super::failure_reason(&e))),
        };
        if has_own {
            self.store.set_user_llm_tested(caller.user_id, self.now(), error.as_deref()).await?;
        }
        Ok(LlmTestView {
            ok: error.is_none(),
            source: if has_own { "user" } else { "server" }.into(),
            model: model.model().to_string(),
            latency_ms,
            reply,
            error,
        })
    }
}

/// What resealing users' model credentials did (`teamcontext rotate-encryption-key`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LlmResealReport {
    pub resealed: usize,
    pub current: usize,
    /// Users whose credentials no key opened: their settings are removed (they must set them
    /// again; their calls use the server's model meanwhile).
    pub unreadable: Vec<Uuid>,
}

/// Reseals every user's model credentials with `sealer`'s current key.
pub async fn reseal_user_llms(
    store: &dyn tc_store::Store,
    sealer: &Sealer,
) -> DomainResult<LlmResealReport> {
    let mut report = LlmResealReport::default();
    for mut record in store.list_user_llms().await? {
        if record.credentials.key_version == sealer.key_version() {
            report.current += 1;
            continue;
        }
        let c = &record.credentials;
        let sealed = Sealed { key_version: c.key_version, bytes: c.sealed.clone() };
        match sealer.open(record.user_id, CREDENTIALS, &sealed) {
            Ok(plain) => {
                let resealed = sealer.seal(record.user_id, CREDENTIALS, &plain);
                record.credentials.key_version = resealed.key_version;
                record.credentials.sealed = resealed.bytes;
                store.put_user_llm(&record).await?;
                report.resealed += 1;
            }
            Err(_) => {
                store.delete_user_llm(record.user_id).await?;
                report.unreadable.push(record.user_id);
            }
        }
    }
    Ok(report)
}
