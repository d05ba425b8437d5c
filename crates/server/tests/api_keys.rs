//! `/users/me/api-keys` and rotation: keys shown once, scopes, project restriction, revocation,
//! the 24-hour grace period after rotation, and batched `last_used_at`.

mod support;

use chrono::Duration;
use reqwest::Method;
use serde_json::json;
use support::TestApp;

#[tokio::test]
async fn keys_are_listed_without_secrets_and_shown_once() {
    let app = TestApp::new().await;
    let u = app.register("ann").await;
    let created =
        app.post("/users/me/api-keys", Some(&u.access_token), json!({"name": "cursor"})).await;
    let b = created.assert_status(201).clone();
    let key = b["key"].as_str().unwrap();
    assert_eq!(b["name"], "cursor");
    assert_eq!(b["project_id"], serde_json::Value::Null);
    app.get("/users/me", key).await.assert_status(200);

    let list = app.get("/users/me/api-keys", key).await;
    let items = list.assert_status(200).as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["name"], "default");
    assert_eq!(items[1]["prefix"].as_str().unwrap(), &key[..11]);
    let text = list.body.to_string();
    assert!(!text.contains(key) && !text.contains(&u.api_key), "secrets never listed");
    assert!(items.iter().all(|k| k.get("key").is_none() && k.get("hash").is_none()));
}

