//! Budget periods: which days a budget's period covers around a given day.

use chrono::{Days, Months, NaiveDate};

/// How often a budget starts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Seven days from the start date's weekday.
    Weekly,
    /// From the start date's day of the month (clamped to short months).
    Monthly,
    /// From the start date's day of the year.
    Yearly,
    /// One period: the start date to the end date.
    Custom,
}

impl Period {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::Yearly => "yearly",
            Self::Custom => "custom",
        }
    }

    /// A stored name back.
    pub fn from_stored(name: &str) -> Option<Self> {
        Some(match name {
            "weekly" => Self::Weekly,
            "monthly" => Self::Monthly,
            "yearly" => Self::Yearly,
            "custom" => Self::Custom,
            _ => return None,
        })
    }
}

/// A budget's periods: `period` repeated from `start` until `end` (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The repetition.
    pub period: Period,
    /// The first day of the first period.
    pub start: NaiveDate,
    /// The last day counted (always set for [`Period::Custom`]).
    pub end: Option<NaiveDate>,
}

/// One period: its first and last day, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    /// First day.
    pub start: NaiveDate,
    /// Last day.
    pub end: NaiveDate,
}

impl Span {
    /// Whether `day` is in the span.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }
}

impl Schedule {
    /// The period containing `day`, or `None` before the first period or
    /// after the last day.
    pub fn period_of(&self, day: NaiveDate) -> Option<Span> {
        if day < self.start || self.end.is_some_and(|end| day > end) {
            return None;
        }
        let span = match self.period {
            Period::Custom => Span {
                start: self.start,
                end: self.end?,
            },
            Period::Weekly => {
                let weeks = (day - self.start).num_days() / 7;
                let start = self
                    .start
                    .checked_add_days(Days::new(u64::try_from(weeks * 7).ok()?))?;
                Span {
                    start,
                    end: start.checked_add_days(Days::new(6))?,
                }
            }
            Period::Monthly => self.span_of(day, 1)?,
            Period::Yearly => self.span_of(day, 12)?,
        };
        Some(Span {
            start: span.start,
            end: self.end.map_or(span.end, |end| span.end.min(end)),
        })
    }

    /// The period of `months` months containing `day` (not before the
    /// start). Each start is counted from the first one, so a budget
    /// starting on the 31st starts on the 30th in April and on the 31st
    /// again in May.
    fn span_of(&self, day: NaiveDate, months: u32) -> Option<Span> {
        use chrono::Datelike as _;
        let start_of = |k: u32| {
            self.start
                .checked_add_months(Months::new(k.checked_mul(months)?))
        };
        let calendar_months =
            (day.year() - self.start.year()) * 12 + day.month() as i32 - self.start.month() as i32;
        let mut n = u32::try_from(calendar_months).ok()? / months;
        // Clamping to a short month can put that start after the day.
        if start_of(n)? > day {
            n = n.checked_sub(1)?;
        }
        Some(Span {
            start: start_of(n)?,
            end: start_of(n + 1)?.pred_opt()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn span(s: &str, e: &str) -> Option<Span> {
        Some(Span {
            start: d(s),
            end: d(e),
        })
    }

    fn schedule(period: Period, start: &str, end: Option<&str>) -> Schedule {
        Schedule {
            period,
            start: d(start),
            end: end.map(d),
        }
    }

    #[test]
    fn monthly_periods_repeat_on_the_start_day_clamped_to_short_months() {
        let s = schedule(Period::Monthly, "2024-01-31", None);
        assert_eq!(
            s.period_of(d("2024-01-31")),
            span("2024-01-31", "2024-02-28")
        );
        assert_eq!(
            s.period_of(d("2024-02-28")),
            span("2024-01-31", "2024-02-28")
        );
        assert_eq!(
            s.period_of(d("2024-02-29")),
            span("2024-02-29", "2024-03-30")
        );
        assert_eq!(
            s.period_of(d("2024-03-31")),
            span("2024-03-31", "2024-04-29")
        );
        assert_eq!(
            s.period_of(d("2024-04-30")),
            span("2024-04-30", "2024-05-30")
        );
        assert_eq!(s.period_of(d("2024-01-30")), None, "before the start");
        let calendar = schedule(Period::Monthly, "2024-01-01", None);
        assert_eq!(
            calendar.period_of(d("2025-12-31")),
            span("2025-12-01", "2025-12-31")
        );
        assert_eq!(
            calendar.period_of(d("2024-02-01")),
            span("2024-02-01", "2024-02-29")
        );
    }

    #[test]
    fn every_day_is_in_exactly_one_period_and_periods_tile() {
        for (period, start) in [
            (Period::Monthly, "2023-01-31"),
            (Period::Monthly, "2023-03-15"),
            (Period::Monthly, "2024-02-29"),
            (Period::Weekly, "2023-05-03"),
            (Period::Yearly, "2024-02-29"),
            (Period::Yearly, "2023-07-01"),
        ] {
            let s = schedule(period, start, None);
            let mut day = s.start;
            let mut previous: Option<Span> = None;
            for _ in 0..1200 {
                let p = s.period_of(day).expect("in a period");
                assert!(p.contains(day), "{period:?} {start}: {day} not in {p:?}");
                if let Some(prev) = previous
                    && prev != p
                {
                    assert_eq!(
                        prev.end.succ_opt(),
                        Some(p.start),
                        "{period:?} {start}: gap or overlap"
                    );
                }
                previous = Some(p);
                day = day.succ_opt().expect("next day");
            }
        }
    }

    #[test]
    fn weekly_yearly_and_custom_periods_and_the_end_date() {
        let weekly = schedule(Period::Weekly, "2024-03-06", Some("2024-03-20"));
        assert_eq!(
            weekly.period_of(d("2024-03-13")),
            span("2024-03-13", "2024-03-19")
        );
        assert_eq!(
            weekly.period_of(d("2024-03-20")),
            span("2024-03-20", "2024-03-20")
        );
        assert_eq!(weekly.period_of(d("2024-03-21")), None, "after the end");
        let yearly = schedule(Period::Yearly, "2024-02-29", None);
        assert_eq!(
            yearly.period_of(d("2025-03-01")),
            span("2025-02-28", "2026-02-27")
        );
        let custom = schedule(Period::Custom, "2024-06-10", Some("2024-08-20"));
        assert_eq!(
            custom.period_of(d("2024-07-01")),
            span("2024-06-10", "2024-08-20")
        );
    }
}
