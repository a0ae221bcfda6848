//! Notifications on the embedded defaults: budget alerts and large
//! transactions reach the feed and the caller's watch only; savings goals
//! are announced once per target; webhooks are
//! signed (checked with the Standard Webhooks reference library), retried
//! with backoff, dead-lettered and redelivered; email reaches a real SMTP
//! server; bad preferences and SSRF endpoints are refused; other users'
//! ids are not found.

use std::collections::BTreeSet;
use std::time::Duration;

use freedumb_proto::notification as npb;
use tonic::Code;

use crate::budget::{budgets, create_budget, create_goal, goal, monthly, today, two_categories};
use crate::helpers::{Backends, TestApp, authed, rest, spawn_app, spawn_app_with, violated_fields};
use crate::ledger_support::{Ledger, create, mask, money, new_transaction, open_account};
use crate::notification_support::{
    Behaviour, Notifications, Receiver, SmtpServer, WEBHOOK_ENV, notifications, notify_large,
    verify_signatures,
};

/// Records a transaction of `minor` EUR today.
async fn spend(
    ledger: &mut Ledger,
    token: &str,
    account: &freedumb_proto::ledger::Account,
    minor: i64,
    category: &str,
) {
    let request = freedumb_proto::ledger::CreateTransactionRequest {
        date: today(),
        category_id: category.into(),
        ..new_transaction(account, minor)
    };
    create(ledger, token, request).await;
}

async fn next(watch: &mut tonic::Streaming<npb::WatchNotificationsResponse>) -> npb::Notification {
    tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("a notification within 10 s")
        .expect("stream ok")
        .expect("a notification")
        .notification
        .expect("notification")
}

async fn feed(
    client: &mut Notifications,
    token: &str,
    unread_only: bool,
) -> Vec<npb::Notification> {
    client
        .list_notifications(authed(
            npb::ListNotificationsRequest {
                unread_only,
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("list")
        .into_inner()
        .notifications
}

async fn unread(client: &mut Notifications, token: &str) -> i64 {
    client
        .get_unread_count(authed(npb::GetUnreadCountRequest {}, token))
        .await
        .expect("count")
        .into_inner()
        .unread
}

#[tokio::test]
async fn budget_alerts_and_large_transactions_reach_the_callers_feed_and_watch_only() {
    let app = spawn_app().await;
    let (token, other) = (app.token().await, app.token().await);
    let (mut ledger, mut client) = (app.ledger().await, notifications(&app).await);
    let mut mine = client
        .watch_notifications(authed(npb::WatchNotificationsRequest {}, &token))
        .await
        .expect("watch")
        .into_inner();
    let mut theirs = client
        .watch_notifications(authed(npb::WatchNotificationsRequest {}, &other))
        .await
        .expect("watch")
        .into_inner();
    notify_large(&mut client, &token, 1_000, "").await;
    let (food, _) = two_categories(&mut ledger, &token).await;
    let account = open_account(&mut ledger, &token, "EUR", 0).await;
    create_budget(
        &mut budgets(&app).await,
        &token,
        monthly(&[&food], 5_000, &[50]),
    )
    .await;

    spend(&mut ledger, &token, &account, -3_000, &food).await;
    let kinds: BTreeSet<i32> = [next(&mut mine).await, next(&mut mine).await]
        .iter()
        .map(|n| n.kind)
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            npb::NotificationKind::BudgetThreshold as i32,
            npb::NotificationKind::LargeTransaction as i32
        ])
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(500), theirs.message())
            .await
            .is_err(),
        "another user's watch carries nothing"
    );
    assert!(feed(&mut client, &other, false).await.is_empty());

    let listed = feed(&mut client, &token, false).await;
    assert_eq!(listed.len(), 2);
    let alert = listed
        .iter()
        .find(|n| n.kind == npb::NotificationKind::BudgetThreshold as i32)
        .expect("alert");
    assert!(alert.title.contains("reached 50%"), "{}", alert.title);
    assert_eq!(unread(&mut client, &token).await, 2);
    let marked = client
        .mark_read(authed(
            npb::MarkReadRequest {
                notification_ids: vec![alert.id.clone()],
            },
            &token,
        ))
        .await
        .expect("mark")
        .into_inner()
        .marked;
    assert_eq!((marked, unread(&mut client, &token).await), (1, 1));
    client
        .mark_all_read(authed(npb::MarkAllReadRequest {}, &token))
        .await
        .expect("mark all");
    assert_eq!(unread(&mut client, &token).await, 0);
    assert!(feed(&mut client, &token, true).await.is_empty());
}

