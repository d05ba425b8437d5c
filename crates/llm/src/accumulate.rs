//! Chat Completions stream chunks to [`ModelEvent`]s, tolerant of every server's deviations:
//!
//! - an error object inside a 200 stream (`data: {"error": …}`, llama.cpp, proxies) fails the run;
//! - `choices` null or missing (vLLM's usage chunk), usage on any chunk;
//! - tool-call fragments keyed by `index`, interleaved across calls; a fragment without `index`
//!   continues the last call; a new non-empty `id` on an index already used opens a new call
//!   (Ollama numbers every call 0); an empty `id` on a continuation is ignored (vLLM);
//! - a whole call in one delta (Ollama) as well as fragments (OpenAI);
//! - `reasoning_content` and `reasoning`;
//! - unknown finish reasons kept as they are; tool calls ending with `stop` are still tool
//!   calls (older Ollama); a stream that ends without a finish reason is `Incomplete`;
//! - arguments `""` are `{}`; invalid JSON is passed on as `{"_invalid": raw}`; a call without
//!   an id gets `call_<uuid>`.

use serde_json::Value;

use crate::{Finish, LlmError, ModelEvent, ToolCall, Usage};

#[derive(Debug, Default)]
struct Slot {
    index: Option<u64>,
    id: String,
    name: String,
    arguments: String,
}

/// Folds a stream's chunks into events; text and reasoning come out at once, tool calls and
/// the finish at the end.
#[derive(Debug, Default)]
pub struct Accumulator {
    slots: Vec<Slot>,
    finish: Option<String>,
}

