//! The investment benchmark: a portfolio of 20 instruments with 1,000
//! activities over 10 years of daily closes (from CSV files the price
//! worker reads). Measures the arithmetic alone in process (the replay with
//! daily time-weighted chaining and the XIRR, over the 10 years), then
//! `GetPerformance`, `ListHoldings` and `ListPortfolioValues` end to end.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{Datelike as _, Days, NaiveDate, Weekday};
use freedumb_investment::domain::CostBasisMethod;
use freedumb_investment::domain::activity::{Activity, Detail, Trade};
use freedumb_investment::domain::book::Context;
use freedumb_investment::domain::market::{Closes, Market};
use freedumb_investment::domain::performance::{self, Range};
use freedumb_kit::domain::Currency;
use freedumb_proto::google::r#type::Date;
use freedumb_proto::investment as ipb;
use freedumb_proto::investment::investment_service_client::InvestmentServiceClient;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use rust_decimal::Decimal;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::Args;
use crate::runner::{authed, cells, measure, ms, register_user};
use crate::server::{Server, freedumb_serve};

const INSTRUMENTS: usize = 20;
const ACTIVITIES: usize = 1_000;
const YEARS: u64 = 10;

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2015, 1, 1).unwrap_or_default()
}

fn last_day() -> NaiveDate {
    first_day() + Days::new(YEARS * 365 + 2)
}

fn api_date(d: NaiveDate) -> Option<Date> {
    Some(freedumb_kit::domain::date(d))
}

/// A random walk of weekday closes per instrument, in cents.
fn closes(rng: &mut StdRng) -> Vec<Vec<(NaiveDate, Decimal)>> {
    (0..INSTRUMENTS)
        .map(|_| {
            let mut price = rng.gen_range(2_000..40_000_i64);
            first_day()
                .iter_days()
                .take_while(|d| *d <= last_day())
                .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
                .map(|d| {
                    price = (price + rng.gen_range(-(price / 50)..=(price / 45))).max(100);
                    (d, Decimal::new(price, 2))
                })
                .collect()
        })
        .collect()
}

/// Buys, sales of what is held, and dividends, spread over the years.
fn activities(
    rng: &mut StdRng,
    closes: &[Vec<(NaiveDate, Decimal)>],
) -> Vec<(usize, ipb::ActivityKind, NaiveDate, Decimal, Decimal)> {
    let mut held = vec![Decimal::ZERO; INSTRUMENTS];
    let mut out = Vec::with_capacity(ACTIVITIES);
    let days = closes[0].len();
    let mut dates: Vec<usize> = (0..ACTIVITIES).map(|_| rng.gen_range(0..days)).collect();
    dates.sort_unstable();
    for at in dates {
        let i = rng.gen_range(0..INSTRUMENTS);
        let (day, close) = closes[i][at];
        let roll = rng.gen_range(0..10);
        if roll < 6 || held[i].is_zero() {
            let q = Decimal::from(rng.gen_range(1..50_u32));
            held[i] += q;
            out.push((i, ipb::ActivityKind::Buy, day, q, close));
        } else if roll < 9 {
            let q = Decimal::from(rng.gen_range(1..=held[i].try_into().unwrap_or(1_u32)));
            held[i] -= q;
            out.push((i, ipb::ActivityKind::Sell, day, q, close));
        } else {
            out.push((
                i,
                ipb::ActivityKind::Dividend,
                day,
                Decimal::ZERO,
                Decimal::from(25),
            ));
        }
    }
    out
}

fn csv(closes: &[(NaiveDate, Decimal)]) -> String {
    let mut out = String::from("date,close\n");
    for (d, c) in closes {
        let _ = writeln!(out, "{d},{c}");
    }
    out
}

