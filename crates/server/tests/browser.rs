//! The dashboard in a real browser (Debian's Chromium, headless, through ChromeDriver): a new
//! user's first session from registration to a finished scan and a moving chart, a second user
//! who must not see it, a forged CSRF token and a signed-out session refused. Every page is
//! checked with axe-core (no serious or critical violations), checked for sideways scrolling at
//! phone width, and photographed at desktop and phone width (see `support::chrome`).

mod support;

use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;
use support::TestApp;
use support::chrome::Chrome;

/// Waits until `js` returns true in the page.
async fn until(chrome: &Chrome, what: &str, js: &str) {
    for _ in 0..200 {
        if chrome.script(js).await.as_bool() == Some(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("waited in vain for {what} on {}:\n{}", chrome.path().await, chrome.html().await);
}

/// Chooses `kind` in the Jira connect form and names the inputs it then shows.
async fn connect_fields(chrome: &Chrome, kind: &str) -> serde_json::Value {
    chrome
        .script(&format!(
            "const form = document.querySelector('section[aria-labelledby=p-jira] form'); \
             const select = form.querySelector('select[name=kind]'); \
             select.value = '{kind}'; select.dispatchEvent(new Event('change')); \
             const visible = (name) => form.querySelector(`input[name=${{name}}]`).offsetParent !== null; \
             return ['base_url', 'personal_access_token', 'email', 'api_token'].filter(visible);"
        ))
        .await
}

async fn register(chrome: &Chrome, name: &str) -> String {
    chrome.goto("/register").await;
    chrome.loaded().await;
    chrome.fill("input[name=name]", name).await;
    chrome.fill("input[name=email]", &format!("{name}@example.com")).await;
    chrome.fill("input[name=password]", &format!("{name}-secret-pw")).await;
    chrome.click("form[action='/register'] button[type=submit]").await;
    until(chrome, "the welcome page", "return !!document.getElementById('new-key')").await;
    chrome.text("#new-key").await
}

async fn create_project(chrome: &Chrome, name: &str, description: &str) -> String {
    chrome.goto("/projects").await;
    chrome.fill("input[name=name]", name).await;
    chrome.fill("textarea[name=description]", description).await;
    chrome.click("form[action='/projects'] button[type=submit]").await;
    until(chrome, "the project page", "return location.pathname.startsWith('/projects/0')").await;
    chrome.path().await.trim_start_matches("/projects/").split('?').next().unwrap().to_string()
}

fn chart_total(html: &str) -> i64 {
    let at = html.find("data-total=\"").expect("the chart") + 12;
    html[at..at + html[at..].find('"').unwrap()].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_user_goes_from_registration_to_a_finished_scan() {
    let app = TestApp::new().await;
    let chrome = Chrome::start(&app.base).await;

    // Signed out, the site opens on the sign-in page.
    chrome.goto("/").await;
    assert_eq!(chrome.path().await, "/login");
    chrome.check("login").await;
    chrome.click("a[href='/register']").await;
    until(&chrome, "the registration page", "return location.pathname === '/register'").await;
    chrome.check("register").await;

    // Register: the first API key is shown once, with the MCP snippets.
    let key = register(&chrome, "ann").await;
    assert!(key.starts_with("tc_"), "{key}");
    app.get("/users/me", &key).await.assert_status(200);
    chrome.check("welcome").await;
    // The scripts loaded under the page's Content-Security-Policy (htmx is what polls scans).
    assert_eq!(chrome.script("return typeof htmx").await, "object");

    // An empty projects page says what to do.
    chrome.goto("/projects").await;
    let html = chrome.html().await;
    assert!(html.contains("No projects yet"), "{html}");
    chrome.check("projects-empty").await;

    let project = create_project(&chrome, "Payments", "Billing and the Stripe integration").await;
    assert!(chrome.html().await.contains("No context yet"));
    chrome.check("project-empty").await;

    // Save a note.
    chrome
        .fill(
            "textarea[name=content]",
            "## Stripe keys\n\nWe rotate the Stripe API keys every Friday with the vault CLI.",
        )
        .await;
    chrome.fill("input[name=tags]", "stripe, ops").await;
    chrome.click("form[action$='/notes'] button[type=submit]").await;
    until(&chrome, "the saved note", "return document.body.innerText.includes('Note saved')").await;
    assert!(chrome.html().await.contains("Stripe keys"));
    chrome.check("project").await;

    // Search for it and see the words marked.
    chrome.goto("/search").await;
    chrome.check("search-empty").await;
    chrome.fill("input[name=q]", "rotate stripe keys").await;
    chrome.click("form[role=search] button[type=submit]").await;
    until(&chrome, "results", "return document.querySelectorAll('ol.results li').length > 0").await;
    let marked: Vec<String> = {
        let marks = chrome.client.find_all(Locator::Css("ol.results mark")).await.unwrap();
        let mut texts = Vec::new();
        for m in marks {
            texts.push(m.text().await.unwrap().to_lowercase());
        }
        texts
    };
    for word in ["rotate", "stripe", "keys"] {
        assert!(marked.iter().any(|m| m == word), "{word} is not marked: {marked:?}");
    }
    chrome.check("search").await;

    // The result opens the context, Markdown rendered.
    chrome.click("ol.results h2 a").await;
    until(&chrome, "the context page", "return location.pathname.startsWith('/contexts/')").await;
    assert_eq!(chrome.text("main h2").await, "Stripe keys");
    chrome.check("context").await;

    // The analytics chart before more activity (retrievals are written every few seconds; the
    // test writes them now).
    app.services().flush_pending().await;
    chrome.goto("/analytics").await;
    let before = chart_total(&chrome.html().await);
    assert!(before > 0, "the search retrieved tokens");
    chrome.check("analytics").await;

    // Create an API key and read the MCP snippet for Cursor.
    chrome.goto("/keys").await;
    chrome.fill("input[name=name]", "laptop – Cursor").await;
    chrome.click("form[action='/keys'] button[type=submit]").await;
    until(&chrome, "the new key", "return !!document.getElementById('new-key')").await;
    let new_key = chrome.text("#new-key").await;
    chrome.click("#tab-cursor").await;
    let snippet = chrome.text("#snippet-cursor").await;
    assert!(snippet.contains(&format!("\"url\": \"{}/mcp\"", app.base)), "{snippet}");
    assert!(snippet.contains(&format!("Bearer {new_key}")), "{snippet}");
    assert_eq!(chrome.text("#tab-cursor").await, "Cursor");
    assert_eq!(
        chrome.script("return document.getElementById('panel-claude-code').hidden").await,
        true
    );
    app.get("/users/me", &new_key).await.assert_status(200);
    chrome.check("keys").await;

    // Upload an archive and watch the scan finish (htmx polls the progress).
    let archive = support::archives::tar_gz(
        &[
            (
                "src/billing.rs",
                b"/// Charges a card.\npub fn charge(amount_cents: u64) -> u64 { amount_cents }\n",
            ),
            ("src/refunds.py", b"def refund(charge_id):\n    return charge_id\n"),
            ("logo.png", &[0x89, b'P', b'N', b'G', 0, 0, 0, 0]),
        ],
        &[],
    );
    let file = app.dir.path().join("code.tar.gz");
    std::fs::write(&file, archive).unwrap();
    chrome.goto(&format!("/projects/{project}/scans")).await;
    chrome.check("scan-form").await;
    let input = chrome.client.find(Locator::Css("input[name=archive]")).await.unwrap();
    input.send_keys(&file.display().to_string()).await.unwrap();
    chrome.click("form:has(input[name=archive]) button[type=submit]").await;
    until(&chrome, "the scan page", "return !!document.getElementById('scan-status')").await;
    let scan_page = chrome.path().await;
    until(
        &chrome,
        "the scan to finish",
        "return document.getElementById('scan-status').textContent === 'finished'",
    )
    .await;
    assert_eq!(chrome.path().await, scan_page, "the page updated in place");
    let done = chrome.html().await;
    assert!(done.contains("<b>2</b><span>files indexed</span>"), "{done}");
    chrome.check("scan").await;

    // More retrieval moves the chart.
    chrome.goto("/search?q=charge+amount+cents&mode=keyword").await;
    until(&chrome, "results", "return document.querySelectorAll('ol.results li').length > 0").await;
    app.services().flush_pending().await;
    chrome.goto("/analytics").await;
    let after = chart_total(&chrome.html().await);
    assert!(after > before, "the chart did not move: {before} → {after}");

    // Ask a question: the answer streams in with its sources, then the stored answer shows.
    chrome.goto("/chat").await;
    chrome.check("chat-empty").await;
    chrome.fill("textarea[name=message]", "How often do we rotate the Stripe keys?").await;
    chrome.click("#ask button[type=submit]").await;
    until(&chrome, "the stored answer", "return !!document.querySelector('article.message.assistant') && !document.getElementById('live')").await;
    let answer = chrome.html().await;
    assert!(answer.contains("Friday"), "the answer quotes the note: {answer}");
    assert!(answer.contains("href=\"/contexts/"), "the answer cites its source");
    chrome.check("chat").await;

    // A task on the board, moved to "in progress" with its button.
    chrome.goto("/tasks").await;
    chrome.fill("input[name=title]", "Rotate the Stripe keys").await;
    chrome.fill("input[name=tags]", "ops").await;
    chrome.click("form[method=post][action='/tasks'] button[type=submit]").await;
    until(&chrome, "the task", "return document.body.innerText.includes('Task added')").await;
    chrome.click("#col-todo ~ ul form button").await;
    until(
        &chrome,
        "the moved task",
        "return !!document.querySelector('#col-in_progress ~ ul article')",
    )
    .await;
    chrome.check("tasks").await;
    chrome.click("#col-in_progress ~ ul article h3 a").await;
    until(&chrome, "the task page", "return location.pathname.startsWith('/tasks/0')").await;
    chrome.check("task").await;

    // A Jira story drafted from the project's context, then checked.
    chrome.goto("/stories").await;
    chrome
        .fill(
            "textarea[name=requirements]",
            "As a support agent, I want failed webhooks listed, so that I can answer customers.",
        )
        .await;
    chrome.fill("input[name=jira_project_key]", "PAY").await;
    chrome.click("form[method=post][action='/stories'] button[type=submit]").await;
    until(&chrome, "the draft", "return document.body.innerText.includes('Story drafted')").await;
    chrome.click("form[action$='/validate'] button").await;
    until(&chrome, "the check", "return !!document.getElementById('check')").await;
    chrome.check("story").await;
    chrome.goto("/stories").await;
    chrome.check("stories").await;

    // The remaining pages, audited and photographed.
    chrome.goto(&format!("/projects/{project}/settings")).await;
    chrome.check("settings").await;
    chrome.goto("/account").await;
    chrome.check("account").await;
    chrome.goto("/integrations").await;
    chrome.check("integrations").await;
    chrome.goto("/account/ai").await;
    chrome.check("ai-settings").await;
    chrome.goto("/reset-password?token=not-a-real-token").await;
    chrome.check("reset-password").await;
    chrome.goto("/projects").await;
    chrome.check("projects").await;
    chrome.goto("/no-such-page").await;
    assert!(chrome.html().await.contains("Not found"));
    chrome.check("not-found").await;

    chrome.close().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn strangers_forged_forms_and_signed_out_sessions_are_refused() {
    use fake_atlassian::{DC_TOKEN, FakeJira, Flavour};
    let fake = FakeJira::start(Flavour::DataCenter).await;
    let keys = fake.seed("OPS", 4, 1);
    let app = TestApp::with_env(&[("OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")]).await;
    let chrome = Chrome::start(&app.base).await;
    chrome.goto("/forgot-password").await;
    chrome.check("forgot-password").await;
    register(&chrome, "ann").await;
    let project = create_project(&chrome, "Ann's launch", "secret plans").await;

    // Connect Jira Data Center and sync issues, followed live on the job page. The form shows
    // the fields of the chosen way to connect only.
    chrome.goto("/integrations").await;
    assert_eq!(
        connect_fields(&chrome, "cloud_api_token").await,
        json!(["base_url", "email", "api_token"])
    );
    assert_eq!(connect_fields(&chrome, "cloud_oauth").await, json!(["base_url"]));
    assert_eq!(
        connect_fields(&chrome, "datacenter").await,
        json!(["base_url", "personal_access_token"])
    );
    chrome.fill("section[aria-labelledby=p-jira] input[name=base_url]", &fake.url()).await;
    chrome
        .fill("section[aria-labelledby=p-jira] input[name=personal_access_token]", DC_TOKEN)
        .await;
    chrome.click("section[aria-labelledby=p-jira] form button[type=submit]").await;
    until(&chrome, "the connection", "return document.body.innerText.includes('Jira connected')")
        .await;
    chrome.fill("section[aria-labelledby=p-jira] input[name=keys]", &keys.join(", ")).await;
    chrome.click("form[action='/integrations/jira/sync'] button[type=submit]").await;
    until(
        &chrome,
        "the sync to finish",
        "return document.getElementById('job-status')?.textContent === 'succeeded'",
    )
    .await;
    assert!(chrome.html().await.contains("<b>4</b><span>synced</span>"));
    chrome.check("sync-job").await;

    // A forged CSRF token is refused, and nothing changes.
    chrome.goto("/projects").await;
    chrome.fill("input[name=name]", "Forged").await;
    chrome.script("document.querySelector(\"form[action='/projects'] input[name=csrf]\").value = 'forged'; return true").await;
    chrome.click("form[action='/projects'] button[type=submit]").await;
    until(&chrome, "the refusal", "return document.body.innerText.includes('reload the page')")
        .await;
    chrome.check("csrf-refused").await;
    chrome.goto("/projects").await;
    assert!(!chrome.html().await.contains("Forged"));

    // After signing out, the old session cookie no longer opens anything.
    let cookies = chrome.client.get_all_cookies().await.unwrap();
    let session =
        cookies.iter().find(|c| c.name() == "tc_session").expect("session cookie").clone();
    assert!(session.http_only().unwrap_or(false), "the session cookie is HttpOnly");
    chrome.click("form[action='/logout'] button[type=submit]").await;
    until(&chrome, "the sign-in page", "return location.pathname === '/login'").await;
    chrome.client.add_cookie(session.clone()).await.unwrap();
    chrome.goto(&format!("/projects/{project}")).await;
    assert!(chrome.path().await.starts_with("/login"), "a signed-out session was accepted");

    // A second user sees nothing of the first user's project.
    chrome.client.delete_all_cookies().await.unwrap();
    register(&chrome, "bob").await;
    chrome.goto("/projects").await;
    assert!(
        !chrome.html().await.contains("Ann&#39;s launch")
            && !chrome.html().await.contains("Ann's launch")
    );
    chrome.goto(&format!("/projects/{project}")).await;
    let html = chrome.html().await;
    assert!(html.contains("Not found") && !html.contains("secret plans"), "{html}");
    chrome.goto("/search?q=secret+plans").await;
    assert!(!chrome.html().await.contains("Ann's launch"));

    chrome.close().await;
    app.shutdown().await;
}
