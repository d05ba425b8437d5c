-- MCP sessions: who opened each one (a session answers only its owner) and its protocol state
-- (the client's initialize parameters, JSON), so that any replica can continue a session
-- another one began.
CREATE TABLE mcp_sessions (
    id           text PRIMARY KEY,
    user_id      uuid REFERENCES users (id) ON DELETE CASCADE,
    state        text,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL
);
CREATE INDEX mcp_sessions_last_used ON mcp_sessions (last_used_at);
