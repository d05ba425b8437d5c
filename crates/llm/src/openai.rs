//! [`OpenAiCompatible`]: streaming Chat Completions (`POST {base}/chat/completions` with
//! `stream: true`) from any server that speaks them. Usage is asked for with
//! `stream_options.include_usage`; a server that refuses that option (400) is asked once more
//! without it. A server that answers with one JSON document instead of a stream is read too.
//! Dropping the event stream drops the HTTP response, which stops generation upstream.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use sse_stream::SseStream;
use tc_outbound::AllowList;

use crate::accumulate::Accumulator;
use crate::{ChatModel, ChatRequest, LlmError, Message, ModelEvent, Role};

/// Where the model is and how to reach it.
#[derive(Clone)]
pub struct OpenAiSettings {
    /// The API base, e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    /// Headers for gateways that authenticate otherwise (a cookie, a tenant header).
    pub extra_headers: Vec<(String, String)>,
    /// Longest silence while connecting or between two chunks.
    pub read_timeout: Duration,
}

impl std::fmt::Debug for OpenAiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("extra_headers", &self.extra_headers.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A Chat Completions endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    settings: OpenAiSettings,
    http: reqwest::Client,
}

impl OpenAiCompatible {
    /// A client for `settings`. With `allow`, the endpoint obeys the outbound rule (for
    /// endpoints users give); without, it is the operator's and reached as configured.
    pub fn new(settings: OpenAiSettings, allow: Option<&AllowList>) -> Result<Self, LlmError> {
        let base = settings.base_url.trim_end_matches('/').to_string();
        let builder = reqwest::Client::builder()
            .connect_timeout(settings.read_timeout.min(Duration::from_secs(10)))
            .read_timeout(settings.read_timeout)
            .user_agent(concat!("TeamContext/", env!("CARGO_PKG_VERSION")));
        let http = match allow {
            Some(allow) => tc_outbound::http_client("the LLM endpoint", builder, &[&base], allow)
                .map_err(|e| LlmError::Refused(e.0))?,
            None => builder
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| LlmError::Refused(format!("cannot build an HTTP client: {e}")))?,
        };
        Ok(OpenAiCompatible { settings: OpenAiSettings { base_url: base, ..settings }, http })
    }

    fn body(&self, request: &ChatRequest, with_usage: bool) -> Value {
        let mut body = json!({
            "model": self.settings.model,
            "messages": request.messages.iter().map(wire_message).collect::<Vec<_>>(),
            "stream": true,
        });
        if with_usage {
            body["stream_options"] = json!({"include_usage": true});
        }
        if !request.tools.is_empty() {
            body["tools"] = request
                .tools
                .iter()
                .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
                .collect();
            body["tool_choice"] = json!("auto");
        }
        if let Some(max) = request.max_tokens {
            body["max_tokens"] = json!(max);
        }
        if let Some(t) = request.temperature {
            body["temperature"] = json!(t);
        }
        body
    }

    async fn send(&self, body: &Value) -> Result<reqwest::Response, LlmError> {
        let mut req = self
            .http
            .post(format!("{}/chat/completions", self.settings.base_url))
            .header(header::ACCEPT, "text/event-stream, application/json")
            .json(body);
        if let Some(key) = &self.settings.api_key {
            req = req.bearer_auth(key);
        }
        for (name, value) in &self.settings.extra_headers {
            req = req.header(name.as_str(), value.as_str());
        }
        req.send().await.map_err(|e| {
            if e.is_timeout() {
                LlmError::TimedOut(format!("the LLM endpoint timed out: {}", innermost(&e)))
            } else {
                LlmError::Unavailable(format!(
                    "the LLM endpoint could not be reached: {}",
                    innermost(&e)
                ))
            }
        })
    }
}

fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

