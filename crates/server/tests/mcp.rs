//! `/mcp` and `teamcontext mcp` driven by the official MCP clients: the Python SDK and the
//! TypeScript SDK over Streamable HTTP, the Python SDK over stdio through the proxy, and the
//! official conformance suite. The clients are installed by `scripts/fetch-mcp-clients.sh`
//! (`make test` runs it) beside their scripts in `tests/mcp_clients`.

mod support;

use std::sync::Arc;

use serde_json::{Value, json};
use support::mcp_clients::{call, clients_dir, http_plan, python, run, typescript};
use support::{TestApp, TestUser};
use tokio_util::sync::CancellationToken;

const WEBHOOKS: &str = "We decided to retry failed Stripe webhook deliveries with exponential backoff for up to three days, then alert the payments on-call.";
const DEPLOY: &str = "Deployments go out every weekday at 14:00 UTC through the blue-green pipeline; rollbacks are one click.";
const WEBHOOK_QUESTION: &str = "what happens when a Stripe webhook delivery fails?";

/// The structured result of a successful tool call.
#[track_caller]
fn ok(result: &Value) -> &Value {
    assert_eq!(result["isError"], false, "tool failed: {result}");
    &result["structuredContent"]
}

/// The error code of a failed tool call (its text is the REST error envelope).
#[track_caller]
fn error_code(result: &Value) -> String {
    assert_eq!(result["isError"], true, "tool succeeded: {result}");
    let text = result["content"][0]["text"].as_str().expect("text content");
    let envelope: Value = serde_json::from_str(text).expect("an error envelope");
    assert!(envelope["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    envelope["error"]["code"].as_str().expect("a code").to_string()
}

fn result_ids(search: &Value) -> Vec<&str> {
    search["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect()
}

async fn team(app: &TestApp) -> (TestUser, TestUser, TestUser, String) {
    let a = app.register("ann").await;
    let b = app.register("bob").await;
    let c = app.register("cid").await;
    let project = app.create_project(&a.access_token, "payments").await;
    app.add_contributor(&a.access_token, &project, &b).await;
    (a, b, c, project)
}

#[tokio::test]
async fn python_and_typescript_clients_share_memory_and_outsiders_see_nothing() {
    let app = TestApp::with_model(&[]).await;
    let (a, b, c, project) = team(&app).await;

    // Ann, through the Python SDK, introduced as Claude Code.
    let ann = python(http_plan(
        &app,
        &a.api_key,
        "claude-code",
        json!([{"op": "list_tools"}, call("save_to_context", json!({"content": WEBHOOKS, "project_id": project, "tags": ["decision"]}))]),
    ))
    .await;
    assert_eq!(ann["server"]["serverInfo"]["name"], "teamcontext");
    assert!(ann["server"]["instructions"].as_str().unwrap().contains("get_relevant_context"));
    let tools = ann["results"][0].as_array().unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "ask_question",
            "create_jira_story",
            "draft_jira_story",
            "get_context",
            "get_cost_savings",
            "get_relevant_context",
            "list_projects",
            "save_to_context",
            "scan_codebase",
            "summarize_context",
            "sync_confluence_to_context",
            "sync_jira_to_context",
            "todo_create",
            "todo_delete",
            "todo_list",
            "todo_read",
            "todo_update",
        ]
    );
    for tool in tools {
        assert!(tool["description"].as_str().unwrap().len() > 60, "{tool}");
        assert_eq!(tool["inputSchema"]["type"], "object");
        assert_eq!(tool["outputSchema"]["type"], "object", "{tool}");
        let text = tool.to_string();
        assert!(
            !text.contains(r#""format":"uint"#) && !text.contains(r#""format":"int"#),
            "{text}"
        );
    }
    let search_tool = tools.iter().find(|t| t["name"] == "get_relevant_context").unwrap();
    assert_eq!(search_tool["inputSchema"]["required"], json!(["query"]));
    let saved = ok(&ann["results"][1]);
    assert_eq!(saved["project_id"], project.as_str());
    assert_eq!(saved["project_selection"], "explicit");
    let webhook_id = saved["id"].as_str().unwrap().to_string();

    // Bob, a contributor, through the TypeScript SDK, introduced as Cursor.
    let bob = typescript(http_plan(
        &app,
        &b.api_key,
        "cursor-vscode",
        json!([
            call("get_relevant_context", json!({"query": WEBHOOK_QUESTION})),
            call("save_to_context", json!({"content": DEPLOY, "project_id": project})),
            call("get_context", json!({"id": webhook_id})),
            call("list_projects", json!({})),
        ]),
    ))
    .await;
    let found = ok(&bob["results"][0]);
    assert_eq!(result_ids(found)[0], webhook_id, "{found}");
    let best = &found["results"][0];
    assert_eq!(best["metadata"]["source"], "claude", "saved through Claude Code");
    assert_eq!(best["metadata"]["tags"], json!(["decision"]));
    assert!(best["similarity_score"].as_f64().unwrap() > 0.3);
    assert_eq!(
        found["relevant_projects"][0]["id"],
        project.as_str(),
        "two-level without a project"
    );
    let deploy_id = ok(&bob["results"][1])["id"].as_str().unwrap().to_string();
    assert_eq!(ok(&bob["results"][2])["content"], WEBHOOKS);
    let projects = ok(&bob["results"][3])["projects"].as_array().unwrap().clone();
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0]["role"], "contributor");
    let deploy = app.get(&format!("/context/{deploy_id}"), &a.api_key).await;
    assert_eq!(deploy.assert_status(200)["metadata"]["source"], "cursor");

    // What Bob's search saved, through the tool; REST's usage report counts it as Cursor's.
    app.services().flush_pending().await;
    let savings = python(http_plan(
        &app,
        &b.api_key,
        "cursor-vscode",
        json!([
            call("get_cost_savings", json!({"project_id": project})),
            call("get_cost_savings", json!({"days": 400})),
        ]),
    ))
    .await;
    let report = ok(&savings["results"][0]);
    assert_eq!(report["searches"], 1, "{report}");
    let found_tokens: i64 = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["token_count"].as_i64().unwrap())
        .sum();
    assert_eq!(report["total_tokens_saved"], found_tokens);
    assert_eq!(report["group_by"], "day");
    assert!(report["breakdown"].as_array().unwrap().len() >= 30);
    assert_eq!(ok(&savings["results"][1])["group_by"], "week");
    let usage = app.get("/analytics/usage", &b.api_key).await;
    assert_eq!(usage.assert_status(200)["sources_breakdown"], json!({"cursor": 2}));

    // Bob indexes a file through the tool; the scan runs as a job and is found by meaning.
    let code = "def refund(invoice):\n    \"\"\"Give the customer their money back for an invoice.\"\"\"\n    return stripe.Refund.create(charge=invoice.charge_id)\n";
    let scan = python(http_plan(
        &app,
        &b.api_key,
        "cursor-vscode",
        json!([call("scan_codebase", json!({"project_id": project, "files": [{"path": "billing/refunds.py", "content": code}]}))]),
    ))
    .await;
    let job = ok(&scan["results"][0])["job_id"].as_str().unwrap().to_string();
    let mut status = Value::Null;
    for _ in 0..300 {
        status = app.get(&format!("/projects/{project}/scan/status/{job}"), &b.api_key).await.body;
        if status["status"] == "succeeded" || status["status"] == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status["status"], "succeeded", "{status}");
    assert_eq!(status["result"]["files_indexed"], 1);

    // Cid, who belongs to neither, sees nothing and can write nothing there.
    let cid = python(http_plan(
        &app,
        &c.api_key,
        "claude-ai",
        json!([
            call("get_relevant_context", json!({"query": WEBHOOK_QUESTION})),
            call("get_relevant_context", json!({"query": WEBHOOK_QUESTION, "project_id": project})),
            call("get_context", json!({"id": webhook_id})),
            call("save_to_context", json!({"content": "sneaky", "project_id": project})),
            call("list_projects", json!({})),
            call("get_cost_savings", json!({"project_id": project})),
        ]),
    ))
    .await;
    assert_eq!(error_code(&cid["results"][5]), "PROJECT_NOT_FOUND");
    assert_eq!(ok(&cid["results"][0])["results"], json!([]));
    assert_eq!(error_code(&cid["results"][1]), "PROJECT_NOT_FOUND");
    assert_eq!(error_code(&cid["results"][2]), "CONTEXT_NOT_FOUND");
    assert_eq!(error_code(&cid["results"][3]), "PROJECT_NOT_FOUND");
    assert_eq!(ok(&cid["results"][4])["projects"], json!([]));
    app.shutdown().await;
}

