//! The job lifecycle with a real worker on a real SQLite store: a job that fails and then
//! succeeds is retried, one that keeps failing ends `failed` after its last attempt, a fatal
//! error fails it at once, and a running job asked to cancel stops at its next safe point.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::{World, session, world_with};
use tc_domain::services::{JobContext, JobError, JobHandler, JobSettings, Services};
use tc_domain::{Caller, EmailVerification};
use tc_embed::HashingEmbedder;
use tc_store::prelude::*;
use tc_store::{JobRecord, JobStatus};
use tokio::sync::watch;
use uuid::Uuid;

/// What the test handler does on each attempt, by attempt number (from 1).
#[derive(Debug, Clone, Copy)]
enum Script {
    /// Fails (retryably) on the first `n` attempts, then succeeds.
    FailFirst(i64),
    /// Fails fatally.
    Fatal,
    /// Runs until asked to stop.
    UntilStopped,
}

#[derive(Debug)]
struct Scripted {
    runs: AtomicUsize,
}

#[async_trait::async_trait]
impl JobHandler for Scripted {
    fn kind(&self) -> &'static str {
        "scripted"
    }

    async fn run(&self, _services: &Services, ctx: &JobContext) -> Result<Value, JobError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let script: String = serde_json::from_value(ctx.job.payload["script"].clone()).unwrap();
        let fail_first: i64 = ctx.job.payload["n"].as_i64().unwrap_or(0);
        match script.as_str() {
            "fail_first" if ctx.job.attempts <= fail_first => {
                Err(JobError::Retryable(format!("attempt {} failed", ctx.job.attempts)))
            }
            "fail_first" => Ok(json!({"done_on_attempt": ctx.job.attempts})),
            "fatal" => Err(JobError::Fatal("the input is unreadable".into())),
            _ => {
                ctx.set_progress(json!({"phase": "working"}));
                while !ctx.stopped() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(JobError::Cancelled)
            }
        }
    }
}

struct Running {
    world: World,
    owner: Caller,
    project: Uuid,
    handler: Arc<Scripted>,
    stop: watch::Sender<bool>,
}

async fn running() -> Running {
    let handler = Arc::new(Scripted { runs: AtomicUsize::new(0) });
    let settings = JobSettings {
        lease: Duration::from_secs(5),
        heartbeat: Duration::from_millis(50),
        poll: Duration::from_millis(20),
        max_attempts: 3,
        retry_base: Duration::from_millis(20),
        shutdown_grace: Duration::from_secs(1),
    };
    let h = handler.clone();
    let world = world_with(EmailVerification::Off, Arc::new(HashingEmbedder), move |s| {
        s.with_job_settings(settings).with_job_handler(h)
    })
    .await;
    let owner = session(&world.user("owner@example.com", true).await);
    let project = world.project(&owner, "jobs", "private").await;
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(world.services.clone().run_job_worker("test-worker".into(), stopped));
    Running { world, owner, project, handler, stop }
}

impl Running {
    async fn submit(&self, script: Script) -> Uuid {
        let payload = match script {
            Script::FailFirst(n) => json!({"script": "fail_first", "n": n}),
            Script::Fatal => json!({"script": "fatal"}),
            Script::UntilStopped => json!({"script": "until_stopped"}),
        };
        let job = self.world.services.queued_job(
            Uuid::now_v7(),
            "scripted",
            Some(self.project),
            self.owner.user_id,
            payload,
            json!({}),
        );
        self.world.store.insert_job(&job).await.unwrap();
        job.id
    }

    /// Polls the job through the service, as its owner would, until `done` holds.
    async fn wait_for(&self, id: Uuid, done: impl Fn(&JobRecord) -> bool) -> JobRecord {
        for _ in 0..500 {
            let job = self.world.store.job_by_id(id).await.unwrap().unwrap();
            if done(&job) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("job {id} never reached the expected state");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[tokio::test]
async fn a_job_that_fails_then_succeeds_is_retried_until_it_does() {
    let r = running().await;
    let id = r.submit(Script::FailFirst(2)).await;
    let job = r.wait_for(id, |j| j.status.is_final()).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(job.attempts, 3, "two failures, then the third attempt succeeded");
    assert_eq!(job.result, Some(json!({"done_on_attempt": 3})));
    assert_eq!(job.error, None, "a success clears the last attempt's error");
    let view = r.world.services.job_status(&r.owner, r.project, id).await.unwrap();
    assert_eq!(view.status, JobStatus::Succeeded);
}

#[tokio::test]
async fn a_job_that_keeps_failing_ends_failed_after_its_last_attempt() {
    let r = running().await;
    let id = r.submit(Script::FailFirst(99)).await;
    let job = r.wait_for(id, |j| j.status.is_final()).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.attempts, 3, "max_attempts, no more");
    assert_eq!(job.error.as_deref(), Some("attempt 3 failed"));
    assert_eq!(r.handler.runs.load(Ordering::SeqCst), 3);
    assert!(job.finished_at.is_some());
}

#[tokio::test]
async fn a_fatal_error_fails_the_job_at_once() {
    let r = running().await;
    let id = r.submit(Script::Fatal).await;
    let job = r.wait_for(id, |j| j.status.is_final()).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.attempts, 1, "a fatal error is not retried");
    assert_eq!(job.error.as_deref(), Some("the input is unreadable"));
}

#[tokio::test]
async fn a_running_job_asked_to_cancel_stops_and_ends_cancelled() {
    let r = running().await;
    let id = r.submit(Script::UntilStopped).await;
    r.wait_for(id, |j| j.status == JobStatus::Running && j.progress["phase"] == "working").await;

    let view = r.world.services.cancel_job(&r.owner, id).await.unwrap();
    assert!(view.cancel_requested, "the answer says the cancel is on its way");
    assert_eq!(view.status, JobStatus::Running, "a running job stops at its next safe point");

    let job = r.wait_for(id, |j| j.status.is_final()).await;
    assert_eq!(job.status, JobStatus::Cancelled);
    assert_eq!(job.attempts, 1, "a cancelled job is not run again");
    // Cancelling a finished job changes nothing, and says so.
    let again = r.world.services.cancel_job(&r.owner, id).await.unwrap();
    assert_eq!(again.status, JobStatus::Cancelled);
    assert_eq!(again.finished_at, Some(job.finished_at.unwrap()));
}
