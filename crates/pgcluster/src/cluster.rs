//! Start (or reuse) and stop one cluster.

use crate::{find_binaries, io_err, ClusterError};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{Pid, User};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The superuser role created by initdb, and the owner of the application database.
const SUPERUSER: &str = "costline";

/// How to run the cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Root of everything the cluster writes: `pgdata/`, `run/` (socket) and `postgres.log`.
    pub data_dir: PathBuf,
    /// The database to create (if missing) for the application.
    pub database: String,
    /// Trade durability for speed (fsync off): only for throw-away test clusters.
    pub ephemeral: bool,
    /// How long to wait for the server to accept connections.
    pub start_timeout: Duration,
}

impl ClusterOptions {
    /// Durable defaults for the application's own cluster under `data_dir`.
    pub fn durable(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            database: "costline".into(),
            ephemeral: false,
            start_timeout: Duration::from_secs(60),
        }
    }
}

/// A running cluster: started by us (and stopped by us), or found running and reused.
pub struct LocalCluster {
    options: ClusterOptions,
    socket_dir: PathBuf,
    server: Option<ServerProcess>,
}

struct ServerProcess {
    pid: Pid,
    exit: Arc<Mutex<Option<ExitStatus>>>,
}

impl LocalCluster {
    /// Starts the cluster under `options.data_dir`, initialising it on first use, or reuses the
    /// server already running there. Creates the application database if it is missing.
    pub async fn start_or_reuse(options: ClusterOptions) -> Result<Self, ClusterError> {
        let data_dir = absolute(&options.data_dir)?;
        let options = ClusterOptions {
            data_dir,
            ..options
        };
        let pgdata = options.data_dir.join("pgdata");
        let socket_dir = options.data_dir.join("run");
        if socket_dir.join(".s.PGSQL.5432").as_os_str().len() > 107 {
            return Err(ClusterError::SocketPathTooLong(socket_dir));
        }
        let mut cluster = Self {
            options,
            socket_dir,
            server: None,
        };
        if cluster.running_server_answers(&pgdata).await {
            tracing::info!(data_dir = %cluster.options.data_dir.display(), "reusing the PostgreSQL already running there");
        } else {
            let run_as = postgres_user_if_root()?;
            cluster.prepare_dirs(&pgdata, run_as.as_ref())?;
            if !pgdata.join("PG_VERSION").exists() {
                cluster.initdb(&pgdata, run_as.as_ref())?;
            }
            cluster.spawn_server(&pgdata, run_as.as_ref())?;
            cluster.wait_until_ready().await?;
            tracing::info!(data_dir = %cluster.options.data_dir.display(), "started private PostgreSQL");
        }
        cluster.ensure_database().await?;
        Ok(cluster)
    }

