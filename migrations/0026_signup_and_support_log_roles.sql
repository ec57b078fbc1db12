-- Privileges of the tables added beside the database roles (0021-0023 came before 0024 gave
-- each path its own login; docs/adr/0015-database-roles.md).

-- Pending sign-ups have no workspace yet: the system role records and finds them (the lookup
-- precedes any workspace). The app role only takes a confirmed one, in the transaction that
-- creates the account's workspace or membership, and never reads its password hash.
ALTER TABLE pending_signups ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
REVOKE ALL ON pending_signups FROM costline_app;
GRANT SELECT (token_hash, email, expires_at, created_at), DELETE ON pending_signups TO costline_app;
GRANT SELECT, INSERT, DELETE ON pending_signups TO costline_system;
CREATE POLICY signup_path ON pending_signups TO costline_system USING (true) WITH CHECK (true);
CREATE POLICY confirm_read ON pending_signups FOR SELECT TO costline_app USING (true);
CREATE POLICY confirm_take ON pending_signups FOR DELETE TO costline_app USING (true);

-- The platform's support log: tenant transactions append to it (0021), the system role reads
-- it for `costline admin support-log`.
GRANT SELECT ON support_audit_log TO costline_system;
CREATE POLICY platform_read ON support_audit_log FOR SELECT TO costline_system USING (true);

-- A confirmed sign-up creates its account, or gives its password to a passwordless account of
-- the address (made by `admin create-workspace`), inside the app role's transaction: the app
-- may neither update users nor read password hashes, so this one statement runs as the owner.
CREATE POLICY account_claim ON users TO costline_owner USING (true) WITH CHECK (true);
CREATE FUNCTION system_ops.claim_account(p_user uuid, p_email text, p_password_hash text,
                                         p_claim_passwordless boolean)
RETURNS uuid
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    INSERT INTO users (user_id, email, password_hash) VALUES (p_user, p_email, p_password_hash)
    ON CONFLICT (lower(email)) DO UPDATE SET password_hash = EXCLUDED.password_hash
     WHERE users.password_hash IS NULL AND NOT users.is_support AND p_claim_passwordless
    RETURNING user_id
$$;
REVOKE ALL ON FUNCTION system_ops.claim_account(uuid, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION system_ops.claim_account(uuid, text, text, boolean) TO costline_app;
