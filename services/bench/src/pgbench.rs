//! The floor under `CreateTransaction`: Postgres' own `pgbench` running the
//! statements the ledger runs for one create (the idempotency claim, the
//! transaction row, its tag, the balance update and the outbox event, in
//! one transaction, prepared), on the same account of the same scratch
//! database, with the same number of clients.

use std::path::Path;
use std::process::Command;

use anyhow::Context as _;

/// The ledger's writes of one `CreateTransaction` without a category or
/// splits, as the store issues them. `:n` makes each request id,
/// transaction id and event id new; payloads have the size of the real
/// ones (a few hundred bytes).
const SCRIPT: &str = r#"\set n random(1, 9000000000000000000)
BEGIN;
INSERT INTO idempotency_keys (user_id, method, request_id, request_hash, response, create_time) VALUES (:user_id, '/freedumb.ledger.v1.LedgerService/CreateTransaction', 'pgbench-' || :n, sha256(convert_to('pgbench-' || :n, 'UTF8')), convert_to(repeat('r', 300), 'UTF8'), now()) ON CONFLICT (user_id, method, request_id) DO NOTHING RETURNING user_id;
INSERT INTO transactions (id, user_id, account_id, currency_code, amount_minor, booking_date, description, merchant, search_text, category_id, has_splits, tags, notes, transfer_id, recurring_rule_id, occurrence_date, import_key, revision, create_time, update_time) VALUES (md5('pgbench-' || :n)::uuid, :user_id, :account_id, 'USD', -123, '2026-06-01', 'bench create ' || :n, '', 'bench create ' || :n || chr(10), NULL, false, '["bench"]', '', NULL, NULL, NULL, NULL, 1, now(), now());
INSERT INTO transaction_tags (transaction_id, tag, user_id) VALUES (md5('pgbench-' || :n)::uuid, 'bench', :user_id);
UPDATE accounts SET balance_minor = balance_minor + -123, update_time = now() WHERE id = :account_id AND user_id = :user_id AND archived = false AND balance_minor + -123 BETWEEN -1000000000000000000 AND 1000000000000000000 RETURNING balance_minor, currency_code;
INSERT INTO outbox (event_id, user_id, kind, payload, create_time) VALUES (md5('event-' || :n)::uuid, :user_id, 'freedumb.ledger.v1.TransactionCreated', convert_to(repeat('p', 300), 'UTF8'), now());
END;
"#;

/// What one pgbench run measured.
pub struct Run {
    pub tps: f64,
    pub latency_ms: f64,
    pub failed: u64,
}

/// Runs the script from `clients` connections for `seconds` against
/// `database_url` (the ledger's schema), on `account_id` of `user_id`.
pub fn run(
    database_url: &str,
    user_id: &str,
    account_id: &str,
    clients: usize,
    seconds: u64,
    work: &Path,
) -> anyhow::Result<Run> {
    let script = work.join("create_transaction.sql");
    std::fs::write(&script, SCRIPT)?;
    let pgbench = std::env::var("PGBENCH").unwrap_or_else(|_| "pgbench".into());
    let output = Command::new(&pgbench)
        .env("PGOPTIONS", "-c search_path=ledger")
        .args(["--no-vacuum", "--protocol=prepared"])
        .arg(format!("--client={clients}"))
        .arg(format!("--jobs={}", clients.min(2)))
        .arg(format!("--time={seconds}"))
        .arg(format!("--define=user_id={user_id}"))
        .arg(format!("--define=account_id={account_id}"))
        .arg(format!("--file={}", script.display()))
        .arg(database_url)
        .output()
        .with_context(|| format!("running {pgbench} (Debian: postgresql-client)"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse(&stdout).with_context(|| format!("reading pgbench's report:\n{stdout}"))
}

/// The figures of pgbench's report.
fn parse(report: &str) -> anyhow::Result<Run> {
    let figure = |label: &str| -> Option<f64> {
        report
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .and_then(|rest| {
                rest.trim_start_matches([' ', '=', ':'])
                    .split_whitespace()
                    .next()
            })
            .and_then(|value| value.parse().ok())
    };
    Ok(Run {
        tps: figure("tps").context("no tps")?,
        latency_ms: figure("latency average").context("no latency")?,
        failed: figure("number of failed transactions").map_or(0, |n| n as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_report_of_pgbench_15() {
        let report = "transaction type: create_transaction.sql\n\
            scaling factor: 1\n\
            query mode: prepared\n\
            number of clients: 16\n\
            number of threads: 2\n\
            maximum number of tries: 1\n\
            duration: 5 s\n\
            number of transactions actually processed: 9182\n\
            number of failed transactions: 3 (0.033%)\n\
            latency average = 8.713 ms\n\
            initial connection time = 21.201 ms\n\
            tps = 1836.341577 (without initial connection time)\n";
        let run = parse(report).expect("a report");
        assert!((run.tps - 1_836.341_577).abs() < 1e-6);
        assert!((run.latency_ms - 8.713).abs() < 1e-9);
        assert_eq!(run.failed, 3);
        assert!(parse("pgbench: error").is_err());
    }
}
