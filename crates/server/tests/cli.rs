//! The `teamcontext` binary: configuration errors name their variable, a failed command says why
//! in one line (never a stack trace), `migrate` prepares a fresh database, the operator commands
//! act on accounts, a backup taken while serving restores to a searchable server, one data
//! directory serves one server at a time, and a scan killed with SIGKILL finishes after a
//! restart exactly as an uninterrupted one.

use std::process::{Command, Stdio};

mod support;

use support::TestApp;
use support::archives::{archive_form, python_modules};
use support::process::{serve, serve_with, teamcontext};

#[test]
fn a_bad_setting_stops_the_server_and_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        teamcontext(dir.path()).env("BIND_ADDR", "not-an-address").arg("serve").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("BIND_ADDR"), "{stderr}");
}

#[test]
fn a_failed_command_says_why_in_one_line_without_a_stack_trace() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_teamcontext"))
        .args(["scan", ".", "--project", "p", "--server", "http://127.0.0.1:9"])
        .env_remove("TEAMCONTEXT_API_KEY")
        .env("RUST_BACKTRACE", "1")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: no API key"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn migrate_then_operator_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = teamcontext(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("20 migration(s) applied"));
    let again = teamcontext(dir.path()).arg("migrate").output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 migration(s) applied"));

    let missing = teamcontext(dir.path())
        .args(["user", "deactivate", "nobody@example.com"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));

    let purge = teamcontext(dir.path()).arg("purge").output().unwrap();
    assert!(String::from_utf8_lossy(&purge.stdout).contains("0 project(s) purged"));

    let mut reset = teamcontext(dir.path())
        .args(["user", "reset-password", "nobody@example.com"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(reset.stdin.as_mut().unwrap(), b"a long new password\n").unwrap();
    let out = reset.wait_with_output().unwrap();
    assert!(!out.status.success(), "unknown account");

    // A sign-up invitation prints its token once; a bad address is refused.
    let invite =
        teamcontext(dir.path()).args(["user", "invite", "New@Example.com"]).output().unwrap();
    let text = String::from_utf8_lossy(&invite.stdout);
    assert!(invite.status.success(), "{}", String::from_utf8_lossy(&invite.stderr));
    assert!(
        text.contains("new@example.com") && text.contains("\"invitation_token\": \"tci_"),
        "{text}"
    );
    let bad = teamcontext(dir.path()).args(["user", "invite", "not-an-address"]).output().unwrap();
    assert!(!bad.status.success());
}

/// The account commands succeed on a real account, and start without the embedding model (the
/// model directory named here does not exist).
#[tokio::test]
async fn operator_commands_act_on_an_account_without_loading_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), "warn");
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let email = "ops@example.com";
    let registered = client
        .post(format!("{base}/auth/register"))
        .json(&serde_json::json!({"email": email, "password": "the first password", "name": "Ops"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    server.stop();

    let no_model = dir.path().join("no-model-here");
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut child = teamcontext(dir.path())
            .env("EMBEDDING_MODEL_DIR", &no_model)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let input = stdin.unwrap_or("");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(run(&["user", "verify-email", email], None).contains("ops@example.com verified"));
    assert!(
        run(&["user", "reset-password", email], Some("the second password\n"))
            .contains("password reset")
    );
    assert!(run(&["user", "deactivate", email], None).contains("deactivated"));
    assert!(run(&["purge"], None).contains("0 project(s) purged"));

    // Logs in on a fresh server over the same data directory; the status it answers.
    let login = async |password: &str| {
        let server = serve(dir.path(), "warn");
        let status = client
            .post(format!("{}/auth/login", server.base))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
            .status();
        server.stop();
        status
    };
    assert_eq!(login("the second password").await, 401, "deactivated");
    assert!(run(&["user", "activate", email], None).contains("activated"));
    assert_eq!(login("the first password").await, 401);
    assert_eq!(login("the second password").await, 200);
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (rest, ok) = serve(dir.path(), "info").stop();
    assert!(ok, "exit status after SIGTERM");
    assert!(rest.contains("server stopped"), "{rest}");
    assert!(dir.path().join("teamcontext.db").exists());
    assert!(dir.path().join("jwt_secret").exists());
}

/// Runs the real binary with debug logging, signs up, logs in and uses a key, then checks the
/// captured logs: one JSON line per request with the documented fields, and no secret or full
/// email address anywhere.
#[tokio::test]
async fn logs_are_structured_and_never_contain_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), "debug");
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let password = "a very secret password";
    let email = "logcheck@example.com";
    let post = |path: &str, body: serde_json::Value| {
        let request = client.post(format!("{base}{path}")).json(&body).send();
        async move { request.await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let reg = post(
        "/auth/register",
        serde_json::json!({"email": email, "password": password, "name": "Log"}),
    )
    .await;
    let key = reg["api_key"]["key"].as_str().unwrap().to_string();
    let login =
        post("/auth/login", serde_json::json!({"email": email, "password": password})).await;
    let me = client.get(format!("{base}/users/me")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let bad = client.get(format!("{base}/users/me")).bearer_auth("tc_wrongwrongwrong").send().await;
    assert_eq!(bad.unwrap().status(), 401);

    let early = server.early_lines.concat();
    let (rest, _) = server.stop();
    let all = format!("{early}{rest}");

    for secret in [
        password,
        email,
        key.as_str(),
        "tc_wrongwrongwrong",
        reg["access_token"].as_str().unwrap(),
        reg["refresh_token"].as_str().unwrap(),
        login["access_token"].as_str().unwrap(),
        login["refresh_token"].as_str().unwrap(),
    ] {
        assert!(!all.contains(secret), "a secret leaked into the logs: {secret}");
    }
    assert!(all.contains("l***@example.com"), "emails appear masked");
    // A service's own line carries the id of the request it served.
    let register_line: serde_json::Value = all
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] != "request" && v.to_string().contains("l***@example.com"))
        .expect("the service's line about the registration");
    let span_id = &register_line["spans"][0]["request_id"];
    assert!(span_id.as_str().is_some_and(|id| id.starts_with("req_")), "{register_line}");

    let requests: Vec<serde_json::Value> = all
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 4, "one line per request");
    let me_line = requests.iter().find(|v| v["route"] == "/api/v1/users/me" && v["status"] == 200);
    let me_line = me_line.expect("a line for GET /users/me");
    for field in ["request_id", "method", "latency_ms", "user_id"] {
        assert!(me_line.get(field).is_some(), "{field} in {me_line}");
    }
    assert_eq!(me_line["user_id"], reg["user"]["id"]);
}

