//! The ai store contract on SQLite always and Postgres when
//! `TEST_DATABASE_URL` is set (required in CI): rules run in stage order,
//! are limited per user and scoped to their owner; the history keeps each
//! merchant's latest categorized transactions by version, learns from each
//! event once, and follows deletions of transactions and categories.

use freedumb_ai::domain::rule::ConditionRecord;
use freedumb_ai::store::{HISTORY_DEPTH, LearnEvent, MAX_RULES, Observation, RuleRecord, Stores};
use freedumb_kit::time::now;
use uuid::Uuid;

freedumb_kit::store_contract!(
    freedumb_ai::NAME,
    freedumb_ai::MIGRATIONS,
    freedumb_ai::store::for_database;
    rules_run_in_stage_order_are_limited_and_scoped,
    the_history_keeps_the_latest_by_version_and_learns_once,
    a_proposal_is_written_once_with_its_event,
);

fn rule(user_id: Uuid, stage: i32) -> RuleRecord {
    let now = now();
    RuleRecord {
        id: Uuid::now_v7(),
        user_id,
        name: format!("stage {stage}"),
        conditions: vec![ConditionRecord {
            field: "merchant".into(),
            operator: "contains".into(),
            value: "coffee".into(),
        }],
        category_id: Uuid::now_v7(),
        stage,
        stop: false,
        create_time: now,
        update_time: now,
    }
}

async fn rules_run_in_stage_order_are_limited_and_scoped(stores: Stores) {
    let (owner, other) = (Uuid::now_v7(), Uuid::now_v7());
    let late = rule(owner, 10);
    let early = rule(owner, 0);
    let also_early = rule(owner, 0);
    for r in [&late, &early, &also_early] {
        assert!(stores.user.create_rule(r).await.expect("create"));
    }
    let ids: Vec<Uuid> = stores
        .user
        .list_rules(owner)
        .await
        .expect("list")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, [early.id, also_early.id, late.id]);
    assert_eq!(
        stores.user.get_rule(owner, late.id).await.expect("get"),
        Some(late.clone()),
        "conditions round-trip"
    );

    assert!(
        stores
            .user
            .get_rule(other, late.id)
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        stores
            .user
            .list_rules(other)
            .await
            .expect("list")
            .is_empty()
    );
    let mut stolen = late.clone();
    stolen.user_id = other;
    stolen.name = "mine now".into();
    assert!(stores.user.update_rule(&stolen).await.is_err());
    assert!(stores.user.delete_rule(other, late.id).await.is_err());
    assert_eq!(
        stores
            .user
            .get_rule(owner, late.id)
            .await
            .expect("get")
            .map(|r| r.name),
        Some("stage 10".to_owned())
    );

    let mut renamed = late.clone();
    renamed.name = "renamed".into();
    renamed.stage = 1;
    stores.user.update_rule(&renamed).await.expect("update");
    stores
        .user
        .delete_rule(owner, early.id)
        .await
        .expect("delete");
    let names: Vec<String> = stores
        .user
        .list_rules(owner)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["stage 0", "renamed"]);

    let busy = Uuid::now_v7();
    for _ in 0..MAX_RULES {
        assert!(
            stores
                .user
                .create_rule(&rule(busy, 0))
                .await
                .expect("create")
        );
    }
    assert!(
        !stores
            .user
            .create_rule(&rule(busy, 0))
            .await
            .expect("create")
    );
    assert_eq!(
        stores.user.list_rules(busy).await.expect("list").len(),
        MAX_RULES
    );
}

fn seen(
    user_id: Uuid,
    transaction_id: Uuid,
    merchant: &str,
    category: Option<Uuid>,
    version: i64,
) -> LearnEvent {
    LearnEvent {
        event_id: Uuid::now_v7(),
        observations: vec![Observation::Categorized {
            user_id,
            transaction_id,
            merchant_key: merchant.into(),
            merchant_name: merchant.to_uppercase(),
            category_id: category,
            version,
        }],
        proposals: Vec::new(),
    }
}

async fn learn(stores: &Stores, events: &[LearnEvent]) -> usize {
    stores.learner.learn(events, now()).await.expect("learn")
}

async fn history(stores: &Stores, user: Uuid, merchant: &str) -> Vec<Uuid> {
    stores
        .user
        .history(user, &[merchant.to_owned(), "nobody".to_owned()])
        .await
        .expect("history")
        .remove(merchant)
        .unwrap_or_default()
}

