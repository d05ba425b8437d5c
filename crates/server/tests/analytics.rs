//! `/analytics/*` over a real server: cost-savings arithmetic on known searches across day,
//! week and month boundaries (UTC, with offsets in the query), usage and context insights,
//! access scoping (own activity, a project's, a removed contributor, restricted keys) and the
//! unhappy paths.

mod support;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use support::{TestApp, TestUser};

const WEBHOOKS: &str = "We decided to retry failed Stripe webhook deliveries with exponential backoff for up to three days, then alert the payments on-call.";
const DEPLOY: &str = "Deployments go out every weekday at 14:00 UTC through the blue-green pipeline; rollbacks are one click.";

/// Moves the server's clock so that it reads `at` now.
fn travel(app: &TestApp, at: DateTime<Utc>) {
    let now = app.services().now();
    app.clock.advance(at - now);
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap()
}

/// Searches as `key` and returns the tokens of what came back.
async fn search_tokens(app: &TestApp, key: &str, query: &str) -> i64 {
    let r = app
        .post("/context/search", Some(key), json!({"query": query, "similarity_threshold": 0.0}))
        .await;
    let results = r.assert_status(200)["results"].as_array().unwrap().clone();
    assert!(!results.is_empty());
    results.iter().map(|r| r["token_count"].as_i64().unwrap()).sum()
}

async fn report(app: &TestApp, key: &str, path_and_query: &str) -> Value {
    app.get(path_and_query, key).await.assert_status(200).clone()
}

