//! Template versions: which one this build publishes, and whether a deployed stack is behind.

use std::fmt;
use std::str::FromStr;

/// The version of the templates, the Terraform module and the permission set in this build;
/// the templates output it as `TemplateVersion`.
pub const TEMPLATE_VERSION: &str = "1.1.0";

/// A `MAJOR.MINOR.PATCH` template version, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TemplateVersion {
    /// Bumped when a customer must act beyond updating the stack (e.g. a new parameter).
    pub major: u32,
    /// Bumped when permissions or resources change.
    pub minor: u32,
    /// Bumped for changes that grant nothing new (descriptions, metadata).
    pub patch: u32,
}

/// A `TemplateVersion` output that is not `MAJOR.MINOR.PATCH`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template version {0:?} is not MAJOR.MINOR.PATCH")]
pub struct VersionError(String);

impl TemplateVersion {
    /// The version this build publishes.
    pub fn current() -> Self {
        TEMPLATE_VERSION
            .parse()
            .expect("TEMPLATE_VERSION is checked by this crate's tests")
    }
}

impl FromStr for TemplateVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || VersionError(s.to_owned());
        let trimmed = s.trim();
        let trimmed = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let mut parts = trimmed.split('.').map(|part| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(error());
            }
            part.parse::<u32>().map_err(|_| error())
        });
        let (Some(major), Some(minor), Some(patch), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(error());
        };
        Ok(Self {
            major: major?,
            minor: minor?,
            patch: patch?,
        })
    }
}

impl fmt::Display for TemplateVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// True when the `TemplateVersion` read from a customer's stack is older than
/// [`TEMPLATE_VERSION`]. A value that is not a version (hand-edited, or from before versions
/// were published) counts as outdated: updating to the current template is always safe.
pub fn is_update_available(deployed_version: &str) -> bool {
    match deployed_version.parse::<TemplateVersion>() {
        Ok(deployed) => deployed < TemplateVersion::current(),
        Err(_) => true,
    }
}

/// The `TemplateVersion` output's value in a template body (YAML as published, or JSON), as
/// DescribeStackSet returns it; `None` when the body has no such output.
pub fn template_version_in(template_body: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(template_body) {
        return json["Outputs"]["TemplateVersion"]["Value"]
            .as_str()
            .map(str::to_owned);
    }
    let mut lines = template_body.lines();
    lines.find(|line| line.trim_end() == "Outputs:")?;
    lines.find(|line| line.trim() == "TemplateVersion:")?;
    lines
        .take_while(|line| line.starts_with("    ") || line.trim().is_empty())
        .find_map(|line| line.trim().strip_prefix("Value:"))
        .map(|value| {
            value
                .trim()
                .trim_matches(|c| c == '"' || c == '\'')
                .to_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_templates_carry_this_builds_version() {
        for template in crate::TEMPLATES {
            assert_eq!(
                template_version_in(template.contents).as_deref(),
                Some(TEMPLATE_VERSION),
                "{}",
                template.file_name
            );
        }
        let json = r#"{"Outputs": {"TemplateVersion": {"Value": "0.9.0"}}}"#;
        assert_eq!(template_version_in(json).as_deref(), Some("0.9.0"));
        assert_eq!(template_version_in("Resources: {}"), None);
    }

    #[test]
    fn the_current_version_parses() {
        assert_eq!(TemplateVersion::current().to_string(), TEMPLATE_VERSION);
    }

    #[test]
    fn versions_compare_numerically_not_as_text() {
        let v = |s: &str| s.parse::<TemplateVersion>().expect(s);
        assert!(v("1.9.0") < v("1.10.0"));
        assert!(v("0.9.9") < v("1.0.0"));
        assert_eq!(v("v1.2.3"), v("1.2.3"));
        assert_eq!(v(" 1.2.3\n"), v("1.2.3"));
    }

    #[test]
    fn malformed_versions_are_rejected() {
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "1..3",
            "a.b.c",
            "1.2.-3",
            "1.2.3-rc1",
        ] {
            assert!(bad.parse::<TemplateVersion>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_update_is_available_only_for_older_or_unreadable_versions() {
        assert!(!is_update_available(TEMPLATE_VERSION));
        assert!(is_update_available("0.9.0"));
        assert!(!is_update_available("99.0.0"));
        assert!(is_update_available("garbage"));
        assert!(is_update_available(""));
    }
}
