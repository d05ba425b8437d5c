//! Durable jobs: insert, claim with a lease, heartbeat, finish, cancel. Every state change is
//! one statement or one transaction on the single writer connection, so two workers (threads or
//! processes sharing the file) can never both hold a job.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use tc_store::{JobOutcome, JobRecord, JobStatus, StoreResult};
use uuid::Uuid;

use crate::convert::{corrupt, get, get_opt_time, get_opt_uuid, get_time, get_uuid, ms, opt_ms};
use crate::db_err;

const JOB_COLS: &str = "id, kind, project_id, created_by, payload, status, progress, result, \
     error, attempts, max_attempts, run_after, lease_owner, lease_until, cancel_requested, \
     created_at, started_at, finished_at";

fn json(row: &Row<'_>, col: &str) -> StoreResult<serde_json::Value> {
    let text: String = get(row, col)?;
    serde_json::from_str(&text).map_err(|_| corrupt(format!("json in {col}")))
}

fn job(row: &Row<'_>) -> StoreResult<JobRecord> {
    let status: String = get(row, "status")?;
    let result: Option<String> = get(row, "result")?;
    Ok(JobRecord {
        id: get_uuid(row, "id")?,
        kind: get(row, "kind")?,
        project_id: get_opt_uuid(row, "project_id")?,
        created_by: get_uuid(row, "created_by")?,
        payload: json(row, "payload")?,
        status: JobStatus::parse(&status).ok_or_else(|| corrupt(format!("status {status}")))?,
        progress: json(row, "progress")?,
        result: result
            .map(|r| serde_json::from_str(&r).map_err(|_| corrupt("json in result")))
            .transpose()?,
        error: get(row, "error")?,
        attempts: get(row, "attempts")?,
        max_attempts: get(row, "max_attempts")?,
        run_after: get_time(row, "run_after")?,
        lease_owner: get(row, "lease_owner")?,
        lease_until: get_opt_time(row, "lease_until")?,
        cancel_requested: get(row, "cancel_requested")?,
        created_at: get_time(row, "created_at")?,
        started_at: get_opt_time(row, "started_at")?,
        finished_at: get_opt_time(row, "finished_at")?,
    })
}

