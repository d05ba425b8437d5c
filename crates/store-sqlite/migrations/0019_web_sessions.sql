-- Browser sessions of the web dashboard. The cookie holds an opaque token; only its SHA-256
-- is kept. A session ends at `expires_at` (absolute), after an idle gap the server decides
-- from `last_seen_at`, or when revoked (logout, logout everywhere, password change).

CREATE TABLE web_sessions (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash         TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
) WITHOUT ROWID;

CREATE INDEX web_sessions_user ON web_sessions (user_id);
