//! The `costline` binary: parses the command line, builds the configuration, wires the crates.

mod cli;
mod database;

use anyhow::Context;
use clap::Parser;
use cli::{AdminCommand, Cli, Command, DevCommand, LogFormat};
use costline_store::Store;
use costline_web::WebConfig;
use std::process::ExitCode;
use std::time::Duration;

/// Exit code for bad usage or configuration (the message on stderr says how to fix it).
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    fix_malloc_mmap_threshold();
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(config_error) = e.downcast_ref::<cli::ConfigError>() {
                eprintln!("error: {config_error}");
                return ExitCode::from(EXIT_CONFIG);
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Blocks of 8 MiB and more are mapped, and unmapped when freed, for the whole life of the
/// process. glibc's default raises its threshold to the size of each mapped block that is
/// freed, so after one ingest even the largest blocks (such as a rollup builder's hash table,
/// which grows by doubling) came from the heap, which keeps what it is given: a worker's peak
/// RSS went 120, 193, 215, 216 MB over four ingests of a 2M-row month. With 8 MiB it stays at
/// 122-134 MB, at the same speed; the 4 MiB line-item chunk buffers stay below the line and are
/// reused from the heap (a 128 KiB threshold mapped them every time: 10-20% slower). ADR 0011.
fn fix_malloc_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it runs before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 8 << 20);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Developer tools need neither configuration nor a database.
    if let Command::Dev { command } = &cli.command {
        return dev(command);
    }
    let settings = cli.settings()?;
    // Publishing the templates needs AWS only.
    if let Command::Admin {
        command: AdminCommand::PublishTemplates { bucket, prefix },
    } = &cli.command
    {
        return publish_templates(&settings, bucket, prefix).await;
    }
    let database = database::open(&settings).await?;
    let result = run_command(&cli.command, &settings, &database.store).await;
    database.close().await;
    result
}

async fn run_command(
    command: &Command,
    settings: &cli::Settings,
    store: &Store,
) -> anyhow::Result<()> {
    match command {
        Command::Migrate => {
            store.migrate().await.context("apply migrations")?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve { worker } => {
            store.migrate().await.context("apply migrations")?;
            let pool = worker_pool(settings, worker, store.clone())?;
            serve(settings, store.clone(), pool).await
        }
        Command::Worker { worker } => {
            store.migrate().await.context("apply migrations")?;
            let pool = worker_pool(settings, worker, store.clone())?;
            run_workers(settings, store, pool).await
        }
        Command::Admin { command } => {
            store.migrate().await.context("apply migrations")?;
            admin(command, store).await
        }
        Command::Dev { command } => dev(command),
    }
}

async fn serve(settings: &cli::Settings, store: Store, pool: Workers) -> anyhow::Result<()> {
    costline_web::install_metrics_recorder();
    let platform_account_id = match &settings.platform_account_id {
        Some(id) => Some(id.clone()),
        None => platform_account_from_credentials(&pool.gateway).await,
    };
    let mailer =
        costline_notify::Mailer::from_config(&settings.mail).map_err(|e| cli::ConfigError(e.0))?;
    match (settings.signup, &mailer) {
        (costline_web::SignupMode::Verify, None) => tracing::warn!(
            "COSTLINE_SMTP_URL unset: sign-up cannot confirm addresses and is off; set it, or COSTLINE_SIGNUP=open on a private server"
        ),
        (costline_web::SignupMode::Open, _) => tracing::warn!(
            "COSTLINE_SIGNUP=open: sign-up trusts the address typed, without a confirmation email"
        ),
        _ => {}
    }
    let config = WebConfig {
        platform_account_id,
        aws_partition: settings.aws_partition,
        template_base_url: settings.template_base_url.clone(),
        terraform_module_source: settings.terraform_module_source.clone(),
        signup: settings.signup,
        mailer,
        trusted_proxies: settings.trusted_proxies.clone(),
        csrf_secret: settings.csrf_key.clone(),
        serve_metrics: settings.metrics_listen.is_none(),
        request_timeout: settings.request_timeout,
        max_integrations_per_workspace: settings.max_integrations_per_workspace,
        ..WebConfig::new(settings.public_url.clone())
    };
    let router =
        costline_app::web_router(store.clone(), Some(pool.gateway.clone()), config).await?;
    let metrics = match settings.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                cli::ConfigError(format!(
                    "cannot listen on {addr}: {e}; set COSTLINE_METRICS_LISTEN to a free address such as 127.0.0.1:9090"
                ))
            })?;
            tracing::info!(url = %format!("http://{}/metrics", listener.local_addr()?), "metrics are served on their own address");
            Some(tokio::spawn(costline_web::serve(
                listener,
                costline_web::operations_router(store.clone()),
                shutdown_signal(),
                Duration::from_secs(5),
            )))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .map_err(|e| cli::ConfigError(format!(
            "cannot listen on {}: {e}; set COSTLINE_LISTEN to a free address such as 127.0.0.1:8081",
            settings.listen
        )))?;
    tracing::info!(url = %format!("http://{}", listener.local_addr()?), "Costline is serving");
    let background = costline_app::start_background(&store, pool.gateway, pool.pool);
    costline_web::serve(listener, router, shutdown_signal(), Duration::from_secs(20)).await?;
    background.stop().await;
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    tracing::info!("Costline stopped");
    Ok(())
}

