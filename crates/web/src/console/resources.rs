//! The console's Active Resources page: the inventory with its filters (account, region, type,
//! tag) and cost columns, a page at a time, and each account's coverage.

use super::{csrf_value, render, ConsoleError, ConsoleUser, Nav};
use crate::resource_actions::{self, ResourceQuery};
use crate::views::{CoverageOut, ResourceOut};
use crate::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_csrf::CsrfToken;
use costline_domain::ResourceType;

/// A type to filter by.
struct TypeChoice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "resources.html")]
struct ResourcesPage {
    nav: Nav,
    types: Vec<TypeChoice>,
    account: String,
    region: String,
    tag: String,
    error: Option<String>,
    resources: Vec<ResourceOut>,
    next_page: Option<String>,
    coverage: Vec<CoverageOut>,
}

/// The form's fields as an API query: `tag=K=V` becomes `tag:K=V`.
fn api_query(form: &[(String, String)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form {
        match name.as_str() {
            "tag" => {
                if let Some((k, v)) = value.split_once('=') {
                    out.append_pair(&format!("tag:{}", k.trim()), v.trim());
                } else if !value.trim().is_empty() {
                    out.append_pair("tag:", value);
                }
            }
            _ => {
                out.append_pair(name, value.trim());
            }
        }
    }
    out.finish()
}

/// `GET /resources?type=&account=&region=&tag=K=V&cursor=`
pub(super) async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
    RawQuery(raw): RawQuery,
) -> Result<Response, ConsoleError> {
    let csrf = csrf_value(&token)?;
    let form: Vec<(String, String)> =
        form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (query, error) = match ResourceQuery::parse(Some(&api_query(&form))) {
        Ok(q) => (q, None),
        Err((_, message)) => (
            ResourceQuery::parse(None).expect("no parameters"),
            Some(message),
        ),
    };
    let page = resource_actions::list(&state, user.workspace_id, &query)
        .await
        .map_err(ConsoleError::internal)?;
    let coverage = resource_actions::coverage(&state, user.workspace_id)
        .await
        .map_err(ConsoleError::internal)?;
    let chosen = field("type");
    let next_page = page.next_cursor.as_ref().map(|cursor| {
        let mut kept: Vec<(String, String)> = form
            .iter()
            .filter(|(k, _)| k != "cursor")
            .cloned()
            .collect();
        kept.push(("cursor".into(), cursor.clone()));
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .finish()
    });
    let view = ResourcesPage {
        nav: user.nav(csrf),
        types: ResourceType::ALL
            .iter()
            .map(|t| TypeChoice {
                value: t.as_str(),
                label: t.label(),
                selected: t.as_str() == chosen,
            })
            .collect(),
        account: field("account"),
        region: field("region"),
        tag: field("tag"),
        error,
        resources: page.resources,
        next_page,
        coverage: coverage.accounts,
    };
    render(Some(token), StatusCode::OK, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_tag_becomes_the_apis_tag_parameter() {
        let q = api_query(&[
            ("type".into(), "ec2:volume".into()),
            ("tag".into(), "Team = web".into()),
        ]);
        let parsed = ResourceQuery::parse(Some(&q)).unwrap();
        assert_eq!(parsed.filter.tags["Team"], "web");
        assert_eq!(parsed.filter.resource_type, Some(ResourceType::Ec2Volume));
    }
}