impl Accumulator {
    /// The events of one chunk (the JSON after `data:`).
    pub fn chunk(&mut self, chunk: &Value) -> Result<Vec<ModelEvent>, LlmError> {
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| error.to_string());
            return Err(LlmError::Server(format!("the model failed mid-answer: {message}")));
        }
        let mut events = Vec::new();
        let choices = chunk.get("choices").and_then(Value::as_array).cloned().unwrap_or_default();
        for choice in &choices {
            let delta =
                choice.get("delta").or(choice.get("message")).cloned().unwrap_or(Value::Null);
            for key in ["reasoning_content", "reasoning"] {
                if let Some(text) = delta.get(key).and_then(Value::as_str).filter(|t| !t.is_empty())
                {
                    events.push(ModelEvent::Reasoning(text.to_string()));
                }
            }
            if let Some(text) =
                delta.get("content").and_then(Value::as_str).filter(|t| !t.is_empty())
            {
                events.push(ModelEvent::Text(text.to_string()));
            }
            for call in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                self.tool_fragment(call);
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish = Some(reason.to_string());
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            let count = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
            events.push(ModelEvent::Usage(Usage {
                prompt_tokens: count("prompt_tokens"),
                completion_tokens: count("completion_tokens"),
            }));
        }
        Ok(events)
    }

    fn tool_fragment(&mut self, call: &Value) {
        let index = call.get("index").and_then(Value::as_u64);
        let id = call.get("id").and_then(Value::as_str).filter(|i| !i.is_empty());
        let function = call.get("function").cloned().unwrap_or(Value::Null);
        let slot = match index {
            Some(i) => {
                let existing = self.slots.iter().rposition(|s| s.index == Some(i));
                match existing {
                    // The same index with a different id is another call (Ollama reuses 0).
                    Some(at)
                        if id.is_some_and(|id| {
                            !self.slots[at].id.is_empty() && self.slots[at].id != id
                        }) =>
                    {
                        None
                    }
                    found => found,
                }
            }
            None => self.slots.len().checked_sub(1).filter(|_| id.is_none()),
        };
        let at = match slot {
            Some(at) => at,
            None => {
                self.slots.push(Slot { index, ..Slot::default() });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[at];
        if slot.id.is_empty()
            && let Some(id) = id
        {
            slot.id = id.to_string();
        }
        if let Some(name) = function.get("name").and_then(Value::as_str) {
            slot.name.push_str(name);
        }
        match function.get("arguments") {
            Some(Value::String(part)) => slot.arguments.push_str(part),
            // Some servers send the arguments as an object.
            Some(object @ Value::Object(_)) => slot.arguments.push_str(&object.to_string()),
            _ => {}
        }
    }

    /// The events that close the run: every tool call, then why it ended.
    pub fn finish(self) -> Vec<ModelEvent> {
        let has_calls = !self.slots.is_empty();
        let mut events: Vec<ModelEvent> = self
            .slots
            .into_iter()
            .filter(|s| !s.name.is_empty())
            .map(|s| {
                let raw = s.arguments.trim();
                let arguments = if raw.is_empty() {
                    Value::Object(Default::default())
                } else {
                    serde_json::from_str(raw)
                        .unwrap_or_else(|_| serde_json::json!({"_invalid": raw}))
                };
                let id = if s.id.is_empty() {
                    format!("call_{}", uuid::Uuid::now_v7().simple())
                } else {
                    s.id
                };
                ModelEvent::ToolCall(ToolCall { id, name: s.name, arguments })
            })
            .collect();
        let finish = match self.finish.as_deref() {
            None => Finish::Incomplete,
            Some("tool_calls" | "function_call") => Finish::ToolCalls,
            Some("stop") if has_calls => Finish::ToolCalls,
            Some("stop") => Finish::Stop,
            Some("length") => Finish::Length,
            Some("content_filter") => Finish::ContentFilter,
            Some(other) => Finish::Other(other.to_string()),
        };
        events.push(ModelEvent::Finished(finish));
        events
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(chunks: &[Value]) -> Result<Vec<ModelEvent>, LlmError> {
        let mut acc = Accumulator::default();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(acc.chunk(c)?);
        }
        out.extend(acc.finish());
        Ok(out)
    }

    fn delta(d: Value) -> Value {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d, "finish_reason": null}], "usage": null})
    }

    fn finish(reason: &str) -> Value {
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
    }

    #[test]
    fn openai_text_with_usage() {
        let events = run(&[
            delta(json!({"role": "assistant", "content": "", "refusal": null})),
            delta(json!({"content": "Hel"})),
            delta(json!({"content": "lo"})),
            finish("stop"),
            json!({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}),
        ])
        .unwrap();
        assert_eq!(
            events,
            [
                ModelEvent::Text("Hel".into()),
                ModelEvent::Text("lo".into()),
                ModelEvent::Usage(Usage { prompt_tokens: 9, completion_tokens: 2 }),
                ModelEvent::Finished(Finish::Stop),
            ]
        );
    }

    #[test]
    fn openai_tool_calls_in_interleaved_fragments() {
        let tc = |v: Value| delta(json!({"tool_calls": [v]}));
        let events = run(&[
            tc(json!({"index": 0, "id": "call_abc", "type": "function", "function": {"name": "todo_create", "arguments": ""}})),
            tc(json!({"index": 1, "id": "call_def", "type": "function", "function": {"name": "todo_list", "arguments": ""}})),
            tc(json!({"index": 0, "function": {"arguments": "{\"tit"}})),
            tc(json!({"index": 1, "function": {"arguments": "{}"}})),
            tc(json!({"index": 0, "function": {"arguments": "le\":\"Rotate keys\"}"}})),
            finish("tool_calls"),
        ])
        .unwrap();
        assert_eq!(
            events,
            [
                ModelEvent::ToolCall(ToolCall {
                    id: "call_abc".into(),
                    name: "todo_create".into(),
                    arguments: json!({"title": "Rotate keys"})
                }),
                ModelEvent::ToolCall(ToolCall {
                    id: "call_def".into(),
                    name: "todo_list".into(),
                    arguments: json!({})
                }),
                ModelEvent::Finished(Finish::ToolCalls),
            ]
        );
    }

    #[test]
    fn ollama_whole_calls_all_at_index_zero_ending_with_stop() {
        let events = run(&[
            delta(json!({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "read", "arguments": "{\"path\":\"a\"}"}}]})),
            delta(json!({"tool_calls": [{"index": 0, "id": "call_2", "function": {"name": "read", "arguments": "{\"path\":\"b\"}"}}]})),
            finish("stop"),
        ])
        .unwrap();
        let calls: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                ModelEvent::ToolCall(c) => Some((c.id.as_str(), c.arguments.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(calls, [("call_1", json!({"path": "a"})), ("call_2", json!({"path": "b"}))]);
        assert_eq!(events.last(), Some(&ModelEvent::Finished(Finish::ToolCalls)));
    }

    #[test]
    fn vllm_empty_continuation_ids_reasoning_and_null_choices() {
        let events = run(&[
            delta(json!({"reasoning": "think"})),
            delta(json!({"reasoning_content": "ing"})),
            delta(json!({"tool_calls": [{"index": 0, "id": "chatcmpl-tool-1", "function": {"name": "search", "arguments": "{\"q\":"}}]})),
            delta(json!({"tool_calls": [{"index": 0, "id": "", "function": {"arguments": "\"x\"}"}}]})),
            finish("tool_calls"),
            json!({"choices": null, "usage": {"prompt_tokens": 3, "completion_tokens": 4}}),
        ])
        .unwrap();
        assert_eq!(events[0], ModelEvent::Reasoning("think".into()));
        assert_eq!(events[1], ModelEvent::Reasoning("ing".into()));
        assert!(events.contains(&ModelEvent::ToolCall(ToolCall {
            id: "chatcmpl-tool-1".into(),
            name: "search".into(),
            arguments: json!({"q": "x"})
        })));
        assert!(
            events.contains(&ModelEvent::Usage(Usage { prompt_tokens: 3, completion_tokens: 4 }))
        );
    }

    #[test]
    fn missing_index_missing_id_invalid_json_and_unknown_reasons() {
        let events = run(&[
            delta(json!({"tool_calls": [{"function": {"name": "save", "arguments": "{\"a\":"}}]})),
            delta(json!({"tool_calls": [{"function": {"arguments": "1}"}}]})),
            delta(json!({"tool_calls": [{"index": 5, "id": "c", "function": {"name": "bad", "arguments": "{not json"}}]})),
            finish("eos_token"),
        ])
        .unwrap();
        match &events[0] {
            ModelEvent::ToolCall(c) => {
                assert!(c.id.starts_with("call_"));
                assert_eq!((c.name.as_str(), &c.arguments), ("save", &json!({"a": 1})));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            events[1],
            ModelEvent::ToolCall(ToolCall {
                id: "c".into(),
                name: "bad".into(),
                arguments: json!({"_invalid": "{not json"})
            })
        );
        assert_eq!(events[2], ModelEvent::Finished(Finish::Other("eos_token".into())));
    }

    #[test]
    fn errors_inside_the_stream_and_streams_cut_short() {
        let failed = run(&[
            delta(json!({"content": "Hi"})),
            json!({"error": {"code": 500, "message": "context overflow", "type": "server_error"}}),
        ]);
        assert_eq!(
            failed.unwrap_err(),
            LlmError::Server("the model failed mid-answer: context overflow".into())
        );
        let cut = run(&[delta(json!({"content": "partial"}))]).unwrap();
        assert_eq!(cut.last(), Some(&ModelEvent::Finished(Finish::Incomplete)));
    }
}
