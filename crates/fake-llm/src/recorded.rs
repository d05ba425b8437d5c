//! Chunk sequences as servers send them (the `data:` payloads of a Chat Completions stream),
//! recorded from OpenAI's format and the deviations of Ollama, vLLM and llama.cpp's server.

use serde_json::{Value, json};

use crate::MODEL;

fn chunk(delta: Value, finish: Option<&str>) -> String {
    json!({
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_767_000_000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        "usage": null
    })
    .to_string()
}

/// One chunk of text.
pub fn text_chunk(text: &str) -> String {
    chunk(json!({ "content": text }), None)
}

/// OpenAI's text turn: a role chunk, the text in `parts`, the finish in its own chunk, the
/// usage chunk (`choices: []`), `[DONE]`.
pub fn openai_text(parts: &[&str], prompt_tokens: u64, completion_tokens: u64) -> Vec<String> {
    let mut out = vec![chunk(json!({"role": "assistant", "content": "", "refusal": null}), None)];
    out.extend(parts.iter().map(|p| text_chunk(p)));
    out.push(chunk(json!({}), Some("stop")));
    out.push(
        json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": MODEL, "choices": [],
               "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                         "total_tokens": prompt_tokens + completion_tokens}})
        .to_string(),
    );
    out.push("[DONE]".into());
    out
}

/// The default answer: cites source 1, and a source 9 that no test ever gives.
pub fn cited_answer() -> Vec<String> {
    openai_text(
        &[
            "According to the team's notes, ",
            "deploys happen on Tuesdays [1]. ",
            "Rollbacks use the runbook [9].",
        ],
        321,
        17,
    )
}

/// llama.cpp's server: `timings` on the last chunk, `reasoning_content`, a ping comment is
/// not a payload (the transport adds it), no `[DONE]` after an error.
pub fn llamacpp_text(parts: &[&str]) -> Vec<String> {
    let mut out = vec![chunk(json!({"role": "assistant", "content": null}), None)];
    out.push(chunk(json!({"reasoning_content": "The sources say…"}), None));
    out.extend(parts.iter().map(|p| text_chunk(p)));
    out.push(
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "model": MODEL,
               "timings": {"prompt_n": 120, "predicted_n": 12, "predicted_per_second": 64.2}})
        .to_string(),
    );
    out.push(
        json!({"choices": [], "usage": {"prompt_tokens": 120, "completion_tokens": 12}})
            .to_string(),
    );
    out.push("[DONE]".into());
    out
}

/// vLLM: usage on a chunk whose `choices` is null, reasoning under `reasoning`.
pub fn vllm_text(parts: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = parts.iter().map(|p| text_chunk(p)).collect();
    out.insert(0, chunk(json!({"reasoning": "thinking"}), None));
    out.push(chunk(json!({}), Some("stop")));
    out.push(
        json!({"choices": null, "usage": {"prompt_tokens": 50, "completion_tokens": 5}})
            .to_string(),
    );
    out.push("[DONE]".into());
    out
}

/// Some text, then an error inside the 200 stream and the end without `[DONE]` (llama.cpp,
/// OpenAI on an overloaded model).
pub fn error_mid_stream(parts: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = parts.iter().map(|p| text_chunk(p)).collect();
    out.push(
        json!({"error": {"code": 500, "message": "the model crashed", "type": "server_error"}})
            .to_string(),
    );
    out
}

/// The whole answer of `chunks` as one `chat.completion` document (for a request that did
/// not ask for a stream).
pub fn as_document(chunks: &[String]) -> Value {
    let mut text = String::new();
    let mut usage = Value::Null;
    for c in chunks {
        let Ok(v) = serde_json::from_str::<Value>(c) else { continue };
        if let Some(t) = v.pointer("/choices/0/delta/content").and_then(Value::as_str) {
            text.push_str(t);
        }
        if v.get("usage").is_some_and(|u| !u.is_null()) {
            usage = v["usage"].clone();
        }
    }
    json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": usage
    })
}

/// OpenAI's tool-call turn: each call opened by a chunk with its `id`, `name` and empty
/// `arguments`, the arguments then sent in fragments of a few characters keyed by `index`,
/// the finish `tool_calls`, the usage chunk, `[DONE]`. `calls` are `(id, name, arguments)`.
pub fn openai_tool_calls(calls: &[(&str, &str, &str)]) -> Vec<String> {
    let mut out = vec![chunk(json!({"role": "assistant", "content": null}), None)];
    for (index, (id, name, arguments)) in calls.iter().enumerate() {
        out.push(chunk(
            json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                                   "function": {"name": name, "arguments": ""}}]}),
            None,
        ));
        let chars: Vec<char> = arguments.chars().collect();
        for piece in chars.chunks(7) {
            let piece: String = piece.iter().collect();
            out.push(chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                None,
            ));
        }
    }
    out.push(chunk(json!({}), Some("tool_calls")));
    out.push(
        json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": MODEL, "choices": [],
               "usage": {"prompt_tokens": 200, "completion_tokens": 20, "total_tokens": 220}})
        .to_string(),
    );
    out.push("[DONE]".into());
    out
}

/// Ollama's tool-call turn: every call whole in one delta, each numbered `index` 0, and the
/// finish `stop` (older versions), no usage chunk.
pub fn ollama_tool_calls(calls: &[(&str, &str, Value)]) -> Vec<String> {
    let whole: Vec<Value> = calls
        .iter()
        .map(|(id, name, arguments)| {
            json!({"id": id, "index": 0, "type": "function",
                   "function": {"name": name, "arguments": arguments.to_string()}})
        })
        .collect();
    vec![
        chunk(json!({"role": "assistant", "content": "", "tool_calls": whole}), None),
        chunk(json!({"role": "assistant", "content": ""}), Some("stop")),
        "[DONE]".into(),
    ]
}
