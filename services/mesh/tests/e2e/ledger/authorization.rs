//! Another user's ids: every RPC answers NOT_FOUND and nothing changes.

use freedumb_proto::ledger as pb;
use tonic::Code;

use crate::helpers::{authed, spawn_app};
use crate::ledger_support::{
    account, balance, categories, create, date, list_all, mask, money, new_transaction,
    open_account,
};

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

    // A's own import, whose one line is unreadable: it exists to be
    // followed, and records nothing of A's.
    let statement = || {
        Some(freedumb_proto::google::api::HttpBody {
            content_type: "text/csv".into(),
            data: b"Date,Amount\n2026-01-02,three\n".to_vec(),
            extensions: Vec::new(),
        })
    };
    let layout = || {
        Some(pb::CsvOptions {
            has_header: Some(true),
            date_column: "Date".into(),
            amount_column: "Amount".into(),
            ..Default::default()
        })
    };
    let import = ledger
        .create_import(authed(
            pb::CreateImportRequest {
                account_id: acc.id.clone(),
                file: statement(),
                format: pb::StatementFormat::Csv.into(),
                csv: layout(),
                ..Default::default()
            },
            &a,
        ))
        .await
        .expect("a's import")
        .into_inner()
        .operation
        .expect("operation")
        .id;
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
            "CreateImport",
            l.create_import(authed(
                pb::CreateImportRequest {
                    account_id: acc.id.clone(),
                    file: statement(),
                    format: pb::StatementFormat::Csv.into(),
                    csv: layout(),
                    ..Default::default()
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "PreviewImport",
            l.preview_import(authed(
                pb::PreviewImportRequest {
                    account_id: acc.id.clone(),
                    file: statement(),
                    format: pb::StatementFormat::Csv.into(),
                    csv: layout(),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "GetOperation",
            l.get_operation(authed(
                pb::GetOperationRequest {
                    operation_id: import.clone(),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "WatchOperation",
            l.watch_operation(authed(
                pb::WatchOperationRequest {
                    operation_id: import.clone(),
                },
                &b,
            ))
            .await
            .map(drop),
        ),
        (
            "CancelOperation",
            l.cancel_operation(authed(
                pb::CancelOperationRequest {
                    operation_id: import.clone(),
                },
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
