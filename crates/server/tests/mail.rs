//! Mail over real SMTP: the password reset and the address verification, received by aiosmtpd
//! (a real SMTP server the test starts, writing what it receives to a maildir), and the answers
//! of a server without mail.

mod support;

use std::time::Duration;

use serde_json::json;
use support::TestApp;
use support::smtp::SmtpSink;

const PUBLIC_URL: &str = "https://context.example.test";

/// Submits an HTML form to one of the server's pages, as a browser does; the page's status
/// and text.
async fn submit_form(app: &TestApp, page: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let response = app
        .client
        .post(format!("{}{page}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn app_with_mail(sink: &SmtpSink, extra: &[(&str, &str)]) -> TestApp {
    let url = sink.url();
    let mut env = vec![
        ("SMTP_URL", url.as_str()),
        ("SMTP_FROM", "TeamContext <teamcontext@example.test>"),
        ("PUBLIC_URL", PUBLIC_URL),
    ];
    env.extend_from_slice(extra);
    TestApp::with_env(&env).await
}

#[tokio::test]
async fn a_forgotten_password_is_reset_once_through_the_mailed_link() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, &[]).await;
    let alice = app.register("alice").await;

    // The answer for an account and for no account is the same; only the account gets mail.
    let known =
        app.post("/auth/forgot-password", None, json!({"email": "ALICE@example.com"})).await;
    let unknown =
        app.post("/auth/forgot-password", None, json!({"email": "nobody@example.com"})).await;
    assert_eq!(known.status, 202);
    assert_eq!((unknown.status, &unknown.body), (known.status, &known.body));
    let mail = sink.wait_for(1).await.pop().unwrap();
    assert_eq!(mail.header("To"), "alice@example.com");
    assert!(mail.header("From").contains("teamcontext@example.test"), "{}", mail.headers);
    assert!(mail.header("Subject").contains("Reset your TeamContext password"));
    let token = mail.token(PUBLIC_URL, "reset-password");
    assert_eq!(token.len(), 43, "a 256-bit token");
    assert!(!mail.body.contains(&alice.password));

    // The link opens a page that holds the token and nothing runs on it.
    let page =
        app.client.get(format!("{}/reset-password?token={token}", app.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script"), "{csp}");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert!(page.text().await.unwrap().contains(&format!("value=\"{token}\"")));

    // A refused password does not spend the token.
    let short = json!({"token": token, "new_password": "short"});
    app.post("/auth/reset-password", None, short).await.assert_error(422, "INVALID_INPUT");
    let reset = json!({"token": token, "new_password": "a brand new password"});
    let done = app.post("/auth/reset-password", None, reset.clone()).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    app.post("/auth/reset-password", None, reset).await.assert_error(400, "INVALID_INPUT");

    // Every session is signed out; the old password is gone, the new one works, keys work.
    app.refresh(&alice.refresh_token).await.assert_error(401, "TOKEN_REVOKED");
    let old = json!({"email": alice.email, "password": alice.password});
    app.post("/auth/login", None, old).await.assert_error(401, "INVALID_CREDENTIALS");
    let new = json!({"email": alice.email, "password": "a brand new password"});
    assert_eq!(app.post("/auth/login", None, new).await.status, 200);
    assert_eq!(app.get("/users/me", &alice.api_key).await.status, 200);

    // At most one mail a minute per account, whoever asks.
    let again = json!({"email": alice.email});
    assert_eq!(app.post("/auth/forgot-password", None, again.clone()).await.status, 202);
    app.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(app.post("/auth/forgot-password", None, again.clone()).await.status, 202);
    let mails = sink.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 2, "the request within the minute sent nothing");
    let second = mails[1].token(PUBLIC_URL, "reset-password");

    // The form on the page spends the token as the API does.
    let form = [
        ("token", second.as_str()),
        ("new_password", "third password!"),
        ("confirm_password", "third password!"),
    ];
    let (status, text) = submit_form(&app, "/reset-password", &form).await;
    assert_eq!(status, 200);
    assert!(text.contains("Password changed"), "{text}");
    let (_, text) = submit_form(&app, "/reset-password", &form).await;
    assert!(text.contains("This link no longer works") && !text.contains("<form"), "{text}");
    let third = json!({"email": alice.email, "password": "third password!"});
    assert_eq!(app.post("/auth/login", None, third).await.status, 200);

    // A link works for an hour.
    app.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(app.post("/auth/forgot-password", None, again).await.status, 202);
    let late = sink.wait_for(3).await[2].token(PUBLIC_URL, "reset-password");
    app.clock.advance(chrono::Duration::minutes(61));
    let expired = json!({"token": late, "new_password": "too late for this"});
    app.post("/auth/reset-password", None, expired).await.assert_error(400, "INVALID_INPUT");
    app.shutdown().await;
}

