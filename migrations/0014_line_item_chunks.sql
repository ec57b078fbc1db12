-- Line items are stored in chunks, not one row each (docs/adr/0012-line-item-chunks.md).
--
-- A chunk holds the line items of one stretch of one report file (about 10,000): a PostgreSQL
-- binary COPY stream of their rows, in the column order of the old `cur_line_items` table,
-- compressed with zstd. Writing one 22-column row per line item cost PostgreSQL 2.7 us of CPU
-- each, more than the whole of parsing; a chunk costs it a few microseconds per 10,000. The cost
-- API reads the rollups; the line items are read (decompressed in the application) only for a
-- tag key the workspace does not roll up and when the rollups must be recomputed in SQL.
--
-- Partitioning is unchanged: by integration, then by billing period, in schema `cur_parts`,
-- swapped in by the ingest and dropped by revocation as metadata operations.

DROP TABLE cur_line_items CASCADE;

CREATE TABLE cur_line_item_chunks (
    workspace_id    uuid NOT NULL,
    integration_id  uuid NOT NULL,
    billing_period  date NOT NULL,
    -- (file number << 32) | chunk number within the file.
    chunk_no        bigint NOT NULL,
    -- Line items in the chunk, and the range of their usage start (queries skip chunks by it).
    line_items      integer NOT NULL CHECK (line_items > 0),
    usage_from      timestamptz NOT NULL,
    usage_to        timestamptz NOT NULL,
    -- zstd-compressed `COPY ... (FORMAT binary)` stream of the line items, with header and
    -- trailer: columns line_no, usage_start, usage_end, payer_account_id, usage_account_id,
    -- line_item_type, product_code, usage_type, operation, region, availability_zone,
    -- resource_id, usage_amount, pricing_unit, unblended_rate, unblended_cost,
    -- net_unblended_cost, amortized_cost, net_amortized_cost, public_on_demand_cost, currency,
    -- tags (json). `zstd -d | psql -c "COPY t (...) FROM STDIN (FORMAT binary)"` restores them.
    copy_zstd       bytea NOT NULL,
    PRIMARY KEY (workspace_id, integration_id, billing_period, chunk_no)
) PARTITION BY LIST (integration_id);
-- Already compressed: PostgreSQL must not try again.
ALTER TABLE cur_line_item_chunks ALTER COLUMN copy_zstd SET STORAGE EXTERNAL;

ALTER TABLE cur_line_item_chunks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cur_line_item_chunks
    USING (workspace_id = costline_current_workspace()) WITH CHECK (workspace_id = costline_current_workspace());
-- The application only reads line items; ingestion writes through the owner.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON cur_line_item_chunks FROM costline_app;

-- The dropped line items are read again from the customer's bucket: a period without a live
-- table is not served in full, so the next poll ingests it anew (its rollups keep serving the
-- same numbers until then, and the period stays `ready`).
UPDATE cur_periods SET live_table = NULL;
