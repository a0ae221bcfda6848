//! Fan-out: `--watchers` live `WatchTransactions` streams on one process,
//! spread over `--watch-users` users (each with one account), first idle
//! (the server's memory per stream), then while transactions are created
//! at each of `--rates` per second, round robin over the users: the time
//! from sending a create to each of its user's watchers receiving the
//! event, and how many deliveries arrived.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use freedumb_proto::common::Money;
use freedumb_proto::ledger as pb;
use freedumb_proto::ledger::ledger_service_client::LedgerServiceClient;
use tokio::sync::mpsc;
use tonic::transport::Channel;

use crate::Args;
use crate::runner::{authed, ms, percentile, register_user_on};
use crate::server::{Server, freedumb_serve_on};

/// Streams per HTTP/2 connection (the server admits 200 at once).
const STREAMS_PER_CONNECTION: usize = 100;
/// Connections the creates are sent on.
const WRITERS: usize = 16;

struct User {
    token: String,
    account_id: String,
}

pub async fn run(args: Args, freedumb: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.watch_users >= 1 && args.watchers >= args.watch_users,
        "--watchers must be at least --watch-users (at least 1)"
    );
    let data = tempfile::tempdir()?;
    let (cmd, backend) = freedumb_serve_on(
        freedumb,
        data.path(),
        args.events_database_url.as_deref(),
        args.redis_url.as_deref(),
    )
    .await?;
    let (server, addr) = Server::spawn(cmd)?;
    let endpoint = format!("http://{addr}");
    eprintln!(
        "registering {} users with an account each…",
        args.watch_users
    );
    let users = Arc::new(users(&endpoint, args.watch_users).await?);

    // What each create was sent at (µs since `epoch`), by create number.
    let epoch = Instant::now();
    let total: usize = args.rates.iter().map(|r| r * args.seconds as usize).sum();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());

    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_bytes(server.pid())?;
    eprintln!("opening {} watches…", args.watchers);
    let (deliveries_tx, mut deliveries) = mpsc::unbounded_channel::<(usize, Duration)>();
    let mut connections = Vec::new();
    for _ in 0..args.watchers.div_ceil(STREAMS_PER_CONNECTION) {
        connections.push(Channel::from_shared(endpoint.clone())?.connect().await?);
    }
    let mut watches = Vec::with_capacity(args.watchers);
    // How watches that ended before the bench did ended.
    let ended: Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>> = Arc::default();
    for w in 0..args.watchers {
        let user = &users[w % users.len()];
        let channel = connections[w / STREAMS_PER_CONNECTION].clone();
        let mut stream = LedgerServiceClient::new(channel)
            .watch_transactions(authed(
                pb::WatchTransactionsRequest::default(),
                &user.token,
            )?)
            .await
            .with_context(|| format!("opening watch {w}"))?
            .into_inner();
        let (sent, deliveries, ended) = (sent.clone(), deliveries_tx.clone(), ended.clone());
        watches.push(tokio::spawn(async move {
            let end = loop {
                match stream.message().await {
                    Ok(Some(message)) => {
                        let Some(n) = created_number(&message) else {
                            continue;
                        };
                        let at = sent.get(n).map_or(0, |s| s.load(Ordering::Acquire));
                        let now = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
                        let _ = deliveries.send((n, Duration::from_micros(now.saturating_sub(at))));
                    }
                    Ok(None) => break "ended".to_owned(),
                    Err(status) => break format!("{:?}", status.code()),
                }
            };
            if let Ok(mut ended) = ended.lock() {
                *ended.entry(end).or_insert(0) += 1;
            }
        }));
    }
    drop(deliveries_tx);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_open = rss_bytes(server.pid())?;
    println!(
        "\n### Fan-out: {} watches, {} users ({backend})\n",
        args.watchers,
        users.len()
    );
    println!(
        "Server memory: {:.1} MiB before the watches, {:.1} MiB with them open and idle: \
         {:.1} KiB per idle watch ({} connections of up to {STREAMS_PER_CONNECTION} streams).\n",
        rss_before as f64 / 1_048_576.0,
        rss_open as f64 / 1_048_576.0,
        rss_open.saturating_sub(rss_before) as f64 / 1024.0 / args.watchers as f64,
        connections.len(),
    );
    println!(
        "| creates/s asked | sent | create errors | create p50 / p99 ms | deliveries expected | \
         received | sent→delivered p50 ms | p95 ms | p99 ms | max ms |"
    );
    println!("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|");
    let mut writers = Vec::with_capacity(WRITERS);
    for _ in 0..WRITERS {
        writers.push(LedgerServiceClient::new(
            Channel::from_shared(endpoint.clone())?.connect().await?,
        ));
    }
    let per_user = args.watchers as f64 / users.len() as f64;
    let mut first = 0;
    for &rate in &args.rates {
        let count = rate * args.seconds as usize;
        let numbers = first..first + count;
        let (errors, mut creates) =
            drive(&writers, &users, numbers.clone(), rate, &sent, epoch).await?;
        creates.sort_unstable();
        // Deliveries of this rate's creates, until none came for 2 s.
        let mut latencies = Vec::new();
        while let Ok(Some((n, latency))) =
            tokio::time::timeout(Duration::from_secs(2), deliveries.recv()).await
        {
            if numbers.contains(&n) {
                latencies.push(latency);
            }
        }
        latencies.sort_unstable();
        let pct = |p: f64| percentile(&latencies, p);
        // Users get creates round robin; each create reaches its user's watches.
        let expected: usize = numbers
            .clone()
            .map(|n| watches_of(n % users.len(), args.watchers, users.len()))
            .sum();
        println!(
            "| {rate} | {count} | {errors} | {} / {} | {expected} | {} | {} | {} | {} | {} |",
            ms(percentile(&creates, 0.50)),
            ms(percentile(&creates, 0.99)),
            latencies.len(),
            ms(pct(0.50)),
            ms(pct(0.95)),
            ms(pct(0.99)),
            ms(latencies.last().copied().unwrap_or_default()),
        );
        first += count;
    }
    println!(
        "\n(about {per_user:.1} watches per user; latency is from sending the create, so it \
         includes the create itself.)"
    );
    if let Ok(ended) = ended.lock()
        && !ended.is_empty()
    {
        println!("Watches that ended early, by how: {ended:?}");
    }
    for watch in watches {
        watch.abort();
    }
    Ok(())
}

