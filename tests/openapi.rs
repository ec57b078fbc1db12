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

/// The schema `name` of docs/openapi.yaml.
fn schema<'a>(doc: &'a yaml_rust2::Yaml, name: &str) -> &'a yaml_rust2::Yaml {
    let s = &doc["components"]["schemas"][name];
    assert!(!s.is_badvalue(), "docs/openapi.yaml has no schema {name}");
    s
}

/// Where `value` and `schema` disagree, both ways: a required property the answer lacks, and a
/// property the answer has that the schema does not document (unless the schema allows any
/// with `additionalProperties`). Objects are followed through `$ref`, `properties` and array
/// `items`; `oneOf` schemas are left to their own tests.
fn mismatches(
    doc: &yaml_rust2::Yaml,
    schema: &yaml_rust2::Yaml,
    value: &serde_json::Value,
    at: &str,
    out: &mut Vec<String>,
) {
    let schema = match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    };
    match value {
        serde_json::Value::Object(map) => {
            let props = schema["properties"].as_hash();
            let Some(props) = props else { return };
            if let Some(required) = schema["required"].as_vec() {
                for r in required {
                    let r = r.as_str().unwrap();
                    if !map.contains_key(r) {
                        out.push(format!("{at}.{r}: required by the schema, not served"));
                    }
                }
            }
            let open = !schema["additionalProperties"].is_badvalue()
                && schema["additionalProperties"].as_bool() != Some(false);
            for (k, v) in map {
                match props.get(&yaml_rust2::Yaml::String(k.clone())) {
                    Some(p) => mismatches(doc, p, v, &format!("{at}.{k}"), out),
                    None if open => {}
                    None => out.push(format!("{at}.{k}: served, not documented")),
                }
            }
        }
        serde_json::Value::Array(items) if !schema["items"].is_badvalue() => {
            for (i, item) in items.iter().enumerate() {
                mismatches(doc, &schema["items"], item, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_documented_schemas_are_the_served_views() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml"))
        .expect("docs/openapi.yaml");
    let doc = YamlLoader::load_from_str(&text).unwrap().remove(0);
    let app = spawn_app().await;
    let ws = app.create_workspace("Views", "owner@views.test").await;

    let created = app.create_integration(&ws.token).await;
    let id = created["id"].as_str().unwrap().to_string();
    let (_, integration) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{id}"),
            Some(&ws.token),
            None,
        )
        .await;
    // Connecting queues the verification (no worker runs here).
    app.connect_created_integration(
        &ws.token,
        &id,
        serde_json::json!({"role_arn": "arn:aws:iam::111122223333:role/CostlineReadOnly"}),
    )
    .await;
    let job_id: uuid::Uuid =
        sqlx::query_scalar("SELECT job_id FROM jobs WHERE integration_id = $1")
            .bind(uuid::Uuid::parse_str(&id).unwrap())
            .fetch_one(app.db.store.system())
            .await
            .unwrap();
    let (_, integration_verifying) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{id}"),
            Some(&ws.token),
            None,
        )
        .await;
    let (_, job) = app
        .call(
            "GET",
            &format!("/api/v1/jobs/{job_id}"),
            Some(&ws.token),
            None,
        )
        .await;
    let (_, costs) = app
        .call(
            "GET",
            "/api/v1/costs?start=2024-01-01&end=2024-02-01&group_by=service",
            Some(&ws.token),
            None,
        )
        .await;
    let (status, report) = app
        .call(
            "POST",
            "/api/v1/reports",
            Some(&ws.token),
            Some(serde_json::json!({"name": "EC2", "filters": ["service:AmazonEC2"], "group_by": ["month"], "range": {"relative": "last_12_months"}})),
        )
        .await;
    assert_eq!(status, 201, "{report}");

    let mut out = Vec::new();
    for (name, value) in [
        ("NewIntegration", &created),
        ("Integration", &integration),
        ("Integration", &integration_verifying),
        ("Job", &job),
        ("CostAnswer", &costs),
        ("Report", &report),
    ] {
        assert!(value.is_object(), "{name}: {value}");
        mismatches(&doc, schema(&doc, name), value, name, &mut out);
    }
    assert!(
        out.is_empty(),
        "docs/openapi.yaml and the served views differ:\n{}",
        out.join("\n")
    );
}
