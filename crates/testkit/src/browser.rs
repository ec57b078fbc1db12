//! Headless Chromium driven over WebDriver (chromedriver), for console flows.

use crate::ChildGuard;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A chromedriver process for one test.
pub struct Chromedriver {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    _child: ChildGuard,
}

/// Starts chromedriver on a free port (`COSTLINE_CHROMEDRIVER`, default /usr/bin/chromedriver).
pub async fn chromedriver() -> Chromedriver {
    let bin = std::env::var_os("COSTLINE_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    assert!(
        bin.exists(),
        "chromedriver not found at {}: run `make test` (it installs Debian's chromium and chromium-driver) or set COSTLINE_CHROMEDRIVER",
        bin.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = ChildGuard::spawn(cmd).expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(!child.has_exited(), "chromedriver exited at start");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "chromedriver did not listen in 30s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Chromedriver { url, _child: child }
}

/// WebDriver capabilities for headless Chromium on a machine without network or GPU.
pub fn chromium_capabilities() -> serde_json::Map<String, serde_json::Value> {
    let binary = std::env::var("COSTLINE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let profile = std::env::temp_dir().join(format!(
        "costline-chromium-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": binary,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    caps.as_object().unwrap().clone()
}

/// Where screenshots are kept as artifacts: `target/screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    dir
}

/// Headless Chromium for one test: its chromedriver, a WebDriver client, and screenshots named
/// `target/screenshots/<prefix>-<step>.png`.
pub struct Browser {
    /// The WebDriver client.
    pub client: fantoccini::Client,
    shots: PathBuf,
    prefix: &'static str,
    _driver: Chromedriver,
}

impl Browser {
    /// Starts chromedriver and opens a headless Chromium session.
    pub async fn open(prefix: &'static str) -> Browser {
        // The AWS SDK and reqwest bring two rustls crypto providers; WebDriver runs over plain
        // HTTP on loopback, but the client still needs one chosen.
        rustls::crypto::ring::default_provider()
            .install_default()
            .ok();
        let driver = chromedriver().await;
        let client = fantoccini::ClientBuilder::rustls()
            .expect("tls")
            .capabilities(chromium_capabilities())
            .connect(&driver.url)
            .await
            .expect("connect to chromedriver");
        Browser {
            client,
            shots: screenshot_dir(),
            prefix,
            _driver: driver,
        }
    }

    /// Keeps a screenshot of the page as `target/screenshots/<prefix>-<step>.png`.
    pub async fn shot(&self, step: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{}-{step}.png", self.prefix)), png)
            .expect("write screenshot");
    }
}
