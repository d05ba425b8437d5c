//! Search that degrades instead of failing, and the embedding backlog: with the model down (an
//! error or no answer in time) saves are stored and found by keyword at once and every search
//! mode answers by keyword saying so; the embedding job adds the vectors later. A change of
//! model re-embeds everything in the background, and the job survives a restart halfway
//! without embedding anything twice.

mod support;

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use support::{World, session, world_with};
use tc_domain::services::{EMBED_KIND, JobSettings, Services};
use tc_domain::views::{SaveContextRequest, SearchRequest, SearchResponse};
use tc_domain::{Caller, EmailVerification};
use tc_embed::{EmbedError, Embedder, HashingEmbedder};
use tc_store::JobStatus;
use tc_store::prelude::*;
use tokio::sync::watch;
use uuid::Uuid;

const UP: u8 = 0;
const FAILING: u8 = 1;
const HANGING: u8 = 2;

/// The hashing embedder under another model id, which can be made to fail or to hang, and
/// which hangs after a given number of calls when asked to (a process about to die).
#[derive(Debug)]
struct Flaky {
    id: &'static str,
    state: AtomicU8,
    /// Calls answered before it hangs for good; `usize::MAX` for never.
    calls_left: AtomicUsize,
    texts: AtomicUsize,
}

impl Flaky {
    fn new(id: &'static str, state: u8) -> Arc<Self> {
        Arc::new(Flaky {
            id,
            state: AtomicU8::new(state),
            calls_left: AtomicUsize::new(usize::MAX),
            texts: AtomicUsize::new(0),
        })
    }
}

#[async_trait::async_trait]
impl Embedder for Flaky {
    fn model_id(&self) -> &str {
        self.id
    }

    fn dimension(&self) -> usize {
        HashingEmbedder.dimension()
    }

    fn passages(&self, text: &str) -> Vec<Range<usize>> {
        HashingEmbedder.passages(text)
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let hang = self.calls_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n != usize::MAX).then(|| n.saturating_sub(1))
        }) == Ok(0);
        match self.state.load(Ordering::SeqCst) {
            FAILING => Err(EmbedError::Remote("connection refused".into())),
            HANGING => std::future::pending().await,
            _ if hang => std::future::pending().await,
            _ => {
                self.texts.fetch_add(texts.len(), Ordering::SeqCst);
                HashingEmbedder.embed(texts).await
            }
        }
    }
}

async fn search(services: &Services, caller: &Caller, query: &str, mode: &str) -> SearchResponse {
    let req = SearchRequest {
        query: Some(query.into()),
        mode: Some(mode.into()),
        similarity_threshold: Some(0.0),
        ..SearchRequest::default()
    };
    services.search(caller, req).await.unwrap()
}

fn save(project: Uuid, text: &str) -> SaveContextRequest {
    SaveContextRequest { content: Some(text.into()), project_id: Some(project), metadata: None }
}

