//! The text methods the AI features fall back on without a language model: splitting text
//! into sentences (lines, for code and lists), the share of a query's words a sentence covers
//! (the words themselves come from [`crate::words`]), cosine similarity, the centroid score of
//! sentence vectors (Rossiello et al. 2017) and maximal marginal relevance (Carbonell &
//! Goldstein 1998) to pick sentences that are relevant and not repeats of one another. Pure
//! functions; the services feed them vectors from the local model.

use std::collections::HashSet;

use crate::views::Span;

/// Shorter fragments are headings, list markers or code punctuation, not sentences.
const MIN_SENTENCE_CHARS: usize = 12;
/// Longer sentences are cut at a word boundary, so one run-on paragraph cannot fill an answer.
const MAX_SENTENCE_CHARS: usize = 400;

/// The sentences of `text`, as byte ranges, in order. A sentence ends at `.`, `!` or `?`
/// followed by white space, or at a line break (code, lists and headings are line-shaped)
/// unless the next line carries on a wrapped sentence ([`continues`]); fragments too short to
/// say anything are left out.
pub(crate) fn sentences(text: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut line_start = 0;
    let mut chars = text.char_indices().peekable();
    let mut previous = ' ';
    while let Some((i, c)) = chars.next() {
        let next_is_space = chars.peek().is_none_or(|&(_, n)| n.is_whitespace());
        // A stop ends a word ("day!", "(v2)."), unlike the `!` of a `//!` comment.
        let after_word = previous.is_alphanumeric() || matches!(previous, ')' | '"' | '\'' | '`');
        previous = c;
        let end = match c {
            '\n' => {
                let next_line = text[i + 1..].split('\n').next().unwrap_or("");
                let wrapped = continues(&text[line_start..i], next_line);
                line_start = i + 1;
                (!wrapped).then_some(i)
            }
            '.' | '!' | '?' if next_is_space && after_word => Some(i + c.len_utf8()),
            _ => None,
        };
        if let Some(end) = end {
            push_sentence(text, start, end, &mut out);
            start = end;
        }
    }
    push_sentence(text, start, text.len(), &mut out);
    out
}

/// What a comment or quotation repeats at the start of each of its lines.
const LINE_MARKERS: &[&str] = &["///", "//!", "//", "#", "--", ">", "*"];

/// `line`'s marker (empty when none) and its text after it, trimmed.
fn split_marker(line: &str) -> (&'static str, &str) {
    let t = line.trim_start();
    for &m in LINE_MARKERS {
        if let Some(rest) = t.strip_prefix(m) {
            return (m, rest.trim());
        }
    }
    ("", t.trim())
}

/// Whether `next` carries on a sentence that `line` leaves open, as a paragraph or a comment
/// wrapped at a fixed width does: the same marker on both lines (`///`, `#`, an indented `*` of
/// a block comment, none), `line` ending mid-sentence and `next` opening in lower case. Two lines
/// of code (`;`, braces, `=`) or two list items never make one sentence; a list item is carried
/// on only by an indented line.
fn continues(line: &str, next: &str) -> bool {
    let ((m1, a), (m2, b)) = (split_marker(line), split_marker(next));
    if m1 != m2 || a.is_empty() || b.is_empty() {
        return false;
    }
    // A `*` that is not indented is a Markdown bullet, not a block comment's margin.
    if m1 == "*"
        && !(line.starts_with(char::is_whitespace) && next.starts_with(char::is_whitespace))
    {
        return false;
    }
    let (last, first) = (a.chars().last(), b.chars().next());
    let open = last.is_some_and(|c| c.is_alphanumeric() || matches!(c, ',' | ')' | '`' | '"'));
    let carried = first.is_some_and(|c| c.is_lowercase() || matches!(c, '(' | '`'));
    let code = m1.is_empty() && [a, b].iter().any(|l| l.contains([';', '{', '}', '=']));
    // A list item's wrapped text is indented under it.
    let item = a.starts_with("- ")
        || a.starts_with("+ ")
        || a.split_once(". ")
            .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    let indented = next.starts_with(char::is_whitespace);
    open && carried && !code && (!item || indented)
}

