//! How the gateway reaches AWS: endpoint override, region and the platform's own credentials.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;

/// The region the gateway signs for when none is configured; AWS serves Cost and Usage Report
/// definitions and the Costline template from us-east-1.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Where the platform's own credentials come from.
#[derive(Debug, Clone)]
pub enum PlatformCredentials {
    /// The standard AWS chain: `AWS_*` environment, profile files, web identity, ECS, IMDS.
    DefaultChain,
    /// An explicit provider (static keys for an emulator, or anything the SDK offers).
    Provider(SharedCredentialsProvider),
}

/// Everything [`crate::AwsGateway::new`] needs, built once from the process configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Send every call (STS, Organizations, S3 path-style, CloudFormation) here instead of AWS
    /// (`COSTLINE_AWS_ENDPOINT_URL`), e.g. `http://127.0.0.1:5000` for moto.
    pub endpoint_url: Option<String>,
    /// The region clients sign for.
    pub region: String,
    /// The platform's own credentials, which assume the customers' roles.
    pub platform_credentials: PlatformCredentials,
    /// Whether verification proves that a role requires its external id (by trying AssumeRole
    /// with a random one and with none: both must be refused). On for AWS; off for an emulator
    /// (`endpoint_url` set), whose STS evaluates no trust policy and so assumes any role with
    /// any external id (moto does), which would fail every role.
    pub prove_external_id_required: bool,
    /// Send Price List Query API calls (pricing:GetProducts) here instead
    /// (`COSTLINE_AWS_PRICING_ENDPOINT_URL`): emulators have no Price List API, so tests point
    /// it at a server of recorded answers. Unset: `endpoint_url`, else AWS.
    pub pricing_endpoint_url: Option<String>,
}

impl GatewayConfig {
    /// Real AWS (or `endpoint_url`) with the standard credential chain; `region` defaults to
    /// [`DEFAULT_REGION`].
    pub fn from_default_chain(endpoint_url: Option<String>, region: Option<String>) -> Self {
        Self {
            prove_external_id_required: endpoint_url.is_none(),
            endpoint_url,
            region: region.unwrap_or_else(|| DEFAULT_REGION.to_string()),
            platform_credentials: PlatformCredentials::DefaultChain,
            pricing_endpoint_url: None,
        }
    }

    /// An AWS emulator at `endpoint_url` with moto's conventional static test credentials
    /// (`testing`/`testing`) in us-east-1, so tests never touch the process environment.
    pub fn for_emulator(endpoint_url: impl Into<String>) -> Self {
        let credentials = Credentials::new("testing", "testing", None, None, "costline-emulator");
        Self {
            endpoint_url: Some(endpoint_url.into()),
            region: DEFAULT_REGION.to_string(),
            platform_credentials: PlatformCredentials::Provider(SharedCredentialsProvider::new(
                credentials,
            )),
            prove_external_id_required: false,
            pricing_endpoint_url: None,
        }
    }

    /// Loads the SDK's shared configuration: one HTTP client (connection pool) for every
    /// client the gateway builds, retry and timeout defaults, and the platform credentials.
    pub(crate) async fn load_sdk_config(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()));
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let PlatformCredentials::Provider(provider) = &self.platform_credentials {
            loader = loader.credentials_provider(provider.clone());
        }
        loader.load().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_chain_defaults_to_us_east_1() {
        let c = GatewayConfig::from_default_chain(None, None);
        assert_eq!(c.region, "us-east-1");
        assert!(c.endpoint_url.is_none());
        let c = GatewayConfig::from_default_chain(None, Some("eu-west-1".into()));
        assert_eq!(c.region, "eu-west-1");
    }

    /// An HTTP client that records each request's URI and answers none.
    #[derive(Debug, Clone, Default)]
    struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl aws_smithy_runtime_api::client::http::HttpConnector for Recorder {
        fn call(
            &self,
            request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
        ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
            self.0.lock().unwrap().push(request.uri().to_string());
            aws_smithy_runtime_api::client::http::HttpConnectorFuture::ready(Err(
                aws_smithy_runtime_api::client::result::ConnectorError::other(
                    "recorded, not sent".into(),
                    None,
                ),
            ))
        }
    }

    impl aws_smithy_runtime_api::client::http::HttpClient for Recorder {
        fn http_connector(
            &self,
            _: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
            _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
            aws_smithy_runtime_api::client::http::SharedHttpConnector::new(self.clone())
        }
    }

    #[tokio::test]
    async fn sts_is_called_at_the_regional_endpoint_of_the_platforms_partition() {
        for (region, url) in [
            ("us-east-1", "https://sts.us-east-1.amazonaws.com/"),
            ("eu-west-1", "https://sts.eu-west-1.amazonaws.com/"),
            ("cn-north-1", "https://sts.cn-north-1.amazonaws.com.cn/"),
            (
                "cn-northwest-1",
                "https://sts.cn-northwest-1.amazonaws.com.cn/",
            ),
            ("us-gov-west-1", "https://sts.us-gov-west-1.amazonaws.com/"),
        ] {
            let mut config = GatewayConfig::for_emulator("http://unused");
            config.endpoint_url = None;
            config.region = region.to_string();
            let recorder = Recorder::default();
            // The platform's STS client is made from this configuration as is (gateway.rs).
            let sdk = config
                .load_sdk_config()
                .await
                .to_builder()
                .http_client(recorder.clone())
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .build();
            let sts = aws_sdk_sts::Client::new(&sdk);
            assert!(sts.get_caller_identity().send().await.is_err());
            assert_eq!(*recorder.0.lock().unwrap(), [url], "{region}");
        }
    }

    #[test]
    fn emulator_config_never_prints_its_secret() {
        let c = GatewayConfig::for_emulator("http://127.0.0.1:1");
        let shown = format!("{c:?}");
        assert!(shown.contains("127.0.0.1:1"));
        assert!(shown.contains("redacted"), "{shown}");
    }
}