#[tokio::test]
async fn create_key_validation() {
    let app = TestApp::new().await;
    let u = app.register("bob").await;
    let other = app.register("eve").await;
    let theirs = app.create_project(&other.api_key, "eve's").await;
    let create = |body| app.post("/users/me/api-keys", Some(&u.api_key), body);
    create(json!({})).await.assert_error(400, "MISSING_REQUIRED_FIELD");
    create(json!({"name": "x", "scopes": ["admin"]})).await.assert_error(422, "INVALID_INPUT");
    create(json!({"name": "x", "scopes": []})).await.assert_error(422, "INVALID_INPUT");
    create(json!({"name": "x", "project_id": theirs})).await.assert_error(404, "PROJECT_NOT_FOUND");
    create(json!({"name": "x", "project_id": "not-a-uuid"}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.send(Method::POST, "/users/me/api-keys", None, Some(json!({"name": "x"})))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");

    let read_only = create(json!({"name": "ro", "scopes": ["read"]})).await;
    let ro = read_only.assert_status(201)["key"].as_str().unwrap().to_string();
    let escalate = app
        .post("/users/me/api-keys", Some(&ro), json!({"name": "rw", "scopes": ["read", "write"]}))
        .await;
    escalate.assert_error(403, "INSUFFICIENT_PERMISSIONS");
}

#[tokio::test]
async fn read_scope_cannot_write() {
    let app = TestApp::new().await;
    let u = app.register("cat").await;
    let p = app.create_project(&u.api_key, "alpha").await;
    let ro = app
        .post("/users/me/api-keys", Some(&u.api_key), json!({"name": "ro", "scopes": ["read"]}))
        .await;
    let ro = ro.assert_status(201)["key"].as_str().unwrap().to_string();
    app.get("/projects", &ro).await.assert_status(200);
    app.get(&format!("/projects/{p}"), &ro).await.assert_status(200);
    app.post("/projects", Some(&ro), json!({"name": "beta"}))
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    app.put(&format!("/projects/{p}"), &ro, json!({"name": "x"}))
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    app.delete(&format!("/projects/{p}"), &ro).await.assert_error(403, "INSUFFICIENT_PERMISSIONS");
}

#[tokio::test]
async fn project_restricted_keys_see_one_project() {
    let app = TestApp::new().await;
    let u = app.register("dan").await;
    let alpha = app.create_project(&u.api_key, "alpha").await;
    let beta = app.create_project(&u.api_key, "beta").await;
    let r = app
        .post(
            "/users/me/api-keys",
            Some(&u.api_key),
            json!({"name": "alpha only", "project_id": alpha}),
        )
        .await;
    let k = r.assert_status(201)["key"].as_str().unwrap().to_string();

    let list = app.get("/projects", &k).await;
    let ids: Vec<&str> = list.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![alpha.as_str()]);
    app.get(&format!("/projects/{alpha}"), &k).await.assert_status(200);
    app.get(&format!("/projects/{beta}"), &k).await.assert_error(404, "PROJECT_NOT_FOUND");
    app.post("/projects", Some(&k), json!({"name": "gamma"}))
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    app.post("/users/me/api-keys", Some(&k), json!({"name": "wider"}))
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    app.post("/users/me/api-keys", Some(&k), json!({"name": "same", "project_id": alpha}))
        .await
        .assert_status(201);
}

#[tokio::test]
async fn revoked_keys_stop_at_once() {
    let app = TestApp::new().await;
    let u = app.register("eli").await;
    let other = app.register("fox").await;
    let r = app.post("/users/me/api-keys", Some(&u.api_key), json!({"name": "temp"})).await;
    let b = r.assert_status(201).clone();
    let (id, key) = (b["id"].as_str().unwrap(), b["key"].as_str().unwrap());
    app.get("/users/me", key).await.assert_status(200);

    app.delete(&format!("/users/me/api-keys/{id}"), &other.api_key)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    app.delete(&format!("/users/me/api-keys/{id}"), &u.api_key).await.assert_status(204);
    let refused = app.get("/users/me", key).await;
    refused.assert_error(401, "INVALID_API_KEY");
    assert_eq!(refused.body["error"]["details"]["reason"], "revoked");
    assert!(refused.body["error"]["details"]["revoked_at"].is_string());
    app.delete(&format!("/users/me/api-keys/{id}"), &u.api_key)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    app.delete("/users/me/api-keys/not-a-uuid", &u.api_key)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
}

#[tokio::test]
async fn rotation_keeps_the_old_key_for_the_grace_period() {
    let app = TestApp::new().await;
    let u = app.register("gil").await;
    let r = app.send(Method::POST, "/users/me/api-key/rotate", Some(&u.api_key), None).await;
    let b = r.assert_status(200).clone();
    let new_key = b["key"].as_str().unwrap().to_string();
    assert_ne!(new_key, u.api_key);
    assert_eq!(b["previous_id"], u.api_key_id.as_str());
    assert_eq!(b["name"], "default");
    let expires: chrono::DateTime<chrono::Utc> =
        b["previous_expires_at"].as_str().unwrap().parse().unwrap();
    let expected = app.services().now() + Duration::hours(24);
    assert!((expires - expected).num_seconds().abs() < 5, "{expires} vs {expected}");

    app.get("/users/me", &u.api_key).await.assert_status(200);
    app.clock.advance(Duration::hours(23));
    app.get("/users/me", &u.api_key).await.assert_status(200);
    app.clock.advance(Duration::hours(1) + Duration::seconds(1));
    let expired = app.get("/users/me", &u.api_key).await;
    expired.assert_error(401, "INVALID_API_KEY");
    assert_eq!(expired.body["error"]["details"]["reason"], "expired");
    app.get("/users/me", &new_key).await.assert_status(200);
}

#[tokio::test]
async fn rotation_with_a_jwt_picks_a_key() {
    let app = TestApp::new().await;
    let u = app.register("hana").await;
    let other = app.register("ivan").await;
    let created = app
        .post(
            "/users/me/api-keys",
            Some(&u.access_token),
            json!({"name": "ci", "scopes": ["read"]}),
        )
        .await;
    let ci_id = created.assert_status(201)["id"].as_str().unwrap().to_string();
    // Two keys: without a key_id the oldest (the registration's) is the one rotated.
    let by_default = app.post("/users/me/api-key/rotate", Some(&u.access_token), json!({})).await;
    assert_eq!(by_default.assert_status(200)["previous_id"], u.api_key_id.as_str());
    let named =
        app.post("/users/me/api-key/rotate", Some(&u.access_token), json!({"key_id": ci_id})).await;
    let b = named.assert_status(200);
    assert_eq!(b["name"], "ci");
    assert_eq!(b["scopes"], json!(["read"]));

    let foreign = app
        .post(
            "/users/me/api-key/rotate",
            Some(&u.access_token),
            json!({"key_id": other.api_key_id}),
        )
        .await;
    foreign.assert_error(404, "RESOURCE_NOT_FOUND");
    let bad = app
        .client
        .post(app.url("/users/me/api-key/rotate"))
        .bearer_auth(&u.access_token)
        .body("{oops")
        .send()
        .await
        .unwrap();
    TestApp::read(bad).await.assert_error(400, "INVALID_INPUT");
}

#[tokio::test]
async fn last_used_is_recorded_in_batches() {
    let app = TestApp::new().await;
    let u = app.register("jay").await;
    let before = app.get("/users/me/api-keys", &u.access_token).await;
    assert!(before.assert_status(200)[0]["last_used_at"].is_null());
    app.get("/users/me", &u.api_key).await.assert_status(200);
    app.services().flush_key_usage().await;
    let after = app.get("/users/me/api-keys", &u.access_token).await;
    assert!(after.assert_status(200)[0]["last_used_at"].is_string());
}

#[tokio::test]
async fn a_restricted_key_lists_its_project_whatever_the_page_size() {
    let app = TestApp::new().await;
    let u = app.register("kit").await;
    let oldest = app.create_project(&u.api_key, "oldest").await;
    for i in 0..3 {
        app.create_project(&u.api_key, &format!("newer {i}")).await;
    }
    let r = app
        .post("/users/me/api-keys", Some(&u.api_key), json!({"name": "old", "project_id": oldest}))
        .await;
    let key = r.assert_status(201)["key"].as_str().unwrap().to_string();
    let page = app.get("/projects?limit=1", &key).await;
    let items = page.assert_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{}", page.body);
    assert_eq!(items[0]["id"], oldest.as_str());
    assert!(page.body["next_cursor"].is_null());
    let deleted = app.get("/projects?deleted=true", &key).await;
    assert!(deleted.assert_status(200)["items"].as_array().unwrap().is_empty());
}

/// Hole 4 of the hardening issue: a write-only key named the user's read+write key in a
/// rotation and received a fresh read+write key. No path may mint a key stronger than the caller.
#[tokio::test]
async fn a_key_never_rotates_or_revokes_a_stronger_key() {
    let app = TestApp::new().await;
    let u = app.register("gil").await;
    let write_only = app
        .post("/users/me/api-keys", Some(&u.api_key), json!({"name": "wo", "scopes": ["write"]}))
        .await;
    let wo = write_only.assert_status(201)["key"].as_str().unwrap().to_string();
    let read_only = app
        .post("/users/me/api-keys", Some(&u.api_key), json!({"name": "ro", "scopes": ["read"]}))
        .await;
    let ro_id = read_only.assert_status(201)["id"].as_str().unwrap().to_string();

    for target in [&u.api_key_id, &ro_id] {
        app.post("/users/me/api-key/rotate", Some(&wo), json!({"key_id": target}))
            .await
            .assert_error(403, "INSUFFICIENT_PERMISSIONS");
        app.delete(&format!("/users/me/api-keys/{target}"), &wo)
            .await
            .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    }
    // The first key is untouched: neither rotated (no expiry) nor revoked.
    app.get("/users/me", &u.api_key).await.assert_status(200);
    let keys = app.get("/users/me/api-keys", &u.api_key).await;
    let first = keys.body.as_array().unwrap().iter().find(|k| k["id"] == json!(u.api_key_id));
    assert!(first.unwrap()["expires_at"].is_null(), "{}", keys.body);
    // A key may still rotate itself and keys no stronger than itself.
    let own = app.post("/users/me/api-key/rotate", Some(&wo), json!({})).await;
    assert_eq!(own.assert_status(200)["scopes"], json!(["write"]));
}

/// A key restricted to one project lists itself alone, not the user's other keys.
#[tokio::test]
async fn a_restricted_key_lists_only_itself() {
    let app = TestApp::new().await;
    let u = app.register("hal").await;
    let alpha = app.create_project(&u.api_key, "alpha").await;
    let r = app
        .post("/users/me/api-keys", Some(&u.api_key), json!({"name": "a", "project_id": alpha}))
        .await;
    let b = r.assert_status(201).clone();
    let (id, key) = (b["id"].as_str().unwrap(), b["key"].as_str().unwrap());
    let listed = app.get("/users/me/api-keys", key).await;
    let ids: Vec<&str> = listed
        .assert_status(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id]);
    let all = app.get("/users/me/api-keys", &u.api_key).await;
    assert_eq!(all.assert_status(200).as_array().unwrap().len(), 2);
}
