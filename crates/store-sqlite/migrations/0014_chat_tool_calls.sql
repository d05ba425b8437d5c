-- The agent's tool calls, one row per call, stored with the assistant message whose turn made
-- them: what was asked, what came back or why it failed, and how long it took.

CREATE TABLE chat_tool_calls (
    id          TEXT PRIMARY KEY NOT NULL,
    message_id  TEXT NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    call_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    server      TEXT,
    arguments   TEXT NOT NULL,
    result      TEXT,
    error       TEXT,
    writes      INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (message_id, position)
);
