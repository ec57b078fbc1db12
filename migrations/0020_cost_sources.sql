-- One source per account and period, and Cost Explorer history before the first CUR (issue 20).
--
-- cur_period_accounts: which usage accounts each integration's served assembly of a billing
-- period covers (with the payer account its line items name). Written by the swap in the same
-- transaction as the period's rollups. When two integrations of a workspace report the same
-- account and period, only one is `counted`: the payer's own CUR first, then the integration
-- connected first (crates/store/src/cost_sources.rs ranks them again on every swap and
-- revocation of the period, under a per-period advisory lock). The cost queries leave out the
-- rows of the pairs that are not counted.
CREATE TABLE cur_period_accounts (
    workspace_id     uuid NOT NULL,
    integration_id   uuid NOT NULL,
    billing_period   date NOT NULL,
    usage_account_id text NOT NULL,
    payer_account_id text NOT NULL,
    counted          boolean NOT NULL DEFAULT true,
    PRIMARY KEY (workspace_id, integration_id, billing_period, usage_account_id),
    FOREIGN KEY (workspace_id, integration_id) REFERENCES integrations ON DELETE CASCADE
);
CREATE INDEX cur_period_accounts_account
    ON cur_period_accounts (workspace_id, billing_period, usage_account_id);
CREATE INDEX cur_period_accounts_not_counted
    ON cur_period_accounts (workspace_id, billing_period) WHERE NOT counted;

INSERT INTO cur_period_accounts
SELECT DISTINCT ON (workspace_id, integration_id, billing_period, usage_account_id)
       workspace_id, integration_id, billing_period, usage_account_id, payer_account_id
  FROM cur_monthly_costs
 ORDER BY workspace_id, integration_id, billing_period, usage_account_id, payer_account_id;

UPDATE cur_period_accounts p SET counted = r.rank = 1
  FROM (SELECT a.workspace_id, a.integration_id, a.billing_period, a.usage_account_id,
               row_number() OVER (
                   PARTITION BY a.workspace_id, a.billing_period, a.usage_account_id
                   ORDER BY coalesce(i.account_id = a.payer_account_id, false) DESC,
                            i.created_at, i.integration_id) AS rank
          FROM cur_period_accounts a
          JOIN integrations i USING (workspace_id, integration_id)) r
 WHERE (p.workspace_id, p.integration_id, p.billing_period, p.usage_account_id)
     = (r.workspace_id, r.integration_id, r.billing_period, r.usage_account_id);

-- ce_daily_costs: daily costs by usage account and service read from Cost Explorer
-- (ce:GetCostAndUsage) for a management or standalone account, shown as preliminary
-- ("source": "cost_explorer") for the days of a month no served CUR covers. `service` is the
-- product code where Cost Explorer's service name maps to one, else Cost Explorer's name.
-- A month is replaced whole, in one transaction, each time it is read.
CREATE TABLE ce_daily_costs (
    workspace_id     uuid NOT NULL,
    integration_id   uuid NOT NULL,
    day              date NOT NULL,
    usage_account_id text NOT NULL,
    payer_account_id text NOT NULL,
    service          text NOT NULL,
    currency         text NOT NULL,
    unblended        numeric NOT NULL,
    net_unblended    numeric NOT NULL,
    amortized        numeric NOT NULL,
    PRIMARY KEY (workspace_id, integration_id, day, usage_account_id, service, currency),
    FOREIGN KEY (workspace_id, integration_id) REFERENCES integrations ON DELETE CASCADE
);
CREATE INDEX ce_daily_costs_day ON ce_daily_costs (workspace_id, day);

-- ce_imports: one row per integration: how many GetCostAndUsage requests Costline made for it
-- (each costs the customer $0.01), the months read, and the last outcome.
CREATE TABLE ce_imports (
    workspace_id   uuid NOT NULL,
    integration_id uuid NOT NULL,
    status         text NOT NULL CHECK (status IN ('importing', 'ready', 'capped', 'error')),
    requests       integer NOT NULL DEFAULT 0 CHECK (requests >= 0),
    months         integer NOT NULL DEFAULT 0,
    first_day      date,
    error          text,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    PRIMARY KEY (workspace_id, integration_id),
    FOREIGN KEY (workspace_id, integration_id) REFERENCES integrations ON DELETE CASCADE
);

-- Row level security as on every tenant table (the application role sees its workspace only).
ALTER TABLE cur_period_accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cur_period_accounts
    USING (workspace_id = costline_current_workspace())
    WITH CHECK (workspace_id = costline_current_workspace());
ALTER TABLE ce_daily_costs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ce_daily_costs
    USING (workspace_id = costline_current_workspace())
    WITH CHECK (workspace_id = costline_current_workspace());
ALTER TABLE ce_imports ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ce_imports
    USING (workspace_id = costline_current_workspace())
    WITH CHECK (workspace_id = costline_current_workspace());
