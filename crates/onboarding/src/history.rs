//! Every published permission set, so that a customer whose role is behind is told exactly what
//! changed, and so that a role made by Terraform or by hand can be compared with what we publish.
//!
//! `permission-sets/<version>.json` is a frozen copy of `permission-set.json` as each version
//! shipped; a test keeps the newest copy equal to the current file, so a release cannot forget
//! to freeze its set.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::permissions::{pattern_matches, permission_set, PermissionSet};
use crate::version::TemplateVersion;

/// The frozen permission sets, oldest first.
const PUBLISHED: &[&str] = &[
    include_str!("../permission-sets/1.0.0.json"),
    include_str!("../permission-sets/1.1.0.json"),
];

static HISTORY: LazyLock<Vec<PermissionSet>> = LazyLock::new(|| {
    PUBLISHED
        .iter()
        .map(|text| serde_json::from_str(text).expect("permission-sets/ is checked by tests"))
        .collect()
});

/// Every published permission set, oldest first (the last is this build's).
pub fn published_permission_sets() -> &'static [PermissionSet] {
    &HISTORY
}

/// The permission set published as `version`, if one was.
pub fn published_permission_set(version: &str) -> Option<&'static PermissionSet> {
    let wanted: TemplateVersion = version.parse().ok()?;
    HISTORY
        .iter()
        .find(|set| set.version.parse::<TemplateVersion>().ok() == Some(wanted))
}

/// What changed in the permission set between two versions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionChanges {
    /// The older version.
    pub from: String,
    /// The newer version.
    pub to: String,
    /// Allowed actions the newer version adds.
    pub added: Vec<String>,
    /// Allowed actions the newer version no longer asks for.
    pub removed: Vec<String>,
    /// Denied actions the newer version adds.
    pub denies_added: Vec<String>,
    /// Denied actions the newer version drops.
    pub denies_removed: Vec<String>,
}

impl PermissionChanges {
    /// True when the two versions grant and deny the same actions.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.denies_added.is_empty()
            && self.denies_removed.is_empty()
    }
}

/// The changes from the published version `from` to this build's permission set; `None` when
/// `from` was never published (a hand-edited version, or one newer than this build).
pub fn changes_since(from: &str) -> Option<PermissionChanges> {
    let old = published_permission_set(from)?;
    Some(changes_between(old, permission_set()))
}

/// The changes from `old` to `new`.
pub fn changes_between(old: &PermissionSet, new: &PermissionSet) -> PermissionChanges {
    let (old_allow, new_allow) = (allowed(old), allowed(new));
    let (old_deny, new_deny) = (denied(old), denied(new));
    PermissionChanges {
        from: old.version.clone(),
        to: new.version.clone(),
        added: new_allow.difference(&old_allow).cloned().collect(),
        removed: old_allow.difference(&new_allow).cloned().collect(),
        denies_added: new_deny.difference(&old_deny).cloned().collect(),
        denies_removed: old_deny.difference(&new_deny).cloned().collect(),
    }
}

fn allowed(set: &PermissionSet) -> BTreeSet<String> {
    set.allow
        .iter()
        .flat_map(|g| &g.actions)
        .chain(&set.cur_bucket.actions)
        .cloned()
        .collect()
}

fn denied(set: &PermissionSet) -> BTreeSet<String> {
    set.deny.iter().flat_map(|g| &g.actions).cloned().collect()
}

/// What a role's own policies allow and deny (every `Allow` and `Deny` statement's actions,
/// whatever their resources), as read from IAM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleGrants {
    /// Action patterns of every Allow statement.
    pub allowed: Vec<String>,
    /// Action patterns of every Deny statement.
    pub denied: Vec<String>,
}

impl RoleGrants {
    /// The actions of a policy document's statements (IAM JSON: `Statement` an object or a
    /// list, `Action` a string or a list; `NotAction` statements are skipped).
    pub fn add_policy_document(&mut self, document: &serde_json::Value) {
        let statements = match &document["Statement"] {
            serde_json::Value::Array(list) => list.iter().collect(),
            one @ serde_json::Value::Object(_) => vec![one],
            _ => Vec::new(),
        };
        for statement in statements {
            let actions: Vec<String> = match &statement["Action"] {
                serde_json::Value::String(a) => vec![a.clone()],
                serde_json::Value::Array(list) => list
                    .iter()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect(),
                _ => continue,
            };
            match statement["Effect"].as_str() {
                Some("Allow") => self.allowed.extend(actions),
                Some("Deny") => self.denied.extend(actions),
                _ => {}
            }
        }
    }
}

/// A role's policies compared with the published permission set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDrift {
    /// Published actions the role does not grant.
    pub missing_actions: Vec<String>,
    /// Published denies the role does not have.
    pub missing_denies: Vec<String>,
    /// Granted actions the published set does not ask for (left by an older version).
    pub extra_actions: Vec<String>,
    /// The published version whose allowed actions the role grants exactly, if any.
    pub matches_version: Option<String>,
}

impl PolicyDrift {
    /// True when the role grants every published action and keeps every published deny.
    pub fn is_up_to_date(&self) -> bool {
        self.missing_actions.is_empty() && self.missing_denies.is_empty()
    }
}

