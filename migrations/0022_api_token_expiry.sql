-- API tokens may expire: the console offers 30 days, 90 days (its default), a year or never.
-- Tokens made before this migration, and the admin command's owner tokens, never expire.
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
