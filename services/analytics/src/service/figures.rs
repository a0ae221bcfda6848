//! Totals per category and period, cash flow with its changes, and top
//! merchants, from the read model's sums per day.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use freedumb_kit::FieldViolations;
use freedumb_kit::domain::{Currency, date, money, required_date};
use freedumb_proto::analytics as pb;
use freedumb_proto::google::r#type::Date;
use uuid::Uuid;

use super::{AnalyticsApi, Result};
use crate::domain::{Interval, Span, periods};
use crate::error::AnalyticsError;
use crate::store::CategoryDay;

/// Merchants listed when the request names no limit.
const DEFAULT_MERCHANTS: u32 = 10;

/// A range request's fields, checked together: the span, the interval
/// and the currency.
pub(super) fn range(
    v: &mut FieldViolations,
    start: Option<&Date>,
    end: Option<&Date>,
) -> Option<Span> {
    let start = v.check("start_date", required_date(start));
    let end = v.check("end_date", required_date(end));
    v.check("end_date", Span::parse(start?, end?))
}

/// The periods of `span` at `interval`, or the violation on `interval`.
pub(super) fn cut(span: Span, interval: Interval) -> Result<Vec<Span>> {
    periods(span, interval).map_err(|days| {
        AnalyticsError::field(
            "interval",
            format!(
                "the range has {days} days: more than {} periods at this interval",
                crate::domain::period::MAX_PERIODS
            ),
        )
    })
}

pub(super) fn parsed(
    start: Option<&Date>,
    end: Option<&Date>,
    interval: Option<i32>,
    currency: &str,
) -> Result<(Span, Interval, Currency)> {
    let mut v = FieldViolations::new();
    let span = range(&mut v, start, end);
    let interval = match interval {
        Some(raw) => v.check("interval", Interval::from_proto(raw)),
        None => Some(Interval::Day),
    };
    let currency = v.check("currency_code", Currency::parse(currency));
    match (span, interval, currency) {
        (Some(s), Some(i), Some(c)) if v.is_empty() => Ok((s, i, c)),
        _ => Err(AnalyticsError::InvalidArgument(v)),
    }
}

/// A category's running sums.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Sums {
    pub(super) inflow: i64,
    pub(super) outflow: i64,
    pub(super) count: i64,
}

impl Sums {
    pub(super) fn add(&mut self, d: &CategoryDay) {
        self.inflow += d.inflow_minor;
        self.outflow += d.outflow_minor;
        self.count += d.count;
    }
}

/// Sums per category of each period in `rows` (sorted by day).
pub(super) fn bucket(periods: &[Span], rows: &[CategoryDay]) -> Vec<BTreeMap<Option<Uuid>, Sums>> {
    let mut out: Vec<BTreeMap<Option<Uuid>, Sums>> = vec![BTreeMap::new(); periods.len()];
    let mut p = 0;
    for row in rows {
        while p + 1 < periods.len() && row.day > periods[p].end {
            p += 1;
        }
        if periods
            .get(p)
            .is_some_and(|s| row.day >= s.start && row.day <= s.end)
        {
            out[p].entry(row.category_id).or_default().add(row);
        }
    }
    out
}

fn category_totals(
    currency: Currency,
    sums: BTreeMap<Option<Uuid>, Sums>,
) -> Vec<pb::CategoryTotal> {
    let code = currency.code();
    let mut out: Vec<(Option<Uuid>, Sums)> = sums.into_iter().collect();
    out.sort_by(|a, b| b.1.outflow.cmp(&a.1.outflow).then(a.0.cmp(&b.0)));
    out.into_iter()
        .map(|(category, s)| pb::CategoryTotal {
            category_id: category.map(|c| c.to_string()).unwrap_or_default(),
            outflow: Some(money(code, s.outflow)),
            inflow: Some(money(code, s.inflow)),
            net: Some(money(code, s.inflow - s.outflow)),
            count: s.count,
        })
        .collect()
}

/// Money in and out per day, summed from the start: any range's sums in
/// two lookups.
struct Cumulative {
    days: Vec<NaiveDate>,
    /// (inflow, outflow) up to and including each day.
    sums: Vec<(i64, i64)>,
}

impl Cumulative {
    fn new(rows: &[CategoryDay]) -> Self {
        let mut by_day: BTreeMap<NaiveDate, (i64, i64)> = BTreeMap::new();
        for r in rows {
            let e = by_day.entry(r.day).or_default();
            e.0 += r.inflow_minor;
            e.1 += r.outflow_minor;
        }
        let (mut days, mut sums) = (Vec::new(), Vec::new());
        let mut running = (0, 0);
        for (day, (i, o)) in by_day {
            running = (running.0 + i, running.1 + o);
            days.push(day);
            sums.push(running);
        }
        Self { days, sums }
    }

    /// Sums up to and including `day`.
    fn through(&self, day: NaiveDate) -> (i64, i64) {
        let n = self.days.partition_point(|d| *d <= day);
        n.checked_sub(1).map_or((0, 0), |i| self.sums[i])
    }

    /// (income, spending) over `span`.
    fn over(&self, span: Span) -> (i64, i64) {
        let end = self.through(span.end);
        let before = span.start.pred_opt().map_or((0, 0), |d| self.through(d));
        (end.0 - before.0, end.1 - before.1)
    }
}

/// `now` against `then`, as a fraction; `None` when `then` is nothing.
fn change(now: i64, then: i64) -> Option<f64> {
    (then != 0).then(|| (now - then) as f64 / then as f64)
}

