//! Names of the background job kinds, shared by the code that enqueues and the handlers.

/// Assume the role, classify the account, read the stack, then discover accounts.
pub const VERIFY_INTEGRATION: &str = "integration.verify";
/// List the organization's accounts and check member roles.
pub const DISCOVER_ACCOUNTS: &str = "integration.discover_accounts";
/// Look for new CUR deliveries and queue ingests.
pub const FIND_DELIVERIES: &str = "cur.find_deliveries";
/// Ingest one billing period.
pub const INGEST_PERIOD: &str = "cur.ingest_period";
