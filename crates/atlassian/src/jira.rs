//! Jira's REST API as TeamContext uses it, on Cloud (v3, ADF bodies, `search/jql` paged by
//! `nextPageToken`) and on Data Center or Server (v2, wiki markup rendered to HTML,
//! `search` paged by `startAt`): who the token belongs to, searching, one issue with every
//! comment, and an issue rendered as a Markdown context.

use serde_json::{Value, json};

use crate::client::{AtlassianError, Endpoint};
use crate::{adf, html};

/// Which Jira a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Cloud,
    DataCenter,
}

/// The account a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Cloud's `accountId`, Data Center's user `name`.
    pub name: String,
    pub display_name: String,
}

/// One search hit before its details are fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub id: String,
    pub key: String,
    /// Jira's `updated` timestamp, as sent.
    pub updated: String,
}

/// A page of search results and where the next one starts.
#[derive(Debug, Clone)]
pub struct Page {
    pub issues: Vec<Value>,
    pub next: Option<Cursor>,
}

/// Where a search page starts: Cloud's opaque token or Data Center's offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    Token(String),
    Offset(u64),
}

/// Fields a synced issue needs.
pub const ISSUE_FIELDS: &str = "summary,description,status,issuetype,priority,assignee,reporter,\
labels,created,updated,issuelinks,subtasks,parent,comment,project,resolution,components";

/// Comments fetched per page beyond those embedded in the issue.
const COMMENT_PAGE: u64 = 100;

/// A Jira site through one connection.
#[derive(Debug, Clone)]
pub struct Jira {
    pub(crate) endpoint: Endpoint,
    flavour: Flavour,
    /// The site's browsing URL (for issue links), which differs from the API base under OAuth.
    site_url: String,
}

impl Jira {
    pub fn new(endpoint: Endpoint, flavour: Flavour, site_url: &str) -> Self {
        Jira { endpoint, flavour, site_url: site_url.trim_end_matches('/').to_string() }
    }

