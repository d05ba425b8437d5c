//! The LLM provider TeamContext's AI features talk to: one [`ChatModel`] trait (a request of
//! messages and tools in, a stream of [`ModelEvent`]s out) and [`OpenAiCompatible`], a client
//! for any Chat Completions endpoint (OpenAI, Ollama, vLLM, llama.cpp's server, gateways).
//!
//! The client is written by hand rather than with a typed SDK because the servers deviate from
//! OpenAI's format in ways strict types reject (see `accumulate`): tool-call fragments without
//! an index or with a reused one, continuation ids left empty, usage chunks whose `choices` is
//! null, unknown finish reasons, reasoning under two field names, and errors sent inside a 200
//! stream. Every one of those is accepted or reported, never a panic or a silent success.

mod accumulate;
mod openai;

use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use accumulate::Accumulator;
pub use openai::{OpenAiCompatible, OpenAiSettings};

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// A tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments, parsed. A model that sent invalid JSON gets `{"_invalid": "<raw>"}`, so
    /// the caller can answer it with a tool error instead of failing the run.
    pub arguments: Value,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Option<String>,
    /// The calls an assistant message made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a tool message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn system(text: impl Into<String>) -> Self {
        Message {
            role: Role::System,
            content: Some(text.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    pub fn user(text: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: Some(text.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    pub fn assistant(text: Option<String>, tool_calls: Vec<ToolCall>) -> Self {
        Message { role: Role::Assistant, content: text, tool_calls, tool_call_id: None }
    }

    pub fn tool(call_id: impl Into<String>, result: impl Into<String>) -> Self {
        Message {
            role: Role::Tool,
            content: Some(result.into()),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }
}

/// A tool the model may call: a name, what it does, and a JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// What to ask the model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    /// Most tokens to generate.
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
}

/// Tokens a run used, as the server reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Why generation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Finish {
    /// The answer is complete.
    Stop,
    /// `max_tokens` was reached.
    Length,
    /// The model called tools; answer them and ask again.
    ToolCalls,
    /// The server filtered the answer.
    ContentFilter,
    /// A reason this client does not know, as sent.
    Other(String),
    /// The stream ended without saying why (a cut connection): the text so far is partial.
    Incomplete,
}

/// What a streaming run yields, in order: text and reasoning deltas as they come, then each
/// tool call whole, the usage if the server sent it, and the finish.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelEvent {
    Text(String),
    /// Reasoning tokens (not shown to users by default).
    Reasoning(String),
    ToolCall(ToolCall),
    Usage(Usage),
    Finished(Finish),
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The endpoint is not one the server may reach, or not a URL.
    #[error("{0}")]
    Refused(String),
    /// The server could not be reached, or its stream broke.
    #[error("{0}")]
    Unavailable(String),
    /// The server said nothing for longer than the read timeout.
    #[error("{0}")]
    TimedOut(String),
    /// The server refused the credentials (401/403).
    #[error("{0}")]
    Unauthorized(String),
    /// 429.
    #[error("{0}")]
    RateLimited(String),
    /// The server answered an error (a status, or an error inside the stream).
    #[error("{0}")]
    Server(String),
    /// The answer was not Chat Completions.
    #[error("{0}")]
    Protocol(String),
}

/// A chat model.
#[async_trait::async_trait]
pub trait ChatModel: Send + Sync {
    /// The model's name, for the record.
    fn model(&self) -> &str;
    /// Starts a run; dropping the stream stops it (and the upstream request).
    async fn stream(
        &self,
        request: &ChatRequest,
    ) -> Result<BoxStream<'static, Result<ModelEvent, LlmError>>, LlmError>;
}

/// A whole answer, collected from a stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Completion {
    pub text: String,
    pub reasoning: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Option<Usage>,
    pub finish: Option<Finish>,
}

/// Runs `request` to the end and collects it.
pub async fn complete(
    model: &dyn ChatModel,
    request: &ChatRequest,
) -> Result<Completion, LlmError> {
    use futures_util::StreamExt;
    let mut stream = model.stream(request).await?;
    let mut out = Completion::default();
    while let Some(event) = stream.next().await {
        match event? {
            ModelEvent::Text(t) => out.text.push_str(&t),
            ModelEvent::Reasoning(r) => out.reasoning.push_str(&r),
            ModelEvent::ToolCall(c) => out.tool_calls.push(c),
            ModelEvent::Usage(u) => out.usage = Some(u),
            ModelEvent::Finished(f) => out.finish = Some(f),
        }
    }
    Ok(out)
}
