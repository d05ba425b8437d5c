//! Proof by attack: Schemathesis (a real property-based API tester) generates requests for
//! every operation of `/api/v1/openapi.json`, valid and invalid, authenticated as a user who
//! owns a project, a context and a spare API key (so that operations on an id reach their logic
//! rather than a 404), and checks every answer: no 5xx, every status documented, every body and
//! content type as the document says. The server has mail configured (aiosmtpd), so the mail
//! operations run too. Bounded by `--max-time`; `SCHEMATHESIS_SECONDS` changes the budget.

mod support;

use std::path::PathBuf;

use serde_json::json;
use support::TestApp;
use support::smtp::SmtpSink;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_survives_schemathesis() {
    let sink = SmtpSink::start();
    let smtp = sink.url();
    let app = TestApp::with_env(&[("SMTP_URL", smtp.as_str())]).await;
    let user = app.register("attacker").await;
    let project = app.create_project(&user.api_key, "fuzzed").await;
    let saved = app
        .post(
            "/context/save",
            Some(&user.api_key),
            json!({"content": "Fuzzing finds what examples miss.", "project_id": project,
                   "metadata": {"source": "decision"}}),
        )
        .await;
    let context = saved.assert_status(201)["id"].as_str().unwrap().to_string();
    let spare = app.post("/users/me/api-keys", Some(&user.api_key), json!({"name": "spare"})).await;
    let spare_key = spare.assert_status(201)["id"].as_str().unwrap().to_string();

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[operations]]
include-path-regex = "/projects/\\{{id\\}}"
parameters = {{ "path.id" = "{project}" }}

[[operations]]
include-path-regex = "/context/\\{{id\\}}"
parameters = {{ "path.id" = "{context}" }}

[[operations]]
include-path-regex = "/api-keys/\\{{id\\}}"
parameters = {{ "path.id" = "{spare_key}" }}
"#
        ),
    )
    .unwrap();

    let seconds = std::env::var("SCHEMATHESIS_SECONDS").unwrap_or_else(|_| "90".into());
    let bin =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_clients/venv/bin/schemathesis");
    assert!(bin.exists(), "run scripts/fetch-mcp-clients.sh (make test does)");
    let (url, auth) = (app.url("/openapi.json"), format!("Authorization: Bearer {}", user.api_key));
    let workdir = dir.path().to_path_buf();
    // On a blocking thread: the server under attack runs on this runtime's workers meanwhile.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin)
            .arg("--config-file")
            .arg(&config)
            .arg("--no-color")
            .arg("run")
            .arg(url)
            .args(["--header", &auth])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            .args(["--workers", "2", "--max-time", &seconds, "--request-timeout", "30"])
            .current_dir(workdir)
            .output()
    })
    .await
    .unwrap()
    .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let operations = app.operations().await.len();
    assert!(
        report.contains(&format!("Tested: {operations}")),
        "every one of the {operations} operations is tested:\n{report}"
    );
    app.shutdown().await;
}
