//! Load balancers, RDS, Lambda (through the tagging API), DynamoDB and EKS.

use super::{FoundResource, Scope};
use crate::error::{self, AwsError, Target};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use costline_domain::{PriceQuery, RateBasis, ResourceType};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

fn failed<E>(
    service: &'static str,
    operation: &'static str,
) -> impl FnOnce(SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |e| error::from_sdk(service, operation, Target::Session, e)
}

/// DescribeTags takes at most 20 load balancers per call.
const ELB_TAGS_PER_CALL: usize = 20;

pub(crate) async fn load_balancers(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    scope: &Scope,
) -> Result<Vec<FoundResource>, AwsError> {
    let mut pages = elb.describe_load_balancers().into_paginator().send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(failed("elasticloadbalancing", "DescribeLoadBalancers"))?;
        for lb in page.load_balancers() {
            let Some(arn) = lb.load_balancer_arn() else {
                continue;
            };
            let family = match lb.r#type().map(|t| t.as_str()) {
                Some("network") => "Load Balancer-Network",
                Some("gateway") => "Load Balancer-Gateway",
                _ => "Load Balancer-Application",
            };
            found.push(FoundResource {
                resource_type: ResourceType::Elbv2LoadBalancer,
                resource_id: arn.to_string(),
                arn: arn.to_string(),
                region: scope.region.clone(),
                name: lb.load_balancer_name().unwrap_or_default().to_string(),
                tags: BTreeMap::new(),
                state: lb
                    .state()
                    .and_then(|s| s.code())
                    .map(|c| c.as_str().to_string()),
                price: Some((
                    PriceQuery::new(
                        "AWSELB",
                        &[("regionCode", &scope.region), ("productFamily", family)],
                        "Hrs",
                        RateBasis::Hourly,
                    ),
                    Decimal::ONE,
                )),
            });
        }
    }
    for batch in found.chunks_mut(ELB_TAGS_PER_CALL) {
        let arns: Vec<String> = batch.iter().map(|r| r.arn.clone()).collect();
        let out = elb
            .describe_tags()
            .set_resource_arns(Some(arns))
            .send()
            .await
            .map_err(failed("elasticloadbalancing", "DescribeTags"))?;
        for description in out.tag_descriptions() {
            let Some(r) = batch
                .iter_mut()
                .find(|r| Some(r.arn.as_str()) == description.resource_arn())
            else {
                continue;
            };
            r.tags = description
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_string(),
                        t.value().unwrap_or_default().to_string(),
                    ))
                })
                .collect();
        }
    }
    Ok(found)
}

/// The Price List's `databaseEngine` for an RDS engine name, when Costline prices it (licensed
/// engines have editions and license models to choose from).
fn database_engine(engine: &str) -> Option<&'static str> {
    Some(match engine {
        "mysql" => "MySQL",
        "postgres" => "PostgreSQL",
        "mariadb" => "MariaDB",
        "aurora-mysql" | "aurora" => "Aurora MySQL",
        "aurora-postgresql" => "Aurora PostgreSQL",
        _ => return None,
    })
}

pub(crate) async fn db_instances(
    rds: &aws_sdk_rds::Client,
    scope: &Scope,
) -> Result<Vec<FoundResource>, AwsError> {
    let mut pages = rds.describe_db_instances().into_paginator().send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(failed("rds", "DescribeDBInstances"))?;
        for db in page.db_instances() {
            let Some(id) = db.db_instance_identifier() else {
                continue;
            };
            let arn = db
                .db_instance_arn()
                .map(str::to_string)
                .unwrap_or_else(|| scope.arn("rds", &format!("db:{id}")));
            let tags: BTreeMap<String, String> = db
                .tag_list()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_string(),
                        t.value().unwrap_or_default().to_string(),
                    ))
                })
                .collect();
            let price = match (
                db.db_instance_class(),
                db.engine().and_then(database_engine),
            ) {
                (Some(class), Some(engine)) => Some((
                    PriceQuery::new(
                        "AmazonRDS",
                        &[
                            ("regionCode", &scope.region),
                            ("instanceType", class),
                            ("databaseEngine", engine),
                            (
                                "deploymentOption",
                                if db.multi_az() == Some(true) {
                                    "Multi-AZ"
                                } else {
                                    "Single-AZ"
                                },
                            ),
                        ],
                        "Hrs",
                        RateBasis::Hourly,
                    ),
                    Decimal::ONE,
                )),
                _ => None,
            };
            found.push(FoundResource {
                resource_type: ResourceType::RdsDb,
                resource_id: id.to_string(),
                arn,
                region: scope.region.clone(),
                name: id.to_string(),
                tags,
                state: db.db_instance_status().map(str::to_string),
                price,
            });
        }
    }
    Ok(found)
}

