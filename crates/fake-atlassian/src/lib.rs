//! A fake Jira (and, in `confluence`, a fake Confluence) for tests, on a loopback port, speaking the wire formats TeamContext's client
//! uses: Cloud (`/rest/api/3`, ADF bodies, `search/jql` paged by an opaque `nextPageToken`
//! bound to its query, the removed `/search` answering 410 with Atlassian's body, Basic auth
//! with an email and API token) and Data Center (`/rest/api/2`, wiki markup with
//! `renderedFields` HTML, `search` paged by `startAt` with a server cap, Bearer personal
//! access tokens, Basic refused with `X-Seraph-LoginReason`). Shapes follow the published
//! fixtures (Jira's REST reference, jira.js's schema-checked models).
//!
//! Tests seed issues, edit and delete them as users would in Jira, script faults per path
//! (429 with any `Retry-After`, 5xx), and read the request journal (method, path, auth scheme;
//! never a secret). JQL is a subset: `project = X`, `key = K`, `key in (…)`, `AND`, `OR`,
//! `labels = L`, `summary ~ "text"`, parentheses, and a trailing `ORDER BY`; anything else answers 400 as Jira
//! does. Issues are created as Jira creates them (`create`: create metadata, `POST /issue`).

pub mod confluence;
mod create;

pub use create::{story_points_field, validate_adf};

pub use confluence::FakeConfluence;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use parking_lot::Mutex;
use serde_json::{Value, json};

/// Which Jira to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Cloud,
    DataCenter,
}

/// The Cloud account's email and API token.
pub const CLOUD_EMAIL: &str = "ana@acme.test";
pub const CLOUD_TOKEN: &str = "cloud-api-token-3f9a";
/// The Data Center personal access token.
pub const DC_TOKEN: &str = "dc-personal-access-token-77b1";
/// Most issues one search page holds, whatever `maxResults` asks.
pub const PAGE_CAP: usize = 50;
/// Comments embedded in an issue's `fields.comment` (the rest are paged from `/comment`).
pub const EMBEDDED_COMMENTS: usize = 5;

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub author: String,
    pub body: String,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Issue {
    pub id: u64,
    pub key: String,
    pub project: String,
    pub summary: String,
    pub issue_type: String,
    pub status: String,
    /// Plain paragraphs; rendered as ADF (Cloud) or wiki markup and HTML (Data Center).
    pub description: String,
    pub labels: Vec<String>,
    pub comments: Vec<Comment>,
    /// (`blocks`, `OPS-2`): outward links.
    pub links: Vec<(String, String)>,
    pub subtasks: Vec<String>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// The request body that created it through `POST /issue` (seeded issues have none).
    pub sent: Option<Value>,
}

/// A scripted answer instead of the real one.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 with this `Retry-After` value (none: no header).
    RateLimited(Option<String>),
    /// This status with Atlassian's error body.
    Status(u16),
    /// The request is carried out, but the answer leaves only after this long (a client
    /// that gives up sooner never learns that Jira acted).
    AnswerLate(std::time::Duration),
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// `Basic`, `Bearer` or empty.
    pub auth_scheme: String,
}

impl Logged {
    /// A request as the journal keeps it: the auth scheme, never the credential.
    pub(crate) fn of(method: &Method, uri: &Uri, headers: &HeaderMap) -> Self {
        let auth_scheme = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or("")
            .to_string();
        let target = uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
        Logged { method: method.to_string(), target, auth_scheme }
    }
}

/// The Bearer token of a request, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())?.strip_prefix("Bearer ")
}

struct Db {
    flavour: Flavour,
    base: String,
    issues: BTreeMap<u64, Issue>,
    next_id: u64,
    faults: Vec<(String, VecDeque<Fault>)>,
    journal: Vec<Logged>,
    /// Added to every answer (to make a sync last long enough to interrupt).
    latency: std::time::Duration,
    oauth: OAuthState,
    /// Project keys issues can be created in (every seeded project, and those added).
    projects: BTreeSet<String>,
    /// Required custom fields on every create screen: (key, name).
    required_fields: Vec<(String, String)>,
    /// Whether `labels` is off the create screens.
    labels_hidden: bool,
}

