//! The resource inventory: what a role session can list in one account, region by region.
//!
//! [`RoleSession::inventory`] hands out an [`Inventory`] whose clients share the session's
//! credentials and cache. Every listing reads every page, answers in [`FoundResource`]s and fails
//! with an [`AwsError`] (a denied action is [`AwsError::AccessDenied`]), so that the caller can
//! record it for the account and go on with the rest. Throttling is retried by the SDK's standard
//! retry strategy with exponential backoff and jitter, with more attempts than the SDK's default
//! ([`inventory_retry_config`]): an organization's accounts are read at once, against per-account
//! API rate limits.
//!
//! Nothing here reads data a resource holds: S3 buckets are listed with their region and tags,
//! never an object; Lambda functions come from the Resource Groups Tagging API, because
//! `lambda:ListFunctions` answers each function's environment variables and stays denied by the
//! permission set. [`OPERATIONS`] lists every call made here, beside the IAM action it needs.

mod ec2;
mod services;
mod storage;

use crate::error::AwsError;
use crate::session::RoleSession;
use aws_config::retry::RetryConfig;
use aws_config::{Region, SdkConfig};
use costline_domain::{AccountId, AwsPartition, PriceQuery, ResourceType};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::time::Duration;

/// One resource as the inventory found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundResource {
    /// Its type.
    pub resource_type: ResourceType,
    /// AWS's id of it: what the CUR's resource id column holds for EC2 instances, volumes and
    /// S3 buckets (`i-…`, `vol-…`, the bucket name); the short name or id otherwise.
    pub resource_id: String,
    /// Its ARN (what the CUR's resource id holds for load balancers, databases, functions,
    /// tables, clusters and NAT gateways).
    pub arn: String,
    /// Its region (an S3 bucket's own region).
    pub region: String,
    /// Its `Name` tag, or its own name.
    pub name: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// AWS's state, e.g. `running`, `available`, `ACTIVE`; `None` where the type has none.
    pub state: Option<String>,
    /// How to price it on demand: the Price List question and the quantity (a volume's GB; 1
    /// otherwise). `None` for usage-priced resources (buckets, functions, tables).
    pub price: Option<(PriceQuery, Decimal)>,
}

/// An IAM action the inventory calls, with the SDK operation behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The IAM action, e.g. `ec2:DescribeInstances`.
    pub action: &'static str,
    /// What it reads.
    pub reads: &'static str,
}

/// Every call the inventory and the rate lookup make, by IAM action (the permission set must
/// grant each, and tests check it does).
pub const OPERATIONS: &[Operation] = &[
    Operation {
        action: "ec2:DescribeRegions",
        reads: "the account's enabled regions",
    },
    Operation {
        action: "ec2:DescribeInstances",
        reads: "EC2 instances",
    },
    Operation {
        action: "ec2:DescribeVolumes",
        reads: "EBS volumes",
    },
    Operation {
        action: "ec2:DescribeAddresses",
        reads: "Elastic IP addresses",
    },
    Operation {
        action: "ec2:DescribeNatGateways",
        reads: "NAT gateways",
    },
    Operation {
        action: "elasticloadbalancing:DescribeLoadBalancers",
        reads: "load balancers",
    },
    Operation {
        action: "elasticloadbalancing:DescribeTags",
        reads: "load balancers' tags",
    },
    Operation {
        action: "rds:DescribeDBInstances",
        reads: "RDS DB instances and their tags",
    },
    Operation {
        action: "s3:ListAllMyBuckets",
        reads: "S3 buckets",
    },
    Operation {
        action: "s3:GetBucketLocation",
        reads: "each bucket's region",
    },
    Operation {
        action: "s3:GetBucketTagging",
        reads: "each bucket's tags",
    },
    Operation {
        action: "tag:GetResources",
        reads: "Lambda functions and their tags",
    },
    Operation {
        action: "dynamodb:ListTables",
        reads: "DynamoDB tables",
    },
    Operation {
        action: "dynamodb:DescribeTable",
        reads: "each table's ARN and status",
    },
    Operation {
        action: "dynamodb:ListTagsOfResource",
        reads: "each table's tags",
    },
    Operation {
        action: "eks:ListClusters",
        reads: "EKS clusters",
    },
    Operation {
        action: "eks:DescribeCluster",
        reads: "each cluster's ARN, state and tags",
    },
    Operation {
        action: "pricing:GetProducts",
        reads: "on-demand prices (Price List Query API)",
    },
];

