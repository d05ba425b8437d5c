//! Durable jobs in PostgreSQL: claiming takes the oldest runnable row with
//! `FOR UPDATE SKIP LOCKED`, so workers on any number of replicas each get a different job
//! without waiting for one another; every other change is one conditional statement.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tc_store::{JobOutcome, JobRecord, JobStatus, StoreError, StoreResult};
use uuid::Uuid;

use crate::db::{self, client};
use crate::db_err;
use crate::rows::{self, JOB_COLS};

pub(crate) async fn insert_job(pool: &Pool, j: &JobRecord) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO jobs ({JOB_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
         $12, $13, $14, $15, $16, $17, $18)"
    );
    db::execute(
        &client(pool).await?,
        &sql,
        &[
            &j.id,
            &j.kind,
            &j.project_id,
            &j.created_by,
            &j.payload,
            &j.status.as_str(),
            &j.progress,
            &j.result,
            &j.error,
            &j.attempts,
            &j.max_attempts,
            &j.run_after,
            &j.lease_owner,
            &j.lease_until,
            &j.cancel_requested,
            &j.created_at,
            &j.started_at,
            &j.finished_at,
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn job_by_id(pool: &Pool, id: Uuid) -> StoreResult<Option<JobRecord>> {
    let sql = format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1");
    let row = db::query_opt(&client(pool).await?, &sql, &[&id]).await?;
    row.as_ref().map(rows::job).transpose()
}

pub(crate) async fn claim_job(
    pool: &Pool,
    kinds: &[&str],
    worker: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> StoreResult<Option<JobRecord>> {
    let mut c = client(pool).await?;
    let tx = c.transaction().await.map_err(db_err)?;
    // Expired leases of jobs someone asked to cancel: nobody needs to run them again.
    db::execute(
        &tx,
        "UPDATE jobs SET status = 'cancelled', finished_at = $1, lease_owner = NULL, \
         lease_until = NULL WHERE status = 'running' AND lease_until < $1 AND cancel_requested",
        &[&now],
    )
    .await?;
    // Expired leases with no attempts left: the job keeps killing its workers; stop it.
    db::execute(
        &tx,
        "UPDATE jobs SET status = 'failed', finished_at = $1, lease_owner = NULL, \
         lease_until = NULL, error = COALESCE(error, 'the worker running it stopped ' \
         || attempts || ' time(s) before finishing') \
         WHERE status = 'running' AND lease_until < $1 AND attempts >= max_attempts",
        &[&now],
    )
    .await?;
    let sql = format!(
        "UPDATE jobs SET status = 'running', lease_owner = $3, lease_until = $4, \
         attempts = attempts + 1, started_at = COALESCE(started_at, $2) \
         WHERE id = (SELECT id FROM jobs \
                     WHERE kind = ANY($1) \
                       AND ((status = 'queued' AND run_after <= $2) \
                         OR (status = 'running' AND lease_until < $2)) \
                     ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING {JOB_COLS}"
    );
    let claimed = db::query_opt(&tx, &sql, &[&kinds, &now, &worker, &lease_until]).await?;
    tx.commit().await.map_err(db_err)?;
    claimed.as_ref().map(rows::job).transpose()
}

pub(crate) async fn heartbeat_job(
    pool: &Pool,
    id: Uuid,
    worker: &str,
    progress: &serde_json::Value,
    lease_until: DateTime<Utc>,
) -> StoreResult<Option<bool>> {
    let row = db::query_opt(
        &client(pool).await?,
        "UPDATE jobs SET progress = $3, lease_until = $4 \
         WHERE id = $1 AND status = 'running' AND lease_owner = $2 RETURNING cancel_requested",
        &[&id, &worker, progress, &lease_until],
    )
    .await?;
    row.map(|r| rows::get(&r, "cancel_requested")).transpose()
}

pub(crate) async fn finish_job(
    pool: &Pool,
    id: Uuid,
    worker: &str,
    outcome: &JobOutcome,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let held = "WHERE id = $1 AND status = 'running' AND lease_owner = $2";
    let c = client(pool).await?;
    let changed = match outcome {
        JobOutcome::Succeeded(result) => {
            let sql = format!(
                "UPDATE jobs SET status = 'succeeded', result = $3, error = NULL, \
                 finished_at = $4, lease_owner = NULL, lease_until = NULL {held}"
            );
            db::execute(&c, &sql, &[&id, &worker, result, &now]).await?
        }
        JobOutcome::Failed(error) => {
            let sql = format!(
                "UPDATE jobs SET status = 'failed', error = $3, finished_at = $4, \
                 lease_owner = NULL, lease_until = NULL {held}"
            );
            db::execute(&c, &sql, &[&id, &worker, error, &now]).await?
        }
        JobOutcome::Cancelled => {
            let sql = format!(
                "UPDATE jobs SET status = 'cancelled', finished_at = $3, lease_owner = NULL, \
                 lease_until = NULL {held}"
            );
            db::execute(&c, &sql, &[&id, &worker, &now]).await?
        }
        JobOutcome::Retry { error, run_after } => {
            let sql = format!(
                "UPDATE jobs SET error = $3, lease_owner = NULL, lease_until = NULL, \
                 status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
                 finished_at = CASE WHEN attempts >= max_attempts THEN $4::timestamptz END, \
                 run_after = $5 {held}"
            );
            db::execute(&c, &sql, &[&id, &worker, error, &now, run_after]).await?
        }
    };
    Ok(changed == 1)
}

pub(crate) async fn cancel_job(
    pool: &Pool,
    id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Option<JobRecord>> {
    // One statement (the SET expressions all see the row before the change): a queued job is
    // cancelled, a running one asked to stop, a final one left alone.
    let sql = format!(
        "UPDATE jobs SET \
         status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END, \
         finished_at = CASE WHEN status = 'queued' THEN $2::timestamptz ELSE finished_at END, \
         cancel_requested = cancel_requested OR status = 'running' \
         WHERE id = $1 RETURNING {JOB_COLS}"
    );
    let row = db::query_opt(&client(pool).await?, &sql, &[&id, &now]).await?;
    row.as_ref().map(rows::job).transpose()
}

pub(crate) async fn job_counts(pool: &Pool) -> StoreResult<Vec<(JobStatus, i64)>> {
    let found = db::query(
        &client(pool).await?,
        "SELECT status, count(*) AS n FROM jobs GROUP BY status",
        &[],
    )
    .await?;
    rows::all(found, |r| {
        let status: String = rows::get(r, "status")?;
        let status = JobStatus::parse(&status)
            .ok_or_else(|| StoreError::database(format!("job status {status:?}")))?;
        Ok((status, rows::get(r, "n")?))
    })
}

pub(crate) async fn put_job_input(
    pool: &Pool,
    job_id: Uuid,
    part: i32,
    data: &[u8],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    db::execute(
        &client(pool).await?,
        "INSERT INTO job_inputs (job_id, part, data, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (job_id, part) DO UPDATE SET data = excluded.data",
        &[&job_id, &part, &data, &now],
    )
    .await?;
    Ok(())
}

pub(crate) async fn job_input(
    pool: &Pool,
    job_id: Uuid,
    part: i32,
) -> StoreResult<Option<Vec<u8>>> {
    let row = db::query_opt(
        &client(pool).await?,
        "SELECT data FROM job_inputs WHERE job_id = $1 AND part = $2",
        &[&job_id, &part],
    )
    .await?;
    row.map(|r| r.try_get::<_, Vec<u8>>("data").map_err(db_err)).transpose()
}

pub(crate) async fn delete_job_input(pool: &Pool, job_id: Uuid) -> StoreResult<()> {
    db::execute(&client(pool).await?, "DELETE FROM job_inputs WHERE job_id = $1", &[&job_id])
        .await?;
    Ok(())
}

pub(crate) async fn delete_orphan_job_inputs(
    pool: &Pool,
    before: DateTime<Utc>,
) -> StoreResult<u64> {
    db::execute(
        &client(pool).await?,
        "DELETE FROM job_inputs i WHERE i.created_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = i.job_id)",
        &[&before],
    )
    .await
}

#[async_trait::async_trait]
impl tc_store::JobStore for crate::PgStore {
    async fn insert_job(&self, job: &tc_store::JobRecord) -> tc_store::StoreResult<()> {
        insert_job(&self.pool, job).await
    }
    async fn job_by_id(
        &self,
        id: uuid::Uuid,
    ) -> tc_store::StoreResult<Option<tc_store::JobRecord>> {
        job_by_id(&self.pool, id).await
    }
    async fn claim_job(
        &self,
        kinds: &[&str],
        worker: &str,
        now: chrono::DateTime<chrono::Utc>,
        lease_until: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<Option<tc_store::JobRecord>> {
        claim_job(&self.pool, kinds, worker, now, lease_until).await
    }
    async fn heartbeat_job(
        &self,
        id: uuid::Uuid,
        worker: &str,
        progress: &serde_json::Value,
        lease_until: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<Option<bool>> {
        heartbeat_job(&self.pool, id, worker, progress, lease_until).await
    }
    async fn finish_job(
        &self,
        id: uuid::Uuid,
        worker: &str,
        outcome: &tc_store::JobOutcome,
        now: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<bool> {
        finish_job(&self.pool, id, worker, outcome, now).await
    }
    async fn cancel_job(
        &self,
        id: uuid::Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<Option<tc_store::JobRecord>> {
        cancel_job(&self.pool, id, now).await
    }
    async fn job_counts(&self) -> tc_store::StoreResult<Vec<(tc_store::JobStatus, i64)>> {
        job_counts(&self.pool).await
    }
    async fn put_job_input(
        &self,
        job_id: uuid::Uuid,
        part: i32,
        data: &[u8],
        now: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<()> {
        put_job_input(&self.pool, job_id, part, data, now).await
    }
    async fn job_input(
        &self,
        job_id: uuid::Uuid,
        part: i32,
    ) -> tc_store::StoreResult<Option<Vec<u8>>> {
        job_input(&self.pool, job_id, part).await
    }
    async fn delete_job_input(&self, job_id: uuid::Uuid) -> tc_store::StoreResult<()> {
        delete_job_input(&self.pool, job_id).await
    }
    async fn delete_orphan_job_inputs(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<u64> {
        delete_orphan_job_inputs(&self.pool, before).await
    }
}
