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

    let invited = app.post(&path, Some(&owner.api_key), json!({"email": "IDA@example.com"})).await;
    let invitation = invited.assert_status(202).clone();
    assert_eq!(invitation["email"], "ida@example.com");
    assert_eq!(invitation["role"], "contributor");
    assert_eq!(invitation["status"], "pending");
    let by_id = app.post(&path, Some(&owner.api_key), json!({"user_id": d.id})).await;
    let by_id = by_id.assert_status(202)["id"].as_str().unwrap().to_string();
    app.post(&path, Some(&owner.api_key), json!({"email": c.email}))
        .await
        .assert_error(409, "CONFLICT");
    app.post(&path, Some(&owner.api_key), json!({"user_id": owner.id}))
        .await
        .assert_error(409, "CONFLICT");
    app.post(&path, Some(&owner.api_key), json!({"user_id": uuid::Uuid::now_v7()}))
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    app.post(&path, Some(&owner.api_key), json!({"email": "not an address"}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post(&path, Some(&owner.api_key), json!({}))
        .await
        .assert_error(400, "MISSING_REQUIRED_FIELD");
    app.post(&path, Some(&owner.api_key), json!({"email": c.email, "user_id": c.id}))
        .await
        .assert_error(422, "INVALID_INPUT");

    // Both accept; the owner's pending list empties.
    for (user, id) in [(&c, invitation["id"].as_str().unwrap()), (&d, by_id.as_str())] {
        app.post(
            &format!("/users/me/invitations/{id}/accept"),
            Some(&user.access_token),
            json!({}),
        )
        .await
        .assert_status(200);
    }
    let pending = app.get(&format!("/projects/{id}/invitations"), &owner.api_key).await;
    assert!(pending.assert_status(200).as_array().unwrap().is_empty());

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
    app.add_contributor(&owner.api_key, &id, &c).await;
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
    app.add_contributor(&owner.api_key, &id, &c).await;
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
    // Beside the expired one: a project deleted a moment ago and a live one, both to be kept.
    let recent = app.create_project(&owner.api_key, "deleted today").await;
    let live = app.create_project(&owner.api_key, "live").await;
    app.delete(&format!("/projects/{recent}"), &owner.api_key).await.assert_status(204);
    app.clock.advance(Duration::seconds(1));
    assert_eq!(app.services().purge_expired_projects().await.unwrap(), 1);
    let left = app.get("/projects?deleted=true", &owner.api_key).await;
    let left = left.assert_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["id"], recent.as_str());
    app.get(&format!("/projects/{live}"), &owner.api_key).await.assert_status(200);
    app.post(&format!("/projects/{recent}/restore"), Some(&owner.api_key), json!({}))
        .await
        .assert_status(200);
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

/// Hole 1 of the hardening issue: adding someone as a contributor made them a member at once,
/// and their saves without `project_id` then went to the attacker's project. Now an invitation
/// grants nothing until it is accepted, and the answer does not tell who has an account.
#[tokio::test]
async fn an_invitation_grants_nothing_until_accepted() {
    let app = TestApp::new().await;
    let mallory = app.register("mallory").await;
    let victim = app.register("victim").await;
    let own = app.create_project(&victim.api_key, "victim's own").await;
    let trap = app.create_project(&mallory.api_key, "trap").await;
    let path = format!("/projects/{trap}/contributors");

    // Known and unknown addresses get answers of the same shape and status.
    let known = app.post(&path, Some(&mallory.api_key), json!({"email": victim.email})).await;
    let unknown =
        app.post(&path, Some(&mallory.api_key), json!({"email": "ghost@example.com"})).await;
    let (known, unknown) = (known.assert_status(202).clone(), unknown.assert_status(202).clone());
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&known), keys(&unknown));
    assert_eq!(known["status"], unknown["status"]);

    // Pending: the trap counts nowhere for the victim.
    let projects = app.get("/projects", &victim.api_key).await;
    let ids: Vec<&str> = projects.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![own.as_str()]);
    app.get(&format!("/projects/{trap}"), &victim.api_key)
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");
    let saved = app
        .post(
            "/context/save",
            Some(&victim.api_key),
            json!({"content": "our deploy key rotation plan"}),
        )
        .await;
    assert_eq!(saved.assert_status(201)["project_id"], own.as_str(), "{}", saved.body);
    let searched = app
        .post(
            "/context/search",
            Some(&victim.api_key),
            json!({"query": "anything", "project_ids": [trap], "mode": "keyword"}),
        )
        .await;
    assert_eq!(searched.status, 404, "{}", searched.body);

    // The victim sees who invited them where, and declines.
    let mine = app.get("/users/me/invitations", &victim.api_key).await;
    let mine = mine.assert_status(200).as_array().unwrap().clone();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["project_name"], "trap");
    assert_eq!(mine[0]["invited_by"]["email"], mallory.email.as_str());
    let id = mine[0]["id"].as_str().unwrap();
    // Nobody else can act on it, and a key restricted to a project cannot either.
    for other in [&mallory.access_token, &app.register("bystander").await.access_token] {
        app.post(&format!("/users/me/invitations/{id}/accept"), Some(other), json!({}))
            .await
            .assert_error(404, "RESOURCE_NOT_FOUND");
    }
    let restricted = app
        .post("/users/me/api-keys", Some(&victim.api_key), json!({"name": "r", "project_id": own}))
        .await;
    let restricted = restricted.assert_status(201)["key"].as_str().unwrap().to_string();
    app.post(&format!("/users/me/invitations/{id}/accept"), Some(&restricted), json!({}))
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    app.post(&format!("/users/me/invitations/{id}/decline"), Some(&victim.api_key), json!({}))
        .await
        .assert_status(204);
    app.post(&format!("/users/me/invitations/{id}/accept"), Some(&victim.api_key), json!({}))
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    assert!(
        app.get("/users/me/invitations", &victim.api_key).await.body.as_array().unwrap().is_empty()
    );

    // An account registered later with an invited address finds its invitation.
    let ghost = app.register("ghost").await;
    let waiting = app.get("/users/me/invitations", &ghost.api_key).await;
    assert_eq!(waiting.assert_status(200).as_array().unwrap().len(), 1);
    // The owner withdraws it; it is gone for the invitee too.
    let pending = app.get(&format!("/projects/{trap}/invitations"), &mallory.api_key).await;
    let ghost_invitation = pending.assert_status(200)[0]["id"].as_str().unwrap().to_string();
    app.get(&format!("/projects/{trap}/invitations"), &ghost.api_key)
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");
    app.delete(&format!("/projects/{trap}/invitations/{ghost_invitation}"), &mallory.api_key)
        .await
        .assert_status(204);
    app.delete(&format!("/projects/{trap}/invitations/{ghost_invitation}"), &mallory.api_key)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    assert!(
        app.get("/users/me/invitations", &ghost.api_key).await.body.as_array().unwrap().is_empty()
    );
}

/// While addresses are verified, only the verified holder of an address may accept.
#[tokio::test]
async fn accepting_needs_a_verified_address_when_verification_is_on() {
    let app = TestApp::with_env(&[("EMAIL_VERIFICATION", "limited")]).await;
    let owner = app.register("ona").await;
    let guest = app.register("gus").await;
    let p = app.create_project(&owner.api_key, "p").await;
    let r = app
        .post(
            &format!("/projects/{p}/contributors"),
            Some(&owner.api_key),
            json!({"email": guest.email}),
        )
        .await;
    let id = r.assert_status(202)["id"].as_str().unwrap().to_string();
    let accept = format!("/users/me/invitations/{id}/accept");
    app.post(&accept, Some(&guest.api_key), json!({}))
        .await
        .assert_error(403, "EMAIL_NOT_VERIFIED");
    app.services().admin_verify_email(&guest.email).await.unwrap();
    let joined = app.post(&accept, Some(&guest.api_key), json!({})).await;
    assert_eq!(joined.assert_status(200)["role"], "contributor");
}
