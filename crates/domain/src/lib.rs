//! Costline's domain: identifiers, AWS names and money, with the rules that make them valid.
//!
//! Pure types without IO: everything here is parsed once at the edge ("parse, don't validate")
//! and then trusted by the layers above.

mod aws;
mod forecast;
mod ids;
pub mod job_kinds;
mod money;
mod period;
mod reports;
mod resources;
mod roles;
mod services;
mod states;

pub use aws::{AccountId, AwsPartition, ExternalId, RoleArn, RoleArnError};
pub use forecast::{ForecastOverflow, MonthForecast};
pub use ids::{IntegrationId, JobId, ReportId, ResourceId, TokenId, UserId, WorkspaceId};
pub use money::Money;
pub use period::{BillingPeriod, BillingPeriodError};
pub use reports::{ChartKind, DateRange, InvalidReport, RelativeRange, ReportName, ReportRange};
pub use resources::{
    InventoryStatus, OnDemandRate, PriceQuery, RateBasis, ResourceType, HOURS_PER_MONTH,
};
pub use roles::{Role, RoleParseError};
pub use services::product_code_of_ce_service;
pub use states::{AccountType, IntegrationStatus, RoleStatus, UnknownState};
mod secrets;
pub use secrets::{
    hash_password, hash_token, normalize_email, verify_password, verify_password_or_dummy,
    IssuedToken, PasswordError, TokenKind,
};
