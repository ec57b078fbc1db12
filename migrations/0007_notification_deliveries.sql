-- Email deliveries of in-console notices (the `notifications` table of 0005_cur.sql), one row per
-- notice and recipient (docs/adr/0008-notifications.md). The `notify` job sends to each owner and
-- admin without a row here and writes the row right after the SMTP server accepted the message,
-- so a retried or re-run job does not email anyone twice.
CREATE TABLE notification_deliveries (
    workspace_id    uuid NOT NULL,
    notification_id uuid NOT NULL,
    email           text NOT NULL,
    -- sent: the server accepted it; rejected: it refused it for good (5xx), not retried.
    status          text NOT NULL CHECK (status IN ('sent', 'rejected')),
    error           text,
    sent_at         timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, notification_id, email),
    FOREIGN KEY (workspace_id, notification_id) REFERENCES notifications ON DELETE CASCADE
);

ALTER TABLE notification_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notification_deliveries
    USING (workspace_id = costline_current_workspace()) WITH CHECK (workspace_id = costline_current_workspace());
