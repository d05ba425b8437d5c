//! Signing in and out, registering, and the account page (password change, email
//! verification, signing out everywhere), over the same services as `/api/v1/auth/*`.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use maud::{Markup, html};
use serde::Deserialize;
use tc_domain::services::Registration;
use tc_domain::views::{
    ChangePasswordRequest, ForgotPasswordRequest, LoginRequest, RegisterRequest,
};
use tc_domain::{DomainError, EmailVerification};

use super::layout::{
    Chrome, Nav, csrf_field, error_page, form_error, notice, page, page_with_status, status_of,
};
use super::session::{
    self, CSRF_FIELD, MaybeWeb, PRE_SESSION_COOKIE, SESSION_COOKIE, Web, safe_next,
};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: Option<String>,
    password: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RegisterForm {
    name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    invitation_token: Option<String>,
}

/// `GET /login`
pub async fn login_form(
    State(state): State<AppState>,
    MaybeWeb(web): MaybeWeb,
    jar: CookieJar,
    Query(q): Query<NextQuery>,
) -> Response {
    if web.is_some() {
        return Redirect::to(safe_next(q.next.as_deref())).into_response();
    }
    let (jar, token) = session::pre_session(jar, state.secure_cookies);
    let body = login_body(&token, q.next.as_deref(), "", None);
    (jar, page(Chrome::signed_out(), "Sign in", body)).into_response()
}

/// `POST /login`
pub async fn login_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    let email = form.email.clone().unwrap_or_default();
    // The API's throttle per account: guessing a password here is no cheaper than there.
    let outcome = match state.limits.check_login(&email).await {
        Err(e) => Err(e.0),
        Ok(()) => {
            let req = LoginRequest { email: form.email, password: form.password };
            state.services.open_web_session(req).await
        }
    };
    match outcome {
        Ok(opened) => {
            let jar = signed_in(jar, &state, opened.token);
            (jar, Redirect::to(safe_next(form.next.as_deref()))).into_response()
        }
        Err(e) => {
            let (jar, token) = session::pre_session(jar, state.secure_cookies);
            let status = status_of(&e);
            let body = login_body(&token, form.next.as_deref(), &email, Some(&e));
            (jar, page_with_status(status, Chrome::signed_out(), "Sign in", body)).into_response()
        }
    }
}

/// The new session's cookie, replacing the pre-session one.
fn signed_in(jar: CookieJar, state: &AppState, token: String) -> CookieJar {
    let max_age = state.services.auth_settings().web_session_max_secs;
    jar.remove(Cookie::build(PRE_SESSION_COOKIE).path("/")).add(session::session_cookie(
        token,
        state.secure_cookies,
        max_age,
    ))
}

fn login_body(token: &str, next: Option<&str>, email: &str, error: Option<&DomainError>) -> Markup {
    html! {
        h1 { "Sign in to TeamContext" }
        @if let Some(e) = error { (form_error(e)) }
        form.stack.panel method="post" action="/login" {
            input type="hidden" name=(CSRF_FIELD) value=(token);
            @if let Some(next) = next { input type="hidden" name="next" value=(safe_next(Some(next))); }
            label { "Email" input type="email" name="email" value=(email) autocomplete="username" required autofocus; }
            label { "Password" input type="password" name="password" autocomplete="current-password" required; }
            button type="submit" { "Sign in" }
        }
        p { "New here? " a href="/register" { "Create an account" } }
        p { a href="/forgot-password" { "Forgot your password?" } }
    }
}

/// `GET /forgot-password`
pub async fn forgot_form(State(state): State<AppState>, jar: CookieJar) -> Response {
    let (jar, token) = session::pre_session(jar, state.secure_cookies);
    (jar, page(Chrome::signed_out(), "Reset your password", forgot_body(&token, "", None)))
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    email: Option<String>,
}

/// `POST /forgot-password`: mails a reset link if the address has an account; the answer is
/// the same either way.
pub async fn forgot_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(form): Form<ForgotForm>,
) -> Response {
    let email = form.email.clone().unwrap_or_default();
    // The login throttle per address, as the API's: nobody floods one inbox through this page.
    let outcome = match state.limits.check_login(&email).await {
        Err(e) => Err(e.0),
        Ok(()) => state.services.forgot_password(ForgotPasswordRequest { email: form.email }).await,
    };
    match outcome {
        Ok(sent) => {
            let body = html! {
                h1 { "Check your mail" }
                div.notice role="status" { (super::layout::sentence(&sent.message)) }
                p { a href="/login" { "Back to sign in" } }
            };
            page(Chrome::signed_out(), "Check your mail", body)
        }
        Err(e) => {
            let (jar, token) = session::pre_session(jar, state.secure_cookies);
            let status = status_of(&e);
            (
                jar,
                page_with_status(
                    status,
                    Chrome::signed_out(),
                    "Reset your password",
                    forgot_body(&token, &email, Some(&e)),
                ),
            )
                .into_response()
        }
    }
}

