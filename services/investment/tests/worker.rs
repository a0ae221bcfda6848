//! The price worker against a provider that fails: garbage or a timeout is
//! retried after a wait that doubles, nothing wrong is stored, and the
//! closes are recorded once the provider answers (SQLite; the store's
//! concurrency is in `store.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use freedumb_investment::config::WorkerSettings;
use freedumb_investment::prices::{HttpProvider, PriceProvider, ProviderError, Series};
use freedumb_investment::store::Stores;
use freedumb_investment::worker::PriceWorker;
use rust_decimal::Decimal;
use tokio::time::Instant;

/// Answers garbage `failures` times, then the closes.
struct Flaky {
    failures: usize,
    calls: AtomicUsize,
}

#[async_trait]
impl PriceProvider for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }

    async fn closes(
        &self,
        _series: &Series<'_>,
        from: NaiveDate,
        _to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Decimal)>, ProviderError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(ProviderError::Garbage("<html>rate limited</html>".into()));
        }
        Ok(vec![(from, Decimal::new(10_050, 2))])
    }
}

async fn stores() -> (freedumb_kit::testing::TestDatabase, Stores) {
    let test = freedumb_kit::testing::sqlite_database(
        freedumb_investment::NAME,
        &freedumb_investment::MIGRATIONS,
    )
    .await;
    let stores = freedumb_investment::store::for_database(&test.db);
    (test, stores)
}

/// A portfolio holding AAPL since `2024-01-02`, so the worker wants it.
async fn wanting_aapl(stores: &Stores) {
    use freedumb_investment::domain::activity::{Activity, Detail, Trade};
    use freedumb_investment::domain::{CostBasisMethod, InstrumentKind};
    use freedumb_investment::store::{InstrumentRecord, PortfolioRecord};
    use freedumb_kit::domain::Currency;
    use uuid::Uuid;
    let (user, now) = (Uuid::now_v7(), freedumb_kit::time::now());
    let usd = Currency::parse("USD").expect("USD");
    let p = PortfolioRecord {
        id: Uuid::now_v7(),
        user_id: user,
        name: "P".into(),
        account_id: None,
        base_currency: usd,
        method: CostBasisMethod::Fifo,
        create_time: now,
        update_time: now,
    };
    stores
        .user
        .create_portfolio(&p, None)
        .await
        .expect("portfolio");
    let i = InstrumentRecord {
        id: Uuid::now_v7(),
        user_id: user,
        symbol: "AAPL".into(),
        isin: None,
        name: "Apple".into(),
        kind: InstrumentKind::Stock,
        currency: usd,
        create_time: now,
    };
    stores.user.create_instrument(&i).await.expect("instrument");
    let a = Activity {
        id: Uuid::now_v7(),
        user_id: user,
        portfolio_id: p.id,
        date: NaiveDate::from_ymd_opt(2024, 1, 2).expect("date"),
        detail: Detail::Buy(Trade {
            instrument_id: i.id,
            quantity: Decimal::ONE,
            price: Decimal::ONE,
            fee: None,
        }),
        cash_account_id: None,
        note: String::new(),
        create_time: now,
    };
    stores
        .user
        .create_activity(&a, None, &|_| Ok(()), &|_| None)
        .await
        .expect("activity");
}

fn settings() -> WorkerSettings {
    WorkerSettings {
        interval: Duration::from_secs(3600),
        retry: Duration::from_secs(30),
        retry_max: Duration::from_secs(3600),
    }
}

#[tokio::test]
async fn garbage_is_retried_after_a_doubling_wait_and_nothing_is_stored() {
    let (_test, stores) = stores().await;
    wanting_aapl(&stores).await;
    let provider = Arc::new(Flaky {
        failures: 2,
        calls: AtomicUsize::new(0),
    });
    let worker = PriceWorker::new(stores.prices.clone(), provider.clone(), settings());
    let today = NaiveDate::from_ymd_opt(2024, 1, 10).expect("date");
    let t0 = Instant::now();
    // Never fetched: due from the first time it is seen.
    let backlog = |at: Instant, at_ms: i64| worker.backlog(at, at_ms);
    let seen = backlog(t0, 1_000_000).await.expect("backlog");
    assert_eq!((seen.items, seen.oldest_due_ms), (1, Some(1_000_000)));
    let first = worker.round(today, t0).await.expect("round");
    assert_eq!((first.fetched, first.failed), (0, 1));
    // Waiting out its 30 s, then due again, and late by what is past it.
    let waiting = backlog(t0 + Duration::from_secs(10), 1_010_000)
        .await
        .expect("backlog");
    assert_eq!((waiting.items, waiting.oldest_due_ms), (0, None));
    let late = backlog(t0 + Duration::from_secs(45), 1_045_000)
        .await
        .expect("backlog");
    assert_eq!((late.items, late.oldest_due_ms), (1, Some(1_030_000)));
    assert_eq!(
        stores.prices.latest_close_day("AAPL").await.expect("read"),
        None
    );
    // Not due again before its wait (30 s), then due; the second failure
    // doubles the wait to 60 s.
    assert_eq!(
        worker
            .round(today, t0 + Duration::from_secs(29))
            .await
            .expect("round")
            .failed,
        0
    );
    assert_eq!(
        worker
            .round(today, t0 + Duration::from_secs(31))
            .await
            .expect("round")
            .failed,
        1
    );
    let t1 = t0 + Duration::from_secs(31);
    assert_eq!(
        worker
            .round(today, t1 + Duration::from_secs(59))
            .await
            .expect("round")
            .failed,
        0
    );
    let ok = worker
        .round(today, t1 + Duration::from_secs(61))
        .await
        .expect("round");
    assert_eq!((ok.fetched, ok.recorded.inserted), (1, 1));
    assert_eq!(provider.calls.load(Ordering::SeqCst), 3);
    // The first close fetched is a week before the first activity.
    assert_eq!(
        stores.prices.latest_close_day("AAPL").await.expect("read"),
        NaiveDate::from_ymd_opt(2023, 12, 26)
    );
}

#[tokio::test]
async fn a_provider_that_does_not_answer_times_out() {
    // A listener that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let _held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let provider = HttpProvider::new(
        format!("http://{addr}/{{symbol}}"),
        format!("http://{addr}/{{base}}/{{quote}}"),
        Duration::from_millis(200),
    )
    .expect("provider");
    let started = std::time::Instant::now();
    let day = NaiveDate::from_ymd_opt(2024, 1, 2).expect("date");
    let err = provider
        .closes(&Series::Symbol("AAPL"), day, day)
        .await
        .expect_err("timeout");
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
