//! Active Resources: what the inventory reads in each account, and the on-demand rates it
//! shows before the first Cost and Usage Report (docs/adr/0017-resource-inventory.md).

use crate::states::{state, UnknownState};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The kinds of resources the inventory reads, spelled `service:kind` (stored, in the API and in
/// query filters alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResourceType {
    /// An EC2 instance (`i-…`).
    #[serde(rename = "ec2:instance")]
    Ec2Instance,
    /// An EBS volume (`vol-…`).
    #[serde(rename = "ec2:volume")]
    Ec2Volume,
    /// An Elastic IP address (`eipalloc-…`).
    #[serde(rename = "ec2:elastic-ip")]
    Ec2ElasticIp,
    /// A NAT gateway (`nat-…`).
    #[serde(rename = "ec2:nat-gateway")]
    Ec2NatGateway,
    /// An application, network or gateway load balancer.
    #[serde(rename = "elbv2:load-balancer")]
    Elbv2LoadBalancer,
    /// An RDS DB instance.
    #[serde(rename = "rds:db")]
    RdsDb,
    /// An S3 bucket (its metadata: name, region, tags; never an object).
    #[serde(rename = "s3:bucket")]
    S3Bucket,
    /// A Lambda function.
    #[serde(rename = "lambda:function")]
    LambdaFunction,
    /// A DynamoDB table.
    #[serde(rename = "dynamodb:table")]
    DynamodbTable,
    /// An EKS cluster.
    #[serde(rename = "eks:cluster")]
    EksCluster,
}

impl ResourceType {
    /// Every type, in the order the inventory reads them.
    pub const ALL: &'static [ResourceType] = &[
        ResourceType::Ec2Instance,
        ResourceType::Ec2Volume,
        ResourceType::Ec2ElasticIp,
        ResourceType::Ec2NatGateway,
        ResourceType::Elbv2LoadBalancer,
        ResourceType::RdsDb,
        ResourceType::S3Bucket,
        ResourceType::LambdaFunction,
        ResourceType::DynamodbTable,
        ResourceType::EksCluster,
    ];

    /// The stored and API spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            ResourceType::Ec2Instance => "ec2:instance",
            ResourceType::Ec2Volume => "ec2:volume",
            ResourceType::Ec2ElasticIp => "ec2:elastic-ip",
            ResourceType::Ec2NatGateway => "ec2:nat-gateway",
            ResourceType::Elbv2LoadBalancer => "elbv2:load-balancer",
            ResourceType::RdsDb => "rds:db",
            ResourceType::S3Bucket => "s3:bucket",
            ResourceType::LambdaFunction => "lambda:function",
            ResourceType::DynamodbTable => "dynamodb:table",
            ResourceType::EksCluster => "eks:cluster",
        }
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResourceType {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownState {
                what: "resource type",
                value: s.to_owned(),
            })
    }
}

impl ResourceType {
    /// True for the types listed once per account rather than per region (S3 buckets: one
    /// ListBuckets answers for every region).
    pub fn is_global(&self) -> bool {
        *self == ResourceType::S3Bucket
    }

    /// The types read in each region, in the order the inventory reads them.
    pub fn regional() -> impl Iterator<Item = ResourceType> {
        ResourceType::ALL.iter().copied().filter(|t| !t.is_global())
    }

    /// A heading for the console, e.g. `EC2 instance`.
    pub fn label(&self) -> &'static str {
        match self {
            ResourceType::Ec2Instance => "EC2 instance",
            ResourceType::Ec2Volume => "EBS volume",
            ResourceType::Ec2ElasticIp => "Elastic IP",
            ResourceType::Ec2NatGateway => "NAT gateway",
            ResourceType::Elbv2LoadBalancer => "Load balancer",
            ResourceType::RdsDb => "RDS database",
            ResourceType::S3Bucket => "S3 bucket",
            ResourceType::LambdaFunction => "Lambda function",
            ResourceType::DynamodbTable => "DynamoDB table",
            ResourceType::EksCluster => "EKS cluster",
        }
    }
}

state!(
    /// How the last inventory of one account went.
    InventoryStatus, "inventory status", {
        /// Every type was listed in every enabled region.
        Complete => "complete",
        /// Some actions or regions were denied or failed (listed with the account); the rest
        /// was read.
        Partial => "partial",
        /// Nothing could be read (e.g. the account's regions could not be listed).
        Failed => "failed",
        /// Costline's role could not be assumed in the account (a member account without the
        /// StackSet's role).
        NoRole => "no_role",
    }
);

/// Hours in the month that on-demand monthly rates are quoted for (AWS's own convention:
/// 24 x 365 / 12).
pub const HOURS_PER_MONTH: u32 = 730;

/// Decimal places kept of an hourly rate derived from a monthly price (EBS is priced per
/// GB-month): AWS quotes prices to 10 places.
const HOURLY_SCALE: u32 = 10;

