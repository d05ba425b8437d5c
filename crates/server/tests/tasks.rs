//! Team tasks over a real server: CRUD and every filter through REST on SQLite and PostgreSQL,
//! the unhappy paths (no auth, another user's task, a bad status or priority, an assignee who
//! is not a member, an unknown id, a read-only key, a removed contributor), the five `todo_*`
//! tools through the official Python MCP client, and a task the agent creates from a chat
//! message with the fake model.

mod support;

use fake_llm::{FakeLlm, Reply, recorded};
use serde_json::{Value, json};
use support::mcp_clients::{call, http_plan, python};
use support::{TestApp, TestUser};
use tc_store_postgres::testing::TestDatabase;

async fn app_on(db: Option<&TestDatabase>, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![("MAX_BODY_BYTES", "65536")];
    if let Some(db) = db {
        env.extend(support::postgres_env(db));
    }
    env.extend_from_slice(extra);
    TestApp::with_env(&env).await
}

fn titles(page: &Value) -> Vec<&str> {
    page["items"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap()).collect()
}

async fn tasks_are_kept_filtered_and_scoped(db: Option<&TestDatabase>) {
    let app = app_on(db, &[]).await;
    let ana = app.register("ana").await;
    let bob = app.register("bob").await;
    let project = app.create_project(&ana.api_key, "ops").await;
    app.add_contributor(&ana.access_token, &project, &bob).await;
    let key = &ana.api_key;

    let rotate = json!({"title": "Rotate the Stripe keys", "project_id": project,
        "description": "Rotate, then **restart** the billing workers.", "priority": "high",
        "assignee_id": bob.id, "due_date": "2026-12-04", "tags": ["security", "stripe", "stripe"],
        "jira_keys": ["ops-12"]});
    let made = app.post("/tasks", Some(key), rotate).await;
    let made = made.assert_status(201).clone();
    assert_eq!((made["status"].as_str(), made["priority"].as_str()), (Some("todo"), Some("high")));
    assert_eq!(made["tags"], json!(["security", "stripe"]), "duplicates dropped");
    assert_eq!(made["jira_keys"], json!(["OPS-12"]));
    assert_eq!(made["due_date"], "2026-12-04");
    let id = made["id"].as_str().unwrap().to_string();
    app.post("/tasks", Some(key), json!({"title": "Write the runbook", "project_id": project}))
        .await
        .assert_status(201);
    app.post("/tasks", Some(key), json!({"title": "Call the bank"})).await.assert_status(201);
    app.post("/tasks", Some(&bob.api_key), json!({"title": "Bob's own"})).await.assert_status(201);

    // Lists: the projects one can read and one's own tasks; each filter; pages.
    let all = app.get("/tasks", key).await;
    assert_eq!(
        titles(all.assert_status(200)),
        ["Call the bank", "Write the runbook", "Rotate the Stripe keys"]
    );
    let bobs = app.get("/tasks", &bob.api_key).await;
    assert_eq!(
        titles(bobs.assert_status(200)),
        ["Bob's own", "Write the runbook", "Rotate the Stripe keys"]
    );
    for (query, want) in [
        (format!("project_id={project}"), vec!["Write the runbook", "Rotate the Stripe keys"]),
        (format!("assignee_id={}", bob.id), vec!["Rotate the Stripe keys"]),
        ("tag=stripe".to_string(), vec!["Rotate the Stripe keys"]),
        ("due_before=2026-12-05".to_string(), vec!["Rotate the Stripe keys"]),
        ("status=done".to_string(), vec![]),
    ] {
        let r = app.get(&format!("/tasks?{query}"), key).await;
        assert_eq!(titles(r.assert_status(200)), want, "{query}");
    }
    let first = app.get("/tasks?limit=2", key).await.assert_status(200).clone();
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = app.get(&format!("/tasks?limit=2&cursor={cursor}"), key).await;
    assert_eq!(titles(rest.assert_status(200)), ["Rotate the Stripe keys"]);

    // A member changes it (bob, assigned); null clears; the read shows who changed it.
    let changed = app
        .put(&format!("/tasks/{id}"), &bob.api_key, json!({"status": "done", "due_date": null}))
        .await;
    let changed = changed.assert_status(200).clone();
    assert_eq!(
        (changed["status"].as_str(), changed["due_date"].clone()),
        (Some("done"), Value::Null)
    );
    assert_eq!(changed["updated_by"], bob.id.as_str());
    assert_eq!(changed["title"], "Rotate the Stripe keys", "untouched fields stay");
    let read = app.get(&format!("/tasks/{id}"), key).await;
    assert_eq!(read.assert_status(200)["status"], "done");

    // Tasks are context: found by search as source `task`, kept in step, gone with the task.
    let search = json!({"query": "rotate stripe keys billing workers", "project_ids": [project], "mode": "hybrid", "similarity_threshold": 0});
    let found = app.post("/context/search", Some(key), search.clone()).await;
    let found = found.assert_status(200).clone();
    let hit = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metadata"]["task_id"] == id.as_str())
        .cloned();
    let hit = hit.unwrap_or_else(|| panic!("no task in {found}"));
    assert_eq!(hit["metadata"]["source"], "task");
    assert!(hit["content"].as_str().unwrap().contains("Status: done"), "{hit}");

    // A removed contributor loses the project's tasks at once.
    app.delete(&format!("/projects/{project}/contributors/{}", bob.id), &ana.access_token)
        .await
        .assert_status(204);
    app.get(&format!("/tasks/{id}"), &bob.api_key).await.assert_error(404, "RESOURCE_NOT_FOUND");
    assert_eq!(titles(app.get("/tasks", &bob.api_key).await.assert_status(200)), ["Bob's own"]);

    app.delete(&format!("/tasks/{id}"), key).await.assert_status(204);
    app.get(&format!("/tasks/{id}"), key).await.assert_error(404, "RESOURCE_NOT_FOUND");
    let after = app.post("/context/search", Some(key), search).await;
    let after = after.assert_status(200).clone();
    let results = after["results"].as_array().unwrap();
    assert!(!results.iter().any(|r| r["metadata"]["task_id"] == id.as_str()), "{after}");
    app.shutdown().await;
}

