-- Team tasks: in a project, or their creator's alone. Lists of tags, linked contexts and Jira
-- keys are JSON arrays; the due date is `YYYY-MM-DD` (so it sorts and compares as text).

CREATE TABLE tasks (
    id          TEXT PRIMARY KEY NOT NULL,
    project_id  TEXT REFERENCES projects (id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    description TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('todo', 'in_progress', 'done')),
    priority    TEXT NOT NULL CHECK (priority IN ('low', 'medium', 'high')),
    assignee_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    due_date    TEXT,
    tags        TEXT NOT NULL,
    context_ids TEXT NOT NULL,
    jira_keys   TEXT NOT NULL,
    created_by  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    updated_by  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX tasks_project ON tasks (project_id, id);
CREATE INDEX tasks_personal ON tasks (created_by, id) WHERE project_id IS NULL;