/// The text of a sentence for reading: a wrapped sentence's lines joined by spaces, without the
/// comment markers and indentation they repeat.
pub(crate) fn sentence_text(text: &str, span: Span) -> String {
    text[span.start..span.end]
        .lines()
        .map(|line| split_marker(line).1)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn push_sentence(text: &str, start: usize, end: usize, out: &mut Vec<Span>) {
    let raw = &text[start..end];
    let lead = raw.len() - raw.trim_start().len();
    let trimmed = raw.trim();
    let (start, mut end) = (start + lead, start + lead + trimmed.len());
    if trimmed.chars().count() < MIN_SENTENCE_CHARS
        || trimmed.chars().filter(|c| c.is_alphanumeric()).count() < MIN_SENTENCE_CHARS / 2
    {
        return;
    }
    if end - start > MAX_SENTENCE_CHARS {
        let mut cut = start + MAX_SENTENCE_CHARS;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        end = text[start..cut].rfind(char::is_whitespace).map_or(cut, |w| start + w);
    }
    out.push(Span { start, end });
}

/// The share of `query`'s terms that `sentence` contains, 0–1.
pub(crate) fn coverage(query: &HashSet<String>, sentence: &HashSet<String>) -> f32 {
    if query.is_empty() {
        return 0.0;
    }
    query.intersection(sentence).count() as f32 / query.len() as f32
}

/// Jaccard similarity of two term sets: the stand-in for cosine when no vectors exist.
pub(crate) fn jaccard(a: &HashSet<String>, b: &HashSet<String>) -> f32 {
    let union = a.union(b).count();
    if union == 0 { 0.0 } else { a.intersection(b).count() as f32 / union as f32 }
}

pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let d = norm(a) * norm(b);
    if d == 0.0 { 0.0 } else { dot / d }
}

/// Each vector's cosine similarity to the mean of all of them: how central a sentence is to
/// the text it came from.
pub(crate) fn centroid_scores(vectors: &[Vec<f32>]) -> Vec<f32> {
    let Some(dim) = vectors.first().map(Vec::len) else { return Vec::new() };
    let mut mean = vec![0.0f32; dim];
    for v in vectors {
        for (m, x) in mean.iter_mut().zip(v) {
            *m += x;
        }
    }
    vectors.iter().map(|v| cosine(v, &mean)).collect()
}