async fn team(app: &TestApp) -> (TestUser, TestUser, TestUser, String) {
    let a = app.register("ann").await;
    let b = app.register("bob").await;
    let c = app.register("cid").await;
    let project = app.create_project(&a.api_key, "payments").await;
    app.add_contributor(&a.api_key, &project, &b).await;
    let save =
        json!({"content": WEBHOOKS, "project_id": project, "metadata": {"source": "claude"}});
    app.post("/context/save", Some(&a.api_key), save).await.assert_status(201);
    let save = json!({"content": DEPLOY, "project_id": project, "metadata": {"source": "cursor"}});
    app.post("/context/save", Some(&b.api_key), save).await.assert_status(201);
    (a, b, c, project)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[tokio::test]
async fn cost_savings_add_up_by_day_week_and_month() {
    let app = TestApp::new().await;
    let (a, b, _c, project) = team(&app).await;

    // Sunday 1 March 23:30 (ISO week 9), Monday 2 March 00:30 (week 10), 1 April 00:00.
    travel(&app, utc(2026, 3, 1, 23, 30));
    let sunday = search_tokens(&app, &a.api_key, "how are stripe webhooks retried?").await;
    travel(&app, utc(2026, 3, 2, 0, 30));
    let monday = search_tokens(&app, &a.api_key, "when do deployments go out?").await;
    let bob_monday = search_tokens(&app, &b.api_key, "webhook retries").await;
    travel(&app, utc(2026, 4, 1, 0, 0));
    let april = search_tokens(&app, &a.api_key, "rollback pipeline").await;
    app.services().flush_pending().await;

    let key = &a.api_key;
    let q = "/analytics/cost-savings?start_date=2026-03-01&end_date=2026-04-30";
    let by_day = report(&app, key, &format!("{q}&group_by=day")).await;
    let total = sunday + monday + april;
    assert_eq!(by_day["total_tokens_saved"], total, "Ann's own activity: {by_day}");
    assert_eq!(by_day["total_tokens_avoided"], total);
    assert_eq!(by_day["searches"], 3);
    assert_eq!(by_day["model"], "claude-3-sonnet");
    assert_eq!(by_day["price_per_mtok"], 3.0);
    assert!(close(by_day["estimated_savings_usd"].as_f64().unwrap(), total as f64 * 3.0 / 1e6));
    assert!(close(by_day["estimated_cost_usd"].as_f64().unwrap(), total as f64 * 3.0 / 1e6));
    assert_eq!(by_day["scope"], json!({"user_id": a.id, "project_id": null}));
    let days = by_day["breakdown"].as_array().unwrap();
    assert_eq!(days.len(), 61, "every day of March and April, empty ones included");
    assert_eq!(days[0]["period"], "2026-03-01");
    assert_eq!(days[0]["start"], "2026-03-01T00:00:00Z");
    assert_eq!(days[0]["tokens_saved"], sunday);
    assert!(close(days[0]["savings_usd"].as_f64().unwrap(), sunday as f64 * 3.0 / 1e6));
    assert_eq!(days[1]["tokens_saved"], monday);
    assert_eq!(days[31]["period"], "2026-04-01");
    assert_eq!(days[31]["tokens_saved"], april);
    let summed: i64 = days.iter().map(|d| d["tokens_saved"].as_i64().unwrap()).sum();
    assert_eq!(summed, total);

    let by_week = report(&app, key, &format!("{q}&group_by=week")).await;
    let weeks = by_week["breakdown"].as_array().unwrap();
    assert_eq!(weeks[0]["period"], "2026-W09");
    assert_eq!(weeks[0]["start"], "2026-02-23T00:00:00Z", "ISO weeks start on Monday");
    assert_eq!(weeks[0]["tokens_saved"], sunday);
    assert_eq!(weeks[1]["period"], "2026-W10");
    assert_eq!(weeks[1]["tokens_saved"], monday);
    assert_eq!(weeks.last().unwrap()["period"], "2026-W18");

    let by_month = report(&app, key, &format!("{q}&group_by=month&model=gpt-4o")).await;
    let months: Vec<(String, i64)> = by_month["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["period"].as_str().unwrap().into(), m["tokens_saved"].as_i64().unwrap()))
        .collect();
    assert_eq!(months, vec![("2026-03".into(), sunday + monday), ("2026-04".into(), april)]);
    assert_eq!(by_month["price_per_mtok"], 5.0);
    assert!(close(by_month["estimated_savings_usd"].as_f64().unwrap(), total as f64 * 5.0 / 1e6));

    // Offsets are converted to UTC: 01:00 at +02:00 is 23:00 UTC the day before, so Sunday's
    // search is in; 02:00 at +02:00 is midnight UTC, so it is out.
    let from = |t: &str| format!("/analytics/cost-savings?start_date={}", t.replace('+', "%2B"));
    let r =
        report(&app, key, &format!("{}&end_date=2026-03-02", from("2026-03-02T01:00:00+02:00")))
            .await;
    assert_eq!(r["total_tokens_saved"], sunday + monday);
    assert_eq!(r["start_date"], "2026-03-01T23:00:00Z");
    assert_eq!(r["end_date"], "2026-03-03T00:00:00Z", "a plain end date includes its day");
    let r =
        report(&app, key, &format!("{}&end_date=2026-03-02", from("2026-03-02T02:00:00+02:00")))
            .await;
    assert_eq!(r["total_tokens_saved"], monday);

    // The project's report counts everyone; Bob's own report only his search.
    let p = report(&app, &b.api_key, &format!("{q}&project_id={project}")).await;
    assert_eq!(p["total_tokens_saved"], total + bob_monday);
    assert_eq!(p["scope"], json!({"user_id": null, "project_id": project}));
    let p = report(&app, &b.api_key, &format!("{q}&project_id={project}&user_id={}", a.id)).await;
    assert_eq!(p["total_tokens_saved"], total, "Ann's activity in a project Bob shares");
    let own = report(&app, &b.api_key, q).await;
    assert_eq!(own["total_tokens_saved"], bob_monday);
    // Default range: the 30 days before now (1 April), which hold the searches of 2 March on.
    let recent = report(&app, key, "/analytics/cost-savings").await;
    assert_eq!(recent["total_tokens_saved"], monday + april);
    assert_eq!(recent["breakdown"].as_array().unwrap().len(), 31);
}

#[tokio::test]
async fn usage_and_insights_cover_only_what_the_caller_may_see() {
    let app = TestApp::with_model(&[]).await;
    let (a, b, c, project) = team(&app).await;
    let mine = app.create_project(&a.api_key, "ann private").await;
    let save = json!({"content": "Ann's private notes about the build cache.", "project_id": mine});
    app.post("/context/save", Some(&a.api_key), save).await.assert_status(201);
    search_tokens(&app, &a.api_key, "stripe webhook retries").await;
    search_tokens(&app, &a.api_key, "stripe webhook backoff").await;
    search_tokens(&app, &b.api_key, "deploy schedule").await;
    app.services().flush_pending().await;

    let usage = report(&app, &a.api_key, "/analytics/usage").await;
    assert_eq!(usage["contexts_created"], 2, "{usage}");
    assert_eq!(usage["searches"], 2);
    assert!(usage["contexts_retrieved"].as_i64().unwrap() >= 2);
    assert_eq!(usage["projects_count"], 2);
    assert_eq!(usage["top_projects"][0]["project_id"], project.as_str());
    assert_eq!(usage["top_projects"][0]["name"], "payments");
    let sources = &usage["sources_breakdown"];
    assert_eq!(sources["claude"], 1, "Ann saved once through claude: {sources}");
    assert_eq!(sources["api"], 3, "a save without a source and two REST searches are `api`");
    assert_eq!(sources.get("cursor"), None, "Bob's save is not Ann's activity");

    let team_usage =
        report(&app, &b.api_key, &format!("/analytics/usage?project_id={project}")).await;
    assert_eq!(team_usage["contexts_created"], 2);
    assert_eq!(team_usage["searches"], 3);
    assert_eq!(team_usage["sources_breakdown"]["cursor"], 1);
    assert_eq!(team_usage["top_projects"].as_array().unwrap().len(), 1, "not Ann's private one");

    let insights = report(&app, &a.api_key, "/analytics/context-insights").await;
    assert_eq!(insights["contexts_count"], 3);
    let top = &insights["most_accessed_contexts"][0];
    assert_eq!(top["content"], WEBHOOKS);
    assert_eq!(top["truncated"], false);
    assert_eq!(top["project_name"], "payments");
    assert!(top["access_count"].as_i64().unwrap() >= 2);
    let bytes = insights["total_storage_bytes"].as_i64().unwrap();
    assert!(bytes > (WEBHOOKS.len() + DEPLOY.len() + 384 * 4 * 3) as i64, "{insights}");
    assert!(close(insights["total_storage_mb"].as_f64().unwrap(), bytes as f64 / 1048576.0));
    assert!(insights["avg_tokens_per_context"].as_f64().unwrap() > 10.0);
    let theirs = report(&app, &b.api_key, "/analytics/context-insights").await;
    assert_eq!(theirs["contexts_count"], 2, "Bob does not see Ann's private project");
    let one =
        report(&app, &b.api_key, &format!("/analytics/context-insights?project_id={project}"))
            .await;
    assert_eq!(one["project_id"], project.as_str());

    // Cid sees nothing of the team; a removed contributor loses the project's reports, and
    // his own report no longer names it.
    let outsider = report(&app, &c.api_key, "/analytics/usage").await;
    assert_eq!(
        (outsider["contexts_created"].as_i64(), outsider["searches"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(report(&app, &c.api_key, "/analytics/context-insights").await["contexts_count"], 0);
    for path in ["cost-savings", "usage", "context-insights"] {
        app.get(&format!("/analytics/{path}?project_id={project}"), &c.api_key)
            .await
            .assert_error(404, "PROJECT_NOT_FOUND");
    }
    app.delete(&format!("/projects/{project}/contributors/{}", b.id), &a.api_key)
        .await
        .assert_status(204);
    app.get(&format!("/analytics/usage?project_id={project}"), &b.api_key)
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");
    let bob = report(&app, &b.api_key, "/analytics/usage").await;
    assert_eq!(bob["top_projects"], json!([]), "{bob}");
    assert_eq!(bob["contexts_created"], 0);

    // A key restricted to Ann's private project reports on that project only.
    let r = app
        .post(
            "/users/me/api-keys",
            Some(&a.api_key),
            json!({"name": "private", "project_id": mine}),
        )
        .await;
    let restricted = r.assert_status(201)["key"].as_str().unwrap().to_string();
    let usage = report(&app, &restricted, "/analytics/usage").await;
    assert_eq!(usage["projects_count"], 1);
    assert_eq!(usage["searches"], 0, "Ann's searches were not in that project");
    assert_eq!(usage["contexts_created"], 1);
    app.get(&format!("/analytics/usage?project_id={project}"), &restricted)
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");
    assert_eq!(report(&app, &restricted, "/analytics/context-insights").await["contexts_count"], 1);
}

#[tokio::test]
async fn bad_report_requests_are_refused_with_the_envelope() {
    let app = TestApp::new().await;
    let (a, b, _c, project) = team(&app).await;
    for path in ["cost-savings", "usage", "context-insights"] {
        let r = app.send(reqwest::Method::GET, &format!("/analytics/{path}"), None, None).await;
        r.assert_error(401, "INVALID_CREDENTIALS");
        app.get(&format!("/analytics/{path}"), "tc_not_a_real_key")
            .await
            .assert_error(401, "INVALID_API_KEY");
        app.get(&format!("/analytics/{path}?project_id=not-a-uuid"), &a.api_key)
            .await
            .assert_error(422, "INVALID_INPUT");
        app.get(&format!("/analytics/{path}?project_id={}", uuid::Uuid::now_v7()), &a.api_key)
            .await
            .assert_error(404, "PROJECT_NOT_FOUND");
    }
    let bad = [
        ("group_by=year", "group_by"),
        ("start_date=yesterday", "start_date"),
        ("end_date=2026-02-30", "end_date"),
        ("start_date=2026-03-05&end_date=2026-03-04", "start_date"),
        ("start_date=2001-01-01&end_date=2026-01-01&group_by=day", "group_by"),
        ("model=gpt-17", "model"),
    ];
    for (query, field) in bad {
        let r = app.get(&format!("/analytics/cost-savings?{query}"), &a.api_key).await;
        r.assert_error(422, "INVALID_INPUT");
        assert_eq!(r.body["error"]["details"]["field"], field, "{query}: {}", r.body);
    }
    app.get(&format!("/analytics/usage?user_id={}", b.id), &a.api_key)
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    app.get(&format!("/analytics/cost-savings?project_id={project}&user_id={}", b.id), &a.api_key)
        .await
        .assert_status(200);
    app.get(&format!("/analytics/cost-savings?user_id={}", a.id), &a.api_key)
        .await
        .assert_status(200);
    // A key without the read scope.
    let r = app
        .post("/users/me/api-keys", Some(&a.api_key), json!({"name": "w", "scopes": ["write"]}))
        .await;
    let write_only = r.assert_status(201)["key"].as_str().unwrap().to_string();
    app.get("/analytics/usage", &write_only).await.assert_error(403, "INSUFFICIENT_PERMISSIONS");
}
