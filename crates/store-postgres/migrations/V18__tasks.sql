-- Team tasks: in a project, or their creator's alone.

CREATE TABLE tasks (
    id          uuid PRIMARY KEY,
    project_id  uuid REFERENCES projects (id) ON DELETE CASCADE,
    title       text NOT NULL,
    description text NOT NULL,
    status      text NOT NULL CHECK (status IN ('todo', 'in_progress', 'done')),
    priority    text NOT NULL CHECK (priority IN ('low', 'medium', 'high')),
    assignee_id uuid REFERENCES users (id) ON DELETE SET NULL,
    due_date    date,
    tags        text[] NOT NULL,
    context_ids uuid[] NOT NULL,
    jira_keys   text[] NOT NULL,
    created_by  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    updated_by  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX tasks_project ON tasks (project_id, id);
CREATE INDEX tasks_personal ON tasks (created_by, id) WHERE project_id IS NULL;
