//! Which PostgreSQL to use: DATABASE_URL, or the private cluster under the data directory.

use crate::cli::{ConfigError, Settings};
use costline_pgcluster::{ClusterError, ClusterOptions, LocalCluster};
use costline_store::Store;
use sqlx::postgres::PgConnectOptions;
use std::str::FromStr;

/// The store, and the private cluster when this process runs one.
pub struct Database {
    pub store: Store,
    cluster: Option<LocalCluster>,
}

impl Database {
    /// Closes the pools, then stops the private cluster if this process started it.
    pub async fn close(self) {
        self.store.close().await;
        if let Some(cluster) = self.cluster {
            cluster.stop().await;
        }
    }
}

/// Connects to DATABASE_URL, or starts (or reuses) the private cluster.
pub async fn open(settings: &Settings) -> anyhow::Result<Database> {
    const POOL_SIZE: u32 = 16;
    if let Some(url) = &settings.database_url {
        let options = PgConnectOptions::from_str(&url.0).map_err(|e| {
            ConfigError(format!(
                "DATABASE_URL is not a PostgreSQL URL ({e}): use postgres://user:password@host:5432/database, or unset it to use the private cluster"
            ))
        })?;
        return Ok(Database {
            store: Store::connect(options, POOL_SIZE),
            cluster: None,
        });
    }
    let cluster = LocalCluster::start_or_reuse(ClusterOptions::durable(&settings.data_dir))
        .await
        .map_err(|e| match e {
            e @ (ClusterError::BinariesNotFound
            | ClusterError::NoPostgresUser
            | ClusterError::SocketPathTooLong(_)) => {
                anyhow::Error::from(ConfigError(e.to_string()))
            }
            other => anyhow::Error::from(other).context(format!(
                "start the private PostgreSQL under {} (or set DATABASE_URL)",
                settings.data_dir.display()
            )),
        })?;
    tracing::info!(url = %cluster.url(), started_here = cluster.started_here(), "using the private PostgreSQL");
    Ok(Database {
        store: Store::connect(cluster.connect_options(), POOL_SIZE),
        cluster: Some(cluster),
    })
}
