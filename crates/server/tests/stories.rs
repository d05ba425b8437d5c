//! Jira stories drafted from a project's context, over a real server, the fake Jira (Cloud and
//! Data Center wire formats) and the fake language model: draft → refine → validate → create
//! on Cloud with the model (SQLite; the description checked as ADF by the fake's schema rules)
//! and on Data Center without one (PostgreSQL; wiki markup, a sub-task under its parent); a
//! create whose answer is lost that is found instead of sent twice, and one refused outright
//! that is sent again on request; required fields from the create metadata; every unhappy
//! path; and the MCP tools through the official Python client.

mod support;

use std::time::Duration;

use fake_atlassian::{
    CLOUD_EMAIL, CLOUD_TOKEN, DC_TOKEN, FakeJira, Fault, Flavour, story_points_field, validate_adf,
};
use fake_llm::{FakeLlm, Reply, recorded};
use reqwest::Method;
use serde_json::{Value, json};
use support::mcp_clients::{call, http_plan, python};
use support::{TestApp, TestUser};
use tc_store_postgres::testing::TestDatabase;

/// The fake listens on loopback, which the outbound rule refuses unless allowed.
const ALLOW_LOOPBACK: (&str, &str) = ("OUTBOUND_ALLOWED_HOSTS", "127.0.0.1");
const REQUIREMENTS: &str = "As a billing engineer, I want the Stripe API keys rotated every 90 \
days, so that a leaked key stops working. Page the on-call engineer when a rotation fails.";
/// The story the fake model writes, and the summary of the open issue it duplicates.
const SUMMARY: &str = "As a billing engineer, I want the Stripe API keys rotated every 90 days, so that a leaked key stops working";

async fn app_on(
    db: Option<&TestDatabase>,
    llm: Option<&FakeLlm>,
    extra: &[(&str, &str)],
) -> TestApp {
    let base = llm.map(FakeLlm::base_url);
    let mut env = vec![ALLOW_LOOPBACK];
    if let Some(base) = &base {
        env.push(("LLM_BASE_URL", base.as_str()));
        env.push(("LLM_MODEL", fake_llm::MODEL));
    }
    if let Some(db) = db {
        env.extend(support::postgres_env(db));
    }
    env.extend_from_slice(extra);
    TestApp::with_env(&env).await
}

fn connect_body(fake: &FakeJira, flavour: Flavour) -> Value {
    match flavour {
        Flavour::Cloud => json!({"kind": "cloud_api_token", "base_url": fake.url(),
                                 "email": CLOUD_EMAIL, "api_token": CLOUD_TOKEN}),
        Flavour::DataCenter => json!({"kind": "datacenter", "base_url": fake.url(),
                                      "personal_access_token": DC_TOKEN}),
    }
}

