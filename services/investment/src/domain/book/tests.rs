use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use freedumb_kit::domain::Currency;
use rand::{Rng as _, SeedableRng as _};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::*;
use crate::domain::activity::{Cash, Detail, Trade};
use crate::domain::market::{Closes, Market};

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn day(n: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Duration::days(n)
}

fn activity(date: NaiveDate, detail: Detail) -> Activity {
    Activity {
        id: Uuid::now_v7(),
        user_id: Uuid::nil(),
        portfolio_id: Uuid::nil(),
        date,
        detail,
        cash_account_id: None,
        note: String::new(),
        create_time: Utc::now(),
    }
}

fn trade(instrument_id: Uuid, quantity: &str, price: &str, fee: Option<Cash>) -> Trade {
    Trade {
        instrument_id,
        quantity: dec(quantity),
        price: dec(price),
        fee,
    }
}

fn replay_all(
    activities: &[Activity],
    method: CostBasisMethod,
    market: &Market,
    currencies: &HashMap<Uuid, Currency>,
) -> Result<BTreeMap<Uuid, Position>, ReplayError> {
    let mut replay = Replay::new(
        activities,
        Context {
            currencies,
            base: usd(),
            method,
            rates: market,
        },
    );
    replay.advance_to(NaiveDate::MAX)?;
    Ok(replay.positions().clone())
}

#[test]
fn fifo_sells_the_oldest_lots_first_and_average_the_mean() {
    let x = Uuid::now_v7();
    let currencies = HashMap::from([(x, usd())]);
    let fee = Cash {
        currency: usd(),
        minor: 1000,
    };
    let activities = vec![
        activity(day(0), Detail::Buy(trade(x, "10", "100", Some(fee)))),
        activity(day(1), Detail::Buy(trade(x, "10", "120", None))),
        activity(day(2), Detail::Sell(trade(x, "15", "130", Some(fee)))),
    ];
    let market = Market::new();
    let fifo = replay_all(&activities, CostBasisMethod::Fifo, &market, &currencies).unwrap();
    let p = &fifo[&x];
    // Lots: 10 @ 1010 total, 10 @ 1200. Selling 15 takes the first lot
    // (1010) and half the second (600): cost 1610; proceeds 1950 − 10.
    assert_eq!(p.quantity, dec("5"));
    assert_eq!(p.cost(), dec("600"));
    assert_eq!(p.realized, dec("330"));
    assert_eq!(p.fees, dec("20"));
    let avg = replay_all(&activities, CostBasisMethod::Average, &market, &currencies).unwrap();
    let p = &avg[&x];
    // 20 units cost 2210: 110.5 each; 15 sold cost 1657.5.
    assert_eq!(p.cost(), dec("552.5"));
    assert_eq!(p.realized, dec("1940") - dec("1657.5"));
}

#[test]
fn a_split_multiplies_units_and_keeps_the_cost() {
    let x = Uuid::now_v7();
    let currencies = HashMap::from([(x, usd())]);
    let activities = vec![
        activity(day(0), Detail::Buy(trade(x, "3", "300", None))),
        activity(
            day(1),
            Detail::Split {
                instrument_id: x,
                ratio: dec("3"),
            },
        ),
        activity(day(2), Detail::Sell(trade(x, "9", "110", None))),
    ];
    let positions = replay_all(
        &activities,
        CostBasisMethod::Fifo,
        &Market::new(),
        &currencies,
    )
    .unwrap();
    let p = &positions[&x];
    assert_eq!(p.quantity, Decimal::ZERO);
    assert_eq!(p.realized, dec("90"));
}

#[test]
fn a_sale_of_more_than_is_held_is_refused_with_the_figures() {
    let x = Uuid::now_v7();
    let currencies = HashMap::from([(x, usd())]);
    let activities = vec![
        activity(day(0), Detail::Buy(trade(x, "2", "10", None))),
        activity(day(1), Detail::Sell(trade(x, "3", "10", None))),
    ];
    let refs: Vec<&Activity> = activities.iter().collect();
    let err = check_quantities(&refs).unwrap_err();
    assert_eq!((err.held, err.sold), (dec("2"), dec("3")));
    let err = replay_all(
        &activities,
        CostBasisMethod::Fifo,
        &Market::new(),
        &currencies,
    )
    .unwrap_err();
    assert!(matches!(err, ReplayError::Oversold(_)), "{err}");
}

