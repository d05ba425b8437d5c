//! Durable background jobs (SPEC §2): the worker loop, leases and heartbeats, outcomes, and the
//! job endpoints' rules.
//!
//! A job is a row written before its work starts (`Store::insert_job`). Workers claim runnable
//! jobs with a lease; while a job runs, a heartbeat saves its progress and extends the lease, and
//! learns whether someone asked to cancel it. A worker that dies simply stops heartbeating: once
//! the lease expires another worker (in this process after a restart, or another replica) claims
//! the job again, and the handler is written so that running it again finishes the same work
//! without duplicating it (the scan skips files already indexed by their hash). Failures that
//! may pass (a clone timing out, the database busy) are retried with exponential backoff up to
//! the job's attempt limit; others fail the job with their message.
//!
//! Every kind of job implements [`JobHandler`]; one pool of workers runs them all.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use std::time::Duration;

use serde_json::Value;
use tc_store::{JobOutcome, JobRecord, JobStatus, Scope};
use tokio::sync::watch;
use tracing::{info, warn};
use uuid::Uuid;

use super::Services;
use super::access::Access;
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::views::JobView;

/// Timing and retry rules for jobs.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// How long a claim lasts without a heartbeat; a dead worker's job waits this long.
    pub lease: Duration,
    /// How often a running job saves its progress and renews its lease.
    pub heartbeat: Duration,
    /// How often an idle worker looks for work (it is also woken when a job is submitted here).
    pub poll: Duration,
    pub max_attempts: i64,
    /// The first retry waits this long, each later one twice as long as the one before.
    pub retry_base: Duration,
    /// At shutdown, how long a running job has to stop at a safe point before its worker lets
    /// go of it (the job is queued again for any worker, and the server exits).
    pub shutdown_grace: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(2),
            poll: Duration::from_secs(1),
            max_attempts: 3,
            retry_base: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// How a handler's run ended, when not with a result.
#[derive(Debug)]
pub enum JobError {
    /// Someone cancelled the job (or this worker lost its lease); stop without a result.
    Cancelled,
    /// The server is stopping: queue the job again for any worker.
    Released,
    /// Worth another attempt later.
    Retryable(String),
    /// Will fail the same way again.
    Fatal(String),
}

impl JobError {
    /// A failure whose cause is internal (a database error, a model failure): the cause goes
    /// to the log, and the job's error, which every reader of the project sees, says only
    /// `public`.
    pub fn internal(public: &str, cause: impl std::fmt::Display) -> Self {
        warn!(error = %cause, "{public}");
        JobError::Retryable(public.to_string())
    }
}

impl From<DomainError> for JobError {
    fn from(e: DomainError) -> Self {
        // The public message only: `internal` may hold SQL, URLs or a server's reply.
        if let Some(cause) = e.cause_chain() {
            warn!(error = %cause, "{}", e.message);
        }
        let message = e.message.clone();
        match e.code {
            ErrorCode::DatabaseError | ErrorCode::InternalServerError => {
                JobError::Retryable(message)
            }
            ErrorCode::EmbeddingGenerationFailed => JobError::Retryable(message),
            _ => JobError::Fatal(message),
        }
    }
}

/// What a handler sees of its job while it runs.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub job: JobRecord,
    progress: Arc<Mutex<Value>>,
    stop: Arc<AtomicBool>,
}

impl JobContext {
    /// Replaces the progress the next heartbeat saves.
    pub fn set_progress(&self, progress: Value) {
        *self.progress.lock() = progress;
    }

    /// Whether the handler should stop: cancellation was asked for, or the lease was lost.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The flag itself, for blocking code that polls it (a clone in progress).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }
}

/// One kind of job.
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync {
    fn kind(&self) -> &'static str;
    /// Does the work; `Ok` carries the job's result.
    async fn run(&self, services: &Services, ctx: &JobContext) -> Result<Value, JobError>;
    /// Called once the job is final (succeeded, failed or cancelled), to free what it held.
    async fn finished(&self, _services: &Services, _job: &JobRecord) {}
}

fn job_not_found() -> DomainError {
    DomainError::new(ErrorCode::ResourceNotFound, "job not found")
}

pub(crate) fn job_view(j: JobRecord) -> JobView {
    JobView {
        job_id: j.id,
        kind: j.kind,
        project_id: j.project_id,
        status: j.status,
        progress: j.progress,
        result: j.result,
        error: j.error,
        attempts: j.attempts,
        cancel_requested: j.cancel_requested,
        created_at: j.created_at,
        started_at: j.started_at,
        finished_at: j.finished_at,
    }
}

