//! Console accounts against pre-hijacking and enumeration (issue 24): an address gets an account
//! only once its owner confirms it through the mailed link (with the password chosen at sign-up);
//! an invitation for an address that has an account is accepted only from that account's session;
//! sign-up, invitations and log-in answer the same, after the same work, whether or not an
//! address has an account; limits are checked before the costly work.

use costline_testkit::{
    console_client as browser, console_page as page, console_post as post, csrf_of, spawn_app,
    spawn_app_with_config, TestApp,
};
use reqwest::Client;
use std::time::{Duration, Instant};

/// GETs `form_page`, then posts `form` to `path` with the page's CSRF value.
async fn submit(
    client: &Client,
    app: &TestApp,
    form_page: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let (_, html) = page(client, app, form_page).await;
    let csrf = csrf_of(&html);
    let mut fields = vec![("authenticity_token", csrf.as_str())];
    fields.extend_from_slice(form);
    post(client, app, path, &fields).await
}

async fn sign_up_form(
    client: &Client,
    app: &TestApp,
    email: &str,
    password: &str,
) -> (u16, String) {
    submit(
        client,
        app,
        "/signup",
        "/signup",
        &[
            ("workspace_name", "Squat"),
            ("email", email),
            ("password", password),
        ],
    )
    .await
}

async fn log_in(client: &Client, app: &TestApp, email: &str, password: &str) -> (u16, String) {
    submit(
        client,
        app,
        "/login",
        "/login",
        &[("email", email), ("password", password)],
    )
    .await
}

async fn users_named(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE lower(email) = lower($1)")
        .bind(email)
        .fetch_one(app.db.store.system())
        .await
        .unwrap()
}

/// The pre-hijack: someone signs up first with an address that is not theirs. No account
/// exists, it cannot log in, and the owner of the address who follows the link with their own
/// password does not confirm it; the owner's own sign-up replaces it.
#[tokio::test]
async fn an_address_typed_by_someone_else_gets_no_account_until_its_owner_confirms() {
    let app = spawn_app().await;
    let attacker = browser();
    let (status, html) = sign_up_form(&attacker, &app, "vic@corp.test", "attacker password").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"check-inbox\""), "{html}");
    assert_eq!(
        users_named(&app, "vic@corp.test").await,
        0,
        "no account yet"
    );
    let (status, html) = page(&attacker, &app, "/settings").await;
    assert_eq!(status, 303, "no session came with the sign-up: {html}");

    // The sign-up's password does not log in before the address is confirmed, and says why.
    let (status, html) = log_in(&attacker, &app, "vic@corp.test", "attacker password").await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("confirm your email address first"), "{html}");
    assert!(
        html.contains("action=\"/signup/resend\""),
        "a resend form: {html}"
    );

    // The owner of the address follows the link they did not ask for, with their own password:
    // nothing is confirmed.
    let victim = browser();
    let squatted = app.confirmation_token("vic@corp.test").await;
    let (status, html) = submit(
        &victim,
        &app,
        "/signup/confirm",
        "/signup/confirm",
        &[("token", &squatted), ("password", "victim's own password")],
    )
    .await;
    assert_eq!(status, 401, "{html}");
    assert_eq!(users_named(&app, "vic@corp.test").await, 0);

    // The owner signs up: the squatter's link stops working, the owner's makes the account.
    let seen = app.mail.messages_to("vic@corp.test").len();
    let (status, _) = sign_up_form(&victim, &app, "vic@corp.test", "victim's own password").await;
    assert_eq!(status, 200);
    let own = app.confirmation_token_after("vic@corp.test", seen).await;
    let (status, _) = submit(
        &attacker,
        &app,
        "/signup/confirm",
        "/signup/confirm",
        &[("token", &squatted), ("password", "attacker password")],
    )
    .await;
    assert_eq!(status, 404, "the older link of the address is gone");
    let location = app
        .confirm_token(&victim, &own, "victim's own password")
        .await;
    assert_eq!(location, "/settings");
    assert_eq!(users_named(&app, "vic@corp.test").await, 1);
    let (status, html) = page(&victim, &app, "/settings").await;
    assert_eq!(status, 200);
    assert!(html.contains("vic@corp.test"), "{html}");
    let (status, _) = log_in(&browser(), &app, "vic@corp.test", "attacker password").await;
    assert_eq!(status, 401);
}

