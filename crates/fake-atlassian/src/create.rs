//! Creating issues in the fake Jira, as the story service does it: the per-project create
//! metadata (`GET {api}/issue/createmeta/{project}/issuetypes[/{id}]`, Cloud's `issueTypes` /
//! `fields` pages and Data Center 9's `values` / `isLast` pages) and `POST {api}/issue`, which
//! refuses what Jira refuses: a string description on Cloud (ADF is required on v3), a document
//! that is not valid ADF (the node and mark rules of Atlassian's published schema), a field not
//! on the create screen, a missing required field, a summary over 255 characters or with a line
//! break, labels with spaces, a sub-task without an existing parent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::{Db, Flavour, Issue, error};

/// An issue type of every project: id, name, whether it is a sub-task.
const ISSUE_TYPES: [(&str, &str, bool); 4] = [
    ("10001", "Story", false),
    ("10002", "Task", false),
    ("10003", "Bug", false),
    ("10004", "Sub-task", true),
];

/// The story points field: Cloud's team-managed "Story point estimate", Data Center's
/// "Story Points".
pub fn story_points_field(flavour: Flavour) -> (&'static str, &'static str, &'static str) {
    match flavour {
        Flavour::Cloud => (
            "customfield_10016",
            "Story point estimate",
            "com.pyxis.greenhopper.jira:jsw-story-points",
        ),
        Flavour::DataCenter => (
            "customfield_10106",
            "Story Points",
            "com.atlassian.jira.plugin.system.customfieldtypes:float",
        ),
    }
}

fn field(key: &str, name: &str, required: bool, schema: Value, has_default: bool) -> Value {
    json!({
        "required": required, "schema": schema, "name": name, "key": key, "fieldId": key,
        "hasDefaultValue": has_default, "operations": ["set"]
    })
}

