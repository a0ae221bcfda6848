//! `freedumb-bench`: load-tests a real `freedumb serve` and, in the same run,
//! a bare tonic unary service (the ceiling). Prints throughput and
//! p50/p95/p99 per scenario and concurrency as a Markdown table.
//!
//! The bench starts the `freedumb` binary that sits beside it in the target
//! directory (or the one `--freedumb`/`FREEDUMB_BIN` names), so build both:
//!
//! ```text
//! cargo build --release -p freedumb-mesh -p freedumb-bench
//! cargo run --release -p freedumb-bench -- --seconds 5
//! cargo run --release -p freedumb-bench -- \
//!     --ledger-database-url postgres://postgres@127.0.0.1:5432/bench
//! cargo run --release -p freedumb-bench -- --edge --clients 16,64
//! cargo run --release -p freedumb-bench -- --ai --clients 1,4
//! cargo run --release -p freedumb-bench -- --investment --clients 1,4
//! cargo run --release -p freedumb-bench -- --analytics --rows 1000000 --clients 1,4
//! cargo run --release -p freedumb-bench -- --import --rows 1000000 \\
//!     --ledger-database-url postgres://postgres@127.0.0.1:5432/bench
//! cargo run --release -p freedumb-bench -- --watch --watchers 10000 --watch-users 1000 --rates 100,1000
//! cargo run --release -p freedumb-bench -- --events --rates 100,1000 \\
//!     --events-database-url postgres://postgres@127.0.0.1:5432/bench --redis-url redis://127.0.0.1:6379
//! ```
#![forbid(unsafe_code)]

mod ai;
mod analytics;
mod auth;
mod bare;
mod edge;
mod events;
mod import;
mod investment;
mod jwt;
mod ledger;
mod pgbench;
mod runner;
mod server;
mod watch;

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Benchmarks freedumb serve against a bare tonic service")]
struct Args {
    /// Seconds of measurement per scenario and concurrency (after 1 s warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrency levels (clients, each on its own connection).
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    clients: Vec<usize>,
    /// Internal: run the bare tonic server and print its address.
    #[arg(long, hide = true)]
    bare_server: bool,
    /// Benchmark the ledger instead, on this Postgres database (emptied
    /// first: use a scratch database).
    #[arg(long)]
    ledger_database_url: Option<String>,
    /// Benchmark the edge instead: GetMe over REST and gRPC-web via the
    /// gateway, over gRPC via Envoy (mTLS to the service), and direct.
    #[arg(long)]
    edge: bool,
    /// Benchmark the event path instead: write to budget alert
    /// notification latency at `--rates`, and the projection's absorption.
    #[arg(long)]
    events: bool,
    /// Benchmark categorization instead: `Categorize` in batches of 1,000
    /// and one at a time, on SQLite.
    #[arg(long)]
    ai: bool,
    /// Benchmark investments instead: the performance arithmetic in
    /// process, and `GetPerformance`, `ListHoldings` and
    /// `ListPortfolioValues` over 10 years of closes and 1,000 activities.
    #[arg(long)]
    investment: bool,
    /// Benchmark analytics instead: the read model's absorption of
    /// `--rows` imported lines, the queries over a year, and the reports.
    #[arg(long)]
    analytics: bool,
    /// Benchmark statement imports instead, on `--ledger-database-url`:
    /// a 100,000-line and a `--rows`-line CSV end to end, and again.
    #[arg(long)]
    import: bool,
    /// Benchmark the fan-out instead: `--watchers` live WatchTransactions
    /// streams over `--watch-users` users, idle (memory) and while creates
    /// arrive at `--rates` (SQLite, or `--events-database-url`, and
    /// `--redis-url`).
    #[arg(long)]
    watch: bool,
    /// Live watches for `--watch`.
    #[arg(long, default_value_t = 10_000)]
    watchers: usize,
    /// Users the `--watch` watches are dealt over, round robin.
    #[arg(long, default_value_t = 1_000)]
    watch_users: usize,
    /// Transactions per second for `--events` and `--watch`.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    rates: Vec<usize>,
    /// Run `--events` on this Postgres database (a scratch database is
    /// created beside it); SQLite otherwise.
    #[arg(long)]
    events_database_url: Option<String>,
    /// Run `--events` with Redis (event streams and consumer groups).
    #[arg(long)]
    redis_url: Option<String>,
    /// Transactions stored for the measuring user before the ledger runs.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// The `freedumb` binary to measure [default: `freedumb` beside this
    /// binary, i.e. `cargo build --release -p freedumb-mesh`].
    #[arg(long, env = "FREEDUMB_BIN")]
    freedumb: Option<PathBuf>,
}

const PASSWORD: &str = "benchmark passphrase 42";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    if args.bare_server {
        return runtime.block_on(bare::serve());
    }
    // Found before anything starts (the ledger run creates a database).
    let freedumb = server::freedumb_binary(args.freedumb.as_deref())?;
    if args.edge {
        return runtime.block_on(edge::run(args, &freedumb));
    }
    if args.ai {
        return runtime.block_on(ai::run(args, &freedumb));
    }
    if args.analytics {
        return runtime.block_on(analytics::run(args, &freedumb));
    }
    if args.investment {
        return runtime.block_on(investment::run(args, &freedumb));
    }
    if args.watch {
        return runtime.block_on(watch::run(args, &freedumb));
    }
    if args.events {
        let url = args.events_database_url.clone();
        return runtime.block_on(events::run(args, &freedumb, url));
    }
    if let Some(url) = args.ledger_database_url.clone() {
        if args.import {
            return runtime.block_on(import::run(args, &freedumb, url));
        }
        return runtime.block_on(ledger::run(args, &freedumb, url));
    }
    runtime.block_on(auth::run(args, &freedumb))
}
