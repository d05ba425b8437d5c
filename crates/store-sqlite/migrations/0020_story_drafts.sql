-- Jira story drafts (issue 19): what a draft is now (`story`, JSON), every version it went
-- through (`revisions`, a JSON array, oldest first), and what creating it in Jira did. `version`
-- guards every change (two refinements or creates racing: one wins, the other is told).
-- `create_marker` is the label stamped on the issue a create sends, so that a create whose
-- answer was lost is found in Jira instead of being sent twice.

CREATE TABLE story_drafts (
    id               TEXT PRIMARY KEY NOT NULL,
    project_id       TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_by       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    task_id          TEXT REFERENCES tasks (id) ON DELETE SET NULL,
    jira_project_key TEXT,
    parent_key       TEXT,
    requirements     TEXT NOT NULL,
    story            TEXT NOT NULL,
    sources          TEXT NOT NULL,
    revisions        TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('draft', 'creating', 'created')),
    create_marker    TEXT,
    jira_key         TEXT,
    jira_url         TEXT,
    last_error       TEXT,
    version          INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX story_drafts_project ON story_drafts (project_id, id);
