//! AWS names Costline handles: account ids, partitions, role ARNs and external ids.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    /// Parses a 12-digit AWS account id.
    pub fn parse(s: &str) -> Result<Self, RoleArnError> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_string()))
        } else {
            Err(RoleArnError::AccountId(s.to_string()))
        }
    }

    /// The account id as its 12 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountId {
    type Error = RoleArnError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<AccountId> for String {
    fn from(id: AccountId) -> String {
        id.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The AWS partitions a customer role can live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AwsPartition {
    /// Commercial regions.
    #[serde(rename = "aws")]
    Aws,
    /// China regions.
    #[serde(rename = "aws-cn")]
    AwsCn,
    /// GovCloud (US) regions.
    #[serde(rename = "aws-us-gov")]
    AwsUsGov,
}

impl AwsPartition {
    /// Every partition Costline runs in.
    pub const ALL: [AwsPartition; 3] = [
        AwsPartition::Aws,
        AwsPartition::AwsCn,
        AwsPartition::AwsUsGov,
    ];

    /// The partition as it appears in an ARN.
    pub fn as_str(&self) -> &'static str {
        match self {
            AwsPartition::Aws => "aws",
            AwsPartition::AwsCn => "aws-cn",
            AwsPartition::AwsUsGov => "aws-us-gov",
        }
    }

    /// The partition a region belongs to, by the region name patterns of the SDKs' partition
    /// table (`cn-*` China, `us-gov-*` GovCloud); any other name is taken as commercial.
    pub fn from_region(region: &str) -> AwsPartition {
        if region.starts_with("cn-") {
            AwsPartition::AwsCn
        } else if region.starts_with("us-gov-") {
            AwsPartition::AwsUsGov
        } else {
            AwsPartition::Aws
        }
    }

    /// How people name the partition, for messages.
    pub fn display_name(&self) -> &'static str {
        match self {
            AwsPartition::Aws => "AWS commercial",
            AwsPartition::AwsCn => "AWS China",
            AwsPartition::AwsUsGov => "AWS GovCloud (US)",
        }
    }

    /// The host of the partition's AWS Management Console.
    pub fn console_host(&self) -> &'static str {
        match self {
            AwsPartition::Aws => "console.aws.amazon.com",
            AwsPartition::AwsCn => "console.amazonaws.cn",
            AwsPartition::AwsUsGov => "console.amazonaws-us-gov.com",
        }
    }

    /// The DNS suffix of the partition's service endpoints (`s3.<region>.<suffix>`).
    pub fn dns_suffix(&self) -> &'static str {
        match self {
            AwsPartition::Aws | AwsPartition::AwsUsGov => "amazonaws.com",
            AwsPartition::AwsCn => "amazonaws.com.cn",
        }
    }

    /// The host of S3's endpoint in `region` (a region of this partition).
    pub fn s3_host(&self, region: &str) -> String {
        format!("s3.{region}.{}", self.dns_suffix())
    }

    /// The one region that serves Cost and Usage Report definitions (the `cur` API) in this
    /// partition; `None` in GovCloud, where AWS offers none: GovCloud accounts are billed, and
    /// their reports delivered, in the standard account they are associated with.
    pub fn billing_region(&self) -> Option<&'static str> {
        match self {
            AwsPartition::Aws => Some("us-east-1"),
            AwsPartition::AwsCn => Some("cn-northwest-1"),
            AwsPartition::AwsUsGov => None,
        }
    }

    /// The region the Costline integration stack is created in and read from: the billing
    /// region, and in GovCloud (no billing region) us-gov-west-1, where the partition's
    /// IAM and Organizations endpoints live.
    pub fn integration_region(&self) -> &'static str {
        self.billing_region().unwrap_or("us-gov-west-1")
    }
}

impl fmt::Display for AwsPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AwsPartition {
    type Err = RoleArnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AwsPartition::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| RoleArnError::Partition(s.to_string()))
    }
}

/// Why a role ARN (or account id) was refused; each message says what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleArnError {
    /// Not of the `arn:...` form at all.
    #[error("role ARN must look like arn:aws:iam::123456789012:role/RoleName, got {0:?}")]
    Shape(String),
    /// Unknown partition.
    #[error("unknown AWS partition {0:?}: use aws, aws-cn or aws-us-gov")]
    Partition(String),
    /// The service is not IAM.
    #[error("the ARN names the {0:?} service: a role ARN names iam, e.g. arn:aws:iam::123456789012:role/RoleName")]
    Service(String),
    /// IAM ARNs carry no region.
    #[error("IAM role ARNs have no region, but {0:?} was given: remove it (arn:aws:iam::<account>:role/<name>)")]
    Region(String),
    /// The account part is not 12 digits.
    #[error("AWS account id must be exactly 12 digits, got {0:?}")]
    AccountId(String),
    /// The resource is not a role.
    #[error("the ARN names {0:?}, not a role: the resource part must start with role/")]
    NotARole(String),
    /// The role name breaks IAM's rules.
    #[error("role name {0:?} is invalid: 1 to 64 characters of letters, digits and +=,.@_-")]
    RoleName(String),
    /// The role path breaks IAM's rules.
    #[error("role path {0:?} is invalid: it must start and end with / and use printable ASCII, at most 512 characters")]
    RolePath(String),
}

