//! What follows from the activities and the closes: holdings, performance,
//! values over time, and the closes themselves.

use std::collections::{BTreeSet, HashMap};

use chrono::{Datelike as _, Days, NaiveDate, Weekday};
use freedumb_kit::domain::{Currency, date, optional_date, required_date};
use freedumb_proto::investment as pb;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{InvestmentApi, Result, parse_id, today};
use crate::convert;
use crate::domain::activity::Activity;
use crate::domain::book::{Context, Replay, ReplayError};
use crate::domain::market::{Closes, Market, fx_series};
use crate::domain::performance::{self, Range};
use crate::domain::units;
use crate::error::InvestmentError;
use crate::store::{InstrumentRecord, PortfolioRecord};

/// The longest range a performance is measured over.
const MAX_RANGE_YEARS: i32 = 50;
/// The most points `ListPortfolioValues` returns.
const MAX_POINTS: usize = 20_000;

/// A portfolio with its activities, its instruments and the closes and
/// rates they need, loaded for one computation.
struct Loaded {
    portfolio: PortfolioRecord,
    activities: Vec<Activity>,
    instruments: HashMap<Uuid, InstrumentRecord>,
    currencies: HashMap<Uuid, Currency>,
    market: Market,
}

impl Loaded {
    fn context(&self) -> Context<'_> {
        Context {
            currencies: &self.currencies,
            base: self.portfolio.base_currency,
            method: self.portfolio.method,
            rates: &self.market,
        }
    }
}

fn replay_failed(e: ReplayError) -> InvestmentError {
    match e {
        ReplayError::MissingRate(missing) => {
            InvestmentError::FailedPrecondition(missing.to_string())
        }
        other => InvestmentError::Unexpected(anyhow::anyhow!("replaying a portfolio: {other}")),
    }
}

/// `start` and `end` checked: end on or after start, within the limit.
fn range(start: NaiveDate, end: NaiveDate) -> Result<Range> {
    if end < start {
        return Err(InvestmentError::field(
            "end_date",
            format!("{end} is before the start date {start}"),
        ));
    }
    if end.year() - start.year() > MAX_RANGE_YEARS {
        return Err(InvestmentError::field(
            "end_date",
            format!("the range may span at most {MAX_RANGE_YEARS} years"),
        ));
    }
    Ok(Range { start, end })
}

impl InvestmentApi {
    /// Loads a portfolio of the caller with its activities, instruments,
    /// closes and rates.
    async fn load(&self, user_id: Uuid, portfolio_id: Uuid) -> Result<Loaded> {
        let store = &self.deps.store;
        let portfolio = self.portfolio(user_id, portfolio_id).await?;
        let activities = store.replay_activities(user_id, portfolio_id).await?;
        let instruments: HashMap<Uuid, InstrumentRecord> = store
            .list_portfolio_instruments(user_id, portfolio_id)
            .await?
            .into_iter()
            .map(|i| (i.id, i))
            .collect();
        let cache = &self.deps.closes;
        let mut market = Market::new();
        for i in instruments.values() {
            let closes = cache.series(store.as_ref(), &i.symbol).await?;
            market.add_closes(i.id, Closes::new(closes.to_vec()));
        }
        // Rates between every currency the activities use and the base,
        // and between fee or amount currencies and their instrument's.
        let base = portfolio.base_currency;
        let mut pairs: BTreeSet<(&'static str, &'static str)> = BTreeSet::new();
        for i in instruments.values() {
            pairs.insert((i.currency.code(), base.code()));
        }
        for a in &activities {
            let own = a
                .detail
                .instrument_id()
                .and_then(|id| instruments.get(&id))
                .map(|i| i.currency);
            let money = a.detail.trade().and_then(|t| t.fee).or(a.detail.amount());
            if let Some(m) = money {
                pairs.insert((m.currency.code(), own.unwrap_or(base).code()));
                pairs.insert((m.currency.code(), base.code()));
            }
        }
        for (from, to) in pairs.into_iter().filter(|(f, t)| f != t) {
            let (Ok(f), Ok(t)) = (Currency::parse(from), Currency::parse(to)) else {
                continue;
            };
            for (b, q) in [(f, t), (t, f)] {
                let closes = cache
                    .series(store.as_ref(), &fx_series(b.code(), q.code()))
                    .await?;
                if !closes.is_empty() {
                    market.add_rates(b, q, Closes::new(closes.to_vec()));
                }
            }
        }
        let currencies = instruments
            .iter()
            .map(|(id, i)| (*id, i.currency))
            .collect();
        Ok(Loaded {
            portfolio,
            activities,
            instruments,
            currencies,
            market,
        })
    }

