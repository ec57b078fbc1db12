//! The gateway against the moto emulator: role sessions in another account, organization
//! pagination and classification, S3 listing and streaming, member-role probes, revocation.
//!
//! moto switches accounts by the credentials of an assumed role (and assumes any role ARN), so a
//! "customer" account is reached by assuming a role in it; the gateway does exactly that.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use costline_aws::{AccountType, AwsError, AwsGateway, GatewayConfig};
use costline_domain::{ExternalId, RoleArn};
use costline_testkit::moto;
use std::collections::BTreeSet;
use tokio::io::AsyncReadExt;

/// Administrator credentials of `account_id` on the emulator (to set things up as the customer).
async fn customer_config(endpoint: &str, account_id: &str) -> SdkConfig {
    let platform = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    let c = aws_sdk_sts::Client::new(&platform)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account_id}:role/Admin"))
        .role_session_name("setup")
        .send()
        .await
        .expect("assume a role in the customer account")
        .credentials
        .unwrap();
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            None,
            "customer",
        ))
        .load()
        .await
}

fn role(account_id: &str) -> RoleArn {
    RoleArn::parse(&format!("arn:aws:iam::{account_id}:role/CostlineReadOnly")).unwrap()
}

#[tokio::test]
async fn list_accounts_reads_every_page_and_accounts_are_classified() {
    let moto = moto().await;
    let customer = customer_config(&moto.endpoint, "710000000001").await;
    let orgs = aws_sdk_organizations::Client::new(&customer);
    orgs.create_organization().send().await.unwrap();
    for n in 1..=44 {
        orgs.create_account()
            .account_name(format!("acct-{n:02}"))
            .email(format!("acct-{n:02}@example.test"))
            .send()
            .await
            .unwrap();
    }
    // The emulator honours the page size, so 45 accounts take three pages of 20.
    let first = orgs.list_accounts().max_results(20).send().await.unwrap();
    assert_eq!(first.accounts().len(), 20);
    assert!(first.next_token().is_some());

    let gateway = AwsGateway::new(GatewayConfig::for_emulator(&moto.endpoint));
    let external_id = ExternalId::generate();
    let session = gateway
        .assume(&role("710000000001"), &external_id, "costline-test")
        .await
        .unwrap();
    let accounts = session.list_accounts_in_pages(20).await.unwrap();
    assert_eq!(accounts.len(), 45);
    let ids: BTreeSet<String> = accounts.iter().map(|a| a.id.to_string()).collect();
    assert_eq!(ids.len(), 45, "no account listed twice");
    assert!(ids.contains("710000000001"));
    assert!(accounts.iter().any(|a| a.name == "acct-44"));
    assert!(accounts.iter().all(|a| a.joined_at.is_some()));
    assert_eq!(session.list_accounts().await.unwrap().len(), 45);

    let verification = session.verify().await.unwrap();
    assert_eq!(verification.account_type, AccountType::Management);
    let roots = session.list_roots().await.unwrap();
    assert_eq!(roots.len(), 1);
    assert!(roots[0].starts_with("r-"), "{roots:?}");

    let member = accounts.iter().find(|a| a.name == "acct-07").unwrap();
    let member_session = gateway
        .assume(&role(&member.id.to_string()), &external_id, "costline-test")
        .await
        .unwrap();
    assert_eq!(
        member_session.classify().await.unwrap(),
        AccountType::Member
    );

    let alone = gateway
        .assume(&role("710000000099"), &external_id, "costline-test")
        .await
        .unwrap();
    assert_eq!(alone.classify().await.unwrap(), AccountType::Standalone);
}

#[tokio::test]
async fn objects_are_listed_page_by_page_and_streamed() {
    let moto = moto().await;
    let customer = customer_config(&moto.endpoint, "710000000002").await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&customer)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket("cur-bucket")
        .send()
        .await
        .unwrap();
    for n in 0..25 {
        s3.put_object()
            .bucket("cur-bucket")
            .key(format!("cur/report/20240901-20241001/part-{n:02}.csv.gz"))
            .body(format!("file {n}").into_bytes().into())
            .send()
            .await
            .unwrap();
    }
    s3.put_object()
        .bucket("cur-bucket")
        .key("other/ignored.txt")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    // 3 MiB of a pattern that catches reordered or dropped chunks.
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    s3.put_object()
        .bucket("cur-bucket")
        .key("cur/report/big.bin")
        .body(big.clone().into())
        .send()
        .await
        .unwrap();

    let gateway = AwsGateway::new(GatewayConfig::for_emulator(&moto.endpoint));
    let session = gateway
        .assume(
            &role("710000000002"),
            &ExternalId::generate(),
            "costline-test",
        )
        .await
        .unwrap();
    let objects = session
        .list_objects_in_pages("cur-bucket", "cur/report/20240901-20241001/", 7)
        .await
        .unwrap();
    assert_eq!(objects.len(), 25);
    let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "key order");
    assert_eq!(objects[3].size, "file 3".len() as u64);
    assert_eq!(
        session
            .list_common_prefixes("cur-bucket", "cur/report/")
            .await
            .unwrap(),
        vec!["cur/report/20240901-20241001/".to_string()]
    );

    let stream = session
        .get_object_stream("cur-bucket", "cur/report/big.bin")
        .await
        .unwrap();
    assert_eq!(stream.size, Some(big.len() as u64));
    let mut read = Vec::new();
    stream
        .into_async_read()
        .read_to_end(&mut read)
        .await
        .unwrap();
    assert_eq!(read.len(), big.len());
    assert!(read == big, "streamed bytes differ from the object");

    match session
        .get_object_bytes("cur-bucket", "cur/report/big.bin", 1024)
        .await
    {
        Err(AwsError::ObjectTooLarge { size, .. }) => assert_eq!(size, big.len() as u64),
        other => panic!("expected ObjectTooLarge, got {other:?}"),
    }
    match session.get_object_stream("cur-bucket", "cur/missing").await {
        Err(AwsError::NoSuchKey { key, .. }) => assert_eq!(key, "cur/missing"),
        other => panic!("expected NoSuchKey, got {other:?}"),
    }
    match session.list_objects("no-such-bucket", "").await {
        Err(e @ AwsError::NoSuchBucket { .. }) => {
            assert!(e.to_string().contains("no-such-bucket"), "{e}")
        }
        other => panic!("expected NoSuchBucket, got {other:?}"),
    }
}

