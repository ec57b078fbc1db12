//! The Terraform snippet's module source is an address `terraform init` can install: by default
//! the versioned archive Costline serves, holding exactly the files of terraform/; or the
//! address configured in COSTLINE_TERRAFORM_MODULE_SOURCE.

use costline_testkit::{spawn_app, spawn_app_with_config, TestApp};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// The `source = "..."` value of a new integration's Terraform snippet.
async fn snippet_source(app: &TestApp) -> String {
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let created = app.create_integration(&ws.token).await;
    let snippet = created["terraform_snippet"].as_str().expect("a snippet");
    let line = snippet
        .lines()
        .find(|l| l.trim_start().starts_with("source "))
        .unwrap_or_else(|| panic!("no source line in {snippet}"));
    let value = line.split_once('=').expect("source = ...").1.trim();
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or_else(|| panic!("source is not one string: {line}"))
        .to_string()
}

/// Every file of the repository's terraform/ by relative path (names starting with `.` are a
/// local `terraform init`'s state, not the module).
fn module_on_disk() -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                let key = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(key, std::fs::read(&path).unwrap());
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform");
    let mut files = BTreeMap::new();
    walk(&root, &root, &mut files);
    assert!(files.contains_key("main.tf"), "{:?}", files.keys());
    files
}

/// The regular files of a `.tar.gz`, by path; every other entry must be a directory that comes
/// before its files (Terraform's installer unpacks entries in order).
fn unpack(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut files = BTreeMap::new();
    let mut directories = vec![String::new()];
    for entry in tar.entries().expect("a tar archive") {
        let mut entry = entry.expect("a tar entry");
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        assert!(
            !path.starts_with('/') && !path.split('/').any(|s| s == ".."),
            "{path} would land outside the module directory"
        );
        let parent = match path.trim_end_matches('/').rsplit_once('/') {
            Some((parent, _)) => format!("{parent}/"),
            None => String::new(),
        };
        assert!(
            directories.contains(&parent),
            "{path} comes before its directory"
        );
        match entry.header().entry_type() {
            tar::EntryType::Directory => directories.push(path),
            tar::EntryType::Regular => {
                let mut contents = Vec::new();
                entry.read_to_end(&mut contents).unwrap();
                assert!(
                    files.insert(path.clone(), contents).is_none(),
                    "{path} twice"
                );
            }
            other => panic!("{path}: unexpected entry type {other:?}"),
        }
    }
    files
}

#[tokio::test]
async fn the_snippet_source_serves_exactly_the_files_of_the_terraform_folder() {
    let app = spawn_app().await;
    let source = snippet_source(&app).await;
    let version = costline_onboarding::TEMPLATE_VERSION;
    assert_eq!(
        source,
        format!("{}/terraform/costline-aws-{version}.tar.gz", app.base_url),
        "an HTTP URL whose path ends in .tar.gz: Terraform's installer fetches and unpacks it"
    );

    // What `terraform init` asks for, without credentials.
    let response = reqwest::get(&source).await.unwrap();
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("content-type"), "application/gzip");
    assert!(
        header("cache-control").contains("max-age=31536000"),
        "{}",
        header("cache-control")
    );
    let archive = response.bytes().await.unwrap();
    let served = unpack(&archive);
    let on_disk = module_on_disk();
    assert_eq!(
        served.keys().collect::<Vec<_>>(),
        on_disk.keys().collect::<Vec<_>>(),
        "the archive holds exactly the files of terraform/"
    );
    for (path, contents) in &on_disk {
        assert!(
            served[path] == *contents,
            "{path} differs from terraform/{path}"
        );
    }

    let again = reqwest::get(&source).await.unwrap().bytes().await.unwrap();
    assert_eq!(archive, again, "the same URL serves the same bytes");
}

/// The real installer, where terraform is on PATH (as the parity tests use `terraform console`):
/// `terraform get` installs the snippet's module from the served archive. It fetches modules
/// only, so the aws provider (which would need the registry) is not downloaded.
#[tokio::test]
async fn terraform_get_installs_the_module_from_the_snippet() {
    let installed = std::process::Command::new("terraform")
        .arg("version")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        eprintln!("terraform is not installed: the installer itself is not tried");
        return;
    }
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let created = app.create_integration(&ws.token).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.tf"),
        created["terraform_snippet"].as_str().unwrap(),
    )
    .unwrap();
    let out = tokio::process::Command::new("terraform")
        .args(["get", "-no-color"])
        .current_dir(dir.path())
        // No call home (checkpoint) and no user configuration.
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .output()
        .await
        .expect("run terraform get");
    assert!(
        out.status.success(),
        "terraform get failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = dir.path().join(".terraform/modules/costline");
    for (path, contents) in module_on_disk() {
        let got = std::fs::read(installed.join(&path))
            .unwrap_or_else(|e| panic!("{path} not installed: {e}"));
        assert!(got == contents, "{path} installed with other bytes");
    }
}

#[tokio::test]
async fn other_archive_names_and_versions_are_not_found() {
    let app = spawn_app().await;
    for path in [
        "/terraform/costline-aws-0.0.1.tar.gz",
        "/terraform/costline-aws.tar.gz",
        "/terraform/main.tf",
        "/terraform",
    ] {
        let response = reqwest::get(format!("{}{path}", app.base_url))
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn a_configured_module_source_replaces_the_served_archive_in_the_snippet() {
    let configured = "git::https://git.example.com/acme/costline.git//terraform?ref=v1.0.0";
    let app = spawn_app_with_config(|config| {
        config.terraform_module_source = Some(configured.to_string());
    })
    .await;
    assert_eq!(snippet_source(&app).await, configured);
}
