//! The CloudFormation templates, embedded so the web layer can serve exactly what was tested
//! (e.g. at `/templates/integration.yaml`).

/// The management (or standalone) account template: role, CUR bucket and report definition.
pub const INTEGRATION_TEMPLATE: &str = include_str!("../../../cloudformation/integration.yaml");

/// The member account template, for a service-managed StackSet: the role only.
pub const MEMBER_ROLE_TEMPLATE: &str = include_str!("../../../cloudformation/member-role.yaml");

/// The integration template's parameters, in the order the update command lists them.
pub const INTEGRATION_PARAMETERS: &[&str] = &[
    "ExternalId",
    "PlatformAccountId",
    "PlatformPrincipalArn",
    "ReportFormat",
    "CurPrefix",
    "CurReportName",
];

/// The member template's parameters.
pub const MEMBER_PARAMETERS: &[&str] = &["ExternalId", "PlatformAccountId", "PlatformPrincipalArn"];

/// A template file as the web layer serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// The file name, also the last segment of its URL.
    pub file_name: &'static str,
    /// The media type to serve it with.
    pub media_type: &'static str,
    /// The file's contents.
    pub contents: &'static str,
}

/// Every template this build publishes.
pub const TEMPLATES: &[Template] = &[
    Template {
        file_name: "integration.yaml",
        media_type: "application/yaml",
        contents: INTEGRATION_TEMPLATE,
    },
    Template {
        file_name: "member-role.yaml",
        media_type: "application/yaml",
        contents: MEMBER_ROLE_TEMPLATE,
    },
];

/// The S3 key `template` is published under: `<prefix>/<version>/<file name>`, or
/// `<version>/<file name>` when `prefix` is empty (slashes around `prefix` are dropped). Each
/// version keeps its own key, so a stack created from an older URL can still be updated from it.
pub fn published_template_key(prefix: &str, template: &Template) -> String {
    let folder = crate::version::TEMPLATE_VERSION;
    match prefix.trim_matches('/') {
        "" => format!("{folder}/{}", template.file_name),
        prefix => format!("{prefix}/{folder}/{}", template.file_name),
    }
}

/// The template named `file_name`, if this build publishes one.
pub fn template(file_name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.file_name == file_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_found_by_file_name_only() {
        assert_eq!(
            template("integration.yaml").map(|t| t.contents),
            Some(INTEGRATION_TEMPLATE)
        );
        assert_eq!(
            template("member-role.yaml").map(|t| t.contents),
            Some(MEMBER_ROLE_TEMPLATE)
        );
        assert!(template("../Cargo.toml").is_none());
        assert!(template("").is_none());
    }

    #[test]
    fn published_keys_are_versioned_without_a_leading_slash() {
        let integration = template("integration.yaml").unwrap();
        let v = crate::TEMPLATE_VERSION;
        assert_eq!(
            published_template_key("", integration),
            format!("{v}/integration.yaml")
        );
        assert_eq!(
            published_template_key("/costline/templates/", integration),
            format!("costline/templates/{v}/integration.yaml")
        );
        assert_eq!(
            published_template_key("p", template("member-role.yaml").unwrap()),
            format!("p/{v}/member-role.yaml")
        );
    }
}
