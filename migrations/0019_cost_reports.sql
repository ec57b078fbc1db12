-- Saved cost reports (issue 20): a named cost question of a workspace, answered afresh each time
-- it is looked at. The report names no integration: revoking one keeps the report (its numbers
-- no longer include that integration's costs), and deleting the workspace deletes its reports
-- (workspace_deletion finds every table with a workspace_id column).
--
-- filters and group_by hold the API's own spellings (`service:AmazonEC2`, `tag:Team`), parsed
-- by the same code as GET /api/v1/costs when read back. The range is either a relative name,
-- resolved against the current UTC date on each read, or fixed dates (end exclusive).
CREATE TABLE cost_reports (
    workspace_id   uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    report_id      uuid NOT NULL,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    filters        text[] NOT NULL DEFAULT '{}',
    group_by       text[] NOT NULL DEFAULT '{}',
    metric         text NOT NULL CHECK (metric IN ('unblended', 'net_unblended', 'amortized')),
    range_relative text CHECK (range_relative IN ('last_7_days', 'last_30_days', 'month_to_date',
                                                  'last_month', 'last_12_months')),
    range_start    date,
    range_end      date,
    chart          text NOT NULL CHECK (chart IN ('bar', 'line', 'table')),
    created_by     uuid REFERENCES users ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, report_id),
    CONSTRAINT cost_reports_one_range CHECK (
        (range_relative IS NOT NULL AND range_start IS NULL AND range_end IS NULL)
        OR (range_relative IS NULL AND range_start IS NOT NULL AND range_end > range_start))
);

-- The application role's privileges come from 0001's default privileges, as for every table.
ALTER TABLE cost_reports ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cost_reports
    USING (workspace_id = costline_current_workspace())
    WITH CHECK (workspace_id = costline_current_workspace());
