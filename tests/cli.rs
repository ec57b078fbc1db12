//! The `costline` binary, black-box: admin commands, configuration errors, the private cluster.

use costline_testkit::fresh_store;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_costline");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn costline(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run costline")
}

/// `costline admin create-workspace` for Acme (owner ana@acme.test) on the database at `url`.
fn create_acme_workspace(url: &str) -> std::process::Output {
    costline(
        &[
            "admin",
            "create-workspace",
            "--name",
            "Acme",
            "--owner-email",
            "ana@acme.test",
        ],
        &[("DATABASE_URL", url)],
    )
}

async fn wait_ready(base: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
            if r.status() == 200 {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

struct Server(std::process::Child);

impl Server {
    fn start(envs: &[(&str, &str)]) -> Self {
        Self::start_command("serve", envs)
    }

    /// `costline <command>` (serve or worker) with `envs`.
    fn start_command(command: &str, envs: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.arg(command)
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Server(cmd.spawn().expect("start costline"))
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        self.0.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

#[tokio::test]
async fn create_workspace_prints_one_json_line_with_a_working_owner_token() {
    let db = fresh_store().await;
    let url = db.url();
    let out = create_acme_workspace(&url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let line: Value = serde_json::from_str(stdout.trim()).unwrap();
    for key in ["workspace_id", "user_id", "token"] {
        assert!(
            line[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key} missing: {line}"
        );
    }

    let out = costline(
        &[
            "admin",
            "create-support-user",
            "--email",
            "help@costline.test",
        ],
        &[("DATABASE_URL", &url)],
    );
    assert!(out.status.success());
    let support: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(support["user_id"].is_string() && support["token"].is_string());

    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let _server = Server::start(&[("DATABASE_URL", &url), ("COSTLINE_LISTEN", &listen)]);
    let base = format!("http://{listen}");
    assert!(wait_ready(&base).await);
    let response = reqwest::Client::new()
        .get(format!("{base}/api/v1/audit-events"))
        .bearer_auth(line["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// A worker-only process (scaled out beside the web servers) exposes its own health and job
/// metrics when given an address, and nothing of the web application.
#[tokio::test]
async fn a_worker_serves_health_and_job_metrics_on_its_own_address() {
    let db = fresh_store().await;
    let url = db.url();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut worker = Server::start_command(
        "worker",
        &[("DATABASE_URL", &url), ("COSTLINE_WORKER_LISTEN", &listen)],
    );
    let base = format!("http://{listen}");
    assert!(wait_ready(&base).await, "the worker never answered /readyz");
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let text = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("costline_jobs_queue_depth") || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(metrics.contains("costline_jobs_queue_depth"), "{metrics}");
    let api = reqwest::get(format!("{base}/api/v1/audit-events"))
        .await
        .unwrap();
    assert_eq!(api.status(), 404, "the worker serves no application routes");
    assert!(worker.terminate().success());
}

/// With `COSTLINE_METRICS_LISTEN`, `serve` answers /metrics there and no longer beside the
/// application.
#[tokio::test]
async fn serve_can_keep_its_metrics_off_the_public_address() {
    let db = fresh_store().await;
    let url = db.url();
    let listen = format!("127.0.0.1:{}", free_port());
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut server = Server::start(&[
        ("DATABASE_URL", &url),
        ("COSTLINE_LISTEN", &listen),
        ("COSTLINE_METRICS_LISTEN", &metrics),
        ("COSTLINE_PLATFORM_ACCOUNT_ID", "123456789012"),
    ]);
    let base = format!("http://{listen}");
    assert!(wait_ready(&base).await);
    let public = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(public.status(), 404);
    let private = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap();
    assert_eq!(private.status(), 200);
    assert!(private
        .text()
        .await
        .unwrap()
        .contains("costline_http_requests_total"));
    assert!(server.terminate().success());
}

/// `costline admin revoke-support-token` ends a support user's tokens (and so the console
/// sessions signed in with them); `costline admin support-log` prints what support did.
#[tokio::test]
async fn support_tokens_are_revoked_from_the_command_line() {
    let db = fresh_store().await;
    let url = db.url();
    let env = [("DATABASE_URL", url.as_str())];
    let out = costline(
        &[
            "admin",
            "create-support-user",
            "--email",
            "help@costline.test",
        ],
        &env,
    );
    assert!(out.status.success());
    let token = serde_json::from_slice::<Value>(&out.stdout).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let out = costline(
        &[
            "admin",
            "revoke-support-token",
            "--email",
            "help@costline.test",
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["revoked"][0]["prefix"], token[..12]);
    let owner =
        costline_store::tokens::authenticate(&db.store, &costline_domain::hash_token(&token))
            .await
            .unwrap();
    assert_eq!(owner, costline_store::tokens::TokenCheck::Unknown);
    // Again: nothing left, exit 1 with what to check.
    let out = costline(
        &[
            "admin",
            "revoke-support-token",
            "--email",
            "help@costline.test",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no live support token"));
    let out = costline(&["admin", "support-log"], &env);
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "support did nothing yet");
}

/// `COSTLINE_TERRAFORM_MODULE_SOURCE` reaches the snippet the API hands out, as given.
#[tokio::test]
async fn the_configured_terraform_module_source_is_the_snippets_source() {
    let db = fresh_store().await;
    let url = db.url();
    let out = create_acme_workspace(&url);
    assert!(out.status.success());
    let token = serde_json::from_slice::<Value>(&out.stdout).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let source = "app.terraform.io/acme/costline/aws";
    let listen = format!("127.0.0.1:{}", free_port());
    let _server = Server::start(&[
        ("DATABASE_URL", &url),
        ("COSTLINE_LISTEN", &listen),
        ("COSTLINE_PLATFORM_ACCOUNT_ID", "123456789012"),
        ("COSTLINE_TERRAFORM_MODULE_SOURCE", source),
    ]);
    let base = format!("http://{listen}");
    assert!(wait_ready(&base).await);
    let created: Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/integrations/aws"))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let snippet = created["terraform_snippet"].as_str().expect("a snippet");
    assert!(
        snippet.contains(&format!("source    = \"{source}\"")),
        "{snippet}"
    );
}

#[test]
fn bad_configuration_exits_2_with_a_fix() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 12] = [
        (
            &["migrate"],
            &[("DATABASE_URL", "not a url")],
            "DATABASE_URL",
        ),
        (
            &["serve"],
            &[
                ("COSTLINE_LISTEN", "nowhere"),
                ("DATABASE_URL", "postgres://x@127.0.0.1:1/x"),
            ],
            "COSTLINE_LISTEN",
        ),
        (
            &["serve"],
            &[
                ("COSTLINE_PLATFORM_ACCOUNT_ID", "12"),
                ("DATABASE_URL", "postgres://x@127.0.0.1:1/x"),
            ],
            "12-digit",
        ),
        (
            &["worker"],
            &[
                ("COSTLINE_WORKER_LISTEN", "9090"),
                ("DATABASE_URL", "postgres://x@127.0.0.1:1/x"),
            ],
            "COSTLINE_WORKER_LISTEN",
        ),
        (
            &["serve"],
            &[
                ("COSTLINE_TERRAFORM_MODULE_SOURCE", "https://x/\"m.tar.gz"),
                ("DATABASE_URL", "postgres://x@127.0.0.1:1/x"),
            ],
            "COSTLINE_TERRAFORM_MODULE_SOURCE",
        ),
        (
            &["admin", "create-workspace", "--name", "x"],
            &[],
            "--owner-email",
        ),
        (
            &["serve"],
            &[
                ("COSTLINE_AWS_PARTITION", "aws-iso"),
                ("DATABASE_URL", "postgres://x@127.0.0.1:1/x"),
            ],
            "use aws, aws-cn or aws-us-gov",
        ),
        (
            &["serve"],
            &[
                ("COSTLINE_AWS_PARTITION", "aws-cn"),
                ("AWS_REGION", "eu-west-1"),
                ("DATABASE_URL", "postgres://x@127.0.0.1:1/x"),
            ],
            "COSTLINE_AWS_PARTITION=aws-cn but AWS_REGION=\"eu-west-1\" is a region of the aws partition",
        ),
        (
            &["serve"],
            &[
                ("COSTLINE_SIGNUP", "yes"),
                ("DATABASE_URL", "postgres://x@127.0.0.1:1/x"),
            ],
            "open (no email check",
        ),
        (
            &["serve"],
            &[
                ("COSTLINE_TRUSTED_PROXIES", "10.0.0.0/8,lb.internal"),
                ("DATABASE_URL", "postgres://x@127.0.0.1:1/x"),
            ],
            "\"lb.internal\" is not an IP address or CIDR block",
        ),
        (
            &["serve"],
            &[
                ("COSTLINE_CSRF_KEY", "too-short"),
                ("DATABASE_URL", "postgres://x@127.0.0.1:1/x"),
            ],
            "openssl rand",
        ),
        (
            &["serve"],
            &[
                ("COSTLINE_METRICS_LISTEN", "9100"),
                ("DATABASE_URL", "postgres://x@127.0.0.1:1/x"),
            ],
            "COSTLINE_METRICS_LISTEN",
        ),
    ];
    for (args, envs, expected) in cases {
        let out = costline(args, envs);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn help_explains_the_commands() {
    let out = costline(&["--help"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "serve",
        "worker",
        "migrate",
        "admin",
        "DATABASE_URL",
        "COSTLINE_DATA_DIR",
    ] {
        assert!(text.contains(word), "--help lacks {word}: {text}");
    }
}

fn postmaster_pid(data_dir: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(data_dir.join("pgdata/postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Running, and not a zombie waiting for a reaper.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn the_private_cluster_starts_stops_cleanly_and_keeps_its_data() {
    let dir = tempfile::Builder::new()
        .prefix("cl")
        .tempdir_in("/tmp")
        .unwrap();
    let data_dir = dir.path().join("data");
    let data = data_dir.to_str().unwrap();
    let out = costline(
        &[
            "admin",
            "create-workspace",
            "--name",
            "Kept",
            "--owner-email",
            "kept@example.test",
        ],
        &[("COSTLINE_DATA_DIR", data)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = serde_json::from_slice::<Value>(&out.stdout).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        postmaster_pid(&data_dir).is_none(),
        "admin leaves no server running"
    );

    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let mut server = Server::start(&[("COSTLINE_DATA_DIR", data), ("COSTLINE_LISTEN", &listen)]);
    assert!(wait_ready(&base).await);
    let pid = postmaster_pid(&data_dir).expect("server running");
    let response = reqwest::Client::new()
        .get(format!("{base}/api/v1/audit-events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "data of the first run is found by the second"
    );
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(!alive(pid), "postgres {pid} outlived costline");
}

#[tokio::test]
async fn a_sigkilled_costline_leaves_no_postgres_behind() {
    let dir = tempfile::Builder::new()
        .prefix("cl")
        .tempdir_in("/tmp")
        .unwrap();
    let data_dir = dir.path().join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = Server::start(&[
        ("COSTLINE_DATA_DIR", data_dir.to_str().unwrap()),
        ("COSTLINE_LISTEN", &listen),
    ]);
    assert!(wait_ready(&format!("http://{listen}")).await);
    let pid = postmaster_pid(&data_dir).expect("server running");
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(pid), "postgres {pid} survived a SIGKILL of costline");
}