    pub(super) async fn list_holdings_for(
        &self,
        user_id: Uuid,
        req: &pb::ListHoldingsRequest,
    ) -> Result<pb::ListHoldingsResponse> {
        let portfolio_id = parse_id("portfolio_id", &req.portfolio_id)?;
        let as_of = optional_date(req.as_of.as_ref())
            .map_err(|e| InvestmentError::field("as_of", e))?
            .unwrap_or_else(today);
        let loaded = self.load(user_id, portfolio_id).await?;
        let base = loaded.portfolio.base_currency;
        let mut replay = Replay::new(&loaded.activities, loaded.context());
        replay.advance_to(as_of).map_err(replay_failed)?;
        let (mut total_value, mut total_cost) = (Decimal::ZERO, Decimal::ZERO);
        let mut unpriced = Vec::new();
        let mut holdings = Vec::new();
        for (id, p) in replay.positions() {
            if p.quantity.is_zero() && !req.include_closed {
                continue;
            }
            let Some(instrument) = loaded.instruments.get(id) else {
                continue;
            };
            let ccy = p.currency;
            let price = performance::price(&loaded.market, *id, p, as_of);
            let value = price.map(|(_, close)| p.quantity * close);
            let value_base = value.and_then(|v| {
                crate::domain::market::convert(&loaded.market, v, ccy, base, as_of).ok()
            });
            let cost = p.cost();
            let cost_base = p.cost_base();
            if !p.quantity.is_zero() {
                match (value_base, cost_base) {
                    (Some(v), Some(c)) => {
                        total_value += v;
                        total_cost += c;
                    }
                    _ => unpriced.push(instrument.symbol.clone()),
                }
            }
            holdings.push(pb::Holding {
                instrument: Some(convert::instrument(instrument)),
                quantity: p.quantity.normalize().to_string(),
                cost_basis: Some(units::money(cost, ccy)),
                average_cost: if p.quantity.is_zero() {
                    String::new()
                } else {
                    (cost / p.quantity).round_dp(8).normalize().to_string()
                },
                price: price
                    .map(|(_, c)| c.normalize().to_string())
                    .unwrap_or_default(),
                price_date: price.map(|(d, _)| date(d)),
                market_value: value.map(|v| units::money(v, ccy)),
                unrealized_gain: value.map(|v| units::money(v - cost, ccy)),
                realized_gain: Some(units::money(p.realized, ccy)),
                dividends: Some(units::money(p.dividends, ccy)),
                fees: Some(units::money(p.fees, ccy)),
                market_value_base: value_base.map(|v| units::money(v, base)),
                cost_basis_base: cost_base.map(|c| units::money(c, base)),
            });
        }
        holdings.sort_by(|a, b| {
            let symbol = |h: &pb::Holding| h.instrument.as_ref().map(|i| i.symbol.clone());
            symbol(a).cmp(&symbol(b))
        });
        Ok(pb::ListHoldingsResponse {
            holdings,
            market_value: Some(units::money(total_value, base)),
            cost_basis: Some(units::money(total_cost, base)),
            unpriced_symbols: unpriced,
        })
    }

    pub(super) async fn performance_for(
        &self,
        user_id: Uuid,
        req: &pb::GetPerformanceRequest,
    ) -> Result<pb::GetPerformanceResponse> {
        let mut v = freedumb_kit::FieldViolations::new();
        let portfolio_id = v.check(
            "portfolio_id",
            freedumb_kit::domain::required_id(&req.portfolio_id),
        );
        let instrument_id = v.check(
            "instrument_id",
            freedumb_kit::domain::optional_id(&req.instrument_id),
        );
        let start = v.check("start_date", optional_date(req.start_date.as_ref()));
        let end = v.check("end_date", optional_date(req.end_date.as_ref()));
        let (Some(portfolio_id), Some(instrument_id), Some(start), Some(end)) =
            (portfolio_id, instrument_id, start, end)
        else {
            return Err(InvestmentError::InvalidArgument(v));
        };
        let end = end.unwrap_or_else(today);
        if let Some(id) = instrument_id {
            self.instrument(user_id, id).await?;
        }
        let loaded = self.load(user_id, portfolio_id).await?;
        let start = start
            .or_else(|| loaded.activities.first().map(|a| a.date))
            .unwrap_or(end);
        let range = range(start, end)?;
        let report = performance::measure(
            &loaded.activities,
            loaded.context(),
            &loaded.market,
            range,
            instrument_id,
        )
        .map_err(replay_failed)?;
        Ok(pb::GetPerformanceResponse {
            total: Some(convert::performance(&report.total)),
            holdings: report
                .holdings
                .iter()
                .map(|h| pb::HoldingPerformance {
                    instrument_id: h.instrument_id.to_string(),
                    instrument_currency: Some(convert::performance(&h.own)),
                    base_currency: Some(convert::performance(&h.base)),
                })
                .collect(),
            start_date: Some(date(range.start)),
            end_date: Some(date(range.end)),
        })
    }