    pub(crate) fn api(&self) -> &'static str {
        match self.flavour {
            Flavour::Cloud => "/rest/api/3",
            Flavour::DataCenter => "/rest/api/2",
        }
    }

    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// The browse URL of an issue.
    pub fn issue_url(&self, key: &str) -> String {
        format!("{}/browse/{key}", self.site_url)
    }

    /// `GET /myself`: verifies the credentials and names the account.
    pub async fn myself(&self) -> Result<Account, AtlassianError> {
        let me = self.endpoint.get(&format!("{}/myself", self.api()), &[]).await?.body;
        let name = me
            .get("accountId")
            .or(me.get("name"))
            .or(me.get("key"))
            .and_then(Value::as_str)
            .ok_or_else(|| AtlassianError::Protocol("Jira's /myself named no account".into()))?;
        let display_name = me.get("displayName").and_then(Value::as_str).unwrap_or(name);
        Ok(Account { name: name.to_string(), display_name: display_name.to_string() })
    }

    /// One page of a JQL search with the given fields.
    pub async fn search_page(
        &self,
        jql: &str,
        fields: &[&str],
        max_results: u64,
        cursor: Option<&Cursor>,
    ) -> Result<Page, AtlassianError> {
        match self.flavour {
            Flavour::Cloud => {
                let mut body = json!({"jql": jql, "fields": fields, "maxResults": max_results});
                if let Some(Cursor::Token(token)) = cursor {
                    body["nextPageToken"] = json!(token);
                }
                let page = self.endpoint.post("/rest/api/3/search/jql", &body).await?.body;
                let issues = issues_of(&page)?;
                let token = page.get("nextPageToken").and_then(Value::as_str);
                let last = page.get("isLast").and_then(Value::as_bool).unwrap_or(token.is_none());
                let next = match token {
                    Some(t) if !last => Some(Cursor::Token(t.to_string())),
                    _ => None,
                };
                Ok(Page { issues, next })
            }
            Flavour::DataCenter => {
                let start = match cursor {
                    Some(Cursor::Offset(n)) => *n,
                    _ => 0,
                };
                let body = json!({
                    "jql": jql, "fields": fields, "maxResults": max_results, "startAt": start,
                });
                let page = self.endpoint.post("/rest/api/2/search", &body).await?.body;
                let issues = issues_of(&page)?;
                let total = page.get("total").and_then(Value::as_u64).unwrap_or(0);
                let end = start + issues.len() as u64;
                // The server may cap maxResults: go on from what it actually sent.
                let next = (!issues.is_empty() && end < total).then_some(Cursor::Offset(end));
                Ok(Page { issues, next })
            }
        }
    }

    /// Every issue a JQL search matches, with only its id, key and `updated`: cheap pages to
    /// learn what changed and what is gone. `on_page` hears the running count.
    pub async fn sweep(
        &self,
        jql: &str,
        mut on_page: impl FnMut(usize),
    ) -> Result<Vec<Hit>, AtlassianError> {
        let mut hits = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.search_page(jql, &["updated"], 100, cursor.as_ref()).await?;
            for issue in &page.issues {
                let id = id_string(issue.get("id"))
                    .ok_or_else(|| AtlassianError::Protocol("a search hit without an id".into()))?;
                let key = issue.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
                let updated = issue
                    .pointer("/fields/updated")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                hits.push(Hit { id, key, updated });
            }
            on_page(hits.len());
            match page.next {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(hits),
            }
        }
    }

    /// One issue with the fields a context needs and every comment.
    pub async fn issue(&self, id_or_key: &str) -> Result<Value, AtlassianError> {
        let path = format!("{}/issue/{id_or_key}", self.api());
        let query =
            [("fields", ISSUE_FIELDS.to_string()), ("expand", "renderedFields".to_string())];
        let mut issue = self.endpoint.get(&path, &query).await?.body;
        let embedded = issue.pointer("/fields/comment/comments").and_then(Value::as_array);
        let have = embedded.map_or(0, Vec::len) as u64;
        let total = issue.pointer("/fields/comment/total").and_then(Value::as_u64).unwrap_or(have);
        if total > have {
            let comments = self.comments(id_or_key, total).await?;
            issue["fields"]["comment"]["comments"] = Value::Array(comments);
        }
        Ok(issue)
    }

    /// Whether an issue still exists (and the account can see it).
    pub async fn exists(&self, id_or_key: &str) -> Result<bool, AtlassianError> {
        let path = format!("{}/issue/{id_or_key}", self.api());
        match self.endpoint.get(&path, &[("fields", "id".to_string())]).await {
            Ok(_) => Ok(true),
            Err(AtlassianError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every comment of an issue, oldest first.
    async fn comments(&self, id_or_key: &str, total: u64) -> Result<Vec<Value>, AtlassianError> {
        let path = format!("{}/issue/{id_or_key}/comment", self.api());
        let mut comments: Vec<Value> = Vec::new();
        let mut start = 0u64;
        while start < total {
            let query = [
                ("startAt", start.to_string()),
                ("maxResults", COMMENT_PAGE.to_string()),
                ("orderBy", "created".to_string()),
                ("expand", "renderedBody".to_string()),
            ];
            let page = self.endpoint.get(&path, &query).await?.body;
            let batch = page.get("comments").and_then(Value::as_array).cloned().unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            start += batch.len() as u64;
            comments.extend(batch);
        }
        Ok(comments)
    }

    /// An issue as a Markdown context (seed 000's `format_jira_issue_as_context`, with every
    /// comment, the status, links and subtasks).
    pub fn render(&self, issue: &Value) -> Result<IssueDoc, AtlassianError> {
        let id = id_string(issue.get("id"))
            .ok_or_else(|| AtlassianError::Protocol("an issue without an id".into()))?;
        let key = str_at(issue, "/key").to_string();
        let f = issue.get("fields").cloned().unwrap_or(Value::Null);
        let summary = str_at(&f, "/summary").to_string();
        let issue_type = str_at(&f, "/issuetype/name").to_string();
        let status = str_at(&f, "/status/name").to_string();
        let url = self.issue_url(&key);
        let mut unknown = std::collections::BTreeSet::new();
        let mut rich = |raw: Option<&Value>, rendered: Option<&Value>| -> String {
            let converted = self.rich_text(raw, rendered);
            unknown.extend(converted.unknown);
            converted.markdown
        };

        let mut out = format!("# {key}: {summary}\n\n");
        let person = |pointer: &str, none: &str| {
            f.pointer(pointer).and_then(Value::as_str).unwrap_or(none).to_string()
        };
        out.push_str(&format!("**Type**: {}\n", or_dash(&issue_type)));
        out.push_str(&format!("**Status**: {}\n", or_dash(&status)));
        if let Some(resolution) = f.pointer("/resolution/name").and_then(Value::as_str) {
            out.push_str(&format!("**Resolution**: {resolution}\n"));
        }
        out.push_str(&format!("**Priority**: {}\n", person("/priority/name", "N/A")));
        out.push_str(&format!("**Assignee**: {}\n", person("/assignee/displayName", "Unassigned")));
        out.push_str(&format!("**Reporter**: {}\n", person("/reporter/displayName", "Unknown")));
        let labels: Vec<&str> = f
            .get("labels")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !labels.is_empty() {
            out.push_str(&format!("**Labels**: {}\n", labels.join(", ")));
        }
        let components: Vec<&str> = f
            .get("components")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(|c| c.get("name").and_then(Value::as_str)).collect())
            .unwrap_or_default();
        if !components.is_empty() {
            out.push_str(&format!("**Components**: {}\n", components.join(", ")));
        }
        if let Some(parent) = f.get("parent").filter(|p| p.is_object()) {
            out.push_str(&format!("**Parent**: {}\n", linked(parent)));
        }

        let description = rich(f.get("description"), issue.pointer("/renderedFields/description"));
        out.push_str("\n## Description\n\n");
        out.push_str(if description.trim().is_empty() {
            "No description provided"
        } else {
            &description
        });
        out.push('\n');

        let subtasks = f.get("subtasks").and_then(Value::as_array).cloned().unwrap_or_default();
        if !subtasks.is_empty() {
            out.push_str("\n## Subtasks\n\n");
            for task in &subtasks {
                out.push_str(&format!("- {}\n", linked(task)));
            }
        }
        let links = f.get("issuelinks").and_then(Value::as_array).cloned().unwrap_or_default();
        if !links.is_empty() {
            out.push_str("\n## Links\n\n");
            for link in &links {
                let (verb, other) = match (link.get("outwardIssue"), link.get("inwardIssue")) {
                    (Some(o), _) => (str_at(link, "/type/outward"), o),
                    (None, Some(i)) => (str_at(link, "/type/inward"), i),
                    _ => continue,
                };
                out.push_str(&format!("- {} {}\n", or_dash(verb), linked(other)));
            }
        }

        let comments =
            f.pointer("/comment/comments").and_then(Value::as_array).cloned().unwrap_or_default();
        let rendered_comments =
            issue.pointer("/renderedFields/comment/comments").and_then(Value::as_array);
        out.push_str("\n## Comments\n\n");
        // A comment restricted to a Jira role or group would reach every reader of the
        // project: such comments are left out, and counted.
        let restricted = |c: &Value| c.get("visibility").is_some_and(|v| !v.is_null());
        let withheld = comments.iter().filter(|c| restricted(c)).count();
        if comments.len() == withheld {
            out.push_str("No comments\n");
        }
        for (i, comment) in comments.iter().enumerate() {
            if restricted(comment) {
                continue;
            }
            let author = str_at(comment, "/author/displayName");
            let created = str_at(comment, "/created");
            let rendered = comment
                .get("renderedBody")
                .or_else(|| rendered_comments.and_then(|r| r.get(i)).and_then(|c| c.get("body")));
            let body = rich(comment.get("body"), rendered);
            out.push_str(&format!(
                "### {} — {}\n\n{}\n\n",
                or_dash(author),
                day(created),
                body.trim()
            ));
        }
        if withheld > 0 {
            out.push_str(&format!(
                "({withheld} comment(s) restricted to a Jira role or group are not included)\n\n"
            ));
        }
        out.push_str(&format!("**Link**: {url}\n"));
        out.push_str(&format!("**Created**: {}\n", str_at(&f, "/created")));
        out.push_str(&format!("**Updated**: {}", str_at(&f, "/updated")));
        Ok(IssueDoc {
            id,
            key,
            summary,
            issue_type,
            status,
            url,
            updated: str_at(&f, "/updated").to_string(),
            markdown: out,
            unknown_nodes: unknown.into_iter().collect(),
        })
    }

    /// A description or comment body as Markdown: ADF on Cloud; on Data Center the rendered
    /// HTML when Jira sent it, else the wiki markup as written.
    fn rich_text(&self, raw: Option<&Value>, rendered: Option<&Value>) -> adf::Converted {
        match raw {
            Some(doc @ Value::Object(_)) => adf::to_markdown(doc),
            Some(Value::String(wiki)) => match rendered.and_then(Value::as_str) {
                Some(html) if !html.trim().is_empty() => {
                    adf::Converted { markdown: html::to_markdown(html), ..Default::default() }
                }
                _ => adf::Converted { markdown: wiki.trim().to_string(), ..Default::default() },
            },
            _ => adf::Converted::default(),
        }
    }
}

/// A Jira issue rendered as a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueDoc {
    pub id: String,
    pub key: String,
    pub summary: String,
    pub issue_type: String,
    pub status: String,
    pub url: String,
    pub updated: String,
    pub markdown: String,
    /// ADF node types the converter did not know (rendered as best it could).
    pub unknown_nodes: Vec<String>,
}

