//! Conformance scenarios: The job queue: claims, leases, retries, cancellation and inputs.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tc_store::*;
use uuid::Uuid;

use crate::fixtures::*;

/// This area's scenarios, listed beside them; `conformance_suite!` runs every area's list.
#[doc(hidden)]
#[macro_export]
macro_rules! jobs_scenarios {
    ($make:path) => {
        $crate::conformance_suite!(@tests $make; jobs;
            jobs_are_claimed_once_and_leased,
            jobs_retry_cancel_and_run_out_of_attempts,
            concurrent_claims_never_share_a_job,
            job_inputs_round_trip_and_orphans_go,
            one_embedding_job_is_active_at_a_time,
        );
    };
}

fn job(kind: &str, project_id: Option<Uuid>, created_by: Uuid, n: i64) -> JobRecord {
    JobRecord {
        id: Uuid::now_v7(),
        kind: kind.into(),
        project_id,
        created_by,
        payload: serde_json::json!({"n": n}),
        status: JobStatus::Queued,
        progress: serde_json::json!({}),
        result: None,
        error: None,
        attempts: 0,
        max_attempts: 3,
        run_after: t0(),
        lease_owner: None,
        lease_until: None,
        cancel_requested: false,
        created_at: t0() + Duration::milliseconds(n),
        started_at: None,
        finished_at: None,
    }
}

pub async fn jobs_are_claimed_once_and_leased<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "jobs@example.com").await;
    let first = job("scan", Some(p.id), u.id, 1);
    let other_kind = job("sync", Some(p.id), u.id, 2);
    s.insert_job(&first).await.unwrap();
    s.insert_job(&other_kind).await.unwrap();
    assert_eq!(s.job_by_id(first.id).await.unwrap().unwrap(), first);

    let now = t0() + Duration::seconds(1);
    let lease = now + Duration::seconds(30);
    let claimed = s.claim_job(&["scan"], "w1", now, lease).await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    assert_eq!((claimed.status, claimed.attempts), (JobStatus::Running, 1));
    assert_eq!((claimed.lease_owner.as_deref(), claimed.lease_until), (Some("w1"), Some(lease)));
    assert_eq!(claimed.started_at, Some(now));
    assert_eq!(s.claim_job(&["scan"], "w2", now, lease).await.unwrap(), None, "leased");

    let progress = serde_json::json!({"files_done": 3});
    assert_eq!(s.heartbeat_job(first.id, "w2", &progress, lease).await.unwrap(), None);
    let longer = lease + Duration::seconds(30);
    assert_eq!(s.heartbeat_job(first.id, "w1", &progress, longer).await.unwrap(), Some(false));
    let saved = s.job_by_id(first.id).await.unwrap().unwrap();
    assert_eq!((saved.progress, saved.lease_until), (progress, Some(longer)));

    // w1 dies: after its lease another worker takes the job over, and w1 can no longer end it.
    let later = longer + Duration::seconds(1);
    assert_eq!(s.claim_job(&["scan"], "w2", longer, later).await.unwrap(), None, "not expired");
    let taken = s.claim_job(&["scan"], "w2", later, later + Duration::seconds(30)).await;
    let taken = taken.unwrap().unwrap();
    assert_eq!((taken.id, taken.attempts, taken.started_at), (first.id, 2, Some(now)));
    let done = JobOutcome::Succeeded(serde_json::json!({"files_indexed": 7}));
    assert!(!s.finish_job(first.id, "w1", &done, later).await.unwrap());
    assert!(s.finish_job(first.id, "w2", &done, later).await.unwrap());
    let finished = s.job_by_id(first.id).await.unwrap().unwrap();
    assert_eq!(finished.status, JobStatus::Succeeded);
    assert_eq!(finished.result, Some(serde_json::json!({"files_indexed": 7})));
    assert_eq!((finished.finished_at, finished.lease_owner), (Some(later), None));
    assert!(!s.finish_job(first.id, "w2", &done, later).await.unwrap(), "already final");

    let mut counts = s.job_counts().await.unwrap();
    counts.sort_by_key(|(status, _)| status.as_str());
    assert_eq!(counts, vec![(JobStatus::Queued, 1), (JobStatus::Succeeded, 1)]);
    assert_eq!(s.job_by_id(Uuid::now_v7()).await.unwrap(), None);
}

