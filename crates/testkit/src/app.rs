//! The whole web application on a random port, against a fresh database.

use crate::{fresh_store, TestDb};
use costline_domain::AwsPartition;
use costline_web::WebConfig;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

/// The platform account of test apps: moto's default account, whose credentials the tests use.
pub const PLATFORM_ACCOUNT_ID: &str = "123456789012";

/// The customer account whose role the tests' connections name (`CostlineReadOnly` in it).
pub const CUSTOMER_ACCOUNT_ID: &str = "210987654321";

/// A connect body (`POST /api/v1/integrations/aws/{id}/connect`): the role `CostlineReadOnly` of
/// [`CUSTOMER_ACCOUNT_ID`] and the CUR report `report_name` under `s3://bucket/prefix/`.
pub fn cur_connection(bucket: &str, prefix: &str, report_name: &str) -> Value {
    serde_json::json!({
        "role_arn": format!("arn:aws:iam::{CUSTOMER_ACCOUNT_ID}:role/CostlineReadOnly"),
        "cur": {"bucket": bucket, "prefix": prefix, "report_name": report_name},
    })
}

/// A running app and a client for it.
pub struct TestApp {
    /// The database behind it.
    pub db: TestDb,
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`
    pub base_url: String,
    /// A plain client (no cookies).
    pub client: reqwest::Client,
    /// The worker pool running beside the web server ([`spawn_app_with_workers`] only).
    pub workers: Option<costline_jobs::WorkerPool>,
    /// The AWS gateway the workers use ([`spawn_app_with_workers`] only).
    pub gateway: Option<costline_aws::AwsGateway>,
    _stop: tokio::sync::oneshot::Sender<()>,
    /// The workers and the revocation listener, stopped when the app is dropped.
    _background: Option<costline_app::Background>,
}

/// A workspace created through the admin path, with an owner token.
pub struct TestWorkspace {
    /// Its id.
    pub workspace_id: String,
    /// The owner's user id.
    pub owner_id: String,
    /// An owner API token.
    pub token: String,
}

/// Starts the app on 127.0.0.1 on a free port, on a fresh database, without workers: jobs
/// stay queued.
pub async fn spawn_app() -> TestApp {
    spawn_web(fresh_store().await, None, |_| {}).await
}

/// [`spawn_app`] for a platform whose AWS account lives in `partition` (China, GovCloud).
pub async fn spawn_app_in_partition(partition: AwsPartition) -> TestApp {
    spawn_web(fresh_store().await, None, move |config| {
        config.aws_partition = partition;
    })
    .await
}

/// [`spawn_app`] with the web configuration changed by `configure` (which sees the defaults,
/// `public_url` included) before the app is built, as `costline serve` builds it from flags.
pub async fn spawn_app_with_config(configure: impl FnOnce(&mut WebConfig)) -> TestApp {
    spawn_web(fresh_store().await, None, configure).await
}

/// Starts the app as `costline serve` does: the web server and, beside it, a worker pool with
/// every job handler, whose AWS calls go to the emulator at `aws_endpoint_url` (see
/// [`crate::moto`]). The pool polls every 100 ms and retries after 1 s, so tests stay fast.
pub async fn spawn_app_with_workers(aws_endpoint_url: &str) -> TestApp {
    let gateway =
        costline_aws::AwsGateway::new(costline_aws::GatewayConfig::for_emulator(aws_endpoint_url));
    spawn_app_with_gateway(gateway).await
}

/// [`spawn_app_with_workers`] with a gateway of the test's making (e.g. one whose STS is an
/// in-process fake).
pub async fn spawn_app_with_gateway(gateway: costline_aws::AwsGateway) -> TestApp {
    spawn_app_with_settings(gateway, |_| {}).await
}

/// [`spawn_app_with_gateway`] with the workflow settings changed by `configure` (e.g. the
/// regions the inventory reads) after the test defaults are set.
pub async fn spawn_app_with_settings(
    gateway: costline_aws::AwsGateway,
    configure: impl FnOnce(&mut costline_workflows::WorkflowSettings),
) -> TestApp {
    let mut app = spawn_web(fresh_store().await, Some(gateway.clone()), |_| {}).await;
    let config = costline_jobs::PoolConfig {
        poll_interval: Duration::from_millis(100),
        backoff_base: Duration::from_secs(1),
        backoff_cap: Duration::from_secs(2),
        max_attempts: 3,
        heartbeat_interval: Duration::from_secs(2),
        lease: Duration::from_secs(10),
        shutdown_grace: Duration::from_secs(1),
        ..Default::default()
    };
    let mut workflows = costline_workflows::WorkflowSettings {
        // Production waits 10 minutes. Zero let a poll queued by an earlier step run
        // between a test's data files and its manifest and ingest the files as a
        // manifest-less delivery (a `content-` assembly id, seen in cur_ingest_e2e under
        // load). Uploads take well under this; the rule itself is unit-tested in
        // costline-workflows (poll_cur::tests).
        delivery_settle: Duration::from_secs(5),
        // Production reads every enabled region; moto enables all ~30, which would make every
        // connection's inventory hundreds of calls per account. Tests that read more say so.
        inventory_regions: Some(vec!["us-east-1".to_string()]),
        ..Default::default()
    };
    configure(&mut workflows);
    // The production wiring (`costline serve`), with a fast pool.
    let pool = costline_app::worker_pool(app.db.store.clone(), gateway.clone(), config, workflows)
        .expect("build the worker pool");
    app._background = Some(costline_app::start_background(
        &app.db.store,
        gateway.clone(),
        pool.clone(),
    ));
    app.workers = Some(pool);
    app.gateway = Some(gateway);
    app
}

async fn spawn_web(
    db: TestDb,
    gateway: Option<costline_aws::AwsGateway>,
    configure: impl FnOnce(&mut WebConfig),
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let base_url = format!("http://{addr}");
    let mut config = WebConfig {
        public_url: base_url.clone(),
        secure_cookies: false,
        platform_account_id: Some(PLATFORM_ACCOUNT_ID.into()),
        aws_partition: AwsPartition::Aws,
        template_base_url: None,
        terraform_module_source: None,
    };
    configure(&mut config);
    let router = costline_app::web_router(db.store.clone(), gateway, config)
        .await
        .expect("build router");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(costline_web::serve(
        listener,
        router,
        async move {
            stopped.await.ok();
        },
        Duration::from_secs(1),
    ));
    TestApp {
        db,
        addr,
        base_url,
        client: reqwest::Client::new(),
        workers: None,
        gateway: None,
        _stop: stop,
        _background: None,
    }
}

impl TestApp {
    /// Creates a workspace with an owner and an owner API token.
    pub async fn create_workspace(&self, name: &str, owner_email: &str) -> TestWorkspace {
        let created =
            costline_store::admin::create_workspace_with_token(&self.db.store, name, owner_email)
                .await
                .expect("create workspace");
        TestWorkspace {
            workspace_id: created.workspace_id.to_string(),
            owner_id: created.owner_id.to_string(),
            token: created.token.plaintext,
        }
    }

    /// Adds a user with `role` to a workspace and returns an API token of theirs.
    pub async fn add_member(
        &self,
        workspace: &TestWorkspace,
        email: &str,
        role: costline_domain::Role,
    ) -> String {
        let ws: costline_domain::WorkspaceId = workspace.workspace_id.parse().unwrap();
        let user_id = costline_domain::UserId::new();
        sqlx::query("INSERT INTO users (user_id, email) VALUES ($1, $2)")
            .bind(user_id.as_uuid())
            .bind(email)
            .execute(self.db.store.system())
            .await
            .expect("insert user");
        sqlx::query("INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3)")
            .bind(ws.as_uuid())
            .bind(user_id.as_uuid())
            .bind(role.as_str())
            .execute(self.db.store.system())
            .await
            .expect("insert membership");
        let mut scope = self.db.store.scoped(ws).await.unwrap();
        let (_, token) = costline_store::tokens::create(&mut scope, user_id, "test")
            .await
            .unwrap();
        scope.commit().await.unwrap();
        token.plaintext
    }

    /// `method path` with a bearer token (or none) and an optional JSON body: status and JSON.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base_url, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    /// `POST /api/v1/integrations/aws` as the holder of `token`; asserts 201 and returns the
    /// created integration (`id`, `external_id`, the role's renderings).
    pub async fn create_integration(&self, token: &str) -> Value {
        let (status, created) = self
            .call(
                "POST",
                "/api/v1/integrations/aws",
                Some(token),
                Some(serde_json::json!({})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        created
    }

    /// `POST /api/v1/integrations/aws/{id}/connect` with `connect_body` (`{"role_arn", "cur"?}`)
    /// as the holder of `token`, for an integration already created; asserts 202 and returns
    /// the answer (its `job_id`).
    pub async fn connect_created_integration(
        &self,
        token: &str,
        id: &str,
        connect_body: Value,
    ) -> Value {
        let (status, body) = self
            .call(
                "POST",
                &format!("/api/v1/integrations/aws/{id}/connect"),
                Some(token),
                Some(connect_body),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body
    }

    /// Creates an AWS integration and connects it with `connect_body` (`{"role_arn", "cur"?}`,
    /// e.g. [`cur_connection`]) as the holder of `token`; asserts 201 and 202 and returns the
    /// integration id.
    pub async fn connect_integration(&self, token: &str, connect_body: Value) -> String {
        let created = self.create_integration(token).await;
        let id = created["id"].as_str().expect("integration id").to_owned();
        self.connect_created_integration(token, &id, connect_body)
            .await;
        id
    }

    /// GETs `path` every 100 ms until `done` holds for the JSON answer (at most `timeout`);
    /// panics with the last answer otherwise. For waiting on jobs and integration states.
    pub async fn poll_until(
        &self,
        path: &str,
        token: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (status, body) = self.call("GET", path, Some(token), None).await;
            if status == 200 && done(&body) {
                return body;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("GET {path} did not reach the expected state within {timeout:?}; last answer {status}: {body:#}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