async fn run_workers(settings: &cli::Settings, store: &Store, pool: Workers) -> anyhow::Result<()> {
    costline_web::install_metrics_recorder();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Health and metrics of this worker process, when asked for (several workers per host each
    // need their own port, so there is no default).
    let operations = match settings.worker_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                cli::ConfigError(format!(
                    "cannot listen on {addr}: {e}; set COSTLINE_WORKER_LISTEN to a free address such as 127.0.0.1:9090"
                ))
            })?;
            tracing::info!(url = %format!("http://{}/metrics", listener.local_addr()?), "worker metrics are served");
            let mut stopped = stop_rx.clone();
            let router = costline_web::operations_router(store.clone());
            Some(tokio::spawn(costline_web::serve(
                listener,
                router,
                async move {
                    stopped.changed().await.ok();
                },
                Duration::from_secs(5),
            )))
        }
        None => None,
    };
    let background = costline_app::start_background(store, pool.gateway, pool.pool);
    shutdown_signal().await;
    stop_tx.send(true).ok();
    background.stop().await;
    if let Some(operations) = operations {
        operations.await.ok();
    }
    Ok(())
}

/// The worker pool with every job handler, and the AWS gateway it uses.
struct Workers {
    pool: costline_jobs::WorkerPool,
    gateway: costline_aws::AwsGateway,
}

fn worker_pool(
    settings: &cli::Settings,
    args: &costline_jobs::WorkerArgs,
    store: Store,
) -> anyhow::Result<Workers> {
    let config = args
        .pool_config()
        .map_err(|e| cli::ConfigError(e.to_string()))?;
    let schedules = args
        .schedule_intervals()
        .map_err(|e| cli::ConfigError(e.to_string()))?;
    let gateway = platform_gateway(settings);
    let mailer =
        costline_notify::Mailer::from_config(&settings.mail).map_err(|e| cli::ConfigError(e.0))?;
    match &mailer {
        Some(m) => tracing::info!(
            smtp = m.endpoint(),
            "notices are emailed to workspace admins"
        ),
        None => tracing::info!("COSTLINE_SMTP_URL unset: notices are shown in the console only"),
    }
    let pool = costline_app::worker_pool(
        store,
        gateway.clone(),
        config,
        costline_workflows::WorkflowSettings {
            schedules,
            mailer,
            cost_explorer_request_cap: settings.cost_explorer_max_requests,
            inventory_regions: settings.inventory_regions.clone(),
            ..Default::default()
        },
    )
    .map_err(|e| cli::ConfigError(e.to_string()))?;
    Ok(Workers { pool, gateway })
}

