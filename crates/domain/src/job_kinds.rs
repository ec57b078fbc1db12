//! Names of the background job kinds, shared by the code that enqueues jobs (web, workflows)
//! and the worker pool that runs them (`costline_jobs::JobKind` is built from these).

/// Assume the role, classify the account, read the stack outputs.
pub const VERIFY_INTEGRATION: &str = "verify_integration";
/// List the organization's accounts and check the member accounts' roles.
pub const DISCOVER_ACCOUNTS: &str = "discover_accounts";
/// Look for new CUR deliveries in the bucket and queue an ingest per new assembly.
pub const POLL_CUR: &str = "poll_cur";
/// Ingest one billing period's newest report assembly.
pub const INGEST_PERIOD: &str = "ingest_period";
/// Send a notification (email) to a workspace's admins.
pub const NOTIFY: &str = "notify";
/// Read the last 13 months of daily costs from Cost Explorer (preliminary, before the CUR).
pub const IMPORT_COST_EXPLORER: &str = "import_cost_explorer";
/// Read the resources of every account of an integration (EC2, EBS, RDS, S3, ...), with their
/// on-demand rates.
pub const INVENTORY: &str = "inventory";
