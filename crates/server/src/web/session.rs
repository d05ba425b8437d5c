//! Who is using the dashboard, and proof that they meant to: the session cookie (an opaque
//! token, HttpOnly, SameSite=Lax, Secure behind `https` PUBLIC_URL) becomes a [`Web`] caller;
//! [`csrf_guard`] refuses every state-changing request that does not carry the session's CSRF
//! token (a form field, the `X-CSRF-Token` header htmx sends, or a `csrf` query parameter for
//! file uploads) or that a browser says came from another site. Before sign-in, the login and
//! registration forms carry a pre-session token that must match its own cookie.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use subtle::ConstantTimeEq;
use tc_domain::{DomainError, ErrorCode, WebCaller};

use super::layout;
use crate::middleware::UserSlot;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "tc_session";
/// The double-submit token of the forms shown before sign-in.
pub const PRE_SESSION_COOKIE: &str = "tc_presession";
pub const CSRF_FIELD: &str = "csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Posts that need no session: their token is the pre-session cookie's.
const SIGNED_OUT_POSTS: &[&str] = &["/login", "/register", "/forgot-password"];
/// The largest form body the guard reads for its token (a long note, with room to spare).
const MAX_FORM_BYTES: usize = 8 * 1024 * 1024;

/// A signed-in dashboard user. Rejects with a redirect to the sign-in page (which comes back
/// here afterwards).
#[derive(Debug, Clone)]
pub struct Web(pub WebCaller);

impl FromRequestParts<AppState> for Web {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_string()) else {
            return Err(to_sign_in(parts));
        };
        let web = match state.services.web_caller(&token).await {
            Ok(web) => web,
            Err(e) if e.code == ErrorCode::TokenExpired => {
                let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
                return Err((jar, to_sign_in(parts)).into_response());
            }
            Err(e) => return Err(layout::error_page(None, e)),
        };
        if let Some(slot) = parts.extensions.get::<UserSlot>() {
            slot.set(web.caller.user_id);
        }
        if let Err(e) = state.limits.check_caller(web.caller.user_id).await {
            return Err(layout::error_page(None, e.0));
        }
        Ok(Web(web))
    }
}

/// The dashboard user if signed in (for the pages both kinds of visitor see).
#[derive(Debug, Clone)]
pub struct MaybeWeb(pub Option<WebCaller>);

impl FromRequestParts<AppState> for MaybeWeb {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = jar.get(SESSION_COOKIE) else { return Ok(MaybeWeb(None)) };
        Ok(MaybeWeb(state.services.web_caller(token.value()).await.ok()))
    }
}

/// Where a signed-out visitor goes: the sign-in page, then back to `parts`' page.
fn to_sign_in(parts: &Parts) -> Response {
    let here = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let target = if parts.method == Method::GET && here != "/" {
        format!(
            "/login?next={}",
            url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
        )
    } else {
        "/login".to_string()
    };
    if parts.headers.contains_key("hx-request") {
        // htmx follows this header with a full page load instead of swapping a login form
        // into a fragment.
        return ([("hx-redirect", target)], StatusCode::NO_CONTENT).into_response();
    }
    Redirect::to(&target).into_response()
}

/// A `next` parameter that stays on this site (`/path`, never `//host` or a scheme).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

/// The session cookie for a new session's `token`.
pub fn session_cookie(token: String, secure: bool, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(cookie_duration(max_age_secs))
        .build()
}

fn cookie_duration(secs: i64) -> cookie::time::Duration {
    cookie::time::Duration::seconds(secs)
}

/// The pre-session token of the sign-in and registration forms, and the jar that sets its
/// cookie when the visitor has none yet.
pub fn pre_session(jar: CookieJar, secure: bool) -> (CookieJar, String) {
    if let Some(existing) = jar.get(PRE_SESSION_COOKIE) {
        let token = existing.value().to_string();
        return (jar, token);
    }
    let token = tc_domain::secrets::new_opaque_token();
    let cookie = Cookie::build((PRE_SESSION_COOKIE, token.clone()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(cookie_duration(24 * 3600))
        .build();
    (jar.add(cookie), token)
}

/// Refuses a state-changing dashboard request without the right CSRF token, or that the
/// browser marks as sent from another site. Requests without a session go on to their
/// handler, which sends them to sign in without changing anything.
pub async fn csrf_guard(State(_): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    if from_another_site(req.headers()) {
        return refused("the request came from another site");
    }
    let jar = CookieJar::from_headers(req.headers());
    let expected = if SIGNED_OUT_POSTS.contains(&req.uri().path()) {
        match jar.get(PRE_SESSION_COOKIE) {
            Some(c) => c.value().to_string(),
            None => return refused("this form has expired"),
        }
    } else {
        match jar.get(SESSION_COOKIE) {
            Some(c) => tc_domain::csrf_token(c.value()),
            None => return next.run(req).await,
        }
    };
    let (req, presented) = match presented_token(req).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let matches = presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(expected.as_bytes())));
    if !matches {
        return refused("this form has expired or did not come from this site");
    }
    next.run(req).await
}

/// `Sec-Fetch-Site: cross-site`, or an `Origin` that is not this request's host.
fn from_another_site(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v: &axum::http::HeaderValue| v.to_str().ok());
    if text("sec-fetch-site") == Some("cross-site") {
        return true;
    }
    match (text(header::ORIGIN.as_str()), text(header::HOST.as_str())) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            !origin_host.eq_ignore_ascii_case(host)
        }
        _ => false,
    }
}

/// The token the request carries: header, query parameter, or (for a URL-encoded form) body
/// field; the body is read and put back.
async fn presented_token(req: Request) -> Result<(Request, Option<String>), Box<Response>> {
    if let Some(value) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        let value = value.to_string();
        return Ok((req, Some(value)));
    }
    if let Some(query) = req.uri().query()
        && let Some(value) = field(query.as_bytes(), CSRF_FIELD)
    {
        return Ok((req, Some(value)));
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((req, None));
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let e = DomainError::new(
                ErrorCode::ContextTooLarge,
                "the form is larger than this server accepts",
            );
            return Err(Box::new(layout::error_page(None, e)));
        }
    };
    let value = field(&bytes, CSRF_FIELD);
    Ok((Request::from_parts(parts, Body::from(bytes)), value))
}

fn field(encoded: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(encoded).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn refused(why: &str) -> Response {
    let e = DomainError::new(
        ErrorCode::InsufficientPermissions,
        format!("{why}: reload the page and try again"),
    )
    .with_details(serde_json::json!({ "reason": "csrf" }));
    layout::error_page(None, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/projects/1?x=2")), "/projects/1?x=2");
        for bad in ["//evil.example", "https://evil.example", "evil", "/\\evil.example", ""] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn another_sites_requests_are_recognised() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        assert!(from_another_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(from_another_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "tc.example")
        ])));
        assert!(from_another_site(&headers(&[("origin", "null"), ("host", "tc.example")])));
        assert!(!from_another_site(&headers(&[
            ("origin", "http://tc.example:8080"),
            ("host", "tc.example:8080")
        ])));
        assert!(!from_another_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!from_another_site(&headers(&[])));
    }
}
