//! The store: every SQL statement of Costline outside `migrations/`.
//!
//! Two pools over one database. `Store::scoped` opens a transaction as the `costline_app` role with
//! the workspace set for row-level security, so tenant data is filtered twice: by each query's
//! `workspace_id = $1` and by the policies. `Store::system` is for the few cross-tenant paths
//! (token lookup, login, the job queue) and runs as the table owner.

pub mod admin;
pub mod audit;
pub mod costs;
pub mod cur;
pub mod forecast;
pub mod integrations;
pub mod jobs;
pub mod line_items;
pub mod members;
pub mod notifications;
pub mod reports;
pub mod resources;
pub mod revocation;
pub mod rollups;
pub mod schedules;
pub mod support;
pub mod tokens;
pub mod users;
pub mod workspace_deletion;
pub mod workspaces;

use costline_domain::WorkspaceId;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::time::Duration;

/// Store failures. `NotFound` and `Conflict` are expected outcomes; the rest are faults.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row in the caller's workspace.
    #[error("not found")]
    NotFound,
    /// The change breaks a uniqueness or state rule; the message says which.
    #[error("{0}")]
    Conflict(String),
    /// A database fault.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Stored data that cannot be read back (a line item chunk); the message says what.
    #[error("{0}")]
    Corrupt(String),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// The migrations under `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Handles to the database.
#[derive(Clone, Debug)]
pub struct Store {
    app: PgPool,
    system: PgPool,
}

/// A transaction confined to one workspace: RLS is set to it and every query filters by it.
pub struct Scoped {
    tx: Transaction<'static, Postgres>,
    workspace_id: WorkspaceId,
}

impl Store {
    /// Connects both pools (lazily: the first query opens connections).
    pub fn connect(options: PgConnectOptions, max_connections: u32) -> Self {
        let app = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query("SET ROLE costline_app").execute(conn).await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options.clone());
        let system = PgPoolOptions::new()
            .max_connections(max_connections.div_ceil(2).max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options);
        Self { app, system }
    }

    /// Applies pending migrations (as the table owner).
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.system).await?;
        Ok(())
    }

    /// Whether the database answers and every embedded migration is applied.
    pub async fn is_ready(&self) -> bool {
        let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Result<Option<i64>, _> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.system)
                .await;
        matches!(applied, Ok(Some(v)) if v >= latest)
    }

    /// Opens a transaction confined to `workspace_id`.
    pub async fn scoped(&self, workspace_id: WorkspaceId) -> StoreResult<Scoped> {
        let mut tx = self.app.begin().await?;
        sqlx::query("SELECT set_config('costline.workspace_id', $1, true)")
            .bind(workspace_id.to_string())
            .execute(&mut *tx)
            .await?;
        Ok(Scoped { tx, workspace_id })
    }

    /// The owner pool, for cross-tenant paths only (authentication, queue, schedules).
    pub fn system(&self) -> &PgPool {
        &self.system
    }

    /// Closes both pools.
    pub async fn close(&self) {
        self.app.close().await;
        self.system.close().await;
    }
}

impl Scoped {
    /// The workspace this transaction is confined to.
    pub fn workspace_id(&self) -> WorkspaceId {
        self.workspace_id
    }

    /// The underlying transaction, for store modules.
    pub fn tx(&mut self) -> &mut sqlx::PgConnection {
        &mut self.tx
    }

    /// Commits the transaction.
    pub async fn commit(self) -> StoreResult<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// Maps a unique-constraint violation to `Conflict(message)`, other errors unchanged.
pub(crate) fn conflict_on_unique(message: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(message.to_string())
        }
        _ => StoreError::Database(e),
    }
}