/// Ana, her project with a decision and the synced Jira project OPS (OPS-2 says what the
/// story will say), and her Jira connection.
async fn jira_team(app: &TestApp, fake: &FakeJira, flavour: Flavour) -> (TestUser, String) {
    fake.seed("OPS", 3, 0);
    fake.edit("OPS-2", |i| i.summary = SUMMARY.into());
    let ana = app.register("ana").await;
    let key = &ana.api_key;
    let project = app.create_project(key, "billing").await;
    let decision = json!({"project_id": project, "content": "Decision (ADR 7): Stripe API keys are \
        rotated by the billing team with the vault CLI; the old key stays valid for 24 hours."});
    app.post("/context/save", Some(key), decision).await.assert_status(201);
    app.post("/integrations/jira/connect", Some(key), connect_body(fake, flavour))
        .await
        .assert_status(200);
    let sync = json!({"project_id": project, "jql_query": "project = OPS"});
    let accepted = app.post("/jira/sync", Some(key), sync).await;
    let job = accepted.assert_status(202)["job_id"].as_str().unwrap().to_string();
    for _ in 0..600 {
        let status = app.get(&format!("/jobs/{job}"), key).await.assert_status(200).clone();
        match status["status"].as_str().unwrap() {
            "succeeded" => return (ana, project),
            "failed" | "cancelled" => panic!("sync: {status}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("the sync did not finish");
}

fn model_says(value: Value) -> Reply {
    Reply::chunks(recorded::openai_text(&[&value.to_string()], 400, 120))
}

fn drafted_story() -> Value {
    json!({
        "summary": SUMMARY,
        "description": "Keys are rotated with the vault CLI [1].\n\n- the old key stays valid for **24 hours**\n- see `billing/rotate.rs`",
        "acceptance_criteria": [
            "Given a key older than 90 days, when the nightly job runs, then a new key is active and the old one expires within 24 hours",
            "Given a rotation that fails, when the job ends, then the on-call engineer is paged"
        ],
        "labels": ["security"],
        "estimate": 3
    })
}

/// Fills the template's acceptance criteria, as a person does before creating.
async fn fill_criteria(app: &TestApp, key: &str, id: &str) {
    let criteria = json!({"story": {"acceptance_criteria": [
        "Given a failed rotation, when the job ends, then the on-call engineer is paged"]}});
    app.post(&format!("/ai/stories/{id}/refine"), Some(key), criteria).await.assert_status(200);
}

fn created_issue(fake: &FakeJira, key: &str) -> fake_atlassian::Issue {
    fake.issues().into_iter().find(|i| i.key == key).expect("the created issue")
}

fn creates(fake: &FakeJira, api: &str) -> usize {
    let path = format!("/rest/api/{api}/issue");
    fake.requests().iter().filter(|r| r.method == "POST" && r.target == path).count()
}

/// Draft → refine (model, then edits) → validate → create, on Cloud with the language model.
#[tokio::test]
async fn a_story_is_drafted_refined_validated_and_created_on_jira_cloud() {
    let llm = FakeLlm::start().await;
    let fake = FakeJira::start(Flavour::Cloud).await;
    let app = app_on(None, Some(&llm), &[]).await;
    let (ana, project) = jira_team(&app, &fake, Flavour::Cloud).await;
    let key = &ana.api_key;
    let task = app
        .post("/tasks", Some(key), json!({"title": "Automate key rotation", "project_id": project}))
        .await;
    let task = task.assert_status(201)["id"].as_str().unwrap().to_string();

    llm.push(model_says(drafted_story()));
    let body = json!({"project_id": project, "requirements": REQUIREMENTS, "task_id": task});
    let draft = app.post("/ai/stories/draft", Some(key), body).await;
    let draft = draft.assert_status(201).clone();
    let id = draft["id"].as_str().unwrap().to_string();
    assert_eq!(
        (draft["mode"].as_str(), draft["llm"].as_str()),
        (Some("llm"), Some(fake_llm::MODEL))
    );
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["story"]["summary"], SUMMARY);
    assert_eq!(draft["story"]["format"], "story");
    assert_eq!(draft["story"]["estimate"], 3);
    assert_eq!(draft["story"]["acceptance_criteria"].as_array().unwrap().len(), 2);
    assert_eq!(draft["jira_project_key"], "OPS", "guessed from the Jira issues retrieved");
    assert_eq!(draft["revision"], 1);
    let sources = draft["sources"].as_array().unwrap();
    assert!(sources.iter().any(|s| s["source"] == "jira"), "{draft}");
    assert!(
        sources.iter().any(|s| s["snippet"].as_str().unwrap().contains("vault CLI")),
        "{draft}"
    );
    let prompt = llm.requests()[0]["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(
        prompt.contains("[1] ") && prompt.ends_with(&format!("Requirements:\n{REQUIREMENTS}")),
        "{prompt}"
    );

    // The model follows instructions; edits of one's own come next; both are kept.
    let mut refined = drafted_story();
    refined["description"] =
        json!("Keys are rotated with the vault CLI [1]. A failed rotation pages **PagerDuty**.");
    llm.push(model_says(refined));
    let r = app
        .post(
            &format!("/ai/stories/{id}/refine"),
            Some(key),
            json!({"instructions": "Say that failures page PagerDuty"}),
        )
        .await;
    let r = r.assert_status(200).clone();
    assert_eq!((r["revision"].as_i64(), r["mode"].as_str()), (Some(2), Some("llm")));
    assert!(r["story"]["description"].as_str().unwrap().contains("PagerDuty"));
    let asked = llm.requests()[1]["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(
        asked.contains("The story now:") && asked.ends_with("Say that failures page PagerDuty"),
        "{asked}"
    );
    let edits = json!({"story": {"labels": ["billing", "key rotation"], "estimate": 5}});
    let r = app.post(&format!("/ai/stories/{id}/refine"), Some(key), edits).await;
    let r = r.assert_status(200).clone();
    assert_eq!((r["revision"].as_i64(), r["mode"].as_str()), (Some(3), Some("edit")));
    assert_eq!(r["story"]["labels"], json!(["billing", "key-rotation"]), "spaces become dashes");
    let kinds: Vec<&str> =
        r["revisions"].as_array().unwrap().iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["draft", "refine", "refine"]);
    assert_eq!(r["revisions"][1]["instructions"], "Say that failures page PagerDuty");
    assert_eq!(r["revisions"][0]["story"]["estimate"], 3, "history keeps each version");

    // Validation: the rules, the open duplicate OPS-2, and the model's review.
    llm.push(model_says(json!({"findings": [{"rule": "problem_oriented", "severity": "info",
        "field": "description", "message": "names the vault CLI", "suggestion": "say what, not how"},
        {"rule": "made_up", "severity": "error", "message": "x"}]})));
    let v = app.post(&format!("/ai/stories/{id}/validate"), Some(key), json!({})).await;
    let v = v.assert_status(200).clone();
    assert_eq!(v["revision"], 3);
    assert_eq!(v["skipped"], json!([]));
    let checked: Vec<&str> =
        v["checked"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    for rule in ["well_formed", "atomic", "unambiguous", "testable", "unique", "conceptually_sound"]
    {
        assert!(checked.contains(&rule), "{rule}: {v}");
    }
    let findings = v["findings"].as_array().unwrap();
    let unique = findings.iter().find(|f| f["rule"] == "unique").unwrap_or_else(|| panic!("{v}"));
    assert!(unique["excerpt"].as_str().unwrap().starts_with("OPS-2"), "{unique}");
    assert!(unique["suggestion"].as_str().unwrap().contains("OPS-2"));
    assert!(findings.iter().any(|f| f["rule"] == "problem_oriented" && f["severity"] == "info"));
    assert!(!findings.iter().any(|f| f["rule"] == "made_up"), "only the rules asked for");
    assert!(
        findings
            .iter()
            .all(|f| !f["suggestion"].as_str().unwrap().is_empty()
                || f["rule"] == "problem_oriented")
    );

    // Create: the issue type, ADF description, labels with the marker, story points.
    let made = app.post(&format!("/ai/stories/{id}/create"), Some(key), json!({})).await;
    let made = made.assert_status(201).clone();
    assert_eq!(made["status"], "created");
    assert_eq!(made["jira"]["key"], "OPS-4");
    assert_eq!(made["jira"]["url"], format!("{}/browse/OPS-4", fake.url()));
    let issue = created_issue(&fake, "OPS-4");
    let sent = issue.sent.clone().unwrap();
    let fields = &sent["fields"];
    assert_eq!(fields["issuetype"]["id"], "10001");
    assert_eq!(fields["summary"], SUMMARY);
    assert_eq!(validate_adf(&fields["description"]), Ok(()), "{}", fields["description"]);
    let described = fields["description"].to_string();
    assert!(
        described.contains("Acceptance criteria") && described.contains("\"strong\""),
        "{described}"
    );
    assert!(described.contains("the vault CLI [1]. A failed"), "one node per run: {described}");
    assert!(described.contains("\"Sources\""), "the cited sources are listed: {described}");
    let labels: Vec<&str> =
        fields["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(&labels[..2], ["billing", "key-rotation"]);
    assert!(labels[2].starts_with("teamcontext-"), "{labels:?}");
    assert_eq!(fields[story_points_field(Flavour::Cloud).0], 5);
    let linked = app.get(&format!("/tasks/{task}"), key).await;
    assert_eq!(linked.assert_status(200)["jira_keys"], json!(["OPS-4"]));

    // Once created, a draft neither changes nor creates again.
    app.post(&format!("/ai/stories/{id}/create"), Some(key), json!({}))
        .await
        .assert_error(409, "CONFLICT");
    app.post(&format!("/ai/stories/{id}/refine"), Some(key), json!({"instructions": "x"}))
        .await
        .assert_error(409, "CONFLICT");
    assert_eq!(creates(&fake, "3"), 1);
    let listed = app.get(&format!("/ai/stories?project_id={project}"), key).await;
    assert_eq!(listed.assert_status(200)["items"][0]["jira"]["key"], "OPS-4");

    // The MCP tools, through the official Python client.
    llm.push(model_says(json!({"summary": "Export the monthly invoices as CSV for finance",
        "description": "Finance asked for it.", "acceptance_criteria": [], "labels": []})));
    let drafted = python(http_plan(&app, key, "claude-code", json!([call("draft_jira_story",
        json!({"project_id": project, "requirements": "Export the monthly invoices as CSV.", "format": "task", "jira_project_key": "OPS"}))])))
    .await;
    let drafted = &drafted["results"][0]["structuredContent"];
    assert_eq!(drafted["story"]["format"], "task", "{drafted}");
    let draft_id = drafted["id"].as_str().unwrap();
    let created = python(http_plan(
        &app,
        key,
        "claude-code",
        json!([
            call("create_jira_story", json!({"draft_id": draft_id})),
            call("create_jira_story", json!({"draft_id": draft_id})),
            call("create_jira_story", json!({"draft_id": "not-an-id"})),
        ]),
    ))
    .await;
    let r = created["results"].as_array().unwrap();
    assert_eq!(r[0]["structuredContent"]["jira"]["key"], "OPS-5", "{created}");
    assert_eq!(created_issue(&fake, "OPS-5").issue_type, "Task");
    assert_eq!(r[1]["isError"], true);
    assert!(r[1]["content"][0]["text"].as_str().unwrap().contains("CONFLICT"));
    assert!(r[2]["content"][0]["text"].as_str().unwrap().contains("RESOURCE_NOT_FOUND"));
    app.shutdown().await;
}

/// Without a language model, on Data Center and PostgreSQL: the template, the rule fixes, the
/// rules that were skipped, wiki markup, and a sub-task under its parent.
#[tokio::test]
async fn without_a_model_the_template_drafts_and_data_center_gets_wiki_markup() {
    let db = TestDatabase::create().await;
    let fake = FakeJira::start(Flavour::DataCenter).await;
    let app = app_on(Some(&db), None, &[]).await;
    let (ana, project) = jira_team(&app, &fake, Flavour::DataCenter).await;
    let key = &ana.api_key;

    let body =
        json!({"project_id": project, "requirements": REQUIREMENTS, "jira_project_key": "ops"});
    let draft = app.post("/ai/stories/draft", Some(key), body).await;
    let draft = draft.assert_status(201).clone();
    let id = draft["id"].as_str().unwrap().to_string();
    assert_eq!(
        (draft["mode"].as_str(), draft["llm"].as_str()),
        (Some("template"), Some("not configured"))
    );
    assert_eq!(draft["jira_project_key"], "OPS");
    assert_eq!(draft["story"]["summary"], SUMMARY, "the Connextra sentence of the requirements");
    let description = draft["story"]["description"].as_str().unwrap();
    assert!(
        description.contains("## Related context") && description.contains("OPS-2"),
        "{description}"
    );
    let criteria = draft["story"]["acceptance_criteria"].as_array().unwrap();
    assert!(
        criteria[0].as_str().unwrap().starts_with(
            "Given ⟨the starting state⟩, when ⟨the action⟩, then page the on-call engineer"
        ),
        "{criteria:?}"
    );

    let v = app.post(&format!("/ai/stories/{id}/validate"), Some(key), json!({})).await;
    let v = v.assert_status(200).clone();
    let skipped: Vec<&str> =
        v["skipped"].as_array().unwrap().iter().map(|s| s["rule"].as_str().unwrap()).collect();
    assert_eq!(skipped, ["conceptually_sound", "problem_oriented", "conflict_free", "negotiable"]);
    assert!(v["skipped"][0]["reason"].as_str().unwrap().contains("language model"));
    assert_eq!(v["checked"].as_array().unwrap().len(), 11);
    assert!(v["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "unique"), "{v}");
    assert_eq!(v["llm"], "not configured");

    // Instructions without a model: the rule fixes, said so.
    let edits = json!({"story": {"summary": "As a billing engineer, I want fast and easy key rotation and alerts, so that leaks stop"}});
    app.post(&format!("/ai/stories/{id}/refine"), Some(key), edits).await.assert_status(200);
    let r = app
        .post(&format!("/ai/stories/{id}/refine"), Some(key), json!({"instructions": "tighten it"}))
        .await;
    let r = r.assert_status(200).clone();
    assert_eq!(r["mode"], "template");
    assert!(r["note"].as_str().unwrap().starts_with("No language model"), "{r}");
    let summary = r["story"]["summary"].as_str().unwrap();
    assert!(!summary.contains("fast") && !summary.contains("easy"), "{summary}");

    // The template's slots must be filled before the story reaches Jira.
    app.post(&format!("/ai/stories/{id}/create"), Some(key), json!({}))
        .await
        .assert_error(422, "INVALID_INPUT");
    let criteria = json!({"story": {"acceptance_criteria": [
        "Given a key older than 90 days, when the nightly job runs, then a new key is active",
        "Given a failed rotation, when the job ends, then the on-call engineer is paged"]}});
    app.post(&format!("/ai/stories/{id}/refine"), Some(key), criteria).await.assert_status(200);
    let made = app.post(&format!("/ai/stories/{id}/create"), Some(key), json!({})).await;
    let made = made.assert_status(201).clone();
    let created = made["jira"]["key"].as_str().unwrap().to_string();
    let issue = created_issue(&fake, &created);
    let sent = issue.sent.unwrap();
    let wiki = sent["fields"]["description"].as_str().expect("wiki markup is a string");
    assert!(wiki.contains("h2. Acceptance criteria") && wiki.contains("* Given"), "{wiki}");
    assert!(wiki.contains("h2. Related context"), "{wiki}");

    // A sub-task needs its parent, and lands under it.
    let sub = json!({"project_id": project, "requirements": "Add a metric for failed rotations.", "format": "subtask", "jira_project_key": "OPS"});
    let sub = app.post("/ai/stories/draft", Some(key), sub).await;
    let sub_id = sub.assert_status(201)["id"].as_str().unwrap().to_string();
    app.post(&format!("/ai/stories/{sub_id}/create"), Some(key), json!({}))
        .await
        .assert_error(422, "INVALID_INPUT");
    let sub = json!({"project_id": project, "requirements": "Add a metric for failed rotations.", "format": "subtask", "jira_project_key": "OPS", "parent_key": "ops-1"});
    let sub = app.post("/ai/stories/draft", Some(key), sub).await;
    let sub_id = sub.assert_status(201)["id"].as_str().unwrap().to_string();
    fill_criteria(&app, key, &sub_id).await;
    let made = app.post(&format!("/ai/stories/{sub_id}/create"), Some(key), json!({})).await;
    let sub_key = made.assert_status(201)["jira"]["key"].as_str().unwrap().to_string();
    let sent = created_issue(&fake, &sub_key).sent.unwrap();
    assert_eq!(
        (sent["fields"]["issuetype"]["id"].as_str(), sent["fields"]["parent"]["key"].as_str()),
        (Some("10004"), Some("OPS-1"))
    );
    assert!(created_issue(&fake, "OPS-1").subtasks.contains(&sub_key));
    app.shutdown().await;
}

/// A create whose answer is lost is looked for, not sent again; one Jira refused is sent again
/// only when asked, and looked for first. Without labels on the screen, the summary is looked for.
#[tokio::test]
async fn a_create_that_times_out_is_found_instead_of_duplicated() {
    let fake = FakeJira::start(Flavour::Cloud).await;
    let app = app_on(None, None, &[("ATLASSIAN_TIMEOUT_SECS", "1")]).await;
    let (ana, project) = jira_team(&app, &fake, Flavour::Cloud).await;
    let key = &ana.api_key;
    let draft = |requirements: &str| {
        let body = json!({"project_id": project, "requirements": requirements, "jira_project_key": "OPS", "format": "task"});
        let app = &app;
        async move {
            let d = app.post("/ai/stories/draft", Some(key), body).await;
            let id = d.assert_status(201)["id"].as_str().unwrap().to_string();
            fill_criteria(app, key, &id).await;
            id
        }
    };

    // Jira creates the issue but answers after the client gave up.
    let id = draft("Rotate the Stripe keys every 90 days.").await;
    fake.fail("/rest/api/3/issue$", vec![Fault::AnswerLate(Duration::from_millis(2500))]);
    let made = app.post(&format!("/ai/stories/{id}/create"), Some(key), json!({})).await;
    let made = made.assert_status(201).clone();
    let marker =
        created_issue(&fake, made["jira"]["key"].as_str().unwrap()).labels.last().unwrap().clone();
    assert_eq!(
        fake.issues().iter().filter(|i| i.labels.contains(&marker)).count(),
        1,
        "not duplicated"
    );
    assert_eq!(creates(&fake, "3"), 1, "sent once");

    // Jira refuses (503): the draft says why; a second create looks first, then sends.
    let id = draft("Alert when a rotation fails.").await;
    fake.fail("/rest/api/3/issue$", vec![Fault::Status(503)]);
    app.post(&format!("/ai/stories/{id}/create"), Some(key), json!({}))
        .await
        .assert_error(502, "JIRA_CONNECTION_FAILED");
    let after = app.get(&format!("/ai/stories/{id}"), key).await;
    let after = after.assert_status(200).clone();
    assert_eq!(after["status"], "draft");
    assert!(after["last_error"].as_str().unwrap().contains("create again"), "{after}");
    let searches_before = fake.requests().iter().filter(|r| r.target.contains("/search")).count();
    let made = app.post(&format!("/ai/stories/{id}/create"), Some(key), json!({})).await;
    let created = made.assert_status(201)["jira"]["key"].as_str().unwrap().to_string();
    assert!(
        fake.requests().iter().filter(|r| r.target.contains("/search")).count() > searches_before,
        "looked first"
    );
    assert_eq!(creates(&fake, "3"), 3);
    let marker = created_issue(&fake, &created).labels.last().unwrap().clone();
    assert_eq!(fake.issues().iter().filter(|i| i.labels.contains(&marker)).count(), 1);

    // A screen without labels: the exact summary is looked for.
    fake.hide_labels();
    let id = draft("Document the key rotation runbook.").await;
    fake.fail("/rest/api/3/issue$", vec![Fault::AnswerLate(Duration::from_millis(2500))]);
    let made = app.post(&format!("/ai/stories/{id}/create"), Some(key), json!({})).await;
    let created = made.assert_status(201)["jira"]["key"].as_str().unwrap().to_string();
    let summary = created_issue(&fake, &created).summary;
    assert_eq!(fake.issues().iter().filter(|i| i.summary == summary).count(), 1);
    app.shutdown().await;
}

/// Every unhappy path of the story routes.
#[tokio::test]
async fn story_routes_refuse_bad_requests_and_strangers() {
    let fake = FakeJira::start(Flavour::Cloud).await;
    fake.add_project("OPS");
    let app = app_on(None, None, &[("MAX_BODY_BYTES", "8192")]).await;
    let ana = app.register("ana").await;
    let eve = app.register("eve").await;
    let key = &ana.api_key;
    let project = app.create_project(key, "billing").await;
    let good =
        json!({"project_id": project, "requirements": "Export invoices as CSV for finance."});

    let some_id = uuid::Uuid::now_v7();
    for (method, path) in [
        (Method::POST, "/ai/stories/draft".to_string()),
        (Method::GET, "/ai/stories".to_string()),
        (Method::GET, format!("/ai/stories/{some_id}")),
        (Method::DELETE, format!("/ai/stories/{some_id}")),
        (Method::POST, format!("/ai/stories/{some_id}/refine")),
        (Method::POST, format!("/ai/stories/{some_id}/validate")),
        (Method::POST, format!("/ai/stories/{some_id}/create")),
    ] {
        let r = app.send(method.clone(), &path, None, Some(good.clone())).await;
        r.assert_error(401, "INVALID_CREDENTIALS");
    }
    for (body, status, code) in [
        (json!({"project_id": project}), 400, "MISSING_REQUIRED_FIELD"),
        (json!({"requirements": "x y z"}), 400, "MISSING_REQUIRED_FIELD"),
        (
            json!({"project_id": project, "requirements": "Export it.", "format": "epic"}),
            422,
            "INVALID_INPUT",
        ),
        (
            json!({"project_id": project, "requirements": "Export it.", "jira_project_key": "OPS-1"}),
            422,
            "INVALID_INPUT",
        ),
        (
            json!({"project_id": project, "requirements": "Export it.", "parent_key": "nope"}),
            422,
            "INVALID_INPUT",
        ),
        (
            json!({"project_id": project, "requirements": "Export it.", "task_id": uuid::Uuid::now_v7()}),
            422,
            "INVALID_INPUT",
        ),
        (json!({"project_id": "not-a-uuid", "requirements": "Export it."}), 422, "INVALID_INPUT"),
        (
            json!({"project_id": project, "requirements": "r".repeat(9000)}),
            413,
            "CONTEXT_TOO_LARGE",
        ),
    ] {
        app.post("/ai/stories/draft", Some(key), body.clone()).await.assert_error(status, code);
    }
    app.post_text("/ai/stories/draft", key, "{\"requirements\":")
        .await
        .assert_error(400, "INVALID_INPUT");
    app.post("/ai/stories/draft", Some(&eve.api_key), good.clone())
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");

    let draft = app.post("/ai/stories/draft", Some(key), good.clone()).await;
    let id = draft.assert_status(201)["id"].as_str().unwrap().to_string();
    // Strangers, unknown and malformed ids: the same 404.
    for who in [&eve.api_key, key] {
        let target = if who == key { uuid::Uuid::now_v7().to_string() } else { id.clone() };
        app.get(&format!("/ai/stories/{target}"), who)
            .await
            .assert_error(404, "RESOURCE_NOT_FOUND");
        for action in ["refine", "validate", "create"] {
            app.post(
                &format!("/ai/stories/{target}/{action}"),
                Some(who),
                json!({"instructions": "x"}),
            )
            .await
            .assert_error(404, "RESOURCE_NOT_FOUND");
        }
        app.delete(&format!("/ai/stories/{target}"), who)
            .await
            .assert_error(404, "RESOURCE_NOT_FOUND");
    }
    app.get("/ai/stories/not-an-id", key).await.assert_error(404, "RESOURCE_NOT_FOUND");
    assert!(
        app.get("/ai/stories", &eve.api_key).await.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.get("/ai/stories?project_id=nope", key).await.assert_error(404, "PROJECT_NOT_FOUND");

    // Refinements need something to do, within bounds.
    let refine = format!("/ai/stories/{id}/refine");
    app.post(&refine, Some(key), json!({})).await.assert_error(400, "MISSING_REQUIRED_FIELD");
    app.post(&refine, Some(key), json!({"instructions": "i".repeat(4001)}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post(&refine, Some(key), json!({"story": {"summary": "s".repeat(300)}}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post(&refine, Some(key), json!({"story": {"estimate": 1000}}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post(&refine, Some(key), json!({"story": {"labels": [" "]}}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post(&refine, Some(key), json!({"instructions": "i".repeat(9000)}))
        .await
        .assert_error(413, "CONTEXT_TOO_LARGE");
    app.post(
        &format!("/ai/stories/{id}/create"),
        Some(key),
        json!({"fields": {"x": "f".repeat(9000)}}),
    )
    .await
    .assert_error(413, "CONTEXT_TOO_LARGE");
    app.post_text(&refine, key, "{\"instructions\":").await.assert_error(400, "INVALID_INPUT");
    app.post_text(&format!("/ai/stories/{id}/create"), key, "{\"fields\":")
        .await
        .assert_error(400, "INVALID_INPUT");

    // A read-only key reads and validates, and changes nothing.
    let ro = app
        .post(
            "/users/me/api-keys",
            Some(&ana.access_token),
            json!({"name": "ro", "scopes": ["read"]}),
        )
        .await;
    let ro = ro.assert_status(201)["key"].as_str().unwrap().to_string();
    app.get(&format!("/ai/stories/{id}"), &ro).await.assert_status(200);
    app.post(&format!("/ai/stories/{id}/validate"), Some(&ro), json!({})).await.assert_status(200);
    app.post("/ai/stories/draft", Some(&ro), good.clone())
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    app.post(&refine, Some(&ro), json!({"instructions": "x"}))
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    app.post(&format!("/ai/stories/{id}/create"), Some(&ro), json!({}))
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");

    // Creating needs the template's slots filled, a Jira project, a connection, a project Jira
    // knows, and every required field.
    let create = format!("/ai/stories/{id}/create");
    let slot = app.post(&create, Some(key), json!({"jira_project_key": "OPS"})).await;
    slot.assert_error(422, "INVALID_INPUT");
    assert!(slot.body.to_string().contains("template slot"), "{}", slot.body);
    let summary = "As a finance clerk, I want invoices exported as CSV, so that I can load them in the ledger";
    app.post(&refine, Some(key), json!({"story": {"summary": summary}})).await.assert_status(200);
    fill_criteria(&app, key, &id).await;
    app.post(&create, Some(key), json!({})).await.assert_error(400, "MISSING_REQUIRED_FIELD");
    app.post(&create, Some(key), json!({"jira_project_key": "OPS"}))
        .await
        .assert_error(400, "INVALID_INPUT");
    app.post("/integrations/jira/connect", Some(key), connect_body(&fake, Flavour::Cloud))
        .await
        .assert_status(200);
    app.post(&create, Some(key), json!({"jira_project_key": "NOPE"}))
        .await
        .assert_error(422, "INVALID_INPUT");
    fake.require_field("customfield_10200", "Team");
    let missing = app.post(&create, Some(key), json!({"jira_project_key": "OPS"})).await;
    missing.assert_error(422, "INVALID_INPUT");
    assert!(missing.body.to_string().contains("Team (customfield_10200)"), "{}", missing.body);
    app.post(
        &create,
        Some(key),
        json!({"jira_project_key": "OPS", "fields": {"customfield_99": 1}}),
    )
    .await
    .assert_error(422, "INVALID_INPUT");
    app.post(&create, Some(key), json!({"jira_project_key": "OPS", "fields": "x"}))
        .await
        .assert_error(422, "INVALID_INPUT");
    let made = app
        .post(
            &create,
            Some(key),
            json!({"jira_project_key": "OPS", "fields": {"customfield_10200": "Billing"}}),
        )
        .await;
    assert_eq!(made.assert_status(201)["jira"]["key"], "OPS-1");
    assert_eq!(creates(&fake, "3"), 1, "nothing was sent before the fields were complete");

    app.delete(&format!("/ai/stories/{id}"), key).await.assert_status(204);
    app.get(&format!("/ai/stories/{id}"), key).await.assert_error(404, "RESOURCE_NOT_FOUND");
    app.shutdown().await;
}

/// Drafting, refining and validating count against the search limit, as questions do.
#[tokio::test]
async fn story_drafting_counts_against_the_search_limit() {
    let app = app_on(None, None, &[("RATE_LIMIT_SEARCH_PER_MIN", "2")]).await;
    let ana = app.register("ana").await;
    let key = &ana.api_key;
    let project = app.create_project(key, "billing").await;
    let body =
        json!({"project_id": project, "requirements": "Export invoices as CSV for finance."});
    let draft = app.post("/ai/stories/draft", Some(key), body.clone()).await;
    let id = draft.assert_status(201)["id"].as_str().unwrap().to_string();
    app.post(&format!("/ai/stories/{id}/validate"), Some(key), json!({})).await.assert_status(200);
    app.post("/ai/stories/draft", Some(key), body).await.assert_error(429, "RATE_LIMIT_EXCEEDED");
    app.post(&format!("/ai/stories/{id}/refine"), Some(key), json!({"instructions": "x"}))
        .await
        .assert_error(429, "RATE_LIMIT_EXCEEDED");
    app.get(&format!("/ai/stories/{id}"), key).await.assert_status(200);
    app.shutdown().await;
}
