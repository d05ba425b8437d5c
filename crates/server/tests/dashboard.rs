//! The web dashboard over HTTP, as a browser uses it: sessions (cookie flags, idle and absolute
//! timeouts, sign-out here and everywhere, a password change), the CSRF guard, the security
//! headers, every page's unhappy paths (signed out, someone else's project, an unknown or
//! malformed id, an oversized form), and that what users save cannot run in a teammate's
//! browser. The real browser drives it in `browser.rs`.

mod support;

use reqwest::StatusCode;
use support::TestApp;
use support::web::Browser;

#[tokio::test]
async fn registration_signs_in_with_a_safe_cookie_and_shows_the_key_once() {
    let app = TestApp::new().await;
    let mut ann = Browser::new(&app.base);
    let key = ann.register("ann").await;
    assert!(key.starts_with("tc_"), "{key}");

    // The key works for the API, and the MCP snippets carry it and this server's address.
    app.get("/users/me", &key).await.assert_status(200);
    let cookie = ann.cookies.get("tc_session").expect("a session cookie").clone();
    assert!(!ann.cookies.contains_key("tc_presession"), "the pre-session cookie is replaced");

    // The cookie is HttpOnly and SameSite=Lax (not Secure over plain HTTP).
    let mut fresh = Browser::new(&app.base);
    let page = fresh.sign_in("ann").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let set = page
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>();
    let session = set.iter().find(|c| c.starts_with("tc_session=")).expect("session cookie set");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && session.contains("Path=/"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "{session}");

    // The cookie never authenticates the API: bearer credentials only there.
    let api = reqwest::Client::new()
        .get(app.url("/users/me"))
        .header("cookie", format!("tc_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);

    // The key is not on any later page.
    for path in ["/projects", "/keys", "/account"] {
        let page = ann.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(!page.html.contains(&key), "{path} shows the key again");
    }
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in_and_back() {
    let app = TestApp::new().await;
    let mut visitor = Browser::new(&app.base);
    for path in [
        "/projects",
        "/search?q=x",
        "/keys",
        "/analytics",
        "/account",
        "/account/ai",
        "/tasks",
        "/stories",
        "/chat",
        "/integrations",
    ] {
        let page = visitor.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(page.location().starts_with("/login?next=%2F"), "{path} → {}", page.location());
    }
    assert_eq!(visitor.get("/").await.location(), "/login");
    // A post without a session changes nothing and is sent to sign in.
    let page = visitor.post_raw("/projects", &[("name", "x")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login");
    // htmx requests are redirected with htmx's header instead of a swapped login form.
    let resp = reqwest::Client::new()
        .get(format!("{}/projects", app.base))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(resp.headers()["hx-redirect"].to_str().unwrap().starts_with("/login"));

    // Signing in comes back to the page asked for, and never to another site.
    let mut ann = Browser::new(&app.base);
    ann.register("ann").await;
    ann.post("/logout", &[]).await;
    let page = ann
        .post_from(
            "/login?next=%2Fkeys",
            "/login",
            &[("email", "ann@example.com"), ("password", "ann-secret-pw"), ("next", "/keys")],
        )
        .await;
    assert_eq!(page.location(), "/keys");
    ann.post("/logout", &[]).await;
    let page = ann
        .post_from(
            "/login",
            "/login",
            &[
                ("email", "ann@example.com"),
                ("password", "ann-secret-pw"),
                ("next", "//evil.example"),
            ],
        )
        .await;
    assert_eq!(page.location(), "/");
}

#[tokio::test]
async fn wrong_credentials_and_bad_registrations_answer_on_the_form() {
    let app = TestApp::new().await;
    let mut ann = Browser::new(&app.base);
    ann.register("ann").await;
    ann.post("/logout", &[]).await;
    let page = ann
        .post_from(
            "/login",
            "/login",
            &[("email", "ann@example.com"), ("password", "wrong-password")],
        )
        .await;
    assert_eq!(page.status, 401);
    assert!(
        page.html.contains("role=\"alert\"")
            && page.html.contains("Email or password is incorrect."),
        "{}",
        page.html
    );
    assert!(page.html.contains("value=\"ann@example.com\""), "the address is kept");
    assert!(!ann.cookies.contains_key("tc_session"));

    let mut bob = Browser::new(&app.base);
    let page = bob
        .post_from(
            "/register",
            "/register",
            &[("name", "Bob"), ("email", "ann@example.com"), ("password", "bob-secret-pw")],
        )
        .await;
    assert_eq!(page.status, 409, "{}", page.html);
    assert!(page.html.contains("already exists"));
    let page = bob
        .post_from(
            "/register",
            "/register",
            &[("name", "Bob"), ("email", "not-an-email"), ("password", "short")],
        )
        .await;
    assert_eq!(page.status, 422, "{}", page.html);
    assert!(page.html.contains("value=\"Bob\""), "the form keeps what was typed");
}

#[tokio::test]
async fn forms_without_the_sessions_token_or_from_another_site_are_refused() {
    let app = TestApp::new().await;
    let mut ann = Browser::new(&app.base);
    ann.register("ann").await;
    let token = ann.csrf().await;

    for (why, fields) in [
        ("no token", vec![("name", "Forged")]),
        ("a forged token", vec![("csrf", "0000"), ("name", "Forged")]),
        (
            "another session's token",
            vec![
                ("csrf", tc_domain::csrf_token("someone-else").leak() as &str),
                ("name", "Forged"),
            ],
        ),
    ] {
        let page = ann.post_raw("/projects", &fields).await;
        assert_eq!(page.status, 403, "{why}");
        assert!(page.html.contains("reload the page"), "{why}: {}", page.html);
    }
    // The right token, but sent from another site's page.
    let resp = reqwest::Client::new()
        .post(format!("{}/projects", app.base))
        .header("cookie", format!("tc_session={}", ann.cookies["tc_session"]))
        .header("origin", "https://evil.example")
        .form(&[("csrf", token.as_str()), ("name", "Forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // Nothing was created by any of them.
    assert!(!ann.get("/projects").await.html.contains("Forged"));
    // The token in htmx's header works like the form field.
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/projects", app.base))
        .header("cookie", format!("tc_session={}", ann.cookies["tc_session"]))
        .header("x-csrf-token", &token)
        .form(&[("name", "Real")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);

    // The password-reset form is guarded the same way, and answers on its page.
    let mut visitor = Browser::new(&app.base);
    assert_eq!(
        visitor.post_raw("/forgot-password", &[("email", "ann@example.com")]).await.status,
        403
    );
    let page = visitor
        .post_from("/forgot-password", "/forgot-password", &[("email", "not-an-address")])
        .await;
    assert_eq!(page.status, 422, "{}", page.html);
    assert!(page.html.contains("role=\"alert\""));

    // The sign-in form needs its own pre-session token too (no login CSRF).
    let mut fresh = Browser::new(&app.base);
    let page = fresh
        .post_raw("/login", &[("email", "ann@example.com"), ("password", "ann-secret-pw")])
        .await;
    assert_eq!(page.status, 403);
    assert!(!fresh.cookies.contains_key("tc_session"));
}

#[tokio::test]
async fn sessions_end_on_sign_out_everywhere_idleness_age_and_password_change() {
    let app =
        TestApp::with_env(&[("WEB_SESSION_IDLE_SECS", "3600"), ("WEB_SESSION_MAX_SECS", "86400")])
            .await;
    let mut laptop = Browser::new(&app.base);
    laptop.register("ann").await;
    let mut phone = Browser::new(&app.base);
    assert_eq!(phone.sign_in("ann").await.status, 303);

    // Sign out here: this session ends, the other goes on.
    let old = laptop.cookies["tc_session"].clone();
    assert_eq!(laptop.post("/logout", &[]).await.location(), "/login");
    assert!(!laptop.cookies.contains_key("tc_session"));
    laptop.cookies.insert("tc_session".into(), old);
    assert_eq!(laptop.get("/projects").await.status, 303, "a signed-out session is refused");
    assert_eq!(phone.get("/projects").await.status, 200);

    // Idle for longer than the idle timeout: over.
    app.clock.advance(chrono::Duration::seconds(3601));
    let page = phone.get("/projects").await;
    assert_eq!(page.status, 303);
    assert!(page.location().starts_with("/login"));

    // Used every half hour, a session still ends at its absolute age.
    let mut desk = Browser::new(&app.base);
    desk.sign_in("ann").await;
    for _ in 0..47 {
        app.clock.advance(chrono::Duration::minutes(30));
        assert_eq!(desk.get("/projects").await.status, 200);
    }
    app.clock.advance(chrono::Duration::minutes(31));
    assert_eq!(desk.get("/projects").await.status, 303);

    // Sign out everywhere ends every session, and the API's refresh tokens.
    let mut one = Browser::new(&app.base);
    let mut two = Browser::new(&app.base);
    one.sign_in("ann").await;
    two.sign_in("ann").await;
    let login = app
        .post(
            "/auth/login",
            None,
            serde_json::json!({"email": "ann@example.com", "password": "ann-secret-pw"}),
        )
        .await;
    let refresh = login.body["refresh_token"].as_str().unwrap().to_string();
    one.post("/logout-everywhere", &[]).await;
    assert_eq!(two.get("/projects").await.status, 303);
    app.refresh(&refresh).await.assert_error(401, "TOKEN_REVOKED");

    // A password change signs out the other sessions but keeps this browser signed in.
    let mut here = Browser::new(&app.base);
    let mut there = Browser::new(&app.base);
    here.sign_in("ann").await;
    there.sign_in("ann").await;
    let page = here
        .post(
            "/account/password",
            &[("current_password", "wrong"), ("new_password", "another-pw-123")],
        )
        .await;
    assert_eq!(page.status, 401);
    assert!(page.html.contains("Email or password is incorrect."));
    let page = here
        .post(
            "/account/password",
            &[("current_password", "ann-secret-pw"), ("new_password", "another-pw-123")],
        )
        .await;
    assert_eq!(page.location(), "/account?done=password-changed");
    assert_eq!(here.get("/account").await.status, 200);
    assert_eq!(there.get("/account").await.status, 303);
}

#[tokio::test]
async fn pages_carry_a_strict_policy_and_no_inline_script_or_style() {
    let app = TestApp::new().await;
    let mut ann = Browser::new(&app.base);
    ann.register("ann").await;
    let project = ann.create_project("Payments").await;
    let pages = [
        "/projects".to_string(),
        format!("/projects/{project}"),
        format!("/projects/{project}/settings"),
        format!("/projects/{project}/scans"),
        "/search?q=stripe".into(),
        "/keys".into(),
        "/analytics".into(),
        "/account".into(),
    ];
    for path in &pages {
        let page = ann.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline")
                && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(page.headers["cache-control"], "no-store", "{path}");
        assert_eq!(page.headers["x-frame-options"], "DENY");
        assert!(!page.html.contains("<script>"), "{path} has an inline script");
        assert!(!page.html.contains(" style="), "{path} has an inline style");
        assert!(!page.html.contains(" onclick="), "{path} has an inline handler");
        // Every form that changes something carries the session's token.
        let forms = page.html.matches("method=\"post\"").count();
        let tokens =
            page.html.matches("name=\"csrf\"").count() + page.html.matches("?csrf=").count();
        assert!(tokens >= forms, "{path}: {forms} forms, {tokens} tokens");
    }
    // The assets are served under hashed names, cached for a year.
    let home = ann.get("/projects").await;
    let css = home.html.split("href=\"/assets/").nth(1).unwrap().split('"').next().unwrap();
    let resp = reqwest::get(format!("{}/assets/{css}", app.base)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    assert_eq!(
        reqwest::get(format!("{}/assets/app-000000000000.css", app.base)).await.unwrap().status(),
        404
    );
    // The tab shows the icon the page names (a browser asks for /favicon.ico otherwise).
    let icon = home.html.split("rel=\"icon\" type=\"image/svg+xml\" href=\"").nth(1).unwrap();
    let icon = icon.split('"').next().unwrap();
    let resp = reqwest::get(format!("{}{icon}", app.base)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/svg+xml");
    assert!(resp.text().await.unwrap().starts_with("<svg"));
    // htmx is embedded (make fetches it before building).
    assert!(
        home.html.contains("src=\"/assets/htmx-"),
        "htmx is not embedded: run scripts/fetch-web-assets.sh"
    );
}

#[tokio::test]
async fn what_users_save_cannot_run_in_a_teammates_browser() {
    let app = TestApp::new().await;
    let mut ann = Browser::new(&app.base);
    ann.register("ann").await;
    let project = ann.create_project("Payments").await;
    let note = "# Hello <script>alert('x')</script>\n\n<img src=x onerror=alert(1)> [click](javascript:alert(2)) stripe";
    let page = ann
        .post(
            &format!("/projects/{project}/notes"),
            &[("content", note), ("tags", "xss, <b>t</b>")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.html);
    let list = ann.get(&format!("/projects/{project}")).await;
    let id =
        list.html.split("href=\"/contexts/").nth(1).unwrap().split('"').next().unwrap().to_string();
    // Rendered as Markdown, the note keeps harmless HTML and loses everything executable.
    let read = ann.get(&format!("/contexts/{id}")).await;
    for bad in ["<script>", "onerror", "javascript:"] {
        assert!(!read.html.contains(bad), "{bad} on the context page");
    }
    // Shown as text (lists, search), none of its HTML is HTML.
    for path in [format!("/projects/{project}"), "/search?q=stripe+hello".to_string()] {
        let page = ann.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        for bad in ["<script>alert", "<img", "href=\"javascript:", "<b>t</b>"] {
            assert!(!page.html.contains(bad), "{bad} on {path}");
        }
    }
    assert!(read.html.contains("<h1>Hello"), "Markdown is rendered: {}", read.html);
}

#[tokio::test]
async fn other_users_projects_unknown_ids_and_oversized_forms() {
    let app = TestApp::new().await;
    let mut ann = Browser::new(&app.base);
    ann.register("ann").await;
    let project = ann.create_project("Ann's secrets").await;
    ann.post(&format!("/projects/{project}/notes"), &[("content", "the launch code is 1234")])
        .await;
    let context = ann
        .get(&format!("/projects/{project}"))
        .await
        .html
        .split("href=\"/contexts/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();

    let mut bob = Browser::new(&app.base);
    bob.register("bob").await;
    assert!(!bob.get("/projects").await.html.contains("Ann's secrets"));
    for path in [
        format!("/projects/{project}"),
        format!("/projects/{project}/settings"),
        format!("/projects/{project}/scans"),
        format!("/contexts/{context}"),
    ] {
        let page = bob.get(&path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(
            !page.html.contains("launch code") && !page.html.contains("Ann's secrets"),
            "{path}"
        );
        assert!(page.html.contains("request"), "the error page names the request");
    }
    for (path, fields) in [
        (format!("/projects/{project}/notes"), vec![("content", "bob was here")]),
        (format!("/projects/{project}/settings"), vec![("name", "Bob's now")]),
        (format!("/projects/{project}/delete"), vec![]),
        (format!("/contexts/{context}/delete"), vec![]),
    ] {
        assert_eq!(bob.post(&path, &fields).await.status, 404, "{path}");
    }
    let search = bob.get("/search?q=launch+code").await;
    assert!(!search.html.contains("launch code is"), "another user's context in search");
    // Ann's project and note are intact.
    assert!(
        ann.get(&format!("/contexts/{context}")).await.html.contains("the launch code is 1234")
    );
    assert!(
        ann.get("/projects").await.html.contains("Ann&#39;s secrets")
            || ann.get("/projects").await.html.contains("Ann's secrets")
    );

    // Unknown and malformed ids name nothing.
    for path in [
        "/projects/00000000-0000-0000-0000-000000000000",
        "/projects/not-an-id",
        "/contexts/nope",
        "/projects/nope/scans/nope",
    ] {
        assert_eq!(ann.get(path).await.status, 404, "{path}");
    }
    assert_eq!(ann.post("/keys/not-an-id/revoke", &[]).await.status, 404);
    // An unknown page is a page for a browser, the envelope for an API client.
    let page = ann.get("/no-such-page").await;
    assert_eq!(page.status, 404);
    assert!(page.html.contains("<h1>Not found</h1>"));
    app.get("/no-such-route", "x").await.assert_error(404, "RESOURCE_NOT_FOUND");

    // A form larger than the server reads is refused whole.
    let huge = "x".repeat(9 * 1024 * 1024);
    let page = ann.post(&format!("/projects/{project}/notes"), &[("content", &huge)]).await;
    assert_eq!(page.status, 413);
    assert_eq!(
        ann.get(&format!("/projects/{project}")).await.html.matches("href=\"/contexts/").count(),
        1
    );
}

#[tokio::test]
async fn projects_people_notes_keys_and_scans_from_the_browser() {
    let app = TestApp::new().await;
    let mut ann = Browser::new(&app.base);
    ann.register("ann").await;
    let mut bob = Browser::new(&app.base);
    bob.register("bob").await;

    // Empty states say what to do next.
    assert!(ann.get("/projects").await.html.contains("No projects yet"));
    let project = ann.create_project("Payments").await;
    let page = ann.get(&format!("/projects/{project}?done=project-created")).await;
    assert!(page.html.contains("Project created.") && page.html.contains("No context yet"));

    // A blank name is refused on the form, with nothing created.
    let page = ann.post("/projects", &[("name", "  ")]).await;
    assert_eq!(page.status, 422);
    assert!(page.html.contains("role=\"alert\""));

    // Notes: saved, filtered by tag, read, deleted.
    for (content, tags) in [
        ("Use Stripe idempotency keys on every charge", "stripe, payments"),
        ("Deploys happen on Tuesdays", "ops"),
    ] {
        assert_eq!(
            ann.post(
                &format!("/projects/{project}/notes"),
                &[("content", content), ("tags", tags)]
            )
            .await
            .status,
            303
        );
    }
    let empty = ann.post(&format!("/projects/{project}/notes"), &[("content", "   ")]).await;
    assert_eq!(empty.status, 422);
    let tagged = ann.get(&format!("/projects/{project}?tag=ops")).await;
    assert!(tagged.html.contains("Deploys happen") && !tagged.html.contains("idempotency"));
    let found = ann.get("/search?q=stripe+idempotency&mode=keyword").await;
    assert!(
        found.html.contains("<mark>Stripe</mark>")
            && found.html.contains("<mark>idempotency</mark>"),
        "{}",
        found.html
    );
    let id = tagged
        .html
        .split("href=\"/contexts/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        ann.post(&format!("/contexts/{id}/delete"), &[]).await.location(),
        format!("/projects/{project}?done=context-deleted")
    );
    assert_eq!(ann.get(&format!("/contexts/{id}")).await.status, 404);

    // People: invite Bob by email, Bob accepts on his projects page, then sees the project.
    let page = ann
        .post(&format!("/projects/{project}/contributors"), &[("email", "bob@example.com")])
        .await;
    assert_eq!(page.status, 303);
    let invite = bob.get("/projects").await;
    assert!(invite.html.contains("Invitations") && invite.html.contains("Payments"));
    let inv = invite
        .html
        .split("action=\"/invitations/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert!(
        bob.post(&format!("/invitations/{inv}/accept"), &[])
            .await
            .location()
            .starts_with(&format!("/projects/{project}"))
    );
    assert!(bob.get(&format!("/projects/{project}")).await.html.contains("idempotency"));
    // Bob is a contributor: he may leave, not rename or delete.
    assert_eq!(
        bob.post(&format!("/projects/{project}/settings"), &[("name", "Bob's")]).await.status,
        403
    );
    let settings = ann.get(&format!("/projects/{project}/settings")).await;
    assert!(settings.html.contains("bob@example.com"));
    let bob_id = settings
        .html
        .split("/contributors/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    ann.post(&format!("/projects/{project}/contributors/{bob_id}/remove"), &[]).await;
    assert_eq!(
        bob.get(&format!("/projects/{project}")).await.status,
        404,
        "a removed contributor loses the project at once"
    );

    // Keys: created read-only for one project, shown once with the snippets; revoked.
    let page =
        ann.post("/keys", &[("name", "laptop"), ("read", "on"), ("project_id", &project)]).await;
    assert_eq!(page.status, 201, "{}", page.html);
    let key =
        page.html.split("id=\"new-key\">").nth(1).unwrap().split('<').next().unwrap().to_string();
    assert!(
        page.html
            .contains(&format!("claude mcp add --transport http teamcontext {}/mcp", app.base)),
        "{}",
        page.html
    );
    assert!(page.html.contains(&format!("Bearer {key}")));
    assert!(
        page.html.contains("&quot;TEAMCONTEXT_API_KEY&quot;: &quot;")
            || page.html.contains("\"TEAMCONTEXT_API_KEY\"")
    );
    app.get(&format!("/projects/{project}"), &key).await.assert_status(200);
    app.post(
        "/context/save",
        Some(&key),
        serde_json::json!({"content": "x", "project_id": project}),
    )
    .await
    .assert_error(403, "INSUFFICIENT_PERMISSIONS");
    let keys = ann.get("/keys").await;
    let row = keys.html.split("<tr>").find(|r| r.contains("<td>laptop")).expect("laptop listed");
    let key_id =
        row.split("action=\"/keys/").nth(1).unwrap().split('/').next().unwrap().to_string();
    assert_eq!(
        ann.post(&format!("/keys/{key_id}/revoke"), &[]).await.location(),
        "/keys?done=key-revoked"
    );
    app.get("/users/me", &key).await.assert_error(401, "INVALID_API_KEY");
    let page = ann.post("/keys", &[("name", "no scopes")]).await;
    assert_eq!(page.status, 422, "a key needs a scope");

    // A scan from an uploaded archive, followed to its result.
    let archive = support::archives::tar_gz(
        &[
            ("src/billing.rs", b"pub fn charge(amount: u64) -> u64 { amount }\n"),
            ("README.md", b"# Billing\n"),
        ],
        &[],
    );
    let form = reqwest::multipart::Form::new()
        .part("archive", reqwest::multipart::Part::bytes(archive).file_name("code.tar.gz"));
    let page = ann.post_multipart(&format!("/projects/{project}/scans"), form).await;
    assert_eq!(page.status, 303, "{}", page.html);
    let status_page = page.location().to_string();
    let done = ann.until_finished(&status_page).await;
    assert!(done.contains("id=\"scan-status\">finished"), "{done}");
    assert!(done.contains("<b>2</b><span>files indexed</span>"), "{done}");
    // A scan upload without its token is refused before the body is read.
    let form = reqwest::multipart::Form::new()
        .part("archive", reqwest::multipart::Part::bytes(vec![1, 2, 3]).file_name("x.zip"));
    let resp = reqwest::Client::new()
        .post(format!("{}/projects/{project}/scans", app.base))
        .header("cookie", format!("tc_session={}", ann.cookies["tc_session"]))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);

    // Delete and restore.
    assert_eq!(
        ann.post(&format!("/projects/{project}/delete"), &[]).await.location(),
        "/projects?done=project-deleted"
    );
    let list = ann.get("/projects").await;
    assert!(list.html.contains("Deleted projects"));
    assert!(
        ann.post(&format!("/projects/{project}/restore"), &[])
            .await
            .location()
            .contains("project-restored")
    );
    assert_eq!(ann.get(&format!("/projects/{project}")).await.status, 200);
}

#[tokio::test]
async fn the_task_board_adds_moves_edits_and_deletes() {
    let app = TestApp::new().await;
    let mut ann = Browser::new(&app.base);
    ann.register("ann").await;
    let project = ann.create_project("Payments").await;
    assert!(ann.get("/tasks").await.html.contains("No tasks yet"));

    let page = ann
        .post(
            "/tasks",
            &[
                ("title", "Rotate the Stripe keys"),
                ("project_id", &project),
                ("priority", "high"),
                ("due_date", "2026-12-11"),
                ("tags", "ops, stripe"),
                ("back", "/tasks"),
            ],
        )
        .await;
    assert_eq!(page.location(), "/tasks?done=task-added");
    let board = ann.get("/tasks").await;
    let todo = board
        .html
        .split("id=\"col-todo\"")
        .nth(1)
        .unwrap()
        .split("id=\"col-in_progress\"")
        .next()
        .unwrap();
    assert!(
        todo.contains("Rotate the Stripe keys")
            && todo.contains("high priority")
            && todo.contains("2026-12-11"),
        "{todo}"
    );
    let id =
        board.html.split("href=\"/tasks/").nth(1).unwrap().split('"').next().unwrap().to_string();
    // The task is context: search finds it.
    assert!(
        ann.get("/search?q=rotate+stripe&mode=keyword")
            .await
            .html
            .contains("Rotate the Stripe keys")
    );

    // Bad input answers on the form; nothing is created.
    let page = ann.post("/tasks", &[("title", ""), ("back", "/tasks")]).await;
    assert_eq!(page.status, 400, "a missing title, as the API answers it");
    let page =
        ann.post("/tasks", &[("title", "x"), ("priority", "urgent"), ("back", "/tasks")]).await;
    assert_eq!(page.status, 422);
    assert!(page.html.contains("role=\"alert\""));

    // Move it along the board.
    assert_eq!(
        ann.post(&format!("/tasks/{id}/move"), &[("status", "in_progress"), ("back", "/tasks")])
            .await
            .location(),
        "/tasks"
    );
    let board = ann.get("/tasks").await;
    let doing = board
        .html
        .split("id=\"col-in_progress\"")
        .nth(1)
        .unwrap()
        .split("id=\"col-done\"")
        .next()
        .unwrap();
    assert!(doing.contains("Rotate the Stripe keys"));
    assert_eq!(ann.post(&format!("/tasks/{id}/move"), &[("status", "sideways")]).await.status, 422);

    // Edit: assign to a member; a stranger cannot be assigned.
    let mut bob = Browser::new(&app.base);
    let bob_key = bob.register("bob").await;
    let bob_id = app.get("/users/me", &bob_key).await.body["id"].as_str().unwrap().to_string();
    let page = ann
        .post(
            &format!("/tasks/{id}"),
            &[
                ("title", "Rotate the Stripe keys"),
                ("status", "in_progress"),
                ("priority", "high"),
                ("assignee_id", &bob_id),
                ("due_date", ""),
                ("tags", ""),
            ],
        )
        .await;
    assert_eq!(page.status, 422, "{}", page.html);
    let edit = ann.get(&format!("/tasks/{id}")).await;
    assert!(edit.html.contains("Rotate the Stripe keys"));
    let page = ann
        .post(
            &format!("/tasks/{id}"),
            &[
                ("title", "Rotate Stripe and Adyen keys"),
                ("status", "done"),
                ("priority", "low"),
                ("assignee_id", ""),
                ("due_date", ""),
                ("tags", "ops"),
            ],
        )
        .await;
    assert_eq!(page.location(), format!("/tasks/{id}?done=task-saved"));
    assert!(
        ann.get("/tasks")
            .await
            .html
            .split("id=\"col-done\"")
            .nth(1)
            .unwrap()
            .contains("Rotate Stripe and Adyen keys")
    );

    // Someone else's task is not found, for reading and for changing.
    assert_eq!(bob.get(&format!("/tasks/{id}")).await.status, 404);
    assert_eq!(bob.post(&format!("/tasks/{id}/move"), &[("status", "todo")]).await.status, 404);
    assert_eq!(bob.post(&format!("/tasks/{id}/delete"), &[]).await.status, 404);
    assert!(!bob.get("/tasks").await.html.contains("Adyen"));
    assert_eq!(ann.get("/tasks/not-an-id").await.status, 404);

    assert_eq!(
        ann.post(&format!("/tasks/{id}/delete"), &[]).await.location(),
        "/tasks?done=task-deleted"
    );
    assert_eq!(ann.get(&format!("/tasks/{id}")).await.status, 404);
}

#[tokio::test]
async fn a_question_streams_its_sources_and_answer_and_stays_private() {
    let app = TestApp::new().await;
    let mut ann = Browser::new(&app.base);
    ann.register("ann").await;
    let project = ann.create_project("Payments").await;
    ann.post(
        &format!("/projects/{project}/notes"),
        &[("content", "We rotate the Stripe API keys every Friday with the vault CLI.")],
    )
    .await;

    let page = ann
        .post(
            "/chat",
            &[("message", "When do we rotate the Stripe keys?"), ("project_id", &project)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.html);
    let to = page.location().to_string();
    assert!(to.starts_with("/chat?session=") && to.contains("&run="), "{to}");
    let page = ann.get(to.split('#').next().unwrap()).await;
    let stream =
        page.html.split("data-stream=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    // The events, as the page's script receives them.
    let events = reqwest::Client::new()
        .get(format!("{}{stream}", app.base))
        .header("cookie", format!("tc_session={}", ann.cookies["tc_session"]))
        .send()
        .await
        .unwrap();
    let status = events.status();
    if status == 200 {
        assert!(
            events.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream")
        );
        let text = events.text().await.unwrap();
        let sources = text.find("event: sources").expect("sources");
        let done = text.find("event: done").expect("done");
        assert!(sources < done, "{text}");
        assert!(text.contains("Friday"), "{text}");
    } else {
        assert_eq!(status, 204, "the turn was over already");
    }
    // The stored conversation shows the answer and its source.
    let session = to.split("session=").nth(1).unwrap().split('&').next().unwrap().to_string();
    let page = ann.get(&format!("/chat?session={session}")).await;
    assert!(page.html.contains("article class=\"message assistant\""), "{}", page.html);
    assert!(page.html.contains("Friday") && page.html.contains("href=\"/contexts/"));
    // Its citation leads to the source.
    assert!(page.html.contains("[<a href=\"/contexts/"), "{}", page.html);

    // Nobody else reads it, follows its stream or deletes it.
    let mut bob = Browser::new(&app.base);
    bob.register("bob").await;
    assert_eq!(bob.get(&format!("/chat?session={session}")).await.status, 404);
    assert_eq!(bob.get(&stream).await.status, 404);
    assert_eq!(bob.post(&format!("/chat/sessions/{session}/delete"), &[]).await.status, 404);
    assert!(!bob.get("/chat").await.html.contains(&session));
    // Bad input: an empty question, a malformed session.
    assert_eq!(ann.post("/chat", &[("message", "  ")]).await.status, 422);
    assert_eq!(ann.post("/chat", &[("message", "x"), ("session_id", "nope")]).await.status, 404);
    assert_eq!(ann.get("/chat?session=nope").await.status, 404);

    assert_eq!(
        ann.post(&format!("/chat/sessions/{session}/delete"), &[]).await.location(),
        "/chat"
    );
    assert_eq!(ann.get(&format!("/chat?session={session}")).await.status, 404);
}

#[tokio::test]
async fn jira_connects_syncs_and_disconnects_from_the_browser() {
    use fake_atlassian::{DC_TOKEN, FakeJira, Flavour};
    let fake = FakeJira::start(Flavour::DataCenter).await;
    let keys = fake.seed("PAY", 3, 1);
    let app = TestApp::with_env(&[("OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")]).await;
    let mut ann = Browser::new(&app.base);
    ann.register("ann").await;
    let project = ann.create_project("Payments").await;
    let page = ann.get("/integrations").await;
    assert!(page.html.contains("Not connected") && page.html.contains("Connect Jira"));

    // A refused token is said on the page, and nothing is connected.
    let connect = |token: &'static str| {
        let url = fake.url();
        move || {
            vec![
                ("kind", "datacenter".to_string()),
                ("base_url", url.clone()),
                ("personal_access_token", token.to_string()),
            ]
        }
    };
    let fields = connect("wrong-token")();
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = ann.post("/integrations/jira/connect", &fields).await;
    assert!(page.status.is_client_error() || page.status.is_server_error(), "{}", page.status);
    assert!(page.html.contains("role=\"alert\""), "{}", page.html);
    assert!(ann.get("/integrations").await.html.contains("Connect Jira"));

    let fields = connect(DC_TOKEN)();
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = ann.post("/integrations/jira/connect", &fields).await;
    assert_eq!(page.location(), "/integrations?done=jira-connected", "{}", page.html);
    let page = ann.get("/integrations?done=jira-connected").await;
    assert!(page.html.contains("Jira connected.") && page.html.contains("Sync into a project"));
    assert!(!page.html.contains(DC_TOKEN), "the token is never shown");

    // Sync by key, followed on the job page to its result.
    let joined = keys.join(", ");
    let page = ann
        .post(
            "/integrations/jira/sync",
            &[("project_id", &project), ("query", ""), ("keys", &joined)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.html);
    let job = page.location().to_string();
    assert!(job.starts_with("/jobs/"), "{job}");
    let done = ann.until_finished(&job).await;
    assert!(done.contains("id=\"job-status\">succeeded"), "{done}");
    assert!(done.contains("<b>3</b><span>synced</span>"), "{done}");
    let listed = ann.get(&format!("/projects/{project}?source=jira")).await.html;
    assert!(listed.contains("PAY-1"), "{listed}");

    // Another user sees neither the job nor the connection; a sync without a project fails.
    let mut bob = Browser::new(&app.base);
    bob.register("bob").await;
    assert_eq!(bob.get(&job).await.status, 404);
    assert!(bob.get("/integrations").await.html.contains("Connect Jira"));
    assert_eq!(
        bob.post("/integrations/jira/sync", &[("project_id", &project), ("keys", "PAY-1")])
            .await
            .status,
        404
    );
    assert_eq!(ann.post("/integrations/jira/sync", &[("project_id", "nope")]).await.status, 404);
    assert_eq!(
        ann.post("/integrations/trello/connect", &[("kind", "datacenter")]).await.status,
        404
    );

    let page = ann.post("/integrations/jira/disconnect", &[]).await;
    assert_eq!(page.location(), "/integrations?done=jira-disconnected");
    assert!(ann.get("/integrations").await.html.contains("Connect Jira"));
}

#[tokio::test]
async fn documents_uploaded_from_the_project_page_become_context() {
    let app = TestApp::new().await;
    let mut ann = Browser::new(&app.base);
    ann.register("ann").await;
    let project = ann.create_project("Handbook").await;
    let page = ann.get(&format!("/projects/{project}")).await;
    assert!(
        page.html.contains("Upload documents")
            && page.html.contains(&format!("/projects/{project}/documents?csrf="))
    );
    let form = reqwest::multipart::Form::new().text("project_id", project.clone()).part(
        "file",
        reqwest::multipart::Part::bytes(
            b"# On-call\n\nPage the secondary after 15 minutes.".to_vec(),
        )
        .file_name("oncall.md"),
    );
    let page = ann.post_multipart(&format!("/projects/{project}/documents"), form).await;
    assert_eq!(page.status, 303, "{}", page.html);
    let job = page.location().to_string();
    assert!(job.starts_with(&format!("/projects/{project}/scans/")), "{job}");
    let done = ann.until_finished(&job).await;
    assert!(done.contains("id=\"scan-status\">finished"), "{done}");
    assert!(
        ann.get("/search?q=secondary+minutes&mode=keyword")
            .await
            .html
            .contains("<mark>secondary</mark>")
    );

    // A file that cannot be read is refused on the page; someone else's project is not found.
    let form = reqwest::multipart::Form::new().text("project_id", project.clone()).part(
        "file",
        reqwest::multipart::Part::bytes(vec![0, 159, 146, 150]).file_name("blob.exe"),
    );
    let page = ann.post_multipart(&format!("/projects/{project}/documents"), form).await;
    assert_eq!(page.status, 422, "{}", page.html);
    assert!(page.html.contains("role=\"alert\""));
    let mut bob = Browser::new(&app.base);
    bob.register("bob").await;
    let form = reqwest::multipart::Form::new()
        .text("project_id", project.clone())
        .part("file", reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("x.md"));
    assert_eq!(
        bob.post_multipart(&format!("/projects/{project}/documents"), form).await.status,
        404
    );
}

#[tokio::test]
async fn guessing_a_password_in_the_browser_is_throttled_like_the_api() {
    let app = TestApp::with_env(&[("RATE_LIMIT_LOGIN_PER_MIN", "3")]).await;
    let mut ann = Browser::new(&app.base);
    ann.register("ann").await;
    ann.post("/logout", &[]).await;
    let mut guesser = Browser::new(&app.base);
    for _ in 0..3 {
        let page = guesser
            .post_from(
                "/login",
                "/login",
                &[("email", "ann@example.com"), ("password", "guess-guess")],
            )
            .await;
        assert_eq!(page.status, 401);
    }
    let page = guesser
        .post_from(
            "/login",
            "/login",
            &[("email", "ann@example.com"), ("password", "ann-secret-pw")],
        )
        .await;
    assert_eq!(page.status, 429, "{}", page.html);
    assert!(page.html.contains("role=\"alert\""));
    assert!(!guesser.cookies.contains_key("tc_session"));
    // The API shares the count.
    app.post(
        "/auth/login",
        None,
        serde_json::json!({"email": "ann@example.com", "password": "ann-secret-pw"}),
    )
    .await
    .assert_error(429, "RATE_LIMIT_EXCEEDED");
    let page = guesser
        .post_from("/forgot-password", "/forgot-password", &[("email", "ann@example.com")])
        .await;
    assert_eq!(page.status, 429);
}

#[tokio::test]
async fn ai_settings_set_a_model_test_it_and_lend_the_agent_an_mcp_server() {
    use fake_llm::{FakeLlm, Reply, recorded};
    let own = FakeLlm::start().await;
    let app = TestApp::with_env(&[("OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")]).await;
    let mut ann = Browser::new(&app.base);
    let key = ann.register("ann").await;
    let page = ann.get("/account/ai").await;
    assert!(page.html.contains("No model is set up"), "{}", page.html);

    // A bad URL is refused on the form; a good one is saved and tested.
    let page = ann
        .post("/account/ai/model", &[("base_url", "ftp://x"), ("model", "m"), ("api_key", "")])
        .await;
    assert_eq!(page.status, 422, "{}", page.html);
    assert!(page.html.contains("role=\"alert\""));
    let base = own.base_url();
    let page = ann
        .post(
            "/account/ai/model",
            &[("base_url", &base), ("model", "ann-model"), ("api_key", "sk-ann-secret")],
        )
        .await;
    assert_eq!(page.location(), "/account/ai?done=model-saved", "{}", page.html);
    own.push(Reply::chunks(recorded::openai_text(&["OK"], 12, 1)));
    let page = ann.post("/account/ai/model/test", &[]).await;
    assert!(page.html.contains("The model answered in"), "{}", page.html);
    assert_eq!(own.headers()[0]["authorization"], "Bearer sk-ann-secret");
    let page = ann.get("/account/ai").await;
    assert!(page.html.contains("ann-model") && !page.html.contains("sk-ann-secret"));
    assert!(
        ann.get("/chat").await.html.contains("name=\"agent\"")
            && !ann.get("/chat").await.html.contains("No language model")
    );

    // An MCP server (this server's own /mcp, with a read-only key) lends its tools.
    let created = app
        .post(
            "/users/me/api-keys",
            Some(&key),
            serde_json::json!({"name": "lent", "scopes": ["read"]}),
        )
        .await;
    let lent = created.assert_status(201)["key"].as_str().unwrap().to_string();
    let page = ann
        .post(
            "/account/ai/servers",
            &[("name", "Bad Name"), ("url", &format!("{}/mcp", app.base)), ("bearer_token", "")],
        )
        .await;
    assert_eq!(page.status, 422);
    let page = ann
        .post(
            "/account/ai/servers",
            &[("name", "wiki"), ("url", &format!("{}/mcp", app.base)), ("bearer_token", &lent)],
        )
        .await;
    assert_eq!(page.location(), "/account/ai?done=server-added", "{}", page.html);
    let page = ann.get("/account/ai").await;
    assert!(
        page.html.contains("wiki__get_relevant_context") && !page.html.contains(&lent),
        "{}",
        page.html
    );
    let id = page
        .html
        .split("/account/ai/servers/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        ann.post(&format!("/account/ai/servers/{id}/refresh"), &[]).await.location(),
        "/account/ai?done=server-refreshed"
    );

    // Nobody else touches them.
    let mut bob = Browser::new(&app.base);
    bob.register("bob").await;
    assert!(!bob.get("/account/ai").await.html.contains("wiki"));
    assert_eq!(bob.post(&format!("/account/ai/servers/{id}/delete"), &[]).await.status, 404);
    assert_eq!(ann.post("/account/ai/servers/nope/delete", &[]).await.status, 404);

    assert_eq!(
        ann.post(&format!("/account/ai/servers/{id}/delete"), &[]).await.location(),
        "/account/ai?done=server-removed"
    );
    assert_eq!(
        ann.post("/account/ai/model/delete", &[]).await.location(),
        "/account/ai?done=model-removed"
    );
    assert!(ann.get("/account/ai").await.html.contains("No model is set up"));
}

#[tokio::test]
async fn a_story_is_drafted_checked_refined_and_created_from_the_browser() {
    use fake_atlassian::{DC_TOKEN, FakeJira, Flavour};
    let fake = FakeJira::start(Flavour::DataCenter).await;
    fake.add_project("PAY");
    let app = TestApp::with_env(&[("OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")]).await;
    let mut ann = Browser::new(&app.base);
    ann.register("ann").await;
    let project = ann.create_project("Payments").await;
    assert!(ann.get("/stories").await.html.contains("No drafts yet"));

    // Bad input answers on the form; nothing is drafted.
    let page = ann.post("/stories", &[("project_id", &project), ("requirements", "")]).await;
    assert_eq!(page.status, 400);
    assert!(page.html.contains("role=\"alert\""));

    let requirements = "As a support agent, I want failed webhooks listed with their last error, \
                        so that I can answer customers. Retry one from the list.";
    let page = ann
        .post(
            "/stories",
            &[
                ("project_id", &project),
                ("requirements", requirements),
                ("format", "story"),
                ("jira_project_key", "pay"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.html);
    let at = page.location().to_string();
    assert!(at.starts_with("/stories/") && at.ends_with("?done=story-drafted"), "{at}");
    let story = ann.get(&at).await;
    assert!(
        story.html.contains("As a support agent, I want failed webhooks listed"),
        "{}",
        story.html
    );
    assert!(story.html.contains("from the template") && story.html.contains("Jira project PAY"));
    let path = at.split('?').next().unwrap().to_string();

    // The check runs on request and says which rules it skipped.
    let checked = ann.post(&format!("{path}/validate"), &[]).await;
    assert_eq!(checked.status, 200);
    assert!(checked.html.contains("Not checked: conceptually sound"), "{}", checked.html);

    // Refining by hand makes a revision; a bad estimate is said on the page.
    let page = ann.post(&format!("{path}/refine"), &[("estimate", "three")]).await;
    assert_eq!(page.status, 422);
    let page = ann
        .post(
            &format!("{path}/refine"),
            &[
                ("instructions", ""),
                ("labels", "webhooks, support"),
                ("acceptance_criteria", "Given a failed webhook, when I open the list, then I see its last error\n\nGiven a listed webhook, when I retry it, then it is sent again"),
            ],
        )
        .await;
    assert_eq!(page.location(), format!("{path}?done=story-refined"));
    let story = ann.get(&path).await;
    assert!(story.html.contains("Revision 2, refine (edit)") && story.html.contains(">webhooks<"));

    // Creating needs a connection; with one, the issue is made once.
    let page = ann.post(&format!("{path}/create"), &[("jira_project_key", "PAY")]).await;
    assert_eq!(page.status, 400);
    assert!(page.html.contains("Jira is not connected"), "{}", page.html);
    let url = fake.url();
    let fields =
        [("kind", "datacenter"), ("base_url", url.as_str()), ("personal_access_token", DC_TOKEN)];
    ann.post("/integrations/jira/connect", &fields).await;
    let page = ann.post(&format!("{path}/create"), &[("jira_project_key", "PAY")]).await;
    assert_eq!(page.location(), format!("{path}?done=story-created"), "{}", page.html);
    let story = ann.get(&path).await;
    assert!(story.html.contains("created as") && story.html.contains("PAY-1"));
    assert!(!story.html.contains("Create the issue"), "no second create");
    assert_eq!(
        ann.post(&format!("{path}/create"), &[("jira_project_key", "PAY")]).await.status,
        409
    );
    assert!(ann.get("/stories").await.html.contains("PAY-1"));

    // Another user reaches none of it.
    let mut bob = Browser::new(&app.base);
    bob.register("bob").await;
    assert_eq!(bob.get(&path).await.status, 404);
    assert_eq!(bob.post(&format!("{path}/refine"), &[("instructions", "x")]).await.status, 404);
    assert_eq!(bob.post(&format!("{path}/delete"), &[]).await.status, 404);
    assert!(bob.get("/stories").await.html.contains("No drafts yet"));
    assert_eq!(
        ann.post(&format!("{path}/delete"), &[]).await.location(),
        "/stories?done=story-deleted"
    );
    assert_eq!(ann.get(&path).await.status, 404);
}
