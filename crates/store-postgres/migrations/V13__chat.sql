-- AI chat: sessions and their messages, one row per message, so any replica rebuilds a
-- conversation's history from the database and long chats never load as one document.

CREATE TABLE chat_sessions (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id uuid REFERENCES projects (id) ON DELETE CASCADE,
    title      text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX chat_sessions_by_activity ON chat_sessions (user_id, updated_at DESC, id DESC);

CREATE TABLE chat_messages (
    id                uuid PRIMARY KEY,
    session_id        uuid NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    seq               bigint NOT NULL,
    role              text NOT NULL CHECK (role IN ('user', 'assistant')),
    content           text NOT NULL,
    mode              text CHECK (mode IN ('llm', 'extractive')),
    status            text NOT NULL CHECK (status IN ('complete', 'cancelled', 'error')),
    finish_reason     text,
    model             text,
    prompt_tokens     bigint,
    completion_tokens bigint,
    sources           jsonb NOT NULL,
    error             text,
    created_at        timestamptz NOT NULL,
    UNIQUE (session_id, seq)
);
