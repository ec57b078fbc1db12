-- What Costline read of the customer's side beyond the stack: the template version the member
-- StackSet runs (management accounts), and, for roles made by Terraform or by hand, the role's
-- own policies compared with the published permission set (a costline_onboarding::PolicyDrift,
-- as JSON) or why they could not be read. Revocation clears all four.
ALTER TABLE integrations
    ADD COLUMN stackset_template_version text,
    ADD COLUMN role_policy_checked_at    timestamptz,
    ADD COLUMN role_policy_drift         jsonb,
    ADD COLUMN role_policy_error         text;

-- A suspended, closing or closed member account: its role is not checked (nor retried).
ALTER TABLE aws_accounts DROP CONSTRAINT aws_accounts_role_status_check;
ALTER TABLE aws_accounts ADD CONSTRAINT aws_accounts_role_status_check
    CHECK (role_status IN ('unknown', 'ok', 'denied', 'missing', 'error', 'not_checked',
                           'not_applicable', 'inactive'));
