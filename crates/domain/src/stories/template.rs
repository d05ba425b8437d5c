//! A draft without a language model: the requirements fill the Connextra template ("As a
//! ⟨role⟩, I want ⟨means⟩, so that ⟨end⟩") when they say who wants what, each further
//! requirement sentence becomes the outcome of a Given/When/Then skeleton, and the contexts the retrieval found are listed
//! in the description as the sources to read. [`refine`] applies the fixes a rule can make
//! without understanding the text (drops vague words, splits an "and" into its own story).

use super::rules::{VAGUE_TERMS, connextra};
use super::{StoryFormat, StoryParts};

/// A context the retrieval found for the requirements: listed in the draft as a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    pub title: String,
    /// Where to read it: a Jira key, a file path, a context id.
    pub reference: String,
}

/// The sentences of `text` (split at `.`, `!`, `?`, `;` and line breaks), trimmed, non-empty.
fn sentences(text: &str) -> Vec<String> {
    text.split(['.', '!', '?', ';', '\n'])
        .map(|s| s.trim().trim_start_matches(['-', '*', ' ']).trim().to_string())
        .filter(|s| s.split_whitespace().count() >= 2)
        .collect()
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// At most `max` characters, cut at a word.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    if let Some(space) = out.rfind(' ') {
        out.truncate(space);
    }
    format!("{out}…")
}

/// The draft the template makes of `requirements` for `format`, citing `related`.
pub fn draft(requirements: &str, format: StoryFormat, related: &[Related]) -> StoryParts {
    let sentences = sentences(requirements);
    let first = sentences.first().cloned().unwrap_or_else(|| requirements.trim().to_string());
    let summary = match format {
        StoryFormat::Story => match connextra(&first) {
            Some(_) => cut(&first, 250),
            None => {
                let (role, means) = match who_wants(&first) {
                    Some((role, means)) => (role, means),
                    None => ("a user".to_string(), wanted(&first)),
                };
                cut(&format!("As {role}, I want {means}, so that ⟨the benefit⟩"), 250)
            }
        },
        _ => cut(&capitalised(&first), 250),
    };
    let criteria: Vec<String> = sentences
        .iter()
        .skip(usize::from(connextra(&first).is_some()))
        .take(8)
        .map(|s| format!("Given ⟨the starting state⟩, when ⟨the action⟩, then {}", lower_first(s)))
        .collect();
    let criteria = if criteria.is_empty() {
        vec![
            "Given ⟨the starting state⟩, when ⟨the action⟩, then ⟨what can be observed⟩"
                .to_string(),
        ]
    } else {
        criteria
    };
    let mut description = format!("## Requirements\n\n{}\n", requirements.trim());
    if !related.is_empty() {
        description.push_str("\n## Related context\n\n");
        for r in related {
            description.push_str(&format!("- {} ({})\n", r.title, r.reference));
        }
    }
    description.push_str("\n_Drafted from a template: fill in the parts in angle brackets._\n");
    StoryParts {
        format,
        summary,
        description,
        acceptance_criteria: criteria,
        labels: Vec::new(),
        estimate: None,
    }
}

