-- Foundation: the role the application's tenant-scoped queries run as.
--
-- Migrations run as the owner of every table (the DATABASE_URL user). Requests that touch tenant
-- data run as `costline_app` (SET ROLE on each pooled connection), which does not own the tables
-- and cannot bypass row-level security: a query that forgets its workspace filter still sees only
-- the workspace set for its transaction (`costline.workspace_id`).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'costline_app') THEN
        CREATE ROLE costline_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;

GRANT costline_app TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO costline_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO costline_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO costline_app;

-- The workspace of the current transaction, or NULL when none is set (then RLS shows nothing).
CREATE FUNCTION costline_current_workspace() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('costline.workspace_id', true), '')::uuid $$;