/// A validated IAM role ARN: `arn:<partition>:iam::<account>:role/<path><name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoleArn {
    partition: AwsPartition,
    account_id: AccountId,
    path: String,
    name: String,
}

impl RoleArn {
    /// Parses and validates a role ARN, naming what is wrong when it is not one.
    pub fn parse(input: &str) -> Result<Self, RoleArnError> {
        let s = input.trim();
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" {
            return Err(RoleArnError::Shape(input.to_string()));
        }
        let partition: AwsPartition = parts[1].parse()?;
        if parts[2] != "iam" {
            return Err(RoleArnError::Service(parts[2].to_string()));
        }
        if !parts[3].is_empty() {
            return Err(RoleArnError::Region(parts[3].to_string()));
        }
        let account_id = AccountId::parse(parts[4])?;
        let resource = parts[5];
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return Err(RoleArnError::NotARole(resource.to_string()));
        };
        let (path, name) = match path_and_name.rfind('/') {
            Some(i) => (
                format!("/{}", &path_and_name[..=i]),
                &path_and_name[i + 1..],
            ),
            None => ("/".to_string(), path_and_name),
        };
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
        if !name_ok {
            return Err(RoleArnError::RoleName(name.to_string()));
        }
        let path_ok = path.len() <= 512
            && !path.contains("//")
            && path.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if !path_ok {
            return Err(RoleArnError::RolePath(path));
        }
        Ok(Self {
            partition,
            account_id,
            path,
            name: name.to_string(),
        })
    }

    /// The role's partition.
    pub fn partition(&self) -> AwsPartition {
        self.partition
    }

    /// The account the role lives in.
    pub fn account_id(&self) -> &AccountId {
        &self.account_id
    }

    /// The role name without its path.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The role path, `/` when none.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The ARN of a role with the same path and name in another account (member accounts).
    pub fn in_account(&self, account_id: AccountId) -> RoleArn {
        RoleArn {
            account_id,
            ..self.clone()
        }
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:iam::{}:role{}{}",
            self.partition.as_str(),
            self.account_id,
            self.path,
            self.name
        )
    }
}

impl FromStr for RoleArn {
    type Err = RoleArnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for RoleArn {
    type Error = RoleArnError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RoleArn> for String {
    fn from(arn: RoleArn) -> String {
        arn.to_string()
    }
}

/// The per-integration secret-less shared value that defeats the confused-deputy problem.
///
/// Generated by the platform (192 random bits), never taken from the customer, never changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExternalId(String);

impl ExternalId {
    /// Generates a fresh external id from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("cl-{}", hex::encode(bytes)))
    }

    /// Wraps an external id read back from storage.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The external id as sent to STS.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_plain_role_arn() {
        let arn = RoleArn::parse("arn:aws:iam::123456789012:role/CostlineReadOnly").unwrap();
        assert_eq!(arn.partition(), AwsPartition::Aws);
        assert_eq!(arn.account_id().as_str(), "123456789012");
        assert_eq!(arn.name(), "CostlineReadOnly");
        assert_eq!(arn.path(), "/");
        assert_eq!(
            arn.to_string(),
            "arn:aws:iam::123456789012:role/CostlineReadOnly"
        );
    }

    #[test]
    fn keeps_role_paths() {
        let arn =
            RoleArn::parse("arn:aws-us-gov:iam::123456789012:role/ops/billing/Reader").unwrap();
        assert_eq!(arn.path(), "/ops/billing/");
        assert_eq!(arn.name(), "Reader");
        assert_eq!(
            arn.to_string(),
            "arn:aws-us-gov:iam::123456789012:role/ops/billing/Reader"
        );
        assert_eq!(
            RoleArn::parse("arn:aws-cn:iam::123456789012:role/x")
                .unwrap()
                .partition(),
            AwsPartition::AwsCn
        );
    }

