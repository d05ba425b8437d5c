//! `POST /context/batch` over HTTP: up to 100 saves with one result per item, and its unhappy
//! paths (no auth, a read-only key, malformed and empty bodies, 101 items, bad items among good
//! ones, someone else's project, an oversized body). The saved items are searchable at once.

mod support;

use serde_json::{Value, json};
use support::TestApp;

fn item(project: &str, content: &str) -> Value {
    json!({"content": content, "project_id": project, "metadata": {"source": "jira", "tags": ["import"]}})
}

#[tokio::test]
async fn a_batch_saves_each_item_and_reports_each_failure() {
    let app = TestApp::new().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let project = app.create_project(&ann.api_key, "imports").await;
    let bobs = app.create_project(&bob.api_key, "bob's notes").await;

    let items = json!([
        item(&project, "PAY-101: retry failed Stripe webhooks with exponential backoff."),
        {"content": "", "project_id": project},
        {"content": 42, "project_id": project},
        item(&bobs, "Written into someone else's project."),
        {"content": "No such project.", "project_id": "0190a7a0-0000-7000-8000-000000000000"},
        item(&project, "PAY-102: invoices are numbered per tenant and year."),
        {"content": "Bad source.", "project_id": project, "metadata": {"source": "Not Valid"}},
    ]);
    let r = app.post("/context/batch", Some(&ann.api_key), json!({"items": items})).await;
    let body = r.assert_status(200).clone();
    assert_eq!((body["saved"].as_u64(), body["failed"].as_u64()), (Some(2), Some(5)), "{body}");
    assert!(body.get("degraded").is_none());
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 7);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i, "one result per item, in order");
    }
    let code = |i: usize| results[i]["error"]["code"].as_str().unwrap_or("").to_string();
    assert_eq!(results[0]["status"], "saved");
    assert_eq!(results[0]["context"]["project_name"], "imports");
    assert_eq!(code(1), "INVALID_INPUT");
    assert_eq!(code(2), "INVALID_INPUT");
    assert_eq!(code(3), "PROJECT_NOT_FOUND", "someone else's project is not there for ann");
    assert_eq!(code(4), "PROJECT_NOT_FOUND");
    assert_eq!(results[5]["status"], "saved");
    assert_eq!(code(6), "INVALID_INPUT");
    assert_eq!(results[1]["error"]["details"]["field"], "content");

    // Exactly the two good items were written, and they are searchable at once.
    let listed = app.get(&format!("/projects/{project}/context"), &ann.api_key).await;
    assert_eq!(listed.assert_status(200)["items"].as_array().unwrap().len(), 2);
    let listed = app.get(&format!("/projects/{bobs}/context"), &bob.api_key).await;
    assert_eq!(listed.assert_status(200)["items"], json!([]), "nothing written for bob");
    let found = app
        .post(
            "/context/search",
            Some(&ann.api_key),
            json!({"query": "Stripe webhooks", "mode": "hybrid"}),
        )
        .await;
    let found = found.assert_status(200);
    assert_eq!(found["results"][0]["id"], results[0]["context"]["id"]);
    assert_eq!(found["results"][0]["metadata"]["source"], "jira");
}

#[tokio::test]
async fn batch_unhappy_paths() {
    let app = TestApp::new().await;
    let ann = app.register("ann").await;
    let project = app.create_project(&ann.api_key, "imports").await;
    let batch =
        async |auth: Option<&str>, body: Value| app.post("/context/batch", auth, body).await;

    batch(None, json!({"items": [item(&project, "x")]}))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let r = batch(Some(&ann.api_key), json!({"items": []})).await;
    r.assert_error(422, "INVALID_INPUT");
    assert_eq!(r.body["error"]["details"]["field"], "items");
    batch(Some(&ann.api_key), json!({})).await.assert_error(400, "MISSING_REQUIRED_FIELD");
    batch(Some(&ann.api_key), json!({"items": "not a list"}))
        .await
        .assert_error(422, "INVALID_INPUT");
    let too_many: Vec<Value> = (0..101).map(|i| item(&project, &format!("note {i}"))).collect();
    let r = batch(Some(&ann.api_key), json!({"items": too_many})).await;
    r.assert_error(422, "INVALID_INPUT");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("100"));

    // A read-only key may not write, whatever the items.
    let ro = app
        .post("/users/me/api-keys", Some(&ann.api_key), json!({"name": "ro", "scopes": ["read"]}))
        .await;
    let ro = ro.assert_status(201)["key"].as_str().unwrap().to_string();
    batch(Some(&ro), json!({"items": [item(&project, "x")]}))
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");

    // The whole body is bound by the request size limit.
    let big = "x".repeat(700_000);
    let items: Vec<Value> = (0..20).map(|_| item(&project, &big)).collect();
    batch(Some(&ann.api_key), json!({"items": items})).await.assert_error(413, "CONTEXT_TOO_LARGE");

    let listed = app.get(&format!("/projects/{project}/context"), &ann.api_key).await;
    assert_eq!(listed.assert_status(200)["items"], json!([]), "no unhappy path wrote anything");

    // A hundred items is the limit, not beyond it.
    let hundred: Vec<Value> =
        (0..100).map(|i| item(&project, &format!("note number {i}"))).collect();
    let r = batch(Some(&ann.api_key), json!({"items": hundred})).await;
    assert_eq!(r.assert_status(200)["saved"], 100);
}
