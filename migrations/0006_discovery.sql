-- Organization discovery (issue 4): the organization's root ids (targets of the member-role
-- StackSet), a stable code beside an integration's error message (so the API can show the
-- expected trust policy when AssumeRole was denied), and the member-role statuses discovery
-- records.

ALTER TABLE integrations
    ADD COLUMN org_root_ids text[] NOT NULL DEFAULT '{}',
    ADD COLUMN error_code   text;

-- role_status of a discovered account:
--   unknown      not checked yet
--   ok           Costline assumed its role with the integration's external id
--   denied       AssumeRole was denied: the member role is missing or does not trust Costline
--                with this external id (AWS answers the same for both)
--   missing      IAM says the role does not exist
--   error        the check failed for another reason (role_error says which)
--   not_checked  the account is not active (suspended, closing, left the organization)
--   not_applicable kept for rows written before this migration
ALTER TABLE aws_accounts DROP CONSTRAINT aws_accounts_role_status_check;
ALTER TABLE aws_accounts ADD CONSTRAINT aws_accounts_role_status_check
    CHECK (role_status IN ('unknown', 'ok', 'denied', 'missing', 'error', 'not_checked', 'not_applicable'));