/// The OAuth 2.0 (3LO) authorization server and gateway (Cloud).
#[derive(Default)]
struct OAuthState {
    /// Codes not yet exchanged, with the redirect URI they were issued for.
    codes: BTreeMap<String, String>,
    /// Live access tokens.
    access: Vec<String>,
    /// Refresh tokens that still work.
    refresh: Vec<String>,
    /// Seconds an access token lives.
    lifetime: i64,
    /// Grants answered, by type (`authorization_code`, `refresh_token`).
    grants: Vec<String>,
    counter: u64,
}

/// A running fake; stops when dropped.
pub struct FakeJira {
    addr: SocketAddr,
    db: Arc<Mutex<Db>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeJira {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
}

fn jira_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

impl FakeJira {
    pub async fn start(flavour: Flavour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let db = Arc::new(Mutex::new(Db {
            flavour,
            base: format!("http://{addr}"),
            issues: BTreeMap::new(),
            next_id: 10_000,
            faults: Vec::new(),
            journal: Vec::new(),
            latency: std::time::Duration::ZERO,
            oauth: OAuthState { lifetime: 3600, ..OAuthState::default() },
            projects: BTreeSet::new(),
            required_fields: Vec::new(),
            labels_hidden: false,
        }));
        let app = Router::new().fallback(handle).with_state(db.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake Jira serves");
        });
        FakeJira { addr, db, task }
    }

    /// The site's URL (what a user types as `base_url`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds `count` issues to `project` (`KEY-1`…), each with `comments` comments; returns
    /// their keys.
    pub fn seed(&self, project: &str, count: usize, comments: usize) -> Vec<String> {
        let mut db = self.db.lock();
        db.projects.insert(project.to_string());
        let first = db.issues.values().filter(|i| i.project == project).count() + 1;
        (first..first + count)
            .map(|n| {
                db.next_id += 1;
                let id = db.next_id;
                let key = format!("{project}-{n}");
                let created = t0() + Duration::minutes(n as i64);
                let issue = Issue {
                    id,
                    key: key.clone(),
                    project: project.into(),
                    summary: format!("Issue {n} of {project}"),
                    issue_type: if n % 3 == 0 { "Bug" } else { "Story" }.into(),
                    status: "To Do".into(),
                    description: format!("Work item number {n} for the {project} team."),
                    labels: vec!["seeded".into()],
                    comments: (0..comments)
                        .map(|c| Comment {
                            id: id * 100 + c as u64,
                            author: "Ana Lima".into(),
                            body: format!("Comment {c} on {key}."),
                            created: created + Duration::minutes(c as i64),
                        })
                        .collect(),
                    links: Vec::new(),
                    subtasks: Vec::new(),
                    created,
                    updated: created,
                    sent: None,
                };
                db.issues.insert(id, issue);
                key
            })
            .collect()
    }

    /// A project issues can be created in, even before it has any.
    pub fn add_project(&self, key: &str) {
        self.db.lock().projects.insert(key.to_string());
    }

    /// Puts a required text field on every create screen.
    pub fn require_field(&self, key: &str, name: &str) {
        self.db.lock().required_fields.push((key.to_string(), name.to_string()));
    }

    /// Takes `labels` off the create screens (some sites do).
    pub fn hide_labels(&self) {
        self.db.lock().labels_hidden = true;
    }

    /// Every issue, in id order.
    pub fn issues(&self) -> Vec<Issue> {
        self.db.lock().issues.values().cloned().collect()
    }

    /// Changes an issue as a user would in Jira (its `updated` moves on).
    pub fn edit(&self, key: &str, change: impl FnOnce(&mut Issue)) {
        let mut db = self.db.lock();
        let issue = db.issues.values_mut().find(|i| i.key == key).expect("issue to edit");
        change(issue);
        issue.updated = Utc::now();
    }

