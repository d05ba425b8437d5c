-- At most one embedding job (kind `embed`, which drains the embedding backlog) queued or
-- running at a time: whoever notices the backlog first queues it, the others get a conflict.
CREATE UNIQUE INDEX jobs_one_active_embed ON jobs (kind)
    WHERE kind = 'embed' AND status IN ('queued', 'running');
