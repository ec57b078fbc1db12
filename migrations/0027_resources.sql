-- Active Resources (issue 19, docs/adr/0017-resource-inventory.md): what the inventory found in
-- each account, how each account's last inventory went, each resource's daily cost from the CUR,
-- and the Price List answers the rates come from.

-- One row per resource an integration's inventory has seen. `resource_id` is AWS's own id (what
-- the CUR's resource id column holds for instances, volumes and buckets), `arn` its ARN (what it
-- holds for the other types); `gone_at` is set when a complete listing of the resource's account,
-- region and type no longer had it, and cleared if it comes back.
CREATE TABLE resources (
    workspace_id   uuid NOT NULL,
    resource_key   uuid NOT NULL,
    integration_id uuid NOT NULL,
    account_id     text NOT NULL,
    region         text NOT NULL,
    resource_type  text NOT NULL CHECK (resource_type IN ('ec2:instance', 'ec2:volume',
                       'ec2:elastic-ip', 'ec2:nat-gateway', 'elbv2:load-balancer', 'rds:db',
                       's3:bucket', 'lambda:function', 'dynamodb:table', 'eks:cluster')),
    resource_id    text NOT NULL,
    arn            text NOT NULL,
    name           text NOT NULL DEFAULT '',
    tags           jsonb NOT NULL DEFAULT '{}',
    state          text,
    first_seen_at  timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    gone_at        timestamptz,
    -- The on-demand rate (docs/adr/0013): per hour and per 730-hour month, the Price List
    -- product it came from, or why there is none.
    hourly_rate    numeric,
    monthly_rate   numeric,
    rate_currency  text,
    rate_sku       text,
    rate_note      text,
    PRIMARY KEY (workspace_id, resource_key),
    FOREIGN KEY (workspace_id, integration_id) REFERENCES integrations ON DELETE CASCADE
);
CREATE UNIQUE INDEX resources_identity
    ON resources (workspace_id, integration_id, account_id, region, resource_type, resource_id);
-- The list's order (keyset pagination): account, region, type, AWS id, key.
CREATE INDEX resources_listing
    ON resources (workspace_id, account_id, region, resource_type, resource_id, resource_key);
CREATE INDEX resources_by_type
    ON resources (workspace_id, resource_type, account_id, region, resource_id, resource_key);
CREATE INDEX resources_tags ON resources USING gin (tags jsonb_path_ops);

-- The last inventory of each account of an integration: when, how it went, and what was denied
-- or failed (a JSON array of {"region", "resource_type", "action", "code", "message"}).
CREATE TABLE inventory_accounts (
    workspace_id   uuid NOT NULL,
    integration_id uuid NOT NULL,
    account_id     text NOT NULL,
    status         text NOT NULL CHECK (status IN ('complete', 'partial', 'failed', 'no_role')),
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL,
    regions        text[] NOT NULL DEFAULT '{}',
    resources      integer NOT NULL DEFAULT 0,
    issues         jsonb NOT NULL DEFAULT '[]',
    error          text,
    PRIMARY KEY (workspace_id, integration_id, account_id),
    FOREIGN KEY (workspace_id, integration_id) REFERENCES integrations ON DELETE CASCADE
);

-- Cost per CUR resource id and day, written by the ingest's swap with the period's other
-- rollups (atomically), so a resource's accrued cost is a few index reads.
CREATE TABLE cur_daily_resource_costs (
    workspace_id     uuid NOT NULL,
    integration_id   uuid NOT NULL,
    billing_period   date NOT NULL,
    usage_account_id text NOT NULL,
    resource_id      text NOT NULL,
    day              date NOT NULL,
    currency         text NOT NULL,
    unblended        numeric NOT NULL,
    net_unblended    numeric NOT NULL,
    amortized        numeric NOT NULL,
    line_items       bigint NOT NULL,
    PRIMARY KEY (workspace_id, integration_id, billing_period, usage_account_id, resource_id,
                 day, currency)
);
CREATE INDEX cur_daily_resource_costs_resource
    ON cur_daily_resource_costs (workspace_id, integration_id, usage_account_id, resource_id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['resources', 'inventory_accounts', 'cur_daily_resource_costs'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (workspace_id = costline_current_workspace()) '
            'WITH CHECK (workspace_id = costline_current_workspace())', t);
    END LOOP;
END
$$;

-- Price List Query API answers, shared by every workspace: public prices, no tenant data. One row
-- per question (PriceQuery::cache_key); `price` is NULL when no product matched. Refreshed when
-- older than the inventory's price lifetime.
CREATE TABLE price_list_cache (
    query_key   text PRIMARY KEY,
    sku         text,
    currency    text,
    price       numeric,
    description text,
    fetched_at  timestamptz NOT NULL
);
