//! Atlassian Document Format (Jira Cloud's descriptions and comments, Confluence Cloud's pages)
//! to Markdown, node by node, for indexing and for assistants to read.
//!
//! The output is GitHub-flavoured Markdown that keeps every word of the document: headings,
//! nested lists, task and decision lists, tables (cells flattened to one line), fenced code,
//! panels as GFM alerts, quotes, mentions, emoji, dates, status lozenges, cards, media, expands
//! (their content is searchable, so it is kept) and macros. A node this converter does not know
//! never fails a sync: its content is rendered if it has some, else its text or URL, else
//! nothing, and its type is reported in [`Converted::unknown`].

use std::collections::BTreeSet;

use serde_json::Value;

/// A converted document and the node types it met but does not know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Converted {
    pub markdown: String,
    pub unknown: BTreeSet<String>,
}

/// Converts an ADF document (or any ADF node) to Markdown.
pub fn to_markdown(doc: &Value) -> Converted {
    let mut ctx = Ctx::default();
    let markdown = match doc.get("type").and_then(Value::as_str) {
        Some("doc") | None => ctx.blocks(children(doc)),
        Some(_) => ctx.blocks(std::slice::from_ref(doc)),
    };
    Converted { markdown: markdown.trim_end().to_string(), unknown: ctx.unknown }
}

#[derive(Default)]
struct Ctx {
    unknown: BTreeSet<String>,
    /// Inside a table cell: line breaks become `<br>`.
    in_cell: bool,
}

fn children(node: &Value) -> &[Value] {
    node.get("content").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn attr<'a>(node: &'a Value, name: &str) -> Option<&'a Value> {
    node.get("attrs").and_then(|a| a.get(name)).filter(|v| !v.is_null())
}

fn attr_str<'a>(node: &'a Value, name: &str) -> Option<&'a str> {
    attr(node, name).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn node_type(node: &Value) -> &str {
    node.get("type").and_then(Value::as_str).unwrap_or("")
}

/// Inline node types: a run of these forms a paragraph when met among blocks.
fn is_inline(kind: &str) -> bool {
    matches!(
        kind,
        "text"
            | "hardBreak"
            | "mention"
            | "emoji"
            | "date"
            | "status"
            | "inlineCard"
            | "placeholder"
            | "inlineExtension"
            | "mediaInline"
    )
}

impl Ctx {
    /// Blocks separated by blank lines; stray inline nodes are gathered into paragraphs.
    fn blocks(&mut self, nodes: &[Value]) -> String {
        self.blocks_joined(nodes, "\n\n")
    }