impl Services {
    /// A job of `kind` ready to be inserted: queued, runnable now, with this server's attempt
    /// limit. Whoever submits it inserts it and then calls `job_submitted`.
    pub fn queued_job(
        &self,
        id: Uuid,
        kind: &str,
        project_id: Option<Uuid>,
        created_by: Uuid,
        payload: Value,
        progress: Value,
    ) -> JobRecord {
        let now = self.now();
        JobRecord {
            id,
            kind: kind.to_string(),
            project_id,
            created_by,
            payload,
            status: JobStatus::Queued,
            progress,
            result: None,
            error: None,
            attempts: 0,
            max_attempts: self.job_settings.max_attempts,
            run_after: now,
            lease_owner: None,
            lease_until: None,
            cancel_requested: false,
            created_at: now,
            started_at: None,
            finished_at: None,
        }
    }

    fn handler(&self, kind: &str) -> Option<Arc<dyn JobHandler>> {
        self.job_handlers.iter().find(|h| h.kind() == kind).cloned()
    }

    /// Wakes this process's idle workers (a job was just submitted).
    pub(crate) fn job_submitted(&self) {
        self.job_wakeup.notify_waiters();
    }

    /// Runs one worker until `stop` turns true: claims jobs, runs them, ends them.
    pub async fn run_job_worker(self: Arc<Self>, worker: String, mut stop: watch::Receiver<bool>) {
        let kinds: Vec<&'static str> = self.job_handlers.iter().map(|h| h.kind()).collect();
        loop {
            if *stop.borrow() {
                break;
            }
            let now = self.now();
            let lease_until = now + self.job_settings.lease;
            match self.store.claim_job(&kinds, &worker, now, lease_until).await {
                Ok(Some(job)) => self.run_claimed(job, &worker, stop.clone()).await,
                Ok(None) => {
                    tokio::select! {
                        _ = stop.changed() => {}
                        _ = self.job_wakeup.notified() => {}
                        _ = tokio::time::sleep(self.job_settings.poll) => {}
                    }
                }
                Err(e) => {
                    warn!(error = %e, "could not claim a job");
                    tokio::time::sleep(self.job_settings.poll).await;
                }
            }
        }
    }

