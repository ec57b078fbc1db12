//! Finding `initdb` and `postgres` on this machine.

use crate::ClusterError;
use std::path::{Path, PathBuf};

/// The server binaries of one PostgreSQL installation.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    /// Path of `initdb`.
    pub initdb: PathBuf,
    /// Path of `postgres`.
    pub postgres: PathBuf,
}

/// Looks in PATH first, then in Debian's `/usr/lib/postgresql/<major>/bin`, newest major first.
pub fn find_binaries() -> Result<PgBinaries, ClusterError> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(debian_bin_dirs(Path::new("/usr/lib/postgresql")));
    dirs.into_iter()
        .find_map(|dir| {
            let initdb = dir.join("initdb");
            let postgres = dir.join("postgres");
            (is_executable(&initdb) && is_executable(&postgres))
                .then_some(PgBinaries { initdb, postgres })
        })
        .ok_or(ClusterError::BinariesNotFound)
}

fn debian_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, e.path().join("bin")))
        })
        .collect();
    majors.sort_by_key(|m| std::cmp::Reverse(m.0));
    majors.into_iter().map(|(_, p)| p).collect()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_debian_major_comes_first() {
        let root = tempfile::tempdir().unwrap();
        for major in ["13", "16", "9", "not-a-version"] {
            std::fs::create_dir_all(root.path().join(major).join("bin")).unwrap();
        }
        let dirs = debian_bin_dirs(root.path());
        let names: Vec<String> = dirs
            .iter()
            .map(|d| {
                d.parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["16", "13", "9"]);
    }
}
