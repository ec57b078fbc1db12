//! EC2: regions, instances, volumes, Elastic IPs, NAT gateways.

use super::{name_tag, FoundResource, Scope};
use crate::error::{self, AwsError, Target};
use costline_domain::{PriceQuery, RateBasis, ResourceType};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

fn tags_of(tags: &[aws_sdk_ec2::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn failed<E>(
    operation: &'static str,
) -> impl FnOnce(
    aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> AwsError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    move |e| error::from_sdk("ec2", operation, Target::Session, e)
}

pub(crate) async fn enabled_regions(ec2: &aws_sdk_ec2::Client) -> Result<Vec<String>, AwsError> {
    // Without AllRegions, DescribeRegions answers the regions enabled for the account only.
    let out = ec2
        .describe_regions()
        .send()
        .await
        .map_err(failed("DescribeRegions"))?;
    let mut regions: Vec<String> = out
        .regions()
        .iter()
        .filter(|r| r.opt_in_status() != Some("not-opted-in"))
        .filter_map(|r| r.region_name().map(str::to_string))
        .collect();
    regions.sort();
    regions.dedup();
    Ok(regions)
}

/// The Price List's `operatingSystem` for an instance's platform details, when Costline prices
/// it (images with paid software are priced by their own products).
fn operating_system(platform_details: Option<&str>) -> Option<(&'static str, &'static str)> {
    match platform_details.unwrap_or("Linux/UNIX") {
        "Linux/UNIX" => Some(("Linux", "No License required")),
        "Windows" => Some(("Windows", "License Included")),
        "Red Hat Enterprise Linux" => Some(("RHEL", "No License required")),
        "SUSE Linux" => Some(("SUSE", "No License required")),
        _ => None,
    }
}

fn tenancy(placement: Option<&aws_sdk_ec2::types::Placement>) -> &'static str {
    match placement.and_then(|p| p.tenancy()).map(|t| t.as_str()) {
        Some("dedicated") => "Dedicated",
        Some("host") => "Host",
        _ => "Shared",
    }
}

/// The on-demand question of an instance of `instance_type` in `region`.
pub(crate) fn instance_price(
    region: &str,
    instance_type: &str,
    platform_details: Option<&str>,
    tenancy: &str,
) -> Option<PriceQuery> {
    let (os, license) = operating_system(platform_details)?;
    Some(PriceQuery::new(
        "AmazonEC2",
        &[
            ("regionCode", region),
            ("instanceType", instance_type),
            ("operatingSystem", os),
            ("licenseModel", license),
            ("tenancy", tenancy),
            ("preInstalledSw", "NA"),
            ("capacitystatus", "Used"),
        ],
        "Hrs",
        RateBasis::Hourly,
    ))
}

pub(crate) async fn instances(
    ec2: &aws_sdk_ec2::Client,
    scope: &Scope,
) -> Result<Vec<FoundResource>, AwsError> {
    let mut pages = ec2
        .describe_instances()
        .max_results(1000)
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(failed("DescribeInstances"))?;
        for reservation in page.reservations() {
            for i in reservation.instances() {
                let Some(id) = i.instance_id() else { continue };
                let state = i
                    .state()
                    .and_then(|s| s.name())
                    .map(|s| s.as_str().to_string());
                // Terminated instances linger in the answer for about an hour: they are gone.
                if state.as_deref() == Some("terminated") {
                    continue;
                }
                let tags = tags_of(i.tags());
                let price = i.instance_type().and_then(|t| {
                    instance_price(
                        &scope.region,
                        t.as_str(),
                        i.platform_details(),
                        tenancy(i.placement()),
                    )
                });
                found.push(FoundResource {
                    resource_type: ResourceType::Ec2Instance,
                    resource_id: id.to_string(),
                    arn: scope.arn("ec2", &format!("instance/{id}")),
                    region: scope.region.clone(),
                    name: name_tag(&tags).unwrap_or_default(),
                    tags,
                    state,
                    price: price.map(|q| (q, Decimal::ONE)),
                });
            }
        }
    }
    Ok(found)
}

