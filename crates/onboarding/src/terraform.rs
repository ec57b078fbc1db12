//! The Terraform module (`terraform/`), embedded and packed as the `.tar.gz` Terraform's module
//! installer downloads: an HTTP source whose path ends in `.tar.gz` is fetched and unpacked as
//! the module (`docs/adr/0003-permission-set.md`, "Publishing the Terraform module").

use crate::version::TEMPLATE_VERSION;
use flate2::{Compression, GzBuilder};
use std::io::Write;

/// One file of the module, at its path relative to `terraform/` (`/`-separated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleFile {
    /// e.g. `policies/role-policy.json.tftpl`
    pub path: &'static str,
    /// The committed bytes.
    pub contents: &'static [u8],
}

macro_rules! module_files {
    ($($path:literal),* $(,)?) => {
        &[$(ModuleFile {
            path: $path,
            contents: include_bytes!(concat!("../../../terraform/", $path)),
        }),*]
    };
}

/// Every file of `terraform/`, in byte order of their paths. A test compares this list with the
/// folder on disk, so a file added there and forgotten here fails the build's tests.
pub const TERRAFORM_MODULE_FILES: &[ModuleFile] = module_files![
    "README.md",
    "main.tf",
    "outputs.tf",
    "policies/cur-bucket-policy.json.tftpl",
    "policies/role-policy.json.tftpl",
    "policies/trust-policy.json.tftpl",
    "variables.tf",
    "versions.tf",
];

/// The media type the archive is served with.
pub const TERRAFORM_ARCHIVE_MEDIA_TYPE: &str = "application/gzip";

/// The archive's file name, also the last segment of its URL: `costline-aws-<version>.tar.gz`.
/// The version is in the name so that a URL always answers the same bytes and a customer's
/// configuration keeps the module it was written for until they change the URL.
pub fn terraform_archive_name() -> String {
    format!("costline-aws-{TEMPLATE_VERSION}.tar.gz")
}

/// The module as a gzip-compressed tar archive, with the files at its root.
///
/// Deterministic: entries in byte order of their paths, each directory just before its files
/// (older module installers did not create missing parent directories), files `0644` and
/// directories `0755`, owner 0:0, modification time 0 in the tar and gzip headers. The same
/// build always makes the same bytes.
pub fn terraform_module_archive() -> Vec<u8> {
    let gzip = GzBuilder::new()
        .mtime(0)
        // 255: "unknown" (RFC 1952), rather than the building machine's OS.
        .operating_system(255)
        .write(Vec::new(), Compression::best());
    let mut tar = tar::Builder::new(gzip);
    for entry in archive_entries() {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match entry {
            Entry::Directory(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                tar.append_data(&mut header, path, std::io::empty())
            }
            Entry::File(file) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(file.contents.len() as u64);
                tar.append_data(&mut header, file.path, file.contents)
            }
        }
        .expect("writing a tar entry to memory cannot fail");
    }
    let mut gzip = tar
        .into_inner()
        .expect("finishing a tar archive in memory cannot fail");
    gzip.flush().expect("flushing to memory cannot fail");
    gzip.finish()
        .expect("finishing a gzip stream in memory cannot fail")
}