pub async fn jobs_retry_cancel_and_run_out_of_attempts<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "retry@example.com").await;
    let mut flaky = job("scan", Some(p.id), u.id, 1);
    flaky.max_attempts = 2;
    s.insert_job(&flaky).await.unwrap();
    let now = t0() + Duration::seconds(1);
    let lease = |t: DateTime<Utc>| t + Duration::seconds(30);
    s.claim_job(&["scan"], "w", now, lease(now)).await.unwrap().unwrap();
    let backoff = now + Duration::seconds(10);
    let retry = JobOutcome::Retry { error: "clone timed out".into(), run_after: backoff };
    assert!(s.finish_job(flaky.id, "w", &retry, now).await.unwrap());
    let queued = s.job_by_id(flaky.id).await.unwrap().unwrap();
    assert_eq!(
        (queued.status, queued.error.as_deref()),
        (JobStatus::Queued, Some("clone timed out"))
    );
    assert_eq!(s.claim_job(&["scan"], "w", now, lease(now)).await.unwrap(), None, "backing off");
    let again = s.claim_job(&["scan"], "w", backoff, lease(backoff)).await.unwrap().unwrap();
    assert_eq!(again.attempts, 2);
    assert!(s.finish_job(flaky.id, "w", &retry, backoff).await.unwrap());
    let failed = s.job_by_id(flaky.id).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.finished_at), (JobStatus::Failed, Some(backoff)));

    // A job whose workers keep dying is failed once its attempts are spent.
    let mut deadly = job("scan", Some(p.id), u.id, 2);
    deadly.max_attempts = 1;
    s.insert_job(&deadly).await.unwrap();
    s.claim_job(&["scan"], "w", now, lease(now)).await.unwrap().unwrap();
    let after = lease(now) + Duration::seconds(1);
    assert_eq!(s.claim_job(&["scan"], "w2", after, lease(after)).await.unwrap(), None);
    let dead = s.job_by_id(deadly.id).await.unwrap().unwrap();
    assert_eq!(dead.status, JobStatus::Failed);
    assert!(dead.error.unwrap().contains("stopped"), "says why");

    // Cancel: a queued job at once; a running one through its worker's next heartbeat.
    let waiting = job("scan", Some(p.id), u.id, 3);
    let running = job("scan", Some(p.id), u.id, 4);
    s.insert_job(&waiting).await.unwrap();
    s.insert_job(&running).await.unwrap();
    let got = s.cancel_job(waiting.id, now).await.unwrap().unwrap();
    assert_eq!((got.status, got.finished_at), (JobStatus::Cancelled, Some(now)));
    let held = s.claim_job(&["scan"], "w", now, lease(now)).await.unwrap().unwrap();
    assert_eq!(held.id, running.id, "the cancelled job is never claimed");
    let got = s.cancel_job(running.id, now).await.unwrap().unwrap();
    assert_eq!((got.status, got.cancel_requested), (JobStatus::Running, true));
    let progress = serde_json::json!({});
    assert_eq!(s.heartbeat_job(running.id, "w", &progress, lease(now)).await.unwrap(), Some(true));
    assert!(s.finish_job(running.id, "w", &JobOutcome::Cancelled, now).await.unwrap());
    assert_eq!(s.job_by_id(running.id).await.unwrap().unwrap().status, JobStatus::Cancelled);
    let unchanged = s.cancel_job(flaky.id, now).await.unwrap().unwrap();
    assert_eq!(unchanged.status, JobStatus::Failed, "final jobs stay as they are");
    assert_eq!(s.cancel_job(Uuid::now_v7(), now).await.unwrap(), None);

    // A running job asked to cancel whose worker died is cancelled, not run again.
    let orphan = job("scan", Some(p.id), u.id, 5);
    s.insert_job(&orphan).await.unwrap();
    s.claim_job(&["scan"], "w", now, lease(now)).await.unwrap().unwrap();
    s.cancel_job(orphan.id, now).await.unwrap();
    assert_eq!(s.claim_job(&["scan"], "w2", after, lease(after)).await.unwrap(), None);
    assert_eq!(s.job_by_id(orphan.id).await.unwrap().unwrap().status, JobStatus::Cancelled);
}

