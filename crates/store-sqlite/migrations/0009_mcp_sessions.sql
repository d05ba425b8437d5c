-- MCP sessions: who opened each one (a session answers only its owner) and its protocol state
-- (the client's initialize parameters, JSON), so that any replica can continue a session
-- another one began.
CREATE TABLE mcp_sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    state        TEXT,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL
);
CREATE INDEX mcp_sessions_last_used ON mcp_sessions (last_used_at);
