-- Daily costs per service (docs/adr/0011-ingest-speed.md, addendum): the console's daily chart
-- and any query grouping by day and/or service only. Summing a month of a 50-account
-- organization's daily rollups by day read ~80,000 rows (p95 43 ms, close to the 50 ms target);
-- this table holds a few thousand per month. Written by the same swap as the other rollups.
CREATE TABLE cur_daily_service_costs (
    workspace_id     uuid NOT NULL,
    integration_id   uuid NOT NULL,
    billing_period   date NOT NULL,
    day              date NOT NULL,
    product_code     text NOT NULL,
    currency         text NOT NULL,
    unblended        numeric NOT NULL,
    net_unblended    numeric NOT NULL,
    amortized        numeric NOT NULL,
    line_items       bigint NOT NULL,
    PRIMARY KEY (workspace_id, integration_id, billing_period, day, product_code, currency)
);
CREATE INDEX cur_daily_service_costs_day ON cur_daily_service_costs (workspace_id, day);

ALTER TABLE cur_daily_service_costs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cur_daily_service_costs
    USING (workspace_id = costline_current_workspace())
    WITH CHECK (workspace_id = costline_current_workspace());

INSERT INTO cur_daily_service_costs
SELECT workspace_id, integration_id, billing_period, day, product_code, currency,
       sum(unblended), sum(net_unblended), sum(amortized), sum(line_items)
  FROM cur_daily_costs
 GROUP BY 1, 2, 3, 4, 5, 6;