pub(crate) fn insert_job(c: &Connection, j: &JobRecord) -> StoreResult<()> {
    c.prepare_cached(&format!(
        "INSERT INTO jobs ({JOB_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .map_err(db_err)?
    .execute(params![
        j.id.to_string(),
        j.kind,
        j.project_id.map(|p| p.to_string()),
        j.created_by.to_string(),
        j.payload.to_string(),
        j.status.as_str(),
        j.progress.to_string(),
        j.result.as_ref().map(ToString::to_string),
        j.error,
        j.attempts,
        j.max_attempts,
        ms(j.run_after),
        j.lease_owner,
        opt_ms(j.lease_until),
        j.cancel_requested,
        ms(j.created_at),
        opt_ms(j.started_at),
        opt_ms(j.finished_at),
    ])
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn job_by_id(c: &Connection, id: Uuid) -> StoreResult<Option<JobRecord>> {
    let mut stmt =
        c.prepare_cached(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?")).map_err(db_err)?;
    crate::convert::first(stmt.query([id.to_string()]).map_err(db_err)?, job)
}

pub(crate) fn claim_job(
    c: &mut Connection,
    kinds: &[&str],
    worker: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> StoreResult<Option<JobRecord>> {
    let kinds = serde_json::to_string(kinds).unwrap_or_default();
    let tx = c.transaction().map_err(db_err)?;
    // Expired leases of jobs someone asked to cancel: nobody needs to run them again.
    tx.execute(
        "UPDATE jobs SET status = 'cancelled', finished_at = ?1, lease_owner = NULL, \
         lease_until = NULL WHERE status = 'running' AND lease_until < ?1 AND cancel_requested",
        [ms(now)],
    )
    .map_err(db_err)?;
    // Expired leases with no attempts left: the job keeps killing its workers; stop it.
    tx.execute(
        "UPDATE jobs SET status = 'failed', finished_at = ?1, lease_owner = NULL, \
         lease_until = NULL, error = COALESCE(error, 'the worker running it stopped ' \
         || attempts || ' time(s) before finishing') \
         WHERE status = 'running' AND lease_until < ?1 AND attempts >= max_attempts",
        [ms(now)],
    )
    .map_err(db_err)?;
    let id: Option<String> = tx
        .query_row(
            "SELECT id FROM jobs \
             WHERE kind IN (SELECT value FROM json_each(?1)) \
               AND ((status = 'queued' AND run_after <= ?2) \
                 OR (status = 'running' AND lease_until < ?2)) \
             ORDER BY created_at, id LIMIT 1",
            params![kinds, ms(now)],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    let Some(id) = id else {
        tx.commit().map_err(db_err)?;
        return Ok(None);
    };
    tx.execute(
        "UPDATE jobs SET status = 'running', lease_owner = ?2, lease_until = ?3, \
         attempts = attempts + 1, started_at = COALESCE(started_at, ?4) WHERE id = ?1",
        params![id, worker, ms(lease_until), ms(now)],
    )
    .map_err(db_err)?;
    let claimed = {
        let mut stmt = tx
            .prepare_cached(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?"))
            .map_err(db_err)?;
        crate::convert::first(stmt.query([&id]).map_err(db_err)?, job)?
    };
    tx.commit().map_err(db_err)?;
    Ok(claimed)
}

pub(crate) fn heartbeat_job(
    c: &Connection,
    id: Uuid,
    worker: &str,
    progress: &serde_json::Value,
    lease_until: DateTime<Utc>,
) -> StoreResult<Option<bool>> {
    c.prepare_cached(
        "UPDATE jobs SET progress = ?3, lease_until = ?4 \
         WHERE id = ?1 AND status = 'running' AND lease_owner = ?2 RETURNING cancel_requested",
    )
    .map_err(db_err)?
    .query_row(params![id.to_string(), worker, progress.to_string(), ms(lease_until)], |r| r.get(0))
    .optional()
    .map_err(db_err)
}

pub(crate) fn finish_job(
    c: &Connection,
    id: Uuid,
    worker: &str,
    outcome: &JobOutcome,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let held = "WHERE id = ?1 AND status = 'running' AND lease_owner = ?2";
    let (id, now) = (id.to_string(), ms(now));
    let changed = match outcome {
        JobOutcome::Succeeded(result) => c.execute(
            &format!(
                "UPDATE jobs SET status = 'succeeded', result = ?3, error = NULL, \
                 finished_at = ?4, lease_owner = NULL, lease_until = NULL {held}"
            ),
            params![id, worker, result.to_string(), now],
        ),
        JobOutcome::Failed(error) => c.execute(
            &format!(
                "UPDATE jobs SET status = 'failed', error = ?3, finished_at = ?4, \
                 lease_owner = NULL, lease_until = NULL {held}"
            ),
            params![id, worker, error, now],
        ),
        JobOutcome::Cancelled => c.execute(
            &format!(
                "UPDATE jobs SET status = 'cancelled', finished_at = ?3, lease_owner = NULL, \
                 lease_until = NULL {held}"
            ),
            params![id, worker, now],
        ),
        JobOutcome::Retry { error, run_after } => c.execute(
            &format!(
                "UPDATE jobs SET error = ?3, lease_owner = NULL, lease_until = NULL, \
                 status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
                 finished_at = CASE WHEN attempts >= max_attempts THEN ?4 END, \
                 run_after = ?5 {held}"
            ),
            params![id, worker, error, now, ms(*run_after)],
        ),
    }
    .map_err(db_err)?;
    Ok(changed == 1)
}

pub(crate) fn cancel_job(
    c: &mut Connection,
    id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Option<JobRecord>> {
    let tx = c.transaction().map_err(db_err)?;
    tx.execute(
        "UPDATE jobs SET status = 'cancelled', finished_at = ?2 \
         WHERE id = ?1 AND status = 'queued'",
        params![id.to_string(), ms(now)],
    )
    .map_err(db_err)?;
    tx.execute(
        "UPDATE jobs SET cancel_requested = 1 WHERE id = ?1 AND status = 'running'",
        [id.to_string()],
    )
    .map_err(db_err)?;
    let found = job_by_id(&tx, id)?;
    tx.commit().map_err(db_err)?;
    Ok(found)
}

pub(crate) fn job_counts(c: &Connection) -> StoreResult<Vec<(JobStatus, i64)>> {
    let mut stmt =
        c.prepare_cached("SELECT status, count(*) FROM jobs GROUP BY status").map_err(db_err)?;
    crate::convert::collect(stmt.query([]).map_err(db_err)?, |r| {
        let status: String = r.get(0).map_err(db_err)?;
        let status =
            JobStatus::parse(&status).ok_or_else(|| corrupt(format!("status {status}")))?;
        Ok((status, r.get(1).map_err(db_err)?))
    })
}

pub(crate) fn put_job_input(
    c: &Connection,
    job_id: Uuid,
    part: i32,
    data: &[u8],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO job_inputs (job_id, part, data, created_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (job_id, part) DO UPDATE SET data = excluded.data",
    )
    .map_err(db_err)?
    .execute(params![job_id.to_string(), part, data, ms(now)])
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn job_input(c: &Connection, job_id: Uuid, part: i32) -> StoreResult<Option<Vec<u8>>> {
    c.prepare_cached("SELECT data FROM job_inputs WHERE job_id = ? AND part = ?")
        .map_err(db_err)?
        .query_row(params![job_id.to_string(), part], |r| r.get(0))
        .optional()
        .map_err(db_err)
}

pub(crate) fn delete_job_input(c: &Connection, job_id: Uuid) -> StoreResult<()> {
    c.prepare_cached("DELETE FROM job_inputs WHERE job_id = ?")
        .map_err(db_err)?
        .execute([job_id.to_string()])
        .map_err(db_err)?;
    Ok(())
}

pub(crate) fn delete_orphan_job_inputs(c: &Connection, before: DateTime<Utc>) -> StoreResult<u64> {
    let removed = c
        .prepare_cached(
            "DELETE FROM job_inputs WHERE created_at < ? \
             AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id = job_inputs.job_id)",
        )
        .map_err(db_err)?
        .execute([ms(before)])
        .map_err(db_err)?;
    Ok(removed as u64)
}

#[async_trait::async_trait]
impl tc_store::JobStore for crate::SqliteStore {
    async fn insert_job(&self, job: &tc_store::JobRecord) -> tc_store::StoreResult<()> {
        let job = job.clone();
        self.write(move |c| insert_job(c, &job)).await
    }
    async fn job_by_id(
        &self,
        id: uuid::Uuid,
    ) -> tc_store::StoreResult<Option<tc_store::JobRecord>> {
        self.read(|c| job_by_id(c, id))
    }
    async fn claim_job(
        &self,
        kinds: &[&str],
        worker: &str,
        now: chrono::DateTime<chrono::Utc>,
        lease_until: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<Option<tc_store::JobRecord>> {
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        let worker = worker.to_string();
        self.write(move |c| {
            let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
            claim_job(c, &kinds, &worker, now, lease_until)
        })
        .await
    }
    async fn heartbeat_job(
        &self,
        id: uuid::Uuid,
        worker: &str,
        progress: &serde_json::Value,
        lease_until: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<Option<bool>> {
        let (worker, progress) = (worker.to_string(), progress.clone());
        self.write(move |c| heartbeat_job(c, id, &worker, &progress, lease_until)).await
    }
    async fn finish_job(
        &self,
        id: uuid::Uuid,
        worker: &str,
        outcome: &tc_store::JobOutcome,
        now: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<bool> {
        let (worker, outcome) = (worker.to_string(), outcome.clone());
        self.write(move |c| finish_job(c, id, &worker, &outcome, now)).await
    }
    async fn cancel_job(
        &self,
        id: uuid::Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<Option<tc_store::JobRecord>> {
        self.write(move |c| cancel_job(c, id, now)).await
    }
    async fn job_counts(&self) -> tc_store::StoreResult<Vec<(tc_store::JobStatus, i64)>> {
        self.read(job_counts)
    }
    async fn put_job_input(
        &self,
        job_id: uuid::Uuid,
        part: i32,
        data: &[u8],
        now: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        let data = data.to_vec();
        self.write(move |c| put_job_input(c, job_id, part, &data, now)).await
    }
    async fn job_input(
        &self,
        job_id: uuid::Uuid,
        part: i32,
    ) -> tc_store::StoreResult<Option<Vec<u8>>> {
        self.read_blocking(move |c| job_input(c, job_id, part)).await
    }
    async fn delete_job_input(&self, job_id: uuid::Uuid) -> tc_store::StoreResult<()> {
        self.write(move |c| delete_job_input(c, job_id)).await
    }
    async fn delete_orphan_job_inputs(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<u64> {
        self.write(move |c| delete_orphan_job_inputs(c, before)).await
    }
}