#[tokio::test]
async fn stdio_proxy_forwards_as_the_launching_assistant() {
    let app = TestApp::new().await;
    let (a, b, _c, project) = team(&app).await;
    let proxy = |key: &str| {
        json!([env!("CARGO_BIN_EXE_teamcontext"), "mcp", "--server", app.base, "--api-key", key])
    };
    let ann = python(json!({
        "transport": "stdio",
        "command": proxy(&a.api_key),
        "client_name": "Claude Desktop",
        "ops": [{"op": "list_tools"}, call("save_to_context", json!({"content": WEBHOOKS, "project_id": project}))],
    }))
    .await;
    assert_eq!(ann["results"][0].as_array().unwrap().len(), 17);
    let id = ok(&ann["results"][1])["id"].as_str().unwrap().to_string();
    let stored = app.get(&format!("/context/{id}"), &a.api_key).await;
    assert_eq!(stored.assert_status(200)["metadata"]["source"], "claude");

    // The key may come from the environment instead; tool errors pass through as tool errors,
    // and a protocol error (an unknown tool) as the JSON-RPC error the server sent.
    let bob = python(json!({
        "transport": "stdio",
        "command": [env!("CARGO_BIN_EXE_teamcontext"), "mcp", "--server", app.base],
        "env": {"TEAMCONTEXT_API_KEY": b.api_key},
        "client_name": "cursor",
        "ops": [
            call("get_relevant_context", json!({"query": WEBHOOK_QUESTION, "project_id": project})),
            call("get_context", json!({"id": "01a20000-0000-7000-8000-000000000000"})),
            call("search_context", json!({"query": WEBHOOK_QUESTION})),
        ],
    }))
    .await;
    assert_eq!(result_ids(ok(&bob["results"][0]))[0], id);
    assert_eq!(error_code(&bob["results"][1]), "CONTEXT_NOT_FOUND");
    assert_eq!(bob["results"][2]["jsonrpc_error"]["code"], -32602, "{}", bob["results"][2]);

    // A wrong key fails the handshake with a message, instead of failing every call later.
    let refused = run(
        clients_dir().join("venv/bin/python"),
        vec![
            "python_client.py".into(),
            json!({"transport": "stdio", "command": proxy("tc_wrong"), "client_name": "claude", "ops": []})
                .to_string(),
        ],
    )
    .await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("cannot reach TeamContext"), "{stderr}");
    app.shutdown().await;
}