#[tokio::test]
async fn member_role_probes_cache_nothing_and_stop_at_revocation() {
    let moto = moto().await;
    let gateway = AwsGateway::new(GatewayConfig::for_emulator(&moto.endpoint));
    let external_id = ExternalId::generate();
    let identity = gateway
        .probe_role(&role("710000000003"), &external_id, "costline-test")
        .await
        .unwrap();
    assert_eq!(identity.account_id.to_string(), "710000000003");
    assert_eq!(
        gateway.cached_sessions(),
        0,
        "a probe leaves no session behind"
    );

    let session = gateway
        .assume(&role("710000000004"), &external_id, "costline-test")
        .await
        .unwrap();
    assert_eq!(gateway.cached_sessions(), 1);
    gateway.forget_integration(&external_id);
    assert_eq!(gateway.cached_sessions(), 0);
    assert!(matches!(
        session.caller_identity().await,
        Err(AwsError::Revoked { .. })
    ));
    assert!(matches!(
        gateway
            .probe_role(&role("710000000003"), &external_id, "costline-test")
            .await,
        Err(AwsError::Revoked { .. })
    ));
    assert!(matches!(
        gateway
            .assume(&role("710000000004"), &external_id, "costline-test")
            .await,
        Err(AwsError::Revoked { .. })
    ));
}

#[tokio::test]
async fn buckets_are_read_from_their_own_region_found_once() {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    let moto = moto().await;
    let customer = customer_config(&moto.endpoint, "710000000005").await;
    let s3_in = |region: &'static str| {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&customer)
                .region(Region::new(region))
                .force_path_style(true)
                .build(),
        )
    };
    let create = |region: &'static str, bucket: &'static str, constraint: Option<&'static str>| {
        let s3 = s3_in(region);
        async move {
            let mut request = s3.create_bucket().bucket(bucket);
            if let Some(constraint) = constraint {
                request = request.create_bucket_configuration(
                    CreateBucketConfiguration::builder()
                        .location_constraint(BucketLocationConstraint::from(constraint))
                        .build(),
                );
            }
            request.send().await.unwrap();
            s3.put_object()
                .bucket(bucket)
                .key("cur/report/20240901-20241001/report-Manifest.json")
                .body(format!("in {bucket}").into_bytes().into())
                .send()
                .await
                .unwrap();
        }
    };
    create("eu-west-1", "cur-in-ireland", Some("eu-west-1")).await;
    create("ap-southeast-2", "cur-in-sydney", Some("ap-southeast-2")).await;
    // S3's legacy spellings: no constraint is us-east-1, "EU" is eu-west-1.
    create("us-east-1", "cur-in-virginia", None).await;
    create("us-east-1", "cur-in-legacy-eu", Some("EU")).await;

    let gateway = AwsGateway::new(GatewayConfig::for_emulator(&moto.endpoint));
    let session = gateway
        .assume(
            &role("710000000005"),
            &ExternalId::generate(),
            "costline-test",
        )
        .await
        .unwrap();
    for (bucket, region) in [
        ("cur-in-ireland", "eu-west-1"),
        ("cur-in-sydney", "ap-southeast-2"),
        ("cur-in-virginia", "us-east-1"),
        ("cur-in-legacy-eu", "eu-west-1"),
    ] {
        assert_eq!(
            session.bucket_region(bucket).await.unwrap().as_deref(),
            Some(region),
            "{bucket}"
        );
        assert_eq!(
            session.s3_region_for(bucket).await.unwrap(),
            region,
            "{bucket}"
        );
        let listed = session.list_objects(bucket, "cur/report/").await.unwrap();
        assert_eq!(listed.len(), 1, "{bucket}: {listed:?}");
        let manifest = session
            .get_object_bytes(bucket, &listed[0].key, 1024)
            .await
            .unwrap();
        assert_eq!(manifest, format!("in {bucket}").into_bytes());
    }

    // Found once per bucket: once the bucket is gone, the session still knows where it was,
    // while a new session (of another external id) has to ask, and is told it does not exist.
    let ireland = s3_in("eu-west-1");
    ireland
        .delete_object()
        .bucket("cur-in-ireland")
        .key("cur/report/20240901-20241001/report-Manifest.json")
        .send()
        .await
        .unwrap();
    ireland
        .delete_bucket()
        .bucket("cur-in-ireland")
        .send()
        .await
        .unwrap();
    assert_eq!(
        session
            .bucket_region("cur-in-ireland")
            .await
            .unwrap()
            .as_deref(),
        Some("eu-west-1")
    );
    let fresh = gateway
        .assume(
            &role("710000000005"),
            &ExternalId::generate(),
            "costline-test",
        )
        .await
        .unwrap();
    assert!(
        matches!(
            fresh.bucket_region("cur-in-ireland").await,
            Err(AwsError::NoSuchBucket { .. })
        ),
        "a new session asks S3"
    );
}
