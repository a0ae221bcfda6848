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
    let (mut floor, mut first_took) = (None, 0.0);
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
        if lines == 100_000 {
            // First, while nothing else runs.
            floor = Some(database_floor(&database_url, &account.id, 100_000).await?);
        }
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
        if lines == 100_000 {
            first_took = took;
        }
    }
    if let Some(parts) = floor {
        println!(
            "\nThe database alone, given the same 100,000 rows and events by \
             `INSERT … SELECT` (no client, no parsing, no network), in parts:\n"
        );
        println!("| Postgres stores | s | lines/s |");
        println!("|---|---:|---:|");
        for (label, seconds) in &parts {
            println!("| {label} | {seconds:.2} | {:.0} |", 100_000.0 / seconds);
        }
        // The ledger's table (the last copy) and the outbox.
        let floor: f64 = parts.iter().rev().take(2).map(|(_, s)| s).sum();
        println!(
            "\nThe floor (the ledger's table and the outbox): {floor:.2} s ({:.0} lines/s); \
             the import took {:.2}× that.",
            100_000.0 / floor,
            first_took / floor
        );
    }
    Ok(())
}

/// One part of the floor: what Postgres maintains for the rows.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// The rows alone: no index, no key, no foreign key.
    Rows,
    /// The primary key, the unique keys (an import line's key among them)
    /// and the account's foreign key.
    Keys,
    /// The listing indexes (b-trees) as well.
    Listing,
    /// The search indexes (GIN) as well: the ledger's own table.
    Search,
}

impl Stage {
    const ALL: [Self; 4] = [Self::Rows, Self::Keys, Self::Listing, Self::Search];

    fn label(self) -> &'static str {
        match self {
            Self::Rows => "the rows alone (no index, no key)",
            Self::Keys => "+ primary key, unique keys, account foreign key",
            Self::Listing => "+ the listing indexes (b-trees)",
            Self::Search => "+ the search indexes (GIN): the ledger's table",
        }
    }

    /// The stage at which an index of the ledger's table (its definition,
    /// as `pg_get_indexdef` gives it) is built.
    fn of_index(definition: &str) -> Self {
        if definition.starts_with("CREATE UNIQUE INDEX") {
            Self::Keys
        } else if definition.contains(" USING gin ") {
            Self::Search
        } else {
            Self::Listing
        }
    }
}

/// How long Postgres itself takes to store `lines` transactions and their
/// outbox events, generated in the server by one `INSERT … SELECT` each:
/// the floor no client can go below on this schema and server. Measured in
/// parts, into copies of `transactions` with more of its indexes and keys
/// each time (the last has all of them, the duplicate check and the
/// account's foreign key), then the outbox; all rolled back afterwards.
/// Returns each part's seconds, the outbox's last.
async fn database_floor(
    url: &str,
    account: &str,
    lines: i64,
) -> anyhow::Result<Vec<(&'static str, f64)>> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let account: uuid::Uuid = account.parse()?;
    let mut tx = conn.begin().await?;
    sqlx::query("CREATE SCHEMA floor").execute(&mut *tx).await?;
    let indexes: Vec<(String,)> = sqlx::query_as(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index \
         WHERE indrelid = 'ledger.transactions'::regclass",
    )
    .fetch_all(&mut *tx)
    .await?;
    anyhow::ensure!(
        indexes
            .iter()
            .any(|(d,)| Stage::of_index(d) == Stage::Search),
        "the ledger's transactions have no search index: not the schema this bench measures"
    );
    let mut took = Vec::new();
    for (n, stage) in Stage::ALL.into_iter().enumerate() {
        let table = format!("floor.transactions_{n}");
        sqlx::query(&format!(
            "CREATE TABLE {table} (LIKE ledger.transactions INCLUDING DEFAULTS)"
        ))
        .execute(&mut *tx)
        .await?;
        if stage != Stage::Rows {
            sqlx::query(&format!(
                "ALTER TABLE {table} ADD FOREIGN KEY (account_id) REFERENCES ledger.accounts (id)"
            ))
            .execute(&mut *tx)
            .await?;
        }
        for (definition,) in &indexes {
            if Stage::of_index(definition) > stage {
                continue;
            }
            // "CREATE [UNIQUE] INDEX name ON ledger.transactions USING …"
            // for this copy, named by Postgres.
            let (head, tail) = definition
                .split_once(" ON ")
                .context("an index definition without ON")?;
            let (_, using) = tail
                .split_once(' ')
                .context("an index definition without a method")?;
            let head = head.rsplit_once(' ').map_or(head, |(kind, _name)| kind);
            sqlx::query(&format!("{head} ON {table} {using}"))
                .execute(&mut *tx)
                .await?;
        }
        // Ids increase, as `Uuid::now_v7` does; import keys are 16
        // random-looking bytes, as line fingerprints are; descriptions and
        // merchants as the bench's statement writes them.
        let conflict = if stage == Stage::Rows {
            ""
        } else {
            "ON CONFLICT (account_id, import_key) WHERE import_key IS NOT NULL DO NOTHING"
        };
        let started = Instant::now();
        sqlx::query(&format!(
            "INSERT INTO {table} (id, user_id, account_id, currency_code, amount_minor, \
             booking_date, description, merchant, search_text, category_id, has_splits, tags, \
             notes, import_key, revision, create_time, update_time) \
             SELECT lpad(to_hex(g), 32, '0')::uuid, a.user_id, a.id, a.currency_code, \
             -((g * 7919) % 250000 + 1), DATE '2023-01-01' + (g % 1095)::int, \
             'card payment ' || g, 'merchant ' || (g % 500), \
             'card payment ' || g || E'\\nmerchant ' || (g % 500), NULL, FALSE, '[]', '', \
             decode(md5(g::text || 'floor'), 'hex'), 0, now(), now() \
             FROM generate_series(1, $2) AS g, ledger.accounts AS a WHERE a.id = $1 {conflict}"
        ))
        .bind(account)
        .bind(lines)
        .execute(&mut *tx)
        .await?;
        took.push((stage.label(), started.elapsed().as_secs_f64()));
    }
    sqlx::query("CREATE TABLE floor.outbox (LIKE ledger.outbox INCLUDING ALL)")
        .execute(&mut *tx)
        .await?;
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO floor.outbox (event_id, user_id, kind, payload, create_time) \
         SELECT gen_random_uuid(), a.user_id, 'transaction_created', \
         decode(repeat(md5(g::text), 12), 'hex'), now() \
         FROM generate_series(1, $2) AS g, ledger.accounts AS a WHERE a.id = $1",
    )
    .bind(account)
    .bind(lines)
    .execute(&mut *tx)
    .await?;
    took.push((
        "+ one outbox event per line",
        started.elapsed().as_secs_f64(),
    ));
    tx.rollback().await?;
    Ok(took)
}
