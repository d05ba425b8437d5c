//! `/projects` and contributors: CRUD, pagination, visibility, the 404-versus-403 rule,
//! contributor management and removal taking effect at once, soft delete, restore and purge.

mod support;

use chrono::Duration;
use serde_json::json;
use support::TestApp;

#[tokio::test]
async fn create_read_update_list() {
    let app = TestApp::new().await;
    let u = app.register("ann").await;
    let r = app
        .post(
            "/projects",
            Some(&u.api_key),
            json!({
                "name": "payments", "description": "The payment service", "visibility": "team",
                "settings": {"auto_scan": true}
            }),
        )
        .await;
    let p = r.assert_status(201).clone();
    assert_eq!(p["role"], "owner");
    assert_eq!(p["visibility"], "team");
    assert_eq!(p["settings"], json!({"auto_scan": true, "embedding_model": "all-MiniLM-L6-v2"}));
    let id = p["id"].as_str().unwrap();

    let got = app.get(&format!("/projects/{id}"), &u.access_token).await;
    assert_eq!(got.assert_status(200), &p, "a read returns what the create returned");

    let updated = app
        .put(
            &format!("/projects/{id}"),
            &u.api_key,
            json!({"description": "Payments and refunds", "visibility": "private"}),
        )
        .await;
    let b = updated.assert_status(200);
    assert_eq!(b["name"], "payments");
    assert_eq!(b["description"], "Payments and refunds");
    assert_eq!(b["visibility"], "private");
    assert_eq!(b["settings"]["auto_scan"], true);

    let list = app.get("/projects", &u.api_key).await;
    assert_eq!(list.assert_status(200)["items"][0]["description"], "Payments and refunds");
}

#[tokio::test]
async fn project_input_is_validated() {
    let app = TestApp::new().await;
    let u = app.register("bob").await;
    let create = |body| app.post("/projects", Some(&u.api_key), body);
    create(json!({"description": "no name"})).await.assert_error(400, "MISSING_REQUIRED_FIELD");
    create(json!({"name": "  "})).await.assert_error(422, "INVALID_INPUT");
    create(json!({"name": "x".repeat(201)})).await.assert_error(422, "INVALID_INPUT");
    create(json!({"name": "x", "visibility": "public"})).await.assert_error(422, "INVALID_INPUT");
    create(json!({"name": "x", "settings": {"embedding_model": ""}}))
        .await
        .assert_error(422, "INVALID_INPUT");
    create(json!({"name": "x", "settings": {"auto_scan": "yes"}}))
        .await
        .assert_error(422, "INVALID_INPUT");
    let id = app.create_project(&u.api_key, "ok").await;
    app.put(&format!("/projects/{id}"), &u.api_key, json!({"name": ""}))
        .await
        .assert_error(422, "INVALID_INPUT");
}

#[tokio::test]
async fn lists_are_paged_by_cursor() {
    let app = TestApp::new().await;
    let u = app.register("cal").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_project(&u.api_key, &format!("p{i}")).await);
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/projects?limit=2&cursor={c}"),
            None => "/projects?limit=2".to_string(),
        };
        let page = app.get(&path, &u.api_key).await;
        let b = page.assert_status(200);
        seen.extend(
            b["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()),
        );
        match b["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every project once, newest first");
    app.get("/projects?limit=0", &u.api_key).await.assert_error(422, "INVALID_INPUT");
    app.get("/projects?limit=101", &u.api_key).await.assert_error(422, "INVALID_INPUT");
    app.get("/projects?limit=lots", &u.api_key).await.assert_error(400, "INVALID_INPUT");
    app.get("/projects?cursor=garbage!", &u.api_key).await.assert_error(400, "INVALID_INPUT");
}

