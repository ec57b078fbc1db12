-- Monthly rollups: the daily rollups summed per usage month, rebuilt with them in the swap of a
-- billing period. Cost queries without a `day` group over whole months read these (about 30
-- times fewer rows than the daily ones).
CREATE TABLE cur_monthly_costs (
    workspace_id     uuid NOT NULL,
    integration_id   uuid NOT NULL,
    billing_period   date NOT NULL,
    month            date NOT NULL,
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
    PRIMARY KEY (workspace_id, integration_id, billing_period, month, payer_account_id,
                 usage_account_id, product_code, region, line_item_type, currency),
    FOREIGN KEY (workspace_id, integration_id, billing_period) REFERENCES cur_periods ON DELETE CASCADE
);
CREATE INDEX cur_monthly_costs_month ON cur_monthly_costs (workspace_id, month);

ALTER TABLE cur_monthly_costs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cur_monthly_costs
    USING (workspace_id = costline_current_workspace())
    WITH CHECK (workspace_id = costline_current_workspace());

-- Periods ingested before this migration.
INSERT INTO cur_monthly_costs
SELECT workspace_id, integration_id, billing_period, date_trunc('month', day)::date,
       payer_account_id, usage_account_id, product_code, region, line_item_type, currency,
       sum(unblended), sum(net_unblended), sum(amortized), sum(line_items)
  FROM cur_daily_costs
 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