/// An upgrade restarts the server under an assistant that launched the proxy: the proxy's next
/// call, in the same MCP session, is answered by the new process (sessions live in the
/// database), without restarting the assistant.
#[tokio::test]
async fn the_stdio_proxy_keeps_working_across_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = format!("127.0.0.1:{port}");
    let env = [("BIND_ADDR", bind.as_str()), ("RATE_LIMIT_PER_IP_PER_MIN", "0")];
    let server = support::process::serve_with(dir.path(), "warn", &env);
    let app = TestApp::remote(&server.base);
    let ann = app.register("ann").await;
    let project = app.create_project(&ann.api_key, "payments").await;

    let restarted = dir.path().join("restarted");
    let plan = json!({
        "transport": "stdio",
        "command": [env!("CARGO_BIN_EXE_teamcontext"), "mcp", "--server", format!("http://{bind}"), "--api-key", ann.api_key],
        "client_name": "claude-code",
        "ops": [
            call("save_to_context", json!({"content": WEBHOOKS, "project_id": project})),
            {"op": "wait_for", "path": restarted},
            call("get_relevant_context", json!({"query": "Stripe webhook retries", "project_id": project})),
        ],
    });
    let assistant = tokio::spawn(python(plan));
    let waiting = dir.path().join("restarted.waiting");
    for _ in 0..600 {
        if waiting.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(waiting.exists(), "the first call was made");
    let (_, stopped) = server.stop();
    assert!(stopped, "the server stopped cleanly");
    let server = support::process::serve_with(dir.path(), "warn", &env);
    std::fs::write(&restarted, "").unwrap();

    let out = assistant.await.unwrap();
    let saved = ok(&out["results"][0])["id"].as_str().unwrap().to_string();
    assert_eq!(result_ids(ok(&out["results"][2])), [saved.as_str()], "found after the restart");
    server.stop();
}

