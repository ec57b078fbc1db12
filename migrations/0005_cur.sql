-- CUR ingestion: line items, billing periods and their files, daily rollups, tag keys, notices
-- (docs/adr/0007-cur-storage.md).
--
-- Line items are partitioned twice: by integration, then by billing period. A period's new assembly
-- is COPYed into a fresh table in schema `cur_parts`, then swapped in (detach the old leaf, attach
-- the new one, drop the old) in the same transaction that rebuilds the period's rollups, so
-- replacing a period and deleting an integration are metadata operations.
--
-- The partitions live in `cur_parts`, where `costline_app` has no privileges at all: the
-- application reaches line items only through `cur_line_items`, whose row-level security policy
-- then applies. (Policies of a partitioned table are not inherited by a partition queried by its
-- own name, so the partitions must not be reachable directly.) The partitions are created and
-- swapped by the owner connection inside store functions (crates/store/src/cur.rs).

CREATE SCHEMA cur_parts;
REVOKE ALL ON SCHEMA cur_parts FROM PUBLIC;

CREATE TABLE cur_line_items (
    workspace_id          uuid NOT NULL,
    integration_id        uuid NOT NULL,
    billing_period        date NOT NULL,
    -- (file number << 32) | row number within the file: unique within an assembly.
    line_no               bigint NOT NULL,
    usage_start           timestamptz NOT NULL,
    usage_end             timestamptz NOT NULL,
    payer_account_id      text NOT NULL,
    usage_account_id      text NOT NULL,
    line_item_type        text NOT NULL,
    product_code          text NOT NULL,
    usage_type            text NOT NULL,
    operation             text NOT NULL,
    region                text NOT NULL,
    availability_zone     text NOT NULL,
    resource_id           text NOT NULL,
    usage_amount          numeric NOT NULL,
    pricing_unit          text NOT NULL,
    unblended_rate        numeric,
    unblended_cost        numeric NOT NULL,
    net_unblended_cost    numeric,
    amortized_cost        numeric NOT NULL,
    net_amortized_cost    numeric,
    public_on_demand_cost numeric,
    currency              text NOT NULL,
    tags                  jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (workspace_id, integration_id, billing_period, line_no)
) PARTITION BY LIST (integration_id);

ALTER TABLE cur_line_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cur_line_items
    USING (workspace_id = costline_current_workspace()) WITH CHECK (workspace_id = costline_current_workspace());
-- The application only reads line items; ingestion writes through the owner.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON cur_line_items FROM costline_app;

-- Per-integration CUR state found by polling the bucket.
CREATE TABLE cur_sources (
    workspace_id      uuid NOT NULL,
    integration_id    uuid NOT NULL,
    -- `awaiting_first_report` until a delivery is found, then `delivered`; `error` when listing failed.
    status            text NOT NULL DEFAULT 'awaiting_first_report'
                      CHECK (status IN ('awaiting_first_report', 'delivered', 'error')),
    error             text,
    last_polled_at    timestamptz,
    first_ingested_at timestamptz,
    PRIMARY KEY (workspace_id, integration_id),
    FOREIGN KEY (workspace_id, integration_id) REFERENCES integrations ON DELETE CASCADE
);

-- One row per (integration, billing period). `assembly_id`, `status` and `error` describe the
-- newest assembly seen (being ingested, ingested, or failed); `live_*` the one served to readers,
-- which stays in place when a newer assembly fails.
CREATE TABLE cur_periods (
    workspace_id     uuid NOT NULL,
    integration_id   uuid NOT NULL,
    billing_period   date NOT NULL CHECK (extract(day FROM billing_period) = 1),
    status           text NOT NULL CHECK (status IN ('ingesting', 'ready', 'error')),
    assembly_id      text NOT NULL,
    format           text NOT NULL,
    files            integer NOT NULL DEFAULT 0,
    bytes            bigint NOT NULL DEFAULT 0,
    error            text,
    live_assembly_id text,
    live_table       text,
    rows             bigint,
    currency         text,
    ingested_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, integration_id, billing_period),
    FOREIGN KEY (workspace_id, integration_id) REFERENCES integrations ON DELETE CASCADE
);