/// The AWS gateway of this process: the platform's own credentials (standard chain), the
/// configured region, and `COSTLINE_AWS_ENDPOINT_URL` if set.
fn platform_gateway(settings: &cli::Settings) -> costline_aws::AwsGateway {
    let mut config = costline_aws::GatewayConfig::from_default_chain(
        settings.aws_endpoint_url.clone(),
        Some(settings.aws_region.clone()),
    );
    config.pricing_endpoint_url = settings.aws_pricing_endpoint_url.clone();
    costline_aws::AwsGateway::new(config)
}

/// `costline admin publish-templates`: uploads this build's templates under
/// `<prefix>/<version>/` and prints their URLs, and the folder for COSTLINE_TEMPLATE_BASE_URL.
async fn publish_templates(
    settings: &cli::Settings,
    bucket: &str,
    prefix: &str,
) -> anyhow::Result<()> {
    let gateway = platform_gateway(settings);
    let mut line = serde_json::Map::new();
    let mut base_url = String::new();
    for (field, file_name) in [
        ("integration", "integration.yaml"),
        ("member_role", "member-role.yaml"),
    ] {
        let template =
            costline_onboarding::template(file_name).context("the build publishes the template")?;
        let key = costline_onboarding::published_template_key(prefix, template);
        let published = gateway
            .publish_object(
                bucket,
                &key,
                template.contents.as_bytes().to_vec(),
                template.media_type,
            )
            .await
            .with_context(|| format!("cannot publish s3://{bucket}/{key}"))?;
        tracing::info!(url = %published.url, region = %published.region, "template published");
        match gateway.is_publicly_readable(&published).await {
            Ok(true) => {}
            Ok(false) => eprintln!(
                "warning: {url} is not readable without credentials, and customers' AWS accounts \
                 must read it for the quick-create link to load: add a bucket policy that allows \
                 s3:GetObject on arn:aws:s3:::{bucket}/{folder}* to everyone (\"Principal\": \"*\"), \
                 and let the bucket's Block Public Access settings allow public bucket policies",
                url = published.url,
                folder = if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}/")
                },
            ),
            Err(e) => eprintln!(
                "warning: could not check that {} is readable without credentials: {e}",
                published.url
            ),
        }
        base_url = published
            .url
            .strip_suffix(&format!("/{file_name}"))
            .unwrap_or_default()
            .to_string();
        line.insert(field.into(), published.url.into());
    }
    line.insert("template_base_url".into(), base_url.into());
    line.insert(
        "version".into(),
        costline_onboarding::TEMPLATE_VERSION.into(),
    );
    println!("{}", serde_json::Value::Object(line));
    Ok(())
}

/// `COSTLINE_PLATFORM_ACCOUNT_ID` unset: ask STS who the platform's credentials are.
async fn platform_account_from_credentials(gateway: &costline_aws::AwsGateway) -> Option<String> {
    match tokio::time::timeout(Duration::from_secs(10), gateway.platform_account_id()).await {
        Ok(Ok(id)) => Some(id.to_string()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot tell the platform account from the AWS credentials; set COSTLINE_PLATFORM_ACCOUNT_ID");
            None
        }
        Err(_) => {
            tracing::warn!("STS did not answer within 10s; set COSTLINE_PLATFORM_ACCOUNT_ID");
            None
        }
    }
}

