//! The AI features over a real server: without a language model (extractive answers on the
//! real embedding model), and with `fake-llm` replaying recorded Chat Completions streams on
//! SQLite and PostgreSQL: cited answers with invented citations removed, chat turns streamed
//! as Server-Sent Events and rebuilt from the database on the next turn, the vendors' quirks,
//! a model that refuses, fails mid-stream or hangs, a client that leaves mid-stream (the
//! model's request is closed), and the unhappy paths of every route; MCP's `ask_question` and
//! `summarize_context` through the official Python client.

mod support;

use std::time::Duration;

use fake_llm::{FakeLlm, Reply, recorded};
use futures_util::StreamExt;
use serde_json::{Value, json};
use support::mcp_clients::{call, http_plan, python};
use support::{TestApp, TestUser};
use tc_store_postgres::testing::TestDatabase;

const DEPLOYS: &str = "Deploy policy. Production deploys happen on Tuesdays after the release \
    review. Hotfixes may ship any day with two approvals. The release manager announces each \
    deploy in the ops channel.";
const STRIPE: &str = "Stripe webhooks. After rotating the Stripe signing secret, update \
    STRIPE_WEBHOOK_SECRET in the vault and restart the billing workers. Old events are \
    replayed from the dashboard.";
const ONCALL: &str = "On-call. The on-call engineer carries the pager for one week, from \
    Monday to Monday. Escalations go to the platform lead.";

/// One Server-Sent Event.
#[derive(Debug, Clone)]
struct Sse {
    event: String,
    id: String,
    data: String,
}

impl Sse {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|_| panic!("not JSON: {}", self.data))
    }
}

fn parse_sse(text: &str) -> Vec<Sse> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let (mut event, mut id, mut data) = (String::new(), String::new(), Vec::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim_start().to_string();
            } else if let Some(v) = line.strip_prefix("id:") {
                id = v.trim_start().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
            }
        }
        if !event.is_empty() || !data.is_empty() {
            out.push(Sse { event, id, data: data.join("\n") });
        }
    }
    out
}