async fn webhook_app() -> TestApp {
    spawn_app_with(Backends::default(), WEBHOOK_ENV).await
}

async fn endpoint(
    client: &mut Notifications,
    token: &str,
    url: &str,
) -> (npb::WebhookEndpoint, String) {
    let created = client
        .create_webhook_endpoint(authed(
            npb::CreateWebhookEndpointRequest {
                endpoint: Some(npb::WebhookEndpoint {
                    url: url.into(),
                    description: "test receiver".into(),
                    ..Default::default()
                }),
            },
            token,
        ))
        .await
        .expect("endpoint")
        .into_inner();
    (created.endpoint.expect("endpoint"), created.secret)
}

async fn deliveries(
    client: &mut Notifications,
    token: &str,
    endpoint: &str,
) -> Vec<npb::WebhookDelivery> {
    client
        .list_webhook_deliveries(authed(
            npb::ListWebhookDeliveriesRequest {
                endpoint_id: endpoint.into(),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("deliveries")
        .into_inner()
        .deliveries
}

async fn await_state(
    client: &mut Notifications,
    token: &str,
    endpoint: &str,
    state: npb::DeliveryState,
) -> npb::WebhookDelivery {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let log = deliveries(client, token, endpoint).await;
        if let Some(d) = log.iter().find(|d| d.state == state as i32) {
            return d.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery became {state:?}: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn webhooks_are_signed_retried_with_backoff_dead_lettered_and_redelivered() {
    let app = webhook_app().await;
    let token = app.token().await;
    let (mut ledger, mut client) = (app.ledger().await, notifications(&app).await);
    let flaky = Receiver::start(Behaviour::FailFirst(3)).await;
    let (hook, secret) = endpoint(&mut client, &token, &flaky.url()).await;
    notify_large(&mut client, &token, 100, "").await;
    let account = open_account(&mut ledger, &token, "EUR", 0).await;
    spend(&mut ledger, &token, &account, -500, "").await;

    // 500, 500, 500, then 200: delivered on the fourth attempt.
    let received = flaky
        .wait_for("a delivered webhook", |r| {
            r.iter().any(|r| r.answered == 200)
        })
        .await;
    assert_eq!(
        received.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 500, 500, 200]
    );
    assert!(
        received.iter().all(|r| r.id == received[0].id),
        "one webhook-id on every attempt"
    );
    let gaps: Vec<Duration> = received.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(
        gaps.windows(2).all(|g| g[1] > g[0]),
        "the backoff grows: {gaps:?}"
    );
    verify_signatures(&secret, &received);
    let body: serde_json::Value = serde_json::from_str(&received[0].body).expect("json");
    assert_eq!(body["type"], "transaction.large");
    let delivered = await_state(&mut client, &token, &hook.id, npb::DeliveryState::Delivered).await;
    assert_eq!((delivered.attempts, delivered.last_status_code), (4, 200));
    assert_eq!(format!("msg_{}", delivered.id), received[0].id);

    // A receiver that always fails: dead after the last attempt, then
    // redelivered by hand once it works.
    let broken = Receiver::start(Behaviour::AlwaysFail).await;
    let (dead_hook, dead_secret) = endpoint(&mut client, &token, &broken.url()).await;
    spend(&mut ledger, &token, &account, -700, "").await;
    let dead = await_state(&mut client, &token, &dead_hook.id, npb::DeliveryState::Dead).await;
    assert_eq!((dead.attempts, dead.last_status_code), (4, 500));
    assert!(!dead.last_error.is_empty());
    broken.set(Behaviour::FailFirst(0));
    let redelivered = client
        .redeliver_webhook_delivery(authed(
            npb::RedeliverWebhookDeliveryRequest {
                delivery_id: dead.id.clone(),
            },
            &token,
        ))
        .await
        .expect("redeliver")
        .into_inner()
        .delivery
        .expect("delivery");
    assert_eq!(redelivered.state, npb::DeliveryState::Pending as i32);
    let done = await_state(
        &mut client,
        &token,
        &dead_hook.id,
        npb::DeliveryState::Delivered,
    )
    .await;
    assert_eq!(done.id, dead.id);
    let all = broken.received();
    assert_eq!(all.len(), 5);
    assert!(
        all.iter().all(|r| r.id == all[0].id),
        "the same webhook-id after redelivery"
    );
    verify_signatures(&dead_secret, &all);
}

#[tokio::test]
async fn email_reaches_a_real_smtp_server_with_text_and_html_parts() {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = spawn_app_with(
        Backends::default(),
        &[("FREEDUMB_NOTIFICATION__SMTP_URL", &url)],
    )
    .await;
    let token = app.token().await;
    let (mut ledger, mut client) = (app.ledger().await, notifications(&app).await);
    notify_large(&mut client, &token, 100, "ada@example.com").await;
    let account = open_account(&mut ledger, &token, "EUR", 0).await;
    spend(&mut ledger, &token, &account, -12_345, "").await;
    let message = smtp.wait_for_mail("ada@example.com", 1).await.remove(0);
    assert!(
        message.contains("Subject: Large transaction: -123.45 EUR"),
        "{message}"
    );
    assert!(message.contains("To: ada@example.com"), "{message}");
    assert!(
        message.contains("text/plain") && message.contains("text/html"),
        "{message}"
    );
}

#[tokio::test]
async fn bad_preferences_and_endpoints_are_refused_field_by_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut client = notifications(&app).await;
    let cases: Vec<(npb::Preferences, &[&str], &str)> = vec![
        (
            npb::Preferences {
                kinds: vec![npb::KindPreference {
                    kind: npb::NotificationKind::LargeTransaction.into(),
                    email_template: "x".repeat(10_000),
                    ..Default::default()
                }],
                ..Default::default()
            },
            &["preferences.kinds[0].email_template"],
            "kinds",
        ),
        (
            npb::Preferences {
                email: "nobody".into(),
                ..Default::default()
            },
            &["preferences.email"],
            "email",
        ),
        (
            npb::Preferences {
                time_zone: "Mars/Base".into(),
                ..Default::default()
            },
            &["preferences.time_zone"],
            "time_zone",
        ),
        (
            npb::Preferences {
                large_transaction_threshold: money("EUR", -1),
                ..Default::default()
            },
            &["preferences.large_transaction_threshold.amount_minor"],
            "large_transaction_threshold",
        ),
    ];
    for (preferences, fields, path) in cases {
        let err = client
            .update_preferences(authed(
                npb::UpdatePreferencesRequest {
                    preferences: Some(preferences),
                    update_mask: mask(&[path]),
                },
                &token,
            ))
            .await
            .expect_err("invalid");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&err), fields);
    }
    let stored = client
        .get_preferences(authed(npb::GetPreferencesRequest {}, &token))
        .await
        .expect("get")
        .into_inner()
        .preferences;
    assert_eq!(
        stored,
        Some(npb::Preferences::default()),
        "still the defaults"
    );

    for url in [
        "http://hooks.example.com/in",
        "https://127.0.0.1/in",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/in",
        "https://localhost/in",
        "https://10.0.0.8/in",
    ] {
        let err = client
            .create_webhook_endpoint(authed(
                npb::CreateWebhookEndpointRequest {
                    endpoint: Some(npb::WebhookEndpoint {
                        url: url.into(),
                        ..Default::default()
                    }),
                },
                &token,
            ))
            .await
            .expect_err(url);
        assert_eq!(err.code(), Code::InvalidArgument, "{url}");
        assert_eq!(violated_fields(&err), ["endpoint.url"], "{url}");
    }
    let endpoints = client
        .list_webhook_endpoints(authed(npb::ListWebhookEndpointsRequest {}, &token))
        .await
        .expect("list")
        .into_inner()
        .endpoints;
    assert!(endpoints.is_empty());
}

#[tokio::test]
async fn another_users_notifications_endpoints_and_deliveries_are_not_found() {
    let app = webhook_app().await;
    let (owner, intruder) = (app.token().await, app.token().await);
    let (mut ledger, mut client) = (app.ledger().await, notifications(&app).await);
    let receiver = Receiver::start(Behaviour::FailFirst(0)).await;
    let (hook, _) = endpoint(&mut client, &owner, &receiver.url()).await;
    notify_large(&mut client, &owner, 100, "").await;
    let account = open_account(&mut ledger, &owner, "EUR", 0).await;
    spend(&mut ledger, &owner, &account, -500, "").await;
    let delivery = await_state(&mut client, &owner, &hook.id, npb::DeliveryState::Delivered).await;
    let notification = feed(&mut client, &owner, false).await.remove(0);

    let t = intruder.as_str();
    let not_found = [
        client
            .delete_webhook_endpoint(authed(
                npb::DeleteWebhookEndpointRequest {
                    endpoint_id: hook.id.clone(),
                },
                t,
            ))
            .await
            .map(|_| ()),
        client
            .list_webhook_deliveries(authed(
                npb::ListWebhookDeliveriesRequest {
                    endpoint_id: hook.id.clone(),
                    ..Default::default()
                },
                t,
            ))
            .await
            .map(|_| ()),
        client
            .redeliver_webhook_delivery(authed(
                npb::RedeliverWebhookDeliveryRequest {
                    delivery_id: delivery.id.clone(),
                },
                t,
            ))
            .await
            .map(|_| ()),
    ];
    for result in not_found {
        assert_eq!(result.expect_err("not theirs").code(), Code::NotFound);
    }
    let err = client
        .mark_read(authed(
            npb::MarkReadRequest {
                notification_ids: vec![notification.id.clone()],
            },
            t,
        ))
        .await
        .expect_err("not theirs");
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(
        unread(&mut client, &owner).await,
        1,
        "the owner's notification is still unread"
    );
    assert_eq!(receiver.received().len(), 1, "nothing was sent again");
    let theirs = client
        .list_webhook_endpoints(authed(npb::ListWebhookEndpointsRequest {}, t))
        .await
        .expect("list")
        .into_inner()
        .endpoints;
    assert!(theirs.is_empty());
}

#[tokio::test]
async fn notifications_over_rest_through_the_gateway() {
    let app = webhook_app().await;
    let gw = app.gateway_addr.expect("gateway");
    let token = app.token().await;
    let receiver = Receiver::start(Behaviour::FailFirst(0)).await;
    let t = Some(token.as_str());

    let patch = serde_json::json!({ "largeTransactionThreshold": { "currencyCode": "EUR", "amountMinor": "100" } });
    let (status, _, prefs) = rest(
        gw,
        "PATCH",
        "/v1/notificationPreferences?updateMask=largeTransactionThreshold",
        t,
        Some(&patch.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{prefs}");
    let (status, _, got) = rest(gw, "GET", "/v1/notificationPreferences", t, None).await;
    assert_eq!(
        (
            status,
            &got["preferences"]["largeTransactionThreshold"]["amountMinor"]
        ),
        (200, &serde_json::json!("100"))
    );

    let hook = serde_json::json!({ "url": receiver.url(), "kinds": ["NOTIFICATION_KIND_LARGE_TRANSACTION"] });
    let (status, _, created) = rest(
        gw,
        "POST",
        "/v1/webhookEndpoints",
        t,
        Some(&hook.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    assert!(
        created["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_"))
    );
    let id = created["endpoint"]["id"].as_str().expect("id").to_owned();
    let bad = serde_json::json!({ "url": "ftp://example.com" });
    let (status, _, refused) = rest(
        gw,
        "POST",
        "/v1/webhookEndpoints",
        t,
        Some(&bad.to_string()),
    )
    .await;
    assert_eq!(status, 400, "{refused}");

    let mut watch = crate::helpers::ndjson(gw, "/v1/notifications:watch", &token).await;
    let mut ledger = app.ledger().await;
    let account = open_account(&mut ledger, &token, "EUR", 0).await;
    spend(&mut ledger, &token, &account, -500, "").await;
    let first = watch.next_line().await;
    assert_eq!(
        first["notification"]["kind"], "NOTIFICATION_KIND_LARGE_TRANSACTION",
        "{first}"
    );
    let notification_id = first["notification"]["id"].as_str().expect("id").to_owned();
    receiver.wait_for("the webhook", |r| !r.is_empty()).await;
    let (status, _, count) = rest(gw, "GET", "/v1/notifications:unreadCount", t, None).await;
    assert_eq!((status, &count["unread"]), (200, &serde_json::json!("1")));
    let (status, _, listed) = rest(gw, "GET", "/v1/notifications?pageSize=10", t, None).await;
    assert_eq!(
        (status, listed["notifications"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, _, log) = rest(
        gw,
        "GET",
        &format!("/v1/webhookEndpoints/{id}/deliveries"),
        t,
        None,
    )
    .await;
    assert_eq!(
        (status, log["deliveries"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let delivery = log["deliveries"][0]["id"]
        .as_str()
        .expect("delivery")
        .to_owned();
    let redeliver = format!("/v1/webhookDeliveries/{delivery}:redeliver");
    let (status, _, again) = rest(gw, "POST", &redeliver, t, Some("{}")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["delivery"]["state"], "DELIVERY_STATE_PENDING",
        "{again}"
    );
    receiver.wait_for("the redelivery", |r| r.len() >= 2).await;
    let mark = serde_json::json!({ "notificationIds": [notification_id] }).to_string();
    let (status, _, marked) = rest(gw, "POST", "/v1/notifications:markRead", t, Some(&mark)).await;
    assert_eq!((status, &marked["marked"]), (200, &serde_json::json!("1")));
    let (status, _, marked) =
        rest(gw, "POST", "/v1/notifications:markAllRead", t, Some("{}")).await;
    // Zero is the default: proto3 JSON leaves it out.
    assert_eq!(
        (status, marked["marked"].as_str().unwrap_or("0")),
        (200, "0")
    );
    let (status, _, _) = rest(gw, "DELETE", &format!("/v1/webhookEndpoints/{id}"), t, None).await;
    assert_eq!(status, 200);
    let (status, _, listed) = rest(gw, "GET", "/v1/webhookEndpoints", t, None).await;
    assert_eq!(
        (status, listed["endpoints"].as_array().map_or(0, Vec::len)),
        (200, 0)
    );
}

#[tokio::test]
async fn a_sign_in_from_a_new_client_is_notified_once() {
    use freedumb_proto::auth::LoginRequest;
    use freedumb_proto::auth::auth_service_client::AuthServiceClient;

    let app = spawn_app().await;
    let registered = app.register().await;
    let token = registered
        .tokens
        .as_ref()
        .expect("tokens")
        .access_token
        .clone();
    let email = registered.user.as_ref().expect("user").email.clone();
    let login = |agent: &'static str| {
        let (url, email) = (app.url(), email.clone());
        async move {
            let channel = tonic::transport::Endpoint::from_shared(url)
                .expect("url")
                .user_agent(agent)
                .expect("agent")
                .connect()
                .await
                .expect("connect");
            AuthServiceClient::new(channel)
                .login(LoginRequest {
                    email,
                    password: crate::helpers::PASSWORD.into(),
                })
                .await
                .expect("login");
        }
    };
    // The client that registered signs in again: not new.
    app.login(&registered).await;
    login("Firefox/140").await;
    login("Firefox/140").await;
    let mut client = notifications(&app).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let sign_ins = loop {
        let sign_ins: Vec<npb::Notification> = feed(&mut client, &token, false)
            .await
            .into_iter()
            .filter(|n| n.kind == npb::NotificationKind::NewSignIn as i32)
            .collect();
        if !sign_ins.is_empty() || std::time::Instant::now() > deadline {
            break sign_ins;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(sign_ins.len(), 1, "{sign_ins:?}");
    assert!(
        sign_ins[0].body.contains("Firefox/140"),
        "{}",
        sign_ins[0].body
    );
    // Nothing more arrives for the repeated sign-in.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = feed(&mut client, &token, false).await;
    assert_eq!(
        all.iter()
            .filter(|n| n.kind == npb::NotificationKind::NewSignIn as i32)
            .count(),
        1
    );
}

#[tokio::test]
async fn a_transaction_the_recurring_worker_records_is_notified() {
    use freedumb_proto::ledger as pb;
    let app = spawn_app_with(
        Backends::default(),
        &[("FREEDUMB_LEDGER__RECURRING_POLL_SECS", "1")],
    )
    .await;
    let token = app.token().await;
    let (mut ledger, mut client) = (app.ledger().await, notifications(&app).await);
    let account = open_account(&mut ledger, &token, "EUR", 0).await;
    let rule = ledger
        .create_recurring_rule(authed(
            pb::CreateRecurringRuleRequest {
                rule: Some(pb::RecurringRule {
                    account_id: account.id.clone(),
                    amount: money("EUR", -1_299),
                    description: "Streaming subscription".into(),
                    frequency: pb::Frequency::Monthly.into(),
                    start_date: today(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &token,
        ))
        .await
        .expect("rule")
        .into_inner()
        .rule
        .expect("rule");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let recorded = loop {
        let found: Vec<npb::Notification> = feed(&mut client, &token, false)
            .await
            .into_iter()
            .filter(|n| n.kind == npb::NotificationKind::RecurringRecorded as i32)
            .collect();
        if !found.is_empty() {
            break found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no recurring notification"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].title,
        "Recurring transaction recorded: -12.99 EUR"
    );
    assert_eq!(recorded[0].attributes.get("rule_id"), Some(&rule.id));
}

#[tokio::test]
async fn a_savings_goal_is_notified_once_per_target_when_its_money_gets_there() {
    use freedumb_proto::budget::goal::Source;
    use freedumb_proto::ledger as pb;
    let app = spawn_app().await;
    let token = app.token().await;
    let (mut ledger, mut client) = (app.ledger().await, notifications(&app).await);
    let mut budgets = budgets(&app).await;
    let mut watch = client
        .watch_notifications(authed(npb::WatchNotificationsRequest {}, &token))
        .await
        .expect("watch")
        .into_inner();
    let (holiday_category, _) = two_categories(&mut ledger, &token).await;
    let savings = open_account(&mut ledger, &token, "EUR", 10_000).await;
    let checking = open_account(&mut ledger, &token, "EUR", 100_000).await;
    let goal_id =
        |created: freedumb_proto::budget::CreateGoalResponse| created.goal.expect("goal").id;
    let fund = goal_id(
        create_goal(
            &mut budgets,
            &token,
            goal(
                "Emergency fund",
                50_000,
                12,
                Source::AccountId(savings.id.clone()),
            ),
        )
        .await,
    );
    // Reached when created: never announced.
    create_goal(
        &mut budgets,
        &token,
        goal("Buffer", 50_000, 12, Source::AccountId(checking.id.clone())),
    )
    .await;
    let holiday = goal_id(
        create_goal(
            &mut budgets,
            &token,
            goal(
                "Holiday",
                10_000,
                3,
                Source::CategoryId(holiday_category.clone()),
            ),
        )
        .await,
    );

    spend(&mut ledger, &token, &savings, 20_000, "").await;
    // The transfer that takes the savings to 55,000.
    ledger
        .create_transfer(authed(
            pb::CreateTransferRequest {
                from_account_id: checking.id.clone(),
                to_account_id: savings.id.clone(),
                amount: money("EUR", 25_000),
                date: today(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("transfer");
    let reached = next(&mut watch).await;
    assert_eq!(
        (reached.kind, reached.title.as_str()),
        (
            npb::NotificationKind::GoalReached as i32,
            "Goal \u{201c}Emergency fund\u{201d} reached"
        )
    );
    assert_eq!(reached.attributes.get("goal_id"), Some(&fund));
    let by = goal("", 1, 12, Source::AccountId(String::new()))
        .target_date
        .expect("date");
    assert_eq!(
        reached.body,
        format!(
            "You have saved 550.00 EUR of your 500.00 EUR target (planned by {}-{:02}-{:02}).",
            by.year, by.month, by.day
        )
    );

    // Still above: nothing new; the buffer was reached before it existed.
    spend(&mut ledger, &token, &savings, 1, "").await;
    spend(&mut ledger, &token, &checking, 5_000, "").await;
    // Put into the holiday category: 6,000 then 4,000 reaches 10,000.
    spend(&mut ledger, &token, &savings, 6_000, &holiday_category).await;
    spend(&mut ledger, &token, &savings, 4_000, &holiday_category).await;
    let reached = next(&mut watch).await;
    assert_eq!(reached.attributes.get("goal_id"), Some(&holiday));
    assert_eq!(
        reached.attributes.get("category_id"),
        Some(&holiday_category)
    );

    // A new target is reached anew: here by a new opening balance
    // (65,001 + 40,000 >= 100,000).
    budgets
        .update_goal(authed(
            freedumb_proto::budget::UpdateGoalRequest {
                goal: Some(freedumb_proto::budget::Goal {
                    id: fund.clone(),
                    target: money("EUR", 100_000),
                    ..Default::default()
                }),
                update_mask: mask(&["target"]),
            },
            &token,
        ))
        .await
        .expect("raise the target");
    ledger
        .update_account(authed(
            pb::UpdateAccountRequest {
                account: Some(pb::Account {
                    id: savings.id.clone(),
                    opening_balance: money("EUR", 50_000),
                    ..Default::default()
                }),
                update_mask: mask(&["opening_balance"]),
            },
            &token,
        ))
        .await
        .expect("new opening balance");
    let reached = next(&mut watch).await;
    assert_eq!(reached.attributes.get("goal_id"), Some(&fund));
    assert!(
        reached
            .body
            .starts_with("You have saved 1050.01 EUR of your 1000.00 EUR target")
    );

    assert!(
        tokio::time::timeout(Duration::from_millis(500), watch.message())
            .await
            .is_err(),
        "nothing more"
    );
    let goals_reached = feed(&mut client, &token, false)
        .await
        .into_iter()
        .filter(|n| n.kind == npb::NotificationKind::GoalReached as i32)
        .count();
    assert_eq!(goals_reached, 3);
}
