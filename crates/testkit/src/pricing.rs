//! A local AWS Price List Query API for tests: the emulator has none.
//!
//! [`pricing_server`] serves the products of recorded GetProducts answers
//! (`tests/fixtures/pricing/*.json`) on a loopback port. A GetProducts request gets the products
//! of its service whose attributes equal every one of its `TERM_MATCH` filters, as AWS answers
//! (`productFamily` is matched against the product's family). It speaks the API's JSON 1.1
//! protocol over plain HTTP/1.1, one request per connection, and counts the requests.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The recorded answers of this repository (`tests/fixtures/pricing`).
pub fn pricing_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pricing")
}

/// A running Price List endpoint.
pub struct PricingServer {
    /// `http://127.0.0.1:<port>`, for `GatewayConfig::pricing_endpoint_url`.
    pub endpoint: String,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl PricingServer {
    /// GetProducts requests answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for PricingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every product document of the answers in `dir`.
fn load_products(dir: &Path) -> Vec<(Value, String)> {
    let mut products = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for file in files {
        let answer: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for doc in answer["PriceList"].as_array().expect("a PriceList") {
            let text = doc.as_str().expect("a product document").to_string();
            products.push((serde_json::from_str(&text).unwrap(), text));
        }
    }
    products
}

/// The products matching a GetProducts request body.
fn answer(products: &[(Value, String)], request: &Value) -> Value {
    let service = request["ServiceCode"].as_str().unwrap_or_default();
    let filters: Vec<(&str, &str)> = request["Filters"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| Some((f["Field"].as_str()?, f["Value"].as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let matching: Vec<&String> = products
        .iter()
        .filter(|(p, _)| p["serviceCode"] == service)
        .filter(|(p, _)| {
            filters.iter().all(|(field, value)| {
                let found = if *field == "productFamily" {
                    &p["product"]["productFamily"]
                } else {
                    &p["product"]["attributes"][*field]
                };
                found.as_str() == Some(*value)
            })
        })
        .map(|(_, text)| text)
        .collect();
    json!({"FormatVersion": "aws_v1", "PriceList": matching})
}

/// Serves the products of the answers in `dir` until dropped.
pub async fn pricing_server(dir: &Path) -> PricingServer {
    let products = Arc::new(load_products(dir));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let products = products.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let Some(body) = read_request(&mut socket).await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let out = answer(&products, &request).to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{out}",
                    out.len()
                );
                socket.write_all(response.as_bytes()).await.ok();
                socket.shutdown().await.ok();
            });
        }
    });
    PricingServer {
        endpoint,
        requests,
        task,
    }
}

/// The body of one HTTP/1.1 request (by its content-length).
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let body_start = end + 4;
        while buf.len() < body_start + length {
            let n = socket.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        return Some(buf[body_start..body_start + length].to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_match_every_term_filter() {
        let products = load_products(&pricing_fixtures());
        let ask = |filters: Value| {
            answer(
                &products,
                &json!({"ServiceCode": "AmazonEC2", "Filters": filters}),
            )["PriceList"]
                .as_array()
                .unwrap()
                .len()
        };
        let field = |f: &str, v: &str| json!({"Type": "TERM_MATCH", "Field": f, "Value": v});
        assert_eq!(ask(json!([field("instanceType", "m5.large")])), 2);
        assert_eq!(
            ask(json!([
                field("instanceType", "m5.large"),
                field("capacitystatus", "Used")
            ])),
            1
        );
        assert_eq!(
            ask(json!([
                field("productFamily", "Storage"),
                field("regionCode", "us-east-1")
            ])),
            2
        );
        assert_eq!(ask(json!([field("instanceType", "x9.huge")])), 0);
    }
}
