-- Support access controlled by the customer (issue 21, docs/adr/0018-support-access-grants.md):
-- a workspace admin grants Costline support a bounded window, or ends it; outside a live grant
-- every support route answers 403. Break-glass grants (an incident, no customer grant) carry the
-- support user's stated reason.
CREATE TABLE support_access_grants (
    workspace_id uuid NOT NULL REFERENCES workspaces (workspace_id) ON DELETE CASCADE,
    grant_id     uuid NOT NULL,
    granted_by   uuid,
    granted_by_label text NOT NULL,
    granted_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    revoked_by_label text,
    break_glass  boolean NOT NULL DEFAULT false,
    reason       text,
    PRIMARY KEY (workspace_id, grant_id),
    CHECK (expires_at > granted_at),
    CHECK (NOT break_glass OR length(btrim(coalesce(reason, ''))) > 0)
);
CREATE INDEX support_access_grants_live ON support_access_grants (workspace_id, expires_at DESC);

ALTER TABLE support_access_grants ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON support_access_grants
    USING (workspace_id = costline_current_workspace())
    WITH CHECK (workspace_id = costline_current_workspace());
-- DELETE only for workspace deletion (workspace_deletion.rs deletes every workspace table).
GRANT SELECT, INSERT, UPDATE, DELETE ON support_access_grants TO costline_app;
-- The support search lists only workspaces that granted access.
GRANT SELECT ON support_access_grants TO costline_system;
CREATE POLICY system_directory ON support_access_grants FOR SELECT TO costline_system USING (true);