#[tokio::test]
async fn tasks_are_kept_filtered_and_scoped_on_sqlite() {
    tasks_are_kept_filtered_and_scoped(None).await;
}

#[tokio::test]
async fn tasks_are_kept_filtered_and_scoped_on_postgres() {
    let db = TestDatabase::create().await;
    tasks_are_kept_filtered_and_scoped(Some(&db)).await;
}

async fn new_key(app: &TestApp, user: &TestUser, body: Value) -> String {
    let made = app.post("/users/me/api-keys", Some(&user.access_token), body).await;
    made.assert_status(201)["key"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn task_routes_refuse_bad_requests_and_strangers() {
    let app = app_on(None, &[("MAX_BODY_BYTES", "4096")]).await;
    let ana = app.register("ana").await;
    let eve = app.register("eve").await;
    let key = &ana.api_key;
    let project = app.create_project(key, "ops").await;
    let made = app.post("/tasks", Some(key), json!({"title": "Mine", "project_id": project})).await;
    let id = made.assert_status(201)["id"].as_str().unwrap().to_string();
    let personal = app.post("/tasks", Some(key), json!({"title": "Private"})).await;
    let personal = personal.assert_status(201)["id"].as_str().unwrap().to_string();
    let unknown = "01a20000-0000-7000-8000-000000000000";

    for (method, path) in [
        ("GET", "/tasks".to_string()),
        ("POST", "/tasks".to_string()),
        ("GET", format!("/tasks/{id}")),
        ("PUT", format!("/tasks/{id}")),
        ("DELETE", format!("/tasks/{id}")),
    ] {
        let r = app.send(method.parse().unwrap(), &path, None, Some(json!({}))).await;
        r.assert_error(401, "INVALID_CREDENTIALS");
    }
    // Someone else's task (in a project or personal), an unknown id, a malformed one: 404.
    for task in [id.as_str(), personal.as_str(), unknown, "not-a-uuid"] {
        app.get(&format!("/tasks/{task}"), &eve.api_key)
            .await
            .assert_error(404, "RESOURCE_NOT_FOUND");
        app.put(&format!("/tasks/{task}"), &eve.api_key, json!({"status": "done"}))
            .await
            .assert_error(404, "RESOURCE_NOT_FOUND");
        app.delete(&format!("/tasks/{task}"), &eve.api_key)
            .await
            .assert_error(404, "RESOURCE_NOT_FOUND");
    }
    assert!(
        app.get("/tasks", &eve.api_key).await.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.post("/tasks", Some(&eve.api_key), json!({"title": "planted", "project_id": project}))
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");
    app.get(&format!("/tasks?project_id={project}"), &eve.api_key)
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");

    // Bad bodies.
    for (body, status, code) in [
        (json!({}), 400, "MISSING_REQUIRED_FIELD"),
        (json!({"title": "  "}), 400, "MISSING_REQUIRED_FIELD"),
        (json!({"title": "x".repeat(201)}), 422, "INVALID_INPUT"),
        (json!({"title": "x", "status": "blocked"}), 422, "INVALID_INPUT"),
        (json!({"title": "x", "priority": "urgent"}), 422, "INVALID_INPUT"),
        (json!({"title": "x", "due_date": "next friday"}), 422, "INVALID_INPUT"),
        (json!({"title": "x", "project_id": project, "assignee_id": eve.id}), 422, "INVALID_INPUT"),
        (json!({"title": "x", "assignee_id": eve.id}), 422, "INVALID_INPUT"),
        (json!({"title": "x", "jira_keys": ["not a key"]}), 422, "INVALID_INPUT"),
        (json!({"title": "x", "context_ids": [unknown]}), 422, "INVALID_INPUT"),
        (json!({"title": "x", "tags": [""]}), 422, "INVALID_INPUT"),
        (json!({"title": 7}), 422, "INVALID_INPUT"),
        (json!({"title": "x", "description": "d".repeat(5000)}), 413, "CONTEXT_TOO_LARGE"),
    ] {
        app.post("/tasks", Some(key), body.clone()).await.assert_error(status, code);
    }
    app.put(&format!("/tasks/{id}"), key, json!({"status": "blocked"}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.put(&format!("/tasks/{id}"), key, json!({"assignee_id": eve.id}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post_text("/tasks", key, "{\"title\":").await.assert_error(400, "INVALID_INPUT");
    app.get("/tasks?status=blocked", key).await.assert_error(422, "INVALID_INPUT");
    app.get("/tasks?due_before=soon", key).await.assert_error(422, "INVALID_INPUT");
    app.get("/tasks?limit=0", key).await.assert_error(422, "INVALID_INPUT");

    // A read-only key reads but does not write; a key restricted to another project sees none.
    let ro = new_key(&app, &ana, json!({"name": "ro", "scopes": ["read"]})).await;
    app.get(&format!("/tasks/{id}"), &ro).await.assert_status(200);
    app.post("/tasks", Some(&ro), json!({"title": "x"}))
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    app.put(&format!("/tasks/{id}"), &ro, json!({"status": "done"}))
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    app.delete(&format!("/tasks/{id}"), &ro).await.assert_error(403, "INSUFFICIENT_PERMISSIONS");
    let other = app.create_project(key, "other").await;
    let narrow = new_key(&app, &ana, json!({"name": "narrow", "project_id": other})).await;
    app.get(&format!("/tasks/{id}"), &narrow).await.assert_error(404, "RESOURCE_NOT_FOUND");
    app.get(&format!("/tasks/{personal}"), &narrow).await.assert_error(404, "RESOURCE_NOT_FOUND");
    assert!(
        app.get("/tasks", &narrow).await.assert_status(200)["items"].as_array().unwrap().is_empty()
    );
    let bound = app.post("/tasks", Some(&narrow), json!({"title": "bound"})).await;
    assert_eq!(
        bound.assert_status(201)["project_id"],
        other.as_str(),
        "bound to the key's project"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_todo_tools_work_through_the_python_client() {
    let app = app_on(None, &[]).await;
    let ana = app.register("ana").await;
    let project = app.create_project(&ana.api_key, "ops").await;
    let created = python(http_plan(
        &app,
        &ana.api_key,
        "claude-code",
        json!([call("todo_create", json!({"title": "Rotate the Stripe keys", "project_id": project, "due_date": "2026-12-04"}))]),
    ))
    .await;
    let made = &created["results"][0];
    assert_eq!(made["isError"], false, "{made}");
    let task = made["structuredContent"]["task_id"].as_str().unwrap().to_string();
    assert_eq!(made["structuredContent"]["success"], true);
    let out = python(http_plan(
        &app,
        &ana.api_key,
        "claude-code",
        json!([
            call("todo_read", json!({"task_id": task})),
            call("todo_update", json!({"task_id": task, "status": "in_progress"})),
            call("todo_list", json!({"status": "in_progress"})),
            call("todo_delete", json!({"task_id": task})),
            call("todo_read", json!({"task_id": task})),
            call("todo_create", json!({"title": "x", "priority": "urgent"})),
            call("todo_update", json!({})),
        ]),
    ))
    .await;
    let r = out["results"].as_array().unwrap();
    assert_eq!(r[0]["structuredContent"]["task"]["title"], "Rotate the Stripe keys", "{out}");
    assert_eq!(r[1]["structuredContent"]["task"]["status"], "in_progress");
    assert_eq!(r[2]["structuredContent"]["tasks"][0]["id"], task.as_str());
    assert_eq!(r[3]["structuredContent"]["message"], "task deleted");
    for (result, code) in
        [(&r[4], "RESOURCE_NOT_FOUND"), (&r[5], "INVALID_INPUT"), (&r[6], "MISSING_REQUIRED_FIELD")]
    {
        assert_eq!(result["isError"], true, "{result}");
        assert!(result["content"][0]["text"].as_str().unwrap().contains(code), "{result}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_agent_creates_a_task_from_a_chat_message() {
    let fake = FakeLlm::start().await;
    let base = fake.base_url();
    let app =
        app_on(None, &[("LLM_BASE_URL", base.as_str()), ("LLM_MODEL", fake_llm::MODEL)]).await;
    let ana = app.register("ana").await;
    let create =
        json!({"title": "Rotate the Stripe keys", "due_date": "2026-12-04", "tags": ["security"]})
            .to_string();
    fake.push(Reply::chunks(recorded::openai_tool_calls(&[("call_1", "todo_create", &create)])));
    fake.push(Reply::chunks(recorded::openai_text(&["I will remind you on Friday."], 60, 8)));
    let chat = app
        .post(
            "/chat",
            Some(&ana.api_key),
            json!({"message": "Remind me to rotate the Stripe keys on Friday"}),
        )
        .await;
    let chat = chat.assert_status(200).clone();
    let calls = chat["tool_calls"].as_array().unwrap();
    assert_eq!(
        (calls[0]["name"].as_str(), calls[0]["writes"].as_bool()),
        (Some("todo_create"), Some(true))
    );
    assert_eq!(calls[0]["result"]["success"], true, "{chat}");
    let listed = app.get("/tasks", &ana.api_key).await;
    let listed = listed.assert_status(200);
    assert_eq!(titles(listed), ["Rotate the Stripe keys"]);
    assert_eq!(listed["items"][0]["due_date"], "2026-12-04");
    app.shutdown().await;
}
