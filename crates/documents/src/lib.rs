//! Text out of the documents users upload to be remembered (`POST /ai/upload`): PDF (the text
//! of every page, through `pdf-extract`), Word DOCX (paragraphs, headings as Markdown headings,
//! list items and tables as rows, through `docx-rs`), HTML (as Markdown, through `htmd`),
//! Markdown and plain text (as they are). Every kind comes out as Markdown, so the scanner
//! splits it along its headings like any other document.
//!
//! The kind is told by the file's extension and checked against its first bytes (a PDF starts
//! `%PDF-`, a DOCX is a zip archive), so a misnamed file fails clearly instead of becoming
//! garbage. A document with no text (a scanned PDF without a text layer) is an error too.

/// What a document was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pdf,
    Docx,
    Html,
    Markdown,
    Text,
}

impl Kind {
    /// The kind of a file name, by its extension.
    pub fn of(file_name: &str) -> Option<Kind> {
        let ext = file_name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "pdf" => Kind::Pdf,
            "docx" => Kind::Docx,
            "html" | "htm" | "xhtml" => Kind::Html,
            "md" | "markdown" | "mdown" | "mkd" => Kind::Markdown,
            "txt" | "text" => Kind::Text,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pdf => "pdf",
            Kind::Docx => "docx",
            Kind::Html => "html",
            Kind::Markdown => "markdown",
            Kind::Text => "text",
        }
    }
}

/// Why a document could not be read. The message is for the person who uploaded it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error(
        "{0}: unsupported document type; upload PDF (.pdf), Word (.docx), HTML (.html), Markdown (.md) or plain text (.txt)"
    )]
    Unsupported(String),
    #[error("{0}: not a valid {1} document ({2})")]
    Invalid(String, &'static str, String),
    #[error("{0}: the document holds no text (a scanned PDF needs text recognition first)")]
    Empty(String),
}

/// A document's text, as Markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub kind: Kind,
    pub markdown: String,
}

/// Reads `bytes`, the content of the file `file_name`.
pub fn extract(file_name: &str, bytes: &[u8]) -> Result<Extracted, DocumentError> {
    let kind = Kind::of(file_name).ok_or_else(|| DocumentError::Unsupported(file_name.into()))?;
    let invalid = |why: String| DocumentError::Invalid(file_name.into(), kind.as_str(), why);
    let markdown = match kind {
        Kind::Pdf => {
            if !bytes.starts_with(b"%PDF-") {
                return Err(invalid("it does not start with %PDF-".into()));
            }
            // The parser panics on some malformed files rather than failing: contained here.
            let text = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes))
                .map_err(|_| invalid("the PDF parser gave up on it".into()))?
                .map_err(|e| invalid(e.to_string()))?;
            pdf_paragraphs(&text)
        }
        Kind::Docx => {
            if !bytes.starts_with(b"PK") {
                return Err(invalid("it is not a zip archive".into()));
            }
            let docx = docx_rs::read_docx(bytes).map_err(|e| invalid(e.to_string()))?;
            docx_markdown(&docx)
        }
        Kind::Html => {
            let html = utf8(bytes).map_err(invalid)?;
            htmd::convert(&html).map_err(|e| invalid(e.to_string()))?
        }
        Kind::Markdown | Kind::Text => utf8(bytes).map_err(invalid)?,
    };
    let markdown = markdown.trim().to_string();
    if markdown.chars().all(|c| c.is_whitespace() || c.is_control()) {
        return Err(DocumentError::Empty(file_name.into()));
    }
    Ok(Extracted { kind, markdown })
}

/// UTF-8 text, a byte-order mark dropped.
fn utf8(bytes: &[u8]) -> Result<String, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    String::from_utf8(bytes.to_vec()).map_err(|_| "it is not UTF-8 text".to_string())
}

/// A PDF's text with its line breaks inside paragraphs joined: a PDF breaks lines where the
/// page did, and sentences split across lines would search badly.
fn pdf_paragraphs(text: &str) -> String {
    let mut out = String::new();
    for block in text.split("\n\n") {
        let joined = block.lines().map(str::trim).filter(|l| !l.is_empty()).fold(
            String::new(),
            |mut acc, line| {
                if let Some(stripped) = acc.strip_suffix('-') {
                    // A word hyphenated at the end of a line.
                    acc = stripped.to_string();
                } else if !acc.is_empty() {
                    acc.push(' ');
                }
                acc.push_str(line);
                acc
            },
        );
        if !joined.is_empty() {
            out.push_str(&joined);
            out.push_str("\n\n");
        }
    }
    out
}

/// A Word document as Markdown: headings (`Heading1`…`Heading6`, `Title`) become `#`s, list
/// paragraphs `- ` items, tables rows of cells separated by `|`.
fn docx_markdown(docx: &docx_rs::Docx) -> String {
    use docx_rs::DocumentChild;
    let mut out = String::new();
    for child in &docx.document.children {
        match child {
            DocumentChild::Paragraph(p) => push_paragraph(&mut out, p),
            DocumentChild::Table(t) => push_table(&mut out, t),
            _ => {}
        }
    }
    out
}

fn paragraph_text(p: &docx_rs::Paragraph) -> String {
    use docx_rs::{ParagraphChild, RunChild};
    let mut text = String::new();
    let mut runs: Vec<&docx_rs::Run> = Vec::new();
    for child in &p.children {
        match child {
            ParagraphChild::Run(run) => runs.push(run),
            ParagraphChild::Hyperlink(link) => {
                for c in &link.children {
                    if let ParagraphChild::Run(run) = c {
                        runs.push(run);
                    }
                }
            }
            _ => {}
        }
    }
    for run in runs {
        for c in &run.children {
            match c {
                RunChild::Text(t) => text.push_str(&t.text),
                RunChild::Tab(_) => text.push('\t'),
                RunChild::Break(_) => text.push('\n'),
                _ => {}
            }
        }
    }
    text
}

fn push_paragraph(out: &mut String, p: &docx_rs::Paragraph) {
    let text = paragraph_text(p);
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    let style = p.property.style.as_ref().map(|s| s.val.to_ascii_lowercase()).unwrap_or_default();
    let level = match style.as_str() {
        "title" => Some(1),
        s => s.strip_prefix("heading").and_then(|n| n.trim().parse::<usize>().ok()),
    };
    match level {
        Some(n) => out.push_str(&format!("{} {text}\n\n", "#".repeat(n.clamp(1, 6)))),
        None if p.property.numbering_property.is_some() || style.contains("list") => {
            out.push_str(&format!("- {text}\n"));
        }
        None => out.push_str(&format!("{text}\n\n")),
    }
}

fn push_table(out: &mut String, table: &docx_rs::Table) {
    use docx_rs::{TableCellContent, TableChild, TableRowChild};
    for row in &table.rows {
        let TableChild::TableRow(row) = row;
        let cells: Vec<String> = row
            .cells
            .iter()
            .map(|cell| {
                let TableRowChild::TableCell(cell) = cell;
                cell.children
                    .iter()
                    .filter_map(|c| match c {
                        TableCellContent::Paragraph(p) => Some(paragraph_text(p)),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
                    .trim()
                    .to_string()
            })
            .collect();
        if cells.iter().any(|c| !c.is_empty()) {
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
    }
    out.push('\n');
}
