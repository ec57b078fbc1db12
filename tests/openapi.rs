//! docs/openapi.yaml describes the API as built, both ways: every documented path and method
//! reaches a handler (never the router's "route not found" fallback), and every route the API
//! and operations routers declare is documented.

use costline_testkit::spawn_app;
use yaml_rust2::YamlLoader;

#[tokio::test]
async fn every_documented_route_is_served() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml"))
        .expect("docs/openapi.yaml");
    let doc = YamlLoader::load_from_str(&text)
        .expect("valid YAML")
        .remove(0);
    let paths = doc["paths"].as_hash().expect("paths");
    assert!(paths.len() >= 12, "{} paths", paths.len());

    let app = spawn_app().await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut checked = 0;
    for (path, item) in paths {
        let path = path
            .as_str()
            .unwrap()
            .replace("{id}", &id)
            .replace("{period}", "2024-01");
        for (method, _) in item.as_hash().unwrap() {
            let method = method.as_str().unwrap();
            if method == "parameters" {
                continue;
            }
            let (status, body) = app
                .call(&method.to_uppercase(), &path, Some(&ws.token), None)
                .await;
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !(status == 404 && message == "route not found") && status != 405,
                "{method} {path} is documented but not served: {status} {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 16, "{checked} operations checked");
}

/// Every `(METHOD, path)` the documented routers declare, read from their source: each
/// `.route("<path>", get(..).post(..))` call, with `/api/v1` before the API's paths.
fn served_routes() -> std::collections::BTreeSet<(String, String)> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/web/src");
    let mut files = vec![
        (format!("{root}/observability.rs"), ""),
        (format!("{root}/terraform_module.rs"), ""),
    ];
    for entry in std::fs::read_dir(format!("{root}/api")).unwrap() {
        let path = entry.unwrap().path();
        files.push((path.display().to_string(), "/api/v1"));
    }
    let mut routes = std::collections::BTreeSet::new();
    for (file, prefix) in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let mut rest = source.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            // The call's arguments: up to the parenthesis that closes `.route(`.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap();
            let call = &rest[..end];
            let quote = call.find('"').unwrap();
            let path = &call[quote + 1..quote + 1 + call[quote + 1..].find('"').unwrap()];
            let handlers = &call[quote + path.len() + 2..];
            for method in ["get", "post", "put", "delete", "patch"] {
                let called = handlers.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0
                        || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && handlers.as_bytes()[i - 1] != b'_'
                });
                if called {
                    routes.insert((method.to_string(), format!("{prefix}{path}")));
                }
            }
        }
    }
    routes
}

#[test]
fn every_served_route_is_documented() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml"))
        .expect("docs/openapi.yaml");
    let doc = YamlLoader::load_from_str(&text).unwrap().remove(0);
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_hash().unwrap() {
        for (method, _) in item.as_hash().unwrap() {
            let method = method.as_str().unwrap();
            if method != "parameters" {
                documented.insert((method.to_string(), path.as_str().unwrap().to_string()));
            }
        }
    }
    let served = served_routes();
    assert!(served.len() >= 20, "the route scan found only {served:?}");
    assert!(served.contains(&("post".to_string(), "/api/v1/integrations/aws".to_string())));
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but missing from docs/openapi.yaml: {undocumented:?}"
    );
}
