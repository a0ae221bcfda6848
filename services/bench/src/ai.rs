//! The categorization benchmark: `Categorize` on a user with a history of
//! 400 merchants (five categorized transactions each, learned from the
//! ledger's events) and 50 rules, in batches of 1,000 and one at a time.

use std::path::Path;
use std::time::{Duration, Instant};

use freedumb_proto::ai as apb;
use freedumb_proto::ai::ai_service_client::AiServiceClient;
use freedumb_proto::common::Money;
use freedumb_proto::google::r#type::Date;
use freedumb_proto::ledger as pb;
use freedumb_proto::ledger::ledger_service_client::LedgerServiceClient;
use tonic::transport::Channel;

use crate::Args;
use crate::runner::{Sample, authed, measure, ms, register_user};
use crate::server::{Server, freedumb_serve};

/// Words merchant names are made of (letters only: digits are noise to
/// the normalization).
const WORDS: [&str; 20] = [
    "blue", "green", "golden", "river", "stone", "maple", "harbor", "cedar", "silver", "north",
    "bakery", "coffee", "market", "garage", "books", "pharmacy", "diner", "cinema", "florist",
    "hardware",
];
/// Merchants with a history.
const MERCHANTS: usize = 400;
/// Rules the user has (none of which matches a history merchant).
const RULES: usize = 50;

fn merchant(i: usize) -> String {
    format!(
        "{} {}",
        WORDS[i % 20].to_uppercase(),
        WORDS[(i / 20) % 20].to_uppercase()
    )
}

/// A statement line of merchant `i`, as a card terminal writes it.
fn descriptor(i: usize, n: usize) -> String {
    format!("SQ *{} {:04} OAKLAND CA", merchant(i), n % 10_000)
}

fn eur(minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: "EUR".into(),
        amount_minor: minor,
    })
}

