-- Line item tags as `json`, not `jsonb` (docs/adr/0011-ingest-speed.md).
--
-- Tags are written once per line item by the ingest and read only by cost queries grouping by a
-- tag key that the workspace does not roll up (`tags ->> key`, which both types answer). `json`
-- stores the validated text; `jsonb` parses it into its binary form on every insert, which was a
-- fifth of PostgreSQL's COPY time per line item. Tag keys the workspace rolls up never read it.
ALTER TABLE cur_line_items ALTER COLUMN tags DROP DEFAULT;
ALTER TABLE cur_line_items ALTER COLUMN tags TYPE json USING tags::json;
ALTER TABLE cur_line_items ALTER COLUMN tags SET DEFAULT '{}';
