//! The analytics benchmark, on SQLite with `--target all`: imports
//! `--rows` statement lines (a year, 2026) for one user (the ai service
//! categorizes most of them), measures how fast the read model absorbs
//! them, then a year of monthly spending by category, the cash flow and
//! the top merchants from 1 and 4 clients, and the time and the server's
//! peak memory to make a CSV report (daily rows) and a PDF.

use std::path::Path;
use std::time::{Duration, Instant};

use freedumb_proto::analytics as apb;
use freedumb_proto::analytics::analytics_service_client::AnalyticsServiceClient;
use freedumb_proto::common::OperationState;
use freedumb_proto::google::r#type::Date;
use freedumb_proto::ledger as pb;
use freedumb_proto::ledger::ledger_service_client::LedgerServiceClient;
use futures::StreamExt as _;
use tonic::transport::Channel;

use crate::Args;
use crate::runner::{authed, cells, measure, register_user};
use crate::server::{Server, freedumb_serve};

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

/// The server's peak resident memory so far, in MiB (Linux).
fn peak_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// How many facts the read model holds for 2026.
async fn counted(an: &mut AnalyticsServiceClient<Channel>, token: &str) -> anyhow::Result<i64> {
    let totals = an
        .get_category_totals(authed(
            apb::GetCategoryTotalsRequest {
                start_date: date(2026, 1, 1),
                end_date: date(2026, 12, 31),
                interval: apb::Interval::Year.into(),
                currency_code: "EUR".into(),
            },
            token,
        )?)
        .await?
        .into_inner();
    Ok(totals.totals.iter().map(|c| c.count).sum())
}

/// Makes a report and returns how long it took and its size.
async fn report(
    an: &mut AnalyticsServiceClient<Channel>,
    token: &str,
    format: apb::ReportFormat,
    interval: apb::Interval,
) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let op = an
        .create_report(authed(
            apb::CreateReportRequest {
                format: format.into(),
                start_date: date(2026, 1, 1),
                end_date: date(2026, 12, 31),
                interval: interval.into(),
                currency_code: "EUR".into(),
            },
            token,
        )?)
        .await?
        .into_inner()
        .operation
        .ok_or_else(|| anyhow::anyhow!("no operation"))?;
    let mut watch = an
        .watch_operation(authed(
            apb::WatchOperationRequest {
                operation_id: op.id.clone(),
            },
            token,
        )?)
        .await?
        .into_inner();
    let mut state = OperationState::Running;
    while let Some(update) = watch.next().await {
        if let Some(op) = update?.operation {
            state = op.state();
        }
    }
    anyhow::ensure!(
        state == OperationState::Succeeded,
        "the report ended {state:?}"
    );
    let elapsed = started.elapsed();
    let mut download = an
        .download_report(authed(
            apb::DownloadReportRequest {
                operation_id: op.id,
            },
            token,
        )?)
        .await?
        .into_inner();
    let mut size = 0;
    while let Some(chunk) = download.next().await {
        size += chunk?.data.len();
    }
    Ok((elapsed, size))
}