/// Watches of user `u` when `watchers` are dealt round robin over `users`.
fn watches_of(u: usize, watchers: usize, users: usize) -> usize {
    watchers / users + usize::from(u < watchers % users)
}

/// `count` users, registered and given an account, 16 at a time. Each
/// hundred registers from a loopback address of its own (127.0.0.2, …):
/// the server admits 100 registrations per address in 15 minutes.
async fn users(endpoint: &str, count: usize) -> anyhow::Result<Vec<User>> {
    use futures::StreamExt as _;
    let made: Vec<anyhow::Result<User>> = futures::stream::iter(0..count)
        .map(|n| async move {
            let from = std::net::Ipv4Addr::from(0x7f00_0002 + u32::try_from(n / 100)?);
            let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())?
                .local_address(Some(from.into()))
                .connect()
                .await?;
            let token = register_user_on(channel).await?;
            let mut ledger = LedgerServiceClient::connect(endpoint.to_owned()).await?;
            let account_id = crate::ledger::open_account(&mut ledger, &token).await?;
            Ok(User { token, account_id })
        })
        .buffered(16)
        .collect()
        .await;
    made.into_iter().collect()
}

/// Sends creates `numbers` at `rate` per second, round robin over the
/// users, each with its number in the description; returns the failures
/// and the latencies of the creates.
async fn drive(
    writers: &[LedgerServiceClient<Channel>],
    users: &Arc<Vec<User>>,
    numbers: std::ops::Range<usize>,
    rate: usize,
    sent: &Arc<Vec<AtomicU64>>,
    epoch: Instant,
) -> anyhow::Result<(usize, Vec<Duration>)> {
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / u32::try_from(rate.max(1))?);
    let mut calls = Vec::with_capacity(numbers.len());
    for n in numbers {
        ticks.tick().await;
        let user = &users[n % users.len()];
        let request = authed(
            pb::CreateTransactionRequest {
                account_id: user.account_id.clone(),
                amount: Some(Money {
                    currency_code: "USD".into(),
                    amount_minor: -100,
                }),
                date: Some(freedumb_proto::google::r#type::Date {
                    year: 2026,
                    month: 6,
                    day: 1,
                }),
                description: format!("watch {n}"),
                ..Default::default()
            },
            &user.token,
        )?;
        let mut ledger = writers[n % writers.len()].clone();
        let at = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        if let Some(slot) = sent.get(n) {
            slot.store(at, Ordering::Release);
        }
        calls.push(tokio::spawn(async move {
            let started = Instant::now();
            let ok = ledger.create_transaction(request).await.is_ok();
            (ok, started.elapsed())
        }));
    }
    let (mut errors, mut latencies) = (0, Vec::with_capacity(calls.len()));
    for call in calls {
        let (ok, latency) = call.await?;
        errors += usize::from(!ok);
        latencies.push(latency);
    }
    Ok((errors, latencies))
}

/// The create number in a `TransactionCreated` event's description.
fn created_number(message: &pb::WatchTransactionsResponse) -> Option<usize> {
    let Some(pb::ledger_event::Change::TransactionCreated(created)) =
        message.event.as_ref()?.change.as_ref()
    else {
        return None;
    };
    created
        .transaction
        .as_ref()?
        .description
        .strip_prefix("watch ")?
        .parse()
        .ok()
}

/// Resident memory of process `pid` (Linux).
fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading /proc (the bench measures memory on Linux)")?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("no VmRSS")?;
    Ok(kib * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn watches_are_dealt_round_robin() {
        assert_eq!(super::watches_of(0, 10, 4), 3);
        assert_eq!(super::watches_of(1, 10, 4), 3);
        assert_eq!(super::watches_of(2, 10, 4), 2);
        assert_eq!(
            (0..4).map(|u| super::watches_of(u, 10, 4)).sum::<usize>(),
            10
        );
    }
}
