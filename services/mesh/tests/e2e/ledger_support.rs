//! Helpers for the ledger tests: clients, accounts, money and dates, field
//! masks, categories and CSV imports.

use freedumb_proto::common::Money;
use freedumb_proto::google::r#type::Date;
use freedumb_proto::ledger as pb;
use freedumb_proto::ledger::ledger_service_client::LedgerServiceClient;
use prost_types::FieldMask;
use tonic::transport::Channel;

use crate::helpers::authed;

/// A ledger client.
pub type Ledger = LedgerServiceClient<Channel>;

/// Money.
pub fn money(code: &str, minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: code.to_owned(),
        amount_minor: minor,
    })
}

/// A calendar date.
pub fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

/// Opens an account.
pub async fn open_account(
    ledger: &mut Ledger,
    token: &str,
    code: &str,
    opening: i64,
) -> pb::Account {
    ledger
        .create_account(authed(
            pb::CreateAccountRequest {
                account: Some(pb::Account {
                    name: format!("{code} account"),
                    kind: pb::AccountKind::Checking.into(),
                    opening_balance: money(code, opening),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .expect("create account")
        .into_inner()
        .account
        .expect("account")
}

/// A CreateTransaction request on `account`.
pub fn new_transaction(account: &pb::Account, minor: i64) -> pb::CreateTransactionRequest {
    let code = account
        .opening_balance
        .as_ref()
        .map(|m| m.currency_code.clone())
        .unwrap_or_default();
    pb::CreateTransactionRequest {
        account_id: account.id.clone(),
        amount: money(&code, minor),
        date: date(2026, 3, 14),
        description: "Groceries at the corner shop".into(),
        ..Default::default()
    }
}

/// Records a transaction.
pub async fn create(
    ledger: &mut Ledger,
    token: &str,
    req: pb::CreateTransactionRequest,
) -> pb::Transaction {
    ledger
        .create_transaction(authed(req, token))
        .await
        .expect("create transaction")
        .into_inner()
        .transaction
        .expect("transaction")
}

/// One account, as it is now.
pub async fn account(ledger: &mut Ledger, token: &str, id: &str) -> pb::Account {
    ledger
        .get_account(authed(
            pb::GetAccountRequest {
                account_id: id.into(),
            },
            token,
        ))
        .await
        .expect("get account")
        .into_inner()
        .account
        .expect("account")
}

/// Every transaction matching `filter`, following page tokens.
pub async fn list_all(
    ledger: &mut Ledger,
    token: &str,
    filter: pb::ListTransactionsRequest,
) -> Vec<pb::Transaction> {
    let mut out = Vec::new();
    let mut req = filter;
    loop {
        let page = ledger
            .list_transactions(authed(req.clone(), token))
            .await
            .expect("list transactions")
            .into_inner();
        out.extend(page.transactions);
        if page.next_page_token.is_empty() {
            return out;
        }
        req.page_token = page.next_page_token;
    }
}

/// The balance in minor units.
pub fn balance(account: &pb::Account) -> i64 {
    account.balance.as_ref().map_or(0, |m| m.amount_minor)
}

/// The opening balance in minor units.
pub fn opening(account: &pb::Account) -> i64 {
    account
        .opening_balance
        .as_ref()
        .map_or(0, |m| m.amount_minor)
}

/// The amount in minor units.
pub fn amount(t: &pb::Transaction) -> i64 {
    t.amount.as_ref().map_or(0, |m| m.amount_minor)
}

/// Checks that every account's balance is its opening balance plus its
/// transactions, and every transfer has both legs, opposite in sign.
pub async fn assert_ledger_consistent(ledger: &mut Ledger, token: &str, accounts: &[pb::Account]) {
    let mut legs: std::collections::HashMap<String, Vec<i64>> = std::collections::HashMap::new();
    for a in accounts {
        let now = account(ledger, token, &a.id).await;
        let txs = list_all(
            ledger,
            token,
            pb::ListTransactionsRequest {
                account_id: a.id.clone(),
                page_size: 1000,
                ..Default::default()
            },
        )
        .await;
        let sum: i64 = txs.iter().map(amount).sum();
        assert_eq!(
            balance(&now),
            opening(&now) + sum,
            "account {} balance",
            a.id
        );
        for t in txs.iter().filter(|t| !t.transfer_id.is_empty()) {
            legs.entry(t.transfer_id.clone())
                .or_default()
                .push(amount(t));
        }
    }
    for (transfer, amounts) in legs {
        assert_eq!(amounts.len(), 2, "transfer {transfer} has both legs");
        assert!(
            amounts[0].signum() == -amounts[1].signum(),
            "transfer {transfer} legs are opposite"
        );
    }
}

/// A field mask of `paths`.
pub fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

/// The caller's categories.
pub async fn categories(ledger: &mut Ledger, token: &str) -> Vec<pb::Category> {
    ledger
        .list_categories(authed(pb::ListCategoriesRequest {}, token))
        .await
        .expect("list categories")
        .into_inner()
        .categories
}

/// Import options for a CSV with a header row (columns by name) or
/// without one (columns by position).
pub fn options(account_id: &str, header: bool) -> pb::ImportOptions {
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

/// Imports `data` (sent in 1,000-byte chunks) with `options`.
pub async fn import(
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
