//! Which PostgreSQL to use: DATABASE_URL, or the private cluster under the data directory.

use crate::cli::{ConfigError, Settings};
use costline_pgcluster::{ClusterError, ClusterOptions, LocalCluster};
use costline_store::{DbLogins, Store};
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

/// Connects to DATABASE_URL (with the application and system logins given or derived from it),
/// or starts (or reuses) the private cluster, whose superuser creates the roles at migration.
pub async fn open(settings: &Settings) -> anyhow::Result<Database> {
    const POOL_SIZE: u32 = 16;
    if let Some(url) = &settings.database_url {
        let owner = parse_url("DATABASE_URL", &url.0)?;
        let logins = match (&settings.app_database_url, &settings.system_database_url) {
            (Some(app), Some(system)) => DbLogins::separate(
                owner,
                parse_url("COSTLINE_APP_DATABASE_URL", &app.0)?,
                parse_url("COSTLINE_SYSTEM_DATABASE_URL", &system.0)?,
            ),
            _ => DbLogins::derived(owner, url_password(&url.0)),
        };
        return Ok(Database {
            store: Store::connect_with(logins, POOL_SIZE),
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
        // The superuser migrates (creating the roles first); the pools log in as the roles.
        store: Store::connect(cluster.connect_options(), POOL_SIZE),
        cluster: Some(cluster),
    })
}

fn parse_url(name: &str, url: &str) -> Result<PgConnectOptions, ConfigError> {
    PgConnectOptions::from_str(url).map_err(|e| {
        ConfigError(format!(
            "{name} is not a PostgreSQL URL ({e}): use postgres://user:password@host:5432/database, or unset it to use the private cluster"
        ))
    })
}

/// The URL's password, decoded (sqlx keeps it private once parsed).
fn url_password(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let password = parsed.password()?;
    Some(
        percent_encoding::percent_decode_str(password)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::url_password;

    #[test]
    fn the_password_is_read_decoded_from_the_url() {
        assert_eq!(
            url_password("postgres://costline_owner:p%40ss%3Aw0rd@db:5432/costline").as_deref(),
            Some("p@ss:w0rd")
        );
        assert_eq!(url_password("postgres://costline_owner@db/costline"), None);
    }
}
