//! The ledger on the embedded defaults (SQLite, in-process events): flows,
//! idempotency, transfer invariants, authorization, bad input, import,
//! watch and the recurring worker.

use std::time::Duration;

use freedumb_proto::ledger as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::helpers::{Backends, authed, reason, spawn_app, spawn_app_with, violated_fields};
use crate::ledger_support::{
    Ledger, account, amount, assert_ledger_consistent, balance, create, date, list_all, money,
    new_transaction, open_account,
};

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

async fn categories(ledger: &mut Ledger, token: &str) -> Vec<pb::Category> {
    ledger
        .list_categories(authed(pb::ListCategoriesRequest {}, token))
        .await
        .expect("list categories")
        .into_inner()
        .categories
}

#[tokio::test]
async fn accounts_transactions_and_balances_flow() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut ledger = app.ledger().await;

    let tree = categories(&mut ledger, &token).await;
    let food = tree
        .iter()
        .find(|c| c.name == "Food")
        .expect("default Food");
    let groceries = tree
        .iter()
        .find(|c| c.name == "Groceries" && c.parent_id == food.id)
        .expect("Groceries under Food");
    let restaurants = tree
        .iter()
        .find(|c| c.name == "Restaurants")
        .expect("Restaurants");

    let checking = open_account(&mut ledger, &token, "USD", 10_000).await;
    assert_eq!(balance(&checking), 10_000);

    let mut req = new_transaction(&checking, -2_500);
    req.category_id = groceries.id.clone();
    req.tags = vec!["Weekly".into(), "food".into()];
    req.merchant = "Corner Shop".into();
    let t = create(&mut ledger, &token, req).await;
    assert_eq!(t.tags, ["food", "weekly"]);
    let mut other = new_transaction(&checking, 150_000);
    other.description = "Salary March".into();
    other.date = date(2026, 3, 1);
    create(&mut ledger, &token, other).await;
    assert_eq!(
        balance(&account(&mut ledger, &token, &checking.id).await),
        157_500
    );

    let filters = [
        pb::ListTransactionsRequest {
            text: "corner".into(),
            ..Default::default()
        },
        pb::ListTransactionsRequest {
            tags: vec!["weekly".into()],
            ..Default::default()
        },
        pb::ListTransactionsRequest {
            max_amount_minor: Some(0),
            ..Default::default()
        },
        pb::ListTransactionsRequest {
            category_id: groceries.id.clone(),
            ..Default::default()
        },
        pb::ListTransactionsRequest {
            start_date: date(2026, 3, 10),
            end_date: date(2026, 3, 31),
            ..Default::default()
        },
    ];
    for filter in filters {
        let found = list_all(&mut ledger, &token, filter.clone()).await;
        assert_eq!(found.len(), 1, "{filter:?}");
        assert_eq!(found[0].id, t.id);
    }
    assert_eq!(
        list_all(&mut ledger, &token, Default::default())
            .await
            .len(),
        2
    );

    // Amount change moves the balance; splits replace the category.
    let updated = ledger
        .update_transaction(authed(
            pb::UpdateTransactionRequest {
                transaction: Some(pb::Transaction {
                    id: t.id.clone(),
                    amount: money("USD", -3_000),
                    splits: vec![
                        pb::Split {
                            category_id: groceries.id.clone(),
                            amount_minor: -2_000,
                        },
                        pb::Split {
                            category_id: restaurants.id.clone(),
                            amount_minor: -1_000,
                        },
                    ],
                    ..Default::default()
                }),
                update_mask: mask(&["amount", "splits"]),
            },
            &token,
        ))
        .await
        .expect("update")
        .into_inner()
        .transaction
        .expect("transaction");
    assert_eq!(amount(&updated), -3_000);
    assert!(updated.category_id.is_empty());
    assert_eq!(updated.splits.len(), 2);
    assert_eq!(
        balance(&account(&mut ledger, &token, &checking.id).await),
        157_000
    );
    let by_split = list_all(
        &mut ledger,
        &token,
        pb::ListTransactionsRequest {
            category_id: restaurants.id.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_split.len(), 1);

    // Deleting a category moves its transactions.
    let moved = ledger
        .delete_category(authed(
            pb::DeleteCategoryRequest {
                category_id: restaurants.id.clone(),
                reassign_to_category_id: groceries.id.clone(),
            },
            &token,
        ))
        .await
        .expect("delete category")
        .into_inner();
    assert_eq!(moved.reassigned_transactions, 1);

    let history = ledger
        .get_balance_history(authed(
            pb::GetBalanceHistoryRequest {
                account_id: checking.id.clone(),
                start_date: date(2026, 2, 28),
                end_date: date(2026, 3, 15),
            },
            &token,
        ))
        .await
        .expect("history")
        .into_inner()
        .points;
    let at = |day: usize| history[day].balance.as_ref().map_or(0, |m| m.amount_minor);
    assert_eq!(history.len(), 16);
    assert_eq!(
        (at(0), at(1), at(14), at(15)),
        (10_000, 160_000, 157_000, 157_000)
    );

    ledger
        .delete_transaction(authed(
            pb::DeleteTransactionRequest {
                transaction_id: t.id.clone(),
            },
            &token,
        ))
        .await
        .expect("delete");
    assert_eq!(
        balance(&account(&mut ledger, &token, &checking.id).await),
        160_000
    );

    ledger
        .archive_account(authed(
            pb::ArchiveAccountRequest {
                account_id: checking.id.clone(),
            },
            &token,
        ))
        .await
        .expect("archive");
    let err = ledger
        .create_transaction(authed(new_transaction(&checking, -1), &token))
        .await
        .expect_err("archived");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_ledger_consistent(&mut ledger, &token, &[checking]).await;
}

