//! One user's accounts, categories, transactions and balances, end to end.

use freedumb_proto::ledger as pb;
use tonic::Code;

use crate::helpers::{authed, spawn_app};
use crate::ledger_support::{
    account, amount, assert_ledger_consistent, balance, categories, create, date, list_all, mask,
    money, new_transaction, open_account,
};

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
