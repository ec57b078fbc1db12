//! Active Resources, shared by the JSON API and the console: the list's query (a 400 names what
//! is wrong with it), one resource with its daily costs, and each account's coverage.

use crate::error::{ApiError, ApiResult};
use crate::views::{
    CoverageOut, CoveragesOut, ResourceDayOut, ResourceDetailOut, ResourceOut, ResourcesOut,
};
use crate::AppState;
use base64::Engine;
use costline_domain::{AccountId, ResourceId, ResourceType, WorkspaceId};
use costline_store::resources::{self, ResourceCursor, ResourceFilter};
use costline_store::StoreError;

/// Resources per page unless `limit` says otherwise.
pub(crate) const DEFAULT_PAGE: usize = 100;
/// The largest `limit`.
pub(crate) const MAX_PAGE: usize = 500;

/// `GET /api/v1/resources`' parameters, parsed.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResourceQuery {
    pub(crate) filter: ResourceFilter,
    pub(crate) after: Option<ResourceCursor>,
    pub(crate) limit: usize,
}

type Invalid = (&'static str, String);

fn encode_cursor(cursor: &ResourceCursor) -> String {
    let json = serde_json::to_vec(cursor).expect("a cursor serializes");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(text: &str) -> Result<ResourceCursor, Invalid> {
    let invalid = || {
        (
            "invalid_cursor",
            "cursor is not one this API gave: pass the next_cursor of the previous page as is, \
             or leave it out for the first page"
                .to_string(),
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| invalid())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid())
}

impl ResourceQuery {
    /// Parses `type=&account=&region=&tag:K=V&cursor=&limit=&include_gone=`.
    pub(crate) fn parse(raw: Option<&str>) -> Result<ResourceQuery, Invalid> {
        let mut q = ResourceQuery {
            limit: DEFAULT_PAGE,
            ..Default::default()
        };
        for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if value.is_empty() {
                continue;
            }
            match name.as_ref() {
                "type" => {
                    q.filter.resource_type = Some(value.parse::<ResourceType>().map_err(|_| {
                        let types: Vec<&str> =
                            ResourceType::ALL.iter().map(|t| t.as_str()).collect();
                        (
                            "invalid_resource_type",
                            format!(
                                "type {value:?} is not a resource type: use one of {}",
                                types.join(", ")
                            ),
                        )
                    })?)
                }
                "account" => {
                    AccountId::parse(&value).map_err(|_| {
                        (
                            "invalid_account",
                            format!(
                                "account {value:?} is not an AWS account id: give its 12 digits"
                            ),
                        )
                    })?;
                    q.filter.account_id = Some(value.into_owned());
                }
                "region" => {
                    if !value
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    {
                        return Err((
                            "invalid_region",
                            format!("region {value:?} is not a region code like us-east-1"),
                        ));
                    }
                    q.filter.region = Some(value.into_owned());
                }
                "cursor" => q.after = Some(decode_cursor(&value)?),
                "limit" => {
                    q.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_PAGE).contains(n))
                        .ok_or_else(|| {
                            (
                                "invalid_limit",
                                format!("limit {value:?} must be a number from 1 to {MAX_PAGE}"),
                            )
                        })?
                }
                "include_gone" => {
                    q.filter.include_gone = match value.as_ref() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err((
                                "invalid_include_gone",
                                format!("include_gone {value:?} must be true or false"),
                            ))
                        }
                    }
                }
                other => match other.strip_prefix("tag:") {
                    Some(key) if !key.is_empty() => {
                        q.filter.tags.insert(key.to_string(), value.into_owned());
                    }
                    _ => {
                        return Err((
                            "unknown_parameter",
                            format!(
                                "unknown parameter {other:?}: use type, account, region, \
                                 tag:<key>=<value>, cursor, limit or include_gone"
                            ),
                        ))
                    }
                },
            }
        }
        Ok(q)
    }
}

/// A page of the workspace's resources.
pub(crate) async fn list(
    state: &AppState,
    workspace: WorkspaceId,
    query: &ResourceQuery,
) -> ApiResult<ResourcesOut> {
    let mut scope = state.store.scoped(workspace).await?;
    let (page, next) =
        resources::list(&mut scope, &query.filter, query.after.as_ref(), query.limit).await?;
    scope.commit().await?;
    Ok(ResourcesOut {
        resources: page.iter().map(ResourceOut::from).collect(),
        next_cursor: next.as_ref().map(encode_cursor),
    })
}

/// One resource and its cost by day; 404 for another workspace's.
pub(crate) async fn detail(
    state: &AppState,
    workspace: WorkspaceId,
    id: ResourceId,
) -> ApiResult<ResourceDetailOut> {
    let mut scope = state.store.scoped(workspace).await?;
    let resource = resources::get(&mut scope, id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::NotFound("resource"),
        other => other.into(),
    })?;
    let days = resources::daily_costs(&mut scope, &resource).await?;
    scope.commit().await?;
    Ok(ResourceDetailOut {
        resource: ResourceOut::from(&resource),
        costs: days
            .into_iter()
            .map(|d| ResourceDayOut {
                day: d.day.to_string(),
                amount: d.amount.to_string(),
                currency: d.currency,
            })
            .collect(),
    })
}

/// Every account's inventory coverage.
pub(crate) async fn coverage(state: &AppState, workspace: WorkspaceId) -> ApiResult<CoveragesOut> {
    let mut scope = state.store.scoped(workspace).await?;
    let rows = resources::coverage(&mut scope).await?;
    scope.commit().await?;
    Ok(CoveragesOut {
        accounts: rows.iter().map(CoverageOut::from).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_reads_every_filter_and_names_what_is_wrong() {
        let q = ResourceQuery::parse(Some(
            "type=ec2:volume&account=111122223333&region=eu-west-1&tag:Team=web&tag:env=prod&limit=5",
        ))
        .unwrap();
        assert_eq!(q.filter.resource_type, Some(ResourceType::Ec2Volume));
        assert_eq!(q.filter.account_id.as_deref(), Some("111122223333"));
        assert_eq!(q.filter.region.as_deref(), Some("eu-west-1"));
        assert_eq!(q.filter.tags.len(), 2);
        assert_eq!(q.filter.tags["Team"], "web");
        assert_eq!(q.limit, 5);
        for (raw, code) in [
            ("type=ec2:instances", "invalid_resource_type"),
            ("account=12", "invalid_account"),
            ("region=EU West", "invalid_region"),
            ("cursor=bm90IGEgY3Vyc29y", "invalid_cursor"),
            ("limit=0", "invalid_limit"),
            ("limit=501", "invalid_limit"),
            ("include_gone=yes", "invalid_include_gone"),
            ("sort=name", "unknown_parameter"),
            ("tag:=x", "unknown_parameter"),
        ] {
            let (got, message) = ResourceQuery::parse(Some(raw)).unwrap_err();
            assert_eq!(got, code, "{raw}: {message}");
        }
    }

    #[test]
    fn a_cursor_reads_back_what_it_wrote() {
        let cursor = ResourceCursor {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            resource_type: "ec2:instance".into(),
            resource_id: "i-0abc".into(),
            key: uuid::Uuid::now_v7(),
        };
        let text = encode_cursor(&cursor);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(decode_cursor(&text).unwrap(), cursor);
    }
}