#[tokio::test]
async fn a_new_account_confirms_its_address_through_the_mailed_link() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, &[("EMAIL_VERIFICATION", "required")]).await;
    let bob = app.register("bob").await;
    let first = sink.wait_for(1).await.pop().unwrap();
    assert_eq!(first.header("To"), "bob@example.com");
    let first_token = first.token(PUBLIC_URL, "verify-email");

    app.get("/projects", &bob.api_key).await.assert_error(403, "EMAIL_NOT_VERIFIED");
    let resend = app.post("/auth/resend-verification", Some(&bob.api_key), json!({})).await;
    resend.assert_error(429, "RATE_LIMIT_EXCEEDED");
    assert!(resend.headers.contains_key("retry-after"));
    app.clock.advance(chrono::Duration::seconds(61));
    let resend = app.post("/auth/resend-verification", Some(&bob.api_key), json!({})).await;
    assert_eq!(resend.status, 202, "{:?}", resend.body);
    let second_token = sink.wait_for(2).await[1].token(PUBLIC_URL, "verify-email");

    // Opening the link changes nothing; the button on it does.
    let page = app
        .client
        .get(format!("{}/verify-email?token={first_token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    app.get("/projects", &bob.api_key).await.assert_error(403, "EMAIL_NOT_VERIFIED");
    let form = [("token", first_token.as_str())];
    let (_, text) = submit_form(&app, "/verify-email", &form).await;
    assert!(text.contains("bob@example.com is verified"), "{text}");
    assert_eq!(app.get("/projects", &bob.api_key).await.status, 200);
    assert_eq!(app.get("/users/me", &bob.api_key).await.body["email_verified"], true);

    // The newer link went with the older one; a verified account is not mailed again.
    let later = json!({"token": second_token});
    app.post("/auth/verify-email", None, later).await.assert_error(400, "INVALID_INPUT");
    let resend = app.post("/auth/resend-verification", Some(&bob.api_key), json!({})).await;
    resend.assert_error(409, "CONFLICT");
    app.shutdown().await;
}

#[tokio::test]
async fn without_smtp_the_mail_flows_say_so_and_bad_input_is_refused() {
    let app = TestApp::with_env(&[("EMAIL_VERIFICATION", "limited")]).await;
    let carol = app.register("carol").await;
    let forgot = json!({"email": carol.email});
    app.post("/auth/forgot-password", None, forgot).await.assert_error(503, "MAIL_NOT_CONFIGURED");
    let unknown = json!({"email": "nobody@example.com"});
    app.post("/auth/forgot-password", None, unknown).await.assert_error(503, "MAIL_NOT_CONFIGURED");
    let resend = app.post("/auth/resend-verification", Some(&carol.api_key), json!({})).await;
    resend.assert_error(503, "MAIL_NOT_CONFIGURED");
    app.post("/auth/resend-verification", None, json!({}))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");

    // Tokens are checked whether or not mail is configured.
    let bogus = json!({"token": "not-a-token", "new_password": "long enough password"});
    app.post("/auth/reset-password", None, bogus).await.assert_error(400, "INVALID_INPUT");
    app.post("/auth/verify-email", None, json!({"token": "nope"}))
        .await
        .assert_error(400, "INVALID_INPUT");
    app.post("/auth/verify-email", None, json!({}))
        .await
        .assert_error(400, "MISSING_REQUIRED_FIELD");
    let no_password = json!({"token": "x"});
    app.post("/auth/reset-password", None, no_password)
        .await
        .assert_error(400, "MISSING_REQUIRED_FIELD");
    app.post("/auth/forgot-password", None, json!({"email": "not an address"}))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post("/auth/forgot-password", None, json!({"email": 7}))
        .await
        .assert_error(422, "INVALID_INPUT");

    let malformed = app
        .client
        .post(app.url("/auth/forgot-password"))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    TestApp::read(malformed).await.assert_error(400, "INVALID_INPUT");
    let huge = json!({"token": "x".repeat(11 << 20), "new_password": "long enough password"});
    app.post("/auth/reset-password", None, huge).await.assert_error(413, "CONTEXT_TOO_LARGE");
    app.shutdown().await;
}
