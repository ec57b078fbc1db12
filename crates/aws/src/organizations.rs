//! AWS Organizations through a role session: the organization, its accounts and roots.

use crate::error::{self, AwsError, Target};
use crate::session::{CallerIdentity, RoleSession};
use chrono::{DateTime, Utc};
use costline_domain::AccountId;

/// The organization an account belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// `o-…`
    pub id: String,
    /// The organization's ARN.
    pub arn: String,
    /// The management (payer) account.
    pub management_account_id: AccountId,
    /// The management account's email, when AWS tells.
    pub management_account_email: Option<String>,
    /// `ALL` or `CONSOLIDATED_BILLING` (StackSets with service-managed permissions need `ALL`).
    pub feature_set: Option<String>,
}

pub use costline_domain::AccountType;

/// What verifying a role tells: who it is, its organization and so its account type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// GetCallerIdentity of the role.
    pub identity: CallerIdentity,
    /// Its organization, `None` for a standalone account.
    pub organization: Option<Organization>,
    /// Management, member or standalone.
    pub account_type: AccountType,
}

/// An account's state in its organization.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrgAccountStatus {
    /// In use.
    Active,
    /// Suspended by AWS or the organization.
    Suspended,
    /// Being created.
    PendingActivation,
    /// Being closed.
    PendingClosure,
    /// Closed (kept by AWS for 90 days).
    Closed,
    /// A state this version does not know.
    Other(String),
}

impl OrgAccountStatus {
    /// AWS's spelling, e.g. `ACTIVE`.
    pub fn as_str(&self) -> &str {
        match self {
            OrgAccountStatus::Active => "ACTIVE",
            OrgAccountStatus::Suspended => "SUSPENDED",
            OrgAccountStatus::PendingActivation => "PENDING_ACTIVATION",
            OrgAccountStatus::PendingClosure => "PENDING_CLOSURE",
            OrgAccountStatus::Closed => "CLOSED",
            OrgAccountStatus::Other(s) => s,
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "ACTIVE" => OrgAccountStatus::Active,
            "SUSPENDED" => OrgAccountStatus::Suspended,
            "PENDING_ACTIVATION" => OrgAccountStatus::PendingActivation,
            "PENDING_CLOSURE" => OrgAccountStatus::PendingClosure,
            "CLOSED" => OrgAccountStatus::Closed,
            other => OrgAccountStatus::Other(other.to_string()),
        }
    }
}

/// One account of the organization, as ListAccounts tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    /// The account id.
    pub id: AccountId,
    /// The account's name.
    pub name: String,
    /// The account's root email.
    pub email: String,
    /// Its state (AWS's newer `State`, else the older `Status`).
    pub status: OrgAccountStatus,
    /// When it joined the organization.
    pub joined_at: Option<DateTime<Utc>>,
}

/// ListAccounts' largest page.
const LIST_ACCOUNTS_MAX_PAGE: i32 = 20;

pub(crate) fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

impl RoleSession {
    /// DescribeOrganization: the role's organization, `None` when the account is in none
    /// (AWSOrganizationsNotInUseException).
    pub async fn describe_organization(&self) -> Result<Option<Organization>, AwsError> {
        self.ensure_live()?;
        let result = self
            .inner
            .organizations
            .describe_organization()
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_aws_organizations_not_in_use_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(error::from_sdk(
                    "organizations",
                    "DescribeOrganization",
                    Target::Session,
                    e,
                ))
            }
        };
        let invalid = |what: &str| AwsError::InvalidResponse {
            service: "organizations",
            operation: "DescribeOrganization",
            what: what.to_string(),
        };
        let org = out.organization.ok_or_else(|| invalid("Organization"))?;
        let management = org
            .master_account_id()
            .ok_or_else(|| invalid("MasterAccountId"))?;
        Ok(Some(Organization {
            id: org.id().ok_or_else(|| invalid("Id"))?.to_string(),
            arn: org.arn().unwrap_or_default().to_string(),
            management_account_id: AccountId::parse(management)
                .map_err(|_| invalid("a 12-digit MasterAccountId"))?,
            management_account_email: org.master_account_email().map(str::to_string),
            feature_set: org.feature_set().map(|f| f.as_str().to_string()),
        }))
    }

    /// Who the role is, its organization and its account type, in two calls.
    pub async fn verify(&self) -> Result<Verification, AwsError> {
        let identity = self.caller_identity().await?;
        let organization = self.describe_organization().await?;
        let account_type = match &organization {
            None => AccountType::Standalone,
            Some(org) if org.management_account_id == identity.account_id => {
                AccountType::Management
            }
            Some(_) => AccountType::Member,
        };
        Ok(Verification {
            identity,
            organization,
            account_type,
        })
    }

    /// Management when the role's account is its organization's management account, member
    /// when it is another account of one, standalone when in none.
    pub async fn classify(&self) -> Result<AccountType, AwsError> {
        Ok(self.verify().await?.account_type)
    }

    /// Every account of the organization (ListAccounts, every page); only the management account
    /// (or a delegated administrator) may ask.
    pub async fn list_accounts(&self) -> Result<Vec<OrgAccount>, AwsError> {
        self.list_accounts_in_pages(LIST_ACCOUNTS_MAX_PAGE).await
    }

    /// [`RoleSession::list_accounts`] asking for `page_size` accounts per call (1 to 20).
    pub async fn list_accounts_in_pages(
        &self,
        page_size: i32,
    ) -> Result<Vec<OrgAccount>, AwsError> {
        self.ensure_live()?;
        let mut pages = self
            .inner
            .organizations
            .list_accounts()
            .into_paginator()
            .page_size(page_size.clamp(1, LIST_ACCOUNTS_MAX_PAGE))
            .send();
        let invalid = |what: &str| AwsError::InvalidResponse {
            service: "organizations",
            operation: "ListAccounts",
            what: what.to_string(),
        };
        let mut accounts = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                error::from_sdk("organizations", "ListAccounts", Target::Session, e)
            })?;
            for a in page.accounts.unwrap_or_default() {
                let id = a.id().ok_or_else(|| invalid("an account Id"))?;
                let status = a
                    .state()
                    .map(|s| s.as_str())
                    .or_else(|| a.status().map(|s| s.as_str()))
                    .map(OrgAccountStatus::parse)
                    .unwrap_or_else(|| OrgAccountStatus::Other(String::new()));
                accounts.push(OrgAccount {
                    id: AccountId::parse(id).map_err(|_| invalid("a 12-digit account Id"))?,
                    name: a.name().unwrap_or_default().to_string(),
                    email: a.email().unwrap_or_default().to_string(),
                    status,
                    joined_at: a.joined_timestamp().and_then(to_chrono),
                });
            }
        }
        tracing::debug!(role_arn = %self.role_arn(), accounts = accounts.len(), "listed organization accounts");
        Ok(accounts)
    }

    /// The organization's root ids (`r-…`), the targets of a service-managed StackSet.
    pub async fn list_roots(&self) -> Result<Vec<String>, AwsError> {
        self.ensure_live()?;
        let mut pages = self
            .inner
            .organizations
            .list_roots()
            .into_paginator()
            .send();
        let mut roots = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| error::from_sdk("organizations", "ListRoots", Target::Session, e))?;
            roots.extend(
                page.roots
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|r| r.id),
            );
        }
        Ok(roots)
    }
}
