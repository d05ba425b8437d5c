//! Shared test support: [`TestApp`] starts a real TeamContext server on a loopback port with its
//! own SQLite file and a [`ManualClock`] the test can move, and offers a small JSON client. It
//! embeds with the deterministic [`HashingEmbedder`](tc_embed::HashingEmbedder) (texts that
//! share words are near, no model to load); tests where meaning matters (a paraphrase found, a
//! ranking by sense) start it [`with_model`](TestApp::with_model), on all-MiniLM-L6-v2.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod archives;
pub mod chrome;
pub mod mcp_clients;
pub mod process;
pub mod smtp;
pub mod web;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tc_domain::ManualClock;
use teamcontext::RunningServer;
use teamcontext::config::Config;

/// The model files: `TEAMCONTEXT_TEST_MODEL_DIR` (set by `make test`) or the repository's
/// `.model-cache` (filled by `make model`).
pub fn model_dir() -> PathBuf {
    match std::env::var_os("TEAMCONTEXT_TEST_MODEL_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.model-cache/all-MiniLM-L6-v2")
        }
    }
}

/// The real embedding model, loaded once per test binary and shared by its servers.
pub fn embedder() -> Arc<dyn tc_embed::Embedder> {
    static MODEL: OnceLock<Arc<dyn tc_embed::Embedder>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let dir = model_dir();
            let model = tc_embed::LocalEmbedder::load(&dir, tc_embed::Precision::Fp32)
                .unwrap_or_else(|e| {
                    panic!("{e}\nfetch the model first: scripts/fetch-model.sh {}", dir.display())
                });
            Arc::new(model)
        })
        .clone()
}

/// An encryption key for servers that need one given (PostgreSQL).
pub const ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The settings of a server on `db`: its URL, and the secrets replicas must share.
pub fn postgres_env(db: &tc_store_postgres::testing::TestDatabase) -> [(&'static str, &str); 3] {
    [
        ("DATABASE_URL", db.url()),
        ("JWT_SECRET_KEY", "a shared signing secret of at least 32 bytes"),
        ("ENCRYPTION_KEY", ENCRYPTION_KEY),
    ]
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    server: Option<RunningServer>,
    pub dir: tempfile::TempDir,
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    /// The error code of an error envelope (panics if the body is not one).
    pub fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error envelope: {}", self.body))
    }

    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.code(), code, "body: {}", self.body);
        assert!(self.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        let request_id = self.body["error"]["request_id"].as_str().expect("request_id");
        assert_eq!(self.headers["x-request-id"].to_str().unwrap(), request_id);
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        &self.body
    }
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
    pub api_key: String,
    pub api_key_id: String,
}

impl TestApp {
    /// A server with rate limits off (tests that exercise them turn them on).
    pub async fn new() -> Self {
        Self::with_env(&[]).await
    }

    pub async fn with_env(overrides: &[(&str, &str)]) -> Self {
        Self::with_embedder(overrides, |_| Arc::new(tc_embed::HashingEmbedder)).await
    }

    /// A server on the real embedding model, for tests of meaning.
    pub async fn with_model(overrides: &[(&str, &str)]) -> Self {
        Self::with_embedder(overrides, |_| embedder()).await
    }

    /// A server whose embedder `make` builds from its configuration (the real model by default;
    /// `teamcontext::load_embedder` for the configured provider).
    pub async fn with_embedder(
        overrides: &[(&str, &str)],
        make: impl FnOnce(&Config) -> Arc<dyn tc_embed::Embedder>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("TEAMCONTEXT_DATA_DIR".into(), dir.path().display().to_string());
        env.insert("BIND_ADDR".into(), "127.0.0.1:0".into());
        for name in [
            "RATE_LIMIT_PER_KEY_PER_MIN",
            "RATE_LIMIT_PER_IP_PER_MIN",
            "RATE_LIMIT_SEARCH_PER_MIN",
            "RATE_LIMIT_LOGIN_PER_MIN",
        ] {
            env.insert(name.into(), "0".into());
        }
        for (k, v) in overrides {
            env.insert((*k).into(), (*v).into());
        }
        let config = Config::from_sources(None, &env).expect("test config");
        let clock = Arc::new(ManualClock::new());
        let embedder = make(&config);
        let server =
            teamcontext::start(config, clock.clone(), embedder).await.expect("server starts");
        TestApp {
            base: format!("http://{}", server.addr),
            client: reqwest::Client::new(),
            clock,
            server: Some(server),
            dir,
        }
    }

