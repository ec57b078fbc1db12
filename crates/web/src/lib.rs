//! Costline's HTTP layer: the JSON API under `/api/v1`, the server-rendered console, health and
//! metrics endpoints. Handlers parse input, call one function of the layer below, and render.

pub mod api;
mod assets;
pub mod auth;
pub mod client_ip;
pub mod console;
pub mod error;
pub mod extract;
mod integration_actions;
mod limits;
mod observability;
mod report_actions;
mod resource_actions;
mod security;
mod terraform_module;
pub mod views;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use costline_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub use client_ip::TrustedProxies;
pub use observability::{install_metrics_recorder, operations_router};
pub use security::{CsrfSecret, SignupMode};

/// Settings of the web layer, validated by the binary at start.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The address users reach Costline at (links in mail, template URLs).
    pub public_url: String,
    /// Whether cookies carry `Secure` and responses HSTS (when `public_url` is https).
    pub secure_cookies: bool,
    /// The AWS account customers' roles trust (configured, or the platform credentials' account).
    pub platform_account_id: Option<String>,
    /// The partition the platform account lives in: customers' roles must be of the same one
    /// (a role can only trust accounts of its own partition), and every ARN, console link and
    /// region shown to them is that partition's.
    pub aws_partition: costline_domain::AwsPartition,
    /// Where the CloudFormation templates are published (an S3 URL in production, since the
    /// AWS console's quick-create only loads templates from S3); default `<public_url>/templates`.
    pub template_base_url: Option<String>,
    /// The `source` of the Terraform snippet (a registry address, a `git::` URL, an HTTP archive
    /// URL); default: the archive this process serves,
    /// `<public_url>/terraform/costline-aws-<version>.tar.gz`.
    pub terraform_module_source: Option<String>,
    /// How people get a console account of their own (`COSTLINE_SIGNUP`).
    pub signup: SignupMode,
    /// Sends the sign-up confirmation emails; `None` when email is off (`COSTLINE_SMTP_URL`).
    pub mailer: Option<costline_notify::Mailer>,
    /// Proxies whose `X-Forwarded-For` names the client (`COSTLINE_TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
    /// The key of CSRF cookies, shared by every instance behind one address
    /// (`COSTLINE_CSRF_KEY`); `None`: a random key of this process.
    pub csrf_secret: Option<CsrfSecret>,
    /// Whether `/metrics` is served beside the application (`false` when
    /// `COSTLINE_METRICS_LISTEN` serves it on an address of its own).
    pub serve_metrics: bool,
    /// How long one request may take before it is answered 503 (`COSTLINE_REQUEST_TIMEOUT_SECS`).
    pub request_timeout: Duration,
    /// Integrations a workspace may have that are not revoked
    /// (`COSTLINE_MAX_INTEGRATIONS_PER_WORKSPACE`).
    pub max_integrations_per_workspace: u32,
}

/// The default of [`WebConfig::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The default of [`WebConfig::max_integrations_per_workspace`].
pub const DEFAULT_MAX_INTEGRATIONS_PER_WORKSPACE: u32 = 50;

impl WebConfig {
    /// The defaults for Costline reached at `public_url` (no AWS account known yet).
    pub fn new(public_url: impl Into<String>) -> Self {
        let public_url = public_url.into();
        Self {
            secure_cookies: public_url.starts_with("https://"),
            public_url,
            platform_account_id: None,
            aws_partition: costline_domain::AwsPartition::Aws,
            template_base_url: None,
            terraform_module_source: None,
            signup: SignupMode::Verify,
            mailer: None,
            trusted_proxies: TrustedProxies::default(),
            csrf_secret: None,
            serve_metrics: true,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_integrations_per_workspace: DEFAULT_MAX_INTEGRATIONS_PER_WORKSPACE,
        }
    }
}