/// The last `:`-separated part of an ARN (a function's or cluster's name).
fn last_part(arn: &str) -> &str {
    arn.rsplit([':', '/']).next().unwrap_or(arn)
}

pub(crate) async fn functions(
    tagging: &aws_sdk_resourcegroupstagging::Client,
    scope: &Scope,
) -> Result<Vec<FoundResource>, AwsError> {
    let mut pages = tagging
        .get_resources()
        .resource_type_filters("lambda:function")
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(failed("tag", "GetResources"))?;
        for r in page.resource_tag_mapping_list() {
            let Some(arn) = r.resource_arn() else {
                continue;
            };
            let name = last_part(arn).to_string();
            let tags: BTreeMap<String, String> = r
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            found.push(FoundResource {
                resource_type: ResourceType::LambdaFunction,
                resource_id: name.clone(),
                arn: arn.to_string(),
                region: scope.region.clone(),
                name,
                tags,
                state: None,
                price: None,
            });
        }
    }
    Ok(found)
}

pub(crate) async fn tables(
    dynamodb: &aws_sdk_dynamodb::Client,
    scope: &Scope,
) -> Result<Vec<FoundResource>, AwsError> {
    let mut names = Vec::new();
    let mut pages = dynamodb.list_tables().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(failed("dynamodb", "ListTables"))?;
        names.extend(page.table_names().iter().cloned());
    }
    let mut found = Vec::new();
    for name in names {
        let described = dynamodb
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .map_err(failed("dynamodb", "DescribeTable"))?;
        let table = described.table();
        let arn = table
            .and_then(|t| t.table_arn())
            .map(str::to_string)
            .unwrap_or_else(|| scope.arn("dynamodb", &format!("table/{name}")));
        let mut tags = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let out = dynamodb
                .list_tags_of_resource()
                .resource_arn(&arn)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(failed("dynamodb", "ListTagsOfResource"))?;
            for t in out.tags() {
                tags.insert(t.key().to_string(), t.value().to_string());
            }
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        found.push(FoundResource {
            resource_type: ResourceType::DynamodbTable,
            resource_id: name.clone(),
            arn,
            region: scope.region.clone(),
            name,
            tags,
            state: table
                .and_then(|t| t.table_status())
                .map(|s| s.as_str().to_string()),
            price: None,
        });
    }
    Ok(found)
}

pub(crate) async fn clusters(
    eks: &aws_sdk_eks::Client,
    scope: &Scope,
) -> Result<Vec<FoundResource>, AwsError> {
    let mut names = Vec::new();
    let mut pages = eks.list_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(failed("eks", "ListClusters"))?;
        names.extend(page.clusters().iter().cloned());
    }
    let mut found = Vec::new();
    for name in names {
        let out = eks
            .describe_cluster()
            .name(&name)
            .send()
            .await
            .map_err(failed("eks", "DescribeCluster"))?;
        let cluster = out.cluster();
        let tags: BTreeMap<String, String> = cluster
            .and_then(|c| c.tags())
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        found.push(FoundResource {
            resource_type: ResourceType::EksCluster,
            resource_id: name.clone(),
            arn: cluster
                .and_then(|c| c.arn())
                .map(str::to_string)
                .unwrap_or_else(|| scope.arn("eks", &format!("cluster/{name}"))),
            region: scope.region.clone(),
            name,
            tags,
            state: cluster
                .and_then(|c| c.status())
                .map(|s| s.as_str().to_string()),
            price: Some((
                PriceQuery::new(
                    "AmazonEKS",
                    &[("regionCode", &scope.region), ("productFamily", "Compute")],
                    "Hrs",
                    RateBasis::Hourly,
                ),
                Decimal::ONE,
            )),
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_arn() {
        assert_eq!(
            last_part("arn:aws:lambda:us-east-1:111111111111:function:resize"),
            "resize"
        );
        assert_eq!(
            last_part("arn:aws:eks:us-east-1:111111111111:cluster/prod"),
            "prod"
        );
    }

    #[test]
    fn licensed_engines_are_not_priced() {
        assert_eq!(database_engine("postgres"), Some("PostgreSQL"));
        assert_eq!(database_engine("oracle-ee"), None);
    }
}
