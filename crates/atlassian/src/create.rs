//! Creating a Jira issue the way Atlassian asks integrations to: the project's create
//! metadata first (`createmeta/{project}/issuetypes`, then the chosen type's fields: the old
//! project-wide endpoint is gone from Cloud and from Data Center 9), then `POST /issue` with
//! only fields that are on the create screen. The create is not repeated blindly: a caller
//! that lost the answer looks for the marker label it sent ([`Jira::find_by_label`]).

use serde_json::{Value, json};

use crate::client::AtlassianError;
use crate::jira::{Flavour, Jira, id_string};

/// Metadata entries asked for per page.
const META_PAGE: u64 = 50;

/// An issue type a project offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueType {
    pub id: String,
    pub name: String,
    pub subtask: bool,
}

/// A field of an issue type's create screen.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMeta {
    /// `summary`, `labels`, `customfield_10016`.
    pub key: String,
    pub name: String,
    pub required: bool,
    pub has_default: bool,
    /// The schema's `type` (`string`, `number`, `array`, `option`, …).
    pub kind: String,
    /// The schema's `custom` type, for custom fields.
    pub custom: Option<String>,
    /// The values an option field allows, as Jira sends them.
    pub allowed_values: Vec<Value>,
}

impl FieldMeta {
    /// Whether a create must set it (required, and Jira has no default).
    pub fn must_set(&self) -> bool {
        self.required && !self.has_default
    }

    /// Whether this is the story points field (Cloud's "Story point estimate", Data Center's
    /// "Story Points").
    pub fn is_story_points(&self) -> bool {
        self.custom.as_deref() == Some("com.pyxis.greenhopper.jira:jsw-story-points")
            || (self.kind == "number"
                && matches!(
                    self.name.to_ascii_lowercase().as_str(),
                    "story points" | "story point estimate"
                ))
    }
}

/// An issue Jira created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub id: String,
    pub key: String,
}

impl Jira {
    /// Every page of a createmeta listing: Cloud's `{startAt, total, <items>}` and Data
    /// Center's `{values, isLast}`.
    async fn meta_pages(
        &self,
        path: &str,
        cloud_items: &str,
    ) -> Result<Vec<Value>, AtlassianError> {
        let mut out = Vec::new();
        let mut start = 0u64;
        loop {
            let query = [("startAt", start.to_string()), ("maxResults", META_PAGE.to_string())];
            let page = self.endpoint.get(path, &query).await?.body;
            let items = page
                .get(cloud_items)
                .or(page.get("values"))
                .and_then(Value::as_array)
                .cloned()
                .ok_or_else(|| {
                    AtlassianError::Protocol(format!(
                        "Jira's create metadata had no `{cloud_items}`"
                    ))
                })?;
            let got = items.len() as u64;
            out.extend(items);
            let total = page.get("total").and_then(Value::as_u64);
            let last = page.get("isLast").and_then(Value::as_bool);
            let done = got == 0
                || last == Some(true)
                || (last.is_none() && total.is_none_or(|t| start + got >= t));
            if done {
                return Ok(out);
            }
            start += got;
        }
    }

    /// The issue types `project` offers to create.
    pub async fn issue_types(&self, project: &str) -> Result<Vec<IssueType>, AtlassianError> {
        let path = format!("{}/issue/createmeta/{}/issuetypes", self.api(), segment(project)?);
        let items = self.meta_pages(&path, "issueTypes").await?;
        Ok(items
            .iter()
            .filter_map(|t| {
                Some(IssueType {
                    id: id_string(t.get("id"))?,
                    name: t.get("name").and_then(Value::as_str)?.to_string(),
                    subtask: t.get("subtask").and_then(Value::as_bool).unwrap_or(false),
                })
            })
            .collect())
    }

    /// The create screen of `issue_type_id` in `project`.
    pub async fn create_fields(
        &self,
        project: &str,
        issue_type_id: &str,
    ) -> Result<Vec<FieldMeta>, AtlassianError> {
        let path = format!(
            "{}/issue/createmeta/{}/issuetypes/{}",
            self.api(),
            segment(project)?,
            segment(issue_type_id)?
        );
        let items = self.meta_pages(&path, "fields").await?;
        Ok(items
            .iter()
            .filter_map(|f| {
                let key = f.get("fieldId").or(f.get("key")).and_then(Value::as_str)?.to_string();
                let schema = f.get("schema").cloned().unwrap_or(Value::Null);
                Some(FieldMeta {
                    name: f.get("name").and_then(Value::as_str).unwrap_or(&key).to_string(),
                    key,
                    required: f.get("required").and_then(Value::as_bool).unwrap_or(false),
                    has_default: f.get("hasDefaultValue").and_then(Value::as_bool).unwrap_or(false),
                    kind: schema.get("type").and_then(Value::as_str).unwrap_or("").to_string(),
                    custom: schema.get("custom").and_then(Value::as_str).map(str::to_string),
                    allowed_values: f
                        .get("allowedValues")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                })
            })
            .collect())
    }

