//! Jira and Confluence over a real server and fakes speaking the real wire formats
//! (`fake-atlassian`). Jira:
//! connecting each kind and refusing bad tokens; a JQL sync of 120 issues over several pages
//! with paged comments, then an incremental re-sync after edits and a deletion upstream, on
//! SQLite and on PostgreSQL; a sync by keys on Data Center; a 429 storm; a sync killed with
//! SIGKILL that finishes after a restart; what a stranger cannot do; secrets that never reach
//! the database in the clear; and the synced issue found through REST and MCP. Confluence: a
//! Cloud space synced through cursor links and re-synced after an edit and a deletion, a CQL
//! sync, and a Data Center space with page ancestors on PostgreSQL. And the rotation of the
//! generated encryption key.

mod support;

use std::time::Duration;

use fake_atlassian::{
    CLOUD_EMAIL, CLOUD_ID, CLOUD_TOKEN, DC_TOKEN, FakeConfluence, FakeJira, Fault, Flavour,
    OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET,
};
use serde_json::{Value, json};
use support::mcp_clients::{call, http_plan, python};
use support::process::serve_with;
use support::{TestApp, TestUser};
use tc_store_postgres::testing::TestDatabase;

/// The fake listens on loopback, which the outbound rule refuses unless allowed.
const ALLOW_LOOPBACK: (&str, &str) = ("OUTBOUND_ALLOWED_HOSTS", "127.0.0.1");

fn cloud_connect(fake: &FakeJira) -> Value {
    json!({"kind": "cloud_api_token", "base_url": fake.url(), "email": CLOUD_EMAIL, "api_token": CLOUD_TOKEN})
}

fn dc_connect(fake: &FakeJira) -> Value {
    json!({"kind": "datacenter", "base_url": fake.url(), "personal_access_token": DC_TOKEN})
}

/// Polls a job until it is final.
async fn finished(app: &TestApp, key: &str, job: &str) -> Value {
    for _ in 0..1200 {
        let status = app.get(&format!("/jobs/{job}"), key).await.assert_status(200).clone();
        if ["succeeded", "failed", "cancelled"].contains(&status["status"].as_str().unwrap()) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {job} did not finish");
}

async fn sync(app: &TestApp, key: &str, body: Value) -> Value {
    let accepted = app.post("/jira/sync", Some(key), body).await;
    let job = accepted.assert_status(202)["job_id"].as_str().unwrap().to_string();
    let done = finished(app, key, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["kind"], "jira_sync");
    done["result"].clone()
}

async fn jira_contexts(app: &TestApp, key: &str, project: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/projects/{project}/context?source=jira&limit=100");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = app.get(&path, key).await.assert_status(200).clone();
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return out,
        }
    }
}

async fn search(app: &TestApp, key: &str, project: &str, query: &str) -> Value {
    let body = json!({"query": query, "project_id": project, "limit": 5});
    app.post("/context/search", Some(key), body).await.assert_status(200).clone()
}

