//! Streamed chat latency through the real server (`make bench`): a release server on the local
//! embedding model, answering with the fake OpenAI-compatible model of `fake-llm` (so the
//! figures are TeamContext's own cost: storing the question, retrieval, history, the stream,
//! storing the answer), over HTTP on one connection. For each turn: time to the first event
//! (`start`), to `sources`, to the first `delta`, and to `done`. The fake sends its chunks
//! without delay; a real model adds its own time to first token on top. Prints a markdown
//! table.
//!
//! `cargo run --release -p teamcontext --example ai_stream -- [TURNS] [MODEL_DIR]`

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_llm::{FakeLlm, Reply, recorded};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tc_domain::SystemClock;
use teamcontext::config::Config;

const NOTES: &[&str] = &[
    "Deploy policy. Production deploys happen on Tuesdays after the release review. Hotfixes may ship any day with two approvals.",
    "Stripe webhooks. After rotating the Stripe signing secret, update STRIPE_WEBHOOK_SECRET in the vault and restart the billing workers.",
    "On-call. The on-call engineer carries the pager for one week, from Monday to Monday. Escalations go to the platform lead.",
    "Database migrations run before the new version starts; a migration that takes a lock longer than five seconds is split.",
    "The API gateway retries idempotent requests twice with jittered backoff; non-idempotent ones are never retried.",
];
const QUESTIONS: &[&str] = &[
    "When do we deploy to production?",
    "What must happen after rotating the Stripe signing secret?",
    "Who gets escalations from on-call?",
    "How long may a migration hold a lock?",
    "Does the gateway retry POST requests?",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let turns: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(100);
    let model_dir = args.get(2).cloned().unwrap_or(".model-cache/all-MiniLM-L6-v2".into());
    let fake = FakeLlm::start().await;
    let dir = tempfile::tempdir()?;
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("TEAMCONTEXT_DATA_DIR".into(), dir.path().display().to_string());
    env.insert("BIND_ADDR".into(), "127.0.0.1:0".into());
    env.insert("EMBEDDING_MODEL_DIR".into(), model_dir);
    env.insert("LOG_LEVEL".into(), "warn".into());
    env.insert("LLM_BASE_URL".into(), fake.base_url());
    env.insert("LLM_MODEL".into(), fake_llm::MODEL.into());
    for limit in
        ["RATE_LIMIT_PER_KEY_PER_MIN", "RATE_LIMIT_PER_IP_PER_MIN", "RATE_LIMIT_SEARCH_PER_MIN"]
    {
        env.insert(limit.into(), "0".into());
    }
    let config = Config::from_sources(None, &env)?;
    let embedder = teamcontext::load_embedder(&config)?;
    let server = teamcontext::start(config, Arc::new(SystemClock), embedder).await?;
    let base = format!("http://{}/api/v1", server.addr);
    let http = reqwest::Client::new();

    let registered: Value = http
        .post(format!("{base}/auth/register"))
        .json(&json!({"email": "ai-bench@example.com", "password": "ai bench password", "name": "AI"}))
        .send()
        .await?
        .json()
        .await?;
    let key = registered["api_key"]["key"].as_str().expect("a key").to_string();
    let project: Value = http
        .post(format!("{base}/projects"))
        .bearer_auth(&key)
        .json(&json!({"name": "handbook"}))
        .send()
        .await?
        .json()
        .await?;
    let project = project["id"].as_str().expect("a project").to_string();
    for note in NOTES {
        http.post(format!("{base}/context/save"))
            .bearer_auth(&key)
            .json(&json!({"content": note, "project_id": project}))
            .send()
            .await?
            .error_for_status()?;
    }

    let mut first_event = Vec::new();
    let mut sources = Vec::new();
    let mut first_delta = Vec::new();
    let mut done = Vec::new();
    let mut session: Option<String> = None;
    for turn in 0..turns {
        fake.push(Reply::chunks(recorded::openai_text(
            &["The answer ", "is in ", "the notes [1]."],
            400,
            9,
        )));
        // A new session every ten turns, so the history stays realistic (up to ten turns).
        if turn % 10 == 0 {
            session = None;
        }
        let mut body = json!({"message": QUESTIONS[turn % QUESTIONS.len()], "project_id": project});
        if let Some(s) = &session {
            body["session_id"] = json!(s);
        }
        let started = Instant::now();
        let resp = http
            .post(format!("{base}/ai/chat/stream"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
        let mut stream = resp.bytes_stream();
        let mut text = String::new();
        let (mut got_start, mut got_sources, mut got_delta) = (false, false, false);
        while let Some(chunk) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk?));
            let elapsed = started.elapsed();
            if !got_start && text.contains("event: start") {
                got_start = true;
                first_event.push(elapsed);
            }
            if !got_sources && text.contains("event: sources") {
                got_sources = true;
                sources.push(elapsed);
            }
            if !got_delta && text.contains("event: delta") {
                got_delta = true;
                first_delta.push(elapsed);
            }
        }
        done.push(started.elapsed());
        let last = text.rsplit("event: done").next().unwrap_or("");
        let id = last.lines().find_map(|l| l.strip_prefix("data: ")).map(str::to_string);
        session = Some(id.expect("done carries the session id"));
    }
    server.shutdown().await;

    println!("| streamed chat turn ({turns} turns, fake model) | p50 | p99 |");
    println!("| --- | --- | --- |");
    for (name, mut times) in [
        ("first event (`start`)", first_event),
        ("`sources`", sources),
        ("first `delta`", first_delta),
        ("`done` (answer stored)", done),
    ] {
        times.sort();
        let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
        println!("| {name} | {:.1} ms | {:.1} ms |", ms(at(0.5)), ms(at(0.99)));
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
