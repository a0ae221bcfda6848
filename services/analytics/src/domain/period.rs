//! Date ranges cut into periods: days, weeks (Monday to Sunday), months or
//! years, the first and last cut to the range.

use chrono::{Datelike as _, Days, Months, NaiveDate};
use freedumb_proto::analytics as pb;

/// The longest range a request may cover, in years.
pub const MAX_YEARS: i32 = 100;
/// The most periods one answer holds.
pub const MAX_PERIODS: usize = 10_000;

/// A range of days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    /// The first day.
    pub start: NaiveDate,
    /// The last day.
    pub end: NaiveDate,
}

impl Span {
    /// `start..=end` checked: not backwards, at most [`MAX_YEARS`] long.
    pub fn parse(start: NaiveDate, end: NaiveDate) -> Result<Self, String> {
        if end < start {
            return Err(format!("{end} is before the start date {start}"));
        }
        if end.year() - start.year() > MAX_YEARS {
            return Err(format!("the range may span at most {MAX_YEARS} years"));
        }
        Ok(Self { start, end })
    }

    /// The same span a year earlier (29 February becomes the 28th).
    pub fn year_earlier(self) -> Self {
        let back = |d: NaiveDate| d.checked_sub_months(Months::new(12)).unwrap_or(d);
        Self {
            start: back(self.start),
            end: back(self.end),
        }
    }
}

/// How a range is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// Days.
    Day,
    /// Weeks from Monday.
    Week,
    /// Calendar months.
    Month,
    /// Calendar years.
    Year,
}

impl Interval {
    /// From the API enum (MONTH when unspecified).
    pub fn from_proto(raw: i32) -> Result<Self, String> {
        match pb::Interval::try_from(raw) {
            Ok(pb::Interval::Day) => Ok(Self::Day),
            Ok(pb::Interval::Week) => Ok(Self::Week),
            Ok(pb::Interval::Month | pb::Interval::Unspecified) => Ok(Self::Month),
            Ok(pb::Interval::Year) => Ok(Self::Year),
            Err(_) => Err("must be DAY, WEEK, MONTH or YEAR".into()),
        }
    }

    /// The first day of the period holding `d`.
    pub fn start_of(self, d: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => d,
            Self::Week => d - Days::new(u64::from(d.weekday().num_days_from_monday())),
            Self::Month => d.with_day(1).unwrap_or(d),
            Self::Year => d.with_ordinal(1).unwrap_or(d),
        }
    }

    /// The first day of the period after the one starting `start`.
    fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            Self::Day => start.checked_add_days(Days::new(1)),
            Self::Week => start.checked_add_days(Days::new(7)),
            Self::Month => start.checked_add_months(Months::new(1)),
            Self::Year => start.checked_add_months(Months::new(12)),
        }
    }
}

/// `span` cut into periods of `interval`; `Err` with the count when there
/// would be more than [`MAX_PERIODS`].
pub fn periods(span: Span, interval: Interval) -> Result<Vec<Span>, usize> {
    let mut out = Vec::new();
    let mut start = interval.start_of(span.start);
    while start <= span.end {
        let next = interval.next(start);
        let end = next
            .and_then(|n| n.pred_opt())
            .map_or(span.end, |e| e.min(span.end));
        out.push(Span {
            start: start.max(span.start),
            end,
        });
        if out.len() > MAX_PERIODS {
            let days = (span.end - span.start).num_days();
            return Err(usize::try_from(days).unwrap_or(usize::MAX));
        }
        match next {
            Some(n) => start = n,
            None => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn span(a: &str, b: &str) -> Span {
        Span::parse(d(a), d(b)).unwrap()
    }

    #[test]
    fn months_are_cut_to_the_range() {
        let p = periods(span("2024-01-15", "2024-03-10"), Interval::Month).unwrap();
        assert_eq!(
            p,
            [
                span("2024-01-15", "2024-01-31"),
                span("2024-02-01", "2024-02-29"),
                span("2024-03-01", "2024-03-10")
            ]
        );
    }

    #[test]
    fn weeks_start_on_monday_and_years_on_the_first() {
        // 2024-01-03 is a Wednesday.
        let p = periods(span("2024-01-03", "2024-01-15"), Interval::Week).unwrap();
        assert_eq!(p[0], span("2024-01-03", "2024-01-07"));
        assert_eq!(p[1], span("2024-01-08", "2024-01-14"));
        assert_eq!(p[2], span("2024-01-15", "2024-01-15"));
        let y = periods(span("2023-06-01", "2024-02-01"), Interval::Year).unwrap();
        assert_eq!(
            y,
            [
                span("2023-06-01", "2023-12-31"),
                span("2024-01-01", "2024-02-01")
            ]
        );
    }

    #[test]
    fn bad_ranges_say_why() {
        assert!(
            Span::parse(d("2024-02-01"), d("2024-01-01"))
                .unwrap_err()
                .contains("before")
        );
        assert!(
            Span::parse(d("1900-01-01"), d("2024-01-01"))
                .unwrap_err()
                .contains("100")
        );
        assert!(periods(span("1990-01-01", "2024-12-31"), Interval::Day).is_err());
        assert_eq!(
            span("2024-02-29", "2024-03-31").year_earlier(),
            span("2023-02-28", "2023-03-31")
        );
    }
}
