//! The ledger benchmark: CreateTransaction, a filtered ListTransactions
//! (50 per page) and text searches on Postgres with `--rows` transactions
//! stored for the measuring user, and the time to import a 100,000-line CSV
//! statement; then `pgbench` running the same writes as SQL (the floor).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use freedumb_proto::common::Money;
use freedumb_proto::google::r#type::Date;
use freedumb_proto::ledger as pb;
use freedumb_proto::ledger::ledger_service_client::LedgerServiceClient;
use sqlx::Connection as _;
use tonic::Status;

use crate::Args;
use crate::runner::{authed, measure, ms};
use crate::server::{Server, freedumb_serve};

/// Lines per imported statement.
const STATEMENT_LINES: usize = 100_000;

/// Text-only searches (`ListTransactionsRequest.text`), from a term one
/// line holds to one no line does. Every seeded line reads `purchase <n>`
/// at `merchant <n mod 500>`, so every row holds the words "purchase" and
/// "merchant" and their trigrams: the hardest case for a trigram index,
/// which answers a single word; terms of several words go through the
/// word index.
const SEARCHES: [(&str, &str); 5] = [
    ("one line", "purchase 777777"),
    ("one line, one word", "777777"),
    ("one merchant (0.2 %)", "merchant 123"),
    ("many lines (11 %)", "purchase 1"),
    ("no line", "no such shop"),
];

/// A fresh database next to `url`'s (so runs start equal), and its URL.
pub(crate) async fn scratch_database(url: &str) -> anyhow::Result<String> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .context("connecting")?;
    let name = format!(
        "freedumb_bench_{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S")
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
    Ok(format!("{base}/{name}"))
}

/// A statement of `STATEMENT_LINES` distinct lines spread over three years.
fn statement(part: usize) -> Vec<u8> {
    let mut csv = String::from("Date,Amount,Description,Merchant\n");
    let start = chrono::NaiveDate::from_ymd_opt(2023, 1, 1).unwrap_or_default();
    for i in 0..STATEMENT_LINES {
        let n = part * STATEMENT_LINES + i;
        let day = start + chrono::Days::new((n % 1095) as u64);
        let cents = (n * 7919) % 250_000 + 1;
        let _ = writeln!(
            csv,
            "{day},-{}.{:02},purchase {n},merchant {}",
            cents / 100,
            cents % 100,
            n % 500
        );
    }
    csv.into_bytes()
}

