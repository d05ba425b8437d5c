//! Jira stories as the story service drafts, refines and validates them (issue 19, seed 003):
//! the draft's parts ([`StoryParts`]), the rule checks that need no model ([`rules`]: the QUS
//! framework's criteria as the AQUSA tool checks them, and INVEST heuristics), and the draft a
//! template makes from the requirements when no language model is configured ([`template`]).
//! Pure functions over text: the service around them stores drafts, retrieves context, calls the
//! model and Jira.

pub mod rules;
pub mod template;

use serde::{Deserialize, Serialize};

/// What kind of Jira issue a draft becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoryFormat {
    Story,
    Task,
    Bug,
    Subtask,
}

impl StoryFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "story" => Some(Self::Story),
            "task" => Some(Self::Task),
            "bug" => Some(Self::Bug),
            "subtask" => Some(Self::Subtask),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Story => "story",
            Self::Task => "task",
            Self::Bug => "bug",
            Self::Subtask => "subtask",
        }
    }
}

/// A draft's content: what becomes the Jira issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoryParts {
    pub format: StoryFormat,
    /// The summary; for a story, the user story itself ("As a …, I want …, so that …").
    pub summary: String,
    /// Markdown: the story's context and details.
    pub description: String,
    /// Each one "Given …, when …, then …".
    pub acceptance_criteria: Vec<String>,
    pub labels: Vec<String>,
    /// Story points, when estimated.
    pub estimate: Option<u32>,
}
