//! `/auth/*` and `/users/me`: registration, login, refresh rotation and reuse detection,
//! logout, token expiry and tampering, deactivation, password change, email verification.

mod support;

use chrono::Duration;
use reqwest::Method;
use serde_json::json;
use support::TestApp;

#[tokio::test]
async fn register_returns_tokens_and_a_working_api_key() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"email": "Ann@Example.com", "password": "correct horse", "name": "Ann"}),
        )
        .await;
    let b = r.assert_status(201).clone();
    assert_eq!(b["user"]["email"], "Ann@Example.com");
    assert_eq!(b["user"]["email_verified"], false);
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 900);
    assert!(b["user"].get("password_hash").is_none());
    let key = b["api_key"]["key"].as_str().unwrap();
    assert!(key.starts_with("tc_") && key.len() == 43);
    assert_eq!(b["api_key"]["prefix"].as_str().unwrap(), &key[..11]);
    assert_eq!(b["api_key"]["scopes"], json!(["read", "write"]));

    for credential in [key, b["access_token"].as_str().unwrap()] {
        let me = app.get("/users/me", credential).await;
        assert_eq!(me.assert_status(200)["id"], b["user"]["id"]);
    }
}

#[tokio::test]
async fn register_rejects_bad_input() {
    let app = TestApp::new().await;
    let ok = json!({"email": "bob@example.com", "password": "12345678", "name": "Bob"});
    let with = |field: &str, value: serde_json::Value| {
        let mut body = ok.clone();
        body[field] = value;
        body
    };
    let cases = [
        (json!({"password": "12345678", "name": "Bob"}), 400, "MISSING_REQUIRED_FIELD"),
        (with("email", json!("not-an-email")), 422, "INVALID_INPUT"),
        (with("password", json!("1234567")), 422, "INVALID_INPUT"),
        (with("password", json!("x".repeat(129))), 422, "INVALID_INPUT"),
        (with("name", json!("   ")), 422, "INVALID_INPUT"),
        (with("email", json!(42)), 422, "INVALID_INPUT"),
    ];
    for (body, status, code) in cases {
        app.post("/auth/register", None, body).await.assert_error(status, code);
    }
    app.post("/auth/register", None, with("password", json!("y".repeat(128))))
        .await
        .assert_status(201);
    let dup = app.post("/auth/register", None, with("email", json!("BOB@example.COM"))).await;
    dup.assert_error(409, "CONFLICT");

    let raw = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    TestApp::read(raw).await.assert_error(400, "INVALID_INPUT");
    let no_type =
        app.client.post(app.url("/auth/register")).body(ok.to_string()).send().await.unwrap();
    TestApp::read(no_type).await.assert_error(400, "INVALID_INPUT");
}

#[tokio::test]
async fn login_checks_the_password_and_returns_no_key() {
    let app = TestApp::new().await;
    let u = app.register("carol").await;
    let r = app
        .post("/auth/login", None, json!({"email": "CAROL@example.com", "password": u.password}))
        .await;
    let b = r.assert_status(200);
    assert_eq!(b["user"]["id"], u.id.as_str());
    assert!(b.get("api_key").is_none());
    app.get("/users/me", b["access_token"].as_str().unwrap()).await.assert_status(200);

    app.post("/auth/login", None, json!({"email": u.email, "password": "wrong password"}))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.post("/auth/login", None, json!({"email": "nobody@example.com", "password": "whatever1"}))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.post("/auth/login", None, json!({"email": u.email}))
        .await
        .assert_error(400, "MISSING_REQUIRED_FIELD");
}