enum Entry {
    /// A directory, with its trailing `/`.
    Directory(String),
    File(&'static ModuleFile),
}

impl Entry {
    fn name(&self) -> &str {
        match self {
            Entry::Directory(path) => path,
            Entry::File(file) => file.path,
        }
    }
}

/// The files and every directory above one, sorted by name: a directory's name (with its `/`)
/// is a prefix of its files' names, so it sorts just before them.
fn archive_entries() -> Vec<Entry> {
    let mut directories: Vec<String> = TERRAFORM_MODULE_FILES
        .iter()
        .flat_map(|file| {
            file.path
                .match_indices('/')
                .map(|(end, _)| file.path[..=end].to_owned())
        })
        .collect();
    directories.sort();
    directories.dedup();
    let mut entries: Vec<Entry> = directories
        .into_iter()
        .map(Entry::Directory)
        .chain(TERRAFORM_MODULE_FILES.iter().map(Entry::File))
        .collect();
    entries.sort_by(|a, b| a.name().cmp(b.name()));
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::Read;
    use std::path::Path;

    /// Every file under `dir`, by `/`-separated path relative to `root`. Names starting with `.`
    /// are a local `terraform init`'s state (`.terraform/`, `.terraform.lock.hcl`), never part
    /// of the module.
    fn files_on_disk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read terraform/") {
            let entry = entry.expect("read terraform/");
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                files_on_disk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).expect("under terraform/");
                let name = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(name, std::fs::read(&path).expect("read a module file"));
            }
        }
    }

    fn unpack(archive: &[u8]) -> Vec<(String, tar::EntryType, u32, u64, Vec<u8>)> {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
        tar.entries()
            .expect("a tar archive")
            .map(|entry| {
                let mut entry = entry.expect("a tar entry");
                let header = entry.header().clone();
                let mut contents = Vec::new();
                entry.read_to_end(&mut contents).expect("entry contents");
                (
                    entry.path().unwrap().to_string_lossy().into_owned(),
                    header.entry_type(),
                    header.mode().unwrap(),
                    header.mtime().unwrap(),
                    contents,
                )
            })
            .collect()
    }

    #[test]
    fn the_embedded_files_are_exactly_the_files_of_the_terraform_folder() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../terraform");
        let mut on_disk = BTreeMap::new();
        files_on_disk(&root, &root, &mut on_disk);
        let embedded: BTreeMap<String, Vec<u8>> = TERRAFORM_MODULE_FILES
            .iter()
            .map(|f| (f.path.to_owned(), f.contents.to_vec()))
            .collect();
        assert_eq!(
            embedded.keys().collect::<Vec<_>>(),
            on_disk.keys().collect::<Vec<_>>(),
            "list every file of terraform/ in TERRAFORM_MODULE_FILES (crates/onboarding/src/terraform.rs)"
        );
        assert!(
            embedded == on_disk,
            "the embedded bytes are the files' bytes"
        );
        let paths: Vec<&str> = TERRAFORM_MODULE_FILES.iter().map(|f| f.path).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(
            paths, sorted,
            "TERRAFORM_MODULE_FILES is kept in byte order"
        );
    }

    #[test]
    fn the_archive_holds_every_file_at_its_root_with_fixed_metadata() {
        let entries = unpack(&terraform_module_archive());
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "entries in byte order");
        let files: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !n.ends_with('/'))
            .collect();
        let embedded: Vec<&str> = TERRAFORM_MODULE_FILES.iter().map(|f| f.path).collect();
        assert_eq!(files, embedded, "every file once, at the archive's root");
        assert!(names.contains(&"policies/"), "{names:?}");
        for (at, name) in names.iter().enumerate() {
            if let Some((parent, _)) = name.trim_end_matches('/').rsplit_once('/') {
                let parent = format!("{parent}/");
                let parent_at = names.iter().position(|n| *n == parent);
                assert!(
                    parent_at.is_some_and(|p| p < at),
                    "{name} comes after its directory {parent}: {names:?}"
                );
            }
        }
        for (name, kind, mode, mtime, contents) in &entries {
            assert_eq!(*mtime, 0, "{name}");
            if name.ends_with('/') {
                assert_eq!((*kind, *mode), (tar::EntryType::Directory, 0o755), "{name}");
            } else {
                assert_eq!((*kind, *mode), (tar::EntryType::Regular, 0o644), "{name}");
                let file = TERRAFORM_MODULE_FILES
                    .iter()
                    .find(|f| f.path == name)
                    .expect("an embedded file");
                assert_eq!(contents.as_slice(), file.contents, "{name}");
            }
        }
    }

    #[test]
    fn the_archive_is_the_same_bytes_every_time() {
        let archive = terraform_module_archive();
        assert_eq!(archive, terraform_module_archive());
        assert_eq!(&archive[..2], &[0x1f, 0x8b], "gzip magic");
        assert_eq!(&archive[4..8], &[0, 0, 0, 0], "gzip mtime 0");
        assert_eq!(archive[9], 255, "gzip OS unknown");
    }

    #[test]
    fn the_archive_name_is_versioned_and_ends_as_terraform_expects() {
        let name = terraform_archive_name();
        // Terraform's module installer unpacks an HTTP source by its path's extension.
        let version = name
            .strip_prefix("costline-aws-")
            .and_then(|rest| rest.strip_suffix(".tar.gz"))
            .expect(&name);
        assert_eq!(
            version.parse::<crate::TemplateVersion>(),
            Ok(crate::TemplateVersion::current())
        );
    }
}
