//! Valuation and performance of a portfolio (or one holding) over a date
//! range, by walking its activities day by day.
//!
//! The value of a day is the units held at its end times the latest known
//! price: the latest close on or before the day, or the price of a trade
//! made after that close (so a purchase is valued before the price worker
//! has fetched a close). Figures in the base currency convert each day's
//! value and each activity's money at that day's rate.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use freedumb_kit::domain::Currency;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use uuid::Uuid;

use super::activity::Activity;
use super::book::{Context, Effect, Position, Replay, ReplayError};
use super::market::{Market, MissingRate, convert};
use super::returns::{self, Day, Flow, XirrError};

/// The latest price of a position on `day`, with the day it is from.
pub fn price(
    market: &Market,
    instrument_id: Uuid,
    position: &Position,
    day: NaiveDate,
) -> Option<(NaiveDate, Decimal)> {
    let close = market.close(instrument_id, day);
    match (close, position.last_trade) {
        (Some(c), Some(t)) if t.0 > c.0 => Some(t),
        (Some(c), _) => Some(c),
        (None, trade) => trade.filter(|t| t.0 <= day),
    }
}

/// The market value of a position on `day`, in its currency (zero when
/// nothing is held).
pub fn value(market: &Market, instrument_id: Uuid, position: &Position, day: NaiveDate) -> Decimal {
    if position.quantity.is_zero() {
        return Decimal::ZERO;
    }
    price(market, instrument_id, position, day)
        .map_or(Decimal::ZERO, |(_, p)| position.quantity * p)
}

/// A date range, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The first day.
    pub start: NaiveDate,
    /// The last day (on or after `start`).
    pub end: NaiveDate,
}

/// Figures over a range in one currency (see `freedumb.investment.v1.Performance`).
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Their currency.
    pub currency: Currency,
    /// The value at the close before the range.
    pub start_value: Decimal,
    /// The value at the range's last close.
    pub end_value: Decimal,
    /// Purchases, fees included.
    pub invested: Decimal,
    /// Sale proceeds, net of fees.
    pub withdrawn: Decimal,
    /// Dividends.
    pub dividends: Decimal,
    /// Interest.
    pub interest: Decimal,
    /// Trade and standalone fees.
    pub fees: Decimal,
    /// Standalone fees alone (part of the gain's arithmetic).
    other_fees: Decimal,
    /// The time-weighted return.
    pub twr: f64,
    /// The time-weighted return per year, for a range of a year or more.
    pub twr_annualized: Option<f64>,
    /// The money-weighted return per year, or why there is none.
    pub mwr: Result<f64, XirrError>,
}

impl Figures {
    /// end − start − invested + withdrawn + dividends + interest −
    /// standalone fees.
    pub fn absolute_gain(&self) -> Decimal {
        self.end_value - self.start_value - self.invested
            + self.withdrawn
            + self.dividends
            + self.interest
            - self.other_fees
    }
}

/// One scope's running figures.
struct Account {
    currency: Currency,
    start_value: Decimal,
    previous: Decimal,
    growth: f64,
    flows: Vec<Flow>,
    today: Effect,
    sums: Effect,
}

impl Account {
    fn new(currency: Currency, start: NaiveDate, start_value: Decimal) -> Self {
        let mut flows = Vec::new();
        if !start_value.is_zero() {
            flows.push(Flow {
                date: start,
                amount: -start_value.to_f64().unwrap_or(0.0),
            });
        }
        Self {
            currency,
            start_value,
            previous: start_value,
            growth: 1.0,
            flows,
            today: zero(None, currency),
            sums: zero(None, currency),
        }
    }

    fn add(&mut self, e: &Effect) {
        for acc in [&mut self.today, &mut self.sums] {
            acc.invested += e.invested;
            acc.withdrawn += e.withdrawn;
            acc.dividends += e.dividends;
            acc.interest += e.interest;
            acc.trade_fees += e.trade_fees;
            acc.other_fees += e.other_fees;
        }
    }

    fn close_day(&mut self, date: NaiveDate, value: Decimal) {
        let t = &self.today;
        let day = Day {
            date,
            value,
            inflow: t.invested,
            outflow: t.withdrawn,
            income: t.income(),
        };
        self.growth *= 1.0 + returns::time_weighted(self.previous, std::slice::from_ref(&day));
        let net = t.withdrawn + t.income() - t.invested;
        if !net.is_zero() {
            self.flows.push(Flow {
                date,
                amount: net.to_f64().unwrap_or(0.0),
            });
        }
        self.previous = value;
        self.today = zero(None, self.currency);
    }

    fn finish(mut self, range: Range) -> Figures {
        let end_value = self.previous;
        if !end_value.is_zero() {
            self.flows.push(Flow {
                date: range.end,
                amount: end_value.to_f64().unwrap_or(0.0),
            });
        }
        let twr = self.growth - 1.0;
        let days = (range.end - range.start).num_days() + 1;
        let s = &self.sums;
        Figures {
            currency: self.currency,
            start_value: self.start_value,
            end_value,
            invested: s.invested,
            withdrawn: s.withdrawn,
            dividends: s.dividends,
            interest: s.interest,
            fees: s.trade_fees + s.other_fees,
            other_fees: s.other_fees,
            twr,
            twr_annualized: (days >= 365)
                .then(|| returns::annualized(twr, days))
                .flatten(),
            mwr: returns::xirr(&self.flows),
        }
    }
}

