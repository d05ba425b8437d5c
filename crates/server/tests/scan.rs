//! Codebase scans over a real server with the real model: uploaded files, a zip, a tar.gz and
//! git repositories (file:// and a loopback `git daemon`, allow-listed); incremental re-scans;
//! the refusals (zip-slip, links, SSRF) and every unhappy path of the endpoints.

mod support;

use std::io::Write;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use support::archives::{archive_form, tar_gz};
use support::{TestApp, TestUser};

const APP_PY: &str = "import hashlib\n\n\ndef hash_password(password: str, salt: bytes) -> str:\n    \"\"\"Derive a slow hash of a user's password for storage.\"\"\"\n    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1).hex()\n\n\nclass RetryPolicy:\n    def delay(self, attempt: int) -> float:\n        return min(60.0, 0.5 * 2 ** attempt)\n";
const LIB_RS: &str = "/// Parses the configuration file.\npub fn parse_config(text: &str) -> Config {\n    Config { raw: text.to_string() }\n}\n\npub struct Config {\n    raw: String,\n}\n";
const README: &str =
    "# Payments\n\nThe payments service retries failed webhooks with exponential backoff.\n";

fn form_files(files: &[(&str, &[u8])]) -> Form {
    files.iter().fold(Form::new(), |form, (path, bytes)| {
        form.part("files", Part::bytes(bytes.to_vec()).file_name(path.to_string()))
    })
}