/// Who wants what, when a requirement says it in plain words: "Support agents need to see
/// failed webhooks" is a support agent wanting "to see failed webhooks". The role gets its
/// article ("a support agent", "an admin", "the finance team" as it is).
fn who_wants(requirement: &str) -> Option<(String, String)> {
    const MARKERS: [(&str, bool); 7] = [
        (" need to ", true),
        (" want to ", true),
        (" needs to ", false),
        (" wants to ", false),
        (" would like to ", false),
        (" should be able to ", false),
        (" must be able to ", false),
    ];
    let lower = requirement.to_lowercase();
    let (at, marker, plural) = MARKERS
        .iter()
        .filter_map(|(m, plural)| lower.find(m).map(|at| (at, *m, *plural)))
        .min_by_key(|(at, ..)| *at)?;
    let role = requirement[..at].trim();
    let means = requirement[at + marker.len()..].trim();
    if role.is_empty() || means.is_empty() || role.split_whitespace().count() > 5 {
        return None;
    }
    let mut role = lower_first(role);
    // "Support agents need to" names one of them: "a support agent". ("should be able to"
    // does not say, so a plural role stays plural there only if it reads as one.)
    let bare = !starts_with_determiner(&role);
    if bare
        && (plural || marker.contains(" be able "))
        && role.ends_with('s')
        && !role.ends_with("ss")
    {
        role.pop();
    }
    // "Finance needs to …" is a department, not one of many: "the finance team".
    const TEAMS: [&str; 14] = [
        "finance",
        "support",
        "sales",
        "marketing",
        "legal",
        "security",
        "ops",
        "operations",
        "engineering",
        "product",
        "accounting",
        "billing",
        "compliance",
        "hr",
    ];
    let role = if bare && TEAMS.contains(&role.to_lowercase().as_str()) {
        format!("the {} team", role.to_lowercase())
    } else if bare {
        let article = if role.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {role}")
    } else {
        role
    };
    Some((role, format!("to {means}")))
}

fn starts_with_determiner(phrase: &str) -> bool {
    let first = phrase.split_whitespace().next().unwrap_or_default().to_lowercase();
    ["a", "an", "the", "my", "our", "their", "every", "each", "all"].contains(&first.as_str())
}

/// What the user wants, as the template's object: "to rotate the keys" for an action, "a
/// report" for a thing.
fn wanted(requirement: &str) -> String {
    let first_word = requirement.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
    let determiners = ["a", "an", "the", "my", "our", "their", "every", "each", "to"];
    let text = lower_first(requirement);
    if determiners.contains(&first_word.as_str()) { text } else { format!("to {text}") }
}

fn lower_first(s: &str) -> String {
    // Acronyms and identifiers ("API keys", "OAuth") keep their case.
    let first_word = s.split_whitespace().next().unwrap_or_default();
    let keep = first_word.chars().count() > 1 && first_word.chars().skip(1).any(char::is_uppercase);
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if !keep => c.to_lowercase().chain(chars).collect(),
        Some(c) => std::iter::once(c).chain(chars).collect(),
        None => String::new(),
    }
}

/// The fixes that need no understanding: vague words are removed from the summary and the
/// criteria' outcomes, and a story whose means joins two features with "and" keeps the first
/// (the second is returned, to become a story of its own).
pub fn refine(story: &StoryParts) -> (StoryParts, Option<String>) {
    let mut out = story.clone();
    out.summary = without_vague_terms(&out.summary);
    out.acceptance_criteria =
        out.acceptance_criteria.iter().map(|c| without_vague_terms(c)).collect();
    let mut split_off = None;
    if story.format == StoryFormat::Story
        && let Some(parts) = connextra(&out.summary)
        && let Some(at) = parts.means.find(" and ")
    {
        let (kept, rest) = (&parts.means[..at], &parts.means[at + 5..]);
        let end = parts.end.map(|e| format!(", so that {e}")).unwrap_or_default();
        split_off = Some(format!("As a {}, I want {rest}{end}", parts.role));
        out.summary = format!("As a {}, I want {kept}{end}", parts.role);
    }
    (out, split_off)
}

