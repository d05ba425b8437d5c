//! The checks a story draft gets without a language model: the quality criteria of the QUS
//! framework as the AQUSA tool applies them (well-formed, atomic, minimal, unambiguous, full
//! sentence, estimable; Lucassen et al., 2016) and INVEST heuristics (independent, valuable,
//! small, testable). Each finding names its rule, a severity, the text it is about and a fix.
//! "Unique" (no duplicate of an open issue) needs a search and is checked by the service.

use serde::{Deserialize, Serialize};

use super::{StoryFormat, StoryParts};

/// How much a finding matters: `error` blocks a good story, `warning` weakens it, `info` is a
/// suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `well_formed`, `atomic`, `minimal`, `unambiguous`, `full_sentence`, `estimable`,
    /// `independent`, `valuable`, `small`, `testable`.
    pub rule: &'static str,
    pub severity: Severity,
    /// Where: `summary`, `description`, `acceptance_criteria[i]`, `estimate`.
    pub field: String,
    /// The words the finding is about, when there are some.
    pub excerpt: Option<String>,
    pub message: String,
    pub suggestion: String,
}

/// Words that leave a reader to guess (AQUSA's vague-term list, and kin).
pub const VAGUE_TERMS: &[&str] = &[
    "fast",
    "quick",
    "quickly",
    "easy",
    "easily",
    "simple",
    "user-friendly",
    "user friendly",
    "intuitive",
    "efficient",
    "efficiently",
    "appropriate",
    "appropriately",
    "adequate",
    "flexible",
    "robust",
    "seamless",
    "seamlessly",
    "etc",
    "and so on",
    "some",
    "several",
    "many",
    "various",
    "as needed",
    "if possible",
    "as appropriate",
    "better",
    "improved",
    "optimal",
    "optimized",
    "nice",
    "good",
    "modern",
    "scalable",
];

/// Phrases that tie a story to another one.
const DEPENDENCIES: &[&str] =
    &["depends on", "blocked by", "after story", "once story", "requires story", "after the other"];

/// Beyond these a story is probably an epic: split it.
pub const MAX_POINTS: u32 = 8;
pub const MAX_CRITERIA: usize = 8;
pub const MAX_SUMMARY_CHARS: usize = 255;

/// The parts of a Connextra story: "As a ⟨role⟩, I want ⟨means⟩(, so that ⟨end⟩)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connextra<'a> {
    pub role: &'a str,
    pub means: &'a str,
    pub end: Option<&'a str>,
}

/// Splits a story sentence into role, means and end; `None` when it does not follow the template.
pub fn connextra(text: &str) -> Option<Connextra<'_>> {
    let lower = text.to_ascii_lowercase();
    let start = ["as an ", "as a ", "as the "]
        .iter()
        .find_map(|p| lower.starts_with(p).then_some(p.len()))?;
    let want_at = [
        "i want to ",
        "i want ",
        "i need to ",
        "i need ",
        "i would like to ",
        "i'd like to ",
        "i can ",
    ]
    .iter()
    .filter_map(|w| lower.find(w).map(|i| (i, w.len())))
    .min_by_key(|(i, _)| *i)?;
    let role = text[start..want_at.0].trim().trim_end_matches(',').trim();
    let rest = &text[want_at.0 + want_at.1..];
    let rest_lower = &lower[want_at.0 + want_at.1..];
    let (means, end) = match rest_lower.find("so that ") {
        Some(i) => (
            rest[..i].trim().trim_end_matches(',').trim(),
            Some(rest[i + 8..].trim().trim_end_matches('.').trim()),
        ),
        None => (rest.trim().trim_end_matches('.').trim(), None),
    };
    if role.is_empty() || means.is_empty() {
        return None;
    }
    Some(Connextra { role, means, end: end.filter(|e| !e.is_empty()) })
}

