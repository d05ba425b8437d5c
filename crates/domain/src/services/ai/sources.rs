//! Retrieval for the AI features: the caller's best contexts for a question, numbered as
//! sources an answer cites, and the citations of an answer kept only where they name a
//! source that exists.

use uuid::Uuid;

use super::super::Services;
use crate::caller::Caller;
use crate::error::DomainResult;
use crate::views::{SearchRequest, SearchResult, SourceView, Span};

/// How analytics records retrievals made for an answer.
const RETRIEVED_BY: &str = "teamcontext_ai";
/// Characters of a source's text a model is shown.
pub(crate) const PROMPT_CHARS_PER_SOURCE: usize = 1_500;
/// Characters of a source's snippet in a response.
const SNIPPET_CHARS: usize = 300;

/// A source with the text an answer is built from.
#[derive(Debug, Clone)]
pub(crate) struct Retrieved {
    pub view: SourceView,
    pub content: String,
    /// The passage the search matched, when it matched by meaning.
    pub passage: Option<Span>,
}

impl Services {
    /// The caller's `top_k` best contexts for `question`, numbered from 1, by the default
    /// (hybrid) search with its calibrated threshold.
    pub(crate) async fn retrieve_sources(
        &self,
        caller: &Caller,
        question: &str,
        project_ids: Option<Vec<Uuid>>,
        top_k: u32,
    ) -> DomainResult<Vec<Retrieved>> {
        let found = self
            .search(
                caller,
                SearchRequest {
                    query: Some(question.to_string()),
                    project_ids,
                    limit: Some(top_k),
                    retrieved_by: Some(RETRIEVED_BY.into()),
                    ..SearchRequest::default()
                },
            )
            .await?;
        Ok(found.results.into_iter().enumerate().map(|(i, r)| retrieved(i + 1, r)).collect())
    }
}

fn retrieved(n: usize, r: SearchResult) -> Retrieved {
    let passage = r.passage.as_ref().map(|p| Span { start: p.start, end: p.end });
    let snippet = match &r.passage {
        Some(p) => clip(&p.text, SNIPPET_CHARS),
        None => clip(&r.content, SNIPPET_CHARS),
    };
    Retrieved {
        view: SourceView {
            n,
            context_id: r.id,
            project_id: r.project_id,
            title: title_of(&r.metadata, &r.content),
            source: r.metadata.get("source").and_then(|s| s.as_str()).unwrap_or("").to_string(),
            score: r.score,
            snippet,
            highlights: Vec::new(),
        },
        content: r.content,
        passage,
    }
}

/// What to call a context: its `title`, else its file path, else its first line.
pub(crate) fn title_of(metadata: &serde_json::Value, content: &str) -> String {
    let field = |k: &str| metadata.get(k).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
    match field("title").or_else(|| field("file_path")) {
        Some(t) => t.to_string(),
        None => clip(content.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim(), 80),
    }
}

/// At most `max` characters of `text`, cut at a word and marked with "…" when cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(w) if w > max / 2 => &cut[..w],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end())
}

/// `answer` with every citation `[k]` (or `[k, m]`) of a source outside 1..=`sources`
/// removed, and the sources it cites, in order of first citation.
pub(crate) fn keep_valid_citations(answer: &str, sources: usize) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(answer.len());
    let mut cited = Vec::new();
    let mut rest = answer;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let inner = after.find(']').map(|close| &after[..close]);
        let numbers: Option<Vec<usize>> = inner
            .and_then(|inner| inner.split(',').map(|n| n.trim().parse::<usize>().ok()).collect());
        match (inner, numbers) {
            (Some(inner), Some(numbers)) if !numbers.is_empty() => {
                let valid: Vec<usize> =
                    numbers.into_iter().filter(|n| (1..=sources).contains(n)).collect();
                for n in &valid {
                    if !cited.contains(n) {
                        cited.push(*n);
                    }
                }
                if !valid.is_empty() {
                    let list: Vec<String> = valid.iter().map(|n| n.to_string()).collect();
                    out.push_str(&format!("[{}]", list.join(", ")));
                } else if out.ends_with(' ') {
                    // "… true [9]." reads "… true." once the citation is gone.
                    out.pop();
                }
                rest = &after[inner.len() + 1..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out, cited)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citations_outside_the_sources_are_dropped() {
        let (text, cited) =
            keep_valid_citations("Deploy on Tuesdays [2]. Never on Fridays [7]. Both [1, 9].", 3);
        assert_eq!(text, "Deploy on Tuesdays [2]. Never on Fridays. Both [1].");
        assert_eq!(cited, vec![2, 1]);
    }

    #[test]
    fn brackets_that_are_not_citations_stay() {
        let (text, cited) = keep_valid_citations("let v = a[i]; see [docs] and [0x1] [", 2);
        assert_eq!(text, "let v = a[i]; see [docs] and [0x1] [");
        assert!(cited.is_empty());
    }

    #[test]
    fn titles_fall_back_to_the_path_then_the_first_line() {
        let meta = serde_json::json!({"file_path": "src/deploy.rs"});
        assert_eq!(title_of(&meta, "fn main() {}"), "src/deploy.rs");
        assert_eq!(title_of(&serde_json::json!({}), "\n  Deploys  \nmore"), "Deploys");
        assert_eq!(clip("one two three four", 9), "one two…");
    }
}