fn zip_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        for (path, bytes) in files {
            zip.start_file(*path, zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

/// Polls a job until it is final and returns its status document.
async fn finished(app: &TestApp, key: &str, project: &str, job: &str) -> Value {
    app.until_final(key, &format!("/projects/{project}/scan/status/{job}")).await
}

async fn scanned(app: &TestApp, key: &str, project: &str) -> Vec<Value> {
    let r =
        app.get(&format!("/projects/{project}/context?source=codebase_scan&limit=100"), key).await;
    r.assert_status(200)["items"].as_array().unwrap().clone()
}

async fn owner_with_project(app: &TestApp) -> (TestUser, String) {
    let user = app.register("scanner").await;
    let project = app.create_project(&user.api_key, "payments").await;
    (user, project)
}

/// Queues a scan of an archive holding one small Python file; its job id.
async fn one_file_scan(app: &TestApp, key: &str, project: &str) -> String {
    let form = archive_form("a.zip", zip_bytes(&[("a.py", b"x = 1\n")]), None);
    app.scan_archive(key, project, form).await
}

#[tokio::test]
async fn uploaded_files_are_chunked_by_language_and_found_by_meaning() {
    let app = TestApp::with_model(&[]).await;
    let (u, project) = owner_with_project(&app).await;
    let form = form_files(&[
        ("src/auth/app.py", APP_PY.as_bytes()),
        ("src/lib.rs", LIB_RS.as_bytes()),
        ("README.md", README.as_bytes()),
        ("assets/logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\0"),
        // Above the general 10 MB body limit: scan uploads have their own (200 MB).
        ("data/dump.sql", &vec![b'-'; 12 * 1024 * 1024]),
    ])
    .text("chunk_size", "300")
    .text("chunk_overlap", "0");
    let r = app.scan_form(&u.api_key, &project, form).await;
    let accepted = r.assert_status(202).clone();
    assert_eq!(accepted["status"], "queued");
    let job = accepted["job_id"].as_str().unwrap();
    assert_eq!(accepted["status_url"], format!("/api/v1/projects/{project}/scan/status/{job}"));

    let done = finished(&app, &u.api_key, &project, job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let result = &done["result"];
    assert_eq!(result["files_indexed"], 3, "{result}");
    assert_eq!(
        result["skipped"],
        json!([
            {"path": "assets/logo.png", "reason": "binary file"},
            {"path": "data/dump.sql", "reason": "larger than 1048576 bytes"},
        ])
    );
    assert_eq!(result["errors"], json!([]));
    assert!(result["chunks"].as_u64().unwrap() >= 3);
    assert_eq!(done["progress"]["files_done"], 3);
    assert_eq!(done["progress"]["files_total"], 3);

    let chunks = scanned(&app, &u.api_key, &project).await;
    let hash = chunks
        .iter()
        .find(|c| c["content"].as_str().unwrap().contains("def hash_password"))
        .expect("the function is a chunk");
    let meta = &hash["metadata"];
    assert_eq!(meta["source"], "codebase_scan");
    assert_eq!(meta["file_path"], "src/auth/app.py");
    assert_eq!(meta["language"], "python");
    assert_eq!(meta["symbol"], "hash_password");
    // The function starts on line 4; its chunk may begin earlier (the imports above it).
    let (start, end) = (meta["start_line"].as_u64().unwrap(), meta["end_line"].as_u64().unwrap());
    assert!(start <= 4 && end >= 6, "{meta}");
    assert!(meta["chunk_index"].as_i64().is_some());
    let rust = chunks.iter().find(|c| c["metadata"]["language"] == "rust").unwrap();
    assert_eq!(rust["metadata"]["file_path"], "src/lib.rs");

    let found = app
        .post(
            "/context/search",
            Some(&u.api_key),
            json!({"query": "how are user passwords hashed before storing them?", "similarity_threshold": 0.0, "limit": 3}),
        )
        .await;
    let top = &found.assert_status(200)["results"][0];
    assert_eq!(top["metadata"]["file_path"], "src/auth/app.py", "{found:?}", found = found.body);
    app.shutdown().await;
}

#[tokio::test]
async fn zip_and_tar_gz_rescans_touch_only_what_changed() {
    let app = TestApp::new().await;
    let (u, project) = owner_with_project(&app).await;
    let v1 = [
        ("repo/app.py", APP_PY.as_bytes()),
        ("repo/lib.rs", LIB_RS.as_bytes()),
        ("repo/README.md", README.as_bytes()),
        ("repo/node_modules/pkg/index.js", b"module.exports = {};\n" as &[u8]),
    ];
    let job = app
        .scan_archive(&u.api_key, &project, archive_form("repo.zip", zip_bytes(&v1), None))
        .await;
    let first = finished(&app, &u.api_key, &project, &job).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    assert_eq!(first["result"]["files_indexed"], 3);
    let skipped = first["result"]["skipped"].as_array().unwrap();
    assert!(skipped.contains(
        &json!({"path": "repo/node_modules", "reason": "vendored or generated directory"})
    ));
    let before = scanned(&app, &u.api_key, &project).await;
    let lib_ids: Vec<Value> = before
        .iter()
        .filter(|c| c["metadata"]["file_path"] == "repo/lib.rs")
        .map(|c| c["id"].clone())
        .collect();

    // v2 as a tar.gz: app.py edited, README.md deleted, lib.rs unchanged.
    let edited = APP_PY.replace("60.0", "120.0");
    let v2 = [("repo/app.py", edited.as_bytes()), ("repo/lib.rs", LIB_RS.as_bytes())];
    let job = app
        .scan_archive(&u.api_key, &project, archive_form("repo.tar.gz", tar_gz(&v2, &[]), None))
        .await;
    let second = finished(&app, &u.api_key, &project, &job).await;
    let result = &second["result"];
    assert_eq!(second["status"], "succeeded", "{second}");
    assert_eq!(
        (
            result["files_indexed"].as_u64(),
            result["files_unchanged"].as_u64(),
            result["files_removed"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{result}"
    );
    let after = scanned(&app, &u.api_key, &project).await;
    let lib_after: Vec<Value> = after
        .iter()
        .filter(|c| c["metadata"]["file_path"] == "repo/lib.rs")
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(lib_after, lib_ids, "the unchanged file kept its contexts");
    assert!(
        after.iter().all(|c| c["metadata"]["file_path"] != "repo/README.md"),
        "deleted file gone"
    );
    assert!(after.iter().any(|c| c["content"].as_str().unwrap().contains("120.0")));
    assert!(after.iter().all(|c| !c["content"].as_str().unwrap().contains("60.0")));

    // The same archive again: nothing to do.
    let job = app
        .scan_archive(&u.api_key, &project, archive_form("repo.tar.gz", tar_gz(&v2, &[]), None))
        .await;
    let third = finished(&app, &u.api_key, &project, &job).await;
    assert_eq!(third["result"]["files_unchanged"], 2, "{third}");
    assert_eq!(third["result"]["files_indexed"], 0);
    app.shutdown().await;
}

#[tokio::test]
async fn archives_cannot_escape_and_links_are_never_followed() {
    let app = TestApp::new().await;
    let (u, project) = owner_with_project(&app).await;
    for (name, bytes) in [
        (
            "slip.zip",
            zip_bytes(&[("ok.py", b"x = 1\n" as &[u8]), ("../../evil.sh", b"rm -rf /\n")]),
        ),
        ("abs.tar.gz", {
            // tar::Builder refuses to write `..` itself, so the name goes into the header raw.
            let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let mut tar = tar::Builder::new(gz);
            let mut header = tar::Header::new_old();
            let name = b"../outside.txt";
            header.as_old_mut().name[..name.len()].copy_from_slice(name);
            header.set_size(3);
            header.set_cksum();
            tar.append(&header, &b"bad"[..]).unwrap();
            tar.into_inner().unwrap().finish().unwrap()
        }),
    ] {
        let form = Form::new().part("archive", Part::bytes(bytes).file_name(name));
        let r = app.scan_form(&u.api_key, &project, form).await;
        r.assert_error(422, "INVALID_INPUT");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("outside"), "{}", r.body);
    }
    let form = form_files(&[("../escape.py", b"x = 1\n")]);
    app.scan_form(&u.api_key, &project, form).await.assert_error(422, "INVALID_INPUT");
    assert!(!app.dir.path().join("escape.py").exists());

    let links =
        tar_gz(&[("app.py", APP_PY.as_bytes())], &[("passwd", "/etc/passwd"), ("up", "../../..")]);
    let job = app.scan_archive(&u.api_key, &project, archive_form("links.tgz", links, None)).await;
    let done = finished(&app, &u.api_key, &project, &job).await;
    assert_eq!(done["result"]["files_indexed"], 1, "{done}");
    let reasons: Vec<&str> = done["result"]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["link (never followed)", "link (never followed)"]);
    let chunks = scanned(&app, &u.api_key, &project).await;
    assert!(chunks.iter().all(|c| !c["content"].as_str().unwrap().contains("root:")));
    app.shutdown().await;
}

/// A git repository in a temporary directory with the three files committed.
fn git_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(dir.path().join("app.py"), APP_PY).unwrap();
    std::fs::write(dir.path().join("lib.rs"), LIB_RS).unwrap();
    std::fs::write(dir.path().join("README.md"), README).unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    dir
}

#[tokio::test]
async fn git_repositories_over_file_and_git_daemon() {
    let repo = git_repo();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut daemon = std::process::Command::new("git")
        .args(["daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", repo.path().parent().unwrap().display()))
        .arg(repo.path())
        .spawn()
        .unwrap();
    let app = TestApp::with_env(&[("SCAN_ALLOWED_HOSTS", "file,127.0.0.1")]).await;
    let (u, project) = owner_with_project(&app).await;
    let body = json!({
        "git_url": format!("file://{}", repo.path().display()),
        "branch": "main",
        "file_patterns": ["*.py", "*.md"],
    });
    let r = app.post(&format!("/projects/{project}/scan"), Some(&u.api_key), body).await;
    let job = r.assert_status(202)["job_id"].as_str().unwrap().to_string();
    let done = finished(&app, &u.api_key, &project, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["files_indexed"], 2, "patterns leave lib.rs out: {done}");
    assert_eq!(done["result"]["files_not_matched"], 1);

    // Over the git protocol from a loopback daemon (allow-listed), in a second project.
    let other = app.create_project(&u.api_key, "daemon").await;
    let name = repo.path().file_name().unwrap().to_string_lossy().to_string();
    let mut ready = false;
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ready, "git daemon listening");
    let body = json!({"git_url": format!("git://127.0.0.1:{port}/{name}")});
    let r = app.post(&format!("/projects/{other}/scan"), Some(&u.api_key), body).await;
    let job = r.assert_status(202)["job_id"].as_str().unwrap().to_string();
    let done = finished(&app, &u.api_key, &other, &job).await;
    daemon.kill().unwrap();
    let _ = daemon.wait();
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["files_indexed"], 3);
    app.shutdown().await;

    // Without the allow-list the same URLs are refused before any job exists.
    let strict = TestApp::new().await;
    let (u, project) = owner_with_project(&strict).await;
    for url in [
        format!("file://{}", repo.path().display()),
        format!("git://127.0.0.1:{port}/{name}"),
        "http://169.254.169.254/latest/meta-data".into(),
        "https://localhost/team/repo.git".into(),
        "git@10.0.0.7:team/repo.git".into(),
    ] {
        let r = strict
            .post(&format!("/projects/{project}/scan"), Some(&u.api_key), json!({"git_url": url}))
            .await;
        r.assert_error(422, "INVALID_INPUT");
        assert_eq!(r.body["error"]["details"]["field"], "git_url", "{url}: {}", r.body);
    }
    strict.shutdown().await;
}

