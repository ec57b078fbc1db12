//! A private PostgreSQL cluster, started from the machine's PostgreSQL binaries.
//!
//! Costline runs on a real PostgreSQL without any set-up: when no `DATABASE_URL` is given, the
//! binary initialises a cluster under its data directory, serves it on a unix socket inside that
//! directory only (no TCP), and stops it when the process ends. Tests use the same code for their
//! ephemeral clusters.
//!
//! The postmaster is our child process (not a `pg_ctl` daemon) and is told by the kernel to shut
//! down if we die (`PR_SET_PDEATHSIG`), so even a SIGKILLed Costline leaves no orphan behind.

mod binaries;
mod cluster;

pub use binaries::{find_binaries, PgBinaries};
pub use cluster::{ClusterOptions, LocalCluster};

use std::path::PathBuf;

/// Everything that can go wrong while finding, starting or stopping the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No PostgreSQL server binaries on this machine.
    #[error(
        "PostgreSQL server binaries (initdb, postgres) not found in PATH or /usr/lib/postgresql/*/bin: \
         install them (Debian/Ubuntu: `sudo apt-get install postgresql`, or run `make run`, which does) \
         or set DATABASE_URL to an existing PostgreSQL"
    )]
    BinariesNotFound,
    /// Running as root, but there is no `postgres` user to run the server as.
    #[error("running as root, and PostgreSQL refuses to run as root: create a `postgres` system user (the Debian `postgresql` package does) or run Costline as a normal user")]
    NoPostgresUser,
    /// A filesystem step failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The unix socket path would exceed the kernel's limit.
    #[error("the socket path {0} is longer than the 107 bytes unix sockets allow: choose a shorter COSTLINE_DATA_DIR")]
    SocketPathTooLong(PathBuf),
    /// initdb failed.
    #[error("initdb failed ({status}): {output}")]
    Initdb {
        /// Exit status.
        status: String,
        /// Its stdout and stderr.
        output: String,
    },
    /// The server did not come up.
    #[error("PostgreSQL did not start within {seconds}s; last lines of {log}:\n{tail}")]
    StartTimeout {
        /// How long we waited.
        seconds: u64,
        /// The server log file.
        log: PathBuf,
        /// The end of the log.
        tail: String,
    },
    /// The server exited while starting.
    #[error("PostgreSQL exited while starting ({status}); last lines of {log}:\n{tail}")]
    Exited {
        /// Exit status.
        status: String,
        /// The server log file.
        log: PathBuf,
        /// The end of the log.
        tail: String,
    },
    /// Creating the application database failed.
    #[error("could not create database {database}: {source}")]
    CreateDatabase {
        /// The database name.
        database: String,
        /// The driver error.
        source: sqlx::Error,
    },
}

pub(crate) fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> ClusterError {
    let path = path.into();
    move |source| ClusterError::Io {
        action,
        path,
        source,
    }
}
