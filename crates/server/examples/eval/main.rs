//! `make eval`: retrieval quality on two public BEIR sets (`eval/README.md`), through the real
//! save and search paths of the service layer, on a fresh SQLite store per precision.
//!
//! Each set becomes one project; each document is saved as `title + "\n\n" + text` with its id
//! in `metadata.file_path`; each query is asked in every mode with `limit: 10` and
//! `similarity_threshold: 0`, restricted to the set's project. Prints one markdown table: MRR@10,
//! Recall@10 and nDCG@10 per set, precision and mode, with ingest time and docs/s. `--study`
//! adds the offline comparison of fusion functions the production one was chosen from.
//!
//! `cargo run --release -p teamcontext --example eval -- --sets .eval-cache [--precision fp32,int8]`

mod beir;
mod fusion;
mod metrics;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::Parser;
use futures_util::stream::{self, StreamExt};
use tc_domain::views::{
    ContextMetadataInput, CreateProjectRequest, QaRequest, RegisterRequest, SaveContextRequest,
    SearchRequest,
};
use tc_domain::{Caller, Credential, Services, SystemClock};
use tc_embed::{Embedder, LocalEmbedder, Precision};
use teamcontext::config::Config;
use uuid::Uuid;

const MODES: [&str; 4] = ["keyword", "vector", "hybrid", "two_level"];

#[derive(Debug, Parser)]
struct Args {
    /// The directory holding the sets, one BEIR folder each (`eval/build.sh DIR` makes them).
    #[arg(long, default_value = ".eval-cache")]
    sets: PathBuf,
    /// Which sets of that directory to run.
    #[arg(long, default_value = "debfaq,tokio", value_delimiter = ',')]
    names: Vec<String>,
    #[arg(long, default_value = ".model-cache/all-MiniLM-L6-v2")]
    model_dir: PathBuf,
    /// `fp32`, `int8` or both.
    #[arg(long, default_value = "fp32,int8", value_delimiter = ',')]
    precision: Vec<String>,
    /// Saves in flight while ingesting one at a time.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Ingest through the batch save (`POST /context/batch`) in batches of this many
    /// documents, one batch at a time; 0 saves one document at a time (`/context/save`).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Also compare fusion functions offline (the study behind the production fusion).
    #[arg(long)]
    study: bool,
    /// Sets whose questions are also asked through `POST /ai/qa` without a language model (the
    /// extractive answers), at the first precision; empty for none.
    #[arg(long, default_value = "debfaq", value_delimiter = ',')]
    qa: Vec<String>,
}

/// How often the answer's document reached the extractive QA, against hybrid search's top 5.
struct QaRow {
    set: String,
    questions: usize,
    search_top5: usize,
    qa_sources: usize,
    qa_cited: usize,
    qa_ms: f64,
}