fn zero(instrument_id: Option<Uuid>, currency: Currency) -> Effect {
    Effect {
        instrument_id,
        currency,
        invested: Decimal::ZERO,
        withdrawn: Decimal::ZERO,
        dividends: Decimal::ZERO,
        interest: Decimal::ZERO,
        trade_fees: Decimal::ZERO,
        other_fees: Decimal::ZERO,
    }
}

/// `e` in `to`, at `day`'s rate.
fn converted(
    market: &Market,
    e: &Effect,
    to: Currency,
    day: NaiveDate,
) -> Result<Effect, MissingRate> {
    let c = |amount| convert(market, amount, e.currency, to, day);
    Ok(Effect {
        instrument_id: e.instrument_id,
        currency: to,
        invested: c(e.invested)?,
        withdrawn: c(e.withdrawn)?,
        dividends: c(e.dividends)?,
        interest: c(e.interest)?,
        trade_fees: c(e.trade_fees)?,
        other_fees: c(e.other_fees)?,
    })
}

/// A holding's figures in its currency and in the base currency.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldingFigures {
    /// The instrument.
    pub instrument_id: Uuid,
    /// In the instrument's currency.
    pub own: Figures,
    /// In the base currency.
    pub base: Figures,
}

/// A portfolio's performance over a range.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The whole portfolio (or the one holding), in the base currency.
    pub total: Figures,
    /// Each instrument held or traded during the range.
    pub holdings: Vec<HoldingFigures>,
}

/// Measures `activities` (in replay order) over `range`; with `only`, just
/// that instrument's holding.
pub fn measure(
    activities: &[Activity],
    context: Context<'_>,
    market: &Market,
    range: Range,
    only: Option<Uuid>,
) -> Result<Report, ReplayError> {
    let base = context.base;
    let mut replay = Replay::new(activities, context);
    let before = range.start.pred_opt().unwrap_or(range.start);
    replay.advance_to(before)?;
    let wanted = |id: Option<Uuid>| only.is_none() || id == only;
    let mut holdings: BTreeMap<Uuid, (Account, Account)> = BTreeMap::new();
    let mut total_start = Decimal::ZERO;
    for (&id, p) in replay.positions() {
        if !wanted(Some(id)) || p.quantity.is_zero() {
            continue;
        }
        let own = value(market, id, p, before);
        let in_base = convert(market, own, p.currency, base, before)?;
        total_start += in_base;
        holdings.insert(
            id,
            (
                Account::new(p.currency, range.start, own),
                Account::new(base, range.start, in_base),
            ),
        );
    }
    let mut total = Account::new(base, range.start, total_start);
    for day in range.start.iter_days().take_while(|d| *d <= range.end) {
        for e in replay.advance_to(day)? {
            if !wanted(e.instrument_id) {
                continue;
            }
            let in_base = converted(market, &e, base, day)?;
            total.add(&in_base);
            if let Some(id) = e.instrument_id {
                let (own, b) = holdings.entry(id).or_insert_with(|| {
                    (
                        Account::new(e.currency, range.start, Decimal::ZERO),
                        Account::new(base, range.start, Decimal::ZERO),
                    )
                });
                own.add(&e);
                b.add(&in_base);
            }
        }
        let mut total_value = Decimal::ZERO;
        for (id, (own, b)) in &mut holdings {
            let Some(p) = replay.positions().get(id) else {
                continue;
            };
            let v = value(market, *id, p, day);
            let in_base = convert(market, v, p.currency, base, day)?;
            own.close_day(day, v);
            b.close_day(day, in_base);
            total_value += in_base;
        }
        total.close_day(day, total_value);
    }
    Ok(Report {
        total: total.finish(range),
        holdings: holdings
            .into_iter()
            .map(|(instrument_id, (own, b))| HoldingFigures {
                instrument_id,
                own: own.finish(range),
                base: b.finish(range),
            })
            .collect(),
    })
}

/// A portfolio's market value and cost in the base currency on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuePoint {
    /// The day.
    pub date: NaiveDate,
    /// Holdings at market value.
    pub market_value: Decimal,
    /// What they cost.
    pub cost_basis: Decimal,
}

/// The portfolio's value at the end of each of `days` (ascending), and the
/// instruments left out of some day's figures for want of a rate.
pub fn values(
    activities: &[Activity],
    context: Context<'_>,
    market: &Market,
    days: impl IntoIterator<Item = NaiveDate>,
) -> Result<(Vec<ValuePoint>, Vec<Uuid>), ReplayError> {
    let base = context.base;
    let mut replay = Replay::new(activities, context);
    let mut points = Vec::new();
    let mut unpriced: HashMap<Uuid, ()> = HashMap::new();
    for day in days {
        replay.advance_to(day)?;
        let mut point = ValuePoint {
            date: day,
            market_value: Decimal::ZERO,
            cost_basis: Decimal::ZERO,
        };
        for (&id, p) in replay.positions() {
            if p.quantity.is_zero() {
                continue;
            }
            let v = value(market, id, p, day);
            match (convert(market, v, p.currency, base, day), p.cost_base()) {
                (Ok(v), Some(cost)) => {
                    point.market_value += v;
                    point.cost_basis += cost;
                }
                _ => {
                    unpriced.insert(id, ());
                }
            }
        }
        points.push(point);
    }
    Ok((points, unpriced.into_keys().collect()))
}

#[cfg(test)]
mod tests;