/// The link of an invitation made in the console, as its secret (after `#`).
async fn invite(app: &TestApp, admin: &Client, email: &str) -> String {
    let (status, html) = submit(
        admin,
        app,
        "/settings",
        "/settings/members/invite",
        &[("email", email), ("role", "member")],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    let start = html.find("id=\"invitation-link\">").unwrap() + "id=\"invitation-link\">".len();
    let link = html[start..start + html[start..].find('<').unwrap()].trim();
    link.split_once("/invitations#")
        .expect("the secret is in the fragment")
        .1
        .to_string()
}

/// The first mail to `email` after its first `seen` ones (mail is sent in the background).
async fn mail_after(app: &TestApp, email: &str, seen: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(mail) = app.mail.messages_to(email).get(seen) {
            return mail.body();
        }
        assert!(Instant::now() < deadline, "no new mail to {email}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn members_of(app: &TestApp, workspace: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT u.email FROM memberships m JOIN users u USING (user_id) JOIN workspaces w USING (workspace_id)
          WHERE w.name = $1 ORDER BY u.email",
    )
    .bind(workspace)
    .fetch_all(app.db.store.system())
    .await
    .unwrap()
}

#[tokio::test]
async fn an_invitation_for_an_address_with_an_account_is_accepted_only_from_its_session() {
    let app = spawn_app().await;
    let owner = browser();
    app.sign_up(&owner, "Acme", "ana@acme.test", "ana's long password")
        .await;
    let bo = browser();
    app.sign_up(&bo, "Bo's own", "bo@acme.test", "bo's long password")
        .await;
    let secret = invite(&app, &owner, "bo@acme.test").await;

    // Whoever holds the link, not logged in, gets the page every invitee gets...
    let stranger = browser();
    let (status, html) = submit(
        &stranger,
        &app,
        "/invitations",
        "/invitations",
        &[("token", &secret)],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"log-in-first\"") && html.contains("name=\"password\""));
    // ...and a password posted for the address joins nobody: the same "check your inbox" as
    // for a new address, and a mail to the address saying to log in.
    let before = app.mail.messages_to("bo@acme.test").len();
    let (status, html) = submit(
        &stranger,
        &app,
        "/invitations",
        "/invitations/accept",
        &[("token", &secret), ("password", "stranger's password")],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"check-inbox\""), "{html}");
    assert_eq!(members_of(&app, "Acme").await, ["ana@acme.test"]);
    let told = mail_after(&app, "bo@acme.test", before).await;
    assert!(
        told.contains("already has an account") && told.contains("/login"),
        "{told}"
    );
    assert!(
        !told.contains("/signup/confirm"),
        "no link to confirm anything: {told}"
    );

    // Another logged-in account cannot accept it either.
    let (status, html) = submit(
        &owner,
        &app,
        "/invitations",
        "/invitations/accept",
        &[("token", &secret)],
    )
    .await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("only the invited address"), "{html}");

    // Bo's own session accepts with one click.
    let (status, html) = submit(
        &bo,
        &app,
        "/invitations",
        "/invitations",
        &[("token", &secret)],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("id=\"accept\"") && !html.contains("name=\"password\""),
        "{html}"
    );
    let (status, _) = submit(
        &bo,
        &app,
        "/invitations",
        "/invitations/accept",
        &[("token", &secret)],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        members_of(&app, "Acme").await,
        ["ana@acme.test", "bo@acme.test"]
    );
    let (_, html) = page(&bo, &app, "/settings").await;
    assert!(
        html.contains("Acme"),
        "the session moved to the joined workspace: {html}"
    );
}

