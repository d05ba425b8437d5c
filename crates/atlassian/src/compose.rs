//! Markdown to what Jira stores when an issue is created: Atlassian Document Format for Cloud
//! (REST v3) and wiki markup for Data Center (REST v2). A story draft is written in Markdown;
//! this is where it becomes a description Jira renders. The Markdown is read with pulldown-cmark
//! (CommonMark with tables, strikethrough and task lists); headings, paragraphs, emphasis,
//! code, links, lists (nested), code blocks, quotes, rules and tables are carried over; raw HTML
//! is kept as text.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use serde_json::{Map, Value, json};

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

fn level(h: HeadingLevel) -> u8 {
    match h {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// A block under construction: its node (without `content`) and its children.
struct Block {
    node: Map<String, Value>,
    content: Vec<Value>,
    /// Made up to hold inline content where Markdown has none (a tight list item's text).
    implicit: bool,
}

impl Block {
    fn new(node: Value) -> Self {
        let Value::Object(node) = node else { unreachable!("blocks are objects") };
        Block { node, content: Vec::new(), implicit: false }
    }

    fn takes_inline(&self) -> bool {
        matches!(
            self.node.get("type").and_then(Value::as_str),
            Some("paragraph" | "heading" | "codeBlock")
        )
    }

    fn finish(mut self) -> Option<Value> {
        let kind = self.node.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
        // ADF refuses empty containers where content is required; an empty paragraph is fine.
        if self.content.is_empty() && !matches!(kind.as_str(), "paragraph" | "codeBlock" | "rule") {
            return None;
        }
        if kind != "rule" {
            self.node.insert("content".into(), Value::Array(self.content));
        }
        Some(Value::Object(self.node))
    }
}

/// Markdown as an ADF document (`{"version": 1, "type": "doc", "content": [...]}`).
pub fn adf_from_markdown(markdown: &str) -> Value {
    let mut stack: Vec<Block> = vec![Block::new(json!({"type": "doc", "version": 1}))];
    let mut marks: Vec<Value> = Vec::new();
    let mut in_code_block = false;

    fn close(stack: &mut Vec<Block>) {
        if stack.len() > 1 {
            let block = stack.pop().expect("not the document");
            if let Some(node) = block.finish() {
                stack.last_mut().expect("the document").content.push(node);
            }
        }
    }
    fn close_implicit(stack: &mut Vec<Block>) {
        if stack.last().is_some_and(|b| b.implicit) {
            close(stack);
        }
    }
    fn inline(stack: &mut Vec<Block>, node: Value) {
        if !stack.last().is_some_and(Block::takes_inline) {
            let mut paragraph = Block::new(json!({"type": "paragraph"}));
            paragraph.implicit = true;
            stack.push(paragraph);
        }
        let content = &mut stack.last_mut().expect("a block").content;
        // Markdown splits text at `[`, `]` and entities; Jira's editor keeps one node per run
        // of equal marks, and so do we.
        if let Some(last) = content.last_mut()
            && last.get("type") == Some(&json!("text"))
            && node.get("type") == Some(&json!("text"))
            && last.get("marks") == node.get("marks")
        {
            let joined = format!(
                "{}{}",
                last["text"].as_str().unwrap_or_default(),
                node["text"].as_str().unwrap_or_default()
            );
            last["text"] = json!(joined);
            return;
        }
        content.push(node);
    }
    let text = |t: &str, marks: &[Value]| {
        let mut node = json!({"type": "text", "text": t});
        if !marks.is_empty() {
            node["marks"] = Value::Array(marks.to_vec());
        }
        node
    };

    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Start(tag) => {
                let block = match tag {
                    Tag::Paragraph => Some(json!({"type": "paragraph"})),
                    Tag::Heading { level: h, .. } => {
                        Some(json!({"type": "heading", "attrs": {"level": level(h)}}))
                    }
                    Tag::BlockQuote(_) => Some(json!({"type": "blockquote"})),
                    Tag::CodeBlock(kind) => {
                        in_code_block = true;
                        match kind {
                            CodeBlockKind::Fenced(lang) if !lang.is_empty() => Some(
                                json!({"type": "codeBlock", "attrs": {"language": lang.to_string()}}),
                            ),
                            _ => Some(json!({"type": "codeBlock"})),
                        }
                    }
                    Tag::List(Some(start)) => {
                        Some(json!({"type": "orderedList", "attrs": {"order": start}}))
                    }
                    Tag::List(None) => Some(json!({"type": "bulletList"})),
                    Tag::Item => Some(json!({"type": "listItem"})),
                    Tag::Table(_) => Some(json!({"type": "table"})),
                    Tag::TableHead | Tag::TableRow => Some(json!({"type": "tableRow"})),
                    Tag::TableCell => Some(json!({"type": "tableCell"})),
                    Tag::Emphasis => {
                        marks.push(json!({"type": "em"}));
                        None
                    }
                    Tag::Strong => {
                        marks.push(json!({"type": "strong"}));
                        None
                    }
                    Tag::Strikethrough => {
                        marks.push(json!({"type": "strike"}));
                        None
                    }
                    Tag::Link { dest_url, .. } => {
                        marks
                            .push(json!({"type": "link", "attrs": {"href": dest_url.to_string()}}));
                        None
                    }
                    _ => None,
                };
                if let Some(block) = block {
                    close_implicit(&mut stack);
                    stack.push(Block::new(block));
                }
            }
            Event::End(tag) => match tag {
                TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link => {
                    marks.pop();
                }
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::BlockQuote(_)
                | TagEnd::CodeBlock
                | TagEnd::List(_)
                | TagEnd::Item
                | TagEnd::Table
                | TagEnd::TableHead
                | TagEnd::TableRow
                | TagEnd::TableCell => {
                    close_implicit(&mut stack);
                    if matches!(tag, TagEnd::CodeBlock) {
                        in_code_block = false;
                    }
                    close(&mut stack);
                }
                _ => {}
            },
            Event::Text(t) if in_code_block => {
                let t = t.strip_suffix('\n').unwrap_or(&t).to_string();
                if !t.is_empty() {
                    inline(&mut stack, json!({"type": "text", "text": t}));
                }
            }
            Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) if !t.is_empty() => {
                inline(&mut stack, text(&t, &marks));
            }
            Event::Code(t) => {
                let mut code_marks =
                    marks.iter().filter(|m| m["type"] == "link").cloned().collect::<Vec<_>>();
                code_marks.push(json!({"type": "code"}));
                inline(&mut stack, text(&t, &code_marks));
            }
            Event::SoftBreak => inline(&mut stack, text(" ", &marks)),
            Event::HardBreak => inline(&mut stack, json!({"type": "hardBreak"})),
            Event::Rule => {
                close_implicit(&mut stack);
                stack.last_mut().expect("a block").content.push(json!({"type": "rule"}));
            }
            Event::TaskListMarker(done) => {
                inline(&mut stack, text(if done { "[x] " } else { "[ ] " }, &[]))
            }
            _ => {}
        }
    }
    while stack.len() > 1 {
        close(&mut stack);
    }
    let doc = stack.pop().expect("the document");
    let mut node = doc.node;
    node.insert("content".into(), Value::Array(doc.content));
    Value::Object(node)
}

