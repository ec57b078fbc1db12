//! The AWS Price List Query API (pricing:GetProducts): on-demand prices of the resources the
//! inventory finds, before any Cost and Usage Report tells what they really cost.
//!
//! The API lives in one region per partition (us-east-1 for `aws`, cn-northwest-1 for
//! `aws-cn`; GovCloud has none) and answers each product as a JSON document in a string.
//! [`parse_price_list`] reads the on-demand price dimensions of the unit asked for and keeps the
//! lowest non-zero price (several products can match one question, e.g. an EKS cluster on
//! standard and on extended support).

use crate::error::{self, AwsError, Target};
use crate::session::RoleSession;
use aws_config::Region;
use aws_sdk_pricing::types::{Filter, FilterType};
use costline_domain::{AwsPartition, PriceQuery};
use rust_decimal::Decimal;
use serde_json::Value;

/// One on-demand price, as the Price List answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPrice {
    /// The product's SKU.
    pub sku: String,
    /// `USD` (`CNY` in China).
    pub currency: String,
    /// The price of one unit (`Hrs`, `GB-Mo`, ...).
    pub price: Decimal,
    /// AWS's description of the price, e.g. `$0.096 per On Demand Linux m5.large Instance Hour`.
    pub description: String,
}

/// The region the Price List Query API answers in for `partition`; `None` where it has none.
pub fn pricing_region(partition: AwsPartition) -> Option<&'static str> {
    match partition {
        AwsPartition::Aws => Some("us-east-1"),
        AwsPartition::AwsCn => Some("cn-northwest-1"),
        AwsPartition::AwsUsGov => None,
    }
}

/// The lowest non-zero on-demand price of `unit` among the products of a GetProducts answer
/// (each a JSON document); `InvalidResponse` for a document that is not JSON.
pub fn parse_price_list<S: AsRef<str>>(
    documents: &[S],
    unit: &str,
) -> Result<Option<UnitPrice>, AwsError> {
    let mut best: Option<UnitPrice> = None;
    for document in documents {
        let product: Value =
            serde_json::from_str(document.as_ref()).map_err(|_| AwsError::InvalidResponse {
                service: "pricing",
                operation: "GetProducts",
                what: "a JSON price list document".to_string(),
            })?;
        let sku = product["product"]["sku"].as_str().unwrap_or_default();
        let Some(terms) = product["terms"]["OnDemand"].as_object() else {
            continue;
        };
        for term in terms.values() {
            let Some(dimensions) = term["priceDimensions"].as_object() else {
                continue;
            };
            for dimension in dimensions.values() {
                if dimension["unit"].as_str() != Some(unit) {
                    continue;
                }
                let Some((currency, price)) = dimension["pricePerUnit"]
                    .as_object()
                    .and_then(|p| p.iter().next())
                    .and_then(|(c, v)| Some((c.clone(), v.as_str()?.parse::<Decimal>().ok()?)))
                else {
                    continue;
                };
                if price.is_zero() {
                    continue;
                }
                let candidate = UnitPrice {
                    sku: sku.to_string(),
                    currency,
                    price: price.normalize(),
                    description: dimension["description"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                };
                let better = match &best {
                    None => true,
                    Some(b) => (candidate.price, &candidate.sku) < (b.price, &b.sku),
                };
                if better {
                    best = Some(candidate);
                }
            }
        }
    }
    Ok(best)
}

impl RoleSession {
    /// The on-demand price `query` asks for, `None` when no product matches (or the
    /// partition has no Price List API).
    pub async fn unit_price(&self, query: &PriceQuery) -> Result<Option<UnitPrice>, AwsError> {
        self.ensure_live()?;
        let Some(region) = pricing_region(self.role_arn().partition()) else {
            return Ok(None);
        };
        let mut config = aws_sdk_pricing::config::Builder::from(&self.inner.config)
            .region(Region::new(region))
            .retry_config(crate::inventory_retry_config());
        if let Some(url) = &self.inner.pricing_endpoint_url {
            config = config.endpoint_url(url);
        }
        let client = aws_sdk_pricing::Client::from_conf(config.build());
        let mut request = client
            .get_products()
            .service_code(&query.service_code)
            .format_version("aws_v1");
        for (field, value) in &query.filters {
            request = request.filters(
                Filter::builder()
                    .r#type(FilterType::TermMatch)
                    .field(field)
                    .value(value)
                    .build()
                    .map_err(|e| AwsError::InvalidResponse {
                        service: "pricing",
                        operation: "GetProducts",
                        what: format!("a valid filter ({e})"),
                    })?,
            );
        }
        let mut documents = Vec::new();
        let mut pages = request.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| error::from_sdk("pricing", "GetProducts", Target::Session, e))?;
            documents.extend(page.price_list().iter().cloned());
        }
        parse_price_list(&documents, &query.unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M5_LARGE: &str =
        include_str!("../../../tests/fixtures/pricing/ec2-m5-large-us-east-1.json");

    fn documents(answer: &str) -> Vec<String> {
        let v: Value = serde_json::from_str(answer).unwrap();
        v["PriceList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn the_hourly_on_demand_price_is_read_from_the_recorded_answer() {
        // The answer's first product is the on-demand one (`capacitystatus` Used); the second is
        // capacity-reservation usage at the same price, with a smaller SKU: a tie goes to it.
        let all = documents(M5_LARGE);
        let price = parse_price_list(&all[..1], "Hrs").unwrap().unwrap();
        let tie = parse_price_list(&all, "Hrs").unwrap().unwrap();
        assert_eq!(
            (tie.sku.as_str(), tie.price),
            ("2WTMTR9HDDT7AA73", price.price)
        );
        assert_eq!(price.price.to_string(), "0.096");
        assert_eq!(price.currency, "USD");
        assert_eq!(price.sku, "8KNGWE3ZKVP5CJXG");
        assert!(
            price.description.contains("m5.large"),
            "{}",
            price.description
        );
        // No dimension of another unit is taken.
        assert_eq!(
            parse_price_list(&documents(M5_LARGE), "GB-Mo").unwrap(),
            None
        );
    }

    #[test]
    fn the_lowest_non_zero_price_wins_and_garbage_is_an_error() {
        let doc = |sku: &str, price: &str| {
            serde_json::json!({
                "product": {"sku": sku},
                "terms": {"OnDemand": {format!("{sku}.JRTCKXETXF"): {"priceDimensions": {
                    format!("{sku}.JRTCKXETXF.6YS6EN2CT7"): {"unit": "Hrs", "pricePerUnit": {"USD": price}, "description": sku}
                }}}}
            })
            .to_string()
        };
        let best = parse_price_list(
            &[doc("B", "0.60"), doc("A", "0.10"), doc("C", "0.0000000000")],
            "Hrs",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (best.sku.as_str(), best.price.to_string().as_str()),
            ("A", "0.1")
        );
        assert!(parse_price_list(&["not json"], "Hrs").is_err());
        assert_eq!(parse_price_list::<&str>(&[], "Hrs").unwrap(), None);
    }
}