/// The template's ⟨…⟩ slots left unfilled: a story that still holds one is not finished.
fn placeholders(story: &StoryParts, out: &mut Vec<Finding>) {
    let slot = |text: &str| {
        let start = text.find('⟨')?;
        let end = text[start..].find('⟩').map_or(text.len(), |e| start + e + '⟩'.len_utf8());
        Some(text[start..end].to_string())
    };
    if let Some(s) = slot(&story.summary) {
        out.push(finding(
            "well_formed",
            Severity::Error,
            "summary",
            Some(&s),
            format!("the template's {s} is not filled in"),
            "Replace it with what the story is for.",
        ));
    }
    if let Some(s) = slot(&story.description) {
        out.push(finding(
            "full_sentence",
            Severity::Warning,
            "description",
            Some(&s),
            format!("the template's {s} is not filled in"),
            "Replace it, or remove the sentence.",
        ));
    }
    for (i, c) in story.acceptance_criteria.iter().enumerate() {
        if let Some(s) = slot(c) {
            out.push(finding(
                "testable",
                Severity::Error,
                &format!("acceptance_criteria[{i}]"),
                Some(&s),
                format!("the criterion's {s} is not filled in, so it cannot be checked"),
                "Name the starting state, the action and the outcome a tester can observe.",
            ));
        }
    }
}

fn finding(
    rule: &'static str,
    severity: Severity,
    field: &str,
    excerpt: Option<&str>,
    message: String,
    suggestion: &str,
) -> Finding {
    Finding {
        rule,
        severity,
        field: field.to_string(),
        excerpt: excerpt.map(str::to_string),
        message,
        suggestion: suggestion.to_string(),
    }
}

/// Whole-word occurrences of `term` in `text`, ignoring ASCII case.
fn has_term(text: &str, term: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find(term) {
        let start = from + at;
        let end = start + term.len();
        let before = lower[..start].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let after = lower[end..].chars().next().is_none_or(|c| !c.is_alphanumeric());
        if before && after {
            return true;
        }
        from = end;
    }
    false
}

