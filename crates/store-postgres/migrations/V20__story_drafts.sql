-- Jira story drafts (issue 19): the draft now (`story`), every version it went through
-- (`revisions`, oldest first), and what creating it in Jira did. `version` guards every change;
-- `create_marker` is the label a create stamps on the issue, to find it when the answer is lost.

CREATE TABLE story_drafts (
    id               uuid PRIMARY KEY,
    project_id       uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_by       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    task_id          uuid REFERENCES tasks (id) ON DELETE SET NULL,
    jira_project_key text,
    parent_key       text,
    requirements     text NOT NULL,
    story            jsonb NOT NULL,
    sources          jsonb NOT NULL,
    revisions        jsonb NOT NULL,
    status           text NOT NULL CHECK (status IN ('draft', 'creating', 'created')),
    create_marker    text,
    jira_key         text,
    jira_url         text,
    last_error       text,
    version          bigint NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX story_drafts_project ON story_drafts (project_id, id);