-- Integrity record: every file of an assembly with its size and row count.
CREATE TABLE cur_files (
    workspace_id   uuid NOT NULL,
    integration_id uuid NOT NULL,
    billing_period date NOT NULL,
    assembly_id    text NOT NULL,
    file_key       text NOT NULL,
    file_no        integer NOT NULL,
    bytes          bigint NOT NULL,
    rows           bigint NOT NULL,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, integration_id, billing_period, assembly_id, file_key),
    FOREIGN KEY (workspace_id, integration_id, billing_period) REFERENCES cur_periods ON DELETE CASCADE
);

-- Daily rollups, rebuilt per period in the swap transaction. Amounts are exact sums.
-- `net_unblended` is the net cost where the report has it, else the unblended cost (Cost
-- Explorer's rule for accounts without discounts).
CREATE TABLE cur_daily_costs (
    workspace_id     uuid NOT NULL,
    integration_id   uuid NOT NULL,
    billing_period   date NOT NULL,
    day              date NOT NULL,
    payer_account_id text NOT NULL,
    usage_account_id text NOT NULL,
    product_code     text NOT NULL,
    region           text NOT NULL,
    line_item_type   text NOT NULL,
    currency         text NOT NULL,
    unblended        numeric NOT NULL,
    net_unblended    numeric NOT NULL,
    amortized        numeric NOT NULL,
    line_items       bigint NOT NULL,
    PRIMARY KEY (workspace_id, integration_id, billing_period, day, payer_account_id,
                 usage_account_id, product_code, region, line_item_type, currency),
    FOREIGN KEY (workspace_id, integration_id, billing_period) REFERENCES cur_periods ON DELETE CASCADE
);
CREATE INDEX cur_daily_costs_day ON cur_daily_costs (workspace_id, day);

-- The tag keys a workspace rolls up (none by default); keys match the parsers' normalized keys
-- (`Team` for `resourceTags/user:Team`, `team` for `resource_tags_user_team`).
CREATE TABLE workspace_tag_keys (
    workspace_id uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    tag_key      text NOT NULL CHECK (length(tag_key) BETWEEN 1 AND 256),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, tag_key)
);

-- Daily rollups per chosen tag key; `tag_value` is '' for line items without the tag.
CREATE TABLE cur_daily_tag_costs (
    workspace_id     uuid NOT NULL,
    integration_id   uuid NOT NULL,
    billing_period   date NOT NULL,
    tag_key          text NOT NULL,
    tag_value        text NOT NULL,
    day              date NOT NULL,
    payer_account_id text NOT NULL,
    usage_account_id text NOT NULL,
    product_code     text NOT NULL,
    region           text NOT NULL,
    line_item_type   text NOT NULL,
    currency         text NOT NULL,
    unblended        numeric NOT NULL,
    net_unblended    numeric NOT NULL,
    amortized        numeric NOT NULL,
    line_items       bigint NOT NULL,
    PRIMARY KEY (workspace_id, integration_id, billing_period, tag_key, tag_value, day,
                 payer_account_id, usage_account_id, product_code, region, line_item_type, currency),
    FOREIGN KEY (workspace_id, integration_id, billing_period) REFERENCES cur_periods ON DELETE CASCADE
);
CREATE INDEX cur_daily_tag_costs_day ON cur_daily_tag_costs (workspace_id, tag_key, day);

-- In-console notices for a workspace (first report ingested, ...). Email delivery is a `notify` job.
CREATE TABLE notifications (
    workspace_id    uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    notification_id uuid NOT NULL,
    kind            text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    integration_id  uuid,
    message         text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz,
    PRIMARY KEY (workspace_id, notification_id)
);
CREATE INDEX notifications_recent ON notifications (workspace_id, created_at DESC);
-- One "first report" notice per integration, even when two periods finish at once.
CREATE UNIQUE INDEX notifications_first_report ON notifications (workspace_id, integration_id)
    WHERE kind = 'cur_first_report';

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['cur_sources', 'cur_periods', 'cur_files', 'cur_daily_costs',
                             'workspace_tag_keys', 'cur_daily_tag_costs', 'notifications'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (workspace_id = costline_current_workspace()) '
            'WITH CHECK (workspace_id = costline_current_workspace())', t);
    END LOOP;
END
$$;
