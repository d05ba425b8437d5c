//! `/context/*` with the real embedding model: save → search across users and shared
//! projects, removal of a contributor, threshold and limit semantics, the four modes,
//! auto-chunking, deletion, restart, project inference, filters, access counts, and the
//! unhappy paths.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{TestApp, TestUser};

const WEBHOOKS: &str = "We decided to retry failed Stripe webhook deliveries with exponential backoff for up to three days, then alert the payments on-call.";
const LUNCH: &str = "The team lunch moved to Thursday at noon in the big meeting room.";
const DEPLOY: &str = "Deployments go out every weekday at 14:00 UTC through the blue-green pipeline; rollbacks are one click.";

async fn save(app: &TestApp, key: &str, project: &str, content: &str, extra: Value) -> Value {
    let mut body = json!({"content": content, "project_id": project, "metadata": {"source": "claude", "tags": ["decision"]}});
    if let Value::Object(map) = extra {
        for (k, v) in map {
            body[k] = v;
        }
    }
    app.post("/context/save", Some(key), body).await.assert_status(201).clone()
}

async fn search(app: &TestApp, key: &str, body: Value) -> Value {
    app.post("/context/search", Some(key), body).await.assert_status(200).clone()
}

fn ids(results: &Value) -> Vec<String> {
    results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

async fn team_of_three(app: &TestApp) -> (TestUser, TestUser, TestUser, String) {
    let a = app.register("ann").await;
    let b = app.register("bob").await;
    let c = app.register("cid").await;
    let r = app.post("/projects", Some(&a.api_key), json!({"name": "payments", "description": "Payment service: Stripe, invoices, refunds"})).await;
    let project = r.assert_status(201)["id"].as_str().unwrap().to_string();
    app.add_contributor(&a.api_key, &project, &b).await;
    (a, b, c, project)
}

#[tokio::test]
async fn saved_by_one_found_by_a_teammate_invisible_to_others() {
    let app = TestApp::with_model(&[]).await;
    let (a, b, c, project) = team_of_three(&app).await;
    let saved = save(&app, &a.api_key, &project, WEBHOOKS, json!({})).await;
    save(&app, &a.api_key, &project, LUNCH, json!({})).await;
    assert_eq!(saved["project_selection"], "explicit");
    assert_eq!(saved["project_name"], "payments");
    assert!(saved["token_count"].as_i64().unwrap() > 20);
    assert_eq!(saved["warnings"], json!([]));

    let found =
        search(&app, &b.api_key, json!({"query": "how do we retry stripe webhooks?"})).await;
    let first = &found["results"][0];
    assert_eq!(first["id"], saved["id"]);
    assert_eq!(first["content"], WEBHOOKS);
    assert_eq!(first["project_id"], project.as_str());
    assert_eq!(first["project_name"], "payments");
    assert_eq!(first["metadata"]["source"], "claude");
    assert_eq!(first["metadata"]["tags"], json!(["decision"]));
    assert_eq!(first["metadata"]["created_by"], a.id.as_str());
    let similarity = first["similarity_score"].as_f64().unwrap();
    assert!(similarity > 0.5 && similarity <= 1.0, "{similarity}");
    assert_eq!(first["passage"]["text"], WEBHOOKS);

    let stranger =
        search(&app, &c.api_key, json!({"query": "how do we retry stripe webhooks?"})).await;
    assert_eq!(stranger["results"], json!([]));
    let probing = app
        .post(
            "/context/search",
            Some(&c.api_key),
            json!({"query": "webhooks", "project_ids": [project]}),
        )
        .await;
    probing.assert_error(404, "PROJECT_NOT_FOUND");
    // One project named as saves name it, `project_id`, narrows the search the same way.
    let one = app
        .post(
            "/context/search",
            Some(&c.api_key),
            json!({"query": "webhooks", "project_id": project}),
        )
        .await;
    one.assert_error(404, "PROJECT_NOT_FOUND");
    let one = search(&app, &b.api_key, json!({"query": "webhooks", "project_id": project})).await;
    assert_eq!(one["results"][0]["id"], saved["id"]);
    let id = saved["id"].as_str().unwrap();
    app.get(&format!("/context/{id}"), &c.api_key).await.assert_error(404, "CONTEXT_NOT_FOUND");
    app.delete(&format!("/context/{id}"), &c.api_key).await.assert_error(404, "CONTEXT_NOT_FOUND");
    let got = app.get(&format!("/context/{id}"), &b.api_key).await;
    assert_eq!(got.assert_status(200)["content"], WEBHOOKS);
}

#[tokio::test]
async fn a_removed_contributor_stops_finding_the_project() {
    let app = TestApp::new().await;
    let (a, b, _, project) = team_of_three(&app).await;
    save(&app, &a.api_key, &project, WEBHOOKS, json!({})).await;
    assert_eq!(
        ids(&search(&app, &b.api_key, json!({"query": "stripe webhook retries"})).await).len(),
        1
    );
    app.delete(&format!("/projects/{project}/contributors/{}", b.id), &a.api_key)
        .await
        .assert_status(204);
    assert_eq!(
        search(&app, &b.api_key, json!({"query": "stripe webhook retries"})).await["results"],
        json!([])
    );
}

#[tokio::test]
async fn modes_threshold_and_limit() {
    let app = TestApp::with_model(&[]).await;
    let (a, _, _, project) = team_of_three(&app).await;
    for text in [WEBHOOKS, LUNCH, DEPLOY] {
        save(&app, &a.api_key, &project, text, json!({})).await;
    }
    let q = "stripe webhook retry policy";
    let vector = search(
        &app,
        &a.api_key,
        json!({"query": q, "mode": "vector", "similarity_threshold": 0.3}),
    )
    .await;
    let v = vector["results"].as_array().unwrap();
    assert_eq!(v[0]["content"], WEBHOOKS);
    assert!(v.iter().all(|r| r["similarity_score"].as_f64().unwrap() >= 0.3));
    assert!(
        v.windows(2)
            .all(|w| w[0]["similarity_score"].as_f64() >= w[1]["similarity_score"].as_f64())
    );

    let strict = search(
        &app,
        &a.api_key,
        json!({"query": q, "mode": "vector", "similarity_threshold": 0.99}),
    )
    .await;
    assert_eq!(strict["results"], json!([]), "nothing is that similar");
    let all = search(
        &app,
        &a.api_key,
        json!({"query": q, "mode": "vector", "similarity_threshold": -1.0}),
    )
    .await;
    assert_eq!(all["results"].as_array().unwrap().len(), 3, "threshold -1 keeps everything");
    let one = search(
        &app,
        &a.api_key,
        json!({"query": q, "mode": "vector", "similarity_threshold": 0.0, "limit": 1}),
    )
    .await;
    assert_eq!(one["results"].as_array().unwrap().len(), 1);

    let keyword =
        search(&app, &a.api_key, json!({"query": "blue-green pipeline", "mode": "keyword"})).await;
    assert_eq!(keyword["results"][0]["content"], DEPLOY);
    assert!(keyword["results"][0]["similarity_score"].is_null(), "keyword mode embeds nothing");

    // A paraphrase sharing only a word stem is found by hybrid search at the default threshold.
    let paraphrase = search(
        &app,
        &a.api_key,
        json!({"query": "what happens when a payment notification fails?"}),
    )
    .await;
    assert_eq!(paraphrase["results"][0]["content"], WEBHOOKS);
    // Hybrid keeps an exact keyword match even below the vector threshold.
    let hybrid =
        search(&app, &a.api_key, json!({"query": "Thursday", "similarity_threshold": 0.95})).await;
    assert_eq!(hybrid["results"][0]["content"], LUNCH);
    assert!(hybrid["results"][0]["similarity_score"].as_f64().unwrap() < 0.95);

    for (body, status, code) in [
        (json!({"query": ""}), 422, "INVALID_INPUT"),
        (json!({}), 400, "MISSING_REQUIRED_FIELD"),
        (json!({"query": "x", "limit": 0}), 422, "INVALID_INPUT"),
        (json!({"query": "x", "limit": 101}), 422, "INVALID_INPUT"),
        (json!({"query": "x", "similarity_threshold": 1.5}), 422, "INVALID_INPUT"),
        (json!({"query": "x", "similarity_threshold": -1.5}), 422, "INVALID_INPUT"),
        (json!({"query": "x", "mode": "fuzzy"}), 422, "INVALID_INPUT"),
        (json!({"query": "x", "project_ids": ["not-a-uuid"]}), 422, "INVALID_INPUT"),
        (json!({"query": "x", "project_id": 7}), 422, "INVALID_INPUT"),
        (json!({"query": "x", "project_id": ["x"], "project_ids": []}), 422, "INVALID_INPUT"),
    ] {
        app.post("/context/search", Some(&a.api_key), body).await.assert_error(status, code);
    }
    // The message names the field as the caller wrote it, and the value.
    let body = json!({"query": "x", "project_id": 7});
    let wrong = app.post("/context/search", Some(&a.api_key), body).await;
    let message = wrong.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("project_id: 7 is not a project id"), "{message}");
}

