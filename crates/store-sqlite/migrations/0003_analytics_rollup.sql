-- Analytics reports: who acted (source), and a per-day rollup so that a report over millions of
-- events reads a few thousand rows. The rollup is written in the same transaction as the
-- events; `project_id` and `source` are '' rather than NULL there so that the primary key
-- identifies a group (NULLs are never equal in a key).

ALTER TABLE analytics_events ADD COLUMN source TEXT;
CREATE INDEX analytics_time ON analytics_events (timestamp);

CREATE TABLE analytics_daily (
    day                   INTEGER NOT NULL,  -- Unix milliseconds of midnight UTC
    user_id               TEXT NOT NULL,
    project_id            TEXT NOT NULL,     -- '' for events tied to no project
    source                TEXT NOT NULL,     -- '' when unknown
    event_type            TEXT NOT NULL,
    events                INTEGER NOT NULL,
    tokens_saved          INTEGER NOT NULL,
    tokens_avoided        INTEGER NOT NULL,
    contexts_retrieved    INTEGER NOT NULL,
    api_calls_made        INTEGER NOT NULL,
    estimated_savings_usd REAL NOT NULL,
    -- Project first: a project's report reads one contiguous range of the table.
    PRIMARY KEY (project_id, day, user_id, source, event_type)
) WITHOUT ROWID;
CREATE INDEX analytics_daily_user ON analytics_daily (user_id, day);

INSERT INTO analytics_daily (day, user_id, project_id, source, event_type, events, tokens_saved,
                             tokens_avoided, contexts_retrieved, api_calls_made,
                             estimated_savings_usd)
SELECT (timestamp / 86400000) * 86400000, user_id, COALESCE(project_id, ''), COALESCE(source, ''),
       event_type, count(*), sum(tokens_saved), sum(tokens_avoided), sum(contexts_retrieved),
       sum(api_calls_made), sum(estimated_savings_usd)
FROM analytics_events
GROUP BY 1, 2, 3, 4, 5;