struct Row {
    set: String,
    precision: String,
    mode: &'static str,
    scores: metrics::Scores,
    query_ms: f64,
    ingest_secs: f64,
    docs_per_sec: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sets: Vec<beir::Set> = args
        .names
        .iter()
        .map(|n| beir::load(&args.sets.join(n)).with_context(|| format!("set {n}")))
        .collect::<anyhow::Result<_>>()?;
    let mut rows = Vec::new();
    let mut calibration = Vec::new();
    let mut qa_rows = Vec::new();
    for precision in &args.precision {
        let p = match precision.as_str() {
            "fp32" => Precision::Fp32,
            "int8" => Precision::Int8,
            other => return Err(anyhow!("unknown precision {other}")),
        };
        let embedder: Arc<dyn Embedder> = Arc::new(LocalEmbedder::load(&args.model_dir, p)?);
        let dir = tempfile::tempdir()?;
        let env: HashMap<String, String> = [
            ("TEAMCONTEXT_DATA_DIR".to_string(), dir.path().display().to_string()),
            ("LOG_LEVEL".to_string(), "warn".to_string()),
            // Quality, not latency, is measured: a batch must never be stored unembedded
            // because the machine was busy.
            ("EMBEDDING_TIMEOUT_SECS".to_string(), "3600".to_string()),
        ]
        .into();
        let config = Config::from_sources(None, &env)?;
        let (services, backend, _redis) =
            teamcontext::open_services(&config, Arc::new(SystemClock), embedder.clone()).await?;
        let caller = account(&services).await?;
        for set in &sets {
            let project = services
                .create_project(
                    &caller,
                    CreateProjectRequest {
                        name: Some(set.name.clone()),
                        description: Some(format!("The {} evaluation set", set.name)),
                        visibility: None,
                        settings: None,
                    },
                )
                .await
                .map_err(|e| anyhow!(e.message))?
                .id;
            let started = Instant::now();
            let doc_of = if args.batch > 0 {
                ingest_batches(&services, &caller, project, set, args.batch).await?
            } else {
                ingest(&services, &caller, project, set, args.concurrency).await?
            };
            let ingest_secs = started.elapsed().as_secs_f64();
            let docs_per_sec = set.docs.len() as f64 / ingest_secs;
            eprintln!(
                "{} {precision}: {} documents in {ingest_secs:.0} s",
                set.name,
                set.docs.len()
            );
            for mode in MODES {
                let (scores, query_ms, similarities) =
                    ask(&services, &caller, project, set, mode).await?;
                if mode == "vector" {
                    calibration.push((set.name.clone(), precision.clone(), similarities));
                }
                rows.push(Row {
                    set: set.name.clone(),
                    precision: precision.clone(),
                    mode,
                    scores,
                    query_ms,
                    ingest_secs,
                    docs_per_sec,
                });
            }
            if Some(precision) == args.precision.first() && args.qa.contains(&set.name) {
                qa_rows.push(qa(&services, &caller, project, set, &doc_of).await?);
            }
            if args.study {
                let store = backend.shared();
                let mut candidates = Vec::new();
                for q in &set.queries {
                    let qv = embedder.embed(vec![q.text.clone()]).await?.remove(0);
                    let vector =
                        store.vector_search(&qv, embedder.model_id(), &[project], 100).await?;
                    let keyword = store.keyword_search(&q.text, &[project], 100).await?;
                    candidates.push((
                        fusion::Candidates {
                            vector: vector.iter().map(|h| (h.context_id, h.similarity)).collect(),
                            keyword: keyword.iter().map(|h| (h.context_id, h.score)).collect(),
                            query: q.text.clone(),
                        },
                        &set.qrels[&q.id],
                    ));
                }
                let code_like =
                    set.queries.iter().filter(|q| tc_domain::services::names_code(&q.text)).count();
                println!(
                    "\n### Fusion study: {} ({precision}), {code_like} of {} queries name code\n",
                    set.name,
                    set.queries.len()
                );
                println!("| fusion | MRR@10 | nDCG@10 |\n| --- | --- | --- |");
                for (name, s) in fusion::study(&candidates, &doc_of) {
                    println!("| {name} | {:.3} | {:.3} |", s.mrr, s.ndcg);
                }
            }
        }
        backend.close().await;
    }
    println!(
        "\n| set | precision | mode | MRR@10 | Recall@10 | nDCG@10 | query ms | ingest s | docs/s |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.1} | {:.0} | {:.1} |",
            r.set,
            r.precision,
            r.mode,
            r.scores.mrr,
            r.scores.recall,
            r.scores.ndcg,
            r.query_ms,
            r.ingest_secs,
            r.docs_per_sec
        );
    }
    if !qa_rows.is_empty() {
        println!(
            "\n| set | questions | answer's document in hybrid top 5 | in the QA's sources | \
             in what the QA quotes | QA ms |"
        );
        println!("| --- | --- | --- | --- | --- | --- |");
        for r in &qa_rows {
            let pct = |n: usize| format!("{n} ({:.1}%)", 100.0 * n as f64 / r.questions as f64);
            println!(
                "| {} | {} | {} | {} | {} | {:.0} |",
                r.set,
                r.questions,
                pct(r.search_top5),
                pct(r.qa_sources),
                pct(r.qa_cited),
                r.qa_ms
            );
        }
    }
    // The default threshold: the similarity that keeps 95% of the relevant results vector
    // search ranks in the top 10.
    println!("\n| set | precision | relevant in top 10 | similarity p5 | p10 | p25 | median |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (set, precision, mut sims) in calibration {
        sims.sort_by(f32::total_cmp);
        let q = |p: f64| sims.get(((sims.len() as f64 - 1.0) * p).round() as usize).copied();
        let show = |v: Option<f32>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        println!(
            "| {set} | {precision} | {} | {} | {} | {} | {} |",
            sims.len(),
            show(q(0.05)),
            show(q(0.10)),
            show(q(0.25)),
            show(q(0.5))
        );
    }
    Ok(())
}

/// A fresh account, as its own session.
async fn account(services: &Services) -> anyhow::Result<Caller> {
    let registered = services
        .register(RegisterRequest {
            email: Some("eval@example.com".into()),
            password: Some("evaluation password".into()),
            name: Some("Evaluation".into()),
            invitation_token: None,
        })
        .await
        .map_err(|e| anyhow!(e.message))?;
    Ok(Caller {
        user_id: registered.user.id,
        email_verified: true,
        credential: Credential::AccessToken,
    })
}

/// What a document is saved as: its title and text.
fn content(doc: &beir::Doc) -> String {
    format!("{}\n\n{}", doc.title, doc.text)
}

/// Saves every document through the batch save, `size` at a time; the context id → document
/// id map.
async fn ingest_batches(
    services: &Services,
    caller: &Caller,
    project: Uuid,
    set: &beir::Set,
    size: usize,
) -> anyhow::Result<HashMap<Uuid, String>> {
    let mut doc_of = HashMap::new();
    for docs in set.docs.chunks(size) {
        let items = docs
            .iter()
            .map(|doc| {
                serde_json::json!({
                    "content": content(doc),
                    "project_id": project,
                    "metadata": {"source": "eval", "file_path": doc.id},
                })
            })
            .collect();
        let saved = services.save_batch(caller, Some(items), None).await;
        let saved = saved.map_err(|e| anyhow!(e.message))?;
        for (result, doc) in saved.results.into_iter().zip(docs) {
            let context = result.context.ok_or_else(|| anyhow!("{}: not saved", doc.id))?;
            doc_of.insert(context.id, doc.id.clone());
        }
    }
    Ok(doc_of)
}