/// The fusion's promises on a small fixture (the full measurement is `make eval`): a result only
/// the model finds and one only the words find both surface, and a query naming an identifier
/// ranks its definition first.
#[tokio::test]
async fn hybrid_surfaces_both_retrievers_and_ranks_an_identifiers_definition_first() {
    let app = TestApp::with_model(&[]).await;
    let u = app.register("fay").await;
    let project = app.create_project(&u.api_key, "payments").await;
    let meaning =
        "Stripe webhook deliveries that fail are retried with exponential backoff for three days.";
    let words = "Code QX-7731 marks a gateway timeout in the ledger export.";
    let definition = "fn parse_retry_policy(input: &str) -> Result<RetryPolicy, ConfigError> {\n    let fields = input.split(',');\n    RetryPolicy::from_fields(fields)\n}";
    let mut saved = Vec::new();
    for text in [
        meaning,
        words,
        definition,
        "fn parse_retry_header(value: &HeaderValue) -> Option<Duration> {\n    value.to_str().ok()?.parse().ok().map(Duration::from_secs)\n}",
        "Our retry policy for payment webhooks is reviewed every quarter by the payments team.",
        LUNCH,
        DEPLOY,
    ] {
        saved.push(save(&app, &u.api_key, &project, text, json!({})).await["id"].clone());
    }
    let (meaning_id, words_id, definition_id) = (&saved[0], &saved[1], &saved[2]);

    let query = "what happens when a payment callback does not arrive, and what is QX-7731";
    let keyword = search(&app, &u.api_key, json!({"query": query, "mode": "keyword"})).await;
    assert!(!ids(&keyword).contains(&meaning_id.as_str().unwrap().to_string()), "no shared word");
    let hybrid = search(&app, &u.api_key, json!({"query": query, "limit": 2})).await;
    let top: Vec<String> = ids(&hybrid);
    assert!(top.contains(&meaning_id.as_str().unwrap().to_string()), "{hybrid}");
    assert!(top.contains(&words_id.as_str().unwrap().to_string()), "{hybrid}");

    for query in ["parse_retry_policy", "where is parse_retry_policy defined?"] {
        let found = search(&app, &u.api_key, json!({"query": query})).await;
        assert_eq!(&found["results"][0]["id"], definition_id, "{query}: {found}");
    }
}

