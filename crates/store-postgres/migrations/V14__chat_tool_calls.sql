-- The agent's tool calls, one row per call, stored with the assistant message whose turn made
-- them: what was asked, what came back or why it failed, and how long it took.

CREATE TABLE chat_tool_calls (
    id          uuid PRIMARY KEY,
    message_id  uuid NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    call_id     text NOT NULL,
    name        text NOT NULL,
    server      text,
    arguments   jsonb NOT NULL,
    result      jsonb,
    error       text,
    writes      boolean NOT NULL,
    duration_ms bigint NOT NULL,
    created_at  timestamptz NOT NULL,
    UNIQUE (message_id, position)
);