#[tokio::test]
async fn a_request_id_replayed_100_times_creates_one_transaction() {
    let app = spawn_app().await;
    replay_100_times(&app).await;
}

/// 100 concurrent creates with one request id: one transaction, 100
/// identical replies; other content under that id is refused.
pub async fn replay_100_times(app: &crate::helpers::TestApp) {
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let acc = open_account(&mut ledger, &token, "EUR", 0).await;
    let mut req = new_transaction(&acc, -999);
    req.request_id = "replay-1".into();
    let calls = (0..100).map(|_| {
        let (mut ledger, token, req) = (ledger.clone(), token.clone(), req.clone());
        tokio::spawn(async move { create(&mut ledger, &token, req).await })
    });
    let replies: Vec<pb::Transaction> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("join"))
        .collect();
    assert!(
        replies.iter().all(|r| *r == replies[0]),
        "every reply is identical"
    );
    let all = list_all(&mut ledger, &token, Default::default()).await;
    assert_eq!(all.len(), 1);
    assert_eq!(balance(&account(&mut ledger, &token, &acc.id).await), -999);

    req.amount = money("EUR", -1000);
    let err = ledger
        .create_transaction(authed(req, &token))
        .await
        .expect_err("same id, other content");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(reason(&err), "REQUEST_ID_REUSED");
    assert_eq!(violated_fields(&err), ["request_id"]);
}

#[tokio::test]
async fn concurrent_transfers_keep_every_balance_consistent() {
    let app = spawn_app().await;
    random_transfers(&app, Duration::from_secs(3)).await;
}