#[tokio::test]
async fn other_users_private_projects_do_not_exist_for_them() {
    let app = TestApp::new().await;
    let owner = app.register("dee").await;
    let stranger = app.register("eve").await;
    let id = app.create_project(&owner.api_key, "secret").await;
    for r in [
        app.get(&format!("/projects/{id}"), &stranger.api_key).await,
        app.put(&format!("/projects/{id}"), &stranger.api_key, json!({"name": "mine"})).await,
        app.delete(&format!("/projects/{id}"), &stranger.api_key).await,
        app.get(&format!("/projects/{id}/contributors"), &stranger.api_key).await,
        app.post(
            &format!("/projects/{id}/contributors"),
            Some(&stranger.api_key),
            json!({"email": stranger.email}),
        )
        .await,
        app.post(&format!("/projects/{id}/restore"), Some(&stranger.api_key), json!({})).await,
    ] {
        r.assert_error(404, "PROJECT_NOT_FOUND");
    }
    let list = app.get("/projects", &stranger.api_key).await;
    assert!(list.assert_status(200)["items"].as_array().unwrap().is_empty());
    let unknown = uuid::Uuid::now_v7();
    app.get(&format!("/projects/{unknown}"), &owner.api_key)
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");
    app.get("/projects/not-a-uuid", &owner.api_key).await.assert_error(404, "PROJECT_NOT_FOUND");
    app.send(reqwest::Method::GET, &format!("/projects/{id}"), None, None)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn team_projects_are_readable_but_not_writable_by_non_members() {
    let app = TestApp::new().await;
    let owner = app.register("fay").await;
    let reader = app.register("gus").await;
    let r = app
        .post("/projects", Some(&owner.api_key), json!({"name": "handbook", "visibility": "team"}))
        .await;
    let id = r.assert_status(201)["id"].as_str().unwrap().to_string();
    let got = app.get(&format!("/projects/{id}"), &reader.api_key).await;
    assert_eq!(got.assert_status(200)["role"], serde_json::Value::Null);
    app.get(&format!("/projects/{id}/contributors"), &reader.api_key).await.assert_status(200);
    app.put(&format!("/projects/{id}"), &reader.api_key, json!({"name": "x"}))
        .await
        .assert_error(403, "PROJECT_ACCESS_DENIED");
    app.delete(&format!("/projects/{id}"), &reader.api_key)
        .await
        .assert_error(403, "PROJECT_ACCESS_DENIED");
    app.post(
        &format!("/projects/{id}/contributors"),
        Some(&reader.api_key),
        json!({"email": reader.email}),
    )
    .await
    .assert_error(403, "PROJECT_ACCESS_DENIED");
}

#[tokio::test]
async fn contributors_are_managed_by_the_owner() {
    let app = TestApp::new().await;
    let owner = app.register("hal").await;
    let c = app.register("ida").await;
    let d = app.register("jim").await;
    let id = app.create_project(&owner.api_key, "shared").await;
    let path = format!("/projects/{id}/contributors");

    let added = app.post(&path, Some(&owner.api_key), json!({"email": "IDA@example.com"})).await;
    let m = added.assert_status(201);
    assert_eq!(m["user_id"], c.id.as_str());
    assert_eq!(m["role"], "contributor");
    app.post(&path, Some(&owner.api_key), json!({"user_id": d.id})).await.assert_status(201);
    app.post(&path, Some(&owner.api_key), json!({"email": c.email}))
        .await
        .assert_error(409, "CONFLICT");
    app.post(&path, Some(&owner.api_key), json!({"user_id": owner.id}))
        .await
        .assert_error(409, "CONFLICT");
    app.post(&path, Some(&owner.api_key), json!({"email": "nobody@example.com"}))
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    app.post(&path, Some(&owner.api_key), json!({}))
        .await
        .assert_error(400, "MISSING_REQUIRED_FIELD");
    app.post(&path, Some(&owner.api_key), json!({"email": c.email, "user_id": c.id}))
        .await
        .assert_error(422, "INVALID_INPUT");

    let members = app.get(&path, &c.api_key).await;
    let roles: Vec<(String, String)> = members
        .assert_status(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap().to_string(), m["role"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        roles,
        vec![
            ("hal".into(), "owner".into()),
            ("ida".into(), "contributor".into()),
            ("jim".into(), "contributor".into())
        ]
    );

    // Contributors see and list the project, but cannot administer it.
    let listed = app.get("/projects", &c.api_key).await;
    assert_eq!(listed.assert_status(200)["items"][0]["role"], "contributor");
    app.put(&format!("/projects/{id}"), &c.api_key, json!({"name": "mine"}))
        .await
        .assert_error(403, "PROJECT_ACCESS_DENIED");
    app.post(&path, Some(&c.api_key), json!({"email": "x@example.com"}))
        .await
        .assert_error(403, "PROJECT_ACCESS_DENIED");
    app.delete(&format!("{path}/{}", d.id), &c.api_key)
        .await
        .assert_error(403, "PROJECT_ACCESS_DENIED");
    app.delete(&format!("{path}/{}", owner.id), &owner.api_key)
        .await
        .assert_error(422, "INVALID_INPUT");

    // A contributor may leave.
    app.delete(&format!("{path}/{}", d.id), &d.api_key).await.assert_status(204);
    app.get(&format!("/projects/{id}"), &d.api_key).await.assert_error(404, "PROJECT_NOT_FOUND");
    app.delete(&format!("{path}/{}", d.id), &owner.api_key)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    app.delete(&format!("{path}/not-a-uuid"), &owner.api_key)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
}

#[tokio::test]
async fn a_removed_contributor_loses_access_on_the_next_request() {
    let app = TestApp::new().await;
    let owner = app.register("kay").await;
    let c = app.register("lou").await;
    let id = app.create_project(&owner.api_key, "shared").await;
    app.add_contributor(&owner.api_key, &id, &c.email).await;
    app.get(&format!("/projects/{id}"), &c.api_key).await.assert_status(200);
    app.delete(&format!("/projects/{id}/contributors/{}", c.id), &owner.api_key)
        .await
        .assert_status(204);
    app.get(&format!("/projects/{id}"), &c.api_key).await.assert_error(404, "PROJECT_NOT_FOUND");
    app.get(&format!("/projects/{id}"), &c.access_token)
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");
    assert!(
        app.get("/projects", &c.api_key).await.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn soft_delete_restore_window_and_purge() {
    let app = TestApp::new().await;
    let owner = app.register("max").await;
    let c = app.register("ned").await;
    let id = app.create_project(&owner.api_key, "doomed").await;
    app.add_contributor(&owner.api_key, &id, &c.email).await;
    app.delete(&format!("/projects/{id}"), &c.api_key)
        .await
        .assert_error(403, "PROJECT_ACCESS_DENIED");
    app.delete(&format!("/projects/{id}"), &owner.api_key).await.assert_status(204);

    for key in [&owner.api_key, &c.api_key] {
        app.get(&format!("/projects/{id}"), key).await.assert_error(404, "PROJECT_NOT_FOUND");
    }
    app.delete(&format!("/projects/{id}"), &owner.api_key)
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");
    let deleted = app.get("/projects?deleted=true", &owner.api_key).await;
    assert_eq!(deleted.assert_status(200)["items"][0]["id"], id.as_str());
    assert!(deleted.body["items"][0]["deleted_at"].is_string());
    app.post(&format!("/projects/{id}/restore"), Some(&c.api_key), json!({}))
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");

    app.clock.advance(Duration::days(29));
    let restored =
        app.post(&format!("/projects/{id}/restore"), Some(&owner.api_key), json!({})).await;
    assert!(restored.assert_status(200)["deleted_at"].is_null());
    app.get(&format!("/projects/{id}"), &c.api_key).await.assert_status(200);

    app.delete(&format!("/projects/{id}"), &owner.api_key).await.assert_status(204);
    app.clock.advance(Duration::days(30) + Duration::seconds(1));
    app.post(&format!("/projects/{id}/restore"), Some(&owner.api_key), json!({}))
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");
    assert_eq!(app.services().purge_expired_projects().await.unwrap(), 1);
    let gone = app.get("/projects?deleted=true", &owner.api_key).await;
    assert!(gone.assert_status(200)["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = TestApp::with_env(&[("MAX_BODY_BYTES", "4096")]).await;
    let u = app.register("oli").await;
    let big = app
        .post("/projects", Some(&u.api_key), json!({"name": "x", "description": "d".repeat(5000)}))
        .await;
    big.assert_error(413, "CONTEXT_TOO_LARGE");
    app.post("/projects", Some(&u.api_key), json!({"name": "x", "description": "d".repeat(3000)}))
        .await
        .assert_status(201);
}