    /// Runs a claimed job to its end. When the server stops meanwhile (`shutdown`), the job is
    /// asked to stop and given [`JobSettings::shutdown_grace`]; either way it is then queued
    /// again rather than ended, so that shutdown never waits on a job (a stuck one included)
    /// and no work is lost.
    async fn run_claimed(&self, job: JobRecord, worker: &str, mut shutdown: watch::Receiver<bool>) {
        let Some(handler) = self.handler(&job.kind) else { return };
        let ctx = JobContext {
            progress: Arc::new(Mutex::new(job.progress.clone())),
            stop: Arc::new(AtomicBool::new(false)),
            job,
        };
        let id = ctx.job.id;
        info!(job_id = %id, kind = %ctx.job.kind, attempt = ctx.job.attempts, "job started");
        let heartbeat = {
            let (store, clock) = (self.store.clone(), self.clock.clone());
            let (progress, stop) = (ctx.progress.clone(), ctx.stop.clone());
            let (settings, worker) = (self.job_settings.clone(), worker.to_string());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(settings.heartbeat).await;
                    let snapshot = progress.lock().clone();
                    let lease_until = clock.now() + settings.lease;
                    match store.heartbeat_job(id, &worker, &snapshot, lease_until).await {
                        Ok(Some(false)) => {}
                        Ok(Some(true)) | Ok(None) => {
                            stop.store(true, Ordering::Relaxed);
                            break;
                        }
                        Err(e) => warn!(job_id = %id, error = %e, "heartbeat failed"),
                    }
                }
            })
        };
        let run = handler.run(self, &ctx);
        tokio::pin!(run);
        let mut shut_down = false;
        let outcome = tokio::select! {
            outcome = &mut run => outcome,
            () = async { drop(shutdown.wait_for(|stop| *stop).await) } => {
                shut_down = true;
                ctx.stop.store(true, Ordering::Relaxed);
                match tokio::time::timeout(self.job_settings.shutdown_grace, &mut run).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        warn!(job_id = %id, "the job did not stop in time; letting go of it");
                        Err(JobError::Cancelled)
                    }
                }
            }
        };
        heartbeat.abort();
        let now = self.now();
        let outcome = match outcome {
            // Stopped by the shutdown, not by a person: the job goes back to the queue.
            Err(JobError::Cancelled) if shut_down => Err(JobError::Released),
            other => other,
        };
        let (outcome, label) = match outcome {
            Ok(result) => (JobOutcome::Succeeded(result), "succeeded"),
            Err(JobError::Cancelled) => (JobOutcome::Cancelled, "cancelled"),
            Err(JobError::Released) => {
                let error = "the server stopped during this attempt; the job runs again".into();
                (JobOutcome::Retry { error, run_after: now }, "released")
            }
            Err(JobError::Fatal(error)) => (JobOutcome::Failed(error), "failed"),
            Err(JobError::Retryable(error)) => {
                let exponent = u32::try_from(ctx.job.attempts.saturating_sub(1)).unwrap_or(0);
                let wait = self.job_settings.retry_base * 2u32.saturating_pow(exponent.min(10));
                (JobOutcome::Retry { error, run_after: now + wait }, "retried")
            }
        };
        // Save the last progress with the outcome, so a finished job shows its final counts.
        let progress = ctx.progress.lock().clone();
        let lease_until = now + self.job_settings.lease;
        let _ = self.store.heartbeat_job(id, worker, &progress, lease_until).await;
        match self.store.finish_job(id, worker, &outcome, now).await {
            Ok(true) => {
                metrics::counter!(crate::metrics::JOBS_FINISHED, "kind" => handler.kind(), "outcome" => label)
                    .increment(1);
                info!(job_id = %id, outcome = label, "job ended");
            }
            Ok(false) => warn!(job_id = %id, "lost the job's lease before ending it"),
            Err(e) => warn!(job_id = %id, error = %e, "could not record the job's outcome"),
        }
        if let Ok(Some(job)) = self.store.job_by_id(id).await
            && job.status.is_final()
        {
            handler.finished(self, &job).await;
        }
    }

    /// A job of `project_id`, for someone who can read that project.
    pub async fn job_status(
        &self,
        caller: &Caller,
        project_id: Uuid,
        job_id: Uuid,
    ) -> DomainResult<JobView> {
        caller.require_scope(Scope::Read)?;
        self.project_for(caller, project_id, Access::Read).await?;
        match self.store.job_by_id(job_id).await? {
            Some(job) if job.project_id == Some(project_id) => Ok(job_view(job)),
            _ => Err(job_not_found()),
        }
    }

    /// Any job the caller may see (`GET /jobs/{id}`): one of a project they can read, or one
    /// they started outside any project. Jobs the server runs for itself (the embedding job)
    /// and everyone else's are unknown to them.
    pub async fn job(&self, caller: &Caller, job_id: Uuid) -> DomainResult<JobView> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Read)?;
        Ok(job_view(self.visible_job(caller, job_id).await?))
    }

    /// Cancels a job in a project the caller may change: a queued job at once, a running one at
    /// its next heartbeat. Cancelling a finished job changes nothing and says so in its status.
    pub async fn cancel_job(&self, caller: &Caller, job_id: Uuid) -> DomainResult<JobView> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Write)?;
        let job = self.visible_job(caller, job_id).await?;
        let Some(project_id) = job.project_id else { return Err(job_not_found()) };
        self.project_for(caller, project_id, Access::Write).await?;
        let job = self.store.cancel_job(job_id, self.now()).await?.ok_or_else(job_not_found)?;
        if job.status == JobStatus::Cancelled
            && let Some(handler) = self.handler(&job.kind)
        {
            handler.finished(self, &job).await;
        }
        Ok(job_view(job))
    }

    /// The job, if the caller may see it (see [`Services::job`]); someone who may not learns
    /// nothing about it, not even that it exists.
    async fn visible_job(&self, caller: &Caller, job_id: Uuid) -> DomainResult<JobRecord> {
        let job = self.store.job_by_id(job_id).await?.ok_or_else(job_not_found)?;
        match job.project_id {
            Some(project_id) => {
                self.project_for(caller, project_id, Access::Read)
                    .await
                    .map_err(|_| job_not_found())?;
            }
            None if job.created_by == caller.user_id && caller.project_restriction().is_none() => {}
            None => return Err(job_not_found()),
        }
        Ok(job)
    }

    /// Jobs per status, for metrics and health.
    pub async fn job_counts(&self) -> DomainResult<Vec<(JobStatus, i64)>> {
        Ok(self.store.job_counts().await?)
    }
}
