//! The recurring worker: due occurrences are recorded once.

use std::time::Duration;

use freedumb_proto::ledger as pb;

use crate::helpers::{Backends, authed, spawn_app_with};
use crate::ledger_support::{account, balance, date, list_all, money, open_account};

#[tokio::test]
async fn the_recurring_worker_records_due_occurrences_once() {
    let app = spawn_app_with(
        Backends::default(),
        &[("FREEDUMB_LEDGER__RECURRING_POLL_SECS", "1")],
    )
    .await;
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let acc = open_account(&mut ledger, &token, "USD", 0).await;
    let start = chrono::Utc::now().date_naive() - chrono::Days::new(4);
    use chrono::Datelike as _;
    let rule = ledger
        .create_recurring_rule(authed(
            pb::CreateRecurringRuleRequest {
                rule: Some(pb::RecurringRule {
                    account_id: acc.id.clone(),
                    amount: money("USD", -500),
                    description: "Daily coffee".into(),
                    frequency: pb::Frequency::Daily.into(),
                    start_date: date(start.year(), start.month() as i32, start.day() as i32),
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
    for _ in 0..100 {
        if list_all(&mut ledger, &token, Default::default())
            .await
            .len()
            >= 5
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let found = list_all(&mut ledger, &token, Default::default()).await;
    assert_eq!(found.len(), 5, "today and the 4 days before, once each");
    assert!(found.iter().all(|t| t.recurring_rule_id == rule.id));
    assert_eq!(
        balance(&account(&mut ledger, &token, &acc.id).await),
        -2_500
    );
    let now = ledger
        .get_recurring_rule(authed(
            pb::GetRecurringRuleRequest {
                rule_id: rule.id.clone(),
            },
            &token,
        ))
        .await
        .expect("rule")
        .into_inner()
        .rule
        .expect("rule");
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    assert_eq!(
        now.next_date,
        date(
            tomorrow.year(),
            tomorrow.month() as i32,
            tomorrow.day() as i32
        )
    );
}