fn forgot_body(token: &str, email: &str, error: Option<&DomainError>) -> Markup {
    html! {
        h1 { "Reset your password" }
        p { "We mail a link to choose a new password to the address of your account." }
        @if let Some(e) = error { (form_error(e)) }
        form.stack.panel method="post" action="/forgot-password" {
            input type="hidden" name=(CSRF_FIELD) value=(token);
            label { "Email" input type="email" name="email" value=(email) autocomplete="username" required autofocus; }
            button type="submit" { "Mail me a link" }
        }
        p { a href="/login" { "Back to sign in" } }
    }
}

/// `GET /register`
pub async fn register_form(
    State(state): State<AppState>,
    MaybeWeb(web): MaybeWeb,
    jar: CookieJar,
) -> Response {
    if web.is_some() {
        return Redirect::to("/").into_response();
    }
    let (jar, token) = session::pre_session(jar, state.secure_cookies);
    let body = register_body(&state, &token, &RegisterForm::empty(), None);
    (jar, page(Chrome::signed_out(), "Create an account", body)).into_response()
}

impl RegisterForm {
    fn empty() -> Self {
        RegisterForm { name: None, email: None, password: None, invitation_token: None }
    }
}

/// `POST /register`: the account, its first session, and its first API key shown once.
pub async fn register_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    Form(form): Form<RegisterForm>,
) -> Response {
    let req = RegisterRequest {
        email: form.email.clone(),
        password: form.password.clone(),
        name: form.name.clone(),
        invitation_token: form.invitation_token.clone().filter(|t| !t.trim().is_empty()),
    };
    match state.services.register_web(req).await {
        Ok(opened) => {
            let web = state.services.web_caller(&opened.token).await.ok();
            let jar = signed_in(jar, &state, opened.token);
            let Some(key) = opened.api_key else {
                return (jar, Redirect::to("/")).into_response();
            };
            // The first key is shown on the welcome page, once.
            let body = html! {
                h1 { "Welcome, " (opened.user.name) }
                p { "Your account is ready. This is your first API key, for Claude, Cursor and other MCP clients. "
                    strong { "Copy it now: it is not shown again." } }
                (super::keys::key_once(&key.key, &super::base_url(&state, &headers)))
                p.actions { a.button href="/projects" { "Create your first project" } }
            };
            let chrome = Chrome { web: web.as_ref(), nav: Nav::None };
            (jar, page_with_status(StatusCode::CREATED, chrome, "Welcome", body)).into_response()
        }
        Err(e) => {
            let (jar, token) = session::pre_session(jar, state.secure_cookies);
            let status = status_of(&e);
            let body = register_body(&state, &token, &form, Some(&e));
            (jar, page_with_status(status, Chrome::signed_out(), "Create an account", body))
                .into_response()
        }
    }
}

fn register_body(
    state: &AppState,
    token: &str,
    form: &RegisterForm,
    error: Option<&DomainError>,
) -> Markup {
    let registration = state.services.auth_settings().registration;
    html! {
        h1 { "Create an account" }
        @if registration == Registration::Closed {
            div.error-box role="alert" { "Registration is closed on this server: ask its administrator for an account." }
        } @else {
            @if let Some(e) = error { (form_error(e)) }
            form.stack.panel method="post" action="/register" {
                input type="hidden" name=(CSRF_FIELD) value=(token);
                label { "Your name" input type="text" name="name" value=(form.name.as_deref().unwrap_or_default()) autocomplete="name" maxlength="100" required autofocus; }
                label { "Email" input type="email" name="email" value=(form.email.as_deref().unwrap_or_default()) autocomplete="email" required; }
                label { "Password" span.hint { "At least 8 characters." }
                    input type="password" name="password" autocomplete="new-password" minlength="8" required; }
                @if registration == Registration::Invite {
                    label { "Invitation code" span.hint { "This server registers by invitation: paste the code your administrator sent." }
                        input type="text" name="invitation_token" value=(form.invitation_token.as_deref().unwrap_or_default()) autocomplete="off" required; }
                }
                button type="submit" { "Create the account" }
            }
        }
        p { "Already have an account? " a href="/login" { "Sign in" } }
    }
}

/// `POST /logout`
pub async fn logout(State(state): State<AppState>, Web(web): Web, jar: CookieJar) -> Response {
    if let Err(e) = state.services.close_web_session(web.session_id).await {
        return error_page(Some(&web), e);
    }
    (jar.remove(Cookie::build(SESSION_COOKIE).path("/")), Redirect::to("/login")).into_response()
}

