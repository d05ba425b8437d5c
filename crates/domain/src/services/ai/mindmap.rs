//! Mind maps of a project or a topic in it: a tree whose nodes link the contexts they came
//! from. With a language model the tree is its nested outline of the retrieved contexts, each
//! line citing them; without one (or when it fails) the contexts are clustered by meaning
//! (k-means over their vectors from the local model), each cluster is labelled by the words
//! that set it apart from the others (class-based TF-IDF, as BERTopic does), and its contexts
//! are its leaves.

use std::collections::{HashMap, HashSet};

use tc_llm::{ChatRequest, Message};
use tc_store::ContextFilter;
use tracing::{instrument, warn};
use uuid::Uuid;

use super::extractive;
use super::llm_label;
use super::sources::{Retrieved, clip, title_of};
use super::usage::AiFeature;
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult};
use crate::pagination::PageParams;
use crate::services::Services;
use crate::services::access::Access;
use crate::views::{
    AnswerMode, MindMapNode, MindMapRequest, MindMapResponse, SourceView, UsageView,
};
use crate::words;

const DEFAULT_DEPTH: u32 = 3;
const MAX_DEPTH: u32 = 5;
/// Contexts a map is built from, at most.
const MAX_CONTEXTS: u32 = 40;
/// Characters of each context that are embedded for clustering.
const CLUSTER_CHARS: usize = 600;
const MAX_TOPIC_CHARS: usize = 500;

const MINDMAP_SYSTEM: &str = "You draw mind maps of a software team's knowledge. From the \
numbered sources, write a nested outline of the topic as Markdown bullets (\"- \"), indented by \
two spaces per level, one short noun phrase per line (at most eight words), with the numbers of \
the sources each line comes from in square brackets, like [2] or [1, 3]. No text before or \
after the outline.";