/// What a rate is per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateBasis {
    /// A price per hour the resource exists (instances, NAT gateways, load balancers, ...).
    Hourly,
    /// A price per unit-month, times the resource's quantity (EBS: per GB-month x size).
    MonthlyPerUnit,
}

/// One Price List Query API question (pricing:GetProducts): the service and the attribute
/// filters (all `TERM_MATCH`) that pick one on-demand product, and how to read its price.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PriceQuery {
    /// The Price List service code, e.g. `AmazonEC2`.
    pub service_code: String,
    /// Attribute name and value pairs, sorted by name (so equal questions have one cache key).
    pub filters: Vec<(String, String)>,
    /// The price dimension's unit to take (`Hrs`, `GB-Mo`): a product has several.
    pub unit: String,
    /// How the price makes a rate.
    pub basis: RateBasis,
}

impl PriceQuery {
    /// A question for `service_code` with `filters` (sorted here), reading the `unit` price.
    pub fn new(
        service_code: &str,
        filters: &[(&str, &str)],
        unit: &str,
        basis: RateBasis,
    ) -> PriceQuery {
        let mut filters: Vec<(String, String)> = filters
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        filters.sort();
        PriceQuery {
            service_code: service_code.to_string(),
            filters,
            unit: unit.to_string(),
            basis,
        }
    }

    /// The cache key: service, unit and every filter, in one stable line.
    pub fn cache_key(&self) -> String {
        let mut key = format!("{}|{}", self.service_code, self.unit);
        for (k, v) in &self.filters {
            key.push('|');
            key.push_str(k);
            key.push('=');
            key.push_str(v);
        }
        key
    }
}

/// A resource's on-demand rate, exact: the hourly price and the 730-hour month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnDemandRate {
    /// Per hour, in `currency`.
    #[serde(with = "rust_decimal::serde::str")]
    pub hourly: Decimal,
    /// Per 730-hour month.
    #[serde(with = "rust_decimal::serde::str")]
    pub monthly: Decimal,
}

impl OnDemandRate {
    /// The rate of a unit price under `basis`, for `quantity` units (1 for hourly prices; a
    /// volume's GB for per GB-month prices). `None` when the numbers leave `Decimal`'s range.
    pub fn of(unit_price: Decimal, basis: RateBasis, quantity: Decimal) -> Option<OnDemandRate> {
        match basis {
            RateBasis::Hourly => {
                let hourly = unit_price.checked_mul(quantity)?;
                Some(OnDemandRate {
                    hourly,
                    monthly: hourly.checked_mul(Decimal::from(HOURS_PER_MONTH))?,
                })
            }
            RateBasis::MonthlyPerUnit => {
                let monthly = unit_price.checked_mul(quantity)?;
                let hourly = monthly
                    .checked_div(Decimal::from(HOURS_PER_MONTH))?
                    .round_dp(HOURLY_SCALE)
                    .normalize();
                Some(OnDemandRate { hourly, monthly })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn resource_types_read_back_what_they_write() {
        assert_eq!(ResourceType::ALL.len(), 10);
        for t in ResourceType::ALL {
            assert_eq!(t.as_str().parse::<ResourceType>().unwrap(), *t);
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert!("ec2:instances".parse::<ResourceType>().is_err());
        assert_eq!(ResourceType::regional().count(), 9);
        assert!(ResourceType::regional().all(|t| t != ResourceType::S3Bucket));
        for s in InventoryStatus::ALL {
            assert_eq!(s.as_str().parse::<InventoryStatus>().unwrap(), *s);
        }
    }

    #[test]
    fn hourly_prices_make_a_730_hour_month_exactly() {
        let rate = OnDemandRate::of(d("0.0960000000"), RateBasis::Hourly, Decimal::ONE).unwrap();
        assert_eq!(rate.hourly, d("0.096"));
        assert_eq!(rate.monthly.to_string(), "70.0800000000");
    }

    #[test]
    fn per_gb_month_prices_scale_with_the_size_and_round_the_hour_only() {
        // 100 GB of gp3 at 0.08 per GB-month.
        let rate = OnDemandRate::of(d("0.08"), RateBasis::MonthlyPerUnit, d("100")).unwrap();
        assert_eq!(rate.monthly, d("8"));
        assert_eq!(rate.hourly.to_string(), "0.0109589041");
    }

    #[test]
    fn equal_questions_share_a_cache_key_whatever_the_filter_order() {
        let a = PriceQuery::new(
            "AmazonEC2",
            &[("regionCode", "us-east-1"), ("instanceType", "t3.micro")],
            "Hrs",
            RateBasis::Hourly,
        );
        let b = PriceQuery::new(
            "AmazonEC2",
            &[("instanceType", "t3.micro"), ("regionCode", "us-east-1")],
            "Hrs",
            RateBasis::Hourly,
        );
        assert_eq!(a, b);
        assert_eq!(
            a.cache_key(),
            "AmazonEC2|Hrs|instanceType=t3.micro|regionCode=us-east-1"
        );
    }
}