/// Registers `email` on the server at `base` and creates a project for each of `projects`;
/// returns the API key and the project ids.
async fn account(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    projects: &[&str],
) -> (String, Vec<String>) {
    let reg: serde_json::Value = client
        .post(format!("{base}/auth/register"))
        .json(&serde_json::json!({"email": email, "password": "a long test password", "name": "T"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = reg["api_key"]["key"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for name in projects {
        let p: serde_json::Value = client
            .post(format!("{base}/projects"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"name": name}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(p["id"].as_str().unwrap().to_string());
    }
    (key, ids)
}

#[tokio::test]
async fn backup_while_serving_then_restore() {
    let dir = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("team.db");
    let server = serve(dir.path(), "warn");
    let (base, client) = (server.base.clone(), reqwest::Client::new());
    let (key, projects) = account(&client, &base, "ops@example.com", &["ops"]).await;
    let project = projects[0].clone();
    let post = |path: &str, body: serde_json::Value| {
        let request = client.post(format!("{base}{path}")).bearer_auth(&key).json(&body).send();
        async move { request.await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let kept = "Backups run nightly at 02:00 with VACUUM INTO and are kept for thirty days.";
    post("/context/save", serde_json::json!({"content": kept, "project_id": project})).await;

    // Online: the server keeps running while the backup is taken.
    let out =
        teamcontext(dir.path()).args(["backup".as_ref(), backup.as_os_str()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 user(s), 1 project(s), 1 context(s)"), "{stdout}");
    // The database, its WAL and the backup are readable by their owner alone.
    for file in
        [dir.path().join("teamcontext.db"), dir.path().join("teamcontext.db-wal"), backup.clone()]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", file.display());
    }
    let later = "This note was written after the backup and is not in it.";
    post("/context/save", serde_json::json!({"content": later, "project_id": project})).await;

    let again =
        teamcontext(dir.path()).args(["backup".as_ref(), backup.as_os_str()]).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    // Neither a restore nor a second server may touch a database in use.
    let busy =
        teamcontext(dir.path()).args(["restore".as_ref(), backup.as_os_str()]).output().unwrap();
    assert!(!busy.status.success());
    assert!(String::from_utf8_lossy(&busy.stderr).contains("already running"), "{busy:?}");
    let second = teamcontext(dir.path()).env("BIND_ADDR", "127.0.0.1:0").arg("serve").output();
    let second = second.unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already running"));
    server.stop();

    let junk = backups.path().join("junk.db");
    std::fs::write(&junk, "not a database, just text that is long enough").unwrap();
    let refused =
        teamcontext(dir.path()).args(["restore".as_ref(), junk.as_os_str()]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not an SQLite database"));

    let restored =
        teamcontext(dir.path()).args(["restore".as_ref(), backup.as_os_str()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&restored.stdout);
    assert!(restored.status.success(), "{}", String::from_utf8_lossy(&restored.stderr));
    assert!(stdout.contains("was kept as"), "{stdout}");
    let kept_aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().starts_with("teamcontext.db.before-restore-"));
    assert!(kept_aside, "the replaced database is kept");

    // The restored server has the backup's state: the same key, the first note searchable.
    let server = serve(dir.path(), "warn");
    let base = server.base.clone();
    let found = client
        .post(format!("{base}/context/search"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"query": "when do backups run?", "similarity_threshold": 0.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), 200);
    let found: serde_json::Value = found.json().await.unwrap();
    let contents: Vec<&str> = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, vec![kept]);
    server.stop();
}

/// Every scanned chunk of a project as (file, chunk index, content), sorted, paging through.
async fn scanned_chunks(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    project: &str,
) -> Vec<(String, i64, String)> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/projects/{project}/context?source=codebase_scan&limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: serde_json::Value =
            client.get(url).bearer_auth(key).send().await.unwrap().json().await.unwrap();
        for c in page["items"].as_array().unwrap() {
            out.push((
                c["metadata"]["file_path"].as_str().unwrap().to_string(),
                c["metadata"]["chunk_index"].as_i64().unwrap(),
                c["content"].as_str().unwrap().to_string(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    out.sort();
    out
}

async fn job_status(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    project: &str,
    job: &str,
) -> serde_json::Value {
    let url = format!("{base}/projects/{project}/scan/status/{job}");
    client.get(url).bearer_auth(key).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn a_scan_killed_mid_way_finishes_after_restart_as_if_uninterrupted() {
    // Sixty modules of a few chunks each: long enough to kill the server in the middle. The
    // kill lands once 5 files are seen done; with a 1 s lease, progress is saved every 250 ms,
    // so the scan is at most that far ahead of what was seen, far from its end.
    const FILES: u64 = 60;
    let archive = python_modules(FILES as usize, "kill");

    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("JOB_LEASE_SECS", "1"),
        ("RATE_LIMIT_PER_KEY_PER_MIN", "0"),
        ("RATE_LIMIT_PER_IP_PER_MIN", "0"),
    ];
    let server = serve_with(dir.path(), "warn", &env);
    let (base, client) = (server.base.clone(), reqwest::Client::new());
    let (key, projects) =
        account(&client, &base, "kill@example.com", &["interrupted", "uninterrupted"]).await;
    let form = || archive_form("app.tar.gz", archive.clone(), Some(200));
    let job = TestApp::remote(&base).scan_archive(&key, &projects[0], form()).await;

    // Kill -9 once some files are indexed and others are not.
    let mut done_before = 0;
    for _ in 0..600 {
        let status = job_status(&client, &base, &key, &projects[0], &job).await;
        done_before = status["progress"]["files_done"].as_u64().unwrap_or(0);
        if done_before >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!((5..FILES).contains(&done_before), "killed mid-way ({done_before} files done)");
    server.kill();

    // A new process takes the job over once the dead one's lease expires.
    let server = serve_with(dir.path(), "warn", &env);
    let base = server.base.clone();
    let mut status = serde_json::Value::Null;
    for _ in 0..1200 {
        status = job_status(&client, &base, &key, &projects[0], &job).await;
        if status["status"] != "running" && status["status"] != "queued" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status["status"], "succeeded", "{status}");
    assert_eq!(status["attempts"], 2, "claimed again after the crash");
    let result = &status["result"];
    assert_eq!(
        result["files_indexed"].as_u64().unwrap() + result["files_unchanged"].as_u64().unwrap(),
        FILES,
        "the files indexed before the crash were not redone: {result}"
    );
    assert!(result["files_unchanged"].as_u64().unwrap() >= done_before.saturating_sub(1));

    // The same archive scanned without interruption gives the same contexts, none twice.
    let clean_job = TestApp::remote(&base).scan_archive(&key, &projects[1], form()).await;
    for _ in 0..1200 {
        let s = job_status(&client, &base, &key, &projects[1], &clean_job).await;
        if s["status"] == "succeeded" {
            break;
        }
        assert_ne!(s["status"], "failed", "{s}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let interrupted = scanned_chunks(&client, &base, &key, &projects[0]).await;
    let uninterrupted = scanned_chunks(&client, &base, &key, &projects[1]).await;
    assert!(interrupted.len() > 40);
    assert_eq!(interrupted, uninterrupted);
    let mut keys: Vec<(&String, i64)> = interrupted.iter().map(|(f, i, _)| (f, *i)).collect();
    keys.dedup();
    assert_eq!(keys.len(), interrupted.len(), "no chunk stored twice");
    server.stop();
}

#[tokio::test]
async fn scan_command_uploads_a_directory_and_reports() {
    let data = tempfile::tempdir().unwrap();
    let server = serve(data.path(), "warn");
    let (base, client) = (server.base.clone(), reqwest::Client::new());
    let (key, projects) = account(&client, &base, "cli@example.com", &["cli"]).await;
    let project = projects[0].clone();
    let code = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(code.path().join("src")).unwrap();
    std::fs::create_dir_all(code.path().join("node_modules/dep")).unwrap();
    std::fs::write(code.path().join("src/main.py"), "def main():\n    print('hello')\n").unwrap();
    std::fs::write(code.path().join("src/util.py"), "def add(a, b):\n    return a + b\n").unwrap();
    std::fs::write(code.path().join("node_modules/dep/index.js"), "module.exports = 1;\n").unwrap();
    std::fs::write(code.path().join("notes.tmp"), "scratch\n").unwrap();
    std::fs::write(code.path().join(".gitignore"), "*.tmp\n").unwrap();
    let server_url = base.trim_end_matches("/api/v1").to_string();
    let scan_into = |project: &str, key: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_teamcontext"));
        cmd.env_clear().args(["scan".as_ref(), code.path().as_os_str()]).args([
            "--project",
            project,
            "--server",
            &server_url,
            "--api-key",
            key,
        ]);
        cmd.output().unwrap()
    };
    let scan = |key: &str| scan_into(&project, key);
    let out = scan(&key);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("3 file(s) indexed, 0 unchanged"), "{stdout}");
    // By name, as a person would type it.
    let again = scan_into("CLI", &key);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("0 file(s) indexed, 3 unchanged"), "{stdout}");
    let unknown = scan_into("payments", &key);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains(r#"no project named "payments"; this key reaches: cli"#), "{stderr}");
    let refused = scan("tc_wrong_key_entirely");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("refused the scan (401"));
    let refused = scan_into("cli", "tc_wrong_key_entirely");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("refused to list the projects (401"), "{stderr}");
    // Two projects of one name: the command names their ids instead of guessing.
    let mut twins = Vec::new();
    for _ in 0..2 {
        let created: serde_json::Value = client
            .post(format!("{base}/projects"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"name": "twin"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        twins.push(created["id"].as_str().unwrap().to_string());
    }
    let ambiguous = scan_into("twin", &key);
    assert!(!ambiguous.status.success());
    let stderr = String::from_utf8_lossy(&ambiguous.stderr);
    assert!(stderr.contains(r#"2 projects are named "twin"; pass one's id"#), "{stderr}");
    assert!(twins.iter().all(|id| stderr.contains(id.as_str())), "{stderr}");
    server.stop();
}

/// `teamcontext reindex` after a change of precision: refused while a server holds the SQLite
/// database, then embeds what the new model has not, drops the old model's passages, and has
/// nothing left to do the second time; the server then finds the note by meaning.
#[tokio::test]
async fn reindex_after_a_precision_change() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_with(dir.path(), "warn", &[("EMBEDDING_PRECISION", "int8")]);
    let (base, client) = (server.base.clone(), reqwest::Client::new());
    let (key, projects) = account(&client, &base, "ops@example.com", &["ops"]).await;
    let note = "Backups run nightly at 02:00 with VACUUM INTO and are kept for thirty days.";
    let saved = client
        .post(format!("{base}/context/save"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"content": note, "project_id": projects[0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 201);
    let busy = teamcontext(dir.path()).arg("reindex").output().unwrap();
    assert!(!busy.status.success());
    assert!(String::from_utf8_lossy(&busy.stderr).contains("already running"), "{busy:?}");
    server.stop();

    let out = teamcontext(dir.path()).arg("reindex").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("1 context(s) embedded with all-MiniLM-L6-v2;")
            && stdout.contains("1 passage(s) of other models removed"),
        "{stdout}"
    );
    let again = teamcontext(dir.path()).arg("reindex").output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 context(s) embedded"));

    let server = serve(dir.path(), "warn");
    let found = client
        .post(format!("{}/context/search", server.base))
        .bearer_auth(&key)
        .json(&serde_json::json!({"query": "when do backups run?", "mode": "vector"}))
        .send()
        .await
        .unwrap();
    let found: serde_json::Value = found.json().await.unwrap();
    assert_eq!(found["results"][0]["content"], note, "{found}");
    assert!(found.get("degraded").is_none());
    server.stop();
}
