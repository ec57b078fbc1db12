//! Just enough of CloudFormation, Terraform templates and HCL to compare the published artifacts
//! with the permission set. Each piece panics on anything it does not understand, so a template
//! that grows beyond it fails the tests instead of being compared loosely.

pub mod cfn;
pub mod hcl;
pub mod tftpl;

use std::path::PathBuf;

/// The workspace root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Reads a file under the workspace root.
pub fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