/// The create screen of an issue type.
fn screen(db: &Db, type_id: &str) -> Option<Vec<Value>> {
    let (_, name, subtask) = ISSUE_TYPES.iter().find(|(id, _, _)| *id == type_id)?;
    let mut fields = vec![
        field("project", "Project", true, json!({"type": "project", "system": "project"}), false),
        field(
            "issuetype",
            "Issue Type",
            true,
            json!({"type": "issuetype", "system": "issuetype"}),
            false,
        ),
        field("summary", "Summary", true, json!({"type": "string", "system": "summary"}), false),
        field(
            "description",
            "Description",
            false,
            json!({"type": "string", "system": "description"}),
            false,
        ),
        field("reporter", "Reporter", true, json!({"type": "user", "system": "reporter"}), true),
    ];
    if !db.labels_hidden {
        fields.push(field(
            "labels",
            "Labels",
            false,
            json!({"type": "array", "items": "string", "system": "labels"}),
            false,
        ));
    }
    if *subtask {
        fields.push(field(
            "parent",
            "Parent",
            true,
            json!({"type": "issuelink", "system": "parent"}),
            false,
        ));
    }
    if *name == "Story" {
        let (key, label, custom) = story_points_field(db.flavour);
        fields.push(field(
            key,
            label,
            false,
            json!({"type": "number", "custom": custom, "customId": 10016}),
            false,
        ));
    }
    for (key, label) in &db.required_fields {
        fields.push(field(
            key,
            label,
            true,
            json!({"type": "string", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield"}),
            false,
        ));
    }
    Some(fields)
}

/// A page of `items` in the flavour's envelope.
fn page(
    flavour: Flavour,
    cloud_name: &str,
    items: Vec<Value>,
    query: &std::collections::BTreeMap<String, String>,
) -> Response {
    let start: usize = query.get("startAt").and_then(|s| s.parse().ok()).unwrap_or(0);
    let max: usize =
        query.get("maxResults").and_then(|s| s.parse().ok()).unwrap_or(50).clamp(1, 200);
    let total = items.len();
    let slice: Vec<Value> = items.into_iter().skip(start).take(max).collect();
    let is_last = start + slice.len() >= total;
    match flavour {
        Flavour::Cloud => axum::Json(json!({"maxResults": max, "startAt": start, "total": total, cloud_name: slice})),
        Flavour::DataCenter => axum::Json(json!({"maxResults": max, "startAt": start, "total": total, "isLast": is_last, "values": slice})),
    }
    .into_response()
}

fn no_project(key: &str) -> Response {
    error(StatusCode::NOT_FOUND, &format!("No project could be found with key '{key}'."))
}

/// `GET {api}/issue/createmeta/{project}/issuetypes`.
pub(crate) fn issue_types(
    db: &Db,
    project: &str,
    query: &std::collections::BTreeMap<String, String>,
) -> Response {
    if !db.projects.contains(project) {
        return no_project(project);
    }
    let api = if db.flavour == Flavour::Cloud { 3 } else { 2 };
    let items = ISSUE_TYPES
        .iter()
        .map(|(id, name, subtask)| {
            json!({
                "self": format!("{}/rest/api/{api}/issuetype/{id}", db.base), "id": id,
                "description": format!("A {name}."), "name": name, "untranslatedName": name,
                "subtask": subtask, "hierarchyLevel": if *subtask { -1 } else { 0 }
            })
        })
        .collect();
    page(db.flavour, "issueTypes", items, query)
}

/// `GET {api}/issue/createmeta/{project}/issuetypes/{id}`.
pub(crate) fn fields(
    db: &Db,
    project: &str,
    type_id: &str,
    query: &std::collections::BTreeMap<String, String>,
) -> Response {
    if !db.projects.contains(project) {
        return no_project(project);
    }
    match screen(db, type_id) {
        Some(fields) => page(db.flavour, "fields", fields, query),
        None => error(StatusCode::NOT_FOUND, "The issue type selected is invalid."),
    }
}

fn field_errors(errors: Vec<(String, String)>) -> Response {
    let map: serde_json::Map<String, Value> =
        errors.into_iter().map(|(k, v)| (k, json!(v))).collect();
    (StatusCode::BAD_REQUEST, axum::Json(json!({"errorMessages": [], "errors": map})))
        .into_response()
}

/// `POST {api}/issue`.
pub(crate) fn create(db: &mut Db, body: &[u8]) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Unexpected character: the request body is not JSON.",
        );
    };
    let Some(fields) = req.get("fields").and_then(Value::as_object) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Can not deserialize instance of fields: `fields` is required.",
        );
    };
    let project =
        fields.get("project").and_then(|p| p.get("key")).and_then(Value::as_str).unwrap_or("");
    if !db.projects.contains(project) {
        return field_errors(vec![("project".into(), "Specify a valid project ID or key".into())]);
    }
    let type_id =
        fields.get("issuetype").and_then(|t| t.get("id")).and_then(Value::as_str).unwrap_or("");
    let Some(screen) = screen(db, type_id) else {
        return field_errors(vec![(
            "issuetype".into(),
            "The issue type selected is invalid.".into(),
        )]);
    };
    let mut errors = Vec::new();
    for key in fields.keys() {
        if !screen.iter().any(|f| f["key"] == json!(key)) {
            errors.push((
                key.clone(),
                format!(
                    "Field '{key}' cannot be set. It is not on the appropriate screen, or unknown."
                ),
            ));
        }
    }
    for f in &screen {
        let key = f["key"].as_str().unwrap_or_default();
        if f["required"] == json!(true)
            && f["hasDefaultValue"] == json!(false)
            && !fields.contains_key(key)
        {
            errors.push((
                key.to_string(),
                format!("{} is required.", f["name"].as_str().unwrap_or(key)),
            ));
        }
    }
    let summary = fields.get("summary").and_then(Value::as_str).unwrap_or("");
    if summary.trim().is_empty() {
        errors.push(("summary".into(), "You must specify a summary of the issue.".into()));
    } else if summary.chars().count() > 255 {
        errors.push(("summary".into(), "Summary must be less than 255 characters.".into()));
    } else if summary.contains('\n') {
        errors.push((
            "summary".into(),
            "The summary is invalid because it contains newline characters.".into(),
        ));
    }
    let description = match (db.flavour, fields.get("description")) {
        (_, None) => String::new(),
        (Flavour::Cloud, Some(Value::Object(_))) => {
            let doc = &fields["description"];
            match validate_adf(doc) {
                Ok(()) => plain_text(doc),
                Err(why) => {
                    errors.push(("description".into(), format!("INVALID_INPUT: {why}")));
                    String::new()
                }
            }
        }
        (Flavour::Cloud, Some(_)) => {
            errors.push((
                "description".into(),
                "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
                    .into(),
            ));
            String::new()
        }
        (Flavour::DataCenter, Some(Value::String(s))) => s.clone(),
        (Flavour::DataCenter, Some(_)) => {
            errors.push(("description".into(), "Operation value must be a string".into()));
            String::new()
        }
    };
    let labels: Vec<String> = match fields.get("labels") {
        None => Vec::new(),
        Some(Value::Array(list))
            if list
                .iter()
                .all(|l| l.as_str().is_some_and(|s| !s.is_empty() && !s.contains(' '))) =>
        {
            list.iter().filter_map(Value::as_str).map(str::to_string).collect()
        }
        Some(_) => {
            errors.push(("labels".into(), "The label can't contain spaces.".into()));
            Vec::new()
        }
    };
    let parent = fields.get("parent").and_then(|p| p.get("key")).and_then(Value::as_str);
    if let Some(parent) = parent
        && !db.issues.values().any(|i| i.key == parent)
    {
        errors.push(("parent".into(), "Could not find issue by id or key.".into()));
    }
    let (points_key, _, _) = story_points_field(db.flavour);
    if fields.get(points_key).is_some_and(|v| !v.is_number()) {
        errors.push((points_key.into(), "Operation value must be a number.".into()));
    }
    if !errors.is_empty() {
        return field_errors(errors);
    }
    let issue_type =
        ISSUE_TYPES.iter().find(|(id, _, _)| *id == type_id).map(|t| t.1).unwrap_or("Task");
    db.next_id += 1;
    let id = db.next_id;
    let n = db.issues.values().filter(|i| i.project == project).count() + 1;
    let key = format!("{project}-{n}");
    let now = chrono::Utc::now();
    db.issues.insert(
        id,
        Issue {
            id,
            key: key.clone(),
            project: project.to_string(),
            summary: summary.to_string(),
            issue_type: issue_type.to_string(),
            status: "To Do".into(),
            description,
            labels,
            comments: Vec::new(),
            links: Vec::new(),
            subtasks: Vec::new(),
            created: now,
            updated: now,
            sent: Some(req.clone()),
        },
    );
    if let Some(parent) = parent
        && let Some(p) = db.issues.values_mut().find(|i| i.key == parent)
    {
        p.subtasks.push(key.clone());
    }
    let api = if db.flavour == Flavour::Cloud { 3 } else { 2 };
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": id.to_string(), "key": key, "self": format!("{}/rest/api/{api}/issue/{id}", db.base)})),
    )
        .into_response()
}