#[tokio::test]
async fn scan_endpoints_refuse_bad_requests() {
    let app = TestApp::with_env(&[("SCAN_MAX_UPLOAD_BYTES", "20000")]).await;
    let (u, project) = owner_with_project(&app).await;
    let other = app.register("outsider").await;
    let path = format!("/projects/{project}/scan");
    let files = || form_files(&[("a.py", b"x = 1\n")]);

    // No auth, wrong key, someone else's project, unknown and malformed project ids.
    let r = app.client.post(app.url(&path)).multipart(files()).send().await.unwrap();
    TestApp::read(r).await.assert_error(401, "INVALID_CREDENTIALS");
    app.scan_form("tc_not_a_key", &project, files()).await.assert_error(401, "INVALID_API_KEY");
    app.scan_form(&other.api_key, &project, files()).await.assert_error(404, "PROJECT_NOT_FOUND");
    let unknown = uuid::Uuid::now_v7().to_string();
    app.scan_form(&u.api_key, &unknown, files()).await.assert_error(404, "PROJECT_NOT_FOUND");
    app.scan_form(&u.api_key, "not-a-uuid", files()).await.assert_error(404, "PROJECT_NOT_FOUND");

    // Malformed and invalid bodies.
    let r = app
        .client
        .post(app.url(&path))
        .bearer_auth(&u.api_key)
        .header("content-type", "application/json")
        .body("{\"git_url\": ")
        .send()
        .await
        .unwrap();
    TestApp::read(r).await.assert_error(400, "INVALID_INPUT");
    app.post(&path, Some(&u.api_key), json!({})).await.assert_error(400, "MISSING_REQUIRED_FIELD");
    for (body, field) in [
        (json!({"git_url": "https://example.com/r.git", "chunk_size": 10}), "chunk_size"),
        (
            json!({"git_url": "https://example.com/r.git", "chunk_size": 500, "chunk_overlap": 500}),
            "chunk_overlap",
        ),
        (
            json!({"git_url": "https://example.com/r.git", "file_patterns": ["src/["]}),
            "file_patterns",
        ),
        (json!({"git_url": "ftp://example.com/r.git"}), "git_url"),
    ] {
        let r = app.post(&path, Some(&u.api_key), body).await;
        r.assert_error(422, "INVALID_INPUT");
        assert_eq!(r.body["error"]["details"]["field"], field, "{}", r.body);
    }
    let both = files().text("git_url", "https://example.com/r.git");
    app.scan_form(&u.api_key, &project, both).await.assert_error(422, "INVALID_INPUT");
    let odd = Form::new().text("color", "blue");
    app.scan_form(&u.api_key, &project, odd).await.assert_error(400, "INVALID_INPUT");
    let rar = Form::new().part("archive", Part::bytes(b"Rar!".to_vec()).file_name("x.rar"));
    app.scan_form(&u.api_key, &project, rar).await.assert_error(422, "INVALID_INPUT");
    let broken = Form::new().part("archive", Part::bytes(b"not a zip".to_vec()).file_name("x.zip"));
    app.scan_form(&u.api_key, &project, broken).await.assert_error(422, "INVALID_INPUT");
    let big = form_files(&[("big.py", &vec![b'#'; 30_000])]);
    app.scan_form(&u.api_key, &project, big).await.assert_error(413, "CONTEXT_TOO_LARGE");

    // A read-only key may not scan; viewers of a team project may read status, not cancel.
    let r = app
        .post("/users/me/api-keys", Some(&u.api_key), json!({"name": "ro", "scopes": ["read"]}))
        .await;
    let read_only = r.assert_status(201)["key"].as_str().unwrap().to_string();
    app.scan_form(&read_only, &project, files())
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");

    // Status and cancel: unknown ids, other people's jobs.
    let job = one_file_scan(&app, &u.api_key, &project).await;
    let status = format!("/projects/{project}/scan/status/{job}");
    app.get(&status, &other.api_key).await.assert_error(404, "PROJECT_NOT_FOUND");
    let elsewhere = app.create_project(&u.api_key, "elsewhere").await;
    app.get(&format!("/projects/{elsewhere}/scan/status/{job}"), &u.api_key)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    app.get(&format!("/projects/{project}/scan/status/{unknown}"), &u.api_key)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    app.get(&format!("/projects/{project}/scan/status/nope"), &u.api_key)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    app.post(&format!("/jobs/{job}/cancel"), Some(&other.api_key), json!({}))
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    app.post(&format!("/jobs/{unknown}/cancel"), Some(&u.api_key), json!({}))
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    let done = finished(&app, &u.api_key, &project, &job).await;
    assert_eq!(done["status"], "succeeded");
    // `GET /jobs/{id}` shows any job the caller may see, as the scan status does.
    let same = app.get(&format!("/jobs/{job}"), &u.api_key).await;
    assert_eq!(same.assert_status(200), &done);
    app.get(&format!("/jobs/{job}"), &other.api_key).await.assert_error(404, "RESOURCE_NOT_FOUND");
    app.get(&format!("/jobs/{unknown}"), &u.api_key).await.assert_error(404, "RESOURCE_NOT_FOUND");
    app.get("/jobs/nope", &u.api_key).await.assert_error(404, "RESOURCE_NOT_FOUND");
    let again = app.post(&format!("/jobs/{job}/cancel"), Some(&u.api_key), json!({})).await;
    assert_eq!(again.assert_status(200)["status"], "succeeded", "a finished job stays finished");
    app.shutdown().await;
}

