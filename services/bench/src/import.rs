//! `--import`: statement imports end to end on Postgres, as a client sees
//! them: from the start of the upload (`CreateImport`) to the operation's
//! success, for a 100,000-line and a `--rows`-line CSV, each into a new
//! account, then the same file again (every line a duplicate).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use freedumb_proto::common::Money;
use freedumb_proto::ledger as pb;
use freedumb_proto::ledger::ledger_service_client::LedgerServiceClient;

use crate::Args;
use crate::ledger::{import, scratch_database};
use crate::runner::authed;
use crate::server::{Server, freedumb_serve};

/// A statement of `lines` distinct lines over three years.
fn statement(lines: usize) -> Vec<u8> {
    let mut csv = String::from("Date,Amount,Description,Merchant\n");
    let start = chrono::NaiveDate::from_ymd_opt(2023, 1, 1).unwrap_or_default();
    for n in 0..lines {
        let day = start + chrono::Days::new((n % 1095) as u64);
        let cents = (n * 7919) % 250_000 + 1;
        let _ = writeln!(
            csv,
            "{day},-{}.{:02},card payment {n},merchant {}",
            cents / 100,
            cents % 100,
            n % 500
        );
    }
    csv.into_bytes()
}

pub async fn run(args: Args, binary: &Path, url: String) -> anyhow::Result<()> {
    let database_url = scratch_database(&url).await?;
    let data = tempfile::tempdir()?;
    let mut freedumb = freedumb_serve(binary, data.path());
    freedumb
        .env("DATABASE_URL", &database_url)
        .env("FREEDUMB_LEDGER__IMPORT_MAX_BYTES", "1073741824");
    let (_server, addr) = Server::spawn(freedumb).context("starting freedumb serve")?;
    let endpoint = format!("http://{addr}");
    let token = crate::runner::register_user(endpoint.clone()).await?;
    let mut ledger = LedgerServiceClient::connect(endpoint).await?;
    println!("| lines | MB | import s | lines/s | again (duplicates) s |");
    println!("|---:|---:|---:|---:|---:|");
    let mut sizes = vec![100_000];
    if args.rows != 100_000 {
        sizes.push(args.rows);
    }
    for lines in sizes {
        let account = ledger
            .create_account(authed(
                pb::CreateAccountRequest {
                    account: Some(pb::Account {
                        name: format!("Import {lines}"),
                        kind: pb::AccountKind::Checking.into(),
                        opening_balance: Some(Money {
                            currency_code: "USD".into(),
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
            .context("account")?;
        let csv = statement(lines);
        let megabytes = csv.len() as f64 / 1e6;
        let started = Instant::now();
        let first = import(&mut ledger, &token, &account.id, csv.clone()).await?;
        let took = started.elapsed().as_secs_f64();
        anyhow::ensure!(
            first.imported == i64::try_from(lines)?,
            "imported {} of {lines}: {first:?}",
            first.imported
        );
        let started = Instant::now();
        let again = import(&mut ledger, &token, &account.id, csv).await?;
        let again_took = started.elapsed().as_secs_f64();
        anyhow::ensure!(again.skipped_duplicates == i64::try_from(lines)?);
        println!(
            "| {lines} | {megabytes:.1} | {took:.2} | {:.0} | {again_took:.2} |",
            lines as f64 / took
        );
    }
    Ok(())
}
