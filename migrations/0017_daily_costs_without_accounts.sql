-- Daily costs by every dimension except the accounts (docs/adr/0011-ingest-speed.md, second
-- addendum), replacing the daily costs per service (0012).
--
-- Queries grouping by day and region (or line item type) read every daily rollup row of the
-- month: ~82,000 for a 50-account organization, p95 47-58 ms against the 50 ms target. Summed
-- over the accounts, the same month is a fraction of that, and the per-service table's queries
-- (the console's daily chart) are answered from it as well.
DROP TABLE cur_daily_service_costs;

CREATE TABLE cur_daily_service_region_costs (
    workspace_id     uuid NOT NULL,
    integration_id   uuid NOT NULL,
    billing_period   date NOT NULL,
    day              date NOT NULL,
    product_code     text NOT NULL,
    region           text NOT NULL,
    line_item_type   text NOT NULL,
    currency         text NOT NULL,
    unblended        numeric NOT NULL,
    net_unblended    numeric NOT NULL,
    amortized        numeric NOT NULL,
    line_items       bigint NOT NULL,
    PRIMARY KEY (workspace_id, integration_id, billing_period, day, product_code, region,
                 line_item_type, currency)
);
CREATE INDEX cur_daily_service_region_costs_day
    ON cur_daily_service_region_costs (workspace_id, day);

ALTER TABLE cur_daily_service_region_costs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cur_daily_service_region_costs
    USING (workspace_id = costline_current_workspace())
    WITH CHECK (workspace_id = costline_current_workspace());

INSERT INTO cur_daily_service_region_costs
SELECT workspace_id, integration_id, billing_period, day, product_code, region, line_item_type,
       currency, sum(unblended), sum(net_unblended), sum(amortized), sum(line_items)
  FROM cur_daily_costs
 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