/// Compares what a role grants with this build's permission set. An action counts as granted
/// when some allowed pattern of the role covers it as IAM would match (`ec2:*` covers
/// `ec2:Describe*`); a deny counts as kept the same way.
pub fn policy_drift(grants: &RoleGrants) -> PolicyDrift {
    let current = permission_set();
    let covered = |patterns: &[String], action: &str| {
        patterns
            .iter()
            .any(|pattern| pattern_matches(pattern, action))
    };
    let published = allowed(current);
    let missing_actions = published
        .iter()
        .filter(|action| !covered(&grants.allowed, action))
        .cloned()
        .collect();
    let missing_denies = denied(current)
        .into_iter()
        .filter(|action| !covered(&grants.denied, action))
        .collect();
    let granted: BTreeSet<String> = grants.allowed.iter().cloned().collect();
    let extra_actions = granted
        .iter()
        .filter(|action| !published.iter().any(|p| p.eq_ignore_ascii_case(action)))
        .cloned()
        .collect();
    let matches_version = HISTORY
        .iter()
        .rev()
        .find(|set| {
            let wanted = allowed(set);
            wanted.len() == granted.len()
                && wanted
                    .iter()
                    .zip(&granted)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b))
        })
        .map(|set| set.version.clone());
    PolicyDrift {
        missing_actions,
        missing_denies,
        extra_actions,
        matches_version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::TEMPLATE_VERSION;

    #[test]
    fn the_newest_frozen_set_is_this_builds_set() {
        let newest = published_permission_sets().last().unwrap();
        assert_eq!(
            newest,
            permission_set(),
            "freeze permission-set.json as permission-sets/{TEMPLATE_VERSION}.json"
        );
        assert_eq!(newest.version, TEMPLATE_VERSION);
    }

    #[test]
    fn versions_are_published_in_order() {
        let versions: Vec<TemplateVersion> = published_permission_sets()
            .iter()
            .map(|s| s.version.parse().unwrap())
            .collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    }

    #[test]
    fn changes_list_added_and_removed_actions() {
        let old = permission_set().clone();
        let mut new = old.clone();
        new.version = "9.0.0".into();
        new.allow[0].actions.push("example:NewRead".into());
        let dropped = new.allow[0].actions.remove(0);
        new.deny[0].actions.push("example:NewDeny".into());
        let changes = changes_between(&old, &new);
        assert_eq!(changes.added, vec!["example:NewRead".to_string()]);
        assert_eq!(changes.removed, vec![dropped]);
        assert_eq!(changes.denies_added, vec!["example:NewDeny".to_string()]);
        assert!(changes.denies_removed.is_empty());
        assert!(!changes.is_empty());
        assert!(changes_between(&old, &old).is_empty());
    }

    #[test]
    fn unknown_versions_have_no_changes_listed() {
        assert!(changes_since("0.0.1").is_none());
        assert!(changes_since("not a version").is_none());
        assert!(changes_since(TEMPLATE_VERSION).unwrap().is_empty());
    }

    fn grants_of(set: &PermissionSet) -> RoleGrants {
        RoleGrants {
            allowed: allowed(set).into_iter().collect(),
            denied: denied(set).into_iter().collect(),
        }
    }

    #[test]
    fn a_role_with_the_published_policy_is_up_to_date() {
        let drift = policy_drift(&grants_of(permission_set()));
        assert!(drift.is_up_to_date(), "{drift:?}");
        assert!(drift.extra_actions.is_empty());
        assert_eq!(drift.matches_version.as_deref(), Some(TEMPLATE_VERSION));
    }

    #[test]
    fn a_role_missing_an_action_or_a_deny_is_outdated() {
        let mut grants = grants_of(permission_set());
        let action = grants.allowed.remove(0);
        let deny = grants.denied.pop().unwrap();
        grants.allowed.push("ec2:RunInstances".into());
        let drift = policy_drift(&grants);
        assert!(!drift.is_up_to_date());
        assert_eq!(drift.missing_actions, vec![action]);
        assert_eq!(drift.missing_denies, vec![deny]);
        assert_eq!(drift.extra_actions, vec!["ec2:RunInstances".to_string()]);
        assert_eq!(drift.matches_version, None);
    }

    #[test]
    fn broader_patterns_cover_published_actions() {
        let grants = RoleGrants {
            allowed: vec!["*".into()],
            denied: denied(permission_set()).into_iter().collect(),
        };
        let drift = policy_drift(&grants);
        assert!(drift.missing_actions.is_empty(), "{drift:?}");
        assert_eq!(drift.extra_actions, vec!["*".to_string()]);
    }

    #[test]
    fn policy_documents_are_read_in_every_iam_shape() {
        let mut grants = RoleGrants::default();
        grants.add_policy_document(&serde_json::json!({
            "Version": "2012-10-17",
            "Statement": {"Effect": "Allow", "Action": "ce:GetCostAndUsage", "Resource": "*"}
        }));
        grants.add_policy_document(&serde_json::json!({
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"},
                {"Effect": "Deny", "Action": ["secretsmanager:GetSecretValue"], "Resource": "*"},
                {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
            ]
        }));
        assert_eq!(
            grants.allowed,
            vec!["ce:GetCostAndUsage", "s3:GetObject", "s3:ListBucket"]
        );
        assert_eq!(grants.denied, vec!["secretsmanager:GetSecretValue"]);
    }
}
