//! The pages the links in mail open: `/reset-password` (choose a new password) and
//! `/verify-email` (confirm the address). Plain server-rendered HTML with no script, each form
//! posting back to its own page, which calls the same services as `/api/v1/auth/*`. The token in
//! the form is the secret that authorises it, so a forged cross-site form has nothing to send.
//! Visiting a link changes nothing: a mail scanner that fetches it does not spend the token.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use tc_domain::views::{ResetPasswordRequest, VerifyEmailRequest};

use crate::state::AppState;
use crate::web::sentence;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/reset-password", get(reset_form).post(reset_submit))
        .route("/verify-email", get(verify_form).post(verify_submit))
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ResetForm {
    token: Option<String>,
    new_password: Option<String>,
    confirm_password: Option<String>,
}

async fn reset_form(Query(q): Query<TokenQuery>) -> Response {
    page("Choose a new password", reset_body(q.token.as_deref().unwrap_or_default(), None))
}

async fn reset_submit(State(state): State<AppState>, Form(form): Form<ResetForm>) -> Response {
    let token = form.token.unwrap_or_default();
    if form.new_password != form.confirm_password {
        let body = reset_body(&token, Some("The two passwords differ."));
        return page("Choose a new password", body);
    }
    let req = ResetPasswordRequest { token: Some(token.clone()), new_password: form.new_password };
    match state.services.reset_password(req).await {
        Ok(_) => page(
            "Password changed",
            html! {
                p { "Sign in with the new password. Every session was signed out; API keys keep working." }
            },
        ),
        // A spent or expired link cannot be retried from here: say so, without the form.
        Err(e) if is_token_error(&e) => page(
            "This link no longer works",
            html! { div.error-box role="alert" { (sentence(&e.message)) } },
        ),
        Err(e) => page("Choose a new password", reset_body(&token, Some(&sentence(&e.message)))),
    }
}

fn reset_body(token: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(error) = error { div.error-box role="alert" { (error) } }
        form.stack.panel method="post" action="/reset-password" {
            input type="hidden" name="token" value=(token);
            label { "New password (at least 8 characters)"
                input type="password" name="new_password" autocomplete="new-password" minlength="8" required; }
            label { "The same again"
                input type="password" name="confirm_password" autocomplete="new-password" minlength="8" required; }
            button type="submit" { "Set the password" }
        }
    }
}

async fn verify_form(Query(q): Query<TokenQuery>) -> Response {
    let token = q.token.unwrap_or_default();
    page(
        "Confirm your address",
        html! {
            form.panel method="post" action="/verify-email" {
                input type="hidden" name="token" value=(token);
                button type="submit" { "Confirm this address" }
            }
        },
    )
}

async fn verify_submit(State(state): State<AppState>, Form(q): Form<TokenQuery>) -> Response {
    match state.services.verify_email(VerifyEmailRequest { token: q.token }).await {
        Ok(user) => page(
            "Address confirmed",
            html! { p { (user.email) " is verified. You can close this page." } },
        ),
        Err(e) => page(
            "This link no longer works",
            html! { div.error-box role="alert" { (sentence(&e.message)) } },
        ),
    }
}

fn is_token_error(e: &tc_domain::DomainError) -> bool {
    e.details.as_ref().and_then(|d| d.get("field")).is_some_and(|f| f == "token")
}

/// The page around `body`: the dashboard's frame and style, with no script at all and headers
/// that keep the token in it to this page (no caching, no referrer, no framing).
fn page(title: &str, body: Markup) -> Response {
    crate::web::scriptless_page(title, body)
}
