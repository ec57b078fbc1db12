//! After a connection (verification, discovery, member-role checks, the inventory), none of the temporary AWS
//! credentials the emulator issued to Costline is in the database or in the logs.
//!
//! The credentials are taken from moto's own record of the AssumeRole calls it answered
//! (`/moto-api/data.json`), so they are exactly those the app received. The database is
//! searched row by row in every table of every schema found in the catalog; the logs are every
//! event of the test process down to TRACE, captured by a subscriber installed for it with the
//! directives every Costline subscriber applies (`costline_aws::credential_safe_directives`:
//! without them the SDK's orchestrator prints the access key id at DEBUG, which this test found).

#[path = "support/customer.rs"]
mod customer;

use costline_testkit::{moto, spawn_app_with_workers, CapturedLogs};
use customer::{assumed_roles, deploy_integration_stack, Customer};
use serde_json::{json, Value};
use std::time::Duration;

/// Every row of every table, as text (`t::text` renders all columns: text, json, arrays).
async fn dump_database(pool: &sqlx::PgPool) -> (usize, String) {
    let statements: Vec<String> = sqlx::query_scalar(
        "SELECT format('SELECT t::text FROM %I.%I t', schemaname, tablename)
           FROM pg_tables
          WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
          ORDER BY schemaname, tablename",
    )
    .fetch_all(pool)
    .await
    .expect("list tables");
    let mut dump = String::new();
    for statement in &statements {
        let rows: Vec<String> = sqlx::query_scalar(statement)
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
        for row in rows {
            dump.push_str(&row);
            dump.push('\n');
        }
    }
    (statements.len(), dump)
}

#[tokio::test]
async fn no_aws_credential_reaches_the_database_or_the_logs() {
    let logs = CapturedLogs::default();
    // Everything, at TRACE, with the caps every Costline subscriber applies (as `costline serve`
    // does even under RUST_LOG=trace).
    let mut filter = tracing_subscriber::EnvFilter::new("trace");
    for directive in costline_aws::credential_safe_directives() {
        filter = filter.add_directive(directive.parse().unwrap());
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(logs.clone())
        .with_ansi(false)
        .try_init()
        .expect("the only subscriber of this test process");

    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let ws = app.create_workspace("Secrets", "owner@secrets.test").await;
    let customer = Customer::new(&moto.endpoint, "555566667777").await;
    let org = customer.create_organization(2).await;

    let created = app.create_integration(&ws.token).await;
    let id = created["id"].as_str().unwrap().to_string();
    let external_id = created["external_id"].as_str().unwrap().to_string();
    let stack = deploy_integration_stack(&customer, &external_id).await;
    let role_arn = stack.outputs["RoleArn"].clone();
    app.connect_created_integration(&ws.token, &id, json!({ "role_arn": role_arn }))
        .await;
    let done = app
        .poll_until(
            &format!("/api/v1/integrations/aws/{id}"),
            &ws.token,
            Duration::from_secs(30),
            |v| {
                v["status"] == "connected"
                    && v["accounts"].as_array().is_some_and(|a| {
                        a.len() == org.accounts.len() && a.iter().all(|a| a["role_status"] == "ok")
                    })
            },
        )
        .await;
    assert_eq!(done["account_type"], "management");
    // The inventory assumes every account's role again, and stores what it read.
    app.poll_until(
        "/api/v1/resources/coverage",
        &ws.token,
        Duration::from_secs(60),
        |v| {
            v["accounts"].as_array().is_some_and(|a| {
                a.len() == org.accounts.len()
                    && a.iter().all(|a| a["inventory_status"] == "complete")
            })
        },
    )
    .await;

    // The credentials moto issued for Costline's role and for each member role.
    let issued: Vec<Value> = assumed_roles(&moto.endpoint)
        .await
        .into_iter()
        .filter(|r| r["external_id"] == external_id.as_str())
        .collect();
    // Discovery's member-role checks and the inventory each assume the member roles.
    for account in &org.accounts {
        assert!(
            issued
                .iter()
                .any(|r| r["account_id"] == account.id.as_str()),
            "no AssumeRole in {}: {issued:#?}",
            account.id
        );
    }
    assert!(issued.len() > org.accounts.len(), "{issued:#?}");
    let mut secrets = Vec::new();
    for record in &issued {
        for field in ["access_key_id", "secret_access_key", "session_token"] {
            let value = record[field].as_str().unwrap_or_default();
            assert!(value.len() >= 16, "moto's {field} looks wrong: {record:#}");
            secrets.push((field, value.to_string()));
        }
    }

    let (tables, dump) = dump_database(app.db.admin()).await;
    // The dump is real: it holds what the connection stored.
    assert!(tables > 10, "only {tables} tables found");
    assert!(dump.contains(&external_id));
    assert!(dump.contains(&role_arn));
    let log = logs.text();
    // The capture is real: it holds the connection's own events (not printed on failure: it
    // may hold what this test looks for).
    assert!(log.contains("assumed customer role"));
    assert!(log.contains("member roles checked"));

    let mut found = Vec::new();
    for (field, secret) in &secrets {
        if dump.contains(secret.as_str()) {
            found.push(format!(
                "the database holds a {field} moto issued to Costline"
            ));
        }
        for line in log.lines().filter(|line| line.contains(secret.as_str())) {
            let line = line.replace(secret.as_str(), "<SECRET>");
            found.push(format!("the logs hold a {field}: {line}"));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
    println!(
        "searched {tables} tables ({} bytes) and {} bytes of logs for {} credentials",
        dump.len(),
        log.len(),
        secrets.len()
    );
}
