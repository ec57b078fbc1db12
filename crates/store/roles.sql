-- The PostgreSQL roles of Costline (docs/adr/0015-database-roles.md). Run by a superuser, in the
-- application database, before the first migration and after upgrading Costline; idempotent.
-- Costline runs this itself when DATABASE_URL logs in as a superuser and for its private
-- cluster; on a self-hosted PostgreSQL a DBA runs it (README, "PostgreSQL roles") and then sets
-- the three passwords:
--
--   costline_owner   LOGIN: owns every table and function, runs the migrations and nothing else.
--   costline_app     LOGIN: every request and every job's tenant work, one workspace per
--                    transaction (`costline.workspace_id`, set with set_config(..., true)).
--   costline_system  LOGIN: the cross-tenant paths only (job queue and schedules, token and
--                    password lookup, invitations by link, support search, console sessions),
--                    through policies on exactly the tables they read.
--
-- None of them is a superuser or may bypass row-level security, and neither login that serves
-- requests is a member of another role, so `SET ROLE` and `RESET ROLE` give it nothing more.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['costline_owner', 'costline_app', 'costline_system'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', r);
        END IF;
        -- Also corrects a role made by an earlier version (costline_app was NOLOGIN).
        EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', r);
    END LOOP;
    -- The owner makes the system role own the functions that run as it (ALTER FUNCTION ... OWNER
    -- TO needs membership), and migration 0001 grants costline_app to the migrating role.
    GRANT costline_app TO costline_owner WITH ADMIN OPTION;
    GRANT costline_system TO costline_owner WITH ADMIN OPTION;
    -- Earlier versions granted costline_app to the superuser that ran them; harmless, but the
    -- request roles themselves must belong to no role at all.
    FOR r IN SELECT g.rolname FROM pg_auth_members m
               JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
              WHERE u.rolname IN ('costline_app', 'costline_system') LOOP
        EXECUTE format('REVOKE %I FROM costline_app, costline_system CASCADE', r);
    END LOOP;

    EXECUTE format('GRANT CONNECT, TEMPORARY, CREATE ON DATABASE %I TO costline_owner', current_database());
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO costline_app, costline_system', current_database());
END
$$;

GRANT USAGE, CREATE ON SCHEMA public TO costline_owner;
GRANT USAGE ON SCHEMA public TO costline_app, costline_system;

-- A database migrated by an earlier version belongs to whoever ran its migrations (the owner of
-- `_sqlx_migrations`): everything of Costline's moves to costline_owner. Objects of extensions
-- and sequences owned by a column (they follow their table) are left alone.
DO $$
DECLARE
    previous oid := (SELECT c.relowner FROM pg_class c
                      WHERE c.oid = to_regclass('public._sqlx_migrations'));
    r record;
BEGIN
    IF previous IS NULL OR previous = 'costline_owner'::regrole THEN
        RETURN;
    END IF;
    FOR r IN SELECT n.nspname FROM pg_namespace n
              WHERE n.nspname IN ('cur_parts', 'tower_sessions') AND n.nspowner = previous LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO costline_owner', r.nspname);
    END LOOP;
    FOR r IN SELECT c.oid::regclass AS rel, c.relkind
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname IN ('public', 'cur_parts', 'tower_sessions')
                AND c.relowner = previous AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
                AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                   AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i'))))
              ORDER BY c.relispartition, c.oid LOOP
        EXECUTE format('ALTER %s %s OWNER TO costline_owner',
                       CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                      WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                       r.rel);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS fn
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname IN ('public', 'cur_parts', 'tower_sessions') AND p.proowner = previous
                AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                 WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO costline_owner', r.fn);
    END LOOP;
END
$$;