    /// `POST /issue` with these fields. Sent once: a timeout or a 5xx is returned, not retried
    /// (Jira may have created the issue); only a 429, which Jira did not act on, is retried.
    pub async fn create_issue(&self, fields: Value) -> Result<Created, AtlassianError> {
        let answer = self
            .endpoint
            .post(&format!("{}/issue", self.api()), &json!({ "fields": fields }))
            .await?;
        let id = id_string(answer.body.get("id"));
        let key = answer.body.get("key").and_then(Value::as_str).map(str::to_string);
        match (id, key) {
            (Some(id), Some(key)) => Ok(Created { id, key }),
            _ => Err(AtlassianError::Protocol("Jira created an issue but named no key".into())),
        }
    }

    /// The issue of `project` that carries `label`, if there is one (the first, by key).
    pub async fn find_by_label(
        &self,
        project: &str,
        label: &str,
    ) -> Result<Option<Created>, AtlassianError> {
        let jql = format!("project = \"{}\" AND labels = \"{}\"", quote(project), quote(label));
        let page = self.search_page(&jql, &["summary"], 5, None).await?;
        Ok(page.issues.first().and_then(|i| {
            Some(Created {
                id: id_string(i.get("id"))?,
                key: i.get("key").and_then(Value::as_str)?.to_string(),
            })
        }))
    }

    /// The issue of `project` whose summary is exactly `summary`, if there is one (for
    /// screens without labels).
    pub async fn find_by_summary(
        &self,
        project: &str,
        summary: &str,
    ) -> Result<Option<Created>, AtlassianError> {
        // `~` is a text search; the phrase narrows it and the exact comparison decides.
        let phrase = summary.replace(['"', '\\'], " ");
        let jql =
            format!("project = \"{}\" AND summary ~ \"\\\"{}\\\"\"", quote(project), phrase.trim());
        let page = self.search_page(&jql, &["summary"], 20, None).await?;
        Ok(page.issues.iter().find_map(|i| {
            let same = i.pointer("/fields/summary").and_then(Value::as_str) == Some(summary);
            same.then(|| {
                Some(Created {
                    id: id_string(i.get("id"))?,
                    key: i.get("key").and_then(Value::as_str)?.to_string(),
                })
            })?
        }))
    }

    /// The description field's value: ADF on Cloud (v3 refuses strings), wiki markup on Data
    /// Center, both from Markdown.
    pub fn description_from_markdown(&self, markdown: &str) -> Value {
        match self.flavour() {
            Flavour::Cloud => crate::compose::adf_from_markdown(markdown),
            Flavour::DataCenter => Value::String(crate::compose::wiki_from_markdown(markdown)),
        }
    }
}

/// A project key or issue type id as a path segment: only letters, digits, `_` and `-` (what
/// keys and ids are made of), so nothing needs escaping and nothing can leave the path.
fn segment(value: &str) -> Result<&str, AtlassianError> {
    let fine = !value.is_empty()
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if fine {
        Ok(value)
    } else {
        Err(AtlassianError::BadRequest(format!("{value:?} is not a Jira project key or id")))
    }
}

/// A JQL string literal's inside.
fn quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn story_points_are_found_by_type_or_name() {
        let f = |name: &str, kind: &str, custom: Option<&str>| FieldMeta {
            key: "customfield_1".into(),
            name: name.into(),
            required: false,
            has_default: false,
            kind: kind.into(),
            custom: custom.map(str::to_string),
            allowed_values: Vec::new(),
        };
        assert!(
            f(
                "Story point estimate",
                "number",
                Some("com.pyxis.greenhopper.jira:jsw-story-points")
            )
            .is_story_points()
        );
        assert!(
            f(
                "Story Points",
                "number",
                Some("com.atlassian.jira.plugin.system.customfieldtypes:float")
            )
            .is_story_points()
        );
        assert!(!f("Story Points", "string", None).is_story_points());
        assert!(!f("Team", "number", None).is_story_points());
        assert_eq!(quote(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(segment("OPS_2"), Ok("OPS_2"));
        assert!(segment("OPS/../myself").is_err());
        assert!(segment("").is_err());
    }
}
