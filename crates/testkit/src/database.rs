//! Ephemeral PostgreSQL for tests: a cluster per test process, a database per test.

use costline_pgcluster::{find_binaries, ClusterOptions, LocalCluster};
use costline_store::{Store, MIGRATOR};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio::sync::OnceCell;

const TEMPLATE_DB: &str = "costline_template";

static CLUSTER: OnceCell<LocalCluster> = OnceCell::const_new();

/// A fresh, migrated database for one test.
pub struct TestDb {
    /// The store over it (both pools, logged in as costline_app and costline_system).
    pub store: Store,
    /// The database name.
    pub name: String,
    options: PgConnectOptions,
    admin: PgPool,
}

impl TestDb {
    /// Connection options of this database (as the cluster's superuser, like a `DATABASE_URL`
    /// that creates the roles and migrates as costline_owner).
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// Another handle on this same database, with pools of its own: for a second instance of
    /// the app beside the first ([`crate::spawn_app_on`]).
    pub fn reopen(&self) -> TestDb {
        TestDb {
            store: Store::connect(self.options.clone(), 8),
            name: self.name.clone(),
            options: self.options.clone(),
            admin: self.admin.clone(),
        }
    }

    /// The cluster's superuser, which row-level security does not apply to: for tests that set
    /// up or inspect rows across workspaces, never for the code under test.
    pub fn admin(&self) -> &PgPool {
        &self.admin
    }

    /// A `DATABASE_URL` for this database, for child processes (the binary, test workers).
    pub fn url(&self) -> String {
        let cluster = CLUSTER.get().expect("cluster started");
        cluster
            .url()
            .replacen("/postgres?", &format!("/{}?", self.name), 1)
    }
}

impl std::ops::Deref for TestDb {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

/// A new database cloned from the migrated template, in this test process's cluster.
pub async fn fresh_store() -> TestDb {
    let cluster = CLUSTER.get_or_init(start_process_cluster).await;
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = cluster
        .connect_options_for("postgres")
        .connect()
        .await
        .expect("connect to the test cluster");
    let mut attempt = 0;
    loop {
        let created = sqlx::raw_sql(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}"))
            .execute(&mut conn)
            .await;
        match created {
            Ok(_) => break,
            // Another test of this process may be cloning the template at this very moment.
            Err(e)
                if attempt < 50 && e.to_string().contains("is being accessed by other users") =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("create test database: {e}"),
        }
    }
    conn.close().await.ok();
    let options = cluster.connect_options_for(&name);
    TestDb {
        store: Store::connect(options.clone(), 8),
        name,
        admin: PgPoolOptions::new()
            .max_connections(4)
            .connect_lazy_with(options.clone()),
        options,
    }
}

async fn start_process_cluster() -> LocalCluster {
    let template = ensure_template().await;
    sweep_stale_clusters();
    let dir = std::env::temp_dir().join(format!("costline-test-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove a stale test cluster");
    }
    std::fs::create_dir_all(&dir).expect("create the test cluster directory");
    copy_tree(&template.join("pgdata"), &dir.join("pgdata"));
    LocalCluster::start_or_reuse(test_options(dir, "postgres"))
        .await
        .unwrap_or_else(|e| panic!("start the test PostgreSQL: {e}"))
}

fn test_options(dir: PathBuf, database: &str) -> ClusterOptions {
    ClusterOptions {
        data_dir: dir,
        database: database.into(),
        ephemeral: true,
        start_timeout: Duration::from_secs(60),
    }
}

/// The migrated template cluster, built once per set of migrations and reused by every test
/// process after it.
async fn ensure_template() -> PathBuf {
    let key = template_key();
    let final_dir = std::env::temp_dir().join(format!("costline-test-template-{key}"));
    if final_dir.join("ready").exists() {
        return final_dir;
    }
    let build_dir = std::env::temp_dir().join(format!(
        "costline-test-template-{key}.build-{}",
        std::process::id()
    ));
    if build_dir.exists() {
        std::fs::remove_dir_all(&build_dir).ok();
    }
    let cluster = LocalCluster::start_or_reuse(test_options(build_dir.clone(), TEMPLATE_DB))
        .await
        .unwrap_or_else(|e| panic!("start the template PostgreSQL: {e}"));
    let store = Store::connect(cluster.connect_options(), 2);
    store
        .migrate()
        .await
        .expect("migrate the template database");
    store.close().await;
    cluster.stop().await;
    std::fs::write(build_dir.join("ready"), b"").expect("mark the template ready");
    if std::fs::rename(&build_dir, &final_dir).is_err() {
        // Another test process finished first: use its template.
        std::fs::remove_dir_all(&build_dir).ok();
    }
    final_dir
}

fn template_key() -> String {
    let mut hasher = Sha256::new();
    for migration in MIGRATOR.iter() {
        hasher.update(migration.version.to_le_bytes());
        hasher.update(&migration.checksum);
    }
    if let Ok(bins) = find_binaries() {
        hasher.update(bins.postgres.to_string_lossy().as_bytes());
    }
    hex::encode(&hasher.finalize()[..8])
}

/// Removes clusters of test processes that are gone (their servers died with them).
fn sweep_stale_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("costline-test-"))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            std::fs::remove_dir_all(entry.path()).ok();
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("run cp");
    assert!(
        status.success(),
        "copy {} to {}",
        from.display(),
        to.display()
    );
}