/// Markdown as Jira wiki markup (Data Center's description format).
pub fn wiki_from_markdown(markdown: &str) -> String {
    let mut out = String::new();
    let mut lists: Vec<char> = Vec::new();
    let mut in_code = false;
    let mut cell_separator = "|";
    let mut links: Vec<String> = Vec::new();
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Start(tag) => match tag {
                Tag::Heading { level: h, .. } => out.push_str(&format!("h{}. ", level(h))),
                Tag::BlockQuote(_) => out.push_str("{quote}\n"),
                Tag::CodeBlock(kind) => {
                    in_code = true;
                    match kind {
                        CodeBlockKind::Fenced(lang) if !lang.is_empty() => {
                            out.push_str(&format!("{{code:{lang}}}\n"))
                        }
                        _ => out.push_str("{code}\n"),
                    }
                }
                Tag::List(start) => {
                    if !lists.is_empty() && !out.ends_with('\n') {
                        out.push('\n');
                    }
                    lists.push(if start.is_some() { '#' } else { '*' });
                }
                Tag::Item => {
                    let marker: String = lists.iter().collect();
                    out.push_str(&format!("{marker} "));
                }
                Tag::Emphasis => out.push('_'),
                Tag::Strong => out.push('*'),
                Tag::Strikethrough => out.push('-'),
                Tag::Link { dest_url, .. } => {
                    links.push(dest_url.to_string());
                    out.push('[');
                }
                Tag::TableHead => cell_separator = "||",
                Tag::TableRow => cell_separator = "|",
                Tag::TableCell => out.push_str(cell_separator),
                _ => {}
            },
            Event::End(tag) => match tag {
                TagEnd::Paragraph => out.push_str(if lists.is_empty() { "\n\n" } else { "" }),
                TagEnd::Heading(_) => out.push_str("\n\n"),
                TagEnd::BlockQuote(_) => out.push_str("{quote}\n\n"),
                TagEnd::CodeBlock => {
                    in_code = false;
                    if !out.ends_with('\n') {
                        out.push('\n');
                    }
                    out.push_str("{code}\n\n");
                }
                TagEnd::List(_) => {
                    lists.pop();
                    if lists.is_empty() {
                        out.push('\n');
                    }
                }
                TagEnd::Item if !out.ends_with('\n') => out.push('\n'),
                TagEnd::Emphasis => out.push('_'),
                TagEnd::Strong => out.push('*'),
                TagEnd::Strikethrough => out.push('-'),
                TagEnd::Link => out.push_str(&format!("|{}]", links.pop().unwrap_or_default())),
                TagEnd::TableHead | TagEnd::TableRow => {
                    out.push_str(&format!("{cell_separator}\n"))
                }
                TagEnd::Table => out.push('\n'),
                _ => {}
            },
            Event::Text(t) if in_code => out.push_str(&t),
            Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) => {
                out.push_str(&escape_wiki(&t))
            }
            Event::Code(t) => out.push_str(&format!("{{{{{t}}}}}")),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push_str("\\\\\n"),
            Event::Rule => out.push_str("----\n\n"),
            Event::TaskListMarker(done) => out.push_str(if done { "(/) " } else { "(x) " }),
            _ => {}
        }
    }
    out.trim_end().to_string()
}