pub async fn job_inputs_round_trip_and_orphans_go<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "inputs@example.com").await;
    let with_job = job("scan", Some(p.id), u.id, 1);
    // Parts are written before the job, and may hold any bytes (here, every byte value).
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 256) as u8).collect();
    s.put_job_input(with_job.id, 0, &big, t0()).await.unwrap();
    s.put_job_input(with_job.id, 1, b"", t0()).await.unwrap();
    s.insert_job(&with_job).await.unwrap();
    assert_eq!(s.job_input(with_job.id, 0).await.unwrap().as_deref(), Some(&big[..]));
    assert_eq!(s.job_input(with_job.id, 1).await.unwrap(), Some(Vec::new()));
    assert_eq!(s.job_input(with_job.id, 2).await.unwrap(), None);
    // Writing a part again replaces it.
    s.put_job_input(with_job.id, 1, b"again", t0()).await.unwrap();
    assert_eq!(s.job_input(with_job.id, 1).await.unwrap().as_deref(), Some(&b"again"[..]));

    // A part whose job never appeared goes once it is old enough; one with its job stays.
    let orphan = Uuid::now_v7();
    s.put_job_input(orphan, 0, b"lost", t0()).await.unwrap();
    assert_eq!(s.delete_orphan_job_inputs(t0()).await.unwrap(), 0, "not older than the cutoff");
    let later = t0() + Duration::hours(2);
    assert_eq!(s.delete_orphan_job_inputs(later).await.unwrap(), 1);
    assert_eq!(s.job_input(orphan, 0).await.unwrap(), None);
    assert!(s.job_input(with_job.id, 0).await.unwrap().is_some());

    s.delete_job_input(with_job.id).await.unwrap();
    assert_eq!(s.job_input(with_job.id, 0).await.unwrap(), None);
    assert_eq!(s.job_input(with_job.id, 1).await.unwrap(), None);
    s.delete_job_input(Uuid::now_v7()).await.unwrap();
}

pub async fn concurrent_claims_never_share_a_job<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "claims@example.com").await;
    for n in 0..3 {
        s.insert_job(&job("scan", Some(p.id), u.id, n)).await.unwrap();
    }
    let now = t0() + Duration::seconds(1);
    let tasks: Vec<_> = (0..8)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                let worker = format!("w{w}");
                s.claim_job(&["scan"], &worker, now, now + Duration::seconds(30)).await.unwrap()
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for t in tasks {
        if let Some(j) = t.await.unwrap() {
            claimed.push(j.id);
        }
    }
    claimed.sort();
    claimed.dedup();
    assert_eq!(claimed.len(), 3, "each job claimed by exactly one worker");
}

pub async fn one_embedding_job_is_active_at_a_time<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "embed-job@example.com").await;
    let first = job("embed", None, Uuid::nil(), 1);
    s.insert_job(&first).await.unwrap();
    let second = s.insert_job(&job("embed", None, Uuid::nil(), 2)).await;
    assert!(
        matches!(second, Err(StoreError::Conflict { constraint: "jobs.one_active" })),
        "{second:?}"
    );
    // Other kinds may queue side by side.
    s.insert_job(&job("scan", Some(p.id), u.id, 3)).await.unwrap();
    s.insert_job(&job("scan", Some(p.id), u.id, 4)).await.unwrap();

    // Running still counts as active; once it ends, another may be queued.
    let now = t0() + Duration::seconds(1);
    let claimed = s.claim_job(&["embed"], "w1", now, now + Duration::seconds(30)).await.unwrap();
    assert_eq!(claimed.map(|j| j.id), Some(first.id));
    assert!(s.insert_job(&job("embed", None, Uuid::nil(), 5)).await.is_err());
    let done = JobOutcome::Succeeded(serde_json::json!({}));
    assert!(s.finish_job(first.id, "w1", &done, now).await.unwrap());
    s.insert_job(&job("embed", None, Uuid::nil(), 6)).await.unwrap();
}