impl WebConfig {
    /// The Terraform module source shown in snippets.
    pub fn terraform_module_source(&self) -> String {
        self.terraform_module_source.clone().unwrap_or_else(|| {
            format!(
                "{}/terraform/{}",
                self.public_url,
                costline_onboarding::terraform_archive_name()
            )
        })
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Web settings.
    pub config: Arc<WebConfig>,
    pub(crate) limits: Arc<limits::AttemptLimits>,
    pub(crate) csrf: axum_csrf::CsrfConfig,
    /// The AWS gateway, for the support console's bucket listings; `None` in tests without AWS.
    pub gateway: Option<costline_aws::AwsGateway>,
}

impl axum::extract::FromRef<AppState> for axum_csrf::CsrfConfig {
    fn from_ref(state: &AppState) -> Self {
        state.csrf.clone()
    }
}

impl AppState {
    /// State over a store and a configuration.
    pub fn new(store: Store, config: WebConfig) -> Self {
        let mut csrf = axum_csrf::CsrfConfig::default()
            .with_cookie_name("costline_csrf")
            .with_http_only(true)
            .with_secure(config.secure_cookies)
            .with_cookie_same_site(axum_csrf::SameSite::Strict);
        // Without a configured key the default is random, per process: forms then only verify
        // on the instance that rendered them.
        if let Some(secret) = &config.csrf_secret {
            csrf = csrf
                .with_key(Some(secret.cookie_key()))
                .with_salt(secret.form_salt());
        }
        Self {
            store,
            config: Arc::new(config),
            limits: Arc::new(limits::AttemptLimits::new()),
            csrf,
            gateway: None,
        }
    }

    /// The same state with an AWS gateway (the process's, shared with its workers).
    pub fn with_gateway(mut self, gateway: costline_aws::AwsGateway) -> Self {
        self.gateway = Some(gateway);
        self
    }
}

impl AppState {
    /// The platform account, or 503 when it could not be determined at start.
    pub fn platform_account_id(&self) -> Result<String, error::ApiError> {
        self.config.platform_account_id.clone().ok_or_else(|| {
            error::ApiError::Unavailable(
                "Costline does not know its own AWS account: set COSTLINE_PLATFORM_ACCOUNT_ID or give it AWS credentials".into(),
            )
        })
    }

    /// The platform's AWS partition.
    pub fn aws_partition(&self) -> costline_domain::AwsPartition {
        self.config.aws_partition
    }

    /// Base URL of the published CloudFormation templates.
    pub fn template_base_url(&self) -> String {
        self.config
            .template_base_url
            .clone()
            .unwrap_or_else(|| format!("{}/templates", self.config.public_url))
    }

    /// The Terraform module source shown in snippets.
    pub fn terraform_module_source(&self) -> String {
        self.config.terraform_module_source()
    }
}

/// Request bodies above this are refused with 413 (CUR files never pass through the API).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The whole application router.
pub async fn router(state: AppState) -> Result<Router, costline_store::StoreError> {
    install_metrics_recorder();
    let sessions = console::session_layer(&state).await?;
    let timeout = state.config.request_timeout;
    let headers = security::ResponseHeaders::new(&state.config);
    let app = Router::new()
        .merge(observability::routes(state.config.serve_metrics))
        .merge(terraform_module::routes())
        .merge(assets::routes())
        .nest("/api/v1", api::routes())
        .merge(console::routes().layer(sessions))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state);
    Ok(observability::apply(security::apply(app, headers, timeout)))
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains open requests for at
/// most `drain` before returning.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        stop_tx.send(true).ok();
    });
    let mut stop_rx2 = stop_rx.clone();
    tokio::select! {
        result = server => result,
        _ = async {
            stop_rx2.wait_for(|stopped| *stopped).await.ok();
            tokio::time::sleep(drain).await;
        } => {
            tracing::warn!(seconds = drain.as_secs(), "open requests did not finish in time; closing them");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(terraform_module_source: Option<&str>) -> WebConfig {
        WebConfig {
            terraform_module_source: terraform_module_source.map(str::to_owned),
            ..WebConfig::new("https://costline.example.com")
        }
    }

    #[test]
    fn the_module_source_defaults_to_the_served_archive() {
        assert_eq!(
            config(None).terraform_module_source(),
            format!(
                "https://costline.example.com/terraform/costline-aws-{}.tar.gz",
                costline_onboarding::TEMPLATE_VERSION
            )
        );
    }

    #[test]
    fn a_configured_module_source_is_used_as_given() {
        let source = "git::https://git.example.com/costline.git//terraform?ref=v1.0.0";
        assert_eq!(config(Some(source)).terraform_module_source(), source);
    }
}