#[tokio::test]
async fn refresh_rotates_and_detects_reuse() {
    let app = TestApp::new().await;
    let u = app.register("dave").await;
    let first = app.refresh(&u.refresh_token).await;
    let pair = first.assert_status(200).clone();
    let second_token = pair["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second_token, u.refresh_token);
    app.get("/users/me", pair["access_token"].as_str().unwrap()).await.assert_status(200);

    // Within the 5-second window a second use is refused but the family survives.
    let again = app.refresh(&u.refresh_token).await;
    again.assert_error(401, "TOKEN_REVOKED");
    assert_eq!(again.body["error"]["details"]["reason"], "already_used");
    let third = app.refresh(&second_token).await;
    let third_token = third.assert_status(200)["refresh_token"].as_str().unwrap().to_string();

    // Later, reuse of a spent token is theft: the whole family goes.
    app.clock.advance(Duration::seconds(6));
    let stolen = app.refresh(&u.refresh_token).await;
    stolen.assert_error(401, "TOKEN_REVOKED");
    assert_eq!(stolen.body["error"]["details"]["reason"], "reuse_detected");
    let after = app.refresh(&third_token).await;
    after.assert_error(401, "TOKEN_REVOKED");

    app.refresh("made-up").await.assert_error(401, "TOKEN_REVOKED");
    app.post("/auth/refresh", None, json!({})).await.assert_error(400, "MISSING_REQUIRED_FIELD");
}

#[tokio::test]
async fn concurrent_refresh_first_wins() {
    let app = TestApp::new().await;
    let u = app.register("erin").await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let client = app.client.clone();
        let url = app.url("/auth/refresh");
        let token = u.refresh_token.clone();
        tasks.push(tokio::spawn(async move {
            let r = client.post(url).json(&json!({"refresh_token": token})).send().await.unwrap();
            TestApp::read(r).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == 200 {
            ok += 1;
        } else {
            r.assert_error(401, "TOKEN_REVOKED");
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn refresh_tokens_expire_after_seven_days() {
    let app = TestApp::new().await;
    let u = app.register("fay").await;
    app.clock.advance(Duration::days(7) + Duration::seconds(1));
    app.refresh(&u.refresh_token).await.assert_error(401, "TOKEN_EXPIRED");
}

#[tokio::test]
async fn logout_revokes_the_family() {
    let app = TestApp::new().await;
    let u = app.register("gus").await;
    let pair = app.refresh(&u.refresh_token).await;
    let newer = pair.assert_status(200)["refresh_token"].as_str().unwrap().to_string();
    app.post("/auth/logout", None, json!({"refresh_token": newer})).await.assert_status(204);
    app.refresh(&newer).await.assert_error(401, "TOKEN_REVOKED");
    // Logging out an unknown token reveals nothing.
    app.post("/auth/logout", None, json!({"refresh_token": "nope"})).await.assert_status(204);
}

#[tokio::test]
async fn access_tokens_expire_and_cannot_be_forged() {
    let app = TestApp::new().await;
    let u = app.register("hal").await;
    let mut tampered = u.access_token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    app.get("/users/me", &tampered).await.assert_error(401, "INVALID_CREDENTIALS");
    app.get("/users/me", "not.a.jwt").await.assert_error(401, "INVALID_CREDENTIALS");
    app.get("/users/me", "tc_notarealkeynotarealkeynotarealkeynotarea")
        .await
        .assert_error(401, "INVALID_API_KEY");

    let basic = app
        .client
        .get(app.url("/users/me"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    let basic = TestApp::read(basic).await;
    basic.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(basic.headers["www-authenticate"], "Bearer");
    app.send(Method::GET, "/users/me", None, None).await.assert_error(401, "INVALID_CREDENTIALS");

    app.clock.advance(Duration::minutes(14));
    app.get("/users/me", &u.access_token).await.assert_status(200);
    app.clock.advance(Duration::minutes(2));
    app.get("/users/me", &u.access_token).await.assert_error(401, "TOKEN_EXPIRED");
    app.get("/users/me", &u.api_key).await.assert_status(200);
}

#[tokio::test]
async fn deactivation_stops_every_credential_on_the_next_request() {
    let app = TestApp::new().await;
    let u = app.register("ivy").await;
    app.get("/users/me", &u.api_key).await.assert_status(200);
    app.services().admin_set_active(&u.email, false).await.unwrap();

    let r = app.get("/users/me", &u.api_key).await;
    r.assert_error(401, "INVALID_API_KEY");
    assert_eq!(r.body["error"]["details"]["reason"], "account_deactivated");
    app.get("/users/me", &u.access_token).await.assert_error(401, "TOKEN_REVOKED");
    app.refresh(&u.refresh_token).await.assert_error(401, "TOKEN_REVOKED");
    app.post("/auth/login", None, json!({"email": u.email, "password": u.password}))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");

    app.services().admin_set_active(&u.email, true).await.unwrap();
    app.get("/users/me", &u.api_key).await.assert_status(200);
}

#[tokio::test]
async fn password_change_signs_out_sessions_but_keeps_keys() {
    let app = TestApp::new().await;
    let u = app.register("jon").await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    app.post("/users/me/password", Some(&u.access_token), change("wrong-pass", "a new password"))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.post("/users/me/password", Some(&u.access_token), change(&u.password, "short"))
        .await
        .assert_error(422, "INVALID_INPUT");
    app.post("/users/me/password", None, change(&u.password, "a new password"))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.post("/users/me/password", Some(&u.access_token), change(&u.password, "a new password"))
        .await
        .assert_status(204);

    app.refresh(&u.refresh_token).await.assert_error(401, "TOKEN_REVOKED");
    app.post("/auth/login", None, json!({"email": u.email, "password": u.password}))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.post("/auth/login", None, json!({"email": u.email, "password": "a new password"}))
        .await
        .assert_status(200);
    app.get("/users/me", &u.api_key).await.assert_status(200);
}

#[tokio::test]
async fn required_email_verification_blocks_everything_but_the_profile() {
    let app = TestApp::with_env(&[("EMAIL_VERIFICATION", "required")]).await;
    let u = app.register("kim").await;
    app.get("/users/me", &u.api_key).await.assert_status(200);
    app.get("/projects", &u.api_key).await.assert_error(403, "EMAIL_NOT_VERIFIED");
    app.post("/projects", Some(&u.api_key), json!({"name": "x"}))
        .await
        .assert_error(403, "EMAIL_NOT_VERIFIED");
    app.services().admin_verify_email(&u.email).await.unwrap();
    app.get("/projects", &u.api_key).await.assert_status(200);
}

/// With `EMAIL_VERIFICATION=required` an unverified account reaches its profile and nothing
/// else, on every documented route (analytics once answered without asking).
#[tokio::test]
async fn required_verification_covers_every_route() {
    let app = TestApp::with_env(&[("EMAIL_VERIFICATION", "required")]).await;
    let u = app.register("vic").await;
    let any = uuid::Uuid::now_v7().to_string();
    let mut checked = 0;
    let mut leaks = Vec::new();
    for op in app.operations().await.into_iter().filter(|op| op.secured) {
        let path = op.path(|_| any.clone());
        let r = app.send(op.method.clone(), &path, Some(&u.access_token), Some(json!({}))).await;
        if path == "/users/me" {
            assert!(r.status.is_success(), "{} {path}: {}", op.method, r.body);
            continue;
        }
        // Securing the account, and asking for the link that verifies it, are allowed before
        // the address is verified.
        if path == "/users/me/password" || path == "/auth/resend-verification" {
            continue;
        }
        if r.status != 403 || r.body["error"]["code"] != "EMAIL_NOT_VERIFIED" {
            leaks.push(format!("{} {path}: {} {}", op.method, r.status, r.body));
        }
        checked += 1;
    }
    assert!(leaks.is_empty(), "answered without verification:\n{}", leaks.join("\n"));
    assert!(checked >= 25, "{checked} routes checked");
}

/// Hole 5 of the hardening issue: with open registration anyone who reached the server could
/// read every `team` project. `REGISTRATION=invite` and `closed` control who gets an account.
#[tokio::test]
async fn registration_by_invitation_and_closed() {
    let body = |email: &str, token: Option<&str>| json!({"email": email, "password": "long enough pw", "name": "n", "invitation_token": token});
    let closed = TestApp::with_env(&[("REGISTRATION", "closed")]).await;
    let r = closed.post("/auth/register", None, body("a@example.com", None)).await;
    r.assert_error(403, "INSUFFICIENT_PERMISSIONS");
    assert_eq!(r.body["error"]["details"]["registration"], "closed");

    let app = TestApp::with_env(&[("REGISTRATION", "invite")]).await;
    let r = app.post("/auth/register", None, body("ann@example.com", None)).await;
    r.assert_error(403, "INSUFFICIENT_PERMISSIONS");
    assert_eq!(r.body["error"]["details"]["registration"], "invite");
    let invitation = app.services().admin_invite_signup("Ann@Example.com").await.unwrap();
    let token = invitation.token.as_str();
    for (email, token) in [
        ("bob@example.com", Some(token)),
        ("ann@example.com", Some("tci_not-a-real-token")),
        ("ann@example.com", Some("")),
    ] {
        app.post("/auth/register", None, body(email, token))
            .await
            .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    }
    app.post("/auth/register", None, body("ann@example.com", Some(token))).await.assert_status(201);
    // Used once.
    app.post("/auth/register", None, body("ann@example.com", Some(token)))
        .await
        .assert_error(409, "CONFLICT");
    // An expired invitation is refused.
    let late = app.services().admin_invite_signup("late@example.com").await.unwrap();
    app.clock.advance(Duration::days(8));
    app.post("/auth/register", None, body("late@example.com", Some(&late.token)))
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS");
}

/// Hole 9 of the hardening issue: a refresh racing a logout could store its new token after the
/// logout revoked the family, and that token outlived the logout. Whatever the interleaving,
/// once a logout has answered no token of the family works.
#[tokio::test]
async fn a_refresh_racing_a_logout_does_not_outlive_it() {
    let app = TestApp::new().await;
    let u = app.register("racer").await;
    for round in 0..40 {
        let login =
            app.post("/auth/login", None, json!({"email": u.email, "password": u.password})).await;
        let token = login.assert_status(200)["refresh_token"].as_str().unwrap().to_string();
        let body = json!({"refresh_token": token});
        let (refreshed, logout) = tokio::join!(
            app.post("/auth/refresh", None, body.clone()),
            app.post("/auth/logout", None, body)
        );
        assert!(logout.status.is_success(), "{}", logout.body);
        if let Some(next) = refreshed.body["refresh_token"].as_str() {
            let again = app.refresh(next).await;
            assert_eq!(
                again.status, 401,
                "round {round}: a token outlived the logout: {}",
                again.body
            );
        }
    }
}
