//! Issue 19 end to end: an organization with two members on the moto emulator, each member's
//! StackSet role in place, is inventoried through the worker; each member's EC2 instances,
//! volumes and buckets are listed with their on-demand rates (from a local Price List of
//! recorded answers, `tests/fixtures/pricing`, which moto lacks); after a CUR naming those
//! resources is ingested, each resource's accrued cost is the exact sum of its line items.

#[path = "support/cur_e2e.rs"]
mod cur_e2e;
#[path = "support/customer.rs"]
mod customer;

use aws_sdk_ec2::types::{
    InstanceType, ResourceType as Ec2ResourceType, Tag, TagSpecification, VolumeType,
};
use costline_aws::{AwsGateway, GatewayConfig};
use costline_cur::generate::GenFormat;
use costline_testkit::{
    moto, path_style_s3, pricing_fixtures, pricing_server, spawn_app_with_settings, TestApp,
    TestWorkspace,
};
use customer::{deploy_integration_stack, Customer};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::Duration;

const MANAGEMENT: &str = "333344445555";
const WAIT: Duration = Duration::from_secs(60);

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("a decimal string, got {v}"))
        .parse()
        .unwrap()
}

fn ec2_in(customer: &Customer, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&customer.config)
            .region(aws_config::Region::new(region.to_string()))
            .build(),
    )
}

fn tags(kind: Ec2ResourceType, pairs: &[(&str, &str)]) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(kind);
    for (k, v) in pairs {
        spec = spec.tags(Tag::builder().key(*k).value(*v).build());
    }
    spec.build()
}

/// What one member account holds.
struct MemberResources {
    account: String,
    instance_us: String,
    instance_eu: String,
    volume: String,
    bucket: String,
}

/// The member's StackSet role, an instance in us-east-1 and one in eu-west-1, a 100 GB gp3
/// volume and a tagged bucket.
async fn fill_member(endpoint: &str, account: &str) -> MemberResources {
    let member = Customer::new(endpoint, account).await;
    member
        .create_role_by_hand(
            &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]}),
            "CostlineReadOnly",
            &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": ["ec2:Describe*", "s3:ListAllMyBuckets"], "Resource": "*"}]}),
        )
        .await;
    let mut instances = Vec::new();
    for region in ["us-east-1", "eu-west-1"] {
        let out = ec2_in(&member, region)
            .run_instances()
            .image_id("ami-12345678")
            .instance_type(InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .tag_specifications(tags(
                Ec2ResourceType::Instance,
                &[("Name", &format!("web-{region}")), ("Team", "web")],
            ))
            .send()
            .await
            .expect("run an instance");
        instances.push(out.instances()[0].instance_id().unwrap().to_string());
    }
    let volume = ec2_in(&member, "us-east-1")
        .create_volume()
        .availability_zone("us-east-1a")
        .size(100)
        .volume_type(VolumeType::Gp3)
        .tag_specifications(tags(
            Ec2ResourceType::Volume,
            &[("Name", "data"), ("Team", "db")],
        ))
        .send()
        .await
        .expect("create a volume")
        .volume_id()
        .unwrap()
        .to_string();
    let s3 = path_style_s3(&member.config);
    let bucket = format!("assets-{account}");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create a bucket");
    s3.put_bucket_tagging()
        .bucket(&bucket)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("Team")
                        .value("web")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("tag the bucket");
    MemberResources {
        account: account.to_string(),
        instance_us: instances[0].clone(),
        instance_eu: instances[1].clone(),
        volume,
        bucket,
    }
}

/// Every resource the workspace lists for `query`, page by page (`limit=2`, so pagination is
/// exercised).
async fn list_all(app: &TestApp, ws: &TestWorkspace, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/resources?limit=2&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = app.call("GET", &path, Some(&ws.token), None).await;
        assert_eq!(status, 200, "{page}");
        out.extend(page["resources"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return out,
        }
    }
}

