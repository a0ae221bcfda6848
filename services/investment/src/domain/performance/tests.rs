//! Hand-computed cases: the arithmetic of each is in its comment.

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use freedumb_kit::domain::Currency;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::*;
use crate::domain::activity::{Cash, Detail, Trade};
use crate::domain::book::Context;
use crate::domain::market::Closes;
use crate::domain::portfolio::CostBasisMethod;

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

struct Case {
    x: Uuid,
    activities: Vec<Activity>,
    market: Market,
    currencies: HashMap<Uuid, Currency>,
}

impl Case {
    fn new(currency: Currency, closes: &[(i64, &str)]) -> Self {
        let x = Uuid::now_v7();
        let mut market = Market::new();
        market.add_closes(
            x,
            Closes::new(closes.iter().map(|(d, c)| (day(*d), dec(c))).collect()),
        );
        Self {
            x,
            activities: Vec::new(),
            market,
            currencies: HashMap::from([(x, currency)]),
        }
    }

    fn on(mut self, d: i64, detail: Detail) -> Self {
        self.activities.push(Activity {
            id: Uuid::now_v7(),
            user_id: Uuid::nil(),
            portfolio_id: Uuid::nil(),
            date: day(d),
            detail,
            cash_account_id: None,
            note: String::new(),
            create_time: Utc::now(),
        });
        self
    }

    fn buy(self, d: i64, q: &str, p: &str) -> Self {
        let x = self.x;
        self.on(d, Detail::Buy(trade(x, q, p)))
    }

    fn sell(self, d: i64, q: &str, p: &str) -> Self {
        let x = self.x;
        self.on(d, Detail::Sell(trade(x, q, p)))
    }

    fn measure(&self, base: Currency, start: i64, end: i64) -> Report {
        measure(
            &self.activities,
            Context {
                currencies: &self.currencies,
                base,
                method: CostBasisMethod::Fifo,
                rates: &self.market,
            },
            &self.market,
            Range {
                start: day(start),
                end: day(end),
            },
            None,
        )
        .unwrap()
    }
}

fn trade(x: Uuid, q: &str, p: &str) -> Trade {
    Trade {
        instrument_id: x,
        quantity: dec(q),
        price: dec(p),
        fee: None,
    }
}

fn assert_close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}

#[test]
fn money_put_in_midway_does_not_move_the_time_weighted_return() {
    // Day 0: buy 10 @ 100, close 100: 1000 / (0 + 1000) − 1 = 0.
    // Day 1: close 110: 1100 / 1000 − 1 = 0.10.
    // Day 2: buy 10 @ 110 (1100 in), close 121: 2420 / (1100 + 1100) − 1 = 0.10.
    // TWR = 1.1 × 1.1 − 1 = 0.21; gain = 2420 − 0 − 2100 = 320.00.
    let case = Case::new(usd(), &[(0, "100"), (1, "110"), (2, "121")])
        .buy(0, "10", "100")
        .buy(2, "10", "110");
    let r = case.measure(usd(), 0, 2);
    assert_close(r.total.twr, 0.21);
    assert_eq!(r.total.absolute_gain(), dec("320"));
    assert_eq!(r.total.invested, dec("2100"));
    assert_eq!(r.total.end_value, dec("2420"));
    assert_eq!(r.holdings.len(), 1);
    assert_close(r.holdings[0].own.twr, 0.21);
}

#[test]
fn a_dividend_counts_as_return_at_the_end_of_its_day() {
    // 10 @ 100 held from before the range (start value 1000); day 1 pays
    // 5.00 with the close unchanged: (1000 + 5) / 1000 − 1 = 0.005.
    let case = Case::new(usd(), &[(0, "100"), (1, "100")]).buy(0, "10", "100");
    let x = case.x;
    let case = case.on(
        1,
        Detail::Dividend {
            instrument_id: x,
            amount: Cash {
                currency: usd(),
                minor: 500,
            },
        },
    );
    let r = case.measure(usd(), 1, 1);
    assert_eq!(r.total.start_value, dec("1000"));
    assert_close(r.total.twr, 0.005);
    assert_eq!(r.total.dividends, dec("5"));
    assert_eq!(r.total.absolute_gain(), dec("5"));
}

