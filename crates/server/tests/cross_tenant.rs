//! The cross-tenant sweep of the hardening issue: a second user tries every documented REST
//! operation and every MCP tool with the first user's ids (project, context, job, key,
//! invitation, user), and keys restricted to another project or without the `write` scope try
//! what they must not. Nothing may succeed, and nothing may tell the first user's data apart
//! from data that does not exist. Routes are taken from the served OpenAPI document, so a new
//! route is swept without being listed here.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{TestApp, TestUser};

/// The victim's MCP server is the test server's own `/mcp`, on loopback.
const ALLOW_LOOPBACK: (&str, &str) = ("OUTBOUND_ALLOWED_HOSTS", "127.0.0.1");

/// The first user's resources.
struct Victim {
    user: TestUser,
    project: String,
    context: String,
    job: String,
    invitation: String,
    /// A chat session about the project, with a turn that quotes the secret, and that turn's
    /// run (finished, still replayable).
    session: String,
    run: String,
    /// An MCP server registered for the victim's agent, with the victim's key as its token.
    mcp_server: String,
    /// A task in the project, naming the secret.
    task: String,
    /// A Jira story draft in the project, naming the secret.
    story: String,
}

async fn victim(app: &TestApp) -> Victim {
    let user = app.register("victim").await;
    let project = app.create_project(&user.api_key, "victim's secrets").await;
    let saved = app
        .post(
            "/context/save",
            Some(&user.api_key),
            json!({"content": "The vault root token is kept in the ops safe.", "project_id": project}),
        )
        .await;
    let context = saved.assert_status(201)["id"].as_str().unwrap().to_string();
    let form = reqwest::multipart::Form::new().part(
        "files",
        reqwest::multipart::Part::bytes(b"x = 1\n".to_vec()).file_name("a.py".to_string()),
    );
    let scan = app
        .client
        .post(app.url(&format!("/projects/{project}/scan")))
        .bearer_auth(&user.api_key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let job = TestApp::read(scan).await.assert_status(202)["job_id"].as_str().unwrap().to_string();
    let invited = app
        .post(
            &format!("/projects/{project}/contributors"),
            Some(&user.api_key),
            json!({"email": "friend@example.com"}),
        )
        .await;
    let invitation = invited.assert_status(202)["id"].as_str().unwrap().to_string();
    let chat = json!({"message": "Where is the vault root token kept?", "project_id": project});
    let chatted = app.post("/ai/chat", Some(&user.api_key), chat).await;
    let chatted = chatted.assert_status(200);
    let session = chatted["session_id"].as_str().unwrap().to_string();
    let run = chatted["message"]["id"].as_str().unwrap().to_string();
    let mcp = json!({"name": "vault", "url": app.url("/mcp").replace("/api/v1", ""),
                     "bearer_token": user.api_key});
    let registered = app.post("/ai/mcp-servers", Some(&user.api_key), mcp).await;
    let mcp_server = registered.assert_status(201)["id"].as_str().unwrap().to_string();
    let task = json!({"title": "Move the vault root token", "project_id": project});
    let task = app.post("/tasks", Some(&user.api_key), task).await;
    let task = task.assert_status(201)["id"].as_str().unwrap().to_string();
    let story = json!({"project_id": project, "requirements": "Move the vault root token to the new safe."});
    let story = app.post("/ai/stories/draft", Some(&user.api_key), story).await;
    let story = story.assert_status(201)["id"].as_str().unwrap().to_string();
    Victim { user, project, context, job, invitation, session, run, mcp_server, task, story }
}

/// The victim's id for a path parameter.
fn victim_id(v: &Victim, template: &str, name: &str) -> String {
    match name {
        "user_id" => v.user.id.clone(),
        "task_id" if template.starts_with("/tasks/") => v.task.clone(),
        "job_id" | "task_id" => v.job.clone(),
        "run_id" => v.run.clone(),
        "invitation_id" => v.invitation.clone(),
        // Integrations act on the caller's own connection; their ids name no one's data.
        "product" => "jira".into(),
        "key" => "OPS-1".into(),
        "id" if template.starts_with("/projects/") => v.project.clone(),
        "id" if template.starts_with("/context/") => v.context.clone(),
        "id" if template.starts_with("/jobs/") => v.job.clone(),
        "id" if template.starts_with("/ai/sessions/") => v.session.clone(),
        "id" if template.starts_with("/ai/mcp-servers/") => v.mcp_server.clone(),
        "id" if template.starts_with("/ai/stories/") => v.story.clone(),
        "id" if template.starts_with("/users/me/api-keys/") => v.user.api_key_id.clone(),
        "id" if template.starts_with("/users/me/invitations/") => v.invitation.clone(),
        other => panic!("no victim id for {{{other}}} in {template}: add one"),
    }
}

/// A body that would be valid for the operation if the caller were allowed, so that a refusal
/// is about access, not about the body.
fn body_for(method: &Method, template: &str, v: &Victim) -> Option<Value> {
    let body = match (method.as_str(), template) {
        ("PUT", "/projects/{id}") => json!({"name": "taken over"}),
        ("POST", "/projects/{id}/contributors") => json!({"email": "attacker@example.com"}),
        ("POST", "/projects/{id}/scan") => json!({"git_url": "https://example.com/r.git"}),
        ("POST", "/context/save") => json!({"content": "planted", "project_id": v.project}),
        ("POST", "/context/search") => {
            json!({"query": "vault root token", "project_ids": [v.project], "mode": "keyword"})
        }
        ("POST", "/users/me/api-keys") => json!({"name": "mine now", "project_id": v.project}),
        ("POST", "/users/me/api-key/rotate") => json!({"key_id": v.user.api_key_id}),
        ("POST", "/jira/sync") => json!({"project_id": v.project, "jql_query": "project = OPS"}),
        ("POST", "/confluence/sync") => json!({"project_id": v.project, "space_keys": ["ENG"]}),
        ("POST", "/ai/sessions") => json!({"project_id": v.project}),
        ("POST", "/ai/chat" | "/ai/chat/stream") => {
            json!({"message": "what is the vault root token?", "session_id": v.session})
        }
        ("POST", "/chat") => {
            json!({"message": "what is the vault root token?", "conversation_id": v.session})
        }
        ("POST", "/ai/qa") => json!({"question": "vault root token", "project_ids": [v.project]}),
        ("POST", "/ai/summarize") => json!({"context_ids": [v.context]}),
        ("POST", "/ai/mindmap") => json!({"project_id": v.project}),
        ("POST", "/tasks") => json!({"title": "planted", "project_id": v.project}),
        ("PUT", "/tasks/{task_id}") => json!({"status": "done"}),
        ("POST", "/ai/stories/draft") => {
            json!({"project_id": v.project, "requirements": "Rotate the vault root token."})
        }
        ("POST", "/ai/stories/{id}/refine") => json!({"instructions": "shorter"}),
        ("POST", "/ai/stories/{id}/create") => json!({"jira_project_key": "OPS"}),
        _ => json!({}),
    };
    Some(body)
}

#[tokio::test]
async fn another_user_reaches_nothing_of_the_first_users() {
    let app = TestApp::with_env(&[("JOB_WORKERS", "0"), ALLOW_LOOPBACK]).await;
    let v = victim(&app).await;
    let attacker = app.register("attacker").await;
    app.create_project(&attacker.api_key, "attacker's own").await;

    let mut leaks = Vec::new();
    let mut tried = 0;
    for op in app.operations().await.into_iter().filter(|op| op.secured) {
        let path = op.path(|name| victim_id(&v, &op.template, name));
        // Routes that act on the caller's own account cannot name the victim's data, except
        // through the ids in the bodies above.
        let own_account = matches!(
            op.template.as_str(),
            "/users/me" | "/users/me/password" | "/users/me/api-keys" | "/users/me/invitations"
        ) && op.method == Method::GET
            || op.template == "/users/me/password";
        // A connection's status and disconnect name only the caller's own connection.
        let own_connection = op.template.starts_with("/integrations/")
            && (op.template.ends_with("/status") || op.template.ends_with("/disconnect"));
        if own_account
            || own_connection
            || op.template == "/projects"
            || (op.template == "/ai/sessions" && op.method == Method::GET)
            || (op.template == "/ai/mcp-servers" && op.method == Method::GET)
            || (op.template == "/ai/llm-settings" && op.method == Method::GET)
            || (op.template == "/tasks" && op.method == Method::GET)
            || (op.template == "/ai/stories" && op.method == Method::GET)
            || op.template.starts_with("/analytics/")
        {
            continue;
        }
        tried += 1;
        let body = body_for(&op.method, &op.template, &v);
        for key in [&attacker.api_key, &attacker.access_token] {
            let r = app.send(op.method.clone(), &path, Some(key), body.clone()).await;
            let text = r.body.to_string();
            if r.status.is_success()
                || text.contains("vault root token")
                || text.contains("secrets")
            {
                leaks.push(format!("{} {path}: {} {text}", op.method, r.status));
            }
        }
    }
    // The session and MCP server lists are the caller's own.
    let sessions = app.get("/ai/sessions", &attacker.api_key).await;
    if sessions.body.to_string().contains(&v.session) {
        leaks.push(format!("GET /ai/sessions: {}", sessions.body));
    }
    let tasks = app.get("/tasks", &attacker.api_key).await;
    if tasks.body.to_string().contains(&v.task) {
        leaks.push(format!("GET /tasks: {}", tasks.body));
    }
    let stories = app.get("/ai/stories", &attacker.api_key).await;
    if stories.body.to_string().contains(&v.story) {
        leaks.push(format!("GET /ai/stories: {}", stories.body));
    }
    let servers = app.get("/ai/mcp-servers", &attacker.api_key).await;
    if servers.body.to_string().contains(&v.mcp_server) {
        leaks.push(format!("GET /ai/mcp-servers: {}", servers.body));
    }
    assert!(tried >= 20, "{tried} operations tried");

    // Reports name only what the caller may read.
    for report in ["/analytics/cost-savings", "/analytics/usage", "/analytics/context-insights"] {
        let r = app.get(&format!("{report}?project_id={}", v.project), &attacker.api_key).await;
        if r.status.is_success() {
            leaks.push(format!("GET {report}?project_id=victim: {}", r.body));
        }
        let own = app.get(report, &attacker.api_key).await;
        if own.body.to_string().contains(&v.project) || own.body.to_string().contains("secrets") {
            leaks.push(format!("GET {report}: {}", own.body));
        }
    }
    // Lists never show the victim's data.
    for list in ["/projects", "/users/me/api-keys", "/users/me/invitations"] {
        let r = app.get(list, &attacker.api_key).await;
        let text = r.assert_status(200).to_string();
        for secret in [&v.project, &v.user.api_key_id, &v.invitation] {
            if text.contains(secret.as_str()) {
                leaks.push(format!("GET {list} lists {secret}"));
            }
        }
    }
    // The victim's data is intact.
    app.get(&format!("/context/{}", v.context), &v.user.api_key).await.assert_status(200);
    app.get(&format!("/projects/{}", v.project), &v.user.api_key).await.assert_status(200);
    app.get("/users/me", &v.user.api_key).await.assert_status(200);
    assert!(leaks.is_empty(), "cross-tenant leaks:\n{}", leaks.join("\n"));
}

/// Keys narrower than their owner: one restricted to another project, and a read-only one, try
/// every write and the other project.
#[tokio::test]
async fn narrow_keys_stay_narrow() {
    let app = TestApp::with_env(&[("JOB_WORKERS", "0"), ALLOW_LOOPBACK]).await;
    let v = victim(&app).await;
    let other = app.create_project(&v.user.api_key, "other").await;
    let restricted = app
        .post(
            "/users/me/api-keys",
            Some(&v.user.api_key),
            json!({"name": "r", "project_id": other}),
        )
        .await;
    let restricted = restricted.assert_status(201)["key"].as_str().unwrap().to_string();
    let read_only = app
        .post(
            "/users/me/api-keys",
            Some(&v.user.api_key),
            json!({"name": "ro", "scopes": ["read"]}),
        )
        .await;
    let read_only = read_only.assert_status(201)["key"].as_str().unwrap().to_string();

    let mut leaks = Vec::new();
    for op in app.operations().await.into_iter().filter(|op| op.secured) {
        let path = op.path(|name| victim_id(&v, &op.template, name));
        let body = body_for(&op.method, &op.template, &v);
        // A search, a question, a summary and a story's validation are reads sent with POST.
        let reads = [
            "/context/search",
            "/ai/qa",
            "/ai/summarize",
            "/ai/mindmap",
            "/ai/stories/{id}/validate",
        ];
        let is_write = op.method != Method::GET && !reads.contains(&op.template.as_str());
        // The read-only key: no write succeeds (logout-style routes are not secured).
        if is_write {
            let r = app.send(op.method.clone(), &path, Some(&read_only), body.clone()).await;
            if r.status.is_success() {
                leaks.push(format!("read-only {} {path}: {} {}", op.method, r.status, r.body));
            }
        }
        // The restricted key: nothing about the first project (GET /projects etc. list only
        // `other`; routes on the caller's own profile are fine).
        if op.template.contains("{") || op.template.starts_with("/context/") {
            let r = app.send(op.method.clone(), &path, Some(&restricted), body).await;
            if r.status.is_success() {
                leaks.push(format!("restricted {} {path}: {} {}", op.method, r.status, r.body));
            }
        }
    }
    let listed = app.get("/projects", &restricted).await;
    assert!(!listed.assert_status(200).to_string().contains(&v.project));
    assert!(leaks.is_empty(), "narrow keys did more than they may:\n{}", leaks.join("\n"));
}

/// A JSON-RPC request to `/mcp` with `key`; the JSON answer (from the event stream).
async fn mcp(
    app: &TestApp,
    key: &str,
    session: Option<&str>,
    body: Value,
) -> (Value, Option<String>) {
    let resp = app.post_mcp(Some(key), session, &body.to_string()).await;
    let session = resp.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_string());
    let text = resp.text().await.unwrap();
    let data = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|d| d.starts_with('{'))
        .unwrap_or("null");
    (serde_json::from_str(data).unwrap_or(Value::Null), session)
}