fn first_key(results: &Value) -> &str {
    results["results"][0]["metadata"]["jira_issue_key"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn each_kind_connects_and_bad_tokens_are_refused_before_anything_is_stored() {
    let (cloud, dc) =
        (FakeJira::start(Flavour::Cloud).await, FakeJira::start(Flavour::DataCenter).await);
    let app = TestApp::with_env(&[ALLOW_LOOPBACK]).await;
    let ana = app.register("ana").await;

    let r = app.post("/integrations/jira/connect", Some(&ana.api_key), cloud_connect(&cloud)).await;
    let body = r.assert_status(200);
    assert_eq!(body["connected"], true);
    assert_eq!(body["kind"], "cloud_api_token");
    assert_eq!(body["site"], cloud.url());
    assert_eq!(
        body["account"],
        json!({"name": "5b10ac8d82e05b22cc7d4ef5", "display_name": "Ana Lima"})
    );
    assert!(!body.to_string().contains(CLOUD_TOKEN));
    assert!(
        cloud
            .requests()
            .iter()
            .any(|r| r.target == "/rest/api/3/myself" && r.auth_scheme == "Basic")
    );

    // A wrong token: 401, and the working connection stays as it was.
    let mut wrong = cloud_connect(&cloud);
    wrong["api_token"] = json!("not-the-token");
    app.post("/integrations/jira/connect", Some(&ana.api_key), wrong)
        .await
        .assert_error(401, "JIRA_AUTH_EXPIRED");
    let status = app.get("/integrations/jira/status", &ana.api_key).await;
    assert_eq!(status.assert_status(200)["connected"], true);

    // Data Center with a personal access token, sent as a Bearer token.
    let r = app.post("/integrations/confluence/connect", Some(&ana.api_key), json!({})).await;
    r.assert_error(400, "MISSING_REQUIRED_FIELD");
    let bob = app.register("bob").await;
    let r = app.post("/integrations/jira/connect", Some(&bob.api_key), dc_connect(&dc)).await;
    assert_eq!(r.assert_status(200)["account"], json!({"name": "ana", "display_name": "Ana Lima"}));
    assert!(
        dc.requests().iter().any(|r| r.target == "/rest/api/2/myself" && r.auth_scheme == "Bearer")
    );
    // A PAT sent the Cloud way (Basic) is what Data Center refuses most often.
    let basic = json!({"kind": "cloud_api_token", "base_url": dc.url(), "email": "ana@acme.test", "api_token": DC_TOKEN});
    app.post("/integrations/jira/connect", Some(&bob.api_key), basic)
        .await
        .assert_error(401, "JIRA_AUTH_EXPIRED");

    // The unhappy paths.
    let url = "/integrations/jira/connect";
    app.send(reqwest::Method::POST, url, None, Some(cloud_connect(&cloud)))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.post("/integrations/gitlab/connect", Some(&ana.api_key), cloud_connect(&cloud))
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    app.post(url, Some(&ana.api_key), json!({"kind": "magic", "base_url": cloud.url()}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post(
        url,
        Some(&ana.api_key),
        json!({"kind": "datacenter", "base_url": "ftp://x", "personal_access_token": "t"}),
    )
    .await
    .assert_error(422, "INVALID_INPUT");
    app.post(url, Some(&ana.api_key), json!({"kind": "cloud_api_token", "base_url": cloud.url(), "email": "nobody", "api_token": "t"})).await.assert_error(422, "INVALID_INPUT");
    app.post(url, Some(&ana.api_key), json!({"kind": "datacenter", "base_url": cloud.url(), "personal_access_token": "x".repeat(5000)})).await.assert_error(422, "INVALID_INPUT");
    let raw = reqwest::Client::new()
        .post(app.url(url))
        .bearer_auth(&ana.api_key)
        .header("content-type", "application/json")
        .body("{\"kind\": ");
    TestApp::read(raw.send().await.unwrap()).await.assert_error(400, "INVALID_INPUT");
    let huge = json!({"kind": "datacenter", "base_url": cloud.url(), "personal_access_token": "x".repeat(11 << 20)});
    app.post(url, Some(&ana.api_key), huge).await.assert_error(413, "CONTEXT_TOO_LARGE");
    // Nothing listens on this port: the site cannot be reached.
    let closed = json!({"kind": "datacenter", "base_url": "http://127.0.0.1:9", "personal_access_token": "t"});
    app.post(url, Some(&ana.api_key), closed).await.assert_error(502, "JIRA_CONNECTION_FAILED");

    // A key restricted to one project cannot manage the account's connections.
    let project = app.create_project(&ana.api_key, "ops").await;
    let restricted = app
        .post(
            "/users/me/api-keys",
            Some(&ana.access_token),
            json!({"name": "ci", "project_id": project}),
        )
        .await;
    let restricted = restricted.assert_status(201)["key"].as_str().unwrap().to_string();
    app.post(url, Some(&restricted), cloud_connect(&cloud))
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    app.get("/integrations/jira/status", &restricted)
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");

    // Disconnect removes the secrets; a second time there is nothing left.
    let r = app.delete("/integrations/jira/disconnect", &ana.api_key).await;
    assert_eq!(r.assert_status(200)["disconnected"], true);
    assert_eq!(
        app.delete("/integrations/jira/disconnect", &ana.api_key).await.assert_status(200)["disconnected"],
        false
    );
    let status = app.get("/integrations/jira/status", &ana.api_key).await;
    assert_eq!(status.assert_status(200)["connected"], false);

    // The tokens never reach the database file in the clear.
    let dir = app.shutdown_asserting_not_stored(&[CLOUD_TOKEN, DC_TOKEN]).await;
    let key_file = dir.path().join("encryption_key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

/// The scenario both backends run: 120 issues over several pages, then an edit, a new comment
/// and a deletion upstream, and the re-sync that follows them.
async fn sync_then_resync(app: &TestApp) {
    let fake = FakeJira::start(Flavour::Cloud).await;
    fake.seed("OPS", 120, 7);
    let ana = app.register("ana").await;
    let project = app.create_project(&ana.api_key, "ops").await;
    app.post("/integrations/jira/connect", Some(&ana.api_key), cloud_connect(&fake))
        .await
        .assert_status(200);

    let first = sync(
        app,
        &ana.api_key,
        json!({"project_id": project, "jql_query": "project = OPS ORDER BY updated DESC"}),
    )
    .await;
    assert_eq!(first["items_found"], 120, "{first}");
    assert_eq!(first["synced"], 120);
    assert_eq!(first["failed_total"], 0);
    let journal = fake.requests();
    let pages = journal.iter().filter(|r| r.target.starts_with("/rest/api/3/search/jql")).count();
    assert_eq!(pages, 3, "120 issues in pages of 50");
    // Never the search Cloud removed (it answers 410).
    assert!(
        !journal.iter().any(
            |r| r.target.starts_with("/rest/api/3/search?") || r.target == "/rest/api/3/search"
        )
    );
    // 7 comments each, 5 embedded: the rest are paged from /comment.
    assert!(journal.iter().any(|r| r.target.contains("/comment?startAt=0")));
    let stored = jira_contexts(app, &ana.api_key, &project).await;
    assert_eq!(stored.len(), 120);
    let ops5 = stored.iter().find(|c| c["metadata"]["jira_issue_key"] == "OPS-5").unwrap();
    let content = ops5["content"].as_str().unwrap();
    assert!(content.starts_with("# OPS-5: Issue 5 of OPS"), "{content}");
    assert!(content.contains("Comment 6 on OPS-5."), "the last paged comment: {content}");
    assert!(content.contains("**Status**: To Do"));
    let tags = ops5["metadata"]["tags"].as_array().unwrap();
    assert!(tags.contains(&json!("jira")) && tags.contains(&json!("story")), "{tags:?}");
    assert_eq!(ops5["metadata"]["url"], format!("{}/browse/OPS-5", fake.url()));
    let status = app.get("/integrations/jira/status", &ana.api_key).await;
    assert!(status.assert_status(200)["last_sync_at"].is_string());

    // Changes upstream: an edit, a comment, a deletion.
    fake.edit("OPS-5", |i| i.summary = "Checkout times out behind the proxy".into());
    fake.comment("OPS-7", "Rui Costa", "The flamingo cache eviction fixed the latency spikes.");
    let ops9_id = fake.id_of("OPS-9");
    fake.delete("OPS-9");
    let second =
        sync(app, &ana.api_key, json!({"project_id": project, "jql_query": "project = OPS"})).await;
    assert_eq!(
        (second["synced"].as_u64(), second["unchanged"].as_u64(), second["removed"].as_u64()),
        (Some(2), Some(117), Some(1)),
        "{second}"
    );
    let stored = jira_contexts(app, &ana.api_key, &project).await;
    assert_eq!(stored.len(), 119, "updated in place, one removed");
    assert!(stored.iter().all(|c| c["metadata"]["jira_issue_id"] != json!(ops9_id.to_string())));
    let ops5: Vec<_> =
        stored.iter().filter(|c| c["metadata"]["jira_issue_key"] == "OPS-5").collect();
    assert_eq!(ops5.len(), 1);
    assert!(ops5[0]["content"].as_str().unwrap().contains("Checkout times out behind the proxy"));

    // Words of the new comment find its issue.
    let found = search(app, &ana.api_key, &project, "flamingo cache eviction").await;
    assert_eq!(first_key(&found), "OPS-7", "{found}");

    // A stranger cannot sync into the project or read its jobs.
    let eve = app.register("eve").await;
    app.post("/integrations/jira/connect", Some(&eve.api_key), cloud_connect(&fake))
        .await
        .assert_status(200);
    let r = app
        .post(
            "/jira/sync",
            Some(&eve.api_key),
            json!({"project_id": project, "jql_query": "project = OPS"}),
        )
        .await;
    r.assert_error(404, "PROJECT_NOT_FOUND");
    let job = app
        .post(
            "/jira/sync",
            Some(&ana.api_key),
            json!({"project_id": project, "issue_keys": ["OPS-1"]}),
        )
        .await;
    let job = job.assert_status(202)["job_id"].as_str().unwrap().to_string();
    app.get(&format!("/jobs/{job}"), &eve.api_key).await.assert_error(404, "RESOURCE_NOT_FOUND");
    finished(app, &ana.api_key, &job).await;
}

#[tokio::test]
async fn a_jql_sync_pages_through_issues_and_resyncs_incrementally_on_sqlite() {
    let app = TestApp::with_env(&[ALLOW_LOOPBACK]).await;
    sync_then_resync(&app).await;
}

#[tokio::test]
async fn a_jql_sync_pages_through_issues_and_resyncs_incrementally_on_postgres() {
    let db = TestDatabase::create().await;
    let app = TestApp::with_env(&[
        ALLOW_LOOPBACK,
        ("DATABASE_URL", db.url()),
        ("JWT_SECRET_KEY", "a shared signing secret of at least 32 bytes"),
        ("ENCRYPTION_KEY", support::ENCRYPTION_KEY),
    ])
    .await;
    sync_then_resync(&app).await;
}

#[tokio::test]
async fn data_center_syncs_by_key_with_rendered_bodies_and_answers_live_reads() {
    let fake = FakeJira::start(Flavour::DataCenter).await;
    let keys = fake.seed("PAY", 60, 2);
    fake.edit("PAY-2", |i| {
        i.links = vec![("blocks".into(), "PAY-3".into())];
        i.subtasks = vec!["PAY-4".into()];
    });
    let app = TestApp::with_env(&[ALLOW_LOOPBACK]).await;
    let ana = app.register("ana").await;
    let project = app.create_project(&ana.api_key, "payments").await;
    app.post("/integrations/jira/connect", Some(&ana.api_key), dc_connect(&fake))
        .await
        .assert_status(200);

    let result =
        sync(&app, &ana.api_key, json!({"project_id": project, "issue_keys": keys[..55].to_vec()}))
            .await;
    assert_eq!(
        (result["items_found"].as_u64(), result["synced"].as_u64()),
        (Some(55), Some(55)),
        "{result}"
    );
    let offsets: Vec<_> = fake
        .requests()
        .iter()
        .filter(|r| r.target == "/rest/api/2/search")
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(offsets.len(), 2, "55 issues, 50 per page: startAt 0 then 50");
    let stored = jira_contexts(&app, &ana.api_key, &project).await;
    let pay2 =
        stored.iter().find(|c| c["metadata"]["jira_issue_key"] == "PAY-2").unwrap()["content"]
            .as_str()
            .unwrap()
            .to_string();
    assert!(pay2.contains("## Links\n\n- blocks PAY-3: Issue 3 of PAY (To Do)"), "{pay2}");
    assert!(pay2.contains("## Subtasks\n\n- PAY-4: Issue 4 of PAY (To Do)"), "{pay2}");
    assert!(
        pay2.contains("Work item number 2 for the PAY team."),
        "from the rendered HTML: {pay2}"
    );
    assert!(!pay2.contains("<p>"), "{pay2}");

    // Live reads through the connection.
    let issue = app.get("/jira/issues/PAY-2", &ana.api_key).await;
    let issue = issue.assert_status(200);
    assert_eq!(issue["key"], "PAY-2");
    assert!(issue["markdown"].as_str().unwrap().contains("Comment 1 on PAY-2."));
    app.get("/jira/issues/PAY-999", &ana.api_key).await.assert_error(404, "RESOURCE_NOT_FOUND");
    app.get("/jira/issues/not-a-key", &ana.api_key).await.assert_error(422, "INVALID_INPUT");
    let page = app
        .post(
            "/jira/search",
            Some(&ana.api_key),
            json!({"jql": "project = PAY", "max_results": 20}),
        )
        .await;
    let page = page.assert_status(200).clone();
    assert_eq!(page["issues"].as_array().unwrap().len(), 20);
    assert_eq!(page["issues"][0]["key"], "PAY-1");
    let next = page["next_page_token"].as_str().unwrap();
    let page2 = app
        .post(
            "/jira/search",
            Some(&ana.api_key),
            json!({"jql": "project = PAY", "max_results": 20, "next_page_token": next}),
        )
        .await;
    assert_eq!(page2.assert_status(200)["issues"][0]["key"], "PAY-21");
    app.post("/jira/search", Some(&ana.api_key), json!({"jql": "assignee was bob"}))
        .await
        .assert_error(400, "INVALID_INPUT");
    app.post("/jira/search", Some(&ana.api_key), json!({"jql": "project = PAY", "max_results": 0}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post("/jira/search", Some(&ana.api_key), json!({}))
        .await
        .assert_error(400, "MISSING_REQUIRED_FIELD");

    // The unhappy paths of a sync.
    let body = |extra: Value| {
        let mut b = json!({"project_id": project});
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    app.post("/jira/sync", Some(&ana.api_key), body(json!({})))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post("/jira/sync", Some(&ana.api_key), body(json!({"issue_keys": ["PAY-1) OR (1=1"]})))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post("/jira/sync", Some(&ana.api_key), json!({"jql_query": "project = PAY"}))
        .await
        .assert_error(400, "MISSING_REQUIRED_FIELD");
    let unknown = json!({"project_id": uuid::Uuid::now_v7(), "jql_query": "project = PAY"});
    app.post("/jira/sync", Some(&ana.api_key), unknown)
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");
    app.send(reqwest::Method::POST, "/jira/sync", None, Some(body(json!({"jql_query": "x"}))))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let bob = app.register("bob").await;
    let own = app.create_project(&bob.api_key, "own").await;
    let r = app
        .post(
            "/jira/sync",
            Some(&bob.api_key),
            json!({"project_id": own, "jql_query": "project = PAY"}),
        )
        .await;
    r.assert_error(400, "INVALID_INPUT");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("not connected"));
    app.get("/jira/issues/PAY-1", &bob.api_key).await.assert_error(400, "INVALID_INPUT");
    // A JQL Jira refuses fails the job with Jira's own words.
    let bad = app
        .post("/jira/sync", Some(&ana.api_key), body(json!({"jql_query": "assignee was bob"})))
        .await;
    let job = bad.assert_status(202)["job_id"].as_str().unwrap().to_string();
    let failed = finished(&app, &ana.api_key, &job).await;
    assert_eq!(failed["status"], "failed");
    assert!(failed["error"].as_str().unwrap().contains("Error in the JQL Query"), "{failed}");
}

#[tokio::test]
async fn a_rate_limit_storm_ends_in_success_and_a_revoked_token_disables_the_connection() {
    let fake = FakeJira::start(Flavour::Cloud).await;
    fake.seed("OPS", 3, 1);
    let app = TestApp::with_env(&[ALLOW_LOOPBACK, ("ATLASSIAN_MAX_RETRY_DELAY_SECS", "2")]).await;
    let ana = app.register("ana").await;
    let project = app.create_project(&ana.api_key, "ops").await;
    app.post("/integrations/jira/connect", Some(&ana.api_key), cloud_connect(&fake))
        .await
        .assert_status(200);

    // Retry-After of 1 s, of 0 (not a storm: backoff instead), an hour (clamped), none.
    fake.fail(
        "/search/jql",
        vec![
            Fault::RateLimited(Some("1".into())),
            Fault::RateLimited(Some("0".into())),
            Fault::RateLimited(Some("3600".into())),
            Fault::Status(503),
        ],
    );
    let started = std::time::Instant::now();
    let result =
        sync(&app, &ana.api_key, json!({"project_id": project, "jql_query": "project = OPS"}))
            .await;
    assert_eq!(result["synced"], 3, "{result}");
    assert!(started.elapsed() < Duration::from_secs(30), "the hour-long Retry-After was clamped");
    let searches =
        fake.requests().iter().filter(|r| r.target.starts_with("/rest/api/3/search/jql")).count();
    assert_eq!(searches, 5, "four refusals, then the answer");

    // Jira that keeps refusing: the job fails with the rate-limit message after its retries.
    fake.fail(
        "/rest/api/3/issue/",
        (0..40).map(|_| Fault::RateLimited(Some("1".into()))).collect(),
    );
    fake.edit("OPS-1", |i| i.summary = "changed".into());
    let r = app.get("/jira/issues/OPS-1", &ana.api_key).await;
    r.assert_error(429, "JIRA_RATE_LIMIT");

    // The token revoked in Jira: the next use disables the connection and the status says why.
    fake.clear_faults();
    fake.fail("/rest/api/3/issue/", vec![Fault::Status(401)]);
    app.get("/jira/issues/OPS-2", &ana.api_key).await.assert_error(401, "JIRA_AUTH_EXPIRED");
    let mut status = Value::Null;
    for _ in 0..50 {
        status =
            app.get("/integrations/jira/status", &ana.api_key).await.assert_status(200).clone();
        if status["connected"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status["connected"], false, "{status}");
    assert!(status["error"].as_str().unwrap().contains("credentials"), "{status}");
    let r = app
        .post(
            "/jira/sync",
            Some(&ana.api_key),
            json!({"project_id": project, "jql_query": "project = OPS"}),
        )
        .await;
    r.assert_error(401, "JIRA_AUTH_EXPIRED");
    // Connecting again restores it.
    app.post("/integrations/jira/connect", Some(&ana.api_key), cloud_connect(&fake))
        .await
        .assert_status(200);
    let status = app.get("/integrations/jira/status", &ana.api_key).await;
    assert_eq!(status.assert_status(200)["connected"], true);
}

#[tokio::test]
async fn a_synced_issue_is_found_through_mcp() {
    let fake = FakeJira::start(Flavour::Cloud).await;
    fake.seed("OPS", 4, 1);
    fake.comment(
        "OPS-3",
        "Rui Costa",
        "Rotating the Stripe signing secret requires restarting the webhook workers.",
    );
    let app = TestApp::with_env(&[ALLOW_LOOPBACK]).await;
    let ana: TestUser = app.register("ana").await;
    let project = app.create_project(&ana.api_key, "ops").await;
    app.post("/integrations/jira/connect", Some(&ana.api_key), cloud_connect(&fake))
        .await
        .assert_status(200);

    // The sync is started from the assistant too.
    let plan = http_plan(
        &app,
        &ana.api_key,
        "claude-code",
        json!([
            call(
                "sync_jira_to_context",
                json!({"project_id": project, "jql_query": "project = OPS"})
            ),
            call("sync_jira_to_context", json!({"project_id": project})),
        ]),
    );
    let out = python(plan).await;
    let started = &out["results"][0];
    assert_eq!(started["isError"], false, "{started}");
    let job = started["structuredContent"]["job_id"].as_str().unwrap().to_string();
    assert_eq!(out["results"][1]["isError"], true, "neither JQL nor keys");
    assert_eq!(finished(&app, &ana.api_key, &job).await["status"], "succeeded");

    let plan = http_plan(
        &app,
        &ana.api_key,
        "claude-code",
        json!([call(
            "get_relevant_context",
            json!({"query": "restart webhook workers after rotating the Stripe signing secret", "project_id": project})
        ),]),
    );
    let out = python(plan).await;
    let results = &out["results"][0]["structuredContent"]["results"];
    assert_eq!(results[0]["metadata"]["jira_issue_key"], "OPS-3", "{out}");
    let rest = search(&app, &ana.api_key, &project, "Stripe signing secret webhook workers").await;
    assert_eq!(first_key(&rest), "OPS-3");
}

#[tokio::test]
async fn a_sync_killed_mid_way_finishes_after_a_restart() {
    const ISSUES: u64 = 40;
    let fake = FakeJira::start(Flavour::Cloud).await;
    fake.seed("OPS", ISSUES as usize, 1);
    fake.set_latency(Duration::from_millis(60));
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("JOB_LEASE_SECS", "1"),
        ("RATE_LIMIT_PER_KEY_PER_MIN", "0"),
        ("RATE_LIMIT_PER_IP_PER_MIN", "0"),
        ALLOW_LOOPBACK,
    ];
    let server = serve_with(dir.path(), "warn", &env);
    let app = TestApp::remote(&server.base);
    let ana = app.register("ana").await;
    let project = app.create_project(&ana.api_key, "ops").await;
    app.post("/integrations/jira/connect", Some(&ana.api_key), cloud_connect(&fake))
        .await
        .assert_status(200);
    let accepted = app
        .post(
            "/jira/sync",
            Some(&ana.api_key),
            json!({"project_id": project, "jql_query": "project = OPS"}),
        )
        .await;
    let job = accepted.assert_status(202)["job_id"].as_str().unwrap().to_string();

    let mut done_before = 0;
    for _ in 0..600 {
        let status =
            app.get(&format!("/jobs/{job}"), &ana.api_key).await.assert_status(200).clone();
        done_before = status["progress"]["items_done"].as_u64().unwrap_or(0);
        if done_before >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!((5..ISSUES).contains(&done_before), "killed mid-way ({done_before} done)");
    server.kill();

    let server = serve_with(dir.path(), "warn", &env);
    let app = TestApp::remote(&server.base);
    let done = finished(&app, &ana.api_key, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 2, "claimed again after the crash");
    let result = &done["result"];
    assert_eq!(
        result["synced"].as_u64().unwrap() + result["unchanged"].as_u64().unwrap(),
        ISSUES,
        "{result}"
    );
    assert!(
        result["unchanged"].as_u64().unwrap() >= done_before.saturating_sub(4),
        "what was stored is not fetched again: {result}"
    );
    assert_eq!(
        jira_contexts(&app, &ana.api_key, &project).await.len() as u64,
        ISSUES,
        "none twice"
    );
}

#[tokio::test]
async fn rotating_the_generated_key_keeps_connections_working() {
    let fake = FakeJira::start(Flavour::DataCenter).await;
    fake.seed("OPS", 2, 0);
    let dir = tempfile::tempdir().unwrap();
    let env = [("RATE_LIMIT_PER_IP_PER_MIN", "0"), ALLOW_LOOPBACK];
    let server = serve_with(dir.path(), "debug", &env);
    let app = TestApp::remote(&server.base);
    let ana = app.register("ana").await;
    app.post("/integrations/jira/connect", Some(&ana.api_key), dc_connect(&fake))
        .await
        .assert_status(200);
    let project = app.create_project(&ana.api_key, "ops").await;
    sync(&app, &ana.api_key, json!({"project_id": project, "issue_keys": ["OPS-1"]})).await;
    // An MCP server registered for the agent, with a token sealed by the same key: another
    // TeamContext, up for the whole test.
    let remote = TestApp::new().await;
    let lender = remote.register("lender").await;
    let registration = json!({"name": "remote", "url": remote.url("/mcp").replace("/api/v1", ""),
                              "bearer_token": lender.api_key});
    let registered = app.post("/ai/mcp-servers", Some(&ana.api_key), registration).await;
    let mcp_server = registered.assert_status(201)["id"].as_str().unwrap().to_string();
    let refresh = format!("/ai/mcp-servers/{mcp_server}/refresh");
    // Her own language model's credentials, sealed by the same key.
    let model = json!({"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "sk-own"});
    app.put("/ai/llm-settings", &ana.api_key, model).await.assert_status(200);
    // Not even the debug log holds the token.
    let (logs, _) = server.stop();
    assert!(logs.contains("jira_sync") && !logs.contains(DC_TOKEN), "{logs}");
    let before = std::fs::read_to_string(dir.path().join("encryption_key")).unwrap();

    let out =
        support::process::teamcontext(dir.path()).arg("rotate-encryption-key").output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}{}", String::from_utf8_lossy(&out.stderr));
    assert!(printed.contains("1 connection(s) resealed"), "{printed}");
    assert!(printed.contains("1 MCP server token(s) resealed"), "{printed}");
    assert!(printed.contains("1 language model setting(s) resealed"), "{printed}");
    let after = std::fs::read_to_string(dir.path().join("encryption_key")).unwrap();
    assert_ne!(before, after);
    assert!(!dir.path().join("encryption_key.next").exists());
    // Each run with the generated key makes a new one.
    let out =
        support::process::teamcontext(dir.path()).arg("rotate-encryption-key").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 connection(s) resealed"));
    assert_ne!(std::fs::read_to_string(dir.path().join("encryption_key")).unwrap(), after);

    let server = serve_with(dir.path(), "warn", &env);
    let app = TestApp::remote(&server.base);
    let issue = app.get("/jira/issues/OPS-2", &ana.api_key).await;
    assert_eq!(issue.assert_status(200)["key"], "OPS-2", "the token opens with the new key");
    app.post(&refresh, Some(&ana.api_key), json!({})).await.assert_status(200);
    let own = app.get("/ai/llm-settings", &ana.api_key).await;
    assert_eq!(own.assert_status(200)["has_api_key"], true, "the credentials open");

    // A key that opens nothing: the connection is disabled and says why.
    server.stop();
    std::fs::write(dir.path().join("encryption_key"), tc_domain::sealing::encode_key(&[9; 32]))
        .unwrap();
    let out =
        support::process::teamcontext(dir.path()).arg("rotate-encryption-key").output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("1 connection(s) could not be opened"), "{printed}");
    assert!(printed.contains("1 MCP server token(s) could not be opened"), "{printed}");
    assert!(printed.contains("1 language model setting(s) could not be opened"), "{printed}");
    let server = serve_with(dir.path(), "warn", &env);
    let app = TestApp::remote(&server.base);
    let status =
        app.get("/integrations/jira/status", &ana.api_key).await.assert_status(200).clone();
    assert_eq!(status["connected"], false);
    assert!(status["error"].as_str().unwrap().contains("connect again"), "{status}");
    let failed = app.post(&refresh, Some(&ana.api_key), json!({})).await;
    failed.assert_error(502, "MCP_SERVER_FAILED");
    assert!(failed.body.to_string().contains("register it again"), "{}", failed.body);
    let own = app.get("/ai/llm-settings", &ana.api_key).await;
    assert_eq!(own.assert_status(200)["source"], "none", "removed, so nothing half-usable");
    server.stop();
    remote.shutdown().await;
}

async fn confluence_contexts(app: &TestApp, key: &str, project: &str) -> Vec<Value> {
    let page =
        app.get(&format!("/projects/{project}/context?source=confluence&limit=100"), key).await;
    page.assert_status(200)["items"].as_array().unwrap().clone()
}

async fn sync_pages(app: &TestApp, key: &str, body: Value) -> Value {
    let accepted = app.post("/confluence/sync", Some(key), body).await;
    let job = accepted.assert_status(202)["job_id"].as_str().unwrap().to_string();
    let done = finished(app, key, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["kind"], "confluence_sync");
    done["result"].clone()
}

#[tokio::test]
async fn a_confluence_cloud_space_syncs_through_cursors_and_resyncs_in_place() {
    let fake = FakeConfluence::start(Flavour::Cloud).await;
    let root = fake.page("ENG", "Engineering Handbook", None, "How the engineering team works.");
    let runbooks: Vec<u64> = (1..=60)
        .map(|n| {
            fake.page(
                "ENG",
                &format!("Runbook {n}"),
                Some(root),
                &format!("Steps for service {n}.\n\nCall the on-call if it fails."),
            )
        })
        .collect();
    fake.page("OPS", "Elsewhere", None, "Another space.");
    let app = TestApp::with_env(&[ALLOW_LOOPBACK]).await;
    let ana = app.register("ana").await;
    let project = app.create_project(&ana.api_key, "eng").await;
    // Cloud users often paste the URL with /wiki.
    let connect = json!({"kind": "cloud_api_token", "base_url": format!("{}/wiki/", fake.url()), "email": CLOUD_EMAIL, "api_token": CLOUD_TOKEN});
    let r = app.post("/integrations/confluence/connect", Some(&ana.api_key), connect).await;
    assert_eq!(r.assert_status(200)["site"], fake.url());

    let first =
        sync_pages(&app, &ana.api_key, json!({"project_id": project, "space_keys": ["ENG"]})).await;
    assert_eq!(
        (first["items_found"].as_u64(), first["synced"].as_u64()),
        (Some(61), Some(61)),
        "{first}"
    );
    let listings = fake
        .requests()
        .iter()
        .filter(|r| r.target.starts_with("/wiki/api/v2/spaces/") && r.target.contains("/pages"))
        .count();
    assert_eq!(listings, 3, "61 pages, 25 per listing page, followed by cursor");
    let stored = confluence_contexts(&app, &ana.api_key, &project).await;
    assert_eq!(stored.len(), 61);
    let seven = stored.iter().find(|c| c["metadata"]["title"] == "Runbook 7").unwrap();
    let content = seven["content"].as_str().unwrap();
    assert!(
        content.starts_with(
            "# Runbook 7\n\n**Space**: ENG\n**Path**: Engineering Handbook / Runbook 7"
        ),
        "{content}"
    );
    assert!(content.contains("Call the on-call if it fails."), "{content}");
    assert_eq!(seven["metadata"]["confluence_space"], "ENG");
    assert!(seven["metadata"]["tags"].as_array().unwrap().contains(&json!("confluence")));
    assert!(
        seven["metadata"]["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/wiki/spaces/ENG/pages/", fake.url()))
    );

    fake.edit(runbooks[6], "Restart the narwhal queue consumers before paging anyone.");
    fake.delete(runbooks[8]);
    let second =
        sync_pages(&app, &ana.api_key, json!({"project_id": project, "space_keys": ["ENG"]})).await;
    assert_eq!(
        (second["synced"].as_u64(), second["unchanged"].as_u64(), second["removed"].as_u64()),
        (Some(1), Some(59), Some(1)),
        "{second}"
    );
    assert_eq!(confluence_contexts(&app, &ana.api_key, &project).await.len(), 60);
    let found = search(&app, &ana.api_key, &project, "restart narwhal queue consumers").await;
    assert_eq!(found["results"][0]["metadata"]["title"], "Runbook 7", "{found}");

    // By CQL, into another project; bad requests are refused before a job exists.
    let other = app.create_project(&ana.api_key, "ops").await;
    let by_cql = sync_pages(
        &app,
        &ana.api_key,
        json!({"project_id": other, "cql": "space = OPS and type = page"}),
    )
    .await;
    assert_eq!(by_cql["synced"], 1, "{by_cql}");
    app.post("/confluence/sync", Some(&ana.api_key), json!({"project_id": other}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post(
        "/confluence/sync",
        Some(&ana.api_key),
        json!({"project_id": other, "space_keys": ["EN G"]}),
    )
    .await
    .assert_error(422, "INVALID_INPUT");
    app.post(
        "/confluence/sync",
        Some(&ana.api_key),
        json!({"project_id": other, "page_ids": ["12a"]}),
    )
    .await
    .assert_error(422, "INVALID_INPUT");
    let bob = app.register("bob").await;
    app.post(
        "/confluence/sync",
        Some(&bob.api_key),
        json!({"project_id": other, "space_keys": ["OPS"]}),
    )
    .await
    .assert_error(404, "PROJECT_NOT_FOUND");
    let own = app.create_project(&bob.api_key, "own").await;
    app.post(
        "/confluence/sync",
        Some(&bob.api_key),
        json!({"project_id": own, "space_keys": ["OPS"]}),
    )
    .await
    .assert_error(400, "INVALID_INPUT");
}

#[tokio::test]
async fn a_confluence_data_center_space_syncs_on_postgres() {
    let fake = FakeConfluence::start(Flavour::DataCenter).await;
    let root = fake.page("DOC", "Architecture", None, "The system at a glance.");
    let child = fake.page("DOC", "Storage", Some(root), "We keep vectors in pgvector.");
    fake.page("DOC", "Backups", Some(child), "Nightly snapshots are kept for thirty days.");
    for n in 0..30 {
        fake.page("DOC", &format!("Note {n}"), Some(root), "Filler.");
    }
    let db = TestDatabase::create().await;
    let app = TestApp::with_env(&[
        ALLOW_LOOPBACK,
        ("DATABASE_URL", db.url()),
        ("JWT_SECRET_KEY", "a shared signing secret of at least 32 bytes"),
        ("ENCRYPTION_KEY", support::ENCRYPTION_KEY),
    ])
    .await;
    let ana = app.register("ana").await;
    let project = app.create_project(&ana.api_key, "docs").await;
    let connect =
        json!({"kind": "datacenter", "base_url": fake.url(), "personal_access_token": DC_TOKEN});
    let r = app.post("/integrations/confluence/connect", Some(&ana.api_key), connect).await;
    assert_eq!(r.assert_status(200)["account"], json!({"name": "ana", "display_name": "Ana Lima"}));

    let result =
        sync_pages(&app, &ana.api_key, json!({"project_id": project, "space_keys": ["DOC"]})).await;
    assert_eq!(result["synced"], 33, "{result}");
    let listings =
        fake.requests().iter().filter(|r| r.target.starts_with("/rest/api/content?")).count();
    assert_eq!(listings, 2, "33 pages, 25 per page, following _links.next");
    let stored = confluence_contexts(&app, &ana.api_key, &project).await;
    let backups = stored.iter().find(|c| c["metadata"]["title"] == "Backups").unwrap();
    let content = backups["content"].as_str().unwrap();
    assert!(content.contains("**Path**: Architecture / Storage / Backups"), "{content}");
    assert!(
        content.contains("Nightly snapshots are kept for thirty days.") && !content.contains("<p>"),
        "{content}"
    );
    let found = search(&app, &ana.api_key, &project, "nightly snapshots thirty days").await;
    assert_eq!(found["results"][0]["metadata"]["title"], "Backups", "{found}");
    let again =
        sync_pages(&app, &ana.api_key, json!({"project_id": project, "space_keys": ["DOC"]})).await;
    assert_eq!(again["unchanged"], 33, "{again}");
}

#[tokio::test]
async fn oauth_connects_refreshes_once_and_a_refused_refresh_disables_the_connection() {
    let fake = FakeJira::start(Flavour::Cloud).await;
    fake.seed("OPS", 3, 1);
    let plain = TestApp::with_env(&[ALLOW_LOOPBACK]).await;
    let u = plain.register("ana").await;
    let r = plain
        .post("/integrations/jira/connect", Some(&u.api_key), json!({"kind": "cloud_oauth"}))
        .await;
    r.assert_error(422, "INVALID_INPUT");
    plain.shutdown().await;

    let site = fake.url();
    let app = TestApp::with_env(&[
        ALLOW_LOOPBACK,
        ("ATLASSIAN_CLIENT_ID", OAUTH_CLIENT_ID),
        ("ATLASSIAN_CLIENT_SECRET", OAUTH_CLIENT_SECRET),
        ("ATLASSIAN_AUTH_URL", &site),
        ("ATLASSIAN_API_URL", &site),
        ("ATLASSIAN_REDIRECT_URI", "https://context.example.com/api/v1/integrations/jira/callback"),
    ])
    .await;
    let ana = app.register("ana").await;
    let start = || async {
        let r = app
            .post("/integrations/jira/connect", Some(&ana.api_key), json!({"kind": "cloud_oauth"}))
            .await;
        r.assert_status(200).clone()
    };
    let body = start().await;
    assert_eq!(body["connected"], false);
    let authorize = body["authorize_url"].as_str().unwrap().to_string();
    assert!(authorize.starts_with(&format!("{site}/authorize?")), "{authorize}");
    assert!(
        authorize.contains("offline_access") && authorize.contains("audience=api.atlassian.com")
    );

    // The person consents; Atlassian sends the browser back with a code and the state.
    let browser =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let consent = browser.get(&authorize).send().await.unwrap();
    assert_eq!(consent.status(), 302);
    let location = consent.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("https://context.example.com/api/v1/integrations/jira/callback?"));
    let query = location.split_once('?').unwrap().1.to_string();
    let callback = |query: String| {
        let url = app.url(&format!("/integrations/jira/callback?{query}"));
        async move { TestApp::read(reqwest::get(url).await.unwrap()).await }
    };
    let connected = callback(query.clone()).await;
    let connected = connected.assert_status(200);
    assert_eq!(connected["connected"], true, "{connected}");
    assert_eq!(connected["kind"], "cloud_oauth");
    assert_eq!(connected["site"], site);
    assert_eq!(connected["account"]["display_name"], "Ana Lima");
    // A code works once; a forged or missing state never.
    callback(query.clone()).await.assert_error(401, "JIRA_AUTH_EXPIRED");
    callback("code=x&state=forged".into()).await.assert_error(400, "INVALID_INPUT");
    callback("code=x".into()).await.assert_error(400, "INVALID_INPUT");
    let elsewhere = app.url(&format!("/integrations/gitlab/callback?{query}"));
    TestApp::read(reqwest::get(elsewhere).await.unwrap())
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    let declined = start().await["authorize_url"].as_str().unwrap().to_string();
    let state = url::Url::parse(&declined)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let encoded: String = url::form_urlencoded::byte_serialize(state.as_bytes()).collect();
    let r = callback(format!("error=access_denied&state={encoded}")).await;
    r.assert_error(400, "INVALID_INPUT");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("access_denied"));

    // Live reads go through the gateway with the access token.
    app.get("/jira/issues/OPS-1", &ana.api_key).await.assert_status(200);
    let gateway = format!("/ex/jira/{CLOUD_ID}/rest/api/3/issue/OPS-1");
    assert!(
        fake.requests().iter().any(|r| r.target.starts_with(&gateway) && r.auth_scheme == "Bearer")
    );
    assert_eq!(fake.grants(), ["authorization_code"]);

    // An access token about to expire is refreshed once, however many calls need it at once.
    app.clock.advance(chrono::Duration::minutes(59) + chrono::Duration::seconds(30));
    let reads = (0..8).map(|_| app.get("/jira/issues/OPS-2", &ana.api_key));
    for r in futures_util::future::join_all(reads).await {
        r.assert_status(200);
    }
    assert_eq!(fake.grants(), ["authorization_code", "refresh_token"], "single-flight");
    let project = app.create_project(&ana.api_key, "ops").await;
    let result =
        sync(&app, &ana.api_key, json!({"project_id": project, "jql_query": "project = OPS"}))
            .await;
    assert_eq!(result["synced"], 3);

    // The grant revoked: the next refresh is refused and the connection says why.
    fake.revoke_refresh_tokens();
    app.clock.advance(chrono::Duration::hours(2));
    app.get("/jira/issues/OPS-1", &ana.api_key).await.assert_error(401, "JIRA_AUTH_EXPIRED");
    let status =
        app.get("/integrations/jira/status", &ana.api_key).await.assert_status(200).clone();
    assert_eq!(status["connected"], false);
    assert!(status["error"].as_str().unwrap().contains("connect again"), "{status}");
    assert_eq!(fake.grants().len(), 2, "a refused refresh is not retried");
}
