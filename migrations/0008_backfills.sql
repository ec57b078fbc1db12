-- Backfill requests by platform support (issue 8): which periods of which integration were
-- queued for reingestion, by whom, and the ingest job of each period (aligned arrays), so the
-- customer's integration page can show "backfill in progress" with each period's state.
-- Deleted with the integration on revocation (tests/revocation.rs scans every table).
CREATE TABLE backfills (
    workspace_id    uuid NOT NULL,
    backfill_id     uuid NOT NULL,
    integration_id  uuid NOT NULL,
    requested_by    text NOT NULL,
    requested_by_id uuid REFERENCES users ON DELETE SET NULL,
    periods         text[] NOT NULL CHECK (cardinality(periods) BETWEEN 1 AND 120),
    job_ids         uuid[] NOT NULL CHECK (cardinality(job_ids) = cardinality(periods)),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, backfill_id),
    FOREIGN KEY (workspace_id, integration_id) REFERENCES integrations ON DELETE CASCADE
);
CREATE INDEX backfills_recent ON backfills (workspace_id, integration_id, created_at DESC);

ALTER TABLE backfills ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON backfills
    USING (workspace_id = costline_current_workspace()) WITH CHECK (workspace_id = costline_current_workspace());