/// A message as Chat Completions takes it.
fn wire_message(m: &Message) -> Value {
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut out = json!({"role": role, "content": m.content});
    if !m.tool_calls.is_empty() {
        out["tool_calls"] = m
            .tool_calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments.to_string()}}))
            .collect();
    }
    if let Some(id) = &m.tool_call_id {
        out["tool_call_id"] = json!(id);
    }
    out
}

fn status_error(status: StatusCode, text: &str) -> LlmError {
    let detail = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .or(v.get("error"))
                .or(v.get("message"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| text.chars().take(300).collect());
    match status.as_u16() {
        401 | 403 => {
            LlmError::Unauthorized(format!("the LLM endpoint refused the credentials: {detail}"))
        }
        429 => LlmError::RateLimited(format!("the LLM endpoint is rate limiting: {detail}")),
        _ => LlmError::Server(format!("the LLM endpoint answered {status}: {detail}")),
    }
}

/// What the event stream holds between two polls.
struct Run {
    sse: BoxStream<'static, Result<sse_stream::Sse, String>>,
    acc: Option<Accumulator>,
    ready: VecDeque<Result<ModelEvent, LlmError>>,
}

#[async_trait::async_trait]
impl ChatModel for OpenAiCompatible {
    fn model(&self) -> &str {
        &self.settings.model
    }

    async fn stream(
        &self,
        request: &ChatRequest,
    ) -> Result<BoxStream<'static, Result<ModelEvent, LlmError>>, LlmError> {
        let mut response = self.send(&self.body(request, true)).await?;
        if response.status() == StatusCode::BAD_REQUEST {
            let text = response.text().await.unwrap_or_default();
            if !text.contains("stream_options") {
                return Err(status_error(StatusCode::BAD_REQUEST, &text));
            }
            // Some servers do not know stream_options: ask again without usage.
            response = self.send(&self.body(request, false)).await?;
        }
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(status, &response.text().await.unwrap_or_default()));
        }
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            // A server that ignored `stream`: one document, read as one chunk.
            let doc: Value = response
                .json()
                .await
                .map_err(|e| LlmError::Protocol(format!("unreadable answer: {e}")))?;
            let mut acc = Accumulator::default();
            let mut events = acc.chunk(&doc)?;
            events.extend(acc.finish());
            return Ok(stream::iter(events.into_iter().map(Ok)).boxed());
        }
        let sse = SseStream::from_bytes_stream(response.bytes_stream())
            .map(|r| r.map_err(|e| e.to_string()))
            .boxed();
        let run = Run { sse, acc: Some(Accumulator::default()), ready: VecDeque::new() };
        Ok(stream::unfold(run, |mut run| async move {
            loop {
                if let Some(next) = run.ready.pop_front() {
                    return Some((next, run));
                }
                let acc = run.acc.as_mut()?;
                match run.sse.next().await {
                    Some(Ok(event)) => {
                        let Some(data) = event.data else { continue };
                        if data.trim() == "[DONE]" {
                            let acc = run.acc.take()?;
                            run.ready.extend(acc.finish().into_iter().map(Ok));
                            continue;
                        }
                        let chunk: Value = match serde_json::from_str(&data) {
                            Ok(chunk) => chunk,
                            Err(e) => {
                                run.acc = None;
                                let error = LlmError::Protocol(format!("an unreadable chunk: {e}"));
                                return Some((Err(error), run));
                            }
                        };
                        match acc.chunk(&chunk) {
                            Ok(events) => run.ready.extend(events.into_iter().map(Ok)),
                            Err(e) => {
                                run.acc = None;
                                return Some((Err(e), run));
                            }
                        }
                    }
                    Some(Err(e)) => {
                        run.acc = None;
                        let error = LlmError::Unavailable(format!("the answer stream broke: {e}"));
                        return Some((Err(error), run));
                    }
                    // Closed without [DONE]: what arrived, and how it ended.
                    None => {
                        let acc = run.acc.take()?;
                        run.ready.extend(acc.finish().into_iter().map(Ok));
                    }
                }
            }
        })
        .boxed())
    }
}
