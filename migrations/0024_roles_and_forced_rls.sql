-- Database roles and forced row-level security on every table that holds workspace or user data
-- (issue 24, docs/adr/0015-database-roles.md).
--
-- The roles come from crates/store/roles.sql: costline_owner runs this (and owns everything),
-- costline_app serves requests and jobs one workspace per transaction, costline_system runs the
-- cross-tenant paths. Every table with a workspace_id gets RLS enabled AND forced, so the
-- owner's SECURITY DEFINER functions below are confined to the transaction's workspace too.
DO $$
BEGIN
    IF current_user <> 'costline_owner'
       OR NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'costline_system' AND rolcanlogin) THEN
        RAISE EXCEPTION 'Costline''s migrations run as costline_owner (this is %)', current_user
            USING HINT = 'run crates/store/roles.sql as a superuser in this database and set DATABASE_URL to the costline_owner login (README, "PostgreSQL roles")';
    END IF;
END
$$;

-- Migration 0001 set the default privileges for whoever ran it; tables added from now on are
-- created by the owner.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO costline_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO costline_app;
GRANT SELECT ON _sqlx_migrations TO costline_app, costline_system;

-- 1. Every table holding a workspace_id, partitions included: RLS enabled and forced, with the
--    tenant policy (a table added before without one gets it). New partitions get the same from
--    cur_protect below.
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname IN ('public', 'cur_parts') AND c.relkind IN ('r', 'p')
                AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                               AND a.attname = 'workspace_id' AND NOT a.attisdropped)
              ORDER BY c.oid LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', t);
        IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = t AND polname = 'tenant_isolation') THEN
            EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (workspace_id = costline_current_workspace()) '
                           'WITH CHECK (workspace_id = costline_current_workspace())', t);
        END IF;
    END LOOP;
END
$$;

-- 2. The system role: the job queue and the schedules across workspaces (it also enqueues the
--    schedules' jobs), and the directory lookups that precede knowing the workspace.
GRANT SELECT, INSERT, UPDATE, DELETE ON jobs, schedules TO costline_system;
CREATE POLICY system_queue ON jobs TO costline_system USING (true) WITH CHECK (true);
CREATE POLICY system_queue ON schedules TO costline_system USING (true) WITH CHECK (true);

GRANT SELECT ON workspaces, memberships, invitations, integrations, aws_accounts TO costline_system;
CREATE POLICY system_directory ON workspaces FOR SELECT TO costline_system USING (true);
CREATE POLICY system_directory ON memberships FOR SELECT TO costline_system USING (true);
CREATE POLICY system_directory ON invitations FOR SELECT TO costline_system USING (true);
CREATE POLICY system_directory ON integrations FOR SELECT TO costline_system USING (true);
CREATE POLICY system_directory ON aws_accounts FOR SELECT TO costline_system USING (true);

-- Token authentication reads any token by its hash and notes its last use.
GRANT SELECT, UPDATE (last_used_at) ON api_tokens TO costline_system;
CREATE POLICY system_auth ON api_tokens FOR SELECT TO costline_system USING (true);
CREATE POLICY system_auth_touch ON api_tokens FOR UPDATE TO costline_system USING (true) WITH CHECK (true);

-- 3. Users: the system role looks them up (login, tokens, invitations, support) and creates
--    support staff. The application role sees the members of its transaction's workspace, may
--    add users that are not support staff, and never reads or changes a password hash.
ALTER TABLE users ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY system_directory ON users TO costline_system USING (true) WITH CHECK (true);
CREATE POLICY workspace_members ON users FOR SELECT TO costline_app
    USING (EXISTS (SELECT 1 FROM memberships m
                    WHERE m.user_id = users.user_id AND m.workspace_id = costline_current_workspace()));
CREATE POLICY new_users ON users FOR INSERT TO costline_app WITH CHECK (NOT is_support);
REVOKE ALL ON users FROM costline_app;
GRANT SELECT (user_id, email, is_support, created_at) ON users TO costline_app;
GRANT INSERT (user_id, email, password_hash) ON users TO costline_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users TO costline_system;

-- 4. Support tokens: the support path only (authentication, the admin command line).
ALTER TABLE support_tokens ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY support_path ON support_tokens TO costline_system USING (true) WITH CHECK (true);
REVOKE ALL ON support_tokens FROM costline_app;
GRANT SELECT, INSERT, UPDATE (revoked_at) ON support_tokens TO costline_system;

-- 5. Console sessions (tower-sessions-sqlx-store's table, created here rather than by the
--    application at start): the session store runs as the system role.
CREATE SCHEMA IF NOT EXISTS tower_sessions;
CREATE TABLE IF NOT EXISTS tower_sessions.session (
    id          text PRIMARY KEY NOT NULL,
    data        bytea NOT NULL,
    expiry_date timestamptz NOT NULL
);
ALTER TABLE tower_sessions.session ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY session_store ON tower_sessions.session TO costline_system USING (true) WITH CHECK (true);
REVOKE ALL ON SCHEMA tower_sessions FROM PUBLIC;
REVOKE ALL ON tower_sessions.session FROM PUBLIC, costline_app;
GRANT USAGE ON SCHEMA tower_sessions TO costline_system;
GRANT SELECT, INSERT, UPDATE, DELETE ON tower_sessions.session TO costline_system;

-- 6. Line item partitions. The ingest (costline_app) names its staging table to COPY into it;
--    it has no privilege on any other table of the schema.
GRANT USAGE ON SCHEMA cur_parts TO costline_app;

-- Every function below runs as its owner with a fixed search_path, is executable by the
-- application role only, and acts on the transaction's workspace only (checked first; the
-- forced policies hide every other workspace's rows from the owner as well).
CREATE FUNCTION costline_require_workspace(p_workspace uuid) RETURNS void
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
BEGIN
    IF p_workspace IS NULL OR p_workspace IS DISTINCT FROM costline_current_workspace() THEN
        RAISE EXCEPTION 'workspace % is not the workspace of this transaction', p_workspace
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;

-- RLS enabled and forced, with the tenant policy, on a table of cur_parts.
CREATE FUNCTION cur_protect(p_table regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', p_table);
    IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = p_table AND polname = 'tenant_isolation') THEN
        EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (workspace_id = costline_current_workspace()) '
                       'WITH CHECK (workspace_id = costline_current_workspace())', p_table);
    END IF;
