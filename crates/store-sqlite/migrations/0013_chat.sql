-- AI chat: sessions and their messages, one row per message, so any replica rebuilds a
-- conversation's history from the database and long chats never load as one document.

CREATE TABLE chat_sessions (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id TEXT REFERENCES projects (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX chat_sessions_by_activity ON chat_sessions (user_id, updated_at DESC, id DESC);

CREATE TABLE chat_messages (
    id                TEXT PRIMARY KEY NOT NULL,
    session_id        TEXT NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    seq               INTEGER NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content           TEXT NOT NULL,
    mode              TEXT CHECK (mode IN ('llm', 'extractive')),
    status            TEXT NOT NULL CHECK (status IN ('complete', 'cancelled', 'error')),
    finish_reason     TEXT,
    model             TEXT,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    sources           TEXT NOT NULL,
    error             TEXT,
    created_at        INTEGER NOT NULL,
    UNIQUE (session_id, seq)
);