#[tokio::test]
async fn every_mcp_tool_refuses_another_users_ids() {
    let app = TestApp::with_env(&[("JOB_WORKERS", "0"), ALLOW_LOOPBACK]).await;
    let v = victim(&app).await;
    let attacker = app.register("attacker").await;
    app.create_project(&attacker.api_key, "attacker's own").await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}});
    let (_, session) = mcp(&app, &attacker.api_key, None, init).await;
    let session = session.expect("a session");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    mcp(&app, &attacker.api_key, Some(&session), initialized).await;
    let calls = [
        ("get_context", json!({"id": v.context})),
        ("get_relevant_context", json!({"query": "vault root token", "project_id": v.project})),
        ("save_to_context", json!({"content": "planted", "project_id": v.project})),
        ("scan_codebase", json!({"project_id": v.project, "git_url": "https://example.com/r.git"})),
        ("get_cost_savings", json!({"project_id": v.project})),
        ("sync_jira_to_context", json!({"project_id": v.project, "jql_query": "project = OPS"})),
        ("sync_confluence_to_context", json!({"project_id": v.project, "space_keys": ["ENG"]})),
        (
            "ask_question",
            json!({"question": "what is the vault root token?", "project_id": v.project}),
        ),
        ("summarize_context", json!({"context_ids": [v.context]})),
        ("todo_create", json!({"title": "planted", "project_id": v.project})),
        ("todo_read", json!({"task_id": v.task})),
        ("todo_update", json!({"task_id": v.task, "status": "done"})),
        ("todo_delete", json!({"task_id": v.task})),
        ("todo_list", json!({"project_id": v.project})),
        ("draft_jira_story", json!({"project_id": v.project, "requirements": "Rotate the token."})),
        ("create_jira_story", json!({"draft_id": v.story, "jira_project_key": "OPS"})),
    ];
    let (listed, _) = mcp(
        &app,
        &attacker.api_key,
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await;
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for name in &names {
        assert!(
            *name == "list_projects" || calls.iter().any(|(n, _)| n == name),
            "tool {name} is not in the sweep: add a call with the victim's ids"
        );
    }
    let mut leaks = Vec::new();
    for (i, (name, args)) in calls.iter().enumerate() {
        let call = json!({"jsonrpc": "2.0", "id": 10 + i, "method": "tools/call", "params": {"name": name, "arguments": args}});
        let (answer, _) = mcp(&app, &attacker.api_key, Some(&session), call).await;
        let text = answer.to_string();
        if answer["result"]["isError"] != true || text.contains("vault root token") {
            leaks.push(format!("{name}: {text}"));
        }
    }
    let list = json!({"jsonrpc": "2.0", "id": 30, "method": "tools/call", "params": {"name": "list_projects", "arguments": {}}});
    let (answer, _) = mcp(&app, &attacker.api_key, Some(&session), list).await;
    if answer.to_string().contains(&v.project) {
        leaks.push(format!("list_projects: {answer}"));
    }
    assert!(leaks.is_empty(), "MCP cross-tenant leaks:\n{}", leaks.join("\n"));
}