impl Services {
    /// `POST /ai/mindmap`.
    #[instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn mind_map(
        &self,
        caller: &Caller,
        req: MindMapRequest,
    ) -> DomainResult<MindMapResponse> {
        self.require_may_ask(caller)?;
        let project_id = req.project_id.ok_or_else(|| DomainError::missing("project_id"))?;
        let depth = req.depth.unwrap_or(DEFAULT_DEPTH);
        if !(1..=MAX_DEPTH).contains(&depth) {
            return Err(DomainError::validation(
                "depth",
                format!("`depth` must be between 1 and {MAX_DEPTH}"),
            ));
        }
        let topic = match req.topic.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) {
            Some(t) if t.chars().count() > MAX_TOPIC_CHARS => {
                return Err(DomainError::validation(
                    "topic",
                    format!("`topic` must be at most {MAX_TOPIC_CHARS} characters"),
                ));
            }
            other => other,
        };
        let use_documents = req.use_documents.unwrap_or(true);
        let started = std::time::Instant::now();
        let (project, _) = self.project_for(caller, project_id, Access::Read).await?;
        let model = self.model_for(caller.user_id).await;
        if !use_documents && model.is_none() {
            return Err(DomainError::validation(
                "use_documents",
                "without a language model a mind map is built from the project's contexts; \
                 leave `use_documents` true",
            ));
        }
        let root_label = topic.clone().unwrap_or_else(|| project.name.clone());
        let mut sources = match (use_documents, &topic) {
            (false, _) => Vec::new(),
            (true, Some(topic)) => {
                self.retrieve_sources(caller, topic, Some(vec![project_id]), 20).await?
            }
            (true, None) => self.latest_contexts(caller, project_id).await?,
        };

        let mut fallback_reason = None;
        if let Some(model) = &model {
            match self.outline(model.as_ref(), &root_label, &sources, depth).await {
                Ok((root, usage)) => {
                    let feature = AiFeature::Mindmap;
                    self.ai_event(
                        caller.user_id,
                        Some(project_id),
                        feature,
                        Some(model),
                        usage,
                        started,
                    );
                    return Ok(MindMapResponse {
                        root,
                        mode: AnswerMode::Llm,
                        llm: llm_label(Some(model)),
                        fallback_reason: None,
                        sources: sources.into_iter().map(|s| s.view).collect(),
                        usage,
                    });
                }
                Err(reason) => {
                    warn!(%reason, "the language model drew no map; clustering instead");
                    fallback_reason = Some(reason);
                }
            }
            if !use_documents {
                sources = self.latest_contexts(caller, project_id).await?;
            }
        }
        let root = self.clustered_map(&root_label, &sources, depth).await;
        self.ai_event(caller.user_id, Some(project_id), AiFeature::Mindmap, None, None, started);
        Ok(MindMapResponse {
            root,
            mode: AnswerMode::Extractive,
            llm: llm_label(model.as_ref()),
            fallback_reason,
            sources: sources.into_iter().map(|s| s.view).collect(),
            usage: None,
        })
    }

    /// The project's latest contexts, numbered as sources.
    async fn latest_contexts(
        &self,
        caller: &Caller,
        project_id: Uuid,
    ) -> DomainResult<Vec<Retrieved>> {
        let params = PageParams { limit: Some(MAX_CONTEXTS), cursor: None };
        let page =
            self.list_contexts(caller, project_id, ContextFilter::default(), &params).await?;
        Ok(page
            .items
            .into_iter()
            .enumerate()
            .map(|(i, c)| Retrieved {
                view: SourceView {
                    n: i + 1,
                    context_id: c.id,
                    project_id: c.project_id,
                    title: title_of(&c.metadata, &c.content),
                    source: c.metadata.get("source").and_then(|s| s.as_str()).unwrap_or("").into(),
                    score: 1.0,
                    snippet: clip(&c.content, 300),
                    highlights: Vec::new(),
                },
                content: c.content,
                passage: None,
            })
            .collect())
    }

    /// The model's outline of `sources`, parsed into a tree.
    async fn outline(
        &self,
        model: &dyn tc_llm::ChatModel,
        root_label: &str,
        sources: &[Retrieved],
        depth: u32,
    ) -> Result<(MindMapNode, Option<UsageView>), String> {
        let ask = format!(
            "{}\n\nDraw a mind map of \"{root_label}\" at most {} levels deep below it.",
            super::prompt::with_sources(root_label, sources),
            depth.saturating_sub(1).max(1)
        );
        let request = ChatRequest {
            messages: vec![Message::system(MINDMAP_SYSTEM), Message::user(ask)],
            tools: Vec::new(),
            max_tokens: Some(self.ai.max_tokens),
            temperature: Some(self.ai.temperature),
        };
        let (text, usage) = self.complete(model, &request).await?;
        let ids: Vec<Uuid> = sources.iter().map(|s| s.view.context_id).collect();
        let root = parse_outline(root_label, &text, &ids, depth);
        if root.children.is_empty() {
            return Err("the language model's answer was not an outline".into());
        }
        Ok((root, usage))
    }

    /// The extractive map: clusters of `sources` by meaning, labelled by their distinctive
    /// words, with the contexts as leaves.
    async fn clustered_map(
        &self,
        root_label: &str,
        sources: &[Retrieved],
        depth: u32,
    ) -> MindMapNode {
        let all: Vec<Uuid> = sources.iter().map(|s| s.view.context_id).collect();
        let mut root = MindMapNode {
            id: "0".into(),
            label: root_label.into(),
            context_ids: all,
            children: Vec::new(),
        };
        if depth == 1 || sources.is_empty() {
            return root;
        }
        let texts: Vec<String> = sources.iter().map(|s| clip(&s.content, CLUSTER_CHARS)).collect();
        let terms: Vec<HashSet<String>> = texts.iter().map(|t| words::terms(t)).collect();
        let k =
            ((sources.len() as f64 / 2.0).sqrt().round() as usize).clamp(1, 6).min(sources.len());
        let assignment = match self.embed(texts.clone()).await {
            Ok(vectors) => kmeans(&vectors, k),
            // Without the model, words stand in for meaning.
            Err(_) => kmeans(&bag_of_words(&terms), k),
        };
        let mut clusters: Vec<Vec<usize>> = vec![Vec::new(); k];
        for (i, c) in assignment.iter().enumerate() {
            clusters[*c].push(i);
        }
        clusters.retain(|c| !c.is_empty());
        clusters.sort_by_key(|c| std::cmp::Reverse(c.len()));
        let labels = cluster_labels(&clusters, &texts);
        for (ci, (members, label)) in clusters.iter().zip(labels).enumerate() {
            let id = format!("0.{ci}");
            let children = if depth >= 3 {
                members
                    .iter()
                    .enumerate()
                    .map(|(li, &i)| MindMapNode {
                        id: format!("{id}.{li}"),
                        label: sources[i].view.title.clone(),
                        context_ids: vec![sources[i].view.context_id],
                        children: Vec::new(),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            root.children.push(MindMapNode {
                id,
                label,
                context_ids: members.iter().map(|&i| sources[i].view.context_id).collect(),
                children,
            });
        }
        root
    }
}

/// Each item's cluster: k-means on cosine similarity, seeded by farthest points from the item
/// nearest the mean (deterministic), at most 25 rounds.
fn kmeans(vectors: &[Vec<f32>], k: usize) -> Vec<usize> {
    let n = vectors.len();
    if k <= 1 || n <= 1 {
        return vec![0; n];
    }
    let centrality = extractive::centroid_scores(vectors);
    let first = (0..n).max_by(|a, b| centrality[*a].total_cmp(&centrality[*b])).unwrap_or(0);
    let mut centres = vec![vectors[first].clone()];
    while centres.len() < k {
        let far = (0..n)
            .max_by(|a, b| {
                let near = |i: usize| {
                    centres
                        .iter()
                        .map(|c| extractive::cosine(&vectors[i], c))
                        .fold(f32::MIN, f32::max)
                };
                near(*b).total_cmp(&near(*a))
            })
            .unwrap_or(0);
        centres.push(vectors[far].clone());
    }
    let mut assignment = vec![0; n];
    for _ in 0..25 {
        let next: Vec<usize> = vectors
            .iter()
            .map(|v| {
                (0..k)
                    .max_by(|a, b| {
                        extractive::cosine(v, &centres[*a])
                            .total_cmp(&extractive::cosine(v, &centres[*b]))
                    })
                    .unwrap_or(0)
            })
            .collect();
        if next == assignment {
            break;
        }
        assignment = next;
        for (c, centre) in centres.iter_mut().enumerate() {
            let members: Vec<&Vec<f32>> =
                vectors.iter().zip(&assignment).filter(|(_, a)| **a == c).map(|(v, _)| v).collect();
            if members.is_empty() {
                continue;
            }
            for (d, x) in centre.iter_mut().enumerate() {
                *x = members.iter().map(|m| m[d]).sum::<f32>() / members.len() as f32;
            }
        }
    }
    assignment
}

/// Term sets as vectors over their joint vocabulary.
fn bag_of_words(terms: &[HashSet<String>]) -> Vec<Vec<f32>> {
    let vocabulary: Vec<&String> = {
        let mut all: Vec<&String> = terms.iter().flatten().collect();
        all.sort();
        all.dedup();
        all
    };
    terms
        .iter()
        .map(|t| vocabulary.iter().map(|w| if t.contains(*w) { 1.0 } else { 0.0 }).collect())
        .collect()
}

/// A label per cluster: its three most distinctive words by class-based TF-IDF (a word's
/// frequency in the cluster, weighted by how few clusters use it), shown as written.
fn cluster_labels(clusters: &[Vec<usize>], texts: &[String]) -> Vec<String> {
    // Stem → the way it is most often written, for display.
    let mut written: HashMap<String, HashMap<String, usize>> = HashMap::new();
    let mut frequencies: Vec<HashMap<String, usize>> = Vec::new();
    for members in clusters {
        let mut tf: HashMap<String, usize> = HashMap::new();
        for &i in members {
            for word in texts[i].split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                let Some(stem) = words::terms(word).into_iter().next() else { continue };
                if stem.chars().count() < 3 || stem.chars().all(|c| c.is_ascii_digit()) {
                    continue;
                }
                *tf.entry(stem.clone()).or_default() += 1;
                *written.entry(stem).or_default().entry(word.to_lowercase()).or_default() += 1;
            }
        }
        frequencies.push(tf);
    }
    let clusters_with = |stem: &str| frequencies.iter().filter(|f| f.contains_key(stem)).count();
    let average = frequencies.iter().map(|f| f.values().sum::<usize>()).sum::<usize>() as f64
        / frequencies.len().max(1) as f64;
    frequencies
        .iter()
        .map(|tf| {
            let mut scored: Vec<(&String, f64)> = tf
                .iter()
                .map(|(stem, n)| {
                    let idf = (1.0 + average / clusters_with(stem) as f64).ln();
                    (stem, *n as f64 * idf)
                })
                .collect();
            scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
            let words: Vec<String> = scored
                .iter()
                .take(3)
                .filter_map(|(stem, _)| {
                    written[*stem]
                        .iter()
                        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                        .map(|(w, _)| w.clone())
                })
                .collect();
            if words.is_empty() { "other".to_string() } else { words.join(" · ") }
        })
        .collect()
}

/// A Markdown bullet outline as a tree under `root_label`: indentation gives the level, `[n]`
/// the contexts (numbers outside `ids` are dropped), levels below `depth` are folded into
/// their parent.
fn parse_outline(root_label: &str, text: &str, ids: &[Uuid], depth: u32) -> MindMapNode {
    let mut root = MindMapNode {
        id: "0".into(),
        label: root_label.into(),
        context_ids: Vec::new(),
        children: Vec::new(),
    };
    // The path of child positions to the last node at each level.
    let mut stack: Vec<(usize, usize)> = Vec::new(); // (indent, child index)
    for line in text.lines() {
        let trimmed = line.trim_start();
        let Some(item) = trimmed.strip_prefix("- ").or_else(|| trimmed.strip_prefix("* ")) else {
            continue;
        };
        let indent = line.len() - trimmed.len();
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        if stack.len() + 1 >= depth as usize {
            continue;
        }
        let (label, cited) = super::sources::keep_valid_citations(item, ids.len());
        let label = strip_citations(&label);
        if label.is_empty() {
            continue;
        }
        let mut parent = &mut root;
        for (_, child) in &stack {
            parent = &mut parent.children[*child];
        }
        let id = format!("{}.{}", parent.id, parent.children.len());
        parent.children.push(MindMapNode {
            id,
            label,
            context_ids: cited.iter().map(|n| ids[n - 1]).collect(),
            children: Vec::new(),
        });
        stack.push((indent, parent.children.len() - 1));
    }
    root
}

/// `label` without its `[n]` citations and surrounding emphasis.
fn strip_citations(label: &str) -> String {
    let mut out = String::new();
    let mut rest = label;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        match rest[open..].find(']') {
            Some(close)
                if rest[open + 1..open + close]
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == ',' || c == ' ') =>
            {
                rest = &rest[open + close + 1..];
            }
            _ => {
                out.push('[');
                rest = &rest[open + 1..];
            }
        }
    }
    out.push_str(rest);
    out.trim().trim_matches('*').trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outline_becomes_a_tree_with_its_citations() {
        let ids = [Uuid::from_u128(1), Uuid::from_u128(2)];
        let text = "Here is the map:\n- Deploys [1]\n  - Tuesdays after review [1]\n    - too deep [2]\n  - **Hotfixes** [2, 7]\n- On-call [2]\n";
        let root = parse_outline("Ops", text, &ids, 3);
        assert_eq!(root.children.len(), 2);
        let deploys = &root.children[0];
        assert_eq!((deploys.id.as_str(), deploys.label.as_str()), ("0.0", "Deploys"));
        assert_eq!(deploys.context_ids, vec![ids[0]]);
        let labels: Vec<&str> = deploys.children.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["Tuesdays after review", "Hotfixes"], "depth 3 stops there");
        assert_eq!(deploys.children[1].context_ids, vec![ids[1]], "[7] names no source");
        assert_eq!(deploys.children[1].id, "0.0.1");
        assert_eq!(root.children[1].label, "On-call");
    }

    #[test]
    fn kmeans_separates_two_directions() {
        let v = vec![
            vec![1.0, 0.0, 0.1],
            vec![0.9, 0.1, 0.0],
            vec![0.0, 1.0, 0.1],
            vec![0.1, 0.9, 0.0],
            vec![1.0, 0.05, 0.05],
        ];
        let a = kmeans(&v, 2);
        assert_eq!(a[0], a[1]);
        assert_eq!(a[0], a[4]);
        assert_eq!(a[2], a[3]);
        assert_ne!(a[0], a[2]);
    }

    #[test]
    fn labels_name_what_sets_a_cluster_apart() {
        let texts = vec![
            "Deploys happen on Tuesdays. The deploy pipeline runs the release.".to_string(),
            "Hotfix deploys need two approvals for the release.".to_string(),
            "The pager rotates weekly. On-call escalations go to the platform lead.".to_string(),
        ];
        let labels = cluster_labels(&[vec![0, 1], vec![2]], &texts);
        assert!(labels[0].starts_with("deploys"), "{labels:?}");
        assert!(labels[1].contains("pager") || labels[1].contains("escalations"), "{labels:?}");
    }
}