    #[test]
    fn names_what_is_wrong() {
        let cases = [
            ("nonsense", RoleArnError::Shape("nonsense".into())),
            (
                "arn:azure:iam::123456789012:role/x",
                RoleArnError::Partition("azure".into()),
            ),
            (
                "arn:aws:s3::123456789012:role/x",
                RoleArnError::Service("s3".into()),
            ),
            (
                "arn:aws:iam:us-east-1:123456789012:role/x",
                RoleArnError::Region("us-east-1".into()),
            ),
            (
                "arn:aws:iam::12345:role/x",
                RoleArnError::AccountId("12345".into()),
            ),
            (
                "arn:aws:iam::123456789012:user/alice",
                RoleArnError::NotARole("user/alice".into()),
            ),
            (
                "arn:aws:iam::123456789012:role/",
                RoleArnError::RoleName("".into()),
            ),
            (
                "arn:aws:iam::123456789012:role/bad name",
                RoleArnError::RoleName("bad name".into()),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(RoleArn::parse(input).unwrap_err(), expected, "{input}");
        }
        let long = format!("arn:aws:iam::123456789012:role/{}", "a".repeat(65));
        assert!(matches!(
            RoleArn::parse(&long),
            Err(RoleArnError::RoleName(_))
        ));
    }

    #[test]
    fn member_role_arn_swaps_only_the_account() {
        let arn = RoleArn::parse("arn:aws:iam::123456789012:role/p/Costline").unwrap();
        let member = arn.in_account(AccountId::parse("210987654321").unwrap());
        assert_eq!(
            member.to_string(),
            "arn:aws:iam::210987654321:role/p/Costline"
        );
    }

    #[test]
    fn external_ids_are_long_and_unique() {
        let a = ExternalId::generate();
        let b = ExternalId::generate();
        assert_ne!(a, b);
        // 24 random bytes as hex: 192 bits, above the 128 the design asks for.
        assert_eq!(a.as_str().len(), 3 + 48);
    }

    #[test]
    fn partitions_parse_from_their_arn_names_only() {
        for partition in AwsPartition::ALL {
            assert_eq!(partition.as_str().parse::<AwsPartition>(), Ok(partition));
            assert_eq!(partition.to_string(), partition.as_str());
        }
        assert_eq!(
            "AWS".parse::<AwsPartition>(),
            Err(RoleArnError::Partition("AWS".into()))
        );
        assert!("aws-iso".parse::<AwsPartition>().is_err());
        assert!("".parse::<AwsPartition>().is_err());
    }

    #[test]
    fn regions_name_their_partition() {
        let cases = [
            ("us-east-1", AwsPartition::Aws),
            ("eu-west-1", AwsPartition::Aws),
            ("ap-southeast-5", AwsPartition::Aws),
            ("cn-north-1", AwsPartition::AwsCn),
            ("cn-northwest-1", AwsPartition::AwsCn),
            ("us-gov-west-1", AwsPartition::AwsUsGov),
            ("us-gov-east-1", AwsPartition::AwsUsGov),
            ("us-west-2", AwsPartition::Aws),
        ];
        for (region, partition) in cases {
            assert_eq!(AwsPartition::from_region(region), partition, "{region}");
        }
    }

    #[test]
    fn each_partition_has_its_own_console_endpoints_and_billing_region() {
        let table = [
            (
                AwsPartition::Aws,
                "console.aws.amazon.com",
                "s3.eu-west-1.amazonaws.com",
                "eu-west-1",
                Some("us-east-1"),
                "us-east-1",
            ),
            (
                AwsPartition::AwsCn,
                "console.amazonaws.cn",
                "s3.cn-north-1.amazonaws.com.cn",
                "cn-north-1",
                Some("cn-northwest-1"),
                "cn-northwest-1",
            ),
            (
                AwsPartition::AwsUsGov,
                "console.amazonaws-us-gov.com",
                "s3.us-gov-east-1.amazonaws.com",
                "us-gov-east-1",
                None,
                "us-gov-west-1",
            ),
        ];
        for (partition, console, s3, s3_region, billing, integration) in table {
            assert_eq!(partition.console_host(), console);
            assert_eq!(partition.s3_host(s3_region), s3);
            assert_eq!(partition.billing_region(), billing);
            assert_eq!(partition.integration_region(), integration);
            // Every region named is the partition's own.
            assert_eq!(AwsPartition::from_region(integration), partition);
            if let Some(billing) = billing {
                assert_eq!(AwsPartition::from_region(billing), partition);
            }
        }
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(AccountId::parse("012345678901").is_ok());
        assert!(AccountId::parse("01234567890").is_err());
        assert!(AccountId::parse("01234567890a").is_err());
    }
}