/// Starts a job worker for `services`; the sender stops it.
fn worker(services: &Arc<Services>, name: &str) -> watch::Sender<bool> {
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(services.clone().run_job_worker(name.into(), stopped));
    stop
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..400 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

fn fast_jobs() -> JobSettings {
    JobSettings {
        lease: Duration::from_secs(1),
        heartbeat: Duration::from_millis(100),
        poll: Duration::from_millis(50),
        retry_base: Duration::from_millis(100),
        ..JobSettings::default()
    }
}

#[tokio::test]
async fn a_save_while_the_model_is_down_is_found_by_keyword_and_embedded_later() {
    let model = Flaky::new("flaky-model", FAILING);
    let w: World =
        world_with(EmailVerification::Off, model.clone(), |s| s.with_job_settings(fast_jobs()))
            .await;
    let owner = session(&w.user("owner@example.com", true).await);
    let project = w.project(&owner, "billing", "private").await;

    let text = "We chose PostgreSQL for the billing service because of its row locks.";
    let saved = w.services.save_context(&owner, save(project, text), None).await.unwrap();
    assert_eq!(saved.degraded, Some("embedder_unavailable"));
    assert!(saved.warnings.iter().any(|w| w.contains("keyword")), "{:?}", saved.warnings);
    assert_eq!(w.store.embedding_backlog("flaky-model").await.unwrap(), 1);

    // Every mode answers, from keywords, and says so; keyword mode needs no model at all.
    for mode in ["hybrid", "vector", "two_level"] {
        let found = search(&w.services, &owner, "billing PostgreSQL", mode).await;
        assert_eq!(found.degraded, Some("embedder_unavailable"), "{mode}");
        assert_eq!(found.results.len(), 1, "{mode}");
        assert_eq!(found.results[0].id, saved.id);
        assert_eq!(found.results[0].similarity_score, None);
    }
    let keyword = search(&w.services, &owner, "billing PostgreSQL", "keyword").await;
    assert_eq!((keyword.degraded, keyword.results.len()), (None, 1));

    // The model comes back: the job (queued by the save) adds the vectors and the project
    // description's, and search is whole again.
    model.state.store(UP, Ordering::SeqCst);
    let stop = worker(&w.services, "w1");
    wait_for("the backlog to drain", async || {
        w.store.embedding_backlog("flaky-model").await.unwrap() == 0
            && w.store.descriptions_to_embed("flaky-model").await.unwrap().is_empty()
    })
    .await;
    stop.send(true).unwrap();
    let found = search(&w.services, &owner, "billing PostgreSQL", "vector").await;
    assert_eq!(found.degraded, None);
    assert_eq!(found.results[0].id, saved.id);
    assert!(found.results[0].similarity_score.is_some());
    let two_level = search(&w.services, &owner, "billing PostgreSQL", "two_level").await;
    assert_eq!(two_level.relevant_projects.unwrap()[0].id, project);
}

#[tokio::test]
async fn a_model_that_does_not_answer_in_time_degrades_like_one_that_fails() {
    let model = Flaky::new("slow-model", HANGING);
    let w = world_with(EmailVerification::Off, model, |s| {
        s.with_embed_timeout(Duration::from_millis(200))
    })
    .await;
    let owner = session(&w.user("owner@example.com", true).await);
    let project = w.project(&owner, "ops", "private").await;
    let saved = w
        .services
        .save_context(&owner, save(project, "The deploy runs on Fridays at noon."), None)
        .await
        .unwrap();
    assert_eq!(saved.degraded, Some("embedder_unavailable"));
    let found = search(&w.services, &owner, "deploy Fridays", "hybrid").await;
    assert_eq!(found.degraded, Some("embedder_unavailable"));
    assert_eq!(found.results[0].id, saved.id);

    // A batch degrades the same way, whole, and never half-writes an item.
    let items = vec![
        serde_json::json!({"content": "Backups run nightly.", "project_id": project}),
        serde_json::json!({"content": "", "project_id": project}),
    ];
    let batch = w.services.save_batch(&owner, Some(items), None).await.unwrap();
    assert_eq!((batch.saved, batch.failed, batch.degraded), (1, 1, Some("embedder_unavailable")));
    assert_eq!(w.store.embedding_backlog("slow-model").await.unwrap(), 2);
}

#[tokio::test]
async fn a_model_change_re_embeds_everything_and_survives_a_restart_halfway() {
    let w = world_with(EmailVerification::Off, Flaky::new("old-model", UP), |s| s).await;
    let owner = session(&w.user("owner@example.com", true).await);
    let project = w.project(&owner, "notes", "private").await;
    let mut ids = Vec::new();
    for i in 0..70 {
        let text = format!("Decision {i}: the queue worker {i} retries webhooks with backoff.");
        ids.push(w.services.save_context(&owner, save(project, &text), None).await.unwrap().id);
    }

    // The server restarts with another model. Search keeps serving: by keyword for contexts
    // the new model has not embedded yet.
    let dying_model = Flaky::new("new-model", UP);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let first = w.services_with(dying_model.clone(), |s| s.with_job_settings(fast_jobs()));
    let found = search(&first, &owner, "queue worker 7 retries webhooks", "hybrid").await;
    assert_eq!(found.degraded, None);
    assert!(found.results.iter().any(|r| r.id == ids[7] && r.similarity_score.is_none()));
    assert!(search(&first, &owner, "queue worker 7", "vector").await.results.is_empty());
    assert_eq!(w.store.embedding_backlog("new-model").await.unwrap(), 70);

    assert!(first.ensure_embedding_job().await.unwrap());
    assert!(!first.ensure_embedding_job().await.unwrap(), "one embedding job at a time");
    // It embeds the first batch, then hangs in the second, and its process dies there.
    dying_model.calls_left.store(1, Ordering::SeqCst);
    let (_stop, stopped) = watch::channel(false);
    runtime.spawn(first.clone().run_job_worker("dying".into(), stopped));
    wait_for("the first batch", async || {
        w.store.embedding_backlog("new-model").await.unwrap() == 70 - 32
    })
    .await;
    // The process dies: its tasks stop where they are, the job's lease is left to expire.
    runtime.shutdown_background();

    let model = Flaky::new("new-model", UP);
    let second = w.services_with(model.clone(), |s| s.with_job_settings(fast_jobs()));
    let vector = search(&second, &owner, "queue worker", "vector").await;
    assert_eq!(vector.results.len(), 10, "the vector side serves what is done meanwhile");
    let texts_before = model.texts.load(Ordering::SeqCst);
    let stop = worker(&second, "restarted");
    wait_for("the job to finish", async || {
        w.store.job_counts().await.unwrap().contains(&(JobStatus::Succeeded, 1))
    })
    .await;
    stop.send(true).unwrap();
    assert_eq!(w.store.embedding_backlog("new-model").await.unwrap(), 0);
    // Resumed, not restarted: the 38 contexts left, and the project's description.
    assert_eq!(model.texts.load(Ordering::SeqCst) - texts_before, 38 + 1);
    let conn = rusqlite::Connection::open(w.dir().join("tc.db")).unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM passages WHERE model = 'new-model'"), 70);
    assert_eq!(count("SELECT count(*) FROM passages WHERE model <> 'new-model'"), 0);
    let job: (String, i64) = conn
        .query_row("SELECT kind, attempts FROM jobs WHERE status = 'succeeded'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(job, (EMBED_KIND.to_string(), 2), "the second attempt finished it");
    let found = search(&second, &owner, "queue worker 7 retries webhooks", "vector").await;
    assert!(found.results.iter().any(|r| r.id == ids[7]));
}