#[tokio::test]
async fn two_level_search_names_the_projects_it_searched() {
    let app = TestApp::with_model(&[]).await;
    let u = app.register("dee").await;
    let mut projects = Vec::new();
    for (name, description, note) in [
        ("payments", "Payment processing with Stripe: webhooks, refunds, invoices", WEBHOOKS),
        ("social", "Office life: lunches, offsites, birthdays", LUNCH),
        ("platform", "CI/CD, deployments, infrastructure and on-call", DEPLOY),
        ("recipes", "Cooking recipes and kitchen tips", "Add salt to pasta water before it boils."),
    ] {
        let r = app
            .post("/projects", Some(&u.api_key), json!({"name": name, "description": description}))
            .await;
        let id = r.assert_status(201)["id"].as_str().unwrap().to_string();
        save(&app, &u.api_key, &id, note, json!({})).await;
        projects.push(id);
    }
    let r = search(&app, &u.api_key, json!({"query": "refund a Stripe invoice", "mode": "two_level", "similarity_threshold": 0.0})).await;
    let relevant = r["relevant_projects"].as_array().unwrap();
    assert_eq!(relevant.len(), 3);
    assert_eq!(relevant[0]["name"], "payments");
    let results = r["results"].as_array().unwrap();
    assert!(!results.is_empty(), "two_level finds the note about refunds");
    assert!(results.iter().all(|x| relevant.iter().any(|p| p["id"] == x["project_id"])));
    assert!(
        search(&app, &u.api_key, json!({"query": "x"})).await.get("relevant_projects").is_none()
    );

    // Without descriptions the first level cannot choose; every project is searched.
    let v = app.register("vic").await;
    let bare = app.create_project(&v.api_key, "bare").await;
    app.put(&format!("/projects/{bare}"), &v.api_key, json!({"description": ""}))
        .await
        .assert_status(200);
    save(&app, &v.api_key, &bare, WEBHOOKS, json!({})).await;
    let r =
        search(&app, &v.api_key, json!({"query": "stripe webhooks", "mode": "two_level"})).await;
    assert_eq!(r["relevant_projects"], json!([]));
    assert_eq!(r["results"][0]["content"], WEBHOOKS);
}

