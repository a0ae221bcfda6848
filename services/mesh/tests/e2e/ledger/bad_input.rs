//! Bad input: INVALID_ARGUMENT naming the field.

use freedumb_proto::ledger as pb;
use tonic::Code;

use crate::helpers::{authed, spawn_app, violated_fields};
use crate::ledger_support::{
    create, date, import, mask, money, new_transaction, open_account, options,
};

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
