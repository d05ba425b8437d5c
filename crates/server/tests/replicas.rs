//! Replicas: two `teamcontext serve` processes on one PostgreSQL and one Redis, as a team that
//! outgrew one machine runs them (SPEC §2). A key revoked through one is refused by the other
//! at once although both cache credentials; one rate-limit budget is counted across both; a
//! Redis outage degrades instead of failing; uploaded scans run exactly once whichever replica
//! claims them; and a replica killed mid-scan leaves the job to the other.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::archives::{archive_form, python_modules};
use support::process::{Served, TestRedis, serve_with};
use support::{Resp, TestApp};
use tc_store_postgres::testing::{TestAuthority, TestDatabase, TlsFrontend};

const SECRET: &str = "a shared signing secret of at least 32 bytes";

/// A replica on `db` and `redis` with a data directory of its own.
fn replica(db: &TestDatabase, redis: &TestRedis, extra: &[(&str, &str)]) -> (Served, TestApp) {
    replica_at(db.url(), &redis.url(), extra)
}

/// A replica on the database and Redis at these URLs.
fn replica_at(database_url: &str, redis_url: &str, extra: &[(&str, &str)]) -> (Served, TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let mut env = vec![
        ("DATABASE_URL", database_url),
        ("REDIS_URL", redis_url),
        ("JWT_SECRET_KEY", SECRET),
        ("ENCRYPTION_KEY", support::ENCRYPTION_KEY),
        ("RATE_LIMIT_PER_IP_PER_MIN", "0"),
        ("RATE_LIMIT_SEARCH_PER_MIN", "0"),
    ];
    env.extend_from_slice(extra);
    let served = serve_with(dir.path(), "info", &env);
    let mut client = TestApp::remote(&served.base);
    client.dir = dir; // lives as long as the replica's client
    (served, client)
}

async fn health(app: &TestApp) -> Resp {
    TestApp::read(app.client.get(app.url("/health")).send().await.unwrap()).await
}

