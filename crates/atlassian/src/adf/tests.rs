//! ADF → Markdown, node by node, with documents shaped as Jira Cloud and Confluence Cloud
//! send them.

use serde_json::{Value, json};

use super::to_markdown;

fn doc(content: Value) -> Value {
    json!({"version": 1, "type": "doc", "content": content})
}

fn p(text: &str) -> Value {
    json!({"type": "paragraph", "content": [{"type": "text", "text": text}]})
}

fn md(content: Value) -> String {
    to_markdown(&doc(content)).markdown
}

#[test]
fn headings_and_paragraphs() {
    let out = md(json!([
        {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Plan"}]},
        p("First."),
        {"type": "paragraph", "content": []},
        p("# not a heading"),
        {"type": "heading", "attrs": {"level": 9}, "content": [{"type": "text", "text": "Deep"}]},
    ]));
    assert_eq!(out, "## Plan\n\nFirst.\n\n\\# not a heading\n\n###### Deep");
}

#[test]
fn marks_keep_spaces_outside_and_escape_text() {
    let out = md(json!([{"type": "paragraph", "content": [
        {"type": "text", "text": "Use "},
        {"type": "text", "text": "bold ", "marks": [{"type": "strong"}]},
        {"type": "text", "text": "and", "marks": [{"type": "em"}, {"type": "strong"}]},
        {"type": "text", "text": " "},
        {"type": "text", "text": "cargo `run`", "marks": [{"type": "code"}]},
        {"type": "text", "text": " or "},
        {"type": "text", "text": "old", "marks": [{"type": "strike"}]},
        {"type": "text", "text": " see "},
        {"type": "text", "text": "docs", "marks": [{"type": "link", "attrs": {"href": "https://x.test/a b"}}]},
        {"type": "text", "text": " 2*3 [x] H"},
        {"type": "text", "text": "2", "marks": [{"type": "subsup", "attrs": {"type": "sub"}}]},
        {"type": "text", "text": "O", "marks": [{"type": "textColor", "attrs": {"color": "#ff0000"}}, {"type": "underline"}]},
    ]}]));
    assert_eq!(
        out,
        "Use **bold** ***and*** `` cargo `run` `` or ~~old~~ see [docs](https://x.test/a%20b) 2\\*3 \\[x\\] H<sub>2</sub>O"
    );
}

#[test]
fn nested_bullet_and_ordered_lists() {
    let item = |text: &str, nested: Option<Value>| {
        let mut content = vec![p(text)];
        content.extend(nested);
        json!({"type": "listItem", "content": content})
    };
    let inner = json!({"type": "orderedList", "attrs": {"order": 3}, "content": [item("three", None), item("four", None)]});
    let out = md(json!([{"type": "bulletList", "content": [
        item("one", Some(inner)),
        item("two", Some(json!({"type": "bulletList", "content": [item("deep", None)]}))),
    ]}]));
    assert_eq!(out, "- one\n  3. three\n  4. four\n- two\n  - deep");
}

#[test]
fn task_and_decision_lists() {
    let out = md(json!([
        {"type": "taskList", "attrs": {"localId": "a"}, "content": [
            {"type": "taskItem", "attrs": {"state": "DONE", "localId": "1"}, "content": [{"type": "text", "text": "ship"}]},
            {"type": "taskItem", "attrs": {"state": "TODO", "localId": "2"}, "content": [{"type": "text", "text": "announce"}]},
        ]},
        {"type": "decisionList", "attrs": {"localId": "d"}, "content": [
            {"type": "decisionItem", "attrs": {"state": "DECIDED", "localId": "3"}, "content": [{"type": "text", "text": "use Postgres"}]},
        ]},
    ]));
    assert_eq!(out, "- [x] ship\n- [ ] announce\n\n- ✓ use Postgres");
}

#[test]
fn code_blocks_fence_past_their_content() {
    let out = md(json!([
        {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [{"type": "text", "text": "fn main() {}\n"}]},
        {"type": "codeBlock", "content": [{"type": "text", "text": "a ```` b"}]},
    ]));
    assert_eq!(out, "```rust\nfn main() {}\n```\n\n`````\na ```` b\n`````");
}

#[test]
fn tables_with_headers_spans_lists_and_pipes() {
    let cell = |kind: &str, content: Value| json!({"type": kind, "attrs": {}, "content": content});
    let out = md(json!([{"type": "table", "attrs": {"layout": "default"}, "content": [
        {"type": "tableRow", "content": [cell("tableHeader", json!([p("Name")])), cell("tableHeader", json!([p("Notes")]))]},
        {"type": "tableRow", "content": [
            cell("tableCell", json!([p("a|b")])),
            cell("tableCell", json!([p("one"), p("two"), {"type": "bulletList", "content": [{"type": "listItem", "content": [p("x")]}]}])),
        ]},
        {"type": "tableRow", "content": [{"type": "tableCell", "attrs": {"colspan": 2}, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "wide"}, {"type": "hardBreak"}, {"type": "text", "text": "line"}]}
        ]}]},
    ]}]));
    assert_eq!(
        out,
        "| Name | Notes |\n| --- | --- |\n| a\\|b | one<br>two<br>• x |\n| wide<br>line |  |"
    );
    // Without a header row, an empty one is made (GFM needs one).
    let out = md(json!([{"type": "table", "content": [
        {"type": "tableRow", "content": [cell("tableCell", json!([p("1")])), cell("tableCell", json!([p("2")]))]},
    ]}]));
    assert_eq!(out, "|  |  |\n| --- | --- |\n| 1 | 2 |");
}

