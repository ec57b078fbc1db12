//! The console over HTTP, as a browser without JavaScript uses it: sessions, CSRF, roles,
//! invitations, saved reports and tenant isolation of every route that takes an id.

use chrono::{NaiveDate, Utc};
use costline_domain::{BillingPeriod, IntegrationId, WorkspaceId};
use costline_testkit::{
    console_client as browser, console_page as page, csrf_of, load_costs, spawn_app, TestApp,
    TestCost,
};
use reqwest::Client;

async fn post(
    client: &Client,
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String, Option<String>) {
    let r = client
        .post(format!("{}{path}", app.base_url))
        .form(form)
        .send()
        .await
        .unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    (r.status().as_u16(), r.text().await.unwrap(), location)
}

/// Signs up through the console and confirms the address with the mailed link; returns the
/// logged-in browser.
async fn sign_up(app: &TestApp, workspace: &str, email: &str) -> Client {
    let client = browser();
    app.sign_up(&client, workspace, email, "a long enough password")
        .await;
    client
}

fn token_in(html: &str) -> String {
    let start =
        html.find("id=\"token-value\">").expect("new token shown") + "id=\"token-value\">".len();
    html[start..start + html[start..].find('<').unwrap()]
        .trim()
        .to_string()
}

fn user_ids_in(html: &str) -> Vec<String> {
    html.match_indices("/settings/members/")
        .filter_map(|(i, _)| html[i + 18..].split('/').next().map(str::to_string))
        .filter(|id| id.len() == 36)
        .collect()
}

#[tokio::test]
async fn sign_up_then_create_a_token_that_works_on_the_api() {
    let app = spawn_app().await;
    let client = sign_up(&app, "Acme", "ana@acme.test").await;
    let (status, html) = page(&client, &app, "/settings").await;
    assert_eq!(status, 200);
    assert!(html.contains("ana@acme.test"));
    let csrf = csrf_of(&html);
    let (status, html, _) = post(
        &client,
        &app,
        "/settings/tokens",
        &[("authenticity_token", &csrf), ("name", "ci")],
    )
    .await;
    assert_eq!(status, 200);
    let token = token_in(&html);
    assert!(token.starts_with("clt_"));
    let (status, body) = app
        .call("GET", "/api/v1/audit-events", Some(&token), None)
        .await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"token.created") && actions.contains(&"workspace.created"),
        "{actions:?}"
    );
    // Shown once: the settings page lists the prefix only.
    let (_, html) = page(&client, &app, "/settings").await;
    assert!(!html.contains(&token));
    assert!(html.contains(&token[..12]));
}

#[tokio::test]
async fn forms_without_the_csrf_value_are_refused() {
    let app = spawn_app().await;
    let client = sign_up(&app, "Acme", "ana@acme.test").await;
    let (status, _, _) = post(
        &client,
        &app,
        "/settings/tokens",
        &[("authenticity_token", "forged"), ("name", "x")],
    )
    .await;
    assert_eq!(status, 403);
    let fresh = browser();
    let (status, _, _) = post(
        &fresh,
        &app,
        "/signup",
        &[
            ("workspace_name", "x"),
            ("email", "x@y.test"),
            ("password", "long password 123"),
        ],
    )
    .await;
    assert!(status == 403 || status == 422, "status {status}");
}