/// Polls `/health` until Redis shows `status`.
async fn wait_for_redis(app: &TestApp, status: &str) -> Resp {
    for _ in 0..100 {
        let h = health(app).await;
        if h.body["components"]["redis"]["status"] == status {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Redis never became {status}: {}", health(app).await.body);
}

async fn new_key(app: &TestApp, access_token: &str, name: &str) -> (String, String) {
    let r = app.post("/users/me/api-keys", Some(access_token), json!({"name": name})).await;
    let b = r.assert_status(201);
    (b["key"].as_str().unwrap().to_string(), b["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn replicas_share_revocations_and_rate_limits_and_survive_redis_going_away() {
    let db = TestDatabase::create().await;
    let mut redis = TestRedis::start();
    // Credentials are cached for ten minutes, so only the shared generation can explain a
    // revocation being honoured at once. Keys get a burst of 20 and then one per 10 s.
    let env = [
        ("AUTH_CACHE_TTL_MS", "600000"),
        ("RATE_LIMIT_PER_KEY_PER_MIN", "6"),
        ("RATE_LIMIT_PER_KEY_BURST", "20"),
        ("JOB_WORKERS", "0"),
    ];
    let (one_process, one) = replica(&db, &redis, &env);
    let (two_process, two) = replica(&db, &redis, &env);
    for app in [&one, &two] {
        let h = health(app).await;
        assert_eq!(h.assert_status(200)["components"]["redis"]["status"], "healthy", "{h:?}");
        assert_eq!(h.body["status"], "healthy");
    }
    let alice = one.register("alice").await;

    // Revocation: a key both replicas have cached, revoked through one, fails on both.
    let (laptop, laptop_id) = new_key(&one, &alice.access_token, "laptop").await;
    one.get("/users/me", &laptop).await.assert_status(200);
    two.get("/users/me", &laptop).await.assert_status(200);
    one.delete(&format!("/users/me/api-keys/{laptop_id}"), &alice.access_token)
        .await
        .assert_status(204);
    two.get("/users/me", &laptop).await.assert_error(401, "INVALID_API_KEY");
    one.get("/users/me", &laptop).await.assert_error(401, "INVALID_API_KEY");

    // One budget across both: 20 requests alternating between the replicas pass, the 21st is
    // refused by either (each alone would have let 20 through).
    let (ci, _) = new_key(&one, &alice.access_token, "ci").await;
    for i in 0..20 {
        let app = if i % 2 == 0 { &one } else { &two };
        app.get("/users/me", &ci).await.assert_status(200);
    }
    let refused = two.get("/users/me", &ci).await;
    refused.assert_error(429, "RATE_LIMIT_EXCEEDED");
    assert!(refused.headers.contains_key("retry-after"));
    one.get("/users/me", &ci).await.assert_error(429, "RATE_LIMIT_EXCEEDED");

    // Redis goes away: both replicas keep serving, and say so in /health with a 200 (a load
    // balancer must not take every replica out over it).
    let (phone, phone_id) = new_key(&one, &alice.access_token, "phone").await;
    two.get("/users/me", &phone).await.assert_status(200);
    redis.stop();
    for app in [&one, &two] {
        let h = wait_for_redis(app, "degraded").await;
        assert_eq!(h.assert_status(200)["status"], "degraded");
        assert_eq!(h.body["components"]["database"]["status"], "healthy");
        app.get("/users/me", &alice.access_token).await.assert_status(200);
    }
    // A revocation still holds everywhere at once: without Redis no replica trusts its cache.
    one.delete(&format!("/users/me/api-keys/{phone_id}"), &alice.access_token)
        .await
        .assert_status(204);
    two.get("/users/me", &phone).await.assert_error(401, "INVALID_API_KEY");
    // Rate limits are counted by each replica alone meanwhile.
    let (tablet, _) = new_key(&one, &alice.access_token, "tablet").await;
    for _ in 0..20 {
        two.get("/users/me", &tablet).await.assert_status(200);
    }
    two.get("/users/me", &tablet).await.assert_error(429, "RATE_LIMIT_EXCEEDED");
    one.get("/users/me", &tablet).await.assert_status(200);

    // Redis comes back (empty): both replicas use it again without a restart.
    redis.resume();
    for app in [&one, &two] {
        wait_for_redis(app, "healthy").await;
        app.get("/users/me", &alice.api_key).await.assert_status(200);
    }
    let (desk, desk_id) = new_key(&two, &alice.access_token, "desk").await;
    one.get("/users/me", &desk).await.assert_status(200);
    two.delete(&format!("/users/me/api-keys/{desk_id}"), &alice.access_token)
        .await
        .assert_status(204);
    one.get("/users/me", &desk).await.assert_error(401, "INVALID_API_KEY");

    for process in [one_process, two_process] {
        let (_, ok) = process.stop();
        assert!(ok);
    }
}

/// A tar.gz of `files` Python modules of twelve small functions each.
#[tokio::test]
async fn replicas_reach_postgres_and_redis_over_verified_tls() {
    let db = TestDatabase::create().await;
    let postgres = TlsFrontend::start(db.url(), &["localhost"]);
    let ca = postgres.ca_file().display().to_string();
    let database_url =
        postgres.url(db.url(), "localhost", &format!("sslmode=verify-full&sslrootcert={ca}"));
    let authority = TestAuthority::new("teamcontext test Redis CA");
    let redis = TestRedis::start_tls(&authority);
    let redis_ca = authority.ca_file().display().to_string();
    let env = [("AUTH_CACHE_TTL_MS", "600000"), ("REDIS_CA_FILE", redis_ca.as_str())];
    let (one_process, one) = replica_at(&database_url, &redis.url(), &env);
    let (two_process, two) = replica_at(&database_url, &redis.url(), &env);
    for app in [&one, &two] {
        let h = health(app).await;
        assert_eq!(h.assert_status(200)["status"], "healthy", "{h:?}");
        assert_eq!(h.body["components"]["redis"]["status"], "healthy");
    }
    assert!(postgres.handshakes() >= 2, "both replicas' connections are encrypted");

    // The shared credential generation travels over TLS: a revocation through one replica is
    // honoured by the other despite its ten-minute cache.
    let alice = one.register("alice").await;
    let (laptop, laptop_id) = new_key(&one, &alice.access_token, "laptop").await;
    two.get("/users/me", &laptop).await.assert_status(200);
    one.delete(&format!("/users/me/api-keys/{laptop_id}"), &alice.access_token)
        .await
        .assert_status(204);
    two.get("/users/me", &laptop).await.assert_error(401, "INVALID_API_KEY");
    for process in [one_process, two_process] {
        assert!(process.stop().1);
    }

    // A Redis whose certificate the configured authority did not sign is not trusted: the
    // server serves without shared state and says so.
    let stranger = TestAuthority::new("someone else's CA");
    let stranger_ca = stranger.ca_file().display().to_string();
    let env = [("REDIS_CA_FILE", stranger_ca.as_str())];
    let (process, app) = replica_at(&database_url, &redis.url(), &env);
    let h = health(&app).await;
    assert_eq!(h.assert_status(200)["components"]["redis"]["status"], "degraded", "{h:?}");
    process.kill();

    // A PostgreSQL server that fails verification stops the start with the reason.
    let dir = tempfile::tempdir().unwrap();
    let untrusted = postgres.url(
        db.url(),
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={stranger_ca}"),
    );
    let out = support::process::teamcontext(dir.path())
        .env("DATABASE_URL", &untrusted)
        .env("JWT_SECRET_KEY", SECRET)
        .env("ENCRYPTION_KEY", support::ENCRYPTION_KEY)
        .arg("serve")
        .output()
        .unwrap();
    let printed =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success());
    assert!(printed.contains("UnknownIssuer"), "{printed}");
}

async fn upload(app: &TestApp, key: &str, project: &str, archive: Vec<u8>) -> String {
    app.scan_archive(key, project, archive_form("app.tar.gz", archive, Some(200))).await
}

async fn status(app: &TestApp, key: &str, project: &str, job: &str) -> Value {
    let r = app.get(&format!("/projects/{project}/scan/status/{job}"), key).await;
    r.assert_status(200).clone()
}

async fn finished(app: &TestApp, key: &str, project: &str, job: &str) -> Value {
    for _ in 0..1200 {
        let s = status(app, key, project, job).await;
        if !["queued", "running"].contains(&s["status"].as_str().unwrap()) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {job} did not finish");
}

/// Every scanned chunk of a project as (file, chunk index), sorted.
async fn chunks(app: &TestApp, key: &str, project: &str) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/projects/{project}/context?source=codebase_scan&limit=100");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = app.get(&path, key).await.assert_status(200).clone();
        for item in page["items"].as_array().unwrap() {
            let meta = &item["metadata"];
            let file = meta["file_path"].as_str().unwrap().to_string();
            out.push((file, meta["chunk_index"].as_i64().unwrap_or(0)));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    out.sort();
    out
}

/// The worker names a replica logged at start.
fn workers_of(process: &Served) -> Vec<String> {
    let line = process
        .early_lines
        .iter()
        .find(|l| l.contains("job workers started"))
        .expect("the replica logs its workers");
    let log: Value = serde_json::from_str(line).unwrap();
    let names = log["fields"]["workers"].as_str().or(log["workers"].as_str()).unwrap();
    names.split(',').map(str::to_string).collect()
}

#[tokio::test]
async fn scans_run_once_on_either_replica_and_survive_one_dying() {
    let db = TestDatabase::create().await;
    let redis = TestRedis::start();
    let env = [("JOB_WORKERS", "1"), ("JOB_LEASE_SECS", "1"), ("RATE_LIMIT_PER_KEY_PER_MIN", "0")];
    let (one_process, one) = replica(&db, &redis, &env);
    let (two_process, two) = replica(&db, &redis, &env);
    let alice = one.register("alice").await;
    let key = alice.api_key.clone();

    // Four uploads through alternating replicas, both running workers: each job runs once and
    // indexes its files once, whichever replica received the upload.
    let mut jobs = Vec::new();
    for i in 0..4 {
        let app = if i % 2 == 0 { &one } else { &two };
        let project = app.create_project(&key, &format!("service-{i}")).await;
        let job = upload(app, &key, &project, python_modules(3, &format!("s{i}"))).await;
        jobs.push((project, job));
    }
    for (i, (project, job)) in jobs.iter().enumerate() {
        let app = if i % 2 == 0 { &two } else { &one };
        let s = finished(app, &key, project, job).await;
        assert_eq!(s["status"], "succeeded", "{s}");
        assert_eq!(s["attempts"], 1, "run exactly once: {s}");
        assert_eq!(s["result"]["files_indexed"], 3, "{s}");
        let found = chunks(app, &key, project).await;
        assert_eq!(found.len() as u64, s["result"]["chunks"].as_u64().unwrap(), "no chunk twice");
    }
    // Neither replica keeps an upload's files after its job (they travel through the database).
    for app in [&one, &two] {
        let scans = app.dir.path().join("scans");
        let left: Vec<_> =
            std::fs::read_dir(&scans).map(|d| d.flatten().collect()).unwrap_or_default();
        assert!(left.is_empty(), "{left:?} left in {}", scans.display());
    }

    // A long scan; the replica running it is killed mid-way; the other one finishes it. With a
    // 1 s lease, progress is saved every 250 ms: the scan is at most that far ahead of the 5
    // files seen done when the kill lands, far from its 60.
    const FILES: u64 = 60;
    let archive = python_modules(FILES as usize, "long");
    let interrupted = one.create_project(&key, "interrupted").await;
    let job = upload(&one, &key, &interrupted, archive.clone()).await;
    let mut done_before = 0;
    for _ in 0..600 {
        let s = status(&one, &key, &interrupted, &job).await;
        done_before = s["progress"]["files_done"].as_u64().unwrap_or(0);
        if done_before >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!((5..FILES).contains(&done_before), "killed mid-way ({done_before} files done)");
    let (client, connection) =
        tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let job_id: uuid::Uuid = job.parse().unwrap();
    let row = client.query_one("SELECT lease_owner FROM jobs WHERE id = $1", &[&job_id]).await;
    let owner: String = row.unwrap().get(0);
    let (survivor, dead) = if workers_of(&one_process).contains(&owner) {
        one_process.kill();
        (two, one)
    } else {
        assert!(workers_of(&two_process).contains(&owner), "{owner} is one of the replicas");
        two_process.kill();
        (one, two)
    };
    drop(dead);
    let s = finished(&survivor, &key, &interrupted, &job).await;
    assert_eq!(s["status"], "succeeded", "{s}");
    assert_eq!(s["attempts"], 2, "taken over after the lease expired: {s}");
    let result = &s["result"];
    assert_eq!(
        result["files_indexed"].as_u64().unwrap() + result["files_unchanged"].as_u64().unwrap(),
        FILES,
        "{result}"
    );

    // The same archive scanned without interruption gives the same chunks, none twice.
    let clean = survivor.create_project(&key, "uninterrupted").await;
    let clean_job = upload(&survivor, &key, &clean, archive).await;
    assert_eq!(finished(&survivor, &key, &clean, &clean_job).await["status"], "succeeded");
    let (got, want) =
        (chunks(&survivor, &key, &interrupted).await, chunks(&survivor, &key, &clean).await);
    assert!(got.len() > 40);
    assert_eq!(got, want);
    let mut unique = got.clone();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "no chunk indexed twice");
}

/// A JSON-RPC call to a replica's `/mcp`: its status and body text.
async fn mcp_call(
    app: &TestApp,
    key: &str,
    session: Option<&str>,
    body: &str,
) -> (u16, String, Option<String>) {
    let resp = app.post_mcp(Some(key), session, body).await;
    let status = resp.status().as_u16();
    let opened = resp.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_string());
    let text = resp.text().await.unwrap();
    (status, text, opened)
}

/// Hole 10 of the hardening issue: MCP sessions lived in one process, so behind a load
/// balancer without sticky sessions a client lost its session on the next request. A session
/// begun on one replica now continues on the other, for its owner only.
#[tokio::test]
async fn an_mcp_session_continues_on_another_replica_for_its_owner_only() {
    let db = TestDatabase::create().await;
    let redis = TestRedis::start();
    let env = [("JOB_WORKERS", "0")];
    let (_one_process, one) = replica(&db, &redis, &env);
    let (_two_process, two) = replica(&db, &redis, &env);
    let ann = one.register("ann").await;
    let bob = one.register("bob").await;
    one.create_project(&ann.api_key, "shared memory").await;

    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"cursor","version":"1"}}}"#;
    let (status, _, session) = mcp_call(&one, &ann.api_key, None, initialize).await;
    assert_eq!(status, 200);
    let session = session.expect("a session id");
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(mcp_call(&one, &ann.api_key, Some(&session), initialized).await.0, 202);

    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_projects","arguments":{}}}"#;
    let (status, text, _) = mcp_call(&two, &ann.api_key, Some(&session), list).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("shared memory"), "{text}");
    let (status, _, _) = mcp_call(&two, &bob.api_key, Some(&session), list).await;
    assert_eq!(status, 404, "another user cannot use the session on any replica");
    let (status, text, _) = mcp_call(&one, &ann.api_key, Some(&session), list).await;
    assert_eq!(status, 200, "{text}");
}