/// The SDK's standard retry strategy (exponential backoff with jitter on throttling and
/// transient errors) with 8 attempts and backoff up to 20 s, instead of the default 3.
pub fn inventory_retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(20))
}

/// Lists one account's resources through a role session.
#[derive(Clone)]
pub struct Inventory {
    session: RoleSession,
    config: SdkConfig,
}

/// What a listing needs to know of the account it reads.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub(crate) account_id: String,
    pub(crate) partition: AwsPartition,
    pub(crate) region: String,
}

impl Scope {
    /// `arn:<partition>:<service>:<region>:<account>:<rest>`.
    pub(crate) fn arn(&self, service: &str, rest: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{rest}",
            self.partition.as_str(),
            self.region,
            self.account_id
        )
    }
}

impl RoleSession {
    /// The inventory of the session's account.
    pub fn inventory(&self) -> Inventory {
        let config = self
            .inner
            .config
            .to_builder()
            .retry_config(inventory_retry_config())
            .build();
        Inventory {
            session: self.clone(),
            config,
        }
    }
}

impl Inventory {
    /// The account listed.
    pub fn account_id(&self) -> &AccountId {
        self.session.account_id()
    }

    fn scope(&self, region: &str) -> Scope {
        Scope {
            account_id: self.session.account_id().to_string(),
            partition: self.session.role_arn().partition(),
            region: region.to_string(),
        }
    }

    fn in_region(&self, region: &str) -> SdkConfig {
        self.config
            .to_builder()
            .region(Region::new(region.to_string()))
            .build()
    }

    /// The regions enabled for the account (DescribeRegions without opt-in regions the account
    /// has not opted into), sorted.
    pub async fn enabled_regions(&self) -> Result<Vec<String>, AwsError> {
        self.session.ensure_live()?;
        let client = aws_sdk_ec2::Client::new(&self.config);
        ec2::enabled_regions(&client).await
    }

    /// Every resource of `resource_type` in `region` (for S3 buckets, use
    /// [`Inventory::list_buckets`]).
    pub async fn list(
        &self,
        region: &str,
        resource_type: ResourceType,
    ) -> Result<Vec<FoundResource>, AwsError> {
        self.session.ensure_live()?;
        let config = self.in_region(region);
        let scope = self.scope(region);
        match resource_type {
            ResourceType::Ec2Instance => {
                ec2::instances(&aws_sdk_ec2::Client::new(&config), &scope).await
            }
            ResourceType::Ec2Volume => {
                ec2::volumes(&aws_sdk_ec2::Client::new(&config), &scope).await
            }
            ResourceType::Ec2ElasticIp => {
                ec2::addresses(&aws_sdk_ec2::Client::new(&config), &scope).await
            }
            ResourceType::Ec2NatGateway => {
                ec2::nat_gateways(&aws_sdk_ec2::Client::new(&config), &scope).await
            }
            ResourceType::Elbv2LoadBalancer => {
                services::load_balancers(
                    &aws_sdk_elasticloadbalancingv2::Client::new(&config),
                    &scope,
                )
                .await
            }
            ResourceType::RdsDb => {
                services::db_instances(&aws_sdk_rds::Client::new(&config), &scope).await
            }
            ResourceType::LambdaFunction => {
                services::functions(&aws_sdk_resourcegroupstagging::Client::new(&config), &scope)
                    .await
            }
            ResourceType::DynamodbTable => {
                services::tables(&aws_sdk_dynamodb::Client::new(&config), &scope).await
            }
            ResourceType::EksCluster => {
                services::clusters(&aws_sdk_eks::Client::new(&config), &scope).await
            }
            ResourceType::S3Bucket => self.list_buckets().await,
        }
    }

    /// Every S3 bucket of the account, each with its own region and tags (ListBuckets,
    /// GetBucketLocation where ListBuckets does not say, GetBucketTagging); never an object.
    pub async fn list_buckets(&self) -> Result<Vec<FoundResource>, AwsError> {
        self.session.ensure_live()?;
        storage::buckets(&self.session, &self.scope("")).await
    }
}

/// The value of the `Name` tag, if any.
pub(crate) fn name_tag(tags: &BTreeMap<String, String>) -> Option<String> {
    tags.get("Name").filter(|n| !n.is_empty()).cloned()
}