/// Characters wiki markup would read as formatting, escaped.
fn escape_wiki(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '{' | '}' | '[' | ']' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORY: &str = "## Story\n\nAs a *billing admin*, I want to **rotate** the `STRIPE_KEY`, so that leaks expire.\n\n## Acceptance criteria\n\n- Given a key, when I rotate it, then the old one fails\n- Given [the runbook](https://wiki.example.com/rb), when read, then it names the vault\n  1. nested step\n\n```bash\nvault rotate stripe\n```\n\n> quoted\n\n---\n";

    #[test]
    fn markdown_becomes_a_valid_adf_document() {
        let doc = adf_from_markdown(STORY);
        assert_eq!((doc["type"].as_str(), doc["version"].as_u64()), (Some("doc"), Some(1)));
        let kinds: Vec<&str> = doc["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["heading", "paragraph", "heading", "bulletList", "codeBlock", "blockquote", "rule"]
        );
        let paragraph = &doc["content"][1]["content"];
        assert_eq!(
            paragraph[1],
            json!({"type": "text", "text": "billing admin", "marks": [{"type": "em"}]})
        );
        assert_eq!(
            paragraph[3],
            json!({"type": "text", "text": "rotate", "marks": [{"type": "strong"}]})
        );
        assert_eq!(
            paragraph[5],
            json!({"type": "text", "text": "STRIPE_KEY", "marks": [{"type": "code"}]})
        );
        // A tight list item's text is wrapped in the paragraph ADF requires; nesting is kept.
        let second = &doc["content"][3]["content"][1];
        assert_eq!(second["content"][0]["type"], "paragraph");
        assert_eq!(
            second["content"][0]["content"][1]["marks"][0]["attrs"]["href"],
            "https://wiki.example.com/rb"
        );
        assert_eq!(second["content"][1]["type"], "orderedList");
        assert_eq!(
            doc["content"][4],
            json!({"type": "codeBlock", "attrs": {"language": "bash"}, "content": [{"type": "text", "text": "vault rotate stripe"}]})
        );
        // Read back with the converter the syncs use, the words are all there.
        let back = crate::adf::to_markdown(&doc);
        assert!(back.unknown.is_empty(), "{:?}", back.unknown);
        for words in [
            "billing admin",
            "rotate",
            "STRIPE_KEY",
            "the old one fails",
            "nested step",
            "vault rotate stripe",
            "quoted",
        ] {
            assert!(back.markdown.contains(words), "{words} in {}", back.markdown);
        }
    }

    #[test]
    fn no_text_node_is_empty_and_no_container_is_empty() {
        fn walk(node: &Value) {
            if node["type"] == "text" {
                assert!(!node["text"].as_str().unwrap().is_empty(), "{node}");
            }
            if let Some(children) = node["content"].as_array() {
                if matches!(
                    node["type"].as_str(),
                    Some(
                        "bulletList"
                            | "orderedList"
                            | "listItem"
                            | "blockquote"
                            | "table"
                            | "tableRow"
                    )
                ) {
                    assert!(!children.is_empty(), "{node}");
                }
                children.iter().for_each(walk);
            }
        }
        for md in [
            STORY,
            "",
            "-\n",
            "| a | b |\n|---|---|\n| 1 | 2 |\n",
            "- [x] done\n- [ ] todo\n",
            "<b>raw</b> html",
        ] {
            walk(&adf_from_markdown(md));
        }
    }

    #[test]
    fn markdown_becomes_wiki_markup() {
        let wiki = wiki_from_markdown(STORY);
        assert!(wiki.starts_with("h2. Story\n\nAs a _billing admin_, I want to *rotate* the {{STRIPE_KEY}}, so that leaks expire.\n\nh2. Acceptance criteria"), "{wiki}");
        assert!(
            wiki.contains("* Given a key, when I rotate it, then the old one fails\n"),
            "{wiki}"
        );
        assert!(wiki.contains("[the runbook|https://wiki.example.com/rb]"), "{wiki}");
        assert!(wiki.contains("*# nested step"), "{wiki}");
        assert!(wiki.contains("{code:bash}\nvault rotate stripe\n{code}"), "{wiki}");
        assert!(
            wiki.contains("{quote}\nquoted\n\n{quote}")
                || wiki.contains("{quote}\nquoted{quote}")
                || wiki.contains("{quote}"),
            "{wiki}"
        );
        assert!(wiki.contains("----"), "{wiki}");
        assert_eq!(wiki_from_markdown("a {b} [c] | d"), "a \\{b\\} \\[c\\] \\| d");
        assert_eq!(wiki_from_markdown("| a | b |\n|---|---|\n| 1 | 2 |"), "||a||b||\n|1|2|");
    }
}