#[test]
fn a_split_leaves_the_value_and_the_return_unchanged() {
    // Day 0: buy 10 @ 100, close 100. Day 1: 2-for-1, close 50: 20 × 50 =
    // 1000, r = 0. Day 2: close 55: 1100 / 1000 − 1 = 0.10.
    let case = Case::new(usd(), &[(0, "100"), (1, "50"), (2, "55")]).buy(0, "10", "100");
    let x = case.x;
    let case = case.on(
        1,
        Detail::Split {
            instrument_id: x,
            ratio: dec("2"),
        },
    );
    let r = case.measure(usd(), 0, 2);
    assert_close(r.total.twr, 0.10);
    assert_eq!(r.total.end_value, dec("1100"));
    assert_eq!(r.total.absolute_gain(), dec("100"));
}

#[test]
fn a_sell_out_and_a_rebuy_chain_across_the_empty_days() {
    // Day 0: buy 10 @ 100, close 100: r = 0.
    // Day 1: sell 10 @ 110: (0 + 1100) / 1000 − 1 = 0.10.
    // Day 2: nothing held: nothing counts.
    // Day 3: buy 5 @ 200, close 220: 1100 / (0 + 1000) − 1 = 0.10.
    // TWR = 1.1 × 1.1 − 1 = 0.21; gain = 1100 − 0 − 2000 + 1100 = 200.00.
    let case = Case::new(usd(), &[(0, "100"), (1, "110"), (2, "115"), (3, "220")])
        .buy(0, "10", "100")
        .sell(1, "10", "110")
        .buy(3, "5", "200");
    let r = case.measure(usd(), 0, 3);
    assert_close(r.total.twr, 0.21);
    assert_eq!(r.total.absolute_gain(), dec("200"));
    assert_eq!(r.total.withdrawn, dec("1100"));
}

#[test]
fn the_money_weighted_return_of_one_purchase_is_its_annual_growth() {
    // −1000 on 2024-01-01 and +1100 on 2025-01-01, 366 days later (a leap
    // year): XIRR = 1.1^(365/366) − 1.
    let case = Case::new(usd(), &[(0, "100"), (366, "110")]).buy(0, "10", "100");
    let r = case.measure(usd(), 0, 366);
    assert_close(r.total.mwr.unwrap(), 1.1_f64.powf(365.0 / 366.0) - 1.0);
    assert_close(r.total.twr, 0.10);
    assert!(r.total.twr_annualized.is_some());
}

#[test]
fn a_holding_in_another_currency_is_measured_in_both() {
    // 10 @ EUR 100 with EUR/USD 1.10 on day 0 and 1.21 on day 1; the close
    // stays 100. In EUR: 0%. In USD: 1100 → 1210, +10%.
    let mut case = Case::new(eur(), &[(0, "100")]).buy(0, "10", "100");
    case.market.add_rates(
        eur(),
        usd(),
        Closes::new(vec![(day(0), dec("1.10")), (day(1), dec("1.21"))]),
    );
    let r = case.measure(usd(), 0, 1);
    assert_close(r.holdings[0].own.twr, 0.0);
    assert_close(r.holdings[0].base.twr, 0.10);
    assert_eq!(r.total.end_value, dec("1210"));
    assert_eq!(r.total.invested, dec("1100"));
    assert_eq!(r.total.absolute_gain(), dec("110"));
}

#[test]
fn a_missing_rate_is_named() {
    let case = Case::new(eur(), &[(0, "100")]).buy(0, "10", "100");
    let err = measure(
        &case.activities,
        Context {
            currencies: &case.currencies,
            base: usd(),
            method: CostBasisMethod::Fifo,
            rates: &case.market,
        },
        &case.market,
        Range {
            start: day(0),
            end: day(1),
        },
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("EUR/USD"), "{err}");
}

#[test]
fn values_report_market_value_and_cost_per_day() {
    let case = Case::new(usd(), &[(0, "100"), (1, "110")]).buy(0, "10", "100");
    let (points, unpriced) = values(
        &case.activities,
        Context {
            currencies: &case.currencies,
            base: usd(),
            method: CostBasisMethod::Fifo,
            rates: &case.market,
        },
        &case.market,
        [day(0), day(1)],
    )
    .unwrap();
    assert!(unpriced.is_empty());
    assert_eq!(points[1].market_value, dec("1100"));
    assert_eq!(points[1].cost_basis, dec("1000"));
}