/// Sign-up and invitation pages answer the same for an address with an account and one
/// without; log-in answers the same for an unknown address and a wrong password, after the same
/// argon2 work.
#[tokio::test]
async fn sign_up_invitations_and_log_in_do_not_tell_which_addresses_have_accounts() {
    let app = spawn_app().await;
    let ana = browser();
    app.sign_up(&ana, "Acme", "ana@acme.test", "ana's long password")
        .await;

    let normalize =
        |html: &str, email: &str| html.replace(&csrf_of(html), "CSRF").replace(email, "EMAIL");
    let (taken_status, taken) =
        sign_up_form(&browser(), &app, "ana@acme.test", "a long enough password").await;
    let (free_status, free) =
        sign_up_form(&browser(), &app, "new@acme.test", "a long enough password").await;
    assert_eq!((taken_status, free_status), (200, 200));
    assert_eq!(
        normalize(&taken, "ana@acme.test"),
        normalize(&free, "new@acme.test")
    );
    let to_ana = mail_after(&app, "ana@acme.test", 1).await;
    assert!(to_ana.contains("already has an account"), "{to_ana}");

    // The invitation page is the same for an address with an account and one without.
    let with_account = invite(&app, &ana, "bo@acme.test").await;
    let bo = browser();
    app.sign_up(&bo, "Bo", "bo@acme.test", "bo's long password")
        .await;
    let without = invite(&app, &ana, "cy@acme.test").await;
    let (_, a) = submit(
        &browser(),
        &app,
        "/invitations",
        "/invitations",
        &[("token", &with_account)],
    )
    .await;
    let (_, b) = submit(
        &browser(),
        &app,
        "/invitations",
        "/invitations",
        &[("token", &without)],
    )
    .await;
    assert_eq!(
        normalize(&a, "bo@acme.test").replace(&with_account, "TOKEN"),
        normalize(&b, "cy@acme.test").replace(&without, "TOKEN")
    );

    // Log-in: the same answer, and about the same time (one argon2 verification each).
    let timed = |email: &'static str| {
        let app = &app;
        async move {
            let client = browser();
            let mut best = Duration::MAX;
            let mut answer = (0, String::new());
            for _ in 0..3 {
                let (_, html) = page(&client, app, "/login").await;
                let csrf = csrf_of(&html);
                let started = Instant::now();
                answer = post(
                    &client,
                    app,
                    "/login",
                    &[
                        ("authenticity_token", &csrf),
                        ("email", email),
                        ("password", "wrong password!!"),
                    ],
                )
                .await;
                best = best.min(started.elapsed());
            }
            (
                answer.0,
                answer
                    .1
                    .replace(&csrf_of(&answer.1), "CSRF")
                    .replace(email, "EMAIL"),
                best,
            )
        }
    };
    let (known_status, known_page, known_time) = timed("ana@acme.test").await;
    let (unknown_status, unknown_page, unknown_time) = timed("nobody@acme.test").await;
    assert_eq!((known_status, unknown_status), (401, 401));
    assert_eq!(known_page, unknown_page);
    println!("log-in with a wrong password: {known_time:?} for an account, {unknown_time:?} for an unknown address");
    assert!(
        unknown_time * 2 > known_time,
        "an unknown address answered much faster ({unknown_time:?} vs {known_time:?}): it skips the password check"
    );
}

