//! Operations: `/metrics` parsed by the Prometheus client library's own text-format parser and
//! moving as requests are made, the optional metrics token, and `/health` components.

mod support;

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};
use support::TestApp;

/// Fetches `/metrics` (with `token` if given) and parses it with `prometheus_client`.
async fn scrape(app: &TestApp, token: Option<&str>) -> Value {
    let mut req = app.client.get(app.url("/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = resp.text().await.unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &text).unwrap();
    let clients = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_clients");
    let python = clients.join("venv/bin/python");
    assert!(python.exists(), "run scripts/fetch-mcp-clients.sh (make test does)");
    let out = std::process::Command::new(python)
        .arg(clients.join("parse_metrics.py"))
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of the sample `name` whose labels include all of `labels` (0 when absent).
fn sample(parsed: &Value, name: &str, labels: &[(&str, &str)]) -> f64 {
    parsed["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == name)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .map(|s| s["value"].as_f64().unwrap())
        .sum()
}

#[tokio::test]
async fn metrics_parse_and_move_with_requests() {
    // Rate limits on, so that a rejection can be counted.
    let app = TestApp::with_env(&[("RATE_LIMIT_SEARCH_PER_MIN", "2")]).await;
    let user = app.register("metrics").await;
    let project = app.create_project(&user.api_key, "observed").await;
    let save =
        json!({"content": "Metrics are scraped every fifteen seconds.", "project_id": project});
    app.post("/context/save", Some(&user.api_key), save).await.assert_status(201);

    let before = scrape(&app, None).await;
    let route = [("route", "/api/v1/context/{id}"), ("method", "GET"), ("status", "404")];
    let missing = format!("/context/{}", uuid::Uuid::now_v7());
    for _ in 0..3 {
        app.get(&missing, &user.api_key).await.assert_error(404, "CONTEXT_NOT_FOUND");
    }
    let search = json!({"query": "how often are metrics scraped?", "mode": "vector"});
    for _ in 0..2 {
        app.post("/context/search", Some(&user.api_key), search.clone()).await.assert_status(200);
    }
    app.post("/context/search", Some(&user.api_key), search.clone())
        .await
        .assert_error(429, "RATE_LIMIT_EXCEEDED");
    app.get("/no/such/route", &user.api_key).await.assert_status(404);
    let after = scrape(&app, None).await;

    let types = &after["types"];
    assert_eq!(types["teamcontext_http_requests"], "counter");
    assert_eq!(types["teamcontext_http_request_duration_seconds"], "histogram");
    assert_eq!(types["teamcontext_search_duration_seconds"], "histogram");
    assert_eq!(types["teamcontext_embedding_duration_seconds"], "histogram");
    assert_eq!(types["teamcontext_db_connections"], "gauge");
    assert_eq!(types["teamcontext_jobs"], "gauge");
    assert!(
        after["samples"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "teamcontext_jobs" && s["labels"]["status"] == "queued")
    );

    let delta = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    // Other tests in this binary run servers in the same process and share the recorder, so
    // the checks are on increases, never on absolute values.
    assert!(delta("teamcontext_http_requests_total", &route) >= 3.0);
    assert!(delta("teamcontext_http_request_duration_seconds_count", &route) >= 3.0);
    assert!(
        sample(&after, "teamcontext_http_request_duration_seconds_bucket", &[("le", "+Inf")])
            >= sample(&after, "teamcontext_http_request_duration_seconds_count", &[])
    );
    assert!(delta("teamcontext_search_duration_seconds_count", &[("mode", "vector")]) >= 2.0);
    assert!(delta("teamcontext_embedding_duration_seconds_count", &[("outcome", "ok")]) >= 2.0);
    assert!(delta("teamcontext_rate_limited_total", &[("limit", "search")]) >= 1.0);
    assert!(delta("teamcontext_http_requests_total", &[("route", "unmatched")]) >= 1.0);
    let routes: Vec<&str> = after["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["labels"]["route"].as_str())
        .collect();
    assert!(!routes.iter().any(|r| r.starts_with("/no/")), "raw paths never become labels");
    assert!(sample(&after, "teamcontext_db_connections", &[("state", "idle")]) >= 1.0);
    assert_eq!(
        sample(&after, "teamcontext_build_info", &[("version", env!("CARGO_PKG_VERSION"))]),
        1.0
    );
    assert!(sample(&after, "teamcontext_uptime_seconds", &[]) > 0.0);
}

#[tokio::test]
async fn a_metrics_token_guards_the_endpoint() {
    let app = TestApp::with_env(&[("METRICS_TOKEN", "scrape-secret")]).await;
    let r = app.send(Method::GET, "/metrics", None, None).await;
    r.assert_error(401, "INVALID_CREDENTIALS");
    let r = app.send(Method::GET, "/metrics", Some("wrong-secret"), None).await;
    r.assert_error(401, "INVALID_CREDENTIALS");
    let parsed = scrape(&app, Some("scrape-secret")).await;
    assert!(sample(&parsed, "teamcontext_uptime_seconds", &[]) > 0.0);
}

#[tokio::test]
async fn health_reports_each_component() {
    let app = TestApp::new().await;
    let r = app.send(Method::GET, "/health", None, None).await;
    let b = r.assert_status(200).clone();
    assert_eq!(b["status"], "healthy");
    let components = &b["components"];
    for name in ["database", "embedder", "write_queue", "job_queue"] {
        assert_eq!(components[name]["status"], "healthy", "{name}: {b}");
    }
    assert!(components["embedder"]["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(components["write_queue"]["depth"].as_u64().is_some());
    assert_eq!(components["job_queue"]["queued"], 0);
    assert_eq!(components["job_queue"]["workers"], 1);
    // The embedder probe is reused within 30 s: the second answer repeats its latency.
    let again = app.send(Method::GET, "/health", None, None).await;
    assert_eq!(again.body["components"]["embedder"], components["embedder"]);
}

/// An OpenAI-compatible embedding endpoint that is down: health answers 503 naming the
/// embedder (the database is fine), and a save answers `EMBEDDING_GENERATION_FAILED` without the
/// cause, which goes to the log.
#[tokio::test]
async fn an_embedder_that_is_down_makes_health_503_and_search_degrade() {
    // Nothing listens on the discard port of the loopback address.
    let env = [
        ("EMBEDDING_PROVIDER", "openai"),
        ("EMBEDDING_BASE_URL", "http://127.0.0.1:9/v1"),
        ("EMBEDDING_MODEL", "nomic-embed-text"),
        ("EMBEDDING_DIMENSION", "384"),
    ];
    let app = TestApp::with_embedder(&env, |config| {
        teamcontext::load_embedder(config).expect("the client is built without a call")
    })
    .await;
    let r = app.send(Method::GET, "/health", None, None).await;
    let b = r.assert_status(503).clone();
    assert_eq!(b["status"], "degraded");
    assert_eq!(b["components"]["embedder"]["status"], "degraded", "{b}");
    assert_eq!(b["components"]["database"]["status"], "healthy", "{b}");

    // The save is kept and said to be degraded; nothing of the cause reaches the client.
    let user = app.register("ada").await;
    let project = app.create_project(&user.api_key, "notes").await;
    let body = json!({"content": "We chose PostgreSQL for billing.", "project_id": project});
    let r = app.post("/context/save", Some(&user.api_key), body).await;
    let saved = r.assert_status(201).clone();
    assert_eq!(saved["degraded"], "embedder_unavailable");
    assert!(!saved.to_string().contains("127.0.0.1"), "the cause stays out of the answer");
    let listed = app.get(&format!("/projects/{project}/context"), &user.api_key).await;
    assert_eq!(listed.assert_status(200)["items"][0]["id"], saved["id"]);

    // Search answers from keywords, says so, and is counted.
    let body = json!({"query": "PostgreSQL billing", "mode": "vector"});
    let found = app.post("/context/search", Some(&user.api_key), body).await;
    let found = found.assert_status(200);
    assert_eq!(found["degraded"], "embedder_unavailable");
    assert_eq!(found["results"][0]["id"], saved["id"]);
    let parsed = scrape(&app, None).await;
    let degraded = sample(&parsed, "teamcontext_search_degraded_total", &[("mode", "vector")]);
    assert!(degraded >= 1.0, "{parsed}");

    // A scan stores its chunks anyway, says how many wait for their vectors, and keyword search
    // finds them at once (it used to fail and retry until its attempts ran out).
    let archive = support::archives::tar_gz(
        &[
            ("billing/ledger.py", b"def post_ledger_entry(account, cents):\n    return cents\n"),
            ("billing/refund.py", b"def refund_invoice(invoice):\n    return invoice.total\n"),
        ],
        &[],
    );
    let form = support::archives::archive_form("billing.tar.gz", archive, None);
    let job = app.scan_archive(&user.api_key, &project, form).await;
    let mut status = Value::Null;
    for _ in 0..300 {
        status = app.get(&format!("/jobs/{job}"), &user.api_key).await.assert_status(200).clone();
        if status["status"] != "queued" && status["status"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status["status"], "succeeded", "{status}");
    assert_eq!(status["result"]["files_indexed"], 2, "{status}");
    assert_eq!(status["result"]["chunks_deferred"], status["result"]["chunks"], "{status}");
    let body = json!({"query": "refund_invoice", "project_ids": [project], "mode": "hybrid"});
    let found = app.post("/context/search", Some(&user.api_key), body).await;
    let found = found.assert_status(200);
    assert_eq!(found["degraded"], "embedder_unavailable");
    assert!(found["results"][0]["content"].as_str().unwrap().contains("refund_invoice"), "{found}");
}

/// Hole 9 of the hardening issue: every method name a client invented became a new label value
/// of the request metrics. Unknown methods are counted together as `other`.
#[tokio::test]
async fn invented_methods_do_not_grow_the_metrics() {
    let app = TestApp::new().await;
    for i in 0..5 {
        let method = Method::from_bytes(format!("BOGUS{i}").as_bytes()).unwrap();
        let r = app.send(method, "/health", None, None).await;
        assert!(r.status.is_client_error(), "{}", r.status);
    }
    let parsed = scrape(&app, None).await;
    let methods: std::collections::BTreeSet<String> = parsed["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["labels"]["method"].as_str().map(str::to_string))
        .collect();
    assert!(methods.iter().all(|m| !m.starts_with("BOGUS")), "{methods:?}");
    assert!(methods.contains("other"), "{methods:?}");
}