    pub(super) async fn values_for(
        &self,
        user_id: Uuid,
        req: &pb::ListPortfolioValuesRequest,
    ) -> Result<pb::ListPortfolioValuesResponse> {
        let mut v = freedumb_kit::FieldViolations::new();
        let portfolio_id = v.check(
            "portfolio_id",
            freedumb_kit::domain::required_id(&req.portfolio_id),
        );
        let start = v.check("start_date", required_date(req.start_date.as_ref()));
        let end = v.check("end_date", optional_date(req.end_date.as_ref()));
        let interval = match pb::ValueInterval::try_from(req.interval) {
            Ok(i) => Some(i),
            Err(_) => {
                v.add("interval", "must be DAY, WEEK or MONTH");
                None
            }
        };
        let (Some(portfolio_id), Some(start), Some(end), Some(interval)) =
            (portfolio_id, start, end, interval)
        else {
            return Err(InvestmentError::InvalidArgument(v));
        };
        let range = range(start, end.unwrap_or_else(today))?;
        let days = points(range, interval);
        if days.len() > MAX_POINTS {
            return Err(InvestmentError::field(
                "interval",
                format!(
                    "the range has {} points at this interval, more than {MAX_POINTS}; \
                     use a longer interval or a shorter range",
                    days.len()
                ),
            ));
        }
        let loaded = self.load(user_id, portfolio_id).await?;
        let base = loaded.portfolio.base_currency;
        let (values, unpriced) =
            performance::values(&loaded.activities, loaded.context(), &loaded.market, days)
                .map_err(replay_failed)?;
        let mut unpriced_symbols: Vec<String> = unpriced
            .iter()
            .filter_map(|id| loaded.instruments.get(id).map(|i| i.symbol.clone()))
            .collect();
        unpriced_symbols.sort();
        Ok(pb::ListPortfolioValuesResponse {
            values: values
                .iter()
                .map(|p| pb::ValuePoint {
                    date: Some(date(p.date)),
                    market_value: Some(units::money(p.market_value, base)),
                    cost_basis: Some(units::money(p.cost_basis, base)),
                })
                .collect(),
            unpriced_symbols,
        })
    }

    pub(super) async fn prices_for(
        &self,
        user_id: Uuid,
        req: &pb::ListPricesRequest,
    ) -> Result<pb::ListPricesResponse> {
        let mut v = freedumb_kit::FieldViolations::new();
        let id = v.check(
            "instrument_id",
            freedumb_kit::domain::required_id(&req.instrument_id),
        );
        let start = v.check("start_date", required_date(req.start_date.as_ref()));
        let end = v.check("end_date", optional_date(req.end_date.as_ref()));
        let (Some(id), Some(start), Some(end)) = (id, start, end) else {
            return Err(InvestmentError::InvalidArgument(v));
        };
        let range = range(start, end.unwrap_or_else(today))?;
        let instrument = self.instrument(user_id, id).await?;
        let closes = self
            .deps
            .store
            .list_closes(&instrument.symbol, range.start, range.end)
            .await?;
        Ok(pb::ListPricesResponse {
            closes: closes
                .into_iter()
                .filter(|(d, _)| *d >= range.start)
                .map(|(d, c)| pb::PriceClose {
                    date: Some(date(d)),
                    close: c.normalize().to_string(),
                })
                .collect(),
        })
    }
}

/// The days of `range` a value is reported for at `interval`: every day,
/// or each week's Sunday or each month's last day, and the range's last.
fn points(range: Range, interval: pb::ValueInterval) -> Vec<NaiveDate> {
    let last_of = |d: NaiveDate| match interval {
        pb::ValueInterval::Week => d.weekday() == Weekday::Sun,
        pb::ValueInterval::Month => d
            .checked_add_days(Days::new(1))
            .is_none_or(|n| n.month() != d.month()),
        _ => true,
    };
    let mut days: Vec<NaiveDate> = range
        .start
        .iter_days()
        .take_while(|d| *d <= range.end)
        .filter(|d| last_of(*d))
        .take(MAX_POINTS + 1)
        .collect();
    if days.last() != Some(&range.end) && days.len() <= MAX_POINTS {
        days.push(range.end);
    }
    days
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn monthly_points_are_month_ends_and_the_last_day() {
        let range = Range {
            start: d(2024, 1, 15),
            end: d(2024, 3, 10),
        };
        assert_eq!(
            points(range, pb::ValueInterval::Month),
            [d(2024, 1, 31), d(2024, 2, 29), d(2024, 3, 10)]
        );
        assert_eq!(points(range, pb::ValueInterval::Day).len(), 56);
    }

    #[test]
    fn a_range_ending_before_it_starts_names_the_end() {
        let err = range(d(2024, 2, 1), d(2024, 1, 1)).unwrap_err();
        assert!(matches!(err, InvestmentError::InvalidArgument(_)));
    }
}