    fn blocks_joined(&mut self, nodes: &[Value], separator: &str) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut i = 0;
        while i < nodes.len() {
            if is_inline(node_type(&nodes[i])) {
                let start = i;
                while i < nodes.len() && is_inline(node_type(&nodes[i])) {
                    i += 1;
                }
                let text = self.inlines(&nodes[start..i]);
                if !text.trim().is_empty() {
                    parts.push(text);
                }
                continue;
            }
            let block = self.block(&nodes[i]);
            if !block.trim().is_empty() {
                parts.push(block);
            }
            i += 1;
        }
        parts.join(separator)
    }

    fn block(&mut self, node: &Value) -> String {
        let kind = node_type(node);
        match kind {
            "paragraph" => escape_line_start(&self.inlines(children(node))),
            "heading" => {
                let level = attr(node, "level").and_then(Value::as_u64).unwrap_or(1).clamp(1, 6);
                format!("{} {}", "#".repeat(level as usize), self.inlines(children(node)).trim())
            }
            "bulletList" => self.list(node, |_| "- ".to_string()),
            "orderedList" => {
                let start = attr(node, "order").and_then(Value::as_u64).unwrap_or(1);
                self.list(node, move |i| format!("{}. ", start + i as u64))
            }
            "taskList" => self.list(node, |_| String::new()),
            "taskItem" | "blockTaskItem" => {
                let done = attr_str(node, "state") == Some("DONE");
                let body = self.item_body(node);
                prefix_item(if done { "- [x] " } else { "- [ ] " }, &body)
            }
            "decisionList" => self.list(node, |_| String::new()),
            "decisionItem" => prefix_item("- ✓ ", &self.item_body(node)),
            "listItem" => prefix_item("- ", &self.item_body(node)),
            "codeBlock" => {
                let code: String = children(node)
                    .iter()
                    .filter_map(|t| t.get("text").and_then(Value::as_str))
                    .collect();
                let fence = "`".repeat(longest_run(&code, '`').max(2) + 1);
                let language = attr_str(node, "language").unwrap_or("");
                format!("{fence}{language}\n{}\n{fence}", code.trim_end_matches('\n'))
            }
            "blockquote" => quote(&self.blocks(children(node))),
            "panel" => {
                let alert = match attr_str(node, "panelType") {
                    Some("tip" | "success") => "TIP",
                    Some("warning") => "WARNING",
                    Some("error") => "CAUTION",
                    _ => "NOTE",
                };
                quote(&format!("[!{alert}]\n{}", self.blocks(children(node))))
            }
            "rule" => "---".to_string(),
            "table" => self.table(node),
            "mediaSingle" | "mediaGroup" => self.blocks_joined(children(node), "\n"),
            "media" => media(node),
            "caption" => format!("*{}*", self.inlines(children(node)).trim()),
            "expand" | "nestedExpand" => {
                let title = attr_str(node, "title").unwrap_or("Details");
                let body = self.blocks(children(node));
                format!("**▸ {}**\n\n{body}", escape(title))
            }
            "layoutSection" | "layoutColumn" | "bodiedSyncBlock" | "syncBlock"
                if !children(node).is_empty() =>
            {
                self.blocks(children(node))
            }
            "syncBlock" => "[synced block]".to_string(),
            "blockCard" | "embedCard" => card(node).unwrap_or_default(),
            "extension" => macro_text(node),
            "bodiedExtension" => {
                let body = self.blocks(children(node));
                if body.is_empty() { macro_text(node) } else { body }
            }
            _ => self.unknown_block(node, kind),
        }
    }

    /// A node of a type not handled above: its content, else its text, else its URL.
    fn unknown_block(&mut self, node: &Value, kind: &str) -> String {
        if !kind.is_empty() {
            self.unknown.insert(kind.to_string());
        }
        if !children(node).is_empty() {
            return self.blocks(children(node));
        }
        if let Some(text) = node.get("text").and_then(Value::as_str).or(attr_str(node, "text")) {
            return escape(text);
        }
        attr_str(node, "url").map(|u| format!("<{u}>")).unwrap_or_default()
    }

    fn list(&mut self, node: &Value, marker: impl Fn(usize) -> String) -> String {
        let mut items = Vec::new();
        for (i, item) in children(node).iter().enumerate() {
            let rendered = match node_type(item) {
                "listItem" => prefix_item(&marker(i), &self.item_body(item)),
                // Task and decision items carry their own marker; lists nest inside lists.
                _ => self.block(item),
            };
            if !rendered.trim().is_empty() {
                items.push(rendered);
            }
        }
        items.join("\n")
    }

    /// The blocks of a list item, one per line (a tight list), inline content as one line.
    fn item_body(&mut self, node: &Value) -> String {
        self.blocks_joined(children(node), "\n")
    }

    fn table(&mut self, node: &Value) -> String {
        let was_in_cell = std::mem::replace(&mut self.in_cell, true);
        let mut rows: Vec<(bool, Vec<String>)> = Vec::new();
        for row in children(node) {
            let mut cells = Vec::new();
            let mut header = true;
            for cell in children(row) {
                header &= node_type(cell) == "tableHeader";
                cells.push(self.cell(cell));
                let span = attr(cell, "colspan").and_then(Value::as_u64).unwrap_or(1);
                cells.extend(std::iter::repeat_n(String::new(), span.saturating_sub(1) as usize));
            }
            rows.push((header && !cells.is_empty(), cells));
        }
        self.in_cell = was_in_cell;
        let width = rows.iter().map(|(_, c)| c.len()).max().unwrap_or(0);
        if width == 0 {
            return String::new();
        }
        let line = |cells: &[String]| {
            let mut padded: Vec<&str> = cells.iter().map(String::as_str).collect();
            padded.resize(width, "");
            format!("| {} |", padded.join(" | "))
        };
        let mut out = Vec::new();
        let body = if rows.first().is_some_and(|(h, _)| *h) {
            out.push(line(&rows[0].1));
            &rows[1..]
        } else {
            out.push(line(&vec![String::new(); width]));
            &rows[..]
        };
        out.push(format!("|{}", " --- |".repeat(width)));
        out.extend(body.iter().map(|(_, cells)| line(cells)));
        out.join("\n")
    }

    /// A table cell on one line: paragraphs joined by `<br>`, list items by `•`.
    fn cell(&mut self, cell: &Value) -> String {
        let mut parts = Vec::new();
        for block in children(cell) {
            match node_type(block) {
                "bulletList" | "orderedList" | "taskList" => {
                    for item in children(block) {
                        let text = self.blocks_joined(children(item), " ");
                        parts.push(format!("• {}", text.trim()));
                    }
                }
                _ => parts.push(self.block(block).replace('\n', " ")),
            }
        }
        parts.retain(|p| !p.trim().is_empty());
        parts.join("<br>").replace('|', "\\|")
    }

    fn inlines(&mut self, nodes: &[Value]) -> String {
        let mut out = String::new();
        for node in nodes {
            let kind = node_type(node);
            match kind {
                "text" => out.push_str(&text_with_marks(node)),
                "hardBreak" => out.push_str(if self.in_cell { "<br>" } else { "\\\n" }),
                "mention" => match attr_str(node, "text") {
                    Some(text) if text.starts_with('@') => out.push_str(text),
                    Some(text) => out.push_str(&format!("@{text}")),
                    None => {
                        out.push_str(&format!("@{}", attr_str(node, "id").unwrap_or("someone")))
                    }
                },
                "emoji" => out
                    .push_str(attr_str(node, "text").or(attr_str(node, "shortName")).unwrap_or("")),
                "date" => out.push_str(&date(node)),
                "status" => {
                    let text = attr_str(node, "text").unwrap_or("").to_uppercase();
                    if !text.is_empty() {
                        out.push_str(&format!("`[{text}]`"));
                    }
                }
                "inlineCard" => out.push_str(&card(node).unwrap_or_default()),
                "placeholder" => {}
                "inlineExtension" => out.push_str(&macro_text(node)),
                "mediaInline" => out.push_str(&media(node)),
                _ => {
                    if !kind.is_empty() {
                        self.unknown.insert(kind.to_string());
                    }
                    if !children(node).is_empty() {
                        out.push_str(&self.inlines(children(node)));
                    } else if let Some(t) =
                        node.get("text").and_then(Value::as_str).or(attr_str(node, "text"))
                    {
                        out.push_str(&escape(t));
                    }
                }
            }
        }
        out
    }
}