#[tokio::test]
async fn restricted_keys_are_enforced_in_tools_exactly_as_in_rest() {
    let app = TestApp::new().await;
    let a = app.register("ann").await;
    let alpha = app.create_project(&a.access_token, "alpha").await;
    let beta = app.create_project(&a.access_token, "beta").await;
    for (project, content) in [(&alpha, WEBHOOKS), (&beta, DEPLOY)] {
        let body = json!({"content": content, "project_id": project});
        app.post("/context/save", Some(&a.api_key), body).await.assert_status(201);
    }
    let created = app
        .post(
            "/users/me/api-keys",
            Some(&a.access_token),
            json!({"name": "alpha reader", "scopes": ["read"], "project_id": alpha}),
        )
        .await;
    let key = created.assert_status(201)["key"].as_str().unwrap().to_string();

    let searches = [
        json!({"query": "deployments and webhooks"}),
        json!({"query": "deployments", "project_id": beta}),
    ];
    let r = python(http_plan(
        &app,
        &key,
        "claude",
        json!([
            call("list_projects", json!({})),
            call("get_relevant_context", searches[0].clone()),
            call("get_relevant_context", searches[1].clone()),
            call("save_to_context", json!({"content": "not allowed", "project_id": alpha})),
        ]),
    ))
    .await;
    let listed = ok(&r["results"][0])["projects"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], alpha.as_str());
    let found = ok(&r["results"][1]);
    assert!(!found["results"].as_array().unwrap().is_empty());
    assert!(found["results"].as_array().unwrap().iter().all(|x| x["project_id"] == alpha.as_str()));

    // The same requests through REST fail with the same codes.
    let rest_search = app
        .post("/context/search", Some(&key), json!({"query": "deployments", "project_ids": [beta]}))
        .await;
    assert_eq!(error_code(&r["results"][2]), rest_search.code());
    let rest_save = app
        .post("/context/save", Some(&key), json!({"content": "not allowed", "project_id": alpha}))
        .await;
    assert_eq!(error_code(&r["results"][3]), rest_save.code());
    assert_eq!(rest_save.code(), "INSUFFICIENT_PERMISSIONS");
    app.shutdown().await;
}