/// Runs the benchmark on `freedumb serve` on SQLite.
pub async fn run(args: Args, freedumb: &Path) -> anyhow::Result<()> {
    const CHUNK: usize = 20_000;
    let data = tempfile::tempdir()?;
    let (server, addr) = Server::spawn(freedumb_serve(freedumb, data.path()))?;
    let endpoint = format!("http://{addr}");
    let token = register_user(endpoint.clone()).await?;
    let mut ledger = LedgerServiceClient::connect(endpoint.clone()).await?;
    let mut an = AnalyticsServiceClient::connect(endpoint).await?;
    let account = ledger
        .create_account(authed(
            pb::CreateAccountRequest {
                account: Some(pb::Account {
                    name: "Statement".into(),
                    kind: pb::AccountKind::Checking.into(),
                    opening_balance: Some(freedumb_proto::common::Money {
                        currency_code: "EUR".into(),
                        amount_minor: 0,
                    }),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &token,
        )?)
        .await?
        .into_inner()
        .account
        .ok_or_else(|| anyhow::anyhow!("no account"))?;
    let lines = crate::ai::statement(args.rows)?;
    eprintln!("importing {} lines in chunks of {CHUNK}…", args.rows);
    let started = Instant::now();
    for chunk in lines.chunks(CHUNK) {
        let csv = std::iter::once(crate::ai::HEADER)
            .chain(chunk.iter().map(String::as_str))
            .collect::<String>();
        crate::ledger::import(&mut ledger, &token, &account.id, csv.into_bytes()).await?;
    }
    let imported = started.elapsed();
    let want = i64::try_from(args.rows)?;
    let deadline = Instant::now() + Duration::from_secs(1800);
    while counted(&mut an, &token).await? < want {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the read model did not catch up in 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let absorbed = started.elapsed();
    println!(
        "\n### Analytics read model ({} lines imported, SQLite, `--target all`)\n",
        args.rows
    );
    println!("| step | seconds | lines/s |");
    println!("|---|---|---|");
    println!(
        "| import (ledger) | {:.1} | {:.0} |",
        imported.as_secs_f64(),
        args.rows as f64 / imported.as_secs_f64()
    );
    println!(
        "| read model caught up (from the import's start) | {:.1} | {:.0} |",
        absorbed.as_secs_f64(),
        args.rows as f64 / absorbed.as_secs_f64()
    );

    println!(
        "\n### Analytics queries (the same user, a year of {} transactions)\n",
        args.rows
    );
    println!("| query | clients | calls/s | p50 ms | p95 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    for (name, which) in [
        ("GetCategoryTotals, 2026 by month", 0),
        ("GetCashFlow, 2026 by month", 1),
        ("ListTopMerchants, 2026, top 10", 2),
    ] {
        for &clients in &args.clients {
            let token = token.clone();
            let sample = measure(addr, clients, args.seconds, move |_, channel: Channel| {
                let token = token.clone();
                async move {
                    let mut c = AnalyticsServiceClient::new(channel);
                    let (start_date, end_date) = (date(2026, 1, 1), date(2026, 12, 31));
                    let currency_code = "EUR".to_owned();
                    let interval = apb::Interval::Month.into();
                    match which {
                        0 => c
                            .get_category_totals(authed(
                                apb::GetCategoryTotalsRequest {
                                    start_date,
                                    end_date,
                                    interval,
                                    currency_code,
                                },
                                &token,
                            )?)
                            .await
                            .map(|_| ()),
                        1 => c
                            .get_cash_flow(authed(
                                apb::GetCashFlowRequest {
                                    start_date,
                                    end_date,
                                    interval,
                                    currency_code,
                                },
                                &token,
                            )?)
                            .await
                            .map(|_| ()),
                        _ => c
                            .list_top_merchants(authed(
                                apb::ListTopMerchantsRequest {
                                    start_date,
                                    end_date,
                                    currency_code,
                                    limit: 10,
                                },
                                &token,
                            )?)
                            .await
                            .map(|_| ()),
                    }
                }
            })
            .await?;
            println!("| {name} | {clients} | {}", cells(&sample));
        }
    }

    println!("\n### Reports over the year\n");
    println!("| report | seconds | size | server peak RSS MiB (after) |");
    println!("|---|---|---|---|");
    for (name, format, interval) in [
        (
            "CSV, daily rows",
            apb::ReportFormat::Csv,
            apb::Interval::Day,
        ),
        ("PDF, monthly", apb::ReportFormat::Pdf, apb::Interval::Month),
    ] {
        let (took, size) = report(&mut an, &token, format, interval).await?;
        println!(
            "| {name} | {:.2} | {} kB | {} |",
            took.as_secs_f64(),
            size / 1024,
            peak_mib(server.pid()).map_or("?".into(), |m| format!("{m:.0}"))
        );
    }
    Ok(())
}