#[tokio::test]
async fn large_contexts_warn_and_are_chunked() {
    // The real model: the chunk is found by what the question means.
    let app =
        TestApp::with_model(&[("CONTEXT_WARN_TOKENS", "200"), ("CONTEXT_CHUNK_TOKENS", "1200")])
            .await;
    let u = app.register("eve").await;
    let project = app.create_project(&u.api_key, "docs").await;
    let medium: String =
        (0..40).map(|i| format!("Paragraph {i} of the onboarding guide.\n")).collect();
    let warned = save(&app, &u.api_key, &project, &medium, json!({})).await;
    assert_eq!(warned["warnings"].as_array().unwrap().len(), 1);
    assert_eq!(warned["chunk_ids"], json!([]));

    let mut big: String = (0..300)
        .map(|i| format!("Section {i}: routine operational notes about the service.\n"))
        .collect();
    big.push_str("Section 300: the database password rotation happens on the first Monday of each quarter.\n");
    let saved = save(&app, &u.api_key, &project, &big, json!({})).await;
    let chunks = saved["chunk_ids"].as_array().unwrap();
    assert!(chunks.len() >= 10, "{} chunks", chunks.len());
    assert_eq!(saved["warnings"].as_array().unwrap().len(), 2);

    let found = search(&app, &u.api_key, json!({"query": "when is the database password rotated?", "similarity_threshold": 0.0, "limit": 3})).await;
    let top = &found["results"][0];
    assert!(top["content"].as_str().unwrap().contains("password rotation"), "{top}");
    assert_eq!(top["metadata"]["parent_id"], saved["id"]);
    assert!(top["metadata"]["chunk_index"].as_i64().unwrap() >= 1);
    assert!(
        ids(&found).iter().all(|id| id != saved["id"].as_str().unwrap()),
        "the parent itself is not a search result"
    );

    let parent = app.get(&format!("/context/{}", saved["id"].as_str().unwrap()), &u.api_key).await;
    assert_eq!(parent.assert_status(200)["content"], big.as_str());
    app.delete(&format!("/context/{}", saved["id"].as_str().unwrap()), &u.api_key)
        .await
        .assert_status(204);
    let first_chunk = chunks[0].as_str().unwrap();
    app.get(&format!("/context/{first_chunk}"), &u.api_key)
        .await
        .assert_error(404, "CONTEXT_NOT_FOUND");
    let after = search(
        &app,
        &u.api_key,
        json!({"query": "database password rotation", "similarity_threshold": 0.0}),
    )
    .await;
    assert!(
        after["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !r["content"].as_str().unwrap().contains("password"))
    );
}

#[tokio::test]
async fn deleted_context_vanishes_at_once_and_restart_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let app = TestApp::with_model(&[("TEAMCONTEXT_DATA_DIR", &data)]).await;
    let u = app.register("fay").await;
    let project = app.create_project(&u.api_key, "ops").await;
    let gone = save(&app, &u.api_key, &project, WEBHOOKS, json!({})).await;
    let kept = save(&app, &u.api_key, &project, DEPLOY, json!({})).await;
    app.delete(&format!("/context/{}", gone["id"].as_str().unwrap()), &u.api_key)
        .await
        .assert_status(204);
    let r = search(
        &app,
        &u.api_key,
        json!({"query": "stripe webhook retries", "similarity_threshold": 0.0}),
    )
    .await;
    assert!(!ids(&r).contains(&gone["id"].as_str().unwrap().to_string()));
    app.delete(&format!("/context/{}", gone["id"].as_str().unwrap()), &u.api_key)
        .await
        .assert_error(404, "CONTEXT_NOT_FOUND");
    app.shutdown().await;

    let again = TestApp::with_model(&[("TEAMCONTEXT_DATA_DIR", &data)]).await;
    let r = search(&again, &u.api_key, json!({"query": "when do deployments happen?", "mode": "vector", "similarity_threshold": 0.3})).await;
    assert_eq!(ids(&r), vec![kept["id"].as_str().unwrap().to_string()]);
    let k = search(&again, &u.api_key, json!({"query": "blue-green", "mode": "keyword"})).await;
    assert_eq!(ids(&k).len(), 1);
    again.shutdown().await;
}