/// Imports a CSV statement (`Date,Amount,Description,Merchant`) with
/// `CreateImport` and waits for its operation to end; its result.
pub(crate) async fn import(
    ledger: &mut LedgerServiceClient<tonic::transport::Channel>,
    token: &str,
    account_id: &str,
    data: Vec<u8>,
) -> anyhow::Result<pb::ImportProgress> {
    use freedumb_proto::common::OperationState;
    let started = ledger
        .clone()
        .max_encoding_message_size(usize::MAX)
        .create_import(authed(
            pb::CreateImportRequest {
                account_id: account_id.to_owned(),
                file: Some(freedumb_proto::google::api::HttpBody {
                    content_type: "text/csv".into(),
                    data,
                    extensions: Vec::new(),
                }),
                format: pb::StatementFormat::Csv.into(),
                csv: Some(pb::CsvOptions {
                    has_header: Some(true),
                    date_column: "Date".into(),
                    amount_column: "Amount".into(),
                    description_column: "Description".into(),
                    merchant_column: "Merchant".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            token,
        )?)
        .await?
        .into_inner();
    let operation_id = started.operation.context("operation")?.id;
    loop {
        let got = ledger
            .get_operation(authed(
                pb::GetOperationRequest {
                    operation_id: operation_id.clone(),
                },
                token,
            )?)
            .await?
            .into_inner();
        let op = got.operation.context("operation")?;
        match op.state() {
            OperationState::Running => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            OperationState::Succeeded => return got.import.context("import"),
            state => anyhow::bail!("import {operation_id} ended {state:?}: {:?}", op.error),
        }
    }
}

/// Opens a USD checking account with a zero opening balance; its id.
pub(crate) async fn open_account(
    ledger: &mut LedgerServiceClient<tonic::transport::Channel>,
    token: &str,
) -> anyhow::Result<String> {
    Ok(ledger
        .create_account(authed(
            pb::CreateAccountRequest {
                account: Some(pb::Account {
                    name: "Bench checking".into(),
                    kind: pb::AccountKind::Checking.into(),
                    opening_balance: Some(Money {
                        currency_code: "USD".into(),
                        amount_minor: 0,
                    }),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            token,
        )?)
        .await?
        .into_inner()
        .account
        .context("account")?
        .id)
}

pub async fn run(args: Args, binary: &Path, url: String) -> anyhow::Result<()> {
    let database_url = scratch_database(&url).await?;
    let data = tempfile::tempdir()?;
    let mut freedumb = freedumb_serve(binary, data.path());
    freedumb.env("DATABASE_URL", &database_url);
    let (server, addr) = Server::spawn(freedumb).context("starting freedumb serve")?;
    let endpoint = format!("http://{addr}");
    let token = crate::runner::register_user(endpoint.clone()).await?;
    let mut ledger = LedgerServiceClient::connect(endpoint).await?;
    let account_id = open_account(&mut ledger, &token).await?;

    println!(
        "Seeding {} transactions by CSV import ({STATEMENT_LINES} lines each):",
        args.rows
    );
    let mut stored = 0;
    let mut part = 0;
    while stored < args.rows {
        let csv = statement(part);
        let bytes = csv.len();
        let started = Instant::now();
        let result = import(&mut ledger, &token, &account_id, csv).await?;
        let took = started.elapsed();
        if part == 0 {
            println!(
                "| import {STATEMENT_LINES}-line CSV ({:.1} MB) | {:.1} s | {:.0} lines/s | {} imported, {} errors |",
                bytes as f64 / 1e6,
                took.as_secs_f64(),
                STATEMENT_LINES as f64 / took.as_secs_f64(),
                result.imported,
                result.error_count
            );
        }
        stored += usize::try_from(result.imported).unwrap_or_default();
        part += 1;
    }
    println!("{stored} transactions stored for the measuring user.\n");

    println!("| scenario | clients | calls/s | p50 ms | p95 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let counter = Arc::new(AtomicU64::new(0));
    let mut creates = Vec::new();
    for &clients in &args.clients {
        let create = {
            let (token, account_id, counter) = (token.clone(), account_id.clone(), counter.clone());
            measure(addr, clients, args.seconds, move |_, ch| {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let request = authed(
                    pb::CreateTransactionRequest {
                        account_id: account_id.clone(),
                        amount: Some(Money {
                            currency_code: "USD".into(),
                            amount_minor: -123,
                        }),
                        date: Some(Date {
                            year: 2026,
                            month: 6,
                            day: 1,
                        }),
                        description: format!("bench create {n}"),
                        tags: vec!["bench".into()],
                        request_id: format!("bench-{n}"),
                        ..Default::default()
                    },
                    &token,
                );
                async move {
                    LedgerServiceClient::new(ch)
                        .create_transaction(request?)
                        .await
                        .map(|_| ())
                }
            })
            .await?
        };
        let list = {
            let (token, account_id) = (token.clone(), account_id.clone());
            measure(addr, clients, args.seconds, move |_, ch| {
                let request = authed(
                    pb::ListTransactionsRequest {
                        page_size: 50,
                        account_id: account_id.clone(),
                        start_date: Some(Date {
                            year: 2024,
                            month: 1,
                            day: 1,
                        }),
                        end_date: Some(Date {
                            year: 2024,
                            month: 12,
                            day: 31,
                        }),
                        max_amount_minor: Some(-100),
                        ..Default::default()
                    },
                    &token,
                );
                async move {
                    let page = LedgerServiceClient::new(ch)
                        .list_transactions(request?)
                        .await?
                        .into_inner();
                    if page.transactions.len() == 50 {
                        Ok(())
                    } else {
                        Err(Status::internal("short page"))
                    }
                }
            })
            .await?
        };
        let mut rows = vec![
            ("CreateTransaction".to_owned(), create),
            ("ListTransactions (filtered, 50)".to_owned(), list),
        ];
        for (label, term) in SEARCHES {
            let search = search(addr, &token, term, clients, args.seconds).await?;
            rows.push((format!("search, text only: {label}"), search));
        }
        for (name, s) in &rows {
            println!(
                "| {name} | {clients} | {:.0} | {} | {} | {} | {} |",
                s.throughput(),
                ms(s.percentile(0.50)),
                ms(s.percentile(0.95)),
                ms(s.percentile(0.99)),
                s.errors,
            );
        }
        creates.push((clients, rows[0].1.throughput()));
    }

    // The service stops first, so that its outbox relay leaves pgbench's
    // events alone and the database has the machine to itself.
    drop(server);
    let user_id: String = {
        let mut conn = sqlx::PgConnection::connect(&database_url).await?;
        sqlx::query_scalar("SELECT user_id::text FROM ledger.accounts WHERE id = $1::uuid")
            .bind(&account_id)
            .fetch_one(&mut conn)
            .await?
    };
    println!("\nThe same writes as SQL, by pgbench (prepared statements), on the same account:\n");
    println!(
        "| clients | CreateTransaction calls/s | pgbench tps | pgbench mean latency ms | ratio |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for (clients, calls) in creates {
        let floor = crate::pgbench::run(
            &database_url,
            &user_id,
            &account_id,
            clients,
            args.seconds,
            data.path(),
        )?;
        anyhow::ensure!(
            floor.failed == 0,
            "{} pgbench transactions failed",
            floor.failed
        );
        println!(
            "| {clients} | {calls:.0} | {:.0} | {:.2} | {:.2} |",
            floor.tps,
            floor.latency_ms,
            calls / floor.tps
        );
    }
    println!("\nScratch database left for inspection: {database_url}");
    Ok(())
}

/// `ListTransactions` with only `text` set, from `clients` clients; a
/// page that is not what the term matches (at most 50 rows, each holding
/// the term) is an error.
async fn search(
    addr: std::net::SocketAddr,
    token: &str,
    term: &'static str,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<crate::runner::Sample> {
    let token = token.to_owned();
    measure(addr, clients, seconds, move |_, ch| {
        let request = authed(
            pb::ListTransactionsRequest {
                page_size: 50,
                text: term.into(),
                ..Default::default()
            },
            &token,
        );
        async move {
            let page = LedgerServiceClient::new(ch)
                .list_transactions(request?)
                .await?
                .into_inner();
            let holds = |t: &pb::Transaction| {
                format!("{}\n{}", t.description, t.merchant)
                    .to_lowercase()
                    .contains(term)
            };
            if page.transactions.len() <= 50 && page.transactions.iter().all(holds) {
                Ok(())
            } else {
                Err(Status::internal("a page the term does not match"))
            }
        }
    })
    .await
}
