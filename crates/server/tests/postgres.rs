//! The server on PostgreSQL (`DATABASE_URL=postgres://…`), end to end over HTTP: saving,
//! hybrid / vector / keyword search and access scoping; two servers on one database seeing each
//! other's writes at once (as replicas do); a restart keeping everything searchable; moving a
//! SQLite installation over with `teamcontext migrate-data`. Each test gets a database of its
//! own (`TestDatabase`).

mod support;

use serde_json::json;
use support::TestApp;
use tc_store_postgres::testing::TestDatabase;

const SECRET: &str = "a shared signing secret of at least 32 bytes";
const WEBHOOKS: &str = "We retry failed Stripe webhook deliveries with exponential backoff for up to three days, then page the payments on-call.";
const DEPLOY: &str =
    "Deployments go out every weekday at 14:00 UTC through the blue-green pipeline.";

async fn server_on(db: &TestDatabase, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![
        ("DATABASE_URL", db.url()),
        ("JWT_SECRET_KEY", SECRET),
        ("ENCRYPTION_KEY", support::ENCRYPTION_KEY),
    ];
    env.extend_from_slice(extra);
    TestApp::with_model(&env).await
}

fn ids(results: &serde_json::Value) -> Vec<String> {
    results["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn saves_searches_and_scopes_on_postgres() {
    let db = TestDatabase::create().await;
    let app = server_on(&db, &[]).await;
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let project = app.create_project(&alice.api_key, "payments").await;
    let save = |content: &str| json!({"project_id": project, "content": content, "metadata": {"tags": ["ops"]}});
    let webhooks = app.post("/context/save", Some(&alice.api_key), save(WEBHOOKS)).await;
    let webhooks = webhooks.assert_status(201)["id"].as_str().unwrap().to_string();
    app.post("/context/save", Some(&alice.api_key), save(DEPLOY)).await.assert_status(201);

    for mode in ["hybrid", "vector", "keyword"] {
        let found = app
            .post(
                "/context/search",
                Some(&alice.api_key),
                json!({"query": "how do we retry stripe webhooks", "mode": mode, "similarity_threshold": 0.2}),
            )
            .await;
        let found = ids(found.assert_status(200));
        assert_eq!(found.first(), Some(&webhooks), "{mode}: {found:?}");
    }
    let query = json!({"query": "stripe webhook retries", "similarity_threshold": 0.2});
    // Bob is not a member of the private project: nothing, and its context is not found.
    let r = app.post("/context/search", Some(&bob.api_key), query.clone()).await;
    assert!(ids(r.assert_status(200)).is_empty());
    app.get(&format!("/context/{webhooks}"), &bob.api_key)
        .await
        .assert_error(404, "CONTEXT_NOT_FOUND");
    // As a contributor he finds it; removed again, he does not.
    app.add_contributor(&alice.api_key, &project, &bob).await;
    let r = app.post("/context/search", Some(&bob.api_key), query.clone()).await;
    assert_eq!(ids(r.assert_status(200)).first(), Some(&webhooks));
    app.delete(&format!("/projects/{project}/contributors/{}", bob.id), &alice.api_key)
        .await
        .assert_status(204);
    let r = app.post("/context/search", Some(&bob.api_key), query.clone()).await;
    assert!(ids(r.assert_status(200)).is_empty());
    // A listed, filtered, deleted context.
    let listed = app.get(&format!("/projects/{project}/context?tag=ops"), &alice.api_key).await;
    assert_eq!(listed.assert_status(200)["items"].as_array().map(Vec::len), Some(2));
    app.delete(&format!("/context/{webhooks}"), &alice.api_key).await.assert_status(204);
    let r = app.post("/context/search", Some(&alice.api_key), query).await;
    assert!(!ids(r.assert_status(200)).contains(&webhooks));
    app.shutdown().await;
}

#[tokio::test]
async fn two_servers_on_one_database_act_as_one() {
    let db = TestDatabase::create().await;
    // No auth cache, so that a revocation through one server holds on the other at once (with
    // REDIS_URL the cache is shared instead).
    let no_cache = [("AUTH_CACHE_TTL_MS", "0")];
    let (one, two) = (server_on(&db, &no_cache).await, server_on(&db, &no_cache).await);
    let alice = one.register("alice").await;
    // The account, its key and its session token made by one server work on the other.
    two.get("/users/me", &alice.api_key).await.assert_status(200);
    two.get("/users/me", &alice.access_token).await.assert_status(200);
    let project = two.create_project(&alice.access_token, "payments").await;
    one.post(
        "/context/save",
        Some(&alice.api_key),
        json!({"project_id": project, "content": WEBHOOKS}),
    )
    .await
    .assert_status(201);
    let query = json!({"query": "stripe webhook retries", "similarity_threshold": 0.2});
    let r = two.post("/context/search", Some(&alice.api_key), query.clone()).await;
    assert_eq!(ids(r.assert_status(200)).len(), 1, "a save through one is found through the other");

    // A key revoked through one server is refused by the other on its next request.
    one.delete(&format!("/users/me/api-keys/{}", alice.api_key_id), &alice.access_token)
        .await
        .assert_status(204);
    one.get("/users/me", &alice.api_key).await.assert_error(401, "INVALID_API_KEY");
    two.get("/users/me", &alice.api_key).await.assert_error(401, "INVALID_API_KEY");

    // Restart: a new server on the same database finds everything.
    one.shutdown().await;
    two.shutdown().await;
    let three = server_on(&db, &no_cache).await;
    let r = three.post("/context/search", Some(&alice.access_token), query).await;
    assert_eq!(ids(r.assert_status(200)).len(), 1);
    three.shutdown().await;
}

#[tokio::test]
async fn a_sqlite_installation_moves_to_postgres_with_migrate_data() {
    // An installation on SQLite with accounts, a shared project, contexts and analytics.
    let sqlite = TestApp::with_model(&[]).await;
    let (alice, bob) = (sqlite.register("alice").await, sqlite.register("bob").await);
    let project = sqlite.create_project(&alice.api_key, "payments").await;
    sqlite.add_contributor(&alice.api_key, &project, &bob).await;
    let save = |content: &str| json!({"project_id": project, "content": content, "metadata": {"tags": ["ops"]}});
    let webhooks = sqlite.post("/context/save", Some(&alice.api_key), save(WEBHOOKS)).await;
    let webhooks = webhooks.assert_status(201)["id"].as_str().unwrap().to_string();
    sqlite.post("/context/save", Some(&bob.api_key), save(DEPLOY)).await.assert_status(201);
    let query = json!({"query": "how do we retry stripe webhooks", "similarity_threshold": 0.2});
    let before = sqlite.post("/context/search", Some(&alice.api_key), query.clone()).await;
    assert_eq!(ids(before.assert_status(200)).first(), Some(&webhooks));
    sqlite.services().flush_pending().await;
    let report = "/analytics/cost-savings?start_date=2020-01-01&end_date=2030-12-31&group_by=month";
    let savings = sqlite.get(report, &alice.api_key).await.assert_status(200).clone();
    assert!(savings["total_tokens_saved"].as_i64().unwrap() > 0);

    let db = TestDatabase::create().await;
    let data = sqlite.dir.path().to_path_buf();
    let file = data.join("teamcontext.db");
    let migrate = || {
        support::process::teamcontext(&data)
            .env("DATABASE_URL", db.url())
            .env("JWT_SECRET_KEY", SECRET)
            .env("ENCRYPTION_KEY", support::ENCRYPTION_KEY)
            .args(["migrate-data".as_ref(), "--from".as_ref(), file.as_os_str()])
            .output()
            .unwrap()
    };
    // Refused while a server still writes to the file.
    let out = migrate();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"), "{out:?}");
    let _data = sqlite.shutdown_keeping_data().await;

    let out = migrate();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("contexts: 2 row(s)"), "{stdout}");
    assert!(stdout.contains("users: 2 row(s)"), "{stdout}");
    // Into a database that is no longer empty: refused, nothing added.
    let again = migrate();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty"), "{again:?}");

    // On PostgreSQL everything is there: keys, passwords, memberships, search, analytics.
    let app = server_on(&db, &[]).await;
    app.get("/users/me", &alice.api_key).await.assert_status(200);
    let login = json!({"email": bob.email, "password": bob.password});
    app.post("/auth/login", None, login).await.assert_status(200);
    for mode in ["hybrid", "vector", "keyword"] {
        let mut q = query.clone();
        q["mode"] = json!(mode);
        let found = app.post("/context/search", Some(&bob.api_key), q).await;
        assert_eq!(ids(found.assert_status(200)).first(), Some(&webhooks), "{mode}");
    }
    let listed = app.get(&format!("/projects/{project}/context?tag=ops"), &alice.api_key).await;
    assert_eq!(listed.assert_status(200)["items"].as_array().map(Vec::len), Some(2));
    let moved = app.get(report, &alice.api_key).await.assert_status(200).clone();
    assert_eq!(moved["total_tokens_saved"], savings["total_tokens_saved"]);
    assert_eq!(moved["searches"], savings["searches"]);
    assert_eq!(moved["breakdown"], savings["breakdown"]);
    app.shutdown().await;
}