#[tokio::test]
async fn project_is_inferred_when_not_named() {
    let app = TestApp::new().await;
    let u = app.register("gus").await;
    let none = app.post("/context/save", Some(&u.api_key), json!({"content": "orphan note"})).await;
    none.assert_error(400, "MISSING_REQUIRED_FIELD");

    let first = app
        .post(
            "/projects",
            Some(&u.api_key),
            json!({"name": "payments", "description": "Stripe payments, webhooks and refunds"}),
        )
        .await;
    let payments = first.assert_status(201)["id"].as_str().unwrap().to_string();
    let only = app.post("/context/save", Some(&u.api_key), json!({"content": "a note"})).await;
    assert_eq!(only.assert_status(201)["project_selection"], "only_project");

    let second = app
        .post(
            "/projects",
            Some(&u.api_key),
            json!({"name": "kitchen", "description": "Cooking recipes, pasta and baking"}),
        )
        .await;
    let kitchen = second.assert_status(201)["id"].as_str().unwrap().to_string();
    let matched = app
        .post(
            "/context/save",
            Some(&u.api_key),
            json!({"content": "Refunds for disputed Stripe charges are issued within 5 days"}),
        )
        .await;
    let m = matched.assert_status(201);
    assert_eq!(m["project_selection"], "best_match");
    assert_eq!(m["project_id"], payments.as_str());

    let key = app
        .post(
            "/users/me/api-keys",
            Some(&u.api_key),
            json!({"name": "kitchen only", "project_id": kitchen}),
        )
        .await;
    let key = key.assert_status(201)["key"].as_str().unwrap().to_string();
    let restricted =
        app.post("/context/save", Some(&key), json!({"content": "Stripe again"})).await;
    let r = restricted.assert_status(201);
    assert_eq!(r["project_selection"], "api_key");
    assert_eq!(r["project_id"], kitchen.as_str());
    let elsewhere = app
        .post("/context/save", Some(&key), json!({"content": "x", "project_id": payments}))
        .await;
    elsewhere.assert_error(404, "PROJECT_NOT_FOUND");
    let hidden =
        search(&app, &key, json!({"query": "Stripe refunds", "similarity_threshold": 0.0})).await;
    let hidden = hidden["results"].as_array().unwrap();
    // The kitchen project holds a Stripe note too, so an empty answer would prove nothing.
    assert!(!hidden.is_empty(), "the restricted key finds its own project's note");
    assert!(
        hidden.iter().all(|x| x["project_id"] == kitchen.as_str()),
        "a restricted key searches its project only"
    );
}

