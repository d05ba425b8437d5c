//! Cross-cutting HTTP behaviour: the error envelope for unknown routes and methods, request
//! ids, health, OpenAPI and Swagger UI without a CDN, gzip, CORS, rate limits, and restart.

mod support;

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use support::TestApp;

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_envelope() {
    let app = TestApp::new().await;
    app.send(Method::GET, "/no/such/route", None, None)
        .await
        .assert_error(404, "RESOURCE_NOT_FOUND");
    let r = app.send(Method::PATCH, "/projects", None, None).await;
    r.assert_error(405, "INVALID_INPUT");
    assert!(r.headers["allow"].to_str().unwrap().contains("POST"));
    let outside = app.client.get(format!("{}/favicon.ico", app.base)).send().await.unwrap();
    TestApp::read(outside).await.assert_error(404, "RESOURCE_NOT_FOUND");
}

#[tokio::test]
async fn request_ids_are_echoed_when_sane() {
    let app = TestApp::new().await;
    let echoed = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "trace-42.a:b")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-42.a:b");
    let replaced = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "bad id; drop table")
        .send()
        .await
        .unwrap();
    let id = replaced.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(id.starts_with("req_") && id.len() > 10, "{id}");
    let err =
        app.client.get(app.url("/users/me")).header("x-request-id", "mine-1").send().await.unwrap();
    assert_eq!(TestApp::read(err).await.body["error"]["request_id"], "mine-1");
}