    /// Adds a comment to an issue.
    pub fn comment(&self, key: &str, author: &str, body: &str) {
        self.edit(key, |issue| {
            let id = issue.id * 100 + issue.comments.len() as u64;
            issue.comments.push(Comment {
                id,
                author: author.into(),
                body: body.into(),
                created: Utc::now(),
            });
        });
    }

    /// Deletes an issue.
    pub fn delete(&self, key: &str) {
        self.db.lock().issues.retain(|_, i| i.key != key);
    }

    /// The numeric id of an issue.
    pub fn id_of(&self, key: &str) -> u64 {
        self.db.lock().issues.values().find(|i| i.key == key).expect("issue").id
    }

    /// Answers the next requests whose path contains `path` (or, ending in `$`, is exactly
    /// it) with `faults`, in order.
    pub fn fail(&self, path: &str, faults: Vec<Fault>) {
        self.db.lock().faults.push((path.to_string(), faults.into()));
    }

    /// How long the access tokens it grants live.
    pub fn set_token_lifetime(&self, seconds: i64) {
        self.db.lock().oauth.lifetime = seconds;
    }

    /// Revokes every refresh token (the user removed the app's access, or a year passed).
    pub fn revoke_refresh_tokens(&self) {
        self.db.lock().oauth.refresh.clear();
    }

    /// The token grants answered so far, by type.
    pub fn grants(&self) -> Vec<String> {
        self.db.lock().oauth.grants.clone()
    }

    /// Forgets every scripted fault not yet answered.
    pub fn clear_faults(&self) {
        self.db.lock().faults.clear();
    }

    /// Delays every answer by `latency`.
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.db.lock().latency = latency;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.db.lock().journal.clone()
    }
}

pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"errorMessages": [message], "errors": {}}))).into_response()
}

pub(crate) fn unauthorized(flavour: Flavour) -> Response {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "You are not authenticated. Authentication required to perform this operation.",
    );
    if flavour == Flavour::DataCenter {
        let headers = response.headers_mut();
        headers.insert("X-Seraph-LoginReason", "AUTHENTICATED_FAILED".parse().unwrap());
        headers.insert("X-AUSERNAME", "anonymous".parse().unwrap());
    }
    response
}

pub(crate) fn authorized(flavour: Flavour, headers: &HeaderMap) -> bool {
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    match flavour {
        Flavour::Cloud => {
            let expected = base64::engine::general_purpose::STANDARD
                .encode(format!("{CLOUD_EMAIL}:{CLOUD_TOKEN}"));
            value == format!("Basic {expected}")
        }
        Flavour::DataCenter => value == format!("Bearer {DC_TOKEN}"),
    }
}

async fn handle(
    State(db): State<Arc<Mutex<Db>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let latency = db.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (response, late) = {
        let mut db = db.lock();
        answer(&mut db, &method, &uri, &headers, &body)
    };
    if let Some(late) = late {
        tokio::time::sleep(late).await;
    }
    response
}

