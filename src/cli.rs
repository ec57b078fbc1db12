//! Command line and environment: one typed configuration, validated at start.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Costline: cloud cost numbers you can trust, from your AWS organization's billing data.
///
/// Without DATABASE_URL, Costline starts (or reuses) a private PostgreSQL under COSTLINE_DATA_DIR
/// from this machine's PostgreSQL binaries, and stops it when it exits.
#[derive(Debug, Parser)]
#[command(name = "costline", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// PostgreSQL to use, e.g. postgres://user:pass@host:5432/costline. Unset: a private cluster under COSTLINE_DATA_DIR.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<SecretUrl>,

    /// How requests and jobs log in (role costline_app). Unset: DATABASE_URL's server, database and password as costline_app.
    #[arg(
        long,
        env = "COSTLINE_APP_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub app_database_url: Option<SecretUrl>,

    /// How the cross-tenant paths log in (role costline_system). Unset: DATABASE_URL's server, database and password as costline_system.
    #[arg(
        long,
        env = "COSTLINE_SYSTEM_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub system_database_url: Option<SecretUrl>,

    /// Where the private PostgreSQL cluster and local state live.
    #[arg(
        long,
        env = "COSTLINE_DATA_DIR",
        default_value = "./.costline",
        global = true
    )]
    pub data_dir: PathBuf,

    /// HTTP listen address of `serve`.
    #[arg(
        long,
        env = "COSTLINE_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: String,

    /// HTTP listen address of `worker` for /healthz, /readyz and /metrics (Prometheus). Unset: the worker listens nowhere.
    #[arg(long, env = "COSTLINE_WORKER_LISTEN", global = true)]
    pub worker_listen: Option<String>,

    /// The address users reach Costline at (links, cookies); https enables Secure cookies.
    #[arg(long, env = "COSTLINE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Send every AWS call (STS, Organizations, S3 path-style, CloudFormation) here, e.g. an AWS emulator.
    #[arg(long, env = "COSTLINE_AWS_ENDPOINT_URL", global = true)]
    pub aws_endpoint_url: Option<String>,

    /// Send AWS Price List Query API calls (pricing:GetProducts) here instead (emulators have none).
    #[arg(long, env = "COSTLINE_AWS_PRICING_ENDPOINT_URL", global = true)]
    pub aws_pricing_endpoint_url: Option<String>,

    /// The regions the resource inventory reads (comma-separated), of those enabled in each account. Unset: every enabled region.
    #[arg(
        long,
        env = "COSTLINE_INVENTORY_REGIONS",
        value_delimiter = ',',
        global = true
    )]
    pub inventory_regions: Option<Vec<String>>,

    /// The AWS account customers' roles trust. Unset: the caller identity of the platform's credentials.
    #[arg(long, env = "COSTLINE_PLATFORM_ACCOUNT_ID", global = true)]
    pub platform_account_id: Option<String>,

    /// The AWS partition of the platform account: aws, aws-cn or aws-us-gov. Customers' roles must be of the same partition. Unset: the partition of AWS_REGION (cn-* aws-cn, us-gov-* aws-us-gov, else aws).
    #[arg(long, env = "COSTLINE_AWS_PARTITION", global = true)]
    pub aws_partition: Option<costline_domain::AwsPartition>,

    /// The region of the platform's own AWS calls (STS); AWS_DEFAULT_REGION when unset. Unset both: the partition's integration region (us-east-1 in aws).
    #[arg(long, env = "AWS_REGION", global = true)]
    pub aws_region: Option<String>,

    /// Where the CloudFormation templates are published for quick-create links (an S3 URL in production). Default: <public URL>/templates.
    #[arg(long, env = "COSTLINE_TEMPLATE_BASE_URL", global = true)]
    pub template_base_url: Option<String>,

    /// The Terraform snippet's module source: a registry address, a git:: URL or an HTTP archive URL. Default: <public URL>/terraform/costline-aws-<version>.tar.gz, which Costline serves.
    #[arg(long, env = "COSTLINE_TERRAFORM_MODULE_SOURCE", global = true)]
    pub terraform_module_source: Option<String>,

    /// SMTP server for admin notifications: smtp://[user:pass@]host[:port][?tls=required] or smtps://... Unset: notices only in the console.
    #[arg(long, env = "COSTLINE_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<SecretUrl>,

    /// Sender of notification emails, e.g. 'Costline <costline@example.com>' (needed with COSTLINE_SMTP_URL).
    #[arg(long, env = "COSTLINE_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,

    /// Most Cost Explorer requests made per integration to read its 13 months of history before the first CUR (each costs the customer $0.01); 0 reads none.
    #[arg(
        long,
        env = "COSTLINE_COST_EXPLORER_MAX_REQUESTS",
        default_value_t = costline_workflows::DEFAULT_COST_EXPLORER_REQUEST_CAP,
        global = true
    )]
    pub cost_explorer_max_requests: u32,
    /// How people get a console account: verify (sign-up mails a confirmation link; needs COSTLINE_SMTP_URL), open (no email check: private servers without email) or closed (invitations only).
    #[arg(long, env = "COSTLINE_SIGNUP", default_value = "verify", global = true)]
    pub signup: costline_web::SignupMode,

    /// Proxies (addresses or CIDR blocks, comma-separated) whose X-Forwarded-For names the client, for rate limits and audit records. Unset: the header is ignored.
    #[arg(long, env = "COSTLINE_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,

    /// Key of the console's CSRF cookies (32 characters or more), the same on every instance behind one address. Unset: a random key per process, so a form only verifies on the instance that rendered it.
    #[arg(long, env = "COSTLINE_CSRF_KEY", global = true, hide_env_values = true)]
    pub csrf_key: Option<costline_web::CsrfSecret>,

    /// Serve /metrics on this address (host:port) instead of beside the application on COSTLINE_LISTEN.
    #[arg(long, env = "COSTLINE_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<String>,

    /// Seconds a request may take before it is answered 503.
    #[arg(
        long,
        env = "COSTLINE_REQUEST_TIMEOUT_SECS",
        default_value_t = 60,
        global = true
    )]
    pub request_timeout_secs: u64,

    /// Integrations (not revoked) one workspace may have.
    #[arg(
        long,
        env = "COSTLINE_MAX_INTEGRATIONS_PER_WORKSPACE",
        default_value_t = 50,
        global = true
    )]
    pub max_integrations_per_workspace: u32,

    /// Log format on stderr.
    #[arg(
        long,
        env = "COSTLINE_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Web console, JSON API and worker pool in one process (runs migrations first).
    Serve {
        #[command(flatten)]
        worker: costline_jobs::WorkerArgs,
    },
    /// Worker pool only: run several, on several machines, against one database.
    Worker {
        #[command(flatten)]
        worker: costline_jobs::WorkerArgs,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Developer tools that need no database (report generator).
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
    /// Administrative tasks that print one JSON line.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a workspace and its owner; prints {"workspace_id", "user_id", "token"} (an owner API token).
    CreateWorkspace {
        /// Workspace display name.
        #[arg(long)]
        name: String,
        /// Owner's email (an existing user is reused).
        #[arg(long)]
        owner_email: String,
    },
    /// Create a platform support user; prints {"user_id", "token"} (a support API token).
    CreateSupportUser {
        /// Support person's email.
        #[arg(long)]
        email: String,
    },
    /// Revoke a support user's support tokens (all of them, or the one with --prefix); console
    /// sessions signed in with them end at their next request. Prints {"revoked": [{"token_id", "prefix"}]}.
    RevokeSupportToken {
        /// The support user's email.
        #[arg(long)]
        email: String,
        /// Only the token whose visible start is this, e.g. cls_1a2b3c4d.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Print the platform's log of support actions, newest first, one JSON object a line; it
    /// keeps the records of deleted workspaces.
    SupportLog {
        /// Only this workspace's records.
        #[arg(long)]
        workspace_id: Option<costline_domain::WorkspaceId>,
        /// At most this many records.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Upload this build's CloudFormation templates to S3 under <prefix>/<version>/ with the
    /// platform's own AWS credentials; prints {"integration", "member_role", "template_base_url"}
    /// (set COSTLINE_TEMPLATE_BASE_URL to the last). Needs no database.
    PublishTemplates {
        /// The S3 bucket (it must exist; customers' CloudFormation must be able to read it).
        #[arg(long, value_parser = parse_bucket_name)]
        bucket: String,
        /// Key prefix above the version folder, e.g. costline/templates.
        #[arg(long, default_value = "", value_parser = parse_key_prefix)]
        prefix: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Write a synthetic Cost and Usage Report in the real S3 layout under --out (upload it with
    /// `aws s3 sync DIR s3://BUCKET/`); prints its independently computed totals as one JSON line.
    GenCur(GenCurArgs),
}

#[derive(Debug, clap::Args)]
pub struct GenCurArgs {
    /// Directory the bucket's keys are written under (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Report format.
    #[arg(long, value_enum, default_value = "legacy-csv")]
    pub format: GenCurFormat,
    /// Billing period, YYYY-MM.
    #[arg(long)]
    pub period: costline_domain::BillingPeriod,
    /// Number of line items.
    #[arg(long, default_value_t = 1000)]
    pub rows: usize,
    /// Seed: the same arguments write byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of data files the rows are split into.
    #[arg(long, default_value_t = 1)]
    pub files: usize,
    /// Number of usage accounts (the first is also the payer).
    #[arg(long, default_value_t = 5)]
    pub accounts: usize,
    /// Bucket named in the manifests (Data Exports list full s3:// URIs).
    #[arg(long, default_value = "costline-example-cur")]
    pub bucket: String,
    /// Report key prefix.
    #[arg(long, default_value = "cur")]
    pub prefix: String,
    /// Report (or export) name.
    #[arg(long, default_value = "costline")]
    pub report_name: String,
    /// Data Exports only: write the "create new export file" layout, as the execution that ran
    /// at this time (RFC 3339, e.g. 2024-05-18T20:16:37.306Z). Without it, "overwrite".
    #[arg(long)]
    pub executed_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Formats `costline dev gen-cur` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenCurFormat {
    /// Legacy CUR, CSV gzip, with a manifest per assembly.
    LegacyCsv,
    /// Legacy CUR, Parquet (Athena integration layout).
    LegacyParquet,
    /// CUR 2.0 Data Export, CSV gzip.
    Cur2,
    /// CUR 2.0 Data Export, Parquet.
    Cur2Parquet,
    /// FOCUS 1.0 Data Export, CSV gzip.
    Focus,
    /// FOCUS 1.0 Data Export, Parquet.
    FocusParquet,
}

impl GenCurFormat {
    pub fn generator_format(self) -> costline_cur::generate::GenFormat {
        use costline_cur::generate::GenFormat;
        match self {
            GenCurFormat::LegacyCsv => GenFormat::LegacyCsvGzip,
            GenCurFormat::LegacyParquet => GenFormat::LegacyParquet,
            GenCurFormat::Cur2 => GenFormat::Cur2CsvGzip,
            GenCurFormat::Cur2Parquet => GenFormat::Cur2Parquet,
            GenCurFormat::Focus => GenFormat::FocusCsvGzip,
            GenCurFormat::FocusParquet => GenFormat::FocusParquet,
        }
    }
}

/// `--bucket`: an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens, starting
/// and ending with a letter or digit).
fn parse_bucket_name(s: &str) -> Result<String, String> {
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok = (3..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && edge_ok(s.as_bytes().first())
        && edge_ok(s.as_bytes().last())
        && !s.contains("..");
    if ok {
        Ok(s.to_string())
    } else {
        Err("not an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit (the name only, without s3://)".into())
    }
}

/// `--prefix`: folders above the version folder; slashes around it are dropped.
fn parse_key_prefix(s: &str) -> Result<String, String> {
    let prefix = s.trim().trim_matches('/');
    let bad = prefix
        .split('/')
        .any(|segment| matches!(segment, "." | "..") || (segment.is_empty() && !prefix.is_empty()))
        || prefix.chars().any(char::is_control);
    if bad {
        Err(
            "not a key prefix: folder names separated by single slashes, e.g. costline/templates"
                .into(),
        )
    } else {
        Ok(prefix.to_string())
    }
}

/// A URL that may hold a password: shown without it in Debug output.
#[derive(Clone)]
pub struct SecretUrl(pub String);

impl std::str::FromStr for SecretUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretUrl(s.to_string()))
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretUrl(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Cli {
    /// The platform's partition and region: each defaults from the other (a region names its
    /// partition; a partition's default region is its integration region), and they must agree.
    fn aws_partition_and_region(
        &self,
    ) -> Result<(costline_domain::AwsPartition, String), ConfigError> {
        use costline_domain::AwsPartition;
        let region = self
            .aws_region
            .clone()
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        match (self.aws_partition, region) {
            (Some(partition), Some(region)) => {
                let of_region = AwsPartition::from_region(&region);
                if of_region != partition {
                    return Err(ConfigError(format!(
                        "COSTLINE_AWS_PARTITION={partition} but AWS_REGION={region:?} is a region of \
                         the {of_region} partition: set AWS_REGION to a region of {partition} \
                         (e.g. {}), or COSTLINE_AWS_PARTITION={of_region}",
                        partition.integration_region()
                    )));
                }
                Ok((partition, region))
            }
            (Some(partition), None) => Ok((partition, partition.integration_region().to_string())),
            (None, Some(region)) => Ok((AwsPartition::from_region(&region), region)),
            (None, None) => Ok((
                AwsPartition::Aws,
                AwsPartition::Aws.integration_region().to_string(),
            )),
        }
    }
}

/// Bad configuration: the message says what is wrong and how to fix it (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Its Debug output hides the password.
    pub database_url: Option<SecretUrl>,
    /// The application and system roles' own logins, when not derived from `database_url`.
    pub app_database_url: Option<SecretUrl>,
    pub system_database_url: Option<SecretUrl>,
    pub data_dir: PathBuf,
    pub listen: String,
    /// Where `worker` serves its health and metrics endpoints, if anywhere.
    pub worker_listen: Option<std::net::SocketAddr>,
    pub public_url: String,
    pub aws_endpoint_url: Option<String>,
    pub aws_pricing_endpoint_url: Option<String>,
    /// The regions the inventory reads; `None`: every enabled one.
    pub inventory_regions: Option<Vec<String>>,
    pub platform_account_id: Option<String>,
    /// The platform account's partition (configured, or that of `aws_region`).
    pub aws_partition: costline_domain::AwsPartition,
    /// The region the platform's AWS clients sign for (STS uses its regional endpoint there).
    pub aws_region: String,
    pub template_base_url: Option<String>,
    pub terraform_module_source: Option<String>,
    /// SMTP settings (the Debug output hides the URL's password).
    pub mail: costline_notify::MailerConfig,
    /// Cost Explorer requests per integration at most.
    pub cost_explorer_max_requests: u32,
    pub signup: costline_web::SignupMode,
    pub trusted_proxies: costline_web::TrustedProxies,
    /// Its Debug output hides the key.
    pub csrf_key: Option<costline_web::CsrfSecret>,
    /// Where `serve` serves /metrics, when not beside the application.
    pub metrics_listen: Option<std::net::SocketAddr>,
    pub request_timeout: std::time::Duration,
    pub max_integrations_per_workspace: u32,
}

impl Cli {
    /// Validates the configuration once, at start.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError(format!(
                "COSTLINE_LISTEN={:?} is not an address: use host:port, e.g. 127.0.0.1:8080",
                self.listen
            )));
        }
        let worker_listen = match &self.worker_listen {
            Some(addr) => Some(addr.parse::<std::net::SocketAddr>().map_err(|_| {
                ConfigError(format!(
                    "COSTLINE_WORKER_LISTEN={addr:?} is not an address: use host:port, e.g. 127.0.0.1:9090"
                ))
            })?),
            None => None,
        };
        let public_url = match &self.public_url {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                url.trim_end_matches('/').to_string()
            }
            Some(url) => {
                return Err(ConfigError(format!(
                    "COSTLINE_PUBLIC_URL={url:?} must start with http:// or https://"
                )))
            }
            None => format!("http://{}", self.listen),
        };
        if let Some(url) = &self.aws_pricing_endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError(format!(
                    "COSTLINE_AWS_PRICING_ENDPOINT_URL={url:?} must be a URL like http://127.0.0.1:5001"
                )));
            }
        }
        let inventory_regions = match &self.inventory_regions {
            None => None,
            Some(regions) => {
                let regions: Vec<String> = regions
                    .iter()
                    .map(|r| r.trim().to_string())
                    .filter(|r| !r.is_empty())
                    .collect();
                if let Some(bad) = regions.iter().find(|r| {
                    !r.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                }) {
                    return Err(ConfigError(format!(
                        "COSTLINE_INVENTORY_REGIONS names {bad:?}, which is not a region: give region codes like us-east-1,eu-west-1"
                    )));
                }
                (!regions.is_empty()).then_some(regions)
            }
        };
        if let Some(url) = &self.aws_endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError(format!(
                    "COSTLINE_AWS_ENDPOINT_URL={url:?} must be a URL like http://127.0.0.1:5000"
                )));
            }
        }
        if let Some(id) = &self.platform_account_id {
            if costline_domain::AccountId::parse(id).is_err() {
                return Err(ConfigError(format!(
                    "COSTLINE_PLATFORM_ACCOUNT_ID={id:?} must be a 12-digit AWS account id"
                )));
            }
        }
        let (aws_partition, aws_region) = self.aws_partition_and_region()?;
        let terraform_module_source = match self.terraform_module_source.as_deref().map(str::trim) {
            Some("") | None => None,
            Some(source) if source.contains(['"', '\n', '\r']) => {
                return Err(ConfigError(format!(
                    "COSTLINE_TERRAFORM_MODULE_SOURCE={source:?} is not a module source: use a registry address, a git:: URL or an https:// archive URL"
                )))
            }
            Some(source) => Some(source.to_string()),
        };
        let database_url = self.database_url.clone().filter(|u| !u.0.trim().is_empty());
        let present = |u: &Option<SecretUrl>| u.clone().filter(|u| !u.0.trim().is_empty());
        let app_database_url = present(&self.app_database_url);
        let system_database_url = present(&self.system_database_url);
        if database_url.is_none() && (app_database_url.is_some() || system_database_url.is_some()) {
            return Err(ConfigError(
                "COSTLINE_APP_DATABASE_URL and COSTLINE_SYSTEM_DATABASE_URL need DATABASE_URL (the costline_owner login): set it too, or unset them to use the private cluster".into(),
            ));
        }
        if app_database_url.is_some() != system_database_url.is_some() {
            return Err(ConfigError(
                "set both COSTLINE_APP_DATABASE_URL and COSTLINE_SYSTEM_DATABASE_URL, or neither (then both are derived from DATABASE_URL)".into(),
            ));
        }
        let mail = costline_notify::MailerConfig {
            smtp_url: self.smtp_url.as_ref().map(|u| u.0.clone()),
            mail_from: self.mail_from.clone(),
            console_url: Some(public_url.clone()),
        };
        // Checked here so that a bad SMTP setting stops every command at start (exit 2).
        costline_notify::Mailer::from_config(&mail).map_err(|e| ConfigError(e.0))?;
        let trusted_proxies = self
            .trusted_proxies
            .as_deref()
            .unwrap_or_default()
            .parse::<costline_web::TrustedProxies>()
            .map_err(|e| ConfigError(e.to_string()))?;
        let metrics_listen = match &self.metrics_listen {
            Some(addr) => Some(addr.parse::<std::net::SocketAddr>().map_err(|_| {
                ConfigError(format!(
                    "COSTLINE_METRICS_LISTEN={addr:?} is not an address: use host:port, e.g. 127.0.0.1:9090"
                ))
            })?),
            None => None,
        };
        if self.request_timeout_secs == 0 {
            return Err(ConfigError(
                "COSTLINE_REQUEST_TIMEOUT_SECS=0 would refuse every request: use a number of seconds, e.g. 60".into(),
            ));
        }
        Ok(Settings {
            database_url,
            app_database_url,
            system_database_url,
            data_dir: self.data_dir.clone(),
            listen: self.listen.clone(),
            worker_listen,
            public_url: public_url.clone(),
            aws_endpoint_url: self.aws_endpoint_url.clone(),
            aws_pricing_endpoint_url: self.aws_pricing_endpoint_url.clone(),
            inventory_regions,
            platform_account_id: self.platform_account_id.clone(),
            aws_partition,
            aws_region,
            template_base_url: self
                .template_base_url
                .clone()
                .map(|u| u.trim_end_matches('/').to_string()),
            terraform_module_source,
            mail,
            cost_explorer_max_requests: self.cost_explorer_max_requests,
            signup: self.signup,
            trusted_proxies,
            csrf_key: self.csrf_key.clone(),
            metrics_listen,
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs),
            max_integrations_per_workspace: self.max_integrations_per_workspace,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_never_print_the_database_password() {
        let cli = Cli::try_parse_from([
            "costline",
            "--database-url",
            "postgres://costline:hunter2@db.internal:5432/costline",
            "migrate",
        ])
        .unwrap();
        let settings = cli.settings().unwrap();
        let url = settings.database_url.as_ref().unwrap();
        assert!(url.0.contains("hunter2"), "the URL itself is kept");
        let shown = format!("{settings:?} {cli:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