fn find<'a>(resources: &'a [Value], resource_id: &str) -> &'a Value {
    resources
        .iter()
        .find(|r| r["resource_id"] == resource_id)
        .unwrap_or_else(|| panic!("{resource_id} is not listed: {resources:#?}"))
}

/// Waits until every account of the workspace has an inventory newer than `after`.
async fn wait_for_inventory(
    app: &TestApp,
    ws: &TestWorkspace,
    accounts: usize,
    after: &str,
) -> Value {
    app.poll_until("/api/v1/resources/coverage", &ws.token, WAIT, |v| {
        v["accounts"].as_array().is_some_and(|a| {
            a.len() == accounts
                && a.iter()
                    .all(|a| a["last_inventory"].as_str().is_some_and(|t| t > after))
        })
    })
    .await
}

#[tokio::test]
async fn an_organizations_members_resources_show_rates_then_their_exact_accrued_cost() {
    let moto = moto().await;
    let pricing = pricing_server(&pricing_fixtures()).await;
    let mut config = GatewayConfig::for_emulator(&moto.endpoint);
    config.pricing_endpoint_url = Some(pricing.endpoint.clone());
    let app = spawn_app_with_settings(AwsGateway::new(config), |s| {
        s.inventory_regions = Some(vec!["eu-west-1".into(), "us-east-1".into()]);
    })
    .await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let other = app.create_workspace("Other", "owner@other.test").await;

    let customer = Customer::new(&moto.endpoint, MANAGEMENT).await;
    let org = customer.create_organization(2).await;
    let mut members = Vec::new();
    for account in org.accounts.iter().filter(|a| a.id != MANAGEMENT) {
        members.push(fill_member(&moto.endpoint, &account.id).await);
    }
    assert_eq!(members.len(), 2);

    // The CUR bucket is in the management account; the report comes after the inventory.
    let cur_s3 = path_style_s3(&customer.config);
    let cur_bucket = cur_e2e::new_bucket(&cur_s3, "acme-cur").await;
    let created = app.create_integration(&ws.token).await;
    let id = created["id"].as_str().unwrap().to_string();
    let stack = deploy_integration_stack(&customer, created["external_id"].as_str().unwrap()).await;
    let before = chrono::Utc::now().to_rfc3339();
    app.connect_created_integration(
        &ws.token,
        &id,
        json!({"role_arn": stack.outputs["RoleArn"], "cur": {"bucket": cur_bucket, "prefix": cur_e2e::PREFIX, "report_name": cur_e2e::REPORT}}),
    )
    .await;

    // Coverage: every account inventoried through its role, in the two regions configured.
    let coverage = wait_for_inventory(&app, &ws, 3, &before).await;
    for account in coverage["accounts"].as_array().unwrap() {
        assert_eq!(account["role_status"], "ok", "{account:#}");
        assert_eq!(account["inventory_status"], "complete", "{account:#}");
        assert_eq!(
            account["regions"],
            json!(["eu-west-1", "us-east-1"]),
            "{account:#}"
        );
        assert_eq!(account["issues"], json!([]), "{account:#}");
    }

    // Each member's instances, volume and bucket, with rates and no accrued cost yet.
    let all = list_all(&app, &ws, "").await;
    let instances = list_all(&app, &ws, "type=ec2:instance").await;
    assert_eq!(instances.len(), 4, "{instances:#?}");
    for m in &members {
        let us = find(&all, &m.instance_us);
        assert_eq!(us["type"], "ec2:instance");
        assert_eq!(us["account_id"], m.account.as_str());
        assert_eq!(us["region"], "us-east-1");
        assert_eq!(us["name"], "web-us-east-1");
        assert_eq!(us["tags"]["Team"], "web");
        assert_eq!(us["state"], "running");
        assert_eq!(
            us["arn"],
            format!(
                "arn:aws:ec2:us-east-1:{}:instance/{}",
                m.account, m.instance_us
            )
        );
        assert_eq!(
            dec(&us["hourly_rate"]),
            "0.0104".parse::<Decimal>().unwrap()
        );
        assert_eq!(
            dec(&us["monthly_rate"]),
            "7.592".parse::<Decimal>().unwrap()
        );
        assert_eq!(us["rate_currency"], "USD");
        assert_eq!(us["accrued_cost"], Value::Null, "no CUR yet");
        let eu = find(&all, &m.instance_eu);
        assert_eq!(eu["region"], "eu-west-1");
        assert_eq!(
            dec(&eu["hourly_rate"]),
            "0.0114".parse::<Decimal>().unwrap()
        );
        assert_eq!(
            dec(&eu["monthly_rate"]),
            "8.322".parse::<Decimal>().unwrap()
        );
        let volume = find(&all, &m.volume);
        assert_eq!(volume["type"], "ec2:volume");
        assert_eq!(volume["name"], "data");
        // 100 GB of gp3 at 0.08 per GB-month.
        assert_eq!(dec(&volume["monthly_rate"]), Decimal::from(8));
        assert_eq!(
            dec(&volume["hourly_rate"]),
            "0.0109589041".parse::<Decimal>().unwrap()
        );
        let bucket = find(&all, &m.bucket);
        assert_eq!(bucket["type"], "s3:bucket");
        assert_eq!(bucket["arn"], format!("arn:aws:s3:::{}", m.bucket));
        assert_eq!(bucket["region"], "us-east-1");
        assert_eq!(bucket["tags"]["Team"], "web");
        assert_eq!(bucket["hourly_rate"], Value::Null);
        assert!(
            bucket["rate_note"]
                .as_str()
                .unwrap()
                .contains("priced by usage"),
            "{bucket:#}"
        );
    }
    // Filters: account, region, type and tags, ANDed.
    let m0 = &members[0];
    let filtered = list_all(
        &app,
        &ws,
        &format!("account={}&region=us-east-1&tag:Team=web", m0.account),
    )
    .await;
    let ids: Vec<&str> = filtered
        .iter()
        .map(|r| r["resource_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [m0.instance_us.as_str(), m0.bucket.as_str()],
        "{filtered:#?}"
    );
    let (status, body) = app
        .call(
            "GET",
            "/api/v1/resources?type=ec2:instances",
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_resource_type");
    // Each Price List question was asked once, then served from the cache.
    let asked = pricing.requests();
    assert!(asked > 0);

    // Another workspace sees none of it, and gets 404 for each id.
    let (status, body) = app
        .call("GET", "/api/v1/resources", Some(&other.token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["resources"], json!([]));
    let some_id = find(&all, &m0.volume)["id"].as_str().unwrap().to_string();
    let (status, _) = app
        .call(
            "GET",
            &format!("/api/v1/resources/{some_id}"),
            Some(&other.token),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call("GET", "/api/v1/resources/not-an-id", Some(&ws.token), None)
        .await;
    assert_eq!(status, 404);

    // A terminated instance is gone after the next complete inventory; it comes back with
    // include_gone.
    ec2_in(
        &Customer::new(&moto.endpoint, &members[1].account).await,
        "eu-west-1",
    )
    .terminate_instances()
    .instance_ids(&members[1].instance_eu)
    .send()
    .await
    .unwrap();
    let before = chrono::Utc::now().to_rfc3339();
    let (status, body) = app
        .call(
            "POST",
            &format!("/api/v1/integrations/aws/{id}/sync"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    wait_for_inventory(&app, &ws, 3, &before).await;
    let live = list_all(&app, &ws, "type=ec2:instance").await;
    assert_eq!(live.len(), 3, "{live:#?}");
    let with_gone = list_all(&app, &ws, "type=ec2:instance&include_gone=true").await;
    let gone = find(&with_gone, &members[1].instance_eu);
    assert!(gone["gone_at"].is_string(), "{gone:#}");
    assert_eq!(
        pricing.requests(),
        asked,
        "rates come from the cache the second time"
    );

    // A CUR whose line items name the resources: by id (instances, volumes, buckets) in the
    // members' accounts. The generator's report is rewritten as AWS would have written it.
    let targets: Vec<(String, String)> = members
        .iter()
        .flat_map(|m| {
            [&m.instance_us, &m.instance_eu, &m.volume, &m.bucket]
                .into_iter()
                .map(|r| (m.account.clone(), r.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let (dir, _) = cur_e2e::gen(&cur_bucket, 19, "2024-09", 400, GenFormat::LegacyCsvGzip);
    let expected = std::sync::Mutex::new(BTreeMap::<(String, String), Decimal>::new());
    cur_e2e::upload_rekeyed(&cur_s3, &cur_bucket, dir.path(), |key, body| {
        if !key.ends_with(".csv.gz") {
            return (key.to_owned(), body);
        }
        (
            key.to_owned(),
            assign_resources(&body, &targets, &mut expected.lock().unwrap()),
        )
    })
    .await;
    let expected = expected.into_inner().unwrap();
    assert_eq!(
        expected.len(),
        targets.len(),
        "every resource has line items"
    );
    cur_e2e::sync_until(&app, &ws, &id, "the period ingested", |v| {
        v["cur"]["periods"].as_array().is_some_and(|p| {
            p.iter()
                .any(|p| p["period"] == "2024-09" && p["status"] == "ready")
        })
    })
    .await;

    let all = list_all(&app, &ws, "include_gone=true").await;
    for ((account, resource_id), sum) in &expected {
        let r = find(&all, resource_id);
        assert_eq!(r["account_id"], account.as_str());
        assert_eq!(dec(&r["accrued_cost"]), *sum, "{resource_id}");
        assert_eq!(r["currency"], "USD");
        let (status, detail) = app
            .call(
                "GET",
                &format!("/api/v1/resources/{}", r["id"].as_str().unwrap()),
                Some(&ws.token),
                None,
            )
            .await;
        assert_eq!(status, 200, "{detail}");
        let by_day: Decimal = detail["costs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| dec(&d["amount"]))
            .sum();
        assert_eq!(by_day, *sum, "{detail:#}");
        assert!(detail["costs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["day"].as_str().unwrap().starts_with("2024-09-")));
    }
    // A resource without line items has an accrued cost of zero once the CUR is in.
    let root_volumes: Vec<&Value> = all
        .iter()
        .filter(|r| {
            r["type"] == "ec2:volume"
                && !expected
                    .keys()
                    .any(|(_, id)| r["resource_id"] == id.as_str())
        })
        .collect();
    assert!(!root_volumes.is_empty());
    assert!(
        root_volumes
            .iter()
            .all(|r| dec(&r["accrued_cost"]).is_zero()),
        "{root_volumes:#?}"
    );
}

/// Rewrites a gzipped legacy CUR CSV: usage line items that name a resource are spread over
/// `targets` (account and resource id), round robin; the unblended cost of each is added to
/// `expected` for its target.
fn assign_resources(
    gz: &[u8],
    targets: &[(String, String)],
    expected: &mut BTreeMap<(String, String), Decimal>,
) -> Vec<u8> {
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut text)
        .unwrap();
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_slice());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let (account, resource, cost, kind) = (
        col("lineItem/UsageAccountId"),
        col("lineItem/ResourceId"),
        col("lineItem/UnblendedCost"),
        col("lineItem/LineItemType"),
    );
    let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
    writer.write_record(&headers).unwrap();
    let mut next = 0usize;
    for record in reader.records() {
        let record = record.unwrap();
        let mut fields: Vec<String> = record.iter().map(str::to_string).collect();
        if fields[kind] == "Usage" && !fields[resource].is_empty() {
            let (a, r) = &targets[next % targets.len()];
            next += 1;
            fields[account] = a.clone();
            fields[resource] = r.clone();
            let c: Decimal = fields[cost].parse().unwrap();
            *expected.entry((a.clone(), r.clone())).or_default() += c;
        }
        writer.write_record(&fields).unwrap();
    }
    let csv = writer.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&csv).unwrap();
    gz.finish().unwrap()
}