/// 8 clients move money at random among 5 accounts for `period`: the
/// total never changes and no transfer is half-applied.
pub async fn random_transfers(app: &crate::helpers::TestApp, period: Duration) {
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let mut accounts = Vec::new();
    for _ in 0..5 {
        accounts.push(open_account(&mut ledger, &token, "USD", 1_000_000).await);
    }
    let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
    let deadline = tokio::time::Instant::now() + period;
    let workers = (0..8u64).map(|worker| {
        let (mut ledger, token, ids) = (ledger.clone(), token.clone(), ids.clone());
        tokio::spawn(async move {
            let mut n = worker;
            let mut done = 0;
            while tokio::time::Instant::now() < deadline {
                // A cheap deterministic shuffle per worker.
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let from = (n >> 33) as usize % ids.len();
                let to = (from + 1 + (n >> 40) as usize % (ids.len() - 1)) % ids.len();
                let result = ledger
                    .create_transfer(authed(
                        pb::CreateTransferRequest {
                            from_account_id: ids[from].clone(),
                            to_account_id: ids[to].clone(),
                            amount: money("USD", 1 + (n >> 50) as i64 % 5_000),
                            date: date(2026, 5, 1),
                            request_id: format!("w{worker}-{done}"),
                            ..Default::default()
                        },
                        &token,
                    ))
                    .await;
                match result {
                    Ok(_) => done += 1,
                    // A lock timeout is a clean refusal the client may retry.
                    Err(e) if e.code() == Code::Aborted => {}
                    Err(e) => panic!("transfer failed: {e:?}"),
                }
            }
            done
        })
    });
    let total: u64 = futures::future::join_all(workers)
        .await
        .into_iter()
        .map(|r| r.expect("join"))
        .sum();
    assert!(total > 8, "transfers happened ({total})");
    let mut sum = 0;
    for a in &accounts {
        sum += balance(&account(&mut ledger, &token, &a.id).await);
    }
    assert_eq!(sum, 5 * 1_000_000, "money is neither created nor lost");
    assert_ledger_consistent(&mut ledger, &token, &accounts).await;
}

