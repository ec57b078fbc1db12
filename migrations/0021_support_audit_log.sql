-- The platform's own record of what support staff did in customers' workspaces. Every support
-- event of a workspace's audit log (`audit_events`, actor_kind 'support') is also written here,
-- in the same transaction; this copy has no foreign key to the workspace, and workspace deletion
-- and integration revocation leave it in place, so the platform can still answer for its staff
-- after the customer is gone.
CREATE TABLE support_audit_log (
    workspace_id uuid NOT NULL,
    event_id     uuid NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_id     uuid,
    actor        text NOT NULL,
    action       text NOT NULL,
    target       text NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}',
    client_ip    text,
    PRIMARY KEY (workspace_id, event_id)
);
CREATE INDEX support_audit_log_recent ON support_audit_log (at DESC);

-- The application role may only append, and only for the workspace of its transaction; it can
-- neither read the log (it is the platform's, not a tenant's) nor change or delete a record.
-- The table owner (migrations, the admin command) reads it.
REVOKE SELECT, UPDATE, DELETE, TRUNCATE ON support_audit_log FROM costline_app;
ALTER TABLE support_audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY append_for_workspace ON support_audit_log FOR INSERT TO costline_app
    WITH CHECK (workspace_id = costline_current_workspace());
