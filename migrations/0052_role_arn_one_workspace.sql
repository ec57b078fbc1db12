-- A role ARN serves one workspace at a time (issue 24, "Isolation"): connecting a role that a
-- live integration of another workspace already uses is refused until that workspace revokes
-- it. The check reads other workspaces' integrations, so it runs as the system role (which may
-- read integrations across workspaces) and answers one bit. The advisory lock, held until the
-- caller's transaction ends, makes two workspaces connecting the same role at once take turns,
-- and the second sees the first.
CREATE FUNCTION system_ops.role_arn_used_elsewhere(p_workspace uuid, p_role_arn text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM costline_require_workspace(p_workspace);
    PERFORM pg_advisory_xact_lock(hashtextextended('role_arn ' || p_role_arn, 0));
    RETURN EXISTS (SELECT 1 FROM integrations
                    WHERE role_arn = p_role_arn AND workspace_id <> p_workspace AND status <> 'revoked');
END
$$;
GRANT CREATE ON SCHEMA system_ops TO costline_system;
ALTER FUNCTION system_ops.role_arn_used_elsewhere(uuid, text) OWNER TO costline_system;
REVOKE CREATE ON SCHEMA system_ops FROM costline_system;
REVOKE ALL ON FUNCTION system_ops.role_arn_used_elsewhere(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION system_ops.role_arn_used_elsewhere(uuid, text) TO costline_app;
