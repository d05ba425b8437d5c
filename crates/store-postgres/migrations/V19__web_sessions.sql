-- Browser sessions of the web dashboard. The cookie holds an opaque token; only its SHA-256
-- is kept. A session ends at `expires_at` (absolute), after an idle gap the server decides
-- from `last_seen_at`, or when revoked (logout, logout everywhere, password change).

CREATE TABLE web_sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash         text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);

CREATE INDEX web_sessions_user ON web_sessions (user_id);