fn issues_of(page: &Value) -> Result<Vec<Value>, AtlassianError> {
    page.get("issues")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| AtlassianError::Protocol("a Jira search answer without `issues`".into()))
}

/// An id as text: Jira sends ids as strings; numbers are tolerated.
pub fn id_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "—" } else { s }
}

/// `KEY: summary (Status)` for a linked issue, parent or subtask.
fn linked(issue: &Value) -> String {
    let key = str_at(issue, "/key");
    let summary = str_at(issue, "/fields/summary");
    let status = str_at(issue, "/fields/status/name");
    let mut text = key.to_string();
    if !summary.is_empty() {
        text.push_str(&format!(": {summary}"));
    }
    if !status.is_empty() {
        text.push_str(&format!(" ({status})"));
    }
    text
}

/// The date part of a Jira timestamp.
fn day(timestamp: &str) -> &str {
    timestamp.get(..10).unwrap_or(timestamp)
}

/// Whether `key` looks like a Jira issue key (`PROJ-123`).
pub fn is_issue_key(key: &str) -> bool {
    let Some((project, number)) = key.rsplit_once('-') else { return false };
    let mut chars = project.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jira() -> Jira {
        let endpoint = Endpoint::new(
            uuid::Uuid::nil(),
            "https://acme.atlassian.net",
            crate::Auth::Bearer("t".into()),
            &tc_outbound::AllowList::default(),
            crate::RetryPolicy::default(),
            crate::Breakers::default(),
        )
        .unwrap();
        Jira::new(endpoint, Flavour::Cloud, "https://acme.atlassian.net")
    }

    #[test]
    fn an_issue_renders_whole_without_its_restricted_comments() {
        let body = |text: &str| json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]});
        let issue = json!({
            "id": "10042", "key": "OPS-7",
            "fields": {
                "summary": "Checkout times out", "issuetype": {"name": "Bug"},
                "status": {"name": "In Progress"}, "priority": {"name": "High"},
                "assignee": {"displayName": "Rui Costa"}, "reporter": {"displayName": "Ana Lima"},
                "labels": ["payments"], "description": body("Happens behind the proxy."),
                "parent": {"key": "OPS-1", "fields": {"summary": "Checkout", "status": {"name": "Open"}}},
                "comment": {"total": 2, "comments": [
                    {"author": {"displayName": "Ana Lima"}, "created": "2026-11-02T10:00:00.000+0000", "body": body("Seen again today.")},
                    {"author": {"displayName": "Sec"}, "created": "2026-11-02T11:00:00.000+0000", "body": body("The leaked key is sk_live_123."),
                     "visibility": {"type": "role", "value": "Administrators"}}
                ]},
                "created": "2026-11-01T09:00:00.000+0000", "updated": "2026-11-02T11:00:00.000+0000"
            }
        });
        let doc = jira().render(&issue).unwrap();
        assert_eq!(doc.url, "https://acme.atlassian.net/browse/OPS-7");
        assert!(
            doc.markdown.starts_with(
                "# OPS-7: Checkout times out\n\n**Type**: Bug\n**Status**: In Progress\n"
            ),
            "{}",
            doc.markdown
        );
        assert!(doc.markdown.contains("**Parent**: OPS-1: Checkout (Open)"));
        assert!(doc.markdown.contains("## Description\n\nHappens behind the proxy."));
        assert!(doc.markdown.contains("### Ana Lima — 2026-11-02\n\nSeen again today."));
        assert!(!doc.markdown.contains("sk_live_123"), "{}", doc.markdown);
        assert!(
            doc.markdown
                .contains("(1 comment(s) restricted to a Jira role or group are not included)")
        );
    }

    #[test]
    fn issue_keys() {
        for ok in ["OPS-1", "A2_B-77"] {
            assert!(is_issue_key(ok), "{ok}");
        }
        for bad in ["ops-1", "OPS", "OPS-", "OPS-1a", "-1", "OPS-1) OR (x"] {
            assert!(!is_issue_key(bad), "{bad}");
        }
    }
}