END
$$;

-- A staging table is loaded with COPY, which PostgreSQL refuses on a table under row-level
-- security, so until the swap seals it the application may only INSERT into it, and only rows
-- of its own transaction's workspace (this trigger; the table's check constraint pins the
-- workspace, integration and period it belongs to). Nobody but the owner can read it.
CREATE FUNCTION cur_staging_insert_check() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    IF NEW.workspace_id IS DISTINCT FROM costline_current_workspace() THEN
        RAISE EXCEPTION 'line items of workspace % cannot be loaded in a transaction of workspace %',
            NEW.workspace_id, costline_current_workspace() USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

-- The integration a table of cur_parts belongs to, from its name (`li_<integration hex>...`).
CREATE FUNCTION cur_table_integration(p_table text) RETURNS uuid
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN p_table ~ '^li_[0-9a-f]{32}(_[0-9]{6}_[0-9a-f]{8})?$'
                THEN substr(p_table, 4, 32)::uuid END
$$;

-- Creates the empty staging table `p_table` for one assembly of a period (and the integration's
-- partition on first use), after dropping the period's tables that earlier attempts left.
CREATE FUNCTION cur_create_staging(p_workspace uuid, p_integration uuid, p_period date, p_table text)
    RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    parent text := 'li_' || replace(p_integration::text, '-', '');
    prefix text := parent || '_' || to_char(p_period, 'YYYYMM') || '_';
    stale text;
BEGIN
    PERFORM costline_require_workspace(p_workspace);
    IF extract(day FROM p_period) <> 1 OR p_table !~ ('^' || prefix || '[0-9a-f]{8}$') THEN
        RAISE EXCEPTION '% is not a staging table name of integration % and period %', p_table, p_integration, p_period
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM integrations WHERE workspace_id = p_workspace
                      AND integration_id = p_integration AND status <> 'revoked') THEN
        RAISE EXCEPTION 'no live integration % in this workspace', p_integration USING ERRCODE = 'no_data_found';
    END IF;
    IF to_regclass(format('cur_parts.%I', parent)) IS NULL THEN
        -- Two periods starting at once must not race on the integration's partition.
        PERFORM pg_advisory_xact_lock(hashtextextended(p_integration::text, 7));
        EXECUTE format('CREATE TABLE IF NOT EXISTS cur_parts.%I PARTITION OF cur_line_item_chunks '
                       'FOR VALUES IN (%L) PARTITION BY LIST (billing_period)', parent, p_integration);
        PERFORM cur_protect(format('cur_parts.%I', parent)::regclass);
    END IF;
    FOR stale IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'cur_parts' AND c.relkind = 'r' AND NOT c.relispartition
                    AND starts_with(c.relname, prefix) LOOP
        EXECUTE format('DROP TABLE IF EXISTS cur_parts.%I', stale);
    END LOOP;
    EXECUTE format('CREATE TABLE cur_parts.%I (LIKE cur_line_item_chunks INCLUDING DEFAULTS '
                   'INCLUDING CONSTRAINTS INCLUDING INDEXES INCLUDING STORAGE, '
                   'CHECK (workspace_id = %L AND integration_id = %L AND billing_period = %L))',
                   p_table, p_workspace, p_integration, p_period);
    -- The columns every row shares come from defaults, so COPY does not carry them.
    EXECUTE format('ALTER TABLE cur_parts.%I ALTER workspace_id SET DEFAULT %L, '
                   'ALTER integration_id SET DEFAULT %L, ALTER billing_period SET DEFAULT %L',
                   p_table, p_workspace, p_integration, p_period);
    EXECUTE format('CREATE TRIGGER staging_workspace BEFORE INSERT ON cur_parts.%I '
                   'FOR EACH ROW EXECUTE FUNCTION cur_staging_insert_check()', p_table);
    EXECUTE format('GRANT INSERT ON cur_parts.%I TO costline_app', p_table);