/// A new EUR checking account of the user's.
async fn open_account(
    ledger: &mut LedgerServiceClient<Channel>,
    token: &str,
    name: &str,
) -> anyhow::Result<pb::Account> {
    ledger
        .create_account(authed(
            pb::CreateAccountRequest {
                account: Some(pb::Account {
                    name: name.into(),
                    kind: pb::AccountKind::Checking.into(),
                    opening_balance: eur(0),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            token,
        )?)
        .await?
        .into_inner()
        .account
        .ok_or_else(|| anyhow::anyhow!("no account"))
}

/// The user's history and rules; returns once the learner has the last
/// merchant.
async fn seed(channel: Channel, token: &str) -> anyhow::Result<()> {
    let mut ledger = LedgerServiceClient::new(channel.clone());
    let mut ai = AiServiceClient::new(channel);
    let categories = ledger
        .list_categories(authed(pb::ListCategoriesRequest {}, token)?)
        .await?
        .into_inner()
        .categories;
    anyhow::ensure!(categories.len() >= 2, "the user has no categories");
    let account = open_account(&mut ledger, token, "Bench").await?;
    for r in 0..RULES {
        ai.create_categorization_rule(authed(
            apb::CreateCategorizationRuleRequest {
                rule: Some(apb::CategorizationRule {
                    name: format!("Rule {r}"),
                    conditions: vec![apb::RuleCondition {
                        field: apb::RuleField::Description.into(),
                        operator: apb::RuleOperator::Matches.into(),
                        value: format!("^ach transfer ref {r}\\b"),
                    }],
                    category_id: categories[r % categories.len()].id.clone(),
                    stage: i32::try_from(r % 3)?,
                    ..Default::default()
                }),
            },
            token,
        )?)
        .await?;
    }
    let date = Some(Date {
        year: 2026,
        month: 11,
        day: 2,
    });
    for round in 0..5 {
        for i in 0..MERCHANTS {
            ledger
                .create_transaction(authed(
                    pb::CreateTransactionRequest {
                        account_id: account.id.clone(),
                        amount: eur(-1_000),
                        date,
                        description: descriptor(i, round * MERCHANTS + i),
                        category_id: categories[i % categories.len()].id.clone(),
                        ..Default::default()
                    },
                    token,
                )?)
                .await?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let last = ai
            .categorize(authed(
                apb::CategorizeRequest {
                    transactions: vec![input(MERCHANTS - 1, 1)],
                },
                token,
            )?)
            .await?
            .into_inner()
            .categorizations;
        if last.first().is_some_and(|c| {
            c.source == apb::CategorizationSource::History as i32 && c.confidence >= 1.0
        }) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the learner did not catch up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Transaction `n` of a batch: nine in ten from a known merchant.
fn input(i: usize, n: usize) -> apb::TransactionInput {
    let known = !n.is_multiple_of(10);
    apb::TransactionInput {
        description: if known {
            descriptor(i % MERCHANTS, n)
        } else {
            format!("POS DEBIT {} {:04}", merchant(MERCHANTS + i), n)
        },
        merchant: String::new(),
        amount: eur(-1_234),
        account_id: String::new(),
    }
}

/// A table cell's note of failed calls, if any.
fn errors(sample: &Sample) -> String {
    if sample.errors > 0 {
        format!(" {} errors", sample.errors)
    } else {
        String::new()
    }
}

/// Runs the benchmark on `freedumb serve` on SQLite.
pub async fn run(args: Args, freedumb: &Path) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let (_server, addr) = Server::spawn(freedumb_serve(freedumb, data.path()))?;
    let endpoint = format!("http://{addr}");
    let channel = Channel::from_shared(endpoint.clone())?.connect().await?;
    let token = register_user(endpoint.clone()).await?;
    eprintln!(
        "seeding {RULES} rules and {} transactions of {MERCHANTS} merchants…",
        5 * MERCHANTS
    );
    seed(channel.clone(), &token).await?;

    println!(
        "\n### Categorize (SQLite, `--target all`, {MERCHANTS} merchants of history, {RULES} rules)\n"
    );
    println!(
        "| batch | clients | batches/s | transactions/s | µs per transaction (p50) | p50 ms | p95 ms | p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for batch in [1000usize, 1] {
        for &clients in &args.clients {
            let requests: Vec<apb::CategorizeRequest> = (0..16)
                .map(|k| apb::CategorizeRequest {
                    transactions: (0..batch)
                        .map(|n| input(k * 37 + n * 13, k * batch + n))
                        .collect(),
                })
                .collect();
            let token = token.clone();
            let sample = measure(
                addr,
                clients,
                args.seconds,
                move |index, channel: Channel| {
                    let request = requests[index % requests.len()].clone();
                    let token = token.clone();
                    async move {
                        AiServiceClient::new(channel)
                            .categorize(authed(request, &token)?)
                            .await
                            .map(|_| ())
                    }
                },
            )
            .await?;
            let p50 = sample.percentile(0.50);
            println!(
                "| {batch} | {clients} | {:.0} | {:.0} | {:.1} | {} | {} | {} |{}",
                sample.throughput(),
                sample.throughput() * batch as f64,
                p50.as_secs_f64() * 1e6 / batch as f64,
                ms(p50),
                ms(sample.percentile(0.95)),
                ms(sample.percentile(0.99)),
                errors(&sample)
            );
        }
    }

    import_categorization(&endpoint, 100_000).await?;

    println!("\n### Ask, offline (the same user)\n");
    println!("| question | clients | answers/s | p50 ms | p95 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    for question in [
        "How much did I spend this month?",
        "What were my top 5 merchants this year?",
        "What are my subscriptions?",
    ] {
        for &clients in &args.clients {
            let token = token.clone();
            let sample = measure(addr, clients, args.seconds, move |_, channel: Channel| {
                let token = token.clone();
                async move {
                    AiServiceClient::new(channel)
                        .ask(authed(
                            apb::AskRequest {
                                question: question.to_owned(),
                            },
                            &token,
                        )?)
                        .await
                        .map(|_| ())
                }
            })
            .await?;
            println!(
                "| {question} | {clients} | {:.0} | {} | {} | {} |{}",
                sample.throughput(),
                ms(sample.percentile(0.50)),
                ms(sample.percentile(0.95)),
                ms(sample.percentile(0.99)),
                errors(&sample)
            );
        }
    }
    Ok(())
}

/// The CSV header of [`statement`].
pub(crate) const HEADER: &str = "Date,Amount,Description,Merchant\n";

/// The lines of a statement drawn from the shipped labelled descriptors
/// (each with its own reference, so none is a duplicate).
pub(crate) fn statement(lines: usize) -> anyhow::Result<Vec<String>> {
    let rows = freedumb_ai::model::dataset::parse(freedumb_ai::model::SHIPPED_DATA)?;
    anyhow::ensure!(!rows.is_empty(), "no shipped descriptors");
    Ok((0..lines)
        .map(|n| {
            let row = &rows[(n * 7919) % rows.len()];
            let minor = row.amount_minor();
            let sign = if minor < 0 { "-" } else { "" };
            format!(
                "2026-{:02}-{:02},{sign}{}.{:02},\"{} REF{n:06}\",\n",
                n % 12 + 1,
                n % 28 + 1,
                minor.unsigned_abs() / 100,
                minor.unsigned_abs() % 100,
                row.description.replace('"', "")
            )
        })
        .collect())
}

/// Imports `lines` lines for a new user in chunks, then measures how long
/// after the import the ai service's categories are applied: a transaction
/// recorded after the import is categorized last (the streams are read in
/// order), so when it is, every line before it has been handled.
async fn import_categorization(endpoint: &str, lines: usize) -> anyhow::Result<()> {
    const CHUNK: usize = 20_000;
    let token = register_user(endpoint.to_owned()).await?;
    let mut ledger = LedgerServiceClient::connect(endpoint.to_owned()).await?;
    let account = open_account(&mut ledger, &token, "Imported").await?;
    let data = statement(lines)?;
    eprintln!("importing {lines} lines in chunks of {CHUNK}…");
    let started = Instant::now();
    for chunk in data.chunks(CHUNK) {
        let csv = std::iter::once(HEADER)
            .chain(chunk.iter().map(String::as_str))
            .collect::<String>();
        crate::ledger::import(&mut ledger, &token, &account.id, csv.into_bytes()).await?;
    }
    let imported = started.elapsed();
    let sentinel = ledger
        .create_transaction(authed(
            pb::CreateTransactionRequest {
                account_id: account.id.clone(),
                amount: eur(-1_549),
                date: Some(Date {
                    year: 2026,
                    month: 11,
                    day: 30,
                }),
                description: "NETFLIX.COM 866-579-7172 CA".into(),
                ..Default::default()
            },
            &token,
        )?)
        .await?
        .into_inner()
        .transaction
        .ok_or_else(|| anyhow::anyhow!("no transaction"))?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let t = ledger
            .get_transaction(authed(
                pb::GetTransactionRequest {
                    transaction_id: sentinel.id.clone(),
                },
                &token,
            )?)
            .await?
            .into_inner()
            .transaction
            .ok_or_else(|| anyhow::anyhow!("no transaction"))?;
        if !t.category_id.is_empty() {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the import was not categorized in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let categorized_after = started.elapsed() - imported;
    let (mut by_ai, mut page_token) = (0usize, String::new());
    loop {
        let page = ledger
            .list_transactions(authed(
                pb::ListTransactionsRequest {
                    page_size: 1000,
                    page_token: page_token.clone(),
                    ..Default::default()
                },
                &token,
            )?)
            .await?
            .into_inner();
        by_ai += page
            .transactions
            .iter()
            .filter(|t| t.categorized_by == pb::CategorizedBy::Ai as i32)
            .count();
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    println!("\n### Auto-categorization of an import (SQLite, `--target all`)\n");
    println!(
        "| lines | import s | lines/s | categorized after the import, s | applied by the ai |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {lines} | {:.1} | {:.0} | {:.1} | {} ({:.1}%) |",
        imported.as_secs_f64(),
        lines as f64 / imported.as_secs_f64(),
        categorized_after.as_secs_f64(),
        by_ai.saturating_sub(1),
        by_ai.saturating_sub(1) as f64 * 100.0 / lines as f64
    );
    Ok(())
}
