//! The OpenAI-compatible provider against a local server that speaks the `/v1/embeddings` wire
//! format: batching, result order by `index`, the bearer key, retries of transient failures, and
//! errors for malformed answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use tc_embed::{Embedder, OpenAiConfig, OpenAiEmbedder};

#[derive(Clone, Default)]
struct Fake {
    requests: Arc<AtomicUsize>,
    /// Answer this many requests with 503 before succeeding.
    fail_first: usize,
    /// Answer with this many dimensions.
    dims: usize,
}

/// A deterministic embedding: the text's length and byte sum, padded with ones.
fn vector_for(text: &str, dims: usize) -> Vec<f32> {
    let mut v = vec![1.0; dims];
    v[0] = text.len() as f32;
    v[1] = text.bytes().map(f32::from).sum();
    v
}

async fn embeddings(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let n = fake.requests.fetch_add(1, Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sk-test") {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"message": "bad key"}})));
    }
    if n < fake.fail_first {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": {"message": "busy"}})));
    }
    assert_eq!(body["model"], "test-embed");
    let inputs: Vec<String> = serde_json::from_value(body["input"].clone()).unwrap();
    assert!(inputs.len() <= 64, "batches of at most 64");
    // Answer in reverse order: clients must sort by index.
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": vector_for(t, fake.dims)}))
        .collect();
    (
        StatusCode::OK,
        Json(
            json!({"object": "list", "data": data, "model": "test-embed", "usage": {"prompt_tokens": 1, "total_tokens": 1}}),
        ),
    )
}

async fn serve(fake: Fake) -> String {
    let app = Router::new().route("/v1/embeddings", post(embeddings)).with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

fn client(base_url: String, key: &str, dimension: usize) -> OpenAiEmbedder {
    OpenAiEmbedder::new(OpenAiConfig {
        base_url,
        api_key: Some(key.into()),
        model: "test-embed".into(),
        dimension,
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

#[tokio::test]
async fn batches_keep_input_order_and_are_normalised() {
    let fake = Fake { dims: 8, ..Default::default() };
    let requests = fake.requests.clone();
    let embedder = client(serve(fake).await, "sk-test", 8);
    let texts: Vec<String> = (0..150).map(|i| format!("text number {i}")).collect();
    let vectors = embedder.embed(texts.clone()).await.unwrap();
    assert_eq!(vectors.len(), 150);
    assert_eq!(requests.load(Ordering::SeqCst), 3, "150 inputs in batches of 64");
    for (text, v) in texts.iter().zip(&vectors) {
        let mut expected = vector_for(text, 8);
        tc_embed::normalize(&mut expected);
        assert!(tc_embed::cosine(v, &expected) > 0.99999, "{text}");
        assert!((v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
    }
    assert_eq!(embedder.model_id(), "test-embed");
    assert_eq!(embedder.dimension(), 8);
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let fake = Fake { dims: 4, fail_first: 2, ..Default::default() };
    let requests = fake.requests.clone();
    let embedder = client(serve(fake).await, "sk-test", 4);
    assert_eq!(embedder.embed(vec!["x".into()]).await.unwrap().len(), 1);
    assert_eq!(requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn errors_are_reported_not_retried_forever() {
    let fake = Fake { dims: 4, ..Default::default() };
    let requests = fake.requests.clone();
    let base = serve(fake).await;
    let err = client(base.clone(), "sk-wrong", 4).embed(vec!["x".into()]).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    assert_eq!(requests.load(Ordering::SeqCst), 1, "a 401 is not retried");

    let err = client(base, "sk-test", 16).embed(vec!["x".into()]).await.unwrap_err();
    assert!(err.to_string().contains("dimensions"), "{err}");

    let unreachable = client("http://127.0.0.1:9/v1".into(), "sk-test", 4);
    assert!(unreachable.embed(vec!["x".into()]).await.is_err());
}