#[test]
fn panels_quotes_and_rules() {
    let out = md(json!([
        {"type": "panel", "attrs": {"panelType": "warning"}, "content": [p("Careful."), p("Really.")]},
        {"type": "panel", "attrs": {"panelType": "info"}, "content": [p("FYI")]},
        {"type": "panel", "attrs": {"panelType": "error"}, "content": [p("Broken")]},
        {"type": "blockquote", "content": [p("quoted")]},
        {"type": "rule"},
    ]));
    assert_eq!(
        out,
        "> [!WARNING]\n> Careful.\n>\n> Really.\n\n> [!NOTE]\n> FYI\n\n> [!CAUTION]\n> Broken\n\n> quoted\n\n---"
    );
}

#[test]
fn mentions_emoji_dates_status_and_cards() {
    let out = md(json!([{"type": "paragraph", "content": [
        {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d4ef5", "text": "@Ana Lima", "accessLevel": ""}},
        {"type": "text", "text": " "},
        {"type": "mention", "attrs": {"id": "abc"}},
        {"type": "text", "text": " "},
        {"type": "emoji", "attrs": {"shortName": ":rocket:", "id": "1f680", "text": "🚀"}},
        {"type": "emoji", "attrs": {"shortName": ":custom:"}},
        {"type": "text", "text": " due "},
        {"type": "date", "attrs": {"timestamp": "1767225600000"}},
        {"type": "text", "text": " "},
        {"type": "status", "attrs": {"text": "In review", "color": "blue", "localId": "s"}},
        {"type": "text", "text": " "},
        {"type": "inlineCard", "attrs": {"url": "https://acme.atlassian.net/browse/OPS-7"}},
    ]}, {"type": "blockCard", "attrs": {"url": "https://example.com/design"}}]));
    assert_eq!(
        out,
        "@Ana Lima @abc 🚀:custom: due 2026-01-01 `[IN REVIEW]` <https://acme.atlassian.net/browse/OPS-7>\n\n<https://example.com/design>"
    );
}

#[test]
fn media_single_group_and_captions() {
    let out = md(json!([
        {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [
            {"type": "media", "attrs": {"type": "file", "id": "6e7c7f2c", "collection": "jira-1", "alt": "diagram.png"}},
            {"type": "caption", "content": [{"type": "text", "text": "The flow"}]},
        ]},
        {"type": "mediaGroup", "content": [
            {"type": "media", "attrs": {"type": "external", "url": "https://img.test/a.png", "alt": "chart"}},
            {"type": "media", "attrs": {"type": "file", "id": "f-2", "collection": ""}},
        ]},
    ]));
    assert_eq!(
        out,
        "[attachment: diagram.png]\n*The flow*\n\n![chart](https://img.test/a.png)\n[attachment: f-2]"
    );
}

#[test]
fn expands_layouts_and_macros_keep_their_text() {
    let out = md(json!([
        {"type": "expand", "attrs": {"title": "Logs"}, "content": [p("stack trace here")]},
        {"type": "layoutSection", "content": [
            {"type": "layoutColumn", "attrs": {"width": 50}, "content": [p("left")]},
            {"type": "layoutColumn", "attrs": {"width": 50}, "content": [p("right")]},
        ]},
        {"type": "extension", "attrs": {"extensionType": "com.atlassian.confluence.macro.core", "extensionKey": "toc"}},
        {"type": "bodiedExtension", "attrs": {"extensionKey": "details"}, "content": [p("inside")]},
        {"type": "paragraph", "content": [{"type": "inlineExtension", "attrs": {"extensionKey": "jira", "text": "OPS-1"}}, {"type": "placeholder", "attrs": {"text": "Type here"}}]},
    ]));
    assert_eq!(
        out,
        "**▸ Logs**\n\nstack trace here\n\nleft\n\nright\n\n[macro: toc]\n\ninside\n\nOPS-1"
    );
}

#[test]
fn unknown_nodes_degrade_and_are_reported() {
    let converted = to_markdown(&doc(json!([
        {"type": "futureBlock", "content": [p("still searchable")]},
        {"type": "futureLeaf", "attrs": {"text": "leaf text"}},
        {"type": "futureLink", "attrs": {"url": "https://x.test"}},
        {"type": "futureNothing"},
        {"type": "paragraph", "content": [{"type": "text", "text": "a "}, {"type": "sparkle", "attrs": {"text": "b"}}]},
        "not even an object",
        {"type": "paragraph", "content": [{"type": "text"}]},
    ])));
    assert_eq!(converted.markdown, "still searchable\n\nleaf text\n\n<https://x.test>\n\na b");
    let unknown: Vec<&str> = converted.unknown.iter().map(String::as_str).collect();
    assert_eq!(unknown, ["futureBlock", "futureLeaf", "futureLink", "futureNothing", "sparkle"]);
}

#[test]
fn a_real_jira_cloud_description_converts_whole() {
    // The shape of a Jira Cloud v3 `fields.description`.
    let description = json!({
        "type": "doc", "version": 1,
        "content": [
            {"type": "paragraph", "content": [
                {"type": "text", "text": "Checkout fails when the "},
                {"type": "text", "text": "STRIPE_KEY", "marks": [{"type": "code"}]},
                {"type": "text", "text": " is rotated."},
                {"type": "hardBreak"},
                {"type": "text", "text": "Seen twice."}
            ]},
            {"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": "Steps"}]},
            {"type": "orderedList", "attrs": {"order": 1}, "content": [
                {"type": "listItem", "content": [p("Rotate the key")]},
                {"type": "listItem", "content": [p("Pay")]}
            ]}
        ]
    });
    assert_eq!(
        to_markdown(&description).markdown,
        "Checkout fails when the `STRIPE_KEY` is rotated.\\\nSeen twice.\n\n### Steps\n\n1. Rotate the key\n2. Pay"
    );
    assert_eq!(to_markdown(&Value::Null).markdown, "");
}