/// The text of an ADF document, paragraphs apart.
fn plain_text(node: &Value) -> String {
    fn walk(node: &Value, out: &mut String) {
        if let Some(text) = node.get("text").and_then(Value::as_str) {
            out.push_str(text);
        }
        for child in node.get("content").and_then(Value::as_array).into_iter().flatten() {
            walk(child, out);
        }
        if matches!(
            node.get("type").and_then(Value::as_str),
            Some("paragraph" | "heading" | "codeBlock" | "listItem")
        ) {
            out.push_str("\n\n");
        }
    }
    let mut out = String::new();
    walk(node, &mut out);
    out.trim().to_string()
}

/// Block nodes a container may hold, by container.
fn allowed_children(kind: &str) -> Option<&'static [&'static str]> {
    const BLOCKS: &[&str] = &[
        "paragraph",
        "heading",
        "bulletList",
        "orderedList",
        "codeBlock",
        "blockquote",
        "rule",
        "table",
        "panel",
    ];
    const INLINE: &[&str] =
        &["text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status"];
    Some(match kind {
        "doc" => BLOCKS,
        "paragraph" | "heading" => INLINE,
        "codeBlock" => &["text"],
        "bulletList" | "orderedList" => &["listItem"],
        "listItem" => &["paragraph", "bulletList", "orderedList", "codeBlock"],
        "blockquote" => &["paragraph", "bulletList", "orderedList", "codeBlock"],
        "panel" => &["paragraph", "heading", "bulletList", "orderedList"],
        "table" => &["tableRow"],
        "tableRow" => &["tableHeader", "tableCell"],
        "tableHeader" | "tableCell" => &[
            "paragraph",
            "heading",
            "bulletList",
            "orderedList",
            "codeBlock",
            "blockquote",
            "rule",
            "panel",
        ],
        _ => return None,
    })
}

/// Whether `doc` is a valid ADF document by the rules of Atlassian's schema that a writer can
/// break: the root, which node may hold which, non-empty text without line breaks outside code
/// blocks, marks that exist and combine (`code` only with `link`), required attributes.
pub fn validate_adf(doc: &Value) -> Result<(), String> {
    if doc.get("type") != Some(&json!("doc")) || doc.get("version") != Some(&json!(1)) {
        return Err("the root must be {\"type\": \"doc\", \"version\": 1}".into());
    }
    if !doc.get("content").is_some_and(Value::is_array) {
        return Err("the document has no content array".into());
    }
    node(doc, "doc", "doc")
}

