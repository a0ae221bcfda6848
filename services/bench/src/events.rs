//! The event path benchmark: from `CreateTransaction` to the budget alert
//! notification on a `WatchNotifications` stream (ledger outbox → relay →
//! budget projection → budget outbox → relay → notification consumer →
//! feed), open loop at fixed rates; and how many ledger events per second
//! the budget projection absorbs, from one large import.
//!
//! Every budget covers its own category with thresholds 10%, 20%, … 100%
//! of 1,000 minor units, and each transaction spends 100 in one category:
//! each crosses exactly one new threshold, so each raises one alert.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use freedumb_proto::budget as bpb;
use freedumb_proto::budget::budget_service_client::BudgetServiceClient;
use freedumb_proto::common::Money;
use freedumb_proto::google::r#type::Date;
use freedumb_proto::ledger as pb;
use freedumb_proto::ledger::ledger_service_client::LedgerServiceClient;
use freedumb_proto::notification as npb;
use freedumb_proto::notification::notification_service_client::NotificationServiceClient;
use tonic::transport::Channel;

use crate::Args;
use crate::runner::{authed, ms, percentile, register_user};
use crate::server::{Server, freedumb_serve_on};

/// Lines of the import the projection absorbs.
const IMPORT_LINES: usize = 50_000;

fn eur(minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: "EUR".into(),
        amount_minor: minor,
    })
}

fn today() -> Option<Date> {
    use chrono::Datelike as _;
    let d = chrono::Utc::now().date_naive();
    Some(Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    })
}

fn month_start() -> Option<Date> {
    today().map(|d| Date { day: 1, ..d })
}

/// Accounts the transactions are spread over: creates on one account
/// serialize on its balance row (see the ledger benchmark), which is not
/// what this benchmark measures.
const ACCOUNTS: usize = 16;

/// The user's world: accounts, and budgets of 1,000 each over a category
/// of their own.
struct World {
    token: String,
    accounts: Vec<String>,
    categories: Vec<String>,
    /// The budget over each category, in the same order.
    budgets: Vec<String>,
}

async fn world(channel: Channel, token: String, budgets: usize) -> anyhow::Result<World> {
    let mut ledger = LedgerServiceClient::new(channel.clone());
    let mut budget = BudgetServiceClient::new(channel);
    let mut accounts = Vec::with_capacity(ACCOUNTS);
    for i in 0..ACCOUNTS {
        let account = ledger
            .create_account(authed(
                pb::CreateAccountRequest {
                    account: Some(pb::Account {
                        name: format!("Bench {i}"),
                        kind: pb::AccountKind::Checking.into(),
                        opening_balance: eur(0),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                &token,
            )?)
            .await?
            .into_inner()
            .account
            .context("account")?
            .id;
        accounts.push(account);
    }
    let mut categories = Vec::with_capacity(budgets);
    let mut budget_ids = Vec::with_capacity(budgets);
    for i in 0..budgets {
        let category = ledger
            .create_category(authed(
                pb::CreateCategoryRequest {
                    category: Some(pb::Category {
                        name: format!("Bench {i}"),
                        kind: pb::CategoryKind::Expense.into(),
                        ..Default::default()
                    }),
                },
                &token,
            )?)
            .await?
            .into_inner()
            .category
            .context("category")?
            .id;
        let created = budget
            .create_budget(authed(
                bpb::CreateBudgetRequest {
                    budget: Some(bpb::Budget {
                        name: format!("Bench {i}"),
                        category_ids: vec![category.clone()],
                        amount: eur(1_000),
                        period: bpb::BudgetPeriod::Monthly.into(),
                        start_date: month_start(),
                        alert_thresholds_percent: (1..=10).map(|t| t * 10).collect(),
                        ..Default::default()
                    }),
                },
                &token,
            )?)
            .await?
            .into_inner()
            .budget
            .context("budget")?;
        categories.push(category);
        budget_ids.push(created.id);
    }
    Ok(World {
        token,
        accounts,
        categories,
        budgets: budget_ids,
    })
}

/// Sends `rate` transactions a second for `seconds`, each crossing one
/// threshold, and times each alert's arrival on the watch.
async fn latency(
    channel: Channel,
    world: &World,
    rate: usize,
    seconds: u64,
) -> anyhow::Result<String> {
    let total = rate * seconds as usize;
    let mut watch = NotificationServiceClient::new(channel.clone())
        .watch_notifications(authed(npb::WatchNotificationsRequest {}, &world.token)?)
        .await?
        .into_inner();
    // (category index, threshold) → when its transaction was sent.
    let sent: Arc<Mutex<HashMap<(String, i32), Instant>>> = Arc::default();
    let receiver = {
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(total);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds + 30);
            while latencies.len() < total {
                let next = tokio::time::timeout_at(deadline, watch.message()).await;
                let Ok(Ok(Some(message))) = next else { break };
                let Some(n) = message.notification else {
                    continue;
                };
                if n.kind != npb::NotificationKind::BudgetThreshold as i32 {
                    continue;
                }
                let key = (
                    n.attributes.get("budget_id").cloned().unwrap_or_default(),
                    n.attributes
                        .get("threshold_percent")
                        .and_then(|t| t.parse().ok())
                        .unwrap_or_default(),
                );
                let at = sent.lock().ok().and_then(|s| s.get(&key).copied());
                if let Some(at) = at {
                    latencies.push(at.elapsed());
                }
            }
            latencies
        })
    };
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate as u32);
    let mut spent_per_category = vec![0_i32; world.categories.len()];
    let mut errors = 0_usize;
    let mut calls = Vec::with_capacity(total);
    for i in 0..total {
        ticks.tick().await;
        let c = i % world.categories.len();
        spent_per_category[c] += 1;
        let threshold = spent_per_category[c] * 10;
        let category = world.categories[c].clone();
        let budget = world.budgets[c].clone();
        if let Ok(mut s) = sent.lock() {
            s.insert((budget, threshold), Instant::now());
        }
        let mut ledger = LedgerServiceClient::new(channel.clone());
        let request = authed(
            pb::CreateTransactionRequest {
                account_id: world.accounts[i % world.accounts.len()].clone(),
                amount: eur(-100),
                date: today(),
                category_id: category,
                description: format!("bench {i}"),
                ..Default::default()
            },
            &world.token,
        )?;
        calls.push(tokio::spawn(async move {
            ledger.create_transaction(request).await.is_ok()
        }));
    }
    for call in calls {
        errors += usize::from(!call.await?);
    }
    let mut latencies = receiver.await?;
    latencies.sort_unstable();
    let pct = |p: f64| percentile(&latencies, p);
    Ok(format!(
        "| {rate} | {total} | {} | {errors} | {} | {} | {} |",
        latencies.len(),
        ms(pct(0.50)),
        ms(pct(0.95)),
        ms(pct(0.99)),
    ))
}

