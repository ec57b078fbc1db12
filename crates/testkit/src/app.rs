//! The whole web application on a random port, against a fresh database.

use crate::{fresh_store, SmtpSink, TestDb};
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
    /// Every email the web layer sent (sign-up confirmations).
    pub mail: SmtpSink,
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

/// [`spawn_app_with_config`] on an existing database (e.g. [`TestDb::reopen`] of another app's,
/// as a second instance behind one address).
pub async fn spawn_app_on(db: TestDb, configure: impl FnOnce(&mut WebConfig)) -> TestApp {
    spawn_web(db, None, configure).await
}

/// Starts the app as `costline serve` does: the web server and, beside it, a worker pool with
/// every job handler, whose AWS calls go to the emulator at `aws_endpoint_url` (see
/// [`crate::moto`]). The pool polls every 100 ms and retries after 1 s, so tests stay fast.
pub async fn spawn_app_with_workers(aws_endpoint_url: &str) -> TestApp {
    let gateway =
        costline_aws::AwsGateway::new(costline_aws::GatewayConfig::for_emulator(aws_endpoint_url));
    spawn_app_with_gateway(gateway).await
}

/// [`spawn_app_with_workers`] with the workflow settings changed by `configure` (which sees
/// the tests' defaults).
pub async fn spawn_app_with_workflow_settings(
    aws_endpoint_url: &str,
    configure: impl FnOnce(&mut costline_workflows::WorkflowSettings),
) -> TestApp {
    let gateway =
        costline_aws::AwsGateway::new(costline_aws::GatewayConfig::for_emulator(aws_endpoint_url));
    spawn_app_with_settings(gateway, configure).await
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
    // Account emails (sign-up confirmations) go to a sink of this app, as production mails
    // them through COSTLINE_SMTP_URL.
    let mail = SmtpSink::start();
    let mut config = WebConfig {
        platform_account_id: Some(PLATFORM_ACCOUNT_ID.into()),
        aws_partition: AwsPartition::Aws,
        mailer: Some(
            costline_notify::Mailer::new(&mail.url, "Costline <costline@costline.test>")
                .expect("a mailer for the sink"),
        ),
        ..WebConfig::new(base_url.clone())
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
        mail,
        client: reqwest::Client::new(),
        workers: None,
        gateway: None,
        _stop: stop,
        _background: None,
    }
}

/// A client as a browser without JavaScript: it keeps cookies and does not follow redirects
/// (tests look at each `303`).
pub fn console_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("build the console client")
}

/// GET `path` of the console with `client`: status and body.
pub async fn console_page(client: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let r = client
        .get(format!("{}{path}", app.base_url))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// POST the form `form` to `path` of the console with `client`: status and body.
pub async fn console_post(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let r = client
        .post(format!("{}{path}", app.base_url))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of the first hidden `authenticity_token` field of a console page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"authenticity_token\" value=\"";
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

impl TestApp {
    /// The secret of the newest confirmation link mailed to `email` (the part after
    /// `/signup/confirm#`), waiting up to 10 s for one.
    pub async fn confirmation_token(&self, email: &str) -> String {
        self.confirmation_token_after(email, 0).await
    }

    /// [`TestApp::confirmation_token`] among the mails to `email` after its first `seen` ones
    /// (mail is sent in the background: a link asked for now may not be there yet).
    pub async fn confirmation_token_after(&self, email: &str, seen: usize) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mails = self.mail.messages_to(email);
            let link = mails.iter().skip(seen).rev().find_map(|m| {
                let body = m.body();
                let start = body.find("/signup/confirm#")? + "/signup/confirm#".len();
                Some(body[start..].split_whitespace().next()?.to_string())
            });
            if let Some(link) = link {
                return link;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no confirmation link was mailed to {email}: {mails:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Signs up through the console with `client` (a cookie-keeping client that does not
    /// follow redirects), confirms the address with the mailed link and the password, and
    /// leaves `client` logged in to the new workspace.
    pub async fn sign_up(
        &self,
        client: &reqwest::Client,
        workspace: &str,
        email: &str,
        password: &str,
    ) {
        let seen = self.mail.messages_to(email).len();
        let html = client
            .get(format!("{}/signup", self.base_url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let r = client
            .post(format!("{}/signup", self.base_url))
            .form(&[
                ("authenticity_token", csrf_of(&html).as_str()),
                ("workspace_name", workspace),
                ("email", email),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let html = r.text().await.unwrap();
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("id=\"check-inbox\""), "{html}");
        let token = self.confirmation_token_after(email, seen).await;
        self.confirm_token(client, &token, password).await;
    }

    /// Opens the newest confirmation link mailed to `email` with `client` and enters
    /// `password`; asserts the redirect into the console and returns where it goes.
    pub async fn confirm(&self, client: &reqwest::Client, email: &str, password: &str) -> String {
        let token = self.confirmation_token(email).await;
        self.confirm_token(client, &token, password).await
    }

    /// Posts the confirmation form with the link secret `token` and `password`; asserts the
    /// redirect into the console and returns where it goes.
    pub async fn confirm_token(
        &self,
        client: &reqwest::Client,
        token: &str,
        password: &str,
    ) -> String {
        let html = client
            .get(format!("{}/signup/confirm", self.base_url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let r = client
            .post(format!("{}/signup/confirm", self.base_url))
            .form(&[
                ("authenticity_token", csrf_of(&html).as_str()),
                ("token", token),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        let body = r.text().await.unwrap();
        assert_eq!(status, 303, "{body}");
        location.expect("a redirect")
    }

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
            .execute(self.db.admin())
            .await
            .expect("insert user");
        sqlx::query("INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3)")
            .bind(ws.as_uuid())
            .bind(user_id.as_uuid())
            .bind(role.as_str())
            .execute(self.db.admin())
            .await
            .expect("insert membership");
        let mut scope = self.db.store.scoped(ws).await.unwrap();
        let (_, token) = costline_store::tokens::create(&mut scope, user_id, "test", None)
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

// Support access grants (issue 21).
impl TestApp {
    /// Grants Costline support `hours` of access to the workspace of the admin `token`, as the
    /// customer does before support may look (`POST /api/v1/support-access`).
    pub async fn grant_support_access(&self, token: &str, hours: i64) {
        let (status, body) = self
            .call(
                "POST",
                "/api/v1/support-access",
                Some(token),
                Some(serde_json::json!({ "hours": hours })),
            )
            .await;
        assert_eq!(status, 201, "granting support access: {body}");
    }
}
