-- Durable background jobs and the files codebase scans have indexed (in step with SQLite's
-- 0004).

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL,
    project_id       uuid REFERENCES projects (id) ON DELETE CASCADE,
    created_by       uuid NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL,
    progress         jsonb NOT NULL,
    result           jsonb,
    error            text,
    attempts         bigint NOT NULL,
    max_attempts     bigint NOT NULL,
    run_after        timestamptz NOT NULL,
    lease_owner      text,
    lease_until      timestamptz,
    cancel_requested boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz
);
CREATE INDEX jobs_claimable ON jobs (status, run_after, created_at);

CREATE TABLE scanned_files (
    project_id   uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    file_path    text NOT NULL,
    content_hash text NOT NULL,
    PRIMARY KEY (project_id, file_path)
);