/// The answer to one request, and how long to hold it back (a scripted late answer).
fn answer(
    db: &mut Db,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> (Response, Option<std::time::Duration>) {
    db.journal.push(Logged::of(method, uri, headers));
    let path = uri.path().to_string();
    let mut late = None;
    if let Some(fault) = db
        .faults
        .iter_mut()
        .find(|(needle, queue)| {
            let hit = match needle.strip_suffix('$') {
                Some(exact) => path == exact,
                None => path.contains(needle.as_str()),
            };
            hit && !queue.is_empty()
        })
        .and_then(|(_, queue)| queue.pop_front())
    {
        let response = match fault {
            Fault::AnswerLate(delay) => {
                late = Some(delay);
                None
            }
            Fault::RateLimited(retry_after) => {
                let mut response = error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded.");
                if let Some(value) = retry_after {
                    response.headers_mut().insert(header::RETRY_AFTER, value.parse().unwrap());
                }
                response
                    .headers_mut()
                    .insert("RateLimit-Reason", "jira-burst-based".parse().unwrap());
                Some(response)
            }
            Fault::Status(code) => {
                Some(error(StatusCode::from_u16(code).unwrap(), "The service is unavailable."))
            }
        };
        if let Some(response) = response {
            return (response, None);
        }
    }
    (route(db, method, uri, headers, body, path), late)
}

/// What Jira answers to a request no fault intercepted.
fn route(
    db: &mut Db,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    path: String,
) -> Response {
    let flavour = db.flavour;
    let api = if flavour == Flavour::Cloud { "/rest/api/3" } else { "/rest/api/2" };
    // The search Cloud removed (CHANGE-2046), whatever the version.
    if flavour == Flavour::Cloud && (path == "/rest/api/3/search" || path == "/rest/api/2/search") {
        return (
            StatusCode::GONE,
            axum::Json(json!({"errorMessages": ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"], "errors": {}})),
        )
            .into_response();
    }
    let query = parse_query(uri.query().unwrap_or(""));
    if flavour == Flavour::Cloud
        && let Some(answer) = oauth_route(db, method, &path, &query, headers, body)
    {
        return answer;
    }
    // Through the gateway (`/ex/jira/{cloud id}/…`), with an OAuth access token.
    let (path, gateway) = match path.strip_prefix(&format!("/ex/jira/{CLOUD_ID}")) {
        Some(rest) => (rest.to_string(), true),
        None => (path, false),
    };
    let ok = if gateway {
        bearer(headers).is_some_and(|t| db.oauth.access.iter().any(|a| a == t))
    } else {
        authorized(flavour, headers)
    };
    if !ok {
        return unauthorized(flavour);
    }
    let Some(rest) = path.strip_prefix(api) else {
        return error(StatusCode::NOT_FOUND, "Not found");
    };
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (method.clone(), segments.as_slice()) {
        (Method::GET, ["myself"]) => axum::Json(match flavour {
            Flavour::Cloud => json!({
                "self": format!("{}/rest/api/3/user?accountId=5b10ac8d82e05b22cc7d4ef5", db.base),
                "accountId": "5b10ac8d82e05b22cc7d4ef5", "accountType": "atlassian",
                "emailAddress": CLOUD_EMAIL, "displayName": "Ana Lima", "active": true,
                "timeZone": "Europe/Lisbon", "locale": "en_US"
            }),
            Flavour::DataCenter => json!({
                "self": format!("{}/rest/api/2/user?username=ana", db.base),
                "key": "JIRAUSER10100", "name": "ana", "emailAddress": "ana@acme.test",
                "displayName": "Ana Lima", "active": true, "timeZone": "Europe/Lisbon"
            }),
        })
        .into_response(),
        (Method::POST, ["search", "jql"]) if flavour == Flavour::Cloud => search_cloud(db, body),
        (Method::POST, ["search"]) if flavour == Flavour::DataCenter => search_dc(db, body),
        (Method::GET, ["issue", "createmeta", project, "issuetypes"]) => {
            create::issue_types(db, project, &query)
        }
        (Method::GET, ["issue", "createmeta", project, "issuetypes", type_id]) => {
            create::fields(db, project, type_id, &query)
        }
        (Method::POST, ["issue"]) => create::create(db, body),
        (Method::GET, ["issue", id_or_key]) => match find(db, id_or_key) {
            Some(issue) => {
                let rendered = query.get("expand").is_some_and(|e| e.contains("renderedFields"));
                let fields = query
                    .get("fields")
                    .map(|f| f.split(',').map(str::to_string).collect::<Vec<_>>());
                axum::Json(issue_json(db, issue, fields.as_deref(), rendered)).into_response()
            }
            None => error(
                StatusCode::NOT_FOUND,
                "Issue does not exist or you do not have permission to see it.",
            ),
        },
        (Method::GET, ["issue", id_or_key, "comment"]) => match find(db, id_or_key) {
            Some(issue) => {
                let start: usize = query.get("startAt").and_then(|s| s.parse().ok()).unwrap_or(0);
                let max: usize =
                    query.get("maxResults").and_then(|s| s.parse().ok()).unwrap_or(50).min(100);
                let rendered = query.get("expand").is_some_and(|e| e.contains("renderedBody"));
                let page: Vec<Value> = issue
                    .comments
                    .iter()
                    .skip(start)
                    .take(max)
                    .map(|c| comment_json(flavour, c, rendered))
                    .collect();
                axum::Json(json!({"startAt": start, "maxResults": max, "total": issue.comments.len(), "comments": page}))
                    .into_response()
            }
            None => error(
                StatusCode::NOT_FOUND,
                "Issue does not exist or you do not have permission to see it.",
            ),
        },
        _ => error(StatusCode::NOT_FOUND, "null for uri"),
    }
}

/// The cloud id of the fake's one site.
pub const CLOUD_ID: &str = "11223344-a1b2-4b3c-8d9e-0f1a2b3c4d5e";
/// The OAuth app the fake knows.
pub const OAUTH_CLIENT_ID: &str = "fake-client-id";
pub const OAUTH_CLIENT_SECRET: &str = "fake-client-secret";

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, axum::Json(json!({"error": error, "error_description": description}))).into_response()
}

/// Atlassian's authorization server: `/authorize`, `/oauth/token` (codes, then rotating
/// refresh tokens: the old one stops working), `/oauth/token/accessible-resources`.
fn oauth_route(
    db: &mut Db,
    method: &Method,
    path: &str,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let oauth = &mut db.oauth;
    match (method.clone(), path) {
        (Method::GET, "/authorize") => {
            let valid = query.get("client_id").map(String::as_str) == Some(OAUTH_CLIENT_ID)
                && query.get("audience").map(String::as_str) == Some("api.atlassian.com")
                && query.get("response_type").map(String::as_str) == Some("code");
            let Some(redirect) = query.get("redirect_uri").filter(|_| valid) else {
                return Some(error(StatusCode::BAD_REQUEST, "invalid authorization request"));
            };
            oauth.counter += 1;
            let code = format!("code-{}", oauth.counter);
            oauth.codes.insert(code.clone(), redirect.clone());
            let state = query.get("state").cloned().unwrap_or_default();
            let encoded: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("code", &code)
                .append_pair("state", &state)
                .finish();
            let location = format!("{redirect}?{encoded}");
            Some((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
        }
        (Method::POST, "/oauth/token") => {
            let Ok(req) = serde_json::from_slice::<Value>(body) else {
                return Some(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "a JSON body is required",
                ));
            };
            if req["client_id"] != OAUTH_CLIENT_ID || req["client_secret"] != OAUTH_CLIENT_SECRET {
                return Some(oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "access_denied",
                    "Unauthorized",
                ));
            }
            let grant = req["grant_type"].as_str().unwrap_or("").to_string();
            let ok = match grant.as_str() {
                "authorization_code" => {
                    let code = req["code"].as_str().unwrap_or("");
                    match oauth.codes.remove(code) {
                        Some(redirect) => req["redirect_uri"].as_str() == Some(redirect.as_str()),
                        None => false,
                    }
                }
                "refresh_token" => {
                    let token = req["refresh_token"].as_str().unwrap_or("");
                    let known = oauth.refresh.iter().any(|r| r == token);
                    // Rotation: the refresh token used is spent.
                    oauth.refresh.retain(|r| r != token);
                    known
                }
                _ => false,
            };
            if !ok {
                return Some(oauth_error(
                    StatusCode::FORBIDDEN,
                    "invalid_grant",
                    "Unknown or invalid refresh token.",
                ));
            }
            oauth.grants.push(grant);
            oauth.counter += 1;
            let (access, refresh) =
                (format!("access-{}", oauth.counter), format!("refresh-{}", oauth.counter));
            oauth.access.push(access.clone());
            oauth.refresh.push(refresh.clone());
            Some(
                axum::Json(json!({
                    "access_token": access, "refresh_token": refresh, "expires_in": oauth.lifetime,
                    "token_type": "Bearer", "scope": "read:jira-work read:jira-user write:jira-work read:me offline_access"
                }))
                .into_response(),
            )
        }
        (Method::GET, "/oauth/token/accessible-resources") => {
            if !bearer(headers).is_some_and(|t| oauth.access.iter().any(|a| a == t)) {
                return Some(unauthorized(Flavour::Cloud));
            }
            Some(
                axum::Json(json!([{
                    "id": CLOUD_ID, "url": db.base, "name": "acme",
                    "scopes": ["read:jira-work", "read:jira-user", "write:jira-work"],
                    "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"
                }]))
                .into_response(),
            )
        }
        _ => None,
    }
}

pub(crate) fn parse_query(query: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

fn find<'a>(db: &'a Db, id_or_key: &str) -> Option<&'a Issue> {
    match id_or_key.parse::<u64>() {
        Ok(id) => db.issues.get(&id),
        Err(_) => db.issues.values().find(|i| i.key.eq_ignore_ascii_case(id_or_key)),
    }
}

/// The issues a JQL query matches, in key order.
fn run_jql<'a>(db: &'a Db, jql: &str) -> Result<Vec<&'a Issue>, String> {
    let lower = jql.to_ascii_lowercase();
    let clause = match lower.find("order by") {
        Some(at) => &jql[..at],
        None => jql,
    };
    if clause.trim().is_empty() {
        return Err("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.".into());
    }
    let expr = parse_expr(clause.trim())?;
    Ok(db.issues.values().filter(|i| expr.matches(i)).collect())
}

enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Project(String),
    Keys(Vec<String>),
    Label(String),
    /// `summary ~ "text"`: the summary contains the text, case aside.
    SummaryHas(String),
}

impl Expr {
    fn matches(&self, issue: &Issue) -> bool {
        match self {
            Expr::Or(terms) => terms.iter().any(|t| t.matches(issue)),
            Expr::And(terms) => terms.iter().all(|t| t.matches(issue)),
            Expr::Project(p) => issue.project.eq_ignore_ascii_case(p),
            Expr::Keys(keys) => keys.iter().any(|k| k.eq_ignore_ascii_case(&issue.key)),
            Expr::Label(label) => issue.labels.iter().any(|l| l == label),
            Expr::SummaryHas(text) => issue.summary.to_lowercase().contains(&text.to_lowercase()),
        }
    }
}

/// Splits `text` on a keyword (` OR `, ` AND `) outside parentheses and quotes.
fn split_top(text: &str, word: &str) -> Vec<String> {
    let (mut parts, mut depth, mut start, mut quoted) = (Vec::new(), 0i32, 0, false);
    let upper = text.to_ascii_uppercase();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            _ if !quoted && depth == 0 && upper[i..].starts_with(word) => {
                parts.push(text[start..i].to_string());
                i += word.len();
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(text[start..].to_string());
    parts
}

fn parse_expr(text: &str) -> Result<Expr, String> {
    let ors = split_top(text, " OR ");
    if ors.len() > 1 {
        return ors.iter().map(|t| parse_expr(t.trim())).collect::<Result<_, _>>().map(Expr::Or);
    }
    let ands = split_top(text, " AND ");
    if ands.len() > 1 {
        return ands.iter().map(|t| parse_expr(t.trim())).collect::<Result<_, _>>().map(Expr::And);
    }
    let t = text.trim();
    if t.starts_with('(') && t.ends_with(')') {
        return parse_expr(&t[1..t.len() - 1]);
    }
    let unquote = |s: &str| s.trim().trim_matches('"').to_string();
    let lower = t.to_ascii_lowercase();
    if let Some(value) =
        lower.strip_prefix("project").and_then(|rest| rest.trim_start().strip_prefix('='))
    {
        return Ok(Expr::Project(unquote(&t[t.len() - value.len()..])));
    }
    if let Some(value) =
        lower.strip_prefix("summary").and_then(|rest| rest.trim_start().strip_prefix('~'))
    {
        let value = t[t.len() - value.len()..].trim();
        let inner = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        return Ok(Expr::SummaryHas(inner.replace("\\\"", "").trim().to_string()));
    }
    if let Some(value) =
        lower.strip_prefix("labels").and_then(|rest| rest.trim_start().strip_prefix('='))
    {
        return Ok(Expr::Label(unquote(&t[t.len() - value.len()..])));
    }
    if let Some(rest) = lower.strip_prefix("key") {
        let rest_original = &t[t.len() - rest.len()..];
        let trimmed = rest_original.trim_start();
        if let Some(value) = trimmed.strip_prefix('=') {
            return Ok(Expr::Keys(vec![unquote(value)]));
        }
        if trimmed.to_ascii_lowercase().starts_with("in") {
            let list = trimmed[2..].trim();
            if list.starts_with('(') && list.ends_with(')') {
                return Ok(Expr::Keys(list[1..list.len() - 1].split(',').map(unquote).collect()));
            }
        }
    }
    Err(format!("Error in the JQL Query: the expression '{t}' is not supported here."))
}

fn search_cloud(db: &Db, body: &[u8]) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return error(StatusCode::BAD_REQUEST, "Invalid request payload.");
    };
    let jql = req["jql"].as_str().unwrap_or("");
    let matched = match run_jql(db, jql) {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let max = req["maxResults"].as_u64().unwrap_or(50).clamp(1, 5000) as usize;
    let page_size = max.min(PAGE_CAP);
    let fingerprint = jql.len() as u64 * 31 + jql.bytes().map(u64::from).sum::<u64>();
    let start = match req["nextPageToken"].as_str() {
        None => 0,
        Some(token) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    let (offset, fp) = s.split_once(':')?;
                    Some((offset.parse::<usize>().ok()?, fp.parse::<u64>().ok()?))
                });
            match decoded {
                Some((offset, fp)) if fp == fingerprint => offset,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "The provided next page token is invalid or expired.",
                    );
                }
            }
        }
    };
    let fields: Vec<String> = req["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_else(|| vec!["id".into()]);
    let issues: Vec<Value> = matched
        .iter()
        .skip(start)
        .take(page_size)
        .map(|i| issue_json(db, i, Some(&fields), false))
        .collect();
    let end = start + issues.len();
    let mut answer = json!({"issues": issues, "isLast": end >= matched.len()});
    if end < matched.len() {
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{end}:{fingerprint}"));
        answer["nextPageToken"] = json!(token);
    }
    axum::Json(answer).into_response()
}