/// What a budget's current period has spent.
async fn spent(
    budgets: &mut BudgetServiceClient<Channel>,
    token: &str,
    budget_id: &str,
) -> anyhow::Result<i64> {
    let status = budgets
        .get_budget_status(authed(
            bpb::GetBudgetStatusRequest {
                budget_id: budget_id.to_owned(),
                date: None,
            },
            token,
        )?)
        .await?
        .into_inner()
        .status;
    Ok(status.and_then(|s| s.spent).map_or(0, |m| m.amount_minor))
}

/// Imports `IMPORT_LINES` transactions into one category and times the
/// import and the projection catching up with it.
async fn absorb(channel: Channel, world: &World) -> anyhow::Result<String> {
    use pb::import_transactions_request::Part;
    let category = world.categories.last().context("a category")?.clone();
    let budget_id = world.budgets.last().context("a budget")?.clone();
    let day = today().context("date")?;
    let mut csv = String::from("Date,Amount,Description\n");
    for i in 0..IMPORT_LINES {
        let _ = writeln!(
            csv,
            "{}-{:02}-{:02},-1.00,absorb {i}",
            day.year, day.month, day.day
        );
    }
    let mut parts = vec![pb::ImportTransactionsRequest {
        part: Some(Part::Options(pb::ImportOptions {
            account_id: world.accounts[0].clone(),
            has_header: true,
            date_column: "Date".into(),
            amount_column: "Amount".into(),
            description_column: "Description".into(),
            category_id: category,
            ..Default::default()
        })),
    }];
    for chunk in csv.into_bytes().chunks(1 << 20) {
        parts.push(pb::ImportTransactionsRequest {
            part: Some(Part::Chunk(chunk.to_vec())),
        });
    }
    let mut budgets = BudgetServiceClient::new(channel.clone());
    let before = spent(&mut budgets, &world.token, &budget_id).await?;
    let started = Instant::now();
    LedgerServiceClient::new(channel.clone())
        .import_transactions(authed(futures::stream::iter(parts), &world.token)?)
        .await?;
    let imported = started.elapsed();
    let expected = before + IMPORT_LINES as i64 * 100;
    loop {
        let spent = spent(&mut budgets, &world.token, &budget_id).await?;
        if spent >= expected {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the projection did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let caught_up = started.elapsed();
    Ok(format!(
        "| {IMPORT_LINES} | {:.2} | {:.0} | {:.2} | {:.0} |",
        imported.as_secs_f64(),
        IMPORT_LINES as f64 / imported.as_secs_f64(),
        caught_up.as_secs_f64(),
        IMPORT_LINES as f64 / caught_up.as_secs_f64(),
    ))
}

/// Runs both parts on `freedumb serve` (Postgres and Redis when given).
pub async fn run(args: Args, freedumb: &Path, database_url: Option<String>) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let (cmd, backend) = freedumb_serve_on(
        freedumb,
        data.path(),
        database_url.as_deref(),
        args.redis_url.as_deref(),
    )
    .await?;
    let (_server, addr) = Server::spawn(cmd)?;
    let endpoint = format!("http://{addr}");
    let channel = Channel::from_shared(endpoint.clone())?.connect().await?;
    println!("\n### Write to alert notification ({backend}, `--target all`)\n");
    println!("| tx/s | sent | alerts received | errors | p50 ms | p95 ms | p99 ms |");
    println!("|---|---|---|---|---|---|---|");
    let mut last = None;
    for rate in &args.rates {
        // A fresh user and fresh budgets per rate: ten alerts per budget,
        // every transaction crossing one threshold.
        let budgets = (rate * args.seconds as usize).div_ceil(10).max(1);
        eprintln!("setting up {budgets} categories and budgets on {backend}…");
        let token = register_user(endpoint.clone()).await?;
        let world = world(channel.clone(), token, budgets).await?;
        println!(
            "{}",
            latency(channel.clone(), &world, *rate, args.seconds).await?
        );
        last = Some(world);
    }
    let world = match last {
        Some(world) => world,
        None => world(channel.clone(), register_user(endpoint).await?, 1).await?,
    };
    println!("\n### Projection: ledger events absorbed ({backend})\n");
    println!("| lines | import s | ledger writes/s | projection caught up s | events absorbed/s |");
    println!("|---|---|---|---|---|");
    println!("{}", absorb(channel, &world).await?);
    Ok(())
}
