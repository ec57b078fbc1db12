-- When a backfill completed (its completion notice was written), kept on the backfill itself.
--
-- Until now "already notified" was found by searching the notifications' message text for the
-- backfill id; a notice's wording is for people, not a key. The notice and this column are
-- written in one transaction, under the backfill's row lock, so exactly one finishing ingest
-- announces the completion. Backfills completed before this migration take the time of their
-- notice, found the old way one last time.
ALTER TABLE backfills ADD COLUMN completed_at timestamptz;
UPDATE backfills b
   SET completed_at = (SELECT min(n.created_at) FROM notifications n
                        WHERE n.workspace_id = b.workspace_id
                          AND n.integration_id = b.integration_id
                          AND n.kind = 'backfill_completed'
                          AND n.created_at >= b.created_at
                          AND n.message LIKE '%' || b.backfill_id::text || '%');
