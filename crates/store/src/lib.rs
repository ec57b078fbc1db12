//! The store: every SQL statement of Costline outside `migrations/`.
//!
//! Three logins, none of which can bypass row-level security (docs/adr/0015-database-roles.md):
//! `Store::scoped` opens a transaction as `costline_app` with the workspace set for RLS, so
//! tenant data is filtered twice: by each query's `workspace_id = $1` and by the forced
//! policies. `Store::system` is the `costline_system` pool for the cross-tenant paths (the job
//! queue and schedules, token and login lookups, invitations by link, support search, console
//! sessions), which reaches only the tables those paths read. The owner, `costline_owner`, only
//! runs the migrations.

pub mod admin;
pub mod audit;
pub mod cost_explorer;
pub mod cost_sources;
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
pub mod signups;
pub mod support;
pub mod support_access;
pub mod tokens;
pub mod users;
pub mod workspace_deletion;
pub mod workspaces;

use costline_domain::WorkspaceId;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool, Postgres, Transaction};
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
    /// The question asks more than one request may (range, rows, time); the message says how
    /// to narrow it.
    #[error("{0}")]
    Limit(String),
    /// The change would pass a configured limit; the message names it and what to do.
    #[error("{0}")]
    LimitReached(String),
    /// A database fault.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Stored data that cannot be read back (a line item chunk); the message says what.
    #[error("{0}")]
    Corrupt(String),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database's roles are not set up as Costline needs; the message says how to fix it.
    #[error("{0}")]
    Roles(String),
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// The migrations under `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// The role that owns the schema and runs the migrations.
pub const OWNER_ROLE: &str = "costline_owner";
/// The role of every request and every job's tenant work.
pub const APP_ROLE: &str = "costline_app";
/// The role of the cross-tenant paths.
pub const SYSTEM_ROLE: &str = "costline_system";

/// The roles, their attributes and the grants a superuser makes (idempotent); run by
/// [`Store::migrate`] when the owner login is a superuser, and by a DBA otherwise (README).
pub static ROLES_SQL: &str = include_str!("../roles.sql");

/// How Costline logs in: the owner for migrations, the application and system roles for the
/// pools.
#[derive(Clone, Debug)]
pub struct DbLogins {
    /// `costline_owner`, or a superuser (who then creates the roles and migrates as the owner).
    pub owner: PgConnectOptions,
    /// `costline_app`.
    pub app: PgConnectOptions,
    /// `costline_system`.
    pub system: PgConnectOptions,
    /// Set when `app` and `system` were derived from `owner` and it has a password: a superuser
    /// owner login gives both roles that password (as a SCRAM verifier) before they log in.
    derived_password: Option<String>,
}

impl DbLogins {
    /// The application and system logins derived from one login: the same server, database and
    /// password, as `costline_app` and `costline_system`.
    pub fn derived(owner: PgConnectOptions, password: Option<String>) -> Self {
        Self {
            app: owner.clone().username(APP_ROLE),
            system: owner.clone().username(SYSTEM_ROLE),
            owner,
            derived_password: password.filter(|p| !p.is_empty()),
        }
    }

    /// Three separate logins (their passwords are the DBA's business).
    pub fn separate(
        owner: PgConnectOptions,
        app: PgConnectOptions,
        system: PgConnectOptions,
    ) -> Self {
        Self {
            owner,
            app,
            system,
            derived_password: None,
        }
    }
}

/// Handles to the database.
#[derive(Clone, Debug)]
pub struct Store {
    app: PgPool,
    system: PgPool,
    logins: DbLogins,
}

/// A transaction confined to one workspace: RLS is set to it and every query filters by it.
pub struct Scoped {
    tx: Transaction<'static, Postgres>,
    workspace_id: WorkspaceId,
}

impl Store {
    /// Connects both pools (lazily: the first query opens connections), logging in as the
    /// application and system roles derived from `options` (see [`DbLogins::derived`]).
    pub fn connect(options: PgConnectOptions, max_connections: u32) -> Self {
        Self::connect_with(DbLogins::derived(options, None), max_connections)
    }

    /// Connects both pools (lazily) with explicit logins.
    pub fn connect_with(logins: DbLogins, max_connections: u32) -> Self {
        let app = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(logins.app.clone());
        let system = PgPoolOptions::new()
            .max_connections(max_connections.div_ceil(2).max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(logins.system.clone());
        Self {
            app,
            system,
            logins,
        }
    }

    /// Applies pending migrations as `costline_owner`. When the owner login is a superuser it
    /// first creates or corrects the roles ([`ROLES_SQL`]), gives derived logins their password,
    /// and migrates under `SET ROLE costline_owner` (its session ends right after).
    pub async fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.logins.owner.connect().await?;
        let (user, superuser): (String, bool) = sqlx::query_as(
            "SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut conn)
        .await?;
        if superuser {
            // Several processes may start at once; CREATE ROLE is not idempotent under races.
            sqlx::query("SELECT pg_advisory_lock(hashtextextended('costline roles', 0))")
                .execute(&mut conn)
                .await?;
            let bootstrapped = self.bootstrap_roles(&mut conn).await;
            sqlx::query("SELECT pg_advisory_unlock(hashtextextended('costline roles', 0))")
                .execute(&mut conn)
                .await?;
            bootstrapped?;
            sqlx::query("SET ROLE costline_owner")
                .execute(&mut conn)
                .await?;
        } else if user != OWNER_ROLE {
            return Err(StoreError::Roles(format!(
                "DATABASE_URL logs in as {user}, which is neither costline_owner nor a superuser: run crates/store/roles.sql as a superuser and log in as costline_owner (README, \"PostgreSQL roles\")"
            )));
        }
        MIGRATOR.run(&mut conn).await?;
        conn.close().await.ok();
        Ok(())
    }

    async fn bootstrap_roles(&self, conn: &mut sqlx::PgConnection) -> StoreResult<()> {
        sqlx::raw_sql(ROLES_SQL).execute(&mut *conn).await?;
        if let Some(password) = &self.logins.derived_password {
            // A verifier, not the password: statement logs never see it.
            let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
            for role in [APP_ROLE, SYSTEM_ROLE] {
                // DDL takes no parameters; the verifier is base64 and `$`, `:` only.
                sqlx::raw_sql(&format!("ALTER ROLE {role} PASSWORD '{verifier}'"))
                    .execute(&mut *conn)
                    .await?;
            }
        }
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

    /// The `costline_system` pool, for the cross-tenant paths only (authentication, queue,
    /// schedules, support search, sessions).
    pub fn system(&self) -> &PgPool {
        &self.system
    }

    /// The application pool, for statements outside any workspace (the definer functions that
    /// need none).
    pub(crate) fn app(&self) -> &PgPool {
        &self.app
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

    /// Rolls the transaction back.
    pub async fn rollback(self) -> StoreResult<()> {
        self.tx.rollback().await?;
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
