//! `OpenAiCompatible` against a fake Chat Completions server on loopback that replays the wire
//! format as servers send it: a text stream with usage, a server that refuses
//! `stream_options`, an error inside a 200 stream, refusals by status, an answer that is not a
//! stream, and a client that stops reading (the server must see it go).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tc_llm::{
    ChatModel, ChatRequest, Finish, LlmError, Message, ModelEvent, OpenAiCompatible,
    OpenAiSettings, ToolSpec, Usage, complete,
};

/// What the fake answers, and what it was asked.
#[derive(Clone, Default)]
struct Fake {
    mode: Arc<Mutex<&'static str>>,
    bodies: Arc<Mutex<Vec<Value>>>,
    headers: Arc<Mutex<Vec<HeaderMap>>>,
    sent: Arc<AtomicUsize>,
}

fn sse(events: &[&str]) -> Response {
    let text: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    ([(header::CONTENT_TYPE, "text/event-stream")], text).into_response()
}

async fn chat(State(fake): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap();
    fake.bodies.lock().push(body.clone());
    fake.headers.lock().push(headers);
    let mode = *fake.mode.lock();
    match mode {
        "text" => sse(&[
            r#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"Rotate the "},"finish_reason":null}],"usage":null}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"keys [1]."},"finish_reason":null}],"usage":null}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#,
            r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":42,"completion_tokens":5,"total_tokens":47}}"#,
            "[DONE]",
        ]),
        "no_stream_options" if body.get("stream_options").is_some() => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"message": "Unrecognized request argument supplied: stream_options"}})),
        )
            .into_response(),
        "no_stream_options" => sse(&[
            r#"{"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ]),
        "error_in_stream" => sse(&[
            r#"{"choices":[{"index":0,"delta":{"content":"Par"},"finish_reason":null}]}"#,
            r#"{"error":{"code":500,"message":"the context is too long","type":"server_error"}}"#,
        ]),
        "unauthorized" => (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": {"message": "Incorrect API key provided"}}))).into_response(),
        "rate_limited" => (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response(),
        "json" => axum::Json(json!({
            "id": "c2", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "todo_create", "arguments": "{\"title\":\"Rotate keys\"}"}}
            ]}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 7}
        }))
        .into_response(),
        "endless" => {
            let sent = fake.sent.clone();
            let chunks = futures_util::stream::unfold(0u64, move |n| {
                let sent = sent.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    sent.fetch_add(1, Ordering::SeqCst);
                    let chunk = format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{n} \"}}}}]}}\n\n");
                    Some((Ok::<_, std::io::Error>(chunk), n + 1))
                }
            });
            ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(chunks)).into_response()
        }
        other => panic!("unknown mode {other}"),
    }
}

async fn start(mode: &'static str) -> (Fake, OpenAiCompatible) {
    let fake = Fake::default();
    *fake.mode.lock() = mode;
    let app = Router::new()
        .route("/v1/chat/completions", axum::routing::post(chat))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let model = OpenAiCompatible::new(
        OpenAiSettings {
            base_url: format!("http://{addr}/v1/"),
            api_key: Some("sk-test".into()),
            model: "small-model".into(),
            extra_headers: vec![("X-Gateway-Tenant".into(), "team-a".into())],
            read_timeout: Duration::from_secs(5),
        },
        None,
    )
    .unwrap();
    (fake, model)
}

fn request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("Answer from the sources."),
            Message::user("How do we rotate keys?"),
        ],
        tools: vec![ToolSpec {
            name: "todo_create".into(),
            description: "Create a task".into(),
            parameters: json!({"type": "object", "properties": {"title": {"type": "string"}}}),
        }],
        max_tokens: Some(256),
        temperature: Some(0.2),
    }
}

#[tokio::test]
async fn a_streamed_answer_with_usage() {
    let (fake, model) = start("text").await;
    let answer = complete(&model, &request()).await.unwrap();
    assert_eq!(answer.text, "Rotate the keys [1].");
    assert_eq!(answer.usage, Some(Usage { prompt_tokens: 42, completion_tokens: 5 }));
    assert_eq!(answer.finish, Some(Finish::Stop));
    let body = fake.bodies.lock()[0].clone();
    assert_eq!(body["model"], "small-model");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["messages"][1], json!({"role": "user", "content": "How do we rotate keys?"}));
    assert_eq!(body["tools"][0]["function"]["name"], "todo_create");
    assert_eq!(body["max_tokens"], 256);
    let headers = fake.headers.lock()[0].clone();
    assert_eq!(headers["authorization"], "Bearer sk-test");
    assert_eq!(headers["x-gateway-tenant"], "team-a");
}

#[tokio::test]
async fn a_server_without_stream_options_is_asked_again() {
    let (fake, model) = start("no_stream_options").await;
    let answer = complete(&model, &request()).await.unwrap();
    assert_eq!((answer.text.as_str(), answer.usage), ("ok", None));
    let bodies = fake.bodies.lock().clone();
    assert_eq!(bodies.len(), 2);
    assert!(bodies[1].get("stream_options").is_none());
}

#[tokio::test]
async fn an_error_inside_a_200_stream_fails_the_run() {
    let (_, model) = start("error_in_stream").await;
    let err = complete(&model, &request()).await.unwrap_err();
    assert_eq!(
        err,
        LlmError::Server("the model failed mid-answer: the context is too long".into())
    );
}

#[tokio::test]
async fn refusals_by_status_and_an_unreachable_server() {
    let (_, model) = start("unauthorized").await;
    let err = complete(&model, &request()).await.unwrap_err();
    assert!(matches!(&err, LlmError::Unauthorized(m) if m.contains("Incorrect API key")), "{err}");
    let (_, model) = start("rate_limited").await;
    assert!(matches!(complete(&model, &request()).await.unwrap_err(), LlmError::RateLimited(_)));
    let nowhere = OpenAiCompatible::new(
        OpenAiSettings {
            base_url: "http://127.0.0.1:9/v1".into(),
            api_key: None,
            model: "m".into(),
            extra_headers: Vec::new(),
            read_timeout: Duration::from_secs(2),
        },
        None,
    )
    .unwrap();
    assert!(matches!(complete(&nowhere, &request()).await.unwrap_err(), LlmError::Unavailable(_)));
    // Given the outbound rule, an internal endpoint is refused before any connection.
    let refused = OpenAiCompatible::new(
        OpenAiSettings {
            base_url: "http://127.0.0.1:9/v1".into(),
            api_key: None,
            model: "m".into(),
            extra_headers: Vec::new(),
            read_timeout: Duration::from_secs(2),
        },
        Some(&tc_outbound::AllowList::default()),
    );
    assert!(matches!(refused.unwrap_err(), LlmError::Refused(m) if m.contains("internal address")));
}

#[tokio::test]
async fn an_answer_that_is_not_a_stream_is_read_whole() {
    let (_, model) = start("json").await;
    let answer = complete(&model, &request()).await.unwrap();
    assert_eq!(answer.finish, Some(Finish::ToolCalls));
    assert_eq!(answer.tool_calls.len(), 1);
    assert_eq!(answer.tool_calls[0].arguments, json!({"title": "Rotate keys"}));
}

#[tokio::test]
async fn dropping_the_stream_stops_the_upstream_request() {
    let (fake, model) = start("endless").await;
    let mut events = model.stream(&request()).await.unwrap();
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(first, ModelEvent::Text("t0 ".into()));
    drop(events);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after_drop = fake.sent.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.sent.load(Ordering::SeqCst), after_drop, "the server stopped sending");
}
