//! Test harness shared by every test of the workspace.
//!
//! - One ephemeral PostgreSQL cluster per test process, copied from a cached, already migrated
//!   template cluster (so a test process pays for a directory copy and a server start, not for
//!   initdb and migrations), and a fresh database per test cloned from the migrated template
//!   database.
//! - The moto AWS emulator on a free loopback port per test process, and a Price List Query
//!   API of recorded answers ([`pricing_server`]), which moto lacks.
//! - Both are children that the kernel stops when the test process ends, even on a panic or a
//!   SIGKILL (parent-death signal), so no test leaves a server behind.

mod app;
mod assembly;
mod browser;
mod customer;
mod database;
mod logs;
mod moto;
mod pricing;
mod process;
mod smtp;

pub use app::{
    console_client, console_page, console_post, csrf_of, cur_connection, spawn_app,
    spawn_app_in_partition, spawn_app_on, spawn_app_with_config, spawn_app_with_gateway,
    spawn_app_with_settings, spawn_app_with_workers, spawn_app_with_workflow_settings, TestApp,
    TestWorkspace, CUSTOMER_ACCOUNT_ID, PLATFORM_ACCOUNT_ID,
};
pub use assembly::{begin_assembly, fill_staging, line_item, load_costs, rollup_rows, TestCost};
pub use browser::{chromedriver, chromium_capabilities, screenshot_dir, Browser, Chromedriver};
pub use customer::{customer_s3, path_style_s3};
pub use database::{fresh_store, TestDb};
pub use logs::CapturedLogs;
pub use moto::{moto, Moto};
pub use pricing::{pricing_fixtures, pricing_server, PricingServer};
pub use process::ChildGuard;
pub use smtp::{ReceivedMail, SmtpSink};