pub(crate) async fn volumes(
    ec2: &aws_sdk_ec2::Client,
    scope: &Scope,
) -> Result<Vec<FoundResource>, AwsError> {
    let mut pages = ec2
        .describe_volumes()
        .max_results(500)
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(failed("DescribeVolumes"))?;
        for v in page.volumes() {
            let Some(id) = v.volume_id() else { continue };
            let tags = tags_of(v.tags());
            let price = match (v.volume_type(), v.size()) {
                (Some(kind), Some(size)) => Some((
                    PriceQuery::new(
                        "AmazonEC2",
                        &[
                            ("regionCode", &scope.region),
                            ("productFamily", "Storage"),
                            ("volumeApiName", kind.as_str()),
                        ],
                        "GB-Mo",
                        RateBasis::MonthlyPerUnit,
                    ),
                    Decimal::from(size),
                )),
                _ => None,
            };
            found.push(FoundResource {
                resource_type: ResourceType::Ec2Volume,
                resource_id: id.to_string(),
                arn: scope.arn("ec2", &format!("volume/{id}")),
                region: scope.region.clone(),
                name: name_tag(&tags).unwrap_or_default(),
                tags,
                state: v.state().map(|s| s.as_str().to_string()),
                price,
            });
        }
    }
    Ok(found)
}

pub(crate) async fn addresses(
    ec2: &aws_sdk_ec2::Client,
    scope: &Scope,
) -> Result<Vec<FoundResource>, AwsError> {
    // DescribeAddresses has no pages: it answers every address of the region at once.
    let out = ec2
        .describe_addresses()
        .send()
        .await
        .map_err(failed("DescribeAddresses"))?;
    let mut found = Vec::new();
    for a in out.addresses() {
        let Some(id) = a.allocation_id().or(a.public_ip()) else {
            continue;
        };
        let tags = tags_of(a.tags());
        let state = if a.association_id().is_some() {
            "associated"
        } else {
            "unassociated"
        };
        found.push(FoundResource {
            resource_type: ResourceType::Ec2ElasticIp,
            resource_id: id.to_string(),
            arn: scope.arn("ec2", &format!("elastic-ip/{id}")),
            region: scope.region.clone(),
            name: name_tag(&tags)
                .or_else(|| a.public_ip().map(str::to_string))
                .unwrap_or_default(),
            tags,
            state: Some(state.to_string()),
            price: Some((
                PriceQuery::new(
                    "AmazonVPC",
                    &[
                        ("regionCode", &scope.region),
                        ("productFamily", "VPC Public IPv4 Address"),
                    ],
                    "Hrs",
                    RateBasis::Hourly,
                ),
                Decimal::ONE,
            )),
        });
    }
    Ok(found)
}

pub(crate) async fn nat_gateways(
    ec2: &aws_sdk_ec2::Client,
    scope: &Scope,
) -> Result<Vec<FoundResource>, AwsError> {
    let mut pages = ec2
        .describe_nat_gateways()
        .max_results(1000)
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(failed("DescribeNatGateways"))?;
        for n in page.nat_gateways() {
            let Some(id) = n.nat_gateway_id() else {
                continue;
            };
            let state = n.state().map(|s| s.as_str().to_string());
            if state.as_deref() == Some("deleted") {
                continue;
            }
            let tags = tags_of(n.tags());
            found.push(FoundResource {
                resource_type: ResourceType::Ec2NatGateway,
                resource_id: id.to_string(),
                arn: scope.arn("ec2", &format!("natgateway/{id}")),
                region: scope.region.clone(),
                name: name_tag(&tags).unwrap_or_default(),
                tags,
                state,
                price: Some((
                    PriceQuery::new(
                        "AmazonEC2",
                        &[
                            ("regionCode", &scope.region),
                            ("productFamily", "NAT Gateway"),
                        ],
                        "Hrs",
                        RateBasis::Hourly,
                    ),
                    Decimal::ONE,
                )),
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_shared_instances_are_priced_and_marketplace_images_are_not() {
        let q = instance_price("eu-west-1", "m5.large", Some("Linux/UNIX"), "Shared").unwrap();
        assert_eq!(q.service_code, "AmazonEC2");
        assert!(q
            .filters
            .contains(&("operatingSystem".into(), "Linux".into())));
        assert!(q
            .filters
            .contains(&("regionCode".into(), "eu-west-1".into())));
        assert_eq!(q.unit, "Hrs");
        assert!(instance_price(
            "eu-west-1",
            "m5.large",
            Some("Linux with SQL Server Web"),
            "Shared"
        )
        .is_none());
        let windows =
            instance_price("eu-west-1", "m5.large", Some("Windows"), "Dedicated").unwrap();
        assert!(windows
            .filters
            .contains(&("tenancy".into(), "Dedicated".into())));
    }
}