#[tokio::test]
async fn save_validation_and_permissions() {
    let app = TestApp::new().await;
    let (a, b, c, project) = team_of_three(&app).await;
    let save_with = |key: String, body: Value| {
        let app = &app;
        async move { app.post("/context/save", Some(&key), body).await }
    };
    save_with(a.api_key.clone(), json!({"project_id": project}))
        .await
        .assert_error(400, "MISSING_REQUIRED_FIELD");
    save_with(a.api_key.clone(), json!({"content": "  ", "project_id": project}))
        .await
        .assert_error(422, "INVALID_INPUT");
    save_with(
        a.api_key.clone(),
        json!({"content": "x", "project_id": project, "metadata": {"source": "Not Valid"}}),
    )
    .await
    .assert_error(422, "INVALID_INPUT");
    save_with(
        a.api_key.clone(),
        json!({"content": "x", "project_id": project, "metadata": {"tags": [""]}}),
    )
    .await
    .assert_error(422, "INVALID_INPUT");
    save_with(
        a.api_key.clone(),
        json!({"content": "x", "project_id": project, "metadata": {"tags": "one"}}),
    )
    .await
    .assert_error(422, "INVALID_INPUT");
    save_with(c.api_key.clone(), json!({"content": "x", "project_id": project}))
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");
    save_with(a.api_key.clone(), json!({"content": "x", "project_id": uuid::Uuid::now_v7()}))
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");
    let ro = app
        .post("/users/me/api-keys", Some(&a.api_key), json!({"name": "ro", "scopes": ["read"]}))
        .await;
    let ro = ro.assert_status(201)["key"].as_str().unwrap().to_string();
    save_with(ro.clone(), json!({"content": "x", "project_id": project}))
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    search(&app, &ro, json!({"query": "anything"})).await;

    // A reader of a team project can search it but not write or delete.
    app.put(&format!("/projects/{project}"), &a.api_key, json!({"visibility": "team"}))
        .await
        .assert_status(200);
    let saved = save(&app, &b.api_key, &project, WEBHOOKS, json!({})).await;
    save_with(c.api_key.clone(), json!({"content": "x", "project_id": project}))
        .await
        .assert_error(403, "PROJECT_ACCESS_DENIED");
    let found = search(&app, &c.api_key, json!({"query": "stripe webhooks"})).await;
    assert_eq!(ids(&found), vec![saved["id"].as_str().unwrap().to_string()]);
    let id = saved["id"].as_str().unwrap();
    app.delete(&format!("/context/{id}"), &c.api_key)
        .await
        .assert_error(403, "PROJECT_ACCESS_DENIED");
    app.delete(&format!("/context/{id}"), &a.api_key).await.assert_status(204);
    app.get("/context/not-a-uuid", &a.api_key).await.assert_error(404, "CONTEXT_NOT_FOUND");
    app.send(Method::POST, "/context/save", None, Some(json!({"content": "x"})))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.send(Method::POST, "/context/search", None, Some(json!({"query": "x"})))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn list_filters_pages_and_access_counts() {
    let app = TestApp::new().await;
    let u = app.register("hal").await;
    let other = app.register("ivy").await;
    let project = app.create_project(&u.api_key, "code").await;
    let a = save(&app, &u.api_key, &project, "fn charge() {}", json!({"metadata": {"source": "codebase_scan", "file_path": "src/pay/charge.rs", "tags": ["rust"]}})).await;
    save(
        &app,
        &u.api_key,
        &project,
        "fn refund() {}",
        json!({"metadata": {"source": "codebase_scan", "file_path": "src/pay/refund.rs"}}),
    )
    .await;
    save(&app, &u.api_key, &project, LUNCH, json!({})).await;
    let list = |query: &str| {
        let path = format!("/projects/{project}/context{query}");
        let (app, key) = (&app, u.api_key.clone());
        async move { app.get(&path, &key).await }
    };
    assert_eq!(list("").await.assert_status(200)["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        list("?source=codebase_scan").await.assert_status(200)["items"].as_array().unwrap().len(),
        2
    );
    assert_eq!(list("?tag=rust").await.assert_status(200)["items"][0]["id"], a["id"]);
    assert_eq!(
        list("?file_path=src/pay/re").await.assert_status(200)["items"].as_array().unwrap().len(),
        1
    );
    let page = list("?limit=2").await;
    let cursor = page.assert_status(200)["next_cursor"].as_str().unwrap().to_string();
    assert_eq!(
        list(&format!("?limit=2&cursor={cursor}")).await.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    list("?limit=0").await.assert_error(422, "INVALID_INPUT");
    app.get(&format!("/projects/{project}/context"), &other.api_key)
        .await
        .assert_error(404, "PROJECT_NOT_FOUND");

    search(&app, &u.api_key, json!({"query": "charge", "mode": "keyword"})).await;
    app.services().flush_pending().await;
    let got = app.get(&format!("/context/{}", a["id"].as_str().unwrap()), &u.api_key).await;
    assert_eq!(got.assert_status(200)["accessed_count"], 1);
    assert!(got.body["last_accessed"].is_string());
}

#[tokio::test]
async fn limited_verification_saves_but_does_not_retrieve() {
    let app = TestApp::with_env(&[("EMAIL_VERIFICATION", "limited")]).await;
    let u = app.register("jay").await;
    let project = app.create_project(&u.api_key, "p").await;
    let saved = save(&app, &u.api_key, &project, WEBHOOKS, json!({})).await;
    app.post("/context/search", Some(&u.api_key), json!({"query": "webhooks"}))
        .await
        .assert_error(403, "EMAIL_NOT_VERIFIED");
    app.get(&format!("/context/{}", saved["id"].as_str().unwrap()), &u.api_key)
        .await
        .assert_error(403, "EMAIL_NOT_VERIFIED");
    app.services().admin_verify_email(&u.email).await.unwrap();
    search(&app, &u.api_key, json!({"query": "webhooks"})).await;
}

#[tokio::test]
async fn searches_are_rate_limited_per_user() {
    let app = TestApp::with_env(&[("RATE_LIMIT_SEARCH_PER_MIN", "2")]).await;
    let u = app.register("kim").await;
    for _ in 0..2 {
        search(&app, &u.api_key, json!({"query": "anything", "mode": "keyword"})).await;
    }
    let limited = app.post("/context/search", Some(&u.api_key), json!({"query": "anything"})).await;
    limited.assert_error(429, "RATE_LIMIT_EXCEEDED");
    assert!(limited.headers.contains_key("retry-after"));
    // The budget is the user's: another of kim's keys is limited too, another user is not.
    let other_key =
        app.post("/users/me/api-keys", Some(&u.api_key), json!({"name": "second"})).await;
    let other_key = other_key.assert_status(201)["key"].as_str().unwrap().to_string();
    app.post("/context/search", Some(&other_key), json!({"query": "anything"}))
        .await
        .assert_error(429, "RATE_LIMIT_EXCEEDED");
    let lee = app.register("lee").await;
    search(&app, &lee.api_key, json!({"query": "anything", "mode": "keyword"})).await;
}