#[tokio::test]
async fn health_needs_no_auth() {
    let app = TestApp::new().await;
    let r = app.send(Method::GET, "/health", None, None).await;
    let b = r.assert_status(200);
    assert_eq!(b["status"], "healthy");
    assert_eq!(b["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(b["components"]["database"]["status"], "healthy");
}

#[tokio::test]
async fn openapi_and_docs_are_served_locally() {
    let app = TestApp::new().await;
    let doc = app.send(Method::GET, "/openapi.json", None, None).await;
    let b = doc.assert_status(200);
    assert!(b["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/refresh",
        "/api/v1/users/me/api-keys",
        "/api/v1/users/me/api-key/rotate",
        "/api/v1/projects/{id}/contributors/{user_id}",
        "/api/v1/projects/{id}/restore",
        "/api/v1/context/save",
        "/api/v1/context/search",
        "/api/v1/context/{id}",
        "/api/v1/projects/{id}/context",
        "/api/v1/analytics/cost-savings",
        "/api/v1/analytics/usage",
        "/api/v1/analytics/context-insights",
        "/api/v1/metrics",
        "/api/v1/health",
    ] {
        assert!(b["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    assert!(b["components"]["securitySchemes"]["bearer"].is_object());

    let page = app.client.get(format!("{}/docs/", app.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger"), "Swagger UI page");
    assert!(!html.contains("https://"), "no assets from a CDN");
    let init =
        app.client.get(format!("{}/docs/swagger-initializer.js", app.base)).send().await.unwrap();
    assert_eq!(init.status(), 200);
    assert!(
        init.text().await.unwrap().contains("/api/v1/openapi.json"),
        "the UI loads the served document"
    );
    let bundle =
        app.client.get(format!("{}/docs/swagger-ui-bundle.js", app.base)).send().await.unwrap();
    assert_eq!(bundle.status(), 200, "the UI bundle is vendored into the binary");
}

#[tokio::test]
async fn responses_are_gzipped_on_request() {
    let app = TestApp::new().await;
    let r = app
        .client
        .get(app.url("/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = TestApp::with_env(&[("ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/projects"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
    };
    let ok = preflight("https://app.example.com").await.unwrap();
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://app.example.com");
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn per_key_rate_limit_answers_429_with_retry_after() {
    let app = TestApp::with_env(&[
        ("RATE_LIMIT_PER_KEY_PER_MIN", "3"),
        ("RATE_LIMIT_PER_KEY_BURST", "3"),
    ])
    .await;
    let u = app.register("ann").await;
    for _ in 0..3 {
        app.get("/users/me", &u.api_key).await.assert_status(200);
    }
    let limited = app.get("/users/me", &u.api_key).await;
    limited.assert_error(429, "RATE_LIMIT_EXCEEDED");
    let retry: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // The limit is per credential: the same user's session has its own budget.
    app.get("/users/me", &u.access_token).await.assert_status(200);
}

#[tokio::test]
async fn per_ip_rate_limit_covers_unauthenticated_requests() {
    let app = TestApp::with_env(&[("RATE_LIMIT_PER_IP_PER_MIN", "5")]).await;
    for _ in 0..5 {
        app.send(Method::GET, "/health", None, None).await.assert_status(200);
    }
    app.send(Method::GET, "/health", None, None).await.assert_error(429, "RATE_LIMIT_EXCEEDED");
    let login =
        app.post("/auth/login", None, json!({"email": "a@b.io", "password": "whatever1"})).await;
    login.assert_error(429, "RATE_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn a_restart_keeps_accounts_tokens_and_projects() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let app = TestApp::with_env(&[("TEAMCONTEXT_DATA_DIR", &data)]).await;
    let u = app.register("rey").await;
    let project = app.create_project(&u.api_key, "durable").await;
    app.shutdown().await;

    let again = TestApp::with_env(&[("TEAMCONTEXT_DATA_DIR", &data)]).await;
    again.get(&format!("/projects/{project}"), &u.api_key).await.assert_status(200);
    again.get("/users/me", &u.access_token).await.assert_status(200);
    again
        .post("/auth/refresh", None, json!({"refresh_token": u.refresh_token}))
        .await
        .assert_status(200);
    again.shutdown().await;
}

/// Every authenticated route refuses a request without credentials, and every route that takes
/// a JSON body refuses malformed and oversized bodies, all in the envelope.
#[tokio::test]
async fn every_endpoint_rejects_missing_auth_and_bad_bodies() {
    let app = TestApp::with_env(&[("MAX_BODY_BYTES", "2048")]).await;
    let u = app.register("sweep").await;
    let p = app.create_project(&u.api_key, "swept").await;
    let k = &u.api_key_id;
    let authenticated: Vec<(Method, String)> = app
        .operations()
        .await
        .into_iter()
        .filter(|op| op.secured)
        .map(|op| {
            let path = op.path(|name| match name {
                "id" if op.template.starts_with("/projects/") => p.clone(),
                "user_id" => u.id.clone(),
                _ => k.clone(),
            });
            (op.method, path)
        })
        .collect();
    assert!(authenticated.len() >= 25, "{authenticated:?}");
    for (method, path) in &authenticated {
        let r = app.send(method.clone(), path, None, Some(json!({}))).await;
        assert_eq!(r.status, 401, "{method} {path} without auth: {}", r.body);
        r.assert_error(401, "INVALID_CREDENTIALS");
    }

    let with_body: Vec<(Method, String, Option<&str>)> = vec![
        (Method::POST, "/auth/register".into(), None),
        (Method::POST, "/auth/login".into(), None),
        (Method::POST, "/auth/refresh".into(), None),
        (Method::POST, "/auth/logout".into(), None),
        (Method::POST, "/users/me/password".into(), Some(u.access_token.as_str())),
        (Method::POST, "/users/me/api-keys".into(), Some(u.api_key.as_str())),
        (Method::POST, "/users/me/api-key/rotate".into(), Some(u.api_key.as_str())),
        (Method::POST, "/projects".into(), Some(u.api_key.as_str())),
        (Method::PUT, format!("/projects/{p}"), Some(u.api_key.as_str())),
        (Method::POST, format!("/projects/{p}/contributors"), Some(u.api_key.as_str())),
        (Method::POST, "/context/save".into(), Some(u.api_key.as_str())),
        (Method::POST, "/context/search".into(), Some(u.api_key.as_str())),
        (Method::POST, "/context/batch".into(), Some(u.api_key.as_str())),
    ];
    for (method, path, auth) in &with_body {
        let send = |body: String| {
            let mut req = app
                .client
                .request(method.clone(), app.url(path))
                .header("content-type", "application/json")
                .body(body);
            if let Some(token) = auth {
                req = req.bearer_auth(token);
            }
            req.send()
        };
        let malformed = TestApp::read(send("{\"name\": ".into()).await.unwrap()).await;
        assert_eq!(malformed.status, 400, "{method} {path} malformed: {}", malformed.body);
        malformed.assert_error(400, "INVALID_INPUT");
        let oversized =
            TestApp::read(send(format!("{{\"name\": \"{}\"}}", "x".repeat(4096))).await.unwrap())
                .await;
        assert_eq!(oversized.status, 413, "{method} {path} oversized: {}", oversized.body);
        oversized.assert_error(413, "CONTEXT_TOO_LARGE");
    }
}

/// Hole 8 of the hardening issue: the per-IP limit keyed on the TCP peer, so behind a proxy
/// every client shared one budget, while forwarding headers were not a way around it either.
#[tokio::test]
async fn per_ip_limit_reads_forwarding_headers_only_from_trusted_proxies() {
    let health = |app: &TestApp, forwarded_for: &'static str| {
        let req = app.client.get(app.url("/health")).header("x-forwarded-for", forwarded_for);
        async move { TestApp::read(req.send().await.unwrap()).await }
    };
    // Untrusted: a client cannot pick a fresh address per request.
    let direct = TestApp::with_env(&[("RATE_LIMIT_PER_IP_PER_MIN", "2")]).await;
    for forwarded in ["198.51.100.1", "198.51.100.2"] {
        health(&direct, forwarded).await.assert_status(200);
    }
    health(&direct, "198.51.100.3").await.assert_error(429, "RATE_LIMIT_EXCEEDED");

    // Behind a trusted proxy, each client has its own budget.
    let proxied = TestApp::with_env(&[
        ("RATE_LIMIT_PER_IP_PER_MIN", "2"),
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
    ])
    .await;
    for _ in 0..2 {
        health(&proxied, "198.51.100.1").await.assert_status(200);
    }
    health(&proxied, "198.51.100.1").await.assert_error(429, "RATE_LIMIT_EXCEEDED");
    health(&proxied, "198.51.100.2").await.assert_status(200);
    // An IPv6 client is one client across its /64.
    health(&proxied, "2001:db8:1:2::1").await.assert_status(200);
    health(&proxied, "2001:db8:1:2::2").await.assert_status(200);
    health(&proxied, "2001:db8:1:2:ffff::3").await.assert_error(429, "RATE_LIMIT_EXCEEDED");
}

/// Guessing one account's password from many addresses is throttled per account.
#[tokio::test]
async fn logins_are_throttled_per_account() {
    let app = TestApp::with_env(&[("RATE_LIMIT_LOGIN_PER_MIN", "3")]).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let login = |email: &str, password: &str| {
        app.post("/auth/login", None, json!({"email": email, "password": password}))
    };
    for _ in 0..3 {
        login(&ann.email, "wrong password").await.assert_error(401, "INVALID_CREDENTIALS");
    }
    let limited = login("ANN@example.com", &ann.password).await;
    limited.assert_error(429, "RATE_LIMIT_EXCEEDED");
    assert!(limited.headers.contains_key("retry-after"));
    login(&bob.email, &bob.password).await.assert_status(200);
    // Unknown accounts are limited alike, so the limit tells nothing about who exists.
    for _ in 0..3 {
        login("nobody@example.com", "x-password").await.assert_error(401, "INVALID_CREDENTIALS");
    }
    login("nobody@example.com", "x-password").await.assert_error(429, "RATE_LIMIT_EXCEEDED");
}

/// Hole 9 of the hardening issue: a client could open connections and send nothing (or trickle
/// a request) for ever. Idle connections are now closed, and connections are capped.
#[tokio::test]
async fn idle_connections_are_closed_and_connections_capped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::with_env(&[("CONNECTION_IDLE_SECS", "1")]).await;
    let addr = app.base.trim_start_matches("http://").to_string();

    // Silent for longer than the idle limit: the server closes the connection.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(30), silent.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "closed by the server: {read:?}");

    // Half a request, then nothing: closed too.
    let mut trickle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    trickle.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(30), trickle.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "closed by the server: {read:?}");

    // Two connections held open (each in the middle of a request body), a third waits.
    let app = TestApp::with_env(&[("MAX_CONNECTIONS", "2")]).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let hold = || async {
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        tcp.write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{").await.unwrap();
        tcp
    };
    let (first, second) = (hold().await, hold().await);
    let client = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    let waiting = client.get(app.url("/health")).send().await;
    assert!(waiting.is_err(), "a third connection is not served while two are open");
    drop((first, second));
    let mut served = false;
    for _ in 0..50 {
        if app.client.get(app.url("/health")).send().await.is_ok_and(|r| r.status() == 200) {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "served once the others closed");
}
