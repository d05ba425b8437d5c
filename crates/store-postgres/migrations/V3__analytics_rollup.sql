-- Analytics reports: who acted (source), and a per-day rollup so that a report over millions of
-- events reads a few thousand rows (in step with SQLite's 0003). The rollup is written in the
-- same transaction as the events; `project_id` is the nil UUID and `source` '' rather than NULL
-- there so that the primary key identifies a group.

ALTER TABLE analytics_events ADD COLUMN source text;
CREATE INDEX analytics_time ON analytics_events (timestamp);

CREATE TABLE analytics_daily (
    day                   timestamptz NOT NULL,  -- midnight UTC
    user_id               uuid NOT NULL,
    project_id            uuid NOT NULL,
    source                text NOT NULL,
    event_type            text NOT NULL,
    events                bigint NOT NULL,
    tokens_saved          bigint NOT NULL,
    tokens_avoided        bigint NOT NULL,
    contexts_retrieved    bigint NOT NULL,
    api_calls_made        bigint NOT NULL,
    estimated_savings_usd double precision NOT NULL,
    PRIMARY KEY (project_id, day, user_id, source, event_type)
);
CREATE INDEX analytics_daily_user ON analytics_daily (user_id, day);