#[tokio::test]
async fn bad_tool_input_comes_back_as_tool_errors_with_rest_codes() {
    let app = TestApp::new().await;
    let (a, _b, _c, project) = team(&app).await;
    let r = python(http_plan(
        &app,
        &a.api_key,
        "claude",
        json!([
            call("get_relevant_context", json!({})),
            call("get_relevant_context", json!({"query": "   "})),
            call("get_relevant_context", json!({"query": "x", "project_id": "not-a-uuid"})),
            call("get_relevant_context", json!({"query": "x", "limit": 1000})),
            call("save_to_context", json!({"project_id": project})),
            call("save_to_context", json!({"content": "x", "tags": ["a b c d e f g h i j k l m n o p q r s t u v w x y z ".repeat(10)]})),
            call("get_context", json!({})),
            call("get_context", json!({"id": "not-a-uuid"})),
            call("list_projects", json!({"cursor": "%%%"})),
            call("get_cost_savings", json!({"days": 0})),
            call("get_cost_savings", json!({"project_id": "not-a-uuid"})),
            call("scan_codebase", json!({"files": []})),
            call("scan_codebase", json!({"project_id": project})),
            call("scan_codebase", json!({"project_id": project, "git_url": "http://127.0.0.1/x.git"})),
        ]),
    ))
    .await;
    let codes: Vec<String> = r["results"].as_array().unwrap().iter().map(error_code).collect();
    assert_eq!(
        codes,
        [
            "MISSING_REQUIRED_FIELD",
            "INVALID_INPUT",
            "PROJECT_NOT_FOUND",
            "INVALID_INPUT",
            "MISSING_REQUIRED_FIELD",
            "INVALID_INPUT",
            "MISSING_REQUIRED_FIELD",
            "CONTEXT_NOT_FOUND",
            "INVALID_INPUT",
            "INVALID_INPUT",
            "INVALID_INPUT",
            "MISSING_REQUIRED_FIELD",
            "MISSING_REQUIRED_FIELD",
            "INVALID_INPUT",
        ]
    );
    app.shutdown().await;
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}"#;

#[tokio::test]
async fn http_endpoint_refuses_missing_revoked_and_foreign_credentials() {
    let app = TestApp::new().await;
    let a = app.register("ann").await;

    let anonymous = app.post_mcp(None, None, INITIALIZE).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_CREDENTIALS");
    let wrong = app.post_mcp(Some("tc_0000000000000000000000000000000000000000"), None, INITIALIZE);
    assert_eq!(wrong.await.json::<Value>().await.unwrap()["error"]["code"], "INVALID_API_KEY");

    // An access token (JWT) is as good as an API key.
    assert_eq!(app.post_mcp(Some(&a.access_token), None, INITIALIZE).await.status(), 200);

    // A key revoked mid-session stops working on the next request.
    let created =
        app.post("/users/me/api-keys", Some(&a.access_token), json!({"name": "short-lived"})).await;
    let created = created.assert_status(201).clone();
    let key = created["key"].as_str().unwrap();
    let init = app.post_mcp(Some(key), None, INITIALIZE).await;
    assert_eq!(init.status(), 200);
    let session = init.headers()["mcp-session-id"].to_str().unwrap().to_string();
    drop(init);
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(app.post_mcp(Some(key), Some(&session), initialized).await.status(), 202);
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    assert_eq!(app.post_mcp(Some(key), Some(&session), list).await.status(), 200);
    let key_id = created["id"].as_str().unwrap();
    app.delete(&format!("/users/me/api-keys/{key_id}"), &a.access_token).await.assert_status(204);
    let after = app.post_mcp(Some(key), Some(&session), list).await;
    assert_eq!(after.status(), 401);

    // DNS rebinding: a Host that is not allowed is refused even with a valid key.
    let rebound = app
        .mcp_request(INITIALIZE)
        .header("host", "attacker.example")
        .bearer_auth(&a.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);

    // Malformed and oversized bodies are refused by the MCP transport in its own terms (rmcp
    // answers malformed JSON with 415 and a JSON-RPC parse error).
    let malformed = app.post_mcp(Some(&a.api_key), None, "{not json").await;
    assert!(malformed.status().is_client_error(), "{}", malformed.status());
    assert!(!malformed.text().await.unwrap().contains("\"result\""));
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"pad":"{}"}}}}"#,
        "x".repeat(11 * 1024 * 1024)
    );
    assert_eq!(app.post_mcp(Some(&a.api_key), None, &huge).await.status(), 413);
    app.shutdown().await;
}