/// Saves every document through the save path; the context id → document id map.
async fn ingest(
    services: &Services,
    caller: &Caller,
    project: Uuid,
    set: &beir::Set,
    concurrency: usize,
) -> anyhow::Result<HashMap<Uuid, String>> {
    let saves = stream::iter(&set.docs)
        .map(|doc| async move {
            let req = SaveContextRequest {
                content: Some(content(doc)),
                project_id: Some(project),
                metadata: Some(ContextMetadataInput {
                    source: Some("eval".into()),
                    tags: None,
                    file_path: Some(doc.id.clone()),
                    language: None,
                    extra: Default::default(),
                }),
            };
            let saved = services.save_context(caller, req, None).await;
            saved.map(|s| (s.id, doc.id.clone())).map_err(|e| anyhow!("{}: {}", doc.id, e.message))
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    saves.into_iter().collect()
}

/// Asks every query as a question without a language model (`POST /ai/qa`, its default five
/// sources) and through hybrid search's default top 5: how often the relevant document is
/// among the search results, among the answer's sources, and among the sources it quotes.
async fn qa(
    services: &Services,
    caller: &Caller,
    project: Uuid,
    set: &beir::Set,
    doc_of: &HashMap<Uuid, String>,
) -> anyhow::Result<QaRow> {
    let relevant_in = |ids: Vec<Uuid>, q: &beir::Query| {
        let wanted = &set.qrels[&q.id];
        ids.iter().any(|id| doc_of.get(id).and_then(|d| wanted.get(d)).is_some_and(|g| *g > 0))
    };
    let mut row = QaRow {
        set: set.name.clone(),
        questions: set.queries.len(),
        search_top5: 0,
        qa_sources: 0,
        qa_cited: 0,
        qa_ms: 0.0,
    };
    let mut qa_time = 0.0;
    for q in &set.queries {
        let req = SearchRequest {
            query: Some(q.text.clone()),
            project_ids: Some(vec![project]),
            limit: Some(5),
            ..SearchRequest::default()
        };
        let found = services.search(caller, req).await.map_err(|e| anyhow!(e.message))?;
        row.search_top5 +=
            usize::from(relevant_in(found.results.iter().map(|r| r.id).collect(), q));
        let started = Instant::now();
        let req = QaRequest {
            question: Some(q.text.clone()),
            project_ids: Some(vec![project]),
            top_k: None,
        };
        let answer = services.answer_question(caller, req).await.map_err(|e| anyhow!(e.message))?;
        qa_time += started.elapsed().as_secs_f64();
        row.qa_sources +=
            usize::from(relevant_in(answer.sources.iter().map(|s| s.context_id).collect(), q));
        let cited = answer.sources.iter().filter(|s| answer.citations.contains(&s.n));
        row.qa_cited += usize::from(relevant_in(cited.map(|s| s.context_id).collect(), q));
    }
    row.qa_ms = qa_time * 1000.0 / set.queries.len().max(1) as f64;
    Ok(row)
}

/// Asks every query in `mode`; the mean scores, the mean latency and the similarities of the
/// relevant results found.
async fn ask(
    services: &Services,
    caller: &Caller,
    project: Uuid,
    set: &beir::Set,
    mode: &str,
) -> anyhow::Result<(metrics::Scores, f64, Vec<f32>)> {
    let mut all = Vec::new();
    let mut similarities = Vec::new();
    let started = Instant::now();
    for q in &set.queries {
        let req = SearchRequest {
            query: Some(q.text.clone()),
            project_ids: Some(vec![project]),
            limit: Some(10),
            similarity_threshold: Some(0.0),
            mode: Some(mode.to_string()),
            retrieved_by: None,
        };
        let found = services.search(caller, req).await.map_err(|e| anyhow!(e.message))?;
        let ranking: Vec<String> = found
            .results
            .iter()
            .filter_map(|r| {
                r.metadata.get("file_path").and_then(|p| p.as_str()).map(str::to_string)
            })
            .collect();
        let relevant = &set.qrels[&q.id];
        for (r, doc) in found.results.iter().zip(&ranking) {
            if let (Some(sim), Some(g)) = (r.similarity_score, relevant.get(doc))
                && *g > 0
            {
                similarities.push(sim);
            }
        }
        all.push(metrics::score(&ranking, relevant, 10));
    }
    let query_ms = started.elapsed().as_secs_f64() * 1000.0 / set.queries.len().max(1) as f64;
    Ok((metrics::mean(&all), query_ms, similarities))
}
