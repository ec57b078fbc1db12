//! The moto AWS emulator, one server per test process.

use crate::ChildGuard;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

static MOTO: OnceCell<Moto> = OnceCell::const_new();

/// A running moto server.
pub struct Moto {
    /// e.g. `http://127.0.0.1:41234`
    pub endpoint: String,
    _child: ChildGuard,
}

impl Moto {
    /// Forgets every resource created so far (moto's reset API).
    pub async fn reset(&self) {
        reqwest::Client::new()
            .post(format!("{}/moto-api/reset", self.endpoint))
            .send()
            .await
            .expect("reset moto");
    }
}

/// The moto server of this test process, started on first use.
///
/// Found at `COSTLINE_MOTO_BIN`, or `.venv/bin/moto_server` of the repository (`make test`
/// installs it there).
pub async fn moto() -> &'static Moto {
    MOTO.get_or_init(start_moto).await
}

async fn start_moto() -> Moto {
    let bin = std::env::var_os("COSTLINE_MOTO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server")
        });
    assert!(
        bin.exists(),
        "moto_server not found at {}: run `make test` (it installs the emulator into .venv) or set COSTLINE_MOTO_BIN",
        bin.display()
    );
    let port = free_port();
    let mut cmd = Command::new(&bin);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = ChildGuard::spawn(cmd).expect("start moto_server");
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        assert!(!child.has_exited(), "moto_server exited at start");
        if let Ok(resp) = client
            .get(format!("{endpoint}/moto-api/data.json"))
            .send()
            .await
        {
            if resp.status().is_success() {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "moto_server did not answer in 60s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Moto {
        endpoint,
        _child: child,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}