fn search_dc(db: &Db, body: &[u8]) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return error(StatusCode::BAD_REQUEST, "Invalid request payload.");
    };
    let matched = match run_jql(db, req["jql"].as_str().unwrap_or("")) {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let start = req["startAt"].as_u64().unwrap_or(0) as usize;
    let max = (req["maxResults"].as_u64().unwrap_or(50) as usize).min(PAGE_CAP);
    let fields: Option<Vec<String>> = req["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).map(str::to_string).collect());
    let issues: Vec<Value> = matched
        .iter()
        .skip(start)
        .take(max)
        .map(|i| issue_json(db, i, fields.as_deref(), false))
        .collect();
    axum::Json(json!({"expand": "schema,names", "startAt": start, "maxResults": max, "total": matched.len(), "issues": issues}))
        .into_response()
}

fn adf_paragraphs(text: &str) -> Value {
    let content: Vec<Value> = text
        .split("\n\n")
        .map(|p| json!({"type": "paragraph", "content": [{"type": "text", "text": p}]}))
        .collect();
    json!({"type": "doc", "version": 1, "content": content})
}

fn html_paragraphs(text: &str) -> String {
    text.split("\n\n").map(|p| format!("<p>{p}</p>")).collect::<Vec<_>>().join("\n")
}

fn person(flavour: Flavour, name: &str) -> Value {
    match flavour {
        Flavour::Cloud => {
            json!({"accountId": format!("acc-{}", name.len()), "displayName": name, "active": true})
        }
        Flavour::DataCenter => {
            json!({"name": name.to_lowercase().replace(' ', "."), "key": "JIRAUSER10100", "displayName": name, "active": true})
        }
    }
}

fn comment_json(flavour: Flavour, c: &Comment, rendered: bool) -> Value {
    let body = match flavour {
        Flavour::Cloud => adf_paragraphs(&c.body),
        Flavour::DataCenter => json!(c.body),
    };
    let mut comment = json!({
        "id": c.id.to_string(), "author": person(flavour, &c.author), "body": body,
        "updateAuthor": person(flavour, &c.author),
        "created": jira_time(c.created), "updated": jira_time(c.created), "jsdPublic": true
    });
    if rendered && flavour == Flavour::DataCenter {
        comment["renderedBody"] = json!(html_paragraphs(&c.body));
    }
    comment
}

fn linked(db: &Db, key: &str) -> Value {
    let issue = db.issues.values().find(|i| i.key == key);
    json!({
        "id": issue.map(|i| i.id.to_string()).unwrap_or_default(), "key": key,
        "fields": {
            "summary": issue.map(|i| i.summary.clone()).unwrap_or_default(),
            "status": {"name": issue.map(|i| i.status.clone()).unwrap_or_default()},
        }
    })
}

/// An issue with `fields` (all when `None`), as search and the issue endpoint answer.
fn issue_json(db: &Db, issue: &Issue, fields: Option<&[String]>, rendered: bool) -> Value {
    let flavour = db.flavour;
    let version = if flavour == Flavour::Cloud { 3 } else { 2 };
    let wants = |f: &str| {
        fields.is_none_or(|list| list.iter().any(|x| x == f || x == "*all" || x == "*navigable"))
    };
    let mut out = serde_json::Map::new();
    let mut put = |name: &str, value: Value| {
        if wants(name) {
            out.insert(name.to_string(), value);
        }
    };
    put("summary", json!(issue.summary));
    put(
        "description",
        match flavour {
            Flavour::Cloud => adf_paragraphs(&issue.description),
            Flavour::DataCenter => json!(issue.description),
        },
    );
    put(
        "status",
        json!({"name": issue.status, "statusCategory": {"key": if issue.status == "Done" { "done" } else { "new" }}}),
    );
    put("issuetype", json!({"name": issue.issue_type, "subtask": false}));
    put("priority", json!({"name": "Medium"}));
    put("assignee", person(flavour, "Rui Costa"));
    put("reporter", person(flavour, "Ana Lima"));
    put("labels", json!(issue.labels));
    put("created", json!(jira_time(issue.created)));
    put("updated", json!(jira_time(issue.updated)));
    put("project", json!({"key": issue.project, "name": issue.project}));
    put(
        "issuelinks",
        Value::Array(
            issue
                .links
                .iter()
                .map(|(verb, key)| {
                    json!({"id": "1", "type": {"name": verb, "inward": format!("is {verb} by"), "outward": verb}, "outwardIssue": linked(db, key)})
                })
                .collect(),
        ),
    );
    put("subtasks", Value::Array(issue.subtasks.iter().map(|k| linked(db, k)).collect()));
    put(
        "comment",
        json!({
            "comments": issue.comments.iter().take(EMBEDDED_COMMENTS).map(|c| comment_json(flavour, c, false)).collect::<Vec<_>>(),
            "startAt": 0, "maxResults": EMBEDDED_COMMENTS, "total": issue.comments.len()
        }),
    );
    let mut answer = json!({
        "expand": "renderedFields,names,schema",
        "id": issue.id.to_string(),
        "key": issue.key,
        "self": format!("{}/rest/api/{version}/issue/{}", db.base, issue.id),
        "fields": Value::Object(out),
    });
    if rendered && flavour == Flavour::DataCenter {
        answer["renderedFields"] = json!({
            "description": html_paragraphs(&issue.description),
            "comment": {"comments": issue.comments.iter().take(EMBEDDED_COMMENTS).map(|c| json!({"body": html_paragraphs(&c.body)})).collect::<Vec<_>>()}
        });
    }
    answer
}