fn without_vague_terms(text: &str) -> String {
    let is_vague = |w: &str| {
        let bare = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-').to_ascii_lowercase();
        VAGUE_TERMS.contains(&bare.as_str())
    };
    let mut out: Vec<String> = Vec::new();
    // The index of an article whose next word was dropped: it must agree with the new one.
    let mut article: Option<usize> = None;
    for word in text.split(' ') {
        if is_vague(word) {
            if matches!(out.last().map(String::as_str), Some("a" | "an")) {
                article = Some(out.len() - 1);
            }
            continue;
        }
        if let Some(i) = article.take() {
            let vowel = word.chars().next().is_some_and(|c| "aeiouAEIOU".contains(c));
            out[i] = if vowel { "an" } else { "a" }.to_string();
        }
        out.push(word.to_string());
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::super::rules::{Severity, check};
    use super::*;

    #[test]
    fn plain_requirements_fill_the_template() {
        let related =
            [Related { title: "PAY-7: Keys leaked in logs".into(), reference: "PAY-7".into() }];
        let d = draft(
            "Rotate the Stripe API keys every Friday. Old keys stop working after an hour.",
            StoryFormat::Story,
            &related,
        );
        assert_eq!(
            d.summary,
            "As a user, I want to rotate the Stripe API keys every Friday, so that ⟨the benefit⟩"
        );
        assert_eq!(d.acceptance_criteria.len(), 2);
        assert!(
            d.acceptance_criteria[1]
                == "Given ⟨the starting state⟩, when ⟨the action⟩, then old keys stop working after an hour"
        );
        assert!(d.description.contains("- PAY-7: Keys leaked in logs (PAY-7)"));
        // The template draft's only errors are the slots it leaves for a person to fill.
        let errors: Vec<_> =
            check(&d).into_iter().filter(|f| f.severity == Severity::Error).collect();
        assert!(!errors.is_empty());
        assert!(
            errors.iter().all(|f| f.excerpt.as_deref().is_some_and(|e| e.starts_with('⟨'))),
            "{errors:?}"
        );
    }

    #[test]
    fn a_story_sentence_is_kept_and_the_rest_become_criteria() {
        let d = draft(
            "As an admin, I want to export invoices, so that accounting closes the month. Exports include VAT.",
            StoryFormat::Story,
            &[],
        );
        assert_eq!(
            d.summary,
            "As an admin, I want to export invoices, so that accounting closes the month"
        );
        assert_eq!(d.acceptance_criteria.len(), 1);
        let thing = draft("A monthly invoice report for the finance team", StoryFormat::Story, &[]);
        assert!(
            thing.summary.starts_with("As a user, I want a monthly invoice report"),
            "{}",
            thing.summary
        );
        let t = draft("fix the login redirect", StoryFormat::Bug, &[]);
        assert_eq!(t.summary, "Fix the login redirect");
    }

    #[test]
    fn refining_drops_vague_words_and_splits_an_and() {
        let story = StoryParts {
            format: StoryFormat::Story,
            summary: "As a user, I want a fast export and a PDF print, so that I can file taxes"
                .into(),
            description: String::new(),
            acceptance_criteria: vec!["Given data, when I export, then it is quick".into()],
            labels: vec![],
            estimate: Some(3),
        };
        let (refined, split) = refine(&story);
        assert_eq!(refined.summary, "As a user, I want an export, so that I can file taxes");
        assert_eq!(
            split.as_deref(),
            Some("As a user, I want a PDF print, so that I can file taxes")
        );
        assert_eq!(refined.acceptance_criteria[0], "Given data, when I export, then it is");
        assert_eq!(
            without_vague_terms("an hour, an easy test, a efficient run"),
            "an hour, a test, a run"
        );
    }

    #[test]
    fn plain_words_say_who_wants_what() {
        let summary = |r: &str| draft(r, StoryFormat::Story, &[]).summary;
        assert_eq!(
            summary("Support agents need to see failed webhooks with their last error."),
            "As a support agent, I want to see failed webhooks with their last error, so that ⟨the benefit⟩"
        );
        assert_eq!(
            summary("The finance team needs to export invoices as CSV"),
            "As the finance team, I want to export invoices as CSV, so that ⟨the benefit⟩"
        );
        assert_eq!(
            summary("Admins should be able to revoke any key"),
            "As an admin, I want to revoke any key, so that ⟨the benefit⟩"
        );
        assert_eq!(
            summary("Finance needs to export the monthly invoices as CSV."),
            "As the finance team, I want to export the monthly invoices as CSV, so that ⟨the benefit⟩"
        );
        assert_eq!(
            summary("Rotate the keys every Friday"),
            "As a user, I want to rotate the keys every Friday, so that ⟨the benefit⟩"
        );
    }
}
