//! Webhook delivery on production backends with the worker in its own
//! process: `kill -9` of `worker-notification` in the middle of 500
//! deliveries loses none. Every delivery arrives at least once with a valid
//! signature; an attempt sent again carries the same `webhook-id`; after
//! the restart nothing is left undelivered. Required in CI.

use std::collections::BTreeSet;

use freedumb_proto::notification as npb;

use crate::helpers::{authed, spawn_app_with};
use crate::ledger_support::{import, open_account, options};
use crate::notification_support::{
    Behaviour, Receiver, notifications, notify_large, verify_signatures,
};

const DELIVERIES: usize = 500;

#[tokio::test]
async fn a_worker_killed_mid_burst_delivers_every_webhook_at_least_once_after_restart() {
    let Some(backends) = crate::helpers::production_backends().await else {
        return;
    };
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let shared = [
        ("FREEDUMB_EVENT_NAMESPACE", namespace.as_str()),
        ("FREEDUMB_NOTIFICATION__WEBHOOK_ALLOW_HTTP", "true"),
        (
            "FREEDUMB_NOTIFICATION__WEBHOOK_ALLOWED_NETWORKS",
            "[127.0.0.0/8]",
        ),
        ("FREEDUMB_NOTIFICATION__WEBHOOK_TIMEOUT_SECS", "1"),
        ("FREEDUMB_NOTIFICATION__WORKER_CLAIM_SECS", "3"),
        ("FREEDUMB_NOTIFICATION__WORKER_POLL_MS", "50"),
        ("FREEDUMB_NOTIFICATION__RETRY_BASE_MS", "100"),
    ];
    let mut core_env = shared.to_vec();
    core_env.push(("FREEDUMB_TARGET", "auth,ledger,budget,notification"));
    let core = spawn_app_with(backends.clone(), &core_env).await;
    let core_url = core.url();
    let mut worker_env = shared.to_vec();
    worker_env.extend([
        ("FREEDUMB_TARGET", "worker-notification"),
        ("FREEDUMB_AUTH_URL", core_url.as_str()),
    ]);
    let mut worker = spawn_app_with(backends.clone(), &worker_env).await;

    let token = core.token().await;
    let (mut ledger, mut client) = (core.ledger().await, notifications(&core).await);
    let receiver = Receiver::start(Behaviour::FailFirst(0)).await;
    let created = client
        .create_webhook_endpoint(authed(
            npb::CreateWebhookEndpointRequest {
                endpoint: Some(npb::WebhookEndpoint {
                    url: receiver.url(),
                    ..Default::default()
                }),
            },
            &token,
        ))
        .await
        .expect("endpoint")
        .into_inner();
    let (endpoint, secret) = (created.endpoint.expect("endpoint"), created.secret);
    // Every transaction is large: one webhook per imported line.
    notify_large(&mut client, &token, 1, "").await;
    let account = open_account(&mut ledger, &token, "EUR", 0).await;
    let mut csv = String::from("Date,Amount,Description\n");
    for i in 0..DELIVERIES {
        csv.push_str(&format!("2026-11-30,-{}.00,Line {i}\n", i + 1));
    }
    let imported = import(
        &mut ledger,
        &token,
        options(&account.id, true),
        csv.into_bytes(),
    )
    .await
    .expect("import");
    assert_eq!(imported.imported as usize, DELIVERIES);

    receiver
        .wait_for("the first deliveries", |r| r.len() >= 50)
        .await;
    worker.kill9();
    let restarted = spawn_app_with(backends, &worker_env).await;
    let received = receiver
        .wait_for("every delivery", |r| {
            r.iter()
                .map(|r| r.id.as_str())
                .collect::<BTreeSet<_>>()
                .len()
                >= DELIVERIES
        })
        .await;
    let unique: BTreeSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(unique.len(), DELIVERIES);
    // A message sent twice is the same message: same id, same body.
    for r in &received {
        let first = received.iter().find(|o| o.id == r.id).expect("first");
        assert_eq!(first.body, r.body, "{} sent with two bodies", r.id);
    }
    verify_signatures(&secret, &received);

    // The log agrees once the worker has recorded its last attempts.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut delivered = 0;
        let mut page_token = String::new();
        loop {
            let page = client
                .list_webhook_deliveries(authed(
                    npb::ListWebhookDeliveriesRequest {
                        endpoint_id: endpoint.id.clone(),
                        page_size: 1000,
                        page_token,
                    },
                    &token,
                ))
                .await
                .expect("log")
                .into_inner();
            delivered += page
                .deliveries
                .iter()
                .filter(|d| d.state == npb::DeliveryState::Delivered as i32)
                .count();
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        if delivered == DELIVERIES {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{delivered} of {DELIVERIES} recorded as delivered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    drop(restarted);
}