#[test]
fn a_fee_in_another_currency_is_converted_at_the_trade_date() {
    let x = Uuid::now_v7();
    let currencies = HashMap::from([(x, usd())]);
    let mut market = Market::new();
    market.add_rates(eur(), usd(), Closes::new(vec![(day(0), dec("1.1"))]));
    let fee = Cash {
        currency: eur(),
        minor: 1000,
    };
    let activities = vec![activity(
        day(3),
        Detail::Buy(trade(x, "1", "100", Some(fee))),
    )];
    let positions = replay_all(&activities, CostBasisMethod::Fifo, &market, &currencies).unwrap();
    assert_eq!(positions[&x].cost(), dec("111"));
    let err = replay_all(
        &activities,
        CostBasisMethod::Fifo,
        &Market::new(),
        &currencies,
    )
    .unwrap_err();
    assert!(err.to_string().contains("EUR/USD"), "{err}");
}

/// The reference: every unit kept separately with what it cost, so FIFO
/// is popping from the front and average cost is a running mean.
#[derive(Default)]
struct Units {
    fifo: std::collections::VecDeque<Decimal>,
    avg_units: Decimal,
    avg_cost: Decimal,
    realized_fifo: Decimal,
    realized_avg: Decimal,
}

#[test]
fn a_thousand_random_activities_replay_to_what_a_unit_by_unit_recomputation_gives() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let instruments: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    let currencies: HashMap<Uuid, Currency> = instruments.iter().map(|&i| (i, usd())).collect();
    let mut reference: HashMap<Uuid, Units> = HashMap::new();
    let mut activities = Vec::new();
    for n in 0..1000 {
        let x = instruments[rng.gen_range(0..instruments.len())];
        let units = reference.entry(x).or_default();
        let held = units.fifo.len();
        let date = day(n / 3);
        let price = Decimal::new(rng.gen_range(100..50_000), 2);
        let roll = rng.gen_range(0..10);
        let detail = if roll < 5 || held == 0 {
            let q = rng.gen_range(1..20_u32);
            // Fees in whole cents spread over the units exactly: a fee
            // that is a multiple of the quantity.
            let fee_minor = i64::from(q) * rng.gen_range(0..50);
            let unit_cost = price + Decimal::new(fee_minor, 2) / Decimal::from(q);
            for _ in 0..q {
                units.fifo.push_back(unit_cost);
            }
            units.avg_units += Decimal::from(q);
            units.avg_cost += unit_cost * Decimal::from(q);
            let fee = (fee_minor > 0).then_some(Cash {
                currency: usd(),
                minor: fee_minor,
            });
            Detail::Buy(Trade {
                instrument_id: x,
                quantity: Decimal::from(q),
                price,
                fee,
            })
        } else if roll < 9 {
            let q = rng.gen_range(1..=held);
            let cost: Decimal = units.fifo.drain(..q).sum();
            let qd = Decimal::from(u32::try_from(q).unwrap());
            units.realized_fifo += qd * price - cost;
            let avg_cost = units.avg_cost * qd / units.avg_units;
            units.realized_avg += qd * price - avg_cost;
            units.avg_cost -= avg_cost;
            units.avg_units -= qd;
            if units.avg_units.is_zero() {
                units.avg_cost = Decimal::ZERO;
            }
            Detail::Sell(Trade {
                instrument_id: x,
                quantity: qd,
                price,
                fee: None,
            })
        } else {
            let ratio = rng.gen_range(2..4_u32);
            let r = Decimal::from(ratio);
            units.fifo = units
                .fifo
                .iter()
                .flat_map(|&c| std::iter::repeat_n(c / r, ratio as usize))
                .collect();
            units.avg_units *= r;
            Detail::Split {
                instrument_id: x,
                ratio: r,
            }
        };
        activities.push(activity(date, detail));
    }
    let market = Market::new();
    let fifo = replay_all(&activities, CostBasisMethod::Fifo, &market, &currencies).unwrap();
    let avg = replay_all(&activities, CostBasisMethod::Average, &market, &currencies).unwrap();
    let close = |a: Decimal, b: Decimal| (a - b).abs() < dec("0.000001");
    for (x, units) in &reference {
        let (f, a) = (&fifo[x], &avg[x]);
        let held = Decimal::from(u32::try_from(units.fifo.len()).unwrap());
        assert_eq!(f.quantity, held, "{x}");
        assert_eq!(a.quantity, held, "{x}");
        let cost: Decimal = units.fifo.iter().sum();
        assert!(close(f.cost(), cost), "{} vs {cost}", f.cost());
        assert!(close(f.realized, units.realized_fifo), "{x}");
        assert!(
            close(a.cost(), units.avg_cost),
            "{} vs {}",
            a.cost(),
            units.avg_cost
        );
        assert!(close(a.realized, units.realized_avg), "{x}");
    }
    // Day by day, the replay ends where one pass ends.
    let mut stepped = Replay::new(
        &activities,
        Context {
            currencies: &currencies,
            base: usd(),
            method: CostBasisMethod::Fifo,
            rates: &market,
        },
    );
    for n in 0..=400 {
        stepped.advance_to(day(n)).unwrap();
    }
    assert_eq!(stepped.positions(), &fifo);
}