fn node(n: &Value, kind: &str, path: &str) -> Result<(), String> {
    let Some(obj) = n.as_object() else { return Err(format!("{path}: a node must be an object")) };
    for key in obj.keys() {
        if !matches!(key.as_str(), "type" | "content" | "attrs" | "marks" | "text" | "version") {
            return Err(format!("{path}: unknown property {key:?}"));
        }
    }
    match kind {
        "text" => {
            let text = obj.get("text").and_then(Value::as_str).unwrap_or("");
            if text.is_empty() {
                return Err(format!("{path}: a text node must not be empty"));
            }
            if obj.contains_key("content") {
                return Err(format!("{path}: a text node has no content"));
            }
            marks(obj.get("marks"), path)?;
            return Ok(());
        }
        "hardBreak" | "rule" => {
            if obj.contains_key("content") {
                return Err(format!("{path}: {kind} has no content"));
            }
            return Ok(());
        }
        "heading" => {
            let level = obj.get("attrs").and_then(|a| a.get("level")).and_then(Value::as_u64);
            if !level.is_some_and(|l| (1..=6).contains(&l)) {
                return Err(format!("{path}: a heading needs attrs.level 1-6"));
            }
        }
        "panel" => {
            let t = obj.get("attrs").and_then(|a| a.get("panelType")).and_then(Value::as_str);
            if !t.is_some_and(|t| {
                ["info", "note", "tip", "warning", "error", "success"].contains(&t)
            }) {
                return Err(format!("{path}: a panel needs attrs.panelType"));
            }
        }
        _ => {}
    }
    let allowed =
        allowed_children(kind).ok_or_else(|| format!("{path}: unknown node type {kind:?}"))?;
    let content = obj.get("content").and_then(Value::as_array);
    let children = content.map(Vec::as_slice).unwrap_or_default();
    let may_be_empty = matches!(kind, "paragraph" | "heading" | "codeBlock" | "doc");
    if children.is_empty() && !may_be_empty {
        return Err(format!("{path}: {kind} needs at least one child"));
    }
    if kind == "listItem"
        && children
            .first()
            .and_then(|c| c.get("type"))
            .and_then(Value::as_str)
            .is_some_and(|t| t.ends_with("List"))
    {
        return Err(format!("{path}: a list item must start with a paragraph"));
    }
    for (i, child) in children.iter().enumerate() {
        let child_kind = child.get("type").and_then(Value::as_str).unwrap_or("");
        let child_path = format!("{path}.content[{i}]");
        if !allowed.contains(&child_kind) {
            return Err(format!("{child_path}: {child_kind:?} may not be inside {kind}"));
        }
        if kind == "codeBlock" && child.get("marks").is_some() {
            return Err(format!("{child_path}: text in a code block has no marks"));
        }
        if child_kind == "text"
            && kind != "codeBlock"
            && child["text"].as_str().is_some_and(|t| t.contains('\n'))
        {
            return Err(format!("{child_path}: a line break inside text must be a hardBreak"));
        }
        node(child, child_kind, &child_path)?;
    }
    Ok(())
}

fn marks(marks: Option<&Value>, path: &str) -> Result<(), String> {
    let Some(marks) = marks else { return Ok(()) };
    let list = marks.as_array().ok_or_else(|| format!("{path}: marks must be an array"))?;
    let kinds: Vec<&str> =
        list.iter().filter_map(|m| m.get("type").and_then(Value::as_str)).collect();
    if kinds.len() != list.len() {
        return Err(format!("{path}: a mark without a type"));
    }
    for (m, kind) in list.iter().zip(&kinds) {
        match *kind {
            "strong" | "em" | "strike" | "underline" | "code" => {}
            "link" => {
                if !m.get("attrs").and_then(|a| a.get("href")).is_some_and(Value::is_string) {
                    return Err(format!("{path}: a link mark needs attrs.href"));
                }
            }
            "subsup" | "textColor" => {}
            other => return Err(format!("{path}: unknown mark {other:?}")),
        }
    }
    if kinds.contains(&"code") && kinds.iter().any(|k| !matches!(*k, "code" | "link")) {
        return Err(format!("{path}: the code mark combines only with link"));
    }
    let mut seen = kinds.clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != kinds.len() {
        return Err(format!("{path}: a mark appears twice"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validator_refuses_what_jira_refuses() {
        let ok = json!({"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "x", "marks": [{"type": "code"}, {"type": "link", "attrs": {"href": "https://a"}}]}]},
            {"type": "bulletList", "content": [{"type": "listItem", "content": [{"type": "paragraph", "content": []}]}]}
        ]});
        assert_eq!(validate_adf(&ok), Ok(()));
        let bad = |content: Value| {
            validate_adf(&json!({"type": "doc", "version": 1, "content": [content]})).is_err()
        };
        assert!(bad(json!({"type": "paragraph", "content": [{"type": "text", "text": ""}]})));
        assert!(bad(json!({"type": "paragraph", "content": [{"type": "text", "text": "a\nb"}]})));
        assert!(bad(
            json!({"type": "paragraph", "content": [{"type": "text", "text": "a", "marks": [{"type": "code"}, {"type": "strong"}]}]})
        ));
        assert!(bad(json!({"type": "bulletList", "content": []})));
        assert!(bad(json!({"type": "heading", "content": []})));
        assert!(bad(json!({"type": "text", "text": "top-level text"})));
        assert!(bad(json!({"type": "taskList", "content": []})));
        assert!(validate_adf(&json!("a string")).is_err());
    }
}