/// `POST /logout-everywhere`: every dashboard session and signed-in API client of the user.
pub async fn logout_everywhere(
    State(state): State<AppState>,
    Web(web): Web,
    jar: CookieJar,
) -> Response {
    if let Err(e) = state.services.sign_out_everywhere(&web.caller).await {
        return error_page(Some(&web), e);
    }
    (jar.remove(Cookie::build(SESSION_COOKIE).path("/")), Redirect::to("/login")).into_response()
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    pub done: Option<String>,
}

/// `GET /account`
pub async fn account(
    State(state): State<AppState>,
    Web(web): Web,
    Query(q): Query<DoneQuery>,
) -> Response {
    account_page(&state, &web, q.done.as_deref(), None, StatusCode::OK)
}

fn account_page(
    state: &AppState,
    web: &tc_domain::WebCaller,
    done: Option<&str>,
    error: Option<&DomainError>,
    status: StatusCode,
) -> Response {
    let verification = state.services.auth_settings().email_verification;
    let body = html! {
        h1 { "Your account" }
        (notice(done))
        section.panel aria-labelledby="who" {
            h2 #who { "Profile" }
            dl.facts {
                dt { "Name" } dd { (web.user.name) }
                dt { "Email" } dd { (web.user.email) " "
                    @if web.user.email_verified { span.tag { "verified" } } @else { span.tag { "not verified" } } }
                dt { "Member since" } dd { (super::layout::when(web.user.created_at)) }
            }
            @if !web.user.email_verified && verification != EmailVerification::Off {
                p { "Confirm your address from the link we mailed you. "
                    @if verification == EmailVerification::Required { "Until then this server lets you do nothing else." }
                    @else { "Until then you can save context but not retrieve it." } }
                form.inline method="post" action="/account/verify" {
                    (csrf_field(web))
                    button.secondary type="submit" { "Send the link again" }
                }
            }
        }
        section.panel aria-labelledby="pw" {
            h2 #pw { "Change your password" }
            @if let Some(e) = error { (form_error(e)) }
            form.stack method="post" action="/account/password" {
                (csrf_field(web))
                label { "Current password" input type="password" name="current_password" autocomplete="current-password" required; }
                label { "New password" span.hint { "At least 8 characters. Every other session is signed out; API keys keep working." }
                    input type="password" name="new_password" autocomplete="new-password" minlength="8" required; }
                button type="submit" { "Change the password" }
            }
        }
        section.panel aria-labelledby="ai" {
            h2 #ai { "AI" }
            p { "Choose the language model that answers you, and the MCP servers your agent may use, on the " a href="/account/ai" { "AI settings" } " page." }
        }
        section.panel aria-labelledby="out" {
            h2 #out { "Sign out everywhere" }
            p { "Ends every dashboard session and every API client signed in with your password, on every device. API keys keep working: revoke them on the " a href="/keys" { "API keys" } " page." }
            form method="post" action="/logout-everywhere" data-confirm="Sign out on every device?" {
                (csrf_field(web))
                button.danger type="submit" { "Sign out everywhere" }
            }
        }
    };
    page_with_status(status, Chrome::signed_in(web, Nav::Account), "Your account", body)
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    current_password: Option<String>,
    new_password: Option<String>,
}

/// `POST /account/password`: the new password, a fresh session for this browser (the change
/// signs out every session, this one included).
pub async fn change_password(
    State(state): State<AppState>,
    Web(web): Web,
    jar: CookieJar,
    Form(form): Form<PasswordForm>,
) -> Response {
    let email = web.user.email.clone();
    let req = ChangePasswordRequest {
        current_password: form.current_password,
        new_password: form.new_password.clone(),
    };
    if let Err(e) = state.services.change_password(&web.caller, req).await {
        let status = status_of(&e);
        return account_page(&state, &web, None, Some(&e), status);
    }
    let login = LoginRequest { email: Some(email), password: form.new_password };
    match state.services.open_web_session(login).await {
        Ok(opened) => {
            let jar = signed_in(jar, &state, opened.token);
            (jar, Redirect::to("/account?done=password-changed")).into_response()
        }
        Err(_) => (jar.remove(Cookie::build(SESSION_COOKIE).path("/")), Redirect::to("/login"))
            .into_response(),
    }
}

/// `POST /account/verify`: mails the verification link again.
pub async fn resend_verification(State(state): State<AppState>, Web(web): Web) -> Response {
    match state.services.resend_verification(&web.caller).await {
        Ok(sent) => {
            let body = html! {
                h1 { "Check your mail" }
                div.notice role="status" { (super::layout::sentence(&sent.message)) }
                p { a href="/account" { "Back to your account" } }
            };
            page(Chrome::signed_in(&web, Nav::Account), "Check your mail", body)
        }
        Err(e) => error_page(Some(&web), e),
    }
}