async fn stream(app: &TestApp, key: &str, body: Value) -> (reqwest::StatusCode, Vec<Sse>) {
    let resp = app
        .client
        .post(app.url("/ai/chat/stream"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    if status.is_success() {
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
    }
    (status, parse_sse(&resp.text().await.unwrap()))
}

fn kinds(events: &[Sse]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

/// A user with a project holding the three notes.
async fn team(app: &TestApp, name: &str) -> (TestUser, String) {
    let user = app.register(name).await;
    let project = app.create_project(&user.api_key, &format!("{name}'s handbook")).await;
    for (content, title) in [(DEPLOYS, "Deploys"), (STRIPE, "Stripe"), (ONCALL, "On-call")] {
        let body = json!({"content": content, "project_id": project, "metadata": {"title": title}});
        app.post("/context/save", Some(&user.api_key), body).await.assert_status(201);
    }
    (user, project)
}

/// The ids of a project's contexts.
async fn context_ids(app: &TestApp, key: &str, project: &str) -> Vec<Value> {
    let listed = app.get(&format!("/projects/{project}/context"), key).await;
    listed.assert_status(200)["items"].as_array().unwrap().iter().map(|c| c["id"].clone()).collect()
}

#[tokio::test]
async fn without_a_model_every_feature_answers_extractively() {
    let app = TestApp::with_model(&[]).await;
    let (ana, project) = team(&app, "ana").await;
    let key = &ana.api_key;

    let qa = app
        .post(
            "/ai/qa",
            Some(key),
            json!({"question": "What must happen after rotating the Stripe signing secret?"}),
        )
        .await;
    let qa = qa.assert_status(200);
    assert_eq!(qa["mode"], "extractive");
    assert_eq!(qa["llm"], "not configured");
    assert!(qa.get("fallback_reason").is_none());
    let sources = qa["sources"].as_array().unwrap();
    assert!(!sources.is_empty() && sources.len() <= 5);
    assert_eq!(sources[0]["title"], "Stripe", "{qa}");
    assert!(qa["answer"].as_str().unwrap().contains("STRIPE_WEBHOOK_SECRET"), "{qa}");
    let cited: Vec<u64> =
        qa["citations"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).collect();
    assert!(cited.contains(&1));
    for n in &cited {
        assert!(qa["answer"].as_str().unwrap().contains(&format!("[{n}]")));
        let source = &sources[*n as usize - 1];
        let content = STRIPE.to_string();
        for h in source["highlights"].as_array().unwrap() {
            let (s, e) =
                (h["start"].as_u64().unwrap() as usize, h["end"].as_u64().unwrap() as usize);
            if source["title"] == "Stripe" {
                assert!(content.get(s..e).is_some_and(|t| t.len() > 10), "highlight {s}..{e}");
            }
        }
    }

    // Nothing readable matches: it says so rather than quoting noise.
    let other = app.register("bob").await;
    let empty =
        app.post("/ai/qa", Some(&other.api_key), json!({"question": "When do we deploy?"})).await;
    let empty = empty.assert_status(200);
    assert!(empty["sources"].as_array().unwrap().is_empty());
    assert!(empty["answer"].as_str().unwrap().starts_with("Nothing"));

    // Summaries in each style, of a text and of contexts.
    let text = format!("{DEPLOYS} {STRIPE} {ONCALL}");
    let concise = app.post("/ai/summarize", Some(key), json!({"text": text})).await;
    let concise = concise.assert_status(200);
    assert_eq!(
        (concise["style"].as_str(), concise["mode"].as_str()),
        (Some("concise"), Some("extractive"))
    );
    let summary = concise["summary"].as_str().unwrap();
    assert!(summary.len() < text.len() && !summary.is_empty());
    assert_eq!(concise["original_length"], text.chars().count());
    assert_eq!(concise["summary_length"], summary.chars().count());
    assert!(concise["compression_ratio"].as_f64().unwrap() < 0.6);
    let bullets =
        app.post("/ai/summarize", Some(key), json!({"text": text, "style": "bullet"})).await;
    let bullets = bullets.assert_status(200)["summary"].as_str().unwrap().to_string();
    assert!(
        bullets.lines().count() >= 5 && bullets.lines().all(|l| l.starts_with("- ")),
        "{bullets}"
    );
    let ids = context_ids(&app, key, &project).await;
    let detailed = app
        .post("/ai/summarize", Some(key), json!({"context_ids": ids, "style": "detailed"}))
        .await;
    let detailed = detailed.assert_status(200);
    assert_eq!(detailed["sources"].as_array().unwrap().len(), 3);
    assert!(detailed["summary"].as_str().unwrap().contains("**"), "titled paragraphs: {detailed}");

    // A mind map of the project: clusters of its contexts, each context a leaf once.
    let map = app.post("/ai/mindmap", Some(key), json!({"project_id": project})).await;
    let map = map.assert_status(200);
    assert_eq!(map["mode"], "extractive");
    assert_eq!(map["root"]["label"], "ana's handbook");
    assert_eq!(map["root"]["id"], "0");
    let clusters = map["root"]["children"].as_array().unwrap();
    assert!(!clusters.is_empty());
    let mut leaves: Vec<Value> = clusters
        .iter()
        .flat_map(|c| c["children"].as_array().unwrap().iter().map(|l| l["context_ids"][0].clone()))
        .collect();
    leaves.sort_by_key(|v| v.to_string());
    let mut all = context_ids(&app, key, &project).await;
    all.sort_by_key(|v| v.to_string());
    assert_eq!(leaves, all);
    assert_eq!(map["sources"].as_array().unwrap().len(), 3);
    let shallow =
        app.post("/ai/mindmap", Some(key), json!({"project_id": project, "depth": 2})).await;
    let shallow = shallow.assert_status(200);
    assert!(
        shallow["root"]["children"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("children").is_some_and(|k| k.as_array().unwrap().is_empty()))
    );
    let topic = app
        .post("/ai/mindmap", Some(key), json!({"project_id": project, "topic": "Stripe webhooks"}))
        .await;
    assert_eq!(topic.assert_status(200)["root"]["label"], "Stripe webhooks");

    // A chat turn as JSON, then streamed in the same session.
    let turn = app
        .post(
            "/ai/chat",
            Some(key),
            json!({"message": "Who gets escalations from on-call?", "project_id": project}),
        )
        .await;
    let turn = turn.assert_status(200);
    let session = turn["session_id"].as_str().unwrap().to_string();
    assert_eq!(turn["message"]["role"], "assistant");
    assert_eq!(turn["message"]["mode"], "extractive");
    assert!(turn["message"]["content"].as_str().unwrap().contains("platform lead"), "{turn}");

    let (status, events) =
        stream(&app, key, json!({"message": "When are deploys?", "session_id": session})).await;
    assert_eq!(status, 200);
    assert_eq!(kinds(&events), ["start", "sources", "delta", "completed", "done"]);
    let ids: Vec<u64> = events.iter().map(|e| e.id.parse().unwrap()).collect();
    assert_eq!(ids, (1..=5).collect::<Vec<u64>>(), "numbered in order");
    assert_eq!(events[0].json()["session_id"], session.as_str());
    assert_eq!(events[0].json()["mode"], "extractive");
    assert!(events[2].json()["text"].as_str().unwrap().contains("Tuesdays"));
    assert_eq!(events[4].data, session, "seed 001: done carries the session id");

    let listed = app.get("/ai/sessions", key).await;
    let listed = listed.assert_status(200);
    assert_eq!(listed["items"][0]["session_id"], session.as_str());
    assert_eq!(listed["items"][0]["title"], "Who gets escalations from on-call?");
    assert_eq!(listed["items"][0]["project_id"], project.as_str());
    let messages = app.get(&format!("/ai/sessions/{session}/messages?limit=3"), key).await;
    let messages = messages.assert_status(200);
    let roles: Vec<&str> =
        messages["items"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["assistant", "user", "assistant"], "latest first");
    let cursor = messages["next_cursor"].as_str().unwrap();
    let rest = app.get(&format!("/ai/sessions/{session}/messages?cursor={cursor}"), key).await;
    assert_eq!(
        rest.assert_status(200)["items"][0]["content"],
        "Who gets escalations from on-call?"
    );

    // The agent without a model answers extractively and calls nothing.
    let agent = app.post("/chat", Some(key), json!({"message": "When are deploys?"})).await;
    let agent = agent.assert_status(200);
    assert_eq!(agent["message"]["mode"], "extractive");
    assert!(agent["agent_response"].as_str().unwrap().contains("Tuesdays"), "{agent}");
    assert_eq!(agent["tool_calls"], json!([]));
    let (_, events) = stream(&app, key, json!({"message": "Deploys?", "agent": true})).await;
    assert_eq!(events[0].json()["agent"], false, "no model, no tools");

    // Extractive answers are counted as AI calls that cost nothing.
    app.services().flush_pending().await;
    let usage = app.get("/analytics/usage", key).await;
    let ai = usage.assert_status(200)["ai"].clone();
    assert!(ai["by_feature"]["chat"]["calls"].as_i64().unwrap() >= 2, "{ai}");
    assert!(ai["by_feature"]["qa"]["calls"].as_i64().unwrap() >= 1, "{ai}");
    assert_eq!((ai["prompt_tokens"].as_i64(), ai["cost_usd"].as_f64()), (Some(0), Some(0.0)));

    app.delete(&format!("/ai/sessions/{session}"), key).await.assert_status(204);
    app.get(&format!("/ai/sessions/{session}/messages"), key)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    app.shutdown().await;
}

/// The server with the fake model, on SQLite or on PostgreSQL.
async fn with_model(fake: &FakeLlm, db: Option<&TestDatabase>, extra: &[(&str, &str)]) -> TestApp {
    let base = fake.base_url();
    let mut env = vec![
        ("LLM_BASE_URL", base.as_str()),
        ("LLM_MODEL", fake_llm::MODEL),
        ("LLM_API_KEY", "sk-test-123"),
        ("LLM_HEADERS", r#"{"Cookie": "gateway_session=abc; tenant=acme"}"#),
    ];
    if let Some(db) = db {
        env.extend(support::postgres_env(db));
    }
    env.extend_from_slice(extra);
    TestApp::with_env(&env).await
}

async fn llm_answers_cite_stream_and_remember(db: Option<&TestDatabase>) {
    let fake = FakeLlm::start().await;
    let prices = [("LLM_INPUT_PRICE_PER_MTOK", "2"), ("LLM_OUTPUT_PRICE_PER_MTOK", "10")];
    let app = with_model(&fake, db, &prices).await;
    let (ana, project) = team(&app, "ana").await;
    let key = &ana.api_key;

    let qa =
        app.post("/ai/qa", Some(key), json!({"question": "When do we deploy?", "top_k": 2})).await;
    let qa = qa.assert_status(200);
    assert_eq!(qa["mode"], "llm");
    assert_eq!(qa["llm"], fake_llm::MODEL);
    assert_eq!(
        qa["answer"],
        "According to the team's notes, deploys happen on Tuesdays [1]. Rollbacks use the runbook."
    );
    assert_eq!(qa["citations"], json!([1]), "[9] named no source and was removed");
    assert_eq!(qa["usage"], json!({"prompt_tokens": 321, "completion_tokens": 17}));
    assert!(!qa["sources"].as_array().unwrap().is_empty());
    let asked = &fake.requests()[0];
    assert_eq!(asked["model"], fake_llm::MODEL);
    assert_eq!(asked["stream"], true);
    let prompt = asked["messages"][1]["content"].as_str().unwrap();
    let given = qa["sources"].as_array().unwrap().len();
    assert!(prompt.contains("[1] ") && !prompt.contains(&format!("[{}] ", given + 1)), "{prompt}");
    assert!(prompt.ends_with("Question: When do we deploy?"));
    let headers = &fake.headers()[0];
    assert_eq!(headers["authorization"], "Bearer sk-test-123");
    assert_eq!(headers["cookie"], "gateway_session=abc; tenant=acme");

    // A streamed turn: sources before text, the deltas as the model sent them, usage, the
    // stored message (citation cleaned), done.
    fake.push(Reply::Stream {
        chunks: recorded::openai_text(&["Tues", "days [1]", " and [7]."], 90, 4),
        delay: Duration::from_millis(5),
    });
    let (status, events) =
        stream(&app, key, json!({"message": "When do we deploy?", "project_id": project})).await;
    assert_eq!(status, 200);
    assert_eq!(
        kinds(&events),
        ["start", "sources", "delta", "delta", "delta", "usage", "completed", "done"]
    );
    assert_eq!(events[0].json()["mode"], "llm");
    assert_eq!(events[1].json()[0]["n"], 1);
    let text: String =
        events[2..5].iter().map(|e| e.json()["text"].as_str().unwrap().to_string()).collect();
    assert_eq!(text, "Tuesdays [1] and [7].");
    assert_eq!(events[5].json(), json!({"prompt_tokens": 90, "completion_tokens": 4}));
    let completed = events[6].json();
    assert_eq!(completed["content"], "Tuesdays [1] and.");
    assert_eq!(completed["status"], "complete");
    assert_eq!(completed["finish_reason"], "stop");
    assert_eq!(completed["model"], fake_llm::MODEL);
    let session = events[7].data.clone();

    // The next turn is rebuilt from the database: the earlier question and answer are sent.
    fake.push(Reply::chunks(recorded::llamacpp_text(&["The release ", "manager [1]."])));
    let next = app
        .post(
            "/ai/chat",
            Some(key),
            json!({"message": "Who announces them?", "session_id": session}),
        )
        .await;
    let next = next.assert_status(200);
    assert_eq!(next["message"]["content"], "The release manager [1].", "reasoning is not shown");
    assert_eq!(next["message"]["usage"], json!({"prompt_tokens": 120, "completion_tokens": 12}));
    let sent = fake.requests().last().unwrap()["messages"].clone();
    let roles: Vec<&str> =
        sent.as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(sent[1]["content"], "When do we deploy?");
    assert_eq!(sent[2]["content"], "Tuesdays [1] and.");

    // vLLM's usage chunk with `choices: null` and its `reasoning` field.
    fake.push(Reply::chunks(recorded::vllm_text(&["Two ", "approvals."])));
    let vllm = app
        .post("/ai/chat", Some(key), json!({"message": "Hotfixes?", "session_id": session}))
        .await;
    let vllm = vllm.assert_status(200);
    assert_eq!(vllm["message"]["content"], "Two approvals.");
    assert_eq!(vllm["message"]["usage"]["prompt_tokens"], 50);

    let messages = app.get(&format!("/ai/sessions/{session}/messages"), key).await;
    assert_eq!(messages.assert_status(200)["items"].as_array().unwrap().len(), 6);

    // A mind map is the model's outline, its citations mapped to the sources' contexts.
    let outline =
        ["Sure:\n- Deploys [1]\n", "  - Tuesdays after review [1]\n", "- Rollbacks [9]\n"];
    fake.push(Reply::chunks(recorded::openai_text(&outline, 200, 30)));
    let map = app
        .post("/ai/mindmap", Some(key), json!({"project_id": project, "topic": "deploys"}))
        .await;
    let map = map.assert_status(200);
    assert_eq!(map["mode"], "llm");
    let first_source = map["sources"][0]["context_id"].clone();
    let deploys = &map["root"]["children"][0];
    assert_eq!((deploys["label"].as_str(), deploys["id"].as_str()), (Some("Deploys"), Some("0.0")));
    assert_eq!(deploys["context_ids"], json!([first_source]));
    assert_eq!(deploys["children"][0]["label"], "Tuesdays after review");
    assert_eq!(map["root"]["children"][1]["label"], "Rollbacks");
    assert!(map["root"]["children"][1].get("context_ids").is_none(), "[9] named no source");
    assert_eq!(map["usage"], json!({"prompt_tokens": 200, "completion_tokens": 30}));

    // Every AI call is an analytics event with the model's tokens and their price.
    app.services().flush_pending().await;
    let usage = app.get("/analytics/usage", key).await;
    let ai = usage.assert_status(200)["ai"].clone();
    let cost = |prompt: f64, completion: f64| (prompt * 2.0 + completion * 10.0) / 1e6;
    let close = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-12;
    let qa_usage = &ai["by_feature"]["qa"];
    assert_eq!(
        (qa_usage["calls"].as_i64(), qa_usage["prompt_tokens"].as_i64()),
        (Some(1), Some(321))
    );
    assert!(close(&qa_usage["cost_usd"], cost(321.0, 17.0)), "{ai}");
    let chat_usage = &ai["by_feature"]["chat"];
    assert_eq!(
        (chat_usage["calls"].as_i64(), chat_usage["prompt_tokens"].as_i64()),
        (Some(3), Some(90 + 120 + 50))
    );
    assert_eq!(ai["by_feature"]["mindmap"]["completion_tokens"], 30);
    assert_eq!(ai["calls"], 5);
    let total: f64 = ["qa", "chat", "mindmap"]
        .iter()
        .map(|f| ai["by_feature"][f]["cost_usd"].as_f64().unwrap())
        .sum();
    assert!(close(&ai["cost_usd"], total));
    let savings = app.get("/analytics/cost-savings", key).await;
    let savings = savings.assert_status(200);
    assert!(close(&savings["llm_cost_usd"], total), "{savings}");
    let net = savings["estimated_savings_usd"].as_f64().unwrap() - total;
    assert!(close(&savings["net_savings_usd"], net));
    let by_period: f64 = savings["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["llm_cost_usd"].as_f64().unwrap())
        .sum();
    assert!((by_period - total).abs() < 1e-12);
    app.shutdown().await;
}

#[tokio::test]
async fn a_model_answers_with_checked_citations_and_streams_on_sqlite() {
    llm_answers_cite_stream_and_remember(None).await;
}

#[tokio::test]
async fn a_model_answers_with_checked_citations_and_streams_on_postgres() {
    let db = TestDatabase::create().await;
    llm_answers_cite_stream_and_remember(Some(&db)).await;
}

/// The agent: tools called in fragments (OpenAI) and whole (Ollama), outcomes streamed and
/// stored, mistakes answered as tool messages, the caller's own scope, history replayed with
/// the calls, the seed-002 endpoint, and the step limit.
async fn agent_calls_tools_and_records_them(db: Option<&TestDatabase>) {
    let fake = FakeLlm::start().await;
    let app = with_model(&fake, db, &[]).await;
    let (ana, project) = team(&app, "ana").await;
    let (bob, bobs_project) = team(&app, "bob").await;
    let bobs_context = context_ids(&app, &bob.api_key, &bobs_project).await[0].clone();
    let key = &ana.api_key;

    let search = json!({"query": "deploy days", "project_id": project}).to_string();
    let save = json!({"content": "Decision: from March, production deploys move to Wednesdays.",
                      "project_id": project, "tags": ["decision"]})
    .to_string();
    fake.push(Reply::chunks(recorded::openai_tool_calls(&[
        ("call_1", "get_relevant_context", &search),
        ("call_2", "save_to_context", &save),
    ])));
    fake.push(Reply::chunks(recorded::ollama_tool_calls(&[
        ("call_3", "get_context", json!({"id": bobs_context})),
        ("call_4", "delete_everything", json!({})),
    ])));
    fake.push(Reply::chunks(recorded::openai_tool_calls(&[(
        "call_5",
        "get_context",
        "{\"id\": ",
    )])));
    fake.push(Reply::chunks(recorded::openai_text(
        &["Deploys are on Tuesdays [1]", "; I saved the move."],
        90,
        9,
    )));
    let asked = json!({"message": "When do we deploy? Note that we move to Wednesdays.",
                       "project_id": project, "agent": true});
    let (status, events) = stream(&app, key, asked).await;
    assert_eq!(status, 200);
    let kinds = kinds(&events);
    assert_eq!(kinds[..2], ["start", "sources"]);
    assert_eq!(events[0].json()["agent"], true);
    let calls: Vec<Value> =
        events.iter().filter(|e| e.event == "tool_call").map(|e| e.json()).collect();
    let results: Vec<Value> =
        events.iter().filter(|e| e.event == "tool_result").map(|e| e.json()).collect();
    let names: Vec<&str> = calls.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "get_relevant_context",
            "save_to_context",
            "get_context",
            "delete_everything",
            "get_context"
        ]
    );
    let writes: Vec<bool> = calls.iter().map(|c| c["writes"].as_bool().unwrap()).collect();
    assert_eq!(writes, [false, true, false, false, false], "a tool that writes is marked");
    for (call, result) in calls.iter().zip(&results) {
        assert_eq!(call["id"], result["id"], "each result follows its call");
        assert!(call.get("result").is_none() && result["duration_ms"].is_u64());
    }
    let position = |kind: &str, id: &str| {
        events.iter().position(|e| e.event == kind && e.json()["id"] == id).unwrap()
    };
    assert!(position("tool_call", "call_1") < position("tool_result", "call_1"));
    assert!(position("tool_result", "call_1") < position("tool_call", "call_2"));
    assert!(!results[0]["result"]["results"].as_array().unwrap().is_empty(), "{}", results[0]);
    assert!(results[1]["result"]["id"].is_string(), "saved: {}", results[1]);
    assert!(
        results[2]["error"].as_str().unwrap().contains("CONTEXT_NOT_FOUND"),
        "bob's is not ana's"
    );
    assert!(results[3]["error"].as_str().unwrap().contains("there is no tool"));
    assert!(results[4]["error"].as_str().unwrap().contains("not valid JSON"));
    assert_eq!(kinds[kinds.len() - 2..], ["completed", "done"]);
    let completed = events[events.len() - 2].json();
    assert_eq!(completed["content"], "Deploys are on Tuesdays [1]; I saved the move.");
    assert_eq!(completed["tool_calls"].as_array().unwrap().len(), 5);
    assert_eq!(
        completed["usage"],
        json!({"prompt_tokens": 200 + 200 + 90, "completion_tokens": 20 + 20 + 9}),
        "usage adds up over the steps (Ollama sent none)"
    );
    let session = events.last().unwrap().data.clone();

    // What the model was offered and told.
    let requests = fake.requests();
    assert_eq!(requests.len(), 4);
    let offered: Vec<&str> = requests[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(offered.contains(&"get_relevant_context") && offered.contains(&"save_to_context"));
    assert!(!offered.contains(&"ask_question"), "{offered:?}");
    let second = requests[1]["messages"].as_array().unwrap();
    let told: Vec<&Value> = second.iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(told.len(), 2);
    assert_eq!(told[0]["tool_call_id"], "call_1");
    assert!(told[1]["content"].as_str().unwrap().contains("\"id\""));
    let last = requests[3]["messages"].as_array().unwrap();
    assert!(last.iter().any(|m| m["tool_call_id"] == "call_4"
        && m["content"].as_str().unwrap().starts_with("error: there is no tool")));

    // The save happened, as ana, in her project, recorded as the agent's.
    let saved = app.get(&format!("/projects/{project}/context"), key).await;
    let saved = saved.assert_status(200);
    let item = saved["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["content"].as_str().unwrap().contains("Wednesdays"))
        .unwrap_or_else(|| panic!("not saved: {saved}"));
    assert_eq!(item["metadata"]["source"], "agent");

    // Stored with the message, and replayed into the next turn's history (seed 002's endpoint).
    let stored = app.get(&format!("/ai/sessions/{session}/messages?limit=1"), key).await;
    let stored = stored.assert_status(200)["items"][0].clone();
    assert_eq!(stored["tool_calls"], completed["tool_calls"]);
    fake.push(Reply::chunks(recorded::openai_text(&["Wednesdays, from March."], 40, 4)));
    let next = app
        .post(
            "/chat",
            Some(key),
            json!({"message": "So when from March?", "conversation_id": session}),
        )
        .await;
    let next = next.assert_status(200);
    assert_eq!(next["conversation_id"], session.as_str());
    assert_eq!(next["agent_response"], "Wednesdays, from March.");
    assert_eq!(next["tool_calls"], json!([]));
    let history = fake.requests()[4]["messages"].clone();
    let history = history.as_array().unwrap();
    let replayed: Vec<&str> = history
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["tool_call_id"].as_str().unwrap())
        .collect();
    assert_eq!(replayed, ["call_1", "call_2", "call_3", "call_4", "call_5"]);
    assert!(
        history.iter().any(|m| m["role"] == "assistant"
            && m["tool_calls"].as_array().is_some_and(|c| c.len() == 5))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_agent_calls_tools_and_records_them_on_sqlite() {
    agent_calls_tools_and_records_them(None).await;
}

#[tokio::test]
async fn the_agent_calls_tools_and_records_them_on_postgres() {
    let db = TestDatabase::create().await;
    agent_calls_tools_and_records_them(Some(&db)).await;
}

/// The outbound rule refuses loopback unless the operator allows it; the tests' "remote" MCP
/// server is the test server's own `/mcp`.
const ALLOW_LOOPBACK: (&str, &str) = ("OUTBOUND_ALLOWED_HOSTS", "127.0.0.1");

/// A new key of `user`'s made with `body`.
async fn new_key(app: &TestApp, user: &TestUser, body: Value) -> String {
    let made = app.post("/users/me/api-keys", Some(&user.access_token), body).await;
    made.assert_status(201)["key"].as_str().unwrap().to_string()
}

/// A key of `user`'s with only the `read` scope.
async fn read_only_key(app: &TestApp, user: &TestUser) -> String {
    new_key(app, user, json!({"name": "lend", "scopes": ["read"]})).await
}

/// A key of `user`'s restricted to `project`.
async fn project_key(app: &TestApp, user: &TestUser, project: &str) -> String {
    new_key(app, user, json!({"name": "narrow", "project_id": project})).await
}

async fn registered_mcp_servers_lend_the_agent_their_tools(db: Option<&TestDatabase>) {
    let fake = FakeLlm::start().await;
    let app = with_model(&fake, db, &[ALLOW_LOOPBACK]).await;
    let (ana, project) = team(&app, "ana").await;
    let bob = app.register("bob").await;
    let bobs_project = app.create_project(&bob.api_key, "bob's runbooks").await;
    let runbook =
        "Pager runbook. The pager rotation lives in schedule PX-42; swaps go through #ops.";
    app.post(
        "/context/save",
        Some(&bob.api_key),
        json!({"content": runbook, "project_id": bobs_project}),
    )
    .await
    .assert_status(201);
    let lent = read_only_key(&app, &bob).await;
    let key = &ana.api_key;

    // Registering connects at once and caches the tool list.
    let register = |name: &str, url: String, token: Option<&str>| {
        let mut body = json!({"name": name, "url": url});
        if let Some(token) = token {
            body["bearer_token"] = json!(token);
        }
        app.post("/ai/mcp-servers", Some(key), body)
    };
    let made = register("bobs-wiki", app.url("/mcp").replace("/api/v1", ""), Some(&lent)).await;
    let made = made.assert_status(201).clone();
    assert!(!made.to_string().contains(&lent), "the token is never shown: {made}");
    assert_eq!(made["has_token"], true);
    let id = made["id"].as_str().unwrap().to_string();
    let tool = |name: &str| {
        made["tools"].as_array().unwrap().iter().find(|t| t["name"] == name).cloned().unwrap()
    };
    assert_eq!(tool("get_relevant_context")["agent_name"], "bobs-wiki__get_relevant_context");
    assert_eq!(tool("get_relevant_context")["writes"], false);
    assert_eq!(tool("save_to_context")["writes"], true);
    let refreshed_at = made["tools_refreshed_at"].as_str().unwrap().to_string();
    assert!(made["tools_expire_at"].is_string() && made["error"].is_null());

    // Servers that are not there, or refuse the token; a name taken.
    let mcp = app.url("/mcp").replace("/api/v1", "");
    register("bad-token", mcp.clone(), Some("tc_wrong"))
        .await
        .assert_error(502, "MCP_SERVER_FAILED");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}/mcp", closed.local_addr().unwrap());
    drop(closed);
    register("nowhere", nowhere, None).await.assert_error(502, "MCP_SERVER_FAILED");
    register("bobs-wiki", mcp.clone(), Some(&lent)).await.assert_error(409, "CONFLICT");
    let listed = app.get("/ai/mcp-servers", key).await;
    assert_eq!(listed.assert_status(200)["servers"].as_array().unwrap().len(), 1);
    // Not bob's to see, refresh or delete.
    app.get(&format!("/ai/mcp-servers/{id}"), &bob.api_key)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    app.post(&format!("/ai/mcp-servers/{id}/refresh"), Some(&bob.api_key), json!({}))
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    app.delete(&format!("/ai/mcp-servers/{id}"), &bob.api_key)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    assert!(
        app.get("/ai/mcp-servers", &bob.api_key).await.assert_status(200)["servers"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The agent is offered the remote tools and calls them, marked with their server.
    let asked = json!({"query": "pager rotation", "project_id": bobs_project}).to_string();
    fake.push(Reply::chunks(recorded::openai_tool_calls(&[(
        "call_r1",
        "bobs-wiki__get_relevant_context",
        &asked,
    )])));
    fake.push(Reply::chunks(recorded::openai_text(&["It is schedule PX-42."], 50, 5)));
    let turn =
        json!({"message": "Where is the pager rotation?", "project_id": project, "agent": true});
    let (status, events) = stream(&app, key, turn.clone()).await;
    assert_eq!(status, 200);
    let call = events.iter().find(|e| e.event == "tool_call").unwrap().json();
    assert_eq!(
        (call["server"].as_str(), call["writes"].as_bool()),
        (Some("bobs-wiki"), Some(false))
    );
    let result = events.iter().find(|e| e.event == "tool_result").unwrap().json();
    assert!(result["result"].to_string().contains("PX-42"), "bob's answer: {result}");
    let offered: Vec<String> = fake.requests()[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(offered.contains(&"bobs-wiki__save_to_context".to_string()), "{offered:?}");
    assert!(offered.contains(&"get_relevant_context".to_string()));

    // A list older than six hours is fetched again by the next turn; a refresh fetches it now.
    app.clock.advance(chrono::Duration::hours(7));
    fake.push(Reply::chunks(recorded::openai_text(&["Noted."], 10, 2)));
    let (status, _) = stream(&app, key, turn).await;
    assert_eq!(status, 200);
    let now = app.get(&format!("/ai/mcp-servers/{id}"), key).await;
    let now = now.assert_status(200)["tools_refreshed_at"].as_str().unwrap().to_string();
    assert!(now > refreshed_at, "{now} after {refreshed_at}");
    app.clock.advance(chrono::Duration::minutes(1));
    let again = app.post(&format!("/ai/mcp-servers/{id}/refresh"), Some(key), json!({})).await;
    assert!(again.assert_status(200)["tools_refreshed_at"].as_str().unwrap() > now.as_str());

    // A server whose token stops working keeps its cached tools and says why.
    app.delete(&format!("/users/me/api-keys/{}", key_id(&app, &bob, "lend").await), &bob.api_key)
        .await
        .assert_status(204);
    app.post(&format!("/ai/mcp-servers/{id}/refresh"), Some(key), json!({}))
        .await
        .assert_error(502, "MCP_SERVER_FAILED");
    let kept = app.get(&format!("/ai/mcp-servers/{id}"), key).await.assert_status(200).clone();
    assert!(kept["error"].is_string() && !kept["tools"].as_array().unwrap().is_empty(), "{kept}");

    // Deleted: no longer offered.
    app.delete(&format!("/ai/mcp-servers/{id}"), key).await.assert_status(204);
    app.get(&format!("/ai/mcp-servers/{id}"), key).await.assert_error(404, "RESOURCE_NOT_FOUND");
    fake.push(Reply::chunks(recorded::openai_text(&["Fine."], 10, 2)));
    let turn = json!({"message": "And now?", "project_id": project, "agent": true});
    stream(&app, key, turn).await;
    let last = fake.requests().last().unwrap()["tools"].to_string();
    assert!(!last.contains("bobs-wiki__"), "{last}");

    if db.is_none() {
        // The token never reaches the database file in the clear.
        app.shutdown_asserting_not_stored(&[&lent]).await;
    } else {
        app.shutdown().await;
    }
}

/// The id of `user`'s key named `name`.
async fn key_id(app: &TestApp, user: &TestUser, name: &str) -> String {
    let keys = app.get("/users/me/api-keys", &user.api_key).await;
    let keys = keys.assert_status(200).as_array().unwrap().clone();
    keys.iter().find(|k| k["name"] == name).unwrap()["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn registered_mcp_servers_lend_the_agent_their_tools_on_sqlite() {
    registered_mcp_servers_lend_the_agent_their_tools(None).await;
}

#[tokio::test]
async fn registered_mcp_servers_lend_the_agent_their_tools_on_postgres() {
    let db = TestDatabase::create().await;
    registered_mcp_servers_lend_the_agent_their_tools(Some(&db)).await;
}

#[tokio::test]
async fn mcp_server_routes_refuse_bad_requests_and_strangers() {
    // No OUTBOUND_ALLOWED_HOSTS: the server's own network is out of reach.
    let app = TestApp::with_env(&[("MAX_BODY_BYTES", "4096")]).await;
    let ana = app.register("ana").await;
    let eve = app.register("eve").await;
    let key = &ana.api_key;
    let mcp = app.url("/mcp").replace("/api/v1", "");
    for (method, path) in [
        ("GET", "/ai/mcp-servers"),
        ("POST", "/ai/mcp-servers"),
        ("GET", "/ai/mcp-servers/01a20000-0000-7000-8000-000000000000"),
        ("DELETE", "/ai/mcp-servers/01a20000-0000-7000-8000-000000000000"),
        ("POST", "/ai/mcp-servers/01a20000-0000-7000-8000-000000000000/refresh"),
    ] {
        let r = app.send(method.parse().unwrap(), path, None, Some(json!({}))).await;
        r.assert_error(401, "INVALID_CREDENTIALS");
    }
    let refused = app.post("/ai/mcp-servers", Some(key), json!({"name": "own", "url": mcp})).await;
    refused.assert_error(422, "INVALID_INPUT");
    assert!(refused.body.to_string().contains("OUTBOUND_ALLOWED_HOSTS"), "{}", refused.body);
    for (body, status, code) in [
        (json!({}), 400, "MISSING_REQUIRED_FIELD"),
        (json!({"name": "x"}), 400, "MISSING_REQUIRED_FIELD"),
        (
            json!({"name": "Has Space", "url": "https://tools.example.com/mcp"}),
            422,
            "INVALID_INPUT",
        ),
        (json!({"name": "a__b", "url": "https://tools.example.com/mcp"}), 422, "INVALID_INPUT"),
        (
            json!({"name": "x".repeat(33), "url": "https://tools.example.com/mcp"}),
            422,
            "INVALID_INPUT",
        ),
        (json!({"name": "ftp", "url": "ftp://tools.example.com/mcp"}), 422, "INVALID_INPUT"),
        (
            json!({"name": "creds", "url": "https://u:p@tools.example.com/mcp"}),
            422,
            "INVALID_INPUT",
        ),
        (
            json!({"name": "tok", "url": "https://tools.example.com/mcp", "bearer_token": "a\nb"}),
            422,
            "INVALID_INPUT",
        ),
        (json!({"name": 7, "url": "https://tools.example.com/mcp"}), 422, "INVALID_INPUT"),
        (
            json!({"name": "big", "url": "https://tools.example.com/mcp", "bearer_token": "t".repeat(5000)}),
            413,
            "CONTEXT_TOO_LARGE",
        ),
    ] {
        app.post("/ai/mcp-servers", Some(key), body.clone()).await.assert_error(status, code);
    }
    app.post_text("/ai/mcp-servers", key, "{\"name\":").await.assert_error(400, "INVALID_INPUT");

    // Keys that may not manage servers: read-only, or restricted to one project.
    let ro = read_only_key(&app, &ana).await;
    let body = json!({"name": "x", "url": "https://tools.example.com/mcp"});
    app.post("/ai/mcp-servers", Some(&ro), body.clone())
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    let project = app.create_project(key, "p").await;
    let narrow = project_key(&app, &ana, &project).await;
    app.get("/ai/mcp-servers", &narrow).await.assert_error(403, "INSUFFICIENT_PERMISSIONS");

    // Unknown, malformed and (below, in the registered test) someone else's ids: 404.
    for id in ["01a20000-0000-7000-8000-000000000000", "not-a-uuid"] {
        app.get(&format!("/ai/mcp-servers/{id}"), &eve.api_key)
            .await
            .assert_error(404, "RESOURCE_NOT_FOUND");
        app.delete(&format!("/ai/mcp-servers/{id}"), &eve.api_key)
            .await
            .assert_error(404, "RESOURCE_NOT_FOUND");
        app.post(&format!("/ai/mcp-servers/{id}/refresh"), Some(&eve.api_key), json!({}))
            .await
            .assert_error(404, "RESOURCE_NOT_FOUND");
    }
    assert!(
        app.get("/ai/mcp-servers", key).await.assert_status(200)["servers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.shutdown().await;
}

async fn a_users_own_model_answers_their_calls(db: Option<&TestDatabase>) {
    let fake = FakeLlm::start().await;
    let own = FakeLlm::start().await;
    let app = with_model(&fake, db, &[ALLOW_LOOPBACK]).await;
    let (ana, _) = team(&app, "ana").await;
    let (bob, _) = team(&app, "bob").await;
    let key = &ana.api_key;
    let settings = app.get("/ai/llm-settings", key).await;
    let settings = settings.assert_status(200);
    assert_eq!(
        (settings["source"].as_str(), settings["model"].as_str()),
        (Some("server"), Some(fake_llm::MODEL))
    );

    let mine = json!({"base_url": own.base_url(), "model": "ana-model", "api_key": "sk-ana-secret",
                      "headers": {"Cookie": "sso=ana-session"}});
    let set = app.put("/ai/llm-settings", key, mine).await;
    let set = set.assert_status(200).clone();
    assert_eq!((set["source"].as_str(), set["model"].as_str()), (Some("user"), Some("ana-model")));
    assert_eq!(
        (set["has_api_key"].as_bool(), set["header_names"].clone()),
        (Some(true), json!(["Cookie"]))
    );
    assert!(!set.to_string().contains("sk-ana-secret") && !set.to_string().contains("ana-session"));

    // The connection test asks her model, with her credentials, and is recorded.
    own.push(Reply::chunks(recorded::openai_text(&["OK"], 12, 1)));
    let tested = app.post("/ai/llm-settings/test", Some(key), json!({})).await;
    let tested = tested.assert_status(200).clone();
    assert_eq!((tested["ok"].as_bool(), tested["source"].as_str()), (Some(true), Some("user")));
    assert_eq!(
        (tested["model"].as_str(), tested["reply"].as_str()),
        (Some("ana-model"), Some("OK"))
    );
    assert_eq!(own.headers()[0]["authorization"], "Bearer sk-ana-secret");
    assert_eq!(own.headers()[0]["cookie"], "sso=ana-session");
    assert_eq!(own.requests()[0]["model"], "ana-model");

    // Her questions go to her model, priced as an unknown model (nothing); bob's to the server's.
    own.push(Reply::chunks(recorded::openai_text(&["Tuesdays [1]."], 40, 4)));
    let qa = app.post("/ai/qa", Some(key), json!({"question": "When do we deploy?"})).await;
    assert_eq!(qa.assert_status(200)["llm"], "ana-model");
    assert_eq!(own.requests().len(), 2);
    let served = fake.requests().len();
    let theirs =
        app.post("/ai/qa", Some(&bob.api_key), json!({"question": "When do we deploy?"})).await;
    assert_eq!(theirs.assert_status(200)["llm"], fake_llm::MODEL);
    assert_eq!((fake.requests().len(), own.requests().len()), (served + 1, 2));

    // A model that refuses: the test says why; her calls fall back to extractive answers.
    own.push(Reply::Status(401, json!({"error": {"message": "invalid key"}})));
    let failed = app.post("/ai/llm-settings/test", Some(key), json!({})).await;
    let failed = failed.assert_status(200).clone();
    assert_eq!(failed["ok"], false);
    assert!(failed["error"].as_str().unwrap().contains("refused"), "{failed}");
    let recorded = app.get("/ai/llm-settings", key).await.assert_status(200).clone();
    assert!(recorded["test_error"].is_string() && recorded["tested_at"].is_string(), "{recorded}");

    // Forgotten: the server's model again.
    app.delete("/ai/llm-settings", key).await.assert_status(204);
    app.delete("/ai/llm-settings", key).await.assert_error(404, "RESOURCE_NOT_FOUND");
    let back = app.get("/ai/llm-settings", key).await;
    assert_eq!(back.assert_status(200)["source"], "server");

    if db.is_none() {
        app.shutdown_asserting_not_stored(&["sk-ana-secret", "ana-session"]).await;
    } else {
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_users_own_model_answers_their_calls_on_sqlite() {
    a_users_own_model_answers_their_calls(None).await;
}

#[tokio::test]
async fn a_users_own_model_answers_their_calls_on_postgres() {
    let db = TestDatabase::create().await;
    a_users_own_model_answers_their_calls(Some(&db)).await;
}

#[tokio::test]
async fn llm_settings_refuse_bad_requests_and_strangers() {
    // No model on the server and no OUTBOUND_ALLOWED_HOSTS.
    let app = TestApp::with_env(&[("MAX_BODY_BYTES", "4096")]).await;
    let ana = app.register("ana").await;
    let key = &ana.api_key;
    for (method, path) in [
        ("GET", "/ai/llm-settings"),
        ("PUT", "/ai/llm-settings"),
        ("DELETE", "/ai/llm-settings"),
        ("POST", "/ai/llm-settings/test"),
    ] {
        let r = app.send(method.parse().unwrap(), path, None, Some(json!({}))).await;
        r.assert_error(401, "INVALID_CREDENTIALS");
    }
    let none = app.get("/ai/llm-settings", key).await;
    assert_eq!(none.assert_status(200)["source"], "none");
    app.post("/ai/llm-settings/test", Some(key), json!({}))
        .await
        .assert_error(400, "INVALID_INPUT");
    let inside = json!({"base_url": "http://127.0.0.1:9/v1", "model": "m"});
    let refused = app.put("/ai/llm-settings", key, inside).await;
    refused.assert_error(422, "INVALID_INPUT");
    assert!(refused.body.to_string().contains("OUTBOUND_ALLOWED_HOSTS"), "{}", refused.body);
    let url = "https://llm.example.com/v1";
    for (body, status, code) in [
        (json!({}), 400, "MISSING_REQUIRED_FIELD"),
        (json!({"base_url": url}), 400, "MISSING_REQUIRED_FIELD"),
        (json!({"base_url": "ftp://llm.example.com", "model": "m"}), 422, "INVALID_INPUT"),
        (json!({"base_url": "not a url", "model": "m"}), 422, "INVALID_INPUT"),
        (
            json!({"base_url": url, "model": "m", "headers": {"Bad Header": "x"}}),
            422,
            "INVALID_INPUT",
        ),
        (json!({"base_url": url, "model": "m", "headers": {"Host": "x"}}), 422, "INVALID_INPUT"),
        (json!({"base_url": url, "model": "m", "api_key": "a\nb"}), 422, "INVALID_INPUT"),
        (json!({"base_url": url, "model": 7}), 422, "INVALID_INPUT"),
        (
            json!({"base_url": url, "model": "m", "api_key": "k".repeat(5000)}),
            413,
            "CONTEXT_TOO_LARGE",
        ),
    ] {
        app.put("/ai/llm-settings", key, body.clone()).await.assert_error(status, code);
    }
    app.delete("/ai/llm-settings", key).await.assert_error(404, "RESOURCE_NOT_FOUND");
    let ro = read_only_key(&app, &ana).await;
    let body = json!({"base_url": url, "model": "m"});
    app.put("/ai/llm-settings", &ro, body.clone())
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    let project = app.create_project(key, "p").await;
    let narrow = project_key(&app, &ana, &project).await;
    app.get("/ai/llm-settings", &narrow).await.assert_error(403, "INSUFFICIENT_PERMISSIONS");
    // Someone else's settings are never shown: each user reads only their own.
    app.put("/ai/llm-settings", key, body).await.assert_status(200);
    let eve = app.register("eve").await;
    assert_eq!(
        app.get("/ai/llm-settings", &eve.api_key).await.assert_status(200)["source"],
        "none"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_agent_stops_calling_tools_at_the_step_limit() {
    let fake = FakeLlm::start().await;
    let app = with_model(&fake, None, &[("AGENT_MAX_STEPS", "1")]).await;
    let (ana, _) = team(&app, "ana").await;
    let again = || Reply::chunks(recorded::openai_tool_calls(&[("call_x", "list_projects", "{}")]));
    fake.push(again());
    fake.push(again());
    let answered = app.post("/chat", Some(&ana.api_key), json!({"message": "list, forever"})).await;
    let answered = answered.assert_status(200);
    assert_eq!(answered["tool_calls"].as_array().unwrap().len(), 1, "one round only");
    assert_eq!(answered["message"]["finish_reason"], "max_steps");
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[0]["tools"].as_array().is_some_and(|t| !t.is_empty()));
    assert!(
        requests[1].get("tools").is_none_or(|t| t.as_array().unwrap().is_empty()),
        "the last step offers none"
    );

    // A model that fails after calling a tool: the calls stay on record with the error.
    fake.push(again());
    for _ in 0..4 {
        fake.push(Reply::Status(500, json!({"error": {"message": "overloaded"}})));
    }
    let failed = app.post("/chat", Some(&ana.api_key), json!({"message": "list, then fail"})).await;
    let failed = failed.assert_status(200);
    assert_eq!(failed["message"]["status"], "error", "{failed}");
    assert_eq!(failed["message"]["mode"], "llm");
    assert_eq!(failed["tool_calls"].as_array().unwrap().len(), 1, "{failed}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_failing_model_is_answered_for_extractively_with_the_reason() {
    let fake = FakeLlm::start().await;
    let app = with_model(&fake, None, &[("LLM_TIMEOUT_SECS", "1")]).await;
    let (ana, project) = team(&app, "ana").await;
    let key = &ana.api_key;
    let question = json!({"question": "When do we deploy?"});

    fake.push(Reply::Status(401, json!({"error": {"message": "Incorrect API key provided"}})));
    let refused = app.post("/ai/qa", Some(key), question.clone()).await;
    let refused = refused.assert_status(200);
    assert_eq!(refused["mode"], "extractive");
    assert_eq!(refused["llm"], fake_llm::MODEL);
    let reason = refused["fallback_reason"].as_str().unwrap();
    assert!(
        reason.contains("refused the credentials") && reason.contains("Incorrect API key"),
        "{reason}"
    );
    assert!(refused["answer"].as_str().unwrap().contains("Tuesdays"));

    fake.push(Reply::Hang);
    let slow = app.post("/ai/summarize", Some(key), json!({"text": DEPLOYS})).await;
    let slow = slow.assert_status(200);
    assert_eq!(slow["mode"], "extractive");
    let reason = slow["fallback_reason"].as_str().unwrap();
    assert!(reason.starts_with("the language model did not answer"), "{reason}");

    // Failing before any text: the extractive answer follows a `fallback` event.
    fake.push(Reply::chunks(recorded::error_mid_stream(&[])));
    let (_, events) =
        stream(&app, key, json!({"message": "When do we deploy?", "project_id": project})).await;
    assert_eq!(kinds(&events), ["start", "sources", "fallback", "delta", "completed", "done"]);
    assert!(events[2].json()["reason"].as_str().unwrap().contains("the model crashed"));
    assert_eq!(events[4].json()["mode"], "extractive");
    assert!(events[4].json()["error"].as_str().unwrap().contains("the model crashed"));

    // Failing after some text: what was written is kept, marked as an error.
    fake.push(Reply::chunks(recorded::error_mid_stream(&["Deploys are on "])));
    let session = events.last().unwrap().data.clone();
    let (_, events) = stream(&app, key, json!({"message": "Again?", "session_id": session})).await;
    assert_eq!(kinds(&events), ["start", "sources", "delta", "error", "completed", "done"]);
    assert_eq!(events[3].json()["code"], "LLM_ERROR");
    let stored = events[4].json();
    assert_eq!(
        (stored["status"].as_str(), stored["content"].as_str()),
        (Some("error"), Some("Deploys are on "))
    );
    app.shutdown().await;
}

/// Starts a turn the fake model answers without end (a chunk every 20 ms, after "Deploys ").
async fn endless_turn(
    app: &TestApp,
    fake: &FakeLlm,
    key: &str,
    project: &str,
) -> reqwest::Response {
    let chunks = recorded::openai_text(&["Deploys "], 1, 1)[..2].to_vec();
    fake.push(Reply::Endless { chunks, delay: Duration::from_millis(20) });
    app.client
        .post(app.url("/ai/chat/stream"))
        .bearer_auth(key)
        .json(&json!({"message": "Tell me everything about deploys", "project_id": project}))
        .send()
        .await
        .unwrap()
}

/// Waits until the fake counts `n` streams whose client left.
async fn until_abandoned(fake: &FakeLlm, n: usize) {
    for _ in 0..250 {
        if fake.abandoned() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fake.abandoned(), n, "the model's stream was closed");
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_stops_the_model() {
    let fake = FakeLlm::start().await;
    // No grace: the turn stops as soon as its only watcher leaves.
    let app = with_model(&fake, None, &[("CHAT_RESUME_GRACE_SECS", "0")]).await;
    let (ana, project) = team(&app, "ana").await;
    let mut body = endless_turn(&app, &fake, &ana.api_key, &project).await.bytes_stream();
    let mut text = String::new();
    let seen =
        read_until(&mut body, &mut text, |e| e.iter().filter(|e| e.event == "delta").count() >= 3)
            .await;
    let session = seen[0].json()["session_id"].as_str().unwrap().to_string();
    drop(body);

    until_abandoned(&fake, 1).await;
    assert_eq!(fake.finished(), 0);
    // What was written before the client left is stored as cancelled.
    let mut answer = Value::Null;
    for _ in 0..100 {
        let messages = app.get(&format!("/ai/sessions/{session}/messages"), &ana.api_key).await;
        answer = messages.assert_status(200)["items"][0].clone();
        if answer["role"] == "assistant" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(answer["status"], "cancelled", "{answer}");
    assert_eq!(answer["finish_reason"], "cancelled");
    assert!(answer["content"].as_str().unwrap().starts_with("Deploys word2 "), "{answer}");
    app.shutdown().await;
}

#[tokio::test]
async fn every_ai_route_refuses_bad_requests_and_strangers() {
    let app = TestApp::with_env(&[("MAX_BODY_BYTES", "4096")]).await;
    let (ana, project) = team(&app, "ana").await;
    let eve = app.register("eve").await;
    let chatted = app
        .post("/ai/chat", Some(&ana.api_key), json!({"message": "deploys?", "project_id": project}))
        .await;
    let session = chatted.assert_status(200)["session_id"].as_str().unwrap().to_string();
    let unknown = "01a20000-0000-7000-8000-000000000000";

    // No credential.
    for (method, path) in [
        ("POST", "/ai/sessions"),
        ("GET", "/ai/sessions"),
        ("GET", &format!("/ai/sessions/{session}/messages") as &str),
        ("DELETE", &format!("/ai/sessions/{session}")),
        ("POST", "/ai/chat"),
        ("POST", "/ai/chat/stream"),
        ("POST", "/chat"),
        ("POST", "/ai/qa"),
        ("POST", "/ai/summarize"),
        ("POST", "/ai/mindmap"),
    ] {
        let r = app.send(method.parse().unwrap(), path, None, Some(json!({}))).await;
        r.assert_error(401, "INVALID_CREDENTIALS");
    }

    // Someone else's session, an unknown one, a malformed id: the same 404.
    for id in [session.as_str(), unknown, "not-a-uuid"] {
        app.get(&format!("/ai/sessions/{id}/messages"), &eve.api_key)
            .await
            .assert_error(404, "RESOURCE_NOT_FOUND");
        app.delete(&format!("/ai/sessions/{id}"), &eve.api_key)
            .await
            .assert_error(404, "RESOURCE_NOT_FOUND");
    }
    let turn = json!({"message": "what did ana ask?", "session_id": session});
    app.post("/ai/chat", Some(&eve.api_key), turn.clone())
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    let (status, _) = stream(&app, &eve.api_key, turn).await;
    assert_eq!(status, 404);
    for id in [session.as_str(), unknown, "not-a-uuid"] {
        let turn = json!({"message": "what did ana ask?", "conversation_id": id});
        let r = app.post("/chat", Some(&eve.api_key), turn).await;
        if id == "not-a-uuid" {
            r.assert_error(422, "INVALID_INPUT");
        } else {
            r.assert_error(404, "RESOURCE_NOT_FOUND");
        }
    }
    assert!(
        app.get("/ai/sessions", &eve.api_key).await.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Someone else's project.
    app.post("/ai/sessions", Some(&eve.api_key), json!({"project_id": project}))
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");
    app.post("/ai/chat", Some(&eve.api_key), json!({"message": "hi", "project_id": project}))
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");
    app.post(
        "/ai/qa",
        Some(&eve.api_key),
        json!({"question": "deploys?", "project_ids": [project]}),
    )
    .await
    .assert_error(404, "PROJECT_NOT_FOUND");
    let ctx = app
        .post("/context/search", Some(&ana.api_key), json!({"query": "deploys", "limit": 1}))
        .await;
    let ctx = ctx.assert_status(200)["results"][0]["id"].clone();
    app.post("/ai/mindmap", Some(&eve.api_key), json!({"project_id": project}))
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");
    app.post("/ai/summarize", Some(&eve.api_key), json!({"context_ids": [ctx]}))
        .await
        .assert_error(404, "CONTEXT_NOT_FOUND");
    app.post("/ai/summarize", Some(&ana.api_key), json!({"context_ids": [unknown]}))
        .await
        .assert_error(404, "CONTEXT_NOT_FOUND");

    // Malformed, missing, empty, out of range, oversized.
    let key = &ana.api_key;
    app.post_text("/ai/qa", key, "{\"question\":").await.assert_error(400, "INVALID_INPUT");
    app.post("/ai/qa", Some(key), json!({})).await.assert_error(400, "MISSING_REQUIRED_FIELD");
    app.post("/ai/qa", Some(key), json!({"question": "  "}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post("/ai/qa", Some(key), json!({"question": "x", "top_k": 0}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post("/ai/qa", Some(key), json!({"question": "x", "top_k": 21}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post("/ai/chat", Some(key), json!({})).await.assert_error(400, "MISSING_REQUIRED_FIELD");
    app.post("/ai/chat", Some(key), json!({"message": 7})).await.assert_error(422, "INVALID_INPUT");
    app.post("/chat", Some(key), json!({})).await.assert_error(400, "MISSING_REQUIRED_FIELD");
    app.post("/chat", Some(key), json!({"message": ["a"]}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post("/ai/summarize", Some(key), json!({}))
        .await
        .assert_error(400, "MISSING_REQUIRED_FIELD");
    app.post("/ai/summarize", Some(key), json!({"text": "a b c", "style": "haiku"}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post("/ai/summarize", Some(key), json!({"text": "a", "context_ids": [ctx]}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post("/ai/summarize", Some(key), json!({"context_ids": []}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post("/ai/mindmap", Some(key), json!({})).await.assert_error(400, "MISSING_REQUIRED_FIELD");
    for depth in [0, 6] {
        let body = json!({"project_id": project, "depth": depth});
        app.post("/ai/mindmap", Some(key), body).await.assert_error(422, "INVALID_INPUT");
    }
    let body = json!({"project_id": project, "use_documents": false});
    app.post("/ai/mindmap", Some(key), body).await.assert_error(422, "INVALID_INPUT");
    app.post("/ai/sessions", Some(key), json!({"title": "t".repeat(201)}))
        .await
        .assert_error(422, "INVALID_INPUT");
    let big = "word ".repeat(1000);
    app.post("/ai/chat", Some(key), json!({"message": big}))
        .await
        .assert_error(413, "CONTEXT_TOO_LARGE");
    let (status, _) = stream(&app, key, json!({"message": big})).await;
    assert_eq!(status, 413);
    app.post("/chat", Some(key), json!({"message": big}))
        .await
        .assert_error(413, "CONTEXT_TOO_LARGE");
    let count = app.get(&format!("/ai/sessions/{session}/messages"), key).await;
    assert_eq!(
        count.assert_status(200)["items"].as_array().unwrap().len(),
        2,
        "nothing half-written"
    );

    // A key restricted to another project sees neither the session nor its messages.
    let other = app.create_project(key, "elsewhere").await;
    let narrow = project_key(&app, &ana, &other).await;
    assert!(
        app.get("/ai/sessions", &narrow).await.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.get(&format!("/ai/sessions/{session}/messages"), &narrow)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    let own = app.post("/ai/sessions", Some(&narrow), json!({})).await;
    assert_eq!(own.assert_status(201)["project_id"], other.as_str(), "bound to the key's project");

    // A contributor who is removed loses the sessions about the project at once.
    let (bob, _) = team(&app, "bob").await;
    app.add_contributor(&ana.access_token, &project, &bob).await;
    let bobs = app.post("/ai/sessions", Some(&bob.api_key), json!({"project_id": project})).await;
    let bobs = bobs.assert_status(201)["session_id"].as_str().unwrap().to_string();
    app.delete(&format!("/projects/{project}/contributors/{}", bob.id), &ana.access_token)
        .await
        .assert_status(204);
    app.get(&format!("/ai/sessions/{bobs}/messages"), &bob.api_key)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    app.shutdown().await;
}

#[tokio::test]
async fn mcp_tools_ask_and_summarize() {
    let app = TestApp::with_model(&[]).await;
    let (ana, project) = team(&app, "ana").await;
    let ids = context_ids(&app, &ana.api_key, &project).await;
    let out = python(http_plan(
        &app,
        &ana.api_key,
        "claude-code",
        json!([
            call(
                "ask_question",
                json!({"question": "Who carries the pager?", "project_id": project})
            ),
            call("summarize_context", json!({"context_ids": ids, "style": "bullet"})),
            call("ask_question", json!({})),
            call("summarize_context", json!({"context_ids": ["nope"]})),
        ]),
    ))
    .await;
    let results = out["results"].as_array().unwrap();
    for r in &results[..2] {
        assert_eq!(r["isError"], false, "{r}");
    }
    let answer = &results[0]["structuredContent"];
    assert_eq!(answer["mode"], "extractive", "{out}");
    assert!(answer["answer"].as_str().unwrap().contains("on-call engineer"), "{answer}");
    let summary = &results[1]["structuredContent"];
    assert!(summary["summary"].as_str().unwrap().starts_with("- "), "{summary}");
    assert_eq!(summary["sources"].as_array().unwrap().len(), 3);
    for (r, code) in [(&results[2], "MISSING_REQUIRED_FIELD"), (&results[3], "CONTEXT_NOT_FOUND")] {
        assert_eq!(r["isError"], true, "{r}");
        assert!(r["content"][0]["text"].as_str().unwrap().contains(code), "{r}");
    }
    app.shutdown().await;
}

/// The real small model's files: `TEAMCONTEXT_TEST_LLM_DIR` (set by `make test`) or the
/// repository's `.llm-cache` (filled by `make llm`).
fn llm_dir() -> std::path::PathBuf {
    match std::env::var_os("TEAMCONTEXT_TEST_LLM_DIR") {
        Some(dir) => dir.into(),
        None => {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.llm-cache/smollm2")
        }
    }
}

/// SmolLM2-135M-Instruct served by llama.cpp (node-llama-cpp) behind the OpenAI-compatible shim
/// of tests/llm_server: the stream's shape through the whole server, never its words.
#[tokio::test]
async fn a_real_small_model_answers_through_the_whole_server() {
    let model = llm_dir().join("model.gguf");
    assert!(model.exists(), "{} is missing: run `make llm`", model.display());
    let shim = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/llm_server");
    let node = std::process::Command::new("node")
        .arg(shim.join("server.mjs"))
        .arg(&model)
        .current_dir(&shim)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs the model server");
    let mut node = KillOnDrop(node);
    let stdout = node.0.stdout.take().expect("stdout");
    let port = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if let Some(port) = line.expect("a line").strip_prefix("listening ") {
                return port.to_string();
            }
        }
        panic!("the model server ended before listening");
    });
    let port = tokio::time::timeout(Duration::from_secs(60), port)
        .await
        .expect("the model loads within a minute")
        .expect("the reader");
    let base = format!("http://127.0.0.1:{port}/v1");
    let app = TestApp::with_env(&[
        ("LLM_BASE_URL", base.as_str()),
        ("LLM_MODEL", "smollm2-135m-instruct"),
        ("LLM_MAX_TOKENS", "48"),
    ])
    .await;
    let (ana, project) = team(&app, "ana").await;

    let (status, events) =
        stream(&app, &ana.api_key, json!({"message": "When do we deploy?", "project_id": project}))
            .await;
    assert_eq!(status, 200);
    let kinds = kinds(&events);
    assert_eq!(&kinds[..2], ["start", "sources"], "{kinds:?}");
    assert_eq!(&kinds[kinds.len() - 2..], ["completed", "done"], "{kinds:?}");
    assert!(kinds.contains(&"delta") && kinds.contains(&"usage"), "{kinds:?}");
    assert!(!kinds.contains(&"fallback") && !kinds.contains(&"error"), "{kinds:?}");
    assert_eq!(events[0].json()["mode"], "llm");
    let text: String = events
        .iter()
        .filter(|e| e.event == "delta")
        .map(|e| e.json()["text"].as_str().unwrap().to_string())
        .collect();
    let stored = events[events.len() - 2].json();
    assert_eq!(stored["status"], "complete");
    assert_eq!(stored["model"], "smollm2-135m-instruct");
    assert!(!text.trim().is_empty());
    assert!(stored["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    let qa =
        app.post("/ai/qa", Some(&ana.api_key), json!({"question": "Who gets escalations?"})).await;
    let qa = qa.assert_status(200);
    assert_eq!(qa["mode"], "llm", "{qa}");
    assert!(!qa["answer"].as_str().unwrap().trim().is_empty());
    app.shutdown().await;
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads Server-Sent Events from `body` until `until` holds for the events so far.
async fn read_until(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin),
    text: &mut String,
    until: impl Fn(&[Sse]) -> bool,
) -> Vec<Sse> {
    loop {
        // Only whole events: the text up to the last blank line.
        let whole = text.rfind("\n\n").map_or("", |end| &text[..end]);
        let events = parse_sse(whole);
        if until(&events) {
            return events;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream goes on")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn a_turn_resumes_after_a_reconnect_and_stops_when_asked() {
    let fake = FakeLlm::start().await;
    let app = with_model(&fake, None, &[("CHAT_RESUME_GRACE_SECS", "30")]).await;
    let (ana, project) = team(&app, "ana").await;
    let eve = app.register("eve").await;
    let mut body = endless_turn(&app, &fake, &ana.api_key, &project).await.bytes_stream();
    let mut text = String::new();
    let first =
        read_until(&mut body, &mut text, |e| e.iter().filter(|e| e.event == "delta").count() >= 3)
            .await;
    let start = first[0].json();
    let (session, run) = (
        start["session_id"].as_str().unwrap().to_string(),
        start["run_id"].as_str().unwrap().to_string(),
    );
    let last: u64 = first.last().unwrap().id.parse().unwrap();
    drop(body);

    // Reconnected with the last id seen: the next event is the one after it, and the model
    // kept going meanwhile (no watcher for less than the grace period).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events_url = app.url(&format!("/ai/sessions/{session}/runs/{run}/events"));
    let resumed = app
        .client
        .get(&events_url)
        .bearer_auth(&ana.api_key)
        .header("last-event-id", last.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    assert_eq!(resumed.headers()["content-type"], "text/event-stream");
    let mut body = resumed.bytes_stream();
    let mut text = String::new();
    let more = read_until(&mut body, &mut text, |e| e.len() >= 3).await;
    assert_eq!(more[0].id.parse::<u64>().unwrap(), last + 1, "nothing lost, nothing twice");
    assert!(more.iter().all(|e| e.event == "delta"));
    assert_eq!(fake.abandoned(), 0, "the model was not stopped while the client was away");

    // A stranger can neither watch nor stop it; an unknown run is 404 too.
    let stranger = app.client.get(&events_url).bearer_auth(&eve.api_key).send().await.unwrap();
    assert_eq!(stranger.status(), 404);
    let stop_url = format!("/ai/sessions/{session}/runs/{run}/stop");
    app.post(&stop_url, Some(&eve.api_key), json!({}))
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    let unknown = format!("/ai/sessions/{session}/runs/01a20000-0000-7000-8000-000000000000/stop");
    app.post(&unknown, Some(&ana.api_key), json!({})).await.assert_error(404, "RESOURCE_NOT_FOUND");

    // Stopped: the watcher gets the stored message (cancelled) and done; the model's request
    // is closed.
    app.post(&stop_url, Some(&ana.api_key), json!({})).await.assert_status(204);
    let end =
        read_until(&mut body, &mut text, |e| e.last().is_some_and(|e| e.event == "done")).await;
    let completed = end.iter().find(|e| e.event == "completed").expect("completed").json();
    assert_eq!(completed["status"], "cancelled");
    assert_eq!(completed["id"], run.as_str(), "the run's id is its message's");
    assert!(completed["content"].as_str().unwrap().starts_with("Deploys word2 "));
    until_abandoned(&fake, 1).await;

    // Over: nothing after the last event (204); from the start, the whole run again.
    let last: u64 = end.last().unwrap().id.parse().unwrap();
    let after_end = app
        .client
        .get(&events_url)
        .bearer_auth(&ana.api_key)
        .header("last-event-id", last.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(after_end.status(), 204);
    let replay = app
        .client
        .get(format!("{events_url}?after=0"))
        .bearer_auth(&ana.api_key)
        .send()
        .await
        .unwrap();
    let replay = parse_sse(&replay.text().await.unwrap());
    assert_eq!(replay.len() as u64, last);
    assert_eq!(replay[0].event, "start");
    app.shutdown().await;
}

/// How many contexts a project holds.
async fn contexts(app: &TestApp, key: &str, project: &str) -> usize {
    let listed = app.get(&format!("/projects/{project}/context?limit=100"), key).await;
    listed.assert_status(200)["items"].as_array().unwrap().len()
}

/// Polls an upload's task until it is final.
async fn upload_finished(app: &TestApp, key: &str, task: &str) -> Value {
    app.until_final(key, &format!("/ai/upload/status/{task}")).await
}

async fn send_form(
    app: &TestApp,
    key: Option<&str>,
    form: reqwest::multipart::Form,
) -> support::Resp {
    let mut req = app.client.post(app.url("/ai/upload")).multipart(form);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    TestApp::read(req.send().await.unwrap()).await
}

#[tokio::test]
async fn uploaded_documents_become_searchable_context() {
    use reqwest::multipart::{Form, Part};
    let app = TestApp::with_env(&[("SCAN_MAX_UPLOAD_BYTES", "200000")]).await;
    let ana = app.register("ana").await;
    let eve = app.register("eve").await;
    let project = app.create_project(&ana.api_key, "handbook").await;
    let key = &ana.api_key;
    let doc =
        |name: &str, text: &str| Part::bytes(text.as_bytes().to_vec()).file_name(name.to_string());
    let form = || {
        Form::new()
            .text("project_id", project.clone())
            .part(
                "file",
                doc("deploys.md", "# Deploys\n\nProduction deploys happen on Tuesdays.\n"),
            )
            .part(
                "file",
                doc(
                    "team/hooks.html",
                    "<h1>Webhooks</h1><p>Rotate the <b>signing secret</b> every year.</p>",
                ),
            )
            .part("file", doc("oncall.txt", "The pager rotates every Monday."))
    };
    let accepted = send_form(&app, Some(key), form()).await;
    let accepted = accepted.assert_status(202).clone();
    let task = accepted["task_id"].as_str().unwrap().to_string();
    assert_eq!(accepted["status_url"], format!("/api/v1/ai/upload/status/{task}"));
    let docs = accepted["documents"].as_array().unwrap();
    let read: Vec<(&str, &str)> =
        docs.iter().map(|d| (d["kind"].as_str().unwrap(), d["path"].as_str().unwrap())).collect();
    assert_eq!(
        read,
        [
            ("markdown", "documents/deploys.md"),
            ("html", "documents/hooks.html.md"),
            ("text", "documents/oncall.txt.md")
        ],
        "folders a client sent are dropped"
    );
    let done = upload_finished(&app, key, &task).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let found = app
        .post("/context/search", Some(key), json!({"query": "signing secret", "mode": "keyword"}))
        .await;
    let found = found.assert_status(200);
    let hit = &found["results"][0];
    assert_eq!(hit["metadata"]["file_path"], "documents/hooks.html.md", "{found}");
    assert!(hit["content"].as_str().unwrap().contains("**signing secret**"), "HTML as Markdown");
    let indexed = contexts(&app, key, &project).await;
    assert!(indexed >= 3);
    assert_eq!(hit["metadata"]["source"], "document_upload", "{hit}");

    let uploaded =
        app.get(&format!("/projects/{project}/context?source=document_upload"), key).await;
    assert_eq!(uploaded.assert_status(200)["items"].as_array().unwrap().len(), indexed);

    // A full scan of the codebase (an archive) leaves the documents alone.
    let code = support::archives::tar_gz(&[("app.py", b"def main():\n    return 1\n")], &[]);
    let code = support::archives::archive_form("code.tar.gz", code, None);
    let scan = app.scan_archive(key, &project, code).await;
    assert_eq!(upload_finished(&app, key, &scan).await["status"], "succeeded");
    assert_eq!(contexts(&app, key, &project).await, indexed + 1, "the documents are still there");

    // Uploading the same files again updates them in place.
    let again = send_form(&app, Some(key), form()).await;
    let again = again.assert_status(202)["task_id"].as_str().unwrap().to_string();
    assert_eq!(upload_finished(&app, key, &again).await["status"], "succeeded");
    assert_eq!(contexts(&app, key, &project).await, indexed + 1);

    // Refused, with nothing stored: no credential, not a form, no project, a stranger's
    // project, an unknown or malformed project, no file, an unsupported or broken file, too
    // many files, too many bytes.
    send_form(&app, None, form()).await.assert_error(401, "INVALID_CREDENTIALS");
    app.post("/ai/upload", Some(key), json!({"project_id": project}))
        .await
        .assert_error(400, "INVALID_INPUT");
    let no_project = Form::new().part("file", doc("a.md", "# A"));
    send_form(&app, Some(key), no_project).await.assert_error(400, "MISSING_REQUIRED_FIELD");
    for id in [project.as_str(), "01a20000-0000-7000-8000-000000000000", "not-a-uuid"] {
        let form = Form::new().text("project_id", id.to_string()).part("file", doc("a.md", "# A"));
        send_form(&app, Some(&eve.api_key), form).await.assert_error(404, "PROJECT_NOT_FOUND");
    }
    let none = Form::new().text("project_id", project.clone());
    send_form(&app, Some(key), none).await.assert_error(400, "MISSING_REQUIRED_FIELD");
    let refused = |name: &str, bytes: &[u8]| {
        Form::new()
            .text("project_id", project.clone())
            .part("file", doc("fine.md", "# Fine\n\nThis one is fine."))
            .part("file", Part::bytes(bytes.to_vec()).file_name(name.to_string()))
    };
    let png = send_form(&app, Some(key), refused("photo.png", b"\x89PNG\r\n")).await;
    png.assert_error(422, "INVALID_INPUT");
    assert!(png.body["error"]["message"].as_str().unwrap().contains("photo.png: unsupported"));
    let pdf = send_form(&app, Some(key), refused("scan.pdf", b"%PDF-1.4 broken")).await;
    pdf.assert_error(422, "INVALID_INPUT");
    assert!(pdf.body["error"]["message"].as_str().unwrap().contains("scan.pdf: not a valid pdf"));
    send_form(&app, Some(key), refused("empty.txt", b"   "))
        .await
        .assert_error(422, "INVALID_INPUT");
    let mut many = Form::new().text("project_id", project.clone());
    for i in 0..21 {
        many = many.part("file", doc(&format!("n{i}.md"), "# N"));
    }
    send_form(&app, Some(key), many).await.assert_error(422, "INVALID_INPUT");
    let big = Form::new()
        .text("project_id", project.clone())
        .part("file", doc("big.txt", &"word ".repeat(50_000)));
    send_form(&app, Some(key), big).await.assert_error(413, "CONTEXT_TOO_LARGE");
    assert_eq!(contexts(&app, key, &project).await, indexed + 1, "nothing half-written");

    // Someone else's task, an unknown one, a malformed id.
    for id in [task.as_str(), "01a20000-0000-7000-8000-000000000000", "not-a-uuid"] {
        app.get(&format!("/ai/upload/status/{id}"), &eve.api_key)
            .await
            .assert_error(404, "RESOURCE_NOT_FOUND");
    }
    app.shutdown().await;
}
