-- Narrow primary keys for the daily and daily tag rollups (docs/adr/0012-line-item-chunks.md).
--
-- Their keys were every dimension (ten and twelve columns, six to eight of them text). Inserting
-- a period's ~180,000 daily rollups spent two thirds of its time in those two indexes (the key
-- and `(workspace_id, day)`), on the ingest's critical path. A rollup row now carries its group's
-- number within the period (its rank in dimension order, given by the ingest or by
-- `row_number()` in the SQL fallback), and one narrow key leads with what every cost query
-- filters on: the workspace, then the day (and the tag key). The dimensions stay unique per
-- period and day by construction: both writers group by all of them.

ALTER TABLE cur_daily_costs ADD COLUMN group_no integer;
UPDATE cur_daily_costs d SET group_no = n.group_no
  FROM (SELECT ctid, row_number() OVER (
                 PARTITION BY workspace_id, integration_id, billing_period
                 ORDER BY day, payer_account_id, usage_account_id, product_code, region,
                          line_item_type, currency)::integer AS group_no
          FROM cur_daily_costs) n
 WHERE d.ctid = n.ctid;
ALTER TABLE cur_daily_costs ALTER COLUMN group_no SET NOT NULL;
ALTER TABLE cur_daily_costs DROP CONSTRAINT cur_daily_costs_pkey;
ALTER TABLE cur_daily_costs ADD PRIMARY KEY (workspace_id, day, integration_id, billing_period, group_no);
DROP INDEX cur_daily_costs_day;

ALTER TABLE cur_daily_tag_costs ADD COLUMN group_no integer;
UPDATE cur_daily_tag_costs d SET group_no = n.group_no
  FROM (SELECT ctid, row_number() OVER (
                 PARTITION BY workspace_id, integration_id, billing_period
                 ORDER BY tag_key, tag_value, day, payer_account_id, usage_account_id,
                          product_code, region, line_item_type, currency)::integer AS group_no
          FROM cur_daily_tag_costs) n
 WHERE d.ctid = n.ctid;
ALTER TABLE cur_daily_tag_costs ALTER COLUMN group_no SET NOT NULL;
ALTER TABLE cur_daily_tag_costs DROP CONSTRAINT cur_daily_tag_costs_pkey;
ALTER TABLE cur_daily_tag_costs ADD PRIMARY KEY (workspace_id, tag_key, day, integration_id, billing_period, group_no);
DROP INDEX cur_daily_tag_costs_day;
