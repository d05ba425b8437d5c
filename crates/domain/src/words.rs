//! The words of a text that carry meaning: lowercased, English-stemmed (so "deploys" and
//! "deploying" are one word), stopwords dropped, identifiers kept whole. The extractive AI
//! methods compare texts by them, and the dashboard marks a query's words in results with them.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

/// Words too common to say what a sentence is about.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been",
    "before", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has",
    "have", "how", "i", "if", "in", "into", "is", "it", "its", "may", "me", "more", "must", "my",
    "no", "not", "of", "on", "or", "our", "should", "so", "than", "that", "the", "their", "them",
    "then", "there", "these", "they", "this", "to", "was", "we", "were", "what", "when", "where",
    "which", "who", "why", "will", "with", "would", "you", "your",
];

fn stem(lowercase: &str) -> String {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English)).stem(lowercase).into_owned()
}

/// The words of `text` that carry meaning, lowercased and stemmed: letters and digits
/// (identifiers keep their underscores and are not stemmed), two characters or more, not
/// stopwords.
pub fn terms(text: &str) -> HashSet<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.chars().count() >= 2)
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| if w.contains('_') { w } else { stem(&w) })
        .collect()
}

/// Where the words of `query` occur in `text`, as byte ranges in order: whole words that stem
/// alike ("rotation" for "rotate"), identifiers named whole, and the parts of identifiers
/// (`drain_embedding_backlog`, `embeddingBacklog`) that are query words. Stopwords are not
/// looked for unless the query has nothing else; a word never matches inside another word
/// ("the" is not found in "them").
pub fn occurrences(text: &str, query: &str) -> Vec<Range<usize>> {
    // An identifier in the query also looks for its parts.
    let mut wanted = terms(query);
    wanted.extend(terms(&query.replace('_', " ")));
    let only_stopwords = wanted.is_empty();
    let matches = |word: &str| {
        let lower = word.to_lowercase();
        word.chars().count() >= 2
            && if only_stopwords {
                query.to_lowercase().split(|c: char| !c.is_alphanumeric()).any(|q| q == lower)
            } else {
                !STOPWORDS.contains(&lower.as_str()) && wanted.contains(&stem(&lower))
            }
    };
    let mut out = Vec::new();
    for token in tokens(text, |c| c.is_alphanumeric() || c == '_') {
        let word = &text[token.clone()];
        if word.contains('_') && wanted.contains(&word.to_lowercase()) {
            out.push(token);
            continue;
        }
        for part in identifier_parts(word) {
            if matches(&word[part.clone()]) {
                out.push(token.start + part.start..token.start + part.end);
            }
        }
    }
    out
}

/// The maximal runs of characters that satisfy `keep`, as byte ranges.
fn tokens(text: &str, keep: impl Fn(char) -> bool) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (keep(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(s..text.len());
    }
    out
}

/// The words of an identifier, as byte ranges: split at underscores and where a lower-case
/// letter is followed by an upper-case one (`embeddingBacklog`).
fn identifier_parts(word: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for part in tokens(word, |c| c != '_') {
        let mut start = part.start;
        let mut previous: Option<char> = None;
        for (i, c) in word[part.clone()].char_indices() {
            if previous.is_some_and(char::is_lowercase) && c.is_uppercase() {
                out.push(start..part.start + i);
                start = part.start + i;
            }
            previous = Some(c);
        }
        out.push(start..part.end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_drop_stopwords_and_keep_identifiers() {
        let t = terms("How do we rotate the STRIPE_SIGNING_SECRET in Stripe deployments?");
        let mut t: Vec<_> = t.into_iter().collect();
        t.sort();
        assert_eq!(t, vec!["deploy", "rotat", "stripe", "stripe_signing_secret"]);
        assert_eq!(terms("Deploys"), terms("deploying"));
    }

    fn found<'a>(text: &'a str, query: &str) -> Vec<&'a str> {
        occurrences(text, query).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn whole_words_are_found_by_stem_and_never_inside_other_words() {
        assert_eq!(
            found("Rotate them; the rotation of the Stripe keys", "how is the stripe rotated"),
            vec!["Rotate", "rotation", "Stripe"]
        );
        assert_eq!(found("é café é", "café"), vec!["café"]);
        assert!(found("nothing here", "x").is_empty());
    }

    #[test]
    fn identifiers_are_found_whole_and_by_their_parts() {
        let code = "fn drain_embedding_backlog() { self.embeddingBacklog.drain() }";
        assert_eq!(
            found(code, "how is the embedding backlog drained"),
            vec!["drain", "embedding", "backlog", "embedding", "Backlog", "drain"]
        );
        assert_eq!(
            found(code, "drain_embedding_backlog"),
            vec!["drain_embedding_backlog", "embedding", "Backlog", "drain"]
        );
        assert_eq!(
            found(code, "embedding_backlog"),
            vec!["embedding", "backlog", "embedding", "Backlog"]
        );
    }

    #[test]
    fn a_query_of_stopwords_finds_them() {
        assert_eq!(
            found("What it is, and what it was", "what is it"),
            vec!["What", "it", "is", "what", "it"]
        );
    }
}