#[tokio::test]
async fn allowed_hosts_come_from_configuration() {
    let app = TestApp::with_env(&[("MCP_ALLOWED_HOSTS", "mcp.example.com")]).await;
    let a = app.register("ann").await;
    let send = |host: &'static str| {
        app.mcp_request(INITIALIZE).header("host", host).bearer_auth(&a.api_key).send()
    };
    assert_eq!(send("mcp.example.com").await.unwrap().status(), 200);
    assert_eq!(send("127.0.0.1").await.unwrap().status(), 403);
    app.shutdown().await;
}

/// The official conformance suite cannot send a credential, so this harness serves the MCP
/// service with a fixed caller in place of the authentication layer; nothing else differs.
#[tokio::test]
async fn official_conformance_suite_passes() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = std::collections::HashMap::new();
    env.insert("TEAMCONTEXT_DATA_DIR".to_string(), dir.path().display().to_string());
    let config = teamcontext::config::Config::from_sources(None, &env).unwrap();
    let clock = Arc::new(tc_domain::ManualClock::new());
    let (services, store, _redis) =
        teamcontext::open_services(&config, clock, support::embedder()).await.unwrap();
    let registered = services
        .register(tc_domain::views::RegisterRequest {
            email: Some("conformance@example.com".into()),
            password: Some("conformance-password".into()),
            name: Some("conformance".into()),
            invitation_token: None,
        })
        .await
        .unwrap();
    let caller = services.authenticate(&registered.api_key.key).await.unwrap();
    let limits = Arc::new(teamcontext::rate_limit::RateLimits::new(&config.rate_limits, None));
    let state = teamcontext::state::AppState::new(services, limits, None);
    let shutdown = CancellationToken::new();
    let app = axum::Router::new()
        .nest_service("/mcp", teamcontext::mcp::service(state, &config, shutdown.clone()))
        .layer(axum::Extension(caller));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let bin = clients_dir().join("node_modules/.bin");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    for scenario in ["server-initialize", "ping", "tools-list", "dns-rebinding-protection"] {
        let (bin, path, url) = (bin.clone(), path.clone(), url.clone());
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new(bin.join("conformance"))
                .args(["server", "--url", &url, "--scenario", scenario])
                .env("PATH", path)
                .current_dir(clients_dir())
                .output()
                .expect("conformance runs")
        })
        .await
        .unwrap();
        assert!(
            output.status.success(),
            "scenario {scenario} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    shutdown.cancel();
    server.abort();
    store.close().await;
}

/// Hole 9 of the hardening issue: an MCP session answered whoever presented its id. Now a
/// session belongs to the user who opened it, and ending it answers 204, as MCP clients expect
/// (the SDK's 202 made the Python client log "Session termination failed" on every exit).
#[tokio::test]
async fn a_session_answers_only_its_owner_and_ends_with_204() {
    let app = TestApp::new().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let init = app.post_mcp(Some(&ann.api_key), None, INITIALIZE).await;
    assert_eq!(init.status(), 200);
    let session = init.headers()["mcp-session-id"].to_str().unwrap().to_string();
    drop(init);
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(app.post_mcp(Some(&ann.api_key), Some(&session), initialized).await.status(), 202);
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    assert_eq!(app.post_mcp(Some(&ann.api_key), Some(&session), list).await.status(), 200);
    // Ann's other credentials may use her session; Bob may not, with any method.
    assert_eq!(app.post_mcp(Some(&ann.access_token), Some(&session), list).await.status(), 200);
    assert_eq!(app.post_mcp(Some(&bob.api_key), Some(&session), list).await.status(), 404);
    let end = |key: &str| {
        app.client
            .delete(format!("{}/mcp", app.base))
            .bearer_auth(key)
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-06-18")
            .send()
    };
    assert_eq!(end(&bob.api_key).await.unwrap().status(), 404);
    assert_eq!(app.post_mcp(Some(&ann.api_key), Some(&session), list).await.status(), 200);
    assert_eq!(end(&ann.api_key).await.unwrap().status(), 204);
    assert_eq!(app.post_mcp(Some(&ann.api_key), Some(&session), list).await.status(), 404);
}