/// Maximal marginal relevance: up to `k` indices, each the best trade of its own `relevance`
/// against its greatest `similarity` to those already picked (`lambda` = 1 is relevance
/// alone). Candidates scoring below `floor` are never picked.
pub(crate) fn mmr(
    relevance: &[f32],
    similarity: impl Fn(usize, usize) -> f32,
    k: usize,
    lambda: f32,
    floor: f32,
) -> Vec<usize> {
    let mut picked: Vec<usize> = Vec::new();
    while picked.len() < k {
        let best = (0..relevance.len())
            .filter(|i| !picked.contains(i) && relevance[*i] >= floor)
            .map(|i| {
                let redundancy = picked.iter().map(|&j| similarity(i, j)).fold(0.0, f32::max);
                (i, lambda * relevance[i] - (1.0 - lambda) * redundancy)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        match best {
            Some((i, _)) => picked.push(i),
            None => break,
        }
    }
    picked
}

/// Words that open a sentence by leaning on the one before; a bullet stands alone.
const CONNECTIVES: &[&str] = &[
    "also",
    "and",
    "but",
    "finally",
    "furthermore",
    "however",
    "moreover",
    "so",
    "then",
    "therefore",
    "thus",
    "additionally",
    "besides",
];

/// `sentence` without a leading connective ("However, the …" → "The …").
pub(crate) fn without_connective(sentence: &str) -> String {
    let trimmed = sentence.trim_start_matches(|c: char| c == '-' || c == '*' || c.is_whitespace());
    let first = trimmed.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("");
    if CONNECTIVES.contains(&first.to_lowercase().as_str()) {
        let rest = trimmed[first.len()..].trim_start_matches([',', ' ']);
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            return c.to_uppercase().chain(chars).collect();
        }
    }
    trimmed.to_string()
}

/// Words in `text`.
pub(crate) fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'a>(text: &'a str, spans: &[Span]) -> Vec<&'a str> {
        spans.iter().map(|s| &text[s.start..s.end]).collect()
    }

    #[test]
    fn sentences_end_at_stops_and_lines_and_skip_fragments() {
        let text = "Deploys run on Tuesdays. Hotfixes may go out any day!\n\n## Notes\n\
                    - rollback with `make rollback` first\nv1.2 is the version. ok.";
        assert_eq!(
            texts(text, &sentences(text)),
            vec![
                "Deploys run on Tuesdays.",
                "Hotfixes may go out any day!",
                "- rollback with `make rollback` first",
                "v1.2 is the version.",
            ]
        );
    }

    #[test]
    fn wrapped_sentences_are_one_sentence_and_read_without_their_markers() {
        let code = "//! Search that degrades: with the model down (an\n//! error, or no answer in \
                    time) it answers from keywords.\n//! Saves are kept.\nfn main() {\n    \
                    let value = compute(input);\n    run_the_job(value)\n}\n";
        let spans = sentences(code);
        let read: Vec<String> = spans.iter().map(|&s| sentence_text(code, s)).collect();
        assert_eq!(
            read,
            vec![
                "Search that degrades: with the model down (an error, or no answer in time) it \
                 answers from keywords.",
                "Saves are kept.",
                "let value = compute(input);",
                "run_the_job(value)",
            ]
        );
        let prose = "The backup runs nightly and is kept\nfor thirty days.\n* first item here\n\
                     * second item here\n  * a block comment that is\n  * wrapped in two lines";
        let read: Vec<String> = sentences(prose).iter().map(|&s| sentence_text(prose, s)).collect();
        assert_eq!(
            read,
            vec![
                "The backup runs nightly and is kept for thirty days.",
                "first item here",
                "second item here",
                "a block comment that is wrapped in two lines",
            ]
        );
    }

    #[test]
    fn long_sentences_are_cut_at_a_word_and_spans_stay_on_char_boundaries() {
        let text = "é".repeat(10) + " " + &"word ".repeat(200);
        let spans = sentences(&text);
        assert_eq!(spans.len(), 1);
        let s = &text[spans[0].start..spans[0].end];
        assert!(s.len() <= MAX_SENTENCE_CHARS && !s.ends_with(' '), "{s:?}");
    }

    #[test]
    fn mmr_prefers_a_relevant_sentence_that_says_something_new() {
        // 0 and 1 say the same thing; 2 is a little less relevant but different.
        let relevance = [0.9, 0.88, 0.7, 0.1];
        let sim = |i: usize, j: usize| if i + j == 1 { 0.95 } else { 0.1 };
        assert_eq!(mmr(&relevance, sim, 2, 0.7, 0.0), vec![0, 2]);
        assert_eq!(mmr(&relevance, sim, 5, 0.7, 0.5), vec![0, 2, 1], "the floor keeps 3 out");
    }

    #[test]
    fn centroid_scores_rank_the_typical_vector_first() {
        let v = vec![vec![1.0, 0.0], vec![0.9, 0.1], vec![0.0, 1.0]];
        let s = centroid_scores(&v);
        assert!(s[0] > s[2] && s[1] > s[2]);
    }

    #[test]
    fn connectives_are_trimmed_from_bullets() {
        assert_eq!(without_connective("However, the key expires."), "The key expires.");
        assert_eq!(without_connective("- Also rotate it"), "Rotate it");
        assert_eq!(without_connective("Alsoran is a word"), "Alsoran is a word");
    }
}
