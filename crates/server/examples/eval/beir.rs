//! A BEIR-format set on disk: `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl` (`_id`,
//! `text`) and `qrels/test.tsv` (query id, document id, grade; one header line).

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Doc {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(default)]
    pub title: String,
    pub text: String,
}

#[derive(Debug, Deserialize)]
pub struct Query {
    #[serde(rename = "_id")]
    pub id: String,
    pub text: String,
}

#[derive(Debug)]
pub struct Set {
    pub name: String,
    pub docs: Vec<Doc>,
    pub queries: Vec<Query>,
    /// Query id → relevant document id → grade.
    pub qrels: HashMap<String, HashMap<String, u32>>,
}

fn lines<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("a line of {}", path.display())))
        .collect()
}

pub fn load(dir: &Path) -> anyhow::Result<Set> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let docs = lines(&dir.join("corpus.jsonl"))?;
    let mut queries: Vec<Query> = lines(&dir.join("queries.jsonl"))?;
    let qrels_path = dir.join("qrels/test.tsv");
    let text = std::fs::read_to_string(&qrels_path).context("qrels/test.tsv")?;
    let mut qrels: HashMap<String, HashMap<String, u32>> = HashMap::new();
    for line in text.lines().skip(1) {
        let mut cells = line.split('\t');
        let (Some(q), Some(d), Some(g)) = (cells.next(), cells.next(), cells.next()) else {
            continue;
        };
        qrels.entry(q.to_string()).or_default().insert(d.to_string(), g.trim().parse()?);
    }
    // Only queries with a judged relevant document count.
    queries.retain(|q| qrels.get(&q.id).is_some_and(|r| r.values().any(|g| *g > 0)));
    Ok(Set { name, docs, queries, qrels })
}