END
$$;

-- Makes the loaded staging table the period's served partition: seals it (no more inserts, RLS
-- forced), detaches and drops the table served before (`p_old`, if any) and attaches it.
CREATE FUNCTION cur_swap_in(p_workspace uuid, p_integration uuid, p_period date, p_table text, p_old text)
    RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    parent text := 'li_' || replace(p_integration::text, '-', '');
    prefix text := parent || '_' || to_char(p_period, 'YYYYMM') || '_';
BEGIN
    PERFORM costline_require_workspace(p_workspace);
    IF p_table !~ ('^' || prefix || '[0-9a-f]{8}$') OR (p_old IS NOT NULL AND p_old !~ ('^' || prefix || '[0-9a-f]{8}$')) THEN
        RAISE EXCEPTION 'tables % and % are not of integration % and period %', p_table, p_old, p_integration, p_period
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM integrations WHERE workspace_id = p_workspace
                      AND integration_id = p_integration AND status <> 'revoked') THEN
        RAISE EXCEPTION 'no live integration % in this workspace', p_integration USING ERRCODE = 'no_data_found';
    END IF;
    EXECUTE format('REVOKE ALL ON cur_parts.%I FROM costline_app', p_table);
    EXECUTE format('DROP TRIGGER IF EXISTS staging_workspace ON cur_parts.%I', p_table);
    PERFORM cur_protect(format('cur_parts.%I', p_table)::regclass);
    IF p_old IS NOT NULL THEN
        EXECUTE format('ALTER TABLE cur_parts.%I DETACH PARTITION cur_parts.%I', parent, p_old);
        EXECUTE format('DROP TABLE cur_parts.%I', p_old);
    END IF;
    EXECUTE format('ALTER TABLE cur_parts.%I ATTACH PARTITION cur_parts.%I FOR VALUES IN (%L)',
                   parent, p_table, p_period);
END
$$;

