-- Project invitations: membership needs the invited account's consent, so an invitation is
-- kept, addressed to an email (an account may not exist yet), until it is accepted or
-- declined. Existing memberships stay as they are.
CREATE TABLE project_invitations (
    id         uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    email      text NOT NULL,
    role       text NOT NULL CHECK (role IN ('contributor')),
    invited_by uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    CONSTRAINT project_invitations_email UNIQUE (project_id, email)
);
CREATE INDEX project_invitations_by_email ON project_invitations (email);

-- An operator's invitation to register when REGISTRATION=invite: one token (stored hashed)
-- for one email, used once.
CREATE TABLE signup_invitations (
    id         uuid PRIMARY KEY,
    email      text NOT NULL,
    token_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