#[tokio::test]
async fn a_queued_scan_can_be_cancelled() {
    // No workers: the job stays queued until cancelled.
    let app = TestApp::with_env(&[("JOB_WORKERS", "0")]).await;
    let (u, project) = owner_with_project(&app).await;
    let job = one_file_scan(&app, &u.api_key, &project).await;
    let workspace = app.dir.path().join("scans").join(&job);
    assert!(workspace.join("src/a.py").exists(), "the upload is kept for the job");
    let r = app.post(&format!("/jobs/{job}/cancel"), Some(&u.api_key), json!({})).await;
    let body = r.assert_status(200);
    assert_eq!(body["status"], "cancelled");
    assert!(body["finished_at"].is_string());
    assert!(!workspace.exists(), "a cancelled scan's upload is removed");
    let status = app.get(&format!("/projects/{project}/scan/status/{job}"), &u.api_key).await;
    assert_eq!(status.assert_status(200)["status"], "cancelled");

    // What a server killed mid-cleanup leaves behind is removed by the periodic purge: the
    // workspace of a final job goes, one whose job is still being accepted stays.
    std::fs::create_dir_all(workspace.join("src")).unwrap();
    let accepting = app.dir.path().join("scans").join(uuid::Uuid::now_v7().to_string());
    std::fs::create_dir_all(&accepting).unwrap();
    assert_eq!(app.services().purge_stale_workspaces().await.unwrap(), 1);
    assert!(!workspace.exists());
    assert!(accepting.exists());
    app.shutdown().await;
}