/// Prefixes the first line of an item with its marker and indents the rest under it.
fn prefix_item(marker: &str, body: &str) -> String {
    let indent = " ".repeat(marker.chars().count().max(2));
    let mut lines = body.lines();
    let mut out = format!("{marker}{}", lines.next().unwrap_or(""));
    for line in lines {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&indent);
            out.push_str(line);
        }
    }
    out
}

fn quote(text: &str) -> String {
    text.lines()
        .map(|l| if l.is_empty() { ">".to_string() } else { format!("> {l}") })
        .collect::<Vec<_>>()
        .join("\n")
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// Escapes the characters that would turn plain text into Markdown syntax.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '*' | '`' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A paragraph that starts like a heading or a quote stays a paragraph.
fn escape_line_start(text: &str) -> String {
    match text.chars().next() {
        Some('#' | '>') => format!("\\{text}"),
        _ => text.to_string(),
    }
}

fn text_with_marks(node: &Value) -> String {
    let text = node.get("text").and_then(Value::as_str).unwrap_or("");
    if text.is_empty() {
        return String::new();
    }
    let marks: Vec<&Value> =
        node.get("marks").and_then(Value::as_array).map(|m| m.iter().collect()).unwrap_or_default();
    let has = |kind: &str| marks.iter().any(|m| node_type(m) == kind);
    // Emphasis delimiters must touch the text: spaces move outside them.
    let (lead, core, trail) = split_spaces(text);
    if core.is_empty() {
        return text.to_string();
    }
    let mut inner = if has("code") {
        let ticks = "`".repeat(longest_run(core, '`') + 1);
        let pad = if core.starts_with('`') || core.ends_with('`') { " " } else { "" };
        format!("{ticks}{pad}{core}{pad}{ticks}")
    } else {
        escape(core)
    };
    if has("strike") {
        inner = format!("~~{inner}~~");
    }
    if has("em") {
        inner = format!("*{inner}*");
    }
    if has("strong") {
        inner = format!("**{inner}**");
    }
    if has("subsup") {
        let tag = marks
            .iter()
            .find(|m| node_type(m) == "subsup")
            .and_then(|m| attr_str(m, "type"))
            .unwrap_or("sup");
        inner = format!("<{tag}>{inner}</{tag}>");
    }
    if let Some(href) =
        marks.iter().find(|m| node_type(m) == "link").and_then(|link| attr_str(link, "href"))
    {
        inner = format!("[{inner}]({})", href.replace(' ', "%20").replace(')', "%29"));
    }
    format!("{lead}{inner}{trail}")
}

fn split_spaces(text: &str) -> (&str, &str, &str) {
    let core_start = text.len() - text.trim_start().len();
    let trimmed = text.trim();
    let core_end = core_start + trimmed.len();
    (&text[..core_start], trimmed, &text[core_end..])
}

fn date(node: &Value) -> String {
    let millis = match attr(node, "timestamp") {
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    millis
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn card(node: &Value) -> Option<String> {
    let url = attr_str(node, "url")
        .or_else(|| attr(node, "data").and_then(|d| d.get("url")).and_then(Value::as_str))?;
    Some(format!("<{url}>"))
}

fn media(node: &Value) -> String {
    let alt = attr_str(node, "alt");
    match attr_str(node, "type") {
        Some("external") => match attr_str(node, "url") {
            Some(url) => format!("![{}]({url})", escape(alt.unwrap_or(""))),
            None => String::new(),
        },
        _ => {
            let name = alt.or(attr_str(node, "id")).unwrap_or("file");
            format!("[attachment: {}]", escape(name))
        }
    }
}

fn macro_text(node: &Value) -> String {
    if let Some(text) = attr_str(node, "text") {
        return escape(text);
    }
    format!("[macro: {}]", attr_str(node, "extensionKey").unwrap_or("unknown"))
}

#[cfg(test)]
mod tests;