    /// Connection options for the application database, over the private socket.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.connect_options_for(&self.options.database)
    }

    /// Connection options for any database of this cluster, as the superuser.
    pub fn connect_options_for(&self, database: &str) -> PgConnectOptions {
        self.connect_options_as(database, SUPERUSER)
    }

    /// Connection options for any database of this cluster, as `role` (the private socket
    /// trusts every role of the cluster: only this machine's user can reach it).
    pub fn connect_options_as(&self, database: &str, role: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .username(role)
            .database(database)
    }

    /// A URL for humans and for tools like psql.
    pub fn url(&self) -> String {
        format!(
            "postgres://{SUPERUSER}@localhost/{}?host={}",
            self.options.database,
            self.socket_dir.display()
        )
    }

    /// Whether this process started the server (and so stops it).
    pub fn started_here(&self) -> bool {
        self.server.is_some()
    }

    /// Stops the server if this process started it (fast shutdown: open sessions are ended).
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            tokio::task::spawn_blocking(move || server.stop())
                .await
                .ok();
        }
    }

    async fn running_server_answers(&self, pgdata: &Path) -> bool {
        let Ok(pid_file) = std::fs::read_to_string(pgdata.join("postmaster.pid")) else {
            return false;
        };
        let Some(pid) = pid_file
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<i32>().ok())
        else {
            return false;
        };
        let alive = match kill(Pid::from_raw(pid), None) {
            Ok(()) => true,
            Err(nix::errno::Errno::EPERM) => true,
            Err(_) => false,
        };
        alive && self.try_connect("postgres").await.is_ok()
    }

    fn prepare_dirs(&self, pgdata: &Path, run_as: Option<&User>) -> Result<(), ClusterError> {
        let root = &self.options.data_dir;
        std::fs::create_dir_all(root).map_err(io_err("create", root))?;
        for dir in [pgdata, self.socket_dir.as_path()] {
            std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io_err("chmod", dir))?;
        }
        if let Some(user) = run_as {
            // The server runs as `postgres`: it must reach its directories through ours.
            let mode = std::fs::metadata(root)
                .map_err(io_err("stat", root))?
                .permissions()
                .mode();
            std::fs::set_permissions(root, std::fs::Permissions::from_mode(mode | 0o711))
                .map_err(io_err("chmod", root))?;
            for dir in [pgdata, self.socket_dir.as_path()] {
                chown_recursive(dir, user)?;
            }
        }
        Ok(())
    }

    fn initdb(&self, pgdata: &Path, run_as: Option<&User>) -> Result<(), ClusterError> {
        let bins = find_binaries()?;
        let mut cmd = Command::new(&bins.initdb);
        cmd.arg("-D")
            .arg(pgdata)
            .args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
            ])
            .stdin(Stdio::null());
        if self.options.ephemeral {
            cmd.arg("--no-sync");
        }
        if let Some(user) = run_as {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        let out = cmd.output().map_err(io_err("run", &bins.initdb))?;
        if !out.status.success() {
            return Err(ClusterError::Initdb {
                status: out.status.to_string(),
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        Ok(())
    }

    fn spawn_server(&mut self, pgdata: &Path, run_as: Option<&User>) -> Result<(), ClusterError> {
        let bins = find_binaries()?;
        let log_path = self.log_path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_err("open", &log_path))?;
        let log2 = log.try_clone().map_err(io_err("open", &log_path))?;
        let mut cmd = Command::new(&bins.postgres);
        cmd.arg("-D")
            .arg(pgdata)
            .arg("-k")
            .arg(&self.socket_dir)
            .args([
                "-c",
                "listen_addresses=",
                "-c",
                "unix_socket_permissions=0700",
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            // Our own process group: a Ctrl-C in the terminal reaches Costline only, which then
            // shuts the server down after its own graceful shutdown.
            .process_group(0);
        if self.options.ephemeral {
            cmd.args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ]);
        }
        if let Some(user) = run_as {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                // If Costline dies, even by SIGKILL, the kernel asks the server to shut down.
                nix::sys::prctl::set_pdeathsig(Signal::SIGINT).map_err(std::io::Error::from)
            });
        }
        self.server = Some(ServerProcess::spawn(cmd, &bins.postgres)?);
        Ok(())
    }

    async fn wait_until_ready(&mut self) -> Result<(), ClusterError> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.server.as_ref().and_then(|s| *s.exit.lock().unwrap()) {
                self.server = None;
                return Err(ClusterError::Exited {
                    status: status.to_string(),
                    log: self.log_path(),
                    tail: self.log_tail(),
                });
            }
            if self.try_connect("postgres").await.is_ok() {
                return Ok(());
            }
            if started.elapsed() > self.options.start_timeout {
                return Err(ClusterError::StartTimeout {
                    seconds: self.options.start_timeout.as_secs(),
                    log: self.log_path(),
                    tail: self.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn ensure_database(&self) -> Result<(), ClusterError> {
        let database = self.options.database.clone();
        let err = |source| ClusterError::CreateDatabase {
            database: database.clone(),
            source,
        };
        let mut conn = self.try_connect("postgres").await.map_err(err)?;
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(&database)
                .fetch_optional(&mut conn)
                .await
                .map_err(err)?;
        if exists.is_none() {
            let quoted = format!("\"{}\"", database.replace('"', "\"\""));
            sqlx::raw_sql(&format!("CREATE DATABASE {quoted}"))
                .execute(&mut conn)
                .await
                .map_err(err)?;
        }
        conn.close().await.ok();
        Ok(())
    }

    async fn try_connect(&self, database: &str) -> Result<sqlx::PgConnection, sqlx::Error> {
        self.connect_options_for(database)
            .log_statements(tracing::log::LevelFilter::Off)
            .connect()
            .await
    }

    fn log_path(&self) -> PathBuf {
        self.options.data_dir.join("postgres.log")
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }
}

impl ServerProcess {
    /// Spawns the server from a thread that lives as long as the server: the parent-death signal
    /// follows the spawning thread, so it must not be a pool thread that may exit early.
    fn spawn(mut cmd: Command, program: &Path) -> Result<Self, ClusterError> {
        let exit = Arc::new(Mutex::new(None));
        let (tx, rx) = std::sync::mpsc::channel();
        let exit_slot = exit.clone();
        std::thread::Builder::new()
            .name("postgres-supervisor".into())
            .spawn(move || match cmd.spawn() {
                Ok(mut child) => {
                    tx.send(Ok(child.id())).ok();
                    if let Ok(status) = child.wait() {
                        *exit_slot.lock().unwrap() = Some(status);
                    }
                }
                Err(e) => {
                    tx.send(Err(e)).ok();
                }
            })
            .map_err(io_err("spawn a thread for", program))?;
        let pid = rx
            .recv()
            .map_err(|_| std::io::Error::other("supervisor thread ended"))
            .and_then(|r| r)
            .map_err(io_err("run", program))?;
        Ok(Self {
            pid: Pid::from_raw(pid as i32),
            exit,
        })
    }

    /// Fast shutdown, then wait up to 30 s for the server to exit.
    fn stop(self) {
        if self.exit.lock().unwrap().is_some() {
            return;
        }
        kill(self.pid, Signal::SIGINT).ok();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.exit.lock().unwrap().is_some() {
                tracing::info!("private PostgreSQL stopped");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::warn!("private PostgreSQL did not stop in 30s: sending SIGQUIT");
        kill(self.pid, Signal::SIGQUIT).ok();
    }
}

fn postgres_user_if_root() -> Result<Option<User>, ClusterError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match User::from_name("postgres") {
        Ok(Some(user)) => Ok(Some(user)),
        _ => Err(ClusterError::NoPostgresUser),
    }
}

fn chown_recursive(path: &Path, user: &User) -> Result<(), ClusterError> {
    nix::unistd::chown(path, Some(user.uid), Some(user.gid))
        .map_err(|e| io_err("chown", path)(e.into()))?;
    if path.is_dir() {
        for entry in std::fs::read_dir(path).map_err(io_err("read", path))? {
            let entry = entry.map_err(io_err("read", path))?;
            chown_recursive(&entry.path(), user)?;
        }
    }
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf, ClusterError> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(io_err("read the current directory for", path))?;
    Ok(cwd.join(path))
}