    /// A client of a server running in another process (`base` as `process::Served` has it,
    /// ending in `/api/v1`).
    pub fn remote(base: &str) -> Self {
        TestApp {
            base: base.trim_end_matches("/api/v1").to_string(),
            client: reqwest::Client::new(),
            clock: Arc::new(ManualClock::new()),
            server: None,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Stops the server and hands over its data directory instead of deleting it.
    pub async fn shutdown_keeping_data(mut self) -> tempfile::TempDir {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        self.dir
    }

    /// Stops the server and checks that none of `secrets` reached its SQLite files (database
    /// and write-ahead log) in the clear; hands over the data directory.
    pub async fn shutdown_asserting_not_stored(self, secrets: &[&str]) -> tempfile::TempDir {
        let dir = self.shutdown_keeping_data().await;
        let mut stored = Vec::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.to_string_lossy().contains("teamcontext.db") {
                stored.extend(std::fs::read(&path).unwrap());
            }
        }
        assert!(!stored.is_empty(), "no database file");
        for secret in secrets {
            let found = stored.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{secret} is in the database file");
        }
        dir
    }

    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    pub fn services(&self) -> &tc_domain::Services {
        &self.server.as_ref().expect("running").services
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base, path)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = auth {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::read(req.send().await.expect("request sent")).await
    }

    pub async fn read(resp: reqwest::Response) -> Resp {
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Resp { status, headers, body }
    }

    pub async fn get(&self, path: &str, auth: &str) -> Resp {
        self.send(Method::GET, path, Some(auth), None).await
    }

    pub async fn post(&self, path: &str, auth: Option<&str>, body: Value) -> Resp {
        self.send(Method::POST, path, auth, Some(body)).await
    }

    /// `POST` with `text` as a JSON body as it is (malformed JSON, to see it refused).
    pub async fn post_text(&self, path: &str, auth: &str, text: &str) -> Resp {
        let sent = self
            .client
            .post(self.url(path))
            .bearer_auth(auth)
            .header("content-type", "application/json")
            .body(text.to_string())
            .send()
            .await
            .expect("the request is sent");
        Self::read(sent).await
    }

    pub async fn put(&self, path: &str, auth: &str, body: Value) -> Resp {
        self.send(Method::PUT, path, Some(auth), Some(body)).await
    }

    pub async fn delete(&self, path: &str, auth: &str) -> Resp {
        self.send(Method::DELETE, path, Some(auth), None).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Resp {
        self.post("/auth/refresh", None, json!({ "refresh_token": refresh_token })).await
    }

    pub async fn register(&self, name: &str) -> TestUser {
        let email = format!("{name}@example.com");
        let password = format!("{name}-secret-pw");
        let r = self
            .post(
                "/auth/register",
                None,
                json!({"email": email, "password": password, "name": name}),
            )
            .await;
        let b = r.assert_status(201);
        TestUser {
            id: b["user"]["id"].as_str().unwrap().into(),
            email,
            password,
            access_token: b["access_token"].as_str().unwrap().into(),
            refresh_token: b["refresh_token"].as_str().unwrap().into(),
            api_key: b["api_key"]["key"].as_str().unwrap().into(),
            api_key_id: b["api_key"]["id"].as_str().unwrap().into(),
        }
    }

    /// Polls a job's status document at `status_path` until the job is final, and returns it.
    pub async fn until_final(&self, key: &str, status_path: &str) -> Value {
        for _ in 0..600 {
            let body = self.get(status_path, key).await.assert_status(200).clone();
            if ["succeeded", "failed", "cancelled"].contains(&body["status"].as_str().unwrap()) {
                return body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{status_path}: the job did not finish");
    }

    pub async fn create_project(&self, auth: &str, name: &str) -> String {
        let r = self
            .post(
                "/projects",
                Some(auth),
                json!({"name": name, "description": format!("{name} things")}),
            )
            .await;
        r.assert_status(201)["id"].as_str().unwrap().to_string()
    }

    /// Makes `invitee` a contributor: the owner invites, the invitee accepts.
    pub async fn add_contributor(&self, owner: &str, project: &str, invitee: &TestUser) {
        let invited = self
            .post(
                &format!("/projects/{project}/contributors"),
                Some(owner),
                json!({"email": invitee.email}),
            )
            .await;
        let id = invited.assert_status(202)["id"].as_str().unwrap().to_string();
        self.post(
            &format!("/users/me/invitations/{id}/accept"),
            Some(&invitee.access_token),
            json!({}),
        )
        .await
        .assert_status(200);
    }
}

/// One operation of the served OpenAPI document.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: Method,
    /// The path under `/api/v1`, with `{name}` placeholders.
    pub template: String,
    /// Whether the document says it needs a bearer credential.
    pub secured: bool,
}

impl Operation {
    /// The path with every placeholder replaced by `value(name)`.
    pub fn path(&self, value: impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        let mut rest = self.template.as_str();
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').expect("closed placeholder") + open;
            out.push_str(&rest[..open]);
            out.push_str(&value(&rest[open + 1..close]));
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

impl TestApp {
    /// Every operation the server documents: sweeps derive their routes from this, so that a
    /// new route cannot be forgotten.
    pub async fn operations(&self) -> Vec<Operation> {
        let doc: Value = self
            .client
            .get(self.url("/openapi.json"))
            .send()
            .await
            .expect("openapi")
            .json()
            .await
            .expect("openapi json");
        let mut ops = Vec::new();
        for (template, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
                let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
                let template = template.strip_prefix("/api/v1").unwrap_or(template).to_string();
                ops.push(Operation { method, template, secured });
            }
        }
        assert!(ops.len() > 20, "the document lists the routes: {ops:?}");
        ops
    }
}

impl TestApp {
    /// A raw Streamable HTTP POST to `/mcp`, for what the SDKs would refuse to send.
    pub fn mcp_request(&self, body: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}/mcp", self.base))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string())
    }

    /// A JSON-RPC message to `/mcp`, with a credential and a session id if given.
    pub async fn post_mcp(
        &self,
        key: Option<&str>,
        session: Option<&str>,
        body: &str,
    ) -> reqwest::Response {
        let mut req = self.mcp_request(body);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(session) = session {
            req =
                req.header("mcp-session-id", session).header("mcp-protocol-version", "2025-06-18");
        }
        req.send().await.unwrap()
    }
}
