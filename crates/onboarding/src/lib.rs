//! Onboarding a customer's AWS organization: the read-only permission set Costline asks for,
//! and everything rendered from it.
//!
//! One data file, `permission-set.json`, is the source of truth. The CloudFormation templates
//! (`cloudformation/integration.yaml`, `cloudformation/member-role.yaml`), the Terraform module
//! (`terraform/`) and the manual trust and inline policy JSON shown in the console are kept equal
//! to it by this crate's tests (`tests/parity.rs`); see `docs/adr/0003-permission-set.md`.
//!
//! Pure: no IO, no async. The web layer serves what this crate renders, the Terraform module
//! included, as a versioned `.tar.gz` (`terraform_module_archive`).

mod history;
mod links;
mod permissions;
mod stackset;
mod templates;
mod terraform;
mod version;

pub use history::{
    changes_between, changes_since, policy_drift, published_permission_set,
    published_permission_sets, PermissionChanges, PolicyDrift, RoleGrants,
};
pub use links::{
    cloudformation_quick_create_url, cloudformation_update_url, integration_region_note,
    percent_encode, stack_update_command, terraform_snippet, DEFAULT_STACK_NAME,
};
pub use permissions::{
    inline_policy, inline_policy_text, member_inline_policy, member_role_arn, member_role_name,
    permission_set, trust_policy, trust_policy_text, AllowGroup, CurBucketGrant, DenyGroup,
    PermissionSet, PolicyScope, CUR_BUCKET_PLACEHOLDER,
};
pub use stackset::{
    is_organizations_access_error, stack_set_update_command, stackset_instructions, stackset_steps,
    CliStep, MEMBER_STACK_SET_NAME, ORGANIZATIONS_ACCESS_ERROR, ORGANIZATIONS_ACCESS_HELP,
    ORGANIZATIONS_ACCESS_HELP_URL,
};
pub use templates::{
    published_template_key, template, Template, INTEGRATION_PARAMETERS, INTEGRATION_TEMPLATE,
    MEMBER_PARAMETERS, MEMBER_ROLE_TEMPLATE, TEMPLATES,
};
pub use terraform::{
    terraform_archive_name, terraform_module_archive, ModuleFile, TERRAFORM_ARCHIVE_MEDIA_TYPE,
    TERRAFORM_MODULE_FILES,
};
pub use version::{
    is_update_available, template_version_in, TemplateVersion, VersionError, TEMPLATE_VERSION,
};
