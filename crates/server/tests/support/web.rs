//! A browser stand-in for the dashboard's HTTP tests: it keeps cookies as a browser does, does
//! not follow redirects (so tests see them), and fills in the session's CSRF token on forms.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub html: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// The value of the first `<input name="{name}" … value="…">` on the page.
    pub fn input(&self, name: &str) -> Option<String> {
        let at = self.html.find(&format!("name=\"{name}\""))?;
        let tag_start = self.html[..at].rfind('<')?;
        let tag_end = at + self.html[at..].find('>')?;
        let tag = &self.html[tag_start..tag_end];
        let v = tag.find("value=\"")? + 7;
        Some(tag[v..v + tag[v..].find('"')?].replace("&amp;", "&"))
    }
}

pub struct Browser {
    pub base: String,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Browser { base: base.to_string(), client, cookies: BTreeMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn finish(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req =
            if self.cookies.is_empty() { req } else { req.header(COOKIE, self.cookie_header()) };
        let resp = req.header("accept", "text/html").send().await.expect("request sent");
        for value in resp.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let removed = text.contains("Max-Age=0") || text.contains("1970");
            if removed || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        Page { status, headers, html: resp.text().await.expect("body") }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.finish(req).await
    }

    /// Posts a URL-encoded form as is (no token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let req = self.client.post(format!("{}{path}", self.base)).form(fields);
        self.finish(req).await
    }

    /// Posts a form with the token the page at `form_page` carries.
    pub async fn post_from(
        &mut self,
        form_page: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let token = self.get(form_page).await.input("csrf").expect("a form with a CSRF token");
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        let req = self.client.post(format!("{}{path}", self.base)).form(&all);
        self.finish(req).await
    }

    /// A signed-in page's CSRF token.
    pub async fn csrf(&mut self) -> String {
        self.get("/account").await.input("csrf").expect("signed in")
    }

    /// Posts a form the way a signed-in page does (token from the session).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.csrf().await;
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        let req = self.client.post(format!("{}{path}", self.base)).form(&all);
        self.finish(req).await
    }

    /// Posts a multipart form (an upload), the token in the query as the page's form has it.
    pub async fn post_multipart(&mut self, path: &str, form: reqwest::multipart::Form) -> Page {
        let token = self.csrf().await;
        let req = self.client.post(format!("{}{path}?csrf={token}", self.base)).multipart(form);
        self.finish(req).await
    }

    /// Polls a job page's live fragment (`{page}/progress`) until it stops asking to be polled;
    /// returns the final fragment.
    pub async fn until_finished(&mut self, page: &str) -> String {
        for _ in 0..400 {
            let fragment = self.get(&format!("{page}/progress")).await;
            if !fragment.html.contains("hx-trigger") {
                return fragment.html;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{page} did not finish");
    }

    /// Registers `name@example.com` from the registration page; returns the first API key the
    /// welcome page shows.
    pub async fn register(&mut self, name: &str) -> String {
        let email = format!("{name}@example.com");
        let password = format!("{name}-secret-pw");
        let page = self
            .post_from(
                "/register",
                "/register",
                &[("name", name), ("email", &email), ("password", &password)],
            )
            .await;
        assert_eq!(page.status, StatusCode::CREATED, "{}", page.html);
        let shown = page.html.split("id=\"new-key\">").nth(1).expect("the key is shown");
        shown.split('<').next().unwrap().to_string()
    }

    pub async fn sign_in(&mut self, name: &str) -> Page {
        let email = format!("{name}@example.com");
        let password = format!("{name}-secret-pw");
        self.post_from("/login", "/login", &[("email", &email), ("password", &password)]).await
    }

    /// Creates a project from the projects page; returns its id.
    pub async fn create_project(&mut self, name: &str) -> String {
        let page = self
            .post("/projects", &[("name", name), ("description", ""), ("visibility", "private")])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
        let location = page.location();
        location.trim_start_matches("/projects/").split('?').next().unwrap().to_string()
    }
}