/// The limits are checked before argon2 runs, and an address is validated (and so bounded)
/// before it is counted.
#[tokio::test]
async fn limits_come_before_the_password_hash_and_addresses_are_checked_first() {
    let app = spawn_app().await;
    // One argon2 hash in this build, for scale.
    let started = Instant::now();
    costline_domain::hash_password("a long enough password").unwrap();
    let one_hash = started.elapsed();

    let client = browser();
    let mut refused = Duration::ZERO;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let (_, html) = page(&client, &app, "/signup").await;
        let csrf = csrf_of(&html);
        let started = Instant::now();
        let (status, _) = post(
            &client,
            &app,
            "/signup",
            &[
                ("authenticity_token", &csrf),
                ("workspace_name", "Rush"),
                ("email", "rush@acme.test"),
                ("password", "a long enough password"),
            ],
        )
        .await;
        if status == 429 {
            refused += started.elapsed();
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
    println!("5 refused sign-ups took {refused:?}; one argon2 hash takes {one_hash:?}");
    assert!(
        refused < one_hash * 2,
        "5 refused sign-ups took {refused:?}, one argon2 hash {one_hash:?}: the refused ones hashed"
    );

    // A made-up address the size of the body limit is refused as what it is, not counted.
    let huge = format!("{}@example.com", "a".repeat(200_000));
    let (status, html) = log_in(&browser(), &app, &huge, "wrong password!!").await;
    assert_eq!(status, 422, "{}", &html[..html.len().min(500)]);
    assert!(html.contains("enter your email address"));
    assert!(
        html.len() < 20_000,
        "the page does not echo the whole field"
    );
}

#[tokio::test]
async fn sign_up_is_off_without_email_closed_by_setting_and_immediate_when_open() {
    let no_mail = spawn_app_with_config(|c| c.mailer = None).await;
    let (status, html) = page(&browser(), &no_mail, "/signup").await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("COSTLINE_SMTP_URL"), "{html}");

    let closed = spawn_app_with_config(|c| c.signup = costline_web::SignupMode::Closed).await;
    let (status, html) = page(&browser(), &closed, "/signup").await;
    assert_eq!(status, 403);
    assert!(html.contains("invitation only"), "{html}");

    let open = spawn_app_with_config(|c| {
        c.signup = costline_web::SignupMode::Open;
        c.mailer = None;
    })
    .await;
    let client = browser();
    let (_, html) = page(&client, &open, "/signup").await;
    let r = client
        .post(format!("{}/signup", open.base_url))
        .form(&[
            ("authenticity_token", csrf_of(&html).as_str()),
            ("workspace_name", "Private"),
            ("email", "me@private.test"),
            ("password", "a long enough password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/settings");
}

#[tokio::test]
async fn a_new_link_is_sent_on_request_and_the_answer_is_the_same_for_unknown_addresses() {
    let app = spawn_app().await;
    let client = browser();
    let (status, _) = sign_up_form(&client, &app, "late@acme.test", "a long enough password").await;
    assert_eq!(status, 200);
    let first = app.confirmation_token("late@acme.test").await;
    let seen = app.mail.messages_to("late@acme.test").len();
    let (status, known) = submit(
        &client,
        &app,
        "/login",
        "/signup/resend",
        &[("email", "late@acme.test")],
    )
    .await;
    assert_eq!(status, 200);
    let (_, unknown) = submit(
        &client,
        &app,
        "/login",
        "/signup/resend",
        &[("email", "nope@acme.test")],
    )
    .await;
    let strip =
        |html: &str, email: &str| html.replace(&csrf_of(html), "CSRF").replace(email, "EMAIL");
    assert_eq!(
        strip(&known, "late@acme.test"),
        strip(&unknown, "nope@acme.test")
    );
    // The new link works, the first one no longer does.
    let second = app.confirmation_token_after("late@acme.test", seen).await;
    assert_ne!(second, first);
    let (status, _) = submit(
        &client,
        &app,
        "/signup/confirm",
        "/signup/confirm",
        &[("token", &first), ("password", "a long enough password")],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = submit(
        &client,
        &app,
        "/signup/confirm",
        "/signup/confirm",
        &[("token", &second), ("password", "a long enough password")],
    )
    .await;
    assert_eq!(status, 303);
    assert!(app.mail.messages_to("nope@acme.test").is_empty());
}