fn cash_flow_period(code: &str, span: Span, (income, spending): (i64, i64)) -> pb::CashFlowPeriod {
    pb::CashFlowPeriod {
        start_date: Some(date(span.start)),
        end_date: Some(date(span.end)),
        income: Some(money(code, income)),
        spending: Some(money(code, spending)),
        net: Some(money(code, income - spending)),
        savings_rate: (income > 0).then(|| (income - spending) as f64 / income as f64),
        ..Default::default()
    }
}

impl AnalyticsApi {
    pub(super) async fn category_totals(
        &self,
        user_id: Uuid,
        req: &pb::GetCategoryTotalsRequest,
    ) -> Result<pb::GetCategoryTotalsResponse> {
        let (span, interval, currency) = parsed(
            req.start_date.as_ref(),
            req.end_date.as_ref(),
            Some(req.interval),
            &req.currency_code,
        )?;
        let periods = cut(span, interval)?;
        let rows = self
            .deps
            .store
            .list_category_days(user_id, currency.code(), span)
            .await?;
        let mut totals: BTreeMap<Option<Uuid>, Sums> = BTreeMap::new();
        for row in &rows {
            totals.entry(row.category_id).or_default().add(row);
        }
        let per_period = bucket(&periods, &rows);
        Ok(pb::GetCategoryTotalsResponse {
            periods: periods
                .iter()
                .zip(per_period)
                .map(|(span, sums)| pb::PeriodCategories {
                    start_date: Some(date(span.start)),
                    end_date: Some(date(span.end)),
                    categories: category_totals(currency, sums),
                })
                .collect(),
            totals: category_totals(currency, totals),
        })
    }

    pub(super) async fn cash_flow(
        &self,
        user_id: Uuid,
        req: &pb::GetCashFlowRequest,
    ) -> Result<pb::GetCashFlowResponse> {
        let (span, interval, currency) = parsed(
            req.start_date.as_ref(),
            req.end_date.as_ref(),
            Some(req.interval),
            &req.currency_code,
        )?;
        let periods = cut(span, interval)?;
        // The period before the first, and the year before the range.
        let before_first = span
            .start
            .pred_opt()
            .map(|d| interval.start_of(d))
            .unwrap_or(span.start);
        let from = before_first.min(span.year_earlier().start);
        let rows = self
            .deps
            .store
            .list_category_days(
                user_id,
                currency.code(),
                Span {
                    start: from,
                    end: span.end,
                },
            )
            .await?;
        let sums = Cumulative::new(&rows);
        let code = currency.code();
        let mut out = Vec::with_capacity(periods.len());
        for (i, period) in periods.iter().enumerate() {
            let now = sums.over(*period);
            // The period before: the previous one, or for the first the
            // whole interval before it.
            let previous = match i {
                0 => Span {
                    start: before_first,
                    end: period
                        .start
                        .checked_sub_days(Days::new(1))
                        .unwrap_or(period.start),
                },
                _ => periods[i - 1],
            };
            let previous = sums.over(previous);
            let year_ago = sums.over(period.year_earlier());
            let mut flow = cash_flow_period(code, *period, now);
            flow.spending_change = change(now.1, previous.1);
            flow.income_change = change(now.0, previous.0);
            flow.spending_change_year_ago = change(now.1, year_ago.1);
            flow.income_change_year_ago = change(now.0, year_ago.0);
            out.push(flow);
        }
        Ok(pb::GetCashFlowResponse {
            periods: out,
            total: Some(cash_flow_period(code, span, sums.over(span))),
        })
    }

    pub(super) async fn top_merchants(
        &self,
        user_id: Uuid,
        req: &pb::ListTopMerchantsRequest,
    ) -> Result<pb::ListTopMerchantsResponse> {
        let limit = match req.limit {
            0 => Ok(DEFAULT_MERCHANTS),
            n @ 1..=100 => Ok(n.unsigned_abs()),
            n => Err(AnalyticsError::field(
                "limit",
                format!("must be 1 to 100, got {n}"),
            )),
        };
        let (span, _, currency) = parsed(
            req.start_date.as_ref(),
            req.end_date.as_ref(),
            None,
            &req.currency_code,
        )?;
        let merchants = self
            .deps
            .store
            .list_top_merchants(user_id, currency.code(), span, limit?)
            .await?;
        Ok(pb::ListTopMerchantsResponse {
            merchants: merchants
                .into_iter()
                .map(|m| pb::MerchantTotal {
                    merchant: m.merchant,
                    spent: Some(money(currency.code(), m.spent_minor)),
                    count: m.count,
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn day(s: &str, inflow: i64, outflow: i64) -> CategoryDay {
        CategoryDay {
            day: d(s),
            category_id: None,
            inflow_minor: inflow,
            outflow_minor: outflow,
            count: 1,
        }
    }

    #[test]
    fn cumulative_sums_answer_any_range() {
        let c = Cumulative::new(&[
            day("2024-01-05", 100, 0),
            day("2024-01-05", 0, 30),
            day("2024-02-10", 0, 50),
        ]);
        let span = |a: &str, b: &str| Span {
            start: d(a),
            end: d(b),
        };
        assert_eq!(c.over(span("2024-01-01", "2024-01-31")), (100, 30));
        assert_eq!(c.over(span("2024-01-06", "2024-02-09")), (0, 0));
        assert_eq!(c.over(span("2023-01-01", "2024-12-31")), (100, 80));
        assert_eq!(change(110, 100), Some(0.1));
        assert_eq!(change(5, 0), None);
    }
}