/// The same arithmetic the service runs, in process.
fn arithmetic(
    closes: &[Vec<(NaiveDate, Decimal)>],
    planned: &[(usize, ipb::ActivityKind, NaiveDate, Decimal, Decimal)],
) -> anyhow::Result<Vec<Duration>> {
    let usd = Currency::parse("USD").map_err(anyhow::Error::msg)?;
    let ids: Vec<Uuid> = (0..INSTRUMENTS).map(|_| Uuid::now_v7()).collect();
    let mut market = Market::new();
    for (id, c) in ids.iter().zip(closes) {
        market.add_closes(*id, Closes::new(c.clone()));
    }
    let currencies: HashMap<Uuid, Currency> = ids.iter().map(|id| (*id, usd)).collect();
    let activities: Vec<Activity> = planned
        .iter()
        .map(|&(i, kind, date, quantity, price)| {
            let trade = Trade {
                instrument_id: ids[i],
                quantity,
                price,
                fee: None,
            };
            let detail = match kind {
                ipb::ActivityKind::Buy => Detail::Buy(trade),
                ipb::ActivityKind::Sell => Detail::Sell(trade),
                _ => Detail::Dividend {
                    instrument_id: ids[i],
                    amount: freedumb_investment::domain::Cash {
                        currency: usd,
                        minor: 2_500,
                    },
                },
            };
            Activity {
                id: Uuid::now_v7(),
                user_id: Uuid::nil(),
                portfolio_id: Uuid::nil(),
                date,
                detail,
                cash_account_id: None,
                note: String::new(),
                create_time: chrono::Utc::now(),
            }
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        performance::measure(
            &activities,
            Context {
                currencies: &currencies,
                base: usd,
                method: CostBasisMethod::Fifo,
                rates: &market,
            },
            &market,
            Range {
                start: first_day(),
                end: last_day(),
            },
            None,
        )?;
        times.push(started.elapsed());
    }
    times.sort_unstable();
    Ok(times)
}

/// The RPCs measured.
#[derive(Clone, Copy)]
enum Call {
    Performance,
    Holdings,
    Values,
}

/// Runs the benchmark on `freedumb serve` on SQLite.
pub async fn run(args: Args, freedumb: &Path) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(7);
    let closes = closes(&mut rng);
    let planned = activities(&mut rng, &closes);

    let times = arithmetic(&closes, &planned)?;
    println!(
        "\n### Investment arithmetic ({INSTRUMENTS} instruments, {ACTIVITIES} activities, {YEARS} years of daily closes, in process)\n"
    );
    println!("| computation | runs | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|");
    println!(
        "| replay + daily TWR + XIRR, per holding and total | {} | {} | {} | {} |",
        times.len(),
        ms(times[times.len() / 2]),
        ms(times[times.len() * 95 / 100]),
        ms(times[times.len() - 1])
    );

    let data = tempfile::tempdir()?;
    let prices = data.path().join("prices");
    std::fs::create_dir_all(&prices)?;
    for (i, c) in closes.iter().enumerate() {
        std::fs::write(prices.join(format!("BENCH{i}.csv")), csv(c))?;
    }
    let mut cmd = freedumb_serve(freedumb, data.path());
    cmd.env("FREEDUMB_INVESTMENT__PRICES_DIR", &prices)
        .env("FREEDUMB_INVESTMENT__PRICE_INTERVAL_SECS", "1");
    let (_server, addr) = Server::spawn(cmd)?;
    let endpoint = format!("http://{addr}");
    let token = register_user(endpoint.clone()).await?;
    let mut client = InvestmentServiceClient::new(Channel::from_shared(endpoint)?.connect().await?);
    let portfolio = client
        .create_portfolio(authed(
            ipb::CreatePortfolioRequest {
                portfolio: Some(ipb::Portfolio {
                    name: "Bench".into(),
                    base_currency_code: "USD".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &token,
        )?)
        .await?
        .into_inner()
        .portfolio
        .unwrap_or_default();
    let mut instruments = Vec::new();
    for i in 0..INSTRUMENTS {
        instruments.push(
            client
                .create_instrument(authed(
                    ipb::CreateInstrumentRequest {
                        instrument: Some(ipb::Instrument {
                            symbol: format!("BENCH{i}"),
                            name: format!("Bench {i}"),
                            kind: ipb::InstrumentKind::Stock.into(),
                            currency_code: "USD".into(),
                            ..Default::default()
                        }),
                    },
                    &token,
                )?)
                .await?
                .into_inner()
                .instrument
                .unwrap_or_default(),
        );
    }
    eprintln!("recording {ACTIVITIES} activities…");
    for &(i, kind, date, quantity, price) in &planned {
        let mut activity = ipb::Activity {
            portfolio_id: portfolio.id.clone(),
            kind: kind.into(),
            date: api_date(date),
            instrument_id: instruments[i].id.clone(),
            ..Default::default()
        };
        if kind == ipb::ActivityKind::Dividend {
            activity.amount = Some(freedumb_kit::domain::money("USD", 2_500));
        } else {
            activity.quantity = quantity.to_string();
            activity.price = price.to_string();
        }
        client
            .create_activity(authed(
                ipb::CreateActivityRequest {
                    activity: Some(activity),
                    request_id: String::new(),
                },
                &token,
            )?)
            .await?;
    }
    eprintln!("waiting for the price worker to record the closes…");
    let wanted = closes[INSTRUMENTS - 1].len();
    let started = Instant::now();
    loop {
        let got = client
            .list_prices(authed(
                ipb::ListPricesRequest {
                    instrument_id: instruments[INSTRUMENTS - 1].id.clone(),
                    start_date: api_date(first_day()),
                    end_date: api_date(last_day()),
                },
                &token,
            )?)
            .await?
            .into_inner()
            .closes
            .len();
        if got + 10 >= wanted {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "the price worker recorded {got} of {wanted} closes in 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "closes recorded in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    println!("\n### Investment RPCs (SQLite, `--target all`, the same portfolio)\n");
    println!("| call | clients | calls/s | p50 ms | p95 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    let calls = [
        ("GetPerformance, 10 years", Call::Performance),
        ("ListHoldings", Call::Holdings),
        ("ListPortfolioValues, monthly, 10 years", Call::Values),
    ];
    for (name, which) in calls {
        for &clients in &args.clients {
            let (token, pid) = (token.clone(), portfolio.id.clone());
            let sample = measure(addr, clients, args.seconds, move |_, channel: Channel| {
                let (token, pid) = (token.clone(), pid.clone());
                async move {
                    let mut c = InvestmentServiceClient::new(channel);
                    match which {
                        Call::Performance => c
                            .get_performance(authed(
                                ipb::GetPerformanceRequest {
                                    portfolio_id: pid,
                                    end_date: api_date(last_day()),
                                    ..Default::default()
                                },
                                &token,
                            )?)
                            .await
                            .map(|_| ()),
                        Call::Holdings => c
                            .list_holdings(authed(
                                ipb::ListHoldingsRequest {
                                    portfolio_id: pid,
                                    as_of: api_date(last_day()),
                                    include_closed: false,
                                },
                                &token,
                            )?)
                            .await
                            .map(|_| ()),
                        Call::Values => c
                            .list_portfolio_values(authed(
                                ipb::ListPortfolioValuesRequest {
                                    portfolio_id: pid,
                                    start_date: api_date(first_day()),
                                    end_date: api_date(last_day()),
                                    interval: ipb::ValueInterval::Month.into(),
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
    Ok(())
}
