//! The AWS gateway: everything Costline asks of AWS, behind typed calls and typed errors.
//!
//! - [`AwsGateway`] holds the platform's own credentials and a cache of [`RoleSession`]s, one per
//!   (customer role ARN, external id). A session assumes the customer's role with the
//!   integration's external id; its temporary credentials live only in the SDK's identity cache,
//!   in memory, and are refreshed five minutes before they expire. They are never stored, never
//!   logged and never part of an error.
//! - A [`RoleSession`] answers in domain types: who am I ([`CallerIdentity`]), which organization
//!   ([`Organization`], [`AccountType`], [`OrgAccount`]), what is in the CUR bucket
//!   ([`S3Object`], [`ObjectStream`], read from the bucket's own region) and what the Costline
//!   stack says ([`StackOutputs`]).
//! - With the platform's own credentials it writes to the platform's own buckets only:
//!   [`AwsGateway::publish_object`] publishes the CloudFormation templates.
//! - An [`Inventory`] lists an account's resources region by region (EC2, EBS, Elastic IPs, NAT
//!   gateways, load balancers, RDS, S3 buckets, Lambda, DynamoDB, EKS), and
//!   [`RoleSession::unit_price`] asks the Price List Query API for on-demand prices.
//! - Every failure is an [`AwsError`] whose message says what to fix; [`AwsError::is_retryable`]
//!   tells a job whether to try again.
//!
//! With [`GatewayConfig::endpoint_url`] set (`COSTLINE_AWS_ENDPOINT_URL`), every call, including
//! the STS calls behind role sessions, goes to that endpoint (S3 path-style), e.g. the moto
//! emulator in tests. Why it is built this way: `docs/adr/0006-aws-gateway.md`.

mod bucket_region;
mod cloudformation;
mod config;
mod cost_explorer;
mod credentials;
mod error;
mod gateway;
mod iam;
mod inventory;
mod logging;
mod organizations;
mod pricing;
mod publish;
mod s3;
mod session;
mod session_name;

pub use cloudformation::{StackOutputs, ROLE_ARN_OUTPUT, TEMPLATE_VERSION_OUTPUT};
pub use config::{GatewayConfig, PlatformCredentials, DEFAULT_REGION};
pub use cost_explorer::{CostExplorerCost, CostExplorerPage};
pub use error::AwsError;
pub use gateway::AwsGateway;
pub use iam::RolePolicies;
pub use inventory::{inventory_retry_config, FoundResource, Inventory, Operation, OPERATIONS};
pub use logging::{credential_safe_directives, CREDENTIAL_LOG_TARGETS};
pub use organizations::{AccountType, OrgAccount, OrgAccountStatus, Organization, Verification};
pub use pricing::{parse_price_list, pricing_region, UnitPrice};
pub use publish::{object_url, PublishedObject};
pub use s3::{ObjectStream, S3Object};
pub use session::{CallerIdentity, RoleSession};
pub use session_name::{sanitize_session_name, workspace_session_name};