#[tokio::test]
async fn sign_up_errors_are_shown_next_to_the_field() {
    let app = spawn_app().await;
    let client = browser();
    let (_, html) = page(&client, &app, "/signup").await;
    let csrf = csrf_of(&html);
    let (status, html, _) = post(
        &client,
        &app,
        "/signup",
        &[
            ("authenticity_token", &csrf),
            ("workspace_name", "Acme"),
            ("email", "not-an-email"),
            ("password", "short"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("id=\"email-error\""), "{html}");
    assert!(html.contains("at least 10 characters"));
    assert!(
        html.contains("value=\"Acme\""),
        "the form keeps what was typed"
    );
}

#[tokio::test]
async fn login_checks_the_password_and_logout_ends_the_session() {
    let app = spawn_app().await;
    sign_up(&app, "Acme", "ana@acme.test").await;
    let client = browser();
    let (_, html) = page(&client, &app, "/login").await;
    let csrf = csrf_of(&html);
    let (status, html, _) = post(
        &client,
        &app,
        "/login",
        &[
            ("authenticity_token", &csrf),
            ("email", "ana@acme.test"),
            ("password", "wrong password!!"),
        ],
    )
    .await;
    assert_eq!(status, 401);
    assert!(html.contains("email or password is wrong"));
    let csrf = csrf_of(&html);
    let (status, _, location) = post(
        &client,
        &app,
        "/login",
        &[
            ("authenticity_token", &csrf),
            ("email", "ANA@acme.test"),
            ("password", "a long enough password"),
        ],
    )
    .await;
    assert_eq!((status, location.as_deref()), (303, Some("/")));
    let (status, html) = page(&client, &app, "/settings").await;
    assert_eq!(status, 200);
    let csrf = csrf_of(&html);
    let (status, _, _) = post(&client, &app, "/logout", &[("authenticity_token", &csrf)]).await;
    assert_eq!(status, 303);
    let (status, _) = page(&client, &app, "/settings").await;
    assert_eq!(status, 303, "logged out: redirected to /login");
}

#[tokio::test]
async fn login_is_rate_limited_per_email() {
    let app = spawn_app().await;
    sign_up(&app, "Acme", "ana@acme.test").await;
    let client = browser();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let (_, html) = page(&client, &app, "/login").await;
        let csrf = csrf_of(&html);
        let (status, _, _) = post(
            &client,
            &app,
            "/login",
            &[
                ("authenticity_token", &csrf),
                ("email", "ana@acme.test"),
                ("password", "wrong password!!"),
            ],
        )
        .await;
        statuses.push(status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn invitations_add_members_and_members_cannot_administer() {
    let app = spawn_app().await;
    let owner = sign_up(&app, "Acme", "ana@acme.test").await;
    let (_, html) = page(&owner, &app, "/settings").await;
    let csrf = csrf_of(&html);
    let (status, html, _) = post(
        &owner,
        &app,
        "/settings/members/invite",
        &[
            ("authenticity_token", &csrf),
            ("email", "bo@acme.test"),
            ("role", "member"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    let start = html.find("id=\"invitation-link\">").unwrap() + "id=\"invitation-link\">".len();
    let link = html[start..start + html[start..].find('<').unwrap()]
        .trim()
        .to_string();
    // The secret is after `#`: no server or proxy log sees it.
    let secret = link
        .strip_prefix(&format!("{}/invitations#", app.base_url))
        .expect("a fragment link")
        .to_string();

    let invitee = browser();
    let (status, html) = page(&invitee, &app, "/invitations").await;
    assert_eq!(status, 200);
    assert!(html.contains("data-from-fragment"), "{html}");
    let csrf = csrf_of(&html);
    let (status, html, _) = post(
        &invitee,
        &app,
        "/invitations",
        &[("authenticity_token", &csrf), ("token", &secret)],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Join Acme") && html.contains("bo@acme.test"),
        "{html}"
    );
    let csrf = csrf_of(&html);
    let (status, html, _) = post(
        &invitee,
        &app,
        "/invitations/accept",
        &[
            ("authenticity_token", &csrf),
            ("token", &secret),
            ("password", "bo's long password"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"check-inbox\""), "{html}");
    // The account and the membership come with the emailed confirmation.
    let location = app
        .confirm(&invitee, "bo@acme.test", "bo's long password")
        .await;
    assert_eq!(location, "/");
    // One-time: the link is gone.
    let fresh = browser();
    let (_, html) = page(&fresh, &app, "/invitations").await;
    let csrf = csrf_of(&html);
    let (status, _, _) = post(
        &fresh,
        &app,
        "/invitations",
        &[("authenticity_token", &csrf), ("token", &secret)],
    )
    .await;
    assert_eq!(status, 404);

    let (status, html) = page(&invitee, &app, "/settings").await;
    assert_eq!(status, 200);
    assert!(!html.contains("Create token"), "members see no admin forms");
    let csrf = csrf_of(&html);
    let (status, _, _) = post(
        &invitee,
        &app,
        "/settings/tokens",
        &[("authenticity_token", &csrf), ("name", "sneaky")],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = post(
        &invitee,
        &app,
        "/settings/members/invite",
        &[
            ("authenticity_token", &csrf),
            ("email", "x@acme.test"),
            ("role", "admin"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    let owner_ids = user_ids_in(&page(&owner, &app, "/settings").await.1);
    let (status, _, _) = post(
        &invitee,
        &app,
        &format!("/settings/members/{}/remove", owner_ids[0]),
        &[("authenticity_token", &csrf)],
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn another_workspace_gets_404_on_every_route_with_an_id_and_anonymous_goes_to_login() {
    let app = spawn_app().await;
    let a = sign_up(&app, "Acme", "ana@acme.test").await;
    let b = sign_up(&app, "Globex", "gus@globex.test").await;
    let (_, a_html) = page(&a, &app, "/settings").await;
    let a_csrf = csrf_of(&a_html);
    let (_, a_html, _) = post(
        &a,
        &app,
        "/settings/tokens",
        &[("authenticity_token", &a_csrf), ("name", "a-token")],
    )
    .await;
    let a_user = user_ids_in(&a_html).remove(0);
    let a_token_id = a_html
        .match_indices("/settings/tokens/")
        .filter_map(|(i, _)| a_html[i + 17..].split('/').next())
        .find(|id| id.len() == 36)
        .unwrap()
        .to_string();

    let (_, b_html) = page(&b, &app, "/settings").await;
    let b_csrf = csrf_of(&b_html);
    let routes = [
        (
            format!("/settings/members/{a_user}/role"),
            vec![("role", "member")],
        ),
        (format!("/settings/members/{a_user}/remove"), vec![]),
        (format!("/settings/tokens/{a_token_id}/revoke"), vec![]),
    ];
    for (route, extra) in &routes {
        let mut form = vec![("authenticity_token", b_csrf.as_str())];
        form.extend(extra.iter().copied());
        let (status, _, _) = post(&b, &app, route, &form).await;
        assert_eq!(status, 404, "{route}");
        let (status, _, location) =
            post(&browser(), &app, route, &[("authenticity_token", "x")]).await;
        assert!(
            status == 303 && location.as_deref() == Some("/login") || status == 403,
            "anonymous {route}: {status}"
        );
    }
    // A's member and token are intact.
    let (_, a_html) = page(&a, &app, "/settings").await;
    assert!(a_html.contains("ana@acme.test") && a_html.contains("a-token"));
}

/// Creates an integration through the console; returns its id and the page.
async fn new_integration(client: &Client, app: &TestApp) -> (String, String) {
    let (_, html) = page(client, app, "/integrations").await;
    let csrf = csrf_of(&html);
    let (status, body, location) = post(
        client,
        app,
        "/integrations",
        &[("authenticity_token", &csrf)],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    let location = location.expect("redirect to the integration");
    let id = location.trim_start_matches("/integrations/").to_string();
    let (status, html) = page(client, app, &location).await;
    assert_eq!(status, 200);
    (id, html)
}

#[tokio::test]
async fn onboarding_pages_show_every_method_and_check_the_role_arn() {
    let app = spawn_app().await;
    let a = sign_up(&app, "Acme", "ana@acme.test").await;
    let (id, html) = new_integration(&a, &app).await;
    // The three methods, each with this integration's external id in it.
    let external_id = {
        let start = html.find("id=\"external-id\">").unwrap() + "id=\"external-id\">".len();
        html[start..start + html[start..].find('<').unwrap()].to_string()
    };
    assert!(external_id.len() >= 32, "{external_id}");
    for anchor in [
        "id=\"cloudformation-link\"",
        "id=\"terraform-snippet\"",
        "id=\"trust-policy\"",
        "id=\"inline-policy\"",
    ] {
        assert!(html.contains(anchor), "missing {anchor}");
    }
    assert!(html.matches(external_id.as_str()).count() >= 3);
    assert!(html.contains("quickcreate"));

    // A malformed ARN is refused next to the field, nothing is stored.
    let csrf = csrf_of(&html);
    let (status, body, _) = post(
        &a,
        &app,
        &format!("/integrations/{id}/connect"),
        &[
            ("authenticity_token", &csrf),
            ("role_arn", "arn:aws:iam::12345:role/Costline"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("id=\"role-arn-error\""), "{body}");
    assert!(
        body.contains("12"),
        "the message names the 12-digit rule: {body}"
    );
    assert!(body.contains("value=\"arn:aws:iam::12345:role/Costline\""));

    // A good one queues verification; the status page refreshes itself.
    let (status, _, location) = post(
        &a,
        &app,
        &format!("/integrations/{id}/connect"),
        &[
            ("authenticity_token", &csrf),
            (
                "role_arn",
                "arn:aws:iam::210987654321:role/CostlineReadOnly",
            ),
            ("cur_bucket", "acme-cur"),
            ("cur_prefix", "cur"),
            ("cur_report_name", "costline"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (_, html) = page(&a, &app, location.as_deref().unwrap()).await;
    assert!(html.contains("id=\"verifying\""), "{html}");
    assert!(html.contains("http-equiv=\"refresh\""));
    let (_, list) = page(&a, &app, "/integrations").await;
    assert!(list.contains(&id) && list.contains("verifying"));
}

#[tokio::test]
async fn integration_pages_are_404_for_another_workspace_and_members_cannot_connect() {
    let app = spawn_app().await;
    let a = sign_up(&app, "Acme", "ana@acme.test").await;
    let b = sign_up(&app, "Globex", "gus@globex.test").await;
    let (id, _) = new_integration(&a, &app).await;

    let (status, _) = page(&b, &app, &format!("/integrations/{id}")).await;
    assert_eq!(status, 404);
    let (_, b_html) = page(&b, &app, "/integrations").await;
    assert!(!b_html.contains(&id));
    let b_csrf = csrf_of(&b_html);
    for route in [
        format!("/integrations/{id}/connect"),
        format!("/integrations/{id}/sync"),
    ] {
        let (status, _, _) = post(
            &b,
            &app,
            &route,
            &[
                ("authenticity_token", &b_csrf),
                ("role_arn", "arn:aws:iam::210987654321:role/X"),
            ],
        )
        .await;
        assert_eq!(status, 404, "{route}");
        let (status, _, location) =
            post(&browser(), &app, &route, &[("authenticity_token", "x")]).await;
        assert!(
            status == 303 && location.as_deref() == Some("/login") || status == 403,
            "anonymous {route}: {status}"
        );
    }
    let (status, _) = page(&browser(), &app, &format!("/integrations/{id}")).await;
    assert_eq!(status, 303, "anonymous goes to login");
    let (_, a_html) = page(&a, &app, &format!("/integrations/{id}")).await;
    assert!(a_html.contains("pending"), "A's integration is untouched");
}

#[tokio::test]
async fn the_permission_list_and_templates_are_published() {
    let app = spawn_app().await;
    let anonymous = browser();
    let (status, html) = page(&anonymous, &app, "/permissions").await;
    assert_eq!(status, 200);
    let set = costline_onboarding::permission_set();
    for group in &set.allow {
        for action in &group.actions {
            assert!(html.contains(action.as_str()), "{action} listed");
        }
    }
    assert!(html.contains("id=\"denied\""));
    assert!(html.contains(costline_onboarding::TEMPLATE_VERSION));
    let (status, yaml) = page(&anonymous, &app, "/templates/integration.yaml").await;
    assert_eq!(status, 200);
    assert_eq!(yaml, costline_onboarding::INTEGRATION_TEMPLATE);
    let (status, _) = page(&anonymous, &app, "/templates/secrets.yaml").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_costs_page_explains_an_empty_month_and_refuses_bad_parameters_kindly() {
    let app = spawn_app().await;
    let a = sign_up(&app, "Acme", "ana@acme.test").await;
    let (status, html) = page(&a, &app, "/costs?month=2026-10").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"no-costs\""), "{html}");
    assert!(html.contains("href=\"/costs?month=2026-09&amp;metric=unblended\""));
    assert!(html.contains("href=\"/costs?month=2026-11&amp;metric=unblended\""));
    let (status, html) = page(&a, &app, "/costs?month=October&metric=blended").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"form-error\""), "{html}");
    let (status, _) = page(&browser(), &app, "/costs").await;
    assert_eq!(status, 303, "anonymous goes to login");
}

#[tokio::test]
async fn the_integration_page_links_to_revocation_and_settings_to_the_danger_zone() {
    let app = spawn_app().await;
    let a = sign_up(&app, "Acme", "ana@acme.test").await;
    let (id, html) = new_integration(&a, &app).await;
    assert!(html.contains(&format!("href=\"/integrations/{id}/revoke\"")));
    let (status, revoke_page) = page(&a, &app, &format!("/integrations/{id}/revoke")).await;
    assert_eq!(status, 200, "{revoke_page}");
    let (_, settings) = page(&a, &app, "/settings").await;
    assert!(settings.contains("href=\"/settings/danger\""));
    let (status, _) = page(&a, &app, "/settings/danger").await;
    assert_eq!(status, 200);
}

/// The id of the workspace signed up as `name` (names are unique within a test).
async fn workspace_id(app: &TestApp, name: &str) -> WorkspaceId {
    let id: uuid::Uuid = sqlx::query_scalar("SELECT workspace_id FROM workspaces WHERE name = $1")
        .bind(name)
        .fetch_one(app.db.admin())
        .await
        .unwrap();
    WorkspaceId::from_uuid(id)
}

fn cost(day: NaiveDate, service: &'static str, amount: &str) -> TestCost {
    TestCost {
        day,
        account: "111111111111",
        service,
        region: "us-east-1",
        cost: amount.parse().unwrap(),
    }
}

#[tokio::test]
async fn reports_are_created_drawn_downloaded_edited_and_deleted_in_the_console() {
    let app = spawn_app().await;
    let a = sign_up(&app, "Acme", "ana@acme.test").await;
    let (integration, _) = new_integration(&a, &app).await;
    let (ws, integration): (WorkspaceId, IntegrationId) = (
        workspace_id(&app, "Acme").await,
        integration.parse().unwrap(),
    );
    let may = |d| NaiveDate::from_ymd_opt(2024, 5, d).unwrap();
    let costs = [
        cost(may(1), "AmazonEC2", "1.25"),
        cost(may(2), "AmazonEC2", "2.5"),
        cost(may(2), "AmazonS3", "-0.25"),
    ];
    let store = &app.db.store;
    load_costs(
        store,
        ws,
        integration,
        "2024-05".parse().unwrap(),
        "asm-1",
        &costs,
    )
    .await;
    // Today's cost alone: no complete day has a cost, so the forecast is the month to date.
    let today = Utc::now().date_naive();
    let month = BillingPeriod::containing(today);
    load_costs(
        store,
        ws,
        integration,
        month,
        "asm-2",
        &[cost(today, "AmazonEC2", "3.1")],
    )
    .await;
    let (_, html) = page(&a, &app, "/costs").await;
    assert!(html.contains("id=\"month-to-date\">3.1 USD"), "{html}");
    assert!(html.contains("id=\"forecast\">3.1 USD"), "{html}");
    let (_, html) = page(&a, &app, "/costs?month=2024-05").await;
    assert!(
        !html.contains("id=\"forecast\""),
        "only the current month has one"
    );

    let (status, html) = page(&a, &app, "/reports").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"no-reports\"") && html.contains("href=\"/reports/new\""));
    let (status, html) = page(&a, &app, "/reports/new").await;
    assert_eq!(status, 200);
    let csrf = csrf_of(&html);
    let mut form = vec![
        ("authenticity_token", csrf.as_str()),
        ("name", "By service"),
        ("filters", "colour:red"),
        ("group_by", "service"),
        ("metric", "unblended"),
        ("range", "fixed"),
        ("start", "2024-05-01"),
        ("end", "2024-06-01"),
        ("chart", "bar"),
    ];
    let (status, html, _) = post(&a, &app, "/reports", &form).await;
    assert_eq!(status, 400);
    assert!(
        html.contains("id=\"form-error\"") && html.contains("colour:red"),
        "{html}"
    );
    assert!(
        html.contains("value=\"By service\""),
        "the form keeps what was typed"
    );
    form[2].1 = "!region:eu-west-1";
    let (status, body, location) = post(&a, &app, "/reports", &form).await;
    assert_eq!(status, 303, "{body}");
    let location = location.unwrap();
    let id = location.trim_start_matches("/reports/").to_owned();

    let (status, html) = page(&a, &app, &location).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"report-chart\" class=\"bar\""), "{html}");
    assert_eq!(html.matches("<rect ").count(), 2, "a bar per service");
    assert!(html.contains("<td>AmazonEC2</td><td>3.75</td>"), "{html}");
    assert!(html.contains("<td>AmazonS3</td><td>-0.25</td>"), "{html}");
    assert!(html.contains("id=\"total\">3.50 USD"), "{html}");
    assert!(html.contains("2024-05-01 through 2024-05-31"), "{html}");
    assert!(html.contains(&format!("href=\"/reports/{id}.csv\"")));
    let r = a
        .get(format!("{}/reports/{id}.csv", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        ["service,amount", "AmazonEC2,3.75", "AmazonS3,-0.25"]
    );
    let (_, html) = page(&a, &app, "/reports").await;
    assert!(
        html.contains(&format!("<a href=\"/reports/{id}\">By service</a>")),
        "{html}"
    );

    // Edit: a line by day, then the table alone.
    let (status, html) = page(&a, &app, &format!("/reports/{id}/edit")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("value=\"By service\"") && html.contains("<option value=\"fixed\" selected>")
    );
    assert!(html.contains(">!region:eu-west-1</textarea>"), "{html}");
    let csrf = csrf_of(&html);
    form[0].1 = csrf.as_str();
    form[3].1 = "day";
    form[8].1 = "line";
    let (status, body, location) = post(&a, &app, &format!("/reports/{id}/edit"), &form).await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(location.as_deref(), Some(format!("/reports/{id}").as_str()));
    let (_, html) = page(&a, &app, &format!("/reports/{id}")).await;
    assert!(html.contains("id=\"report-chart\" class=\"line\"") && html.contains("<polyline"));
    assert_eq!(html.matches("<circle ").count(), 2, "a point per day");
    form[8].1 = "table";
    let (status, _, _) = post(&a, &app, &format!("/reports/{id}/edit"), &form).await;
    assert_eq!(status, 303);
    let (_, html) = page(&a, &app, &format!("/reports/{id}")).await;
    assert!(!html.contains("<svg id=\"report-chart\"") && html.contains("id=\"report-table\""));
    assert!(html.contains("<td>2024-05-02</td><td>2.25</td>"), "{html}");

    // Another workspace: 404 on every route with the id; anonymous: the login page.
    let b = sign_up(&app, "Globex", "gus@globex.test").await;
    for route in [
        format!("/reports/{id}"),
        format!("/reports/{id}.csv"),
        format!("/reports/{id}/edit"),
    ] {
        let (status, _) = page(&b, &app, &route).await;
        assert_eq!(status, 404, "{route}");
        let (status, _) = page(&browser(), &app, &route).await;
        assert_eq!(status, 303, "anonymous {route}");
    }
    let (_, b_html) = page(&b, &app, "/reports").await;
    assert!(b_html.contains("id=\"no-reports\""));
    let b_csrf = csrf_of(&b_html);
    let mut b_form = form.clone();
    b_form[0].1 = b_csrf.as_str();
    for route in [
        format!("/reports/{id}/edit"),
        format!("/reports/{id}/delete"),
    ] {
        let (status, _, _) = post(&b, &app, &route, &b_form).await;
        assert_eq!(status, 404, "{route}");
    }
    let (status, _) = page(&a, &app, &format!("/reports/{id}")).await;
    assert_eq!(status, 200, "A's report is intact");

    // Delete: refused without the form's CSRF value, then done.
    let delete = format!("/reports/{id}/delete");
    let (status, _, _) = post(&a, &app, &delete, &[("authenticity_token", "forged")]).await;
    assert_eq!(status, 403);
    let (_, html) = page(&a, &app, "/reports").await;
    let csrf = csrf_of(&html);
    let (status, _, location) = post(&a, &app, &delete, &[("authenticity_token", &csrf)]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/reports")));
    let (_, html) = page(&a, &app, "/reports").await;
    assert!(html.contains("id=\"no-reports\""));
    let (status, _) = page(&a, &app, &format!("/reports/{id}")).await;
    assert_eq!(status, 404);
}
