-- Workspaces, users, memberships, API tokens, invitations and the audit log.
-- Every tenant-owned table leads its primary key with workspace_id (distributable by tenant).

CREATE TABLE workspaces (
    workspace_id uuid PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Users are global: one person may belong to several workspaces. Support staff carry is_support.
CREATE TABLE users (
    user_id       uuid PRIMARY KEY,
    email         text NOT NULL,
    password_hash text,
    is_support    boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE memberships (
    workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- Tokens are stored as SHA-256 hashes; `prefix` is the visible start that tells them apart.
CREATE TABLE api_tokens (
    workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    token_id     uuid NOT NULL,
    user_id      uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix       text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (workspace_id, token_id)
);

-- Platform support tokens belong to no workspace.
CREATE TABLE support_tokens (
    token_id   uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    name       text NOT NULL,
    prefix     text NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE invitations (
    workspace_id  uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    invitation_id uuid NOT NULL,
    email         text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'member')),
    token_hash    bytea NOT NULL UNIQUE,
    invited_by    uuid REFERENCES users ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    accepted_at   timestamptz,
    PRIMARY KEY (workspace_id, invitation_id)
);

CREATE TABLE audit_events (
    workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    event_id     uuid NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_id     uuid,
    actor        text NOT NULL,
    actor_kind   text NOT NULL CHECK (actor_kind IN ('user', 'support', 'system')),
    action       text NOT NULL,
    target       text NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}',
    client_ip    text,
    PRIMARY KEY (workspace_id, event_id)
);
CREATE INDEX audit_events_recent ON audit_events (workspace_id, at DESC);

-- Row-level security on every tenant table: rows of the transaction's workspace only.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['workspaces', 'memberships', 'api_tokens', 'invitations', 'audit_events'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (workspace_id = costline_current_workspace()) '
            'WITH CHECK (workspace_id = costline_current_workspace())', t);
    END LOOP;
END
$$;