#[tokio::test]
async fn transfers_between_currencies_use_the_given_rate() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let usd = open_account(&mut ledger, &token, "USD", 10_000).await;
    let jpy = open_account(&mut ledger, &token, "JPY", 0).await;
    let transfer = ledger
        .create_transfer(authed(
            pb::CreateTransferRequest {
                from_account_id: usd.id.clone(),
                to_account_id: jpy.id.clone(),
                amount: money("USD", 1_000),
                exchange_rate: "150.55".into(),
                date: date(2026, 4, 1),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("transfer")
        .into_inner()
        .transfer
        .expect("transfer");
    assert_eq!(transfer.received_amount, money("JPY", 1506));
    assert_eq!(balance(&account(&mut ledger, &token, &usd.id).await), 9_000);
    assert_eq!(balance(&account(&mut ledger, &token, &jpy.id).await), 1506);

    // A leg cannot be deleted alone; the transfer goes with both legs.
    let err = ledger
        .delete_transaction(authed(
            pb::DeleteTransactionRequest {
                transaction_id: transfer.to_transaction_id.clone(),
            },
            &token,
        ))
        .await
        .expect_err("leg");
    assert_eq!(err.code(), Code::FailedPrecondition);
    ledger
        .delete_transfer(authed(
            pb::DeleteTransferRequest {
                transfer_id: transfer.id.clone(),
            },
            &token,
        ))
        .await
        .expect("delete transfer");
    assert_eq!(
        balance(&account(&mut ledger, &token, &usd.id).await),
        10_000
    );
    assert_eq!(balance(&account(&mut ledger, &token, &jpy.id).await), 0);
    assert!(
        list_all(&mut ledger, &token, Default::default())
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn another_users_ids_are_not_found_and_nothing_changes() {
    let app = spawn_app().await;
    let (a, b) = (app.token().await, app.token().await);
    let mut ledger = app.ledger().await;
    let acc = open_account(&mut ledger, &a, "USD", 500).await;
    let other = open_account(&mut ledger, &a, "USD", 0).await;
    let mine = open_account(&mut ledger, &b, "USD", 0).await;
    let t = create(&mut ledger, &a, new_transaction(&acc, -100)).await;
    let category = categories(&mut ledger, &a).await.remove(0);
    let transfer = ledger
        .create_transfer(authed(
            pb::CreateTransferRequest {
                from_account_id: acc.id.clone(),
                to_account_id: other.id.clone(),
                amount: money("USD", 50),
                date: date(2026, 1, 1),
                ..Default::default()
            },
            &a,
        ))
        .await
        .expect("transfer")
        .into_inner()
        .transfer
        .expect("transfer");
    let rule = ledger
        .create_recurring_rule(authed(
            pb::CreateRecurringRuleRequest {
                rule: Some(pb::RecurringRule {
                    account_id: acc.id.clone(),
                    amount: money("USD", -10),
                    frequency: pb::Frequency::Monthly.into(),
                    start_date: date(2030, 1, 1),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &a,
        ))
        .await
        .expect("rule")
        .into_inner()
        .rule
        .expect("rule");

    let mut l = ledger.clone();
    let results: Vec<(&str, Result<(), tonic::Status>)> = vec![
        (
            "GetAccount",
            l.get_account(authed(
                pb::GetAccountRequest {
                    account_id: acc.id.clone(),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "UpdateAccount",
            l.update_account(authed(
                pb::UpdateAccountRequest {
                    account: Some(pb::Account {
                        id: acc.id.clone(),
                        name: "mine now".into(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["name"]),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "ArchiveAccount",
            l.archive_account(authed(
                pb::ArchiveAccountRequest {
                    account_id: acc.id.clone(),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "GetBalanceHistory",
            l.get_balance_history(authed(
                pb::GetBalanceHistoryRequest {
                    account_id: acc.id.clone(),
                    start_date: date(2026, 1, 1),
                    end_date: date(2026, 1, 2),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "UpdateCategory",
            l.update_category(authed(
                pb::UpdateCategoryRequest {
                    category: Some(pb::Category {
                        id: category.id.clone(),
                        name: "x".into(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["name"]),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "DeleteCategory",
            l.delete_category(authed(
                pb::DeleteCategoryRequest {
                    category_id: category.id.clone(),
                    reassign_to_category_id: String::new(),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "CreateTransaction",
            l.create_transaction(authed(new_transaction(&acc, -1), &b))
                .await
                .map(drop),
        ),
        (
            "GetTransaction",
            l.get_transaction(authed(
                pb::GetTransactionRequest {
                    transaction_id: t.id.clone(),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "UpdateTransaction",
            l.update_transaction(authed(
                pb::UpdateTransactionRequest {
                    transaction: Some(pb::Transaction {
                        id: t.id.clone(),
                        notes: "x".into(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["notes"]),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "DeleteTransaction",
            l.delete_transaction(authed(
                pb::DeleteTransactionRequest {
                    transaction_id: t.id.clone(),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "CreateTransfer from A's",
            l.create_transfer(authed(
                pb::CreateTransferRequest {
                    from_account_id: acc.id.clone(),
                    to_account_id: mine.id.clone(),
                    amount: money("USD", 1),
                    date: date(2026, 1, 1),
                    ..Default::default()
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "CreateTransfer to A's",
            l.create_transfer(authed(
                pb::CreateTransferRequest {
                    from_account_id: mine.id.clone(),
                    to_account_id: acc.id.clone(),
                    amount: money("USD", 1),
                    date: date(2026, 1, 1),
                    ..Default::default()
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "GetTransfer",
            l.get_transfer(authed(
                pb::GetTransferRequest {
                    transfer_id: transfer.id.clone(),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "DeleteTransfer",
            l.delete_transfer(authed(
                pb::DeleteTransferRequest {
                    transfer_id: transfer.id.clone(),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "CreateRecurringRule",
            l.create_recurring_rule(authed(
                pb::CreateRecurringRuleRequest {
                    rule: Some(pb::RecurringRule {
                        account_id: acc.id.clone(),
                        amount: money("USD", -1),
                        frequency: pb::Frequency::Daily.into(),
                        start_date: date(2030, 1, 1),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "GetRecurringRule",
            l.get_recurring_rule(authed(
                pb::GetRecurringRuleRequest {
                    rule_id: rule.id.clone(),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "DeleteRecurringRule",
            l.delete_recurring_rule(authed(
                pb::DeleteRecurringRuleRequest {
                    rule_id: rule.id.clone(),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "ImportTransactions",
            l.import_transactions(authed(
                futures::stream::iter(vec![
                    pb::ImportTransactionsRequest {
                        part: Some(pb::import_transactions_request::Part::Options(
                            pb::ImportOptions {
                                account_id: acc.id.clone(),
                                date_column: "1".into(),
                                amount_column: "2".into(),
                                ..Default::default()
                            },
                        )),
                    },
                    pb::ImportTransactionsRequest {
                        part: Some(pb::import_transactions_request::Part::Chunk(
                            b"2026-01-01,5.00\n".to_vec(),
                        )),
                    },
                ]),
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "WatchTransactions",
            l.watch_transactions(authed(
                pb::WatchTransactionsRequest {
                    account_id: acc.id.clone(),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
    ];
    for (rpc, result) in results {
        let err = result.expect_err(rpc);
        assert_eq!(err.code(), Code::NotFound, "{rpc}: {err:?}");
    }
    // Also: B cannot file under A's category.
    let mut req = new_transaction(&mine, -1);
    req.category_id = category.id.clone();
    let err = l
        .create_transaction(authed(req, &b))
        .await
        .expect_err("A's category");
    assert_eq!(err.code(), Code::InvalidArgument);

    // Nothing of A's changed, and B's lists show none of it.
    let acc_now = account(&mut ledger, &a, &acc.id).await;
    assert_eq!(
        (balance(&acc_now), acc_now.name.as_str(), acc_now.archived),
        (350, "USD account", false)
    );
    assert_eq!(list_all(&mut ledger, &a, Default::default()).await.len(), 3);
    assert!(
        list_all(&mut ledger, &b, Default::default())
            .await
            .is_empty()
    );
    let b_accounts = ledger
        .list_accounts(authed(
            pb::ListAccountsRequest {
                show_archived: true,
                ..Default::default()
            },
            &b,
        ))
        .await
        .expect("list")
        .into_inner()
        .accounts;
    let b_ids: Vec<&str> = b_accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(b_ids, [mine.id.as_str()]);
    let b_rules = ledger
        .list_recurring_rules(authed(pb::ListRecurringRulesRequest::default(), &b))
        .await
        .expect("rules")
        .into_inner()
        .rules;
    assert!(b_rules.is_empty());
    let b_categories = categories(&mut ledger, &b).await;
    assert!(b_categories.iter().all(|c| c.id != category.id));
    assert!(
        categories(&mut ledger, &a)
            .await
            .iter()
            .any(|c| c.id == category.id && c.name == category.name)
    );
}

#[tokio::test]
async fn bad_input_gets_invalid_argument_with_the_field() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let usd = open_account(&mut ledger, &token, "USD", 0).await;

    let account_with = |code: &str, minor: i64| pb::CreateAccountRequest {
        account: Some(pb::Account {
            name: "x".into(),
            kind: pb::AccountKind::Savings.into(),
            opening_balance: money(code, minor),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let err = ledger
        .create_account(authed(account_with("ZZZ", 0), &token))
        .await
        .expect_err("currency");
    assert_eq!(
        violated_fields(&err),
        ["account.opening_balance.currency_code"]
    );
    let err = ledger
        .create_account(authed(account_with("USD", i64::MAX), &token))
        .await
        .expect_err("overflow");
    assert_eq!(
        violated_fields(&err),
        ["account.opening_balance.amount_minor"]
    );

    let cases: Vec<(pb::CreateTransactionRequest, &str)> = vec![
        (
            pb::CreateTransactionRequest {
                amount: money("EUR", -5),
                ..new_transaction(&usd, 0)
            },
            "amount",
        ),
        (new_transaction(&usd, i64::MIN), "amount"),
        (
            pb::CreateTransactionRequest {
                date: date(2026, 2, 30),
                ..new_transaction(&usd, -5)
            },
            "date",
        ),
        (
            pb::CreateTransactionRequest {
                date: date(10_000, 1, 1),
                ..new_transaction(&usd, -5)
            },
            "date",
        ),
        (
            pb::CreateTransactionRequest {
                account_id: "not-an-id".into(),
                ..new_transaction(&usd, -5)
            },
            "account_id",
        ),
        (
            pb::CreateTransactionRequest {
                tags: vec![String::new()],
                ..new_transaction(&usd, -5)
            },
            "tags",
        ),
    ];
    for (req, field) in cases {
        let err = ledger
            .create_transaction(authed(req.clone(), &token))
            .await
            .expect_err(field);
        assert_eq!(err.code(), Code::InvalidArgument, "{req:?}");
        assert_eq!(violated_fields(&err), [field], "{req:?}");
    }

    let big = open_account(&mut ledger, &token, "USD", 0).await;

    for (req, field) in [
        (
            pb::ListTransactionsRequest {
                page_size: 1001,
                ..Default::default()
            },
            "page_size",
        ),
        (
            pb::ListTransactionsRequest {
                page_size: -1,
                ..Default::default()
            },
            "page_size",
        ),
        (
            pb::ListTransactionsRequest {
                page_token: "garbage!".into(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            pb::ListTransactionsRequest {
                start_date: date(2026, 13, 1),
                ..Default::default()
            },
            "start_date",
        ),
    ] {
        let err = ledger
            .list_transactions(authed(req, &token))
            .await
            .expect_err(field);
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&err), [field]);
    }

    // A page token only works with the filters it was issued for.
    for i in 0..3 {
        create(
            &mut ledger,
            &token,
            pb::CreateTransactionRequest {
                description: format!("t{i}"),
                ..new_transaction(&usd, -1)
            },
        )
        .await;
    }
    let page = ledger
        .list_transactions(authed(
            pb::ListTransactionsRequest {
                page_size: 1,
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("page")
        .into_inner();
    let err = ledger
        .list_transactions(authed(
            pb::ListTransactionsRequest {
                page_size: 1,
                page_token: page.next_page_token,
                text: "t1".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect_err("other filters");
    assert_eq!(violated_fields(&err), ["page_token"]);

    let err = ledger
        .update_account(authed(
            pb::UpdateAccountRequest {
                account: Some(pb::Account {
                    id: usd.id.clone(),
                    ..Default::default()
                }),
                update_mask: mask(&["currency"]),
            },
            &token,
        ))
        .await
        .expect_err("mask");
    assert_eq!(violated_fields(&err), ["update_mask"]);

    let err = ledger
        .create_transfer(authed(
            pb::CreateTransferRequest {
                from_account_id: usd.id.clone(),
                to_account_id: big.id.clone(),
                amount: money("USD", -5),
                date: date(2026, 1, 1),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect_err("negative transfer");
    assert_eq!(violated_fields(&err), ["amount.amount_minor"]);

    // Malformed CSV: the whole file cannot be read.
    let err = import(
        &mut ledger,
        &token,
        options(&usd.id, true),
        b"Date,Amount,Description\n".to_vec(),
    )
    .await
    .expect_err("no rows");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&err), ["chunk"]);
    let mut named = options(&usd.id, true);
    named.amount_column = "Betrag".into();
    let err = import(
        &mut ledger,
        &token,
        named,
        b"Date,Amount,Description\n2026-01-01,5,x\n".to_vec(),
    )
    .await
    .expect_err("missing column");
    assert_eq!(violated_fields(&err), ["options.amount_column"]);
}

fn options(account_id: &str, header: bool) -> pb::ImportOptions {
    pb::ImportOptions {
        account_id: account_id.into(),
        has_header: header,
        date_column: if header { "Date".into() } else { "1".into() },
        amount_column: if header { "Amount".into() } else { "2".into() },
        description_column: if header {
            "Description".into()
        } else {
            String::new()
        },
        ..Default::default()
    }
}

async fn import(
    ledger: &mut Ledger,
    token: &str,
    options: pb::ImportOptions,
    data: Vec<u8>,
) -> Result<pb::ImportTransactionsResponse, tonic::Status> {
    use pb::import_transactions_request::Part;
    let mut parts = vec![pb::ImportTransactionsRequest {
        part: Some(Part::Options(options)),
    }];
    for chunk in data.chunks(1000) {
        parts.push(pb::ImportTransactionsRequest {
            part: Some(Part::Chunk(chunk.to_vec())),
        });
    }
    ledger
        .import_transactions(authed(futures::stream::iter(parts), token))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn csv_import_reports_bad_lines_and_skips_lines_seen_before() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let acc = open_account(&mut ledger, &token, "EUR", 0).await;
    let csv = "Date;Amount;Description\n\
               01.03.2026;-1.234,50;Rent\n\
               02.03.2026;-3,20;Coffee\n\
               02.03.2026;-3,20;Coffee\n\
               31.02.2026;-1,00;Bad date\n\
               03.03.2026;12,345;Too precise\n\
               04.03.2026;2.500,00;Salary\n";
    let mut opts = options(&acc.id, true);
    opts.delimiter = ";".into();
    opts.date_format = "%d.%m.%Y".into();
    opts.decimal_separator = ",".into();
    opts.thousands_separator = ".".into();
    let first = import(&mut ledger, &token, opts.clone(), csv.as_bytes().to_vec())
        .await
        .expect("import");
    assert_eq!((first.imported, first.skipped_duplicates), (4, 0));
    let lines: Vec<(i64, &str)> = first
        .errors
        .iter()
        .map(|e| (e.line, e.field.as_str()))
        .collect();
    assert_eq!(lines, [(5, "date_column"), (6, "amount_column")]);
    assert_eq!(
        balance(&account(&mut ledger, &token, &acc.id).await),
        -123_450 - 640 + 250_000
    );

    let again = import(&mut ledger, &token, opts, csv.as_bytes().to_vec())
        .await
        .expect("import again");
    assert_eq!((again.imported, again.skipped_duplicates), (0, 4));
    assert_eq!(
        list_all(&mut ledger, &token, Default::default())
            .await
            .len(),
        4
    );
    assert_ledger_consistent(&mut ledger, &token, &[acc]).await;
}

#[tokio::test]
async fn watch_streams_the_callers_own_changes() {
    let app = spawn_app().await;
    let (a, b) = (app.token().await, app.token().await);
    let mut ledger = app.ledger().await;
    let acc_a = open_account(&mut ledger, &a, "USD", 0).await;
    let acc_b = open_account(&mut ledger, &b, "USD", 0).await;
    let mut watch = ledger
        .watch_transactions(authed(pb::WatchTransactionsRequest::default(), &a))
        .await
        .expect("watch")
        .into_inner();
    // B's change first: A's watch must skip it.
    create(&mut ledger, &b, new_transaction(&acc_b, -7)).await;
    let mine = create(&mut ledger, &a, new_transaction(&acc_a, -8)).await;
    let event = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("an event within 10 s")
        .expect("stream ok")
        .expect("an event")
        .event
        .expect("event");
    match event.change {
        Some(pb::ledger_event::Change::TransactionCreated(c)) => {
            assert_eq!(c.transaction.expect("transaction"), mine);
        }
        other => panic!("unexpected event {other:?}"),
    }
}

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