-- Drops a staging table of the workspace that was never attached (a failed ingest's).
CREATE FUNCTION cur_drop_staging(p_workspace uuid, p_table text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM costline_require_workspace(p_workspace);
    IF p_table !~ '^li_[0-9a-f]{32}_[0-9]{6}_[0-9a-f]{8}$'
       OR NOT EXISTS (SELECT 1 FROM integrations WHERE workspace_id = p_workspace
                         AND integration_id = cur_table_integration(p_table)) THEN
        RAISE EXCEPTION '% is not a staging table of this workspace', p_table USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = to_regclass(format('cur_parts.%I', p_table)) AND c.relispartition) THEN
        RAISE EXCEPTION '% is attached: it is served', p_table USING ERRCODE = 'object_in_use';
    END IF;
    EXECUTE format('DROP TABLE IF EXISTS cur_parts.%I', p_table);
END
$$;

-- Revocation and workspace deletion: drops every table of cur_parts that belongs to `p_key`, an
-- integration of the workspace (its partition, with the periods' tables under it, and its
-- staging tables) or the workspace itself; returns their names. The caller ends the loads still
-- writing into them first (it may signal its own role's sessions; this function's owner may not).
CREATE FUNCTION cur_drop_tables_of(p_workspace uuid, p_key uuid) RETURNS text[]
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    names text[] := '{}';
    t text;
BEGIN
    PERFORM costline_require_workspace(p_workspace);
    IF p_key <> p_workspace AND NOT EXISTS (SELECT 1 FROM integrations WHERE workspace_id = p_workspace
                                               AND integration_id = p_key) THEN
        RAISE EXCEPTION 'no integration % in this workspace', p_key USING ERRCODE = 'no_data_found';
    END IF;
    -- Partitions whose bound names the key (the topmost of each subtree: DROP takes the rest).
    FOR t IN SELECT c.oid::regclass::text
               FROM pg_class c
               JOIN pg_inherits i ON i.inhrelid = c.oid
               JOIN pg_class p ON p.oid = i.inhparent
              WHERE c.relispartition
                AND strpos(pg_get_expr(c.relpartbound, c.oid), p_key::text) > 0
                AND NOT (p.relispartition AND strpos(coalesce(pg_get_expr(p.relpartbound, p.oid), ''), p_key::text) > 0)
              ORDER BY 1 LOOP
        EXECUTE format('DROP TABLE %s', t);
        names := names || t;
    END LOOP;
    -- Staging tables (not attached) whose check constraint names the key.
    FOR t IN SELECT DISTINCT c.oid::regclass::text
               FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'cur_parts' AND k.contype = 'c' AND c.relkind = 'r' AND NOT c.relispartition
                AND strpos(pg_get_constraintdef(k.oid), p_key::text) > 0
              ORDER BY 1 LOOP
        EXECUTE format('DROP TABLE IF EXISTS %s', t);
        names := names || t;
    END LOOP;
    RETURN names;
END
$$;

-- Fresh planner statistics for the rollup tables after a swap (ANALYZE needs the owner).
CREATE FUNCTION cur_analyze_rollups() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    ANALYZE cur_daily_costs, cur_monthly_costs, cur_daily_service_region_costs,
            cur_daily_account_costs, cur_daily_tag_costs;
END
$$;

-- Workspace deletion, at the end of its transaction (after the workspace row is deleted): ends
-- the console sessions that name the workspace or one of `p_users`, and deletes those of
-- `p_users` who belong to no workspace any more (never support staff). Runs as the system role
-- (sessions and users outside the workspace); does nothing while the workspace exists. It lives
-- in a schema of its own: a function's new owner needs CREATE on its schema, which the system
-- role has on this one only for the moment of the ALTER below.
CREATE SCHEMA system_ops;
REVOKE ALL ON SCHEMA system_ops FROM PUBLIC;
GRANT USAGE ON SCHEMA system_ops TO costline_app, costline_system;
CREATE FUNCTION system_ops.end_deleted_workspace(p_workspace uuid, p_users uuid[], OUT deleted_users bigint, OUT ended_sessions bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    leaving uuid[];
BEGIN
    PERFORM costline_require_workspace(p_workspace);
    IF EXISTS (SELECT 1 FROM workspaces WHERE workspace_id = p_workspace) THEN
        RAISE EXCEPTION 'workspace % still exists', p_workspace USING ERRCODE = 'object_in_use';
    END IF;
    SELECT coalesce(array_agg(u.user_id), '{}') INTO leaving FROM users u
     WHERE u.user_id = ANY(p_users) AND NOT u.is_support
       AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.user_id);
    -- Sessions are MessagePack records whose values are JSON: ids appear as their text.
    DELETE FROM tower_sessions.session s
     WHERE EXISTS (SELECT 1 FROM unnest(array_append(leaving::text[], p_workspace::text)) AS n(id)
                    WHERE position(convert_to(n.id, 'UTF8') IN s.data) > 0);
    GET DIAGNOSTICS ended_sessions = ROW_COUNT;
    DELETE FROM users WHERE user_id = ANY(leaving);
    GET DIAGNOSTICS deleted_users = ROW_COUNT;
END
$$;
GRANT CREATE ON SCHEMA system_ops TO costline_system;
ALTER FUNCTION system_ops.end_deleted_workspace(uuid, uuid[]) OWNER TO costline_system;
REVOKE CREATE ON SCHEMA system_ops FROM costline_system;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'costline_require_workspace(uuid)', 'cur_protect(regclass)', 'cur_staging_insert_check()',
        'cur_table_integration(text)', 'cur_create_staging(uuid, uuid, date, text)',
        'cur_swap_in(uuid, uuid, date, text, text)', 'cur_drop_staging(uuid, text)',
        'cur_drop_tables_of(uuid, uuid)', 'cur_analyze_rollups()',
        'system_ops.end_deleted_workspace(uuid, uuid[])'
    ]::regprocedure[] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION costline_require_workspace(uuid) TO costline_app, costline_system;
GRANT EXECUTE ON FUNCTION cur_staging_insert_check() TO costline_app;
GRANT EXECUTE ON FUNCTION cur_create_staging(uuid, uuid, date, text), cur_swap_in(uuid, uuid, date, text, text),
    cur_drop_staging(uuid, text), cur_drop_tables_of(uuid, uuid), cur_analyze_rollups(),
    system_ops.end_deleted_workspace(uuid, uuid[]) TO costline_app;
