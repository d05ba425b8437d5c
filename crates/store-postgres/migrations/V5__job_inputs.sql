-- A job's input that every replica must be able to read (a scan's uploaded files, packed),
-- in parts of a few MiB. Written before the job row, so it has no foreign key; a part whose
-- job never appeared is removed by the periodic purge.
CREATE TABLE job_inputs (
    job_id     uuid NOT NULL,
    part       integer NOT NULL,
    data       bytea NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (job_id, part)
);
CREATE INDEX job_inputs_created ON job_inputs (created_at);
