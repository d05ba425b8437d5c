//! The embedding backlog: contexts stored without vectors from the current model, and the job
//! that embeds them.
//!
//! Two things fill it. A save while the model is down (an error, or no answer within the
//! embedding timeout) stores the context and its keyword index at once and leaves the vectors
//! for later; and a change of `EMBEDDING_PROVIDER`, `EMBEDDING_MODEL` or precision leaves every
//! context with vectors from a model no query speaks anymore (each passage records its model).
//! Search keeps serving meanwhile: the vector side from the contexts already embedded by the
//! current model, the keyword side from all.
//!
//! One job of kind [`EMBED_KIND`] drains it, queued at start, every minute while there is a
//! backlog, and after a deferred save; the store lets one be queued or running at a time. The
//! job walks the backlog by id in batches on the bulk embedding sessions, and the store adds a
//! context's passages only if it has none from that model yet, so a job killed halfway simply
//! resumes (its next attempt finds only what is left) and two runners never store a context
//! twice. Once nothing is left, passages of other models are deleted and project descriptions
//! are embedded again for two-level search. `teamcontext reindex` runs the same drain from the
//! command line with a progress bar.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde_json::{Value, json};
use tc_store::StoreError;
use tracing::info;
use uuid::Uuid;

use super::Services;
use super::embedding::Purpose;
use super::jobs::{JobContext, JobError, JobHandler};
use crate::error::DomainResult;

/// The kind of the job that drains the embedding backlog.
pub const EMBED_KIND: &str = "embed";
/// Contexts embedded per batch: enough to keep every bulk session busy, few enough that a
/// stop request is noticed within a second or two.
const BATCH: usize = 32;

/// How far a drain has come; also the embedding job's `progress` and `result`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EmbedProgress {
    /// The model whose vectors are being made.
    pub model: String,
    /// Contexts that lacked them when the drain started (more may arrive meanwhile).
    pub contexts_total: u64,
    /// Contexts embedded so far.
    pub contexts_done: u64,
    /// Passages of other models deleted at the end.
    pub old_passages_removed: u64,
    /// Project descriptions embedded at the end.
    pub descriptions_embedded: u64,
}

/// Runs the embedding job.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbedJob;

#[async_trait::async_trait]
impl JobHandler for EmbedJob {
    fn kind(&self) -> &'static str {
        EMBED_KIND
    }

    async fn run(&self, services: &Services, ctx: &JobContext) -> Result<Value, JobError> {
        let report = services
            .drain_embedding_backlog(&ctx.stop_flag(), |p| {
                ctx.set_progress(json!(p));
            })
            .await?;
        match report {
            Some(report) => Ok(json!(report)),
            None => Err(JobError::Cancelled),
        }
    }
}

impl Services {
    /// Queues the embedding job if there is a backlog and no such job is queued or running;
    /// returns whether it queued one. Counts the backlog, so it is for the periodic check.
    pub async fn ensure_embedding_job(&self) -> DomainResult<bool> {
        let model = self.embedder.model_id().to_string();
        let backlog = self.store.embedding_backlog(&model).await?;
        metrics::gauge!(crate::metrics::EMBEDDING_BACKLOG).set(backlog as f64);
        if backlog == 0 && self.store.descriptions_to_embed(&model).await?.is_empty() {
            return Ok(false);
        }
        self.queue_embedding_job(backlog).await
    }

    /// Queues the embedding job unless one is queued or running (which will find this
    /// backlog too); returns whether it queued one.
    pub(crate) async fn queue_embedding_job(&self, backlog: u64) -> DomainResult<bool> {
        let model = self.embedder.model_id().to_string();
        let progress =
            json!(EmbedProgress { model, contexts_total: backlog, ..Default::default() });
        let job =
            self.queued_job(Uuid::now_v7(), EMBED_KIND, None, Uuid::nil(), json!({}), progress);
        match self.store.insert_job(&job).await {
            Ok(()) => {
                info!(job_id = %job.id, backlog, "queued the embedding job");
                self.job_submitted();
                Ok(true)
            }
            Err(StoreError::Conflict { constraint: "jobs.one_active" }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Embeds every context without vectors from the current model, then removes other
    /// models' passages and re-embeds project descriptions. Calls `progress` after each batch.
    /// Returns `None` if `stop` turned true first (what is done stays done).
    pub async fn drain_embedding_backlog(
        &self,
        stop: &AtomicBool,
        progress: impl Fn(&EmbedProgress),
    ) -> DomainResult<Option<EmbedProgress>> {
        let model = self.embedder.model_id().to_string();
        let mut report = EmbedProgress { model: model.clone(), ..Default::default() };
        // A pass walks the backlog once by id. Contexts deferred meanwhile by another replica
        // may sit behind the cursor (its clock), so passes repeat until the backlog is empty or
        // a pass embeds nothing (what is left then was embedded by someone else between our
        // reads, or cannot be embedded now; the next run will see).
        let mut left = self.store.embedding_backlog(&model).await?;
        while left > 0 {
            metrics::gauge!(crate::metrics::EMBEDDING_BACKLOG).set(left as f64);
            report.contexts_total = report.contexts_done + left;
            progress(&report);
            let mut after = None;
            let mut embedded_this_pass = 0;
            loop {
                if stop.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                let batch = self.store.contexts_to_embed(&model, after, BATCH).await?;
                let Some(last) = batch.last() else { break };
                after = Some(last.id);
                let passages = self.passages_for_many(&batch, Purpose::Background).await?;
                let added = self.store.add_passages(&passages.concat()).await?;
                embedded_this_pass += added;
                report.contexts_done += added;
                progress(&report);
            }
            if embedded_this_pass == 0 {
                break;
            }
            left = self.store.embedding_backlog(&model).await?;
        }
        if left == 0 {
            report.old_passages_removed =
                self.store.delete_passages_of_other_models(&model).await?;
        }
        for (project_id, description) in self.store.descriptions_to_embed(&model).await? {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let vector = self.embed_for(vec![description], Purpose::Background).await?.remove(0);
            self.store.set_project_description_vector(project_id, Some((&model, &vector))).await?;
            report.descriptions_embedded += 1;
        }
        progress(&report);
        metrics::gauge!(crate::metrics::EMBEDDING_BACKLOG).set(left as f64);
        info!(
            model = %report.model,
            contexts = report.contexts_done,
            removed = report.old_passages_removed,
            descriptions = report.descriptions_embedded,
            "embedding backlog drained"
        );
        Ok(Some(report))
    }
}