async fn the_history_keeps_the_latest_by_version_and_learns_once(stores: Stores) {
    let (user, other) = (Uuid::now_v7(), Uuid::now_v7());
    let (food, fun, misc) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let transactions: Vec<Uuid> = (0..7).map(|_| Uuid::now_v7()).collect();
    // Seven transactions, the last two in `fun`: the five latest count.
    let events: Vec<LearnEvent> = transactions
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let category = if i >= 5 { fun } else { food };
            seen(user, *t, "blue bottle", Some(category), 100 + i as i64)
        })
        .collect();
    assert_eq!(learn(&stores, &events).await, 7);
    assert_eq!(learn(&stores, &events).await, 0, "each event once");
    assert_eq!(
        history(&stores, user, "blue bottle").await,
        [fun, fun, food, food, food]
    );
    assert_eq!(HISTORY_DEPTH, 5);
    assert!(history(&stores, other, "blue bottle").await.is_empty());

    // A correction moves a transaction; an older version arriving late
    // changes nothing.
    learn(
        &stores,
        &[seen(user, transactions[6], "blue bottle", Some(misc), 200)],
    )
    .await;
    learn(
        &stores,
        &[seen(user, transactions[6], "blue bottle", Some(food), 150)],
    )
    .await;
    assert_eq!(
        history(&stores, user, "blue bottle").await,
        [misc, fun, food, food, food]
    );
    // Uncategorized, then deleted: out of the history; a late update of
    // the deleted one does not bring it back.
    learn(
        &stores,
        &[seen(user, transactions[6], "blue bottle", None, 300)],
    )
    .await;
    learn(
        &stores,
        &[LearnEvent {
            event_id: Uuid::now_v7(),
            observations: vec![Observation::Deleted {
                user_id: user,
                transaction_id: transactions[5],
                version: 300,
            }],
            proposals: Vec::new(),
        }],
    )
    .await;
    learn(
        &stores,
        &[seen(user, transactions[5], "blue bottle", Some(fun), 250)],
    )
    .await;
    assert_eq!(
        history(&stores, user, "blue bottle").await,
        [food, food, food, food, food]
    );
    // A deleted category moves its transactions where the ledger moved
    // them, and its rules with them (or deletes them with it).
    let mut into_food = rule(user, 0);
    into_food.category_id = food;
    let mut into_fun = rule(user, 0);
    into_fun.category_id = fun;
    for r in [&into_food, &into_fun] {
        assert!(stores.user.create_rule(r).await.expect("create"));
    }
    learn(
        &stores,
        &[LearnEvent {
            event_id: Uuid::now_v7(),
            observations: vec![Observation::CategoryDeleted {
                user_id: user,
                category_id: fun,
                reassigned_to: None,
            }],
            proposals: Vec::new(),
        }],
    )
    .await;
    learn(
        &stores,
        &[LearnEvent {
            event_id: Uuid::now_v7(),
            observations: vec![Observation::CategoryDeleted {
                user_id: user,
                category_id: food,
                reassigned_to: Some(misc),
            }],
            proposals: Vec::new(),
        }],
    )
    .await;
    assert_eq!(history(&stores, user, "blue bottle").await, [misc; 5]);
    let rules: Vec<(Uuid, Uuid)> = stores
        .user
        .list_rules(user)
        .await
        .expect("rules")
        .iter()
        .map(|r| (r.id, r.category_id))
        .collect();
    assert_eq!(rules, [(into_food.id, misc)]);

    // Every merchant with its latest name, for suggestions.
    learn(
        &stores,
        &[seen(user, Uuid::now_v7(), "netflix", Some(fun), 400)],
    )
    .await;
    let merchants = stores.user.merchants(user).await.expect("merchants");
    let summary: Vec<(&str, &str, usize)> = merchants
        .iter()
        .map(|m| (m.key.as_str(), m.name.as_str(), m.categories.len()))
        .collect();
    assert_eq!(
        summary,
        [("blue bottle", "BLUE BOTTLE", 5), ("netflix", "NETFLIX", 1)]
    );
    assert!(
        stores
            .user
            .merchants(other)
            .await
            .expect("merchants")
            .is_empty()
    );
}

async fn a_proposal_is_written_once_with_its_event(stores: Stores) {
    let user = Uuid::now_v7();
    let proposal = freedumb_ai::outbox::proposed(
        user,
        freedumb_proto::ai::CategoryProposed {
            transaction_id: Uuid::now_v7().to_string(),
            category_name: "Fuel".into(),
            confidence: 0.95,
            ..Default::default()
        },
    );
    let mut event = seen(user, Uuid::now_v7(), "shell", None, 1);
    event.proposals.push(proposal.clone());
    // Delivered twice, in one batch and again later: proposed once.
    assert_eq!(learn(&stores, &[event.clone(), event.clone()]).await, 1);
    assert_eq!(learn(&stores, &[event]).await, 0);
    let claimed = stores
        .outbox
        .claim(
            Uuid::now_v7(),
            now().timestamp_millis(),
            now().timestamp_millis() + 60_000,
            10,
        )
        .await
        .expect("claim");
    let events: Vec<_> = claimed.into_iter().map(|r| r.event).collect();
    assert_eq!(events, [proposal]);
}