/// Opens a multipart scan upload to `project` that announces 10 MB and sends only its start,
/// leaving the body unfinished: the connection is returned so the test decides when it ends.
async fn unfinished_upload(app: &TestApp, key: &str, project: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/projects/{project}/scan HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {key}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
         Content-Length: 10000000\r\n\r\n--XyZ\r\n\
         Content-Disposition: form-data; name=\"archive\"; filename=\"a.tar.gz\"\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&[0u8; 4096]).await.unwrap();
    tcp
}

/// The status line of the answer on `tcp`, waiting at most 60 s (a server that waited for the
/// rest of the body would never answer).
async fn status_of(tcp: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(60), tcp.read(&mut buf))
        .await
        .expect("the server answers without the rest of the body")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_string()
}

/// Hole 7 of the hardening issue: an upload was read (and stored) before the server checked
/// that the caller may scan into the project. Now a stranger's upload is refused before its
/// body is read, and one user has at most two uploads in flight.
#[tokio::test]
async fn uploads_are_authorised_before_they_are_read_and_capped_per_user() {
    let app = TestApp::new().await;
    let (u, project) = owner_with_project(&app).await;
    let other = app.register("outsider").await;

    let mut stranger = unfinished_upload(&app, &other.api_key, &project).await;
    assert!(status_of(&mut stranger).await.contains(" 404 "), "a stranger is refused at once");
    let mut nobody = unfinished_upload(&app, "tc_not_a_key", &project).await;
    assert!(status_of(&mut nobody).await.contains(" 401 "));

    let _first = unfinished_upload(&app, &u.api_key, &project).await;
    let _second = unfinished_upload(&app, &u.api_key, &project).await;
    // The two uploads above reach their handler in their own time; a third must then be
    // refused.
    let mut refused = None;
    for _ in 0..100 {
        let form = Form::new()
            .part("archive", Part::bytes(zip_bytes(&[("a.py", b"x = 1\n")])).file_name("a.zip"));
        let r = app.scan_form(&u.api_key, &project, form).await;
        if r.status == 429 {
            refused = Some(r);
            break;
        }
        r.assert_status(202);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    refused.expect("a third concurrent upload is refused").assert_error(429, "RATE_LIMIT_EXCEEDED");
    // Other users are not held up by this one's uploads.
    let theirs = app.create_project(&other.api_key, "theirs").await;
    let form = Form::new()
        .part("archive", Part::bytes(zip_bytes(&[("b.py", b"y = 2\n")])).file_name("b.zip"));
    app.scan_form(&other.api_key, &theirs, form).await.assert_status(202);
    // When the unfinished uploads end, their slots come back.
    drop((_first, _second));
    let mut accepted = false;
    for _ in 0..100 {
        let form = Form::new()
            .part("archive", Part::bytes(zip_bytes(&[("c.py", b"z = 3\n")])).file_name("c.zip"));
        if app.scan_form(&u.api_key, &project, form).await.status == 202 {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted, "the slots are given back");
    // No temporary upload file is left behind.
    let staged: Vec<_> = std::fs::read_dir(app.dir.path().join("scans"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name())
        .collect();
    assert!(staged.is_empty(), "{staged:?}");
}

/// Hole 2 of the hardening issue: a file nested 200,000 levels deep kept the only job worker
/// busy for 40 minutes. Now such a file is indexed as text beside the other files.
#[tokio::test]
async fn a_deeply_nested_file_does_not_stall_a_scan() {
    let app = TestApp::new().await;
    let (u, project) = owner_with_project(&app).await;
    // Deep enough to pass the syntax-depth limit 200 times (the chunker's unit test takes the
    // attack's 200,000 levels; here the text's embedding is what costs time).
    let depth = 50_000;
    let deep = format!("x = {}1{}\n", "(".repeat(depth), ")".repeat(depth));
    let bytes = tar_gz(&[("deep.py", deep.as_bytes()), ("app.py", APP_PY.as_bytes())], &[]);
    let job =
        app.scan_archive(&u.api_key, &project, archive_form("nested.tar.gz", bytes, None)).await;
    let done = finished(&app, &u.api_key, &project, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["files_indexed"], 2, "{done}");
    assert_eq!(done["result"]["errors"], json!([]), "{done}");
}