/// Every rule that needs no model, in the order a reader meets the parts.
pub fn check(story: &StoryParts) -> Vec<Finding> {
    let mut out = Vec::new();
    let summary = story.summary.trim();
    if summary.is_empty() {
        out.push(finding(
            "full_sentence",
            Severity::Error,
            "summary",
            None,
            "the summary is empty".into(),
            "Write what the issue is about in one sentence.",
        ));
        return out;
    }
    if summary.chars().count() > MAX_SUMMARY_CHARS {
        out.push(finding(
            "minimal",
            Severity::Error,
            "summary",
            None,
            format!("the summary is longer than Jira's {MAX_SUMMARY_CHARS} characters"),
            "Keep the story sentence in the summary and move the details to the description.",
        ));
    }
    match story.format {
        StoryFormat::Story => story_rules(summary, &mut out),
        StoryFormat::Task | StoryFormat::Subtask | StoryFormat::Bug => {
            if summary.split_whitespace().count() < 3 {
                out.push(finding(
                    "full_sentence",
                    Severity::Warning,
                    "summary",
                    Some(summary),
                    "the summary is too short to say what is to be done".into(),
                    "Name the action and its object, such as “Rotate the Stripe API keys”.",
                ));
            }
        }
    }
    for term in VAGUE_TERMS {
        if has_term(summary, term) {
            out.push(finding(
                "unambiguous",
                Severity::Warning,
                "summary",
                Some(term),
                format!("“{term}” leaves the reader to guess what is meant"),
                "Replace it with something measurable (a number, a limit, a named behaviour).",
            ));
        }
    }
    for dependency in DEPENDENCIES {
        if has_term(&story.description, dependency) || has_term(summary, dependency) {
            out.push(finding(
                "independent",
                Severity::Info,
                "description",
                Some(dependency),
                "the story depends on another one".into(),
                "Make it deliverable on its own, or merge the two stories.",
            ));
        }
    }
    criteria_rules(story, &mut out);
    placeholders(story, &mut out);
    match story.estimate {
        None => out.push(finding(
            "estimable",
            Severity::Info,
            "estimate",
            None,
            "the story has no estimate".into(),
            "Estimate it; if the team cannot, it needs a spike or more detail first.",
        )),
        Some(points) if points > MAX_POINTS => out.push(finding(
            "small",
            Severity::Warning,
            "estimate",
            None,
            format!("{points} points is more than an iteration should hold ({MAX_POINTS})"),
            "Split it into stories that each deliver value on their own.",
        )),
        Some(_) => {}
    }
    if story.acceptance_criteria.len() > MAX_CRITERIA {
        out.push(finding(
            "small",
            Severity::Warning,
            "acceptance_criteria",
            None,
            format!(
                "{} acceptance criteria: this is more than one story",
                story.acceptance_criteria.len()
            ),
            "Split the story along groups of criteria.",
        ));
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}

fn story_rules(summary: &str, out: &mut Vec<Finding>) {
    let Some(parts) = connextra(summary) else {
        out.push(finding(
            "well_formed",
            Severity::Error,
            "summary",
            None,
            "the story does not name a role and what they want".into(),
            "Write it as “As a ⟨role⟩, I want ⟨what⟩, so that ⟨why⟩”.",
        ));
        return;
    };
    if parts.end.is_none() {
        out.push(finding(
            "valuable",
            Severity::Warning,
            "summary",
            None,
            "the story does not say why it matters".into(),
            "Add “so that ⟨the benefit⟩”.",
        ));
    }
    let means = parts.means.to_ascii_lowercase();
    for conjunction in [" and ", " or ", " & ", "/"] {
        if means.contains(conjunction) {
            out.push(finding(
                "atomic",
                Severity::Warning,
                "summary",
                Some(conjunction.trim()),
                "the story asks for more than one thing".into(),
                "Split it into one story per feature.",
            ));
            break;
        }
    }
    if parts.means.contains('(') || parts.end.is_some_and(|e| e.contains('(')) {
        out.push(finding(
            "minimal",
            Severity::Info,
            "summary",
            Some("("),
            "the story sentence carries remarks in parentheses".into(),
            "Move them to the description.",
        ));
    }
    let sentences = summary.split(['.', '!', '?']).filter(|s| !s.trim().is_empty()).count();
    if sentences > 1 {
        out.push(finding(
            "minimal",
            Severity::Info,
            "summary",
            None,
            "the summary has more than one sentence".into(),
            "Keep the story sentence in the summary and move the rest to the description.",
        ));
    }
}

fn criteria_rules(story: &StoryParts, out: &mut Vec<Finding>) {
    if story.acceptance_criteria.is_empty() {
        let severity =
            if story.format == StoryFormat::Story { Severity::Error } else { Severity::Warning };
        out.push(finding(
            "testable",
            severity,
            "acceptance_criteria",
            None,
            "there are no acceptance criteria".into(),
            "Add at least one “Given ⟨context⟩, when ⟨action⟩, then ⟨observable result⟩”.",
        ));
        return;
    }
    for (i, criterion) in story.acceptance_criteria.iter().enumerate() {
        let field = format!("acceptance_criteria[{i}]");
        let lower = criterion.to_ascii_lowercase();
        let Some(then) = lower.find("then ") else {
            out.push(finding(
                "testable",
                Severity::Warning,
                &field,
                None,
                "the criterion has no “then” to check".into(),
                "State it as “Given …, when …, then ⟨what can be observed⟩”.",
            ));
            continue;
        };
        if !lower.contains("when ") {
            out.push(finding(
                "testable",
                Severity::Info,
                &field,
                None,
                "the criterion has no “when”: what triggers it?".into(),
                "Name the action: “when ⟨the user or system does something⟩”.",
            ));
        }
        let outcome = &criterion[then + 5..];
        if let Some(term) = VAGUE_TERMS.iter().find(|t| has_term(outcome, t)) {
            out.push(finding(
                "testable",
                Severity::Warning,
                &field,
                Some(term),
                format!("“{term}” cannot be checked by a test"),
                "Say what is observed: a value, a message, a state, a time limit.",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn story(summary: &str, criteria: &[&str], estimate: Option<u32>) -> StoryParts {
        StoryParts {
            format: StoryFormat::Story,
            summary: summary.into(),
            description: String::new(),
            acceptance_criteria: criteria.iter().map(|c| c.to_string()).collect(),
            labels: vec![],
            estimate,
        }
    }

    fn rules(found: &[Finding]) -> Vec<(&'static str, Severity)> {
        found.iter().map(|f| (f.rule, f.severity)).collect()
    }

    #[test]
    fn a_good_story_passes_every_rule() {
        let good = story(
            "As a billing admin, I want to rotate the Stripe API keys, so that a leaked key stops working within an hour",
            &[
                "Given a valid old key, when I rotate it, then the new key works and the old one fails after 60 minutes",
            ],
            Some(3),
        );
        assert_eq!(check(&good), vec![]);
    }

    #[test]
    fn the_templates_unfilled_slots_are_errors() {
        let drafted =
            super::super::template::draft("Export invoices as CSV", StoryFormat::Story, &[]);
        let found = check(&drafted);
        let slots: Vec<(&str, &str)> = found
            .iter()
            .filter(|f| f.excerpt.as_deref().is_some_and(|e| e.starts_with('⟨')))
            .map(|f| (f.rule, f.field.as_str()))
            .collect();
        assert_eq!(slots, [("well_formed", "summary"), ("testable", "acceptance_criteria[0]")]);
        assert_eq!(found[0].excerpt.as_deref(), Some("⟨the benefit⟩"));
    }

    #[test]
    fn the_template_is_parsed() {
        let c = connextra(
            "As an admin, I want to export invoices so that accounting can close the month.",
        )
        .unwrap();
        assert_eq!(
            (c.role, c.means, c.end),
            ("admin", "export invoices", Some("accounting can close the month"))
        );
        assert_eq!(connextra("Export invoices"), None);
        assert_eq!(connextra("As a , I want x"), None);
    }

    #[test]
    fn each_rule_finds_its_defect() {
        let found = check(&story("Export invoices", &[], None));
        assert_eq!(
            rules(&found)[..2],
            [("well_formed", Severity::Error), ("testable", Severity::Error)]
        );

        let found = check(&story(
            "As a user, I want to export and print invoices",
            &["Given x, when y, then it is fast"],
            Some(13),
        ));
        let found = rules(&found);
        for expected in [
            ("valuable", Severity::Warning),
            ("atomic", Severity::Warning),
            ("small", Severity::Warning),
            ("testable", Severity::Warning),
        ] {
            assert!(found.contains(&expected), "{expected:?} in {found:?}");
        }

        let found = check(&story(
            "As a user, I want a user-friendly export (CSV), so that it is easy. Also PDF.",
            &["Given x, when y"],
            Some(2),
        ));
        let found = rules(&found);
        for expected in [
            ("unambiguous", Severity::Warning),
            ("minimal", Severity::Info),
            ("testable", Severity::Warning),
        ] {
            assert!(found.contains(&expected), "{expected:?} in {found:?}");
        }
        // Whole words only: "breakfast" is not "fast".
        assert!(
            !rules(&check(&story(
                "As a cook, I want a breakfast menu, so that guests eat",
                &["Given a, when b, then c"],
                Some(1)
            )))
            .contains(&("unambiguous", Severity::Warning))
        );
    }

    #[test]
    fn tasks_and_bugs_need_a_sentence_not_the_story_template() {
        let mut task = story(
            "Rotate the Stripe keys",
            &["Given old keys, when rotated, then old keys fail"],
            Some(1),
        );
        task.format = StoryFormat::Task;
        assert_eq!(check(&task), vec![]);
        task.summary = "Keys".into();
        assert_eq!(rules(&check(&task))[0], ("full_sentence", Severity::Warning));
    }

    #[test]
    fn findings_come_most_severe_first() {
        let found = check(&story("As a user, I want x and y", &[], None));
        let severities: Vec<Severity> = found.iter().map(|f| f.severity).collect();
        let mut sorted = severities.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(severities, sorted);
    }
}
