-- Faster ingestion of large periods (docs/adr/0011-ingest-speed.md).
--
-- 1. Line items lose their primary key. `(workspace_id, integration_id, billing_period, line_no)`
--    was unique by construction: the ingest numbers every row itself (file number << 32 | row),
--    and a period's rows are only ever written by that ingest's COPY into a fresh table. Nothing
--    looks line items up by that key, yet building it after each load took about a quarter of a
--    2-million-row ingest, and the index was as large as a third of the table.
ALTER TABLE cur_line_items DROP CONSTRAINT cur_line_items_pkey;

-- 2. The rollup tables lose their foreign key to cur_periods. Rollups are written only by the
--    swap, in the transaction that holds the period's row FOR UPDATE, and deleted with it by the
--    revocation and workspace deletion purges (which delete every table with an integration id,
--    found from the catalog). The key's per-row check was most of the time spent writing a
--    period's ~180,000 daily rollups.
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT k.conname, r.relname
               FROM pg_constraint k JOIN pg_class r ON r.oid = k.conrelid
              WHERE k.contype = 'f' AND k.confrelid = 'cur_periods'::regclass
                AND r.relname IN ('cur_daily_costs', 'cur_monthly_costs', 'cur_daily_tag_costs') LOOP
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', c.relname, c.conname);
    END LOOP;
END
$$;
