-- Email confirmation (issue 24, account pre-hijack). A sign-up, or an invitation accepted by
-- someone without an account, waits here until the link mailed to its address is followed
-- with the same password: only then is the account created (with the workspace to create or
-- the invitation to accept), so an address nobody has proven owns no account that could be
-- taken over, or sign in, or accept an invitation. One row per link; the newest sign-up of an
-- address replaces the older ones. Accounts made before this migration count as confirmed.
CREATE TABLE pending_signups (
    token_hash            bytea PRIMARY KEY,
    email                 text NOT NULL,
    password_hash         text NOT NULL,
    -- A sign-up: the workspace to create, owned by the new account.
    workspace_name        text CHECK (length(workspace_name) BETWEEN 1 AND 100),
    -- An invitation: accepted by the new account; gone when the invitation is.
    invitation_token_hash bytea REFERENCES invitations (token_hash) ON DELETE CASCADE,
    created_at            timestamptz NOT NULL DEFAULT now(),
    expires_at            timestamptz NOT NULL,
    CHECK ((workspace_name IS NULL) <> (invitation_token_hash IS NULL))
);
CREATE INDEX pending_signups_email ON pending_signups (lower(email));
