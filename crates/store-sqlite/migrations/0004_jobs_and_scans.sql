-- Durable background jobs (SPEC §2/§3) and the files codebase scans have indexed.

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY NOT NULL,
    kind             TEXT NOT NULL,
    project_id       TEXT REFERENCES projects (id) ON DELETE CASCADE,
    created_by       TEXT NOT NULL,
    payload          TEXT NOT NULL,      -- JSON
    status           TEXT NOT NULL,      -- queued | running | succeeded | failed | cancelled
    progress         TEXT NOT NULL,      -- JSON object
    result           TEXT,               -- JSON
    error            TEXT,
    attempts         INTEGER NOT NULL,
    max_attempts     INTEGER NOT NULL,
    run_after        INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_until      INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER
);
-- Claiming looks for queued jobs that are due and running jobs whose lease expired.
CREATE INDEX jobs_claimable ON jobs (status, run_after, created_at);

CREATE TABLE scanned_files (
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    file_path    TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    PRIMARY KEY (project_id, file_path)
) WITHOUT ROWID;
