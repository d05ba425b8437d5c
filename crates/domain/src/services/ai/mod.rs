//! The AI features of SPEC §9: questions answered with numbered sources (`qa`), summaries
//! (`summarize`), mind maps (`mindmap`), chat sessions whose turns stream as events (`chat`,
//! `sessions`), the agent, a chat turn that calls tools (`agent`) including those of the MCP
//! servers a user registers (`mcp_servers`, `remote_tools`), and documents uploaded to be
//! indexed (`upload`). Each
//! answers with the configured language model when there is one, and otherwise (or when it
//! fails) builds its answer from the retrieved text itself with the local embedding model
//! (`extractive`), saying which it did.

mod agent;
mod chat;
pub(crate) mod extractive;
mod llm_settings;
mod mcp_servers;
mod mindmap;
mod prompt;
mod qa;
mod remote_tools;
mod runs;
mod sessions;
pub(crate) mod sources;
mod summarize;
mod upload;
mod usage;

use std::sync::Arc;
use std::time::Duration;

use tc_llm::{ChatModel, LlmError};

use crate::views::{AnswerMode, UsageView};

pub use agent::{AgentTool, AgentTools};
pub use chat::ChatRun;
pub use llm_settings::{LlmResealReport, reseal_user_llms};
pub use mcp_servers::{
    MAX_SERVERS, McpResealReport, RemoteToolset, TOOL_CACHE_TTL, agent_tool_name,
    reseal_mcp_servers,
};
pub use remote_tools::{RemoteTool, TurnServer, outcome};
pub use runs::{RunRegistry, Watch};
pub use upload::{MAX_DOCUMENTS, UploadedDocument};
pub(crate) use usage::{AI_EVENT_TYPES, AiFeature};

use super::Services;

/// What `llm` says when no model is configured.
pub const NOT_CONFIGURED: &str = "not configured";

/// The language model and how it is asked.
#[derive(Clone)]
pub struct AiSettings {
    /// None: every feature answers extractively.
    pub model: Option<Arc<dyn ChatModel>>,
    /// Most tokens an answer may have.
    pub max_tokens: u32,
    pub temperature: f32,
    /// Longest a whole answer may take (a question, a summary, a chat turn).
    pub timeout: Duration,
    /// How long a chat turn nobody watches goes on, so that a client that reconnects can
    /// resume it; then it is stopped.
    pub resume_grace: Duration,
    /// Most rounds of tool calls in an agent turn.
    pub agent_max_steps: u32,
    /// What the model costs, in USD per million prompt and completion tokens (analytics).
    pub input_price_per_mtok: f64,
    pub output_price_per_mtok: f64,
}

impl Default for AiSettings {
    fn default() -> Self {
        AiSettings {
            model: None,
            max_tokens: 1024,
            temperature: 0.2,
            timeout: Duration::from_secs(120),
            resume_grace: Duration::from_secs(15),
            agent_max_steps: 6,
            input_price_per_mtok: 0.0,
            output_price_per_mtok: 0.0,
        }
    }
}

impl std::fmt::Debug for AiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AiSettings")
            .field("model", &self.model.as_ref().map(|m| m.model().to_string()))
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Answers with this language model (the default is none: extractive answers).
    pub fn with_ai(mut self, ai: AiSettings) -> Self {
        self.ai = ai;
        self
    }

    /// What asking needs, checked before the request is read: the `read` scope, and an
    /// account allowed to retrieve context (`EMAIL_VERIFICATION`).
    pub(crate) fn require_may_ask(&self, caller: &crate::Caller) -> crate::DomainResult<()> {
        caller.require_scope(tc_store::Scope::Read)?;
        self.require_verified(caller)?;
        self.require_may_retrieve(caller)
    }

    /// Whether `user_id`'s calls have a language model, theirs or the server's (else answers
    /// are extractive and the agent calls no tools).
    pub async fn has_language_model_for(&self, user_id: uuid::Uuid) -> bool {
        self.model_for(user_id).await.is_some()
    }
}

/// A model's name, or `not configured`.
pub(crate) fn llm_label(model: Option<&Arc<dyn ChatModel>>) -> String {
    model.map_or_else(|| NOT_CONFIGURED.to_string(), |m| m.model().to_string())
}

/// An answer and how it was made.
#[derive(Debug, Clone)]
pub(crate) struct AnswerOutcome {
    pub text: String,
    pub mode: AnswerMode,
    /// The sources the text cites.
    pub citations: Vec<usize>,
    pub usage: Option<UsageView>,
    /// Why the configured model did not answer.
    pub fallback_reason: Option<String>,
}

/// Why the model did not answer, for the person reading the fallback.
fn failure_reason(e: &LlmError) -> String {
    let kind = match e {
        LlmError::Refused(_) => "the language model's address is not allowed",
        LlmError::Unavailable(_) => "the language model could not be reached",
        LlmError::TimedOut(_) => "the language model did not answer in time",
        LlmError::Unauthorized(_) => "the language model refused the credentials",
        LlmError::RateLimited(_) => "the language model is rate limited",
        LlmError::Server(_) => "the language model failed",
        LlmError::Protocol(_) => "the language model answered in an unexpected format",
    };
    format!("{kind}: {e}")
}
