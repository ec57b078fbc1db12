//! IAM through a role session: the role's own policies, so that a role made by Terraform or by
//! hand can be compared with the published permission set.

use crate::error::{self, AwsError, Target};
use crate::session::RoleSession;
use percent_encoding::percent_decode_str;
use serde_json::Value;

/// The policies attached to a role, as IAM holds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RolePolicies {
    /// Each inline policy's name and document.
    pub inline: Vec<(String, Value)>,
    /// Each attached managed policy's ARN and default version's document.
    pub managed: Vec<(String, Value)>,
    /// Why the managed policies could not be read (a role of an older template may not list
    /// them); the inline ones were read.
    pub managed_error: Option<String>,
}

impl RolePolicies {
    /// Every document, inline first.
    pub fn documents(&self) -> impl Iterator<Item = &Value> {
        self.inline.iter().chain(&self.managed).map(|(_, d)| d)
    }
}

impl RoleSession {
    /// The session's own role's inline policies (ListRolePolicies, GetRolePolicy) and attached
    /// managed policies (ListAttachedRolePolicies, GetPolicy, GetPolicyVersion).
    pub async fn own_role_policies(&self) -> Result<RolePolicies, AwsError> {
        self.ensure_live()?;
        let iam = &self.inner.iam;
        let role = self.role_arn().name().to_string();
        let mut out = RolePolicies::default();

        let mut names = Vec::new();
        let mut pages = iam
            .list_role_policies()
            .role_name(&role)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| error::from_sdk("iam", "ListRolePolicies", Target::Session, e))?;
            names.extend(page.policy_names);
        }
        for name in names {
            let got = iam
                .get_role_policy()
                .role_name(&role)
                .policy_name(&name)
                .send()
                .await
                .map_err(|e| error::from_sdk("iam", "GetRolePolicy", Target::Session, e))?;
            out.inline.push((
                name,
                decode_document("GetRolePolicy", &got.policy_document)?,
            ));
        }

        match self.attached_policies(&role).await {
            Ok(managed) => out.managed = managed,
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => out.managed_error = Some(e.to_string()),
        }
        Ok(out)
    }

    async fn attached_policies(&self, role: &str) -> Result<Vec<(String, Value)>, AwsError> {
        let iam = &self.inner.iam;
        let mut arns = Vec::new();
        let mut pages = iam
            .list_attached_role_policies()
            .role_name(role)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                error::from_sdk("iam", "ListAttachedRolePolicies", Target::Session, e)
            })?;
            arns.extend(
                page.attached_policies
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| p.policy_arn),
            );
        }
        let mut out = Vec::new();
        for arn in arns {
            let policy = iam
                .get_policy()
                .policy_arn(&arn)
                .send()
                .await
                .map_err(|e| error::from_sdk("iam", "GetPolicy", Target::Session, e))?;
            let Some(version) = policy.policy.and_then(|p| p.default_version_id) else {
                continue;
            };
            let got = iam
                .get_policy_version()
                .policy_arn(&arn)
                .version_id(version)
                .send()
                .await
                .map_err(|e| error::from_sdk("iam", "GetPolicyVersion", Target::Session, e))?;
            let Some(document) = got.policy_version.and_then(|v| v.document) else {
                continue;
            };
            out.push((arn, decode_document("GetPolicyVersion", &document)?));
        }
        Ok(out)
    }
}

/// IAM answers policy documents URL-encoded (RFC 3986); some emulators send them plain.
fn decode_document(operation: &'static str, raw: &str) -> Result<Value, AwsError> {
    let invalid = || AwsError::InvalidResponse {
        service: "iam",
        operation,
        what: "a JSON policy document".to_string(),
    };
    if let Ok(plain) = serde_json::from_str(raw) {
        return Ok(plain);
    }
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| invalid())?;
    serde_json::from_str(&decoded).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_read_url_encoded_or_plain() {
        let plain = r#"{"Version":"2012-10-17","Statement":[]}"#;
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            decode_document("GetRolePolicy", plain).unwrap()["Version"],
            "2012-10-17"
        );
        assert_eq!(
            decode_document("GetRolePolicy", encoded).unwrap()["Version"],
            "2012-10-17"
        );
        assert!(decode_document("GetRolePolicy", "%7Bnot json").is_err());
    }
}