async fn admin(command: &AdminCommand, store: &Store) -> anyhow::Result<()> {
    let line = match command {
        AdminCommand::CreateWorkspace { name, owner_email } => {
            let email = costline_domain::normalize_email(owner_email).ok_or_else(|| {
                cli::ConfigError(format!("--owner-email {owner_email:?} is not an email address: pass one like ana@example.com"))
            })?;
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                return Err(cli::ConfigError("--name must have 1 to 100 characters".into()).into());
            }
            let created =
                costline_store::admin::create_workspace_with_token(store, name, &email).await?;
            serde_json::json!({
                "workspace_id": created.workspace_id.to_string(),
                "user_id": created.owner_id.to_string(),
                "token": created.token.plaintext,
            })
        }
        AdminCommand::CreateSupportUser { email } => {
            let email = costline_domain::normalize_email(email).ok_or_else(|| {
                cli::ConfigError(format!(
                    "--email {email:?} is not an email address: pass one like ana@example.com"
                ))
            })?;
            let (user_id, token) =
                costline_store::users::create_support_user(store, &email).await?;
            serde_json::json!({"user_id": user_id.to_string(), "token": token.plaintext})
        }
        AdminCommand::RevokeSupportToken { email, prefix } => {
            let revoked = costline_store::tokens::revoke_support_tokens(
                store,
                email.trim(),
                prefix.as_deref(),
            )
            .await;
            match revoked {
                Ok(revoked) => serde_json::json!({ "revoked": revoked }),
                Err(costline_store::StoreError::NotFound) => anyhow::bail!(
                    "{email} has no live support token{}: check the address (and the prefix, cls_...)",
                    prefix.as_deref().map(|p| format!(" starting {p}")).unwrap_or_default()
                ),
                Err(e) => return Err(e.into()),
            }
        }
        AdminCommand::SupportLog {
            workspace_id,
            limit,
        } => {
            let entries = costline_store::audit::support_log(store, *workspace_id, *limit).await?;
            for entry in entries {
                println!("{}", serde_json::to_string(&entry)?);
            }
            return Ok(());
        }
        AdminCommand::PublishTemplates { .. } => {
            unreachable!("`run` publishes the templates before any database is opened")
        }
    };
    println!("{line}");
    Ok(())
}

fn dev(command: &DevCommand) -> anyhow::Result<()> {
    match command {
        DevCommand::GenCur(args) => gen_cur(args),
    }
}

/// `costline dev gen-cur`: writes a report under `--out` and prints its expected totals.
fn gen_cur(args: &cli::GenCurArgs) -> anyhow::Result<()> {
    use costline_cur::generate::{generate, GenerateOptions};
    for (name, value) in [
        ("--rows", args.rows),
        ("--files", args.files),
        ("--accounts", args.accounts),
    ] {
        if value == 0 {
            return Err(cli::ConfigError(format!("{name} must be at least 1")).into());
        }
    }
    if args.files > args.rows {
        return Err(cli::ConfigError(format!(
            "--files {} is more than --rows {}: every file needs a row",
            args.files, args.rows
        ))
        .into());
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("create the output directory {}", args.out.display()))?;
    let mut opts = GenerateOptions::new(
        args.seed,
        args.period,
        args.rows,
        args.format.generator_format(),
    );
    opts.files = args.files;
    opts.accounts = args.accounts;
    opts.bucket = args.bucket.clone();
    opts.prefix = args.prefix.trim_matches('/').to_string();
    opts.report_name = args.report_name.clone();
    if let Some(executed_at) = args.executed_at {
        if opts.format.is_legacy() {
            return Err(cli::ConfigError(
                "--executed-at is for Data Exports (cur2, cur2-parquet, focus, focus-parquet): legacy reports have no \"create new export file\" layout".into(),
            )
            .into());
        }
        opts.versioning = costline_cur::generate::ExportVersioning::CreateNew { executed_at };
    }
    let report = generate(&opts, &args.out)
        .with_context(|| format!("write the report under {}", args.out.display()))?;
    let e = &report.expected;
    let format = clap::ValueEnum::to_possible_value(&args.format)
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    let by_type: serde_json::Map<String, serde_json::Value> = e
        .by_line_item_type
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string().into()))
        .collect();
    let line = serde_json::json!({
        "format": format,
        "period": report.period.to_string(),
        "bucket": opts.bucket,
        "prefix": opts.prefix,
        "report_name": opts.report_name,
        "assembly_id": report.assembly_id,
        "manifest_keys": report.manifest_keys,
        "data_keys": report.data_keys,
        "rows": e.rows,
        "unblended": e.unblended.to_string(),
        "amortized": e.amortized.to_string(),
        "net_unblended": e.net_unblended.map(|d| d.to_string()),
        "net_amortized": e.net_amortized.map(|d| d.to_string()),
        "by_line_item_type": by_type,
    });
    println!("{line}");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let mut filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn,aws_config=warn"));
    // The SDK prints the access key id of the credentials in use at DEBUG: never log it.
    for directive in costline_aws::credential_safe_directives() {
        filter = filter.add_directive(directive.parse().expect("a valid log directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}
